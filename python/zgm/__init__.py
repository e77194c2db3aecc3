#  zgm - ZeroMQ group messaging for small machines, from Python.
#
#  This Source Code Form is subject to the terms of the Mozilla Public
#  License, v. 2.0. If a copy of the MPL was not distributed with this
#  file, You can obtain one at http://mozilla.org/MPL/2.0/.
"""zgm from Python: the registry, group servers and users of libzgm's C API (include/zgm.h),
through ctypes.

The three roles are objects that run in threads of this process (each a CZMQ actor in the C
library) and close when their ``with`` block ends::

    import zgm

    with zgm.Registry() as registry, zgm.Server() as server:
        port = registry.bind("tcp://127.0.0.1:*")
        registry.trust(server.key)
        server.add("general")
        server.bind("tcp://127.0.0.1:*")
        server.connect(f"tcp://127.0.0.1:{port}", registry.key)
        with zgm.User("alice", registry=f"tcp://127.0.0.1:{port}",
                      registry_key=registry.key) as alice:
            alice.join("general")
            alice.send("general", "hello")              # returns once stored
            print(alice.recv(timeout=5).text)            # hello (live: alice follows it)
            print([m.text for m in alice.fetch("general")])

Every failure raises a subclass of :class:`zgm.Error` named after its error code
(:class:`NotMember`, :class:`NotFound`, :class:`InDoubt`, ...). Timeouts are in seconds
(None: no limit). Bodies are bytes, or str sent as UTF-8; a message has ``.body`` (bytes) and
``.text`` (str). docs/python.md in the source tree documents the module.

The C library is ``libzgm.so.0``: ``$ZGM_LIBRARY`` names another (e.g. a build directory's
``src/libzgm.so.0``).
"""

from __future__ import annotations

from ._version import __version__, version_info
from ._core import (DEFAULT_TIMEOUT, FOLLOW_NOW, KEY_SIZE, MAX_BODY, MAX_NAME, MSG_ID_SIZE,
                    REGISTRY_BIND, REGISTRY_ENDPOINT, Body, Duration, Group, Instant, KeyLike,
                    Limit, Member, Message, Messages, Outcome, Policy, Registry, Role, Server,
                    User, keygen, parse_stats, read_key, set_verbose, to_datetime)
from .errors import (Already, Denied, Error, ErrorCode, Exists, InDoubt, InvalidArgument,
                     LimitReached, NotConnected, NotFound, NotMember, ProtocolError,
                     RateLimited, ServerError, Storage, SystemFailure, Timeout, TooLarge,
                     Unavailable, Unreachable, error_class)
from . import paths

__all__ = [
    "__version__", "version_info",
    "Registry", "Server", "User",
    "Message", "Messages", "Group", "Member", "Outcome",
    "Policy", "Role", "Limit",
    "keygen", "read_key", "set_verbose", "parse_stats", "to_datetime", "paths",
    "MAX_NAME", "MAX_BODY", "KEY_SIZE", "MSG_ID_SIZE", "DEFAULT_TIMEOUT", "REGISTRY_ENDPOINT",
    "REGISTRY_BIND", "FOLLOW_NOW",
    "Body", "Duration", "Instant", "KeyLike",
    "Error", "ErrorCode", "error_class",
    "InvalidArgument", "Timeout", "NotMember", "NotFound", "Exists", "Already", "TooLarge",
    "ProtocolError", "Storage", "Unavailable", "NotConnected", "SystemFailure", "ServerError",
    "InDoubt", "Denied", "LimitReached", "RateLimited", "Unreachable",
]
