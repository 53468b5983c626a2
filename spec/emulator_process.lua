-- Shared by the emulator specs: start and stop real emulator processes and
-- talk to them with the curl command (children run without LD_PRELOAD, see
-- spec/unpreload.c).
local cjson = require("cjson").new()

local M = {}

-- The repository root, from this file's place (spec/emulator_process.lua).
local ROOT = (debug.getinfo(1, "S").source:match("^@(.*)spec/[^/]*$") or "./")
if ROOT == "" then ROOT = "./" end
M.root = ROOT

-- An emulator module by its short name ("dataset" -> evcp_emulator.dataset). The
-- emulator is not part of the library: its modules live in emulator/lua, which this
-- puts on package.path first.
function M.module(name)
  local dir = ROOT .. "emulator/lua/?.lua"
  if not package.path:find(dir, 1, true) then package.path = dir .. ";" .. package.path end
  return require("evcp_emulator." .. name)
end

local h = require("helper")
local shell_quote = h.shell_quote

local read_all = h.read_all

local function sleep(sec)
  os.execute("sleep " .. sec)
end

-- Processes, read from /proc (no procps needed: `ps` may be missing on a bare machine).
local function proc_stat(pid)
  local s = read_all("/proc/" .. pid .. "/stat")
  if not s then return nil end
  local rest = s:match("^%d+ %b() (.*)$") or s:match("%) (.*)$")
  if not rest then return nil end
  local state, ppid = rest:match("^(%S+) (%d+)")
  return state, tonumber(ppid)
end

local function cmdline(pid)
  local s = read_all("/proc/" .. pid .. "/cmdline") or ""
  return (s:gsub("%z", " "))
end

local function alive(pid)
  local state = proc_stat(pid)
  return state ~= nil and state ~= "Z" and state ~= "X"
end
M.alive = alive

-- The pids of the children of `pid`, with their command lines.
local function children(pid)
  local out = {}
  local p = io.popen("ls /proc 2>/dev/null")
  local list = p:read("*a")
  p:close()
  for n in list:gmatch("%d+") do
    local _, ppid = proc_stat(n)
    if ppid == pid then out[#out + 1] = { pid = tonumber(n), args = cmdline(n) } end
  end
  return out
end
M.children = children

-- Every emulator started here, in order; `running` holds those not yet stopped.
M.started, M.running = {}, {}

-- Starts an emulator; returns {pid, url, out, rc, nginx = {pids}, dir}. Raises (after
-- stopping what it started) when the emulator does not come up within 20 s.
local function start(args)
  local out, pidf, rcf = os.tmpname(), os.tmpname(), os.tmpname()
  os.remove(rcf)
  local inner = ("env -u LD_PRELOAD %sbin/evcp-emulator --port 0 %s > %s 2>&1 & p=$!; echo $p > %s; wait $p; echo $? > %s")
    :format(ROOT, args, out, pidf, rcf)
  os.execute("sh -c " .. shell_quote(inner) .. " >/dev/null 2>&1 &")
  local deadline = os.time() + 20
  local url
  while os.time() <= deadline do
    local text = read_all(out) or ""
    url = text:match("listening on (http://%S+)")
    if url or read_all(rcf) then break end
    sleep(0.05)
  end
  local pid = tonumber((read_all(pidf) or ""):match("%d+"))
  os.remove(pidf)
  local emu = { pid = pid, url = url, out = out, rc = rcf, nginx = {} }
  if pid then
    for _, c in ipairs(children(pid)) do
      if c.args:find("nginx", 1, true) then
        emu.nginx[#emu.nginx + 1] = c.pid
        emu.dir = emu.dir or c.args:match("%-p (%S+)")
        for _, w in ipairs(children(c.pid)) do emu.nginx[#emu.nginx + 1] = w.pid end
      end
    end
    M.started[#M.started + 1] = emu
    M.running[emu] = true
  end
  if not url then
    local text = read_all(out)
    M.stop(emu)
    error("emulator did not start: " .. tostring(text), 2)
  end
  return emu
end

-- Stops an emulator (SIGTERM, then SIGKILL after 5 s); returns the launcher's exit
-- status. Safe to call twice and with nil.
function M.stop(emu)
  if not emu or not M.running[emu] then return emu and emu.status end
  M.running[emu] = nil
  if emu.pid then os.execute("kill -TERM " .. emu.pid .. " 2>/dev/null") end
  for _ = 1, 100 do
    if read_all(emu.rc) then break end
    sleep(0.05)
  end
  local rc = read_all(emu.rc)
  if not rc then
    local pids = { emu.pid }
    for _, p in ipairs(emu.nginx) do pids[#pids + 1] = p end
    os.execute("kill -KILL " .. table.concat(pids, " ") .. " 2>/dev/null")
  end
  os.remove(emu.out)
  os.remove(emu.rc)
  emu.status = rc and tonumber(rc:match("%d+"))
  return emu.status
end
local stop = M.stop

-- Stops every emulator still running (for teardown); returns how many there were.
function M.stop_all()
  local n = 0
  for _, emu in ipairs(M.started) do
    if M.running[emu] then stop(emu); n = n + 1 end
  end
  return n
end

-- The processes of every emulator started here that are still alive: a list of
-- "pid args" strings (a pid reused by another program is not counted).
function M.leftovers()
  local out = {}
  for _, emu in ipairs(M.started) do
    local pids = { emu.pid }
    for _, p in ipairs(emu.nginx) do pids[#pids + 1] = p end
    for _, p in ipairs(pids) do
      local args = cmdline(p)
      if alive(p) and (args:find("nginx", 1, true) or args:find("evcp-emulator", 1, true)) then
        out[#out + 1] = p .. " " .. args
      end
    end
  end
  return out
end

-- curl -s -i; returns {status, headers (lower-case names), body, json}
local function request(emu, path, opts)
  opts = opts or {}
  local cmd = { "env -u LD_PRELOAD curl -s -i --max-time 20" }
  if opts.method then cmd[#cmd + 1] = "-X " .. opts.method end
  for name, value in pairs(opts.headers or {}) do
    cmd[#cmd + 1] = "-H " .. shell_quote(name .. ": " .. value)
  end
  cmd[#cmd + 1] = shell_quote(emu.url .. path)
  local p = io.popen(table.concat(cmd, " "))
  local raw = p:read("*a")
  p:close()
  local head, body = raw:match("^(.-)\r\n\r\n(.*)$")
  assert(head, "no HTTP response: " .. raw)
  local res = { status = tonumber(head:match("^HTTP/%S+ (%d+)")), headers = {}, body = body }
  for name, value in head:gmatch("\r\n([^:\r\n]+):%s*([^\r\n]*)") do
    res.headers[name:lower()] = value
  end
  local ok, decoded = pcall(cjson.decode, body)
  if ok then res.json = decoded end
  return res
end


M.shell_quote, M.read_all, M.sleep, M.start, M.request =
  shell_quote, read_all, sleep, start, request
return M
