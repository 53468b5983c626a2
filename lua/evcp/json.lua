--- evcp.json: evcp's private JSON codec.
--
-- A lua-cjson instance of evcp's own (`cjson.new()`), configured strictly:
-- NaN/Infinity/hex numbers are refused, nesting is limited. The
-- application's own `require "cjson"` settings are never touched.
local cjson = require("cjson")

local M = {}

local codec = cjson.new()
codec.decode_invalid_numbers(false)
codec.decode_max_depth(64)
codec.encode_invalid_numbers(false)
codec.encode_max_depth(64)

--- Limits of one document (TEMPORARY until the bounded decoder lands).
function M.limits(max_bytes, max_items)
  return { max_bytes = max_bytes or 32 * 1024 * 1024, max_items = max_items }
end

--- Decodes a JSON text. Returns the value, or nil and a message.
function M.decode(text, limits)
  if type(text) ~= "string" then return nil, "not a string" end
  if limits and #text > limits.max_bytes then return nil, "document larger than " .. limits.max_bytes .. " bytes" end
  local ok, v = pcall(codec.decode, text)
  if ok then return v end
  return nil, tostring(v)
end

--- The raw decoder (raises on bad input); used on hot paths under pcall.
M.decode_raw = codec.decode

--- Encodes a Lua value as JSON; raises on values JSON cannot hold.
M.encode = codec.encode

--- The value JSON null decodes to.
M.null = codec.null

-- lua-cjson decodes [] and {} to the same empty table and encodes it as {}.
-- Fields the v3 spec types as arrays are written back as [] (outside the
-- v2 subtree, whose wrappers are objects).
local ARRAY_KEYS = {}
for _, k in ipairs({ "accessPoints", "amenities", "availabilityProbabilities", "capabilities",
  "categories", "components", "conditions", "connectorGroups", "connectorIds", "connectorTypes",
  "connectors", "countries", "days", "eMobilityIds", "eMobilityServiceProviders", "elements",
  "energySources", "environmentalImpacts", "evses", "exceptions", "facilityTypes", "items",
  "missingCountries", "missingItems", "nearbyPlaces", "operators", "paymentSupports", "periods",
  "predictedOccupancies", "predictedWaitTimes", "predictions", "regularSchedule", "restrictions",
  "supportedVehicles", "tariffIndexes", "tariffs", "truckAccess", "vehicleTypes" }) do
  ARRAY_KEYS[k] = true
end

local EMPTY = "\1evcp:empty-array\1"
local EMPTY_JSON = '"\\u0001evcp:empty-array\\u0001"'

local function mark(t)
  for k, v in pairs(t) do
    if type(v) == "table" then
      if next(v) == nil then
        if ARRAY_KEYS[k] then t[k] = EMPTY end
      elseif k ~= "v2" then
        mark(v)
      end
    end
  end
end

--- Encodes a document table evcp owns (it is changed in place): like
-- encode, but empty arrays of HERE's schema come out as [].
function M.encode_document(t)
  mark(t)
  local s = codec.encode(t)
  if s:find(EMPTY_JSON, 1, true) then
    s = s:gsub(EMPTY_JSON:gsub("%p", "%%%0"), "[]")
  end
  return s
end

return M
