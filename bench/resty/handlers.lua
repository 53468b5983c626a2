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

return M
