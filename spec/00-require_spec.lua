local h = require("helper")
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
    local loc = assert(require("evcp").v3.parse(h.fixture("seed-001-evses.json")))
    local evse = loc:evses()()
    -- every class exists, with its metatable locked under its name
    assert.equal("evcp.Location", getmetatable(loc))
    assert.equal("evcp.Evse", getmetatable(evse))
    assert.equal("evcp.Connector", getmetatable(evse:connectors()()))
    assert.matches("libcurl", core.curl_version())
  end)
end)

describe("evcp.v3 helpers and evcp.error", function()
  local evcp = require("evcp")
  it("content_id takes the last colon-separated component", function()
    assert.equal("abc", evcp.v3.content_id("here:evcp:charginglocation:abc"))
    assert.equal("abc", evcp.v3.content_id("abc"))
    assert.equal("", evcp.v3.content_id("x:"))
  end)
  it("publishes the spec's enumerations", function()
    assert.equal(42, #evcp.v3.CONNECTOR_TYPES)
    assert.equal(10, #evcp.v3.FIELDS)
    assert.equal(8, #evcp.v3.EVSE_STATUSES)
    assert.equal(4, #evcp.v3.METADATA_FIELDS)
    assert.equal("3.20.1", evcp.v3.API_VERSION)
    assert.equal(100, evcp.v3.MAX_IDS)
  end)
  it("errors are one readable line and know what is retryable", function()
    local e = evcp.error.new({ kind = "http", status = 503, code = "E629503", title = "Database operation failed",
      cause = "line one\nline two", correlation_id = "c-1", request_id = "r-1", url = "GET http://h/v3/health" })
    assert.is_true(evcp.is_error(e))
    assert.is_false(evcp.is_error({}))
    assert.equal("evcp: http 503 E629503: Database operation failed; line one line two "
      .. "[GET http://h/v3/health, correlation c-1, request r-1]", tostring(e))
    for _, s in ipairs({ 408, 429, 500, 502, 503, 504 }) do assert.is_true(evcp.error.retryable_status(s)) end
    for _, s in ipairs({ 400, 401, 403, 404, 405, 414 }) do assert.is_false(evcp.error.retryable_status(s)) end
  end)
end)
