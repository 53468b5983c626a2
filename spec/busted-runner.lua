-- busted's runner for `luarocks test`: the rockspec runs this script with the
-- interpreter luarocks is configured for (lua5.4, or OpenResty's luajit through
-- .ci/luarocks-luajit.lua), so the suite runs on that runtime. The runner reads
-- .busted, which starts the emulator (see there). A busted rock would do the
-- same, but LuaRocks insists on installing it from luarocks.org; this works
-- with Debian's lua-busted as well as with a busted rock on the path.
local ok, runner = pcall(require, "busted.runner")
if not ok then
  io.stderr:write("evcp: the tests need busted (Debian: apt-get install lua-busted; or luarocks install busted)\n")
  os.exit(1)
end
runner({ standalone = false })
