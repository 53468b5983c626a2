-- A small validator for the OpenAPI 3.0 schema subset HERE's EV Charge Points
-- document uses (spec helper; pure Lua, runs on Lua 5.1 to 5.4 and LuaJIT).
--
--   local V = require "openapi_validator"
--   local ok, errs = V.validate(doc, { ["$ref"] = "#/components/schemas/Evse" }, value)
--   -- errs: { '$.evses[0].status: "foo" not in enum', ... }  (paths are 0-based)
--
-- Supported: $ref (#/...), allOf, type (object, array, string, integer,
-- number, boolean), nullable, properties, required, additionalProperties
-- (false / true / a schema), items, minItems, maxItems, uniqueItems, enum,
-- minimum, maximum, exclusiveMinimum/Maximum (3.0 booleans), minLength,
-- maxLength, pattern, format date and date-time. oneOf, anyOf and not are
-- reported as unsupported (the document does not use them) rather than
-- silently accepted. Annotations (example, default, x-*) are ignored.
--
-- Values are Lua values as lua-cjson decodes them. Because an empty Lua
-- table cannot tell [] from {}, V.decode(text) marks the empty objects of a
-- JSON text with V.OBJECT (a metatable): an unmarked empty table is an
-- array, a marked one an object. JSON null is V.null (cjson.null when
-- lua-cjson is installed).
--
-- Patterns: the ECMA-262 regexes of the document are translated into one or
-- more Lua patterns (a value matches when any of them matches): literals,
-- escapes, character classes, `.`, `^`/`$` at the ends, quantifiers on single
-- items (`*`, `+`, `?`, `{n}`, `{n,m}`, `{n,}` expanded), and groups that are
-- unquantified or `?` (alternations expanded). A regex outside that subset
-- (a group under `*`, `+` or `{}`, backreferences, lookarounds...) is not
-- checked: it is recorded in V.skipped_patterns (regex -> reason).
local M = {}

local type, pairs, ipairs, tostring, tonumber = type, pairs, ipairs, tostring, tonumber
local floor, huge = math.floor, math.huge
local concat, sort = table.concat, table.sort
local format = string.format

-- ---------------------------------------------------------------------------
-- JSON values

local ok_cjson, cjson = pcall(require, "cjson")
M.null = ok_cjson and cjson.null or setmetatable({}, { __tostring = function() return "null" end })

--- Metatable marking an empty JSON object (see V.decode).
M.OBJECT = { __name = "json.object" }

function M.empty_object() return setmetatable({}, M.OBJECT) end

local EMPTY_KEY = "\0openapi-validator-empty-object"

