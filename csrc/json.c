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
 * the scan runs 64 bytes at a time (scan_blocks: AVX2 with PCLMUL and POPCNT
 * when the CPU has them, about 1 instruction per byte, else SSE2, about 4)
 * and falls back to the exact byte scan (scan_exact: strings skipped with
 * memchr, every number checked) only when a block might hold a number too
 * large; elsewhere the exact scan runs. The 4th argument is for tests: true
 * or "exact" forces the exact scan, "sse2" the SSE2 block scan.
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
#define EVCP_SCAN_BLOCKS 1

/*
 * The block scan, 64 bytes at a time. Each variant (SSE2 everywhere on
 * x86-64; AVX2 + PCLMUL + POPCNT where the CPU has them, chosen at run time)
 * turns a block into bit masks (bit i for byte i): quotes, backslashes,
 * '{' or '[', ',', 'e' or 'E', and, only when needed, digits. What follows is
 * the same for both: a quote is escaped after an odd run of backslashes (the
 * carry trick of simdjson's string scanner; skipped when the block has no
 * backslash, the common case); the bytes inside strings are the prefix XOR of
 * the real quotes; containers and elements are popcounts of the structural
 * masks outside strings. The scan gives up (returns 1, and the caller runs the
 * exact scan) when a number might not fit a double: an 'e' right after a digit
 * outside strings, or a block of 64 digits.
 */
typedef struct {
  uint64_t prev_escaped, prev_in, prev_digit, c, e;
} block_state;

static const uint64_t EVEN_BITS = 0x5555555555555555ULL;

/* The escaped bytes of a block with backslash mask bs (updates the carry). */
static inline uint64_t escaped_bytes(block_state *s, uint64_t bs) {
  uint64_t follows, odd_starts, seq_even;
  if (bs == 0) { /* only the first byte can be escaped, by the last block */
    uint64_t e = s->prev_escaped;
    s->prev_escaped = 0;
    return e;
  }
  bs &= ~s->prev_escaped;
  follows = bs << 1 | s->prev_escaped;
  odd_starts = bs & ~EVEN_BITS & ~follows;
  seq_even = odd_starts + bs;
  s->prev_escaped = seq_even < bs; /* the carry out */
  return (EVEN_BITS ^ (seq_even << 1)) & follows;
}

static uint64_t popcount64(uint64_t x) {
  x = x - ((x >> 1) & 0x5555555555555555ULL);
  x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
  x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
  return (x * 0x0101010101010101ULL) >> 56;
}

/* Bit i set where byte i of the block equals c. */
static inline uint64_t eqmask(const __m128i v[4], __m128i k) {
  return (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v[0], k)) |
         (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v[1], k)) << 16 |
         (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v[2], k)) << 32 |
         (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v[3], k)) << 48;
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

static int scan_blocks_sse2(const char *text, size_t n, block_state *s) {
  const __m128i kbs = _mm_set1_epi8('\\'), kq = _mm_set1_epi8('"'), kopen = _mm_set1_epi8('{'),
                kcomma = _mm_set1_epi8(','), ke = _mm_set1_epi8('e'), k20 = _mm_set1_epi8(0x20);
  size_t at;
  for (at = 0; at < n; at += 64) {
    char tail[64];
    const char *b = text + at;
    __m128i v[4], f[4];
    uint64_t quote, in, outside, open, comma, expo;
    if (n - at < 64) {
      memset(tail, ' ', sizeof tail);
      memcpy(tail, b, n - at);
      b = tail;
    }
    v[0] = _mm_loadu_si128((const __m128i *)(const void *)b);
    v[1] = _mm_loadu_si128((const __m128i *)(const void *)(b + 16));
    v[2] = _mm_loadu_si128((const __m128i *)(const void *)(b + 32));
    v[3] = _mm_loadu_si128((const __m128i *)(const void *)(b + 48));
    quote = eqmask(v, kq) & ~escaped_bytes(s, eqmask(v, kbs));
    in = quote;
    in ^= in << 1;
    in ^= in << 2;
    in ^= in << 4;
    in ^= in << 8;
    in ^= in << 16;
    in ^= in << 32;
    in ^= s->prev_in;
    s->prev_in = (uint64_t)0 - (in >> 63);
    outside = ~in;
    f[0] = _mm_or_si128(v[0], k20); /* '[' | 0x20 == '{', 'E' | 0x20 == 'e' */
    f[1] = _mm_or_si128(v[1], k20);
    f[2] = _mm_or_si128(v[2], k20);
    f[3] = _mm_or_si128(v[3], k20);
    open = eqmask(f, kopen) & outside;
    comma = eqmask(v, kcomma) & outside;
    if (open) {
      uint64_t k = popcount64(open);
      s->c += k;
      s->e += k;
    }
    if (comma) s->e += popcount64(comma);
    expo = eqmask(f, ke) & outside;
    if (expo || (quote | open | comma) == 0) {
      uint64_t digits = digitmask(v) & outside;
      if ((expo & (digits << 1 | s->prev_digit)) || digits == ~(uint64_t)0) return 1;
    }
    s->prev_digit = b[63] >= '0' && b[63] <= '9' && !(in >> 63);
  }
  return 0;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define EVCP_SCAN_AVX2 1

#define AVX2_TARGET __attribute__((target("avx2,pclmul,popcnt")))

AVX2_TARGET static inline uint64_t eqmask2(__m256i lo, __m256i hi, __m256i k) {
  return (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, k)) |
         (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, k)) << 32;
}

