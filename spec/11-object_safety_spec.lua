-- Issue 7 §1 and §2: every C function reachable from a metatable checks its
-- self (a non-object used to segfault), metatables are locked, and misuse
-- errors name the method.
local evcp = require("evcp")
local core = require("evcp.core")

local BODY = [[{
  "id": "here:evcp:charginglocation:s11", "name": "S", "location": {"lat": 1, "lng": 2},
  "tariffs": [{"partner": "A", "currency": "EUR"}],
  "evses": [{"uid": "e1", "status": "available", "location": {"lat": 1.5, "lng": 2.5},
    "connectors": [{"id": "1", "standard": "IEC_62196_T2", "tariffIndexes": [0]}]}],
  "connectorGroups": [{"standard": "IEC_62196_T2", "connectorCount": 1,
    "connectors": [{"evseUid": "e1", "connectorIds": ["1"]}]}]
}]]

local function objects()
  local loc = assert(evcp.v3.parse(BODY))
  local evse = loc:evses()()
  return {
    ["evcp.Location"] = loc,
    ["evcp.Evse"] = evse,
    ["evcp.Connector"] = evse:connectors()(),
    ["evcp.ConnectorGroup"] = loc:connector_groups()(),
    ["evcp.Tariff"] = loc:tariffs()(),
  }
end

local METHODS = {
  ["evcp.Location"] = { "evses", "connector_groups", "tariffs", "evse", "totable", "tojson" },
  ["evcp.Evse"] = { "connectors", "charging_location", "totable", "tojson" },
  ["evcp.Connector"] = { "evse", "charging_location", "tariffs", "totable", "tojson" },
  ["evcp.ConnectorGroup"] = { "connectors", "charging_location", "tariffs", "totable", "tojson" },
  ["evcp.Tariff"] = { "charging_location", "totable", "tojson" },
}

local function raises(pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error matching " .. pattern)
  err = tostring(err)
  assert.matches(pattern, err, 1, true)
  assert.is_nil(err:find("'?'", 1, true), err)
  return err
end

describe("object metatables", function()
  it("are locked: getmetatable gives the class name", function()
    for cls, obj in pairs(objects()) do
      assert.equal(cls, getmetatable(obj))
      assert.equal("table", type(debug.getmetatable(obj)))
    end
    local schema = core.xml_schema({ arrays = { a = true } })
    assert.equal("evcp.XmlSchema", getmetatable(schema))
  end)

  it("check self in __index, __newindex and __tostring (no crash on a foreign self)", function()
    local others = { "x", {}, 1, true, io.stdout }
    local objs = objects()
    for cls, obj in pairs(objs) do
      local mt = debug.getmetatable(obj)
      for _, bad in ipairs(others) do
        raises(cls .. ".__index: self must be an " .. cls, mt.__index, bad, "name")
        raises(cls .. ".__tostring: self must be an " .. cls, mt.__tostring, bad)
        raises("self must be an evcp object", mt.__newindex, bad, "name", 1)
      end
      -- an object of another class is foreign too
      local other = cls == "evcp.Location" and objs["evcp.Evse"] or objs["evcp.Location"]
      raises(cls .. ".__index: self must be an " .. cls, mt.__index, other, "id")
      raises(cls .. ".__tostring", mt.__tostring, other)
    end
  end)

  it("check self in every method and name it, also when called through pcall", function()
    local objs = objects()
    for cls, obj in pairs(objs) do
      for _, m in ipairs(METHODS[cls]) do
        local f = obj[m]
        assert.is_function(f, cls .. ":" .. m)
        for _, bad in ipairs({ 5, "x", {} }) do
          local short = cls:sub(6)
          local err = raises(":" .. m .. ": self must be", f, bad)
          if m ~= "totable" and m ~= "tojson" then assert.matches("evcp." .. short .. ":" .. m, err, 1, true) end
        end
      end
    end
  end)

  it("names the method and the argument for a bad argument", function()
    local loc = objects()["evcp.Location"]
    raises("evcp.Location:evse: argument #1 (key) must be a string, got number", loc.evse, loc, 5)
    raises("evcp.Location:evse: argument #1 (key) must be a string, got no value", loc.evse, loc)
  end)

  it("report the caller's position for misuse", function()
    local loc = objects()["evcp.Location"]
    local ok, err = pcall(function() local e = loc:evse(1) return e end)
    assert.is_false(ok)
    assert.matches("11%-object_safety_spec%.lua:%d+: evcp%.Location:evse", err)
  end)

  it("XML schema and helper functions check their arguments", function()
    local schema = core.xml_schema({ numbers = { n = true } })
    raises("evcp.XmlSchema.__tostring: self must be", debug.getmetatable(schema).__tostring, {})
    raises("core.xml_decode: argument #2 (schema)", core.xml_decode, "<r/>", 5)
    raises("core.json_scan: argument #1 (text)", core.json_scan, nil)
    raises("core.copy: argument #1", core.copy)
    raises("core.set_json_encoder: argument #1", core.set_json_encoder, 5)
  end)

  it("keep view methods private: core exposes no method table of a view class", function()
    assert.is_nil(core.classes)
    assert.is_nil(core.class_of)
  end)
end)
