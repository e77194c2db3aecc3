#!/usr/bin/env python3
#  bench/idle_rss.py - where an idle group server's resident memory goes, per mapping
#
#  Usage: bench/idle_rss.py [--build DIR] [--zgm PATH] [--curve] [--runs N] [--mosquitto]
#                           [--smaps FILE] [--env NAME=VALUE]... [--wrap COMMAND] [--then COMMAND]
#
#  Starts `zgm registry` and `zgm server --durability normal` hosting 10 groups as zgm-bench's
#  footprint workload does, joins 1,000 users (4 threads, each user destroyed once it joined)
#  through the Python module, waits 1 s, and prints the server's VmRSS and its smaps per
#  mapping: each shared object's resident KiB (private / shared, clean / dirty), and the
#  anonymous memory split into the heap, thread stacks, malloc arenas and the rest.
#  --mosquitto: the same for mosquitto started as zgm-bench-peers starts it (1 s after start,
#  no client). --env sets the server's environment (GLIBC_TUNABLES=..., LD_LIBRARY_PATH=...
#  to try other builds of its libraries), --wrap runs it under a tool (heaptrack -o FILE),
#  --then runs a command on it ({pid}) and reports again. Every process is stopped by its PID
#  and the temporary directory removed, on success and on failure.
#
#  This Source Code Form is subject to the terms of the Mozilla Public
#  License, v. 2.0. If a copy of the MPL was not distributed with this
#  file, You can obtain one at http://mozilla.org/MPL/2.0/.
import argparse
import ctypes
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def die_with_parent():
    """In the child: SIGTERM when this script dies, even by a signal that skips its cleanup
    (prctl PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_text(path, text, seconds, proc):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open(path, errors="replace") as f:
                if text in f.read():
                    return True
        except FileNotFoundError:
            pass
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False


def stop(proc):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def smaps(pid):
    """[(name, kind, {field: kB})] per mapping of /proc/PID/smaps."""
    maps = []
    head = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$")
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            m = head.match(line)
            if m:
                start, end = int(m.group(1), 16), int(m.group(2), 16)
                maps.append({"name": m.group(4), "perms": m.group(3),
                             "size": (end - start) // 1024, "f": {}})
                continue
            key, _, value = line.partition(":")
            value = value.strip()
            if value.endswith(" kB"):
                maps[-1]["f"][key] = int(value[:-3])
    return maps


def classify(maps, threads_stack_kib=8192):
    """Groups the mappings: each shared object by its file name; anonymous ones as [heap],
    [stack], thread stack (an anonymous rw mapping of the default stack size following a
    guard page), malloc arena (rw inside a 64 MiB reservation), other anon."""
    groups = {}
    for i, m in enumerate(maps):
        name = m["name"]
        if name.startswith("/"):
            key = os.path.basename(name)
        elif name:
            key = name
        else:
            prev = maps[i - 1] if i else None
            nxt = maps[i + 1] if i + 1 < len(maps) else None
            if m["size"] in (threads_stack_kib, threads_stack_kib - 4) and "rw" in m["perms"]:
                key = "[anon: thread stack]"
            elif "rw" in m["perms"] and (nxt and not nxt["name"] and nxt["perms"] == "---p"
                                         and m["size"] + nxt["size"] in (65536, 65536 - 4,
                                                                         131072)):
                key = "[anon: malloc arena]"
            elif "rw" in m["perms"] and m["size"] == 65536:
                key = "[anon: malloc arena]"
            else:
                key = "[anon: other]"
        g = groups.setdefault(key, {"Rss": 0, "Private_Clean": 0, "Private_Dirty": 0,
                                    "Shared_Clean": 0, "Shared_Dirty": 0, "Anonymous": 0,
                                    "Pss": 0, "n": 0})
        for k in g:
            if k != "n":
                g[k] += m["f"].get(k, 0)
        g["n"] += 1
    return groups


def status(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def report(label, pid, out, smaps_file=None):
    maps = smaps(pid)
    if smaps_file:
        with open("/proc/%d/smaps" % pid) as src, open(smaps_file, "w") as dst:
            dst.write(src.read())
    groups = classify(maps)
    rss = status(pid, "VmRSS")
    print("%s: VmRSS %d KiB, RssAnon %d, RssFile %d, threads %d" %
          (label, rss, status(pid, "RssAnon"), status(pid, "RssFile"), status(pid, "Threads")),
          file=out)
    print("  %-34s %6s %6s %6s %6s %6s %6s" % ("mapping", "Rss", "PrivCl", "PrivDi", "ShCl",
                                                "ShDi", "Pss"), file=out)
    for key, g in sorted(groups.items(), key=lambda kv: -kv[1]["Rss"]):
        if g["Rss"] == 0:
            continue
        print("  %-34s %6d %6d %6d %6d %6d %6d" % (key[:34], g["Rss"], g["Private_Clean"],
                                                   g["Private_Dirty"], g["Shared_Clean"],
                                                   g["Shared_Dirty"], g["Pss"]), file=out)
    return rss


def run_zgm(args, base, out):
    sys.path.insert(0, os.path.join(HERE, "..", "python"))
    os.environ.setdefault("ZGM_LIBRARY", os.path.join(args.build, "src", "libzgm.so.0"))
    import zgm  # noqa: E402

    program = args.zgm or os.path.join(args.build, "src", "zgm")
    reg_cert = os.path.join(base, "registry_key.cert")
    srv_cert = os.path.join(base, "server_key.cert")
    reg_key = zgm.keygen(reg_cert, "idle_rss registry")
    srv_key = zgm.keygen(srv_cert, "idle_rss server")
    insecure = not args.curve
    procs = []
    try:
        reg_port = free_port()
        reg_ep = "tcp://127.0.0.1:%d" % reg_port
        log = os.path.join(base, "registry.log")
        cmd = [program, "registry", "--bind", reg_ep, "--key", reg_cert, "--trust", srv_key,
               "--max-rate", "0", "--quiet"] + (["--insecure"] if insecure else [])
        reg = subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                               preexec_fn=die_with_parent)
        procs.append(reg)
        if not wait_for_text(log, "listening on", 10, reg):
            raise SystemExit("registry did not start:\n" + open(log).read())
        groups = ["idle%d" % i for i in range(10)]
        data = os.path.join(base, "data")
        os.mkdir(data)
        bind = "tcp://127.0.0.1:%d" % free_port()
        cmd = args.wrap.split() + [program, "server", "--registry", reg_ep, "--key", srv_cert,
                                   "--bind", bind, "--max-rate", "0", "--quiet"]
        cmd += ["--insecure"] if insecure else ["--registry-key", reg_key]
        for g in groups:
            cmd += ["--group", g]
        cmd += ["--durability", "normal", "--data", data]
        log = os.path.join(base, "server.log")
        env = dict(os.environ)
        env.update(e.split("=", 1) for e in args.env)
        server = subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env,
                                  preexec_fn=die_with_parent)
        procs.append(server)
        if not wait_for_text(log, "zgm server: serving", 15, server):
            raise SystemExit("server did not start:\n" + open(log).read())
        counter = iter(range(1000))
        lock = threading.Lock()
        errors = []

        def join(i):
            with zgm.User("user%d" % i, registry=reg_ep, registry_key=None if insecure else reg_key,
                          insecure=insecure, timeout=10) as user:
                user.join(groups[i // 100])

        def worker():
            while True:
                with lock:
                    i = next(counter, None)
                if i is None or errors:
                    return
                try:
                    join(i)
                except Exception as e:  # noqa: BLE001
                    errors.append(e)

        #  The first user alone: CZMQ's zsys_init is not safe to race from several threads.
        join(next(counter))
        workers = [threading.Thread(target=worker) for _ in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        if errors:
            raise SystemExit("join failed: %s" % errors[0])
        time.sleep(1)
        rss = report("zgm%s" % ("-curve" if args.curve else ""), server.pid, out, args.smaps)
        if args.then:
            subprocess.run(args.then.replace("{pid}", str(server.pid)), shell=True)
            report("after: %s" % args.then, server.pid, out)
        return rss
    finally:
        for p in reversed(procs):
            stop(p)


def run_mosquitto(args, base, out):
    port = free_port()
    config = os.path.join(base, "mosquitto.conf")
    with open(config, "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                "set_tcp_nodelay true\nlog_dest stderr\nlog_type error\nlog_type warning\n"
                "user %s\n" % (port, pwd.getpwuid(os.geteuid()).pw_name))
    proc = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", config],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=die_with_parent)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.02)
        time.sleep(1)
        return report("mosquitto", proc.pid, out, args.smaps)
    finally:
        stop(proc)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    parser.add_argument("--zgm", help="the zgm program (default BUILD/src/zgm)")
    parser.add_argument("--curve", action="store_true", help="CURVE (default PLAIN)")
    parser.add_argument("--mosquitto", action="store_true")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--env", action="append", default=[],
                        help="NAME=VALUE in the server's environment")
    parser.add_argument("--wrap", default="", help="a command the server runs under "
                        "(e.g. heaptrack -o FILE); the reports are then of that command")
    parser.add_argument("--then", help="a shell command run after the report ({pid}: the "
                        "server's), then a second report")
    parser.add_argument("--smaps", help="keep the last run's raw smaps in this file")
    args = parser.parse_args()
    args.build = os.path.abspath(args.build)
    figures = []
    for _ in range(args.runs):
        base = tempfile.mkdtemp(prefix="idle-rss-")
        try:
            run = run_mosquitto if args.mosquitto else run_zgm
            figures.append(run(args, base, sys.stdout))
        finally:
            shutil.rmtree(base, ignore_errors=True)
    print("VmRSS KiB, %d runs: %s" % (len(figures), " ".join(str(f) for f in figures)))


if __name__ == "__main__":
    main()
