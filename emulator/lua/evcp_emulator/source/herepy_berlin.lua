-- evcp_emulator.source.herepy_berlin: the Berlin station of HerePy's recorded v2
-- responses (RWE Effizienz GmbH, Luisenstrasse 31), written by hand as a v3 location.
return require("evcp_emulator.source.handwritten").source("herepy-berlin",
  "locations/herepy-berlin.json")
