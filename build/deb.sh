#!/bin/sh
# build/deb.sh [OUTDIR] -- build the Debian package libapache2-mod-revproxy
# (dpkg-buildpackage -us -uc -b) and put the .deb files into OUTDIR
# (build/deb).
#
#   make -f Makefile.apxs deb      or   sh build/deb.sh /tmp/debs
#
# The build runs in a copy of the tree under a temporary directory: what git
# would commit (tracked files as they are now, plus new files that are not
# ignored), or without git everything but the build products.  So the
# checkout's own build, its working tree and its parent directory (where
# dpkg-buildpackage writes) are left alone.  VERSION must match the top
# entry of debian/changelog.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build/deb}

version=$(cat "$top/VERSION")
changelog=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
if [ "$changelog" != "$version" ]; then
    echo "deb.sh: VERSION says $version, debian/changelog's top entry $changelog" >&2
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/revproxy-deb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
src=$tmp/libapache2-mod-revproxy-$version
mkdir "$src"
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # (a tracked file deleted in the tree is only warned about)
    (cd "$top" && git ls-files -z --cached --others --exclude-standard) |
        tar -C "$top" -cf - --null --no-recursion --ignore-failed-read -T - |
        tar -C "$src" -xf -
else
    tar -C "$top" -cf - --exclude=./.libs --exclude='*.o' --exclude='*.lo' \
        --exclude='*.slo' --exclude='*.la' --exclude=./build/.flags \
        --exclude=./build/deb --exclude=./build/unit --exclude=./build/fuzz \
        --exclude=./t/logs . | tar -C "$src" -xf -
fi

# A build of its own: nothing from a calling make (SANITIZE=1, jobs).
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
(cd "$src" && dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1 || {
    cat "$tmp/build.log" >&2
    echo "deb.sh: dpkg-buildpackage failed (its output is above)" >&2
    exit 1
}

mkdir -p "$out"
rm -f "$out"/libapache2-mod-revproxy*.deb
cp "$tmp"/*.deb "$out/"
for f in "$out"/*.deb; do
    echo "deb.sh: $f"
done
