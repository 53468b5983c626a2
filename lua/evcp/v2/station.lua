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
--     cpoEvseId, in one group or several, are connectors of one EVSE (HERE's
--     and the emulator's answers put one item per EVSE and group; an EVSE
--     with a CCS and a CHAdeMO plug appears in two groups). So:
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
--     chargingPoint.phases/chargeMode: powerType dc / ac1Phase /
--     ac2PhaseSplit (v2 "2-phase") / ac3Phase, left out when nothing says;
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
-- every pattern is linear; counts in the data are never used to allocate.
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

---------------------------------------------------------------------------
-- lookups (built once)

-- v2 id (integer) -> array of v3 standards (shared, never handed out)
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
  if type(state) ~= "string" or #state > MAX_STATE then return "unknown" end
  return STATUS[state] or status.v2_to_v3(state) or "unknown"
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

local function finite(v)
  return type(v) == "number" and v == v and v > -1 / 0 and v < 1 / 0
end

local function count_of(v)
  if type(v) == "string" and #v <= 10 then v = tonumber(v) end
  if finite(v) and v >= 0 and v <= MAX_COUNT and v % 1 == 0 then return floor(v) end
  return nil
end

-- connectorType.id -> v2 id text (digits), or nil
local function type_id(ct)
  if type(ct) ~= "table" then return nil end
  local id = text(ct.id)
  if id == nil or #id > MAX_TYPE_ID or not find(id, "^%d+$") then return nil end
  return format("%d", tonumber(id))
end

-- Reads an electrical text -> {volts, amps, phases, kind ("ac" | "dc")}
-- (fields nil when not said), or false when there is nothing to read.
-- Linear: each find either fails at once or consumes one run of digits,
-- spaces or letters.
local function read_electrical(s)
  local stop = find(s, ";", 1, true)
  if stop then s = sub(s, 1, stop - 1) end
  local volts, amps, phases
  local i = 1
  while true do
    local a, b = find(s, "%d+", i)
    if not a then break end
    i = b + 1
    if b - a < MAX_DIGITS then
      local n = tonumber(sub(s, a, b))
      if find(s, "^%-[Pp]hase", i) then
        phases = phases or n
      else
        local _, _, unit = find(s, "^%s*(%a?)", i)
        if unit == "V" then
          if volts == nil or n > volts then volts = n end
        elseif unit == "A" then
          amps = amps or n
        end
      end
    end
  end
  local kind
  if find(s, "DC", 1, true) then kind = "dc" elseif find(s, "AC", 1, true) then kind = "ac" end
  if volts == 0 then volts = nil end
  if amps == 0 then amps = nil end
  if not (volts or amps or phases or kind) then return false end
  return { volts = volts, amps = amps, phases = phases, kind = kind }
end

-- The same texts come back in every station: their readings are kept, up to
-- CACHE_MAX of them (then the cache starts afresh), so hostile data cannot
-- grow it.
local CACHE_MAX = 512
local cache, cached = {}, 0

-- Fills g.volts, g.amps, g.phases, g.kind from text s where still unset.
local function electrical(s, g)
  if type(s) ~= "string" or #s > MAX_TEXT then return end
  local r = cache[s]
  if r == nil then
    r = read_electrical(s)
    if cached >= CACHE_MAX then cache, cached = {}, 0 end
    cache[s] = r
    cached = cached + 1
  end
  if not r then return end
  if g.volts == nil then g.volts = r.volts end
  if g.amps == nil then g.amps = r.amps end
  if g.phases == nil then g.phases = r.phases end
  if g.kind == nil then g.kind = r.kind end
end

local PHASE_TYPE = { [1] = "ac1Phase", [2] = "ac2PhaseSplit", [3] = "ac3Phase" }

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
-- one connector group -> its facts

local function group_facts(group)
  local g = {}
  local tid = type_id(group.connectorType)
  g.type_id = tid
  local list = tid and STANDARDS[tonumber(tid)]
  if list then
    local copy = {}
    for i = 1, #list do copy[i] = list[i] end
    g.standards = copy
    if #list == 1 then g.standard = list[1] end
  end
  local kw = group.maxPowerLevel
  if type(kw) == "string" and #kw <= 32 then kw = tonumber(kw) end
  if finite(kw) and kw > 0 and kw <= MAX_KW then g.max_power = floor(kw * 1000 + 0.5) end
  if group.fixedCable == true then g.format = "cable" elseif group.fixedCable == false then g.format = "socket" end
  local cp = type(group.chargingPoint) == "table" and group.chargingPoint or nil
  electrical(group.chargeCapacity, g)
  if cp then
    if g.volts == nil or g.kind == nil then electrical(cp.voltsRange, g) end
    if g.amps == nil then electrical(cp.ampsRange, g) end
    if g.phases == nil then g.phases = count_of(cp.phases) end
    if g.kind == nil and cp.chargeMode == "4" then g.kind = "dc" end
  end
  if g.kind == nil and g.phases then g.kind = "ac" end
  if g.kind == "dc" then
    g.power_type = "dc"
  elseif g.kind == "ac" then
    g.power_type = PHASE_TYPE[g.phases or 1]
  end
  local v = g.volts
  if v and g.power_type == "ac3Phase" and v >= LINE_TO_LINE_MIN then g.volts = floor(v / SQRT3 + 0.5) end
  g.modified = text(group.lastUpdateTimestamp) or (cp and text(cp.lastUpdateTimestamp))
  g.count = cp and count_of(cp.numberOfConnectors)
  g.available = cp and count_of(cp.numberOfAvailable)
  return g
