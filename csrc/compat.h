/*
 * compat.h: the few Lua 5.4 API calls evcp uses, shimmed for Lua 5.1/LuaJIT 2.1.
 *
 * evcp is written against Lua 5.4. Everything below the version test maps a
 * 5.4 call onto what LuaJIT offers, so the rest of csrc/ has one code path.
 */
#ifndef EVCP_COMPAT_H
#define EVCP_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM < 502

#ifndef LUA_OK
#define LUA_OK 0
#endif
#define lua_rawlen(L, i) lua_objlen((L), (i))

/* Lua 5.1 has no integer subtype: every number is a double. */
#define lua_isinteger(L, i) 0

/* LuaJIT 2.1 already has luaL_setfuncs, luaL_testudata and luaL_newlib. */

/*
 * User values. 5.4 gives a userdata n slots; 5.1 gives it one environment
 * table, so slot k lives at env[k]. evcp_newuserdatauv creates that table.
 */
static inline void *evcp_newuserdatauv(lua_State *L, size_t sz, int nuv) {
  void *p = lua_newuserdata(L, sz);
  lua_createtable(L, nuv, 0);
  lua_setfenv(L, -2);
  return p;
}
/* Pops a value and stores it in user value n of the userdata at idx. */
static inline void evcp_setiuservalue(lua_State *L, int idx, int n) {
  idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
  lua_getfenv(L, idx);
  lua_insert(L, -2);
  lua_rawseti(L, -2, n);
  lua_pop(L, 1);
}
/* Pushes user value n of the userdata at idx. */
static inline void evcp_getiuservalue(lua_State *L, int idx, int n) {
  lua_getfenv(L, idx);
  lua_rawgeti(L, -1, n);
  lua_remove(L, -2);
}

#else

#define evcp_newuserdatauv(L, sz, n) lua_newuserdatauv((L), (sz), (n))
#define evcp_setiuservalue(L, idx, n) ((void)lua_setiuservalue((L), (idx), (n)))
#define evcp_getiuservalue(L, idx, n) ((void)lua_getiuservalue((L), (idx), (n)))

#endif

#endif
