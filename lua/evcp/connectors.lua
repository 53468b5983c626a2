--- evcp.connectors: v2 connector type ids <-> v3 connector standards.
--
--   local connectors = require "evcp.connectors"
--   connectors.v2_to_v3(31)            --> { "IEC_62196_T2" }
--   connectors.v2_to_v3("36")          --> { "IEC_60309_2_THREE_16", "..._32", "..._64" }
--   connectors.v2_to_v3(26)            --> nil, "deprecated"
--   connectors.v3_to_v2("SAE_J3400")   --> 43
--   connectors.info(68).common_name    --> "Tesla connector Model-S-type (oval, 5 pin)"
--
-- The data is the connector mapping table of HERE's v2 -> v3 migration guide,
-- one row per v2 id (0..68) in the guide's order. Per row:
--   id          v2 connectorType.id (integer)
--   standards   v3 ConnectorType values (array; empty unless state is "current")
--   name        v2 connectorType.name (nil for unused ids)
--   common_name the guide's short name for the plug (current rows only)
--   placeholder the label the guide puts in the standard column of unused
--               ids 0 and 1 (CONNECTOR_TYPE_UNDEFINED, UNRECOGNIZED); these
--               are not v3 standards, so v3_to_v2 reports them as "unused"
--   state       "current", "deprecated" or "unused"
-- spec/70-remap_spec.lua checks these rows against the guide's table.
--
-- Every table this module returns is a fresh copy.
local type, tostring, tonumber, error, ipairs, setmetatable =
  type, tostring, tonumber, error, ipairs, setmetatable

local M = {}

-- common_name defaults to name (the guide repeats the name in most rows)
local function C(id, standards, name, common_name)
  return { id = id, standards = standards, name = name, common_name = common_name or name, state = "current" }
end

local function D(id, name)
  return { id = id, standards = {}, name = name, state = "deprecated" }
end

local function U(id, placeholder)
  return { id = id, standards = {}, placeholder = placeholder, state = "unused" }
end

