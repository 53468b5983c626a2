-- Issue 8 §5 and §6: a successful result carries the ids of its exchange
-- (evcp.response), and every URL evcp shows has the values of all query
-- parameters other than HERE's data parameters REDACTED.
-- The expected ids come from the real transport's own results (a wrapper
-- records the headers libcurl returned), never from evcp.response.
local evcp = require("evcp")
local core = require("evcp.core")
local url = require("evcp.url")
local errors = require("evcp.error")
local h = require("helper")

-- the real libcurl transport, with every result it returned kept in order
local function recording()
  local t = core.curl_transport({ timeout = 10 })
  local w = { seen = {}, sent = {} }
  function w.run(_, reqs)
    local res = t:run(reqs)
    for i = 1, #reqs do
      w.sent[#w.sent + 1] = reqs[i]
      w.seen[#w.seen + 1] = res[i]
    end
    return res
  end
  function w.sleep(_, s) return t:sleep(s) end
  function w.now() return t:now() end
  function w.close() t:close() end
  return w
end

local function client(w, opts)
  opts = opts or {}
  opts.transport = w
  return h.client(opts)
end

local BASE = h.url

describe("evcp.response: the exchange behind a result", function()
  local w, c
  before_each(function()
    w = recording()
    c = client(w)
  end)
  after_each(function()
    c:close()
    w:close()
  end)

  it("gives a Location the correlation and request ids of its answer", function()
    local loc = assert(c:location(h.seed_id))
    local r = evcp.response(loc)
    local res = w.seen[1]
    assert.is_string(res.headers["x-correlation-id"])
    assert.equal(res.headers["x-correlation-id"], r.correlation_id)
    assert.equal(w.sent[1].headers["X-Request-ID"], r.request_id)
    assert.matches("^%x+%-%x+%-4%x+%-[89ab]%x+%-%x+$", r.request_id)
    assert.equal(200, r.status)
    assert.equal(1, r.attempts)
    assert.equal("GET " .. BASE .. "/v3/locations/" .. h.seed_cid, r.url)
  end)

  it("keeps the caller's request_id, and never shows the apiKey", function()
    local loc = assert(c:location(h.seed_id, { request_id = "my-req-1", fields = { "evses" } }))
    local r = evcp.response(loc)
    assert.equal("my-req-1", r.request_id)
    assert.equal("my-req-1", w.sent[1].headers["X-Request-ID"])
    assert.truthy(w.sent[1].url:find("apiKey=", 1, true)) -- it was sent...
    assert.is_nil(r.url:find(h.key, 1, true))             -- ...and is not shown
    assert.equal("GET " .. BASE .. "/v3/locations/" .. h.seed_cid .. "?fields=evses", r.url)
  end)

  it("hands out a fresh table each time, shared with nothing", function()
    local loc = assert(c:location(h.seed_id))
    local a = evcp.response(loc)
    a.correlation_id, a.status = "changed", 0
    local b = evcp.response(loc)
    assert.are_not.equal(a, b)
    assert.equal(w.seen[1].headers["x-correlation-id"], b.correlation_id)
    assert.equal(200, b.status)
  end)

  it("tells two calls apart", function()
    local l1 = assert(c:location(h.seed_id))
    local l2 = assert(c:location(h.seed_id))
    assert.equal(w.seen[1].headers["x-correlation-id"], evcp.response(l1).correlation_id)
    assert.equal(w.seen[2].headers["x-correlation-id"], evcp.response(l2).correlation_id)
    assert.are_not.equal(evcp.response(l1).correlation_id, evcp.response(l2).correlation_id)
    assert.are_not.equal(evcp.response(l1).request_id, evcp.response(l2).request_id)
  end)

  it("gives a batch one entry per request, and each Location its own", function()
    local ids = {}
    for i = 1, 150 do ids[i] = "nope-" .. i end
    ids[120] = h.seed_id -- in the second request (100 ids per request)
    local r = assert(c:locations(ids))
    assert.equal(1, #r.items)
    assert.equal(149, #r.missing)
    local info = evcp.response(r)
    assert.equal(2, #info.requests)
    assert.equal(2, #w.seen)
    for i = 1, 2 do
      assert.equal(w.seen[i].headers["x-correlation-id"], info.requests[i].correlation_id)
      assert.equal(w.sent[i].headers["X-Request-ID"], info.requests[i].request_id)
      assert.equal(200, info.requests[i].status)
      assert.equal("GET " .. BASE .. "/v3/locations?ids=", info.requests[i].url:sub(1, #BASE + 22))
    end
    assert.is_nil(info.correlation_id) -- two requests: no single answer
    assert.equal(w.seen[2].headers["x-correlation-id"], evcp.response(r.items[1]).correlation_id)
  end)

  it("gives a one-request batch its fields at the top as well", function()
    local r = assert(c:locations({ h.seed_id }))
    local info = evcp.response(r)
    assert.equal(1, #info.requests)
    assert.equal(w.seen[1].headers["x-correlation-id"], info.correlation_id)
    assert.equal(info.correlation_id, evcp.response(r.items[1]).correlation_id)
  end)

  it("covers the plain v3 answers", function()
    local hl = assert(c:health())
    local v = assert(c:version())
    local m = assert(c:country_metadata({ "DEU" }))
    for i, x in ipairs({ hl, v, m }) do
      assert.equal(w.seen[i].headers["x-correlation-id"], evcp.response(x).correlation_id)
    end
    assert.equal("GET " .. BASE .. "/v3/countryMetadata?countryCodes=DEU", evcp.response(m).url)
  end)

  it("covers v2 in JSON and XML: the page, each station on it, each_station's", function()
    for _, fmt in ipairs({ "json", "xml" }) do
      local before = #w.seen
      local page = assert(c.v2:stations({ prox = { 52.52, 13.405, 5000 }, maxresults = 3, format = fmt }))
      assert.is_true(#page.items > 0)
      local cid = w.seen[before + 1].headers["x-correlation-id"]
      assert.equal(cid, evcp.response(page).correlation_id)
      for _, loc in ipairs(page.items) do assert.equal(cid, evcp.response(loc).correlation_id) end
      assert.equal("GET " .. BASE .. "/ev/stations." .. fmt .. "?prox=52.52,13.405,5000&maxresults=3",
        evcp.response(page).url)
      local n = 0
      for loc in c.v2:each_station({ prox = { 52.52, 13.405, 5000 }, maxresults = 2, format = fmt }) do
        n = n + 1
        local r = evcp.response(loc)
        local found = false
        for i = before + 2, #w.seen do
          if w.seen[i].headers["x-correlation-id"] == r.correlation_id then found = true end
        end
        assert.is_true(found, "station " .. n .. " names a page that was fetched")
        if n == 5 then break end
      end
      assert.is_true(n > 0)
    end
  end)

  it("is nil for anything that is not a result, and for errors", function()
    assert.is_nil(evcp.response({}))
    assert.is_nil(evcp.response(nil))
    assert.is_nil(evcp.response(42))
    assert.is_nil(evcp.response("x"))
    local n = assert(c.v2:count({ prox = { 52.52, 13.405, 5000 } }))
    assert.is_nil(evcp.response(n)) -- a number carries nothing
    local loc, err = c:location("nope")
    assert.is_nil(loc)
    assert.is_nil(evcp.response(err))
    assert.equal(w.seen[#w.seen].headers["x-correlation-id"], err.correlation_id)
  end)

  it("counts the attempts a result took", function()
    -- the first answer of the server is replaced by a 503 the policy retries
    local first = true
    local inner = w.run
    w.run = function(self, reqs)
      if first then
        first = false
        return { { status = 503, headers = { ["x-correlation-id"] = "c-503" }, body = "" } }
      end
      return inner(self, reqs)
    end
    local c2 = client(w, { sleep = function() end, random = function() return 0 end })
    local loc = assert(c2:location(h.seed_id))
    local r = evcp.response(loc)
    assert.equal(2, r.attempts)
    assert.equal(w.seen[#w.seen].headers["x-correlation-id"], r.correlation_id)
    c2:close()
  end)
end)

describe("URLs as evcp shows them", function()
  it("keep HERE's data parameters and redact every other value", function()
    local cases = {
      { "https://h/v3/locations", "https://h/v3/locations" },
      { "https://h/p?ids=a,b&fields=evses", "https://h/p?ids=a,b&fields=evses" },
      { "https://h/p?apiKey=S3CRET", "https://h/p?apiKey=REDACTED" },
      { "https://h/p?ids=x&APIKEY=S&token=T&sig", "https://h/p?ids=x&APIKEY=REDACTED&token=REDACTED&REDACTED" },
      { "https://h/p?prox=1,2,3&maxresults=5&offset=0&emsp=a&x=", "https://h/p?prox=1,2,3&maxresults=5&offset=0&emsp=a&x=REDACTED" },
      { "https://h/p?id=1&id=2&api%4Bey=S", "https://h/p?id=1&id=2&api%4Bey=REDACTED" },
      { "https://h/p?ids=1#frag", "https://h/p?ids=1#REDACTED" },
      { "https://h/p#a?apiKey=S", "https://h/p#REDACTED" },
      { "https://h/p?&&ids=1&", "https://h/p?&&ids=1&" },
      { "https://h/p?", "https://h/p?" },
    }
    for _, c in ipairs(cases) do assert.equal(c[2], url.shown(c[1]), c[1]) end
  end)

  it("in errors: a request context's URL is shown redacted and shortened", function()
    local e = errors.transport({ kind = "network", message = "reset" },
      { method = "GET", target = "https://h/p?ids=1&apiKey=S3CRET&x=y", request_id = "r" })
    assert.equal("GET https://h/p?ids=1&apiKey=REDACTED&x=REDACTED", e.url)
    assert.is_nil(tostring(e):find("S3CRET", 1, true))
    local long = "https://h/p?ids=" .. string.rep("a", 500) .. "&apiKey=S3CRET"
    local e2 = errors.decode("bad", { status = 200, headers = {} }, { method = "GET", target = long })
    assert.is_nil(e2.url:find("S3CRET", 1, true))
    assert.matches("%.%.%.%(%d+ bytes%)$", e2.url)
  end)

  it("in hooks: an api key client's events never hold the key", function()
    local evs = {}
    local function keep(ev) evs[#evs + 1] = ev end
    local c = h.client({ on_request = keep, on_response = keep })
    assert(c:location(h.seed_id, { fields = { "evses" } }))
    c:location("nope")
    c:close()
    assert.equal(4, #evs)
    for _, ev in ipairs(evs) do
      assert.is_nil(ev.url:find(h.key, 1, true))
      assert.is_nil(ev.url:find("apiKey", 1, true))
      assert.equal(BASE, ev.url:sub(1, #BASE))
    end
    assert.equal(BASE .. "/v3/locations/" .. h.seed_cid .. "?fields=evses", evs[1].url)
  end)
end)
