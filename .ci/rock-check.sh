#!/bin/sh
# The library rock, checked as a user gets it: `luarocks make` of
# evcp-scm-1.rockspec into a fresh tree for Lua 5.4 and for LuaJIT 2.1
# (OpenResty's, through .ci/luarocks-luajit.lua), each build free of compiler
# warnings; then, from another directory with only that tree on the paths,
# `require "evcp"` and every library module load from the tree, and the tree
# holds no emulator code or data. Lua 5.1's headers (when present) must be
# refused at build time with a message naming the supported runtimes.
# When evcp-emulator-scm-1.rockspec is there, that rock too: into a fresh
# tree, then its evcp-emulator command started from another directory with
# nothing of the checkout on the paths, until it listens and answers HTTP.
# Then, in a git checkout, `luarocks pack` of the rockspec (its source.url and
# branch pointed at this repository and branch: the committed HEAD) and an
# install of the packed source rock.
#   sh .ci/rock-check.sh
# Environment: ROCK_DEPS_MODE (default none: Debian's lua-cjson satisfies the
# dependency but is no rock; use "one" where luarocks.org is reachable).
set -eu
cd "$(dirname "$0")/.."
repo=$PWD
deps_mode=${ROCK_DEPS_MODE:-none}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0

# every library module, by name (evcp/v2/init.lua -> evcp.v2)
mods=$(cd lua && find evcp -name '*.lua' -not -path 'evcp/emulator/*' | LC_ALL=C sort \
  | sed -e 's|/init\.lua$||' -e 's|\.lua$||' -e 's|/|.|g')

