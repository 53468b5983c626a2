/*
 * json_decode.c: evcp's JSON decoder, one pass from text to Lua tables.
 *
 * core.json_decode(text [, schema]) -> value
 * decodes a JSON text (RFC 8259) into the tables lua-cjson 2.1 builds for
 * it: objects and arrays are tables, strings strings, numbers floats, true
 * and false booleans, null the light userdata NULL (cjson.null); a key given
 * twice keeps its last value. It raises "JSON: <what> at offset <n>" on a
 * text that is not JSON, on nesting deeper than 64 containers (cjson's
 * limit) and on a number too large for a double. It differs from cjson (as
 * evcp configured it) only on texts that are not JSON, which it refuses
 * where cjson reads them: numbers such as "2.", "2.e3" and "-.123", and raw
 * newlines and tabs in strings (9 of JSONTestSuite's n_ cases, spec/19).
 *
 * With schema (an evcp.XmlSchema, core.xml_schema) it also brings the
 * document to evcp.v2.schema's canonical shape as it builds it, exactly as
 * schema.normalize would afterwards: a member the schema calls an array is
 * wrapped when it is a single value; numeric and true/false texts of number,
 * integer and boolean members become numbers and booleans (read as tonumber
 * reads them); integral numbers of integer members become integers on Lua
 * 5.4. The top level is the parent "ROOT". As in normalize, what is below an
 * array that is an item of an array is left as it is.
 *
 * Why not lua-cjson: it copies every string through a buffer, reads every
 * number with strtod and grows every table from empty. Here a string without
 * escapes is pushed straight from the text, a number with up to 19 digits
 * and a small exponent is computed exactly without strtod (Clinger's fast
 * path; strtod reads the rest), and the members of a container are pushed
 * on the Lua stack first (up to a chunk) so that its table is made at its
 * size. Bounds: the caller (evcp.json) runs core.json_scan first, which caps
 * the number of containers and elements; here depth is capped, the Lua
 * stack is checked, and nothing is allocated outside Lua (the scratch for
 * escaped strings is a userdata), so a raise leaks nothing.
 */
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evcp.h"
#include "schema.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define JD_MAX_DEPTH 64    /* lua-cjson's default depth */
#define JD_ARRAY_CHUNK 64  /* array items held on the stack before a flush */
#define JD_OBJECT_CHUNK 32 /* object members held on the stack before a flush */
#define JD_MAX_NUMBER_TEXT 64 /* longest text tonumber is asked to read (normalize's bound) */
#define JD_MAX_RAW_NUMBER 1100 /* longest number text read with strtod */

/* The schema entries of the keys met, by the address of their Lua string:
 * a key's entry is found without hashing its bytes. Each cached string is
 * also held in the anchors table (slot i at index i + 1), so that it lives
 * as long as its slot and no other string can take its address meanwhile. */
#define JD_KEY_CACHE 256
typedef struct {
  const char *key;
  const sentry *e;
} kslot;

typedef struct {
  lua_State *L;
  const char *text, *p, *end;
  const xschema *sc; /* NULL: a plain decode */
  int depth;
  int scratch; /* stack index of the scratch userdata */
  char *buf;
  size_t cap;
  kslot *cache; /* JD_KEY_CACHE slots (schema mode) */
  int anchors;  /* stack index of the anchors table (schema mode) */
} jd;

/* Strings up to this length are one Lua object per content in the Lua this
 * library was loaded into (Lua 5.4 interns its short strings, LuaJIT all of
 * them), so comparing their addresses compares them; found when the core
 * opens (0: compare bytes always). */
static size_t interned_max = 0;

static void jd_fail(jd *d, const char *what) {
  size_t at = (size_t)(d->p - d->text);
  lua_pushfstring(d->L, "JSON: %s at offset %d", what, (int)(at > 0x7fffffff ? 0x7fffffff : at));
  lua_error(d->L);
}

static inline const char *skip_ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
  return p;
}

/* ---- strings ------------------------------------------------------------ */

/* Room for n more bytes after `used` in the scratch buffer. */
static void scratch_need(jd *d, size_t used, size_t n) {
  size_t cap;
  char *nb;
  if (used + n <= d->cap) return;
  cap = d->cap ? d->cap : 256;
  while (cap < used + n) cap *= 2;
  nb = (char *)lua_newuserdata(d->L, cap);
  if (used) memcpy(nb, d->buf, used);
  lua_replace(d->L, d->scratch);
  d->buf = nb;
  d->cap = cap;
}

