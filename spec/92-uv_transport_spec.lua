-- The events mode of the libcurl transport (csrc/transport.c: start, action,
-- wants, evcp.CurlJob) and the uv host over it (lua/evcp/hosts/uv.lua), on
-- luv's default loop in this process, against spec/rawserver.lua. spec/45
-- runs every conformance case through the uv host too (spec/nvim/uv_sync.lua);
-- the cases here are about what only an event-driven transport has: jobs
-- overlapping, cancelled, collected or cut off by close mid-flight, the
-- loop going on while a run or a sleep waits, and calls that cannot yield.
-- Expected values come from the server's routes and the clock, never from
-- the transport.
local uv = require("luv")
local core = require("evcp.core")
local host = require("evcp.hosts.uv")
local sync = require("nvim.uv_sync")
local rsp = require("rawserver_process")
local clock, events, only = rsp.clock, rsp.events, rsp.only

local SLACK = 1.0
if os.getenv("EVCP_SLOW") or (os.getenv("LD_PRELOAD") or ""):find("vgpreload", 1, true) then SLACK = 5.0 end

-- runs the loop until pred() holds (or `limit` seconds pass)
local function loop_until(pred, limit)
  local t0 = clock()
  while not pred() do
    if clock() - t0 > (limit or 10) then error("loop_until: gave up", 2) end
    uv.run("once")
  end
end

