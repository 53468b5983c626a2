-- bench diagnostics (EVCP_RESTY_DIAG): thread-pool tasks without any I/O,
-- to price what crosses the thread boundary
local M = {}
local canned = { status = 200, body = ("x"):rep(299), headers = { ["content-type"] = "application/json",
  ["x-correlation-id"] = "39fbfc15-efdd-48ab-b39a-5c0137741a22", ["transfer-encoding"] = "chunked",
  date = "Tue, 01 Dec 2026 22:59:32 GMT", connection = "keep-alive", server = "nginx", ["content-encoding"] = "gzip" } }
function M.records(_, _, _) return true, { canned } end
function M.strings(_) return canned.body end
return M
