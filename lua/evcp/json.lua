--- evcp.json: evcp's private JSON codec.
--
-- Decoding is evcp's own (core.json_decode, csrc/json_decode.c: the tables
-- lua-cjson builds, made in one pass, optionally in v2's canonical shape),
-- after a pre-scan that bounds what it accepts (core.json_scan,
-- csrc/json.c). Encoding is a lua-cjson instance of evcp's own
-- (`cjson.new()`), configured strictly: NaN/Infinity are refused, nesting
-- is limited. The application's own `require "cjson"` settings are never
-- touched. Objects' :tojson() finds encode_document here.
local cjson = require("cjson")
local core = require("evcp.core")

local M = {}

local codec = cjson.new()
codec.encode_invalid_numbers(false)
codec.encode_max_depth(64)

-- decode's bounds (see M.decode)
local MAX_BYTES = 32 * 1024 * 1024
local BYTES_PER_CONTAINER, SLACK_CONTAINERS = 24, 4096
local BYTES_PER_ELEMENT, SLACK_ELEMENTS = 8, 16384

--- Default of limits.max_bytes.
M.MAX_BYTES = MAX_BYTES

--- json.limits(max_bytes [, max_items, per_item]) -> the limits table of
-- decode for a document of at most max_bytes (default 32 MiB) holding at
-- most max_items items of at most per_item elements each. The per-byte
-- bounds of decode keep memory within a few times the text whatever the
-- limits; the number of items an API allows is also checked on the decoded
-- document by its reader.
function M.limits(max_bytes, max_items, per_item)
  local l = { max_bytes = max_bytes or MAX_BYTES }
  if max_items and per_item then l.max_elements = 16384 + max_items * per_item end
  return l
end

-- JSON arrays and objects both decode to tables (an empty one is either).
--- json.is_array(v): v is a decoded JSON array (a table whose first key, if
-- any, is a number).
function M.is_array(t)
  if type(t) ~= "table" then return false end
  local k = next(t)
  return k == nil or type(k) == "number"
end

--- json.is_object(v): v is a decoded JSON object (first key, if any, a string).
function M.is_object(t)
  if type(t) ~= "table" then return false end
  local k = next(t)
  return k == nil or type(k) == "string"
end

local scan = core.json_scan
local json_decode = core.json_decode
local LIMIT_KEYS = { max_bytes = true, max_containers = true, max_elements = true }
local floor, huge = math.floor, math.huge

local function limit_of(fname, limits, k, dflt)
  local v = limits[k]
  if v == nil then return dflt end
  if type(v) ~= "number" or v ~= v or v < 0 then
    error(fname .. ": limits." .. k .. " must be a number >= 0, got " .. tostring(v), 4)
  end
  return v
end

--- json.decode(text [, limits [, schema]]) -> value | nil, message
-- Decodes a JSON text (into the tables lua-cjson would build: null is
-- json.null, numbers are floats) within bounds, so that no input can make it use more
-- than a few times its size in memory:
--   limits.max_bytes       largest text accepted (default 32 MiB)
--   limits.max_containers  most objects + arrays (default: no fixed number)
--   limits.max_elements    most array elements + object members (same)
-- Whatever the limits, a text may hold at most 4096 + #text / 24 objects and
-- arrays and 16384 + #text / 8 elements (HERE's documents have about one
-- container per 60 bytes and one element per 17; `[{},{},...]` has one per
-- 3 and 1.5). A NUL byte and a number too large for a double (which would
-- decode to inf) are refused too, and so is nesting deeper than 64.
-- schema (a compiled v2 schema, core.xml_schema) gives the document in
-- evcp.v2.schema's canonical shape, as schema.normalize would make it.
-- Raises on bad arguments only.
-- limits -> max_bytes, max_containers, max_elements (checked; raises at
-- the level of the caller's caller)
local function resolve(fname, limits, argno)
  local max_bytes, max_c, max_e = MAX_BYTES, huge, huge
  if limits ~= nil then
    if type(limits) ~= "table" then
      error(fname .. ": argument #" .. argno .. " (limits) must be a table, got " .. type(limits), 3)
    end
    for k in pairs(limits) do
      if not LIMIT_KEYS[k] then error(fname .. ": unknown limit '" .. tostring(k) .. "'", 3) end
    end
    max_bytes = limit_of(fname, limits, "max_bytes", max_bytes)
    max_c = limit_of(fname, limits, "max_containers", max_c)
    max_e = limit_of(fname, limits, "max_elements", max_e)
  end
  return max_bytes, max_c, max_e
end

local function decode_within(text, max_bytes, max_c, max_e, schema)
  local n = #text
  if n > max_bytes then
    return nil, "JSON text of " .. n .. " bytes is larger than " .. floor(max_bytes) .. " bytes"
  end
  local dc = SLACK_CONTAINERS + floor(n / BYTES_PER_CONTAINER)
  local de = SLACK_ELEMENTS + floor(n / BYTES_PER_ELEMENT)
  local ok, msg = scan(text, dc < max_c and dc or max_c, de < max_e and de or max_e)
  if not ok then return nil, msg end
  local ok2, v = pcall(json_decode, text, schema)
  if ok2 then return v end
  return nil, tostring(v)
end

function M.decode(text, limits, schema)
  if type(text) ~= "string" then
    error("evcp.json.decode: argument #1 (text) must be a string, got " .. type(text), 2)
  end
  local max_bytes, max_c, max_e = resolve("evcp.json.decode", limits, 2)
  return decode_within(text, max_bytes, max_c, max_e, schema)
end

--- json.decoder(limits) -> function(text [, schema]) -> value | nil, message:
-- json.decode with these limits, checked once here rather than at every
-- call (what a client that decodes many bodies under the same limits
-- uses). Later changes to the limits table do not reach the decoder.
function M.decoder(limits)
  local max_bytes, max_c, max_e = resolve("evcp.json.decoder", limits, 1)
  return function(text, schema)
    if type(text) ~= "string" then
      error("evcp.json.decoder: argument #1 (text) must be a string, got " .. type(text), 2)
    end
    return decode_within(text, max_bytes, max_c, max_e, schema)
  end
end

--- Encodes a Lua value as JSON; raises on values JSON cannot hold.
M.encode = codec.encode

--- The value JSON null decodes to (lua-cjson's: the light userdata NULL).
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
