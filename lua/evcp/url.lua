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
--   url.shown(u)          u as evcp shows it (errors, hooks, responses):
--                         every query parameter that is not one of HERE's
--                         data parameters (DATA_PARAMS) has its value
--                         REDACTED, and a fragment is REDACTED
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

--- The query parameters of HERE's APIs that carry data, never a secret:
-- the only ones url.shown prints with their values. Names are exact (HERE's
-- are case-sensitive); anything else (apiKey, a token, a parameter added by
-- a proxy or a caller's URL) is shown as name=REDACTED. An API module that
-- sends a new parameter adds its name here.
M.DATA_PARAMS = {
  -- v3
  ids = true, fields = true, connectorTypes = true, countryCodes = true, days = true, tariff = true,
  -- v2
  prox = true, bbox = true, corridor = true, corridorwidth = true, connectortype = true, emsp = true,
  maxresults = true, offset = true, id = true,
  -- the Data API stream (its ids name a subscription, not a credential)
  mode = true, subscriptionId = true, consumerId = true,
}
local DATA_PARAMS = M.DATA_PARAMS

-- one name[=value] part of a query, as shown
local function shown_part(part)
  local name, eq = part:match("^([^=]*)(=?)")
  if DATA_PARAMS[name] then return part end
  if eq == "" then return "REDACTED" end
  return name .. "=REDACTED"
end

--- url.shown(u) -> u with the values of every query parameter other than
-- HERE's data parameters (M.DATA_PARAMS) replaced by REDACTED, and any
-- fragment by #REDACTED. A URL without '?' or '#' is returned as it is.
function M.shown(u)
  local q = u:find("[?#]")
  if q == nil then return u end
  local head, rest, frag = u:sub(1, q - 1), u:sub(q), ""
  local h = rest:find("#", 1, true)
  if h then
    rest, frag = rest:sub(1, h - 1), "#REDACTED"
  end
  if rest == "" then return head .. frag end
  -- (a find loop: gmatch's empty matches differ between Lua 5.4 and LuaJIT)
  local parts, n, i = {}, 0, 2
  while true do
    local amp = rest:find("&", i, true)
    local part = rest:sub(i, (amp or 0) - 1)
    n = n + 1
    parts[n] = part == "" and part or shown_part(part)
    if amp == nil then break end
    i = amp + 1
  end
  return head .. "?" .. table.concat(parts, "&", 1, n) .. frag
end

return M
