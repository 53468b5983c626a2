-- evcp_emulator.v2: the emulator's HERE EV Charge Points API v2 resources (`/ev/...`),
-- in JSON and XML, served from the same dataset (v3 ChargingLocation records) as v3.
--
--   v2.init{db =, clock =}   once, with the loaded dataset (builds the id maps and a grid)
--                            and the status clock v3 reads too, so that v2 shows the
--                            same EVSE statuses as v3 at the same moment
--   v2.route(path)           for a path starting with "/ev/"; returns a handler
--                            function(ctx, params) -> status, body (it sets the
--                            Content-Type in ctx.headers)
--
-- Connector types and statuses come from the emulator's own copy of the migration
-- guide's tables (evcp_emulator.tables), never from the client library. Documents are
-- built once as ordered trees and written as JSON or XML by evcp_emulator.v2_document.
--
-- Plain Lua 5.1..5.4 (runs in nginx's LuaJIT). Every behaviour that HERE does not
-- document is fixed in the CHOICES table below and listed in docs/EMULATOR.md.

local document = require("evcp_emulator.v2_document")
local query = require("evcp_emulator.query")
local tables = require("evcp_emulator.tables")
local url_unescape = query.url_unescape

local floor, abs, sqrt, sin, cos, asin, rad, huge =
  math.floor, math.abs, math.sqrt, math.sin, math.cos, math.asin, math.rad, math.huge
local sort = table.sort
local find, sub, format, upper, match =
  string.find, string.sub, string.format, string.upper, string.match

local M = {}

-- ---------------------------------------------------------------------------------------
-- CHOICES: every behaviour HERE's v2 documentation leaves open (here-v2.md marks it
-- [unverified]) is fixed here, and only here; docs/EMULATOR.md lists the same items.
-- Values are used by the code below; entries marked (rule) describe a behaviour the
-- code implements at the place named in brackets.

local CHOICES = {
  -- geometry and paging
  max_radius = 200000,           -- prox radius limit, metres (documented: 200 km)
  min_radius = 1,                -- prox radius: an integer >= 1 (0 is an error)
  bbox_max_side_m = 400000,      -- bbox height and width limit (third-party docstring);
                                 -- width measured at the bbox latitude nearest the equator
  corridor_width = 1000,         -- default of `corridorwidth` (name taken from the Fuel API)
  corridor_max_area_m2 = 5000e6, -- corridor area limit: length*width + pi*(width/2)^2
  corridor_min_points = 2,
  maxresults_default = 50,       -- documented by example
  maxresults_cap = 1000,         -- larger maxresults values are served as 1000, no error
  -- (rule) a station is in a corridor when its distance to the path is <= width/2 [search]
  -- (rule) corridor `distance` = length along the path to the nearest point + offset [search]
  -- (rule) prox/corridor results are sorted by distance, bbox results by station id,
  --        ties by station id [search]
  -- (rule) a repeated geometry/paging parameter: the last value counts; connectortype,
  --        emsp and id: all occurrences, each a comma list [last, list_param]
  -- (rule) connectortype selects stations; the groups of a returned station are not
  --        trimmed; emsp matches the station's eMSP partner ids [get_stations]
  -- (rule) stations/count applies the geometry only (documented: no filters) [get_count]

  -- errors: legacy ACS envelope {"Type": ..., "Message": [...]}; XML root error:Error
  error_type_bad_input = "InvalidInputData", -- 400
  error_type_not_found = "NotFound",         -- 404: unknown id or path
  -- (rule) any unknown id in stations/bulk, pools/bulk or evses/bulk answers 404 [bulk_records]
  -- (rule) 401 and 405 come from server.lua: JSON {"error", "error_description"} for
  --        every format, as HERE's platform gateway answers before the service.

  -- documents
  xml_content_type = "application/xml",
  json_content_type = "application/json",
  evses_root = "evsesResult",              -- EVSEs bulk: ev:evsesResult/pools/pool[@id]/evses/evse
  connectortypes_root = "connectorTypesResult", -- ev:connectorTypesResult/connectorType{name,id}
  roamings_root = "roamings",              -- documented root; children roaming{emsp,partnerId,country*}
  powerfeedtypes_root = "powerFeedTypesResult", -- ev:powerFeedTypesResult/powerFeedType{name,id}
  -- HERE documents the Powerfeedtypes resource but not its list: the emulator's list is
  -- v3's PowerType enum, in the spec's order, numbered from 1
  power_feed_types = {
    { "1", "AC single phase", "ac1Phase" }, { "2", "AC two phase", "ac2Phase" },
    { "3", "AC split phase", "ac2PhaseSplit" }, { "4", "AC three phase", "ac3Phase" },
    { "5", "DC", "dc" },
  },
  -- (rule) compact output: JSON without whitespace, XML with no indentation [encode]
  -- (rule) `evStations` is always there, as in HERE's examples: an empty page is
  --        {"hasMore":false,"count":0,"evStations":{"evStation":[]}}, XML <evStations/>
  --        [stations_doc]

  -- mapping a v3 location to a v2 station [static_of, build_station, connector_group]
  -- (rule) station id = the poolId's part after its first "-" when that is unique,
  --        else the poolId itself [M.init]
  -- (rule) brand, supplierName, supplierUID: the suboperator if any, else the operator
  -- (rule) one connector group per (v2 type id, maxPower, fixedCable), so that a group
  --        never mixes cables and sockets; one connectorStatus per connector; the counts
  --        (numberOfConnectors, numberOfAvailable, ...) count an EVSE once per group, as
  --        v3's connectorCount does; groups sorted by type id, then power, sockets before
  --        cables; connectors without a v2 id are left out
  -- (rule) numberOfConnectors and numberOfAvailable always; numberOfInUse,
  --        numberOfOutOfService, numberOfReserved only when > 0
  -- (rule) chargeMode "4" for DC, "3" otherwise; customerConnectorName = the connector
  --        type's common name; lastUpdateTimestamp = latest EVSE `modified`
  -- (rule) privateAccess false; restrictedAccess/RESTRICTED when v3 restrictions exist
  price_incl_vat = true,         -- price value = ad hoc price * (1 + vat/100), 4 decimals
  -- day bits of `daymask`: Monday = 1 ... Sunday = 64; 127 = every day
  day_bit = { mo = 1, tu = 2, we = 4, th = 8, fr = 16, sa = 32, su = 64 },
  -- chargingPoint.phases and chargeCapacity's "N-phase": the number of phases used;
  -- both two-phase kinds use two
  phases = { ac1Phase = 1, ac2Phase = 2, ac2PhaseSplit = 2, ac3Phase = 3 },
  -- a group names its powerFeedType (an entry of power_feed_types, {name, id}) only for
  -- the two-phase kinds, which `phases` cannot tell apart; other groups carry none
  -- (HERE fills the field in North America and Australia only)
  power_feed_type_in_groups = { ac2Phase = true, ac2PhaseSplit = true },
  -- v3 tariff price dimension -> v2 pricingModel, unit value (amount 1)
  pricing = {
    energy = { "kWh", "kWh" }, flat = { "Session", "Session" },
    time = { "TimeUnit", "hour" }, parkingTime = { "ParkAndCharge", "hour" },
  },
  -- v3 paymentSupports -> v2 paymentMethods member (and its `types` value)
  payment = {
    creditCard = { "creditCard" }, pedTerminal = { "creditCard" }, debitCard = { "debitCard" },
    contactlessCard = { "other", "contactless-card" }, mobilePayment = { "other", "app" },
    operatorApp = { "other", "app" }, rfidReader = { "other", "rfid-reader" },
    authByCarPlugAndCharge = { "other", "auth-by-car-plug-and-charge" },
    authByCarAutocharge = { "other", "auth-by-car-autocharge" },
    terminalQrCode = { "other", "terminal-qr-code" }, terminalSms = { "other", "terminal-sms" },
    onlineBankPayment = { "ePayment", "online-bank-payment" },
    onlineGooglePay = { "ePayment", "online-google-pay" },
    onlineCreditCard = { "ePayment", "online-credit-card" },
    onlinePaypal = { "ePayment", "online-paypal" },
    onlineApplePay = { "ePayment", "online-apple-pay" },
  },
}
M.CHOICES = CHOICES


