-- evcp_emulator.http: the HTTP shell of the local emulator of HERE's EV Charge Points
-- APIs v3 (/v3/...) and v2 (/ev/...): configuration, authentication, routing, the
-- response headers, and the adapter to nginx's ngx.* API; HERE's token endpoint
-- (POST /oauth2/token, checked by evcp_emulator.auth), fault injection (--script,
-- --token-script, the X-Emulator-Fault header) and the /_emulator/ready|stats paths.
-- The EV status stream (/lookup/v1, /stream/v2, /node/N/stream/v2, /blob/v1) is
-- evcp_emulator.stream (emulator/STREAM.md); its fault kinds are carried out there.
--
-- Runs inside nginx's LuaJIT (init_by_lua / content_by_lua), but the core,
-- M.dispatch(req), is plain Lua 5.1..5.4 so it can be driven without nginx.
--
--   M.init(cfg)        once, in the nginx master (dataset, keys, clock origin)
--   M.init_worker()    once per worker (random seed for correlation ids)
--   M.handle()         content handler: adapts ngx.* to M.dispatch
--   M.dispatch(req)    req = {method, path, query, headers = {lower-case = value}}
--                      -> status, body, headers (table of extra response headers)
--   M.fault(kind)      a fault kind -> its plan | nil, message (what handle() carries out)
--   M.gzip_bomb()      the gzip-bomb body (zlib through FFI; false without it)
--
-- See docs/EMULATOR.md for every behaviour choice made where HERE is silent.

local auth = require("evcp_emulator.auth")
local clock = require("evcp_emulator.clock")
local paths = require("evcp_emulator.paths")
local query = require("evcp_emulator.query")
local v3 = require("evcp_emulator.v3")
local v2 = require("evcp_emulator.v2")
local stream = require("evcp_emulator.stream")
local zlib = require("evcp_emulator.zlib")

local floor, format, random, sub = math.floor, string.format, math.random, string.sub

local M = {}

M.API_VERSION, M.SERVICE_VERSION = v3.API_VERSION, v3.SERVICE_VERSION

local S = { auth = nil }

local function uuid4()
  return format("%04x%04x-%04x-4%03x-%04x-%04x%04x%04x",
    random(0, 0xffff), random(0, 0xffff), random(0, 0xffff), random(0, 0xfff),
    random(0, 0x3fff) + 0x8000, random(0, 0xffff), random(0, 0xffff), random(0, 0xffff))
end
M.uuid4 = uuid4

local function load_db(cfg)
  if cfg.db then return cfg.db end
  local path = cfg.data
  if type(path) == "string" and path:match("%.lua$") then
    return dofile(path)
  end
  return require("evcp_emulator.dataset").load(path)
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

-- cfg: data (dataset directory or .lua file) or db (a dataset table), api_keys, tokens,
-- restricted_keys, access_keys ({id = secret}), token_ttl, clock_window, clock_offset,
-- token_url, script (a list of fault kinds), seed, status_interval, start_time, now (a
-- clock function), openapi (path) or openapi_body.
function M.init(cfg)
  cfg = cfg or {}
  local db = load_db(cfg)
  S.db = db
  -- state shared by nginx's workers (issued tokens, used nonces, counters); a plain
  -- table outside nginx
  S.store = (ngx and ngx.shared and ngx.shared.evcp_emulator) or auth.table_store()
  cfg.store = cfg.store or S.store
  S.auth = auth.new(cfg)
  S.script, S.token_script = {}, {}
  for _, which in ipairs({ { "script", "--script" }, { "token_script", "--token-script" } }) do
    for i, kind in ipairs(cfg[which[1]] or {}) do
      local f, err = M.fault(kind)
      if not f then error("evcp-emulator: " .. which[2] .. " item " .. i .. ": " .. err, 0) end
      S[which[1]][i] = kind
    end
  end
  local clk = clock.new({ seed = cfg.seed, interval = cfg.status_interval,
    start_time = cfg.start_time, now = cfg.now or (ngx and ngx.now) or os.time, db = db })
  -- the EV status stream; when it runs (stream_interval_ms > 0) its messages are the
  -- status changes v3 and v2 show, in place of the status clock's steps
  stream.init({ db = db, seed = cfg.seed, start_time = clk.start_time,
    interval_ms = cfg.stream_interval_ms, partitions = cfg.stream_partitions,
    max_messages = cfg.stream_max, blob_bytes = cfg.stream_blob_bytes,
    session_ms = cfg.stream_session_ms, lookup_max_age = cfg.lookup_max_age,
    now = cfg.now, store = S.store, auth = S.auth })
  clk = stream.clock() or clk
  S.clock = clk
  local openapi_body = cfg.openapi_body
  if not openapi_body then
    openapi_body = read_file(cfg.openapi or paths.data_file("openapi.json")) or "{}"
  end
  v3.init({ db = db, clock = clk, openapi_body = openapi_body })
  v2.init({ db = db, clock = clk })
  return M
