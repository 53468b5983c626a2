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
 *   core.content_id(s)  -> the part of s after its last ':' (s itself when
 *                       there is none)
 *   core.id_check(s, maxlen) -> the content id of s, or nil and a reason
 *                       code when s is not a usable location id: 1 not a
 *                       string, 2 empty, 3 longer than maxlen bytes, 4 a
 *                       control byte, 5 an empty content id, 6 a ',' in
 *                       the content id.
 *   core.array_len(v [, max]) -> n when v is a table without a metatable
 *                       whose keys are exactly 1..n (n <= max when given);
 *                       nil otherwise (the caller then finds out why, in
 *                       Lua, and says so).
 *   core.id_list(ids, n, maxlen) -> cids, order, given | nil, i, ids[i]:
 *                       for the plain array ids[1..n] (no metatable; see
 *                       array_len), cids[i] = the content id of ids[i],
 *                       order = the distinct content ids in first-seen
 *                       order, given = a copy of ids; or the index and value
 *                       of the first id id_check refuses. All tables are
 *                       made at their final size.
 *   core.scrub(text, s1 [, s2 ...]) -> text with every spelling of each
 *                       non-empty si replaced by "***": si itself, or si
 *                       with any of its bytes written %XX (hex digits of
 *                       either case) or, for a space, '+' (form encoding).
 *                       text itself when nothing matched. Matching is
 *                       leftmost, longest spelling first. evcp.Secret's
 *                       scrub uses the same matcher (evcp_scrub_spans).
 */
#include <math.h>
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

/* index just after the last ':' of s[0..n), 0 when there is none */
static size_t after_last_colon(const char *s, size_t n) {
  size_t i = n;
  while (i > 0 && s[i - 1] != ':') i--;
  return i;
}

static int core_content_id(lua_State *L) {
  size_t n, a;
  const char *s = luaL_checklstring(L, 1, &n);
  a = after_last_colon(s, n);
  if (a == 0) lua_settop(L, 1);
  else lua_pushlstring(L, s + a, n - a);
  return 1;
}

static int id_fail(lua_State *L, int code) {
  lua_pushnil(L);
  lua_pushinteger(L, code);
  return 2;
}

/* id_check's verdict on s[0..n): 0 (usable; *cid = where its content id
 * starts) or a reason code 2..6. One pass over the bytes. */
static int id_code(const unsigned char *s, size_t n, lua_Integer maxlen, size_t *cid) {
  size_t i, a = 0, comma = 0; /* comma: 1 + index of the last ',' */
  if (n == 0) return 2;
  if (maxlen >= 0 && n > (size_t)maxlen) return 3;
  for (i = 0; i < n; i++) {
    unsigned char c = s[i];
    if (c <= ',') {
      if (c < 0x20) return 4;
      if (c == ',') comma = i + 1;
    } else if (c == ':') {
      a = i + 1;
    } else if (c == 0x7f) {
      return 4;
    }
  }
  if (a == n) return 5;
  if (comma > a) return 6;
  *cid = a;
  return 0;
}

static int core_id_check(lua_State *L) {
  size_t n, a = 0;
  const unsigned char *s;
  int code;
  lua_Integer maxlen = luaL_checkinteger(L, 2);
  if (lua_type(L, 1) != LUA_TSTRING) return id_fail(L, 1);
  s = (const unsigned char *)lua_tolstring(L, 1, &n);
  code = id_code(s, n, maxlen, &a);
  if (code != 0) return id_fail(L, code);
  if (a == 0) lua_settop(L, 1);
  else lua_pushlstring(L, (const char *)s + a, n - a);
  return 1;
}

static int core_array_len(lua_State *L) {
  lua_Number max = luaL_optnumber(L, 2, -1), top = 0;
  size_t count = 0;
  if (lua_type(L, 1) != LUA_TTABLE || lua_getmetatable(L, 1)) {
    lua_pushnil(L);
    return 1;
  }
  lua_settop(L, 1);
  lua_pushnil(L);
  while (lua_next(L, 1) != 0) {
    lua_Number k;
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TNUMBER) goto no;
    k = lua_tonumber(L, -1);
    if (!(k >= 1) || floor(k) != k || (max >= 0 && k > max)) goto no;
    if (k > top) top = k;
    count++;
  }
  /* distinct integer keys in 1..top, as many as top: no holes */
  if ((lua_Number)count != top) goto no;
  lua_pushinteger(L, (lua_Integer)count);
  return 1;
no:
  lua_pushnil(L);
  return 1;
}

