--- evcp.store.shared (private): the status picture in an OpenResty
-- lua_shared_dict, one picture for every worker of nginx.
--
--   lua_shared_dict evcp_status 64m;          # about 600 bytes per EVSE
--   local store = require("evcp.store").new{ shared = ngx.shared.evcp_status }
--
-- Keys (one store per dict):
--   "e\0<evse id>"                  the EVSE's record (fields joined by \31)
--   "c\0<location>\0<status>"       EVSEs of the location with that status
--                                   ("-" for a status without v3 spelling)
--   "g\0<location>\0<key>\0a" / "\0t"  a connector group's available / total
--   "G\0<location>"                 the location's group keys (joined by \30)
--   "n"                             EVSEs held;  "o": the offsets
--   "l\0<evse id>", "L\0<location>" locks
-- Why an older update never wins across workers: every change of an EVSE
-- (the check "is this newer than what is held", the new record, and its
-- counters) happens while its worker holds the EVSE's lock, taken with
-- `safe_add` of "l\0<evse id>", which succeeds in exactly one worker at a
-- time (the dict's own mutex makes it atomic). Nothing in the held section
-- yields, so it lasts microseconds; the lock's 5 s expiry only matters when
-- a worker dies holding it. Counters change with `incr`, atomic on its own,
-- so counts stay exact while different EVSEs change in parallel. Values are
-- written with safe_set/safe_add: a full dict gives nil, err ("no memory")
-- and never evicts another key silently.
local type, tostring, tonumber, pairs, ipairs, setmetatable, getmetatable, error, pcall, select =
  type, tostring, tonumber, pairs, ipairs, setmetatable, getmetatable, error, pcall, select
local concat, sort, format = table.concat, table.sort, string.format
local common = require("evcp.store.common")
local errors = require("evcp.error")

local RANK, parse_time, newer, invalid, bad_id, bad_count =
  common.RANK, common.parse_time, common.newer, common.invalid, common.bad_id, common.bad_count

local M = {}

local Shared = { __name = "evcp.Store" }
Shared.__index = Shared

local function check_self(self, fname)
  if getmetatable(self) ~= Shared then
    error("evcp.store:" .. fname .. ": call it as a method (store:" .. fname .. "(...))", 3)
  end
end

local LOCK_TTL = 5
local SPINS = 100000

local function num(v) return format("%.0f", v) end

local function encode(r)
  return concat({ num(r.ts), num(r.tn), r.s or "", r.r or "", r.u, r.l,
    r.p and num(r.p) or "", r.o and num(r.o) or "", r.g and concat(r.g, "\30") or "" }, "\31")
end

local RECORD_PATTERN = "^" .. ("([^\31]*)\31"):rep(8) .. "([^\31]*)$"

local function decode(eid, v)
  if type(v) ~= "string" then return nil end
  local ts, tn, s, r, u, l, p, o, g =
    v:match(RECORD_PATTERN)
  if not ts then return nil end
  local groups = false
  if g ~= "" then
    groups = {}
    for k in g:gmatch("[^\30]+") do groups[#groups + 1] = k end
  end
  return { e = eid, ts = tonumber(ts), tn = tonumber(tn), s = s ~= "" and s or nil,
    r = r ~= "" and r or nil, u = u, l = l, p = tonumber(p), o = tonumber(o), g = groups }
end

function M.new(opts, store_module)
  local dict = opts.shared
  if type(dict) ~= "table" or type(dict.safe_add) ~= "function" then
    error("evcp.store.new: option 'shared' must be an ngx.shared dict, got " .. type(dict), 3)
  end
  return setmetatable({ dict = dict, max = opts.max_evses or store_module.DEFAULT_MAX_EVSES,
    mod = store_module, last_s = false, last_ts = 0, last_tn = 0 }, Shared)
end

local function sleep_a_little()
  local ngx = rawget(_G, "ngx")
  if ngx and ngx.sleep then pcall(ngx.sleep, 0.001) end
end

local function lock(dict, key)
  for i = 1, SPINS do
    local ok, err = dict:safe_add(key, true, LOCK_TTL)
    if ok then return true end
    if err ~= "exists" then return nil, err end
    if i % 64 == 0 then sleep_a_little() end
  end
  return nil, "timeout waiting for the lock " .. key
end

-- adds d to a counter, creating it without evicting anything
local function bump(dict, key, d)
  local v, err = dict:incr(key, d)
  if v then return v end
  if err == "not found" then
    local ok, e2 = dict:safe_add(key, 0)
    if not ok and e2 ~= "exists" then return nil, e2 end
    return dict:incr(key, d)
  end
  return nil, err
end

local function full_error(msg)
  return nil, errors.new({ kind = "full", message = "evcp.store: " .. msg })
end

-- a record's part in the counters, added (d = 1) or taken away (d = -1)
local function count(dict, rec, d)
  local lid = rec.l
  local ok, err = bump(dict, "c\0" .. lid .. "\0" .. (rec.s or "-"), d)
  if not ok then return nil, err end
  local g = rec.g
  if g then
    local listed, av = rec.s and d or 0, rec.s == "available" and d or 0
    for i = 1, #g do
      local base = "g\0" .. lid .. "\0" .. g[i] .. "\0"
      if listed ~= 0 then
        ok, err = bump(dict, base .. "t", listed)
        if not ok then return nil, err end
      end
      if av ~= 0 then
        ok, err = bump(dict, base .. "a", av)
        if not ok then return nil, err end
      end
    end
  end
  return true
end

-- adds group keys to the location's list (under the location's lock)
local function note_groups(dict, lid, keys)
  local lk = "L\0" .. lid
  local ok, err = lock(dict, lk)
  if not ok then return nil, err end
  local cur = dict:get("G\0" .. lid)
  local have, list = {}, {}
  if type(cur) == "string" then
    for k in cur:gmatch("[^\30]+") do have[k] = true; list[#list + 1] = k end
  end
  local changed = false
  for _, k in ipairs(keys) do
    if not have[k] then have[k] = true; list[#list + 1] = k; changed = true end
  end
  if changed and #list <= 4096 then ok, err = dict:safe_set("G\0" .. lid, concat(list, "\30")) end
  dict:delete(lk)
  if not ok then return nil, err end
  return true
end

local function dict_error(err)
  if err == "no memory" then return full_error("the shared dict is full (no memory)") end
  return nil, errors.new({ kind = "busy", message = "evcp.store: " .. tostring(err) })
end

-- the checked update -> fields, or nil, err
local function check(self, u)
  local eid, lid, st, raw = u.evse_id, u.location_id, u.status, u.raw_status
  local msg = bad_id(eid, "evse_id") or bad_id(lid, "location_id")
  if msg then return invalid(msg) end
  local rank = 0
  if st ~= nil then
    rank = RANK[st]
    if not rank then return invalid("status must be a v3 API status (evcp.status.normalize) or nil") end
  end
  if raw ~= nil and (type(raw) ~= "string" or #raw > common.MAX_STATUS or raw:find("%c")) then
    return invalid("raw_status must be a string of at most " .. common.MAX_STATUS .. " bytes")
  end
  if st == nil and raw == nil then return invalid("an update needs a status or a raw_status") end
  local lu = u.last_updated
  local ts, tn
  if lu == self.last_s then
    ts, tn = self.last_ts, self.last_tn
  else
    ts, tn = parse_time(lu)
    if not ts then return invalid(tn) end
    self.last_s, self.last_ts, self.last_tn = lu, ts, tn
  end
  msg = bad_count(u.partition, "partition", common.MAX_PARTITION)
    or bad_count(u.offset, "offset", common.MAX_OFFSET)
  if msg then return invalid(msg) end
  return { e = eid, l = lid, s = st, r = raw, u = lu, ts = ts, tn = tn, p = u.partition,
    o = u.offset, g = false }, rank
end

-- the held section: rec (checked) replaces what is held if newer.
-- groups: nil (keep the held ones when the location is the same), false or
-- keys (set them)
local function put(self, new, rank, groups)
  local dict = self.dict
  local key = "e\0" .. new.e
  local lk = "l\0" .. new.e
  local ok, err = lock(dict, lk)
  if not ok then return dict_error(err) end
  local res, rerr = true, nil
  local old = decode(new.e, dict:get(key))
  local applied = false
  repeat
    if old then
      if newer(new.ts, new.tn, rank, old.ts, old.tn, old.s and RANK[old.s] or 0) then
        applied = true
        if old.l == new.l then new.g = old.g end
      else
        -- only the groups may change: a copy of what is held
        new = { e = old.e, l = old.l, s = old.s, r = old.r, u = old.u, ts = old.ts, tn = old.tn,
          p = old.p, o = old.o, g = old.g }
      end
    else
      local n = bump(dict, "n", 1)
      if not n then res, rerr = dict_error("no memory"); break end
      if n > self.max then
        bump(dict, "n", -1)
        res, rerr = full_error("the store holds max_evses (" .. self.max .. ") EVSEs already")
        break
      end
      applied = true
    end
    if groups ~= nil and new.l == groups.lid then new.g = groups.keys end
    if not applied and (groups == nil or new.l ~= groups.lid) then break end
    ok, err = dict:safe_set(key, encode(new))
    if not ok then
      if not old then bump(dict, "n", -1) end
      res, rerr = dict_error(err)
      break
    end
    if old then count(dict, old, -1) end
    ok, err = count(dict, new, 1)
    if not ok then res, rerr = dict_error(err) end
  until true
  dict:delete(lk)
  if res == nil then return nil, rerr end
  return applied
end

function Shared:apply(u)
  check_self(self, "apply")
  if type(u) ~= "table" then
    error("evcp.store:apply: argument #1 (update) must be a table, got " .. type(u), 2)
  end
  local new, rank = check(self, u)
  if not new then return nil, rank end
  return put(self, new, rank, nil)
end

local MAX_ERRORS = 100
local function note(errs, i, err)
  errs = errs or { count = 0 }
  errs.count = errs.count + 1
  if #errs < MAX_ERRORS then errs[#errs + 1] = { index = i, err = err } end
  return errs
end

function Shared:apply_many(list)
  check_self(self, "apply_many")
  if type(list) ~= "table" then
    error("evcp.store:apply_many: argument #1 (list) must be a table, got " .. type(list), 2)
  end
  local applied, errs = 0, nil
  for i = 1, #list do
    local u = list[i]
    if type(u) ~= "table" then
      errs = note(errs, i, select(2, invalid("update #" .. i .. " is not a table")))
    else
      local ok, err = self:apply(u)
      if ok then applied = applied + 1 elseif ok == nil then errs = note(errs, i, err) end
    end
  end
  return applied, errs
end

local normalize = function(s) return (require("evcp.status").normalize(s)) end

function Shared:apply_location(loc)
  check_self(self, "apply_location")
  if not common.is_location(loc) then
    error("evcp.store:apply_location: argument #1 (location) must be an evcp.Location or a plain table, got "
      .. type(loc), 2)
  end
  local lid, list = common.location_reader(loc, normalize)
  local msg = bad_id(lid, "the location's id")
  if msg then return invalid(msg) end
  local applied, errs = 0, nil
  local all = {}
  for i = 1, #list do
    local e = list[i]
    local new, rank = check(self, { location_id = lid, evse_id = e.evse_id, status = e.status,
      raw_status = e.raw_status, last_updated = e.last_updated })
    if not new then
      errs = note(errs, i, rank)
    else
      local keys = e.groups
      if #keys > common.MAX_GROUPS then
        errs = note(errs, i, select(2, invalid("EVSE " .. e.evse_id .. " is in more than "
          .. common.MAX_GROUPS .. " connector groups; its groups are not kept")))
        keys = false
      end
      if keys then for _, k in ipairs(keys) do all[#all + 1] = k end end
      local ok, err = put(self, new, rank, { lid = lid, keys = keys and #keys > 0 and keys or false })
      if ok == nil then errs = note(errs, i, err) elseif ok then applied = applied + 1 end
    end
  end
  if #all > 0 then
    local ok, err = note_groups(self.dict, lid, all)
    if not ok then errs = note(errs, 0, select(2, dict_error(err))) end
  end
  return applied, errs
end

local function id_arg(fname, v)
  if type(v) ~= "string" then
    error("evcp.store:" .. fname .. ": argument #1 (id) must be a string, got " .. type(v), 3)
  end
end

function Shared:counts(lid)
  check_self(self, "counts")
  id_arg("counts", lid)
  local dict = self.dict
  local by, total = {}, 0
  for _, s in ipairs(common.STATUSES) do
    local n = dict:get("c\0" .. lid .. "\0" .. s)
    if type(n) == "number" and n > 0 then
      by[s] = n
      total = total + n
    end
  end
  local un = dict:get("c\0" .. lid .. "\0-")
  return { available = by.available or 0, total = total,
    unlisted = type(un) == "number" and un or 0, by_status = by }
end

function Shared:group_counts(lid)
  check_self(self, "group_counts")
  id_arg("group_counts", lid)
  local dict = self.dict
  local out = {}
  local keys = dict:get("G\0" .. lid)
  if type(keys) ~= "string" then return out end
  for key in keys:gmatch("[^\30]+") do
    local base = "g\0" .. lid .. "\0" .. key .. "\0"
    local t = dict:get(base .. "t") or 0
    local a = dict:get(base .. "a") or 0
    local standard, power = common.group_parts(key)
    out[key] = { available = a, total = t, standard = standard, maxPower = power }
  end
  return out
end

local function public(rec)
  local g = {}
  if rec.g then for i, k in ipairs(rec.g) do g[i] = k end end
  return { evse_id = rec.e, location_id = rec.l, status = rec.s, raw_status = rec.r,
    last_updated = rec.u, partition = rec.p, offset = rec.o, groups = g }
end

function Shared:evse(eid)
  check_self(self, "evse")
  id_arg("evse", eid)
  local rec = decode(eid, self.dict:get("e\0" .. eid))
  return rec and public(rec) or nil
end

function Shared:size()
  check_self(self, "size")
  local n = self.dict:get("n")
  return type(n) == "number" and n or 0
end

-- every record (the keys as get_keys gave them at one moment)
function Shared:_each_record(fn)
  local dict = self.dict
  local keys = dict:get_keys(0)
  for _, k in ipairs(keys) do
    if k:sub(1, 2) == "e\0" then
      local eid = k:sub(3)
      local rec = decode(eid, dict:get(k))
      if rec then fn(rec.e, rec.l, rec.s, rec.r, rec.u, rec.p, rec.o, rec.g) end
    end
  end
end

function Shared:changed_since(t, opts)
  check_self(self, "changed_since")
  local ts, tn, limit, lid, after = self.mod._changed_args(self, "changed_since", t, opts)
  local hits = {}
  self:_each_record(function(e, l, s, r, u, p, o, g)
    local rts, rtn = parse_time(u)
    if rts and (rts > ts or (rts == ts and (rtn > tn or (rtn == tn and after and e > after))))
      and (lid == nil or l == lid) then
      hits[#hits + 1] = { e = e, l = l, s = s, r = r, u = u, p = p, o = o, g = g, ts = rts, tn = rtn }
    end
  end)
  sort(hits, self.mod._later_first)
  local out = {}
  for i = 1, (#hits < limit and #hits or limit) do out[i] = public(hits[i]) end
  return out, #hits > limit
end

function Shared:offsets()
  check_self(self, "offsets")
  local out = {}
  local v = self.dict:get("o")
  if type(v) == "string" then
    for p, o in v:gmatch("(%d+)=(%d+)") do out[tonumber(p)] = tonumber(o) end
  end
  return out
end

function Shared:set_offsets(t)
  check_self(self, "set_offsets")
  local held = self:offsets()
  self.mod._check_offsets(":set_offsets", t, held)
  local ok, err = lock(self.dict, "L\0offsets")
  if not ok then error("evcp.store:set_offsets: " .. tostring(err), 2) end
  held = self:offsets()
  for p, o in pairs(t) do held[p] = o end
  local parts = {}
  for p, o in pairs(held) do parts[#parts + 1] = num(p) .. "=" .. num(o) end
  sort(parts)
  ok, err = self.dict:safe_set("o", concat(parts, ","))
  self.dict:delete("L\0offsets")
  if not ok then error("evcp.store:set_offsets: the shared dict refused the offsets: " .. tostring(err), 2) end
  return self
end

function Shared:_put(u, groups)
  local new, rank = check(self, u)
  if not new then return nil, rank end
  local ok, err = put(self, new, rank, groups and { lid = u.location_id, keys = groups } or nil)
  if ok == nil then return nil, err end
  if groups then
    ok, err = note_groups(self.dict, u.location_id, groups)
    if not ok then return dict_error(err) end
  end
  return true
end

function Shared:snapshot(path)
  check_self(self, "snapshot")
  return require("evcp.store.snapshot").write(self, path)
end

function Shared:__tostring()
  return "evcp.Store (shared): " .. tostring(self:size()) .. " EVSEs"
end

return M
