#!/bin/sh
#  bench/run-compare.sh - `make bench-compare`: zgm side by side with Mosquitto, NATS and Redis
#
#  Usage: bench/run-compare.sh [BUILD_DIR] [--quick]
#
#  Installs what is missing from Debian (scripts/deps.sh build compare), builds, runs
#  zgm-bench and zgm-bench-peers with --json (each starts its own servers on free loopback
#  ports and stops them by PID, also on failure), then prints one table: every system's
#  figure on each row, zgm's ratio to the best peer, and the targets; then the secure
#  section: zgm with CURVE (system "zgm-curve") beside the peers with TLS ("-tls"). For the
#  TLS rows zgm-bench-peers makes a throwaway CA and server certificate with openssl in its
#  temporary directory and removes them with it. The JSON lines are kept in
#  BUILD_DIR/bench-compare/.
#
#  This Source Code Form is subject to the terms of the Mozilla Public
#  License, v. 2.0. If a copy of the MPL was not distributed with this
#  file, You can obtain one at http://mozilla.org/MPL/2.0/.
set -eu

build=build
quick=""
for arg in "$@"; do
    case "$arg" in
    --quick) quick="--quick" ;;
    -*) echo "usage: bench/run-compare.sh [BUILD_DIR] [--quick]" >&2; exit 2 ;;
    *) build="$arg" ;;
    esac
done
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
echo "== zgm-bench" >&2
"$build/bench/zgm-bench" --json $quick >"$out/zgm.jsonl" || status=1
echo "== zgm-bench-peers" >&2
"$build/bench/zgm-bench-peers" --json $quick >"$out/peers.jsonl" || status=1

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
"$build/bench/zgm-bench" --report "$out/zgm.jsonl" "$out/peers.jsonl"
echo
echo "JSON lines: $out/zgm.jsonl $out/peers.jsonl"
[ "$status" = 0 ] || echo "bench-compare: a benchmark reported a failure (see above)" >&2
exit "$status"
