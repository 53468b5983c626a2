--- evcp.hosts.nvim: the libcurl transport on Neovim's own loop.
--
--   evcp.new{ transport = "nvim", ... }   (lua/evcp/client.lua makes it)
--   require("evcp.hosts.nvim").new(curl_opts, host_opts) -> transport
--
-- It is evcp.hosts.uv (libcurl's multi socket API on libuv poll and timer
-- handles) with Neovim's luv, vim.loop, and every waiting coroutine resumed
-- through vim.schedule: a call made from a coroutine yields to the editor
-- loop at once, and the coroutine goes on in the main loop, where the
-- editor API may be called (vim.in_fast_event() is false there). An error
-- the resumed coroutine raises is raised from that vim.schedule callback,
-- so Neovim reports it (an error message, v:errmsg) like any other.
-- host_opts.thread_pool (OpenResty's) is ignored here.
local uvhost = require("evcp.hosts.uv")

local M = {}

function M.new(curl_opts, host_opts)
  local vim = rawget(_G, "vim")
  if type(vim) ~= "table" or vim.loop == nil or type(vim.schedule) ~= "function" then
    error("evcp.hosts.nvim: not running inside Neovim (no vim.loop); outside it use transport 'uv'"
      .. " (luv) or 'curl'", 2)
  end
  local _ = host_opts
  return uvhost.new(curl_opts, { uv = vim.loop, resume = vim.schedule, name = "nvim" })
end

return M
