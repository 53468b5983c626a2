/*
 * client.c: evcp.Client, the HTTP transport layer (libcurl multi).
 *
 * A Client holds the connection settings, the credentials (which never leave
 * this file: they are added to the request here and scrubbed from every
 * message) and one libcurl multi handle whose connection cache is reused by
 * every request the client makes.
 *
 * client:_fetch(requests) runs a batch of GET requests concurrently (at most
 * max_parallel at once) and returns one plain result table per request. It
 * knows nothing about HERE's documents: the Lua front builds paths and
 * queries and interprets the answers, so another transport (an nginx
 * cosocket, a thread pool) can stand in for this one.
 *
 * No Lua API call that can raise runs while libcurl owns memory: requests are
 * read first, transfers run, handles go back to the pool, and only then are
 * results pushed. Response bodies live in a Lua-owned batch box whose __gc
 * frees whatever an error left behind.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evcp.h"

#define EVCP_BATCH "evcp.Batch"
#define MAX_PARALLEL_LIMIT 64

typedef struct {
  CURLM *multi;
  CURL *pool[MAX_PARALLEL_LIMIT]; /* idle easy handles */
  int npool;
  char *base_url;     /* without a trailing slash */
  char *key_escaped;  /* apiKey, URL-escaped; secret */
  char *auth_header;  /* "Authorization: Bearer ..."; secret */
  char *user_agent;
  long timeout_ms, connect_timeout_ms;
  int max_parallel;
  size_t max_body;
  int compress;
  int closed;
} client;

typedef struct {
  CURL *easy;
  struct curl_slist *headers;
  char *body;
  size_t len, cap, max;
  long status;
  CURLcode result;
  int too_large;
  char correlation_id[128];
  char request_id[128];
  char content_type[128];
  char retry_after[64];
  char errbuf[CURL_ERROR_SIZE];
} transfer;

typedef struct {
  int n;
  transfer *t; /* n entries, malloc'd */
} batch;

/* ---- secrets ----------------------------------------------------------- */

static void wipe_free(char *s) {
  if (s != NULL) {
    volatile char *p = s;
    while (*p) *p++ = 0;
    free(s);
  }
}

static char *dupstr(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = (char *)malloc(n);
  if (d != NULL) memcpy(d, s, n);
  return d;
}

/* Pushes msg with every occurrence of the client's secrets replaced. */
static void push_scrubbed(lua_State *L, const client *c, const char *msg) {
  const char *secrets[2];
  int i;
  secrets[0] = c->key_escaped;
  secrets[1] = c->auth_header != NULL ? c->auth_header + strlen("Authorization: Bearer ") : NULL;
  lua_pushstring(L, msg);
  for (i = 0; i < 2; i++) {
    if (secrets[i] != NULL && *secrets[i] != '\0' && strstr(lua_tostring(L, -1), secrets[i])) {
      luaL_gsub(L, lua_tostring(L, -1), secrets[i], "***");
      lua_remove(L, -2);
    }
  }
}

/* ---- lifecycle ---------------------------------------------------------- */

static client *check_client(lua_State *L, int arg) {
  client *c = (client *)luaL_checkudata(L, arg, EVCP_CLIENT);
  if (c->closed) luaL_argerror(L, arg, "client is closed");
  return c;
}

static void client_release(client *c) {
  int i;
  if (c->closed) return;
  c->closed = 1;
  for (i = 0; i < c->npool; i++) curl_easy_cleanup(c->pool[i]);
  c->npool = 0;
  if (c->multi != NULL) curl_multi_cleanup(c->multi);
  c->multi = NULL;
  free(c->base_url);
  wipe_free(c->key_escaped);
  wipe_free(c->auth_header);
  free(c->user_agent);
  c->base_url = c->key_escaped = c->auth_header = c->user_agent = NULL;
}

/* client:close(): frees connections; idempotent, shared by __gc and __close. */
static int client_close(lua_State *L) {
  client *c = (client *)luaL_checkudata(L, 1, EVCP_CLIENT);
  client_release(c);
  return 0;
}

