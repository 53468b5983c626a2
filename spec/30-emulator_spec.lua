-- Tests for the local HERE EV Charge Points v3 emulator (bin/evcp-emulator):
-- starts real emulator processes and talks to them with the curl command.
-- Uses the hand-made dataset spec/fixtures/emulator-mini-db.lua. Every emulator a
-- case starts is stopped in a `finally`, and each describe's teardown stops whatever is
-- left, so a failing case leaves no process behind.

local FIXTURE = "spec/fixtures/emulator-mini-db.lua"
local SEED001 = "246udbvy497hq-aGVyZS1ldjplY29tb3ZlbWVudDoyMDEyMTg1ODgz"
local CPO = "11111111-2222-3333-4444-555555555555"
local EMSP_A = "aaaaaaaa-0000-0000-0000-000000000001"
local EMSP_B = "bbbbbbbb-0000-0000-0000-000000000002"
local TARIFF_PATTERN = "^^(all|adhoc|cpo|emsp|partner:.{36}(;name=.*)?|.{36}(,.*)*)$"

local ep = require("emulator_process")
local read_all, sleep, start, stop, request =
  ep.read_all, ep.sleep, ep.start, ep.stop, ep.request

local function now()
  local p = io.popen("date +%s.%N")
  local s = p:read("*l")
  p:close()
  return tonumber(s)
end

