-- The "resty.http" host of the transport conformance spec (spec/45): a real
-- nginx (one worker) whose /bridge location runs each op of
-- spec/transport_bridge.lua through evcp.hosts.resty_http (lua-resty-http:
-- a real one when EVCP_RESTY_HTTP or an install gives it, else the
-- stand-in of spec/openresty/standin). start() -> "http://127.0.0.1:PORT".
local nx = require("openresty.nginx")

local M = {}
local server

function M.start()
  server = nx.start({
    server = [[
    location = /bridge {
      content_by_lua_block { require("bridge").handle("resty.http") }
    }]],
  })
  return server.url
end

function M.stop()
  nx.stop(server)
  server = nil
end

return M
