#!/bin/sh
# Installs the Debian packages evcp needs to build, test and run its emulator,
# when any is missing. Uses sudo when not root.
set -eu
PKGS="gcc make pkg-config lua5.4 liblua5.4-dev luajit2 libluajit2-5.1-dev lua-cjson lua-busted
lua-socket lua-expat libcurl4-openssl-dev libexpat1-dev zlib1g-dev nginx-light libnginx-mod-http-lua curl
valgrind luarocks"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -q
# Debian's libluajit-5.1-dev conflicts with OpenResty's luajit2 and would remove
# nginx's lua module: never install it alongside.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