/* client:is_closed() -> boolean */
static int client_is_closed(lua_State *L) {
  client *c = (client *)luaL_checkudata(L, 1, EVCP_CLIENT);
  lua_pushboolean(L, c->closed);
  return 1;
}

static int client_tostring(lua_State *L) {
  client *c = (client *)luaL_checkudata(L, 1, EVCP_CLIENT);
  if (c->closed) lua_pushfstring(L, "%s: (closed)", EVCP_CLIENT);
  else
    lua_pushfstring(L, "%s: %s (%s)", EVCP_CLIENT, c->base_url,
                    c->auth_header ? "bearer token" : c->key_escaped ? "api key" : "no credentials");
  return 1;
}

static const char *opt_string(lua_State *L, int cfg, const char *k) {
  const char *s;
  lua_getfield(L, cfg, k);
  s = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
  lua_pop(L, 1);
  return s;
}

static lua_Number opt_number(lua_State *L, int cfg, const char *k, lua_Number dflt) {
  lua_Number n;
  lua_getfield(L, cfg, k);
  n = lua_isnil(L, -1) ? dflt : luaL_checknumber(L, -1);
  lua_pop(L, 1);
  return n;
}

/*
 * core.client_new(cfg) -> Client
 * cfg is the table the Lua front has already validated: base_url, api_key,
 * access_token, user_agent, timeout, connect_timeout (seconds),
 * max_parallel, max_body (bytes), compress (boolean).
 */
static int core_client_new(lua_State *L) {
  const char *base, *key, *token, *ua;
  size_t blen;
  lua_Number timeout, ctimeout, maxpar, maxbody;
  client *c;
  luaL_checktype(L, 1, LUA_TTABLE);
  base = opt_string(L, 1, "base_url");
  key = opt_string(L, 1, "api_key");
  token = opt_string(L, 1, "access_token");
  ua = opt_string(L, 1, "user_agent");
  timeout = opt_number(L, 1, "timeout", 30);
  ctimeout = opt_number(L, 1, "connect_timeout", 10);
  maxpar = opt_number(L, 1, "max_parallel", 8);
  maxbody = opt_number(L, 1, "max_body", 64.0 * 1024 * 1024);
  lua_getfield(L, 1, "compress");
  if (base == NULL) return luaL_error(L, "client_new: base_url missing");
  if (maxpar < 1 || maxpar > MAX_PARALLEL_LIMIT)
    return luaL_error(L, "client_new: max_parallel must be 1..%d", MAX_PARALLEL_LIMIT);

  c = (client *)lua_newuserdata(L, sizeof(client));
  memset(c, 0, sizeof *c);
  c->closed = 1; /* safe empty state until filled */
  luaL_getmetatable(L, EVCP_CLIENT);
  lua_setmetatable(L, -2);

  c->closed = 0;
  c->timeout_ms = (long)(timeout * 1000);
  c->connect_timeout_ms = (long)(ctimeout * 1000);
  c->max_parallel = (int)maxpar;
  c->max_body = (size_t)maxbody;
  c->compress = lua_toboolean(L, -2);
  blen = strlen(base);
  while (blen > 0 && base[blen - 1] == '/') blen--;
  c->base_url = (char *)malloc(blen + 1);
  if (c->base_url != NULL) {
    memcpy(c->base_url, base, blen);
    c->base_url[blen] = '\0';
  }
  c->user_agent = dupstr(ua != NULL ? ua : "evcp");
  c->multi = curl_multi_init();
  if (key != NULL) {
    char *e = curl_easy_escape(NULL, key, 0);
    if (e != NULL) {
      c->key_escaped = dupstr(e);
      curl_free(e);
    }
    if (c->key_escaped == NULL) goto oom;
  }
  if (token != NULL) {
    size_t n = strlen(token) + sizeof("Authorization: Bearer ");
    c->auth_header = (char *)malloc(n);
    if (c->auth_header == NULL) goto oom;
    strcpy(c->auth_header, "Authorization: Bearer ");
    strcat(c->auth_header, token);
  }
  if (c->base_url == NULL || c->user_agent == NULL || c->multi == NULL) goto oom;
  curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)c->max_parallel);
  curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)c->max_parallel * 2);
  return 1;
