-- evcp_emulator.source.here_seeds: the locations HERE's own documentation names
-- (seeds 000, 001, 003 and 004; see data/SOURCES.md), completed by hand.
return require("evcp_emulator.source.handwritten").source("here-seeds",
  "locations/here-seeds.json")
