--- evcp.policy: the one retry policy, used by every API evcp speaks.
--
--   local p = policy.new{ max_attempts = 3, deadline = 30 }
--   local results = p:run(transport, plans, prepare)
--
-- plans is an array of anything; prepare(plan, attempt) turns one into a
-- request record for the transport, afresh for every attempt (so that
-- authentication is applied just before sending: a token refreshed between
-- attempts is picked up, a signed request is signed anew). The transport
-- runs every pending request of a round at once. A failure worth retrying
-- (evcp.error.retryable_result: timeouts and connection failures before
-- any answer, 408, 429, 500, 502, 503, 504) is sent again after a pause, up to max_attempts in
-- all, when its request may be replayed: a GET or HEAD, or a record marked
-- `idempotent = true` (a token request, signed afresh each time); any other
-- 4xx, and any other method, is final at once.
--
-- The pause is full-jitter exponential backoff, a random time up to
-- min(cap, base * 2^(n-1)) after attempt n, and at least what a Retry-After
-- header asked for (in seconds or as an HTTP date, clamped to
-- retry_after_max). All attempts of one call share one deadline (seconds
-- from the first send): each attempt's timeout is cut to what remains of it,
-- and a pause that would end past it is not taken: the result is final then,
-- with `gave_up` saying why (and `retry_after` the seconds HERE asked for).
-- Each result carries `attempts`.
--
-- Hooks: on_request(ev) before each request of each attempt, on_response(ev)
-- after it, with ev = {method, url (the plan's url, else the request's, with
-- every query parameter other than HERE's data parameters REDACTED, so
-- never a credential), attempt, request_id} and, in
-- on_response, status (or kind and message for a transport failure),
-- duration (seconds of the round the request was in) and correlation_id
-- (HERE's X-Correlation-ID). A hook that raises is ignored: it never breaks
-- the call.
--
-- Time and chance are injectable, so that specs run without waiting:
-- clock (monotonic seconds; default transport:now(), or os.time for a
-- transport without now), wall (seconds since
-- the epoch, for HTTP dates; default os.time), random (in [0, 1); default
-- math.random) and sleep (seconds; default transport:sleep).
local errors = require("evcp.error")
local shown_url = require("evcp.url").shown
local random, min, max = math.random, math.min, math.max
local format = string.format

local M = {}

M.DEFAULTS = { max_attempts = 3, base = 0.2, cap = 20, retry_after_max = 60, deadline = 30,
  attempt_timeout = 10 }

-- The shortest timeout the transport seam accepts.
local MIN_TIMEOUT = 0.001

-- A transport that breaks the seam is a bug of that transport: say so.
local function check_results(results, n)
  if type(results) ~= "table" then
    error("evcp: the transport's run returned " .. type(results) .. ", not a list of results", 3)
  end
  for i = 1, n do
    local r = results[i]
    if type(r) ~= "table" or (r.kind == nil and type(r.status) ~= "number") then
      error("evcp: the transport's run returned no valid result for request " .. i .. " of " .. n
        .. " (want {status, headers, body} or {kind, message})", 3)
    end
  end
  return results
end

local Policy = { __name = "evcp.Policy", __metatable = "evcp.Policy" }
Policy.__index = Policy

--- policy.new(opts) -> Policy; opts: max_attempts, base, cap, retry_after_max,
-- deadline, attempt_timeout (seconds; each attempt's timeout, so that it can
-- be cut to the deadline), clock, wall, random, sleep, on_request,
-- on_response (see the header), scrub (a function over strings: the foreign
-- text of on_response's events passes through it, so that a credential a
-- server echoes never reaches a hook); the caller has checked them; missing
-- ones take M.DEFAULTS.
function M.new(opts)
  opts = opts or {}
  local p = {}
  for k, v in pairs(M.DEFAULTS) do p[k] = opts[k] or v end
  p.clock, p.wall, p.random, p.sleep = opts.clock, opts.wall or os.time, opts.random or random, opts.sleep
  p.on_request, p.on_response = opts.on_request, opts.on_response
  p.scrub = opts.scrub
  return setmetatable(p, Policy)
end

--- policy:delay(n, res) -> pause, retry_after: the pause before attempt n+1
-- after attempt n failed with res, and the seconds res's Retry-After asked
-- for (nil without one).
function Policy:delay(n, res)
  local d = self.random() * min(self.cap, self.base * 2 ^ (n - 1))
  local h = res.headers
  local ra = h and errors.retry_after(h["retry-after"], self.wall())
  if ra then d = max(d, min(ra, self.retry_after_max)) end
  return d, ra
end

local REPLAYABLE = { GET = true, HEAD = true }

local function replayable(req)
  return type(req) == "table" and (REPLAYABLE[req.method] == true or req.idempotent == true)
end

-- Cuts the request's timeout to what remains of the deadline.
local function bound(req, timeout, left)
  if type(req) == "table" then req.timeout = left < timeout and max(left, MIN_TIMEOUT) or timeout end
  return req
end

-- The URL a hook is shown: the plan's (located before authentication),
-- else the request's; either way with every query parameter that is not
-- one of HERE's data parameters REDACTED (evcp.url.shown).
local function shown(plan, req)
  local u = type(plan) == "table" and plan.url
  if type(u) ~= "string" then u = type(req) == "table" and req.url end
  if type(u) ~= "string" then return nil end
  return shown_url(u)
end

local function header(res, name)
  local h = res.headers
  return type(h) == "table" and h[name] or nil
end

-- Runs one round through the transport, telling the hooks.
local function round(self, transport, reqs, plans, where, attempt, clock)
  local on_req, on_res = self.on_request, self.on_response
  if on_req == nil and on_res == nil then return check_results(transport:run(reqs), #reqs) end
  local evs = {}
  for j, req in ipairs(reqs) do
    local plan = plans[where and where[j] or j]
    local ev = { method = type(req) == "table" and req.method or nil, url = shown(plan, req), attempt = attempt,
      request_id = type(req) == "table" and type(req.headers) == "table" and req.headers["X-Request-ID"] or nil }
    evs[j] = ev
    if on_req then pcall(on_req, ev) end
  end
  local t0 = clock()
  local results = check_results(transport:run(reqs), #reqs)
  local took = clock() - t0
  if on_res then
    for j, res in ipairs(results) do
      local ev = evs[j]
      ev.status, ev.kind, ev.message, ev.duration = res.status, res.kind, res.message, took
      ev.correlation_id = header(res, "x-correlation-id")
      local scrub = self.scrub
      if scrub then -- text from the server or libcurl may echo a credential
        ev.message, ev.correlation_id = scrub(ev.message), scrub(ev.correlation_id)
      end
      pcall(on_res, ev)
    end
  end
  return results
end

-- The policy's clock for transport (made once per transport: a client
-- keeps one, and a closure per call would be garbage per call).
local function clock_of(self, transport)
  local clock = self.clock
  if clock ~= nil then return clock end
  if self.last_transport == transport then return self.last_clock end
  clock = os.time
  if transport.now then clock = function() return transport:now() end end
  self.last_transport, self.last_clock = transport, clock
  return clock
end

--- policy:stop_time(transport) -> the end of a deadline starting now, on the
-- policy's clock: given to several runs, it makes them one call (a token
-- fetch, the data request, its replay after a 401).
function Policy:stop_time(transport)
  return clock_of(self, transport)() + self.deadline
end

--- policy:now(transport) -> the policy's clock now (seconds).
function Policy:now(transport)
  return clock_of(self, transport)()
end

--- policy:pause(transport, s): waits s seconds as the policy waits between
-- attempts (the injected sleep, else transport:sleep, which yields to the
-- host's loop in a host transport).
function Policy:pause(transport, s)
  if self.sleep then self.sleep(s) else transport:sleep(s) end
end

--- Runs plans through transport; returns one result per plan, in order.
-- stop (optional, from policy:stop_time) ends the deadline earlier runs of
-- the same call began; without it the deadline starts now. When nothing
-- is left of it, nothing is sent: each result is a timeout with attempts 0.
function Policy:run(transport, plans, prepare, stop)
  local clock = clock_of(self, transport)
  local now = clock()
  stop = stop or now + self.deadline
  local timeout = self.attempt_timeout
  local n = #plans
  local left = stop - now
  if left < MIN_TIMEOUT then
    local results = {}
    for i = 1, n do
      results[i] = { kind = "timeout", attempts = 0, message = "not sent: no time left",
        gave_up = format("no time left for attempt 1 in the %gs deadline", self.deadline) }
    end
    return results
  end
  local reqs = {}
  for i = 1, n do reqs[i] = bound(prepare(plans[i], 1), timeout, left) end
  local results = round(self, transport, reqs, plans, nil, 1, clock)
  for i = 1, n do results[i].attempts = 1 end
  local attempt = 1
  while attempt < self.max_attempts do
    local any = false -- the usual case: nothing to retry, no clock to read
    for i = 1, n do
      if errors.retryable_result(results[i]) then
        any = true
        break
      end
    end
    if not any then break end
    local where, pause = {}, 0
    now = clock()
    left = stop - now
    for i = 1, n do
      local r = results[i]
      if errors.retryable_result(r) and replayable(reqs[i]) then
        local d, ra = self:delay(attempt, r)
        if ra then r.retry_after = ra end
        if ra and ra > left then
          r.gave_up = format("Retry-After %.0fs is past the %gs deadline", ra, self.deadline)
        elseif d + MIN_TIMEOUT >= left then
          r.gave_up = format("no time left for attempt %d in the %gs deadline", attempt + 1, self.deadline)
        else
          where[#where + 1] = i
          pause = max(pause, d)
        end
      end
    end
    if #where == 0 then break end
    attempt = attempt + 1
    if pause > 0 then self:pause(transport, pause) end
    now = clock()
    left = stop - now
    if left < MIN_TIMEOUT then left = MIN_TIMEOUT end
    local again = {}
    for j, i in ipairs(where) do
      again[j] = bound(prepare(plans[i], attempt), timeout, left)
      reqs[i] = again[j]
    end
    local more = round(self, transport, again, plans, where, attempt, clock)
    for j, i in ipairs(where) do
      more[j].attempts = attempt
      results[i] = more[j]
    end
  end
  return results
end

return M
