-- The transport conformance spec: every transport in `transports` runs
-- through the same cases against spec/rawserver.lua, a raw HTTP/1.1 server
-- in a process of its own that logs the exact bytes it receives, and (for
-- TLS) `openssl s_server` with a throw-away self-signed certificate.
-- Expected values come from the server's log and from the constants below,
-- which mirror what rawserver.lua sends; never from the transport.
local socket = require("socket")

local transports = {
  { name = "curl", new = function(opts) return require("evcp.core").curl_transport(opts) end },
  -- the uv host (the events mode of the same C transport on a luv loop), in
  -- this process: spec/nvim/uv_sync.lua runs each call in a coroutine and
  -- the loop until it is done (not the C object itself: remote)
  { name = "uv", remote = true, new = function(opts) return require("nvim.uv_sync").new(opts) end },
}

-- The host transports (issue 9) run in a host process of their own (a real
-- nginx, a real nvim --headless): spec/host_<name>.lua starts it with the
-- bridge server of spec/transport_bridge.lua, and each case drives the
-- host's transport through the bridge. A host module that is present must
-- work (it fails, never skips, when its host is missing). Cases that look
-- at the Lua object itself (metatables, finalizers, raw reads) are for the
-- local transport only: a bridge copies records as JSON.
-- EVCP_SPEC_HOSTS (names separated by spaces) picks the hosts instead:
-- spec/valgrind.sh gives none, since valgrind watches only this process.
local bridge = require("transport_bridge")
local host_names = { "resty", "resty_http", "nvim" }
if os.getenv("EVCP_SPEC_HOSTS") then
  host_names = {}
  for name in os.getenv("EVCP_SPEC_HOSTS"):gmatch("%S+") do host_names[#host_names + 1] = name end
end
for _, name in ipairs(host_names) do
  local found, host = pcall(require, "host_" .. name)
  if found then
    transports[#transports + 1] = { name = name, remote = true, host = host,
      new = function(opts) return bridge.transport(host.url, opts) end }
  elseif not tostring(host):find("module 'host_" .. name .. "' not found", 1, true) then
    error(host, 0)
  end
end

-- what rawserver.lua serves for /gzip/none, /gzip/ok ...
local TEXT = ("The quick brown fox jumps over the lazy dog. "):rep(200) .. "end"
-- seconds allowed past a time limit: 2 shared cores; far more under valgrind
-- (which shows in the LD_PRELOAD it gives the interpreter)
local SLACK = 1.0
if os.getenv("EVCP_SLOW") or (os.getenv("LD_PRELOAD") or ""):find("vgpreload", 1, true) then SLACK = 5.0 end

local rsp = require("rawserver_process")
local shell_quote, read_all, sh, clock = rsp.shell_quote, rsp.read_all, rsp.sh, rsp.clock
local tmpdir, free_port, alive, spawn, kill = rsp.tmpdir, rsp.free_port, rsp.alive, rsp.spawn, rsp.kill
local start_server, stop_server, clear_log = rsp.start, rsp.stop, rsp.clear
local events, only, wait_event = rsp.events, rsp.only, rsp.wait_event

-- parses one raw request: request line, header list, body
local function parse_request(raw)
  local head, body = raw:match("^(.-)\r\n\r\n(.*)$")
  assert(head, "no request head in " .. raw)
  local lines = {}
  for line in (head .. "\r\n"):gmatch("(.-)\r\n") do lines[#lines + 1] = line end
  local start = table.remove(lines, 1)
  table.sort(lines)
  return start, lines, body
end

local function sorted(t)
  table.sort(t)
  return t
end

---------------------------------------------------------------------------

for _, impl in ipairs(transports) do
  describe("transport conformance (" .. impl.name .. ")", function()
    local srv, base

    setup(function()
      srv = {}
      start_server(srv)
      base = srv.base
      if impl.host then impl.host.url = impl.host.start() end
    end)

    teardown(function()
      stop_server(srv)
      if impl.host then impl.host.stop() end
    end)

    -- the cases a host cannot pass, with the reason (its module's skip
    -- table: shown as pending, never silently left out)
    local skip = impl.host and impl.host.skip or {}
    local plain_it = it
    local function it(name, f)
      if skip[name] then pending(name .. " (" .. impl.name .. ": " .. skip[name] .. ")") else plain_it(name, f) end
    end
    -- a case about the local Lua object: not for a bridged transport
    local local_it = impl.remote and function() end or it

    before_each(function()
      clear_log(srv)
    end)

    -- runs fn(t) with a fresh transport and always closes it; no proxy from
    -- the environment gets between the transport and the loopback servers
    local function with(opts, fn)
      if opts.proxy == nil then opts.proxy = "" end
      local t = impl.new(opts)
      local ok, err = pcall(fn, t)
      t:close()
      if not ok then error(err, 0) end
    end

    local function run1(t, req)
      local results = t:run({ req })
      assert.equal(1, #results)
      return results[1]
    end

    describe("answers", function()
      it("GET 200: status, body and lower-case headers, repeats joined", function()
        with({}, function(t)
          local r = run1(t, { method = "GET", url = base .. "/echo/hello" })
          assert.is_nil(r.kind)
          assert.equal(200, r.status)
          assert.equal("application/octet-stream", r.headers["content-type"])
          assert.equal("a, b", r.headers["x-twice"])
          assert.equal("Value", r.headers["x-mixed-case"])
          assert.equal(tostring(#r.body), r.headers["content-length"])
          assert.equal("GET /echo/hello HTTP/1.1\r\n", r.body:sub(1, 26))
          for name in pairs(r.headers) do assert.equal(name:lower(), name) end
        end)
      end)

      it("a 4xx or 5xx is a status, not a failure kind", function()
        with({}, function(t)
          local rs = t:run({ { url = base .. "/status/404" }, { url = base .. "/status/503" },
            { url = base .. "/status/429" } })
          assert.same({ 404, 503, 429 }, { rs[1].status, rs[2].status, rs[3].status })
          assert.is_nil(rs[1].kind)
          assert.is_nil(rs[2].kind)
          assert.equal("status 503", rs[2].body)
        end)
      end)

      it("a redirect is returned, never followed", function()
        with({}, function(t)
          local r = run1(t, { url = base .. "/redirect" })
          assert.equal(302, r.status)
          assert.matches("/echo/redirected$", r.headers.location)
          assert.equal(1, #only(events(srv), "REQ"))
        end)
      end)

      it("interim 1xx responses are skipped: headers of the final response only", function()
        with({}, function(t)
          local r = run1(t, { url = base .. "/raw/continue" })
          assert.equal(200, r.status)
          assert.equal("ok", r.body)
          assert.equal("yes", r.headers["x-final"])
          assert.is_nil(r.headers["x-interim"])
        end)
      end)

      it("chunked bodies are joined; header values are trimmed", function()
        with({}, function(t)
          local rs = t:run({ { url = base .. "/raw/chunked" }, { url = base .. "/raw/folded" } })
          assert.equal("hello world", rs[1].body)
          assert.equal("padded value", rs[2].headers["x-spaced"])
        end)
      end)

      it("bad framing is a network failure", function()
        with({}, function(t)
          local rs = t:run({ { url = base .. "/raw/short" }, { url = base .. "/raw/badchunk" },
            { url = base .. "/raw/badstatus" } })
          for i = 1, 3 do assert.equal("network", rs[i].kind, i) end
          assert.is_string(rs[1].message)
        end)
      end)

      it("connection refused is a network failure without a status", function()
        with({}, function(t)
          local r = run1(t, { url = "http://127.0.0.1:" .. free_port() .. "/x" })
          assert.equal("network", r.kind)
          assert.is_nil(r.status)
          assert.matches("onnect", r.message)
        end)
      end)

      it("a keep-alive connection the server dropped is replaced transparently", function()
        with({}, function(t)
          assert.equal(200, run1(t, { url = base .. "/drop/1" }).status)
          socket.sleep(0.1)
          local r = run1(t, { url = base .. "/echo/after" })
          assert.equal(200, r.status)
          assert.equal(2, #only(events(srv), "CONN"))
        end)
      end)

      it("the proxy option sends requests through the proxy", function()
        with({ proxy = base, compress = false, user_agent = "ua" }, function(t)
          local r = run1(t, { url = "http://upstream.invalid/some/path?q=%20" })
          assert.equal(200, r.status)
          assert.equal("yes", r.headers["x-proxied"])
          local start, lines = parse_request(r.body)
          assert.equal("GET http://upstream.invalid/some/path?q=%20 HTTP/1.1", start)
          assert.truthy(("\n" .. table.concat(lines, "\n") .. "\n"):find("\nHost: upstream.invalid\n", 1, true))
        end)
      end)

      it("reuses the connection across calls", function()
        with({}, function(t)
          for _ = 1, 3 do assert.equal(200, run1(t, { url = base .. "/echo/again" }).status) end
          assert.equal(1, #only(events(srv), "CONN"))
          assert.equal(3, #only(events(srv), "REQ"))
        end)
      end)
    end)

    describe("requests are sent exactly as given", function()
      it("GET: method, path and query bytes unchanged, the given headers, the User-Agent, nothing else", function()
        with({ user_agent = "evcp-spec/1.0", compress = false }, function(t)
          local target = "/echo/a%2Fb/%7e/../x?q=%20x+y&k=%26v&e=&u=%C3%A9"
          local r = run1(t, { method = "GET", url = base .. target,
            headers = { ["X-Api-Thing"] = "v1", Authorization = "Bearer abc.def", ["X-Empty"] = "" } })
          assert.equal(200, r.status)
          local reqs = only(events(srv), "REQ")
          assert.equal(1, #reqs)
          assert.equal(reqs[1].payload, r.body) -- the echo is what the log holds
          local start, lines, body = parse_request(reqs[1].payload)
          assert.equal("GET " .. target .. " HTTP/1.1", start)
          assert.same(sorted({ "Host: 127.0.0.1:" .. srv.port, "User-Agent: evcp-spec/1.0",
            "X-Api-Thing: v1", "Authorization: Bearer abc.def", "X-Empty:" }), lines)
          assert.equal("", body)
        end)
      end)

      it("compress adds Accept-Encoding: gzip and nothing else", function()
        with({ user_agent = "ua" }, function(t)
          run1(t, { url = base .. "/echo/c" })
          local _, lines = parse_request(only(events(srv), "REQ")[1].payload)
          assert.same(sorted({ "Host: 127.0.0.1:" .. srv.port, "User-Agent: ua", "Accept-Encoding: gzip" }), lines)
        end)
      end)

      it("a request's own User-Agent and Accept win", function()
        with({ user_agent = "ua", compress = false }, function(t)
          run1(t, { url = base .. "/echo/c", headers = { ["User-Agent"] = "mine", Accept = "application/xml" } })
          local _, lines = parse_request(only(events(srv), "REQ")[1].payload)
          assert.same(sorted({ "Host: 127.0.0.1:" .. srv.port, "User-Agent: mine", "Accept: application/xml" }), lines)
        end)
      end)

      it("POST with a body: Content-Length and the body bytes, no Expect, no invented Content-Type", function()
        with({ user_agent = "ua", compress = false }, function(t)
          local body = "grant_type=client_credentials&x=%20\0binary\255"
          local rs = t:run({
            { method = "POST", url = base .. "/echo/token", body = body,
              headers = { ["Content-Type"] = "application/x-www-form-urlencoded" } },
            { method = "POST", url = base .. "/echo/raw", body = "{}" },
            { method = "POST", url = base .. "/echo/empty" },
          })
          for i = 1, 3 do assert.equal(200, rs[i].status) end
          local start, lines, got = parse_request(rs[1].body)
          assert.equal("POST /echo/token HTTP/1.1", start)
          assert.same(sorted({ "Host: 127.0.0.1:" .. srv.port, "User-Agent: ua",
            "Content-Type: application/x-www-form-urlencoded", "Content-Length: " .. #body }), lines)
          assert.equal(body, got)
          _, lines, got = parse_request(rs[2].body)
          assert.same(sorted({ "Host: 127.0.0.1:" .. srv.port, "User-Agent: ua", "Content-Length: 2" }), lines)
          assert.equal("{}", got)
          start, lines = parse_request(rs[3].body)
          assert.equal("POST /echo/empty HTTP/1.1", start)
          assert.same(sorted({ "Host: 127.0.0.1:" .. srv.port, "User-Agent: ua", "Content-Length: 0" }), lines)
        end)
      end)

      it("a large POST body goes out at once (no 100-continue wait)", function()
        with({ compress = false, max_body = 4 * 1024 * 1024 }, function(t)
          local body = ("0123456789abcdef"):rep(128 * 1024) -- 2 MiB
          local r = run1(t, { method = "POST", url = base .. "/echo/big", body = body })
          assert.equal(200, r.status)
          local _, lines, got = parse_request(r.body)
          for _, line in ipairs(lines) do assert.is_nil(line:lower():match("^expect:"), line) end
          assert.equal(#body, #got)
          assert.equal(body, got)
        end)
      end)

      it("one connection and handle, methods in turn: nothing of a request leaks into the next", function()
        with({ max_parallel = 1, compress = false, user_agent = "ua" }, function(t)
          local seq = {
            { "HEAD", nil }, { "GET", nil }, { "POST", "p=1" }, { "GET", nil }, { "DELETE", nil },
            { "PUT", "put-body" }, { "HEAD", nil }, { "POST", nil }, { "PATCH", "{}" }, { "OPTIONS", nil },
            { "GET", nil },
          }
          for i, m in ipairs(seq) do
            local r = run1(t, { method = m[1], url = ("%s/echo/%d"):format(base, i), body = m[2] })
            assert.equal(200, r.status, m[1])
            local reqs = only(events(srv), "REQ")
            local start, lines, body = parse_request(reqs[#reqs].payload)
            assert.equal(("%s /echo/%d HTTP/1.1"):format(m[1], i), start)
            local want = { "Host: 127.0.0.1:" .. srv.port, "User-Agent: ua" }
            if m[2] or m[1] == "POST" then want[#want + 1] = "Content-Length: " .. #(m[2] or "") end
            assert.same(sorted(want), lines, m[1] .. " " .. i)
            assert.equal(m[2] or "", body)
            if m[1] == "HEAD" then assert.equal("", r.body) else assert.equal(reqs[#reqs].payload, r.body) end
          end
          assert.equal(1, #only(events(srv), "CONN"))
        end)
      end)

      it("other methods: PUT with a body, DELETE and HEAD without", function()
        with({ compress = false }, function(t)
          local rs = t:run({
            { method = "PUT", url = base .. "/echo/p", body = "data" },
            { method = "DELETE", url = base .. "/echo/d" },
            { method = "HEAD", url = base .. "/echo/h" },
          })
          local reqs = only(events(srv), "REQ")
          assert.equal(3, #reqs)
          local seen = {}
          for _, e in ipairs(reqs) do seen[#seen + 1] = (parse_request(e.payload)) end
          assert.same(sorted({ "PUT /echo/p HTTP/1.1", "DELETE /echo/d HTTP/1.1", "HEAD /echo/h HTTP/1.1" }),
            sorted(seen))
          local _, _, got = parse_request(rs[1].body)
          assert.equal("data", got)
          assert.equal(200, rs[3].status)
          assert.equal("", rs[3].body)
        end)
      end)
    end)

    describe("time limits", function()
      it("a silent server is a timeout, within timeout + slack", function()
        with({ timeout = 0.5 }, function(t)
          local t0 = clock()
          local r = run1(t, { url = base .. "/silent" })
          local took = clock() - t0
          assert.equal("timeout", r.kind)
          assert.is_true(took >= 0.45, took)
          assert.is_true(took < 0.5 + SLACK, took)
        end)
      end)

      it("a timeout of 1 ms still times out (never 'no timeout')", function()
        with({ timeout = 0.001, connect_timeout = 0.001 }, function(t)
          local t0 = clock()
          local r = run1(t, { url = base .. "/silent" })
          assert.equal("timeout", r.kind)
          assert.is_true(clock() - t0 < SLACK)
        end)
      end)

      it("a request's own timeout overrides the transport's", function()
        with({ timeout = 30 }, function(t)
          local t0 = clock()
          local r = run1(t, { url = base .. "/silent", timeout = 0.3 })
          assert.equal("timeout", r.kind)
          assert.is_true(clock() - t0 < 0.3 + SLACK)
        end)
      end)

      it("a slow drip ends with the timeout", function()
        with({ timeout = 1 }, function(t)
          local t0 = clock()
          local r = run1(t, { url = base .. "/drip/200/100" })
          local took = clock() - t0
          assert.equal("timeout", r.kind)
          assert.equal(200, r.status)
          assert.is_true(took < 1 + SLACK, took)
        end)
      end)

      it("the low-speed limit aborts a drip long before the timeout", function()
        with({ timeout = 20, low_speed_limit = 100, low_speed_time = 1 }, function(t)
          local t0 = clock()
          local r = run1(t, { url = base .. "/drip/200/100" })
          local took = clock() - t0
          assert.equal("timeout", r.kind)
          assert.is_true(took < 2 + SLACK, took)
        end)
      end)
    end)

    describe("size limits", function()
      it("a body of exactly max_body passes, one byte more is too_large", function()
        with({ max_body = #TEXT }, function(t)
          local r = run1(t, { url = base .. "/gzip/none" })
          assert.equal(TEXT, r.body)
        end)
        with({ max_body = #TEXT - 1 }, function(t)
          local r = run1(t, { url = base .. "/gzip/none" })
          assert.equal("too_large", r.kind)
          assert.equal(200, r.status)
        end)
      end)

      it("a body over max_body is too_large and not downloaded to the end", function()
        with({ max_body = 100000, timeout = 20 }, function(t)
          local t0 = clock()
          local r = run1(t, { url = base .. "/big/300000" }) -- then a 3 s pause, then more
          local took = clock() - t0
          assert.equal("too_large", r.kind)
          assert.equal(200, r.status)
          assert.is_true(took < 1.5 * SLACK, took)
          assert.is_true(wait_event(srv, "ABORTED"))
          assert.equal(0, #only(events(srv), "COMPLETE"))
        end)
      end)

      it("a declared Content-Length over max_body is refused before the download", function()
        with({ max_body = 100000, timeout = 20 }, function(t)
          local t0 = clock()
          local r = run1(t, { url = base .. "/biglen/50000000" })
          assert.equal("too_large", r.kind)
          assert.is_true(clock() - t0 < 1.5 * SLACK)
          assert.is_true(wait_event(srv, "ABORTED"))
        end)
      end)

      it("too many response header fields are too_large; 50 are fine", function()
        with({}, function(t)
          local rs = t:run({ { url = base .. "/headers/150" }, { url = base .. "/headers/50" } })
          assert.equal("too_large", rs[1].kind)
          assert.equal("50", rs[2].headers["x-h50"])
          assert.equal("many", rs[2].body)
        end)
      end)
    end)

    describe("content encoding", function()
      for _, compress in ipairs({ true, false }) do
        it("one gzip layer is inflated and verified (compress = " .. tostring(compress) .. ")", function()
          with({ compress = compress }, function(t)
            local names = { "ok", "upper", "xgzip", "chunked", "identity", "none" }
            local reqs = {}
            for i, v in ipairs(names) do reqs[i] = { url = base .. "/gzip/" .. v } end
            local rs = t:run(reqs)
            for i, v in ipairs(names) do
              assert.is_nil(rs[i].kind, v .. ": " .. tostring(rs[i].message))
              assert.equal(TEXT, rs[i].body, v)
            end
            assert.equal("gzip", rs[1].headers["content-encoding"])
          end)
        end)
      end

      it("an empty body needs no decoding, whatever its encoding", function()
        with({}, function(t)
          local rs = t:run({ { url = base .. "/gzip/empty" }, { url = base .. "/raw/nocontent" } })
          assert.equal(200, rs[1].status)
          assert.equal("", rs[1].body)
          assert.equal(204, rs[2].status)
          assert.equal("", rs[2].body)
        end)
      end)

      it("corrupt, truncated, stacked or unknown encodings are decode failures with the status", function()
        with({}, function(t)
          local names = { "truncated", "notrailer", "cut", "badcrc", "badsize", "garbage", "twomembers",
            "stacked", "twofields", "unknown", "deflate", "notgzip" }
          local reqs = {}
          for i, v in ipairs(names) do reqs[i] = { url = base .. "/gzip/" .. v } end
          local rs = t:run(reqs)
          for i, v in ipairs(names) do
            assert.equal("decode", rs[i].kind, v)
            assert.equal(200, rs[i].status, v)
            assert.is_string(rs[i].message)
            assert.is_nil(rs[i].body, v)
          end
          assert.matches("br", rs[10].message)
        end)
      end)

      it("a gzip bomb stops at max_body", function()
        with({ max_body = 1024 * 1024 }, function(t)
          local r = run1(t, { url = base .. "/gzip/bomb" }) -- 8 MiB of zeros, ~8 KB on the wire
          assert.equal("too_large", r.kind)
          assert.equal(200, r.status)
        end)
      end)
    end)

    describe("damaged responses", function()
      it("300 damaged responses: each is a well-formed result, never a crash", function()
        with({ timeout = 2, max_parallel = 8 }, function(t)
          local reqs = {}
          for i = 1, 300 do reqs[i] = { url = ("%s/fuzz/%d"):format(base, i) } end
          local rs = t:run(reqs)
          local kinds = { timeout = true, network = true, tls = false, too_large = true, decode = true }
          local seen = {}
          for i = 1, 300 do
            local r = rs[i]
            if r.kind then
              assert.is_true(kinds[r.kind], r.kind)
              assert.is_string(r.message)
              assert.is_nil(r.body)
              seen[r.kind] = true
            else
              assert.is_number(r.status)
              assert.is_string(r.body)
              assert.is_table(r.headers)
              seen.ok = true
            end
          end
          assert.is_true(seen.ok and seen.decode and seen.network and true or false)
        end)
      end)
    end)

    describe("batches", function()
      it("runs at most max_parallel at once and returns results in request order", function()
        with({ max_parallel = 4 }, function(t)
          local reqs, delays = {}, { 300, 50, 200, 10, 250, 100, 30, 150, 0, 220, 80, 120 }
          for i, ms in ipairs(delays) do reqs[i] = { url = ("%s/delay/%d/tag%d"):format(base, ms, i) } end
          local t0 = clock()
          local rs = t:run(reqs)
          local took = clock() - t0
          assert.equal(#reqs, #rs)
          for i = 1, #reqs do
            assert.equal(200, rs[i].status)
            assert.equal("tag" .. i, rs[i].body)
          end
          local sum = 0
          for _, ms in ipairs(delays) do sum = sum + ms / 1000 end
          assert.is_true(took < sum, took) -- they did overlap
          assert.is_true(wait_event(srv, "END"))
          local inflight, most = 0, 0
          for _, e in ipairs(events(srv)) do
            if e.event == "REQ" then inflight = inflight + 1 end
            if e.event == "END" then inflight = inflight - 1 end
            if inflight > most then most = inflight end
          end
          assert.is_true(most <= 4, most)
          assert.is_true(most >= 2, most)
          assert.is_true(#only(events(srv), "CONN") <= 4)
        end)
      end)

      it("max_parallel 1 runs one at a time on one connection", function()
        with({ max_parallel = 1 }, function(t)
          local reqs = {}
          for i = 1, 5 do reqs[i] = { url = ("%s/delay/%d/s%d"):format(base, (5 - i) * 20, i) } end
          local rs = t:run(reqs)
          for i = 1, 5 do assert.equal("s" .. i, rs[i].body) end
          assert.equal(1, #only(events(srv), "CONN"))
          local order = {}
          for _, e in ipairs(only(events(srv), "REQ")) do order[#order + 1] = e.payload:match("/s(%d)") end
          assert.same({ "1", "2", "3", "4", "5" }, order)
        end)
      end)

      it("200 requests under an aggressive GC: every result in its place", function()
        with({ max_parallel = 8 }, function(t)
          local reqs = {}
          for i = 1, 200 do
            reqs[i] = { url = ("%s/echo/n%d"):format(base, i), headers = { ["X-N"] = tostring(i) },
              body = i % 3 == 0 and ("b"):rep(i) or nil, method = i % 3 == 0 and "POST" or "GET" }
          end
          collectgarbage("setpause", 0)
          local ok, rs = pcall(t.run, t, reqs)
          collectgarbage("setpause", 200)
          assert(ok, rs)
          for i = 1, 200 do
            local start, lines, body = parse_request(rs[i].body)
            assert.equal((i % 3 == 0 and "POST" or "GET") .. " /echo/n" .. i .. " HTTP/1.1", start)
            assert.truthy(("\n" .. table.concat(lines, "\n") .. "\n"):find("\nX-N: " .. i .. "\n", 1, true))
            assert.equal(i % 3 == 0 and ("b"):rep(i) or "", body)
          end
        end)
      end)

      it("an empty list gives an empty list", function()
        with({}, function(t)
          assert.same({}, t:run({}))
        end)
      end)

      it("mixes successes and failures, each in its place", function()
        with({ timeout = 0.5 }, function(t)
          local rs = t:run({ { url = base .. "/status/200" }, { url = base .. "/silent" },
            { url = base .. "/gzip/badcrc" }, { url = "http://127.0.0.1:" .. free_port() .. "/" } })
          assert.same({ 200, "timeout", "decode", "network" }, { rs[1].status, rs[2].kind, rs[3].kind, rs[4].kind })
        end)
      end)
    end)

    describe("request records", function()
      local good = function() return { method = "GET", url = base .. "/echo/ok" } end
      local bad = {
        { 42, "request 2 must be a table" },
        { {}, "url" },
        { { url = 5 }, "url" },
        { { url = "ftp://127.0.0.1/x" }, "url" },
        { { url = "file:///etc/passwd" }, "url" },
        { { url = "http://" }, "url" },
        { { url = "http://127.0.0.1/a b" }, "url" },
        { { url = "http://127.0.0.1/a\r\nX-Injected: 1" }, "url" },
        { { url = "http://127.0.0.1/a\0b" }, "url" },
        { { url = "http://127.0.0.1/a?k=v#frag" }, "url" },
        { { url = "http://user:pw@127.0.0.1/a" }, "url" },
        { { url = "https://user@127.0.0.1" }, "url" },
        { { url = "http://127.0.0.1/", method = "G ET" }, "method" },
        { { url = "http://127.0.0.1/", method = "" }, "method" },
        { { url = "http://127.0.0.1/", method = 5 }, "method" },
        { { url = "http://127.0.0.1/", method = "GET\r\n" }, "method" },
        { { url = "http://127.0.0.1/", headers = "Accept: x" }, "headers" },
        { { url = "http://127.0.0.1/", headers = { "Accept: x" } }, "header names" },
        { { url = "http://127.0.0.1/", headers = { ["X-A"] = 5 } }, "header values" },
        { { url = "http://127.0.0.1/", headers = { ["X-A"] = true } }, "header values" },
        { { url = "http://127.0.0.1/", headers = { ["X A"] = "v" } }, "header name" },
        { { url = "http://127.0.0.1/", headers = { ["X-A:"] = "v" } }, "header name" },
        { { url = "http://127.0.0.1/", headers = { [""] = "v" } }, "header name" },
        { { url = "http://127.0.0.1/", headers = { ["X-A"] = "v\r\nX-B: w" } }, "X-A" },
        { { url = "http://127.0.0.1/", headers = { ["X-A"] = "v\nw" } }, "X-A" },
        { { url = "http://127.0.0.1/", headers = { ["X-A"] = "v\0w" } }, "X-A" },
        { { url = "http://127.0.0.1/", headers = { ["Content-Length"] = "1" } }, "Content-Length" },
        { { url = "http://127.0.0.1/", headers = { ["transfer-encoding"] = "chunked" } }, "transfer-encoding" },
        { { url = "http://127.0.0.1/", headers = { ["Accept-Encoding"] = "br" } }, "Accept-Encoding" },
        { { url = "http://127.0.0.1/", body = 42 }, "body" },
        { { url = "http://127.0.0.1/", body = {} }, "body" },
        { { url = "http://127.0.0.1/", timeout = 0 }, "timeout" },
        { { url = "http://127.0.0.1/", timeout = 0 / 0 }, "timeout" },
        { { url = "http://127.0.0.1/", timeout = "1" }, "timeout" },
      }
      for i, case in ipairs(bad) do
        it(("bad record %d raises naming the index and '%s'; nothing is sent"):format(i, case[2]), function()
          with({}, function(t)
            local ok, err = pcall(t.run, t, { good(), case[1], good() })
            assert.is_false(ok)
            assert.matches("request 2", err, 1, true)
            assert.matches(case[2], err, 1, true)
            assert.equal(0, #only(events(srv), "CONN"))
            -- the transport still works afterwards
            assert.equal(200, run1(t, good()).status)
          end)
        end)
      end

      it("too many headers raise", function()
        with({}, function(t)
          local h = {}
          for i = 1, 101 do h["X-H" .. i] = "v" end
          local ok, err = pcall(t.run, t, { { url = base .. "/echo", headers = h } })
          assert.is_false(ok)
          assert.matches("100 headers", err)
        end)
      end)

      local_it("records, their headers and the list are read raw: no metamethod runs", function()
        with({ compress = false }, function(t)
          local boom = { __index = function() error("boom: __index ran") end,
            __len = function() error("boom: __len ran") end,
            __pairs = function() error("boom: __pairs ran") end }
          local headers = setmetatable({ ["X-Raw"] = "yes" }, boom)
          local req = setmetatable({ url = base .. "/echo/raw", headers = headers }, boom)
          local list = setmetatable({ req }, boom)
          local rs = t:run(list)
          assert.equal(200, rs[1].status)
          local start, lines = parse_request(rs[1].body)
          assert.equal("GET /echo/raw HTTP/1.1", start)
          assert.truthy(("\n" .. table.concat(lines, "\n")):find("\nX-Raw: yes", 1, true))
          -- a url only __index could supply is missing, raw
          local proxy = setmetatable({}, { __index = function() return base .. "/echo" end })
          local ok, err = pcall(t.run, t, { proxy })
          assert.is_false(ok)
          assert.matches("request 1: url", err, 1, true)
        end)
      end)

      local_it("a record whose __index raises mid-batch leaves nothing behind; the next call works", function()
        with({}, function(t)
          local evil = setmetatable({}, { __index = function() error("boom") end })
          for _ = 1, 3 do
            local ok, err = pcall(t.run, t, { { url = base .. "/echo/1" }, evil })
            assert.is_false(ok)
            assert.matches("request 2", err, 1, true)
          end
          assert.equal(0, #only(events(srv), "CONN"))
          local rs = t:run({ { url = base .. "/echo/1" }, { url = base .. "/echo/2" } })
          assert.equal(200, rs[2].status)
        end)
      end)

      it("unknown record fields are ignored; method defaults to GET", function()
        with({}, function(t)
          local r = run1(t, { url = base .. "/echo/d", request_id = "x", whatever = {} })
          assert.equal("GET /echo/d HTTP/1.1", (parse_request(r.body)))
        end)
      end)

      local_it("the argument must be a table", function()
        with({}, function(t)
          assert.has_error(function() t:run("http://x") end)
          assert.has_error(function() t:run() end)
        end)
      end)
    end)

    describe("the object", function()
      local_it("close is idempotent; a closed transport raises; tostring tells", function()
        local t = impl.new({})
        assert.equal("evcp.CurlTransport: open", tostring(t))
        assert.is_false(t:is_closed())
        t:close()
        t:close()
        assert.is_true(t:is_closed())
        assert.equal("evcp.CurlTransport: (closed)", tostring(t))
        local ok, err = pcall(t.run, t, { { url = base .. "/echo" } })
        assert.is_false(ok)
        assert.matches("closed", err)
        assert.has_error(function() t:now() end)
        assert.has_error(function() t:sleep(0) end)
        assert.equal(0, #only(events(srv), "CONN"))
      end)

      local_it("the metatable is locked and methods check their self", function()
        local t = impl.new({})
        assert.equal("string", type(getmetatable(t)))
        assert.has_error(function() setmetatable(t, {}) end)
        assert.has_error(function() t.run({}, {}) end)
        assert.has_error(function() t.close(42) end)
        assert.has_error(function() t.is_closed("x") end)
        t:close()
      end)

      local_it("is collected without close, after a run", function()
        for _ = 1, 3 do
          local t = impl.new({})
          assert.equal(200, t:run({ { url = base .. "/echo" } })[1].status)
        end
        collectgarbage()
        collectgarbage()
      end)

      -- garbage whose finalizer calls fn (tables on 5.4, newproxy on LuaJIT)
      local function finalizer(fn)
        if newproxy then
          local p = newproxy(true)
          getmetatable(p).__gc = fn
        else
          setmetatable({}, { __gc = fn })
        end
      end

      -- With this GC setting the finalizer runs while run reads the requests (always on
      -- Lua 5.4, sometimes on LuaJIT): run must notice before it starts a transfer.
      local_it("a finalizer that runs or closes the transport during run never breaks it", function()
        for round = 1, 30 do
          local t = impl.new({ proxy = "" })
          local reqs = {}
          for i = 1, 10 do
            local h = {}
            for j = 1, 100 do h["X-" .. j] = ("v"):rep(j * 20) end
            reqs[i] = { url = ("%s/echo/%d"):format(base, i), headers = h }
          end
          finalizer(function()
            if round % 2 == 0 then pcall(t.run, t, { { url = base .. "/echo/nested" } }) end
            t:close()
          end)
          collectgarbage("setpause", 0)
          collectgarbage("setstepmul", 1000)
          local ok, res = pcall(t.run, t, reqs)
          collectgarbage("setpause", 200)
          collectgarbage("setstepmul", 200)
          collectgarbage()
          if ok then
            assert.equal(10, #res)
            for i = 1, 10 do assert.equal(200, res[i].status) end
          else
            assert.matches("closed", res)
          end
          assert.is_true(t:is_closed())
        end
      end)

      it("now is monotonic seconds; sleep sleeps and checks its argument", function()
        with({}, function(t)
          local a = t:now()
          local w0 = clock()
          t:sleep(0.05)
          local b = t:now()
          assert.is_true(b - a >= 0.049, b - a)
          assert.is_true(clock() - w0 >= 0.049)
          t:sleep(0)
          for _, v in ipairs({ -1, 0 / 0, math.huge, 1e9, "x" }) do
            assert.has_error(function() t:sleep(v) end)
          end
        end)
      end)

      local_it("<close> closes it (Lua 5.4)", function()
        if _VERSION ~= "Lua 5.4" or jit then return end
        local f = assert(load([[
          local new = ...
          local kept
          do
            local t <close> = new({})
            kept = t
          end
          return kept:is_closed()
        ]]))
        assert.is_true(f(impl.new))
      end)
    end)

    describe("options", function()
      local bad = {
        { timeout = 0 }, { timeout = 1e-4 }, { timeout = 1e308 }, { timeout = 0 / 0 },
        { timeout = math.huge }, { timeout = -math.huge }, { timeout = -1 }, { timeout = "1" },
        { timeout = 86401 },
        { connect_timeout = 0 }, { connect_timeout = 1e-4 }, { connect_timeout = 1e308 },
        { connect_timeout = 0 / 0 }, { connect_timeout = math.huge }, { connect_timeout = -1 },
        { max_parallel = 0 }, { max_parallel = 65 }, { max_parallel = 1.5 }, { max_parallel = "4" },
        { max_parallel = 0 / 0 },
        { max_body = 0 }, { max_body = -1 }, { max_body = 2 ^ 31 }, { max_body = 0.5 }, { max_body = 0 / 0 },
        { low_speed_limit = -1 }, { low_speed_time = 0 }, { low_speed_time = 1e308 },
        { compress = "yes" }, { compress = 1 },
        { user_agent = 5 }, { user_agent = "a\r\nb" }, { user_agent = "a\0b" }, { user_agent = ("u"):rep(1025) },
        { ca_file = "/nonexistent/ca.pem" }, { ca_file = "" }, { ca_path = "/nonexistent/dir" },
        { proxy = 5 }, { proxy = "http://p\r\n" },
        { base_url = "http://x" }, { api_key = "k" }, { [1] = true },
      }
      for i, opts in ipairs(bad) do
        local k, v = next(opts)
        -- (JSON cannot carry NaN, infinities or a list as options: local only)
        local json_safe = type(k) == "string" and not (type(v) == "number" and (v ~= v or v == math.huge
          or v == -math.huge))
        local case_it = json_safe and it or local_it
        case_it(("bad option %d (%s = %s) raises naming it"):format(i, tostring(k), tostring(v)), function()
          local ok, err = pcall(impl.new, opts)
          assert.is_false(ok)
          if type(k) == "string" then assert.matches(k, err, 1, true) end
        end)
      end

      it("good edge values are taken", function()
        for _, opts in ipairs({ {}, { timeout = 0.001 }, { timeout = 86400 }, { connect_timeout = 0.001 },
          { max_parallel = 1 }, { max_parallel = 64 }, { max_body = 1 }, { compress = false },
          { low_speed_limit = 0 }, { proxy = "" }, { user_agent = "" }, { ca_file = "/dev/null" } }) do
          local t = impl.new(opts)
          t:close()
        end
        assert.has_error(function() impl.new("x") end)
      end)
    end)

    describe("TLS", function()
      local tls, openssl_missing
      setup(function()
        if not sh("command -v openssl >/dev/null 2>&1") then
          openssl_missing = true
          return
        end
        tls = { dir = tmpdir() }
        local d = shell_quote(tls.dir)
        assert(sh(("env -u LD_PRELOAD openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
          .. "-addext subjectAltName=DNS:localhost -keyout %s/key.pem -out %s/cert.pem >/dev/null 2>&1")
          :format(d, d)), "openssl req failed")
        tls.port = free_port()
        tls.pid = spawn(("openssl s_server -quiet -www -accept 127.0.0.1:%d "
          .. "-cert %s/cert.pem -key %s/key.pem")
          :format(tls.port, d, d), tls.dir .. "/out", tls.dir .. "/pid", tls.dir)
        local deadline = clock() + 10
        repeat
          local c = socket.tcp()
          c:settimeout(0.2)
          local ok = c:connect("127.0.0.1", tls.port)
          c:close()
          if ok then break end
          assert(alive(tls.pid), "s_server exited: " .. tostring(read_all(tls.dir .. "/out")))
          socket.sleep(0.05)
        until clock() > deadline
      end)

      teardown(function()
        if tls then
          kill(tls.pid)
          kill(tls.nginx_pid)
          sh("rm -rf " .. shell_quote(tls.dir))
        end
      end)

      -- nginx over TLS with HTTP/2 and gzip: a real server's framing and deflate
      local function start_nginx()
        if tls.nginx_port or not sh("command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx") then
          return tls.nginx_port
        end
        local port, d = free_port(), tls.dir
        local conf = ([[
daemon off; master_process off; worker_processes 1; pid %s/nginx.pid; error_log %s/nginx.err;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %s; proxy_temp_path %s; fastcgi_temp_path %s; uwsgi_temp_path %s; scgi_temp_path %s;
  gzip on; gzip_min_length 1; gzip_types text/plain; gzip_proxied any;
  server {
    listen 127.0.0.1:%d ssl http2;
    ssl_certificate %s/cert.pem; ssl_certificate_key %s/key.pem;
    location / { default_type text/plain; add_header X-Proto $server_protocol; return 200 "%s"; }
  }
}]]):format(d, d, d, d, d, d, d, port, d, d, TEXT:sub(1, 3000))
        local f = assert(io.open(d .. "/nginx.conf", "wb"))
        f:write(conf)
        f:close()
        local bin = sh("test -x /usr/sbin/nginx") and "/usr/sbin/nginx" or "nginx"
        tls.nginx_pid = spawn(("%s -p %s -c %s/nginx.conf"):format(bin, shell_quote(d), shell_quote(d)),
          d .. "/nginx.out", d .. "/nginx.pidout")
        local deadline = clock() + 10
        repeat
          local c = socket.tcp()
          c:settimeout(0.2)
          local ok = c:connect("127.0.0.1", port)
          c:close()
          if ok then
            tls.nginx_port = port
            break
          end
          assert(alive(tls.nginx_pid),
            "nginx exited: " .. tostring(read_all(d .. "/nginx.out")) .. tostring(read_all(d .. "/nginx.err")))
          socket.sleep(0.05)
        until clock() > deadline
        return tls.nginx_port
      end

      it("HTTPS with HTTP/2 and gzip from nginx", function()
        assert(not openssl_missing, "the openssl command is missing (Debian package: openssl)")
        local port = assert(start_nginx(), "nginx did not start")
        with({ timeout = 10, ca_file = tls.dir .. "/cert.pem", max_parallel = 4 }, function(t)
          local reqs = {}
          for i = 1, 6 do reqs[i] = { url = ("https://localhost:%d/x%d"):format(port, i) } end
          local rs = t:run(reqs)
          for i = 1, 6 do
            assert.is_nil(rs[i].kind, rs[i].message)
            assert.equal(200, rs[i].status)
            assert.equal(TEXT:sub(1, 3000), rs[i].body)
          end
          assert.equal("HTTP/2.0", rs[1].headers["x-proto"])
          assert.equal("gzip", rs[1].headers["content-encoding"])
        end)
      end)

      it("an untrusted certificate is kind tls", function()
        assert(not openssl_missing, "the openssl command is missing (Debian package: openssl)")
        with({ timeout = 10 }, function(t)
          local r = run1(t, { url = ("https://localhost:%d/"):format(tls.port) })
          assert.equal("tls", r.kind, r.message)
          assert.is_nil(r.status)
        end)
      end)

      it("ca_file makes it trusted; a host name the certificate lacks is kind tls", function()
        assert(not openssl_missing, "the openssl command is missing (Debian package: openssl)")
        with({ timeout = 10, ca_file = tls.dir .. "/cert.pem" }, function(t)
          local rs = t:run({ { url = ("https://localhost:%d/"):format(tls.port) },
            { url = ("https://127.0.0.1:%d/"):format(tls.port) } })
          assert.is_nil(rs[1].kind, rs[1].message)
          assert.equal(200, rs[1].status)
          assert.equal("tls", rs[2].kind, rs[2].message)
        end)
      end)

      it("ca_path pointing elsewhere still refuses", function()
        assert(not openssl_missing, "the openssl command is missing (Debian package: openssl)")
        with({ timeout = 10, ca_path = tls.dir, ca_file = "/dev/null" }, function(t)
          local r = run1(t, { url = ("https://localhost:%d/"):format(tls.port) })
          assert.equal("tls", r.kind, r.message)
        end)
      end)
    end)
  end)
end

-- issue 8 §3: https alone unless the caller's base URL is http (the client
-- sets https_only from its base URLs; this is the libcurl transport's part).
describe("curl transport: https_only", function()
  local core = require("evcp.core")

  it("refuses an http:// request before any transfer, naming it", function()
    local t = core.curl_transport({ https_only = true, timeout = 1 })
    assert.has_error(function()
      t:run({ { url = "https://127.0.0.1:9/a" }, { url = "http://127.0.0.1:9/b" } })
    end, "run: request 2: url must start with https:// (this transport is https-only)")
    assert.has_error(function() t:run({ { url = "HTTP://127.0.0.1:9/b" } }) end)
    -- an https request is still sent (here: nothing listens, a network failure)
    local r = t:run({ { url = "https://127.0.0.1:9/a" } })[1]
    assert.equal("network", r.kind, r.message)
    t:close()
    assert.has_error(function() core.curl_transport({ https_only = "yes" }) end,
      "curl_transport: option 'https_only' must be a boolean")
  end)

  it("is what the client asks for with https base URLs, and not with an http one", function()
    local evcp = require("evcp")
    local seen = {}
    local real = core.curl_transport
    core.curl_transport = function(opts)
      seen[#seen + 1] = opts.https_only
      return real(opts)
    end
    local ok, err = pcall(function()
      evcp.new({ api_key = "k" }):close()
      evcp.new({ base_url = "http://127.0.0.1:9", api_key = "k" }):close()
      evcp.new({ base_url = "https://127.0.0.1:9", v2_base_url = "http://127.0.0.1:9", api_key = "k" }):close()
    end)
    core.curl_transport = real
    assert(ok, err)
    assert.same({ true, false, false }, seen)
  end)
end)
