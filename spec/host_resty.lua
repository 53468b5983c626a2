-- The "resty" host of the transport conformance spec (spec/45): a real nginx
-- (one worker, `thread_pool evcp`) whose /bridge location runs each op of
-- spec/transport_bridge.lua through evcp.hosts.resty, yielding on nginx's
-- thread pool as a request handler would. start() -> "http://127.0.0.1:PORT".
local nx = require("openresty.nginx")

local M = {}
local server

function M.start()
  server = nx.start({
    threads = 4,
    server = [[
    location = /bridge {
      content_by_lua_block { require("bridge").handle() }
    }]],
  })
  return server.url
end

function M.stop()
  nx.stop(server)
  server = nil
end

return M
