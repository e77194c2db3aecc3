#!/bin/bash
#  Tests zgm's Debian packages (build-deb/*.deb, from packaging/deb/build.sh) the way a Pi
#  owner uses them (docs/packaging.md).
#
#  Usage: packaging/deb/test.sh [--build] [ARCH...]   ARCH: amd64, arm64, armhf (default: all)
#
#  --build: builds the packages first (packaging/deb/build.sh), while the base root is made.
#  1. A base root, cached in build-deb/roots/base: mmdebstrap --variant=minbase for the host's
#     suite from the host's apt sources, native amd64 with arm64 and armhf as foreign
#     architectures, plus systemd (for systemd-analyze --root) and qemu-user (ARM programs run
#     inside the root through it: binfmt_misc is not available here). Made again when its
#     stamp (suite, architectures, packages, sources) changes.
#  2. lintian on the packages, as user nobody: no tag but those the packages override with a
#     reason (usr/share/lintian/overrides; docs/packaging.md).
#  3. For each ARCH, at the same time: a fresh copy of the base root, in which apt-get installs
#     zgm, libzgm0 and libzgm-dev of ARCH, resolving their Depends (for ARM: the ARM
#     libraries). Then:
#     - the user and group zgm, /var/lib/zgm and /etc/zgm with their owners and modes, the
#       conffile;
#     - systemd-analyze verify of zgm-registry.service and zgm-server@main.service, and their
#       systemd-analyze security exposure (at most 1.5);
#     - run-units.sh: the registry and a group server started from the units' ExecStart as user
#       zgm, a session of the installed `zgm user` (join, send, fetch);
#     - a program built against libzgm-dev (pkg-config zgm) runs with libzgm0's library;
#     - dpkg --purge zgm removes /var/lib/zgm, /etc/zgm and the override; the user stays.
#  Every root, process and temporary file of the test is removed at the end, also on failure;
#  the cached base root stays (rm -rf build-deb/roots to drop it).
#
#  Environment: ZGM_DEB_OUT (default build-deb), JOBS (for --build), ZGM_SUITE and
#  ZGM_APT_SOURCES (as for cross/sysroot.sh).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
here=$top/packaging/deb
out=$top/${ZGM_DEB_OUT:-build-deb}
build=""
if [ "${1:-}" = --build ]; then
    build=yes
    shift
