/*
 * crypto.c: the little cryptography evcp needs, from OpenSSL's libcrypto
 * (never written by hand): HMAC-SHA256 signatures for HERE's OAuth 1.0a
 * token request, base64, and random nonces; and evcp.Secret, the one C
 * buffer that holds an access key secret.
 *
 *   core.secret(s) -> evcp.Secret
 *       s: the access key secret, a string of 1..1024 bytes. The userdata
 *       holds, in one buffer inside itself, a copy of s followed by the
 *       OAuth 1.0a signing key built from it: pct(s) .. "&" (pct: every
 *       byte outside RFC 3986's unreserved set A-Z a-z 0-9 - . _ ~ as %XX,
 *       upper-case hex; there is no token secret, hence the bare "&"). So
 *       the caller hands over the secret as it is; no Lua string ever holds
 *       the signing key. The Lua string s itself stays where the caller
 *       got it (Lua strings cannot be wiped): drop every reference to it.
 *   secret:sign(text) -> base64(HMAC-SHA256(pct(s) .. "&", text)), the
 *       signature of a base string (standard base64 with '=' padding; the
 *       caller percent-encodes it for the header). Raises once wiped.
 *   secret:scrub(text) -> text with every spelling of s (s itself, with
 *       bytes as %XX of either case, a space as '+': core.scrub's matcher)
 *       replaced by "***" (text itself when there is none; unchanged once
 *       wiped), for error text that might echo the secret.
 *   secret:wipe(), secret:close()  OPENSSL_cleanse the whole buffer;
 *       idempotent; __gc and __close do the same.
 *   secret:is_wiped() -> true when wiped and every byte of the buffer is 0
 *       (the check spec/46 makes after close; no byte is ever returned).
 *   tostring(secret) -> "evcp.Secret (redacted)" | "evcp.Secret (wiped)"
 *   No method returns the bytes of the secret or of the signing key.
 *
 *   core.random_token(nbytes [, format]) -> nbytes bytes from RAND_bytes as
 *       text; nbytes an integer 1..256; format "hex" (default, lower-case)
 *       or "base64url" (RFC 4648 §5, no padding). Raises when OpenSSL's
 *       generator fails (never a weaker fallback).
 *   core.base64(s) -> standard base64 of s with padding (EVP_EncodeBlock);
 *       s at most 64 MiB.
 *   core.request_id() -> a fresh UUID version 4 (RFC 9562), lower-case, for
 *       X-Request-ID. The random bits come from RAND_bytes through a pool of
 *       4 KiB per thread (one RAND_bytes call per 256 ids instead of one per
 *       id); each id's bytes are wiped from the pool as they are taken, and
 *       the pool is thrown away in a child after fork (pthread_atfork), so
 *       two processes never hand out the same ids. Raises as random_token.
 */
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "evcp.h"

#define EVCP_SECRET "evcp.Secret"
#define SECRET_MAX 1024
#define TOKEN_MAX 256
#define BASE64_MAX ((size_t)64 * 1024 * 1024)

typedef struct {
  size_t raw_len; /* bytes of s, at buf[0] */
  size_t key_len; /* bytes of pct(s) .. "&", at buf[raw_len] */
  size_t size;    /* bytes of buf */
  int wiped;
  unsigned char buf[1];
} secret;

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

static void secret_wipe(secret *s) {
  if (s->size > 0) OPENSSL_cleanse(s->buf, s->size);
  s->raw_len = s->key_len = 0;
  s->wiped = 1;
}

/* core.secret(s) */
static int core_secret(lua_State *L) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n, i, enc = 0, size;
  const unsigned char *src;
  secret *s;
  unsigned char *key;
  if (lua_type(L, 1) != LUA_TSTRING)
    return evcp_error(L, "core.secret: argument #1 (secret) must be a string, got %s",
                      luaL_typename(L, 1));
  src = (const unsigned char *)lua_tolstring(L, 1, &n);
  if (n == 0 || n > SECRET_MAX)
    return evcp_error(L, "core.secret: argument #1 (secret) must be 1 to %d bytes long, got %s",
                      SECRET_MAX, n == 0 ? "an empty string" : "a longer one");
  for (i = 0; i < n; i++) enc += unreserved(src[i]) ? 1 : 3;
  size = n + enc + 1; /* <= 1024 + 3072 + 1: no overflow */
  /* safe empty state first, metatable next, then the bytes */
  s = (secret *)lua_newuserdata(L, offsetof(secret, buf) + size);
  s->raw_len = s->key_len = 0;
  s->size = 0;
  s->wiped = 1;
  luaL_setmetatable(L, EVCP_SECRET);
  s->size = size;
  memcpy(s->buf, src, n);
  key = s->buf + n;
  for (i = 0; i < n; i++) {
    if (unreserved(src[i])) {
      *key++ = src[i];
    } else {
      *key++ = '%';
      *key++ = (unsigned char)hex[src[i] >> 4];
      *key++ = (unsigned char)hex[src[i] & 15];
    }
  }
  *key = '&';
  s->raw_len = n;
  s->key_len = enc + 1;
  s->wiped = 0;
  return 1;
}

