-- API v2: HERE's quick-start query (Type 2 chargers within 5 km of Berlin's
-- centre), in XML, as the same Location objects v3 gives.
--   EVCP_URL=http://127.0.0.1:8080 lua5.4 examples/v2-berlin.lua
local evcp = require("evcp")

local client = evcp.new({
  base_url = os.getenv("EVCP_URL") or os.getenv("EVCP_TEST_URL") or "http://127.0.0.1:8080",
  api_key = os.getenv("EVCP_API_KEY") or "demo-key",
})

local page, err = client.v2:stations({ prox = { 52.516667, 13.383333, 5000 }, connectortype = { 31 },
  format = "xml" })
if not page then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end
for _, loc in ipairs(page.items) do
  local free, total = 0, 0
  for evse in loc:evses() do
    total = total + 1
    if evse.status == "available" then free = free + 1 end
  end
  print(string.format("%5d m  %-32s %d of %d EVSEs available", loc.v2.distance, loc.name or "?", free, total))
end
client:close()
