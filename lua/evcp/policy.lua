--- evcp.policy: the one retry policy, used by every API evcp speaks.
--
--   local p = policy.new{ max_attempts = 3 }
--   local results = p:run(transport, plans, prepare)
--
-- plans is an array of anything; prepare(plan, attempt) turns one into a
-- request record for the transport, afresh for every attempt (so that
-- authentication is applied just before sending: a token refreshed between
-- attempts is picked up). The transport runs every pending request of a
-- round at once; failures worth retrying (evcp.error.retryable_result:
-- timeouts, connection failures, 408, 429, 500, 502, 503, 504) are sent
-- again after a pause, up to max_attempts in all. The pause is full-jitter
-- exponential backoff (a random time up to min(cap, base * 2^(n-1))), and
-- at least what a Retry-After header in seconds asked for (clamped to
-- retry_after_max). Each result carries `attempts`.
local errors = require("evcp.error")
local random, min, max = math.random, math.min, math.max

local M = {}

M.DEFAULTS = { max_attempts = 1, base = 0.2, cap = 20, retry_after_max = 60 }

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

--- policy.new(opts) -> Policy; opts: max_attempts, base, cap, retry_after_max
-- (already checked by the caller; missing ones take M.DEFAULTS).
function M.new(opts)
  opts = opts or {}
  local p = {}
  for k, v in pairs(M.DEFAULTS) do p[k] = opts[k] or v end
  return setmetatable(p, Policy)
end

--- The pause before attempt n+1 after attempt n failed with res.
function Policy:delay(n, res)
  local d = random() * min(self.cap, self.base * 2 ^ (n - 1))
  local h = res.headers
  local ra = h and errors.retry_after(h["retry-after"])
  if ra then d = max(d, min(ra, self.retry_after_max)) end
  return d
end

--- Runs plans through transport; returns one result per plan, in order.
function Policy:run(transport, plans, prepare)
  local n = #plans
  local reqs = {}
  for i = 1, n do reqs[i] = prepare(plans[i], 1) end
  local results = check_results(transport:run(reqs), n)
  for i = 1, n do results[i].attempts = 1 end
  local attempt = 1
  while attempt < self.max_attempts do
    local again, where, pause = {}, {}, 0
    for i = 1, n do
      local r = results[i]
      if errors.retryable_result(r) then
        where[#where + 1] = i
        pause = max(pause, self:delay(attempt, r))
      end
    end
    if #where == 0 then break end
    attempt = attempt + 1
    transport:sleep(pause)
    for j, i in ipairs(where) do again[j] = prepare(plans[i], attempt) end
    local more = check_results(transport:run(again), #again)
    for j, i in ipairs(where) do
      more[j].attempts = attempt
      results[i] = more[j]
    end
  end
  return results
end

return M