-- ---------------------------------------------------------------------------------------
-- connector types and statuses: the emulator's own migration-guide tables

local v2_type_of, type_info, v2_state = tables.v2_type, tables.type_info, tables.v2_state

local obj, arr, flt, put, encode =
  document.obj, document.arr, document.flt, document.put, document.encode

-- ---------------------------------------------------------------------------------------
-- state

local S = {
  db = nil,
  by_pool = {},     -- poolId (v3 content id) -> record
  by_station = {},  -- station id -> record
  station_id = {},  -- record -> station id
  pool_id = {},     -- record -> poolId
  grid = {},        -- cell key -> list of records
  static = {},      -- record -> cached static data (per worker, lazily)
}

local R = 6371000
local M_PER_DEG = R * math.pi / 180
local CELL = 0.1                -- grid cell size in degrees
local NX = floor(360 / CELL)    -- cells around a parallel

local function cell_key(lat, lng)
  return floor((lat + 90) / CELL) * 4000 + floor((lng + 180) / CELL) % NX
end

local function content_id(id)
  return match(id, "([^:]*)$") or id
end

function M.init(cfg)
  local db = cfg.db
  S.db = db
  S.clock = cfg.clock
  S.by_pool, S.by_station, S.station_id, S.pool_id, S.grid, S.static = {}, {}, {}, {}, {}, {}
  local tails, tail_count = {}, {}
  local locations = db.locations or {}
  for i = 1, #locations do
    local rec = locations[i]
    local pid = content_id(rec.id)
    S.pool_id[rec] = pid
    S.by_pool[pid] = rec
    -- station id: the part of the poolId after its first "-" (HERE's `evcp0-X` -> `X`)
    local tail = match(pid, "^[^-]+%-(.+)$")
    tails[rec] = tail
    if tail then tail_count[tail] = (tail_count[tail] or 0) + 1 end
    local loc = rec.location
    if loc and loc.lat and loc.lng then
      local key = cell_key(loc.lat, loc.lng)
      local list = S.grid[key]
      if not list then list = {}; S.grid[key] = list end
      list[#list + 1] = rec
    end
  end
  for i = 1, #locations do
    local rec = locations[i]
    local tail = tails[rec]
    local sid = S.pool_id[rec]
    if tail and tail_count[tail] == 1 and not S.by_pool[tail] then sid = tail end
    S.station_id[rec] = sid
    S.by_station[sid] = rec
  end
  return M
end

-- ---------------------------------------------------------------------------------------
-- geometry

local function haversine(lat1, lng1, lat2, lng2)
  local dlat, dlng = rad(lat2 - lat1), rad(lng2 - lng1)
  local h = sin(dlat / 2) ^ 2 + cos(rad(lat1)) * cos(rad(lat2)) * sin(dlng / 2) ^ 2
  if h > 1 then h = 1 end
  return 2 * R * asin(sqrt(h))
end

-- Records in the cells covering the boxes {s, n, w, e} (w may exceed e by wrapping only
-- through w > e, or extend beyond +-180). Falls back to all records when the boxes
-- cover more cells than there are records.
local function candidates(boxes)
  local locations = S.db.locations or {}
  local cells = 0
  for i = 1, #boxes do
    local b = boxes[i]
    local ny = floor((b.n + 90) / CELL) - floor((b.s + 90) / CELL) + 1
    local nx = floor((b.e + 180) / CELL) - floor((b.w + 180) / CELL) + 1
    if nx >= NX or nx <= 0 then return locations end
    cells = cells + ny * nx
  end
  if cells > #locations then return locations end
  local out, seen = {}, {}
  local grid = S.grid
  for i = 1, #boxes do
    local b = boxes[i]
    local y1, y2 = floor((b.s + 90) / CELL), floor((b.n + 90) / CELL)
    local x1, x2 = floor((b.w + 180) / CELL), floor((b.e + 180) / CELL)
    for y = y1, y2 do
      for x = x1, x2 do
        local list = grid[y * 4000 + x % NX]
        if list and not seen[list] then
          seen[list] = true
          for j = 1, #list do out[#out + 1] = list[j] end
        end
      end
    end
  end
  return out
end

-- box around (lat, lng) with `m` metres margin
local function box_around(lat1, lat2, lng1, lng2, m)
  local dlat = m / M_PER_DEG * 1.01
  local s, n = lat1 - dlat, lat2 + dlat
  if s < -90 then s = -90 end
  if n > 90 then n = 90 end
  local c = cos(rad(math.max(abs(s), abs(n))))
  if c < 1e-6 then return { s = s, n = n, w = -180, e = 180 + 360 } end
  local dlng = dlat / c
  return { s = s, n = n, w = lng1 - dlng, e = lng2 + dlng }
end

-- corridor: distance to the path and distance along it (metres)
local function corridor_measure(path, lat, lng)
  local best_off, best_along = huge, 0
  for i = 1, #path - 1 do
    local a, b = path[i], path[i + 1]
    local latm = rad((a.lat + b.lat) / 2)
    local kx = M_PER_DEG * cos(latm)
    local function x_of(l)
      local d = l - a.lng
      if d > 180 then d = d - 360 elseif d < -180 then d = d + 360 end
      return d * kx
    end
    local bx, by = x_of(b.lng), (b.lat - a.lat) * M_PER_DEG
    local px, py = x_of(lng), (lat - a.lat) * M_PER_DEG
    local len2 = bx * bx + by * by
    local t = 0
    if len2 > 0 then
      t = (px * bx + py * by) / len2
      if t < 0 then t = 0 elseif t > 1 then t = 1 end
    end
    local dx, dy = px - t * bx, py - t * by
    local off = sqrt(dx * dx + dy * dy)
    if off < best_off then
      best_off, best_along = off, a.cum + t * a.len
    end
  end
  return best_off, best_along
end

-- ---------------------------------------------------------------------------------------
-- parameters

local function bad_input(msg) return { CHOICES.error_type_bad_input, msg, 400 } end

local function last(params, name)
  local list = params[name]
  if list then return list[#list] end
end

-- comma list over all occurrences
local function list_param(params, name)
  local values = params[name]
  if not values then return nil end
  local out = {}
  for i = 1, #values do
    for item in (values[i] .. ","):gmatch("([^,]*),") do
      if item ~= "" then out[#out + 1] = item end
    end
  end
  return out
end

local function decimal(s)
  if not s then return nil end
  if find(s, "^[+-]?%d+%.?%d*$") or find(s, "^[+-]?%.%d+$") then return tonumber(s) end
end

local function integer(s)
  if s and find(s, "^[+-]?%d+$") then return tonumber(s) end
end

local function parse_point(s, what)
  local la, ln = match(s, "^([^,]*),([^,]*)$")
  local lat, lng = decimal(la), decimal(ln)
  if not lat or not lng then
    return nil, bad_input(what .. " must be given as latitude,longitude")
  end
  if lat < -90 or lat > 90 then
    return nil, bad_input(what .. ": latitude must be between -90 and 90")
  end
  if lng < -180 or lng > 180 then
    return nil, bad_input(what .. ": longitude must be between -180 and 180")
  end
  return { lat = lat, lng = lng }
end

local function parse_prox(v)
  local la, ln, rs = match(v, "^([^,]*),([^,]*),([^,]*)$")
  if not la then
    return nil, bad_input("Parameter prox must be latitude,longitude,radius")
  end
  local p, err = parse_point(la .. "," .. ln, "Parameter prox")
  if not p then return nil, err end
  local r = integer(rs)
  if not r then return nil, bad_input("Parameter prox: radius must be an integer in metres") end
  if r < CHOICES.min_radius or r > CHOICES.max_radius then
    return nil, bad_input(format("Parameter prox: radius must be between %d and %d metres",
      CHOICES.min_radius, CHOICES.max_radius))
  end
  p.radius = r
  p.kind = "prox"
  return p
end

local function parse_bbox(v)
  local a, b = match(v, "^([^;]*);([^;]*)$")
  if not a then
    return nil, bad_input("Parameter bbox must be topLeftLat,topLeftLon;bottomRightLat,bottomRightLon")
  end
  local tl, err = parse_point(a, "Parameter bbox")
  if not tl then return nil, err end
  local br
  br, err = parse_point(b, "Parameter bbox")
  if not br then return nil, err end
  if tl.lat < br.lat then
    return nil, bad_input("Parameter bbox: the top left latitude must not be south of the bottom right latitude")
  end
  local west, east = tl.lng, br.lng
  if east < west then east = east + 360 end -- crosses the antimeridian
  local height = (tl.lat - br.lat) * M_PER_DEG
  local widest = (tl.lat >= 0 and br.lat <= 0) and 0 or math.min(abs(tl.lat), abs(br.lat))
  local width = (east - west) * M_PER_DEG * cos(rad(widest))
  if height > CHOICES.bbox_max_side_m or width > CHOICES.bbox_max_side_m then
    return nil, bad_input(format("Parameter bbox: height and width must not exceed %d km",
      CHOICES.bbox_max_side_m / 1000))
  end
  return { kind = "bbox", n = tl.lat, s = br.lat, w = west, e = east }
end

local function parse_corridor(v, width_s)
  local path = {}
  for part in (v .. ";"):gmatch("([^;]*);") do
    local p, err = parse_point(part, "Parameter corridor")
    if not p then return nil, err end
    path[#path + 1] = p
  end
  if #path < CHOICES.corridor_min_points then
    return nil, bad_input(format("Parameter corridor needs at least %d points",
      CHOICES.corridor_min_points))
  end
  local width = CHOICES.corridor_width
  if width_s then
    width = integer(width_s)
    if not width or width < 1 then
      return nil, bad_input("Parameter corridorwidth must be a positive integer in metres")
    end
  end
  local cum = 0
  for i = 1, #path do
    local a, b = path[i], path[i + 1]
    a.cum = cum
    a.len = b and haversine(a.lat, a.lng, b.lat, b.lng) or 0
    cum = cum + a.len
  end
  if cum * width + math.pi * (width / 2) ^ 2 > CHOICES.corridor_max_area_m2 then
    return nil, bad_input(format("Parameter corridor: the corridor area must not exceed %d km2",
      CHOICES.corridor_max_area_m2 / 1e6))
  end
  return { kind = "corridor", path = path, width = width }
end

local function parse_geometry(params)
  local given = {}
  for _, name in ipairs({ "prox", "bbox", "corridor" }) do
    if params[name] then given[#given + 1] = name end
  end
  if #given == 0 then
    return nil, bad_input("One of the parameters prox, bbox or corridor is required")
  end
  if #given > 1 then
    return nil, bad_input("Only one of the parameters prox, bbox or corridor may be given")
  end
  local name = given[1]
  local v = last(params, name)
  if name == "prox" then return parse_prox(v) end
  if name == "bbox" then return parse_bbox(v) end
  return parse_corridor(v, last(params, "corridorwidth"))
end

local function parse_paging(params)
  local maxresults, offset = CHOICES.maxresults_default, 0
  local v = last(params, "maxresults")
  if v then
    maxresults = integer(v)
    if not maxresults or maxresults < 1 then
      return nil, nil, bad_input("Parameter maxresults must be a positive integer")
    end
    if maxresults > CHOICES.maxresults_cap then maxresults = CHOICES.maxresults_cap end
  end
  v = last(params, "offset")
  if v then
    offset = integer(v)
    if not offset or offset < 0 then
      return nil, nil, bad_input("Parameter offset must be a non-negative integer")
    end
  end
  return maxresults, offset
end

-- ---------------------------------------------------------------------------------------
-- building a station

local function ts(s)
  if not s then return nil end
  if find(s, "%.%d+Z$") or not find(s, "Z$") then return s end
  return sub(s, 1, -2) .. ".000Z"
end

local function round4(x) return floor(x * 10000 + 0.5) / 10000 end

local function band(kw)
  if not kw or kw <= 0 then return nil end
  if kw <= 6 then return "1" end
  if kw <= 15 then return "2" end
  if kw <= 50 then return "3" end
  if kw <= 150 then return "4" end
  if kw <= 300 then return "5" end
  return "6"
end

local PHASES = CHOICES.phases
local DAY_BIT = CHOICES.day_bit
local PAYMENT = CHOICES.payment
local PAYMENT_ORDER = { "creditCard", "debitCard", "ePayment", "other" } -- HERE's order
local PRICING = CHOICES.pricing

local function opening_hours(oh)
  if not oh then return nil, nil end
  if oh.open24x7 then
    local period = obj()
    put(period, "from", "00:00:00")
    put(period, "to", "23:59:59")
    local entry = obj()
    put(entry, "daymask", 127)
    put(entry, "period", arr({ period }))
    return true, put(obj(), "regularOpeningHours", arr({ entry }))
  end
  if not oh.regularSchedule then return nil, nil end
  local entries = arr()
  for _, e in ipairs(oh.regularSchedule) do
    local mask = 0
    for _, d in ipairs(e.days or {}) do mask = mask + (DAY_BIT[d] or 0) end
    local periods = arr()
    for _, p in ipairs(e.periods or {}) do
      periods[#periods + 1] = put(put(obj(), "from", p.from), "to", p.to)
    end
    entries[#entries + 1] = put(put(obj(), "daymask", mask), "period", periods)
  end
  return false, put(obj(), "regularOpeningHours", entries)
end

local function pricing_of(rec, tariff_idx)
  local tariffs = rec.tariffs
  if not tariffs then return nil end
  local chosen = {}
  for i = 1, #tariff_idx do
    local t = tariffs[tariff_idx[i] + 1]
    if t and (t.type or "adhoc") == "adhoc" then chosen[#chosen + 1] = t end
  end
  if #chosen == 0 and #tariff_idx == 0 then
    for i = 1, #tariffs do
      if (tariffs[i].type or "adhoc") == "adhoc" then chosen[1] = tariffs[i]; break end
    end
  end
  if #chosen == 0 then return nil end
  local list, seen, paid = arr(), {}, false
  for _, t in ipairs(chosen) do
    for _, el in ipairs(t.elements or {}) do
      for _, c in ipairs(el.components or {}) do
        local pm = PRICING[c.dimension]
        if pm and c.price then
          local value = c.price
          if CHOICES.price_incl_vat and c.vat then value = value * (1 + c.vat / 100) end
          value = round4(value)
          local key = pm[1] .. "\0" .. value .. "\0" .. tostring(t.currency)
          if not seen[key] then
            seen[key] = true
            if value > 0 then paid = true end
            local p = obj()
            put(p, "pricingModel", pm[1])
            put(p, "price", put(put(obj(), "value", flt(value)), "currency", t.currency))
            put(p, "unit", put(put(obj(), "value", pm[2]), "amount", 1))
            list[#list + 1] = p
          end
        end
      end
    end
  end
  return list, paid
end

-- static (status independent) data of a station, cached per record
local function static_of(rec)
  local st = S.static[rec]
  if st then return st end
  st = {}
  local brand_entity = rec.suboperator or rec.operator
  st.brand = brand_entity and brand_entity.name
  st.supplier_uid = brand_entity and brand_entity.partnerId
  -- connector groups: key (v2 type id, maxPower, fixed cable or not), in order of first
  -- appearance, sorted afterwards by type id, power, then sockets before cables. Each
  -- connector is one member (one connectorStatus); `evses` lists the group's EVSEs once
  -- each, in order, for the counts.
  local groups, by_key, types = {}, {}, {}
  local evses = rec.evses or {}
  for ei = 1, #evses do
    local e = evses[ei]
    local seen = {}
    for _, c in ipairs(e.connectors or {}) do
      local tid = v2_type_of(c.standard)
      if tid then
        types[tid] = true
        local cable = c.format == "cable"
        local key = tid .. "\0" .. tostring(c.maxPower) .. "\0" .. tostring(cable)
        local g = by_key[key]
        if not g then
          g = { type_id = tid, max_power = c.maxPower, members = {}, evses = {}, volt = 0, amp = 0,
            power_type = c.powerType, cable = cable, tariff_idx = {}, tseen = {} }
          by_key[key] = g
          groups[#groups + 1] = g
        end
        g.members[#g.members + 1] = { evse = e, connector = c }
        if not seen[key] then
          seen[key] = true
          g.evses[#g.evses + 1] = e
        end
        if (c.maxVoltage or 0) > g.volt then g.volt = c.maxVoltage end
        if (c.maxCurrent or 0) > g.amp then g.amp = c.maxCurrent end
        if c.powerType == "dc" then g.power_type = "dc" end
        for _, idx in ipairs(c.tariffIndexes or {}) do
          if not g.tseen[idx] then
            g.tseen[idx] = true
            g.tariff_idx[#g.tariff_idx + 1] = idx
          end
        end
        for _, cap in ipairs(e.capabilities or {}) do
          if cap == "reservable" then g.reservable = true end
        end
      end
    end
  end
  sort(groups, function(a, b)
    local ta, tb = tonumber(a.type_id), tonumber(b.type_id)
    if ta ~= tb then return ta < tb end
    local pa, pb = a.max_power or -1, b.max_power or -1
    if pa ~= pb then return pa < pb end
    return (not a.cable) and b.cable
  end)
  local open24, hours = opening_hours(rec.openingHours)
  for _, g in ipairs(groups) do
    sort(g.tariff_idx)
    g.pricing, g.paid = pricing_of(rec, g.tariff_idx)
    g.open24, g.hours = open24, hours
  end
  st.groups = groups
  st.types = types
  local emsps = {}
  for _, e in ipairs(rec.eMobilityServiceProviders or {}) do
    if e.partnerId then emsps[e.partnerId] = true end
  end
  st.emsps = emsps
  S.static[rec] = st
  return st
end

local function address_of(a)
  if not a then return nil end
  local o = obj()
  put(o, "state", a.state)
  put(o, "county", a.county)
  put(o, "city", a.city)
  put(o, "country", a.countryCode)
  put(o, "district", a.district)
  put(o, "street", a.street)
  put(o, "streetNumber", a.houseNumber)
  put(o, "postalCode", a.postalCode)
  local unparsed = a.label
  if a.street then unparsed = a.houseNumber and (a.street .. " " .. a.houseNumber) or a.street end
  put(o, "unparsedAddress", unparsed)
  if #o == 0 then return nil end
  return o
end

local function position(lat, lng)
  return put(put(obj(), "latitude", flt(lat)), "longitude", flt(lng))
end

local function charge_capacity(g)
  if g.volt <= 0 or g.amp <= 0 then return nil end
  if g.power_type == "dc" then
    return format("%d-%dVDC, at max %dA", g.volt, g.volt, g.amp)
  end
  return format("%d-%dVAC, %d-phase at max %dA", g.volt, g.volt, PHASES[g.power_type] or 1, g.amp)
end

-- v3 power type -> its entry of CHOICES.power_feed_types, for the power types a group
-- names with powerFeedType (CHOICES.power_feed_type_in_groups)
local FEED_OF = {}
for _, t in ipairs(CHOICES.power_feed_types) do
  if CHOICES.power_feed_type_in_groups[t[3]] then FEED_OF[t[3]] = t end
end

local COUNT_FIELD = { AVAILABLE = "available", OCCUPIED = "inuse", OUT_OF_SERVICE = "oos",
  RESERVED = "reserved" }

local function connector_group(st, g, evse_now)
  local o = obj()
  put(o, "supplierName", st.brand)
  local info = type_info(g.type_id)
  put(o, "connectorType", put(put(obj(), "name", info and info.name or ("Connector type " ..
    g.type_id)), "id", g.type_id))
  local feed = FEED_OF[g.power_type]
  if feed then put(o, "powerFeedType", put(put(obj(), "name", feed[2]), "id", feed[1])) end
  put(o, "chargeCapacity", charge_capacity(g))
  local kw = g.max_power and g.max_power / 1000
  if kw then put(o, "maxPowerLevel", flt(kw)) end
  put(o, "customerChargeLevel", band(kw))
  put(o, "customerConnectorName", info and info.common_name)
  put(o, "fixedCable", g.cable)
  local det = obj()
  if g.reservable then put(det, "reservable", true) end
  put(det, "open24x7", g.open24)
  put(det, "openingHours", g.hours)
  if g.pricing then
    put(det, "pay", g.paid)
    put(det, "pricing", g.pricing)
  end
  if #det > 0 then put(o, "connectorDetails", det) end
  -- dynamic part
  local counts = { available = 0, inuse = 0, oos = 0, reserved = 0 }
  local latest
  local statuses = arr()
  -- the counts: one per EVSE of the group, as v3's connectorCount (identical connectors
  -- of one EVSE count once); the statuses: one item per connector
  for _, e in ipairs(g.evses) do
    local now = evse_now[e]
    local f = COUNT_FIELD[now.state]
    if f then counts[f] = counts[f] + 1 end
    if now.modified and (not latest or now.modified > latest) then latest = now.modified end
  end
  for _, m in ipairs(g.members) do
    local state = evse_now[m.evse].state
    local s = obj()
    put(s, "cpoEvseId", m.evse.uid)
    put(s, "cpoEvseEMI3Id", m.evse.evseId)
    put(s, "physicalReference", m.evse.physicalReference)
    put(s, "cpoConnectorId", m.connector.id)
    put(s, "state", state)
    statuses[#statuses + 1] = s
  end
  local cp = obj()
  put(cp, "chargeMode", g.power_type == "dc" and "4" or "3")
  if g.volt > 0 then
    put(cp, "voltsRange", format("%d-%dV %s", g.volt, g.volt, g.power_type == "dc" and "DC" or "AC"))
  end
  if g.power_type ~= "dc" then put(cp, "phases", PHASES[g.power_type]) end
  if g.amp > 0 then put(cp, "ampsRange", format("%dA", g.amp)) end
  put(cp, "numberOfConnectors", #g.evses)
  put(cp, "numberOfAvailable", counts.available)
  if counts.inuse > 0 then put(cp, "numberOfInUse", counts.inuse) end
  if counts.oos > 0 then put(cp, "numberOfOutOfService", counts.oos) end
  if counts.reserved > 0 then put(cp, "numberOfReserved", counts.reserved) end
  put(cp, "lastUpdateTimestamp", ts(latest))
  put(o, "chargingPoint", cp)
  put(o, "lastUpdateTimestamp", ts(latest))
  put(o, "connectorStatuses", put(obj(), "connectorStatus", statuses))
  put(o, "supplierUID", st.supplier_uid)
  return o
end

local function station_details(rec)
  local o = obj()
  local restricted = rec.restrictions ~= nil and #rec.restrictions > 0
  put(o, "privateAccess", false)
  put(o, "restrictedAccess", restricted)
  put(o, "accessibilityType", restricted and "RESTRICTED" or "PUBLIC")
  local kinds = {}
  for _, e in ipairs(rec.evses or {}) do
    for _, p in ipairs(e.paymentSupports or {}) do
      local m = PAYMENT[p]
      if m then
        local k = kinds[m[1]]
        if not k then k = { types = {}, seen = {} }; kinds[m[1]] = k end
        if m[2] and not k.seen[m[2]] then
          k.seen[m[2]] = true
          k.types[#k.types + 1] = m[2]
        end
      end
    end
  end
  local pm = obj()
  for _, kind in ipairs(PAYMENT_ORDER) do
    local k = kinds[kind]
    if k then
      local entry = put(obj(), "accept", true)
      if #k.types > 0 then
        sort(k.types)
        put(entry, "types", put(obj(), "type", arr(k.types)))
      end
      put(pm, kind, entry)
    end
  end
  if #pm > 0 then put(o, "paymentMethods", pm) end
  return o
end

-- The v2 station of a record. `k` is the status step; `distance` in metres or nil.
local function build_station(rec, k, distance)
  local st = static_of(rec)
  local evse_now, latest = {}, nil
  for _, e in ipairs(rec.evses or {}) do
    local status, modified = S.clock:evse_state(e, k)
    evse_now[e] = { state = v2_state(status), modified = modified }
    if modified and (not latest or modified > latest) then latest = modified end
  end
  local o = obj()
  put(o, "@id", S.station_id[rec])
  put(o, "@lastUpdateTimestamp", ts(latest))
  put(o, "@timeZone", rec.timeZone)
  put(o, "address", address_of(rec.address))
  local contacts = obj()
  if rec.supportPhoneNumber then
    put(contacts, "phone", arr({ put(put(obj(), "value", rec.supportPhoneNumber), "label", "PHONE") }))
  end
  local web = (rec.suboperator and rec.suboperator.website) or (rec.operator and rec.operator.website)
  if web then
    put(contacts, "website", arr({ put(put(obj(), "value", web), "label", "WEBSITE") }))
  end
  if #contacts > 0 then put(o, "contacts", contacts) end
  if distance then put(o, "distance", floor(distance + 0.5)) end
  put(o, "position", position(rec.location.lat, rec.location.lng))
  local ap = rec.accessPoints and rec.accessPoints[1]
  if ap and ap.lat and ap.lng then put(o, "entrancePosition", position(ap.lat, ap.lng)) end
  put(o, "name", rec.name)
  put(o, "brand", st.brand)
  put(o, "poolId", S.pool_id[rec])
  put(o, "cpoId", rec.cpoLocationId)
  local total, list = 0, arr()
  for _, g in ipairs(st.groups) do
    total = total + #g.evses
    list[#list + 1] = connector_group(st, g, evse_now)
  end
  put(o, "totalNumberOfConnectors", total)
  if #list > 0 then put(o, "connectors", put(obj(), "connector", list)) end
  put(o, "evStationDetails", station_details(rec))
  local roaming = arr()
  for _, e in ipairs(rec.eMobilityServiceProviders or {}) do
    roaming[#roaming + 1] = put(put(obj(), "emsp", e.name), "partnerId", e.partnerId)
  end
  if #roaming > 0 then put(o, "roaming", roaming) end
  return o
end
M.build_station = build_station

-- ---------------------------------------------------------------------------------------
-- resources

local function stations_doc(stations, has_more, with_count)
  local doc = obj()
  put(doc, "hasMore", has_more)
  if with_count then put(doc, "count", #stations) end
  put(doc, "evStations", put(obj(), "evStation", arr(stations)))
  return doc
end

-- records matching a geometry, with distances, sorted
local function search(geo)
  local boxes
  if geo.kind == "prox" then
    boxes = { box_around(geo.lat, geo.lat, geo.lng, geo.lng, geo.radius) }
  elseif geo.kind == "bbox" then
    boxes = { { s = geo.s, n = geo.n, w = geo.w, e = geo.e } }
  else
    boxes = {}
    local half = geo.width / 2
    for i = 1, #geo.path - 1 do
      local a, b = geo.path[i], geo.path[i + 1]
      local w, e = math.min(a.lng, b.lng), math.max(a.lng, b.lng)
      if e - w > 180 then w, e = e, w + 360 end -- the shorter way, across +-180
      boxes[#boxes + 1] = box_around(math.min(a.lat, b.lat), math.max(a.lat, b.lat), w, e, half)
    end
  end
  local hits = {}
  local cands = candidates(boxes)
  for i = 1, #cands do
    local rec = cands[i]
    local loc = rec.location
    if loc and loc.lat and loc.lng then
      local lat, lng = loc.lat, loc.lng
      if geo.kind == "prox" then
        local d = haversine(geo.lat, geo.lng, lat, lng)
        if d <= geo.radius then hits[#hits + 1] = { rec = rec, d = d } end
      elseif geo.kind == "bbox" then
        if lat <= geo.n and lat >= geo.s then
          local x = lng
          if x < geo.w then x = x + 360 end
          if x <= geo.e then hits[#hits + 1] = { rec = rec } end
        end
      else
        local off, along = corridor_measure(geo.path, lat, lng)
        if off <= geo.width / 2 then hits[#hits + 1] = { rec = rec, d = along + off } end
      end
    end
  end
  local sid = S.station_id
  if geo.kind == "bbox" then
    sort(hits, function(a, b) return sid[a.rec] < sid[b.rec] end)
  else
    sort(hits, function(a, b)
      if a.d ~= b.d then return a.d < b.d end
      return sid[a.rec] < sid[b.rec]
    end)
  end
  return hits
end

local function get_stations(params)
  local geo, err = parse_geometry(params)
  if not geo then return nil, err end
  local maxresults, offset
  maxresults, offset, err = parse_paging(params)
  if not maxresults then return nil, err end
  local types
  local ct = list_param(params, "connectortype")
  if ct then
    types = {}
    for _, v in ipairs(ct) do
      local n = integer(v)
      if not n or n < 0 then
        return nil, bad_input("Parameter connectortype must be a comma-separated list of connector type ids")
      end
      types[tostring(n)] = true
    end
  end
  local emsp = list_param(params, "emsp")
  local hits = search(geo)
  local matched = {}
  for _, h in ipairs(hits) do
    local ok = true
    if types or emsp then
      local st = static_of(h.rec)
      if types then
        ok = false
        for t in pairs(st.types) do
          if types[t] then ok = true; break end
        end
      end
      if ok and emsp then
        ok = false
        for _, id in ipairs(emsp) do
          if st.emsps[id] then ok = true; break end
        end
      end
    end
    if ok then matched[#matched + 1] = h end
  end
  local k = S.clock:step()
  local page = {}
  for i = offset + 1, math.min(#matched, offset + maxresults) do
    local h = matched[i]
    page[#page + 1] = build_station(h.rec, k, geo.kind ~= "bbox" and h.d or nil)
  end
  return "ev:evStationsResult", stations_doc(page, offset + #page < #matched, true)
end

local function get_count(params)
  local geo, err = parse_geometry(params)
  if not geo then return nil, err end
  return "ev:countResult", put(obj(), "count", #search(geo))
end

local function not_found(what)
  return { CHOICES.error_type_not_found, what, 404 }
end

local function get_station(id)
  local rec = S.by_station[id]
  if not rec then return nil, not_found("No station exists with the given id") end
  return "ev:evStationsResult", stations_doc({ build_station(rec, S.clock:step(), nil) },
    false, false)
end

local function get_pool(id)
  local rec = S.by_pool[id]
  if not rec then return nil, not_found("No pool exists with the given id") end
  return "ev:evStationsResult", stations_doc({ build_station(rec, S.clock:step(), nil) },
    false, false)
end

-- ids from repeated (and comma separated) `id` parameters, deduplicated, sorted
local function bulk_records(params, map, what)
  local ids = list_param(params, "id")
  if not ids or #ids == 0 then return nil, bad_input("Parameter id is required") end
  local recs, seen = {}, {}
  for _, id in ipairs(ids) do
    local rec = map[id]
    if not rec then
      return nil, not_found(format("No %s exists with the id %s", what, id))
    end
    if not seen[rec] then
      seen[rec] = true
      recs[#recs + 1] = { id = id, rec = rec }
    end
  end
  sort(recs, function(a, b) return a.id < b.id end)
  return recs
end

local function get_bulk(params, map, what)
  local recs, err = bulk_records(params, map, what)
  if not recs then return nil, err end
  local k = S.clock:step()
  local list = {}
  for i, r in ipairs(recs) do list[i] = build_station(r.rec, k, nil) end
  return "ev:evStationsResult", stations_doc(list, false, true)
end

local function get_evses(params)
  local recs, err = bulk_records(params, S.by_pool, "pool")
  if not recs then return nil, err end
  local k = S.clock:step()
  local pools = arr()
  for _, r in ipairs(recs) do
    local evses = arr()
    for _, e in ipairs(r.rec.evses or {}) do
      local status, modified = S.clock:evse_state(e, k)
      local state = v2_state(status)
      local eo = obj()
      put(eo, "id", e.id and content_id(e.id) or e.uid)
      put(eo, "cpoId", e.uid)
      put(eo, "cpoEvseEMI3Id", e.evseId)
      put(eo, "physicalReference", e.physicalReference)
      put(eo, "state", state)
      put(eo, "last_updated", ts(modified))
      local conns = arr()
      for ci, c in ipairs(e.connectors or {}) do
        local co = obj()
        put(co, "id", format("%s-%d", e.id and content_id(e.id) or e.uid, ci))
        put(co, "cpoId", c.id)
        put(co, "typeId", v2_type_of(c.standard) or "1")
        if c.maxPower then put(co, "maxPowerLevel", flt(c.maxPower / 1000)) end
        put(co, "state", state)
        put(co, "last_updated", ts(modified))
        conns[#conns + 1] = co
      end
      put(eo, "connectors", put(obj(), "connector", conns))
      evses[#evses + 1] = eo
    end
    local po = obj()
    put(po, "@id", r.id)
    put(po, "evses", put(obj(), "evse", evses))
    pools[#pools + 1] = po
  end
  return "ev:" .. CHOICES.evses_root, put(obj(), "pools", put(obj(), "pool", pools))
end

local CONNECTOR_TYPES
local function get_connector_types()
  if not CONNECTOR_TYPES then
    local list = arr()
    for _, t in ipairs(tables.connector_types()) do
      local o = obj()
      put(o, "name", t.name)
      put(o, "id", t.id)
      list[#list + 1] = o
    end
    CONNECTOR_TYPES = put(obj(), "connectorType", list)
  end
  return "ev:" .. CHOICES.connectortypes_root, CONNECTOR_TYPES
end

local POWER_FEED_TYPES
local function get_power_feed_types()
  if not POWER_FEED_TYPES then
    local list = arr()
    for _, t in ipairs(CHOICES.power_feed_types) do
      list[#list + 1] = put(put(obj(), "name", t[2]), "id", t[1])
    end
    POWER_FEED_TYPES = put(obj(), "powerFeedType", list)
  end
  return "ev:" .. CHOICES.powerfeedtypes_root, POWER_FEED_TYPES
end

local function get_roamings()
  local by_id, order = {}, {}
  for _, c in ipairs(S.db.countries or {}) do
    for _, e in ipairs(c.eMobilityServiceProviders or {}) do
      if e.partnerId then
        local r = by_id[e.partnerId]
        if not r then
          r = { emsp = e.name, partnerId = e.partnerId, countries = {}, seen = {} }
          by_id[e.partnerId] = r
          order[#order + 1] = r
        end
        local cc = upper(c.countryCode or "")
        if cc ~= "" and not r.seen[cc] then
          r.seen[cc] = true
          r.countries[#r.countries + 1] = cc
        end
      end
    end
  end
  sort(order, function(a, b) return a.partnerId < b.partnerId end)
  local list = arr()
  for _, r in ipairs(order) do
    sort(r.countries)
    local o = obj()
    put(o, "emsp", r.emsp)
    put(o, "partnerId", r.partnerId)
    put(o, "country", arr(r.countries))
    list[#list + 1] = o
  end
  return CHOICES.roamings_root, put(obj(), "roaming", list)
end

-- ---------------------------------------------------------------------------------------
-- routing

local function error_doc(e)
  return put(put(obj(), "Type", e[1]), "Message", arr({ e[2] }))
end

local function respond(ctx, fmt, status, root, doc)
  if ctx.headers then
    ctx.headers["Content-Type"] = fmt == "xml" and CHOICES.xml_content_type
      or CHOICES.json_content_type
  end
  return status, encode(doc, root, fmt)
end

-- Returns a handler for a path below /ev/ (always: unknown paths get a v2 404).
function M.route(path)
  local base, ext = match(path, "^/ev/(.*)%.([^./]*)$")
  local fmt = (ext == "json" or ext == "xml") and ext or nil
  return function(ctx, params)
    if not fmt then
      return respond(ctx, "json", 404, "error:Error",
        error_doc(not_found("No resource exists at this path")))
    end
    local root, doc
    if base == "stations" then
      root, doc = get_stations(params)
    elseif base == "stations/count" then
      root, doc = get_count(params)
    elseif base == "stations/bulk" then
      root, doc = get_bulk(params, S.by_station, "station")
    elseif base == "pools/bulk" then
      root, doc = get_bulk(params, S.by_pool, "pool")
    elseif base == "evses/bulk" then
      root, doc = get_evses(params)
    elseif base == "connectortypes" then
      root, doc = get_connector_types()
    elseif base == "roamings" then
      root, doc = get_roamings()
    elseif base == "powerfeedtypes" then
      root, doc = get_power_feed_types()
    else
      local kind, id = match(base, "^(%a+)/([^/]+)$")
      if kind == "stations" then
        root, doc = get_station(url_unescape(id, true))
      elseif kind == "pools" then
        root, doc = get_pool(url_unescape(id, true))
      else
        doc = not_found("No resource exists at this path")
      end
    end
    if root then return respond(ctx, fmt, 200, root, doc) end
    return respond(ctx, fmt, doc[3], "error:Error", error_doc(doc))
  end
end

return M
