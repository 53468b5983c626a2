-- The emulator's OAuth token endpoint (POST /oauth2/token) and its fault injection
-- (--script, X-Emulator-Fault), through real HTTP: the client's raw libcurl transport
-- (evcp.core.curl_transport, which knows nothing of HERE), and the curl command where
-- the exact bytes on the wire matter.
--
-- Expected values come from here-api-notes §3.2 and docs/EMULATOR.md, never from the
-- emulator's code: signatures are computed here with the openssl command for base
-- strings written out by hand; HTTP dates are read with this file's own parser.

local cjson = require("cjson").new()
local ep = require("emulator_process")
local helper = require("helper")
local core = require("evcp.core")
local shell_quote = ep.shell_quote

local FIXTURE = "spec/fixtures/emulator-mini-db.lua"
local KEY_ID = "emu-key-1"
local SECRET = "s3cret/+=&%"
-- pct(SECRET) .. "&", by hand (RFC 5849 3.6: / + = & % are all encoded)
local SIGNING_KEY = "s3cret%2F%2B%3D%26%25&"
local HERE_URL = "https://account.api.here.com/oauth2/token"
local ERROR_KEYS = { "error", "errorCode", "errorId", "error_description", "httpStatus",
  "message" }
local SLACK = 1.0
if os.getenv("EVCP_SLOW") or (os.getenv("LD_PRELOAD") or ""):find("vgpreload", 1, true) then
  SLACK = 5.0
end

local function keys_of(t)
  local list = {}
  for k in pairs(t) do list[#list + 1] = k end
  table.sort(list)
  return list
end

local openssl_sign, pct = helper.openssl_sign, helper.pct -- the openssl command; RFC 5849 3.6

-- "Tue, 01 Dec 2026 16:32:16 GMT" -> Unix seconds (own parser, days from the civil date)
local MON = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8,
  Sep = 9, Oct = 10, Nov = 11, Dec = 12 }
