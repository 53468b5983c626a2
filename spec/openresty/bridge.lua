-- The bridge server of the conformance spec inside nginx (spec/host_resty.lua):
-- each POST /bridge runs one op of spec/transport_bridge.lua through a
-- transport made by require("evcp.hosts.resty").new(opts, {}). Transports
-- live in this module (one nginx worker: one table) until closed.
local cjson = require("cjson.safe").new()
cjson.encode_number_precision(14)
local bridge = require("transport_bridge")

local M = {}
local transports = {}

local MODULES = { resty = "evcp.hosts.resty", ["resty.http"] = "evcp.hosts.resty_http" }

--- handle(transport): transport "resty" (default) or "resty.http"
function M.handle(transport)
  local module = MODULES[transport or "resty"]
  local function make(opts)
    return require(module).new(opts, {})
  end
  ngx.req.read_body()
  local text = ngx.req.get_body_data()
  if text == nil then
    local file = ngx.req.get_body_file()
    if file then
      local f = assert(io.open(file, "rb"))
      text = f:read("*a")
      f:close()
    end
  end
  local msg, err = cjson.decode(text or "")
  local reply
  if msg == nil then
    reply = { ok = false, error = "bridge: bad JSON: " .. tostring(err) }
  else
    transports[module] = transports[module] or {}
    reply = bridge.server_op(msg, make, transports[module])
  end
  local body, eerr = cjson.encode(reply)
  if body == nil then body = cjson.encode({ ok = false, error = "bridge: cannot encode: " .. tostring(eerr) }) end
  ngx.header["Content-Type"] = "application/json"
  ngx.header["Content-Length"] = #body
  ngx.print(body)
end

return M
