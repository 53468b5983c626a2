-- Issue 7 §3, §5 and §6: complete objects from evcp.v3 alone, the EVSE's own
-- `location` field, nested reads without a copy per read.
local h = require("helper")

local BODY = [[{
  "id": "here:evcp:charginglocation:s14", "name": "S14", "location": {"lat": 60.1, "lng": 24.9},
  "address": {"city": "Espoo", "country": "FIN"},
  "tariffs": [{"partner": "A", "currency": "EUR"}],
  "evses": [
    {"uid": "e1", "status": "available", "location": {"lat": 60.11, "lng": 24.91},
     "connectors": [{"id": "1", "standard": "IEC_62196_T2", "maxPower": 22000, "tariffIndexes": [0]},
                    {"id": "2", "standard": "IEC_62196_T2", "maxPower": 22000}]},
    {"uid": "e2", "status": "charging", "evseId": "FI*X*E2",
     "connectors": [{"id": "1", "standard": "CHADEMO", "maxPower": 50000},
                    {"id": "2", "standard": "IEC_62196_T2", "maxPower": 22000}]}],
  "connectorGroups": [
    {"standard": "IEC_62196_T2", "maxPower": 22000, "connectorCount": 3,
     "connectors": [{"evseUid": "e2", "connectorIds": ["2"]}, {"evseUid": "e1", "connectorIds": ["2", "1", "9"]},
                    {"evseUid": "nope", "connectorIds": ["1"]}, {"evseUid": "FI*X*E2", "connectorIds": ["1"]}, 7]},
    {"standard": "CHADEMO", "maxPower": 50000, "connectorCount": 1}]
}]]

local child = h.child

