-- Issue 7 §3: a site read through v2 and the same site read through v3
-- (poolId = location id) have the same EVSEs, connectors, statuses,
-- connector groups and operator ids. The expected values come from the v3
-- answer (a separate code path) and from the migration guide's tables in
-- spec/fixtures/migration-tables.lua, never from evcp.v2.station or evcp.status.
local evcp = require("evcp")
local h = require("helper")

local BOXES = {
  { 51.0, 6.85, 50.85, 7.1 },        -- Cologne (BNetzA)
  { 51.6, -0.3, 51.4, 0.1 },         -- London (UK NCR)
  { 53.6, -2.4, 53.4, -2.1 },        -- Manchester (UK NCR)
  { 47.75, -122.45, 47.45, -122.1 }, -- Seattle (AFDC, Tesla sites)
  { 61.6, 23.6, 61.4, 24.0 },        -- Tampere (the seed locations)
}
local FIELDS = { "evses", "connectorGroups", "locationInfo" }
local TABLES = dofile((debug.getinfo(1, "S").source:match("^@(.*)57%-v2_v3_site_spec%.lua$") or "spec/")
  .. "fixtures/migration-tables.lua")

-- The guide's status table: v3 (OCPI spelling) -> v2 state.
local V2_OF = {}
for _, r in ipairs(TABLES.statuses) do V2_OF[r.v3] = r.v2 end
-- evcp's documented reading of each v2 state (docs/API.md, evcp.status):
-- OUT_OF_SERVICE -> outOfOrder, OFFLINE and OTHER -> unknown.
local READ = { AVAILABLE = "available", UNAVAILABLE = "blocked", OCCUPIED = "charging",
  OUT_OF_SERVICE = "outOfOrder", OFFLINE = "unknown", RESERVED = "reserved", OTHER = "unknown" }
local function expected_status(v3)
  return READ[V2_OF[v3:upper()]]
end

-- The guide's connector table: v3 standard -> v2 id.
local V2_ID = {}
for _, r in ipairs(TABLES.connectors) do
  for _, s in ipairs(r.standards) do V2_ID[s] = r.id end
end

local function sorted_keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

