--- evcp.store.common (private): what the status store's backends share.
--
-- The timestamp reader, the rule that decides which of two updates of one
-- EVSE wins, the checks of an update's fields, the group key, and the reader
-- that turns a v3 Location (evcp's userdata or a plain table of the same
-- shape) into EVSE updates with their connector groups. docs/API.md,
-- "evcp.store", is the reference for the choices made here.
local type, tostring, getmetatable, byte, floor, format =
  type, tostring, getmetatable, string.byte, math.floor, string.format
local errors = require("evcp.error")

local M = {}

M.MAX_ID = 256          -- bytes of an EVSE id, a location id
M.MAX_STATUS = 64       -- bytes of a raw status
M.MAX_TIME = 64         -- bytes of a last_updated string
M.MAX_GROUPS = 32       -- connector groups one EVSE may belong to
M.MAX_GROUP_KEY = 160   -- bytes of a group key
M.MAX_PARTITION = 2147483647
M.MAX_OFFSET = 9007199254740991 -- 2^53 - 1
M.MAX_PARTITIONS = 4096

--- On equal last_updated, the status further down this list wins: the one
-- that tells a driver less good news. 0 is a status with no v3 spelling
-- (PLANNED, REMOVED): it loses every tie.
M.RANK = { available = 1, operational = 2, unknown = 3, reserved = 4, charging = 5,
  blocked = 6, inoperative = 7, outOfOrder = 8 }
M.STATUSES = { "available", "blocked", "charging", "inoperative", "outOfOrder", "reserved",
  "unknown", "operational" }

--- The tier-2 error of a refused update.
function M.invalid(msg)
  return nil, errors.new({ kind = "invalid", message = "evcp.store: " .. msg })
end

-- days since 1970-01-01 of a proleptic Gregorian date (y >= 0)
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local DIM = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

-- byte -> its digit's value (nil for anything else)
local D = {}
for c = 48, 57 do D[c] = c - 48 end

local POW10 = { 100000000, 10000000, 1000000, 100000, 10000, 1000, 100, 10, 1 }

-- days of the dates seen (key y * 10000 + mo * 100 + day), reset past 4096
local day_cache, day_n = {}, 0

local BAD = "last_updated is not an RFC 3339 time"

