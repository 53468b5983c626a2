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
-- (the byte work is C: core.percent_encode, csrc/text.c)
local encode = require("evcp.core").percent_encode

local M = {}

--- A path segment: everything but A-Z a-z 0-9 - . _ ~ is escaped.
function M.segment(s)
  return encode(s)
end

--- A query value: like segment, but HERE's separators , ; : stay literal.
function M.value(s)
  return encode(s, true)
end

--- Encodes an array of {name, value} pairs (names are evcp's own, plain).
function M.query(list)
  local n = #list
  if n == 0 then return "" end
  if n == 1 then -- the usual case: no list of parts to build
    local p = list[1]
    return p[1] .. "=" .. encode(p[2], true)
  end
  local parts = {}
  for i = 1, n do
    local p = list[i]
    parts[i] = p[1] .. "=" .. encode(p[2], true)
  end
  return table.concat(parts, "&")
end

return M
