-- evcp_emulator.query: percent-decoding and query strings, as both API versions read them.
--
--   query.url_unescape(s, plus_is_char)  %XX decoded; `+` is a space unless plus_is_char
--   query.parse(qs)                     name -> list of decoded values, in order
--   query.comma_list(values)            explode:false list: occurrences joined with
--                                       commas, then split (nil stays nil)
local char, find, sub, gsub, concat = string.char, string.find, string.sub, string.gsub,
  table.concat

local M = {}

local function hex_char(h) return char(tonumber(h, 16)) end

-- query strings: `+` is a space; paths: `+` is itself
function M.url_unescape(s, plus_is_char)
  if not plus_is_char then s = gsub(s, "+", " ") end
  s = gsub(s, "%%(%x%x)", hex_char)
  return s
end
local url_unescape = M.url_unescape

function M.parse(qs)
  local params = {}
  if not qs or qs == "" then return params end
  for pair in qs:gmatch("[^&]+") do
    local eq = find(pair, "=", 1, true)
    local k, v
    if eq then
      k, v = sub(pair, 1, eq - 1), sub(pair, eq + 1)
    else
      k, v = pair, ""
    end
    k = url_unescape(k)
    local list = params[k]
    if not list then list = {}; params[k] = list end
    list[#list + 1] = url_unescape(v)
  end
  return params
end

function M.comma_list(values)
  if not values then return nil end
  local joined = concat(values, ",")
  local out = {}
  if joined == "" then return out end
  local pos = 1
  while true do
    local c = find(joined, ",", pos, true)
    if not c then
      out[#out + 1] = sub(joined, pos)
      break
    end
    out[#out + 1] = sub(joined, pos, c - 1)
    pos = c + 1
  end
  return out
end

return M
