-- A synchronous face on the uv transport (lua/evcp/hosts/uv.lua) for the
-- plain busted process: each run or sleep runs in a coroutine of its own,
-- and the default luv loop runs until that coroutine is over. spec/45 runs
-- its conformance cases through it (as transport "uv"), spec/92 too.
local uv = require("luv")
local host = require("evcp.hosts.uv")

local M = {}

local unpack = table.unpack or unpack
local function pack(...) return { n = select("#", ...), ... } end

-- errors raised by coroutines the transport resumed (they would otherwise
-- end up in a luv callback, where luv prints them and exits)
local caught = {}

local function resume(f)
  local ok, err = pcall(f)
  if not ok then caught[#caught + 1] = err end
end
M.resume = resume

--- drive(fn, ...) -> fn's results: runs fn(...) in a coroutine and the loop
-- until it ends; re-raises its error. Raises when the coroutine waits but
-- the loop has nothing left to do (a lost wake-up).
function M.drive(fn, ...)
  local out
  local co = coroutine.create(function(...) out = pack(pcall(fn, ...)) end)
  local ok, err = coroutine.resume(co, ...)
  if not ok then error(err, 0) end
  while coroutine.status(co) ~= "dead" do
    local more = uv.run("once")
    if caught[1] then
      local e = table.remove(caught, 1)
      error(e, 0)
    end
    if not more and coroutine.status(co) ~= "dead" then
      error("uv_sync: the coroutine waits, but the loop has nothing left to do", 0)
    end
  end
  if not out[1] then error(out[2], 0) end
  return unpack(out, 2, out.n)
end

--- new(opts, host_opts) -> a transport whose run and sleep block (the loop
-- runs inside them); now, close and is_closed as the uv transport's.
function M.new(opts, host_opts)
  host_opts = host_opts or {}
  local t = host.new(opts, { uv = uv, resume = host_opts.resume or resume, name = host_opts.name })
  local s = { inner = t }
  function s.run(_, reqs) return M.drive(t.run, t, reqs) end
  function s.sleep(_, sec) return M.drive(t.sleep, t, sec) end
  function s.now() return t:now() end
  function s.close()
    t:close()
    uv.run("nowait") -- the closed handles go
  end
  function s.is_closed() return t:is_closed() end
  return s
end

return M
