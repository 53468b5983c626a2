#!/bin/sh
# make bench: runs bench/bench.lua on Lua 5.4 and LuaJIT against a fresh emulator.
set -eu
cd "$(dirname "$0")/.."
LP="$PWD/lua/?.lua;$PWD/lua/?/init.lua;;"
LPS="$PWD/lua/?.lua;$PWD/lua/?/init.lua;$PWD/spec/?.lua;;" # bench/resty uses spec/openresty/nginx.lua
launcher=bin/evcp-with-emulator
[ -x "$launcher" ] || launcher=emulator/bin/evcp-with-emulator
# --workers 1: one nginx worker serves every connection of both sides (why: bench.lua,
# v3-batch-http). --access-key: the OAuth key pair of lookup-keepalive-oauth (bench.lua's
# ACCESS_KEY_ID/SECRET).
exec "$launcher" --status-interval 0 --workers 1 --access-key bench-key-id:bench-key-secret -- sh -c '
  LUA_PATH="'"$LP"'" LUA_PATH_5_4="'"$LP"'" LUA_CPATH="build/lua5.4/?.so;;" LUA_CPATH_5_4="build/lua5.4/?.so;;" \
    '"${LUA54:-lua5.4}"' bench/bench.lua
  LUA_PATH="'"$LP"'" LUA_CPATH="build/luajit/?.so;;" '"${LUAJIT:-luajit}"' bench/bench.lua
  LUA_PATH="'"$LPS"'" LUA_CPATH="build/luajit/?.so;;" '"${LUAJIT:-luajit}"' bench/resty/bench.lua'
