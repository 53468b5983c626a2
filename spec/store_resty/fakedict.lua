-- A plain-Lua stand-in for an OpenResty lua_shared_dict (ngx.shared.NAME),
-- with the calls evcp.store's shared backend makes and their documented
-- results: get, safe_set, safe_add (false, "exists"), incr (nil, "not
-- found"; a non-number: nil, "not a number"), delete, get_keys. opts.capacity
-- (keys) makes safe_* fail with "no memory" like a full dict. Expiry is not
-- modelled (locks are always released in these specs). spec/64 runs the
-- same backend in a real nginx.
local M = {}
M.__index = M

function M.new(opts)
  return setmetatable({ data = {}, n = 0, capacity = opts and opts.capacity or math.huge }, M)
end

function M:get(k) return self.data[k] end

local function room(self, k)
  return self.data[k] ~= nil or self.n < self.capacity
end

function M:safe_set(k, v)
  if v == nil then return self:delete(k) end
  if not room(self, k) then return false, "no memory" end
  if self.data[k] == nil then self.n = self.n + 1 end
  self.data[k] = v
  return true
end

function M:safe_add(k, v)
  if self.data[k] ~= nil then return false, "exists" end
  if not room(self, k) then return false, "no memory" end
  self.n = self.n + 1
  self.data[k] = v
  return true
end

function M:incr(k, d)
  local v = self.data[k]
  if v == nil then return nil, "not found" end
  if type(v) ~= "number" then return nil, "not a number" end
  v = v + d
  self.data[k] = v
  return v
end

function M:delete(k)
  if self.data[k] ~= nil then self.n = self.n - 1 end
  self.data[k] = nil
  return true
end

function M:get_keys(max)
  local out = {}
  for k in pairs(self.data) do
    out[#out + 1] = k
    if max and max > 0 and #out >= max then break end
  end
  return out
end

return M
