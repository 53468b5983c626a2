--- evcp.v2.station: one v2 station -> the v3-shaped table of a Location (pure).
--
--   local station = require "evcp.v2.station"
--   local t, msg = station.to_v3(st, "evStations.evStation[1]")
--   local items = station.list_of(st.connectors, "connector")
--
-- How a v2 station maps onto the v3 model (the migration guide: pool or
-- station -> Location, EVSE -> EVSE, connector -> Connector):
--
--   * id: "here:evcp:charginglocation:" .. poolId (HERE keeps location ids
--     across versions), or the station id when there is no poolId.
--   * operator = {name = brand, partnerId = supplierUID}: v2 names one
--     operator brand, the suboperator when there is one, else the operator
--     (the guide's "Operator and Suboperator"), so compare it with v3's
--     suboperator-or-operator. supplierUID is HERE's partner id of that
--     entity, as in v3; cpoId (the CPO's own id of the location) becomes
--     cpoLocationId.
--   * A v2 "connector" is a connector group: one connector type and power,
--     with numberOfConnectors and a connectorStatuses list. Each
--     connectorStatus item is one connector of one EVSE: items with the same
--     cpoEvseId, in one group or several, are connectors of one EVSE (an
--     EVSE with a CCS and a CHAdeMO plug appears in two groups; two
--     identical plugs of one EVSE are two items of one group). So:
--       - evses: one per distinct cpoEvseId, in the order first seen; an item
--         without cpoEvseId is an EVSE of its own (uid poolId/group/item);
--         status = the v3 status of its first item's state (evcp.status);
--         modified = the lastUpdateTimestamp of the first group it is in
--         (v2 has no per-EVSE time in a station);
--       - each item adds one connector (id = cpoConnectorId; without one,
--         the EVSE uid, or uid/group number when the uid is taken); a
--         connector id already on the EVSE is not added twice;
--       - connectorGroups: one per v2 group, {standard, standards, v2TypeId,
--         maxPower, connectorCount = numberOfConnectors,
--         availableConnectorCount = numberOfAvailable, connectors = the
--         groups' {evseUid, connectorIds} references}.
--     A group without connectorStatuses (HERE's older answers) gives no
--     EVSEs, only its connectorGroups entry: counts in the data are copied as
--     numbers, never used to build anything.
--   * Connector standard: v2TypeId is the v2 connectorType.id (a string, as
--     v2 sends it), always kept. `standards` lists every v3 standard the
--     guide maps it to (id 36 -> IEC_60309_2_THREE_16, _32, _64; v2 does not
--     say which); `standard` is set only when there is exactly one. For a
--     deprecated, unused or unknown id both are absent and v2TypeId alone
--     says what the plug is.
--   * Electrical data, from chargeCapacity ("380-480VAC, 3-phase at max.
--     32 A", "1000-1000VDC, at max 300A"), else voltsRange/ampsRange and
--     chargingPoint.phases/chargeMode, or the group's powerFeedType id when
--     sent (1..5: ac1Phase, ac2Phase, ac2PhaseSplit, ac3Phase, dc): powerType
--     dc / ac1Phase / ac2PhaseSplit (v2 "2-phase") / ac3Phase, left out when
--     nothing says;
--     maxCurrent = the figure before "A"; maxVoltage = the highest figure
--     before "V", line to neutral for 3-phase AC as v3 defines it: v2 writes
--     3-phase voltages both ways (HERE's older answers line to line,
--     "380-480VAC"; its current example line to neutral, "230-230VAC" at
--     22 kW and 32 A), so a 3-phase figure of 360 V or more is read as line
--     to line and divided by sqrt(3) (480 -> 277). Only the first entry of
--     a ";"-separated list is read. maxPower = maxPowerLevel (kW) * 1000.
--     format = cable/socket from fixedCable, left out when it is not given.
--
-- Hostile input: every text is length-checked before any pattern work, and
-- every pattern is linear; counts in the data are never used to allocate;
-- EVSEs by uid, a group's references and an EVSE's connector ids are found
-- by a scan of at most 8 entries, then through a hash (O(n) per station).
-- The whole v2 station stays reachable as `v2`.
--
-- Speed (issue 7 section 6; callgrind on the v2-json page of 100 stations,
-- 8.5 -> 6.0 M instructions a page on Lua 5.4): most of what is left is
-- making the result's tables (copying the result alone costs 5.0 M). The hot
-- path calls as few functions as it can, since on Lua 5.4 a call, type()
-- above all, costs more than the work around it: text() and the number
-- checks are written out where a field is read, type() runs only on a value
-- that is there, and what HERE repeats (type ids, electrical texts, power
-- levels, brands and partner ids, small counts) is found in a table: memos
-- bounded by MAX_MEMO, read with the raw value so that a hit needs no type
-- check, and the fixed COUNT. A memo holds strings, numbers and its own
-- read-only entries, never a table of a result: every table in a result is
-- made for it, nothing is shared between two results (core.location keeps
-- the table it is given, and its node cache is keyed by node: a node shared
-- by two stations would share what their Locations hand out too).
local type, ipairs, next, tonumber, error, setmetatable = type, ipairs, next, tonumber, error, setmetatable
local floor, sqrt = math.floor, math.sqrt
local find, sub, format = string.find, string.sub, string.format

local M = {}

local connectors = require("evcp.connectors")
local status = require("evcp.status")

local MAX_TEXT = 256      -- longest electrical text (chargeCapacity, voltsRange, ampsRange) read
local MAX_DIGITS = 7      -- longest figure read from such a text
local MAX_TYPE_ID = 8     -- longest connectorType.id looked up
local MAX_STATE = 32      -- longest state looked up
local MAX_COUNT = 2147483647
local MAX_KW = 1e6
local LINE_TO_LINE_MIN = 360 -- 3-phase figures from this voltage up are line to line
local SQRT3 = sqrt(3)
local MAX_MEMO = 512      -- most entries a memo below holds (it starts afresh when full)
local SMALL = 8           -- up to this many entries a keyed list is scanned, then mapped

---------------------------------------------------------------------------
-- lookups (built once)

-- v2 id (integer) -> array of v3 standards (shared, never handed out: each
-- group gets its own copy, as core's per-node copies are shared by node)
local STANDARDS = {}
for row in connectors.rows() do
  if row.state == "current" then STANDARDS[row.id] = row.standards end
end

-- v2 state as HERE spells it -> v3 status (other spellings go through
-- status.v2_to_v3, which allocates)
local STATUS = {}
for _, state in ipairs(status.V2) do STATUS[state] = status.v2_to_v3(state) end
STATUS.UNKNOWN = status.v2_to_v3("UNKNOWN")

local function v3_status(state)
  local s = STATUS[state]
  if s then return s end
  if type(state) ~= "string" or #state > MAX_STATE then return "unknown" end
  return status.v2_to_v3(state) or "unknown"
end

-- COUNT[n] = n for the counts HERE sends (0..SMALL_COUNT): what count_of
-- gives for such a number, integer or float, found without a call (a float
-- key with an integral value finds the integer key on both runtimes; any
-- other value, a string among them, is not a key)
local SMALL_COUNT = 64
local COUNT = {}
for n = 0, SMALL_COUNT do COUNT[n] = n end

---------------------------------------------------------------------------
-- small readers

-- a non-empty string, or an integral number as its decimal text (the hot
-- path writes the string case out: `if type(v) ~= "string" then v = text(v)
-- elseif v == "" then v = nil end`, behind `v ~= nil`)
local function text(v)
  local t = type(v)
  if t == "string" then
    if v ~= "" then return v end
  elseif t == "number" and v == v and v % 1 == 0 and v > -1e15 and v < 1e15 then
    return format("%d", v)
  end
  return nil
end

local INF = math.huge -- (Lua does not fold 1 / 0 at compile time)

-- A count: a non-negative integral number up to MAX_COUNT (or a string of
-- one, at most 10 bytes) as an integer, else nil. A number within the bounds
-- is finite: NaN and the infinities fail the comparisons.
local function count_of(v)
  local t = type(v)
  if t == "string" then
    if #v > 10 then return nil end
    v = tonumber(v)
    if v == nil then return nil end
  elseif t ~= "number" then
    return nil
  end
  if v >= 0 and v <= MAX_COUNT and v % 1 == 0 then return floor(v) end
  return nil
end

-- HERE's answers repeat a few dozen connector type ids, electrical texts and
-- power levels: each is read once and remembered (at most MAX_MEMO of each
-- kind). A memo is read with the raw field value as key, before any type
-- check: only values that passed the checks are ever keys, so a hit is the
-- answer, and a miss (a new value, or one of another type) goes the long way.
local tid_memo, tid_n = {}, 0
local elec_memo, elec_n = {}, 0
local kw_memo, kw_n = {}, 0

-- connectorType.id -> {v2 id text (digits), its v3 standards or nil}, or
-- false; a string id is remembered (see type_of).
local function read_type_id(v)
  if type(v) == "string" then
    local r = false
    if v ~= "" and #v <= MAX_TYPE_ID and find(v, "^%d+$") then
      local n = tonumber(v)
      r = { format("%d", n), STANDARDS[n] }
    end
    if #v <= MAX_TYPE_ID then
      if tid_n >= MAX_MEMO then tid_memo, tid_n = {}, 0 end
      tid_n = tid_n + 1
      tid_memo[v] = r
    end
    return r
  end
  local id = text(v)
  if id == nil or #id > MAX_TYPE_ID or not find(id, "^%d+$") then return false end
  local n = tonumber(id)
  return { format("%d", n), STANDARDS[n] }
end

local PHASE_TYPE = { [1] = "ac1Phase", [2] = "ac2PhaseSplit", [3] = "ac3Phase" }

-- The v3 powerType and maxVoltage of a group from what it says: kind ("ac"
-- | "dc" | nil), phases, feed (the power type its powerFeedType names, HERE's
-- v2 lookup 1..5) and the highest volts figure. Without a feed, the phases
-- tell the AC type, where "2" cannot tell two-phase from split phase.
local function power_of(kind, phases, feed, volts)
  if not kind and phases then kind = "ac" end
  local power_type
  if feed then
    power_type = feed
  elseif kind == "dc" then
    power_type = "dc"
  elseif kind == "ac" then
    power_type = PHASE_TYPE[phases or 1]
  end
  if volts and power_type == "ac3Phase" and volts >= LINE_TO_LINE_MIN then volts = floor(volts / SQRT3 + 0.5) end
  return power_type, volts
end

-- Reads an electrical text (a string of at most MAX_TEXT bytes) into
-- {volts, amps, phases, kind = "ac" | "dc"}, each nil where it says nothing,
-- and remembers it. Linear: each find either fails at once or
-- consumes one run of digits, spaces or letters.
local function electrical(s)
  local stop = find(s, ";", 1, true)
  local t = s
  if stop then t = sub(s, 1, stop - 1) end
  local volts, amps, phases
  local i = 1
  while true do
    local a, b = find(t, "%d+", i)
    if not a then break end
    i = b + 1
    if b - a < MAX_DIGITS then
      local n = tonumber(sub(t, a, b))
      if find(t, "^%-[Pp]hase", i) then
        phases = phases or n
      else
        local _, _, unit = find(t, "^%s*(%a?)", i)
        if unit == "V" then
          if volts == nil or n > volts then volts = n end
        elseif unit == "A" then
          amps = amps or n
        end
      end
    end
  end
  local kind
  if find(t, "DC", 1, true) then kind = "dc" elseif find(t, "AC", 1, true) then kind = "ac" end
  if volts == 0 then volts = nil end
  if amps == 0 then amps = nil end
  -- full: it says all four, so that no later text can add to it; then
  -- power_type and max_voltage are what power_of gives without a feed
  local r = { volts = volts, amps = amps, phases = phases, kind = kind,
    full = volts ~= nil and amps ~= nil and phases ~= nil and kind ~= nil }
  if r.full then r.power_type, r.max_voltage = power_of(kind, phases, nil, volts) end
  if elec_n >= MAX_MEMO then elec_memo, elec_n = {}, 0 end
  elec_n = elec_n + 1
  elec_memo[s] = r
  return r
end

-- What an electrical field says (see electrical), or nil when it is not a
-- string of at most MAX_TEXT bytes: the long way of `elec_memo[s]`.
local function read_electrical(s)
  if type(s) ~= "string" or #s > MAX_TEXT then return nil end
  return electrical(s)
end

-- maxPowerLevel (kW, a number or a string of one) -> maxPower in W, or
-- nil: the long way of `kw_memo[kw]`.
local function read_power(kw)
  local v = kw
  if type(v) == "string" then
    if #v > 32 then return nil end
    v = tonumber(v)
  end
  if type(v) ~= "number" or not (v > 0 and v <= MAX_KW) then return nil end
  local w = floor(v * 1000 + 0.5)
  if kw_n >= MAX_MEMO then kw_memo, kw_n = {}, 0 end
  kw_n = kw_n + 1
  kw_memo[kw] = w
  return w
end

-- Short texts HERE repeats (brands, partner ids, physical references): a
-- hit in `words` says the value is a non-empty string, which is its text.
local MAX_WORD = 64
local words, words_n = {}, 0

-- text(v), remembering a short string: the long way of `words[v]`.
local function read_word(v)
  if type(v) ~= "string" then return text(v) end
  if v == "" then return nil end
  if #v <= MAX_WORD then
    if words_n >= MAX_MEMO then words, words_n = {}, 0 end
    words_n = words_n + 1
    words[v] = true
  end
  return v
end

local FORMAT = { [true] = "cable", [false] = "socket" } -- fixedCable -> format
-- v2 power feed type ids (/ev/powerfeedtypes) -> v3 PowerType
local POWER_FEED = { ["1"] = "ac1Phase", ["2"] = "ac2Phase", ["3"] = "ac2PhaseSplit", ["4"] = "ac3Phase",
  ["5"] = "dc", [1] = "ac1Phase", [2] = "ac2Phase", [3] = "ac2PhaseSplit", [4] = "ac3Phase", [5] = "dc" }

-- The empty list list_of hands out: one shared table that refuses writes.
local EMPTY = setmetatable({}, {
  __newindex = function() error("evcp.v2.station: the empty list of list_of is read-only", 2) end,
  __metatable = false,
})

--- station.list_of(wrapper, key) -> array (read it, do not modify it)
-- wrapper[key] as an array: the array itself, a single object wrapped in a
-- new one, anything else a shared read-only empty list.
local function list_of(wrapper, key)
  if type(wrapper) ~= "table" then return EMPTY end
  local v = wrapper[key]
  if type(v) ~= "table" then return EMPTY end
  if v[1] == nil and next(v) ~= nil then return { v } end
  return v
end

---------------------------------------------------------------------------
-- Keyed lists: EVSEs by uid, a group's references by evseUid and an EVSE's
-- connectors by id. Each is an array of tables scanned while it has at most
-- SMALL entries; past that a map (key -> entry) answers, so that a station
-- of n items costs O(n). The scans are written out where they are used:
-- one find(list, n, field, key, map) helper for all four cost 32,000
-- instructions more a page on Lua 5.4 (a call per lookup, against a scan of
-- the one or two entries real stations have). The maps all come from here.

-- The map of list's first n entries by field f.
local function map_of(list, n, f)
  local map = {}
  for i = 1, n do map[list[i][f]] = list[i] end
  return map
end

---------------------------------------------------------------------------

-- Is a connector with this id among the n connectors of conns? map: the
-- connectors by id (map_of), made once there are more than SMALL.
local function has_id(conns, n, map, id)
  if map then return map[id] ~= nil end
  for i = 1, n do
    if conns[i].id == id then return true end
  end
  return false
end

local function name_of(where, i)
  if i then return where .. "[" .. i .. "]" end
  return where
end

--- station.to_v3(st, where [, i]) -> table | nil, message
-- The v3-shaped table of one v2 station (see the header); `where` (a
-- string) names the station in messages (with i: the station is where[i]). nil and a message
-- when the station lacks what a Location needs (a position, an id).
local last_where = "" -- the last `where` found to be a string

--- station.to_v3(st, where [, i]) -> table | nil, message
-- The v3-shaped table of one v2 station (see the header); `where` (a
-- string) names the station in messages (with i: the station is where[i]). nil and a message
-- when the station lacks what a Location needs (a position, an id).
local function station_to_v3(st, where, index)
  if where ~= last_where then
    if type(where) ~= "string" then
      error("evcp.v2.station.to_v3: argument #2 (where) must be a string, got " .. type(where), 2)
    end
    last_where = where
  end
  if index ~= nil and tonumber(index) ~= index and type(index) ~= "number" then
    error("evcp.v2.station.to_v3: argument #3 (i) must be a number or nil, got " .. type(index), 2)
  end
  if type(st) ~= "table" then return nil, name_of(where, index) .. ": expected a station object" end
  local pos = st.position
  local lat, lng
  if type(pos) == "table" then lat, lng = pos.latitude, pos.longitude end
  -- (x and tonumber(x) == x: x is a number other than NaN, told without the
  -- string type() makes; numbers within the bounds are finite)
  if not lat or tonumber(lat) ~= lat or not lng or tonumber(lng) ~= lng or
     not (lat >= -90 and lat <= 90 and lng >= -180 and lng <= 180) then
    return nil, name_of(where, index) .. ".position: expected latitude and longitude numbers"
  end
  -- Below, `if v then` stands for `if v ~= nil then` where false gives
  -- what nil gives (text(false) is nil), as the cheaper test.
  local pool = st.poolId
  if pool then
    if type(pool) ~= "string" then pool = text(pool) elseif pool == "" then pool = nil end
  end
  if not pool then
    pool = text(st.id)
    if pool == nil then return nil, name_of(where, index) .. ": station has neither poolId nor id" end
  end
  local address, access
  local a = st.address
  if a and type(a) == "table" then
    -- (district and state, seldom sent, are added when they are: a table
    -- sized for the other seven is half the size)
    address = { label = a.unparsedAddress, street = a.street, houseNumber = a.streetNumber,
      city = a.city, county = a.county, countryCode = a.country, postalCode = a.postalCode }
    local v = a.district
    if v ~= nil then address.district = v end
    v = a.state
    if v ~= nil then address.state = v end
  end
  local ep = st.entrancePosition
  if ep and type(ep) == "table" then
    local elat, elng = ep.latitude, ep.longitude
    if type(elat) == "number" and elat > -INF and elat < INF and
       type(elng) == "number" and elng > -INF and elng < INF then
      access = { { lat = elat, lng = elng } }
    end
  end
  local cpo = st.cpoId
  if cpo then
    if type(cpo) ~= "string" then cpo = text(cpo) elseif cpo == "" then cpo = nil end
  else
    cpo = nil
  end
  local brand = st.brand
  if not words[brand] then brand = read_word(brand) end
  local partner
  local evses, nev, by_uid -- by_uid: uid -> EVSE, made once there are more than SMALL
  local sets -- connectors list -> map of its connectors by id, for lists of more than SMALL
  local groups, ngroups
  local list = EMPTY -- list_of(st.connectors, "connector"), written out
  local w = st.connectors
  if w and type(w) == "table" then
    local v = w.connector
    if v and type(v) == "table" then
      if v[1] == nil and next(v) ~= nil then list = { v } else list = v end
    end
  end
  for gi = 1, #list + 1 do
    local group = list[gi]
    if group == nil then break end -- as ipairs
    if type(group) == "table" then
      if not partner then
        partner = group.supplierUID
        if not words[partner] then partner = read_word(partner) end
      end
      if not brand then
        brand = group.supplierName
        if not words[brand] then brand = read_word(brand) end
      end
      -- the group's facts
      local tid, std_list
      local ct = group.connectorType
      if ct and type(ct) == "table" then
        local v = ct.id
        local r = tid_memo[v]
        if r == nil then r = read_type_id(v) end
        if r then tid, std_list = r[1], r[2] end
      end
      local standards, standard
      if std_list then
        local n = #std_list
        if n == 1 then
          standard = std_list[1]
          standards = { standard }
        else
          standards = {}
          for i = 1, n do standards[i] = std_list[i] end
        end
      end
      local kw = group.maxPowerLevel
      local max_power = kw_memo[kw]
      if not max_power and kw then max_power = read_power(kw) end
      local fmt = FORMAT[group.fixedCable]
      local cp = group.chargingPoint
      if cp and type(cp) ~= "table" then cp = nil end
      -- electrical data: chargeCapacity, then what it leaves unset from the
      -- charging point; a powerFeedType says the power type outright
      local pf = group.powerFeedType
      local feed = pf and type(pf) == "table" and POWER_FEED[pf.id]
      local s = group.chargeCapacity
      local cap = elec_memo[s]
      if not cap and s then cap = read_electrical(s) end
      local volts, amps, power_type
      if cap and cap.full and not feed then
        volts, amps, power_type = cap.max_voltage, cap.amps, cap.power_type
      else
        local phases, kind
        if cap then volts, amps, phases, kind = cap.volts, cap.amps, cap.phases, cap.kind end
        if cp and not (cap and cap.full) then
          s = cp.voltsRange
          local e = elec_memo[s]
          if not e and s then e = read_electrical(s) end
          if e then
            if not volts then volts = e.volts end
            if not amps then amps = e.amps end
            if not phases then phases = e.phases end
            if not kind then kind = e.kind end
          end
          s = cp.ampsRange
          e = elec_memo[s]
          if not e and s then e = read_electrical(s) end
          if e then
            if not volts then volts = e.volts end
            if not amps then amps = e.amps end
            if not phases then phases = e.phases end
            if not kind then kind = e.kind end
          end
          if not phases then phases = count_of(cp.phases) end
          if not kind and cp.chargeMode == "4" then kind = "dc" end
        end
        power_type, volts = power_of(kind, phases, feed, volts)
      end
      local modified = group.lastUpdateTimestamp
      if modified then
        if type(modified) ~= "string" then modified = text(modified) elseif modified == "" then modified = nil end
      else
        modified = nil
      end
      if cp and not modified then modified = text(cp.lastUpdateTimestamp) end
      -- its connectors
      local refs, nrefs, ref_of, listed_available = nil, 0, nil, 0
      local items = EMPTY -- list_of(group.connectorStatuses, "connectorStatus"), written out
      w = group.connectorStatuses
      if w and type(w) == "table" then
        local v = w.connectorStatus
        if v and type(v) == "table" then
          if v[1] == nil and next(v) ~= nil then items = { v } else items = v end
        end
      end
      for k = 1, #items do
        local cs = items[k]
        if type(cs) == "table" then
          local uid = cs.cpoEvseId
          if uid then
            if type(uid) ~= "string" then uid = text(uid) elseif uid == "" then uid = nil end
          end
          if not uid then uid = pool .. "/" .. gi .. "/" .. k end
          local evse
          if by_uid then
            evse = by_uid[uid]
          elseif evses then
            for j = 1, nev do
              if evses[j].uid == uid then
                evse = evses[j]
                break
              end
            end
          end
          local cid = cs.cpoConnectorId
          -- (often the EVSE id: then it is that string, with no type check)
          if cid ~= uid and cid then
            if type(cid) ~= "string" then cid = text(cid) elseif cid == "" then cid = nil end
          end
          local new_ref -- make this group's reference to the EVSE
          if not evse then
            -- a new EVSE: its connector and this group's reference to it are new too
            if not cid then cid = uid end
            local id = cs.cpoEvseEMI3Id
            if id then
              if type(id) ~= "string" then id = text(id) elseif id == "" then id = nil end
            else
              id = nil
            end
            local phys = cs.physicalReference
            if not words[phys] then phys = read_word(phys) end
            local state = cs.state
            local st3 = STATUS[state] or v3_status(state)
            evse = { uid = uid, evseId = id, physicalReference = phys, status = st3, modified = modified,
              connectors = { { id = cid, standard = standard, standards = standards, v2TypeId = tid,
                format = fmt, powerType = power_type, maxVoltage = volts, maxCurrent = amps,
                maxPower = max_power } } }
            if evses then
              nev = nev + 1
              evses[nev] = evse
              if by_uid then
                by_uid[uid] = evse
              elseif nev > SMALL then
                by_uid = map_of(evses, nev, "uid")
              end
            else
              evses, nev = { evse }, 1
            end
            new_ref = true
            if st3 == "available" then listed_available = listed_available + 1 end
          else
            local conns = evse.connectors
            local n = #conns
            local map = n > SMALL and sets[conns]
            if not cid then
              -- no connector id: the EVSE's uid, made unique per group
              cid = uid
              if has_id(conns, n, map, cid) then cid = uid .. "/" .. gi end
            end
            if not has_id(conns, n, map, cid) then
              local c = { id = cid, standard = standard, standards = standards, v2TypeId = tid,
                format = fmt, powerType = power_type, maxVoltage = volts, maxCurrent = amps, maxPower = max_power }
              n = n + 1
              conns[n] = c
              if map then
                map[cid] = c
              elseif n > SMALL then
                sets = sets or {}
                sets[conns] = map_of(conns, n, "id")
              end
              -- the group's reference to the EVSE
              local ref
              if ref_of then
                ref = ref_of[uid]
              else
                for r = 1, nrefs do
                  if refs[r].evseUid == uid then
                    ref = refs[r]
                    break
                  end
                end
              end
              if ref then
                local ids = ref.connectorIds
                ids[#ids + 1] = cid
              else
                new_ref = true
                if evse.status == "available" then listed_available = listed_available + 1 end
              end
            end
          end
          if new_ref then
            local ref = { evseUid = uid, connectorIds = { cid } }
            if refs then
              nrefs = nrefs + 1
              refs[nrefs] = ref
              if ref_of then
                ref_of[uid] = ref
              elseif nrefs > SMALL then
                ref_of = map_of(refs, nrefs, "evseUid")
              end
            else
              refs, nrefs = { ref }, 1
            end
          end
        end
      end
      -- the counts the group states (read after its items: fewer live values)
      local count, available
      if cp then
        local n = cp.numberOfConnectors
        count = COUNT[n]
        -- (-0.0 finds 0: LuaJIT's floor keeps its sign)
        if not count and n or count == 0 and 1 / n < 0 then count = count_of(n) end
        n = cp.numberOfAvailable
        available = COUNT[n]
        if not available and n or available == 0 and 1 / n < 0 then available = count_of(n) end
      end
      local listed = nrefs > 0 and nrefs or nil
      if available == nil and listed then available = listed_available end
      local g = { standard = standard, standards = standards, v2TypeId = tid, maxPower = max_power,
        connectorCount = count or listed, availableConnectorCount = available, connectors = refs }
      if groups then
        ngroups = ngroups + 1
        groups[ngroups] = g
      else
        groups, ngroups = { g }, 1
      end
    end
  end
  return {
    id = "here:evcp:charginglocation:" .. pool,
    location = { lat = lat, lng = lng },
    name = st.name,
    timeZone = st.timeZone,
    cpoLocationId = cpo,
    v2 = st,
    address = address,
    accessPoints = access,
    operator = (brand or partner) and { name = brand, partnerId = partner } or nil,
    evses = evses,
    connectorGroups = groups,
  }
end

M.to_v3 = station_to_v3
M.list_of = list_of

return M
