local evcp = require("evcp")
local h = require("helper")

local evses_body = h.fixture("seed-001-evses.json")
local groups_body = h.fixture("seed-001-connectorGroups.json")

local TARIFF_BODY = [[{
  "id": "here:evcp:charginglocation:abc-def", "location": {"lat": 52.5, "lng": 13.4},
  "name": "T", "restrictions": ["brandOnly", "someFutureReason"],
  "tariffs": [
    {"partner": "A", "partnerId": "11111111-1111-1111-1111-111111111111", "currency": "EUR", "type": "adhoc",
     "elements": [{"components": [{"dimension": "energy", "price": 0.39, "vat": 19, "step": 1}]}]},
    {"partner": "B", "partnerId": "22222222-2222-2222-2222-222222222222", "currency": "EUR", "type": "emsp",
     "name": "Plus", "elements": [{"components": [{"dimension": "time", "price": 1.2}]}]}],
  "evses": [{"uid": "e1", "status": "charging", "modified": "2025-01-01T00:00:00Z",
    "futureEvseField": {"nested": [true, false]},
    "connectors": [
      {"id": "1", "standard": "SOME_NEW_PLUG", "format": "cable", "powerType": "dc",
       "maxVoltage": 920, "maxCurrent": 500, "maxPower": 400000, "tariffIndexes": [1, 0, 7]}]}],
  "connectorGroups": [{"standard": "SOME_NEW_PLUG", "maxPower": 400000, "connectorCount": 1,
    "tariffIndexes": [0], "connectors": [{"evseUid": "e1", "connectorIds": ["1"]}]}]
}]]

