-- The part of the "resty" transport that runs inside nginx's worker threads
-- (ngx.run_worker_thread; lua-nginx-module >= 0.10.21). Each thread-pool
-- task runs in one of the pool's Lua VMs, which lua-nginx-module keeps from
-- task to task (and hands out last-used first), so this module's state
-- lives as long as the nginx worker process: one core.curl_transport per
-- distinct option set, whose kept-alive connections serve later calls.
--
-- A VM runs one task at a time, so a transport here is never used by two
-- threads at once. Private: only evcp.hosts.resty calls it.
local core = require("evcp.core")

local M = {}

-- key -> { gen = n, t = transport, used = tick }
local cache, count, tick = {}, 0, 0
local MAX = 16 -- distinct option sets kept per VM; the least recently used goes

local function evict()
  local old, oldest
  for k, e in pairs(cache) do
    if oldest == nil or e.used < oldest then old, oldest = k, e.used end
  end
  if old then
    cache[old].t:close()
    cache[old] = nil
    count = count - 1
  end
end

M.NEED_OPTS = "evcp.hosts.resty_worker: options needed"

--- run(key, gen, reqs [, opts]) -> true, results | false, message
-- key names the option set (a number evcp.hosts.resty gives each distinct
-- set of option values in this nginx worker process, whose thread pool this
-- is); gen changes when every transport of that set was closed: the
-- connections kept for an older gen are closed and a fresh transport is
-- made. opts are sent only when this VM answered NEED_OPTS (most calls find
-- their transport and copy no options across).
function M.run(key, gen, reqs, opts)
  local e = cache[key]
  if e and e.gen ~= gen then
    e.t:close()
    cache[key], count, e = nil, count - 1, nil
  end
  if e == nil then
    if opts == nil then return false, M.NEED_OPTS end
    if count >= MAX then evict() end
    local ok, t = pcall(core.curl_transport, opts)
    if not ok then return false, tostring(t) end
    e = { gen = gen, t = t }
    cache[key], count = e, count + 1
  end
  tick = tick + 1
  e.used = tick
  local ok, results = pcall(e.t.run, e.t, reqs)
  if not ok then return false, tostring(results) end
  return true, results
end

-- headers flattened for the crossing: "name\0value\0..." (names and values
-- never hold NUL: the curl transport refuses them, and evcp.hosts.resty
-- flattens only headers without one)
local function unflatten(flat)
  local h = {}
  for k, v in flat:gmatch("(%Z*)%z(%Z*)%z") do h[k] = v end
  return h
end

local concat = table.concat

--- run1(key, gen, method, url, flat_headers, body, timeout [, opts]) ->
-- true, status, flat_headers, body | true, false, kind, message, status |
-- true, nil, results (a header holds a NUL) | false, message. One request,
-- its fields as separate values and its header tables as strings: only
-- strings and numbers cross the thread boundary (the common case: a lookup).
function M.run1(key, gen, method, url, flat, body, timeout, opts)
  local ok, results = M.run(key, gen, { { method = method, url = url, headers = flat and unflatten(flat) or nil,
    body = body, timeout = timeout } }, opts)
  if not ok then return false, results end
  local r = results[1]
  if r.kind then return true, false, r.kind, r.message, r.status end
  local parts, n = {}, 0
  for k, v in next, r.headers do
    if k:find("\0", 1, true) or v:find("\0", 1, true) then return true, nil, results end
    parts[n + 1], parts[n + 2] = k, v
    n = n + 2
  end
  parts[n + 1] = ""
  return true, r.status, concat(parts, "\0"), r.body
end

--- stats() -> the option sets this VM holds (for the specs)
function M.stats()
  local keys = {}
  for k, e in pairs(cache) do keys[#keys + 1] = { key = k, gen = e.gen } end
  return keys
end

return M
