-- Issue 7 §6: the fast paths give the same answers as the plain ones.
-- json_scan: the AVX2 block scan (when the CPU has it), the SSE2 block scan
-- and the exact byte scan count alike on every text, including escapes and
-- quotes that straddle 64-byte blocks.
local core = require("evcp.core")
local h = require("helper")

describe("core.json_scan variants", function()
  local function same_all(text)
    local a, b, c = core.json_scan(text)
    local d, e, f = core.json_scan(text, nil, nil, "sse2")
    local x, y, z = core.json_scan(text, nil, nil, "exact")
    assert.same({ x, y, z }, { a, b, c }, text)
    assert.same({ x, y, z }, { d, e, f }, text)
  end

  it("count alike on HERE's documents", function()
    for _, name in ipairs({ "seed-001-evses.json", "seed-001-connectorGroups.json", "here-v2/stations-prox.json" }) do
      same_all(h.fixture(name))
    end
  end)

  it("count alike where backslashes, quotes and brackets cross block edges", function()
    -- the expected counts are computed by hand: [ "..." , {} ] has 2
    -- containers and 3 elements (the empty object over-counts one)
    for pad = 0, 130 do
      for _, s in ipairs({ '\\\\', '\\"', '\\\\\\"', '[{,', '"' }) do
        local inner = string.rep("a", pad) .. (s == '"' and '\\"' or s)
        local text = '["' .. inner .. '",{}]'
        local ok, containers, elements = core.json_scan(text)
        assert.is_true(ok)
        assert.equal(2, containers, text)
        assert.equal(3, elements, text)
        same_all(text)
      end
    end
  end)

  it("count alike on random texts of strings, escapes and structure", function()
    local seed = 4242
    local function rand(n) -- a small LCG: the same texts on every runtime
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed % n + 1
    end
    -- backslashes only inside strings: outside one they are a syntax error,
    -- after which the two scans may count differently (lua-cjson stops there)
    local inner = { "a", "\\\\", '\\"', "{", "[", ",", " ", "1e9", "\\u0041" }
    local outer = { "{", "[", ",", " ", "1", "1.5", "true", ":", "]", "}" }
    for _ = 1, 2000 do
      local t = {}
      for i = 1, rand(120) do
        if rand(3) == 1 then
          local s = {}
          for j = 1, rand(12) - 1 do s[j] = inner[rand(#inner)] end
          t[i] = '"' .. table.concat(s) .. '"'
        else
          t[i] = outer[rand(#outer)]
        end
      end
      same_all(table.concat(t))
    end
  end)

  it("fall back to the exact scan for an exponent or a run of digits in any block", function()
    for pad = 0, 70 do
      local sp = string.rep(" ", pad)
      for _, text in ipairs({ sp .. "[1e400]", sp .. "[" .. string.rep("9", 400) .. "]", sp .. '["x",1E+999]' }) do
        local v, err = core.json_scan(text)
        assert.is_nil(v)
        assert.matches("too large for a double", err)
        assert.is_nil((core.json_scan(text, nil, nil, "sse2")))
      end
      assert.is_true((core.json_scan(sp .. '["1e999", true, false, 1e5]')))
    end
  end)
end)
