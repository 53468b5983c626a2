-- resty-throughput (issue 9, "Done when"): requests per second through an
-- OpenResty location doing one evcp lookup each (transport = "resty"), against
-- the same location calling ngx.run_worker_thread with a bare libcurl fetch +
-- cjson.decode (of the body, on the request's side, where evcp decodes and
-- where a handler needs the data; EVCP_RESTY_FLOOR=thread decodes in the
-- thread pool instead and passes only the id back): the same nginx (one worker, thread_pool evcp threads=4), the
-- same emulator (EVCP_TEST_URL, else one started here), the same load
-- generator (wrk), in alternating rounds; the median of the rounds' ratios.
-- Prints one JSON line as bench/bench.lua does:
--   {"bench": "resty-throughput", "runtime": "LuaJIT 2.1 (OpenResty)", "evcp": X,
--    "floor": Y, "unit": "req/s", "ratio": X / Y, "target": 0.80, "met": ratio >= 0.8}
-- Run from the checkout: luajit bench/resty/bench.lua (spec/ and lua/ on
-- LUA_PATH; see bench/run.sh). Environment: EVCP_RESTY_SECONDS (per round,
-- default 4), EVCP_RESTY_ROUNDS (default 5), EVCP_RESTY_CONNECTIONS (wrk -c,
-- default 16), WRK (the wrk command).
local only = os.getenv("EVCP_BENCH")
if only and only ~= "resty-throughput" then return end -- one bench asked for, not this one
local nx = require("openresty.nginx")

local ROOT = nx.root
local SECONDS = tonumber(os.getenv("EVCP_RESTY_SECONDS") or "") or 4
local ROUNDS = tonumber(os.getenv("EVCP_RESTY_ROUNDS") or "") or 5
local CONNS = tonumber(os.getenv("EVCP_RESTY_CONNECTIONS") or "") or 16
local WRK = os.getenv("WRK") or "wrk"
local FLOOR = os.getenv("EVCP_RESTY_FLOOR") == "thread" and "/floor-thread" or "/floor"
local KEY = os.getenv("EVCP_API_KEY") or "demo-key"
local CID = "246udbvy497hq-aGVyZS1ldjplY29tb3ZlbWVudDoyMDEyMTg1ODgz" -- the dataset's seed location

local emu
local url = os.getenv("EVCP_TEST_URL")
if url == nil or url == "" then
  emu = require("emulator_process").start("--status-interval 0 --workers 2 --api-key " .. KEY)
  url = emu.url
end

local cfg = ("{ base_url = %q, api_key = %q, id = %q, url = %q }")
  :format(url, KEY, CID, url .. "/v3/locations/" .. CID .. "?apiKey=" .. KEY)
local srv = nx.start({
  threads = 4,
  lua_path = ROOT .. "bench/resty/?.lua;",
  http = "init_by_lua_block { require('handlers').configure(" .. cfg .. ") }",
  server = [[
    location = /evcp { content_by_lua_block { require("handlers").evcp() } }
    location = /floor { content_by_lua_block { require("handlers").floor() } }
    location = /floor-thread { content_by_lua_block { require("handlers").floor_thread() } }]],
})

local function check(path)
  local status, body = nx.get(srv.url .. path, 30)
  if status ~= 200 or not body:find(CID, 1, true) then
    local why = ("%s answered %s: %s\n%s"):format(path, tostring(status), tostring(body), nx.log(srv))
    nx.stop(srv)
    if emu then require("emulator_process").stop(emu) end
    error(why)
  end
end

local function wrk(path)
  local p = io.popen(("env -u LD_PRELOAD %s -t 2 -c %d -d %ds %s%s 2>&1"):format(WRK, CONNS, SECONDS, srv.url, path))
  local out = p:read("*a")
  p:close()
  local rps = tonumber(out:match("Requests/sec:%s*([%d%.]+)"))
  local bad = out:match("Non%-2xx or 3xx responses:%s*(%d+)")
  if rps == nil or bad then error("wrk on " .. path .. ": " .. out) end
  return rps, tonumber(out:match("(%d+) requests in"))
end

-- the emulator's count of data requests: each request through nginx must have
-- made exactly one
local cjson = require("cjson")
local function data_requests()
  local status, body = nx.get(url .. "/_emulator/stats", 10)
  assert(status == 200, "no /_emulator/stats")
  return cjson.decode(body).data_requests
end

local function measure(path)
  local before = data_requests()
  local rps, n = wrk(path)
  local made = data_requests() - before
  -- wrk counts completed responses; a few more may have been in flight at its end
  if n == nil or made < n or made > n + 2 * CONNS then
    error(("%s: wrk counted %s responses, the emulator %d requests"):format(path, tostring(n), made))
  end
  return rps
end

local function median(t)
  table.sort(t)
  local n = #t
  return n % 2 == 1 and t[(n + 1) / 2] or (t[n / 2] + t[n / 2 + 1]) / 2
end

local ok, err = pcall(function()
  check("/evcp")
  check(FLOOR)
  wrk("/evcp") -- warm-up: connections, JIT, the thread VMs
  wrk(FLOOR)
  local e, f = {}, {}
  for r = 1, ROUNDS do
    f[r] = measure(FLOOR)
    e[r] = measure("/evcp")
    io.stderr:write(("resty-throughput round %d: evcp %.0f req/s, floor (%s) %.0f req/s\n"):format(r, e[r], FLOOR,
      f[r]))
  end
  -- as bench/bench.lua: the median of the rounds' ratios (each round pairs a
  -- floor run with the evcp run right after it, so slow drift on a shared
  -- machine cancels out)
  local ratios = {}
  for r = 1, ROUNDS do ratios[r] = e[r] / f[r] end
  local ratio = median(ratios)
  local me, mf = median(e), median(f)
  io.write(('{"bench": "resty-throughput", "runtime": "LuaJIT 2.1 (OpenResty)", "evcp": %.1f, "floor": %.1f, '
    .. '"unit": "req/s", "ratio": %.3f, "target": 0.80, "met": %s}\n'):format(me, mf, ratio, tostring(ratio >= 0.8)))
end)
nx.stop(srv)
if emu then require("emulator_process").stop(emu) end
if not ok then
  io.stderr:write("resty-throughput: ", tostring(err), "\n")
  os.exit(1)
end