oom:
  client_release(c);
  return luaL_error(L, "evcp: out of memory creating client");
}

/* ---- transfers ---------------------------------------------------------- */

static void batch_free_transfers(batch *b) {
  int i;
  if (b->t == NULL) return;
  for (i = 0; i < b->n; i++) {
    free(b->t[i].body);
    curl_slist_free_all(b->t[i].headers);
  }
  free(b->t);
  b->t = NULL;
}

static int batch_gc(lua_State *L) {
  batch_free_transfers((batch *)luaL_checkudata(L, 1, EVCP_BATCH));
  return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud) {
  transfer *t = (transfer *)ud;
  size_t n = size * nmemb;
  if (n > t->max - t->len) {
    t->too_large = 1;
    return 0;
  }
  if (t->len + n > t->cap) {
    size_t cap = t->cap ? t->cap : 16384;
    char *p;
    while (cap < t->len + n) cap = cap > t->max / 2 ? t->max : cap * 2;
    p = (char *)realloc(t->body, cap);
    if (p == NULL) return 0;
    t->body = p;
    t->cap = cap;
  }
  memcpy(t->body + t->len, data, n);
  t->len += n;
  return n;
}

/* Copies the value of header `name` from line into dst when it matches. */
static void take_header(const char *line, size_t n, const char *name, char *dst, size_t cap) {
  size_t k = strlen(name), i, j;
  if (n <= k || line[k] != ':') return;
  for (i = 0; i < k; i++) {
    char a = line[i], b = name[i];
    if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z') b = (char)(b - 'A' + 'a');
    if (a != b) return;
  }
  i = k + 1;
  while (i < n && (line[i] == ' ' || line[i] == '\t')) i++;
  j = n;
  while (j > i && (line[j - 1] == '\r' || line[j - 1] == '\n' || line[j - 1] == ' ')) j--;
  if (j - i >= cap) j = i + cap - 1;
  memcpy(dst, line + i, j - i);
  dst[j - i] = '\0';
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *ud) {
  transfer *t = (transfer *)ud;
  size_t n = size * nmemb;
  if (n > 5 && memcmp(line, "HTTP/", 5) == 0) { /* a new response: forget earlier headers */
    t->correlation_id[0] = t->request_id[0] = t->content_type[0] = t->retry_after[0] = '\0';
    return n;
  }
  take_header(line, n, "X-Correlation-ID", t->correlation_id, sizeof t->correlation_id);
  take_header(line, n, "X-Request-ID", t->request_id, sizeof t->request_id);
  take_header(line, n, "Content-Type", t->content_type, sizeof t->content_type);
  take_header(line, n, "Retry-After", t->retry_after, sizeof t->retry_after);
  return n;
}

static CURL *take_easy(client *c) {
  if (c->npool > 0) {
    CURL *e = c->pool[--c->npool];
    curl_easy_reset(e);
    return e;
  }
  return curl_easy_init();
}

static void give_easy(client *c, CURL *e) {
  if (c->npool < MAX_PARALLEL_LIMIT) c->pool[c->npool++] = e;
  else curl_easy_cleanup(e);
}

