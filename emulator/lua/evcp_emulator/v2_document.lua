-- evcp_emulator.v2_document: v2's ordered documents, written as JSON or as XML under
-- HERE's mirroring rules (here-v2.md section 5.3), so that both formats of one answer
-- come from one tree.
--
-- An object is a list {k1, v1, k2, v2, ...} made with obj(). A key starting with "@" is
-- an XML attribute (attributes come first) and a plain JSON property. A value is a
-- string, a boolean, an integer, a float box (flt(x), written "22.0" in XML), an object,
-- or an array (arr{...}): in XML the array's items repeat the element; in JSON it is an
-- array, also when it holds one item or none.
--
--   doc.encode(tree, root, "json"|"xml")  the JSON document is the root's content; the
--                                          XML one wraps it in `root` (with HERE's three
--                                          namespace declarations)

local floor, abs = math.floor, math.abs
local concat = table.concat
local byte, sub, gsub, format = string.byte, string.sub, string.gsub, string.format

local M = {}

local NS_DECL = ' xmlns:ev="http://www.here.com/2014/02/ACS-EV"' ..
  ' xmlns:common="http://www.here.com/2014/02/ACS-Common"' ..
  ' xmlns:error="http://www.navteq.com/APND/Error/v2.0"'

-- ---------------------------------------------------------------------------------------
-- ordered documents, written as JSON or XML
--
-- An object is a list {k1, v1, k2, v2, ...} with metatable OBJ. A key starting with "@"
-- is an XML attribute (attributes come first) and a plain JSON property. A value is a
-- string, a boolean, an integer, a float box (FLT, written "22.0" in XML), an object, or
-- an array (ARR): in XML the array's items repeat the element; in JSON it is an array.

local OBJ, ARR, FLT = {}, {}, {}

local function obj() return setmetatable({}, OBJ) end
local function arr(t) return setmetatable(t or {}, ARR) end
local function flt(x) return setmetatable({ x }, FLT) end

local function put(o, k, v)
  if v ~= nil then
    local n = #o
    o[n + 1] = k
    o[n + 2] = v
  end
  return o
end

local JSON_ESC = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
local function json_str(s)
  return '"' .. gsub(s, '[%c"\\]', function(c)
    return JSON_ESC[c] or format("\\u%04x", byte(c))
  end) .. '"'
end

local function num_text(x, xml_float)
  if x == floor(x) and abs(x) < 1e15 then
    if xml_float then return format("%d.0", x) end
    return format("%d", x)
  end
  return format("%.14g", x)
end

local function json_val(v, out)
  local ty = type(v)
  if ty == "string" then
    out[#out + 1] = json_str(v)
  elseif ty == "number" then
    out[#out + 1] = num_text(v, false)
  elseif ty == "boolean" then
    out[#out + 1] = v and "true" or "false"
  else
    local mt = getmetatable(v)
    if mt == FLT then
      out[#out + 1] = num_text(v[1], false)
    elseif mt == ARR then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        json_val(v[i], out)
      end
      out[#out + 1] = "]"
    else
      out[#out + 1] = "{"
      for i = 1, #v, 2 do
        if i > 1 then out[#out + 1] = "," end
        local k = v[i]
        if byte(k, 1) == 64 then k = sub(k, 2) end -- "@"
        out[#out + 1] = json_str(k)
        out[#out + 1] = ":"
        json_val(v[i + 1], out)
      end
      out[#out + 1] = "}"
    end
  end
end

local XML_ESC = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;",
  ["\t"] = "&#9;", ["\n"] = "&#10;", ["\r"] = "&#13;" }
-- characters not allowed in XML 1.0 are dropped
local function xml_text(s)
  s = gsub(s, "[%z\1-\8\11\12\14-\31]", "")
  return (gsub(s, '[&<>"]', XML_ESC))
end
local function xml_attr(s)
  s = gsub(s, "[%z\1-\8\11\12\14-\31]", "")
  return (gsub(s, '[&<>"\t\n\r]', XML_ESC))
end

local function scalar_text(v)
  local ty = type(v)
  if ty == "string" then return xml_text(v) end
  if ty == "number" then return num_text(v, false) end
  if ty == "boolean" then return v and "true" or "false" end
  return num_text(v[1], true) -- FLT
end

local xml_el
local function xml_children(o, out)
  for i = 1, #o, 2 do
    local k, v = o[i], o[i + 1]
    if byte(k, 1) ~= 64 then
      if getmetatable(v) == ARR then
        for j = 1, #v do xml_el(k, v[j], out) end
      else
        xml_el(k, v, out)
      end
    end
  end
end

local function xml_attrs(o, out)
  for i = 1, #o, 2 do
    local k = o[i]
    if byte(k, 1) == 64 then
      out[#out + 1] = " " .. sub(k, 2) .. '="' .. xml_attr(scalar_text(o[i + 1])) .. '"'
    end
  end
end

xml_el = function(name, v, out)
  if type(v) == "table" and getmetatable(v) == OBJ then
    out[#out + 1] = "<" .. name
    xml_attrs(v, out)
    local mark = #out
    out[#out + 1] = ">"
    xml_children(v, out)
    if #out == mark + 1 then
      out[mark + 1] = "/>"
    else
      out[#out + 1] = "</" .. name .. ">"
    end
  else
    out[#out + 1] = "<" .. name .. ">" .. scalar_text(v) .. "</" .. name .. ">"
  end
end

-- The JSON document is the root's content; the XML document wraps it in `root`
-- (with the three namespace declarations).
local function encode(doc, root, fmt)
  local out = {}
  if fmt == "xml" then
    out[1] = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<' .. root .. NS_DECL
    xml_attrs(doc, out)
    out[#out + 1] = ">"
    xml_children(doc, out)
    out[#out + 1] = "</" .. root .. ">\n"
  else
    json_val(doc, out)
  end
  return concat(out)
end
M.encode = encode
M.obj, M.arr, M.flt, M.put = obj, arr, flt, put
M.OBJ, M.ARR, M.FLT = OBJ, ARR, FLT


return M
