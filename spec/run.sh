#!/bin/sh
# Runs the busted suite on Lua 5.4 and LuaJIT against a fresh emulator.
#   sh spec/run.sh [all|lua5.4|luajit] [busted args...]
# Environment: LUA54, LUAJIT (interpreters), BUSTED (busted's runner script),
# EVCP_BUILD54, EVCP_BUILDJIT (where evcp/core.so is, default build/lua5.4 and
# build/luajit), EVCP_WRAP (a command put in front of the interpreter, e.g.
# valgrind), EVCP_PRELOAD (LD_PRELOAD for the interpreters only, e.g. ASan).
set -eu
cd "$(dirname "$0")/.."
which=${1:-all}
[ $# -gt 0 ] && shift
LUA54=${LUA54:-lua5.4}
LUAJIT=${LUAJIT:-luajit}
BUSTED=${BUSTED:-/usr/bin/busted}
EVCP_WRAP=${EVCP_WRAP:-}
EVCP_PRELOAD=${EVCP_PRELOAD:-}
B54=${EVCP_BUILD54:-build/lua5.4}
BJIT=${EVCP_BUILDJIT:-build/luajit}

if [ -z "${EVCP_TEST_URL:-}" ]; then
  # re-run this script with a fresh emulator (statuses frozen) behind it
  exec bin/evcp-with-emulator --status-interval 0 --api-key demo-key --api-key restricted-key \
    --restricted-key restricted-key --token demo-token -- sh "$0" "$which" "$@"
fi
echo "emulator at $EVCP_TEST_URL"

rc=0
if [ "$which" = all ] || [ "$which" = lua5.4 ]; then
  LP="$PWD/lua/?.lua;$PWD/lua/?/init.lua;$PWD/spec/?.lua;;"
  echo "== Lua 5.4"
  LUA_PATH="$LP" LUA_CPATH="$PWD/$B54/?.so;;" LUA_PATH_5_4="$LP" LUA_CPATH_5_4="$PWD/$B54/?.so;;" \
    LD_PRELOAD="$EVCP_PRELOAD" $EVCP_WRAP "$LUA54" "$BUSTED" "$@" spec || rc=1
fi
if [ "$which" = all ] || [ "$which" = luajit ]; then
  LP="$PWD/lua/?.lua;$PWD/lua/?/init.lua;$PWD/spec/?.lua;;"
  echo "== LuaJIT"
  LUA_PATH="$LP" LUA_CPATH="$PWD/$BJIT/?.so;;" \
    LD_PRELOAD="$EVCP_PRELOAD" $EVCP_WRAP "$LUAJIT" "$BUSTED" "$@" spec || rc=1
fi
exit $rc
