--- evcp.v2.station: one v2 station -> the v3-shaped table of a Location (pure).
local type, ipairs, pairs, tonumber, tostring = type, ipairs, pairs, tonumber, tostring
local floor = math.floor

local M = {}

---------------------------------------------------------------------------
-- v2 -> v3 remapping (evcp.connectors / evcp.status when present)

local connectors = require("evcp.connectors")
local status = require("evcp.status")

local function v3_standard(id)
  if id ~= nil then
    local list = connectors.v2_to_v3(tonumber(id) or id)
    if list then return list[1] end
  end
  return nil
end

local function v3_status(state)
  if type(state) == "string" then
    local s = status.v2_to_v3(state)
    if s then return s end
  end
  return "unknown"
end

-- "230-230VAC, 3-phase at max 32A" / "1000-1000VDC, at max 300A"
local function capacity(text)
  if type(text) ~= "string" then return nil end
  local volts = tonumber(text:match("%-(%d+)%s*V")) or tonumber(text:match("(%d+)%s*V"))
  local amps = tonumber(text:match("max%.?%s*(%d+)%s*A"))
  local power
  if text:find("VDC", 1, true) or text:find("V DC", 1, true) then power = "dc"
  elseif text:find("3%-phase") then power = "ac3Phase"
  elseif text:find("VAC", 1, true) or text:find("V AC", 1, true) then power = "ac1Phase" end
  return volts, amps, power
end

local function list_of(wrapper, key)
  if type(wrapper) ~= "table" then return {} end
  local v = wrapper[key]
  if type(v) ~= "table" then return {} end
  if v[1] == nil and next(v) ~= nil then return { v } end
  return v
end

-- Builds the v3-shaped table of one v2 station; nil and a message when the
-- station lacks what a Location needs.
local function station_to_v3(st, where)
  if type(st) ~= "table" then return nil, where .. ": expected a station object" end
  local pos = st.position
  if type(pos) ~= "table" or type(pos.latitude) ~= "number" or type(pos.longitude) ~= "number" then
    return nil, where .. ".position: expected latitude and longitude numbers"
  end
  local pool = st.poolId
  if type(pool) ~= "string" or pool == "" then pool = st.id end
  if type(pool) ~= "string" or pool == "" then return nil, where .. ": station has neither poolId nor id" end
  local loc = {
    id = "here:evcp:charginglocation:" .. pool,
    location = { lat = pos.latitude, lng = pos.longitude },
    name = st.name,
    timeZone = st.timeZone,
    v2 = st,
  }
  if type(st.brand) == "string" then
    loc.operator = { name = st.brand, partnerId = st.cpoId }
  end
  local a = st.address
  if type(a) == "table" then
    loc.address = { label = a.unparsedAddress, street = a.street, houseNumber = a.streetNumber,
      city = a.city, district = a.district, county = a.county, state = a.state,
      countryCode = a.country, postalCode = a.postalCode }
  end
  if type(st.entrancePosition) == "table" and type(st.entrancePosition.latitude) == "number" then
    loc.accessPoints = { { lat = st.entrancePosition.latitude, lng = st.entrancePosition.longitude } }
  end
  local evses = {}
  for gi, group in ipairs(list_of(st.connectors, "connector")) do
    if type(group) == "table" then
      local ctype = type(group.connectorType) == "table" and group.connectorType.id or nil
      local volts, amps, power = capacity(group.chargeCapacity)
      local kw = tonumber(group.maxPowerLevel)
      local conn = {
        standard = v3_standard(ctype) or ("V2_" .. tostring(ctype)),
        format = group.fixedCable == true and "cable" or "socket",
        powerType = power or (kw and kw > 43 and "dc" or "ac3Phase"),
        maxVoltage = volts, maxCurrent = amps,
        maxPower = kw and floor(kw * 1000 + 0.5) or nil,
      }
      local statuses = list_of(group.connectorStatuses, "connectorStatus")
      if #statuses == 0 then
        -- no per-EVSE data: one EVSE per counted connector, status unknown
        local n = type(group.chargingPoint) == "table" and tonumber(group.chargingPoint.numberOfConnectors) or 1
        for k = 1, n or 1 do statuses[k] = { cpoEvseId = pool .. "/" .. gi .. "/" .. k } end
      end
      for _, cs in ipairs(statuses) do
        local uid = cs.cpoEvseId or cs.cpoConnectorId or (pool .. "/" .. gi .. "/" .. #evses + 1)
        local c = {}
        for k, v in pairs(conn) do c[k] = v end
        c.id = cs.cpoConnectorId or uid
        evses[#evses + 1] = {
          uid = uid, evseId = cs.cpoEvseEMI3Id, physicalReference = cs.physicalReference,
          status = v3_status(cs.state), modified = group.lastUpdateTimestamp,
          connectors = { c },
        }
      end
    end
  end
  if #evses > 0 then loc.evses = evses end
  return loc
end

M.to_v3 = station_to_v3
M.list_of = list_of

return M
