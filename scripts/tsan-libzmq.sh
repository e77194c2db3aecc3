#!/bin/sh
#  Builds libzmq with ThreadSanitizer from Debian's own source package (the version of the
#  installed libzmq5, Debian's patches applied, CURVE through libsodium) and installs it under
#  DIR/prefix. Debian's libzmq is not instrumented: TSan cannot see its atomics and reports every
#  frame handed between threads as a race. A build already in DIR is reused.
#  Usage: scripts/tsan-libzmq.sh DIR      (needs `scripts/deps.sh tsan`; prints DIR/prefix/lib)
set -eu

dir=$1
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
jobs=${JOBS:-2}
flags="-fsanitize=thread -g"
lib="$dir/prefix/lib"

package=$(dpkg-query -W -f='${source:Package}=${source:Version}' libzmq5)
stamp="$package $flags"
if [ -f "$lib/libzmq.so.5" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "tsan-libzmq: reusing $package in $lib" >&2
    echo "$lib"
    exit 0
fi
rm -rf "$dir/apt" "$dir/src" "$dir/build" "$dir/prefix" "$dir/stamp"

apt="$dir/apt"
. "$(dirname "$0")/debian-src-apt.sh"
echo "tsan-libzmq: fetching $package from Debian's sources" >&2
aptget update -qq >&2
(cd "$apt" && aptget source --download-only "$package" >&2)
#  apt checked these files against the signed Release file; dpkg-source cannot check the .dsc's
#  own signature without debian-keyring and says so, hence its output only on failure.
dsc=$(ls "$apt"/*.dsc)
(cd "$apt" && dpkg-source -x "$dsc" "$dir/src") >"$dir/source.log" 2>&1 || {
    cat "$dir/source.log" >&2
    exit 1
}

echo "tsan-libzmq: building $package with $flags" >&2
cmake -G Ninja -S "$dir/src" -B "$dir/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread \
    -DWITH_LIBSODIUM=ON -DENABLE_CURVE=ON -DENABLE_DRAFTS=OFF \
    -DBUILD_TESTS=OFF -DWITH_DOCS=OFF -DBUILD_STATIC=OFF -DWITH_PERF_TOOL=OFF \
    -DCMAKE_INSTALL_PREFIX="$dir/prefix" -DCMAKE_INSTALL_LIBDIR=lib >"$dir/cmake.log" 2>&1 || {
    cat "$dir/cmake.log" >&2
    exit 1
}
cmake --build "$dir/build" -j "$jobs" >"$dir/build.log" 2>&1 || {
    tail -n 50 "$dir/build.log" >&2
    exit 1
}
cmake --install "$dir/build" >/dev/null

#  What the build must be: instrumented, and with CURVE. (scripts/check-tsan.sh checks that it
#  defines every libzmq function the programs and CZMQ call.)
nm -D "$lib/libzmq.so.5" | grep -q ' U __tsan_init' || {
    echo "tsan-libzmq: $lib/libzmq.so.5 is not instrumented" >&2
    exit 1
}
ldd "$lib/libzmq.so.5" | grep -q libsodium || {
    echo "tsan-libzmq: $lib/libzmq.so.5 has no libsodium (no CURVE)" >&2
    exit 1
}
rm -rf "$apt" "$dir/src" "$dir/build" "$dir"/*.orig.tar.* #  only the prefix is needed now
echo "$stamp" >"$dir/stamp"
echo "tsan-libzmq: installed $package in $lib" >&2
echo "$lib"
