-- evcp.store in OpenResty (issue 10 §3): a real nginx with 2 workers keeps
-- one picture in a lua_shared_dict (spec/store_resty/app.lua). Updates go
-- in through HTTP requests on fresh connections, which nginx spreads over
-- both workers (the listening socket has `reuseport`); every answer names
-- its worker. Expected counts come from the spec's own oracle over the
-- generated updates (spec/store_resty/gen.lua), never from the store.
local socket = require("socket")
local cjson = require("cjson").new()
local nx = require("openresty.nginx")
local rsp = require("rawserver_process")
local gen = require("store_resty.gen")
local h = require("helper")

local N, E = 3000, 90

local RANK = { available = 1, operational = 2, unknown = 3, reserved = 4, charging = 5,
  blocked = 6, inoperative = 7, outOfOrder = 8 }

-- the winner per EVSE, and per-location counts, by plain comparison of the
-- generator's own epoch seconds
local function oracle(list)
  local best = {}
  for _, u in ipairs(list) do
    local b = best[u.evse_id]
    if not b or u.sec > b.sec or (u.sec == b.sec and RANK[u.status] > RANK[b.status]) then
      best[u.evse_id] = u
    end
  end
  local counts = {}
  for _, lid in ipairs(gen.LOCATIONS) do counts[lid] = { total = 0, available = 0, by = {} } end
  for _, u in pairs(best) do
    local c = counts[u.location_id]
    c.total = c.total + 1
    c.by[u.status] = (c.by[u.status] or 0) + 1
    if u.status == "available" then c.available = c.available + 1 end
  end
  return best, counts
end

local function escape(s)
  return (s:gsub("[^%w%-_.~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

describe("evcp.store in a lua_shared_dict, 2 nginx workers #resty", function()
  local s, base

  setup(function()
    local port = rsp.free_port()
    s = nx.start({
      workers = 2,
      http = ([[
  lua_shared_dict evcp_status 32m;
  server {
    listen 127.0.0.1:%d reuseport;
    location = /apply { content_by_lua_block { require("store_resty.app").apply() } }
    location = /burst { content_by_lua_block { require("store_resty.app").burst() } }
    location = /counts { content_by_lua_block { require("store_resty.app").counts() } }
    location = /evse { content_by_lua_block { require("store_resty.app").evse() } }
    location = /offsets { content_by_lua_block { require("store_resty.app").offsets() } }
    location = /snapshot { content_by_lua_block { require("store_resty.app").snapshot() } }
  }]]):format(port),
    })
    base = "http://127.0.0.1:" .. port
    -- the second server is up once the first one is
    local deadline = socket.gettime() + 10
    while socket.gettime() < deadline do
      local c = socket.tcp()
      c:settimeout(0.2)
      local ok = c:connect("127.0.0.1", port)
      c:close()
      if ok then break end
      socket.sleep(0.05)
    end
  end)

  teardown(function() nx.stop(s) end)

  local function get(path)
    local status, body = nx.get(base .. path, 30)
    assert.equal(200, status, tostring(body) .. nx.log(s))
    return cjson.decode(body)
  end

  it("one update per request, served by both workers, gives one picture", function()
    local list = gen.updates(600, 40)
    local pids = {}
    for _, u in ipairs(list) do
      local r = get(("/apply?e=%s&l=%s&s=%s&r=%s&t=%s"):format(escape(u.evse_id), escape(u.location_id),
        u.status, u.raw_status, escape(u.last_updated)))
      assert.is_nil(r.err)
      pids[r.pid] = true
    end
    local n = 0
    for _ in pairs(pids) do n = n + 1 end
    assert.equal(2, n, "both workers applied updates")
    local best, counts = oracle(list)
    for lid, c in pairs(counts) do
      -- asked several times: whichever worker answers sees the same picture
      for _ = 1, 4 do
        local got = get("/counts?l=" .. escape(lid)).counts
        assert.equal(c.total, got.total, lid)
        assert.equal(c.available, got.available, lid)
        assert.same(c.by, got.by_status)
      end
    end
    for eid, u in pairs(best) do
      assert.equal(u.status, get("/evse?e=" .. escape(eid)).evse.status)
    end
    local r = get("/apply?e=x&l=y&s=&r=FOO&t=never")
    assert.is_false(r.applied == true)
    assert.matches("invalid", r.err)
  end)

  it("workers applying the same updates at once, in different orders, never let an older one win", function()
    local list = gen.updates(N, E)
    -- the first case's updates are in the store too (the same EVSE ids)
    local all = gen.updates(600, 40)
    for _, u in ipairs(list) do all[#all + 1] = u end
    local best, counts = oracle(all)
    local pids = {}
    for round = 1, 5 do
      -- 6 requests in flight at once on fresh connections
      local conns = {}
      for i = 1, 6 do
        local c = assert(socket.tcp())
        c:settimeout(60)
        assert(c:connect("127.0.0.1", tonumber(base:match(":(%d+)$"))))
        assert(c:send(("GET /burst?n=%d&e=%d&seed=%d HTTP/1.0\r\nHost: x\r\n\r\n"):format(N, E, round * 10 + i)))
        conns[i] = c
      end
      for _, c in ipairs(conns) do
        local text = c:receive("*a")
        c:close()
        local body = assert(text:match("\r\n\r\n(.*)$"), text)
        local r = cjson.decode(body)
        assert.equal(0, r.errors)
        pids[r.pid] = true
      end
      local n = 0
      for _ in pairs(pids) do n = n + 1 end
      if n == 2 and round >= 2 then break end
    end
    local n = 0
    for _ in pairs(pids) do n = n + 1 end
    assert.equal(2, n, "both workers ran bursts")
    for eid, u in pairs(best) do
      local got = get("/evse?e=" .. escape(eid)).evse
      assert.equal(u.status, got.status, eid)
      assert.equal(u.last_updated, got.last_updated, eid)
    end
    for lid, c in pairs(counts) do
      local got = get("/counts?l=" .. escape(lid)).counts
      assert.equal(c.total, got.total, lid)
      assert.equal(c.available, got.available, lid)
      assert.same(c.by, got.by_status)
    end
  end)

  it("snapshots the shared picture with its offsets; a plain store restores it", function()
    get("/offsets?p=0&o=750")
    local offs = get("/offsets?p=3&o=749").offsets
    assert.same({ ["0"] = 750, ["3"] = 749 }, offs)
    local dir = rsp.tmpdir()
    rsp.sh("chmod 777 " .. h.shell_quote(dir)) -- nginx's workers may run as another user
    local path = dir .. "/shared.snap"
    local r = get("/snapshot?path=" .. escape(path))
    assert.is_true(r.ok, r.err)
    local restored = assert(require("evcp.store").restore(path))
    assert.equal(r.size, restored:size())
    assert.same({ [0] = 750, [3] = 749 }, restored:offsets())
    for _, lid in ipairs(gen.LOCATIONS) do
      local got = get("/counts?l=" .. escape(lid)).counts
      local mine = restored:counts(lid)
      assert.equal(got.total, mine.total)
      assert.equal(got.available, mine.available)
      assert.same(got.by_status, mine.by_status)
    end
    rsp.sh("rm -rf " .. h.shell_quote(dir))
  end)
end)
