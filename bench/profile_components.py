#!/usr/bin/env python3
#  bench/profile_components.py - instructions per message, per thread and per component,
#  from callgrind's per-thread files of one zgm-bench workload
#
#  Usage:
#    valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes \
#        --callgrind-out-file=OUT/cg.%p build/bench/zgm-bench --inproc --only SET \
#        --security curve --scale 0.05 --time-scale 20
#    bench/profile_components.py --per N OUT/cg.PID-*
#
#  zgm-bench turns instrumentation on for each measured window only, so these counts leave
#  out setup, joins and teardown. N is what to divide by (the messages stored, or the
#  deliveries), as zgm-bench printed. Each thread is named by what it runs (the user
#  actor, the group server, a libzmq I/O thread, the caller), and its instructions are
#  split by where the code is: zgm's sources by directory (src/user, src/api.cc,
#  src/server, src/store, src/proto, src/core), then libzmq, libsodium (CURVE), SQLite,
#  CZMQ, libc, libstdc++. Exclusive counts: each instruction counts once, where it ran.
#
#  This Source Code Form is subject to the terms of the Mozilla Public
#  License, v. 2.0. If a copy of the MPL was not distributed with this
#  file, You can obtain one at http://mozilla.org/MPL/2.0/.
import argparse
import collections
import re
import sys

NAME = re.compile(r"^\((\d+)\)(?: (.*))?$")


def parse(path):
    """Exclusive Ir per (object, file, function) of one callgrind file."""
    names = {}  # (kind, id) -> name
    costs = collections.Counter()
    ob = fl = fn = ""
    skip_next = False

    def name(kind, text):
        match = NAME.match(text)
        if not match:
            return text
        key = (kind, match.group(1))
        if match.group(2) is not None:
            names[key] = match.group(2)
        return names.get(key, text)

    with open(path, errors="replace") as lines:
        for line in lines:
            line = line.rstrip("\n")
            if not line:
                continue
            head = line[0]
            if head.isdigit() or head in "+-*":
                if skip_next:
                    skip_next = False
                    continue
                parts = line.split()
                if len(parts) >= 2:
                    costs[(ob, fl, fn)] += int(parts[1])
                continue
            key, _, value = line.partition("=")
            if key == "ob":
                ob = name("ob", value)
            elif key == "fl":
                fl = name("fl", value)
            elif key in ("fi", "fe"):
                name("fl", value)  # defines the id; the function's file stays fl
            elif key == "fn":
                fn = name("fn", value)
            elif key in ("cob",):
                name("ob", value)
            elif key in ("cfi", "cfl"):
                name("fl", value)
            elif key == "cfn":
                name("fn", value)
            elif key == "calls":
                skip_next = True  # the next cost line is the call's inclusive cost
    return costs


def component(ob, fl):
    for marker, label in (
        ("libzmq", "libzmq"),
        ("libsodium", "libsodium (CURVE)"),
        ("libsqlite3", "SQLite"),
        ("libczmq", "CZMQ"),
        ("libstdc++", "libstdc++"),
        ("libc.so", "libc"),
        ("ld-linux", "ld.so"),
    ):
        if marker in ob:
            return label
    for marker, label in (
        ("src/user/", "zgm src/user (user actor)"),
        ("src/api.cc", "zgm src/api.cc (C API)"),
        ("src/server/", "zgm src/server (group server)"),
        ("src/store/", "zgm src/store"),
        ("src/proto/", "zgm src/proto (codec)"),
        ("src/core/", "zgm src/core"),
        ("src/registry/", "zgm src/registry"),
        ("bench/", "benchmark"),
    ):
        if marker in fl:
            return label
    if "/c++/" in fl or "bits/" in fl:
        return "inlined C++ library (in zgm code)"
    return "other (" + (ob.rsplit("/", 1)[-1] or "?") + ")"


def thread_kind(costs):
    """What a thread runs, from the functions it ran (libzmq's own are unnamed in Debian's
    stripped build: a thread with neither zgm's code nor the benchmark's is libzmq's)."""
    functions = " ".join(fn for (_, _, fn) in costs)
    files = " ".join(fl for (_, fl, _) in costs)
    if "UserActor::" in functions or "zgm::user_actor" in functions:
        return "user actor"
    if "GroupServer::" in functions:
        return "group server"
    if "Registry::" in functions:
        return "registry"
    if "bench/" in files or "zgm_user_" in functions:
        return "caller (zgm_user_* calls)"
    if "zap" in files:
        return "ZAP handler"
    return "libzmq I/O thread"


def main():
    parser = argparse.ArgumentParser(
        description="instructions per message, per thread and component, from callgrind")
    parser.add_argument("--per", type=float, default=1.0,
                        help="divide by this (messages or deliveries)")
    parser.add_argument("--top", type=int, default=0,
                        help="also list the N costliest functions of each thread kind")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()

    by_kind = collections.defaultdict(collections.Counter)
    functions = collections.defaultdict(collections.Counter)
    threads = collections.Counter()
    for path in args.files:
        costs = parse(path)
        total = sum(costs.values())
        if total == 0:
            continue
        kind = thread_kind(costs)
        threads[kind] += 1
        for (ob, fl, fn), ir in costs.items():
            by_kind[kind][component(ob, fl)] += ir
            functions[kind][fn] += ir

    grand = sum(sum(c.values()) for c in by_kind.values())
    print("instructions per unit (/%g), by thread and by where the code is" % args.per)
    print()
    print("| thread (count) | component | instructions | share |")
    print("|---|---|--:|--:|")
    order = ["caller (zgm_user_* calls)", "user actor", "libzmq I/O thread", "group server",
             "registry", "ZAP handler"]
    for kind in sorted(by_kind, key=lambda k: order.index(k) if k in order else 99):
        counter = by_kind[kind]
        total = sum(counter.values())
        print("| **%s** (%d) | **all** | **%.0f** | **%.0f %%** |"
              % (kind, threads[kind], total / args.per, 100.0 * total / grand))
        for label, ir in counter.most_common():
            if ir / args.per < 1:
                continue
            print("| | %s | %.0f | %.0f %% |" % (label, ir / args.per, 100.0 * ir / total))
    print("| **all threads** | | **%.0f** | |" % (grand / args.per))
    if args.top:
        for kind in by_kind:
            print()
            print("%s: costliest functions (exclusive, per unit)" % kind)
            for fn, ir in functions[kind].most_common(args.top):
                print("  %10.0f  %s" % (ir / args.per, fn[:150]))


if __name__ == "__main__":
    sys.exit(main())
