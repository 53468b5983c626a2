-- evcp inside a real `nvim --headless --clean` (Neovim's LuaJIT and its
-- vim.loop), against the suite's emulator with latency injected
-- (X-Emulator-Fault: delay-N): spec/nvim/scenario.lua makes the calls a
-- plugin makes while a 50 ms timer ticks, and writes what it measured; the
-- cases below judge it. Expected values come from the clock, the timer and
-- the dataset, never from evcp.
local h = require("helper")
local rsp = require("rawserver_process")

local SLACK = 1.0
if os.getenv("EVCP_SLOW") or os.getenv("EVCP_CHILD_PRELOAD") then SLACK = 2.0 end

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local cjson = require("cjson").new()

describe("evcp in nvim --headless (transport 'nvim')", function()
  local report, output, ids

  setup(function()
    assert(h.url, "EVCP_TEST_URL is not set: run the suite with spec/run.sh")
    local db = require("emulator_process").module("dataset").load()
    ids = {}
    for _, loc in ipairs(db.locations or db) do
      if #ids >= 250 then break end
      ids[#ids + 1] = loc.id
    end
    local dir = rsp.tmpdir()
    local f = assert(io.open(dir .. "/config.json", "w"))
    f:write(cjson.encode({ url = h.url, key = h.key, seed = h.seed_id, ids = ids }))
    f:close()
    local root = os.getenv("PWD") or "."
    local env = ("env EVCP_ROOT=%s EVCP_BUILDJIT=%s EVCP_NVIM_DIR=%s"):format(q(root),
      q(os.getenv("EVCP_BUILDJIT") or "build/luajit"), q(dir))
    local pre = os.getenv("EVCP_CHILD_PRELOAD")
    env = env .. (pre and (" LD_PRELOAD=" .. q(pre)) or " LD_PRELOAD=")
    local p = assert(io.popen("timeout 120 " .. env .. " nvim --headless --clean -n -i NONE -c "
      .. q(require("host_nvim").lua_command(root .. "/spec/nvim/scenario.lua")) .. " </dev/null 2>&1"))
    output = p:read("*a")
    p:close()
    local text = rsp.read_all(dir .. "/report.json")
    rsp.sh("rm -rf " .. q(dir))
    assert(text, "nvim wrote no report; it printed:\n" .. output)
    report = cjson.decode(text)
  end)

  local function no_step_errors()
    for k, v in pairs(report) do
      if k:match("^step%d+_error$") then error(k .. ": " .. v .. "\n" .. output, 0) end
    end
  end

  it("runs every step without an error", function()
    no_step_errors()
  end)

  it("a 50 ms timer keeps ticking through a 2 s lookup made from a coroutine, which yields at once", function()
    local r = report.slow
    assert.is_nil(r.err)
    assert.equal(h.seed_id, r.id)
    assert.is_true(r.took >= 2.0 and r.took < 2.0 + SLACK, r.took)
    assert.is_true(report.slow_yield < 0.5, report.slow_yield) -- not the 2 s of the answer
    -- about 40 ticks in 2 s; a frozen loop would have none
    assert.is_true(r.ticks >= 30, r.ticks)
  end)

  it("results reach the coroutine on the main loop, where the editor API is safe", function()
    assert.is_false(report.slow.fast)
    assert.is_true(report.slow.api)
    assert.is_false(report.plain.fast)
    assert.is_true(report.plain.api)
  end)

  it("evcp.new{transport = 'nvim'} looks a location up from a coroutine", function()
    local r = report.plain
    assert.is_nil(r.err)
    assert.equal(h.seed_id, r.id)
    assert.is_true(r.evses > 0)
  end)

  it("a call outside a coroutine without a callback raises an error that explains both forms", function()
    assert.is_false(report.outside.ok)
    assert.matches("must be called from a coroutine", report.outside.err, 1, true)
    assert.matches("client:location(id, opts, function(loc, err)", report.outside.err, 1, true)
  end)

  it("the callback form: the call returns at once, the callback gets the result on the main loop", function()
    local r = report.callback
    assert.is_nil(r.raised)
    assert.is_nil(r.err)
    assert.equal(h.seed_id, r.id)
    assert.is_false(r.fast)
    assert.is_true(r.api)
    assert.is_true(report.callback_returned < 0.5, report.callback_returned)
  end)

  it("a batch's requests run concurrently: 3 requests delayed 1 s each take about 1 s", function()
    local r = report.batch
    assert.is_nil(r.err)
    assert.equal(#ids, r.ids)
    assert.equal(#ids, r.items + r.missing)
    assert.is_true(r.items > 0)
    assert.is_true(r.took >= 1.0 and r.took < 2.0 + SLACK - 1.0, r.took) -- not 3 s
    assert.is_true(r.ticks >= 15, r.ticks)
  end)

  it("a retry's sleep (Retry-After: 1) yields: the timer keeps ticking", function()
    local r = report.retry
    assert.is_nil(r.err)
    assert.equal(h.seed_id, r.id)
    assert.is_true(r.took >= 1.0, r.took)
    assert.is_true(r.ticks >= 15, r.ticks) -- about 20 in 1 s
  end)

  it("an error the resumed coroutine raises surfaces as a Neovim error", function()
    assert.matches("EVCP_SURFACED_ERROR", report.surfaced, 1, true)
  end)
end)
