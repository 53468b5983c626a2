-- Issue 8 §5: keys, secrets and tokens never appear in errors, tostring, hook
-- payloads or logs. A child process (spec/fixtures/canary/run.lua, the same
-- interpreter as this run) drives every failure path the public API reaches
-- with canary credentials of every kind evcp accepts, against real emulator
-- processes, and prints everything a failure shows; this spec greps all of
-- its stdout and stderr for every form of every canary, and checks that the
-- child really went down each path (so that silence cannot pass for safety).
--
-- Forms searched (the encoders below are the spec's own, not evcp's): the
-- raw value, its percent-encodings (RFC 3986 upper- and lower-case hex, HERE's
-- query-value form with , ; : literal, form encoding with '+'), its JSON
-- escaping, its hex, its base64 at any alignment inside a larger text (and
-- base64 of "id:secret"), the marker every canary starts with (any partial
-- copy), the OAuth tokens the emulator issued and every bearer value sent
-- (both recorded on the wire by the child's transport wrapper, into a side
-- file that is not part of the output), and patterns no output may hold: an
-- issued token's shape (emu.<hex>), "Bearer <value>", an oauth_signature,
-- and apiKey= with a value other than REDACTED or ***.
local ep = require("emulator_process")
local shell_quote, read_all = ep.shell_quote, ep.read_all

local FIXTURE = "spec/fixtures/emulator-mini-db.lua"
local MARKER = "CNRY"

-- Every canary holds characters that encode differently ('+', '/', '=', ' ',
-- '&', '%', ':', '#') where the credential allows them.
local CANARY = {
  api_key = "CNRYapikey+/= &?%:#K1",
  token = "CNRYtoken+/A.b~c_d-e==",            -- RFC 6750 token68 characters only
  provider_token = "CNRYprovider/+x.y~z-w=",
  key_id = "CNRYkeyid+/= &x1",                  -- no ':' (the emulator splits ID:SECRET there)
  key_secret = "CNRYsecret+/= &%:#x1",
  file_key_id = "CNRYfileid+/= &y2",
  file_key_secret = "CNRYfilesecret+/= &%:z2",
  env_key_id = "CNRYenvid+/= &w3",
  env_key_secret = "CNRYenvsecret+/= &%:v3",
  proxy_pass = "CNRYproxypass4",
}
local PAIRS = { { "key_id", "key_secret" }, { "file_key_id", "file_key_secret" }, { "env_key_id", "env_key_secret" } }

-- the emulator with scripts (the child reads the same lists from its environment)
-- (reset only right after hang: on a connection libcurl reuses, a close
-- without a response makes libcurl itself send the request once more, which
-- takes the next script item; after a timeout the connection is a new one)
local SCRIPT = "503,429-3600,500,truncate,bad-json,html,gzip-bomb,redirect,expired-token,hang-1000,reset,"
  .. "empty,bad-gzip,bad-status,skew-60"
local TOKEN_SCRIPT = "503,html,bad-json,reset,skew-3600"

