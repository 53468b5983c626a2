-- evcp_emulator.source.uk_ncr: UK National Chargepoint Registry (Nov 2017 export).

local sub, find, gsub, match =
  string.sub, string.find, string.gsub, string.match
local concat = table.concat
local C = require("evcp_emulator.convert")
local int, ceil_int, num, csv_rows, nonempty, sql_date, business, schedule, hhmmss =
  C.int, C.ceil_int, C.num, C.csv_rows, C.nonempty, C.sql_date, C.business, C.schedule, C.hhmmss

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

return { name = "uk-ncr", file = "stations/uk-ncr-2017/national-charge-point-registry.csv", load = load_uk }
