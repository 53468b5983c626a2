-- evcp_emulator.source.synthetic_berlin: five invented Berlin sites, so that HERE's v2
-- quick start query (5 km around 52.516667,13.383333, type 31) finds five stations.
return require("evcp_emulator.source.handwritten").source("synthetic-berlin",
  "locations/synthetic-berlin.json")
