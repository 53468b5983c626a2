-- Issue 7 §3: the JSON and the XML answer of every v2 resource, read through
-- the public API from the emulator, give deeply equal results.
local h = require("helper")

local BERLIN = { 52.516667, 13.383333, 5000 }
local LONDON = { 51.6, -0.3, 51.4, 0.1 }
local CORRIDOR = { { 51.50, -0.20 }, { 51.52, 0.00 } }

-- Everything a result holds, as plain tables (Locations via totable).
local function plain(v)
  if type(v) == "userdata" then return v:totable() end
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = plain(x) end
  return out
end

local function both(call)
  local j, jerr = call("json")
  local x, xerr = call("xml")
  return j, x, jerr, xerr
end

describe("v2 JSON and XML answers", function()
  local c, v2
  setup(function()
    assert(h.url, "EVCP_TEST_URL is not set: run the suite with `make test`")
    c = h.client()
    v2 = c.v2
  end)
  teardown(function() c:close() end)

  local function same_both(call, min_items)
    local j, x, jerr, xerr = both(call)
    assert(j, tostring(jerr))
    assert(x, tostring(xerr))
    h.assert_identical(plain(j), plain(x))
    if min_items then assert.is_true(#j.items >= min_items, "only " .. #j.items .. " items") end
    return j
  end

  it("stations: prox, bbox and corridor searches", function()
    same_both(function(f) return v2:stations({ prox = BERLIN, format = f }) end, 5)
    same_both(function(f) return v2:stations({ bbox = LONDON, maxresults = 1000, format = f }) end, 8)
    same_both(function(f)
      return v2:stations({ corridor = CORRIDOR, corridorwidth = 3000, maxresults = 1000, format = f })
    end, 1)
    -- filtered and paged
    same_both(function(f)
      return v2:stations({ bbox = LONDON, connectortype = { 33, 34 }, maxresults = 5, offset = 2, format = f })
    end, 1)
  end)

  it("stations: an empty page", function()
    local j = same_both(function(f) return v2:stations({ prox = { 0, -30, 1 }, format = f }) end)
    assert.equal(0, #j.items)
    assert.is_false(j.hasMore)
  end)

  it("each_station walks the same locations", function()
    local ids = {}
    for _, f in ipairs({ "json", "xml" }) do
      local list = {}
      for loc, err in v2:each_station({ bbox = LONDON, maxresults = 7, format = f }) do
        assert.is_nil(err)
        list[#list + 1] = loc:totable()
      end
      ids[f] = list
    end
    assert.is_true(#ids.json > 7)
    h.assert_identical(ids.json, ids.xml)
  end)

  it("count: every geometry", function()
    for _, geo in ipairs({ { prox = BERLIN }, { bbox = LONDON }, { corridor = CORRIDOR, corridorwidth = 3000 } }) do
      local j, x = both(function(f)
        local o = { format = f }
        for k, v in pairs(geo) do o[k] = v end
        return v2:count(o)
      end)
      assert.is_number(j)
      assert.equal(j, x)
    end
  end)

  describe("by id", function()
    local page
    setup(function()
      page = assert(c.v2:stations({ bbox = LONDON, maxresults = 1000 })).items
      assert.is_true(#page >= 3)
    end)

    it("station details", function()
      for i = 1, 3 do
        local id = page[i].v2.id
        local j, x = both(function(f) return v2:station(id, { format = f }) end)
        h.assert_identical(j:totable(), x:totable())
        assert.equal(page[i].id, j.id)
      end
    end)

    it("stations bulk", function()
      local ids = { page[1].v2.id, page[2].v2.id, page[3].v2.id }
      same_both(function(f) return v2:stations_bulk(ids, { format = f }) end, 3)
      same_both(function(f) return v2:stations_bulk({ ids[2] }, { format = f }) end, 1)
    end)

    it("pools bulk and pool", function()
      local ids = { page[1].v2.poolId, page[2].v2.poolId }
      same_both(function(f) return v2:pools(ids, { format = f }) end, 2)
      same_both(function(f) return v2:pools({ ids[1] }, { format = f }) end, 1)
      same_both(function(f) return v2:pool(ids[2], { format = f }) end, 1)
    end)

    it("EVSEs bulk, with one pool and with several", function()
      local one = same_both(function(f) return v2:evses({ page[1].v2.poolId }, { format = f }) end)
      -- one pool is still a list of pools (XML used to give an object)
      assert.equal(1, #one.pools.pool)
      local ids = {}
      for i = 1, math.min(#page, 10) do ids[i] = page[i].v2.poolId end
      local many = same_both(function(f) return v2:evses(ids, { format = f }) end)
      assert.equal(#ids, #many.pools.pool)
    end)

    it("priced stations: price.currency is a code in both formats", function()
      local priced = 0
      for i = 1, #page do
        for _, g in ipairs(page[i].v2.connectors and page[i].v2.connectors.connector or {}) do
          for _, p in ipairs(g.connectorDetails and g.connectorDetails.pricing or {}) do
            priced = priced + 1
            assert.is_string(p.price.currency)
          end
        end
      end
      assert.is_true(priced > 0, "no priced station in the box")
      local x = assert(v2:stations({ bbox = LONDON, maxresults = 1000, format = "xml" }))
      for _, loc in ipairs(x.items) do
        for _, g in ipairs(loc.v2.connectors and loc.v2.connectors.connector or {}) do
          for _, p in ipairs(g.connectorDetails and g.connectorDetails.pricing or {}) do
            assert.is_string(p.price.currency)
          end
        end
      end
    end)

    it("errors: an unknown id gives the same error in both formats", function()
      local j, x, jerr, xerr = both(function(f) return v2:pool("no-such-pool", { format = f }) end)
      assert.is_nil(j)
      assert.is_nil(x)
      for _, k in ipairs({ "kind", "status", "title", "cause", "retryable" }) do
        assert.equal(jerr[k], xerr[k])
      end
      assert.equal(404, jerr.status)
    end)
  end)

  it("counts are integers in both formats (Lua 5.4)", function()
    if not math.type then return end -- LuaJIT has no integer subtype
    local page = assert(v2:stations({ prox = BERLIN, format = "xml" }))
    local j = assert(v2:stations({ prox = BERLIN }))
    local types = { math.type(page.count), math.type(j.count), math.type(page.items[1].v2.distance) }
    if types[1] ~= "integer" or types[2] ~= "integer" then
      -- evcp.v2.schema.normalize makes them integers; evcp.v2 is to call it on every
      -- decoded document (lead, lua/evcp/v2/init.lua): then drop this guard
      pending("evcp.v2 does not call evcp.v2.schema.normalize yet: count is " .. types[1] .. "/" .. types[2])
      return
    end
    assert.same({ "integer", "integer", "integer" }, types)
  end)

  it("connector types", function()
    local j = same_both(function(f) return v2:connector_types({ format = f }) end)
    assert.is_true(#j.connectorType > 50)
  end)

  it("roamings: country is a list in both formats", function()
    local j = same_both(function(f) return v2:roamings({ format = f }) end)
    assert.is_true(#j.roaming > 0)
    for _, r in ipairs(j.roaming) do assert.is_table(r.country) end
  end)

  -- The facts XML decoding relies on, checked against what the JSON answers
  -- hold: every array in them must be a "list" fact (else one item would come
  -- from XML as an object), every number and boolean a fact of that kind.
  it("every array, number and boolean of the JSON answers is in evcp.v2.schema's facts", function()
    local schema = require("evcp.v2.schema")
    local kind_of = {}
    for _, f in ipairs(schema.facts()) do
      local set = kind_of[f.name] or {}
      kind_of[f.name] = set
      for _, p in ipairs(f.parents or { "*" }) do set[p .. "\0" .. f.kind] = true end
    end
    local function has(name, parent, kind)
      local set = kind_of[name]
      return set ~= nil and (set["*\0" .. kind] or set[parent .. "\0" .. kind]) == true
    end
    local missing, seen = {}, 0
    local function walk(t, parent)
      for k, v in pairs(t) do
        if type(k) == "string" then
          local what
          if type(v) == "table" then
            if v[1] ~= nil then what = "list" end
          elseif math.type and math.type(v) == "float" and v % 1 ~= 0 then
            what = "number"
          elseif type(v) == "number" then
            what = (has(k, parent, "number") and "number") or "integer"
          elseif type(v) == "boolean" then
            what = "boolean"
          end
          if what then
            seen = seen + 1
            if not has(k, parent, what) then missing[parent .. "." .. k .. ": " .. what] = true end
          end
          if type(v) == "table" then
            if v[1] ~= nil then
              for _, item in ipairs(v) do
                if type(item) == "table" then walk(item, k) end
              end
            else
              walk(v, k)
            end
          end
        end
      end
    end
    local page = assert(v2:stations({ bbox = LONDON, maxresults = 1000 }))
    for _, loc in ipairs(page.items) do walk(loc:totable().v2, "evStation") end
    local ids = {}
    for i = 1, math.min(#page.items, 20) do ids[i] = page.items[i].v2.poolId end
    walk(assert(v2:evses(ids)), "ROOT")
    walk(assert(v2:connector_types()), "ROOT")
    walk(assert(v2:roamings()), "ROOT")
    assert.is_true(seen > 1000)
    local list = {}
    for k in pairs(missing) do list[#list + 1] = k end
    table.sort(list)
    assert.same({}, list)
  end)

  it("power feed types", function()
    local j, x, jerr, xerr = both(function(f) return v2:power_feed_types({ format = f }) end)
    assert(j, tostring(jerr))
    assert(x, tostring(xerr))
    h.assert_identical(plain(j), plain(x))
  end)
end)
