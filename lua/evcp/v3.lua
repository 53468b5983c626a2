--- evcp.v3: HERE EV Charge Points API v3 (OpenAPI 3.20.1).
--
-- Request checking and building, response interpretation, and the client
-- methods location, locations, country_metadata, health, version, openapi.
-- `evcp.v3.parse(body)` turns a v3 JSON body into the same objects.
local core = require("evcp.core")
local json = require("evcp.json")
local check = require("evcp.check")
local errors = require("evcp.error")

local M = {}

local decode_raw = json.decode_raw
local pcall, type, ipairs, tostring = pcall, type, ipairs, tostring
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

local FIELD_SET = set(M.FIELDS)
local META_FIELD_SET = set(M.METADATA_FIELDS)
local CONNECTOR_TYPE_SET = set(M.CONNECTOR_TYPES)

local LOCATION_OPTS = set({ "fields", "days", "tariff", "request_id" })
local LOCATIONS_OPTS = set({ "fields", "days", "tariff", "request_id", "connectorTypes" })
local METADATA_OPTS = set({ "fields", "request_id" })
local PLAIN_OPTS = set({ "request_id" })

---------------------------------------------------------------------------
-- ids

--- The content id of a location id: its last colon-separated component.
function M.content_id(id)
  return (id:match("([^:]*)$"))
end

local function check_id(fname, what, id)
  check.text(fname, what, id, 1024, 4)
  local cid = M.content_id(id)
  if cid == "" then check.fail(fname, what, "has an empty content id (the part after the last ':')", 4) end
  if cid:find(",", 1, true) then check.fail(fname, what, "must not contain ','", 4) end
  return cid
end

---------------------------------------------------------------------------
-- options

-- `tariff` values: the spec's pattern
-- ^(all|adhoc|cpo|emsp|partner:.{36}(;name=.*)?|.{36}(,.*)*)$ ('.' excludes newlines).
local function tariff_ok(v)
  if v == "all" or v == "adhoc" or v == "cpo" or v == "emsp" then return true end
  if v:find("[\r\n]") then return false end
  if v:sub(1, 8) == "partner:" then
    local rest = v:sub(9)
    if #rest == 36 or (#rest > 36 and rest:sub(37, 42) == ";name=") then return true end
  end
  return #v == 36 or (#v > 36 and v:sub(37, 37) == ",")
end

