/*
 * stream.c: one message of HERE's status stream (Data API stream v2), from
 * the base64 text of its metaData.data to Lua values.
 *
 * core.stream_decode(data [, opts]) -> value | nil, message
 *   data  the `data` string of a message's metaData: standard base64
 *         (RFC 4648 section 4: A-Z a-z 0-9 + /, '=' padding to a multiple
 *         of 4, the unused bits of the last group zero). Nothing else is
 *         accepted: no whitespace or line breaks (HERE sends none), no
 *         URL-safe alphabet, no missing padding.
 *   The bytes must be exactly one gzip member (RFC 1952): a raw deflate or
 *   zlib stream, a second member or any byte after the first member is an
 *   error. The member is inflated once: content that itself starts like
 *   gzip stays as it is (and then fails as JSON). zlib checks the member's
 *   CRC-32 and ISIZE. Inflating stops as soon as the output passes
 *   min(opts.declared_size, opts.max) bytes (opts.max defaults to 4 MiB),
 *   so a gzip bomb costs at most that much memory and the time to inflate
 *   it. The content is then read as JSON by evcp's decoder (core.json_scan's
 *   bounds per byte, then core.json_decode: nesting at most 64, NUL bytes
 *   and numbers too large for a double refused), as evcp.json.decode does.
 *   opts (all optional, an unknown key raises):
 *     declared_size  the size the message declares for its content
 *                    (metaData.dataSize), bytes: content larger is refused
 *     max            the largest content accepted, bytes (default 4 MiB)
 *     binary         true: data is the gzip bytes themselves (a payload
 *                    fetched from the blob API for a dataHandle), no base64
 *   message names the layer and the place: "base64: invalid character at
 *   offset 12", "gzip: not a gzip member (first bytes 78 9c)", "gzip:
 *   truncated", "gzip: incorrect data check", "gzip: 7 bytes after the gzip
 *   member", "gzip: content larger than 4194304 bytes (the limit)",
 *   "JSON: expected a value at offset 0".
 *
 * core.stream_updates(data [, opts]) -> updates | nil, message
 *   decodes as stream_decode, then reads the message
 *   {id = string, evses = {{id = string, status = string, last_updated =
 *   string}, ...}} (other members ignored) into an array of update records
 *   { location_id, evse_id, status, raw_status, last_updated, partition,
 *   offset }: status is the v3 API spelling of raw_status as
 *   evcp.status.normalize gives it (case and '_' ignored), absent when it
 *   has none (PLANNED, REMOVED, or a value no spelling knows: v3 tells
 *   clients to ignore enum values they do not know, so the update is still
 *   delivered with its raw status). opts also takes partition and offset
 *   (numbers), copied into every record. A message of another shape gives
 *   nil, "message: evses[2].status must be a string, got number".
 *
 * metaData.checksum is not verified: HERE documents it as hex without
 * naming the algorithm, and the gzip member's own CRC-32 already catches
 * corrupted bytes.
 *
 * One inflater per Lua state is kept between calls (a userdata upvalue,
 * freed by its __gc): inflateReset instead of inflateInit saves the ~40 KB
 * of zlib state a message would otherwise allocate. Its buffers are
 * malloc'd and owned by that userdata; no Lua call that can raise is made
 * while they are in use, and a call that finds it busy (re-entered from a
 * finalizer) takes a fresh one (pick_box).
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "evcp.h"

#define ST_DEFAULT_MAX (4u * 1024u * 1024u)
#define ST_KEEP_BUFFER (256u * 1024u) /* larger buffers are freed after a call */
#define ST_BOX "evcp.StreamInflater"

/* core.json_scan's per-byte bounds, as evcp.json.decode applies them */
#define ST_BYTES_PER_CONTAINER 24
#define ST_SLACK_CONTAINERS 4096
#define ST_BYTES_PER_ELEMENT 8
#define ST_SLACK_ELEMENTS 16384

/* upvalues of both functions */
#define UV_SCAN lua_upvalueindex(1)
#define UV_DECODE lua_upvalueindex(2)
#define UV_BOX lua_upvalueindex(3)