static int setup_transfer(client *c, transfer *t, const char *url, const char *request_id) {
  t->easy = take_easy(c);
  if (t->easy == NULL) return 0;
  t->max = c->max_body;
  t->headers = curl_slist_append(NULL, "Accept: application/json");
  if (t->headers == NULL) return 0;
  if (c->auth_header != NULL) {
    struct curl_slist *h = curl_slist_append(t->headers, c->auth_header);
    if (h == NULL) return 0;
    t->headers = h;
  }
  if (request_id != NULL) {
    char line[300];
    struct curl_slist *h;
    snprintf(line, sizeof line, "X-Request-ID: %s", request_id);
    h = curl_slist_append(t->headers, line);
    if (h == NULL) return 0;
    t->headers = h;
  }
  curl_easy_setopt(t->easy, CURLOPT_URL, url);
  curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
  curl_easy_setopt(t->easy, CURLOPT_USERAGENT, c->user_agent);
  curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, c->timeout_ms);
  curl_easy_setopt(t->easy, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
  curl_easy_setopt(t->easy, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
  if (c->compress) curl_easy_setopt(t->easy, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(t->easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(t->easy, CURLOPT_HEADERDATA, t);
  curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->errbuf);
  curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
  return 1;
}

/* Runs the transfers; urls is the stack index of an array of URL strings.
 * Calls nothing that can raise. Returns 0 when setup ran out of memory. */
static int run_batch(lua_State *L, client *c, batch *b, int urls, int reqs) {
  int next = 0, active = 0, running = 0, ok = 1;
  while (next < b->n || active > 0) {
    CURLMsg *msg;
    int q;
    while (ok && active < c->max_parallel && next < b->n) {
      transfer *t = &b->t[next];
      const char *rid = NULL;
      lua_rawgeti(L, urls, next + 1);
      lua_rawgeti(L, reqs, next + 1);
      lua_getfield(L, -1, "request_id"); /* a string already checked by the front */
      if (lua_type(L, -1) == LUA_TSTRING) rid = lua_tostring(L, -1);
      if (!setup_transfer(c, t, lua_tostring(L, -3), rid) ||
          curl_multi_add_handle(c->multi, t->easy) != CURLM_OK) {
        ok = 0;
      } else {
        active++;
      }
      lua_pop(L, 3);
      next++;
    }
    if (!ok && active == 0) break;
    curl_multi_perform(c->multi, &running);
    while ((msg = curl_multi_info_read(c->multi, &q)) != NULL) {
      if (msg->msg == CURLMSG_DONE) {
        transfer *t = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        t->result = msg->data.result;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &t->status);
        curl_multi_remove_handle(c->multi, msg->easy_handle);
        give_easy(c, msg->easy_handle);
        t->easy = NULL;
        active--;
      }
    }
    if (active > 0) curl_multi_poll(c->multi, NULL, 0, 200, NULL);
  }
  /* Transfers never started (out of memory) give their handles back too. */
  for (next = 0; next < b->n; next++) {
    if (b->t[next].easy != NULL) {
      curl_multi_remove_handle(c->multi, b->t[next].easy);
      give_easy(c, b->t[next].easy);
      b->t[next].easy = NULL;
    }
  }
  return ok;
}

static void set_str(lua_State *L, const char *k, const char *v) {
  if (v[0] != '\0') {
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
  }
}

static void push_result(lua_State *L, client *c, transfer *t) {
  lua_createtable(L, 0, 6);
  if (t->result == CURLE_OK) {
    lua_pushinteger(L, (lua_Integer)t->status);
    lua_setfield(L, -2, "status");
    lua_pushlstring(L, t->body ? t->body : "", t->len);
    lua_setfield(L, -2, "body");
    set_str(L, "correlation_id", t->correlation_id);
    set_str(L, "request_id", t->request_id);
    set_str(L, "content_type", t->content_type);
    set_str(L, "retry_after", t->retry_after);
  } else {
    const char *kind = "network";
    if (t->result == CURLE_OPERATION_TIMEDOUT) kind = "timeout";
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    if (t->too_large) {
      lua_pushfstring(L, "response body larger than %d bytes", (int)t->max);
    } else {
      lua_pushfstring(L, "%s%s%s", curl_easy_strerror(t->result), t->errbuf[0] ? ": " : "",
                      t->errbuf);
    }
    push_scrubbed(L, c, lua_tostring(L, -1));
    lua_remove(L, -2);
    lua_setfield(L, -2, "message");
    if (t->status > 0) {
      lua_pushinteger(L, (lua_Integer)t->status);
      lua_setfield(L, -2, "status");
    }
  }
  free(t->body);
  t->body = NULL;
  t->len = t->cap = 0;
}

/*
 * client:_fetch(requests) -> results
 * requests: array of {path = "/v3/...", query = "a=b&c=d" (already escaped),
 * request_id = string|nil}. results[i]: {status, body, correlation_id,
 * request_id, content_type, retry_after} or {kind = "timeout"|"network",
 * message}. Raises on misuse or a closed client only.
 */
static int client_fetch(lua_State *L) {
  client *c = check_client(L, 1);
  int i, n, urls;
  batch *b;
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  n = (int)lua_rawlen(L, 2);
  lua_createtable(L, n, 0); /* 3: urls */
  urls = 3;
  for (i = 1; i <= n; i++) {
    const char *path, *query;
    lua_rawgeti(L, 2, i);
    if (lua_type(L, -1) != LUA_TTABLE) return luaL_error(L, "_fetch: request %d is not a table", i);
    lua_getfield(L, -1, "path");
    lua_getfield(L, -2, "query");
    path = lua_tostring(L, -2);
    query = lua_tostring(L, -1);
    if (path == NULL) return luaL_error(L, "_fetch: request %d has no path", i);
    if (query == NULL) query = "";
    if (c->key_escaped != NULL)
      lua_pushfstring(L, "%s%s?%s%sapiKey=%s", c->base_url, path, query, *query ? "&" : "",
                      c->key_escaped);
    else
      lua_pushfstring(L, "%s%s%s%s", c->base_url, path, *query ? "?" : "", query);
    lua_rawseti(L, urls, i);
    lua_pop(L, 3);
  }
  b = (batch *)lua_newuserdata(L, sizeof(batch)); /* 4 */
  b->n = 0;
  b->t = NULL;
  luaL_getmetatable(L, EVCP_BATCH);
  lua_setmetatable(L, -2);
  if (n > 0) {
    b->t = (transfer *)calloc((size_t)n, sizeof(transfer));
    if (b->t == NULL) return luaL_error(L, "evcp: out of memory");
    b->n = n;
    if (!run_batch(L, c, b, urls, 2)) {
      batch_free_transfers(b);
      return luaL_error(L, "evcp: out of memory setting up transfers");
    }
  }
  lua_createtable(L, n, 0); /* 5: results */
  for (i = 0; i < n; i++) {
    push_result(L, c, &b->t[i]);
    lua_rawseti(L, 5, i + 1);
  }
  batch_free_transfers(b);
  return 1;
}

/* core.sleep(seconds): blocks the calling thread (used between retries). */
static int core_sleep(lua_State *L) {
  lua_Number s = luaL_checknumber(L, 1);
  struct timespec ts;
  if (s <= 0) return 0;
  if (s > 3600) s = 3600;
  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (lua_Number)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) != 0) {
  }
  return 0;
}

