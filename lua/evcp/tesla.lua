--- evcp.tesla: tell Tesla-only charging sites from NACS sites other brands may use.
--
--   local tesla = require "evcp.tesla"
--   tesla.classify(loc)                  --> "tesla_only" | "nacs" | "nacs_or_tesla_only" | nil
--   tesla.classify_connector(c, loc)     --> the same, for one connector
--   tesla.settle(client, loc)            --> "tesla_only" | "nacs" | nil, v3 location | nil, err
--
-- Rules (after HERE's connectors tutorial), per connector:
--   TESLA_S                                   -> "tesla_only"
--   SAE_J3400, location restricted brandOnly  -> "tesla_only"
--   SAE_J3400 read through v2                 -> "nacs_or_tesla_only"
--   SAE_J3400 otherwise                       -> "nacs"
--   any other standard, known or not          -> nil
-- Per location: "nacs" when at least one connector is "nacs" (a driver of
-- another brand can charge there as soon as one NACS connector is open to
-- them, whatever else the site has); otherwise "nacs_or_tesla_only" when at
-- least one connector is; otherwise "tesla_only" when at least one connector
-- is "tesla_only"; otherwise nil.
--
-- "nacs_or_tesla_only" (tesla.NACS_OR_TESLA_ONLY): the tutorial says a site
-- with a SAE_J3400 (v2 id 43) connector may still be Tesla-only, and only
-- v3's restrictions (brandOnly) tell; v2 has no such field, and its access
-- type must not be used for this. So a SAE_J3400 connector of a location read
-- through v2 (a Location from evcp.v2, or a table with a `v2` field; a
-- connector with a `v2TypeId`) cannot be settled from that data, unless the
-- location carries v3 restrictions that say brandOnly. tesla.settle(client,
-- loc) settles it with one v3 lookup of the same id (v2's poolId is v3's
-- location id).
--
-- Only v3 data is used: the connector standards and the location's
-- `restrictions` (brandOnly; HMC's BRAND_ONLY spelling is accepted too).
-- A v2 access type says nothing reliable here and is never consulted.
--
-- A location is an evcp Location object or a plain table shaped like a v3
-- ChargingLocation. Connectors are taken from its EVSEs; when it has no
-- EVSEs (e.g. only `connectorGroups` was requested), from its connector
-- groups instead.
local type, error, pcall, ipairs, setmetatable, getmetatable =
  type, error, pcall, ipairs, setmetatable, getmetatable

local M = {}

-- Misuse found at any depth is raised as a marked table and re-raised by the
-- public function at its caller's level.
local MISUSE = {}

local function fail(fname, msg)
  error(setmetatable({ msg = "evcp.tesla." .. fname .. ": " .. msg }, MISUSE), 0)
end

local function unwrap(ok, a)
  if ok then return a end
  if getmetatable(a) == MISUSE then error(a.msg, 3) end
  error(a, 0)
end

-- t[k] for a table or an evcp object; nil when the value cannot be indexed.
local function get(v, k)
  if type(v) == "table" then return v[k] end
  local ok, x = pcall(function() return v[k] end)
  if ok then return x end
  return nil
end

local function check_location(fname, argn, loc)
  local t = type(loc)
  if t == "table" then return end
  if t == "userdata" and type(get(loc, "evses")) == "function" then return end
  fail(fname, "argument #" .. argn .. " (location) must be a table or an evcp Location, got " .. t)
end

local function array_field(fname, t, field, path)
  local v = t[field]
  if v == nil then return nil end
  if type(v) ~= "table" then
    fail(fname, path .. " must be an array, got " .. type(v))
  end
  return v
end

local function is_brand_only(r)
  return type(r) == "string" and (r:gsub("_", "")):lower() == "brandonly"
end

-- true when the location's restrictions include brandOnly
local function brand_only(fname, loc)
  if loc == nil then return false end
  local r
  if type(loc) == "table" then
    r = array_field(fname, loc, "restrictions", "location.restrictions")
  else
    r = get(loc, "restrictions")
  end
  if type(r) ~= "table" then return false end
  for _, reason in ipairs(r) do
    if is_brand_only(reason) then return true end
  end
  return false
end

local UNSETTLED = "nacs_or_tesla_only"
M.NACS_OR_TESLA_ONLY = UNSETTLED

local function of_standard(standard, brand, from_v2)
  if standard == "TESLA_S" then return "tesla_only" end
  if standard == "SAE_J3400" then
    if brand then return "tesla_only" end
    if from_v2 then return UNSETTLED end
    return "nacs"
  end
  return nil
end

-- true for a location read through v2 (evcp.v2 keeps the station as `v2`)
local function read_through_v2(loc)
  if loc == nil then return false end
  return get(loc, "v2") ~= nil
end

local RANK = { nacs = 3, [UNSETTLED] = 2, tesla_only = 1 }

-- Calls visit(standard) for every connector of the location (see the header
-- for EVSEs vs connector groups); stops early when visit returns true.
local function each_standard(fname, loc, visit)
  if type(loc) ~= "table" then
    local any = false
    for evse in loc:evses() do
      any = true
      for c in evse:connectors() do
        if visit(c.standard) then return end
      end
    end
    if not any then
      for g in loc:connector_groups() do
        if visit(g.standard) then return end
      end
    end
    return
  end
  local evses = array_field(fname, loc, "evses", "location.evses")
  if evses and evses[1] ~= nil then
    for i, evse in ipairs(evses) do
      local where = "location.evses[" .. i .. "]"
      if type(evse) ~= "table" then fail(fname, where .. " must be a table, got " .. type(evse)) end
      local conns = array_field(fname, evse, "connectors", where .. ".connectors")
      for j, c in ipairs(conns or {}) do
        if type(c) ~= "table" then
          fail(fname, where .. ".connectors[" .. j .. "] must be a table, got " .. type(c))
        end
        if visit(c.standard) then return end
      end
    end
    return
  end
  local groups = array_field(fname, loc, "connectorGroups", "location.connectorGroups")
  for i, g in ipairs(groups or {}) do
    if type(g) ~= "table" then
      fail(fname, "location.connectorGroups[" .. i .. "] must be a table, got " .. type(g))
    end
    if visit(g.standard) then return end
  end
end

local function classify(location, fname)
  fname = fname or "classify"
  check_location(fname, fname == "settle" and 2 or 1, location)
  local brand = brand_only(fname, location)
  local from_v2 = read_through_v2(location)
  local result = nil
  each_standard(fname, location, function(standard)
    local c = of_standard(standard, brand, from_v2)
    if c == "nacs" then
      result = "nacs"
      return true
    end
    if c and (result == nil or RANK[c] > RANK[result]) then result = c end
    return false
  end)
  return result
end

local function classify_connector(connector, location)
  local t = type(connector)
  if t ~= "table" and t ~= "userdata" then
    fail("classify_connector", "argument #1 (connector) must be a table or an evcp Connector, got " .. t)
  end
  if location ~= nil then
    check_location("classify_connector", 2, location)
  elseif t == "userdata" then
    local f = get(connector, "charging_location")
    if type(f) == "function" then location = f(connector) end
  end
  local from_v2 = get(connector, "v2TypeId") ~= nil or read_through_v2(location)
  return of_standard(get(connector, "standard"), brand_only("classify_connector", location), from_v2)
end

--- tesla.classify(location) -> "nacs" | "nacs_or_tesla_only" | "tesla_only" | nil
function M.classify(location)
  local r = unwrap(pcall(classify, location))
  return r
end

--- tesla.classify_connector(connector, location) -> "tesla_only" | "nacs" | "nacs_or_tesla_only" | nil
-- `connector` is a Connector or ConnectorGroup object, or a table with
-- `standard`. `location` (optional) supplies the restrictions; without it an
-- evcp object's own location is used, and a plain table counts as having no
-- restrictions.
function M.classify_connector(connector, location)
  local r = unwrap(pcall(classify_connector, connector, location))
  return r
end

--- tesla.settle(client, location) -> class, v3_location | nil, err
-- The class of `location` (as tesla.classify), with "nacs_or_tesla_only"
-- settled: for such a location, one v3 lookup of the same id
-- (client:location(id, {fields = {"connectorGroups"}}): the minimal fields
-- carry `restrictions`) is classified instead, and returned as the second
-- result. Any other class is returned at once, with no request. A failed
-- lookup gives nil and the client's error (tier 2). `client` is an evcp
-- client (anything with a `location` method), checked on every call.
function M.settle(client, location)
  -- the client is checked first: a wrong one is misuse whatever the class
  local tc = type(client)
  if (tc ~= "table" and tc ~= "userdata") or type(get(client, "location")) ~= "function" then
    error("evcp.tesla.settle: argument #1 (client) must be an evcp client, got " .. tc, 2)
  end
  local r = unwrap(pcall(classify, location, "settle"))
  if r ~= UNSETTLED then return r end
  local id = get(location, "id")
  if type(id) ~= "string" then
    error("evcp.tesla.settle: argument #2 (location) has no string id", 2)
  end
  local v3, err = client:location(id, { fields = { "connectorGroups" } })
  if not v3 then return nil, err end
  return unwrap(pcall(classify, v3)), v3
end

return M
