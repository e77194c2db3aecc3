#  What the Python module's tests share: temporary directories, a registry with group servers
#  and users over tcp loopback (CURVE, keys in files), a TCP proxy that loses what a test wants
#  lost, and the example programs as subprocesses.
#
#  This Source Code Form is subject to the terms of the Mozilla Public
#  License, v. 2.0. If a copy of the MPL was not distributed with this
#  file, You can obtain one at http://mozilla.org/MPL/2.0/.

from __future__ import annotations

import os
import selectors
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

import zgm

#  The emulator words before an ARM program (empty natively); time limits scale under it, and
#  with ZGM_TEST_SLOWDOWN as for the C tests.
EXE_WRAPPER = shlex.split(os.environ.get("ZGM_EXE_WRAPPER", ""))
SLOWDOWN = float(os.environ.get("ZGM_TEST_SLOWDOWN", "1")) * (4 if EXE_WRAPPER else 1)
SOURCE_ROOT = Path(os.environ.get("ZGM_SOURCE_ROOT",
                                  Path(__file__).resolve().parent.parent.parent))
EXAMPLES = SOURCE_ROOT / "examples" / "python"


def scaled(seconds: float) -> float:
    """A time limit, scaled for slow builds and emulation."""
    return seconds * SLOWDOWN


def eventually(condition, timeout: float = 5.0, step: float = 0.02):
    """Waits up to timeout (scaled) seconds for condition() to be true; returns its last
    value."""
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    return condition()


@pytest.fixture
def workdir():
    """A fresh directory under /tmp, removed with everything in it afterwards."""
    path = Path(tempfile.mkdtemp(prefix="zgm-pytest-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class Cluster:
    """A registry in this process over tcp loopback, with its key in a file, and the group
    servers it trusts and users it serves; all closed with it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.registry_cert = directory / "registry.cert"
        self.registry = zgm.Registry(self.registry_cert)
        self.port = self.registry.bind("tcp://127.0.0.1:*")
        self.endpoint = f"tcp://127.0.0.1:{self.port}"
        self.key = self.registry.key
        self.servers: list[zgm.Server] = []
        self.users: list[zgm.User] = []
        self.ports: dict[int, int] = {}

    def add_server(self, groups=(), data_dir=None, key_file=None, accept_new=False,
                   advertise=None) -> zgm.Server:
        """A group server hosting groups, bound to a port the kernel picks, registered."""
        server = zgm.Server(data_dir, key_file)
        self.servers.append(server)
        self.registry.trust(server.key)
        server.set_heartbeat(0.1)
        server.set_accept_new(accept_new)
        for group in groups:
            server.add(group)
        port = server.bind("tcp://127.0.0.1:*")
        self.ports[id(server)] = port
        if advertise:
            server.set_advertise(advertise(port))
        server.connect(self.endpoint, self.key)
        return server

    def port_of(self, server: zgm.Server) -> int:
        return self.ports[id(server)]

    def user(self, name: str, key_file=None, **options) -> zgm.User:
        """A user connected to the registry (a new key pair unless key_file), whose calls wait
        for servers as long as the default, scaled."""
        options.setdefault("timeout", scaled(zgm.DEFAULT_TIMEOUT))
        user = zgm.User(name, key_file, registry=self.endpoint, registry_key=self.key,
                        **options)
        self.users.append(user)
        return user

    def close(self) -> None:
        for user in self.users:
            user.close()
        for server in self.servers:
            server.close()
        self.registry.close()


@pytest.fixture
def cluster(workdir):
    """A registry, its group servers and users (see Cluster)."""
    system = Cluster(workdir)
    try:
        yield system
    finally:
        system.close()


class TcpProxy:
    """Listens on 127.0.0.1 (a free port) and copies bytes to and from a target port, CURVE
    and all. swallow drops what the server sends and keeps the connection."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.swallow = False
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.endpoint = f"tcp://127.0.0.1:{self.port}"
        self.stopping = False
        self.sockets: list[socket.socket] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self.listener, selectors.EVENT_READ, None)
        while not self.stopping:
            for key, _ in selector.select(timeout=0.05):
                if key.data is None:
                    client, _ = self.listener.accept()
                    server = socket.create_connection(("127.0.0.1", self.target_port))
                    self.sockets += [client, server]
                    selector.register(client, selectors.EVENT_READ, (server, False))
                    selector.register(server, selectors.EVENT_READ, (client, True))
                    continue
                peer, from_server = key.data
                try:
                    data = key.fileobj.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    for end in (key.fileobj, peer):
                        try:
                            selector.unregister(end)
                        except (KeyError, ValueError):
                            pass
                        end.close()
                    continue
                if not (from_server and self.swallow):
                    try:
                        peer.sendall(data)
                    except OSError:
                        pass
        selector.close()

    def close(self) -> None:
        self.stopping = True
        self.thread.join()
        for end in self.sockets:
            end.close()
        self.listener.close()


class Program:
    """An example program run as a subprocess (under the emulator in an ARM build), its output
    in files; stopped by its PID."""

    def __init__(self, directory: Path, name: str, args: list[str], env: dict[str, str],
                 stdin: str | None = None) -> None:
        self.name = name
        self.out_path = directory / f"{name}.out"
        self.err_path = directory / f"{name}.err"
        command = EXE_WRAPPER + [sys.executable, str(EXAMPLES / f"{name}.py")] + args
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.process = subprocess.Popen(
                command, env=env, stdout=out, stderr=err,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL)
        if stdin is not None:
            self.process.stdin.write(stdin.encode())
            self.process.stdin.close()

    @property
    def out(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def err(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 10.0) -> str:
        """Waits until stdout holds text, and returns stdout; fails the test if the program
        ends or the time is up first."""
        def seen():
            return text in self.out
        if not eventually(lambda: seen() or self.process.poll() is not None, timeout) or \
                not seen():
            pytest.fail(f"{self.name} did not print {text!r} (exit {self.process.poll()}):\n"
                        f"stdout:\n{self.out}\nstderr:\n{self.err}")
        return self.out

    def wait(self, timeout: float = 10.0) -> int:
        try:
            return self.process.wait(scaled(timeout))
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.name} did not end in time:\nstdout:\n{self.out}\n"
                        f"stderr:\n{self.err}")

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM, as systemd or kill would; its exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def programs(workdir):
    """Starts example programs (programs(name, args, env, stdin)); kills those still running
    at the end."""
    started: list[Program] = []

    def start(name: str, args: list[str], env: dict[str, str], stdin: str | None = None):
        program = Program(workdir, name, args, env, stdin)
        started.append(program)
        return program

    try:
        yield start
    finally:
        for program in reversed(started):
            program.kill()
