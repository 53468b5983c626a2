-- evcp_emulator.http: the HTTP shell of the local emulator of HERE's EV Charge Points
-- APIs v3 (/v3/...) and v2 (/ev/...): configuration, authentication, routing, the
-- response headers, and the adapter to nginx's ngx.* API.
--
-- Runs inside nginx's LuaJIT (init_by_lua / content_by_lua), but the core,
-- M.dispatch(req), is plain Lua 5.1..5.4 so it can be driven without nginx.
--
--   M.init(cfg)        once, in the nginx master (dataset, keys, clock origin)
--   M.init_worker()    once per worker (random seed for correlation ids)
--   M.handle()         content handler: adapts ngx.* to M.dispatch
--   M.dispatch(req)    req = {method, path, query, headers = {lower-case = value}}
--                      -> status, body, headers (table of extra response headers)
--
-- See docs/EMULATOR.md for every behaviour choice made where HERE is silent.

local auth = require("evcp_emulator.auth")
local clock = require("evcp_emulator.clock")
local paths = require("evcp_emulator.paths")
local query = require("evcp_emulator.query")
local v3 = require("evcp_emulator.v3")
local v2 = require("evcp_emulator.v2")

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
-- restricted_keys, seed, status_interval, start_time, now (a clock function),
-- openapi (path) or openapi_body.
function M.init(cfg)
  cfg = cfg or {}
  local db = load_db(cfg)
  S.db = db
  S.auth = auth.new(cfg)
  local clk = clock.new({ seed = cfg.seed, interval = cfg.status_interval,
    start_time = cfg.start_time, now = cfg.now or (ngx and ngx.now) or os.time, db = db })
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

function M.handle()
  local var = ngx.var
  local status, body, headers = M.dispatch({
    method = ngx.req.get_method(),
    path = (var.request_uri or "/"):match("^[^?]*"),
    query = var.args,
    headers = { authorization = var.http_authorization, ["x-request-id"] = var.http_x_request_id },
  })
  ngx.status = status
  local h = ngx.header
  h["Content-Type"] = "application/json"
  for k, v in pairs(headers) do h[k] = v end
  ngx.print(body)
end

return M
