-- evcp.store (issue 10 §3): the status picture, through its public API.
-- Expected values come from the specs' own arithmetic (timestamps are
-- built from known epoch seconds, winners picked by a small oracle here),
-- from the emulator's raw JSON fetched with curl and decoded by cjson, never
-- from the store itself.
local h = require("helper")
local ep = require("emulator_process")
local evcp_store = require("evcp.store")

local L1 = "here:evcp:charginglocation:spec63-one"
local L2 = "here:evcp:charginglocation:spec63-two"

local function evse(n) return ("here:evcp:evse:spec63-%04d"):format(n) end

-- epoch seconds -> an RFC 3339 string (os.date, not the store's code)
local function ts(sec, frac)
  return os.date("!%Y-%m-%dT%H:%M:%S", sec) .. (frac or "") .. "Z"
end

local BASE = 1796119200 -- 2026-12-01T10:00:00Z

local function upd(n, status, sec, lid, extra)
  local raw = status and status:gsub("%u", function(c) return "_" .. c end):upper() or "PLANNED"
  local u = { location_id = lid or L1, evse_id = evse(n), status = status, raw_status = raw,
    last_updated = type(sec) == "string" and sec or ts(sec) }
  for k, v in pairs(extra or {}) do u[k] = v end
  return u
end

local function tmp_path(name)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. h.shell_quote(dir)))
  return dir .. "/" .. name, dir
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