end

function M.init_worker()
  local pid = (ngx and ngx.worker and ngx.worker.pid and ngx.worker.pid()) or 0
  local t = (ngx and ngx.now and ngx.now()) or os.time()
  math.randomseed(floor(t * 1000) % 2147483647 + pid * 7919)
end

local gen_error = v3.gen_error

local function route(path)
  if sub(path, 1, 4) == "/ev/" then return v2.route(path) end
  return v3.route(path)
end

-- req.path is the raw (still percent-encoded) path, without the query string.
function M.dispatch(req)
  local headers = req.headers or {}
  local ctx = { correlation_id = req.correlation_id or uuid4() }
  local out_headers = { ["X-Correlation-ID"] = ctx.correlation_id }
  ctx.headers = out_headers -- v2 sets its Content-Type here
  local rid = headers["x-request-id"]
  if type(rid) == "table" then rid = rid[1] end
  if rid then out_headers["X-Request-ID"] = rid end

  if stream.route(req.path or "/") then
    local status, body = stream.dispatch({ method = req.method, path = req.path,
      query = req.query, headers = headers, body = req.body, host = req.host,
      fault = req.fault, retry_after = req.retry_after }, ctx)
    return status, body, out_headers
  end
  local params = query.parse(req.query)
  local ok, restricted_ok, why = S.auth:check(params, headers)
  local status, body
  if not ok then
    status, body = gen_error(401, "Unauthorized", why)
  else
    ctx.restricted_ok = restricted_ok
    local handler = route(req.path or "/")
    if not handler then
      status, body = gen_error(404, "Not Found", "No resource exists at this path")
    elseif req.method ~= "GET" then
      status, body = gen_error(405, "Method not allowed for this action",
        "Method not allowed for this action")
    else
      status, body = handler(ctx, params)
    end
  end
  return status, body, out_headers
end

-- ---- fault injection -----------------------------------------------------------------
-- A fault kind (from --script or the X-Emulator-Fault header) -> a plan the nginx
-- adapter carries out, or nil, message. Every kind and its exact behaviour is listed in
-- docs/EMULATOR.md ("Fault injection").
local cjson = require("cjson").new()
local lower, rep = string.lower, string.rep

M.MAX_DELAY_MS = 60000     -- delay-N, hang-N
M.MAX_DRIP_MS = 5000       -- drip-N: the pause between two pieces
M.DRIP_PIECE = 16          -- drip: bytes per piece
M.DRIP_BUDGET = 60         -- drip: at most this many seconds of pauses in all
M.BOMB_MIB = 1025          -- gzip-bomb: inflated size (MiB), more than any max_body (1 GiB)
M.HUGE_HEADER = 98304      -- huge-header: bytes in one header value (96 KiB)
M.MAX_SKEW = 315360000     -- skew-N: |N| seconds, ten years

local function generic(status, err, desc)
  return function() return status, cjson.encode({ error = err, error_description = desc }) end
end
local function service(status, title, code, cause)
  return function(ctx)
    return status, cjson.encode({ title = title, status = status, code = code, cause = cause,
      action = "Retry the request later", correlationId = ctx.correlation_id })
  end
end

local STATUS_BODY = {
  [408] = generic(408, "Request Timeout", "The request was not received in time"),
  [429] = generic(429, "Too Many Requests", "Rate limit exceeded"),
  [500] = service(500, "Internal Error", "E629500", "An internal error occurred"),
  [502] = generic(502, "Bad Gateway", "The upstream service did not answer"),
  [503] = service(503, "Database operation failed", "E629503",
    "The service is temporarily unavailable"),
  [504] = generic(504, "Gateway Timeout", "The upstream service did not answer in time"),
}

local function num(s, lo, hi)
  local n = tonumber(s)
  if not n or n < lo or n > hi or n ~= floor(n) then return nil end
  return n
end

