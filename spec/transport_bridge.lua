-- The client side of the transport bridge: it lets the conformance spec
-- (spec/45) drive a transport that lives in another host process (a real
-- nginx for "resty", a real `nvim --headless` for "nvim") as if it were
-- local. Each call is one HTTP/1.1 request over loopback to the host's
-- bridge server:
--
--   POST /bridge   (Content-Type: application/json, Content-Length: n)
--   {"op": "new",   "opts": {...}}                    -> {"ok": true, "id": 1}
--   {"op": "run",   "id": 1, "reqs": [REQ, ...]}      -> {"ok": true, "results": [RES, ...]}
--   {"op": "now",   "id": 1}                          -> {"ok": true, "now": 12.5}
--   {"op": "sleep", "id": 1, "s": 0.2}                -> {"ok": true}
--   {"op": "close", "id": 1}                          -> {"ok": true}
--   any op that raised in the host                    -> {"ok": false, "error": "message"}
--
-- opts are the transport options (core.curl_transport's) as JSON; REQ is a
-- request record with its body, if any, hex-encoded as "body_hex"; RES is a
-- result record whose body, if any, is hex-encoded as "body_hex" (bytes of
-- any value cross JSON that way). The bridge server answers 200 for every
-- op (the op's failure is ok = false) and keeps each transport it made
-- until closed. A host runs every op through its own transport, in its own
-- way (a request handler yielding on nginx's thread pool, a coroutine on
-- Neovim's loop); the bridge adds nothing to what the transport does.
local socket = require("socket")
local cjson = require("cjson").new()

local M = {}

local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function unhex(s)
  return (s:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end))
end
M.hex, M.unhex = hex, unhex

-- one op, one connection (the bridge's own traffic stays apart from the
-- transport's connections)
local function call(host, port, msg, timeout)
  local body = cjson.encode(msg)
  local c = assert(socket.tcp())
  c:settimeout(timeout or 120)
  assert(c:connect(host, port))
  assert(c:send("POST /bridge HTTP/1.1\r\nHost: " .. host .. "\r\nContent-Type: application/json\r\n"
    .. "Content-Length: " .. #body .. "\r\nConnection: close\r\n\r\n" .. body))
  local status = assert(c:receive("*l"))
  assert(status:match("^HTTP/1%.[01] 200"), "bridge answered " .. status)
  local len
  while true do
    local line = assert(c:receive("*l"))
    if line == "" then break end
    local n = line:match("^[Cc]ontent%-[Ll]ength:%s*(%d+)")
    if n then len = tonumber(n) end
  end
  local text = len and assert(c:receive(len)) or assert(c:receive("*a"))
  c:close()
  local reply = cjson.decode(text)
  if not reply.ok then error(reply.error, 0) end
  return reply
end
M.call = call

-- request records as JSON: plain fields, the body hex-encoded
local function encode_reqs(reqs)
  local out = {}
  for i, r in ipairs(reqs) do
    if type(r) ~= "table" then
      out[i] = r -- not a record: the host's transport refuses it, naming its index
    else
      local e = {}
      for k, v in pairs(r) do
        if k == "body" and type(v) == "string" then
          e.body_hex = hex(v)
        elseif type(v) == "number" and v ~= v then -- JSON has no NaN
          e.nan_fields = e.nan_fields or {}
          e.nan_fields[#e.nan_fields + 1] = k
        else
          e[k] = v
        end
      end
      if type(e.headers) == "table" and next(e.headers) == nil then e.headers = nil end
      out[i] = e
    end
  end
  return out
end

local function decode_results(list)
  for _, r in ipairs(list) do
    if r.body_hex then
      r.body = unhex(r.body_hex)
      r.body_hex = nil
    end
    if r.headers and next(r.headers) == nil then r.headers = {} end
    if r.status == cjson.null then r.status = nil end
  end
  return list
end

--- bridge.transport(url, opts) -> a transport object (run, now, sleep,
-- close, is_closed) whose every call runs in the host behind url
-- ("http://127.0.0.1:PORT").
function M.transport(url, opts)
  local host, port = url:match("^http://([^:/]+):(%d+)")
  port = tonumber(port)
  local id = call(host, port, { op = "new", opts = opts or {} }).id
  local t, closed = {}, false
  function t.run(_, reqs)
    local r = call(host, port, { op = "run", id = id, reqs = encode_reqs(reqs) })
    return decode_results(r.results)
  end
  function t.now() return call(host, port, { op = "now", id = id }).now end
  function t.sleep(_, s) call(host, port, { op = "sleep", id = id, s = s }) end
  function t.close()
    if not closed then
      closed = true
      call(host, port, { op = "close", id = id })
    end
  end
  function t.is_closed() return closed end
  return t
end

--- bridge.server_op(msg, make) -> reply: the host side's logic, shared by
-- every bridge server: msg is the decoded request, make(opts) makes the
-- host's transport, transports the table of live ones (id -> transport).
-- Hosts call it inside their own request handling (it may yield there, in
-- run and sleep, as the host's transport does).
function M.server_op(msg, make, transports)
  local ok, reply = pcall(function()
    if msg.op == "new" then
      local id = #transports + 1
      transports[id] = make(msg.opts or {})
      return { ok = true, id = id }
    end
    local t = transports[msg.id]
    if t == nil then error("bridge: no transport " .. tostring(msg.id)) end
    if msg.op == "run" then
      local reqs = {}
      for i, r in ipairs(msg.reqs or {}) do
        if type(r) ~= "table" then
          reqs[i] = r
        else
          local q = {}
          for k, v in pairs(r) do
            if k == "body_hex" then
              q.body = unhex(v)
            elseif k == "nan_fields" then
              for _, f in ipairs(v) do q[f] = 0 / 0 end
            else
              q[k] = v
            end
          end
          if q.headers == nil then q.headers = {} end
          reqs[i] = q
        end
      end
      local results = t:run(reqs)
      local out = {}
      for i, res in ipairs(results) do
        local e = {}
        for k, v in pairs(res) do
          if k == "body" then e.body_hex = hex(v) else e[k] = v end
        end
        out[i] = e
      end
      return { ok = true, results = out }
    elseif msg.op == "now" then
      return { ok = true, now = t:now() }
    elseif msg.op == "sleep" then
      t:sleep(msg.s)
      return { ok = true }
    elseif msg.op == "close" then
      t:close()
      return { ok = true }
    end
    error("bridge: unknown op " .. tostring(msg.op))
  end)
  if ok then return reply end
  return { ok = false, error = tostring(reply) }
end

return M