typedef struct {
  z_stream z;
  int ready; /* z is initialised */
  int busy;  /* a call is using it (see pick_box) */
  unsigned char *in, *out;
  size_t in_cap, out_cap;
} inflater;

static int box_gc(lua_State *L) {
  inflater *b = (inflater *)luaL_checkudata(L, 1, ST_BOX);
  if (b->ready) inflateEnd(&b->z);
  b->ready = 0;
  free(b->in);
  free(b->out);
  b->in = b->out = NULL;
  b->in_cap = b->out_cap = 0;
  return 0;
}

/* ---- options ------------------------------------------------------------ */

typedef struct {
  double declared, max;
  int binary; /* data is the gzip bytes themselves (a blob), not base64 */
  int partition, offset; /* stack indices of opts.partition/offset, 0: none */
} sopts;

static double size_opt(lua_State *L, const char *fname, const char *key) {
  double v;
  if (lua_type(L, -1) != LUA_TNUMBER)
    evcp_error(L, "%s: opts.%s must be a number >= 0, got %s", fname, key, luaL_typename(L, -1));
  v = (double)lua_tonumber(L, -1);
  if (!(v >= 0)) evcp_error(L, "%s: opts.%s must be a number >= 0, got %f", fname, key, v);
  return v;
}

/* Reads opts at index 2 (nil or a table); `records`: partition and offset
 * are allowed (stream_updates). Leaves opts.partition/offset at 3 and 4. */
static void read_opts(lua_State *L, const char *fname, int records, sopts *o) {
  o->declared = HUGE_VAL;
  o->max = ST_DEFAULT_MAX;
  o->binary = 0;
  o->partition = o->offset = 0;
  lua_settop(L, 2);
  lua_pushnil(L); /* 3: partition */
  lua_pushnil(L); /* 4: offset */
  if (lua_isnil(L, 2)) return;
  if (lua_type(L, 2) != LUA_TTABLE)
    evcp_error(L, "%s: argument #2 (opts) must be a table, got %s", fname, luaL_typename(L, 2));
  lua_pushnil(L);
  while (lua_next(L, 2)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    if (k && strcmp(k, "declared_size") == 0) o->declared = size_opt(L, fname, k);
    else if (k && strcmp(k, "max") == 0) o->max = size_opt(L, fname, k);
    else if (k && strcmp(k, "binary") == 0) {
      if (!lua_isboolean(L, -1))
        evcp_error(L, "%s: opts.binary must be a boolean, got %s", fname, luaL_typename(L, -1));
      o->binary = lua_toboolean(L, -1);
    }
    else if (k && records && (strcmp(k, "partition") == 0 || strcmp(k, "offset") == 0)) {
      int slot = k[0] == 'p' ? 3 : 4;
      if (lua_type(L, -1) != LUA_TNUMBER)
        evcp_error(L, "%s: opts.%s must be a number, got %s", fname, k, luaL_typename(L, -1));
      lua_pushvalue(L, -1);
      lua_replace(L, slot);
      if (slot == 3) o->partition = 3;
      else o->offset = 4;
    } else {
      if (k) evcp_error(L, "%s: unknown option '%s'", fname, k);
      evcp_error(L, "%s: unknown option (a %s key)", fname, luaL_typename(L, -2));
    }
    lua_pop(L, 1);
  }
}

/* ---- base64 --------------------------------------------------------------- */

/* value of each byte in the standard alphabet; 64: '=', 255: not base64 */
static unsigned char B64[256];

static void b64_init(void) {
  const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  int i;
  memset(B64, 255, sizeof B64);
  for (i = 0; i < 64; i++) B64[(unsigned char)a[i]] = (unsigned char)i;
  B64['='] = 64;
}

/* Decodes s[0..n) into out (room for n / 4 * 3 bytes); returns the number
 * of bytes, or (size_t)-1 with msg (a static text) and *at set. */
