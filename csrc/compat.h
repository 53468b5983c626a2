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

/* LuaJIT 2.1 already has luaL_setfuncs, luaL_testudata and luaL_newlib.
 * User values differ too (one environment table instead of n slots); the
 * only user of them, object.c's views, handles both forms itself so that a
 * Location needs no table of its own on LuaJIT. */

#endif

#endif