local ROWS = {
  C(5, { "DOMESTIC_B" }, "Domestic plug/socket type B (NEMA 5-15)"),
  C(6, { "NEMA_5_20" }, "NEMA 5-20 (3 pin)", "Domestic plug/socket type B (NEMA 5-20 (3 pin))"),
  C(7, { "DOMESTIC_D" }, "Domestic plug/socket type D (BS 546, 3 pin, 5A)"),
  C(8, { "DOMESTIC_E" }, "Domestic plug/socket type E (CEE 7/5)"),
  C(9, { "DOMESTIC_F" }, "Domestic plug/socket type F (CEE 7/4 (Schuko))"),
  C(11, { "DOMESTIC_G" }, "Domestic plug/socket type G (BS 1363, IS 401 & 411, MS 58)"),
  C(12, { "DOMESTIC_H" }, "Domestic plug/socket type H (SI 32)"),
  C(13, { "DOMESTIC_I" }, "Domestic plug/socket type I (AS/NZS 3112)"),
  C(20, { "DOMESTIC_K" }, "Domestic plug/socket type K (Section 107-2-D1)"),
  C(22, { "DOMESTIC_L" }, "Domestic plug/socket type L (CEI 23-16/VII)"),
  C(23, { "DOMESTIC_M" }, "Domestic plug/socket type M (South African 15 A/250 V)"),
  C(29, { "CHADEMO" }, "JEVS G 105 (CHAdeMO)", "CHAdeMO"),
  C(30, { "IEC_62196_T1" }, "IEC 62196-2 type 1 (SAE J1772)", "Type 1 (SAE J1772)"),
  C(31, { "IEC_62196_T2" }, "IEC 62196-2 type 2 (Type 2)", "Type 2"),
  C(32, { "IEC_62196_T3C" }, "IEC 62196-2 type 3c (SCAME)", "Type 3c"),
  C(33, { "IEC_62196_T1_COMBO" }, "IEC 62196-3 type 1 combo (SAE J1772)", "CCS1"),
  C(34, { "IEC_62196_T2_COMBO" }, "IEC 62196-3 type 2 combo (Mennekes)", "CCS2"),
  C(35, { "IEC_60309_2_SINGLE_16" }, "IEC 60309 : industrial P + N + E (AC)", "Industrial blue AC"),
  C(36, { "IEC_60309_2_THREE_16", "IEC_60309_2_THREE_32", "IEC_60309_2_THREE_64" },
    "IEC 60309 : industrial 3P + E + N (AC)", "Industrial red AC"),
  C(42, { "DOMESTIC_J" }, "Domestic plug/socket type J (SEV 1011) (T13, T23)"),
  C(43, { "SAE_J3400" }, "Tesla Connector", "North American Charging Standard (NACS, SAE J3400)"),
  C(48, { "DOMESTIC_A" }, "Domestic plug/socket type A (NEMA 1-15, 2 pins)"),
  C(49, { "DOMESTIC_C" }, "Domestic plug/socket type C (CEE 7/17, 2 pins)"),
  C(50, { "IEC_62196_T3A" }, "IEC 62196-2 type 3a (SCAME)", "Type 3a"),
  C(51, { "NEMA_14_50" }, "Domestic plug/socket type B (NEMA 14-50)"),
  C(52, { "GBT_AC" }, "GB/T (Chinese) AC connector"),
  C(53, { "GBT_DC" }, "GB/T (Chinese) DC connector"),
  C(55, { "NEMA_6_50" }, "Domestic plug/socket type B (NEMA 6-50)"),
  C(56, { "NEMA_6_30" }, "Domestic plug/socket type B (NEMA 6-30)"),
  C(57, { "NEMA_10_30" }, "Domestic plug/socket type B (NEMA 10-30)"),
  C(58, { "NEMA_10_50" }, "Domestic plug/socket type B (NEMA 10-50)"),
  C(59, { "NEMA_14_30" }, "Domestic plug/socket type B (NEMA 14-30)"),
  C(61, { "DOMESTIC_N" }, "Domestic plug/socket type N (NBR 14136, 3 pins)"),
  C(62, { "DOMESTIC_O" }, "Domestic plug/socket type O (TIS 166-2549, 3 pins)"),
  C(63, { "CHAOJI" }, "ChaoJi connector (CHAdeMO 3.0)", "ChaoJi"),
  C(64, { "PANTOGRAPH_TOP_DOWN" }, "Cross-rail pantograph (SAE J3105-1)"),
  C(65, { "PANTOGRAPH_BOTTOM_UP" }, "Bus-up pantograph (SAE J3105-2)"),
  C(66, { "TESLA_R" }, "Tesla Connector R", "Tesla Roadster connector"),
  C(67, { "MCS" }, "MCS (Megawatt Charging System)", "Megawatt Charging System (MCS)"),
  C(68, { "TESLA_S" }, "Tesla Proprietary Connector (TESLA_S)", "Tesla connector Model-S-type (oval, 5 pin)"),
  U(0, "CONNECTOR_TYPE_UNDEFINED"),
  U(1, "UNRECOGNIZED"),
  U(2, nil),
  D(3, "Small Paddle Inductive"),
  D(4, "Large Paddle Inductive"),
  D(10, "Domestic plug/socket type E+F (CEE 7/7)"),
  D(14, "Domestic plug/socket type I (CPCS-CCC)"),
  D(15, "Domestic plug/socket type I (IRAM 2073)"),
  D(16, "Domestic plug/socket type J (SEV 1011) (T13)"),
  D(17, "Domestic plug/socket type J (SEV 1011) (T15)"),
  D(18, "Domestic plug/socket type J (SEV 1011) (T23)"),
  D(19, "Domestic plug/socket type J (SEV 1011) (T25)"),
  D(21, "Domestic plug/socket type K (Thailand TIS 166 - 2549)"),
  D(24, "Domestic plug/socket type IEC 60906-1 (3 pin)"),
  D(25, "AVCON Connector"),
  D(26, "Tesla Connector (high power wall)"),
  D(27, "Tesla Connector (universal mobile)"),
  D(28, "Tesla Connector (spare mobile)"),
  D(37, "IEC 60309 : industrial 2P + E (AC)"),
  D(38, "IEC 60309 : industrial P + N + E (AC) (CEEPlus)"),
  D(39, "IEC 60309 : industrial 3P + N + E (AC) (CEEPlus)"),
  D(40, "Better place plug/socket"),
  D(41, "Marechal plug/socket"),
  D(44, "IEC 61851-1"),
  D(45, "IEC 62196-2 type 2 (SAE J1772)"),
  D(46, "IEC 60309 : industrial 2P + E (DC)"),
  D(47, "I-type AS/NZ 3112 (Australian 15A/240V)"),
  D(54, "IEC 62196-2 type 2"),
  D(60, "Domestic plug/socket type M (BS 546, 3 pin, 15A)"),
}

