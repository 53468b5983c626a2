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
  { 48.7, -120.5, 48.5, -120.3 },    -- Mazama, WA (AFDC: split-phase NEMA 14-50 sockets)
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
    local n, split = 0, 0
    for _, p in ipairs(pairs_of) do
      local got = {}
      for _, e in ipairs(p.v2.evses or {}) do got[e.uid] = e end
      for _, e in ipairs(p.v3.evses or {}) do
        local by_id = {}
        for _, cn in ipairs(got[e.uid].connectors) do by_id[cn.id] = cn end
        local listed = 0
        for _, cn in ipairs(e.connectors) do
          local where = p.v2.id .. " " .. e.uid .. "/" .. cn.id
          local g = by_id[cn.id]
          assert(g, where .. ": connector missing")
          listed = listed + 1
          n = n + 1
          assert.equal(cn.standard, g.standard, where)
          assert.same({ cn.standard }, g.standards, where)
          assert.equal(tostring(V2_ID[cn.standard]), g.v2TypeId, where)
          assert.equal(cn.maxPower, g.maxPower, where)
          assert.equal(cn.powerType, g.powerType, where)
          assert.equal(cn.maxCurrent, g.maxCurrent, where)
          assert.equal(cn.maxVoltage, g.maxVoltage, where)
          assert.equal(cn.format, g.format, where)
          if cn.powerType == "ac2PhaseSplit" then split = split + 1 end
        end
        assert.equal(listed, #got[e.uid].connectors, p.v2.id .. " " .. e.uid .. ": extra connectors")
      end
    end
    assert.is_true(n > 1000)
    assert.is_true(split > 0, "no split-phase connector in the boxes")
  end)

  it("have the same connector groups and counts", function()
    -- v2 groups are v3's split by cable/socket (a v2 group has one fixedCable): a v3
    -- group (standard, maxPower) is one v2 group, or two when both formats occur.
    -- Each v2 group counts its EVSEs once, as v3's connectorCount does; its expected
    -- counts come from the v3 EVSEs with a connector of its type, power and format.
    local split = 0
    for _, p in ipairs(pairs_of) do
      local want, got = {}, {}
      for _, g in ipairs(p.v3.connectorGroups or {}) do want[g.standard .. "/" .. g.maxPower] = g end
      for _, g in ipairs(p.v2.connectorGroups or {}) do
        local k = tostring(g.standard) .. "/" .. tostring(g.maxPower)
        got[k] = got[k] or {}
        table.insert(got[k], g)
      end
      assert.same(sorted_keys(want), sorted_keys(got), p.v2.id)
      local v3conn = {}
      for _, e in ipairs(p.v3.evses or {}) do
        for _, cn in ipairs(e.connectors) do v3conn[e.uid .. " " .. cn.id] = cn end
      end
      -- v3 EVSEs (uid -> status) that have a connector of the standard, power and format
      local function v3_evses(standard, power, fmt)
        local out = {}
        for _, e in ipairs(p.v3.evses or {}) do
          for _, cn in ipairs(e.connectors) do
            if cn.standard == standard and cn.maxPower == power and cn.format == fmt then out[e.uid] = e.status end
          end
        end
        return out
      end
      for k, g in pairs(want) do
        local list = got[k]
        local where = p.v2.id .. " " .. k
        local wu, gu = {}, {}
        for _, r in ipairs(g.connectors or {}) do wu[r.evseUid] = true end
        local formats = {}
        for _, v in ipairs(list) do
          local fmt
          for _, r in ipairs(v.connectors or {}) do
            gu[r.evseUid] = true
            for _, id in ipairs(r.connectorIds) do
              local cn = assert(v3conn[r.evseUid .. " " .. id], where .. ": " .. r.evseUid .. "/" .. id)
              assert(fmt == nil or fmt == cn.format, where .. ": a v2 group of mixed formats")
              fmt = cn.format
            end
          end
          assert(fmt and not formats[fmt], where .. ": two v2 groups of format " .. tostring(fmt))
          formats[fmt] = true
          local count, available = 0, 0
          for _, status in pairs(v3_evses(g.standard, g.maxPower, fmt)) do
            count = count + 1
            if status == "available" then available = available + 1 end
          end
          assert.equal(count, v.connectorCount, where .. " " .. fmt)
          assert.equal(available, v.availableConnectorCount, where .. " " .. fmt)
        end
        assert.same(sorted_keys(wu), sorted_keys(gu), where)
        if #list == 1 then
          assert.equal(g.connectorCount, list[1].connectorCount, where)
          assert.equal(g.availableConnectorCount, list[1].availableConnectorCount, where)
        else
          split = split + 1
        end
      end
    end
    assert.is_true(split > 0, "no v3 group with both cables and sockets in the boxes")
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

end)

describe("the same two-phase site through v2 and v3", function()
  -- A hand-made site (the bundled data has no ac2Phase connector): a Type 2 socket at
  -- 7.4 kW on two of three phases (ac2Phase), and a NEMA 14-50 socket at 9.6 kW split
  -- phase (ac2PhaseSplit). v2's `phases` is 2 for both; the emulator's group names
  -- the kind in powerFeedType (docs/EMULATOR.md), so a reader can tell them apart.
  local ep = require("emulator_process")
  local emu, data, c

  setup(function()
    data = os.tmpname() .. ".lua"
    local f = assert(io.open(data, "w"))
    f:write([[
local function c(id, standard, pt, v, a, p)
  return { id = id, standard = standard, format = "socket", powerType = pt,
    maxVoltage = v, maxCurrent = a, maxPower = p }
end
local loc = {
  id = "here:evcp:charginglocation:two-phase-site",
  location = { lat = 40.5, lng = -100.5 }, name = "Two phase",
  evses = {
    { uid = "E1", status = "available", modified = "2025-03-01T12:00:00Z",
      connectors = { c("E1-a", "IEC_62196_T2", "ac2Phase", 230, 16, 7400) } },
    { uid = "E2", status = "available", modified = "2025-03-01T12:00:00Z",
      connectors = { c("E2-a", "NEMA_14_50", "ac2PhaseSplit", 120, 40, 9600) } },
  },
}
return { locations = { loc }, by_content_id = { ["two-phase-site"] = loc },
  countries = { { countryCode = "USA" } } }
]])
    f:close()
    emu = ep.start("--data " .. ep.shell_quote(data) .. " --status-interval 0 --api-key k1")
    c = h.client({ base_url = emu.url, api_key = "k1" })
  end)

  teardown(function()
    if c then c:close() end
    ep.stop_all()
    if data then os.remove(data) end
  end)

  it("have the same power types", function()
    local v2 = assert(c.v2:pool("two-phase-site")).items[1]:totable()
    local v3 = assert(c:location("two-phase-site", { fields = { "evses" } })):totable()
    local want, got = {}, {}
    for _, e in ipairs(v3.evses) do want[e.connectors[1].id] = e.connectors[1].powerType end
    for _, e in ipairs(v2.evses) do got[e.connectors[1].id] = e.connectors[1].powerType end
    assert.same({ ["E1-a"] = "ac2Phase", ["E2-a"] = "ac2PhaseSplit" }, want)
    assert.same(want, got)
  end)
end)
