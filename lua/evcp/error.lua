--- evcp.error: the error value of evcp's expected failures (tier 2).
--
-- Every call that can fail for reasons outside the caller's control returns
-- `nil, err`, where err is an evcp.Error: a table with
--   kind            "http" | "timeout" | "network" | "tls" | "too_large" | "decode" |
--                   "auth" (no credential to send: a token provider failed, no
--                   OAuth token) | "clock_skew" (HERE's 401204 twice) |
--                   "needs_blob" (a stream message whose content is behind a
--                   dataHandle: fields handle, data_size; evcp.stream_decode) |
--                   "handler" (a callback of consumer:updates raised: field
--                   raised holds what it raised)
--   message         what went wrong, one line
--   status          HTTP status (kind "http", sometimes others)
--   code, title, cause, action      HERE's ErrorResponse fields, when sent
--   error, error_description        HERE's GenericErrorResponse fields, when sent
--   body            the decoded error body, when it was JSON or XML
--   correlation_id  HERE's X-Correlation-ID (or the body's correlationId)
--   request_id      the X-Request-ID of the request
--   retry_after     seconds HERE asked to wait (Retry-After, in seconds or
--                   as an HTTP date)
--   retryable       true when the same request may succeed later
--   attempts        how many times the request was sent
--   gave_up         why evcp stopped retrying early, when it did (the
--                   deadline left no room for the wait)
--   url             "GET <url>": no credentials, and every query parameter
--                   that is not one of HERE's data parameters REDACTED
-- tostring(err) gives one readable line. Credentials never appear in it:
-- the client scrubs every string of an error before handing it out.
local type, tostring, ipairs, pairs, setmetatable, getmetatable, tonumber =
  type, tostring, ipairs, pairs, setmetatable, getmetatable, tonumber
local concat = table.concat
local httpdate = require("evcp.httpdate")
local shown = require("evcp.url").shown

local M = {}

local Error = { __name = "evcp.Error" }
Error.__index = Error

local TEXT_FIELDS = { "title", "error", "message", "cause", "error_description", "action" }

