#  The Python module end to end in one process: a registry, group servers and users over tcp
#  loopback with CURVE keys in files - join, send and receive, asynchronous outcomes, paging
#  back to seq 1, exceptions with their codes, a send in doubt carrying its id, the owner's
#  calls, stats.
#
#  This Source Code Form is subject to the terms of the Mozilla Public
#  License, v. 2.0. If a copy of the MPL was not distributed with this
#  file, You can obtain one at http://mozilla.org/MPL/2.0/.

from __future__ import annotations

import datetime
import os
import re
import selectors
import signal
import subprocess
import sys
import time

import pytest

import zgm
from conftest import EXE_WRAPPER, SOURCE_ROOT, TcpProxy, eventually, scaled


def test_version_is_the_c_apis():
    header = (SOURCE_ROOT / "include" / "zgm.h").read_text()
    parts = [re.search(rf"#define ZGM_VERSION_{part} (\d+)", header).group(1)
             for part in ("MAJOR", "MINOR", "PATCH")]
    assert zgm.__version__ == ".".join(parts)
    assert zgm.version_info == tuple(int(part) for part in parts)


def test_keys_are_made_once_and_read_from_either_file_or_text(workdir):
    path = workdir / "alice.cert"
    key = zgm.keygen(path, "alice")
    assert len(key) == zgm.KEY_SIZE
    assert zgm.read_key(path) == key
    assert zgm.read_key(str(path) + "_secret") == key
    assert zgm.read_key(key) == key
    assert (os.stat(str(path) + "_secret").st_mode & 0o777) == 0o600
    assert zgm.paths.certificate_name(path) == "alice"
    with pytest.raises(zgm.Exists) as made:
        zgm.keygen(path)
    assert made.value.errno == zgm.ErrorCode.EEXISTS == 5
    notes = workdir / "notes.txt"  # any other file is not overwritten either
    notes.write_text("mine\n")
    with pytest.raises(zgm.Exists):
        zgm.keygen(notes)
    assert notes.read_text() == "mine\n" and not (workdir / "notes.txt_secret").exists()
    with pytest.raises(zgm.InvalidArgument) as bad:
        zgm.read_key("not a key")
    assert isinstance(bad.value, ValueError)
    assert bad.value.code == zgm.ErrorCode.EINVAL
    #  A user made with the key file is that key.
    with zgm.User("alice", path) as alice:
        assert alice.key == key
        assert alice.name == "alice"


def test_two_users_send_and_receive_bytes_and_text(cluster, workdir):
    cluster.add_server(groups=["general"])
    alice = cluster.user("alice", workdir / "alice.cert")
    bob = cluster.user("bob", workdir / "bob.cert")
    alice.join("general")
    bob.join("general")
    sent = alice.send("general", "héllo bob")
    assert sent.ok and sent.seq == 1 and sent.timestamp > 0
    assert re.fullmatch(r"[0-9a-f]{32}", sent.msg_id)
    alice.send("general", b"\x00\xffbinary")
    alice.send("general", bytearray(b"third"))
    got = [bob.recv(timeout=scaled(5)) for _ in range(3)]
    assert [msg.seq for msg in got] == [1, 2, 3]
    assert got[0].text == "héllo bob"
    assert got[0].body == "héllo bob".encode()
    assert got[0].sender == alice.key and got[0].sender_name == "alice"
    assert got[0].msg_id == sent.msg_id and got[0].group == "general"
    assert got[1].body == b"\x00\xffbinary"
    assert got[1].text == "\x00\ufffdbinary"  # an invalid byte shown, not raised
    assert abs(got[0].time - datetime.datetime.now(datetime.timezone.utc)) < \
        datetime.timedelta(minutes=5)
    assert bob.last_seq("general") == 3
    assert bob.recv(timeout=0) is None
    history = bob.fetch("general")
    assert [msg.body for msg in history] == [msg.body for msg in got]
    assert history.missed == 0 and history.more is False
    #  The registry lists the group with its server and members.
    groups = eventually(lambda: [g for g in bob.groups() if g.member_count == 2])
    assert [g.name for g in groups] == ["general"]
    assert groups[0].policy == zgm.Policy.OPEN
    assert bob.resolve("general").server_key == groups[0].server_key
    assert [g.name for g in bob.memberships()] == ["general"]
    members = bob.members("general")
    assert [(m.key, m.name) for m in members] == [(alice.key, "alice"), (bob.key, "bob")]
    assert {m.role for m in members} == {zgm.Role.MEMBER}
    #  Unfollowed: nothing arrives; followed again from seq 1: all of it again.
    bob.unfollow("general")
    alice.send("general", "four")
    assert bob.recv(timeout=0.5) is None
    bob.follow("general", 0)
    assert [bob.recv(timeout=scaled(5)).seq for _ in range(4)] == [1, 2, 3, 4]
    assert bob.recv(timeout=0.3) is None
    bob.unfollow("general")
    assert bob.follow_many({"general": 3}) == 1
    assert bob.recv(timeout=scaled(5)).seq == 4


