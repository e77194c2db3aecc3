#!/usr/bin/env python3
#  multihost.py - zgm across hosts: network namespaces on one bridge, each role the zgm
#  program with its default (CURVE) configuration on its own address, then faults on the
#  links between them while users send and listen. Root only. One table and a JSON file at
#  the end; TAP on stdout (one line per scenario).
#
#      multihost.py --zgm PROGRAM --faultapp PATH [--netdelay PATH] [--out DIR]
#                   [--fault-seconds N]
#
#  The hosts: reg (the registry), sa and sb (a group server each: groups ga and gb), u1 (an
#  application sending to both with message ids and retries), u2 and u3 (listeners of both),
#  sw (the bridge they are all plugged into). The scenarios, each --fault-seconds long
#  (HOSTS_FAULT_SECONDS; 30 by default, CI runs shorter ones):
#    link-down    sa's link down, then up
#    lossy        5 % loss and 200 ms delay out of u1's link and out of sa's
#    partition    sa and the registry cannot reach each other; users keep talking to sa
#    registry-gone  the registry killed and its host off the network, then back
#    renumber     sb's host moves from one address to another while users listen
#    run          `zgm run --bind tcp://*:PORT` on u3, and a user on u1 that joins, sends and
#                 fetches through it (the group server must be given to users at an
#                 address they reach, not its loopback)
#  After each: the time until the system is whole again (a message sent after the fault is
#  acknowledged in both groups and every listener has everything acknowledged so far). At
#  the end: every acknowledged message received exactly once, in order, by every listener,
#  and no process of the test left. Namespaces (and the links in them), processes and files
#  are removed by name and PID on success and on failure.
#
#  This Source Code Form is subject to the terms of the Mozilla Public
#  License, v. 2.0. If a copy of the MPL was not distributed with this
#  file, You can obtain one at http://mozilla.org/MPL/2.0/.

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Failure, Harness, ListenerLog, SenderLog, delivery_report,  # noqa
                     is_root, mono_ms, percentile, wait_until)

NET = "10.231.7."
ADDRESSES = dict(reg=1, sa=11, sb=12, u1=21, u2=22, u3=23)
RENUMBERED = 32  # sb's address after the renumbering
REGISTRY_PORT, SA_PORT, SB_PORT, RUN_PORT = 5570, 5571, 5572, 5580
GROUPS = ["ga", "gb"]
TAG_PREFIX = "zgmh"


