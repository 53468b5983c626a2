-- The two locations resty-throughput compares, in the same nginx: /evcp does
-- one client:location(id) through evcp (transport = "resty", one client per
-- worker); /floor does the same GET through ngx.run_worker_thread with a bare
-- libcurl fetch and cjson.decode (floor.lua). Both answer the location's id.
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

function M.floor()
  local ok, id, err = ngx.run_worker_thread("evcp", "floor", "fetch", cfg.url)
  if not ok or id == nil then
    ngx.status = 502
    return ngx.say(tostring(ok and err or id))
  end
  ngx.say(id)
end

return M
