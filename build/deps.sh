#!/bin/sh
# shellcheck disable=SC2034,SC2154  # the PKGS_* lists are read through eval
# build/deps.sh -- install the Debian packages a target needs, only those missing.
#
#   build/deps.sh [GROUP ...]      GROUP: build (default) test sanitize fuzz bench demo deb all
#
# As root it runs apt-get (one `apt-get update` first, only when something is
# missing); as a user it uses `sudo -n` when that works without a password,
# otherwise it prints the missing packages and exits 1.  Debian 12 (bookworm).
set -eu

# One group per target; a group may name another group with @.
PKGS_build="build-essential pkg-config apache2-dev libpcre2-dev libssl-dev"
# Apache::Test ships in libapache2-mod-perl2; LWP (+ https) drive the requests.
# prometheus ships promtool (t/revproxy/71_metrics.t: promtool check metrics).
PKGS_test="@build apache2 perl libapache2-mod-perl2 libwww-perl libio-socket-ssl-perl liblwp-protocol-https-perl libprotocol-websocket-perl apache2-utils openssl curl prometheus"
# SANITIZE=1 uses gcc's ASan/UBSan runtimes (libasan8, libubsan1 come with gcc).
PKGS_sanitize="@test"
PKGS_fuzz="@build clang libclang-rt-14-dev"
# bench/run.sh: nginx (backend and a front), wrk; bench/profile.sh: valgrind, strace;
# bench/tunnels.sh, upload.sh: python3 (their asyncio backends and client).
PKGS_bench="@test nginx wrk valgrind strace python3"
PKGS_demo="@build apache2 curl"
# build/deb.sh (make deb, t/revproxy/95_package.t): dpkg-buildpackage.
# dh_apache2 comes with apache2-dev (@build): dh-apache2 is a virtual
# package that apache2-dev provides, so dpkg-query would never see it.
PKGS_deb="@build debhelper dpkg-dev fakeroot"

expand() {
    for g in "$@"; do
        case $g in
            all) expand build test sanitize fuzz bench demo deb ;;
            build|test|sanitize|fuzz|bench|demo|deb)
                eval "list=\$PKGS_$g"
                for p in $list; do
                    case $p in
                        @*) expand "${p#@}" ;;
                        *) echo "$p" ;;
                    esac
                done ;;
            *) echo "deps.sh: unknown group '$g' (build test sanitize fuzz bench demo deb all)" >&2
               exit 2 ;;
        esac
    done
}

[ $# -gt 0 ] || set -- build
wanted=$(expand "$@") || exit 2
wanted=$(echo "$wanted" | sort -u)

missing=
for p in $wanted; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    case $status in
        ii*) ;;
        *) missing="$missing $p" ;;
    esac
done
missing=${missing# }

if [ -z "$missing" ]; then
    echo "deps.sh: all packages for '$*' are installed"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "deps.sh: missing Debian packages for '$*':" >&2
    echo "    $missing" >&2
    echo "install them as root:" >&2
    echo "    apt-get update && apt-get install -y --no-install-recommends $missing" >&2
    exit 1
fi

echo "deps.sh: installing: $missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
# shellcheck disable=SC2086  # the list is meant to split
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
