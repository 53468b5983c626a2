#!/bin/sh
# make sanitize: builds evcp.core with ASan+UBSan and runs the whole suite
# on Lua 5.4 and LuaJIT with the sanitizer runtime preloaded.
set -eu
cd "$(dirname "$0")/.."
SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
make -s B54=build/asan-lua5.4 BJIT=build/asan-luajit OPT="-O1 -g $SAN" LDFLAGS="$SAN" \
  build/asan-lua5.4/evcp/core.so build/asan-luajit/evcp/core.so
ASAN_LIB=$(${CC:-cc} -print-file-name=libasan.so)
UBSAN_LIB=$(${CC:-cc} -print-file-name=libubsan.so)
# keeps the runtime out of the programs the specs start (see spec/unpreload.c)
${CC:-cc} -shared -fPIC -o build/unpreload.so spec/unpreload.c
# The interpreters are not instrumented; leaks of their own are not evcp's.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
EVCP_CHILD_PRELOAD="$ASAN_LIB $UBSAN_LIB $PWD/build/unpreload.so" \
EVCP_BUILD54=build/asan-lua5.4 EVCP_BUILDJIT=build/asan-luajit EVCP_PRELOAD="$ASAN_LIB $UBSAN_LIB $PWD/build/unpreload.so" \
  sh spec/run.sh all "$@"
