--- evcp.stream: HERE's EV status stream as a consumer (Data API stream v2
-- over HTTP: ../shared/reference/here-api-notes.md §4).
--
--   local consumer = assert(client:stream{ group = "my-app", mode = "parallel" })
--   for u in consumer:updates{ max = 100, timeout = 20 } do
--     -- u.location_id, u.evse_id, u.status ("outOfOrder"), u.raw_status
--     -- ("OUT_OF_ORDER"), u.last_updated, u.partition, u.offset
--   end
--   assert(consumer:commit())   -- the offsets of every update handled so far
--   consumer:close()            -- unsubscribes
--
-- The protocol: the API lookup gives the catalog's stream (and blob) base
-- URL, kept as long as its Cache-Control allows; subscribe (POST) answers
-- with a nodeBaseURL, which every later call uses; partitions (GET) gives
-- messages; offsets (PUT) commits the last offset read per partition; seek
-- (PUT); unsubscribe (DELETE). A 404 E213003 (the subscription is gone)
-- subscribes again, once per call. The token may change only on
-- /partitions: /offsets and /seek carry the token of the last /partitions
-- call. Retries, Retry-After and the deadline are the client's policy.
--
-- Delivery is at least once: an update counts as handled when the loop
-- asks for the next one (its body returned without error), and commit()
-- sends only the offsets of messages whose every update was handled. An
-- update delivered but not handled (the loop body raised) comes again after
-- a restart from the committed offsets.
--
-- A message that cannot be decoded (bad base64, gzip, JSON or shape) gives
-- no update; it is counted (consumer:stats().bad) and its error kept
-- (stats().last_bad), and it counts as handled: a message that can never be
-- read must not stop the partition behind it. (HERE's checksum is not
-- checked: its algorithm is not documented; gzip's CRC catches damage.)
local sd = require("evcp.stream_decode")
local v3 = require("evcp.v3")
local json = require("evcp.json")
local url = require("evcp.url")
local check = require("evcp.check")
local errors = require("evcp.error")

local type, pairs, ipairs, tostring, setmetatable = type, pairs, ipairs, tostring, setmetatable
local function fail(fname, what, msg) check.raise(fname .. ": " .. what .. " " .. msg) end

local M = {}

--- The EV status catalog and its layer (HERE's tutorial).
M.CATALOG = "hrn:here:data::olp-here:evcp2-updates-prd"
M.LAYER = "evse-update-stream"

--- The lookup answer is kept at most this long when it says nothing (s).
M.DEFAULT_LOOKUP_TTL = 300

local OPEN_OPTS = check.set({ "catalog", "layer", "mode", "group", "consumer_id", "properties" })
local UPDATES_OPTS = check.set({ "max", "timeout" })

-- HERE's kafkaConsumerProperties (the notes' list) and their value types
local PROPERTIES = {
  ["auto.commit.interval.ms"] = "number", ["auto.offset.reset"] = { earliest = true, latest = true, none = true },
  ["enable.auto.commit"] = "boolean", ["fetch.max.bytes"] = "number", ["fetch.max.wait.ms"] = "number",
  ["fetch.min.bytes"] = "number", ["max.partition.fetch.bytes"] = "number", ["max.poll.records"] = "number",
  ["group.id"] = "string",
}

local ACCEPT = "application/json"

-- a URL the server handed over (baseURL, nodeBaseURL): http(s), no
-- credentials, query, fragment, space or control byte; http only when the
-- client was given http addresses
local function server_url(door, v, what)
  if type(v) ~= "string" or #v > 2048 or v:find("[%c%s?#]") then
    return nil, what .. " is not a URL evcp follows"
  end
  local scheme, authority = v:match("^(%a[%w+.-]*)://([^/]+)")
  scheme = scheme and scheme:lower()
  if not authority or authority:find("@", 1, true) or (scheme ~= "https" and scheme ~= "http") then
    return nil, what .. " is not an http(s) URL without credentials"
  end
  if scheme == "http" and not door.allow_http then return nil, what .. " is not https" end
  return (v:gsub("/+$", ""))
end

local Consumer = {}
local MT = { __index = Consumer, __name = "evcp.Consumer", __metatable = "evcp.Consumer" }
local states = setmetatable({}, { __mode = "k" })

function MT.__tostring(c)
  local st = states[c]
  if not st then return "evcp.Consumer" end
  return ("evcp.Consumer (%s, %s, %s)"):format(st.mode, st.layer, st.closed and "closed" or
    (st.sub_id and "subscribed" or "not subscribed"))
end

local function state_of(c, fname)
  local st = states[c]
  if st == nil then check.raise("evcp.Consumer:" .. fname .. ": call it as consumer:" .. fname .. "(...)") end
  if st.closed then check.raise("evcp.Consumer:" .. fname .. ": the consumer is closed") end
  if st.door.closed() then check.raise("evcp.Consumer:" .. fname .. ": the client is closed") end
  return st
end

-- One exchange: the plan sent through the client; res, ctx. Every call of
-- the protocol may be sent again: the subscribe POST too, since it always
-- names its consumerId (a consumer that subscribes again with a live id
-- gets its subscription back), so the policy retries each the same way.
local function exchange(st, method, base, path, query, body, token)
  local p = { api = "stream", base = base, method = method, path = path, query = query or {}, accept = ACCEPT,
    body = body, token = token, idempotent = true }
  return st.door.send(p)
end

-- A 2xx JSON answer, or nil, err (HERE's error fields read as v3 reads them).
local function read(st, res, ctx)
  local body = res.body
  if res.kind == nil and res.status >= 200 and res.status < 300 and (body == nil or body == "") then
    return {}
  end
  return v3.read_json(res, ctx, st.decoder)
end

local function bad_answer(message, res, ctx)
  return nil, errors.decode("unexpected stream answer: " .. message, res, ctx)
end

local function code_of(err) return type(err) == "table" and err.code or nil end

---------------------------------------------------------------------------
-- lookup and subscription

local function max_age(res)
  local cc = res.headers and res.headers["cache-control"]
  if type(cc) ~= "string" then return M.DEFAULT_LOOKUP_TTL end
  if cc:lower():find("no%-store") or cc:lower():find("no%-cache") then return 0 end
  local n = tonumber(cc:lower():match("max%-age%s*=%s*(%d+)"))
  return n or M.DEFAULT_LOOKUP_TTL
end

local function lookup(st)
  local now = st.door.now()
  if st.base and now < st.base_until then return true end
  local res, ctx = exchange(st, "GET", st.door.lookup_base, "/lookup/v1/resources/" .. url.segment(st.catalog)
    .. "/apis", nil, nil, nil)
  local doc, err = read(st, res, ctx)
  if not doc then return nil, err end
  if not json.is_array(doc) then return bad_answer("the API lookup is not a list", res, ctx) end
  local stream, blob
  for _, e in ipairs(doc) do
    if type(e) == "table" then
      if e.api == "stream" and e.version == "v2" then stream = e.baseURL end
      if e.api == "blob" and e.version == "v1" then blob = e.baseURL end
    end
  end
  if stream == nil then return bad_answer("the API lookup lists no stream v2 for " .. st.catalog, res, ctx) end
  local b, why = server_url(st.door, stream, "the lookup's stream baseURL")
  if not b then return bad_answer(why, res, ctx) end
  st.base, st.base_until = b, now + max_age(res)
  st.blob = blob and server_url(st.door, blob, "blob") or nil
  return true
end

local function subscribe(st)
  local ok, err = lookup(st)
  if not ok then return nil, err end
  local props = { ["group.id"] = st.group }
  for k, v in pairs(st.properties) do props[k] = v end
  local body = json.encode({ kafkaConsumerProperties = props })
  local q = { { "mode", st.mode }, { "consumerId", st.consumer_id } }
  local res, ctx = exchange(st, "POST", st.base, "/layers/" .. url.segment(st.layer) .. "/subscribe", q, body)
  local doc
  doc, err = read(st, res, ctx)
  if not doc then
    if res.status == 404 then st.base = nil end -- the base may have moved: look it up again next time
    return nil, err
  end
  local node, why = server_url(st.door, doc.nodeBaseURL, "nodeBaseURL")
  if not node then return bad_answer(why, res, ctx) end
  local id = doc.subscriptionId
  if type(id) ~= "string" or id == "" or #id > 512 or id:find("%c") then
    return bad_answer("subscriptionId is not a string of 1..512 characters", res, ctx)
  end
  st.node, st.sub_id = node, id
  st.token = st.door.token()
  st.subscribes = st.subscribes + 1
  return true
end

local function sub_query(st)
  return { { "mode", st.mode }, { "subscriptionId", st.sub_id } }
end

-- Runs call(st) on the subscription, subscribing first when there is none,
-- and once more after a 404 E213003 (the subscription is gone).
local function on_subscription(st, call)
  for round = 1, 2 do
    if st.sub_id == nil then
      local ok, err = subscribe(st)
      if not ok then return nil, err end
    end
    local v, err = call(st)
    if v ~= nil then return v end
    if round == 2 or code_of(err) ~= "E213003" then return nil, err end
    st.sub_id, st.node = nil, nil
    st.resubscribes = st.resubscribes + 1
  end
end

---------------------------------------------------------------------------
-- messages

local each -- the callback form of consumer:updates (below)

-- the queue: entries {u = update | nil, p = partition, o = offset, last = the
-- last entry of its message}; st.qi: the next entry to give
local function enqueue(st, list, p, o)
  local q = st.queue
  local n = #list
  if n == 0 then
    q[#q + 1] = { p = p, o = o, last = true }
    return
  end
  for i = 1, n do q[#q + 1] = { u = list[i], p = p, o = o, last = i == n } end
end

local function bad_message(st, err)
  st.bad = st.bad + 1
  st.last_bad = err
end

local function blob_updates(st, m, err)
  if st.blob == nil then return nil, err end
  local res, ctx = exchange(st, "GET", st.blob, "/layers/" .. url.segment(st.layer) .. "/data/"
    .. url.segment(err.handle), nil, nil, nil)
  if res.kind or res.status ~= 200 then
    local _, e = read(st, res, ctx)
    return nil, e
  end
  return sd.updates_blob(res.body, { declared_size = err.data_size, partition = m.offset and m.offset.partition,
    offset = m.offset and m.offset.offset })
end

local function poll_once(st)
  local res, ctx = exchange(st, "GET", st.node, "/layers/" .. url.segment(st.layer) .. "/partitions",
    sub_query(st))
  local doc, err = read(st, res, ctx)
  if not doc then return nil, err end
  st.token = st.door.token() -- the one /offsets must carry
  local msgs = doc.messages
  if msgs == nil then msgs = {} end
  if not json.is_array(msgs) then return bad_answer("messages is not a list", res, ctx) end
  for _, m in ipairs(msgs) do
    local off = type(m) == "table" and m.offset
    local p, o = type(off) == "table" and off.partition, type(off) == "table" and off.offset
    if type(p) ~= "number" or type(o) ~= "number" or p < 0 or o < 0 or p % 1 ~= 0 or o % 1 ~= 0 then
      -- no position: nothing can be committed for it
      bad_message(st, errors.decode("stream message without a whole partition and offset", res, ctx))
    else
      local list, e = sd.updates(m)
      if list == nil and e.kind == "needs_blob" then list, e = blob_updates(st, m, e) end
      if list == nil then
        bad_message(st, e)
        list = {}
      end
      enqueue(st, list, p, o)
    end
  end
  return #msgs
end

-- marks the entry before qi handled (its loop body returned)
local function handled(st)
  local e = st.queue[st.qi - 1]
  if e and e.last then st.handled[e.p] = e.o end
end

-- the next update of the queue (entries without one are handled at once)
local function next_update(st)
  local q = st.queue
  while true do
    handled(st)
    local e = q[st.qi]
    if e == nil then
      st.queue, st.qi = {}, 1
      return nil
    end
    st.qi = st.qi + 1
    if e.u then return e.u end
  end
end

--- consumer:poll() -> n | nil, err: one /partitions call; its updates are
-- queued for consumer:updates (n: the messages it brought).
function Consumer:poll()
  local st = state_of(self, "poll")
  return st.door.out(on_subscription(st, poll_once))
end

--- consumer:updates(opts [, on_update, on_done]) -> iterator of update records
-- (or, with on_update, the consumer: the callback form above). opts.max: most
-- updates (default 1000), opts.timeout: seconds to go on polling while
-- fewer came (default 20). The loop ends at either; consumer:err() then
-- tells whether an error ended it instead (nil when not).
function Consumer:updates(opts, on_update, on_done)
  local st = state_of(self, "updates")
  if on_update ~= nil and type(on_update) ~= "function" then
    fail("evcp.Consumer:updates", "argument #2 (on_update)", "must be a function, got " .. type(on_update))
  end
  if on_done ~= nil and type(on_done) ~= "function" then
    fail("evcp.Consumer:updates", "argument #3 (on_done)", "must be a function, got " .. type(on_done))
  end
  opts = check.options("evcp.Consumer:updates", opts, UPDATES_OPTS)
  local max = opts.max or 1000
  if opts.max ~= nil then check.integer("evcp.Consumer:updates", "option 'max'", opts.max, 1, 2 ^ 31) end
  local timeout = opts.timeout or 20
  if opts.timeout ~= nil then check.seconds("evcp.Consumer:updates", "option 'timeout'", opts.timeout, 0, 86400) end
  local door = st.door
  local stop = door.now() + timeout
  local given = 0
  st.err = nil
  local iter = function()
    if given >= max then
      handled(st)
      return nil
    end
    while true do
      local u = next_update(st)
      if u then
        given = given + 1
        return u
      end
      if st.closed or door.closed() or door.now() >= stop then return nil end
      local n, err = st.door.out(on_subscription(st, poll_once))
      if n == nil then
        st.err = err
        return nil
      end
    end
  end
  if on_update then return each(self, st, iter, on_update, on_done) end
  return iter
end

-- consumer:updates(opts, on_update [, on_done]): the callback form (for a
-- host's event loop): the loop runs in a coroutine of its own, so that with
-- a host transport the call returns at once and the callbacks run as the
-- answers come; with the blocking transport it runs to its end first.
-- on_update(u) is called for each update (a raise stops the loop, and that
-- update is not handled); on_done(n, err) at the end: n updates handled,
-- err the evcp.Error that ended it early (kind "handler" for a raise of
-- on_update, with the raised value in err.raised), else nil.
each = function(self, st, iter, on_update, on_done)
  local co = coroutine.create(function()
    local n, err = 0, nil
    for u in iter do
      local ok, e = pcall(on_update, u)
      if not ok then
        err = errors.new({ kind = "handler", message = "on_update raised: " .. tostring(e), raised = e,
          retryable = false })
        st.err = err
        break
      end
      n = n + 1
    end
    if err == nil then err = st.err end
    if on_done then on_done(n, err) end
  end)
  local ok, msg = coroutine.resume(co)
  if not ok then error(msg, 0) end
  return self
end

--- consumer:err() -> the evcp.Error that ended the last updates loop, or nil
function Consumer:err()
  local st = states[self]
  return st and st.err
end

-- the offsets body of a table partition -> offset
local function offsets_body(t)
  local list = {}
  for p, o in pairs(t) do list[#list + 1] = { partition = p, offset = o } end
  table.sort(list, function(a, b) return a.partition < b.partition end)
  return list
end

local function put_offsets(what, list)
  return function(st)
    local res, ctx = exchange(st, "PUT", st.node, "/layers/" .. url.segment(st.layer) .. "/" .. what,
      sub_query(st), json.encode({ offsets = list }), st.token)
    local doc, err = read(st, res, ctx)
    if not doc then return nil, err end
    return res.status
  end
end

--- consumer:commit() -> true | nil, err: commits the last handled offset of
-- each partition (HERE adds one). A 409 E213028 (the partition moved to
-- another consumer of the group) is an error the consumer goes on after:
-- its updates come again to the new owner.
function Consumer:commit()
  local st = state_of(self, "commit")
  local want = {}
  local any = false
  for p, o in pairs(st.handled) do
    if st.committed[p] == nil or st.committed[p] < o then
      want[p] = o
      any = true
    end
  end
  if not any then return true end
  if st.sub_id == nil then
    return nil, errors.new({ kind = "http", message = "commit: not subscribed" })
  end
  local status, err = on_subscription(st, put_offsets("offsets", offsets_body(want)))
  if status == nil then return st.door.out(nil, err) end
  for p, o in pairs(want) do st.committed[p] = o end
  st.commits = st.commits + 1
  return true
end

--- consumer:seek(offsets) -> true | nil, err: offsets maps partition ->
-- offset (the next one to read); the queue is dropped.
function Consumer:seek(offsets)
  local st = state_of(self, "seek")
  if type(offsets) ~= "table" then
    fail("evcp.Consumer:seek", "argument #1 (offsets)", "must be a table, got " .. type(offsets))
  end
  local t = {}
  for p, o in pairs(offsets) do
    if type(p) ~= "number" or p < 0 or p % 1 ~= 0 or type(o) ~= "number" or o < 0 or o % 1 ~= 0 then
      fail("evcp.Consumer:seek", "argument #1 (offsets)", "must map whole partitions >= 0 to whole offsets >= 0")
    end
    t[p] = o
  end
  local status, err = on_subscription(st, put_offsets("seek", offsets_body(t)))
  if status == nil then return st.door.out(nil, err) end
  st.queue, st.qi = {}, 1
  return true
end

--- consumer:stats() -> {subscribes, resubscribes, commits, bad, last_bad,
-- handled = {[partition] = offset}, committed = {...}, subscription_id}
function Consumer:stats()
  local st = state_of(self, "stats")
  local h, c = {}, {}
  for p, o in pairs(st.handled) do h[p] = o end
  for p, o in pairs(st.committed) do c[p] = o end
  return { subscribes = st.subscribes, resubscribes = st.resubscribes, commits = st.commits, bad = st.bad,
    last_bad = st.last_bad, handled = h, committed = c, subscription_id = st.sub_id }
end

--- consumer:close() -> true | nil, err: unsubscribes (DELETE); the
-- consumer is closed either way. Idempotent.
function Consumer:close()
  local st = states[self]
  if st == nil or st.closed then return true end
  st.closed = true
  if st.sub_id == nil or st.door.closed() then return true end
  local res, ctx = exchange(st, "DELETE", st.node, "/layers/" .. url.segment(st.layer) .. "/subscribe",
    sub_query(st))
  st.sub_id = nil
  local doc, err = read(st, res, ctx)
  if not doc and code_of(err) ~= "E213003" then return st.door.out(nil, err) end
  return true
end
MT.__close = function(c) Consumer.close(c) end

-- Each method checks its arguments through check.call, so that a misuse
-- is raised at the caller's line (not tail calls: the level counts them).
for name, fn in pairs(Consumer) do
  Consumer[name] = function(...)
    local a, b = check.call(fn, ...)
    return a, b
  end
end

---------------------------------------------------------------------------

local function text_opt(opts, k, max, default)
  local v = opts[k]
  if v == nil then return default end
  check.text("client:stream", "option '" .. k .. "'", v, max)
  return v
end

--- open(door, opts) -> Consumer (client:stream; private door of evcp.client)
function M.open(door, opts)
  opts = check.options("client:stream", opts, OPEN_OPTS)
  if not door.bearer then
    check.raise("client:stream: HERE's Data API takes bearer tokens only: give the client OAuth credentials,"
      .. " an access_token or a token_provider (not an api_key)")
  end
  local mode = opts.mode or "serial"
  if mode ~= "serial" and mode ~= "parallel" then
    fail("client:stream", "option 'mode'", "must be 'serial' or 'parallel', got " .. tostring(mode))
  end
  local consumer_id = text_opt(opts, "consumer_id", 200, nil)
  if consumer_id and not consumer_id:match("^[%w._-]+$") then
    check.raise("client:stream: option 'consumer_id' must be letters, digits, '.', '_' or '-'")
  end
  local props = {}
  if opts.properties ~= nil then
    if type(opts.properties) ~= "table" then
      check.raise("client:stream: option 'properties' must be a table, got " .. type(opts.properties))
    end
    for k, v in pairs(opts.properties) do
      local want = PROPERTIES[k]
      if want == nil then check.raise("client:stream: properties: '" .. tostring(k) .. "' is not a consumer"
        .. " property HERE documents") end
      if type(want) == "table" then
        if not want[v] then check.raise("client:stream: properties['" .. k .. "'] is not one of its values") end
      elseif type(v) ~= want or (want == "number" and (v ~= v or v < 0 or v % 1 ~= 0)) then
        check.raise("client:stream: properties['" .. k .. "'] must be a " .. want)
      end
      props[k] = v
    end
  end
  local st = {
    door = door, catalog = text_opt(opts, "catalog", 512, M.CATALOG), layer = text_opt(opts, "layer", 256, M.LAYER),
    mode = mode, group = text_opt(opts, "group", 256, nil), consumer_id = consumer_id or door.new_id(),
    properties = props, decoder = json.decoder(json.limits(door.max_body)),
    queue = {}, qi = 1, handled = {}, committed = {},
    subscribes = 0, resubscribes = 0, commits = 0, bad = 0, closed = false,
  }
  if props["group.id"] and st.group and props["group.id"] ~= st.group then
    check.raise("client:stream: option 'group' and properties['group.id'] differ")
  end
  st.group = st.group or props["group.id"]
  props["group.id"] = nil
  local c = setmetatable({}, MT)
  states[c] = st
  local ok, err = on_subscription(st, function() return true end)
  if not ok then return door.out(nil, err) end
  return c
end

return M
