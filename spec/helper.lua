-- Shared by the specs: where the emulator is, fixtures, small utilities.
local M = {}

M.url = os.getenv("EVCP_TEST_URL")
M.key = "demo-key"
M.seed_id = "here:evcp:charginglocation:246udbvy497hq-aGVyZS1ldjplY29tb3ZlbWVudDoyMDEyMTg1ODgz"
M.seed_cid = "246udbvy497hq-aGVyZS1ldjplY29tb3ZlbWVudDoyMDEyMTg1ODgz"
M.seed_id_2 = "here:evcp:charginglocation:246udbvy413fw-aGVyZS1ldjplY29tb3ZlbWVudDoyMDEyNDI4MTEx"

local here = debug.getinfo(1, "S").source:match("^@(.*)helper%.lua$") or "spec/"

function M.fixture(name)
  local f = assert(io.open(here .. "fixtures/" .. name, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

-- The bytes of the file at path.
function M.read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

-- Asserts deep equality that also tells integers from floats and -0 from 0
-- (NaN equals NaN).
function M.assert_identical(a, b, path)
  local check = require("luassert")
  path = path or "$"
  check.equal(type(a), type(b), path)
  if type(a) ~= "table" then
    if a ~= a then return check.is_true(b ~= b, path) end
    check.equal(a, b, path)
    if type(a) == "number" then
      if math.type then check.equal(math.type(a), math.type(b), path .. " (integer or float)") end
      if a == 0 then check.equal(1 / a, 1 / b, path .. " (sign of zero)") end
    end
    return
  end
  for k, v in pairs(a) do M.assert_identical(v, b[k], path .. "." .. tostring(k)) end
  for k in pairs(b) do check.is_not_nil(a[k], path .. "." .. tostring(k) .. " only on one side") end
end

function M.decode(s)
  return require("cjson").new().decode(s)
end

-- Deep equality where 1 == 1.0 and tables compare by content.
function M.same(a, b, path)
  path = path or "$"
  if type(a) ~= type(b) then return false, path .. ": " .. type(a) .. " vs " .. type(b) end
  if type(a) ~= "table" then
    if a == b then return true end
    return false, path .. ": " .. tostring(a) .. " vs " .. tostring(b)
  end
  for k, v in pairs(a) do
    local ok, where = M.same(v, b[k], path .. "." .. tostring(k))
    if not ok then return false, where end
  end
  for k in pairs(b) do
    if a[k] == nil then return false, path .. "." .. tostring(k) .. ": missing on the left" end
  end
  return true
end

-- Asserts deep equality where 1 == 1.0 (M.same).
function M.assert_same(a, b)
  local ok, where = M.same(a, b)
  assert(ok, where)
end

function M.client(opts)
  local evcp = require("evcp")
  opts = opts or {}
  if opts.base_url == nil then opts.base_url = M.url end
  if opts.api_key == nil and opts.access_token == nil then opts.api_key = M.key end
  return evcp.new(opts)
end

--- The whole content of the file at path, or nil.
function M.read_all(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

--- s quoted for sh.
function M.shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- Runs `code` in a fresh interpreter of this runtime (with the sanitizer
-- runtime the specs' children get, EVCP_CHILD_PRELOAD); returns its output
-- (stdout and stderr) and its peak RSS in bytes (VmHWM), or nil where /proc
-- is missing.
function M.child(code)
  local interp = jit and "luajit" or "lua5.4"
  local pre = os.getenv("EVCP_CHILD_PRELOAD")
  local env = pre and ("env LD_PRELOAD='" .. pre .. "'") or "env -u LD_PRELOAD"
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write(code, [[

for l in io.lines("/proc/self/status") do
  local kb = l:match("^VmHWM:%s+(%d+)")
  if kb then print("HWM " .. kb * 1024) end
end]])
  f:close()
  local p = io.popen(env .. " " .. interp .. " " .. script .. " 2>&1")
  local out = p:read("*a")
  p:close()
  os.remove(script)
  return out, tonumber(out:match("HWM (%d+)"))
end

function M.runtime()
  return jit and "LuaJIT" or _VERSION
end

--- The output of the sh command `cmd` with `input` on its stdin (stderr dropped), or
-- nil and that output when the command fails. For oracles that are not evcp's code
-- (gzip, base64, openssl...); they run without the sanitizer runtime.
function M.filter(cmd, input)
  local f, o = os.tmpname(), os.tmpname()
  local h = assert(io.open(f, "wb"))
  h:write(input)
  h:close()
  local ok = os.execute("env -u LD_PRELOAD " .. cmd .. " < " .. M.shell_quote(f) .. " > "
    .. M.shell_quote(o) .. " 2>/dev/null")
  local out = M.read_all(o)
  os.remove(f)
  os.remove(o)
  if ok == true or ok == 0 then return out end
  return nil, out
end

--- base64(HMAC-SHA256(key, text)) by the openssl command.
function M.openssl_sign(key, text)
  local f = os.tmpname()
  local h = assert(io.open(f, "wb"))
  h:write(text)
  h:close()
  local p = io.popen("env -u LD_PRELOAD openssl dgst -sha256 -hmac " .. M.shell_quote(key)
    .. " -binary < " .. M.shell_quote(f) .. " | env -u LD_PRELOAD openssl base64")
  local out = p:read("*a")
  p:close()
  os.remove(f)
  return (out:gsub("%s+$", ""))
end

--- s percent-encoded as RFC 5849 3.6 wants (all but A-Z a-z 0-9 - . _ ~, upper-case hex).
function M.pct(s)
  return (s:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

return M