local function line(e)
  local parts = { "evcp: " .. tostring(e.kind or "error") }
  if e.status then parts[#parts + 1] = tostring(e.status) end
  if e.code then parts[#parts + 1] = tostring(e.code) end
  local text, seen = {}, {}
  for _, k in ipairs(TEXT_FIELDS) do
    local v = e[k]
    if type(v) == "string" and v ~= "" and not seen[v] then
      seen[v] = true
      text[#text + 1] = v
    end
  end
  local s = concat(parts, " ")
  if #text > 0 then s = s .. ": " .. concat(text, "; ") end
  local tail = {}
  if e.url then tail[#tail + 1] = e.url end
  if e.attempts and e.attempts > 1 then tail[#tail + 1] = e.attempts .. " attempts" end
  if e.gave_up then tail[#tail + 1] = "gave up: " .. tostring(e.gave_up) end
  if e.correlation_id then tail[#tail + 1] = "correlation " .. e.correlation_id end
  if e.request_id then tail[#tail + 1] = "request " .. e.request_id end
  if #tail > 0 then s = s .. " [" .. concat(tail, ", ") .. "]" end
  return (s:gsub("[%c]+", " "))
end

Error.__tostring = line

--- True when v is an evcp.Error.
function M.is(v)
  return getmetatable(v) == Error
end

local RETRYABLE_STATUS = { [408] = true, [429] = true, [500] = true, [502] = true,
  [503] = true, [504] = true }
-- (a transport failure only while no byte of the answer came: a failure
-- with a status, after the status line, is final)
local RETRYABLE_KIND = { timeout = true, network = true }

--- Makes an evcp.Error from a table of the fields above (the table is
-- reused). retryable, when not given, follows kind and status as evcp's own
-- errors do (timeouts, network failures, 408, 429, 500, 502, 503, 504).
function M.new(fields)
  if type(fields) ~= "table" or getmetatable(fields) ~= nil then
    error("evcp.error.new: argument #1 (fields) must be a plain table, got " .. type(fields), 2)
  end
  if fields.retryable == nil then
    fields.retryable = RETRYABLE_KIND[fields.kind] == true
      or (fields.kind == "http" and RETRYABLE_STATUS[fields.status] == true)
  end
  return setmetatable(fields, Error)
end

--- Whether an HTTP status is worth retrying (rate limits and server faults).
function M.retryable_status(status)
  return RETRYABLE_STATUS[status] == true
end

--- Whether a transport failure kind is worth retrying.
function M.retryable_kind(kind)
  return RETRYABLE_KIND[kind] == true
end

--- Whether a transport result (see the transport seam) is worth retrying:
-- a timeout or network failure before any answer (no status), or a
-- retryable status.
function M.retryable_result(res)
  if res.kind then return RETRYABLE_KIND[res.kind] == true and res.status == nil end
  return RETRYABLE_STATUS[res.status] == true
end

--- retry_after(v [, now]) -> seconds | nil: what a Retry-After header value
-- asks to wait, from delta-seconds or an HTTP date (seconds from now, the
-- wall clock in seconds since the epoch, default os.time(); a date in the
-- past gives 0); nil when v is absent or neither form.
function M.retry_after(v, now)
  if type(v) ~= "string" or #v > 64 then return nil end
  local digits = v:match("^%s*(%d+)%s*$")
  if digits then return tonumber(digits) end
  local at = httpdate.parse(v, now)
  if at == nil then return nil end
  now = now or os.time()
  return at > now and at - now or 0
end

local function header(res, name)
  local h = res.headers
  return type(h) == "table" and h[name] or nil
end

--- The "GET <url>" an error shows for the request context ctx: ctx.url
-- when it is given as shown, else shown_url(ctx.method, ctx.target) (the
-- client's contexts keep the raw URL, without credentials, and leave the
-- showing to the rare failure).
function M.ctx_url(ctx)
  if ctx == nil then return nil end
  local t = ctx.target
  if t ~= nil then return M.shown_url(ctx.method or "GET", t) end
  return ctx.url
end
local ctx_url = M.ctx_url

--- The error of a transport failure ({kind, message}) for the request ctx.
-- ctx: {url = "GET ...", request_id = ...} or {method, target, request_id}
function M.transport(res, ctx)
  if M.is(res.error) then return res.error end -- a failure before sending (no credential)
  return setmetatable({ kind = res.kind, message = res.message, status = res.status,
    retryable = RETRYABLE_KIND[res.kind] == true and res.status == nil, url = ctx_url(ctx),
    request_id = ctx.request_id,
    attempts = res.attempts, gave_up = res.gave_up }, Error)
end

--- A decode error: the answer arrived but is not what the API defines.
function M.decode(message, res, ctx)
  return setmetatable({ kind = "decode", message = message, status = res and res.status,
    retryable = false, url = ctx_url(ctx),
    correlation_id = res and header(res, "x-correlation-id"),
    request_id = (res and header(res, "x-request-id")) or (ctx and ctx.request_id),
    attempts = res and res.attempts }, Error)
end

--- The error of a non-2xx answer. doc: the decoded body (a table) or nil;
-- fields already read from it by the API module may be passed in `found`.
function M.http(res, ctx, doc, found)
  local status = res.status
  local e = { kind = "http", status = status, retryable = RETRYABLE_STATUS[status] == true,
    correlation_id = header(res, "x-correlation-id"),
    request_id = header(res, "x-request-id") or ctx.request_id,
    url = ctx_url(ctx), retry_after = res.retry_after or M.retry_after(header(res, "retry-after")),
    attempts = res.attempts, gave_up = res.gave_up }
  if found then
    for k, v in pairs(found) do e[k] = v end
  end
  if type(doc) == "table" then e.body = doc end
  if not (e.title or e.error or e.cause) then e.message = "HTTP status " .. tostring(status) end
  return setmetatable(e, Error)
end

--- The "GET <url>" errors show: no credentials (they are added below this
-- layer), query parameters other than HERE's data parameters REDACTED
-- (evcp.url.shown), long URLs shortened.
function M.shown_url(method, url)
  url = shown(url)
  if #url > 240 then url = url:sub(1, 200) .. "...(" .. #url .. " bytes)" end
  return method .. " " .. url
end

M.Error = Error
return M
