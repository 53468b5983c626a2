#!/bin/sh
# make demo: start the emulator, run examples/demo.lua against it, stop it.
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
bin/evcp-emulator --port 0 >"$tmp/out" 2>"$tmp/err" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
i=0
until grep -q '^listening on ' "$tmp/out" 2>/dev/null; do
  i=$((i + 1))
  if [ $i -gt 200 ] || ! kill -0 "$pid" 2>/dev/null; then cat "$tmp/err" >&2; exit 1; fi
  sleep 0.05
done
EVCP_URL=$(sed -n 's/^listening on //p' "$tmp/out" | head -n 1)
echo "emulator: $EVCP_URL"
LP="$PWD/lua/?.lua;$PWD/lua/?/init.lua;;"
EVCP_URL="$EVCP_URL" LUA_PATH="$LP" LUA_PATH_5_4="$LP" LUA_CPATH_5_4="$PWD/build/lua5.4/?.so;;" \
  LUA_CPATH="$PWD/build/lua5.4/?.so;;" ${LUA:-lua5.4} examples/demo.lua
