--- evcp.v2.schema: the shapes of HERE's v2 documents (JSON and XML).
local M = {}

-- How v2's XML maps onto its JSON (here-v2.md §5.3): which elements repeat,
-- which hold numbers and booleans. "value" is a number only inside "price".
M.XML = {
  arrays = {
    evStation = true, connector = true, connectorStatus = true, roaming = true, emaId = true,
    supplierEmaID = true, phone = true, website = true, pricing = true, regularOpeningHours = true,
    period = true, annualOpenings = true, type = true, currency = true, evse = true,
    Message = true,
  },
  numbers = {
    count = true, distance = true, latitude = true, longitude = true, maxPowerLevel = true,
    totalNumberOfConnectors = true, numberOfConnectors = true, numberOfAvailable = true,
    numberOfInUse = true, numberOfOutOfService = true, numberOfReserved = true, daymask = true,
    phases = true, volts = true, amps = true, amount = true, value = { price = true },
  },
  booleans = {
    hasMore = true, fixedCable = true, open24x7 = true, pay = true, reservable = true,
    privateAccess = true, restrictedAccess = true, accept = true,
  },
}


return M
