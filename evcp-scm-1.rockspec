-- The library rock: the Lua modules under lua/evcp and the C core evcp.core.
-- The emulator has its own rock (evcp-emulator-scm-1.rockspec).
--
-- Runtimes: Lua 5.4 and LuaJIT 2.1 only. LuaRocks cannot say "5.4 or LuaJIT"
-- (LuaJIT presents itself as Lua 5.1 and a dependency list has no "or"), so
-- the dependency gives the outer bounds and the build (Makefile, need_runtime)
-- refuses Lua 5.1, 5.2 and 5.3 headers with a message that says why.
--
-- source.url: the project has no public remote yet; its repository is the git
-- directory of the main checkout, /work/main. `luarocks make` builds the
-- checkout it runs in and ignores the URL; `luarocks pack` and `luarocks
-- install` of this rockspec clone the URL's default branch. Change the URL when
-- the project is published.
rockspec_format = "3.0"
package = "evcp"
version = "scm-1"
source = {
  url = "git+file:///work/main",
  branch = "main",
}
description = {
  summary = "HERE EV charging data (EV Charge Points API v3 and v2) for Lua 5.4 and LuaJIT, with a C core",
  detailed = [[
evcp looks up HERE's EV charging locations, EVSEs, connectors, connector groups and
tariffs through the EV Charge Points API v3 (and the older API v2 in JSON and XML),
as C userdata objects over the decoded data, with concurrent batch lookups over
libcurl. Runs on Lua 5.4 and LuaJIT 2.1 (not on Lua 5.1, 5.2 or 5.3).
]],
  license = "MIT",
  labels = { "ev", "charging", "here", "ocpi" },
}
dependencies = {
  "lua >= 5.1, < 5.5",   -- 5.4, or LuaJIT 2.1 (reported as 5.1); the build refuses 5.1-5.3
  "lua-cjson >= 2.1.0",
}
external_dependencies = {
  -- libcurl by its library only: Debian keeps curl/curl.h in a multiarch
  -- include directory (/usr/include/x86_64-linux-gnu) that the compiler
  -- searches but LuaRocks 3.8's header check does not.
  CURL = { library = "curl" },
  EXPAT = { header = "expat.h", library = "expat" },
  ZLIB = { header = "zlib.h", library = "z" },
  OPENSSL = { header = "openssl/hmac.h", library = "crypto" },
}
build = {
  -- The Makefile is the one build description: the C sources (SRCS) and the
  -- warning flags are those of `make`, and every module under lua/evcp is
  -- installed without a list to keep in step here.
  type = "make",
  build_target = "rock",
  build_variables = {
    CC = "$(CC)",
    CFLAGS = "$(CFLAGS)",
    LIBFLAG = "$(LIBFLAG)",
    LUA_INCDIR = "$(LUA_INCDIR)",
    EXT_CFLAGS = "-I$(CURL_INCDIR) -I$(EXPAT_INCDIR) -I$(ZLIB_INCDIR) -I$(OPENSSL_INCDIR)",
    EXT_LIBS = "-L$(CURL_LIBDIR) -lcurl -L$(EXPAT_LIBDIR) -lexpat -L$(ZLIB_LIBDIR) -lz -L$(OPENSSL_LIBDIR) -lcrypto",
  },
  install_target = "rock-install",
  install_variables = {
    INST_LIBDIR = "$(LIBDIR)",
    INST_LUADIR = "$(LUADIR)",
  },
}
-- `luarocks test`: busted on the runtime luarocks is configured for, through
-- .busted (which starts an emulator); see spec/busted-runner.lua for why this
-- is not `type = "busted"`. Build first (`make`): the specs load build/<runtime>.
test = {
  type = "command",
  script = "spec/busted-runner.lua",
}
