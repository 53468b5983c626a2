-- The "nvim" host of the transport conformance spec (spec/45): a real
-- `nvim --headless --clean` running spec/nvim/bridge.lua, the bridge server
-- of spec/transport_bridge.lua on Neovim's loop. start() -> its URL; stop().
-- The nvim process loads this checkout's modules and the core built for
-- LuaJIT (EVCP_BUILDJIT, default build/luajit), with the sanitizer runtime
-- when the suite runs under it (EVCP_CHILD_PRELOAD). A missing nvim fails.
local rsp = require("rawserver_process")
local socket = require("socket")

local M = {}

local state

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

--- lua_command(path) -> an Ex command that runs the Lua file at path, and
-- quits nvim (exit status 3, the error on stderr) when it raises: a script
-- that fails to start leaves no nvim waiting for a :qa that never comes
function M.lua_command(path)
  return ("lua local ok, e = pcall(dofile, %q); if not ok then io.stderr:write(tostring(e), '\\n');"
    .. " vim.cmd('cquit 3') end"):format(path)
end

--- start() -> "http://127.0.0.1:PORT"
function M.start()
  local root = os.getenv("PWD") or "."
  local dir = rsp.tmpdir()
  state = { dir = dir }
  local env = ("env EVCP_ROOT=%s EVCP_BUILDJIT=%s EVCP_BRIDGE_DIR=%s"):format(q(root),
    q(os.getenv("EVCP_BUILDJIT") or "build/luajit"), q(dir))
  local pre = os.getenv("EVCP_CHILD_PRELOAD")
  if pre then env = env .. " LD_PRELOAD=" .. q(pre) end
  local cmd = env .. " nvim --headless --clean -n -i NONE -c " .. q(M.lua_command(root .. "/spec/nvim/bridge.lua"))
    .. " </dev/null"
  state.pid, state.watch = rsp.spawn(cmd, dir .. "/out", dir .. "/pid", dir)
  local deadline = rsp.clock() + 30
  local port
  while rsp.clock() < deadline do
    port = tonumber(rsp.read_all(dir .. "/port") or "")
    if port then break end
    assert(rsp.alive(state.pid), "nvim exited: " .. tostring(rsp.read_all(dir .. "/out")))
    socket.sleep(0.02)
  end
  assert(port, "the nvim bridge did not start: " .. tostring(rsp.read_all(dir .. "/out")))
  return "http://127.0.0.1:" .. port
end

--- what nvim printed so far (errors of the bridge show there)
function M.output()
  return state and rsp.read_all(state.dir .. "/out")
end

function M.stop()
  if not state then return end
  rsp.kill(state.pid)
  for _ = 1, 50 do
    if not rsp.alive(state.watch) then break end
    socket.sleep(0.05)
  end
  rsp.kill(state.watch)
  rsp.sh("rm -rf " .. q(state.dir))
  state = nil
end

return M
