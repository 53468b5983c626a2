-- Starts a real nginx with lua-nginx-module for the OpenResty specs
-- (spec/host_resty.lua, spec/90-openresty_spec.lua, spec/91) and the
-- resty-throughput benchmark: a temporary prefix directory, one worker, a
-- free port, `thread_pool evcp threads=N;` and package paths that reach
-- this checkout's lua/, spec/, spec/openresty/ and build/luajit/ (nginx's
-- LuaJIT always loads the LuaJIT build of evcp.core).
--   local nx = require("openresty.nginx")
--   local s = nx.start({ server = "location /x { ... }", threads = 4 })
--   s.url  -- "http://127.0.0.1:PORT";  nx.stop(s)
local rsp = require("rawserver_process")
local socket = require("socket")

local M = {}

local ROOT = (debug.getinfo(1, "S").source:match("^@(.*)spec/openresty/[^/]*$") or "./")
if ROOT == "" then ROOT = "./" end
if ROOT:sub(1, 1) ~= "/" then
  local p = io.popen("pwd")
  ROOT = p:read("*l") .. "/" .. (ROOT == "./" and "" or ROOT)
  p:close()
end
M.root = ROOT

local function bin()
  local env = os.getenv("EVCP_NGINX")
  if env and env ~= "" then return env end
  if rsp.sh("test -x /usr/sbin/nginx") then return "/usr/sbin/nginx" end
  return "nginx"
end

local MODDIR = os.getenv("EVCP_NGINX_MODULES") or "/usr/share/nginx/modules"

--- the `env` assignments for a program loading evcp.core: under `make
-- sanitize` (EVCP_BUILDJIT is the ASan build) nginx needs the sanitizer
-- runtime that spec/sanitize.sh passes on in EVCP_CHILD_PRELOAD. Give them
-- all in one `env` before nginx itself: a program started with the runtime
-- drops LD_PRELOAD for its children (spec/unpreload.c).
function M.env()
  local pre = os.getenv("EVCP_CHILD_PRELOAD")
  if pre and pre ~= "" then return "LD_PRELOAD=" .. rsp.shell_quote(pre) .. " " end
  return ""
end