def remove_stale_namespaces():
    """Namespaces an earlier run of this test left (killed before its cleanup ran): named
    zgmh<pid>-..., for a pid that is no longer alive."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in listing.splitlines():
        name = line.split()[0] if line.split() else ""
        if not name.startswith(TAG_PREFIX) or "-" not in name:
            continue
        pid = name[len(TAG_PREFIX):name.index("-")]
        if pid.isdigit() and not os.path.exists("/proc/%s" % pid):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


class Hosts:
    def __init__(self, args):
        self.args = args
        self.out = os.path.abspath(args.out)
        if os.path.isdir(self.out):
            shutil.rmtree(self.out)
        self.h = Harness(self.out, args.zgm, args.faultapp, None, args.netdelay)
        self.h.tag = "%s%d" % (TAG_PREFIX, os.getpid())
        self.work = os.path.join(self.out, "work")
        os.makedirs(self.work)
        self.fault_s = args.fault_seconds
        self.ns = {}
        self.addr = {host: NET + str(n) for host, n in ADDRESSES.items()}
        self.rows = []
        self.results = {}
        self.procs = {}
        self.started = mono_ms()

    #  --- the network -----------------------------------------------------------------

    def build_network(self):
        h = self.h
        sw = self.ns["sw"] = h.netns("sw")
        h.run(["ip", "link", "add", "br0", "type", "bridge"], ns=sw)
        h.run(["ip", "link", "set", "br0", "up"], ns=sw)
        for host in ADDRESSES:
            ns = self.ns[host] = h.netns(host)
            #  Both ends made in the bridge's namespace, one moved to the host: every link
            #  lives in a namespace of the test and goes with it.
            h.run(["ip", "link", "add", "p-" + host, "type", "veth", "peer", "name", "eth0",
                   "netns", ns], ns=sw)
            h.run(["ip", "link", "set", "p-" + host, "master", "br0", "up"], ns=sw)
            h.run(["ip", "addr", "add", self.addr[host] + "/24", "dev", "eth0"], ns=ns)
            h.run(["ip", "link", "set", "eth0", "up"], ns=ns)

    def link(self, host, up):
        self.h.run(["ip", "link", "set", "eth0", "up" if up else "down"], ns=self.ns[host])

    def iptables(self, host, rule, add=True):
        self.h.run(["iptables", "-A" if add else "-D"] + rule, ns=self.ns[host])

    #  --- the roles -------------------------------------------------------------------

    def keygen(self, path):
        if self.h.run_role("keygen-" + os.path.basename(path), "keygen", [path]) != 0:
            raise Failure("zgm keygen %s failed" % path)

    def registry_ep(self):
        return "tcp://%s:%d" % (self.addr["reg"], REGISTRY_PORT)

    def common(self):
        return ["--registry", self.registry_ep(), "--registry-key", self.registry_cert]

    def start_registry(self):
        log = os.path.join(self.out, "registry.log")
        offset = os.path.getsize(log) if os.path.exists(log) else 0
        proc = self.h.start_role("registry", "registry",
                                 ["--bind", "tcp://*:%d" % REGISTRY_PORT, "--key",
                                  self.registry_cert, "--trust", self.trust], ns=self.ns["reg"])
        if not self.h.wait_for_text(proc.log, "listening on", 20, offset, proc):
            raise Failure("the registry did not start (see %s)" % proc.log)
        self.procs["registry"] = proc

    def start_server(self, host, port, group):
        cert = os.path.join(self.work, host + ".cert")
        proc = self.h.start_role("server-" + host, "server",
                                 self.common() + ["--key", cert, "--bind", "tcp://*:%d" % port,
                                                  "--data", os.path.join(self.work, host),
                                                  "--group", group], ns=self.ns[host])
        if not self.h.wait_for_text(proc.log, "zgm server: serving", 30, 0, proc):
            raise Failure("group server %s did not start (see %s)" % (host, proc.log))
        self.procs["server-" + host] = proc

    def app(self, name, host, role, args):
        proc = self.h.start_app(name, role, self.common() + ["--identity", os.path.join(
            self.work, name + ".id")] + args, ns=self.ns[host])
        self.procs[name] = proc
        return proc

    def probe(self, name, host, group, deadline_s):
        """A new user on host resolving group: the ms it took, or None."""
        start = mono_ms()
        status, _ = self.h.run_app(name, "probe",
                                   self.common() + ["--deadline-ms", str(deadline_s * 1000),
                                                    group], ns=self.ns[host],
                                   timeout=deadline_s + 30)
        return mono_ms() - start if status == 0 else None

    def start(self):
        self.build_network()
        self.trust = os.path.join(self.work, "trusted")
        os.makedirs(self.trust)
        self.registry_cert = os.path.join(self.work, "registry.cert")
        self.keygen(self.registry_cert)
        for host in ("sa", "sb"):
            cert = os.path.join(self.work, host + ".cert")
            self.keygen(cert)
            shutil.copy(cert, self.trust)
        self.start_registry()
        self.start_server("sa", SA_PORT, "ga")
        self.start_server("sb", SB_PORT, "gb")
        self.sender = self.app("sender", "u1", "send",
                               ["--name", "app", "--rate", "40", "--window", "32", "--timeout",
                                "5000", "--drain-ms", "60000"] + GROUPS)
        self.listeners = [self.app("listener-" + host, host, "listen", GROUPS)
                          for host in ("u2", "u3")]
        self.sender_log = SenderLog(self.sender.events)
        self.listener_logs = [ListenerLog(p.events) for p in self.listeners]
        if self.wait_whole(mono_ms(), 60) is None:
            raise Failure("the session across hosts did not start (see %s)" % self.out)

    #  --- what whole means --------------------------------------------------------------

    def wait_whole(self, t_from, timeout):
        """ms from t_from until both groups have an acknowledgement of a message sent after
        t_from, and every listener has every message acknowledged so far; None on timeout."""
        deadline = time.monotonic() + timeout
        fresh = set()
        while not fresh.issuperset(GROUPS):
            log = self.sender_log.poll()
            fresh = set(group for (group, _), t in log.ack_at.items() if t > t_from)
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)
        keys = set(self.sender_log.acked)
        missing = [set(keys) for _ in self.listener_logs]

        def done():
            for listener, left in zip(self.listener_logs, missing):
                listener.poll()
                for key in list(left):
                    if listener.has(*key):
                        left.discard(key)
            return not any(missing)

        if wait_until(done, max(1, deadline - time.monotonic()), 0.05) is None:
            return None
        return mono_ms() - t_from

    def settled_report(self, timeout=60):
        """The delivery report over what is acknowledged now, once every listener had time
        to receive it (acknowledgements that arrive meanwhile wait for the next report)."""
        log = self.sender_log.poll()
        frozen = Frozen(dict(log.acked), list(log.double_acks))
        keys = set(frozen.acked)

        def have_all():
            for listener in self.listener_logs:
                listener.poll()
                if any(not listener.has(*key) for key in keys):
                    return False
            return True

        wait_until(have_all, timeout, 0.1)
        return delivery_report([frozen], self.listener_logs)

    def acks_between(self, t0, t1, group=None):
        self.sender_log.poll()
        return sorted(lat for (g, _), t, lat in self.sender_log.ack_records
                      if t0 < t <= t1 and (group is None or g == group))

    def during(self, seconds):
        """Waits out a fault, checking all along that every process of the test lives."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            dead = [name for name, p in self.procs.items() if not p.alive()]
            if dead:
                raise Failure("died during the fault: %s" % ", ".join(dead))
            time.sleep(0.2)

    #  --- the scenarios ---------------------------------------------------------------

    def link_down(self):
        t0 = mono_ms()
        self.link("sa", False)
        self.during(self.fault_s)
        self.link("sa", True)
        t_heal = mono_ms()
        whole = self.wait_whole(t_heal, 120)
        gb = len(self.acks_between(t0, t_heal, "gb"))
        return whole is not None and gb > 0, dict(
            whole_ms=whole, gb_acks_while_sa_down=gb,
            ga_acks_while_down=len(self.acks_between(t0, t_heal, "ga")))

    def lossy(self):
        h, rules = self.h, []
        delayers = []
        for index, host in enumerate(("u1", "sa")):
            loss = ["OUTPUT", "-o", "eth0", "-m", "statistic", "--mode", "random",
                    "--probability", "0.05", "-j", "DROP"]
            self.iptables(host, loss)
            rules.append((host, loss))
            if h.netdelay:
                queue = str(10 + index)
                delayers.append(h._spawn("netdelay-" + host, [h.netdelay, "--queue", queue,
                                                              "--delay-ms", "200"],
                                         ns=self.ns[host]))
                delay = ["OUTPUT", "-o", "eth0", "-j", "NFQUEUE", "--queue-num", queue,
                         "--queue-bypass"]
                self.iptables(host, delay)
                rules.append((host, delay))
        t0 = mono_ms()
        try:
            self.during(self.fault_s)
        finally:
            for host, rule in reversed(rules):
                self.iptables(host, rule, add=False)
            for proc in delayers:
                h.stop(proc)
        t_heal = mono_ms()
        whole = self.wait_whole(t_heal, 120)
        ga = self.acks_between(t0, t_heal, "ga")
        gb = self.acks_between(t0, t_heal, "gb")
        return whole is not None and ga and gb, dict(
            whole_ms=whole, delay="200 ms (NFQUEUE)" if h.netdelay else "none (no netdelay)",
            acks_during=len(ga) + len(gb),
            ga_ack_ms_p50_p99=[percentile(ga, 0.5), percentile(ga, 0.99)],
            gb_ack_ms_p50_p99=[percentile(gb, 0.5), percentile(gb, 0.99)])

    def partition(self):
        rules = [["INPUT", "-s", self.addr["reg"], "-j", "DROP"],
                 ["OUTPUT", "-d", self.addr["reg"], "-j", "DROP"]]
        for rule in rules:
            self.iptables("sa", rule)
        t0 = mono_ms()
        try:
            self.during(self.fault_s)
        finally:
            t_heal = mono_ms()
            for rule in rules:
                self.iptables("sa", rule, add=False)
        ga = len(self.acks_between(t0, t_heal, "ga"))
        resolved = self.probe("probe-after-partition", "u3", "ga", 60)
        whole = self.wait_whole(t_heal, 120)
        return whole is not None and ga > 0 and resolved is not None, dict(
            whole_ms=whole, ga_acks_during=ga, new_user_resolved_ga_ms_after_heal=(
                mono_ms() - t_heal if resolved is None else resolved))

    def registry_gone(self):
        t0 = mono_ms()
        self.h.kill(self.procs.pop("registry"))
        self.link("reg", False)
        self.during(self.fault_s)
        t_back = mono_ms()
        acks = len(self.acks_between(t0, t_back))
        self.link("reg", True)
        self.start_registry()
        resolved = {g: self.probe("probe-registry-back-" + g, "u3", g, 60) for g in GROUPS}
        whole = self.wait_whole(t_back, 120)
        return whole is not None and acks > 0 and None not in resolved.values(), dict(
            whole_ms=whole, acks_while_gone=acks,
            new_user_resolved_ms_after_back=max(v or -1 for v in resolved.values()))

    def renumber(self):
        ns = self.ns["sb"]
        old, new = self.addr["sb"], NET + str(RENUMBERED)
        #  The old one goes first, as a new DHCP lease does (and deleting a primary address
        #  would take a secondary one with it).
        self.h.run(["ip", "addr", "del", old + "/24", "dev", "eth0"], ns=ns)
        self.h.run(["ip", "addr", "add", new + "/24", "dev", "eth0"], ns=ns)
        self.addr["sb"] = new
        t0 = mono_ms()
        whole = self.wait_whole(t0, 60)
        resolved = self.probe("probe-renumbered", "u3", "gb", 20)
        return whole is not None and resolved is not None, dict(
            whole_ms=whole, from_to="%s -> %s" % (old, new), new_user_resolved_gb_ms=resolved)

    def run_reached(self):
        """zgm run on every address of u3 (its own home: keys, store), stdin a pipe held open
        (the interactive client reads it); a user on u1 joins general, sends, fetches."""
        home = os.path.join(self.work, "runhome")
        env = dict(HOME=home, XDG_CONFIG_HOME=os.path.join(home, "config"),
                   XDG_DATA_HOME=os.path.join(home, "data"))
        os.makedirs(home)
        t0 = mono_ms()
        proc = self.h.start_role("run", "run", ["--bind", "tcp://*:%d" % RUN_PORT],
                                 ns=self.ns["u3"], env=env, stdin=subprocess.PIPE)
        try:
            if not self.h.wait_for_text(proc.log, "zgm run: serving", 30, 0, proc):
                raise Failure("zgm run did not start (see %s)" % proc.log)
            with open(proc.log) as log:
                serving = [line for line in log if line.startswith("zgm run: serving")][0]
            given = serving.split("given to users as ")[1].split(")")[0] \
                if "given to users as " in serving else ""
            user = ["--registry", "tcp://%s:%d" % (self.addr["u3"], RUN_PORT),
                    "--registry-key", os.path.join(home, "config", "zgm", "registry.cert"),
                    "--identity", os.path.join(self.work, "run-user.id"), "--name", "visitor"]
            statuses = {}
            for step, args in (("join", ["join", "general"]),
                               ("send", ["send", "general", "hello from u1"]),
                               ("fetch", ["fetch", "general"])):
                statuses[step] = self.h.run_role("run-user-" + step, "user", user + args,
                                                 ns=self.ns["u1"], timeout=60)
            with open(os.path.join(self.out, "run-user-fetch.log")) as log:
                fetched = "hello from u1" in log.read()
        finally:
            proc.popen.stdin.close()
            stopped = self.h.stop(proc, grace=15)
        passed = (given.startswith("tcp://%s:" % self.addr["u3"]) and
                  all(status == 0 for status in statuses.values()) and fetched and
                  stopped == 0)
        return passed, dict(given_to_users=given, user_exit_statuses=statuses,
                            fetched_its_message=fetched, run_exit_status=stopped,
                            ms=mono_ms() - t0)

    #  --- the run ----------------------------------------------------------------------

    def run(self):
        h = self.h
        t0 = mono_ms()
        self.start()
        h.note("session across 6 hosts up in %.1f s" % ((mono_ms() - t0) / 1000))
        scenarios = [("link-down", "sa's link down %d s" % self.fault_s, self.link_down),
                     ("lossy", "5 %% loss, 200 ms delay on u1 and sa for %d s" % self.fault_s,
                      self.lossy),
                     ("partition", "registry <-> sa partitioned %d s" % self.fault_s,
                      self.partition),
                     ("registry-gone", "the registry's host gone %d s" % self.fault_s,
                      self.registry_gone),
                     ("renumber", "sb's host renumbered", self.renumber),
                     ("run", "zgm run on every address of u3, used from u1", self.run_reached)]
        if self.args.only:
            scenarios = [s for s in scenarios if s[0] in self.args.only.split(",")]
        for name, what, scenario in scenarios:
            before = self.settled_report()
            started = mono_ms()
            try:
                passed, figures = scenario()
            except Failure as error:
                passed, figures = False, dict(error=str(error))
            report = self.settled_report()
            figures.update(seconds=round((mono_ms() - started) / 1000, 1),
                           acked=report["acked"] - before["acked"])
            clean = not any(report[k] for k in ("lost", "duplicates", "gaps", "disorder",
                                                 "mismatched"))
            passed = bool(passed) and clean
            self.results[name] = figures
            summary = ", ".join("%s %s" % (k, v) for k, v in figures.items())
            h.ok(passed, "%s: %s: %s" % (name, what, summary))
            if not clean:
                h.note("deliveries: %s" % report)
        #  The end: the application settles what is outstanding; everything acknowledged is
        #  at every listener exactly once, in order; nothing of ours lingers.
        h.signal(self.sender, 15)
        drained = wait_until(lambda: self.sender_log.poll().ended, 90)
        report = self.settled_report()
        self.results["deliveries"] = report
        clean = not any(report[k] for k in ("lost", "duplicates", "gaps", "disorder",
                                             "mismatched"))
        h.ok(drained is not None and clean and not self.sender_log.unsettled,
             "every acknowledged message once, in order, at every listener: %d acknowledged, "
             "lost %d, duplicates %d, gaps %d, disorder %d, unsettled %d" % (
                 report["acked"], report["lost"], report["duplicates"], report["gaps"],
                 report["disorder"], len(self.sender_log.unsettled)))
        if report["examples"]:
            h.note("examples: %s" % report["examples"])
        statuses = {}
        for name, proc in self.procs.items():
            statuses[name] = h.stop(proc, grace=15)
        lingering = [p.name for p in h.procs if p.alive()]
        h.ok(not lingering and all(s == 0 for s in statuses.values()),
             "every process stopped cleanly: exit statuses %s; lingering: %s" % (
                 statuses, ", ".join(lingering) or "none"))
        self.print_table()

    def print_table(self):
        h = self.h
        h.note("")
        h.note("zgm across hosts (%d s faults, %.1f min, %s, kernel %s)" % (
            self.fault_s, (mono_ms() - self.started) / 60000, cpu_model(), platform.release()))
        h.note("%-14s %-46s %s" % ("scenario", "figure", "value"))
        for name, figures in self.results.items():
            for key, value in figures.items():
                if key == "examples":
                    continue
                h.note("%-14s %-46s %s" % (name, key, value))
        path = os.path.join(self.out, "hosts.json")
        with open(path, "w") as out:
            json.dump(dict(fault_seconds=self.fault_s, kernel=platform.release(),
                           cpu=cpu_model(), results=self.results), out, indent=1)
        h.note("JSON: %s" % path)


