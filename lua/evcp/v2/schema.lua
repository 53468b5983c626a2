--- evcp.v2.schema: the shapes of HERE's v2 documents, one set of facts for JSON and XML.
--
--   local schema = require "evcp.v2.schema"
--   core.xml_decode(body, schema.XML)      -- the XML schema, derived from FACTS
--   doc = schema.normalize(doc)            -- a decoded JSON or XML document made canonical
--
-- HERE writes the JSON form of a v2 document as a mirror of its XML
-- (here-v2.md §5.3): the root's content is the top level, attributes are
-- plain properties, a repeated element is an array under the element's name.
-- What XML cannot say by itself is which elements repeat (a list of one
-- looks like a single child), which texts are numbers and which booleans.
-- FACTS below records exactly that, once. From it:
--   * schema.XML is the table core.xml_decode reads ({arrays, numbers,
--     integers, booleans}, each name -> true or -> a set of parent element
--     names); decoding with it already gives the canonical shape below;
--   * schema.normalize(doc) brings a decoded document of either format to the
--     canonical shape: every listed element an array, numbers numbers
--     (integers as integers on Lua 5.4), booleans booleans.
-- After normalize, the JSON and the XML answer of one resource are deeply
-- equal (spec/56-v2_formats_spec.lua checks it for every v2 resource).
local type, pairs, ipairs, next, tonumber, error, pcall = type, pairs, ipairs, next, tonumber, error, pcall
local tointeger = math.tointeger -- nil on LuaJIT (no integer subtype)

local M = {}

