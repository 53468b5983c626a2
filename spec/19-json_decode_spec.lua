-- evcp's JSON decoder (core.json_decode, csrc/json_decode.c; issue 7 §6).
-- Oracles that are not the decoder: JSONTestSuite's verdicts (y_ accept,
-- n_ refuse), lua-cjson's tables for the same texts (the decoder evcp used
-- before, strictly configured as it was), Lua's own tonumber for number
-- texts, and schema.normalize (the Lua reference of the canonical v2 shape)
-- applied to cjson's tables.
local h = require("spec.helper")
local core = require("evcp.core")
local json = require("evcp.json")
local schema = require("evcp.v2.schema")
local cjson = require("cjson").new()
cjson.decode_invalid_numbers(false)
cjson.decode_max_depth(64)

local decode = core.json_decode
local compiled = core.xml_schema(schema.XML)
local here = debug.getinfo(1, "S").source:match("^@(.*)19%-json_decode_spec%.lua$") or "spec/"
local SUITE = here .. "fixtures/json-test-suite/test_parsing/"
-- Under valgrind (make valgrind sets EVCP_WRAP) the random sweeps run a
-- twentieth of their cases: the same code paths, in minutes instead of hours.
local SWEEP = os.getenv("EVCP_WRAP") and os.getenv("EVCP_WRAP") ~= "" and 0.05 or 1

local same, read = h.assert_identical, h.read