def test_a_user_is_a_file_to_wait_on_readable_while_something_waits(cluster):
    cluster.add_server(groups=["general"])
    alice, bob = cluster.user("alice"), cluster.user("bob")
    alice.join("general")
    bob.join("general")
    with selectors.DefaultSelector() as selector:
        selector.register(bob, selectors.EVENT_READ)
        assert selector.select(timeout=0.3) == []
        alice.send("general", "hello")
        assert [key.fileobj for key, _ in selector.select(timeout=scaled(5))] == [bob]
        assert bob.recv(0).text == "hello"
        assert bob.recv(0) is None
        #  All taken: not readable any more.
        assert selector.select(timeout=0) == []
        #  An outcome makes it readable too.
        msg_id = bob.send_async("general", "from bob")
        assert selector.select(timeout=scaled(5))
        outcome = bob.sent(0) or bob.sent(timeout=scaled(5))
        assert outcome.msg_id == msg_id and outcome.ok


def test_async_sends_have_outcomes_in_order_and_refusals_say_why(cluster):
    cluster.add_server(groups=["fast"])
    alice = cluster.user("alice")
    alice.join("fast")
    ids = [alice.send_async("fast", f"message {i}") for i in range(500)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", msg_id) for msg_id in ids)
    alice.flush(timeout=scaled(10))
    outcomes = list(alice.outcomes())
    assert [o.msg_id for o in outcomes] == ids
    assert [o.seq for o in outcomes] == list(range(1, 501))
    assert all(o.ok and o.group == "fast" and o.exception() is None for o in outcomes)
    assert alice.sent(timeout=0) is None
    #  The same messages arrive live, in order.
    live = [alice.recv(timeout=scaled(5)) for _ in range(500)]
    assert [msg.text for msg in live] == [f"message {i}" for i in range(500)]
    #  A refused send: its outcome says so, and is the exception the send would have raised.
    refused_id = alice.send_async("nosuchgroup", "x")
    refused = alice.sent(timeout=scaled(6))
    assert refused.msg_id == refused_id and not refused.ok
    assert refused.error == zgm.ErrorCode.ENOTFOUND
    assert isinstance(refused.exception(), zgm.NotFound)
    with pytest.raises(zgm.NotFound):
        refused.check()
    #  Given ids are kept, and a repeated id is stored once.
    given = "0123456789abcdef0123456789abcdef"
    assert alice.send_async("fast", "once", msg_id=given) == given
    first = alice.sent(timeout=scaled(5)).check()
    again = alice.send("fast", "once", msg_id=given)
    assert again.seq == first.seq == 501


def test_fetch_pages_back_to_the_first_message_and_honours_bounds(cluster):
    cluster.add_server(groups=["history"])
    alice = cluster.user("alice")
    alice.join("history")
    for i in range(1, 96):
        alice.send_async("history", f"m{i}")
    alice.flush(timeout=scaled(10))
    assert all(o.ok for o in alice.outcomes())
    #  A chat opens on the newest ten and pages back, one fetch a page.
    pages = list(alice.pages("history", 10, newest=True))
    assert len(pages) == 10
    assert [len(page) for page in pages] == [10] * 9 + [5]
    assert [msg.seq for msg in pages[0]] == list(range(86, 96))
    assert pages[-1].more is False and pages[0].more is True
    assert [msg.seq for msg in alice.history("history", 10, newest=True)] == \
        list(range(95, 0, -1))
    assert [msg.seq for msg in alice.history("history", 7)] == list(range(1, 96))
    #  Bounds by seq, by count, by time (datetime or microseconds).
    middle = alice.fetch("history", after=10, before=21)
    assert [msg.seq for msg in middle] == list(range(11, 21))
    assert [msg.seq for msg in alice.fetch("history", limit=3)] == [1, 2, 3]
    newest = alice.fetch("history", limit=3, newest=True)
    assert [msg.seq for msg in newest] == [93, 94, 95] and newest.more
    fortieth = alice.fetch("history", after=39, limit=1)[0]
    #  (Messages stored in one commit may share a timestamp: the bounds are checked, not a
    #  count.)
    before_40 = alice.fetch("history", until=fortieth.timestamp)
    assert len(before_40) <= 39
    assert all(msg.timestamp < fortieth.timestamp for msg in before_40)
    since_40 = alice.fetch("history", since=fortieth.time)
    assert since_40[0].timestamp >= fortieth.timestamp and since_40[-1].seq == 95
    assert alice.fetch("history", since=datetime.datetime.now() +
                       datetime.timedelta(hours=1)) == []
    with pytest.raises(ValueError):
        list(alice.pages("history", 0))


def test_retention_is_reported_to_a_listener_who_was_away(cluster, workdir):
    server = cluster.add_server(groups=["short"])
    server.set_retention("short", max_count=5)
    alice = cluster.user("alice")
    alice.join("short")
    with cluster.user("bob", workdir / "bob.cert") as bob:
        bob.join("short")
    for i in range(1, 21):  # while bob is away
        alice.send_async("short", f"m{i}")
    alice.flush(timeout=scaled(10))
    assert all(outcome.ok for outcome in alice.outcomes())
    bob = cluster.user("bob", workdir / "bob.cert")
    bob.follow("short", 0)  # from where he was
    first = bob.recv(timeout=scaled(5))
    assert (first.seq, first.missed, first.text) == (16, 15, "m16")  # told, not skipped
    assert [bob.recv(timeout=scaled(5)).seq for _ in range(4)] == [17, 18, 19, 20]
    kept = bob.fetch("short")
    assert [msg.seq for msg in kept] == [16, 17, 18, 19, 20] and kept.missed == 15


def test_errors_are_exceptions_with_their_codes(cluster, workdir):
    cluster.add_server(groups=["open"], accept_new=False)
    alice = cluster.user("alice")
    cases = [
        (lambda: alice.join("nosuch"), zgm.NotFound, zgm.ErrorCode.ENOTFOUND),
        (lambda: alice.send("open", "x"), zgm.NotMember, zgm.ErrorCode.ENOTMEMBER),
        (lambda: alice.leave("open"), zgm.NotMember, zgm.ErrorCode.ENOTMEMBER),
        (lambda: alice.fetch("open"), zgm.NotMember, zgm.ErrorCode.ENOTMEMBER),
        (lambda: alice.send("open", b"x" * (zgm.MAX_BODY + 1)), zgm.TooLarge,
         zgm.ErrorCode.ETOOLARGE),
        (lambda: alice.create("new"), zgm.Unavailable, zgm.ErrorCode.EUNAVAILABLE),
        (lambda: alice.send("open", "x", msg_id="not-an-id"), zgm.InvalidArgument,
         zgm.ErrorCode.EINVAL),
        (lambda: zgm.User(""), zgm.InvalidArgument, zgm.ErrorCode.EINVAL),
        (lambda: zgm.Server("/proc/no/such/dir"), zgm.Storage, zgm.ErrorCode.ESTORAGE),
        (lambda: zgm.Registry().bind(cluster.endpoint), zgm.SystemFailure,
         zgm.ErrorCode.ESYSTEM),
    ]
    for call, cls, code in cases:
        with pytest.raises(cls) as raised:
            call()
        assert isinstance(raised.value, zgm.Error)
        assert raised.value.code == code and raised.value.errno == int(code)
        assert str(raised.value)  # the library's explanation
    alice.join("open")
    with pytest.raises(zgm.Already) as again:
        alice.join("open")
    assert again.value.errno == 6 and "already" in str(again.value)
    with pytest.raises(TypeError):
        alice.send("open", 42)
    #  No registry given; one where nobody listens, said within about a second.
    with zgm.User("alone") as alone:
        with pytest.raises(zgm.NotConnected):
            alone.groups()
        alone.connect("tcp://127.0.0.1:1", alone.key)
        alone.timeout = 10
        started = time.monotonic()
        with pytest.raises(zgm.Unreachable) as unreachable:
            alone.join("general")
        assert time.monotonic() - started < scaled(1.5)
        assert "tcp://127.0.0.1:1" in str(unreachable.value)
    #  A limit of the server.
    limited = cluster.add_server(groups=["small"])
    limited.set_limit(zgm.Limit.MEMBERS, 1)
    cluster.user("first").join("small")
    with pytest.raises(zgm.LimitReached):
        cluster.user("second").join("small")
    #  Every code has its class, the class stands for that code, and the classes are distinct.
    classes = {zgm.error_class(code) for code in zgm.ErrorCode if code != zgm.ErrorCode.OK}
    assert len(classes) == len(zgm.ErrorCode) - 1 and zgm.Error not in classes
    for code in zgm.ErrorCode:
        if code != zgm.ErrorCode.OK:
            assert zgm.error_class(code).code_of_class == code
    assert zgm.error_class(99) is zgm.Error


def test_a_send_whose_answer_is_lost_is_in_doubt_with_its_id_and_settles(cluster):
    server = zgm.Server()
    cluster.servers.append(server)
    cluster.registry.trust(server.key)
    server.add("lossy")
    proxy = TcpProxy(server.bind("tcp://127.0.0.1:*"))
    try:
        server.set_advertise(proxy.endpoint)
        server.connect(cluster.endpoint, cluster.key)
        alice = cluster.user("alice")
        alice.join("lossy")
        alice.timeout = 1.5
        proxy.swallow = True
        with pytest.raises(zgm.InDoubt) as doubt:
            alice.send("lossy", "maybe")
        msg_id = doubt.value.msg_id
        assert re.fullmatch(r"[0-9a-f]{32}", msg_id)
        assert msg_id in str(doubt.value)
        assert doubt.value.errno == zgm.ErrorCode.EINDOUBT == 14
        #  Asynchronously, the outcome is in doubt and carries the id.
        async_id = alice.send_async("lossy", "maybe too")
        outcome = alice.sent(timeout=scaled(6))
        assert outcome.msg_id == async_id and outcome.in_doubt
        assert isinstance(outcome.exception(), zgm.InDoubt)
        assert outcome.exception().msg_id == async_id
        #  Settled by sending again with the same ids: stored once each.
        proxy.swallow = False
        alice.timeout = scaled(8)
        assert alice.send("lossy", "maybe", msg_id=msg_id).seq in (1, 2)
        alice.send("lossy", "maybe too", msg_id=async_id)
        stored = alice.fetch("lossy")
        assert sorted(msg.text for msg in stored) == ["maybe", "maybe too"]
    finally:
        proxy.close()


def test_the_owner_decides_who_is_in(cluster):
    cluster.add_server(accept_new=True)
    alice, bob, carol = (cluster.user(name) for name in ("alice", "bob", "carol"))
    alice.create("club", zgm.Policy.MEMBERS)
    alice.join("club")
    with pytest.raises(zgm.Denied) as denied:
        bob.join("club")
    assert denied.value.errno == 15
    alice.add("club", bob.key)
    bob.join("club")
    alice.send("club", "welcome")
    assert bob.recv(timeout=scaled(5)).text == "welcome"
    members = bob.members("club")
    assert [(m.key, m.role) for m in members] == [(alice.key, zgm.Role.OWNER),
                                                 (bob.key, zgm.Role.MEMBER)]
    with pytest.raises(zgm.Denied):
        bob.add("club", carol.key)
    #  Removed: no longer receives, cannot fetch or join again.
    alice.remove("club", bob.key)
    alice.send("club", "bob is out")
    assert bob.recv(timeout=1) is None
    with pytest.raises(zgm.NotMember):
        bob.fetch("club")
    with pytest.raises(zgm.Denied):
        bob.join("club")
    #  Ownership is given only to a key that joined; handed on, the new owner opens the
    #  group and keeps ten messages.
    with pytest.raises(zgm.NotMember):
        alice.give("club", carol.key)
    alice.add("club", carol.key)
    carol.join("club")
    alice.give("club", carol.key)
    with pytest.raises(zgm.Denied):
        alice.set_policy("club", zgm.Policy.OPEN)
    carol.set_policy("club", zgm.Policy.OPEN)
    carol.set_retention("club", max_count=10, max_age=datetime.timedelta(days=1))
    bob.join("club")
    with pytest.raises(zgm.Exists):
        bob.create("club")


def test_stats_are_for_the_servers_key_and_count_what_happened(cluster, workdir):
    server_cert = workdir / "server.cert"
    server = cluster.add_server(groups=["counted"], key_file=server_cert)
    alice = cluster.user("alice")
    alice.join("counted")
    for _ in range(3):
        alice.send("counted", "one of three")
    endpoint = f"tcp://127.0.0.1:{cluster.port_of(server)}"
    with pytest.raises(zgm.Denied):
        alice.stats(endpoint, server_cert)
    operator = cluster.user("operator", server_cert)
    figures = operator.stats(endpoint, server_cert)
    assert figures["server"]["sends"] == 3
    assert figures["server"]["key"] == server.key
    assert figures["group/counted"]["messages"] == 3
    assert figures["group/counted"]["members"] == 1
    assert figures["server"]["rss_kib"] > 0
    #  An admin key may read the registry's.
    admin = cluster.user("admin")
    cluster.registry.add_admin(admin.key)
    registry = admin.stats(cluster.endpoint, cluster.registry_cert)
    assert registry["registry"]["groups"] == 1
    assert zgm.parse_stats("a\tb\t1\nbad line\nc\td\tx y\n") == {"a": {"b": 1},
                                                                 "c": {"d": "x y"}}


def test_objects_close_with_their_block_and_refuse_calls_after(cluster):
    with zgm.User("brief") as user:
        assert not user.closed
    assert user.closed
    user.close()  # twice is fine
    with pytest.raises(ValueError):
        user.join("general")
    registry = zgm.Registry()
    registry.close()
    with pytest.raises(ValueError):
        registry.bind("tcp://127.0.0.1:*")
    with pytest.raises(ValueError):
        cluster.user("someone").timeout = 0


def test_a_message_taken_out_lives_on_after_its_user(cluster):
    cluster.add_server(groups=["noisy"])
    with cluster.user("alice") as alice:
        alice.join("noisy")
        for _ in range(50):
            alice.send_async("noisy", "unread")
        alice.flush(timeout=scaled(5))
        kept = alice.recv(timeout=scaled(5))
    assert kept.text == "unread"


def test_ctrl_c_interrupts_a_wait_for_ever():
    #  CZMQ would take SIGINT for itself; the module leaves it to Python.
    code = ("import zgm, sys\n"
            "user = zgm.User('waiting')\n"
            "print('waiting', flush=True)\n"
            "try:\n"
            "    user.recv()\n"
            "except KeyboardInterrupt:\n"
            "    print('interrupted', flush=True)\n"
            "    sys.exit(3)\n")
    process = subprocess.Popen(EXE_WRAPPER + [sys.executable, "-c", code],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == "waiting\n"
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        assert process.wait(scaled(5)) == 3
        assert time.monotonic() - started < scaled(1.5)
        assert process.stdout.read() == "interrupted\n"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()


def test_a_group_server_restarted_on_its_store_is_listed_again(cluster, workdir):
    store, key = workdir / "store", workdir / "server.cert"
    first = cluster.add_server(groups=["kept"], data_dir=store, key_file=key)
    cluster.servers.remove(first)
    first.close()
    cluster.add_server(data_dir=store, key_file=key)  # serves "kept" from its store
    watcher = cluster.user("watcher")
    watcher.join("kept")  # the registry has waited for every group server to register


def test_a_group_whose_server_stopped_is_away_not_unknown(cluster):
    server = cluster.add_server(groups=["gone"])
    alice = cluster.user("alice")
    where = alice.resolve("gone")
    cluster.servers.remove(server)
    server.close()
    #  A user who never saw the group asks for it: its server is away (worth waiting for),
    #  which is not "no such group".
    bob = cluster.user("bob", timeout=scaled(0.3))
    for call in (lambda: bob.resolve("gone"), lambda: bob.join("gone")):
        with pytest.raises(zgm.Unavailable) as away:
            call()
        assert away.value.code == zgm.ErrorCode.EUNAVAILABLE
        assert "stopped" in str(away.value) and where.endpoint in str(away.value)
    bob.timeout = scaled(10)  # rides out the registry's first expiry, as in the C test
    with pytest.raises(zgm.NotFound):
        bob.resolve("never")


def exits_cleanly(script: str) -> None:
    """Runs script in a Python of its own after a registry, a group server with 'general'
    and a user of it that joined, all left open: it must print its last line and exit 0."""
    code = ("import zgm\n"
            "registry = zgm.Registry()\n"
            "port = registry.bind('tcp://127.0.0.1:*')\n"
            "server = zgm.Server()\n"
            "registry.trust(server.key)\n"
            "server.add('general')\n"
            "server.bind('tcp://127.0.0.1:*')\n"
            "server.connect(f'tcp://127.0.0.1:{port}', registry.key)\n"
            "user = zgm.User('left', registry=f'tcp://127.0.0.1:{port}',\n"
            "                registry_key=registry.key)\n"
            "user.join('general')\n" + script + "print('done', flush=True)\n")
    result = subprocess.run(EXE_WRAPPER + [sys.executable, "-c", code], capture_output=True,
                            text=True, timeout=scaled(30))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"


def test_objects_left_open_are_closed_at_exit(workdir):
    exits_cleanly("user.send_async('general', 'unread')\n")


def test_objects_in_use_by_a_daemon_thread_at_exit_close_cleanly(workdir):
    # The object is closed at exit while a daemon thread is in a send: the close waits for
    # that call (the C object destroyed under it aborted the process, 5 runs in 6).
    code = ("import threading, time\n"
            "sent = []\n"
            "def pump():\n"
            "    while True:\n"
            "        user.send('general', 'tick')\n"
            "        sent.append(1)\n"
            "threading.Thread(target=pump, daemon=True).start()\n"
            "while len(sent) < 20:\n"
            "    time.sleep(0.01)\n")
    for _ in range(3):
        exits_cleanly(code)


def test_two_threads_on_one_user_take_turns(cluster):
    # Two threads' calls on one user are made one after the other (they deadlocked).
    import threading
    cluster.add_server(groups=["general"])
    user = cluster.user("shared")
    user.join("general")
    failures = []

    def work():
        try:
            for i in range(20):
                user.send("general", f"turn {i}")
                user.fetch("general", limit=3)
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(scaled(30))
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []


def test_arguments_the_c_library_would_misread_are_refused(cluster, workdir):
    cluster.add_server(groups=["general"])
    user = cluster.user("careful")
    user.join("general")
    # An embedded NUL named another group, file or key (the C string ends there).
    with pytest.raises(ValueError, match="embedded null byte"):
        user.join("general\0other")
    with pytest.raises(ValueError, match="embedded null byte"):
        user.send("general\0junk", "x")
    with pytest.raises(ValueError, match="embedded null byte"):
        zgm.keygen(str(workdir / "kg\0zzz"))
    assert not (workdir / "kg").exists()
    # Numbers past what the C API takes were wrapped by ctypes.
    before = user.timeout
    with pytest.raises(ValueError):
        user.timeout = 2200000  # past an int of milliseconds
    assert user.timeout == before
    with pytest.raises(ValueError):
        user.follow("general", 2**64)
    with pytest.raises(ValueError):
        user.follow("general", -1)
    with pytest.raises(ValueError):
        user.fetch("general", after=-1)
    with pytest.raises(ValueError):
        user.fetch("general", limit=-1)
    with pytest.raises(ValueError):
        user.recv(float("nan"))
    # An over-long message id is the library's refusal, as a short bad one is.
    with pytest.raises(zgm.InvalidArgument):
        user.send("general", "a", msg_id="0" * 34)
    # A key file whose name is not UTF-8, given as a str, as os.fsdecode gives it.
    odd = workdir / os.fsdecode(b"\xff.cert")
    zgm.keygen(odd)
    assert zgm.read_key(os.fsdecode(bytes(odd))) == zgm.read_key(odd)


def test_a_library_that_cannot_load_is_an_import_error_saying_what_to_do(workdir):
    env = dict(os.environ, ZGM_LIBRARY=str(workdir / "no-such-libzgm.so.0"))
    result = subprocess.run(EXE_WRAPPER + [sys.executable, "-c", "import zgm"], env=env,
                            capture_output=True, text=True, timeout=scaled(30))
    assert result.returncode == 1
    assert "ImportError: zgm: cannot load the C library libzgm.so.0" in result.stderr
    assert "no-such-libzgm.so.0" in result.stderr and "set ZGM_LIBRARY" in result.stderr
