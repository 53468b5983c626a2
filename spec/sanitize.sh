#!/bin/sh
# make sanitize: builds evcp.core with clang's AddressSanitizer and
# UndefinedBehaviorSanitizer (float-cast-overflow too; any report aborts) and
# runs the whole suite on Lua 5.4 and LuaJIT with clang's runtime preloaded.
# Needs clang and its runtime (Debian 12: clang-14 libclang-rt-14-dev).
# Environment: SAN_CC (default clang-14, else clang).
set -eu
cd "$(dirname "$0")/.."
SAN_CC=${SAN_CC:-$(command -v clang-14 || command -v clang || echo clang-14)}
SAN="-fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer"
make -s CC="$SAN_CC" B54=build/asan-lua5.4 BJIT=build/asan-luajit OPT="-O1 -g $SAN" \
  LDFLAGS="-shared-libasan $SAN" build/asan-lua5.4/evcp/core.so build/asan-luajit/evcp/core.so
# clang's shared ASan runtime carries the UBSan handlers too
ASAN_LIB=$("$SAN_CC" -print-file-name="libclang_rt.asan-$(uname -m).so")
if [ ! -f "$ASAN_LIB" ]; then
  echo "sanitize: $ASAN_LIB not found: install clang's runtime (Debian: libclang-rt-14-dev)" >&2
  exit 1
fi
# keeps the runtime out of the programs the specs start (see spec/unpreload.c)
"$SAN_CC" -shared -fPIC -o build/unpreload.so spec/unpreload.c
# The interpreters are not instrumented; leaks of their own are not evcp's.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
EVCP_CHILD_PRELOAD="$ASAN_LIB $PWD/build/unpreload.so" \
EVCP_BUILD54=build/asan-lua5.4 EVCP_BUILDJIT=build/asan-luajit EVCP_PRELOAD="$ASAN_LIB $PWD/build/unpreload.so" \
  sh spec/run.sh all "$@"
