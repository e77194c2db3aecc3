#!/bin/sh
#  bench/run-compare.sh - `make bench-compare`: zgm side by side with Mosquitto, NATS and Redis
#
#  Usage: bench/run-compare.sh [BUILD_DIR] [--quick] [--rounds N]
#
#  Installs what is missing from Debian (scripts/deps.sh build compare), builds, runs
#  zgm-bench and zgm-bench-peers with --json (each starts its own servers on free loopback
#  ports and stops them by PID, also on failure), then prints one table: every system's
#  figure on each row, zgm's ratio to the best peer, and the targets; then the secure
#  section: zgm with CURVE (system "zgm-curve") beside the peers with TLS ("-tls"). Round 1 is
#  that full run; rounds 2 to N (--rounds, 3 by default, 1 with --quick) run only the target
#  workloads again (the peers' TLS rows too), zgm and the peers one right after the other, the
#  peers first in even rounds, and the report adds each target's ratio round by round and
#  their median, then the same for zgm-curve against the peers with TLS: a load
#  that came and went during one program's run moves one round, not the verdict. For the
#  TLS rows zgm-bench-peers makes a throwaway CA and server certificate with openssl in its
#  temporary directory and removes them with it. The JSON lines are kept in
#  BUILD_DIR/bench-compare/.
#
#  This Source Code Form is subject to the terms of the Mozilla Public
#  License, v. 2.0. If a copy of the MPL was not distributed with this
#  file, You can obtain one at http://mozilla.org/MPL/2.0/.
set -eu

usage() {
    echo "usage: bench/run-compare.sh [BUILD_DIR] [--quick] [--rounds N]" >&2
    exit 2
}
build=build
quick=""
rounds=""
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick="--quick" ;;
    --rounds)
        [ $# -ge 2 ] || usage
        rounds="$2"
        shift
        ;;
    -*) usage ;;
    *) build="$1" ;;
    esac
    shift
done
[ -n "$rounds" ] || { [ -n "$quick" ] && rounds=1 || rounds=3; }
case "$rounds" in
'' | *[!0-9]* | 0) echo "bench/run-compare.sh: --rounds takes a number from 1" >&2; exit 2 ;;
esac
#  The workloads with a target, for rounds 2 to N (footprint's RSS moves little: round 1 only).
zgm_targets=durable1,durable8,fanout10,latency_full,latency_memory,fetch
peer_targets=durable,fanout,latency,fetch,tls
cd "$(dirname "$0")/.."

scripts/deps.sh build compare
[ -f "$build/build.ninja" ] || meson setup "$build" --buildtype=debugoptimized
#  zgm-bench-peers is configured only with the benchmarks on (make BENCH=false leaves them
#  out) and the clients' -dev packages there: reconfigure once if they came later.
if ! ninja -C "$build" -t targets all 2>/dev/null | grep -q '^bench/zgm-bench-peers:'; then
    meson setup --reconfigure -Dbench=true "$build" >/dev/null
fi
ninja -C "$build"

out="$build/bench-compare"
mkdir -p "$out"
status=0
rm -f "$out"/round-*.jsonl
echo "== round 1 of $rounds: zgm-bench" >&2
"$build/bench/zgm-bench" --json $quick >"$out/zgm.jsonl" || status=1
echo "== round 1 of $rounds: zgm-bench-peers" >&2
"$build/bench/zgm-bench-peers" --json $quick >"$out/peers.jsonl" || status=1
more_rounds=""
round=2
while [ "$round" -le "$rounds" ]; do
    zgm_file="$out/round-$round-zgm.jsonl"
    peers_file="$out/round-$round-peers.jsonl"
    run_zgm() {
        echo "== round $round of $rounds: zgm-bench --only $zgm_targets" >&2
        "$build/bench/zgm-bench" --json $quick --only "$zgm_targets" >"$zgm_file" || status=1
    }
    run_peers() {
        echo "== round $round of $rounds: zgm-bench-peers --only $peer_targets" >&2
        "$build/bench/zgm-bench-peers" --json $quick --only "$peer_targets" >"$peers_file" ||
            status=1
    }
    if [ $((round % 2)) = 0 ]; then
        run_peers
        run_zgm
    else
        run_zgm
        run_peers
    fi
    more_rounds="$more_rounds --round $zgm_file $peers_file"
    round=$((round + 1))
done

echo
echo "Machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
    "kernel $(uname -r), Debian $(cat /etc/debian_version)"
echo "Peers: $(mosquitto -h 2>&1 | head -n 1 || true); $(nats-server --version 2>&1 || true);" \
    "$(redis-server --version 2>&1 | cut -d' ' -f1-3 || true)"
echo "Clients: libmosquitto $(pkg-config --modversion libmosquitto), cnats" \
    "$(pkg-config --modversion libnats), hiredis $(pkg-config --modversion hiredis);" \
    "libzmq $(pkg-config --modversion libzmq), SQLite $(pkg-config --modversion sqlite3);" \
    "TLS: $(openssl version | cut -d' ' -f1-2) (Redis: OpenSSL around hiredis's reader, no stunnel)"
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
# shellcheck disable=SC2086 # more_rounds: words on purpose (the paths have no spaces)
"$build/bench/zgm-bench" --report "$out/zgm.jsonl" "$out/peers.jsonl" $more_rounds
echo
echo "JSON lines: $out/zgm.jsonl $out/peers.jsonl${more_rounds:+ and round-*.jsonl beside them}"
[ "$status" = 0 ] || echo "bench-compare: a benchmark reported a failure (see above)" >&2
exit "$status"
