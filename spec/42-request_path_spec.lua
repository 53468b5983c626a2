-- The request path's fast lanes (issue 7 §6) keep every check of §1-2: the
-- C helpers behind plans (core.content_id, id_check, array_len, id_list)
-- agree with plain-Lua references written here, misuse messages are the
-- ones the Lua checks give, and a client's request records are the ones a
-- hand-written client would send.
local evcp = require("evcp")
local core = require("evcp.core")

-- references, independent of the code under test
local function ref_cid(s) return (s:match("([^:]*)$")) end
local function ref_id_code(s, maxlen)
  if type(s) ~= "string" then return 1 end
  if s == "" then return 2 end
  if #s > maxlen then return 3 end
  if s:find("[%z\1-\31\127]") then return 4 end
  local cid = ref_cid(s)
  if cid == "" then return 5 end
  if cid:find(",", 1, true) then return 6 end
  return nil, cid
end
local function ref_array_len(v, max)
  if type(v) ~= "table" or getmetatable(v) ~= nil then return nil end
  local n, top = 0, 0
  for k in pairs(v) do
    if type(k) ~= "number" or k < 1 or k % 1 ~= 0 then return nil end
    if max and k > max then return nil end
    n = n + 1
    if k > top then top = k end
  end
  if n ~= top then return nil end
  return n
end

local SAMPLES = { "abc", "here:evcp:charginglocation:abc", "x:", ":", "", "a:b,c", "a,b:c",
  "tab\there", "nul\0byte", "del\127", "ü:ñ", ("z"):rep(1024), ("z"):rep(1025), "a::b", 5, true }

