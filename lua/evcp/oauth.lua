--- evcp.oauth: HERE's OAuth token flow as pure functions (no I/O).
--
-- HERE issues bearer tokens for OAuth 2.0 client credentials: a POST to
-- the token endpoint with `grant_type=client_credentials`, signed with
-- OAuth 1.0a HMAC-SHA256 (here-api-notes §3.2). This module builds that
-- request record, reads the answer, parses the Date header HERE's clock-skew
-- error needs, and keeps the token cache. The clock and the nonce are
-- injected; the transport, the retry policy and the wiring live in the
-- client.
--
--   oauth.token_url(base_url, endpoint)   -> the token endpoint URL
--   oauth.params(creds, opts)             -> the signed parameters, {{k, v}...}
--   oauth.base_string(method, uri, params) -> the OAuth 1.0a base string
--   oauth.authorization(key_id, nonce, timestamp, signature) -> header value
--   oauth.token_request(creds, opts)      -> a transport request record
--   oauth.read_token(result, now [, ctx]) -> token | nil, evcp.Error
--   oauth.parse_http_date(s [, now])      -> epoch seconds | nil
--   oauth.cache(opts)                     -> a token cache (below)
--
-- creds is the record evcp.credentials.resolve makes for kind "oauth":
-- `access_key_id` (a string) and `secret` (an evcp.Secret, core.secret: the
-- access key secret lives only in C; it signs, it is never read back).
--
-- Percent-encoding is evcp.url.segment: RFC 3986's unreserved set
-- (A-Z a-z 0-9 - . _ ~) stays, every other byte becomes %XX in upper-case
-- hex, which is exactly OAuth 1.0a's rule (RFC 5849 §3.6).
--
-- The protocol a client follows with these pieces (one refresh at a time
-- per client; see oauth.cache for the calls):
--   1. Before a data call: tok = cache:valid(now). If cache:begin(now)
--      returns true, this caller refreshes: it sends token_request(creds,
--      {now = wall_clock + skew, url = endpoint}) (re-built, so re-signed
--      with a fresh nonce and timestamp, for every attempt the policy
--      makes), then read_token(result, now). On success cache:store(new);
--      on failure cache:fail(now) and, while tok is still usable, go on with
--      tok (the cache will not let a refresh be tried again for
--      retry_delay seconds). Always end a begun refresh with store or fail
--      (run it under pcall). If begin returns false and tok is nil, another
--      coroutine is refreshing: wait (transport:sleep) and look again,
--      within the call's deadline.
--   2. Send the data call with `Authorization: Bearer <tok.access_token>`.
--   3. A 401 from the data call: if cache:invalidate(tok.access_token)
--      returns true, refresh as in 1 and replay the call once; a second 401
--      is the caller's error. (A false return means another caller already
--      dropped that token: take the current one and replay once.)
--   4. A token answer that read_token turns into kind "clock_skew" (HERE's
--      401204) with err.server_time: re-sign once with now =
--      err.server_time, and keep skew = err.server_time - wall_clock for
--      later signings. Without server_time, or a second 401204, fail with
--      that error.
local core = require("evcp.core")
local url = require("evcp.url")
local json = require("evcp.json")
local errors = require("evcp.error")
local check = require("evcp.check")
local httpdate = require("evcp.httpdate")

local type, tostring, tonumber, setmetatable, pairs, ipairs, next, error =
  type, tostring, tonumber, setmetatable, pairs, ipairs, next, error
local floor, min, huge = math.floor, math.min, math.huge
local byte, concat, sort, format = string.byte, table.concat, table.sort, string.format
local pct = url.segment
local raise, call = check.raise, check.call
local text_bad = core.text_bad

local M = {}

