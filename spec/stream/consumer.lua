-- One consumer process of spec/65's group cases: subscribes at once, waits
-- until the wall-clock second START (so that the whole group has joined
-- before anything is read), then reads updates until UNTIL, committing
-- after each round, and writes one line per update to OUT:
--   <partition> <offset> <evse_id> <ms since the epoch>
-- usage: lua consumer.lua URL GROUP CONSUMER_ID START UNTIL OUT
local evcp = require("evcp")
local socket = require("socket")
local url, group, id, start, until_, out = arg[1], arg[2], arg[3], tonumber(arg[4]), tonumber(arg[5]), arg[6]
local c = evcp.new({ base_url = url, access_token = "T1", timeout = 10, deadline = 30 })
local consumer = assert(c:stream({ group = group, mode = "parallel", consumer_id = id,
  properties = { ["max.poll.records"] = 5, ["fetch.max.wait.ms"] = 200 } }))
local f = assert(io.open(out, "w"))
f:setvbuf("line")
while socket.gettime() < start do socket.sleep(0.05) end
while socket.gettime() < until_ do
  for u in consumer:updates({ timeout = 0.5 }) do
    f:write(u.partition, " ", u.offset, " ", u.evse_id, " ", math.floor(socket.gettime() * 1000), "\n")
  end
  local err = consumer:err()
  if err then io.stderr:write("consumer ", id, ": ", tostring(err), "\n") end
  local ok, cerr = consumer:commit()
  if not ok and cerr.code ~= "E213028" then io.stderr:write("consumer ", id, ": commit: ", tostring(cerr), "\n") end
end
f:close()
consumer:close()
c:close()