/* core.curl_version() -> libcurl's version string */
static int core_curl_version(lua_State *L) {
  lua_pushstring(L, curl_version());
  return 1;
}

int evcp_client_open(lua_State *L) {
  static const luaL_Reg meta[] = {{"__gc", client_close},
                                  {"__close", client_close},
                                  {"__tostring", client_tostring},
                                  {NULL, NULL}};
  static const luaL_Reg methods[] = {{"close", client_close},
                                     {"is_closed", client_is_closed},
                                     {"_fetch", client_fetch},
                                     {NULL, NULL}};
  static const luaL_Reg batch_meta[] = {{"__gc", batch_gc}, {NULL, NULL}};
  static const luaL_Reg funcs[] = {
      {"client_new", core_client_new},
      {"curl_version", core_curl_version},
      {"sleep", core_sleep},
      {NULL, NULL}};
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return luaL_error(L, "evcp: libcurl failed to initialise");
  luaL_newmetatable(L, EVCP_BATCH);
  luaL_setfuncs(L, batch_meta, 0);
  lua_pop(L, 1);
  evcp_newclass(L, EVCP_CLIENT, meta, methods, NULL); /* methods table on top */
  lua_getfield(L, -2, "classes");
  lua_insert(L, -2);
  lua_setfield(L, -2, "Client");
  lua_pop(L, 1);
  /* the metatable too: the Lua front adds per-client accessors (client.v2) */
  luaL_getmetatable(L, EVCP_CLIENT);
  lua_setfield(L, -2, "client_meta");
  luaL_setfuncs(L, funcs, 0);
  return 0;
}
