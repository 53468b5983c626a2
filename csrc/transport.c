/*
 * transport.c: evcp.CurlTransport, the libcurl transport.
 *
 * A transport has one job: run a list of HTTP request records and return one
 * result record per request, in order. It knows nothing about HERE: no base
 * URL, no credentials, no Accept header. The Lua layers above it build full
 * URLs (plan modules), decorate requests (auth) and decide what to retry
 * (policy); another transport (OpenResty cosockets, Neovim's loop) can stand
 * in for this one behind the same interface.
 *
 *   local t = core.curl_transport(opts)    -- evcp.CurlTransport
 *   local results = t:run(requests)        -- one result per request, in order
 *   t:now()      -> seconds, CLOCK_MONOTONIC (for deadlines and backoff)
 *   t:sleep(s)   blocks the thread; s finite, 0..86400
 *   t:close()    frees the connections; idempotent; also __gc and __close
 *   t:is_closed() -> boolean
 *   tostring(t)  "evcp.CurlTransport: open" | "evcp.CurlTransport: (closed)"
 *   core.curl_version() -> libcurl's version string
 * run, now and sleep on a closed transport raise; the metatable is locked
 * (getmetatable(t) is the string "evcp.CurlTransport") and every method
 * checks its self.
 *
 * opts (every field optional; a wrong type, a value out of range or an
 * unknown key raises, naming the option):
 *   timeout          seconds for one request, from its start to its last byte;
 *                    finite, 0.001..86400; default 30. Converted to whole
 *                    milliseconds rounding up, so it is never 0 (which libcurl
 *                    would read as "no timeout"). A request waiting for a free
 *                    slot has not started: a run of n requests ends within
 *                    ceil(n / max_parallel) timeouts.
 *   connect_timeout  seconds to connect (TCP + TLS), same range, default 10
 *                    (never 0, which libcurl would read as 300 s).
 *   low_speed_limit  bytes/second, integer 0..2^31-1, default 1 (0: off).
 *   low_speed_time   seconds, integer 1..86400, default min(ceil(timeout), 30).
 *                    A transfer slower than low_speed_limit for low_speed_time
 *                    seconds is aborted with kind "timeout". With the defaults
 *                    this only matters when timeout is above 30 s: a stalled
 *                    connection then ends after 30 s of silence.
 *   max_parallel     transfers at once, integer 1..64, default 8.
 *   max_body         largest response body in bytes, after decompression and
 *                    before it; integer 1..2^30, default 32 MiB.
 *   compress         boolean, default true: send "Accept-Encoding: gzip".
 *   user_agent       string (no CR, LF or NUL, at most 1024 bytes), default
 *                    "evcp"; "" sends no User-Agent; a request's own
 *                    User-Agent header wins.
 *   ca_file, ca_path CA bundle file / directory for TLS verification
 *                    (CURLOPT_CAINFO / CAPATH); must be readable when given.
 *                    Default: libcurl's built-in bundle.
 *   proxy            proxy URL (CURLOPT_PROXY); "" disables proxies. Default:
 *                    libcurl's reading of http_proxy, https_proxy, no_proxy.
 *   https_only       boolean, default false: every request must be https://
 *                    (a http:// url raises before any transfer starts), and
 *                    libcurl is told to speak https alone (CURLOPT_PROTOCOLS).
 *   events           boolean, default false: the events mode (below).
 *
 * request record (a plain table, read raw: no metamethod of the record, its
 * headers or the list runs):
 *   method   HTTP token (RFC 9110 tchar, 1..32 bytes), default "GET"
 *   url      "http://..." or "https://..." (scheme case-insensitive), at most
 *            64 KiB, no bytes <= 0x20, no 0x7f, no '#' (a fragment is never
 *            sent), no user@ in the authority (libcurl would turn it into a
 *            Basic Authorization header). Path and query bytes go out
 *            unchanged (PATH_AS_IS).
 *   headers  table name -> value, both strings; names are tokens of 1..256
 *            bytes, values carry no CR, LF or NUL and are at most 64 KiB; at
 *            most 100 headers. Content-Length, Transfer-Encoding, Connection,
 *            Keep-Alive, Proxy-Connection, TE, Upgrade, Expect and
 *            Accept-Encoding belong to the transport and are refused.
 *            libcurl's own Accept, Content-Type and Expect defaults are not
 *            sent: the server sees Host, User-Agent, Accept-Encoding (when
 *            compress is on), Content-Length (when there is a body) and the
 *            caller's headers, nothing else.
 *   body     string or nil; sent as is with a Content-Length.
 *   timeout  optional per-request override of opts.timeout (same range).
 * Other fields are ignored. Every record is read and checked before any
 * transfer starts; a bad one raises "run: request <i>: <field> ..." and
 * nothing is sent. At most 65536 requests per run.
 *
 * result record, one per request, same index:
 *   {status = 200, headers = {["content-type"] = "..."}, body = "..."}
 *     status is any HTTP status (a 404 or 503 is a result, not a failure);
 *     header names are lower-case, repeated fields are joined with ", "
 *     (at most 100 fields, 64 KiB in all, else kind "too_large");
 *   {kind = k, message = "...", status = n|nil} where k is
 *     "timeout"    the timeout or the low-speed limit was hit;
 *     "tls"        a certificate or TLS failure (CURLE_PEER_FAILED_VERIFICATION,
 *                  CURLE_SSL_*);
 *     "too_large"  the body (received or decompressed) exceeds max_body, or
 *                  the headers their bounds; the transfer stops right there;
 *     "decode"     a Content-Encoding other than one layer of gzip (or
 *                  identity), or a gzip stream that is corrupt, truncated,
 *                  has a bad CRC or length, or has bytes after its end;
 *     "network"    everything else (refused, reset, DNS, bad framing ...);
 *     status is set when a status line was received.
 *
 * gzip is decoded here with zlib, never by libcurl
 * (CURLOPT_HTTP_CONTENT_DECODING 0), whatever `compress` says: exactly one
 * member of one layer, verified to its trailer. An empty body needs no
 * decoding whatever its Content-Encoding.
 *
 * libcurl is hardened explicitly on every transfer: protocols http and https
 * only, no redirects, TLS 1.2 or later with peer and host verification,
 * NOSIGNAL, no automatic decoding, HTTP/2 over TLS where libcurl has it. One
 * multi handle and a pool of easy handles live as long as the transport, so
 * connections are reused across calls.
 *
 * Safety: run() reads and checks everything first; then no Lua API call that
 * can raise runs while transfers are in the multi handle; results are pushed
 * only after every handle is back in the pool. All memory of a run hangs off
 * a Lua-collected box, so an error raised while pushing frees it.
 *
 * The events mode (opts.events = true) is the same transport driven by a
 * host's event loop instead of blocking in run: libcurl's multi socket API.
 * The HTTP work is the one path above (read_request, setup_easy, on_header,
 * on_body, finish, push_result, every bound and option); only the driving
 * differs. Such a transport has no run (it raises), and:
 *   t:start(requests) -> job   reads and checks every record first, exactly
 *                    as run does (same errors, nothing sent on a bad one),
 *                    queues the transfers and starts as many as max_parallel
 *                    allows (shared by every job of the transport, oldest
 *                    job first). job is an evcp.CurlJob.
 *   t:wants() -> list, timer   what libcurl asked of the host since the last
 *                    call: list = {fd, ev, fd, ev, ...}, one pair per socket,
 *                    ev = 1 (watch readable) | 2 (writable) | 4 (the socket
 *                    was removed on the way: drop any old watch of fd before
 *                    making the new one, the number may belong to a new
 *                    socket); ev 4 alone: stop watching fd. timer: nil (no
 *                    change), -1 (stop the timer) or milliseconds after which
 *                    to call t:action(-1, 0) (0: at once, from the loop).
 *   t:action(fd, flags) -> n   fd is ready (flags: 1 readable, 2 writable,
 *                    4 error) or fd = -1: the timer fired. Runs libcurl
 *                    (curl_multi_socket_action), finishes the transfers that
 *                    ended (n of them), starts queued ones. An fd libcurl no
 *                    longer knows is ignored.
 *   job:done() -> boolean       every request is over (or the job cancelled)
 *   job:results() -> results    the result records, as run returns them;
 *                    once (a second call raises), and only when done; raises
 *                    for a cancelled job.
 *   job:cancel()     idempotent: its transfers leave the multi handle, its
 *                    queued requests never start, its memory is freed.
 *   tostring(job)    "evcp.CurlJob: 2 of 5 done" | "... done" | "(cancelled)"
 * The host calls t:wants() after each of its calls to start, action and
 * job:cancel, and applies it (one watch per socket, one timer). A socket
 * libcurl closes stays open until the t:wants() after the one that
 * reported its removal (CURLOPT_CLOSESOCKETFUNCTION), so a host never
 * watches a closed descriptor or one reused by a new socket. The host says
 * t:dropped() once it has applied a t:wants() (then those sockets close at
 * once, and the peer sees it); close() closes what is left. libcurl's
 * socket and timer callbacks only record into C arrays (one entry per
 * socket, the last wish counts): no Lua runs inside libcurl. A job keeps its
 * transport and the strings of its requests alive (its user value); a job
 * collected or cancelled in flight leaves the multi handle first (its slots
 * go to the jobs queued behind it: call t:wants() after); a transport
 * closed (or collected) cancels its jobs. start, action and wants run no
 * finalizer while libcurl holds a request (no Lua allocation there), and
 * wants copies the record only after its one allocation. t:now and t:sleep
 * work as in the blocking mode (a host sleeps with its own timer).
 */
