--- evcp.check: argument and option checking shared by the Lua front.
--
-- Misuse raises an error naming the function and the argument or option
-- that was wrong (tier 1 of evcp's errors), at the line of the caller of
-- the public function. The checks below can be called at any depth: they
-- raise a marked value, and the public function runs its checking through
-- check.call, which re-raises the message at its own caller's level.
-- Values of secrets are never quoted in these messages.
local type, error, pcall, setmetatable, getmetatable, tostring, pairs =
  type, error, pcall, setmetatable, getmetatable, tostring, pairs

local core = require("evcp.core")
local text_bad, array_len = core.text_bad, core.array_len

local M = {}

local MISUSE = { __name = "evcp.Misuse" }
MISUSE.__tostring = function(m) return m.msg end

local function fail(fname, what, msg)
  error(setmetatable({ msg = fname .. ": " .. what .. " " .. msg }, MISUSE), 0)
end
M.fail = fail

--- Raises a misuse error with a whole message.
function M.raise(msg)
  error(setmetatable({ msg = msg }, MISUSE), 0)
end

--- check.call(fn, ...) -> up to 3 results of fn(...); a misuse raised
-- inside is re-raised at the level of whoever called the function that
-- called check.call. Never tail-call it (`return check.call(...)`): the
-- level counts the caller's frame.
function M.call(fn, ...)
  local ok, a, b, c = pcall(fn, ...)
  if ok then return a, b, c end
  if getmetatable(a) == MISUSE then error(a.msg, 3) end
  error(a, 0)
end

--- Raises unless every key of opts is one of `allowed` (a set).
function M.known_keys(fname, opts, allowed)
  for k in pairs(opts) do
    if not allowed[k] then
      local names = {}
      for n in pairs(allowed) do names[#names + 1] = n end
      table.sort(names)
      fail(fname, "option '" .. tostring(k) .. "'", "is not known (known options: "
        .. table.concat(names, ", ") .. ")")
    end
  end
end

--- Raises unless opts is nil or a table; returns opts or an empty table.
function M.options(fname, opts, allowed)
  if opts == nil then return {} end
  if type(opts) ~= "table" then fail(fname, "options", "must be a table, got " .. type(opts)) end
  M.known_keys(fname, opts, allowed)
  return opts
end

--- Raises unless v is an array (keys 1..n, no holes, no other keys); returns n.
function M.array(fname, what, v, max)
  -- a plain table that is an array within max: one C pass (core.array_len);
  -- anything else goes the long way below, which says what is wrong
  local fast = array_len(v, max)
  if fast then return fast end
  if type(v) ~= "table" then fail(fname, what, "must be an array, got " .. type(v)) end
  local n = 0
  for k in pairs(v) do
    if type(k) ~= "number" or k < 1 or k % 1 ~= 0 then
      fail(fname, what, "must be an array (found key " .. tostring(k) .. ")")
    end
    if k > n then n = k end
    if max and n > max then fail(fname, what, "must have at most " .. max .. " values") end
  end
  for i = 1, n do
    if v[i] == nil then fail(fname, what, "must be an array (hole at " .. i .. ")") end
  end
  return n
end

--- Accepts an array of strings or a comma-separated string; returns an array.
function M.list(fname, what, v, max)
  if type(v) == "string" then
    if max and #v > max * 64 then fail(fname, what, "is too long") end
    local out = {}
    for item in (v .. ","):gmatch("([^,]*),") do out[#out + 1] = item end
    if max and #out > max then fail(fname, what, "must have at most " .. max .. " values") end
    return out
  end
  local n = M.array(fname, what, v, max)
  for i = 1, n do
    if type(v[i]) ~= "string" then
      fail(fname, what .. "[" .. i .. "]", "must be a string, got " .. type(v[i]))
    end
  end
  return v
end

-- A number as text: integral values without Lua 5.4's ".0".
local function num_text(v)
  if v == v and v % 1 == 0 and v > -2 ^ 53 and v < 2 ^ 53 then return string.format("%d", v) end
  return tostring(v)
end

--- Raises unless v is an integer number within [lo, hi].
function M.integer(fname, what, v, lo, hi)
  if type(v) ~= "number" or v ~= v or v % 1 ~= 0 then
    fail(fname, what, "must be an integer, got " .. (type(v) == "number" and tostring(v) or type(v)))
  end
  if v < lo or (hi and v > hi) then
    fail(fname, what, "must be " .. (hi and ("between " .. num_text(lo) .. " and " .. num_text(hi))
      or (">= " .. num_text(lo))) .. ", got " .. num_text(v))
  end
  return v
end

--- Raises unless v is a number of seconds within [lo, hi] (finite).
function M.seconds(fname, what, v, lo, hi)
  if type(v) ~= "number" or v ~= v or v < lo or v > hi then
    fail(fname, what, "must be a number of seconds from " .. lo .. " to " .. hi
      .. ", got " .. (type(v) == "number" and tostring(v) or type(v)))
  end
  return v
end

--- Raises unless v is a non-empty string without control characters and at
-- most maxlen bytes long.
function M.text(fname, what, v, maxlen)
  if type(v) ~= "string" then fail(fname, what, "must be a string, got " .. type(v)) end
  if v == "" then fail(fname, what, "must not be empty") end
  if maxlen and #v > maxlen then fail(fname, what, "must be at most " .. maxlen .. " bytes long") end
  if text_bad(v) then fail(fname, what, "must not contain control characters") end
  return v
end

--- Number of UTF-8 characters in s, or nil when s is not valid UTF-8.
function M.utf8_len(s)
  local n, i, len = 0, 1, #s
  local byte = string.byte
  while i <= len do
    local c = byte(s, i)
    local k
    if c < 0x80 then k = 0
    elseif c >= 0xC2 and c < 0xE0 then k = 1
    elseif c >= 0xE0 and c < 0xF0 then k = 2
    elseif c >= 0xF0 and c < 0xF5 then k = 3
    else return nil end
    for j = i + 1, i + k do
      local d = byte(s, j)
      if d == nil or d < 0x80 or d > 0xBF then return nil end
    end
    i = i + k + 1
    n = n + 1
  end
  return n
end

--- A set (value -> true) of the values of a list.
function M.set(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

return M
