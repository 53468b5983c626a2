-- evcp_emulator.stream: HERE's EV status stream as the emulator serves it: the API lookup
-- (/lookup/v1/...), the Data API stream v2 (/stream/v2/... and the node prefixes
-- /node/N/stream/v2/...), the blob API v1 for dataHandle payloads (/blob/v1/...), and the
-- deterministic message sequence behind them, which also drives the v3/v2 statuses when
-- the stream is on (--stream-interval-ms > 0). See emulator/STREAM.md.
--
--   stream.init{db =, seed =, start_time =, interval_ms =, partitions =, max_messages =,
--               blob_bytes =, session_ms =, lookup_max_age =, now =, store =}
--   stream.clock()               a status clock for v3/v2 (step, evse_state) or nil (off)
--   stream.route(path)           true when the path is one of the stream's
--   stream.dispatch(req, ctx)    req = {method, path, query, headers, body, host, fault}
--                                -> status, body, headers
--   stream.messages(p, from, n)  the encoded messages of partition p (tests, tools)
--
-- Independent of evcp's client: its own JSON building; gzip from evcp_emulator.zlib (LuaJIT
-- FFI), base64 from evcp_emulator.auth, hashing from evcp_emulator.clock.
local cjson = require("cjson").new()
local auth = require("evcp_emulator.auth")
local clock = require("evcp_emulator.clock")
local query = require("evcp_emulator.query")
local zlib = require("evcp_emulator.zlib")

local floor, format, concat, ssub = math.floor, string.format, table.concat, string.sub

local M = {}

M.CATALOG = "hrn:here:data::olp-here:evcp2-updates-prd"
M.LAYER = "evse-update-stream"
M.NODES = 2                     -- subscriptions are spread over /node/1 and /node/2
M.DEFAULT_PARTITIONS = 4
M.DEFAULT_SESSION_MS = 30000
M.DEFAULT_BLOB_BYTES = 1048576
M.DEFAULT_MAX_MESSAGES = 200000
M.DEFAULT_LOOKUP_MAX_AGE = 300
M.MAX_POLL = 10000              -- max.poll.records is capped here

-- stream spelling, weight (per mille), v3 spelling
M.STATUSES = {
  { "AVAILABLE", 520, "available" }, { "CHARGING", 300, "charging" },
  { "UNKNOWN", 60, "unknown" }, { "OUT_OF_ORDER", 40, "outOfOrder" },
  { "BLOCKED", 30, "blocked" }, { "INOPERATIVE", 30, "inoperative" },
  { "RESERVED", 20, "reserved" },
}
local V3_OF, INDEX_OF_V3 = {}, {}
for i, s in ipairs(M.STATUSES) do V3_OF[i] = s[3]; INDEX_OF_V3[s[3]] = i end
INDEX_OF_V3.operational = 1

local S = {}