static size_t b64_decode(const unsigned char *s, size_t n, unsigned char *out, const char **msg,
                         size_t *at) {
  size_t i, o = 0, pad = 0, full;
  if (n % 4 != 0) {
    *msg = "length is not a multiple of 4 (padding missing?)";
    *at = n;
    return (size_t)-1;
  }
  if (n == 0) return 0;
  if (s[n - 1] == '=') pad = s[n - 2] == '=' ? 2 : 1;
  full = n - (pad ? 4 : 0); /* the groups without padding */
  for (i = 0; i < full; i += 4) {
    unsigned a = B64[s[i]], b = B64[s[i + 1]], c = B64[s[i + 2]], d = B64[s[i + 3]];
    if ((a | b | c | d) >= 64) { /* find which one */
      size_t j;
      for (j = i; B64[s[j]] < 64; j++) {}
      *msg = s[j] == '=' ? "padding before the end" : "invalid character";
      *at = j;
      return (size_t)-1;
    }
    out[o++] = (unsigned char)(a << 2 | b >> 4);
    out[o++] = (unsigned char)((b & 15) << 4 | c >> 2);
    out[o++] = (unsigned char)((c & 3) << 6 | d);
  }
  if (pad) {
    unsigned v[4];
    size_t j, data = 4 - pad;
    for (j = 0; j < 4; j++) {
      v[j] = B64[s[full + j]];
      if (j < data && v[j] >= 64) {
        *msg = v[j] == 64 ? "padding before the end" : "invalid character";
        *at = full + j;
        return (size_t)-1;
      }
    }
    if (pad == 1) {
      if (v[2] & 3) {
        *msg = "non-zero bits before the padding";
        *at = full + 2;
        return (size_t)-1;
      }
      out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
      out[o++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
    } else {
      if (v[1] & 15) {
        *msg = "non-zero bits before the padding";
        *at = full + 1;
        return (size_t)-1;
      }
      out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
    }
  }
  return o;
}

/* ---- inflate ------------------------------------------------------------ */

/* Room for cap bytes in *buf (contents kept up to `keep`); 0 on failure. */
static int grow(unsigned char **buf, size_t *cap, size_t want, size_t keep) {
  unsigned char *nb;
  if (want <= *cap) return 1;
  nb = (unsigned char *)malloc(want);
  if (nb == NULL) return 0;
  if (keep) memcpy(nb, *buf, keep);
  free(*buf);
  *buf = nb;
  *cap = want;
  return 1;
}

static int fail(lua_State *L, const char *fmt, ...) {
  va_list ap;
  lua_pushnil(L);
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  return 2;
}

/* Ends a call's use of b: frees buffers grown past ST_KEEP_BUFFER. */
static void box_trim(inflater *b) {
  b->busy = 0;
  if (b->in_cap > ST_KEEP_BUFFER) {
    free(b->in);
    b->in = NULL;
    b->in_cap = 0;
  }
  if (b->out_cap > ST_KEEP_BUFFER) {
    free(b->out);
    b->out = NULL;
    b->out_cap = 0;
  }
}

/* The inflater of this call: the state's own, or, when that one is busy
 * (a finalizer that LuaJIT runs inside lua_pushlstring, before it copies
 * the content out, called stream_decode again), a new one on the stack,
 * freed by the GC. */
static inflater *pick_box(lua_State *L) {
  inflater *b = (inflater *)lua_touserdata(L, UV_BOX);
  if (!b->busy) return b;
  b = (inflater *)lua_newuserdata(L, sizeof *b);
  memset(b, 0, sizeof *b);
  luaL_getmetatable(L, ST_BOX);
  lua_setmetatable(L, -2);
  return b;
}

/* lua_pushfstring's %d takes an int */
static int clampi(size_t v) { return v > (size_t)INT_MAX ? INT_MAX : (int)v; }

/* Base64 and gzip of the string at 1: pushes the content (a string) and
 * returns 0, or pushes nil, message and returns 2. */
static int unpack_data(lua_State *L, const sopts *o) {
  inflater *b = pick_box(L);
  size_t n, got, at = 0, total = 0, bound, limit, cap;
  const unsigned char *s = (const unsigned char *)lua_tolstring(L, 1, &n), *in;
  const char *msg = NULL;
  double lim = o->declared < o->max ? o->declared : o->max;
  int rc, limit_is_declared = o->declared < o->max;
  limit = lim >= (double)(SIZE_MAX / 2) ? SIZE_MAX / 2 : (size_t)lim;
  bound = limit + 1; /* one byte more than allowed shows that it is too much */
  b->busy = 1; /* from here every return goes through box_trim */
  if (o->binary) {
    in = s;
    got = n;
  } else {
    if (!grow(&b->in, &b->in_cap, n / 4 * 3 + 1, 0)) {
      box_trim(b);
      return fail(L, "out of memory");
    }
    got = b64_decode(s, n, b->in, &msg, &at);
    if (got == (size_t)-1) {
      box_trim(b);
      return fail(L, "base64: %s at offset %d", msg, clampi(at));
    }
    in = b->in;
  }
  if (got < 2 || in[0] != 0x1f || in[1] != 0x8b) {
    box_trim(b);
    if (got == 0) return fail(L, "gzip: no data");
    if (got == 1) return fail(L, "gzip: not a gzip member (1 byte)");
    {
      char hex[8];
      snprintf(hex, sizeof hex, "%02x %02x", (unsigned)in[0], (unsigned)in[1]);
      return fail(L, "gzip: not a gzip member (first bytes %s)", hex);
    }
  }
  if (!b->ready) {
    memset(&b->z, 0, sizeof b->z);
    if (inflateInit2(&b->z, 16 + MAX_WBITS) != Z_OK) {
      box_trim(b);
      return fail(L, "gzip: out of memory");
    }
    b->ready = 1;
  } else if (inflateReset(&b->z) != Z_OK) {
    box_trim(b);
    return fail(L, "gzip: cannot reset the inflater");
  }
  {
    size_t first = got * 4 < 4096 ? 4096 : got * 4;
    if (first > bound) first = bound;
    if (!grow(&b->out, &b->out_cap, first, 0)) {
      box_trim(b);
      return fail(L, "out of memory");
    }
    cap = first; /* what this call may use of b->out (a kept buffer may be larger) */
  }
  b->z.next_in = (Bytef *)(uintptr_t)in; /* zlib only reads it */
  b->z.avail_in = 0;
  rc = Z_OK;
  {
    size_t left_in = got;
    for (;;) {
      size_t room, chunk_in;
      if (total == cap) {
        size_t want;
        if (total >= bound) break; /* too large */
        want = cap * 2 < cap ? bound : cap * 2;
        if (want > bound) want = bound;
        if (!grow(&b->out, &b->out_cap, want, total)) {
          box_trim(b);
          return fail(L, "out of memory");
        }
        cap = want;
      }
      room = cap - total;
      if (room > UINT_MAX) room = UINT_MAX;
      if (b->z.avail_in == 0 && left_in > 0) {
        chunk_in = left_in > UINT_MAX ? UINT_MAX : left_in;
        b->z.avail_in = (uInt)chunk_in;
        left_in -= chunk_in;
      }
      b->z.next_out = b->out + total;
      b->z.avail_out = (uInt)room;
      rc = inflate(&b->z, Z_NO_FLUSH);
      total += room - b->z.avail_out;
      if (rc == Z_STREAM_END) {
        size_t after = b->z.avail_in + left_in;
        if (after > 0) {
          box_trim(b);
          return fail(L, "gzip: %d bytes after the gzip member", clampi(after));
        }
        if (total > limit) rc = Z_OK; /* reached the bound just as it ended */
        break;
      }
      if (rc == Z_OK) continue;
      if (rc == Z_BUF_ERROR) {
        if (b->z.avail_out == 0) continue; /* output full: grow or stop */
        box_trim(b);
        return fail(L, "gzip: truncated");
      }
      box_trim(b);
      if (rc == Z_MEM_ERROR) return fail(L, "gzip: out of memory");
      return fail(L, "gzip: %s", b->z.msg ? b->z.msg : "invalid data");
    }
    if (rc != Z_STREAM_END) { /* stopped at the bound */
      box_trim(b);
      if (limit_is_declared)
        return fail(L, "gzip: content larger than its declared size of %d bytes", clampi(limit));
      return fail(L, "gzip: content larger than %d bytes (the limit)", clampi(limit));
    }
  }
  /* the inflater's buffers are done with: the Lua calls below may run
   * finalizers that call stream_decode again */
  lua_pushlstring(L, (const char *)b->out, total);
  box_trim(b);
  return 0;
}

/* The JSON text on top -> replaced by its value (returns 0), or nil,
 * message pushed (returns 2). */
static int decode_json(lua_State *L) {
  size_t n;
  int text = lua_gettop(L);
  lua_tolstring(L, text, &n);
  lua_pushvalue(L, UV_SCAN);
  lua_pushvalue(L, text);
  lua_pushnumber(L, (lua_Number)(ST_SLACK_CONTAINERS + n / ST_BYTES_PER_CONTAINER));
  lua_pushnumber(L, (lua_Number)(ST_SLACK_ELEMENTS + n / ST_BYTES_PER_ELEMENT));
  lua_call(L, 3, 2);
  if (!lua_toboolean(L, -2)) return 2; /* nil, message */
  lua_pop(L, 2);
  lua_pushvalue(L, UV_DECODE);
  lua_pushvalue(L, text);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    lua_pushnil(L);
    lua_insert(L, -2);
    if (lua_type(L, -1) != LUA_TSTRING) {
      lua_pop(L, 1);
      lua_pushliteral(L, "JSON: cannot decode");
    }
    return 2;
  }
  lua_replace(L, text);
  return 0;
}

