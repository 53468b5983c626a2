--- evcp.status: EVSE statuses between the v3 API, OCPI and v2.
--
--   local status = require "evcp.status"
--   status.v3_to_v2("outOfOrder")      --> "OUT_OF_SERVICE"
--   status.v3_to_v2("OUT_OF_ORDER")    --> "OUT_OF_SERVICE"   (stream spelling)
--   status.v2_to_v3("OFFLINE")         --> "unknown", { "PLANNED", "REMOVED" }
--   status.normalize("OUTOFORDER")     --> "outOfOrder"
--   status.to_ocpi("outOfOrder")       --> "OUTOFORDER"
--
-- Three spellings of the same statuses are in use:
--   v3 API (EvseStatus):  available blocked charging inoperative outOfOrder
--                         reserved unknown operational
--   OCPI (the migration guide's table): AVAILABLE BLOCKED CHARGING INOPERATIVE
--                         OUTOFORDER PLANNED REMOVED RESERVED UNKNOWN, plus
--                         HERE's OPERATIONAL
--   status stream:        OUT_OF_ORDER and the other OCPI values
-- Input is matched without regard to case or underscores, so each of these
-- (and e.g. "outoforder") is accepted wherever a v3/OCPI status is expected.
--
-- The v2 states (eMI3) are AVAILABLE UNAVAILABLE OCCUPIED OUT_OF_SERVICE
-- OFFLINE RESERVED OTHER. The rows below are the guide's status table;
-- spec/70-remap_spec.lua checks them against it.
local type, error, ipairs, setmetatable = type, error, ipairs, setmetatable

local M = {}

-- The guide's rows, in its order: OCPI status -> v2 state.
local ROWS = {
  { v3 = "AVAILABLE", v2 = "AVAILABLE" },
  { v3 = "BLOCKED", v2 = "UNAVAILABLE" },
  { v3 = "CHARGING", v2 = "OCCUPIED" },
  { v3 = "INOPERATIVE", v2 = "OUT_OF_SERVICE" },
  { v3 = "OUTOFORDER", v2 = "OUT_OF_SERVICE" },
  { v3 = "PLANNED", v2 = "OFFLINE" },
  { v3 = "REMOVED", v2 = "OFFLINE" },
  { v3 = "RESERVED", v2 = "RESERVED" },
  { v3 = "UNKNOWN", v2 = "OTHER" },
  { v3 = "OPERATIONAL", v2 = "OTHER" },
}

-- OCPI spelling -> v3 API spelling. PLANNED and REMOVED have none: the v3
-- API's EvseStatus enum does not contain them.
local API = {
  AVAILABLE = "available", BLOCKED = "blocked", CHARGING = "charging",
  INOPERATIVE = "inoperative", OUTOFORDER = "outOfOrder", RESERVED = "reserved",
  UNKNOWN = "unknown", OPERATIONAL = "operational",
}

local V3_ORDER = { "available", "blocked", "charging", "inoperative", "outOfOrder",
  "reserved", "unknown", "operational" }

local V2_ORDER = { "AVAILABLE", "UNAVAILABLE", "OCCUPIED", "OUT_OF_SERVICE", "OFFLINE",
  "RESERVED", "OTHER" }

-- The v3 API status evcp gives for a v2 state. Where several v3/OCPI statuses
-- fold into one v2 state the mapping back is a choice:
--   OUT_OF_SERVICE -> outOfOrder: v2 does not say whether the EVSE is broken
--     or only not active yet; a driver is better served by assuming the
--     worse case (out of order) than by expecting it back soon.
--   OTHER -> unknown: "no status information" is what OTHER means; the
--     other source row, operational, is a HERE extension outside OCPI.
--   OFFLINE -> unknown: the two source rows, planned and removed, are not
--     values of the v3 API's EvseStatus, and OFFLINE does not tell which of
--     them applied; unknown (no usable status) is the closest API value.
local PRIMARY = {
  AVAILABLE = "available", UNAVAILABLE = "blocked", OCCUPIED = "charging",
  OUT_OF_SERVICE = "outOfOrder", OFFLINE = "unknown", RESERVED = "reserved",
  OTHER = "unknown",
}

-- Case and underscores do not matter when matching input.
local function key(s)
  return (s:gsub("_", "")):upper()
end

local OCPI_ORDER, OCPI_BY_KEY, V2_OF, GROUPS, V2_BY_KEY = {}, {}, {}, {}, {}
for _, r in ipairs(ROWS) do
  OCPI_ORDER[#OCPI_ORDER + 1] = r.v3
  OCPI_BY_KEY[key(r.v3)] = r.v3
  V2_OF[r.v3] = r.v2
  local g = GROUPS[r.v2]
  if not g then
    g = {}
    GROUPS[r.v2] = g
  end
  g[#g + 1] = r.v3
end
for _, v2 in ipairs(V2_ORDER) do V2_BY_KEY[key(v2)] = v2 end
-- Older v2 EVSE pages also send UNKNOWN; it reads as OTHER.
V2_BY_KEY.UNKNOWN = "OTHER"

local function copy_array(a)
  local out = {}
  for i, v in ipairs(a) do out[i] = v end
  return out
end

local function string_arg(fname, what, v)
  if type(v) ~= "string" then
    error("evcp.status." .. fname .. ": argument #1 (" .. what .. ") must be a string, got " .. type(v), 3)
  end
end

-- any accepted spelling -> OCPI spelling, or nil
local function ocpi_of(s)
  return OCPI_BY_KEY[key(s)]
end

--- status.v3_to_v2(s) -> v2 state, or nil, "unknown".
-- `s` in any accepted spelling (v3 API, OCPI, stream), PLANNED and REMOVED
-- included.
function M.v3_to_v2(s)
  string_arg("v3_to_v2", "status", s)
  local o = ocpi_of(s)
  if not o then return nil, "unknown" end
  return V2_OF[o]
end

--- status.v2_to_v3(state) -> v3 API status, array of OCPI statuses; or nil, "unknown".
-- The first result is evcp's pick (see PRIMARY above); the second lists every
-- OCPI status (OCPI spelling, the guide's order) the guide maps to `state`.
-- `state` in any case; UNKNOWN is read as OTHER.
function M.v2_to_v3(state)
  string_arg("v2_to_v3", "state", state)
  local v2 = V2_BY_KEY[key(state)]
  if not v2 then return nil, "unknown" end
  return PRIMARY[v2], copy_array(GROUPS[v2])
end

--- status.normalize(s) -> v3 API spelling; nil, "not a v3 API status" for
-- PLANNED and REMOVED; nil, "unknown" for anything else.
function M.normalize(s)
  string_arg("normalize", "status", s)
  local o = ocpi_of(s)
  if not o then return nil, "unknown" end
  local api = API[o]
  if not api then return nil, "not a v3 API status" end
  return api
end

--- status.to_ocpi(s) -> OCPI spelling (operational -> "OPERATIONAL"), or nil, "unknown".
function M.to_ocpi(s)
  string_arg("to_ocpi", "status", s)
  local o = ocpi_of(s)
  if not o then return nil, "unknown" end
  return o
end

-- Lists, built afresh on each access:
--   status.V3    the v3 API's EvseStatus values
--   status.OCPI  the OCPI statuses of the guide's table, in its order
--   status.V2    the v2 states, in the order the guide first names them
--   status.ROWS  the guide's rows as { v3 = <OCPI status>, v2 = <v2 state> }
local FIELDS = {
  V3 = function() return copy_array(V3_ORDER) end,
  OCPI = function() return copy_array(OCPI_ORDER) end,
  V2 = function() return copy_array(V2_ORDER) end,
  ROWS = function()
    local out = {}
    for i, r in ipairs(ROWS) do out[i] = { v3 = r.v3, v2 = r.v2 } end
    return out
  end,
}

return setmetatable(M, {
  __index = function(_, k)
    local f = FIELDS[k]
    if f then return f() end
  end,
})
