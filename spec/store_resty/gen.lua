-- The update set spec/64 applies in nginx and checks against: N updates of E
-- EVSEs over 3 locations, times in a narrow window (many ties and older
-- updates), all from a fixed seed. Pure arithmetic (no math.random), so the
-- spec process and nginx's workers build the same list on any runtime.
local M = {}

M.STATUSES = { "available", "blocked", "charging", "inoperative", "outOfOrder", "reserved",
  "unknown", "operational" }
M.RAW = { "AVAILABLE", "BLOCKED", "CHARGING", "INOPERATIVE", "OUT_OF_ORDER", "RESERVED",
  "UNKNOWN", "OPERATIONAL" }
M.BASE = 1796119200
M.LOCATIONS = { "here:evcp:charginglocation:spec64-a", "here:evcp:charginglocation:spec64-b",
  "here:evcp:charginglocation:spec64-c" }

local P = 2147483647
local function step(h) return (h * 48271) % P end

function M.updates(n, e)
  local out, h = {}, 64
  for i = 1, n do
    h = step(h)
    local k = h % e + 1
    h = step(h)
    local s = h % #M.STATUSES + 1
    h = step(h)
    local sec = M.BASE + h % 40
    out[i] = { evse_id = ("here:evcp:evse:spec64-%03d"):format(k),
      location_id = M.LOCATIONS[k % 3 + 1], status = M.STATUSES[s], raw_status = M.RAW[s],
      last_updated = os.date("!%Y-%m-%dT%H:%M:%SZ", sec), sec = sec,
      partition = i % 4, offset = i }
  end
  return out
end

-- the list in another order (a deterministic shuffle by seed)
function M.shuffled(list, seed)
  local out = {}
  for i, u in ipairs(list) do out[i] = u end
  local h = seed
  for i = #out, 2, -1 do
    h = step(h + 1)
    local j = h % i + 1
    out[i], out[j] = out[j], out[i]
  end
  return out
end

return M
