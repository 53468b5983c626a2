/*
 * core.c: the entry point of evcp.core. Each area of the C core registers
 * itself from here, in the order listed in `areas`.
 */
#include "evcp.h"

#if defined(__GNUC__)
#define EVCP_EXPORT __attribute__((visibility("default")))
#else
#define EVCP_EXPORT
#endif

EVCP_EXPORT int luaopen_evcp_core(lua_State *L);

static const lua_CFunction areas[] = {evcp_object_open, evcp_json_open, evcp_xml_open,
                                       evcp_transport_open, NULL};

int luaopen_evcp_core(lua_State *L) {
  int i;
  lua_newtable(L); /* the module */
  for (i = 0; areas[i] != NULL; i++) areas[i](L);
  lua_pushliteral(L, "0.1.0");
  lua_setfield(L, -2, "version");
  return 1;
}
