-- The status stream's message decoder (core.stream_decode, core.stream_updates,
-- csrc/stream.c; evcp.stream_decode; issue 10 scope 1 "decode each message
-- in C"). Oracles that are not the decoder: GNU gzip and coreutils base64
-- make every input (spec/fixtures/stream/README), lua-cjson decodes the
-- JSON texts the expected values come from, evcp.status.normalize (Lua)
-- gives the expected v3 spellings.
local core = require("evcp.core")
local sd = require("evcp.stream_decode")
local status = require("evcp.status")
local cjson = require("cjson").new()
local helper = require("helper")

local here = debug.getinfo(1, "S").source:match("^@(.*)21%-stream_decode_spec%.lua$") or "spec/"
local FIX = here .. "fixtures/stream/"
-- under valgrind (EVCP_WRAP) the sweeps run a tenth of their cases
local SWEEP = os.getenv("EVCP_WRAP") and os.getenv("EVCP_WRAP") ~= "" and 0.1 or 1

local read = helper.read

-- out of `cmd` with `input` on its stdin (the command must succeed)
local function sh(cmd, input) return (assert(helper.filter(cmd, input), cmd)) end

local function gz(text) return sh("gzip -9 -n -c", text) end
local function b64(bytes) return sh("base64 -w0", bytes) end
local function gz64(text) return b64(gz(text)) end

