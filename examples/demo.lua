-- The evcp demo: look up the locations of HERE's documentation and print
-- each EVSE's status and each connector group's availability.
--   EVCP_URL=http://127.0.0.1:8080 EVCP_API_KEY=demo-key lua5.4 examples/demo.lua
local evcp = require("evcp")

local client = evcp.new({
  base_url = os.getenv("EVCP_URL") or os.getenv("EVCP_TEST_URL") or "http://127.0.0.1:8080",
  api_key = os.getenv("EVCP_API_KEY") or "demo-key",
})

local ids = {
  "here:evcp:charginglocation:246udbvy497hq-aGVyZS1ldjplY29tb3ZlbWVudDoyMDEyMTg1ODgz",
  "here:evcp:charginglocation:246udbvy413fw-aGVyZS1ldjplY29tb3ZlbWVudDoyMDEyNDI4MTEx",
  "here:evcp:charginglocation:56u1516726h2-aGVyZS1ldjplY29tb3ZlbWVudDoxMjc3ODgxMDM",
  "here:evcp:charginglocation:246ued1sw0v2m-aGVyZS1ldjplY29tb3ZlbWVudDoxNTUyMzM5Nzc0",
}

local res, err = client:locations(ids, { fields = { "address", "evses", "connectorGroups" } })
if not res then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end

local function kw(w)
  if not w then return "?" end
  return string.format("up to %g kW", w / 1000)
end

local function row(cols, widths)
  local out = {}
  for i, c in ipairs(cols) do
    local s = tostring(c)
    out[i] = s .. string.rep(" ", widths[i] - #s)
  end
  print("  " .. table.concat(out, "  "))
end

for _, loc in ipairs(res.items) do
  local a = loc.address or {}
  print(string.format("%s  (%s)", loc.name or "EV Charging Station", loc.id))
  local where = a.label or table.concat({ a.street or "?", a.city or "?" }, ", ")
  print(string.format("  %s  [%.6f, %.6f]  operator: %s", where,
    loc.location.lat, loc.location.lng, loc.operator and loc.operator.name or "?"))
  local widths = { 16, 12, 20, 16 }
  row({ "EVSE", "status", "connector", "power" }, widths)
  for evse in loc:evses() do
    for c in evse:connectors() do
      row({ evse.evseId or evse.uid, evse.status, c.standard, kw(c.maxPower) }, widths)
    end
  end
  print("  connector groups:")
  for g in loc:connector_groups() do
    local avail = g.availableConnectorCount
    print(string.format("    %-20s %-16s %s of %d available", g.standard, kw(g.maxPower),
      avail and tostring(avail) or "?", g.connectorCount))
  end
  print()
end
for _, id in ipairs(res.missing) do print("not found: " .. id) end
client:close()
