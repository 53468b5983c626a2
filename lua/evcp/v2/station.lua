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
local MAX_MEMO = 512      -- most texts a memo below holds (it starts afresh when full)
local SMALL = 8           -- up to this many EVSEs (references) are found by a scan, then by a map

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

---------------------------------------------------------------------------
-- small readers

-- a non-empty string, or an integral number as its decimal text
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

local function finite(v)
  return type(v) == "number" and v == v and v > -INF and v < INF
end

local function count_of(v)
  if type(v) == "string" and #v <= 10 then v = tonumber(v) end
  if finite(v) and v >= 0 and v <= MAX_COUNT and v % 1 == 0 then return floor(v) end
  return nil
end

-- HERE's answers repeat a few dozen connector type ids and electrical texts:
-- each is read once and remembered (at most MAX_MEMO of each kind).
local tid_memo, tid_n = {}, 0
local elec_memo, elec_n = {}, 0

-- connectorType.id -> v2 id text (digits) and its v3 standards, or nil
local function type_of(ct)
  if type(ct) ~= "table" then return nil end
  local v = ct.id
  if type(v) == "string" then
    local r = tid_memo[v]
    if r == nil then
      r = false
      if v ~= "" and #v <= MAX_TYPE_ID and find(v, "^%d+$") then
        local n = tonumber(v)
        r = { format("%d", n), STANDARDS[n] }
      end
      if #v <= MAX_TYPE_ID then
        if tid_n >= MAX_MEMO then tid_memo, tid_n = {}, 0 end
        tid_n = tid_n + 1
        tid_memo[v] = r
      end
    end
    if r then return r[1], r[2] end
    return nil
  end
  local id = text(v)
  if id == nil or #id > MAX_TYPE_ID or not find(id, "^%d+$") then return nil end
  local n = tonumber(id)
  return format("%d", n), STANDARDS[n]
end

-- Reads an electrical text (a string of at most MAX_TEXT bytes) into
-- {volts, amps, phases, kind ("ac" | "dc")}, false where it says nothing.
-- Linear: each find either fails at once or consumes one run of digits,
-- spaces or letters.
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
  local kind = false
  if find(t, "DC", 1, true) then kind = "dc" elseif find(t, "AC", 1, true) then kind = "ac" end
  local r = { volts ~= nil and volts > 0 and volts, amps ~= nil and amps > 0 and amps, phases or false, kind }
  if elec_n >= MAX_MEMO then elec_memo, elec_n = {}, 0 end
  elec_n = elec_n + 1
  elec_memo[s] = r
  return r
end

-- Adds what text s says to volts, amps, phases, kind where they are still unset.
local function merge(s, v, a, p, k)
  if type(s) ~= "string" or #s > MAX_TEXT then return v, a, p, k end
  local r = elec_memo[s] or electrical(s)
  if v == nil then v = r[1] or nil end
  if a == nil then a = r[2] or nil end
  if p == nil then p = r[3] or nil end
  if k == nil then k = r[4] or nil end
  return v, a, p, k
end

local PHASE_TYPE = { [1] = "ac1Phase", [2] = "ac2PhaseSplit", [3] = "ac3Phase" }
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