local function parse_http_date(s)
  local d, mon, y, hh, mm, ss = s:match("^%a%a%a, (%d%d) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  assert(d, "not an IMF-fixdate: " .. tostring(s))
  y, mon, d = tonumber(y), MON[mon], tonumber(d)
  if mon <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * (mon + (mon > 2 and -3 or 9)) + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(hh) * 3600 + tonumber(mm) * 60 + tonumber(ss)
end

local function unix_now()
  local p = io.popen("date +%s")
  local s = p:read("*l")
  p:close()
  return tonumber(s)
end

local transport = core.curl_transport({ timeout = 10, max_parallel = 2 })

local function run(req, opts)
  local t = opts and core.curl_transport(opts) or transport
  local t0 = t:now()
  local res = t:run({ req })[1]
  local dt = t:now() - t0
  if t ~= transport then t:close() end
  return res, dt
end

-- the Authorization header for the given oauth values (signature percent-encoded)
local function oauth_header(v)
  local parts = {}
  for _, k in ipairs({ "oauth_consumer_key", "oauth_nonce", "oauth_signature",
    "oauth_signature_method", "oauth_timestamp", "oauth_version" }) do
    if v[k] then parts[#parts + 1] = k .. '="' .. pct(v[k]) .. '"' end
  end
  return "OAuth " .. table.concat(parts, ",")
end

local function post_token(emu, auth_header, body, ctype)
  return run({ method = "POST", url = emu.url .. "/oauth2/token", body = body or
    "grant_type=client_credentials", headers = { ["Content-Type"] = ctype or
    "application/x-www-form-urlencoded", Authorization = auth_header } })
end

-- HERE's documented base string for a form request to HERE's URL, written out by hand;
-- only the nonce and the timestamp are filled in.
local function here_base_string(nonce, ts, method, version)
  return "POST&https%3A%2F%2Faccount.api.here.com%2Foauth2%2Ftoken&"
    .. "grant_type%3Dclient_credentials%26oauth_consumer_key%3Demu-key-1%26oauth_nonce%3D"
    .. nonce .. "%26oauth_signature_method%3D" .. (method or "HMAC-SHA256")
    .. "%26oauth_timestamp%3D" .. ts .. "%26oauth_version%3D" .. (version or "1.0")
end

local function signed(nonce, ts, opts)
  opts = opts or {}
  local base = here_base_string(nonce, ts, opts.method, opts.version)
  return oauth_header({ oauth_consumer_key = opts.key or KEY_ID, oauth_nonce = nonce,
    oauth_signature = openssl_sign(opts.signing_key or SIGNING_KEY, base),
    oauth_signature_method = opts.method or "HMAC-SHA256", oauth_timestamp = tostring(ts),
    oauth_version = opts.version or "1.0" })
end

local function assert_oauth_error(res, status, code)
  assert.are.equal(status, res.status, res.body)
  local j = cjson.decode(res.body)
  assert.are.same(ERROR_KEYS, keys_of(j))
  assert.are.equal(code, j.errorCode)
  assert.are.equal(status, j.httpStatus)
  assert.truthy(j.errorId:match("^ERROR%-%x+%-"))
  assert.are.equal(j.message, j.error_description)
  if status == 401 then
    assert.are.equal("invalid_client", j.error)
    assert.truthy(res.headers.date, "a 401 carries a Date header")
    assert.is_true(math.abs(parse_http_date(res.headers.date) - unix_now()) <= 5)
  end
  return j
end

local nonce_n = 0
local function nonce()
  nonce_n = nonce_n + 1
  return "spec36-" .. nonce_n .. "-" .. os.time()
end

describe("emulator POST /oauth2/token #slow", function()
  local emu
  setup(function()
    emu = ep.start("--data " .. FIXTURE .. " --status-interval 0 --api-key k1"
      .. " --access-key " .. shell_quote(KEY_ID .. ":" .. SECRET) .. " --access-key other:x"
      .. " --token-ttl 3 --token-url " .. HERE_URL)
  end)
  teardown(function() ep.stop_all() end)

  it("accepts HERE's signature for a base string worked out by hand", function()
    local ts = unix_now()
    local n = nonce()
    local base = here_base_string(n, ts)
    -- the documented shape: exactly two raw '&'
    local _, amps = base:gsub("&", "")
    assert.are.equal(2, amps)
    local res = post_token(emu, signed(n, ts))
    assert.are.equal(200, res.status, res.body)
    local j = cjson.decode(res.body)
    assert.are.same({ "access_token", "expires_in", "token_type" }, keys_of(j))
    assert.are.equal("bearer", j.token_type)
    assert.are.equal(3, j.expires_in)
    assert.is_string(j.access_token)
  end)

  it("lets an issued token read /v3/locations until --token-ttl runs out", function()
    local ts = unix_now()
    local res = post_token(emu, signed(nonce(), ts))
    local token = cjson.decode(res.body).access_token
    local url = emu.url .. "/v3/locations?ids=" .. "246udbvy497hq-aGVyZS1ldjplY29tb3ZlbWVudDoyMDEyMTg1ODgz"
    local got = run({ url = url, headers = { Authorization = "Bearer " .. token } })
    assert.are.equal(200, got.status, got.body)
    assert.are.equal(1, #cjson.decode(got.body).items)
    ep.sleep(3.3)
    got = run({ url = url, headers = { Authorization = "Bearer " .. token } })
    assert.are.equal(401, got.status)
    assert.are.same({ error = "Unauthorized",
      error_description = "Token Validation Failure - invalid time in token" },
      cjson.decode(got.body))
    got = run({ url = url, headers = { Authorization = "Bearer emu.never-issued" } })
    assert.are.same({ error = "Unauthorized", error_description = "Invalid credentials" },
      cjson.decode(got.body))
  end)

  it("refuses a reused nonce with 401207", function()
    local ts, n = unix_now(), nonce()
    assert.are.equal(200, post_token(emu, signed(n, ts)).status)
    assert_oauth_error(post_token(emu, signed(n, ts)), 401, "401207")
    -- the same nonce for another key is another nonce
    local other = post_token(emu, signed(n, ts, { key = "other", signing_key = "x&" }))
    -- (the base string names emu-key-1, so this one fails on its signature)
    assert_oauth_error(other, 401, "401300")
  end)

  it("refuses timestamps more than 600 s away with 401204, and a Date header", function()
    local now = unix_now()
    assert_oauth_error(post_token(emu, signed(nonce(), now - 660)), 401, "401204")
    assert_oauth_error(post_token(emu, signed(nonce(), now + 660)), 401, "401204")
    assert.are.equal(200, post_token(emu, signed(nonce(), now - 540)).status)
    assert.are.equal(200, post_token(emu, signed(nonce(), now + 540)).status)
  end)

  it("refuses a wrong secret or an unknown key with 401300", function()
    local ts = unix_now()
    assert_oauth_error(post_token(emu, signed(nonce(), ts, { signing_key = "wrong&" })), 401,
      "401300")
    -- the raw secret as key, without the percent-encoding and the '&'
    assert_oauth_error(post_token(emu, signed(nonce(), ts, { signing_key = SECRET })), 401,
      "401300")
    assert_oauth_error(post_token(emu, signed(nonce(), ts, { key = "nobody" })), 401, "401300")
    -- a signature over another body
    assert_oauth_error(post_token(emu, signed(nonce(), ts), "grant_type=client_credentials&scope=x"),
      401, "401300")
  end)

  it("refuses another signature method (401205) or version (401206)", function()
    local ts = unix_now()
    assert_oauth_error(post_token(emu, signed(nonce(), ts, { method = "HMAC-SHA1" })), 401,
      "401205")
    assert_oauth_error(post_token(emu, signed(nonce(), ts, { version = "2.0" })), 401, "401206")
  end)

  it("refuses a malformed or missing OAuth header with 401202", function()
    assert_oauth_error(post_token(emu, "Bearer abc"), 401, "401202")
    assert_oauth_error(post_token(emu, nil), 401, "401202")
    assert_oauth_error(post_token(emu, 'OAuth oauth_consumer_key="emu-key-1"'), 401, "401202")
    local ts = unix_now()
    assert_oauth_error(post_token(emu, signed(nonce(), ts) .. ",garbage"), 401, "401202")
  end)

  it("answers HERE's JSON form in camelCase; the JSON body is not signed", function()
    local ts, n = unix_now(), nonce()
    local base = "POST&https%3A%2F%2Faccount.api.here.com%2Foauth2%2Ftoken&"
      .. "oauth_consumer_key%3Demu-key-1%26oauth_nonce%3D" .. n
      .. "%26oauth_signature_method%3DHMAC-SHA256%26oauth_timestamp%3D" .. ts
      .. "%26oauth_version%3D1.0"
    local h = oauth_header({ oauth_consumer_key = KEY_ID, oauth_nonce = n,
      oauth_signature = openssl_sign(SIGNING_KEY, base), oauth_signature_method = "HMAC-SHA256",
      oauth_timestamp = tostring(ts), oauth_version = "1.0" })
    local res = post_token(emu, h, '{"grantType":"client_credentials"}', "application/json")
    assert.are.equal(200, res.status, res.body)
    local j = cjson.decode(res.body)
    assert.are.same({ "accessToken", "expiresIn", "tokenType" }, keys_of(j))
    assert.are.equal(3, j.expiresIn)
  end)

  it("honours a signed, shorter expires_in", function()
    local ts, n = unix_now(), nonce()
    local base = "POST&https%3A%2F%2Faccount.api.here.com%2Foauth2%2Ftoken&"
      .. "expires_in%3D1%26grant_type%3Dclient_credentials%26oauth_consumer_key%3Demu-key-1"
      .. "%26oauth_nonce%3D" .. n .. "%26oauth_signature_method%3DHMAC-SHA256"
      .. "%26oauth_timestamp%3D" .. ts .. "%26oauth_version%3D1.0"
    local h = oauth_header({ oauth_consumer_key = KEY_ID, oauth_nonce = n,
      oauth_signature = openssl_sign(SIGNING_KEY, base), oauth_signature_method = "HMAC-SHA256",
      oauth_timestamp = tostring(ts), oauth_version = "1.0" })
    local res = post_token(emu, h, "grant_type=client_credentials&expires_in=1")
    assert.are.equal(200, res.status, res.body)
    assert.are.equal(1, cjson.decode(res.body).expires_in)
  end)

  it("refuses other grant types, content types and methods", function()
    local j = assert_oauth_error(post_token(emu, signed(nonce(), unix_now()), "{", "application/json"),
      400, "400002")
    assert.are.equal("invalid_request", j.error)
    assert_oauth_error(post_token(emu, signed(nonce(), unix_now()), "x", "text/plain"), 400, "400004")
    local res = run({ url = emu.url .. "/oauth2/token" })
    assert_oauth_error(res, 405, "405002")
  end)
end)

describe("emulator token endpoint behind a skewed clock #slow", function()
  local emu
  setup(function()
    emu = ep.start("--data " .. FIXTURE .. " --status-interval 0 --access-key "
      .. shell_quote(KEY_ID .. ":" .. SECRET) .. " --clock-offset 7200")
  end)
  teardown(function() ep.stop_all() end)

  -- signs for the URL the request goes to (the default: from the Host header)
  local function sign_for(url, n, ts)
    local base = "POST&" .. pct(url) .. "&" .. pct("grant_type=client_credentials"
      .. "&oauth_consumer_key=" .. KEY_ID .. "&oauth_nonce=" .. n
      .. "&oauth_signature_method=HMAC-SHA256&oauth_timestamp=" .. ts .. "&oauth_version=1.0")
    return oauth_header({ oauth_consumer_key = KEY_ID, oauth_nonce = n,
      oauth_signature = openssl_sign(SIGNING_KEY, base), oauth_signature_method = "HMAC-SHA256",
      oauth_timestamp = tostring(ts), oauth_version = "1.0" })
  end

  it("says 401204 with its own time in Date; re-signed with that time, it issues", function()
    local url = emu.url .. "/oauth2/token"
    local res = post_token(emu, sign_for(url, nonce(), unix_now()))
    assert.are.equal(401, res.status)
    assert.are.equal("401204", cjson.decode(res.body).errorCode)
    local server = parse_http_date(res.headers.date)
    assert.is_true(math.abs(server - unix_now() - 7200) <= 5)
    res = post_token(emu, sign_for(url, nonce(), server))
    assert.are.equal(200, res.status, res.body)
    assert.are.equal(86399, cjson.decode(res.body).expires_in)
    -- HERE's URL is not the one signed here
    local base = here_base_string("n-x", server)
    res = post_token(emu, oauth_header({ oauth_consumer_key = KEY_ID, oauth_nonce = "n-x",
      oauth_signature = openssl_sign(SIGNING_KEY, base), oauth_signature_method = "HMAC-SHA256",
      oauth_timestamp = tostring(server), oauth_version = "1.0" }))
    assert.are.equal("401300", cjson.decode(res.body).errorCode)
  end)
end)

describe("emulator fault kinds (X-Emulator-Fault) #slow", function()
  local emu, port
  setup(function()
    emu = ep.start("--data " .. FIXTURE .. " --status-interval 0 --api-key k1")
    port = tonumber(emu.url:match(":(%d+)$"))
  end)
  teardown(function() ep.stop_all() end)

  local HEALTH = "/v3/health?apiKey=k1"
  local VERSION = "/v3/version?apiKey=k1"
  local VERSION_BODY = cjson.encode({ apiVersion = "3.20.1", serviceVersion = "evcp-emulator-0.1.0" })

  local function fault(kind, path, opts)
    return run({ url = emu.url .. (path or HEALTH), headers = { ["X-Emulator-Fault"] = kind,
      ["X-Request-ID"] = "rid-" .. kind } }, opts)
  end

  -- the bytes as sent (no decoding), read on a plain socket until the server closes
  local socket = require("socket")
  local function raw(kind, path)
    local c = assert(socket.tcp())
    c:settimeout(10)
    assert(c:connect("127.0.0.1", port))
    assert(c:send("GET " .. (path or HEALTH) .. " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      .. "X-Emulator-Fault: " .. kind .. "\r\n\r\n"))
    local data, err, partial = c:receive("*a")
    c:close()
    return data or partial, err
  end

  it("ok: normal service", function()
    local res = fault("ok")
    assert.are.equal(200, res.status)
    assert.are.equal('{"status":"ok"}', res.body)
    assert.are.equal("rid-ok", res.headers["x-request-id"])
  end)

  it("delay-N: N ms, then normal service", function()
    local res, dt = fault("delay-400")
    assert.are.equal(200, res.status)
    assert.are.equal('{"status":"ok"}', res.body)
    assert.is_true(dt >= 0.4 and dt < 0.4 + SLACK, tostring(dt))
  end)

  it("drip-N: the normal body in 16-byte pieces, N ms apart", function()
    -- 62 bytes: 4 pieces, 3 pauses
    assert.are.equal(62, #VERSION_BODY)
    local res, dt = fault("drip-150", VERSION)
    assert.are.equal(200, res.status)
    assert.are.same(cjson.decode(VERSION_BODY), cjson.decode(res.body))
    assert.are.equal("62", res.headers["content-length"])
    assert.is_true(dt >= 0.45 and dt < 0.45 + SLACK, tostring(dt))
    -- slower than a low-speed limit: the transport gives up
    local slow = fault("drip-2000", VERSION, { timeout = 10, low_speed_limit = 100,
      low_speed_time = 1 })
    assert.are.equal("timeout", slow.kind)
  end)

  it("hang-N: silence for N ms, then a close without a response", function()
    local res, dt = fault("hang-300")
    assert.are.equal("network", res.kind)
    assert.is_nil(res.status)
    assert.is_true(dt >= 0.3 and dt < 0.3 + SLACK, tostring(dt))
    res = fault("hang-3000", HEALTH, { timeout = 0.5 })
    assert.are.equal("timeout", res.kind)
  end)

  it("reset: the connection closes without a response", function()
    local res, dt = fault("reset")
    assert.are.equal("network", res.kind)
    assert.is_nil(res.status)
    assert.is_true(dt < SLACK)
    assert.are.equal("", raw("reset")) -- closed by the server, not a byte sent
  end)

  it("truncate: Content-Length of the whole body, half of it, then a close", function()
    local res = fault("truncate")
    assert.are.equal("network", res.kind)
    local bytes = raw("truncate")
    assert.truthy(bytes:find("\r\nContent-Length: 15\r\n", 1, true))
    assert.are.equal('{"statu', bytes:match("\r\n\r\n(.*)$"))
  end)

  it("close: the whole normal response with Connection: close, then a close", function()
    local res = fault("close")
    assert.are.equal(200, res.status)
    assert.are.equal('{"status":"ok"}', res.body)
    assert.are.equal("close", res.headers.connection)
  end)

  local function generic(res, status, err, desc)
    assert.are.equal(status, res.status)
    assert.are.same({ error = err, error_description = desc }, cjson.decode(res.body))
    assert.are.equal("application/json", res.headers["content-type"])
  end
  local function service(res, status, title, code)
    assert.are.equal(status, res.status)
    local j = cjson.decode(res.body)
    assert.are.same({ "action", "cause", "code", "correlationId", "status", "title" }, keys_of(j))
    assert.are.equal(title, j.title)
    assert.are.equal(code, j.code)
    assert.are.equal(status, j.status)
    assert.are.equal(res.headers["x-correlation-id"], j.correlationId)
  end

  it("429 and 503: without Retry-After, in seconds, as an HTTP date, invalid", function()
    for _, st in ipairs({ 429, 503 }) do
      local check = st == 429
        and function(r) generic(r, 429, "Too Many Requests", "Rate limit exceeded") end
        or function(r) service(r, 503, "Database operation failed", "E629503") end
      local res = fault(tostring(st))
      check(res)
      assert.is_nil(res.headers["retry-after"])
      res = fault(st .. "-7")
      check(res)
      assert.are.equal("7", res.headers["retry-after"])
      res = fault(st .. "-date-30")
      check(res)
      local at = parse_http_date(res.headers["retry-after"])
      assert.is_true(math.abs(at - unix_now() - 30) <= 3, res.headers["retry-after"])
      res = fault(st .. "-invalid")
      check(res)
      assert.are.equal("soon, maybe", res.headers["retry-after"])
    end
  end)

  it("500, 502, 504 and 408", function()
    service(fault("500"), 500, "Internal Error", "E629500")
    generic(fault("502"), 502, "Bad Gateway", "The upstream service did not answer")
    generic(fault("504"), 504, "Gateway Timeout", "The upstream service did not answer in time")
    generic(fault("408"), 408, "Request Timeout", "The request was not received in time")
  end)

  it("bad-json, html and empty: a 200 whose body is not the JSON asked for", function()
    local res = fault("bad-json")
    assert.are.equal(200, res.status)
    assert.are.equal("application/json", res.headers["content-type"])
    assert.is_false(pcall(cjson.decode, res.body))
    res = fault("html")
    assert.are.equal(200, res.status)
    assert.are.equal("text/html; charset=utf-8", res.headers["content-type"])
    assert.truthy(res.body:find("^<!DOCTYPE html>"))
    res = fault("empty")
    assert.are.equal(200, res.status)
    assert.are.equal("", res.body)
    assert.are.equal("0", res.headers["content-length"])
  end)

  it("gzip-bomb: about 1 MiB on the wire that inflates to 1025 MiB", function()
    local res = fault("gzip-bomb")
    assert.are.equal("too_large", res.kind)
    res = fault("gzip-bomb", HEALTH, { max_body = 1073741824, timeout = 30 })
    assert.are.equal("too_large", res.kind)
    local f = os.tmpname()
    local p = io.popen("env -u LD_PRELOAD curl -s -D " .. shell_quote(f) .. " -H 'X-Emulator-Fault: gzip-bomb' "
      .. shell_quote(emu.url .. HEALTH) .. " | tee " .. shell_quote(f .. ".gz")
      .. " | gzip -dc | wc -c")
    local inflated = tonumber(p:read("*a"))
    p:close()
    local head = ep.read_all(f)
    local wire = #ep.read_all(f .. ".gz")
    os.remove(f)
    os.remove(f .. ".gz")
    assert.truthy(head:find("\r\nContent-Encoding: gzip\r\n", 1, true))
    assert.truthy(head:find("\r\nContent-Length: " .. wire .. "\r\n", 1, true))
    assert.is_true(wire < 2 * 1048576, tostring(wire))
    assert.are.equal(1025 * 1048576, inflated)
  end)

  it("bad-gzip: Content-Encoding gzip over a body that is not gzip", function()
    local res = fault("bad-gzip")
    assert.are.equal("decode", res.kind)
    assert.are.equal(200, res.status)
  end)

  it("redirect, redirect-PORT, redirect-loop: a 302 the transport does not follow", function()
    local res = fault("redirect")
    assert.are.equal(302, res.status)
    local other = port < 65535 and port + 1 or port - 1
    assert.are.equal("http://127.0.0.1:" .. other .. HEALTH, res.headers.location)
    res = fault("redirect-40000")
    assert.are.equal("http://127.0.0.1:40000" .. HEALTH, res.headers.location)
    res = fault("redirect-loop")
    assert.are.equal(302, res.status)
    assert.are.equal(emu.url .. HEALTH, res.headers.location)
  end)

  it("expired-token: HERE's 401 for a token outside its validity", function()
    generic(fault("expired-token"), 401, "Unauthorized",
      "Token Validation Failure - invalid time in token")
  end)

  it("skew-N: 401 with errorCode 401204 and a Date N seconds off", function()
    for _, n in ipairs({ -3600, 900 }) do
      local res = fault("skew-" .. n)
      local j = cjson.decode(res.body)
      assert.are.equal(401, res.status)
      assert.are.equal("401204", j.errorCode)
      assert.are.same(ERROR_KEYS, keys_of(j))
      assert.is_true(math.abs(parse_http_date(res.headers.date) - unix_now() - n) <= 3)
    end
  end)

  it("bad-status, bad-chunked: broken HTTP framing", function()
    assert.are.equal("network", fault("bad-status").kind)
    local bytes = raw("bad-status")
    assert.truthy(bytes:find("^HTTP/1.1 2x0 Broken\r\n"))
    assert.are.equal("network", fault("bad-chunked").kind)
    bytes = raw("bad-chunked")
    assert.truthy(bytes:find("\r\nTransfer%-Encoding: chunked\r\n\r\nzz\r\n"))
  end)

  it("huge-header: a 96 KiB header before the normal response", function()
    local res = fault("huge-header")
    assert.are.equal("too_large", res.kind, res.message)
    local bytes = raw("huge-header")
    local pad = bytes:match("\r\nX%-Emulator%-Padding: (a+)\r\n")
    assert.are.equal(98304, #pad)
    -- nginx sends the body chunked: one chunk of 15 (0xf) bytes
    assert.are.equal('f\r\n{"status":"ok"}\r\n0\r\n\r\n', bytes:match("\r\n\r\n(.*)$"))
  end)

  it("an unknown or malformed kind: 400 naming it", function()
    generic(fault("frobnicate"), 400, "Bad Request", "unknown fault kind: frobnicate")
    local res = fault("delay-999999")
    assert.are.equal(400, res.status)
    assert.truthy(cjson.decode(res.body).error_description:find("delay-999999", 1, true))
  end)

  it("applies before authentication, and to the token endpoint too", function()
    assert.are.equal(503, run({ url = emu.url .. "/v3/health", headers = {
      ["X-Emulator-Fault"] = "503" } }).status)
    assert.are.equal(429, run({ method = "POST", url = emu.url .. "/oauth2/token",
      body = "grant_type=client_credentials", headers = { ["X-Emulator-Fault"] = "429-1",
      ["Content-Type"] = "application/x-www-form-urlencoded" } }).status)
  end)
end)

describe("emulator --script #slow", function()
  teardown(function() ep.stop_all() end)

  it("gives successive data requests the listed kinds, across workers, then serves", function()
    local emu = ep.start("--data " .. FIXTURE .. " --status-interval 0 --api-key k1 --workers 2"
      .. " --script 503-1,ok,reset,429-date-5,expired-token")
    finally(function() ep.stop(emu) end)
    local url = emu.url .. "/v3/health?apiKey=k1"
    -- a token request is not a data request
    run({ method = "POST", url = emu.url .. "/oauth2/token", body = "",
      headers = { ["Content-Type"] = "application/x-www-form-urlencoded" } })
    local got = {}
    for i = 1, 7 do
      -- fresh connections, so that both workers take part
      local res = run({ url = url }, { timeout = 5 })
      got[i] = res.status or res.kind
      if i == 1 then assert.are.equal("1", res.headers["retry-after"]) end
    end
    assert.are.same({ 503, 200, "network", 429, 401, 200, 200 }, got)
    local stats = cjson.decode(run({ url = emu.url .. "/_emulator/stats" }).body)
    assert.is_table(stats.stream) -- the status stream's counters (spec/37 checks them)
    stats.stream = nil
    assert.are.same({ data_requests = 7, token_requests = 1, script_length = 5, script_used = 5,
      token_script_length = 0, token_script_used = 0 }, stats)
  end)

  it("--token-script does the same for token requests only", function()
    local emu = ep.start("--data " .. FIXTURE .. " --status-interval 0 --api-key k1"
      .. " --token-script 503-2,ok,429 --access-key " .. shell_quote(KEY_ID .. ":" .. SECRET)
      .. " --token-url " .. HERE_URL)
    finally(function() ep.stop(emu) end)
    assert.are.equal(200, run({ url = emu.url .. "/v3/health?apiKey=k1" }).status)
    local res = post_token(emu, signed(nonce(), unix_now()))
    assert.are.equal(503, res.status)
    assert.are.equal("2", res.headers["retry-after"])
    assert.are.equal(200, post_token(emu, signed(nonce(), unix_now())).status)
    assert.are.equal(429, post_token(emu, signed(nonce(), unix_now())).status)
    assert.are.equal(200, post_token(emu, signed(nonce(), unix_now())).status)
    local stats = cjson.decode(run({ url = emu.url .. "/_emulator/stats" }).body)
    assert.is_table(stats.stream) -- the status stream's counters (spec/37 checks them)
    stats.stream = nil
    assert.are.same({ data_requests = 1, token_requests = 4, script_length = 0, script_used = 0,
      token_script_length = 3, token_script_used = 3 }, stats)
  end)

  it("refuses to start with an unknown kind in --script", function()
    local ok, err = pcall(ep.start, "--script ok,bogus-kind")
    assert.is_false(ok)
    assert.truthy(tostring(err):find("bogus-kind", 1, true), err)
  end)
end)