static secret *check_secret(lua_State *L, const char *fname) {
  return (secret *)evcp_checkself(L, EVCP_SECRET, fname);
}

/* secret:sign(text) */
static int secret_sign(lua_State *L) {
  secret *s = check_secret(L, "evcp.Secret:sign");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned char out[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  unsigned int mdlen = 0;
  size_t n;
  const unsigned char *text;
  int outlen;
  if (s->wiped) return evcp_error(L, "evcp.Secret:sign: the secret is wiped");
  if (lua_type(L, 2) != LUA_TSTRING)
    return evcp_error(L, "evcp.Secret:sign: argument #1 (text) must be a string, got %s",
                      luaL_typename(L, 2));
  text = (const unsigned char *)lua_tolstring(L, 2, &n);
  if (HMAC(EVP_sha256(), s->buf + s->raw_len, (int)s->key_len, text, n, md, &mdlen) == NULL ||
      mdlen == 0 || mdlen > EVP_MAX_MD_SIZE) {
    OPENSSL_cleanse(md, sizeof md);
    ERR_clear_error();
    return evcp_error(L, "evcp.Secret:sign: HMAC-SHA256 failed");
  }
  outlen = EVP_EncodeBlock(out, md, (int)mdlen);
  OPENSSL_cleanse(md, sizeof md);
  lua_pushlstring(L, (const char *)out, (size_t)outlen);
  return 1;
}

/* secret:scrub(text): text.c's matcher over the raw secret (which also
 * finds its percent-encoded and form-encoded spellings) */
static int secret_scrub(lua_State *L) {
  secret *s = check_secret(L, "evcp.Secret:scrub");
  size_t n;
  const unsigned char *text, *sec;
  luaL_Buffer b;
  if (lua_type(L, 2) != LUA_TSTRING)
    return evcp_error(L, "evcp.Secret:scrub: argument #1 (text) must be a string, got %s",
                      luaL_typename(L, 2));
  text = (const unsigned char *)lua_tolstring(L, 2, &n);
  lua_settop(L, 2);
  if (s->wiped) return 1;
  sec = s->buf;
  luaL_buffinit(L, &b);
  if (!evcp_scrub_spans(L, &b, text, n, &sec, &s->raw_len, 1)) {
    luaL_pushresult(&b);
    lua_pop(L, 1);
    return 1; /* text, unchanged */
  }
  luaL_pushresult(&b);
  return 1;
}

/* secret:wipe() / secret:close() / __gc / __close */
static int secret_close(lua_State *L) {
  secret *s = check_secret(L, "evcp.Secret:wipe");
  secret_wipe(s);
  return 0;
}

/* secret:is_wiped() */
static int secret_is_wiped(lua_State *L) {
  secret *s = check_secret(L, "evcp.Secret:is_wiped");
  size_t i;
  int zero = s->wiped;
  for (i = 0; zero && i < s->size; i++) zero = s->buf[i] == 0;
  lua_pushboolean(L, zero);
  return 1;
}

static int secret_tostring(lua_State *L) {
  secret *s = check_secret(L, "evcp.Secret:__tostring");
  lua_pushstring(L, s->wiped ? "evcp.Secret (wiped)" : "evcp.Secret (redacted)");
  return 1;
}

/* ---- request ids ------------------------------------------------------- */

#define ID_POOL 4096

/* forks seen by this process (the child handler counts them): a pool filled
 * in an earlier generation belongs to the parent */
static volatile unsigned long fork_generation;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void on_fork_child(void) { fork_generation++; }
static void register_atfork(void) { (void)pthread_atfork(NULL, NULL, on_fork_child); }

static __thread unsigned char id_pool[ID_POOL];
static __thread size_t id_pool_left;
static __thread unsigned long id_pool_generation;

/* core.request_id() */
static int core_request_id(lua_State *L) {
  static const char hex[] = "0123456789abcdef";
  unsigned char *b;
  char out[36];
  int i, o = 0;
  (void)pthread_once(&atfork_once, register_atfork);
  if (id_pool_left < 16 || id_pool_generation != fork_generation) {
    OPENSSL_cleanse(id_pool, sizeof id_pool);
    id_pool_left = 0;
    if (RAND_bytes(id_pool, ID_POOL) != 1) {
      unsigned long e = ERR_get_error();
      char why[256];
      ERR_error_string_n(e, why, sizeof why);
      ERR_clear_error();
      return evcp_error(L, "core.request_id: OpenSSL's RAND_bytes failed: %s", why);
    }
    id_pool_left = ID_POOL;
    id_pool_generation = fork_generation;
  }
  b = id_pool + (ID_POOL - id_pool_left);
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10 */
  for (i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
    out[o++] = hex[b[i] >> 4];
    out[o++] = hex[b[i] & 15];
  }
  OPENSSL_cleanse(b, 16);
  id_pool_left -= 16;
  lua_pushlstring(L, out, sizeof out);
  return 1;
}

/* core.random_token(nbytes [, format]) */
static int core_random_token(lua_State *L) {
  static const char hex[] = "0123456789abcdef";
  static const char *const formats[] = {"hex", "base64url", NULL};
  unsigned char raw[TOKEN_MAX];
  char out[2 * TOKEN_MAX + 1]; /* hex: 2 per byte; base64: 4 per 3 bytes, fewer */
  lua_Integer n = luaL_checkinteger(L, 1);
  int format = luaL_checkoption(L, 2, "hex", formats), i, len;
  if (n < 1 || n > TOKEN_MAX)
    return luaL_argerror(L, 1, "must be 1 to 256 bytes");
  if (RAND_bytes(raw, (int)n) != 1) {
    unsigned long e = ERR_get_error();
    char why[256];
    ERR_error_string_n(e, why, sizeof why);
    ERR_clear_error();
    return evcp_error(L, "core.random_token: OpenSSL's RAND_bytes failed: %s", why);
  }
  if (format == 0) {
    for (i = 0; i < (int)n; i++) {
      out[2 * i] = hex[raw[i] >> 4];
      out[2 * i + 1] = hex[raw[i] & 15];
    }
    len = 2 * (int)n;
  } else {
    len = EVP_EncodeBlock((unsigned char *)out, raw, (int)n);
    while (len > 0 && out[len - 1] == '=') len--;
    for (i = 0; i < len; i++) {
      if (out[i] == '+') out[i] = '-';
      else if (out[i] == '/') out[i] = '_';
    }
  }
  OPENSSL_cleanse(raw, sizeof raw);
  lua_pushlstring(L, out, (size_t)len);
  return 1;
}

/* core.base64(s) */
static int core_base64(lua_State *L) {
  size_t n, i;
  const unsigned char *src = (const unsigned char *)luaL_checklstring(L, 1, &n);
  unsigned char out[1024 + 1];
  luaL_Buffer b;
  if (n > BASE64_MAX) return luaL_argerror(L, 1, "must be at most 64 MiB");
  luaL_buffinit(L, &b);
  for (i = 0; i < n; i += 768) { /* 768 bytes (a multiple of 3) -> 1024 characters */
    size_t chunk = n - i < 768 ? n - i : 768;
    int len = EVP_EncodeBlock(out, src + i, (int)chunk);
    luaL_addlstring(&b, (const char *)out, (size_t)len);
  }
  luaL_pushresult(&b);
  return 1;
}

int evcp_crypto_open(lua_State *L) {
  static const luaL_Reg meta[] = {{"__gc", secret_close},
                                  {"__close", secret_close},
                                  {"__tostring", secret_tostring},
                                  {NULL, NULL}};
  static const luaL_Reg methods[] = {{"sign", secret_sign},       {"scrub", secret_scrub},
                                     {"wipe", secret_close},      {"close", secret_close},
                                     {"is_wiped", secret_is_wiped}, {NULL, NULL}};
  static const luaL_Reg funcs[] = {{"secret", core_secret},
                                   {"random_token", core_random_token},
                                   {"request_id", core_request_id},
                                   {"base64", core_base64},
                                   {NULL, NULL}};
  evcp_createclass(L, EVCP_SECRET, meta, methods);
  luaL_setfuncs(L, funcs, 0);
  return 0;
}
