#!/bin/bash
#  Tests zgm's Debian packages (build-deb/*.deb, from packaging/deb/build.sh) the way a Pi
#  owner uses them (docs/packaging.md).
#
#  Usage: packaging/deb/test.sh [--build] [ARCH...]   ARCH: amd64, arm64, armhf (default: all)
#         packaging/deb/test.sh --base-root
#
#  --build: builds the packages first (packaging/deb/build.sh, one job per architecture, at
#  the same time), while the base root is made.
#  --base-root: only makes the base root (step 1), e.g. in the background while other tests
#  run (.ci/run); a test.sh started meanwhile waits for it (a lock) and finds it cached.
#  1. A base root, cached in build-deb/roots/base: mmdebstrap --variant=minbase for the host's
#     suite from the host's apt sources, native amd64 with arm64 and armhf as foreign
#     architectures, plus systemd (for systemd-analyze --root), qemu-user (ARM programs run
#     inside the root through it: binfmt_misc is not available here) and python3 (for
#     python3-zgm). Made again when its stamp (suite, architectures, packages, sources)
#     changes.
#  2. lintian on the packages, as user nobody: no tag but those the packages override with a
#     reason (usr/share/lintian/overrides; docs/packaging.md).
#  3. For each ARCH, at the same time, test-arch.sh in a mount namespace of its own: a fresh
#     root (an overlay over the base root) in which apt-get installs zgm, libzgm0 and
#     libzgm-dev of ARCH (and python3-zgm in the amd64 root); the user, directories and
#     conffile; systemd-analyze verify and security; run-units.sh (the registry and a group
#     server from the units' ExecStart as user zgm, a session of `zgm user`, and one through
#     the Python module where it is installed); a program built with libzgm-dev; purge.
#  Every root, process and temporary file of the test is removed at the end, also on failure;
#  the cached base root stays (rm -rf build-deb/roots to drop it).
#
#  Environment: ZGM_DEB_OUT (default build-deb), JOBS (for --build), ZGM_SUITE and
#  ZGM_APT_SOURCES (as for cross/sysroot.sh; scripts/apt-sources.sh).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
here=$top/packaging/deb
out=$top/${ZGM_DEB_OUT:-build-deb}
build="" base_only=""
case "${1:-}" in
--build) build=yes; shift ;;
--base-root) base_only=yes; shift ;;
esac
[ $# -gt 0 ] || set -- amd64 arm64 armhf
[ "$(dpkg --print-architecture)" = amd64 ] ||
    { echo "test.sh: the roots are amd64 with ARM as foreign architectures: run on amd64" >&2; exit 2; }
version=$(dpkg-parsechangelog -l "$here/changelog" -S Version)
started=$SECONDS

step() { echo "test-deb: $* ($((SECONDS - started)) s)"; }

mkdir -p "$out/roots"
tmp=$(mktemp -d "$out/test.XXXXXX")
lintian_dir=""
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
    if grep -q -e " $tmp/" -e " $out/roots/base.tmp/" /proc/mounts; then
        echo "test.sh: mounts left under $tmp or $out/roots/base.tmp; not deleting them" >&2
        grep -e " $tmp/" -e " $out/roots/base.tmp/" /proc/mounts >&2
        exit 1
    fi
    #  A half-made base root is removed unless another test.sh is making it (holds the lock).
    flock -n "$out/roots/base.lock" rm -rf "$out/roots/base.tmp" || true
    rm -rf "$tmp" ${lintian_dir:+"$lintian_dir"}
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
# shellcheck source=scripts/apt-sources.sh
. "$top/scripts/apt-sources.sh"
sources=$(apt_sources)
[ -n "$sources" ] || { echo "test.sh: no apt sources on this host" >&2; exit 2; }
base=$out/roots/base
include=systemd,qemu-user,python3
# shellcheck disable=SC2086  # a list of files
want="$suite amd64,arm64,armhf $include $(cat $sources | md5sum)"
make_base() {
    local attempt use stamp=$want
    rm -rf "$base" "$base.tmp"
    #  Attempt 1 and its one retry use the sources as they are; a third and last one leaves
    #  out the security suite (scripts/apt-sources.sh says why). Its stamp says so, and the
    #  next test.sh makes the root again.
    for attempt in 1 2 3; do
        # shellcheck disable=SC2086  # a list of files
        use=$(attempt_sources $attempt "$out/roots/apt-sources" "base root" $sources) || break
        [ $attempt != 3 ] || stamp="$want without-security"
        #  In a mount namespace of its own: the proc, sys and dev mounts mmdebstrap makes in
        #  the root end with it, also when it is killed (they were left behind, and the
        #  cleanup's rm -rf of the half-made root went through them).
        # shellcheck disable=SC2086  # a list of files
        if unshare --mount --fork --kill-child -- \
               mmdebstrap --variant=minbase --architectures=amd64,arm64,armhf \
               --include="$include" --skip=cleanup/apt/lists "$suite" "$base.tmp" $use \
               </dev/null >"$tmp/mmdebstrap.log" 2>&1; then
            echo "$stamp" >"$base.tmp/.zgm-root-stamp"
            mv "$base.tmp" "$base"
            echo "base root: $(du -sh "$base" | cut -f1)"
            return 0
        fi
        #  apt's errors, or the end of the log when there are none (mmdebstrap not found).
        grep '^E:' "$tmp/mmdebstrap.log" | tail -n 3 || tail -n 3 "$tmp/mmdebstrap.log"
        rm -rf "$base.tmp"
        [ $attempt = 1 ] && echo "mmdebstrap failed, retrying once" && sleep 3
    done
    echo "mmdebstrap failed (log above)"
    return 1
}
#  One maker at a time (a test.sh --base-root may be at it): the lock, then the stamp.
base_root() {
    exec 9>"$out/roots/base.lock"
    flock 9
    if [ ! -f "$base/.zgm-root-stamp" ] || [ "$(cat "$base/.zgm-root-stamp")" != "$want" ]; then
        make_base
    else
        echo "base root: cached in $base"
    fi
}
if [ -n "$base_only" ]; then
    step "base root: mmdebstrap $suite minbase amd64,arm64,armhf +$include"
    start base base_root
    finish base
    step "base root: done"
    exit 0
fi
step "base root: mmdebstrap $suite minbase amd64,arm64,armhf +$include (or cached), in the background"
start base base_root

#  --- The packages. --------------------------------------------------------------------------
if [ -n "$build" ]; then
    step "packages: packaging/deb/build.sh for $*, at the same time"
    no_python=""   # python3-zgm with the first only
    for arch in "$@"; do
        # shellcheck disable=SC2086  # empty or one word
        start "build-$arch" "$here/build.sh" $no_python "$arch"
        no_python=--no-python
    done
    for arch in "$@"; do finish "build-$arch"; done
    step "packages: built"
fi
for arch in "$@"; do
    for pkg in zgm libzgm0 libzgm-dev; do
        [ -f "$out/${pkg}_${version}_$arch.deb" ] ||
            { echo "test.sh: no $out/${pkg}_${version}_$arch.deb: make deb first" >&2; exit 1; }
    done
done

#  --- 2. lintian, in the background. ---------------------------------------------------------
debs=()
for arch in "$@"; do debs+=("$out"/{zgm,libzgm0,libzgm-dev}_"${version}_$arch.deb"); done
if [ -f "$out/python3-zgm_${version}_all.deb" ]; then debs+=("$out/python3-zgm_${version}_all.deb"); fi
#  Under /tmp, which user nobody can reach (the worktree may sit under a private directory).
lintian_dir=$(mktemp -d /tmp/zgm-lintian.XXXXXX)
cp "${debs[@]}" "$lintian_dir/"
chmod 0644 "$lintian_dir"/*.deb
chown nobody "$lintian_dir"
run_lintian() {
    cd "$lintian_dir"
    setpriv --reuid=nobody --regid=nogroup --clear-groups \
        env HOME="$lintian_dir" TMPDIR="$lintian_dir" \
        lintian -I --pedantic --fail-on error,warning,info,pedantic ./*.deb
    echo "lintian: no tag but the overridden ones (${#debs[@]} packages)"
}
start lintian run_lintian

step "base root: waiting"
finish base

#  --- 3. Each architecture, at the same time, in a mount namespace of its own. --------------
for arch in "$@"; do
    mkdir "$tmp/$arch"
    start "arch-$arch" unshare --mount --fork --kill-child -- \
        "$here/test-arch.sh" "$arch" "$base" "$tmp/$arch" "$out" "$version"
done
step "testing $*: waiting"
for arch in "$@"; do
    finish "arch-$arch"
    step "$arch: passed"
done

finish lintian
step "lintian: passed"
echo "test-deb: passed for $*"
