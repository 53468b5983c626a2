-- evcp_emulator.convert: what every dataset source shares when it turns a public
-- station register (or a hand-written file) into HERE EV Charge Points API v3
-- `ChargingLocation` records: deterministic hashing and ids, CSV reading, number
-- helpers, generated operators, tariffs and EVSEs (`build`), opening hours.
--
-- Everything is deterministic: the same input gives the same records, ids, statuses and
-- tariffs on Lua 5.4 and LuaJIT 2.1. Pure Lua 5.1/5.4 subset, no dependency.

local floor = math.floor
local byte, sub, find, format, gsub, match =
  string.byte, string.sub, string.find, string.format, string.gsub, string.match
local concat = table.concat
local tointeger = math.tointeger

local M = {}

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


-- Invented e-mobility service providers used for generated eMSP tariffs.
local EMSPS = {
  { name = "VoltPass",   partnerId = "5e7a0c31-4b2d-4f6e-9a10-3c5d7e9f0a11" },
  { name = "ChargeRoam", partnerId = "8b2d4f61-7a3c-4e5b-8c21-6d7e8f9a0b22" },
  { name = "Ampora",     partnerId = "c4e6a8b0-1d3f-4a5c-9e32-7f8091a2b333" },
  { name = "PlugNet",    partnerId = "2f4a6c8e-9b1d-4e3f-a543-8091a2b3c444" },
}

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
-- exports

-- The hash tables are built once, on first use.
function M.init()
  if not XOR8 then
    build_xor()
    for i = 1, 2 do PASS_SEEDS[i] = fnv32("evcp-pass-" .. i) end
  end
end

M.int = int
M.ceil_int = ceil_int
M.money = money
M.num = num
M.hash32 = hash32
M.hex64 = hex64
M.uuid_of = uuid_of
M.content_id = content_id
M.evse_hrn = evse_hrn
M.parse_csv = parse_csv
M.read_file = read_file
M.csv_rows = csv_rows
M.trim = trim
M.nonempty = nonempty
M.copy = copy
M.integerize = integerize
M.base_status = base_status
M.rfc3339 = rfc3339
M.sql_date = sql_date
M.partner_id = partner_id
M.business = business
M.generate_tariffs = generate_tariffs
M.build = build
M.schedule = schedule
M.hhmmss = hhmmss
M.EMSPS = EMSPS
M.COUNTRY = COUNTRY

return M
