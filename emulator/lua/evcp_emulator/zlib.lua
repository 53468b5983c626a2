-- evcp_emulator.zlib: the emulator's own zlib, through LuaJIT's FFI (nginx's LuaJIT links
-- zlib). Without the FFI or zlib every call returns false. The stream's message payloads
-- and the gzip-bomb fault (evcp_emulator.http) are built here; one cdef serves both.
--
--   zlib.gzip(s)            one gzip member holding s (level 6), or false
--   zlib.gzip_zeros(mib)    one gzip member that inflates to mib MiB of zeros, about
--                           1 KiB a MiB on the wire (CRC and length right), or false
local floor, concat, rep, char = math.floor, table.concat, string.rep, string.char

local M = {}

local OUT = 65536
local lib -- {ffi =, z =, out =} once loaded, false when there is no zlib

local function load()
  if lib ~= nil then return lib end
  lib = false
  local okf, ffi = pcall(require, "ffi")
  if not okf then return lib end
  pcall(ffi.cdef, [[
typedef struct evcp_emu_z_stream {
  const unsigned char *next_in; unsigned avail_in; unsigned long total_in;
  unsigned char *next_out; unsigned avail_out; unsigned long total_out;
  const char *msg; void *state; void *zalloc; void *zfree; void *opaque;
  int data_type; unsigned long adler; unsigned long reserved;
} evcp_emu_z_stream;
int deflateInit2_(evcp_emu_z_stream *strm, int level, int method, int windowBits,
                  int memLevel, int strategy, const char *version, int stream_size);
int deflate(evcp_emu_z_stream *strm, int flush);
int deflateEnd(evcp_emu_z_stream *strm);
int deflateReset(evcp_emu_z_stream *strm);
unsigned long crc32(unsigned long crc, const unsigned char *buf, unsigned len);
unsigned long crc32_combine64(unsigned long a, unsigned long b, int64_t len2);
const char *zlibVersion(void);
]])
  local function has_all(l)
    return l.deflateInit2_ and l.deflate and l.deflateEnd and l.deflateReset and l.crc32
      and l.crc32_combine64 and l.zlibVersion
  end
  for _, try in ipairs({ function() return ffi.C end, function() return ffi.load("z") end }) do
    local ok, l = pcall(try)
    if ok and pcall(has_all, l) then
      lib = { ffi = ffi, z = l, out = ffi.new("unsigned char[?]", OUT) }
      break
    end
  end
  return lib
end

-- a deflate state (method 8 = deflate, strategy 0 = default), or nil
local function deflater(L, level, window_bits, mem_level)
  local strm = L.ffi.new("evcp_emu_z_stream")
  if L.z.deflateInit2_(strm, level, 8, window_bits, mem_level, 0, L.z.zlibVersion(),
      L.ffi.sizeof(strm)) ~= 0 then
    return nil
  end
  return strm
end

-- deflate len bytes at input with flush, until deflate leaves room in the output
-- buffer -> the bytes it wrote, its last return code (1 = Z_STREAM_END)
local function run(L, strm, input, len, flush)
  strm.next_in, strm.avail_in = input, len
  local parts, rc = {}
  repeat
    strm.next_out, strm.avail_out = L.out, OUT
    rc = L.z.deflate(strm, flush)
    parts[#parts + 1] = L.ffi.string(L.out, OUT - strm.avail_out)
  until strm.avail_out ~= 0
  return concat(parts), rc
end

local gzip_strm -- one gzip state (windowBits 31) for the worker's life, reset per call
function M.gzip(s)
  local L = load()
  if not L then return false end
  if gzip_strm == nil then gzip_strm = deflater(L, 6, 31, 8) or false end
  if not gzip_strm or L.z.deflateReset(gzip_strm) ~= 0 then return false end
  local out, rc = run(L, gzip_strm, s, #s, 4) -- Z_FINISH
  if rc ~= 1 then return false end
  return out
end

local function le32(v)
  v = tonumber(v) % 4294967296
  return char(v % 256, floor(v / 256) % 256, floor(v / 65536) % 256, floor(v / 16777216) % 256)
end

-- A raw deflate stream of 1 MiB of zeros, each piece ending with a full flush, so the
-- pieces after the first are independent and the same: the member repeats one of them.
function M.gzip_zeros(mib)
  local L = load()
  if not L then return false end
  local MIB = 1048576
  local zeros = L.ffi.new("unsigned char[?]", MIB)
  local strm = deflater(L, 9, -15, 9)
  if not strm then return false end
  local a = run(L, strm, zeros, MIB, 3)    -- Z_FULL_FLUSH
  local b = run(L, strm, zeros, MIB, 3)
  local c = run(L, strm, zeros, MIB, 3)
  local tail = run(L, strm, zeros, 0, 4)   -- Z_FINISH
  L.z.deflateEnd(strm)
  if b ~= c then return false end
  local crc1 = L.z.crc32(0, zeros, MIB)
  local crc = crc1
  for _ = 2, mib do crc = L.z.crc32_combine64(crc, crc1, MIB) end
  return "\31\139\8\0\0\0\0\0\2\3" .. a .. rep(b, mib - 1) .. tail .. le32(crc) .. le32(mib * MIB)
end

return M
