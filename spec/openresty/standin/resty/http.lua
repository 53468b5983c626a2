-- A stand-in for lua-resty-http's `resty.http`, for CI machines without it
-- (it is not packaged in Debian and CI has no network). evcp's own code: the
-- subset of resty.http's documented API that evcp.hosts.resty_http uses,
-- speaking real HTTP/1.1 over ngx.socket.tcp. spec/openresty/nginx.lua puts
-- this directory on lua_package_path only when no real resty.http is found
-- (EVCP_RESTY_HTTP=/path/to/lua-resty-http/lib selects a real one).
--   local c = http.new(); c:set_timeouts(connect_ms, send_ms, read_ms)
--   c:connect{scheme, host, port, ssl_verify, ssl_server_name, pool, pool_size,
--             proxy_opts = {http_proxy, https_proxy}}
--   local res = c:request{method, path, query, headers, body}
--     res.status, res.headers (name as received -> string, or a list of
--     strings when repeated), res.has_body, res.body_reader(size), res:read_body()
--   c:set_keepalive(ms, size); c:get_reused_times(); c:close()
-- Limits (where the real one does more): no Expect: 100-continue, no
-- trailers, no pipelining, no request_uri, no unix sockets, no mTLS; a proxy
-- is plain http (absolute-form targets; CONNECT tunnels for https); header
-- lookups on res.headers are by the first received spelling of a name (the
-- real one is case-insensitive); the default pool name is host:port:scheme:proxy only;
-- interim 1xx answers are skipped by request itself (read_response, which
-- the real one needs to read past them, gives nothing more here).
local _M = { _VERSION = "0.0-evcp-standin" }
local mt = { __index = _M }

local NO_BODY = { [204] = true, [304] = true }

function _M.new()
  local sock, err = ngx.socket.tcp()
  if not sock then return nil, err end
  return setmetatable({ sock = sock, keepalive = true }, mt)
end

function _M.set_timeouts(self, c, s, r)
  self.sock:settimeouts(c, s, r)
  return true
end

function _M.get_reused_times(self) return self.sock:getreusedtimes() end
function _M.close(self) return self.sock:close() end

function _M.set_keepalive(self, ...)
  if not self.keepalive then return self.sock:close() end
  return self.sock:setkeepalive(...)
end

local function parse_proxy(url)
  local host, port = url:match("^http://([^:/]+):?(%d*)")
  if not host then return nil end
  return host, tonumber(port) or 80
end

function _M.connect(self, o)
  local scheme, host, port = o.scheme or "http", o.host, o.port or (o.scheme == "https" and 443 or 80)
  local ssl = scheme == "https"
  local proxy = o.proxy_opts and (ssl and o.proxy_opts.https_proxy or o.proxy_opts.http_proxy)
  local phost, pport
  if proxy then
    phost, pport = parse_proxy(proxy)
    if not phost then return nil, "bad proxy URL: " .. tostring(proxy) end
  end
  local pool = o.pool or ("%s:%d:%s:%s"):format(host, port, scheme, proxy or "")
  local ok, err = self.sock:connect(phost or host, pport or port, { pool = pool, pool_size = o.pool_size })
  if not ok then return nil, err end
  self.host, self.port, self.ssl = host, port, ssl
  self.keepalive = true
  if proxy and not ssl then
    self.prefix = "http://" .. host .. (port == 80 and "" or ":" .. port)
  elseif proxy and self.sock:getreusedtimes() == 0 then
    local target = host .. ":" .. port
    local res, cerr = self:request({ method = "CONNECT", path = target, headers = { Host = target } })
    if not res then return nil, "CONNECT to the proxy: " .. tostring(cerr) end
    if res.status < 200 or res.status > 299 then return nil, "the proxy refused CONNECT: " .. res.status end
  end
  if ssl and self.sock:getreusedtimes() == 0 then
    local sess
    sess, err = self.sock:sslhandshake(nil, o.ssl_server_name or host, o.ssl_verify ~= false)
    if not sess then
      self.sock:close()
      return nil, err
    end
  end
  return true
end

local function reader_fixed(sock, n)
  return function(size)
    if n <= 0 then return nil end
    local want = math.min(n, size or 65536)
    local data, err = sock:receive(want)
    if not data then return nil, err end
    n = n - #data
    return data
  end
end

