--- evcp.check: argument and option checking shared by the Lua front.
--
-- Misuse raises an error naming the function and the argument or option
-- that was wrong (tier 1 of evcp's errors). Values of secrets are never
-- quoted in these messages.
local M = {}

local function fail(fname, what, msg, level)
  error(fname .. ": " .. what .. " " .. msg, (level or 2) + 1)
end
M.fail = fail

--- Raises unless every key of opts is one of `allowed` (a set).
function M.known_keys(fname, opts, allowed, level)
  for k in pairs(opts) do
    if not allowed[k] then
      local names = {}
      for n in pairs(allowed) do names[#names + 1] = n end
      table.sort(names)
      fail(fname, "option '" .. tostring(k) .. "'", "is not known (known options: "
        .. table.concat(names, ", ") .. ")", (level or 2) + 1)
    end
  end
end

--- Raises unless v is an array (keys 1..n, no holes, no other keys); returns n.
function M.array(fname, what, v, level)
  if type(v) ~= "table" then
    fail(fname, what, "must be an array, got " .. type(v), (level or 2) + 1)
  end
  local n = 0
  for k in pairs(v) do
    if type(k) ~= "number" or k < 1 or k % 1 ~= 0 then
      fail(fname, what, "must be an array (found key " .. tostring(k) .. ")", (level or 2) + 1)
    end
    if k > n then n = k end
  end
  for i = 1, n do
    if v[i] == nil then fail(fname, what, "must be an array (hole at " .. i .. ")", (level or 2) + 1) end
  end
  return n
end

--- Accepts an array of strings or a comma-separated string; returns an array.
function M.list(fname, what, v, level)
  if type(v) == "string" then
    local out = {}
    for item in (v .. ","):gmatch("([^,]*),") do out[#out + 1] = item end
    return out
  end
  local n = M.array(fname, what, v, (level or 2) + 1)
  for i = 1, n do
    if type(v[i]) ~= "string" then
      fail(fname, what .. "[" .. i .. "]", "must be a string, got " .. type(v[i]), (level or 2) + 1)
    end
  end
  return v
end

--- Raises unless v is an integer number within [lo, hi].
function M.integer(fname, what, v, lo, hi, level)
  if type(v) ~= "number" or v % 1 ~= 0 or v ~= v then
    fail(fname, what, "must be an integer, got " .. (type(v) == "number" and tostring(v) or type(v)), (level or 2) + 1)
  end
  if v < lo or (hi and v > hi) then
    fail(fname, what, "must be " .. (hi and ("between " .. lo .. " and " .. hi) or (">= " .. lo))
      .. ", got " .. tostring(v), (level or 2) + 1)
  end
  return v
end

--- Raises unless v is a positive finite number.
function M.positive(fname, what, v, level)
  if type(v) ~= "number" or not (v > 0) or v == math.huge then
    fail(fname, what, "must be a positive number of seconds", (level or 2) + 1)
  end
  return v
end

--- Raises unless v is a non-empty string without control characters.
function M.text(fname, what, v, maxlen, level)
  if type(v) ~= "string" then fail(fname, what, "must be a string, got " .. type(v), (level or 2) + 1) end
  if v == "" then fail(fname, what, "must not be empty", (level or 2) + 1) end
  if v:find("[%z\1-\31\127]") then fail(fname, what, "must not contain control characters", (level or 2) + 1) end
  if maxlen and #v > maxlen then
    fail(fname, what, "must be at most " .. maxlen .. " bytes long", (level or 2) + 1)
  end
  return v
end

--- A set (value -> true) of the values of a list.
function M.set(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

--- Percent-encodes everything but RFC 3986 unreserved characters.
function M.escape(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

return M
