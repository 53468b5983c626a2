-- spec/64's handlers in nginx: one evcp.store over ngx.shared.evcp_status in
-- every worker; each answer names the worker (its pid) that served it.
local cjson = require("cjson").new()
local gen = require("store_resty.gen")
local M = {}

local store
local function the_store()
  if not store then store = require("evcp.store").new({ shared = ngx.shared.evcp_status }) end
  return store
end

local function answer(t)
  t.pid = ngx.worker.pid()
  ngx.header["Content-Type"] = "application/json"
  ngx.say(cjson.encode(t))
end

-- /apply?e=&l=&s=&r=&t=: one update
function M.apply()
  local a = ngx.req.get_uri_args()
  local ok, err = the_store():apply({ evse_id = a.e, location_id = a.l,
    status = a.s ~= "" and a.s or nil, raw_status = a.r, last_updated = a.t })
  answer({ applied = ok, err = err and tostring(err) or nil })
end

-- /burst?n=&e=&seed=: the generated updates, in the seed's order
function M.burst()
  local a = ngx.req.get_uri_args()
  local list = gen.shuffled(gen.updates(tonumber(a.n), tonumber(a.e)), tonumber(a.seed))
  for _, u in ipairs(list) do u.sec = nil end
  local applied, errs = the_store():apply_many(list)
  answer({ applied = applied, errors = errs and errs.count or 0 })
end

-- /counts?l=: counts of a location
function M.counts()
  answer({ counts = the_store():counts(ngx.req.get_uri_args().l) })
end

-- /evse?e=
function M.evse()
  answer({ evse = the_store():evse(ngx.req.get_uri_args().e) or cjson.null })
end

-- /offsets?p=&o= sets one; answers them all
function M.offsets()
  local a = ngx.req.get_uri_args()
  if a.p then the_store():set_offsets({ [tonumber(a.p)] = tonumber(a.o) }) end
  local out = {}
  for p, o in pairs(the_store():offsets()) do out[tostring(p)] = o end
  answer({ offsets = out })
end

-- /snapshot?path=
function M.snapshot()
  local ok, err = the_store():snapshot(ngx.req.get_uri_args().path)
  answer({ ok = ok, err = err and tostring(err) or nil, size = the_store():size() })
end

return M
