--- evcp.credentials: which credential evcp.new was given, as one record.
--
--   credentials.resolve(opts, getenv, readfile [, fname]) -> record
--   credentials.parse_properties(text, where [, fname]) -> {key = value}
--   credentials.OPTIONS        the option names resolve reads
--   credentials.ENV            the environment variables it falls back to
--
-- Pure: the environment and the file system come in as functions
-- (getenv(name) -> string | nil, like os.getenv; readfile(path) -> text |
-- nil, message, reading at most MAX_FILE + 1 bytes), so that evcp.client
-- stays the one module that does I/O.
--
-- Misuse raises through evcp.check (tier 1): call resolve inside
-- check.call, as evcp.new does, and the message names evcp.new and points
-- at its caller's line. No message, no tostring and no field other than
-- the ones named below ever holds a credential: the access key secret
-- goes straight into core.secret (one C buffer, wiped on close) and is
-- quoted nowhere; key ids, keys and tokens are never quoted either.
local core = require("evcp.core")
local check = require("evcp.check")
local oauth = require("evcp.oauth")

local type, pairs, ipairs, setmetatable = type, pairs, ipairs, setmetatable
local concat = table.concat
local fail, raise = check.fail, check.raise

local M = {}

--- The options of evcp.new that give a credential.
M.OPTIONS = { "api_key", "access_token", "token_provider", "access_key_id", "access_key_secret",
  "credentials" }

--- The environment variables read when no option gives a credential.
M.ENV = { id = "HERE_ACCESS_KEY_ID", secret = "HERE_ACCESS_KEY_SECRET",
  endpoint = "HERE_TOKEN_ENDPOINT_URL" }

--- Largest credentials.properties file read, in bytes.
M.MAX_FILE = 64 * 1024

-- what the keys of HERE's credentials.properties mean here
local PROPERTY = {
  ["here.user.id"] = "user_id",
  ["here.client.id"] = "client_id",
  ["here.access.key.id"] = "access_key_id",
  ["here.access.key.secret"] = "access_key_secret",
  ["here.token.endpoint.url"] = "token_endpoint",
}
local REQUIRED_PROPERTIES = { "here.access.key.id", "here.access.key.secret" }

---------------------------------------------------------------------------
-- the record

local Record = { __name = "evcp.Credentials", __metatable = "evcp.Credentials" }
Record.__index = Record

local SOURCE_TEXT = {
  option = "option",
  file = "credentials file",
  environment = "environment",
}

function Record.__tostring(r)
  local s = "evcp.Credentials: " .. r.kind .. " (from " .. (SOURCE_TEXT[r.source] or "?")
  if r.source == "file" then s = s .. " '" .. r.path .. "'" end
  return s .. ")"
end

--- record:scrub(s) -> s with every credential of the record (the key or
-- token, the access key id, the secret; each as given, percent-encoded
-- with hex of either case, or form-encoded)
-- replaced by "***". Anything but a string comes back unchanged.
function Record:scrub(s)
  if type(s) ~= "string" then return s end
  -- (core.scrub: every spelling, raw, percent- or form-encoded)
  s = core.scrub(s, self.api_key, self.access_token, self.access_key_id)
  if self.secret then s = self.secret:scrub(s) end
  return s
end

--- record:close(): wipes the secret (idempotent); other kinds hold none.
function Record:close()
  if self.secret then self.secret:wipe() end
end

---------------------------------------------------------------------------
-- checks

-- a credential's text: never quoted, whatever is wrong with it
local function secret_text(fname, what, v, maxlen)
  if type(v) ~= "string" then fail(fname, what, "must be a string, got " .. type(v)) end
  if v == "" then fail(fname, what, "must not be empty") end
  if #v > maxlen then fail(fname, what, "must be at most " .. maxlen .. " bytes long") end
  if core.text_bad(v) then fail(fname, what, "must not contain control characters") end
  if v:find("^%s") or v:find("%s$") then fail(fname, what, "must not start or end with a space") end
  return v
end

-- the token endpoint of an oauth record: base_url's when given, else the
-- configured one (https only), else HERE's
local function endpoint_of(fname, what, given, base_url)
  if type(base_url) == "string" then return oauth.token_url(base_url) end
  if given == nil then return oauth.DEFAULT_TOKEN_URL end
  local norm = oauth.base_string_uri(given)
  if not norm then
    -- not quoted: a URL may carry user:password@
    fail(fname, what, "must be an https URL without user info, query or fragment")
  end
  if not given:match("^[hH][tT][tT][pP][sS]://") then
    fail(fname, what, "must be an https URL (http only through an http base_url)")
  end
  return given
end

