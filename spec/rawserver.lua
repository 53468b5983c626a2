-- rawserver.lua: a scriptable raw HTTP/1.1 server for the transport specs.
--
--   lua5.4 spec/rawserver.lua DIR [MAX_LIFE_SECONDS]
--
-- Runs as a process of its own on 127.0.0.1 (LuaSocket, one coroutine per
-- connection), shares no code with any client, writes its port to DIR/port
-- once it listens and exits after MAX_LIFE_SECONDS (default 600) at the
-- latest. Every event is appended to DIR/log as
--   "<EVENT> <conn> <len>\n<payload>\n"
-- with EVENT one of CONN (accepted), REQ (payload: the exact request bytes),
-- END (response written), CLOSE (payload: "peer" or "server"), ABORTED (the
-- peer went away before the response was complete), COMPLETE.
--
-- What it answers depends on the request path (see `routes` below):
--   /echo...            200, body = the exact request bytes; repeated and
--                       mixed-case header fields
--   /status/N           status N
--   /silent             reads, never answers (until the peer leaves)
--   /drip/MS/N          Content-Length N, then one byte every MS ms
--   /big/N              N bytes without a length, a 3 s pause, N more
--   /biglen/N           declares Content-Length N, sends it slowly
--   /delay/MS/TAG       waits MS ms, then 200 with body TAG
--   /headers/N          N header fields
--   /gzip/VARIANT       gzip done right and wrong (see gzip_variants)
--   /raw/NAME           fixed bytes (see raw_responses)
--   /redirect           302 to /echo on the same server
--   /fuzz/SEED          a valid response damaged at random from SEED
--   /drop               200 without "Connection: close", then the server closes
--   http://...          (absolute form, as sent to a proxy) 200 + X-Proxied, echo
local socket = require("socket")

local dir = assert(arg[1], "usage: rawserver.lua DIR [MAX_LIFE]")
local max_life = tonumber(arg[2]) or 600
local started = socket.gettime()

local srv = assert(socket.bind("127.0.0.1", 0))
srv:settimeout(0)
local _, port = srv:getsockname()

