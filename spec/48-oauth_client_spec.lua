-- The client with HERE OAuth credentials (issue 8 §1, §2, §5) against a real
-- emulator process, through the real libcurl transport: one token fetched
-- and cached across calls, a new one ahead of expiry, one refresh and one
-- replay after a 401, clock skew corrected from HERE's Date, every other
-- source of a credential, and no secret in any error or tostring. Counts
-- come from the emulator's /_emulator/stats, never from the client.
local evcp = require("evcp")
local cjson = require("cjson").new()
local ep = require("emulator_process")
local h = require("helper")
local shell_quote = ep.shell_quote

local FIXTURE = "spec/fixtures/emulator-mini-db.lua"
local KEY_ID = "canary-key-id-4711"
local SECRET = "CANARY-SECRET-123/+=&%"
local SEED = h.seed_cid

local function stats(emu)
  local t = require("evcp.core").curl_transport({ timeout = 5 })
  local res = t:run({ { method = "GET", url = emu.url .. "/_emulator/stats", headers = {} } })[1]
  t:close()
  assert.equal(200, res.status)
  return cjson.decode(res.body)
end

local function start(extra)
  return ep.start("--data " .. FIXTURE .. " --status-interval 0 --token demo-token --access-key "
    .. shell_quote(KEY_ID .. ":" .. SECRET) .. " " .. (extra or ""))
end

-- every string a failure may show: none may hold a credential
local function assert_no_secret(...)
  for i = 1, select("#", ...) do
    local s = tostring((select(i, ...)))
    for _, needle in ipairs({ SECRET, KEY_ID, "CANARY-SECRET", "canary-key-id" }) do
      assert.is_nil(s:find(needle, 1, true), "a credential in: " .. s)
    end
  end
end

describe("OAuth credentials against the emulator", function()
  teardown(function() ep.stop_all() end)

  it("fetches one token and uses it for every call", function()
    local emu = start()
    local c = evcp.new({ base_url = emu.url, access_key_id = KEY_ID, access_key_secret = SECRET })
    for _ = 1, 5 do assert(c:location(SEED)) end
    assert(c.v2:count({ prox = { 52.5, 13.4, 5000 } }))
    local st = stats(emu)
    assert.equal(1, st.token_requests)
    assert.equal(6, st.data_requests)
    assert_no_secret(c)
    c:close()
    ep.stop(emu)
  end)

  it("fetches a new token ahead of expiry (half the life of a short token)", function()
    local emu = start("--token-ttl 4")
    local c = evcp.new({ base_url = emu.url, access_key_id = KEY_ID, access_key_secret = SECRET })
    assert(c:location(SEED))
    assert.equal(1, stats(emu).token_requests)
    ep.sleep(2.5) -- past 4 - min(300, 4 / 2) = 2 s: time for a new token, the old one still valid
    assert(c:location(SEED))
    assert.equal(2, stats(emu).token_requests)
    c:close()
    ep.stop(emu)
  end)

  it("after a 401, gets one new token and replays the call once", function()
    local emu = start("--script expired-token")
    local c = evcp.new({ base_url = emu.url, access_key_id = KEY_ID, access_key_secret = SECRET })
    local loc, err = c:location(SEED)
    assert(loc, tostring(err))
    local st = stats(emu)
    assert.equal(2, st.token_requests)
    assert.equal(2, st.data_requests)
    c:close()
    ep.stop(emu)
    -- a second 401 is the caller's error, after one replay
    emu = start("--script expired-token,expired-token,expired-token")
    c = evcp.new({ base_url = emu.url, access_key_id = KEY_ID, access_key_secret = SECRET })
    loc, err = c:location(SEED)
    assert.is_nil(loc)
    assert.equal(401, err.status)
    assert.equal(2, err.attempts)
    st = stats(emu)
    assert.equal(2, st.data_requests)
    assert.equal(2, st.token_requests)
    assert_no_secret(err, err.body and cjson.encode(err.body))
    c:close()
    ep.stop(emu)
  end)

  it("re-signs once with HERE's clock when its own is off (401204)", function()
    local emu = start("--clock-offset 7200")
    local c = evcp.new({ base_url = emu.url, access_key_id = KEY_ID, access_key_secret = SECRET })
    local loc, err = c:location(SEED)
    assert(loc, tostring(err))
    assert.equal(2, stats(emu).token_requests)
    assert(c:location(SEED))
    assert.equal(2, stats(emu).token_requests, "the skew is kept for the next signing")
    c:close()
    ep.stop(emu)
  end)

  it("says what HERE said for a wrong secret, without the secret", function()
    local emu = start()
    local c = evcp.new({ base_url = emu.url, access_key_id = KEY_ID, access_key_secret = SECRET .. "x" })
    local loc, err = c:location(SEED)
    assert.is_nil(loc)
    assert.equal("http", err.kind)
    assert.equal(401, err.status)
    assert.equal("401300", err.code)
    assert.matches("POST " .. emu.url .. "/oauth2/token", tostring(err), 1, true)
    assert_no_secret(err, err.message, err.body and cjson.encode(err.body), c)
    assert.equal(0, stats(emu).data_requests, "no data call without a token")
    c:close()
    ep.stop(emu)
  end)

  it("reads HERE's credentials.properties file", function()
    local emu = start()
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write("here.user.id = HERE-user\nhere.client.id = client-1\nhere.access.key.id = " .. KEY_ID
      .. "\nhere.access.key.secret = " .. SECRET .. "\nhere.token.endpoint.url = https://account.api.here.com/oauth2/token\n")
    f:close()
    -- base_url moves the token endpoint with it: the file's https endpoint is not used
    local c = evcp.new({ base_url = emu.url, credentials = path })
    assert(c:location(SEED))
    assert.equal(1, stats(emu).token_requests)
    assert_no_secret(c)
    c:close()
    os.remove(path)
    ep.stop(emu)
  end)
end)

