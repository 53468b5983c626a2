--- evcp.auth: authentication as a layer that decorates each request just
-- before it is sent (the transport below knows nothing of credentials).
--
-- An authenticator is an object with
--   auth:apply(req)     adds the credential to a request record
--                       {method, url, headers, body} (called per attempt)
--   auth:scrub(s)       s with every form of the secret replaced by "***"
--   auth.kind           "api key" | "bearer token" | "token provider" |
--                       "oauth" (never the secret)
-- The secret lives only in the closures below (and, for OAuth, the access
-- key secret in an evcp.Secret): not in a field, not in tostring, not in
-- any URL or message evcp shows. A token that changes (M.changing) is
-- fetched by the client before a call, which hands it to auth:use(token).
local url = require("evcp.url")
local type, pairs, ipairs, setmetatable = type, pairs, ipairs, setmetatable

local M = {}

local Auth = { __name = "evcp.Auth", __metatable = "evcp.Auth" }
Auth.__index = Auth
function Auth.__tostring(a) return "evcp.Auth: " .. a.kind end
function Auth.__newindex() error("evcp.Auth is read-only", 2) end

-- Replaces every occurrence of needle in s (plain text, no patterns).
local function replace(s, needle, rep)
  if needle == "" or not s:find(needle, 1, true) then return s end
  local out, i = {}, 1
  while true do
    local a, b = s:find(needle, i, true)
    if not a then break end
    out[#out + 1] = s:sub(i, a - 1)
    out[#out + 1] = rep
    i = b + 1
  end
  out[#out + 1] = s:sub(i)
  return table.concat(out)
end

local function scrubber(forms)
  return function(_, s)
    if type(s) ~= "string" then return s end
    for i = 1, #forms do s = replace(s, forms[i], "***") end
    return s
  end
end

-- The fields live in a table of their own behind an empty, read-only proxy;
-- plain __index tables (no function) keep a:apply(req) a table lookup.
local function new(kind, apply, forms, more)
  local fields = setmetatable({ kind = kind, apply = apply, scrub = scrubber(forms) }, Auth)
  if more then
    for k, v in pairs(more) do rawset(fields, k, v) end
  end
  return setmetatable({}, { __index = fields,
    __newindex = Auth.__newindex, __tostring = Auth.__tostring, __name = "evcp.Auth",
    __metatable = "evcp.Auth" })
end

--- Sends key as HERE's `apiKey` query parameter.
function M.api_key(key)
  local enc = url.segment(key)
  return new("api key", function(_, req)
    local u = req.url
    req.url = u .. (u:find("?", 1, true) and "&apiKey=" or "?apiKey=") .. enc
  end, { key, enc })
end

--- Sends token as `Authorization: Bearer <token>`.
function M.bearer(token)
  return new("bearer token", function(_, req)
    req.headers.Authorization = "Bearer " .. token
  end, { token, url.segment(token) })
end

-- How many earlier tokens a changing authenticator still scrubs.
local KEEP_TOKENS = 4

--- A bearer token that changes over the client's life (a token provider, or
-- HERE OAuth tokens): auth:use(token) sets the one the next requests carry
-- (the client fetches it before each call); auth:current() gives it.
-- scrub_also(s) scrubs what else the credential holds (an access key id and
-- secret); the last KEEP_TOKENS tokens are scrubbed too.
function M.changing(kind, scrub_also)
  local token
  local forms = {}
  local base = scrubber(forms)
  return new(kind, function(_, req)
    req.headers.Authorization = "Bearer " .. token
  end, forms, {
    use = function(_, t)
      if t == token then return end
      token = t
      forms[#forms + 1] = t
      forms[#forms + 1] = url.segment(t)
      while #forms > 2 * KEEP_TOKENS do table.remove(forms, 1) end
    end,
    current = function() return token end,
    scrub = function(_, s)
      s = base(nil, s)
      if scrub_also and type(s) == "string" then s = scrub_also(s) end
      return s
    end,
  })
end

-- The fields of an evcp.Error that carry text from the server or the
-- transport (evcp's own fields such as kind, url or partial never do).
local FOREIGN = { "message", "title", "code", "cause", "action", "error", "error_description",
  "correlation_id", "request_id" }

local function scrub_table(a, t, depth)
  if depth > 64 then return end
  for k, v in pairs(t) do
    if type(v) == "string" then
      t[k] = a:scrub(v)
    elseif type(v) == "table" then
      scrub_table(a, v, depth + 1)
    end
  end
end

--- Scrubs, in place, every field of an error value (and its decoded body)
-- that carries foreign text; returns e.
function M.scrub_error(a, e)
  for _, k in ipairs(FOREIGN) do
    if type(e[k]) == "string" then e[k] = a:scrub(e[k]) end
  end
  if type(e.body) == "table" then scrub_table(a, e.body, 0) end
  return e
end

return M