-- adler-32 of s, 4 bytes big-endian (for a zlib stream around gzip's deflate data)
local function adler32(s)
  local a, b = 1, 0
  for i = 1, #s do
    a = (a + s:byte(i)) % 65521
    b = (b + a) % 65521
  end
  local v = b * 65536 + a
  return string.char(math.floor(v / 16777216) % 256, math.floor(v / 65536) % 256,
    math.floor(v / 256) % 256, v % 256)
end

-- a base64 encoder of the spec's own (arithmetic only: Lua 5.4 and LuaJIT)
local ALPHA = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function enc64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local q = { math.floor(n / 262144) % 64, math.floor(n / 4096) % 64, math.floor(n / 64) % 64, n % 64 }
    local chunk = ALPHA:sub(q[1] + 1, q[1] + 1) .. ALPHA:sub(q[2] + 1, q[2] + 1)
    chunk = chunk .. (b and ALPHA:sub(q[3] + 1, q[3] + 1) or "=") .. (c and ALPHA:sub(q[4] + 1, q[4] + 1) or "=")
    out[#out + 1] = chunk
  end
  return table.concat(out)
end

local function message(location, evses)
  local parts = {}
  for i, e in ipairs(evses) do
    parts[i] = string.format('{"id":%q,"status":%q,"last_updated":%q}', e[1], e[2], e[3])
  end
  return string.format('{"id":%q,"evses":[%s]}', location, table.concat(parts, ","))
end

local function fails(pattern, v, msg)
  assert.is_nil(v)
  assert.is_string(msg)
  assert.truthy(msg:find(pattern), "message " .. msg .. " does not match " .. pattern)
end

local SEED_JSON = read(FIX .. "message-004.json")
local SEED_B64 = read(FIX .. "message-004.b64")

-- first in the file: on a small heap the race below shows every time
describe("core.stream_decode re-entered", function()
  -- LuaJIT runs finalizers inside lua_pushlstring before it copies: a
  -- finalizer's decode used the state's one inflater while the outer call
  -- still read from it (a use after free: LuaJIT crashed here)
  it("a decode inside a finalizer run during another decode gets its own answer", function()
    local want = cjson.decode(SEED_JSON)
    local big = gz64('{"id":"big","pad":"' .. string.rep("xy", 150000) .. '","evses":[]}')
    local bad, done, wrong = 0, 0, 0
    local function finalizer()
      local v = core.stream_decode(SEED_B64)
      done = done + 1
      if not (v and v.id == want.id) then bad = bad + 1 end
    end
    local newproxy = rawget(_G, "newproxy")
    local pause = collectgarbage("setpause", 1) -- a GC step at nearly every allocation
    local stepmul = collectgarbage("setstepmul", 1000)
    for _ = 1, math.max(30, math.floor(300 * SWEEP)) do
      for _ = 1, 50 do
        if newproxy then -- LuaJIT: __gc on userdata only
          getmetatable(newproxy(true)).__gc = finalizer
        else
          setmetatable({}, { __gc = finalizer })
        end
      end
      local v = core.stream_decode(big)
      if not (v and v.id == "big" and #v.pad == 300000) then wrong = wrong + 1 end
    end
    collectgarbage("setpause", pause)
    collectgarbage("setstepmul", stepmul)
    collectgarbage()
    collectgarbage()
    assert.is_true(done > 0)
    assert.equal(0, bad)
    assert.equal(0, wrong)
  end)
end)

describe("core.stream_decode", function()
  it("decodes the seed's message as lua-cjson decodes its JSON", function()
    assert.same(cjson.decode(SEED_JSON), (assert(core.stream_decode(SEED_B64))))
  end)

  it("decodes a text made with base64 on gzip here and now, of several sizes", function()
    for _, n in ipairs({ 0, 1, 2, 3, 100, 5000 }) do
      local text = '{"id":"x","pad":"' .. string.rep("ab", n) .. '","evses":[]}'
      assert.same(cjson.decode(text), (assert(core.stream_decode(gz64(text)))))
    end
  end)

  it("takes the gzip bytes themselves with binary = true (a blob)", function()
    assert.same(cjson.decode(SEED_JSON), (assert(core.stream_decode(gz(SEED_JSON), { binary = true }))))
  end)

  describe("refuses base64 that is not strict RFC 4648", function()
    local good = SEED_B64
    it("a character outside the alphabet, naming its offset", function()
      fails("^base64: invalid character at offset 5$", core.stream_decode(good:sub(1, 5) .. "*" .. good:sub(7)))
    end)
    it("the URL-safe alphabet", function()
      fails("^base64: invalid character", core.stream_decode(good:sub(1, 4) .. "-_" .. good:sub(7)))
    end)
    it("whitespace and line breaks (HERE sends none)", function()
      local long = gz64(string.rep('{"id":"x"}', 1)) -- then wrapped as base64 does by default
      fails("^base64: ", core.stream_decode(" " .. long:sub(2)))
      local wrapped = sh("base64", gz(string.rep("[1,2,3]", 40)))
      assert.truthy(wrapped:find("\n"))
      fails("^base64: ", core.stream_decode(wrapped))
    end)
    it("missing padding", function()
      local t = gz64('{"id":"ab"}')
      local stripped = t:gsub("=+$", "")
      assert.are_not.equal(t, stripped)
      fails("^base64: length is not a multiple of 4", core.stream_decode(stripped))
    end)
    it("padding before the end", function()
      fails("^base64: padding before the end at offset 2$", core.stream_decode("AB=AAAAA"))
      fails("^base64: padding before the end at offset 1$", core.stream_decode("A==="))
      fails("^base64: padding before the end", core.stream_decode("AA==AAAA"))
    end)
    it("non-zero bits before the padding", function()
      fails("^base64: non%-zero bits before the padding at offset 1$", core.stream_decode("AB=="))
      fails("^base64: non%-zero bits before the padding at offset 2$", core.stream_decode("AAB="))
    end)
  end)

  describe("refuses what is not exactly one gzip member", function()
    local g = gz(SEED_JSON)
    it("no data and one byte", function()
      fails("^gzip: no data$", core.stream_decode(""))
      fails("^gzip: not a gzip member", core.stream_decode(enc64("\31")))
    end)
    it("plain JSON", function()
      fails("^gzip: not a gzip member %(first bytes 7b 0a%)$", core.stream_decode(enc64(SEED_JSON)))
    end)
    it("raw deflate and a zlib stream of the same deflate data", function()
      local raw = g:sub(11, -9) -- gzip -n: a 10-byte header, an 8-byte trailer
      fails("^gzip: not a gzip member", core.stream_decode(enc64(raw)))
      fails("^gzip: not a gzip member %(first bytes 78 da%)$",
        core.stream_decode(enc64("\120\218" .. raw .. adler32(SEED_JSON))))
    end)
    it("two members, and bytes after the member", function()
      fails("^gzip: %d+ bytes after the gzip member$", core.stream_decode(enc64(g .. gz("{}"))))
      fails("^gzip: 3 bytes after the gzip member$", core.stream_decode(enc64(g .. "xyz")))
      fails("^gzip: 1 bytes after the gzip member$", core.stream_decode(enc64(g .. "\0")))
    end)
    it("a truncated member, anywhere", function()
      for _, cut in ipairs({ 3, 10, 11, 20, #g - 8, #g - 1 }) do
        local v, msg = core.stream_decode(enc64(g:sub(1, cut)))
        assert.is_nil(v)
        assert.truthy(msg:find("^gzip: "), msg)
      end
      fails("^gzip: truncated$", core.stream_decode(enc64(g:sub(1, -2))))
    end)
    it("a wrong CRC-32 and a wrong ISIZE", function()
      local crc = g:sub(1, -9) .. string.char((g:byte(-8) + 1) % 256) .. g:sub(-7)
      fails("^gzip: incorrect data check$", core.stream_decode(enc64(crc)))
      local isize = g:sub(1, -5) .. string.char((g:byte(-4) + 1) % 256) .. g:sub(-3)
      fails("^gzip: incorrect length check$", core.stream_decode(enc64(isize)))
    end)
    it("a wrong method and reserved flags in the header", function()
      fails("^gzip: ", core.stream_decode(enc64(g:sub(1, 2) .. "\7" .. g:sub(4))))
      fails("^gzip: ", core.stream_decode(enc64(g:sub(1, 3) .. "\224" .. g:sub(5))))
    end)
    it("inflates one layer only: gzip inside gzip stays bytes, then fails as JSON", function()
      fails("^JSON: ", core.stream_decode(b64(gz(gz(SEED_JSON)))))
    end)
  end)

  describe("bounds", function()
    it("stops a 1 GiB gzip bomb at 4 MiB, quickly", function()
      local bomb = sh("gzip -dc", read(FIX .. "bomb-1g.b64.gz"))
      assert.is_true(#bomb > 1000000)
      local t0 = os.clock()
      fails("^gzip: content larger than 4194304 bytes %(the limit%)$", core.stream_decode(bomb))
      local spent = os.clock() - t0
      assert.is_true(spent < (SWEEP < 1 and 20 or 1), "the bomb took " .. spent .. " s")
      fails("^gzip: content larger than 1000 bytes %(the limit%)$", core.stream_decode(bomb, { max = 1000 }))
    end)
    it("opts.max and opts.declared_size: the smaller one is the bound, the size itself passes", function()
      local text = '{"id":"' .. string.rep("x", 992) .. "\"}" -- 1001 bytes
      local data = gz64(text)
      assert.truthy(core.stream_decode(data, { max = 1001 }))
      assert.truthy(core.stream_decode(data, { declared_size = 1001 }))
      fails("^gzip: content larger than 1000 bytes %(the limit%)$", core.stream_decode(data, { max = 1000 }))
      fails("^gzip: content larger than its declared size of 1000 bytes$",
        core.stream_decode(data, { declared_size = 1000, max = 5000 }))
      fails("larger than 0 bytes", core.stream_decode(data, { max = 0 }))
    end)
    it("a string of 3 MiB passes, one of 5 MiB is over the default bound", function()
      local big = '"' .. string.rep("a", 3 * 1024 * 1024) .. '"'
      assert.equal(3 * 1024 * 1024, #assert(core.stream_decode(gz64(big))))
      fails("^gzip: content larger than 4194304", core.stream_decode(gz64('"' .. string.rep("a", 5 * 1024 * 1024) .. '"')))
    end)
    it("a large buffer kept from an earlier call does not widen a later bound", function()
      local text = '"' .. string.rep("b", 200000) .. '"'
      assert.equal(200000, #assert(core.stream_decode(gz64(text))))
      fails("^gzip: content larger than 1000 bytes %(the limit%)$",
        core.stream_decode(gz64('"' .. string.rep("c", 5000) .. '"'), { max = 1000 }))
    end)
    it("nesting: 64 levels pass, 65 fail", function()
      assert.truthy(core.stream_decode(gz64(string.rep("[", 64) .. string.rep("]", 64))))
      fails("^JSON: nested deeper than 64", core.stream_decode(gz64(string.rep("[", 65) .. string.rep("]", 65))))
    end)
    it("JSON errors name the offset in the content", function()
      fails("^JSON: expected ',' or '}' at offset 10$", core.stream_decode(gz64('{"id":"x" "evses":[]}')))
      fails("^JSON: NUL byte at offset 7$", core.stream_decode(gz64('{"id":"\0"}')))
      fails("^JSON: ", core.stream_decode(gz64("")))
    end)
  end)

  it("raises on bad arguments, naming them", function()
    assert.has_error(function() core.stream_decode(nil) end,
      "core.stream_decode: argument #1 (data) must be a string, got nil")
    assert.has_error(function() core.stream_decode(SEED_B64, 5) end,
      "core.stream_decode: argument #2 (opts) must be a table, got number")
    assert.has_error(function() core.stream_decode(SEED_B64, { maxx = 1 }) end,
      "core.stream_decode: unknown option 'maxx'")
    assert.has_error(function() core.stream_decode(SEED_B64, { partition = 1 }) end,
      "core.stream_decode: unknown option 'partition'")
    assert.has_error(function() core.stream_decode(SEED_B64, { max = -1 }) end)
    assert.has_error(function() core.stream_decode(SEED_B64, { max = 0 / 0 }) end)
    assert.has_error(function() core.stream_decode(SEED_B64, { binary = 1 }) end)
    assert.has_error(function() core.stream_updates(SEED_B64, { offset = "7" }) end,
      "core.stream_updates: opts.offset must be a number, got string")
  end)
end)

describe("core.stream_updates", function()
  it("gives the seed's message as one update record", function()
    local u = assert(core.stream_updates(SEED_B64, { partition = 7, offset = 38562 }))
    local doc = cjson.decode(SEED_JSON)
    assert.same({ {
      location_id = doc.id, evse_id = doc.evses[1].id, status = "available", raw_status = "AVAILABLE",
      last_updated = "2024-04-05T11:37:59Z", partition = 7, offset = 38562,
    } }, u)
  end)

  it("normalises every status as evcp.status.normalize does, keeping the raw one", function()
    local values = { "AVAILABLE", "CHARGING", "RESERVED", "OUT_OF_ORDER", "INOPERATIVE", "BLOCKED",
      "UNKNOWN", "PLANNED", "REMOVED", "OPERATIONAL", "OUTOFORDER", "outOfOrder", "out_of_order",
      "Available", "_AVAILABLE_", "A_V_A_I_L_A_B_L_E", "AVAILABLE ", "FOO", "", "OUT__OF__ORDER",
      "available!", "ÄVAILABLE", "charginG", "operational", "UNKNOWN_STATUS", "OUT_OF_ORDER_OUT_OF_ORDER" }
    local evses = {}
    for i, v in ipairs(values) do evses[i] = { "here:evcp:evse:" .. i, v, "2026-12-01T10:00:0" .. (i % 10) .. "Z" } end
    local u = assert(core.stream_updates(gz64(message("here:evcp:charginglocation:L", evses))))
    assert.equal(#values, #u)
    for i, v in ipairs(values) do
      assert.equal(v, u[i].raw_status)
      assert.equal((status.normalize(v)), u[i].status, "status of " .. v)
      assert.equal("here:evcp:evse:" .. i, u[i].evse_id)
      assert.equal("here:evcp:charginglocation:L", u[i].location_id)
      assert.equal(evses[i][3], u[i].last_updated)
      assert.is_nil(u[i].partition)
    end
  end)

  it("ignores unknown members and gives an empty array for no EVSEs", function()
    local u = assert(core.stream_updates(gz64(
      '{"x":[1,{"y":null}],"id":"L","evses":[{"id":"E","status":"BLOCKED","last_updated":"t","extra":{}}],"z":1}')))
    assert.same({ { location_id = "L", evse_id = "E", status = "blocked", raw_status = "BLOCKED", last_updated = "t" } }, u)
    assert.same({}, assert(core.stream_updates(gz64('{"id":"L","evses":[]}'))))
  end)

  it("refuses a message of another shape, saying where", function()
    local cases = {
      { "[1,2]", "^message: id must be a string, got nothing$" },
      { '"x"', "^message: not a JSON object %(string%)$" },
      { "null", "^message: not a JSON object %(null%)$" },
      { '{"id":5,"evses":[]}', "^message: id must be a string, got number$" },
      { '{"id":"L"}', "^message: evses must be an array, got nothing$" },
      { '{"id":"L","evses":null}', "^message: evses must be an array, got null$" },
      { '{"id":"L","evses":{"a":1}}', "^message: evses must be an array, got an object$" },
      { '{"id":"L","evses":["x"]}', "^message: evses%[1%] must be an object, got string$" },
      { '{"id":"L","evses":[{"id":"E","status":"AVAILABLE","last_updated":"t"},{"id":"F","status":null,"last_updated":"t"}]}',
        "^message: evses%[2%]%.status must be a string, got null$" },
      { '{"id":"L","evses":[{"status":"AVAILABLE","last_updated":"t"}]}', "^message: evses%[1%]%.id must be a string, got nothing$" },
      { '{"id":"L","evses":[{"id":"E","status":"AVAILABLE"}]}', "^message: evses%[1%]%.last_updated must be a string, got nothing$" },
      { '{"id":"L","evses":[{"id":"E","status":"AVAILABLE","last_updated":1}]}', "^message: evses%[1%]%.last_updated must be a string, got number$" },
    }
    for _, c in ipairs(cases) do fails(c[2], core.stream_updates(gz64(c[1]))) end
  end)
end)

describe("evcp.stream_decode", function()
  local function msg(meta, off)
    return { metaData = meta, offset = off }
  end

  it("decode takes a message or its data; updates a message, with its partition and offset", function()
    local doc = cjson.decode(SEED_JSON)
    assert.same(doc, (assert(sd.decode(SEED_B64))))
    assert.same(doc, (assert(sd.decode(msg({ data = SEED_B64, partition = "p", checksum = "00" })))))
    local u = assert(sd.updates(msg({ data = SEED_B64 }, { partition = 7, offset = 38562 })))
    assert.equal(1, #u)
    assert.equal(7, u[1].partition)
    assert.equal(38562, u[1].offset)
    assert.equal("available", u[1].status)
    assert.same(doc, (assert(sd.decode_blob(gz(SEED_JSON)))))
    assert.equal("AVAILABLE", assert(sd.updates_blob(gz(SEED_JSON), { partition = 1, offset = 2 }))[1].raw_status)
  end)

  it("bad data gives nil and an evcp.Error of kind decode", function()
    local v, err = sd.decode("!!!!")
    assert.is_nil(v)
    assert.equal("decode", err.kind)
    assert.equal("stream message: base64: invalid character at offset 0", err.message)
    assert.truthy(tostring(err):find("decode", 1, true))
    local _, e2 = sd.updates(msg({ data = SEED_B64, dataSize = 10 }))
    assert.equal("stream message: gzip: content larger than its declared size of 10 bytes", e2.message)
    local _, e3 = sd.updates(msg({ data = SEED_B64 }, { partition = "7" }))
    assert.equal("decode", e3.kind)
    local _, e4 = sd.updates({})
    assert.equal("stream message: metaData must be an object, got nil", e4.message)
    local _, e5 = sd.updates(msg({}))
    assert.equal("stream message: metaData has neither data nor dataHandle", e5.message)
    local _, e6 = sd.decode(msg({ data = 5 }))
    assert.equal("decode", e6.kind)
    local _, e7 = sd.decode(msg({ data = SEED_B64, dataSize = -1 }))
    assert.equal("decode", e7.kind)
  end)

  it("a dataHandle message asks for the blob", function()
    local v, err = sd.updates(msg({ dataHandle = "h-123", dataSize = 2000000, compressedDataSize = 1500000 },
      { partition = 3, offset = 9 }))
    assert.is_nil(v)
    assert.equal("needs_blob", err.kind)
    assert.equal("h-123", err.handle)
    assert.equal(2000000, err.data_size)
    assert.is_false(err.retryable)
  end)

  it("raises on bad arguments, naming the function", function()
    assert.has_error(function() sd.decode(5) end,
      "evcp.stream_decode.decode: argument #1 (message) must be a table or a string, got number")
    assert.has_error(function() sd.updates("x") end,
      "evcp.stream_decode.updates: argument #1 (message) must be a table, got string")
    assert.has_error(function() sd.updates({}, { bogus = 1 }) end,
      "evcp.stream_decode.updates: unknown option 'bogus'")
    assert.has_error(function() sd.decode("x", { max = "1" }) end)
    assert.has_error(function() sd.decode_blob(nil) end)
    assert.has_error(function() sd.decode_blob("x", { partition = 1 }) end)
  end)
end)

describe("a fuzz sweep of mutated messages", function()
  -- a deterministic generator of the spec's own (the same on both runtimes)
  local state = 12345
  local function rand(n)
    state = state * 48271 % 2147483647 -- exact in a double: the same on both runtimes
    return state % n + 1
  end
  local base = message("here:evcp:charginglocation:abc-def", {
    { "here:evcp:evse:0123456789abcdef", "OUT_OF_ORDER", "2026-12-01T10:00:00Z" },
    { "here:evcp:evse:fedcba9876543210", "AVAILABLE", "2026-12-01T10:00:01Z" },
  })
  local g = gz(base)
  local t64 = enc64(g)

  local function check(data)
    for _, fn in ipairs({ core.stream_decode, core.stream_updates }) do
      local ok, v, m = pcall(fn, data)
      assert.is_true(ok, tostring(v))
      if v == nil then assert.is_string(m) end
    end
    local ok, v, e = pcall(sd.updates, { metaData = { data = data }, offset = { partition = 1, offset = 2 } })
    assert.is_true(ok, tostring(v))
    if v == nil then assert.truthy(e.kind == "decode", tostring(e)) else assert.equal("table", type(v)) end
  end

  local function mutate(s, alphabet)
    local n = rand(3)
    for _ = 1, n do
      local op, i = rand(3), rand(#s)
      local c
      if alphabet then
        local j = rand(64)
        c = ALPHA:sub(j, j)
      else
        c = string.char(rand(256) - 1)
      end
      if op == 1 then s = s:sub(1, i - 1) .. c .. s:sub(i + 1)
      elseif op == 2 then s = s:sub(1, i - 1) .. s:sub(i + 1)
      else s = s:sub(1, i - 1) .. c .. s:sub(i) end
    end
    return s
  end

  it("base64 text mutated: a value or nil and a message, never a crash", function()
    for _ = 1, math.floor(400 * SWEEP) do check(mutate(t64, rand(2) == 1)) end
  end)

  it("gzip bytes mutated: the same", function()
    for _ = 1, math.floor(400 * SWEEP) do check(enc64(mutate(g, false))) end
  end)

  it("JSON text mutated (gzip-ed by gzip): the same, and what decodes equals lua-cjson's value", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. dir))
    local n, texts = math.floor(120 * SWEEP), {}
    for i = 1, n do
      texts[i] = mutate(base, false)
      local f = assert(io.open(string.format("%s/%04d", dir, i), "wb"))
      f:write(texts[i])
      f:close()
    end
    local p = assert(io.popen("for f in " .. dir .. "/*; do gzip -9 -n -c \"$f\" | base64 -w0; echo; done"))
    local i, agreed = 0, 0
    for line in p:lines() do
      i = i + 1
      check(line)
      local v = core.stream_decode(line)
      local ok, want = pcall(cjson.decode, texts[i])
      if v ~= nil and ok then
        assert.same(want, v)
        agreed = agreed + 1
      end
    end
    p:close()
    os.execute("rm -r " .. dir)
    assert.equal(n, i)
  end)
end)
