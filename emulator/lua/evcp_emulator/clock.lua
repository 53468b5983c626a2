-- evcp_emulator.clock: the deterministic status clock. Every EVSE has a base `status`
-- and `modified`; at step k = floor((now - start_time) / interval) > 0 its status is
-- picked from a hash of (seed, EVSE uid, k). The hash uses plain double arithmetic, so
-- LuaJIT and Lua 5.4 agree, and every worker and process with the same seed and start
-- time shows the same statuses at the same moment. v3 and v2 read the same clock.
--
--   local clk = clock.new{seed =, interval =, start_time =, now = f, db =}
--   clk:step()                    the current step k (0 when frozen or before start)
--   clk:evse_state(evse, k)       -> v3 status, modified (RFC 3339) at step k
local floor, byte = math.floor, string.byte

local M = {}
M.__index = M

-- Weighted status table (per mille).
M.WEIGHTS = {
  { "available", 520 }, { "charging", 300 }, { "unknown", 60 }, { "outOfOrder", 40 },
  { "blocked", 30 }, { "reserved", 20 }, { "inoperative", 20 }, { "operational", 10 },
}
-- How many steps back `modified` looks for the last change.
M.LOOKBACK = 32

-- every intermediate stays below 2^53
local P = 2147483647
local function mix(h, x)
  h = (h * 48271 + x % P) % P
  h = (h * 69621 + 1013904223) % P
  h = (h * 48271) % P
  return h
end

local function string_hash(s)
  local h = 5381
  for i = 1, #s do h = (h * 33 + byte(s, i)) % P end
  return h
end

local function rfc3339(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", floor(t))
end
-- the same arithmetic for evcp_emulator.stream
M.P, M.mix, M.string_hash, M.rfc3339 = P, mix, string_hash, rfc3339

local function status_at(evse, h, k)
  if k <= 0 then return evse.status end
  local r = mix(h, k) % 1000
  local weights = M.WEIGHTS
  for i = 1, #weights do
    local w = weights[i]
    if r < w[2] then return w[1] end
    r = r - w[2]
  end
  return "available"
end

function M.new(opts)
  local now = opts.now or os.time
  local self = setmetatable({
    seed = tonumber(opts.seed) or 1,
    interval = tonumber(opts.interval) or 60,
    now = now,
    uid_hash = {},
  }, M)
  self.start_time = tonumber(opts.start_time) or now()
  self.seed_hash = mix(5381, floor(self.seed) % P)
  -- hash every EVSE once, in the nginx master, so that workers inherit the table
  for _, rec in ipairs(opts.db and opts.db.locations or {}) do
    for _, evse in ipairs(rec.evses or {}) do self:hash_of(evse) end
  end
  return self
end

function M:hash_of(evse)
  local h = self.uid_hash[evse]
  if not h then
    h = mix(string_hash(tostring(evse.uid)), self.seed_hash)
    self.uid_hash[evse] = h
  end
  return h
end

function M:step()
  local interval = self.interval
  if not interval or interval <= 0 then return 0 end
  local k = floor((self.now() - self.start_time) / interval)
  if k < 0 then k = 0 end
  return k
end

-- `modified` is the start of the latest step at which the status changed, or the base
-- `modified` when it has not changed since step 0 (within LOOKBACK steps).
function M:evse_state(evse, k)
  if k <= 0 then return evse.status, evse.modified end
  local h = self:hash_of(evse)
  local current = status_at(evse, h, k)
  local j = k
  local limit = k - M.LOOKBACK
  while j > 0 and j > limit do
    if status_at(evse, h, j - 1) ~= current then
      return current, rfc3339(self.start_time + j * self.interval)
    end
    j = j - 1
  end
  if j <= 0 then return current, evse.modified end
  return current, rfc3339(self.start_time + j * self.interval)
end

return M
