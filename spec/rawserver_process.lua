-- Processes for the specs: start servers in the background (a watchdog
-- stops them once the spec process is gone, even after a crash), and
-- spec/rawserver.lua (a raw HTTP/1.1 server in a process of its own) with
-- what it logged.
--   local raw = require("rawserver_process")
--   local s = raw.start({})        -- s.base = "http://127.0.0.1:PORT"
--   raw.requests(s)                -- the exact request bytes, in order
--   raw.clear(s); raw.stop(s)      -- stop is safe on a half-started s
local socket = require("socket")

local M = {}

local h = require("helper")
local shell_quote = h.shell_quote

local read_all = h.read_all

local function sh(cmd)
  local ok = os.execute(cmd)
  return ok == true or ok == 0
end

local function clock() return socket.gettime() end

local function tmpdir()
  local p = io.popen("mktemp -d")
  local d = p:read("*l")
  p:close()
  assert(d and d ~= "", "mktemp -d failed")
  return d
end

local function free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

local function alive(pid)
  return pid and sh("kill -0 " .. pid .. " 2>/dev/null")
end

-- this process's pid (/proc/self is the reader: the interpreter itself)
local function my_pid()
  return tonumber((read_all("/proc/self/stat") or ""):match("^(%d+)"))
end

-- Starts `cmd` in the background without the sanitizer runtime and returns
-- its pid. A watchdog shell stops it once this process is gone, so that even
-- a run that crashes or is killed leaves nothing behind.
-- With `dir`, the watchdog also removes that directory when it is done.
local function spawn(cmd, out, pidfile, dir)
  local watch = assert(my_pid(), "no /proc/self/stat")
  local script = ("echo $$ > %s; %s > %s 2>&1 & c=$!; echo $c > %s; "
    .. "while kill -0 %d 2>/dev/null && kill -0 $c 2>/dev/null; do sleep 0.1; done; kill $c 2>/dev/null")
    :format(shell_quote(pidfile .. ".watch"), cmd, shell_quote(out), shell_quote(pidfile), watch)
  if dir then script = script .. "; sleep 0.2; rm -rf " .. shell_quote(dir) end
  os.remove(pidfile)
  sh(("env -u LD_PRELOAD sh -c %s >/dev/null 2>&1 &"):format(shell_quote(script)))
  local pid
  for _ = 1, 200 do
    pid = tonumber((read_all(pidfile) or ""):match("%d+"))
    if pid then break end
    socket.sleep(0.01)
  end
  assert(pid, "could not start: " .. cmd)
  return pid, tonumber((read_all(pidfile .. ".watch") or ""):match("%d+"))
end

local function kill(pid)
  if not pid then return end
  sh("kill -TERM " .. pid .. " 2>/dev/null")
  for _ = 1, 100 do
    if not alive(pid) then return end
    socket.sleep(0.05)
  end
  sh("kill -KILL " .. pid .. " 2>/dev/null")
end

---------------------------------------------------------------------------
-- the raw server

-- fills `s` as it goes, so that a teardown can stop what a failed start began
function M.start(s)
  s = s or {}
  s.dir = tmpdir()
  s.pid, s.watch = spawn(("lua5.4 spec/rawserver.lua %s 900"):format(shell_quote(s.dir)), s.dir .. "/out",
    s.dir .. "/pid", s.dir)
  local deadline = clock() + 20
  while clock() < deadline do
    s.port = tonumber(read_all(s.dir .. "/port") or "")
    if s.port then break end
    assert(alive(s.pid), "rawserver exited: " .. tostring(read_all(s.dir .. "/out")))
    socket.sleep(0.02)
  end
  assert(s.port, "rawserver did not start: " .. tostring(read_all(s.dir .. "/out")))
  s.base = "http://127.0.0.1:" .. s.port
  return s
end

--- Stops the server and waits for its watchdog, so that nothing is left.
function M.stop(s)
  if not s then return end
  kill(s.pid)
  for _ = 1, 50 do
    if not alive(s.watch) then break end
    socket.sleep(0.05)
  end
  kill(s.watch)
  if s.dir then sh("rm -rf " .. shell_quote(s.dir)) end
end

function M.clear(s)
  os.remove(s.dir .. "/log")
end

-- the server's events since the last clear: {event, conn, payload}
local function events(s)
  local text, out, i = read_all(s.dir .. "/log") or "", {}, 1
  while i <= #text do
    local ev, conn, len, body = text:match("^(%u+) (%d+) (%d+)\n()", i)
    assert(ev, "bad log at " .. i)
    len = tonumber(len)
    out[#out + 1] = { event = ev, conn = tonumber(conn), payload = text:sub(body, body + len - 1) }
    i = body + len + 1
  end
  return out
end

local function only(evs, name)
  local out = {}
  for _, e in ipairs(evs) do
    if e.event == name then out[#out + 1] = e end
  end
  return out
end

-- waits (briefly) until the server has logged `name` for some connection
local function wait_event(s, name)
  local deadline = clock() + 5
  repeat
    if #only(events(s), name) > 0 then return true end
    socket.sleep(0.02)
  until clock() > deadline
  return false
end


--- The exact bytes of every request received since the last clear.
function M.requests(s)
  local out = {}
  for _, e in ipairs(events(s)) do
    if e.event == "REQ" then out[#out + 1] = e.payload end
  end
  return out
end

M.shell_quote, M.read_all, M.sh, M.clock, M.tmpdir, M.free_port = shell_quote, read_all, sh, clock, tmpdir, free_port
M.alive, M.spawn, M.kill, M.events, M.only, M.wait_event = alive, spawn, kill, events, only, wait_event
return M