describe("evcp.v3.parse", function()
  it("gives a Location whose fields read by HERE's names", function()
    local loc = assert(evcp.v3.parse(evses_body))
    assert.equal("here:evcp:charginglocation:246udbvy497hq-aGVyZS1ldjplY29tb3ZlbWVudDoyMDEyMTg1ODgz", loc.id)
    assert.equal("K-Lataus", loc.name)
    assert.equal(61.493773, loc.location.lat)
    assert.equal(23.820261, loc.location.lng)
    assert.equal("23e03006-cca5-11ed-91ab-42010aa40002", loc.operator.partnerId)
    assert.same({ "car" }, loc.supportedVehicles)
    assert.is_nil(loc.address)
    assert.equal("evcp.Location", getmetatable(loc)) -- locked: the class name
  end)

  it("iterates EVSEs and connectors in document order", function()
    local loc = assert(evcp.v3.parse(evses_body))
    local doc = h.decode(evses_body)
    local i = 0
    for evse in loc:evses() do
      i = i + 1
      local want = doc.evses[i]
      assert.equal(want.uid, evse.uid)
      assert.equal(want.status, evse.status)
      assert.equal(want.evseId, evse.evseId)
      assert.equal(want.id, evse.id)
      assert.equal(want.modified, evse.modified)
      assert.same(want.paymentSupports, evse.paymentSupports)
      local j = 0
      for c in evse:connectors() do
        j = j + 1
        local wc = want.connectors[j]
        for _, k in ipairs({ "id", "standard", "format", "powerType", "maxVoltage", "maxCurrent", "maxPower" }) do
          assert.equal(wc[k], c[k], k)
        end
        if math.type then assert.equal("integer", math.type(c.maxPower)) end
      end
      assert.equal(#want.connectors, j)
    end
    assert.equal(5, i)
  end)

  it("round-trips: totable equals the JSON it came from, unknown fields included", function()
    for _, body in ipairs({ evses_body, groups_body, TARIFF_BODY }) do
      local loc = assert(evcp.v3.parse(body))
      h.assert_same(h.decode(body), loc:totable())
      h.assert_same(h.decode(body), h.decode(loc:tojson()))
    end
    local loc = assert(evcp.v3.parse(TARIFF_BODY))
    local evse = loc:evse("e1")
    h.assert_same({ nested = { true, false } }, evse.futureEvseField)
    h.assert_same(h.decode(TARIFF_BODY).evses[1], evse:totable())
  end)

  it("writes the spec's array fields back as arrays even when empty", function()
    local body = [[{"id":"x","location":{"lat":1,"lng":2},"restrictions":[],"extra":{},
      "evses":[{"uid":"u","status":"unknown","modified":"m","connectors":[],"paymentSupports":[]}]}]]
    local text = assert(evcp.v3.parse(body)):tojson()
    assert.matches('"restrictions":[]', text, 1, true)
    assert.matches('"connectors":[]', text, 1, true)
    assert.matches('"paymentSupports":[]', text, 1, true)
    assert.matches('"extra":{}', text, 1, true)
  end)

  it("keeps unknown values of extensible enums", function()
    local loc = assert(evcp.v3.parse(TARIFF_BODY))
    assert.same({ "brandOnly", "someFutureReason" }, loc.restrictions)
    for evse in loc:evses() do
      for c in evse:connectors() do assert.equal("SOME_NEW_PLUG", c.standard) end
    end
  end)

  it("gives connector groups", function()
    local loc = assert(evcp.v3.parse(groups_body))
    local got = {}
    for g in loc:connector_groups() do
      got[#got + 1] = { g.standard, g.maxPower, g.connectorCount, g.availableConnectorCount }
      assert.matches("^evcp.ConnectorGroup: ", tostring(g))
    end
    assert.same({ { "CHADEMO", 50000, 1, 0 }, { "IEC_62196_T2", 11000, 2, 2 },
      { "IEC_62196_T2_COMBO", 150000, 2, 1 } }, got)
    assert.equal(3, #loc.connectorGroups)
    assert.equal("CHADEMO", loc.connectorGroups[1].standard)
  end)

  it("resolves tariffIndexes into Tariff objects, skipping bad indexes", function()
    local loc = assert(evcp.v3.parse(TARIFF_BODY))
    local names = {}
    for evse in loc:evses() do
      for c in evse:connectors() do
        for t in c:tariffs() do names[#names + 1] = t.partner end
      end
    end
    assert.same({ "B", "A" }, names)
    for g in loc:connector_groups() do
      local t = g:tariffs()()
      assert.equal("A", t.partner)
      assert.equal(loc.id, t:charging_location().id)
    end
    local all = {}
    for t in loc:tariffs() do all[#all + 1] = t.type end
    assert.same({ "adhoc", "emsp" }, all)
  end)

  it("children keep their parents alive", function()
    local evse, conn
    do
      local loc = assert(evcp.v3.parse(evses_body))
      evse = loc:evses()()
      conn = evse:connectors()()
    end
    collectgarbage()
    collectgarbage()
    assert.equal("K-Lataus", evse:charging_location().name)
    assert.equal(evse.uid, conn:evse().uid)
    assert.equal("K-Lataus", conn:charging_location().name)
  end)

  it("reads nested tables from a per-node cache: one copy, stable identity, the document untouched", function()
    local loc = assert(evcp.v3.parse(evses_body))
    local l = loc.location
    assert.equal(l, loc.location)
    assert.equal(loc.operator, loc.operator)
    l.lat = 0 -- the copy is shared; the document is not
    assert.equal(61.493773, loc:totable().location.lat)
    assert.equal(61.493773, h.decode(loc:tojson()).location.lat)
    local t = loc:totable()
    t.name = "changed"
    assert.equal("K-Lataus", loc.name)
    assert.has_error(function() loc.name = "x" end)
    assert.has_error(function() loc.location = {} end)
  end)

  it("finds an EVSE by uid, id or evseId", function()
    local loc = assert(evcp.v3.parse(evses_body))
    assert.equal("FI*KCH*7694", loc:evse("61012cf6fe193d7ed1d3b0d7").evseId)
    assert.equal("7529", loc:evse("FI*KCH*7529").physicalReference)
    assert.equal("charging", loc:evse("here:evcp:evse:deb8d230c3acf81bf59856a5cfea400bff6ab98a3cda107bfcce0cfcc8228168").status)
    assert.is_nil(loc:evse("nope"))
  end)

  it("has readable tostring for every class", function()
    local loc = assert(evcp.v3.parse(TARIFF_BODY))
    assert.equal("evcp.Location: here:evcp:charginglocation:abc-def (T)", tostring(loc))
    local evse = loc:evses()()
    assert.equal("evcp.Evse: e1 (charging)", tostring(evse))
    assert.equal("evcp.Connector: SOME_NEW_PLUG cable dc, 400 kW", tostring(evse:connectors()()))
    assert.equal("evcp.Tariff: adhoc A unnamed (EUR)", tostring(loc:tariffs()()))
    assert.equal("evcp.ConnectorGroup: SOME_NEW_PLUG, 400 kW, 1 connectors", tostring(loc:connector_groups()()))
  end)

  it("parses a batch answer", function()
    local body = '{"items":[' .. evses_body .. ',' .. TARIFF_BODY .. '],"missingItems":["nope"]}'
    local res = assert(evcp.v3.parse(body))
    assert.equal(2, #res.items)
    assert.equal("K-Lataus", res.items[1].name)
    assert.equal("T", res.items[2].name)
    assert.same({ "nope" }, res.missing)
  end)

  it("returns nil and a decode error for bad bodies", function()
    local bad = {
      "", "nul", "[1,2]", "{", '{"id":1,"location":{}}', '{"id":"x"}', '{"id":"x","location":5}',
      '{"id":"x","location":{"lat":1,"lng":2},"evses":5}', '{"id":"x","location":{"lat":1,"lng":2},"evses":[1]}',
      '{"id":"x","location":{"lat":1,"lng":2},"evses":[{"connectors":[2]}]}', '{"items":5}', '{"items":[{"id":"x"}]}',
      '{"items":[],"missingItems":[1]}', '{"id":"x","location":{"lat":1e999,"lng":0}}', '{"id":"x","location":{"lat":91,"lng":0}}',
      '{"id":"x","location":{"lat":"1","lng":0}}',
      string.rep("[", 100000), '{"id":"x","location":{"lat":0x10}}', '"just a string"',
    }
    for _, body in ipairs(bad) do
      local v, err = evcp.v3.parse(body)
      assert.is_nil(v, body:sub(1, 40))
      assert.is_true(evcp.is_error(err))
      assert.equal("decode", err.kind)
      assert.is_string(err.message)
      assert.is_false(err.retryable)
      assert.matches("^evcp: decode", tostring(err))
    end
  end)

  it("names the bad part of the document", function()
    local _, err = evcp.v3.parse('{"id":"x","location":{"lat":1,"lng":2},"evses":[{"connectors":[]},{"connectors":[{},3]}]}')
    assert.matches("evses%[2%]%.connectors%[2%]", err.message)
  end)

  it("raises when body is not a string", function()
    for _, v in ipairs({ 1, true, {}, print }) do
      assert.has_error(function() evcp.v3.parse(v) end)
    end
    assert.has_error(function() evcp.v3.parse() end)
  end)

  it("methods check their receiver", function()
    local loc = assert(evcp.v3.parse(evses_body))
    assert.has_error(function() loc.evses({}) end)
    assert.has_error(function() loc.totable(1) end)
    assert.has_error(function() loc.evse(loc, 5) end)
  end)
end)
