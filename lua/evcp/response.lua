--- evcp.response: which HTTP exchange a successful result came from.
--
-- HERE's support asks for the X-Correlation-ID (and the caller's
-- X-Request-ID) of an answer that looks wrong. Errors carry them as fields
-- (evcp.error); a result cannot, since it is HERE's document or an evcp
-- object, so the client notes each result here, in a table with weak keys:
--
--   local loc = assert(client:location(id))
--   local r = evcp.response(loc)
--   -- r.request_id, r.correlation_id, r.status, r.attempts, r.url
--
-- evcp.response(v) gives a fresh table each time (nothing it returns is
-- shared with another result or with evcp). For a result made of several
-- requests (client:locations with more than 100 ids) it has `requests`, one
-- such table per request in the order sent, and each Location in the result
-- answers for its own request. A number (client.v2:count) carries nothing.
local setmetatable, type, pairs = setmetatable, type, pairs
local ctx_url = require("evcp.error").ctx_url
local core = require("evcp.core")
local slot_note, slot_noted = core.note, core.noted

local M = {}

-- result -> the record of its exchange (never handed out as it is). A
-- Location in Lua 5.4 keeps its record itself, in a slot of the userdata
-- (core.note): cheaper than an entry here, which the collector must clear.
local noted = setmetatable({}, { __mode = "k" })

local function header(rec, name)
  local h = rec.headers
  return type(h) == "table" and h[name] or nil
end

--- record(res, ctx) -> the record of one exchange: the transport's result
-- res and the client's request context ctx ({method, target, request_id}).
-- The URL is shown (evcp.error.ctx_url) only when asked for.
-- (The headers are read only then too: most results are never asked about.)
function M.record(res, ctx)
  return { status = res.status, attempts = res.attempts or 1, headers = res.headers, ctx = ctx }
end

--- note(v, rec) -> v: v (a table or a userdata) came from the exchange rec.
function M.note(v, rec)
  local t = type(v)
  if t == "table" or (t == "userdata" and not slot_note(v, rec)) then noted[v] = rec end
  return v
end

--- note_many(v, recs) -> v: v came from the exchanges recs (an array).
function M.note_many(v, recs)
  return M.note(v, { many = recs })
end

local function copy(rec)
  local r = { status = rec.status, attempts = rec.attempts,
    correlation_id = header(rec, "x-correlation-id"),
    request_id = header(rec, "x-request-id") or rec.ctx.request_id }
  r.url = ctx_url(rec.ctx)
  return r
end

--- evcp.response(v) -> {status, request_id, correlation_id, attempts, url
-- [, requests]} | nil: the exchange a result of a client call came from
-- (see the header); nil for anything else.
function M.of(v)
  local rec = noted[v]
  if rec == nil and type(v) == "userdata" then rec = slot_noted(v) end
  if rec == nil then return nil end
  local many = rec.many
  if many == nil then return copy(rec) end
  local r = { requests = {} }
  for i = 1, #many do r.requests[i] = copy(many[i]) end
  if #many == 1 then
    for k, x in pairs(r.requests[1]) do r[k] = x end
  end
  return r
end

return M
