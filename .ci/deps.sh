#!/bin/sh
# Installs the Debian 12 packages evcp needs to build, lint, test (also under
# sanitizers and valgrind) and run its emulator, when any is missing. Uses sudo
# when not root. Checked by .ci/bare-check.sh on a debootstrap minbase system.
set -eu
# build: compiler, headers of both runtimes and of the C libraries (libcurl,
#   expat, zlib, OpenSSL's libcrypto)
# run: the runtimes, lua-cjson; the emulator: nginx with its Lua module
# test: busted, lua-socket and lua-expat (specs), procps (ps), curl and the
#   openssl CLI (specs talk HTTP/TLS to servers they start), valgrind,
#   clang + its sanitizer runtime (make sanitize), luarocks (rock checks),
#   lua-check (make lint)
# hosts: neovim (the nvim transport's spec runs a real nvim --headless; it
#   uses OpenResty's libluajit2), lua-luv (the uv transport, both runtimes)
# bench: wrk (the load of resty-throughput), lua-curl (its bare-libcurl floor),
#   lua-zlib (the inflate of stream-apply's hand-written floor)
PKGS="gcc make pkg-config
lua5.4 liblua5.4-dev luajit2 libluajit2-5.1-dev
libcurl4-openssl-dev libexpat1-dev zlib1g-dev libssl-dev
lua-cjson nginx-light libnginx-mod-http-lua
lua-busted lua-socket lua-expat procps curl openssl valgrind
clang libclang-rt-14-dev luarocks lua-check
neovim lua-luv wrk lua-curl lua-zlib"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -q
# Debian's luajit/libluajit-5.1-dev conflict with OpenResty's luajit2 and would
# remove nginx's lua module: never install them alongside.
# shellcheck disable=SC2086 # one word per package
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
