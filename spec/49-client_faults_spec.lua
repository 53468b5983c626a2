-- Every fault kind of docs/EMULATOR.md ("Fault injection") met by a client made with
-- evcp.new, through the real libcurl transport and a real emulator process (issue 8,
-- "Done when": each kind shows its attempts, its pauses and its final error).
--
-- How a kind reaches a request: the client is given a transport that is libcurl's own
-- (evcp.core.curl_transport, with the options evcp.new gives the transport it builds)
-- behind a thin wrapper that adds `X-Emulator-Fault: <next kind>` to each data request
-- (and, from a list of its own, to each token request) and forwards everything else.
-- One block at the end uses --script and no wrapper at all.
--
-- Nothing waits for real: sleep is injected (each pause is recorded), random is fixed,
-- and the policy's clock is the transport's monotonic clock plus the pauses recorded,
-- so that the deadline sees the pauses as if they had been taken.
--
-- Expected values come from the issue's rules and docs/EMULATOR.md, worked out by hand
-- here, never from evcp's policy functions:
--   retried (at most max_attempts, default 3): connection failures, timeouts before any
--     response byte, 408, 429, 500, 502, 503, 504; never another 4xx;
--   the pause after failed attempt n: random * min(20, 0.2 * 2^(n-1)) (full jitter), and
--     at least Retry-After (seconds or HTTP date) clamped to 60 s;
--   a Retry-After beyond what is left of the deadline (30 s over all attempts) fails at
--     once with err.retry_after (and gave_up);
--   OAuth: a 401 from a data call gets one new token and one replay; a 401204 from the
--     token endpoint gets one re-signing with the time of its Date header.
-- Counts come from the wrapper (what the client handed the transport), from the
-- on_request hook (the attempt numbers the policy gave) and from the emulator's
-- /_emulator/stats (what arrived on the wire).
local evcp = require("evcp")
local core = require("evcp.core")
local cjson = require("cjson").new()
local ep = require("emulator_process")
local shell_quote = ep.shell_quote

local FIXTURE = "spec/fixtures/emulator-mini-db.lua"
local API_KEY = "spec49-key"
local KEY_ID, SECRET = "spec49-key-id", "spec49-secret/+="
local MAX_BODY = 32 * 1024 * 1024 -- evcp.new's default max_body

-- The pauses of full jitter with random() = 0.5, after failed attempts 1, 2, ...:
-- 0.5 * min(20, 0.2 * 2^(n-1)), written out: 0.2 s doubling up to 20 s (reached at
-- n = 8, 0.2 * 2^7 = 25.6 -> 20).
local HALF = { 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10, 10, 10 }

local function half() return 0.5 end

