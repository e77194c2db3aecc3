#  zgm._core - the registry, group server and user objects over the C API.
#
#  This Source Code Form is subject to the terms of the Mozilla Public
#  License, v. 2.0. If a copy of the MPL was not distributed with this
#  file, You can obtain one at http://mozilla.org/MPL/2.0/.
"""The classes and functions :mod:`zgm` exports; see its documentation."""

from __future__ import annotations

import atexit
import ctypes
import datetime
import enum
import math
import os
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Mapping, Union

try:
    from typing import Self
except ImportError:  # Python before 3.11
    Self = "_Object"  # type: ignore[assignment]

from ._lib import FetchStruct, GroupStruct, SentStruct, lib, libc
from .errors import Error, ErrorCode, make_error

#  The limits and defaults of include/zgm.h.
MAX_NAME = 64
"""Group and display names: at most this many bytes (UTF-8)."""
MAX_BODY = 65536
"""One message body: at most this many bytes."""
KEY_SIZE = 40
"""A public key's Z85 text: this many characters."""
MSG_ID_SIZE = 32
"""A message id: this many hex digits."""
DEFAULT_TIMEOUT = 5.0
"""Seconds a user's call waits for a server unless :attr:`User.timeout` says otherwise."""
REGISTRY_ENDPOINT = "tcp://127.0.0.1:5570"
"""The registry's default endpoint, for servers and users."""
REGISTRY_BIND = "tcp://*:5570"
"""The registry's default bind endpoint."""
FOLLOW_NOW = 2**64 - 1
"""``after_seq`` for :meth:`User.follow`: only messages sent from now on."""

KeyLike = Union[str, "os.PathLike[str]"]
"""A public key: its 40 characters of Z85 text, or a certificate file (either of a pair)."""
PathLike = Union[str, "os.PathLike[str]"]
Body = Union[bytes, bytearray, memoryview, str]
"""A message body: bytes, or str (sent as UTF-8)."""
Instant = Union[int, datetime.datetime]
"""A point in time: microseconds since the epoch (UTC), or a datetime (naive: local time)."""
Duration = Union[int, float, datetime.timedelta]
"""A length of time: seconds, or a timedelta."""

#  Calls that wait longer than this are made in slices, so that Ctrl-C (KeyboardInterrupt)
#  and other signal handlers run within a fifth of a second.
_SLICE_MS = 200


class Policy(enum.IntEnum):
    """Who may join a group (``zgm_policy_t``)."""

    OPEN = 0
    """Any authenticated user (the default)."""
    MEMBERS = 1
    """Only keys the owner added."""


class Role(enum.IntEnum):
    """A member's role in a group (``ZGM_ROLE_*``)."""

    MEMBER = 0
    OWNER = 1
    """The owner, a member."""
    ADDED = 2
    """Added by the owner, not joined (yet); no name."""


class Limit(enum.IntEnum):
    """A server's limits (``zgm_limit_t``), for :meth:`Registry.set_limit` and
    :meth:`Server.set_limit`; docs/security.md gives each one's default."""

    RATE = 1
    """Requests per second per user key (bursts of twice that)."""
    CONNECTIONS = 2
    """Concurrent connections; set before binding."""
    FRAME = 3
    """Bytes of one frame the server reads; set before binding."""
    GROUPS = 4
    """Groups a group server hosts, or the registry lists."""
    GROUPS_PER_OWNER = 5
    """Groups one key may own on a group server."""
    MEMBERS = 6
    """Members (and, apart, keys added) per group."""
    FOLLOWS = 7
    """Groups one key may follow on a group server."""
    FOLLOWER_BYTES = 8
    """Bytes pushed to a follower beyond what it acknowledged."""
    RECENT_BYTES = 9
    """Bytes of the newest messages a group server keeps in memory for fetches."""
    UNREAD_BYTES = 10
    UNREAD_TOTAL = 11
    """Bytes sent to one connection that it has not shown it read: a group server pushes it
    nothing from half of them, and past them its requests are answered 429."""


#  -----------------------------------------------------------------------------------------
#  Conversions

def _last_error(msg_id: str | None = None) -> Error:
    reason = lib.zgm_strerror()
    return make_error(lib.zgm_errno(), reason.decode("utf-8", "replace") if reason else "",
                      msg_id)


def _check(rc: int) -> int:
    if rc == -1:
        raise _last_error()
    return rc


def _no_nul(value: bytes, what: str) -> bytes:
    """The C library reads a string up to its first NUL: one inside would name another
    group, key or file."""
    if b"\0" in value:
        raise ValueError(f"embedded null byte in a {what}")
    return value


def _text(value: str, what: str = "name") -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"a {what} is a str, not {type(value).__name__}")
    return _no_nul(value.encode("utf-8"), what)


def _path(value: PathLike) -> bytes:
    return _no_nul(os.fsencode(value), "path")


def _key(value: KeyLike) -> bytes:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"a key is a str or a path, not {type(value).__name__}")
    #  A file's name as the file system has it (a str path that is not UTF-8 too); a key's
    #  40 characters are ASCII either way.
    return _no_nul(os.fsencode(value), "key")


def _optional_key(value: KeyLike | None) -> bytes | None:
    return None if value is None else _key(value)


