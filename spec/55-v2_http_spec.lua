-- API v2 through evcp's libcurl path against the emulator, in JSON and XML.
local evcp = require("evcp")
local h = require("helper")

local BERLIN = { 52.516667, 13.383333, 5000 }

local function ids_of(res)
  local out = {}
  for i, loc in ipairs(res.items) do out[i] = loc.id end
  return out
end

local function km(lat1, lng1, lat2, lng2)
  local r = math.pi / 180
  local x = (lng2 - lng1) * r * math.cos((lat1 + lat2) / 2 * r)
  local y = (lat2 - lat1) * r
  return 6371 * math.sqrt(x * x + y * y)
end

describe("v2 over HTTP", function()
  local c
  setup(function()
    assert(h.url, "EVCP_TEST_URL is not set: run the suite with `make test`")
    c = h.client()
  end)
  teardown(function() c:close() end)

  it("answers the seed's Berlin query with Type 2 stations, JSON and XML alike", function()
    local j = assert(c.v2:stations({ prox = BERLIN, connectortype = { 31 } }))
    local x = assert(c.v2:stations({ prox = BERLIN, connectortype = "31", format = "xml" }))
    assert.is_true(#j.items >= 5)
    assert.same(ids_of(j), ids_of(x))
    assert.equal(#j.items, j.count)
    local last = -1
    for i, loc in ipairs(j.items) do
      assert.is_true(km(BERLIN[1], BERLIN[2], loc.location.lat, loc.location.lng) <= 5.01)
      assert.is_true(loc.v2.distance >= last)
      last = loc.v2.distance
      local t2 = false
      for evse in loc:evses() do
        for conn in evse:connectors() do t2 = t2 or conn.standard == "IEC_62196_T2" end
      end
      assert.is_true(t2, loc.id)
      h.assert_identical(loc:totable().evses, x.items[i]:totable().evses)
      assert.equal(loc.v2.distance, x.items[i].v2.distance)
    end
  end)

  it("pages with maxresults/offset, and each_station walks every page", function()
    local bbox = { 51.6, -0.3, 51.4, 0.1 }
    local all = assert(c.v2:stations({ bbox = bbox, maxresults = 1000 }))
    assert.is_true(#all.items > 7)
    local p1 = assert(c.v2:stations({ bbox = bbox, maxresults = 3 }))
    assert.equal(3, #p1.items)
    assert.is_true(p1.hasMore)
    local p2 = assert(c.v2:stations({ bbox = bbox, maxresults = 3, offset = 3 }))
    assert.equal(all.items[4].id, p2.items[1].id)
    local walked = {}
    for loc, err in c.v2:each_station({ bbox = bbox, maxresults = 4, format = "xml" }) do
      assert.is_nil(err)
      walked[#walked + 1] = loc.id
    end
    assert.same(ids_of(all), walked)
    assert.equal(#all.items, assert(c.v2:count({ bbox = bbox })))
  end)

  it("filters by eMSP partner id", function()
    local bbox = { 51.7, -0.6, 51.3, 0.3 }
    local all = assert(c.v2:stations({ bbox = bbox, maxresults = 1000 }))
    local partner
    for _, loc in ipairs(all.items) do
      local r = loc.v2.roaming
      if type(r) == "table" and r[1] then
        partner = r[1].partnerId
        break
      end
    end
    assert.is_string(partner, "no station with roaming in the box")
    local some = assert(c.v2:stations({ bbox = bbox, maxresults = 1000, emsp = { partner } }))
    assert.is_true(#some.items >= 1 and #some.items <= #all.items)
    for _, loc in ipairs(some.items) do
      local ok = false
      for _, r in ipairs(loc.v2.roaming or {}) do ok = ok or r.partnerId == partner end
      assert.is_true(ok, loc.id)
    end
  end)

  it("searches a corridor", function()
    local res = assert(c.v2:stations({ corridor = { { 52.52, 13.37 }, { 52.50, 13.40 } }, corridorwidth = 4000 }))
    assert.is_true(#res.items >= 1)
    for _, loc in ipairs(res.items) do assert.is_number(loc.v2.distance) end
  end)

  it("looks up a station, pools and EVSEs by id, and v2 agrees with v3", function()
    local found = assert(c.v2:stations({ prox = BERLIN, maxresults = 2 }))
    local first = found.items[1]
    local st = assert(c.v2:station(first.v2.id, { format = "xml" }))
    assert.equal(first.id, st.id)
    local pools = assert(c.v2:pools({ found.items[1].v2.poolId, found.items[2].v2.poolId }))
    assert.equal(2, #pools.items)
    local pool = assert(c.v2:pool(first.v2.poolId))
    assert.equal(first.id, pool.items[1].id)
    local bulk = assert(c.v2:stations_bulk({ first.v2.id }))
    assert.equal(first.id, bulk.items[1].id)
    -- the same location through v3: same place, and each EVSE's v2 state is
    -- the v3 status mapped (statuses are frozen in the test emulator)
    local v3loc = assert(c:location(first.id, { fields = { "evses" } }))
    assert.equal(v3loc.location.lat, first.location.lat)
    local v3status = {}
    for evse in v3loc:evses() do v3status[evse.uid] = evse.status end
    local n = 0
    for _, group in ipairs(first.v2.connectors.connector) do
      for _, cs in ipairs(group.connectorStatuses and group.connectorStatuses.connectorStatus or {}) do
        if v3status[cs.cpoEvseId] then
          n = n + 1
          assert.equal(evcp.status.v3_to_v2(v3status[cs.cpoEvseId]), cs.state)
        end
      end
    end
    assert.is_true(n > 0, "no EVSE matched between v2 and v3")
    local ev = assert(c.v2:evses({ first.v2.poolId }))
    assert.is_table(ev)
  end)

  it("classifies Tesla sites the same through v2 and v3", function()
    local db = require("emulator_process").module("dataset").load()
    local checked = 0
    for _, rec in ipairs(db.locations) do
      local kind = evcp.tesla.classify(rec)
      if kind == "nacs" or (kind == "tesla_only" and checked < 3) then
        local cid = rec.id:match("[^:]*$")
        local v3loc = assert(c:location(rec.id, { fields = { "evses" } }))
        local v2res = assert(c.v2:pool(cid))
        assert.equal(evcp.tesla.classify(v3loc), kind)
        if kind == "nacs" then
          -- v2 cannot tell an open NACS site from a brand-only one (seed 003):
          -- one v3 lookup settles it
          assert.equal("nacs_or_tesla_only", evcp.tesla.classify(v2res.items[1]))
          assert.equal(kind, (evcp.tesla.settle(c, v2res.items[1])))
        end
        checked = checked + 1
        if checked >= 4 then break end
      end
    end
    assert.is_true(checked >= 1)
  end)

  it("returns HERE-shaped errors", function()
    local v, err = c.v2:pool("no-such-pool")
    assert.is_nil(v)
    assert.equal(404, err.status)
    assert.is_false(err.retryable)
    local bad = h.client({ api_key = "nope-key" })
    v, err = bad.v2:stations({ prox = BERLIN, format = "xml" })
    assert.is_nil(v)
    assert.equal(401, err.status)
    assert.is_nil(tostring(err):find("nope-key", 1, true))
    bad:close()
    for _, format in ipairs({ "json", "xml" }) do
      -- the 400 km bbox limit is the service's to enforce (HERE leaves it unverified)
      v, err = c.v2:stations({ bbox = { 60, -10, 40, 20 }, format = format })
      assert.is_nil(v)
      assert.equal(400, err.status)
      assert.equal("InvalidInputData", err.title)
      assert.matches("bbox", err.cause)
      assert.matches("evcp: http 400: InvalidInputData", tostring(err), 1, true)
    end
    local feeds = assert(c.v2:power_feed_types())
    assert.is_table(feeds.powerFeedType)
    local lists = assert(c.v2:connector_types())
    assert.is_table(lists)
    assert.is_table(assert(c.v2:roamings({ format = "xml" })))
  end)
end)
