-- stream-apply (issue 10 §7): stream messages decoded into updates and
-- applied to a status picture, against the floor of what a hand-written
-- consumer does with the same messages: base64 decode (LuaSocket's
-- mime.unb64), inflate (Debian's lua-zlib; on LuaJIT without it, zlib
-- through the FFI) and cjson.decode. Same run, interleaved, garbage
-- collected inside each side's timing, by bench/harness.lua as for
-- bench/bench.lua; one JSON line per comparison. Needs no emulator:
--   LUA_PATH=... LUA_CPATH=build/lua5.4/?.so lua5.4 bench/stream_apply.lua
-- Lines:
--   stream-apply   evcp.stream_decode.updates + evcp.store:apply, vs the floor (target 1.43)
--   stream-decode  evcp.stream_decode.updates alone, vs the floor (no target)
-- The messages: 2,000 in seed 004's shape (ids shaped like the dataset's,
-- 1-4 EVSEs each, the stream's status values), gzip -9 by the gzip command
-- and base64-encoded at setup, wrapped as a partitions answer's items.
local cjson = require("cjson")
local mime = require("mime")
local sd = require("evcp.stream_decode")
local H = dofile("bench/harness.lua")

local runtime = H.runtime
local N = 2000

-- the floor's inflate: lua-zlib, else zlib through LuaJIT's FFI
local inflate
do
  local ok, zlib = pcall(require, "zlib")
  if ok then
    inflate = function(bytes) return (zlib.inflate()(bytes)) end
  elseif jit then
    local ffi = require("ffi")
    ffi.cdef([[
      typedef struct { const unsigned char *next_in; unsigned avail_in; unsigned long total_in;
        unsigned char *next_out; unsigned avail_out; unsigned long total_out; const char *msg;
        void *state; void *zalloc; void *zfree; void *opaque; int data_type; unsigned long adler;
        unsigned long reserved; } bench_z_stream;
      int inflateInit2_(bench_z_stream *s, int wbits, const char *version, int size);
      int inflate(bench_z_stream *s, int flush);
      int inflateEnd(bench_z_stream *s);
      const char *zlibVersion(void);
    ]])
    local z = ffi.load("z")
    local out_cap = 65536
    local out = ffi.new("unsigned char[?]", out_cap)
    inflate = function(bytes)
      local s = ffi.new("bench_z_stream")
      assert(z.inflateInit2_(s, 31, z.zlibVersion(), ffi.sizeof(s)) == 0)
      s.next_in, s.avail_in = bytes, #bytes
      s.next_out, s.avail_out = out, out_cap
      local rc = z.inflate(s, 4) -- Z_FINISH
      z.inflateEnd(s)
      assert(rc == 1, "inflate")
      return ffi.string(out, out_cap - s.avail_out)
    end
  else
    io.stderr:write("stream-apply: skipped on " .. runtime .. ": its floor needs Debian's lua-zlib "
      .. "(apt-get install lua-zlib)\n")
    return
  end
end

-- ---- the messages ----------------------------------------------------------
local seed = 20261201
local function rand(n)
  seed = seed * 48271 % 2147483647 -- exact in a double: the same on both runtimes
  return seed % n + 1
end
local function hex(n)
  local t = {}
  for i = 1, n do
    local d = rand(16) - 1
    t[i] = ("0123456789abcdef"):sub(d + 1, d + 1)
  end
  return table.concat(t)
