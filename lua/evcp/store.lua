--- evcp.store: the live status picture, one record per EVSE.
--
--   local store = require("evcp.store").new{ max_evses = 200000 }
--   store:apply(update)              -- a stream update (the record of docs/API.md)
--   store:apply_location(loc)        -- a v3 Location looked up with fields = "evses"
--   store:counts(location_id)        --> {available = 3, total = 8, unlisted = 0, by_status = {...}}
--   store:group_counts(location_id)  --> {["IEC_62196_T2:22000"] = {available = 1, total = 2, ...}}
--   store:changed_since("2026-12-01T10:00:00Z")  --> records, more
--   store:set_offsets{[7] = 38562}; assert(store:snapshot("/var/lib/app/status.snap"))
--   local again = assert(require("evcp.store").restore("/var/lib/app/status.snap"))
--
-- The picture lives in Lua tables (this file), or with `shared =` an
-- OpenResty lua_shared_dict that every worker of nginx sees
-- (lua/evcp/store/shared.lua). Which update wins, the group keys, the
-- snapshot format and the limits: docs/API.md, "evcp.store".
local type, tostring, pairs, setmetatable, getmetatable, error, select =
  type, tostring, pairs, setmetatable, getmetatable, error, select
local sort = table.sort
local common = require("evcp.store.common")
local errors = require("evcp.error")

local RANK, parse_time, invalid, bad_id, bad_count =
  common.RANK, common.parse_time, common.invalid, common.bad_id, common.bad_count
local MAX_ID, MAX_STATUS, MAX_PARTITION, MAX_OFFSET =
  common.MAX_ID, common.MAX_STATUS, common.MAX_PARTITION, common.MAX_OFFSET

local M = {}

--- Defaults and limits (see docs/API.md).
M.DEFAULT_MAX_EVSES = 1000000
M.MAX_EVSES = 50000000
M.MAX_ID = MAX_ID
M.DEFAULT_LIMIT = 1000
M.SNAPSHOT_VERSION = 1
M.DEFAULT_MAX_SNAPSHOT_BYTES = 1024 * 1024 * 1024

local Store = { __name = "evcp.Store" }
Store.__index = Store

-- raises a misuse error at the caller of the public function (level: 3
-- from the public function itself, 4 from a helper it calls)
local function raise(fname, msg, level)
  error("evcp.store" .. fname .. ": " .. msg, level or 3)
end

local function check_self(self, fname)
  if getmetatable(self) ~= Store then
    raise(":" .. fname, "call it as a method (store:" .. fname .. "(...))", 4)
  end
end

local NEW_OPTS = { max_evses = true, shared = true }

local function options(fname, opts)
  if opts == nil then return {} end
  if type(opts) ~= "table" then raise(fname, "options must be a table, got " .. type(opts), 4) end
  for k in pairs(opts) do
    if not NEW_OPTS[k] then
      raise(fname, "option '" .. tostring(k) .. "' is not known (known options: max_evses, shared)", 4)
    end
  end
  local max = opts.max_evses
  if max ~= nil and (type(max) ~= "number" or max ~= max or max % 1 ~= 0 or max < 1
    or max > M.MAX_EVSES) then
    raise(fname, "option 'max_evses' must be an integer in 1.." .. M.MAX_EVSES .. ", got " .. tostring(max), 4)
  end
  return opts
end

--- evcp.store.new(opts) -> Store. opts: max_evses (default 1000000),
-- shared (an ngx.shared dict: the picture lives there, see store/shared.lua).
function M.new(opts)
  opts = options(".new", opts)
  if opts.shared ~= nil then
    return require("evcp.store.shared").new(opts, M)
  end
  return setmetatable({
    -- evse id -> record {evse id, location id, status, raw status,
    -- last_updated, seconds, nanoseconds, partition, offset, groups | false}
    -- (an array: a third of the memory of named fields)
    evses = {},
    locs = {},    -- location id -> {n, total, unlisted, by = {status -> n}, groups = {key -> G}}
    n = 0,
    max = opts.max_evses or M.DEFAULT_MAX_EVSES,
    offs = {},
    -- the last last_updated parsed, and what it gave
    last_s = false, last_ts = 0, last_tn = 0,
  }, Store)