-- Root elements of the v2 resources (local names). An element whose parent
-- is "ROOT" in FACTS sits directly under the root element in XML (one of
-- these in HERE's answers) and at the top level in JSON.
M.ROOTS = { "evStationsResult", "countResult", "evsesResult", "connectorTypesResult",
  "powerFeedTypesResult", "roamings", "Error" }

-- One row per fact: { element name, kind, parents }.
--   kind "list":    the element repeats; JSON has an array under its name
--   kind "integer": a whole number
--   kind "number":  a number
--   kind "boolean": true or false
-- parents: nil = under any parent; else the parent element names the fact
-- holds under ("ROOT" = the document's top level).
local FACTS = {
  -- lists
  { "evStation", "list" }, -- evStations.evStation[]
  { "connector", "list", { "connectors" } }, -- a station's groups; an EVSE's connectors (evses bulk)
  { "connectorStatus", "list" },
  { "roaming", "list" }, -- a station's roaming[]; the Roamings resource's entries
  { "emaId", "list" },
  { "supplierEmaID", "list" },
  { "phone", "list" },
  { "website", "list" },
  { "pricing", "list" },
  { "regularOpeningHours", "list" },
  { "period", "list" },
  { "annualOpenings", "list" },
  { "type", "list", { "types" } }, -- paymentMethods.*.types.type[]
  { "currency", "list", { "currencies" } }, -- cash.currencies.currency[] (price.currency is one code)
  { "country", "list", { "roaming" } }, -- Roamings: the countries of an eMSP (address.country is one code)
  { "evse", "list" }, -- evses bulk: pools.pool[].evses.evse[]
  { "pool", "list", { "pools" } },
  { "connectorType", "list", { "ROOT" } }, -- Connector Types resource (a group's connectorType is one object)
  { "powerFeedType", "list", { "ROOT" } }, -- Power Feed Types resource (a group's powerFeedType is one object)
  { "Message", "list" }, -- error envelope {"Type", "Message": [...]}
  -- whole numbers
  { "count", "integer" },
  { "distance", "integer" },
  { "totalNumberOfConnectors", "integer" },
  { "numberOfConnectors", "integer" },
  { "numberOfAvailable", "integer" },
  { "numberOfInUse", "integer" },
  { "numberOfOutOfService", "integer" },
  { "numberOfReserved", "integer" },
  { "daymask", "integer" },
  { "phases", "integer" },
  { "volts", "integer" },
  { "amps", "integer" },
  { "amount", "integer" },
  -- numbers
  { "latitude", "number" },
  { "longitude", "number" },
  { "maxPowerLevel", "number" },
  { "value", "number", { "price" } }, -- unit.value and contact values are text
  -- booleans
  { "hasMore", "boolean" },
  { "fixedCable", "boolean" },
  { "open24x7", "boolean" },
  { "pay", "boolean" },
  { "reservable", "boolean" },
  { "privateAccess", "boolean" },
  { "restrictedAccess", "boolean" },
  { "accept", "boolean" },
}

-- Copies of the rows, for specs and tools.
function M.facts()
  local out = {}
  for i, r in ipairs(FACTS) do
    local parents
    if r[3] then
      parents = {}
      for j, p in ipairs(r[3]) do parents[j] = p end
    end
    out[i] = { name = r[1], kind = r[2], parents = parents }
  end
  return out
end

---------------------------------------------------------------------------
-- derived tables

-- LIST[name], VALUE[name]: true (any parent) or a set of parent names, with
-- "ROOT" kept as is; VALUE_KIND[name]: the kind of a value fact.
local LIST, VALUE, VALUE_KIND = {}, {}, {}

local function add(map, name, parents)
  if parents == nil then
    map[name] = true
    return
  end
  local cur = map[name]
  if cur == true then return end
  if cur == nil then
    cur = {}
    map[name] = cur
  end
  for _, p in ipairs(parents) do cur[p] = true end
end

for _, r in ipairs(FACTS) do
  local name, kind, parents = r[1], r[2], r[3]
  if kind == "list" then
    add(LIST, name, parents)
  else
    if VALUE_KIND[name] and VALUE_KIND[name] ~= kind then
      error("evcp.v2.schema: element '" .. name .. "' has two value kinds")
    end
    VALUE_KIND[name] = kind
    add(VALUE, name, parents)
  end
end

-- XML sets: a copy of the name -> true | parent set map; "ROOT" stays as is
-- (core.xml_decode reads it as the root element, whatever its name, as
-- normalize reads it as the top level).
local function xml_set(map, only_kind)
  local out = {}
  for name, where in pairs(map) do
    if only_kind == nil or only_kind[VALUE_KIND[name]] then
      if where == true then
        out[name] = true
      else
        local set = {}
        for p in pairs(where) do set[p] = true end
        out[name] = set
      end
    end
  end
  return out
end

--- schema.XML: the schema table core.xml_decode takes ({arrays, numbers,
-- integers, booleans}), computed from FACTS. Treat it as read-only. With
-- it, core.xml_decode gives the canonical shape itself: normalize has
-- nothing left to do on its result (spec/16-v2_parse_spec.lua checks it).
M.XML = {
  arrays = xml_set(LIST),
  numbers = xml_set(VALUE, { integer = true, number = true }),
  integers = xml_set(VALUE, { integer = true }),
  booleans = xml_set(VALUE, { boolean = true }),
}

---------------------------------------------------------------------------
-- normalize

local MAX_DEPTH = 100
local MAX_NUMBER_TEXT = 64
local TOO_DEEP = {}
local INF = math.huge

-- FACT[name] = {list = true | parent set | nil, kind = value kind | nil,
-- where = true | parent set | nil}: one lookup tells a name no fact holds
-- for (most names) from one that needs a closer look.
local FACT = {}
for name, where in pairs(LIST) do FACT[name] = { list = where } end
for name, where in pairs(VALUE) do
  local f = FACT[name] or {}
  f.kind, f.where = VALUE_KIND[name], where
  FACT[name] = f
end

local function number_of(v)
  if type(v) == "string" then
    if #v > MAX_NUMBER_TEXT then return nil end
    v = tonumber(v)
  end
  if type(v) ~= "number" or v ~= v or v == INF or v == -INF then return nil end
  return v
end

-- The canonical form of scalar v of the element with facts f under `parent`.
local function scalar(v, f, parent)
  local where = f.where
  if where ~= true and (where == nil or where[parent] ~= true) then return v end
  local kind = f.kind
  if kind == "boolean" then
    if v == "true" then return true end
    if v == "false" then return false end
    return v
  end
  local n = number_of(v)
  if n == nil then return v end
  if kind == "integer" and tointeger then return tointeger(n) or n end
  return n
end

local walk

-- t[k] = v, an element with facts f under `parent`: made canonical.
local function fact(t, k, v, f, parent, depth)
  local list = f.list
  local arr = type(v) == "table" and (v[1] ~= nil or next(v) == nil)
  if not arr and (list == true or (list ~= nil and list[parent] == true)) then
    v = { v }
    t[k] = v
    arr = true
  end
  if arr then
    -- the items are elements named k (XML repeats k)
    for i = 1, #v do
      local x = v[i]
      if type(x) == "table" then walk(x, k, depth + 1) else v[i] = scalar(x, f, parent) end
    end
  elseif type(v) == "table" then
    walk(v, k, depth + 1)
  else
    t[k] = scalar(v, f, parent)
  end
end

-- Normalizes the members of table t, the content of element `parent`.
walk = function(t, parent, depth)
  if depth > MAX_DEPTH then error(TOO_DEEP) end
  for k, v in next, t do
    local f = FACT[k]
    if f ~= nil then
      fact(t, k, v, f, parent, depth)
    elseif type(v) == "table" and type(k) == "string" then
      if v[1] ~= nil then
        for i = 1, #v do
          local x = v[i]
          if type(x) == "table" then walk(x, k, depth + 1) end
        end
      elseif next(v) ~= nil then
        walk(v, k, depth + 1)
      end
    end
  end
end

--- schema.normalize(doc) -> doc | nil, message
-- Brings a decoded v2 document (JSON or XML, any resource) to the canonical
-- shape, in place, and returns it: elements FACTS lists as repeating are
-- arrays (a single one is wrapped), number and boolean elements hold numbers
-- and booleans (numeric and "true"/"false" texts are converted; integer
-- elements become Lua integers on 5.4). Anything else is left as it is.
-- A document nested deeper than 100 levels gives nil and a message.
function M.normalize(doc)
  if type(doc) ~= "table" then
    error("evcp.v2.schema.normalize: argument #1 (doc) must be a table, got " .. type(doc), 2)
  end
  local ok, e = pcall(walk, doc, "ROOT", 0)
  if ok then return doc end
  if e == TOO_DEEP then
    return nil, "v2 document nested deeper than " .. MAX_DEPTH .. " levels"
  end
  error(e, 0)
end

return M
