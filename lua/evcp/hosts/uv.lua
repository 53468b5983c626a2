--- evcp.hosts.uv: the libcurl transport on a libuv loop (luv), for any host
-- that runs one: Neovim (vim.loop), luvit, a plain `require "luv"` script.
--
--   local t = require("evcp.hosts.uv").new(curl_opts, host_opts)
--   t:run(requests) -> results   t:sleep(s)   t:now()   t:close()   t:is_closed()
--
-- The object is a transport of the seam (docs/ARCHITECTURE.md): the same
-- request and result records as core.curl_transport, whose options
-- curl_opts are (the C transport made with events = true does the HTTP
-- work). run and sleep must be called from a coroutine: they yield, and the
-- coroutine is resumed when the transfers are over or the timer fires,
-- while the loop goes on serving everything else. Several coroutines may
-- have runs in flight at once on one transport: their transfers share the
-- max_parallel slots and the kept-alive connections.
--
-- How it is driven: libcurl's multi socket API. After every call into the
-- C transport (start, action, cancel) the sockets and the timeout libcurl
-- asked for are read with t:wants() and applied to one poll handle per
-- socket and one timer; their callbacks call t:action(fd, flags). No Lua
-- runs inside libcurl, and no thread is used.
--
-- host_opts (all optional):
--   uv      the luv module (vim.loop in Neovim); default require("luv")
--   resume  function(f): how a waiting coroutine is resumed. f resumes it and
--           raises what the coroutine raised. Default: f() at once (an error
--           is re-raised from the loop callback, after every other waiter
--           was resumed). Neovim passes vim.schedule, so the caller goes on
--           on the main loop, where the editor API is safe.
--   name    the transport's name in messages, default "uv"
-- The errors run and sleep raise carry no position (the caller of the
-- transport is evcp's policy, not the application): a call where no
-- coroutine can yield, a closed transport, a close while waiting.
local core = require("evcp.core")

local M = {}

local CLASS = "evcp.hosts.uv"

-- the error for a call made where it cannot yield
local function not_in_coroutine(name, what)
  return ("evcp (transport '%s'): %s must be called from a coroutine, because it waits for"
    .. " the event loop without blocking it. Either call the client inside a coroutine"
    .. " (coroutine.wrap(function() local loc, err = client:location(id, opts) ... end)())"
    .. " or use the callback form: client:location(id, opts, function(loc, err) ... end)"):format(name, what)
end

local function yieldable()
  local co, main = coroutine.running()
  if co == nil or main then return nil end
  if coroutine.isyieldable and not coroutine.isyieldable() then return nil end
  return co
end

local function good_seconds(s)
  return type(s) == "number" and s >= 0 and s <= 86400
end

--- new(curl_opts, host_opts) -> transport
function M.new(curl_opts, host_opts)
  if curl_opts ~= nil and type(curl_opts) ~= "table" then
    error("curl_transport: options must be a table, got " .. type(curl_opts), 2)
  end
  host_opts = host_opts or {}
  local uv = host_opts.uv or require("luv")
  local resume = host_opts.resume or function(f) f() end
  local name = host_opts.name or "uv"
  local opts = {}
  for k, v in pairs(curl_opts or {}) do opts[k] = v end
  opts.events = true
  local ct = core.curl_transport(opts)

  local closed = false
  local polls = {}     -- fd -> poll handle
  local timer          -- libcurl's timeout, made on first use
  local waiting = {}   -- runs in flight: list of {job = job, co = co}
  local sleepers = {}  -- sleeps in progress: entry -> true
  local self = {}
  local on_timeout, apply, wake_done

  -- resumes co (through host_opts.resume); errors are collected in errs
  local function wake(co, errs)
    local ok, err = pcall(resume, function()
      local rok, rerr = coroutine.resume(co)
      if not rok then error(debug.traceback(co, tostring(rerr)), 0) end
    end)
    if not ok then errs[#errs + 1] = err end
  end

  local function raise_first(errs)
    if errs[1] ~= nil then error(errs[1], 0) end
  end

  local watching = {} -- fd -> the events its poll handle watches ("r", "w", "rw")
  local on_socket

  local function watch(p, fd, events)
    watching[fd] = events
    p:start(events, function(err, ev) on_socket(p, fd, err, ev) end)
  end

  on_socket = function(p, fd, err, events)
    if closed then return end
    local flags = 0
    if err then
      -- libuv reports a socket error (POLLERR) as EBADF and stops the handle
      -- (luv prints the error name on stderr): libcurl sees it as an error
      flags = 4
    elseif events then
      if events:find("r", 1, true) or events:find("d", 1, true) then flags = flags + 1 end
      if events:find("w", 1, true) then flags = flags + 2 end
    end
    ct:action(fd, flags)
    apply()
    -- a socket libcurl still wants after an error is watched again
    if err and polls[fd] == p then
      local ok = pcall(watch, p, fd, watching[fd])
      if not ok then
        polls[fd] = nil
        p:close()
      end
    end
    wake_done()
  end

  -- applies what libcurl asked for since the last call
  apply = function()
    local list, ms = ct:wants()
    for i = 1, #list, 2 do
      local fd, ev = list[i], list[i + 1]
      local p, w = polls[fd], ev % 4
      if p and (ev >= 4 or w == 0) then
        polls[fd] = nil
        p:close()
        p = nil
      end
      if w ~= 0 then
        if not p then
          local perr
          p, perr = uv.new_socket_poll(fd)
          if not p then
            error(("evcp (transport '%s'): cannot watch socket %d: %s"):format(name, fd, tostring(perr)), 0)
          end
          polls[fd] = p
        end
        watch(p, fd, w == 1 and "r" or w == 2 and "w" or "rw")
      end
    end
    ct:dropped() -- the removed sockets' watches are gone: libcurl's closes happen now
    if ms ~= nil then
      if ms < 0 then
        -- closed, not stopped: an idle transport holds no handle, so one that
        -- is dropped without close is collected (and its connections closed)
        if timer then
          timer:close()
          timer = nil
        end
      else
        if not timer then timer = uv.new_timer() end
        timer:start(ms, 0, on_timeout)
      end
    end
  end

  -- resumes the coroutines whose jobs are done
  wake_done = function()
    local done, keep = {}, {}
    for _, w in ipairs(waiting) do
      if w.job:done() then done[#done + 1] = w else keep[#keep + 1] = w end
    end
    if #done == 0 then return end
    waiting = keep
    local errs = {}
    for _, w in ipairs(done) do
      w.ready = true
      wake(w.co, errs)
    end
    raise_first(errs)
  end

  on_timeout = function()
    if closed then return end
    ct:action(-1, 0)
    apply()
    wake_done()
  end

  --- t:run(requests) -> results (yields until they are all over)
  function self.run(_, reqs)
    if closed then error("evcp.CurlTransport: transport is closed", 0) end
    local co = yieldable()
    if co == nil then error(not_in_coroutine(name, "run"), 0) end
    local job = ct:start(reqs)
    if job:done() then return job:results() end
    local w = { job = job, co = co }
    local ok, err = pcall(apply)
    if not ok then
      job:cancel()
      pcall(apply)
      error(err, 0)
    end
    waiting[#waiting + 1] = w
    while not w.ready do coroutine.yield() end
    if w.closed then
      error(("run: the transport was closed while the requests were in flight"), 0)
    end
    return job:results()
  end

  --- t:sleep(s): yields for s seconds (a libuv timer)
  function self.sleep(_, s)
    if closed then error("evcp.CurlTransport: transport is closed", 0) end
    if not good_seconds(s) then
      error("bad argument #2 to 'sleep' (sleep: seconds must be a finite number in 0..86400)", 0)
    end
    local co = yieldable()
    if co == nil then error(not_in_coroutine(name, "sleep"), 0) end
    local deadline = ct:now() + s
    local entry = { co = co }
    local tm = uv.new_timer()
    entry.timer = tm
    sleepers[entry] = true
    local function arm()
      -- libuv's clock is whole milliseconds and may lag: wake at the
      -- deadline or after it, never before
      local left = deadline - ct:now()
      if left <= 0 and entry.armed then
        tm:close()
        sleepers[entry] = nil
        entry.ready = true
        local errs = {}
        wake(co, errs)
        raise_first(errs)
        return
      end
      entry.armed = true
      uv.update_time()
      tm:start(math.max(0, math.ceil(left * 1000)), 0, arm)
    end
    arm()
    while not entry.ready do coroutine.yield() end
    if entry.closed then error("sleep: the transport was closed while sleeping", 0) end
  end

  --- t:now() -> monotonic seconds
  function self.now()
    if closed then error("evcp.CurlTransport: transport is closed", 0) end
    return ct:now()
  end

  --- t:close(): idempotent. Cancels every run in flight (they raise in their
  -- coroutines, resumed from the loop) and closes every handle.
  function self.close()
    if closed then return end
    closed = true
    for fd, p in pairs(polls) do
      polls[fd] = nil
      p:close()
    end
    if timer then
      timer:close()
      timer = nil
    end
    ct:close() -- cancels the jobs
    local wake_list = {}
    for _, w in ipairs(waiting) do wake_list[#wake_list + 1] = w end
    waiting = {}
    for entry in pairs(sleepers) do
      sleepers[entry] = nil
      entry.timer:close()
      wake_list[#wake_list + 1] = entry
    end
    if #wake_list > 0 then
      -- resumed from the loop, never from inside close()
      local tm = uv.new_timer()
      tm:start(0, 0, function()
        tm:close()
        local errs = {}
        for _, w in ipairs(wake_list) do
          w.ready, w.closed = true, true
          wake(w.co, errs)
        end
        raise_first(errs)
      end)
    end
  end

  function self.is_closed() return closed end

  --- t:pending() -> number of runs and sleeps waiting (for tests and hosts)
  function self.pending()
    local n = #waiting
    for _ in pairs(sleepers) do n = n + 1 end
    return n
  end

  return setmetatable(self, {
    __tostring = function() return CLASS .. " (" .. name .. "): " .. (closed and "(closed)" or "open") end,
    __metatable = CLASS,
  })
end

M.not_in_coroutine = not_in_coroutine

return M