def _body(value: Body) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"a message body is bytes or str, not {type(value).__name__}")


def _decode(value: bytes | None) -> str:
    return value.decode("utf-8", "replace") if value else ""


_MAX_MS = 2**31 - 1  # the C API's int


def _msg_id_buffer(msg_id: str | None) -> ctypes.Array:
    """A message id's buffer for the C API, which writes the id it made into an empty one."""
    given = _text(msg_id, "message id") if msg_id else b""
    if len(given) > MSG_ID_SIZE:  # (ctypes would raise its own ValueError)
        raise make_error(ErrorCode.EINVAL, f"a message id is {MSG_ID_SIZE} hex digits, not "
                         f"{len(given)} characters")
    return ctypes.create_string_buffer(given, MSG_ID_SIZE + 1)


def _ms(seconds: float | None) -> int:
    """Seconds as the C API's milliseconds; None (or infinity: forever) as -1."""
    if seconds is None or seconds == math.inf:
        return -1
    if not seconds >= 0:  # a negative one, or NaN
        raise ValueError("a timeout is 0 or more seconds, or None for no limit")
    ms = int(round(seconds * 1000))
    if ms > _MAX_MS:
        raise ValueError(f"a timeout is at most {_MAX_MS // 1000} seconds, or None for no limit")
    return ms


def _duration_ms(value: Duration, most: int = 2**64 - 1) -> int:
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    if not value >= 0:  # a negative one, or NaN
        raise ValueError("a duration is 0 or more")
    ms = round(value * 1000) if value != math.inf else most + 1
    if ms > most:
        raise ValueError(f"a duration is at most {most // 1000} seconds")
    return int(ms)