describe("the same site through v2 and v3 #slow", function()
  local c
  local pairs_of = {} -- { {v2 = table, v3 = table, v2loc = Location, v3loc = Location} }
  local limits = {}   -- what the emulator's v2 cannot express, found from the v3 data

  setup(function()
    assert(h.url, "EVCP_TEST_URL is not set: run the suite with `make test`")
    c = h.client()
    for _, box in ipairs(BOXES) do
      local res = assert(c.v2:stations({ bbox = box, maxresults = 1000 }))
      assert.is_true(#res.items > 0)
      local ids = {}
      for i, loc in ipairs(res.items) do ids[i] = loc.id end
      local v3 = assert(c:locations(ids, { fields = FIELDS }))
      assert.equal(0, #v3.missing)
      assert.equal(#ids, #v3.items)
      for i, loc in ipairs(res.items) do
        assert.equal(loc.id, v3.items[i].id)
        pairs_of[#pairs_of + 1] = { v2 = loc:totable(), v3 = v3.items[i]:totable(), v2loc = loc, v3loc = v3.items[i] }
      end
    end
    assert.is_true(#pairs_of > 1000)
  end)
  teardown(function() c:close() end)

  -- A v3 connector the emulator's v2 leaves out: it lists one connectorStatus
  -- per EVSE and connector group (v2 type id, maxPower), so a second connector
  -- of the same type and power on one EVSE has no item.
  local function hidden_by_group(evse, k)
    local cn = evse.connectors[k]
    for j = 1, k - 1 do
      local o = evse.connectors[j]
      if V2_ID[o.standard] == V2_ID[cn.standard] and o.maxPower == cn.maxPower then return true end
    end
    return false
  end

  -- The v3 formats of a connector group (v2's fixedCable is one per group).
  local function group_formats(v3, standard, power)
    local set = {}
    for _, e in ipairs(v3.evses or {}) do
      for _, cn in ipairs(e.connectors) do
        if V2_ID[cn.standard] == V2_ID[standard] and cn.maxPower == power then set[cn.format] = true end
      end
    end
    return #sorted_keys(set)
  end

  it("have the same EVSEs, with the statuses of the guide's table", function()
    local evses = 0
    for _, p in ipairs(pairs_of) do
      local want, got = {}, {}
      for _, e in ipairs(p.v3.evses or {}) do want[e.uid] = e end
      for _, e in ipairs(p.v2.evses or {}) do
        assert.is_nil(got[e.uid], p.v2.id .. ": EVSE " .. e.uid .. " twice")
        got[e.uid] = e
      end
      assert.same(sorted_keys(want), sorted_keys(got), p.v2.id)
      for uid, e in pairs(want) do
        local g = got[uid]
        evses = evses + 1
        assert.equal(expected_status(e.status), g.status, p.v2.id .. " " .. uid .. " (v3 " .. e.status .. ")")
        assert.equal(e.evseId, g.evseId)
        assert.equal(e.physicalReference, g.physicalReference)
      end
    end
    assert.is_true(evses > 1000)
  end)

  it("have the same connectors", function()
    local n = 0
    for _, p in ipairs(pairs_of) do
      local got = {}
      for _, e in ipairs(p.v2.evses or {}) do got[e.uid] = e end
      for _, e in ipairs(p.v3.evses or {}) do
        local by_id = {}
        for _, cn in ipairs(got[e.uid].connectors) do by_id[cn.id] = cn end
        local listed = 0
        for k, cn in ipairs(e.connectors) do
          local g = by_id[cn.id]
          if g == nil and hidden_by_group(e, k) then
            limits[#limits + 1] = p.v2.id .. " " .. e.uid .. "/" .. cn.id .. ": second connector of one type and power"
          else
            assert(g, p.v2.id .. " " .. e.uid .. ": connector " .. cn.id .. " missing")
            listed = listed + 1
            n = n + 1
            local where = p.v2.id .. " " .. e.uid .. "/" .. cn.id
            assert.equal(cn.standard, g.standard, where)
            assert.same({ cn.standard }, g.standards, where)
            assert.equal(tostring(V2_ID[cn.standard]), g.v2TypeId, where)
            assert.equal(cn.maxPower, g.maxPower, where)
            assert.equal(cn.powerType, g.powerType, where)
            assert.equal(cn.maxCurrent, g.maxCurrent, where)
            assert.equal(cn.maxVoltage, g.maxVoltage, where)
            if cn.format ~= g.format and group_formats(p.v3, cn.standard, cn.maxPower) > 1 then
              limits[#limits + 1] = where .. ": group of mixed cable/socket formats"
            else
              assert.equal(cn.format, g.format, where)
            end
          end
        end
        assert.equal(listed, #got[e.uid].connectors, p.v2.id .. " " .. e.uid .. ": extra connectors")
      end
    end
    assert.is_true(n > 1000)
  end)

  it("have the same connector groups and counts", function()
    for _, p in ipairs(pairs_of) do
      local want, got = {}, {}
      for _, g in ipairs(p.v3.connectorGroups or {}) do want[g.standard .. "/" .. g.maxPower] = g end
      for _, g in ipairs(p.v2.connectorGroups or {}) do got[tostring(g.standard) .. "/" .. tostring(g.maxPower)] = g end
      assert.same(sorted_keys(want), sorted_keys(got), p.v2.id)
      for k, g in pairs(want) do
        local v = got[k]
        assert.equal(g.connectorCount, v.connectorCount, p.v2.id .. " " .. k)
        assert.equal(g.availableConnectorCount, v.availableConnectorCount, p.v2.id .. " " .. k)
        local wu, gu = {}, {}
        for _, r in ipairs(g.connectors or {}) do wu[r.evseUid] = true end
        for _, r in ipairs(v.connectors or {}) do gu[r.evseUid] = true end
        assert.same(sorted_keys(wu), sorted_keys(gu), p.v2.id .. " " .. k)
      end
    end
  end)

  it("have the same operator ids: v2's brand is v3's suboperator, else its operator", function()
    local cpo, sub = 0, 0
    for _, p in ipairs(pairs_of) do
      local brand = p.v3.suboperator or p.v3.operator
      if brand then
        assert.same({ name = brand.name, partnerId = brand.partnerId }, p.v2.operator, p.v2.id)
      end
      if p.v3.suboperator then sub = sub + 1 end
      assert.equal(p.v3.cpoLocationId, p.v2.cpoLocationId, p.v2.id)
      if p.v3.cpoLocationId then cpo = cpo + 1 end
    end
    assert.is_true(cpo > 100 and sub > 10, cpo .. " cpo ids, " .. sub .. " suboperators")
  end)

  -- The connectors tutorial's rule, applied to the v3 answer: TESLA_S is
  -- Tesla-only; SAE_J3400 is Tesla-only at a brandOnly site, NACS otherwise;
  -- a site is NACS when any connector is.
  local function tutorial_class(v3)
    local brand = false
    for _, r in ipairs(v3.restrictions or {}) do brand = brand or r == "brandOnly" end
    local class
    for _, g in ipairs(v3.connectorGroups or {}) do
      if g.standard == "SAE_J3400" then
        if not brand then return "nacs" end
        class = "tesla_only"
      elseif g.standard == "TESLA_S" then
        class = "tesla_only"
      end
    end
    return class
  end

  it("classify Tesla sites alike once settled by one v3 lookup", function()
    local U = evcp.tesla.NACS_OR_TESLA_ONLY
    local n, brand = 0, 0
    for _, p in ipairs(pairs_of) do
      local want = tutorial_class(p.v3)
      local j3400 = false
      for _, g in ipairs(p.v3.connectorGroups or {}) do j3400 = j3400 or g.standard == "SAE_J3400" end
      if j3400 then
        n = n + 1
        if want == "tesla_only" then brand = brand + 1 end
        assert.equal(U, evcp.tesla.classify(p.v2loc), p.v2.id)
        local class, v3loc = evcp.tesla.settle(c, p.v2loc)
        assert.equal(want, class, p.v2.id)
        assert.equal(p.v2.id, v3loc.id)
      else
        assert.equal(want, evcp.tesla.classify(p.v2loc), p.v2.id)
        assert.equal(want, (evcp.tesla.settle(c, p.v2loc)))
      end
    end
    assert.is_true(n > 0, "no SAE_J3400 site in the boxes")
    assert.is_true(brand > 0 and brand < n, n .. " SAE_J3400 sites, " .. brand .. " of them brand-only")
  end)

  it("lose only what the emulator's v2 cannot express", function()
    if #limits > 0 then
      pending(#limits .. " connector(s) the emulator's v2 cannot express (its v2 owner is told), e.g. "
        .. limits[1])
    end
  end)
end)
