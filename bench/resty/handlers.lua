-- The two locations resty-throughput compares, in the same nginx: /evcp does
-- one client:location(id) through evcp (transport = "resty", one client per
-- worker); /floor does the same GET through ngx.run_worker_thread with a bare
-- libcurl fetch (floor.lua) and cjson.decode of the body on the request's
-- side, where evcp decodes too; /floor-thread decodes in the thread instead
-- (EVCP_RESTY_FLOOR=thread). All answer the location's id.
local M = {}
local cfg, client

function M.configure(c) cfg = c end

function M.evcp()
  if client == nil then
    client = require("evcp").new({ base_url = cfg.base_url, api_key = cfg.api_key, transport = "resty" })
  end
  local loc, err = client:location(cfg.id)
  if loc == nil then
    ngx.status = 502
    return ngx.say(tostring(err))
  end
  ngx.say(loc.id)
end

--- the same through transport = "resty.http" (lua-resty-http, cosockets)
local hclient
function M.evcp_http()
  if hclient == nil then
    hclient = require("evcp").new({ base_url = cfg.base_url, api_key = cfg.api_key, transport = "resty.http" })
  end
  local loc, err = hclient:location(cfg.id)
  if loc == nil then
    ngx.status = 502
    return ngx.say(tostring(err))
  end
  ngx.say(loc.id)
end

local decode = require("cjson").decode

function M.floor()
  local ok, body, err = ngx.run_worker_thread("evcp", "floor", "fetch", cfg.url)
  if not ok or body == nil then
    ngx.status = 502
    return ngx.say(tostring(ok and err or body))
  end
  local doc = decode(body)
  local item = doc.items and doc.items[1] or doc
  ngx.say(item.id)
end

function M.floor_thread()
  local ok, id, err = ngx.run_worker_thread("evcp", "floor", "fetch_decode", cfg.url)
  if not ok or id == nil then
    ngx.status = 502
    return ngx.say(tostring(ok and err or id))
  end
  ngx.say(id)
end

-- diagnostics (EVCP_RESTY_DIAG=1 in bench.lua): the resty transport alone
-- (no client), and the client alone (a canned answer, no transport)
local rt
function M.transport_only()
  if rt == nil then rt = require("evcp.hosts.resty").new({ timeout = 10 }, {}) end
  local res = rt:run({ { url = cfg.url, headers = { Accept = "application/json" } } })[1]
  local doc = decode(res.body)
  ngx.say(doc.id)
end
function M.cross_records()
  local ok, a, b = ngx.run_worker_thread("evcp", "diag_thread", "records", 1, 1,
    { { method = "GET", url = cfg.url, timeout = 10,
      headers = { Accept = "application/json", ["X-Request-ID"] = "0a7b587c-1f07-4c91-9a9b-e8bcf322e2d3" } } })
  ngx.say(ok and a and b[1].status)
end
function M.cross_strings()
  local ok, a = ngx.run_worker_thread("evcp", "diag_thread", "strings", cfg.url)
  ngx.say(ok and #a)
end
local cclient, canned
function M.client_only()
  if cclient == nil then
    local t = require("evcp.hosts.resty").new({ timeout = 10 }, {})
    canned = t:run({ { url = cfg.url, headers = { Accept = "application/json" } } })[1]
    t:close()
    local fake = { run = function() return { canned } end, sleep = function() end,
      now = function() return ngx.now() end }
    cclient = require("evcp").new({ base_url = cfg.base_url, api_key = cfg.api_key, transport = fake })
  end
  local loc = cclient:location(cfg.id)
  ngx.say(loc.id)
end

return M
