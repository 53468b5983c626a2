-- evcp_emulator.dataset: the charging locations served by the evcp emulator.
--
-- dataset.load(dir) runs every source in SOURCES, in order: the hand-written locations
-- (HERE's seeds, the HerePy Berlin station, invented Berlin sites) and three public
-- station registers (UK NCR 2017, US AFDC Washington 2025, BNetzA Cologne 2022; see
-- <dir>/SOURCES.md), converted into HERE EV Charge Points API v3 `ChargingLocation`
-- records, then derives the country metadata. Each source is a module
-- evcp_emulator.source.*; what they share is evcp_emulator.convert. Everything is
-- deterministic: the same files give the same records on Lua 5.4 and LuaJIT 2.1.
--
-- Pure Lua 5.1/5.4 subset; the only dependency is lua-cjson.

local match, sort = string.match, table.sort
local C = require("evcp_emulator.convert")
local tables = require("evcp_emulator.tables")
local paths = require("evcp_emulator.paths")
local int = C.int

local M = {}

-- In this order; a converted register location whose content id is already taken is
-- dropped (the hand-written ones come first and are never dropped).
M.SOURCES = {
  require("evcp_emulator.source.here_seeds"),
  require("evcp_emulator.source.herepy_berlin"),
  require("evcp_emulator.source.synthetic_berlin"),
  require("evcp_emulator.source.uk_ncr"),
  require("evcp_emulator.source.us_afdc"),
  (require("evcp_emulator.source.bnetza")),
}

-- Short display names (evcp's own wording).
local COMMON_NAME = {
  CHADEMO = "CHAdeMO", CHAOJI = "ChaoJi",
  DOMESTIC_A = "Household type A (NEMA 1-15)", DOMESTIC_B = "Household type B (NEMA 5-15)",
  DOMESTIC_C = "Europlug (type C)", DOMESTIC_D = "Household type D", DOMESTIC_E = "Household type E",
  DOMESTIC_F = "Schuko (type F)", DOMESTIC_G = "UK 3-pin (type G)", DOMESTIC_H = "Household type H",
  DOMESTIC_I = "Household type I", DOMESTIC_J = "Swiss type J", DOMESTIC_K = "Household type K",
  DOMESTIC_L = "Household type L", DOMESTIC_M = "Household type M", DOMESTIC_N = "Household type N",
  DOMESTIC_O = "Household type O", GBT_AC = "GB/T AC", GBT_DC = "GB/T DC",
  IEC_60309_2_SINGLE_16 = "Industrial blue (16 A)", IEC_60309_2_THREE_16 = "Industrial red (16 A)",
  IEC_60309_2_THREE_32 = "Industrial red (32 A)", IEC_60309_2_THREE_64 = "Industrial red (63 A)",
  IEC_62196_T1 = "Type 1 (J1772)", IEC_62196_T1_COMBO = "CCS1", IEC_62196_T2 = "Type 2 (Mennekes)",
  IEC_62196_T2_COMBO = "CCS2", IEC_62196_T3A = "Type 3A", IEC_62196_T3C = "Type 3C (Scame)",
  NEMA_5_20 = "NEMA 5-20", NEMA_6_30 = "NEMA 6-30", NEMA_6_50 = "NEMA 6-50", NEMA_10_30 = "NEMA 10-30",
  NEMA_10_50 = "NEMA 10-50", NEMA_14_30 = "NEMA 14-30", NEMA_14_50 = "NEMA 14-50",
  PANTOGRAPH_BOTTOM_UP = "Pantograph (bottom up)", PANTOGRAPH_TOP_DOWN = "Pantograph (top down)",
  TESLA_R = "Tesla (Roadster)", TESLA_S = "Tesla (Model S)", SAE_J3400 = "NACS (SAE J3400)",
  MCS = "Megawatt Charging System",
}

-- country metadata

local function build_countries(records)
  local by_cc, list = {}, {}
  local function entry(map, b)
    local e = map[b.partnerId]
    if not e then
      e = { name = b.name, partnerId = b.partnerId, names = {} }
      map[b.partnerId] = e
    end
    return e
  end
  for _, rec in ipairs(records) do
    local cc = rec.address and rec.address.countryCode
    if cc then
      local c = by_cc[cc]
      if not c then
        c = { countryCode = cc, ops = {}, emsps = {}, types = {} }
        by_cc[cc] = c
        list[#list + 1] = c
      end
      if rec.operator then entry(c.ops, rec.operator) end
      if rec.suboperator then entry(c.ops, rec.suboperator) end
      for _, e in ipairs(rec.eMobilityServiceProviders or {}) do entry(c.emsps, e) end
      for _, t in ipairs(rec.tariffs or {}) do
        local ty = t.type or "adhoc"
        if t.name and ty ~= "adhoc" then
          local map = (ty == "emsp") and c.emsps or c.ops
          local e = entry(map, { name = t.partner, partnerId = t.partnerId })
          e.names[t.name] = true
        end
      end
      for _, ev in ipairs(rec.evses or {}) do
        for _, con in ipairs(ev.connectors) do
          local p = con.maxPower or 0
          local cur = c.types[con.standard]
          if not cur or p > cur then c.types[con.standard] = p end
        end
      end
    end
  end
  local function details(map)
    local arr = {}
    for _, e in pairs(map) do
      local d = { name = e.name, partnerId = e.partnerId }
      local names = {}
      for nm in pairs(e.names) do names[#names + 1] = nm end
      sort(names)
      if #names > 0 then
        d.tariffs = {}
        for i, nm in ipairs(names) do d.tariffs[i] = { name = nm } end
      end
      arr[#arr + 1] = d
    end
    sort(arr, function(a, b)
      if a.name ~= b.name then return a.name < b.name end
      return a.partnerId < b.partnerId
    end)
    if #arr == 0 then return nil end
    return arr
  end
  local out = {}
  for _, c in ipairs(list) do
    local types = {}
    for std, p in pairs(c.types) do
      types[#types + 1] = { standard = std, commonName = COMMON_NAME[std] or std,
        maxPower = int(p > 0 and p or 1), legacyId = tables.legacy_id(std) }
    end
    sort(types, function(a, b) return a.standard < b.standard end)
    out[#out + 1] = {
      countryCode = c.countryCode,
      operators = details(c.ops),
      eMobilityServiceProviders = details(c.emsps),
      connectorTypes = #types > 0 and types or nil,
    }
  end
  sort(out, function(a, b) return a.countryCode < b.countryCode end)
  return out
end

---------------------------------------------------------------------------------------------
---------------------------------------------------------------------------------------------
-- public API

-- The bundled dataset directory.
function M.default_dir()
  return paths.data_dir()
end

M.hex64 = function(s) C.init(); return C.hex64(s) end
M.hash32 = function(s) C.init(); return C.hash32(s) end
M.content_id = function(source, sid, lat, lng) C.init(); return C.content_id(source, sid, lat, lng) end
M.uuid_of = function(s) C.init(); return C.uuid_of(s) end
M.parse_csv = C.parse_csv

-- Load the data set. Returns db = { locations, by_content_id, countries, source_notes,
-- counts, skipped }: counts and skipped are keyed by source name.
function M.load(dir)
  C.init()
  dir = dir or M.default_dir()
  local records, notes = {}, {}
  local counts, skipped = {}, {}
  local by_cid = {}
  for _, src in ipairs(M.SOURCES) do
    if src.handwritten then
      local first = #records + 1
      counts[src.name] = src.load(dir .. "/" .. src.file, records, notes)
      for i = first, #records do by_cid[match(records[i].id, "([^:]*)$")] = records[i] end
    else
      local sites = {}
      local _, sk = src.load(dir .. "/" .. src.file, sites)
      skipped[src.name] = sk
      local kept = 0
      for _, site in ipairs(sites) do
        local rec, cid = C.build(site)
        if not by_cid[cid] then
          by_cid[cid] = rec
          records[#records + 1] = rec
          kept = kept + 1
        end
      end
      counts[src.name] = kept
    end
  end
  return {
    locations = records,
    by_content_id = by_cid,
    countries = build_countries(records),
    source_notes = notes,
    counts = counts,
    skipped = skipped,
  }
end

return M
