-- What spec/93 has a real `nvim --headless` do: evcp calls made the ways a
-- plugin makes them, against the emulator, each step after the previous
-- one, while a 50 ms timer ticks. The measurements go to a JSON report
-- ($EVCP_NVIM_DIR/report.json); then nvim quits. Input: $EVCP_NVIM_DIR/config.json
-- {url, key, seed, ids}. No assertion here: spec/93 judges the report.
local root = assert(os.getenv("EVCP_ROOT"), "EVCP_ROOT is not set")
local build = os.getenv("EVCP_BUILDJIT") or "build/luajit"
if build:sub(1, 1) ~= "/" then build = root .. "/" .. build end
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = build .. "/?.so;" .. package.cpath

local dir = assert(os.getenv("EVCP_NVIM_DIR"), "EVCP_NVIM_DIR is not set")
local uv = vim.loop
local function readfile(p)
  local f = assert(io.open(p))
  local s = f:read("*a")
  f:close()
  return s
end
local cfg = vim.json.decode(readfile(dir .. "/config.json"))

local evcp = require("evcp")
local nvim_host = require("evcp.hosts.nvim")

local report = {}
local function clock() return uv.hrtime() / 1e9 end

local function finish()
  local f = assert(io.open(dir .. "/report.json.tmp", "w"))
  f:write(vim.json.encode(report))
  f:close()
  os.rename(dir .. "/report.json.tmp", dir .. "/report.json")
  vim.cmd("qa!")
end

-- the editor loop's pulse: ticks of a 50 ms timer
local ticks = 0
local pulse = uv.new_timer()
pulse:start(50, 50, function() ticks = ticks + 1 end)

-- a transport over the real "nvim" one that adds X-Emulator-Fault to the
-- data requests: kinds[n] for the n-th request, else kinds.default
local function faulty(kinds)
  local inner = nvim_host.new({ proxy = "", timeout = 10 })
  local n = 0
  local t = {}
  function t.run(_, reqs)
    for _, r in ipairs(reqs) do
      n = n + 1
      local k = kinds[n] or kinds.default
      if k then
        r.headers = r.headers or {}
        r.headers["X-Emulator-Fault"] = k
      end
    end
    return inner:run(reqs)
  end
  function t.sleep(_, s) return inner:sleep(s) end
  function t.now() return inner:now() end
  function t.close() inner:close() end
  function t.is_closed() return inner:is_closed() end
  return t
end

local function client(transport)
  return evcp.new({ base_url = cfg.url, api_key = cfg.key, transport = transport })
end

local function api_ok()
  -- the editor API answers only outside fast events
  return (pcall(vim.api.nvim_buf_set_lines, 0, 0, -1, false, { "evcp" }))
end

local steps = {}
local function run_steps(i)
  if steps[i] == nil then return finish() end
  local ok, err = pcall(steps[i], function() vim.schedule(function() run_steps(i + 1) end) end)
  if not ok then
    report["step" .. i .. "_error"] = tostring(err)
    vim.schedule(function() run_steps(i + 1) end)
  end
end

-- 1. a 2 s lookup from a coroutine: the loop keeps ticking; the call yields at once
steps[#steps + 1] = function(next_step)
  local c = client(faulty({ default = "delay-2000" }))
  local t0, ticks0 = clock(), ticks
  coroutine.wrap(function()
    local loc, err = c:location(cfg.seed)
    report.slow = { took = clock() - t0, ticks = ticks - ticks0, id = loc and loc.id, err = err and tostring(err),
      fast = vim.in_fast_event(), api = api_ok() }
    c:close()
    next_step()
  end)()
  report.slow_yield = clock() - t0
end

-- 2. evcp.new{transport = "nvim"}: a lookup from a coroutine; outside one it explains
steps[#steps + 1] = function(next_step)
  local c = client("nvim")
  local ok, err = pcall(c.location, c, cfg.seed)
  report.outside = { ok = ok, err = tostring(err) }
  coroutine.wrap(function()
    local loc, lerr = c:location(cfg.seed, { fields = { "evses" } })
    local n = 0
    if loc then for _ in loc:evses() do n = n + 1 end end
    report.plain = { id = loc and loc.id, evses = n, err = lerr and tostring(lerr), fast = vim.in_fast_event(),
      api = api_ok() }
    c:close()
    next_step()
  end)()
end

-- 3. the callback form (the client runs the call in a coroutine of its own)
steps[#steps + 1] = function(next_step)
  local c = client("nvim")
  local t0 = clock()
  local ok, err = pcall(c.location, c, cfg.seed, {}, function(loc, lerr)
    report.callback = { id = loc and loc.id, err = lerr and tostring(lerr), fast = vim.in_fast_event(),
      api = api_ok(), took = clock() - t0 }
    c:close()
    next_step()
  end)
  report.callback_returned = clock() - t0
  if not ok then
    report.callback = { raised = tostring(err) }
    c:close()
    next_step()
  end
end

-- 4. a batch: its requests (100 ids each), each delayed 1 s, run concurrently
steps[#steps + 1] = function(next_step)
  local c = client(faulty({ default = "delay-1000" }))
  local t0, ticks0 = clock(), ticks
  coroutine.wrap(function()
    local res, err = c:locations(cfg.ids)
    report.batch = { took = clock() - t0, ticks = ticks - ticks0, items = res and #res.items,
      missing = res and #res.missing, err = err and tostring(err), ids = #cfg.ids }
    c:close()
    next_step()
  end)()
end

-- 5. a retry after 503 with Retry-After: 1: the policy's sleep yields too
steps[#steps + 1] = function(next_step)
  local c = client(faulty({ "503-1" }))
  local t0, ticks0 = clock(), ticks
  coroutine.wrap(function()
    local loc, err = c:location(cfg.seed)
    report.retry = { took = clock() - t0, ticks = ticks - ticks0, id = loc and loc.id, err = err and tostring(err) }
    c:close()
    next_step()
  end)()
end

-- 6. an error raised by the coroutine after its call returns reaches Neovim
steps[#steps + 1] = function(next_step)
  local c = client("nvim")
  vim.v.errmsg = ""
  coroutine.wrap(function()
    c:location(cfg.seed)
    c:close()
    error("EVCP_SURFACED_ERROR")
  end)()
  local tm = uv.new_timer()
  tm:start(1500, 0, vim.schedule_wrap(function()
    tm:close()
    report.surfaced = vim.v.errmsg
    next_step()
  end))
end

-- a step that never ends still ends the run
local watchdog = uv.new_timer()
watchdog:start(90000, 0, vim.schedule_wrap(function()
  report.step_watchdog_error = "the steps did not end within 90 s"
  finish()
end))

run_steps(1)
