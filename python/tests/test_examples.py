#  The seed's three programs rebuilt on the module (examples/python), driven as subprocesses:
#  message_server.py, group_server.py and the menu of user.py, with the zgm program's default
#  key files or --insecure; and the module and examples as `meson install` lays them out.
#
#  This Source Code Form is subject to the terms of the Mozilla Public
#  License, v. 2.0. If a copy of the MPL was not distributed with this
#  file, You can obtain one at http://mozilla.org/MPL/2.0/.

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import zgm
from conftest import EXE_WRAPPER, EXAMPLES, eventually, scaled


#  How long user.py's calls wait for a server: its default, scaled (qemu on a busy machine).
TIMEOUT = ["--timeout", str(scaled(zgm.DEFAULT_TIMEOUT))]


def environment(workdir: Path) -> dict[str, str]:
    """The programs' environment: their own XDG directories (so the default key files are
    the test's), no registry settings of the caller's."""
    env = dict(os.environ)
    env["XDG_CONFIG_HOME"] = str(workdir / "config")
    env["XDG_DATA_HOME"] = str(workdir / "data")
    env["USER"] = "tester"
    for name in ("ZGM_REGISTRY", "ZGM_REGISTRY_KEY"):
        env.pop(name, None)
    return env


def port_of(output: str) -> int:
    return int(re.search(r"\(port (\d+)\)", output).group(1))


def menu(*choices: str) -> str:
    return "".join(choice + "\n" for choice in choices)


@pytest.mark.parametrize("name", ["message_server", "group_server", "user"])
def test_each_program_takes_help(name, workdir):
    result = subprocess.run(EXE_WRAPPER + [sys.executable, str(EXAMPLES / f"{name}.py"),
                                           "--help"],
                            env=environment(workdir), capture_output=True, text=True,
                            timeout=scaled(30))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:") and "--insecure" in result.stdout
    assert "XDG_CONFIG_HOME" in result.stdout


def test_a_session_with_the_default_key_files(workdir, programs):
    env = environment(workdir)
    config = workdir / "config" / "zgm"
    registry = programs("message_server", ["--bind", "tcp://127.0.0.1:*"], env)
    endpoint = f"tcp://127.0.0.1:{port_of(registry.wait_for('(port '))}"
    #  The registry made its key pair where the others look for it, and the trusted directory.
    assert (config / "registry.cert").is_file() and (config / "servers").is_dir()
    server = programs("group_server", ["--registry", endpoint, "--bind", "tcp://127.0.0.1:*",
                                       "--data", str(workdir / "store"), "general", "random"],
                      env)
    server.wait_for("hosting general, random")
    assert (config / "servers" / "local.cert").is_file()
    #  The registry trusts the server by its certificate in servers/ (a certificate made a
    #  moment ago may take a second to count).
    with zgm.User("bob", registry=endpoint, registry_key=config / "registry.cert",
                  timeout=scaled(zgm.DEFAULT_TIMEOUT)) as bob:
        assert eventually(lambda: [g.name for g in bob.groups()] == ["general", "random"],
                          timeout=10)
        bob.join("general")

        future = (datetime.datetime.now() + datetime.timedelta(hours=1)).strftime(
            "%Y-%m-%d %H:%M")
        alice = programs("user", ["--registry", endpoint, "--name", "alice"] + TIMEOUT, env,
                         stdin=menu("1", "2", "general", "4", "", "hello from the menu",
                                    "6", str(scaled(2)), "5", "", "", "5", "", future, "3", "",
                                    "3", "", "7"))
        assert alice.wait(60) == 0, alice.err
        out = alice.out
        alice_id = zgm.read_key(config / "identity")
        assert zgm.paths.certificate_name(config / "identity") == "alice"
        assert f"You are alice ({alice_id})." in out
        assert re.search(r"^general +\d+ members +open +tcp://127\.0\.0\.1:\d+$", out, re.M)
        assert re.search(r"^random +\d+ members", out, re.M)
        assert "Joined general" in out
        assert "Stored in general as #1 at " in out
        line = re.compile(r"^\[general #1 \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] alice: "
                          r"hello from the menu$", re.M)
        assert len(line.findall(out)) == 2  # live (choice 6), then fetched (choice 5)
        assert "1 message." in out and "0 messages." in out
        assert "Left general." in out
        assert "Error: not a member of 'general'" in out

        #  bob got it live, from alice's key.
        msg = bob.recv(timeout=scaled(5))
        assert (msg.text, msg.sender, msg.sender_name) == ("hello from the menu", alice_id,
                                                           "alice")

        #  Separate runs act as the same user: the identity file keeps the key and the name.
        again = programs("user", ["--registry", endpoint] + TIMEOUT, env, stdin=menu("7"))
        assert again.wait(60) == 0, again.err
        assert f"You are alice ({alice_id})." in again.out

        #  The servers logged each request, as the seed's did.
        registry_log = registry.err
        assert re.search(r"JOIN REQUEST FROM 127\.0\.0\.1:\d+", registry_log)
        assert f"GROUP LIST REQUEST FROM {alice_id}" in registry_log
        server_log = server.err
        for request in ("JOIN REQUEST", "MESSAGE SEND", "MESSAGE REQUEST", "LEAVE REQUEST"):
            assert f"{request} FROM {alice_id}" in server_log

        #  SIGTERM stops the group server cleanly: its groups leave the list at once.
        assert server.terminate() == 0
        assert "group server: stopped" in server.out
        assert bob.groups() == []
    assert (workdir / "store" / "zgm.db").is_file()
    assert registry.terminate() == 0
    assert "message server: stopped" in registry.out