#include <curl/curl.h>
#include <zlib.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evcp.h"

#define TRANSPORT "evcp.CurlTransport"
#define TRANSPORT_RUN "evcp.CurlTransport.run"
#define MAX_PARALLEL 64
#define MAX_REQUESTS 65536
#define MAX_URL 65536
#define MAX_METHOD 32
#define MAX_HEADERS 100
#define MAX_HEADER_NAME 256
#define MAX_HEADER_VALUE 65536
#define MAX_RESP_FIELDS 100
#define MAX_RESP_HEADER_BYTES 65536
#define MAX_OPT_STRING 4096
#define PREALLOC_MAX (1024 * 1024) /* a declared length reserves at most this */
#define MAX_SECONDS 86400.0
#define MIN_SECONDS 0.001

/* ---- the transport object ---------------------------------------------- */

typedef struct request request;
typedef struct job job;

/* One transfer in flight. The transport owns max_parallel of them. In the
 * blocking mode no Lua code runs while they are in use, so nested runs (from
 * a finalizer) never see one busy; in the events mode they stay in use
 * between calls, each pointing at the job its request belongs to. */
typedef struct {
  CURL *easy;
  request *req;
  job *job; /* events mode: the job of req; NULL in the blocking mode */
  z_stream z;
  int z_live, z_ended;
  char errbuf[CURL_ERROR_SIZE];
  size_t max_body;
} slot;

/* A socket libcurl asked about since the last t:wants(): the watch it wants
 * now (W_IN | W_OUT, 0: none) and W_DROP when the socket was removed on the
 * way (the host drops its old watch before making a new one: a new socket
 * may have reused the number). */
enum { W_IN = 1, W_OUT = 2, W_DROP = 4 };
typedef struct {
  curl_socket_t fd;
  int ev;
} want;

typedef struct {
  CURLM *multi;
  slot *slots; /* max_parallel entries */
  CURL *pool[MAX_PARALLEL]; /* idle easy handles */
  int npool;
  char *user_agent, *ca_file, *ca_path, *proxy; /* malloc'd; NULL = unset */
  long timeout_ms, connect_timeout_ms, low_speed_limit, low_speed_time;
  int low_speed_time_set;
  int max_parallel;
  size_t max_body;
  int compress;
  int https_only;
  int closed;
  /* events mode */
  int events;
  job *jobs, *jobs_tail; /* jobs with requests not yet finished, oldest first */
  want *wants;           /* recorded by on_socket, taken by t:wants() */
  int nwants, capwants;
  curl_socket_t *closing; /* sockets libcurl closed, closed here later (on_closesocket) */
  int nclosing, capclosing, closable;
  long timer_ms;         /* recorded by on_timer */
  int timer_changed;
} transport;

/* ---- one run: requests, their results, the active slots ---------------- */

enum { K_OK, K_TIMEOUT, K_TLS, K_TOO_LARGE, K_DECODE, K_NETWORK };
enum { ENC_PLAIN, ENC_GZIP, ENC_BAD };

struct request {
  /* request, checked (strings anchored in the run's anchor table) */
  const char *url, *method, *body;
  size_t body_len;
  int has_body;
  long timeout_ms;
  struct curl_slist *headers;
  /* result */
  int kind;
  long status;
  char *out; /* response body (decoded) */
  size_t out_len, out_cap;
  char *hdr; /* response header lines of the final response, raw */
  size_t hdr_len, hdr_cap;
  int nfields;
  char *msg; /* failure message, malloc'd; NULL: use static_msg */
  const char *static_msg;
  /* receiving state */
  size_t raw_len;
  int enc, enc_layers;
  char enc_name[40];
  int got_body;
};

typedef struct {
  int n;
  request *reqs; /* n entries */
} run_box;

/* evcp.CurlJob: the requests of one t:start, in flight on an events-mode
 * transport. Its user value is a table holding the transport and the
 * strings its requests point to, so both live as long as the job. */
enum { J_RUNNING, J_DONE, J_CANCELLED, J_TAKEN };
struct job {
  transport *t; /* set while attached (in t->jobs); NULL otherwise */
  job *prev, *next;
  int n, next_req, ndone;
  request *reqs; /* n entries */
  int state;
  const char *why; /* J_CANCELLED: why */
};

static void request_free(request *r) {
  curl_slist_free_all(r->headers);
  r->headers = NULL;
  free(r->out);
  free(r->hdr);
  free(r->msg);
  r->out = r->hdr = r->msg = NULL;
}

static void slot_end_zlib(slot *s) {
  if (s->z_live) inflateEnd(&s->z);
  s->z_live = 0;
}

static void box_release(run_box *b) {
  int i;
  if (b->reqs != NULL) {
    for (i = 0; i < b->n; i++) request_free(&b->reqs[i]);
    free(b->reqs);
  }
  b->reqs = NULL;
  b->n = 0;
}

static int box_gc(lua_State *L) {
  box_release((run_box *)luaL_checkudata(L, 1, TRANSPORT_RUN));
  return 0;
}

/* ---- small helpers ----------------------------------------------------- */

static char *dupmem(const char *s, size_t n) {
  char *d = (char *)malloc(n + 1);
  if (d != NULL) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c; }

static int eq_nocase(const char *a, size_t an, const char *b) {
  size_t i, bn = strlen(b);
  if (an != bn) return 0;
  for (i = 0; i < an; i++)
    if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return 0;
  return 1;
}

static int is_tchar(int c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
  return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_token(const char *s, size_t n, size_t max) {
  size_t i;
  if (n == 0 || n > max) return 0;
  for (i = 0; i < n; i++)
    if (!is_tchar((unsigned char)s[i])) return 0;
  return 1;
}

/* seconds (already checked to lie in [MIN_SECONDS, MAX_SECONDS]) -> ms >= 1 */
static long seconds_to_ms(lua_Number s) {
  double ms = ceil((double)s * 1000.0);
  if (ms < 1) ms = 1;
  if (ms > MAX_SECONDS * 1000.0) ms = MAX_SECONDS * 1000.0;
  return (long)ms;
}

static int good_seconds(lua_Number s) { return s >= MIN_SECONDS && s <= MAX_SECONDS; }

/* ---- lifecycle --------------------------------------------------------- */

static transport *check_transport(lua_State *L, int arg) {
  transport *t = (transport *)luaL_checkudata(L, arg, TRANSPORT);
  if (t->closed) luaL_error(L, "%s: transport is closed", TRANSPORT);
  return t;
}

static void job_cancel(job *j, const char *why);

static void transport_release(transport *t) {
  int i;
  if (t->closed) return;
  /* events mode: every attached job leaves the multi handle first */
  while (t->jobs != NULL) job_cancel(t->jobs, "its transport was closed");
  t->closed = 1;
  for (i = 0; i < t->npool; i++) curl_easy_cleanup(t->pool[i]);
  t->npool = 0;
  if (t->slots != NULL)
    for (i = 0; i < t->max_parallel; i++) slot_end_zlib(&t->slots[i]);
  free(t->slots);
  t->slots = NULL;
  if (t->multi != NULL) curl_multi_cleanup(t->multi);
  t->multi = NULL;
  free(t->user_agent);
  free(t->ca_file);
  free(t->ca_path);
  free(t->proxy);
  t->user_agent = t->ca_file = t->ca_path = t->proxy = NULL;
  free(t->wants); /* after the multi handle, whose cleanup may still report sockets */
  t->wants = NULL;
  t->nwants = t->capwants = 0;
  for (i = 0; i < t->nclosing; i++) close((int)t->closing[i]); /* the host's watches are gone */
  free(t->closing);
  t->closing = NULL;
  t->nclosing = t->capclosing = t->closable = 0;
}

/* t:close(): frees the connections; idempotent, also __gc and __close. */
static int t_close(lua_State *L) {
  transport_release((transport *)luaL_checkudata(L, 1, TRANSPORT));
  return 0;
}

/* t:is_closed() -> boolean */
static int t_is_closed(lua_State *L) {
  transport *t = (transport *)luaL_checkudata(L, 1, TRANSPORT);
  lua_pushboolean(L, t->closed);
  return 1;
}

static int t_tostring(lua_State *L) {
  transport *t = (transport *)luaL_checkudata(L, 1, TRANSPORT);
  lua_pushfstring(L, "%s: %s", TRANSPORT, t->closed ? "(closed)" : "open");
  return 1;
}

/* t:now() -> monotonic seconds */
static int t_now(lua_State *L) {
  struct timespec ts;
  check_transport(L, 1);
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

/* t:sleep(seconds): blocks the thread; seconds finite, 0..86400. */
static int t_sleep(lua_State *L) {
  lua_Number s;
  struct timespec ts;
  check_transport(L, 1);
  s = luaL_checknumber(L, 2);
  if (!(s >= 0 && s <= MAX_SECONDS))
    return luaL_argerror(L, 2, "sleep: seconds must be a finite number in 0..86400");
  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (lua_Number)ts.tv_sec) * 1e9);
  if (ts.tv_nsec < 0) ts.tv_nsec = 0;
  if (ts.tv_nsec > 999999999L) ts.tv_nsec = 999999999L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
  return 0;
}

