#!/bin/sh
# make bench: starts the emulator, runs bench/bench.lua on Lua 5.4 and LuaJIT.
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
bin/evcp-emulator --port 0 --status-interval 0 --workers 2 >"$tmp/out" 2>"$tmp/err" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
i=0
until grep -q '^listening on ' "$tmp/out" 2>/dev/null; do
  i=$((i + 1))
  if [ $i -gt 200 ] || ! kill -0 "$pid" 2>/dev/null; then cat "$tmp/err" >&2; exit 1; fi
  sleep 0.05
done
EVCP_TEST_URL=$(sed -n 's/^listening on //p' "$tmp/out" | head -n 1)
export EVCP_TEST_URL
LP="$PWD/lua/?.lua;$PWD/lua/?/init.lua;;"
LUA_PATH="$LP" LUA_PATH_5_4="$LP" LUA_CPATH_5_4="$PWD/build/lua5.4/?.so;;" LUA_CPATH="$PWD/build/lua5.4/?.so;;" \
  ${LUA54:-lua5.4} bench/bench.lua
LUA_PATH="$LP" LUA_CPATH="$PWD/build/luajit/?.so;;" ${LUAJIT:-luajit} bench/bench.lua
