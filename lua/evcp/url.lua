--- evcp.url: the one place where evcp percent-encodes what goes into a URL.
--
-- Every path segment and every query value a caller hands over passes
-- through here, so an id such as "a&apiKey=X", "a#b" or "a+b c" reaches
-- the server as the bytes the caller gave, never as another parameter, a
-- cut URL or a changed character.
--
--   url.segment(s)        all but RFC 3986 unreserved characters escaped
--   url.value(s)          the same, but ',' ';' ':' stay literal: HERE's
--                         list separators (ids=a,b; bbox=lat,lng;lat,lng)
--   url.query(pairs)      {{name, value}, ...} -> "name=value&..."
local format, byte = string.format, string.byte

local M = {}

local cache = {}
local function hex(c)
  local h = cache[c]
  if not h then
    h = format("%%%02X", byte(c))
    cache[c] = h
  end
  return h
end

--- A path segment: everything but A-Z a-z 0-9 - . _ ~ is escaped.
function M.segment(s)
  return (s:gsub("[^%w%-%._~]", hex))
end

--- A query value: like segment, but HERE's separators , ; : stay literal.
function M.value(s)
  if not s:find("[^%w%-%._~,;:]") then return s end
  return (s:gsub("[^%w%-%._~,;:]", hex))
end

--- Encodes an array of {name, value} pairs (names are evcp's own, plain).
function M.query(list)
  local n = #list
  if n == 0 then return "" end
  local parts = {}
  for i = 1, n do
    local p = list[i]
    parts[i] = p[1] .. "=" .. M.value(p[2])
  end
  return table.concat(parts, "&")
end

return M
