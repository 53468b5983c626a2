-- Issue 10: the stream client (client:stream, evcp.stream) through HTTP
-- against the emulator's Data API stream, and evcp.store fed by it. The
-- expected values come from the emulator by other ways: its v3 answer
-- fetched as raw JSON (the statuses the stream drove), its /_emulator/stats
-- (how many messages it published), and the messages read with plain HTTP.
local evcp = require("evcp")
local cjson = require("cjson").new()
local ep = require("emulator_process")
local core = require("evcp.core")

local FIXTURE = "spec/fixtures/stream/db.lua"
local TOTAL = 120 -- --stream-max: all published before the specs run

local raw = core.curl_transport({ timeout = 20 })
local function get(u, token)
  local headers = { Accept = "application/json" }
  if token then headers.Authorization = "Bearer " .. token end
  local r = raw:run({ { url = u, headers = headers } })[1]
  assert(r.status, tostring(r.kind) .. " " .. tostring(r.message))
  return r
end

local function start(extra)
  return ep.start("--data " .. FIXTURE .. " --status-interval 0 --api-key k1 --token T1"
    .. " --stream-interval-ms 20 --stream-max " .. TOTAL .. " --start-time " .. (os.time() - 60)
    .. " --stream-session-ms 3000 " .. (extra or ""))
end

local function client_of(emu, more)
  local o = { base_url = emu.url, access_token = "T1", timeout = 10, deadline = 30 }
  for k, v in pairs(more or {}) do o[k] = v end
  return evcp.new(o)
end

