-- Requests are exactly what the caller asked for, answers of the wrong
-- shape are decode errors, secrets never leave in errors, and the client's
-- layers (auth, policy, transport seam) behave as documented (issue 7 §2, §5).
local evcp = require("evcp")
local raw = require("rawserver_process")
local h = require("helper")

local SECRET = "k3y&with=odd#chars+ and%"
local SECRET_ENC = "k3y%26with%3Dodd%23chars%2B%20and%25"

-- A transport stub (unit tests may stub): answers[i] is the result of the
-- i-th request it is asked to run (the last one repeats).
local function stub(answers)
  local t = { calls = {}, pauses = {}, closed = 0 }
  function t.run(self, reqs)
    local out = {}
    for i, r in ipairs(reqs) do
      self.calls[#self.calls + 1] = r
      local a = answers[#self.calls] or answers[#answers]
      local res = {}
      for k, v in pairs(a) do res[k] = v end
      out[i] = res
    end
    return out
  end
  function t.sleep(self, s) self.pauses[#self.pauses + 1] = s end
  function t.close(self) self.closed = self.closed + 1 end
  return t
end

local function json_answer(status, body, headers)
  headers = headers or {}
  headers["content-type"] = headers["content-type"] or "application/json"
  return { status = status, headers = headers, body = body }
end

local SEED = h.fixture("seed-001-evses.json")
local unpack_ = table.unpack or unpack

describe("requests carry exactly the caller's values (bytes at the server)", function()
  local srv = {}
  local c
  setup(function()
    raw.start(srv)
    c = evcp.new({ base_url = srv.base .. "/echo", api_key = SECRET, timeout = 5 })
  end)
  teardown(function()
    if c then c:close() end
    raw.stop(srv)
  end)
  before_each(function() raw.clear(srv) end)

  local function request_line()
    local reqs = raw.requests(srv)
    assert.equal(1, #reqs, "one request")
    return reqs[1]:match("^([^\r\n]*)"), reqs[1]
  end

  it("percent-encodes ids in the query: no injected parameter, no cut URL, no mangling", function()
    local _, err = c:locations({ "a&apiKey=X", "b#c", "d+e f", "ü" })
    assert.equal("decode", err.kind) -- the echo is not a v3 answer
    local line = request_line()
    assert.equal("GET /echo/v3/locations?ids=a%26apiKey%3DX,b%23c,d%2Be%20f,%C3%BC&apiKey="
      .. SECRET_ENC .. " HTTP/1.1", line)
  end)

  it("percent-encodes a location id in the path and options in the query", function()
    c:location("x:a/b?c&d", { tariff = { "1f90fdf0-cca5-11ed-be23-42010aa40002,A&B" }, request_id = "r 1" })
    local line, all = request_line()
    assert.equal("GET /echo/v3/locations/a%2Fb%3Fc%26d?tariff=1f90fdf0-cca5-11ed-be23-42010aa40002,A%26B&apiKey="
      .. SECRET_ENC .. " HTTP/1.1", line)
    assert.matches("\r\nX%-Request%-ID: r 1\r\n", all)
    assert.matches("\r\nAccept: application/json\r\n", all)
  end)

  it("v2: ids, coordinates exactly as given, and Accept by format", function()
    c.v2:stations_bulk({ "s&1", "s 2" }, { format = "xml" })
    local line, all = request_line()
    assert.equal("GET /echo/ev/stations/bulk.xml?id=s%261&id=s%202&apiKey=" .. SECRET_ENC .. " HTTP/1.1", line)
    assert.matches("\r\nAccept: application/xml\r\n", all)
    raw.clear(srv)
    c.v2:stations({ prox = { 37.7749295, -122.4194155, 1500 } })
    line = request_line()
    assert.equal("GET /echo/ev/stations.json?prox=37.7749295,-122.4194155,1500&apiKey=" .. SECRET_ENC
      .. " HTTP/1.1", line)
    raw.clear(srv)
    c.v2:stations({ bbox = { "52.6000001", 13.2, 52.4, "13.5" } })
    line = request_line()
    assert.equal("GET /echo/ev/stations.json?bbox=52.6000001,13.2;52.4,13.5&apiKey=" .. SECRET_ENC
      .. " HTTP/1.1", line)
  end)

  it("sends a bearer token as a header and nowhere else", function()
    local t = evcp.new({ base_url = srv.base .. "/echo", access_token = "tok-en.~_+/8==", timeout = 5 })
    t:health()
    t:close()
    local line, all = request_line()
    assert.equal("GET /echo/v3/health HTTP/1.1", line)
    assert.truthy(all:find("\r\nAuthorization: Bearer tok-en.~_+/8==\r\n", 1, true))
    -- only RFC 6750's token characters: nothing that could split or bend a header
    assert.has_error(function() evcp.new({ base_url = srv.base, access_token = "tok en" }) end,
      "evcp.new: option 'access_token' must be a bearer token (RFC 6750 token68 characters)")
  end)

  it("every call ends within its timeout, even a tiny one", function()
    local slow = evcp.new({ base_url = srv.base .. "/silent", api_key = "k", timeout = 0.001,
      connect_timeout = 0.001 })
    local socket = require("socket")
    local t0 = socket.gettime()
    local v, err = slow:location("x")
    assert.is_nil(v)
    assert.is_true(err.kind == "timeout" or err.kind == "network", tostring(err))
    assert.is_true(socket.gettime() - t0 < 2, "took " .. (socket.gettime() - t0))
    slow:close()
  end)
end)

describe("answers of the wrong shape are decode errors", function()
  local cases = {
    { "location", { "x" }, '{"items":[]}', "not one location" },
    { "locations", { { "x" } }, '{"items":{"a":1}}', "items: expected an array" },
    { "locations", { { "x" } }, SEED, "no 'items'" },
    { "locations", { { "x" } }, '{"items":[],"missingItems":{"a":"b"}}', "missingItems" },
    { "locations", { { "x" } }, '[]', "no 'items'" },
    { "health", {}, "[]", "HealthResponse" },
    { "health", {}, '{"status":"fine"}', "HealthResponse" },
    { "version", {}, '{"apiVersion":3}', "VersionResponse" },
    { "openapi", {}, '{"x":1}', "OpenAPI" },
    { "country_metadata", {}, '{"countries":{"a":1}}', "MetadataByCountry" },
    { "location", { "x" }, '{"id":"x","location":{"lat":1,"lng":2}}\0{"junk":', "NUL" },
  }
  for i, case in ipairs(cases) do
    it(case[1] .. " (" .. i .. ": " .. case[4] .. ")", function()
      local t = stub({ json_answer(200, case[3]) })
      local c = evcp.new({ api_key = "k", transport = t })
      local v, err = c[case[1]](c, unpack_(case[2]))
      assert.is_nil(v)
      assert.equal("decode", err.kind, tostring(err))
      assert.is_false(err.retryable)
      assert.matches(case[4], tostring(err), 1, true)
    end)
  end

  it("v2: a count that is not an integer, a page count as an integer", function()
    local c = evcp.new({ api_key = "k", transport = stub({ json_answer(200, '{"count":1.5}') }) })
    local v, err = c.v2:count({ prox = { 1, 2, 3 } })
    assert.is_nil(v)
    assert.equal("decode", err.kind)
    c = evcp.new({ api_key = "k", transport = stub({ json_answer(200, '{"hasMore":false,"count":0,"evStations":{}}') }) })
    local page = assert(c.v2:stations({ prox = { 1, 2, 3 } }))
    assert.equal(0, page.count)
    if math.type then assert.equal("integer", math.type(page.count)) end
  end)
end)

describe("secrets never leave in errors", function()
  it("scrubs a key the server echoes back from tostring, cause and body", function()
    local body = '{"error":"Unauthorized","error_description":"apiKey ' .. SECRET .. ' is invalid",'
      .. '"cause":"key ' .. SECRET_ENC .. '","nested":{"k":["' .. SECRET .. '"]}}'
    local c = evcp.new({ api_key = SECRET, transport = stub({ json_answer(401, body) }) })
    local _, err = c:location("x")
    assert.equal("http", err.kind)
    local function no_secret(s, where)
      assert.is_nil(s:find(SECRET, 1, true), where .. ": " .. s)
      assert.is_nil(s:find(SECRET_ENC, 1, true), where .. ": " .. s)
    end
    no_secret(tostring(err), "tostring")
    no_secret(err.error_description, "error_description")
    no_secret(require("evcp.json").encode(err.body), "body")
    assert.matches("***", err.error_description, 1, true)
  end)

  it("never shows the key in a client's or its parts' tostring", function()
    local c = evcp.new({ base_url = "http://127.0.0.1:9", api_key = SECRET })
    for _, s in ipairs({ tostring(c), tostring(c.v2) }) do
      assert.is_nil(s:find(SECRET, 1, true), s)
    end
    c:close()
  end)
end)

describe("the retry policy (one for every API)", function()
  it("retries v2 like v3, honouring Retry-After, and says how many attempts it made", function()
    local t = stub({ json_answer(503, '{"error":"busy"}', { ["retry-after"] = "2" }),
      json_answer(503, '{"error":"busy"}'), json_answer(200, '{"count":7}') })
    local c = evcp.new({ api_key = "k", transport = t, max_attempts = 3 })
    assert.equal(7, c.v2:count({ prox = { 1, 2, 3 } }))
    assert.equal(3, #t.calls)
    assert.equal(2, #t.pauses)
    assert.is_true(t.pauses[1] >= 2, "Retry-After honoured")
    assert.is_true(t.pauses[2] <= 0.4, "full jitter below base * 2")
    t = stub({ json_answer(503, '{"error":"busy"}') })
    c = evcp.new({ api_key = "k", transport = t, max_attempts = 2 })
    local _, err = c:health()
    assert.equal(2, err.attempts)
    assert.matches("2 attempts", tostring(err), 1, true)
  end)

  it("does not retry what cannot succeed: 4xx, too large, TLS, decode", function()
    for _, a in ipairs({ json_answer(404, "{}"), { kind = "too_large", message = "body larger than 1024 bytes" },
      { kind = "tls", message = "certificate" }, { kind = "decode", message = "gzip" } }) do
      local t = stub({ a })
      local c = evcp.new({ api_key = "k", transport = t, max_attempts = 5 })
      local _, err = c:location("x")
      assert.equal(1, #t.calls, tostring(err))
      assert.is_false(err.retryable)
    end
  end)

  it("re-applies authentication on every attempt", function()
    local t = stub({ { kind = "network", message = "reset" }, json_answer(200, SEED) })
    local c = evcp.new({ api_key = "k", transport = t, max_attempts = 2 })
    assert(c:location("x"))
    assert.equal(t.calls[1].url, t.calls[2].url)
    assert.matches("apiKey=k$", t.calls[2].url)
    assert.is_not.equal(t.calls[1], t.calls[2])
  end)
end)

describe("one Client class", function()
  it("close() closes the transport it owns once, and the v2 part with it", function()
    local t = stub({ json_answer(200, SEED) })
    local c = evcp.new({ api_key = "k", transport = t })
    c:close()
    c:close()
    assert.equal(0, t.closed, "a transport handed in belongs to the caller")
    assert.has_error(function() c.v2:count({ prox = { 1, 2, 3 } }) end)
    assert.has_error(function() c:location("x") end)
  end)

  it("<close> closes the client and its v2 part with it (Lua 5.4)", function()
    if rawget(_G, "jit") or _VERSION ~= "Lua 5.4" then return pending("needs Lua 5.4's <close>") end
    local run = assert(load([[
      local evcp = ...
      local kept
      do
        local c <close> = evcp.new({ base_url = "http://127.0.0.1:9", api_key = "k" })
        kept = c
        assert(not c:is_closed())
      end
      return kept
    ]]))
    local c = run(evcp)
    assert.is_true(c:is_closed())
    assert.has_error(function() c.v2:count({ prox = { 1, 2, 3 } }) end, "count: the client is closed")
  end)

  it("is read-only and its metatable is locked", function()
    local c = evcp.new({ base_url = "http://127.0.0.1:9", api_key = "k" })
    assert.equal("evcp.Client", getmetatable(c))
    assert.equal("evcp.V2", getmetatable(c.v2))
    assert.has_error(function() c.v2 = nil end)
    assert.has_error(function() c.location = print end)
    assert.is_nil(c._fetch, "no private entry point is a method")
    c:close()
  end)

  it("reports misuse at the caller's line", function()
    local c = evcp.new({ base_url = "http://127.0.0.1:9", api_key = "k" })
    local line = debug.getinfo(1, "l").currentline
    local ok, msg = pcall(function() c:location(nil) end)
    assert.is_false(ok)
    assert.matches("41%-requests_spec%.lua:" .. (line + 1) .. ": location: argument #1 %(id%)", msg)
    ok, msg = pcall(function() c.v2:stations({}) end)
    assert.is_false(ok)
    assert.matches("41%-requests_spec%.lua:%d+: stations: ", msg)
    c:close()
    ok, msg = pcall(function() c:location("x") end)
    assert.is_false(ok)
    assert.matches("41%-requests_spec%.lua:%d+: location: the client is closed", msg)
    ok, msg = pcall(function() c.v2:count({ prox = { 1, 2, 3 } }) end)
    assert.is_false(ok)
    assert.matches("41%-requests_spec%.lua:%d+: count: the client is closed", msg)
    ok, msg = pcall(function() c.location(5) end)
    assert.is_false(ok)
    assert.matches("41%-requests_spec%.lua:%d+: location: call it as client:location", msg)
    ok, msg = pcall(function() evcp.new({ api_key = "k", timeout = 1e-4 }) end)
    assert.is_false(ok)
    assert.matches("41%-requests_spec%.lua:%d+: evcp.new: option 'timeout'", msg)
    c:close()
  end)

  it("refuses timeouts that would disable or overflow the transport's", function()
    for _, v in ipairs({ 0, 1e-4, 0.0009, 1e308, 0 / 0, math.huge, -1, 86401 }) do
      assert.has_error(function() evcp.new({ api_key = "k", timeout = v }) end)
      assert.has_error(function() evcp.new({ api_key = "k", connect_timeout = v }) end)
    end
  end)

  it("accepts extensible enum values HERE may add, and repeated metadata fields", function()
    local t = stub({ json_answer(200, '{"items":[]}'), json_answer(200, '{"countries":[]}'),
      json_answer(200, '{"items":[]}') })
    local c = evcp.new({ api_key = "k", transport = t })
    assert(c:locations({ "x" }, { connectorTypes = { "NEW_TYPE_2030" } }))
    assert.matches("connectorTypes=NEW_TYPE_2030", t.calls[1].url, 1, true)
    assert(c:country_metadata(nil, { fields = { "operators", "operators" } }))
    assert.matches("fields=operators,operators", t.calls[2].url, 1, true)
    -- a partner id of 36 characters, 4 of them two bytes long
    local pid = "1f90fdf0-cca5-11ed-be23-42010aa4ääää"
    assert(c:locations({ "x" }, { tariff = { "partner:" .. pid } }))
  end)
end)

describe("misuse of objects names the class or function", function()
  it("a write to a view names its class", function()
    local loc = assert(evcp.v3.parse(SEED))
    local ok, msg = pcall(function() loc.name = "x" end)
    assert.is_false(ok)
    assert.matches("evcp.Location is read-only (field 'name')", msg, 1, true)
    local evse = loc:evses()()
    ok, msg = pcall(function() evse.status = "x" end)
    assert.is_false(ok)
    assert.matches("evcp.Evse is read-only (field 'status')", msg, 1, true)
  end)
end)

describe("percent-encoding and control-byte checks (csrc/text.c)", function()
  local core = require("evcp.core")
  -- the rule written out independently, one byte at a time
  local function reference(s, seps)
    return (s:gsub(".", function(c)
      if c:match("^[A-Za-z0-9%-%._~]$") or (seps and c:match("^[,;:]$")) then return c end
      return string.format("%%%02X", c:byte())
    end))
  end
  it("escapes every byte outside the unreserved set, as the rule says", function()
    local all = {}
    for b = 0, 255 do all[#all + 1] = string.char(b) end
    all = table.concat(all)
    assert.equal(reference(all), core.percent_encode(all))
    assert.equal(reference(all, true), core.percent_encode(all, true))
    assert.equal("a%20b%2Bc%26d%3De%23f%25", core.percent_encode("a b+c&d=e#f%"))
    assert.equal("%C3%BC,x;y:z", core.percent_encode("ü,x;y:z", true))
    assert.equal("%2C%3B%3A", core.percent_encode(",;:"))
    assert.equal("", core.percent_encode(""))
  end)
  it("finds the first control byte", function()
    assert.is_nil(core.text_bad("plain text ü"))
    assert.equal(2, core.text_bad("a\0b"))
    assert.equal(3, core.text_bad("ab\127"))
    assert.equal(1, core.text_bad("\r\n"))
  end)
end)

describe("found by a new user's review", function()
  it("each_station hands a failure to the for loop", function()
    local t = stub({ json_answer(401, '{"error":"Unauthorized","error_description":"Invalid credentials"}') })
    local c = evcp.new({ api_key = "k", transport = t })
    local seen = {}
    for loc, err in c.v2:each_station({ prox = { 52.5, 13.4, 1000 } }) do
      seen[#seen + 1] = { loc, err }
    end
    assert.equal(1, #seen)
    assert.is_false(seen[1][1])
    assert.equal(401, seen[1][2].status)
  end)

  it("refuses credentials and bad ports in base_url, without quoting them", function()
    for _, u in ipairs({ "http://bob:s3cret@127.0.0.1:8080", "https://tok@host" }) do
      local ok, msg = pcall(evcp.new, { base_url = u, api_key = "k" })
      assert.is_false(ok)
      assert.matches("evcp.new: option 'base_url' must not carry credentials", msg, 1, true)
      assert.is_nil(msg:find("s3cret", 1, true))
    end
    for _, u in ipairs({ "http://h:0", "http://h:99999", "http://h:" }) do
      local ok, msg = pcall(evcp.new, { base_url = u, api_key = "k" })
      assert.is_false(ok)
      assert.matches("port outside 1..65535", msg, 1, true)
    end
  end)

  it("names evcp.new for an option the transport refuses", function()
    local ok, msg = pcall(evcp.new, { api_key = "k", ca_file = "/nonexistent/ca.pem" })
    assert.is_false(ok)
    assert.matches("^evcp.new: option 'ca_file'", msg)
  end)

  it("says when a transport breaks the seam", function()
    local t = { run = function() return {} end, sleep = function() end }
    local c = evcp.new({ api_key = "k", transport = t })
    local ok, msg = pcall(function() c:location("x") end)
    assert.is_false(ok)
    assert.matches("the transport's run returned no valid result for request 1 of 1", msg, 1, true)
  end)

  it("checks the arguments of the small helpers", function()
    assert.has_error(function() evcp.v3.content_id(5) end, "evcp.v3.content_id: argument #1 (id) must be a string, got number")
    assert.has_error(function() evcp.error.new("x") end, "evcp.error.new: argument #1 (fields) must be a plain table, got string")
    local ok, msg = pcall(evcp.new, { api_key = "k", max_body = 2 ^ 40 })
    assert.is_false(ok)
    assert.matches("between 1024 and 2147483648, got 1099511627776", msg, 1, true)
    local c = evcp.new({ api_key = "k", transport = stub({ json_answer(200, "{}") }) })
    assert.has_error(function() c.v2:stations_bulk({ "a,b" }) end)
  end)

  it("refuses a JSON object where the spec has an array of objects", function()
    local v, err = evcp.v3.parse('{"id":"x","location":{"lat":1,"lng":2},"evses":{"a":{"uid":"u"}}}')
    assert.is_nil(v)
    assert.matches("evses: expected an array", tostring(err), 1, true)
    assert(evcp.v3.parse('{"id":"x","location":{"lat":1,"lng":2},"evses":[]}'))
  end)
end)
