#!/usr/bin/env lua5.4
-- strip-openapi.lua: reduce HERE's EV Charge Points v3 OpenAPI document to its
-- structure (paths, parameters, schemas, enums, patterns, limits, examples) by
-- dropping every piece of prose. The result is served by the emulator at
-- /v3/openapi and is used to validate responses against the schemas.
--
-- usage: lua5.4 tools/strip-openapi.lua INPUT.json [OUTPUT.json]
--
-- Removed: every string-valued `description` and `summary`, every `externalDocs`,
-- wherever they occur as keywords (also inside the embedded example document; a
-- schema property that happens to be called `description` or `title` is kept).
-- Response objects keep an empty `description` because OpenAPI 3.0 requires the key.
-- Output: pretty-printed JSON with object keys sorted, so runs are reproducible.

local cjson = require("cjson").new()

local input, output = arg[1], arg[2]
if not input then
  io.stderr:write("usage: lua5.4 tools/strip-openapi.lua INPUT.json [OUTPUT.json]\n")
  os.exit(2)
end

local f = assert(io.open(input, "rb"))
local doc = cjson.decode(f:read("a"))
f:close()

local PROSE = { description = true, summary = true, externalDocs = true }

-- Drop prose keys everywhere except where the key is a name chosen by the API
-- (a schema property called `description`, say): those sit under `properties`.
local function strip(node, parent_key)
  if type(node) ~= "table" then return node end
  for k, v in pairs(node) do
    if type(k) == "string" and PROSE[k] and parent_key ~= "properties" then
      node[k] = nil
    else
      node[k] = strip(v, k)
    end
  end
  return node
end

-- info: keep title and version only (plus anything non-prose).
doc.info.description = nil
for _, tag in ipairs(doc.tags or {}) do tag.description = nil; tag.externalDocs = nil end
doc.externalDocs = nil
doc = strip(doc, nil)

-- Responses referenced with $ref need nothing; inline ones must have a description.
for _, item in pairs(doc.paths) do
  for _, op in pairs(item) do
    if type(op) == "table" and op.responses then
      for _, r in pairs(op.responses) do
        if r["$ref"] == nil then r.description = r.description or "" end
      end
    end
  end
end
for _, r in pairs(doc.components.responses or {}) do
  if r["$ref"] == nil then r.description = r.description or "" end
end

-- Deterministic pretty printer. Empty tables: arrays under `security`, objects elsewhere.
local out = {}
local function emit(s) out[#out + 1] = s end

local function is_array(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local function encode(v, indent, in_security)
  local tv = type(v)
  if tv ~= "table" then
    emit(cjson.encode(v))
    return
  end
  if next(v) == nil then
    emit(in_security and "[]" or "{}")
    return
  end
  local pad = string.rep("  ", indent + 1)
  if is_array(v) then
    emit("[\n")
    for i = 1, #v do
      emit(pad)
      encode(v[i], indent + 1, in_security)
      emit(i < #v and ",\n" or "\n")
    end
    emit(string.rep("  ", indent) .. "]")
  else
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys)
    emit("{\n")
    for i, k in ipairs(keys) do
      emit(pad .. cjson.encode(k) .. ": ")
      encode(v[k], indent + 1, in_security or k == "security")
      emit(i < #keys and ",\n" or "\n")
    end
    emit(string.rep("  ", indent) .. "}")
  end
end

encode(doc, 0, false)
emit("\n")
local text = table.concat(out):gsub("\\/", "/")

if output then
  local o = assert(io.open(output, "wb"))
  o:write(text)
  o:close()
else
  io.write(text)
end
