-- evcp_emulator.paths: where the emulator's data directory is, in a repository checkout
-- (emulator/lua/evcp_emulator/ next to emulator/data/) and in a LuaRocks tree (the rock
-- installs the data as share/lua/<v>/evcp_emulator/data/).
local M = {}

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

-- The directory of this file, from the chunk name Lua gives it.
local function module_dir()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*)[/\\][^/\\]*$") or "."
end

local DATA_DIR
-- The directory that holds openapi.json, migration-tables.lua and the default dataset.
function M.data_dir()
  if DATA_DIR then return DATA_DIR end
  local here = module_dir()
  for _, dir in ipairs({ here .. "/data", here .. "/../../data" }) do
    if exists(dir .. "/migration-tables.lua") then
      DATA_DIR = dir
      return dir
    end
  end
  error("evcp_emulator.paths: no data directory next to " .. here, 2)
end

function M.data_file(name)
  return M.data_dir() .. "/" .. name
end

return M
