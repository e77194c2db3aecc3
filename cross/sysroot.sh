#!/bin/sh
#  Builds a Debian sysroot for cross-compiling zgm, and the meson constants file that points
#  the committed cross file (cross/ARCH.ini) at it.
#
#  Usage: cross/sysroot.sh ARCH BUILDDIR        ARCH is aarch64 or armhf
#
#  Creates BUILDDIR/sysroot (mmdebstrap --variant=extract: packages unpacked, nothing run, host
#  packages untouched) and BUILDDIR/sysroot.ini ([constants] sysroot = '...'). Does nothing if
#  the sysroot's stamp says it was built with the same package list.
#
#  Apt sources: the host's own (scripts/apt-sources.sh), so no mirror name lives in the repo.
#  Override with ZGM_APT_SOURCES="file ..." (e.g. a file with the main suite only) and the suite
#  with ZGM_SUITE.
set -eu

arch=${1:?usage: cross/sysroot.sh aarch64|armhf BUILDDIR}
builddir=${2:?usage: cross/sysroot.sh aarch64|armhf BUILDDIR}

case "$arch" in
aarch64) debarch=arm64 triplet=aarch64-linux-gnu qemu=qemu-aarch64 ;;
armhf) debarch=armhf triplet=arm-linux-gnueabihf qemu=qemu-arm ;;
*) echo "sysroot.sh: unknown architecture '$arch' (aarch64, armhf)" >&2; exit 2 ;;
esac

#  What the build links against; the -dev packages pull their own -dev and runtime dependencies.
#  libc-bin for its ldconfig. The C++ headers and libstdc++.so come from the cross toolchain
#  (the same GCC 12); the sysroot has the libstdc++6 the programs load at run time.
#  python3 and python3-pytest: the Python module's tests run under qemu with the sysroot's own
#  (ARM) python3, which can load the ARM libzgm through ctypes (python/tests/run_pytest.sh).
packages="libc-bin libc6-dev libczmq-dev libzmq3-dev libcmocka-dev libsqlite3-dev
          libedit-dev python3 python3-pytest"
# shellcheck disable=SC2086  # collapse the whitespace
packages=$(echo $packages | tr ' ' ',')

mkdir -p "$builddir"
builddir=$(cd "$builddir" && pwd)
sysroot=$builddir/sysroot
stamp=$sysroot/.zgm-sysroot-stamp

suite=${ZGM_SUITE:-}
if [ -z "$suite" ]; then
    # shellcheck disable=SC1091
    suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
fi
[ -n "$suite" ] || { echo "sysroot.sh: cannot tell the host's suite; set ZGM_SUITE" >&2; exit 2; }

#  The downloaded .deb files stay in the sysroot's apt cache (var/cache/apt/archives): the
#  Debian packaging (packaging/deb/build.sh) reads their shlibs and symbols files to compute
#  the packages' dependencies. "debs" in the stamp rebuilds older sysroots that lack them.
want="$debarch $suite $packages debs"

# shellcheck source=scripts/apt-sources.sh
. "$(dirname "$0")/../scripts/apt-sources.sh"

#  One builder per build directory at a time (make -j, two terminals).
exec 9>"$builddir/.sysroot.lock"
flock 9

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    :   # up to date
else
    sources=$(apt_sources)
    [ -n "$sources" ] || { echo "sysroot.sh: no apt sources on this host" >&2; exit 2; }

    echo "sysroot: $arch ($debarch, $suite) into $sysroot"
    log=$builddir/sysroot.log
    : >"$log"
    #  Attempt 1 and its one retry use the sources as they are; a third and last one leaves
    #  out the security suite (scripts/apt-sources.sh says why). That sysroot lacks security
    #  updates, which does not matter for linking and testing.
    for attempt in 1 2 3; do
        rm -rf "$sysroot" "$sysroot.tmp"
        # shellcheck disable=SC2086  # $sources is a list of file names
        use=$(attempt_sources $attempt "$builddir/apt-sources" sysroot $sources) || break
        # shellcheck disable=SC2086  # $use is a list of file names
        if mmdebstrap --variant=extract --architectures="$debarch" --include="$packages" \
               --skip=cleanup/apt/cache \
               "$suite" "$sysroot.tmp" $use </dev/null >>"$log" 2>&1; then
            break
        fi
        grep '^E:' "$log" | tail -n 3 >&2
        rm -rf "$sysroot.tmp"
        if [ $attempt = 1 ]; then echo "sysroot: mmdebstrap failed, retrying once" >&2; sleep 3; fi
    done
    if [ ! -d "$sysroot.tmp" ]; then
        echo "sysroot.sh: mmdebstrap failed (see $log); set ZGM_APT_SOURCES to other sources" >&2
        exit 1
    fi

    #  The extract variant runs no maintainer scripts: give the sysroot its own loader cache so
    #  the guest loader under qemu -L does not probe the host's. The host's ldconfig skips ARM
    #  libraries ("unknown machine") and leaves an empty cache, so run the sysroot's own,
    #  statically linked ldconfig under qemu (it chroots into the sysroot); fall back to the
    #  host's (an empty cache: the loader then searches its default directories, still fine).
    [ -f "$sysroot.tmp/etc/ld.so.conf" ] ||
        echo 'include /etc/ld.so.conf.d/*.conf' >"$sysroot.tmp/etc/ld.so.conf"
    "$qemu" "$sysroot.tmp/sbin/ldconfig" -r "$sysroot.tmp" 2>/dev/null ||
        ldconfig -r "$sysroot.tmp" 2>/dev/null ||
        echo "sysroot: WARNING: no loader cache (ldconfig failed)" >&2

    #  Nor does it compile Python modules (py3compile runs in maintainer scripts): compile them
    #  with the host's python3 (the same 3.11; bytecode does not depend on the architecture),
    #  named as they will be after the move, or every run under qemu compiles what it imports
    #  (pytest starts in 6 s instead of 40).
    for dir in "$sysroot.tmp"/usr/lib/python3.* "$sysroot.tmp"/usr/lib/python3/dist-packages; do
        [ -d "$dir" ] || continue
        python3 -m compileall -q -j 2 -s "$sysroot.tmp" -p "$sysroot" "$dir" >/dev/null 2>&1 ||
            echo "sysroot: WARNING: some Python modules of $dir did not compile" >&2
    done

    echo "$want" >"$sysroot.tmp/.zgm-sysroot-stamp"
    mv "$sysroot.tmp" "$sysroot"
fi

#  The sysroot as a meson constant, read before the committed cross file (cross-file layering).
ini=$builddir/sysroot.ini
new="[constants]
sysroot = '$sysroot'"
if [ ! -f "$ini" ] || [ "$(cat "$ini")" != "$new" ]; then
    echo "$new" >"$ini"
fi
[ -e "$sysroot/usr/lib/$triplet/libczmq.so" ] ||
    { echo "sysroot.sh: $sysroot lacks libczmq.so; delete it to rebuild" >&2; exit 1; }
