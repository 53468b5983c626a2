-- The Neovim example plugin (examples/nvim) in a real nvim --headless
-- against the emulator: :EvcpStatus <seed id> opens a floating window with
-- the seed location's EVSEs and statuses (the values spec/80 expects of
-- examples/demo.lua, from the dataset).
local h = require("helper")
local rsp = require("rawserver_process")
local cjson = require("cjson").new()

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

describe("examples/nvim: :EvcpStatus in nvim --headless", function()
  it("shows the seed location's EVSE statuses in a floating window, without blocking", function()
    assert(h.url, "EVCP_TEST_URL is not set: run the suite with spec/run.sh")
    local dir = rsp.tmpdir()
    local root = os.getenv("PWD") or "."
    local pre = os.getenv("EVCP_CHILD_PRELOAD")
    local cmd = ("timeout 60 env EVCP_ROOT=%s EVCP_BUILDJIT=%s EVCP_NVIM_DIR=%s EVCP_SEED_ID=%s EVCP_URL=%s"
      .. " EVCP_API_KEY=%s LD_PRELOAD=%s nvim --headless --clean -n -i NONE -c %s </dev/null 2>&1")
      :format(q(root), q(os.getenv("EVCP_BUILDJIT") or "build/luajit"), q(dir), q(h.seed_id), q(h.url),
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
    assert.is_true(r.returned_after < 0.05, r.returned_after) -- the command did not wait for HERE
  end)
end)