static int core_id_list(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 2), maxlen = luaL_checkinteger(L, 3), i, m = 0;
  luaL_checktype(L, 1, LUA_TTABLE);
  if (n < 0 || n > 0x7fffffff) return luaL_argerror(L, 2, "count out of range");
  lua_settop(L, 1);
  luaL_checkstack(L, 8, "id_list");
  lua_createtable(L, (int)n, 0); /* 2: cids */
  lua_createtable(L, (int)n, 0); /* 3: order */
  lua_createtable(L, (int)n, 0); /* 4: given */
  lua_createtable(L, 0, (int)n); /* 5: seen */
  for (i = 1; i <= n; i++) {
    size_t len = 0, a = 0;
    const unsigned char *s = NULL;
    lua_rawgeti(L, 1, (int)i); /* 6 */
    if (lua_type(L, 6) == LUA_TSTRING) s = (const unsigned char *)lua_tolstring(L, 6, &len);
    if (s == NULL || id_code(s, len, maxlen, &a) != 0) {
      lua_pushnil(L);
      lua_pushinteger(L, i);
      lua_pushvalue(L, 6);
      return 3;
    }
    lua_pushvalue(L, 6);
    lua_rawseti(L, 4, (int)i); /* given[i] */
    if (a > 0) lua_pushlstring(L, (const char *)s + a, len - a);
    else lua_pushvalue(L, 6); /* 7: cid */
    lua_pushvalue(L, 7);
    lua_rawseti(L, 2, (int)i); /* cids[i] */
    lua_pushvalue(L, 7);
    lua_rawget(L, 5);
    if (lua_isnil(L, -1)) {
      lua_pushvalue(L, 7);
      lua_pushboolean(L, 1);
      lua_rawset(L, 5);
      lua_pushvalue(L, 7);
      lua_rawseti(L, 3, (int)++m); /* order[m] */
    }
    lua_settop(L, 5);
  }
  lua_settop(L, 4);
  return 3;
}

/* ---- scrubbing secrets ------------------------------------------------- */

static int hexval(unsigned c) {
  if (c >= '0' && c <= '9') return (int)(c - '0');
  if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
  if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
  return -1;
}

/* the byte %XX at t[k..k+3) writes, or -1 */
static int pct_byte(const unsigned char *t, size_t n, size_t k) {
  int hi, lo;
  if (k + 3 > n || t[k] != '%') return -1;
  hi = hexval(t[k + 1]);
  lo = hexval(t[k + 2]);
  return (hi < 0 || lo < 0) ? -1 : hi * 16 + lo;
}

/* Length of a spelling of sec[0..m) starting at t[i], or 0. Each byte of
 * sec may be itself, %XX, or '+' for a space. '%' is tried as %25 first. */
size_t evcp_spelling_at(const unsigned char *t, size_t n, size_t i, const unsigned char *sec,
                        size_t m) {
  size_t j, k = i;
  if (m == 0) return 0;
  for (j = 0; j < m; j++) {
    unsigned c = sec[j];
    if (c == '%' && pct_byte(t, n, k) == '%') {
      k += 3;
    } else if (k < n && t[k] == c) {
      k++;
    } else if (pct_byte(t, n, k) == (int)c) {
      k += 3;
    } else if (c == ' ' && k < n && t[k] == '+') {
      k++;
    } else {
      return 0;
    }
  }
  return k - i;
}

/* Appends text with every spelling of the nsec secrets replaced by "***"
 * to b (a buffer the caller inited), or returns 0 having added nothing when
 * no spelling occurs. Candidates are only positions whose byte can begin a
 * spelling (the secret's first byte, '%', '+'), so a text costs one pass
 * and a secret's length per candidate. */
int evcp_scrub_spans(lua_State *L, luaL_Buffer *b, const unsigned char *t, size_t n,
                     const unsigned char *const *secs, const size_t *lens, int nsec) {
  size_t i = 0, from = 0;
  int hit = 0;
  (void)L;
  while (i < n) {
    unsigned c = t[i];
    size_t best = 0;
    int q;
    for (q = 0; q < nsec; q++) {
      size_t len;
      if (lens[q] == 0) continue;
      if (c != secs[q][0] && c != '%' && c != '+') continue;
      len = evcp_spelling_at(t, n, i, secs[q], lens[q]);
      if (len > best) best = len;
    }
    if (best == 0) {
      i++;
      continue;
    }
    hit = 1;
    luaL_addlstring(b, (const char *)t + from, i - from);
    luaL_addstring(b, "***");
    i += best;
    from = i;
  }
  if (!hit) return 0;
  luaL_addlstring(b, (const char *)t + from, n - from);
  return 1;
}

#define MAX_SCRUB_SECRETS 16

/* core.scrub(text, s1 [, s2 ...]) */
static int core_scrub(lua_State *L) {
  const unsigned char *secs[MAX_SCRUB_SECRETS];
  size_t lens[MAX_SCRUB_SECRETS], n;
  const unsigned char *t;
  int i, top = lua_gettop(L), nsec = 0;
  luaL_Buffer b;
  t = (const unsigned char *)luaL_checklstring(L, 1, &n);
  if (top - 1 > MAX_SCRUB_SECRETS)
    return evcp_error(L, "scrub: at most %d secrets, got %d", MAX_SCRUB_SECRETS, top - 1);
  for (i = 2; i <= top; i++) {
    if (lua_isnil(L, i)) continue;
    secs[nsec] = (const unsigned char *)luaL_checklstring(L, i, &lens[nsec]);
    nsec++;
  }
  lua_settop(L, top);
  luaL_buffinit(L, &b);
  if (!evcp_scrub_spans(L, &b, t, n, secs, lens, nsec)) {
    luaL_pushresult(&b); /* (empty: balances the buffer) */
    lua_pop(L, 1);
    lua_pushvalue(L, 1);
    return 1;
  }
  luaL_pushresult(&b);
  return 1;
}

int evcp_text_open(lua_State *L) {
  static const luaL_Reg funcs[] = {{"text_bad", core_text_bad},
                                   {"percent_encode", core_percent_encode},
                                   {"content_id", core_content_id},
                                   {"id_check", core_id_check},
                                   {"array_len", core_array_len},
                                   {"id_list", core_id_list},
                                   {"scrub", core_scrub},
                                   {NULL, NULL}};
  luaL_setfuncs(L, funcs, 0);
  return 0;
}
