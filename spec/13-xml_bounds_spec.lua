-- Issue 7 §1 and §5: the XML decoder's compiled schema, its limits and its
-- memory budget; the undefined behaviour clang's UBSan found (NULL + 0).
local core = require("evcp.core")
local h = require("helper")

local MiB = 1024 * 1024
local sanitized = os.getenv("EVCP_CHILD_PRELOAD") ~= nil

local SCHEMA = {
  arrays = { evStation = true, connector = true, connectorStatus = true, phone = true },
  numbers = { count = true, latitude = true, longitude = true, maxPowerLevel = true,
    value = { price = true } },
  booleans = { hasMore = true, fixedCable = true },
}

local child = h.child

describe("core.xml_schema", function()
  it("compiles a schema once; decoding with it equals decoding with the table", function()
    local compiled = core.xml_schema(SCHEMA)
    assert.matches("^evcp.XmlSchema: 11 names$", tostring(compiled))
    local text = h.fixture("here-v2/stations-prox.xml")
    h.assert_identical(assert(core.xml_decode(text, SCHEMA)), assert(core.xml_decode(text, compiled)))
    local t = assert(core.xml_decode("<r><price><value>0.5</value></price><phone><value>+1</value></phone>"
      .. "<count>3</count><hasMore>false</hasMore></r>", compiled))
    assert.equal(0.5, t.price.value)
    assert.equal("+1", t.phone[1].value)
    assert.equal(3, t.count)
    assert.is_false(t.hasMore)
  end)

  it("accepts a name in several sets and several parents per name", function()
    local s = core.xml_schema({ arrays = { v = { list = true } }, numbers = { v = { list = true, price = true } } })
    local t = assert(core.xml_decode("<r><list><v>1</v></list><price><v>2</v></price><other><v>3</v></other></r>", s))
    assert.same({ 1 }, t.list.v)
    assert.equal(2, t.price.v)
    assert.equal("3", t.other.v)
  end)

  it("raises on a malformed schema, naming the part", function()
    local bad = {
      { 5, "argument #1 %(schema%) must be a table" },
      { { array = {} }, "unknown key 'array'" },
      { { arrays = 5 }, "arrays must be a table" },
      { { arrays = { a = 1 } }, "arrays.a must be true or a set of parent names" },
      { { numbers = { a = { p = 1 } } }, "numbers.a.p must be true" },
      { { arrays = { [1] = true } }, "arrays: a name must be a string" },
      { { arrays = { [string.rep("n", 48)] = true } }, "arrays: name 'n+' must have 1..47 bytes" },
    }
    for _, case in ipairs(bad) do
      local ok, err = pcall(core.xml_schema, case[1])
      assert.is_false(ok)
      assert.matches("core.xml_schema: " .. case[2], err)
    end
  end)
end)

describe("core.xml_decode bounds", function()
  it("decodes an empty child of the root (NULL + 0 under UBSan before)", function()
    assert.same({ a = "" }, core.xml_decode("<r><a/></r>", SCHEMA))
    assert.same({ a = { x = "1" } }, core.xml_decode("<r><a x='1'/></r>", SCHEMA))
    assert.same({}, core.xml_decode("<r/>", SCHEMA))
  end)

  it("caps the size (32 MiB by default) and the elements", function()
    local v, err = core.xml_decode("<r>" .. string.rep(" ", 32 * MiB) .. "</r>", SCHEMA)
    assert.is_nil(v)
    assert.matches("XML: document of %d+ bytes is larger than 33554432 bytes", err)
    v, err = core.xml_decode("<r>" .. string.rep("<a/>", 20) .. "</r>", SCHEMA, { max_elements = 10 })
    assert.is_nil(v)
    assert.equal("XML: more than 10 elements", err)
    assert.is_table(core.xml_decode("<r>" .. string.rep("<a/>", 9) .. "</r>", SCHEMA, { max_elements = 10 }))
  end)

  it("refuses a document that would take more than about 6 times its size", function()
    local v, err = core.xml_decode("<r>" .. string.rep("<p><a/></p>", 400000) .. "</r>", SCHEMA)
    assert.is_nil(v)
    assert.matches("more than 6 times its size in memory", err)
  end)

  it("raises on bad limits", function()
    assert.has_error(function() core.xml_decode("<r/>", SCHEMA, 5) end,
      "core.xml_decode: argument #3 (limits) must be a table, got number")
    assert.has_error(function() core.xml_decode("<r/>", SCHEMA, { max_size = 1 }) end,
      "core.xml_decode: unknown limit 'max_size'")
    assert.has_error(function() core.xml_decode("<r/>", SCHEMA, { max_elements = -1 }) end)
  end)

  it("keeps peak memory of 32 MiB of sibling elements under 8 times its size #slow", function()
    local out, hwm = child([[
      local core = require("evcp.core")
      local n = math.floor((32 * 1024 * 1024 - 8) / 4)
      local body = "<r>" .. string.rep("<a/>", n) .. "</r>"
      print("SIZE " .. #body)
      local v, err = core.xml_decode(body, core.xml_schema({}), { max_bytes = 64 * 1024 * 1024 })
      print("RESULT " .. tostring(v) .. " " .. tostring(err))
    ]])
    local size = tonumber(out:match("SIZE (%d+)"))
    assert.is_number(size, out)
    assert.matches("RESULT nil XML: ", out)
    if hwm and not sanitized then
      assert.is_true(hwm < 8 * size, ("peak RSS %d MB for a %d MB body"):format(math.floor(hwm / MiB), math.floor(size / MiB)))
    end
  end)
end)
