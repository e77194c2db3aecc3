#  harness.py - what the fault tests share: starting every zgm role through one function,
#  the applications (faultapp), network namespaces, mounts and loop devices, all removed
#  again by name and PID on success and on failure, and the logs read back into figures.
#
#  Every process a test starts is a child of the harness with PR_SET_PDEATHSIG, so even a
#  harness killed outright takes its processes with it; the namespaces, mounts and loop
#  devices it made are removed by Harness.cleanup (on exit, on SIGTERM/SIGINT/SIGHUP).
#
#  This Source Code Form is subject to the terms of the Mozilla Public
#  License, v. 2.0. If a copy of the MPL was not distributed with this
#  file, You can obtain one at http://mozilla.org/MPL/2.0/.

import ctypes
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def mono_ms():
    """CLOCK_MONOTONIC in ms: the clock faultapp writes in its logs."""
    return int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1000)


def is_root():
    return os.geteuid() == 0


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values, fraction):
    if not values:
        return 0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


class Proc:
    """A process the harness started."""

    def __init__(self, name, cmd, popen, log, ns):
        self.name, self.cmd, self.popen, self.log, self.ns = name, cmd, popen, log, ns
        self.started_ms = mono_ms()

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def rss_kib(self):
        try:
            with open("/proc/%d/status" % self.pid) as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def fds(self):
        try:
            return len(os.listdir("/proc/%d/fd" % self.pid))
        except OSError:
            return 0

    def log_size(self):
        try:
            return os.path.getsize(self.log)
        except OSError:
            return 0


class Failure(Exception):
    pass