-- every update the consumer gives within timeout seconds (at most max)
local function drain(consumer, max, timeout)
  local got = {}
  for u in consumer:updates({ max = max or 100000, timeout = timeout or 2 }) do got[#got + 1] = u end
  return got
end

local function stats(emu) return cjson.decode(get(emu.url .. "/_emulator/stats").body).stream end

-- the distinct (partition, offset) pairs of a list of updates
local function positions(list)
  local seen, n = {}, 0
  for _, u in ipairs(list) do
    local k = u.partition .. ":" .. u.offset
    if not seen[k] then
      seen[k] = true
      n = n + 1
    end
  end
  return n, seen
end

describe("client:stream against the emulator's stream", function()
  local emu

  setup(function() emu = start() end)
  teardown(function() ep.stop_all() end)

  it("reads every message once, in order per partition; a store fed by it equals v3 fields=evses", function()
    local c = client_of(emu)
    local consumer = assert(c:stream({ group = "whole" }))
    local got = drain(consumer)
    local st = stats(emu)
    assert.equal(TOTAL, st.messages)
    local n = positions(got)
    assert.equal(TOTAL, n)
    -- offsets rise within each partition, each update is a full record
    local last = {}
    for _, u in ipairs(got) do
      assert.matches("^here:evcp:charginglocation:", u.location_id)
      assert.matches("^here:evcp:evse:", u.evse_id)
      assert.is_string(u.raw_status)
      assert.equal(evcp.status.normalize(u.raw_status), u.status)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", u.last_updated)
      assert.is_true(last[u.partition] == nil or last[u.partition] <= u.offset)
      last[u.partition] = u.offset
    end
    -- the partitions' end offsets as the emulator counts them
    for p, o in pairs(last) do assert.equal(st.end_offsets[p + 1] - 1, o) end
    -- the store's counts equal the raw v3 answer for every location seen
    local store = evcp.store.new()
    for _, u in ipairs(got) do assert(store:apply(u) ~= nil) end
    local ids = {}
    for _, u in ipairs(got) do ids[u.location_id] = true end
    local checked = 0
    for id in pairs(ids) do
      local doc = cjson.decode(get(emu.url .. "/v3/locations/" .. id:match("[^:]*$") .. "?fields=evses",
        "T1").body)
      local by = {}
      for _, e in ipairs(doc.evses or {}) do
        local rec = store:evse(e.id)
        if rec then
          assert.equal(e.status, rec.status, e.id)
          by[e.status] = (by[e.status] or 0) + 1
        end
      end
      local counts = store:counts(id)
      for status, k in pairs(by) do assert.equal(k, counts.by_status[status], id .. " " .. status) end
      checked = checked + 1
    end
    assert.is_true(checked > 5, checked)
    assert(consumer:close())
    c:close()
  end)

  it("commit() makes a group resume where it stopped: nothing twice, nothing lost", function()
    local c = client_of(emu)
    local a = assert(c:stream({ group = "resume" }))
    local first = drain(a, 40)
    assert.equal(40, #first)
    assert(a:commit())
    assert(a:close())
    local b = assert(c:stream({ group = "resume" }))
    local rest = drain(b)
    local n1, seen = positions(first)
    local n2, seen2 = positions(rest)
    -- a message's updates are one unit: the 40th update's message may go on in b
    local shared = 0
    for k in pairs(seen2) do if seen[k] then shared = shared + 1 end end
    assert.is_true(shared <= 1, shared)
    assert.equal(TOTAL, n1 + n2 - shared)
    b:close()
    c:close()
  end)

  it("an update whose loop body raised is not committed: it comes again (at least once)", function()
    local c = client_of(emu)
    local a = assert(c:stream({ group = "crash" }))
    local handled, victim = 0, nil
    local ok = pcall(function()
      for u in a:updates({ timeout = 2 }) do
        if handled == 10 then
          victim = u
          error("handler failed")
        end
        handled = handled + 1
      end
    end)
    assert.is_false(ok)
    assert(a:commit())
    a:close()
    local b = assert(c:stream({ group = "crash" }))
    local again = drain(b)
    local found = false
    for _, u in ipairs(again) do
      if u.partition == victim.partition and u.offset == victim.offset and u.evse_id == victim.evse_id then found = true end
    end
    assert.is_true(found, "the update whose handler raised came again")
    b:close()
    c:close()
  end)

  it("a restart from a snapshot and the group's committed offsets has no gap and no double count", function()
    local c = client_of(emu)
    local a = assert(c:stream({ group = "restart" }))
    local store = evcp.store.new()
    for u in a:updates({ max = 50, timeout = 2 }) do assert(store:apply(u) ~= nil) end
    store:set_offsets(a:stats().handled)
    assert(a:commit())
    local path = os.tmpname()
    assert(store:snapshot(path))
    a:close() -- the process "dies" here
    local again = assert(evcp.store.restore(path))
    os.remove(path)
    local handled = again:offsets()
    local b = assert(c:stream({ group = "restart" }))
    for u in b:updates({ timeout = 2 }) do
      -- the group resumes just after the last message handled in full
      -- (the 50th update's message, if it was cut, comes again whole)
      assert.is_true(handled[u.partition] == nil or u.offset > handled[u.partition], "read twice")
      assert(again:apply(u) ~= nil)
    end
    b:close()
    -- the same picture as one consumer that read everything once
    local once = evcp.store.new()
    local f = assert(c:stream({ group = "restart-oracle" }))
    for u in f:updates({ timeout = 2 }) do assert(once:apply(u) ~= nil) end
    f:close()
    assert.equal(once:size(), again:size())
    local ids = {}
    for _, u in ipairs(drain(assert(c:stream({ group = "restart-ids" })))) do ids[u.location_id] = true end
    for id in pairs(ids) do assert.same(once:counts(id), again:counts(id), id) end
    c:close()
  end)

  it("three parallel consumers of one group split the partitions and together see every message", function()
    local c = client_of(emu)
    local cs = {}
    for i = 1, 3 do cs[i] = assert(c:stream({ group = "par", mode = "parallel", consumer_id = "m" .. i })) end
    local all, owner = {}, {}
    for _ = 1, 3 do
      for i = 1, 3 do
        for _, u in ipairs(drain(cs[i], 100000, 0.5)) do
          all[#all + 1] = u
          assert.is_true(owner[u.partition] == nil or owner[u.partition] == i, "partition served to two")
          owner[u.partition] = i
        end
      end
    end
    assert.equal(TOTAL, (positions(all)))
    local owners = {}
    for _, i in pairs(owner) do owners[i] = true end
    assert.is_true(owners[1] and owners[2] and owners[3], "each consumer served a partition")
    for i = 1, 3 do cs[i]:close() end
    c:close()
  end)

  it("the callback form: with the blocking transport it runs to the end before returning", function()
    local c = client_of(emu)
    local consumer = assert(c:stream({ group = "cb" }))
    local got, done = {}, nil
    assert.equal(consumer, consumer:updates({ timeout = 2 }, function(u) got[#got + 1] = u end,
      function(n, err) done = { n = n, err = err } end))
    assert.is_table(done)
    assert.equal(#got, done.n)
    assert.is_nil(done.err)
    assert.equal(TOTAL, (positions(got)))
    consumer:close()
    -- a raise in on_update stops the loop; that update is not handled
    local a = assert(c:stream({ group = "cb-raise" }))
    local seen, victim = 0, nil
    a:updates({ timeout = 2 }, function(u)
      if seen == 4 then
        victim = u
        error("no")
      end
      seen = seen + 1
    end, function(n, err) done = { n = n, err = err } end)
    assert.equal(4, done.n)
    assert.equal("handler", done.err.kind)
    assert.matches("on_update raised: .*no", done.err.message)
    assert(a:commit())
    a:close()
    local b = assert(c:stream({ group = "cb-raise" }))
    local again = false
    for _, u in ipairs(drain(b)) do
      if u.partition == victim.partition and u.offset == victim.offset and u.evse_id == victim.evse_id then
        again = true
      end
    end
    assert.is_true(again, "the update whose on_update raised came again")
    b:close()
    assert.has_error(function() consumer:updates({}, 5) end)
    c:close()
  end)

  it("the callback form on the uv host returns at once and calls back from the loop", function()
    local uv = require("luv")
    local c = client_of(emu, { transport = "uv" })
    local consumer
    local co = coroutine.create(function() consumer = assert(c:stream({ group = "cb-uv" })) end)
    assert(coroutine.resume(co))
    while coroutine.status(co) ~= "dead" do uv.run("once") end
    local got, done = {}, nil
    consumer:updates({ timeout = 2 }, function(u) got[#got + 1] = u end, function(n, err)
      done = { n = n, err = err }
    end)
    assert.is_nil(done) -- not yet: the first poll is in flight
    local limit = os.time() + 30
    while done == nil and os.time() < limit do uv.run("once") end
    assert.is_table(done)
    assert.is_nil(done.err)
    assert.equal(TOTAL, (positions(got)))
    co = coroutine.create(function() consumer:close() end)
    assert(coroutine.resume(co))
    while coroutine.status(co) ~= "dead" do uv.run("once") end
    c:close()
    uv.run("nowait")
  end)

  it("refuses an api_key client, bad options, and misuse at the caller's line", function()
    local k = evcp.new({ base_url = emu.url, api_key = "k1" })
    assert.has_error(function() k:stream() end,
      "client:stream: HERE's Data API takes bearer tokens only: give the client OAuth credentials, an"
      .. " access_token or a token_provider (not an api_key)")
    local c = client_of(emu)
    assert.has_error(function() c:stream({ mode = "fast" }) end,
      "client:stream: option 'mode' must be 'serial' or 'parallel', got fast")
    assert.has_error(function() c:stream({ nope = 1 }) end)
    assert.has_error(function() c:stream({ properties = { ["auto.offset.reset"] = "middle" } }) end)
    local ok, err = pcall(function() c:stream({ mode = 7 }) end)
    assert.is_false(ok)
    assert.matches("65%-stream_spec.lua:%d+: client:stream", err)
    local consumer = assert(c:stream())
    assert.has_error(function() consumer:seek("x") end,
      "evcp.Consumer:seek: argument #1 (offsets) must be a table, got string")
    consumer:close()
    assert.has_error(function() consumer:commit() end, "evcp.Consumer:commit: the consumer is closed")
    assert.matches("closed", tostring(consumer))
    k:close()
    c:close()
  end)
end)

describe("client:stream through the emulator's stream faults", function()
  teardown(function() ep.stop_all() end)

  it("subscribes again after a 404 E213003 on /partitions and loses nothing", function()
    -- requests: lookup, subscribe, partitions (404), subscribe, partitions...
    local emu = start("--script ok,ok,stream-404")
    local c = client_of(emu)
    local consumer = assert(c:stream({ group = "g404" }))
    local got = drain(consumer)
    assert.equal(TOTAL, (positions(got)))
    assert.equal(1, consumer:stats().resubscribes)
    consumer:close()
    c:close()
    ep.stop(emu)
  end)

  it("subscribe: a 503 E213031 is waited out and retried (evcp always names its consumerId, so a"
    .. " retry finds the same subscription); 412 E213011 past the partition count is an error", function()
    local emu = start("--script ok,stream-503-1")
    local c = client_of(emu)
    local t0 = os.time()
    local consumer = assert(c:stream({ group = "s503", mode = "parallel" }))
    assert.is_true(os.time() - t0 >= 1)
    assert.equal(1, consumer:stats().subscribes)
    local more = {}
    for i = 1, 3 do more[i] = assert(c:stream({ group = "s503", mode = "parallel" })) end
    local fifth, err = c:stream({ group = "s503", mode = "parallel" })
    assert.is_nil(fifth)
    assert.equal(412, err.status)
    assert.equal("E213011", err.code)
    consumer:close()
    for i = 1, 3 do more[i]:close() end
    c:close()
    ep.stop(emu)
  end)

  it("a 403 and a 500 on /partitions end the loop with HERE's error (the 500 after the policy's retries)", function()
    local emu = start("--script ok,ok,stream-403")
    local c = client_of(emu)
    local consumer = assert(c:stream({ group = "s403" }))
    assert.equal(0, #drain(consumer))
    local err = consumer:err()
    assert.equal(403, err.status)
    assert.is_string(err.error_description)
    -- the loop can go on after an error
    assert.equal(TOTAL, (positions(drain(consumer))))
    consumer:close()
    c:close()
    ep.stop(emu)
    emu = start("--script ok,ok,stream-500,stream-500,stream-500")
    c = client_of(emu, { max_attempts = 3 })
    consumer = assert(c:stream({ group = "s500" }))
    assert.equal(0, #drain(consumer))
    err = consumer:err()
    assert.equal(500, err.status)
    assert.equal("E213032", err.code)
    assert.equal(3, err.attempts)
    consumer:close()
    c:close()
    ep.stop(emu)
  end)

  it("waits out a 503's Retry-After on /partitions (the policy's retry)", function()
    local emu = start("--script ok,ok,stream-503-1")
    local events = {}
    local c = client_of(emu, { on_response = function(ev) events[#events + 1] = ev end })
    local consumer = assert(c:stream({ group = "g503" }))
    local got = drain(consumer)
    assert.equal(TOTAL, (positions(got)))
    local saw503 = false
    for _, ev in ipairs(events) do if ev.status == 503 then saw503 = true end end
    assert.is_true(saw503)
    consumer:close()
    c:close()
    ep.stop(emu)
  end)

  it("a commit answered 409 E213028 is an error the consumer goes on after; 202 is success", function()
    -- requests: lookup, subscribe, partitions, then the commit
    local emu = start("--script ok,ok,ok,stream-409")
    local c = client_of(emu)
    local consumer = assert(c:stream({ group = "g409" }))
    assert.equal(5, #drain(consumer, 5))
    local ok, err = consumer:commit()
    assert.is_nil(ok)
    assert.equal(409, err.status)
    assert.equal("E213028", err.code)
    assert.same({}, consumer:stats().committed)
    assert(consumer:commit()) -- the script is spent: this one lands
    assert.is_true(next(consumer:stats().committed) ~= nil)
    consumer:close()
    c:close()
    ep.stop(emu)
    emu = start("--script ok,ok,ok,commit-202")
    c = client_of(emu)
    consumer = assert(c:stream({ group = "g202" }))
    assert.equal(5, #drain(consumer, 5))
    assert.is_true(consumer:commit())
    consumer:close()
    c:close()
    ep.stop(emu)
  end)

  it("with OAuth, /offsets carries the token of the last /partitions call, never a fresh one", function()
    -- an 8 s token is renewed after 4 s; HERE (and the emulator) answers a
    -- token change on /offsets with 412 E213010
    local emu = start("--token-ttl 8 --access-key " .. ep.shell_quote("sk-id:sk-secret"))
    local c = evcp.new({ base_url = emu.url, access_key_id = "sk-id", access_key_secret = "sk-secret" })
    local consumer = assert(c:stream({ group = "pin" }))
    assert.equal(5, #drain(consumer, 5))
    ep.sleep(4.5) -- the cached token is now due for renewal, and still valid
    assert(c:health()) -- a data call renews it
    assert(consumer:commit()) -- with the pinned token: no 412
    assert.equal(5, #drain(consumer, 5)) -- /partitions may take the new one
    assert(consumer:commit())
    consumer:close()
    c:close()
    ep.stop(emu)
  end)

  it("fetches dataHandle messages from the blob API", function()
    local emu = start("--stream-blob-bytes 1")
    local c = client_of(emu)
    local consumer = assert(c:stream({ group = "blob" }))
    local got = drain(consumer)
    assert.equal(TOTAL, (positions(got)))
    assert.equal(0, consumer:stats().bad)
    consumer:close()
    c:close()
    ep.stop(emu)
  end)

  it("counts a message it cannot decode, keeps its error, and goes on past it", function()
    local emu = start("--script ok,ok,msg-bad-gzip")
    local c = client_of(emu)
    local consumer = assert(c:stream({ group = "bad" }))
    local got = drain(consumer)
    local s = consumer:stats()
    assert.equal(1, s.bad)
    assert.equal("decode", s.last_bad.kind)
    assert.equal(TOTAL - 1, (positions(got)))
    assert(consumer:commit())
    consumer:close()
    c:close()
    ep.stop(emu)
  end)
end)

-- Issue 10 §4: N consumer processes share the partitions of one group.
describe("a consumer group of three processes (spec/stream/consumer.lua)", function()
  teardown(function() ep.stop_all() end)

  local interp = jit and "luajit" or "lua5.4"
  local socket = require("socket")
  local q = ep.shell_quote

  -- starts consumer i; returns its output file and the file with its pid
  local function spawn(emu, group, i, t0, t1)
    local out, pidf = os.tmpname(), os.tmpname()
    local pre = os.getenv("EVCP_CHILD_PRELOAD")
    local env = pre and ("env LD_PRELOAD=" .. q(pre)) or "env -u LD_PRELOAD"
    assert(os.execute("sh -c " .. q(env .. " " .. interp .. " spec/stream/consumer.lua " .. q(emu.url) .. " "
      .. q(group) .. " c" .. i .. " " .. t0 .. " " .. t1 .. " " .. q(out) .. " 2>>" .. q(out .. ".err")
      .. " & echo $! > " .. q(pidf) .. "; wait $!; echo done > " .. q(out .. ".done")) .. " 2>/dev/null &"))
    return out, pidf
  end

  local function wait_done(outs, limit)
    local t = socket.gettime() + limit
    while socket.gettime() < t do
      local all = true
      for _, o in ipairs(outs) do
        local f = io.open(o .. ".done")
        if f then f:close() else all = false end
      end
      if all then return true end
      socket.sleep(0.1)
    end
    return false
  end

  -- lines of a consumer's output: {p, o, evse, ms}
  local function lines(out)
    local t = {}
    for l in io.lines(out) do
      local p, o, e, ms = l:match("^(%d+) (%d+) (%S+) (%d+)$")
      if p then t[#t + 1] = { p = tonumber(p), o = tonumber(o), e = e, ms = tonumber(ms) } end
    end
    return t
  end

  local function run_group(kill)
    local now = math.floor(socket.gettime())
    local t0 = now + 3                -- every consumer has joined by then
    local total, interval = 150, 20   -- 3 s of messages from t0
    local emu = ep.start("--data " .. FIXTURE .. " --status-interval 0 --token T1 --stream-interval-ms " .. interval
      .. " --stream-max " .. total .. " --start-time " .. t0 .. " --stream-session-ms 1500 --workers 2")
    local t1 = t0 + 3 + (kill and 6 or 2) -- the stream's end, and time for a rebalance
    local outs, pids = {}, {}
    for i = 1, 3 do outs[i], pids[i] = spawn(emu, kill and "g-kill" or "g-clean", i, t0, t1) end
    if kill then
      while socket.gettime() < t0 + 1 do socket.sleep(0.05) end
      local pid = io.open(pids[2]):read("*l")
      os.execute("kill -9 " .. pid)
    end
    assert.is_true(wait_done(outs, t1 - socket.gettime() + 30), "the consumers did not end")
    local per, seen, dup = {}, {}, 0
    for i = 1, 3 do
      per[i] = lines(outs[i])
      local err = io.open(outs[i] .. ".err"):read("*a")
      if not (kill and i == 2) then assert.equal("", err) end
      local mine = {}
      for _, l in ipairs(per[i]) do
        local k = l.p .. ":" .. l.o
        if not mine[k] then
          mine[k] = true
          if seen[k] then dup = dup + 1 end
          seen[k] = true
        end
      end
    end
    local n = 0
    for _ in pairs(seen) do n = n + 1 end
    local published = stats(emu).messages
    ep.stop(emu)
    for i = 1, 3 do
      for _, f in ipairs({ outs[i], outs[i] .. ".err", outs[i] .. ".done", pids[i] }) do os.remove(f) end
    end
    return n, published, dup, per
  end

  it("together see every message exactly once, each partition with one consumer at a time", function()
    local n, published, dup, per = run_group(false)
    assert.equal(150, published)
    assert.equal(published, n)
    assert.equal(0, dup)
    -- with the group stable, each partition stayed with one consumer
    local owner = {}
    for i = 1, 3 do
      assert.is_true(#per[i] > 0, "consumer " .. i .. " got nothing")
      for _, l in ipairs(per[i]) do
        assert.is_true(owner[l.p] == nil or owner[l.p] == i, "partition " .. l.p .. " served to two")
        owner[l.p] = i
      end
    end
  end)

  it("when one is killed, its partitions move to the others and nothing is lost", function()
    local n, published, _, per = run_group(true)
    assert.equal(150, published)
    assert.equal(published, n) -- at least once: a message may come twice
    -- the survivors took over partitions the killed one had
    local before, after = {}, {}
    for _, l in ipairs(per[2]) do before[l.p] = true end
    for _, i in ipairs({ 1, 3 }) do
      for _, l in ipairs(per[i]) do if before[l.p] then after[l.p] = true end end
    end
    assert.is_true(next(before) ~= nil, "the killed consumer had read something")
    for p in pairs(before) do assert.is_true(after[p], "partition " .. p .. " did not move") end
  end)
end)

-- what the stream client does with answers that are wrong (a stub transport
-- plays the server: no emulator can be made to send these)
describe("client:stream with hostile answers", function()
  local function client_with(answers, token)
    local sent = {}
    local t = {
      run = function(_, reqs)
        local out = {}
        for i, r in ipairs(reqs) do
          sent[#sent + 1] = r
          local path = r.url:match("^https?://[^/]+(/[^?]*)")
          local a = answers[path] or { status = 404, headers = {}, body = "{}" }
          if type(a) == "function" then a = a(r) end
          out[i] = { status = a.status, headers = a.headers or { ["content-type"] = "application/json" },
            body = a.body }
        end
        return out
      end,
      sleep = function() end,
    }
    return evcp.new({ base_url = "http://h.test", access_token = token or "T", transport = t, max_attempts = 1 }),
      sent
  end
  local LOOKUP = "/lookup/v1/resources/hrn%3Ahere%3Adata%3A%3Aolp-here%3Aevcp2-updates-prd/apis"
  local function lookup_answer(base)
    return { status = 200, body = cjson.encode({ { api = "stream", version = "v2", baseURL = base } }) }
  end

  it("refuses a baseURL or nodeBaseURL with credentials, another scheme or a query, and follows no such URL", function()
    for _, bad in ipairs({ "http://user:pw@evil.test/x", "ftp://h.test/x", "http://h.test/x?a=1", "javascript:x",
      "http://h.test/x y", string.rep("a", 3000) }) do
      local c, sent = client_with({ [LOOKUP] = lookup_answer(bad) })
      local consumer, err = c:stream()
      assert.is_nil(consumer)
      assert.equal("decode", err.kind)
      assert.matches("baseURL", err.message)
      assert.equal(1, #sent) -- nothing sent to it
      c:close()
    end
    local c, sent = client_with({
      [LOOKUP] = lookup_answer("http://h.test/s"),
      ["/s/layers/evse-update-stream/subscribe"] = { status = 201,
        body = cjson.encode({ nodeBaseURL = "http://a@evil.test/n", subscriptionId = "1" }) },
    })
    local consumer, err = c:stream()
    assert.is_nil(consumer)
    assert.matches("nodeBaseURL", err.message)
    assert.equal(2, #sent)
    c:close()
  end)

  it("an https client refuses an http URL from the lookup", function()
    local t = { run = function()
      return { { status = 200, headers = { ["content-type"] = "application/json" },
        body = cjson.encode({ { api = "stream", version = "v2", baseURL = "http://plain.test/s" } }) } }
    end, sleep = function() end }
    local c = evcp.new({ base_url = "https://h.test", access_token = "T", transport = t, max_attempts = 1 })
    local consumer, err = c:stream()
    assert.is_nil(consumer)
    assert.matches("not https", err.message)
    c:close()
  end)

  it("a lookup answer that is not a list, lacks the stream, or a subscribe answer without an id, is an error", function()
    for _, a in ipairs({ { status = 200, body = "{}" }, { status = 200, body = "[1,2]" },
      { status = 200, body = cjson.encode({ { api = "blob", version = "v1", baseURL = "http://h.test/b" } }) } }) do
      local c = client_with({ [LOOKUP] = a })
      local consumer, err = c:stream()
      assert.is_nil(consumer)
      assert.equal("decode", err.kind)
      c:close()
    end
    local c = client_with({ [LOOKUP] = lookup_answer("http://h.test/s"),
      ["/s/layers/evse-update-stream/subscribe"] = { status = 201, body = cjson.encode({ nodeBaseURL = "http://h.test/n" }) } })
    local consumer, err = c:stream()
    assert.is_nil(consumer)
    assert.matches("subscriptionId", err.message)
    c:close()
  end)

  it("the bearer token never shows in errors or tostring", function()
    local tok = "sekrit-Tok-7781"
    local c = client_with({ [LOOKUP] = { status = 500, body = cjson.encode({ title = "echo: Bearer " .. tok,
      cause = tok }) } }, tok)
    local _, err = c:stream({ group = "g" })
    assert.equal(500, err.status)
    assert.is_nil(tostring(err):find(tok, 1, true))
    assert.is_nil(err.title:find(tok, 1, true))
    assert.is_nil(err.cause:find(tok, 1, true))
    c:close()
  end)

  it("lookup_base_url is checked like the other base URLs", function()
    assert.has_error(function() evcp.new({ access_token = "T", lookup_base_url = "ftp://x" }) end)
    assert.has_error(function() evcp.new({ access_token = "T", lookup_base_url = "https://u@x" }) end)
  end)
end)
