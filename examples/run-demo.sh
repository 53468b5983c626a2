#!/bin/sh
# make demo: start the emulator, run examples/demo.lua against it, stop it.
set -eu
cd "$(dirname "$0")/.."
LP="$PWD/lua/?.lua;$PWD/lua/?/init.lua;;"
CP="$PWD/build/lua5.4/?.so;;"
exec env LUA_PATH="$LP" LUA_PATH_5_4="$LP" LUA_CPATH="$CP" LUA_CPATH_5_4="$CP" \
  bin/evcp-with-emulator -- sh -c 'echo "emulator: $EVCP_TEST_URL"; EVCP_URL=$EVCP_TEST_URL exec '"${LUA:-lua5.4}"' examples/demo.lua'
