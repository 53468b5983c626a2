-- Tests for the emulator's HERE EV Charge Points API v2 resources (/ev/...):
-- starts real emulator processes (bin/evcp-emulator, bundled dataset) and talks to
-- them with curl, as spec/30-emulator_spec.lua does for v3.
--
-- Expected values come from HERE's documents, never from the emulator or the client
-- library: v2 states and connector type ids from spec/fixtures/migration-tables.lua
-- (the migration guide's tables, which spec/70 checks against the guide), and the
-- JSON <-> XML mirroring from here-v2.md section 5.3 (the LIST table below).

local cjson = require("cjson").new()
local lxp = require("lxp")

local SEED001 = "246udbvy497hq-aGVyZS1ldjplY29tb3ZlbWVudDoyMDEyMTg1ODgz"
local BERLIN = "prox=52.516667,13.383333,5000&connectortype=31"
local NS = {
  ["xmlns:ev"] = "http://www.here.com/2014/02/ACS-EV",
  ["xmlns:common"] = "http://www.here.com/2014/02/ACS-Common",
  ["xmlns:error"] = "http://www.navteq.com/APND/Error/v2.0",
}

local ep = require("emulator_process")
local read_all, sleep, start, request = ep.read_all, ep.sleep, ep.start, ep.request

-- The migration guide's tables (the spec's own fixture of them).
local GUIDE = dofile(ep.root .. "spec/fixtures/migration-tables.lua")
local V2_STATE, V2_TYPE = {}, {}
for _, row in ipairs(GUIDE.statuses) do V2_STATE[row.v3] = row.v2 end
for _, row in ipairs(GUIDE.connectors) do
  for _, std in ipairs(row.standards) do V2_TYPE[std] = tostring(row.id) end
end
-- the v2 state of a v3 API status: the guide writes OCPI's spelling (OUTOFORDER)
local function want_state(v3_status)
  return V2_STATE[v3_status:upper()] or "OTHER"
end