end

local function connector_of(g, id)
  return { id = id, standard = g.standard, standards = g.standards, v2TypeId = g.type_id,
    format = g.format, powerType = g.power_type, maxVoltage = g.volts, maxCurrent = g.amps,
    maxPower = g.max_power }
end

local function has_connector(evse, id)
  local list = evse.connectors
  for i = 1, #list do
    if list[i].id == id then return true end
  end
  return false
end

---------------------------------------------------------------------------

--- station.to_v3(st, where) -> table | nil, message
-- The v3-shaped table of one v2 station (see the header); `where` names the
-- station in messages. nil and a message when the station lacks what a
-- Location needs (a position, an id).
local function station_to_v3(st, where)
  if type(st) ~= "table" then return nil, where .. ": expected a station object" end
  local pos = st.position
  if type(pos) ~= "table" or not finite(pos.latitude) or not finite(pos.longitude)
    or pos.latitude < -90 or pos.latitude > 90 or pos.longitude < -180 or pos.longitude > 180 then
    return nil, where .. ".position: expected latitude and longitude numbers"
  end
  local pool = text(st.poolId) or text(st.id)
  if pool == nil then return nil, where .. ": station has neither poolId nor id" end
  local loc = {
    id = "here:evcp:charginglocation:" .. pool,
    location = { lat = pos.latitude, lng = pos.longitude },
    name = st.name,
    timeZone = st.timeZone,
    cpoLocationId = text(st.cpoId),
    v2 = st,
  }
  local a = st.address
  if type(a) == "table" then
    loc.address = { label = a.unparsedAddress, street = a.street, houseNumber = a.streetNumber,
      city = a.city, district = a.district, county = a.county, state = a.state,
      countryCode = a.country, postalCode = a.postalCode }
  end
  local ep = st.entrancePosition
  if type(ep) == "table" and finite(ep.latitude) and finite(ep.longitude) then
    loc.accessPoints = { { lat = ep.latitude, lng = ep.longitude } }
  end
  local evses, groups, by_uid = {}, {}, {}
  local brand, partner = text(st.brand), nil
  for gi, group in ipairs(list_of(st.connectors, "connector")) do
    if type(group) == "table" then
      partner = partner or text(group.supplierUID)
      brand = brand or text(group.supplierName)
      local g = group_facts(group)
      local refs, ref_of = {}, nil
      local items = list_of(group.connectorStatuses, "connectorStatus")
      for k = 1, #items do
        local cs = items[k]
        if type(cs) == "table" then
          local uid = text(cs.cpoEvseId) or (pool .. "/" .. gi .. "/" .. k)
          local evse = by_uid[uid]
          if evse == nil then
            evse = { uid = uid, evseId = text(cs.cpoEvseEMI3Id), physicalReference = text(cs.physicalReference),
              status = v3_status(cs.state), modified = g.modified, connectors = {} }
            by_uid[uid] = evse
            evses[#evses + 1] = evse
          end
          local cid = text(cs.cpoConnectorId)
          if cid == nil then
            -- no connector id: the EVSE's uid, made unique per group
            cid = uid
            if has_connector(evse, cid) then cid = uid .. "/" .. gi end
          end
          if not has_connector(evse, cid) then
            evse.connectors[#evse.connectors + 1] = connector_of(g, cid)
            -- the group's reference to it
            ref_of = ref_of or {}
            local ref = ref_of[uid]
            if ref == nil then
              ref = { evseUid = uid, connectorIds = {} }
              ref_of[uid] = ref
              refs[#refs + 1] = ref
            end
            ref.connectorIds[#ref.connectorIds + 1] = cid
          end
        end
      end
      local listed = #refs > 0 and #refs or nil
      local available = g.available
      if available == nil and listed then
        available = 0
        for r = 1, #refs do
          if by_uid[refs[r].evseUid].status == "available" then available = available + 1 end
        end
      end
      groups[#groups + 1] = { standard = g.standard, standards = g.standards, v2TypeId = g.type_id,
        maxPower = g.max_power, connectorCount = g.count or listed, availableConnectorCount = available,
        connectors = listed and refs or nil }
    end
  end
  if brand or partner then loc.operator = { name = brand, partnerId = partner } end
  if #evses > 0 then loc.evses = evses end
  if #groups > 0 then loc.connectorGroups = groups end
  return loc
end

M.to_v3 = station_to_v3
M.list_of = list_of

return M
