#!/bin/sh
#  bench/minimal-libs.sh - libzmq and CZMQ as a small board's distribution would build them,
#  to measure what Debian's builds add to a zgm process (BENCHMARKS.md, idle RSS)
#
#  Usage: bench/minimal-libs.sh DIR      (prints DIR/prefix/lib)
#
#  Fetches the source packages of the installed libzmq5 and libczmq4 from Debian's archive
#  (deb-src lines made from the system's apt sources, in DIR/apt, not the system's lists),
#  and builds them with Debian's build flags (dpkg-buildflags) into DIR/prefix: libzmq with
#  CURVE (libsodium) but without GSSAPI, PGM and NORM; CZMQ without systemd, lz4, curl,
#  microhttpd and NSS. For measurement only, never installed: run a zgm process with
#  LD_LIBRARY_PATH=DIR/prefix/lib (bench/idle_rss.py --env LD_LIBRARY_PATH=...). Needs cmake,
#  ninja, dpkg-dev and the -dev packages of libsodium and libuuid.
#
#  This Source Code Form is subject to the terms of the Mozilla Public
#  License, v. 2.0. If a copy of the MPL was not distributed with this
#  file, You can obtain one at http://mozilla.org/MPL/2.0/.
set -eu
[ $# -eq 1 ] || { echo "usage: bench/minimal-libs.sh DIR" >&2; exit 2; }
mkdir -p "$1"
dir=$(cd "$1" && pwd)
prefix="$dir/prefix"
jobs=${JOBS:-2}

apt="$dir/apt"
. "$(dirname "$0")/../scripts/debian-src-apt.sh"
aptget update -qq >&2
for binary in libzmq5 libczmq4; do
    package=$(dpkg-query -W -f='${source:Package}=${source:Version}' "$binary")
    name=${package%%=*}
    if [ ! -d "$dir/src-$name" ]; then
        (cd "$apt" && aptget source --download-only "$package" >&2)
        (cd "$apt" && dpkg-source -x "$(ls ./"$name"_*.dsc)" "$dir/src-$name" >&2)
    fi
done

CFLAGS="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
CXXFLAGS="$(dpkg-buildflags --get CXXFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
LDFLAGS="$(dpkg-buildflags --get LDFLAGS)"
export LDFLAGS
cmake -G Ninja -S "$dir/src-zeromq3" -B "$dir/build-zmq" -DCMAKE_BUILD_TYPE=None \
    -DCMAKE_C_FLAGS="$CFLAGS" -DCMAKE_CXX_FLAGS="$CXXFLAGS" \
    -DWITH_LIBSODIUM=ON -DENABLE_CURVE=ON -DENABLE_DRAFTS=OFF -DWITH_OPENPGM=OFF \
    -DWITH_NORM=OFF -DBUILD_TESTS=OFF -DWITH_DOCS=OFF -DBUILD_STATIC=OFF \
    -DWITH_PERF_TOOL=OFF -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib \
    >"$dir/cmake-zmq.log" 2>&1 || { cat "$dir/cmake-zmq.log" >&2; exit 1; }
ninja -C "$dir/build-zmq" -j "$jobs" install >"$dir/build-zmq.log" 2>&1 ||
    { tail -n 50 "$dir/build-zmq.log" >&2; exit 1; }
cmake -G Ninja -S "$dir/src-czmq" -B "$dir/build-czmq" -DCMAKE_BUILD_TYPE=None \
    -DCMAKE_C_FLAGS="$CFLAGS" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCZMQ_WITH_SYSTEMD=OFF -DCZMQ_WITH_LZ4=OFF -DCZMQ_WITH_LIBCURL=OFF \
    -DCZMQ_WITH_LIBMICROHTTPD=OFF -DCZMQ_WITH_NSS=OFF -DCZMQ_BUILD_STATIC=OFF \
    -DENABLE_DRAFTS=OFF -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib \
    >"$dir/cmake-czmq.log" 2>&1 || { cat "$dir/cmake-czmq.log" >&2; exit 1; }
ninja -C "$dir/build-czmq" -j "$jobs" czmq >"$dir/build-czmq.log" 2>&1 ||
    { tail -n 50 "$dir/build-czmq.log" >&2; exit 1; }
cp -a "$dir"/build-czmq/libczmq.so* "$prefix/lib/"
echo "$prefix/lib"