local function log(event, conn, payload)
  payload = payload or ""
  local f = assert(io.open(dir .. "/log", "ab"))
  f:write(("%s %d %d\n"):format(event, conn, #payload), payload, "\n")
  f:close()
end

---------------------------------------------------------------------------
-- payloads

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- gzip by the gzip command: an implementation that is not the one tested
local function gzip(data)
  local path = dir .. "/gz-input"
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
  local p = assert(io.popen("gzip -c -n < " .. shell_quote(path), "r"))
  local out = p:read("a")
  p:close()
  os.remove(path)
  assert(#out > 18, "gzip produced nothing")
  return out
end

local TEXT = ("The quick brown fox jumps over the lazy dog. "):rep(200) .. "end"
local gz = gzip(TEXT)
local function flip(s, i) -- flips the bits of byte i (negative: from the end)
  if i < 0 then i = #s + 1 + i end
  return s:sub(1, i - 1) .. string.char(255 - s:byte(i)) .. s:sub(i + 1)
end

-- name -> {encoding header lines, body, chunk size (nil: Content-Length)}
local gzip_variants = {
  ok = { { "Content-Encoding: gzip" }, gz },
  upper = { { "Content-Encoding: GZIP" }, gz },
  xgzip = { { "Content-Encoding: x-gzip" }, gz },
  chunked = { { "Content-Encoding: gzip" }, gz, 7 },
  identity = { { "Content-Encoding: identity" }, TEXT },
  none = { {}, TEXT },
  empty = { { "Content-Encoding: gzip" }, "" },
  truncated = { { "Content-Encoding: gzip" }, gz:sub(1, -3) }, -- half of ISIZE gone
  notrailer = { { "Content-Encoding: gzip" }, gz:sub(1, -9) }, -- CRC and ISIZE gone
  cut = { { "Content-Encoding: gzip" }, gz:sub(1, #gz // 2) },
  badcrc = { { "Content-Encoding: gzip" }, flip(gz, -8) },
  badsize = { { "Content-Encoding: gzip" }, flip(gz, -1) },
  garbage = { { "Content-Encoding: gzip" }, gz .. "GARBAGE" },
  twomembers = { { "Content-Encoding: gzip" }, gz .. gz },
  stacked = { { "Content-Encoding: gzip, gzip" }, gzip(gz) },
  twofields = { { "Content-Encoding: gzip", "Content-Encoding: gzip" }, gzip(gz) },
  unknown = { { "Content-Encoding: br" }, "\x0b\x02\x80hello\x03" },
  deflate = { { "Content-Encoding: deflate" }, "x\x9c\xcbH\xcd\xc9\xc9\x07\x00\x06,\x02\x15" },
  notgzip = { { "Content-Encoding: gzip" }, "this is not gzip at all" },
  bomb = { { "Content-Encoding: gzip" }, gzip(("\0"):rep(8 * 1024 * 1024)) },
}

local raw_responses = {
  continue = "HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n"
    .. "HTTP/1.1 200 OK\r\nX-Final: yes\r\nContent-Length: 2\r\n\r\nok",
  badstatus = "HTTP/1.1 abc\r\n\r\n",
  short = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabc",
  chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
  badchunk = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
  folded = "HTTP/1.1 200 OK\r\nX-Spaced:   padded value  \r\nContent-Length: 0\r\n\r\n",
  nocontent = "HTTP/1.1 204 No Content\r\nContent-Encoding: br\r\n\r\n",
}

local REASONS = { [200] = "OK", [204] = "No Content", [302] = "Found", [400] = "Bad Request",
  [404] = "Not Found", [429] = "Too Many Requests", [500] = "Internal Server Error",
  [503] = "Service Unavailable" }

local function response(status, lines, body)
  local head = { ("HTTP/1.1 %d %s"):format(status, REASONS[status] or "Status") }
  for _, l in ipairs(lines or {}) do head[#head + 1] = l end
  head[#head + 1] = "Content-Length: " .. #body
  return table.concat(head, "\r\n") .. "\r\n\r\n" .. body
end

---------------------------------------------------------------------------
-- coroutine helpers (called inside a connection's coroutine)

local function now() return socket.gettime() end

-- waits until sock is readable ("r"), writable ("w") or the time `wake`
local function wait(want, sock, wake)
  coroutine.yield(want, sock, wake)
end

local function sleep(s)
  wait("t", nil, now() + s)
end

-- some bytes, or nil once the peer has closed; nil, "timeout" after `until_t`
local function recv_some(sock, until_t)
  while true do
    local data, err, partial = sock:receive(65536)
    if data then return data end
    if partial and #partial > 0 then return partial end
    if err ~= "timeout" then return nil, "closed" end
    if until_t and now() >= until_t then return nil, "timeout" end
    wait("r", sock, until_t)
  end
end

-- true, or false once the peer has gone
local function send_all(sock, data)
  local i = 1
  while i <= #data do
    local last, err, partial = sock:send(data, i)
    if last then
      i = last + 1
    elseif err == "timeout" then
      i = partial + 1
      wait("w", sock)
    else
      return false
    end
  end
  return true
end

---------------------------------------------------------------------------
-- routes: each gets (sock, id, method, target, raw) and returns keep-alive

local routes = {}

function routes.echo(sock, _, method, _, raw)
  local bytes = response(200, { "Content-Type: application/octet-stream",
    "X-Twice: a", "x-twice: b", "X-Mixed-CASE: Value" }, raw)
  if method == "HEAD" then bytes = bytes:sub(1, #bytes - #raw) end -- the header only
  return send_all(sock, bytes)
end

function routes.status(sock, _, _, target)
  local code = tonumber(target:match("^/status/(%d+)")) or 400
  return send_all(sock, response(code, { "Content-Type: text/plain" }, "status " .. code))
end

function routes.silent(sock, id)
  local deadline = now() + 60
  while true do
    local d = recv_some(sock, deadline)
    if not d then
      log("ABORTED", id)
      return false
    end
  end
end

function routes.drip(sock, id, _, target)
  local ms, n = target:match("^/drip/(%d+)/(%d+)")
  ms, n = tonumber(ms), tonumber(n)
  if not send_all(sock, ("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"):format(n)) then return false end
  for _ = 1, n do
    sleep(ms / 1000)
    if not send_all(sock, "x") then
      log("ABORTED", id)
      return false
    end
  end
  log("COMPLETE", id)
  return true
end

function routes.big(sock, id, _, target)
  local n = tonumber(target:match("^/big/(%d+)"))
  local chunk = ("b"):rep(n)
  if not send_all(sock, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n")
    or not send_all(sock, chunk) then
    log("ABORTED", id)
    return false
  end
  local _, why = recv_some(sock, now() + 3) -- a client that stops early closes here
  if why == "closed" then
    log("ABORTED", id)
    return false
  end
  if not send_all(sock, chunk) then
    log("ABORTED", id)
    return false
  end
  log("COMPLETE", id)
  return false
end

function routes.biglen(sock, id, _, target)
  local n = tonumber(target:match("^/biglen/(%d+)"))
  if not send_all(sock, ("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"):format(n)) then return false end
  local deadline = now() + 3
  while now() < deadline do
    if not send_all(sock, ("L"):rep(1024)) then
      log("ABORTED", id)
      return false
    end
    sleep(0.05)
  end
  log("COMPLETE", id)
  return false
end

function routes.delay(sock, _, _, target)
  local ms, tag = target:match("^/delay/(%d+)/([^/?]*)")
  sleep(tonumber(ms) / 1000)
  return send_all(sock, response(200, { "Content-Type: text/plain" }, tag))
end

function routes.headers(sock, _, _, target)
  local n = tonumber(target:match("^/headers/(%d+)"))
  local lines = {}
  for i = 1, n do lines[i] = ("X-H%d: %d"):format(i, i) end
  return send_all(sock, response(200, lines, "many"))
end

function routes.gzip(sock, _, _, target)
  local v = gzip_variants[target:match("^/gzip/([%w]+)")]
  if not v then return send_all(sock, response(404, {}, "no such variant")) end
  local lines, body, chunk = v[1], v[2], v[3]
  if not chunk then return send_all(sock, response(200, lines, body)) end
  local head = "HTTP/1.1 200 OK\r\n" .. table.concat(lines, "\r\n") .. "\r\nTransfer-Encoding: chunked\r\n\r\n"
  if not send_all(sock, head) then return false end
  for i = 1, #body, chunk do
    local piece = body:sub(i, i + chunk - 1)
    if not send_all(sock, ("%x\r\n%s\r\n"):format(#piece, piece)) then return false end
  end
  return send_all(sock, "0\r\n\r\n")
end

function routes.raw(sock, _, _, target)
  local bytes = raw_responses[target:match("^/raw/(%w+)")]
  if not bytes then return send_all(sock, response(404, {}, "no such response")) end
  send_all(sock, bytes)
  return false
end

-- answers as if the connection stayed open, then drops it (an idle close)
function routes.drop(sock, _, _, _, raw)
  send_all(sock, response(200, { "Content-Type: application/octet-stream" }, raw))
  return false
end

-- a request in absolute form (to a proxy): echoed, tagged
function routes.proxy(sock, _, _, _, raw)
  return send_all(sock, response(200, { "X-Proxied: yes" }, raw))
end

-- /fuzz/SEED: a valid response (plain, gzip, chunked, 1xx first), then
-- damaged from SEED: bytes flipped, cut short, lines doubled, noise added
local function lcg(seed)
  local state = seed % 2147483647
  if state <= 0 then state = state + 2147483646 end
  return function(n) -- 1..n
    state = state * 16807 % 2147483647
    return state % n + 1
  end
end

function routes.fuzz(sock, _, _, target)
  local rnd = lcg(tonumber(target:match("^/fuzz/(%d+)")) or 1)
  local body = rnd(2) == 1 and gz or TEXT:sub(1, rnd(#TEXT))
  local lines = { "HTTP/1.1 200 OK", "X-A: " .. ("v"):rep(rnd(50)) }
  if body == gz then lines[#lines + 1] = ({ "Content-Encoding: gzip", "Content-Encoding: GZIP, identity",
    "Content-Encoding: gzip, br" })[rnd(3)] end
  local framing = rnd(3)
  local payload = body
  if framing == 1 then
    lines[#lines + 1] = "Content-Length: " .. #body
  elseif framing == 2 then
    lines[#lines + 1] = "Transfer-Encoding: chunked"
    local parts, i = {}, 1
    while i <= #body do
      local n = rnd(700)
      parts[#parts + 1] = ("%x\r\n%s\r\n"):format(#body:sub(i, i + n - 1), body:sub(i, i + n - 1))
      i = i + n
    end
    payload = table.concat(parts) .. "0\r\n\r\n"
  else
    lines[#lines + 1] = "Connection: close"
  end
  local bytes = table.concat(lines, "\r\n") .. "\r\n\r\n" .. payload
  if rnd(4) == 1 then bytes = "HTTP/1.1 100 Continue\r\n\r\n" .. bytes end
  for _ = 1, rnd(4) - 1 do
    local what, at = rnd(4), rnd(#bytes)
    if what == 1 then
      bytes = bytes:sub(1, at - 1) .. string.char(rnd(256) - 1) .. bytes:sub(at + 1)
    elseif what == 2 then
      bytes = bytes:sub(1, at)
    elseif what == 3 then
      bytes = bytes:sub(1, at) .. bytes:sub(at, at + rnd(40)) .. bytes:sub(at + 1)
    else
      bytes = bytes:sub(1, at) .. ("\r\n"):rep(rnd(3)) .. bytes:sub(at + 1)
    end
  end
  send_all(sock, bytes)
  return false
end

function routes.redirect(sock)
  return send_all(sock, response(302, { ("Location: http://127.0.0.1:%d/echo/redirected"):format(port) },
    "moved"))
end

---------------------------------------------------------------------------
-- connections

local next_id = 0

local function handle(sock)
  next_id = next_id + 1
  local id = next_id
  log("CONN", id)
  local buf = ""
  while true do
    local head_end
    while true do
      head_end = buf:find("\r\n\r\n", 1, true)
      if head_end then break end
      local d = recv_some(sock)
      if not d then
        log("CLOSE", id, "peer")
        return
      end
      buf = buf .. d
      if #buf > 4 * 1024 * 1024 then
        log("CLOSE", id, "server")
        return
      end
    end
    local head = buf:sub(1, head_end + 3)
    local len = tonumber(head:lower():match("\r\ncontent%-length:[ \t]*(%d+)")) or 0
    while #buf < head_end + 3 + len do
      local d = recv_some(sock)
      if not d then
        log("CLOSE", id, "peer")
        return
      end
      buf = buf .. d
    end
    local raw = buf:sub(1, head_end + 3 + len)
    buf = buf:sub(head_end + 4 + len)
    log("REQ", id, raw)
    local method, target = raw:match("^(%S+) (%S+) HTTP/")
    local route = routes[(target or ""):match("^/(%w+)") or ""]
    if (target or ""):match("^http://") then route = routes.proxy end
    local keep
    if route then
      keep = route(sock, id, method, target, raw)
    else
      keep = send_all(sock, response(404, {}, "no route"))
    end
    log("END", id)
    if not keep then
      log("CLOSE", id, "server")
      return
    end
  end
end

local tasks = {}

local function spawn(sock)
  sock:settimeout(0)
  sock:setoption("tcp-nodelay", true)
  tasks[#tasks + 1] = { co = coroutine.create(handle), sock = sock, want = "new", arg = sock }
end

local f = assert(io.open(dir .. "/port.tmp", "wb"))
f:write(tostring(port))
f:close()
assert(os.rename(dir .. "/port.tmp", dir .. "/port"))

while now() - started < max_life do
  local rlist, wlist, timeout = { srv }, {}, 0.5
  for _, t in ipairs(tasks) do
    if t.want == "r" then rlist[#rlist + 1] = t.sock end
    if t.want == "w" then wlist[#wlist + 1] = t.sock end
    if t.want == "new" then timeout = 0 end
    if t.wake then timeout = math.min(timeout, math.max(0, t.wake - now())) end
  end
  local r, w = socket.select(rlist, wlist, timeout)
  if r[srv] then
    local s = srv:accept()
    while s do
      spawn(s)
      s = srv:accept()
    end
  end
  local t_now, alive = now(), {}
  for _, t in ipairs(tasks) do
    local ready = t.want == "new" or (t.want == "r" and r[t.sock]) or (t.want == "w" and w[t.sock])
      or (t.wake and t_now >= t.wake)
    if ready then
      local ok, want, _, wake = coroutine.resume(t.co, t.arg)
      t.arg = nil
      if not ok then
        io.stderr:write("rawserver: ", tostring(want), "\n")
        log("CLOSE", 0, "error: " .. tostring(want))
      end
      if coroutine.status(t.co) == "dead" then
        t.sock:close()
      else
        t.want, t.wake = want, wake
        alive[#alive + 1] = t
      end
    else
      alive[#alive + 1] = t
    end
  end
  tasks = alive
end