--- HERE's production token endpoint.
M.DEFAULT_TOKEN_URL = "https://account.api.here.com/oauth2/token"
--- The path the token endpoint has under a user's base_url.
M.TOKEN_PATH = "/oauth2/token"
--- Seconds before expiry at which a cached token is refreshed (HERE's SDK).
M.REFRESH_AHEAD = 300
--- Seconds before a failed refresh is tried again while the token is usable.
M.RETRY_DELAY = 30
--- Seconds after which an unfinished refresh no longer blocks another one.
M.LEASE = 60
--- Largest token answer read, in bytes.
M.MAX_BODY = 1024 * 1024
--- Longest access token accepted, in bytes.
M.MAX_TOKEN = 16384
--- Longest expires_in accepted (HERE's tokens last up to 24 h).
M.MAX_EXPIRES_IN = 366 * 86400

local FNAME = "evcp.oauth"

---------------------------------------------------------------------------
-- the signature

--- oauth.token_url(base_url, endpoint) -> URL. With base_url (a string,
-- trailing '/' ignored) the endpoint is base_url .. "/oauth2/token";
-- otherwise endpoint, or HERE's DEFAULT_TOKEN_URL when that is nil too.
function M.token_url(base_url, endpoint)
  if type(base_url) == "string" then return (base_url:gsub("/+$", "")) .. M.TOKEN_PATH end
  return endpoint or M.DEFAULT_TOKEN_URL
end

local DEFAULT_PORT = { http = "80", https = "443" }

--- oauth.base_string_uri(u) -> the URL as OAuth 1.0a signs it (RFC 5849
-- §3.4.1.2): scheme and host in lower case, the scheme's default port left
-- out, "/" for an empty path. nil, reason for anything that is not an
-- http(s) URL without user info, query or fragment.
function M.base_string_uri(u)
  if type(u) ~= "string" then return nil, "must be a string" end
  if #u > 2048 or text_bad(u) or u:find("[%s?#]") then
    return nil, "must be an http(s) URL without spaces, query or fragment"
  end
  local scheme, authority, path = u:match("^(%a[%w+.-]*)://([^/]*)(.*)$")
  if not scheme then return nil, "must be an http(s) URL" end
  scheme = scheme:lower()
  if not DEFAULT_PORT[scheme] then return nil, "must be an http(s) URL" end
  if authority:find("@", 1, true) then return nil, "must not carry user info (user@host)" end
  local host, port = authority:match("^(.-):(%d+)$")
  if not host then host = authority end
  if host == "" or host:find(":", 1, true) and not host:match("^%[[%x:.]+%]$") then
    return nil, "must have a host"
  end
  if port then
    local p = tonumber(port)
    if p < 1 or p > 65535 then return nil, "has a port outside 1..65535" end
    port = format("%d", p)
    if port == DEFAULT_PORT[scheme] then port = nil end
  end
  if path == "" then path = "/" end
  return scheme .. "://" .. host:lower() .. (port and (":" .. port) or "") .. path
end

-- a < b by bytes (Lua's `<` on strings follows the C locale's collation)
local function bytes_less(a, b)
  local n = min(#a, #b)
  for i = 1, n do
    local x, y = byte(a, i), byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

local function pair_less(p, q)
  if p[1] ~= q[1] then return bytes_less(p[1], q[1]) end
  return bytes_less(p[2], q[2])
end

local function base_string_impl(method, uri, params)
  local fname = FNAME .. ".base_string"
  if type(method) ~= "string" or not method:match("^%a+$") then
    raise(fname .. ": argument #1 (method) must be an HTTP method such as POST")
  end
  local norm, why = M.base_string_uri(uri)
  if not norm then raise(fname .. ": argument #2 (uri) " .. why) end
  if type(params) ~= "table" then raise(fname .. ": argument #3 (params) must be a list of {name, value}") end
  local enc = {}
  for i, p in ipairs(params) do
    if type(p) ~= "table" or type(p[1]) ~= "string" or type(p[2]) ~= "string" then
      raise(fname .. ": argument #3 (params)[" .. i .. "] must be {name, value}, two strings")
    end
    enc[i] = { pct(p[1]), pct(p[2]) }
  end
  sort(enc, pair_less)
  local parts = {}
  for i, p in ipairs(enc) do parts[i] = p[1] .. "=" .. p[2] end
  return method:upper() .. "&" .. pct(norm) .. "&" .. pct(concat(parts, "&"))
end

--- oauth.base_string(method, uri, params) -> the signature base string of
-- OAuth 1.0a (here-api-notes §3.2; RFC 5849 §3.4.1): every name and value
-- of params ({{name, value}, ...}, strings) percent-encoded, the pairs
-- sorted by name then value (byte order), joined as name=value with '&';
-- then METHOD & pct(base_string_uri(uri)) & pct(that parameter string).
-- Raises when uri is not an http(s) URL base_string_uri accepts.
function M.base_string(method, uri, params)
  local r = call(base_string_impl, method, uri, params)
  return r
end

--- oauth.authorization(key_id, nonce, timestamp, signature) -> the value of
-- the Authorization header: `OAuth oauth_consumer_key="…",oauth_nonce="…",
-- oauth_signature="…",oauth_signature_method="HMAC-SHA256",
-- oauth_timestamp="…",oauth_version="1.0"`, every value percent-encoded
-- (the base64 signature's + / = become %2B %2F %3D).
function M.authorization(key_id, nonce, timestamp, signature)
  return 'OAuth oauth_consumer_key="' .. pct(key_id) .. '",oauth_nonce="' .. pct(nonce)
    .. '",oauth_signature="' .. pct(signature)
    .. '",oauth_signature_method="HMAC-SHA256",oauth_timestamp="' .. pct(timestamp)
    .. '",oauth_version="1.0"'
end

local REQUEST_OPTS = { now = true, nonce = true, url = true, form = true, request_id = true }
local RESERVED_FORM = { grant_type = true }

local function check_creds(fname, creds)
  if type(creds) ~= "table" or type(creds.access_key_id) ~= "string" or creds.access_key_id == ""
      or type(creds.secret) ~= "userdata" then
    raise(fname .. ": argument #1 (creds) must be OAuth credentials (evcp.credentials.resolve,"
      .. " kind 'oauth')")
  end
end

-- the extra form fields, checked, as a list of {name, value} in name order
local function form_fields(fname, form)
  local list = {}
  if form == nil then return list end
  if type(form) ~= "table" then raise(fname .. ": opts.form must be a table, got " .. type(form)) end
  for k, v in pairs(form) do
    if type(k) ~= "string" or not k:match("^[%w_.-]+$") or #k > 64 then
      raise(fname .. ": opts.form: field names must be 1..64 letters, digits, '_', '.' or '-'")
    end
    if RESERVED_FORM[k] or k:sub(1, 6) == "oauth_" then
      raise(fname .. ": opts.form: field '" .. k .. "' is evcp's own")
    end
    if type(v) == "number" and v == v and v % 1 == 0 and v > -2 ^ 53 and v < 2 ^ 53 then
      v = format("%d", v)
    elseif type(v) ~= "string" or #v > 4096 or text_bad(v) then
      raise(fname .. ": opts.form." .. k .. " must be text (at most 4096 bytes, no control"
        .. " characters) or an integer")
    end
    list[#list + 1] = { k, v }
  end
  sort(list, pair_less)
  return list
end

-- now, nonce, url of a token request, checked
local function request_basics(fname, creds, opts)
  check_creds(fname, creds)
  if type(opts) ~= "table" then raise(fname .. ": argument #2 (opts) must be a table") end
  for k in pairs(opts) do
    if not REQUEST_OPTS[k] then raise(fname .. ": unknown option '" .. tostring(k) .. "'") end
  end
  local now = opts.now
  if type(now) ~= "number" or now ~= now or now < 0 or now >= 2 ^ 53 then
    raise(fname .. ": opts.now must be the time in seconds since the epoch")
  end
  local nonce = opts.nonce
  if nonce == nil then
    nonce = core.random_token(16)
  elseif type(nonce) ~= "string" or nonce == "" or #nonce > 256 or text_bad(nonce) then
    raise(fname .. ": opts.nonce must be 1..256 bytes of text")
  end
  local u = opts.url or creds.token_endpoint or M.DEFAULT_TOKEN_URL
  if not M.base_string_uri(u) then
    raise(fname .. ": the token URL must be an http(s) URL without user info, query or fragment")
  end
  return format("%d", floor(now)), nonce, u
end

-- the parameters a token request signs, and its form fields
local function signed_params(fname, creds, opts)
  local ts, nonce, u = request_basics(fname, creds, opts)
  local form = form_fields(fname, opts.form)
  local p = {
    { "grant_type", "client_credentials" },
    { "oauth_consumer_key", creds.access_key_id },
    { "oauth_nonce", nonce },
    { "oauth_signature_method", "HMAC-SHA256" },
    { "oauth_timestamp", ts },
    { "oauth_version", "1.0" },
  }
  for _, f in ipairs(form) do p[#p + 1] = f end
  return p, form, ts, nonce, u
end

local function params_impl(creds, opts)
  local p = signed_params(FNAME .. ".params", creds, opts)
  return p
end

--- oauth.params(creds, opts) -> the parameters the signature covers, as
-- {{name, value}, ...} (unencoded, oauth_signature left out): grant_type,
-- the five oauth_* parameters and the fields of opts.form. opts as for
-- token_request (give a nonce, or the one drawn here is lost).
function M.params(creds, opts)
  local r = call(params_impl, creds, opts)
  return r
end

local function token_request_impl(creds, opts)
  local fname = FNAME .. ".token_request"
  local params, form, ts, nonce, u = signed_params(fname, creds, opts)
  local body = { "grant_type=client_credentials" }
  for _, f in ipairs(form) do body[#body + 1] = pct(f[1]) .. "=" .. pct(f[2]) end
  local signature = creds.secret:sign(base_string_impl("POST", u, params))
  local headers = {
    Authorization = M.authorization(creds.access_key_id, nonce, ts, signature),
    ["Content-Type"] = "application/x-www-form-urlencoded",
    Accept = "application/json",
  }
  if opts.request_id ~= nil then
    local id = opts.request_id
    if type(id) ~= "string" or id == "" or #id > 256 or text_bad(id) then
      raise(fname .. ": opts.request_id must be 1..256 bytes of text")
    end
    headers["X-Request-ID"] = id
  end
  return { method = "POST", url = u, headers = headers, body = concat(body, "&") }
end

--- oauth.token_request(creds, opts) -> request record for the transport:
-- {method = "POST", url = URL, headers = {Authorization = "OAuth ...",
-- ["Content-Type"] = "application/x-www-form-urlencoded",
-- Accept = "application/json"[, ["X-Request-ID"] = ...]},
-- body = "grant_type=client_credentials[&name=value...]"}.
-- opts:
--   now         seconds since the epoch (required; the wall clock plus the
--               skew learnt from a 401204; oauth_timestamp is its floor)
--   nonce       oauth_nonce (default: 16 random bytes as hex, RAND_bytes)
--   url         the token endpoint (default creds.token_endpoint, else
--               HERE's); see token_url for the base_url rule
--   form        extra form fields {scope = ..., expires_in = ...}, sent in
--               the body and covered by the signature
--   request_id  sent as X-Request-ID
-- Build a new record for every attempt: a signature is good for one
-- request only. Raises on misuse (never quoting a credential).
function M.token_request(creds, opts)
  local r = call(token_request_impl, creds, opts)
  return r
end

--- oauth.parse_http_date(s [, now]) -> seconds since the epoch | nil: an
-- HTTP date (the Date header of a 401204); evcp.httpdate.parse.
M.parse_http_date = httpdate.parse

---------------------------------------------------------------------------
-- the answer

local Token = { __name = "evcp.Token", __metatable = "evcp.Token" }
Token.__index = Token
function Token.__tostring(t)
  return "evcp.Token (redacted, expires at " .. format("%d", floor(t.expires_at)) .. ")"
end

-- a short piece of foreign text for an error, or nil
local function text_of(v)
  if type(v) == "number" and v == v and v % 1 == 0 and v > -2 ^ 53 and v < 2 ^ 53 then
    return format("%d", v)
  end
  if type(v) ~= "string" or v == "" then return nil end
  if #v > 512 then v = v:sub(1, 509) .. "..." end
  return v
end

local function header(res, name)
  local h = res.headers
  return type(h) == "table" and h[name] or nil
end

-- the first of the two spellings (form answer, JSON answer) that is present
local function field(doc, snake, camel)
  local v = doc[snake]
  if v == nil then v = doc[camel] end
  return v
end

local is_object = json.is_object

local function read_token_impl(result, now, ctx)
  if type(result) ~= "table" then
    raise(FNAME .. ".read_token: argument #1 (result) must be a transport result, got " .. type(result))
  end
  if type(now) ~= "number" or now ~= now or now <= -huge or now >= huge then
    raise(FNAME .. ".read_token: argument #2 (now) must be a finite number of seconds")
  end
  ctx = ctx or {}
  if result.kind then return nil, errors.transport(result, ctx) end
  local status, body = result.status, result.body
  if type(status) ~= "number" then
    raise(FNAME .. ".read_token: argument #1 (result) has neither kind nor status")
  end
  local doc, msg
  if type(body) == "string" then
    doc, msg = json.decode(body, { max_bytes = M.MAX_BODY })
  else
    msg = "no body"
  end
  if status >= 200 and status < 300 then
    if doc == nil then return nil, errors.decode("token answer is not JSON: " .. msg, result, ctx) end
    if not is_object(doc) or next(doc) == nil then
      return nil, errors.decode("token answer is not a JSON object", result, ctx)
    end
    local tok, kind, ttl = field(doc, "access_token", "accessToken"), field(doc, "token_type", "tokenType"),
      field(doc, "expires_in", "expiresIn")
    if type(tok) ~= "string" or tok == "" then
      return nil, errors.decode("token answer has no access_token", result, ctx)
    end
    if #tok > M.MAX_TOKEN or not tok:match("^[%w%-._~+/]+=*$") then
      return nil, errors.decode("token answer's access_token is not a bearer token (RFC 6750 token68"
        .. " text of at most " .. M.MAX_TOKEN .. " bytes)", result, ctx)
    end
    if type(kind) ~= "string" or kind:lower() ~= "bearer" then
-- never quoted: a server may put anything there
      return nil, errors.decode("token answer's token_type is " .. (type(kind) == "string" and "not bearer"
        or ("a " .. type(kind) .. ", not bearer")), result, ctx)
    end
    if type(ttl) ~= "number" or ttl ~= ttl or ttl < 1 or ttl > M.MAX_EXPIRES_IN then
      return nil, errors.decode("token answer's expires_in is not a number of seconds in 1.."
        .. M.MAX_EXPIRES_IN, result, ctx)
    end
    local scope = field(doc, "scope", "scope")
    return setmetatable({ access_token = tok, token_type = kind, expires_in = ttl,
      expires_at = now + ttl, scope = type(scope) == "string" and scope or nil }, Token)
  end
  local found = {}
  if is_object(doc) then
    -- the account API's errorCode/message; a gateway in front of it may
    -- answer in the data APIs' ErrorResponse (code, title) instead
    found.code = text_of(doc.errorCode) or text_of(doc.code)
    found.title = text_of(doc.title)
    found.message = text_of(doc.message)
    found.error = text_of(doc.error)
    found.error_description = text_of(doc.error_description)
    found.error_id = text_of(doc.errorId)
    if type(doc.correlationId) == "string" then found.correlation_id = text_of(doc.correlationId) end
  else
    doc = nil
  end
  local e = errors.http(result, ctx, doc, found)
  if found.message then e.message = found.message end
  if e.correlation_id == nil then e.correlation_id = found.correlation_id end
  if status == 401 and e.code == "401204" then
    e.kind = "clock_skew"
    e.server_time = M.parse_http_date(header(result, "date"), now)
  end
  return nil, e
end

--- oauth.read_token(result, now [, ctx]) -> token | nil, err
-- result: the transport's result record for a token_request; now: the
-- time the request was sent, on the clock the token cache uses (the same
-- clock gives expires_at); ctx: {url = "POST <url>", request_id = ...}
-- for the error (optional).
-- token (an evcp.Token: a plain record whose tostring never shows the
-- token): {access_token, token_type, expires_in, expires_at = now +
-- expires_in, scope}. HERE's form answer (access_token, token_type,
-- expires_in) and its JSON answer (accessToken, tokenType, expiresIn) are
-- both read; token_type must be "bearer" in any case; the token must be
-- RFC 6750 token68 text of at most MAX_TOKEN bytes; expires_in a number of
-- seconds in 1..MAX_EXPIRES_IN.
-- err: an evcp.Error. A transport failure keeps its kind; a 2xx answer that
-- is not such a token is kind "decode"; any other status is kind "http"
-- with HERE's fields: code (errorCode, as text: "401300"), message, error,
-- error_description, error_id, and correlation_id, retry_after, body; a
-- 401 with code 401204 (timestamp outside the valid period) is kind
-- "clock_skew" and carries server_time, the seconds since the epoch of the
-- answer's Date header (nil when it has none that parses).
-- No message quotes the token or the body.
function M.read_token(result, now, ctx)
  local tok, err = call(read_token_impl, result, now, ctx)
  return tok, err
end

---------------------------------------------------------------------------
-- the cache

local Cache = { __name = "evcp.TokenCache", __metatable = "evcp.TokenCache" }
Cache.__index = Cache
function Cache.__tostring(c)
  return "evcp.TokenCache: " .. (c.token and "a token" or "empty") .. (c.refreshing and ", refreshing" or "")
end

local CACHE_OPTS = { refresh_ahead = true, retry_delay = true, lease = true, clock = true }

local function seconds_opt(opts, k, dflt)
  local v = opts[k]
  if v == nil then return dflt end
  if type(v) ~= "number" or v ~= v or v < 0 or v > 86400 then
    raise(FNAME .. ".cache: option '" .. k .. "' must be a number of seconds in 0..86400")
  end
  return v
end

local function cache_impl(opts)
  opts = opts or {}
  if type(opts) ~= "table" then raise(FNAME .. ".cache: argument #1 (opts) must be a table") end
  for k in pairs(opts) do
    if not CACHE_OPTS[k] then raise(FNAME .. ".cache: unknown option '" .. tostring(k) .. "'") end
  end
  if opts.clock ~= nil and type(opts.clock) ~= "function" then
    raise(FNAME .. ".cache: option 'clock' must be a function")
  end
  return setmetatable({
    refresh_ahead = seconds_opt(opts, "refresh_ahead", M.REFRESH_AHEAD),
    retry_delay = seconds_opt(opts, "retry_delay", M.RETRY_DELAY),
    lease = seconds_opt(opts, "lease", M.LEASE),
    clock = opts.clock or os.time,
    token = nil, refresh_at = nil, refreshing = false, started_at = nil, failed_at = nil,
  }, Cache)
end

--- oauth.cache(opts) -> a token cache for one client. opts (all optional):
--   refresh_ahead  seconds before expiry to refresh (default 300; for a
--                  token that lives less than twice as long, half its life)
--   retry_delay    seconds a failed refresh waits before the next one while
--                  the cached token is still usable (default 30)
--   lease          seconds after which an unfinished refresh (a caller that
--                  never called store or fail) stops blocking (default 60)
--   clock          function() -> now, used when a method gets no now
--                  (default os.time); read_token's now must be on this clock
-- Methods (now optional everywhere):
--   cache:valid(now) -> the cached token while now < expires_at, else nil
--   cache:begin(now) -> true when the caller must refresh now (and is the
--                       one refresher until store or fail): no refresh
--                       running, and no usable token, or one past its
--                       refresh time whose last refresh did not fail less
--                       than retry_delay ago
--   cache:store(tok) the new token; ends the refresh
--   cache:fail(now)  ends the refresh without a token
--   cache:invalidate([access_token]) -> true when it dropped the cached
--                       token (only if it is access_token, when given)
--   cache.refreshing  true between a begin that returned true and its end
function M.cache(opts)
  local c = call(cache_impl, opts)
  return c
end

local function now_of(c, now)
  if now == nil then now = c.clock() end
  if type(now) ~= "number" or now ~= now then error(FNAME .. ": the cache's clock must give a number", 3) end
  return now
end

--- cache:valid(now) -> token | nil
function Cache:valid(now)
  now = now_of(self, now)
  local t = self.token
  if t and now < t.expires_at then return t end
  return nil
end

--- cache:begin(now) -> boolean (see oauth.cache)
function Cache:begin(now)
  now = now_of(self, now)
  if self.refreshing and now - self.started_at < self.lease then return false end
  local t = self:valid(now)
  if t then
    if now < self.refresh_at then return false end
    if self.failed_at and now - self.failed_at < self.retry_delay then return false end
  end
  self.refreshing, self.started_at = true, now
  return true
end

local function store_impl(self, tok)
  if type(tok) ~= "table" or type(tok.access_token) ~= "string" or type(tok.expires_at) ~= "number" then
    raise(FNAME .. ": cache:store(tok): tok must be a token from read_token")
  end
  local life = tok.expires_in
  if type(life) ~= "number" then life = self.refresh_ahead * 2 end
  self.token = tok
  self.refresh_at = tok.expires_at - min(self.refresh_ahead, life / 2)
  self.refreshing, self.started_at, self.failed_at = false, nil, nil
end

--- cache:fresh(now) -> token | nil: the token while no refresh is due (the
-- common case, decided with one clock read: nothing else to do).
function Cache:fresh(now)
  local t = self.token
  if t == nil or self.refreshing then return nil end
  now = now_of(self, now)
  if now < self.refresh_at and now < t.expires_at then return t end
  return nil
end

--- cache:pending(now) -> boolean: a refresh begun by another caller is
-- under way (and its lease has not run out).
function Cache:pending(now)
  now = now_of(self, now)
  return self.refreshing == true and now - self.started_at < self.lease
end

--- cache:store(tok): keeps tok (from read_token) and ends the refresh.
function Cache:store(tok)
  call(store_impl, self, tok)
end

--- cache:fail(now): ends the refresh without a new token.
function Cache:fail(now)
  self.failed_at = now_of(self, now)
  self.refreshing, self.started_at = false, nil
end

--- cache:invalidate([access_token]) -> boolean
function Cache:invalidate(access_token)
  local t = self.token
  if t == nil or (access_token ~= nil and t.access_token ~= access_token) then return false end
  self.token, self.refresh_at = nil, nil
  return true
end

return M
