/*
 * value.c: what the object model, the XML decoder and the transport share,
 * so that none of them depends on another: the one way a class is made, the
 * error helper that names the caller's function, and plain copies of
 * decoded values.
 */
#include <math.h>
#include <stdarg.h>

#include "evcp.h"

void evcp_createclass(lua_State *L, const char *name, const luaL_Reg *meta,
                      const luaL_Reg *methods) {
  luaL_newmetatable(L, name);
  luaL_setfuncs(L, meta, 0);
  lua_pushstring(L, name);
  lua_setfield(L, -2, "__name");
  lua_pushstring(L, name);
  lua_setfield(L, -2, "__metatable"); /* getmetatable(obj) -> the class name */
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

int evcp_error(lua_State *L, const char *fmt, ...) {
  va_list ap;
  luaL_where(L, 1); /* the Lua code that called the C function */
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_concat(L, 2);
  return lua_error(L);
}

void *evcp_checkself(lua_State *L, const char *cls, const char *fname) {
  void *p = luaL_testudata(L, 1, cls);
  if (p == NULL)
    evcp_error(L, "%s: self must be an %s (call it with ':'), got %s", fname, cls,
               luaL_typename(L, 1));
  return p;
}

void evcp_pushnormal(lua_State *L, int idx) {
#if LUA_VERSION_NUM >= 503
  if (lua_type(L, idx) == LUA_TNUMBER && !lua_isinteger(L, idx)) {
    lua_Number d = lua_tonumber(L, idx);
    if (d >= -9007199254740992.0 && d <= 9007199254740992.0 && floor(d) == d) {
      lua_pushinteger(L, (lua_Integer)d);
      return;
    }
  }
#endif
  lua_pushvalue(L, idx);
}

void evcp_pushcopy(lua_State *L, int idx, int depth) {
  if (lua_type(L, idx) != LUA_TTABLE) {
    evcp_pushnormal(L, idx);
    return;
  }
  if (depth > EVCP_MAX_DEPTH)
    luaL_error(L, "evcp: document nested deeper than %d levels", EVCP_MAX_DEPTH);
  luaL_checkstack(L, 6, "evcp: document too deep");
  idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
  lua_createtable(L, (int)lua_rawlen(L, idx), 0);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    evcp_pushnormal(L, -2);          /* key */
    evcp_pushcopy(L, -2, depth + 1); /* value */
    lua_rawset(L, -5);
    lua_pop(L, 1);
  }
}
