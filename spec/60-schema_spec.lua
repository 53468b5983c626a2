-- The emulator's responses checked against HERE's OpenAPI document
-- (emulator/data/openapi.json) with spec/openapi_validator.lua:
-- every 2xx body against the schema its path declares, every error body
-- against the response its status declares, plus the X-Correlation-ID and
-- X-Request-ID headers. Needs the emulator that spec/run.sh starts
-- (EVCP_TEST_URL; keys demo-key and restricted-key, the latter restricted).
local V = require("openapi_validator")
local evcp = require("evcp")

local URL = os.getenv("EVCP_TEST_URL")
local here = debug.getinfo(1, "S").source:match("^@(.*)60%-schema_spec%.lua$") or "spec/"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local doc = V.decode(read(here .. "../emulator/data/openapi.json"))

local function dataset()
  local ok, h = pcall(require, "helper")
  h = ok and h or {}
  if not h._db then h._db = require("emulator_process").module("dataset").load() end
  return h._db
end

-- The schema a path's GET declares for a status ("default" when undeclared).
local function response_schema(path, status)
  local op = assert(doc.paths[path], "no path " .. path).get
  local r = op.responses[tostring(status)] or op.responses.default
  if r["$ref"] then r = V.resolve(doc, r["$ref"]) end
  return assert(r.content and r.content["application/json"], "no JSON content").schema
end

local function join(list, sep)
  local out = {}
  for i, v in ipairs(list) do out[i] = tostring(v) end
  return table.concat(out, sep or ",")
end

