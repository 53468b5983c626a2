-- The client over a transport that yields (issue 9 §2, §3), with a stub host
-- loop in place of Neovim's or nginx's: run() and sleep() park the calling
-- coroutine, and the loop below resumes them with canned answers. It shows
-- the callback form, that several calls overlap on one client, and that
-- calls which need an OAuth token while another call fetches it wait for
-- that one fetch (one token request in all).
local evcp = require("evcp")

local TOKEN = '{"access_token":"tok-abc","token_type":"bearer","expires_in":3600}'

-- a host loop: parked coroutines, resumed in turn by step()
local function host(answer)
  local h = { parked = {}, log = {}, clock = 0, token_posts = 0 }
  local t = {}
  function t.run(_, reqs)
    local co, main = coroutine.running()
    if co == nil or main then error("stub host: run outside a coroutine") end
    h.parked[#h.parked + 1] = { co = co, reqs = reqs }
    return coroutine.yield("parked")
  end
  function t.sleep(_, s)
    local co = coroutine.running()
    h.parked[#h.parked + 1] = { co = co, sleep = s }
    h.log[#h.log + 1] = "sleep " .. s
    coroutine.yield("parked")
  end
  function t.now() return h.clock end
  h.transport = t
  -- resumes every coroutine parked so far (the ones parked meanwhile wait
  -- for the next step); returns how many ran
  function h.step()
    local now = h.parked
    h.parked = {}
    h.clock = h.clock + 0.1
    for _, p in ipairs(now) do
      local ok, err
      if p.sleep then
        ok, err = coroutine.resume(p.co)
      else
        local out = {}
        for i, r in ipairs(p.reqs) do
          h.log[#h.log + 1] = r.method .. " " .. r.url:gsub("%?.*", "")
          if r.method == "POST" then h.token_posts = h.token_posts + 1 end
          out[i] = answer(r)
        end
        ok, err = coroutine.resume(p.co, out)
      end
      assert(ok, err)
    end
    return #now
  end
  function h.drain()
    local rounds = 0
    while #h.parked > 0 do
      h.step()
      rounds = rounds + 1
      assert(rounds < 1000, "the calls never finished")
    end
    return rounds
  end
  return h
end

local function json(status, body)
  return { status = status, headers = { ["content-type"] = "application/json" }, body = body }
end

local function answers(r)
  if r.method == "POST" then return json(200, TOKEN) end
  if r.url:find("/v3/health", 1, true) then return json(200, '{"status":"ok"}') end
  return json(404, '{"title":"Not found","status":404,"code":"E629000","cause":"no such id"}')
end

describe("the callback form over a yielding transport", function()
  it("returns at once; the callback gets the result when the host resumes the call", function()
    local h = host(answers)
    local c = evcp.new({ base_url = "http://h", api_key = "k", transport = h.transport })
    local got, gerr, called = nil, nil, false
    assert.is_nil(c:health(function(v, err) got, gerr, called = v, err, true end))
    assert.is_false(called)
    assert.equal(1, #h.parked)
    h.drain()
    assert.is_true(called)
    assert.same({ status = "ok" }, got)
    assert.is_nil(gerr)
  end)

  it("gives the callback nil, err for an error answer", function()
    local h = host(answers)
    local c = evcp.new({ base_url = "http://h", api_key = "k", transport = h.transport })
    local got, gerr = "unset", nil
    c:location("nope", { fields = { "evses" } }, function(v, err) got, gerr = v, err end)
    h.drain()
    assert.is_nil(got)
    assert.equal("http", gerr.kind)
    assert.equal(404, gerr.status)
    assert.equal("E629000", gerr.code)
  end)

  it("raises a misuse at the caller's line before anything is parked", function()
    local h = host(answers)
    local c = evcp.new({ base_url = "http://h", api_key = "k", transport = h.transport })
    local ok, err = pcall(function() c:location({}, function() end) end)
    assert.is_false(ok)
    assert.matches("38%-callback_form_spec%.lua:%d+: location: argument #1 %(id%) must be a string, got table", err)
    assert.equal(0, #h.parked)
    c:close()
    local _, err2 = pcall(function() c:health(function() end) end)
    assert.matches("38%-callback_form_spec%.lua:%d+: health: the client is closed", err2)
  end)

  it("lets calls from several coroutines overlap on one client", function()
    local h = host(answers)
    local c = evcp.new({ base_url = "http://h", api_key = "k", transport = h.transport })
    local done = 0
    for _ = 1, 5 do c:health(function(v) if v then done = done + 1 end end) end
    assert.equal(5, #h.parked) -- all five in flight together
    assert.equal(1, h.drain())
    assert.equal(5, done)
  end)

  it("takes the callback without opts, and for client.v2", function()
    local h = host(function(r)
      if r.url:find("/ev/stations/count", 1, true) then
        return json(200, '{"count":7}')
      end
      return answers(r)
    end)
    local c = evcp.new({ base_url = "http://h", api_key = "k", transport = h.transport })
    local n
    c.v2:count({ prox = { 52.5, 13.4, 5000 } }, function(v) n = v end)
    local st
    c:health(function(v) st = v end)
    h.drain()
    assert.equal(7, n)
    assert.same({ status = "ok" }, st)
  end)
end)

describe("OAuth over a yielding transport", function()
  local function oauth_client(h)
    return evcp.new({ base_url = "http://h", access_key_id = "key-id", access_key_secret = "key-secret",
      transport = h.transport })
  end

  it("fetches one token for calls that all need one at once; the others wait for it", function()
    local h = host(answers)
    local c = oauth_client(h)
    local done = 0
    for _ = 1, 4 do c:health(function(v, err) assert(v, tostring(err)); done = done + 1 end) end
    h.drain()
    assert.equal(4, done)
    assert.equal(1, h.token_posts)
    -- the three that waited did so through transport:sleep (yielding)
    local sleeps = 0
    for _, l in ipairs(h.log) do if l:match("^sleep") then sleeps = sleeps + 1 end end
    assert.is_true(sleeps >= 3, "waits: " .. sleeps)
  end)

  it("makes the waiting calls fail with the fetch's failure, not hang", function()
    local h = host(function(r)
      if r.method == "POST" then
        return json(401, '{"errorId":"x","httpStatus":401,"errorCode":401300,"message":"Signature mismatch"}')
      end
      return answers(r)
    end)
    local c = oauth_client(h)
    local errs = {}
    for i = 1, 3 do c:health(function(v, err) assert.is_nil(v); errs[i] = err end) end
    h.drain()
    assert.equal(1, h.token_posts)
    assert.equal("401300", errs[1].code)
    for i = 2, 3 do
      assert.equal("auth", errs[i].kind)
      assert.matches("the refresh another call made failed", errs[i].message, 1, true)
    end
  end)
end)
