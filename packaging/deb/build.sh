#!/bin/bash
#  Builds zgm's Debian packages for amd64, arm64 and armhf (docs/packaging.md).
#
#  Usage: packaging/deb/build.sh [--configure] [--no-python] [ARCH...]
#         ARCH: amd64, arm64, armhf (default: all three)
#
#  --configure: step 1 only, for `make test-cross`, which builds and tests the ARM packages'
#  own build directories (build-deb/arm64/build, build-deb/armhf/build): the tests under qemu
#  run the objects the packages ship, and `make deb` after it compiles nothing again.
#
#  For each architecture, without dpkg-buildpackage (it would need the arm64 and armhf -dev
#  packages installed on the host, which breaks the native build: docs/cross.md):
#   1. meson configures build-deb/ARCH/build with Debian's paths (/usr, /etc, the multiarch
#      libdir, /lib/systemd/system) and dpkg-buildflags with hardening=+all; arm64 and armhf
#      cross-compile against the sysroot of `make test-cross` (build-aarch64/, build-armhf/,
#      made here by cross/sysroot.sh when missing);
#   2. `meson install --destdir build-deb/ARCH/destdir`, then every installed file goes to
#      exactly one package (a file no package claims is an error), with the Debian files of
#      packaging/deb/: the config /etc/zgm/zgm.cfg (a conffile), maintainer scripts,
#      copyright, changelog;
#   3. binaries are stripped and man pages compressed as dh_strip and dh_compress would;
#      dpkg-shlibdeps computes Depends (for arm64 and armhf from the shlibs and symbols files of
#      the sysroot's own .deb files), dpkg-gensymbols writes libzgm0's symbols file,
#      dpkg-gencontrol the control files, dpkg-deb builds build-deb/NAME_VERSION_ARCH.deb.
#  python3-zgm (Architecture: all) is built once, with the first architecture, when the tree
#  has python/ (not with --no-python: test.sh builds the architectures at the same time).
#
#  Environment: JOBS (ninja jobs, default 2), ZGM_DEB_OUT (default build-deb).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
here=packaging/deb
out=${ZGM_DEB_OUT:-build-deb}
jobs=${JOBS:-2}
configure_only="" python_done=""
while [ $# -gt 0 ]; do
    case "$1" in
    --configure) configure_only=yes ;;
    --no-python) python_done=no ;;
    *) break ;;
    esac
    shift