local function fmt_errors(errs, max)
  max = max or 25
  local out = {}
  for i = 1, math.min(#errs, max) do out[i] = "  " .. errs[i] end
  if #errs > max then out[#out + 1] = ("  ... and %d more"):format(#errs - max) end
  return table.concat(out, "\n")
end

local stats = { responses = 0, locations = 0, undeclared = {} }

describe("the OpenAPI validator", function()
  local function fails(schema, value, expect)
    local ok, errs = V.validate(doc, schema, value)
    assert.is_false(ok, "expected a failure for " .. V.show(value))
    assert.is_true(#errs > 0)
    if expect then
      local found = false
      for _, e in ipairs(errs) do if e:find(expect, 1, true) then found = true end end
      assert.is_true(found, "no error containing '" .. expect .. "' in:\n" .. fmt_errors(errs))
    end
    return errs
  end
  local function passes(schema, value)
    local ok, errs = V.validate(doc, schema, value)
    assert.is_true(ok, fmt_errors(errs))
  end

  it("names the JSON path of each error", function()
    local function evse(n, status)
      return ('{"id":"here:evcp:evse:%d","uid":"%d","status":"%s","modified":"2024-05-31T13:41:49.270Z",'
        .. '"connectors":[{"id":"1","standard":"IEC_62196_T2","format":"socket","powerType":"ac3Phase",'
        .. '"maxVoltage":230,"maxCurrent":16,"maxPower":11000.0}]}'):format(n, n, status)
    end
    local v = V.decode('{"items":[{"id":"here:evcp:charginglocation:a","location":{"lat":1,"lng":2}},'
      .. '{"id":"here:evcp:charginglocation:b","location":{"lat":1,"lng":2}},'
      .. '{"id":"here:evcp:charginglocation:c","location":{"lat":1,"lng":2}},'
      .. '{"id":"here:evcp:charginglocation:d","location":{"lat":1,"lng":2},'
      .. '"evses":[' .. evse(1, "available") .. "," .. evse(2, "foo") .. ']}]}')
    local errs = fails("#/components/schemas/ChargingLocations", v)
    assert.same({ '$.items[3].evses[1].status: "foo" not in enum' }, errs)
  end)

  it("rejects wrong types, missing required members and out-of-range values", function()
    fails("#/components/schemas/EvseStatus", "foo", "not in enum")
    passes("#/components/schemas/EvseStatus", "available")
    fails("#/components/schemas/ChargingLocation", V.decode('{"id":"here:evcp:charginglocation:x"}'),
      "$.location: required property missing")
    fails("#/components/schemas/ChargingLocation", V.decode('{"id":7,"location":{"lat":1,"lng":2}}'),
      "$.id: 7 is an integer, expected string")
    fails("#/components/schemas/ChargingLocation",
      V.decode('{"id":"here:evcp:charginglocation:x","location":{"lat":1,"lng":2},"isPullThrough":"yes"}'),
      "expected boolean")
    fails("#/components/schemas/ErrorResponse", V.decode('{"title":"t","status":400.5,"code":"c",'
      .. '"cause":"c","action":"a","correlationId":"x"}'), "$.status: 400.5 is a number, expected integer")
    fails({ type = "integer", minimum = 1, maximum = 7 }, 0, "below minimum 1")
    fails({ type = "integer", minimum = 1, maximum = 7 }, 9, "above maximum 7")
    passes({ type = "integer", minimum = 1, maximum = 7 }, 7)
    fails({ type = "string", minLength = 2, maxLength = 3 }, "\195\169", "shorter than minLength") -- one character
    fails({ type = "string", minLength = 2, maxLength = 3 }, "abcd", "longer than maxLength")
    fails({ type = "object", properties = { a = { type = "string" } }, additionalProperties = false },
      { a = "x", b = 1 }, "$.b: additional property not allowed")
    fails({ type = "array", items = { type = "string" } }, { "a", true }, "$[1]: true is a boolean")
    fails({ type = "number" }, "1", "expected number")
  end)

  it("counts whole floats as integers (lua-cjson decodes 150000 as 150000.0 on 5.4)", function()
    passes({ type = "integer" }, 150000.0)
    passes({ type = "integer" }, 150000)
    fails({ type = "integer" }, 1.5, "expected integer")
    passes({ type = "number" }, 1.5)
  end)

  it("tells [] from {} and checks array sizes and uniqueness", function()
    fails("#/components/schemas/ChargingLocation",
      V.decode('{"id":"here:evcp:charginglocation:x","location":{"lat":1,"lng":2},"evses":{}}'),
      "$.evses: {} is an object, expected array")
    fails({ type = "object" }, V.decode("[]"), "expected object")
    passes({ type = "object" }, V.decode("{ }"))
    passes({ type = "array" }, V.decode("[]"))
    passes({ type = "string" }, V.decode('["{}"]')[1])
    fails({ type = "array", uniqueItems = true }, V.decode('[{"a":1,"b":[2]},{"b":[2],"a":1.0}]'), "uniqueItems")
    fails({ type = "array", minItems = 1 }, {}, "fewer than minItems")
    local ids = {}
    for i = 1, 101 do ids[i] = { id = "here:evcp:charginglocation:" .. i, location = { lat = 0, lng = 0 } } end
    fails("#/components/schemas/ChargingLocations", { items = ids }, "more than maxItems 100")
  end)

  it("lists undeclared members only in strict mode", function()
    local s = { type = "object", properties = { a = { type = "string" } } }
    passes(s, { a = "x", b = 1 })
    local ok, errs = V.validate(doc, s, { a = "x", b = 1 }, { strict = true })
    assert.is_false(ok)
    assert.same({ "$.b: property not declared by the schema (strict)" }, errs)
  end)

  it("handles nullable", function()
    passes({ type = "string", nullable = true }, V.null)
    fails({ type = "string" }, V.null, "null is a null, expected string")
  end)

  it("checks the patterns and formats the document uses", function()
    fails("#/components/schemas/EMobilityId", "DE*CPI", "does not match pattern")
    fails("#/components/schemas/EMobilityId", "DE-CPIX", "does not match pattern")
    passes("#/components/schemas/EMobilityId", "DE-CPI")
    fails("#/components/schemas/CountryCode", "DE", "does not match pattern")
    passes("#/components/schemas/CountryCode", "deu")
    fails("#/components/schemas/Id", "charginglocation:x", "does not match pattern")
    passes("#/components/schemas/Id", "here:evcp:evse:02605ba3")
    passes("#/components/schemas/IdParameter", "anything: at all") -- the regex matches every string
    local tp = "^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$"
    for _, s in ipairs({ "00:00:00", "19:59:59", "23:59:59" }) do assert.is_true(V.regex_match(tp, s), s) end
    for _, s in ipairs({ "24:00:00", "8:00:00", "08:00", "08:60:00", "x08:00:00" }) do
      assert.is_false(V.regex_match(tp, s), s)
    end
    local dt = { type = "string", format = "date-time" }
    passes(dt, "2024-05-31T13:41:49.270Z")
    passes(dt, "2024-05-31T13:41:49+02:00")
    fails(dt, "2024-05-31 13:41:49Z", "not a valid date-time")
    fails(dt, "2024-13-31T13:41:49Z", "not a valid date-time")
    fails(dt, "2024-05-31T13:41:49", "not a valid date-time")
    local d = { type = "string", format = "date" }
    passes(d, "2024-02-29")
    fails(d, "2023-02-29", "not a valid date")
    fails(d, "2024-5-31", "not a valid date")
  end)

  it("compiles every pattern of the document (untranslatable ones are listed)", function()
    V.compile_all(doc)
    local n = 0
    for re, why in pairs(V.skipped_patterns) do
      n = n + 1
      print(("openapi_validator: pattern not checked: %s (%s)"):format(re, why))
    end
    -- the tariff query parameter's regex is the only one outside the subset,
    -- and it belongs to a request parameter, not to a response schema
    for re in pairs(V.skipped_patterns) do
      assert.is_truthy(re:find("partner:", 1, true), "unexpected skipped pattern " .. re)
    end
    assert.is_true(n <= 1)
  end)

  it("accepts the document's own examples", function()
    for name, s in pairs(doc.components.schemas) do
      if s.example ~= nil then
        local ok, errs = V.validate(doc, s, s.example, "$<" .. name .. " example>")
        assert.is_true(ok, fmt_errors(errs))
      end
    end
    for name, r in pairs(doc.components.responses) do
      local media = r.content["application/json"]
      for _, ex in pairs(media.examples or {}) do
        if ex["$ref"] then ex = V.resolve(doc, ex["$ref"]) end
        local ok, errs = V.validate(doc, media.schema, ex.value, "$<" .. name .. " example>")
        assert.is_true(ok, fmt_errors(errs))
      end
    end
  end)
end)

describe("emulator responses match the OpenAPI document #slow", function()
  local client, restricted, anonymous, transport
  local seq = 0

  setup(function()
    assert(URL, "EVCP_TEST_URL is not set: run the suite with spec/run.sh")
    -- the raw transport (no evcp client in between): each "who" is the
    -- apiKey it adds, or none for the 401 "no credentials" case
    transport = require("evcp.core").curl_transport({ user_agent = "evcp-spec", compress = true })
    client = { key = "demo-key" }
    restricted = { key = "restricted-key" }
    anonymous = {}
  end)

  teardown(function()
    if transport then transport:close() end
    print(("60-schema_spec: %d responses validated (%d location objects)"):format(stats.responses, stats.locations))
    -- members the schemas do not declare are allowed by OpenAPI; list them
    local names = {}
    for k in pairs(stats.undeclared) do names[#names + 1] = k end
    table.sort(names)
    for _, k in ipairs(names) do
      print(("60-schema_spec: note: undeclared member %s (%d times)"):format(k, stats.undeclared[k]))
    end
  end)

  -- Runs a batch. Each case: { path = spec path ("/locations/{id}"), url =
  -- "/v3/...", query = "...", status = expected, [client = ...],
  -- [no_request_id = true] }. Returns, per case, the decoded body and the
  -- validation errors (headers and status are asserted here).
  local function run(cases, who)
    local reqs = {}
    for i, c in ipairs(cases) do
      seq = seq + 1
      c.request_id = not c.no_request_id and ("schema-spec-" .. seq) or nil
      local key = (who or client).key
      local q = c.query or ""
      if key then q = q .. (q ~= "" and "&" or "") .. "apiKey=" .. key end
      reqs[i] = { method = "GET", url = URL .. c.url .. (q ~= "" and ("?" .. q) or ""),
        headers = { Accept = "application/json", ["X-Request-ID"] = c.request_id } }
    end
    local results = transport:run(reqs)
    for _, r in ipairs(results) do
      if r.headers then
        r.content_type, r.correlation_id = r.headers["content-type"], r.headers["x-correlation-id"]
        r.request_id = r.headers["x-request-id"]
      end
    end
    local out = {}
    for i, c in ipairs(cases) do
      local r = results[i]
      local what = c.url .. (c.query and c.query ~= "" and ("?" .. c.query:sub(1, 120)) or "")
      assert.is_nil(r.kind, what .. ": transport failure " .. tostring(r.message))
      assert.equal(c.status, r.status, what .. ": status (body " .. tostring(r.body):sub(1, 300) .. ")")
      assert.is_truthy(r.content_type and r.content_type:find("^application/json"), what .. ": content type "
        .. tostring(r.content_type))
      assert.is_string(r.correlation_id, what .. ": no X-Correlation-ID")
      assert.is_true(#r.correlation_id > 0, what .. ": empty X-Correlation-ID")
      if c.request_id then
        assert.equal(c.request_id, r.request_id, what .. ": X-Request-ID not echoed")
      else
        assert.is_true(r.request_id == nil or r.request_id == "", what .. ": X-Request-ID without a request")
      end
      local ok, body = pcall(V.decode, r.body)
      assert.is_true(ok, what .. ": invalid JSON: " .. tostring(body))
      local schema = c.schema or response_schema(c.path, c.status)
      -- strict: also list members no schema declares (a note, not a failure)
      local _, all = V.validate(doc, schema, body, { strict = true })
      local errs = {}
      for _, e in ipairs(all) do
        if e:find("(strict)", 1, true) then
          local k = e:gsub("%[%d+%]", "[]"):gsub(":.*", "")
          stats.undeclared[k] = (stats.undeclared[k] or 0) + 1
        else
          errs[#errs + 1] = e
        end
      end
      stats.responses = stats.responses + 1
      if type(body) == "table" and type(body.items) == "table" then
        stats.locations = stats.locations + #body.items
      elseif c.path == "/locations/{id}" and c.status == 200 then
        stats.locations = stats.locations + 1
      end
      -- error bodies carry the request's correlation id
      if c.status >= 400 and type(body) == "table" and body.correlationId ~= nil then
        assert.equal(r.correlation_id, body.correlationId, what .. ": correlationId vs header")
      end
      out[i] = { body = body, errors = errs, what = what, result = r }
    end
    return out
  end

  -- Runs a batch and asserts every body validates.
  local function check(cases, who)
    local res = run(cases, who)
    local bad = {}
    for _, r in ipairs(res) do
      if #r.errors > 0 then bad[#bad + 1] = r.what .. ":\n" .. fmt_errors(r.errors, 10) end
    end
    assert.is_true(#bad == 0, "schema violations:\n" .. table.concat(bad, "\n"))
    return res
  end

  -- Location ids to exercise: the seed, several per country, with tariffs,
  -- with several EVSEs, with many connector groups.
  local function sample_ids()
    local db = dataset()
    local picked, seen = {}, {}
    local function add(l)
      if l and not seen[l.id] then seen[l.id] = true; picked[#picked + 1] = l.id end
    end
    add(db.locations[1])
    local per_country, tariffs, multi, most_evses = {}, 0, 0, nil
    for _, l in ipairs(db.locations) do
      local cc = l.address and l.address.countryCode or "?"
      if (per_country[cc] or 0) < 2 then per_country[cc] = (per_country[cc] or 0) + 1; add(l) end
      if tariffs < 3 and l.tariffs and #l.tariffs > 1 then tariffs = tariffs + 1; add(l) end
      if multi < 3 and l.evses and #l.evses > 3 then multi = multi + 1; add(l) end
      if l.evses and (not most_evses or #l.evses > #most_evses.evses) then most_evses = l end
    end
    add(most_evses)
    return picked
  end

  local LOCATION_FIELDS = { "address", "evses", "locationInfo", "emsps", "connectorGroups", "tariffs", "nearby" }
  local ALL_OPEN = "address,evses,locationInfo,emsps,connectorGroups,tariffs,nearby"
  local RESTRICTED_FIELDS = { "predictions", "reliability", "truckRestrictions" }

  describe("GET /locations/{id}", function()
    it("without fields, with each field alone and with all of them", function()
      local cases = {}
      for _, id in ipairs(sample_ids()) do
        local url = "/v3/locations/" .. id
        cases[#cases + 1] = { path = "/locations/{id}", url = url, status = 200 }
        for _, f in ipairs(LOCATION_FIELDS) do
          cases[#cases + 1] = { path = "/locations/{id}", url = url, query = "fields=" .. f, status = 200 }
        end
        cases[#cases + 1] = { path = "/locations/{id}", url = url, query = "fields=" .. ALL_OPEN, status = 200 }
        cases[#cases + 1] = { path = "/locations/{id}", url = url, query = "fields=" .. ALL_OPEN .. "&tariff=all",
          status = 200 }
        cases[#cases + 1] = { path = "/locations/{id}", url = url, query = "fields=tariffs,evses&tariff=cpo&tariff=emsp",
          status = 200 }
      end
      local res = check(cases)
      -- the all-fields answers really carry the groups that were validated
      local with_evses = 0
      for _, r in ipairs(res) do
        if r.body.evses and #r.body.evses > 0 then with_evses = with_evses + 1 end
      end
      assert.is_true(with_evses > 0)
    end)

    it("answers a bare content id like the full id", function()
      local id = sample_ids()[1]
      local cid = id:match("^here:evcp:charginglocation:(.+)$")
      check({ { path = "/locations/{id}", url = "/v3/locations/" .. cid, query = "fields=" .. ALL_OPEN, status = 200 } })
    end)

    it("with the restricted fields and the restricted key", function()
      local cases = {}
      for _, id in ipairs(sample_ids()) do
        local url = "/v3/locations/" .. id
        for _, f in ipairs(RESTRICTED_FIELDS) do
          cases[#cases + 1] = { path = "/locations/{id}", url = url, query = "fields=" .. f, status = 200 }
        end
        cases[#cases + 1] = { path = "/locations/{id}", url = url, query = "fields=predictions&days=1", status = 200 }
        cases[#cases + 1] = { path = "/locations/{id}", url = url, query = "fields=predictions&days=7", status = 200 }
        cases[#cases + 1] = { path = "/locations/{id}", url = url,
          query = "fields=" .. ALL_OPEN .. ",predictions,reliability,truckRestrictions&tariff=all", status = 200 }
      end
      check(cases, restricted)
    end)
  end)

  describe("GET /locations", function()
    local function batches(n_batches, from)
      local db = dataset()
      local out = {}
      from = from or 1
      for b = 0, n_batches - 1 do
        local ids = {}
        for i = from + b * 100, math.min(#db.locations, from + b * 100 + 99) do ids[#ids + 1] = db.locations[i].id end
        if #ids > 0 then out[#out + 1] = join(ids) end
      end
      return out
    end

    it("100 ids at a time with various fields and connector types", function()
      local cases = {}
      local queries = {
        "", "&fields=" .. ALL_OPEN, "&fields=" .. ALL_OPEN .. "&tariff=all", "&fields=evses",
        "&fields=connectorGroups", "&fields=tariffs&tariff=all", "&fields=evses,connectorGroups&connectorTypes=IEC_62196_T2",
        "&fields=evses,connectorGroups,tariffs&connectorTypes=IEC_62196_T2,IEC_62196_T2_COMBO,CHADEMO",
        "&fields=evses&connectorTypes=NEMA_5_20", "&connectorTypes=IEC_62196_T1_COMBO",
      }
      for _, ids in ipairs(batches(3)) do
        for _, q in ipairs(queries) do
          cases[#cases + 1] = { path = "/locations", url = "/v3/locations", query = "ids=" .. ids .. q, status = 200 }
        end
      end
      local res = check(cases)
      assert.equal(100, #res[1].body.items)
    end)

    it("reports unknown ids in missingItems", function()
      local db = dataset()
      local ids = { db.locations[1].id, "here:evcp:charginglocation:nosuchlocation", "nosuchcontentid" }
      local res = check({ { path = "/locations", url = "/v3/locations", query = "ids=" .. join(ids) .. "&fields=evses",
        status = 200 } })
      assert.is_table(res[1].body.missingItems)
    end)

    it("every location of the dataset with every field (restricted key)", function()
      local cases = {}
      for _, ids in ipairs(batches(math.ceil(#dataset().locations / 100))) do
        cases[#cases + 1] = { path = "/locations", url = "/v3/locations", status = 200,
          query = "ids=" .. ids .. "&fields=" .. ALL_OPEN .. ",predictions,reliability,truckRestrictions&tariff=all" }
      end
      check(cases, restricted)
    end)
  end)

  describe("GET /countryMetadata", function()
    it("with and without fields and countryCodes", function()
      local cases = {}
      local fields = { "", "fields=eMobilityServiceProviders", "fields=operators", "fields=connectorTypes",
        "fields=eMobilityServiceProviders,operators,tariffs,connectorTypes", "fields=operators,tariffs" }
      for _, f in ipairs(fields) do
        for _, cc in ipairs({ "", "countryCodes=DEU,GBR", "countryCodes=deu,USA,ZZZ,FIN" }) do
          local q = f
          if cc ~= "" then q = (q ~= "" and q .. "&" or "") .. cc end
          cases[#cases + 1] = { path = "/countryMetadata", url = "/v3/countryMetadata", query = q, status = 200 }
        end
      end
      local res = check(cases)
      local missing = false
      for _, r in ipairs(res) do if r.body.missingCountries then missing = true end end
      assert.is_true(missing, "ZZZ should be reported missing")
    end)
  end)

  describe("service endpoints", function()
    it("/health, /version and /openapi", function()
      local res = check({
        { path = "/health", url = "/v3/health", status = 200 },
        { path = "/version", url = "/v3/version", status = 200 },
        { path = "/openapi", url = "/v3/openapi", status = 200 },
        { path = "/health", url = "/v3/health", status = 200, no_request_id = true },
      })
      assert.equal("ok", res[1].body.status)
      assert.is_string(res[3].body.openapi)
      assert.is_table(res[3].body.paths)
    end)
  end)

  describe("error responses", function()
    it("400 for bad parameters", function()
      local db = dataset()
      local id = db.locations[1].id
      local ids101 = {}
      for i = 1, 101 do ids101[i] = db.locations[i].id end
      local L, LS = "/locations/{id}", "/locations"
      local u = "/v3/locations/" .. id
      check({
        { path = L, url = u, query = "fields=bogus", status = 400 },
        { path = L, url = u, query = "fields=evses,evses", status = 400 },
        { path = L, url = u, query = "days=9", status = 400 },
        { path = L, url = u, query = "days=0", status = 400 },
        { path = L, url = u, query = "days=abc", status = 400 },
        { path = L, url = u, query = "tariff=nonsense", status = 400 },
        { path = LS, url = "/v3/locations", query = "", status = 400 },
        { path = LS, url = "/v3/locations", query = "fields=evses", status = 400 },
        { path = LS, url = "/v3/locations", query = "ids=" .. join(ids101), status = 400 },
        { path = LS, url = "/v3/locations", query = "ids=" .. id .. "&fields=bogus", status = 400 },
        { path = LS, url = "/v3/locations", query = "ids=" .. id .. "&days=9", status = 400 },
        { path = LS, url = "/v3/locations", status = 400,
          query = "ids=" .. id .. "&connectorTypes=IEC_62196_T2,IEC_62196_T2" },
        { path = LS, url = "/v3/locations", status = 400,
          query = "ids=" .. id .. "&connectorTypes=IEC_62196_T1,IEC_62196_T2,IEC_62196_T2_COMBO,CHADEMO,TESLA_S,NEMA_5_20" },
        { path = "/countryMetadata", url = "/v3/countryMetadata", query = "countryCodes=DE", status = 400 },
        { path = "/countryMetadata", url = "/v3/countryMetadata", query = "fields=bogus", status = 400 },
      })
    end)

    it("404 for an unknown location id", function()
      check({
        { path = "/locations/{id}", url = "/v3/locations/here:evcp:charginglocation:nosuchlocation", status = 404 },
        { path = "/locations/{id}", url = "/v3/locations/nosuchcontentid", query = "fields=evses", status = 404 },
        -- an undeclared path: the emulator answers with the generic error shape
        { url = "/v3/nosuchpath", status = 404, schema = { ["$ref"] = "#/components/schemas/GenericErrorResponse" } },
      })
    end)

    it("401 without a key or with a wrong one", function()
      local id = dataset().locations[1].id
      local cases = {
        { path = "/locations/{id}", url = "/v3/locations/" .. id, status = 401 },
        { path = "/locations", url = "/v3/locations", query = "ids=" .. id, status = 401 },
        { path = "/countryMetadata", url = "/v3/countryMetadata", status = 401 },
        { path = "/health", url = "/v3/health", status = 401 },
        { path = "/version", url = "/v3/version", status = 401 },
        { path = "/openapi", url = "/v3/openapi", status = 401 },
      }
      local res = check(cases, anonymous)
      assert.equal("No credentials found", res[1].body.error_description)
      local wrong = evcp.new({ base_url = URL, api_key = "wrong-key" })
      local ok, err = pcall(check, {
        { path = "/locations/{id}", url = "/v3/locations/" .. id, status = 401 },
        { path = "/version", url = "/v3/version", status = 401, no_request_id = true },
      }, wrong)
      wrong:close()
      assert(ok, err)
    end)

    it("403 for restricted fields with demo-key", function()
      local id = dataset().locations[1].id
      local cases = {}
      for _, f in ipairs(RESTRICTED_FIELDS) do
        cases[#cases + 1] = { path = "/locations/{id}", url = "/v3/locations/" .. id, query = "fields=" .. f, status = 403 }
        cases[#cases + 1] = { path = "/locations", url = "/v3/locations", query = "ids=" .. id .. "&fields=evses," .. f,
          status = 403 }
      end
      local res = check(cases)
      assert.equal(403, res[1].body.status)
    end)
  end)
end)

-- The last spec file that can start emulators of its own runs before this: every
-- emulator the suite started through spec/emulator_process.lua must be gone by now.
describe("emulator processes started by the specs", function()
  it("are all stopped", function()
    local ep = require("emulator_process")
    local forgotten = ep.stop_all() -- stopped here, but still a failure: not a leak
    assert.are.equal(0, forgotten, "emulators their spec did not stop")
    assert.are.same({}, ep.leftovers())
  end)
end)