def _uint(value: int, bits: int, what: str) -> int:
    """An int the C API takes as an unsigned of that many bits (ctypes would wrap it)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"a {what} is an int, not {type(value).__name__}")
    if not 0 <= value < 2**bits:
        raise ValueError(f"a {what} is 0 to {2**bits - 1}, not {value}")
    return value


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def _us(value: Instant | None) -> int:
    """A point in time as microseconds since the epoch (0 for None)."""
    if value is None:
        return 0
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.astimezone()  # naive: local time
        return max(0, (value - _EPOCH) // datetime.timedelta(microseconds=1))
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("a time is a datetime or an int of microseconds since the epoch")
    if value < 0:
        raise ValueError("a time is 0 or more microseconds since the epoch")
    return value


def to_datetime(timestamp_us: int) -> datetime.datetime:
    """A zgm timestamp (microseconds since the epoch, UTC) as an aware datetime in UTC."""
    return _EPOCH + datetime.timedelta(microseconds=timestamp_us)


def _waiting(timeout: float | None, attempt: Callable[[int], bool]) -> bool:
    """Calls attempt(ms) with slices of the timeout until it returns True (then True) or the
    timeout is over (then False). attempt is given 0 for a timeout of 0."""
    if timeout == math.inf:  # no limit, as None
        timeout = None
    if timeout is not None and not timeout >= 0:  # a negative one, or NaN
        raise ValueError("a timeout is 0 or more seconds, or None for no limit")
    if timeout is not None and timeout <= 0:
        return attempt(0)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = _SLICE_MS if deadline is None else int((deadline - time.monotonic()) * 1000)
        if attempt(max(0, min(left, _SLICE_MS))):
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False


#  -----------------------------------------------------------------------------------------
#  Values

@dataclass(frozen=True)
class Message:
    """One message of a group, as its group server stored it.

    Attributes:
        group: the group's name.
        seq: the group's sequence number, gapless from 1.
        timestamp: when the group server stored it, microseconds since the epoch (UTC).
        sender: the sender's key (its public key, 40 characters).
        sender_name: the display name the sender's key had in the group when it
            sent it: the name it joined with (kept until it leaves and joins again).
        msg_id: the id the sender gave it, 32 hex digits.
        body: the body, bytes.
        missed: for a live message, how many messages of the group just before this one the
            user will never get (retention dropped them while it was away); 0 almost always.
    """

    group: str
    seq: int
    timestamp: int
    sender: str
    sender_name: str
    msg_id: str
    body: bytes
    missed: int = 0

    @property
    def text(self) -> str:
        """The body as text: UTF-8, with any invalid byte shown as U+FFFD."""
        return self.body.decode("utf-8", "replace")

    @property
    def time(self) -> datetime.datetime:
        """The timestamp as an aware datetime in UTC."""
        return to_datetime(self.timestamp)

    @classmethod
    def _from_c(cls, msg: int) -> Message:
        size = lib.zgm_msg_size(msg)
        return cls(group=_decode(lib.zgm_msg_group(msg)), seq=lib.zgm_msg_seq(msg),
                   timestamp=lib.zgm_msg_timestamp(msg), sender=_decode(lib.zgm_msg_sender(msg)),
                   sender_name=_decode(lib.zgm_msg_sender_name(msg)),
                   msg_id=_decode(lib.zgm_msg_id(msg)),
                   body=ctypes.string_at(lib.zgm_msg_body(msg), size) if size else b"",
                   missed=lib.zgm_msg_missed(msg))


class Messages(list):
    """The messages a fetch returned, in sequence order: a list of :class:`Message`.

    Attributes:
        missed: how many of the messages asked for retention had already dropped.
        more: True if more messages match beyond the limit: newer ones, or for a fetch of the
            newest, older ones (fetch again with ``before=self[0].seq`` to page backward).
    """

    def __init__(self, messages: Iterable[Message] = (), missed: int = 0,
                 more: bool = False) -> None:
        super().__init__(messages)
        self.missed: int = missed
        self.more: bool = more

    def __repr__(self) -> str:
        return f"Messages({list.__repr__(self)}, missed={self.missed}, more={self.more})"


@dataclass(frozen=True)
class Group:
    """A group, as the registry lists it.

    Attributes:
        id: the group's id, 32 hex digits.
        name: its name.
        endpoint: the group server that serves it.
        server_key: that group server's public key.
        policy: who may join (:class:`Policy`).
        member_count: its member count, as last registered.
    """

    id: str
    name: str
    endpoint: str
    server_key: str
    policy: Policy
    member_count: int

    @classmethod
    def _from_c(cls, group: GroupStruct) -> Group:
        return cls(id=_decode(group.id), name=_decode(group.name),
                   endpoint=_decode(group.endpoint), server_key=_decode(group.server_key),
                   policy=_enum(Policy, group.policy),
                   member_count=group.member_count)


@dataclass(frozen=True)
class Member:
    """A member of a group (or a key its owner added that has not joined).

    Attributes:
        key: its public key.
        name: its display name (empty for a key added that has not joined).
        role: :class:`Role`.
    """

    key: str
    name: str
    role: Role


@dataclass(frozen=True)
class Outcome:
    """What became of a send: stored, refused, or in doubt.

    Attributes:
        msg_id: the message's id, 32 hex digits.
        group: the group it was sent to.
        seq: its sequence number in the group, when stored (else 0).
        timestamp: when it was stored, microseconds since the epoch (else 0).
        error: :attr:`ErrorCode.OK` when stored; else why not - refused (not stored), or
            :attr:`ErrorCode.EINDOUBT` (send again with the same ``msg_id`` to settle it).
        reason: what went wrong, for people (empty when stored).
    """

    msg_id: str
    group: str
    seq: int
    timestamp: int
    error: ErrorCode | int = ErrorCode.OK
    reason: str = ""

    @property
    def ok(self) -> bool:
        """True when the message is stored."""
        return self.error == ErrorCode.OK

    @property
    def in_doubt(self) -> bool:
        """True when no answer came: it may be stored; send it again with its id."""
        return self.error == ErrorCode.EINDOUBT

    @property
    def time(self) -> datetime.datetime:
        """The timestamp as an aware datetime in UTC (the epoch when not stored)."""
        return to_datetime(self.timestamp)

    def exception(self) -> Error | None:
        """The exception this outcome stands for (an :class:`InDoubt` carries the id), or
        None when the message is stored."""
        if self.ok:
            return None
        return make_error(self.error, self.reason, self.msg_id)

    def check(self) -> Outcome:
        """Returns the outcome if the message is stored, else raises its exception."""
        error = self.exception()
        if error is not None:
            raise error
        return self


def _enum(kind, value: int):
    try:
        return kind(value)
    except ValueError:  # a value of a newer library
        return value


#  -----------------------------------------------------------------------------------------
#  Keys and the library

def keygen(path: PathLike, name: str | None = None) -> str:
    """Makes a new key pair at ``path`` (the public certificate) and ``path_secret`` (both
    keys, mode 0600), with ``name`` in its metadata when given; returns the public key.

    Raises:
        Exists: there is a key pair or any other file at ``path`` already: nothing is
            overwritten.
    """
    _check(lib.zgm_keygen(_path(path), None if name is None else _text(name)))
    return read_key(path)


def read_key(path_or_key: KeyLike) -> str:
    """The public key (40 characters of Z85) of a certificate file (either file of a pair),
    or of a key given as its text (checked).

    Raises:
        InvalidArgument: neither a readable certificate nor a key.
    """
    key = ctypes.create_string_buffer(KEY_SIZE + 1)
    _check(lib.zgm_key_read(_key(path_or_key), key))
    return key.value.decode("ascii")


def set_verbose(verbose: bool = True) -> None:
    """Prints every notable event of the registries, group servers and users of this process
    to stderr (True), or not (False, the default)."""
    lib.zgm_set_verbose(1 if verbose else 0)


#  -----------------------------------------------------------------------------------------
#  The objects

_live: weakref.WeakSet[_Object] = weakref.WeakSet()


class _Object:
    """An object of the C API: closed by :meth:`close`, ``with``, or when collected."""

    _destroy: Callable | None = None
    _kind = "object"
    _close_order = 0  # at exit: users first, then group servers, then registries

    def __init__(self, pointer: int | None) -> None:
        if not pointer:
            raise _last_error()
        self._pointer = ctypes.c_void_p(pointer)
        self._lock = threading.RLock()
        _live.add(self)

    def _locked(self, function: Callable, *args: object) -> object:
        """function(the C object, *args) under the object's lock: a close waits for a call
        under way on another thread (the C object destroyed under it aborted the process, at
        exit with a daemon thread sending), and two threads' calls take turns (they
        deadlocked); a waiting call holds it a slice at a time."""
        with self._lock:
            return function(self._handle, *args)

    @property
    def _handle(self) -> ctypes.c_void_p:
        if not self._pointer:
            raise ValueError(f"operation on a closed zgm.{self._kind}")
        return self._pointer

    @property
    def closed(self) -> bool:
        """True once closed."""
        return not getattr(self, "_pointer", None)

    def close(self) -> None:
        """Stops it and frees it; safe to call twice. Every call after it raises ValueError."""
        pointer = getattr(self, "_pointer", None)
        if not pointer:
            return
        with self._lock:
            if self._pointer:
                type(self)._destroy(ctypes.byref(self._pointer))
                self._pointer = ctypes.c_void_p()
                _live.discard(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone already
            pass


@atexit.register
def _close_everything() -> None:
    for obj in sorted(list(_live), key=lambda o: o._close_order):
        obj.close()


class Registry(_Object):
    """The registry: the live list of groups and where each is served.

    ::

        with zgm.Registry("registry.cert") as registry:
            registry.trust_dir("servers")
            port = registry.bind("tcp://*:5570")
            ...     # runs in its own thread until closed

    Args:
        key_file: its key pair's certificate file (made there when missing). Without it, a key
            pair that lives as long as the object.
        insecure: speak PLAIN instead of CURVE: no encryption, keys stated and not proven.
            For tests and benchmarks on a trusted host only.
    """

    _destroy = lib.zgm_registry_destroy
    _kind = "Registry"
    _close_order = 2

    def __init__(self, key_file: PathLike | None = None, *, insecure: bool = False) -> None:
        super().__init__(lib.zgm_registry_new())
        try:
            if key_file is not None:
                self._call(lib.zgm_registry_set_key, _path(key_file))
            if insecure:
                self._call(lib.zgm_registry_set_insecure, 1)
        except Error:
            self.close()  # a failed constructor leaves nothing running
            raise

    def _call(self, function, *args) -> int:
        return _check(self._locked(function, *args))

    @property
    def key(self) -> str:
        """Its public key (40 characters)."""
        return _decode(self._locked(lib.zgm_registry_key))

    def trust(self, key: KeyLike) -> None:
        """Trusts a group server's key (its text, or a certificate file) to register groups."""
        self._call(lib.zgm_registry_trust, _key(key))

    def trust_dir(self, directory: PathLike) -> None:
        """Trusts every group server whose certificate is in ``directory``; read again as soon
        as it changes, and every few seconds."""
        self._call(lib.zgm_registry_trust_dir, _path(directory))

    def add_admin(self, key: KeyLike) -> None:
        """Lets a key read the registry's figures (:meth:`User.stats`), as its own key may."""
        self._call(lib.zgm_registry_add_admin, _key(key))

    def bind(self, endpoint: str = REGISTRY_BIND) -> int:
        """Binds an endpoint (``tcp://*:5570``, ``tcp://127.0.0.1:*``, ``inproc://...``);
        returns the bound TCP port (0 for other transports).

        Raises:
            SystemFailure: the port is in use.
            InvalidArgument: a malformed endpoint.
        """
        return self._call(lib.zgm_registry_bind, _text(endpoint, "endpoint"))

    def set_expiry(self, seconds: Duration) -> None:
        """Drops a group server silent for this long from the list (default 3 s)."""
        self._call(lib.zgm_registry_set_expiry, _duration_ms(seconds, _MAX_MS))

    def set_limit(self, limit: Limit, value: int) -> None:
        """Sets one of its limits (RATE, CONNECTIONS, FRAME, GROUPS)."""
        self._call(lib.zgm_registry_set_limit, int(limit), _uint(value, 64, "limit"))


