-- v3 through the real libcurl path against the emulator (spec/run.sh starts it
-- with statuses frozen and EVCP_TEST_URL set).
local evcp = require("evcp")
local h = require("helper")

local function dataset()
  if not h._db then h._db = require("emulator_process").module("dataset").load() end
  return h._db
end

describe("v3 over HTTP", function()
  local c
  setup(function()
    assert(h.url, "EVCP_TEST_URL is not set: run the suite with `make test`")
    c = h.client()
  end)
  teardown(function() c:close() end)

  describe("client:location", function()
    it("returns the seed location with evses exactly as HERE documents it", function()
      local loc = assert(c:location(h.seed_id, { fields = { "evses" } }))
      h.assert_same(h.decode(h.fixture("seed-001-evses.json")), loc:totable())
    end)

    it("returns the seed's connector groups", function()
      local loc = assert(c:location(h.seed_id, { fields = { "connectorGroups" } }))
      h.assert_same(h.decode(h.fixture("seed-001-connectorGroups.json")), loc:totable())
    end)

    it("answers a bare content id like the full HRN", function()
      local a = assert(c:location(h.seed_id))
      local b = assert(c:location(h.seed_cid))
      h.assert_same(a:totable(), b:totable())
    end)

    it("returns only the minimal set without fields", function()
      local t = assert(c:location(h.seed_id)):totable()
      local allowed = { id = 1, location = 1, name = 1, operator = 1, suboperator = 1,
        restrictions = 1, supportedVehicles = 1 }
      for k in pairs(t) do assert.is_truthy(allowed[k], "unexpected field " .. k) end
    end)

    it("returns each requested field group", function()
      local loc = assert(c:location(h.seed_id, { fields = { "address", "evses", "connectorGroups", "tariffs", "locationInfo" } }))
      assert.is_table(loc.address)
      assert.is_string(loc.address.countryCode)
      local n = 0
      for evse in loc:evses() do
        n = n + 1
        for conn in evse:connectors() do assert.is_number(conn.maxPower) end
      end
      assert.equal(5, n)
      local groups = 0
      for g in loc:connector_groups() do
        groups = groups + 1
        assert.is_table(g:totable().connectors, "groups carry references when evses are requested too")
      end
      assert.equal(3, groups)
    end)

    it("resolves a group's references to Connector objects", function()
      local loc = assert(c:location(h.seed_id, { fields = { "evses", "connectorGroups" } }))
      local seen = {}
      for g in loc:connector_groups() do
        local n = 0
        for conn in g:connectors() do
          n = n + 1
          assert.equal(g.standard, conn.standard)
          assert.equal(g.maxPower, conn.maxPower)
          assert.equal("evcp.Evse", getmetatable(conn:evse()))
        end
        seen[g.standard] = n
      end
      assert.same({ CHADEMO = 1, IEC_62196_T2 = 2, IEC_62196_T2_COMBO = 2 }, seen)
      local bare = assert(c:location(h.seed_id, { fields = { "connectorGroups" } }))
      for g in bare:connector_groups() do assert.is_nil(g:connectors()()) end
    end)

    it("fails with HERE's 404 shape for an unknown id", function()
      local v, err = c:location("here:evcp:charginglocation:nope", { request_id = "req-404" })
      assert.is_nil(v)
      assert.equal("http", err.kind)
      assert.equal(404, err.status)
      assert.equal("E629000", err.code)
      assert.equal("No content found with provided ID", err.title)
      assert.equal("No location exists with the given identifier", err.cause)
      assert.equal("Request a valid id", err.action)
      assert.equal("req-404", err.request_id)
      assert.is_string(err.correlation_id)
      assert.is_false(err.retryable)
      local line = tostring(err)
      assert.matches("evcp: http 404 E629000: No content found with provided ID", line, 1, true)
      assert.matches("request req-404", line, 1, true)
      assert.is_nil(line:find("\n"))
      assert.is_nil(line:find(h.key, 1, true))
    end)

    it("fails with 401 for a wrong key, never showing the key", function()
      local bad = h.client({ api_key = "wrong-key-123" })
      local v, err = bad:location(h.seed_id)
      assert.is_nil(v)
      assert.equal(401, err.status)
      assert.equal("Unauthorized", err.error)
      assert.is_string(err.error_description)
      assert.is_nil(tostring(err):find("wrong-key-123", 1, true))
      bad:close()
    end)

    it("authenticates with a bearer token", function()
      local t = h.client({ access_token = "demo-token" })
      assert.is_not_nil(t:location(h.seed_id))
      t:close()
      local w = h.client({ access_token = "not-a-token" })
      local v, err = w:location(h.seed_id)
      assert.is_nil(v)
      assert.equal(401, err.status)
      assert.is_nil(tostring(err):find("not-a-token", 1, true))
      w:close()
    end)

    it("gets 403 for restricted fields without the contract, data with it", function()
      local v, err = c:location(h.seed_id, { fields = { "predictions" } })
      assert.is_nil(v)
      assert.equal(403, err.status)
      assert.is_string(err.error)
      local r = h.client({ api_key = "restricted-key" })
      assert.is_not_nil(r:location(h.seed_id, { fields = { "predictions" }, days = 3 }))
      r:close()
    end)
  end)

  describe("client:locations", function()
    it("returns items in request order and the missing ids as given", function()
      local ids = { h.seed_id, "here:evcp:charginglocation:missing-one", h.seed_id_2, "zzz", h.seed_cid }
      local res = assert(c:locations(ids, { fields = { "evses" } }))
      assert.equal(3, #res.items)
      assert.equal(h.seed_id, res.items[1].id)
      assert.equal(h.seed_id_2, res.items[2].id)
      assert.equal(h.seed_id, res.items[3].id)
      assert.same({ "here:evcp:charginglocation:missing-one", "zzz" }, res.missing)
    end)

    it("splits any number of ids into requests of 100", function()
      local db = dataset()
      local ids = {}
      for i = 1, 345 do ids[i] = db.locations[i].id end
      ids[#ids + 1] = "not-there"
      local res = assert(c:locations(ids))
      assert.equal(345, #res.items)
      for i = 1, 345 do assert.equal(ids[i], res.items[i].id) end
      assert.same({ "not-there" }, res.missing)
    end)

    it("filters EVSEs and groups by connectorTypes and drops locations without a match", function()
      local res = assert(c:locations({ h.seed_id, h.seed_id_2 },
        { fields = { "evses", "connectorGroups" }, connectorTypes = { "CHADEMO" } }))
      assert.equal(1, #res.items)
      assert.same({}, res.missing)
      local loc = res.items[1]
      local n = 0
      for evse in loc:evses() do
        n = n + 1
        for conn in evse:connectors() do assert.equal("CHADEMO", conn.standard) end
      end
      assert.equal(1, n)
      for g in loc:connector_groups() do assert.equal("CHADEMO", g.standard) end
    end)

    it("selects tariffs with the tariff option", function()
      local db = dataset()
      local pick
      for _, rec in ipairs(db.locations) do
        local kinds = {}
        for _, t in ipairs(rec.tariffs or {}) do kinds[t.type or "adhoc"] = true end
        if kinds.adhoc and kinds.emsp and kinds.cpo then pick = rec break end
      end
      assert.is_not_nil(pick, "the dataset has a location with all three tariff types")
      local function types(opts)
        opts.fields = { "evses", "tariffs" }
        local loc = assert(c:location(pick.id, opts))
        local seen = {}
        for t in loc:tariffs() do seen[t.type or "adhoc"] = (seen[t.type or "adhoc"] or 0) + 1 end
        for evse in loc:evses() do
          for conn in evse:connectors() do
            for t in conn:tariffs() do assert.is_string(t.currency) end
          end
        end
        return seen
      end
      local default = types({})
      assert.is_nil(default.emsp)
      assert.is_nil(default.cpo)
      assert.is_truthy(default.adhoc)
      local all = types({ tariff = "all" })
      assert.is_truthy(all.emsp and all.cpo and all.adhoc)
      local emsp = types({ tariff = { "emsp" } })
      assert.is_nil(emsp.adhoc)
      assert.is_truthy(emsp.emsp)
    end)
  end)

  describe("metadata and service endpoints", function()
    it("country_metadata answers per country and lists missing ones", function()
      local m = assert(c:country_metadata({ "FIN", "ZZZ" }, { fields = { "connectorTypes", "operators" } }))
      assert.equal("FIN", m.countries[1].countryCode)
      assert.is_table(m.countries[1].connectorTypes)
      assert.is_table(m.countries[1].operators)
      assert.same({ "ZZZ" }, m.missingCountries)
      local all = assert(c:country_metadata())
      assert.is_true(#all.countries >= 3)
      for _, country in ipairs(all.countries) do assert.is_nil(country.operators) end
    end)

    it("health, version and openapi", function()
      assert.same({ status = "ok" }, assert(c:health()))
      local v = assert(c:version({ request_id = "v1" }))
      assert.equal("3.20.1", v.apiVersion)
      local doc = assert(c:openapi())
      assert.is_string(doc.openapi)
      assert.is_table(doc.paths["/locations/{id}"])
    end)
  end)

  describe("transport failures", function()
    it("times out against a server that never answers", function()
      local socket = require("socket")
      local srv = assert(socket.bind("127.0.0.1", 0))
      local _, port = srv:getsockname()
      local slow = evcp.new({ base_url = "http://127.0.0.1:" .. port, api_key = "k", timeout = 0.3 })
      local v, err = slow:location(h.seed_id)
      assert.is_nil(v)
      assert.equal("timeout", err.kind)
      assert.is_true(err.retryable)
      slow:close()
      srv:close()
    end)

    it("retries retryable failures up to max_attempts", function()
      local socket = require("socket")
      local srv = assert(socket.bind("127.0.0.1", 0))
      local _, port = srv:getsockname()
      local slow = evcp.new({ base_url = "http://127.0.0.1:" .. port, api_key = "k", timeout = 0.2, max_attempts = 2 })
      local t0 = socket.gettime()
      local v, err = slow:location(h.seed_id)
      local took = socket.gettime() - t0
      assert.is_nil(v)
      assert.equal("timeout", err.kind)
      assert.is_true(took >= 0.4, "two attempts, took " .. took)
      assert.equal(2, err.attempts)
      assert.matches("2 attempts", tostring(err), 1, true)
      slow:close()
      srv:close()
    end)
  end)
end)