static void check_data(lua_State *L, const char *fname) {
  if (lua_type(L, 1) != LUA_TSTRING)
    evcp_error(L, "%s: argument #1 (data) must be a string, got %s", fname, luaL_typename(L, 1));
}

static int core_stream_decode(lua_State *L) {
  sopts o;
  check_data(L, "core.stream_decode");
  read_opts(L, "core.stream_decode", 0, &o);
  if (unpack_data(L, &o)) return 2;
  if (decode_json(L)) return 2;
  return 1;
}

/* ---- update records ---------------------------------------------------- */

/* evcp.status.normalize: the v3 API spelling of a status in any case, with
 * any '_' left out; NULL when it has none. */
static const char *normalize_status(const char *s, size_t n) {
  static const struct {
    const char *key, *api;
  } tab[] = {{"AVAILABLE", "available"}, {"BLOCKED", "blocked"},
             {"CHARGING", "charging"},   {"INOPERATIVE", "inoperative"},
             {"OUTOFORDER", "outOfOrder"}, {"RESERVED", "reserved"},
             {"UNKNOWN", "unknown"},     {"OPERATIONAL", "operational"}};
  char k[16];
  size_t i, m = 0, t;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '_') continue;
    if (m == sizeof k) return NULL;
    k[m++] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
  }
  for (t = 0; t < sizeof tab / sizeof tab[0]; t++)
    if (strlen(tab[t].key) == m && memcmp(tab[t].key, k, m) == 0) return tab[t].api;
  return NULL;
}

