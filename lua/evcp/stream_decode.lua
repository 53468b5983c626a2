--- evcp.stream_decode: one message of HERE's status stream (Data API
-- stream v2 `partitions` answer) to its JSON value or to update records.
--
--   local sd = require "evcp.stream_decode"
--   local updates, err = sd.updates(message)       -- message: one item of messages[]
--   local value, err = sd.decode(message)          -- the decoded JSON
--   local value, err = sd.decode(base64_text)      -- metaData.data alone
--
-- The work is core.stream_decode / core.stream_updates (csrc/stream.c):
-- strict base64, exactly one gzip member inflated at most
-- min(metaData.dataSize, opts.max or 4 MiB) bytes, evcp's bounded JSON
-- decoder. An update record is
--   { location_id, evse_id, status (v3 spelling, nil when none),
--     raw_status, last_updated, partition, offset }
-- with partition and offset from message.offset.
--
-- Errors: bad arguments raise (naming the function); a bad message returns
-- nil, err with err an evcp.Error of kind "decode" (message says what and
-- where: "base64: invalid character at offset 12"). A message whose content
-- is not inline (metaData.dataHandle, HERE's form for payloads over 1 MB)
-- returns nil, err with err.kind "needs_blob" and err.handle the handle:
-- the caller fetches the bytes from the blob API and passes them to
-- decode_blob / updates_blob. metaData.checksum is not verified (HERE does
-- not name its algorithm; gzip's CRC-32 is checked).
local core = require("evcp.core")
local new_error = require("evcp.error").new

local type, pairs, tostring = type, pairs, tostring
local stream_decode, stream_updates = core.stream_decode, core.stream_updates

local M = {}

--- Default of opts.max: the largest decompressed content accepted, bytes.
M.MAX = 4 * 1024 * 1024

local OPT_KEYS = { max = true }

local function check_opts(fname, opts)
  if opts == nil then return nil end
  if type(opts) ~= "table" then
    error("evcp.stream_decode." .. fname .. ": argument #2 (opts) must be a table, got " .. type(opts), 3)
  end
  for k in pairs(opts) do
    if not OPT_KEYS[k] then
      error("evcp.stream_decode." .. fname .. ": unknown option '" .. tostring(k) .. "'", 3)
    end
  end
  local max = opts.max
  if max ~= nil and (type(max) ~= "number" or max ~= max or max < 0) then
    error("evcp.stream_decode." .. fname .. ": opts.max must be a number >= 0, got " .. tostring(max), 3)
  end
  return max
end

local function decode_error(message)
  return nil, new_error({ kind = "decode", message = "stream message: " .. message })
end

-- Whether v is a usable size or offset: a whole number >= 0.
local function whole(v)
  return type(v) == "number" and v >= 0 and v % 1 == 0
end

-- The C options for message m (a table) and the data string; or nil, err.
local function message_args(m, max, records)
  local md = m.metaData
  if type(md) ~= "table" then return decode_error("metaData must be an object, got " .. type(md)) end
  local data, handle, size = md.data, md.dataHandle, md.dataSize
  if size ~= nil and not whole(size) then
    return decode_error("metaData.dataSize must be a whole number >= 0, got " .. tostring(size))
  end
  local copts = { max = max, declared_size = size }
  if records then
    local off = m.offset
    if off ~= nil then
      if type(off) ~= "table" then return decode_error("offset must be an object, got " .. type(off)) end
      if off.partition ~= nil and not whole(off.partition) then
        return decode_error("offset.partition must be a whole number >= 0, got " .. tostring(off.partition))
      end
      if off.offset ~= nil and not whole(off.offset) then
        return decode_error("offset.offset must be a whole number >= 0, got " .. tostring(off.offset))
      end
      copts.partition, copts.offset = off.partition, off.offset
    end
  end
  if type(data) == "string" then return data, copts end
  if data ~= nil then return decode_error("metaData.data must be a string, got " .. type(data)) end
  if type(handle) == "string" and handle ~= "" then
    return nil, new_error({ kind = "needs_blob", handle = handle, data_size = size, retryable = false,
      message = "stream message: the content is in the blob store (metaData.dataHandle " .. handle .. ")" })
  end
  return decode_error("metaData has neither data nor dataHandle")
end

local function run(fn, data, copts)
  local v, msg = fn(data, copts)
  if v == nil then return decode_error(msg) end
  return v
end

--- decode(message | data [, opts]) -> value | nil, err
-- message: one item of a partitions answer's messages (a table); data: the
-- base64 text of a metaData.data. opts.max: largest content, bytes.
function M.decode(m, opts)
  local max = check_opts("decode", opts)
  if type(m) == "string" then return run(stream_decode, m, { max = max }) end
  if type(m) ~= "table" then
    error("evcp.stream_decode.decode: argument #1 (message) must be a table or a string, got " .. type(m), 2)
  end
  local data, copts = message_args(m, max, false)
  if data == nil then return nil, copts end
  return run(stream_decode, data, copts)
end

--- updates(message [, opts]) -> array of update records | nil, err
function M.updates(m, opts)
  local max = check_opts("updates", opts)
  if type(m) ~= "table" then
    error("evcp.stream_decode.updates: argument #1 (message) must be a table, got " .. type(m), 2)
  end
  local data, copts = message_args(m, max, true)
  if data == nil then return nil, copts end
  return run(stream_updates, data, copts)
end

--- decode_blob(bytes [, opts]) -> value | nil, err: the gzip bytes the blob
-- API returned for a dataHandle (no base64). opts.declared_size: the
-- message's metaData.dataSize.
local BLOB_KEYS = { max = true, declared_size = true, partition = true, offset = true }

local function blob_opts(fname, bytes, opts)
  if type(bytes) ~= "string" then
    error("evcp.stream_decode." .. fname .. ": argument #1 (bytes) must be a string, got " .. type(bytes), 3)
  end
  local copts = { binary = true }
  if opts == nil then return copts end
  if type(opts) ~= "table" then
    error("evcp.stream_decode." .. fname .. ": argument #2 (opts) must be a table, got " .. type(opts), 3)
  end
  for k, v in pairs(opts) do
    if not BLOB_KEYS[k] or (fname == "decode_blob" and (k == "partition" or k == "offset")) then
      error("evcp.stream_decode." .. fname .. ": unknown option '" .. tostring(k) .. "'", 3)
    end
    if type(v) ~= "number" or v ~= v or v < 0 then
      error("evcp.stream_decode." .. fname .. ": opts." .. k .. " must be a number >= 0, got " .. tostring(v), 3)
    end
    copts[k] = v
  end
  return copts
end

function M.decode_blob(bytes, opts)
  return run(stream_decode, bytes, blob_opts("decode_blob", bytes, opts))
end

--- updates_blob(bytes [, opts]) -> array of update records | nil, err
-- (opts: max, declared_size, partition, offset)
function M.updates_blob(bytes, opts)
  return run(stream_updates, bytes, blob_opts("updates_blob", bytes, opts))
end

return M
