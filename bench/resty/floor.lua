-- The floor of resty-throughput, run in nginx's thread pool: a bare libcurl
-- fetch (Debian's lua-curl, one kept easy handle per thread VM, so the
-- connection is kept alive as evcp's is). fetch gives the body back to the
-- request, which decodes it (handlers.lua), as evcp decodes on the request's
-- side; fetch_decode decodes in the thread and gives only the id back.
local curl = require("curl")
local cjson = require("cjson")

local M = {}
local easy, chunks

local function fetch(url)
  if easy == nil then
    easy = curl.easy_init()
    easy:setopt(curl.OPT_NOSIGNAL, 1)
    easy:setopt(curl.OPT_ACCEPT_ENCODING, "gzip")
    easy:setopt(curl.OPT_TIMEOUT, 10)
    easy:setopt(curl.OPT_HTTPHEADER, { "Accept: application/json" })
    -- lua-curl 0.3 calls it with (bytes, their length)
    easy:setopt(curl.OPT_WRITEFUNCTION, function(s)
      chunks[#chunks + 1] = s
      return #s
    end)
  end
  chunks = {}
  easy:setopt(curl.OPT_URL, url)
  local code, msg = easy:perform()
  if code ~= nil and code ~= true and code ~= 0 then return nil, msg end
  return table.concat(chunks)
end
M.fetch = fetch

function M.fetch_decode(url)
  local body, err = fetch(url)
  if body == nil then return nil, err end
  local doc = cjson.decode(body)
  local item = doc.items and doc.items[1] or doc
  return item.id
end

return M