/* t[key] at index t must be a string: pushes it and returns 1, or pushes
 * nil, message and returns 0. */
static int string_member(lua_State *L, int t, const char *key, const char *where, int i) {
  lua_pushstring(L, key);
  lua_rawget(L, t);
  if (lua_type(L, -1) == LUA_TSTRING) return 1;
  {
    const char *got = lua_isnil(L, -1) ? "nothing" : luaL_typename(L, -1);
    if (lua_islightuserdata(L, -1)) got = "null";
    lua_pop(L, 1);
    lua_pushnil(L);
    if (i) lua_pushfstring(L, "message: %s[%d].%s must be a string, got %s", where, i, key, got);
    else lua_pushfstring(L, "message: %s must be a string, got %s", key, got);
  }
  return 0;
}

static int core_stream_updates(lua_State *L) {
  sopts o;
  int root, evses, out, i, n;
  check_data(L, "core.stream_updates");
  read_opts(L, "core.stream_updates", 1, &o);
  if (unpack_data(L, &o)) return 2;
  if (decode_json(L)) return 2;
  root = lua_gettop(L);
  if (lua_type(L, root) != LUA_TTABLE)
    return fail(L, "message: not a JSON object (%s)", lua_isboolean(L, root) ? "a boolean"
                   : lua_islightuserdata(L, root) ? "null" : luaL_typename(L, root));
  if (!string_member(L, root, "id", NULL, 0)) return 2; /* root + 1: id */
  lua_pushliteral(L, "evses");
  lua_rawget(L, root);
  evses = root + 2;
  if (lua_type(L, evses) != LUA_TTABLE)
    return fail(L, "message: evses must be an array, got %s",
                lua_isnil(L, evses) ? "nothing" : lua_islightuserdata(L, evses) ? "null"
                                                                                 : luaL_typename(L, evses));
  n = (int)lua_rawlen(L, evses);
  if (n == 0) {
    lua_pushnil(L);
    if (lua_next(L, evses)) return fail(L, "message: evses must be an array, got an object");
  }
  lua_createtable(L, n, 0);
  out = lua_gettop(L);
  luaL_checkstack(L, 8, "evcp: stream_updates");
  for (i = 1; i <= n; i++) {
    int e, rec;
    const char *raw, *api;
    size_t rlen;
    lua_rawgeti(L, evses, i);
    e = lua_gettop(L);
    if (lua_type(L, e) != LUA_TTABLE)
      return fail(L, "message: evses[%d] must be an object, got %s", i,
                  lua_islightuserdata(L, e) ? "null" : luaL_typename(L, e));
    lua_createtable(L, 0, 7);
    rec = e + 1;
    lua_pushvalue(L, root + 1);
    lua_setfield(L, rec, "location_id");
    if (!string_member(L, e, "id", "evses", i)) return 2;
    lua_setfield(L, rec, "evse_id");
    if (!string_member(L, e, "status", "evses", i)) return 2;
    raw = lua_tolstring(L, -1, &rlen);
    api = normalize_status(raw, rlen);
    lua_setfield(L, rec, "raw_status");
    if (api) {
      lua_pushstring(L, api);
      lua_setfield(L, rec, "status");
    }
    if (!string_member(L, e, "last_updated", "evses", i)) return 2;
    lua_setfield(L, rec, "last_updated");
    if (o.partition) {
      lua_pushvalue(L, o.partition);
      lua_setfield(L, rec, "partition");
    }
    if (o.offset) {
      lua_pushvalue(L, o.offset);
      lua_setfield(L, rec, "offset");
    }
    lua_rawseti(L, out, i);
    lua_pop(L, 1); /* the evse */
  }
  return 1;
}

int evcp_stream_open(lua_State *L) {
  inflater *b;
  int mod = lua_gettop(L);
  b64_init();
  lua_getfield(L, mod, "json_scan");
  lua_getfield(L, mod, "json_decode");
  if (!lua_isfunction(L, -1) || !lua_isfunction(L, -2))
    return luaL_error(L, "evcp.core: stream needs json_scan and json_decode (area order)");
  b = (inflater *)lua_newuserdata(L, sizeof *b);
  memset(b, 0, sizeof *b);
  if (luaL_newmetatable(L, ST_BOX)) {
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushliteral(L, ST_BOX);
    lua_setfield(L, -2, "__metatable");
  }
  lua_setmetatable(L, -2);
  lua_pushvalue(L, mod + 1);
  lua_pushvalue(L, mod + 2);
  lua_pushvalue(L, mod + 3);
  lua_pushcclosure(L, core_stream_decode, 3);
  lua_setfield(L, mod, "stream_decode");
  lua_pushcclosure(L, core_stream_updates, 3);
  lua_setfield(L, mod, "stream_updates");
  lua_settop(L, mod);
  return 0;
}