def test_an_insecure_session(workdir, programs):
    env = environment(workdir)
    registry = programs("message_server", ["--bind", "tcp://127.0.0.1:*", "--insecure"], env)
    endpoint = f"tcp://127.0.0.1:{port_of(registry.wait_for('(port '))}"
    server = programs("group_server", ["--registry", endpoint, "--bind", "tcp://127.0.0.1:*",
                                       "--memory", "--insecure", "lobby"], env)
    server.wait_for("registered with")
    #  The user needs no registry key.
    (workdir / "config" / "zgm" / "registry.cert").unlink()
    alice = programs("user", ["--registry", endpoint, "--insecure", "--name", "alice"] + TIMEOUT,
                     env,
                     stdin=menu("2", "lobby", "4", "", "plain text", "7"))
    assert alice.wait(60) == 0, alice.err
    assert "Stored in lobby as #1 at " in alice.out
    with zgm.User("bob", registry=endpoint, insecure=True,
                  timeout=scaled(zgm.DEFAULT_TIMEOUT)) as bob:
        bob.join("lobby")
        assert [msg.text for msg in bob.fetch("lobby")] == ["plain text"]


def test_a_user_without_a_registry_key_is_told_where_it_looked(workdir):
    result = subprocess.run(EXE_WRAPPER + [sys.executable, str(EXAMPLES / "user.py")],
                            env=environment(workdir), capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=scaled(30))
    assert result.returncode == 2
    assert str(workdir / "config" / "zgm" / "registry.cert") in result.stderr
    assert "--registry-key" in result.stderr


def test_meson_install_puts_the_module_where_python_finds_it(workdir):
    build = os.environ.get("ZGM_BUILD_ROOT")
    if not build:
        pytest.skip("run by meson test (ZGM_BUILD_ROOT names the build directory)")
    if EXE_WRAPPER:
        pytest.skip("the layout is the same for every architecture; checked natively")
    dest = workdir / "dest"
    #  The module's files alone (install tag python): they need nothing built.
    subprocess.run(["meson", "install", "-C", build, "--destdir", str(dest), "--no-rebuild",
                    "--quiet", "--tags", "python"], check=True, capture_output=True, timeout=300)
    options = {option["name"]: option["value"] for option in json.loads(subprocess.run(
        ["meson", "introspect", "--buildoptions", build], check=True, capture_output=True,
        text=True).stdout)}
    prefix, libdir = options["prefix"], options["libdir"]
    found = sorted(dest.rglob("zgm/__init__.py"))
    assert len(found) == 1
    module_dir = found[0].parent.parent
    installed = "/" + str(module_dir.relative_to(dest))
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    if prefix == "/usr":
        assert installed == "/usr/lib/python3/dist-packages"
    else:
        assert installed == f"{prefix}/lib/python{version}/dist-packages"
    if prefix in ("/usr", "/usr/local") and sys.executable.startswith("/usr/bin/"):
        assert installed in sys.path  # Debian's python3 imports it with no PYTHONPATH
    #  The library's installed directory is recorded (not for /usr: the loader finds it).
    config = (module_dir / "zgm" / "_build_config.py").read_text()
    expected = "" if prefix == "/usr" else os.path.join(prefix, libdir)
    assert f"LIBDIR = {expected!r}".replace("'", '"') in config
    #  The installed module loads the library by its name (here the build's, through
    #  LD_LIBRARY_PATH), and the installed examples use the installed module.
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = str(Path(os.environ["ZGM_LIBRARY"]).parent)
    env.pop("ZGM_LIBRARY", None)
    env["PYTHONPATH"] = str(module_dir)
    probe = subprocess.run([sys.executable, "-c", "import zgm; print(zgm.__file__); "
                            "print(zgm.User('probe').key)"], env=env, capture_output=True,
                           text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.startswith(str(module_dir))
    examples = dest / prefix.lstrip("/") / "share" / "doc" / "python3-zgm" / "examples"
    assert sorted(path.name for path in examples.iterdir()) == [
        "README.md", "group_server.py", "message_server.py", "user.py"]
    result = subprocess.run([sys.executable, str(examples / "user.py"), "--help"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("usage:"), result.stderr
