--- evcp.tesla: tell Tesla-only charging sites from NACS sites other brands may use.
--
--   local tesla = require "evcp.tesla"
--   tesla.classify(loc)                  --> "tesla_only" | "nacs" | nil
--   tesla.classify_connector(c, loc)     --> "tesla_only" | "nacs" | nil
--
-- Rules (after HERE's connectors tutorial), per connector:
--   TESLA_S                                   -> "tesla_only"
--   SAE_J3400, location restricted brandOnly  -> "tesla_only"
--   SAE_J3400 otherwise                       -> "nacs"
--   any other standard, known or not          -> nil
-- Per location: "nacs" when at least one connector is "nacs" (a driver of
-- another brand can charge there as soon as one NACS connector is open to
-- them, whatever else the site has); otherwise "tesla_only" when at least
-- one connector is "tesla_only"; otherwise nil.
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

local function of_standard(standard, brand)
  if standard == "TESLA_S" then return "tesla_only" end
  if standard == "SAE_J3400" then
    if brand then return "tesla_only" end
    return "nacs"
  end
  return nil
end

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

local function classify(location)
  check_location("classify", 1, location)
  local brand = brand_only("classify", location)
  local result = nil
  each_standard("classify", location, function(standard)
    local c = of_standard(standard, brand)
    if c == "nacs" then
      result = "nacs"
      return true
    end
    if c then result = c end
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
    local f = get(connector, "location")
    if type(f) == "function" then location = f(connector) end
  end
  return of_standard(get(connector, "standard"), brand_only("classify_connector", location))
end

--- tesla.classify(location) -> "nacs" | "tesla_only" | nil
function M.classify(location)
  local r = unwrap(pcall(classify, location))
  return r
end

--- tesla.classify_connector(connector, location) -> "tesla_only" | "nacs" | nil
-- `connector` is a Connector or ConnectorGroup object, or a table with
-- `standard`. `location` (optional) supplies the restrictions; without it an
-- evcp object's own location is used, and a plain table counts as having no
-- restrictions.
function M.classify_connector(connector, location)
  local r = unwrap(pcall(classify_connector, connector, location))
  return r
end

return M