class Server(_Object):
    """A group server: hosts groups, their members and messages.

    ::

        with zgm.Server("/var/lib/zgm", key_file="server.cert") as server:
            server.add("general")
            server.bind("tcp://*:*")
            server.connect("tcp://registry.lan:5570", registry_key="registry.cert")

    Args:
        data_dir: the store's directory (created if missing; SQLite ``zgm.db``); None: a
            volatile store in memory. Groups and members already in the store are served again.
        key_file: its key pair's certificate file (made there when missing). Without it, a key
            pair that lives as long as the object.
        insecure: speak PLAIN instead of CURVE, as :class:`Registry`.

    Raises:
        Storage: the store cannot be opened, or another group server has the directory.
    """

    _destroy = lib.zgm_server_destroy
    _kind = "Server"
    _close_order = 1

    def __init__(self, data_dir: PathLike | None = None, key_file: PathLike | None = None, *,
                 insecure: bool = False) -> None:
        super().__init__(lib.zgm_server_new(None if data_dir is None else _path(data_dir)))
        try:
            if key_file is not None:
                self._call(lib.zgm_server_set_key, _path(key_file))
            if insecure:
                self._call(lib.zgm_server_set_insecure, 1)
        except Error:
            self.close()
            raise

    def _call(self, function, *args) -> int:
        return _check(self._locked(function, *args))

    @property
    def key(self) -> str:
        """Its public key (40 characters)."""
        return _decode(self._locked(lib.zgm_server_key))

    def add(self, group: str, owner: KeyLike | None = None,
            policy: Policy = Policy.OPEN) -> None:
        """Hosts a group (created in the store if new) with an owner (a key or a certificate
        file; None: none) and a policy. For a group that exists, a given owner replaces the
        stored one; the policy is then the owner's to change."""
        self._call(lib.zgm_server_add, _text(group), _optional_key(owner), int(policy))

    def bind(self, endpoint: str = "tcp://*:*") -> int:
        """Binds the endpoint users reach it at; returns the bound TCP port (0 otherwise)."""
        return self._call(lib.zgm_server_bind, _text(endpoint, "endpoint"))

    def set_advertise(self, endpoint: str) -> None:
        """The endpoint the registry hands to users (default: the bound one, with a wildcard
        address replaced by the local address that reaches the registry)."""
        self._call(lib.zgm_server_set_advertise, _text(endpoint, "endpoint"))

    def set_accept_new(self, accept_new: bool = True) -> None:
        """Whether the registry may place new groups here (:meth:`User.create`)."""
        self._call(lib.zgm_server_set_accept_new, 1 if accept_new else 0)

    def set_heartbeat(self, seconds: Duration) -> None:
        """The interval between heartbeats to the registry (default 1 s)."""
        self._call(lib.zgm_server_set_heartbeat, _duration_ms(seconds, _MAX_MS))

    def set_durability(self, durability: str) -> None:
        """``"full"`` (fsync every commit, the default) or ``"normal"``; before :meth:`add`."""
        self._call(lib.zgm_server_set_durability, _text(durability, "durability"))

    def add_admin(self, key: KeyLike) -> None:
        """Lets a key read the group server's figures (:meth:`User.stats`)."""
        self._call(lib.zgm_server_add_admin, _key(key))

    def set_limit(self, limit: Limit, value: int) -> None:
        """Sets one of its limits."""
        self._call(lib.zgm_server_set_limit, int(limit), _uint(value, 64, "limit"))

    def set_retention(self, group: str | None = None, *, max_count: int = 0,
                      max_bytes: int = 0, max_age: Duration = 0) -> None:
        """How many messages, bytes of bodies and how much age (seconds or a timedelta) a
        group keeps, oldest dropped first (0: no limit). ``group`` None sets the server's
        default, which also bounds what each group's owner may set."""
        self._call(lib.zgm_server_set_retention, None if group is None else _text(group),
                   max_count, max_bytes, _duration_ms(max_age))

    def connect(self, endpoint: str = REGISTRY_ENDPOINT,
                registry_key: KeyLike | None = None) -> None:
        """Registers every hosted group with the registry (whose public key is
        ``registry_key``; None when insecure) and keeps them alive.

        Raises:
            Exists: a name is held by another live group server.
            Denied: the registry does not trust this server's key.
            Timeout: the registry did not answer in time (the server keeps trying).
        """
        self._call(lib.zgm_server_connect, _text(endpoint, "endpoint"),
                   _optional_key(registry_key))