-- Leaks already known: a hit is known when its scenario's name and where it
-- is (see where_of below: "stdout DUMP  err.body.<canary>", "stdout HOOK
-- response.correlation_id", ...) match an entry's Lua patterns. Each entry
-- is a pending case that says what to fix; the code is not this spec's.
-- Leaks the spec once found, now fixed, and none known today: any hit fails
-- "finds no canary". (An entry is {name, scenario, where, note}, patterns
-- on a hit's scenario and place, for a leak that cannot be fixed at once.)
local KNOWN = {}

---------------------------------------------------------------------------
-- the encoders (independent of evcp)

local function pct(s, keep, lower, plus)
  return (s:gsub("[^%w%-._~]", function(c)
    if keep and keep:find(c, 1, true) then return c end
    if plus and c == " " then return "+" end
    local h = string.format(lower and "%%%02x" or "%%%02X", c:byte())
    return h
  end))
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local q = {}
    for k = 3, 0, -1 do
      local v = math.floor(n / 64 ^ k) % 64
      q[#q + 1] = B64:sub(v + 1, v + 1)
    end
    if not b then q[3], q[4] = "=", "=" elseif not c then q[4] = "=" end
    out[#out + 1] = table.concat(q)
  end
  return table.concat(out)
end

-- The base64 of s wherever it starts inside a longer text: for each of the
-- three alignments, the characters that depend on s alone.
local function base64_anywhere(s)
  local forms = {}
  for pad = 0, 2 do
    local enc = base64(("\0"):rep(pad) .. s)
    local first = pad == 0 and 1 or 5 -- the quantum holding padding bytes is mixed
    local whole = math.floor((pad + #s) / 3) * 4 -- quanta made of s alone (and the pad)
    local part = enc:sub(first, whole)
    if #part >= 8 then forms[#forms + 1] = part end
  end
  return forms
end

local function hex(s, fmt)
  return (s:gsub(".", function(c) return string.format(fmt, c:byte()) end))
end

-- every form of one canary: {label, text}
local function forms_of(label, v)
  local list = {
    { label .. " raw", v },
    { label .. " percent-encoded", pct(v) },
    { label .. " percent-encoded (lower-case hex)", pct(v, nil, true) },
    { label .. " percent-encoded query value", pct(v, ",;:") },
    { label .. " form-encoded", pct(v, nil, false, true) },
    { label .. " JSON-escaped", (v:gsub("/", "\\/")) },
    { label .. " %q-quoted", (string.format("%q", v):sub(2, -2)) },
    { label .. " hex", hex(v, "%02x") },
    { label .. " HEX", hex(v, "%02X") },
  }
  for i, b in ipairs(base64_anywhere(v)) do list[#list + 1] = { label .. " base64 (alignment " .. i .. ")", b } end
  return list
end

---------------------------------------------------------------------------
-- running the child

local function interpreter()
  return rawget(_G, "jit") and "luajit" or "lua5.4"
end

local function env_words(t)
  local w = {}
  for k, v in pairs(t) do w[#w + 1] = k .. "=" .. shell_quote(v) end
  table.sort(w)
  return table.concat(w, " ")
end

local function emulator_args(extra)
  local a = { "--data " .. FIXTURE, "--status-interval 0",
    "--api-key " .. shell_quote(CANARY.api_key),
    "--token " .. shell_quote(CANARY.token), "--token " .. shell_quote(CANARY.provider_token) }
  for _, p in ipairs(PAIRS) do a[#a + 1] = "--access-key " .. shell_quote(CANARY[p[1]] .. ":" .. CANARY[p[2]]) end
  a[#a + 1] = extra or ""
  return table.concat(a, " ")
end

-- Splits the output into lines, each with the scenario it belongs to.
local function lines_of(text, stream)
  local out, scen = {}, "(before any scenario)"
  for l in (text .. "\n"):gmatch("([^\n]*)\n") do
    local s = l:match("^== S (.*)$")
    if s then scen = s end
    out[#out + 1] = { text = l, scenario = scen, stream = stream }
  end
  return out
end

describe("canary credentials (issue 8 §5) #slow", function()
  local out, err_out, rc, lines, seen, took
  local by_scenario = {}

  setup(function()
    local a = ep.start(emulator_args())
    local b = ep.start(emulator_args("--script " .. SCRIPT .. " --token-script " .. TOKEN_SCRIPT))
    local seen_path, out_path, err_path = os.tmpname(), os.tmpname(), os.tmpname()
    local env = {
      CANARY_URL = a.url, CANARY_URL_B = b.url, CANARY_SEEN = seen_path,
      CANARY_DEAD_URL = "http://127.0.0.1:1",
      CANARY_SCRIPT = SCRIPT, CANARY_TOKEN_SCRIPT = TOKEN_SCRIPT, CANARY_TIMING = os.getenv("CANARY_TIMING"),
      CANARY_API_KEY = CANARY.api_key, CANARY_TOKEN = CANARY.token,
      CANARY_PROVIDER_TOKEN = CANARY.provider_token,
      CANARY_KEY_ID = CANARY.key_id, CANARY_KEY_SECRET = CANARY.key_secret,
      CANARY_FILE_KEY_ID = CANARY.file_key_id, CANARY_FILE_KEY_SECRET = CANARY.file_key_secret,
      CANARY_PROXY_PASS = CANARY.proxy_pass,
      HERE_ACCESS_KEY_ID = CANARY.env_key_id, HERE_ACCESS_KEY_SECRET = CANARY.env_key_secret,
      HERE_TOKEN_ENDPOINT_URL = "https://account.api.here.com/oauth2/token",
    }
    -- under `make sanitize` the child runs with the sanitizer runtime too
    local pre = os.getenv("EVCP_CHILD_PRELOAD")
    local lead = pre and ("env LD_PRELOAD=" .. shell_quote(pre)) or "env -u LD_PRELOAD"
    local cmd = ("%s %s %s %sspec/fixtures/canary/run.lua >%s 2>%s; echo \"rc=$?\"")
      :format(lead, env_words(env), interpreter(), ep.root, out_path, err_path)
    local t0 = os.time()
    local p = io.popen(cmd)
    local status = p:read("*a")
    p:close()
    took = os.time() - t0
    rc = tonumber(status:match("rc=(%d+)"))
    out, err_out = read_all(out_path) or "", read_all(err_path) or ""
    if os.getenv("CANARY_KEEP") then -- for a look at the whole output
      local f = assert(io.open(os.getenv("CANARY_KEEP"), "wb"))
      f:write(out, "\n==== stderr\n", err_out, "\n==== seen\n", read_all(seen_path) or "")
      f:close()
    end
    seen = read_all(seen_path) or ""
    os.remove(out_path)
    os.remove(err_path)
    os.remove(seen_path)
    ep.stop(a)
    ep.stop(b)
    lines = lines_of(out, "stdout")
    for _, l in ipairs(lines_of(err_out, "stderr")) do lines[#lines + 1] = l end
    for _, l in ipairs(lines) do
      local t = by_scenario[l.scenario] or {}
      by_scenario[l.scenario] = t
      t[#t + 1] = l.text
    end
  end)

  teardown(function() ep.stop_all() end)

  it("the child ran to its end and went down every path it claims", function()
    assert.is_truthy(out:find("CANARY-CHILD-END", 1, true), "the child did not finish:\n" .. out:sub(-3000)
      .. "\nstderr:\n" .. err_out:sub(-3000))
    assert.equal(1, rc, "the child ends with an uncaught error (exit status 1)")
    local n = tonumber(out:match("CANARY%-CHILD%-END scenarios=(%d+)"))
    local starts, oks, bad = 0, 0, {}
    for _, l in ipairs(lines) do
      if l.stream == "stdout" and l.text:match("^== S ") and l.scenario ~= "uncaught" then starts = starts + 1 end
      if l.text:match("^EXPECT .* ok %d+$") then oks = oks + 1 end
      if l.text:match("^EXPECT .* FAIL") then bad[#bad + 1] = l.text end
    end
    assert.same({}, bad)
    assert.equal(n, starts)
    assert.equal(n, oks, "every scenario ends with EXPECT ok")
    assert.is_true(n >= 250, "scenarios: " .. tostring(n))
    io.stderr:write(("\n[44-canary] %s: %d scenarios, %d output lines, %d s\n"):format(interpreter(), n, #lines, took))
  end)

  it("every scenario printed a failure (ERR or RAISED) and the hooks saw its requests", function()
    local silent = {}
    local hooks, errs, raised, dumps = 0, 0, 0, 0
    for scen, ls in pairs(by_scenario) do
      local n = 0
      for _, t in ipairs(ls) do
        if t:match("^ERR ") then n, errs = n + 1, errs + 1 end
        if t:match("^RAISED ") then n, raised = n + 1, raised + 1 end
        if t:match("^HOOK ") then hooks = hooks + 1 end
        if t:match("^DUMP ") then dumps = dumps + 1 end
      end
      if n == 0 and scen ~= "(before any scenario)" and scen ~= "uncaught" then silent[#silent + 1] = scen end
    end
    table.sort(silent)
    assert.same({}, silent)
    assert.is_true(errs >= 800, "ERR lines: " .. errs)
    assert.is_true(raised >= 100, "RAISED lines: " .. raised)
    assert.is_true(hooks >= 2000, "HOOK lines: " .. hooks)
    assert.is_true(dumps >= 5000, "DUMP lines: " .. dumps)
    -- the dumps reach into what a failure carries
    assert.matches("DUMP [^\n]* err%.body%.", out)
    assert.matches("DUMP [^\n]* err%.partial%.items%.1", out)
    assert.matches("DUMP [^\n]* err%.retry_after = 3600", out)
    assert.matches("DUMP [^\n]* err%.gave_up = ", out)
    assert.matches("HOOK [^\n]* response%.correlation_id = ", out)
    assert.matches("HOOK [^\n]* response%.status = 503", out)
    assert.matches("HOOK [^\n]* response%.kind = \"timeout\"", out)
    assert.matches("CLIENT [^\n]*evcp%.Client: http://127%.0%.0%.1:%d+ %(oauth%) | evcp%.V2 of", out)
    -- stderr: the child's own lines, and the interpreter's report of the uncaught error
    assert.matches("ERR [^\n]*: evcp: ", err_out)
    local last = table.concat(by_scenario.uncaught or {}, "\n")
    assert.matches("== S uncaught\n[^\n]*evcp: network: ", last) -- the interpreter's own report
  end)

  it("went down each fault kind with each kind of credential", function()
    local missing = {}
    local function need(name)
      if not out:find("\nEXPECT " .. name .. " ok ", 1, true) then missing[#missing + 1] = name end
    end
    local kinds = { "api_key", "access_token", "token_provider", "oauth", "file", "env" }
    local data = { "429", "429-3600", "429-date-5", "429-invalid", "503", "503-3600", "500", "502", "504", "408",
      "reset", "truncate", "bad-json", "html", "empty", "gzip-bomb", "bad-gzip", "bad-status", "bad-chunked",
      "redirect", "redirect-loop", "expired-token", "skew", "hang" }
    local other = { "v3 404", "v3 403", "v3 400", "v3 batch partial", "v3 services", "v2 json", "v2 xml",
      "closed client", "unreachable", "unreachable own transport", "https to an http server",
      "https-only transport refuses http", "bad arguments", "raising hooks" }
    local token = { "503", "500", "429-3600", "reset", "truncate", "bad-json", "html", "empty", "gzip-bomb",
      "redirect", "expired-token", "skew-3600", "skew corrected", "hang", "refresh after 401" }
    for _, k in ipairs(kinds) do
      for _, f in ipairs(data) do need(k .. " data " .. f) end
      for _, f in ipairs(other) do need(k .. " " .. f) end
    end
    local spellings = { "as sent", "decoded", "lower-case hex", "form-encoded" }
    for _, k in ipairs(kinds) do
      for _, e in ipairs(spellings) do need(k .. " echo " .. e) end
    end
    for _, k in ipairs({ "oauth", "file", "env" }) do
      for _, f in ipairs(token) do need(k .. " token " .. f) end
      for _, e in ipairs(spellings) do need(k .. " token echo " .. e) end
    end
    for _, name in ipairs({ "api_key wrong key", "access_token wrong token", "token_provider wrong token",
      "oauth wrong secret", "oauth wrong key id", "file wrong secret", "token_provider raises with the token",
      "token_provider raises a table", "token_provider returns nil and the token", "token_provider returns junk text",
      "token_provider returns a number", "token_provider returns a table", "token_provider returns an empty string",
      "token_provider returns a wrong token", "transport https-only refusal", "api_key proxy with a password",
      "script data faults (own transport)", "script token faults (own transport)",
      "file token endpoint unreachable (https, own transport)", "new refuses base_url with a query",
      "new refuses credentials file: token endpoint with query", "new refuses credentials file: token endpoint with userinfo",
      "new refuses credentials file: token endpoint with http", "new refuses two credentials" }) do
      need(name)
    end
    assert.same({}, missing)
    -- each script item was met, in order
    local met = {}
    for k in out:gmatch("\nSCRIPT script data faults %(own transport%) (%S+)") do met[#met + 1] = k end
    assert.equal(SCRIPT, table.concat(met, ","))
  end)

  -- the needles: {label, text}
  local function needles()
    local list = { { "the canary marker '" .. MARKER .. "' (any part of any canary)", MARKER } }
    for name, v in pairs(CANARY) do
      for _, f in ipairs(forms_of(name, v)) do list[#list + 1] = f end
    end
    for _, p in ipairs(PAIRS) do
      local pair = CANARY[p[1]] .. ":" .. CANARY[p[2]]
      for i, b in ipairs(base64_anywhere(pair)) do
        list[#list + 1] = { p[1] .. ":secret base64 (alignment " .. i .. ")", b }
      end
    end
    local n, once = 0, {}
    for what, v in seen:gmatch("(%w+)\t([^\n]+)") do
      if not once[v] then
        once[v] = true
        n = n + 1
        for _, f in ipairs(forms_of(what .. " token seen on the wire", v)) do list[#list + 1] = f end
      end
    end
    return list, n
  end

  local PATTERNS = {
    { "an issued token (emu.<hex>)", "emu%.%x%x%x%x%x%x%x%x%x%x%x%x" },
    { "a Bearer value", "Bearer%s+[%w%-._~+/]+=*" },
    { "an OAuth signature", "oauth_signature" },
  }

  -- the whole output as one text, and where each line starts in it
  local all, starts
  local function text_of_lines()
    if all then return end
    local parts = {}
    starts = {}
    local pos = 1
    for i, l in ipairs(lines) do
      parts[i] = l.text
      starts[i] = pos
      pos = pos + #l.text + 1
    end
    all = table.concat(parts, "\n")
  end
  local function line_at(pos)
    local lo, hi = 1, #starts
    while lo < hi do
      local mid = math.floor((lo + hi + 1) / 2)
      if starts[mid] <= pos then lo = mid else hi = mid - 1 end
    end
    return lo
  end

  -- every hit: {label, line index} (at most one per label and line)
  local memo
  local function hits()
    if memo then return memo[1], memo[2] end
    text_of_lines()
    local list, nseen = needles()
    local found, dup = {}, {}
    local function hit(label, pos)
      local i = line_at(pos)
      local key = label .. "\0" .. i
      if not dup[key] then
        dup[key] = true
        found[#found + 1] = { label, i }
      end
    end
    local done = {}
    for _, n in ipairs(list) do
      local needle = n[2]
      if #needle >= 4 and not done[needle] then
        done[needle] = true
        local at = 1
        while true do
          local a, b = all:find(needle, at, true)
          if not a then break end
          hit(n[1], a)
          at = b + 1
        end
      end
    end
    for _, p in ipairs(PATTERNS) do
      for a in all:gmatch("()" .. p[2]) do hit(p[1], a) end
    end
    for a, v in all:gmatch("()[Aa][Pp][Ii][Kk][Ee][Yy]=([^&%s\"']*)") do
      if v ~= "REDACTED" and v ~= "***" and v ~= "" then hit("an apiKey value", a) end
    end
    table.sort(found, function(x, y) return x[2] < y[2] end)
    memo = { found, nseen }
    return found, nseen
  end

  -- where in a line a hit is: the line's tag and, for dumps and hooks, the
  -- field path (the scenario's name taken out)
  local function where_of(l)
    local t = l.text
    local a, b = t:find(l.scenario, 1, true)
    if a then t = t:sub(1, a - 1) .. t:sub(b + 1) end
    local path = t:match("^(%u+ +[^=]-) = ") or t:match("^(%u+ *[^:]*):") or t:sub(1, 30)
    path = path:gsub(MARKER .. "[^%.%s]*", "<canary>"):gsub("emu%.%x+", "<issued token>")
    return l.stream .. " " .. path
  end

  -- the KNOWN entry a hit belongs to, if any
  local function known(h)
    local l = lines[h[2]]
    local where = where_of(l)
    for _, k in ipairs(KNOWN) do
      if l.scenario:find(k.scenario) and where:find(k.where) then return k end
    end
  end

  local function describe_hits(found, max_keys)
    -- a summary: scenario -> where -> forms
    local sum, order = {}, {}
    for _, h in ipairs(found) do
      local l = lines[h[2]]
      local key = l.scenario .. " | " .. where_of(l)
      if not sum[key] then
        sum[key] = {}
        order[#order + 1] = key
      end
      sum[key][h[1]] = true
    end
    local report = { #found .. " hits; where (scenario | stream, tag and field):" }
    for n, key in ipairs(order) do
      if max_keys and n > max_keys then
        report[#report + 1] = "  ... and " .. (#order - max_keys) .. " more places"
        break
      end
      local forms = {}
      for f in pairs(sum[key]) do forms[#forms + 1] = f end
      table.sort(forms)
      report[#report + 1] = "  " .. key .. "  [" .. table.concat(forms, "; ") .. "]"
    end
    report[#report + 1] = "the first hits in context:"
    for n, h in ipairs(found) do
      if n > (max_keys and 2 or 12) then break end
      local l = lines[h[2]]
      report[#report + 1] = ("%s in scenario '%s' (%s line %d):"):format(h[1], l.scenario, l.stream, h[2])
      for j = math.max(1, h[2] - 2), math.min(#lines, h[2] + 2) do
        report[#report + 1] = (j == h[2] and "  >> " or "     ") .. lines[j].text:sub(1, 400)
      end
    end
    return table.concat(report, "\n")
  end

  it("finds no canary, in any form, anywhere in the output", function()
    local found, nseen = hits()
    assert.is_true(nseen >= 50, "the wire saw bearer and issued tokens: " .. nseen)
    local unknown = {}
    for _, h in ipairs(found) do
      if not known(h) then unknown[#unknown + 1] = h end
    end
    assert(#unknown == 0, "credentials leaked:\n" .. describe_hits(unknown))
  end)

  for _, k in ipairs(KNOWN) do
    it("known leak: " .. k.name, function()
      local found = {}
      for _, h in ipairs(hits()) do
        if known(h) == k then found[#found + 1] = h end
      end
      if #found > 0 then
        pending(k.note .. "\n" .. describe_hits(found, 8))
      end
    end)
  end

  it("the grep itself finds a canary where one is (the forms are right)", function()
    local list = needles()
    local sample = {
      "x=" .. pct(CANARY.key_secret) .. "&y",
      "Basic " .. base64(CANARY.key_id .. ":" .. CANARY.key_secret),
      "{\"t\":\"" .. (CANARY.token:gsub("/", "\\/")) .. "\"}",
      "apiKey=" .. pct(CANARY.api_key, ",;:"),
      base64("prefix " .. CANARY.env_key_secret .. " suffix"),
      base64("pr" .. CANARY.provider_token),
    }
    for _, s in ipairs(sample) do
      local hit = false
      for _, n in ipairs(list) do
        if n[2] ~= MARKER and s:find(n[2], 1, true) then hit = true end
      end
      assert.is_true(hit, "no form matches " .. s)
    end
  end)
end)