-- Is a connector with this id in list (an EVSE's connectors)? Past SMALL
-- connectors, sets[list] (the set of their ids, kept by add_connector)
-- answers, so that a station of n items costs O(n).
local function has_connector(list, id, sets)
  local n = #list
  if n > SMALL then return sets[list][id] == true end
  for i = 1, n do
    if list[i].id == id then return true end
  end
  return false
end

-- Appends connector c to list; returns sets, made once a list outgrows SMALL.
local function add_connector(list, c, sets)
  local n = #list + 1
  list[n] = c
  if n > SMALL then
    sets = sets or {}
    local set = sets[list]
    if set == nil then
      set = {}
      for i = 1, n do set[list[i].id] = true end
      sets[list] = set
    else
      set[c.id] = true
    end
  end
  return sets
end

---------------------------------------------------------------------------

local function name_of(where, i)
  if i then return where .. "[" .. i .. "]" end
  return where
end

--- station.to_v3(st, where [, i]) -> table | nil, message
-- The v3-shaped table of one v2 station (see the header); `where` (a
-- string) names the station in messages (with i: the station is where[i]). nil and a message
-- when the station lacks what a Location needs (a position, an id).
local function station_to_v3(st, where, index)
  if type(where) ~= "string" then
    error("evcp.v2.station.to_v3: argument #2 (where) must be a string, got " .. type(where), 2)
  end
  if index ~= nil and type(index) ~= "number" then
    error("evcp.v2.station.to_v3: argument #3 (i) must be a number or nil, got " .. type(index), 2)
  end
  if type(st) ~= "table" then return nil, name_of(where, index) .. ": expected a station object" end
  local pos = st.position
  local lat, lng
  if type(pos) == "table" then lat, lng = pos.latitude, pos.longitude end
  if not finite(lat) or not finite(lng) or lat < -90 or lat > 90 or lng < -180 or lng > 180 then
    return nil, name_of(where, index) .. ".position: expected latitude and longitude numbers"
  end
  local pool = text(st.poolId) or text(st.id)
  if pool == nil then return nil, name_of(where, index) .. ": station has neither poolId nor id" end
  local address, access
  local a = st.address
  if type(a) == "table" then
    address = { label = a.unparsedAddress, street = a.street, houseNumber = a.streetNumber,
      city = a.city, district = a.district, county = a.county, state = a.state,
      countryCode = a.country, postalCode = a.postalCode }
  end
  local ep = st.entrancePosition
  if type(ep) == "table" and finite(ep.latitude) and finite(ep.longitude) then
    access = { { lat = ep.latitude, lng = ep.longitude } }
  end
  local evses, nev, by_uid -- by_uid: uid -> EVSE, made once there are more than SMALL
  local sets -- connectors list -> set of its ids, for lists of more than SMALL
  local groups, ngroups
  local brand, partner = text(st.brand), nil
  local list = list_of(st.connectors, "connector")
  for gi = 1, #list + 1 do
    local group = list[gi]
    if group == nil then break end -- as ipairs
    if type(group) == "table" then
      partner = partner or text(group.supplierUID)
      brand = brand or text(group.supplierName)
      -- the group's facts
      local tid, std_list = type_of(group.connectorType)
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
      local max_power
      local kw = group.maxPowerLevel
      if type(kw) == "string" and #kw <= 32 then kw = tonumber(kw) end
      if finite(kw) and kw > 0 and kw <= MAX_KW then max_power = floor(kw * 1000 + 0.5) end
      local fixed, fmt = group.fixedCable, nil
      if fixed == true then fmt = "cable" elseif fixed == false then fmt = "socket" end
      local cp = group.chargingPoint
      if type(cp) ~= "table" then cp = nil end
      local volts, amps, phases, kind = merge(group.chargeCapacity)
      local modified, count, available = text(group.lastUpdateTimestamp), nil, nil
      if cp then
        volts, amps, phases, kind = merge(cp.voltsRange, volts, amps, phases, kind)
        volts, amps, phases, kind = merge(cp.ampsRange, volts, amps, phases, kind)
        if phases == nil then phases = count_of(cp.phases) end
        if kind == nil and cp.chargeMode == "4" then kind = "dc" end
        modified = modified or text(cp.lastUpdateTimestamp)
        count = count_of(cp.numberOfConnectors)
        available = count_of(cp.numberOfAvailable)
      end
      if kind == nil and phases then kind = "ac" end
      local power_type
      -- a group's powerFeedType (HERE's v2 lookup: 1..5) says it outright;
      -- else the phases, where "2" cannot tell two-phase from split phase
      local feed = type(group.powerFeedType) == "table" and POWER_FEED[group.powerFeedType.id]
      if feed then
        power_type = feed
      elseif kind == "dc" then
        power_type = "dc"
      elseif kind == "ac" then
        power_type = PHASE_TYPE[phases or 1]
      end
      if volts and power_type == "ac3Phase" and volts >= LINE_TO_LINE_MIN then volts = floor(volts / SQRT3 + 0.5) end
      -- its connectors
      local refs, nrefs, ref_of, listed_available = nil, 0, nil, 0
      local items = list_of(group.connectorStatuses, "connectorStatus")
      for k = 1, #items do
        local cs = items[k]
        if type(cs) == "table" then
          local uid = text(cs.cpoEvseId) or (pool .. "/" .. gi .. "/" .. k)
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
          if evse == nil then
            evse = { uid = uid, evseId = text(cs.cpoEvseEMI3Id), physicalReference = text(cs.physicalReference),
              status = v3_status(cs.state), modified = modified, connectors = {} }
            if evses then
              nev = nev + 1
              evses[nev] = evse
            else
              evses, nev = { evse }, 1
            end
            if by_uid then
              by_uid[uid] = evse
            elseif nev > SMALL then
              by_uid = {}
              for j = 1, nev do by_uid[evses[j].uid] = evses[j] end
            end
          end
          local conns = evse.connectors
          local cid = text(cs.cpoConnectorId)
          if cid == nil then
            -- no connector id: the EVSE's uid, made unique per group
            cid = uid
            if has_connector(conns, cid, sets) then cid = uid .. "/" .. gi end
          end
          if not has_connector(conns, cid, sets) then
            sets = add_connector(conns, { id = cid, standard = standard, standards = standards, v2TypeId = tid,
              format = fmt, powerType = power_type, maxVoltage = volts, maxCurrent = amps, maxPower = max_power }, sets)
            -- the group's reference to it
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
            if ref == nil then
              ref = { evseUid = uid, connectorIds = { cid } }
              if refs then
                nrefs = nrefs + 1
                refs[nrefs] = ref
              else
                refs, nrefs = { ref }, 1
              end
              if ref_of then
                ref_of[uid] = ref
              elseif nrefs > SMALL then
                ref_of = {}
                for r = 1, nrefs do ref_of[refs[r].evseUid] = refs[r] end
              end
              if evse.status == "available" then listed_available = listed_available + 1 end
            else
              local ids = ref.connectorIds
              ids[#ids + 1] = cid
            end
          end
        end
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
    cpoLocationId = text(st.cpoId),
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
