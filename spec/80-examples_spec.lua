-- The scripts in examples/ run against the emulator and print what they promise.
local h = require("helper")

local function run(script, args)
  local interp = jit and "luajit" or "lua5.4"
  -- under `make sanitize` the example runs with the sanitizer runtime too
  -- (spec/sanitize.sh passes it on; the interpreter's own LD_PRELOAD is gone)
  local pre = os.getenv("EVCP_CHILD_PRELOAD")
  local env = pre and ("env LD_PRELOAD='" .. pre .. "'") or "env -u LD_PRELOAD"
  local cmd = ("%s EVCP_URL=%s %s examples/%s %s 2>&1; echo \"rc=$?\"")
    :format(env, h.url, interp, script, args or "")
  local p = io.popen(cmd)
  local out = p:read("*a")
  p:close()
  return out, tonumber(out:match("rc=(%d+)%s*$"))
end

describe("examples #slow", function()
  setup(function() assert(h.url, "EVCP_TEST_URL is not set: run the suite with `make test`") end)

  it("demo.lua prints the seed location's EVSEs and groups", function()
    local out, rc = run("demo.lua")
    assert.equal(0, rc, out)
    assert.matches("K-Lataus", out, 1, true)
    assert.matches("FI*KCH*7694       charging      CHADEMO", out, 1, true)
    assert.matches("IEC_62196_T2_COMBO   up to 150 kW     1 of 2 available", out, 1, true)
  end)

  it("v2-berlin.lua lists Type 2 sites by distance", function()
    local out, rc = run("v2-berlin.lua")
    assert.equal(0, rc, out)
    local n, last = 0, -1
    for d in out:gmatch("(%d+) m  ") do
      n = n + 1
      assert.is_true(tonumber(d) >= last)
      last = tonumber(d)
    end
    assert.is_true(n >= 5, out)
  end)

  it("tesla-sites.lua classifies what it is given", function()
    local db = require("emulator_process").module("dataset").load()
    local want = {}
    local ids = {}
    for _, rec in ipairs(db.locations) do
      local kind = require("evcp.tesla").classify(rec)
      if kind and not want[kind] then
        want[kind] = rec.id
        ids[#ids + 1] = rec.id
      end
    end
    ids[#ids + 1] = h.seed_id
    local out, rc = run("tesla-sites.lua", table.concat(ids, " "))
    assert.equal(0, rc, out)
    for kind in pairs(want) do assert.matches(kind, out, 1, true) end
    assert.matches("-            K-Lataus", out, 1, true)
    local _, urc = run("tesla-sites.lua")
    assert.equal(2, urc)
  end)

  it("watch.lua prints live status changes, of the locations asked for", function()
    local ep = require("emulator_process")
    local emu = ep.start("--data spec/fixtures/stream/db.lua --status-interval 0 --token T1"
      .. " --stream-interval-ms 50 --stream-max 1000")
    finally(function() ep.stop(emu) end)
    local function watch(args)
      local env = os.getenv("EVCP_CHILD_PRELOAD")
      local p = io.popen(("%s EVCP_URL=%s EVCP_TOKEN=T1 EVCP_WATCH_SECONDS=2 %s examples/watch.lua %s 2>&1; "
        .. "echo \"rc=$?\""):format(env and ("env LD_PRELOAD='" .. env .. "'") or "env -u LD_PRELOAD", emu.url,
        jit and "luajit" or "lua5.4", args or ""))
      local out = p:read("*a")
      p:close()
      return out, tonumber(out:match("rc=(%d+)%s*$"))
    end
    local out, rc = watch()
    assert.equal(0, rc, out)
    local rows, loc = 0, nil
    for when, status, rawst, l in out:gmatch("\n(%d%d%d%d%-%d%d%-%d%dT%S+)%s+(%S+)%s+(%S+)%s+(%S+) / ") do
      rows = rows + 1
      assert.equal(require("evcp.status").normalize(rawst), status)
      assert.is_true(when >= os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - 10), when) -- live, not history
      loc = loc or l
    end
    assert.is_true(rows >= 5, out)
    out, rc = watch("here:evcp:charginglocation:" .. loc)
    assert.equal(0, rc, out)
    for l in out:gmatch("\n%d%d%d%d%-%S+%s+%S+%s+%S+%s+(%S+) / ") do assert.equal(loc, l) end
  end)
end)
