--- evcp.error: the error value of evcp's expected failures.
--
-- Every call that can fail for reasons outside the caller's control returns
-- `nil, err`, where err is an evcp.Error: a table with
--   kind            "http" | "timeout" | "network" | "decode"
--   message         what went wrong, one line
--   status          HTTP status (kind "http", sometimes "decode")
--   code, title, cause, action      HERE's ErrorResponse fields, when sent
--   error, error_description        HERE's GenericErrorResponse fields, when sent
--   correlation_id  HERE's X-Correlation-ID (or the body's correlationId)
--   request_id      the X-Request-ID of the request
--   retryable       true when the same request may succeed later
--   url             "GET <url>" without credentials
-- tostring(err) gives one readable line. Credentials never appear in it.
local M = {}

local Error = { __name = "evcp.Error" }
Error.__index = Error

local function line(e)
  local parts = { "evcp: " .. (e.kind or "error") }
  if e.status then parts[#parts + 1] = tostring(e.status) end
  if e.code then parts[#parts + 1] = e.code end
  local text = {}
  local seen = {}
  for _, k in ipairs({ "title", "error", "message", "cause", "error_description", "action" }) do
    local v = e[k]
    if type(v) == "string" and v ~= "" and not seen[v] then
      seen[v] = true
      text[#text + 1] = v
    end
  end
  local s = table.concat(parts, " ")
  if #text > 0 then s = s .. ": " .. table.concat(text, "; ") end
  local tail = {}
  if e.url then tail[#tail + 1] = e.url end
  if e.correlation_id then tail[#tail + 1] = "correlation " .. e.correlation_id end
  if e.request_id then tail[#tail + 1] = "request " .. e.request_id end
  if #tail > 0 then s = s .. " [" .. table.concat(tail, ", ") .. "]" end
  return (s:gsub("[\r\n]+", " "))
end

Error.__tostring = line

--- Makes an evcp.Error from a table of the fields above (the table is reused).
function M.new(fields)
  return setmetatable(fields, Error)
end

--- True when v is an evcp.Error.
function M.is(v)
  return getmetatable(v) == Error
end

--- Whether an HTTP status is worth retrying (rate limits and server faults).
function M.retryable_status(status)
  return status == 408 or status == 429 or status == 500 or status == 502
      or status == 503 or status == 504
end

--- The "GET <url>" errors show: no credentials (they are added below this
-- layer), long URLs shortened.
function M.shown_url(base, path, query)
  local url = (base or "") .. path .. ((query and query ~= "") and ("?" .. query) or "")
  if #url > 240 then url = url:sub(1, 200) .. "...(" .. #url .. " bytes)" end
  return "GET " .. url
end

M.Error = Error
return M
