-- The benchmarks' timing harness, shared by bench/bench.lua and bench/stream_apply.lua
-- (each loads it with dofile("bench/harness.lua"), from the repository's root).
-- A comparison runs evcp and its floor in the same process, interleaved, with the
-- garbage each side makes collected inside its own timing, and writes one JSON line:
--   {"bench": NAME, "runtime": ..., "evcp": X, "floor": Y, "unit": U, "ratio": R,
--    "target": T, "met": R <= T, "cpu_ratio": C}
-- (T and met are null for a comparison without a target). ratio is wall clock, what a
-- user waits; cpu_ratio is the same medians in this process's CPU time (os.clock),
-- which leaves out the emulator's share of the HTTP benchmarks and is steadier on a
-- busy machine. EVCP_BENCH=NAME runs that comparison alone.
--
--   H.report(name, unit, scale, evcp_fn, floor_fn, reps, inner)
--       -> the median seconds per call of evcp_fn and of floor_fn, or nothing when
--          EVCP_BENCH names another comparison
--   H.median(list), H.timed(fn, inner), H.only, H.runtime, H.TARGET
local socket = require("socket")

local H = {}

H.runtime = jit and "LuaJIT 2.1" or "Lua 5.4"
H.only = os.getenv("EVCP_BENCH")
local now = socket.gettime

-- The ratio each comparison must stay under (issue 7, section 6; issue 8 adds
-- lookup-keepalive with a cached OAuth token; issue 10 §7 stream-apply).
H.TARGET = { ["v3-decode"] = 1.10, ["v3-batch-http"] = 1.10, ["lookup-keepalive"] = 1.10,
  ["lookup-keepalive-oauth"] = 1.10, ["v3-traverse"] = 1.25, ["v2-json"] = 1.25, ["v2-xml"] = 1.5,
  ["stream-apply"] = 1.43 }

function H.median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  local n = #s
  if n % 2 == 1 then return s[(n + 1) / 2] end
  return (s[n / 2] + s[n / 2 + 1]) / 2
end
local median = H.median

-- wall and CPU seconds per call of fn
function H.timed(fn, inner)
  collectgarbage()
  collectgarbage()
  local t0, c0 = now(), os.clock()
  for _ = 1, inner do fn() end
  collectgarbage() -- the garbage this side made is part of its cost
  return (now() - t0) / inner, (os.clock() - c0) / inner
end
local timed = H.timed

function H.report(name, unit, scale, evcp_fn, floor_fn, reps, inner)
  if H.only and H.only ~= name then return end
  evcp_fn()
  floor_fn()
  local te, tf, ratios, cpu = {}, {}, {}, {}
  for r = 1, reps do
    local a, b, ca, cb
    if r % 2 == 0 then
      a, ca = timed(evcp_fn, inner)
      b, cb = timed(floor_fn, inner)
    else
      b, cb = timed(floor_fn, inner)
      a, ca = timed(evcp_fn, inner)
    end
    te[r], tf[r], ratios[r], cpu[r] = a, b, a / b, ca / cb
  end
  local ratio, target = median(ratios), H.TARGET[name]
  local verdict = '"target": null, "met": null' -- a comparison for information, with no target
  if target then verdict = string.format('"target": %.2f, "met": %s', target, tostring(ratio <= target)) end
  io.write(string.format('{"bench": "%s", "runtime": "%s", "evcp": %.4f, "floor": %.4f, "unit": "%s", "ratio": %.3f, '
    .. '%s, "cpu_ratio": %.3f}\n', name, H.runtime, median(te) * scale, median(tf) * scale, unit, ratio, verdict,
    median(cpu)))
  io.stdout:flush()
  return median(te), median(tf)
end

return H
