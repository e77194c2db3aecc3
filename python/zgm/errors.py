#  zgm.errors - zgm_errno as exceptions.
#
#  This Source Code Form is subject to the terms of the Mozilla Public
#  License, v. 2.0. If a copy of the MPL was not distributed with this
#  file, You can obtain one at http://mozilla.org/MPL/2.0/.
"""The errors of the C API (``zgm_errno``) as exceptions.

Every failure raises a subclass of :class:`Error`, chosen by the error code; the exception
carries the code (``.code``, a :class:`ErrorCode`; ``.errno``, the same as an int) and the
library's explanation (``str(error)``, from ``zgm_strerror``)::

    try:
        user.send("general", "hello")
    except zgm.NotMember:
        user.join("general")
    except zgm.InDoubt as error:
        user.send("general", "hello", msg_id=error.msg_id)   # settles it: stored once
"""

from __future__ import annotations

import enum


class ErrorCode(enum.IntEnum):
    """The error codes of ``zgm_errno`` (``zgm_error_t`` in include/zgm.h)."""

    OK = 0
    EINVAL = 1
    ETIMEOUT = 2
    ENOTMEMBER = 3
    ENOTFOUND = 4
    EEXISTS = 5
    EALREADY = 6
    ETOOLARGE = 7
    EPROTO = 8
    ESTORAGE = 9
    EUNAVAILABLE = 10
    ENOTCONNECTED = 11
    ESYSTEM = 12
    ESERVER = 13
    EINDOUBT = 14
    EDENIED = 15
    ELIMIT = 16
    ERATE = 17
    EUNREACHABLE = 18


class Error(Exception):
    """A zgm call failed. The base class of every error the module raises for the library.

    Attributes:
        code: the :class:`ErrorCode` (``zgm_errno ()``).
        errno: the same code as an int.
        reason: what went wrong, for people (``zgm_strerror ()``); also ``str(error)``.
    """

    #: The error code a subclass stands for (the base class: none in particular).
    code_of_class: ErrorCode | None = None

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        if code is None:
            code = self.code_of_class if self.code_of_class is not None else ErrorCode.ESERVER
        try:
            self.code: ErrorCode | int = ErrorCode(code)
        except ValueError:  # a code of a newer library
            self.code = code
        self.errno: int = int(code)
        self.reason: str = reason

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r}, code={self.errno})"


class InvalidArgument(Error, ValueError):
    """ZGM_EINVAL: a bad argument (an empty or over-long name, a malformed key or id, ...)."""
    code_of_class = ErrorCode.EINVAL


class Timeout(Error):
    """ZGM_ETIMEOUT: no answer in time; nothing was sent that could still take effect."""
    code_of_class = ErrorCode.ETIMEOUT


class NotMember(Error):
    """ZGM_ENOTMEMBER: the user is not a member of the group."""
    code_of_class = ErrorCode.ENOTMEMBER


class NotFound(Error):
    """ZGM_ENOTFOUND: no such group."""
    code_of_class = ErrorCode.ENOTFOUND


class Exists(Error):
    """ZGM_EEXISTS: the group name is taken (or, for :func:`zgm.keygen`, a file exists at
    the path)."""
    code_of_class = ErrorCode.EEXISTS


class Already(Error):
    """ZGM_EALREADY: already a member."""
    code_of_class = ErrorCode.EALREADY


class TooLarge(Error):
    """ZGM_ETOOLARGE: the body is over :data:`zgm.MAX_BODY` bytes."""
    code_of_class = ErrorCode.ETOOLARGE


class ProtocolError(Error):
    """ZGM_EPROTO: a peer sent something malformed, or speaks another protocol version."""
    code_of_class = ErrorCode.EPROTO


class Storage(Error):
    """ZGM_ESTORAGE: the group server could not store the message; it is not stored (or a
    group server could not open its store)."""
    code_of_class = ErrorCode.ESTORAGE


class Unavailable(Error):
    """ZGM_EUNAVAILABLE: the registry is still learning its groups after a start, no group
    server takes new groups, or a group's server is away (stopped, silent or no longer trusted:
    worth waiting for, unlike :class:`NotFound`)."""
    code_of_class = ErrorCode.EUNAVAILABLE


class NotConnected(Error):
    """ZGM_ENOTCONNECTED: the user was given no registry endpoint (:meth:`User.connect`)."""
    code_of_class = ErrorCode.ENOTCONNECTED


class SystemFailure(Error):
    """ZGM_ESYSTEM: a local failure (memory, sockets, files; a port in use)."""
    code_of_class = ErrorCode.ESYSTEM


class ServerError(Error):
    """ZGM_ESERVER: any other error a server reported."""
    code_of_class = ErrorCode.ESERVER


class InDoubt(Error):
    """ZGM_EINDOUBT: the request was sent and no answer came; it may have taken effect.

    A send: send it again with the same message id (``.msg_id``) to settle it: a repeated id
    is stored once, whichever process repeats it. A create: create the group again (its
    creator gets the group if it was made; ``.msg_id`` is None).

    Attributes:
        msg_id: the message's id, 32 hex digits (None for a request that is not a send).
    """
    code_of_class = ErrorCode.EINDOUBT

    def __init__(self, reason: str, code: int | None = None, msg_id: str | None = None) -> None:
        super().__init__(reason, code)
        self.msg_id: str | None = msg_id


class Denied(Error):
    """ZGM_EDENIED: this key may not - not the group's owner, not added to a members-only
    group, not a group server the registry trusts, not allowed to read a server's figures."""
    code_of_class = ErrorCode.EDENIED


class LimitReached(Error):
    """ZGM_ELIMIT: a limit of a server is reached (the reason names it), or too many send
    outcomes are unread (:meth:`zgm.User.sent`)."""
    code_of_class = ErrorCode.ELIMIT


class RateLimited(Error):
    """ZGM_ERATE: the server slowed this key down for longer than the call may wait."""
    code_of_class = ErrorCode.ERATE


class Unreachable(Error):
    """ZGM_EUNREACHABLE: a server cannot be reached - connection refused, no route, or the
    handshake refused (a wrong key, or insecure on one side only)."""
    code_of_class = ErrorCode.EUNREACHABLE


_CLASSES: dict[int, type[Error]] = {
    cls.code_of_class: cls
    for cls in (InvalidArgument, Timeout, NotMember, NotFound, Exists, Already, TooLarge,
                ProtocolError, Storage, Unavailable, NotConnected, SystemFailure, ServerError,
                InDoubt, Denied, LimitReached, RateLimited, Unreachable)
    if cls.code_of_class is not None
}


def error_class(code: int) -> type[Error]:
    """The exception class raised for an error code (:class:`Error` for an unknown one)."""
    return _CLASSES.get(int(code), Error)


def make_error(code: int, reason: str, msg_id: str | None = None) -> Error:
    """The exception for an error code and its reason (``msg_id`` for an in-doubt send)."""
    cls = error_class(code)
    if cls is InDoubt:
        return InDoubt(reason, code, msg_id=msg_id)
    return cls(reason, code)