-- a transport that records what it is asked to run and answers each
-- /v3/locations request with every id missing
local function recorder()
  local t = { calls = {} }
  function t.run(self, reqs)
    local out = {}
    for i, r in ipairs(reqs) do
      self.calls[#self.calls + 1] = r
      local ids = r.url:match("[?&]ids=([^&]*)")
      local body
      if ids then
        local miss = {}
        for id in ids:gmatch("[^,]+") do miss[#miss + 1] = '"' .. id .. '"' end
        body = '{"items":[],"missingItems":[' .. table.concat(miss, ",") .. ']}'
      else
        body = '{"id":"here:evcp:charginglocation:abc","location":{"lat":1,"lng":2}}'
      end
      out[i] = { status = 200, headers = { ["content-type"] = "application/json" }, body = body }
    end
    return out
  end
  function t.sleep() end
  return t
end

describe("core.content_id and core.id_check", function()
  it("agree with the references on every sample", function()
    for _, s in ipairs(SAMPLES) do
      if type(s) == "string" then assert.equal(ref_cid(s), core.content_id(s)) end
      local code, cid = ref_id_code(s, 1024)
      local got, why = core.id_check(s, 1024)
      if code then
        assert.is_nil(got, tostring(s))
        assert.equal(code, why, tostring(s))
      else
        assert.equal(cid, got)
      end
    end
  end)
  it("evcp.v3.content_id keeps its contract", function()
    assert.equal("abc", evcp.v3.content_id("a:b:abc"))
    assert.equal("", evcp.v3.content_id("a:"))
    assert.has_error(function() evcp.v3.content_id({}) end,
      "evcp.v3.content_id: argument #1 (id) must be a string, got table")
  end)
end)

describe("core.array_len", function()
  local cases = {
    {}, { 1, 2, 3 }, { 1, nil, 3 }, { 1, x = 2 }, { [2] = 1 }, { [1.5] = 1 }, { [0] = 1, 1 },
    { [-1] = 1 }, setmetatable({ 1 }, {}), "abc", 7,
  }
  it("is n exactly for plain arrays, within max", function()
    for i, v in ipairs(cases) do
      assert.equal(ref_array_len(v), core.array_len(v), "case " .. i)
      assert.equal(ref_array_len(v, 2), core.array_len(v, 2), "case " .. i .. " max 2")
    end
  end)
end)

describe("core.id_list", function()
  it("gives content ids, distinct ids in order, and a copy of the list", function()
    local ids = { "a", "x:b", "y:a", "b", "c" }
    local cids, order, given = core.id_list(ids, #ids, 1024)
    assert.same({ "a", "b", "a", "b", "c" }, cids)
    assert.same({ "a", "b", "c" }, order)
    assert.same(ids, given)
    assert.are_not.equal(ids, given)
  end)
  it("names the first id id_check refuses", function()
    for _, s in ipairs(SAMPLES) do
      local code = ref_id_code(s, 1024)
      local ok1, bad, value = core.id_list({ "fine", s, "x," }, 3, 1024)
      if code then
        assert.is_nil(ok1)
        assert.equal(2, bad)
        assert.equal(s, value)
      else
        assert.is_nil(ok1)
        assert.equal(3, bad) -- "x," has a ',' in its content id
      end
    end
  end)
end)

describe("client:locations plans as before", function()
  local t, c
  before_each(function()
    t = recorder()
    c = evcp.new({ base_url = "http://127.0.0.1:9", api_key = "k", transport = t })
  end)
  after_each(function() c:close() end)

  it("refuses a bad id with the message of the id's check, at the caller's line", function()
    local expect = {
      { { "a", 5 }, "locations: ids[2] must be a string, got number" },
      { { "a", "" }, "locations: ids[2] must not be empty" },
      { { "a", ("z"):rep(1025) }, "locations: ids[2] must be at most 1024 bytes long" },
      { { "a", "b\nc" }, "locations: ids[2] must not contain control characters" },
      { { "a", "x:" }, "locations: ids[2] has an empty content id (the part after the last ':')" },
      { { "a", "x:b,c" }, "locations: ids[2] must not contain ','" },
    }
    for _, e in ipairs(expect) do
      local ok, err = pcall(c.locations, c, e[1])
      assert.is_false(ok)
      assert.equal(e[2], (tostring(err):gsub("^[^:]*:%d+: ", "")))
      local ok2, err2 = pcall(function() local r = c:locations(e[1]); return r end)
      assert.is_false(ok2)
      assert.truthy(tostring(err2):find("42%-request_path_spec%.lua:%d+: locations: ") ~= nil, tostring(err2))
    end
    assert.equal(0, #t.calls)
  end)

  it("refuses what is not an array with check.array's messages", function()
    local expect = {
      { {}, "locations: argument #1 (ids) must hold at least one id" },
      { { "a", x = "b" }, "locations: argument #1 (ids) must be an array (found key x)" },
      { { "a", nil, "c" }, "locations: argument #1 (ids) must be an array (hole at 2)" },
      { "a", "locations: argument #1 (ids) must be an array, got string" },
    }
    for _, e in ipairs(expect) do
      local ok, err = pcall(c.locations, c, e[1])
      assert.is_false(ok)
      assert.equal(e[2], (tostring(err):gsub("^[^:]*:%d+: ", "")))
    end
  end)

  it("reads ids through their metamethods as it reads a plain array", function()
    local plain = { "here:evcp:charginglocation:a", "b", "a", "c" }
    local proxied = setmetatable({}, { __index = plain, __len = function() return #plain end,
      __pairs = function() return next, plain, nil end })
    if jit then proxied = plain end -- LuaJIT's pairs has no __pairs
    local r1 = assert(c:locations(plain))
    local r2 = assert(c:locations(proxied))
    assert.same(r1.missing, r2.missing)
    assert.same({ "here:evcp:charginglocation:a", "b", "a", "c" }, r1.missing)
    assert.equal(t.calls[1].url, t.calls[2].url)
  end)

  it("still refuses a field listed twice, and names an unknown one", function()
    assert.has_error(function() c:location("a", { fields = { "evses", "address", "evses" } }) end)
    local ok, err = pcall(c.location, c, "a", { fields = { "evses", "address", "evses" } })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("location: option 'fields' lists 'evses' twice", 1, true))
    ok, err = pcall(c.location, c, "a", { fields = { "evses", "nope" } })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("location: option 'fields'[2] 'nope' is not one of:", 1, true))
  end)

  it("sends the request records a hand-written client would", function()
    assert(c:location("here:evcp:charginglocation:abc", { fields = { "evses" } }))
    local ids = {}
    for i = 1, 250 do ids[i] = "id-" .. i end
    assert(c:locations(ids, { fields = { "evses" } }))
    assert.equal(4, #t.calls)
    local r = t.calls[1]
    -- each request gets an X-Request-ID of its own when the caller gives none: a UUID v4
    local UUID4 = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"
    local seen = {}
    for _, call in ipairs(t.calls) do
      local id = call.headers["X-Request-ID"]
      assert.matches(UUID4, id)
      assert.is_nil(seen[id], "a new id per request")
      seen[id] = true
      call.headers["X-Request-ID"] = nil
    end
    -- timeout: the attempt's (10 s by default), cut to what is left of the deadline
    assert.same({ method = "GET", url = "http://127.0.0.1:9/v3/locations/abc?fields=evses&apiKey=k",
      headers = { Accept = "application/json" }, timeout = 10 }, r)
    for k = 0, 2 do
      local first, last = k * 100 + 1, math.min(k * 100 + 100, 250)
      assert.same({ method = "GET", headers = { Accept = "application/json" }, timeout = 10,
        url = "http://127.0.0.1:9/v3/locations?ids=" .. table.concat(ids, ",", first, last)
          .. "&fields=evses&apiKey=k" }, t.calls[k + 2])
    end
    -- every record and every headers table is a fresh one
    assert.are_not.equal(t.calls[2], t.calls[3])
    assert.are_not.equal(t.calls[2].headers, t.calls[3].headers)
  end)
end)
