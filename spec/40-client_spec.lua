local evcp = require("evcp")
local h = require("helper")

local SECRET = "s3cr3t-key-value"

local function err_of(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(e)
end

describe("evcp.new", function()
  it("makes a client and shows no secret in tostring", function()
    local c = evcp.new({ base_url = "http://127.0.0.1:9/", api_key = SECRET })
    assert.equal("evcp.Client: http://127.0.0.1:9 (api key)", tostring(c))
    local t = evcp.new({ base_url = "http://127.0.0.1:9", access_token = SECRET })
    assert.equal("evcp.Client: http://127.0.0.1:9 (bearer token)", tostring(t))
    assert.equal("evcp.Client", getmetatable(c)) -- locked
    c:close()
    t:close()
  end)

  it("defaults base_url to HERE's service", function()
    local c = evcp.new({ api_key = SECRET })
    assert.equal("evcp.Client: https://evcp.hereapi.com (api key)", tostring(c))
    c:close()
  end)

  local bad = {
    { nil, "argument #1" },
    { "x", "argument #1" },
    { { api_key = SECRET, bogus = 1 }, "option 'bogus' is not known" },
    { { base_url = "http://x" }, "api_key" },
    { { api_key = SECRET, access_token = SECRET }, "only one" },
    { { api_key = 5 }, "option 'api_key' must be a string" },
    { { api_key = "" }, "option 'api_key' must not be empty" },
    { { access_token = "a\r\nX-Evil: 1" }, "option 'access_token' must not contain control" },
    { { api_key = SECRET, base_url = "ftp://x" }, "option 'base_url'" },
    { { api_key = SECRET, base_url = "http://x/?q" }, "option 'base_url'" },
    { { api_key = SECRET, base_url = 1 }, "option 'base_url' must be a string" },
    { { api_key = SECRET, timeout = 0 }, "option 'timeout'" },
    { { api_key = SECRET, timeout = "1" }, "option 'timeout'" },
    { { api_key = SECRET, connect_timeout = -1 }, "option 'connect_timeout'" },
    { { api_key = SECRET, max_attempts = 0 }, "option 'max_attempts'" },
    { { api_key = SECRET, max_attempts = 1.5 }, "option 'max_attempts'" },
    { { api_key = SECRET, max_parallel = 65 }, "option 'max_parallel'" },
    { { api_key = SECRET, compress = "yes" }, "option 'compress'" },
    { { api_key = SECRET, user_agent = "" }, "option 'user_agent'" },
    { { api_key = SECRET, max_body = 10 }, "option 'max_body'" },
  }
  for i, case in ipairs(bad) do
    it("rejects bad options (" .. i .. ": " .. case[2] .. ")", function()
      local msg = err_of(evcp.new, case[1])
      assert.matches("evcp.new: ", msg, 1, true)
      assert.matches(case[2], msg, 1, true)
      assert.is_nil(msg:find(SECRET, 1, true), "secret leaked: " .. msg)
    end)
  end
end)

describe("Client lifetime", function()
  it("close is idempotent and a closed client raises", function()
    local c = h.client()
    assert.is_false(c:is_closed())
    c:close()
    c:close()
    assert.is_true(c:is_closed())
    assert.equal("evcp.Client: (closed)", tostring(c))
    for _, m in ipairs({ "location", "locations", "country_metadata", "health", "version", "openapi" }) do
      local msg = err_of(c[m], c, { h.seed_id })
      assert.matches(m .. ": the client is closed", msg, 1, true)
    end
    collectgarbage()
  end)

  it("is collected without close, and close after collection cycles is safe", function()
    for _ = 1, 50 do h.client() end
    collectgarbage()
    collectgarbage()
    local c = h.client()
    collectgarbage()
    c:close()
    collectgarbage()
  end)

  it("raises when a method is not called on a client", function()
    local c = h.client()
    assert.matches("call it as client:location", err_of(c.location, {}, "x"), 1, true)
    assert.matches("call it as client:health", err_of(c.health, nil), 1, true)
    c:close()
  end)
end)

describe("request checking (before anything is sent)", function()
  -- base_url points at a closed port: a check that failed to raise would
  -- come back as a network error instead of raising.
  local c = evcp.new({ base_url = "http://127.0.0.1:9", api_key = SECRET })
  local id = h.seed_id

  local cases = {
    { "location", { nil }, "argument #1 (id) must be a string" },
    { "location", { "" }, "argument #1 (id) must not be empty" },
    { "location", { "here:evcp:charginglocation:" }, "empty content id" },
    { "location", { "a,b" }, "must not contain ','" },
    { "location", { id, 5 }, "options must be a table" },
    { "location", { id, { filds = { "evses" } } }, "option 'filds' is not known" },
    { "location", { id, { fields = { "evses", "bogus" } } }, "option 'fields'[2]" },
    { "location", { id, { fields = { "evses", "evses" } } }, "lists 'evses' twice" },
    { "location", { id, { fields = 5 } }, "option 'fields' must be an array" },
    { "location", { id, { days = 0 } }, "option 'days' must be between 1 and 7" },
    { "location", { id, { days = 8 } }, "option 'days' must be between 1 and 7" },
    { "location", { id, { days = 1.5 } }, "option 'days' must be an integer" },
    { "location", { id, { tariff = "bogus" } }, "option 'tariff'[1]" },
    { "location", { id, { tariff = { "all", "partner:short" } } }, "option 'tariff'[2]" },
    { "location", { id, { tariff = { string.rep("a", 257) } } }, "1 to 256 characters" },
    { "location", { id, { connectorTypes = { "IEC_62196_T2" } } }, "option 'connectorTypes' is not known" },
    { "location", { id, { request_id = "a\nb" } }, "option 'request_id' must not contain control" },
    { "locations", { {} }, "must hold at least one id" },
    { "locations", { "x" }, "argument #1 (ids) must be an array" },
    { "locations", { { id, 5 } }, "ids[2] must be a string" },
    { "locations", { { [1] = id, [3] = id } }, "hole at 2" },
    { "locations", { { id }, { connectorTypes = {} } }, "must have 1 to 5 values" },
    { "locations", { { id }, { connectorTypes = { "CHADEMO", "CHAOJI", "MCS", "GBT_AC", "GBT_DC", "TESLA_S" } } }, "must have at most 5 values" },
    { "locations", { { id }, { connectorTypes = { "iec_62196_t2" } } }, "'iec_62196_t2' is not a ConnectorType" },
    { "locations", { { id }, { connectorTypes = { "IEC-62196" } } }, "'IEC-62196' is not a ConnectorType" },
    { "locations", { { id }, { tariff = { "partner:" .. string.rep("\226\130\172", 35) } } }, "option 'tariff'[1]" },
    { "locations", { { id }, { tariff = { "\255" } } }, "must be UTF-8" },
    { "locations", { { id }, { connectorTypes = { "MCS", "MCS" } } }, "lists 'MCS' twice" },
    { "locations", { { id }, { fields = "evses,nope" } }, "option 'fields'[2]" },
    { "country_metadata", { { "DE" } }, "'DE' is not an ISO 3166-1 alpha-3 code" },
    { "country_metadata", { {} }, "must hold 1 to 50 codes" },
    { "country_metadata", { nil, { fields = { "evses" } } }, "option 'fields'[1]" },
    { "country_metadata", { nil, { fields = {} } }, "at least 1" },
    { "country_metadata", { nil, { bogus = 1 } }, "option 'bogus' is not known" },
    { "health", { { bogus = 1 } }, "option 'bogus' is not known" },
    { "version", { 5 }, "options must be a table" },
    { "openapi", { { request_id = "" } }, "option 'request_id' must not be empty" },
  }
  local tariff_ok = {
    "all", "adhoc", "cpo", "emsp", "partner:1f90fdf0-cca5-11ed-be23-42010aa40002",
    "partner:1f90fdf0-cca5-11ed-be23-42010aa40002;name=Basic,Advanced",
    "1f90fdf0-cca5-11ed-be23-42010aa40002", "1f90fdf0-cca5-11ed-be23-42010aa40002,Basic,Advanced",
  }

  for i, case in ipairs(cases) do
    it(case[1] .. " raises naming what was wrong (" .. i .. ")", function()
      local args = case[2]
      local msg = err_of(c[case[1]], c, args[1], args[2])
      assert.matches(case[1] .. ": ", msg, 1, true)
      assert.matches(case[3], msg, 1, true)
      assert.is_nil(msg:find(SECRET, 1, true))
    end)
  end

  it("accepts every tariff form of the spec (fails only at the network)", function()
    for _, t in ipairs(tariff_ok) do
      local v, err = c:location(id, { tariff = { t }, fields = { "evses", "tariffs" } })
      assert.is_nil(v)
      assert.equal("network", err.kind)
    end
    local v, err = c:locations({ id }, { tariff = tariff_ok })
    assert.is_nil(v)
    assert.equal("network", err.kind)
  end)

  it("reports network failures without the key", function()
    local v, err = c:location(id)
    assert.is_nil(v)
    assert.equal("network", err.kind)
    assert.is_true(err.retryable)
    assert.is_nil(tostring(err):find(SECRET, 1, true))
    assert.is_nil((err.url or ""):find(SECRET, 1, true))
    assert.matches("GET http://127.0.0.1:9/v3/locations/246udbvy497hq", tostring(err), 1, true)
  end)
end)
