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
    assert.equal("network", err.kind)
    assert.matches("/ev/stations/count.xml?corridor=52.5,13.4;52.1,11.6&corridorwidth=2000", err.url, 1, true)
    local it = v2:each_station({ bbox = { 52.6, 13.2, 52.4, 13.5 } })
    local first, ferr = it()
    assert.is_nil(first)
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
