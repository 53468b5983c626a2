-- Issue 7 §1: evcp.json.decode bounds what it hands to lua-cjson: size,
-- containers and elements (memory amplification), NUL bytes, numbers that
-- would become inf; tojson refuses strings lua-cjson cannot write safely.
local json = require("evcp.json")
local core = require("evcp.core")
local h = require("helper")

local MiB = 1024 * 1024
local sanitized = os.getenv("EVCP_CHILD_PRELOAD") ~= nil

local child = h.child

describe("evcp.json.decode", function()
  it("decodes HERE's documents with the default limits", function()
    for _, name in ipairs({ "seed-001-evses.json", "seed-001-connectorGroups.json", "here-v2/stations-prox.json" }) do
      local text = h.fixture(name)
      h.assert_identical(h.decode(text), assert(json.decode(text)))
    end
  end)

  it("refuses a NUL byte anywhere (lua-cjson ignores what follows it)", function()
    for _, text in ipairs({ '{"a":1}\0{"b":2}', '{"a":"x\0y"}', '\0', '[1,\0 2]' }) do
      local v, err = json.decode(text)
      assert.is_nil(v)
      assert.matches("NUL byte at offset %d+", err)
    end
  end)

  it("refuses numbers that overflow a double, keeps the rest", function()
    for _, text in ipairs({ '{"a":1e400}', '[-1e999]', '[1.5E+309]', '[' .. string.rep("9", 400) .. ']',
      '{"a":{"b":[0.' .. string.rep("0", 300) .. '1e700]}}', '[17976931348623159e292]' }) do
      local v, err = json.decode(text)
      assert.is_nil(v, text:sub(1, 30))
      assert.matches("too large for a double", err)
    end
    assert.equal(1e308, json.decode("[1e308]")[1])
    assert.equal(0, json.decode("[1e-999]")[1])
    assert.equal(1.7976931348623157e308, json.decode("[17976931348623157e292]")[1])
    assert.equal("1e999", json.decode('{"s":"1e999"}').s)
    assert.equal("\\\"1e999", json.decode('["\\\\\\"1e999"]')[1])
  end)

  it("caps the size at max_bytes (32 MiB by default)", function()
    local text = string.rep(" ", 32 * MiB) .. "1"
    local v, err = json.decode(text)
    assert.is_nil(v)
    assert.matches("larger than 33554432 bytes", err)
    assert.equal(1, json.decode(text, { max_bytes = 33 * MiB }))
    v, err = json.decode("[1, 2]", { max_bytes = 5 })
    assert.is_nil(v)
    assert.matches("6 bytes is larger than 5 bytes", err)
  end)

  it("bounds containers and elements, by count and per byte", function()
    assert.is_nil((json.decode("[[1],[2]]", { max_containers = 2 })))
    assert.is_table(json.decode("[[1],[2]]", { max_containers = 3 }))
    local v, err = json.decode("[1,2,3]", { max_elements = 2 })
    assert.is_nil(v)
    assert.matches("more than 2 elements", err)
    -- dense shapes are refused whatever the limits
    v, err = json.decode('{"items":[' .. string.rep("{},", 100000) .. '{}]}', { max_containers = 1e9 })
    assert.is_nil(v)
    assert.matches("more than %d+ objects and arrays", err)
    v, err = json.decode("[" .. string.rep("1,", 100000) .. "1]")
    assert.is_nil(v)
    assert.matches("more than %d+ elements", err)
    -- commas and brackets inside strings are not structure
    assert.is_table(json.decode('["' .. string.rep("[{,", 100000) .. '"]'))
  end)

  it("counts alike with the 64-byte block scan and the exact scan", function()
    local texts = { h.fixture("seed-001-evses.json"), h.fixture("here-v2/stations-prox.json") }
    local seed = 12345
    local function rand(n) -- a small LCG: the same documents on every runtime
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed % n + 1
    end
    local parts = { "a", "\\\\", '\\"', "{", "[", ",", " ", "1e5", "\\u0041" }
    local function str()
      local t = {}
      for i = 1, rand(10) - 1 do t[i] = parts[rand(#parts)] end
      return '"' .. table.concat(t) .. '"'
    end
    local function value(d)
      local k = rand(d > 3 and 3 or 5)
      if k == 1 then return str() end
      if k == 2 then return ({ "12", "-0.5", "3E-7", "true", "null" })[rand(5)] end
      if k == 3 then return "[]" end
      local t = {}
      for i = 1, rand(6) - 1 do t[i] = (k == 4 and "" or (str() .. ":")) .. value(d + 1) end
      return k == 4 and ("[" .. table.concat(t, ",") .. "]") or ("{" .. table.concat(t, ",") .. "}")
    end
    for _ = 1, 3000 do texts[#texts + 1] = string.rep(" ", rand(70)) .. value(0) end
    for _, text in ipairs(texts) do
      local a, b, c = core.json_scan(text)
      local x, y, z = core.json_scan(text, nil, nil, true)
      assert.same({ x, y, z }, { a, b, c })
      assert.is_true(a, text)
    end
  end)

  it("raises on bad arguments, naming them", function()
    assert.has_error(function() json.decode(nil) end, "evcp.json.decode: argument #1 (text) must be a string, got nil")
    assert.has_error(function() json.decode("1", 5) end, "evcp.json.decode: argument #2 (limits) must be a table, got number")
    assert.has_error(function() json.decode("1", { max_byte = 1 }) end, "evcp.json.decode: unknown limit 'max_byte'")
    assert.has_error(function() json.decode("1", { max_bytes = -1 }) end)
    assert.has_error(function() json.decode("1", { max_elements = "x" }) end)
  end)

  it("raises at the caller's line for bad limits", function()
    local ok, err = pcall(function() json.decode("1", { max_bytes = -1 }) end)
    assert.is_false(ok)
    assert.matches("^[^:]*12%-json_bounds_spec.lua:%d+: evcp.json.decode: limits.max_bytes must be a number >= 0", err)
  end)

  it("json.decoder checks the limits once and decodes as json.decode does", function()
    local limits = { max_bytes = 20, max_elements = 3 }
    local dec = json.decoder(limits)
    for _, text in ipairs({ "[1,2,3]", "[1,2,3,4]", '{"a":[1]}', string.rep(" ", 20) .. "1", "[1e400]", "{", "" }) do
      local a, ea = json.decode(text, limits)
      local b, eb = dec(text)
      h.assert_identical(a, b)
      assert.equal(ea, eb)
    end
    -- the limits were copied when it was made
    limits.max_bytes = 1
    assert.same({ 1, 2, 3 }, dec("[1,2,3]"))
    h.assert_identical(h.decode(h.fixture("seed-001-evses.json")), json.decoder()(h.fixture("seed-001-evses.json")))
    assert.has_error(function() json.decoder({ max_byte = 1 }) end, "evcp.json.decoder: unknown limit 'max_byte'")
    assert.has_error(function() json.decoder(7) end, "evcp.json.decoder: argument #1 (limits) must be a table, got number")
    assert.has_error(function() json.decoder({ max_elements = 0 / 0 }) end)
    assert.has_error(function() dec(nil) end, "evcp.json.decoder: argument #1 (text) must be a string, got nil")
  end)

  it("keeps peak memory of a 63 MiB body of {} items under 8 times its size #slow", function()
    local out, hwm = child([[
      local json = require("evcp.json")
      local n = math.floor((63 * 1024 * 1024 - 12) / 3)
      local body = '{"items":[' .. string.rep("{},", n - 1) .. '{}]}'
      print("SIZE " .. #body)
      local v, err = json.decode(body, { max_bytes = 64 * 1024 * 1024 })
      print("RESULT " .. tostring(v) .. " " .. tostring(err))
      v, err = json.decode(body)
      print("DEFAULT " .. tostring(v) .. " " .. tostring(err))
    ]])
    local size = tonumber(out:match("SIZE (%d+)"))
    assert.is_number(size, out)
    assert.matches("RESULT nil JSON: more than %d+ objects and arrays", out)
    assert.matches("DEFAULT nil JSON text of %d+ bytes is larger than 33554432 bytes", out)
    if hwm and not sanitized then
      assert.is_true(hwm < 8 * size, ("peak RSS %d MB for a %d MB body"):format(math.floor(hwm / MiB), math.floor(size / MiB)))
    end
  end)
end)

describe("obj:tojson()", function()
  local function loc_with(fields)
    local doc = { id = "x", location = { lat = 0, lng = 0 } }
    for k, v in pairs(fields) do doc[k] = v end
    return assert(core.location(doc))
  end

  it("refuses a string longer than 64 MiB before encoding (lua-cjson 2.1.0 overflows past ~358 MB)", function()
    local big = string.rep("x", 64 * MiB + 1)
    local ok, err = pcall(function() return loc_with({ name = big }):tojson() end)
    assert.is_false(ok)
    assert.matches("evcp:tojson: a string of 67108865 bytes is longer than tojson writes %(67108864 bytes%)", err)
    ok, err = pcall(function() return loc_with({ [big] = 1 }):tojson() end)
    assert.is_false(ok)
    assert.matches("longer than tojson writes", err)
  end)

  it("refuses a document whose strings total more than 256 MiB", function()
    local s = string.rep("y", 60 * MiB)
    local ok, err = pcall(function() return loc_with({ a = s, b = s, c = s, d = s, e = s }):tojson() end)
    assert.is_false(ok)
    assert.matches("strings total more than 268435456 bytes", err)
  end)

  it("still writes a 1 MiB string", function()
    local s = string.rep("z", MiB)
    assert.equal(s, h.decode(loc_with({ name = s }):tojson()).name)
  end)
end)