function M.fault(kind)
  if type(kind) ~= "string" or kind == "" then return nil, "empty fault kind" end
  local k = lower(kind)
  local function bad(why) return nil, "fault kind " .. kind .. ": " .. why end
  if k == "ok" then return { kind = k, action = "normal" } end
  local n = k:match("^delay%-(%d+)$")
  if n then
    n = num(n, 0, M.MAX_DELAY_MS)
    if not n then return bad("N must be 0.." .. M.MAX_DELAY_MS .. " ms") end
    return { kind = k, action = "normal", delay = n / 1000 }
  end
  if k == "drip" then k = "drip-200" end
  n = k:match("^drip%-(%d+)$")
  if n then
    n = num(n, 1, M.MAX_DRIP_MS)
    if not n then return bad("N must be 1.." .. M.MAX_DRIP_MS .. " ms") end
    return { kind = k, action = "drip", pause = n / 1000 }
  end
  if k == "hang" then k = "hang-" .. M.MAX_DELAY_MS end
  n = k:match("^hang%-(%d+)$")
  if n then
    n = num(n, 0, M.MAX_DELAY_MS)
    if not n then return bad("N must be 0.." .. M.MAX_DELAY_MS .. " ms") end
    return { kind = k, action = "hang", wait = n / 1000 }
  end
  local st, form, arg = k:match("^(%d%d%d)%-?(%a*)%-?(%d*)$")
  st = tonumber(st)
  if st and STATUS_BODY[st] then
    if form == "" and arg == "" then return { kind = k, action = "status", status = st } end
    if st == 429 or st == 503 then
      if form == "" and arg ~= "" then
        n = num(arg, 0, 86400 * 365)
        if not n then return bad("Retry-After seconds must be 0..31536000") end
        return { kind = k, action = "status", status = st, retry_after = tostring(n) }
      elseif form == "date" and arg ~= "" then
        n = num(arg, 0, 86400 * 365)
        if not n then return bad("Retry-After seconds must be 0..31536000") end
        return { kind = k, action = "status", status = st, retry_date = n }
      elseif form == "invalid" and arg == "" then
        return { kind = k, action = "status", status = st, retry_after = "soon, maybe" }
      end
    end
    return bad("unknown form")
  end
  n = k:match("^skew%-(%-?%d+)$")
  if n then
    n = num(n, -M.MAX_SKEW, M.MAX_SKEW)
    if not n then return bad("N must be within " .. M.MAX_SKEW .. " seconds") end
    return { kind = k, action = "skew", skew = n }
  end
  if k == "redirect" then return { kind = k, action = "redirect" } end
  n = k:match("^redirect%-(%d+)$")
  if n then
    n = num(n, 1, 65535)
    if not n then return bad("the port must be 1..65535") end
    return { kind = k, action = "redirect", port = n }
  end
  local simple = { reset = true, truncate = true, close = true, ["bad-json"] = true,
    html = true, empty = true, ["gzip-bomb"] = true, ["bad-gzip"] = true,
    ["expired-token"] = true, ["bad-status"] = true, ["bad-chunked"] = true,
    ["huge-header"] = true, ["redirect-loop"] = true }
  if simple[k] then return { kind = k, action = k } end
  if stream.FAULTS[k] then return { kind = k, action = "stream" } end
  -- stream-503-N, stream-503-date-N: the stream's 503 with Retry-After N seconds (or an
  -- HTTP date N seconds ahead)
  local form503, n503 = k:match("^stream%-503%-(%a*)%-?(%d+)$")
  if n503 and (form503 == "" or form503 == "date") then
    local v = num(n503, 0, 86400 * 365)
    if not v then return bad("Retry-After seconds must be 0..31536000") end
    return { kind = "stream-503", action = "stream",
      retry_after = form503 == "" and tostring(v) or nil,
      retry_date = form503 == "date" and v or nil }
  end
  return nil, "unknown fault kind: " .. kind
end

-- gzip-bomb: one gzip member that inflates to M.BOMB_MIB MiB of zeros, about 1 KiB per
-- MiB on the wire (evcp_emulator.zlib); built once per worker
local bomb
local function gzip_bomb()
  if bomb == nil then bomb = zlib.gzip_zeros(M.BOMB_MIB) end
  return bomb
end
M.gzip_bomb = gzip_bomb

local REASON = { [200] = "OK", [400] = "Bad Request", [401] = "Unauthorized",
  [404] = "Not Found", [405] = "Method Not Allowed", [403] = "Forbidden" }

