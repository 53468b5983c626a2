rockspec_format = "3.0"
package = "evcp"
version = "scm-1"
source = {
  url = "git+https://example.invalid/evcp.git",
}
description = {
  summary = "HERE EV charging data (EV Charge Points API v3) for Lua, with a C core",
  detailed = [[
evcp looks up HERE's EV charging locations, EVSEs, connectors, connector groups and
tariffs through the EV Charge Points API v3, as C userdata objects over the decoded
data, with concurrent batch lookups over libcurl. Runs on Lua 5.4 and LuaJIT 2.1.
]],
  license = "MIT",
  labels = { "ev", "charging", "here", "ocpi" },
}
dependencies = {
  "lua >= 5.1",
  "lua-cjson >= 2.1.0",
}
build = {
  type = "builtin",
  modules = {
    ["evcp.core"] = {
      sources = { "csrc/core.c", "csrc/object.c", "csrc/xml.c", "csrc/transport.c" },
      libraries = { "curl", "expat" },
      defines = { "_POSIX_C_SOURCE=200809L" },
    },
    ["evcp"] = "lua/evcp/init.lua",
    ["evcp.check"] = "lua/evcp/check.lua",
    ["evcp.error"] = "lua/evcp/error.lua",
    ["evcp.json"] = "lua/evcp/json.lua",
    ["evcp.v3"] = "lua/evcp/v3.lua",
    ["evcp.v2"] = "lua/evcp/v2/init.lua",
    ["evcp.v2.schema"] = "lua/evcp/v2/schema.lua",
    ["evcp.v2.station"] = "lua/evcp/v2/station.lua",
    ["evcp.connectors"] = "lua/evcp/connectors.lua",
    ["evcp.status"] = "lua/evcp/status.lua",
    ["evcp.tesla"] = "lua/evcp/tesla.lua",
  },
}
test = {
  type = "busted",
}
