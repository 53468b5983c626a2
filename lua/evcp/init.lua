--- evcp: HERE EV charging data for Lua.
--
--   local evcp = require "evcp"
--   local client = evcp.new{ base_url = "http://127.0.0.1:8080", api_key = "demo-key" }
--   local loc, err = client:location(id, { fields = { "evses" } })
--
-- evcp.core (C) holds the objects and the libcurl transport; this module
-- checks options, sets defaults and adds the API methods to evcp.Client.
local core = require("evcp.core")
local json = require("evcp.json")
local check = require("evcp.check")
local errors = require("evcp.error")
local v3 = require("evcp.v3")
local v2 = require("evcp.v2")

local M = {}

--- Library version.
M.VERSION = core.version

--- HERE's production base URL (paths start with /v3).
M.DEFAULT_BASE_URL = "https://evcp.hereapi.com"

M.v3 = v3
M.v2 = v2
M.connectors = require("evcp.connectors")
M.status = require("evcp.status")
M.tesla = require("evcp.tesla")
M.error = errors
M.is_error = errors.is

core.set_json_encoder(json.encode_document)

-- Per-client settings the Lua front needs (never credentials); weak keys so
-- a client's entry goes when the client does.
local state = setmetatable({}, { __mode = "k" })

local methods = core.classes.Client
v3.attach(methods, state)
v2.attach(methods, state)

--- HERE's production base URL of API v2 (a host of its own).
M.DEFAULT_V2_BASE_URL = "https://ev-v2.cc.api.here.com"

-- client.v2 is per client, so Client's __index looks it up before methods.
core.client_meta.__index = function(client, key)
  if key == "v2" then
    local s = state[client]
    return s and s.v2
  end
  return methods[key]
end

local c_close = methods.close
--- client:close(): frees the connections (of v2's host too); idempotent.
function methods.close(client)
  local s = state[client]
  if s and s.v2_client then s.v2_client:close() end
  return c_close(client)
end

--- group:connectors() -> iterator over the Connector objects a connector
-- group's references name (HERE sends the references only when `evses` was
-- requested along with `connectorGroups`; otherwise the iterator is empty).
function core.classes.ConnectorGroup.connectors(group)
  local loc = group:location()
  local list = {}
  for _, ref in ipairs(group:totable().connectors or {}) do
    local evse = loc and type(ref.evseUid) == "string" and loc:evse(ref.evseUid)
    if evse then
      local want = {}
      for _, id in ipairs(ref.connectorIds or {}) do want[id] = true end
      for c in evse:connectors() do
        if want[c.id] then list[#list + 1] = c end
      end
    end
  end
  local i = 0
  return function()
    i = i + 1
    return list[i]
  end
end

local CLIENT_OPTS = {
  base_url = true, api_key = true, access_token = true, timeout = true,
  connect_timeout = true, max_attempts = true, max_parallel = true,
  user_agent = true, compress = true, max_body = true, v2_base_url = true,
}

local function check_base(name, base)
  check.text("evcp.new", "option '" .. name .. "'", base, 2048, 3)
  if not base:match("^[hH][tT][tT][pP][sS]?://[^/?#@%s]+") or base:find("[?#%s]") then
    error("evcp.new: option '" .. name .. "' must look like http(s)://host[:port][/prefix], got '" .. base .. "'", 3)
  end
end

--- evcp.new(opts) -> Client
-- opts (unknown keys raise):
--   base_url         default "https://evcp.hereapi.com"; http(s)://host[:port][/prefix]
--   api_key          HERE API key (sent as apiKey), or
--   access_token     a bearer token (sent as Authorization: Bearer)
--   timeout          seconds per request, default 30
--   connect_timeout  seconds to connect, default 10
--   max_attempts     tries per request for retryable failures, default 1
--   max_parallel     concurrent transfers, 1..64, default 8
--   user_agent       default "evcp/<version>"
--   compress         ask for gzip responses, default true
--   max_body         largest response body in bytes, default 64 MiB
function M.new(opts)
  if type(opts) ~= "table" then
    error("evcp.new: argument #1 (options) must be a table, got " .. type(opts), 2)
  end
  check.known_keys("evcp.new", opts, CLIENT_OPTS, 2)
  local base = opts.base_url
  if base == nil then base = M.DEFAULT_BASE_URL end
  check_base("base_url", base)
  -- v2 defaults to HERE's v2 host with HERE's base URL, else to base_url
  -- (the emulator serves both versions on one address).
  local v2_base = opts.v2_base_url
  if v2_base == nil then v2_base = (opts.base_url == nil) and M.DEFAULT_V2_BASE_URL or base end
  check_base("v2_base_url", v2_base)
  if opts.api_key == nil and opts.access_token == nil then
    error("evcp.new: give option 'api_key' or option 'access_token'", 2)
  end
  if opts.api_key ~= nil and opts.access_token ~= nil then
    error("evcp.new: give only one of option 'api_key' and option 'access_token'", 2)
  end
  -- secrets: checked without ever quoting their value
  if opts.api_key ~= nil then check.text("evcp.new", "option 'api_key'", opts.api_key, 4096, 2) end
  if opts.access_token ~= nil then check.text("evcp.new", "option 'access_token'", opts.access_token, 16384, 2) end
  if opts.timeout ~= nil then check.positive("evcp.new", "option 'timeout'", opts.timeout, 2) end
  if opts.connect_timeout ~= nil then check.positive("evcp.new", "option 'connect_timeout'", opts.connect_timeout, 2) end
  if opts.max_attempts ~= nil then check.integer("evcp.new", "option 'max_attempts'", opts.max_attempts, 1, 10, 2) end
  if opts.max_parallel ~= nil then check.integer("evcp.new", "option 'max_parallel'", opts.max_parallel, 1, 64, 2) end
  if opts.max_body ~= nil then check.integer("evcp.new", "option 'max_body'", opts.max_body, 1024, nil, 2) end
  if opts.user_agent ~= nil then check.text("evcp.new", "option 'user_agent'", opts.user_agent, 256, 2) end
  if opts.compress ~= nil and type(opts.compress) ~= "boolean" then
    error("evcp.new: option 'compress' must be a boolean, got " .. type(opts.compress), 2)
  end
  local cfg = {
    base_url = base, api_key = opts.api_key, access_token = opts.access_token,
    timeout = opts.timeout, connect_timeout = opts.connect_timeout,
    max_parallel = opts.max_parallel, max_body = opts.max_body,
    user_agent = opts.user_agent or ("evcp/" .. core.version),
    compress = opts.compress ~= false,
  }
  local client = core.client_new(cfg)
  local s = { base_url = (base:gsub("/+$", "")), max_attempts = opts.max_attempts or 1 }
  if v2_base:gsub("/+$", "") ~= s.base_url then
    cfg.base_url = v2_base
    s.v2_client = core.client_new(cfg)
    s.v2_base_url = (v2_base:gsub("/+$", ""))
  end
  s.v2 = v2.bind(client)
  state[client] = s
  return client
end

return M
