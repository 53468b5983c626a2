-- The handlers spec/90-openresty_spec.lua runs inside nginx: evcp as an
-- OpenResty application uses it, with transport = "resty" and one client per
-- worker kept in a module-level upvalue. M.configure (from init_by_lua) gives
-- the emulator's URL and credentials.
local evcp = require("evcp")
local cjson = require("cjson.safe").new()

local M = {}
local cfg = {}
local lookup_clients = {} -- transport name -> the worker's client for /lookup
local clients = {}    -- name -> client, for /call
local logs = {}       -- name -> hook events since the last /call

function M.configure(c) cfg = c end

local function now()
  ngx.update_time()
  return ngx.now()
end

local function reply(t)
  local body = assert(cjson.encode(t))
  ngx.header["Content-Type"] = "application/json"
  ngx.header["Content-Length"] = #body
  ngx.print(body)
end

-- an evcp.Error's plain fields
local function plain_err(err)
  if err == nil then return nil end
  if type(err) ~= "table" then return { raised = tostring(err) } end
  return { kind = err.kind, status = err.status, attempts = err.attempts, message = err.message,
    retryable = err.retryable, retry_after = err.retry_after, code = err.code, error = err.error }
end

--- GET /lookup?id=ID[&transport=resty.http]: one client:location through
-- the worker's client for that transport (default "resty")
function M.lookup()
  local name = ngx.var.arg_transport or "resty"
  local client = lookup_clients[name]
  if client == nil then
    client = evcp.new({ base_url = cfg.base_url, api_key = cfg.api_key, transport = name })
    lookup_clients[name] = client
  end
  local id = ngx.unescape_uri(ngx.var.arg_id or "")
  local t0 = now()
  local loc, err = client:location(id)
  reply({ id = loc and loc.id or nil, err = plain_err(err), t0 = t0, t1 = now() })
end

-- the evcp.new options of a /call: JSON options plus hooks that log
local function make(name, opts)
  opts = opts or {}
  opts.transport = opts.transport or "resty"
  opts.base_url = opts.base_url or cfg.base_url
  if opts.access_key_id == nil and opts.token == nil then opts.api_key = opts.api_key or cfg.api_key end
  logs[name] = {}
  opts.on_request = function(ev)
    local l = logs[name]
    l[#l + 1] = { hook = "request", attempt = ev.attempt, method = ev.method, at = now() }
  end
  opts.on_response = function(ev)
    local l = logs[name]
    l[#l + 1] = { hook = "response", attempt = ev.attempt, status = ev.status, kind = ev.kind, at = now() }
  end
  return evcp.new(opts)
end

--- POST /call {name, opts, op, args}: runs one client method (the client
-- of that name is made at its first call and kept)
function M.call()
  ngx.req.read_body()
  local msg = assert(cjson.decode(ngx.req.get_body_data() or ""))
  local c = clients[msg.name]
  if c == nil then
    local ok, made = pcall(make, msg.name, msg.opts)
    if not ok then return reply({ err = { raised = tostring(made) } }) end
    c = made
    clients[msg.name] = c
  end
  logs[msg.name] = {}
  local t0 = now()
  local ok, res, err = pcall(function()
    if msg.op == "location" then
      local loc, e = c:location(msg.args.id)
      return loc and { id = loc.id } or nil, e
    elseif msg.op == "locations" then
      local r, e = c:locations(msg.args.ids)
      if r == nil then return nil, e end
      local ids = {}
      for i, item in ipairs(r.items) do ids[i] = item.id end
      return { ids = ids, missing = r.missing }, nil
    elseif msg.op == "stations" then
      local r, e = c.v2:stations(msg.args)
      if r == nil then return nil, e end
      return { n = #r.items, count = r.count }, nil
    end
    error("unknown op " .. tostring(msg.op))
  end)
  if not ok then err, res = res, nil end
  reply({ result = res, err = plain_err(err), events = logs[msg.name], t0 = t0, t1 = now() })
end

--- a lookup in a phase where the resty transport cannot run: the error
function M.try(where, transport)
  local ok, err = pcall(function()
    local c = evcp.new({ base_url = cfg.phase_url or cfg.base_url, api_key = cfg.api_key,
      transport = transport or "resty" })
    local loc, e = c:location(cfg.id)
    return loc and loc.id or tostring(e)
  end)
  return { where = where, ok = ok, value = tostring(err) }
end

M.phases = {}

--- GET /rh_missing: evcp.new{transport = "resty.http"} where require
-- "resty.http" fails (as on a machine without lua-resty-http)
function M.rh_missing()
  local saved = package.loaded["resty.http"]
  package.loaded["resty.http"] = nil
  package.preload["resty.http"] = function() error("module 'resty.http' not found: (a test)") end
  local ok, err = pcall(evcp.new, { base_url = cfg.base_url, api_key = cfg.api_key, transport = "resty.http" })
  package.preload["resty.http"] = nil
  package.loaded["resty.http"] = saved
  reply({ ok = ok, err = tostring(err) })
end

--- GET /rh_keep?url=U: runs on a resty.http transport: three runs of one
-- GET U, then two runs of six with max_parallel 2; the decoded answers
function M.rh_keep()
  local url = ngx.var.arg_url
  local out = { single = {}, batch = {} }
  local t = require("evcp.hosts.resty_http").new({ timeout = 5 }, {})
  for i = 1, 3 do
    local res = t:run({ { url = url } })[1]
    if res.kind then out.err = res.kind .. ": " .. res.message break end
    out.single[i] = cjson.decode(res.body)
  end
  t:close()
  t = require("evcp.hosts.resty_http").new({ timeout = 5, max_parallel = 2 }, {})
  for _ = 1, 2 do
    local list = {}
    for i = 1, 6 do list[i] = { url = url } end
    for _, res in ipairs(t:run(list)) do
      if res.kind then out.err = res.kind .. ": " .. res.message break end
      out.batch[#out.batch + 1] = cjson.decode(res.body)
    end
  end
  t:close()
  reply(out)
end

--- POST /rh_run {opts = transport options, requests = records}: one run of a
-- resty.http transport made for it -> {results, t0, t1}
function M.rh_run()
  ngx.req.read_body()
  local msg = assert(cjson.decode(ngx.req.get_body_data() or ""))
  local t = require("evcp.hosts.resty_http").new(msg.opts, {})
  local t0 = now()
  local ok, results = pcall(t.run, t, msg.requests)
  local t1 = now()
  t:close()
  reply({ results = ok and results or nil, raised = not ok and tostring(results) or nil, t0 = t0, t1 = t1 })
end

--- GET /phases: what M.try gave in init, init_worker, a timer, a header filter
function M.show_phases()
  reply(M.phases)
end

return M