local BY_ID, BY_STANDARD, BY_PLACEHOLDER, STANDARDS = {}, {}, {}, {}
for _, r in ipairs(ROWS) do
  BY_ID[r.id] = r
  for _, s in ipairs(r.standards) do
    BY_STANDARD[s] = r
    STANDARDS[#STANDARDS + 1] = s
  end
  if r.placeholder then BY_PLACEHOLDER[r.placeholder] = r end
end

local function copy_array(a)
  local out = {}
  for i, v in ipairs(a) do out[i] = v end
  return out
end

local function copy_row(r)
  return { id = r.id, standards = copy_array(r.standards), name = r.name,
    common_name = r.common_name, placeholder = r.placeholder, state = r.state }
end

-- An id argument: an integral number, or a string of decimal digits (v2 JSON
-- sends ids as strings). Returns the number, or false for a string that is
-- not an id; raises for anything else.
local function id_of(fname, what, v, expect)
  local tv = type(v)
  if tv == "string" then
    return v:match("^%d+$") and tonumber(v) or false
  end
  if tv == "number" and v == v and v % 1 == 0 then return v end
  error("evcp.connectors." .. fname .. ": argument #1 (" .. what .. ") must be " .. expect
    .. ", got " .. (tv == "number" and tostring(v) or tv), 3)
end

--- connectors.v2_to_v3(id) -> array of v3 standards, or nil, reason.
-- `id` is an integer or a string of digits ("31"). reason is "deprecated",
-- "unused" (ids 0, 1, 2) or "unknown" (no such row, or a string that is not
-- an id).
function M.v2_to_v3(id)
  local n = id_of("v2_to_v3", "id", id, "an integer or a string of digits")
  local r = n and BY_ID[n]
  if not r then return nil, "unknown" end
  if r.state ~= "current" then return nil, r.state end
  return copy_array(r.standards)
end

--- connectors.v3_to_v2(standard) -> integer v2 id, or nil, reason.
-- `standard` is spelled as the v3 API spells it (upper case). reason is
-- "unknown", or "unused" for the placeholders of ids 0 and 1.
function M.v3_to_v2(standard)
  if type(standard) ~= "string" then
    error("evcp.connectors.v3_to_v2: argument #1 (standard) must be a string, got " .. type(standard), 2)
  end
  local r = BY_STANDARD[standard]
  if r then return r.id end
  if BY_PLACEHOLDER[standard] then return nil, "unused" end
  return nil, "unknown"
end

--- connectors.info(key) -> row, or nil, "unknown".
-- `key` is a v2 id (integer or string of digits), a v3 standard or a
-- placeholder of an unused id. Deprecated and unused ids give their row.
function M.info(key)
  local n = id_of("info", "key", key, "an integer or a string")
  local r
  if n then
    r = BY_ID[n]
  else
    r = BY_STANDARD[key] or BY_PLACEHOLDER[key]
  end
  if not r then return nil, "unknown" end
  return copy_row(r)
end

--- connectors.rows() -> iterator over copies of all rows in the guide's order.
function M.rows()
  local i = 0
  return function()
    i = i + 1
    local r = ROWS[i]
    return r and copy_row(r)
  end
end

-- connectors.V2: array of (copies of) all rows in the guide's order.
-- connectors.V3: array of every v3 standard the table names, in its order.
-- Both are built afresh on each access.
local FIELDS = {
  V2 = function()
    local out = {}
    for i, r in ipairs(ROWS) do out[i] = copy_row(r) end
    return out
  end,
  V3 = function() return copy_array(STANDARDS) end,
}

return setmetatable(M, {
  __index = function(_, k)
    local f = FIELDS[k]
    if f then return f() end
  end,
})