-- a host that collects the errors of the coroutines it resumes
local function collecting()
  local errs = {}
  return { uv = uv, resume = function(f)
    local ok, err = pcall(f)
    if not ok then errs[#errs + 1] = err end
  end }, errs
end

-- drives an events-mode C transport by hand until job is done: the host's
-- part, with a plain poll of the sockets it asked for (no luv)
local function drive_c(t, job, limit)
  local socket = require("socket")
  local watched = {}
  local timer_at
  local t0 = clock()
  local function apply()
    local list, ms = t:wants()
    for i = 1, #list, 2 do
      local fd, ev = list[i], list[i + 1]
      if ev >= 4 or ev % 4 == 0 then watched[fd] = nil end
      if ev % 4 ~= 0 then watched[fd] = ev % 4 end
    end
    if ms then timer_at = ms >= 0 and clock() + ms / 1000 or nil end
  end
  apply()
  while not job:done() do
    if clock() - t0 > (limit or 10) then error("drive_c: gave up", 2) end
    socket.sleep(0.002)
    -- every watched socket gets its action (libcurl reads what is there);
    -- the timer when due
    for fd, ev in pairs(watched) do
      t:action(fd, ev)
      apply()
    end
    if timer_at and clock() >= timer_at then
      timer_at = nil
      t:action(-1, 0)
      apply()
    end
  end
end

describe("events mode of the curl transport and the uv host", function()
  local srv, base

  setup(function()
    srv = {}
    rsp.start(srv)
    base = srv.base
  end)

  teardown(function()
    rsp.stop(srv)
  end)

  before_each(function()
    rsp.clear(srv)
  end)

  describe("the C API", function()
    it("run on an events transport raises, and start, action, wants on a blocking one", function()
      local ev = core.curl_transport({ events = true, proxy = "" })
      local bl = core.curl_transport({ proxy = "" })
      local ok, err = pcall(ev.run, ev, {})
      assert.is_false(ok)
      assert.matches("driven by events", err, 1, true)
      for _, m in ipairs({ "start", "action", "wants" }) do
        ok, err = pcall(bl[m], bl, {})
        assert.is_false(ok)
        assert.matches(m .. ": this transport is blocking", err, 1, true)
      end
      assert.has_error(function() core.curl_transport({ events = "yes" }) end)
      ev:close()
      bl:close()
    end)

    it("start checks every record first, with run's errors; nothing is sent", function()
      local ev = core.curl_transport({ events = true, proxy = "" })
      local bl = core.curl_transport({ proxy = "" })
      local lists = {
        { { url = base .. "/echo" }, { url = "ftp://x/" } },
        { { url = base .. "/echo" }, 42 },
        { { url = base .. "/echo", headers = { ["Content-Length"] = "1" } } },
        { { url = base .. "/echo", timeout = 0 } },
      }
      for _, list in ipairs(lists) do
        local ok1, e1 = pcall(bl.run, bl, list)
        local ok2, e2 = pcall(ev.start, ev, list)
        assert.is_false(ok1)
        assert.is_false(ok2)
        assert.equal(e1, e2)
      end
      assert.equal(0, #only(events(srv), "CONN"))
      ev:close()
      bl:close()
    end)

    it("a job gives its results once, only when done; tostring tells its state", function()
      local t = core.curl_transport({ events = true, proxy = "" })
      local job = t:start({ { url = base .. "/echo/a" }, { url = base .. "/delay/100/b" } })
      assert.equal("evcp.CurlJob: 0 of 2 done", tostring(job))
      assert.is_false(job:done())
      local ok, err = pcall(job.results, job)
      assert.is_false(ok)
      assert.matches("not done", err, 1, true)
      drive_c(t, job)
      assert.equal("evcp.CurlJob: done", tostring(job))
      local rs = job:results()
      assert.equal(2, #rs)
      assert.equal(200, rs[1].status)
      assert.equal("b", rs[2].body)
      ok, err = pcall(job.results, job)
      assert.is_false(ok)
      assert.matches("already taken", err, 1, true)
      job:cancel() -- no effect any more
      assert.has_error(function() job.done({}) end)
      assert.equal("string", type(getmetatable(job)))
      local empty = t:start({})
      assert.is_true(empty:done())
      assert.same({}, empty:results())
      t:close()
    end)

    it("bad fd and flags raise; an fd libcurl does not know is ignored", function()
      local t = core.curl_transport({ events = true, proxy = "" })
      for _, args in ipairs({ { -2, 0 }, { 1.5, 0 }, { 0 / 0, 0 }, { 3, 8 }, { 3, -1 }, { "x", 0 } }) do
        assert.has_error(function() t:action(args[1], args[2]) end)
      end
      assert.equal(0, t:action(1000, 1))
      assert.equal(0, t:action(-1, 0))
      t:close()
    end)

    it("a cancelled job leaves the multi handle; the transport goes on", function()
      local t = core.curl_transport({ events = true, proxy = "", max_parallel = 2 })
      local slow = t:start({ { url = base .. "/delay/3000/x" }, { url = base .. "/silent" },
        { url = base .. "/delay/3000/queued" } })
      local t0 = clock()
      drive_c(t, { done = function() return #only(events(srv), "REQ") >= 2 end })
      slow:cancel()
      slow:cancel()
      assert.is_true(slow:done())
      assert.equal("evcp.CurlJob: (cancelled)", tostring(slow))
      local ok, err = pcall(slow.results, slow)
      assert.is_false(ok)
      assert.matches("cancelled", err, 1, true)
      local job = t:start({ { url = base .. "/echo/after" } })
      drive_c(t, job)
      assert.equal(200, job:results()[1].status)
      assert.is_true(clock() - t0 < 1 + SLACK)
      -- the queued request never started
      for _, e in ipairs(only(events(srv), "REQ")) do assert.is_nil(e.payload:find("queued", 1, true)) end
      t:close()
    end)

    it("a job collected in flight leaves the multi handle; the job queued behind it runs", function()
      local t = core.curl_transport({ events = true, proxy = "", max_parallel = 1 })
      do
        local _ = t:start({ { url = base .. "/silent" }, { url = base .. "/silent" } })
      end
      local job = t:start({ { url = base .. "/echo/behind" } })
      drive_c(t, { done = function() return #only(events(srv), "REQ") >= 1 end })
      collectgarbage()
      collectgarbage()
      drive_c(t, job)
      assert.equal("behind", job:results()[1].body:match("/echo/(%w+)"))
      t:close()
    end)

    it("close cancels the jobs in flight; a job outlives its closed transport", function()
      local t = core.curl_transport({ events = true, proxy = "" })
      local job = t:start({ { url = base .. "/silent" } })
      drive_c(t, { done = function() return #only(events(srv), "REQ") >= 1 end })
      t:close()
      assert.is_true(job:done())
      local ok, err = pcall(job.results, job)
      assert.is_false(ok)
      assert.matches("transport was closed", err, 1, true)
      assert.has_error(function() t:start({}) end)
      assert.has_error(function() t:action(-1, 0) end)
      t = nil -- luacheck: ignore
      collectgarbage()
      collectgarbage()
      assert.equal("evcp.CurlJob: (cancelled)", tostring(job))
    end)

    it("transports and jobs dropped in flight, in any order, are collected cleanly", function()
      for round = 1, 6 do
        local t = core.curl_transport({ events = true, proxy = "", max_parallel = 2 })
        local jobs = {}
        for i = 1, 3 do jobs[i] = t:start({ { url = base .. "/delay/2000/" .. i }, { url = base .. "/silent" } }) end
        drive_c(t, { done = function() return #only(events(srv), "REQ") >= 2 end })
        if round % 2 == 0 then jobs[2]:cancel() end
        if round % 3 == 0 then t:close() end
        t, jobs = nil, nil -- luacheck: ignore
        collectgarbage()
        collectgarbage()
        rsp.clear(srv)
      end
    end)

    it("a finalizer closing the transport while start reads its records never breaks it", function()
      for round = 1, 20 do
        local t = core.curl_transport({ events = true, proxy = "" })
        local reqs = {}
        for i = 1, 10 do
          local h = {}
          for j = 1, 100 do h["X-" .. j] = ("v"):rep(j * 20) end
          reqs[i] = { url = ("%s/echo/%d"):format(base, i), headers = h }
        end
        local gc = function()
          if round % 2 == 0 then pcall(t.start, t, { { url = base .. "/echo/nested" } }) end
          t:close()
        end
        if newproxy then
          local p = newproxy(true)
          getmetatable(p).__gc = gc
        else
          setmetatable({}, { __gc = gc })
        end
        collectgarbage("setpause", 0)
        collectgarbage("setstepmul", 1000)
        local ok, job = pcall(t.start, t, reqs)
        collectgarbage("setpause", 200)
        collectgarbage("setstepmul", 200)
        collectgarbage()
        if ok and not t:is_closed() then
          drive_c(t, job)
          assert.equal(10, #job:results())
        elseif not ok then
          assert.matches("closed", job)
        end
        t:close()
      end
    end)
  end)

  describe("the uv host", function()
    it("several runs overlap on one transport, each in its own coroutine", function()
      local ho, errs = collecting()
      local t = host.new({ proxy = "", max_parallel = 8 }, ho)
      local got, n = {}, 0
      local t0 = clock()
      for i = 1, 4 do
        coroutine.wrap(function()
          local rs = t:run({ { url = ("%s/delay/600/r%d"):format(base, i) }, { url = base .. "/echo/x" } })
          got[i] = rs[1].body
          n = n + 1
        end)()
      end
      assert.equal(4, t:pending())
      loop_until(function() return n == 4 end)
      local took = clock() - t0
      assert.same({}, errs)
      assert.same({ "r1", "r2", "r3", "r4" }, got)
      assert.is_true(took < (SLACK > 1 and 2.3 or 1.3), took) -- not 4 x 0.6 s
      assert.equal(0, t:pending())
      t:close()
      uv.run("nowait")
    end)

    it("the loop keeps ticking while a run waits; run yields at once", function()
      local ticks = 0
      local tick = uv.new_timer()
      tick:start(50, 50, function() ticks = ticks + 1 end)
      local ho, errs = collecting()
      local t = host.new({ proxy = "" }, ho)
      local r, at_yield
      local t0 = clock()
      coroutine.wrap(function() r = t:run({ { url = base .. "/delay/1000/slow" } })[1] end)()
      at_yield = clock() - t0
      loop_until(function() return r ~= nil end)
      tick:close()
      assert.same({}, errs)
      assert.equal("slow", r.body)
      assert.is_true(at_yield < 0.1, at_yield)
      assert.is_true(ticks >= 15, ticks) -- about 20 in 1 s
      t:close()
      uv.run("nowait")
    end)

    it("sleep yields to the loop and wakes no earlier than asked", function()
      local ticks = 0
      local tick = uv.new_timer()
      tick:start(20, 20, function() ticks = ticks + 1 end)
      local t = host.new({ proxy = "" }, (collecting()))
      local slept
      local t0 = t:now()
      coroutine.wrap(function()
        t:sleep(0.3)
        slept = t:now() - t0
      end)()
      assert.is_nil(slept)
      loop_until(function() return slept ~= nil end)
      tick:close()
      assert.is_true(slept >= 0.3, slept)
      assert.is_true(ticks >= 8, ticks)
      for _, v in ipairs({ -1, 0 / 0, math.huge, 1e9, "x" }) do
        assert.has_error(function() coroutine.wrap(function() t:sleep(v) end)() end)
      end
      t:close()
      uv.run("nowait")
    end)

    it("run or sleep outside a coroutine raises an error explaining both forms", function()
      local t = host.new({ proxy = "" }, (collecting()))
      for _, call in ipairs({ function() t:run({ { url = base .. "/echo" } }) end, function() t:sleep(0.01) end }) do
        local ok, err = pcall(call)
        assert.is_false(ok)
        assert.matches("must be called from a coroutine", err, 1, true)
        assert.matches("client:location(id, opts, function(loc, err)", err, 1, true)
        assert.matches("coroutine.wrap", err, 1, true)
      end
      -- a coroutine that cannot yield here (inside table.sort's comparator) is told the same
      local msg
      coroutine.wrap(function()
        local ok, err = pcall(table.sort, { 2, 1 }, function(a, b)
          t:sleep(0)
          return a < b
        end)
        msg = ok and "no error" or err
      end)()
      assert.matches("must be called from a coroutine", msg, 1, true)
      assert.equal(0, #only(events(srv), "CONN"))
      t:close()
    end)

    it("close with runs and sleeps waiting: each raises in its coroutine, from the loop", function()
      local ho, errs = collecting()
      local t = host.new({ proxy = "" }, ho)
      local outcome = {}
      coroutine.wrap(function()
        local ok, err = pcall(t.run, t, { { url = base .. "/silent" } })
        outcome.run = ok and "returned" or err
      end)()
      coroutine.wrap(function()
        local ok, err = pcall(t.sleep, t, 30)
        outcome.sleep = ok and "returned" or err
      end)()
      loop_until(function() return #only(events(srv), "REQ") >= 1 end)
      local t0 = clock()
      t:close()
      t:close()
      assert.is_nil(outcome.run) -- not from inside close
      loop_until(function() return outcome.run and outcome.sleep end)
      assert.is_true(clock() - t0 < SLACK)
      assert.matches("closed while the requests were in flight", outcome.run, 1, true)
      assert.matches("closed while sleeping", outcome.sleep, 1, true)
      assert.same({}, errs)
      assert.is_true(t:is_closed())
      assert.has_error(function() coroutine.wrap(function() t:run({}) end)() end)
      -- every handle is gone: the loop has nothing left
      uv.run("nowait")
      assert.is_false(uv.loop_alive())
    end)

    it("an idle transport holds no loop handle: dropped without close, it is collected", function()
      local weak = setmetatable({}, { __mode = "k" })
      do
        local t = host.new({ proxy = "" }, (collecting()))
        weak[t] = true
        local r
        coroutine.wrap(function() r = t:run({ { url = base .. "/echo/idle" } })[1] end)()
        loop_until(function() return r ~= nil end)
        assert.equal(200, r.status)
        uv.run("nowait")
        -- no handle is left, active or not (a stopped one would anchor the transport)
        local left = 0
        uv.walk(function(hd) if not hd:is_closing() then left = left + 1 end end)
        assert.equal(0, left)
      end
      collectgarbage()
      collectgarbage()
      uv.run("nowait")
      collectgarbage()
      collectgarbage()
      assert.is_nil(next(weak))
    end)

    it("an error raised by a resumed coroutine reaches the host's resume", function()
      local ho, errs = collecting()
      local t = host.new({ proxy = "" }, ho)
      local done = false
      coroutine.wrap(function()
        t:run({ { url = base .. "/echo" } })
        done = true
        error("boom after the run")
      end)()
      loop_until(function() return done end)
      assert.equal(1, #errs)
      assert.matches("boom after the run", errs[1], 1, true)
      t:close()
      uv.run("nowait")
    end)

    it("the default resume re-raises a coroutine's error from the loop callback", function()
      -- luv's own callback error handling takes it from there (in a child process:
      -- luv prints "Uncaught Error" and exits)
      local out = require("helper").child(([[
        local t = require("evcp.hosts.uv").new({ proxy = "" })
        coroutine.wrap(function() t:run({ { url = %q } }); error("surfaced from the coroutine") end)()
        require("luv").run()
        print("not reached")
      ]]):format(base .. "/echo"))
      assert.matches("surfaced from the coroutine", out, 1, true)
      assert.is_nil(out:find("not reached", 1, true))
    end)

    it("a batch of 200 requests over 8 slots under an aggressive GC, two runs at once", function()
      local ho, errs = collecting()
      local t = host.new({ proxy = "", max_parallel = 8 }, ho)
      local results = {}
      collectgarbage("setpause", 0)
      for k = 1, 2 do
        coroutine.wrap(function()
          local reqs = {}
          for i = 1, 100 do reqs[i] = { url = ("%s/echo/k%dn%d"):format(base, k, i) } end
          results[k] = t:run(reqs)
        end)()
      end
      loop_until(function() return results[1] and results[2] end, 30)
      collectgarbage("setpause", 200)
      assert.same({}, errs)
      for k = 1, 2 do
        for i = 1, 100 do
          assert.truthy(results[k][i].body:find(("/echo/k%dn%d "):format(k, i), 1, true))
        end
      end
      t:close()
      uv.run("nowait")
    end)

    it("is what evcp.new{transport = 'uv'} makes: a lookup at the emulator from a coroutine", function()
      local h = require("helper")
      assert(h.url, "EVCP_TEST_URL is not set: run the suite with spec/run.sh")
      local c = h.client({ transport = "uv" })
      local outside_ok, outside_err = pcall(c.location, c, h.seed_id)
      assert.is_false(outside_ok)
      assert.matches("must be called from a coroutine", tostring(outside_err), 1, true)
      local loc, err = sync.drive(function() return c:location(h.seed_id, { fields = { "evses" } }) end)
      assert(loc, tostring(err))
      assert.equal(h.seed_id, loc.id)
      c:close()
      uv.run("nowait")
    end)
  end)
end)
