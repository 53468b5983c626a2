-- evcp_emulator.v3: the emulator's HERE EV Charge Points API v3 resources (`/v3/...`).
--
--   v3.init{db =, clock =, openapi_body =}   once, with the loaded dataset and the clock
--   v3.route(path)   -> handler function(ctx, params) -> status, body; or nil
--   v3.build_location(rec, opts, k)          one location as a response would show it
--
-- Plain Lua 5.1..5.4 (runs in nginx's LuaJIT). The behaviour choices made where HERE is
-- silent are listed in docs/EMULATOR.md.

local cjson = require("cjson").new()
local query = require("evcp_emulator.query")

local concat, sort, floor = table.concat, table.sort, math.floor
local byte, find, sub, upper, format =
  string.byte, string.find, string.sub, string.upper, string.format
local comma_list, url_unescape = query.comma_list, query.url_unescape

local M = {}

M.API_VERSION = "3.20.1"
M.SERVICE_VERSION = "evcp-emulator-0.1.0"

local TARIFF_PATTERN = "^^(all|adhoc|cpo|emsp|partner:.{36}(;name=.*)?|.{36}(,.*)*)$"

local LOCATION_FIELDS = {
  address = true, evses = true, truckRestrictions = true, locationInfo = true,
  emsps = true, connectorGroups = true, predictions = true, reliability = true,
  tariffs = true, nearby = true,
}
local META_FIELDS = {
  eMobilityServiceProviders = true, operators = true, tariffs = true, connectorTypes = true,
}

-- Location keys returned for each `fields` value (evses, connectorGroups and
-- tariffs are built separately).
local ALWAYS_KEYS = { "id", "location", "name", "operator", "suboperator", "restrictions",
  "supportedVehicles" }
local FIELD_KEYS = {
  address = { "address" },
  locationInfo = { "accessPoints", "parkingType", "supportPhoneNumber", "timeZone",
    "isPullThrough", "openingHours", "energyMix", "cpoLocationId", "reservationRequired" },
  emsps = { "eMobilityServiceProviders" },
  nearby = { "nearbyPlaces", "facilityTypes", "hasMoreNearbyPlaces" },
  truckRestrictions = { "truckRestrictions", "vehicleLimitations", "isPullThrough" },
  predictions = { "predictions" },
}
-- Fixed order so that the response key set does not depend on table iteration.
local FIELD_ORDER = { "address", "locationInfo", "emsps", "nearby", "truckRestrictions",
  "predictions" }

local RESTRICTED = {
  predictions = { "Predictions", "predictions" },
  truckRestrictions = { "Truck restrictions", "truck restrictions" },
  reliability = { "Reliability", "reliability" },
}
-- EvseParking members that belong to the truckRestrictions field group.
local PARKING_TRUCK_KEYS = { vehicleTypes = true, vehicleLimitations = true,
  noClearanceHeight = true }


-- ---------------------------------------------------------------------------
-- small helpers

local function present(v)
  return v ~= nil and not (type(v) == "table" and next(v) == nil)
end


local function set_of(list)
  local s = {}
  for _, v in ipairs(list or {}) do s[v] = true end
  return s
end


local function content_id(id)
  -- last colon-separated component
  local last = id:match("([^:]*)$")
  return last or id
end

-- Number of characters (UTF-8 code points) of a string, as a JSON schema
-- validator counts them.
local function char_length(s)
  local n = 0
  for i = 1, #s do
    local b = byte(s, i)
    if b < 0x80 or b >= 0xC0 then n = n + 1 end
  end
  return n
end

-- byte offset just after the first `count` characters, or nil when shorter
local function skip_chars(s, pos, count)
  local len = #s
  while count > 0 do
    if pos > len then return nil end
    pos = pos + 1
    while pos <= len do
      local b = byte(s, pos)
      if b < 0x80 or b >= 0xC0 then break end
      pos = pos + 1
    end
    count = count - 1
  end
  return pos
end

local function has_line_terminator(s)
  return find(s, "[\r\n]") ~= nil or find(s, "\226\128[\168\169]") ~= nil
end

-- Mirrors the spec pattern ^^(all|adhoc|cpo|emsp|partner:.{36}(;name=.*)?|.{36}(,.*)*)$
-- where `.` is any character except a line terminator.
local function tariff_value_ok(v)
  if v == "all" or v == "adhoc" or v == "cpo" or v == "emsp" then return true end
  if has_line_terminator(v) then return false end
  if sub(v, 1, 8) == "partner:" then
    local after = skip_chars(v, 9, 36)
    if after and (after > #v or sub(v, after, after + 5) == ";name=") then return true end
  end
  local after = skip_chars(v, 1, 36)
  if after and (after > #v or sub(v, after, after) == ",") then return true end
  return false
end
M.tariff_value_ok = tariff_value_ok

-- uniqueItems check with the same reporting as AJV: scan from the end,
-- report (later index j, earlier index i) for the first repeat found.
local function find_duplicate(list)
  local seen = {}
  for i = #list, 1, -1 do
    local v = list[i]
    local j = seen[v]
    if j then return j - 1, i - 1 end
    seen[v] = i
  end
  return nil
end

-- Deterministic hashing with plain double arithmetic (identical results in

-- ---------------------------------------------------------------------------
-- state

local S = {
  db = nil,
  clock = nil,
  by_content_id = {},
  country_by_code = {},
  openapi_body = "{}",
}

function M.init(cfg)
  local db = cfg.db
  S.db = db
  S.clock = cfg.clock
  S.by_content_id = db.by_content_id or {}
  if not db.by_content_id then
    for _, rec in ipairs(db.locations or {}) do
      S.by_content_id[content_id(rec.id)] = rec
    end
  end
  S.country_by_code = {}
  for _, c in ipairs(db.countries or {}) do
    S.country_by_code[upper(c.countryCode)] = c
  end
  S.openapi_body = cfg.openapi_body or "{}"
  return M
end

local function evse_state(evse, k) return S.clock:evse_state(evse, k) end
local function current_step() return S.clock:step() end

-- ---------------------------------------------------------------------------
-- responses

function M.gen_error(status, err, desc, extra_status)
  local t = { error = err, error_description = desc }
  if extra_status then t.status = status end
  return status, cjson.encode(t)
end

local function bad_request(ctx, cause)
  return 400, cjson.encode({
    title = "Bad Request", status = 400, code = "E629400", cause = cause,
    action = "Ensure that the request is according to API schema",
    correlationId = ctx.correlation_id,
  })
end

local function not_found_location(ctx)
  return 404, cjson.encode({
    title = "No content found with provided ID", status = 404, code = "E629000",
    cause = "No location exists with the given identifier", action = "Request a valid id",
    correlationId = ctx.correlation_id,
  })
end

local gen_error = M.gen_error

-- ---------------------------------------------------------------------------
-- validation (returns a cause string on failure)

local function check_items_limits(name, list, min_items, max_items)
  if max_items and #list > max_items then
    return format("querystring/%s must NOT have more than %d items", name, max_items)
  end
  if min_items and #list < min_items then
    return format("querystring/%s must NOT have fewer than %d items", name, min_items)
  end
end

local function check_unique(name, list)
  local j, i = find_duplicate(list)
  if j then
    return format("querystring/%s must NOT have duplicate items (items ## %d and %d are identical)",
      name, j, i)
  end
end

local function check_enum(name, list, enum)
  for i = 1, #list do
    if not enum[list[i]] then
      return format("querystring/%s/%d must be equal to one of the allowed values", name, i - 1)
    end
  end
end

local function parse_days(params)
  local values = params.days
  if not values then return 2 end
  local v = values[#values]
  local n = tonumber(v)
  if not n or v == "" or n ~= n or n == math.huge or n == -math.huge or n ~= floor(n) then
    return nil, "querystring/days must be integer"
  end
  if n > 7 then return nil, "querystring/days must be <= 7" end
  if n < 1 then return nil, "querystring/days must be >= 1" end
  return n
end

-- Parses and validates the tariff filter values into a selection table.
local function parse_tariff(params)
  local values = params.tariff
  local sel = { adhoc = false, cpo = false, emsp = false, all = false, partners = {} }
  if not values then sel.adhoc = true; return sel end
  if #values > 50 then return nil, "querystring/tariff must NOT have more than 50 items" end
  for i = 1, #values do
    local v = values[i]
    if v ~= "" then
      if char_length(v) > 256 then
        return nil, format("querystring/tariff/%d must NOT have more than 256 characters", i - 1)
      end
      if not tariff_value_ok(v) then
        return nil, format('querystring/tariff/%d must match pattern "%s"', i - 1, TARIFF_PATTERN)
      end
    end
  end
  for i = 1, #values do
    local v = values[i]
    if v == "" or v == "adhoc" then
      sel.adhoc = true
    elseif v == "all" then
      sel.all = true
    elseif v == "cpo" then
      sel.cpo = true
    elseif v == "emsp" then
      sel.emsp = true
    else
      local pid, names
      local after = sub(v, 1, 8) == "partner:" and skip_chars(v, 9, 36)
      if after and (after > #v or sub(v, after, after + 5) == ";name=") then
        pid = sub(v, 9, after - 1)
        if after <= #v then names = comma_list({ sub(v, after + 6) }) end
      else
        after = skip_chars(v, 1, 36)
        pid = sub(v, 1, after - 1)
        if after <= #v then names = comma_list({ sub(v, after + 1) }) end
        sel.adhoc = true -- legacy forms keep ad-hoc tariffs
      end
      sel.partners[pid] = names and set_of(names) or true -- last one wins
    end
  end
  return sel
end

local function tariff_selected(t, sel)
  if sel.all then return true end
  local ty = t.type or "adhoc"
  if ty == "adhoc" and sel.adhoc then return true end
  if ty == "cpo" and sel.cpo then return true end
  if ty == "emsp" and sel.emsp then return true end
  local p = sel.partners[t.partnerId]
  if p == true then return true end
  if p and t.name ~= nil and p[t.name] then return true end
  return false
end

-- returns filtered list and a map old 0-based index -> new 0-based index
local function filter_tariffs(tariffs, sel)
  local out, remap = {}, {}
  for i = 1, #tariffs do
    local t = tariffs[i]
    if tariff_selected(t, sel) then
      out[#out + 1] = t
      remap[i - 1] = #out - 1
    end
  end
  return out, remap
end

local function remap_indexes(list, remap)
  if not list or not remap then return nil end
  local out = {}
  for i = 1, #list do
    local n = remap[list[i]]
    if n then out[#out + 1] = n end
  end
  if #out == 0 then return nil end
  return out
end

-- Request-level options shared by both location endpoints.
local function parse_location_options(_ctx, params, with_ctypes)
  local opts = { fields = {} }
  local fields = comma_list(params.fields) or {}
  local cause = check_unique("fields", fields) or check_enum("fields", fields, LOCATION_FIELDS)
  if cause then return nil, cause end
  local days
  days, cause = parse_days(params)
  if cause then return nil, cause end
  opts.days = days
  local sel
  sel, cause = parse_tariff(params)
  if cause then return nil, cause end
  opts.tariff = sel
  if with_ctypes and params.connectorTypes then
    local ct = comma_list(params.connectorTypes)
    cause = check_items_limits("connectorTypes", ct, 1, 5) or check_unique("connectorTypes", ct)
    if cause then return nil, cause end
    opts.ctypes = set_of(ct)
  end
  for _, f in ipairs(fields) do opts.fields[f] = true end
  opts.field_list = fields
  return opts
end

-- first restricted field the credential may not use, or nil
local function forbidden_field(ctx, opts)
  if ctx.restricted_ok then return nil end
  for _, f in ipairs(opts.field_list) do
    if RESTRICTED[f] then return f end
  end
end

local function forbidden(field)
  local r = RESTRICTED[field]
  return gen_error(403, r[1] .. " requested without required authorization",
    "Get authorization for " .. r[2] .. " usage or make request without " .. r[2], true)
end

-- ---------------------------------------------------------------------------
-- building a location response (shallow: shares unchanged sub-tables)

local function copy_connector(c, keep_tariffs, remap)
  if c.tariffIndexes == nil then return c end
  local out = {}
  for key, v in pairs(c) do
    if key ~= "tariffIndexes" then out[key] = v end
  end
  if keep_tariffs then out.tariffIndexes = remap_indexes(c.tariffIndexes, remap) end
  return out
end

local function copy_parking(p, with_truck)
  if with_truck then return p end
  local out, any = {}, false
  for key, v in pairs(p) do
    if not PARKING_TRUCK_KEYS[key] then out[key] = v; any = true end
  end
  if any then return out end
  return nil
end

-- EVSE views of a location after the connectorTypes filter:
-- list of {evse=, connectors=, status=, modified=}
local function evse_views(rec, opts, k)
  local views = {}
  local evses = rec.evses
  if not evses then return views end
  local ctypes = opts.ctypes
  for i = 1, #evses do
    local e = evses[i]
    local conns = e.connectors or {}
    if ctypes then
      local kept, all = {}, true
      for j = 1, #conns do
        if ctypes[conns[j].standard] then kept[#kept + 1] = conns[j] else all = false end
      end
      if all then kept = conns end
      conns = kept
    end
    if not ctypes or #conns > 0 then
      local st, mod = evse_state(e, k)
      views[#views + 1] = { evse = e, connectors = conns, status = st, modified = mod }
    end
  end
  return views
end

local function build_evses(views, opts, remap)
  local out = {}
  local f = opts.fields
  local keep_tariffs = remap ~= nil
  local with_reliability = f.reliability
  local with_truck = f.truckRestrictions
  for i = 1, #views do
    local v = views[i]
    local e = v.evse
    local o = {}
    for key, val in pairs(e) do
      if key == "parking" then
        o.parking = copy_parking(val, with_truck)
      elseif key ~= "reliability" or with_reliability then
        o[key] = val
      end
    end
    o.status = v.status
    o.modified = v.modified
    local conns = v.connectors
    local cc = {}
    for j = 1, #conns do cc[j] = copy_connector(conns[j], keep_tariffs, remap) end
    o.connectors = cc
    out[i] = o
  end
  return out
end

local function group_less(a, b)
  if a.standard ~= b.standard then return a.standard < b.standard end
  return a.maxPower < b.maxPower
end

local function build_groups(views, opts, remap)
  local groups, by_key = {}, {}
  local with_refs = opts.fields.evses
  for i = 1, #views do
    local v = views[i]
    local seen = {}
    local conns = v.connectors
    for j = 1, #conns do
      local c = conns[j]
      if c.maxPower ~= nil and c.standard ~= nil then
        local key = c.standard .. "\0" .. tostring(c.maxPower)
        local g = by_key[key]
        if not g then
          g = { standard = c.standard, maxPower = c.maxPower, connectorCount = 0,
            availableConnectorCount = 0 }
          by_key[key] = g
          groups[#groups + 1] = g
        end
        local ref = seen[key]
        if not ref then
          g.connectorCount = g.connectorCount + 1
          if v.status == "available" then
            g.availableConnectorCount = g.availableConnectorCount + 1
          end
          ref = { evseUid = v.evse.uid, connectorIds = {} }
          seen[key] = ref
          if with_refs then
            g.connectors = g.connectors or {}
            g.connectors[#g.connectors + 1] = ref
          end
        end
        ref.connectorIds[#ref.connectorIds + 1] = c.id
        if remap and c.tariffIndexes then
          g._tariffs = g._tariffs or {}
          for _, idx in ipairs(c.tariffIndexes) do
            local n = remap[idx]
            if n then g._tariffs[n] = true end
          end
        end
      end
    end
  end
  for i = 1, #groups do
    local g = groups[i]
    if g._tariffs then
      local list = {}
      for n in pairs(g._tariffs) do list[#list + 1] = n end
      sort(list)
      if #list > 0 then g.tariffIndexes = list end
      g._tariffs = nil
    end
  end
  sort(groups, group_less)
  return groups
end

local function build_location(rec, opts, k)
  local f = opts.fields
  local views
  if opts.ctypes then
    views = evse_views(rec, opts, k)
    if #views == 0 then return nil end
  end
  local out = {}
  for i = 1, #ALWAYS_KEYS do
    local key = ALWAYS_KEYS[i]
    local v = rec[key]
    if present(v) then out[key] = v end
  end
  for i = 1, #FIELD_ORDER do
    local name = FIELD_ORDER[i]
    if f[name] then
      local keys = FIELD_KEYS[name]
      for j = 1, #keys do
        local v = rec[keys[j]]
        if present(v) then out[keys[j]] = v end
      end
    end
  end
  if f.evses or f.connectorGroups then
    views = views or evse_views(rec, opts, k)
    local remap
    if f.tariffs and present(rec.tariffs) then
      local tariffs
      tariffs, remap = filter_tariffs(rec.tariffs, opts.tariff)
      if #tariffs > 0 then out.tariffs = tariffs end
    end
    if f.evses and #views > 0 then out.evses = build_evses(views, opts, remap) end
    if f.connectorGroups then
      local groups = build_groups(views, opts, remap)
      if #groups > 0 then out.connectorGroups = groups end
    end
  end
  return out
end
M.build_location = build_location

-- ---------------------------------------------------------------------------
-- endpoints

local function get_location(ctx, params, id)
  local opts, cause = parse_location_options(ctx, params, false)
  if not opts then return bad_request(ctx, cause) end
  local f = forbidden_field(ctx, opts)
  if f then return forbidden(f) end
  local rec = S.by_content_id[content_id(id)]
  if not rec then return not_found_location(ctx) end
  return 200, cjson.encode(build_location(rec, opts, current_step()))
end

local function get_locations(ctx, params)
  if not params.ids then
    return bad_request(ctx, "querystring must have required property 'ids'")
  end
  local ids = comma_list(params.ids)
  local cause = check_items_limits("ids", ids, 1, 100)
  if cause then return bad_request(ctx, cause) end
  local opts
  opts, cause = parse_location_options(ctx, params, true)
  if not opts then return bad_request(ctx, cause) end
  local f = forbidden_field(ctx, opts)
  if f then return forbidden(f) end
  local k = current_step()
  local items, missing = {}, {}
  for i = 1, #ids do
    local id = ids[i]
    local rec = S.by_content_id[content_id(id)]
    if rec then
      local loc = build_location(rec, opts, k)
      if loc then items[#items + 1] = cjson.encode(loc) end
    else
      missing[#missing + 1] = cjson.encode(id)
    end
  end
  return 200, '{"items":[' .. concat(items, ",") .. '],"missingItems":[' ..
    concat(missing, ",") .. ']}'
end

local function meta_entries(list, with_tariffs)
  if not present(list) then return nil end
  if with_tariffs then return list end
  local out = {}
  for i = 1, #list do
    local e = list[i]
    if e.tariffs == nil then
      out[i] = e
    else
      local c = {}
      for key, v in pairs(e) do
        if key ~= "tariffs" then c[key] = v end
      end
      out[i] = c
    end
  end
  return out
end

local function get_country_metadata(ctx, params)
  local codes
  if params.countryCodes then
    codes = comma_list(params.countryCodes)
    local cause = check_items_limits("countryCodes", codes, 1, 50)
    if cause then return bad_request(ctx, cause) end
    for i = 1, #codes do
      if not codes[i]:match("^[A-Za-z][A-Za-z][A-Za-z]$") then
        return bad_request(ctx, format('querystring/countryCodes/%d must match pattern "%s"',
          i - 1, "^[A-Za-z]{3}$"))
      end
    end
  end
  local fset = {}
  if params.fields then
    local fields = comma_list(params.fields)
    local cause = check_items_limits("fields", fields, 1, 4) or
      check_enum("fields", fields, META_FIELDS)
    if cause then return bad_request(ctx, cause) end
    fset = set_of(fields)
  end
  local selected, missing = {}, {}
  if codes then
    local done = {}
    for i = 1, #codes do
      local code = upper(codes[i])
      if not done[code] then
        done[code] = true
        local c = S.country_by_code[code]
        if c then selected[#selected + 1] = c else missing[#missing + 1] = code end
      end
    end
  else
    selected = S.db.countries or {}
  end
  local encoded = {}
  for i = 1, #selected do
    local c = selected[i]
    local o = { countryCode = upper(c.countryCode) }
    if fset.eMobilityServiceProviders then
      o.eMobilityServiceProviders = meta_entries(c.eMobilityServiceProviders, fset.tariffs)
    end
    if fset.operators then o.operators = meta_entries(c.operators, fset.tariffs) end
    if fset.connectorTypes and present(c.connectorTypes) then
      o.connectorTypes = c.connectorTypes
    end
    encoded[i] = cjson.encode(o)
  end
  local body = '{"countries":[' .. concat(encoded, ",") .. ']'
  if #missing > 0 then body = body .. ',"missingCountries":' .. cjson.encode(missing) end
  return 200, body .. "}"
end


-- ---------------------------------------------------------------------------
-- routing

local ROUTES = {
  ["/v3/locations"] = get_locations,
  ["/v3/countryMetadata"] = get_country_metadata,
  ["/v3/health"] = function() return 200, '{"status":"ok"}' end,
  ["/v3/version"] = function()
    return 200, cjson.encode({ apiVersion = M.API_VERSION, serviceVersion = M.SERVICE_VERSION })
  end,
  ["/v3/openapi"] = function() return 200, S.openapi_body end,
}

function M.route(path)
  local handler = ROUTES[path]
  if handler then return handler end
  local id = path:match("^/v3/locations/([^/]+)$")
  if id then
    id = url_unescape(id, true)
    return function(ctx, params) return get_location(ctx, params, id) end
  end
  return nil
end

return M
