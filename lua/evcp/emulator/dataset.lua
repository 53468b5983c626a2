-- evcp.emulator.dataset: the charging locations served by the evcp emulator.
--
-- dataset.load(dir) reads the hand-written locations in <dir>/seed-locations.json and
-- converts three public station registers (UK NCR 2017, US AFDC Washington 2025,
-- BNetzA Cologne 2022; see <dir>/SOURCES.md) into HERE EV Charge Points API v3
-- `ChargingLocation` records. Everything is deterministic: the same files give the same
-- records, ids, statuses and tariffs on Lua 5.4 and LuaJIT 2.1.
--
-- Pure Lua 5.1/5.4 subset; the only dependency is lua-cjson.

local cjson = require("cjson").new()

local M = {}

local floor, fmod = math.floor, math.fmod
local byte, char, sub, find, format, gsub, lower, upper, match, gmatch, rep =
  string.byte, string.char, string.sub, string.find, string.format, string.gsub,
  string.lower, string.upper, string.match, string.gmatch, string.rep
local concat, sort, insert = table.concat, table.sort, table.insert
local tointeger = math.tointeger

---------------------------------------------------------------------------------------------
-- numbers

-- Round to the nearest integer and make sure Lua 5.4 stores it as an integer subtype.
local function int(x)
  local r = floor(x + 0.5)
  if tointeger then return tointeger(r) or r end
  return r
end

local function ceil_int(x)
  local r = floor(x)
  if r < x then r = r + 1 end
  return int(r)
end

-- Round a price to 4 decimals (a float; prices are JSON numbers, not integers).
local function money(x)
  return floor(x * 10000 + 0.5) / 10000
end

-- Parse a number written with either a decimal point or a decimal comma.
local function num(s)
  if s == nil or s == "" then return nil end
  return tonumber((gsub(s, ",", ".")))
end

---------------------------------------------------------------------------------------------
-- hashing (FNV-1a, 32 bit, without bit operators; every intermediate value stays < 2^53)

local XOR8 -- XOR8[a * 256 + b + 1] = a xor b, for bytes a and b

local function build_xor()
  XOR8 = {}
  local n = 1
  for a = 0, 255 do
    for b = 0, 255 do
      local r, p, x, y = 0, 1, a, b
      for _ = 1, 8 do
        local xa, yb = x % 2, y % 2
        if xa ~= yb then r = r + p end
        x, y, p = (x - xa) / 2, (y - yb) / 2, p * 2
      end
      XOR8[n] = int(r)
      n = n + 1
    end
  end
end

local FNV_BASIS = 2166136261

-- h * 16777619 mod 2^32, with 16777619 = 2^24 + 403
local function fnv32(s, h)
  h = h or FNV_BASIS
  local x = XOR8
  for i = 1, #s do
    local lo = h % 256
    h = h - lo + x[lo * 256 + byte(s, i) + 1]
    h = (h * 403 + (h % 256) * 16777216) % 4294967296
  end
  return h
end

-- A few extra rounds so that the low bits depend on the whole input.
local function mix32(h)
  h = fnv32("\0\1\2\3", h)
  return h
end

-- FNV's low bits are its weakest; rotate the well-mixed high bits down.
local function rot8(h)
  return floor(h / 256) + (h % 256) * 16777216
end

local function hash32(s)
  return rot8(mix32(fnv32(s)))
end

local PASS_SEEDS = {}

-- 64 lowercase hex digits: two full passes over the input with different seeds, then
-- eight short finishing passes, each seeded from both.
local WORD_TAGS = { "\1\9", "\2\8", "\3\7", "\4\6", "\5\5", "\6\4", "\7\3", "\8\2" }
local function hex64_from(a, b)
  local out = {}
  for i = 1, 8 do
    local w = fnv32(WORD_TAGS[i], (a + b * i) % 4294967296)
    out[i] = format("%08x", mix32(fnv32(WORD_TAGS[9 - i], (w + b) % 4294967296)))
  end
  return concat(out)
end

local function hex64(s)
  return hex64_from(fnv32(s, PASS_SEEDS[1]), fnv32(s, PASS_SEEDS[2]))
end

-- hex64(prefix .. s), reusing the hash state of the last prefix (FNV is a stream hash)
local last_prefix, last_a, last_b
local function hex64_prefixed(prefix, s)
  if prefix ~= last_prefix then
    last_prefix = prefix
    last_a, last_b = fnv32(prefix, PASS_SEEDS[1]), fnv32(prefix, PASS_SEEDS[2])
  end
  return hex64_from(fnv32(s, last_a), fnv32(s, last_b))
end

-- UUID-like partner id (8-4-4-4-12 lowercase hex) derived from a name.
local function uuid_of(s)
  local h = hex64(s)
  return sub(h, 1, 8) .. "-" .. sub(h, 9, 12) .. "-" .. sub(h, 13, 16) .. "-" ..
    sub(h, 17, 20) .. "-" .. sub(h, 21, 32)
end

---------------------------------------------------------------------------------------------
-- id encodings

local B32 = "0123456789bcdefghjkmnpqrstuvwxyz"