describe("evcp.store #store", function()
  for _, backend in ipairs({ "tables", "shared dict" }) do
  local fresh = {}
  -- a store of this backend (a fake ngx.shared dict for the shared one:
  -- spec/64 runs the real one in nginx)
  local function new_store(o)
    o = o or {}
    if backend == "shared dict" then
      o.shared = require("store_resty.fakedict").new()
      fresh[#fresh + 1] = o.shared
    end
    return evcp_store.new(o)
  end
  local function restore(path, o)
    o = o or {}
    if backend == "shared dict" then o.shared = require("store_resty.fakedict").new() end
    return evcp_store.restore(path, o)
  end
  describe("(" .. backend .. ")", function()
  describe("apply", function()
    it("keeps the newest update of each EVSE and ignores older ones", function()
      local s = new_store()
      assert.is_true(s:apply(upd(1, "available", BASE)))
      assert.is_false(s:apply(upd(1, "charging", BASE - 1)))
      assert.equal("available", s:evse(evse(1)).status)
      assert.is_true(s:apply(upd(1, "charging", BASE + 1)))
      assert.equal("charging", s:evse(evse(1)).status)
      assert.equal("CHARGING", s:evse(evse(1)).raw_status)
      assert.equal(ts(BASE + 1), s:evse(evse(1)).last_updated)
      assert.same({ available = 0, total = 1, unlisted = 0, by_status = { charging = 1 } }, s:counts(L1))
    end)

    it("compares times with offsets and fractions as instants", function()
      local s = new_store()
      assert.is_true(s:apply(upd(1, "available", "2026-12-01T10:00:00Z")))
      -- 11:30+02:00 is 09:30Z: older
      assert.is_false(s:apply(upd(1, "charging", "2026-12-01T11:30:00+02:00")))
      -- 05:30-05:00 is 10:30Z: newer
      assert.is_true(s:apply(upd(1, "charging", "2026-12-01T05:30:00-05:00")))
      assert.is_true(s:apply(upd(1, "blocked", "2026-12-01T10:30:00.5Z")))
      assert.is_false(s:apply(upd(1, "available", "2026-12-01T10:30:00.499999999Z")))
      assert.is_true(s:apply(upd(1, "available", "2026-12-01T10:30:00.5000001Z")))
      -- offsets without a colon, lower-case t and z
      assert.is_false(s:apply(upd(1, "charging", "2026-12-01t12:30:00+0200")))
      assert.is_true(s:apply(upd(1, "charging", "2026-12-01t10:30:01z")))
      -- across a month and a leap day
      assert.is_true(s:apply(upd(2, "available", "2028-02-29T23:59:59Z")))
      assert.is_true(s:apply(upd(2, "charging", "2028-03-01T00:00:00+00:00")))
      assert.is_false(s:apply(upd(2, "blocked", "2028-03-01T00:59:59+01:00")))
    end)

    it("breaks a tie of equal times the same way whatever the order", function()
      for _, order in ipairs({ { "available", "outOfOrder" }, { "outOfOrder", "available" } }) do
        local s = new_store()
        s:apply(upd(1, order[1], BASE))
        s:apply(upd(1, order[2], BASE))
        assert.equal("outOfOrder", s:evse(evse(1)).status, "the less good news wins a tie")
      end
      local s = new_store()
      assert.is_true(s:apply(upd(1, "charging", BASE)))
      assert.is_false(s:apply(upd(1, "charging", BASE)), "a duplicate changes nothing")
    end)

    it("gives the same picture for any order and any redelivery", function()
      local statuses = require("evcp.status").V3
      local rank = { available = 1, operational = 2, unknown = 3, reserved = 4, charging = 5,
        blocked = 6, inoperative = 7, outOfOrder = 8 }
      math.randomseed(63)
      local list, best = {}, {}
      for i = 1, 3000 do
        local n = math.random(1, 200)
        local st = statuses[math.random(1, #statuses)]
        local sec = BASE + math.random(0, 50)
        local lid = n % 3 == 0 and L2 or L1
        list[i] = upd(n, st, sec, lid)
        local b = best[n]
        if not b or sec > b.sec or (sec == b.sec and rank[st] > rank[b.st]) then
          best[n] = { sec = sec, st = st, lid = lid }
        end
      end
      local want = { [L1] = { total = 0, by = {} }, [L2] = { total = 0, by = {} } }
      for _, b in pairs(best) do
        local w = want[b.lid]
        w.total = w.total + 1
        w.by[b.st] = (w.by[b.st] or 0) + 1
      end
      for round = 1, 3 do
        local s = new_store()
        local shuffled = {}
        for i, u in ipairs(list) do shuffled[i] = u end
        for i = #shuffled, 2, -1 do
          local j = math.random(1, i)
          shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
        end
        if round == 3 then -- and every update twice, the second time in reverse
          for i = #list, 1, -1 do shuffled[#shuffled + 1] = list[i] end
        end
        local _, errs = s:apply_many(shuffled)
        assert.is_nil(errs)
        for lid, w in pairs(want) do
          local c = s:counts(lid)
          assert.equal(w.total, c.total)
          assert.same(w.by, c.by_status)
          assert.equal(w.by.available or 0, c.available)
        end
        for n, b in pairs(best) do assert.equal(b.st, s:evse(evse(n)).status) end
      end
    end)

    it("moves an EVSE whose newer update names another location", function()
      local s = new_store()
      s:apply(upd(1, "available", BASE, L1))
      s:apply(upd(1, "available", BASE + 5, L2))
      assert.equal(0, s:counts(L1).total)
      assert.equal(1, s:counts(L2).available)
    end)

    it("keeps statuses without a v3 spelling out of the totals", function()
      local s = new_store()
      assert.is_true(s:apply({ location_id = L1, evse_id = evse(1), raw_status = "PLANNED",
        last_updated = ts(BASE) }))
      s:apply(upd(2, "available", BASE))
      local c = s:counts(L1)
      assert.equal(1, c.total)
      assert.equal(1, c.unlisted)
      assert.is_true(s:apply(upd(1, "charging", BASE + 1)))
      assert.equal(2, s:counts(L1).total)
      assert.equal(0, s:counts(L1).unlisted)
    end)

    it("refuses hostile updates with nil, err and keeps going", function()
      local s = new_store()
      -- valid dates first (a cache of days must not let a bad date through)
      for _, t in ipairs({ "2027-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "2028-02-29T00:00:00Z" }) do
        assert.is_true(new_store():apply(upd(9, "available", t)))
      end
      local bad = {
        { evse_id = 5 }, { evse_id = {} }, { evse_id = "" }, { evse_id = ("x"):rep(257) },
        { evse_id = "a\0b" }, { location_id = true }, { location_id = ("y"):rep(300) },
        { status = "AVAILABLE" }, { status = 1 }, { status = false },
        { raw_status = ("R"):rep(65) }, { raw_status = {} },
        { last_updated = 0 / 0 }, { last_updated = BASE }, { last_updated = "yesterday" },
        { last_updated = "2026-12-01T10:00:00" }, { last_updated = "2026-13-01T10:00:00Z" },
        { last_updated = "2026-12-32T10:00:00Z" }, { last_updated = "2026-17-01T10:00:00Z" },
        { last_updated = "2026-00-10T10:00:00Z" }, { last_updated = "2026-02-29T10:00:00Z" }, { last_updated = "2026-12-01T24:00:00Z" },
        { last_updated = "2026-12-01T10:00:00+25:00" }, { last_updated = "2026-12-01T10:00:00.Z" },
        { last_updated = "2026-12-01T10:00:00Zjunk" }, { last_updated = ("2026-12-01T10:00:00.") .. ("1"):rep(100) .. "Z" },
        { partition = -1 }, { partition = 1.5 }, { offset = 0 / 0 }, { offset = "7" }, { partition = 2 ^ 40 },
      }
      for i, patch in ipairs(bad) do
        local u = upd(1, "available", BASE)
        for k, v in pairs(patch) do u[k] = v end
        local ok, err = s:apply(u)
        assert.is_nil(ok, "case " .. i)
        assert.is_true(require("evcp").is_error(err), "case " .. i)
        assert.equal("invalid", err.kind, "case " .. i)
        assert.matches("^evcp: invalid", tostring(err))
      end
      assert.equal(0, s:size())
      local u = upd(1, "available", BASE)
      u.status, u.raw_status = nil, nil
      assert.is_nil((s:apply(u)))
      assert.is_true(s:apply(upd(1, "available", BASE)))
    end)

    it("stops at max_evses with kind 'full' and still updates the EVSEs it has", function()
      local s = new_store({ max_evses = 3 })
      for n = 1, 3 do assert.is_true(s:apply(upd(n, "available", BASE))) end
      local ok, err = s:apply(upd(4, "available", BASE))
      assert.is_nil(ok)
      assert.equal("full", err.kind)
      assert.is_true(s:apply(upd(2, "charging", BASE + 1)))
      assert.equal(3, s:size())
    end)

    it("apply_many counts what it applied and lists what it refused", function()
      local s = new_store()
      local list = { upd(1, "available", BASE), "junk", upd(1, "charging", BASE - 5),
        upd(2, "charging", "never"), upd(3, "blocked", BASE) }
      local n, errs = s:apply_many(list)
      assert.equal(2, n)
      assert.equal(2, errs.count)
      assert.equal(2, errs[1].index)
      assert.equal(4, errs[2].index)
      local many = {}
      for i = 1, 250 do many[i] = "junk" end
      local _, e2 = s:apply_many(many)
      assert.equal(250, e2.count)
      assert.equal(100, #e2)
    end)

    it("raises for misuse, naming the function", function()
      local s = new_store()
      assert.has_error(function() s:apply("x") end, "evcp.store:apply: argument #1 (update) must be a table, got string")
      assert.has_error(function() s.apply(nil, {}) end)
      assert.has_error(function() s:apply_many(5) end)
      assert.has_error(function() s:counts(5) end, "evcp.store:counts: argument #1 (id) must be a string, got number")
      assert.has_error(function() s:changed_since({}) end)
      assert.has_error(function() s:changed_since(0 / 0) end)
      assert.has_error(function() s:changed_since("nope") end)
      assert.has_error(function() s:changed_since(0, { limit = 0 }) end)
      assert.has_error(function() s:changed_since(0, { bogus = 1 }) end)
      assert.has_error(function() s:set_offsets({ [-1] = 3 }) end)
      assert.has_error(function() s:set_offsets({ [1] = 0.5 }) end)
      assert.has_error(function() s:set_offsets("x") end)
      assert.has_error(function() s:apply_location(42) end)
      assert.has_error(function() evcp_store.new({ bogus = 1 }) end,
        "evcp.store.new: option 'bogus' is not known (known options: max_evses, shared)")
      assert.has_error(function() evcp_store.new({ max_evses = 0 }) end)
      assert.has_error(function() evcp_store.new(7) end)
      assert.has_error(function() evcp_store.restore(7) end)
      -- the error points at the caller's line
      local ok, msg = pcall(function() s:apply(1) end)
      assert.is_false(ok)
      assert.matches("63%-store_spec%.lua:%d+: evcp%.store:apply", msg)
    end)
  end)

  describe("changed_since", function()
    it("lists the EVSEs changed after T, oldest first, bounded, with paging", function()
      local s = new_store()
      for n = 1, 10 do s:apply(upd(n, "available", BASE + n, n > 5 and L2 or L1)) end
      s:apply(upd(11, "charging", BASE + 8)) -- a tie with evse 8, in another location
      local list, more = s:changed_since(ts(BASE + 7))
      assert.is_false(more)
      local ids = {}
      for i, r in ipairs(list) do ids[i] = r.evse_id end
      assert.same({ evse(8), evse(11), evse(9), evse(10) }, ids)
      assert.equal(4, #s:changed_since(BASE + 7), "epoch seconds work too")
      assert.equal(4, #s:changed_since(BASE + 7.999))
      assert.equal(2, #s:changed_since(BASE + 8))
      assert.equal(2, #s:changed_since(BASE + 8.5))
      list, more = s:changed_since(ts(BASE + 7), { limit = 1 })
      assert.is_true(more)
      assert.equal(evse(8), list[1].evse_id)
      -- the next page: at the last record's time, after its id
      list = s:changed_since(list[1].last_updated, { after_id = list[1].evse_id, limit = 2 })
      assert.equal(evse(11), list[1].evse_id)
      assert.equal(evse(9), list[2].evse_id)
      list = s:changed_since(ts(BASE), { location_id = L1 })
      assert.equal(6, #list)
      -- records are copies
      list[1].status = "blocked"
      assert.equal("available", s:evse(list[1].evse_id).status)
    end)
  end)

  describe("locations and connector groups", function()
    local function loc_doc()
      return h.decode(h.fixture("seed-001-evses.json"))
    end

    it("applies a Location's EVSEs with their groups (plain table and userdata alike)", function()
      local doc = loc_doc()
      local v3 = require("evcp").v3
      local loc = assert(v3.parse(h.fixture("seed-001-evses.json")))
      local a, b = new_store(), new_store()
      local n1, e1 = a:apply_location(loc)
      local n2, e2 = b:apply_location(doc)
      assert.is_nil(e1)
      assert.is_nil(e2)
      assert.equal(#doc.evses, n1)
      assert.equal(#doc.evses, n2)
      assert.same(a:counts(doc.id), b:counts(doc.id))
      assert.same(a:group_counts(doc.id), b:group_counts(doc.id))
      -- expected from the document: EVSEs per status, groups by (standard, maxPower)
      local total, avail, groups = 0, 0, {}
      for _, e in ipairs(doc.evses) do
        total = total + 1
        if e.status == "available" then avail = avail + 1 end
        local seen = {}
        for _, c in ipairs(e.connectors) do
          local key = c.standard .. ":" .. string.format("%d", c.maxPower)
          if not seen[key] then
            seen[key] = true
            groups[key] = groups[key] or { available = 0, total = 0 }
            groups[key].total = groups[key].total + 1
            if e.status == "available" then groups[key].available = groups[key].available + 1 end
          end
        end
      end
      local c = a:counts(doc.id)
      assert.equal(total, c.total)
      assert.equal(avail, c.available)
      local got = {}
      for k, g in pairs(a:group_counts(doc.id)) do
        got[k] = { available = g.available, total = g.total }
        assert.equal(k, g.standard .. ":" .. string.format("%d", g.maxPower))
      end
      assert.same(groups, got)
      -- seed 001's connector groups (HERE's own example) say the same
      local cg = h.decode(h.fixture("seed-001-connectorGroups.json")).connectorGroups
      for _, g in ipairs(cg) do
        local key = g.standard .. ":" .. string.format("%d", g.maxPower)
        assert.equal(g.connectorCount, got[key].total, key)
        assert.equal(g.availableConnectorCount, got[key].available, key)
      end
    end)

    it("gives the same picture as the equivalent stream updates", function()
      local doc = loc_doc()
      local a, b = new_store(), new_store()
      a:apply_location(doc)
      local status = require("evcp.status")
      for _, e in ipairs(doc.evses) do
        local raw = status.to_ocpi(e.status):gsub("OUTOFORDER", "OUT_OF_ORDER")
        assert.is_true(b:apply({ location_id = doc.id, evse_id = e.id, raw_status = raw,
          status = status.normalize(raw), last_updated = e.modified }))
      end
      assert.same(a:counts(doc.id), b:counts(doc.id))
      -- and the stream's own updates keep the groups a lookup told
      local e1 = doc.evses[1]
      local before = a:group_counts(doc.id)
      assert.is_true(a:apply({ location_id = doc.id, evse_id = e1.id, status = "outOfOrder",
        raw_status = "OUT_OF_ORDER", last_updated = "2030-01-01T00:00:00Z" }))
      local after = a:group_counts(doc.id)
      local mine = {}
      for _, k in ipairs(a:evse(e1.id).groups) do mine[k] = true end
      assert.is_not_nil(next(mine))
      for k, g in pairs(before) do
        local drop = (mine[k] and e1.status == "available") and 1 or 0
        assert.equal(g.available - drop, after[k].available, k)
        assert.equal(g.total, after[k].total, k)
      end
      -- a lookup older than the stream's news leaves the status alone
      assert.equal(0, (a:apply_location(doc)))
      assert.equal("outOfOrder", a:evse(e1.id).status)
    end)

    it("EVSEs known only from the stream belong to no group until a lookup", function()
      local doc = loc_doc()
      local s = new_store()
      local e1 = doc.evses[1]
      s:apply({ location_id = doc.id, evse_id = e1.id, status = "available", raw_status = "AVAILABLE",
        last_updated = "2020-01-01T00:00:00Z" })
      assert.same({}, s:group_counts(doc.id))
      assert.same({}, s:evse(e1.id).groups)
      s:apply_location(doc)
      assert.equal(1, #s:evse(e1.id).groups)
    end)

    it("skips an EVSE with a bad modified and applies the rest", function()
      local doc = loc_doc()
      doc.evses[2].modified = "garbage"
      doc.evses[3].id = nil
      local s = new_store()
      local n, errs = s:apply_location(doc)
      assert.equal(#doc.evses - 2, n)
      assert.equal(2, errs.count)
      assert.equal(2, errs[1].index)
      assert.equal(#doc.evses - 2, s:counts(doc.id).total)
      local ok, err = s:apply_location({ evses = {} })
      assert.is_nil(ok)
      assert.equal("invalid", err.kind)
    end)
  end)

  describe("snapshot and restore", function()
    it("writes picture and offsets atomically and reads them back", function()
      local path, dir = tmp_path("status.snap")
      local s = new_store()
      s:apply_location(h.decode(h.fixture("seed-001-evses.json")))
      for n = 1, 50 do s:apply(upd(n, n % 2 == 0 and "available" or "charging", BASE + n, L1, { partition = n % 4, offset = n })) end
      s:apply({ location_id = L2, evse_id = evse(99), raw_status = "REMOVED", last_updated = ts(BASE) })
      s:set_offsets({ [0] = 48, [1] = 49, [2] = 50, [3] = 47 })
      assert.is_true(s:snapshot(path))
      -- nothing left beside it
      local p = io.popen("ls " .. h.shell_quote(dir))
      local listing = p:read("*a")
      p:close()
      assert.equal("status.snap\n", listing)
      local r = assert(restore(path))
      assert.same(s:offsets(), r:offsets())
      assert.equal(s:size(), r:size())
      for _, lid in ipairs({ L1, L2, h.seed_id }) do
        assert.same(s:counts(lid), r:counts(lid))
        assert.same(s:group_counts(lid), r:group_counts(lid))
      end
      for n = 1, 50 do assert.same(s:evse(evse(n)), r:evse(evse(n))) end
      assert.same(s:changed_since(0, { limit = 100 }), r:changed_since(0, { limit = 100 }))
      -- a second snapshot replaces the first
      s:apply(upd(1, "blocked", BASE + 1000))
      assert.is_true(s:snapshot(path))
      assert.equal("blocked", assert(restore(path)):evse(evse(1)).status)
      os.execute("rm -rf " .. h.shell_quote(dir))
    end)

    it("resumes after a restart without a gap and without double counting", function()
      -- a stream of 400 updates on 2 partitions (offsets 0..199 each)
      math.randomseed(1063)
      local statuses = require("evcp.status").V3
      local stream = {}
      for i = 1, 400 do
        local n = math.random(1, 60)
        stream[i] = upd(n, statuses[math.random(1, #statuses)], BASE + i, n % 2 == 0 and L1 or L2,
          { partition = i % 2, offset = math.floor((i - 1) / 2) })
      end
      -- the reference: a store that saw each update once
      local once = new_store()
      once:apply_many(stream)
      -- the restarted one: the first 250 updates, offsets, snapshot, restart
      local path, dir = tmp_path("restart.snap")
      local first = new_store()
      local last = {}
      for i = 1, 250 do
        first:apply(stream[i])
        last[stream[i].partition] = stream[i].offset
      end
      first:set_offsets(last)
      assert.is_true(first:snapshot(path))
      first = nil -- luacheck: ignore 311
      collectgarbage()
      local again = assert(restore(path))
      local offs = again:offsets()
      assert.same(last, offs)
      -- redelivery: from 10 offsets before each committed one (at least once)
      for i = 1, 400 do
        local u = stream[i]
        if u.offset > offs[u.partition] - 10 then again:apply(u) end
      end
      for _, lid in ipairs({ L1, L2 }) do assert.same(once:counts(lid), again:counts(lid)) end
      for n = 1, 60 do assert.same(once:evse(evse(n)), again:evse(evse(n))) end
      os.execute("rm -rf " .. h.shell_quote(dir))
    end)

    it("refuses truncated, corrupt and hostile files with nil, err, running nothing", function()
      local path, dir = tmp_path("good.snap")
      local s = new_store()
      for n = 1, 5 do s:apply(upd(n, "available", BASE + n)) end
      s:set_offsets({ [3] = 9 })
      assert.is_true(s:snapshot(path))
      local good = h.read(path)
      local lines = {}
      for l in good:gmatch("[^\n]+") do lines[#lines + 1] = l end
      assert.equal(7, #lines)
      local function with(i, text)
        local c = {}
        for j, l in ipairs(lines) do c[j] = l end
        c[i] = text
        return table.concat(c, "\n") .. "\n"
      end
      _G.SPEC63_RAN = nil
      local cases = {
        truncated_mid_line = good:sub(1, #good - 20),
        truncated_no_end = table.concat(lines, "\n", 1, 6) .. "\n",
        no_final_newline = good:sub(1, -2),
        empty = "",
        lua_code = "_G.SPEC63_RAN = true return {}\n",
        lua_table = "return { format = 'evcp.store', version = 1 }\n",
        other_version = with(1, '{"format":"evcp.store","version":2,"evses":5,"offsets":[]}'),
        not_ours = with(1, '{"format":"other","version":1,"evses":5,"offsets":[]}'),
        count_too_big = with(1, '{"format":"evcp.store","version":1,"evses":6,"offsets":[[3,9]]}'),
        count_too_small = with(1, '{"format":"evcp.store","version":1,"evses":4,"offsets":[[3,9]]}'),
        bad_offsets = with(1, '{"format":"evcp.store","version":1,"evses":5,"offsets":[[-3,9]]}'),
        dup_offsets = with(1, '{"format":"evcp.store","version":1,"evses":5,"offsets":[[3,9],[3,1]]}'),
        bad_record = with(3, '{"e":5,"l":"x","s":"available","u":"2026-12-01T10:00:00Z"}'),
        bad_status = with(3, '{"e":"e","l":"x","s":"AVAILABLE","u":"2026-12-01T10:00:00Z"}'),
        bad_time = with(3, '{"e":"e","l":"x","s":"available","u":"2026-12-01"}'),
        unknown_field = with(3, '{"e":"e","l":"x","s":"available","u":"2026-12-01T10:00:00Z","x":1}'),
        bad_group = with(3, '{"e":"e","l":"x","s":"available","u":"2026-12-01T10:00:00Z","g":["no key"]}'),
        not_json = with(3, "{{{{"),
        array_record = with(3, "[1,2,3]"),
        long_line = with(3, '{"e":"' .. ("x"):rep(10000) .. '"}'),
        deep = with(3, ("["):rep(5000) .. ("]"):rep(5000)),
        duplicate = with(3, lines[2]),
        trailing = good .. "extra\n",
        end_mismatch = with(7, '{"end":4}'),
        nul = with(3, lines[3]:sub(1, 10) .. "\0" .. lines[3]:sub(11)),
      }
      for name, text in pairs(cases) do
        write(path, text)
        local r, err = restore(path)
        assert.is_nil(r, name)
        assert.is_true(require("evcp").is_error(err), name)
        assert.is_string(err.message, name)
      end
      assert.is_nil(_G.SPEC63_RAN)
      -- missing file, a directory, too large
      local r, err = restore(dir .. "/nothing-here")
      assert.is_nil(r)
      assert.equal("io", err.kind)
      assert.is_nil((restore(dir)))
      write(path, good)
      assert.is_nil((restore(path, { max_bytes = 100 })))
      -- a snapshot of more EVSEs than the new store's max_evses
      r, err = restore(path, { max_evses = 2 })
      assert.is_nil(r)
      assert.equal("full", err.kind)
      assert.is_not_nil(restore(path))
      -- a directory that cannot be written: nil, err, and the old file stays
      r, err = s:snapshot(dir .. "/no/such/dir/x.snap")
      assert.is_nil(r)
      assert.equal("io", err.kind)
      os.execute("rm -rf " .. h.shell_quote(dir))
    end)
  end)

  end)
  end

  it("loads without touching globals", function()
    local before = {}
    for k in pairs(_G) do before[k] = true end
    for _, m in ipairs({ "evcp.store", "evcp.store.common", "evcp.store.shared", "evcp.store.snapshot" }) do
      package.loaded[m] = nil
    end
    local fresh = require("evcp.store")
    local s = fresh.new()
    s:apply(upd(1, "available", BASE))
    local path, dir = tmp_path("g.snap")
    assert.is_true(s:snapshot(path))
    assert.is_not_nil(fresh.restore(path))
    fresh.new({ shared = require("store_resty.fakedict").new() }):apply(upd(1, "available", BASE))
    for k in pairs(_G) do assert.is_true(before[k] ~= nil, "new global: " .. tostring(k)) end
    os.execute("rm -rf " .. h.shell_quote(dir))
  end)

  describe("against the emulator's locations", function()
    local db_ids
    local function ids(n)
      if not db_ids then
        local db = ep.module("dataset").load()
        db_ids = {}
        for i = 1, #db.locations do db_ids[i] = db.locations[i].id end
      end
      local out = {}
      for i = 1, n do out[i] = db_ids[(i * 37) % #db_ids + 1] end
      return out
    end

    -- the emulator's answer, fetched with curl and decoded by cjson
    local function raw(list, fields)
      local res = ep.request({ url = h.url }, "/v3/locations?ids=" .. table.concat(list, ",")
        .. "&fields=" .. fields .. "&apiKey=" .. h.key)
      assert.equal(200, res.status)
      return res.json.items
    end

    it("counts per location and per group equal the raw v3 answer", function()
      local list = ids(80)
      local c = h.client()
      local res = assert(c:locations(list, { fields = { "evses" } }))
      c:close()
      local s = evcp_store.new()
      for _, loc in ipairs(res.items) do
        local _, errs = s:apply_location(loc)
        assert.is_nil(errs)
      end
      local items = raw(list, "evses,connectorGroups")
      assert.is_true(#items > 50)
      local checked, with_groups = 0, 0
      for _, it in ipairs(items) do
        local total, avail, by = 0, 0, {}
        for _, e in ipairs(it.evses) do
          total = total + 1
          by[e.status] = (by[e.status] or 0) + 1
          if e.status == "available" then avail = avail + 1 end
        end
        local got = s:counts(it.id)
        assert.equal(total, got.total, it.id)
        assert.equal(avail, got.available, it.id)
        assert.same(by, got.by_status)
        local groups = s:group_counts(it.id)
        local n = 0
        for _, g in ipairs(it.connectorGroups) do
          local key = g.standard .. ":" .. string.format("%d", g.maxPower)
          assert.is_table(groups[key], key)
          assert.equal(g.connectorCount, groups[key].total, it.id .. " " .. key)
          assert.equal(g.availableConnectorCount, groups[key].available, it.id .. " " .. key)
          n = n + 1
        end
        local m = 0
        for _ in pairs(groups) do m = m + 1 end
        assert.equal(n, m, it.id)
        if n > 0 then with_groups = with_groups + 1 end
        checked = checked + 1
      end
      assert.is_true(checked > 50 and with_groups > 10)
    end)

    it("with statuses changing: an older lookup applied after a newer one changes nothing", function()
      local emu = ep.start("--status-interval 2 --api-key " .. h.key)
      local ok, err = pcall(function()
        local list = ids(40)
        local c = h.client({ base_url = emu.url })
        local function digest(items)
          local parts = {}
          for _, it in ipairs(items) do
            for _, e in ipairs(it.evses) do parts[#parts + 1] = e.id .. e.status .. e.modified end
          end
          return table.concat(parts, ",")
        end
        local function raw_at(url)
          local res = ep.request({ url = url }, "/v3/locations?ids=" .. table.concat(list, ",")
            .. "&fields=evses&apiKey=" .. h.key)
          assert.equal(200, res.status)
          return res.json.items
        end
        -- a lookup, and the raw answer of the same status step (asked before and after it)
        local function lookup()
          for _ = 1, 5 do
            local before = raw_at(emu.url)
            local res = assert(c:locations(list, { fields = { "evses" } }))
            local after = raw_at(emu.url)
            if digest(before) == digest(after) then return res.items, after end
          end
          error("the emulator's statuses kept changing under the lookup")
        end
        local old_items, old_raw = lookup()
        os.execute("sleep 2.2")
        local new_items, new_raw = lookup()
        assert.are_not.equal(digest(old_raw), digest(new_raw), "statuses changed between the lookups")
        c:close()
        for _, order in ipairs({ { old_items, new_items }, { new_items, old_items } }) do
          local s = evcp_store.new()
          for _, items in ipairs(order) do
            for _, loc in ipairs(items) do s:apply_location(loc) end
          end
          for _, it in ipairs(new_raw) do
            local total, avail = 0, 0
            for _, e in ipairs(it.evses) do
              total = total + 1
              if e.status == "available" then avail = avail + 1 end
              assert.equal(e.status, s:evse(e.id).status)
            end
            assert.equal(total, s:counts(it.id).total)
            assert.equal(avail, s:counts(it.id).available)
          end
        end
      end)
      ep.stop(emu)
      assert(ok, err)
    end)

    it("reads the groups' own references the same way (fields with connectorGroups)", function()
      local list = ids(40)
      local c = h.client()
      local a_res = assert(c:locations(list, { fields = { "evses" } }))
      local b_res = assert(c:locations(list, { fields = { "evses", "connectorGroups" } }))
      c:close()
      local a, b = evcp_store.new(), evcp_store.new()
      for _, loc in ipairs(a_res.items) do a:apply_location(loc) end
      for _, loc in ipairs(b_res.items) do b:apply_location(loc) end
      for _, loc in ipairs(a_res.items) do
        assert.same(a:group_counts(loc.id), b:group_counts(loc.id))
        assert.same(a:counts(loc.id), b:counts(loc.id))
      end
    end)
  end)
end)