end
local B64CH = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
local function alnum(n)
  local t = {}
  for i = 1, n do
    local d = rand(#B64CH)
    t[i] = B64CH:sub(d, d)
  end
  return table.concat(t)
end
local STATUSES = { "AVAILABLE", "AVAILABLE", "AVAILABLE", "CHARGING", "CHARGING", "RESERVED", "OUT_OF_ORDER",
  "INOPERATIVE", "BLOCKED", "UNKNOWN" }

local LOCATIONS = {}
for i = 1, 400 do
  local evses = {}
  for j = 1, rand(4) do evses[j] = "here:evcp:evse:" .. hex(64) end
  LOCATIONS[i] = { id = "here:evcp:charginglocation:" .. hex(12) .. "-" .. alnum(52), evses = evses }
end

local texts, total_updates = {}, 0
for i = 1, N do
  local loc = LOCATIONS[rand(#LOCATIONS)]
  local parts = {}
  for j, e in ipairs(loc.evses) do
    local sec = (i * 7 + j) % 60
    parts[j] = string.format('{"id":"%s","status":"%s","last_updated":"2026-12-01T%02d:%02d:%02dZ"}',
      e, STATUSES[rand(#STATUSES)], 10 + math.floor(i / 3600) % 10, math.floor(i / 60) % 60, sec)
  end
  total_updates = total_updates + #parts
  texts[i] = string.format('{"id":"%s","evses":[%s]}', loc.id, table.concat(parts, ","))
end

-- gzip and base64 by the commands (GNU gzip, coreutils base64)
local messages, datas = {}, {}
do
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir " .. dir))
  for i = 1, N do
    local f = assert(io.open(string.format("%s/%05d", dir, i), "wb"))
    f:write(texts[i])
    f:close()
  end
  local p = assert(io.popen("for f in " .. dir .. "/*; do gzip -9 -n -c \"$f\" | base64 -w0; echo; done"))
  local i = 0
  for line in p:lines() do
    i = i + 1
    datas[i] = line
    messages[i] = { metaData = { partition = tostring(i % 8), checksum = hex(32), data = line,
      timestamp = 1795000000000 + i }, offset = { partition = i % 8, offset = 1000 + i } }
  end
  p:close()
  os.execute("rm -r " .. dir)
  assert(i == N, "gzip/base64 made " .. i .. " messages")
end
for i = 1, N do texts[i] = nil end -- only the encoded messages stay

-- ---- the two sides ---------------------------------------------------------
local unb64, decode = mime.unb64, cjson.decode

local function floor_side()
  local kept = {}
  for i = 1, N do kept[i] = decode(inflate(unb64(datas[i]))) end
  return kept
end

local updates = sd.updates
local function decode_side()
  local kept = {}
  for i = 1, N do kept[i] = updates(messages[i]) end
  return kept
end

-- evcp's side: each message's updates (evcp.stream_decode) applied to a
-- fresh evcp.store, as a consumer keeps its picture (an update older than
-- the one held is ignored there).
local store_new = require("evcp.store").new
local function apply_side()
  local store, applied = store_new(), 0
  for i = 1, N do
    local us = assert(updates(messages[i]))
    for j = 1, #us do
      local ok, err = store:apply(us[j])
      if ok == nil then error(tostring(err and err.message or err)) end
      if ok then applied = applied + 1 end
    end
  end
  return store, applied
end

-- ---- timing (bench/harness.lua), and the updates per second on stderr ---------
local function report(name, unit, scale, evcp_fn, floor_fn, reps, inner)
  local te, tf = H.report(name, unit, scale, evcp_fn, floor_fn, reps, inner)
  if not te then return end
  io.stderr:write(string.format("%s (%s): evcp %.0f updates/s, floor %.0f updates/s\n", name, runtime,
    total_updates / te, total_updates / tf))
end

do -- the sides agree on what the messages hold
  local f, d = floor_side(), decode_side()
  local count = 0
  for i = 1, N do
    assert(#f[i].evses == #d[i])
    for j = 1, #d[i] do
      assert(d[i][j].evse_id == f[i].evses[j].id and d[i][j].raw_status == f[i].evses[j].status)
      count = count + 1
    end
  end
  assert(count == total_updates)
end
io.stderr:write(string.format("stream messages: %d, %d updates\n", N, total_updates))

report("stream-apply", "ms", 1000, apply_side, floor_side, 21, 3)
report("stream-decode", "ms", 1000, decode_side, floor_side, 21, 3)