--- the directory that gives `resty.http` to nginx (put on lua_package_path):
-- EVCP_RESTY_HTTP (a real lua-resty-http's lib/), else nothing when a real
-- one is installed where OpenResty or Debian keep Lua modules, else evcp's
-- stand-in (spec/openresty/standin, see its header). M.resty_http_kind()
-- says which: "real (path)", "installed", "stand-in".
local RH_INSTALLED = { "/usr/local/openresty/lualib/resty/http.lua", "/usr/share/lua/5.1/resty/http.lua",
  "/usr/local/share/lua/5.1/resty/http.lua" }
function M.resty_http_lib()
  local env = os.getenv("EVCP_RESTY_HTTP")
  if env and env ~= "" then return (env:gsub("/$", "")), "real (" .. env .. ")" end
  for _, f in ipairs(RH_INSTALLED) do
    if rsp.sh("test -f " .. f) then return nil, "installed (" .. f .. ")" end
  end
  return ROOT .. "spec/openresty/standin", "stand-in"
end
function M.resty_http_kind() return select(2, M.resty_http_lib()) end

--- M.conf(opts) -> nginx.conf text. opts: dir, port, threads (default 4),
-- pool (default "evcp"), http (extra http-level directives), server
-- (locations), main (extra main-context directives), workers (default 1),
-- lua_path (put before the checkout's directories on lua_package_path)
function M.conf(o)
  local build = os.getenv("EVCP_BUILDJIT") or "build/luajit"
  if build:sub(1, 1) ~= "/" then build = ROOT .. build end
  local d = o.dir
  local rh = M.resty_http_lib()
  rh = rh and (rh .. "/?.lua;") or ""
  local modules = ""
  if rsp.sh("test -f " .. MODDIR .. "/ngx_http_lua_module.so") then
    modules = ("load_module %s/ndk_http_module.so;\nload_module %s/ngx_http_lua_module.so;\n")
      :format(MODDIR, MODDIR)
  end
  return modules .. ([[
daemon off;
master_process on;
worker_processes %d;
pid %s/nginx.pid;
error_log %s/error.log warn;
thread_pool %s threads=%d;
%s
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_timeout 75s;
  keepalive_requests 1000000;
  client_body_temp_path %s/client_body;
  proxy_temp_path %s/proxy;
  fastcgi_temp_path %s/fastcgi;
  uwsgi_temp_path %s/uwsgi;
  scgi_temp_path %s/scgi;
  client_max_body_size 256m;
  client_body_buffer_size 256m;
  default_type application/json;
  lua_package_path "%s%slua/?.lua;%slua/?/init.lua;%sspec/?.lua;%sspec/openresty/?.lua;;";
  lua_package_cpath "%s/?.so;;";
  %s
  server {
    listen 127.0.0.1:%d;
    location = /_ready { return 200 "ready"; }
    %s
  }
}
]]):format(o.workers or 1, d, d, o.pool or "evcp", o.threads or 4, o.main or "",
    d, d, d, d, d, (o.lua_path or "") .. rh, ROOT, ROOT, ROOT, ROOT, build, o.http or "", o.port, o.server or "")
end

--- M.start(opts) -> s = {url, port, dir, pid, log}; raises (after stopping
-- what it started) when nginx does not answer within 20 s.
function M.start(o)
  o = o or {}
  local s = { dir = rsp.tmpdir() }
  o.dir = s.dir
  o.port = o.port or rsp.free_port()
  s.port = o.port
  s.log = s.dir .. "/error.log"
  local f = assert(io.open(s.dir .. "/nginx.conf", "wb"))
  f:write(M.conf(o))
  f:close()
  local d = rsp.shell_quote(s.dir)
  s.pid, s.watch = rsp.spawn(("env %s%s -p %s -c %s/nginx.conf -e %s/error.log"):format(M.env(), bin(), d, d, d),
    s.dir .. "/out", s.dir .. "/nginx.spawnpid", s.dir)
  local deadline = rsp.clock() + 20
  repeat
    local c = socket.tcp()
    c:settimeout(0.2)
    local ok = c:connect("127.0.0.1", s.port)
    c:close()
    if ok then
      s.url = "http://127.0.0.1:" .. s.port
      return s
    end
    if not rsp.alive(s.pid) then break end
    socket.sleep(0.05)
  until rsp.clock() > deadline
  local why = tostring(rsp.read_all(s.dir .. "/out")) .. tostring(rsp.read_all(s.log))
  M.stop(s)
  error("nginx did not start: " .. why, 2)
end

--- the error log so far (for failure messages)
function M.log(s)
  return s and rsp.read_all(s.log) or ""
end

--- stops nginx (TERM: the master stops its worker) and its watchdog
function M.stop(s)
  if not s or s.stopped then return end
  s.stopped = true
  rsp.kill(s.pid)
  for _ = 1, 50 do
    if not rsp.alive(s.watch) then break end
    socket.sleep(0.05)
  end
  rsp.kill(s.watch)
  rsp.sh("rm -rf " .. rsp.shell_quote(s.dir))
end

--- a raw HTTP/1.0 GET (no chunked answer) -> status, body
function M.get(url, timeout)
  local host, port, path = url:match("^http://([^:/]+):(%d+)(.*)$")
  local c = assert(socket.tcp())
  c:settimeout(timeout or 60)
  assert(c:connect(host, tonumber(port)))
  assert(c:send("GET " .. (path == "" and "/" or path) .. " HTTP/1.0\r\nHost: " .. host
    .. "\r\nConnection: close\r\n\r\n"))
  local text = c:receive("*a")
  c:close()
  local status, body = (text or ""):match("^HTTP/1%.[01] (%d+).-\r\n\r\n(.*)$")
  return tonumber(status), body
end

return M
