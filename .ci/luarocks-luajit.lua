lua_interpreter = "luajit"
variables = {
  LUA_DIR = "/usr",
  LUA_BINDIR = "/usr/bin",
  LUA_INCDIR = "/usr/include/luajit-2.1",
  LUA_LIBDIR = "/usr/lib/x86_64-linux-gnu",
}