describe("objects from evcp.v3 alone", function()
  it("have group:connectors() and :tojson() without require 'evcp'", function()
    local out = child(([[
      local v3 = require("evcp.v3")
      assert(package.loaded["evcp"] == nil)
      local loc = assert(v3.parse(%q))
      for g in loc:connector_groups() do
        local got = {}
        for c in g:connectors() do got[#got + 1] = c:evse().uid .. "/" .. c.id end
        print(g.standard .. ": " .. table.concat(got, " "))
      end
      print(#loc:tojson() > 100 and "json ok" or "json short")
      assert(package.loaded["evcp"] == nil)
    ]]):format(BODY))
    -- references in the group's order, connectors in the EVSE's order; refs by evseUid = uid only
    assert.matches("IEC_62196_T2: e2/2 e1/1 e1/2\n", out, 1, true)
    assert.matches("CHADEMO: \n", out, 1, true)
    assert.matches("json ok", out, 1, true)
  end)
end)

describe("objects", function()
  local evcp = require("evcp")

  it("read the EVSE's own location field; charging_location() is the parent", function()
    local loc = assert(evcp.v3.parse(BODY))
    local e1 = loc:evse("e1")
    assert.same({ lat = 60.11, lng = 24.91 }, e1.location)
    assert.equal(loc.id, e1:charging_location().id)
    assert.is_nil(loc:evse("e2").location)
    local c = e1:connectors()()
    assert.equal(loc.id, c:charging_location().id)
    assert.equal("e1", c:evse().uid)
    assert.equal(loc.id, loc:connector_groups()():charging_location().id)
    assert.equal(loc.id, loc:tariffs()():charging_location().id)
  end)

  it("name the method on misuse of group:connectors()", function()
    local loc = assert(evcp.v3.parse(BODY))
    local g = loc:connector_groups()()
    local ok, err = pcall(g.connectors, 5)
    assert.is_false(ok)
    assert.matches("evcp.ConnectorGroup:connectors: self must be an evcp.ConnectorGroup", err, 1, true)
    ok, err = pcall(g.connectors, loc)
    assert.is_false(ok)
    assert.matches("got userdata", err, 1, true)
  end)

  it("give nested tables a stable identity, one copy per node", function()
    local loc = assert(evcp.v3.parse(BODY))
    assert.equal(loc.location, loc.location)
    assert.equal(loc.address, loc.address)
    -- two views of the same EVSE share the node's copy
    assert.equal(loc:evse("e1").location, loc:evses()().location)
    assert.equal("Espoo", loc.address.city)
    assert.has_error(function() loc.address = 1 end)
    assert.has_error(function() loc:evse("e1").status = "x" end)
  end)

  it("let the cached copies go with their documents", function()
    local cache = debug.getregistry()["evcp.nodecache"]
    assert.is_table(cache)
    collectgarbage()
    collectgarbage()
    local before = 0
    for _ in pairs(cache) do before = before + 1 end
    do
      for _ = 1, 200 do
        local loc = assert(evcp.v3.parse(BODY))
        local _ = loc.location.lat + loc.address.city:len() + #loc:evse("e1").location
      end
    end
    collectgarbage()
    collectgarbage()
    local after = 0
    for _ in pairs(cache) do after = after + 1 end
    assert.is_true(after <= before, ("cache grew from %d to %d entries"):format(before, after))
  end)

  it("have readable tostring for counts that are not small integers", function()
    local loc = assert(evcp.v3.parse([[{"id":"x","location":{"lat":1,"lng":2},
      "connectorGroups":[{"standard":"S","connectorCount":1e300,"availableConnectorCount":2.5},{"standard":"T"}]}]]))
    local it = loc:connector_groups()
    assert.equal("evcp.ConnectorGroup: S, unknown power, 2.5 of 1e+300 available", tostring(it()))
    assert.equal("evcp.ConnectorGroup: T, unknown power, ? connectors", tostring(it()))
  end)

  it("walk the dataset's largest location the same as its plain table", function()
    local text = h.fixture("seed-001-evses.json")
    local plain = h.decode(text)
    local loc = assert(evcp.v3.parse(text))
    local i = 0
    for evse in loc:evses() do
      i = i + 1
      assert.equal(plain.evses[i].status, evse.status)
      local j = 0
      for c in evse:connectors() do
        j = j + 1
        assert.equal(plain.evses[i].connectors[j].standard, c.standard)
        assert.equal(plain.evses[i].connectors[j].maxPower, c.maxPower)
      end
    end
    assert.equal(plain.location.lat, loc.location.lat)
  end)
end)

-- The fast paths of csrc/object.c (issue 7 §6): on LuaJIT the children an
-- iterator (or a Location's connectorGroups) makes share one environment and
-- find their node by position; __index reads without resetting the stack;
-- the location checks format their paths only on failure.
describe("objects' fast paths", function()
  local evcp = require("evcp")
  local core = require("evcp.core")

  it("give each sibling its own node and parent, also once the parent is gone", function()
    local loc = assert(evcp.v3.parse(BODY))
    local evses, conns = {}, {}
    for e in loc:evses() do
      evses[#evses + 1] = e
      for c in e:connectors() do conns[#conns + 1] = c end
    end
    local groups = loc.connectorGroups
    loc = nil -- luacheck: ignore 311
    collectgarbage()
    collectgarbage()
    assert.same({ "e1", "e2" }, { evses[1].uid, evses[2].uid })
    assert.same({ "available", "charging" }, { evses[1].status, evses[2].status })
    assert.is_nil(evses[1].evseId)
    assert.equal("FI*X*E2", evses[2].evseId)
    local got = {}
    for i, c in ipairs(conns) do got[i] = c:evse().uid .. "/" .. c.id .. "/" .. c.standard end
    assert.same({ "e1/1/IEC_62196_T2", "e1/2/IEC_62196_T2", "e2/1/CHADEMO", "e2/2/IEC_62196_T2" }, got)
    assert.equal(conns[3]:evse(), conns[4]:evse())
    assert.equal("S14", conns[4]:charging_location().name)
    assert.equal(2, #groups)
    assert.same({ "IEC_62196_T2", "CHADEMO" }, { groups[1].standard, groups[2].standard })
    assert.equal("here:evcp:charginglocation:s14", groups[2]:charging_location().id)
    assert.equal(evses[1].location, evses[1].location)
    assert.equal(60.11, evses[1].location.lat)
    assert.is_nil(evses[2].location)
  end)

  it("read the same through __index called directly, with missing or extra arguments", function()
    local loc = assert(evcp.v3.parse(BODY))
    local index = debug.getmetatable(loc).__index
    assert.equal("S14", index(loc, "name", "extra", {}))
    assert.is_nil(index(loc))
    assert.equal(loc.address, index(loc, "address"))
    assert.is_function(index(loc, "evses"))
    -- a table given the class's metatable is no Location
    local forged = {}
    debug.setmetatable(forged, debug.getmetatable(loc)) -- returns true on LuaJIT
    local ok, err = pcall(index, forged, "name")
    assert.is_false(ok)
    assert.matches("evcp.Location.__index: self must be an evcp.Location, got table", err, 1, true)
  end)

  it("name the failing EVSE's connectors in location checks", function()
    local function doc(evses)
      return { id = "x", location = { lat = 1, lng = 2 }, evses = evses }
    end
    local _, err = core.location(doc({ { connectors = {} }, { connectors = { {}, 5 } } }))
    assert.equal("location.evses[2].connectors[2]: expected an object", err)
    _, err = core.location(doc({ {}, {}, { connectors = "no" } }))
    assert.equal("location.evses[3].connectors: expected an array", err)
    _, err = core.locations({ items = { doc({}), doc({ { connectors = { 1 } } }) } })
    assert.equal("items[2].evses[1].connectors[1]: expected an object", err)
    _, err = core.location(doc({ {}, 7 }))
    assert.equal("location.evses[2]: expected an object", err)
  end)
end)
