-- TEMPORARY: the new transport seam over the old client.c (until csrc/transport.c lands).
local core = require("evcp.core")
local M = {}
local T = {}
T.__index = T
function M.new(opts) return setmetatable({ opts = opts, clients = {} }, T) end
function T:run(reqs)
  local out = {}
  for i, r in ipairs(reqs) do
    local base, path, query = r.url:match("^(https?://[^/]+)([^?]*)%??(.*)$")
    local tok = r.headers.Authorization and r.headers.Authorization:match("^Bearer (.*)$")
    local key = base .. "|" .. (tok or "")
    local c = self.clients[key]
    if not c then
      c = core.client_new({ base_url = base, access_token = tok, timeout = self.opts.timeout,
        connect_timeout = self.opts.connect_timeout, max_parallel = self.opts.max_parallel,
        max_body = self.opts.max_body, compress = self.opts.compress, user_agent = self.opts.user_agent })
      self.clients[key] = c
    end
    local res = c:_fetch({ { path = path, query = query, request_id = r.headers["X-Request-ID"] } })[1]
    if not res.kind then
      res.headers = { ["x-correlation-id"] = res.correlation_id, ["x-request-id"] = res.request_id,
        ["content-type"] = res.content_type, ["retry-after"] = res.retry_after }
    end
    out[i] = res
  end
  return out
end
function T:sleep(s) core.sleep(s) end
function T:close() for _, c in pairs(self.clients) do c:close() end end
return M
