--- evcp.v2: HERE EV Charge Points API v2, JSON and XML, pure.
--
-- Like evcp.v3, no I/O: `*_plan` functions check the caller's arguments
-- (misuse raises) and return request plans; `*_read` functions turn the
-- transport's results into Locations, plain tables or an evcp.Error. The
-- client.v2 object (lua/evcp/client.lua) sends the plans.
--
-- A v2 station becomes a Location (evcp.v2.station does the conversion)
-- whose id is "here:evcp:charginglocation:" .. poolId (HERE keeps that id
-- across versions); the whole v2 station stays reachable as `loc.v2`.
local core = require("evcp.core")
local json = require("evcp.json")
local check = require("evcp.check")
local errors = require("evcp.error")
local schema = require("evcp.v2.schema")
local station = require("evcp.v2.station")

local M = {}

local type, ipairs, tonumber, tostring, next = type, ipairs, tonumber, tostring, next
local concat, floor, format = table.concat, math.floor, string.format
local fail = check.fail

--- Largest prox radius HERE accepts, in metres.
M.MAX_RADIUS = 200000

--- Default page size of a stations search (HERE's default).
M.DEFAULT_MAXRESULTS = 50

--- Most entries evcp accepts in a lookup list (connector types, roamings...).
M.MAX_LOOKUP_ITEMS = 10000

M.XML_SCHEMA = schema.XML
local XML = core.xml_schema(schema.XML) -- compiled once
local xml_decode = core.xml_decode

M.station_to_v3 = station.to_v3
local list_of = station.list_of
local to_v3 = station.to_v3

local ACCEPT = { json = "application/json", xml = "application/xml" }

-- An integral number as an integer where the runtime has them.
local tointeger = math.tointeger or function(n) return n end

-- Elements one station may take in a v2 document (real pages: about 91).
local ELEMENTS_PER_STATION = 2048

--- Limits of one v2 body holding at most max_items entries (JSON and XML).
function M.limits(max_body, max_items)
  return json.limits(max_body, max_items, ELEMENTS_PER_STATION)
end

--- Decodes a v2 body in `fmt` ("json" | "xml"); returns the table in the
-- canonical shape (evcp.v2.schema) or nil, message. Both decoders read the
-- compiled schema and give that shape as they build the tables (the JSON
-- one exactly as schema.normalize would make cjson's tables:
-- spec/16-v2_parse_spec.lua compares them).
function M.decode(body, fmt, limits)
  if fmt == "xml" then return xml_decode(body, XML, limits) end
  local doc, msg = json.decode(body, limits, XML)
  if doc == nil then return nil, msg end
  if type(doc) ~= "table" then return nil, "response is not a JSON object" end
  return doc
end

-- Stations Response table -> {items = {Location...}, hasMore, count}
local function stations_result(doc)
  if doc.hasMore == nil and doc.evStations == nil and doc.count == nil then
    return nil, "not a v2 Stations Response (no hasMore, count or evStations)"
  end
  -- an empty <evStations/> element reads as "" from XML: no stations
  if doc.evStations == "" then doc.evStations = nil end
  if doc.evStations ~= nil and type(doc.evStations) ~= "table" then
    return nil, "evStations: expected an object"
  end
  local count = doc.count
  if count ~= nil then
    if type(count) ~= "number" or count ~= count or count < 0 or count % 1 ~= 0 or count > 2 ^ 53 then
      return nil, "count: expected a non-negative integer"
    end
    count = tointeger(count)
  end
  local out = { items = {}, hasMore = doc.hasMore == true, count = count }
  for i, st in ipairs(list_of(doc.evStations, "evStation")) do
    local t, msg = to_v3(st, "evStations.evStation", i)
    if not t then return nil, msg end
    local loc, msg2 = core.location(t)
    if not loc then return nil, msg2 end
    out.items[i] = loc
  end
  return out
end

local function parse(body, fmt, max_body)
  if type(body) ~= "string" then
    fail("evcp.v2.parse", "argument #1 (body)", "must be a string, got " .. type(body))
  end
  fmt = fmt or "json"
  if fmt ~= "json" and fmt ~= "xml" then
    fail("evcp.v2.parse", "argument #2 (format)", "must be 'json' or 'xml', got " .. tostring(fmt))
  end
  if max_body ~= nil then check.integer("evcp.v2.parse", "argument #3 (max_body)", max_body, 1) end
  local doc, msg = M.decode(body, fmt, M.limits(max_body, M.MAX_LOOKUP_ITEMS))
  if not doc then return nil, errors.decode(msg) end
  local res, msg2 = stations_result(doc)
  if not res then return nil, errors.decode(msg2) end
  return res
end

--- evcp.v2.parse(body [, format [, max_body]]) -> {items, hasMore, count} | nil, err
-- A v2 Stations Response (stations, details, bulk, pools) as Locations;
-- format "json" (default) or "xml"; at most max_body bytes (default 32 MiB).
function M.parse(body, fmt, max_body)
  local v, err = check.call(parse, body, fmt, max_body)
  return v, err
end

---------------------------------------------------------------------------
-- request checking

-- The shortest decimal text that reads back as exactly v.
local function exact(v)
  for digits = 15, 17 do
    local s = format("%." .. digits .. "g", v)
    if tonumber(s) == v then return s end
  end
  return format("%.17g", v)
end

local function num(fname, what, v, lo, hi)
  local n = v
  if type(v) == "string" then
    n = #v <= 64 and v:match("^%-?%d+%.?%d*$") and tonumber(v) or nil
  elseif type(v) ~= "number" then
    n = nil
  end
  if n == nil or n ~= n or n < lo or n > hi then
    fail(fname, what, "must be a number between " .. lo .. " and " .. hi)
  end
  if type(v) == "string" then return v end -- sent exactly as given
  return exact(n)
end

local function coord(fname, what, lat, lng)
  return num(fname, what .. " latitude", lat, -90, 90) .. ","
    .. num(fname, what .. " longitude", lng, -180, 180)
end

local function split(s, sep, max)
  local out = {}
  if #s > 65536 then return out end
  for part in (s .. sep):gmatch("([^" .. sep .. "]*)" .. sep) do
    out[#out + 1] = part
    if max and #out > max then break end
  end
  return out
end

local MAX_CORRIDOR_POINTS = 1000

local function geometry(fname, opts, q)
  local n = 0
  if opts.prox ~= nil then
    n = n + 1
    local p = opts.prox
    if type(p) == "string" then p = split(p, ",", 3) end
    if type(p) ~= "table" or #p ~= 3 then
      fail(fname, "option 'prox'", "must be {lat, lng, radius} or 'lat,lng,radius'")
    end
    local r = tonumber(p[3])
    if r == nil or r % 1 ~= 0 or r < 1 or r > M.MAX_RADIUS then
      fail(fname, "option 'prox'", "radius must be an integer number of metres from 1 to "
        .. M.MAX_RADIUS .. " (200 km)")
    end
    q[#q + 1] = { "prox", coord(fname, "option 'prox'", p[1], p[2]) .. "," .. format("%d", r) }
  end
  if opts.bbox ~= nil then
    n = n + 1
    local b = opts.bbox
    if type(b) == "string" then
      local c = {}
      for _, corner in ipairs(split(b, ";", 2)) do
        for _, v in ipairs(split(corner, ",", 2)) do c[#c + 1] = v end
      end
      b = c
    end
    if type(b) ~= "table" or #b ~= 4 then
      fail(fname, "option 'bbox'", "must be {topLeftLat, topLeftLng, bottomRightLat, bottomRightLng}")
    end
    local top, bottom = tonumber(b[1]), tonumber(b[3])
    if top and bottom and top < bottom then
      fail(fname, "option 'bbox'", "top-left latitude must not be south of bottom-right latitude")
    end
    q[#q + 1] = { "bbox", coord(fname, "option 'bbox' top-left", b[1], b[2]) .. ";"
      .. coord(fname, "option 'bbox' bottom-right", b[3], b[4]) }
  end
  if opts.corridor ~= nil then
    n = n + 1
    local pts = opts.corridor
    if type(pts) == "string" then
      local list = {}
      for _, p in ipairs(split(pts, ";", MAX_CORRIDOR_POINTS)) do list[#list + 1] = split(p, ",", 2) end
      pts = list
    end
    if type(pts) ~= "table" or #pts < 2 then
      fail(fname, "option 'corridor'", "must hold at least 2 points {lat, lng}")
    end
    if #pts > MAX_CORRIDOR_POINTS then
      fail(fname, "option 'corridor'", "must hold at most " .. MAX_CORRIDOR_POINTS .. " points")
    end
    local parts = {}
    for i, p in ipairs(pts) do
      if type(p) ~= "table" or #p ~= 2 then
        fail(fname, "option 'corridor'[" .. i .. "]", "must be a point {lat, lng}")
      end
      parts[i] = coord(fname, "option 'corridor'[" .. i .. "]", p[1], p[2])
    end
    q[#q + 1] = { "corridor", concat(parts, ";") }
    if opts.corridorwidth ~= nil then
      check.integer(fname, "option 'corridorwidth'", opts.corridorwidth, 1)
      q[#q + 1] = { "corridorwidth", format("%d", opts.corridorwidth) }
    end
  elseif opts.corridorwidth ~= nil then
    fail(fname, "option 'corridorwidth'", "needs option 'corridor'")
  end
  if n ~= 1 then
    fail(fname, "options", "need exactly one of 'prox', 'bbox' and 'corridor' (got " .. n .. ")")
  end
  return q
end

local function filters(fname, opts, q)
  if opts.connectortype ~= nil then
    local list = opts.connectortype
    if type(list) ~= "table" then list = split(tostring(list), ",", 100) end
    local n = check.array(fname, "option 'connectortype'", list, 100)
    if n == 0 then fail(fname, "option 'connectortype'", "must hold at least one id") end
    local ids = {}
    for i = 1, n do
      local id = tonumber(list[i])
      if id == nil or id % 1 ~= 0 or id < 0 or id > 1e6 then
        fail(fname, "option 'connectortype'[" .. i .. "]", "must be a v2 connector type id (integer)")
      end
      ids[i] = format("%d", id)
    end
    q[#q + 1] = { "connectortype", concat(ids, ",") }
  end
  if opts.emsp ~= nil then
    local list = check.list(fname, "option 'emsp'", opts.emsp, 100)
    for i, v in ipairs(list) do
      if #v > 64 or not v:match("^[%w%-]+$") then
        fail(fname, "option 'emsp'[" .. i .. "]", "must be an eMSP partner id")
      end
    end
    q[#q + 1] = { "emsp", concat(list, ",") }
  end
  return q
end

local function paging(fname, opts, q)
  if opts.maxresults ~= nil then
    check.integer(fname, "option 'maxresults'", opts.maxresults, 1, 10000)
    q[#q + 1] = { "maxresults", format("%d", opts.maxresults) }
  end
  if opts.offset ~= nil then
    check.integer(fname, "option 'offset'", opts.offset, 0, 2 ^ 31)
    q[#q + 1] = { "offset", format("%d", opts.offset) }
  end
  return q
end

local set = check.set

local SEARCH_OPTS = set({ "prox", "bbox", "corridor", "corridorwidth", "connectortype", "emsp",
  "maxresults", "offset", "format", "request_id" })
local COUNT_OPTS = set({ "prox", "bbox", "corridor", "corridorwidth", "format", "request_id" })
local PLAIN_OPTS = set({ "format", "request_id" })

local function common(fname, opts, allowed)
  local o = check.options(fname, opts, allowed)
  local fmt = o.format or "json"
  if fmt ~= "json" and fmt ~= "xml" then fail(fname, "option 'format'", "must be 'json' or 'xml'") end
  if o.request_id ~= nil then check.text(fname, "option 'request_id'", o.request_id, 256) end
  return o, fmt
end

local function plan(path, fmt, query, o, shape, max_items)
  return { api = "v2", method = "GET", path = path .. "." .. fmt, query = query, format = fmt,
    accept = ACCEPT[fmt], request_id = o.request_id, shape = shape, max_items = max_items }
end

local function id_query(fname, ids)
  if type(ids) == "string" then ids = { ids } end
  local n = check.array(fname, "argument #1 (ids)", ids, 1000)
  if n == 0 then fail(fname, "argument #1 (ids)", "must hold at least one id") end
  local q = {}
  for i = 1, n do
    check.text(fname, "ids[" .. i .. "]", ids[i], 1024)
    if ids[i]:find(",", 1, true) then fail(fname, "ids[" .. i .. "]", "must not contain ','") end
    q[i] = { "id", ids[i] }
  end
  return q, n
end

local segment = require("evcp.url").segment

---------------------------------------------------------------------------
-- operations: plans

--- stations_plan(opts) -> plan of one page of a search (GET /ev/stations)
function M.stations_plan(opts, fname)
  fname = fname or "stations"
  local o, fmt = common(fname, opts, SEARCH_OPTS)
  local q = paging(fname, o, filters(fname, o, geometry(fname, o, {})))
  return plan("/ev/stations", fmt, q, o, "stations", o.maxresults or M.DEFAULT_MAXRESULTS)
end

--- pages_plan(opts) -> a pager: pager(offset) gives the plan of the page
-- at offset (each_station), pager.size the page size.
function M.pages_plan(opts)
  local fname = "each_station"
  local o, fmt = common(fname, opts, SEARCH_OPTS)
  local base = filters(fname, o, geometry(fname, o, {}))
  local size = o.maxresults or M.DEFAULT_MAXRESULTS
  check.integer(fname, "option 'maxresults'", size, 1, 10000)
  local first = o.offset or 0
  check.integer(fname, "option 'offset'", first, 0, 2 ^ 31)
  return { size = size, first = first, plan = function(offset)
    local q = {}
    for i, p in ipairs(base) do q[i] = p end
    q[#q + 1] = { "maxresults", format("%d", size) }
    q[#q + 1] = { "offset", format("%d", offset) }
    return plan("/ev/stations", fmt, q, o, "stations", size)
  end }
end

--- count_plan(opts) -> plan (GET /ev/stations/count; filters do not apply)
function M.count_plan(opts)
  local o, fmt = common("count", opts, COUNT_OPTS)
  return plan("/ev/stations/count", fmt, geometry("count", o, {}), o, "count", 1)
end

--- station_plan(id, opts) -> plan (GET /ev/stations/{id}: station details)
function M.station_plan(id, opts)
  check.text("station", "argument #1 (id)", id, 1024)
  local o, fmt = common("station", opts, PLAIN_OPTS)
  return plan("/ev/stations/" .. segment(id), fmt, {}, o, "station", 1)
end

--- pool_plan(poolId, opts) -> plan (GET /ev/pools/{id}: location details)
function M.pool_plan(id, opts)
  check.text("pool", "argument #1 (poolId)", id, 1024)
  local o, fmt = common("pool", opts, PLAIN_OPTS)
  return plan("/ev/pools/" .. segment(id), fmt, {}, o, "stations", 1000)
end

-- The resources that take only ids (repeated id=) or nothing.
-- shape "stations": the answer becomes Locations; "plain": a plain table.
M.RESOURCES = {
  stations_bulk = { path = "/ev/stations/bulk", ids = true, shape = "stations" },
  pools = { path = "/ev/pools/bulk", ids = true, shape = "stations" },
  evses = { path = "/ev/evses/bulk", ids = true, shape = "plain" },
  connector_types = { path = "/ev/connectortypes", shape = "plain" },
  power_feed_types = { path = "/ev/powerfeedtypes", shape = "plain" },
  roamings = { path = "/ev/roamings", shape = "plain" },
}

--- resource_plan(name, a, b) -> plan of one of M.RESOURCES; a = ids (when
-- the resource takes ids) then opts.
function M.resource_plan(name, a, b)
  local r = M.RESOURCES[name]
  local q, opts, n = {}, a, M.MAX_LOOKUP_ITEMS
  if r.ids then
    q, n = id_query(name, a)
    opts = b
    n = n * 100 -- a pool can hold many stations
  end
  local o, fmt = common(name, opts, PLAIN_OPTS)
  return plan(r.path, fmt, q, o, r.shape, n)
end

---------------------------------------------------------------------------
-- operations: reading answers

local function text_of(v)
  if type(v) == "string" then return v end
  if type(v) == "table" then
    local parts = {}
    for _, m in ipairs(v) do
      if type(m) == "string" then parts[#parts + 1] = m end
    end
    if #parts > 0 then return concat(parts, "; ") end
  end
  return nil
end

-- The error of a non-2xx v2 answer (JSON or XML bodies, whatever the
-- requested format: HERE answers errors in either).
local function http_error(res, ctx, limits)
  local body = res.body or ""
  local doc
  if body:match("^%s*<") then
    doc = xml_decode(body, XML, limits) -- <error:Error><Type/><Message/>...
  else
    doc = json.decode(body, limits)
  end
  local found
  if type(doc) == "table" then
    found = {}
    if type(doc.error) == "string" then found.error = doc.error end
    if type(doc.error_description) == "string" then found.error_description = doc.error_description end
    if type(doc.Type) == "string" then found.title = doc.Type end -- HERE's older envelope
    found.cause = text_of(doc.Message)
    doc = core.copy(doc)
  else
    doc = nil
  end
  return errors.http(res, ctx, doc, found)
end

--- read_doc(res, ctx, plan, max_body) -> decoded document | nil, err
function M.read_doc(res, ctx, p, max_body)
  local limits = M.limits(max_body, p.max_items)
  if res.kind then return nil, errors.transport(res, ctx) end
  if res.status < 200 or res.status > 299 then return nil, http_error(res, ctx, limits) end
  local doc, msg = M.decode(res.body, p.format, limits)
  if not doc then return nil, errors.decode(msg, res, ctx) end
  return doc
end

--- read(res, ctx, plan, max_body) -> the answer of plan.shape | nil, err:
-- "stations" {items, hasMore, count}; "station" one Location; "count" an
-- integer; "plain" a plain table.
function M.read(res, ctx, p, max_body)
  local doc, err = M.read_doc(res, ctx, p, max_body)
  if not doc then return nil, err end
  local shape = p.shape
  if shape == "plain" then
    if next(doc) ~= nil and type(next(doc)) ~= "string" then
      return nil, errors.decode("unexpected response: expected an object", res, ctx)
    end
    return core.copy(doc)
  end
  if shape == "count" then
    local n = doc.count
    if type(n) ~= "number" or n ~= n or n < 0 or n % 1 ~= 0 or n > 2 ^ 53 then
      return nil, errors.decode("unexpected response: count missing or not a non-negative integer", res, ctx)
    end
    return tointeger(floor(n))
  end
  local out, msg = stations_result(doc)
  if not out then return nil, errors.decode("unexpected response: " .. msg, res, ctx) end
  if #out.items > p.max_items then
    return nil, errors.decode("unexpected response: more than " .. p.max_items .. " stations", res, ctx)
  end
  if shape == "station" then
    local loc = out.items[1]
    if loc == nil then return nil, errors.decode("station details without a station", res, ctx) end
    return loc
  end
  return out
end

return M