--- parse_time(s) -> seconds since the epoch (an integral number), nanoseconds
-- (0..999999999); or nil, message. s: RFC 3339 / ISO 8601 extended,
-- `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM|+HHMM|-HHMM)` (T or t or a
-- space, Z or z), at most 64 bytes; digits past the ninth of the fraction are
-- cut off. A time without a zone is refused: it would be read in some zone.
-- (Written for Lua 5.4's interpreter as much as for LuaJIT: digits by table
-- lookup, no calls on the way, the day number of a date cached.)
function M.parse_time(s)
  if type(s) ~= "string" then return nil, "last_updated must be a string, got " .. type(s) end
  local n = #s
  if n == 19 then return nil, "last_updated has no zone (Z or an offset)" end
  if n < 20 or n > M.MAX_TIME then return nil, BAD end
  local b1, b2, b3, b4, d1, b6, b7, d2, b9, b10, t, b12, b13, c1, b15, b16, c2, b18, b19, c =
    byte(s, 1, 20)
  local y1, y2, y3, y4, m1, m2, e1, e2 = D[b1], D[b2], D[b3], D[b4], D[b6], D[b7], D[b9], D[b10]
  local h1, h2, i1, i2, s1, s2 = D[b12], D[b13], D[b15], D[b16], D[b18], D[b19]
  if not (y1 and y2 and y3 and y4 and m1 and m2 and e1 and e2 and h1 and h2 and i1 and i2
    and s1 and s2) or d1 ~= 45 or d2 ~= 45 or (t ~= 84 and t ~= 116 and t ~= 32)
    or c1 ~= 58 or c2 ~= 58 then
    return nil, BAD
  end
  local y, mo, day = y1 * 1000 + y2 * 100 + y3 * 10 + y4, m1 * 10 + m2, e1 * 10 + e2
  local hh, mi, ss = h1 * 10 + h2, i1 * 10 + i2, s1 * 10 + s2
  if hh > 23 or mi > 59 or ss > 60 then return nil, "last_updated is out of range" end
  local dkey = y * 10000 + mo * 100 + day
  local days = day_cache[dkey]
  if not days then
    if mo < 1 or mo > 12 then return nil, "last_updated is out of range" end
    local dim = DIM[mo]
    if mo == 2 and y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0) then dim = 29 end
    if day < 1 or day > dim then return nil, "last_updated is out of range" end
    days = days_from_civil(y, mo, day)
    if day_n >= 4096 then day_cache, day_n = {}, 0 end
    day_cache[dkey] = days
    day_n = day_n + 1
  end
  local i, ns = 20, 0
  if c == 46 then -- '.'
    local k = 0
    i = 21
    c = byte(s, i)
    while c and c >= 48 and c <= 57 do
      if k < 9 then
        k = k + 1
        ns = ns + (c - 48) * POW10[k]
      end
      i = i + 1
      c = byte(s, i)
    end
    if k == 0 then return nil, BAD end
  end
  local sec = days * 86400 + hh * 3600 + mi * 60 + ss
  if c == 90 or c == 122 then -- Z z
    if i ~= n then return nil, BAD end
    return sec, ns
  elseif c == 43 or c == 45 then -- + -
    local a1, a2, a3, a4, a5 = byte(s, i + 1, i + 5)
    local oh, om
    if a1 and a2 and D[a1] and D[a2] then oh = D[a1] * 10 + D[a2] end
    if a3 == 58 and i + 5 == n then
      if a4 and a5 and D[a4] and D[a5] then om = D[a4] * 10 + D[a5] end
    elseif a3 and a3 ~= 58 and i + 4 == n then
      if a4 and D[a3] and D[a4] then om = D[a3] * 10 + D[a4] end
    end
    if not (oh and om) or oh > 23 or om > 59 then
      return nil, "last_updated has a bad zone offset"
    end
    local off = oh * 3600 + om * 60
    if c == 45 then off = -off end
    return sec - off, ns
  end
  return nil, "last_updated has no zone (Z or an offset)"
end

--- epoch seconds (a finite number) -> seconds, nanoseconds
function M.split_epoch(t)
  local sec = floor(t)
  local ns = floor((t - sec) * 1e9 + 0.5)
  if ns >= 1000000000 then sec, ns = sec + 1, ns - 1000000000 end
  return sec, ns
end

--- Whether an update (ts, tn, rank) beats what is held (rs, rn, rrank).
function M.newer(ts, tn, rank, rs, rn, rrank)
  if ts ~= rs then return ts > rs end
  if tn ~= rn then return tn > rn end
  return rank > rrank
end

--- The error message when v is not an id: a string of 1..MAX_ID bytes.
function M.bad_id(v, what)
  if type(v) ~= "string" then return what .. " must be a string, got " .. type(v) end
  local n = #v
  if n == 0 or n > M.MAX_ID then return what .. " must be 1.." .. M.MAX_ID .. " bytes long" end
  if v:find("[%c]") then return what .. " must not contain control characters" end
  return nil
end

--- The error message when v is neither nil nor an integer in 0..max.
function M.bad_count(v, what, max)
  if v == nil then return nil end
  if type(v) ~= "number" or v ~= v or v < 0 or v > max or v % 1 ~= 0 then
    return what .. " must be an integer in 0.." .. tostring(max)
  end
  return nil
end

-- "150000" for an integral power, else the shortest exact text
local function power_text(p)
  if p % 1 == 0 and p > -2 ^ 53 and p < 2 ^ 53 then return format("%d", p) end
  return format("%.17g", p)
end

--- The key of a connector group: "<standard>:<maxPower in W>", e.g.
-- "IEC_62196_T2_COMBO:150000"; nil when either is missing or odd.
function M.group_key(standard, max_power)
  if type(standard) ~= "string" or standard == "" or #standard > 100 or standard:find("[%c:]")
    or type(max_power) ~= "number" or max_power ~= max_power or max_power < 0
    or max_power == math.huge then
    return nil
  end
  return standard .. ":" .. power_text(max_power)
