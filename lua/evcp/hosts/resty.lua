-- The "resty" transport: evcp inside OpenResty / nginx with lua-nginx-module
-- (>= 0.10.21, for ngx.run_worker_thread). evcp.new{transport = "resty"}
-- makes one through new(curl_opts, host_opts).
--
-- run(reqs) hands the request records to nginx's thread pool
-- (ngx.run_worker_thread(pool, "evcp.hosts.resty_worker", "run", ...)),
-- where the libcurl transfer runs in a thread while the request's
-- coroutine yields: the nginx worker keeps serving other requests, and calls
-- from several requests run side by side (up to the pool's thread count).
-- The results come back as the plain records core.curl_transport gives.
-- sleep(s) is ngx.sleep(s) (it yields too); now() is CLOCK_MONOTONIC
-- seconds, read through LuaJIT's FFI (nginx's cached ngx.now() after
-- ngx.update_time() where the FFI declaration is not available).
--
-- Where it works: rewrite_by_lua*, access_by_lua*, content_by_lua* and
-- ngx.timer callbacks (also from a timer started in init_worker_by_lua*).
-- evcp.new itself works anywhere (init_by_lua* included); a call raises a
-- clear error in init_by_lua*, init_worker_by_lua*, set_by_lua*,
-- header/body_filter_by_lua* and log_by_lua*, where nginx allows neither
-- the thread pool nor ngx.sleep.
--
-- nginx.conf needs, in the main context, `thread_pool evcp threads=N;`
-- (host_opts.thread_pool names another pool), and lua_package_path /
-- lua_package_cpath that reach evcp's Lua modules and evcp/core.so: the
-- thread pool's VMs take their paths from the same two directives.
local core = require("evcp.core")

local M = {}

local WORKER = "evcp.hosts.resty_worker"
local NAME = "evcp.RestyTransport"

local ngx = rawget(_G, "ngx")

-- phases where ngx.run_worker_thread and ngx.sleep work (lua-nginx-module
-- 0.10.23, checked by spec/90-openresty_spec.lua)
local PHASES = { rewrite = true, access = true, content = true, timer = true,
  ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true }
local WHERE = "evcp calls work in rewrite_by_lua*, access_by_lua*, content_by_lua* and ngx.timer callbacks"
  .. " (from init_worker_by_lua*, start one with ngx.timer.at(0, fn))"

local function context_check(what)
  local phase = ngx.get_phase and ngx.get_phase() or "?"
  if not PHASES[phase] then
    error(("%s: not possible in nginx's %s phase (%s)"):format(what, phase, WHERE), 0)
  end
end

-- monotonic seconds
local now
do
  local ok, ffi = pcall(require, "ffi")
  if ok then
    ok = pcall(ffi.cdef, [[
      typedef struct { long tv_sec; long tv_nsec; } evcp_resty_timespec;
      int clock_gettime(int clk_id, evcp_resty_timespec *tp);
    ]])
    if ok then
      local ts = ffi.new("evcp_resty_timespec")
      local C = ffi.C
      ok = pcall(C.clock_gettime, 1, ts) -- CLOCK_MONOTONIC on Linux
      if ok then
        now = function()
          C.clock_gettime(1, ts)
          return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
        end
      end
    end
  end
  if now == nil then
    now = function()
      ngx.update_time()
      return ngx.now()
    end
  end
end