/* ---- options ----------------------------------------------------------- */

static const char *const option_names[] = {
    "timeout", "connect_timeout", "low_speed_limit", "low_speed_time", "max_parallel", "max_body",
    "compress", "user_agent", "ca_file", "ca_path", "proxy", "https_only", "events", NULL};

#define OPTERR(L, name, what) luaL_error((L), "curl_transport: option '%s' " what, (name))

/* pushes opts[name] (raw) and returns its type */
static int opt_get(lua_State *L, int opts, const char *name) {
  if (opts == 0) {
    lua_pushnil(L);
    return LUA_TNIL;
  }
  lua_pushstring(L, name);
  lua_rawget(L, opts);
  return lua_type(L, -1);
}

static lua_Number opt_seconds(lua_State *L, int opts, const char *name, lua_Number dflt) {
  lua_Number v = dflt;
  int ty = opt_get(L, opts, name);
  if (ty != LUA_TNIL) {
    if (ty != LUA_TNUMBER) OPTERR(L, name, "must be a number of seconds");
    v = lua_tonumber(L, -1);
    if (!good_seconds(v)) OPTERR(L, name, "must be a finite number of seconds in 0.001..86400");
  }
  lua_pop(L, 1);
  return v;
}

static lua_Number opt_integer(lua_State *L, int opts, const char *name, lua_Number lo, lua_Number hi,
                              lua_Number dflt, int *given) {
  lua_Number v = dflt;
  int ty = opt_get(L, opts, name);
  if (given) *given = ty != LUA_TNIL;
  if (ty != LUA_TNIL) {
    if (ty != LUA_TNUMBER) OPTERR(L, name, "must be an integer");
    v = lua_tonumber(L, -1);
    if (!(v >= lo && v <= hi) || floor(v) != v) {
      lua_pop(L, 1);
      return luaL_error(L, "curl_transport: option '%s' must be an integer in %d..%d", name, (int)lo,
                        (int)hi);
    }
  }
  lua_pop(L, 1);
  return v;
}

/* a string without NUL (and without CR/LF when `line`), 1..MAX_OPT_STRING
 * bytes ("" allowed when `empty_ok`); NULL when absent. Stays on the stack. */
static const char *opt_string(lua_State *L, int opts, const char *name, int line, int empty_ok) {
  size_t n;
  const char *s;
  int ty = opt_get(L, opts, name);
  if (ty == LUA_TNIL) return NULL;
  if (ty != LUA_TSTRING) OPTERR(L, name, "must be a string");
  s = lua_tolstring(L, -1, &n);
  if (n > MAX_OPT_STRING) OPTERR(L, name, "is too long");
  if ((n == 0 && !empty_ok) || strlen(s) != n) OPTERR(L, name, "must be a non-empty string without NUL");
  if (line && (memchr(s, '\r', n) || memchr(s, '\n', n))) OPTERR(L, name, "must not contain CR or LF");
  return s;
}

static char *opt_copy(lua_State *L, transport *t, const char *s) {
  char *d;
  if (s == NULL) return NULL;
  d = dupmem(s, strlen(s));
  if (d == NULL) {
    transport_release(t);
    luaL_error(L, "curl_transport: out of memory");
  }
  return d;
}

/* ---- what libcurl asks of an events host (no Lua in here) ------------- */

/* CURLMOPT_SOCKETFUNCTION: records the watch libcurl wants on fd, one entry
 * per socket (the last wish counts). -1 (out of memory) fails the transfer. */
static int on_socket(CURL *e, curl_socket_t fd, int what, void *ud, void *sockp) {
  transport *t = (transport *)ud;
  int i;
  want *w = NULL;
  (void)e;
  (void)sockp;
  for (i = 0; i < t->nwants; i++)
    if (t->wants[i].fd == fd) w = &t->wants[i];
  if (w == NULL) {
    if (t->nwants == t->capwants) {
      int cap = t->capwants ? t->capwants * 2 : 16;
      want *p = (want *)realloc(t->wants, (size_t)cap * sizeof(want));
      if (p == NULL) return -1;
      t->wants = p;
      t->capwants = cap;
    }
    w = &t->wants[t->nwants++];
    w->fd = fd;
    w->ev = 0;
  }
  switch (what) {
  case CURL_POLL_IN: w->ev = (w->ev & W_DROP) | W_IN; break;
  case CURL_POLL_OUT: w->ev = (w->ev & W_DROP) | W_OUT; break;
  case CURL_POLL_INOUT: w->ev = (w->ev & W_DROP) | W_IN | W_OUT; break;
  default: w->ev = W_DROP; break; /* CURL_POLL_REMOVE */
  }
  return 0;
}

/* CURLOPT_CLOSESOCKETFUNCTION (events mode): libcurl is done with fd, but
 * the host may still watch it (it learns of the removal only from the next
 * t:wants()). Closing it now would make its watch fail (libuv: EBADF) and
 * let a new socket reuse the number under the old watch; so the socket is
 * kept open until the t:wants() after the one that reported its removal,
 * by which time the host has dropped the watch. Out of memory: closed now. */
static int on_closesocket(void *ud, curl_socket_t fd) {
  transport *t = (transport *)ud;
  if (t->nclosing == t->capclosing) {
    int cap = t->capclosing ? t->capclosing * 2 : 16;
    curl_socket_t *p = (curl_socket_t *)realloc(t->closing, (size_t)cap * sizeof *p);
    if (p == NULL) return close((int)fd);
    t->closing = p;
    t->capclosing = cap;
  }
  t->closing[t->nclosing++] = fd;
  return 0;
}

/* CURLMOPT_TIMERFUNCTION: records the timeout libcurl wants (-1: none). */
static int on_timer(CURLM *m, long timeout_ms, void *ud) {
  transport *t = (transport *)ud;
  (void)m;
  t->timer_ms = timeout_ms < 0 ? -1 : timeout_ms;
  t->timer_changed = 1;
  return 0;
}

/*
 * core.curl_transport(opts) -> evcp.CurlTransport
 */
