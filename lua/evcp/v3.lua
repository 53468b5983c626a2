--- evcp.v3: HERE EV Charge Points API v3 (OpenAPI 3.20.1), pure.
--
-- Plans and interpretations, no I/O: each operation is a `*_plan` function
-- that checks the caller's arguments (misuse raises, see evcp.check) and
-- returns request plans, and a `*_read` function that turns the transport's
-- results into objects or an evcp.Error. evcp.Client sends the plans
-- (lua/evcp/client.lua); any other transport, the cache or the command
-- line can reuse both halves unchanged.
--
-- A plan: {api = "v3", method = "GET", path = "/v3/...", query = {{name,
-- value}, ...} (values raw: the client percent-encodes them),
-- accept = "application/json", request_id = string|nil}.
-- `evcp.v3.parse(body)` turns a v3 JSON body into the same objects.
local core = require("evcp.core")
local json = require("evcp.json")
local check = require("evcp.check")
local errors = require("evcp.error")
local url = require("evcp.url")

local M = {}

local type, ipairs = type, ipairs
local concat = table.concat

--- The API version these checks follow.
M.API_VERSION = "3.20.1"

--- Most ids one /v3/locations request may carry.
M.MAX_IDS = 100

--- `fields` values for locations (the spec's enum).
M.FIELDS = { "address", "evses", "truckRestrictions", "locationInfo", "emsps",
  "connectorGroups", "predictions", "reliability", "tariffs", "nearby" }

--- `fields` values for countryMetadata.
M.METADATA_FIELDS = { "eMobilityServiceProviders", "operators", "tariffs", "connectorTypes" }

--- ConnectorType values known in 3.20.1 (the enum is extensible: responses
-- may carry others, and evcp keeps them).
M.CONNECTOR_TYPES = {
  "CHADEMO", "CHAOJI",
  "DOMESTIC_A", "DOMESTIC_B", "DOMESTIC_C", "DOMESTIC_D", "DOMESTIC_E", "DOMESTIC_F",
  "DOMESTIC_G", "DOMESTIC_H", "DOMESTIC_I", "DOMESTIC_J", "DOMESTIC_K", "DOMESTIC_L",
  "DOMESTIC_M", "DOMESTIC_N", "DOMESTIC_O",
  "GBT_AC", "GBT_DC",
  "IEC_60309_2_SINGLE_16", "IEC_60309_2_THREE_16", "IEC_60309_2_THREE_32", "IEC_60309_2_THREE_64",
  "IEC_62196_T1", "IEC_62196_T1_COMBO", "IEC_62196_T2", "IEC_62196_T2_COMBO",
  "IEC_62196_T3A", "IEC_62196_T3C",
  "NEMA_5_20", "NEMA_6_30", "NEMA_6_50", "NEMA_10_30", "NEMA_10_50", "NEMA_14_30", "NEMA_14_50",
  "PANTOGRAPH_BOTTOM_UP", "PANTOGRAPH_TOP_DOWN",
  "TESLA_R", "TESLA_S", "SAE_J3400", "MCS",
}

--- EvseStatus values (v3 API spelling).
M.EVSE_STATUSES = { "available", "blocked", "charging", "inoperative", "outOfOrder",
  "reserved", "unknown", "operational" }

--- PowerType values.
M.POWER_TYPES = { "ac1Phase", "ac2Phase", "ac2PhaseSplit", "ac3Phase", "dc" }

--- ConnectorFormat values.
M.CONNECTOR_FORMATS = { "socket", "cable" }


local set = check.set
local fail = check.fail

local FIELD_SET = set(M.FIELDS)
local META_FIELD_SET = set(M.METADATA_FIELDS)
local CONNECTOR_TYPE_SET = set(M.CONNECTOR_TYPES)
M.CONNECTOR_TYPE_SET = CONNECTOR_TYPE_SET

local LOCATION_OPTS = set({ "fields", "days", "tariff", "request_id" })
local LOCATIONS_OPTS = set({ "fields", "days", "tariff", "request_id", "connectorTypes" })
local METADATA_OPTS = set({ "fields", "request_id" })
local PLAIN_OPTS = set({ "request_id" })

local ACCEPT = "application/json"

---------------------------------------------------------------------------
-- ids

local core_content_id, id_check = core.content_id, core.id_check
local id_list, getmetatable = core.id_list, getmetatable

--- The content id of a location id: its last colon-separated component
-- (HERE's IdParameter pattern (([^:]*:)*)(.*) keeps only that part).
function M.content_id(id)
  if type(id) ~= "string" then
    error("evcp.v3.content_id: argument #1 (id) must be a string, got " .. type(id), 2)
  end
  return core_content_id(id)
end

-- what: the argument's name, or the index of the id in a batch (its name,
-- "ids[i]", is only made when the id is refused).
local ID_PROBLEMS = { [5] = "has an empty content id (the part after the last ':')",
  [6] = "must not contain ','" }
local function check_id(fname, what, id)
  local cid, why = id_check(id, 1024)
  if cid then return cid end
  if type(what) == "number" then what = "ids[" .. what .. "]" end
  if why <= 4 then check.text(fname, what, id, 1024) end -- raises check.text's own message
  fail(fname, what, ID_PROBLEMS[why])
end

---------------------------------------------------------------------------
-- options

-- Byte position just after the first n characters of the UTF-8 string s.
local function after_chars(s, n)
  local i, byte = 1, string.byte
  for _ = 1, n do
    local c = byte(s, i)
    if c == nil then return nil end
    i = i + (c < 0x80 and 1 or c < 0xE0 and 2 or c < 0xF0 and 3 or 4)
  end
  return i
end

-- `tariff` values: the spec's pattern
-- ^(all|adhoc|cpo|emsp|partner:.{36}(;name=.*)?|.{36}(,.*)*)$ where '.' is
-- any character but a line break, and a partner id is 36 characters.
local function tariff_ok(v)
  if v == "all" or v == "adhoc" or v == "cpo" or v == "emsp" then return true end
  if v:find("[\r\n]") then return false end
  if v:sub(1, 8) == "partner:" then
    local rest = v:sub(9)
    local e = after_chars(rest, 36)
    if e and (e == #rest + 1 or rest:sub(e, e + 5) == ";name=") then return true end
  end
  local e = after_chars(v, 36)
  return e ~= nil and (e == #v + 1 or v:sub(e, e) == ",")
end

local function check_fields(fname, v, allowed, min, max, unique)
  local list = check.list(fname, "option 'fields'", v, 64)
  local n = #list
  if min and n < min then fail(fname, "option 'fields'", "must have at least " .. min .. " value") end
  if max and n > max then fail(fname, "option 'fields'", "must have at most " .. max .. " values") end
  for i = 1, n do
    local f = list[i]
    if not allowed[f] then
      local names = {}
      for k in pairs(allowed) do names[#names + 1] = k end
      table.sort(names)
      fail(fname, "option 'fields'[" .. i .. "]", "'" .. f .. "' is not one of: " .. concat(names, ", "))
    end
    if unique then -- at most 64 values: a scan of the earlier ones, no set to build
      for j = 1, i - 1 do
        if list[j] == f then fail(fname, "option 'fields'", "lists '" .. f .. "' twice") end
      end
    end
  end
  return list
end

local function check_request_id(fname, opts)
  if opts.request_id ~= nil then check.text(fname, "option 'request_id'", opts.request_id, 256) end
  return opts.request_id
end

-- A ConnectorType the caller may send: a known one, or any well-formed
-- upper-case identifier (the enum is extensible: HERE adds types).
local function connector_type_ok(t)
  return CONNECTOR_TYPE_SET[t] or (#t <= 64 and t:match("^[A-Z][A-Z0-9_]*$") ~= nil)
end

-- Checks the options of location/locations; returns the query pairs.
local function location_query(fname, opts, allowed)
  local q = {}
  opts = check.options(fname, opts, allowed)
  check_request_id(fname, opts)
  if opts.fields ~= nil then
    local list = check_fields(fname, opts.fields, FIELD_SET, nil, nil, true)
    if #list > 0 then q[#q + 1] = { "fields", concat(list, ",") } end
  end
  if opts.days ~= nil then
    check.integer(fname, "option 'days'", opts.days, 1, 7)
    q[#q + 1] = { "days", string.format("%d", opts.days) }
  end
  if opts.tariff ~= nil then
    local list = opts.tariff
    if type(list) == "string" then list = { list } end
    local n = check.array(fname, "option 'tariff'", list, 50)
    for i = 1, n do
      local v = list[i]
      local what = "option 'tariff'[" .. i .. "]"
      if type(v) ~= "string" then fail(fname, what, "must be a string, got " .. type(v)) end
      local chars = #v <= 1024 and check.utf8_len(v)
      if not chars then fail(fname, what, "must be UTF-8 text of at most 256 characters") end
      if chars < 1 or chars > 256 then fail(fname, what, "must be 1 to 256 characters long") end
      if not tariff_ok(v) then
        fail(fname, what, "'" .. v .. "' must be all, adhoc, cpo, emsp, partner:<36-character partnerId>"
          .. "[;name=<names>] or <36-character partnerId>[,<names>]")
      end
      q[#q + 1] = { "tariff", v }
    end
  end
  if opts.connectorTypes ~= nil then
    local list = check.list(fname, "option 'connectorTypes'", opts.connectorTypes, 5)
    if #list < 1 then fail(fname, "option 'connectorTypes'", "must have 1 to 5 values, got 0") end
    local seen = {}
    for i, t in ipairs(list) do
      if not connector_type_ok(t) then
        fail(fname, "option 'connectorTypes'[" .. i .. "]", "'" .. t
          .. "' is not a ConnectorType (an upper-case identifier such as IEC_62196_T2;"
          .. " see evcp.v3.CONNECTOR_TYPES)")
      end
      if seen[t] then fail(fname, "option 'connectorTypes'", "lists '" .. t .. "' twice") end
      seen[t] = true
    end
    q[#q + 1] = { "connectorTypes", concat(list, ",") }
  end
  return q, opts
end

---------------------------------------------------------------------------
-- responses

local FIELDS_OF_ERROR = { "title", "code", "cause", "action", "error", "error_description" }

--- Turns one transport result into a decoded JSON object (2xx), or nil and
-- an evcp.Error. ctx: {url, request_id}; limits: json.decode's limits, or
-- a decoder json.decoder made of them (checked once, not per body).
function M.read_json(res, ctx, limits)
  if res.kind then return nil, errors.transport(res, ctx) end
  local status = res.status
  local doc, msg
  if type(limits) == "function" then doc, msg = limits(res.body) else doc, msg = json.decode(res.body, limits) end
  if status >= 200 and status < 300 then
    if doc == nil then return nil, errors.decode("invalid JSON in response: " .. msg, res, ctx) end
    if type(doc) ~= "table" then return nil, errors.decode("response is not a JSON object", res, ctx) end
    return doc
  end
  local found
  if type(doc) == "table" then
    found = {}
    for _, k in ipairs(FIELDS_OF_ERROR) do
      if type(doc[k]) == "string" then found[k] = doc[k] end
    end
    if type(doc.correlationId) == "string" then found.correlation_id = doc.correlationId end
    doc = core.copy(doc)
  else
    doc = nil
  end
  local e = errors.http(res, ctx, doc, found)
  if e.correlation_id == nil and found then e.correlation_id = found.correlation_id end
  return nil, e
end

local is_array, is_object = json.is_array, json.is_object

--- Limits of one v3 body (see evcp.json.decode): at most 100 locations.
function M.limits(max_body)
  return json.limits(max_body, M.MAX_IDS)
end

---------------------------------------------------------------------------
-- operations

--- location_plan(id, opts) -> plan (GET /v3/locations/{id})
function M.location_plan(id, opts)
  local cid = check_id("location", "argument #1 (id)", id)
  local q, o = location_query("location", opts, LOCATION_OPTS)
  return { api = "v3", method = "GET", path = "/v3/locations/" .. url.segment(cid), query = q,
    accept = ACCEPT, request_id = o.request_id }
end

--- location_read(res, ctx, limits) -> Location | nil, err
function M.location_read(res, ctx, limits)
  local doc, err = M.read_json(res, ctx, limits)
  if not doc then return nil, err end
  if doc.items ~= nil then
    return nil, errors.decode("unexpected response: a ChargingLocations list, not one location", res, ctx)
  end
  local loc, msg = core.location(doc)
  if not loc then return nil, errors.decode("unexpected response: " .. msg, res, ctx) end
  return loc
end

--- locations_plan(ids, opts) -> plans, job: ids reduced to content ids,
-- repeats removed, split into requests of at most 100.
function M.locations_plan(ids, opts)
  local n = check.array("locations", "argument #1 (ids)", ids)
  if n == 0 then fail("locations", "argument #1 (ids)", "must hold at least one id") end
  local cids, order, given
  if getmetatable(ids) == nil then -- a plain array: one C pass, tables made at their size
    local bad, value
    cids, bad, value = id_list(ids, n, 1024)
    if not cids then
      check_id("locations", bad, value) -- raises the id's error
      error("evcp: internal error: id_list refused ids[" .. bad .. "], id_check did not")
    end
    order, given = bad, value
  else -- the same, through ids' metamethods
    local unique = {}
    cids, order, given = {}, {}, {}
    for i = 1, n do
      local id = ids[i]
      local cid = check_id("locations", i, id)
      cids[i] = cid
      given[i] = id
      if not unique[cid] then
        unique[cid] = true
        order[#order + 1] = cid
      end
    end
  end
  local q, o = location_query("locations", opts, LOCATIONS_OPTS)
  local plans = {}
  for first = 1, #order, M.MAX_IDS do
    local last = math.min(first + M.MAX_IDS - 1, #order)
    local query = { { "ids", concat(order, ",", first, last) } }
    for _, p in ipairs(q) do query[#query + 1] = p end
    plans[#plans + 1] = { api = "v3", method = "GET", path = "/v3/locations", query = query,
      accept = ACCEPT, request_id = o.request_id }
  end
  return plans, { cids = cids, ids = given, n = n }
end

-- Checks a decoded ChargingLocations document; returns items, missing or
-- nil, message.
local function locations_doc(doc)
  if doc.items == nil then return nil, "no 'items' (not a ChargingLocations answer)" end
  if not is_array(doc.items) then return nil, "items: expected an array" end
  if doc.missingItems ~= nil and not is_array(doc.missingItems) then
    return nil, "missingItems: expected an array"
  end
  if #doc.items > M.MAX_IDS then return nil, "items: more than " .. M.MAX_IDS .. " locations" end
  return core.locations(doc)
end

--- locations_read(results, ctxs, job, limits [, seen]) -> {items, missing}
-- | nil, err (err.partial holds what the other requests returned);
-- seen(loc, i), when given, learns that loc came from results[i].
function M.locations_read(results, ctxs, job, limits, seen)
  local found, missing, failure = {}, {}, nil
  for i = 1, #results do
    local res, ctx = results[i], ctxs[i]
    local doc, err = M.read_json(res, ctx, limits)
    results[i] = nil -- the body is decoded: let it go before the next one
    local items, miss
    if doc then
      items, miss = locations_doc(doc)
      if not items then err = errors.decode("unexpected response: " .. miss, res, ctx) end
    end
    if err then
      failure = failure or err
    else
      for k = 1, #items do
        local loc = items[k]
        found[core_content_id(loc.id)] = loc
        if seen then seen(loc, i) end
      end
      for k = 1, #miss do missing[core_content_id(miss[k])] = true end
    end
  end
  -- the caller's order, with counters (no # on growing lists)
  local items, miss, ni, nm = {}, {}, 0, 0
  local cids, ids = job.cids, job.ids
  for i = 1, job.n do
    local cid = cids[i]
    local loc = found[cid]
    if loc then
      ni = ni + 1
      items[ni] = loc
    elseif missing[cid] then
      nm = nm + 1
      miss[nm] = ids[i]
    end
  end
  local out = { items = items, missing = miss }
  if failure then
    failure.partial = out
    return nil, failure
  end
  return out
end

--- country_metadata_plan(codes, opts) -> plan (GET /v3/countryMetadata)
function M.country_metadata_plan(codes, opts)
  local fname = "country_metadata"
  local q = {}
  if codes ~= nil then
    local list = check.list(fname, "argument #1 (codes)", codes, 50)
    if #list < 1 then fail(fname, "argument #1 (codes)", "must hold 1 to 50 codes, got 0") end
    for i, c in ipairs(list) do
      if not c:match("^[A-Za-z][A-Za-z][A-Za-z]$") then
        fail(fname, "codes[" .. i .. "]", "'" .. c .. "' is not an ISO 3166-1 alpha-3 code")
      end
    end
    q[#q + 1] = { "countryCodes", concat(list, ",") }
  end
  local o = check.options(fname, opts, METADATA_OPTS)
  check_request_id(fname, o)
  if o.fields ~= nil then
    -- the spec does not ask for unique values here: repeats are sent as given
    local list = check_fields(fname, o.fields, META_FIELD_SET, 1, 4, false)
    q[#q + 1] = { "fields", concat(list, ",") }
  end
  return { api = "v3", method = "GET", path = "/v3/countryMetadata", query = q, accept = ACCEPT,
    request_id = o.request_id, shape = "metadata" }
end

--- service_plan(name, opts) -> plan of health, version or openapi
local SERVICE = { health = "/v3/health", version = "/v3/version", openapi = "/v3/openapi" }
function M.service_plan(name, opts)
  local o = check.options(name, opts, PLAIN_OPTS)
  check_request_id(name, o)
  return { api = "v3", method = "GET", path = SERVICE[name], query = {}, accept = ACCEPT,
    request_id = o.request_id, shape = name }
end

-- What each plain answer must look like (else it is a decode error).
local SHAPES = {
  metadata = function(d)
    return is_object(d) and (d.countries == nil or is_array(d.countries))
      and (d.missingCountries == nil or is_array(d.missingCountries)),
      "expected MetadataByCountry {countries = [...], missingCountries = [...]}"
  end,
  health = function(d)
    return is_object(d) and (d.status == "ok" or d.status == "fail"),
      "expected a HealthResponse {status = \"ok\"|\"fail\"}"
  end,
  version = function(d)
    return is_object(d) and type(d.apiVersion) == "string", "expected a VersionResponse {apiVersion}"
  end,
  openapi = function(d)
    return is_object(d) and type(d.openapi) == "string" and type(d.paths) == "table",
      "expected an OpenAPI document {openapi, paths}"
  end,
}

--- plain_read(res, ctx, plan, limits) -> plain table | nil, err
function M.plain_read(res, ctx, plan, limits)
  local doc, err = M.read_json(res, ctx, limits)
  if not doc then return nil, err end
  local ok, what = SHAPES[plan.shape](doc)
  if not ok then return nil, errors.decode("unexpected response: " .. what, res, ctx) end
  return core.copy(doc)
end

---------------------------------------------------------------------------
-- parsing bodies the caller already has

local function parse(body, max_body)
  if type(body) ~= "string" then
    fail("evcp.v3.parse", "argument #1 (body)", "must be a string, got " .. type(body))
  end
  if max_body ~= nil then check.integer("evcp.v3.parse", "argument #2 (max_body)", max_body, 1) end
  local doc, msg = json.decode(body, M.limits(max_body))
  if doc == nil then return nil, errors.decode("invalid JSON: " .. msg) end
  if type(doc) ~= "table" or not is_object(doc) then return nil, errors.decode("body is not a JSON object") end
  if doc.items ~= nil or doc.missingItems ~= nil then
    local items, missing = locations_doc(doc)
    if not items then return nil, errors.decode(missing) end
    return { items = items, missing = missing }
  end
  local loc, err = core.location(doc)
  if not loc then return nil, errors.decode(err) end
  return loc
end

--- evcp.v3.parse(body [, max_body]) -> Location | {items, missing} | nil, err
-- body: a v3 JSON text of one ChargingLocation or of a ChargingLocations
-- answer ({items, missingItems}); at most max_body bytes (default 32 MiB,
-- as over HTTP).
function M.parse(body, max_body)
  local v, err = check.call(parse, body, max_body)
  return v, err
end

return M