-- ---- hashing (the status clock's), time, encodings ------------------------------------
local P, mix, string_hash, rfc3339 = clock.P, clock.mix, clock.string_hash, clock.rfc3339
local base64 = auth.base64
M.partition_of = function(location_id, n) return string_hash(location_id) % n end
M.gzip = zlib.gzip

local function md5_hex(s)
  if ngx and ngx.md5 then return ngx.md5(s) end
  -- outside nginx: a stand-in checksum (not MD5), 32 hex digits
  local h1, h2 = string_hash(s), mix(string_hash(s), #s)
  return format("%08x%08x%08x%08x", h1, h2, mix(h1, 7), mix(h2, 11))
end

-- ---- the message sequence -------------------------------------------------------------
-- Message k (k = 1, 2, ...) is published at t0 + k * interval. It names one location
-- (picked by a hash of seed and k) and 1..3 of its EVSEs, each with a new status (never
-- the one it had). An EVSE never changes twice within one second (its last_updated is
-- whole seconds); a k that finds no such EVSE in 16 tries publishes nothing.
-- Generation is lazy and identical in every worker: gen.k is how far it has run.

local gen -- { k, locs, parts = {p -> {k...}}, msg = {k -> {loc, evses = {i...}, sts = {...}, part, off}},
--          cur = {evse -> {status index, second, history {k, st}...}} }

local function reset_gen()
  local locs = {}
  for _, rec in ipairs(S.db and S.db.locations or {}) do
    local with = {}
    for _, e in ipairs(rec.evses or {}) do
      if type(e.id) == "string" then with[#with + 1] = e end
    end
    if #with > 0 then
      locs[#locs + 1] = { rec = rec, evses = with,
        part = M.partition_of(rec.id, S.partitions) }
    end
  end
  local parts = {}
  for p = 0, S.partitions - 1 do parts[p] = {} end
  gen = { k = 0, locs = locs, parts = parts, msg = {}, cur = {} }
end

local function time_of(k) return S.t0 + k * S.interval_ms / 1000 end
local function updated_of(k) return rfc3339(floor(time_of(k))) end

local function pick_status(h, current)
  local r = h % 1000
  local idx = #M.STATUSES
  for i, s in ipairs(M.STATUSES) do
    if r < s[2] then idx = i; break end
    r = r - s[2]
  end
  if idx == current then idx = idx % #M.STATUSES + 1 end
  return idx
end

local function state_of(e)
  local c = gen.cur[e]
  if c then return c end
  return nil
end

local function generate_one(k)
  local locs = gen.locs
  if #locs == 0 then return end
  local second = floor(time_of(k))
  local h = mix(S.seed_hash, k)
  for try = 0, 15 do
    local hh = mix(h, try)
    local L = locs[hh % #locs + 1]
    local n = #L.evses
    local want = 1
    local h2 = mix(hh, 101)
    if n >= 2 and h2 % 5 == 0 then want = (h2 % 2 == 0 and n >= 3) and 3 or 2 end
    local start = mix(hh, 202) % n
    local chosen, sts = {}, {}
    for j = 0, n - 1 do
      if #chosen >= want then break end
      local e = L.evses[(start + j) % n + 1]
      local c = state_of(e)
      if not c or c.second ~= second then
        local cur_idx = c and c.st or INDEX_OF_V3[e.status] or 1
        chosen[#chosen + 1] = e
        sts[#sts + 1] = pick_status(mix(hh, 300 + j), cur_idx)
      end
    end
    if #chosen > 0 then
      local part = gen.parts[L.part]
      local off = #part
      part[off + 1] = k
      gen.msg[k] = { k = k, loc = L, evses = chosen, sts = sts, off = off }
      for i, e in ipairs(chosen) do
        local c = gen.cur[e]
        if not c then c = { hist = {} }; gen.cur[e] = c end
        c.st, c.second = sts[i], second
        c.hist[#c.hist + 1] = k
      end
      return
    end
  end
end

-- how many messages are visible now
local function visible()
  if not S.interval_ms or S.interval_ms <= 0 then return 0 end
  local k = floor((S.now() - S.t0) * 1000 / S.interval_ms)
  if k < 0 then k = 0 end
  if k > S.max_messages then k = S.max_messages end
  return k
end

local function advance()
  local k = visible()
  while gen.k < k do
    gen.k = gen.k + 1
    generate_one(gen.k)
  end
  return k
end
M.advance = advance

-- the end offset (next offset to be written) of partition p now
local function end_offset(p)
  advance()
  return #gen.parts[p]
end

-- message JSON, built by hand so that the bytes are the same in every run
local function message_json(m)
  local items = {}
  local updated = updated_of(m.k)
  for i, e in ipairs(m.evses) do
    items[i] = '{"id":' .. cjson.encode(e.id) .. ',"status":"' .. M.STATUSES[m.sts[i]][1]
      .. '","last_updated":"' .. updated .. '"}'
  end
  return '{"id":' .. cjson.encode(m.loc.rec.id) .. ',"evses":[' .. concat(items, ",") .. "]}"
end
M.message_json = function(k) advance(); local m = gen.msg[k]; return m and message_json(m) end

local enc_cache, enc_count = {}, 0
local function encoded(k)
  local e = enc_cache[k]
  if e then return e end
  local m = gen.msg[k]
  local json = message_json(m)
  local gz = M.gzip(json)
  if not gz then error("evcp-emulator: zlib is not available for the stream", 0) end
  e = { json = json, gz = gz, checksum = md5_hex(gz), m = m }
  if enc_count > 20000 then enc_cache, enc_count = {}, 0 end
  enc_cache[k] = e
  enc_count = enc_count + 1
  return e
end

local function handle_of(k)
  return format("%08x-%d", mix(S.seed_hash, k + 977), k)
end

-- one message object of the /partitions answer; `fault` corrupts it
local function message_object(k, fault)
  local e = encoded(k)
  local m = e.m
  local gz, json = e.gz, e.json
  local data
  if fault == "msg-bad-gzip" then
    gz = ssub(gz, 1, 10) .. "this is not deflate data" .. ssub(gz, -8)
  elseif fault == "msg-double-gzip" then
    gz = M.gzip(gz)
  elseif fault == "msg-gzip-bomb" then
    gz = M.gzip(string.rep("\0", 8 * 1048576))
  elseif fault == "msg-bad-json" then
    json = ssub(json, 1, floor(#json / 2))
    gz = M.gzip(json)
  end
  local md = { '"partition":' .. cjson.encode(m.loc.rec.id),
    '"checksum":"' .. (fault and md5_hex(gz) or e.checksum) .. '"' }
  if #gz > S.blob_bytes and not fault then
    md[#md + 1] = '"compressedDataSize":' .. #gz
    md[#md + 1] = '"dataSize":' .. #json
    md[#md + 1] = '"dataHandle":"' .. handle_of(k) .. '"'
  else
    data = base64(gz)
    if fault == "msg-bad-base64" then data = "!!" .. ssub(data, 3, -2) .. "*" end
    md[#md + 1] = '"data":"' .. data .. '"'
  end
  md[#md + 1] = '"timestamp":' .. format("%.0f", floor(time_of(k) * 1000 + 0.5))
  return '{"metaData":{' .. concat(md, ",") .. '},"offset":{"partition":' .. m.loc.part
    .. ',"offset":' .. m.off .. "}}"
end

-- partition p, offsets from..from+n-1 -> list of {offset, json, gz} (tools and tests)
function M.messages(p, from, n)
  advance()
  local out = {}
  local part = gen.parts[p] or {}
  for off = from, math.min(from + n - 1, #part - 1) do
    local k = part[off + 1]
    out[#out + 1] = { offset = off, k = k, json = message_json(gen.msg[k]) }
  end
  return out
end

-- ---- the status clock for v3/v2 when the stream is on -------------------------------
-- step() = the number of visible messages; evse_state(evse, k) = the status of the
-- latest message <= k naming the EVSE (v3 spelling, last_updated as `modified`), else
-- the dataset's own status and modified.
local Clock = {}
Clock.__index = Clock
function Clock.step() return advance() end
function Clock.evse_state(_, evse, k)
  local c = gen.cur[evse]
  if c then
    local hist = c.hist
    for i = #hist, 1, -1 do
      local mk = hist[i]
      if mk <= k then
        local m = gen.msg[mk]
        for j, e in ipairs(m.evses) do
          if e == evse then return V3_OF[m.sts[j]], updated_of(mk) end
        end
      end
    end
  end
  return evse.status, evse.modified
end

function M.clock()
  if not S.interval_ms or S.interval_ms <= 0 then return nil end
  return setmetatable({}, Clock)
end

-- ---- init ----------------------------------------------------------------------------
function M.init(cfg)
  S.db = cfg.db
  S.seed = tonumber(cfg.seed) or 1
  S.seed_hash = mix(mix(5381, floor(S.seed) % P), 424242)
  S.now = cfg.now or (ngx and function() ngx.update_time(); return ngx.now() end) or os.time
  S.t0 = tonumber(cfg.start_time) or S.now()
  S.interval_ms = tonumber(cfg.interval_ms) or 0
  S.partitions = tonumber(cfg.partitions) or M.DEFAULT_PARTITIONS
  S.max_messages = tonumber(cfg.max_messages) or M.DEFAULT_MAX_MESSAGES
  S.blob_bytes = tonumber(cfg.blob_bytes) or M.DEFAULT_BLOB_BYTES
  S.session_ms = tonumber(cfg.session_ms) or M.DEFAULT_SESSION_MS
  S.lookup_max_age = tonumber(cfg.lookup_max_age) or M.DEFAULT_LOOKUP_MAX_AGE
  S.store = cfg.store
  S.auth = cfg.auth
  enc_cache, enc_count = {}, 0
  reset_gen()
  return M
end

-- ---- shared state: subscriptions and groups ----------------------------------------
-- One JSON document in the shared dict, changed under a lock (every worker sees it).
local STATE_KEY, LOCK_KEY = "stream:state", "stream:lock"

local function with_state(fn)
  local store = S.store
  local locked = false
  if ngx and ngx.sleep then
    for _ = 1, 10000 do
      if store:add(LOCK_KEY, 1, 30) then locked = true; break end
      ngx.sleep(0.001)
    end
    if not locked then error("evcp-emulator: the stream state lock is stuck", 0) end
  end
  local raw = store:get(STATE_KEY)
  local st = raw and cjson.decode(raw) or { n = 0, subs = {}, groups = {} }
  local ok, a, b, c, d = pcall(fn, st)
  if ok then store:set(STATE_KEY, cjson.encode(st)) end
  if locked then store:delete(LOCK_KEY) end
  if not ok then error(a, 0) end
  return a, b, c, d
end

local function now_ms() return floor(S.now() * 1000) end

-- drop the subscriptions that stopped polling for longer than the session timeout
local function expire(st)
  local limit = now_ms() - S.session_ms
  for id, sub in pairs(st.subs) do
    if sub.seen < limit then
      st.subs[id] = nil
    end
  end
  local used = {}
  for _, sub in pairs(st.subs) do used[sub.group] = true end
  for name, g in pairs(st.groups) do
    local live = {}
    for _, id in ipairs(g.members) do
      if st.subs[id] then live[#live + 1] = id end
    end
    g.members = live
    -- a subscription's private group (no group.id) goes with it
    if not used[name] and ssub(name, 1, 17) == "emulator-private-" then st.groups[name] = nil end
  end
end

-- partition -> subscription id for subscription `sub` (true when assigned to it)
local function assigned(st, sub)
  local set = {}
  if sub.mode == "serial" then
    for p = 0, S.partitions - 1 do set[p] = true end
    return set
  end
  local g = st.groups[sub.group]
  local n = #g.members
  local me
  for i, id in ipairs(g.members) do if id == sub.id then me = i end end
  if not me then return set end
  for p = 0, S.partitions - 1 do
    if p % n == me - 1 then set[p] = true end
  end
  return set
end

-- positions follow the assignment: dropped partitions are forgotten; new ones start at
-- the group's committed offset, else per auto.offset.reset
local function sync_positions(st, sub)
  local set = assigned(st, sub)
  local g = st.groups[sub.group]
  local pos = {}
  for p in pairs(set) do
    local key = tostring(p)
    if sub.pos[key] then
      pos[key] = sub.pos[key]
    elseif g.committed[key] then
      pos[key] = g.committed[key]
    elseif sub.reset == "latest" then
      pos[key] = end_offset(p)
    elseif sub.reset == "earliest" then
      pos[key] = 0
    end -- "none": no position until a seek
  end
  sub.pos = pos
  return set
end

-- ---- HTTP helpers ----------------------------------------------------------------------
local function data_error(ctx, status, title, code, cause, action)
  return status, cjson.encode({ title = title, status = status, code = code, cause = cause,
    action = action, correlationId = ctx.correlation_id })
end

local E = {}
function E.mode(ctx, m)
  return data_error(ctx, 400, "Subscription mode not supported", "E213002",
    "Subscription mode '" .. tostring(m) .. "' not supported",
    "Retry with valid subscription mode 'serial' or 'parallel'")
end
function E.layer(ctx, layer)
  return data_error(ctx, 404, "Stream layer not found", "E213027",
    "Stream layer " .. tostring(layer) .. " not found",
    "Verify stream layer name and existence, and retry")
end
function E.not_found(ctx, id)
  return data_error(ctx, 404, "Subscription not found", "E213003",
    "SubscriptionId " .. tostring(id) .. " not found", "Subscribe again")
end
function E.missing_id(ctx)
  return data_error(ctx, 400, "SubscriptionId not provided", "E213013",
    "SubscriptionId is mandatory for 'parallel' mode", "Retry with valid subscriptionId")
end
function E.bad_id(ctx)
  return data_error(ctx, 400, "Invalid subscriptionId", "E213014", "Invalid subscriptionId",
    "Retry with valid subscriptionId")
end
function E.too_many(ctx)
  return data_error(ctx, 412, "Max number of subscriptions reached", "E213011",
    "Number of subscriptions cannot exceed number of partitions. Number of partitions: "
      .. S.partitions, "Reduce the number of existing subscriptions")
end
function E.token(ctx)
  return data_error(ctx, 412, "Token refresh not permitted", "E213010",
    "Token change is not permitted in /offsets but allowed in /partitions",
    "Perform token refresh on /partitions and call /offsets later")
end
function E.conflict(ctx, why)
  return data_error(ctx, 409, "Unable to commit offset", "E213028",
    why or "Unable to commit offset",
    "Commit cannot be completed. Continue with reading and committing new messages")
end
function E.body(ctx, why)
  -- HERE documents no code for a malformed body; the emulator's choice
  return data_error(ctx, 400, "Invalid request body", "E213005", why,
    "Retry with a valid request body")
end
function E.unavailable(ctx, code)
  return data_error(ctx, 503, "Unable to create subscription", code, "Internal error occurred",
    "Retry after the provided 'Retry-After' seconds in header")
end
function E.internal(ctx, code)
  return data_error(ctx, 500, "Internal Server Error", code, "Internal error occurred", "None")
end

local function lookup_error(status, message, description)
  return status, cjson.encode({ code = status, message = message, description = description })
end

local function first(params, name)
  local v = params[name]
  return v and v[#v]
end

local function bearer(headers)
  local h = headers.authorization
  if type(h) == "table" then h = h[1] end
  return h and h:match("^[Bb][Ee][Aa][Rr][Ee][Rr]%s+(%S+)%s*$")
end

-- ---- the endpoints ---------------------------------------------------------------------
local function base_url(req, node)
  local host = req.host or "127.0.0.1"
  local prefix = node and ("/node/" .. node) or ""
  return "http://" .. host .. prefix .. "/stream/v2/catalogs/" .. M.CATALOG
end

local function lookup(req, ctx, hrn, api, version)
  if not hrn:match("^hrn:[^:]*:[^:]*:[^:]*:[^:]*:.+$") then
    return lookup_error(400, "Bad Request", "Request contains hrn with unknown structure of resource")
  end
  if hrn ~= M.CATALOG then
    return lookup_error(404, "Resource not Found", "Requested resource not found")
  end
  local host = "http://" .. (req.host or "127.0.0.1")
  local apis = {
    { "stream", "v2", host .. "/stream/v2/catalogs/" .. M.CATALOG },
    { "blob", "v1", host .. "/blob/v1/catalogs/" .. M.CATALOG },
  }
  local out = {}
  for _, a in ipairs(apis) do
    if (not api or a[1] == api) and (not version or a[2] == version) then
      out[#out + 1] = '{"api":"' .. a[1] .. '","version":"' .. a[2] .. '","baseURL":'
        .. cjson.encode(a[3]) .. "}"
    end
  end
  if api and #out == 0 then
    return lookup_error(404, "Resource not Found", "Requested API not found for the resource")
  end
  ctx.headers["Cache-Control"] = "max-age=" .. S.lookup_max_age
  return 200, "[" .. concat(out, ",") .. "]"
end

local function parse_body(body)
  if body == nil or body == "" then return {} end
  local ok, v = pcall(cjson.decode, body)
  if not ok or type(v) ~= "table" then return nil end
  return v
end

local function subscribe(req, ctx, params)
  local mode = first(params, "mode") or "serial"
  if mode ~= "serial" and mode ~= "parallel" then return E.mode(ctx, mode) end
  local body = parse_body(req.body)
  if not body then return E.body(ctx, "The body is not a JSON object") end
  local props = body.kafkaConsumerProperties or {}
  if type(props) ~= "table" then return E.body(ctx, "kafkaConsumerProperties is not an object") end
  local reset = props["auto.offset.reset"] or "earliest"
  if reset ~= "earliest" and reset ~= "latest" and reset ~= "none" then
    return E.body(ctx, "auto.offset.reset must be latest, earliest or none")
  end
  local wait = props["fetch.max.wait.ms"] or 500
  if type(wait) ~= "number" or wait < 0 or wait ~= floor(wait) then
    return E.body(ctx, "fetch.max.wait.ms must be an integer >= 0")
  end
  if wait > 5000 then wait = 5000 end
  local maxp = props["max.poll.records"] or 500
  if type(maxp) ~= "number" or maxp < 1 or maxp ~= floor(maxp) then
    return E.body(ctx, "max.poll.records must be a positive integer")
  end
  if maxp > M.MAX_POLL then maxp = M.MAX_POLL end
  local group = props["group.id"]
  if group ~= nil and (type(group) ~= "string" or group == "") then
    return E.body(ctx, "group.id must be a non-empty string")
  end
  local consumer = first(params, "consumerId")
  if consumer ~= nil and (#consumer > 200 or not consumer:match("^[%w%-_%.]+$")) then
    -- the emulator's choice: ids it can carry in a subscriptionId
    return data_error(ctx, 400, "Invalid consumerId", "E213005",
      "consumerId must be 1..200 characters of [0-9A-Za-z._-]", "Retry with a valid consumerId")
  end
  local want_id = first(params, "subscriptionId")
  local token = bearer(req.headers)
  return with_state(function(st)
    expire(st)
    if want_id then
      local sub = st.subs[want_id]
      if not sub then return E.not_found(ctx, want_id) end
      sub.seen = now_ms()
      return 201, cjson.encode({ nodeBaseURL = base_url(req, sub.node), subscriptionId = sub.id })
    end
    st.n = st.n + 1
    local n = st.n
    local gname = group or ("emulator-private-" .. n)
    local g = st.groups[gname]
    if not g then
      g = { members = {}, committed = {} }
      st.groups[gname] = g
    end
    local ghash = "-" .. tostring(mix(string_hash(gname), 31337))
    local id
    if mode == "parallel" then
      consumer = consumer or format("%08x-%04x-4%03x-%04x-%012d", mix(n, 1), mix(n, 2) % 65536,
        mix(n, 3) % 4096, 32768 + mix(n, 4) % 16384, mix(n, 5))
      id = ghash .. "." .. consumer
      local old = st.subs[id]
      if old then -- the same consumer again: its subscription, as it was
        old.seen, old.token = now_ms(), token
        return 201, cjson.encode({ nodeBaseURL = base_url(req, old.node), subscriptionId = id })
      end
      if #g.members >= S.partitions then return E.too_many(ctx) end
      g.members[#g.members + 1] = id
    else
      id = "-" .. tostring(mix(string_hash(gname), n))
      while st.subs[id] do id = id .. "0" end -- never another subscription's id
    end
    local sub = { id = id, mode = mode, group = gname, consumer = consumer,
      node = (n - 1) % M.NODES + 1, token = token, seen = now_ms(), reset = reset,
      max = maxp, wait = wait, pos = {} }
    st.subs[id] = sub
    return 201, cjson.encode({ nodeBaseURL = base_url(req, sub.node), subscriptionId = id })
  end)
end

-- finds the subscription of a node call: status, body on failure
local function find_sub(st, ctx, params, node)
  local mode = first(params, "mode") or "serial"
  if mode ~= "serial" and mode ~= "parallel" then return nil, E.mode(ctx, mode) end
  local id = first(params, "subscriptionId")
  if not id or id == "" then
    if mode == "parallel" then return nil, E.missing_id(ctx) end
    -- serial without an id: the newest serial subscription on this node
    local best
    for _, s in pairs(st.subs) do
      if s.mode == "serial" and s.node == node and (not best or s.seen > best.seen) then best = s end
    end
    if not best then return nil, E.not_found(ctx, "(none)") end
    return best
  end
  if #id > 300 or (not id:match("^%-?%d+$") and not id:match("^%-?%d+%.[%w%-_%.]+$")) then
    return nil, E.bad_id(ctx)
  end
  local sub = st.subs[id]
  if not sub or sub.node ~= node then return nil, E.not_found(ctx, id) end
  return sub
end

local function poll_once(req, ctx, params, node)
  local fault = req.fault
  local token = bearer(req.headers)
  return with_state(function(st)
    expire(st)
    local sub, s2, b2 = find_sub(st, ctx, params, node)
    if not sub then return s2, b2 end
    if fault == "stream-404" then
      st.subs[sub.id] = nil
      return E.not_found(ctx, sub.id)
    end
    sub.seen = now_ms()
    sub.token = token -- a token refresh is allowed here
    if fault == "stream-503" then
      ctx.headers["Retry-After"] = req.retry_after or "1"
      return E.unavailable(ctx, "E213019")
    end
    if fault == "stream-500" then return E.internal(ctx, "E213032") end
    local set = sync_positions(st, sub)
    advance()
    local plist = {}
    for p in pairs(set) do plist[#plist + 1] = p end
    table.sort(plist)
    local out, left = {}, sub.max
    local msg_fault = fault and fault:match("^msg%-") and fault
    local progress = true
    while left > 0 and progress do
      progress = false
      for _, p in ipairs(plist) do
        local key = tostring(p)
        local at = sub.pos[key]
        local part = gen.parts[p]
        if left > 0 and at and at < #part then
          out[#out + 1] = message_object(part[at + 1], msg_fault)
          msg_fault = nil
          sub.pos[key] = at + 1
          left = left - 1
          progress = true
        end
      end
    end
    return 200, '{"messages":[' .. concat(out, ",") .. "]}", #out, sub.wait or 500
  end)
end

-- An empty answer waits, like a Kafka poll, up to fetch.max.wait.ms for the next message
-- (at most 5 s; never when the stream has ended or is off): when that message is due
-- within the wait, the poll is made again once it is published.
local function partitions(req, ctx, params, node)
  local status, body, n, wait = poll_once(req, ctx, params, node)
  if status ~= 200 or not n or n > 0 or not (ngx and ngx.sleep) or S.interval_ms <= 0
    or wait <= 0 or visible() >= S.max_messages then
    return status, body
  end
  local k = visible()
  local due = time_of(k + 1) - S.now()
  if due * 1000 > wait then
    ngx.sleep(wait / 1000)
    return status, body
  end
  if due > 0 then ngx.sleep(due + 0.002) end
  advance()
  status, body = poll_once(req, ctx, params, node)
  return status, body
end

local function offset_list(req, ctx)
  local body = parse_body(req.body)
  if not body or type(body.offsets) ~= "table" then
    return nil, E.body(ctx, "The body must be {\"offsets\":[{\"partition\":P,\"offset\":O}]}")
  end
  local list = {}
  for i, o in ipairs(body.offsets) do
    if type(o) ~= "table" or type(o.partition) ~= "number" or type(o.offset) ~= "number"
      or o.partition ~= floor(o.partition) or o.offset ~= floor(o.offset)
      or o.partition < 0 or o.partition >= S.partitions or o.offset < 0 then
      return nil, E.body(ctx, "offsets[" .. (i - 1) .. "] must have an integer partition 0.."
        .. (S.partitions - 1) .. " and an integer offset >= 0")
    end
    list[#list + 1] = o
  end
  return list
end

local function commit(req, ctx, params, node)
  local list, s1, b1 = offset_list(req, ctx)
  if not list then return s1, b1 end
  local token = bearer(req.headers)
  local fault = req.fault
  return with_state(function(st)
    expire(st)
    local sub, s2, b2 = find_sub(st, ctx, params, node)
    if not sub then return s2, b2 end
    if fault == "stream-404" then st.subs[sub.id] = nil; return E.not_found(ctx, sub.id) end
    if sub.token ~= token then return E.token(ctx) end
    sub.seen = now_ms()
    if fault == "stream-409" then return E.conflict(ctx) end
    if fault == "stream-500" then return E.internal(ctx, "E213021") end
    local set = assigned(st, sub)
    for _, o in ipairs(list) do
      if not set[o.partition] then
        return E.conflict(ctx, "Partition " .. o.partition .. " is not assigned to this subscription")
      end
      if o.offset >= end_offset(o.partition) then
        return E.conflict(ctx, "Offset " .. o.offset .. " of partition " .. o.partition
          .. " has not been written")
      end
    end
    local g = st.groups[sub.group]
    for _, o in ipairs(list) do g.committed[tostring(o.partition)] = o.offset + 1 end
    if fault == "commit-202" then return 202, "" end
    return 200, ""
  end)
end

local function seek(req, ctx, params, node)
  local list, s1, b1 = offset_list(req, ctx)
  if not list then return s1, b1 end
  local fault = req.fault
  return with_state(function(st)
    expire(st)
    local sub, s2, b2 = find_sub(st, ctx, params, node)
    if not sub then return s2, b2 end
    if fault == "stream-404" then st.subs[sub.id] = nil; return E.not_found(ctx, sub.id) end
    sub.seen = now_ms()
    local set = sync_positions(st, sub)
    for _, o in ipairs(list) do
      if set[o.partition] then
        local e = end_offset(o.partition)
        sub.pos[tostring(o.partition)] = o.offset > e and e or o.offset
      end
    end
    return 200, ""
  end)
end

local function unsubscribe(req, ctx, params, node)
  local fault = req.fault
  return with_state(function(st)
    expire(st)
    local sub, s2, b2 = find_sub(st, ctx, params, node)
    if not sub then return s2, b2 end
    if fault == "stream-500" then return E.internal(ctx, "E213032") end
    st.subs[sub.id] = nil
    expire(st)
    return 200, ""
  end)
end

local function blob(ctx, layer, handle)
  if layer ~= M.LAYER then return E.layer(ctx, layer) end
  if #handle > 600 or not handle:match("^[%w%-%.]+$") then
    return 400, cjson.encode({ error = "Bad Request", error_description = "Malformed dataHandle" })
  end
  local k = tonumber(handle:match("^%x+%-(%d+)$"))
  advance()
  if not k or k > gen.k or not gen.msg[k] or handle_of(k) ~= handle then
    return 404, cjson.encode({ error = "Not Found",
      error_description = "No blob is associated with this dataHandle" })
  end
  ctx.headers["Content-Type"] = "application/octet-stream"
  return 200, encoded(k).gz
end

-- ---- routing ---------------------------------------------------------------------------
function M.route(path)
  local a = ssub(path, 1, 8)
  return a == "/lookup/" or a == "/stream/" or ssub(path, 1, 6) == "/node/" or a == "/blob/v1"
end

local function unescape(s) return query.url_unescape(s, true) end

function M.dispatch(req, ctx)
  local path = req.path or "/"
  local params = query.parse(req.query)
  local method = req.method
  -- generate what is due before any lock is taken (the sequence is per worker)
  advance()
  -- credentials: a bearer token only (here-api-notes §3.1)
  local ok, _, why = S.auth:check({}, req.headers or {})
  if not ok then
    return 401, cjson.encode({ error = "Unauthorized", error_description = why })
  end
  if req.fault == "stream-403" then
    return 403, cjson.encode({ error = "Forbidden",
      error_description = "These credentials do not authorize access" })
  end
  local hrn, rest = path:match("^/lookup/v1/resources/([^/]+)/apis(.*)$")
  if hrn then
    if method ~= "GET" then return lookup_error(405, "Method Not Allowed", "Use GET") end
    hrn = unescape(hrn)
    if rest == "" then return lookup(req, ctx, hrn) end
    local api, version = rest:match("^/([^/]+)/([^/]+)$")
    if api then return lookup(req, ctx, hrn, api, version) end
    return lookup_error(404, "Resource not Found", "Requested resource not found")
  end
  local bh, blayer, handle = path:match("^/blob/v1/catalogs/([^/]+)/layers/([^/]+)/data/([^/]+)$")
  if bh then
    if unescape(bh) ~= M.CATALOG then
      return 404, cjson.encode({ error = "Not Found", error_description = "Catalog not found" })
    end
    if method ~= "GET" then
      return 405, cjson.encode({ error = "Method Not Allowed", error_description = "Use GET" })
    end
    return blob(ctx, unescape(blayer), unescape(handle))
  end
  local node, shrn, layer, op = path:match("^/node/(%d+)/stream/v2/catalogs/([^/]+)/layers/([^/]+)/(%a+)$")
  if not node then
    shrn, layer, op = path:match("^/stream/v2/catalogs/([^/]+)/layers/([^/]+)/(%a+)$")
  end
  if not shrn then
    return data_error(ctx, 404, "Not Found", "E213001", "No resource exists at this path",
      "Check the path")
  end
  if unescape(shrn) ~= M.CATALOG then
    return data_error(ctx, 404, "Catalog not found", "E213001", "Catalog "
      .. unescape(shrn) .. " not found", "Verify the catalog HRN and retry")
  end
  layer = unescape(layer)
  if layer ~= M.LAYER then return E.layer(ctx, layer) end
  node = tonumber(node)
  if op == "subscribe" and method == "POST" then
    if req.fault == "stream-503" then
      ctx.headers["Retry-After"] = req.retry_after or "1"
      return E.unavailable(ctx, "E213031")
    end
    if req.fault == "stream-500" then return E.internal(ctx, "E213032") end
    return subscribe(req, ctx, params)
  end
  -- the other calls exist on a node only: without the node prefix no subscription is found
  local calls = { partitions = { "GET", partitions }, offsets = { "PUT", commit },
    seek = { "PUT", seek }, subscribe = { "DELETE", unsubscribe } }
  local c = calls[op]
  if not c then
    return data_error(ctx, 404, "Not Found", "E213001", "No resource exists at this path",
      "Check the path")
  end
  if method ~= c[1] then
    ctx.headers["Allow"] = c[1]
    return data_error(ctx, 405, "Method Not Allowed", "E213001", "Use " .. c[1], "Retry with " .. c[1])
  end
  if not node or node < 1 or node > M.NODES then
    local id = first(params, "subscriptionId")
    if c[1] ~= "GET" or id or (first(params, "mode") == "parallel") then
      return E.not_found(ctx, id or "(none)")
    end
    return E.not_found(ctx, "(none)")
  end
  return c[2](req, ctx, params, node)
end

-- for GET /_emulator/stats: the published messages and each partition's end offset
function M.stats()
  advance()
  local ends, total = {}, 0
  for p = 0, S.partitions - 1 do
    ends[p + 1] = #gen.parts[p]
    total = total + ends[p + 1]
  end
  return { messages = total, end_offsets = ends }
end

-- the fault kinds that only the stream endpoints carry out (http.lua's M.fault)
M.FAULTS = { ["stream-404"] = true, ["stream-409"] = true, ["stream-503"] = true,
  ["stream-500"] = true, ["stream-403"] = true, ["commit-202"] = true,
  ["msg-bad-gzip"] = true, ["msg-gzip-bomb"] = true, ["msg-double-gzip"] = true,
  ["msg-bad-base64"] = true, ["msg-bad-json"] = true }

return M