local function reader_close(self)
  local sock, done = self.sock, false
  self.keepalive = false
  return function(size)
    if done then return nil end
    local data, err, partial = sock:receiveany(size or 65536)
    if data then return data end
    if err == "closed" then
      done = true
      if partial and partial ~= "" then return partial end
      return nil
    end
    return nil, err
  end
end

local function reader_chunked(sock)
  local left, done = 0, false
  return function(size)
    if done then return nil end
    if left == 0 then
      local line, err = sock:receive("*l")
      if not line then return nil, err end
      local hex = line:match("^%s*(%x+)")
      local n = hex and #hex <= 12 and tonumber(hex, 16)
      if not n then return nil, "bad chunk size line" end
      if n == 0 then
        repeat -- trailer fields, up to the empty line
          line, err = sock:receive("*l")
          if not line then return nil, err end
        until line == ""
        done = true
        return nil
      end
      left = n
    end
    local data, err = sock:receive(math.min(left, size or 65536))
    if not data then return nil, err end
    left = left - #data
    if left == 0 then
      local crlf, cerr = sock:receive(2)
      if crlf ~= "\r\n" then return nil, cerr or "bad chunk end" end
    end
    return data
  end
end

local function read_body(res)
  local parts = {}
  while true do
    local chunk, err = res.body_reader()
    if err then return nil, err end
    if chunk == nil then return table.concat(parts) end
    parts[#parts + 1] = chunk
  end
end

function _M.request(self, p)
  local sock = self.sock
  local method = (p.method or "GET"):upper()
  local target = (self.prefix or "") .. (p.path or "/")
  local q = p.query
  if type(q) == "string" and q ~= "" then target = target .. (q:sub(1, 1) == "?" and "" or "?") .. q end
  local lines, have = { method .. " " .. target .. " HTTP/1.1" }, {}
  for k, v in pairs(p.headers or {}) do
    lines[#lines + 1] = k .. ": " .. tostring(v)
    have[k:lower()] = true
  end
  if not have.host then
    local dflt = (self.ssl and self.port == 443) or (not self.ssl and self.port == 80)
    lines[#lines + 1] = "Host: " .. self.host .. (dflt and "" or ":" .. self.port)
  end
  if not have["user-agent"] then lines[#lines + 1] = "User-Agent: " .. "lua-resty-http-standin" end
  if p.body and not have["content-length"] then lines[#lines + 1] = "Content-Length: " .. #p.body end
  local ok, err = sock:send(table.concat(lines, "\r\n") .. "\r\n\r\n" .. (p.body or ""))
  if not ok then return nil, err end
  local status, version, headers
  repeat
    local line
    line, err = sock:receive("*l")
    if not line then return nil, err end
    version, status = line:match("^HTTP/(%d%.%d) (%d%d%d)")
    if not status then return nil, "bad status line: " .. line:sub(1, 80) end
    status = tonumber(status)
    headers = {}
    local names = {} -- lower-case name -> the first spelling seen (repeats join it, in order)
    while true do
      line, err = sock:receive("*l")
      if not line then return nil, err end
      if line == "" then break end
      local k, v = line:match("^([^:%s]+):%s*(.-)%s*$")
      if k then
        local lk = k:lower()
        k = names[lk] or k
        names[lk] = k
        local old = headers[k]
        if old == nil then headers[k] = v
        elseif type(old) == "table" then old[#old + 1] = v
        else headers[k] = { old, v } end
      end
    end
  until status >= 200 or status == 101
  local function get(name)
    for k, v in pairs(headers) do
      if k:lower() == name then return type(v) == "table" and table.concat(v, ", ") or v end
    end
  end
  local conn = (get("connection") or ""):lower()
  if (version == "1.0" and not conn:find("keep-alive", 1, true)) or conn:find("close", 1, true) then
    self.keepalive = false
  end
  local res = { status = status, headers = headers, has_body = false, read_body = read_body }
  if method ~= "HEAD" and method ~= "CONNECT" and not NO_BODY[status] then
    res.has_body = true
    local te, cl = get("transfer-encoding"), get("content-length")
    if te and te:lower():find("chunked", 1, true) then
      res.body_reader = reader_chunked(sock)
    elseif cl and tonumber(cl) then
      res.body_reader = reader_fixed(sock, tonumber(cl))
    else
      res.body_reader = reader_close(self)
    end
  else
    res.body_reader = function() return nil end
  end
  return res
end

--- read_response(params): here request has skipped the interim answers already
function _M.read_response()
  return nil, "the stand-in has no interim answer to read past"
end

return _M