local function oauth_record(fname, source, fields, base_url, what)
  local id = secret_text(fname, what.id, fields.access_key_id, 1024)
  local sec = secret_text(fname, what.secret, fields.access_key_secret, 1024)
  local r = { kind = "oauth", source = source, path = fields.path, access_key_id = id,
    user_id = fields.user_id, client_id = fields.client_id,
    token_endpoint = endpoint_of(fname, what.endpoint, fields.token_endpoint, base_url) }
  r.secret = core.secret(sec)
  return setmetatable(r, Record)
end

---------------------------------------------------------------------------
-- credentials.properties

local function parse_properties(text, where, fname)
  fname = fname or "evcp.new"
  if #text > M.MAX_FILE then raise(fname .. ": " .. where .. " is larger than " .. M.MAX_FILE .. " bytes") end
  if text:sub(1, 3) == "\239\187\191" then text = text:sub(4) end -- a UTF-8 BOM
  local props, n = {}, 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    line = line:gsub("\r$", "")
    local body = line:match("^[ \t\f]*(.-)[ \t\f]*$")
    if body ~= "" and not body:find("^[#!]") then
      -- never quote a line: it may hold the secret
      local key, value = body:match("^([^=:%s]+)[ \t\f]*[=:][ \t\f]*(.*)$")
      if not key then key, value = body:match("^([^=:%s]+)[ \t\f]+(.*)$") end
      if not key then raise(fname .. ": " .. where .. ", line " .. n .. ": not a 'key = value' line") end
      if body:find("\\", 1, true) then
        raise(fname .. ": " .. where .. ", line " .. n .. ": backslash escapes and line continuations"
          .. " are not supported")
      end
      -- only HERE's own keys are named: a line may be a secret on its own
      local shown = PROPERTY[key] and key or "a key"
      if core.text_bad(value) then
        raise(fname .. ": " .. where .. ", line " .. n .. ": control characters in the value of " .. shown)
      end
      if props[key] ~= nil then
        raise(fname .. ": " .. where .. ", line " .. n .. ": " .. shown .. " is set twice")
      end
      props[key] = value
    end
  end
  return props
end

