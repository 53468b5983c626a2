-- evcp_emulator.source.bnetza: Bundesnetzagentur Ladesaeulenregister (Cologne rows, 2022).

local floor = math.floor
local sub, find, format, gsub, lower, match, gmatch =
  string.sub, string.find, string.format, string.gsub, string.lower, string.match, string.gmatch
local C = require("evcp_emulator.convert")
local int, ceil_int, num, hash32, hex64, csv_rows, trim, nonempty, rfc3339, business =
  C.int, C.ceil_int, C.num, C.hash32, C.hex64, C.csv_rows, C.trim, C.nonempty, C.rfc3339, C.business

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
            label = line .. (extra and (" " .. extra) or "") .. ", " .. (pc or "") .. " "
              .. (city or "") .. ", Germany",
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

return { name = "bnetza", file = "stations/bnetza-koeln-2022/Ladesaeulenregister.csv", load = load_de }
