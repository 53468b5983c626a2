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
                                       evcp_transport_open, evcp_text_open, evcp_json_decode_open, evcp_crypto_open,
                                       evcp_stream_open, NULL};

/*
 * core.new_object(mt) -> a userdata without payload whose metatable is mt:
 * the instances of classes defined in Lua (evcp.Client, evcp.V2), so that
 * they are userdata like every other evcp object and mt's __gc/__close work
 * on both runtimes. Their state lives in the Lua class, never here.
 */
static int core_new_object(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
#if LUA_VERSION_NUM >= 504
  lua_newuserdatauv(L, 0, 0);
#else
  lua_newuserdata(L, 0);
#endif
  lua_pushvalue(L, 1);
  lua_setmetatable(L, -2);
  return 1;
}

int luaopen_evcp_core(lua_State *L) {
  int i;
  lua_newtable(L); /* the module */
  for (i = 0; areas[i] != NULL; i++) areas[i](L);
  lua_pushcfunction(L, core_new_object);
  lua_setfield(L, -2, "new_object");
  lua_pushliteral(L, "0.1.0");
  lua_setfield(L, -2, "version");
  return 1;
}
