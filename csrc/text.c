/*
 * text.c: byte-level text work the Lua front does on every request, in C
 * because a per-character Lua pattern costs a hundred times more.
 *
 *   core.text_bad(s) -> index of the first control byte (0x00-0x1f, 0x7f)
 *                       in s, or nil when there is none
 *   core.percent_encode(s [, separators]) -> s with every byte outside
 *                       RFC 3986's unreserved set (A-Z a-z 0-9 - . _ ~)
 *                       written as %XX (upper-case hex); with separators
 *                       true, ',' ';' ':' stay literal too (HERE's list
 *                       separators in query values). s itself when nothing
 *                       needs escaping.
 */
#include <string.h>

#include "evcp.h"

static int core_text_bad(lua_State *L) {
  size_t n, i;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
  for (i = 0; i < n; i++) {
    if (s[i] < 0x20 || s[i] == 0x7f) {
      lua_pushinteger(L, (lua_Integer)(i + 1));
      return 1;
    }
  }
  lua_pushnil(L);
  return 1;
}

static int unreserved(unsigned char c, int seps) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return 1;
  if (c == '-' || c == '.' || c == '_' || c == '~') return 1;
  return seps && (c == ',' || c == ';' || c == ':');
}

static int core_percent_encode(lua_State *L) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n, i;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
  int seps = lua_toboolean(L, 2);
  luaL_Buffer b;
  for (i = 0; i < n && unreserved(s[i], seps); i++) {
  }
  if (i == n) {
    lua_settop(L, 1);
    return 1;
  }
  luaL_buffinit(L, &b);
  luaL_addlstring(&b, (const char *)s, i);
  for (; i < n; i++) {
    if (unreserved(s[i], seps)) {
      luaL_addchar(&b, (char)s[i]);
    } else {
      luaL_addchar(&b, '%');
      luaL_addchar(&b, hex[s[i] >> 4]);
      luaL_addchar(&b, hex[s[i] & 15]);
    }
  }
  luaL_pushresult(&b);
  return 1;
}

int evcp_text_open(lua_State *L) {
  static const luaL_Reg funcs[] = {
      {"text_bad", core_text_bad}, {"percent_encode", core_percent_encode}, {NULL, NULL}};
  luaL_setfuncs(L, funcs, 0);
  return 0;
}