class User(_Object):
    """A user: joins groups, sends, fetches, and receives live messages.

    ::

        with zgm.User("alice", "alice.cert", registry="tcp://127.0.0.1:5570",
                      registry_key="registry.cert") as alice:
            alice.join("general")
            alice.send("general", "hello")
            for msg in alice.messages(timeout=10):
                print(msg.sender_name, msg.text)

    A user is meant for one thread at a time (as the C object): two threads' calls on it take
    turns. Another thread that does not want to wait needs its own.

    Args:
        name: its display name (1 to 64 bytes of UTF-8 without control characters
            or '"').
        key_file: its key pair's certificate file (made there when missing), so separate runs
            act as the same user. Without it, a key pair that lives as long as the object.
        registry: the registry's endpoint; when given, :meth:`connect` is called with it.
        registry_key: the registry's public key (its text or certificate file); None when
            insecure.
        insecure: speak PLAIN to servers started insecure.
        timeout: seconds each call waits for a server (default 5).
    """

    _destroy = lib.zgm_user_destroy
    _kind = "User"
    _close_order = 0

    def __init__(self, name: str, key_file: PathLike | None = None, *,
                 registry: str | None = None, registry_key: KeyLike | None = None,
                 insecure: bool = False, timeout: float | None = None) -> None:
        if key_file is None:
            pointer = lib.zgm_user_new(_text(name))
        else:
            pointer = lib.zgm_user_new_with_key(_text(name), _path(key_file))
        super().__init__(pointer)
        self._timeout = DEFAULT_TIMEOUT
        try:
            if insecure:
                self._call(lib.zgm_user_set_insecure, 1)
            if timeout is not None:
                self.timeout = timeout
            if registry is not None:
                self.connect(registry, registry_key)
        except Error:
            self.close()
            raise

    def _call(self, function, *args) -> int:
        return _check(self._locked(function, *args))

    @property
    def key(self) -> str:
        """The user's key: its public key, 40 characters."""
        return _decode(self._locked(lib.zgm_user_key))

    @property
    def name(self) -> str:
        """Its display name."""
        return _decode(self._locked(lib.zgm_user_name))

    @property
    def timeout(self) -> float:
        """Seconds each call waits for a server (default 5): a call ends at it, within a
        millisecond or two, and rides out a server restarting within that time. A send whose
        time runs out while an earlier send to the same group, given a longer timeout,
        still has no outcome ends with that one (sends are stored in order)."""
        return self._timeout

    @timeout.setter
    def timeout(self, seconds: float) -> None:
        ms = _ms(seconds)
        if ms <= 0:
            raise ValueError("a user's timeout is more than 0 seconds")
        self._locked(lib.zgm_user_set_timeout, ms)
        self._timeout = seconds

    def connect(self, endpoint: str = REGISTRY_ENDPOINT,
                registry_key: KeyLike | None = None) -> None:
        """Connects to the registry whose public key is ``registry_key`` (None when
        insecure). Returns at once: the first call that needs the registry says within about
        a second if it cannot be reached (:class:`Unreachable`), and why."""
        self._call(lib.zgm_user_connect, _text(endpoint, "endpoint"),
                   _optional_key(registry_key))

    def _group_array(self, function, *args) -> list[Group]:
        count = ctypes.c_size_t(0)
        array = self._locked(function, *args, ctypes.byref(count))
        if not array:
            raise _last_error()
        try:
            return [Group._from_c(array[i]) for i in range(count.value)]
        finally:
            libc.free(ctypes.cast(array, ctypes.c_void_p))

    def groups(self) -> list[Group]:
        """Every live group, in name order, as the registry lists it."""
        return self._group_array(lib.zgm_user_groups)

    def memberships(self) -> list[Group]:
        """Every group the user is a member of, on every live group server, in name order.
        Group servers that do not answer are skipped."""
        return self._group_array(lib.zgm_user_memberships)

    def resolve(self, group: str) -> Group:
        """Where one group is served.

        Raises:
            NotFound: no such group.
            Unavailable: the group's server is away - it stopped, fell silent or lost the
                registry's trust (the reason says which, and how long ago).
        """
        info = GroupStruct()
        self._call(lib.zgm_user_resolve, _text(group), ctypes.byref(info))
        return Group._from_c(info)

    def create(self, group: str, policy: Policy = Policy.OPEN) -> None:
        """Asks the registry to create a group, owned by this user, on a group server that
        accepts new groups.

        Raises:
            Exists: the name is taken.
            Unavailable: no group server takes new groups.
        """
        self._call(lib.zgm_user_create, _text(group), int(policy))

    def join(self, group: str) -> None:
        """Joins a group and follows it: its new messages arrive through :meth:`recv`.

        Raises:
            Already: a member already.
            NotFound: no such group.
            Unavailable: the group's server is away (stopped, silent or no longer trusted).
            Denied: a members-only group that the owner has not added this user to.
        """
        self._call(lib.zgm_user_join, _text(group))

    def leave(self, group: str) -> None:
        """Leaves a group.

        Raises:
            NotMember: not a member.
        """
        self._call(lib.zgm_user_leave, _text(group))

    def follow(self, group: str, after_seq: int = FOLLOW_NOW) -> None:
        """Follows a group the user is a member of (joined earlier, maybe by another process
        with the same key): messages with seq > ``after_seq`` arrive through :meth:`recv`
        (:data:`FOLLOW_NOW`, the default: only messages sent from now). A group followed
        already, or unfollowed while messages of it still wait to be read, goes on from the
        last message handed over when that is later: no message comes twice."""
        self._call(lib.zgm_user_follow, _text(group), _uint(after_seq, 64, "seq"))

    def follow_many(self, groups: Mapping[str, int] | Iterable[str]) -> int:
        """Follows several groups at once (one request per group server for each 2,500 of
        its groups): a mapping of group to ``after_seq``, or group names (each from now).
        Returns how many it follows; those that could not be followed are skipped.

        Raises:
            Error: none could be followed.
        """
        if isinstance(groups, Mapping):
            names, seqs = list(groups.keys()), [groups[name] for name in groups]
        else:
            names = list(groups)
            seqs = [FOLLOW_NOW] * len(names)
        if not names:
            return 0
        c_names = (ctypes.c_char_p * len(names))(*[_text(name) for name in names])
        c_seqs = (ctypes.c_uint64 * len(names))(*seqs)
        return self._call(lib.zgm_user_follow_many, c_names, c_seqs, len(names))

    def unfollow(self, group: str) -> None:
        """Stops following a group: its messages no longer arrive once those already
        received are read (a follow again while some wait goes on after them), and its
        group server stops counting the follow toward
        --max-follows (at once on a live connection, else when the follow lapses, 10 s after
        its last keep-alive); membership stays."""
        self._call(lib.zgm_user_unfollow, _text(group))

    def send(self, group: str, body: Body, msg_id: str | None = None) -> Outcome:
        """Sends a message and returns once the group server has stored it durably, with the
        sequence number and timestamp it stamped.

        ``msg_id`` None makes a new id; the id of an earlier send retries it (stored once,
        whichever process retries).

        Raises:
            InDoubt: it was sent and no answer came; ``error.msg_id`` is the id to send it
                again with.
            NotMember, NotFound, Storage, TooLarge, ...: refused; it is not stored.
        """
        data = _body(body)
        buffer = _msg_id_buffer(msg_id)
        seq, timestamp = ctypes.c_uint64(0), ctypes.c_uint64(0)
        rc = self._locked(lib.zgm_user_send, _text(group), data, len(data), buffer,
                               ctypes.byref(seq), ctypes.byref(timestamp))
        sent_id = buffer.value.decode("ascii", "replace")
        if rc != 0:
            raise _last_error(msg_id=sent_id or None)
        return Outcome(msg_id=sent_id, group=group, seq=seq.value, timestamp=timestamp.value)

    def send_async(self, group: str, body: Body, msg_id: str | None = None) -> str:
        """Hands a message over and returns its id at once (it may wait while too many sends
        are outstanding). Its :class:`Outcome` arrives later through :meth:`sent`.

        Raises:
            InvalidArgument, TooLarge: a bad argument; nothing was sent.
            LimitReached: too many outcomes are unread: take them with :meth:`sent`.
        """
        data = _body(body)
        buffer = _msg_id_buffer(msg_id)
        self._call(lib.zgm_user_send_async, _text(group), data, len(data), buffer)
        return buffer.value.decode("ascii")

    def sent(self, timeout: float | None = None) -> Outcome | None:
        """The next outcome of an asynchronous send, waiting up to ``timeout`` seconds (None:
        as long as it takes, 0: not at all); None if none came in time."""
        outcome = SentStruct()

        def attempt(ms: int) -> bool:
            if self._locked(lib.zgm_user_sent, ctypes.byref(outcome), ms) == 0:
                return True
            if lib.zgm_errno() != ErrorCode.ETIMEOUT:
                raise _last_error()
            return False

        if not _waiting(timeout, attempt):
            return None
        return Outcome(msg_id=_decode(outcome.msg_id), group=_decode(outcome.group),
                       seq=outcome.seq, timestamp=outcome.timestamp,
                       error=_enum(ErrorCode, outcome.error), reason=_decode(outcome.reason))

    def outcomes(self, timeout: float | None = 0) -> Iterator[Outcome]:
        """The outcomes of asynchronous sends as they come, until none comes within
        ``timeout`` seconds (0, the default: those already waiting)."""
        while True:
            outcome = self.sent(timeout)
            if outcome is None:
                return
            yield outcome

    def flush(self, timeout: float | None = None) -> None:
        """Waits until every asynchronous send handed over so far has its outcome waiting for
        :meth:`sent` (or read already).

        Raises:
            Timeout: not within ``timeout`` seconds (None: no limit).
        """

        def attempt(ms: int) -> bool:
            if self._locked(lib.zgm_user_flush, ms) == 0:
                return True
            if lib.zgm_errno() != ErrorCode.ETIMEOUT:
                raise _last_error()
            return False

        if not _waiting(timeout, attempt):
            raise _last_error()

    def fetch(self, group: str, *, since: Instant | None = None, until: Instant | None = None,
              after: int | None = None, before: int | None = None, limit: int | None = None,
              newest: bool = False) -> Messages:
        """The stored messages of a group, in sequence order: those with ``since`` <=
        timestamp < ``until`` and ``after`` < seq < ``before`` (each bound optional), at most
        ``limit`` of them - the oldest, or with ``newest`` the newest.

        Times are datetimes (naive: local time) or microseconds since the epoch.

        Raises:
            NotMember: not a member of the group.
        """
        query = FetchStruct(since_us=_us(since), until_us=_us(until),
                            after_seq=_uint(after or 0, 64, "seq"),
                            before_seq=_uint(before or 0, 64, "seq"),
                            limit=_uint(limit or 0, 32, "limit"), newest=1 if newest else 0)
        listing = self._locked(lib.zgm_user_fetch, _text(group), ctypes.byref(query))
        if not listing:
            raise _last_error()
        listing = ctypes.c_void_p(listing)
        try:
            return Messages((Message._from_c(lib.zgm_msglist_get(listing, i))
                             for i in range(lib.zgm_msglist_size(listing))),
                            missed=lib.zgm_msglist_missed(listing),
                            more=bool(lib.zgm_msglist_more(listing)))
        finally:
            lib.zgm_msglist_destroy(ctypes.byref(listing))

    def pages(self, group: str, size: int = 100, *, newest: bool = False,
              since: Instant | None = None, until: Instant | None = None,
              after: int | None = None, before: int | None = None) -> Iterator[Messages]:
        """The messages :meth:`fetch` selects, a page of at most ``size`` at a time, each page
        fetched when the previous one is used up: from the oldest forward, or with ``newest``
        from the newest backward (each page still in sequence order)."""
        if size <= 0:
            raise ValueError("a page holds 1 message or more")
        while True:
            page = self.fetch(group, since=since, until=until, after=after, before=before,
                              limit=size, newest=newest)
            if page:
                yield page
            if not page or not page.more:
                return
            if newest:
                before = page[0].seq
            else:
                after = page[-1].seq

    def history(self, group: str, size: int = 100, *, newest: bool = False,
                since: Instant | None = None, until: Instant | None = None,
                after: int | None = None, before: int | None = None) -> Iterator[Message]:
        """The messages :meth:`fetch` selects, one by one, fetched a page of ``size`` at a
        time: oldest first, or with ``newest`` newest first (back to the first one)."""
        for page in self.pages(group, size, newest=newest, since=since, until=until,
                               after=after, before=before):
            yield from (reversed(page) if newest else page)

    def members(self, group: str) -> list[Member]:
        """The members of a group, in the order they joined, then the keys added that have
        not joined.

        Raises:
            NotMember: not a member of the group.
        """
        count = ctypes.c_size_t(0)
        array = self._locked(lib.zgm_user_members, _text(group), ctypes.byref(count))
        if not array:
            raise _last_error()
        try:
            return [Member(key=_decode(array[i].key), name=_decode(array[i].name),
                           role=_enum(Role, array[i].role)) for i in range(count.value)]
        finally:
            libc.free(ctypes.cast(array, ctypes.c_void_p))

    def add(self, group: str, key: KeyLike) -> None:
        """The owner's call: lets a key (text or certificate file) join a members-only group.

        Raises:
            Denied: this user is not the group's owner.
        """
        self._call(lib.zgm_user_add, _text(group), _key(key))

    def remove(self, group: str, key: KeyLike) -> None:
        """The owner's call: takes a key out. It is no longer a member and stops receiving the
        group's messages. In a members-only group it cannot join again until added; an open
        group takes it back."""
        self._call(lib.zgm_user_remove, _text(group), _key(key))

    def give(self, group: str, key: KeyLike) -> None:
        """The owner's call: hands ownership of the group to another key, one that joined it
        (``NotMember`` otherwise) and owns fewer than the group server's
        --max-groups-per-owner groups there (``LimitReached``)."""
        self._call(lib.zgm_user_give, _text(group), _key(key))

    def set_policy(self, group: str, policy: Policy) -> None:
        """The owner's call: who may join the group."""
        self._call(lib.zgm_user_set_policy, _text(group), int(policy))

    def set_retention(self, group: str, *, max_count: int = 0, max_bytes: int = 0,
                      max_age: Duration = 0) -> None:
        """The owner's call: how many messages, bytes of bodies and how much age (seconds or
        a timedelta) the group keeps (0: no limit; the group server's default bounds each)."""
        self._call(lib.zgm_user_set_retention, _text(group), max_count, max_bytes,
                   _duration_ms(max_age))

    def stats(self, endpoint: str, key: KeyLike) -> dict[str, dict[str, int | str]]:
        """The figures of a server - the registry or a group server, at ``endpoint`` with its
        public key (text or certificate file) - as ``{scope: {name: value}}``: scopes
        ``"server"``, ``"registry"``, ``"group/NAME"``, ``"server/KEY"``, ``"refused"``,
        ``"malformed"``;
        values are ints where they are numbers, else str. Only the server's own key and the
        keys it names as admins may ask: make the user with the server's certificate.

        Raises:
            Denied: this user's key may not read them.
        """
        text = self._locked(lib.zgm_user_stats, _text(endpoint, "endpoint"), _key(key))
        if not text:
            raise _last_error()
        try:
            report = ctypes.string_at(text).decode("utf-8", "replace")
        finally:
            libc.free(text)
        return parse_stats(report)

    def recv(self, timeout: float | None = None) -> Message | None:
        """The next live message of a followed group, waiting up to ``timeout`` seconds
        (None: as long as it takes; 0: not at all); None if none came in time. Every message
        arrives once and in order per group."""
        received: list[Message] = []

        def attempt(ms: int) -> bool:
            msg = self._locked(lib.zgm_user_recv, ms)
            if not msg:
                if lib.zgm_errno() != ErrorCode.ETIMEOUT:
                    raise _last_error()
                return False
            pointer = ctypes.c_void_p(msg)
            try:
                received.append(Message._from_c(pointer))
            finally:
                lib.zgm_msg_destroy(ctypes.byref(pointer))
            return True

        return received[0] if _waiting(timeout, attempt) else None

    def fileno(self) -> int:
        """A file descriptor that is readable while live messages or send outcomes wait, for
        :mod:`selectors`, :func:`select.select` or an event loop's ``add_reader``; only to
        wait on, never to read or close. Once it is readable, take what waits with
        ``recv(0)`` and ``sent(0)`` until each returns None::

            selector.register(user, selectors.EVENT_READ)
            ...
            while (msg := user.recv(0)) is not None:
                print(msg.text)
        """
        return self._locked(lib.zgm_user_fd)

    def messages(self, timeout: float | None = None) -> Iterator[Message]:
        """Live messages as they arrive, until none arrives within ``timeout`` seconds of the
        previous one (None: for ever)::

            for msg in user.messages(timeout=30):
                print(f"[{msg.group}] {msg.sender_name}: {msg.text}")
        """
        while True:
            msg = self.recv(timeout)
            if msg is None:
                return
            yield msg

    def last_seq(self, group: str) -> int:
        """The last sequence number handed over for :meth:`recv` in a group (0 if none).

        Every message up to it has been received or waits, in order, to be.
        """
        return self._locked(lib.zgm_user_last_seq, _text(group))


def parse_stats(report: str) -> dict[str, dict[str, int | str]]:
    """The text of ``zgm_user_stats`` (lines of scope, name and value, tab-separated) as
    ``{scope: {name: value}}``, with values that are whole numbers as ints."""
    figures: dict[str, dict[str, int | str]] = {}
    for line in report.splitlines():
        fields = line.split("\t")
        if len(fields) != 3:
            continue
        scope, name, value = fields
        figures.setdefault(scope, {})[name] = int(value) if value.isdigit() else value
    return figures