static int core_curl_transport(lua_State *L) {
  int opts = 0, given_lst = 0;
  lua_Number timeout, ctimeout, lsl, lst, maxpar, maxbody;
  const char *ua, *ca_file, *ca_path, *proxy;
  int compress = 1, https_only = 0, events = 0;
  transport *t;

  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    opts = 1;
  }
  lua_settop(L, 1);
  luaL_checkstack(L, 12, "curl_transport");
  if (opts) { /* unknown keys are errors */
    lua_pushnil(L);
    while (lua_next(L, opts) != 0) {
      int i, known = 0;
      if (lua_type(L, -2) == LUA_TSTRING) {
        const char *k = lua_tostring(L, -2);
        for (i = 0; option_names[i] != NULL; i++)
          if (strcmp(k, option_names[i]) == 0) known = 1;
        if (!known) return luaL_error(L, "curl_transport: unknown option '%s'", k);
      } else {
        return luaL_error(L, "curl_transport: option names must be strings, got a %s",
                          luaL_typename(L, -2));
      }
      lua_pop(L, 1);
    }
  }
  timeout = opt_seconds(L, opts, "timeout", 30);
  ctimeout = opt_seconds(L, opts, "connect_timeout", 10);
  lsl = opt_integer(L, opts, "low_speed_limit", 0, 2147483647.0, 1, NULL);
  lst = opt_integer(L, opts, "low_speed_time", 1, MAX_SECONDS, 0, &given_lst);
  maxpar = opt_integer(L, opts, "max_parallel", 1, MAX_PARALLEL, 8, NULL);
  maxbody = opt_integer(L, opts, "max_body", 1, 1073741824.0, 32.0 * 1024 * 1024, NULL);
  if (opt_get(L, opts, "compress") != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TBOOLEAN) OPTERR(L, "compress", "must be a boolean");
    compress = lua_toboolean(L, -1);
  }
  lua_pop(L, 1);
  if (opt_get(L, opts, "https_only") != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TBOOLEAN) OPTERR(L, "https_only", "must be a boolean");
    https_only = lua_toboolean(L, -1);
  }
  lua_pop(L, 1);
  if (opt_get(L, opts, "events") != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TBOOLEAN) OPTERR(L, "events", "must be a boolean");
    events = lua_toboolean(L, -1);
  }
  lua_pop(L, 1);
  ua = opt_string(L, opts, "user_agent", 1, 1);
  if (ua != NULL && strlen(ua) > 1024) OPTERR(L, "user_agent", "is longer than 1024 bytes");
  ca_file = opt_string(L, opts, "ca_file", 1, 0);
  if (ca_file != NULL && access(ca_file, R_OK) != 0)
    return luaL_error(L, "curl_transport: option 'ca_file' (%s): %s", ca_file, strerror(errno));
  ca_path = opt_string(L, opts, "ca_path", 1, 0);
  if (ca_path != NULL && access(ca_path, R_OK | X_OK) != 0)
    return luaL_error(L, "curl_transport: option 'ca_path' (%s): %s", ca_path, strerror(errno));
  proxy = opt_string(L, opts, "proxy", 1, 1);
  /* the strings stay referenced from the stack until copied below */

  t = (transport *)lua_newuserdata(L, sizeof(transport));
  memset(t, 0, sizeof *t);
  t->closed = 1; /* safe empty state until filled */
  luaL_getmetatable(L, TRANSPORT);
  lua_setmetatable(L, -2);
  t->closed = 0;
  t->timeout_ms = seconds_to_ms(timeout);
  t->connect_timeout_ms = seconds_to_ms(ctimeout);
  t->low_speed_limit = (long)lsl;
  t->low_speed_time_set = given_lst;
  t->low_speed_time = given_lst ? (long)lst : 0;
  t->max_parallel = (int)maxpar;
  t->max_body = (size_t)maxbody;
  t->compress = compress;
  t->https_only = https_only;
  t->user_agent = opt_copy(L, t, ua != NULL ? ua : "evcp");
  t->ca_file = opt_copy(L, t, ca_file);
  t->ca_path = opt_copy(L, t, ca_path);
  t->proxy = opt_copy(L, t, proxy);
  t->slots = (slot *)calloc((size_t)t->max_parallel, sizeof(slot));
  t->multi = curl_multi_init();
  if (t->multi == NULL || t->slots == NULL) {
    transport_release(t);
    return luaL_error(L, "curl_transport: out of memory");
  }
  curl_multi_setopt(t->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)t->max_parallel);
  curl_multi_setopt(t->multi, CURLMOPT_MAXCONNECTS, (long)t->max_parallel * 2);
  if (events) {
    t->events = 1;
    t->timer_ms = -1;
    curl_multi_setopt(t->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(t->multi, CURLMOPT_SOCKETDATA, (void *)t);
    curl_multi_setopt(t->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(t->multi, CURLMOPT_TIMERDATA, (void *)t);
  }
  return 1;
}

/* ---- reading and checking the requests --------------------------------- */

static const char *const refused_headers[] = {
    "content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection",
    "te", "upgrade", "expect", "accept-encoding", NULL};

#define REQERR(L, i, what) luaL_error((L), "run: request %d: " what, (i))

/* pushes rec[name] (raw) and returns its type */
static int rec_get(lua_State *L, int rec, const char *name) {
  lua_pushstring(L, name);
  lua_rawget(L, rec);
  return lua_type(L, -1);
}

static void anchor(lua_State *L, int anchors, int *na) {
  lua_rawseti(L, anchors, ++*na); /* pops the value */
}

static void add_header(lua_State *L, request *r, int i, const char *line) {
  struct curl_slist *h = curl_slist_append(r->headers, line);
  if (h == NULL) luaL_error(L, "run: request %d: out of memory", i);
  r->headers = h;
}

/* Reads and checks request i (the record is at the top of the stack). */
static void read_request(lua_State *L, transport *t, request *r, int i, int anchors, int *na) {
  int rec = lua_gettop(L), ty, nh = 0, has_accept = 0, has_ctype = 0;
  size_t n, k;
  const char *s;
  if (lua_type(L, rec) != LUA_TTABLE) {
    luaL_error(L, "run: request %d must be a table, got %s", i, luaL_typename(L, rec));
    return;
  }
  /* method */
  ty = rec_get(L, rec, "method");
  if (ty == LUA_TNIL) {
    r->method = "GET";
    lua_pop(L, 1);
  } else {
    if (ty != LUA_TSTRING) REQERR(L, i, "method must be a string");
    s = lua_tolstring(L, -1, &n);
    if (!is_token(s, n, MAX_METHOD)) REQERR(L, i, "method must be an HTTP token of 1..32 characters");
    r->method = s;
    anchor(L, anchors, na);
  }
  /* url */
  ty = rec_get(L, rec, "url");
  if (ty != LUA_TSTRING) REQERR(L, i, "url must be a string");
  s = lua_tolstring(L, -1, &n);
  if (n > MAX_URL) REQERR(L, i, "url is longer than 65536 bytes");
  if (!((n > 7 && eq_nocase(s, 7, "http://")) || (n > 8 && eq_nocase(s, 8, "https://"))))
    REQERR(L, i, "url must start with http:// or https://");
  if (t->https_only && !(n > 8 && eq_nocase(s, 8, "https://")))
    REQERR(L, i, "url must start with https:// (this transport is https-only)");
  for (k = 0; k < n; k++) {
    unsigned char c = (unsigned char)s[k];
    if (c <= 0x20 || c == 0x7f) REQERR(L, i, "url contains a control character or a space");
    if (c == '#') REQERR(L, i, "url contains '#' (a fragment is never sent)");
  }
  {
    const char *auth = strstr(s, "://") + 3;
    size_t alen = strcspn(auth, "/?");
    if (memchr(auth, '@', alen) != NULL) REQERR(L, i, "url must not carry credentials (user@host)");
  }
  r->url = s;
  anchor(L, anchors, na);
  /* body */
  ty = rec_get(L, rec, "body");
  if (ty == LUA_TNIL) {
    lua_pop(L, 1);
  } else {
    if (ty != LUA_TSTRING) REQERR(L, i, "body must be a string or nil");
    r->body = lua_tolstring(L, -1, &r->body_len);
    r->has_body = 1;
    anchor(L, anchors, na);
  }
  /* timeout */
  r->timeout_ms = t->timeout_ms;
  ty = rec_get(L, rec, "timeout");
  if (ty != LUA_TNIL) {
    lua_Number v;
    if (ty != LUA_TNUMBER) REQERR(L, i, "timeout must be a number of seconds");
    v = lua_tonumber(L, -1);
    if (!good_seconds(v)) REQERR(L, i, "timeout must be a finite number of seconds in 0.001..86400");
    r->timeout_ms = seconds_to_ms(v);
  }
  lua_pop(L, 1);
  /* headers */
  ty = rec_get(L, rec, "headers");
  if (ty != LUA_TNIL) {
    int h = lua_gettop(L);
    if (ty != LUA_TTABLE) REQERR(L, i, "headers must be a table");
    lua_pushnil(L);
    while (lua_next(L, h) != 0) {
      const char *name, *value;
      size_t nn, vn, j;
      if (lua_type(L, -2) != LUA_TSTRING) REQERR(L, i, "header names must be strings");
      if (lua_type(L, -1) != LUA_TSTRING) REQERR(L, i, "header values must be strings");
      name = lua_tolstring(L, -2, &nn);
      value = lua_tolstring(L, -1, &vn);
      if (!is_token(name, nn, MAX_HEADER_NAME)) {
        lua_pushfstring(L, "run: request %d: header name must be an HTTP token of 1..256 characters", i);
        lua_error(L);
      }
      for (j = 0; refused_headers[j] != NULL; j++)
        if (eq_nocase(name, nn, refused_headers[j]))
          luaL_error(L, "run: request %d: header '%s' is set by the transport", i, name);
      if (vn > MAX_HEADER_VALUE)
        luaL_error(L, "run: request %d: header '%s' is longer than 65536 bytes", i, name);
      for (j = 0; j < vn; j++)
        if (value[j] == '\r' || value[j] == '\n' || value[j] == '\0')
          luaL_error(L, "run: request %d: header '%s' contains CR, LF or NUL", i, name);
      if (++nh > MAX_HEADERS) REQERR(L, i, "more than 100 headers");
      if (eq_nocase(name, nn, "accept")) has_accept = 1;
      if (eq_nocase(name, nn, "content-type")) has_ctype = 1;
      /* "Name;" is libcurl's way to send an empty value */
      if (vn == 0) lua_pushfstring(L, "%s;", name);
      else lua_pushfstring(L, "%s: %s", name, value);
      add_header(L, r, i, lua_tostring(L, -1));
      lua_pop(L, 2);
    }
  }
  lua_pop(L, 1);
  /* libcurl's defaults the caller did not ask for: off */
  if (!has_accept) add_header(L, r, i, "Accept:");
  if (!has_ctype) add_header(L, r, i, "Content-Type:");
  add_header(L, r, i, "Expect:");
  if (t->compress) add_header(L, r, i, "Accept-Encoding: gzip");
}

/* ---- receiving --------------------------------------------------------- */

static void fail(request *r, int kind, const char *msg) {
  if (r->kind == K_OK) {
    r->kind = kind;
    r->static_msg = msg;
  }
}

/* Appends to a request's body, within max; 0 when over the limit or OOM. */
static int out_append(request *r, const char *data, size_t n, size_t max) {
  if (n > max - r->out_len) {
    fail(r, K_TOO_LARGE, "response body is larger than max_body");
    return 0;
  }
  if (r->out_len + n > r->out_cap) {
    size_t cap = r->out_cap ? r->out_cap : 16384;
    char *p;
    while (cap < r->out_len + n) cap = cap > max / 2 ? max : cap * 2;
    p = (char *)realloc(r->out, cap);
    if (p == NULL) {
      fail(r, K_NETWORK, "out of memory receiving the body");
      return 0;
    }
    r->out = p;
    r->out_cap = cap;
  }
  memcpy(r->out + r->out_len, data, n);
  r->out_len += n;
  return 1;
}

/* Reads one Content-Encoding field value into the request's encoding state. */
static void scan_encoding(request *r, const char *v, size_t n) {
  size_t i = 0;
  while (i < n) {
    size_t a, b;
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
    a = i;
    while (i < n && v[i] != ',') i++;
    b = i;
    while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t')) b--;
    if (b == a) continue;
    if (eq_nocase(v + a, b - a, "identity")) continue;
    r->enc_layers++;
    if (eq_nocase(v + a, b - a, "gzip") || eq_nocase(v + a, b - a, "x-gzip")) {
      if (r->enc == ENC_PLAIN) r->enc = ENC_GZIP;
    } else if (r->enc != ENC_BAD) {
      size_t m = b - a < sizeof r->enc_name - 1 ? b - a : sizeof r->enc_name - 1, k;
      for (k = 0; k < m; k++) { /* printable in the message */
        unsigned char c = (unsigned char)v[a + k];
        r->enc_name[k] = (char)(c >= 0x20 && c < 0x7f ? c : '?');
      }
      r->enc_name[m] = '\0';
      r->enc = ENC_BAD;
    }
  }
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *ud) {
  slot *s = (slot *)ud;
  request *r = s->req;
  size_t n = size * nmemb, len = n, colon;
  if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) { /* a new response (1xx, then the final one) */
    r->hdr_len = 0;
    r->nfields = 0;
    r->enc = ENC_PLAIN;
    r->enc_layers = 0;
    r->enc_name[0] = '\0';
    return n;
  }
  while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n')) len--;
  if (len == 0) return n; /* the blank line ending the header */
  if (line[0] != ' ' && line[0] != '\t') {
    if (++r->nfields > MAX_RESP_FIELDS) {
      fail(r, K_TOO_LARGE, "response has more than 100 header fields");
      return 0;
    }
    for (colon = 0; colon < len && line[colon] != ':'; colon++) {
    }
    if (colon < len && eq_nocase(line, colon, "content-encoding"))
      scan_encoding(r, line + colon + 1, len - colon - 1);
  }
  if (len + 1 > MAX_RESP_HEADER_BYTES - r->hdr_len) {
    fail(r, K_TOO_LARGE, "response header is larger than 65536 bytes");
    return 0;
  }
  if (r->hdr_len + len + 1 > r->hdr_cap) {
    size_t cap = r->hdr_cap ? r->hdr_cap : 1024;
    char *p;
    while (cap < r->hdr_len + len + 1) cap *= 2;
    p = (char *)realloc(r->hdr, cap);
    if (p == NULL) {
      fail(r, K_NETWORK, "out of memory receiving the header");
      return 0;
    }
    r->hdr = p;
    r->hdr_cap = cap;
  }
  memcpy(r->hdr + r->hdr_len, line, len);
  r->hdr[r->hdr_len + len] = '\n';
  r->hdr_len += len + 1;
  return n;
}

