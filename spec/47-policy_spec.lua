-- The one retry policy (issue 8 §4): which failures are retried, how long it
-- waits (full jitter, Retry-After in seconds or as an HTTP date, clamped),
-- the deadline over all attempts, what is never replayed, and what the
-- final error says. Time and chance are injected (a fake clock advanced by
-- the fake sleep, a fixed random), so nothing here really waits. Expected
-- values are worked out by hand from the rules above.
local evcp = require("evcp")
local policy = require("evcp.policy")
local errors = require("evcp.error")
local httpdate = require("evcp.httpdate")

-- A transport stub: answers[i] answers the i-th request (the last repeats);
-- every run takes `cost` seconds of the fake clock.
local function stub(answers, clock, cost)
  local t = { calls = {}, rounds = 0 }
  function t.run(self, reqs)
    self.rounds = self.rounds + 1
    local out = {}
    for i, r in ipairs(reqs) do
      self.calls[#self.calls + 1] = r
      local a = answers[#self.calls] or answers[#answers]
      local res = {}
      for k, v in pairs(a) do res[k] = v end
      out[i] = res
    end
    if clock then clock.t = clock.t + (cost or 0) end
    return out
  end
  function t.sleep() error("the policy must sleep through the injected sleep") end
  return t
end

local function answer(status, headers)
  headers = headers or {}
  headers["content-type"] = "application/json"
  return { status = status, headers = headers, body = status == 200 and '{"status":"ok"}' or '{"error":"e"}' }
end

-- a fake monotonic clock, the sleep that advances it, and a record of pauses
local function fake_time(start)
  local clock = { t = start or 1000, pauses = {} }
  clock.now = function() return clock.t end
  clock.sleep = function(s)
    clock.pauses[#clock.pauses + 1] = s
    clock.t = clock.t + s
  end
  return clock
end

local function client(t, clock, opts)
  opts = opts or {}
  opts.api_key = "test-key-1"
  opts.transport = t
  opts.clock = clock.now
  opts.sleep = clock.sleep
  opts.random = opts.random or function() return 0.5 end
  return evcp.new(opts)
end

describe("the retry policy's defaults", function()
  it("makes 3 attempts with full-jitter pauses of base 0.2 s doubling", function()
    local clock = fake_time()
    local t = stub({ answer(503) }, clock)
    local c = client(t, clock)
    local _, err = c:health()
    assert.equal(3, #t.calls)
    assert.equal(3, err.attempts)
    -- random 0.5: 0.5 * min(20, 0.2 * 2^0) and 0.5 * min(20, 0.2 * 2^1)
    assert.same({ 0.1, 0.2 }, clock.pauses)
    assert.matches("3 attempts", tostring(err), 1, true)
    assert.is_true(err.retryable)
  end)

  it("caps the backoff at 20 s", function()
    local p = policy.new({ random = function() return 1 end, max_attempts = 10 })
    assert.equal(0.2, (p:delay(1, {})))
    assert.equal(12.8, (p:delay(7, {})))
    assert.equal(20, (p:delay(8, {})))
    assert.equal(20, (p:delay(30, {})))
  end)

  it("retries exactly the failures worth it: network, timeout, 408, 429, 500, 502, 503, 504", function()
    for _, a in ipairs({ { kind = "network", message = "reset" }, { kind = "timeout", message = "slow" },
      answer(408), answer(429), answer(500), answer(502), answer(503), answer(504) }) do
      local clock = fake_time()
      local t = stub({ a, answer(200) }, clock)
      local c = client(t, clock)
      local _, err = c:health()
      assert.equal(2, #t.calls, tostring(a.kind or a.status))
      assert.is_nil(err)
    end
    for _, a in ipairs({ answer(400), answer(401), answer(403), answer(404), answer(501), answer(505),
      { kind = "tls", message = "cert" }, { kind = "too_large", message = "big" },
      { kind = "decode", message = "gzip" } }) do
      local clock = fake_time()
      local t = stub({ a, answer(200) }, clock)
      local c = client(t, clock)
      local _, err = c:health()
      assert.equal(1, #t.calls, tostring(a.kind or a.status))
      assert.is_false(err.retryable)
      assert.equal(1, err.attempts)
    end
  end)
end)

describe("Retry-After", function()
  it("is read in seconds and as an HTTP date, and ignored when it is neither", function()
    local now = httpdate.parse("Tue, 01 Dec 2026 12:00:00 GMT")
    assert.equal(120, errors.retry_after("120", now))
    assert.equal(7, errors.retry_after(" 7 ", now))
    assert.equal(30, errors.retry_after("Tue, 01 Dec 2026 12:00:30 GMT", now))
    assert.equal(0, errors.retry_after("Tue, 01 Dec 2026 11:59:00 GMT", now), "a date in the past: no wait")
    assert.equal(90, errors.retry_after("Tuesday, 01-Dec-26 12:01:30 GMT", now))
    assert.equal(5, errors.retry_after("Tue Dec  1 12:00:05 2026", now))
    for _, bad in ipairs({ "", "soon", "-5", "1.5", "Tue, 32 Dec 2026 12:00:00 GMT", "Tue, 01 Dec 2026 24:00:00 GMT",
      "Tue, 01 Dec 2026 12:00:00 CET", ("9"):rep(100), "Xyz, 01 Dec 2026 12:00:00 GMT" }) do
      assert.is_nil(errors.retry_after(bad, now), bad)
    end
    assert.is_nil(errors.retry_after(nil))
  end)

  it("lengthens the pause to what it asks, as an HTTP date from the wall clock", function()
    local clock = fake_time()
    -- the wall clock is not an option of evcp.new (the policy reads os.time),
    -- so the date is made 4 s ahead of it here: 3 or 4 s are left when read
    local wall = os.time()
    local t = stub({ answer(429, { ["retry-after"] = os.date("!%a, %d %b %Y %H:%M:%S GMT", wall + 4) }),
      answer(200) }, clock)
    local c = evcp.new({ api_key = "k", transport = t, clock = clock.now, sleep = clock.sleep,
      random = function() return 0 end })
    assert(c:health())
    assert.equal(1, #clock.pauses)
    assert.is_true(clock.pauses[1] >= 3 and clock.pauses[1] <= 4, tostring(clock.pauses[1]))
  end)

  it("is clamped to 60 s, and an invalid one leaves the backoff alone", function()
    local p = policy.new({ random = function() return 0.5 end, wall = function() return 0 end, deadline = 1000 })
    local d, ra = p:delay(1, { headers = { ["retry-after"] = "120" } })
    assert.equal(60, d)
    assert.equal(120, ra)
    d, ra = p:delay(1, { headers = { ["retry-after"] = "later" } })
    assert.equal(0.1, d)
    assert.is_nil(ra)
  end)

  it("past the deadline, fails at once with err.retry_after and says why", function()
    local clock = fake_time()
    local t = stub({ answer(503, { ["retry-after"] = "45" }), answer(200) }, clock)
    local c = client(t, clock)
    local _, err = c:health()
    assert.equal(1, #t.calls)
    assert.same({}, clock.pauses, "no wait at all")
    assert.equal(45, err.retry_after)
    assert.equal(503, err.status)
    assert.matches("gave up: Retry-After 45s is past the 30s deadline", tostring(err), 1, true)
  end)
end)

describe("the deadline over all attempts", function()
  it("cuts each attempt's timeout to what is left of it", function()
    local clock = fake_time()
    local t = stub({ { kind = "timeout", message = "slow" } }, clock, 9)
    local c = client(t, clock, { timeout = 10, deadline = 20, max_attempts = 5 })
    local _, err = c:health()
    -- attempt 1 at 0 s: timeout 10; it takes 9 s, pause 0.1 s; attempt 2 at
    -- 9.1 s: timeout 10; takes 9 s, pause 0.2 s; attempt 3 at 18.3 s: 1.7 s
    -- left, so timeout 1.7; it takes 9 s (the fake ignores it) and no time
    -- is left for a 4th
    assert.equal(3, #t.calls)
    assert.equal(10, t.calls[1].timeout)
    assert.equal(10, t.calls[2].timeout)
    assert.is_true(math.abs(t.calls[3].timeout - 1.7) < 1e-9, tostring(t.calls[3].timeout))
    assert.equal(3, err.attempts)
    assert.matches("gave up: no time left for attempt 4 in the 20s deadline", tostring(err), 1, true)
  end)

  it("is an option of evcp.new, checked", function()
    assert.has_error(function() evcp.new({ api_key = "k", deadline = 0 }) end)
    assert.has_error(function() evcp.new({ api_key = "k", deadline = "30" }) end)
    assert.has_error(function() evcp.new({ api_key = "k", clock = 5 }) end,
      "evcp.new: option 'clock' must be a function, got number")
  end)
end)

describe("what is replayed", function()
  it("replays GETs, and a POST only when its record says it is idempotent (signed afresh)", function()
    local clock = fake_time()
    local t = stub({ answer(503), answer(200) }, clock)
    local p = policy.new({ clock = clock.now, sleep = clock.sleep, random = function() return 0 end })
    local made = 0
    local res = p:run(t, { "post" }, function()
      made = made + 1
      return { method = "POST", url = "http://h/p", headers = {}, body = "x" }
    end)
    assert.equal(1, #t.calls)
    assert.equal(503, res[1].status)
    t = stub({ answer(503), answer(200) }, clock)
    res = p:run(t, { "token" }, function(_, attempt)
      made = made + 1
      return { method = "POST", url = "http://h/oauth2/token", headers = { N = tostring(attempt) }, body = "x",
        idempotent = true }
    end)
    assert.equal(2, #t.calls)
    assert.equal(200, res[1].status)
    assert.equal("1", t.calls[1].headers.N)
    assert.equal("2", t.calls[2].headers.N, "prepared afresh for the second attempt")
    assert.equal(3, made)
  end)

  it("retries only the failed requests of a batch, each counting its own attempts", function()
    local clock = fake_time()
    local t = stub({ answer(200), answer(503), answer(200), answer(200) }, clock)
    local p = policy.new({ clock = clock.now, sleep = clock.sleep, random = function() return 0 end })
    local plans = { "a", "b", "c" }
    local res = p:run(t, plans, function(plan)
      return { method = "GET", url = "http://h/" .. plan, headers = {} }
    end)
    assert.equal(4, #t.calls)
    assert.equal("http://h/b", t.calls[4].url)
    assert.same({ 1, 2, 1 }, { res[1].attempts, res[2].attempts, res[3].attempts })
  end)
end)

describe("evcp.error.new", function()
  it("derives retryable from kind and status when not given", function()
    assert.is_true(errors.new({ kind = "timeout" }).retryable)
    assert.is_true(errors.new({ kind = "http", status = 429 }).retryable)
    assert.is_false(errors.new({ kind = "http", status = 404 }).retryable)
    assert.is_false(errors.new({ kind = "decode" }).retryable)
    assert.is_false(errors.new({ kind = "timeout", retryable = false }).retryable)
  end)
end)

describe("evcp.httpdate", function()
  it("reads the three forms of RFC 9110 and refuses days that do not exist", function()
    -- 784111777: RFC 9110's own example instant, Sun, 06 Nov 1994 08:49:37 GMT
    assert.equal(784111777, httpdate.parse("Sun, 06 Nov 1994 08:49:37 GMT"))
    assert.equal(784111777, httpdate.parse("Sunday, 06-Nov-94 08:49:37 GMT", 1700000000))
    assert.equal(784111777, httpdate.parse("Sun Nov  6 08:49:37 1994"))
    assert.equal(0, httpdate.parse("Thu, 01 Jan 1970 00:00:00 GMT"))
    assert.equal(951782400, httpdate.parse("Tue, 29 Feb 2000 00:00:00 GMT"))
    assert.is_nil(httpdate.parse("Thu, 29 Feb 2001 00:00:00 GMT"))
    assert.is_nil(httpdate.parse("Sun, 06 Nov 1994 08:49:37 UTC"))
    assert.is_nil(httpdate.parse("Sun, 6 Nov 1994 08:49:37 GMT"))
    assert.is_nil(httpdate.parse(("x"):rep(1000)))
    assert.is_nil(httpdate.parse(42))
    -- a two-digit year: the nearest one not more than 50 years ahead
    local in2026 = httpdate.parse("Tue, 01 Dec 2026 00:00:00 GMT")
    assert.equal(httpdate.parse("Fri, 01 Jan 2076 00:00:00 GMT"), httpdate.parse("Friday, 01-Jan-76 00:00:00 GMT", in2026))
    assert.equal(httpdate.parse("Fri, 01 Jan 1977 00:00:00 GMT"), httpdate.parse("Friday, 01-Jan-77 00:00:00 GMT", in2026))
  end)
end)

describe("the on_request and on_response hooks", function()
  it("see every attempt, without credentials, and cannot break the call", function()
    local clock = fake_time()
    local a503 = answer(503)
    a503.headers["x-correlation-id"] = "corr-1"
    local t = stub({ a503, answer(200) }, clock, 0.25)
    local reqs, resps = {}, {}
    local c = client(t, clock, {
      on_request = function(ev)
        reqs[#reqs + 1] = ev
        error("a hook that raises")
      end,
      on_response = function(ev)
        resps[#resps + 1] = { status = ev.status, attempt = ev.attempt, duration = ev.duration,
          correlation_id = ev.correlation_id, url = ev.url, request_id = ev.request_id }
        error({ "not even a string" })
      end,
    })
    assert(c:health({ request_id = "rid-7" }))
    assert.equal(2, #reqs)
    assert.equal("GET", reqs[1].method)
    assert.equal("https://evcp.hereapi.com/v3/health", reqs[1].url, "the URL before the key is added")
    assert.same({ 1, 2 }, { reqs[1].attempt, reqs[2].attempt })
    assert.equal("rid-7", reqs[2].request_id)
    assert.same({
      { status = 503, attempt = 1, duration = 0.25, correlation_id = "corr-1",
        url = "https://evcp.hereapi.com/v3/health", request_id = "rid-7" },
      { status = 200, attempt = 2, duration = 0.25, url = "https://evcp.hereapi.com/v3/health", request_id = "rid-7" },
    }, resps)
    for _, ev in ipairs(reqs) do assert.is_nil(ev.url:find("test-key-1", 1, true)) end
    assert.has_error(function() evcp.new({ api_key = "k", on_request = "log" }) end,
      "evcp.new: option 'on_request' must be a function, got string")
  end)

  it("show a request without a plan URL with every non-data parameter REDACTED", function()
    local clock = fake_time()
    local t = stub({ { kind = "network", message = "reset" } }, clock)
    local seen
    local p = policy.new({ clock = clock.now, sleep = clock.sleep, max_attempts = 1,
      on_response = function(ev) seen = ev end })
    p:run(t, { {} }, function()
      return { method = "GET", url = "https://h/p?a=1&apiKey=SECRET&ids=x,y&b=2", headers = {} }
    end)
    assert.equal("https://h/p?a=REDACTED&apiKey=REDACTED&ids=x,y&b=REDACTED", seen.url)
    assert.equal("network", seen.kind)
    assert.equal("reset", seen.message)
  end)
end)

describe("one deadline for the whole call", function()
  -- a stub that answers HERE's token endpoint (taking `token_cost` seconds of
  -- the fake clock) and data requests (recording their timeouts)
  local function oauth_stub(clock, token_cost)
    local t = { token_calls = 0, data = {} }
    function t.run(_, reqs)
      local out = {}
      for i, r in ipairs(reqs) do
        if r.method == "POST" then
          t.token_calls = t.token_calls + 1
          clock.t = clock.t + token_cost
          out[i] = { status = 200, headers = { ["content-type"] = "application/json" },
            body = '{"access_token":"tok-abc","token_type":"bearer","expires_in":3600}' }
        else
          t.data[#t.data + 1] = r
          out[i] = answer(200)
        end
      end
      return out
    end
    function t.sleep() error("the policy must sleep through the injected sleep") end
    return t
  end

  local function oauth_client(t, clock)
    return evcp.new({ base_url = "http://h", access_key_id = "key-id", access_key_secret = "key-secret",
      transport = t, clock = clock.now, sleep = clock.sleep, random = function() return 0.5 end })
  end

  it("is shared by the token fetch and the data request", function()
    local clock = fake_time()
    local t = oauth_stub(clock, 25)
    local c = oauth_client(t, clock)
    assert(c:health())
    assert.equal(1, t.token_calls)
    assert.equal(1, #t.data)
    assert.equal(5, t.data[1].timeout) -- 30 s deadline, 25 s spent on the token
    assert.equal("Bearer tok-abc", t.data[1].headers.Authorization)
    -- the next call has a cached token and a deadline of its own
    assert(c:health())
    assert.equal(1, t.token_calls)
    assert.equal(10, t.data[2].timeout)
    c:close()
  end)

  it("sends no data request when the token fetch used it all", function()
    local clock = fake_time()
    local t = oauth_stub(clock, 30)
    local c = oauth_client(t, clock)
    local v, err = c:health()
    assert.is_nil(v)
    assert.equal(1, t.token_calls)
    assert.equal(0, #t.data)
    assert.equal("timeout", err.kind)
    assert.equal(0, err.attempts)
    assert.matches("no time left for attempt 1 in the 30s deadline", tostring(err), 1, true)
    c:close()
  end)

  it("policy:run takes the end of a deadline begun by an earlier run", function()
    local clock = fake_time()
    local t = stub({ answer(503) }, clock, 1)
    local p = policy.new({ clock = clock.now, sleep = clock.sleep, random = function() return 0.5 end })
    local stop = p:stop_time(t)
    assert.equal(1030, stop)
    clock.t = 1029.5
    local res = p:run(t, { {} }, function() return { method = "GET", url = "http://h/x", headers = {} } end, stop)[1]
    assert.equal(1, #t.calls)
    assert.equal(0.5, t.calls[1].timeout)
    assert.equal(503, res.status)
    assert.matches("no time left for attempt 2", res.gave_up, 1, true)
    clock.t = 1031
    res = p:run(t, { {} }, function() error("nothing may be prepared") end, stop)[1]
    assert.equal(1, #t.calls)
    assert.equal("timeout", res.kind)
    assert.equal(0, res.attempts)
  end)
end)

describe("the token request after HERE's 401207 (nonce already used)", function()
  -- token answers in order, then data answers 200
  local function token_stub(answers)
    local t = { posts = {} }
    function t.run(_, reqs)
      local out = {}
      for i, r in ipairs(reqs) do
        if r.method == "POST" then
          t.posts[#t.posts + 1] = r.headers.Authorization
          local a = answers[#t.posts]
          out[i] = { status = a[1], headers = { ["content-type"] = "application/json" }, body = a[2] }
        else
          out[i] = answer(200)
        end
      end
      return out
    end
    function t.sleep() end
    return t
  end
  local TOKEN = '{"access_token":"tok-abc","token_type":"bearer","expires_in":3600}'
  local USED = '{"errorId":"e1","httpStatus":401,"errorCode":401207,"message":"Nonce already used"}'

  local function nonce(h) return h:match('oauth_nonce="([^"]+)"') end

  it("is signed once more with a fresh nonce", function()
    local t = token_stub({ { 401, USED }, { 200, TOKEN } })
    local c = evcp.new({ base_url = "http://h", access_key_id = "key-id", access_key_secret = "key-secret",
      transport = t })
    assert(c:health())
    assert.equal(2, #t.posts)
    assert.are_not.equal(nonce(t.posts[1]), nonce(t.posts[2]))
    c:close()
  end)

  it("fails with HERE's code the second time, after 2 attempts", function()
    local t = token_stub({ { 401, USED }, { 401, USED }, { 200, TOKEN } })
    local c = evcp.new({ base_url = "http://h", access_key_id = "key-id", access_key_secret = "key-secret",
      transport = t })
    local v, err = c:health()
    assert.is_nil(v)
    assert.equal(2, #t.posts)
    assert.equal("http", err.kind)
    assert.equal(401, err.status)
    assert.equal("401207", err.code)
    assert.equal(2, err.attempts)
    c:close()
  end)
end)