local function keys_of(t)
  local list = {}
  for k in pairs(t) do list[#list + 1] = k end
  table.sort(list)
  return list
end

local function by(list, field)
  local m = {}
  for _, v in ipairs(list or {}) do m[v[field]] = v end
  return m
end

local KEY = "apiKey=k1"

describe("evcp emulator #slow", function()
  local emu

  setup(function()
    emu = start("--data " .. FIXTURE .. " --status-interval 0 --api-key k1 --token tok1"
      .. " --restricted-key rk")
  end)

  teardown(function()
    ep.stop_all()
  end)

  local function get(path, opts)
    return request(emu, path, opts)
  end

  local function bad(path, cause)
    local res = get(path)
    assert.are.equal(400, res.status)
    assert.are.same({ "action", "cause", "code", "correlationId", "status", "title" },
      keys_of(res.json))
    assert.are.equal("Bad Request", res.json.title)
    assert.are.equal(400, res.json.status)
    assert.are.equal("E629400", res.json.code)
    assert.are.equal("Ensure that the request is according to API schema", res.json.action)
    assert.are.equal(res.headers["x-correlation-id"], res.json.correlationId)
    assert.are.equal(cause, res.json.cause)
  end

  describe("authentication", function()
    it("rejects requests without credentials", function()
      local res = get("/v3/locations/" .. SEED001)
      assert.are.equal(401, res.status)
      assert.are.same({ error = "Unauthorized", error_description = "No credentials found" },
        res.json)
    end)

    it("rejects unknown keys and tokens", function()
      local res = get("/v3/health?apiKey=nope")
      assert.are.equal(401, res.status)
      assert.are.same({ error = "Unauthorized", error_description = "Invalid credentials" },
        res.json)
      res = get("/v3/health", { headers = { Authorization = "Bearer wrong" } })
      assert.are.equal(401, res.status)
      assert.are.equal("Invalid credentials", res.json.error_description)
    end)

    it("accepts an api key or a bearer token", function()
      assert.are.equal(200, get("/v3/health?" .. KEY).status)
      assert.are.equal(200, get("/v3/health", { headers = { Authorization = "Bearer tok1" } }).status)
      -- the default demo-key is not valid once --api-key is given
      assert.are.equal(401, get("/v3/health?apiKey=demo-key").status)
    end)

    it("authenticates before validating", function()
      assert.are.equal(401, get("/v3/locations?days=99").status)
    end)
  end)

  describe("protocol", function()
    it("answers other methods with 405", function()
      local res = get("/v3/locations/" .. SEED001 .. "?" .. KEY, { method = "POST" })
      assert.are.equal(405, res.status)
      assert.are.same({ error = "Method not allowed for this action",
        error_description = "Method not allowed for this action" }, res.json)
    end)

    it("answers unknown paths with 404", function()
      local res = get("/v3/nothing?" .. KEY)
      assert.are.equal(404, res.status)
      assert.are.equal("Not Found", res.json.error)
      assert.is_string(res.json.error_description)
      assert.are.equal(404, get("/v2/locations?" .. KEY).status)
    end)

    it("sets JSON content type, a correlation id and echoes X-Request-ID", function()
      local res = get("/v3/health?" .. KEY, { headers = { ["X-Request-ID"] = "req-123" } })
      assert.are.equal("application/json", res.headers["content-type"])
      assert.are.equal("req-123", res.headers["x-request-id"])
      assert.truthy(res.headers["x-correlation-id"]:match(
        "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"))
      local other = get("/v3/health?" .. KEY)
      assert.is_nil(other.headers["x-request-id"])
      assert.are_not.equal(res.headers["x-correlation-id"], other.headers["x-correlation-id"])
    end)

    it("serves health, version and openapi", function()
      assert.are.same({ status = "ok" }, get("/v3/health?" .. KEY).json)
      assert.are.same({ apiVersion = "3.20.1", serviceVersion = "evcp-emulator-0.1.0" },
        get("/v3/version?" .. KEY).json)
      local spec = get("/v3/openapi?" .. KEY).json
      assert.are.equal("3.20.1", spec.info.version)
      assert.is_table(spec.paths["/locations/{id}"])
      assert.is_table(spec.components.schemas.ChargingLocation)
      assert.is_nil(spec.info.description)
    end)
  end)

  describe("/v3/locations/{id}", function()
    it("returns 404 E629000 for unknown ids", function()
      local res = get("/v3/locations/here:evcp:charginglocation:nope?" .. KEY)
      assert.are.equal(404, res.status)
      assert.are.same({
        title = "No content found with provided ID", status = 404, code = "E629000",
        cause = "No location exists with the given identifier", action = "Request a valid id",
        correlationId = res.headers["x-correlation-id"],
      }, res.json)
    end)

    it("uses only the last colon-separated component of the id", function()
      local a = get("/v3/locations/" .. SEED001 .. "?" .. KEY)
      local b = get("/v3/locations/foo:bar:" .. SEED001 .. "?" .. KEY)
      local c = get("/v3/locations/here%3Aevcp%3Acharginglocation%3A" .. SEED001 .. "?" .. KEY)
      assert.are.equal(200, a.status)
      assert.are.same(a.json, b.json)
      assert.are.same(a.json, c.json)
      assert.are.equal("here:evcp:charginglocation:" .. SEED001, a.json.id)
    end)

    it("returns the minimal field set by default", function()
      local res = get("/v3/locations/test-full-1?" .. KEY)
      assert.are.same({ "id", "location", "name", "operator", "restrictions", "suboperator",
        "supportedVehicles" }, keys_of(res.json))
    end)

    local MIN = { "id", "location", "name", "operator", "restrictions", "suboperator",
      "supportedVehicles" }
    local function with(extra)
      local list = {}
      for _, k in ipairs(MIN) do list[#list + 1] = k end
      for _, k in ipairs(extra) do list[#list + 1] = k end
      table.sort(list)
      return list
    end

    it("adds each field group", function()
      local cases = {
        address = { "address" },
        evses = { "evses" },
        locationInfo = { "accessPoints", "cpoLocationId", "energyMix", "isPullThrough",
          "openingHours", "parkingType", "reservationRequired", "supportPhoneNumber",
          "timeZone" },
        emsps = { "eMobilityServiceProviders" },
        connectorGroups = { "connectorGroups" },
        nearby = { "facilityTypes", "hasMoreNearbyPlaces", "nearbyPlaces" },
        tariffs = {},
      }
      for field, extra in pairs(cases) do
        local res = get("/v3/locations/test-full-1?fields=" .. field .. "&" .. KEY)
        assert.are.equal(200, res.status)
        assert.are.same(with(extra), keys_of(res.json), field)
      end
      local res = get("/v3/locations/test-full-1?fields=evses,tariffs&" .. KEY)
      assert.are.same(with({ "evses", "tariffs" }), keys_of(res.json))
      res = get("/v3/locations/test-full-1?fields=address&fields=emsps&" .. KEY)
      assert.are.same(with({ "address", "eMobilityServiceProviders" }), keys_of(res.json))
    end)

    it("reproduces the seed-001 connector groups", function()
      local res = get("/v3/locations/" .. SEED001 .. "?fields=connectorGroups&" .. KEY)
      assert.are.same({
        { standard = "CHADEMO", maxPower = 50000, connectorCount = 1, availableConnectorCount = 0 },
        { standard = "IEC_62196_T2", maxPower = 11000, connectorCount = 2,
          availableConnectorCount = 2 },
        { standard = "IEC_62196_T2_COMBO", maxPower = 150000, connectorCount = 2,
          availableConnectorCount = 1 },
      }, res.json.connectorGroups)
      assert.is_nil(res.json.evses)
    end)

    it("returns seed-001 EVSEs with their base status when frozen", function()
      local res = get("/v3/locations/" .. SEED001 .. "?fields=evses&" .. KEY)
      local evses = by(res.json.evses, "uid")
      assert.are.equal(5, #res.json.evses)
      assert.are.equal("charging", evses["61012cf6fe193d7ed1d3b0d7"].status)
      assert.are.equal("2025-02-25T14:02:54Z", evses["61012cf6fe193d7ed1d3b0d7"].modified)
      assert.are.equal("unknown", evses["61012cf2c6edec8f60f1400d"].status)
      assert.are.same({ "mobilePayment", "operatorApp", "rfidReader" },
        evses["61012d39974e34d300daf902"].paymentSupports)
    end)

    it("adds EVSE references to groups only with evses", function()
      local res = get("/v3/locations/test-full-1?fields=connectorGroups,evses&" .. KEY)
      local groups = res.json.connectorGroups
      assert.are.same({ "CHADEMO", "IEC_62196_T2", "IEC_62196_T2_COMBO" },
        { groups[1].standard, groups[2].standard, groups[3].standard })
      -- two identical connectors on full-e2 count once; DOMESTIC_F has no maxPower
      assert.are.equal(2, groups[2].connectorCount)
      assert.are.equal(1, groups[2].availableConnectorCount)
      assert.are.same({ { evseUid = "full-e2", connectorIds = { "c1", "c2" } },
        { evseUid = "full-e3", connectorIds = { "c1" } } }, groups[2].connectors)
      local plain = get("/v3/locations/test-full-1?fields=connectorGroups&" .. KEY)
      assert.is_nil(plain.json.connectorGroups[1].connectors)
      assert.is_nil(plain.json.connectorGroups[1].tariffIndexes)
    end)

    it("ignores connectorTypes", function()
      local res = get("/v3/locations/test-ac-only?connectorTypes=CHADEMO&fields=evses&" .. KEY)
      assert.are.equal(200, res.status)
      assert.are.equal(1, #res.json.evses)
    end)

    it("hides restricted EVSE data unless requested", function()
      local res = get("/v3/locations/test-full-1?fields=evses&" .. KEY)
      local e1 = by(res.json.evses, "uid")["full-e1"]
      assert.is_nil(e1.reliability)
      assert.are.same({ evsePosition = "left" }, e1.parking)
      for _, c in ipairs(e1.connectors) do assert.is_nil(c.tariffIndexes) end
    end)
  end)

  describe("restricted fields", function()
    it("answers 403 without the right", function()
      local cases = {
        predictions = { "Predictions requested without required authorization",
          "Get authorization for predictions usage or make request without predictions" },
        truckRestrictions = { "Truck restrictions requested without required authorization",
          "Get authorization for truck restrictions usage or make request without truck restrictions" },
        reliability = { "Reliability requested without required authorization",
          "Get authorization for reliability usage or make request without reliability" },
      }
      for field, want in pairs(cases) do
        local res = get("/v3/locations/test-full-1?fields=evses," .. field .. "&" .. KEY)
        assert.are.equal(403, res.status)
        assert.are.same({ error = want[1], error_description = want[2], status = 403 }, res.json)
        res = get("/v3/locations?ids=test-full-1&fields=" .. field .. "&" .. KEY)
        assert.are.equal(403, res.status)
      end
    end)

    it("returns restricted data with a restricted key", function()
      local res = get("/v3/locations/test-full-1?fields=evses,truckRestrictions,reliability,"
        .. "predictions&apiKey=rk")
      assert.are.equal(200, res.status)
      assert.are.same({ truckAccess = { "heavy" } }, res.json.truckRestrictions)
      assert.are.same({ height = 400 }, res.json.vehicleLimitations)
      assert.is_true(res.json.isPullThrough)
      local e1 = by(res.json.evses, "uid")["full-e1"]
      assert.are.same({ operational = 3 }, e1.reliability)
      assert.are.same({ evsePosition = "left", vehicleTypes = { "van" }, noClearanceHeight = true },
        e1.parking)
      res = get("/v3/locations/test-full-1?fields=predictions",
        { headers = { Authorization = "Bearer rk" } })
      assert.are.equal(200, res.status)
    end)
  end)

  describe("/v3/locations", function()
    it("returns items in request order and missingItems", function()
      local res = get("/v3/locations?ids=test-ac-only,nope,here:evcp:charginglocation:"
        .. SEED001 .. ",x:y:gone&" .. KEY)
      assert.are.equal(200, res.status)
      assert.are.equal(2, #res.json.items)
      assert.are.equal("here:evcp:charginglocation:test-ac-only", res.json.items[1].id)
      assert.are.equal("here:evcp:charginglocation:" .. SEED001, res.json.items[2].id)
      assert.are.same({ "nope", "x:y:gone" }, res.json.missingItems)
    end)

    it("always has both arrays", function()
      local res = get("/v3/locations?ids=nope&" .. KEY)
      assert.truthy(res.body:find('"items":[]', 1, true))
      res = get("/v3/locations?ids=test-ac-only&" .. KEY)
      assert.truthy(res.body:find('"missingItems":[]', 1, true))
    end)

    it("returns each occurrence of a repeated id", function()
      local res = get("/v3/locations?ids=test-ac-only,test-ac-only&" .. KEY)
      assert.are.equal(2, #res.json.items)
    end)

    it("filters by connectorTypes and drops locations without a match", function()
      local res = get("/v3/locations?ids=test-full-1,test-ac-only,nope&connectorTypes=CHADEMO"
        .. "&fields=evses,connectorGroups&" .. KEY)
      assert.are.equal(1, #res.json.items)
      assert.are.same({ "nope" }, res.json.missingItems)
      local loc = res.json.items[1]
      assert.are.equal(1, #loc.evses)
      assert.are.equal("full-e1", loc.evses[1].uid)
      assert.are.equal(1, #loc.evses[1].connectors)
      assert.are.equal("CHADEMO", loc.evses[1].connectors[1].standard)
      assert.are.equal(1, #loc.connectorGroups)
      assert.are.equal("CHADEMO", loc.connectorGroups[1].standard)

      res = get("/v3/locations?ids=test-full-1,test-ac-only&connectorTypes=IEC_62196_T2,"
        .. "UNKNOWN_TYPE&fields=connectorGroups&" .. KEY)
      assert.are.equal(2, #res.json.items)
      assert.are.equal(1, #res.json.items[1].connectorGroups)
      assert.is_nil(res.json.items[1].evses)
      res = get("/v3/locations?ids=test-ac-only&connectorTypes=UNKNOWN_TYPE&" .. KEY)
      assert.are.same({}, res.json.items)
      assert.are.same({}, res.json.missingItems)
    end)
  end)

  describe("tariffs", function()
    -- names of the returned tariffs (adhoc has none), plus the connector indexes
    local function tariffs(query)
      local res = get("/v3/locations/test-full-1?fields=evses,tariffs&" .. query .. KEY)
      assert.are.equal(200, res.status, res.body)
      local names = {}
      for i, t in ipairs(res.json.tariffs or {}) do names[i] = t.name or ("adhoc:" .. t.partnerId) end
      return names, res.json
    end

    it("returns ad-hoc tariffs by default", function()
      local names, loc = tariffs("")
      assert.are.same({ "adhoc:" .. CPO }, names)
      local e1 = by(loc.evses, "uid")["full-e1"]
      assert.are.same({ 0 }, e1.connectors[1].tariffIndexes)
      local e2 = by(loc.evses, "uid")["full-e2"]
      assert.is_nil(e2.connectors[3].tariffIndexes)
      assert.are.same(names, (tariffs("tariff=&")))
      assert.are.same(names, (tariffs("tariff=adhoc&")))
    end)

    it("supports all, cpo and emsp", function()
      assert.are.same({ "adhoc:" .. CPO, "Basic", "Advanced", "Roaming", "Plus", "cpo" },
        (tariffs("tariff=all&")))
      assert.are.same({ "Basic", "Advanced" }, (tariffs("tariff=cpo&")))
      assert.are.same({ "Roaming", "Plus", "cpo" }, (tariffs("tariff=emsp&")))
      assert.are.same({ "adhoc:" .. CPO, "Basic", "Advanced" }, (tariffs("tariff=cpo&tariff=adhoc&")))
    end)

    it("supports partner filters and re-indexes connectors", function()
      local names, loc = tariffs("tariff=partner:" .. EMSP_B .. "&")
      assert.are.same({ "Plus", "cpo" }, names)
      local e1 = by(loc.evses, "uid")["full-e1"]
      assert.is_nil(e1.connectors[1].tariffIndexes)  -- had 0,1,3: none kept
      assert.are.same({ 0 }, e1.connectors[2].tariffIndexes)  -- had 0,4
      local e2 = by(loc.evses, "uid")["full-e2"]
      assert.are.same({ 1 }, e2.connectors[1].tariffIndexes)  -- had 0,2,5

      assert.are.same({ "cpo" }, (tariffs("tariff=partner:" .. EMSP_B .. "%3Bname%3Dcpo&")))
      assert.are.same({ "Basic" }, (tariffs("tariff=partner:" .. CPO .. ";name=Basic,Nope&")))
    end)

    it("supports legacy partner filters, which keep ad-hoc tariffs", function()
      assert.are.same({ "adhoc:" .. CPO, "Roaming" }, (tariffs("tariff=" .. EMSP_A .. "&")))
      assert.are.same({ "adhoc:" .. CPO, "cpo" }, (tariffs("tariff=" .. EMSP_B .. ",cpo&")))
      assert.are.same({ "adhoc:" .. CPO, "Advanced" },
        (tariffs("tariff=" .. CPO .. ",Advanced,Other&")))
    end)

    it("applies only the last filter of a repeated partner", function()
      assert.are.same({ "Plus" }, (tariffs("tariff=partner:" .. EMSP_B .. ";name=cpo&tariff=partner:"
        .. EMSP_B .. ";name=Plus&")))
    end)

    it("adds group tariffIndexes with connectorGroups", function()
      local res = get("/v3/locations/test-full-1?fields=connectorGroups,tariffs&tariff=all&" .. KEY)
      local g = by(res.json.connectorGroups, "standard")
      assert.are.same({ 0, 2, 5 }, g.IEC_62196_T2.tariffIndexes)
      assert.are.same({ 0, 4 }, g.CHADEMO.tariffIndexes)
      assert.are.equal(6, #res.json.tariffs)
    end)

    it("ignores tariffs without evses or connectorGroups", function()
      local res = get("/v3/locations/test-full-1?fields=tariffs,address&tariff=all&" .. KEY)
      assert.is_nil(res.json.tariffs)
    end)
  end)

  describe("validation", function()
    it("reports bad fields", function()
      bad("/v3/locations/test-full-1?fields=address,evses,bogus&" .. KEY,
        "querystring/fields/2 must be equal to one of the allowed values")
      bad("/v3/locations?ids=a&fields=evses,address,evses&" .. KEY,
        "querystring/fields must NOT have duplicate items (items ## 2 and 0 are identical)")
      bad("/v3/locations?ids=a&fields=evses,evses&" .. KEY,
        "querystring/fields must NOT have duplicate items (items ## 1 and 0 are identical)")
    end)

    it("reports bad days", function()
      bad("/v3/locations/test-full-1?days=8&" .. KEY, "querystring/days must be <= 7")
      bad("/v3/locations/test-full-1?days=0&" .. KEY, "querystring/days must be >= 1")
      bad("/v3/locations/test-full-1?days=1.5&" .. KEY, "querystring/days must be integer")
      bad("/v3/locations/test-full-1?days=abc&" .. KEY, "querystring/days must be integer")
      assert.are.equal(200, get("/v3/locations/test-full-1?days=7&" .. KEY).status)
    end)

    it("reports bad ids", function()
      bad("/v3/locations?" .. KEY, "querystring must have required property 'ids'")
      bad("/v3/locations?ids=&" .. KEY, "querystring/ids must NOT have fewer than 1 items")
      local ids = {}
      for i = 1, 101 do ids[i] = "id" .. i end
      bad("/v3/locations?ids=" .. table.concat(ids, ",") .. "&" .. KEY,
        "querystring/ids must NOT have more than 100 items")
      ids[101] = nil
      assert.are.equal(200, get("/v3/locations?ids=" .. table.concat(ids, ",") .. "&" .. KEY).status)
    end)

    it("reports bad connectorTypes", function()
      bad("/v3/locations?ids=a&connectorTypes=A,B,C,D,E,F&" .. KEY,
        "querystring/connectorTypes must NOT have more than 5 items")
      bad("/v3/locations?ids=a&connectorTypes=CHADEMO,CHADEMO&" .. KEY,
        "querystring/connectorTypes must NOT have duplicate items (items ## 1 and 0 are identical)")
      bad("/v3/locations?ids=a&connectorTypes=&" .. KEY,
        "querystring/connectorTypes must NOT have fewer than 1 items")
    end)

    it("reports bad tariff values", function()
      bad("/v3/locations/test-full-1?tariff=foo&" .. KEY,
        'querystring/tariff/0 must match pattern "' .. TARIFF_PATTERN .. '"')
      bad("/v3/locations/test-full-1?tariff=all&tariff=partner:short&" .. KEY,
        'querystring/tariff/1 must match pattern "' .. TARIFF_PATTERN .. '"')
      bad("/v3/locations/test-full-1?tariff=" .. CPO .. "," .. string.rep("x", 300) .. "&" .. KEY,
        "querystring/tariff/0 must NOT have more than 256 characters")
      local many = {}
      for i = 1, 51 do many[i] = "tariff=all" end
      bad("/v3/locations/test-full-1?" .. table.concat(many, "&") .. "&" .. KEY,
        "querystring/tariff must NOT have more than 50 items")
    end)

    it("reports bad countryMetadata parameters", function()
      bad("/v3/countryMetadata?countryCodes=DEU,DE&" .. KEY,
        'querystring/countryCodes/1 must match pattern "^[A-Za-z]{3}$"')
      local codes = {}
      for i = 1, 51 do codes[i] = "DEU" end
      bad("/v3/countryMetadata?countryCodes=" .. table.concat(codes, ",") .. "&" .. KEY,
        "querystring/countryCodes must NOT have more than 50 items")
      bad("/v3/countryMetadata?fields=cars&" .. KEY,
        "querystring/fields/0 must be equal to one of the allowed values")
      bad("/v3/countryMetadata?fields=operators,operators,tariffs,tariffs,connectorTypes&" .. KEY,
        "querystring/fields must NOT have more than 4 items")
    end)

    it("ignores unknown parameters", function()
      assert.are.equal(200, get("/v3/locations/test-full-1?foo=bar&lang=de&" .. KEY).status)
    end)
  end)

  describe("/v3/countryMetadata", function()
    it("lists all countries by default", function()
      local res = get("/v3/countryMetadata?" .. KEY)
      assert.are.same({ countries = { { countryCode = "DEU" }, { countryCode = "FIN" } } },
        res.json)
    end)

    it("returns requested countries and fields, and missingCountries", function()
      local res = get("/v3/countryMetadata?countryCodes=deu,XYZ&fields=operators,"
        .. "eMobilityServiceProviders,connectorTypes&" .. KEY)
      assert.are.equal(1, #res.json.countries)
      local c = res.json.countries[1]
      assert.are.equal("DEU", c.countryCode)
      assert.are.same({ { name = "Test CPO", partnerId = CPO } }, c.operators)
      assert.are.equal(2, #c.eMobilityServiceProviders)
      assert.is_nil(c.eMobilityServiceProviders[1].tariffs)
      assert.are.equal("IEC_62196_T2", c.connectorTypes[1].standard)
      assert.are.same({ "XYZ" }, res.json.missingCountries)
    end)

    it("adds tariff names only together with operators or eMSPs", function()
      local res = get("/v3/countryMetadata?countryCodes=DEU&fields=operators,tariffs&" .. KEY)
      assert.are.same({ { name = "Basic" }, { name = "Advanced" } },
        res.json.countries[1].operators[1].tariffs)
      res = get("/v3/countryMetadata?countryCodes=DEU&fields=tariffs&" .. KEY)
      assert.are.same({ countries = { { countryCode = "DEU" } } }, res.json)
    end)

    it("keeps countries an array when nothing matches", function()
      local res = get("/v3/countryMetadata?countryCodes=XYZ&" .. KEY)
      assert.truthy(res.body:find('"countries":[]', 1, true))
      assert.are.same({ "XYZ" }, res.json.missingCountries)
    end)
  end)
end)

describe("evcp emulator dynamic status #slow", function()
  teardown(function() ep.stop_all() end)
  local ids = {}
  for i = 1, 30 do ids[i] = ("gen-%02d"):format(i) end
  local path = "/v3/locations?apiKey=demo-key&fields=evses&ids=" .. table.concat(ids, ",")

  local function same(a, b)
    for k, v in pairs(a) do if b[k] ~= v then return false end end
    for k, v in pairs(b) do if a[k] ~= v then return false end end
    return true
  end

  local function statuses(emu)
    local res = request(emu, path)
    assert.are.equal(200, res.status)
    local map = {}
    for _, loc in ipairs(res.json.items) do
      for _, e in ipairs(loc.evses) do map[e.uid] = e.status .. "@" .. e.modified end
    end
    return map
  end

  it("changes statuses per step and agrees across emulators with the same seed", function()
    local origin = math.floor(now()) - 100
    local args = "--data " .. FIXTURE .. " --status-interval 1 --seed 7 --start-time " .. origin
    local a, b = start(args), start(args .. " --workers 2")
    finally(function() stop(a); stop(b) end)
    do
      local agreed = false
      for _ = 1, 5 do
        local sa, sb = statuses(a), statuses(b)
        if same(sa, sb) then agreed = true; break end
      end
      assert.is_true(agreed, "same seed, same step: same statuses")

      local first = statuses(a)
      sleep(1.1)
      local second = statuses(a)
      local changed = 0
      for uid, s in pairs(first) do
        if second[uid] ~= s then changed = changed + 1 end
        local m = second[uid]:match("@(.*)$")
        assert.truthy(m:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$"), m)
      end
      assert.is_true(changed > 0)
    end
  end)

  it("differs between seeds", function()
    local origin = math.floor(now()) - 5000
    local a = start("--data " .. FIXTURE .. " --status-interval 1000 --seed 1 --start-time " .. origin)
    finally(function() stop(a) end)
    local b = start("--data " .. FIXTURE .. " --status-interval 1000 --seed 2 --start-time " .. origin)
    finally(function() stop(b) end)
    local sa, sb = statuses(a), statuses(b)
    stop(a)
    stop(b)
    assert.is_false(same(sa, sb))
  end)
end)

describe("evcp emulator launcher #slow", function()
  teardown(function() ep.stop_all() end)

  it("prints usage and rejects unknown options", function()
    local p = io.popen("env -u LD_PRELOAD bin/evcp-emulator --help; echo rc=$?")
    local out = p:read("*a")
    p:close()
    assert.truthy(out:find("--status-interval", 1, true))
    assert.truthy(out:find("rc=0", 1, true))
    p = io.popen("env -u LD_PRELOAD bin/evcp-emulator --frobnicate 2>&1; echo rc=$?")
    out = p:read("*a")
    p:close()
    assert.truthy(out:find("unknown option", 1, true))
    assert.truthy(out:find("rc=2", 1, true))
  end)

  it("exits 0 on SIGTERM and removes its temporary directory", function()
    local emu = start("--data " .. FIXTURE)
    finally(function() stop(emu) end)
    -- the nginx master is the launcher's child (found through /proc, not ps)
    local dir = emu.dir
    assert.truthy(dir, "no nginx child of the launcher " .. tostring(emu.pid))
    assert.is_true(#emu.nginx >= 2) -- master and worker
    assert.truthy(read_all(dir .. "/nginx.conf"))
    assert.are.equal(0, stop(emu))
    assert.is_nil(read_all(dir .. "/nginx.conf"))
    assert.is_nil(io.open(dir, "r") and io.open(dir .. "/config.lua", "r"))
    for _, pid in ipairs(emu.nginx) do assert.is_false(ep.alive(pid), "nginx " .. pid) end
    assert.is_false(ep.alive(emu.pid))
  end)

  it("stops every process even when the launcher is killed", function()
    local emu = start("--data " .. FIXTURE)
    finally(function() stop(emu) end)
    os.execute("kill -KILL " .. emu.pid)
    -- the watchdog stops nginx within about a second
    local gone = false
    for _ = 1, 60 do
      gone = true
      for _, pid in ipairs(emu.nginx) do if ep.alive(pid) then gone = false end end
      if gone then break end
      sleep(0.1)
    end
    assert.is_true(gone, table.concat(ep.leftovers(), "; "))
  end)

  it("exits 1 with the error log when the dataset fails to load", function()
    local bogus = os.tmpname() .. ".lua"
    local f = io.open(bogus, "w")
    f:write("error('broken dataset')\n")
    f:close()
    local p = io.popen("env -u LD_PRELOAD bin/evcp-emulator --port 0 --data " .. bogus .. " 2>&1; echo rc=$?")
    local out = p:read("*a")
    p:close()
    os.remove(bogus)
    assert.truthy(out:find("broken dataset", 1, true), out)
    assert.truthy(out:find("rc=1", 1, true), out)
  end)
end)

describe("evcp emulator with the bundled dataset #slow", function()
  teardown(function() ep.stop_all() end)
  local have_dataset = io.open("emulator/lua/evcp_emulator/dataset.lua", "r")
  if have_dataset then have_dataset:close() end
  local run = have_dataset and it or pending

  run("serves the seed-001 location as HERE's tutorial shows it", function()
    local emu = start("--status-interval 0")
    finally(function() stop(emu) end)
    do
      local res = request(emu, "/v3/locations/" .. SEED001 .. "?fields=connectorGroups&apiKey=demo-key")
      assert.are.equal(200, res.status)
      assert.are.same({
        { standard = "CHADEMO", maxPower = 50000, connectorCount = 1, availableConnectorCount = 0 },
        { standard = "IEC_62196_T2", maxPower = 11000, connectorCount = 2,
          availableConnectorCount = 2 },
        { standard = "IEC_62196_T2_COMBO", maxPower = 150000, connectorCount = 2,
          availableConnectorCount = 1 },
      }, res.json.connectorGroups)
      res = request(emu, "/v3/countryMetadata?apiKey=demo-key")
      assert.is_true(#res.json.countries > 0)
    end
  end)
end)

describe("evcp-emulator rock #slow", function()
  teardown(function() ep.stop_all() end)

  local ROCKSPEC = ep.root .. "evcp-emulator-scm-1.rockspec"

  it("lists every emulator module and data file, and nothing of the library", function()
    local f = assert(io.open(ROCKSPEC, "rb"))
    local text = f:read("*a")
    f:close()
    local listed = {}
    for key, file in text:gmatch('%["([^"]+)"%] = "([^"]+)"') do listed[file] = key end
    local p = io.popen("cd " .. ep.shell_quote(ep.root) .. " && find emulator -type f ! -name '.*' | sort")
    local missing = {}
    for file in p:lines() do
      if not listed[file] then missing[#missing + 1] = file end
      listed[file] = nil
    end
    p:close()
    assert.are.same({}, missing)
    listed["bin/evcp-emulator"], listed["bin/evcp-with-emulator"] = nil, nil
    assert.are.same({}, listed) -- nothing else (no lua/evcp/...)
    assert.truthy(text:find('type = "none"', 1, true)) -- builtin would copy lua/ too
  end)

  local probe = io.popen("command -v luarocks 2>/dev/null")
  local have_luarocks = probe:read("*a") ~= ""
  probe:close();
  (have_luarocks and it or pending)("installs with luarocks and runs from another directory", function()
    local tree = os.tmpname()
    os.remove(tree)
    finally(function() os.execute("rm -rf " .. ep.shell_quote(tree)) end)
    local p = io.popen(("cd %s && env -u LD_PRELOAD luarocks make --tree %s %s 2>&1; echo rc=$?")
      :format(ep.shell_quote(ep.root), ep.shell_quote(tree), "evcp-emulator-scm-1.rockspec"))
    local out = p:read("*a")
    p:close()
    assert.truthy(out:find("rc=0", 1, true), out)
    local lua_files = io.popen("find " .. ep.shell_quote(tree) .. "/share -path '*/evcp/*'")
    assert.are.equal("", lua_files:read("*a")) -- the library is not in this rock
    lua_files:close()
    -- from /tmp, through the install tree only
    local cmd = ("cd /tmp && env -u LD_PRELOAD %s/bin/evcp-with-emulator -- sh -c %s 2>&1; echo rc=$?")
      :format(ep.shell_quote(tree), ep.shell_quote(
        'curl -s "$EVCP_TEST_URL/ev/stations.json?prox=52.516667,13.383333,5000&apiKey=demo-key"'))
    p = io.popen(cmd)
    out = p:read("*a")
    p:close()
    assert.truthy(out:find('"evStation":[{', 1, true), out)
    assert.truthy(out:find("rc=0", 1, true), out)
  end)
end)
