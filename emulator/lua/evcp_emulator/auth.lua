-- evcp_emulator.auth: which credentials a request presents, whether they are valid, and
-- HERE's OAuth token endpoint (POST /oauth2/token, OAuth 1.0a HMAC-SHA256 signatures).
-- The same for v3 and v2: the `apiKey` query parameter or `Authorization: Bearer <token>`.
--
--   local a = auth.new{api_keys = {...}, tokens = {...}, restricted_keys = {...},
--                      access_keys = {["ID"] = "SECRET"}, token_ttl = 86399,
--                      clock_window = 600, clock_offset = 0, token_url = nil,
--                      store = <ngx.shared dict or nil>}
--   a:check(params, headers) -> ok, restricted_ok, error_description
--   a:token(req) -> status, body, headers      req = {method, url, headers, body}
--   a:now() -> the emulator's clock (Unix seconds, clock_offset applied)
-- With no list at all, "demo-key" is the one api key. A restricted key is accepted both
-- as an api key and as a token, and may also request the RESTRICTED v3 fields.
--
-- The signature is checked with the emulator's own code: the base string is built here,
-- HMAC-SHA256 comes from libcrypto through LuaJIT's FFI (nginx links libcrypto), base64
-- from ngx.encode_base64 (or the small encoder below). Nothing is shared with the client.
local cjson = require("cjson").new()
local query = require("evcp_emulator.query")

local byte, format, sub, gsub, find, lower, concat, sort, floor =
  string.byte, string.format, string.sub, string.gsub, string.find,
  string.lower, table.concat, table.sort, math.floor

local M = {}
M.__index = M

M.DEFAULT_TOKEN_TTL = 86399
M.DEFAULT_CLOCK_WINDOW = 600
-- what HERE's gateway says about a token outside its validity (here-api-notes §4)
M.EXPIRED_DESCRIPTION = "Token Validation Failure - invalid time in token"

local function set_of(list)
  local s = {}
  for _, v in ipairs(list or {}) do s[v] = true end
  return s
end

-- A store with the subset of ngx.shared.DICT's interface used here (get, set, add,
-- incr, delete), for plain Lua (no nginx): expiry by os.time().
local function table_store()
  local data = {}
  local st = {}
  local function live(k)
    local e = data[k]
    if e and e.exp and e.exp <= os.time() then data[k] = nil; return nil end
    return e
  end
  function st.get(_, k) local e = live(k); return e and e.v end
  function st.set(_, k, v, exptime)
    data[k] = { v = v, exp = (exptime and exptime > 0) and os.time() + exptime or nil }
    return true
  end
  function st.add(self, k, v, exptime)
    if live(k) then return false, "exists" end
    return self:set(k, v, exptime)
  end
  function st.delete(_, k) data[k] = nil end
  function st.incr(_, k, by, init)
    local e = live(k)
    if not e then e = { v = init or 0 }; data[k] = e end
    e.v = e.v + by
    return e.v
  end
  return st
end
M.table_store = table_store

function M.new(cfg)
  local self = setmetatable({
    api_keys = set_of(cfg.api_keys),
    tokens = set_of(cfg.tokens),
    restricted = set_of(cfg.restricted_keys),
    access_keys = cfg.access_keys or {},
    token_ttl = cfg.token_ttl or M.DEFAULT_TOKEN_TTL,
    clock_window = cfg.clock_window or M.DEFAULT_CLOCK_WINDOW,
    clock_offset = cfg.clock_offset or 0,
    token_url = cfg.token_url,
    store = cfg.store or table_store(),
    clock = cfg.now or (ngx and ngx.now) or os.time,
  }, M)
  for k in pairs(self.restricted) do self.api_keys[k] = true; self.tokens[k] = true end
  if cfg.api_keys == nil and cfg.tokens == nil and cfg.restricted_keys == nil then
    self.api_keys["demo-key"] = true
  end
  return self
end

function M:now()
  return self.clock() + self.clock_offset
end

-- An issued token: the store holds "tok:<token>" -> "<expiry>|<restricted 0/1>", kept an
-- hour past its expiry so that an expired token is told apart from an unknown one.
local function issued(self, token)
  local v = self.store:get("tok:" .. token)
  if not v then return nil end
  local exp, r = v:match("^([%d%.]+)|([01])$")
  return tonumber(exp), r == "1"