--- credentials.parse_properties(text, where [, fname]) -> {key = value}
-- Reads a Java-style properties text as HERE's portal writes
-- credentials.properties: `key = value` (or `key: value`, `key value`)
-- lines, spaces around the separator ignored, `#` and `!` comment lines,
-- blank lines, LF or CRLF line ends, a UTF-8 BOM. Backslash escapes and
-- continuations are refused (HERE's files have none), and so are a key set
-- twice and a value with control characters. Errors name `where` and the
-- line number, never a value.
function M.parse_properties(text, where, fname)
  local p = check.call(parse_properties, text, where, fname)
  return p
end

local function from_file(fname, path, readfile, base_url)
  check.text(fname, "option 'credentials'", path, 4096)
  local where = "credentials file '" .. path .. "'"
  local text, why = readfile(path)
  if type(text) ~= "string" then
    raise(fname .. ": option 'credentials': cannot read '" .. path .. "'"
      .. (type(why) == "string" and (": " .. why) or ""))
  end
  local props = parse_properties(text, where, fname)
  for _, k in ipairs(REQUIRED_PROPERTIES) do
    if props[k] == nil or props[k] == "" then raise(fname .. ": " .. where .. " has no " .. k) end
  end
  local fields = { path = path }
  for k, v in pairs(props) do
    local name = PROPERTY[k]
    if name and v ~= "" then fields[name] = v end
  end
  return oauth_record(fname, "file", fields, base_url, {
    id = where .. ": here.access.key.id", secret = where .. ": here.access.key.secret",
    endpoint = where .. ": here.token.endpoint.url" })
end

local function from_env(fname, getenv, base_url)
  local function get(name)
    local v = getenv(name)
    if v == "" then v = nil end
    if v ~= nil and type(v) ~= "string" then
      raise(fname .. ": the environment getter returned a " .. type(v) .. " for " .. name)
    end
    return v
  end
  local id, sec, endpoint = get(M.ENV.id), get(M.ENV.secret), get(M.ENV.endpoint)
  if id == nil and sec == nil then return nil end
  if id == nil or sec == nil then
    raise(fname .. ": the environment has " .. (id and M.ENV.id or M.ENV.secret) .. " but not "
      .. (id and M.ENV.secret or M.ENV.id) .. " (set both, or neither)")
  end
  return oauth_record(fname, "environment",
    { access_key_id = id, access_key_secret = sec, token_endpoint = endpoint }, base_url, {
      id = "environment variable " .. M.ENV.id, secret = "environment variable " .. M.ENV.secret,
      endpoint = "environment variable " .. M.ENV.endpoint })
end

-- the ways to give a credential, as evcp.new's messages name them
local WAYS = "option 'api_key', option 'access_token', option 'token_provider', options"
  .. " 'access_key_id' + 'access_key_secret', or option 'credentials' (a credentials.properties"
  .. " file), or set " .. M.ENV.id .. " and " .. M.ENV.secret

local function resolve(opts, getenv, readfile, fname)
  fname = fname or "evcp.new"
  if type(opts) ~= "table" then raise(fname .. ": argument #1 (options) must be a table, got " .. type(opts)) end
  if type(getenv) ~= "function" then raise("evcp.credentials.resolve: argument #2 (getenv) must be a function") end
  if type(readfile) ~= "function" then
    raise("evcp.credentials.resolve: argument #3 (readfile) must be a function")
  end
  local base_url = opts.base_url
  if type(base_url) ~= "string" then base_url = nil end
  -- which sources were given (a pair of options counts once)
  local given = {}
  if opts.api_key ~= nil then given[#given + 1] = "option 'api_key'" end
  if opts.access_token ~= nil then given[#given + 1] = "option 'access_token'" end
  if opts.token_provider ~= nil then given[#given + 1] = "option 'token_provider'" end
  if opts.access_key_id ~= nil or opts.access_key_secret ~= nil then
    given[#given + 1] = "options 'access_key_id' + 'access_key_secret'"
  end
  if opts.credentials ~= nil then given[#given + 1] = "option 'credentials'" end
  if #given > 1 then
    raise(fname .. ": give only one credential, got " .. concat(given, " and ") .. " (one of " .. WAYS .. ")")
  end
  if opts.api_key ~= nil then
    local key = secret_text(fname, "option 'api_key'", opts.api_key, 4096)
    return setmetatable({ kind = "api_key", source = "option", api_key = key }, Record)
  end
  if opts.access_token ~= nil then
    local tok = secret_text(fname, "option 'access_token'", opts.access_token, oauth.MAX_TOKEN)
    if not tok:match("^[%w%-._~+/]+=*$") then
      fail(fname, "option 'access_token'", "must be a bearer token (RFC 6750 token68 characters)")
    end
    return setmetatable({ kind = "access_token", source = "option", access_token = tok }, Record)
  end
  if opts.token_provider ~= nil then
    if type(opts.token_provider) ~= "function" then
      fail(fname, "option 'token_provider'", "must be a function, got " .. type(opts.token_provider))
    end
    return setmetatable({ kind = "token_provider", source = "option", token_provider = opts.token_provider },
      Record)
  end
  if opts.access_key_id ~= nil or opts.access_key_secret ~= nil then
    if opts.access_key_id == nil then fail(fname, "option 'access_key_secret'", "needs option 'access_key_id'") end
    if opts.access_key_secret == nil then
      fail(fname, "option 'access_key_id'", "needs option 'access_key_secret'")
    end
    return oauth_record(fname, "option", { access_key_id = opts.access_key_id,
      access_key_secret = opts.access_key_secret }, base_url, {
        id = "option 'access_key_id'", secret = "option 'access_key_secret'", endpoint = "the token endpoint" })
  end
  if opts.credentials ~= nil then return from_file(fname, opts.credentials, readfile, base_url) end
  local r = from_env(fname, getenv, base_url)
  if r then return r end
  raise(fname .. ": give a credential: " .. WAYS)
end

--- credentials.resolve(opts, getenv, readfile [, fname]) -> record
-- opts: evcp.new's options (only the ones in OPTIONS and base_url are
-- read); getenv(name) and readfile(path): see above; fname: the function
-- named in errors (default "evcp.new").
-- Exactly one credential must be given: api_key; access_token; a
-- token_provider function; access_key_id + access_key_secret; credentials
-- = "path/to/credentials.properties" (HERE's portal file: here.access.key.id
-- and here.access.key.secret required; here.token.endpoint.url,
-- here.user.id, here.client.id read when present); or, when no option
-- gives one, the environment (HERE_ACCESS_KEY_ID + HERE_ACCESS_KEY_SECRET,
-- HERE_TOKEN_ENDPOINT_URL optional). Zero or several raise an error that
-- names what was given and what may be.
-- The record (an evcp.Credentials; tostring shows its kind and source only):
--   kind = "api_key"        api_key
--   kind = "access_token"   access_token
--   kind = "token_provider" token_provider (the function)
--   kind = "oauth"          access_key_id, secret (an evcp.Secret),
--                           token_endpoint, user_id?, client_id?, path?
--   source = "option" | "file" | "environment"
-- token_endpoint: base_url .. "/oauth2/token" when opts.base_url is a
-- string (the base URL's scheme then decides http or https); else the
-- file's or the environment's endpoint, which must be https; else HERE's
-- (oauth.DEFAULT_TOKEN_URL).
-- Methods: record:scrub(s), record:close().
function M.resolve(opts, getenv, readfile, fname)
  local r = check.call(resolve, opts, getenv, readfile, fname)
  return r
end

--- The same as resolve, raising evcp.check's misuse value instead of a
-- message: for callers that run their checks inside check.call themselves
-- (evcp.new), so that the message points at their caller's line.
M.resolve_checked = resolve

return M
