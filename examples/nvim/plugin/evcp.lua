-- :EvcpStatus <location id>: the location's EVSE statuses in a floating
-- window (examples/nvim/lua/evcp_demo.lua does the work). Put examples/nvim
-- on 'runtimepath' and evcp on package.path/cpath (see README.md).
if vim.g.loaded_evcp_demo then return end
vim.g.loaded_evcp_demo = true

vim.api.nvim_create_user_command("EvcpStatus", function(cmd)
  require("evcp_demo").status(cmd.args)
end, { nargs = 1, desc = "evcp: show a charging location's EVSE statuses" })