static int gunzip(slot *s, const unsigned char *data, size_t n) {
  request *r = s->req;
  unsigned char chunk[16384];
  if (!s->z_live) {
    memset(&s->z, 0, sizeof s->z);
    if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK) { /* gzip only, no zlib/raw */
      fail(r, K_NETWORK, "out of memory starting the gzip decoder");
      return 0;
    }
    s->z_live = 1;
    s->z_ended = 0;
  }
  if (s->z_ended) {
    fail(r, K_DECODE, "gzip: data after the end of the stream");
    return 0;
  }
  s->z.next_in = (Bytef *)data;
  s->z.avail_in = (uInt)n;
  for (;;) {
    int rc;
    size_t produced;
    s->z.next_out = chunk;
    s->z.avail_out = sizeof chunk;
    rc = inflate(&s->z, Z_NO_FLUSH);
    produced = sizeof chunk - s->z.avail_out;
    if (produced > 0 && !out_append(r, (const char *)chunk, produced, s->max_body)) {
      if (r->kind == K_TOO_LARGE) r->static_msg = "decompressed body is larger than max_body";
      return 0;
    }
    if (rc == Z_STREAM_END) {
      s->z_ended = 1;
      if (s->z.avail_in > 0) {
        fail(r, K_DECODE, "gzip: data after the end of the stream");
        return 0;
      }
      return 1;
    }
    if (rc == Z_BUF_ERROR) break;
    if (rc != Z_OK) {
      fail(r, K_DECODE, NULL);
      if (r->msg == NULL) {
        const char *zm = s->z.msg != NULL ? s->z.msg : "corrupt stream";
        size_t zl = strlen(zm);
        r->msg = (char *)malloc(zl + 7);
        if (r->msg != NULL) {
          memcpy(r->msg, "gzip: ", 6);
          memcpy(r->msg + 6, zm, zl + 1);
        }
      }
      if (r->msg == NULL) r->static_msg = "gzip: corrupt stream";
      return 0;
    }
    if (s->z.avail_in == 0 && s->z.avail_out != 0) break;
  }
  if (s->z.avail_in > 0) {
    fail(r, K_DECODE, "gzip: corrupt stream");
    return 0;
  }
  return 1;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud) {
  slot *s = (slot *)ud;
  request *r = s->req;
  size_t n = size * nmemb;
  if (n == 0) return 0;
  if (n > s->max_body - r->raw_len) {
    fail(r, K_TOO_LARGE, "response body is larger than max_body");
    return 0;
  }
  r->raw_len += n;
  if (!r->got_body) {
    r->got_body = 1;
    if (r->enc == ENC_BAD) {
      fail(r, K_DECODE, NULL); /* the message names the encoding */
      return 0;
    }
    if (r->enc_layers > 1) {
      fail(r, K_DECODE, "more than one Content-Encoding layer");
      return 0;
    }
    if (r->enc == ENC_PLAIN && r->out == NULL) { /* room for a declared length, up to 1 MiB */
      curl_off_t cl = -1;
      if (curl_easy_getinfo(s->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK && cl > 0 &&
          (curl_off_t)s->max_body >= cl) {
        if (cl > PREALLOC_MAX) cl = PREALLOC_MAX;
        r->out = (char *)malloc((size_t)cl);
        if (r->out != NULL) r->out_cap = (size_t)cl;
      }
    }
  }
  if (r->enc == ENC_GZIP) return gunzip(s, (const unsigned char *)data, n) ? n : 0;
  return out_append(r, data, n, s->max_body) ? n : 0;
}

/* ---- running transfers ------------------------------------------------- */

#define SET(opt, val) ok = ok && curl_easy_setopt(e, (opt), (val)) == CURLE_OK

/* The options every transfer of this transport shares, set once per easy
 * handle: a pooled handle keeps them (no curl_easy_reset), and setup_easy
 * sets every option that differs between requests. 0 on failure. */
static int init_easy(transport *t, CURL *e) {
  int ok = 1;
#if LIBCURL_VERSION_NUM >= 0x075500
  SET(CURLOPT_PROTOCOLS_STR, t->https_only ? "https" : "http,https");
  SET(CURLOPT_REDIR_PROTOCOLS_STR, t->https_only ? "https" : "http,https");
#else
  SET(CURLOPT_PROTOCOLS, t->https_only ? (long)CURLPROTO_HTTPS : (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
  SET(CURLOPT_REDIR_PROTOCOLS, t->https_only ? (long)CURLPROTO_HTTPS : (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  SET(CURLOPT_FOLLOWLOCATION, 0L);
  SET(CURLOPT_MAXREDIRS, 0L);
  SET(CURLOPT_UNRESTRICTED_AUTH, 0L);
  SET(CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
  SET(CURLOPT_PATH_AS_IS, 1L);
  SET(CURLOPT_SSL_VERIFYPEER, 1L);
  SET(CURLOPT_SSL_VERIFYHOST, 2L);
  SET(CURLOPT_PROXY_SSL_VERIFYPEER, 1L);
  SET(CURLOPT_PROXY_SSL_VERIFYHOST, 2L);
  SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
  if (t->ca_file != NULL) SET(CURLOPT_CAINFO, t->ca_file);
  if (t->ca_path != NULL) SET(CURLOPT_CAPATH, t->ca_path);
  if (t->proxy != NULL) SET(CURLOPT_PROXY, t->proxy);
  SET(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  SET(CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x072F00
  SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
#endif
  SET(CURLOPT_USERAGENT, t->user_agent);
  SET(CURLOPT_LOW_SPEED_LIMIT, t->low_speed_limit);
  SET(CURLOPT_HTTP_CONTENT_DECODING, 0L);
  SET(CURLOPT_HTTP_TRANSFER_DECODING, 1L);
  SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t->max_body);
  SET(CURLOPT_WRITEFUNCTION, on_body);
  SET(CURLOPT_HEADERFUNCTION, on_header);
  if (t->events) {
    SET(CURLOPT_CLOSESOCKETFUNCTION, on_closesocket);
    SET(CURLOPT_CLOSESOCKETDATA, (void *)t);
  }
  return ok;
}

static CURL *take_easy(transport *t) {
  CURL *e;
  if (t->npool > 0) return t->pool[--t->npool];
  e = curl_easy_init();
  if (e != NULL && !init_easy(t, e)) {
    curl_easy_cleanup(e);
    e = NULL;
  }
  return e;
}

static void give_easy(transport *t, CURL *e) {
  if (t->npool < MAX_PARALLEL) t->pool[t->npool++] = e;
  else curl_easy_cleanup(e);
}

/* Sets the options of one request; 0 on failure (out of memory). */
static int setup_easy(transport *t, slot *s, request *r) {
  CURL *e = s->easy;
  int ok = 1;
  long lst = t->low_speed_time;
  if (!t->low_speed_time_set) {
    lst = (r->timeout_ms + 999) / 1000;
    if (lst > 30) lst = 30;
    if (lst < 1) lst = 1;
  }
  SET(CURLOPT_URL, r->url);
  SET(CURLOPT_HTTPHEADER, r->headers);
  SET(CURLOPT_TIMEOUT_MS, r->timeout_ms);
  SET(CURLOPT_CONNECTTIMEOUT_MS, r->timeout_ms < t->connect_timeout_ms ? r->timeout_ms
                                                                       : t->connect_timeout_ms);
  SET(CURLOPT_LOW_SPEED_TIME, t->low_speed_limit > 0 ? lst : 0L);
  /* method and body; first undo whatever the handle's last request set */
  SET(CURLOPT_CUSTOMREQUEST, (char *)NULL);
  SET(CURLOPT_POSTFIELDS, (char *)NULL);
  SET(CURLOPT_HTTPGET, 1L); /* also NOBODY 0, UPLOAD 0 */
  if (r->has_body) {
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    SET(CURLOPT_POSTFIELDS, r->body);
    if (strcmp(r->method, "POST") != 0) SET(CURLOPT_CUSTOMREQUEST, r->method);
  } else if (strcmp(r->method, "GET") == 0) {
    /* HTTPGET above */
  } else if (strcmp(r->method, "HEAD") == 0) {
    SET(CURLOPT_NOBODY, 1L);
  } else if (strcmp(r->method, "POST") == 0) {
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    SET(CURLOPT_POSTFIELDS, "");
  } else {
    SET(CURLOPT_CUSTOMREQUEST, r->method);
  }
  SET(CURLOPT_WRITEDATA, s);
  SET(CURLOPT_HEADERDATA, s);
  SET(CURLOPT_ERRORBUFFER, s->errbuf);
  SET(CURLOPT_PRIVATE, (void *)s);
  return ok;
}

static int classify(CURLcode rc) {
  switch (rc) {
  case CURLE_OK: return K_OK;
  case CURLE_OPERATION_TIMEDOUT: return K_TIMEOUT;
  case CURLE_FILESIZE_EXCEEDED: return K_TOO_LARGE;
  case CURLE_BAD_CONTENT_ENCODING: return K_DECODE;
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_USE_SSL_FAILED:
#if LIBCURL_VERSION_NUM >= 0x072700
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
#endif
#if LIBCURL_VERSION_NUM >= 0x072900
  case CURLE_SSL_INVALIDCERTSTATUS:
#endif
#if LIBCURL_VERSION_NUM >= 0x074D00
  case CURLE_SSL_CLIENTCERT:
#endif
    return K_TLS;
  default: return K_NETWORK;
  }
}

/* A transfer is over: record its outcome, give its handle back. */
static void finish(transport *t, slot *s, CURLcode rc) {
  request *r = s->req;
  long status = 0;
  curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
  r->status = status;
  if (r->kind == K_OK && rc != CURLE_OK) {
    r->kind = classify(rc);
    if (r->kind == K_TOO_LARGE) {
      r->static_msg = "response body is larger than max_body (declared length)";
    } else {
      const char *what = curl_easy_strerror(rc);
      size_t a = strlen(what), b = strlen(s->errbuf);
      r->msg = (char *)malloc(a + b + 3);
      if (r->msg != NULL) {
        memcpy(r->msg, what, a);
        if (b > 0) {
          memcpy(r->msg + a, ": ", 2);
          memcpy(r->msg + a + 2, s->errbuf, b);
          a += b + 2;
        }
        r->msg[a] = '\0';
      } else {
        r->static_msg = what;
      }
    }
  }
  if (r->kind == K_OK && r->enc == ENC_GZIP && r->got_body && !s->z_ended)
    fail(r, K_DECODE, "gzip: truncated stream");
  slot_end_zlib(s);
  curl_multi_remove_handle(t->multi, s->easy);
  give_easy(t, s->easy);
  s->easy = NULL;
  s->req = NULL;
}

/* Runs every request of the box. Calls no Lua API function. */
static void run_transfers(transport *t, run_box *b) {
  int next = 0, active = 0, i, broken = 0;
  while (next < b->n || active > 0) {
    CURLMsg *msg;
    int q, running = 0;
    CURLMcode mc;
    for (i = 0; i < t->max_parallel && next < b->n && !broken; i++) {
      slot *s = &t->slots[i];
      request *r;
      if (s->req != NULL) continue;
      r = &b->reqs[next++];
      s->req = r;
      s->max_body = t->max_body;
      s->errbuf[0] = '\0';
      s->easy = take_easy(t);
      if (s->easy == NULL || !setup_easy(t, s, r) ||
          curl_multi_add_handle(t->multi, s->easy) != CURLM_OK) {
        fail(r, K_NETWORK, "out of memory setting up the transfer");
        if (s->easy != NULL) give_easy(t, s->easy);
        s->easy = NULL;
        s->req = NULL;
        continue;
      }
      active++;
    }
    if (active == 0) {
      if (broken) break;
      continue;
    }
    mc = curl_multi_perform(t->multi, &running);
    while ((msg = curl_multi_info_read(t->multi, &q)) != NULL) {
      if (msg->msg == CURLMSG_DONE) {
        slot *s = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        finish(t, s, msg->data.result);
        active--;
      }
    }
    if (mc == CURLM_OK && active > 0) mc = curl_multi_poll(t->multi, NULL, 0, 1000, NULL);
    if (mc != CURLM_OK) { /* the multi handle failed: end what is running */
      for (i = 0; i < t->max_parallel; i++) {
        if (t->slots[i].req != NULL) {
          fail(t->slots[i].req, K_NETWORK, curl_multi_strerror(mc));
          finish(t, &t->slots[i], CURLE_OK);
          active--;
        }
      }
      broken = 1;
    }
  }
  for (; next < b->n; next++) fail(&b->reqs[next], K_NETWORK, "the transfer could not start");
}

/* ---- results ----------------------------------------------------------- */

static const char *kind_name(int k) {
  switch (k) {
  case K_TIMEOUT: return "timeout";
  case K_TLS: return "tls";
  case K_TOO_LARGE: return "too_large";
  case K_DECODE: return "decode";
  default: return "network";
  }
}

/* Pushes the header map of r: lower-case names, repeats joined by ", ". */
static void push_headers(lua_State *L, request *r) {
  size_t i = 0;
  int map;
  lua_createtable(L, 0, r->nfields);
  map = lua_gettop(L);
  while (i < r->hdr_len) {
    const char *line = r->hdr + i, *nl = (const char *)memchr(line, '\n', r->hdr_len - i);
    size_t len = (size_t)(nl - line), colon, a, b;
    i += len + 1;
    if (line[0] == ' ' || line[0] == '\t') continue; /* obsolete folding: dropped */
    for (colon = 0; colon < len && line[colon] != ':'; colon++) {
    }
    if (colon == len || colon == 0 || colon > MAX_HEADER_NAME) continue;
    {
      char name[MAX_HEADER_NAME + 1];
      size_t k, nn = colon;
      for (k = 0; k < nn; k++) name[k] = (char)lower((unsigned char)line[k]);
      while (nn > 0 && (name[nn - 1] == ' ' || name[nn - 1] == '\t')) nn--;
      a = colon + 1;
      b = len;
      while (a < b && (line[a] == ' ' || line[a] == '\t')) a++;
      while (b > a && (line[b - 1] == ' ' || line[b - 1] == '\t')) b--;
      lua_pushlstring(L, name, nn);
      lua_pushvalue(L, -1);
      lua_rawget(L, map);
      if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushlstring(L, line + a, b - a);
      } else {
        lua_pushliteral(L, ", ");
        lua_pushlstring(L, line + a, b - a);
        lua_concat(L, 3);
      }
      lua_rawset(L, map);
    }
  }
}

static void push_result(lua_State *L, request *r) {
  if (r->kind == K_OK) {
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, (lua_Integer)r->status);
    lua_setfield(L, -2, "status");
    push_headers(L, r);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, r->out != NULL ? r->out : "", r->out_len);
    lua_setfield(L, -2, "body");
  } else {
    lua_createtable(L, 0, 3);
    lua_pushstring(L, kind_name(r->kind));
    lua_setfield(L, -2, "kind");
    if (r->msg != NULL) lua_pushstring(L, r->msg);
    else if (r->static_msg != NULL) lua_pushstring(L, r->static_msg);
    else if (r->kind == K_DECODE && r->enc_name[0] != '\0')
      lua_pushfstring(L, "unsupported Content-Encoding '%s'", r->enc_name);
    else lua_pushstring(L, kind_name(r->kind));
    lua_setfield(L, -2, "message");
    if (r->status > 0) {
      lua_pushinteger(L, (lua_Integer)r->status);
      lua_setfield(L, -2, "status");
    }
  }
  free(r->out);
  free(r->hdr);
  r->out = r->hdr = NULL;
  r->out_len = r->out_cap = r->hdr_len = r->hdr_cap = 0;
}

/* The number of requests in the list at index 2 (raw length); raises past
 * MAX_REQUESTS. */
static int count_requests(lua_State *L) {
  size_t len = lua_rawlen(L, 2);
  if (len > MAX_REQUESTS) return luaL_error(L, "run: more than %d requests", MAX_REQUESTS);
  return (int)len;
}

/* Reads and checks the n requests of the list at index 2 into reqs (owned
 * by a collected box at index 3, so an error frees what was read), the
 * strings they point to anchored in the table at index 4. Raises on the
 * first bad record, and when a finalizer run by the reads closed t. */
static void read_requests(lua_State *L, transport *t, request *reqs, int n) {
  int i, na = 0;
  for (i = 0; i < n; i++) {
    lua_rawgeti(L, 2, i + 1);
    read_request(L, t, &reqs[i], i + 1, 4, &na);
    lua_settop(L, 4);
  }
  if (t->closed) luaL_error(L, "%s: transport closed while run read its requests", TRANSPORT);
}

/*
 * t:run(requests) -> results
 */
static int t_run(lua_State *L) {
  transport *t = check_transport(L, 1);
  int i, n;
  run_box *b;
  if (t->events) return luaL_error(L, "run: this transport is driven by events: use start, action and wants");
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  n = count_requests(L);
  luaL_checkstack(L, 16, "run");
  b = (run_box *)lua_newuserdata(L, sizeof(run_box)); /* 3 */
  memset(b, 0, sizeof *b);
  luaL_getmetatable(L, TRANSPORT_RUN);
  lua_setmetatable(L, -2);
  lua_createtable(L, n * 3, 0); /* 4: keeps the request strings alive */
  if (n > 0) {
    b->reqs = (request *)calloc((size_t)n, sizeof(request));
    if (b->reqs == NULL) return luaL_error(L, "run: out of memory");
    b->n = n;
  }
  read_requests(L, t, b->reqs, n);
  run_transfers(t, b);
  lua_createtable(L, n, 0); /* 5: results */
  for (i = 0; i < n; i++) {
    push_result(L, &b->reqs[i]);
    lua_rawseti(L, 5, i + 1);
  }
  box_release(b);
  return 1;
}

/* ---- the events mode ---------------------------------------------------- */

#define JOB "evcp.CurlJob"

static void set_uservalue(lua_State *L, int idx) { /* pops the table on top */
#if LUA_VERSION_NUM < 502
  lua_setfenv(L, idx);
#else
  lua_setiuservalue(L, idx, 1);
#endif
}

static void job_attach(transport *t, job *j) {
  j->t = t;
  j->prev = t->jobs_tail;
  j->next = NULL;
  if (t->jobs_tail != NULL) t->jobs_tail->next = j;
  else t->jobs = j;
  t->jobs_tail = j;
}

static void job_detach(job *j) {
  transport *t = j->t;
  if (t == NULL) return;
  if (j->prev != NULL) j->prev->next = j->next;
  else t->jobs = j->next;
  if (j->next != NULL) j->next->prev = j->prev;
  else t->jobs_tail = j->prev;
  j->prev = j->next = NULL;
  j->t = NULL;
}

static void job_free_reqs(job *j) {
  int i;
  if (j->reqs != NULL) {
    for (i = 0; i < j->n; i++) request_free(&j->reqs[i]);
    free(j->reqs);
  }
  j->reqs = NULL;
}

/* One more request of j is over; the last one makes the job done. */
static void job_count(job *j) {
  if (++j->ndone == j->n) {
    job_detach(j);
    j->state = J_DONE;
  }
}

/* A transfer of the events mode is over: record it, free its slot. */
static void finish_event(transport *t, slot *s, CURLcode rc) {
  job *j = s->job;
  finish(t, s, rc);
  s->job = NULL;
  job_count(j);
}

/* Starts queued requests, oldest job first, while slots are free. Calls no
 * Lua API function. */
static void fill_slots(transport *t) {
  job *j = t->jobs;
  int i = 0;
  while (i < t->max_parallel) {
    slot *s = &t->slots[i];
    request *r;
    if (s->req != NULL) {
      i++;
      continue;
    }
    while (j != NULL && j->next_req >= j->n) j = j->next;
    if (j == NULL) return;
    r = &j->reqs[j->next_req++];
    s->req = r;
    s->job = j;
    s->max_body = t->max_body;
    s->errbuf[0] = '\0';
    s->easy = take_easy(t);
    if (s->easy == NULL || !setup_easy(t, s, r) ||
        curl_multi_add_handle(t->multi, s->easy) != CURLM_OK) {
      job *next = j->next;
      fail(r, K_NETWORK, "out of memory setting up the transfer");
      if (s->easy != NULL) give_easy(t, s->easy);
      s->easy = NULL;
      s->req = NULL;
      s->job = NULL;
      if (j->next_req >= j->n) {
        job_count(j); /* may detach j: go on from the job after it */
        j = next;
      } else {
        job_count(j);
      }
      continue; /* the same slot again */
    }
    i++;
  }
}

/* Takes j out of its transport's multi handle (its transfers end, its
 * queued requests never start) and frees its requests. No Lua. */
static void job_cancel(job *j, const char *why) {
  transport *t = j->t;
  int i;
  if (j->state == J_TAKEN) return; /* results() owns the requests */
  if (t != NULL) {
    for (i = 0; i < t->max_parallel; i++) {
      slot *s = &t->slots[i];
      if (s->job == j) {
        fail(s->req, K_NETWORK, "cancelled");
        finish(t, s, CURLE_OK);
        s->job = NULL;
      }
    }
    job_detach(j);
  }
  j->state = J_CANCELLED;
  j->why = why;
  job_free_reqs(j);
}

static transport *check_events(lua_State *L, const char *fname) {
  transport *t = check_transport(L, 1);
  if (!t->events)
    luaL_error(L, "%s: this transport is blocking: use run (events = true makes one driven by events)",
               fname);
  return t;
}

/*
 * t:start(requests) -> evcp.CurlJob
 */
static int t_start(lua_State *L) {
  transport *t = check_events(L, "start");
  int n;
  job *j;
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  n = count_requests(L);
  luaL_checkstack(L, 16, "start");
  j = (job *)lua_newuserdata(L, sizeof(job)); /* 3 */
  memset(j, 0, sizeof *j);
  j->state = J_CANCELLED; /* the safe empty state until it starts */
  j->why = "it never started";
  luaL_getmetatable(L, JOB);
  lua_setmetatable(L, -2);
  lua_createtable(L, n * 3, 1); /* 4: the request strings, and the transport */
  lua_pushvalue(L, 1);
  lua_setfield(L, 4, "transport");
  lua_pushvalue(L, 4);
  set_uservalue(L, 3);
  if (n > 0) {
    j->reqs = (request *)calloc((size_t)n, sizeof(request));
    if (j->reqs == NULL) return luaL_error(L, "start: out of memory");
    j->n = n;
  }
  read_requests(L, t, j->reqs, n);
  /* from here on no Lua API call until the return */
  j->why = NULL;
  if (n == 0) {
    j->state = J_DONE;
  } else {
    j->state = J_RUNNING;
    job_attach(t, j);
    fill_slots(t);
  }
  lua_settop(L, 3);
  return 1;
}

/*
 * t:action(fd, flags) -> number of requests that finished
 */
static int t_action(lua_State *L) {
  transport *t = check_events(L, "action");
  lua_Number fdn = luaL_checknumber(L, 2), fln = luaL_optnumber(L, 3, 0);
  int running = 0, done = 0, q, i;
  CURLMcode mc;
  CURLMsg *msg;
  if (!(fdn >= -1 && fdn <= 2147483647.0) || floor(fdn) != fdn)
    return luaL_argerror(L, 2, "action: fd must be a socket number or -1 (the timer)");
  if (!(fln >= 0 && fln <= 7) || floor(fln) != fln)
    return luaL_argerror(L, 3, "action: flags must be an integer in 0..7 (1 in, 2 out, 4 error)");
  mc = curl_multi_socket_action(t->multi, fdn < 0 ? CURL_SOCKET_TIMEOUT : (curl_socket_t)fdn,
                                (int)fln, &running);
  while ((msg = curl_multi_info_read(t->multi, &q)) != NULL) {
    if (msg->msg == CURLMSG_DONE) {
      slot *s = NULL;
      CURLcode rc = msg->data.result;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
      finish_event(t, s, rc);
      done++;
    }
  }
  if (mc != CURLM_OK) { /* the multi handle failed: end what is running */
    for (i = 0; i < t->max_parallel; i++) {
      if (t->slots[i].req != NULL) {
        fail(t->slots[i].req, K_NETWORK, curl_multi_strerror(mc));
        finish_event(t, &t->slots[i], CURLE_OK);
        done++;
      }
    }
  }
  fill_slots(t);
  lua_pushinteger(L, done);
  return 1;
}

/*
 * t:wants() -> {fd, ev, fd, ev, ...}, timer_ms | nil
 */
/* Closes the sockets libcurl closed before the last t:wants() reported
 * their removal (on_closesocket); the rest become closable. */
static void close_reported(transport *t) {
  int i;
  if (t->closing == NULL) return;
  for (i = 0; i < t->closable; i++) close((int)t->closing[i]);
  memmove(t->closing, t->closing + t->closable, (size_t)(t->nclosing - t->closable) * sizeof *t->closing);
  t->nclosing -= t->closable;
  t->closable = 0;
}

/* t:dropped(): the host has applied the last t:wants() (its watches of the
 * removed sockets are gone): the sockets libcurl closed meanwhile are closed
 * now, so that the peer sees the close at once. */
static int t_dropped(lua_State *L) {
  close_reported(check_events(L, "dropped"));
  return 0;
}

static int t_wants(lua_State *L) {
  transport *t = check_events(L, "wants");
  int n, i;
  /* what the last call reported is applied by now, dropped() or not */
  close_reported(t);
  t->closable = t->nclosing; /* reported by this call */
  for (;;) {
    n = t->nwants;
    lua_createtable(L, 2 * n, 0);
    /* a finalizer run by that allocation may have changed the record: again */
    if (t->nwants == n) break;
    lua_pop(L, 1);
  }
  /* presized: the stores below allocate nothing, so no finalizer runs */
  for (i = 0; i < n; i++) {
    lua_pushinteger(L, (lua_Integer)t->wants[i].fd);
    lua_rawseti(L, -2, 2 * i + 1);
    lua_pushinteger(L, (lua_Integer)t->wants[i].ev);
    lua_rawseti(L, -2, 2 * i + 2);
  }
  t->nwants = 0;
  if (t->timer_changed && !t->closed) {
    t->timer_changed = 0;
    lua_pushinteger(L, (lua_Integer)t->timer_ms);
  } else {
    lua_pushnil(L);
  }
  return 2;
}

static job *check_job(lua_State *L, const char *fname) {
  return (job *)evcp_checkself(L, JOB, fname);
}

/* job:done() -> boolean */
static int j_done(lua_State *L) {
  lua_pushboolean(L, check_job(L, "evcp.CurlJob:done")->state != J_RUNNING);
  return 1;
}

/* job:results() -> results (once) */
static int j_results(lua_State *L) {
  job *j = check_job(L, "evcp.CurlJob:results");
  int i;
  switch (j->state) {
  case J_RUNNING:
    return luaL_error(L, "results: the job is not done (%d of %d requests finished)", j->ndone, j->n);
  case J_CANCELLED: return luaL_error(L, "results: the job was cancelled (%s)", j->why);
  case J_TAKEN: return luaL_error(L, "results: the results were already taken");
  default: break;
  }
  j->state = J_TAKEN; /* the requests are this call's now: a cancel cannot free them */
  lua_settop(L, 1);
  lua_createtable(L, j->n, 0);
  for (i = 0; i < j->n; i++) {
    push_result(L, &j->reqs[i]);
    lua_rawseti(L, 2, i + 1);
  }
  job_free_reqs(j);
  return 1;
}

static void job_end(job *j, const char *why) {
  transport *t = j->t;
  if (j->state == J_RUNNING || j->state == J_DONE) {
    job_cancel(j, why);
    if (t != NULL && !t->closed) fill_slots(t); /* its slots go to the jobs queued behind it */
  }
}

/* job:cancel(): idempotent */
static int j_cancel(lua_State *L) {
  job_end(check_job(L, "evcp.CurlJob:cancel"), "cancelled");
  return 0;
}

static int j_gc(lua_State *L) {
  job *j = (job *)luaL_checkudata(L, 1, JOB);
  job_end(j, "collected");
  job_free_reqs(j); /* also what a results() that raised left */
  return 0;
}

static int j_tostring(lua_State *L) {
  job *j = check_job(L, "evcp.CurlJob:__tostring");
  switch (j->state) {
  case J_RUNNING: lua_pushfstring(L, "%s: %d of %d done", JOB, j->ndone, j->n); break;
  case J_CANCELLED: lua_pushfstring(L, "%s: (cancelled)", JOB); break;
  case J_TAKEN: lua_pushfstring(L, "%s: (results taken)", JOB); break;
  default: lua_pushfstring(L, "%s: done", JOB); break;
  }
  return 1;
}

/* core.curl_version() -> libcurl's version string */
static int core_curl_version(lua_State *L) {
  lua_pushstring(L, curl_version());
  return 1;
}

int evcp_transport_open(lua_State *L) {
  static const luaL_Reg meta[] = {{"__gc", t_close},
                                  {"__close", t_close},
                                  {"__tostring", t_tostring},
                                  {NULL, NULL}};
  static const luaL_Reg methods[] = {{"run", t_run},         {"now", t_now},
                                     {"sleep", t_sleep},     {"close", t_close},
                                     {"is_closed", t_is_closed}, {"start", t_start},
                                     {"action", t_action},   {"wants", t_wants},
                                     {"dropped", t_dropped},
                                     {NULL, NULL}};
  static const luaL_Reg box_meta[] = {{"__gc", box_gc}, {NULL, NULL}};
  static const luaL_Reg job_meta[] = {{"__gc", j_gc}, {"__tostring", j_tostring}, {NULL, NULL}};
  static const luaL_Reg job_methods[] = {{"done", j_done}, {"results", j_results},
                                         {"cancel", j_cancel}, {NULL, NULL}};
  static const luaL_Reg funcs[] = {{"curl_transport", core_curl_transport},
                                   {"curl_version", core_curl_version},
                                   {NULL, NULL}};
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return luaL_error(L, "evcp: libcurl failed to initialise");
  luaL_newmetatable(L, TRANSPORT_RUN);
  luaL_setfuncs(L, box_meta, 0);
  lua_pushliteral(L, TRANSPORT_RUN);
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);
  evcp_createclass(L, TRANSPORT, meta, methods);
  evcp_createclass(L, JOB, job_meta, job_methods);
  luaL_setfuncs(L, funcs, 0); /* into the module table, on top */
  return 0;
}