-- here-v2.md 5.3: the elements that repeat, so that JSON has an array for them (rule 2:
-- inside a wrapper; rule 4: plain arrays). A set of parents limits one to those parents:
-- `price.currency` is one string ("EUR" in HERE's JSON example) while `cash.currencies`
-- lists several; a station's `address.country` is one value while a roaming entry of the
-- Roamings resource lists its countries (`country` +, D21); a connector group has one
-- `connectorType` while the Connector Types resource lists them.
local LIST = {
  evStation = true, connector = true, connectorStatus = true, roaming = true, emaId = true,
  supplierEmaID = true, phone = true, website = true, pricing = true,
  regularOpeningHours = true, period = true, annualOpenings = true, type = true,
  pool = true, evse = true, Message = true,
  currency = { currencies = true },
  country = { roaming = true },
  connectorType = { ["ev:connectorTypesResult"] = true },
  powerFeedType = { ["ev:powerFeedTypesResult"] = true },
}
-- wrappers that hold one list, so that an empty one is {"<item>": []} in JSON
local WRAPS = { evStations = "evStation", connectors = "connector",
  connectorStatuses = "connectorStatus", types = "type", currencies = "currency",
  pools = "pool", evses = "evse" }

local function is_list(name, parent)
  local l = LIST[name]
  if l == true then return true end
  return l ~= nil and l[parent] == true
end

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

-- The JSON a v2 XML document stands for, by the mirroring rules and LIST: attributes
-- and children become properties, a listed element an array, an empty wrapper holds an
-- empty list, a leaf its text. An unlisted element must not repeat.
local function mirror(node)
  if #node.children == 0 and next(node.attrs) == nil then
    if WRAPS[node.name] then return { [WRAPS[node.name]] = {} } end
    return node.text
  end
  local o = {}
  for k, v in pairs(node.attrs) do
    if not k:match("^xmlns") then o[k] = v end
  end
  for _, c in ipairs(node.children) do
    local v = mirror(c)
    if is_list(c.name, node.name) then
      o[c.name] = o[c.name] or {}
      table.insert(o[c.name], v)
    else
      assert(o[c.name] == nil, "element <" .. c.name .. "> repeats in <" .. node.name ..
        "> but is not a list")
      o[c.name] = v
    end
  end
  return o
end

-- Asserts that a JSON value and the mirror of the XML answer are the same document:
-- the same keys, the same arrays (listed elements, and only those, are arrays), and
-- scalars that read the same (a JSON number equals the XML number, a boolean its word).
local function same_doc(json, xml, path, name)
  if type(json) == "table" then
    assert(type(xml) == "table", path .. ": JSON has a table, XML " .. tostring(xml))
    for k, v in pairs(json) do
      assert(type(k) == "string", path .. ": a JSON array where v2 has no list")
      local p = path .. "." .. k
      assert(xml[k] ~= nil, p .. ": missing in XML")
      if is_list(k, name) then
        assert(type(v) == "table" and (#v > 0 or next(v) == nil),
          p .. ": a v2 list that JSON does not write as an array")
        assert.are.equal(#v, #xml[k], p .. ": list lengths")
        for i = 1, #v do same_doc(v[i], xml[k][i], p .. "[" .. i .. "]", k) end
      else
        assert(not (type(v) == "table" and #v > 0), p .. ": an array in JSON, not a v2 list")
        same_doc(v, xml[k], p, k)
      end
    end
    for k in pairs(xml) do assert(json[k] ~= nil, path .. "." .. k .. ": missing in JSON") end
    return
  end
  assert(type(xml) == "string", path .. ": XML has an element where JSON has " .. tostring(json))
  if type(json) == "number" then
    assert(tonumber(xml) and math.abs(tonumber(xml) - json) <= 1e-9 * math.max(1, math.abs(json)),
      path .. ": " .. json .. " vs " .. xml)
  elseif type(json) == "boolean" then
    assert.are.equal(tostring(json), xml, path)
  else
    assert.are.equal(json, xml, path)
  end
end

-- A JSON document and a parsed XML one are the same document.
local function mirrors(json, node)
  same_doc(json, mirror(node), "$", node.name)
end

-- JSON and XML answers of one request: same status, and the same document.
local function assert_mirrors(json_res, xml_res, root)
  assert.are.equal(json_res.status, xml_res.status)
  local doc = parse_xml(xml_res.body)
  if root then assert.are.equal(root, doc.name) end
  mirrors(json_res.json, doc)
  return doc
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
    ep.stop_all()
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
    mirrors(res.json, doc)
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
        -- one connectorStatus per connector; the counts count each EVSE once (v3's
        -- connectorCount), so numberOfConnectors is the number of EVSEs listed
        local evse_ids, n = {}, 0
        for _, cs in ipairs(g.connectorStatuses.connectorStatus) do
          if not evse_ids[cs.cpoEvseId] then n = n + 1 end
          evse_ids[cs.cpoEvseId] = true
        end
        assert.are.equal(cp.numberOfConnectors, n)
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
      mirrors(json_res.json, doc)
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
      mirrors(res.json, parse_xml(x.body))
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
      mirrors(res.json, parse_xml(x.body))
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
      -- an empty page keeps HERE's wrapper (HerePy reads evStations to tell data from errors)
      local beyond = get(key(("/ev/stations.json?%s&offset=%d"):format(COLOGNE, total)))
      assert.are.same({ hasMore = false, count = 0, evStations = { evStation = {} } }, beyond.json)
      assert.truthy(beyond.body:find('"evStations":{"evStation":[]}', 1, true), beyond.body)
      local xbeyond = get(key(("/ev/stations.xml?%s&offset=%d"):format(COLOGNE, total)))
      assert.truthy(xbeyond.body:find("<evStations/>", 1, true), xbeyond.body)
      assert_mirrors(beyond, xbeyond, "ev:evStationsResult")
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
      local none = get(key("/ev/stations.json?" .. q .. "&connectortype=63")).json
      assert.are.same({ hasMore = false, count = 0, evStations = { evStation = {} } }, none)
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
      mirrors(res.json, doc)
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
      mirrors(res.json, parse_xml(x.body))
    end)
  end)

  describe("lookup lists", function()
    it("serves connector types and roamings", function()
      local ct = get(key("/ev/connectortypes.json")).json
      local by = {}
      for _, t in ipairs(ct.connectorType) do by[t.id] = t.name end
      assert.are.equal("IEC 62196-3 type 2 combo (Mennekes)", by["34"])
      local x = get(key("/ev/connectortypes.xml"))
      mirrors(ct, parse_xml(x.body))
      local r = get(key("/ev/roamings.json")).json
      assert.is_true(#r.roaming > 0)
      assert.is_string(r.roaming[1].partnerId)
      local rx = parse_xml(get(key("/ev/roamings.xml")).body)
      assert.are.equal("roamings", rx.name)
      mirrors(r, rx)
    end)

    it("serves power feed types, which HERE documents without their list", function()
      local res = get(key("/ev/powerfeedtypes.json"))
      assert.are.equal(200, res.status)
      local names = {}
      for _, t in ipairs(res.json.powerFeedType) do
        assert.is_string(t.id)
        names[#names + 1] = t.name
      end
      assert.are.same({ "AC single phase", "AC two phase", "AC split phase", "AC three phase",
        "DC" }, names)
      assert_mirrors(res, get(key("/ev/powerfeedtypes.xml")), "ev:powerFeedTypesResult")
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
    ep.stop_all()
  end)

  it("shows the migration guide's v2 state of the v3 status for every EVSE", function()
    local checked = 0
    for _ = 1, 20 do
      local v3a = request(emu, "/v3/locations/" .. SEED001 .. "?fields=evses&apiKey=k1").json
      local v2 = request(emu, "/ev/pools/" .. SEED001 .. ".json?apiKey=k1").json
      local bulk = request(emu, "/ev/evses/bulk.json?id=" .. SEED001 .. "&apiKey=k1").json
      local v3b = request(emu, "/v3/locations/" .. SEED001 .. "?fields=evses&apiKey=k1").json
      if cjson.encode(v3a.evses) == cjson.encode(v3b.evses) then -- same status step
        local want = {}
        for _, e in ipairs(v3a.evses) do
          want[e.uid] = want_state(e.status)
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

describe("evcp emulator, an oracle independent of the client", function()
  local function files_under(dir)
    local p = io.popen("find " .. ep.shell_quote(dir) .. " -type f -name '*.lua'")
    local list = {}
    for line in p:lines() do list[#list + 1] = line end
    p:close()
    return list
  end

  it("has no file that requires an evcp client module", function()
    local files = files_under(ep.root .. "emulator")
    files[#files + 1] = ep.root .. "bin/evcp-emulator"
    assert.is_true(#files > 10)
    local offenders = {}
    for _, path in ipairs(files) do
      local text = assert(read_all(path))
      -- require "evcp", require("evcp.x"), require 'evcp.x' ...
      for name in text:gmatch("require%s*%(?%s*[\"']([^\"']+)[\"']") do
        if name == "evcp" or name:match("^evcp%.") then
          offenders[#offenders + 1] = path .. ": " .. name
        end
      end
    end
    assert.are.same({}, offenders)
    -- and nginx looks for Lua modules in the emulator's directory only
    local launcher = read_all(ep.root .. "bin/evcp-emulator")
    local lpath = launcher:match('lua_package_path "([^"]*)"')
    assert.are.equal("$luadir/?.lua;;", lpath)
  end)

  it("answers v3 and v2 with every evcp module out of reach", function()
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write(([[
package.path = %q .. "emulator/lua/?.lua;" .. package.path
local searchers = package.searchers or package.loaders
table.insert(searchers, 1, function(name)
  if name == "evcp" or name:match("^evcp%%.") then error("the emulator asked for " .. name, 0) end
end)
local http = require("evcp_emulator.http")
http.init({ data = %q .. "spec/fixtures/emulator-mini-db.lua", status_interval = 0 })
local out = {}
for _, p in ipairs({ "/v3/locations/gen-01", "/ev/pools/gen-01.json", "/ev/pools/gen-01.xml",
  "/ev/evses/bulk.json", "/ev/connectortypes.xml", "/ev/powerfeedtypes.json",
  "/ev/roamings.json" }) do
  local q = "apiKey=demo-key" .. (p:find("bulk") and "&id=gen-01" or "")
  out[#out + 1] = (http.dispatch({ method = "GET", path = p, query = q }))
end
for name in pairs(package.loaded) do
  if name == "evcp" or name:match("^evcp%%.") then out[#out + 1] = "loaded " .. name end
end
io.write(table.concat(out, " "))
]]):format(ep.root, ep.root))
    f:close()
    local interp = jit and "luajit" or "lua5.4"
    local p = io.popen("env -u LD_PRELOAD " .. interp .. " " .. script .. " 2>&1")
    local got = p:read("*a")
    p:close()
    os.remove(script)
    assert.are.equal("200 200 200 200 200 200 200", got)
  end)

  it("holds the migration guide's tables, cell for cell", function()
    local own = dofile(ep.root .. "emulator/data/migration-tables.lua")
    assert.are.same(GUIDE, own)
  end)
end)

describe("evcp emulator, every v2 resource in JSON and in XML #slow", function()
  local emu, pool, station

  setup(function()
    emu = start("--status-interval 0 --api-key k1")
    local list = stations_of(request(emu, "/ev/stations.json?" .. BERLIN .. "&apiKey=k1").json)
    station, pool = list[1].id, list[1].poolId
  end)

  teardown(function()
    ep.stop_all()
  end)

  local function both(path_and_query)
    local base, q = path_and_query:match("^([^?]*)%??(.*)$")
    q = (q ~= "" and (q .. "&") or "") .. "apiKey=k1"
    return request(emu, "/ev/" .. base .. ".json?" .. q), request(emu, "/ev/" .. base .. ".xml?" .. q)
  end

  it("writes the same document both ways, by HERE's mirroring rules", function()
    local cases = {
      { "stations?" .. BERLIN, 200, "ev:evStationsResult" },
      { "stations?prox=50.94,6.96,20000&maxresults=1000", 200, "ev:evStationsResult" },
      { "stations?prox=47.6,-122.3,200000&maxresults=300", 200, "ev:evStationsResult" },
      { "stations?prox=51.5,-0.12,100000&maxresults=300", 200, "ev:evStationsResult" },
      { "stations?bbox=52.55,13.35;52.48,13.45", 200, "ev:evStationsResult" },
      { "stations?corridor=50.95,6.90;50.93,6.96;50.90,7.02&corridorwidth=2000", 200,
        "ev:evStationsResult" },
      { "stations?prox=0,0,1000", 200, "ev:evStationsResult" }, -- empty page
      { "stations/count?" .. BERLIN, 200, "ev:countResult" },
      { "stations/" .. station, 200, "ev:evStationsResult" },
      { "stations/bulk?id=" .. station, 200, "ev:evStationsResult" },
      { "pools/" .. pool, 200, "ev:evStationsResult" },
      { "pools/bulk?id=" .. pool .. "&id=" .. SEED001, 200, "ev:evStationsResult" },
      { "evses/bulk?id=" .. SEED001, 200, "ev:evsesResult" },
      { "evses/bulk?id=" .. pool .. "&id=" .. SEED001, 200, "ev:evsesResult" },
      { "connectortypes", 200, "ev:connectorTypesResult" },
      { "powerfeedtypes", 200, "ev:powerFeedTypesResult" },
      { "roamings", 200, "roamings" },
      { "stations?maxresults=5", 400, "error:Error" },
      { "stations/nope", 404, "error:Error" },
      { "evses/bulk?id=nope", 404, "error:Error" },
    }
    for _, c in ipairs(cases) do
      local j, x = both(c[1])
      assert.are.equal(c[2], j.status, c[1])
      assert.are.equal("application/json", j.headers["content-type"], c[1])
      assert.are.equal("application/xml", x.headers["content-type"], c[1])
      local ok, err = pcall(assert_mirrors, j, x, c[3])
      assert(ok, c[1] .. ": " .. tostring(err))
    end
  end)

  it("settles the review's three JSON/XML findings on the emulator's side", function()
    -- price.currency is one string (HERE's JSON example: "currency": "EUR")
    local j, x = both("stations?prox=50.94,6.96,20000&maxresults=1000")
    local priced = 0
    for _, s in ipairs(stations_of(j.json)) do
      for _, g in ipairs(s.connectors and s.connectors.connector or {}) do
        for _, p in ipairs(g.connectorDetails and g.connectorDetails.pricing or {}) do
          assert.is_string(p.price.currency)
          priced = priced + 1
        end
      end
    end
    assert.is_true(priced > 0)
    assert.truthy(x.body:find("<price><value>[%d.]+</value><currency>EUR</currency></price>"))
    -- evses bulk: pools.pool is a list (one element per pool, also for one pool)
    j, x = both("evses/bulk?id=" .. SEED001)
    assert.are.equal(1, #j.json.pools.pool)
    assert.truthy(x.body:find("<pools><pool id=", 1, true))
    -- roamings: each entry lists its countries (country +), also when there is one
    j = both("roamings")
    for _, r in ipairs(j.json.roaming) do
      assert.is_table(r.country)
      assert.is_true(#r.country >= 1)
    end
  end)
end)

describe("evcp emulator, v2 and v3 describe the same sites #slow", function()
  local emu

  setup(function()
    emu = start("--status-interval 0 --api-key k1")
  end)

  teardown(function()
    ep.stop_all()
  end)

  it("has the same EVSEs, connectors and statuses for every location (pool id = location id)",
    function()
      local db = ep.module("dataset").load()
      local ids = {}
      for i, rec in ipairs(db.locations) do ids[i] = rec.id:match("([^:]*)$") end
      local locations, evses, multi = 0, 0, 0
      -- plain comparisons (luassert per field would dominate the run); the first
      -- differences are reported at the end
      local problems = {}
      local function check(ok, what)
        if not ok and #problems < 20 then problems[#problems + 1] = what end
      end
      for first = 1, #ids, 100 do
        local batch = {}
        for i = first, math.min(#ids, first + 99) do batch[#batch + 1] = ids[i] end
        local v3 = request(emu, "/v3/locations?fields=evses,locationInfo&apiKey=k1&ids="
          .. table.concat(batch, ","))
        assert.are.equal(200, v3.status)
        local v3_by = {}
        for _, loc in ipairs(v3.json.items) do v3_by[loc.id:match("([^:]*)$")] = loc end
        local idq = "apiKey=k1&id=" .. table.concat(batch, "&id=")
        local bulk = request(emu, "/ev/evses/bulk.json?" .. idq)
        assert.are.equal(200, bulk.status)
        local pools = request(emu, "/ev/pools/bulk.json?" .. idq)
        assert.are.equal(200, pools.status)
        assert.are.equal(#batch, #bulk.json.pools.pool)
        for _, p in ipairs(bulk.json.pools.pool) do
          local loc = assert(v3_by[p.id], p.id)
          local v3_evses = loc.evses or {}
          local list = p.evses.evse
          check(#v3_evses == #list, p.id .. ": EVSE count")
          local uids = {}
          for i, e in ipairs(list) do
            local want = v3_evses[i] or { connectors = {} }
            local where = p.id .. " EVSE " .. tostring(e.cpoId)
            check(want.uid == e.cpoId, where .. ": uid " .. tostring(want.uid))
            check(uids[e.cpoId] == nil, where .. ": the same uid twice")
            uids[e.cpoId] = true
            check(want.status and want_state(want.status) == e.state, where .. ": state " .. e.state)
            check(#want.connectors == #e.connectors.connector, where .. ": connector count")
            if #want.connectors > 1 then multi = multi + 1 end
            for ci, c in ipairs(e.connectors.connector) do
              local wc = want.connectors[ci] or {}
              check(wc.id == c.cpoId, where .. ": connector id " .. tostring(c.cpoId))
              check((V2_TYPE[wc.standard] or "1") == c.typeId, where .. ": typeId " .. c.typeId)
              check(e.state == c.state, where .. ": connector state")
            end
            evses = evses + 1
          end
          locations = locations + 1
        end
        for _, s in ipairs(stations_of(pools.json)) do
          local loc = assert(v3_by[s.poolId], s.poolId)
          -- every v3 connector that has a v2 type id, by EVSE uid and connector id
          local status_of, typed, conn_of = {}, {}, {}
          for _, e in ipairs(loc.evses or {}) do
            status_of[e.uid] = e.status
            for _, c in ipairs(e.connectors) do
              if V2_TYPE[c.standard] then
                typed[e.uid] = true
                conn_of[e.uid .. " / " .. c.id] = c
              end
            end
          end
          local seen, listed, group_keys, total = {}, {}, {}, 0
          local brand = loc.suboperator or loc.operator
          for _, g in ipairs(s.connectors and s.connectors.connector or {}) do
            local in_group, evse_count, available = {}, 0, 0
            local kw = g.maxPowerLevel
            local where = s.poolId .. " group " .. g.connectorType.id .. "/" .. tostring(kw)
              .. (g.fixedCable and " cable" or " socket")
            -- one group per type, power and cable/socket
            local gkey = g.connectorType.id .. "/" .. tostring(kw) .. "/" .. tostring(g.fixedCable)
            check(group_keys[gkey] == nil, where .. ": two groups of one type, power and format")
            group_keys[gkey] = true
            for _, cs in ipairs(g.connectorStatuses.connectorStatus) do
              local ckey = tostring(cs.cpoEvseId) .. " / " .. tostring(cs.cpoConnectorId)
              local c = conn_of[ckey]
              check(c ~= nil, where .. ": connector " .. ckey .. " is not a v3 connector")
              check(listed[ckey] == nil, where .. ": connector " .. ckey .. " listed twice")
              listed[ckey] = true
              if c then
                check(V2_TYPE[c.standard] == g.connectorType.id, where .. ": type of " .. ckey)
                check(c.maxPower == nil and kw == nil or c.maxPower and kw and math.abs(c.maxPower - kw * 1000) < 0.5,
                  where .. ": power of " .. ckey)
                check((c.format == "cable") == g.fixedCable, where .. ": fixedCable of " .. ckey
                  .. " (" .. tostring(c.format) .. ")")
              end
              seen[cs.cpoEvseId] = true
              local st = status_of[cs.cpoEvseId]
              check(st and want_state(st) == cs.state, where .. ": state of " .. cs.cpoEvseId)
              if not in_group[cs.cpoEvseId] then
                in_group[cs.cpoEvseId] = true
                evse_count = evse_count + 1
                if cs.state == "AVAILABLE" then available = available + 1 end
              end
            end
            -- the counts count each EVSE of the group once, as v3's connectorCount does
            check(evse_count == g.chargingPoint.numberOfConnectors, where .. ": numberOfConnectors")
            check(available == g.chargingPoint.numberOfAvailable, where .. ": numberOfAvailable")
            total = total + g.chargingPoint.numberOfConnectors
            -- supplierUID is HERE's partner id of the operator (or suboperator), not cpoId
            check(brand.partnerId == g.supplierUID, where .. ": supplierUID")
          end
          for uid in pairs(typed) do check(seen[uid], s.poolId .. ": EVSE " .. uid .. " missing") end
          for uid in pairs(seen) do check(typed[uid], s.poolId .. ": EVSE " .. uid .. " unknown") end
          for ckey in pairs(conn_of) do
            check(listed[ckey], s.poolId .. ": connector " .. ckey .. " has no connectorStatus")
          end
          check(total == s.totalNumberOfConnectors, s.poolId .. ": totalNumberOfConnectors")
          -- cpoId is the CPO's own location id (v3 cpoLocationId), not a partner id
          check(s.cpoId == loc.cpoLocationId, s.poolId .. ": cpoId")
        end
      end
      assert.are.same({}, problems)
      assert.are.equal(#ids, locations)
      assert.is_true(multi > 0)
      print(("\n[35-emulator_v2] %d locations, %d EVSEs (%d with several connectors) agree in v2 and v3")
        :format(locations, evses, multi))
    end)
end)

describe("evcp emulator, v2 shapes against HERE's recorded responses #slow", function()
  -- the recorded v2 answers (HerePy's fixtures) hold the RWE station that
  -- emulator/data/locations/herepy-berlin.json was written from
  local DIR
  for _, d in ipairs({ ep.root .. "../shared/data/here-v2-recorded/",
    ep.root .. "../../shared/data/here-v2-recorded/" }) do
    if read_all(d .. "ev_charging_stations_circular.json") then DIR = DIR or d end
  end
  local emu

  setup(function()
    if DIR then emu = start("--status-interval 0 --api-key k1") end
  end)

  teardown(function()
    ep.stop_all()
  end)

  -- every key both documents have holds the same JSON type (and arrays stay arrays)
  local function same_types(rec, mine, path, out)
    if type(rec) ~= type(mine) then
      out[#out + 1] = path .. ": " .. type(rec) .. " recorded, " .. type(mine) .. " here"
      return
    end
    if type(rec) ~= "table" then return end
    if (#rec > 0) ~= (#mine > 0) and next(rec) and next(mine) then
      out[#out + 1] = path .. ": array and object"
    end
    for k, v in pairs(rec) do
      if mine[k] ~= nil then same_types(v, mine[k], path .. "." .. tostring(k), out) end
    end
  end

  local function rwe(doc)
    for _, s in ipairs(stations_of(doc)) do
      if s.name == "RWE Effizienz GmbH" then return s end
    end
  end

  local run = DIR and it or pending
  run("writes the recorded search and details answers' keys with their JSON types", function()
    local circular = cjson.decode(read_all(DIR .. "ev_charging_stations_circular.json"))
    local details = cjson.decode(read_all(DIR .. "ev_charging_station_details.json"))
    local search = request(emu, "/ev/stations.json?prox=52.516667,13.383333,5000&apiKey=k1").json
    local mine = assert(rwe(search), "the RWE station is in the Berlin search")
    local problems = {}
    same_types(circular, search, "$", problems)
    same_types(circular.evStations.evStation[1], mine, "station", problems)
    same_types(details.evStations.evStation[1], mine, "details", problems)
    assert.are.same({}, problems)
    -- the facts the hand-written location took from the recording
    local r = circular.evStations.evStation[1]
    assert.are.equal(r.position.latitude, mine.position.latitude)
    assert.are.equal(r.position.longitude, mine.position.longitude)
    assert.are.equal(r.address.street, mine.address.street)
    assert.are.equal(r.address.postalCode, mine.address.postalCode)
    assert.are.equal(r.totalNumberOfConnectors, mine.totalNumberOfConnectors)
    assert.are.equal(r.connectors.connector[1].connectorType.id, mine.connectors.connector[1].connectorType.id)
    -- details by id: hasMore false and no count, as recorded
    local d = request(emu, "/ev/pools/" .. mine.poolId .. ".json?apiKey=k1").json
    assert.is_false(d.hasMore)
    assert.is_nil(d.count)
    assert.is_nil(details.count)
  end)
end)

describe("evcp emulator, v2 connector groups of one hand-made site", function()
  -- One location whose expected v2 groups are written out by hand below:
  --   E1: a Type 2 socket and a Type 2 cable, both 7.4 kW two-phase (ac2Phase);
  --   E2: two NEMA 14-50 sockets, 9.6 kW split phase (ac2PhaseSplit), charging;
  --   E3: a Type 2 socket 22 kW three-phase; E4: a Type 2 socket 3.7 kW single phase.
  -- v2 ids from the migration guide: IEC_62196_T2 -> 31, NEMA_14_50 -> 51. The power
  -- feed type names and ids are those docs/EMULATOR.md documents for /ev/powerfeedtypes.
  local POOL = "two-phase-site"
  local emu, data

  setup(function()
    data = os.tmpname() .. ".lua"
    local f = assert(io.open(data, "w"))
    f:write([[
local function c(id, standard, format, pt, v, a, p)
  return { id = id, standard = standard, format = format, powerType = pt,
    maxVoltage = v, maxCurrent = a, maxPower = p }
end
local function e(uid, status, conns)
  return { uid = uid, status = status, modified = "2025-03-01T12:00:00Z", connectors = conns,
    id = "here:evcp:evse:" .. uid }
end
local loc = {
  id = "here:evcp:charginglocation:two-phase-site",
  location = { lat = 40.5, lng = -100.5 }, name = "Two phase",
  operator = { name = "Op", partnerId = "11111111-2222-3333-4444-555555555555" },
  evses = {
    e("E1", "available", { c("E1-a", "IEC_62196_T2", "socket", "ac2Phase", 230, 16, 7400),
      c("E1-b", "IEC_62196_T2", "cable", "ac2Phase", 230, 16, 7400) }),
    e("E2", "charging", { c("E2-a", "NEMA_14_50", "socket", "ac2PhaseSplit", 120, 40, 9600),
      c("E2-b", "NEMA_14_50", "socket", "ac2PhaseSplit", 120, 40, 9600) }),
    e("E3", "available", { c("E3-a", "IEC_62196_T2", "socket", "ac3Phase", 230, 32, 22000) }),
    e("E4", "available", { c("E4-a", "IEC_62196_T2", "socket", "ac1Phase", 230, 16, 3700) }),
  },
}
return { locations = { loc }, by_content_id = { ["two-phase-site"] = loc },
  countries = { { countryCode = "USA" } } }
]])
    f:close()
    emu = start("--data " .. ep.shell_quote(data) .. " --status-interval 0 --api-key k1")
  end)

  teardown(function()
    ep.stop_all()
    if data then os.remove(data) end
  end)

  -- the groups of the site, by "type/kW/cable|socket"
  local function groups()
    local res = request(emu, "/ev/pools/" .. POOL .. ".json?apiKey=k1")
    assert.are.equal(200, res.status)
    local st = stations_of(res.json)[1]
    local by, order = {}, {}
    for _, g in ipairs(st.connectors.connector) do
      local k = ("%s/%g/%s"):format(g.connectorType.id, g.maxPowerLevel,
        g.fixedCable and "cable" or "socket")
      assert.is_nil(by[k], k .. " twice")
      by[k] = g
      order[#order + 1] = k
    end
    return by, order, st, res
  end

  local function statuses(g)
    local out = {}
    for _, cs in ipairs(g.connectorStatuses.connectorStatus) do
      out[#out + 1] = cs.cpoEvseId .. ":" .. cs.cpoConnectorId .. ":" .. cs.state
    end
    return out
  end

  it("lists one connectorStatus per connector, and counts each EVSE once", function()
    local by, _, st = groups()
    local g = assert(by["51/9.6/socket"], "the NEMA 14-50 group")
    assert.are.same({ "E2:E2-a:OCCUPIED", "E2:E2-b:OCCUPIED" }, statuses(g))
    assert.are.equal(1, g.chargingPoint.numberOfConnectors)
    assert.are.equal(0, g.chargingPoint.numberOfAvailable)
    assert.are.equal(1, g.chargingPoint.numberOfInUse)
    -- five groups, one EVSE each
    assert.are.equal(5, st.totalNumberOfConnectors)
  end)

  it("never mixes cables and sockets in one group", function()
    local by, order = groups()
    assert.are.same({ "31/3.7/socket", "31/7.4/socket", "31/7.4/cable", "31/22/socket",
      "51/9.6/socket" }, order)
    assert.is_false(by["31/7.4/socket"].fixedCable)
    assert.are.same({ "E1:E1-a:AVAILABLE" }, statuses(by["31/7.4/socket"]))
    assert.is_true(by["31/7.4/cable"].fixedCable)
    assert.are.same({ "E1:E1-b:AVAILABLE" }, statuses(by["31/7.4/cable"]))
    for _, k in ipairs({ "31/7.4/socket", "31/7.4/cable" }) do
      assert.are.equal(1, by[k].chargingPoint.numberOfConnectors)
      assert.are.equal(1, by[k].chargingPoint.numberOfAvailable)
    end
  end)

  it("writes two-phase AC as 2 phases and names the kind in powerFeedType", function()
    local _, _, st = groups()
    local want = {
      ["31/3.7"] = { 1, nil }, ["31/22"] = { 3, nil },
      ["31/7.4"] = { 2, { name = "AC two phase", id = "2" } },
      ["51/9.6"] = { 2, { name = "AC split phase", id = "3" } },
    }
    local feeds = {}
    for _, t in ipairs(request(emu, "/ev/powerfeedtypes.json?apiKey=k1").json.powerFeedType) do
      feeds[t.id] = t.name
    end
    local seen = {}
    for _, g in ipairs(st.connectors.connector) do
      local k = ("%s/%g"):format(g.connectorType.id, g.maxPowerLevel)
      local w = assert(want[k], k)
      seen[k] = true
      assert.are.equal(w[1], g.chargingPoint.phases, k)
      assert.truthy(g.chargeCapacity:find(", " .. w[1] .. "-phase at max ", 1, true), k .. ": " .. g.chargeCapacity)
      assert.are.same(w[2], g.powerFeedType, k)
      if w[2] then assert.are.equal(feeds[w[2].id], w[2].name, k) end
    end
    for k in pairs(want) do assert.is_true(seen[k], k) end
  end)

  it("answers the same in XML", function()
    local _, _, _, res = groups()
    assert_mirrors(res, request(emu, "/ev/pools/" .. POOL .. ".xml?apiKey=k1"), "ev:evStationsResult")
  end)
end)