end

--- key -> standard, maxPower (the inverse of group_key), or nil
function M.group_parts(key)
  if type(key) ~= "string" or #key > M.MAX_GROUP_KEY then return nil end
  local standard, p = key:match("^([^:%c]+):([0-9.eE+-]+)$")
  local power = p and tonumber(p)
  if not power or M.group_key(standard, power) ~= key then return nil end
  if math.tointeger then power = math.tointeger(power) or power end
  return standard, power
end

-- Iterators over a Location's parts, for evcp's userdata and plain tables.
local function array_iter(t)
  local i = 0
  if type(t) ~= "table" then return function() return nil end end
  return function()
    i = i + 1
    local v = t[i]
    if type(v) == "table" then return v end
    while v ~= nil do
      i = i + 1
      v = t[i]
      if type(v) == "table" then return v end
    end
    return nil
  end
end

local function is_view(v, class)
  return type(v) == "userdata" and getmetatable(v) == class
end

--- Whether loc is something location_reader can read.
function M.is_location(loc)
  return is_view(loc, "evcp.Location") or (type(loc) == "table" and getmetatable(loc) == nil)
end

--- location_reader(loc) -> location id, an array of
-- { evse_id, status, raw_status, last_updated, groups = {keys} | false }
-- (status nil when the value has no v3 spelling; groups false when the
-- location tells no groups), or nil, message.
-- Groups: when the location's connectorGroups reference connectors (HERE
-- sends the references when `fields` has both evses and connectorGroups),
-- an EVSE belongs to each group that references one of its connectors;
-- otherwise to one group per distinct (standard, maxPower) of its
-- connectors: the rule HERE's connector groups follow.
function M.location_reader(loc, normalize)
  local view = type(loc) == "userdata"
  local lid = loc.id
  local out, by_id, by_uid = {}, {}, {}
  local evses = view and loc:evses() or array_iter(loc.evses)
  for evse in evses do
    local raw = evse.status
    local st = raw
    if type(raw) == "string" and not M.RANK[raw] and #raw <= M.MAX_STATUS then
      st = normalize(raw)
    end
    local groups, seen = {}, {}
    local conns = view and evse:connectors() or array_iter(evse.connectors)
    for c in conns do
      local key = M.group_key(c.standard, c.maxPower)
      if key and not seen[key] then
        seen[key] = true
        groups[#groups + 1] = key
      end
    end
    local e = { evse_id = evse.id, status = st, raw_status = raw, last_updated = evse.modified,
      groups = groups }
    out[#out + 1] = e
    if type(e.evse_id) == "string" then by_id[e.evse_id] = e end
    if type(evse.uid) == "string" then by_uid[evse.uid] = e end
  end
  -- references of the connector groups, when there are any
  local refs = {}
  local any = false
  local groups = view and loc:connector_groups() or array_iter(loc.connectorGroups)
  for g in groups do
    local key = M.group_key(g.standard, g.maxPower)
    if key then
      if view then
        for conn in g:connectors() do
          local e = by_id[conn:evse().id]
          if e then
            any = true
            refs[e] = refs[e] or {}
            refs[e][key] = true
          end
        end
      else
        for r in array_iter(g.connectors) do
          local e = by_uid[r.evseUid]
          if e then
            any = true
            refs[e] = refs[e] or {}
            refs[e][key] = true
          end
        end
      end
    end
  end
  if any then
    for _, e in ipairs(out) do
      local set, list = refs[e], {}
      if set then
        -- in the order of the EVSE's own connectors, then any others, sorted
        for _, k in ipairs(e.groups) do
          if set[k] then list[#list + 1] = k; set[k] = nil end
        end
        local rest = {}
        for k in pairs(set) do rest[#rest + 1] = k end
        table.sort(rest)
        for _, k in ipairs(rest) do list[#list + 1] = k end
      end
      e.groups = list
    end
  end
  return lid, out
end

return M
