-- The bridge server inside `nvim --headless` (spec/host_nvim.lua starts it;
-- protocol: spec/transport_bridge.lua). It serves POST /bridge on a
-- vim.loop TCP server on a free loopback port (written to
-- $EVCP_BRIDGE_DIR/port) and runs each op in a coroutine of its own, started
-- from the main loop as a plugin's would be, through the "nvim" transport:
-- run and sleep yield to the editor loop.
local root = assert(os.getenv("EVCP_ROOT"), "EVCP_ROOT is not set")
local build = os.getenv("EVCP_BUILDJIT") or "build/luajit"
if build:sub(1, 1) ~= "/" then build = root .. "/" .. build end
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. root .. "/spec/?.lua;" .. package.path
package.cpath = build .. "/?.so;" .. package.cpath

local uv = vim.loop
local bridge = require("transport_bridge")
local nvim_host = require("evcp.hosts.nvim")

local transports = {}
local function make(opts) return nvim_host.new(opts) end

local function answer(c, reply)
  local body = vim.json.encode(reply)
  c:write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " .. #body
    .. "\r\nConnection: close\r\n\r\n" .. body, function() c:close() end)
end

local function serve(c)
  local buf = ""
  c:read_start(function(err, chunk)
    if err or not chunk then
      c:close()
      return
    end
    buf = buf .. chunk
    local head_end = buf:find("\r\n\r\n", 1, true)
    if not head_end then return end
    local head = buf:sub(1, head_end)
    local len = tonumber(head:match("\n[Cc]ontent%-[Ll]ength:%s*(%d+)"))
    if not head:match("^POST /bridge ") or not len then
      c:read_stop()
      c:write("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", function() c:close() end)
      return
    end
    if #buf < head_end + 3 + len then return end
    c:read_stop()
    local text = buf:sub(head_end + 4, head_end + 3 + len)
    -- the op starts on the main loop, in a coroutine of its own
    vim.schedule(function()
      coroutine.wrap(function()
        local ok, msg = pcall(vim.json.decode, text)
        local reply
        if ok and type(msg) == "table" then
          reply = bridge.server_op(msg, make, transports)
        else
          reply = { ok = false, error = "bridge: bad JSON: " .. tostring(msg) }
        end
        answer(c, reply)
      end)()
    end)
  end)
end

local server = uv.new_tcp()
assert(server:bind("127.0.0.1", 0))
assert(server:listen(128, function(err)
  if err then return end
  local c = uv.new_tcp()
  server:accept(c)
  serve(c)
end))
local port = server:getsockname().port
local dir = assert(os.getenv("EVCP_BRIDGE_DIR"), "EVCP_BRIDGE_DIR is not set")
local f = assert(io.open(dir .. "/port.tmp", "w"))
f:write(tostring(port))
f:close()
os.rename(dir .. "/port.tmp", dir .. "/port")