-- the response head for the raw kinds (written on the raw request socket)
local function raw_head(status, headers, extra)
  local lines = { "HTTP/1.1 " .. status .. " " .. (REASON[status] or "Status") }
  lines[#lines + 1] = "Date: " .. auth.http_date(ngx.time())
  lines[#lines + 1] = "Content-Type: application/json"
  for k, v in pairs(headers) do lines[#lines + 1] = k .. ": " .. v end
  for _, l in ipairs(extra) do lines[#lines + 1] = l end
  return table.concat(lines, "\r\n") .. "\r\n\r\n"
end

local function counter(name)
  local v = S.store:get(name)
  return tonumber(v) or 0
end

-- The next fault for a request: its X-Emulator-Fault header, else the next item of
-- --script (data requests) or --token-script (token requests); the counters live in the
-- shared dict, so workers take turns.
local function next_fault(header, which)
  if header then return header end
  local list = S[which]
  if #list == 0 then return nil end
  local n = S.store:incr(which, 1, 0)
  return list[n]
end

local function send(status, body, headers)
  ngx.status = status
  local h = ngx.header
  h["Content-Type"] = "application/json"
  for k, v in pairs(headers) do h[k] = v end
  ngx.print(body)
end

-- Carries out fault plan f for the current request; `normal()` gives the response
-- the request would get without a fault (status, body, headers).
local function run_fault(f, ctx, normal)
  local a = f.action
  local base = ctx.headers
  if a == "stream" then
    -- carried out by the stream endpoints; any other request is served normally
    local ra = f.retry_after
    if f.retry_date then ra = auth.http_date(ngx.time() + f.retry_date) end
    return send(normal(f.kind, ra))
  elseif a == "normal" then
    if f.delay and f.delay > 0 then ngx.sleep(f.delay) end
    return send(normal())
  elseif a == "reset" then
    return ngx.exit(444)
  elseif a == "hang" then
    if f.wait > 0 then ngx.sleep(f.wait) end
    return ngx.exit(444)
  elseif a == "status" then
    local status, body = STATUS_BODY[f.status](ctx)
    if f.retry_after then base["Retry-After"] = f.retry_after end
    if f.retry_date then base["Retry-After"] = auth.http_date(ngx.time() + f.retry_date) end
    return send(status, body, base)
  elseif a == "skew" then
    local status, body = auth.oauth_error(401, "401204", "Timestamp is outside the valid period")
    base["Date"] = auth.http_date(ngx.time() + f.skew)
    return send(status, body, base)
  elseif a == "expired-token" then
    return send(401, cjson.encode({ error = "Unauthorized",
      error_description = auth.EXPIRED_DESCRIPTION }), base)
  elseif a == "redirect" or a == "redirect-loop" then
    local uri = ngx.var.request_uri or "/"
    local host = ngx.var.server_addr or "127.0.0.1"
    if host:find(":", 1, true) then host = "[" .. host .. "]" end
    local port = tonumber(ngx.var.server_port) or 80
    if a == "redirect" then
      port = f.port or (port < 65535 and port + 1 or port - 1)
    end
    base["Location"] = "http://" .. host .. ":" .. port .. uri
    return send(302, cjson.encode({ error = "Found",
      error_description = "Moved to " .. base["Location"] }), base)
  elseif a == "bad-json" then
    return send(200, '{"items":[{"id":"here:evcp:charginglocation:x","location":{"lat":52.5,', base)
  elseif a == "html" then
    base["Content-Type"] = "text/html; charset=utf-8"
    return send(200, "<!DOCTYPE html><html><head><title>Service Unavailable</title></head>"
      .. "<body><h1>Service Unavailable</h1><p>Please try again later.</p></body></html>\n", base)
  elseif a == "empty" then
    base["Content-Length"] = "0"
    return send(200, "", base)
  elseif a == "gzip-bomb" then
    local b = gzip_bomb()
    if not b then return send(500, '{"error":"zlib is not available"}', base) end
    base["Content-Encoding"] = "gzip"
    base["Content-Length"] = tostring(#b)
    return send(200, b, base)
  elseif a == "bad-gzip" then
    base["Content-Encoding"] = "gzip"
    return send(200, '{"status":"ok"} is not gzip', base)
  elseif a == "huge-header" then
    local status, body, headers = normal()
    headers["X-Emulator-Padding"] = rep("a", M.HUGE_HEADER)
    return send(status, body, headers)
  end
  -- the kinds that need the normal body
  local status, body, headers = normal()
  if a == "drip" then
    headers["Content-Length"] = tostring(#body)
    ngx.status = status
    local h = ngx.header
    h["Content-Type"] = "application/json"
    for k, v in pairs(headers) do h[k] = v end
    local budget = M.DRIP_BUDGET
    local pos = 1
    while pos <= #body do
      ngx.print(sub(body, pos, pos + M.DRIP_PIECE - 1))
      ngx.flush(true)
      pos = pos + M.DRIP_PIECE
      if pos <= #body then
        if budget >= f.pause then
          ngx.sleep(f.pause)
          budget = budget - f.pause
        else
          ngx.print(sub(body, pos))
          break
        end
      end
    end
    return
  elseif a == "truncate" then
    headers["Content-Length"] = tostring(#body)
    ngx.status = status
    local h = ngx.header
    h["Content-Type"] = "application/json"
    for k, v in pairs(headers) do h[k] = v end
    ngx.print(sub(body, 1, floor(#body / 2)))
    ngx.flush(true)
    return ngx.exit(ngx.ERROR)
  end
  local sock = ngx.req.socket(true)
  if not sock then return ngx.exit(444) end
  if a == "close" then
    sock:send(raw_head(status, headers, { "Content-Length: " .. #body, "Connection: close" })
      .. body)
  elseif a == "bad-status" then
    sock:send("HTTP/1.1 2x0 Broken\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body)
  elseif a == "bad-chunked" then
    sock:send(raw_head(status, headers, { "Transfer-Encoding: chunked" })
      .. "zz\r\n" .. body .. "\r\n0\r\n\r\n")
  end
  return ngx.exit(444)
end

-- GET /_emulator/ready (the launcher's probe) and GET /_emulator/stats: counters that
-- no fault or credential affects.
local function control(path)
  if path == "/_emulator/ready" then return 200, '{"ready":true}' end
  if path == "/_emulator/stats" then
    return 200, cjson.encode({ data_requests = counter("data"),
      token_requests = counter("token"), script_length = #S.script,
      script_used = math.min(counter("script"), #S.script),
      token_script_length = #S.token_script,
      token_script_used = math.min(counter("token_script"), #S.token_script),
      stream = stream.stats() })
  end
  return v3.gen_error(404, "Not Found", "No resource exists at this path")
end

function M.handle()
  local var = ngx.var
  local path = (var.request_uri or "/"):match("^[^?]*")
  if sub(path, 1, 11) == "/_emulator/" then
    local status, body = control(path)
    return send(status, body, {})
  end
  local method = ngx.req.get_method()
  local fault_header = var.http_x_emulator_fault
  local req_headers = { authorization = var.http_authorization,
    ["x-request-id"] = var.http_x_request_id }
  local ctx = { correlation_id = uuid4() }
  ctx.headers = { ["X-Correlation-ID"] = ctx.correlation_id }
  if req_headers["x-request-id"] then ctx.headers["X-Request-ID"] = req_headers["x-request-id"] end

  local normal
  if path == "/oauth2/token" then
    S.store:incr("token", 1, 0)
    normal = function()
      local body
      if method == "POST" then
        ngx.req.read_body()
        body = ngx.req.get_body_data()
      end
      local status, b, h = S.auth:token({ method = method, scheme = var.scheme,
        host = var.http_host or var.host, path = path, query = var.args,
        headers = { authorization = req_headers.authorization,
          ["content-type"] = var.http_content_type }, body = body })
      for k, v in pairs(ctx.headers) do h[k] = h[k] or v end
      return status, b, h
    end
    fault_header = next_fault(fault_header, "token_script")
  else
    S.store:incr("data", 1, 0)
    normal = function(stream_fault, retry_after)
      local body
      if method == "POST" or method == "PUT" then
        ngx.req.read_body()
        body = ngx.req.get_body_data()
      end
      local status, b, headers = M.dispatch({ method = method, path = path,
        query = var.args, headers = req_headers, correlation_id = ctx.correlation_id,
        body = body, host = var.http_host or var.host, fault = stream_fault,
        retry_after = retry_after })
      return status, b, headers
    end
    fault_header = next_fault(fault_header, "script")
  end
  if not fault_header then return send(normal()) end
  local f, err = M.fault(fault_header)
  if not f then
    return send(400, cjson.encode({ error = "Bad Request", error_description = err }), ctx.headers)
  end
  ngx.req.clear_header("Accept-Encoding") -- the faults' bytes go out exactly as planned
  return run_fault(f, ctx, normal)
end

return M