fi
[ $# -gt 0 ] || set -- amd64 arm64 armhf
[ "$(dpkg --print-architecture)" = amd64 ] ||
    { echo "test.sh: the roots are amd64 with ARM as foreign architectures: run on amd64" >&2; exit 2; }
version=$(dpkg-parsechangelog -l "$here/changelog" -S Version)
started=$SECONDS

step() { echo "test-deb: $* ($((SECONDS - started)) s)"; }

mkdir -p "$out/roots"
tmp=$(mktemp -d "$out/test.XXXXXX")
chmod 0755 "$tmp"
bg_pids=()

#  kill_tree PID: SIGKILL to PID and every process under it (the test's own, by id).
kill_tree() {
    local child
    kill -STOP "$1" 2>/dev/null || return 0   # starts nothing more
    for child in $(ps -o pid= --ppid "$1"); do kill_tree "$child"; done
    kill -KILL "$1" 2>/dev/null || true
}
cleanup() {
    local status=$? pid
    for pid in "${bg_pids[@]}"; do kill_tree "$pid"; done
    wait 2>/dev/null || true
    #  Mounts live only in the mount namespaces of unshare and end with their processes;
    #  never delete through one that is somehow left.
    if grep -q " $tmp/" /proc/mounts; then
        echo "test.sh: mounts left under $tmp; not deleting it" >&2
        grep " $tmp/" /proc/mounts >&2
        exit 1
    fi
    rm -rf "$tmp" "$out/roots/base.tmp"
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

#  start NAME COMMAND...: runs COMMAND in the background, output in $tmp/NAME.log; sets
#  NAME_pid.
start() {
    local name=$1
    shift
    "$@" >"$tmp/$name.log" 2>&1 &
    bg_pids+=($!)
    printf -v "${name//-/_}_pid" %s $!
}

#  finish NAME: waits for the job NAME, prints its log indented; fails when it failed.
finish() {
    local pid_var=${1//-/_}_pid status=0 pid
    wait "${!pid_var}" || status=$?
    #  Reaped: its id may be reused by another process from now on.
    local -a left=()
    for pid in "${bg_pids[@]}"; do [ "$pid" = "${!pid_var}" ] || left+=("$pid"); done
    bg_pids=("${left[@]}")
    sed 's/^/  /' "$tmp/$1.log"
    [ $status = 0 ] || { echo "test-deb: $1 failed (status $status)" >&2; exit 1; }
}

#  --- 1. The base root (in the background). ---------------------------------------------------
suite=${ZGM_SUITE:-}
if [ -z "$suite" ]; then
    # shellcheck disable=SC1091
    suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
fi
sources=${ZGM_APT_SOURCES:-}
if [ -z "$sources" ]; then
    #  The host's own, as cross/sysroot.sh: no mirror name in the repository.
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
             /etc/apt/sources.list.d/*.sources; do
        if [ -f "$f" ] && grep -q '^[[:space:]]*[^#[:space:]]' "$f"; then sources="$sources $f"; fi
    done
fi
[ -n "$sources" ] || { echo "test.sh: no apt sources on this host" >&2; exit 2; }
base=$out/roots/base
include=systemd,qemu-user
# shellcheck disable=SC2086  # a list of files
want="$suite amd64,arm64,armhf $include $(cat $sources | md5sum)"
make_base() {
    local attempt
    rm -rf "$base" "$base.tmp"
    for attempt in 1 2; do
        # shellcheck disable=SC2086  # a list of files
        if mmdebstrap --variant=minbase --architectures=amd64,arm64,armhf \
               --include="$include" --skip=cleanup/apt/lists "$suite" "$base.tmp" $sources \
               </dev/null >"$tmp/mmdebstrap.log" 2>&1; then
            echo "$want" >"$base.tmp/.zgm-root-stamp"
            mv "$base.tmp" "$base"
            echo "base root: $(du -sh "$base" | cut -f1)"
            return 0
        fi
        grep '^E:' "$tmp/mmdebstrap.log" | tail -n 3
        rm -rf "$base.tmp"
        [ $attempt = 1 ] && echo "mmdebstrap failed, retrying once" && sleep 3
    done
    echo "mmdebstrap failed (log above)"
    return 1
}
if [ ! -f "$base/.zgm-root-stamp" ] || [ "$(cat "$base/.zgm-root-stamp")" != "$want" ]; then
    step "base root: mmdebstrap $suite minbase amd64,arm64,armhf +$include, in the background"
    start base make_base
else
    start base echo "base root: cached in $base"
fi

#  --- The packages. --------------------------------------------------------------------------
if [ -n "$build" ]; then
    step "packages: packaging/deb/build.sh $*"
    start build "$here/build.sh" "$@"
    finish build
fi
for arch in "$@"; do
    for pkg in zgm libzgm0 libzgm-dev; do
        [ -f "$out/${pkg}_${version}_$arch.deb" ] ||
            { echo "test.sh: no $out/${pkg}_${version}_$arch.deb: make deb first" >&2; exit 1; }
    done
done

#  --- 2. lintian, in the background. ---------------------------------------------------------
#  no-manual-page is expected until the man pages (the cli-ops branch) are installed by meson.
debs=()
for arch in "$@"; do debs+=("$out"/{zgm,libzgm0,libzgm-dev}_"${version}_$arch.deb"); done
if [ -f "$out/python3-zgm_${version}_all.deb" ]; then debs+=("$out/python3-zgm_${version}_all.deb"); fi
suppress=""
if ! dpkg-deb -c "$out/zgm_${version}_$1.deb" | grep -q '/usr/share/man/man1/zgm\.1'; then
    suppress=--suppress-tags=no-manual-page
fi
mkdir -m 0777 "$tmp/lintian"
cp "${debs[@]}" "$tmp/lintian/"
run_lintian() {
    cd "$tmp/lintian"
    [ -z "$suppress" ] || echo "the zgm package has no zgm(1) yet: no-manual-page is ignored"
    setpriv --reuid=nobody --regid=nogroup --clear-groups \
        env HOME="$tmp/lintian" TMPDIR="$tmp/lintian" \
        lintian -I --pedantic --fail-on error,warning,info,pedantic $suppress ./*.deb
    echo "lintian: no tag but the overridden ones (${#debs[@]} packages)"
}
start lintian run_lintian

step "base root: waiting"
finish base

#  --- 3. Each architecture, at the same time. -------------------------------------------------

#  in_ns ROOT COMMAND...: COMMAND in a mount namespace of its own with ROOT/proc mounted.
in_ns() {
    local root=$1
    shift
    # shellcheck disable=SC2016  # expanded by that sh
    unshare --mount --fork --kill-child -- sh -c 'mount -t proc proc "$0/proc" && exec "$@"' \
        "$root" "$@"
}

#  check WHAT ACTUAL EXPECTED
check() {
    if [ "$2" != "$3" ]; then echo "FAILED: $1 is '$2', not '$3'"; exit 1; fi
    echo "ok: $1: $2"
}

#  test_arch ARCH: everything of step 3 for one architecture (a background job).
test_arch() {
    local arch=$1 triplet root status
    local -a wrap
    case "$arch" in
    amd64) triplet=x86_64-linux-gnu wrap=() ;;
    arm64) triplet=aarch64-linux-gnu wrap=(/usr/bin/qemu-aarch64) ;;
    armhf) triplet=arm-linux-gnueabihf wrap=(/usr/bin/qemu-arm) ;;
    *) echo "unknown architecture '$arch'"; exit 2 ;;
    esac
    local t0=$SECONDS
    root=$tmp/root-$arch
    cp -a "$base" "$root"
    mkdir -p "$root/tmp/debs"
    cp "$out"/{zgm,libzgm0,libzgm-dev}_"${version}_$arch.deb" "$root/tmp/debs/"
    install_debs() {
        in_ns "$root" chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            -o Dpkg::Options::=--force-unsafe-io -o APT::Install-Recommends=false \
            /tmp/debs/zgm_"${version}_$arch.deb" /tmp/debs/libzgm0_"${version}_$arch.deb" \
            /tmp/debs/libzgm-dev_"${version}_$arch.deb" >>"$tmp/apt-$arch.log" 2>&1
    }
    if ! install_debs; then
        #  The cached lists may be older than the mirror: refresh once.
        echo "apt-get install failed; apt-get update and again"
        if ! in_ns "$root" chroot "$root" apt-get update -q >>"$tmp/apt-$arch.log" 2>&1 ||
           ! install_debs; then
            tail -n 30 "$tmp/apt-$arch.log"
            exit 1
        fi
    fi
    echo "installed, $(grep -c '^Setting up' "$tmp/apt-$arch.log") packages set up" \
         "($((SECONDS - t0)) s)"

    local pkg uid gid home shell
    for pkg in zgm libzgm0 libzgm-dev; do
        # shellcheck disable=SC2016  # dpkg-query's format
        check "$pkg:$arch" "$(chroot "$root" dpkg-query -W -f '${db:Status-Status} ${Version}' \
            "$pkg:$arch")" "installed $version"
    done
    # shellcheck disable=SC2016  # dpkg-query's format
    check "zgm depends on" "$(chroot "$root" dpkg-query -W -f '${Depends}' "zgm:$arch" |
        grep -o 'adduser\|libczmq4\|libzmq5\|libsqlite3-0\|libedit2\|libc6' | sort | xargs)" \
        "adduser libc6 libczmq4 libedit2 libsqlite3-0 libzmq5"
    IFS=: read -r _ _ uid gid _ home shell <<<"$(chroot "$root" getent passwd zgm)"
    check "user zgm: home, shell" "$home $shell" "/var/lib/zgm /usr/sbin/nologin"
    [ "$uid" -lt 1000 ] || { echo "FAILED: zgm is not a system user (uid $uid)"; exit 1; }
    check "user zgm: group" "$(chroot "$root" getent group "$gid" | cut -d: -f1)" zgm
    check /etc/zgm "$(chroot "$root" stat -c '%U:%G %a' /etc/zgm)" "root:zgm 750"
    check /etc/zgm/zgm.cfg "$(chroot "$root" stat -c '%U:%G %a' /etc/zgm/zgm.cfg)" "root:root 644"
    check /var/lib/zgm "$(chroot "$root" stat -c '%U:%G %a' /var/lib/zgm)" "zgm:zgm 750"
    # shellcheck disable=SC2016  # dpkg-query's format
    check "conffiles" "$(chroot "$root" dpkg-query -W -f '${Conffiles}' "zgm:$arch" |
        awk '{ print $1 }' | xargs)" "/etc/zgm/zgm.cfg"

    #  The units, as the root's systemd would load them (the template as instance main).
    local verify unit exposure page name section
    verify=$(systemd-analyze verify --root="$root" --man=no zgm-registry.service \
        zgm-server@main.service 2>&1) || { echo "FAILED: $verify"; exit 1; }
    [ -z "$verify" ] || { echo "FAILED: systemd-analyze verify: $verify"; exit 1; }
    echo "ok: systemd-analyze verify zgm-registry.service zgm-server@main.service"
    for unit in zgm-registry.service zgm-server@main.service; do
        exposure=$(systemd-analyze security --offline=yes --root="$root" --threshold=15 \
            "$unit" 2>&1) || { echo "FAILED: $exposure"; exit 1; }
        echo "ok: $(grep -o 'Overall exposure level.*' <<<"$exposure")"
    done
    #  Each man: page of the units' Documentation= is installed (once zgm has man pages).
    if compgen -G "$root/usr/share/man/man1/zgm.1*" >/dev/null; then
        for page in $(sed -n 's/^Documentation=//p' "$root"/lib/systemd/system/zgm-*.service |
                      tr ' ' '\n' | sort -u); do
            name=${page#man:}
            section=${name##*(}
            section=${section%)}
            name=${name%(*}
            compgen -G "$root/usr/share/man/man$section/$name.$section*" >/dev/null ||
                { echo "FAILED: $page is not installed"; exit 1; }
        done
        echo "ok: the units' man pages are installed"
    fi

    #  The registry and a group server from the units, a session, in namespaces of their own.
    t0=$SECONDS
    mkdir -p "$tmp/logs-$arch"
    status=0
    unshare --net --mount --pid --fork --kill-child -- \
        "$here/run-units.sh" "$root" "$arch" "$tmp/logs-$arch" || status=$?
    [ $status = 0 ] || exit 1
    echo "units and session done ($((SECONDS - t0)) s)"

    #  libzgm-dev: pkg-config finds zgm and what its Requires.private names; a program built
    #  with it runs on libzgm0's shared library.
    local -a flags
    export PKG_CONFIG_SYSROOT_DIR=$root
    export PKG_CONFIG_LIBDIR=$root/usr/lib/$triplet/pkgconfig:$root/usr/share/pkgconfig
    pkg-config --static --libs zgm >/dev/null
    read -r -a flags <<<"$(pkg-config --cflags --libs zgm)"
    "$triplet-gcc" --sysroot="$root" -Wall -Werror "$here/probe.c" -o "$root/tmp/zgm-probe" \
        "${flags[@]}"
    unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR
    check "zgm-probe" "$(in_ns "$root" chroot "$root" "${wrap[@]}" /tmp/zgm-probe)" \
        "libzgm $version: user probe"
    check "package of libzgm.so.0" "$(chroot "$root" dpkg -S "$(readlink -f \
        "$root/usr/lib/$triplet/libzgm.so.0" | sed "s|^$root||")" | cut -d: -f1)" libzgm0

    #  Purge: the data and /etc/zgm go, the user stays.
    in_ns "$root" chroot "$root" dpkg --purge "zgm:$arch" >>"$tmp/apt-$arch.log" 2>&1 ||
        { tail -n 20 "$tmp/apt-$arch.log"; exit 1; }
    for path in /var/lib/zgm /etc/zgm; do
        [ ! -e "$root$path" ] || { echo "FAILED: $path is left after purge"; exit 1; }
    done
    check "statoverrides after purge" "$(grep -c zgm "$root/var/lib/dpkg/statoverride" || true)" 0
    check "user zgm after purge" "$(chroot "$root" getent passwd zgm | cut -d: -f1)" zgm

    rm -rf "$root"
}

for arch in "$@"; do
    start "arch-$arch" test_arch "$arch"
done
step "testing $*: waiting"
for arch in "$@"; do
    finish "arch-$arch"
    step "$arch: passed"
done

finish lintian
step "lintian: passed"
echo "test-deb: passed for $*"
