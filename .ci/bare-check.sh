#!/bin/sh
# The new user's path on a bare Debian 12: a debootstrap minbase chroot with
# only `make` added, the checkout copied in, and the README's two commands
# (`make demo`, `make test`) run inside it as root.
#
#   sh .ci/bare-check.sh [SRC] [WORKDIR]
#
# SRC      the checkout to test (default: this one). Its git-tracked files are
#          copied as they are in the work tree (uncommitted edits included,
#          untracked files left out), so the check sees what a clone would.
# WORKDIR  scratch directory (default /var/tmp/evcp-bare). The minbase system
#          is debootstrapped once into WORKDIR/base.tar and reused; every run
#          unpacks it into a fresh WORKDIR/root. Remove base.tar to refresh it.
# Environment: MIRROR (default http://deb.debian.org/debian), SUITE (bookworm),
# BARE_CMDS (default "make demo; make test": what runs inside, in /src).
# Needs root (debootstrap, mount, chroot). Exit status: that of the commands.
# Logs: WORKDIR/log (everything printed inside the chroot).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
src=$(cd "${1:-$here}" && pwd)
work=${2:-/var/tmp/evcp-bare}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=${SUITE:-bookworm}
BARE_CMDS=${BARE_CMDS:-make demo && make test}

if [ "$(id -u)" -ne 0 ]; then
  echo "bare-check: needs root (debootstrap, mount, chroot)" >&2
  exit 2
fi
command -v debootstrap >/dev/null || {
  echo "bare-check: installing debootstrap"
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap
}
mkdir -p "$work"
root="$work/root"

mounted=""
cleanup() {
  # unmount in reverse order; leave the tree for inspection
  for m in $mounted; do umount -l "$m" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ ! -f "$work/base.tar" ]; then
  echo "bare-check: debootstrap --variant=minbase $SUITE from $MIRROR"
  rm -rf "$work/base"
  debootstrap --variant=minbase "$SUITE" "$work/base" "$MIRROR"
  tar -C "$work/base" -cf "$work/base.tar.part" .
  mv "$work/base.tar.part" "$work/base.tar"
  rm -rf "$work/base"
fi

# A fresh system for every run: nothing from an earlier run leaks in.
umount -l "$root/proc" 2>/dev/null || true
rm -rf --one-file-system "$root"
mkdir -p "$root"
tar -C "$root" -xf "$work/base.tar"

# /proc only: debootstrap made the device nodes, and nothing of the host's
# /dev or /sys is shared with the chroot
mount -t proc proc "$root/proc" && mounted="$root/proc"
cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true

# The checkout: its tracked files only, as a clone would have them.
mkdir -p "$root/src"
(cd "$src" && git ls-files -z | tar --null -T - -cf -) | tar -C "$root/src" -xf -

echo "bare-check: in the chroot: apt-get install make; cd /src; $BARE_CMDS"
status=0
chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 TERM=dumb \
  /bin/sh -c '
    set -e
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends make
    cd /src
    '"$BARE_CMDS"'
  ' >"$work/log" 2>&1 || status=$?
tail -n 40 "$work/log"
# processes a failing run left behind in the chroot (nginx, emulator...)
left=""
for p in /proc/[0-9]*; do
  r=$(readlink "$p/root" 2>/dev/null) || continue
  [ "$r" = "$root" ] && left="$left ${p#/proc/}"
done
if [ -n "$left" ]; then
  echo "bare-check: processes left running in the chroot:$left" >&2
  for pid in $left; do ps -o pid=,args= -p "$pid" >&2 || true; done
  for pid in $left; do kill "$pid" 2>/dev/null || true; done
  [ $status -ne 0 ] || status=3
fi
echo "bare-check: exit $status (full log: $work/log)"
exit $status
