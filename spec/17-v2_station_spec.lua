-- evcp.v2.station's conversion: expected values written by hand from the
-- mapping rules in station.lua's header; hostile stations stay linear; the
-- arguments are checked.
local station = require("evcp.v2.station")
local cjson = require("cjson")

local clock = os.clock

local function st(groups, extra)
  local s = { position = { latitude = 51.5, longitude = -0.1 }, poolId = "P", connectors = { connector = groups } }
  for k, v in pairs(extra or {}) do s[k] = v end
  return s
end

describe("evcp.v2.station.to_v3", function()
  it("maps a two-group station by the rules (hand-written expectation)", function()
    local s = st({
      { supplierName = "Brand", supplierUID = "UID1", connectorType = { id = "36" }, maxPowerLevel = 22,
        chargeCapacity = "380-480VAC, 3-phase at max. 32 A", fixedCable = false, lastUpdateTimestamp = "T1",
        connectorStatuses = { connectorStatus = {
          { cpoEvseId = "E1", cpoConnectorId = "1", state = "AVAILABLE" },
          { cpoEvseId = "E2", state = "OCCUPIED" },
        } } },
      { connectorType = { id = 33 }, maxPowerLevel = "50", chargeCapacity = "1000-1000VDC, at max 300A",
        fixedCable = true, chargingPoint = { numberOfConnectors = 4, lastUpdateTimestamp = "T2" },
        connectorStatuses = { connectorStatus = { cpoEvseId = "E1", cpoConnectorId = "2", state = "AVAILABLE" } } },
    }, { cpoId = 77, name = "N", address = { city = "London", country = "GBR" },
         entrancePosition = { latitude = 51.4, longitude = -0.2 } })
    local t = assert(station.to_v3(s, "x"))
    assert.equal("here:evcp:charginglocation:P", t.id)
    assert.equal("77", t.cpoLocationId)
    assert.same({ name = "Brand", partnerId = "UID1" }, t.operator)
    assert.same({ city = "London", countryCode = "GBR" }, t.address)
    assert.same({ { lat = 51.4, lng = -0.2 } }, t.accessPoints)
    assert.equal(s, t.v2)
    local three = { "IEC_60309_2_THREE_16", "IEC_60309_2_THREE_32", "IEC_60309_2_THREE_64" }
    local ac = { standards = three, v2TypeId = "36", format = "socket", powerType = "ac3Phase",
      maxVoltage = 277, maxCurrent = 32, maxPower = 22000 }
    local function with(t0, extra)
      local o = {}
      for k, v in pairs(t0) do o[k] = v end
      for k, v in pairs(extra) do o[k] = v end
      return o
    end
    local dc = { standard = "IEC_62196_T1_COMBO", standards = { "IEC_62196_T1_COMBO" }, v2TypeId = "33",
      format = "cable", powerType = "dc", maxVoltage = 1000, maxCurrent = 300, maxPower = 50000 }
    assert.same({
      { uid = "E1", status = "available", modified = "T1",
        connectors = { with(ac, { id = "1" }), with(dc, { id = "2" }) } },
      { uid = "E2", status = "charging", modified = "T1", connectors = { with(ac, { id = "E2" }) } },
    }, t.evses)
    assert.same({
      { standards = three, v2TypeId = "36", maxPower = 22000, connectorCount = 2, availableConnectorCount = 1,
        connectors = { { evseUid = "E1", connectorIds = { "1" } }, { evseUid = "E2", connectorIds = { "E2" } } } },
      { standard = "IEC_62196_T1_COMBO", standards = { "IEC_62196_T1_COMBO" }, v2TypeId = "33", maxPower = 50000,
        connectorCount = 4, availableConnectorCount = 1,
        connectors = { { evseUid = "E1", connectorIds = { "2" } } } },
    }, t.connectorGroups)
    if math.type then -- integers where v3 has integers
      assert.equal("integer", math.type(t.evses[1].connectors[1].maxPower))
      assert.equal("integer", math.type(t.connectorGroups[2].connectorCount))
    end
    -- each group owns its standards (never the mapping table itself)
    t.connectorGroups[1].standards[1] = "X"
    local t2 = assert(station.to_v3(s, "x"))
    assert.equal("IEC_60309_2_THREE_16", t2.connectorGroups[1].standards[1])
  end)

  it("names the station in its messages", function()
    assert.same({ nil, "evStations.evStation[3]: expected a station object" },
      { station.to_v3(5, "evStations.evStation", 3) })
    assert.same({ nil, "s.position: expected latitude and longitude numbers" },
      { station.to_v3({ position = { latitude = 0 / 0, longitude = 1 } }, "s") })
    assert.same({ nil, "s[1]: station has neither poolId nor id" },
      { station.to_v3({ position = { latitude = 1, longitude = 1 } }, "s", 1) })
  end)

  it("raises on misuse, naming the function", function()
    assert.has_error(function() station.to_v3({}, nil) end,
      "evcp.v2.station.to_v3: argument #2 (where) must be a string, got nil")
    assert.has_error(function() station.to_v3({}, "x", {}) end,
      "evcp.v2.station.to_v3: argument #3 (i) must be a number or nil, got table")
  end)

  -- Finding a connector id on an EVSE used to scan the EVSE's connectors:
  -- 20,000 items of one EVSE took ~2e8 comparisons (10 s on Lua 5.4). Now
  -- every lookup goes through a hash past 8 entries.
  it("stays linear on many connectors of one EVSE and many EVSEs of one group", function()
    local function items(n, same_evse)
      local list = {}
      for k = 1, n do
        list[k] = { cpoEvseId = same_evse and "E" or ("E" .. k), cpoConnectorId = tostring(k), state = "AVAILABLE" }
      end
      return { connectorStatus = list }
    end
    -- time grows 10 times from 2,000 to 20,000 items (100 times when
    -- quadratic); relative, so that slow hosts (valgrind, ASan) do not matter
    local function run(n, same_evse)
      local s = st({ { connectorType = { id = "33" }, connectorStatuses = items(n, same_evse) },
                     { connectorType = { id = "33" }, connectorStatuses = items(n, same_evse) } })
      collectgarbage()
      local t0 = clock()
      local t = assert(station.to_v3(s, "x"))
      return clock() - t0, t
    end
    for _, same_evse in ipairs({ true, false }) do
      local small = run(2000, same_evse)
      local dt, t = run(20000, same_evse)
      assert.is_true(dt < 30 * small + 0.05, ("took %.4f s against %.4f s for a tenth"):format(dt, small))
      if same_evse then
        assert.equal(1, #t.evses)
        assert.equal(20000, #t.evses[1].connectors) -- the second group repeats the ids
        assert.equal(20000, #t.connectorGroups[1].connectors[1].connectorIds)
        assert.is_nil(t.connectorGroups[2].connectors)
      else
        assert.equal(20000, #t.evses)
        assert.equal(20000, #t.connectorGroups[1].connectors)
        assert.equal(20000, t.connectorGroups[1].availableConnectorCount)
      end
    end
  end)

  it("repeats the uid-based connector id per group, as the rules say", function()
    local s = st({
      { connectorStatuses = { connectorStatus = { { cpoEvseId = "E" } } } },
      { connectorStatuses = { connectorStatus = { { cpoEvseId = "E" }, { cpoEvseId = "E" } } } },
      { connectorStatuses = { connectorStatus = { {} } } },
    })
    local t = assert(station.to_v3(s, "x"))
    assert.equal(cjson.encode({ "E", "E/2" }),
      cjson.encode({ t.evses[1].connectors[1].id, t.evses[1].connectors[2].id }))
    assert.equal(2, #t.evses[1].connectors)
    assert.equal("P/3/1", t.evses[2].uid)
    assert.equal("P/3/1", t.evses[2].connectors[1].id)
  end)
  -- to_v3 keeps small memos (type ids, electrical texts, power levels,
  -- brands; MAX_MEMO = 512 entries each, started afresh when full) and a
  -- fixed table of small counts. These pin that none of it shows in results.
  describe("memos and shared lookups", function()
    local core = require("evcp.core")

    it("gives each station its own tables: a change through one Location or result is not seen by another",
      function()
        local function one() -- two stations alike: same type id, texts, brand
          return st({ { connectorType = { id = "33" }, chargeCapacity = "1000-1000VDC, at max 300A",
            maxPowerLevel = 50, connectorStatuses = { connectorStatus = { { cpoEvseId = "E", state = "AVAILABLE" } } } } },
            { brand = "B" })
        end
        local a, b = assert(station.to_v3(one(), "x")), assert(station.to_v3(one(), "x"))
        a.connectorGroups[1].standards[1] = "X"
        a.evses[1].connectors[1].maxPower = 1
        a.operator.name = "Y"
        assert.same({ "IEC_62196_T1_COMBO" }, b.connectorGroups[1].standards)
        assert.equal(50000, b.evses[1].connectors[1].maxPower)
        assert.equal("B", b.operator.name)
        -- through Locations (core keeps the tables and caches copies by node)
        local la, lb = assert(core.location(assert(station.to_v3(one(), "x")))),
          assert(core.location(assert(station.to_v3(one(), "x"))))
        la.connectorGroups[1].standards[1] = "X"
        assert.equal("X", la.connectorGroups[1].standards[1]) -- (the copy core hands out)
        assert.equal("IEC_62196_T1_COMBO", lb.connectorGroups[1].standards[1])
        local ca
        for evse in la:evses() do for c in evse:connectors() do ca = c end end
        ca.standards[2] = "Z"
        for evse in lb:evses() do for c in evse:connectors() do assert.same({ "IEC_62196_T1_COMBO" }, c.standards) end end
        -- and the mapping table itself is untouched
        assert.same({ "IEC_62196_T1_COMBO" }, assert(station.to_v3(one(), "x")).connectorGroups[1].standards)
      end)

    it("still reads right once its memos have filled up and started afresh", function()
      -- 1,300 distinct texts of each kind (more than twice MAX_MEMO), each
      -- checked by a hand-derived expectation, then the first ones again
      local function check(i)
        local volts, amps = 100 + i, 1 + i % 97
        local s = st({ { connectorType = { id = tostring(1000 + i) }, maxPowerLevel = i / 8,
          chargeCapacity = volts .. "-" .. volts .. "VDC, at max " .. amps .. "A",
          supplierName = "S" .. i,
          connectorStatuses = { connectorStatus = { { cpoEvseId = "E", physicalReference = "R" .. i } } } } })
        local t = assert(station.to_v3(s, "x"))
        local g, c = t.connectorGroups[1], t.evses[1].connectors[1]
        assert.equal(tostring(1000 + i), g.v2TypeId)
        assert.is_nil(g.standards) -- no such v2 id
        assert.equal(math.floor(i / 8 * 1000 + 0.5), c.maxPower)
        assert.equal(volts, c.maxVoltage)
        assert.equal(amps, c.maxCurrent)
        assert.equal("dc", c.powerType)
        assert.equal("S" .. i, t.operator.name)
        assert.equal("R" .. i, t.evses[1].physicalReference)
      end
      for i = 1, 1300 do check(i) end
      for i = 1, 20 do check(i) end
      -- a known id and text after the memos started afresh
      local t = assert(station.to_v3(st({ { connectorType = { id = "36" }, chargeCapacity = "230-230VAC, 1-phase at max 16A",
        connectorStatuses = { connectorStatus = { {} } } } }), "x"))
      assert.same({ "IEC_60309_2_THREE_16", "IEC_60309_2_THREE_32", "IEC_60309_2_THREE_64" },
        t.connectorGroups[1].standards)
      assert.equal("ac1Phase", t.evses[1].connectors[1].powerType)
      assert.equal(230, t.evses[1].connectors[1].maxVoltage)
    end)

    it("reads a value of another type that equals a remembered one by its own type", function()
      -- "7" (a string, remembered) and 7 (a number) are different keys
      local function conn(kw, n)
        local s = st({ { maxPowerLevel = kw, chargingPoint = { numberOfConnectors = n },
          connectorStatuses = { connectorStatus = { { cpoEvseId = "E" } } } } })
        return assert(station.to_v3(s, "x")).connectorGroups[1]
      end
      assert.equal(7000, conn("7", "2").maxPower)
      assert.equal(7000, conn(7, 2).maxPower)
      assert.equal(2, conn("7", "2").connectorCount)
      assert.equal(2, conn(7, 2.0).connectorCount)
      -- (a count that is not one gives way to the one listed EVSE)
      assert.is_nil(conn(true, true).maxPower)
      assert.equal(1, conn(true, true).connectorCount)
      assert.is_nil(conn(0 / 0, 0 / 0).maxPower)
      assert.equal(1, conn(0 / 0, 0 / 0).connectorCount)
      assert.equal(1, conn(7, "x").connectorCount)
      assert.equal(1, conn(7, 1.5).connectorCount)
      -- -0.0 counts as floor(-0.0) does on this runtime (LuaJIT keeps the sign)
      local z = conn(7, -0.0).connectorCount
      assert.equal(0, z)
      assert.equal(1 / math.floor(-0.0), 1 / z)
      if math.type then assert.equal("integer", math.type(conn(7, 3.0).connectorCount)) end
    end)

    it("checks `where` and i on every call, not only the first", function()
      local s = st({})
      assert(station.to_v3(s, "x", 1))
      assert(station.to_v3(s, "x", 0 / 0)) -- a number
      assert.has_error(function() station.to_v3(s, 5) end,
        "evcp.v2.station.to_v3: argument #2 (where) must be a string, got number")
      assert.has_error(function() station.to_v3(s, "x", "1") end,
        "evcp.v2.station.to_v3: argument #3 (i) must be a number or nil, got string")
      assert.has_error(function() station.to_v3(s, "x", false) end,
        "evcp.v2.station.to_v3: argument #3 (i) must be a number or nil, got boolean")
      assert(station.to_v3(s, "x"))
      assert.same({ nil, "x.position: expected latitude and longitude numbers" },
        { station.to_v3({ position = { latitude = "1", longitude = 1 }, poolId = "P" }, "x") })
      assert.same({ nil, "x.position: expected latitude and longitude numbers" },
        { station.to_v3({ position = { latitude = 1 }, poolId = "P" }, "x") })
    end)

    it("takes a connector id equal to the EVSE id as that id, and a number as its text", function()
      local s = st({ { connectorStatuses = { connectorStatus = {
        { cpoEvseId = "E1", cpoConnectorId = "E1" },
        { cpoEvseId = 7, cpoConnectorId = 7 },
        { cpoEvseId = "", cpoConnectorId = "" },
      } } } })
      local t = assert(station.to_v3(s, "x"))
      assert.equal("E1", t.evses[1].connectors[1].id)
      assert.equal("7", t.evses[2].uid)
      assert.equal("7", t.evses[2].connectors[1].id)
      assert.equal("P/1/3", t.evses[3].uid)
      assert.equal("P/1/3", t.evses[3].connectors[1].id)
    end)
  end)
end)