class Harness:
    def __init__(self, out_dir, zgm, faultapp, powercut_fs=None, netdelay=None, verbose=False):
        self.out = os.path.abspath(out_dir)
        os.makedirs(self.out, exist_ok=True)
        self.zgm, self.faultapp = zgm, faultapp
        self.powercut_fs, self.netdelay = powercut_fs, netdelay
        self.verbose = verbose
        self.procs = []
        self.namespaces = []
        self.mounts = []
        self.loops = []
        self.undo = []  # callables, run last first
        self.tag = "zgmf%d" % os.getpid()
        self.tap_count = 0
        self.failures = 0
        self._cleaned = False
        for signo in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signo, self._on_signal)

    def _on_signal(self, signo, frame):
        self.cleanup()
        sys.exit(128 + signo)

    #  --- TAP ------------------------------------------------------------------------

    def note(self, text):
        for line in str(text).splitlines():
            print("# " + line, flush=True)

    def ok(self, passed, description):
        self.tap_count += 1
        if not passed:
            self.failures += 1
        print("%s %d - %s" % ("ok" if passed else "not ok", self.tap_count, description), flush=True)
        return passed

    def skip(self, description, why):
        self.tap_count += 1
        print("ok %d - %s # SKIP %s" % (self.tap_count, description, why), flush=True)

    #  --- processes ------------------------------------------------------------------

    def _spawn(self, name, cmd, ns=None, nofile=None, env=None, stdout=None, stdin=None):
        if ns:
            cmd = ["ip", "netns", "exec", ns] + cmd
        log_path = os.path.join(self.out, name + ".log")
        log = open(log_path, "ab")

        def prepare():
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        full_env = dict(os.environ)
        full_env.update(env or {})
        popen = subprocess.Popen(cmd, stdin=stdin or subprocess.DEVNULL, stdout=stdout or log,
                                 stderr=log, env=full_env, preexec_fn=prepare)
        log.close()
        proc = Proc(name, cmd, popen, log_path, ns)
        self.procs.append(proc)
        if self.verbose:
            self.note("started %s (pid %d): %s" % (name, popen.pid, " ".join(cmd)))
        return proc

    def start_role(self, name, role, args, ns=None, nofile=None, env=None, stdin=None):
        """Starts one zgm role (keygen, registry, server, user, run): the one place the
        program that plays the roles is named, so the stand-in and the zgm program are one
        change."""
        return self._spawn(name, [self.zgm, role] + list(args), ns=ns, nofile=nofile, env=env,
                           stdin=stdin)

    def run_role(self, name, role, args, ns=None, timeout=30, env=None):
        proc = self.start_role(name, role, args, ns=ns, env=env)
        return self.wait(proc, timeout)

    def start_app(self, name, role, args, ns=None, nofile=None, log=None):
        """Starts faultapp ROLE; its log (--log) is LOG or out/NAME.events."""
        log = log or os.path.join(self.out, name + ".events")
        proc = self._spawn(name, [self.faultapp, role, "--log", log] + list(args), ns=ns,
                           nofile=nofile)
        proc.events = log
        return proc

    def run_app(self, name, role, args, ns=None, timeout=60):
        """Runs faultapp ROLE to completion; returns (exit status, standard output)."""
        out_path = os.path.join(self.out, name + ".out")
        with open(out_path, "wb") as out:
            proc = self._spawn(name, [self.faultapp, role] + list(args), ns=ns, stdout=out)
            status = self.wait(proc, timeout)
        with open(out_path) as out:
            return status, out.read()

    def run(self, cmd, ns=None, check=True, timeout=60):
        """A short command (ip, iptables, mount, ...), to completion."""
        if ns:
            cmd = ["ip", "netns", "exec", ns] + cmd
        result = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=timeout)
        if check and result.returncode != 0:
            raise Failure("%s: %s" % (" ".join(cmd), (result.stderr or result.stdout).strip()))
        return result

    def wait(self, proc, timeout):
        try:
            return proc.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill(proc)
            return None

    def stop(self, proc, grace=10):
        """SIGTERM, then SIGKILL after grace seconds; the exit status (None if killed)."""
        if proc.alive():
            try:
                proc.popen.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            return proc.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill(proc)
            return None

    def kill(self, proc, signo=signal.SIGKILL):
        if proc.alive():
            try:
                proc.popen.send_signal(signo)
            except ProcessLookupError:
                pass
        if signo == signal.SIGKILL:
            proc.popen.wait()

    def signal(self, proc, signo):
        if proc.alive():
            proc.popen.send_signal(signo)

    def leaked(self, expected_alive):
        """Processes that should be running and are not, and processes of ours that
        should have ended and have not."""
        expected = set(id(p) for p in expected_alive)
        dead = [p.name for p in expected_alive if not p.alive()]
        lingering = [p.name for p in self.procs if id(p) not in expected and p.alive()]
        return dead, lingering

    def wait_for_text(self, path, text, timeout=20, offset=0, proc=None):
        """Waits until the file has text after byte offset (False after timeout seconds,
        or as soon as proc has ended)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(path, "rb") as log:
                    log.seek(offset)
                    if text.encode() in log.read():
                        return True
            except OSError:
                pass
            if proc is not None and not proc.alive():
                return False
            time.sleep(0.05)
        return False

    #  --- namespaces, mounts, loops ----------------------------------------------------

    def netns(self, short):
        """A network namespace named TAG-SHORT, removed at cleanup."""
        name = "%s-%s" % (self.tag, short)
        self.run(["ip", "netns", "add", name])
        self.namespaces.append(name)
        self.run(["ip", "link", "set", "lo", "up"], ns=name)
        return name

    def mount(self, args, point):
        os.makedirs(point, exist_ok=True)
        self.run(["mount"] + args + [point])
        self.mounts.append(point)

    def unmount(self, point):
        #  Lazily when busy (a loop device on a file in it) or dead (a FUSE layer whose
        #  process is gone, which os.path.ismount cannot even stat).
        if self.run(["umount", point], check=False).returncode != 0:
            self.run(["umount", "-l", point], check=False)
        if point in self.mounts:
            self.mounts.remove(point)

    def loop_attach(self, image):
        device = self.run(["losetup", "--find", "--show", image]).stdout.strip()
        self.loops.append(device)
        return device

    def loop_detach(self, device):
        self.run(["losetup", "-d", device], check=False)
        if device in self.loops:
            self.loops.remove(device)

    def cleanup(self):
        if self._cleaned:
            return
        self._cleaned = True
        for proc in self.procs:
            if proc.alive():
                try:
                    proc.popen.kill()
                    proc.popen.wait(timeout=10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
        for undo in reversed(self.undo):
            try:
                undo()
            except Exception as error:  # cleanup goes on whatever one step says
                print("# cleanup: %s" % error, flush=True)
        for point in reversed(list(self.mounts)):
            self.unmount(point)
        for device in reversed(list(self.loops)):
            self.loop_detach(device)
        for name in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        self.namespaces = []


#  --- what the logs say ------------------------------------------------------------------


class LogTail:
    """Reads the complete lines added to a file since the last call."""

    def __init__(self, path):
        self.path, self.offset, self.partial = path, 0, b""

    def lines(self):
        try:
            with open(self.path, "rb") as log:
                log.seek(self.offset)
                data = log.read()
        except OSError:
            return []
        self.offset += len(data)
        data = self.partial + data
        cut = data.rfind(b"\n")
        if cut < 0:
            self.partial = data
            return []
        self.partial = data[cut + 1:]
        return data[:cut].decode(errors="replace").split("\n")


class SenderLog:
    """What a `faultapp send` acknowledged (A), failed to send (R, retried), refused (F)
    and left unsettled (U)."""

    def __init__(self, path):
        self.tail = LogTail(path)
        self.acked = {}  # (group, id) -> seq
        self.ack_times = []  # (t_ms, latency_ms)
        self.ack_at = {}  # (group, id) -> t_ms of its acknowledgement
        self.ack_records = []  # ((group, id), t_ms, latency_ms)
        self.double_acks = []  # (group, id, seq, seq) acknowledged twice with two seqs
        self.failed_attempts = 0
        self.refused = []
        self.unsettled = set()
        self.errors = {}  # zgm_errno of failed attempts -> count
        self.ended = False
        self.last_ack_ms = 0

    def poll(self):
        for line in self.tail.lines():
            fields = line.split(" ")
            kind = fields[0]
            if kind == "A" and len(fields) >= 7:
                key = (fields[2], fields[3])
                seq = int(fields[4])
                if key in self.acked and self.acked[key] != seq:
                    self.double_acks.append((key[0], key[1], self.acked[key], seq))
                self.acked[key] = seq
                t = int(fields[1])
                self.ack_times.append((t, int(fields[5])))
                self.ack_at[key] = t
                self.ack_records.append((key, t, int(fields[5])))
                self.last_ack_ms = max(self.last_ack_ms, t)
            elif kind == "R" and len(fields) >= 5:
                self.failed_attempts += 1
                self.errors[fields[4]] = self.errors.get(fields[4], 0) + 1
            elif kind == "F":
                self.refused.append(line)
            elif kind == "U" and len(fields) >= 3:
                self.unsettled.add((fields[1], fields[2]))
            elif kind == "END":
                self.ended = True
        return self

    def acks_after(self, t_ms):
        return [t for t, _ in self.ack_times if t > t_ms]


class ListenerLog:
    """What a `faultapp listen` received, per group: seqs and ids, with every duplicate,
    gap and disorder counted."""

    def __init__(self, path):
        self.tail = LogTail(path)
        self.groups = {}  # group -> {"last": seq, "ids": {id: seq}, "seqs": set}
        self.duplicates = 0
        self.gaps = 0
        self.disorder = 0
        self.errors = []
        self.received = 0
        self.joined = set()
        self.latencies_us = []

    def group(self, name):
        return self.groups.setdefault(name, {"last": 0, "ids": {}, "seqs": set(), "missed": 0})

    def poll(self):
        for line in self.tail.lines():
            fields = line.split(" ")
            if fields[0] == "J" and len(fields) >= 3:
                self.joined.add(fields[2])
            elif fields[0] == "E":
                self.errors.append(line)
            elif fields[0] == "M" and len(fields) >= 8:
                group, seq, msg_id = fields[2], int(fields[3]), fields[4]
                state = self.group(group)
                missed = int(fields[7])
                if seq in state["seqs"] or msg_id in state["ids"]:
                    self.duplicates += 1
                elif seq < state["last"]:
                    self.disorder += 1
                elif seq > state["last"] + 1 and not missed:
                    self.gaps += seq - state["last"] - 1
                state["missed"] += missed
                state["seqs"].add(seq)
                state["ids"][msg_id] = seq
                state["last"] = max(state["last"], seq)
                self.received += 1
                if int(fields[6]) >= 0:
                    self.latencies_us.append(int(fields[6]))
        return self

    def has(self, group, msg_id):
        state = self.groups.get(group)
        return state is not None and msg_id in state["ids"]


def delivery_report(senders, listeners, groups_of=None):
    """Every acknowledged message against every listener: lost (acknowledged, not
    received), duplicates, gaps, disorder, seq mismatches. groups_of(listener) limits a
    listener to its groups."""
    acked = {}
    double = []
    for sender in senders:
        sender.poll()
        double += sender.double_acks
        for key, seq in sender.acked.items():
            if key in acked and acked[key] != seq:
                double.append((key[0], key[1], acked[key], seq))
            acked[key] = seq
    report = {"acked": len(acked), "lost": 0, "duplicates": len(double), "gaps": 0,
              "disorder": 0, "mismatched": 0, "examples": []}
    for listener in listeners:
        listener.poll()
        groups = groups_of(listener) if groups_of else None
        report["duplicates"] += listener.duplicates
        report["disorder"] += listener.disorder
        for (group, msg_id), seq in acked.items():
            if groups is not None and group not in groups:
                continue
            state = listener.groups.get(group)
            got = state["ids"].get(msg_id) if state else None
            if got is None:
                report["lost"] += 1
                if len(report["examples"]) < 5:
                    report["examples"].append("%s: %s seq %d not received" %
                                              (os.path.basename(listener.tail.path), msg_id, seq))
            elif got != seq:
                report["mismatched"] += 1
        #  Every seq up to the last one received, once (none dropped by retention here).
        for group, state in listener.groups.items():
            if not state["missed"]:
                report["gaps"] += max(0, state["last"] - len(state["seqs"]))
    return report


def wait_until(condition, timeout, step=0.1):
    """Polls condition() until it holds; the ms it took, or None after timeout seconds."""
    start = mono_ms()
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return mono_ms() - start
        if time.monotonic() >= deadline:
            return None
        time.sleep(step)


def remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)