local function geohash(lat, lng, n)
  local la0, la1, lo0, lo1 = -90, 90, -180, 180
  local out, ch, bits, even = {}, 0, 0, true
  while #out < n do
    if even then
      local mid = (lo0 + lo1) / 2
      if lng >= mid then ch = ch * 2 + 1; lo0 = mid else ch = ch * 2; lo1 = mid end
    else
      local mid = (la0 + la1) / 2
      if lat >= mid then ch = ch * 2 + 1; la0 = mid else ch = ch * 2; la1 = mid end
    end
    even = not even
    bits = bits + 1
    if bits == 5 then
      out[#out + 1] = sub(B32, ch + 1, ch + 1)
      ch, bits = 0, 0
    end
  end
  return concat(out)
end

local function b32_of_hash(h, n)
  local out = {}
  for i = 1, n do
    local d = h % 32
    out[i] = sub(B32, d + 1, d + 1)
    h = (h - d) / 32
  end
  return concat(out)
end

-- base64url without padding ('-' and '_' instead of '+' and '/')
local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

local function b64(s)
  local out = {}
  local n = #s
  for i = 1, n, 3 do
    local a, b, c = byte(s, i, i + 2)
    local v = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1 = floor(v / 262144)
    local c2 = floor(v / 4096) % 64
    local c3 = floor(v / 64) % 64
    local c4 = v % 64
    out[#out + 1] = sub(B64, c1 + 1, c1 + 1) .. sub(B64, c2 + 1, c2 + 1)
    if b then out[#out + 1] = sub(B64, c3 + 1, c3 + 1) end
    if c then out[#out + 1] = sub(B64, c4 + 1, c4 + 1) end
  end
  return concat(out)
end

-- Content id of a converted location: 13 base32 characters (8 of geohash, 5 of hash),
-- a dash, and base64url of "here-ev:evcp-emulator:<source>:<source id>".
-- Short source tags keep content ids near HERE's length (~53 characters), so
-- 100 of them fit in one /v3/locations URL as they do with HERE's ids.
local SOURCE_TAGS = { ["uk-ncr"] = "uk", afdc = "us", bnetza = "de", ["here-v2-recorded"] = "v2" }

local function content_id(source, sid, lat, lng)
  local long = "here-ev:evcp-emulator:" .. source .. ":" .. sid
  local short = sid
  if #sid > 12 then short = b32_of_hash(hash32(long), 7) .. b32_of_hash(hash32(sid .. "/" .. source), 4) end
  local key = "here-ev:emu:" .. (SOURCE_TAGS[source] or source) .. ":" .. short
  return geohash(lat, lng, 8) .. b32_of_hash(hash32(long), 5) .. "-" .. b64(key)
end

local function evse_hrn(cid, uid)
  return "here:evcp:evse:" .. hex64_prefixed(cid, "/" .. uid)
end

---------------------------------------------------------------------------------------------
-- CSV

-- Parse CSV text into an array of records (arrays of strings). Handles quoted fields with
-- separators, doubled quotes and line breaks inside, LF / CRLF record ends and a UTF-8 BOM.
-- A record ends at LF, CRLF or a lone CR outside quotes (like Python's csv module).
local function parse_csv(text, sep)
  sep = sep or ","
  if sub(text, 1, 3) == "\239\187\191" then text = sub(text, 4) end
  local stop = "[" .. sep .. "\r\n]"
  local records = {}
  local pos, n = 1, #text
  local nextq = 0
  while pos <= n do
    local eol = find(text, "[\r\n]", pos) or (n + 1)
    if nextq < pos then nextq = find(text, '"', pos, true) or (n + 1) end
    local rec = {}
    if nextq > eol then
      -- fast path: a record on one line without quotes
      local last = eol - 1
      local p = pos
      while true do
        local e = find(text, sep, p, true)
        if not e or e > last then
          rec[#rec + 1] = sub(text, p, last)
          break
        end
        rec[#rec + 1] = sub(text, p, e - 1)
        p = e + 1
      end
      pos = eol + 1
      if sub(text, eol, eol + 1) == "\r\n" then pos = eol + 2 end
    else
      while true do
        local head = ""
        local p = pos
        if sub(text, pos, pos) == '"' then
          local parts = {}
          p = pos + 1
          while true do
            local q = find(text, '"', p, true)
            if not q then parts[#parts + 1] = sub(text, p); p = n + 1; break end
            parts[#parts + 1] = sub(text, p, q - 1)
            if sub(text, q + 1, q + 1) == '"' then
              parts[#parts + 1] = '"'
              p = q + 2
            else
              p = q + 1
              break
            end
          end
          head = concat(parts)
        end
        local e = find(text, stop, p) or (n + 1)
        local tail = sub(text, p, e - 1)
        local d = sub(text, e, e)
        rec[#rec + 1] = head .. tail
        pos = e + 1
        if d == "\r" and sub(text, pos, pos) == "\n" then pos = pos + 1 end
        if d ~= sep then break end
        if pos > n then rec[#rec + 1] = ""; break end
      end
    end
    records[#records + 1] = rec
  end
  return records
end

M.parse_csv = parse_csv

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("*a")
  f:close()
  return s
end

-- Iterate the data rows of a CSV file as header-keyed tables; rows whose field count does
-- not match the header are counted and skipped. Duplicate header names keep the first column.
local function csv_rows(path, sep)
  local text, err = read_file(path)
  if not text then return nil, err end
  local recs = parse_csv(text, sep)
  local header = recs[1]
  local idx = {}
  for i, h in ipairs(header) do
    if idx[h] == nil then idx[h] = i end
  end
  local rows, skipped = {}, 0
  local nf = #header
  for r = 2, #recs do
    local rec = recs[r]
    if #rec == nf then
      rows[#rows + 1] = rec
    elseif not (#rec == 1 and rec[1] == "") then
      skipped = skipped + 1
    end
  end
  local function get(row, name) return row[idx[name]] end
  return rows, get, skipped
end

---------------------------------------------------------------------------------------------
-- small helpers

local function trim(s)
  if s == nil then return nil end
  return (gsub(gsub(s, "^%s+", ""), "%s+$", ""))
end

local function nonempty(s)
  s = trim(s)
  if s == nil or s == "" then return nil end
  return s
end

local function copy(t)
  if type(t) ~= "table" then return t end
  local r = {}
  for k, v in pairs(t) do r[k] = copy(v) end
  return r
end

-- Lua 5.4: JSON numbers decoded by cjson are floats; turn integral values into integers
-- (coordinates and prices stay as they are).
local FLOAT_KEYS = { lat = true, lng = true, price = true, vat = true }
local function integerize(t)
  if not tointeger then return t end
  for k, v in pairs(t) do
    if type(v) == "table" then
      integerize(v)
    elseif type(v) == "number" and not FLOAT_KEYS[k] then
      local i = tointeger(v)
      if i then t[k] = i end
    end
  end
  return t
end

local STATUS_CODES = {
  "available", "available", "available", "available", "available", "available",
  "available", "available", "available", "available", "available",
  "charging", "charging", "charging", "charging", "charging", "charging",
  "unknown", "unknown", "outOfOrder", "inoperative", "blocked", "reserved", "charging",
}

-- Base status of an EVSE, taken from (the hex digits of) its id.
local function base_status(evse_id)
  local h = rot8(tonumber(sub(evse_id, -8), 16))
  return STATUS_CODES[(h % #STATUS_CODES) + 1]
end

local function rfc3339(y, mo, d, h, mi, s)
  return format("%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d, h or 0, mi or 0, s or 0)
end

-- "YYYY-MM-DD hh:mm:ss" (optionally followed by " UTC"); nil for zero dates
local function sql_date(s)
  local y, mo, d, h, mi, se = match(s or "", "^(%d%d%d%d)%-(%d%d)%-(%d%d)[ T](%d%d):(%d%d):(%d%d)")
  if not y then
    y, mo, d = match(s or "", "^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
    h, mi, se = 12, 0, 0
  end
  if not y or tonumber(y) < 1990 or tonumber(mo) < 1 or tonumber(d) < 1 then return nil end
  return rfc3339(tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(se))
end

---------------------------------------------------------------------------------------------
-- reference tables

-- v2 connector type ids for the v3 standards (HERE v2 -> v3 migration table).
local LEGACY_ID = {
  DOMESTIC_B = 5, NEMA_5_20 = 6, DOMESTIC_D = 7, DOMESTIC_E = 8, DOMESTIC_F = 9,
  DOMESTIC_G = 11, DOMESTIC_H = 12, DOMESTIC_I = 13, DOMESTIC_K = 20, DOMESTIC_L = 22,
  DOMESTIC_M = 23, CHADEMO = 29, IEC_62196_T1 = 30, IEC_62196_T2 = 31, IEC_62196_T3C = 32,
  IEC_62196_T1_COMBO = 33, IEC_62196_T2_COMBO = 34, IEC_60309_2_SINGLE_16 = 35,
  IEC_60309_2_THREE_16 = 36, IEC_60309_2_THREE_32 = 36, IEC_60309_2_THREE_64 = 36,
  DOMESTIC_J = 42, SAE_J3400 = 43, DOMESTIC_A = 48, DOMESTIC_C = 49, IEC_62196_T3A = 50,
  NEMA_14_50 = 51, GBT_AC = 52, GBT_DC = 53, NEMA_6_50 = 55, NEMA_6_30 = 56, NEMA_10_30 = 57,
  NEMA_10_50 = 58, NEMA_14_30 = 59, DOMESTIC_N = 61, DOMESTIC_O = 62, CHAOJI = 63,
  PANTOGRAPH_TOP_DOWN = 64, PANTOGRAPH_BOTTOM_UP = 65, TESLA_R = 66, MCS = 67, TESLA_S = 68,
}
M.LEGACY_ID = LEGACY_ID

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
M.COMMON_NAME = COMMON_NAME

-- Invented e-mobility service providers used for generated eMSP tariffs.
local EMSPS = {
  { name = "VoltPass",   partnerId = "5e7a0c31-4b2d-4f6e-9a10-3c5d7e9f0a11" },
  { name = "ChargeRoam", partnerId = "8b2d4f61-7a3c-4e5b-8c21-6d7e8f9a0b22" },
  { name = "Ampora",     partnerId = "c4e6a8b0-1d3f-4a5c-9e32-7f8091a2b333" },
  { name = "PlugNet",    partnerId = "2f4a6c8e-9b1d-4e3f-a543-8091a2b3c444" },
}
M.EMSPS = EMSPS

-- Per country: currency, VAT percent (nil: none), base energy prices excl. VAT (AC, DC).
local COUNTRY = {
  GBR = { currency = "GBP", vat = 20, ac = 0.25, dc = 0.38, tz = "Europe/London", lang = "en",
          cname = "United Kingdom" },
  USA = { currency = "USD", ac = 0.28, dc = 0.48, tz = "America/Los_Angeles", lang = "en",
          cname = "United States" },
  DEU = { currency = "EUR", vat = 19, ac = 0.37, dc = 0.50, tz = "Europe/Berlin", lang = "de",
          cname = "Germany" },
  FIN = { currency = "EUR", vat = 25.5, ac = 0.22, dc = 0.36, tz = "Europe/Helsinki", lang = "fi",
          cname = "Finland" },
}

---------------------------------------------------------------------------------------------
-- operators

local partner_cache = {}
local function partner_id(name)
  local p = partner_cache[name]
  if not p then
    p = uuid_of("evcp-emulator:partner:" .. name)
    partner_cache[name] = p
  end
  return p
end
M.partner_id = partner_id

local function business(name, website)
  local b = { name = name, partnerId = partner_id(name) }
  if website then b.website = website end
  return b
end

---------------------------------------------------------------------------------------------
-- tariffs

local function comp(dimension, price, vat, step)
  return { dimension = dimension, price = money(price), vat = vat, step = step and int(step) or nil }
end

local function tariff(ttype, name, partner, currency, components)
  return {
    type = ttype, name = name, partner = partner.name, partnerId = partner.partnerId,
    currency = currency, elements = { { components = components } },
  }
end

-- Generate tariffs for a location (rec.tariffs must be nil). pricing (optional) is what
-- the source says about ad hoc prices: { free = true } or { energy=, time=, parkingTime=, flat= }.
-- Sets rec.tariffs, connector tariffIndexes and eMobilityServiceProviders.
local function generate_tariffs(rec, cid, pricing)
  local cc = rec.address and rec.address.countryCode or "DEU"
  local C = COUNTRY[cc] or COUNTRY.DEU
  local vat, cur = C.vat, C.currency
  local h = hash32("tariff|" .. cid)
  local op = rec.operator
  local has = {}
  for _, e in ipairs(rec.evses or {}) do
    for _, c in ipairs(e.connectors) do
      has[c.powerType == "dc" and "dc" or "ac"] = true
    end
  end
  local tariffs, idx = {}, {}
  local shared = {}
  local vary = (h % 7) * 0.01
  -- ad hoc: one per power class (AC / DC)
  if pricing and pricing.free then
    tariffs[#tariffs + 1] = tariff("adhoc", nil, op, cur, { comp("flat", 0, vat) })
    idx.ac, idx.dc = #tariffs - 1, #tariffs - 1
  elseif pricing then
    local cs = {}
    if pricing.energy then cs[#cs + 1] = comp("energy", pricing.energy, vat, 1) end
    if pricing.time then cs[#cs + 1] = comp("time", pricing.time, vat, 60) end
    if pricing.parkingTime then cs[#cs + 1] = comp("parkingTime", pricing.parkingTime, vat, 60) end
    if pricing.flat then cs[#cs + 1] = comp("flat", pricing.flat, vat) end
    tariffs[#tariffs + 1] = tariff("adhoc", nil, op, cur, cs)
    idx.ac, idx.dc = #tariffs - 1, #tariffs - 1
  elseif h % 10 ~= 0 then
    for _, cls in ipairs({ "ac", "dc" }) do
      if has[cls] then
        local cs = { comp("energy", C[cls] + vary, vat, 1) }
        local k = floor(h / 16) % 12
        if cls == "dc" and k < 3 then
          cs[#cs + 1] = comp("parkingTime", 6 + k, vat, 60)
        elseif cls == "ac" and k == 5 then
          cs[#cs + 1] = comp("time", 0.6, vat, 300)
        end
        if k == 7 or k == 8 then cs[#cs + 1] = comp("flat", 0.5, vat) end
        tariffs[#tariffs + 1] = tariff("adhoc", nil, op, cur, cs)
        idx[cls] = #tariffs - 1
      end
    end
  end
  -- CPO subscription tariff for about a third of the locations
  local base = has.dc and not has.ac and C.dc or C.ac
  if floor(h / 256) % 3 == 0 then
    tariffs[#tariffs + 1] = tariff("cpo", "Member", op, cur, { comp("energy", (base + vary) * 0.85, vat, 1) })
    shared[#shared + 1] = #tariffs - 1
  end
  -- eMSP tariffs for about 40 % of the locations
  local emsps
  if floor(h / 1024) % 5 < 2 then
    local first = floor(h / 8192) % #EMSPS
    local count = 1 + floor(h / 65536) % 3
    emsps = {}
    for i = 0, count - 1 do
      local e = EMSPS[((first + i) % #EMSPS) + 1]
      emsps[#emsps + 1] = { name = e.name, partnerId = e.partnerId }
      tariffs[#tariffs + 1] = tariff("emsp", "Basic", e, cur,
        { comp("energy", (base + vary) * (0.95 - 0.02 * i), vat, 1) })
      shared[#shared + 1] = #tariffs - 1
      if (floor(h / 524288) + i) % 2 == 0 then
        tariffs[#tariffs + 1] = tariff("emsp", "Plus", e, cur,
          { comp("energy", (base + vary) * 0.8, vat, 1), comp("flat", 0.35, vat) })
        shared[#shared + 1] = #tariffs - 1
      end
    end
  end
  if #tariffs == 0 then return end
  rec.tariffs = tariffs
  if emsps and not rec.eMobilityServiceProviders then rec.eMobilityServiceProviders = emsps end
  for _, e in ipairs(rec.evses or {}) do
    for _, c in ipairs(e.connectors) do
      local list = {}
      local a = idx[c.powerType == "dc" and "dc" or "ac"]
      if a then list[1] = int(a) end
      for _, s in ipairs(shared) do list[#list + 1] = int(s) end
      if #list > 0 then c.tariffIndexes = list end
    end
  end
end

---------------------------------------------------------------------------------------------
-- building records

local PAYMENT_SETS = {
  { "mobilePayment", "operatorApp", "rfidReader" },
  { "contactlessCard", "creditCard", "mobilePayment", "rfidReader" },
  { "mobilePayment", "rfidReader", "terminalQrCode" },
  { "rfidReader" },
  { "creditCard", "debitCard", "pedTerminal" },
}

-- Finish a converted location. site: { source, sid, lat, lng, name, operator, suboperator,
-- address, restrictions, openingHours, parkingType, phone, cpoLocationId, facilityTypes,
-- modified, evses = { {uid, evseId?, physicalReference?, status?, connectors} }, pricing,
-- payments? }
local function build(site)
  local cid = content_id(site.source, site.sid, site.lat, site.lng)
  local cc = site.address.countryCode
  local C = COUNTRY[cc]
  local rec = {
    id = "here:evcp:charginglocation:" .. cid,
    location = { lat = site.lat, lng = site.lng },
    name = site.name or site.operator.name,
    operator = site.operator,
    suboperator = site.suboperator,
    restrictions = site.restrictions,
    supportedVehicles = { "car" },
    address = site.address,
    timeZone = C.tz,
    openingHours = site.openingHours,
    parkingType = site.parkingType,
    facilityTypes = site.facilityTypes,
    supportPhoneNumber = site.phone,
    cpoLocationId = site.cpoLocationId,
    evses = {},
  }
  site.address.languageCode = site.address.languageCode or C.lang
  local pays = site.payments
  for i, e in ipairs(site.evses) do
    local hrn = evse_hrn(cid, e.uid)
    if not pays then
      pays = PAYMENT_SETS[(floor(tonumber(sub(hrn, -16, -9), 16) / 4096) % #PAYMENT_SETS) + 1]
    end
    local ev = {
      uid = e.uid,
      evseId = e.evseId,
      id = hrn,
      status = e.status or base_status(hrn),
      modified = e.modified or site.modified,
      physicalReference = e.physicalReference or tostring(i),
      paymentSupports = copy(pays),
      capabilities = e.capabilities,
      connectors = e.connectors,
    }
    rec.evses[i] = ev
  end
  generate_tariffs(rec, cid, site.pricing)
  return rec, cid
end

---------------------------------------------------------------------------------------------
-- opening hours

local DAYS = { "mo", "tu", "we", "th", "fr", "sa", "su" }

-- periods[d] = { from, to } (strings hh:mm:ss) or nil for closed days; groups equal days
local function schedule(periods)
  local groups, order = {}, {}
  for d = 1, 7 do
    local p = periods[d]
    if p then
      local key = p[1] .. "-" .. p[2]
      local g = groups[key]
      if not g then
        g = { days = {}, periods = { { from = p[1], to = p[2] } } }
        groups[key] = g
        order[#order + 1] = g
      end
      g.days[#g.days + 1] = DAYS[d]
    end
  end
  if #order == 0 then return nil end
  return { regularSchedule = order }
end

local function hhmmss(h, m)
  h, m = tonumber(h), tonumber(m) or 0
  if not h then return nil end
  if h >= 24 then return "23:59:59" end
  return format("%02d:%02d:00", h, m)
end

---------------------------------------------------------------------------------------------
-- source 1: UK National Chargepoint Registry (2017)

local UK_PLUG = {
  ["Type 2 Mennekes (IEC62196)"] = { std = "IEC_62196_T2" },
  ["3-pin Type G (BS1363)"] = { std = "DOMESTIC_G", fmt = "socket" },
  ["JEVS G105 (CHAdeMO) DC"] = { std = "CHADEMO", fmt = "cable" },
  ["Type 2 Combo (IEC62196) DC"] = { std = "IEC_62196_T2_COMBO", fmt = "cable" },
  ["Type 2 Tesla (IEC62196) DC"] = { std = "IEC_62196_T2", fmt = "cable", tesla = true },
  ["Type 1 SAEJ1772 (IEC 62196)"] = { std = "IEC_62196_T1", fmt = "cable" },
  ["Type 3 Scame (IEC62196)"] = { std = "IEC_62196_T3C", fmt = "socket" },
}

local UK_PARKING = {
  ["Public car park"] = "parkingLot", ["Retail car park"] = "parkingLot",
  ["Park & Ride site"] = "parkingLot", ["Workplace car park"] = "parkingLot",
  ["Leisure centre"] = "parkingLot", ["NHS property"] = "parkingLot",
  ["Educational establishment"] = "parkingLot", ["Hotel / Accommodation"] = "parkingLot",
  ["Dealership forecourt"] = "parkingLot", ["Public estate"] = "parkingLot",
  ["On-street"] = "onStreet", ["Service station"] = "parkingLot",
}

local UK_DAYS = { "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday" }

local function uk_phone(s)
  s = nonempty(s)
  if not s then return nil end
  s = gsub(s, "[^%d+]", "")
  if match(s, "^0%d%d%d%d%d%d%d%d%d+$") then return "+44" .. sub(s, 2) end
  if match(s, "^%+%d+$") then return s end
  return nil
end

local function load_uk(path, out)
  local rows, get, skipped = csv_rows(path, ",")
  if not rows then return 0, 0 end
  local n = 0
  local conn_fields = {}
  for i = 1, 8 do
    local p = "connector" .. i
    conn_fields[i] = { p .. "ID", p .. "Type", p .. "RatedOutputKW", p .. "OutputCurrent",
      p .. "RatedVoltage", p .. "ChargeMethod", p .. "TetheredCable", p .. "Status" }
  end
  for _, row in ipairs(rows) do
    local lat, lng = num(get(row, "latitude")), num(get(row, "longitude"))
    local status = get(row, "chargeDeviceStatus")
    if lat and lng and lat > 49 and lat < 61.5 and lng > -9 and lng < 2.5 and status ~= "Planned"
      and get(row, "publishStatus") == "Published" then
      local devid = get(row, "chargeDeviceID")
      local owner = nonempty(get(row, "deviceOwnerName")) or nonempty(get(row, "deviceControllerName"))
        or "EV Charging Station"
      local site = {
        source = "uk-ncr", sid = devid, lat = lat, lng = lng,
        operator = business(owner, nonempty(get(row, "deviceOwnerWebsite"))),
        cpoLocationId = nonempty(get(row, "reference")) or devid,
        phone = uk_phone(get(row, "deviceOwnerTelephoneNo")) or uk_phone(get(row, "deviceControllerTelephoneNo")),
        modified = sql_date(get(row, "dateUpdated")) or sql_date(get(row, "dateCreated"))
          or "2017-11-23T12:00:00Z",
        evses = {},
      }
      local ctrl = nonempty(get(row, "deviceControllerName"))
      if ctrl and ctrl ~= owner then
        site.suboperator = business(ctrl, nonempty(get(row, "deviceControllerWebsite")))
      end
      -- address
      local street = nonempty(get(row, "thoroughfare")) or nonempty(get(row, "street"))
      local house = nonempty(get(row, "buildingNumber"))
      local town = nonempty(get(row, "town"))
      local pc = nonempty(get(row, "postcode"))
      local parts = {}
      if street then parts[#parts + 1] = house and (house .. " " .. street) or street end
      if town then parts[#parts + 1] = town end
      if pc then parts[#parts + 1] = pc end
      parts[#parts + 1] = "United Kingdom"
      site.address = {
        label = concat(parts, ", "), street = street, houseNumber = house, city = town,
        county = nonempty(get(row, "county")), postalCode = pc,
        district = nonempty(get(row, "dependantLocality")), countryCode = "GBR",
      }
      -- access
      if get(row, "accessRestrictionFlag") == "1" then site.restrictions = { "customersOnly" } end
      local lt = get(row, "locationType")
      site.parkingType = UK_PARKING[lt]
      if lt == "Service station" and find(owner, "Ecotricity", 1, true) then
        site.parkingType = "alongMotorway"
      end
      if get(row, "access24Hours") == "1" then
        site.openingHours = { open24x7 = true }
      else
        local per, any = {}, false
        for d = 1, 7 do
          local f = match(get(row, "access" .. UK_DAYS[d] .. "From") or "", "^(%d+:%d+)")
          local t = match(get(row, "access" .. UK_DAYS[d] .. "To") or "", "^(%d+:%d+)")
          if f and t then
            local fh, fm = match(f, "(%d+):(%d+)")
            local th, tm = match(t, "(%d+):(%d+)")
            local to = hhmmss(th, tm)
            if to == "00:00:00" then to = "23:59:59" end
            per[d] = { hhmmss(fh, fm), to }
            any = true
          end
        end
        if any then site.openingHours = schedule(per) end
      end
      -- pricing
      if get(row, "paymentRequired") == "0" then site.pricing = { free = true } end
      -- connectors: every AC connector is its own EVSE; the DC connectors of a device share one
      local dc_evse
      local tesla = false
      for i = 1, 8 do
        local f = conn_fields[i]
        local ctype = get(row, f[2])
        local plug = UK_PLUG[ctype or ""]
        if plug then
          local cidn = nonempty(get(row, f[1])) or (devid .. "-" .. i)
          local kw = num(get(row, f[3])) or 0
          local amps = num(get(row, f[4])) or 0
          local volts = num(get(row, f[5])) or 230
          local method = get(row, f[6])
          local conn = { id = cidn, standard = plug.std }
          if method == "DC" or plug.fmt == "cable" and find(ctype, "DC", 1, true) then
            conn.powerType = "dc"
            conn.format = "cable"
            conn.maxVoltage = int(volts > 0 and volts or 400)
            conn.maxCurrent = int(amps > 0 and amps or ceil_int(kw * 1000 / volts))
          else
            conn.powerType = method == "Three Phase AC" and "ac3Phase" or "ac1Phase"
            conn.format = plug.fmt or (get(row, f[7]) == "1" and "cable" or "socket")
            conn.maxVoltage = 230
            conn.maxCurrent = int(amps > 0 and amps or 16)
          end
          if kw > 0 then conn.maxPower = int(kw * 1000) end
          if plug.tesla then tesla = true end
          local cst = get(row, f[8])
          local st
          if status == "Out of service" or cst == "Out of service" then st = "outOfOrder" end
          if conn.powerType == "dc" and dc_evse then
            local cs = dc_evse.connectors
            conn.id = cidn
            cs[#cs + 1] = conn
            if st then dc_evse.status = st end
          else
            local e = { uid = cidn, connectors = { conn }, status = st }
            site.evses[#site.evses + 1] = e
            if conn.powerType == "dc" then dc_evse = e end
          end
        end
      end
      if tesla then
        site.restrictions = { "brandOnly" }
      end
      if #site.evses > 0 then
        out[#out + 1] = site
        n = n + 1
      end
    end
  end
  return n, skipped
end

---------------------------------------------------------------------------------------------
-- source 2: US DOE AFDC (Washington state, 2025)

local US_NETWORK = {
  ["ChargePoint Network"] = "ChargePoint", ["Blink Network"] = "Blink", ["eVgo Network"] = "EVgo",
  SHELL_RECHARGE = "Shell Recharge", BP_PULSE = "bp pulse", FORD_CHARGE = "Ford Charge",
  ELECTRIC_ERA = "Electric Era", RIVIAN_ADVENTURE = "Rivian Adventure Network",
  RIVIAN_WAYPOINTS = "Rivian Waypoints", CIRCLE_K = "Circle K", AMPUP = "AmpUp", LOOP = "Loop",
  RED_E = "Red E", NOODOE = "Noodoe", EVGATEWAY = "EVgateway", POWERPUMP = "PowerPump",
  TURNONGREEN = "Turn On Green", ABM = "ABM", EVCS = "EVCS", UNIVERSAL = "Universal EV Chargers",
  ZEFNET = "Zef Energy", CHARGELAB = "ChargeLab", SWTCH = "SWTCH", ENVIROSPARK = "EnviroSpark",
  FPLEV = "FPL EVolution", ["7CHARGE"] = "7Charge", ["Non-Networked"] = false,
}

local US_FACILITY = {
  HOTEL = "hotel", INN = "hotel", RESTAURANT = "restaurant", GROCERY = "supermarket",
  SHOPPING_CENTER = "mall", SHOPPING_MALL = "mall", AIRPORT = "airport",
  GAS_STATION = "fuelStation", CONVENIENCE_STORE = "store", PARKING_LOT = "parkingLot",
  PARKING_GARAGE = "parkingLot", HOSPITAL = "health", COLLEGE_CAMPUS = "education",
  LIBRARY = "education", CAR_DEALER = "business", OFFICE_BLDG = "business",
  BREWERY_DISTILLERY_WINERY = "restaurant", TRAIN_STATION = "trainStation",
  PARK = "recreationArea", STATE_PARK = "nature", NATL_PARK = "nature",
}

local US_DAY = { Mon = 1, Tue = 2, Wed = 3, Thu = 4, Fri = 5, Sat = 6, Sun = 7 }

local function us_time(s)
  local h, m, ap = match(s, "^(%d+):(%d+)(%a%a)$")
  if not h then return nil end
  h = tonumber(h) % 12
  if lower(ap) == "pm" then h = h + 12 end
  return format("%02d:%02d:00", h, tonumber(m))
end

local function us_hours(s)
  if s == "" then return nil end
  if find(s, "^24 hours daily") then return { open24x7 = true } end
  local per, any = {}, false
  for d, f, t in gmatch(s, "(%a%a%a): (%d+:%d+%a%a)%-(%d+:%d+%a%a)") do
    local di = US_DAY[d]
    local a, b = us_time(f), us_time(t)
    if di and a and b then
      if b == "23:59:00" then b = "23:59:59" end
      per[di] = { a, b }
      any = true
    end
  end
  if any then return schedule(per) end
  return nil
end

local function us_pricing(s)
  local l = lower(s or "")
  if l == "" then return nil end
  if match(l, "^free") then return { free = true } end
  local p = {}
  local e = match(l, "%$([%d%.]+)%s*per%s*kwh") or match(l, "%$([%d%.]+)%s*/%s*kwh")
  if e then p.energy = tonumber(e) end
  local park = match(l, "^%$([%d%.]+)/hr parking fee")
  if park then p.parkingTime = tonumber(park) end
  local t = match(l, "%$([%d%.]+)%s*per%s*hour") or match(l, "%$([%d%.]+)/hr energy")
  if t and not park then p.time = tonumber(t) end
  local f = match(l, "%$([%d%.]+)%s*per%s*session") or match(l, "%$([%d%.]+)%s*activation fee")
  if f then p.flat = tonumber(f) end
  if p.energy or p.parkingTime or p.time or p.flat then return p end
  return nil
end

local function us_card_payments(s)
  local out, seen = {}, {}
  local function add(v) if not seen[v] then seen[v] = true; out[#out + 1] = v end end
  for w in gmatch(s or "", "%S+") do
    if w == "A" or w == "M" or w == "V" or w == "D" or w == "CREDIT" then add("creditCard")
    elseif w == "Debit" then add("debitCard")
    elseif w == "APPLE_PAY" then add("onlineApplePay"); add("mobilePayment")
    elseif w == "ANDROID_PAY" then add("onlineGooglePay"); add("mobilePayment")
    end
  end
  if #out == 0 then return nil end
  sort(out)
  return out
end

local CUSTOMER_WORDS = { "guest", "customer", "employee", "fleet", "resident", "tenant", "patron",
  "permit", "service center use", "members only", "students" }

local function load_us(path, out)
  local rows, get, skipped = csv_rows(path, ",")
  if not rows then return 0, 0 end
  local n = 0
  for _, row in ipairs(rows) do
    local lat, lng = num(get(row, "Latitude")), num(get(row, "Longitude"))
    local status = get(row, "Status Code")
    if lat and lng and lat ~= 0 and status ~= "P" and get(row, "Access Code") == "public"
      and get(row, "Fuel Type Code") == "ELEC" then
      local sid = get(row, "ID")
      local network = get(row, "EV Network")
      local opname = US_NETWORK[network]
      local station_name = trim(get(row, "Station Name"))
      if opname == false or opname == nil and network == "" then
        opname = station_name
      elseif opname == nil then
        opname = network
      end
      local is_tesla = (network == "Tesla")
      local is_tesla_dest = (network == "Tesla Destination")
      if is_tesla or is_tesla_dest then opname = "Tesla" end
      local site = {
        source = "afdc", sid = sid, lat = lat, lng = lng,
        operator = business(opname, nonempty(get(row, "EV Network Web"))),
        name = (US_NETWORK[network] == false) and "EV Charging Station" or nil,
        cpoLocationId = sid,
        modified = sql_date(get(row, "Updated At")) or sql_date(get(row, "Date Last Confirmed"))
          or "2025-11-06T12:00:00Z",
        evses = {},
      }
      local ph = gsub(get(row, "Station Phone") or "", "[^%d]", "")
      if #ph == 10 then site.phone = "+1" .. ph elseif #ph == 11 and sub(ph, 1, 1) == "1" then site.phone = "+" .. ph end
      -- address
      local street_full = nonempty(get(row, "Street Address"))
      local house, street
      if street_full then
        house, street = match(street_full, "^(%d[%w%-]*)%s+(.+)$")
        if not house then street = street_full end
      end
      local city, zip = nonempty(get(row, "City")), nonempty(get(row, "ZIP"))
      local lparts = {}
      if street_full then lparts[#lparts + 1] = street_full end
      if city then lparts[#lparts + 1] = city end
      lparts[#lparts + 1] = "WA" .. (zip and (" " .. zip) or "")
      lparts[#lparts + 1] = "United States"
      site.address = {
        label = concat(lparts, ", "), street = street, houseNumber = house, city = city,
        postalCode = zip, state = "Washington", countryCode = "USA",
      }
      -- access and hours
      local adt = get(row, "Access Days Time") or ""
      site.openingHours = us_hours(adt)
      local ladt = lower(adt)
      for _, w in ipairs(CUSTOMER_WORDS) do
        if find(ladt, w, 1, true) then site.restrictions = { "customersOnly" }; break end
      end
      local fac = US_FACILITY[get(row, "Facility Type") or ""]
      if fac then site.facilityTypes = { fac } end
      local ft = get(row, "Facility Type")
      if ft == "PARKING_GARAGE" then site.parkingType = "parkingGarage"
      elseif ft == "PARKING_LOT" then site.parkingType = "parkingLot" end
      site.pricing = us_pricing(get(row, "EV Pricing"))
      site.payments = us_card_payments(get(row, "Cards Accepted"))
      -- connectors
      local types = {}
      for w in gmatch(get(row, "EV Connector Types") or "", "%S+") do types[w] = true end
      local n1 = tonumber(get(row, "EV Level1 EVSE Num")) or 0
      local n2 = tonumber(get(row, "EV Level2 EVSE Num")) or 0
      local ndc = tonumber(get(row, "EV DC Fast Count")) or 0
      if n1 > 40 then n1 = 40 end
      if n2 > 40 then n2 = 40 end
      if ndc > 40 then ndc = 40 end
      local open_year = tonumber(match(get(row, "Open Date") or "", "^(%d%d%d%d)")) or 0
      local st_override = (status == "T") and "inoperative" or nil
      local hsite = hash32("us|" .. sid)
      local function add_evse(kind, k, conns)
        local uid = format("US-%s-%s%d", sid, kind, k)
        for j, c in ipairs(conns) do c.id = tostring(j) end
        site.evses[#site.evses + 1] = { uid = uid, physicalReference = kind .. k, connectors = conns,
          status = st_override }
      end
      -- Level 2
      local tesla_ac = types.TESLA and (is_tesla_dest or not types.J1772) and not is_tesla
      local old_tesla = is_tesla_dest and open_year < 2019
      local tesla_ac_std = old_tesla and "TESLA_S" or "SAE_J3400"
      local L2 = { { 240, 30, 7200 }, { 240, 32, 7680 }, { 208, 30, 6240 }, { 240, 40, 9600 }, { 208, 32, 6656 } }
      local l2 = L2[(hsite % #L2) + 1]
      local function j1772()
        return { standard = "IEC_62196_T1", format = "cable", powerType = "ac1Phase",
          maxVoltage = l2[1], maxCurrent = l2[2], maxPower = l2[3] }
      end
      local function tesla_ac_conn()
        return { standard = tesla_ac_std, format = "cable", powerType = "ac1Phase",
          maxVoltage = 240, maxCurrent = 48, maxPower = 11520 }
      end
      if n2 > 0 then
        local has_j = types.J1772
        local has_t = types.TESLA and not is_tesla
        for k = 1, n2 do
          local conns
          if has_j and has_t then
            if n2 == 1 then conns = { j1772(), tesla_ac_conn() }
            elseif k <= floor((n2 + 1) / 2) then conns = { tesla_ac_conn() }
            else conns = { j1772() } end
          elseif has_t or (tesla_ac and not has_j) then
            conns = { tesla_ac_conn() }
          else
            conns = { j1772() }
          end
          add_evse("L2-", k, conns)
        end
      end
      -- Level 1 and NEMA outlets
      local nema = {}
      if types.NEMA515 then nema[#nema + 1] = function() return { standard = "DOMESTIC_B", format = "socket",
        powerType = "ac1Phase", maxVoltage = 120, maxCurrent = 12, maxPower = 1440 } end end
      if types.NEMA520 then nema[#nema + 1] = function() return { standard = "NEMA_5_20", format = "socket",
        powerType = "ac1Phase", maxVoltage = 120, maxCurrent = 16, maxPower = 1920 } end end
      if types.NEMA1450 then nema[#nema + 1] = function() return { standard = "NEMA_14_50", format = "socket",
        powerType = "ac2PhaseSplit", maxVoltage = 120, maxCurrent = 40, maxPower = 9600 } end end
      local nl1 = n1
      if nl1 == 0 and #nema > 0 then nl1 = 1 end
      for k = 1, nl1 do
        local conns = {}
        for _, f in ipairs(nema) do conns[#conns + 1] = f() end
        if #conns == 0 then
          conns[1] = { standard = "IEC_62196_T1", format = "cable", powerType = "ac1Phase",
            maxVoltage = 120, maxCurrent = 16, maxPower = 1920 }
        end
        add_evse("L1-", k, conns)
      end
      -- DC fast
      if ndc > 0 then
        local ccs_p, ccs_v
        if is_tesla then ccs_p, ccs_v = 250000, 500
        elseif network == "Electrify America" then ccs_p, ccs_v = 350000, 920
        elseif network == "eVgo Network" or network == "RIVIAN_ADVENTURE" or network == "ELECTRIC_ERA"
          or network == "BP_PULSE" or network == "Tesla" then ccs_p, ccs_v = 150000, 500
        else
          local opts = { 62500, 50000, 150000, 62500 }
          ccs_p, ccs_v = opts[(floor(hsite / 8) % #opts) + 1], 500
        end
        for k = 1, ndc do
          local conns = {}
          if types.CHADEMO then
            conns[#conns + 1] = { standard = "CHADEMO", format = "cable", powerType = "dc",
              maxVoltage = 500, maxCurrent = 125, maxPower = 50000 }
          end
          if types.J1772COMBO then
            conns[#conns + 1] = { standard = "IEC_62196_T1_COMBO", format = "cable", powerType = "dc",
              maxVoltage = ccs_v, maxCurrent = ceil_int(ccs_p / ccs_v), maxPower = ccs_p }
          end
          if types.TESLA and (is_tesla or not tesla_ac) then
            local p = is_tesla and (open_year > 0 and open_year < 2019 and 150000 or 250000) or ccs_p
            conns[#conns + 1] = { standard = "SAE_J3400", format = "cable", powerType = "dc",
              maxVoltage = 500, maxCurrent = ceil_int(p / 500), maxPower = p }
          end
          if #conns > 0 then add_evse("DC-", k, conns) end
        end
      end
      if is_tesla and get(row, "Restricted Access") ~= "false" then
        site.restrictions = { "brandOnly" }
      elseif old_tesla then
        site.restrictions = { "brandOnly" }
      end
      if is_tesla then
        site.payments = { "authByCarPlugAndCharge", "mobilePayment", "operatorApp" }
        local caps = { "remoteStartStop" }
        for _, e in ipairs(site.evses) do e.capabilities = caps end
      end
      if #site.evses > 0 then
        out[#out + 1] = site
        n = n + 1
      end
    end
  end
  return n, skipped
end

---------------------------------------------------------------------------------------------
-- source 3: Bundesnetzagentur Ladesaeulenregister (Cologne subset, 2022)

local DE_PLUG = {
  ["AC Steckdose Typ 2"] = { std = "IEC_62196_T2", fmt = "socket" },
  ["AC Kupplung Typ 2"] = { std = "IEC_62196_T2", fmt = "cable" },
  ["AC Schuko"] = { std = "DOMESTIC_F", fmt = "socket" },
  ["DC Kupplung Combo"] = { std = "IEC_62196_T2_COMBO", fmt = "cable", dc = true },
  ["DC CHAdeMO"] = { std = "CHADEMO", fmt = "cable", dc = true },
}

local function de_connector(plug, kw)
  local c = { standard = plug.std, format = plug.fmt }
  local w = int((kw > 0 and kw or 11) * 1000)
  if plug.dc then
    if plug.std == "CHADEMO" and w > 50000 then w = 50000 end
    local v = w > 50000 and 920 or 500
    c.powerType, c.maxVoltage, c.maxCurrent, c.maxPower = "dc", v, ceil_int(w / v), w
  elseif plug.std == "DOMESTIC_F" then
    c.powerType, c.maxVoltage, c.maxCurrent, c.maxPower = "ac1Phase", 230, 16, 3700
  else
    if w > 43000 then w = 43000 end
    if w > 7400 then
      c.powerType, c.maxVoltage, c.maxCurrent = "ac3Phase", 230, ceil_int(w / 690)
    else
      c.powerType, c.maxVoltage, c.maxCurrent = "ac1Phase", 230, ceil_int(w / 230)
    end
    c.maxPower = w
  end
  return c
end

local function load_de(path, out)
  local rows, get, skipped = csv_rows(path, ";")
  if not rows then return 0, 0 end
  local sites, order = {}, {}
  for _, row in ipairs(rows) do
    local lat, lng = num(get(row, "Breitengrad")), num(get(row, "Längengrad"))
    if lat and lng and lat > 47 and lat < 56 and lng > 5 and lng < 16 then
      local op = trim(get(row, "Betreiber"))
      local street, house = trim(get(row, "Straße")), trim(get(row, "Hausnummer"))
      local key = format("%.6f,%.6f|%s|%s %s", lat, lng, op, street, house)
      local s = sites[key]
      local d, mo, y = match(get(row, "Inbetriebnahmedatum") or "", "^(%d+)%.(%d+)%.(%d+)$")
      local date
      if d then
        y = tonumber(y)
        if y < 100 then y = y + 2000 end
        local hh = hash32("de-time|" .. key)
        date = rfc3339(y, tonumber(mo), tonumber(d), 6 + hh % 14, floor(hh / 16) % 60, floor(hh / 1024) % 60)
      end
      if not s then
        local pc, city = nonempty(get(row, "Postleitzahl")), nonempty(get(row, "Ort"))
        local extra = nonempty(get(row, "Adresszusatz"))
        local line = (street or "") .. (house and house ~= "" and (" " .. house) or "")
        s = {
          source = "bnetza", sid = "koeln-" .. sub(hex64(key), 1, 16), lat = lat, lng = lng,
          operator = business(op),
          modified = date or "2022-05-23T12:00:00Z",
          address = {
            label = line .. (extra and (" " .. extra) or "") .. ", " .. (pc or "") .. " " .. (city or "") .. ", Germany",
            street = nonempty(street), houseNumber = nonempty(house), postalCode = pc, city = city,
            state = nonempty(get(row, "Bundesland")),
            county = nonempty((gsub(get(row, "Kreis/kreisfreie Stadt") or "", "^Kreisfreie Stadt ", ""))),
            countryCode = "DEU",
          },
          evses = {},
          devices = 0,
        }
        if find(lower(op), "aldi", 1, true) or find(lower(op), "lidl", 1, true)
          or find(lower(op), "ikea", 1, true) or find(lower(op), "procar", 1, true) then
          s.restrictions = { "customersOnly" }
          s.parkingType = "parkingLot"
        else
          s.openingHours = { open24x7 = true }
        end
        sites[key] = s
        order[#order + 1] = s
      elseif date and date > s.modified then
        s.modified = date
      end
      s.devices = s.devices + 1
      for i = 1, 4 do
        local plugs = get(row, "Steckertypen" .. i)
        if plugs and plugs ~= "" then
          local kw = num(get(row, "P" .. i .. " [kW]")) or 0
          local conns = {}
          for label in gmatch(plugs, "[^,]+") do
            local plug = DE_PLUG[trim(label)]
            if plug then
              local c = de_connector(plug, kw)
              c.id = tostring(#conns + 1)
              conns[#conns + 1] = c
            end
          end
          if #conns > 0 then
            local hk = hash32(key)
            s.evses[#s.evses + 1] = {
              uid = format("DE-KOE-%08x-%d-%d", hk, s.devices, i),
              physicalReference = format("%d-%d", s.devices, i),
              modified = date,
              connectors = conns,
            }
          end
        end
      end
    end
  end
  local n = 0
  for _, s in ipairs(order) do
    if #s.evses > 0 then
      s.devices = nil
      out[#out + 1] = s
      n = n + 1
    end
  end
  return n, skipped
end

---------------------------------------------------------------------------------------------
-- hand-written locations

local function load_seed(path, records, notes)
  local text = read_file(path)
  if not text then return 0 end
  local doc = integerize(cjson.decode(text))
  local n = 0
  local function resolve(id, lat, lng)
    local cid = match(id, "([^:]*)$")
    local src, sid = match(id, "@([^:]+):(.+)$")
    if src then cid = content_id(src, sid, lat, lng) end
    return cid
  end
  local note_src = doc.notes or {}
  for _, rec in ipairs(doc.locations) do
    local cid = resolve(rec.id, rec.location.lat, rec.location.lng)
    local orig = match(rec.id, "charginglocation:(.*)$")
    rec.id = "here:evcp:charginglocation:" .. cid
    if rec.operator and not rec.operator.partnerId then rec.operator.partnerId = partner_id(rec.operator.name) end
    if rec.suboperator and not rec.suboperator.partnerId then
      rec.suboperator.partnerId = partner_id(rec.suboperator.name)
    end
    for _, e in ipairs(rec.evses or {}) do
      if not e.id then e.id = evse_hrn(cid, e.uid) end
      if not e.status then e.status = base_status(e.id) end
      if not e.modified then e.modified = "2025-01-15T08:00:00Z" end
    end
    if rec.tariffs == nil then generate_tariffs(rec, cid, nil) end
    if note_src[orig] then notes[cid] = note_src[orig] end
    records[#records + 1] = rec
    n = n + 1
  end
  return n
end

---------------------------------------------------------------------------------------------
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
        maxPower = int(p > 0 and p or 1), legacyId = LEGACY_ID[std] }
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
-- public API

function M.default_dir()
  local src = debug.getinfo(1, "S").source
  local dir = match(src, "^@(.*)[/\\][^/\\]*$")
  if not dir then
    if sub(src, 1, 1) == "@" then dir = "." else dir = "lua/evcp/emulator" end
  end
  return dir .. "/data"
end

local function init()
  if not XOR8 then
    build_xor()
    for i = 1, 2 do PASS_SEEDS[i] = fnv32("evcp-pass-" .. i) end
  end
end

M.hex64 = function(s) init(); return hex64(s) end
M.hash32 = function(s) init(); return hash32(s) end
M.content_id = function(source, sid, lat, lng) init(); return content_id(source, sid, lat, lng) end
M.uuid_of = function(s) init(); return uuid_of(s) end

-- Load the data set. Returns db = { locations, by_content_id, countries, source_notes,
-- counts, skipped }.
function M.load(dir)
  init()
  dir = dir or M.default_dir()
  local records, notes = {}, {}
  local counts, skipped = {}, {}
  counts.seed = load_seed(dir .. "/seed-locations.json", records, notes)
  local sources = {
    { "uk-ncr", load_uk, "/stations/uk-ncr-2017/national-charge-point-registry.csv" },
    { "afdc", load_us, "/stations/afdc-wa-2025/alt_fuel_stations.csv" },
    { "bnetza", load_de, "/stations/bnetza-koeln-2022/Ladesaeulenregister.csv" },
  }
  local by_cid = {}
  for _, r in ipairs(records) do by_cid[match(r.id, "([^:]*)$")] = r end
  for _, src in ipairs(sources) do
    local sites = {}
    local n, sk = src[2](dir .. src[3], sites)
    skipped[src[1]] = sk
    local kept = 0
    for _, site in ipairs(sites) do
      local rec, cid = build(site)
      if not by_cid[cid] then
        by_cid[cid] = rec
        records[#records + 1] = rec
        kept = kept + 1
      end
    end
    counts[src[1]] = kept
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
