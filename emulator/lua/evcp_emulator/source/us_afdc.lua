-- evcp_emulator.source.us_afdc: US DOE Alternative Fuels Data Center (Washington state, Nov 2025).

local floor = math.floor
local sub, find, format, gsub, lower, match, gmatch =
  string.sub, string.find, string.format, string.gsub, string.lower, string.match, string.gmatch
local concat, sort = table.concat, table.sort
local C = require("evcp_emulator.convert")
local ceil_int, num, hash32, csv_rows, trim, nonempty, sql_date, business, schedule =
  C.ceil_int, C.num, C.hash32, C.csv_rows, C.trim, C.nonempty, C.sql_date, C.business, C.schedule

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
      if #ph == 10 then
        site.phone = "+1" .. ph
      elseif #ph == 11 and sub(ph, 1, 1) == "1" then
        site.phone = "+" .. ph
      end
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

return { name = "afdc", file = "stations/afdc-wa-2025/alt_fuel_stations.csv", load = load_us }
