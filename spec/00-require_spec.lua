describe("require 'evcp'", function()
  it("sets no globals", function()
    local before = {}
    for k in pairs(_G) do before[k] = true end
    package.loaded["evcp"] = nil
    package.loaded["evcp.v3"] = nil
    local evcp = require("evcp")
    assert.is_table(evcp)
    for k in pairs(_G) do
      assert.is_true(before[k] ~= nil, "new global: " .. tostring(k))
    end
  end)

  it("exposes the documented entry points", function()
    local evcp = require("evcp")
    assert.is_string(evcp.VERSION)
    assert.is_function(evcp.new)
    assert.is_function(evcp.v3.parse)
    assert.is_function(evcp.is_error)
    assert.equal("https://evcp.hereapi.com", evcp.DEFAULT_BASE_URL)
  end)

  it("leaves the application's cjson settings alone", function()
    local cjson = require("cjson")
    local before = cjson.decode_invalid_numbers()
    cjson.decode_invalid_numbers(true)
    require("evcp")
    -- evcp's private codec refuses NaN even though the shared one accepts it
    assert.is_nil((require("evcp").v3.parse('{"id":"x","location":{"lat":NaN,"lng":1}}')))
    assert.is_not_nil(cjson.decode('[NaN]'))
    cjson.decode_invalid_numbers(before)
  end)

  it("loads the C core with every class", function()
    local core = require("evcp.core")
    for _, c in ipairs({ "Location", "Evse", "Connector", "ConnectorGroup", "Tariff", "Client" }) do
      assert.is_table(core.classes[c], c)
    end
    assert.matches("libcurl", core.curl_version())
  end)
end)
