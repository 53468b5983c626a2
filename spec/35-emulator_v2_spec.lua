-- Tests for the emulator's HERE EV Charge Points API v2 resources (/ev/...):
-- starts real emulator processes (bin/evcp-emulator, bundled dataset) and talks to
-- them with curl, as spec/30-emulator_spec.lua does for v3.

local cjson = require("cjson").new()
local lxp = require("lxp")
local status = require("evcp.status")

local SEED001 = "246udbvy497hq-aGVyZS1ldjplY29tb3ZlbWVudDoyMDEyMTg1ODgz"
local BERLIN = "prox=52.516667,13.383333,5000&connectortype=31"
local NS = {
  ["xmlns:ev"] = "http://www.here.com/2014/02/ACS-EV",
  ["xmlns:common"] = "http://www.here.com/2014/02/ACS-Common",
  ["xmlns:error"] = "http://www.navteq.com/APND/Error/v2.0",
}

local ep = require("emulator_process")
local shell_quote, read_all, sleep, start, stop, request =
  ep.shell_quote, ep.read_all, ep.sleep, ep.start, ep.stop, ep.request

-- XML parsed with lxp into {name, attrs = {..}, children = {...}, text}
local function parse_xml(s)
  local root
  local stack = {}
  local p = lxp.new({
    StartElement = function(_, name, attrs)
      local a = {}
      for k, v in pairs(attrs) do
        if type(k) == "string" then a[k] = v end
      end
      local node = { name = name, attrs = a, attr_order = {}, children = {}, text = {} }
      for i = 1, #attrs do node.attr_order[i] = attrs[i] end
      local parent = stack[#stack]
      if parent then parent.children[#parent.children + 1] = node else root = node end
      stack[#stack + 1] = node
    end,
    EndElement = function()
      local node = table.remove(stack)
      node.text = table.concat(node.text)
    end,
    CharacterData = function(_, text)
      local node = stack[#stack]
      if node then node.text[#node.text + 1] = text end
    end,
  })
  local ok, msg, line = p:parse(s)
  if ok then ok, msg, line = p:parse() end
  p:close()
  assert(ok, "XML is not well-formed: " .. tostring(msg) .. " at line " .. tostring(line))
  return root
end

-- Canonical forms for comparing a JSON document with the XML of the same request:
-- every object is a map name -> list of values; scalars are normalised strings.
local function norm_scalar(v)
  if type(v) == "boolean" then return tostring(v) end
  local n = tonumber(v)
  if n and tostring(v):match("^%-?[%d.]+$") then return ("%.10g"):format(n) end
  return tostring(v)
end

local function canon_xml(node)
  if #node.children == 0 and next(node.attrs) == nil then return norm_scalar(node.text) end
  local m = {}
  for k, v in pairs(node.attrs) do
    if not k:match("^xmlns") then m[k] = { norm_scalar(v) } end
  end
  for _, c in ipairs(node.children) do
    m[c.name] = m[c.name] or {}
    table.insert(m[c.name], canon_xml(c))
  end
  return m
end

local function is_array(t)
  return type(t) == "table" and #t > 0 and next(t, #t) == nil
end

local function canon_json(v)
  if type(v) ~= "table" then return norm_scalar(v) end
  local m = {}
  for k, val in pairs(v) do
    if is_array(val) then
      local list = {}
      for i, item in ipairs(val) do list[i] = canon_json(item) end
      m[k] = list
    else
      m[k] = { canon_json(val) }
    end
  end
  return m
end

local function haversine(lat1, lng1, lat2, lng2)
  local r = math.rad
  local dlat, dlng = r(lat2 - lat1), r(lng2 - lng1)
  local h = math.sin(dlat / 2) ^ 2 + math.cos(r(lat1)) * math.cos(r(lat2)) * math.sin(dlng / 2) ^ 2
  return 2 * 6371000 * math.asin(math.sqrt(h))
end

local function stations_of(json)
  return json.evStations and json.evStations.evStation or {}
end

local function ids_of(list)
  local out = {}
  for i, s in ipairs(list) do out[i] = s.id end
  return out
end

local function type_ids(station)
  local t = {}
  for _, g in ipairs(station.connectors and station.connectors.connector or {}) do
    t[g.connectorType.id] = true
  end
  return t
end

describe("evcp emulator, v2 resources #slow", function()
  local emu

  setup(function()
    emu = start("--status-interval 0 --api-key k1 --token tok1")
  end)

  teardown(function()
    stop(emu)
  end)

  local function get(path, opts)
    return request(emu, path, opts)
  end

  local function key(path)
    return path .. (path:find("?", 1, true) and "&" or "?") .. "apiKey=k1"
  end

  -- asserts a v2 400 in JSON and in XML; returns the JSON message
  local function bad(path_and_query)
    local res = get(key("/ev/" .. path_and_query:gsub("^(%a[%w/]*)%?", "%1.json?")))
    assert.are.equal(400, res.status, path_and_query)
    assert.are.equal("application/json", res.headers["content-type"])
    assert.are.equal("InvalidInputData", res.json.Type)
    assert.are.equal(1, #res.json.Message)
    assert.is_string(res.json.Message[1])
    local x = get(key("/ev/" .. path_and_query:gsub("^(%a[%w/]*)%?", "%1.xml?")))
    assert.are.equal(400, x.status)
    assert.are.equal("application/xml", x.headers["content-type"])
    local doc = parse_xml(x.body)
    assert.are.equal("error:Error", doc.name)
    assert.are.same(canon_json(res.json), canon_xml(doc))
    return res.json.Message[1]
  end

  describe("seed 000: Berlin, 5 km, connector type 31", function()
    local json_res, xml_res

    setup(function()
      json_res = get(key("/ev/stations.json?" .. BERLIN))
      xml_res = get(key("/ev/stations.xml?" .. BERLIN))
    end)

    it("returns at least 5 stations within 5 km with a type 31 connector, nearest first",
      function()
        assert.are.equal(200, json_res.status)
        assert.are.equal("application/json", json_res.headers["content-type"])
        local j = json_res.json
        local list = stations_of(j)
        assert.is_true(#list >= 5)
        assert.are.equal(#list, j.count)
        assert.is_false(j.hasMore)
        local prev = -1
        for _, s in ipairs(list) do
          assert.is_true(type_ids(s)["31"], s.id)
          assert.is_true(s.distance <= 5000)
          assert.are.equal(math.floor(s.distance), s.distance)
          local d = haversine(52.516667, 13.383333, s.position.latitude, s.position.longitude)
          assert.is_true(math.abs(d - s.distance) <= 2, s.id)
          assert.is_true(s.distance >= prev)
          prev = s.distance
          assert.is_string(s.poolId)
          assert.is_string(s.lastUpdateTimestamp)
          assert.truthy(s.lastUpdateTimestamp:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$"))
        end
      end)

    it("has HERE's v2 station and connector group shape", function()
      local s = stations_of(json_res.json)[1]
      assert.is_string(s.id)
      assert.is_number(s.position.latitude)
      assert.is_number(s.totalNumberOfConnectors)
      local total = 0
      for _, g in ipairs(s.connectors.connector) do
        assert.is_string(g.connectorType.id)
        assert.is_string(g.connectorType.name)
        assert.is_number(g.maxPowerLevel)
        assert.is_string(g.customerChargeLevel)
        assert.is_boolean(g.fixedCable)
        local cp = g.chargingPoint
        assert.is_number(cp.numberOfConnectors)
        assert.is_number(cp.numberOfAvailable)
        assert.are.equal(cp.numberOfConnectors, #g.connectorStatuses.connectorStatus)
        total = total + cp.numberOfConnectors
        for _, cs in ipairs(g.connectorStatuses.connectorStatus) do
          assert.truthy(({ AVAILABLE = 1, UNAVAILABLE = 1, OCCUPIED = 1, OUT_OF_SERVICE = 1,
            OFFLINE = 1, RESERVED = 1, OTHER = 1 })[cs.state])
        end
      end
      assert.are.equal(total, s.totalNumberOfConnectors)
      assert.is_boolean(s.evStationDetails.restrictedAccess)
      assert.truthy(({ PUBLIC = 1, RESTRICTED = 1, PRIVATE = 1 })[s.evStationDetails.accessibilityType])
    end)

    it("answers the same in XML, well-formed, with HERE's root and namespaces", function()
      assert.are.equal(200, xml_res.status)
      assert.are.equal("application/xml", xml_res.headers["content-type"])
      assert.truthy(xml_res.body:match('^<%?xml version="1.0" encoding="UTF%-8" standalone="yes"%?>\n'))
      assert.is_nil(xml_res.body:find("<!DOCTYPE", 1, true))
      local doc = parse_xml(xml_res.body)
      assert.are.equal("ev:evStationsResult", doc.name)
      for k, v in pairs(NS) do assert.are.equal(v, doc.attrs[k]) end
      assert.are.same(canon_json(json_res.json), canon_xml(doc))
      -- station attributes, as in HERE's XML example
      local first = doc.children[3].children[1]
      assert.are.equal("evStation", first.name)
      assert.are.same({ "id", "lastUpdateTimestamp", "timeZone" }, first.attr_order)
      -- maxPowerLevel is written as a decimal
      assert.truthy(xml_res.body:find("<maxPowerLevel>%d+%.%d+</maxPowerLevel>"))
    end)
  end)

  describe("bbox and corridor", function()
    it("bbox returns the stations inside, without distance, sorted by id", function()
      local q = "bbox=52.55,13.35;52.48,13.45"
      local res = get(key("/ev/stations.json?" .. q))
      assert.are.equal(200, res.status)
      local list = stations_of(res.json)
      assert.is_true(#list >= 3)
      for i, s in ipairs(list) do
        assert.is_nil(s.distance)
        assert.is_true(s.position.latitude <= 52.55 and s.position.latitude >= 52.48)
        assert.is_true(s.position.longitude >= 13.35 and s.position.longitude <= 13.45)
        if i > 1 then assert.is_true(list[i - 1].id < s.id) end
      end
      local count = get(key("/ev/stations/count.json?" .. q))
      assert.are.equal(#list, count.json.count)
      local x = get(key("/ev/stations.xml?" .. q))
      assert.are.same(canon_json(res.json), canon_xml(parse_xml(x.body)))
    end)

    it("corridor returns stations along the path, ordered by distance along it", function()
      local q = "corridor=50.95,6.90;50.93,6.96;50.90,7.02&corridorwidth=2000"
      local res = get(key("/ev/stations.json?" .. q .. "&maxresults=1000"))
      assert.are.equal(200, res.status)
      local list = stations_of(res.json)
      assert.is_true(#list >= 5)
      local prev = -1
      for _, s in ipairs(list) do
        assert.is_number(s.distance)
        assert.is_true(s.distance >= prev)
        prev = s.distance
      end
      -- the first station is near the start: its distance is at least its offset
      local first = list[1]
      local off = haversine(50.95, 6.90, first.position.latitude, first.position.longitude)
      assert.is_true(first.distance <= off + 1)
      -- a wider corridor holds more stations; the default width (1000 m) fewer
      local wide = get(key("/ev/stations/count.json?corridor=50.95,6.90;50.93,6.96;50.90,7.02&corridorwidth=8000"))
      local narrow = get(key("/ev/stations/count.json?corridor=50.95,6.90;50.93,6.96;50.90,7.02"))
      assert.is_true(wide.json.count > #list)
      assert.is_true(narrow.json.count < #list)
      local x = get(key("/ev/stations.xml?" .. q .. "&maxresults=1000"))
      assert.are.same(canon_json(res.json), canon_xml(parse_xml(x.body)))
    end)
  end)

  describe("paging and filters", function()
    local COLOGNE = "prox=50.94,6.96,20000"

    it("pages with maxresults and offset; count is the page size; hasMore", function()
      local all = get(key("/ev/stations.json?" .. COLOGNE .. "&maxresults=1000")).json
      local total = all.count
      assert.is_true(total > 10)
      assert.is_false(all.hasMore)
      assert.are.equal(total, get(key("/ev/stations/count.json?" .. COLOGNE)).json.count)
      local ids = {}
      local offset = 0
      while true do
        local page = get(key(("/ev/stations.json?%s&maxresults=7&offset=%d"):format(COLOGNE, offset))).json
        local list = stations_of(page)
        assert.are.equal(#list, page.count)
        assert.are.equal(offset + #list < total, page.hasMore)
        for _, id in ipairs(ids_of(list)) do ids[#ids + 1] = id end
        if not page.hasMore then break end
        assert.are.equal(7, #list)
        offset = offset + 7
      end
      assert.are.same(ids_of(stations_of(all)), ids)
      local beyond = get(key(("/ev/stations.json?%s&offset=%d"):format(COLOGNE, total))).json
      assert.are.same({ hasMore = false, count = 0 }, beyond)
    end)

    it("defaults to 50 results and caps maxresults at 1000", function()
      local res = get(key("/ev/stations.json?prox=50.94,6.96,200000")).json
      assert.are.equal(50, res.count)
      assert.is_true(res.hasMore)
      local big = get(key("/ev/stations.json?prox=47.6,-122.3,200000&maxresults=5000")).json
      assert.are.equal(1000, big.count)
      assert.is_true(big.hasMore)
    end)

    it("filters by a comma list of connector types; count ignores filters", function()
      local q = "prox=50.94,6.96,20000&maxresults=1000"
      local all = stations_of(get(key("/ev/stations.json?" .. q)).json)
      local chademo = stations_of(get(key("/ev/stations.json?" .. q .. "&connectortype=29")).json)
      local both = stations_of(get(key("/ev/stations.json?" .. q .. "&connectortype=29,34")).json)
      assert.is_true(#chademo > 0 and #chademo < #all)
      assert.is_true(#both >= #chademo)
      for _, s in ipairs(both) do
        local t = type_ids(s)
        assert.is_true(t["29"] or t["34"])
      end
      assert.are.equal(0, get(key("/ev/stations.json?" .. q .. "&connectortype=63")).json.count)
      assert.are.equal(#all,
        get(key("/ev/stations/count.json?prox=50.94,6.96,20000&connectortype=29")).json.count)
    end)

    it("filters by eMSP partner id", function()
      local q = "prox=50.94,6.96,20000&maxresults=1000"
      local emsp = "2f4a6c8e-9b1d-4e3f-a543-8091a2b3c444"
      local all = stations_of(get(key("/ev/stations.json?" .. q)).json)
      local some = stations_of(get(key("/ev/stations.json?" .. q .. "&emsp=" .. emsp)).json)
      assert.is_true(#some > 0 and #some < #all)
      for _, s in ipairs(some) do
        local found = false
        for _, r in ipairs(s.roaming or {}) do
          if r.partnerId == emsp then found = true end
        end
        assert.is_true(found)
      end
    end)
  end)

  describe("validation", function()
    it("needs exactly one geometry", function()
      assert.truthy(bad("stations?maxresults=5"):find("prox, bbox or corridor"))
      assert.truthy(bad("stations?prox=52,13,100&bbox=52,13;51,14"):find("Only one"))
      bad("stations/count?")
    end)

    it("checks prox", function()
      bad("stations?prox=52.5,13.4")
      bad("stations?prox=52.5,13.4,1000,5")
      bad("stations?prox=abc,13.4,1000")
      bad("stations?prox=0x10,13.4,1000")
      bad("stations?prox=91,13.4,1000")
      bad("stations?prox=-90.5,13.4,1000")
      bad("stations?prox=52.5,181,1000")
      bad("stations?prox=52.5,-180.01,1000")
      bad("stations?prox=52.5,13.4,5000.5")
      bad("stations?prox=52.5,13.4,0")
      assert.truthy(bad("stations?prox=52.5,13.4,200001"):find("200000"))
      assert.are.equal(200, get(key("/ev/stations.json?prox=52.5,13.4,200000&maxresults=1")).status)
      assert.are.equal(200, get(key("/ev/stations.json?prox=90,180,1000")).status)
    end)

    it("checks bbox", function()
      bad("stations?bbox=52.55,13.35,52.48,13.45")
      bad("stations?bbox=52.55,13.35")
      bad("stations?bbox=52.48,13.35;52.55,13.45")
      bad("stations?bbox=95,13.35;52.55,13.45")
      bad("stations?bbox=52.55,x;52.48,13.45")
      assert.truthy(bad("stations?bbox=55,10;50,14"):find("400 km"))
    end)

    it("checks corridor and corridorwidth", function()
      bad("stations?corridor=52.5,13.4")
      bad("stations?corridor=52.5,13.4;")
      bad("stations?corridor=52.5,13.4;52.6")
      bad("stations?corridor=52.5,13.4;92,13.5")
      bad("stations?corridor=52.5,13.4;52.6,13.5&corridorwidth=0")
      bad("stations?corridor=52.5,13.4;52.6,13.5&corridorwidth=wide")
      assert.truthy(bad("stations?corridor=52.5,13.4;40,-3&corridorwidth=10000"):find("5000 km2"))
      bad("stations?corridor=52.5,13.4;52.5,13.4&corridorwidth=100000") -- a 100 km wide disc
    end)

    it("checks maxresults, offset and connectortype", function()
      bad("stations?prox=52.5,13.4,1000&maxresults=0")
      bad("stations?prox=52.5,13.4,1000&maxresults=ten")
      bad("stations?prox=52.5,13.4,1000&maxresults=2.5")
      bad("stations?prox=52.5,13.4,1000&offset=-1")
      bad("stations?prox=52.5,13.4,1000&offset=x")
      bad("stations?prox=52.5,13.4,1000&connectortype=31,Type2")
    end)

    it("needs ids on the bulk resources", function()
      bad("stations/bulk?")
      bad("pools/bulk?")
      bad("evses/bulk?")
    end)
  end)

  describe("authentication and paths", function()
    it("answers 401 without or with wrong credentials, in JSON", function()
      for _, path in ipairs({ "/ev/stations.json?" .. BERLIN, "/ev/stations.xml?" .. BERLIN }) do
        local res = get(path)
        assert.are.equal(401, res.status)
        assert.are.same({ error = "Unauthorized", error_description = "No credentials found" },
          res.json)
        res = get(path .. "&apiKey=nope")
        assert.are.equal(401, res.status)
        assert.are.same({ error = "Unauthorized", error_description = "Invalid credentials" },
          res.json)
      end
      assert.are.equal(401, get("/ev/stations.json").status) -- before validation
    end)

    it("accepts an api key or a bearer token", function()
      assert.are.equal(200, get("/ev/stations.json?" .. BERLIN,
        { headers = { Authorization = "Bearer tok1" } }).status)
      assert.are.equal(200, get(key("/ev/stations/count.xml?" .. BERLIN)).status)
    end)

    it("answers unknown paths and formats with 404", function()
      for _, p in ipairs({ "/ev/stations", "/ev/stations.csv?" .. BERLIN, "/ev/nothing.json",
        "/ev/stations/a/b.json" }) do
        local res = get(key(p))
        assert.are.equal(404, res.status, p)
        assert.are.equal("NotFound", res.json.Type)
      end
    end)
  end)

  describe("by id", function()
    local station

    setup(function()
      station = stations_of(get(key("/ev/stations.json?" .. BERLIN)).json)[1]
    end)

    it("serves station details without count", function()
      local res = get(key("/ev/stations/" .. station.id .. ".json"))
      assert.are.equal(200, res.status)
      assert.is_false(res.json.hasMore)
      assert.is_nil(res.json.count)
      local s = stations_of(res.json)
      assert.are.equal(1, #s)
      assert.are.equal(station.id, s[1].id)
      assert.are.equal(station.poolId, s[1].poolId)
      assert.is_nil(s[1].distance)
      local x = get(key("/ev/stations/" .. station.id .. ".xml"))
      local doc = parse_xml(x.body)
      assert.are.equal("ev:evStationsResult", doc.name)
      assert.are.same(canon_json(res.json), canon_xml(doc))
    end)

    it("answers an unknown id with 404", function()
      local res = get(key("/ev/stations/nope.json"))
      assert.are.equal(404, res.status)
      assert.are.equal("NotFound", res.json.Type)
      assert.are.equal(404, get(key("/ev/pools/nope.json")).status)
      local x = get(key("/ev/stations/nope.xml"))
      assert.are.equal(404, x.status)
      assert.are.equal("error:Error", parse_xml(x.body).name)
    end)

    it("serves pools: the poolId is the v3 location id", function()
      local res = get(key("/ev/pools/" .. station.poolId .. ".json"))
      assert.are.equal(200, res.status)
      assert.are.equal(station.id, stations_of(res.json)[1].id)
      local v3 = get("/v3/locations/" .. station.poolId .. "?apiKey=k1")
      assert.are.equal(200, v3.status)
      assert.are.equal("here:evcp:charginglocation:" .. station.poolId, v3.json.id)
      assert.are.equal(v3.json.name, stations_of(res.json)[1].name)
    end)

    it("serves stations and pools in bulk, sorted by id", function()
      local list = stations_of(get(key("/ev/stations.json?" .. BERLIN)).json)
      local a, b = list[1], list[2]
      local res = get(key("/ev/stations/bulk.json?id=" .. a.id .. "&id=" .. b.id))
      assert.are.equal(200, res.status)
      local got = ids_of(stations_of(res.json))
      local want = { a.id, b.id }
      table.sort(want)
      assert.are.same(want, got)
      res = get(key("/ev/pools/bulk.xml?id=" .. b.poolId .. "&id=" .. a.poolId))
      local doc = parse_xml(res.body)
      assert.are.equal("ev:evStationsResult", doc.name)
      assert.are.equal(404, get(key("/ev/stations/bulk.json?id=" .. a.id .. "&id=nope")).status)
    end)

    it("serves EVSEs in bulk", function()
      local res = get(key("/ev/evses/bulk.json?id=" .. SEED001))
      assert.are.equal(200, res.status)
      local pool = res.json.pools.pool[1]
      assert.are.equal(SEED001, pool.id)
      assert.are.equal(5, #pool.evses.evse)
      for _, e in ipairs(pool.evses.evse) do
        assert.is_string(e.state)
        assert.is_string(e.connectors.connector[1].typeId)
      end
      local x = get(key("/ev/evses/bulk.xml?id=" .. SEED001))
      assert.are.same(canon_json(res.json), canon_xml(parse_xml(x.body)))
    end)
  end)

  describe("lookup lists", function()
    it("serves connector types and roamings", function()
      local ct = get(key("/ev/connectortypes.json")).json
      local by = {}
      for _, t in ipairs(ct.connectorType) do by[t.id] = t.name end
      assert.are.equal("IEC 62196-3 type 2 combo (Mennekes)", by["34"])
      local x = get(key("/ev/connectortypes.xml"))
      assert.are.same(canon_json(ct), canon_xml(parse_xml(x.body)))
      local r = get(key("/ev/roamings.json")).json
      assert.is_true(#r.roaming > 0)
      assert.is_string(r.roaming[1].partnerId)
      local rx = parse_xml(get(key("/ev/roamings.xml")).body)
      assert.are.equal("roamings", rx.name)
      assert.are.same(canon_json(r), canon_xml(rx))
    end)
  end)
end)

describe("evcp emulator, v2 and v3 statuses agree #slow", function()
  local emu

  setup(function()
    -- statuses change every second, starting an hour ago
    emu = start(("--status-interval 1 --start-time %d --api-key k1"):format(os.time() - 3600))
  end)

  teardown(function()
    stop(emu)
  end)

  it("shows the v2 state status.v3_to_v2(v3 status) for every EVSE", function()
    local checked, changed = 0, {}
    for _ = 1, 20 do
      local v3a = request(emu, "/v3/locations/" .. SEED001 .. "?fields=evses&apiKey=k1").json
      local v2 = request(emu, "/ev/pools/" .. SEED001 .. ".json?apiKey=k1").json
      local bulk = request(emu, "/ev/evses/bulk.json?id=" .. SEED001 .. "&apiKey=k1").json
      local v3b = request(emu, "/v3/locations/" .. SEED001 .. "?fields=evses&apiKey=k1").json
      if cjson.encode(v3a.evses) == cjson.encode(v3b.evses) then -- same status step
        local want = {}
        for _, e in ipairs(v3a.evses) do
          want[e.uid] = status.v3_to_v2(e.status)
          changed[e.status] = true
        end
        local seen = 0
        for _, g in ipairs(stations_of(v2)[1].connectors.connector) do
          for _, cs in ipairs(g.connectorStatuses.connectorStatus) do
            assert.are.equal(want[cs.cpoEvseId], cs.state)
            seen = seen + 1
          end
        end
        assert.are.equal(#v3a.evses, seen)
        for _, e in ipairs(bulk.pools.pool[1].evses.evse) do
          assert.are.equal(want[e.cpoId], e.state)
        end
        checked = checked + 1
        if checked >= 3 then break end
      end
      sleep(0.3)
    end
    assert.is_true(checked >= 3)
  end)
end)
