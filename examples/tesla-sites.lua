-- Which sites only Teslas can use, and which are open NACS sites: look up a
-- batch of locations and classify each one (rules from HERE's connectors
-- tutorial).
--   EVCP_URL=http://127.0.0.1:8080 lua5.4 examples/tesla-sites.lua ID...
local evcp = require("evcp")

local client = evcp.new({
  base_url = os.getenv("EVCP_URL") or os.getenv("EVCP_TEST_URL") or "http://127.0.0.1:8080",
  api_key = os.getenv("EVCP_API_KEY") or "demo-key",
})

local ids = { ... }
if #ids == 0 then
  io.stderr:write("usage: tesla-sites.lua LOCATION-ID...\n")
  os.exit(2)
end
local res, err = client:locations(ids, { fields = { "evses" } })
if not res then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end
for _, loc in ipairs(res.items) do
  print(string.format("%-12s %s", evcp.tesla.classify(loc) or "-", loc.name or loc.id))
end
for _, id in ipairs(res.missing) do print("not found    " .. id) end
client:close()