check() { # name, interpreter, lua version dir, luarocks args...
  name=$1 interp=$2 ver=$3
  shift 3
  tree="$work/tree-$name"
  echo "== $name: $* make --tree $tree"
  if ! (cd "$repo" && "$@" make --tree "$tree" --deps-mode="$deps_mode" evcp-scm-1.rockspec) >"$work/$name.log" 2>&1; then
    cat "$work/$name.log"
    echo "FAIL $name: luarocks make failed" >&2
    fail=1
    return 0
  fi
  if grep -E '(^|: )(warning|error):' "$work/$name.log" >&2; then
    echo "FAIL $name: the build printed compiler warnings" >&2
    fail=1
  fi
  grep -E -- '-I[^ ]*(lua5\.4|luajit-2\.1)' "$work/$name.log" | head -n 1
  if find "$tree" | grep -i -E 'emulator|\.csv$' >&2; then
    echo "FAIL $name: emulator files in the library rock" >&2
    fail=1
  fi
  mkdir -p "$work/elsewhere"
  # only the tree (and the system's default directories) on the paths;
  # shellcheck disable=SC2086 # one argument per module name
  if ! (cd "$work/elsewhere" && env -u LUA_PATH_5_4 -u LUA_CPATH_5_4 -u LUA_INIT -u LUA_INIT_5_4 -u LD_PRELOAD \
      LUA_PATH="$tree/share/lua/$ver/?.lua;$tree/share/lua/$ver/?/init.lua;;" \
      LUA_CPATH="$tree/lib/lua/$ver/?.so;;" \
      "$interp" - "$tree" $mods <<'LUA'
local tree = ...
local evcp = require("evcp")
local function under_tree(name, p)
  local file = package.searchpath(name, p)
  assert(file and file:sub(1, #tree + 1) == tree .. "/", name .. " not loaded from the tree: " .. tostring(file))
end
under_tree("evcp", package.path)
under_tree("evcp.core", package.cpath)
for i = 2, select("#", ...) do
  local name = select(i, ...)
  under_tree(name, package.path)
  require(name)
end
local loc = assert(evcp.v3.parse('{"id":"x","name":"n","location":{"lat":1.5,"lng":2}}'))
assert(loc.name == "n" and loc.location.lat == 1.5)
assert(evcp.new({ base_url = "http://127.0.0.1:9", api_key = "k" }))
print(("ok: evcp %s on %s, %d modules from %s"):format(evcp.VERSION,
  rawget(_G, "jit") and jit.version or _VERSION, select("#", ...) - 1, tree))
LUA
  ); then
    echo "FAIL $name: require from the tree" >&2
    fail=1
  fi
}

check lua5.4 lua5.4 5.4 luarocks --lua-version 5.4
LUAROCKS_CONFIG="$repo/.ci/luarocks-luajit.lua" check luajit luajit 5.1 luarocks --lua-version 5.1

if [ -f evcp-emulator-scm-1.rockspec ]; then
  etree="$work/tree-emulator"
  echo "== emulator rock: luarocks --lua-version 5.4 make --tree $etree"
  mkdir -p "$work/elsewhere"
  if ! luarocks --lua-version 5.4 make --tree "$etree" --deps-mode="$deps_mode" evcp-emulator-scm-1.rockspec \
      >"$work/emulator.log" 2>&1; then
    tail -n 20 "$work/emulator.log" >&2
    echo "FAIL emulator rock: luarocks make failed" >&2
    fail=1
  elif [ ! -x "$etree/bin/evcp-emulator" ]; then
    echo "FAIL emulator rock: no bin/evcp-emulator in the tree" >&2
    fail=1
  else
    (cd "$work/elsewhere" && exec env -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_4 -u LUA_CPATH_5_4 \
      PATH="$etree/bin:$PATH" evcp-emulator --port 0 >"$work/emu.out" 2>&1) &
    epid=$!
    i=0 url=""
    while [ $i -lt 200 ] && kill -0 "$epid" 2>/dev/null; do
      url=$(sed -n 's/^listening on //p' "$work/emu.out" | head -n 1)
      [ -n "$url" ] && break
      i=$((i + 1))
      sleep 0.1
    done
    code=000
    [ -z "$url" ] || code=$(curl -s -o /dev/null -m 10 -w '%{http_code}' "$url/v3/health" || true)
    kill "$epid" 2>/dev/null || true
    wait "$epid" 2>/dev/null || true
    if [ "$code" = 000 ]; then
      cat "$work/emu.out" >&2
      echo "FAIL emulator rock: the installed evcp-emulator did not serve from another directory" >&2
      fail=1
    else
      echo "ok: installed evcp-emulator listened at $url (GET /v3/health: $code)"
    fi
  fi
fi

# pack: source.url is the project's git; here it points at this checkout's
# repository and branch, so the packed rock is this branch's HEAD
if command -v git >/dev/null && gitdir=$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null) \
    && branch=$(git symbolic-ref --short -q HEAD); then
  gitdir=${gitdir%/.git}   # luarocks names the clone after the URL's last part
  echo "== pack: $gitdir ($branch)"
  mkdir -p "$work/pack"
  sed -e "s|^  url = .*|  url = \"git+file://$gitdir\",|" -e "s|^  branch = .*|  branch = \"$branch\",|" \
    evcp-scm-1.rockspec >"$work/pack/evcp-scm-1.rockspec"
  if (cd "$work/pack" && luarocks --lua-version 5.4 pack evcp-scm-1.rockspec \
      && luarocks --lua-version 5.4 install --tree "$work/tree-src" --deps-mode="$deps_mode" evcp-scm-1.src.rock) \
      >"$work/pack.log" 2>&1 \
    && (cd "$work/elsewhere" && LUA_PATH="$work/tree-src/share/lua/5.4/?.lua;$work/tree-src/share/lua/5.4/?/init.lua;;" \
      LUA_CPATH="$work/tree-src/lib/lua/5.4/?.so;;" env -u LUA_PATH_5_4 -u LUA_CPATH_5_4 -u LD_PRELOAD \
      lua5.4 -e 'local e = require("evcp"); print("ok: packed source rock, evcp " .. e.VERSION)'); then :
  else
    tail -n 20 "$work/pack.log" >&2
    echo "FAIL pack: luarocks pack or the install of the source rock" >&2
    fail=1
  fi
fi

if [ -f /usr/include/lua5.1/lua.h ]; then
  echo "== lua5.1: must be refused"
  if (cd "$repo" && luarocks --lua-version 5.1 make --tree "$work/tree-51" --deps-mode=none evcp-scm-1.rockspec) \
      >"$work/51.log" 2>&1; then
    echo "FAIL lua5.1: built and installed, but evcp does not run on Lua 5.1" >&2
    fail=1
  elif ! grep -q 'evcp runs on Lua 5.4 and LuaJIT 2.1 only' "$work/51.log"; then
    cat "$work/51.log" >&2
    echo "FAIL lua5.1: refused without saying why" >&2
    fail=1
  else
    echo "ok: refused: $(grep 'evcp runs on' "$work/51.log")"
  fi
fi
[ $fail -eq 0 ] && echo "rock-check: ok"
exit $fail