local function check_fields(fname, v, allowed, min, max)
  local list = check.list(fname, "option 'fields'", v, 4)
  if min and #list < min then check.fail(fname, "option 'fields'", "must have at least " .. min .. " value", 4) end
  if max and #list > max then check.fail(fname, "option 'fields'", "must have at most " .. max .. " values", 4) end
  local seen = {}
  for i, f in ipairs(list) do
    if not allowed[f] then
      local names = {}
      for n in pairs(allowed) do names[#names + 1] = n end
      table.sort(names)
      check.fail(fname, "option 'fields'[" .. i .. "]", "'" .. f .. "' is not one of: " .. concat(names, ", "), 4)
    end
    if seen[f] then check.fail(fname, "option 'fields'", "lists '" .. f .. "' twice", 4) end
    seen[f] = true
  end
  return list
end

-- Checks the options of location/locations; returns the query parts.
local function location_query(fname, opts, allowed)
  local q = {}
  if opts == nil then return q end
  if type(opts) ~= "table" then check.fail(fname, "options", "must be a table, got " .. type(opts), 3) end
  check.known_keys(fname, opts, allowed, 3)
  if opts.request_id ~= nil then check.text(fname, "option 'request_id'", opts.request_id, 256, 3) end
  if opts.fields ~= nil then
    local list = check_fields(fname, opts.fields, FIELD_SET)
    if #list > 0 then q[#q + 1] = "fields=" .. concat(list, ",") end
  end
  if opts.days ~= nil then
    check.integer(fname, "option 'days'", opts.days, 1, 7, 3)
    q[#q + 1] = string.format("days=%d", opts.days)
  end
  if opts.tariff ~= nil then
    local list = opts.tariff
    if type(list) == "string" then list = { list } end
    local n = check.array(fname, "option 'tariff'", list, 3)
    if n > 50 then check.fail(fname, "option 'tariff'", "must have at most 50 values, got " .. n, 3) end
    for i = 1, n do
      local v = list[i]
      local what = "option 'tariff'[" .. i .. "]"
      if type(v) ~= "string" then check.fail(fname, what, "must be a string, got " .. type(v), 3) end
      if #v < 1 or #v > 256 then check.fail(fname, what, "must be 1 to 256 characters long", 3) end
      if not tariff_ok(v) then
        check.fail(fname, what, "'" .. v .. "' must be all, adhoc, cpo, emsp, partner:<36-char partnerId>"
          .. "[;name=<names>] or <36-char partnerId>[,<names>]", 3)
      end
      q[#q + 1] = "tariff=" .. check.escape(v)
    end
  end
  if opts.connectorTypes ~= nil then
    local list = check.list(fname, "option 'connectorTypes'", opts.connectorTypes, 3)
    if #list < 1 or #list > 5 then
      check.fail(fname, "option 'connectorTypes'", "must have 1 to 5 values, got " .. #list, 3)
    end
    local seen = {}
    for i, t in ipairs(list) do
      if not CONNECTOR_TYPE_SET[t] then
        check.fail(fname, "option 'connectorTypes'[" .. i .. "]", "'" .. t
          .. "' is not a known ConnectorType (see evcp.v3.CONNECTOR_TYPES)", 3)
      end
      if seen[t] then check.fail(fname, "option 'connectorTypes'", "lists '" .. t .. "' twice", 3) end
      seen[t] = true
    end
    q[#q + 1] = "connectorTypes=" .. concat(list, ",")
  end
  return q
end

local function plain_opts(fname, opts, allowed)
  if opts == nil then return {} end
  if type(opts) ~= "table" then check.fail(fname, "options", "must be a table, got " .. type(opts), 3) end
  check.known_keys(fname, opts, allowed, 3)
  if opts.request_id ~= nil then check.text(fname, "option 'request_id'", opts.request_id, 256, 3) end
  return opts
end

---------------------------------------------------------------------------
-- responses

local state -- set by attach(): per-client Lua-side settings (weak keys)

local function shown_url(client, req)
  local s = state[client]
  return errors.shown_url(s and s.base_url, req.path, req.query)
end

local FIELDS_OF_ERROR = { "title", "code", "cause", "action", "error", "error_description" }

-- Turns one transport result into a decoded document, or nil and an evcp.Error.
local function interpret(client, req, res)
  if res.kind then
    return nil, errors.new({ kind = res.kind, message = res.message, retryable = true,
      url = shown_url(client, req), request_id = req.request_id, status = res.status })
  end
  local status = res.status
  if status >= 200 and status < 300 then
    local ok, doc = pcall(decode_raw, res.body)
    if ok and type(doc) == "table" then return doc end
    return nil, errors.new({ kind = "decode", status = status, retryable = false,
      message = ok and "response is not a JSON object" or ("invalid JSON in response: " .. tostring(doc)),
      url = shown_url(client, req), correlation_id = res.correlation_id,
      request_id = res.request_id or req.request_id })
  end
  local e = { kind = "http", status = status, retryable = errors.retryable_status(status),
    correlation_id = res.correlation_id, request_id = res.request_id or req.request_id,
    url = shown_url(client, req), retry_after = tonumber(res.retry_after) }
  local ok, doc = pcall(decode_raw, res.body)
  if ok and type(doc) == "table" then
    for _, k in ipairs(FIELDS_OF_ERROR) do
      if type(doc[k]) == "string" then e[k] = doc[k] end
    end
    if e.correlation_id == nil and type(doc.correlationId) == "string" then e.correlation_id = doc.correlationId end
    e.body = core.copy(doc)
  end
  if not (e.title or e.error) then e.message = "HTTP status " .. tostring(status) end
  return nil, errors.new(e)
end

-- Runs requests with the client's retry policy; returns the results array.
local function fetch(client, reqs)
  local s = state[client]
  local results = client:_fetch(reqs)
  local attempts = s and s.max_attempts or 1
  local delay = 0.2
  for _ = 2, attempts do
    local again, where = {}, {}
    for i, r in ipairs(results) do
      if r.kind or errors.retryable_status(r.status) then
        again[#again + 1] = reqs[i]
        where[#where + 1] = i
      end
    end
    if #again == 0 then break end
    core.sleep(delay)
    delay = delay * 2
    local more = client:_fetch(again)
    for j, i in ipairs(where) do results[i] = more[j] end
  end
  return results
end

---------------------------------------------------------------------------
-- client methods

local Client = {}

local function check_open(client, fname)
  if type(client) ~= "userdata" or core.classes.Client.is_closed == nil then
    error(fname .. ": call it as client:" .. fname .. "(...)", 3)
  end
  local ok, closed = pcall(client.is_closed, client)
  if not ok then error(fname .. ": call it as client:" .. fname .. "(...)", 3) end
  if closed then error(fname .. ": the client is closed", 3) end
end

--- client:location(id, opts) -> Location | nil, err
-- id: a full HRN or a bare content id. opts: fields, days, tariff, request_id.
function Client:location(id, opts)
  check_open(self, "location")
  local cid = check_id("location", "argument #1 (id)", id)
  local q = location_query("location", opts, LOCATION_OPTS)
  local req = { path = "/v3/locations/" .. check.escape(cid), query = concat(q, "&"),
    request_id = opts and opts.request_id }
  local doc, err = interpret(self, req, fetch(self, { req })[1])
  if not doc then return nil, err end
  local loc, msg = core.location(doc)
  if not loc then
    return nil, errors.new({ kind = "decode", status = 200, retryable = false,
      message = "unexpected response: " .. msg, url = shown_url(self, req), request_id = req.request_id })
  end
  return loc
end

--- client:locations(ids, opts) -> {items = {Location...}, missing = {id...}} | nil, err
-- Any number of ids, split into requests of at most 100 that run
-- concurrently. items come in request order (a repeated id gives the same
-- location again); missing lists the ids HERE did not find, as given.
-- Locations dropped by a connectorTypes filter are in neither list.
-- opts: fields, days, tariff, connectorTypes, request_id.
function Client:locations(ids, opts)
  check_open(self, "locations")
  local n = check.array("locations", "argument #1 (ids)", ids, 2)
  if n == 0 then check.fail("locations", "argument #1 (ids)", "must hold at least one id", 2) end
  local cids, order, unique = {}, {}, {}
  for i = 1, n do
    local cid = check_id("locations", "ids[" .. i .. "]", ids[i])
    cids[i] = cid
    if not unique[cid] then
      unique[cid] = true
      order[#order + 1] = cid
    end
  end
  local q = concat(location_query("locations", opts, LOCATIONS_OPTS), "&")
  local rid = opts and opts.request_id
  local reqs = {}
  for first = 1, #order, M.MAX_IDS do
    local last = math.min(first + M.MAX_IDS - 1, #order)
    local query = "ids=" .. concat(order, ",", first, last)
    if q ~= "" then query = query .. "&" .. q end
    reqs[#reqs + 1] = { path = "/v3/locations", query = query, request_id = rid }
  end
  local results = fetch(self, reqs)
  local found, missing, failure = {}, {}, nil
  for i, req in ipairs(reqs) do
    local doc, err = interpret(self, req, results[i])
    results[i] = nil -- the body is decoded: let it go before the next one
    local items, miss
    if doc then
      items, miss = core.locations(doc)
      if not items then
        err = errors.new({ kind = "decode", status = 200, retryable = false,
          message = "unexpected response: " .. miss, url = shown_url(self, req), request_id = rid })
      end
    end
    if err then
      failure = failure or err
    else
      for _, loc in ipairs(items) do found[M.content_id(loc.id)] = loc end
      for _, m in ipairs(miss) do missing[M.content_id(m)] = true end
    end
  end
  local out = { items = {}, missing = {} }
  local items, miss = out.items, out.missing
  for i = 1, n do
    local loc = found[cids[i]]
    if loc then
      items[#items + 1] = loc
    elseif missing[cids[i]] then
      miss[#miss + 1] = ids[i]
    end
  end
  if failure then
    failure.partial = out
    return nil, failure
  end
  return out
end

local function plain_get(client, path, query, opts)
  local req = { path = path, query = query, request_id = opts and opts.request_id }
  local doc, err = interpret(client, req, fetch(client, { req })[1])
  if not doc then return nil, err end
  return core.copy(doc)
end

--- client:country_metadata(codes, opts) -> table | nil, err
-- codes: nil (all countries) or 1..50 ISO 3166-1 alpha-3 codes (array or
-- comma string). opts: fields (eMobilityServiceProviders, operators,
-- tariffs, connectorTypes), request_id. Returns HERE's MetadataByCountry.
function Client:country_metadata(codes, opts)
  check_open(self, "country_metadata")
  local q = {}
  if codes ~= nil then
    local list = check.list("country_metadata", "argument #1 (codes)", codes, 2)
    if #list < 1 or #list > 50 then
      check.fail("country_metadata", "argument #1 (codes)", "must hold 1 to 50 codes, got " .. #list, 2)
    end
    for i, c in ipairs(list) do
      if not c:match("^[A-Za-z][A-Za-z][A-Za-z]$") then
        check.fail("country_metadata", "codes[" .. i .. "]", "'" .. c .. "' is not an ISO 3166-1 alpha-3 code", 2)
      end
    end
    q[#q + 1] = "countryCodes=" .. concat(list, ",")
  end
  opts = plain_opts("country_metadata", opts, METADATA_OPTS)
  if opts.fields ~= nil then
    local list = check_fields("country_metadata", opts.fields, META_FIELD_SET, 1, 4)
    q[#q + 1] = "fields=" .. concat(list, ",")
  end
  return plain_get(self, "/v3/countryMetadata", concat(q, "&"), opts)
end

--- client:health(opts) -> {status = "ok"|"fail", message?} | nil, err
function Client:health(opts)
  check_open(self, "health")
  opts = plain_opts("health", opts, PLAIN_OPTS)
  return plain_get(self, "/v3/health", "", opts)
end

--- client:version(opts) -> {apiVersion, serviceVersion?} | nil, err
function Client:version(opts)
  check_open(self, "version")
  opts = plain_opts("version", opts, PLAIN_OPTS)
  return plain_get(self, "/v3/version", "", opts)
end

--- client:openapi(opts) -> the service's OpenAPI document as a table | nil, err
function Client:openapi(opts)
  check_open(self, "openapi")
  opts = plain_opts("openapi", opts, PLAIN_OPTS)
  return plain_get(self, "/v3/openapi", "", opts)
end

--- Installs the v3 methods into the Client class (called by evcp).
function M.attach(methods, client_state)
  state = client_state
  for k, f in pairs(Client) do methods[k] = f end
end

---------------------------------------------------------------------------
-- parsing bodies the caller already has

--- evcp.v3.parse(body) -> Location | {items, missing} | nil, err
-- body: a v3 JSON text of one ChargingLocation or of a ChargingLocations
-- answer ({items, missingItems}).
function M.parse(body)
  if type(body) ~= "string" then
    error("evcp.v3.parse: argument #1 (body) must be a string, got " .. type(body), 2)
  end
  local ok, doc = pcall(decode_raw, body)
  if not ok or type(doc) ~= "table" then
    return nil, errors.new({ kind = "decode", retryable = false,
      message = ok and "body is not a JSON object" or ("invalid JSON: " .. tostring(doc)) })
  end
  if doc.items ~= nil or doc.missingItems ~= nil then
    local items, missing = core.locations(doc)
    if not items then return nil, errors.new({ kind = "decode", retryable = false, message = missing }) end
    return { items = items, missing = missing }
  end
  local loc, msg = core.location(doc)
  if not loc then return nil, errors.new({ kind = "decode", retryable = false, message = msg }) end
  return loc
end

return M