class Frozen:
    """A sender's acknowledgements as they were at one moment, for delivery_report."""

    def __init__(self, acked, double_acks):
        self.acked, self.double_acks = acked, double_acks

    def poll(self):
        return self


def cpu_model():
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return "%d x %s" % (os.cpu_count(), line.split(":", 1)[1].strip())
    except OSError:
        pass
    return platform.machine()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--zgm", required=True)
    parser.add_argument("--faultapp", required=True)
    parser.add_argument("--netdelay")
    parser.add_argument("--out", default="hosts-out")
    parser.add_argument("--fault-seconds", type=int,
                        default=int(os.environ.get("HOSTS_FAULT_SECONDS", "30")))
    parser.add_argument("--only", help="run only these scenarios (comma-separated)")
    args = parser.parse_args()
    print("TAP version 13", flush=True)
    if not is_root():
        print("1..0 # SKIP needs root (network namespaces)", flush=True)
        return 0
    remove_stale_namespaces()
    hosts = Hosts(args)
    try:
        hosts.run()
    except Failure as error:
        hosts.h.ok(False, "the run: %s" % error)
    finally:
        hosts.h.cleanup()
        left = [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                          text=True).stdout.split() if n.startswith(hosts.h.tag)]
        hosts.h.ok(not left, "namespaces removed: %s left" % (", ".join(left) or "none"))
    print("1..%d" % hosts.h.tap_count, flush=True)
    return 1 if hosts.h.failures else 0


if __name__ == "__main__":
    sys.exit(main())
