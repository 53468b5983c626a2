-- What spec/94 has nvim --headless do with the example plugin (examples/nvim):
-- :EvcpStatus <id> as a user types it; when the lookup is over, the floating
-- window's lines and configuration go to $EVCP_NVIM_DIR/example.json.
local root = assert(os.getenv("EVCP_ROOT"), "EVCP_ROOT is not set")
local build = os.getenv("EVCP_BUILDJIT") or "build/luajit"
if build:sub(1, 1) ~= "/" then build = root .. "/" .. build end
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = build .. "/?.so;" .. package.cpath
vim.opt.runtimepath:append(root .. "/examples/nvim")
vim.cmd("runtime plugin/evcp.lua")

local dir = assert(os.getenv("EVCP_NVIM_DIR"), "EVCP_NVIM_DIR is not set")
local report = { ticks = 0 }
local pulse = vim.loop.new_timer()
pulse:start(20, 20, function() report.ticks = report.ticks + 1 end)

local function finish()
  pulse:close()
  local f = assert(io.open(dir .. "/example.json", "w"))
  f:write(vim.json.encode(report))
  f:close()
  vim.cmd("qa!")
end

local demo = require("evcp_demo")
local wrapped = demo.status
-- the command as typed; the plugin's done callback tells when it is over
local t0 = vim.loop.hrtime()
demo.status = function(id) wrapped(id, function(ok, err)
  report.ok, report.err = ok, err
  report.took = (vim.loop.hrtime() - t0) / 1e9
  if ok then
    local win = demo.last.win
    report.lines = vim.api.nvim_buf_get_lines(demo.last.buf, 0, -1, false)
    report.relative = vim.api.nvim_win_get_config(win).relative
    report.current = vim.api.nvim_get_current_win() == win
  end
  demo.close()
  vim.schedule(finish)
end) end
t0 = vim.loop.hrtime()
vim.cmd("EvcpStatus " .. assert(os.getenv("EVCP_SEED_ID")))
report.returned_after = (vim.loop.hrtime() - t0) / 1e9
