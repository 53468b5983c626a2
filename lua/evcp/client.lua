--- evcp.client: evcp.Client, the one client class, defined here and only here.
--
-- A client ties together what the layers below provide, per request:
--
--   plan (evcp.v3 / evcp.v2, pure)  ->  URL from the base of the plan's API
--   -> auth:apply (evcp.auth, per attempt)  ->  policy:run (evcp.policy,
--   retries)  ->  transport:run (libcurl, or any object with the same
--   seam)  ->  read (evcp.v3 / evcp.v2, pure)  ->  errors scrubbed of
--   secrets (auth:scrub)  ->  the caller.
--
-- A client's state lives in a private weak table, never in a field the
-- caller can reach; the client is a userdata (core.new_object) whose
-- metatable is locked. `client.v2` is the
-- API v2 object of the same client (same transport, credentials, policy).
local core = require("evcp.core")
local check = require("evcp.check")
local url = require("evcp.url")
local auth = require("evcp.auth")
local policy = require("evcp.policy")
local errors = require("evcp.error")
local response = require("evcp.response")
local credentials = require("evcp.credentials")
local oauth = require("evcp.oauth")
local json = require("evcp.json")
local v3 = require("evcp.v3")
local v2 = require("evcp.v2")

local type, tostring, setmetatable, error = type, tostring, setmetatable, error
local fail = check.fail

local M = {}

--- HERE's production base URL of API v3 (paths start with /v3).
M.DEFAULT_BASE_URL = "https://evcp.hereapi.com"
--- HERE's production base URL of API v2 (a host of its own).
M.DEFAULT_V2_BASE_URL = "https://ev-v2.cc.api.here.com"
--- Default largest response body, in bytes (after decompression).
M.DEFAULT_MAX_BODY = 32 * 1024 * 1024

--- The transports `evcp.new{transport = NAME}` makes: the blocking libcurl
-- one (the default), and one per host event loop (docs/HOSTS.md), each a
-- module whose new(curl_opts, host_opts) gives an object of the transport
-- seam that yields to its host while transfers run.
M.HOSTS = { curl = true, resty = "evcp.hosts.resty", ["resty.http"] = "evcp.hosts.resty_http",
  nvim = "evcp.hosts.nvim", uv = "evcp.hosts.uv" }

-- client -> state, and V2 object -> the same state. A state never refers
-- back to its client or V2 object, so weak keys let both be collected.
local state = setmetatable({}, { __mode = "k" })
local v2_state = setmetatable({}, { __mode = "k" })
local v2_of = setmetatable({}, { __mode = "k" })

local Client = {} -- the methods
local V2 = {}     -- the methods of client.v2

---------------------------------------------------------------------------
-- sending plans

local query = url.query
local record, note = response.record, response.note

-- A fresh X-Request-ID: a UUID version 4 (core.request_id: OpenSSL's
-- RAND_bytes through a per-thread pool, formatted in C).
local new_request_id = core.request_id

