#!/usr/bin/env python3
#  soak.py - zgm under faults for a while: group servers and the registry killed (SIGKILL)
#  under an application that sends asynchronously and retries with message ids, a power
#  cut, a disk that fills, the descriptor limit, connections that join and vanish,
#  malformed frames, slow readers, and all along 1,000 users in 100 groups on one group
#  server. One table and a JSON file at the end; TAP on stdout (one line per scenario).
#
#      soak.py --zgm PROGRAM --faultapp PATH [--powercut-fs PATH] [--netdelay PATH]
#              [--short | --minutes N] [--out DIR] [--plot PNG] [--seed N]
#
#  --short is the run inside `make test` (under two minutes, fewer of everything);
#  `make soak` runs SOAK_MINUTES (30). Scenarios that need root (power cut, disk full)
#  say so and are skipped without it.
#
#  This Source Code Form is subject to the terms of the Mozilla Public
#  License, v. 2.0. If a copy of the MPL was not distributed with this
#  file, You can obtain one at http://mozilla.org/MPL/2.0/.

import argparse
import errno
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Failure, Harness, ListenerLog, SenderLog, delivery_report, free_port,  # noqa
                     is_root, mono_ms, percentile, wait_until)


#  How much of everything, per kind of run.
SHORT = dict(server_kills=6, registry_kills=2, power_cuts=1, disk_fulls=1, users=100,
             groups=10, load_processes=2, load_rate=40, conns=200, malformed=30000,
             flood_seconds=4, stopped_seconds=5, crash_rate=80, kill_gap=(0.3, 1.0),
             full_seconds=2, fd_users=48)
LONG = dict(server_kills=100, registry_kills=20, power_cuts=5, disk_fulls=3, users=1000,
            groups=100, load_processes=4, load_rate=100, conns=10000, malformed=1000000,
            flood_seconds=20, stopped_seconds=20, crash_rate=150, kill_gap=None,
            full_seconds=10, fd_users=200)


class System:
    """The registry and the group servers, on loopback, each with its own key; the
    registry trusts a directory the servers' public certificates are copied into."""

    def __init__(self, harness, work, limits=()):
        self.h, self.work, self.limits = harness, work, list(limits)
        self.trust = os.path.join(work, "trusted")
        os.makedirs(self.trust, exist_ok=True)
        self.registry_cert = os.path.join(work, "registry.cert")
        self.keygen(self.registry_cert)
        self.registry_port = free_port()
        self.registry_ep = "tcp://127.0.0.1:%d" % self.registry_port
        self.registry = None
        self.servers = {}

    def keygen(self, path):
        if self.h.run_role("keygen-" + os.path.basename(path), "keygen", [path]) != 0:
            raise Failure("zgm keygen %s failed" % path)

    def common(self):
        return ["--registry", self.registry_ep, "--registry-key", self.registry_cert]

    def start_registry(self):
        log = os.path.join(self.h.out, "registry.log")
        offset = os.path.getsize(log) if os.path.exists(log) else 0
        proc = self.h.start_role("registry", "registry",
                                 ["--bind", self.registry_ep, "--key", self.registry_cert,
                                  "--trust", self.trust] + self.limits)
        if not self.h.wait_for_text(proc.log, "listening on", 20, offset, proc):
            raise Failure("the registry did not start (see %s)" % proc.log)
        self.registry = proc
        return proc

    def add_server(self, name, groups, data=None, extra=(), nofile=None):
        cert = os.path.join(self.work, name + ".cert")
        self.keygen(cert)
        shutil.copy(cert, self.trust)
        spec = dict(name=name, groups=groups, cert=cert, port=free_port(), data=data,
                    extra=list(extra), nofile=nofile, proc=None)
        spec["endpoint"] = "tcp://127.0.0.1:%d" % spec["port"]
        self.servers[name] = spec
        return spec

    def start_server(self, spec, wait=True):
        args = self.common() + ["--key", spec["cert"], "--bind", spec["endpoint"],
                                "--heartbeat", "500"] + spec["extra"]
        args += ["--data", spec["data"]] if spec["data"] else ["--memory"]
        for group in spec["groups"]:
            args += ["--group", group]
        log = os.path.join(self.h.out, "server-%s.log" % spec["name"])
        offset = os.path.getsize(log) if os.path.exists(log) else 0
        proc = self.h.start_role("server-" + spec["name"], "server", args, nofile=spec["nofile"])
        spec["proc"] = proc
        if wait and not self.h.wait_for_text(proc.log, "zgm server: serving", 30, offset, proc):
            raise Failure("group server %s did not start (see %s)" % (spec["name"], proc.log))
        return proc


