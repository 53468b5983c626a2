/*
 * json.c: the pre-scan that bounds what evcp.json hands to lua-cjson.
 *
 * core.json_scan(text [, max_containers [, max_elements]])
 *   -> true, containers, elements | nil, message
 * walks a JSON text once, without building anything, and refuses it when
 *   - it holds a NUL byte (lua-cjson stops reading there and ignores the rest);
 *   - it has more than max_containers objects and arrays, or more than
 *     max_elements elements (array elements plus object members): what a
 *     document costs in memory grows with these counts, not with its size,
 *     so `[{},{},...]` would take ~35 times its size as tables;
 *   - a number in it is too large for a double (lua-cjson would make it
 *     inf, which it then cannot write back).
 * It does not check the syntax: lua-cjson does that next (what lua-cjson
 * builds before a syntax error is a valid prefix, counted right). On x86-64
 * the scan runs 64 bytes at a time with SSE2 (scan_blocks) and falls back to
 * the exact byte scan (scan_exact: strings skipped with memchr, every number
 * checked) only when a block might hold a number too large; elsewhere the
 * exact scan runs. Either costs a few percent of lua-cjson's decode. The 4th
 * argument (true) forces the exact scan, for tests.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evcp.h"

/* Skips the string whose opening quote is at p[-1]; returns the position after
 * its closing quote, or end if it is unterminated. */
static const char *skip_string(const char *p, const char *end) {
  for (;;) {
    const char *q = (const char *)memchr(p, '"', (size_t)(end - p));
    const char *b;
    if (q == NULL) return end;
    b = q; /* an odd run of backslashes before the quote escapes it */
    while (b > p && b[-1] == '\\') b--;
    if (((q - b) & 1) == 0) return q + 1;
    p = q + 1;
  }
}

/* Number at p (first char '-' or a digit): returns the position after it; sets
 * *inf when its value is too large for a double. */
static const char *skip_number(const char *p, const char *end, int *inf) {
  const char *start = p;
  long intdigits = 0, exp = 0;
  int expneg = 0, lead = 1;
  if (p < end && *p == '-') p++;
  for (; p < end && *p >= '0' && *p <= '9'; p++) {
    if (lead && *p == '0') continue;
    lead = 0;
    intdigits++;
  }
  if (p < end && *p == '.') {
    p++;
    while (p < end && *p >= '0' && *p <= '9') p++;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < end && (*p == '+' || *p == '-')) expneg = *p++ == '-';
    for (; p < end && *p >= '0' && *p <= '9'; p++)
      if (exp < 100000) exp = exp * 10 + (*p - '0');
  }
  /* value < 10^(intdigits + exp): only then can it pass DBL_MAX (~1.8e308) */
  if (intdigits + (expneg ? -exp : exp) > 308) {
    char buf[512];
    size_t n = (size_t)(p - start);
    if (n >= sizeof buf) {
      *inf = 1; /* more than 300 digits and past 1e308: an overflow for sure */
    } else {
      memcpy(buf, start, n);
      buf[n] = '\0';
      if (isinf(strtod(buf, NULL))) *inf = 1;
    }
  }
  return p;
}

/* The exact scan: counts containers and elements outside strings, checks
 * every number. Returns 0, or the offset + 1 of a number too large. */
static size_t scan_exact(const char *text, size_t n, double *containers, double *elements) {
  const char *p = text, *end = text + n;
  int inf = 0;
  while (p < end) {
    switch (*p) {
    case '"':
      p = skip_string(p + 1, end);
      break;
    case '{':
    case '[':
      ++*containers;
      ++*elements; /* the first element (an empty container over-counts one) */
      p++;
      break;
    case ',':
      ++*elements;
      p++;
      break;
    case '-':
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
      p = skip_number(p, end, &inf);
      if (inf) return (size_t)(p - text) + 1;
      break;
    default:
      p++;
    }
  }
  return 0;
}

#if defined(__SSE2__)
#include <emmintrin.h>

static uint64_t popcount64(uint64_t x) {
  x = x - ((x >> 1) & 0x5555555555555555ULL);
  x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
  x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
  return (x * 0x0101010101010101ULL) >> 56;
}

/* Bit i set where byte i of the block, OR-ed with `fold`, equals c. */
static uint64_t eqmask(const __m128i v[4], char c, char fold) {
  __m128i k = _mm_set1_epi8(c), f = _mm_set1_epi8(fold);
  return (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_or_si128(v[0], f), k)) |
         (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_or_si128(v[1], f), k)) << 16 |
         (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_or_si128(v[2], f), k)) << 32 |
         (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_or_si128(v[3], f), k)) << 48;
}

static uint64_t digitmask(const __m128i v[4]) {
  __m128i zero = _mm_set1_epi8('0'), nine = _mm_set1_epi8(9);
  uint64_t m = 0;
  int i;
  for (i = 0; i < 4; i++) {
    __m128i d = _mm_sub_epi8(v[i], zero);
    m |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d, nine), d)) << (16 * i);
  }
  return m;
}

/*
 * The same counts, 64 bytes at a time: bit masks of quotes, backslashes and
 * structural characters; a quote is escaped after an odd run of backslashes
 * (the carry trick of simdjson's string scanner); the bytes inside strings
 * are the prefix XOR of the real quotes. Returns 1 when a number might not fit
 * a double (an exponent, or a block of 64 digits): the caller then runs the
 * exact scan.
 */