-- Fills plan.url (without credentials) and returns the request's context:
-- {method, target (the URL, shown only in an error or evcp.response, via
-- evcp.error.ctx_url), request_id}. Every request carries an X-Request-ID:
-- the caller's, else a new one.
local function locate(s, p)
  if p.request_id == nil then p.request_id = new_request_id() end
  local q = query(p.query)
  local base = p.base or s.bases[p.api] -- a plan may bring its own (the stream's node)
  local u
  if q ~= "" then u = base .. p.path .. "?" .. q else u = base .. p.path end
  p.url = u
  return { method = p.method, target = u, request_id = p.request_id }
end

-- The function that turns a located plan into a request record, once per
-- attempt (policy.run calls it): fresh tables every time, so that nothing
-- a transport or an authenticator does to one record reaches another.
local function preparer(a)
  local apply = a.apply
  return function(p)
    local headers = { Accept = p.accept }
    if p.request_id then headers["X-Request-ID"] = p.request_id end
    local req = { method = p.method, url = p.url, headers = headers }
    local body = p.body
    if body ~= nil then
      req.body = body
      headers["Content-Type"] = p.content_type or "application/json"
    end
    if p.idempotent then req.idempotent = true end
    apply(a, req)
    -- a plan may carry the token to send (the stream's /offsets: the one
    -- its last /partitions call used); a refresh is not made for it
    if p.token then headers.Authorization = "Bearer " .. p.token end
    return req
  end
end

---------------------------------------------------------------------------
-- tokens that change (a token provider, HERE OAuth)

-- an auth error (tier 2) of the credential, never quoting it
local function auth_error(message, url_shown)
  return errors.new({ kind = "auth", message = message, url = url_shown })
end

-- Asks the caller's token_provider for a token; returns it or nil, err.
local function provided_token(s)
  local ok, tok, msg = pcall(s.cred.token_provider)
  if not ok then return nil, auth_error("token_provider raised an error: " .. tostring(tok)) end
  if tok == nil then return nil, auth_error("token_provider gave no token: " .. tostring(msg or "no reason")) end
  if type(tok) ~= "string" or tok == "" or #tok > oauth.MAX_TOKEN or not tok:match("^[%w%-._~+/]+=*$") then
    return nil, auth_error("token_provider gave a " .. type(tok) .. " that is not a bearer token")
  end
  return tok
end

-- One token from HERE's token endpoint (signed afresh for every attempt
-- the policy makes; re-signed once with HERE's clock after a 401204, and
-- once after a 401207: libcurl sends a request again by itself when the
-- kept-alive connection it used dies under it, so HERE may have seen the
-- nonce already though evcp made one attempt).
local TOKEN_PLAN = {}
local function fetch_token(s, stop)
  local endpoint = s.cred.token_endpoint
  local ctx = { method = "POST", target = endpoint }
  local skewed, renonced, sent = false, false, 0
  while true do
    local sent_at
    local res = s.policy:run(s.transport, { TOKEN_PLAN }, function()
      sent_at = s.wall()
      local req = oauth.token_request(s.cred, { now = sent_at + s.skew, url = endpoint })
      req.idempotent = true -- a token request may be sent again: it is signed anew
      return req
    end, stop)[1]
    sent = sent + (res.attempts or 1) -- both rounds count, when re-signed
    res.attempts = sent
    local tok, err = oauth.read_token(res, sent_at, ctx)
    if tok then return tok end
    if err.kind == "clock_skew" and err.server_time ~= nil and not skewed then
      s.skew = err.server_time - s.wall()
      skewed = true
    elseif err.code == "401207" and not renonced then
      renonced = true -- the next signature has a fresh nonce anyway
    else
      return nil, err
    end
  end
end

-- The OAuth token for the next call (evcp.oauth's protocol: one refresh at
-- a time, ahead of expiry; a usable token survives a failed refresh).
-- How often a call that waits for another call's token refresh looks again.
local TOKEN_WAIT = 0.05