describe("the other credentials", function()
  teardown(function() ep.stop_all() end)

  it("asks a token_provider before each call, and again after a 401", function()
    local emu = start()
    local given = { "demo-token", "demo-token", "stale-token", "demo-token" }
    local n = 0
    local c = evcp.new({ base_url = emu.url, token_provider = function()
      n = n + 1
      return given[n]
    end })
    assert(c:location(SEED))
    assert(c:location(SEED))
    assert(c:location(SEED), "the 401 of stale-token gets one more token and one replay")
    assert.equal(4, n)
    c:close()
    c = evcp.new({ base_url = emu.url, token_provider = function() error("vault " .. SECRET .. " sealed") end })
    local loc, err = c:location(SEED)
    assert.is_nil(loc)
    assert.equal("auth", err.kind)
    assert.matches("token_provider raised an error", tostring(err), 1, true)
    c:close()
    c = evcp.new({ base_url = emu.url, token_provider = function() return nil, "offline" end })
    loc, err = c:location(SEED)
    assert.is_nil(loc)
    assert.equal("auth", err.kind)
    assert.matches("token_provider gave no token: offline", tostring(err), 1, true)
    c:close()
    c = evcp.new({ base_url = emu.url, token_provider = function() return "bad token\r\nX: 1" end })
    loc, err = c:location(SEED)
    assert.is_nil(loc)
    assert.matches("not a bearer token", tostring(err), 1, true)
    c:close()
    ep.stop(emu)
  end)

  it("refuses zero or several credentials, naming them", function()
    local ok, msg = pcall(evcp.new, { base_url = "http://127.0.0.1:9", api_key = "a", access_token = "b" })
    assert.is_false(ok)
    assert.matches("give only one credential, got option 'api_key' and option 'access_token'", msg, 1, true)
    ok, msg = pcall(evcp.new, { base_url = "http://127.0.0.1:9", access_key_id = KEY_ID })
    assert.is_false(ok)
    assert.matches("option 'access_key_id' needs option 'access_key_secret'", msg, 1, true)
    assert_no_secret(msg)
    if os.getenv("HERE_ACCESS_KEY_ID") == nil then
      ok, msg = pcall(evcp.new, { base_url = "http://127.0.0.1:9" })
      assert.is_false(ok)
      assert.matches("give a credential", msg, 1, true)
    end
  end)

  it("wipes the access key secret when the client closes", function()
    local c = evcp.new({ base_url = "http://127.0.0.1:9", access_key_id = KEY_ID, access_key_secret = SECRET })
    assert_no_secret(c)
    c:close()
    assert.has_error(function() c:location(SEED) end, "location: the client is closed")
  end)
end)
