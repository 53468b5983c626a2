--- evcp.json: evcp's private JSON codec.
--
-- A lua-cjson instance of evcp's own (`cjson.new()`), configured strictly:
-- NaN/Infinity/hex numbers are refused, nesting is limited. The
-- application's own `require "cjson"` settings are never touched.
local cjson = require("cjson")

local M = {}

local codec = cjson.new()
codec.decode_invalid_numbers(false)
codec.decode_max_depth(64)
codec.encode_invalid_numbers(false)
codec.encode_max_depth(64)

--- Decodes a JSON text. Returns the value, or nil and a message.
function M.decode(text)
  local ok, v = pcall(codec.decode, text)
  if ok then return v end
  return nil, tostring(v)
end

--- The raw decoder (raises on bad input); used on hot paths under pcall.
M.decode_raw = codec.decode

--- Encodes a Lua value as JSON; raises on values JSON cannot hold.
M.encode = codec.encode

--- The value JSON null decodes to.
M.null = codec.null

return M
