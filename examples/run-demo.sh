#!/bin/sh
# make demo: start the emulator, run examples/demo.lua against it, stop it.
# LUA picks the runtime (lua5.4, default, or luajit) and so the core's build.
set -eu
cd "$(dirname "$0")/.."
LUA=${LUA:-lua5.4}
case "$LUA" in
  *jit*) CP="$PWD/${EVCP_BUILDJIT:-build/luajit}/?.so;;" ;;
  *) CP="$PWD/${EVCP_BUILD54:-build/lua5.4}/?.so;;" ;;
esac
LP="$PWD/lua/?.lua;$PWD/lua/?/init.lua;;"
launcher=bin/evcp-with-emulator
[ -x "$launcher" ] || launcher=emulator/bin/evcp-with-emulator
# shellcheck disable=SC2016 # expanded by the inner shell
exec env LUA_PATH="$LP" LUA_PATH_5_4="$LP" LUA_CPATH="$CP" LUA_CPATH_5_4="$CP" \
  "$launcher" -- sh -c 'echo "emulator: $EVCP_TEST_URL"; EVCP_URL=$EVCP_TEST_URL exec "$0" examples/demo.lua' "$LUA"
