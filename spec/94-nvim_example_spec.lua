-- The Neovim example plugin (examples/nvim) in a real nvim --headless, against
-- an emulator of its own whose first data request waits 1.5 s (--script
-- delay-1500): :EvcpStatus <seed id> returns at once, the editor loop keeps
-- ticking while HERE "answers", then a floating window shows the seed
-- location's EVSEs and statuses (the values spec/80 expects of
-- examples/demo.lua, from the dataset).
local h = require("helper")
local rsp = require("rawserver_process")
local ep = require("emulator_process")
local cjson = require("cjson").new()

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

describe("examples/nvim: :EvcpStatus in nvim --headless", function()
  local emu
  teardown(function() ep.stop(emu) end)

  it("shows the seed location's EVSE statuses in a floating window, without blocking the editor", function()
    local f = assert(io.open("spec/emulator-options"))
    local opts = f:read("*l")
    f:close()
    emu = ep.start(opts .. " --script delay-1500")
    local dir = rsp.tmpdir()
    local root = os.getenv("PWD") or "."
    local pre = os.getenv("EVCP_CHILD_PRELOAD")
    local cmd = ("timeout 60 env EVCP_ROOT=%s EVCP_BUILDJIT=%s EVCP_NVIM_DIR=%s EVCP_SEED_ID=%s EVCP_URL=%s"
      .. " EVCP_API_KEY=%s LD_PRELOAD=%s nvim --headless --clean -n -i NONE -c %s </dev/null 2>&1")
      :format(q(root), q(os.getenv("EVCP_BUILDJIT") or "build/luajit"), q(dir), q(h.seed_id), q(emu.url),
        q(h.key), q(pre or ""), q(require("host_nvim").lua_command(root .. "/spec/nvim/example.lua")))
    local p = assert(io.popen(cmd))
    local output = p:read("*a")
    p:close()
    local text = rsp.read_all(dir .. "/example.json")
    rsp.sh("rm -rf " .. q(dir))
    assert(text, "nvim wrote no report; it printed:\n" .. output)
    local r = cjson.decode(text)
    assert.is_true(r.ok, tostring(r.err))
    assert.equal("editor", r.relative)
    assert.is_true(r.current)
    local all = table.concat(r.lines, "\n")
    assert.matches("K-Lataus", all, 1, true)
    assert.matches("FI*KCH*7694          charging", all, 1, true)
    assert.is_true(r.returned_after < 0.5, r.returned_after) -- the command did not wait for HERE
    assert.is_true(r.took >= 1.5, r.took)
    assert.is_true(r.ticks >= 40, r.ticks) -- a 20 ms timer: about 75 ticks in 1.5 s
  end)
end)