class Soak:
    def __init__(self, args):
        self.args = args
        self.plan = dict(SHORT if args.short else LONG)
        self.minutes = args.minutes
        self.out = os.path.abspath(args.out)
        if os.path.isdir(self.out):
            shutil.rmtree(self.out)
        self.h = Harness(self.out, args.zgm, args.faultapp, args.powercut_fs, args.netdelay,
                         verbose=args.verbose)
        self.work = os.path.join(self.out, "work")
        os.makedirs(self.work)
        self.random = random.Random(args.seed)
        self.results = {}
        self.rows = []  # (scenario, what, figure, passed)
        self.rss = []  # (t_s, steady server RSS MiB, registry RSS MiB)
        self.started = mono_ms()
        self.sampling = True
        self.durations = {}  # event -> ms each time it ran

    #  --- reporting ------------------------------------------------------------------

    def row(self, scenario, what, figure, passed=True):
        self.rows.append((scenario, what, str(figure), passed))

    def verdict(self, scenario, passed, summary):
        self.h.ok(passed, "%s: %s" % (scenario, summary))

    def ids(self, name):
        return os.path.join(self.work, name + ".id")

    def app(self, name, role, args):
        return self.h.start_app(name, role, self.sys.common() + args)

    #  --- the system all along ---------------------------------------------------------

    def start(self):
        h, plan = self.h, self.plan
        #  1,000 users hold a connection each to the registry and to the steady server,
        #  beside the crash application, probes and floods: more than the default limit of
        #  1,000 connections (which refuses the rest, as it should).
        limits = ["--max-connections", "4000"] if self.plan["users"] > 500 else []
        self.sys = System(h, self.work, limits)
        self.sys.start_registry()
        groups = ["steady%d" % i for i in range(plan["groups"])]
        self.steady = self.sys.add_server("steady", groups + ["flood"],
                                          data=os.path.join(self.work, "steady"),
                                          extra=["--max-rate", "100000"] + self.sys.limits)
        self.crash = self.sys.add_server("crash", ["crash0", "crash1"],
                                         data=os.path.join(self.work, "crash"))
        for spec in (self.steady, self.crash):
            self.sys.start_server(spec)
        #  The crash scenario's application and listeners, from the start to the end.
        self.crash_sender = self.app("crash-sender", "send",
                                     ["--identity", self.ids("crash-sender"), "--name", "app",
                                      "--rate", str(plan["crash_rate"]), "--window", "64",
                                      "--timeout", "8000", "crash0", "crash1"])
        self.crash_listeners = [
            self.app("crash-listener%d" % i, "listen",
                     ["--identity", self.ids("crash-listener%d" % i), "crash0", "crash1"])
            for i in (1, 2)]
        #  The steady load: users in processes of users / load_processes each.
        per = plan["users"] // plan["load_processes"]
        self.loads = []
        for i in range(plan["load_processes"]):
            self.loads.append(self.app("load%d" % i, "load",
                                       ["--users", str(per), "--groups", str(plan["groups"]),
                                        "--rate", str(plan["load_rate"] // plan["load_processes"]),
                                        "--interval-ms", "5000" if not self.args.short else "2000",
                                        "--group-prefix", "steady"]))
        #  All joined, and the crash application acknowledged once.
        joined = wait_until(lambda: all(self.joined(p) for p in self.loads), 300)
        if joined is None:
            raise Failure("the load users did not all join (see load*.log)")
        self.step("started")
        self.note("steady load: %d users in %d groups joined in %.1f s" %
                  (plan["users"], plan["groups"], joined / 1000))
        self.sender_log = SenderLog(self.crash_sender.events)
        self.listener_logs = [ListenerLog(p.events) for p in self.crash_listeners]
        if wait_until(lambda: self.sender_log.poll().acked, 60) is None:
            raise Failure("the crash application got no acknowledgement (see crash-sender.log)")
        self.sampler = threading.Thread(target=self.sample, daemon=True)
        self.sampler.start()

    def joined(self, proc):
        try:
            with open(proc.events) as log:
                return log.read().startswith("J ")
        except OSError:
            return False

    def note(self, text):
        self.h.note(text)

    def step(self, text):
        if self.args.verbose:
            self.h.note("%7.1f s  %s" % ((mono_ms() - self.started) / 1000, text))

    def sample(self):
        while self.sampling:
            t = (mono_ms() - self.started) / 1000
            steady = self.steady["proc"]
            registry = self.sys.registry
            self.rss.append((t, steady.rss_kib() / 1024 if steady else 0,
                             registry.rss_kib() / 1024 if registry else 0,
                             steady.log_size() if steady else 0))
            time.sleep(1 if self.args.short else 5)

    #  --- SIGKILL cycles --------------------------------------------------------------

    def kill_server(self):
        spec = self.crash
        acked_before = set(self.sender_log.poll().acked)
        t_kill = mono_ms()
        self.h.kill(spec["proc"])
        self.sys.start_server(spec, wait=False)
        first_ack = wait_until(lambda: self.sender_log.poll().acks_after(t_kill), 60, 0.02)
        if first_ack is None:
            return None, None
        first_ack = min(self.sender_log.acks_after(t_kill)) - t_kill
        caught = self.caught_up(acked_before, t_kill, 60)
        return first_ack, caught

    def caught_up(self, keys, t_from, timeout):
        """ms from t_from until every listener has every message in keys."""
        missing = [set(keys) for _ in self.listener_logs]

        def done():
            for listener, left in zip(self.listener_logs, missing):
                listener.poll()
                for key in list(left):
                    if listener.has(*key):
                        left.discard(key)
            return not any(missing)

        if wait_until(done, timeout, 0.05) is None:
            return None
        return mono_ms() - t_from

    def kill_registry(self):
        """ms from the kill until a new user resolves a group, and until the registry
        lists every group again (it says its list is complete once its expiry interval has
        passed since it started)."""
        t_kill = mono_ms()
        self.h.kill(self.sys.registry)
        self.sys.start_registry()
        deadline = "30000"
        status, _ = self.h.run_app("probe-resolve", "probe",
                                   self.sys.common() + ["--deadline-ms", deadline, "crash0"],
                                   timeout=60)
        resolved = mono_ms() - t_kill if status == 0 else None
        total = self.plan["groups"] + 3  # steady*, flood, crash0, crash1
        status, _ = self.h.run_app("probe-registry", "probe",
                                   self.sys.common() + ["--groups", str(total),
                                                        "--deadline-ms", deadline], timeout=60)
        listed = mono_ms() - t_kill if status == 0 else None
        return resolved, listed

    #  --- power cut -------------------------------------------------------------------

    def power_cut(self, index):
        h = self.h
        if not is_root():
            return None, "needs root (loop device, mount)"
        if not h.powercut_fs:
            return None, "powercut_fs was not built (libfuse3-dev missing)"
        base = os.path.join(self.work, "power%d" % index)
        os.makedirs(base)
        image, status = os.path.join(base, "disk.img"), os.path.join(base, "cut")
        fuse_dir, mnt = os.path.join(base, "fuse"), os.path.join(base, "mnt")
        os.makedirs(fuse_dir)
        with open(image, "wb") as disk:
            disk.truncate(96 << 20)
        h.run(["mkfs.ext4", "-q", "-F", image])
        keep = self.random.choice([0.0, 0.5])
        fs = h._spawn("powercut-fs%d" % index,
                      [h.powercut_fs, "--image", image, "--status", status, "--keep-fraction",
                       str(keep), "--seed", str(self.random.randrange(1 << 30)), fuse_dir])
        h.mounts.append(fuse_dir)
        if wait_until(lambda: os.path.exists(os.path.join(fuse_dir, "disk.img")), 20) is None:
            raise Failure("powercut_fs did not mount (see %s)" % fs.log)
        loop = h.loop_attach(os.path.join(fuse_dir, "disk.img"))
        h.mount([loop], mnt)
        spec = self.sys.servers.get("power") or self.sys.add_server("power", ["power"])
        spec["data"] = os.path.join(mnt, "store")
        self.sys.start_server(spec)
        sender = self.app("power-sender%d" % index, "send",
                          ["--identity", self.ids("power-sender"), "--rate", "2000", "--window",
                           "256", "--drain-ms", "300", "--size", "400", "power"])
        log = SenderLog(sender.events)
        if wait_until(lambda: log.poll().acked, 60) is None:
            raise Failure("nothing acknowledged on the power disk (see %s)" % sender.log)
        time.sleep(self.random.uniform(1.0, 3.0) if self.args.short else
                   self.random.uniform(3.0, 15.0))
        #  The cut: the disk loses what was not flushed and fails everything after (EIO), so
        #  nothing can be acknowledged after it; then the machine stops.
        server = spec["proc"]
        h.signal(fs, signal.SIGUSR1)
        if wait_until(lambda: os.path.exists(status), 10) is None:
            raise Failure("powercut_fs did not cut (see %s)" % fs.log)
        h.kill(server)
        h.stop(sender, grace=10)
        with open(status) as cut:
            cut_figures = cut.read().strip()
        h.unmount(mnt)
        h.loop_detach(loop)
        h.stop(fs, grace=10)
        h.unmount(fuse_dir)
        #  The disk as the power cut left it, in a machine that boots again.
        loop = h.loop_attach(image)
        h.mount([loop], mnt)
        self.sys.start_server(spec)
        status_code, _ = h.run_app("power-fetch%d" % index, "fetch",
                                   self.sys.common() + ["--identity", self.ids("power-sender"),
                                                        "--log", os.path.join(self.out,
                                                                              "power-fetch%d.events"
                                                                              % index), "power"])
        stored = {}
        duplicates = 0
        seqs = []
        fetched_path = os.path.join(self.out, "power-fetch%d.events" % index)
        with open(fetched_path, "a+") as fetched:
            fetched.seek(0)
            for line in fetched:
                fields = line.split()
                if fields and fields[0] == "S":
                    if fields[3] in stored:
                        duplicates += 1
                    stored[fields[3]] = int(fields[2])
                    seqs.append(int(fields[2]))
        log.poll()
        lost = [k for k, seq in log.acked.items() if stored.get(k[1]) != seq]
        gaps = sum(1 for a, b in zip(seqs, seqs[1:]) if b != a + 1) + (1 if seqs and seqs[0] != 1
                                                                          else 0)
        h.stop(spec["proc"])
        integrity = h.run_app("power-integrity%d" % index, "integrity",
                              [os.path.join(spec["data"], "zgm.db")])
        h.unmount(mnt)
        fsck = h.run(["e2fsck", "-fn", image], check=False)
        h.loop_detach(loop)
        os.remove(image)
        return dict(acked=len(log.acked), stored=len(stored), lost=len(lost),
                    duplicates=duplicates, gaps=gaps, fetch_status=status_code,
                    integrity=integrity[1].strip(), integrity_ok=integrity[0] == 0,
                    fsck_clean=fsck.returncode == 0, cut=cut_figures, keep_fraction=keep,
                    examples=[str(k) for k in lost[:3]]), None

    #  --- the disk fills and frees -------------------------------------------------------

    def disk_full(self, index):
        h = self.h
        if not is_root():
            return None, "needs root (a small tmpfs)"
        mnt = os.path.join(self.work, "tmpfs%d" % index)
        h.mount(["-t", "tmpfs", "-o", "size=32m", "tmpfs"], mnt)
        spec = self.sys.add_server("disk%d" % index, ["disk%d" % index],
                                   data=os.path.join(mnt, "store"))
        self.sys.start_server(spec)
        group = "disk%d" % index
        sender = self.app("disk-sender%d" % index, "send",
                          ["--identity", self.ids("disk-sender%d" % index), "--rate", "100",
                           "--size", "1000", "--window", "32", "--drain-ms", "5000", group])
        listener = self.app("disk-listener%d" % index, "listen",
                            ["--identity", self.ids("disk-listener%d" % index), group])
        log, heard = SenderLog(sender.events), ListenerLog(listener.events)
        if wait_until(lambda: log.poll().acked, 60) is None:
            raise Failure("nothing acknowledged on the tmpfs (see %s)" % sender.log)
        time.sleep(1)
        filler = os.path.join(mnt, "filler")
        written = 0
        with open(filler, "wb") as fill:
            try:
                while True:
                    fill.write(b"\0" * (1 << 20))
                    fill.flush()
                    written += 1 << 20
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
        t_full = mono_ms()
        self.step("disk full")
        failures_before = log.poll().failed_attempts
        time.sleep(self.plan["full_seconds"])
        refused = log.poll().failed_attempts - failures_before
        storage_errors = log.errors.get("9", 0)
        os.remove(filler)
        t_free = mono_ms()
        self.step("disk freed")
        recovered = wait_until(lambda: log.poll().acks_after(t_free), 60, 0.02)
        first_ack = (min(log.acks_after(t_free)) - t_free) if recovered is not None else None
        time.sleep(1)
        self.step("disk: stopping the sender")
        h.stop(sender, grace=30)
        self.step("disk: sender stopped")
        keys = set(log.poll().acked)
        caught = wait_until(lambda: all(heard.poll().has(*k) for k in keys), 60)
        self.step("disk: listener caught up")
        report = delivery_report([log], [heard])
        alive = spec["proc"].alive()
        h.stop(listener)
        h.stop(spec["proc"])
        integrity = h.run_app("disk-integrity%d" % index, "integrity",
                              [os.path.join(spec["data"], "zgm.db")])
        h.unmount(mnt)
        return dict(report, full_ms=t_free - t_full, refused_while_full=refused,
                    storage_errors=storage_errors, first_ack_after_free_ms=first_ack,
                    server_alive=alive, integrity=integrity[1].strip(),
                    integrity_ok=integrity[0] == 0, caught_up=caught is not None), None

    #  --- the descriptor limit ---------------------------------------------------------

    def fd_limit(self):
        h = self.h
        max_connections = 32
        spec = self.sys.add_server("fd", ["fd"], data=os.path.join(self.work, "fd"),
                                   extra=["--max-connections", str(max_connections)],
                                   nofile=max_connections + 64)
        self.sys.start_server(spec)
        sender = self.app("fd-sender", "send", ["--identity", self.ids("fd-sender"), "--rate",
                                                "50", "--window", "16", "--timeout", "8000",
                                                "--drain-ms", "10000", "fd"])
        listener = self.app("fd-listener", "listen", ["--identity", self.ids("fd-listener"), "fd"])
        log, heard = SenderLog(sender.events), ListenerLog(listener.events)
        if wait_until(lambda: log.poll().acked and heard.poll().received, 60) is None:
            raise Failure("the fd scenario did not start (see %s)" % sender.log)
        server = spec["proc"]
        cpu_idle, t_idle = cpu_seconds(server.pid), mono_ms()
        time.sleep(1)
        idle_share = (cpu_seconds(server.pid) - cpu_idle) / ((mono_ms() - t_idle) / 1000)
        fds_before, cpu_before = server.fds(), cpu_seconds(server.pid)
        #  Connections that never say a word: each holds one descriptor of the server.
        holders = []
        for _ in range(4 * max_connections + 64):
            try:
                holders.append(socket.create_connection(("127.0.0.1", spec["port"]), timeout=2))
            except OSError:
                break
        t_flood = mono_ms()
        self.step("fd: %d idle connections" % len(holders))
        #  Idle connections alone first: what holding the descriptor limit costs the server.
        time.sleep(0.5)
        cpu_held, t_held = cpu_seconds(server.pid), mono_ms()
        time.sleep(2)
        held_share = (cpu_seconds(server.pid) - cpu_held) / ((mono_ms() - t_held) / 1000)
        fds_held = server.fds()
        #  And users, more than --max-connections, who handshake and join.
        status, conns = h.run_app("fd-conns", "conns",
                                  self.sys.common() + ["--count", str(self.plan["fd_users"]),
                                                       "--parallel", "16", "--pool", "20",
                                                       "--keys", self.work, "--timeout", "2000",
                                                       "fd"], timeout=300)
        self.step("fd: users tried")
        time.sleep(1)
        acks_during = len(log.poll().acks_after(t_flood))
        fds_peak = server.fds()
        cpu_flood = cpu_seconds(server.pid) - cpu_before
        flood_s = (mono_ms() - t_flood) / 1000
        alive_during = server.alive()
        for holder in holders:
            holder.close()
        t_free = mono_ms()
        #  Whole again: a new user connects, joins and fetches.
        back = wait_until(lambda: h.run_app("fd-probe", "fetch",
                                            self.sys.common() + ["--deadline-ms", "3000",
                                                                 "--log", os.devnull, "fd"],
                                            timeout=20)[0] == 0, 60, 0.2)
        self.step("fd: a new user was served")
        h.stop(sender, grace=30)
        self.step("fd: sender stopped")
        keys = set(log.poll().acked)
        wait_until(lambda: all(heard.poll().has(*k) for k in keys), 60)
        self.step("fd: listener caught up")
        report = delivery_report([log], [heard])
        alive = server.alive()
        h.stop(listener)
        h.stop(server)
        return dict(report, raw_connections=len(holders), conns=conns.strip(),
                    fds_before=fds_before, fds_peak=fds_peak,
                    server_cpu_share_during=round(cpu_flood / flood_s, 2) if flood_s else None,
                    server_cpu_share_before=round(idle_share, 2),
                    server_cpu_share_held=round(held_share, 2), fds_held=fds_held,
                    nofile=max_connections + 64,
                    acks_during_flood=acks_during, server_alive=alive and alive_during,
                    new_user_after_ms=back), None

    #  --- connections that join and vanish, malformed frames, slow readers -------------------

    def conns(self):
        h, server = self.h, self.steady["proc"]
        rss_before, fds_before = server.rss_kib(), server.fds()
        status, out = h.run_app("conns", "conns",
                                self.sys.common() + ["--count", str(self.plan["conns"]),
                                                     "--parallel", "16", "--pool", "200",
                                                     "--keys", self.work, "steady0"],
                                timeout=3600)
        #  First line: figures in pairs; then last_failure and last_doubt, a reason each.
        lines = out.splitlines()
        first = lines[0].split() if lines else []
        figures = dict(zip(first[0::2], first[1::2]))
        reasons = dict(line.split(" ", 1) for line in lines[1:] if " " in line)
        #  The server lets go of what they held once their follows lapse (10 s).
        settled = wait_until(lambda: server.fds() <= fds_before + 8, 30, 0.5)
        return dict(status=status, result=out.strip(), ok=int(figures.get("ok", 0)),
                    failed=int(figures.get("failed", 0)),
                    #  JOINs answered in doubt at first, then tried again as an application
                    #  would: served if a retry said so (they are in ok), else in failed.
                    in_doubt=int(figures.get("in_doubt", 0)),
                    last_failure=reasons.get("last_failure", ""),
                    last_doubt=reasons.get("last_doubt", ""),
                    elapsed_ms=int(figures.get("elapsed_ms", 0)),
                    rss_before_kib=rss_before, rss_after_kib=server.rss_kib(),
                    fds_before=fds_before, fds_after=server.fds(),
                    fds_settled=settled is not None, server_alive=server.alive()), None

    def malformed(self):
        h, server = self.h, self.steady["proc"]
        log_before = server.log_size()
        lines_before = count_lines(server.log, "malformed")
        start = mono_ms()
        status, out = h.run_app("malformed", "malformed",
                                ["--endpoint", self.steady["endpoint"], "--server-key",
                                 self.steady["cert"], "--count", str(self.plan["malformed"])],
                                timeout=3600)
        elapsed = mono_ms() - start
        fields = out.split()
        figures = dict(zip(fields[1::2], fields[2::2])) if fields else {}
        return dict(status=status, sent=int(figures.get("sent", 0)),
                    replies=int(figures.get("replies", 0)), elapsed_ms=elapsed,
                    log_lines=count_lines(server.log, "malformed") - lines_before,
                    log_bytes=server.log_size() - log_before, server_alive=server.alive(),
                    rss_kib=server.rss_kib()), None

    def slow_readers(self):
        h, server = self.h, self.steady["proc"]
        plan = self.plan
        names = ("fast", "slow", "stopped")
        listeners = {n: self.app("flood-%s" % n, "listen",
                                 ["--identity", self.ids("flood-" + n), "flood"] +
                                 (["--slow-ms", "5"] if n == "slow" else [])) for n in names}
        logs = {n: ListenerLog(p.events) for n, p in listeners.items()}
        if wait_until(lambda: all(l.poll().joined for l in logs.values()), 60) is None:
            raise Failure("the flood listeners did not follow (see flood-*.log)")
        h.signal(listeners["stopped"], signal.SIGSTOP)
        rss_before = server.rss_kib()
        sender = self.app("flood-sender", "send",
                          ["--identity", self.ids("flood-sender"), "--rate", "2000", "--size",
                           "1000", "--window", "512", "--duration-ms",
                           str(plan["flood_seconds"] * 1000), "flood"])
        peak = rss_before
        t_stop = mono_ms()
        while sender.alive() or mono_ms() - t_stop < plan["stopped_seconds"] * 1000:
            peak = max(peak, server.rss_kib())
            time.sleep(0.2)
            if mono_ms() - t_stop > 600000:
                break
        h.signal(listeners["stopped"], signal.SIGCONT)
        t_cont = mono_ms()
        log = SenderLog(sender.events).poll()
        keys = set(log.acked)
        caught = {}
        for name in ("fast", "stopped"):
            took = wait_until(lambda: all(logs[name].poll().has(*k) for k in keys), 120)
            caught[name] = took
        report = delivery_report([log], [logs["fast"], logs["stopped"]])
        slow = logs["slow"].poll()
        fast_latency = percentile(logs["fast"].latencies_us, 0.99) / 1000
        for proc in listeners.values():
            h.stop(proc, grace=5)
        return dict(report, messages=len(keys), rss_before_kib=rss_before, rss_peak_kib=peak,
                    stopped_caught_up_ms=caught["stopped"], fast_caught_up=caught["fast"] is not None,
                    fast_p99_ms=fast_latency, slow_received=slow.received,
                    slow_duplicates=slow.duplicates, slow_disorder=slow.disorder,
                    slow_gaps=max(0, max([g["last"] - len(g["seqs"]) for g in slow.groups.values()]
                                         or [0])),
                    server_alive=server.alive()), None

    #  --- the run -----------------------------------------------------------------------

    def schedule(self):
        plan = self.plan
        events = ["kill-server"] * plan["server_kills"] + ["kill-registry"] * plan["registry_kills"]
        self.random.shuffle(events)
        others = (["power-cut"] * plan["power_cuts"] + ["disk-full"] * plan["disk_fulls"] +
                  ["fd-limit", "conns", "malformed", "slow-readers"])
        #  Spread the others evenly among the kills.
        step = max(1, len(events) // (len(others) + 1))
        for i, other in enumerate(others):
            events.insert(min(len(events), (i + 1) * step + i), other)
        if self.args.only:
            wanted = self.args.only.split(",")
            events = [e for e in events if e in wanted]
        return events

    def run(self):
        plan = self.plan
        self.start()
        events = self.schedule()
        budget_ms = (self.minutes * 60000) if not self.args.short else 0
        slot_ms = budget_ms / len(events) if budget_ms else 0
        kills, registry_kills, catchups = [], [], []
        results = {"power-cut": [], "disk-full": [], "fd-limit": [], "conns": [], "malformed": [],
                   "slow-readers": []}
        skipped = {}
        for index, event in enumerate(events):
            slot_end = self.started + (index + 1) * slot_ms
            t0 = mono_ms()
            if event == "kill-server":
                first_ack, caught = self.kill_server()
                kills.append(first_ack)
                catchups.append(caught)
            elif event == "kill-registry":
                registry_kills.append(self.kill_registry())
                if registry_kills[-1][1] is None:
                    self.note("registry kill %d: not whole again within 30 s" %
                              len(registry_kills))
            else:
                runner = {"power-cut": lambda: self.power_cut(len(results["power-cut"])),
                          "disk-full": lambda: self.disk_full(len(results["disk-full"])),
                          "fd-limit": self.fd_limit, "conns": self.conns,
                          "malformed": self.malformed, "slow-readers": self.slow_readers}[event]
                result, why = runner()
                if result is None:
                    skipped[event] = why
                else:
                    results[event].append(result)
            self.durations.setdefault(event, []).append(mono_ms() - t0)
            if self.args.verbose:
                self.note("%s took %d ms" % (event, mono_ms() - t0))
            if self.args.short:
                time.sleep(self.random.uniform(*plan["kill_gap"]))
            else:
                while mono_ms() < slot_end:
                    time.sleep(0.2)
        self.finish(kills, catchups, registry_kills, results, skipped)

    def finish(self, kills, catchups, registry_kills, results, skipped):
        h, plan = self.h, self.plan
        self.step("finishing")
        #  The crash application settles what it has outstanding; the listeners get it all.
        h.stop(self.crash_sender, grace=60)
        self.sender_log.poll()
        keys = set(self.sender_log.acked)
        wait_until(lambda: all(all(l.poll().has(*k) for k in keys) for l in self.listener_logs),
                   60)
        crash = delivery_report([self.sender_log], self.listener_logs)
        self.step("crash application stopped, listeners checked")
        #  And the store has each acknowledged message once, under its seq.
        stored_dups, stored_lost = 0, 0
        for group in ("crash0", "crash1"):
            path = os.path.join(self.out, "crash-fetch-%s.events" % group)
            h.run_app("crash-fetch-" + group, "fetch",
                      self.sys.common() + ["--log", path, group], timeout=120)
            ids = {}
            with open(path) as fetched:
                for line in fetched:
                    f = line.split()
                    if f and f[0] == "S":
                        stored_dups += f[3] in ids
                        ids[f[3]] = int(f[2])
            stored_lost += sum(1 for (g, i), seq in self.sender_log.acked.items()
                               if g == group and ids.get(i) != seq)
        self.step("store checked")
        self.sampling = False
        loads = [self.load_figures(p) for p in self.loads]
        for proc in self.loads + self.crash_listeners:
            h.stop(proc, grace=30)
        alive = {n: s["proc"].alive() for n, s in self.sys.servers.items()
                 if s["proc"] is not None and n in ("steady", "crash")}
        alive["registry"] = self.sys.registry.alive()
        for spec in self.sys.servers.values():
            if spec["proc"] is not None:
                h.stop(spec["proc"])
        h.stop(self.sys.registry)
        dead, lingering = h.leaked([])
        self.step("everything stopped")

        #  The verdicts, one TAP line each, and the table.
        s = self.sender_log
        ok_kills = [k for k in kills if k is not None]
        ok_catch = [c for c in catchups if c is not None]
        passed = (crash["lost"] == 0 and crash["duplicates"] == 0 and crash["gaps"] == 0 and
                  crash["disorder"] == 0 and crash["mismatched"] == 0 and stored_lost == 0 and
                  stored_dups == 0 and len(ok_kills) == len(kills) and not s.refused)
        self.results["server_kills"] = dict(
            cycles=len(kills), recovered=len(ok_kills), acked=crash["acked"],
            lost=crash["lost"], duplicates=crash["duplicates"] + stored_dups,
            gaps=crash["gaps"], disorder=crash["disorder"], stored_lost=stored_lost,
            failed_attempts=s.failed_attempts, errors=s.errors, refused=len(s.refused),
            unsettled=len(s.unsettled), examples=crash["examples"],
            recovery_ms=stats(ok_kills), listeners_caught_up_ms=stats(ok_catch))
        self.verdict("SIGKILL of a group server x%d" % len(kills), passed,
                     "%d acknowledged, lost %d, duplicates %d, gaps %d, recovery %s ms" %
                     (crash["acked"], crash["lost"] + stored_lost,
                      crash["duplicates"] + stored_dups, crash["gaps"], fmt(stats(ok_kills))))
        self.row("group server SIGKILL", "cycles", len(kills))
        self.row("group server SIGKILL", "acknowledged / lost / duplicates / gaps",
                 "%d / %d / %d / %d" % (crash["acked"], crash["lost"] + stored_lost,
                                        crash["duplicates"] + stored_dups, crash["gaps"]),
                 passed)
        self.row("group server SIGKILL", "recovery ms (first ack after kill) min/median/max",
                 fmt(stats(ok_kills)))
        self.row("group server SIGKILL", "listeners caught up ms min/median/max",
                 fmt(stats(ok_catch)))
        self.row("group server SIGKILL", "send attempts retried (in doubt or not sent)",
                 s.failed_attempts)
        resolved = [r for r, _ in registry_kills if r is not None]
        listed = [l for _, l in registry_kills if l is not None]
        reg_ok = len(listed) == len(registry_kills) and len(resolved) == len(registry_kills)
        self.results["registry_kills"] = dict(cycles=len(registry_kills),
                                              resolved_ms=stats(resolved), listed_ms=stats(listed),
                                              recovered=len(listed))
        self.verdict("SIGKILL of the registry x%d" % len(registry_kills), reg_ok,
                     "a group resolved again after %s ms, every group listed after %s ms" %
                     (fmt(stats(resolved)), fmt(stats(listed))))
        self.row("registry SIGKILL", "cycles / whole again", "%d / %d" % (len(registry_kills),
                                                                          len(listed)), reg_ok)
        self.row("registry SIGKILL", "a group resolved ms min/median/max", fmt(stats(resolved)))
        self.row("registry SIGKILL", "every group listed ms min/median/max", fmt(stats(listed)))

        for name, items in results.items():
            if name in skipped and not items:
                h.skip(name, skipped[name])
                self.row(name, "skipped", skipped[name])
                self.results[name] = dict(skipped=skipped[name])
                continue
            self.results[name] = items
            for item in items:
                passed, summary = judge(name, item, plan)
                self.verdict(name, passed, summary)
                for what, figure in table_rows(name, item):
                    self.row(name, what, figure, passed)

        steady = steady_figures(loads, self.rss)
        self.results["steady"] = steady
        steady_ok = steady["gaps"] == 0 and steady["duplicates"] == 0 and steady["intervals"] > 0
        self.verdict("steady load: %d users in %d groups" % (plan["users"], plan["groups"]),
                     steady_ok, "%.0f deliveries/s, p99 %s ms, RSS %s MiB" %
                     (steady["deliveries_per_s"], steady["p99_ms_median"], steady["rss_mib"]))
        for what, figure in [("deliveries per second (mean)", "%.0f" % steady["deliveries_per_s"]),
                             ("p99 latency ms, median / worst interval",
                              "%s / %s" % (steady["p99_ms_median"], steady["p99_ms_max"])),
                             ("gaps / duplicates at 1,000 users" if plan["users"] == 1000 else
                              "gaps / duplicates", "%d / %d" % (steady["gaps"],
                                                                steady["duplicates"])),
                             ("group server RSS MiB first / max / last", steady["rss_mib"]),
                             ("group server log bytes per minute", steady["log_bytes_per_min"])]:
            self.row("steady load", what, figure, steady_ok)
        processes_ok = all(alive.values()) and not lingering
        self.verdict("no process died or leaked", processes_ok,
                     "alive at the end: %s; lingering: %s" % (alive, lingering or "none"))
        self.results["processes"] = dict(alive_at_end=alive, lingering=lingering)
        self.write(skipped)

    def load_figures(self, proc):
        lines = []
        try:
            with open(proc.events) as log:
                lines = [l.split() for l in log if l.startswith("L ")]
        except OSError:
            pass
        return [dict(t=int(f[1]), rate=float(f[3]), p50=int(f[5]), p99=int(f[7]),
                     gaps=int(f[15]), duplicates=int(f[17])) for f in lines if len(f) >= 18]

    def write(self, skipped):
        elapsed = (mono_ms() - self.started) / 1000
        machine = machine_figures()
        summary = dict(kind="short" if self.args.short else "long", minutes=round(elapsed / 60, 1),
                       commit=git_commit(), program=os.path.basename(self.args.zgm),
                       machine=machine, plan=self.plan, results=self.results,
                       rss=[dict(t_s=t, steady_mib=round(a, 1), registry_mib=round(b, 1),
                                 steady_log_bytes=c) for t, a, b, c in self.rss],
                       skipped=skipped, durations_ms=self.durations)
        with open(os.path.join(self.out, "soak.json"), "w") as out:
            json.dump(summary, out, indent=1, default=str)
        width = max(len(r[0]) + len(r[1]) for r in self.rows) + 3
        print("#")
        print("# zgm soak (%s, %.1f min, commit %s, %s)" % (summary["kind"], elapsed / 60,
                                                           summary["commit"], machine["summary"]))
        print("# %-*s %s" % (width, "scenario: figure", "value"))
        for scenario, what, figure, passed in self.rows:
            print("# %-*s %s%s" % (width, scenario + ": " + what, figure,
                                   "" if passed else "   <- FAILED"))
        print("# JSON: %s" % os.path.join(self.out, "soak.json"))
        with open(os.path.join(self.out, "soak-rss.dat"), "w") as data:
            data.write("# t_s steady_rss_mib registry_rss_mib\n")
            for t, a, b, _ in self.rss:
                data.write("%.1f %.2f %.2f\n" % (t, a, b))
        if self.args.plot:
            plot(os.path.join(self.out, "soak-rss.dat"), self.args.plot, summary)


#  --- judging and figures ------------------------------------------------------------------


def judge(name, item, plan):
    if name == "power-cut":
        passed = (item["lost"] == 0 and item["duplicates"] == 0 and item["gaps"] == 0 and
                  item["integrity_ok"] and item["fetch_status"] == 0)
        return passed, ("%d acknowledged, %d stored after the cut (%s), lost %d, integrity %s" %
                        (item["acked"], item["stored"], item["cut"], item["lost"],
                         item["integrity"]))
    if name == "disk-full":
        passed = (item["lost"] == 0 and item["duplicates"] == 0 and item["gaps"] == 0 and
                  item["server_alive"] and item["integrity_ok"] and
                  item["first_ack_after_free_ms"] is not None)
        return passed, ("%d acknowledged, %d sends refused while full, first ack %s ms after "
                        "freeing, lost %d" % (item["acked"], item["refused_while_full"],
                                              item["first_ack_after_free_ms"], item["lost"]))
    if name == "fd-limit":
        passed = (item["lost"] == 0 and item["duplicates"] == 0 and item["gaps"] == 0 and
                  item["server_alive"] and item["new_user_after_ms"] is not None)
        return passed, ("%d idle connections + %d users at --max-connections 32: alive %s, "
                        "CPU %s while flooded, new user %s ms after" %
                        (item["raw_connections"], plan["fd_users"], item["server_alive"],
                         item["server_cpu_share_during"], item["new_user_after_ms"]))
    if name == "conns":
        passed = item["server_alive"] and item["failed"] == 0 and item["fds_settled"]
        return passed, ("%d joined and vanished in %.1f s (%d failed; %d answered in doubt, "
                        "tried again), descriptors %d -> %d" %
                        (item["ok"], item["elapsed_ms"] / 1000, item["failed"],
                         item["in_doubt"], item["fds_before"], item["fds_after"]))
    if name == "malformed":
        passed = (item["server_alive"] and item["sent"] == plan["malformed"] and
                  item["log_lines"] <= 2 + item["elapsed_ms"] // 10000 * 2)
        return passed, ("%d sent, %d answered in %.1f s, %d log lines about them" %
                        (item["sent"], item["replies"], item["elapsed_ms"] / 1000,
                         item["log_lines"]))
    if name == "slow-readers":
        passed = (item["lost"] == 0 and item["duplicates"] == 0 and item["gaps"] == 0 and
                  item["slow_duplicates"] == 0 and item["slow_gaps"] == 0 and
                  item["server_alive"] and item["stopped_caught_up_ms"] is not None and
                  item["rss_peak_kib"] - item["rss_before_kib"] < 256 * 1024)
        return passed, ("%d messages; the stopped reader caught up %s ms after SIGCONT; "
                        "server RSS %d -> %d KiB" % (item["messages"],
                                                     item["stopped_caught_up_ms"],
                                                     item["rss_before_kib"],
                                                     item["rss_peak_kib"]))
    return False, "unknown scenario"


def table_rows(name, item):
    if name == "power-cut":
        return [("acknowledged / stored after / lost", "%d / %d / %d" % (item["acked"],
                                                                           item["stored"],
                                                                           item["lost"])),
                ("integrity_check / e2fsck clean", "%s / %s" % (item["integrity"],
                                                                 item["fsck_clean"])),
                ("the cut", "%s (keep %.1f)" % (item["cut"], item["keep_fraction"]))]
    if name == "disk-full":
        return [("acknowledged / lost / duplicates / gaps",
                 "%d / %d / %d / %d" % (item["acked"], item["lost"], item["duplicates"],
                                        item["gaps"])),
                ("sends refused while full / first ack after freeing ms",
                 "%d / %s" % (item["refused_while_full"], item["first_ack_after_free_ms"])),
                ("integrity_check", item["integrity"])]
    if name == "fd-limit":
        return [("idle TCP connections held / users who tried", "%d / %s" % (
                    item["raw_connections"], item["conns"].split()[1] if item["conns"] else "-")),
                ("server descriptors held / its limit", "%d / %d" % (item["fds_held"],
                                                                      item["nofile"])),
                ("server CPU share idle / at the limit / with users too",
                 "%s / %s / %s" % (item["server_cpu_share_before"], item["server_cpu_share_held"],
                                   item["server_cpu_share_during"])),
                ("server alive / acks during", "%s / %d" % (item["server_alive"],
                                                            item["acks_during_flood"])),
                ("acknowledged / lost", "%d / %d" % (item["acked"], item["lost"])),
                ("a new user served ms after the flood", item["new_user_after_ms"])]
    if name == "conns":
        return [("joined and vanished / failed / seconds",
                 "%d / %d / %.1f" % (item["ok"], item["failed"], item["elapsed_ms"] / 1000)),
                ("JOINs answered in doubt, then tried again", "%d" % item["in_doubt"]),
                ("server descriptors before / after",
                 "%d / %d" % (item["fds_before"], item["fds_after"])),
                ("server RSS KiB before / after", "%d / %d" % (item["rss_before_kib"],
                                                               item["rss_after_kib"]))]
    if name == "malformed":
        return [("frames sent / answered / seconds", "%d / %d / %.1f" % (
            item["sent"], item["replies"], item["elapsed_ms"] / 1000)),
            ("log lines about them / server alive", "%d / %s" % (item["log_lines"],
                                                                 item["server_alive"]))]
    if name == "slow-readers":
        return [("flood messages / lost / duplicates / gaps",
                 "%d / %d / %d / %d" % (item["messages"], item["lost"], item["duplicates"],
                                        item["gaps"])),
                ("stopped reader caught up ms after SIGCONT", item["stopped_caught_up_ms"]),
                ("server RSS KiB before / peak", "%d / %d" % (item["rss_before_kib"],
                                                              item["rss_peak_kib"])),
                ("a fast reader's p99 ms", "%.1f" % item["fast_p99_ms"])]
    return []


def steady_figures(loads, rss):
    intervals = [i for load in loads for i in load]
    by_time = {}
    for load in loads:
        for index, interval in enumerate(load):
            by_time.setdefault(index, []).append(interval)
    rates = [sum(i["rate"] for i in group) for group in by_time.values()]
    p99s = [max(i["p99"] for i in group) / 1000 for group in by_time.values()]
    last = [load[-1] for load in loads if load]
    mib = [r[1] for r in rss if r[1] > 0]
    log_rate = 0
    if len(rss) >= 2 and rss[-1][0] > rss[0][0]:
        log_rate = int((rss[-1][3] - rss[0][3]) / ((rss[-1][0] - rss[0][0]) / 60))
    return dict(intervals=len(intervals),
                deliveries_per_s=statistics.mean(rates) if rates else 0,
                p99_ms_median=round(statistics.median(p99s), 1) if p99s else None,
                p99_ms_max=round(max(p99s), 1) if p99s else None,
                gaps=sum(i["gaps"] for i in last), duplicates=sum(i["duplicates"] for i in last),
                rss_mib="%.1f / %.1f / %.1f" % (mib[0], max(mib), mib[-1]) if mib else "-",
                log_bytes_per_min=log_rate)


def stats(values):
    if not values:
        return None
    return dict(min=min(values), median=int(statistics.median(values)), max=max(values))


def fmt(figures):
    if not figures:
        return "-"
    return "%d / %d / %d" % (figures["min"], figures["median"], figures["max"])


def count_lines(path, text):
    try:
        with open(path, errors="replace") as log:
            return sum(1 for line in log if text in line)
    except OSError:
        return 0


def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0


def git_commit():
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        return subprocess.run(["git", "-C", here, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def machine_figures():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    load = os.getloadavg()
    return dict(cpu=cpu, cores=os.cpu_count(), memory_gib=round(memory, 1),
                kernel=platform.release(), load_at_end=[round(x, 1) for x in load],
                summary="%d cores of %s, %.0f GiB, kernel %s, load %.1f" %
                (os.cpu_count(), cpu, memory, platform.release(), load[0]))


def plot(data, png, summary):
    if not shutil.which("gnuplot"):
        print("# no gnuplot: no plot (scripts/deps.sh plot installs it)")
        return
    script = ("set terminal pngcairo size 900,420 font ',10'\n"
              "set output '%s'\n"
              "set title 'zgm soak, %s min, commit %s: resident memory'\n"
              "set xlabel 'seconds'\nset ylabel 'RSS, MiB'\nset key top left\nset grid\n"
              "set yrange [0:*]\n"
              "plot '%s' using 1:2 with lines lw 2 title 'group server, %s users', "
              "'' using 1:3 with lines lw 2 title 'registry (SIGKILLed and restarted)'\n" %
              (png, summary["minutes"], summary["commit"], data, summary["plan"]["users"]))
    result = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if result.returncode != 0:
        print("# gnuplot: %s" % result.stderr.strip())
    else:
        print("# plot: %s" % png)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--zgm", required=True)
    parser.add_argument("--faultapp", required=True)
    parser.add_argument("--powercut-fs")
    parser.add_argument("--netdelay")
    parser.add_argument("--short", action="store_true")
    parser.add_argument("--minutes", type=float,
                        default=float(os.environ.get("SOAK_MINUTES", "30")))
    parser.add_argument("--out", default="soak-out")
    parser.add_argument("--plot")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SOAK_SEED", "0")) or None)
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--only", help="run only these events (comma-separated: kill-server, "
                        "kill-registry, power-cut, disk-full, fd-limit, conns, malformed, "
                        "slow-readers)")
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    soak = Soak(args)
    print("TAP version 13", flush=True)
    soak.note("seed %d (SOAK_SEED=%d reruns the same choices)" % (args.seed, args.seed))
    try:
        soak.run()
    except Failure as error:
        soak.h.ok(False, "soak could not go on: %s" % error)
    finally:
        soak.sampling = False
        soak.h.cleanup()
    print("1..%d" % soak.h.tap_count, flush=True)
    return 1 if soak.h.failures else 0


if __name__ == "__main__":
    sys.exit(main())
