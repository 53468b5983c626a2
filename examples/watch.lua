-- Live EVSE status changes of some locations, from HERE's status stream,
-- printed as a table while they come (Ctrl-C, or EVCP_WATCH_SECONDS, ends it).
--   EVCP_URL=http://127.0.0.1:8080 EVCP_TOKEN=T lua5.4 examples/watch.lua [LOCATION-ID...]
-- No id: every location. The stream takes bearer tokens only: EVCP_TOKEN, or
-- HERE OAuth credentials in HERE_ACCESS_KEY_ID / HERE_ACCESS_KEY_SECRET.
-- The consumer starts at the stream's end (auto.offset.reset = latest): only
-- changes from now on are shown.
local evcp = require("evcp")

local opts = { base_url = os.getenv("EVCP_URL") or "http://127.0.0.1:8080" }
if os.getenv("EVCP_TOKEN") then opts.access_token = os.getenv("EVCP_TOKEN") end
local client = evcp.new(opts)

-- the ids asked for, by their content id (the part after the last ':')
local wanted, any = {}, false
for _, id in ipairs({ ... }) do
  wanted[id:match("[^:]*$")] = true
  any = true
end

local seconds = tonumber(os.getenv("EVCP_WATCH_SECONDS") or "") or math.huge
local consumer, err = client:stream({ properties = { ["auto.offset.reset"] = "latest" } })
if not consumer then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end

print(string.format("%-20s  %-14s  %-12s  %s", "last updated", "status", "raw", "location / EVSE"))
io.stdout:flush()
local started = os.time()
while os.time() - started < seconds do
  for u in consumer:updates({ timeout = math.min(5, seconds) }) do
    if not any or wanted[u.location_id:match("[^:]*$")] then
      print(string.format("%-20s  %-14s  %-12s  %s / %s", u.last_updated, u.status or "?", u.raw_status,
        u.location_id:match("[^:]*$"), u.evse_id:match("[^:]*$")))
      io.stdout:flush()
    end
  end
  if consumer:err() then
    io.stderr:write(tostring(consumer:err()), "\n")
    break
  end
  consumer:commit()
end
consumer:close()
client:close()