-- Rewrites every empty object `{}` of a JSON text (outside strings) into
-- {"\u0000openapi-validator-empty-object":true} so that it survives decoding.
local function mark_empty_objects(text)
  local out, last, i = {}, 1, 1
  while true do
    local p = text:find('[{"]', i)
    if not p then break end
    if text:byte(p) == 34 then -- a string: skip to its closing quote
      local j = p + 1
      while true do
        local q = text:find('["\\]', j)
        if not q then return text end -- malformed; the decoder will say so
        if text:byte(q) == 92 then j = q + 2 else i = q + 1; break end
      end
    else
      local q = text:find("[^ \t\r\n]", p + 1)
      if q and text:byte(q) == 125 then
        out[#out + 1] = text:sub(last, p)
        out[#out + 1] = '"\\u0000openapi-validator-empty-object":true'
        last, i = q, q + 1
      else
        i = p + 1
      end
    end
  end
  if last == 1 then return text end
  out[#out + 1] = text:sub(last)
  return concat(out)
end

local function unmark(v)
  if type(v) ~= "table" then return v end
  if v[EMPTY_KEY] ~= nil and next(v, next(v)) == nil then
    return setmetatable({}, M.OBJECT)
  end
  for k, x in pairs(v) do
    if type(x) == "table" then v[k] = unmark(x) end
  end
  return v
end

--- Decodes a JSON text with lua-cjson, keeping [] and {} apart. Raises on bad JSON.
function M.decode(text, decoder)
  decoder = decoder or cjson.new().decode
  return unmark(decoder(mark_empty_objects(text)))
end

-- "array", "object" or nil (not a table); an empty table is an array unless
-- marked with M.OBJECT.
local function table_kind(v)
  if type(v) ~= "table" then return nil end
  local mt = getmetatable(v)
  if mt == M.OBJECT then return "object" end
  local n = #v
  if n == 0 then
    if next(v) == nil then return "array" end
    return "object"
  end
  local count = 0
  for k in pairs(v) do
    if type(k) ~= "number" or k < 1 or k > n or k ~= floor(k) then return "object" end
    count = count + 1
  end
  if count ~= n then return "object" end
  return "array"
end

local function json_type(v)
  if v == M.null then return "null" end
  local t = type(v)
  if t == "table" then return table_kind(v) end
  if t == "number" or t == "string" or t == "boolean" then return t end
  return t -- function, userdata...: never valid
end

local function is_integer(v)
  return type(v) == "number" and v == v and v ~= huge and v ~= -huge and v == floor(v)
end

local function number_text(v)
  if is_integer(v) and v > -2^53 and v < 2^53 then return format("%d", v) end
  local s = format("%.14g", v)
  if tonumber(s) ~= v then s = format("%.17g", v) end
  return s
end

-- Canonical JSON text (sorted keys), for uniqueItems and messages.
local function canonical(v, out)
  local t = json_type(v)
  if t == "null" then out[#out + 1] = "null"
  elseif t == "boolean" then out[#out + 1] = tostring(v)
  elseif t == "number" then out[#out + 1] = number_text(v)
  elseif t == "string" then out[#out + 1] = format("%q", v):gsub("\\\n", "\\n")
  elseif t == "array" then
    out[#out + 1] = "["
    for i = 1, #v do
      if i > 1 then out[#out + 1] = "," end
      canonical(v[i], out)
    end
    out[#out + 1] = "]"
  elseif t == "object" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    sort(keys)
    out[#out + 1] = "{"
    for i, k in ipairs(keys) do
      if i > 1 then out[#out + 1] = "," end
      out[#out + 1] = format("%q", k)
      out[#out + 1] = ":"
      canonical(v[k], out)
    end
    out[#out + 1] = "}"
  else
    out[#out + 1] = "<" .. tostring(t) .. ">"
  end
  return out
end

function M.canonical(v) return concat(canonical(v, {})) end

local function show(v)
  local s = M.canonical(v)
  if #s > 80 then s = s:sub(1, 77) .. "..." end
  return s
end
M.show = show

-- Length in characters (UTF-8 code points), as JSON Schema counts.
local function utf8_len(s)
  local _, cont = s:gsub("[\128-\191]", "")
  return #s - cont
end

-- ---------------------------------------------------------------------------
-- ECMA regex -> Lua patterns

M.skipped_patterns = {}

local MAX_ALTERNATIVES = 256
local BOL, EOL = "\1", "\2" -- anchor markers during expansion

local function lua_escape_char(c)
  if c:find("^[%^%$%(%)%%%.%[%]%*%+%-%?]$") then return "%" .. c end
  if c == "\0" then error({ regex_error = "NUL character" }, 0) end
  return c
end

local function class_escape_char(c)
  if c == "%" or c == "]" or c == "-" or c == "^" or c == "[" then return "%" .. c end
  return c
end

local SIMPLE_ESCAPES = { n = "\n", r = "\r", t = "\t", f = "\f", v = "\v", ["0"] = "\0" }
local CLASS_ESCAPES = { d = "%d", D = "%D", s = "%s", S = "%S", w = "%w_", W = false }

-- Parser: returns an alternation node { alts = { seq, ... } } where a seq is
-- a list of items { kind = "atom", lua = "..." } | { kind = "group", alt = ...}
-- | { kind = "bol" } | { kind = "eol" }, each with optional min/max.
local function parse_regex(re)
  local pos = 1
  local function fail(why) error({ regex_error = why }, 0) end

  local function parse_class()
    -- at '[' ; returns a Lua class item
    pos = pos + 1
    local negate = false
    if re:sub(pos, pos) == "^" then negate = true; pos = pos + 1 end
    local parts, first = {}, true
    while true do
      local c = re:sub(pos, pos)
      if c == "" then fail("unterminated character class") end
      if c == "]" and not first then pos = pos + 1; break end
      if c == "]" and first then fail("empty character class") end
      first = false
      local lit
      if c == "\\" then
        local e = re:sub(pos + 1, pos + 1)
        pos = pos + 2
        if CLASS_ESCAPES[e] then parts[#parts + 1] = CLASS_ESCAPES[e]
        elseif CLASS_ESCAPES[e] == false then fail("\\" .. e .. " inside a class")
        elseif SIMPLE_ESCAPES[e] then lit = SIMPLE_ESCAPES[e]
        elseif e:find("^[%w]$") then fail("escape \\" .. e)
        else lit = e end
      else
        lit = c
        pos = pos + 1
      end
      if lit then
        -- a range lit-x ?
        if re:sub(pos, pos) == "-" and re:sub(pos + 1, pos + 1) ~= "]" and re:sub(pos + 1, pos + 1) ~= "" then
          local hi = re:sub(pos + 1, pos + 1)
          if hi == "\\" then fail("escaped range end") end
          pos = pos + 2
          if lit:byte() > 127 or hi:byte() > 127 then fail("non-ASCII range") end
          parts[#parts + 1] = class_escape_char(lit) .. "-" .. class_escape_char(hi)
        else
          if lit:byte() > 127 then fail("non-ASCII character in a class") end
          parts[#parts + 1] = class_escape_char(lit)
        end
      end
    end
    return "[" .. (negate and "^" or "") .. concat(parts) .. "]"
  end

  local parse_alt

  local function parse_quant(item)
    local c = re:sub(pos, pos)
    local min, max
    if c == "*" then min, max = 0, nil; pos = pos + 1
    elseif c == "+" then min, max = 1, nil; pos = pos + 1
    elseif c == "?" then min, max = 0, 1; pos = pos + 1
    elseif c == "{" then
      local s1, s2, s3, after = re:match("^{(%d+)(,?)(%d*)}()", pos)
      if not s1 then return item end -- a literal '{'
      min = tonumber(s1)
      if s2 == "" then max = min elseif s3 == "" then max = nil else max = tonumber(s3) end
      if max and max < min then fail("bad quantifier") end
      pos = after
    else
      return item
    end
    if re:sub(pos, pos) == "?" then pos = pos + 1 end -- lazy: same set of matches
    if item.kind == "bol" or item.kind == "eol" then fail("quantified anchor") end
    if item.min then fail("nested quantifier") end
    item.min, item.max = min, max
    return item
  end

  local function parse_seq()
    local seq = {}
    while pos <= #re do
      local c = re:sub(pos, pos)
      local item
      if c == "|" or c == ")" then break
      elseif c == "^" then item = { kind = "bol" }; pos = pos + 1
      elseif c == "$" then item = { kind = "eol" }; pos = pos + 1
      elseif c == "(" then
        pos = pos + 1
        if re:sub(pos, pos) == "?" then
          if re:sub(pos + 1, pos + 1) == ":" then pos = pos + 2
          else fail("lookaround or named group") end
        end
        local alt = parse_alt()
        if re:sub(pos, pos) ~= ")" then fail("unbalanced parenthesis") end
        pos = pos + 1
        item = { kind = "group", alt = alt }
      elseif c == "[" then item = { kind = "atom", lua = parse_class() }
      elseif c == "." then item = { kind = "atom", lua = "[^\n\r]" }; pos = pos + 1
      elseif c == "\\" then
        local e = re:sub(pos + 1, pos + 1)
        pos = pos + 2
        if e == "" then fail("trailing backslash")
        elseif CLASS_ESCAPES[e] then
          local cls = CLASS_ESCAPES[e]
          item = { kind = "atom", lua = (#cls > 2) and ("[" .. cls .. "]") or cls }
        elseif e == "W" then item = { kind = "atom", lua = "[^%w_]" }
        elseif SIMPLE_ESCAPES[e] then item = { kind = "atom", lua = lua_escape_char(SIMPLE_ESCAPES[e]) }
        elseif e:find("^%w$") then fail("escape \\" .. e)
        else item = { kind = "atom", lua = lua_escape_char(e) } end
      elseif c == "*" or c == "+" or c == "?" then fail("nothing to repeat")
      else
        if c:byte() > 127 then fail("non-ASCII literal") end
        item = { kind = "atom", lua = lua_escape_char(c) }
        pos = pos + 1
      end
      seq[#seq + 1] = parse_quant(item)
    end
    return seq
  end

  function parse_alt()
    local alts = { parse_seq() }
    while re:sub(pos, pos) == "|" do
      pos = pos + 1
      alts[#alts + 1] = parse_seq()
    end
    return { alts = alts }
  end

  local tree = parse_alt()
  if pos <= #re then fail("unbalanced parenthesis") end
  return tree
end

local expand_alt

local function product(a, b)
  local out = {}
  for _, x in ipairs(a) do
    for _, y in ipairs(b) do
      out[#out + 1] = x .. y
      if #out > MAX_ALTERNATIVES then error({ regex_error = "too many alternatives" }, 0) end
    end
  end
  return out
end

local function expand_item(item)
  if item.kind == "bol" then return { BOL } end
  if item.kind == "eol" then return { EOL } end
  if item.kind == "atom" then
    local a, min, max = item.lua, item.min, item.max
    if not min then return { a } end
    local s = a:rep(min)
    if max == nil then return { s .. a .. "*" } end
    return { s .. (a .. "?"):rep(max - min) }
  end
  -- group
  local inner = expand_alt(item.alt)
  if not item.min then return inner end
  if item.min == 0 and item.max == 1 then
    local out = { "" }
    for _, x in ipairs(inner) do out[#out + 1] = x end
    return out
  end
  if item.max and item.max == item.min and item.min <= 8 then
    local out = { "" }
    for _ = 1, item.min do out = product(out, inner) end
    return out
  end
  error({ regex_error = "a group repeated with *, + or {n,m}" }, 0)
end

function expand_alt(node)
  local out = {}
  for _, seq in ipairs(node.alts) do
    local acc = { "" }
    for _, item in ipairs(seq) do acc = product(acc, expand_item(item)) end
    for _, x in ipairs(acc) do
      out[#out + 1] = x
      if #out > MAX_ALTERNATIVES then error({ regex_error = "too many alternatives" }, 0) end
    end
  end
  return out
end

-- Turns an expanded alternative (with anchor markers) into a Lua pattern, or
-- false when it can never match (an anchor in the middle), or raises.
local function finish(alt)
  local anchored_start, anchored_end = false, false
  local body = alt
  local lead = body:match("^" .. BOL .. "+")
  if lead then anchored_start = true; body = body:sub(#lead + 1) end
  local tail = body:match(EOL .. "+$")
  if tail then anchored_end = true; body = body:sub(1, #body - #tail) end
  -- `$` directly followed by `^` etc. in the middle: only an empty-string match could pass
  if body:find(BOL, 1, true) or body:find(EOL, 1, true) then
    error({ regex_error = "an anchor inside the pattern" }, 0)
  end
  -- a trailing Lua "%" escape for "$" is fine; a bare "$" never reaches here
  return (anchored_start and "^" or "") .. body .. (anchored_end and "$" or "")
end

-- Can the (sub)regex match the empty string? Anchors count as "no" (the
-- caller only asks about anchor-free regexes).
local nullable_alt
local function nullable_item(item)
  if item.kind == "bol" or item.kind == "eol" then return false, true end
  if item.min == 0 then
    if item.kind == "group" then
      local _, anchored = nullable_alt(item.alt)
      return true, anchored
    end
    return true, false
  end
  if item.kind == "group" then return nullable_alt(item.alt) end
  return false, false
end

-- returns nullable, has_anchor
function nullable_alt(node)
  local any, anchored = false, false
  for _, seq in ipairs(node.alts) do
    local all = true
    for _, item in ipairs(seq) do
      local n, a = nullable_item(item)
      if a then anchored = true end
      if not n then all = false end
    end
    if all then any = true end
  end
  return any, anchored
end

local compiled = {}

--- Translates an ECMA regex; returns a list of Lua patterns, or nil and a reason.
function M.compile_pattern(re)
  local c = compiled[re]
  if c ~= nil then
    if c == false then return nil, M.skipped_patterns[re] end
    return c
  end
  local ok, res = pcall(function()
    local tree = parse_regex(re)
    -- An unanchored regex that can match the empty string matches every
    -- string (ECMA `test` searches): e.g. "(([^:]*:)*)(.*)".
    local empty_ok, anchored = nullable_alt(tree)
    if empty_ok and not anchored then return { "" } end
    local pats = {}
    for _, alt in ipairs(expand_alt(tree)) do pats[#pats + 1] = finish(alt) end
    return pats
  end)
  if ok then
    compiled[re] = res
    return res
  end
  local why = type(res) == "table" and res.regex_error or tostring(res)
  compiled[re] = false
  M.skipped_patterns[re] = why
  return nil, why
end

--- Does string s match the ECMA regex re? true, false, or nil when skipped.
function M.regex_match(re, s)
  local pats = M.compile_pattern(re)
  if not pats then return nil end
  for _, p in ipairs(pats) do
    if s:find(p) then return true end
  end
  return false
end

--- Compiles every `pattern` found anywhere in doc (so that skipped ones are listed).
function M.compile_all(doc)
  local seen = {}
  local function walk(x)
    if type(x) ~= "table" or seen[x] then return end
    seen[x] = true
    if type(x.pattern) == "string" and (x.type == "string" or x.type == nil) then
      M.compile_pattern(x.pattern)
    end
    for _, v in pairs(x) do walk(v) end
  end
  walk(doc)
  return M.skipped_patterns
end

-- ---------------------------------------------------------------------------
-- formats

local function leap(y) return (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0 end
local MDAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

local function valid_date(y, m, d)
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if m < 1 or m > 12 or d < 1 then return false end
  local last = MDAYS[m]
  if m == 2 and leap(y) then last = 29 end
  return d <= last
end

local FORMATS = {}

function FORMATS.date(s)
  local y, m, d = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
  return y ~= nil and valid_date(y, m, d)
end

-- RFC 3339 date-time: 2024-05-31T13:41:49.270Z, ...+02:00
FORMATS["date-time"] = function(s)
  local y, m, d, hh, mm, ss, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt](%d%d):(%d%d):(%d%d)(.*)$")
  if not y or not valid_date(y, m, d) then return false end
  if tonumber(hh) > 23 or tonumber(mm) > 59 or tonumber(ss) > 60 then return false end
  rest = rest:gsub("^%.%d+", "", 1)
  if rest == "Z" or rest == "z" then return true end
  local oh, om = rest:match("^[%+%-](%d%d):(%d%d)$")
  return oh ~= nil and tonumber(oh) <= 23 and tonumber(om) <= 59
end

M.FORMATS = FORMATS

-- ---------------------------------------------------------------------------
-- validation

local function resolve(doc, ref)
  if ref:sub(1, 2) ~= "#/" then error("unsupported $ref " .. ref) end
  local node = doc
  for part in ref:sub(3):gmatch("[^/]+") do
    part = part:gsub("~1", "/"):gsub("~0", "~")
    if type(node) ~= "table" then node = nil; break end
    node = node[part]
  end
  if node == nil then error("unresolvable $ref " .. ref) end
  return node
end
M.resolve = resolve

local function child_path(path, key)
  if type(key) == "number" then return path .. "[" .. key .. "]" end
  if key:find("^[%a_][%w_]*$") then return path .. "." .. key end
  return path .. "[" .. format("%q", key) .. "]"
end

local TYPE_OK = {
  object = function(v) return json_type(v) == "object" end,
  array = function(v) return json_type(v) == "array" end,
  string = function(v) return type(v) == "string" end,
  integer = function(v) return is_integer(v) end,
  number = function(v) return type(v) == "number" and v == v end,
  boolean = function(v) return type(v) == "boolean" end,
}

local UNSUPPORTED = { oneOf = true, anyOf = true, ["not"] = true, discriminator = true,
  patternProperties = true, ["if"] = true, const = true }

local validate

local function validate_object(doc, s, v, path, errs)
  if s.properties then
    for name, sub in pairs(s.properties) do
      local x = v[name]
      if x ~= nil then validate(doc, sub, x, child_path(path, name), errs) end
    end
  end
  if s.required then
    for _, name in ipairs(s.required) do
      if v[name] == nil then errs[#errs + 1] = child_path(path, name) .. ": required property missing" end
    end
  end
  local ap = s.additionalProperties
  if ap == nil and errs.strict and s.properties and not s.allOf then ap = "undeclared" end
  if ap ~= nil and ap ~= true then
    local names = {}
    for k in pairs(v) do
      if type(k) ~= "string" then
        errs[#errs + 1] = path .. ": non-string key " .. tostring(k)
      elseif not (s.properties and s.properties[k] ~= nil) then
        names[#names + 1] = k
      end
    end
    sort(names)
    for _, k in ipairs(names) do
      if ap == false then
        errs[#errs + 1] = child_path(path, k) .. ": additional property not allowed"
      elseif ap == "undeclared" then
        errs[#errs + 1] = child_path(path, k) .. ": property not declared by the schema (strict)"
      elseif type(ap) == "table" then
        validate(doc, ap, v[k], child_path(path, k), errs)
      end
    end
  end
end

local function validate_array(doc, s, v, path, errs)
  local n = #v
  if s.minItems and n < s.minItems then
    errs[#errs + 1] = format("%s: %d items, fewer than minItems %d", path, n, s.minItems)
  end
  if s.maxItems and n > s.maxItems then
    errs[#errs + 1] = format("%s: %d items, more than maxItems %d", path, n, s.maxItems)
  end
  if s.uniqueItems and n > 1 then
    local seen = {}
    for i = 1, n do
      local key = M.canonical(v[i])
      if seen[key] then
        errs[#errs + 1] = format("%s: items [%d] and [%d] are equal (uniqueItems): %s",
          path, seen[key] - 1, i - 1, show(v[i]))
      else
        seen[key] = i
      end
    end
  end
  if s.items then
    for i = 1, n do validate(doc, s.items, v[i], child_path(path, i - 1), errs) end
  end
end

local function validate_string(s, v, path, errs)
  if s.minLength or s.maxLength then
    local len = utf8_len(v)
    if s.minLength and len < s.minLength then
      errs[#errs + 1] = format("%s: %s shorter than minLength %d", path, show(v), s.minLength)
    end
    if s.maxLength and len > s.maxLength then
      errs[#errs + 1] = format("%s: %s longer than maxLength %d", path, show(v), s.maxLength)
    end
  end
  if s.pattern then
    local m = M.regex_match(s.pattern, v)
    if m == false then
      errs[#errs + 1] = format("%s: %s does not match pattern %s", path, show(v), s.pattern)
    end
  end
  if s.format and FORMATS[s.format] and not FORMATS[s.format](v) then
    errs[#errs + 1] = format("%s: %s is not a valid %s", path, show(v), s.format)
  end
end

function validate(doc, s, v, path, errs)
  if type(s) ~= "table" then error("schema at " .. path .. " is not a table") end
  if s["$ref"] then
    -- OpenAPI 3.0: siblings of $ref are ignored
    return validate(doc, resolve(doc, s["$ref"]), v, path, errs)
  end
  for k in pairs(UNSUPPORTED) do
    if s[k] ~= nil then
      errs[#errs + 1] = path .. ": schema keyword '" .. k .. "' is not supported by this validator"
    end
  end
  if v == M.null and s.nullable == true then return end
  if s.allOf then
    for _, sub in ipairs(s.allOf) do validate(doc, sub, v, path, errs) end
  end
  local jt = json_type(v)
  if s.type then
    local check = TYPE_OK[s.type]
    if not check then error("unknown type '" .. tostring(s.type) .. "' in schema at " .. path) end
    if not check(v) then
      errs[#errs + 1] = format("%s: %s is %s, expected %s", path, show(v),
        jt == "number" and (is_integer(v) and "an integer" or "a number") or ("a" .. (jt:find("^[aeiou]") and "n " or " ") .. jt),
        s.type)
      return
    end
  end
  if s.enum then
    local found = false
    for _, e in ipairs(s.enum) do
      if e == v then found = true; break end
    end
    if not found then errs[#errs + 1] = format("%s: %s not in enum", path, show(v)) end
  end
  if jt == "object" then
    validate_object(doc, s, v, path, errs)
  elseif jt == "array" then
    validate_array(doc, s, v, path, errs)
  elseif jt == "string" then
    validate_string(s, v, path, errs)
  elseif jt == "number" then
    if s.minimum then
      if v < s.minimum or (s.exclusiveMinimum == true and v == s.minimum) then
        errs[#errs + 1] = format("%s: %s below minimum %s", path, number_text(v), number_text(s.minimum))
      end
    end
    if s.maximum then
      if v > s.maximum or (s.exclusiveMaximum == true and v == s.maximum) then
        errs[#errs + 1] = format("%s: %s above maximum %s", path, number_text(v), number_text(s.maximum))
      end
    end
  end
end

--- validate(doc, schema_or_ref, value [, opts]) -> ok, errors
-- schema_or_ref: a schema table or a "#/components/..." string.
-- opts: a string (the root path, default "$") or a table { path = ...,
-- strict = true }; strict also reports members an object schema with
-- `properties` does not declare (OpenAPI allows them unless
-- additionalProperties is false).
function M.validate(doc, schema, value, opts)
  if type(schema) == "string" then schema = { ["$ref"] = schema } end
  if type(opts) ~= "table" then opts = { path = opts } end
  local errs = { strict = opts.strict or nil }
  validate(doc, schema, value, opts.path or "$", errs)
  errs.strict = nil
  return #errs == 0, errs
end

return M
