-- The "resty.http" host of the transport conformance spec (spec/45): a real
-- nginx (one worker) whose /bridge location runs each op of
-- spec/transport_bridge.lua through evcp.hosts.resty_http (lua-resty-http:
-- a real one when EVCP_RESTY_HTTP or an install gives it, else the
-- stand-in of spec/openresty/standin). start() -> "http://127.0.0.1:PORT".
local nx = require("openresty.nginx")

local M = {}

-- the cases of spec/45 that lua-resty-http 0.17.2 (checked with the real one)
-- cannot pass, and why; spec/45 does not read this yet (see the lead's diff)
M.skip = {
  ["GET: method, path and query bytes unchanged, the given headers, the User-Agent, nothing else"] =
    "resty.http writes an empty value as 'X-Empty: '",
  ["good edge values are taken"] = "ca_file is refused (lua_ssl_trusted_certificate)",
  ["HTTPS with HTTP/2 and gzip from nginx"] = "ca_file is refused; no HTTP/2",
  ["ca_file makes it trusted; a host name the certificate lacks is kind tls"] = "ca_file is refused",
  ["ca_path pointing elsewhere still refuses"] = "ca_path is refused",
}
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