static int hex4(const char *p) {
  int v = 0, i;
  for (i = 0; i < 4; i++) {
    int c = (unsigned char)p[i], x;
    if (c >= '0' && c <= '9') x = c - '0';
    else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') x = (c | 0x20) - 'a' + 10;
    else return -1;
    v = v * 16 + x;
  }
  return v;
}

/* The first '"', '\\' or control character (below 0x20, which JSON
 * strings may not hold unescaped) at or after q, or end. */
static inline const char *find_quote(const char *q, const char *end) {
#if defined(__SSE2__)
  const __m128i kq = _mm_set1_epi8('"'), kb = _mm_set1_epi8('\\'), kc = _mm_set1_epi8(0x1f);
  while (end - q >= 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
    __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, kq), _mm_cmpeq_epi8(v, kb)),
                               _mm_cmpeq_epi8(_mm_max_epu8(v, kc), kc));
    unsigned m = (unsigned)_mm_movemask_epi8(hit);
    if (m) return q + __builtin_ctz(m);
    q += 16;
  }
#endif
  while (q < end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20) q++;
  return q;
}

/* The rest of a string with an escape at q (s: its first byte): decoded in
 * the scratch buffer, then pushed. */
static void push_escaped(jd *d, const char *s, const char *q) {
  const char *end = d->end;
  size_t used = (size_t)(q - s);
  scratch_need(d, 0, used + 64);
  memcpy(d->buf, s, used);
  for (;;) {
    const char *run = q;
    q = find_quote(q, end);
    if (q >= end) {
      d->p = end;
      jd_fail(d, "unterminated string");
    }
    scratch_need(d, used, (size_t)(q - run) + 4);
    memcpy(d->buf + used, run, (size_t)(q - run));
    used += (size_t)(q - run);
    if (*q == '"') break;
    if (*q != '\\') {
      d->p = q;
      jd_fail(d, "control character in a string");
    }
    /* an escape */
    if (q + 1 >= end) {
      d->p = q;
      jd_fail(d, "unterminated string");
    }
    switch (q[1]) {
    case '"': d->buf[used++] = '"'; q += 2; break;
    case '\\': d->buf[used++] = '\\'; q += 2; break;
    case '/': d->buf[used++] = '/'; q += 2; break;
    case 'b': d->buf[used++] = '\b'; q += 2; break;
    case 'f': d->buf[used++] = '\f'; q += 2; break;
    case 'n': d->buf[used++] = '\n'; q += 2; break;
    case 'r': d->buf[used++] = '\r'; q += 2; break;
    case 't': d->buf[used++] = '\t'; q += 2; break;
    case 'u': {
      long cp;
      int hi = end - q >= 6 ? hex4(q + 2) : -1;
      if (hi < 0) {
        d->p = q;
        jd_fail(d, "invalid \\u escape");
      }
      q += 6;
      cp = hi;
      if (hi >= 0xDC00 && hi <= 0xDFFF) {
        d->p = q - 6;
        jd_fail(d, "lone low surrogate in \\u escape");
      }
      if (hi >= 0xD800 && hi <= 0xDBFF) {
        int lo = (end - q >= 6 && q[0] == '\\' && q[1] == 'u') ? hex4(q + 2) : -1;
        if (lo < 0xDC00 || lo > 0xDFFF) {
          d->p = q - 6;
          jd_fail(d, "high surrogate without a low one in \\u escape");
        }
        q += 6;
        cp = 0x10000 + (((long)hi - 0xD800) << 10) + (lo - 0xDC00);
      }
      if (cp < 0x80) {
        d->buf[used++] = (char)cp;
      } else if (cp < 0x800) {
        d->buf[used++] = (char)(0xC0 | (cp >> 6));
        d->buf[used++] = (char)(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        d->buf[used++] = (char)(0xE0 | (cp >> 12));
        d->buf[used++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        d->buf[used++] = (char)(0x80 | (cp & 0x3F));
      } else {
        d->buf[used++] = (char)(0xF0 | (cp >> 18));
        d->buf[used++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        d->buf[used++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        d->buf[used++] = (char)(0x80 | (cp & 0x3F));
      }
      break;
    }
    default:
      d->p = q;
      jd_fail(d, "invalid escape");
    }
  }
  d->p = q + 1;
  lua_pushlstring(d->L, d->buf, used);
}

/* Pushes the string whose opening quote is at d->p. */
static void push_string(jd *d) {
  const char *s = d->p + 1, *q = s, *end = d->end;
  for (;;) {
    q = find_quote(q, end);
    if (q >= end) {
      d->p = end;
      jd_fail(d, "unterminated string");
    }
    if (*q == '\\') {
      push_escaped(d, s, q);
      return;
    }
    if (*q != '"') {
      d->p = q;
      jd_fail(d, "control character in a string");
    }
    break;
  }
  d->p = q + 1;
  lua_pushlstring(d->L, s, (size_t)(q - s));
}

/* ---- numbers ------------------------------------------------------------ */

static const double POW10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* strtod of s[0..n), whatever the locale's decimal point; 0 if it does not
 * read all of it. */
static int read_double(const char *s, size_t n, double *out) {
  char buf[JD_MAX_RAW_NUMBER + 1], *stop;
  size_t i;
  if (n > JD_MAX_RAW_NUMBER) return 0;
  memcpy(buf, s, n);
  buf[n] = '\0';
  *out = strtod(buf, &stop);
  if (stop == buf + n) return 1;
  for (i = 0; i < n; i++) /* a locale whose decimal point is not '.' */
    if (buf[i] == '.') buf[i] = localeconv()->decimal_point[0];
  *out = strtod(buf, &stop);
  return stop == buf + n;
}

#if LUA_VERSION_NUM >= 503
static int push_if_integer(lua_State *L, double v) {
  if (v >= -9223372036854775808.0 && v < 9223372036854775808.0 && (double)(lua_Integer)v == v) {
    lua_pushinteger(L, (lua_Integer)v);
    return 1;
  }
  return 0;
}
#endif

/* Pushes the number at d->p; an integer on 5.4 when kinds has K_INTEGER and
 * it is whole. */
static void push_number(jd *d, unsigned kinds) {
  const char *p = d->p, *start = p, *end = d->end;
  uint64_t m = 0;
  int nd = 0, neg = 0;
  long e10 = 0, ex = 0;
  double v;
  if (*p == '-') {
    neg = 1;
    p++;
  }
  if (p < end && *p == '0') {
    p++;
    if (p < end && *p >= '0' && *p <= '9') {
      d->p = start;
      jd_fail(d, "number with a leading zero");
    }
  } else if (p < end && *p >= '1' && *p <= '9') {
    for (; p < end && *p >= '0' && *p <= '9'; p++, nd++)
      if (nd < 19) m = m * 10 + (uint64_t)(*p - '0');
  } else {
    d->p = start;
    jd_fail(d, "invalid number");
  }
  if (p < end && *p == '.') {
    p++;
    if (!(p < end && *p >= '0' && *p <= '9')) {
      d->p = start;
      jd_fail(d, "invalid number");
    }
    for (; p < end && *p >= '0' && *p <= '9'; p++, nd++) {
      if (nd < 19) m = m * 10 + (uint64_t)(*p - '0');
      e10--;
    }
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    int eneg = 0;
    p++;
    if (p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
    if (!(p < end && *p >= '0' && *p <= '9')) {
      d->p = start;
      jd_fail(d, "invalid number");
    }
    for (; p < end && *p >= '0' && *p <= '9'; p++)
      if (ex < 100000) ex = ex * 10 + (*p - '0');
    e10 += eneg ? -ex : ex;
  }
  if (nd <= 19 && m <= ((uint64_t)1 << 53) && e10 >= -22 && e10 <= 22) {
    v = (double)m; /* exact, and so is 10^|e10|: one rounding, as strtod's */
    if (e10 < 0) v /= POW10[-e10];
    else v *= POW10[e10];
    if (neg) v = -v;
  } else if (!read_double(start, (size_t)(p - start), &v)) {
    d->p = start;
    jd_fail(d, "invalid number");
  }
  if (!(v - v == 0)) {
    d->p = start;
    jd_fail(d, "number too large for a double");
  }
  d->p = p;
#if LUA_VERSION_NUM >= 503
  if ((kinds & K_INTEGER) && push_if_integer(d->L, v)) return;
#else
  (void)kinds;
#endif
  lua_pushnumber(d->L, v);
}

/* ---- the schema's value kinds on a string (normalize's scalar()) --------- */

/* The string on top, of a member with value kinds `kinds`: replaced by its
 * number or boolean when it reads as one. */
static void convert_string(lua_State *L, unsigned kinds) {
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  if (kinds & (K_NUMBER | K_INTEGER)) {
    double v;
    if (len > JD_MAX_NUMBER_TEXT) return;
#if LUA_VERSION_NUM >= 503
    {
      size_t used = lua_stringtonumber(L, s); /* tonumber's reading; pushes it */
      if (used == 0) return;
      if (used != len + 1) { /* an embedded NUL: tonumber refuses the string */
        lua_pop(L, 1);
        return;
      }
    }
    if (lua_isinteger(L, -1)) {
      lua_remove(L, -2);
      return;
    }
    v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (!(v - v == 0)) return; /* NaN or infinite: stays a string */
    lua_pop(L, 1);
    if ((kinds & K_INTEGER) && push_if_integer(L, v)) return;
    lua_pushnumber(L, v);
#else
    if (!lua_isnumber(L, -1)) return;
    v = lua_tonumber(L, -1);
    if (!(v - v == 0)) return;
    lua_pop(L, 1);
    lua_pushnumber(L, v);
#endif
    return;
  }
  if (kinds & K_BOOLEAN) {
    if (len == 4 && memcmp(s, "true", 4) == 0) {
      lua_pop(L, 1);
      lua_pushboolean(L, 1);
    } else if (len == 5 && memcmp(s, "false", 5) == 0) {
      lua_pop(L, 1);
      lua_pushboolean(L, 0);
    }
  }
}

/* ---- values --------------------------------------------------------------- */

/* Modes: what the schema does below a value. */
enum { M_RAW = 0, M_SCHEMA = 1 };

static int parse_value(jd *d, unsigned kinds, const char *name, size_t nlen, int mode);

static void descend(jd *d) {
  if (++d->depth > JD_MAX_DEPTH) jd_fail(d, "nested deeper than 64 containers");
  luaL_checkstack(d->L, 2 * JD_OBJECT_CHUNK + JD_ARRAY_CHUNK + 16, "evcp: JSON nested too deeply");
}

/* After a member or item: 1 at ',' (the next one follows), 0 at `close`
 * (the container ends); anything else is an error. */
static int next_member(jd *d, char close) {
  const char *p = skip_ws(d->p, d->end);
  if (p < d->end && *p == ',') {
    d->p = skip_ws(p + 1, d->end);
    return 1;
  }
  d->p = p;
  if (p < d->end && *p == close) {
    d->p = p + 1;
    return 0;
  }
  jd_fail(d, close == ']' ? "expected ',' or ']'" : "expected ',' or '}'");
  return 0;
}

/* Enters the container at d->p, which ends with `close`: 0 when it is empty
 * (its table is pushed), else the stack index below the slot of its table
 * (a nil is pushed there; the stack always holds the arguments first, so
 * that index is never 0). */
static int open_container(jd *d, char close) {
  descend(d);
  d->p = skip_ws(d->p + 1, d->end);
  if (d->p < d->end && *d->p == close) {
    d->p++;
    d->depth--;
    lua_createtable(d->L, 0, 0);
    return 0;
  }
  lua_pushnil(d->L); /* the slot of the table, made when its size is known */
  return lua_gettop(d->L) - 1;
}

/* Makes the container's table in its slot (base + 1); returns that index. */
static int make_table(lua_State *L, int base, int narr, int nrec) {
  lua_createtable(L, narr, nrec);
  lua_replace(L, base + 1);
  return base + 1;
}

/* Pops the n values on top into the table at index t, at t[first + 1 ..
 * first + n]. */
static void flush_items(lua_State *L, int t, int first, int n) {
  int i;
  for (i = n; i >= 1; i--) lua_rawseti(L, t, first + i);
}

/* The array at d->p ('['); its items: scalars with `kinds`, objects with
 * parent `name`, arrays raw. Pushes it; returns 1 (an array for normalize). */
static int parse_array(jd *d, unsigned kinds, const char *name, size_t nlen, int mode) {
  lua_State *L = d->L;
  int base = open_container(d, ']'), t = 0, n = 0, pending = 0;
  if (base == 0) return 1;
  for (;;) {
    const char *p = d->p;
    if (p < d->end && *p == '[') parse_value(d, 0, NULL, 0, M_RAW); /* an array in an array: raw */
    else parse_value(d, kinds, name, nlen, mode);
    if (++pending == JD_ARRAY_CHUNK) {
      if (!t) t = make_table(L, base, 2 * JD_ARRAY_CHUNK, 0);
      flush_items(L, t, n, pending);
      n += pending;
      pending = 0;
    }
    if (!next_member(d, ']')) break;
  }
  if (!t) t = make_table(L, base, pending, 0);
  flush_items(L, t, n, pending);
  d->depth--;
  return 1;
}

typedef struct {
  const char *s;
  size_t len;
} keyref;

/* Pops the n key/value pairs on top into the table at index t. dup: a key
 * may repeat among them, so they go in text order (the last one wins). */
static void flush_members(lua_State *L, int t, int n, int dup) {
  int i;
  if (!dup) {
    for (i = 0; i < n; i++) lua_rawset(L, t);
    return;
  }
  for (i = 0; i < n; i++) {
    int k = lua_gettop(L) - 2 * (n - i) + 1;
    lua_pushvalue(L, k);
    lua_pushvalue(L, k + 1);
    lua_rawset(L, t);
  }
  lua_pop(L, 2 * n);
}

/* Bit of the 64-bit filter that finds repeated keys in a chunk: equal keys
 * always get the same bit. */
static inline uint64_t key_bit(const char *s, size_t len) {
  size_t h;
  if (len <= interned_max) {
    h = (size_t)(uintptr_t)s;
    h = (h >> 4) ^ (h >> 10);
  } else {
    h = len * 31u;
    if (len) h += (unsigned char)s[0] * 7u + (unsigned char)s[len - 1] * 131u + (unsigned char)s[len / 2];
  }
  return (uint64_t)1 << (h & 63);
}

static inline int same_key(const keyref *k, const char *s, size_t len) {
  if (k->len != len) return 0;
  if (k->s == s) return 1;
  return len > interned_max && memcmp(k->s, s, len) == 0;
}

/* The schema entry of the key on top of the stack (its bytes: key, klen). */
static const sentry *key_entry(jd *d, const char *key, size_t klen) {
  size_t h = (size_t)(uintptr_t)key;
  kslot *slot = &d->cache[((h >> 4) ^ (h >> 12)) & (JD_KEY_CACHE - 1)];
  if (slot->key != key) {
    slot->key = key;
    slot->e = schema_find(d->sc, key, klen);
    lua_pushvalue(d->L, -1);
    lua_rawseti(d->L, d->anchors, (int)(slot - d->cache) + 1);
  }
  return slot->e;
}

/* The object at d->p ('{'), the content of element `parent`. Pushes it;
 * returns 1 when it is empty (an array for normalize), else 0. */
static int parse_object(jd *d, const char *parent, size_t plen, int mode) {
  lua_State *L = d->L;
  int base = open_container(d, '}'), t = 0, pending = 0, dup = 0;
  uint64_t filter = 0;
  keyref keys[JD_OBJECT_CHUNK];
  if (base == 0) return 1;
  for (;;) {
    const char *p = d->p, *key;
    size_t klen;
    unsigned kinds = 0;
    uint64_t bit;
    int arr;
    if (!(p < d->end && *p == '"')) jd_fail(d, "expected a string key");
    push_string(d);
    key = lua_tolstring(L, -1, &klen);
    bit = key_bit(key, klen);
    if (filter & bit) { /* maybe a repeat: look */
      int i;
      for (i = 0; i < pending; i++)
        if (same_key(&keys[i], key, klen)) dup = 1;
    }
    filter |= bit;
    keys[pending].s = key;
    keys[pending].len = klen;
    if (mode == M_SCHEMA) kinds = entry_kinds(d->sc, key_entry(d, key, klen), parent, plen, 0);
    p = skip_ws(d->p, d->end);
    if (!(p < d->end && *p == ':')) {
      d->p = p;
      jd_fail(d, "expected ':'");
    }
    d->p = skip_ws(p + 1, d->end);
    arr = parse_value(d, kinds, key, klen, mode);
    if (!arr && (kinds & K_ARRAY)) { /* a single one of a repeating element: wrapped */
      lua_createtable(L, 1, 0);
      lua_insert(L, -2);
      lua_rawseti(L, -2, 1);
    }
    if (++pending == JD_OBJECT_CHUNK) {
      if (!t) t = make_table(L, base, 0, 2 * JD_OBJECT_CHUNK);
      flush_members(L, t, pending, dup);
      pending = 0;
      dup = 0;
      filter = 0;
    }
    if (!next_member(d, '}')) break;
  }
  if (!t) t = make_table(L, base, 0, pending);
  flush_members(L, t, pending, dup);
  d->depth--;
  return 0;
}

/* Parses the value at d->p and pushes it. kinds: the value kinds of its
 * name under its parent (schema mode); name: the parent of its members.
 * Returns 1 when normalize would see an array (an array, or an empty
 * object), else 0. */
static int parse_value(jd *d, unsigned kinds, const char *name, size_t nlen, int mode) {
  const char *p = d->p, *end = d->end;
  if (p >= end) jd_fail(d, "expected a value");
  switch (*p) {
  case '{':
    return parse_object(d, name, nlen, mode);
  case '[':
    return parse_array(d, kinds, name, nlen, mode);
  case '"':
    push_string(d);
    if (mode == M_SCHEMA && (kinds & (K_NUMBER | K_INTEGER | K_BOOLEAN))) convert_string(d->L, kinds);
    return 0;
  case 't':
    if (end - p >= 4 && memcmp(p, "true", 4) == 0) {
      d->p = p + 4;
      lua_pushboolean(d->L, 1);
      return 0;
    }
    break;
  case 'f':
    if (end - p >= 5 && memcmp(p, "false", 5) == 0) {
      d->p = p + 5;
      lua_pushboolean(d->L, 0);
      return 0;
    }
    break;
  case 'n':
    if (end - p >= 4 && memcmp(p, "null", 4) == 0) {
      d->p = p + 4;
      lua_pushlightuserdata(d->L, NULL); /* cjson.null */
      return 0;
    }
    break;
  default:
    if (*p == '-' || (*p >= '0' && *p <= '9')) {
      push_number(d, mode == M_SCHEMA ? kinds : 0);
      return 0;
    }
  }
  jd_fail(d, "expected a value");
  return 0;
}

/*
 * core.json_decode(text [, schema]) -> value (see the header); raises on a
 * text that is not JSON.
 */
static int core_json_decode(lua_State *L) {
  jd d;
  size_t n;
  if (lua_type(L, 1) != LUA_TSTRING)
    return evcp_error(L, "core.json_decode: argument #1 (text) must be a string, got %s",
                      luaL_typename(L, 1));
  memset(&d, 0, sizeof d);
  if (!lua_isnoneornil(L, 2)) {
    d.sc = (const xschema *)luaL_testudata(L, 2, EVCP_XMLSCHEMA);
    if (d.sc == NULL)
      return evcp_error(L, "core.json_decode: argument #2 (schema) must be an evcp.XmlSchema, got %s",
                        luaL_typename(L, 2));
  }
  d.L = L;
  d.text = lua_tolstring(L, 1, &n);
  d.end = d.text + n;
  lua_settop(L, 2);
  lua_pushnil(L); /* the scratch slot */
  d.scratch = 3;
  if (d.sc) {
    d.cache = (kslot *)lua_newuserdata(L, sizeof(kslot) * JD_KEY_CACHE);
    memset(d.cache, 0, sizeof(kslot) * JD_KEY_CACHE);
    lua_createtable(L, JD_KEY_CACHE, 0);
    d.anchors = 5;
  }
  d.p = skip_ws(d.text, d.end);
  if (d.p < d.end && *d.p == '{') parse_object(&d, "ROOT", 4, d.sc ? M_SCHEMA : M_RAW);
  else parse_value(&d, 0, NULL, 0, M_RAW);
  d.p = skip_ws(d.p, d.end);
  if (d.p != d.end) jd_fail(&d, "unexpected text after the value");
  return 1;
}

int evcp_json_decode_open(lua_State *L) {
  char a[40], b[40];
  memset(a, 'k', sizeof a);
  memcpy(b, a, sizeof b);
  lua_pushlstring(L, a, sizeof a);
  lua_pushlstring(L, b, sizeof b);
  interned_max = lua_tostring(L, -1) == lua_tostring(L, -2) ? sizeof a : 0;
  lua_pop(L, 2);
  lua_pushcfunction(L, core_json_decode);
  lua_setfield(L, -2, "json_decode");
  return 0;
}
