-- luacheck configuration (`make lint` checks the whole tree).
-- evcp runs on Lua 5.4 and LuaJIT 2.1: the globals of either are known, and
-- code that uses one runtime's own (jit, unpack, table.unpack...) tests for it.
std = "lua54+luajit"
-- ngx: OpenResty hosts (the emulator, the planned non-blocking transport);
-- vim: the planned Neovim host. Both are written to (ngx.status, vim.g...).
globals = { "ngx", "vim" }
max_line_length = 120

exclude_files = { "build/**", ".luarocks/**", "lua_modules/**", "luarocks/**" }

-- specs quote whole request lines, messages and fixtures: a wider margin
files["spec"] = { std = "+busted", max_line_length = 150 }
-- recorded tables, one row per line as in their source document
files["spec/fixtures"] = { max_line_length = false }
files["emulator/data"] = { max_line_length = false }
-- luarocks configuration files are made of global assignments
files[".ci/luarocks-*.lua"] = { allow_defined_top = true, ignore = { "131" } }
