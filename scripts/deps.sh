#!/bin/sh
#  Installs the Debian packages a make target needs, only those missing.
#  Usage: scripts/deps.sh SET...   where SET is build, format, faults, tsan, fuzz, cross, deb or compare.
set -e

#  build: python3 (3.11, for tomllib) runs src/cli/gen_cli.py at build time; man-db checks
#  the man pages it makes; tmux drives the interactive client in a test; python3-pytest runs
#  the Python module's tests.
packages=""
for set in "$@"; do
    case "$set" in
    build) packages="$packages meson ninja-build pkg-config g++ binutils libczmq-dev libzmq3-dev
                     libcmocka-dev libsqlite3-dev libedit-dev tmux python3 man-db
                     python3-pytest tcpdump" ;;
    format) packages="$packages clang-format git" ;;
    #  the fault harness (tests/faults): a FUSE disk for the power cut, an NFQUEUE link delay
    #  (this kernel has no netem), namespaces, iptables, a file system for the disk images
    faults) packages="$packages libfuse3-dev fuse3 libnetfilter-queue-dev iptables iproute2
                      e2fsprogs" ;;
    #  libzmq from Debian's source package with ThreadSanitizer (scripts/tsan-libzmq.sh)
    tsan) packages="$packages cmake ninja-build g++ libsodium-dev dpkg-dev" ;;
    fuzz) packages="$packages clang-14 libclang-rt-14-dev" ;;
    cross) packages="$packages crossbuild-essential-arm64 crossbuild-essential-armhf mmdebstrap
                     qemu-user" ;;
    deb) packages="$packages dpkg-dev lintian mmdebstrap systemd iproute2 strace" ;;
    compare) packages="$packages mosquitto nats-server redis-server libmosquitto-dev libnats-dev
                       libhiredis-dev openssl libssl-dev" ;;
    *) echo "deps.sh: unknown set '$set' (build, format, faults, tsan, fuzz, cross, deb, compare)" >&2; exit 2 ;;
    esac
done

missing=""
for package in $packages; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
    [ "$status" = "installed" ] || missing="$missing $package"
done
[ -n "$missing" ] || exit 0

echo "deps: installing$missing"
sudo=""
[ "$(id -u)" = "0" ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
$sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing
