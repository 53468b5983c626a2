-- Tests for the emulator data set (emulator/lua/evcp_emulator/dataset.lua and its
-- sources). Run from the repository root (sh spec/run.sh lua5.4 spec/20-dataset_spec.lua).

local dataset = require("emulator_process").module("dataset")
local cjson = require("cjson").new()

local RUNTIME = jit and jit.version or _VERSION

local t0 = os.clock()
local db = dataset.load()
local LOAD_SECONDS = os.clock() - t0
print(string.format("\n[20-dataset] %s: %d locations loaded in %.3f s (cpu)", RUNTIME,
  #db.locations, LOAD_SECONDS))

---------------------------------------------------------------------------------------------
-- helpers

local function is_int(v)
  if type(v) ~= "number" then return false end
  if math.type then return math.type(v) == "integer" end
  return v == math.floor(v)
end

local function content_id(id) return (id:match("([^:]*)$")) end

-- JSON with sorted object keys, so that both runtimes produce the same bytes.
local function canon(v)
  local t = type(v)
  if t ~= "table" then return cjson.encode(v) end
  if #v > 0 or next(v) == nil then
    local parts = {}
    for i = 1, #v do parts[i] = canon(v[i]) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = cjson.encode(k) .. ":" .. canon(v[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function digest(d)
  local ids, sample = {}, {}
  for i, r in ipairs(d.locations) do
    ids[#ids + 1] = r.id
    if i <= 12 or i % 211 == 0 then sample[#sample + 1] = canon(r) end
  end
  table.sort(ids)
  return dataset.hex64(table.concat(ids, "\n")) .. "/" .. dataset.hex64(table.concat(sample, "\n"))
    .. "/" .. dataset.hex64(canon(d.countries)) .. "/" .. #d.locations
end

local function distance_m(lat1, lng1, lat2, lng2)
  local r = math.pi / 180
  local dlat, dlng = (lat2 - lat1) * r, (lng2 - lng1) * r
  local a = math.sin(dlat / 2) ^ 2 + math.cos(lat1 * r) * math.cos(lat2 * r) * math.sin(dlng / 2) ^ 2
  local atan2 = math.atan2 or math.atan
  return 6371000 * 2 * atan2(math.sqrt(a), math.sqrt(1 - a))
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function set(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

local STATUS = set({ "available", "blocked", "charging", "inoperative", "outOfOrder", "reserved",
  "unknown", "operational" })
local FORMAT = set({ "socket", "cable" })
local POWER = set({ "ac1Phase", "ac2Phase", "ac2PhaseSplit", "ac3Phase", "dc" })
local RESTRICTION = set({ "customersOnly", "brandOnly", "carSharingOnly", "taxisOnly", "other" })
local TTYPE = set({ "adhoc", "emsp", "cpo" })
local DIMENSION = set({ "time", "energy", "flat", "parkingTime" })
local PARKING = set({ "alongMotorway", "parkingGarage", "parkingLot", "onDriveway", "onStreet",
  "undergroundGarage" })
local DAYS = set({ "mo", "tu", "we", "th", "fr", "sa", "su" })
local UUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"
local RFC3339 = "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$"
local HHMMSS = "^[012]%d:[0-5]%d:[0-5]%d$"

-- Returns a list of problems for one location record.
local function check_location(r)
  local bad = {}
  local function fail(msg) bad[#bad + 1] = r.id .. ": " .. msg end
  local function business(b, what)
    if type(b) ~= "table" then return fail(what .. " missing") end
    if type(b.name) ~= "string" or b.name == "" then fail(what .. " name") end
    if type(b.partnerId) ~= "string" or #b.partnerId ~= 36 then fail(what .. " partnerId") end
  end
  if not r.id:match("^here:evcp:charginglocation:[%w]+%-[%w_%-]+$") then fail("id pattern") end
  if type(r.location) ~= "table" or type(r.location.lat) ~= "number" or type(r.location.lng) ~= "number"
    or math.abs(r.location.lat) > 90 or math.abs(r.location.lng) > 180 then fail("location") end
  if type(r.name) ~= "string" or r.name == "" then fail("name") end
  business(r.operator, "operator")
  if r.suboperator then business(r.suboperator, "suboperator") end
  for _, e in ipairs(r.eMobilityServiceProviders or {}) do business(e, "emsp") end
  for _, x in ipairs(r.restrictions or {}) do
    if not RESTRICTION[x] then fail("restriction " .. tostring(x)) end
  end
  if r.parkingType and not PARKING[r.parkingType] then fail("parkingType") end
  local a = r.address
  if type(a) ~= "table" or not tostring(a.countryCode):match("^%u%u%u$") or type(a.label) ~= "string" then
    fail("address")
  end
  if type(r.timeZone) ~= "string" or not r.timeZone:match("^%a+/[%a_]+$") then fail("timeZone") end
  if r.supportPhoneNumber and not r.supportPhoneNumber:match("^%+%d+$") then fail("phone") end
  local oh = r.openingHours
  if oh and not oh.open24x7 then
    if type(oh.regularSchedule) ~= "table" then fail("openingHours") end
    for _, g in ipairs(oh.regularSchedule or {}) do
      for _, d in ipairs(g.days) do if not DAYS[d] then fail("day " .. d) end end
      for _, p in ipairs(g.periods) do
        if not (p.from:match(HHMMSS) and p.to:match(HHMMSS)) then fail("period") end
        if p.from >= "24" or p.to >= "24" then fail("period hour") end
      end
    end
  end
  local ntariffs = r.tariffs and #r.tariffs or 0
  for _, t in ipairs(r.tariffs or {}) do
    if not TTYPE[t.type or "adhoc"] then fail("tariff type") end
    if (t.type == "cpo" or t.type == "emsp") and type(t.name) ~= "string" then fail("tariff name") end
    if type(t.partner) ~= "string" or type(t.partnerId) ~= "string" or #t.partnerId ~= 36 then
      fail("tariff partner")
    end
    if not tostring(t.currency):match("^%u%u%u$") then fail("currency") end
    if type(t.elements) ~= "table" or #t.elements < 1 then fail("tariff elements") end
    for _, el in ipairs(t.elements or {}) do
      if #el.components < 1 or #el.components > 4 then fail("components count") end
      local dims = {}
      for _, c in ipairs(el.components) do
        if not DIMENSION[c.dimension] or dims[c.dimension] then fail("dimension") end
        dims[c.dimension] = true
        if type(c.price) ~= "number" or c.price < 0 then fail("price") end
        if c.step ~= nil and not is_int(c.step) then fail("step integer") end
        if c.dimension == "flat" and c.step ~= nil then fail("flat with step") end
      end
    end
  end
  if type(r.evses) ~= "table" or #r.evses == 0 then fail("no evses") end
  for _, e in ipairs(r.evses or {}) do
    if type(e.uid) ~= "string" or e.uid == "" then fail("evse uid") end
    if not STATUS[e.status] then fail("evse status " .. tostring(e.status)) end
    if type(e.modified) ~= "string" or not e.modified:match(RFC3339) then fail("modified") end
    if not (type(e.id) == "string" and e.id:match("^here:evcp:evse:" .. string.rep("[0-9a-f]", 64) .. "$")) then
      fail("evse id")
    end
    if e.connectorGroups then fail("connectorGroups present") end
    if type(e.connectors) ~= "table" or #e.connectors == 0 then fail("connectors") end
    local cids = {}
    for _, c in ipairs(e.connectors or {}) do
      if type(c.id) ~= "string" or cids[c.id] then fail("connector id") end
      cids[c.id or ""] = true
      if type(c.standard) ~= "string" or not c.standard:match("^[A-Z][A-Z0-9_]+$") then fail("standard") end
      if not FORMAT[c.format] then fail("format") end
      if not POWER[c.powerType] then fail("powerType") end
      if not is_int(c.maxVoltage) or c.maxVoltage < 1 then fail("maxVoltage") end
      if not is_int(c.maxCurrent) or c.maxCurrent < 1 then fail("maxCurrent") end
      if c.maxPower ~= nil and (not is_int(c.maxPower) or c.maxPower < 1) then fail("maxPower") end
      for _, i in ipairs(c.tariffIndexes or {}) do
        if not is_int(i) or i < 0 or i >= ntariffs then fail("tariffIndex " .. tostring(i)) end
      end
      if c.tariffIndexes and #c.tariffIndexes == 0 then fail("empty tariffIndexes") end
    end
  end
  -- lua-cjson 2.1.0 has no empty-array marker: an empty table would be encoded as {}
  local function no_empty(v, path)
    if type(v) == "table" then
      if next(v) == nil then fail("empty table at " .. path) end
      for k, x in pairs(v) do no_empty(x, path .. "." .. tostring(k)) end
    end
  end
  no_empty(r, "")
  return bad
end

---------------------------------------------------------------------------------------------

describe("emulator dataset #slow", function()
  it("loads quickly with the expected API", function()
    assert.is_table(db.locations)
    assert.is_table(db.by_content_id)
    assert.is_table(db.countries)
    assert.is_true(#db.locations > 3000, "more than 3000 locations")
    if jit then assert.is_true(LOAD_SECONDS < 1.5, "LuaJIT load < 1.5 s, was " .. LOAD_SECONDS) end
  end)

  it("has one module per source, each with its file", function()
    local names = {}
    for i, src in ipairs(dataset.SOURCES) do
      names[i] = src.name
      local f = io.open(dataset.default_dir() .. "/" .. src.file, "rb")
      assert.is_truthy(f, src.file)
      f:close()
      assert.is_number(db.counts[src.name])
    end
    assert.are.same({ "here-seeds", "herepy-berlin", "synthetic-berlin", "uk-ncr", "afdc", "bnetza" },
      names)
  end)

  it("has records from every source", function()
    assert.equals(4, db.counts["here-seeds"])
    assert.equals(1, db.counts["herepy-berlin"])
    assert.equals(5, db.counts["synthetic-berlin"])
    assert.is_true(db.counts["uk-ncr"] > 3500)
    assert.is_true(db.counts.afdc > 2500)
    assert.is_true(db.counts.bnetza > 150)
    assert.equals(4, db.skipped["uk-ncr"]) -- 2 broken records, each split into 2 rows
  end)

  it("has unique content ids and evse ids, all indexed", function()
    local seen, evses, n = {}, {}, 0
    for _, r in ipairs(db.locations) do
      local cid = content_id(r.id)
      assert.is_nil(seen[cid], "duplicate " .. cid)
      seen[cid] = true
      assert.equals(r, db.by_content_id[cid])
      for _, e in ipairs(r.evses) do
        assert.is_nil(evses[e.id], "duplicate evse id " .. e.id)
        evses[e.id] = true
      end
      n = n + 1
    end
    local m = 0
    for _ in pairs(db.by_content_id) do m = m + 1 end
    assert.equals(n, m)
  end)

  it("satisfies the v3 schema rules in every record", function()
    local problems = {}
    for _, r in ipairs(db.locations) do
      for _, p in ipairs(check_location(r)) do
        if #problems < 20 then problems[#problems + 1] = p end
      end
    end
    assert.same({}, problems)
  end)

  it("keeps seed 001 content exactly as published", function()
    local expected = cjson.decode(read("spec/fixtures/seed-001-evses.json"))
    local r = db.by_content_id["246udbvy497hq-aGVyZS1ldjplY29tb3ZlbWVudDoyMDEyMTg1ODgz"]
    assert.is_table(r)
    local got = {}
    for k in pairs(expected) do got[k] = r[k] end
    got = cjson.decode(cjson.encode(got))
    for _, e in ipairs(got.evses) do
      for _, c in ipairs(e.connectors) do c.tariffIndexes = nil end
    end
    assert.same(expected, got)
    -- the connector groups computed from these evses match the tutorial
    local groups = {}
    for _, e in ipairs(r.evses) do
      for _, c in ipairs(e.connectors) do
        local k = c.standard .. "/" .. c.maxPower
        local g = groups[k] or { count = 0, avail = 0 }
        groups[k] = g
        g.count = g.count + 1
        if e.status == "available" then g.avail = g.avail + 1 end
      end
    end
    assert.same({
      ["CHADEMO/50000"] = { count = 1, avail = 0 },
      ["IEC_62196_T2/11000"] = { count = 2, avail = 2 },
      ["IEC_62196_T2_COMBO/150000"] = { count = 2, avail = 1 },
    }, groups)
  end)

  it("contains the other seed locations", function()
    local s3 = db.by_content_id["246udbvy413fw-aGVyZS1ldjplY29tb3ZlbWVudDoyMDEyNDI4MTEx"]
    local s4 = db.by_content_id["56u1516726h2-aGVyZS1ldjplY29tb3ZlbWVudDoxMjc3ODgxMDM"]
    local s0 = db.by_content_id["246ued1sw0v2m-aGVyZS1ldjplY29tb3ZlbWVudDoxNTUyMzM5Nzc0"]
    assert.is_table(s3)
    assert.is_table(s4)
    assert.is_table(s0)
    local std = {}
    for _, e in ipairs(s3.evses) do for _, c in ipairs(e.connectors) do std[c.standard] = true end end
    assert.is_true(std.IEC_62196_T2 and std.IEC_62196_T2_COMBO)
    assert.equals("FIN", s3.address.countryCode)
    assert.equals("here:evcp:evse:19fe84d8dfd4528eae9c7fce06acb82c4bba1d8b9ed99435395f13a05fa6eefc",
      s4.evses[1].id)
    assert.equals("Recharge", s0.name)
    assert.equals(4, #s0.evses)
    assert.equals("Oulu", s0.address.city)
    assert.equals(300000, s0.evses[1].connectors[1].maxPower)
    assert.equals("IEC_62196_T2_COMBO", s0.evses[1].connectors[1].standard)
    assert.equals("charging", s0.evses[4].status)
    assert.equals(0.4, s0.tariffs[1].elements[1].components[1].price)
  end)

  it("has at least 5 Type 2 locations within 5 km of the Berlin example point", function()
    local n = 0
    for _, r in ipairs(db.locations) do
      if distance_m(52.516667, 13.383333, r.location.lat, r.location.lng) <= 5000 then
        local t2 = false
        for _, e in ipairs(r.evses) do
          for _, c in ipairs(e.connectors) do
            if c.standard == "IEC_62196_T2" then t2 = true end
          end
        end
        if t2 then n = n + 1 end
      end
    end
    assert.is_true(n >= 5, "found " .. n)
  end)

  it("has tariffs of all three types, filterable by partner and name", function()
    local types, voltpass_basic, plus = {}, 0, 0
    for _, r in ipairs(db.locations) do
      for _, t in ipairs(r.tariffs or {}) do
        types[t.type] = (types[t.type] or 0) + 1
        if t.partnerId == "5e7a0c31-4b2d-4f6e-9a10-3c5d7e9f0a11" then
          assert.equals("VoltPass", t.partner)
          if t.name == "Basic" then voltpass_basic = voltpass_basic + 1 end
          if t.name == "Plus" then plus = plus + 1 end
        end
      end
    end
    assert.is_true(types.adhoc > 1000 and types.cpo > 100 and types.emsp > 100)
    assert.is_true(voltpass_basic > 100 and plus > 10)
    local k = db.by_content_id["246udbvy497hq-aGVyZS1ldjplY29tb3ZlbWVudDoyMDEyMTg1ODgz"]
    assert.equals(6, #k.tariffs)
  end)

  it("classifies Tesla connectors both ways", function()
    local brand_nacs, tesla_s = false, false
    for _, r in ipairs(db.locations) do
      local restricted = r.restrictions and r.restrictions[1] == "brandOnly"
      for _, e in ipairs(r.evses) do
        for _, c in ipairs(e.connectors) do
          if c.standard == "SAE_J3400" and restricted then brand_nacs = true end
          if c.standard == "TESLA_S" then tesla_s = true end
        end
      end
    end
    assert.is_true(brand_nacs)
    assert.is_true(tesla_s)
  end)

  it("builds country metadata", function()
    local codes = {}
    for i, c in ipairs(db.countries) do
      codes[i] = c.countryCode
      assert.is_table(c.operators)
      assert.is_table(c.connectorTypes)
      for _, o in ipairs(c.operators) do
        assert.is_string(o.name)
        assert.is_truthy(o.partnerId:match(UUID) or #o.partnerId == 36)
        if o.tariffs then assert.is_true(#o.tariffs > 0) end
      end
      for _, t in ipairs(c.connectorTypes) do
        assert.is_string(t.commonName)
        assert.is_true(is_int(t.maxPower) and t.maxPower >= 1)
        if t.legacyId ~= nil then assert.is_true(is_int(t.legacyId)) end
      end
    end
    assert.same({ "DEU", "FIN", "GBR", "USA" }, codes)
    local deu = db.countries[1]
    local t2
    for _, t in ipairs(deu.connectorTypes) do if t.standard == "IEC_62196_T2" then t2 = t end end
    assert.equals(31, t2.legacyId)
    assert.equals("Type 2 (Mennekes)", t2.commonName)
    local fin = db.countries[2]
    local names = {}
    for _, e in ipairs(fin.eMobilityServiceProviders) do names[e.name] = e end
    assert.is_table(names.Plugsurfing)
    assert.same({ { name = "Basic" }, { name = "Plus" } }, names.VoltPass.tariffs)
  end)

  it("parses CSV edge cases", function()
    local p = dataset.parse_csv
    assert.same({ { "a", "b" }, { "1", "x,y" }, { 'q"q', "two\nlines" } },
      p('a,b\n1,"x,y"\r\n"q""q","two\nlines"\n', ","))
    assert.same({ { "a", "b" }, { "1,5", "" } }, p("\239\187\191a;b\r\n1,5;\r\n", ";"))
    assert.same({ { "a" }, { "b" }, { "c" } }, p("a\rb\r\nc", ","))
  end)

  it("produces identical data on Lua 5.4 and LuaJIT", function()
    local mine = digest(db)
    -- compute the same digest in each runtime through a small driver script
    local driver = os.tmpname()
    local fh = assert(io.open(driver, "w"))
    fh:write([[
package.path = "./emulator/lua/?.lua;" .. package.path
local dataset = require("evcp_emulator.dataset")
local cjson = require("cjson").new()
]])
    fh:write("local function canon(v)\n" ..
      "  local t = type(v)\n" ..
      "  if t ~= 'table' then return cjson.encode(v) end\n" ..
      "  if #v > 0 or next(v) == nil then local p = {} for i = 1, #v do p[i] = canon(v[i]) end return '[' .. table.concat(p, ',') .. ']' end\n" ..
      "  local ks = {} for k in pairs(v) do ks[#ks + 1] = k end table.sort(ks)\n" ..
      "  local p = {} for i, k in ipairs(ks) do p[i] = cjson.encode(k) .. ':' .. canon(v[k]) end\n" ..
      "  return '{' .. table.concat(p, ',') .. '}'\nend\n" ..
      "local d = dataset.load()\n" ..
      "local ids, sample = {}, {}\n" ..
      "for i, r in ipairs(d.locations) do ids[#ids + 1] = r.id\n" ..
      "  if i <= 12 or i % 211 == 0 then sample[#sample + 1] = canon(r) end end\n" ..
      "table.sort(ids)\n" ..
      "io.write(dataset.hex64(table.concat(ids, '\\n')) .. '/' .. dataset.hex64(table.concat(sample, '\\n'))" ..
      " .. '/' .. dataset.hex64(canon(d.countries)) .. '/' .. #d.locations)\n")
    fh:close()
    local compared = 0
    for _, exe in ipairs({ "lua5.4", "luajit" }) do
      local probe = io.popen("command -v " .. exe .. " 2>/dev/null")
      local found = probe:read("*a")
      probe:close()
      if found ~= "" then
        local ph = io.popen(exe .. " " .. driver .. " 2>&1")
        local out = ph:read("*a")
        ph:close()
        assert.equals(mine, out, exe .. " digest")
        compared = compared + 1
      end
    end
    os.remove(driver)
    print(string.format("[20-dataset] digest %s (compared with %d runtime(s))", mine, compared))
    assert.is_true(compared >= 1)
  end)
end)
