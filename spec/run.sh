#!/bin/sh
# Runs the busted suite on Lua 5.4 and LuaJIT against a fresh emulator.
#   sh spec/run.sh [all|lua5.4|luajit] [busted args and spec files...]
# (no files: every spec/*_spec.lua, the ROOT in .busted)
# Environment: LUA54, LUAJIT (interpreters), BUSTED (busted's runner script),
# EVCP_BUILD54, EVCP_BUILDJIT (where evcp/core.so is, default build/lua5.4 and
# build/luajit), EVCP_WRAP (a command put in front of the interpreter, e.g.
# valgrind), EVCP_PRELOAD (LD_PRELOAD for the interpreters only, e.g. ASan).
# The emulator's options are in spec/emulator-options (.busted reads them too).
# Each busted run gets a session of its own; whatever it leaves running (an
# emulator a failed spec did not stop, say) is listed, stopped, and fails the run.
set -eu
cd "$(dirname "$0")/.."
which=${1:-all}
[ $# -gt 0 ] && shift
LUA54=${LUA54:-lua5.4}
LUAJIT=${LUAJIT:-luajit}
BUSTED=${BUSTED:-/usr/bin/busted}
EVCP_WRAP=${EVCP_WRAP:-}
EVCP_PRELOAD=${EVCP_PRELOAD:-}
EVCP_BUILD54=${EVCP_BUILD54:-build/lua5.4}
EVCP_BUILDJIT=${EVCP_BUILDJIT:-build/luajit}
export EVCP_BUILD54 EVCP_BUILDJIT   # .busted puts them on package.cpath

if [ -z "${EVCP_TEST_URL:-}" ]; then
  # re-run this script with a fresh emulator (statuses frozen) behind it
  launcher=bin/evcp-with-emulator
  [ -x "$launcher" ] || launcher=emulator/bin/evcp-with-emulator
  # shellcheck disable=SC2046 # options are words on purpose
  exec "$launcher" $(cat spec/emulator-options) -- sh "$0" "$which" "$@"
fi
echo "emulator at $EVCP_TEST_URL"

pgfile=$(mktemp)
pg=""
# whether process group $1 has a process that is not a zombie (an exited
# child waits for PID 1 to reap it, which may take a while here)
alive_in() {
  kill -0 "-$1" 2>/dev/null || return 1
  command -v ps >/dev/null 2>&1 || return 0
  ps -e -o pgid=,stat= 2>/dev/null | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}
sweep() {
  # the session's process group outlives busted only if a spec left processes
  # (a second's grace for ones already on their way out); they fail the run
  [ -n "$pg" ] || return 0
  if alive_in "$pg" && sleep 1 && alive_in "$pg"; then
    echo "spec/run.sh: the specs left processes running; stopping them:" >&2
    ps -o pid=,args= -g "$pg" >&2 2>/dev/null || true
    kill -TERM "-$pg" 2>/dev/null || true
    sleep 1
    kill -KILL "-$pg" 2>/dev/null || true
    pg=""
    return 1
  fi
  pg=""
}
trap 'sweep; rm -f "$pgfile"' EXIT
trap 'exit 130' INT TERM

# busted in a session of its own: sh -c writes its pid, the session's group id
in_session() {
  : >"$pgfile"
  st=0
  # shellcheck disable=SC2016 # expanded by the inner shell
  setsid -w sh -c 'echo $$ >"$0"; exec "$@"' "$pgfile" "$@" &
  bg=$!
  while [ ! -s "$pgfile" ] && kill -0 "$bg" 2>/dev/null; do sleep 0.01; done
  pg=$(cat "$pgfile")
  wait "$bg" || st=$?
  sweep || st=1
  return $st
}

rc=0
LP="$PWD/lua/?.lua;$PWD/lua/?/init.lua;$PWD/spec/?.lua;;"
if [ "$which" = all ] || [ "$which" = lua5.4 ]; then
  echo "== Lua 5.4"
  CP="$PWD/$EVCP_BUILD54/?.so;;"
  # shellcheck disable=SC2086 # EVCP_WRAP is a command line
  in_session env LUA_PATH="$LP" LUA_CPATH="$CP" LUA_PATH_5_4="$LP" LUA_CPATH_5_4="$CP" \
    LD_PRELOAD="$EVCP_PRELOAD" $EVCP_WRAP "$LUA54" "$BUSTED" "$@" || rc=1
fi
if [ "$which" = all ] || [ "$which" = luajit ]; then
  echo "== LuaJIT"
  CP="$PWD/$EVCP_BUILDJIT/?.so;;"
  # shellcheck disable=SC2086 # EVCP_WRAP is a command line
  in_session env LUA_PATH="$LP" LUA_CPATH="$CP" \
    LD_PRELOAD="$EVCP_PRELOAD" $EVCP_WRAP "$LUAJIT" "$BUSTED" "$@" || rc=1
fi
exit $rc
