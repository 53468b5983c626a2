-- evcp_emulator.tables: v2 <-> v3 facts the emulator needs, read from its own copy of
-- the tables of HERE's v2 -> v3 migration guide (data/migration-tables.lua). The
-- emulator never asks the client library (evcp.connectors, evcp.status), so a wrong row
-- on either side shows up as a disagreement in the specs.
--
--   tables.v2_type(standard)   v3 connector standard -> v2 type id (a string) or nil
--   tables.type_info(id)       v2 type id (string) -> {name, common_name, state} or nil
--   tables.connector_types()   every v2 type with a name, by id: {{id = "3", name = ...}, ...}
--   tables.v2_state(status)    v3 EVSE status (API or OCPI spelling) -> v2 state
--   tables.legacy_id(standard) v3 standard -> v2 type id (a number) or nil
local paths = require("evcp_emulator.paths")

local M = {}

local ROWS = dofile(paths.data_file("migration-tables.lua"))

local BY_STANDARD, BY_ID, STATE, TYPES = {}, {}, {}, {}
for _, row in ipairs(ROWS.connectors) do
  local id = tostring(row.id)
  BY_ID[id] = { id = id, name = row.name, common_name = row.common_name, state = row.state }
  for _, std in ipairs(row.standards) do BY_STANDARD[std] = row.id end
end
do
  local ids = {}
  for _, row in ipairs(ROWS.connectors) do
    if row.name then ids[#ids + 1] = row.id end
  end
  table.sort(ids)
  for i, id in ipairs(ids) do TYPES[i] = { id = tostring(id), name = BY_ID[tostring(id)].name } end
end
for _, row in ipairs(ROWS.statuses) do STATE[row.v3] = row.v2 end

function M.legacy_id(standard)
  return BY_STANDARD[standard]
end

function M.v2_type(standard)
  local id = BY_STANDARD[standard]
  return id and tostring(id) or nil
end

function M.type_info(id)
  return BY_ID[id]
end

function M.connector_types()
  return TYPES
end

-- The guide's table is written in OCPI spelling (OUTOFORDER); the v3 API writes
-- outOfOrder. A status the table does not name has no information: OTHER.
function M.v2_state(status)
  if type(status) ~= "string" then return "OTHER" end
  return STATE[status:upper():gsub("_", "")] or "OTHER"
end

return M
