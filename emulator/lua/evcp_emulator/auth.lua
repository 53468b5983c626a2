-- evcp_emulator.auth: which credentials a request presents, and whether they are valid.
-- The same for v3 and v2: the `apiKey` query parameter or `Authorization: Bearer <token>`.
--
--   local a = auth.new{api_keys = {...}, tokens = {...}, restricted_keys = {...}}
--   a:check(params, headers) -> ok, restricted_ok, error_description
-- With no list at all, "demo-key" is the one api key. A restricted key is accepted both
-- as an api key and as a token, and may also request the RESTRICTED v3 fields.
local M = {}
M.__index = M

local function set_of(list)
  local s = {}
  for _, v in ipairs(list or {}) do s[v] = true end
  return s
end

function M.new(cfg)
  local self = setmetatable({
    api_keys = set_of(cfg.api_keys),
    tokens = set_of(cfg.tokens),
    restricted = set_of(cfg.restricted_keys),
  }, M)
  for k in pairs(self.restricted) do self.api_keys[k] = true; self.tokens[k] = true end
  if cfg.api_keys == nil and cfg.tokens == nil and cfg.restricted_keys == nil then
    self.api_keys["demo-key"] = true
  end
  return self
end

-- A request is authenticated when any credential it presents is valid; an empty
-- `apiKey=` counts as none.
function M:check(params, headers)
  local presented = false
  local ok, restricted_ok = false, false
  for _, key in ipairs(params.apiKey or {}) do
    if key ~= "" then
      presented = true
      if self.api_keys[key] then
        ok = true
        if self.restricted[key] then restricted_ok = true end
      end
    end
  end
  local header = headers["authorization"]
  if type(header) == "table" then header = header[1] end
  if header and header ~= "" then
    presented = true
    local token = header:match("^[Bb][Ee][Aa][Rr][Ee][Rr]%s+(%S+)%s*$")
    if token and self.tokens[token] then
      ok = true
      if self.restricted[token] then restricted_ok = true end
    end
  end
  if not presented then return false, false, "No credentials found" end
  if not ok then return false, false, "Invalid credentials" end
  return true, restricted_ok
end

return M
