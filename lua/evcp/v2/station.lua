--- evcp.v2.station: one v2 station -> the v3-shaped table of a Location (pure).
--
--   local station = require "evcp.v2.station"
--   local t, msg = station.to_v3(st, "evStations.evStation", 1)
--   local items = station.list_of(st.connectors, "connector")
--
-- The conversion runs in C (csrc/v2station.c, whose header is the one
-- statement of how a v2 station maps onto the v3 model). This module hands
-- it the mapping tables once, built here from evcp.connectors and
-- evcp.status, so that C keeps no copy of them: v2 connector type id ->
-- v3 standards, v2 state -> v3 status (other spellings go through
-- status.v2_to_v3).
local type, ipairs, next, error, setmetatable = type, ipairs, next, error, setmetatable

local M = {}

local core = require("evcp.core")
local connectors = require("evcp.connectors")
local status = require("evcp.status")

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

--- station.to_v3(st, where [, i]) -> table | nil, message
-- The v3-shaped table of one v2 station (csrc/v2station.c says how);
-- `where` (a string) names the station in messages (with i: the station is
-- where[i]). nil and a message when the station lacks what a Location needs
-- (a position, an id).
M.to_v3 = core.v2_station_converter(STANDARDS, STATUS, function(state)
  return (status.v2_to_v3(state))
end)
M.list_of = list_of

return M
