#!/bin/sh
# make valgrind: the suite on Lua 5.4 under valgrind memcheck (errors fail the
# run; definite leaks in evcp's code fail it too). Specs tagged #slow (the
# dataset, the emulator over curl, the schema sweep) exercise no C code of
# evcp's that the others do not, and take an hour under valgrind: skipped here.
set -eu
cd "$(dirname "$0")/.."
EVCP_WRAP="valgrind -q --keep-debuginfo=yes --suppressions=$PWD/spec/valgrind.supp --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --track-origins=yes" \
  sh spec/run.sh lua5.4 --exclude-tags=slow "$@"
