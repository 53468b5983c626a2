/*
 * unpreload.c: test support for `make sanitize`. Preloaded after libasan into
 * the Lua interpreter, it removes LD_PRELOAD from the environment as the
 * process starts, so the programs the specs run (curl, ps, nginx) do not get
 * the sanitizer runtime: some of them hang with it.
 */
#include <stdlib.h>

__attribute__((constructor)) static void evcp_unpreload(void) { unsetenv("LD_PRELOAD"); }
