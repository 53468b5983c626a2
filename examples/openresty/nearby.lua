-- The handler of examples/openresty/nginx.conf: nearby charging sites and
-- their availability as JSON, through evcp with transport = "resty". Each
-- evcp call yields the request while libcurl works on nginx's thread pool,
-- so the worker keeps serving other requests meanwhile.
--
--   GET /nearby?lat=52.516667&lng=13.383333&radius=5000
--   200 {"count": 2, "sites": [{"id": ..., "name": ..., "distance": 120,
--        "available": 1, "total": 4, "statuses": {"available": 1, ...}}, ...]}
--   400 {"error": "..."} for bad arguments, 502 {"error": ..., "kind": ...}
--   when HERE (or the network) fails.
local evcp = require("evcp")
local cjson = require("cjson.safe").new()

local M = {}

-- One client per nginx worker, made at the first request and kept: its
-- transport reuses the thread pool's kept-alive connections across requests.
local client

local function get_client()
  if client == nil then
    client = evcp.new({
      base_url = os.getenv("EVCP_URL"), -- nil: HERE's own
      api_key = os.getenv("EVCP_API_KEY"),
      -- "resty" (libcurl on nginx's thread pool), or "resty.http" when
      -- lua-resty-http is installed (cosockets; no thread pool used)
      transport = os.getenv("EVCP_TRANSPORT") or "resty",
      timeout = 5,
    })
  end
  return client
end

local function reply(status, t)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.say(cjson.encode(t))
end

function M.handle()
  local args = ngx.req.get_uri_args(10)
  local lat, lng = tonumber(args.lat), tonumber(args.lng)
  local radius = tonumber(args.radius or 2000)
  if not (lat and lng and radius) or lat < -90 or lat > 90 or lng < -180 or lng > 180
      or radius < 1 or radius > 200000 then
    return reply(400, { error = "give lat (-90..90), lng (-180..180) and radius (1..200000 m)" })
  end
  local page, err = get_client().v2:stations({ prox = { lat, lng, math.floor(radius) } })
  if page == nil then
    ngx.log(ngx.WARN, "nearby: ", tostring(err))
    return reply(502, { error = err.message, kind = err.kind, status = err.status })
  end
  local sites = {}
  for i, loc in ipairs(page.items) do
    local statuses, free, total = {}, 0, 0
    for evse in loc:evses() do
      local st = evse.status or "unknown"
      statuses[st] = (statuses[st] or 0) + 1
      total = total + 1
      if st == "available" then free = free + 1 end
    end
    sites[i] = { id = loc.id, name = loc.name, distance = loc.v2 and loc.v2.distance,
      available = free, total = total, statuses = statuses }
  end
  return reply(200, { count = #sites, sites = sites })
end

return M
