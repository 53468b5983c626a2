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
local type, pairs, ipairs, setmetatable, getmetatable = type, pairs, ipairs, setmetatable, getmetatable

local M = {}

local Auth = { __name = "evcp.Auth", __metatable = "evcp.Auth" }
Auth.__index = Auth
function Auth.__tostring(a) return "evcp.Auth: " .. a.kind end
function Auth.__newindex() error("evcp.Auth is read-only", 2) end

-- core.scrub: every spelling of a secret (itself, percent-encoded with
-- hex of either case, form-encoded) becomes "***"
local core_scrub = require("evcp.core").scrub
local unpack = table.unpack or unpack -- luacheck: ignore 143

-- a scrub method for the secrets in the list (which may change)
local function scrubber(secrets)
  return function(_, s)
    if type(s) ~= "string" or #secrets == 0 then return s end
    return core_scrub(s, unpack(secrets, 1, #secrets))
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
  end, { key })
end

--- Sends token as `Authorization: Bearer <token>`.
function M.bearer(token)
  return new("bearer token", function(_, req)
    req.headers.Authorization = "Bearer " .. token
  end, { token })
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
      while #forms > KEEP_TOKENS do table.remove(forms, 1) end
    end,
    current = function() return token end,
    scrub = function(_, s)
      s = base(nil, s)
      if scrub_also and type(s) == "string" then s = scrub_also(s) end
      return s
    end,
  })
end

-- Scrubs the strings of a plain table in place, keys and values, nested
-- tables too (a decoded error body; depth bounded as the decoders bound it).
local function scrub_table(a, t, depth)
  if depth > 64 then return end
  local renamed
  for k, v in pairs(t) do
    if type(v) == "string" then
      t[k] = a:scrub(v) -- (assigning an existing key during pairs is allowed)
    elseif type(v) == "table" and getmetatable(v) == nil then
      scrub_table(a, v, depth + 1)
    end
    if type(k) == "string" then
      local sk = a:scrub(k)
      if sk ~= k then
        renamed = renamed or {}
        renamed[#renamed + 1] = { k, sk }
      end
    end
  end
  if renamed then
    for _, r in ipairs(renamed) do
      t[r[2]], t[r[1]] = t[r[1]], nil
    end
  end
end

-- The string fields of an evcp.Error that evcp writes itself and that
-- never hold foreign text: kind (an enum), url (made from the plan, before
-- authentication, and redacted), gave_up. Every other string field is
-- foreign (from the server, libcurl or a token provider) and is scrubbed.
local OWN = { kind = true, url = true, gave_up = true }

--- Scrubs, in place, every foreign string field of an error value and its
-- decoded body (keys and values); returns e. (err.partial holds evcp
-- objects of the answers that succeeded: they are left as they are.)
function M.scrub_error(a, e)
  for k, v in pairs(e) do
    if type(v) == "string" and not OWN[k] then e[k] = a:scrub(v) end
  end
  if type(e.body) == "table" then scrub_table(a, e.body, 0) end
  return e
end

return M
