-- Starts and stops spec/rawserver.lua (a raw HTTP/1.1 server in a process
-- of its own) for the specs, and reads back what it received.
--   local raw = require("rawserver_process")
--   local s = raw.start()          -- s.base = "http://127.0.0.1:PORT"
--   raw.requests(s)                -- the exact request bytes, in order
--   raw.clear(s); raw.stop(s)      -- stop is safe on a half-started s
local socket = require("socket")

local M = {}

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end
M.shell_quote = shell_quote

local function read_all(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end
M.read_all = read_all

local function sh(cmd)
  local ok = os.execute(cmd)
  return ok == true or ok == 0
end
M.sh = sh

function M.alive(pid)
  return pid ~= nil and sh("kill -0 " .. pid .. " 2>/dev/null")
end

--- Runs cmd in the background without the sanitizer runtime; returns its pid.
function M.spawn(cmd, out, pidfile)
  sh(("env -u LD_PRELOAD %s > %s 2>&1 & echo $! > %s"):format(cmd, shell_quote(out), shell_quote(pidfile)))
  local pid = tonumber((read_all(pidfile) or ""):match("%d+"))
  assert(pid, "could not start: " .. cmd)
  return pid
end

function M.kill(pid)
  if not pid then return end
  sh("kill -TERM " .. pid .. " 2>/dev/null")
  for _ = 1, 100 do
    if not M.alive(pid) then return end
    socket.sleep(0.05)
  end
  sh("kill -KILL " .. pid .. " 2>/dev/null")
end

--- Starts a rawserver (it exits by itself after `life` seconds, default 900).
function M.start(s, life)
  s = s or {}
  local p = io.popen("mktemp -d")
  s.dir = p:read("*l")
  p:close()
  assert(s.dir and s.dir ~= "", "mktemp -d failed")
  s.pid = M.spawn(("lua5.4 spec/rawserver.lua %s %d"):format(shell_quote(s.dir), life or 900),
    s.dir .. "/out", s.dir .. "/pid")
  local deadline = socket.gettime() + 20
  while socket.gettime() < deadline do
    s.port = tonumber(read_all(s.dir .. "/port") or "")
    if s.port then break end
    assert(M.alive(s.pid), "rawserver exited: " .. tostring(read_all(s.dir .. "/out")))
    socket.sleep(0.02)
  end
  assert(s.port, "rawserver did not start: " .. tostring(read_all(s.dir .. "/out")))
  s.base = "http://127.0.0.1:" .. s.port
  return s
end

function M.stop(s)
  if not s then return end
  M.kill(s.pid)
  if s.dir then sh("rm -rf " .. shell_quote(s.dir)) end
end

--- Forgets what the server logged so far.
function M.clear(s)
  os.remove(s.dir .. "/log")
end

--- The server's events since the last clear: {event, conn, payload}.
function M.events(s)
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

--- The exact bytes of every request received since the last clear.
function M.requests(s)
  local out = {}
  for _, e in ipairs(M.events(s)) do
    if e.event == "REQ" then out[#out + 1] = e.payload end
  end
  return out
end

return M