-- the emulator shared by this file (started in the first block's setup)
local emu

local stats_transport
local function stats()
  stats_transport = stats_transport or core.curl_transport({ timeout = 5 })
  local res = stats_transport:run({ { method = "GET", url = emu.url .. "/_emulator/stats", headers = {} } })[1]
  assert.equal(200, res.status, res.message)
  return cjson.decode(res.body)
end

-- A transport: libcurl's, with the options evcp.new uses for its own, that puts the next
-- kind of `data` on each data request and the next of `token` on each token request
-- ("ok", or the end of the list: no header). Records the kind each request was sent
-- with. warm: one normal request first, so that the client's first request goes out on
-- a kept-alive connection.
local function faulty(data, token, opts)
  local inner = core.curl_transport({ timeout = opts.timeout or 10, connect_timeout = 10,
    max_parallel = 8, max_body = MAX_BODY, compress = true, user_agent = "evcp/" .. core.version })
  local w = { data = {}, token = {}, slept = 0 }
  if opts.warm then
    local r = inner:run({ { method = "GET", url = emu.url .. "/v3/health?apiKey=" .. API_KEY, headers = {} } })[1]
    assert.equal(200, r.status, r.message)
  end
  function w.run(_, reqs)
    for _, r in ipairs(reqs) do
      local list, sent = data, w.data
      if r.url:find("/oauth2/token", 1, true) then list, sent = token, w.token end
      local kind = list[#sent + 1] or "ok"
      if kind ~= "ok" then r.headers["X-Emulator-Fault"] = kind end
      sent[#sent + 1] = kind
    end
    return inner:run(reqs)
  end
  function w.sleep(_, s) return inner:sleep(s) end
  function w.now(_) return inner:now() + w.slept end
  function w.close(_) return inner:close() end
  return w
end

-- Runs one call of a fresh client against the emulator. o:
--   data, token  the kinds for successive data / token requests
--   call         function(client) -> result, err (default client:health())
--   oauth        OAuth client credentials instead of the api key
--   timeout, max_attempts, deadline, random, warm
-- Returns result, err, trace: {slept = {pauses}, data = {kinds sent}, token = {...},
-- attempts = {the attempt of each on_request event}, durations = {on_response's},
-- wire = data requests the emulator saw, token_wire = token requests it saw}.
local function run(o)
  local t = faulty(o.data or {}, o.token or {}, o)
  local tr = { slept = {}, attempts = {}, durations = {}, data = t.data, token = t.token }
  local opts = {
    base_url = emu.url, transport = t, timeout = o.timeout, max_attempts = o.max_attempts,
    deadline = o.deadline, random = o.random or half,
    clock = function() return t:now() end,
    sleep = function(s)
      tr.slept[#tr.slept + 1] = s
      t.slept = t.slept + s
    end,
    on_request = function(ev) tr.attempts[#tr.attempts + 1] = ev.attempt end,
    on_response = function(ev) tr.durations[#tr.durations + 1] = ev.duration end,
  }
  if o.oauth then
    opts.access_key_id, opts.access_key_secret = KEY_ID, SECRET
  else
    opts.api_key = API_KEY
  end
  local c = evcp.new(opts)
  local before = stats()
  local res, err = (o.call or function(cl) return cl:health() end)(c)
  local after = stats()
  tr.wire = after.data_requests - before.data_requests
  tr.token_wire = after.token_requests - before.token_requests
  c:close()
  t:close()
  return res, err, tr
end

local function seq(n) local s = {} for i = 1, n do s[i] = i end return s end

local function rep(kind, n) local s = {} for i = 1, n do s[i] = kind end return s end

-- asserts pauses equal to the expected ones (to 1e-9: they are products of decimals)
local function assert_pauses(want, got)
  assert.equal(#want, #got, "pauses: " .. table.concat(got, ", "))
  for i = 1, #want do
    assert.is_true(math.abs(want[i] - got[i]) < 1e-9, ("pause %d: want %s, got %s"):format(i, want[i], got[i]))
  end
end

-- The final error: every field the brief names, and tostring one line that names the
-- attempts when there were several. want: kind, status, code, retryable, attempts,
-- retry_after, gave_up (a plain substring, or nil for none).
local function assert_error(err, want)
  assert.is_table(err, "no error")
  assert.equal(want.kind, err.kind, tostring(err))
  assert.equal(want.status, err.status, tostring(err))
  if want.code ~= nil then assert.equal(want.code, err.code, tostring(err)) end
  assert.equal(want.retryable, err.retryable, tostring(err))
  assert.equal(want.attempts, err.attempts, tostring(err))
  assert.equal(want.retry_after, err.retry_after, tostring(err))
  if want.gave_up then
    assert.is_string(err.gave_up)
    assert.truthy(err.gave_up:find(want.gave_up, 1, true), err.gave_up)
  else
    assert.is_nil(err.gave_up, tostring(err))
  end
  local line = tostring(err)
  assert.is_nil(line:find("[\r\n]"), line)
  assert.truthy(line:find("^evcp: " .. want.kind), line)
  if want.attempts > 1 then
    assert.truthy(line:find(", " .. want.attempts .. " attempts", 1, true), line)
  end
  if want.gave_up then assert.truthy(line:find("gave up: ", 1, true), line) end
  assert.is_nil(line:find(API_KEY, 1, true), line)
end

-- one attempt, no pause, nothing sent again
local function assert_once(tr)
  assert.same({ 1 }, tr.attempts)
  assert.equal(1, #tr.data)
  assert.equal(1, tr.wire)
  assert_pauses({}, tr.slept)
end

describe("client against each fault kind (X-Emulator-Fault) #slow", function()
  setup(function()
    emu = ep.start("--data " .. FIXTURE .. " --status-interval 0 --api-key " .. API_KEY
      .. " --access-key " .. shell_quote(KEY_ID .. ":" .. SECRET))
  end)
  teardown(function()
    if stats_transport then stats_transport:close() end
    stats_transport = nil
    ep.stop_all()
  end)

  describe("kinds that serve the normal answer: one attempt", function()
    it("ok", function()
      local res, err, tr = run({ data = { "ok" } })
      assert.same({ status = "ok" }, res, tostring(err))
      assert_once(tr)
    end)

    it("delay-N shorter than the timeout", function()
      local res, err, tr = run({ data = { "delay-100" }, timeout = 0.5 })
      assert.same({ status = "ok" }, res, tostring(err))
      assert_once(tr)
      assert.is_true(tr.durations[1] >= 0.1, tostring(tr.durations[1]))
    end)

    it("drip-N whose pauses fit in the timeout (version: 62 bytes, 4 pieces, 3 pauses)", function()
      local res, err, tr = run({ data = { "drip-50" }, call = function(c) return c:version() end })
      assert.same({ apiVersion = "3.20.1", serviceVersion = "evcp-emulator-0.1.0" }, res, tostring(err))
      assert_once(tr)
      assert.is_true(tr.durations[1] >= 0.15, tostring(tr.durations[1]))
    end)

    it("close: the whole answer, then the connection closes; the next call opens another", function()
      local res, err, tr = run({ data = { "close", "ok" }, call = function(c)
        local a, e = c:health()
        if not a then return a, e end
        return c:health()
      end })
      assert.same({ status = "ok" }, res, tostring(err))
      assert.same({ 1, 1 }, tr.attempts)
      assert.equal(2, tr.wire)
      assert_pauses({}, tr.slept)
    end)
  end)

  describe("kinds that are final at once: sent exactly once", function()
    local cases = {
      { "bad-json", "decode", 200 },
      { "html", "decode", 200 },
      { "empty", "decode", 200 },
      { "gzip-bomb", "too_large", 200 },
      { "bad-gzip", "decode", 200 },
      { "huge-header", "too_large", 200 },
      { "redirect", "http", 302 },
      { "redirect-40000", "http", 302 },
      { "redirect-loop", "http", 302 },
      { "expired-token", "http", 401 },
      { "skew-900", "http", 401 },
      { "frobnicate", "http", 400 }, -- another 4xx: the emulator's 400 for an unknown kind
    }
    for _, case in ipairs(cases) do
      local kind, ekind, status = case[1], case[2], case[3]
      it(kind .. " -> " .. ekind .. " " .. status, function()
        local res, err, tr = run({ data = { kind, "ok" } })
        assert.is_nil(res)
        assert_error(err, { kind = ekind, status = status, retryable = false, attempts = 1 })
        assert_once(tr)
      end)
    end

    it("the bodies and headers of the ones above, as the client shows them", function()
      local _, err = run({ data = { "redirect-40000" } })
      -- not followed: the 302 is the answer, with its JSON body
      assert.equal("Found", err.error)
      assert.truthy(err.error_description:find("^Moved to http://127%.0%.0%.1:40000/v3/health"), err.error_description)
      _, err = run({ data = { "expired-token" } })
      assert.equal("Unauthorized", err.error)
      assert.equal("Token Validation Failure - invalid time in token", err.error_description)
      _, err = run({ data = { "skew-900" } })
      assert.equal("401204", err.body.errorCode)
      _, err = run({ data = { "frobnicate" } })
      assert.equal("unknown fault kind: frobnicate", err.error_description)
      _, err = run({ data = { "html" } })
      assert.truthy(err.message:find("JSON", 1, true), err.message)
    end)

    it("a 404 (an unknown location) is never retried", function()
      local res, err, tr = run({ call = function(c) return c:location("here:evcp:charginglocation:nope") end })
      assert.is_nil(res)
      assert_error(err, { kind = "http", status = 404, code = "E629000", retryable = false, attempts = 1 })
      assert_once(tr)
    end)

    -- A failure after the status line arrived is not "a connection failure or a timeout
    -- before any response byte": the transport gives it with the status received.
    local after_bytes = {
      { "truncate", "network", "half the body, then a close" },
      { "bad-chunked", "network", "a chunk size that is not hex" },
    }
    for _, case in ipairs(after_bytes) do
      local kind, ekind, what = case[1], case[2], case[3]
      it(kind .. " (" .. what .. ", after a 200 status line) -> " .. ekind .. ", not retried", function()
        local res, err, tr = run({ data = { kind, "ok" } })
        assert.is_nil(res)
        assert_error(err, { kind = ekind, status = 200, retryable = false, attempts = 1 })
        assert_once(tr)
      end)
    end

    it("drip-N slower than the timeout: a timeout after the status line, not retried", function()
      local res, err, tr = run({ data = { "drip-300", "ok" }, timeout = 0.5, call = function(c) return c:version() end })
      assert.is_nil(res)
      assert_error(err, { kind = "timeout", status = 200, retryable = false, attempts = 1 })
      assert_once(tr)
    end)
  end)

  describe("kinds retried up to max_attempts", function()
    -- kind, the final error's kind, status and code, client options
    local cases = {
      { "reset", "network" },
      { "hang-200", "network" },                    -- a close without a response
      { "hang-3000", "timeout", nil, nil, 0.5 },    -- nothing at all within the timeout
      { "bad-status", "network" },                  -- no valid status line: no status
      { "408", "http", 408 },
      { "429", "http", 429 },
      { "429-invalid", "http", 429 },               -- an invalid Retry-After: plain backoff
      { "500", "http", 500, "E629500" },
      { "502", "http", 502 },
      { "503", "http", 503, "E629503" },
      { "503-invalid", "http", 503, "E629503" },
      { "504", "http", 504 },
    }
    for _, case in ipairs(cases) do
      local kind, ekind, status, code, timeout = case[1], case[2], case[3], case[4], case[5]
      it(kind .. ": once more after 0.1 s, then the normal answer", function()
        local res, err, tr = run({ data = { kind, "ok" }, timeout = timeout })
        assert.same({ status = "ok" }, res, tostring(err))
        assert.same({ 1, 2 }, tr.attempts)
        assert.same({ kind, "ok" }, tr.data)
        assert.equal(2, tr.wire)
        assert_pauses({ HALF[1] }, tr.slept)
      end)
      it(kind .. " every time: 3 attempts, pauses 0.1 and 0.2 s, the last failure", function()
        local res, err, tr = run({ data = rep(kind, 3), timeout = timeout })
        assert.is_nil(res)
        assert_error(err, { kind = ekind, status = status, code = code, retryable = true, attempts = 3 })
        assert.same({ 1, 2, 3 }, tr.attempts)
        assert.equal(3, tr.wire)
        assert_pauses({ HALF[1], HALF[2] }, tr.slept)
      end)
    end

    it("delay-N longer than the timeout: a timeout before any byte, retried", function()
      local res, err, tr = run({ data = { "delay-1500", "ok" }, timeout = 0.5 })
      assert.same({ status = "ok" }, res, tostring(err))
      assert.same({ 1, 2 }, tr.attempts)
      assert_pauses({ HALF[1] }, tr.slept)
      assert.is_true(tr.durations[1] >= 0.45 and tr.durations[1] < 1.5, tostring(tr.durations[1]))
    end)

    it("max_attempts = 5: four pauses of 0.1, 0.2, 0.4, 0.8 s", function()
      local _, err, tr = run({ data = rep("502", 5), max_attempts = 5 })
      assert_error(err, { kind = "http", status = 502, retryable = true, attempts = 5 })
      assert.same(seq(5), tr.attempts)
      assert.equal(5, tr.wire)
      assert_pauses({ 0.1, 0.2, 0.4, 0.8 }, tr.slept)
    end)

    it("max_attempts = 1: a 503 is final at once, still retryable", function()
      local _, err, tr = run({ data = { "503", "ok" }, max_attempts = 1 })
      assert_error(err, { kind = "http", status = 503, code = "E629503", retryable = true, attempts = 1 })
      assert_once(tr)
    end)

    it("full jitter: each pause is random() times the exponential step", function()
      local r = { 0.25, 0.75 }
      local i = 0
      local _, err, tr = run({ data = rep("500", 3), random = function()
        i = i + 1
        return r[i]
      end })
      assert_error(err, { kind = "http", status = 500, code = "E629500", retryable = true, attempts = 3 })
      -- 0.25 * 0.2 and 0.75 * 0.4
      assert_pauses({ 0.05, 0.3 }, tr.slept)
    end)

    it("the step stops at 20 s: ten attempts within a 100 s deadline", function()
      local _, err, tr = run({ data = rep("503", 10), max_attempts = 10, deadline = 100 })
      assert_error(err, { kind = "http", status = 503, code = "E629503", retryable = true, attempts = 10 })
      assert.equal(10, tr.wire)
      assert_pauses({ 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10, 10 }, tr.slept)
    end)

    it("the 30 s deadline: no attempt whose pause would end past it", function()
      -- after 9 failures the pauses add up to 0.1 + ... + 6.4 + 10 = 22.7 s; a 9th pause of
      -- 10 s would end at 32.7 s, past 30 s
      local _, err, tr = run({ data = rep("503", 10), max_attempts = 10 })
      assert_error(err, { kind = "http", status = 503, code = "E629503", retryable = true, attempts = 9,
        gave_up = "no time left for attempt 10 in the 30s deadline" })
      assert.equal(9, tr.wire)
      assert_pauses({ 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10 }, tr.slept)
    end)

    it("each attempt's timeout is cut to what is left of the deadline", function()
      -- attempt 1 times out after 1.5 s, the pause takes 0.1 s of the 2.2 s: attempt 2 gets
      -- about 0.6 s instead of 1.5, and then nothing is left for a third
      local _, err, tr = run({ data = rep("hang-3000", 3), timeout = 1.5, deadline = 2.2 })
      assert_error(err, { kind = "timeout", retryable = true, attempts = 2,
        gave_up = "no time left for attempt 3 in the 2.2s deadline" })
      assert_pauses({ HALF[1] }, tr.slept)
      assert.is_true(tr.durations[1] >= 1.45, tostring(tr.durations[1]))
      assert.is_true(tr.durations[2] < 1.2, tostring(tr.durations[2]))
    end)

    it("a request that gets nothing on a kept-alive connection: libcurl sends it once more itself", function()
      -- libcurl resends a request at once on a fresh connection when a reused one gives
      -- no byte (the stale keep-alive case); the resend carries the same fault here, so
      -- the emulator sees one request more than the client's attempts
      local res, err, tr = run({ data = { "reset", "ok" }, warm = true })
      assert.same({ status = "ok" }, res, tostring(err))
      assert.same({ 1, 2 }, tr.attempts)
      assert.equal(3, tr.wire)
      assert_pauses({ HALF[1] }, tr.slept)
    end)

    it("API v2 goes through the same policy", function()
      local res, err, tr = run({ data = { "503", "ok" }, call = function(c)
        return c.v2:count({ prox = { 52.5, 13.4, 5000 } })
      end })
      assert.is_number(res, tostring(err))
      assert.same({ 1, 2 }, tr.attempts)
      assert_pauses({ HALF[1] }, tr.slept)
    end)
  end)

  describe("Retry-After", function()
    it("in seconds: the pause is what it asks when that is longer than the backoff", function()
      local res, err, tr = run({ data = { "429-2", "ok" } })
      assert.same({ status = "ok" }, res, tostring(err))
      assert_pauses({ 2 }, tr.slept)
      local _
      _, err, tr = run({ data = rep("503-3", 3) })
      assert_error(err, { kind = "http", status = 503, code = "E629503", retryable = true, attempts = 3,
        retry_after = 3 })
      assert_pauses({ 3, 3 }, tr.slept)
    end)

    it("as an HTTP date: the seconds until then", function()
      local res, err, tr = run({ data = { "429-date-5", "ok" } })
      assert.same({ status = "ok" }, res, tostring(err))
      -- the date is whole seconds: 5 s after the emulator wrote it, 4 to 5 s after now
      assert.equal(1, #tr.slept)
      assert.is_true(tr.slept[1] == 5 or tr.slept[1] == 4, tostring(tr.slept[1]))
      local _
      _, err = run({ data = rep("503-date-5", 2), max_attempts = 2 })
      assert.is_true(err.retry_after == 5 or err.retry_after == 4, tostring(err.retry_after))
      assert_error(err, { kind = "http", status = 503, code = "E629503", retryable = true, attempts = 2,
        retry_after = err.retry_after })
    end)

    it("clamped to 60 s", function()
      local res, err, tr = run({ data = { "503-90", "ok" }, deadline = 100 })
      assert.same({ status = "ok" }, res, tostring(err))
      assert_pauses({ 60 }, tr.slept)
    end)

    it("past the 30 s deadline: fails at once with retry_after", function()
      local res, err, tr = run({ data = { "429-45", "ok" } })
      assert.is_nil(res)
      assert_error(err, { kind = "http", status = 429, retryable = true, attempts = 1, retry_after = 45,
        gave_up = "Retry-After 45s is past the 30s deadline" })
      assert_once(tr)
      local _
      _, err, tr = run({ data = { "503-date-120", "ok" } })
      assert.is_true(err.retry_after == 120 or err.retry_after == 119, tostring(err.retry_after))
      assert_error(err, { kind = "http", status = 503, code = "E629503", retryable = true, attempts = 1,
        retry_after = err.retry_after, gave_up = "is past the 30s deadline" })
      assert_once(tr)
    end)

    it("past what is left of the deadline after a first pause", function()
      local _, err, tr = run({ data = rep("503-20", 3) })
      assert_error(err, { kind = "http", status = 503, code = "E629503", retryable = true, attempts = 2,
        retry_after = 20, gave_up = "Retry-After 20s is past the 30s deadline" })
      assert.equal(2, tr.wire)
      assert_pauses({ 20 }, tr.slept)
    end)
  end)

  describe("with HERE OAuth credentials", function()
    it("expired-token: one new token and one replay", function()
      local res, err, tr = run({ oauth = true, data = { "expired-token", "ok" } })
      assert.same({ status = "ok" }, res, tostring(err))
      assert.equal(2, tr.wire)
      assert.equal(2, tr.token_wire)
      assert_pauses({}, tr.slept)
    end)

    it("expired-token twice: the second 401 is final, after 2 attempts", function()
      local res, err, tr = run({ oauth = true, data = { "expired-token", "expired-token", "ok" } })
      assert.is_nil(res)
      assert_error(err, { kind = "http", status = 401, retryable = false, attempts = 2 })
      assert.equal(2, tr.wire)
      assert.equal(2, tr.token_wire)
      assert.is_nil(tostring(err):find(SECRET, 1, true))
    end)

    it("skew-N on a data call is a 401 like any other: one new token, one replay", function()
      local res, err, tr = run({ oauth = true, data = { "skew-300", "ok" } })
      assert.same({ status = "ok" }, res, tostring(err))
      assert.equal(2, tr.wire)
      assert.equal(2, tr.token_wire)
    end)

    it("a 503 then a 401: retried by the policy, then replayed with a new token", function()
      local res, err, tr = run({ oauth = true, data = { "503", "expired-token", "ok" } })
      assert.same({ status = "ok" }, res, tostring(err))
      assert.same({ "503", "expired-token", "ok" }, tr.data)
      assert.equal(2, tr.token_wire)
      assert_pauses({ HALF[1] }, tr.slept)
    end)

    it("skew-N on the token request: re-signed once with the time of its Date", function()
      local res, err, tr = run({ oauth = true, token = { "skew-300", "ok" } })
      assert.same({ status = "ok" }, res, tostring(err))
      assert.equal(2, tr.token_wire)
      assert.equal(1, tr.wire)
      assert_pauses({}, tr.slept)
    end)

    it("skew-N twice on the token request: kind clock_skew, no data call", function()
      local res, err, tr = run({ oauth = true, token = { "skew-300", "skew-300", "ok" } })
      assert.is_nil(res)
      assert.equal(2, tr.token_wire)
      assert.equal(0, tr.wire)
      assert.equal("401204", err.code)
      assert_error(err, { kind = "clock_skew", status = 401, code = "401204", retryable = false, attempts = 2 })
    end)

    it("a token request that fails to connect or gets a 503 is signed anew and retried", function()
      local res, err, tr = run({ oauth = true, token = { "reset", "ok" } })
      assert.same({ status = "ok" }, res, tostring(err))
      assert.equal(2, tr.token_wire)
      assert_pauses({ HALF[1] }, tr.slept)
      res, err, tr = run({ oauth = true, token = rep("503", 3) })
      assert.is_nil(res)
      assert_error(err, { kind = "http", status = 503, code = "E629503", retryable = true, attempts = 3 })
      assert.truthy(tostring(err):find("POST " .. emu.url .. "/oauth2/token", 1, true), tostring(err))
      assert.is_string(err.title) -- the ErrorResponse's words, not only "HTTP status 503"
      assert.equal(3, tr.token_wire)
      assert.equal(0, tr.wire)
      assert_pauses({ HALF[1], HALF[2] }, tr.slept)
    end)

    it("a token request told to wait past the deadline fails at once", function()
      local res, err, tr = run({ oauth = true, token = { "429-45", "ok" } })
      assert.is_nil(res)
      assert_error(err, { kind = "http", status = 429, retryable = true, attempts = 1, retry_after = 45,
        gave_up = "Retry-After 45s is past the 30s deadline" })
      assert.equal(1, tr.token_wire)
      assert.equal(0, tr.wire)
      assert_pauses({}, tr.slept)
    end)
  end)
end)

describe("client against --script, with the transport evcp.new builds #slow", function()
  teardown(function() ep.stop_all() end)

  it("503-1, 502, 504: three attempts, pauses 1 s (Retry-After) and 0.2 s, then service", function()
    local e = ep.start("--data " .. FIXTURE .. " --status-interval 0 --api-key " .. API_KEY
      .. " --script 503-1,502,504")
    finally(function() ep.stop(e) end)
    local slept, attempts = {}, {}
    local c = evcp.new({ base_url = e.url, api_key = API_KEY, random = half,
      sleep = function(s) slept[#slept + 1] = s end,
      on_request = function(ev) attempts[#attempts + 1] = ev.attempt end })
    local res, err = c:health()
    assert.is_nil(res)
    assert_error(err, { kind = "http", status = 504, retryable = true, attempts = 3 })
    assert.same({ 1, 2, 3 }, attempts)
    -- max(0.1, 1), then 0.2 (the 502 has no Retry-After)
    assert_pauses({ 1, 0.2 }, slept)
    res, err = c:health()
    assert.same({ status = "ok" }, res, tostring(err))
    c:close()
    local t = core.curl_transport({ timeout = 5 })
    local st = cjson.decode(t:run({ { method = "GET", url = e.url .. "/_emulator/stats", headers = {} } })[1].body)
    t:close()
    assert.equal(4, st.data_requests)
    assert.equal(3, st.script_used)
  end)
end)
