#!/bin/sh
# make valgrind: the suite on Lua 5.4 under valgrind memcheck (errors fail the
# run; definite leaks in evcp's code fail it too). Specs tagged #slow (the
# dataset, the emulator over curl, the schema sweep) exercise no C code of
# evcp's that the others do not, and take an hour under valgrind: skipped here.
# So are the host specs (spec/*openresty*, *resty*, *nvim*): their evcp runs
# inside nginx or nvim, processes valgrind does not watch, while the busted
# process only waits on sockets; make test and make sanitize run them (and
# spec/45 runs its cases for the local transports only: EVCP_SPEC_HOSTS="").
# Files given as arguments are run as they are.
set -eu
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
  for f in spec/*_spec.lua; do
    case "$f" in
      *openresty* | *resty* | *nvim*) ;;
      *) set -- "$@" "$f" ;;
    esac
  done
fi
EVCP_SPEC_HOSTS="" EVCP_WRAP="valgrind -q --keep-debuginfo=yes --suppressions=$PWD/spec/valgrind.supp --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --track-origins=yes" \
  sh spec/run.sh lua5.4 --exclude-tags=slow "$@"
