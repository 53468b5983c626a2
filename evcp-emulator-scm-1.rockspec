-- The evcp emulator: a local HTTP emulator of HERE's EV Charge Points APIs v3 and v2
-- (nginx + lua-nginx-module), the oracle evcp's tests run against. A rock of its own:
-- the evcp library rock does not ship it. See docs/EMULATOR.md.
rockspec_format = "3.0"
package = "evcp-emulator"
version = "scm-1"
source = {
  url = "git+file:///work/main",
  branch = "main",
}
description = {
  summary = "Local emulator of HERE's EV Charge Points APIs v3 and v2 (nginx + Lua)",
  detailed = [[
evcp-emulator serves HERE's EV Charge Points API v3 (/v3/...) and v2 (/ev/..., JSON and
XML) from a bundled dataset of about 7,000 charging locations built from public station
registers, with simulated, reproducible EVSE statuses. The `evcp-emulator` command runs
it on any port; `evcp-with-emulator -- cmd` runs a command against a fresh one.
It needs, outside LuaRocks: nginx with the lua-nginx-module (Debian: nginx and
libnginx-mod-http-lua), lua-cjson for nginx's LuaJIT (Debian: lua-cjson), curl and bash.
]],
  license = "MIT",
  labels = { "ev", "charging", "here", "emulator", "testing" },
}
supported_platforms = { "unix" }
-- Pure Lua (5.1 to 5.4): the modules run inside nginx's LuaJIT; the dataset loader also
-- runs on Lua 5.4. No rock dependency: lua-cjson must be the one nginx's LuaJIT loads.
dependencies = {
  "lua >= 5.1, < 5.5",
}
-- "none", not "builtin": builtin also copies the repository's lua/ directory (the evcp
-- library) into every rock built from this checkout.
build = {
  type = "none",
  install = {
    bin = {
      ["evcp-emulator"] = "bin/evcp-emulator",
      ["evcp-with-emulator"] = "bin/evcp-with-emulator",
    },
    lua = {
      ["evcp_emulator.auth"] = "emulator/lua/evcp_emulator/auth.lua",
      ["evcp_emulator.clock"] = "emulator/lua/evcp_emulator/clock.lua",
      ["evcp_emulator.convert"] = "emulator/lua/evcp_emulator/convert.lua",
      ["evcp_emulator.dataset"] = "emulator/lua/evcp_emulator/dataset.lua",
      ["evcp_emulator.http"] = "emulator/lua/evcp_emulator/http.lua",
      ["evcp_emulator.paths"] = "emulator/lua/evcp_emulator/paths.lua",
      ["evcp_emulator.query"] = "emulator/lua/evcp_emulator/query.lua",
      ["evcp_emulator.source.bnetza"] = "emulator/lua/evcp_emulator/source/bnetza.lua",
      ["evcp_emulator.source.handwritten"] = "emulator/lua/evcp_emulator/source/handwritten.lua",
      ["evcp_emulator.source.here_seeds"] = "emulator/lua/evcp_emulator/source/here_seeds.lua",
      ["evcp_emulator.source.herepy_berlin"] = "emulator/lua/evcp_emulator/source/herepy_berlin.lua",
      ["evcp_emulator.source.synthetic_berlin"] = "emulator/lua/evcp_emulator/source/synthetic_berlin.lua",
      ["evcp_emulator.source.uk_ncr"] = "emulator/lua/evcp_emulator/source/uk_ncr.lua",
      ["evcp_emulator.source.us_afdc"] = "emulator/lua/evcp_emulator/source/us_afdc.lua",
      ["evcp_emulator.stream"] = "emulator/lua/evcp_emulator/stream.lua",
      ["evcp_emulator.STREAM"] = "emulator/STREAM.md",
      ["evcp_emulator.tables"] = "emulator/lua/evcp_emulator/tables.lua",
      ["evcp_emulator.v2"] = "emulator/lua/evcp_emulator/v2.lua",
      ["evcp_emulator.v2_document"] = "emulator/lua/evcp_emulator/v2_document.lua",
      ["evcp_emulator.v3"] = "emulator/lua/evcp_emulator/v3.lua",
      ["evcp_emulator.zlib"] = "emulator/lua/evcp_emulator/zlib.lua",
      -- the data next to the modules: <tree>/share/lua/<v>/evcp_emulator/data/...
      ["evcp_emulator.data.SOURCES"] = "emulator/data/SOURCES.md",
      ["evcp_emulator.data.locations.here-seeds"] = "emulator/data/locations/here-seeds.json",
      ["evcp_emulator.data.locations.herepy-berlin"] = "emulator/data/locations/herepy-berlin.json",
      ["evcp_emulator.data.locations.synthetic-berlin"] = "emulator/data/locations/synthetic-berlin.json",
      ["evcp_emulator.data.migration-tables"] = "emulator/data/migration-tables.lua",
      ["evcp_emulator.data.openapi"] = "emulator/data/openapi.json",
      ["evcp_emulator.data.stations.afdc-wa-2025.alt_fuel_stations"] = "emulator/data/stations/afdc-wa-2025/alt_fuel_stations.csv",
      ["evcp_emulator.data.stations.bnetza-koeln-2022.Ladesaeulenregister"] = "emulator/data/stations/bnetza-koeln-2022/Ladesaeulenregister.csv",
      ["evcp_emulator.data.stations.uk-ncr-2017.national-charge-point-registry"] = "emulator/data/stations/uk-ncr-2017/national-charge-point-registry.csv",
    },
  },
}