local function suite_files()
  local names = {}
  local p = assert(io.popen("ls '" .. SUITE .. "'"))
  for name in p:lines() do names[#names + 1] = name end
  p:close()
  return names
end

describe("core.json_decode against JSONTestSuite", function()
  local names = suite_files()

  it("has the whole suite (95 y_, 188 n_, 35 i_)", function()
    local count = { y = 0, n = 0, i = 0 }
    for _, name in ipairs(names) do
      local k = name:sub(1, 1)
      count[k] = count[k] + 1
    end
    assert.same({ y = 95, n = 188, i = 35 }, count)
  end)

  it("accepts every y_ text, as lua-cjson reads it", function()
    for _, name in ipairs(names) do
      if name:sub(1, 2) == "y_" then
        local text = read(SUITE .. name)
        local ok, v = pcall(decode, text)
        assert(ok, name .. ": " .. tostring(v))
        local ok2, w = pcall(cjson.decode, text)
        if ok2 then same(w, v, name) end
      end
    end
  end)

  it("refuses every n_ text with a message that says where", function()
    for _, name in ipairs(names) do
      if name:sub(1, 2) == "n_" then
        local ok, msg = pcall(decode, read(SUITE .. name))
        assert(not ok, name .. " was accepted")
        assert.is_string(msg, name)
        assert(msg:match("^JSON: .+ at offset %d+$"), name .. ": " .. msg)
      end
    end
  end)

  it("reads the i_ texts it accepts as lua-cjson does, and never crashes on one", function()
    for _, name in ipairs(names) do
      if name:sub(1, 2) == "i_" then
        local text = read(SUITE .. name)
        local ok, v = pcall(decode, text)
        local ok2, w = pcall(cjson.decode, text)
        if ok and ok2 then same(w, v, name) end
        if not ok then assert(v:match("^JSON: .+ at offset %d+$"), name .. ": " .. v) end
      end
    end
  end)
end)

describe("core.json_decode against lua-cjson", function()
  it("gives cjson's tables for HERE's documents", function()
    for _, name in ipairs({ "here-v2/stations-prox.json", "here-v2/recorded-station-details.json",
      "v2/multi.json", "seed-001-evses.json", "seed-001-connectorGroups.json" }) do
      local text = h.fixture(name)
      same(cjson.decode(text), decode(text), name)
    end
  end)

  -- random documents: cjson writes them, both decoders read them back
  local function rnd_string(rng)
    local parts = {}
    for i = 1, rng(0, 40) do
      local r = rng(1, 10)
      if r <= 6 then parts[i] = string.char(rng(32, 126))
      elseif r == 7 then parts[i] = ({ '"', "\\", "/", "\b", "\f", "\n", "\r", "\t" })[rng(1, 8)]
      elseif r == 8 then parts[i] = string.char(rng(0, 31))
      elseif r == 9 then parts[i] = ({ "é", "€", "𝄞", "\u{7ff}", "\u{ffff}", "\u{10ffff}" })[rng(1, 6)]
      else parts[i] = ("x"):rep(rng(1, 40)) end
    end
    return table.concat(parts)
  end
  local function rnd_number(rng)
    local r = rng(1, 6)
    if r == 1 then return rng(-1000000, 1000000) end
    if r == 2 then return (rng() - 0.5) * 10 ^ rng(-300, 300) end
    if r == 3 then return rng(-180000000, 180000000) / 1000000 end
    if r == 4 then return 2 ^ rng(0, 70) * (rng(0, 1) * 2 - 1) end
    if r == 5 then return rng() end
    return (rng(0, 1) == 0 and 1 or -1) * 0.0
  end
  -- containers: one in ten large (past a chunk), the others small; at most
  -- about 300 values per document
  local function rnd_value(rng, depth, budget)
    local r = rng(1, (depth > 4 or budget[1] <= 0) and 4 or 6)
    budget[1] = budget[1] - 1
    if r == 1 then return rnd_string(rng) end
    if r == 2 then return rnd_number(rng) end
    if r == 3 then return ({ true, false, cjson.null })[rng(1, 3)] end
    if r == 4 then return rnd_string(rng) end
    local size = rng(1, 10) == 1 and rng(30, 140) or rng(0, 6)
    local t = {}
    if r == 5 then
      for i = 1, size do t[i] = rnd_value(rng, depth + 1, budget) end
    else
      for _ = 1, size do t[rnd_string(rng) .. "k"] = rnd_value(rng, depth + 1, budget) end
    end
    return t
  end

  it("reads 2,000 random documents as cjson does", function()
    local rng = math.random
    math.randomseed(7)
    for i = 1, math.ceil(2000 * SWEEP) do
      local text = cjson.encode({ doc = rnd_value(rng, 0, { 300 }) })
      same(cjson.decode(text), decode(text), "document " .. i)
    end
  end)

  -- Lua's own reading of a number text, as the float JSON gives
  local function float_of(text)
    local v = tonumber(text)
    if math.type and math.type(v) == "integer" then
      v = v + 0.0
      if v == 0 and text:sub(1, 1) == "-" then v = -0.0 end
    end
    return v
  end

  it("reads number texts to the same double as tonumber", function()
    math.randomseed(11)
    local rng = math.random
    for i = 1, math.ceil(20000 * SWEEP) do
      local int = tostring(rng(0, 9))
      if int ~= "0" then int = int .. ("%d"):format(rng(0, 999999999)):sub(1, rng(0, 9)) end
      if int ~= "0" and rng(1, 4) == 1 then int = int .. ("%d"):format(rng(0, 999999999)) .. ("%d"):format(rng(0, 999999999)) end
      local text = (rng(0, 1) == 1 and "-" or "") .. int
      if rng(0, 1) == 1 then text = text .. "." .. ("%d"):format(rng(0, 999999999)):sub(1, rng(1, 9)) end
      if rng(1, 3) == 1 then text = text .. ({ "e", "E" })[rng(1, 2)] .. ({ "", "+", "-" })[rng(1, 3)] .. rng(0, 40) end
      local want = float_of(text)
      local got = decode("[" .. text .. "]")[1]
      if want == 0 then
        assert.equal(1 / want, 1 / got, text)
      else
        assert.equal(want, got, text .. " (" .. i .. ")")
      end
      if math.type then assert.equal("float", math.type(got), text) end
    end
    -- the exact-fast-path edges and beyond
    for _, text in ipairs({ "9007199254740992", "9007199254740993", "9007199254740993.0", "1e22", "1e23",
      "123456789012345678901234567890", "0.1", "0.30000000000000004", "1.7976931348623157e308",
      "2.2250738585072014e-308", "4.9e-324", "1e-400", "-0", "-0.0", "0e0", "0.000001", "1234567890123456789e-22",
      "12345678901234567890e-5", "5e-324" }) do
      local want = float_of(text)
      local got = decode(text)
      assert.equal(want, got, text)
      if want == 0 then assert.equal(1 / want, 1 / got, text) end
    end
  end)
end)

describe("core.json_decode's own rules", function()
  it("keeps the last value of a repeated key, in any chunk of any object", function()
    same({ a = 2.0 }, decode('{"a":1,"a":2}'))
    same({ a = 3.0, b = 2.0 }, decode('{"a":1,"b":2,"a":3}'))
    local parts, want = {}, {}
    for i = 1, 100 do
      local k = "k" .. (i % 37)
      parts[i] = '"' .. k .. '":' .. i
      want[k] = i + 0.0
    end
    same(want, decode("{" .. table.concat(parts, ",") .. "}"))
    -- two long keys (over 40 bytes) that are equal but not the same string object on Lua 5.4
    local long = ("L"):rep(60)
    same({ [long] = 2.0, x = 1.0 }, decode('{"' .. long .. '":1,"x":1,"' .. long .. '":2}'))
    -- a key written with an escape repeats the plain one
    same({ ab = 2.0 }, decode('{"ab":1,"a\\u0062":2}'))
  end)

  it("builds large arrays and objects across its chunks", function()
    for _, n in ipairs({ 1, 31, 32, 33, 63, 64, 65, 127, 128, 129, 1000, SWEEP < 1 and 5000 or 100000 }) do
      local items, members = {}, {}
      for i = 1, n do
        items[i] = tostring(i)
        members[i] = '"m' .. i .. '":' .. i
      end
      local arr = decode("[" .. table.concat(items, ",") .. "]")
      assert.equal(n, #arr)
      for i = 1, n do assert.equal(i, arr[i]) end
      local obj = decode("{" .. table.concat(members, ",") .. "}")
      local count = 0
      for k, v in pairs(obj) do
        count = count + 1
        assert.equal(("m%d"):format(v), k)
      end
      assert.equal(n, count)
    end
  end)

  it("nests 64 containers and refuses 65, whatever their kind", function()
    assert.equal("table", type(decode(("["):rep(64) .. ("]"):rep(64))))
    assert.equal("table", type(decode(('{"a":'):rep(64) .. "1" .. ("}"):rep(64))))
    local ok, msg = pcall(decode, ("["):rep(65) .. ("]"):rep(65))
    assert.is_false(ok)
    assert.equal("JSON: nested deeper than 64 containers at offset 64", msg)
    ok, msg = pcall(decode, ("["):rep(100000))
    assert.is_false(ok)
    assert.matches("nested deeper than 64", msg)
    -- 64 levels each holding a full chunk of members on the Lua stack
    local text = ""
    for _ = 1, 64 do
      local m = {}
      for j = 1, 31 do m[j] = '"p' .. j .. '":' .. j end
      text = text .. "{" .. table.concat(m, ",") .. ',"z":'
    end
    text = text .. "0" .. ("}"):rep(64)
    local v = decode(text)
    for _ = 1, 63 do
      assert.equal(31, v.p31)
      v = v.z
    end
  end)

  it("reads every escape, surrogate pairs and NUL, and refuses broken ones", function()
    same({ '"\\/\b\f\n\r\t', "\0", "é€", "𝄞", "\u{10ffff}", "a\u{7f}b" },
      decode('["\\"\\\\\\/\\b\\f\\n\\r\\t", "\\u0000", "\\u00e9\\u20AC", "\\ud834\\udd1e", "\\udbff\\udfff", "a\\u007fb"]'))
    for _, bad in ipairs({ '"\\x"', '"\\u12"', '"\\u12g4"', '"\\ud834"', '"\\ud834\\u0041"', '"\\udd1e"',
      '"\\ud834\\ud834"', '"abc', '"abc\\', '"a\tb"', '"a\nb"', '"a\1b"' }) do
      local ok, msg = pcall(decode, bad)
      assert(not ok, bad .. " was accepted")
      assert(msg:match("^JSON: .+ at offset %d+$"), msg)
    end
  end)

  it("finds the end of a string and a control character at every offset of its block scan", function()
    for n = 0, 50 do
      local s = ("a"):rep(n)
      assert.equal(s, decode('"' .. s .. '"'))
      assert.equal(s .. "\"", decode('"' .. s .. '\\""'))
      local ok, msg = pcall(decode, '"' .. s .. "\31" .. s .. '"')
      assert.is_false(ok)
      assert.equal("JSON: control character in a string at offset " .. (n + 1), msg)
      ok = pcall(decode, '"' .. s)
      assert.is_false(ok)
    end
  end)

  it("says what is wrong and where", function()
    local CASES = {
      { "[1,]", "JSON: expected a value at offset 3" },
      { "", "JSON: expected a value at offset 0" },
      { "  ", "JSON: expected a value at offset 2" },
      { '{"a" 1}', "JSON: expected ':' at offset 5" },
      { '{"a":1 "b":2}', "JSON: expected ',' or '}' at offset 7" },
      { "[1 2]", "JSON: expected ',' or ']' at offset 3" },
      { "{1:2}", "JSON: expected a string key at offset 1" },
      { "[01]", "JSON: number with a leading zero at offset 1" },
      { "[1.]", "JSON: invalid number at offset 1" },
      { "[-]", "JSON: invalid number at offset 1" },
      { "[1e]", "JSON: invalid number at offset 1" },
      { "[1e999]", "JSON: number too large for a double at offset 1" },
      { "[tru]", "JSON: expected a value at offset 1" },
      { "1 2", "JSON: unexpected text after the value at offset 2" },
    }
    for _, c in ipairs(CASES) do
      local ok, msg = pcall(decode, c[1])
      assert.is_false(ok, c[1])
      assert.equal(c[2], msg, c[1])
    end
    assert.has_error(function() decode(nil) end, "core.json_decode: argument #1 (text) must be a string, got nil")
    assert.has_error(function() decode("{}", {}) end,
      "core.json_decode: argument #2 (schema) must be an evcp.XmlSchema, got table")
  end)

  it("is what evcp.json.decode uses, behind its bounds", function()
    same({ a = { 1.0, 2.0 }, b = json.null }, assert(json.decode('{"a":[1,2],"b":null}')))
    local v, msg = json.decode("[1,]")
    assert.is_nil(v)
    assert.equal("JSON: expected a value at offset 3", msg)
    v, msg = json.decode('["a\0b"]')
    assert.is_nil(v)
    assert.equal("JSON: NUL byte at offset 3", msg)
  end)
end)

describe("core.json_decode with the v2 schema", function()
  local function copy(v)
    if type(v) ~= "table" then return v end
    local o = {}
    for k, x in pairs(v) do o[k] = copy(x) end
    return o
  end

  it("gives schema.normalize's shape for HERE's v2 documents", function()
    for _, name in ipairs({ "here-v2/stations-prox.json", "here-v2/recorded-station-details.json", "v2/multi.json" }) do
      local text = h.fixture(name)
      same(assert(schema.normalize(cjson.decode(text))), decode(text, compiled), name)
    end
  end)

  it("gives schema.normalize's shape for odd values under every kind of name", function()
    local VALUES = { "1", " 2 ", "0x10", "1e400", "-1e400", "1.5e308", "nan", "inf", "0x1p4", "1\0", "3.0", "-0",
      "9007199254740993", "12345678901234567890", "\v7\f", ("7"):rep(64), ("7"):rep(65), "true", "false", "True",
      "", " ", "0x", ".5", "+3", "1e5", 4, 4.5, 2 ^ 63, -2 ^ 63, 1e300, true, false, cjson.null, {}, { "5" },
      { a = "1" }, { { "2" } } }
    for _, v in ipairs(VALUES) do
      for _, name in ipairs({ "count", "latitude", "hasMore", "evStation", "value", "connectorType", "other" }) do
        local doc = { [name] = copy(v), price = { [name] = copy(v) }, list = { { [name] = copy(v) }, copy(v) },
          connectorTypesResult = { [name] = copy(v) }, deep = { { { [name] = copy(v) } } },
          [name .. "s"] = { [name] = { copy(v), { [name] = copy(v) } } } }
        local text = cjson.encode(doc)
        same(assert(schema.normalize(cjson.decode(text))), decode(text, compiled), name .. "=" .. text)
      end
    end
    -- a top-level array is left as it is, as normalize leaves it
    local text = '[{"count":"1"},{"evStation":{"id":"a"}}]'
    same(assert(schema.normalize(cjson.decode(text))), decode(text, compiled))
  end)

  it("gives schema.normalize's shape for 300 random v2-like documents", function()
    math.randomseed(3)
    local rng = math.random
    local NAMES = { "count", "latitude", "hasMore", "evStation", "evStations", "connector", "connectors", "value",
      "price", "pricing", "connectorType", "id", "fixedCable", "numberOfConnectors", "phone", "x" }
    local function value(depth)
      local r = rng(1, depth > 4 and 3 or 6)
      if r == 1 then return ({ "1", "2.5", "true", "false", "abc", " 7 ", "0x1F", "" })[rng(1, 8)] end
      if r == 2 then return ({ 1, 2.5, -3, 0, 1e20 })[rng(1, 5)] end
      if r == 3 then return ({ true, false, cjson.null })[rng(1, 3)] end
      if r == 4 then
        local t = {}
        for i = 1, rng(0, 4) do t[i] = value(depth + 1) end
        return t
      end
      local t = {}
      for _ = 1, rng(1, 6) do t[NAMES[rng(1, #NAMES)]] = value(depth + 1) end
      return t
    end
    for i = 1, math.ceil(300 * SWEEP) do
      local doc = {}
      for _ = 1, rng(1, 5) do doc[NAMES[rng(1, #NAMES)]] = value(0) end
      local text = cjson.encode(doc)
      same(assert(schema.normalize(cjson.decode(text))), decode(text, compiled), "document " .. i .. ": " .. text)
    end
  end)

  it("keeps the schema right while the GC frees the subtrees of overwritten keys", function()
    -- each "a" replaces the one before, whose subtree (with keys of its own)
    -- becomes garbage during the decode; the keys that follow must still get
    -- their own facts, whatever address their strings get
    local parts = {}
    for i = 1, 3000 do
      parts[#parts + 1] = '"a":{"k' .. i .. '":{"x' .. i .. '":"1"},"latitude":"' .. i .. '"}'
      parts[#parts + 1] = '"q' .. i .. '":{"count":"' .. i .. '","x' .. i .. '":"2","evStation":{"id":"s"}}'
    end
    local text = "{" .. table.concat(parts, ",") .. "}"
    local pause = collectgarbage("setpause", 1)
    local ok, got = pcall(decode, text, compiled)
    collectgarbage("setpause", pause)
    assert(ok, got)
    same(assert(schema.normalize(cjson.decode(text))), got)
  end)

  it("is what evcp.v2 decodes JSON with", function()
    local text = h.fixture("here-v2/stations-prox.json")
    same(assert(schema.normalize(cjson.decode(text))), assert(require("evcp.v2").decode(text, "json")))
  end)
end)
