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

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function read_all(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function sleep(sec)
  os.execute("sleep " .. sec)
end

-- Starts an emulator; returns {pid, url, out, rc}.
local function start(args)
  local out, pidf, rcf = os.tmpname(), os.tmpname(), os.tmpname()
  os.remove(rcf)
  local inner = ("env -u LD_PRELOAD bin/evcp-emulator --port 0 %s > %s 2>&1 & p=$!; echo $p > %s; wait $p; echo $? > %s")
    :format(args, out, pidf, rcf)
  os.execute("sh -c " .. shell_quote(inner) .. " >/dev/null 2>&1 &")
  local deadline = os.time() + 20
  local url
  while os.time() <= deadline do
    local text = read_all(out) or ""
    url = text:match("listening on (http://%S+)")
    if url then break end
    sleep(0.05)
  end
  local pid = tonumber((read_all(pidf) or ""):match("%d+"))
  os.remove(pidf)
  assert(url, "emulator did not start: " .. tostring(read_all(out)))
  return { pid = pid, url = url, out = out, rc = rcf }
end

local function stop(emu)
  if not emu then return end
  os.execute("kill -TERM " .. emu.pid .. " 2>/dev/null")
  for _ = 1, 100 do
    if read_all(emu.rc) then break end
    sleep(0.05)
  end
  local rc = read_all(emu.rc)
  os.remove(emu.out)
  os.remove(emu.rc)
  return rc and tonumber(rc:match("%d+"))
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


M.shell_quote, M.read_all, M.sleep, M.start, M.stop, M.request =
  shell_quote, read_all, sleep, start, stop, request
return M
