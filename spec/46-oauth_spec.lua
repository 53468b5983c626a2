-- HERE's OAuth token flow, offline: evcp.Secret and the OpenSSL helpers
-- (csrc/crypto.c), the signed token request, token answers and errors, HTTP
-- dates, the token cache (lua/evcp/oauth.lua) and the credential sources
-- (lua/evcp/credentials.lua).
-- Expected values are typed in: the base string below was worked out by
-- hand from here-api-notes §3.2, its signature comes from the openssl CLI
-- (an independent HMAC), dates from `date -u -d ... +%s`, base64 from RFC
-- 4648's test vectors.
local core = require("evcp.core")
local oauth = require("evcp.oauth")
local credentials = require("evcp.credentials")
local check = require("evcp.check")

local FIX = (debug.getinfo(1, "S").source:match("^@(.*)46%-oauth_spec%.lua$") or "spec/") .. "fixtures/oauth/"

local function shq(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil, path .. ": cannot open" end
  local s = f:read("*a")
  f:close()
  return s
end

-- the oracle: base64(HMAC-SHA256(key, text)) by the openssl CLI, the
-- values passed through temp files
local function openssl_hmac(key, text)
  local kf, tf = os.tmpname(), os.tmpname()
  write(kf, key)
  write(tf, text)
  local p = assert(io.popen("env -u LD_PRELOAD sh -c " .. shq('openssl dgst -sha256 -hmac "$(cat "$1")" -binary'
    .. ' <"$2" | openssl base64 -A') .. " sh " .. shq(kf) .. " " .. shq(tf) .. " 2>&1"))
  local out = p:read("*a")
  p:close()
  os.remove(kf)
  os.remove(tf)
  return (out:gsub("%s+$", ""))
end

local function openssl_base64(text)
  local tf = os.tmpname()
  write(tf, text)
  local p = assert(io.popen("env -u LD_PRELOAD openssl base64 -A <" .. shq(tf) .. " 2>&1"))
  local out = p:read("*a")
  p:close()
  os.remove(tf)
  return (out:gsub("%s+$", ""))
end

local function no_env() return nil end
local function env_of(t) return function(name) return t[name] end end

-- the message of the error fn(...) raises
local function raised(fn, ...)
  local ok, e = pcall(fn, ...)
  assert(not ok, "expected an error")
  return tostring(e)
end

local function oauth_creds(id, secret, endpoint)
  return { kind = "oauth", access_key_id = id, secret = core.secret(secret),
    token_endpoint = endpoint or "https://account.api.here.com/oauth2/token" }
end

-- the fields of an OAuth Authorization header value, percent-decoded
local function header_fields(h)
  local t = {}
  assert(h:sub(1, 6) == "OAuth ", h)
  for k, v in h:sub(7):gmatch('([%w_]+)="([^"]*)"') do
    t[k] = v:gsub("%%(%x%x)", function(x) return string.char(tonumber(x, 16)) end)
  end
  return t
end

describe("evcp.Secret (csrc/crypto.c)", function()
  it("signs with HMAC-SHA256 under pct(secret) .. '&', as the openssl CLI does", function()
    local s = core.secret("s3cr3t/+=&~")
    -- the signing key, by hand: / + = & escaped, ~ unreserved, then '&'
    assert.equal(openssl_hmac("s3cr3t%2F%2B%3D%26~&", "hello"), s:sign("hello"))
    assert.equal(openssl_hmac("s3cr3t%2F%2B%3D%26~&", ""), s:sign(""))
    local long = ("0123456789"):rep(1000)
    assert.equal(openssl_hmac("s3cr3t%2F%2B%3D%26~&", long), s:sign(long))
    -- bytes outside ASCII are escaped byte by byte, upper-case hex
    local u = core.secret("\195\169t\195\169 ok")
    assert.equal(openssl_hmac("%C3%A9t%C3%A9%20ok&", "x"), u:sign("x"))
    s:close()
    u:close()
  end)

  it("never shows its bytes: tostring, no getter, a locked metatable", function()
    local s = core.secret("CANARY-SECRET-123")
    assert.equal("evcp.Secret (redacted)", tostring(s))
    assert.equal("evcp.Secret", getmetatable(s))
    for _, k in ipairs({ "value", "get", "bytes", "key", "reveal", "__index" }) do assert.is_nil(s[k]) end
    assert.is_false(s:is_wiped())
    s:wipe()
    assert.equal("evcp.Secret (wiped)", tostring(s))
  end)

  it("wipes the whole buffer, idempotently, on wipe, close, __gc and __close", function()
    local s = core.secret("CANARY-SECRET-123")
    s:wipe()
    assert.is_true(s:is_wiped())
    s:wipe()
    s:close()
    assert.is_true(s:is_wiped())
    assert.matches("the secret is wiped", raised(s.sign, s, "x"))
    -- scrubbing after wipe leaves text as it is (nothing left to compare with)
    assert.equal("a CANARY-SECRET-123", s:scrub("a CANARY-SECRET-123"))
    -- __gc: many secrets dropped and collected
    for _ = 1, 200 do core.secret(("x"):rep(1024)) end
    collectgarbage()
    collectgarbage()
    if _VERSION == "Lua 5.4" and not rawget(_G, "jit") then
      local kept
      assert(load([[
        local core, keep = ...
        do
          local s <close> = core.secret("CANARY-SECRET-123")
          keep(s)
        end
      ]]))(core, function(x) kept = x end)
      assert.is_true(kept:is_wiped())
    end
  end)

  it("checks its arguments and its self, quoting no secret", function()
    assert.matches("must be a string, got no value", raised(core.secret))
    assert.matches("must be a string, got number", raised(core.secret, 1))
    assert.matches("must be 1 to 1024 bytes long, got an empty string", raised(core.secret, ""))
    local msg = raised(core.secret, "CANARY-SECRET-123" .. ("x"):rep(1024))
    assert.matches("must be 1 to 1024 bytes long", msg)
    assert.is_nil(msg:find("CANARY", 1, true))
    local s = core.secret("k")
    assert.matches("argument #1 %(text%) must be a string, got table", raised(s.sign, s, {}))
    local sign, wipe, scrub = s.sign, s.wipe, s.scrub
    assert.matches("self must be an evcp.Secret", raised(sign, {}, "x"))
    assert.matches("self must be an evcp.Secret", raised(wipe, io.stdout))
    assert.matches("self must be an evcp.Secret", raised(scrub, nil, "x"))
    local gc = debug.getmetatable(s).__gc
    assert.matches("self must be an evcp.Secret", raised(gc, {}))
    s:close()
  end)

  it("scrubs the secret as given and percent-encoded", function()
    local s = core.secret("a/b c")
    assert.equal("x *** y *** z ***", s:scrub("x a/b c y a%2Fb%20c z a/b c"))
    assert.equal("nothing here", s:scrub("nothing here"))
    assert.equal("******", s:scrub("a/b ca/b c"))
    assert.equal("", s:scrub(""))
    local plain = core.secret("abc")
    assert.equal("1***2***", plain:scrub("1abc2abc"))
    s:close()
    plain:close()
  end)

  it("scrubs every other spelling too: lower-case hex, form encoding, mixed", function()
    local s = core.secret("a/b c%+")
    for _, form in ipairs({ "a/b c%+", "a%2Fb%20c%25%2B", "a%2fb%20c%25%2b", "a%2fb+c%25%2b", "a/b+c%%2B",
      "%61%2F%62%20%63%25%2B" }) do
      assert.equal("<***>", s:scrub("<" .. form .. ">"), form)
    end
    assert.equal("<a/b c%>", s:scrub("<a/b c%>"))  -- a prefix is not the secret
    assert.equal("%%%+++%2", s:scrub("%%%+++%2"))  -- stray escapes cost nothing, match nothing
    s:close()
  end)
end)

describe("core.scrub", function()
  it("replaces each secret's every spelling, leftmost and longest first", function()
    assert.equal("x *** y *** z", core.scrub("x tok+1 y tok%2B1 z", "tok+1"))
    assert.equal("x *** y", core.scrub("x tok%2b1 y", "tok+1"))
    assert.equal("***-***", core.scrub("abc-bcd", "abc", "bcd"))
    assert.equal("***", core.scrub("abcd", "abc", "abcd"))
    assert.equal("k=***&t=***", core.scrub("k=my%20key&t=my+tok", "my key", "my tok"))
  end)

  it("skips nil and empty secrets, and gives the text itself when nothing matched", function()
    local text = "nothing to see"
    assert.equal(text, core.scrub(text, nil, "", "zzz"))
    assert.equal(text, core.scrub(text))
    assert.equal("", core.scrub("", "a"))
  end)

  it("is linear in the text for a text of stray escapes", function()
    local text = ("%+"):rep(200000)
    assert.equal(text, core.scrub(text, "%+secret", "+x"))
  end)

  it("refuses more than 16 secrets and non-strings", function()
    local many = {}
    for i = 1, 17 do many[i] = "s" .. i end
    assert.has_error(function() core.scrub("x", (table.unpack or unpack)(many)) end) -- luacheck: ignore 143
    assert.has_error(function() core.scrub("x", {}) end)
    assert.has_error(function() core.scrub(nil, "s") end)
  end)
end)

describe("core.request_id", function()
  it("gives RFC 9562 version 4 UUIDs, all different, across pool refills", function()
    local seen, variants = {}, {}
    for _ = 1, 3000 do -- 16 bytes each: more than 11 pools of 4 KiB
      local id = core.request_id()
      assert.matches("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$", id)
      assert.equal(id:lower(), id)
      assert.is_nil(seen[id])
      seen[id] = true
      variants[id:sub(20, 20)] = true
    end
    -- the variant digit takes all four of its values
    assert.same({ ["8"] = true, ["9"] = true, a = true, b = true }, variants)
  end)

  it("is what the client sends when the caller gives no request_id", function()
    local sent
    local t = { run = function(_, reqs)
      sent = reqs[1].headers["X-Request-ID"]
      return { { status = 200, headers = { ["content-type"] = "application/json" }, body = '{"status":"ok"}' } }
    end, sleep = function() end }
    local c = require("evcp").new({ base_url = "http://h", api_key = "k", transport = t })
    assert(c:health())
    assert.matches("^%x+%-%x+%-4%x+%-[89ab]%x+%-%x+$", sent)
  end)
end)

describe("core.random_token and core.base64", function()
  it("draws hex and base64url tokens of the asked size, all different", function()
    local seen = {}
    for _ = 1, 200 do
      local t = core.random_token(16)
      assert.equal(32, #t)
      assert.truthy(t:match("^[0-9a-f]+$"))
      assert.is_nil(seen[t])
      seen[t] = true
    end
    local b = core.random_token(16, "base64url")
    assert.equal(22, #b)
    assert.truthy(b:match("^[%w_-]+$"))
    assert.equal(2, #core.random_token(1))
    assert.equal(512, #core.random_token(256))
  end)

  it("refuses bad sizes and formats", function()
    assert.matches("must be 1 to 256 bytes", raised(core.random_token, 0))
    assert.matches("must be 1 to 256 bytes", raised(core.random_token, 257))
    assert.matches("invalid option", raised(core.random_token, 8, "base32"))
    assert.has_error(function() core.random_token("x") end)
  end)

  it("encodes base64 as RFC 4648 and the openssl CLI do", function()
    local vectors = { [""] = "", f = "Zg==", fo = "Zm8=", foo = "Zm9v", foob = "Zm9vYg==",
      fooba = "Zm9vYmE=", foobar = "Zm9vYmFy" }
    for k, v in pairs(vectors) do assert.equal(v, core.base64(k)) end
    local bytes = {}
    for i = 0, 2999 do bytes[#bytes + 1] = string.char((i * 7) % 256) end
    local blob = table.concat(bytes)
    for _, n in ipairs({ 767, 768, 769, 1536, 3000 }) do
      assert.equal(openssl_base64(blob:sub(1, n)), core.base64(blob:sub(1, n)))
    end
  end)
end)

describe("the token request (evcp.oauth)", function()
  -- worked out by hand (here-api-notes §3.2), not by evcp:
  --   parameters, encoded and sorted by name:
  --     grant_type=client_credentials
  --     oauth_consumer_key=ABCD1234efgh
  --     oauth_nonce=n0nce%2B%2F%3D             (n0nce+/=)
  --     oauth_signature_method=HMAC-SHA256
  --     oauth_timestamp=1700000000
  --     oauth_version=1.0
  --   joined with '&', then encoded again ('=' %3D, '&' %26, '%' %25), and
  --   POST & pct(URL) & that: exactly two raw '&'.
  local BASE = "POST&https%3A%2F%2Faccount.api.here.com%2Foauth2%2Ftoken&"
    .. "grant_type%3Dclient_credentials%26oauth_consumer_key%3DABCD1234efgh%26"
    .. "oauth_nonce%3Dn0nce%252B%252F%253D%26oauth_signature_method%3DHMAC-SHA256%26"
    .. "oauth_timestamp%3D1700000000%26oauth_version%3D1.0"
  --   signing key: pct("s3cr3t/+=&~") .. "&"
  local KEY = "s3cr3t%2F%2B%3D%26~&"

  local creds
  before_each(function() creds = oauth_creds("ABCD1234efgh", "s3cr3t/+=&~") end)
  after_each(function() creds.secret:close() end)

  it("makes the base string worked out by hand", function()
    local opts = { now = 1700000000, nonce = "n0nce+/=" }
    local got = oauth.base_string("POST", creds.token_endpoint, oauth.params(creds, opts))
    assert.equal(BASE, got)
    local _, raw_amps = got:gsub("&", "")
    assert.equal(2, raw_amps)
  end)

  it("signs it as the openssl CLI does, in exactly HERE's header format", function()
    local sig = openssl_hmac(KEY, BASE)
    assert.equal(44, #sig)
    local pct_sig = sig:gsub("[+/=]", { ["+"] = "%2B", ["/"] = "%2F", ["="] = "%3D" })
    local req = oauth.token_request(creds, { now = 1700000000.9, nonce = "n0nce+/=" })
    assert.same({
      method = "POST",
      url = "https://account.api.here.com/oauth2/token",
      headers = {
        Authorization = 'OAuth oauth_consumer_key="ABCD1234efgh",oauth_nonce="n0nce%2B%2F%3D",oauth_signature="'
          .. pct_sig .. '",oauth_signature_method="HMAC-SHA256",oauth_timestamp="1700000000",oauth_version="1.0"',
        ["Content-Type"] = "application/x-www-form-urlencoded",
        Accept = "application/json",
      },
      body = "grant_type=client_credentials",
    }, req)
    -- the secret travels nowhere in the request
    for _, s in ipairs({ req.url, req.body, req.headers.Authorization }) do
      assert.is_nil(s:find("s3cr3t", 1, true))
    end
  end)

  it("percent-encodes reserved characters of the key id, the nonce and the secret", function()
    local c = oauth_creds("id/with space&=", "se cret:/?#[]@!$&'()*+,;=%")
    local req = oauth.token_request(c, { now = 1, nonce = "a b+c/d=e&f~g" })
    local h = req.headers.Authorization
    assert.truthy(h:find('oauth_consumer_key="id%2Fwith%20space%26%3D"', 1, true))
    assert.truthy(h:find('oauth_nonce="a%20b%2Bc%2Fd%3De%26f~g"', 1, true))
    local base = "POST&https%3A%2F%2Faccount.api.here.com%2Foauth2%2Ftoken&"
      .. "grant_type%3Dclient_credentials%26oauth_consumer_key%3Did%252Fwith%2520space%2526%253D%26"
      .. "oauth_nonce%3Da%2520b%252Bc%252Fd%253De%2526f~g%26oauth_signature_method%3DHMAC-SHA256%26"
      .. "oauth_timestamp%3D1%26oauth_version%3D1.0"
    local key = "se%20cret%3A%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%25&"
    assert.equal(openssl_hmac(key, base), header_fields(h).oauth_signature)
    c.secret:close()
  end)

  it("re-signs every request with a fresh nonce and timestamp", function()
    local a = header_fields(oauth.token_request(creds, { now = 1700000000 }).headers.Authorization)
    local b = header_fields(oauth.token_request(creds, { now = 1700000000 }).headers.Authorization)
    local c = header_fields(oauth.token_request(creds, { now = 1700000007 }).headers.Authorization)
    assert.truthy(a.oauth_nonce:match("^[0-9a-f]+$"))
    assert.equal(32, #a.oauth_nonce)
    assert.are_not.equal(a.oauth_nonce, b.oauth_nonce)
    assert.are_not.equal(a.oauth_signature, b.oauth_signature)
    assert.equal("1700000000", b.oauth_timestamp)
    assert.equal("1700000007", c.oauth_timestamp)
    assert.are_not.equal(b.oauth_nonce, c.oauth_nonce)
  end)

  it("signs extra form fields and sends them in the body", function()
    local req = oauth.token_request(creds, { now = 1700000000, nonce = "n",
      form = { scope = "hrn:here:authorization::org:project/p 1", expires_in = 3600 } })
    assert.equal("grant_type=client_credentials&expires_in=3600&scope=hrn%3Ahere%3Aauthorization%3A%3Aorg"
      .. "%3Aproject%2Fp%201", req.body)
    local base = "POST&https%3A%2F%2Faccount.api.here.com%2Foauth2%2Ftoken&"
      .. "expires_in%3D3600%26grant_type%3Dclient_credentials%26oauth_consumer_key%3DABCD1234efgh%26"
      .. "oauth_nonce%3Dn%26oauth_signature_method%3DHMAC-SHA256%26oauth_timestamp%3D1700000000%26"
      .. "oauth_version%3D1.0%26scope%3Dhrn%253Ahere%253Aauthorization%253A%253Aorg%253Aproject%252Fp%25201"
    assert.equal(openssl_hmac(KEY, base), header_fields(req.headers.Authorization).oauth_signature)
    assert.matches("field 'grant_type' is evcp's own",
      raised(oauth.token_request, creds, { now = 1, form = { grant_type = "x" } }))
    assert.matches("field 'oauth_nonce' is evcp's own",
      raised(oauth.token_request, creds, { now = 1, form = { oauth_nonce = "x" } }))
  end)

  it("sorts parameters by bytes, then by value, whatever the locale", function()
    local got = oauth.base_string("GET", "http://h/", { { "b", "2" }, { "B", "1" }, { "a", "z" }, { "a", "Z" },
      { "a", "~" }, { "_", "x" } })
    assert.equal("GET&http%3A%2F%2Fh%2F&B%3D1%26_%3Dx%26a%3DZ%26a%3Dz%26a%3D~%26b%3D2", got)
    assert.matches("argument #1 %(method%)", raised(oauth.base_string, nil, "http://h/", {}))
    assert.matches("argument #2 %(uri%) must be an http", raised(oauth.base_string, "GET", "ftp://h/", {}))
    assert.matches("argument #3 %(params%)%[1%]", raised(oauth.base_string, "GET", "http://h/", { { "a", 1 } }))
  end)

  it("signs the URL normalized: scheme and host in lower case, default ports left out", function()
    assert.equal("https://account.api.here.com/oauth2/token",
      oauth.base_string_uri("HTTPS://Account.API.here.com:443/oauth2/token"))
    assert.equal("http://127.0.0.1:8080/oauth2/token", oauth.base_string_uri("http://127.0.0.1:8080/oauth2/token"))
    assert.equal("http://h/", oauth.base_string_uri("http://h:80"))
    assert.equal("http://[::1]:9/P", oauth.base_string_uri("http://[::1]:9/P"))
    for _, bad in ipairs({ "ftp://h/", "https://u:p@h/", "https://h/?a=1", "https://h/#f", "https:///x",
      "https://h:0/", "https://h:70000/", "h/oauth2/token", "https://h/a b", 42 }) do
      assert.is_nil(oauth.base_string_uri(bad), tostring(bad))
    end
    local msg = raised(oauth.token_request, creds, { now = 1, url = "https://CANARY-KEYID-456@h/" })
    assert.matches("token URL must be an http%(s%) URL", msg)
    assert.is_nil(msg:find("CANARY", 1, true))
  end)

  it("moves the token endpoint with base_url", function()
    assert.equal("http://127.0.0.1:9/oauth2/token", oauth.token_url("http://127.0.0.1:9"))
    assert.equal("http://127.0.0.1:9/p/oauth2/token", oauth.token_url("http://127.0.0.1:9/p/"))
    assert.equal("https://e/oauth2/token", oauth.token_url(nil, "https://e/oauth2/token"))
    assert.equal("https://account.api.here.com/oauth2/token", oauth.token_url(nil, nil))
    local req = oauth.token_request(creds, { now = 1, url = oauth.token_url("http://127.0.0.1:9") })
    assert.equal("http://127.0.0.1:9/oauth2/token", req.url)
  end)

  it("passes a request id through and raises on misuse at the caller's line", function()
    local req = oauth.token_request(creds, { now = 1, request_id = "rid-1" })
    assert.equal("rid-1", req.headers["X-Request-ID"])
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, msg = pcall(function() oauth.token_request(creds, { now = "soon" }) end)
    assert.is_false(ok)
    assert.matches("46%-oauth_spec%.lua:" .. line .. ": evcp%.oauth%.token_request: opts%.now", msg)
    assert.matches("unknown option 'nounce'", raised(oauth.token_request, creds, { now = 1, nounce = "x" }))
    assert.matches("must be OAuth credentials", raised(oauth.token_request, { access_key_id = "x" }, { now = 1 }))
    assert.matches("opts.nonce must be", raised(oauth.token_request, creds, { now = 1, nonce = "a\nb" }))
    assert.matches("opts.now must be", raised(oauth.token_request, creds, { now = 0 / 0 }))
    assert.matches("opts.request_id must be", raised(oauth.token_request, creds, { now = 1, request_id = "" }))
  end)
end)

describe("HTTP dates (oauth.parse_http_date)", function()
  it("reads the three forms of RFC 7231", function()
    -- date -u -d '1994-11-06 08:49:37' +%s
    assert.equal(784111777, oauth.parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"))
    assert.equal(784111777, oauth.parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"))
    assert.equal(784111777, oauth.parse_http_date("Sun Nov  6 08:49:37 1994"))
    assert.equal(784111777, oauth.parse_http_date("  Sun, 06 Nov 1994 08:49:37 GMT \t"))
    -- HERE SDK's test answer; date -u -d '2020-05-29 11:07:45' +%s
    assert.equal(1590750465, oauth.parse_http_date("Fri, 29 May 2020 11:07:45 GMT"))
    -- date -u -d '2024-02-29 00:00:00' +%s
    assert.equal(1709164800, oauth.parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT"))
    assert.equal(1709164800, oauth.parse_http_date("Thu Feb 29 00:00:00 2024"))
    assert.equal(3155759999, oauth.parse_http_date("Tue, 31 Dec 2069 23:59:59 GMT"))
  end)

  it("puts a two-digit year no more than 50 years after now", function()
    -- without now: 1970..2069
    assert.equal(3155759999, oauth.parse_http_date("Tuesday, 31-Dec-69 23:59:59 GMT"))
    -- now = 2026-12-01: 94 is 1994; now = 2060-01-01: 94 is 2094
    -- (date -u -d '2094-11-06 08:49:37' +%s)
    assert.equal(784111777, oauth.parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", 1796140800))
    assert.equal(3939871777, oauth.parse_http_date("Saturday, 06-Nov-94 08:49:37 GMT", 2840140800))
  end)

  it("gives nil for anything else", function()
    for _, bad in ipairs({ "", "0", "-1", "garbage", "Sun, 06 Nov 1994 08:49:37 UTC",
      "sun, 06 Nov 1994 08:49:37 GMT", "Sun, 06 nov 1994 08:49:37 GMT", "Xyz, 06 Nov 1994 08:49:37 GMT",
      "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 32 Nov 1994 08:49:37 GMT", "Sun, 31 Nov 1994 08:49:37 GMT",
      "Wed, 29 Feb 2023 00:00:00 GMT", "Sun, 00 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
      "Sun, 06 Nov 1994 08:60:00 GMT", "Sun, 06 Nov 1969 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37",
      "Sun, 06 Nov 1994 08:49:37 GMT junk", "Sunday, 06-Nov-1994 08:49:37 GMT", "Sund, 06-Nov-94 08:49:37 GMT",
      "Sun Nov 6 08:49:37 1994", "Sun Nov  6 08:49:37 94", "Sun, 06 Nov 1994 08:49:37 GMT" .. (" "):rep(60) .. "x",
      ("9"):rep(100) }) do
      assert.is_nil(oauth.parse_http_date(bad), bad)
    end
    assert.is_nil(oauth.parse_http_date(nil))
    assert.is_nil(oauth.parse_http_date(784111777))
    assert.is_nil(oauth.parse_http_date({}))
  end)
end)

describe("token answers (oauth.read_token)", function()
  local function answer(status, body, headers)
    return { status = status, headers = headers or { ["content-type"] = "application/json" }, body = body }
  end

  it("reads HERE's form answer and its camelCase JSON answer", function()
    local tok, err = oauth.read_token(answer(200,
      '{"access_token":"eyJhbGci.eyJzdWIi.sig-_~+/==","token_type":"bearer","expires_in":86399}'), 1000)
    assert.is_nil(err)
    assert.equal("eyJhbGci.eyJzdWIi.sig-_~+/==", tok.access_token)
    assert.equal("bearer", tok.token_type)
    assert.equal(86399, tok.expires_in)
    assert.equal(87399, tok.expires_at)
    assert.equal("evcp.Token (redacted, expires at 87399)", tostring(tok))
    tok = assert(oauth.read_token(answer(200,
      '{"accessToken":"tok.en","tokenType":"Bearer","expiresIn":3600,"scope":"hrn:here:x"}'), 10))
    assert.equal("tok.en", tok.access_token)
    assert.equal(3610, tok.expires_at)
    assert.equal("hrn:here:x", tok.scope)
    assert.truthy(oauth.read_token(answer(200, '{"access_token":"t","token_type":"BEARER","expires_in":1}'), 0))
  end)

  it("turns a 2xx that is no bearer token into a decode error that quotes no token", function()
    local cases = {
      { "<html>CANARY-TOKEN-1</html>", "not JSON" },
      { '["CANARY-TOKEN-1"]', "not a JSON object" },
      { "{}", "not a JSON object" },
      { '{"token_type":"bearer","expires_in":10}', "no access_token" },
      { '{"access_token":"CANARY-TOKEN-1 x","token_type":"bearer","expires_in":10}', "not a bearer token" },
      { '{"access_token":"CANARY-TOKEN-1\\r\\nX: y","token_type":"bearer","expires_in":10}', "not a bearer token" },
      { '{"access_token":"CANARY-TOKEN-1","token_type":"mac","expires_in":10}', "token_type is not bearer" },
      { '{"access_token":"CANARY-TOKEN-1","expires_in":10}', "token_type is a nil, not bearer" },
      { '{"access_token":"CANARY-TOKEN-1","token_type":"bearer"}', "expires_in" },
      { '{"access_token":"CANARY-TOKEN-1","token_type":"bearer","expires_in":0}', "expires_in" },
      { '{"access_token":"CANARY-TOKEN-1","token_type":"bearer","expires_in":"3600"}', "expires_in" },
      { '{"access_token":"CANARY-TOKEN-1","token_type":"bearer","expires_in":1e300}', "expires_in" },
      { '{"access_token":"' .. ("a"):rep(16385) .. '","token_type":"bearer","expires_in":10}', "16384 bytes" },
    }
    for _, c in ipairs(cases) do
      local tok, err = oauth.read_token(answer(200, c[1]), 0, { url = "POST https://h/oauth2/token" })
      assert.is_nil(tok, c[1])
      assert.equal("decode", err.kind)
      assert.truthy(tostring(err):find(c[2], 1, true), tostring(err))
      assert.is_nil(tostring(err):find("CANARY", 1, true), tostring(err))
      assert.is_nil(tostring(err):find("aaaa", 1, true))
    end
  end)

  it("reads HERE's error bodies: 401204 with the server's time, 401207, 401300", function()
    local body204 = '{"errorId":"ERROR-1","httpStatus":401,"errorCode":401204,'
      .. '"message":"Timestamp out of range.","error":"invalid_request",'
      .. '"error_description":"errorCode: 401204. Timestamp out of range."}'
    local tok, err, _ = oauth.read_token(answer(401, body204, { date = "Fri, 29 May 2020 11:07:45 GMT",
      ["x-correlation-id"] = "corr-1" }), 1700000000, { url = "POST https://h/oauth2/token", request_id = "r1" })
    assert.is_nil(tok)
    assert.equal("clock_skew", err.kind)
    assert.equal(401, err.status)
    assert.equal("401204", err.code)
    assert.equal(1590750465, err.server_time)
    assert.equal("Timestamp out of range.", err.message)
    assert.equal("invalid_request", err.error)
    assert.equal("ERROR-1", err.error_id)
    assert.equal("corr-1", err.correlation_id)
    assert.equal("r1", err.request_id)
    assert.is_false(err.retryable)
    assert.truthy(tostring(err):find("clock_skew 401 401204", 1, true), tostring(err))
    -- no Date, or one that does not parse: no server_time
    _, err = oauth.read_token(answer(401, body204), 1)
    assert.equal("clock_skew", err.kind)
    assert.is_nil(err.server_time)
    _, err = oauth.read_token(answer(401, body204, { date = "yesterday" }), 1)
    assert.is_nil(err.server_time)

    _, err = oauth.read_token(answer(401, '{"errorId":"ERROR-2","httpStatus":401,"errorCode":401207,'
      .. '"message":"Nonce already used."}', { date = "Fri, 29 May 2020 11:07:45 GMT" }), 1)
    assert.equal("http", err.kind)
    assert.equal("401207", err.code)
    assert.equal("Nonce already used.", err.message)
    assert.is_nil(err.server_time)

    _, err = oauth.read_token(answer(401, '{"errorId":"ERROR-3","httpStatus":401,"errorCode":401300,'
      .. '"message":"Invalid credentials.","error":"invalid_client","error_description":"bad signature"}'), 1)
    assert.equal("http", err.kind)
    assert.equal("401300", err.code)
    assert.equal("invalid_client", err.error)
    assert.equal("bad signature", err.error_description)
    assert.equal(401, err.body.httpStatus)
  end)

  it("reads throttling, odd bodies and transport failures", function()
    local _, err = oauth.read_token(answer(429, '{"errorCode":429002,"message":"Too many requests"}',
      { ["retry-after"] = "7" }), 1)
    assert.equal("http", err.kind)
    assert.is_true(err.retryable)
    assert.equal(7, err.retry_after)
    _, err = oauth.read_token(answer(503, "<html>down</html>"), 1)
    assert.equal("http", err.kind)
    assert.equal("HTTP status 503", err.message)
    assert.is_true(err.retryable)
    _, err = oauth.read_token(answer(401, '{"message":"' .. ("m"):rep(5000) .. '"}'), 1)
    assert.is_true(#err.message <= 512)
    _, err = oauth.read_token({ kind = "timeout", message = "timed out after 10 s" }, 1, { url = "POST u" })
    assert.equal("timeout", err.kind)
    assert.is_true(err.retryable)
    assert.matches("argument #1 %(result%)", raised(oauth.read_token, nil, 1))
    assert.matches("argument #2 %(now%)", raised(oauth.read_token, answer(200, "{}"), nil))
  end)
end)

describe("the token cache (oauth.cache)", function()
  local t
  local function clock() return t end
  local function token(ttl, name)
    return assert(oauth.read_token({ status = 200, headers = {},
      body = '{"access_token":"' .. (name or "tok") .. '","token_type":"bearer","expires_in":' .. ttl .. "}" }, t))
  end

  before_each(function() t = 1000 end)

  it("refreshes 300 s ahead of expiry, one refresh at a time", function()
    local c = oauth.cache({ clock = clock })
    assert.is_nil(c:valid())
    assert.is_true(c:begin())
    assert.is_true(c.refreshing)
    assert.is_false(c:begin()) -- a second caller waits
    c:store(token(86399))      -- expires at 87399, refresh from 87099
    assert.is_false(c.refreshing)
    t = 87098
    assert.equal("tok", c:valid().access_token)
    assert.is_false(c:begin())
    t = 87099
    assert.is_true(c:begin())
    assert.is_false(c:begin())
    assert.equal("tok", c:valid().access_token) -- still served during the refresh
    c:store(token(86399, "tok2"))
    assert.equal("tok2", c:valid().access_token)
    t = 87099 + 86399
    assert.is_nil(c:valid())
    assert.is_nil(c:valid(t + 1))
    assert.equal("tok2", c:valid(t - 1).access_token)
  end)

  it("keeps a usable token after a failed refresh and waits retry_delay before the next", function()
    local c = oauth.cache({ clock = clock })
    assert.is_true(c:begin())
    c:store(token(3600)) -- expires 4600, refresh from 4300
    t = 4300
    assert.is_true(c:begin())
    c:fail()
    assert.equal("tok", c:valid().access_token)
    t = 4329
    assert.is_false(c:begin())
    t = 4330
    assert.is_true(c:begin())
    c:fail()
    -- without a usable token every caller may try at once (no token to serve)
    t = 4600
    assert.is_nil(c:valid())
    assert.is_true(c:begin())
  end)

  it("refreshes a short-lived token at half its life", function()
    local c = oauth.cache({ clock = clock, refresh_ahead = 300 })
    c:begin()
    c:store(token(100)) -- expires 1100; refresh_ahead capped at 50 s
    t = 1049
    assert.is_false(c:begin())
    t = 1050
    assert.is_true(c:begin())
  end)

  it("invalidates once per token after a 401, and frees a stuck refresh after the lease", function()
    local c = oauth.cache({ clock = clock, lease = 60 })
    c:begin()
    c:store(token(3600, "a"))
    assert.is_false(c:invalidate("other"))
    assert.is_true(c:invalidate("a"))
    assert.is_false(c:invalidate("a")) -- a second 401 on the same token refreshes nothing more
    assert.is_nil(c:valid())
    assert.is_true(c:begin())
    t = 1059
    assert.is_false(c:begin())
    t = 1060
    assert.is_true(c:begin())
    c:store(token(3600, "b"))
    assert.is_true(c:invalidate())
  end)

  it("asks for at most 3 tokens over 48 h of calls (expires_in 86399)", function()
    local c = oauth.cache({ clock = clock })
    local requests = 0
    for i = 0, 9999 do
      t = i * 17.28 -- 10,000 calls over 48 h
      if c:begin() then
        requests = requests + 1
        c:store(token(86399))
      end
      assert.truthy(c:valid())
    end
    assert.equal(3, requests)
  end)

  it("checks its options", function()
    assert.matches("unknown option 'refresh'", raised(oauth.cache, { refresh = 1 }))
    assert.matches("option 'refresh_ahead' must be", raised(oauth.cache, { refresh_ahead = -1 }))
    assert.matches("option 'clock' must be a function", raised(oauth.cache, { clock = 1 }))
    assert.matches("tok must be a token", raised(oauth.cache().store, oauth.cache(), {}))
    assert.truthy(tostring(oauth.cache()):find("^evcp.TokenCache: empty"))
  end)
end)

describe("credential sources (evcp.credentials)", function()
  local resolve = credentials.resolve

  it("takes each single source", function()
    local r = resolve({ api_key = "k1" }, no_env, read)
    assert.equal("api_key", r.kind)
    assert.equal("k1", r.api_key)
    r = resolve({ access_token = "t.1" }, no_env, read)
    assert.equal("access_token", r.kind)
    assert.equal("t.1", r.access_token)
    local fn = function() return "t" end
    r = resolve({ token_provider = fn }, no_env, read)
    assert.equal("token_provider", r.kind)
    assert.equal(fn, r.token_provider)
    r = resolve({ access_key_id = "ABCD1234efgh", access_key_secret = "s3cr3t/+=&~" }, no_env, read)
    assert.equal("oauth", r.kind)
    assert.equal("option", r.source)
    assert.equal("ABCD1234efgh", r.access_key_id)
    assert.equal("https://account.api.here.com/oauth2/token", r.token_endpoint)
    assert.equal("evcp.Secret (redacted)", tostring(r.secret))
    assert.equal(openssl_hmac("s3cr3t%2F%2B%3D%26~&", "x"), r.secret:sign("x"))
    r:close()
    assert.is_true(r.secret:is_wiped())
  end)

  it("reads HERE's credentials.properties", function()
    local path = FIX .. "credentials.properties"
    local r = resolve({ credentials = path }, no_env, read)
    assert.equal("oauth", r.kind)
    assert.equal("file", r.source)
    assert.equal(path, r.path)
    assert.equal("ABCD1234efgh", r.access_key_id)
    assert.equal("HERE-00000000-1111-2222-3333-444444444444", r.user_id)
    assert.equal("AbCdEfGhIjKlMnOpQrSt", r.client_id)
    assert.equal("https://account.api.here.com/oauth2/token", r.token_endpoint)
    assert.equal(openssl_hmac("s3cr3t%2F%2B%3D%26~&", "x"), r.secret:sign("x"))
    assert.equal("evcp.Credentials: oauth (from credentials file '" .. path .. "')", tostring(r))
    -- comments, CRLF, ':' and space separators, spaces around the separator
    local c = resolve({ credentials = FIX .. "crlf.properties" }, no_env, read)
    assert.equal("ABCD1234efgh", c.access_key_id)
    assert.equal(openssl_hmac("s3cr3t%2F%2B%3D%26~&", "x"), c.secret:sign("x"))
    assert.equal("https://account.api.here.com/oauth2/token", c.token_endpoint)
    -- a BOM and no final newline
    local b = resolve({ credentials = FIX .. "bom-no-final-newline.properties" }, no_env, read)
    assert.equal("ABCD1234efgh", b.access_key_id)
    assert.equal(openssl_hmac("s3cr3t%2F%2B%3D%26~&", "x"), b.secret:sign("x"))
    assert.same({ a = "1", b = "x = y", c = "z:w", d = "" },
      credentials.parse_properties("a=1\n  b =  x = y  \r\nc z:w\n# d = 2\n!e\nd=\n", "text"))
  end)

  it("falls back to the environment", function()
    local r = resolve({}, env_of({ HERE_ACCESS_KEY_ID = "ABCD1234efgh", HERE_ACCESS_KEY_SECRET = "s3cr3t/+=&~",
      HERE_TOKEN_ENDPOINT_URL = "https://elsewhere.example/oauth2/token" }), read)
    assert.equal("environment", r.source)
    assert.equal("ABCD1234efgh", r.access_key_id)
    assert.equal("https://elsewhere.example/oauth2/token", r.token_endpoint)
    assert.equal(openssl_hmac("s3cr3t%2F%2B%3D%26~&", "x"), r.secret:sign("x"))
    assert.equal("evcp.Credentials: oauth (from environment)", tostring(r))
    r = resolve({}, env_of({ HERE_ACCESS_KEY_ID = "i", HERE_ACCESS_KEY_SECRET = "s", HERE_TOKEN_ENDPOINT_URL = "" }),
      read)
    assert.equal("https://account.api.here.com/oauth2/token", r.token_endpoint)
    -- an option wins: the environment is not read at all
    r = resolve({ api_key = "k" }, function() error("read the environment") end, read)
    assert.equal("api_key", r.kind)
  end)

  it("moves the endpoint with base_url; https only otherwise", function()
    local r = resolve({ base_url = "http://127.0.0.1:9", credentials = FIX .. "credentials.properties" }, no_env, read)
    assert.equal("http://127.0.0.1:9/oauth2/token", r.token_endpoint)
    r = resolve({ base_url = "http://127.0.0.1:9/", credentials = FIX .. "http-endpoint.properties" }, no_env, read)
    assert.equal("http://127.0.0.1:9/oauth2/token", r.token_endpoint)
    assert.matches("here.token.endpoint.url must be an https URL",
      raised(resolve, { credentials = FIX .. "http-endpoint.properties" }, no_env, read))
    assert.matches("HERE_TOKEN_ENDPOINT_URL must be an https URL", raised(resolve, {},
      env_of({ HERE_ACCESS_KEY_ID = "i", HERE_ACCESS_KEY_SECRET = "s", HERE_TOKEN_ENDPOINT_URL = "http://e/t" }), read))
  end)

  it("raises, naming them, for zero or several sources, at the caller's line", function()
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, msg = pcall(function() resolve({}, no_env, read) end)
    assert.is_false(ok)
    assert.matches("46%-oauth_spec%.lua:" .. line .. ": evcp%.new: give a credential", msg)
    for _, name in ipairs({ "option 'api_key'", "option 'access_token'", "option 'token_provider'",
      "'access_key_id' + 'access_key_secret'", "option 'credentials'", "HERE_ACCESS_KEY_ID",
      "HERE_ACCESS_KEY_SECRET" }) do
      assert.truthy(msg:find(name, 1, true), name)
    end
    msg = raised(resolve, { api_key = "k", credentials = "c" }, no_env, read)
    assert.matches("give only one credential, got option 'api_key' and option 'credentials'", msg)
    msg = raised(resolve, { access_token = "t", token_provider = print, access_key_id = "i" }, no_env, read)
    assert.matches("got option 'access_token' and option 'token_provider' and options 'access_key_id'", msg)
    -- inside evcp.new's own check.call: resolve_checked keeps the caller's line
    local function new(opts)
      local r = check.call(credentials.resolve_checked, opts, no_env, read, "evcp.new")
      return r
    end
    line = debug.getinfo(1, "l").currentline + 1
    ok, msg = pcall(function() new({}) end)
    assert.is_false(ok)
    assert.matches("46%-oauth_spec%.lua:" .. line .. ": evcp%.new: give a credential", msg)
  end)

  it("names what is missing or wrong", function()
    assert.matches("option 'access_key_id' needs option 'access_key_secret'",
      raised(resolve, { access_key_id = "i" }, no_env, read))
    assert.matches("option 'access_key_secret' needs option 'access_key_id'",
      raised(resolve, { access_key_secret = "s" }, no_env, read))
    assert.matches("option 'token_provider' must be a function, got string",
      raised(resolve, { token_provider = "x" }, no_env, read))
    assert.matches("option 'api_key' must be a string, got number", raised(resolve, { api_key = 1 }, no_env, read))
    assert.matches("option 'api_key' must not be empty", raised(resolve, { api_key = "" }, no_env, read))
    assert.matches("has no here.access.key.secret",
      raised(resolve, { credentials = FIX .. "missing-secret.properties" }, no_env, read))
    assert.matches("has no here.access.key.id",
      raised(resolve, { credentials = FIX .. "missing-id.properties" }, no_env, read))
    assert.matches("line 2: not a 'key = value' line",
      raised(resolve, { credentials = FIX .. "bad-line.properties" }, no_env, read))
    assert.matches("line 3: here.access.key.secret is set twice",
      raised(resolve, { credentials = FIX .. "twice.properties" }, no_env, read))
    assert.matches("line 2: backslash escapes and line continuations are not supported",
      raised(resolve, { credentials = FIX .. "continuation.properties" }, no_env, read))
    assert.matches("option 'credentials': cannot read '/nonexistent/credentials.properties'",
      raised(resolve, { credentials = "/nonexistent/credentials.properties" }, no_env, read))
    assert.matches("is larger than 65536 bytes", raised(resolve, { credentials = "big" }, no_env,
      function() return ("# padding\n"):rep(7000) end))
    assert.matches("the environment has HERE_ACCESS_KEY_ID but not HERE_ACCESS_KEY_SECRET",
      raised(resolve, {}, env_of({ HERE_ACCESS_KEY_ID = "i" }), read))
    assert.matches("the environment has HERE_ACCESS_KEY_SECRET but not HERE_ACCESS_KEY_ID",
      raised(resolve, {}, env_of({ HERE_ACCESS_KEY_SECRET = "s" }), read))
    assert.matches("argument #2 %(getenv%) must be a function", raised(resolve, {}, nil, read))
  end)
end)

describe("the canary: no credential in any error, tostring or request", function()
  local SECRET, KEYID, APIKEY, TOKEN = "CANARY-SECRET-123", "CANARY-KEYID-456", "CANARY-APIKEY-789", "CANARY-TOKEN-000"
  local CANARIES = { SECRET, KEYID, APIKEY, TOKEN, "CANARY" }
  local seen = {}

  local function clean(s, where)
    s = tostring(s)
    seen[#seen + 1] = s
    for _, c in ipairs(CANARIES) do
      assert.is_nil(s:find(c, 1, true), (where or "") .. ": " .. c .. " in: " .. s)
    end
  end

  local function clean_error(fn, ...)
    local ok, e = pcall(fn, ...)
    assert.is_false(ok, "expected an error")
    clean(e)
  end

  local canary_env = env_of({ HERE_ACCESS_KEY_ID = KEYID, HERE_ACCESS_KEY_SECRET = SECRET,
    HERE_TOKEN_ENDPOINT_URL = "http://" .. KEYID .. ":" .. SECRET .. "@h/oauth2/token" })

  it("runs every failure path of credentials with canary values", function()
    local resolve = credentials.resolve
    clean_error(resolve, { api_key = APIKEY, access_key_id = KEYID, access_key_secret = SECRET }, no_env, read)
    clean_error(resolve, { access_key_id = KEYID }, no_env, read)
    clean_error(resolve, { access_key_secret = SECRET }, no_env, read)
    clean_error(resolve, { access_key_id = KEYID, access_key_secret = SECRET .. "\n" }, no_env, read)
    clean_error(resolve, { access_key_id = KEYID .. "\0", access_key_secret = SECRET }, no_env, read)
    clean_error(resolve, { access_key_id = KEYID, access_key_secret = " " .. SECRET }, no_env, read)
    clean_error(resolve, { access_key_id = KEYID, access_key_secret = SECRET:rep(100) }, no_env, read)
    clean_error(resolve, { api_key = APIKEY .. "\r\n" }, no_env, read)
    clean_error(resolve, { api_key = APIKEY:rep(300) }, no_env, read)
    clean_error(resolve, { access_token = TOKEN .. " x" }, no_env, read)
    clean_error(resolve, { access_token = TOKEN:rep(2000) }, no_env, read)
    clean_error(resolve, { token_provider = TOKEN }, no_env, read)
    for _, f in ipairs({ "missing-secret", "missing-id", "http-endpoint", "bad-line", "twice", "continuation" }) do
      clean_error(resolve, { credentials = FIX .. f .. ".properties" }, no_env, read)
    end
    clean_error(resolve, { credentials = "c" }, no_env, function() return "x = " .. SECRET .. "\n\0" .. KEYID end)
    clean_error(resolve, { credentials = "c" }, no_env,
      function() return "here.access.key.id " .. KEYID .. "\nhere.access.key.secret = " .. SECRET .. "\1\n" end)
    clean_error(resolve, { credentials = "c" }, no_env,
      function() return (SECRET .. "=" .. KEYID .. "\n"):rep(4000) end)
    -- a secret mistaken for a key is never quoted as one
    clean_error(resolve, { credentials = "c" }, no_env,
      function() return SECRET .. " x\n" .. SECRET .. " x\n" end)
    clean_error(resolve, { credentials = "c" }, no_env, function() return SECRET .. " \1\n" end)
    clean_error(resolve, {}, canary_env, read)
    clean_error(resolve, {}, env_of({ HERE_ACCESS_KEY_ID = KEYID }), read)
    clean_error(resolve, {}, env_of({ HERE_ACCESS_KEY_SECRET = SECRET }), read)
    clean_error(resolve, {}, env_of({ HERE_ACCESS_KEY_ID = KEYID, HERE_ACCESS_KEY_SECRET = SECRET,
      HERE_TOKEN_ENDPOINT_URL = "https://h/?k=" .. SECRET }), read)
  end)

  it("shows no canary in tostring of records, secrets, tokens and caches", function()
    local r = credentials.resolve({ credentials = FIX .. "canary.properties" }, no_env, read)
    clean(r)
    clean(r.secret)
    clean(credentials.resolve({ api_key = APIKEY }, no_env, read))
    clean(credentials.resolve({ access_token = TOKEN }, no_env, read))
    clean(credentials.resolve({}, env_of({ HERE_ACCESS_KEY_ID = KEYID, HERE_ACCESS_KEY_SECRET = SECRET }), read))
    local tok = assert(oauth.read_token({ status = 200, headers = {},
      body = '{"access_token":"' .. TOKEN .. '","token_type":"bearer","expires_in":100}' }, 0))
    clean(tok)
    local c = oauth.cache({ clock = function() return 0 end })
    c:begin()
    c:store(tok)
    clean(c)
    r:close()
    clean(r.secret)
  end)

  it("keeps the secret out of the token request and out of every oauth error", function()
    local r = credentials.resolve({ credentials = FIX .. "canary.properties" }, no_env, read)
    local req = oauth.token_request(r, { now = 1700000000 })
    -- the key id is in the header by design; the secret is nowhere
    for _, s in ipairs({ req.url, req.body, req.headers.Authorization }) do
      assert.is_nil(s:find(SECRET, 1, true))
      assert.is_nil(s:find("SECRET", 1, true))
    end
    clean_error(oauth.token_request, r, { now = "x" })
    clean_error(oauth.token_request, r, { now = 1, nonce = KEYID .. "\n" })
    clean_error(oauth.token_request, r, { now = 1, url = "https://" .. KEYID .. "@h/" })
    clean_error(oauth.token_request, r, { now = 1, form = { scope = SECRET .. "\n" } })
    clean_error(oauth.token_request, r, { now = 1, request_id = SECRET .. "\n" })
    for _, body in ipairs({
      '{"errorCode":401204,"message":"Timestamp out of range."}',
      '{"errorCode":401207,"message":"Nonce already used."}',
      '{"errorCode":401300,"message":"Invalid credentials for ' .. KEYID .. '","error_description":"' .. SECRET .. '"}',
    }) do
      local _, err = oauth.read_token({ status = 401, headers = { date = "Fri, 29 May 2020 11:07:45 GMT" },
        body = body }, 0)
      -- HERE's text may echo what it was sent: the record scrubs it
      err.message = r:scrub(err.message)
      err.error_description = r:scrub(err.error_description)
      clean(err)
    end
    for _, body in ipairs({ '{"access_token":"' .. TOKEN .. ' ","token_type":"bearer","expires_in":1}',
      '{"access_token":"' .. TOKEN .. '","token_type":"' .. TOKEN .. '","expires_in":1}',
      '{"access_token":"' .. TOKEN .. '","token_type":"bearer","expires_in":-1}', TOKEN }) do
      local _, err = oauth.read_token({ status = 200, headers = {}, body = body }, 0)
      clean(err)
    end
    r:close()
    clean_error(r.secret.sign, r.secret, "x")
    clean_error(oauth.token_request, r, { now = 1 })
  end)

  it("scrubs every form of every credential of a record", function()
    local r = credentials.resolve({ access_key_id = KEYID .. "/x", access_key_secret = SECRET .. "/y" }, no_env, read)
    local s = r:scrub("a " .. KEYID .. "/x b " .. KEYID .. "%2Fx c " .. SECRET .. "/y d " .. SECRET .. "%2Fy e")
    assert.equal("a *** b *** c *** d *** e", s)
    r:close()
    local k = credentials.resolve({ api_key = APIKEY }, no_env, read)
    assert.equal("u?apiKey=***", k:scrub("u?apiKey=" .. APIKEY))
    assert.equal(7, k:scrub(7))
  end)

  it("saw messages at all", function()
    assert.truthy(#seen > 30, #seen)
  end)
end)