done
[ $# -gt 0 ] || set -- amd64 arm64 armhf

version=$(dpkg-parsechangelog -l "$here/changelog" -S Version)
meson_version=$(sed -n "s/^ *version: '\([^']*\)',\$/\1/p" meson.build | head -n 1)
if [ "$version" != "$meson_version" ]; then
    echo "build.sh: $here/changelog is at $version, meson.build at $meson_version" >&2
    exit 1
fi
#  Reproducible: file times clamped to the changelog's date.
SOURCE_DATE_EPOCH=$(dpkg-parsechangelog -l "$here/changelog" -S Timestamp)
export SOURCE_DATE_EPOCH

mkdir -p "$out"

#  ini_list WORD...: the words as a meson array of strings.
ini_list() {
    local sep="" w
    printf '['
    for w in "$@"; do
        printf "%s'%s'" "$sep" "$w"
        sep=", "
    done
    printf ']'
}

#  take PKG PATTERN...: moves what matches PATTERN (relative to the destdir) into PKG's tree.
take() {
    local pkg=$1 pattern path
    shift
    for pattern in "$@"; do
        for path in $destdir/$pattern; do
            [ -e "$path" ] || [ -L "$path" ] || continue
            path=${path#"$destdir"/}
            mkdir -p "$stage/$pkg/$(dirname "$path")"
            mv "$destdir/$path" "$stage/$pkg/$path"
        done
    done
}

#  docs PKG: copyright and changelog, as every package has them, and PKG's lintian overrides:
#  PKG.lintian-overrides and PKG.ARCH.lintian-overrides (tags explained in docs/packaging.md).
docs() {
    local doc=$stage/$1/usr/share/doc/$1
    mkdir -p "$doc"
    cp "$here/copyright" "$doc/copyright"
    gzip -9nc "$here/changelog" >"$doc/changelog.gz"
    local overrides=()
    for file in "$here/$1.lintian-overrides" "$here/$1.$arch.lintian-overrides"; do
        if [ -f "$file" ]; then overrides+=("$file"); fi
    done
    if [ ${#overrides[@]} -gt 0 ]; then
        mkdir -p "$stage/$1/usr/share/lintian/overrides"
        cat "${overrides[@]}" >"$stage/$1/usr/share/lintian/overrides/$1"
    fi
}

#  finish PKG: normalises modes, compresses man pages, writes md5sums and the control file,
#  builds the .deb. The dependencies are in $stage/PKG.substvars.
finish() {
    local pkg=$1 dir=$stage/$1
    touch "$stage/$pkg.substvars"
    find "$dir" -path "$dir/DEBIAN" -prune -o -type d -exec chmod 0755 {} +
    find "$dir" -path "$dir/DEBIAN" -prune -o -type f -exec chmod 0644 {} +
    if [ -d "$dir/usr/bin" ]; then chmod 0755 "$dir"/usr/bin/*; fi
    if [ -d "$dir/usr/share/man" ]; then
        find "$dir/usr/share/man" -type f ! -name '*.gz' -exec gzip -9n {} +
    fi
    (cd "$dir" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
        xargs -0 -r md5sum) >"$dir/DEBIAN/md5sums"
    [ -s "$dir/DEBIAN/md5sums" ] || rm "$dir/DEBIAN/md5sums"
    dpkg-architecture -a"$arch" -c dpkg-gencontrol -c"$here/control" -l"$here/changelog" \
        -T"$stage/$pkg.substvars" -P"$dir" -p"$pkg" -f"$stage/files"
    dpkg-deb --root-owner-group -Zxz --build "$dir" "$out/" >/dev/null
    echo "deb: $out/${pkg}_${version}_$(sed -n 's/^Architecture: //p' "$dir/DEBIAN/control").deb"
}

for arch in "$@"; do
    case "$arch" in
    amd64) triplet=x86_64-linux-gnu cross="" ;;
    arm64) triplet=aarch64-linux-gnu cross=aarch64 ;;
    armhf) triplet=arm-linux-gnueabihf cross=armhf ;;
    *) echo "build.sh: unknown architecture '$arch' (amd64, arm64, armhf)" >&2; exit 2 ;;
    esac
    work=$top/$out/$arch
    build=$work/build
    destdir=$work/destdir
    stage=$work/stage
    mkdir -p "$work"
    export CC=$triplet-gcc CXX=$triplet-g++   # dpkg-architecture checks them against -a

    #  1. Configure. The compiler and linker flags come from dpkg-buildflags in one more
    #  machine file; for arm it replaces the cross file's argument lists, so it repeats
    #  their --sysroot (and -Wno-psabi for armhf, as cross/armhf.ini). Without -g: the
    #  binaries are stripped and no -dbgsym package is made, and it costs a third of the
    #  compile time.
    flags() { DEB_BUILD_MAINT_OPTIONS=hardening=+all DEB_CFLAGS_MAINT_STRIP=-g \
        DEB_CXXFLAGS_MAINT_STRIP=-g dpkg-architecture -a"$arch" -c dpkg-buildflags --get "$1"; }
    # shellcheck disable=SC2046  # one word per flag
    {
        cflags=$(ini_list $(flags CPPFLAGS) $(flags CFLAGS))
        cxxflags=$(ini_list $(flags CPPFLAGS) $(flags CXXFLAGS))
        ldflags=$(ini_list $(flags LDFLAGS))
    }
    sys="" psabi="" machine=()
    if [ -n "$cross" ]; then
        cross/sysroot.sh "$cross" "build-$cross"
        sys="['--sysroot=' + sysroot] + "
        [ "$arch" = armhf ] && psabi="['-Wno-psabi'] + "
        machine=(--cross-file "build-$cross/sysroot.ini" --cross-file "cross/$cross.ini"
                 --cross-file "$work/flags.ini")
    else
        machine=(--native-file "$work/flags.ini")
    fi
    cat >"$work/flags.ini.new" <<EOF
#  Written by packaging/deb/build.sh: dpkg-buildflags for $arch (hardening=+all).
[built-in options]
c_args = $sys$cflags
cpp_args = $sys$psabi$cxxflags
c_link_args = $sys$ldflags
cpp_link_args = $sys$ldflags
EOF
    setup=(meson setup "$build" "${machine[@]}" --prefix=/usr --libdir="lib/$triplet"
           --sysconfdir=/etc --localstatedir=/var --buildtype=plain --wrap-mode=nodownload
           -Dtests=true -Dbench=false -Dcli=true -Dsystemdunitdir=/lib/systemd/system)
    #  A changed flag or option configures afresh (meson reads machine files only then).
    if ! cmp -s "$work/flags.ini.new" "$work/flags.ini" ||
       [ "${setup[*]}" != "$(cat "$work/setup.cmd" 2>/dev/null)" ] ||
       [ ! -f "$build/build.ninja" ]; then
        rm -rf "$build"
        mv "$work/flags.ini.new" "$work/flags.ini"
        "${setup[@]}" >"$work/setup.log" || { cat "$work/setup.log" >&2; exit 1; }
        echo "${setup[*]}" >"$work/setup.cmd"
    fi
    rm -f "$work/flags.ini.new"
    if [ -n "$configure_only" ]; then
        echo "configured: $build"
        continue
    fi

    #  2. Build what meson installs (not the benchmarks), and install it. build.ninja first:
    #  a changed meson.build reconfigures, and the target names may change with it.
    ninja -C "$build" build.ninja >"$work/ninja.log" || { cat "$work/ninja.log" >&2; exit 1; }
    mapfile -t targets < <(meson introspect --targets "$build" | python3 -c '
import json, os, sys
for target in json.load(sys.stdin):
    if target.get("installed"):
        for name in target["filename"]:
            print(os.path.relpath(name, sys.argv[1]))' "$build")
    ninja -C "$build" -j "$jobs" "${targets[@]}" >>"$work/ninja.log" ||
        { tail -n 40 "$work/ninja.log" >&2; exit 1; }
    rm -rf "$destdir" "$stage"
    meson install -C "$build" --no-rebuild --destdir "$destdir" >"$work/install.log"
    mkdir -p "$stage"

    #  Which package each installed file goes to (what debian/PACKAGE.install would say).
    take libzgm0 "usr/lib/$triplet/libzgm.so.*"
    take libzgm-dev usr/include "usr/lib/$triplet/libzgm.so" "usr/lib/$triplet/libzgm.a" \
        "usr/lib/$triplet/pkgconfig" usr/share/man/man3
    take zgm usr/bin lib/systemd usr/share/man/man1 usr/share/man/man5 \
        usr/share/bash-completion usr/share/doc/zgm
    #  (usr/share/doc/zgm holds the example with every key; Debian's /etc/zgm/zgm.cfg is
    #  packaging/deb/zgm.cfg.)
    if [ -d python ] && [ -z "$python_done" ]; then
        take python3-zgm "usr/lib/python3" "usr/lib/python3.*" usr/share/doc/python3-zgm
        python_done=$arch
        [ -d "$stage/python3-zgm" ] ||
            { echo "build.sh: python/ exists but meson installed no Python module" >&2; exit 1; }
    fi
    rm -rf "$destdir/usr/lib/python3" "$destdir"/usr/lib/python3.* \
        "$destdir/usr/share/doc/python3-zgm"   # once, not per arch
    find "$destdir" -depth -type d -empty -delete
    if [ -d "$destdir" ]; then
        echo "build.sh: installed files no package claims (add them in $0):" >&2
        find "$destdir" ! -type d >&2
        exit 1
    fi

    #  3. Strip as dh_strip does: programs and shared libraries to their dynamic symbols,
    #  static libraries of their debug sections only.
    strip=$triplet-strip
    "$strip" --remove-section=.comment --remove-section=.note "$stage/zgm/usr/bin/zgm"
    "$strip" --remove-section=.comment --remove-section=.note --strip-unneeded \
        "$stage/libzgm0/usr/lib/$triplet"/libzgm.so.*.*
    "$strip" --strip-debug --remove-section=.comment --remove-section=.note \
        --enable-deterministic-archives "$stage/libzgm-dev/usr/lib/$triplet/libzgm.a"

    #  Where dpkg-shlibdeps finds the libraries the binaries need, with their packages'
    #  shlibs and symbols files: natively the host's dpkg database; for arm the sysroot's .deb
    #  files, unpacked once (only those that carry shlibs or symbols) into build-deb/ARCH/deps.
    search=()
    if [ -n "$cross" ]; then
        debs=build-$cross/sysroot/var/cache/apt/archives
        stamp=build-$cross/sysroot/.zgm-sysroot-stamp
        if ! cmp -s "$stamp" "$work/deps.stamp"; then
            rm -rf "$work/deps" "$work/deps.stamp"
            mkdir -p "$work/deps"
            for deb in "$debs"/*.deb; do
                members=$(dpkg-deb --ctrl-tarfile "$deb" | tar -t)
                if grep -qE '^(\./)?(shlibs|symbols)$' <<<"$members"; then
                    dpkg-deb -R "$deb" "$work/deps/$(basename "$deb" .deb)"
                fi
            done
            cp "$stamp" "$work/deps.stamp"
        fi
        for dir in "$work"/deps/*/; do search+=("-S$dir"); done
    fi

    #  libzgm0: shlibs and a symbols file made from the library itself (soname 0: every
    #  release may break the ABI, so each symbol is versioned with the release that has it).
    mkdir -p "$stage"/{zgm,libzgm0,libzgm-dev}/DEBIAN "$stage/debian"
    cp "$here/control" "$stage/debian/control"   # dpkg-shlibdeps reads ./debian/control
    echo "libzgm ${version%%.*} libzgm0 (>= $version)" >"$stage/libzgm0/DEBIAN/shlibs"
    echo "activate-noawait ldconfig" >"$stage/libzgm0/DEBIAN/triggers"
    dpkg-architecture -a"$arch" -c dpkg-gensymbols -q -c0 -plibzgm0 -P"$stage/libzgm0" \
        -v"$version" -e"$stage/libzgm0/usr/lib/$triplet"/libzgm.so.*.* \
        -O"$stage/libzgm0/DEBIAN/symbols"
    #  Which -dev package a program builds against, for dpkg-shlibdeps' stricter checks.
    sed -i '1a * Build-Depends-Package: libzgm-dev' "$stage/libzgm0/DEBIAN/symbols"
    (cd "$stage" && dpkg-architecture -a"$arch" -c dpkg-shlibdeps -T"$stage/libzgm0.substvars" \
        "${search[@]}" "libzgm0/usr/lib/$triplet"/libzgm.so.*.*)
    (cd "$stage" && dpkg-architecture -a"$arch" -c dpkg-shlibdeps -T"$stage/zgm.substvars" \
        "${search[@]}" zgm/usr/bin/zgm)

    #  The Debian files.
    install -d "$stage/zgm/etc/zgm"
    install -m 0644 "$here/zgm.cfg" "$stage/zgm/etc/zgm/zgm.cfg"
    echo /etc/zgm/zgm.cfg >"$stage/zgm/DEBIAN/conffiles"
    for script in postinst prerm postrm; do
        install -m 0755 "$here/zgm.$script" "$stage/zgm/DEBIAN/$script"
    done
    for pkg in zgm libzgm0 libzgm-dev; do docs "$pkg"; finish "$pkg"; done

    if [ "$python_done" = "$arch" ]; then
        mkdir -p "$stage/python3-zgm/DEBIAN"
        echo "python3:Depends=python3:any" >"$stage/python3-zgm.substvars"
        docs python3-zgm
        finish python3-zgm
    fi
done