local function oauth_token(s, stop)
  local cache = s.tokens
  local tok = cache:fresh()
  if tok then return tok.access_token end
  tok = cache:valid()
  if cache:begin() then
    local ok, new, err = pcall(fetch_token, s, stop)
    if ok and new then
      cache:store(new)
      tok = new
    else
      cache:fail()
      if not ok then error(new, 0) end
      if tok == nil then return nil, err end
    end
  end
  if tok == nil and cache:pending() then
    -- another call (a coroutine on a host's loop) is fetching one: wait for
    -- it within this call's deadline; the pause yields to the host
    local p, t = s.policy, s.transport
    while cache:pending() and p:now(t) + TOKEN_WAIT < stop do p:pause(t, TOKEN_WAIT) end
    tok = cache:valid()
    if tok == nil then
      return nil, auth_error("no OAuth token: the refresh another call made "
        .. (cache:pending() and "did not end within the deadline" or "failed"))
    end
  end
  if tok == nil then return nil, auth_error("no OAuth token: a refresh is already under way") end
  return tok.access_token
end

-- Gives the changing authenticator its token for the next call; nil, err
-- when there is none.
local function ready(s, again, stop)
  local tok, err
  if s.cred.kind == "oauth" then
    if again then s.tokens:invalidate(s.auth:current()) end
    tok, err = oauth_token(s, stop)
  else
    tok, err = provided_token(s)
  end
  if tok == nil then return nil, err end
  s.auth:use(tok)
  return true
end

-- Sends plans through the policy and the transport; returns the results.
-- A changing token is fetched first (its failure is every plan's result),
-- and a 401 gets one new token and one replay: all within one deadline.
local function run(s, plans)
  local stop = s.policy:stop_time(s.transport)
  if s.auth.use then
    local ok, err = ready(s, false, stop)
    if not ok then
      local failed = {}
      for i = 1, #plans do failed[i] = { kind = "auth", message = err.message, error = err } end
      return failed
    end
  end
  local results = s.policy:run(s.transport, plans, s.prepare, stop)
  local any401 = false
  for i = 1, #plans do
    if results[i].status == 401 then
      any401 = true
      break
    end
  end
  if any401 and s.auth.use then
    local again, where = {}, {}
    for i = 1, #plans do
      if results[i].status == 401 then
        where[#where + 1] = i
        again[#again + 1] = plans[i]
      end
    end
    if #where > 0 and ready(s, true, stop) then
      local more = s.policy:run(s.transport, again, s.prepare, stop)
      for j, i in ipairs(where) do
        more[j].attempts = (more[j].attempts or 1) + (results[i].attempts or 1)
        results[i] = more[j]
      end
    end
  end
  return results
end

-- Sends plans; returns results, ctxs.
local function send(s, plans)
  local ctxs = {}
  for i = 1, #plans do ctxs[i] = locate(s, plans[i]) end
  if s.auth.use then return run(s, plans), ctxs end
  return s.policy:run(s.transport, plans, s.prepare), ctxs
end

-- The same for one plan; returns its result and ctx.
local function send1(s, p)
  local ctx = locate(s, p)
  if s.auth.use and not p.token then return run(s, { p })[1], ctx end
  return s.policy:run(s.transport, { p }, s.prepare)[1], ctx
end

-- Errors leave the client only after every string in them is scrubbed.
local function out(s, v, err)
  if v == nil and err ~= nil then auth.scrub_error(s.auth, err) end
  return v, err
end

-- The same for a result of one exchange, noted for evcp.response (with
-- the items of a list result, so that each Location answers too).
local function out1(s, res, ctx, v, err)
  if v == nil then
    if err ~= nil then auth.scrub_error(s.auth, err) end
    return v, err
  end
  local rec = record(res, ctx)
  note(v, rec)
  local items = type(v) == "table" and v.items
  if type(items) == "table" then
    for i = 1, #items do note(items[i], rec) end
  end
  return v
end

-- The state of an open client behind self (a client, or its V2 object);
-- raises at the caller's level otherwise.
local function open(states, how, self, fname)
  local s = states[self]
  if s == nil then error(fname .. ": call it as " .. how .. fname .. "(...)", 4) end
  if s.closed then error(fname .. ": the client is closed", 4) end
  return s
end

-- (not tail calls: the level above counts their frames)
local function open_state(self, fname)
  local s = open(state, "client:", self, fname)
  return s
end
local function open_v2(self, fname)
  local s = open(v2_state, "client.v2:", self, fname)
  return s
end

---------------------------------------------------------------------------
-- the status stream (evcp.stream): its private door into the client

-- HERE's API lookup, which gives a catalog's stream and blob base URLs.
M.DEFAULT_LOOKUP_BASE_URL = "https://api-lookup.data.api.platform.here.com"

local function door_of(s)
  local door = s.door
  if door then return door end
  local kind = s.cred.kind
  door = {
    -- the Data API takes bearer tokens only
    bearer = kind == "oauth" or kind == "token_provider" or kind == "access_token",
    lookup_base = s.bases.lookup,
    allow_http = s.allow_http,
    max_body = s.max_body,
    -- plan -> result, ctx (a plan may bring base, body, content_type, token)
    send = function(p) return send1(s, p) end,
    -- an error on its way out, scrubbed
    out = function(v, err) return out(s, v, err) end,
    -- the token the authenticator sent last (nil without a changing one)
    token = function()
      if s.auth.current then return s.auth:current() end
      return nil
    end,
    now = function() return s.policy:now(s.transport) end,
    pause = function(sec) s.policy:pause(s.transport, sec) end,
    closed = function() return s.closed end,
    new_id = new_request_id,
  }
  s.door = door
  return door
end

--- client:stream(opts) -> Consumer (evcp.stream; docs/API.md)
function Client:stream(opts)
  local s = open_state(self, "stream")
  local c, err = check.call(require("evcp.stream").open, door_of(s), opts)
  return c, err
end

---------------------------------------------------------------------------
-- API v3

--- client:location(id, opts) -> Location | nil, err
function Client:location(id, opts)
  local s = open_state(self, "location")
  local p = check.call(v3.location_plan, id, opts)
  local res, ctx = send1(s, p)
  return out1(s, res, ctx, v3.location_read(res, ctx, s.limits3))
end

--- client:locations(ids, opts) -> {items, missing} | nil, err
function Client:locations(ids, opts)
  local s = open_state(self, "locations")
  local plans, job = check.call(v3.locations_plan, ids, opts)
  local results, ctxs = send(s, plans)
  local recs = {}
  for i = 1, #results do recs[i] = record(results[i], ctxs[i]) end
  -- each Location answers for its own request (err.partial's too)
  local v, err = v3.locations_read(results, ctxs, job, s.limits3, function(loc, i) note(loc, recs[i]) end)
  if v ~= nil then response.note_many(v, recs) end
  return out(s, v, err)
end

--- client:country_metadata(codes, opts) -> MetadataByCountry table | nil, err
function Client:country_metadata(codes, opts)
  local s = open_state(self, "country_metadata")
  local p = check.call(v3.country_metadata_plan, codes, opts)
  local res, ctx = send1(s, p)
  return out1(s, res, ctx, v3.plain_read(res, ctx, p, s.limits_plain))
end

local function service(name)
  return function(self, opts)
    local s = open_state(self, name)
    local p = check.call(v3.service_plan, name, opts)
    local res, ctx = send1(s, p)
    return out1(s, res, ctx, v3.plain_read(res, ctx, p, s.limits_plain))
  end
end

--- client:health(opts) -> {status = "ok"|"fail", message?} | nil, err
Client.health = service("health")
--- client:version(opts) -> {apiVersion, serviceVersion?} | nil, err
Client.version = service("version")
--- client:openapi(opts) -> the service's OpenAPI document | nil, err
Client.openapi = service("openapi")

---------------------------------------------------------------------------
-- API v2 (client.v2)

local function v2_call(s, p)
  local res, ctx = send1(s, p)
  return out1(s, res, ctx, v2.read(res, ctx, p, s.max_body))
end

--- client.v2:stations(opts) -> {items = {Location...}, hasMore, count} | nil, err
function V2:stations(opts)
  local s = open_v2(self, "stations")
  return v2_call(s, check.call(v2.stations_plan, opts))
end

--- client.v2:each_station(opts) -> iterator over Locations across all pages.
-- The iterator raises nothing: on a failure it returns false, err once (so
-- that `for loc, err in ...` sees it), then stops.
function V2:each_station(opts)
  local s = open_v2(self, "each_station")
  local pager = check.call(v2.pages_plan, opts)
  local offset, page, i, more, done = pager.first, nil, 0, true, false
  return function()
    if done then return nil end
    while page == nil or i >= #page.items do
      if not more or s.closed then
        done = true
        return nil
      end
      local res, err = v2_call(s, pager.plan(offset))
      if not res then
        done = true
        return false, err
      end
      page, i = res, 0
      offset = offset + #res.items
      more = res.hasMore and #res.items > 0
      if #res.items == 0 then
        done = true
        return nil
      end
    end
    i = i + 1
    return page.items[i]
  end
end

--- client.v2:count(opts) -> integer | nil, err (filters do not apply: HERE)
function V2:count(opts)
  local s = open_v2(self, "count")
  return v2_call(s, check.call(v2.count_plan, opts))
end

--- client.v2:station(id, opts) -> Location | nil, err (station details)
function V2:station(id, opts)
  local s = open_v2(self, "station")
  return v2_call(s, check.call(v2.station_plan, id, opts))
end

--- client.v2:pool(poolId, opts) -> {items, hasMore} | nil, err (location details)
function V2:pool(id, opts)
  local s = open_v2(self, "pool")
  return v2_call(s, check.call(v2.pool_plan, id, opts))
end

local function resource(name)
  return function(self, a, b)
    local s = open_v2(self, name)
    return v2_call(s, check.call(v2.resource_plan, name, a, b))
  end
end

--- client.v2:stations_bulk(ids, opts) -> {items, hasMore} | nil, err
V2.stations_bulk = resource("stations_bulk")
--- client.v2:pools(poolIds, opts) -> {items, hasMore} | nil, err (pools bulk)
V2.pools = resource("pools")
--- client.v2:evses(poolIds, opts) -> the EVSEs Response as a plain table | nil, err
V2.evses = resource("evses")
--- client.v2:connector_types(opts), :power_feed_types(opts), :roamings(opts)
-- -> the lookup list as a plain table | nil, err
V2.connector_types = resource("connector_types")
V2.power_feed_types = resource("power_feed_types")
V2.roamings = resource("roamings")

---------------------------------------------------------------------------
-- the callback form (docs/HOSTS.md)
--
-- Every call but each_station also takes a function as its last argument:
-- client:location(id, opts, function(loc, err) ... end). The call then runs
-- in a coroutine of its own and the function gets what the call returns. A
-- host transport (resty, nvim, uv) yields that coroutine while transfers
-- run, so the call returns at once and the function is called later (in
-- Neovim, on the main loop); the blocking transport calls it before the
-- call returns. A misuse (a bad argument, a closed client) raises at the
-- caller's line either way, before anything is sent.

local unpack = table.unpack or unpack -- luacheck: ignore 143
local create, resume = coroutine.create, coroutine.resume
local HERE = debug.getinfo(1, "S").short_src

-- the misuse raised inside the coroutine, re-raised at the caller's line
-- (its position, which named this file's coroutine body, is dropped)
local function reraise(msg)
  if type(msg) == "string" then
    local pos = msg:match("^(.-:%d+: )")
    if pos and pos:sub(1, #HERE) == HERE then msg = msg:sub(#pos + 1) end
  end
  error(msg, 4) -- reraise < start < the method wrapper < the caller
end

local function start(method, self, n, ...)
  local args = { ... }
  local cb = args[n]
  local co = create(function()
    local v, err = method(self, unpack(args, 1, n - 1))
    cb(v, err)
  end)
  local ok, msg = resume(co)
  if not ok then reraise(msg) end
end

local function with_callback(method)
  return function(self, ...)
    local n = select("#", ...)
    if n == 0 or type((select(n, ...))) ~= "function" then return method(self, ...) end
    start(method, self, n, ...)
  end
end

for _, name in ipairs({ "location", "locations", "country_metadata", "health", "version", "openapi" }) do
  Client[name] = with_callback(Client[name])
end
for _, name in ipairs({ "stations", "count", "station", "pool", "stations_bulk", "pools", "evses",
  "connector_types", "power_feed_types", "roamings" }) do
  V2[name] = with_callback(V2[name])
end

---------------------------------------------------------------------------
-- lifetime

local function release(s)
  if s.closed then return end
  s.closed = true
  if s.owns_transport then s.transport:close() end
  s.cred:close() -- wipes an access key secret
end

--- client:close(): frees the connections; idempotent (also `<close>`).
function Client:close()
  local s = state[self]
  if s == nil then error("close: call it as client:close()", 2) end
  release(s)
end

--- client:is_closed() -> boolean
function Client:is_closed()
  local s = state[self]
  if s == nil then error("is_closed: call it as client:is_closed()", 2) end
  return s.closed
end

local function describe(s)
  if s.closed then return "evcp.Client: (closed)" end
  return "evcp.Client: " .. s.bases.v3 .. " (" .. s.auth.kind .. ")"
end

local CLIENT_MT = {
  __name = "evcp.Client",
  __metatable = "evcp.Client",
  __index = function(self, k)
    if k == "v2" then return v2_of[self] end
    return Client[k]
  end,
  __newindex = function(_, k)
    error("evcp.Client is read-only (field '" .. tostring(k) .. "')", 2)
  end,
  __tostring = function(self)
    local s = state[self]
    return s and describe(s) or "evcp.Client"
  end,
  __close = function(self)
    local s = state[self]
    if s then release(s) end
  end,
}

local V2_MT = {
  __name = "evcp.V2",
  __metatable = "evcp.V2",
  __index = V2,
  __newindex = function(_, k)
    error("evcp.V2 is read-only (field '" .. tostring(k) .. "')", 2)
  end,
  __tostring = function(self)
    local s = v2_state[self]
    return "evcp.V2 of " .. (s and describe(s) or "?")
  end,
}

local new_object = core.new_object

---------------------------------------------------------------------------
-- evcp.new

local OPT_NAMES = { "base_url", "v2_base_url", "timeout", "connect_timeout", "max_attempts", "deadline",
  "max_parallel", "user_agent", "compress", "max_body", "ca_file", "ca_path", "proxy", "transport", "clock",
  "sleep", "random", "on_request", "on_response", "thread_pool", "lookup_base_url" }
for _, k in ipairs(credentials.OPTIONS) do OPT_NAMES[#OPT_NAMES + 1] = k end
local OPTS = check.set(OPT_NAMES)

-- readfile for credentials.resolve: at most MAX_FILE + 1 bytes of a file
local function readfile(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read(credentials.MAX_FILE + 1)
  f:close()
  return text or ""
end

local function check_base(name, base)
  check.text("evcp.new", "option '" .. name .. "'", base, 2048)
  local authority = base:match("^[hH][tT][tT][pP][sS]?://([^/?#%s]+)")
  if base:find("[?#]") then
    -- quoted only up to the query: a query may carry a credential
    fail("evcp.new", "option '" .. name .. "'", "must have no query or fragment (give credentials as"
      .. " options), got '" .. base:match("^[^?#]*") .. "...'")
  end
  if not authority or base:find("%s") then
    fail("evcp.new", "option '" .. name .. "'", "must look like http(s)://host[:port][/prefix], got '"
      .. base .. "'")
  end
  if authority:find("@", 1, true) then
    -- never quoted: what comes before '@' is a credential
    fail("evcp.new", "option '" .. name .. "'", "must not carry credentials (user@host): give api_key or"
      .. " access_token")
  end
  local port = authority:match(":(%d*)$")
  if port and (port == "" or tonumber(port) < 1 or tonumber(port) > 65535) then
    fail("evcp.new", "option '" .. name .. "'", "has a port outside 1..65535, got '" .. base .. "'")
  end
  return (base:gsub("/+$", ""))
end

local function is_http(u)
  return type(u) == "string" and u:sub(1, 7):lower() == "http://"
end

local function check_path(name, v)
  if v ~= nil then check.text("evcp.new", "option '" .. name .. "'", v, 4096) end
end

local function new(opts)
  if type(opts) ~= "table" then
    check.raise("evcp.new: argument #1 (options) must be a table, got " .. type(opts))
  end
  check.known_keys("evcp.new", opts, OPTS)
  local base = check_base("base_url", opts.base_url or M.DEFAULT_BASE_URL)
  -- v2 defaults to HERE's v2 host with HERE's base URL, else to base_url
  -- (the emulator serves both versions on one address).
  local v2_base = opts.v2_base_url
  if v2_base == nil then v2_base = (opts.base_url == nil) and M.DEFAULT_V2_BASE_URL or base end
  v2_base = check_base("v2_base_url", v2_base)
  -- the API lookup (the stream's base URLs) likewise
  local lookup_base = opts.lookup_base_url
  if lookup_base == nil then lookup_base = (opts.base_url == nil) and M.DEFAULT_LOOKUP_BASE_URL or base end
  lookup_base = check_base("lookup_base_url", lookup_base)
  -- exactly one credential (evcp.credentials; its checks never quote one)
  local cred = credentials.resolve_checked(opts, os.getenv, readfile)
  local a
  if cred.kind == "api_key" then
    a = auth.api_key(cred.api_key)
  elseif cred.kind == "access_token" then
    a = auth.bearer(cred.access_token)
  elseif cred.kind == "token_provider" then
    a = auth.changing("token provider")
  else
    a = auth.changing("oauth", function(text) return cred:scrub(text) end)
  end
  if opts.timeout ~= nil then check.seconds("evcp.new", "option 'timeout'", opts.timeout, 0.001, 86400) end
  if opts.connect_timeout ~= nil then
    check.seconds("evcp.new", "option 'connect_timeout'", opts.connect_timeout, 0.001, 86400)
  end
  if opts.max_attempts ~= nil then check.integer("evcp.new", "option 'max_attempts'", opts.max_attempts, 1, 10) end
  if opts.deadline ~= nil then check.seconds("evcp.new", "option 'deadline'", opts.deadline, 0.001, 86400) end
  for _, k in ipairs({ "clock", "sleep", "random", "on_request", "on_response" }) do
    if opts[k] ~= nil and type(opts[k]) ~= "function" then
      fail("evcp.new", "option '" .. k .. "'", "must be a function, got " .. type(opts[k]))
    end
  end
  if opts.max_parallel ~= nil then check.integer("evcp.new", "option 'max_parallel'", opts.max_parallel, 1, 64) end
  if opts.max_body ~= nil then check.integer("evcp.new", "option 'max_body'", opts.max_body, 1024, 2 ^ 31) end
  if opts.user_agent ~= nil then check.text("evcp.new", "option 'user_agent'", opts.user_agent, 256) end
  if opts.compress ~= nil and type(opts.compress) ~= "boolean" then
    fail("evcp.new", "option 'compress'", "must be a boolean, got " .. type(opts.compress))
  end
  check_path("ca_file", opts.ca_file)
  check_path("ca_path", opts.ca_path)
  if opts.proxy ~= nil then check.text("evcp.new", "option 'proxy'", opts.proxy, 2048) end
  local max_body = opts.max_body or M.DEFAULT_MAX_BODY
  local transport, owns = opts.transport, false
  if opts.thread_pool ~= nil then check.text("evcp.new", "option 'thread_pool'", opts.thread_pool, 256) end
  if transport == nil or type(transport) == "string" then
    local name = transport or "curl"
    local host = M.HOSTS[name]
    if host == nil then
      fail("evcp.new", "option 'transport'", "must be one of 'curl', 'resty', 'resty.http', 'nvim', 'uv' or an"
        .. " object with run and sleep methods, got '" .. name .. "'")
    end
    local curl_opts = {
      timeout = opts.timeout or policy.DEFAULTS.attempt_timeout, connect_timeout = opts.connect_timeout or 10,
      max_parallel = opts.max_parallel or 8, max_body = max_body,
      compress = opts.compress ~= false,
      user_agent = opts.user_agent or ("evcp/" .. core.version),
      ca_file = opts.ca_file, ca_path = opts.ca_path, proxy = opts.proxy,
      -- https alone, unless the caller gave an http base URL (an emulator, a test server)
      https_only = not (is_http(base) or is_http(v2_base) or is_http(cred.token_endpoint) or is_http(lookup_base)),
    }
    local ok, t
    if host == true then
      ok, t = pcall(core.curl_transport, curl_opts)
    else
      ok, t = pcall(function() return require(host).new(curl_opts, { thread_pool = opts.thread_pool }) end)
    end
    if not ok then
      -- the transport names the option it refused (a CA file it cannot read...)
      check.raise("evcp.new: " .. tostring(t):gsub("^.-curl_transport: ", ""))
    end
    transport, owns = t, true
  else
    local t = type(transport)
    if (t ~= "table" and t ~= "userdata") or type(transport.run) ~= "function"
        or type(transport.sleep) ~= "function" then
      fail("evcp.new", "option 'transport'", "must be an object with run and sleep methods")
    end
  end
  local s = {
    bases = { v3 = base, v2 = v2_base, lookup = lookup_base },
    allow_http = is_http(base) or is_http(v2_base) or is_http(cred.token_endpoint) or is_http(lookup_base),
    auth = a, prepare = preparer(a), transport = transport, owns_transport = owns,
    cred = cred, tokens = cred.kind == "oauth" and oauth.cache() or nil, skew = 0, wall = os.time,
    policy = policy.new({ max_attempts = opts.max_attempts, deadline = opts.deadline,
      attempt_timeout = opts.timeout, clock = opts.clock, sleep = opts.sleep, random = opts.random,
      on_request = opts.on_request, on_response = opts.on_response,
      scrub = function(v) return a:scrub(v) end }),
    max_body = max_body, closed = false,
    limits3 = json.decoder(v3.limits(max_body)),
    limits_plain = json.decoder(v2.limits(max_body, v2.MAX_LOOKUP_ITEMS)),
  }
  local client = new_object(CLIENT_MT)
  local v2obj = new_object(V2_MT)
  state[client] = s
  v2_state[v2obj] = s
  v2_of[client] = v2obj
  return client
end

--- evcp.new(opts) -> Client (see docs/API.md for the options).
function M.new(opts)
  local client = check.call(new, opts)
  return client
end

M.Client = Client
M.V2 = V2
return M
