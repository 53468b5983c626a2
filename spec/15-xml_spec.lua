-- The C XML decoder (expat, streaming) that the v2 XML path stands on.
local core = require("evcp.core")
local h = require("helper")

local SCHEMA = {
  arrays = { evStation = true, connector = true, connectorStatus = true, period = true,
    regularOpeningHours = true, pricing = true, phone = true, website = true, roaming = true },
  numbers = { count = true, distance = true, latitude = true, longitude = true, maxPowerLevel = true,
    totalNumberOfConnectors = true, numberOfConnectors = true, numberOfAvailable = true,
    numberOfInUse = true, daymask = true, value = { price = true }, amount = true },
  booleans = { hasMore = true, fixedCable = true, open24x7 = true, pay = true, reservable = true,
    privateAccess = true, restrictedAccess = true, accept = true },
}

-- every (path -> type) of a decoded document, arrays collapsed to [].
local function shape(v, path, out)
  out = out or {}
  path = path or "$"
  if type(v) ~= "table" then
    out[path] = type(v)
    return out
  end
  if #v > 0 then
    for _, item in ipairs(v) do shape(item, path .. "[]", out) end
  else
    for k, item in pairs(v) do shape(item, path .. "." .. k, out) end
  end
  out[path] = out[path] or "table"
  return out
end

describe("core.xml_decode", function()
  it("decodes HERE's v2 XML example into the JSON shape", function()
    local t = assert(core.xml_decode(h.fixture("here-v2/stations-prox.xml"), SCHEMA))
    assert.is_false(t.hasMore)
    assert.equal(1, t.count)
    local st = t.evStations.evStation[1]
    assert.equal("NTRlZjA5MDQtMTBkYi0xMWVlLThhYTUtNDIwMTBhYTQwZmMw", st.id)
    assert.equal("Europe/Helsinki", st.timeZone)
    assert.equal(64.984772, st.position.latitude)
    local c = st.connectors.connector[1]
    assert.equal("31", c.connectorType.id)
    assert.equal(22, c.maxPowerLevel)
    assert.is_false(c.fixedCable)
    assert.equal("AVAILABLE", c.connectorStatuses.connectorStatus[1].state)
  end)

  it("gives the same shape as the JSON example wherever both have a field", function()
    local x = shape(assert(core.xml_decode(h.fixture("here-v2/stations-prox.xml"), SCHEMA)))
    local j = shape(h.decode(h.fixture("here-v2/stations-prox.json")))
    local common = 0
    for path, ty in pairs(x) do
      if j[path] then
        common = common + 1
        assert.equal(j[path], ty, path)
      end
    end
    assert.is_true(common > 40, "only " .. common .. " paths in common")
  end)

  it("types a value by its parent when the schema says so", function()
    local t = assert(core.xml_decode("<r><price><value>0.5</value></price><phone><value>+358</value></phone></r>", SCHEMA))
    assert.equal(0.5, t.price.value)
    assert.equal("+358", t.phone[1].value)
  end)

  it("keeps repeated elements that the schema does not name", function()
    local t = assert(core.xml_decode("<r><b>1</b><b>2</b><b>3</b><c x='1'>t</c><d/></r>", SCHEMA))
    assert.same({ "1", "2", "3" }, t.b)
    assert.same({ x = "1", _text = "t" }, t.c)
    assert.equal("", t.d)
    assert.is_nil(getmetatable(t.b) and getmetatable(t.b).__index)
  end)

  it("drops namespace prefixes and xmlns declarations", function()
    local t = assert(core.xml_decode('<ev:r xmlns:ev="urn:x" xmlns="urn:y"><ev:a ev:k="v">1</ev:a></ev:r>', SCHEMA))
    assert.same({ a = { k = "v", _text = "1" } }, t)
  end)

  it("refuses DOCTYPEs, so entity tricks never run", function()
    local attacks = {
      '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><r>&lol2;</r>',
      '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
      '<!DOCTYPE r SYSTEM "http://example.invalid/r.dtd"><r/>',
    }
    for _, doc in ipairs(attacks) do
      local v, err = core.xml_decode(doc, SCHEMA)
      assert.is_nil(v)
      assert.matches("DOCTYPE is not allowed", err)
    end
  end)

  it("bounds depth and size and reports malformed input", function()
    local v, err = core.xml_decode(string.rep("<a>", 65) .. string.rep("</a>", 65), SCHEMA)
    assert.is_nil(v)
    assert.matches("deeper than 64", err)
    assert.is_table(core.xml_decode(string.rep("<a>", 60) .. "x" .. string.rep("</a>", 60), SCHEMA))
    v, err = core.xml_decode("<r>" .. string.rep("x", 2000) .. "</r>", SCHEMA, { max_bytes = 1000 })
    assert.is_nil(v)
    assert.matches("larger than 1000 bytes", err)
    for _, bad in ipairs({ "", "<r>", "<r></s>", "<r a='1' a='2'/>", "text", "<r>&undefined;</r>", "<r>\0</r>" }) do
      v, err = core.xml_decode(bad, SCHEMA)
      assert.is_nil(v, bad)
      assert.matches("^XML: ", err)
    end
  end)

  it("raises on misuse", function()
    assert.has_error(function() core.xml_decode(nil, SCHEMA) end)
    assert.has_error(function() core.xml_decode("<r/>", nil) end)
  end)

  it("core.xml_scan parses without building anything", function()
    assert.is_true(core.xml_scan(h.fixture("here-v2/stations-prox.xml")))
    local ok, err = core.xml_scan("<r>")
    assert.is_nil(ok)
    assert.is_string(err)
  end)
end)
