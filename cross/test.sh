#!/bin/bash
#  Runs the tests of cross builds under qemu-user, every build at the same time (make
#  test-cross): much of an architecture's run is one test alone (test_security-alone is not
#  parallel), so two architectures side by side take little more than one.
#
#  Usage: cross/test.sh BUILD_DIR...
#
#  Each build's `meson test` (all but suite native; docs/cross.md) writes BUILD_DIR/cross-test.log,
#  printed whole when it ends. Fails when any failed. Environment: JOBS (meson's processes per
#  build, default 2: CI measured 383 s for make test-cross with one each, about 310 with two),
#  CROSS_TIMEOUT_MULT (meson's --timeout-multiplier, default 1).
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: cross/test.sh BUILD_DIR..." >&2; exit 2; }
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for dir in "$@"; do
    CI=true meson test -C "$dir" --no-rebuild --no-suite native --print-errorlogs \
        --num-processes "${JOBS:-2}" --timeout-multiplier "${CROSS_TIMEOUT_MULT:-1}" \
        </dev/null >"$dir/cross-test.log" 2>&1 &
    pids+=($!)
done
failed=()
for i in "${!pids[@]}"; do
    status=0
    wait "${pids[$i]}" || status=$?
    echo "=== cross/test.sh: ${*:i+1:1} (exit status $status)"
    cat "${*:i+1:1}/cross-test.log"
    [ $status = 0 ] || failed+=("${*:i+1:1}")
done
pids=()
echo "cross/test.sh: the tests took $SECONDS s"
[ ${#failed[@]} = 0 ] || { echo "cross/test.sh: failed: ${failed[*]}" >&2; exit 1; }
