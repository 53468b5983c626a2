-- examples/openresty/ (issue 9 §5): its nginx.conf and nearby.lua, run as
-- given in a real nginx against the suite's emulator. The configuration is
-- copied unchanged into a temporary prefix laid out like the checkout (the
-- conf finds lua/ and build/luajit/ at $prefix/../..), with one change: the
-- listen port, a free one. Expected sites come from the same query made here
-- through the blocking client.
local socket = require("socket")
local cjson = require("cjson").new()
local rsp = require("rawserver_process")
local nx = require("openresty.nginx")
local h = require("helper")
local evcp = require("evcp")

local ROOT = nx.root
local BERLIN = { 52.516667, 13.383333, 5000 }

local function get(port, path)
  return nx.get(("http://127.0.0.1:%d%s"):format(port, path), 60)
end

describe("examples/openresty #slow", function()
  local dir, port, pid, watch

  setup(function()
    assert(h.url, "EVCP_TEST_URL is not set: run the suite with `make test`")
    dir = rsp.tmpdir()
    local q = rsp.shell_quote
    local build = os.getenv("EVCP_BUILDJIT") or "build/luajit"
    if build:sub(1, 1) ~= "/" then build = ROOT .. build end
    -- (nginx started as root runs its worker as nobody: the prefix must be readable)
    assert(rsp.sh(("chmod 755 %s && mkdir -p %s/examples/openresty %s/build && ln -s %s %s/lua && ln -s %s %s/build/luajit")
      :format(q(dir), q(dir), q(dir), q(ROOT .. "lua"), q(dir), q(build), q(dir))))
    local conf = assert(io.open(ROOT .. "examples/openresty/nginx.conf", "rb")):read("*a")
    port = rsp.free_port()
    local n
    conf, n = conf:gsub("listen 127%.0%.0%.1:8081;", "listen 127.0.0.1:" .. port .. ";")
    assert.equal(1, n)
    local f = assert(io.open(dir .. "/examples/openresty/nginx.conf", "wb"))
    f:write(conf)
    f:close()
    assert(rsp.sh(("cp %s %s/examples/openresty/"):format(q(ROOT .. "examples/openresty/nearby.lua"), q(dir))))
    local prefix = dir .. "/examples/openresty"
    pid, watch = rsp.spawn(("env %sEVCP_URL=%s EVCP_API_KEY=demo-key nginx -p %s -c nginx.conf")
      :format(nx.env(), q(h.url), q(prefix)), dir .. "/out", dir .. "/pid", dir)
    local deadline = rsp.clock() + 20
    repeat
      local c = socket.tcp()
      c:settimeout(0.2)
      local ok = c:connect("127.0.0.1", port)
      c:close()
      if ok then return end
      assert(rsp.alive(pid), "nginx exited: " .. tostring(rsp.read_all(dir .. "/out")))
      socket.sleep(0.05)
    until rsp.clock() > deadline
    error("the example's nginx did not start: " .. tostring(rsp.read_all(dir .. "/out")))
  end)

  teardown(function()
    rsp.kill(pid)
    rsp.kill(watch)
    if dir then rsp.sh("rm -rf " .. rsp.shell_quote(dir)) end
  end)

  it("serves the sites near Berlin's centre with their availability, as the blocking client sees them", function()
    local status, body = get(port, ("/nearby?lat=%s&lng=%s&radius=%d"):format(BERLIN[1], BERLIN[2], BERLIN[3]))
    assert.equal(200, status, tostring(body) .. tostring(rsp.read_all(dir .. "/out")))
    local got = cjson.decode(body)
    local c = evcp.new({ base_url = h.url, api_key = "demo-key" })
    local page = assert(c.v2:stations({ prox = BERLIN }))
    assert.is_true(#page.items >= 2)
    assert.equal(#page.items, got.count)
    for i, loc in ipairs(page.items) do
      local site = got.sites[i]
      assert.equal(loc.id, site.id)
      assert.equal(loc.v2.distance, site.distance)
      local total, free = 0, 0
      for evse in loc:evses() do
        total = total + 1
        if evse.status == "available" then free = free + 1 end
      end
      assert.same({ total, free }, { site.total, site.available })
      local sum = 0
      for _, n in pairs(site.statuses) do sum = sum + n end
      assert.equal(total, sum)
    end
    c:close()
  end)

  it("answers 400 for bad coordinates", function()
    for _, q in ipairs({ "/nearby", "/nearby?lat=91&lng=0", "/nearby?lat=x&lng=1", "/nearby?lat=1&lng=2&radius=0" }) do
      local status, body = get(port, q)
      assert.equal(400, status, q)
      assert.matches("lat", cjson.decode(body).error, 1, true)
    end
  end)
end)