static int scan_blocks(const char *text, size_t n, double *containers, double *elements) {
  const uint64_t even = 0x5555555555555555ULL;
  uint64_t prev_escaped = 0, prev_in = 0, prev_digit = 0, c = 0, e = 0;
  size_t at;
  for (at = 0; at < n; at += 64) {
    char tail[64];
    const char *b = text + at;
    __m128i v[4];
    uint64_t bs, follows, odd_starts, seq_even, escaped, quote, in, outside, digits, expo, open, comma;
    if (n - at < 64) {
      memset(tail, ' ', sizeof tail);
      memcpy(tail, b, n - at);
      b = tail;
    }
    v[0] = _mm_loadu_si128((const __m128i *)(const void *)b);
    v[1] = _mm_loadu_si128((const __m128i *)(const void *)(b + 16));
    v[2] = _mm_loadu_si128((const __m128i *)(const void *)(b + 32));
    v[3] = _mm_loadu_si128((const __m128i *)(const void *)(b + 48));
    bs = eqmask(v, '\\', 0) & ~prev_escaped;
    follows = bs << 1 | prev_escaped;
    odd_starts = bs & ~even & ~follows;
    seq_even = odd_starts + bs;
    prev_escaped = seq_even < bs; /* the carry out */
    escaped = (even ^ (seq_even << 1)) & follows;
    quote = eqmask(v, '"', 0) & ~escaped;
    in = quote;
    in ^= in << 1;
    in ^= in << 2;
    in ^= in << 4;
    in ^= in << 8;
    in ^= in << 16;
    in ^= in << 32;
    in ^= prev_in;
    prev_in = (uint64_t)0 - (in >> 63);
    outside = ~in;
    open = eqmask(v, '{', 0x20) & outside; /* '[' | 0x20 == '{' */
    comma = eqmask(v, ',', 0) & outside;
    if (open) {
      uint64_t k = popcount64(open);
      c += k;
      e += k;
    }
    if (comma) e += popcount64(comma);
    /* digits matter only next to an exponent or in a block of nothing else */
    expo = eqmask(v, 'e', 0x20) & outside;
    if (expo || (quote | open | comma) == 0) {
      digits = digitmask(v) & outside;
      if ((expo & (digits << 1 | prev_digit)) || digits == ~(uint64_t)0) return 1;
    }
    prev_digit = b[63] >= '0' && b[63] <= '9' && !(in >> 63);
  }
  *containers = (double)c;
  *elements = (double)e;
  return 0;
}
#endif

static int clamp_int(lua_Number v) {
  return v < 2147483647.0 ? (int)v : 2147483647;
}

static int scan_fail(lua_State *L, const char *msg, size_t at) {
  lua_pushnil(L);
  lua_pushfstring(L, msg, (int)(at > 0x7fffffff ? 0x7fffffff : at));
  return 2;
}

static lua_Number opt_limit(lua_State *L, int arg, const char *what) {
  lua_Number v = 0;
  if (lua_isnoneornil(L, arg)) return HUGE_VAL;
  if (lua_type(L, arg) != LUA_TNUMBER || !((v = lua_tonumber(L, arg)) >= 0))
    return evcp_error(L, "core.json_scan: argument #%d (%s) must be a number >= 0, got %s", arg,
                      what, luaL_typename(L, arg));
  return v;
}

static int core_json_scan(lua_State *L) {
  size_t n, bad;
  const char *text, *p;
  lua_Number max_containers, max_elements;
  double containers = 0, elements = 0;
  if (lua_type(L, 1) != LUA_TSTRING)
    return evcp_error(L, "core.json_scan: argument #1 (text) must be a string, got %s",
                      luaL_typename(L, 1));
  text = lua_tolstring(L, 1, &n);
  max_containers = opt_limit(L, 2, "max_containers");
  max_elements = opt_limit(L, 3, "max_elements");
  p = (const char *)memchr(text, '\0', n);
  if (p != NULL) return scan_fail(L, "JSON: NUL byte at offset %d", (size_t)(p - text));
#if defined(__SSE2__)
  if (lua_toboolean(L, 4) || scan_blocks(text, n, &containers, &elements))
#endif
  {
    containers = elements = 0;
    bad = scan_exact(text, n, &containers, &elements);
    if (bad) return scan_fail(L, "JSON: number too large for a double near offset %d", bad - 1);
  }
  if (containers > max_containers) {
    lua_pushnil(L);
    lua_pushfstring(L, "JSON: more than %d objects and arrays", clamp_int(max_containers));
    return 2;
  }
  if (elements > max_elements) {
    lua_pushnil(L);
    lua_pushfstring(L, "JSON: more than %d elements", clamp_int(max_elements));
    return 2;
  }
  lua_pushboolean(L, 1);
  lua_pushnumber(L, containers);
  lua_pushnumber(L, elements);
  return 3;
}

int evcp_json_open(lua_State *L) {
  static const luaL_Reg funcs[] = {{"json_scan", core_json_scan}, {NULL, NULL}};
  luaL_setfuncs(L, funcs, 0);
  return 0;
}