-- The option set's key: every (name, type, value), sorted. Transports with
-- the same options share the worker threads' libcurl handles.
local function opts_key(opts)
  local parts = {}
  for k, v in next, opts do
    parts[#parts + 1] = tostring(k) .. "\1" .. type(v) .. "\1"
      .. (type(v) == "number" and ("%.17g"):format(v) or tostring(v))
  end
  table.sort(parts)
  return table.concat(parts, "\0")
end

-- key -> { id = n, gen = n, open = count of open transports of this set }
local sets, n_sets = {}, 0
local NEED_OPTS = "evcp.hosts.resty_worker: options needed" -- resty_worker.NEED_OPTS

local SENDABLE = { ["nil"] = true, boolean = true, number = true, string = true, table = true }

-- A value ngx.run_worker_thread can copy: anything else becomes a table, which
-- the curl transport refuses naming the field, as it would the original.
local function sendable(v)
  if SENDABLE[type(v)] then return v end
  return {}
end

-- The record's fields the curl transport reads, read raw (no metamethod runs)
local function copy_record(i, r)
  local tr = type(r)
  if tr ~= "table" then
    if SENDABLE[tr] then return r end
    error(("run: request %d must be a table, got %s"):format(i, tr), 0)
  end
  local h = rawget(r, "headers")
  if type(h) == "table" then
    local hc, n = {}, 0
    for k, v in next, h do
      n = n + 1
      if not SENDABLE[type(k)] or type(k) == "table" then k = -n end
      hc[k] = sendable(v)
    end
    h = hc
  else
    h = sendable(h)
  end
  return { method = sendable(rawget(r, "method")), url = sendable(rawget(r, "url")), headers = h,
    body = sendable(rawget(r, "body")), timeout = sendable(rawget(r, "timeout")) }
end

local Transport = {}
local live = setmetatable({}, { __mode = "k" }) -- object -> state

local function state_of(self, name)
  local s = live[self]
  if s == nil then error(("%s: bad self (an %s expected)"):format(name, NAME), 0) end
  return s
end

local function open_state(self, name)
  local s = state_of(self, name)
  if s.closed then error(NAME .. ": transport is closed", 0) end
  return s
end

local function release(s)
  if s.closed then return end
  s.closed = true
  local set = s.set
  set.open = set.open - 1
  if set.open == 0 then set.gen = set.gen + 1 end -- the threads drop their connections
end

local run1, outcome
local gmatch = string.gmatch

-- the headers of a record as "name\0value\0..." -> string ("" for none);
-- false when they cannot be (not a table, a key or value that is not a
-- string or holds a NUL): then the record crosses as a table and the curl
-- transport in the thread judges it as it judges any record
local function flatten(h)
  if h == nil then return "" end
  if type(h) ~= "table" then return false end
  local parts, n = {}, 0
  for k, v in next, h do
    if type(k) ~= "string" or type(v) ~= "string" or k:find("\0", 1, true) or v:find("\0", 1, true) then
      return false
    end
    parts[n + 1], parts[n + 2] = k, v
    n = n + 2
  end
  if n == 0 then return false end -- an empty table: as the curl transport reads it
  parts[n + 1] = ""
  return table.concat(parts, "\0")
end

--- t:run(requests) -> results, as core.curl_transport's run
function Transport.run(self, reqs)
  local s = open_state(self, "run")
  if type(reqs) ~= "table" then
    error("bad argument #1 to 'run' (table expected, got " .. type(reqs) .. ")", 0)
  end
  local list, n = {}, #reqs
  for i = 1, n do list[i] = copy_record(i, rawget(reqs, i)) end
  context_check("evcp (transport 'resty')")
  local set = s.set
  local rwt = ngx.run_worker_thread
  local r1 = n == 1 and list[1]
  local flat = r1 and type(r1) == "table" and flatten(r1.headers)
  if flat ~= nil and flat ~= false then return run1(s, set, rwt, r1, flat) end
  local pok, tok, a, b = pcall(rwt, s.pool, WORKER, "run", set.id, set.gen, list)
  if pok and tok and a == false and b == NEED_OPTS then
    -- this thread VM has no transport for these options yet
    pok, tok, a, b = pcall(rwt, s.pool, WORKER, "run", set.id, set.gen, list, s.opts)
  end
  return outcome(s, pok, tok, a, b)
end

-- one request (a lookup): its fields cross as separate values and its header
-- table as one string (resty_worker.run1), results come back the same way
function run1(s, set, rwt, r, flat)
  if flat == "" then flat = nil end
  local pok, tok, a, b, c, d, e = pcall(rwt, s.pool, WORKER, "run1", set.id, set.gen, r.method, r.url, flat,
    r.body, r.timeout)
  if pok and tok and a == false and b == NEED_OPTS then
    pok, tok, a, b, c, d, e = pcall(rwt, s.pool, WORKER, "run1", set.id, set.gen, r.method, r.url, flat, r.body,
      r.timeout, s.opts)
  end
  if not (pok and tok and a) then return outcome(s, pok, tok, a, b) end
  if b == false then return { { kind = c, message = d, status = e } } end
  if b == nil then return c end -- the results as a table (a header held a NUL)
  local h = {}
  for k, v in gmatch(c, "(%Z*)%z(%Z*)%z") do h[k] = v end
  return { { status = b, headers = h, body = d } }
end

function outcome(s, pok, tok, a, b)
  if not pok then
    error(("evcp (transport 'resty'): ngx.run_worker_thread failed: %s (%s)"):format(tostring(tok), WHERE), 0)
  end
  if not tok then
    -- the task itself failed: no such pool, or the worker module did not load
    local msg = tostring(a)
    if msg:find("thread pool .* not found") then
      msg = ("%s: add `thread_pool %s threads=16;` to nginx.conf's main context (or set evcp.new's"
        .. " thread_pool option to a pool that exists)"):format(msg, s.pool)
    elseif msg:find("module '" .. WORKER .. "' not found", 1, true) or msg:find("evcp.core", 1, true) then
      msg = msg .. "\n(lua_package_path and lua_package_cpath give the thread pool's paths: they must reach"
        .. " evcp's Lua modules and evcp/core.so)"
    end
    error("evcp (transport 'resty'): " .. msg, 0)
  end
  if not a then error(b, 0) end -- raised by the curl transport in the thread
  return b
end

--- t:sleep(s): ngx.sleep, which yields the request's coroutine
function Transport.sleep(self, sec)
  open_state(self, "sleep")
  if type(sec) ~= "number" or sec ~= sec or sec < 0 or sec > 86400 then
    error("bad argument #1 to 'sleep' (sleep: seconds must be a finite number in 0..86400)", 0)
  end
  context_check("evcp (transport 'resty'): sleep")
  ngx.sleep(sec)
end

--- t:now() -> monotonic seconds
function Transport.now(self)
  open_state(self, "now")
  return now()
end

--- t:close(): idempotent. When every transport with these options is closed,
-- the worker threads close their connections for them at their next use.
function Transport.close(self)
  release(state_of(self, "close"))
end

function Transport.is_closed(self)
  return state_of(self, "is_closed").closed
end

local MT = {
  __index = Transport,
  __metatable = NAME,
  __tostring = function(self)
    local s = live[self]
    return NAME .. ": " .. ((s == nil or s.closed) and "(closed)" or "open")
  end,
}

--- new(curl_opts, host_opts) -> transport. curl_opts are core.curl_transport's
-- options, checked here the same way (a bad one raises naming it);
-- host_opts.thread_pool names nginx's thread pool (default "evcp").
function M.new(curl_opts, host_opts)
  if type(ngx) ~= "table" or type(ngx.run_worker_thread) ~= "function" then
    error("transport 'resty' needs nginx with lua-nginx-module >= 0.10.21 (OpenResty), which has"
      .. " ngx.run_worker_thread; outside nginx use transport = 'curl'", 0)
  end
  if curl_opts ~= nil and type(curl_opts) ~= "table" then
    error("bad argument #1 to 'new' (table expected, got " .. type(curl_opts) .. ")", 0)
  end
  host_opts = host_opts or {}
  local pool = rawget(host_opts, "thread_pool")
  if pool == nil then pool = "evcp" end
  if type(pool) ~= "string" or not pool:match("^[%w_%-%.]+$") then
    error("option 'thread_pool' must be the name of an nginx thread pool, got " .. tostring(pool), 0)
  end
  -- the same checks as the curl transport the threads will make
  local opts = {}
  for k, v in next, curl_opts or {} do opts[k] = v end
  core.curl_transport(opts):close()
  local key = opts_key(opts)
  local set = sets[key]
  if set == nil then
    n_sets = n_sets + 1
    set = { id = n_sets, gen = 1, open = 0 }
    sets[key] = set
  end
  set.open = set.open + 1
  local self = setmetatable({}, MT)
  local s = { set = set, opts = opts, pool = pool, closed = false }
  live[self] = s
  -- an unclosed transport that is collected counts as closed
  if newproxy then
    local p = newproxy(true)
    getmetatable(p).__gc = function() release(s) end
    s.proxy = p
  end
  return self
end

M.phases, M.where, M.now = PHASES, WHERE, now
return M
