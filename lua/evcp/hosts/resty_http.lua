-- The "resty.http" transport: evcp inside OpenResty over nginx's cosockets,
-- through lua-resty-http (https://github.com/ledgetech/lua-resty-http, not
-- part of evcp: `opm get ledgetech/lua-resty-http` or
-- `luarocks install lua-resty-http`). evcp.new{transport = "resty.http"}
-- makes one through new(curl_opts, host_opts).
--
-- No thread pool and no libcurl: each request of a run() is one resty.http
-- connection (connect, request, body_reader, set_keepalive), the run's
-- requests go side by side in ngx.thread.spawn light threads (at most
-- max_parallel at once), and connections go back to nginx's keepalive pool
-- (set_keepalive) under pool names of this transport's own, so a transport
-- reuses its own connections only (as a curl transport does); after close()
-- its idle ones wait out the keepalive time (60 s) in the pool. Results are the
-- records core.curl_transport gives (lower-case header names, repeated
-- fields joined with ", "; kinds timeout, network, tls, too_large, decode).
--
-- Options (core.curl_transport's, checked the same way first):
--   timeout          one request, connect to last byte. Each request runs in a
--                    light thread of its own, watched by a second one that
--                    sleeps until the deadline and then kills it (nginx ends
--                    the pending cosocket operation and closes that
--                    connection, which never goes back to the pool): the
--                    result is kind "timeout", with the status when one came.
--                    Cosockets re-arm their read timeout at every arrival,
--                    so without it a drip would outlive any read timeout.
--                    set_timeouts gets the time left plus 0.25 s, a backstop.
--   connect_timeout  the TCP (+ TLS) connect.
--   max_parallel     light threads per run.
--   max_body         enforced while reading (a declared Content-Length over
--                    it is refused before the download), and on the inflated
--                    size.
--   compress         sends Accept-Encoding: gzip; the body is inflated here
--                    (zlib through LuaJIT's FFI, one gzip member, verified,
--                    bounded by max_body). Whatever compress says, a gzip
--                    answer is inflated and any other encoding is "decode".
--   user_agent       sent as User-Agent; "" leaves resty.http's own.
--   https_only       an http:// request raises before anything is sent.
--   proxy            a URL: resty.http's proxy_opts (http_proxy and
--                    https_proxy, CONNECT for https); "" or nil: no proxy
--                    (the environment's http_proxy is not read).
--   ca_file, ca_path cannot be honoured: cosockets trust what nginx's
--                    `lua_ssl_trusted_certificate` directive names, for the
--                    whole server. new() raises when either is given.
--                    Certificates are always verified (ssl_verify = true,
--                    the host name as SNI), so https needs that directive.
--   low_speed_limit, low_speed_time (defaults 1 and min(ceil(timeout), 30)
--                    as for curl): the watchdog wakes every
--                    min(1, low_speed_time / 4) s and ends the request as kind
--                    "timeout" when the body bytes of the last low_speed_time
--                    s (or a little more) came slower than low_speed_limit
--                    bytes/s; waiting for the header counts as no bytes. A
--                    body of one length is read with receiveany, as it
--                    arrives; a chunked one counts per chunk.
-- Where it works: where cosockets do, the phases of the "resty" transport
-- (rewrite, access, content, ngx.timer callbacks); elsewhere a call raises
-- naming the phase, as "resty" does. evcp.new works anywhere.
local core = require("evcp.core")
local resty = require("evcp.hosts.resty")

local M = {}

local NAME = "evcp.RestyHttpTransport"
local ngx = rawget(_G, "ngx")

local PHASES, WHERE = resty.phases, resty.where
local MAX_FIELDS, MAX_HEADER_BYTES = 100, 65536
local KEEPALIVE_MS, POOL_SIZE = 60000, 64
local CHUNK = 65536
local BACKSTOP = 0.25

local function context_check(what)
  local phase = ngx.get_phase and ngx.get_phase() or "?"
  if not PHASES[phase] then
    error(("%s: not possible in nginx's %s phase (%s)"):format(what, phase, WHERE), 0)
  end
end

---------------------------------------------------------------------------
-- gzip, bounded: zlib through the FFI (nginx itself links libz)
local zlib
do
  local ok, ffi = pcall(require, "ffi")
  if ok then
    ok = pcall(ffi.cdef, [[
      typedef struct {
        const unsigned char *next_in; unsigned int avail_in; unsigned long total_in;
        unsigned char *next_out; unsigned int avail_out; unsigned long total_out;
        const char *msg; void *state; void *zalloc; void *zfree; void *opaque;
        int data_type; unsigned long adler; unsigned long reserved;
      } evcp_z_stream;
      int inflateInit2_(evcp_z_stream *strm, int windowBits, const char *version, int stream_size);
      int inflate(evcp_z_stream *strm, int flush);
      int inflateEnd(evcp_z_stream *strm);
      const char *zlibVersion(void);
    ]])
    local lib
    if ok then
      for _, name in ipairs({ "z", "libz.so.1" }) do
        local lok, l = pcall(ffi.load, name)
        if lok then lib = l break end
      end
    end
    if lib then zlib = { ffi = ffi, lib = lib, out = ffi.new("unsigned char[?]", CHUNK) } end
  end
end

-- a streaming inflater: feed(chunk) -> true | nil, kind, message;
-- finish() -> body | nil, kind, message. Output over max bytes is too_large.
local function inflater(max)
  local ffi, lib = zlib.ffi, zlib.lib
  local z = ffi.new("evcp_z_stream")
  if lib.inflateInit2_(z, 16 + 15, lib.zlibVersion(), ffi.sizeof(z)) ~= 0 then
    return nil
  end
  local live = true
  local function stop()
    if live then live = false lib.inflateEnd(z) end
  end
  ffi.gc(z, function(p) if live then live = false lib.inflateEnd(p) end end)
  local parts, size, ended = {}, 0, false
  local out = zlib.out
  local self = {}
  function self.feed(chunk)
    if ended then
      if #chunk > 0 then stop() return nil, "decode", "bytes after the end of the gzip stream" end
      return true
    end
    z.next_in, z.avail_in = chunk, #chunk
    repeat
      z.next_out, z.avail_out = out, CHUNK
      local rc = lib.inflate(z, 0)
      local got = CHUNK - z.avail_out
      if got > 0 then
        size = size + got
        if size > max then stop() return nil, "too_large", "the inflated body exceeds max_body" end
        parts[#parts + 1] = ffi.string(out, got)
      end
      if rc == 1 then -- Z_STREAM_END
        ended = true
        local rest = z.avail_in
        stop()
        if rest > 0 then return nil, "decode", "bytes after the end of the gzip stream" end
        return true
      elseif rc ~= 0 and not (rc == -5 and z.avail_in == 0) then -- not Z_OK, Z_BUF_ERROR with nothing left
        local msg = z.msg ~= nil and ffi.string(z.msg) or ("zlib error " .. rc)
        stop()
        return nil, "decode", "bad gzip data: " .. msg
      end
    until z.avail_in == 0 and z.avail_out ~= 0
    return true
  end
  function self.finish()
    if not ended then stop() return nil, "decode", "truncated gzip stream" end
    return table.concat(parts)
  end
  self.stop = stop
  return self
end

---------------------------------------------------------------------------
-- request records: read raw, checked as core.curl_transport checks them

local FORBIDDEN = {}
for _, k in ipairs({ "content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection",
  "te", "upgrade", "expect", "accept-encoding" }) do FORBIDDEN[k] = true end

local function bad(i, what) error(("run: request %d: %s"):format(i, what), 0) end

local function check_seconds(i, v)
  if type(v) ~= "number" or v ~= v or v < 0.001 or v > 86400 then
    bad(i, "timeout must be a finite number of seconds in 0.001..86400")
  end
end

-- -> { method, scheme, host, port, target, headers = list of {name, value}, body, timeout }
local function read_record(i, r, https_only)
  if type(r) ~= "table" then error(("run: request %d must be a table, got %s"):format(i, type(r)), 0) end
  local method = rawget(r, "method")
  if method == nil then method = "GET" end
  if type(method) ~= "string" or #method < 1 or #method > 32 or method:find("[^%w!#$%%&'*+%-.^_`|~]") then
    bad(i, "method must be an HTTP token of 1..32 bytes")
  end
  local url = rawget(r, "url")
  if type(url) ~= "string" then bad(i, "url must be a string, got " .. type(url)) end
  if #url > 65536 or url:find("[%z\1- \127#]") then
    bad(i, "url must have no bytes <= 0x20, no 0x7f and no '#', at most 64 KiB")
  end
  local scheme, authority, target = url:match("^(%a[%w+.-]*)://([^/?]*)(.*)$")
  scheme = scheme and scheme:lower()
  if scheme ~= "http" and scheme ~= "https" then bad(i, "url must be http:// or https://") end
  if https_only and scheme ~= "https" then bad(i, "url must be https:// (https_only)") end
  if authority:find("@", 1, true) then bad(i, "url must have no user@ in its authority") end
  local host, port = authority:match("^(%[[%x:.]+%]):?(%d*)$")
  if not host then host, port = authority:match("^([^:]+):?(%d*)$") end
  if not host or host == "" then bad(i, "url has no host") end
  port = tonumber(port ~= "" and port or nil) or (scheme == "https" and 443 or 80)
  if port < 1 or port > 65535 then bad(i, "url has a bad port") end
  if target == "" then target = "/" elseif target:sub(1, 1) == "?" then target = "/" .. target end
  local headers, n = {}, 0
  local hs = rawget(r, "headers")
  if hs ~= nil then
    if type(hs) ~= "table" then bad(i, "headers must be a table, got " .. type(hs)) end
    for k, v in next, hs do
      if type(k) ~= "string" then bad(i, "header names must be strings, got " .. type(k)) end
      if type(v) ~= "string" then bad(i, "header values must be strings, got " .. type(v)) end
      if #k < 1 or #k > 256 or k:find("[^%w!#$%%&'*+%-.^_`|~]") then
        bad(i, "header name '" .. k .. "' must be an HTTP token of 1..256 bytes")
      end
      if #v > 65536 or v:find("[%z\r\n]") then
        bad(i, "headers: value of '" .. k .. "' must be a string without CR, LF or NUL, at most 64 KiB")
      end
      if FORBIDDEN[k:lower()] then bad(i, "headers: '" .. k .. "' belongs to the transport") end
      n = n + 1
      if n > 100 then bad(i, "more than 100 headers") end
      headers[n] = { k, v }
    end
  end
  local body = rawget(r, "body")
  if body ~= nil and type(body) ~= "string" then bad(i, "body must be a string or nil, got " .. type(body)) end
  local timeout = rawget(r, "timeout")
  if timeout ~= nil then check_seconds(i, timeout) end
  return { method = method, scheme = scheme, host = host, port = port, target = target,
    headers = headers, body = body, timeout = timeout }
end

---------------------------------------------------------------------------
-- one request

local function fail(kind, message, status)
  return { kind = kind, message = message, status = status }
end

local function kind_of(err, connecting, tls)
  err = tostring(err)
  if err:find("timeout", 1, true) then return "timeout" end
  if connecting and tls then return "tls" end
  return "network"
end

local function ms(sec)
  local v = math.ceil(sec * 1000)
  return v < 1 and 1 or v
end

-- one request in its light thread, to be ended by the watchdog (one, below)
-- at the deadline; st keeps what the watchdog needs then: the connection
-- (st.c), the status once known, the inflater, the body bytes so far.
local function transfer(s, rec, st, deadline)
  local http = s.http
  local now = resty.now
  local c = http.new()
  st.c = c
  -- the socket's own timeouts are a backstop BACKSTOP s past the deadline:
  -- the watchdog ends the request first (nginx logs a cosocket timeout as an
  -- error; a killed thread leaves no log line)
  local function left() return ms(deadline - now() + BACKSTOP) end
  local function give_up(kind, msg, status)
    c:close()
    return fail(kind, msg, status)
  end
  c:set_timeouts(ms(math.min(s.connect_timeout, deadline - now() + BACKSTOP)), left(), left())
  local tls = rec.scheme == "https"
  -- tcp first, so that a TLS failure is told apart from a network one
  local ok, err = c:connect({ scheme = rec.scheme, host = rec.host, port = rec.port, ssl_verify = true,
    ssl_server_name = tls and rec.host:gsub("^%[(.*)%]$", "%1") or nil, proxy_opts = s.proxy_opts,
    pool = s.pool .. rec.scheme .. "://" .. rec.host .. ":" .. rec.port, pool_size = POOL_SIZE })
  if not ok then
    return give_up(kind_of(err, true, tls and not tostring(err):find("connect", 1, true)
      and not tostring(err):find("refused", 1, true)), "connect: " .. tostring(err))
  end
  local headers, own_ua = {}, false
  for _, kv in ipairs(rec.headers) do
    headers[kv[1]] = kv[2]
    if kv[1]:lower() == "user-agent" then own_ua = true end
  end
  if not own_ua then headers["User-Agent"] = s.user_agent end
  if s.compress then headers["Accept-Encoding"] = "gzip" end
  c:set_timeouts(left(), left(), left())
  local path, query = rec.target:match("^([^?]*)%??(.*)$")
  local send_body = rec.body
  -- resty.http refuses a POST, PUT or PATCH without a body: an empty one
  -- (Content-Length: 0) is what goes out
  if send_body == nil and (rec.method == "POST" or rec.method == "PUT" or rec.method == "PATCH") then
    send_body = ""
  end
  local res
  res, err = c:request({ method = rec.method, path = path, query = query, headers = headers, body = send_body })
  if not res then return give_up(kind_of(err), "request: " .. tostring(err)) end
  -- interim answers (100 Continue, 103 Early Hints): the final one follows
  local interim = 0
  while res.status >= 100 and res.status < 200 and res.status ~= 101 do
    interim = interim + 1
    if interim > 10 then return give_up("network", "more than 10 interim (1xx) answers", res.status) end
    c:set_timeouts(left(), left(), left())
    res, err = c:read_response({ method = rec.method, headers = {} })
    if not res then return give_up(kind_of(err), "response: " .. tostring(err)) end
  end
  local status = res.status
  st.status = status
  -- header fields: lower-case names, repeats joined
  local out, fields, bytes = {}, 0, 0
  for k, v in pairs(res.headers) do
    local name = k:lower()
    local list = type(v) == "table" and v or { v }
    for _, one_v in ipairs(list) do
      one_v = tostring(one_v):match("^%s*(.-)%s*$")
      fields = fields + 1
      bytes = bytes + #name + #one_v + 4
      out[name] = out[name] and (out[name] .. ", " .. one_v) or one_v
    end
  end
  if fields > MAX_FIELDS or bytes > MAX_HEADER_BYTES then
    return give_up("too_large", "too many or too large header fields", status)
  end
  local max = s.max_body
  local declared = tonumber(out["content-length"])
  if res.has_body and declared and declared > max then
    return give_up("too_large", ("Content-Length %d exceeds max_body %d"):format(declared, max), status)
  end
  local enc = (out["content-encoding"] or "identity"):lower()
  local gz
  if enc == "gzip" or enc == "x-gzip" then
    if zlib == nil then return give_up("decode", "gzip answer and no zlib to inflate it", status) end
    gz = inflater(max)
    st.gz = gz
    if gz == nil then return give_up("decode", "zlib: inflateInit2 failed", status) end
  elseif enc ~= "identity" then
    enc = "other"
  end
  local parts, size = {}, 0
  if res.has_body then
    local reader = res.body_reader
    -- a body of one length is read as it arrives (resty.http's reader waits
    -- for a whole piece), so that the watchdog sees its progress
    local sock = c.sock
    local chunked = (out["transfer-encoding"] or ""):lower():find("chunked", 1, true)
    if declared and declared >= 0 and declared == math.floor(declared) and not chunked
      and type(sock) == "table" and sock.receiveany then
      local rest = declared
      reader = function(n)
        if rest <= 0 then return nil end
        local data, rerr = sock:receiveany(math.min(n, rest))
        if not data then return nil, rerr end
        rest = rest - #data
        return data
      end
    end
    while true do
      c:set_timeouts(left(), left(), left())
      local chunk, rerr = reader(CHUNK)
      if rerr then
        if gz then gz.stop() end
        return give_up(kind_of(rerr), "body: " .. tostring(rerr), status)
      end
      if chunk == nil then break end
      -- cosockets re-arm the read timeout on every arrival: a drip is caught here
      if now() > deadline then
        if gz then gz.stop() end
        return give_up("timeout", "body: the timeout passed while the body arrived", status)
      end
      size = size + #chunk
      st.got = size
      if size > max then
        if gz then gz.stop() end
        return give_up("too_large", "the body exceeds max_body", status)
      end
      if gz and #chunk > 0 then
        local fok, fkind, fmsg = gz.feed(chunk)
        if not fok then return give_up(fkind, fmsg, status) end
      else
        parts[#parts + 1] = chunk
      end
    end
  end
  local body
  if size == 0 then
    if gz then gz.stop() end
    body = ""
  elseif gz then
    local fkind, fmsg
    body, fkind, fmsg = gz.finish()
    if body == nil then return give_up(fkind, fmsg, status) end
  elseif enc == "other" then
    return give_up("decode", "unsupported Content-Encoding: " .. out["content-encoding"], status)
  else
    body = table.concat(parts)
  end
  -- back to nginx's pool (resty.http closes it instead when the answer said close)
  c:set_keepalive(KEEPALIVE_MS, POOL_SIZE)
  return { status = status, headers = out, body = body }
end

-- ends a light thread: a running one is killed (nginx ends its pending
-- cosocket operation and closes that connection), a dead one not yet waited
-- for is reaped; one already waited for or killed is left as it is
local function reap(t)
  ngx.thread.kill(t)
end

-- what the watchdog's timer gives when the deadline came first, or the low-speed limit
local RANG, SLOW = {}, {}

--- one(s, rec) -> result: the request in a light thread of its own, and a
-- watchdog (a second light thread sleeping until the deadline) that kills it
-- when the time is up, whatever it is waiting for: cosockets re-arm their
-- read timeout at every arrival, so a drip would outlive any read timeout.
-- A killed request's connection is closed, never put back in the pool. Raises
-- what the request raised; both threads have ended when it returns or raises.
local function one(s, rec)
  local now = resty.now
  local limit = rec.timeout or s.timeout
  local deadline = now() + limit
  local st = { got = 0 }
  local lsl, lst = s.low_speed_limit, s.low_speed_time
  local timer = ngx.thread.spawn(function()
    -- nginx's timers count from its cached clock, which may lag: sleep again
    -- until the monotonic clock says the deadline passed. With a low-speed
    -- limit it wakes every min(1, low_speed_time / 4) s and compares the body
    -- bytes since the newest sample at least low_speed_time old with
    -- low_speed_limit times the time since then.
    local step = lst and math.min(1, lst / 4)
    local samples = { { now(), 0 } }
    while true do
      local t = now()
      local wait = deadline - t
      if wait <= 0 then return RANG end
      if lst then
        local got, base = st.got, nil
        while samples[2] and t - samples[2][1] >= lst do table.remove(samples, 1) end
        if t - samples[1][1] >= lst then base = samples[1] end
        if base and got - base[2] < lsl * (t - base[1]) then return SLOW end
        samples[#samples + 1] = { t, got }
        if step < wait then wait = step end
      end
      ngx.sleep(wait + 0.001)
    end
  end)
  local spawned, worker = pcall(ngx.thread.spawn, function()
    return pcall(transfer, s, rec, st, deadline)
  end)
  if not spawned then
    reap(timer)
    error(worker, 0)
  end
  local waited, a, b = ngx.thread.wait(worker, timer)
  if waited and (a == RANG or a == SLOW) then
    reap(worker)
    if st.gz then st.gz.stop() end
    if st.c then pcall(st.c.close, st.c) end
    local where = st.status == nil and "before the answer's header"
      or ("after %d bytes of the body"):format(st.got)
    if a == SLOW then
      return fail("timeout", ("below low_speed_limit (%d bytes/s) for low_speed_time (%d s), %s")
        :format(lsl, lst, where), st.status)
    end
    return fail("timeout", ("the timeout (%g s) passed %s"):format(limit, where), st.status)
  end
  reap(timer)
  if not waited or not a then
    -- the request raised (or its thread died): its connection goes too
    if st.gz then st.gz.stop() end
    if st.c then pcall(st.c.close, st.c) end
    error(waited and b or a, 0)
  end
  return b
end

---------------------------------------------------------------------------

local n_made = 0
local Transport = {}
local live = setmetatable({}, { __mode = "k" })

local function open_state(self, name)
  local s = live[self]
  if s == nil then error(("%s: bad self (an %s expected)"):format(name, NAME), 0) end
  if s.closed then error(NAME .. ": transport is closed", 0) end
  return s
end

--- t:run(requests) -> results, as core.curl_transport's run
function Transport.run(self, reqs)
  local s = open_state(self, "run")
  if type(reqs) ~= "table" then
    error("bad argument #1 to 'run' (table expected, got " .. type(reqs) .. ")", 0)
  end
  local n = #reqs
  if n > 65536 then error("run: at most 65536 requests per run, got " .. n, 0) end
  local list = {}
  for i = 1, n do list[i] = read_record(i, rawget(reqs, i), s.https_only) end
  if n == 0 then return {} end
  context_check("evcp (transport 'resty.http')")
  local results = {}
  if n == 1 then
    results[1] = one(s, list[1])
    return results
  end
  -- light threads take the next request until none is left
  local next_i, raised = 0, nil
  local function worker()
    while raised == nil do
      next_i = next_i + 1
      local i = next_i
      if i > n then return end
      local ok, r = pcall(one, s, list[i])
      if ok then results[i] = r else raised = r end
    end
  end
  local threads = {}
  for k = 1, math.min(n, s.max_parallel) do threads[k] = ngx.thread.spawn(worker) end
  for k = 1, #threads do
    local ok, err = ngx.thread.wait(threads[k])
    if not ok and raised == nil then raised = err end
  end
  if raised ~= nil then error(raised, 0) end
  return results
end

--- t:sleep(s): ngx.sleep, which yields the request's coroutine
function Transport.sleep(self, sec)
  open_state(self, "sleep")
  if type(sec) ~= "number" or sec ~= sec or sec < 0 or sec > 86400 then
    error("bad argument #1 to 'sleep' (sleep: seconds must be a finite number in 0..86400)", 0)
  end
  context_check("evcp (transport 'resty.http'): sleep")
  ngx.sleep(sec)
end

function Transport.now(self)
  open_state(self, "now")
  return resty.now()
end

--- t:close(): idempotent; the kept-alive connections belong to nginx's pool
function Transport.close(self)
  local s = live[self]
  if s == nil then error(("close: bad self (an %s expected)"):format(NAME), 0) end
  s.closed = true
end

function Transport.is_closed(self)
  local s = live[self]
  if s == nil then error(("is_closed: bad self (an %s expected)"):format(NAME), 0) end
  return s.closed
end

local MT = {
  __index = Transport,
  __metatable = NAME,
  __tostring = function(self)
    local s = live[self]
    return NAME .. ": " .. ((s == nil or s.closed) and "(closed)" or "open")
  end,
}

--- new(curl_opts, host_opts) -> transport (host_opts is not used)
function M.new(curl_opts, host_opts)
  local _ = host_opts
  if type(ngx) ~= "table" or type(ngx.socket) ~= "table" or type(ngx.thread) ~= "table" then
    error("transport 'resty.http' needs nginx with lua-nginx-module (OpenResty) and its cosockets;"
      .. " outside nginx use transport = 'curl'", 0)
  end
  local found, http = pcall(require, "resty.http")
  if not found or type(http) ~= "table" or type(http.new) ~= "function" then
    error("transport 'resty.http' needs the lua-resty-http package (require 'resty.http' failed: "
      .. tostring(http):match("^[^\n]*") .. "); install it (opm get ledgetech/lua-resty-http or"
      .. " luarocks install lua-resty-http) or use transport = 'resty' (nginx's thread pool and libcurl)", 0)
  end
  if curl_opts ~= nil and type(curl_opts) ~= "table" then
    error("bad argument #1 to 'new' (table expected, got " .. type(curl_opts) .. ")", 0)
  end
  local opts = {}
  for k, v in next, curl_opts or {} do opts[k] = v end
  if opts.events ~= nil then error("curl_transport: unknown option 'events'", 0) end
  core.curl_transport(opts):close() -- the same checks and messages as the curl transport
  if opts.ca_file ~= nil or opts.ca_path ~= nil then
    error("transport 'resty.http': option '" .. (opts.ca_file ~= nil and "ca_file" or "ca_path")
      .. "' cannot be honoured (cosockets trust the CAs of nginx's lua_ssl_trusted_certificate directive);"
      .. " set that directive instead, or use transport = 'resty'", 0)
  end
  local proxy
  if opts.proxy ~= nil and opts.proxy ~= "" then
    proxy = { http_proxy = opts.proxy, https_proxy = opts.proxy }
  end
  local ua = opts.user_agent
  if ua == nil then ua = "evcp" end
  local s = {
    http = http, closed = false, timeout = opts.timeout or 30, connect_timeout = opts.connect_timeout or 10,
    max_parallel = opts.max_parallel or 8, max_body = opts.max_body or 32 * 1024 * 1024,
    compress = opts.compress ~= false, user_agent = ua ~= "" and ua or nil, https_only = opts.https_only == true,
    proxy_opts = proxy,
  }
  -- the low-speed limit: the watchdog ends a transfer whose body came slower
  -- than low_speed_limit bytes/s over low_speed_time s
  local lsl, lst = opts.low_speed_limit or 1, opts.low_speed_time
  if lst == nil then lst = math.min(math.ceil(s.timeout), 30) end
  if lsl > 0 then s.low_speed_limit, s.low_speed_time = lsl, lst end
  n_made = n_made + 1
  s.pool = ("evcp%d:%s|"):format(n_made, tostring(opts.proxy or ""))
  local self = setmetatable({}, MT)
  live[self] = s
  return self
end

M.has_zlib = zlib ~= nil
return M