AVX2_TARGET static int scan_blocks_avx2(const char *text, size_t n, block_state *s) {
  const __m256i kbs = _mm256_set1_epi8('\\'), kq = _mm256_set1_epi8('"'),
                kopen = _mm256_set1_epi8('{'), kcomma = _mm256_set1_epi8(','),
                ke = _mm256_set1_epi8('e'), k20 = _mm256_set1_epi8(0x20),
                zero = _mm256_set1_epi8('0'), nine = _mm256_set1_epi8(9);
  const __m128i ones = _mm_set1_epi8((char)0xff);
  size_t at;
  for (at = 0; at < n; at += 64) {
    char tail[64];
    const char *b = text + at;
    __m256i lo, hi, flo, fhi;
    uint64_t quote, in, outside, open, comma, expo;
    if (n - at < 64) {
      memset(tail, ' ', sizeof tail);
      memcpy(tail, b, n - at);
      b = tail;
    }
    lo = _mm256_loadu_si256((const __m256i *)(const void *)b);
    hi = _mm256_loadu_si256((const __m256i *)(const void *)(b + 32));
    quote = eqmask2(lo, hi, kq) & ~escaped_bytes(s, eqmask2(lo, hi, kbs));
    /* the prefix XOR: a carry-less multiply by all ones */
    in = (uint64_t)_mm_cvtsi128_si64(
        _mm_clmulepi64_si128(_mm_set_epi64x(0, (long long)quote), ones, 0));
    in ^= s->prev_in;
    s->prev_in = (uint64_t)0 - (in >> 63);
    outside = ~in;
    flo = _mm256_or_si256(lo, k20);
    fhi = _mm256_or_si256(hi, k20);
    open = eqmask2(flo, fhi, kopen) & outside;
    comma = eqmask2(lo, hi, kcomma) & outside;
    s->c += (uint64_t)_mm_popcnt_u64(open);
    s->e += (uint64_t)_mm_popcnt_u64(open) + (uint64_t)_mm_popcnt_u64(comma);
    expo = eqmask2(flo, fhi, ke) & outside;
    if (expo || (quote | open | comma) == 0) {
      __m256i dlo = _mm256_sub_epi8(lo, zero), dhi = _mm256_sub_epi8(hi, zero);
      uint64_t digits = eqmask2(_mm256_cmpeq_epi8(_mm256_min_epu8(dlo, nine), dlo),
                                _mm256_cmpeq_epi8(_mm256_min_epu8(dhi, nine), dhi),
                                _mm256_set1_epi8((char)0xff)) &
                        outside;
      if ((expo & (digits << 1 | s->prev_digit)) || digits == ~(uint64_t)0) return 1;
    }
    s->prev_digit = b[63] >= '0' && b[63] <= '9' && !(in >> 63);
  }
  return 0;
}

static int have_avx2(void) {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("pclmul") &&
         __builtin_cpu_supports("popcnt");
}
#endif

/* sse2: 0 for the best variant the CPU has, 1 for SSE2 (tests). */
static int scan_blocks(const char *text, size_t n, double *containers, double *elements,
                       int sse2) {
  block_state s = {0, 0, 0, 0, 0};
  int r;
#if defined(EVCP_SCAN_AVX2)
  if (!sse2 && have_avx2()) r = scan_blocks_avx2(text, n, &s);
  else
#endif
    r = scan_blocks_sse2(text, n, &s);
  *containers = (double)s.c;
  *elements = (double)s.e;
  return r;
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
  const char *text, *p, *mode;
  int force_exact, force_sse2;
  lua_Number max_containers, max_elements;
  double containers = 0, elements = 0;
  if (lua_type(L, 1) != LUA_TSTRING)
    return evcp_error(L, "core.json_scan: argument #1 (text) must be a string, got %s",
                      luaL_typename(L, 1));
  text = lua_tolstring(L, 1, &n);
  max_containers = opt_limit(L, 2, "max_containers");
  max_elements = opt_limit(L, 3, "max_elements");
  (void)force_sse2;
  mode = lua_type(L, 4) == LUA_TSTRING ? lua_tostring(L, 4) : NULL;
  force_exact = mode != NULL ? strcmp(mode, "exact") == 0 : lua_toboolean(L, 4);
  force_sse2 = mode != NULL && strcmp(mode, "sse2") == 0;
  p = (const char *)memchr(text, '\0', n);
  if (p != NULL) return scan_fail(L, "JSON: NUL byte at offset %d", (size_t)(p - text));
#if defined(EVCP_SCAN_BLOCKS)
  if (force_exact || scan_blocks(text, n, &containers, &elements, force_sse2))
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
