--- evcp.httpdate: HTTP dates (RFC 9110 §5.6.7) to seconds since the epoch (pure).
--
--   local httpdate = require "evcp.httpdate"
--   httpdate.parse("Sun, 06 Nov 1994 08:49:37 GMT")   --> 784111777
--
-- Reads the three forms a recipient must accept: IMF-fixdate (the one
-- senders use), the obsolete RFC 850 form ("Sunday, 06-Nov-94 08:49:37 GMT";
-- a two-digit year is read as the nearest year not more than 50 years in
-- the future, as RFC 9110 asks, relative to `now`) and asctime ("Sun Nov  6
-- 08:49:37 1994"). The weekday is not checked against the date (RFC 9110
-- lets a recipient ignore it), every other field is: a text that is not one
-- of the forms, names a day that does not exist or a year before 1970 gives
-- nil. Used for Retry-After (evcp.policy) and Date (the clock skew of the
-- OAuth flow, evcp.oauth).
local tonumber, type = tonumber, type
local floor = math.floor

local M = {}

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9,
  Oct = 10, Nov = 11, Dec = 12 }
local DAYS = { Mon = true, Tue = true, Wed = true, Thu = true, Fri = true, Sat = true, Sun = true }
local LONG_DAYS = { Monday = true, Tuesday = true, Wednesday = true, Thursday = true, Friday = true,
  Saturday = true, Sunday = true }

local MAX_TEXT = 64 -- the longest form is 30 bytes; spaces around it are allowed

-- Days from 1970-01-01 to the given civil date (proleptic Gregorian).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local function leap(y)
  return (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0
end

local MONTH_DAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

local function epoch(y, mon, d, hh, mm, ss)
  local m = MONTHS[mon]
  if not m or y < 1970 or y > 9999 then return nil end -- (no HTTP date is older than the epoch)
  local last = MONTH_DAYS[m]
  if m == 2 and leap(y) then last = 29 end
  if d < 1 or d > last or hh > 23 or mm > 59 or ss > 60 then return nil end -- 60: a leap second
  return days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss
end

--- httpdate.parse(text [, now]) -> seconds since the epoch (UTC) | nil
-- now (seconds since the epoch, default os.time()) only places a two-digit
-- RFC 850 year.
function M.parse(v, now)
  if type(v) ~= "string" or #v > MAX_TEXT then return nil end
  local wd, d, mon, y, hh, mm, ss = v:match("^%s*(%a%a%a), (%d%d) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT%s*$")
  if wd then
    if not DAYS[wd] then return nil end
    return epoch(tonumber(y), mon, tonumber(d), tonumber(hh), tonumber(mm), tonumber(ss))
  end
  wd, d, mon, y, hh, mm, ss = v:match("^%s*(%a+), (%d%d)%-(%a%a%a)%-(%d%d) (%d%d):(%d%d):(%d%d) GMT%s*$")
  if wd then
    if not LONG_DAYS[wd] then return nil end
    local year = tonumber(y)
    local this = tonumber(os.date("!%Y", now or os.time()))
    year = year + floor(this / 100) * 100
    if year > this + 50 then year = year - 100 end
    return epoch(year, mon, tonumber(d), tonumber(hh), tonumber(mm), tonumber(ss))
  end
  wd, mon, d, hh, mm, ss, y = v:match("^%s*(%a%a%a) (%a%a%a) ([ %d]%d) (%d%d):(%d%d):(%d%d) (%d%d%d%d)%s*$")
  if wd then
    if not DAYS[wd] then return nil end
    return epoch(tonumber(y), mon, tonumber((d:gsub(" ", ""))), tonumber(hh), tonumber(mm), tonumber(ss))
  end
  return nil
end

return M
