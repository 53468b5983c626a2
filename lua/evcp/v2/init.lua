--- evcp.v2: HERE EV Charge Points API v2, JSON and XML, on the v3 object model.
--
-- A v2 station becomes a Location whose id is
-- "here:evcp:charginglocation:" .. poolId (HERE keeps that id across
-- versions). Its connector groups and connectorStatuses become Evses and
-- Connectors with OCPI standards, maxPower in W and v3 statuses; the whole
-- v2 station stays reachable as `loc.v2` (and in `loc:totable().v2`).
local core = require("evcp.core")
local json = require("evcp.json")
local check = require("evcp.check")
local errors = require("evcp.error")

local M = {}

local type, ipairs, pairs, tonumber, tostring, pcall = type, ipairs, pairs, tonumber, tostring, pcall
local concat, floor = table.concat, math.floor

--- Largest prox radius HERE accepts, in metres.
M.MAX_RADIUS = 200000

--- Default page size of a stations search (HERE's default).
M.DEFAULT_MAXRESULTS = 50

M.XML_SCHEMA = require("evcp.v2.schema").XML

local station_to_v3 = require("evcp.v2.station").to_v3
M.station_to_v3 = station_to_v3
local list_of = require("evcp.v2.station").list_of

--- Decodes a v2 body in `format` ("json" | "xml"); returns the table or nil, message.
function M.decode(body, format)
  if format == "xml" then return core.xml_decode(body, M.XML_SCHEMA) end
  local doc, msg = json.decode(body)
  if doc == nil then return nil, msg end
  if type(doc) ~= "table" then return nil, "response is not a JSON object" end
  return doc
end

-- Stations Response table -> {items = {Location...}, hasMore, count}
local function stations_result(doc)
  if doc.hasMore == nil and doc.evStations == nil and doc.count == nil then
    return nil, "not a v2 Stations Response (no hasMore, count or evStations)"
  end
  local out = { items = {}, hasMore = doc.hasMore == true, count = doc.count }
  for i, st in ipairs(list_of(doc.evStations, "evStation")) do
    local t, msg = station_to_v3(st, "evStations.evStation[" .. i .. "]")
    if not t then return nil, msg end
    local loc, msg2 = core.location(t)
    if not loc then return nil, msg2 end
    out.items[i] = loc
  end
  return out
end

--- evcp.v2.parse(body, format) -> {items, hasMore, count} | nil, err
-- A v2 Stations Response (stations, details, bulk, pools) as Locations.
function M.parse(body, format)
  if type(body) ~= "string" then
    error("evcp.v2.parse: argument #1 (body) must be a string, got " .. type(body), 2)
  end
  format = format or "json"
  if format ~= "json" and format ~= "xml" then
    error("evcp.v2.parse: argument #2 (format) must be 'json' or 'xml', got " .. tostring(format), 2)
  end
  local doc, msg = M.decode(body, format)
  if not doc then return nil, errors.new({ kind = "decode", retryable = false, message = msg }) end
  local res, msg2 = stations_result(doc)
  if not res then return nil, errors.new({ kind = "decode", retryable = false, message = msg2 }) end
  return res
end

---------------------------------------------------------------------------
-- request checking

local function num(fname, what, v, lo, hi)
  v = tonumber(v)
  if v == nil or v ~= v or v < lo or v > hi then
    check.fail(fname, what, "must be a number between " .. lo .. " and " .. hi, 4)
  end
  return v
end

local function coord(fname, what, lat, lng)
  return string.format("%.7g,%.7g", num(fname, what .. " latitude", lat, -90, 90),
    num(fname, what .. " longitude", lng, -180, 180))
end

local function split(s, sep)
  local out = {}
  for part in (s .. sep):gmatch("(.-)" .. sep) do out[#out + 1] = part end
  return out
end

local function geometry(fname, opts)
  local n, q = 0, nil
  if opts.prox ~= nil then
    n = n + 1
    local p = opts.prox
    if type(p) == "string" then p = split(p, ",") end
    if type(p) ~= "table" or #p ~= 3 then
      check.fail(fname, "option 'prox'", "must be {lat, lng, radius} or 'lat,lng,radius'", 3)
    end
    local r = tonumber(p[3])
    if r == nil or r % 1 ~= 0 or r < 1 or r > M.MAX_RADIUS then
      check.fail(fname, "option 'prox'", "radius must be an integer number of metres from 1 to "
        .. M.MAX_RADIUS .. " (200 km)", 3)
    end
    q = "prox=" .. coord(fname, "option 'prox'", p[1], p[2]) .. "," .. string.format("%d", r)
  end
  if opts.bbox ~= nil then
    n = n + 1
    local b = opts.bbox
    if type(b) == "string" then
      local c = {}
      for _, corner in ipairs(split(b, ";")) do
        for _, v in ipairs(split(corner, ",")) do c[#c + 1] = v end
      end
      b = c
    end
    if type(b) ~= "table" or #b ~= 4 then
      check.fail(fname, "option 'bbox'", "must be {topLeftLat, topLeftLng, bottomRightLat, bottomRightLng}", 3)
    end
    local top, bottom = tonumber(b[1]), tonumber(b[3])
    if top and bottom and top < bottom then
      check.fail(fname, "option 'bbox'", "top-left latitude must not be south of bottom-right latitude", 3)
    end
    q = "bbox=" .. coord(fname, "option 'bbox' top-left", b[1], b[2]) .. ";"
      .. coord(fname, "option 'bbox' bottom-right", b[3], b[4])
  end
  if opts.corridor ~= nil then
    n = n + 1
    local pts = opts.corridor
    if type(pts) == "string" then
      local list = {}
      for _, p in ipairs(split(pts, ";")) do list[#list + 1] = split(p, ",") end
      pts = list
    end
    if type(pts) ~= "table" or #pts < 2 then
      check.fail(fname, "option 'corridor'", "must hold at least 2 points {lat, lng}", 3)
    end
    local parts = {}
    for i, p in ipairs(pts) do
      if type(p) ~= "table" or #p ~= 2 then
        check.fail(fname, "option 'corridor'[" .. i .. "]", "must be a point {lat, lng}", 3)
      end
      parts[i] = coord(fname, "option 'corridor'[" .. i .. "]", p[1], p[2])
    end
    q = "corridor=" .. concat(parts, ";")
    if opts.corridorwidth ~= nil then
      check.integer(fname, "option 'corridorwidth'", opts.corridorwidth, 1, nil, 3)
      q = q .. string.format("&corridorwidth=%d", opts.corridorwidth)
    end
  elseif opts.corridorwidth ~= nil then
    check.fail(fname, "option 'corridorwidth'", "needs option 'corridor'", 3)
  end
  if n ~= 1 then
    check.fail(fname, "options", "need exactly one of 'prox', 'bbox' and 'corridor' (got " .. n .. ")", 3)
  end
  return q
end

local function filters(fname, opts, q)
  if opts.connectortype ~= nil then
    local list = opts.connectortype
    if type(list) ~= "table" then list = split(tostring(list), ",") end
    local ids = {}
    for i, v in ipairs(list) do
      local id = tonumber(v)
      if id == nil or id % 1 ~= 0 or id < 0 then
        check.fail(fname, "option 'connectortype'[" .. i .. "]", "must be a v2 connector type id (integer)", 3)
      end
      ids[i] = string.format("%d", id)
    end
    if #ids == 0 then check.fail(fname, "option 'connectortype'", "must hold at least one id", 3) end
    q[#q + 1] = "connectortype=" .. concat(ids, ",")
  end
  if opts.emsp ~= nil then
    local list = check.list(fname, "option 'emsp'", opts.emsp, 3)
    for i, v in ipairs(list) do
      if not v:match("^[%w%-]+$") then
        check.fail(fname, "option 'emsp'[" .. i .. "]", "must be an eMSP partner id", 3)
      end
    end
    q[#q + 1] = "emsp=" .. concat(list, ",")
  end
  if opts.maxresults ~= nil then
    check.integer(fname, "option 'maxresults'", opts.maxresults, 1, nil, 3)
    q[#q + 1] = string.format("maxresults=%d", opts.maxresults)
  end
  if opts.offset ~= nil then
    check.integer(fname, "option 'offset'", opts.offset, 0, nil, 3)
    q[#q + 1] = string.format("offset=%d", opts.offset)
  end
  return q
end

local set = check.set

local SEARCH_OPTS = set({ "prox", "bbox", "corridor", "corridorwidth", "connectortype", "emsp",
  "maxresults", "offset", "format", "request_id" })
local COUNT_OPTS = set({ "prox", "bbox", "corridor", "corridorwidth", "format", "request_id" })
local PLAIN_OPTS = set({ "format", "request_id" })

local function common(fname, opts, allowed)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then check.fail(fname, "options", "must be a table, got " .. type(opts), 3) end
  check.known_keys(fname, opts, allowed, 3)
  local format = opts.format or "json"
  if format ~= "json" and format ~= "xml" then
    check.fail(fname, "option 'format'", "must be 'json' or 'xml'", 3)
  end
  if opts.request_id ~= nil then check.text(fname, "option 'request_id'", opts.request_id, 256, 3) end
  return opts, format
end

local function check_ids(fname, ids)
  if type(ids) == "string" then ids = { ids } end
  local n = check.array(fname, "argument #1 (ids)", ids, 3)
  if n == 0 then check.fail(fname, "argument #1 (ids)", "must hold at least one id", 3) end
  local q = {}
  for i = 1, n do
    check.text(fname, "ids[" .. i .. "]", ids[i], 1024, 3)
    q[i] = "id=" .. check.escape(ids[i])
  end
  return concat(q, "&")
end

---------------------------------------------------------------------------
-- responses

local state -- per-client settings, shared with evcp.v3 (set by attach)

local function v2_error(client, req, res)
  local s = state[client]
  local url = errors.shown_url(s and (s.v2_base_url or s.base_url), req.path, req.query)
  if res.kind then
    return errors.new({ kind = res.kind, message = res.message, retryable = true, url = url,
      request_id = req.request_id })
  end
  local e = { kind = "http", status = res.status, retryable = errors.retryable_status(res.status),
    correlation_id = res.correlation_id, request_id = res.request_id or req.request_id, url = url }
  local body = res.body or ""
  local doc
  if body:match("^%s*<") then
    doc = core.xml_decode(body, M.XML_SCHEMA) -- <error:Error><Type/><Message/>...
  else
    doc = json.decode(body)
  end
  if type(doc) == "table" then
    if type(doc.error) == "string" then e.error = doc.error end
    if type(doc.error_description) == "string" then e.error_description = doc.error_description end
    if type(doc.Type) == "string" then e.title = doc.Type end -- HERE's older envelope
    if type(doc.Message) == "table" then
      local parts = {}
      for _, m in ipairs(doc.Message) do parts[#parts + 1] = tostring(m) end
      e.cause = concat(parts, "; ")
    elseif type(doc.Message) == "string" then
      e.cause = doc.Message
    end
    e.body = core.copy(doc)
  end
  if not (e.title or e.error or e.cause) then e.message = "HTTP status " .. tostring(res.status) end
  return errors.new(e)
end

local function get(client, path, query, format, opts)
  local req = { path = path .. "." .. format, query = query, request_id = opts.request_id }
  local res = client:_v2_fetch({ req })[1]
  if res.kind or res.status < 200 or res.status > 299 then return nil, v2_error(client, req, res) end
  local doc, msg = M.decode(res.body, format)
  if not doc then
    return nil, errors.new({ kind = "decode", status = res.status, retryable = false, message = msg,
      url = v2_error(client, req, { status = res.status }).url, request_id = req.request_id })
  end
  return doc
end

local function stations_get(client, path, query, format, opts)
  local doc, err = get(client, path, query, format, opts)
  if not doc then return nil, err end
  local res, msg = stations_result(doc)
  if not res then return nil, errors.new({ kind = "decode", retryable = false, message = msg }) end
  return res
end

---------------------------------------------------------------------------
-- the client.v2 object

local V2 = {}
V2.__index = V2
V2.__name = "evcp.V2"

function V2.__tostring(self)
  return "evcp.V2 of " .. tostring(self.client)
end

local function client_of(self, fname)
  if getmetatable(self) ~= V2 then error(fname .. ": call it as client.v2:" .. fname .. "(...)", 3) end
  if self.client:is_closed() then error(fname .. ": the client is closed", 3) end
  return self.client
end

--- client.v2:stations(opts) -> {items = {Location...}, hasMore, count} | nil, err
-- One page of a search. opts: exactly one of prox = {lat, lng, radius_m},
-- bbox = {topLeftLat, topLeftLng, bottomRightLat, bottomRightLng},
-- corridor = {{lat, lng}, ...} (+ corridorwidth); connectortype, emsp,
-- maxresults, offset, format ("json"|"xml"), request_id.
function V2:stations(opts)
  local c = client_of(self, "stations")
  local o, format = common("stations", opts, SEARCH_OPTS)
  local q = filters("stations", o, { geometry("stations", o) })
  return stations_get(c, "/ev/stations", concat(q, "&"), format, o)
end

--- client.v2:each_station(opts) -> iterator over Locations across all pages
-- Same options as stations (maxresults sets the page size). The iterator
-- raises nothing: on a failure it returns nil, err once and then stops.
function V2:each_station(opts)
  local c = client_of(self, "each_station")
  local o, format = common("each_station", opts, SEARCH_OPTS)
  local base = filters("each_station", { connectortype = o.connectortype, emsp = o.emsp },
    { geometry("each_station", o) })
  local size = o.maxresults or M.DEFAULT_MAXRESULTS
  check.integer("each_station", "option 'maxresults'", size, 1, nil, 2)
  local offset = o.offset or 0
  local page, i, more, done = nil, 0, true, false
  return function()
    if done then return nil end
    while page == nil or i >= #page.items do
      if not more then
        done = true
        return nil
      end
      local q = { concat(base, "&"), string.format("maxresults=%d", size), string.format("offset=%d", offset) }
      local res, err = stations_get(c, "/ev/stations", concat(q, "&"), format, o)
      if not res then
        done = true
        return nil, err
      end
      page, i = res, 0
      offset = offset + #res.items
      more = res.hasMore and #res.items > 0
      if #res.items == 0 then
        done = true
        return nil
      end
    end
    i = i + 1
    return page.items[i]
  end
end

--- client.v2:count(opts) -> integer | nil, err (filters do not apply: HERE)
function V2:count(opts)
  local c = client_of(self, "count")
  local o, format = common("count", opts, COUNT_OPTS)
  local doc, err = get(c, "/ev/stations/count", geometry("count", o), format, o)
  if not doc then return nil, err end
  local n = tonumber(doc.count)
  if n == nil then return nil, errors.new({ kind = "decode", retryable = false, message = "count missing" }) end
  return floor(n)
end

--- client.v2:station(id, opts) -> Location | nil, err (station details)
function V2:station(id, opts)
  local c = client_of(self, "station")
  check.text("station", "argument #1 (id)", id, 1024, 2)
  local o, format = common("station", opts, PLAIN_OPTS)
  local res, err = stations_get(c, "/ev/stations/" .. check.escape(id), "", format, o)
  if not res then return nil, err end
  local loc = res.items[1]
  if loc == nil then
    return nil, errors.new({ kind = "decode", retryable = false, message = "station details without a station" })
  end
  return loc
end

-- Methods of the resources that take only ids (repeated id=) or nothing.
-- with_ids: the method's first argument is the id list; plain: the answer
-- is handed back as a plain table instead of Locations.
local function resource(name, path, with_ids, plain)
  return function(self, a, b)
    local c = client_of(self, name)
    local ids, opts = nil, a
    if with_ids then ids, opts = a, b end
    local q = with_ids and check_ids(name, ids) or ""
    local o, format = common(name, opts, PLAIN_OPTS)
    if not plain then return stations_get(c, path, q, format, o) end
    local doc, err = get(c, path, q, format, o)
    if not doc then return nil, err end
    return core.copy(doc)
  end
end

--- client.v2:stations_bulk(ids, opts) -> {items, hasMore} | nil, err
V2.stations_bulk = resource("stations_bulk", "/ev/stations/bulk", true)

--- client.v2:pools(poolIds, opts) -> {items, hasMore} | nil, err (pools bulk)
V2.pools = resource("pools", "/ev/pools/bulk", true)

--- client.v2:evses(poolIds, opts) -> the EVSEs Response as a plain table | nil, err
V2.evses = resource("evses", "/ev/evses/bulk", true, true)

--- client.v2:connector_types(opts), :power_feed_types(opts), :roamings(opts)
-- -> the lookup list as a plain table | nil, err
V2.connector_types = resource("connector_types", "/ev/connectortypes", false, true)
V2.power_feed_types = resource("power_feed_types", "/ev/powerfeedtypes", false, true)
V2.roamings = resource("roamings", "/ev/roamings", false, true)

--- client.v2:pool(poolId, opts) -> {items, hasMore} | nil, err (location details)
function V2:pool(id, opts)
  local c = client_of(self, "pool")
  check.text("pool", "argument #1 (poolId)", id, 1024, 2)
  local o, format = common("pool", opts, PLAIN_OPTS)
  return stations_get(c, "/ev/pools/" .. check.escape(id), "", format, o)
end

--- Makes the v2 object of a client (called by evcp.new).
function M.bind(client)
  return setmetatable({ client = client }, V2)
end

--- Connects the module to the client state (called by evcp).
function M.attach(methods, client_state)
  state = client_state
  -- v2 lives on another host in production: requests go to the client's
  -- v2 base URL (see evcp.new's v2_base_url) through the same transport.
  methods._v2_fetch = function(client, reqs)
    local s = state[client]
    if s and s.v2_client then return s.v2_client:_fetch(reqs) end
    return client:_fetch(reqs)
  end
end

return M
