-- v2 bodies (JSON and XML) become the same Location/Evse/Connector objects.
local evcp = require("evcp")
local h = require("helper")

local JSON = h.fixture("here-v2/stations-prox.json")
local XML = h.fixture("here-v2/stations-prox.xml")

local function summary(loc)
  local evses = {}
  for evse in loc:evses() do
    local cs = {}
    for c in evse:connectors() do
      cs[#cs + 1] = { type(c.standard), type(c.format), type(c.powerType), type(c.maxPower), type(c.id) }
    end
    evses[#evses + 1] = { type(evse.uid), type(evse.status), cs }
  end
  return { type(loc.id), type(loc.name), type(loc.location.lat), type(loc.address), type(loc.v2), evses[1] }
end

describe("evcp.v2.parse", function()
  it("turns the seed's JSON example into Locations", function()
    local res = assert(evcp.v2.parse(JSON))
    assert.is_false(res.hasMore)
    assert.equal(1, res.count)
    local loc = res.items[1]
    assert.equal("here:evcp:charginglocation:246ued1sw0v2m-aGVyZS1ldjplY29tb3ZlbWVudDoxNTUyMzM5Nzc0", loc.id)
    assert.equal("Recharge", loc.name)
    assert.equal(64.985063, loc.location.lat)
    assert.equal("FIN", loc.address.countryCode)
    local n = 0
    for evse in loc:evses() do
      n = n + 1
      for c in evse:connectors() do
        assert.equal("IEC_62196_T2_COMBO", c.standard)
        assert.equal(300000, c.maxPower)
        assert.equal("dc", c.powerType)
        assert.equal("cable", c.format)
      end
    end
    assert.equal(4, n)
  end)

  it("keeps the whole v2 station as loc.v2", function()
    local loc = assert(evcp.v2.parse(JSON)).items[1]
    h.assert_same(h.decode(JSON).evStations.evStation[1], loc.v2)
    h.assert_same(h.decode(JSON).evStations.evStation[1], loc:totable().v2)
    assert.equal("1000-1000VDC, at max 300A", loc.v2.connectors.connector[1].chargeCapacity)
  end)

  it("gives the XML example the same shape of objects as the JSON one", function()
    local jl = assert(evcp.v2.parse(JSON)).items[1]
    local xl = assert(evcp.v2.parse(XML, "xml")).items[1]
    assert.same(summary(jl), summary(xl))
    assert.equal("PlugIT", xl.name)
    for evse in xl:evses() do
      assert.equal("available", evse.status)
      for c in evse:connectors() do
        assert.equal("IEC_62196_T2", c.standard)
        assert.equal(22000, c.maxPower)
        assert.equal("ac3Phase", c.powerType)
      end
    end
  end)

  it("maps v2 states to v3 statuses", function()
    local loc = assert(evcp.v2.parse(JSON)).items[1]
    local seen = {}
    for evse in loc:evses() do seen[evse.status] = (seen[evse.status] or 0) + 1 end
    assert.same({ available = 3, charging = 1 }, seen)
  end)

  it("returns decode errors for bad bodies and raises on misuse", function()
    for _, case in ipairs({ { "{", "json" }, { "[]", "json" }, { "<r>", "xml" },
      { '<!DOCTYPE r [<!ENTITY a "b">]><r>&a;</r>', "xml" },
      { '{"evStations":{"evStation":[{"id":"x"}]}}', "json" } }) do
      local v, err = evcp.v2.parse(case[1], case[2])
      assert.is_nil(v)
      assert.equal("decode", err.kind)
    end
    assert.has_error(function() evcp.v2.parse(1) end)
    assert.has_error(function() evcp.v2.parse("{}", "yaml") end)
  end)
end)

describe("client.v2 request checks", function()
  local c = evcp.new({ base_url = "http://127.0.0.1:9", api_key = "k" })
  local v2 = c.v2
  local cases = {
    { "stations", {}, "need exactly one of 'prox', 'bbox' and 'corridor' (got 0)" },
    { "stations", { prox = { 1, 2, 3 }, bbox = { 1, 2, 0, 3 } }, "(got 2)" },
    { "stations", { prox = { 91, 13, 5000 } }, "option 'prox' latitude" },
    { "stations", { prox = { 52, 181, 5000 } }, "option 'prox' longitude" },
    { "stations", { prox = { 52, 13, 200001 } }, "200 km" },
    { "stations", { prox = { 52, 13, 1.5 } }, "radius must be an integer" },
    { "stations", { prox = "52,13" }, "option 'prox' must be" },
    { "stations", { bbox = { 50, 13, 51, 14 } }, "must not be south" },
    { "stations", { bbox = { 1, 2, 3 } }, "option 'bbox' must be" },
    { "stations", { corridor = { { 52, 13 } } }, "at least 2 points" },
    { "stations", { corridor = { { 52, 13 }, { 52 } } }, "option 'corridor'[2]" },
    { "stations", { prox = { 52, 13, 5 }, corridorwidth = 5 }, "needs option 'corridor'" },
    { "stations", { prox = { 52, 13, 5 }, connectortype = { "x" } }, "option 'connectortype'[1]" },
    { "stations", { prox = { 52, 13, 5 }, maxresults = 0 }, "option 'maxresults'" },
    { "stations", { prox = { 52, 13, 5 }, offset = -1 }, "option 'offset'" },
    { "stations", { prox = { 52, 13, 5 }, format = "csv" }, "option 'format'" },
    { "stations", { prox = { 52, 13, 5 }, bogus = 1 }, "option 'bogus' is not known" },
    { "count", { prox = { 52, 13, 5 }, connectortype = "31" }, "option 'connectortype' is not known" },
    { "station", nil, "argument #1 (id)" },
    { "stations_bulk", {}, "at least one id" },
    { "pools", { 1 }, "ids[1] must be a string" },
    { "evses", nil, "argument #1 (ids)" },
  }
  for i, case in ipairs(cases) do
    it(case[1] .. " raises naming the problem (" .. i .. ")", function()
      local ok, msg = pcall(v2[case[1]], v2, case[2])
      assert.is_false(ok)
      assert.matches(case[1] .. ": ", tostring(msg), 1, true)
      assert.matches(case[3], tostring(msg), 1, true)
    end)
  end

  it("sends well-formed requests (and reports the network failure)", function()
    local v, err = v2:stations({ prox = { 52.516667, 13.383333, 5000 }, connectortype = { 31, 34 } })
    assert.is_nil(v)
    assert.equal("network", err.kind)
    -- coordinates exactly as given (7 significant digits would send 52.51667)
    assert.matches("/ev/stations.json?prox=52.516667,13.383333,5000&connectortype=31,34", err.url, 1, true)
    v, err = v2:count({ corridor = { { 52.5, 13.4 }, { 52.1, 11.6 } }, corridorwidth = 2000, format = "xml" })
    assert.is_nil(v)
    assert.equal("network", err.kind)
    assert.matches("/ev/stations/count.xml?corridor=52.5,13.4;52.1,11.6&corridorwidth=2000", err.url, 1, true)
    local it = v2:each_station({ bbox = { 52.6, 13.2, 52.4, 13.5 } })
    local first, ferr = it()
    assert.is_false(first) -- false, not nil: a for loop sees the failure
    assert.equal("network", ferr.kind)
    assert.is_nil(it())
  end)

  it("goes to HERE's v2 host by default and closes with its client", function()
    local d = evcp.new({ api_key = "k" })
    assert.matches("evcp.V2 of evcp.Client", tostring(d.v2), 1, true)
    d:close()
    assert.has_error(function() d.v2:stations({ prox = { 1, 2, 3 } }) end)
  end)
end)

-- Issue 7 §1 and §3: the station conversion (evcp.v2.station) on fixtures whose
-- expected values are written out here (spec/fixtures/v2/README.md).
describe("v2 station conversion", function()
  local MULTI_JSON = h.fixture("v2/multi.json")
  local MULTI_XML = h.fixture("v2/multi.xml")
  local RED = { "IEC_60309_2_THREE_16", "IEC_60309_2_THREE_32", "IEC_60309_2_THREE_64" }

  local function project(loc)
    local t = loc:totable()
    local evses = {}
    for i, e in ipairs(t.evses or {}) do
      local cs = {}
      for j, c in ipairs(e.connectors) do
        cs[j] = { id = c.id, standard = c.standard, standards = c.standards, v2TypeId = c.v2TypeId,
          powerType = c.powerType, maxVoltage = c.maxVoltage, maxCurrent = c.maxCurrent,
          maxPower = c.maxPower, format = c.format }
      end
      evses[i] = { uid = e.uid, status = e.status, evseId = e.evseId, physicalReference = e.physicalReference,
        connectors = cs }
    end
    local groups = {}
    for i, g in ipairs(t.connectorGroups or {}) do
      groups[i] = { standard = g.standard, standards = g.standards, v2TypeId = g.v2TypeId, maxPower = g.maxPower,
        connectorCount = g.connectorCount, availableConnectorCount = g.availableConnectorCount,
        connectors = g.connectors }
    end
    return { id = t.id, operator = t.operator, cpoLocationId = t.cpoLocationId, evses = evses, groups = groups }
  end

  local WANT = {
    id = "here:evcp:charginglocation:evcp0-c3RhdGlvbi1tdWx0aQ",
    operator = { name = "Sub Brand", partnerId = "partner-0001" },
    cpoLocationId = "CPO-LOC-17",
    evses = {
      { uid = "E1", status = "charging", evseId = "DE*ABC*E1", connectors = {
        { id = "E1-chademo", standard = "CHADEMO", standards = { "CHADEMO" }, v2TypeId = "29", powerType = "dc",
          maxVoltage = 500, maxCurrent = 125, maxPower = 50000, format = "cable" },
        { id = "E1-ccs", standard = "IEC_62196_T2_COMBO", standards = { "IEC_62196_T2_COMBO" }, v2TypeId = "34",
          powerType = "dc", maxVoltage = 920, maxCurrent = 200, maxPower = 150000, format = "cable" } } },
      { uid = "E2", status = "available", evseId = "DE*ABC*E2", physicalReference = "2", connectors = {
        { id = "E2-ccs", standard = "IEC_62196_T2_COMBO", standards = { "IEC_62196_T2_COMBO" }, v2TypeId = "34",
          powerType = "dc", maxVoltage = 920, maxCurrent = 200, maxPower = 150000, format = "cable" } } },
      -- 480 V line to line is 277 V line to neutral
      { uid = "E3", status = "outOfOrder", connectors = {
        { id = "E3-red", standards = RED, v2TypeId = "36", powerType = "ac3Phase", maxVoltage = 277,
          maxCurrent = 32, maxPower = 22080, format = "socket" } } },
      { uid = "E4", status = "available", connectors = {
        { id = "E4-new", v2TypeId = "99", powerType = "ac1Phase", maxVoltage = 230, maxCurrent = 32,
          maxPower = 7400 } } },
    },
    groups = {
      { standard = "CHADEMO", standards = { "CHADEMO" }, v2TypeId = "29", maxPower = 50000, connectorCount = 1,
        availableConnectorCount = 0, connectors = { { evseUid = "E1", connectorIds = { "E1-chademo" } } } },
      { standard = "IEC_62196_T2_COMBO", standards = { "IEC_62196_T2_COMBO" }, v2TypeId = "34", maxPower = 150000,
        connectorCount = 2, availableConnectorCount = 1, connectors = {
          { evseUid = "E1", connectorIds = { "E1-ccs" } }, { evseUid = "E2", connectorIds = { "E2-ccs" } } } },
      { standards = RED, v2TypeId = "36", maxPower = 22080, connectorCount = 1, availableConnectorCount = 0,
        connectors = { { evseUid = "E3", connectorIds = { "E3-red" } } } },
      { v2TypeId = "99", maxPower = 7400, connectorCount = 1, availableConnectorCount = 1,
        connectors = { { evseUid = "E4", connectorIds = { "E4-new" } } } },
      { v2TypeId = "26", maxPower = 11000, connectorCount = 1 },
    },
  }

  it("makes one EVSE per cpoEvseId, with one connector per item, in JSON and XML alike", function()
    for _, case in ipairs({ { MULTI_JSON, "json" }, { MULTI_XML, "xml" } }) do
      local res = assert(evcp.v2.parse(case[1], case[2]))
      h.assert_same(WANT, project(res.items[1]))
      local n = 0
      for _ in res.items[1]:evses() do n = n + 1 end
      assert.equal(4, n)
    end
  end)

  it("takes operator.partnerId from supplierUID and cpoLocationId from cpoId (HERE's examples)", function()
    local j = assert(evcp.v2.parse(JSON)).items[1]
    assert.same({ name = "Recharge", partnerId = "1f7ef60a-cca5-11ed-8dd9-42010aa40002" }, j:totable().operator)
    assert.equal("0476045c-f356-11ed-a976-42010aa40fc0", j.cpoLocationId)
    local x = assert(evcp.v2.parse(XML, "xml")).items[1]
    assert.same({ name = "PlugIT", partnerId = "23e7f64c-cca5-11ed-9ad5-42010aa40002" }, x:totable().operator)
    assert.equal("54ef0904-10db-11ee-8aa5-42010aa40fc0", x.cpoLocationId)
  end)

  it("keeps line-to-neutral 3-phase figures (HERE's current example: 230 V at 22 kW, 32 A)", function()
    local x = assert(evcp.v2.parse(XML, "xml")).items[1]
    for evse in x:evses() do
      for c in evse:connectors() do
        assert.equal(230, c.maxVoltage)
        assert.equal(32, c.maxCurrent)
      end
    end
  end)

  it("reads a recorded HERE answer without connectorStatuses as counts only", function()
    local res = assert(evcp.v2.parse(h.fixture("here-v2/recorded-station-details.json")))
    local t = res.items[1]:totable()
    assert.is_nil(t.evses)
    h.assert_same({ { standard = "IEC_62196_T2", standards = { "IEC_62196_T2" }, v2TypeId = "31", maxPower = 22080,
      connectorCount = 2, availableConnectorCount = 2 } }, t.connectorGroups)
    assert.same({ name = "RWE eRoaming" }, t.operator)
  end)

  local function station_json(group)
    return '{"hasMore":false,"evStations":{"evStation":[{"id":"s","position":{"latitude":1,"longitude":2},'
      .. '"connectors":{"connector":[' .. group .. ']}}]}}'
  end
  local function station_xml(group)
    return '<r><hasMore>false</hasMore><evStations><evStation id="s"><position><latitude>1</latitude>'
      .. '<longitude>2</longitude></position><connectors><connector>' .. group
      .. '</connector></connectors></evStation></evStations></r>'
  end

  -- CPU seconds of f(), run n times; compared with a normal input's time so
  -- that slow hosts (valgrind, ASan) do not matter, only the growth.
  local function cpu(n, f)
    collectgarbage()
    local t0 = os.clock()
    for _ = 1, n do f() end
    return os.clock() - t0
  end

  it("never allocates from numberOfConnectors (a million claimed, none listed)", function()
    local function bodies(count)
      return {
        { station_json('{"connectorType":{"id":"31"},"chargingPoint":{"numberOfConnectors":' .. count .. '}}'),
          "json" },
        { station_xml('<connectorType><id>31</id></connectorType><chargingPoint>'
          .. '<numberOfConnectors>' .. count .. '</numberOfConnectors></chargingPoint>'), "xml" },
      }
    end
    local normal = bodies(2)
    for i, b in ipairs(bodies(1000000)) do
      assert(#b[1] < 400)
      collectgarbage()
      local before = collectgarbage("count")
      local t = assert(evcp.v2.parse(b[1], b[2])).items[1]:totable()
      assert.is_true(collectgarbage("count") - before < 1024, "grew by " .. (collectgarbage("count") - before) .. " KB")
      assert.is_nil(t.evses)
      assert.equal(1000000, t.connectorGroups[1].connectorCount)
      local slow = cpu(5, function() evcp.v2.parse(b[1], b[2]) end)
      local base = cpu(5, function() evcp.v2.parse(normal[i][1], normal[i][2]) end)
      assert.is_true(slow < 10 * base + 0.05, ("took %.4f s against %.4f s"):format(slow, base))
    end
  end)

  it("reads long or odd electrical texts in linear time, ignoring what is too long", function()
    local texts = { ("9"):rep(40000), ("1-"):rep(20000), ("9"):rep(20000) .. "V", ("1 "):rep(20000) .. "A",
      ("V"):rep(40000), "380-480VAC, 3-phase at max. " .. ("3"):rep(40000) .. " A",
      ("9"):rep(250) .. "V", ("1-"):rep(120) .. "5A", ("1 "):rep(125) .. "A" }
    local function body(s)
      return station_json('{"connectorType":{"id":"31"},"chargeCapacity":"' .. s .. '","connectorStatuses":'
        .. '{"connectorStatus":[{"cpoEvseId":"e","state":"AVAILABLE"}]},"chargingPoint":{"voltsRange":"'
        .. s .. '","ampsRange":"' .. s .. '"}}')
    end
    local normal = body("230-230VAC, 3-phase at max 32A")
    local slow = cpu(1, function()
      for _, s in ipairs(texts) do
        local res = assert(evcp.v2.parse(body(s)))
        for evse in res.items[1]:evses() do
          for c in evse:connectors() do
            assert.is_nil(c.maxVoltage)
            if #s > 256 then assert.is_nil(c.maxCurrent) end
          end
        end
      end
    end)
    local base = cpu(#texts, function() evcp.v2.parse(normal) end)
    -- the long bodies cost their decoding (40 KB of JSON), not a quadratic scan
    assert.is_true(slow < 40 * base + 0.1, ("took %.4f s against %.4f s"):format(slow, base))
  end)

  it("derives the XML schema from the facts, parent by parent", function()
    local schema = require("evcp.v2.schema")
    local X = schema.XML
    assert.same({ currencies = true }, X.arrays.currency)
    assert.same({ roaming = true }, X.arrays.country)
    assert.same({ pools = true }, X.arrays.pool)
    assert.same({ price = true }, X.numbers.value)
    assert.is_true(X.arrays.evStation)
    assert.is_true(X.booleans.hasMore)
    -- "ROOT" stands for the document's root element, whatever its name
    -- (the compiled schema knows it)
    assert.same({ ROOT = true }, X.arrays.connectorType)
    -- every fact is in the schema, and nothing else
    local n = 0
    for _, f in ipairs(schema.facts()) do
      local set = f.kind == "list" and X.arrays or f.kind == "boolean" and X.booleans or X.numbers
      assert.is_truthy(set[f.name], f.name)
      n = n + 1
    end
    local m = 0
    for _, set in ipairs({ X.arrays, X.booleans, X.numbers }) do
      for _ in pairs(set) do m = m + 1 end
    end
    assert.equal(n, m)
    -- the integers are numbers that are also made integers
    for name in pairs(X.integers or {}) do assert.is_truthy(X.numbers[name], name) end
  end)

  it("gives XML the JSON's price.currency (a string) and normalizes single items and integers", function()
    local x = assert(evcp.v2.parse(MULTI_XML, "xml")).items[1]
    assert.equal("EUR", x.v2.connectors.connector[1].connectorDetails.pricing[1].price.currency)
    local schema = require("evcp.v2.schema")
    local doc = assert(schema.normalize(h.decode(
      '{"count":2.0,"evStations":{"evStation":{"id":"a","connectors":{"connector":{"connectorDetails":'
      .. '{"pricing":{"price":{"value":"0.5","currency":"EUR"}}},"fixedCable":"true"}}}}}')))
    assert.equal("a", doc.evStations.evStation[1].id)
    local g = doc.evStations.evStation[1].connectors.connector[1]
    assert.same({ value = 0.5, currency = "EUR" }, g.connectorDetails.pricing[1].price)
    assert.is_true(g.fixedCable)
    if math.type then assert.equal("integer", math.type(doc.count)) end
    assert.has_error(function() schema.normalize("x") end)
  end)
end)

describe("v2 station conversion on hostile values", function()
  local cjson = require("cjson")
  local ODD = { 0, -1, 1.5, 1e300, -1e300, "x", "", true, false, {}, { 1, 2 }, { a = 1 }, ("9"):rep(300), "31" }
  local function base()
    return { id = "s", position = { latitude = 1, longitude = 2 }, connectors = { connector = { {
      connectorType = { id = "31" }, maxPowerLevel = 22, chargingPoint = { numberOfConnectors = 2 },
      connectorStatuses = { connectorStatus = { { cpoEvseId = "e", state = "AVAILABLE" } } } } } } }
  end
  local function parse(st)
    return evcp.v2.parse(cjson.encode({ hasMore = false, evStations = { evStation = { st } } }))
  end
  local SETTERS = {}
  for _, f in ipairs({ "id", "poolId", "cpoId", "brand", "name", "address", "entrancePosition", "connectors",
    "position" }) do
    SETTERS[#SETTERS + 1] = function(st, v) st[f] = v end
  end
  for _, f in ipairs({ "connectorType", "chargeCapacity", "maxPowerLevel", "fixedCable", "chargingPoint",
    "connectorStatuses", "supplierUID", "supplierName", "lastUpdateTimestamp" }) do
    SETTERS[#SETTERS + 1] = function(st, v) st.connectors.connector[1][f] = v end
  end
  for _, f in ipairs({ "cpoEvseId", "cpoConnectorId", "state", "cpoEvseEMI3Id", "physicalReference" }) do
    SETTERS[#SETTERS + 1] = function(st, v) st.connectors.connector[1].connectorStatuses.connectorStatus[1][f] = v end
  end
  for _, f in ipairs({ "numberOfConnectors", "numberOfAvailable", "phases", "chargeMode", "voltsRange",
    "ampsRange" }) do
    SETTERS[#SETTERS + 1] = function(st, v) st.connectors.connector[1].chargingPoint[f] = v end
  end
  SETTERS[#SETTERS + 1] = function(st, v) st.connectors.connector[1].connectorType.id = v end
  SETTERS[#SETTERS + 1] = function(st, v) st.connectors.connector = v end
  SETTERS[#SETTERS + 1] = function(st, v) st.connectors.connector[1].connectorStatuses.connectorStatus = v end

  it("never raises: a Location or a decode error, and the Location writes back as JSON", function()
    local locations = 0
    for _, v in ipairs(ODD) do
      for _, set in ipairs(SETTERS) do
        local st = base()
        set(st, v)
        local res, err = parse(st)
        if res then
          locations = locations + 1
          assert.is_string(res.items[1]:tojson())
        else
          assert.equal("decode", err.kind)
        end
      end
    end
    assert.is_true(locations > 400)
  end)

  it("reads thousands of distinct electrical texts right (the reading cache stays bounded)", function()
    local groups = {}
    for i = 1, 2000 do
      groups[i] = { connectorType = { id = "34" },
        chargeCapacity = (100 + i) .. "-" .. (200 + i) .. "VDC, at max " .. i .. "A",
        connectorStatuses = { connectorStatus = { { cpoEvseId = "e" .. i } } } }
    end
    local st = base()
    st.connectors.connector = groups
    local t = assert(parse(st)).items[1]:totable()
    assert.equal(2000, #t.evses)
    for i = 1, 2000, 199 do
      local c = t.evses[i].connectors[1]
      assert.same({ 200 + i, i, "dc" }, { c.maxVoltage, c.maxCurrent, c.powerType })
    end
  end)

  it("keeps both connectors of an EVSE listed in two groups without connector ids", function()
    local st = base()
    st.connectors.connector = {
      { connectorType = { id = "29" }, connectorStatuses = { connectorStatus = { { cpoEvseId = "E" } } } },
      { connectorType = { id = "34" }, connectorStatuses = { connectorStatus = { { cpoEvseId = "E" } } } },
    }
    local t = assert(parse(st)).items[1]:totable()
    assert.equal(1, #t.evses)
    local got = {}
    for i, c in ipairs(t.evses[1].connectors) do got[i] = { c.id, c.standard } end
    assert.same({ { "E", "CHADEMO" }, { "E/2", "IEC_62196_T2_COMBO" } }, got)
  end)

  it("normalize refuses documents nested deeper than 100 levels", function()
    local schema = require("evcp.v2.schema")
    local deep = {}
    local t = deep
    for _ = 1, 150 do
      t.x = {}
      t = t.x
    end
    local v, msg = schema.normalize(deep)
    assert.is_nil(v)
    assert.matches("deeper than 100", msg)
  end)

  it("drops figures out of range instead of passing them on", function()
    local st = base()
    local g = st.connectors.connector[1]
    g.maxPowerLevel, g.chargingPoint.numberOfConnectors, g.chargingPoint.numberOfAvailable = 1e300, 1e300, -3
    g.connectorStatuses.connectorStatus[1].cpoEvseId = {}
    local t = assert(parse(st)).items[1]:totable()
    assert.is_nil(t.evses[1].connectors[1].maxPower)
    assert.equal("s/1/1", t.evses[1].uid)
    -- the listed EVSEs count instead, and their statuses
    assert.equal(1, t.connectorGroups[1].connectorCount)
    assert.equal(1, t.connectorGroups[1].availableConnectorCount)
  end)
end)

-- issue 7 §6 (speed): the XML decoder gives the canonical shape itself; it
-- must equal the Lua reference, schema.normalize (spec/19 holds the same
-- check for the JSON decoder).
describe("v2 canonical shape without the Lua pass", function()
  local core = require("evcp.core")
  local schema = require("evcp.v2.schema")
  local compiled = core.xml_schema(schema.XML)
  local function copy(v)
    if type(v) ~= "table" then return v end
    local o = {}
    for k, x in pairs(v) do o[k] = copy(x) end
    return o
  end
  local same = h.assert_same

  it("core.xml_decode's result is already normalized (integers, lists, ROOT)", function()
    for _, name in ipairs({ "here-v2/stations-prox.xml", "v2/multi.xml" }) do
      local doc = assert(core.xml_decode(h.fixture(name), compiled))
      same(assert(schema.normalize(copy(doc))), doc, name)
    end
    local doc = assert(core.xml_decode("<anyRoot n='2'><count>3</count><connectorType><id>1</id></connectorType>"
      .. "<x><connectorType><id>2</id></connectorType><count> 4 </count><latitude>7</latitude></x>"
      .. "<ROOT><connectorType/></ROOT><distance>1e309</distance><amount>1.5e308</amount></anyRoot>", compiled))
    same(assert(schema.normalize(copy(doc))), doc)
    assert.equal("1", doc.connectorType[1].id) -- a child of the root, whatever its name
    assert.equal("2", doc.x.connectorType.id)
    assert.same({ "" }, doc.ROOT.connectorType)
    assert.equal(1.5e308, doc.amount)
    assert.equal("1e309", doc.distance)
    if math.type then
      assert.equal("integer", math.type(doc.count))
      assert.equal("integer", math.type(doc.x.count))
      assert.equal("float", math.type(doc.x.latitude))
    end
  end)

  it("schema.normalize refuses a document nested deeper than 100 levels", function()
    local deep = {}
    local c = deep
    for _ = 1, 150 do
      c.a = {}
      c = c.a
    end
    local v, err = schema.normalize(deep)
    assert.is_nil(v)
    assert.equal("v2 document nested deeper than 100 levels", err)
  end)
end)
