#!/bin/sh
#  The test suite under ThreadSanitizer, against a libzmq built with TSan
#  (scripts/tsan-libzmq.sh): fails on a failed test or on any TSan report from any process the
#  tests start, and prints each report. With test names, only those are built and run.
#  Usage: scripts/check-tsan.sh BUILD-DIR [TEST...]     (JOBS: parallel compile and test jobs)
set -eu
cd "$(dirname "$0")/.."
build=$1
shift
jobs=${JOBS:-2}
started=$(date +%s)

lib=$(JOBS=$jobs scripts/tsan-libzmq.sh "$build/libzmq")
echo "check-tsan: libzmq ready in $(($(date +%s) - started)) s"

[ -f "$build/build.ninja" ] ||
    meson setup "$build" -Db_sanitize=thread -Db_lundef=false --buildtype=debug -Dbench=false
if [ $# -gt 0 ]; then
    #  Only what these tests need (test NAME is the program tests/NAME), and the programs tests
    #  start: the zgm program (test_processes, test_docs, test_interactive) and the roles
    #  (test_security).
    ninja -C "$build" -j "$jobs" $(printf 'tests/%s ' "$@") src/zgm tests/zgm_test_roles
else
    ninja -C "$build" -j "$jobs"
fi

#  The TSan libzmq must be the one every program the tests run loads, and define every libzmq
#  function they and CZMQ call (ldd -r resolves all symbols).
export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ $# -gt 0 ]; then
    for name in "$@"; do echo "$build/tests/$name"; done
    echo "$build/src/zgm"
    echo "$build/tests/zgm_test_roles"
else
    find "$build/tests" "$build/src" "$build/examples" -maxdepth 1 -type f -perm -u+x \
        ! -name '*.so*'
fi >"$build/programs"
while IFS= read -r program; do
    loaded=$(ldd -r "$program" 2>&1) || {
        printf '%s\n' "$loaded" >&2
        exit 1
    }
    case "$loaded" in
    *"undefined symbol"*)
        printf '%s\n' "$loaded" | grep 'undefined symbol' >&2
        echo "check-tsan: $program needs symbols that $lib/libzmq.so.5 lacks" >&2
        exit 1 ;;
    esac
    zmq=$(printf '%s\n' "$loaded" | awk '$1 == "libzmq.so.5" { print $3 }')
    #  A program that does not load libzmq at all (test_log) has nothing to check.
    if [ -n "$zmq" ] && [ "$zmq" != "$lib/libzmq.so.5" ]; then
        echo "check-tsan: $program would load libzmq from '$zmq', not $lib" >&2
        exit 1
    fi
done <"$build/programs"
echo "check-tsan: $(wc -l <"$build/programs") programs load $lib/libzmq.so.5"

#  Each process writes its reports to its own file, so a report from a program a test started
#  (the zgm program, a child process) is seen even when that test ignores its exit status.
reports="$build/tsan-reports"
rm -rf "$reports"
mkdir -p "$reports"
TSAN_OPTIONS="log_path=$(pwd)/$reports/tsan second_deadlock_stack=1 history_size=4\
${TSAN_OPTIONS:+ $TSAN_OPTIONS}"
export TSAN_OPTIONS
#  Programs run several times slower under TSan: the tests' time limits scale as under qemu.
export ZGM_TEST_SLOWDOWN="${ZGM_TEST_SLOWDOWN:-4}"
#  A program run in shards is the tests NAME-1, NAME-2, ... (ZGM_TEST_SHARD), one run in parts
#  NAME-alone and NAME-beside (ZGM_TEST_PART; tests/meson.build).
if [ $# -gt 0 ]; then
    listed=$(meson test -C "$build" --no-rebuild --list 2>/dev/null | sed 's|.* / ||')
    tests=""
    for name in "$@"; do
        found=$(printf '%s\n' "$listed" | grep -E "^$name(-([0-9]+|alone|beside))?\$") || {
            echo "check-tsan: no test is named $name (meson test -C $build --list)" >&2
            exit 1
        }
        tests="$tests $found"
    done
    set -- $tests
fi
tests_started=$(date +%s)
status=0
meson test -C "$build" --no-rebuild --print-errorlogs --num-processes "$jobs" "$@" ||
    status=$?
echo "check-tsan: tests ran in $(($(date +%s) - tests_started)) s"

count=0
for file in "$reports"/tsan.*; do
    [ -f "$file" ] || continue
    count=$((count + 1))
    echo "check-tsan: ---- $file" >&2
    cat "$file" >&2
done
if [ "$count" -gt 0 ]; then
    echo "check-tsan: $count processes reported (above; files in $reports)" >&2
    exit 1
fi
if [ "$status" -ne 0 ]; then
    echo "check-tsan: tests failed (meson test exit $status), no TSan reports" >&2
    exit "$status"
fi
echo "check-tsan: all tests passed, no TSan reports ($(($(date +%s) - started)) s)"