end

local function loc_of(self, lid)
  local L = self.locs[lid]
  if not L then
    L = { n = 0, total = 0, unlisted = 0, by = {}, groups = {} }
    self.locs[lid] = L
  end
  return L
end

-- adds (d = 1) or takes away (d = -1) a record's part in its location's counts
local function count(self, rec, d)
  local L = loc_of(self, rec[2])
  L.n = L.n + d
  local s = rec[3]
  if s then
    L.total = L.total + d
    local by = L.by
    by[s] = (by[s] or 0) + d
  else
    L.unlisted = L.unlisted + d
  end
  local g = rec[10]
  if g then
    local av = s == "available" and d or 0
    local listed = s and d or 0
    local groups = L.groups
    for i = 1, #g do
      local G = groups[g[i]]
      if not G then
        G = { n = 0, available = 0, total = 0 }
        groups[g[i]] = G
      end
      G.n = G.n + d
      G.total = G.total + listed
      G.available = G.available + av
      if G.n == 0 then groups[g[i]] = nil end
    end
  end
  if L.n == 0 then self.locs[rec[2]] = nil end
end

--- store:apply(update) -> true (applied), false (older than what the store
-- holds, or the same status at the same time), or nil, err (kind
-- "invalid": a field is bad; "full": max_evses EVSEs are held already).
function Store:apply(u)
  if type(u) ~= "table" then
    check_self(self, "apply")
    raise(":apply", "argument #1 (update) must be a table, got " .. type(u))
  end
  local evses = type(self) == "table" and self.evses
  if not evses then check_self(self, "apply") end
  local eid, lid, st, raw = u.evse_id, u.location_id, u.status, u.raw_status
  local rec = evses[eid]
  local msg
  if rec == nil then
    msg = bad_id(eid, "evse_id")
    if msg then return invalid(msg) end
  end
  if rec == nil or lid ~= rec[2] then
    msg = bad_id(lid, "location_id")
    if msg then return invalid(msg) end
  end
  local rank = 0
  if st ~= nil then
    rank = RANK[st]
    if not rank then
      return invalid("status must be a v3 API status (evcp.status.normalize) or nil, got "
        .. (type(st) == "string" and ("'" .. st:sub(1, 40) .. "'") or type(st)))
    end
  end
  if raw ~= nil and (type(raw) ~= "string" or #raw > MAX_STATUS) then
    return invalid("raw_status must be a string of at most " .. MAX_STATUS .. " bytes")
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
  local p, o = u.partition, u.offset
  if (p ~= nil and (type(p) ~= "number" or p % 1 ~= 0 or p < 0 or p > MAX_PARTITION))
    or (o ~= nil and (type(o) ~= "number" or o % 1 ~= 0 or o < 0 or o > MAX_OFFSET)) then
    -- (NaN fails `% 1 ~= 0`: NaN ~= 0)
    return invalid(bad_count(p, "partition", MAX_PARTITION) or bad_count(o, "offset", MAX_OFFSET))
  end
  if rec then
    local old = rec[3]
    -- newer(): inlined, this is the hot path
    local rts = rec[6]
    if ts ~= rts then
      if ts < rts then return false end
    else
      local rtn = rec[7]
      if tn ~= rtn then
        if tn < rtn then return false end
      elseif rank <= (old and RANK[old] or 0) then
        return false
      end
    end
    if lid == rec[2] and st and old then
      -- the common case, same location, listed before and after: move one
      -- count between statuses (and groups' available counts) in place
      if old ~= st then
        local L = self.locs[lid]
        local by = L.by
        by[old] = by[old] - 1
        by[st] = (by[st] or 0) + 1
        local g = rec[10]
        if g and (old == "available" or st == "available") then
          local d = st == "available" and 1 or -1
          local groups = L.groups
          for i = 1, #g do
            local G = groups[g[i]]
            G.available = G.available + d
          end
        end
      end
      rec[3], rec[4], rec[5], rec[6], rec[7], rec[8], rec[9] = st, raw, lu, ts, tn, p, o
      return true
    end
    count(self, rec, -1)
    if lid ~= rec[2] then rec[10] = false end -- its groups were those of the other location
    rec[2], rec[3], rec[4], rec[5], rec[6], rec[7], rec[8], rec[9] = lid, st, raw, lu, ts, tn, p, o
    count(self, rec, 1)
    return true
  end
  if self.n >= self.max then
    return nil, errors.new({ kind = "full", message = "evcp.store: the store holds max_evses ("
      .. self.max .. ") EVSEs already" })
  end
  rec = { eid, lid, st, raw, lu, ts, tn, p, o, false }
  evses[eid] = rec
  self.n = self.n + 1
  count(self, rec, 1)
  return true
end

local MAX_ERRORS = 100

-- keeps the first MAX_ERRORS errors of a batch
local function note(errs, i, err)
  errs = errs or { count = 0 }
  errs.count = errs.count + 1
  if #errs < MAX_ERRORS then errs[#errs + 1] = { index = i, err = err } end
  return errs
end

--- store:apply_many(list) -> applied (how many updates changed the
-- picture), errs (nil, or an array of the first 100 {index, err} with
-- errs.count the number of refused updates)
function Store:apply_many(list)
  check_self(self, "apply_many")
  if type(list) ~= "table" then raise(":apply_many", "argument #1 (list) must be a table, got " .. type(list)) end
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

-- sets a record's connector groups (keys, or false), moving its counts
local function set_groups(self, rec, keys)
  count(self, rec, -1)
  rec[10] = keys
  count(self, rec, 1)
end

local function same_keys(a, b)
  if not a or not b then return a == b end
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

local normalize = function(s) return (require("evcp.status").normalize(s)) end

--- store:apply_location(loc) -> applied (how many EVSEs changed), errs
-- (as apply_many's; an EVSE with a bad id, status or `modified` is skipped)
-- | nil, err when the location has no usable id. loc: an evcp Location
-- (client:location(id, {fields = "evses"}), an item of client:locations) or
-- a plain table of the same shape (a decoded ChargingLocation).
function Store:apply_location(loc)
  check_self(self, "apply_location")
  if not common.is_location(loc) then
    raise(":apply_location", "argument #1 (location) must be an evcp.Location or a plain table, got "
      .. type(loc))
  end
  local lid, list = common.location_reader(loc, normalize)
  local msg = bad_id(lid, "the location's id")
  if msg then return invalid(msg) end
  local applied, errs = 0, nil
  local u = { location_id = lid }
  for i = 1, #list do
    local e = list[i]
    u.evse_id, u.status, u.raw_status, u.last_updated = e.evse_id, e.status, e.raw_status, e.last_updated
    local ok, err = self:apply(u)
    if ok == nil then
      errs = note(errs, i, err)
    else
      if ok then applied = applied + 1 end
      local rec = self.evses[e.evse_id]
      local keys = e.groups
      if #keys > common.MAX_GROUPS then
        errs = note(errs, i, select(2, invalid("EVSE " .. e.evse_id .. " is in more than "
          .. common.MAX_GROUPS .. " connector groups; its groups are not kept")))
        keys = false
      end
      if rec[2] == lid and not same_keys(rec[10], keys) then set_groups(self, rec, keys) end
    end
  end
  return applied, errs
end

local function id_arg(fname, v)
  if type(v) ~= "string" then raise(":" .. fname, "argument #1 (id) must be a string, got " .. type(v), 4) end
end

--- store:counts(location_id) -> {available, total, unlisted, by_status =
-- {status -> n}}: total counts the EVSEs with a v3 status, unlisted those
-- whose last status had none (PLANNED, REMOVED). A location the store does
-- not know gives zeros.
function Store:counts(lid)
  check_self(self, "counts")
  id_arg("counts", lid)
  local L = self.locs[lid]
  local by = {}
  if not L then return { available = 0, total = 0, unlisted = 0, by_status = by } end
  for s, n in pairs(L.by) do if n > 0 then by[s] = n end end
  return { available = by.available or 0, total = L.total, unlisted = L.unlisted, by_status = by }
end

--- store:group_counts(location_id) -> {[group key] = {available, total,
-- standard, maxPower}}
function Store:group_counts(lid)
  check_self(self, "group_counts")
  id_arg("group_counts", lid)
  local out = {}
  local L = self.locs[lid]
  if not L then return out end
  for key, G in pairs(L.groups) do
    local standard, power = common.group_parts(key)
    out[key] = { available = G.available, total = G.total, standard = standard, maxPower = power }
  end
  return out
end

local function copy_array(a)
  if not a then return nil end
  local out = {}
  for i = 1, #a do out[i] = a[i] end
  return out
end

local function public(rec)
  return { evse_id = rec[1], location_id = rec[2], status = rec[3], raw_status = rec[4],
    last_updated = rec[5], partition = rec[8], offset = rec[9], groups = copy_array(rec[10]) or {} }
end

--- store:evse(evse_id) -> {evse_id, location_id, status, raw_status,
-- last_updated, partition, offset, groups} (a copy) | nil
function Store:evse(eid)
  check_self(self, "evse")
  id_arg("evse", eid)
  local rec = self.evses[eid]
  return rec and public(rec) or nil
end

--- store:size() -> how many EVSEs the store holds
function Store:size()
  check_self(self, "size")
  return self.n
end

local CHANGED_OPTS = { limit = true, location_id = true, after_id = true }

-- checks changed_since's arguments; returns seconds, ns, limit, location, after_id
local function changed_args(self, fname, t, opts)
  local ts, tn
  if type(t) == "number" then
    if t ~= t or t == math.huge or t == -math.huge then
      raise(":" .. fname, "argument #1 (time) must be finite", 4)
    end
    ts, tn = common.split_epoch(t)
  elseif type(t) == "string" then
    local msg
    ts, msg = parse_time(t)
    if not ts then raise(":" .. fname, "argument #1 (time): " .. msg, 4) end
    tn = msg
  else
    raise(":" .. fname, "argument #1 (time) must be an RFC 3339 string or epoch seconds, got " .. type(t), 4)
  end
  opts = opts or {}
  if type(opts) ~= "table" then raise(":" .. fname, "options must be a table, got " .. type(opts), 4) end
  for k in pairs(opts) do
    if not CHANGED_OPTS[k] then
      raise(":" .. fname, "option '" .. tostring(k)
        .. "' is not known (known options: after_id, limit, location_id)", 4)
    end
  end
  local limit = opts.limit or M.DEFAULT_LIMIT
  if type(limit) ~= "number" or limit ~= limit or limit % 1 ~= 0 or limit < 1 or limit > self.max then
    raise(":" .. fname, "option 'limit' must be an integer in 1..max_evses, got " .. tostring(limit), 4)
  end
  if opts.location_id ~= nil and type(opts.location_id) ~= "string" then
    raise(":" .. fname, "option 'location_id' must be a string", 4)
  end
  if opts.after_id ~= nil and type(opts.after_id) ~= "string" then
    raise(":" .. fname, "option 'after_id' must be a string", 4)
  end
  return ts, tn, limit, opts.location_id, opts.after_id
end
M._changed_args = changed_args

local function later_first(a, b)
  if a.ts ~= b.ts then return a.ts < b.ts end
  if a.tn ~= b.tn then return a.tn < b.tn end
  return a.e < b.e
end
M._later_first = later_first

local function later_first_rec(a, b)
  if a[6] ~= b[6] then return a[6] < b[6] end
  if a[7] ~= b[7] then return a[7] < b[7] end
  return a[1] < b[1]
end

--- store:changed_since(T [, opts]) -> records, more. The EVSEs whose held
-- last_updated is after T (an RFC 3339 string, or epoch seconds), oldest
-- first (ties by evse_id), at most opts.limit (default 1000) of them; more
-- is true when there were more. opts.location_id keeps one location's;
-- opts.after_id (with T the last record's last_updated) pages on: records
-- at exactly T with a greater evse_id come first.
function Store:changed_since(t, opts)
  check_self(self, "changed_since")
  local ts, tn, limit, lid, after = changed_args(self, "changed_since", t, opts)
  local hits = {}
  for _, rec in pairs(self.evses) do
    local rts, rtn = rec[6], rec[7]
    if (rts > ts or (rts == ts and (rtn > tn or (rtn == tn and after and rec[1] > after))))
      and (lid == nil or rec[2] == lid) then
      hits[#hits + 1] = rec
    end
  end
  sort(hits, later_first_rec)
  local out = {}
  for i = 1, (#hits < limit and #hits or limit) do out[i] = public(hits[i]) end
  return out, #hits > limit
end

local function tointeger(v)
  if math.tointeger then return math.tointeger(v) or v end
  return v
end

--- store:set_offsets({[partition] = offset, ...}) -> the store. Sets the
-- offsets given (the last offset read per partition, as the stream commits
-- them); other partitions keep theirs.
function Store:set_offsets(t)
  check_self(self, "set_offsets")
  M._check_offsets(":set_offsets", t, self.offs)
  for p, o in pairs(t) do self.offs[tointeger(p)] = tointeger(o) end
  return self
end

function M._check_offsets(fname, t, held)
  if type(t) ~= "table" then raise(fname, "argument #1 (offsets) must be a table, got " .. type(t), 4) end
  local n = 0
  for _ in pairs(held) do n = n + 1 end
  for p, o in pairs(t) do
    local msg = (p == nil and "bad partition") or bad_count(p, "partition " .. tostring(p), MAX_PARTITION)
      or (o == nil and "offset missing") or bad_count(o, "the offset of partition " .. tostring(p), MAX_OFFSET)
    if msg then raise(fname, msg, 4) end
    if held[p] == nil then n = n + 1 end
    if n > common.MAX_PARTITIONS then raise(fname, "at most " .. common.MAX_PARTITIONS .. " partitions", 4) end
  end
end

--- store:offsets() -> {[partition] = offset} (a copy)
function Store:offsets()
  check_self(self, "offsets")
  local out = {}
  for p, o in pairs(self.offs) do out[p] = o end
  return out
end

-- every record as the snapshot's plain table
function Store:_each_record(fn)
  for _, rec in pairs(self.evses) do
    fn(rec[1], rec[2], rec[3], rec[4], rec[5], rec[8], rec[9], rec[10])
  end
end

-- restores one record as written (the record wins over nothing held)
function Store:_put(u, groups)
  local ok, err = self:apply(u)
  if ok == nil then return nil, err end
  if groups then
    local rec = self.evses[u.evse_id]
    if rec[2] == u.location_id then set_groups(self, rec, groups) end
  end
  return true
end

--- store:snapshot(path) -> true | nil, err: writes the picture and the
-- offsets to path atomically (written to a temporary file next to it,
-- flushed and closed, then renamed over it). Pure Lua cannot fsync: a
-- power cut soon after may leave the old file or the new one, never a mix.
function Store:snapshot(path)
  check_self(self, "snapshot")
  return require("evcp.store.snapshot").write(self, path)
end

--- evcp.store.restore(path [, opts]) -> Store | nil, err. opts: those of
-- new, and max_bytes (largest file read, default 1 GiB). A file that is
-- missing, truncated, of another version or not a snapshot gives nil, err;
-- nothing in it is ever run as code.
function M.restore(path, opts)
  if type(path) ~= "string" then raise(".restore", "argument #1 (path) must be a string, got " .. type(path)) end
  local max_bytes = M.DEFAULT_MAX_SNAPSHOT_BYTES
  local o = {}
  if opts ~= nil then
    if type(opts) ~= "table" then raise(".restore", "options must be a table, got " .. type(opts)) end
    for k, v in pairs(opts) do if k ~= "max_bytes" then o[k] = v end end
    if opts.max_bytes ~= nil then
      max_bytes = opts.max_bytes
      if type(max_bytes) ~= "number" or max_bytes ~= max_bytes or max_bytes < 1 then
        raise(".restore", "option 'max_bytes' must be a number >= 1")
      end
    end
  end
  options(".restore", o)
  local store = M.new(o)
  return require("evcp.store.snapshot").read(store, path, max_bytes)
end

function Store:__tostring()
  return "evcp.Store: " .. tostring(self.n) .. " EVSEs"
end

M.Store = Store
return M
