--- evcp.store.snapshot (private): a store's picture and offsets in a file.
--
-- The file is JSON lines, read without ever running code from it:
--   {"format":"evcp.store","version":1,"evses":N,"offsets":[[partition,offset],...]}
--   {"e":evse_id,"l":location_id,"s":status,"r":raw_status,"u":last_updated,
--    "p":partition,"o":offset,"g":[group key,...]}      (N lines; absent = nil)
--   {"end":N}
-- Every line is decoded by evcp.json with small bounds and every record goes
-- through the store's own checks (apply), so counts are rebuilt, never
-- read. A file without its end line (truncated), with a line too long, a
-- count that does not match, or anything else out of shape gives nil, err.
local type, tostring, pairs, ipairs, io, os, math = type, tostring, pairs, ipairs, io, os, math
local concat = table.concat
local json = require("evcp.json")
local errors = require("evcp.error")
local common = require("evcp.store.common")

local M = {}

local FORMAT, VERSION = "evcp.store", 1
local MAX_LINE = 4096

local function fail(kind, msg)
  return nil, errors.new({ kind = kind, message = "evcp.store: " .. msg })
end

-- the temporary file's name: next to path, unlikely to be anyone else's
-- (the time, a random number and a counter of this Lua state's snapshots)
local made = 0
local function temp_name(path)
  made = made + 1
  return ("%s.tmp-%d-%06d-%d"):format(path, os.time(), math.random(0, 999999), made)
end

function M.write(store, path)
  if type(path) ~= "string" or path == "" then
    error("evcp.store:snapshot: argument #1 (path) must be a non-empty string, got " .. type(path), 3)
  end
  local offs = {}
  for p, o in pairs(store:offsets()) do offs[#offs + 1] = { p, o } end
  table.sort(offs, function(a, b) return a[1] < b[1] end)
  local want = store:size()
  local tmp = temp_name(path)
  local f, why = io.open(tmp, "wb")
  if not f then return fail("io", "cannot write the snapshot: " .. tostring(why)) end
  local n = 0
  local encode = json.encode
  local ok, err = pcall(function()
    assert(f:write(encode({ format = FORMAT, version = VERSION, evses = want, offsets = offs }), "\n"))
    local buf, nb, rec = {}, 0, {}
    store:_each_record(function(e, l, s, r, u, p, o, g)
      rec.e, rec.l, rec.s, rec.r, rec.u, rec.p, rec.o = e, l, s, r, u, p, o
      rec.g = (g and #g > 0) and g or nil
      nb = nb + 1
      buf[nb] = encode(rec)
      n = n + 1
      if nb >= 512 then
        assert(f:write(concat(buf, "\n", 1, nb), "\n"))
        nb = 0
      end
    end)
    if nb > 0 then assert(f:write(concat(buf, "\n", 1, nb), "\n")) end
    assert(f:write(encode({ ["end"] = n }), "\n"))
  end)
  local closed, cwhy = f:close()
  if not ok or not closed then
    os.remove(tmp)
    return fail("io", "cannot write the snapshot: " .. tostring(ok and cwhy or err))
  end
  if n ~= want then
    -- (a shared store that other workers changed while it was read)
    os.remove(tmp)
    return fail("busy", "the store changed while the snapshot was written; try again")
  end
  local renamed, rwhy = os.rename(tmp, path)
  if not renamed then
    os.remove(tmp)
    return fail("io", "cannot rename the snapshot into place: " .. tostring(rwhy))
  end
  return true
end

local null = json.null
local LIMITS = { max_bytes = MAX_LINE }

local function opt(v)
  if v == null then return nil end
  return v
end

local function int(v)
  if math.tointeger and type(v) == "number" then return math.tointeger(v) or v end
  return v
end

local RECORD_KEYS = { e = true, l = true, s = true, r = true, u = true, p = true, o = true, g = true }

-- one record line -> update, groups | nil, message
local function record(line)
  local t, msg = json.decode(line, LIMITS)
  if type(t) ~= "table" then return nil, "a record is not a JSON object" .. (msg and (": " .. msg) or "") end
  for k in pairs(t) do
    if not RECORD_KEYS[k] then return nil, "a record has an unknown field " .. tostring(k) end
  end
  local u = { evse_id = t.e, location_id = t.l, status = opt(t.s), raw_status = opt(t.r),
    last_updated = t.u, partition = int(opt(t.p)), offset = int(opt(t.o)) }
  local g = opt(t.g)
  local groups = false
  if g ~= nil then
    if type(g) ~= "table" or #g > common.MAX_GROUPS then return nil, "a record's groups are not a short array" end
    groups = {}
    local seen = {}
    for i = 1, #g do
      local k = g[i]
      if not common.group_parts(k) or seen[k] then return nil, "a record has a bad group key" end
      seen[k] = true
      groups[i] = k
    end
    for k in pairs(g) do
      if type(k) ~= "number" then return nil, "a record's groups are not an array" end
    end
  end
  return u, groups
end

function M.read(store, path, max_bytes)
  local f, why = io.open(path, "rb")
  if not f then return fail("io", "cannot read the snapshot: " .. tostring(why)) end
  local size = f:seek("end")
  if not size then
    f:close()
    return fail("io", "cannot read the snapshot: not a regular file")
  end
  if size > max_bytes then
    f:close()
    return fail("invalid", "the snapshot is larger than max_bytes (" .. size .. " bytes)")
  end
  f:seek("set", 0)
  local text = f:read(size + 1) or ""
  f:close()
  if #text ~= size then return fail("invalid", "the snapshot changed while it was read") end
  -- lines, each at most MAX_LINE bytes
  local pos, lineno = 1, 0
  local function next_line()
    if pos > #text then return nil end
    local nl = text:find("\n", pos, true)
    if not nl then return nil, "the snapshot is truncated (its last line has no end)" end
    if nl - pos > MAX_LINE then return nil, "line " .. (lineno + 1) .. " of the snapshot is too long" end
    local line = text:sub(pos, nl - 1)
    pos = nl + 1
    lineno = lineno + 1
    return line
  end
  local line, msg = next_line()
  if not line then return fail("invalid", msg or "the snapshot is empty") end
  local head = json.decode(line, { max_bytes = 1024 * 1024 })
  if type(head) ~= "table" or head.format ~= FORMAT then
    return fail("invalid", "not an evcp.store snapshot")
  end
  if head.version ~= VERSION then
    return fail("invalid", "snapshot version " .. tostring(head.version) .. " is not " .. VERSION)
  end
  local n = head.evses
  if type(n) ~= "number" or n ~= n or n < 0 or n % 1 ~= 0 then
    return fail("invalid", "the snapshot's header has no EVSE count")
  end
  local offs = head.offsets
  if type(offs) ~= "table" or #offs > common.MAX_PARTITIONS then
    return fail("invalid", "the snapshot's offsets are not a short array")
  end
  local offsets = {}
  for _, pair in ipairs(offs) do
    if type(pair) ~= "table" or #pair ~= 2 then return fail("invalid", "bad offsets in the snapshot") end
    local p, o = int(pair[1]), int(pair[2])
    if common.bad_count(p, "p", common.MAX_PARTITION) or p == nil
      or common.bad_count(o, "o", common.MAX_OFFSET) or o == nil or offsets[p] ~= nil then
      return fail("invalid", "bad offsets in the snapshot")
    end
    offsets[p] = o
  end
  local seen = {}
  for i = 1, n do
    line, msg = next_line()
    if not line then return fail("invalid", msg or ("the snapshot is truncated after " .. (i - 1) .. " records")) end
    local u, groups = record(line)
    if not u then return fail("invalid", "line " .. lineno .. ": " .. groups) end
    if seen[u.evse_id] then return fail("invalid", "line " .. lineno .. ": the snapshot names an EVSE twice") end
    if type(u.evse_id) == "string" then seen[u.evse_id] = true end
    local ok, err = store:_put(u, groups)
    if not ok then
      return fail(err.kind == "full" and "full" or "invalid", "line " .. lineno .. ": " .. tostring(err.message))
    end
  end
  line, msg = next_line()
  if not line then return fail("invalid", msg or "the snapshot is truncated (no end line)") end
  local tail = json.decode(line, LIMITS)
  if type(tail) ~= "table" or tail["end"] ~= n then
    return fail("invalid", "the snapshot's end line does not match its header")
  end
  if pos <= #text then return fail("invalid", "the snapshot has data after its end line") end
  store:set_offsets(offsets)
  return store
end

return M