end

-- A request is authenticated when any credential it presents is valid; an empty
-- `apiKey=` counts as none.
function M:check(params, headers)
  local presented = false
  local ok, restricted_ok, expired = false, false, false
  for _, key in ipairs(params.apiKey or {}) do
    if key ~= "" then
      presented = true
      if self.api_keys[key] then
        ok = true
        if self.restricted[key] then restricted_ok = true end
      end
    end
  end
  local header = headers["authorization"]
  if type(header) == "table" then header = header[1] end
  if header and header ~= "" then
    presented = true
    local token = header:match("^[Bb][Ee][Aa][Rr][Ee][Rr]%s+(%S+)%s*$")
    if token and self.tokens[token] then
      ok = true
      if self.restricted[token] then restricted_ok = true end
    elseif token then
      local exp, r = issued(self, token)
      if exp and self:now() < exp then
        ok = true
        if r then restricted_ok = true end
      elseif exp then
        expired = true
      end
    end
  end
  if not presented then return false, false, "No credentials found" end
  if not ok then
    return false, false, expired and M.EXPIRED_DESCRIPTION or "Invalid credentials"
  end
  return true, restricted_ok
end

-- ---- crypto: HMAC-SHA256 (libcrypto via FFI), base64, random bytes ----------------

local crypto -- false when unavailable; {hmac = fn, random = fn}
local function load_crypto()
  if crypto ~= nil then return crypto end
  crypto = false
  local okf, ffi = pcall(require, "ffi")
  if not okf then return crypto end
  pcall(ffi.cdef, [[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md,
                    unsigned int *md_len);
int RAND_bytes(unsigned char *buf, int num);
]])
  local lib
  for _, try in ipairs({ function() return ffi.C end,
    function() return ffi.load("libcrypto.so.3") end,
    function() return ffi.load("crypto") end }) do
    local ok, l = pcall(try)
    if ok and l and pcall(function() return l.HMAC and l.EVP_sha256 end) then lib = l; break end
  end
  if not lib then return crypto end
  local md = ffi.new("unsigned char[64]")
  local mdlen = ffi.new("unsigned int[1]")
  crypto = {
    hmac = function(key, msg)
      mdlen[0] = 64
      if lib.HMAC(lib.EVP_sha256(), key, #key, msg, #msg, md, mdlen) == nil then
        return nil
      end
      return ffi.string(md, mdlen[0])
    end,
    random = function(n)
      local buf = ffi.new("unsigned char[?]", n)
      if lib.RAND_bytes(buf, n) ~= 1 then return nil end
      return ffi.string(buf, n)
    end,
  }
  return crypto
end
M.crypto = load_crypto

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(s)
  if ngx and ngx.encode_base64 then return ngx.encode_base64(s) end
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = byte(s, i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1, c2 = floor(n / 262144) % 64, floor(n / 4096) % 64
    local c3, c4 = floor(n / 64) % 64, n % 64
    out[#out + 1] = sub(B64, c1 + 1, c1 + 1) .. sub(B64, c2 + 1, c2 + 1)
      .. (b and sub(B64, c3 + 1, c3 + 1) or "=") .. (c and sub(B64, c4 + 1, c4 + 1) or "=")
  end
  return concat(out)
end
M.base64 = base64

local function random_hex(n)
  local c = load_crypto()
  local raw = c and c.random(n)
  if raw then
    return (gsub(raw, ".", function(ch) return format("%02x", byte(ch)) end))
  end
  local out = {}
  for i = 1, n do out[i] = format("%02x", math.random(0, 255)) end
  return concat(out)
end

-- ---- OAuth 1.0a ----------------------------------------------------------------------

-- RFC 5849 3.6: every byte except the unreserved ones as %XX (upper-case hex)
local function pct(s)
  return (gsub(s, "[^%w%-%._~]", function(ch) return format("%%%02X", byte(ch)) end))
end
M.pct = pct

-- Authorization: OAuth k="v", k="v" ... -> table (values percent-decoded) | nil
local function parse_oauth_header(h)
  if type(h) ~= "string" then return nil end
  local rest = h:match("^%s*[Oo][Aa][Uu][Tt][Hh]%s+(.-)%s*$")
  if not rest or rest == "" then return nil end
  local params, pos = {}, 1
  while pos <= #rest do
    local s, e, name, value = find(rest, '^%s*([%w_]+)%s*=%s*"([^"]*)"%s*', pos)
    if not s then return nil end
    if params[name] ~= nil then return nil end -- a repeated parameter
    params[name] = query.url_unescape(value, true)
    pos = e + 1
    if pos <= #rest then
      if sub(rest, pos, pos) ~= "," then return nil end
      pos = pos + 1
    end
  end
  return params
end

-- The signature base string (RFC 5849 3.4.1; here-api-notes §3.2): method, the base URL
-- and every parameter (query, form body, oauth_* except oauth_signature and realm),
-- each name and value percent-encoded, sorted by name and then value.
function M.base_string(method, url, pairs_list)
  local enc = {}
  for i, p in ipairs(pairs_list) do enc[i] = { pct(p[1]), pct(p[2]) } end
  sort(enc, function(a, b) if a[1] ~= b[1] then return a[1] < b[1] end return a[2] < b[2] end)
  local parts = {}
  for i, p in ipairs(enc) do parts[i] = p[1] .. "=" .. p[2] end
  return method .. "&" .. pct(url) .. "&" .. pct(concat(parts, "&"))
end

-- The URL the client signed: --token-url, else scheme://host[:port]/oauth2/token from the
-- request's Host header (lower-case, default ports left out, RFC 5849 3.4.1.2).
local function base_url(self, req)
  if self.token_url then return self.token_url end
  local scheme = lower(req.scheme or "http")
  local host = lower(req.host or "localhost")
  if (scheme == "http" and sub(host, -3) == ":80") then host = sub(host, 1, -4) end
  if (scheme == "https" and sub(host, -4) == ":443") then host = sub(host, 1, -5) end
  return scheme .. "://" .. host .. (req.path or "/oauth2/token")
end

local function uuid()
  local h = random_hex(16)
  return format("%s-%s-4%s-%x%s-%s", sub(h, 1, 8), sub(h, 9, 12), sub(h, 14, 16),
    8 + tonumber(sub(h, 17, 17), 16) % 4, sub(h, 18, 20), sub(h, 21, 32))
end

-- HERE's token endpoint error body (here-api-notes §3.2)
local RFC_ERROR = { [400] = "invalid_request", [401] = "invalid_client",
  [405] = "invalid_request", [500] = "server_error" }
function M.oauth_error(status, code, message, rfc)
  return status, cjson.encode({
    errorId = "ERROR-" .. uuid(), httpStatus = status, errorCode = code, message = message,
    error = rfc or RFC_ERROR[status] or "invalid_request", error_description = message,
  })
end
local oauth_error = M.oauth_error

local function first(h, name)
  local v = h[name]
  if type(v) == "table" then v = v[1] end
  return v
end

-- POST /oauth2/token. req = {method, scheme, host, path, query (raw string), headers
-- (lower-case names), body}. Returns status, body, headers.
function M:token(req)
  local headers = req.headers or {}
  local now = self:now()
  local out = { ["Content-Type"] = "application/json", ["Cache-Control"] = "no-store",
    ["Date"] = M.http_date(now) }
  local function fail(status, code, msg, rfc)
    local s, b = oauth_error(status, code, msg, rfc)
    return s, b, out
  end
  if req.method ~= "POST" then
    out["Allow"] = "POST"
    return fail(405, "405002", "The token endpoint accepts POST only")
  end
  -- the body: form (parameters that are signed) or HERE's JSON form (not signed)
  local ctype = lower(first(headers, "content-type") or "")
  local mime = ctype:match("^%s*([^;%s]+)") or ""
  local form, json = nil, nil
  local body = req.body or ""
  if mime == "application/x-www-form-urlencoded" then
    form = {}
    for pair in body:gmatch("[^&]+") do
      local k, v = pair:match("^([^=]*)=?(.*)$")
      form[#form + 1] = { query.url_unescape(k), query.url_unescape(v) }
    end
  elseif mime == "application/json" then
    local ok, v = pcall(cjson.decode, body)
    if not ok or type(v) ~= "table" then
      return fail(400, "400002", "The request body is not valid JSON")
    end
    json = v
  elseif mime == "" then
    return fail(400, "400003", "Missing Content-Type")
  else
    return fail(400, "400004", "Unsupported Content-Type: " .. mime)
  end

  -- the OAuth header
  local oauth = parse_oauth_header(first(headers, "authorization"))
  if not oauth then
    return fail(401, "401202", "Invalid Authorization header: not an OAuth header")
  end
  for _, name in ipairs({ "oauth_consumer_key", "oauth_nonce", "oauth_signature",
    "oauth_signature_method", "oauth_timestamp" }) do
    if not oauth[name] or oauth[name] == "" then
      return fail(401, "401202", "Invalid Authorization header: missing " .. name)
    end
  end
  if oauth.oauth_signature_method ~= "HMAC-SHA256" then
    return fail(401, "401205", "Unsupported signature method: " .. oauth.oauth_signature_method)
  end
  if oauth.oauth_version ~= nil and oauth.oauth_version ~= "1.0" then
    return fail(401, "401206", "Unsupported oauth_version: " .. oauth.oauth_version)
  end
  local ts = oauth.oauth_timestamp
  if not ts:match("^%d+$") or #ts > 12 then
    return fail(401, "401202", "Invalid Authorization header: oauth_timestamp is not a number")
  end
  if math.abs(tonumber(ts) - floor(now)) > self.clock_window then
    return fail(401, "401204", "Timestamp is outside the valid period")
  end
  local secret = self.access_keys[oauth.oauth_consumer_key]
  if not secret then
    return fail(401, "401300", "Invalid credentials")
  end
  local plist = {}
  for k, v in pairs(oauth) do
    if k ~= "oauth_signature" and k ~= "realm" then plist[#plist + 1] = { k, v } end
  end
  for k, list in pairs(query.parse(req.query)) do
    for _, v in ipairs(list) do plist[#plist + 1] = { k, v } end
  end
  for _, p in ipairs(form or {}) do plist[#plist + 1] = p end
  local c = load_crypto()
  if not c then return fail(500, "500000", "HMAC-SHA256 is not available") end
  local bstr = M.base_string("POST", base_url(self, req), plist)
  local mac = c.hmac(pct(secret) .. "&", bstr)
  if not mac or base64(mac) ~= oauth.oauth_signature then
    return fail(401, "401300", "Invalid credentials: the signature does not match")
  end
  local ok, err = self.store:add("nonce:" .. oauth.oauth_consumer_key .. ":" .. oauth.oauth_nonce,
    "1", 2 * self.clock_window + 60)
  if not ok and err == "exists" then
    return fail(401, "401207", "The nonce has already been used")
  end

  -- the grant
  local grant, asked
  if form then
    for _, p in ipairs(form) do
      if p[1] == "grant_type" then grant = p[2] end
      if p[1] == "expires_in" then asked = p[2] end
    end
  else
    grant, asked = json.grantType, json.expiresIn
  end
  if grant ~= "client_credentials" then
    local s, b = oauth_error(400, "400200", "Invalid data", "unsupported_grant_type")
    local t = cjson.decode(b)
    t.errorFields = { { name = form and "grant_type" or "grantType", errorCode = "400290",
      message = "Illegal grant type: " .. tostring(grant) } }
    return s, cjson.encode(t), out
  end
  local ttl = self.token_ttl
  asked = tonumber(asked)
  if asked and asked >= 1 and asked < ttl then ttl = floor(asked) end
  local token = "emu." .. random_hex(24)
  self.store:set("tok:" .. token, format("%.3f|%d", now + ttl,
    self.restricted[oauth.oauth_consumer_key] and 1 or 0), ttl + 3600)
  if form then
    return 200, cjson.encode({ access_token = token, token_type = "bearer", expires_in = ttl }), out
  end
  return 200, cjson.encode({ accessToken = token, tokenType = "bearer", expiresIn = ttl }), out
end

local DAYS = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" }
local MONTHS = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
  "Nov", "Dec" }
-- RFC 9110 IMF-fixdate, whatever the locale
function M.http_date(t)
  local d = os.date("!*t", floor(t))
  return format("%s, %02d %s %04d %02d:%02d:%02d GMT", DAYS[d.wday], d.day, MONTHS[d.month],
    d.year, d.hour, d.min, d.sec)
end

return M
