--- evcp: HERE EV charging data for Lua.
--
--   local evcp = require "evcp"
--   local client = evcp.new{ base_url = "http://127.0.0.1:8080", api_key = "demo-key" }
--   local loc, err = client:location(id, { fields = { "evses" } })
--
-- This module only gathers the public pieces: the Client class is
-- lua/evcp/client.lua, the APIs are evcp.v3 and evcp.v2, the objects are
-- evcp.core's (C).
if not (rawget(_G, "jit") or _VERSION == "Lua 5.4") then
  -- the C core is built against Lua 5.4's or LuaJIT's API and would fail to
  -- load with an "undefined symbol" on any other runtime
  error("evcp runs on Lua 5.4 and LuaJIT 2.1, not on " .. tostring(_VERSION), 2)
end
local core = require("evcp.core")
local client = require("evcp.client")
local errors = require("evcp.error")

local M = {}

--- Library version.
M.VERSION = core.version

--- HERE's production base URLs of API v3 and of API v2.
M.DEFAULT_BASE_URL = client.DEFAULT_BASE_URL
M.DEFAULT_V2_BASE_URL = client.DEFAULT_V2_BASE_URL

--- evcp.new(opts) -> Client (options: docs/API.md)
M.new = client.new

M.v3 = require("evcp.v3")
M.v2 = require("evcp.v2")
M.connectors = require("evcp.connectors")
M.status = require("evcp.status")
M.tesla = require("evcp.tesla")
M.store = require("evcp.store")
M.error = errors
M.is_error = errors.is
--- evcp.response(result) -> {status, request_id, correlation_id, attempts, url [, requests]} | nil:
-- the HTTP exchange a successful result came from (lua/evcp/response.lua)
M.response = require("evcp.response").of

return M
