#  zgm._lib - finds and loads libzgm, and declares the C API (include/zgm.h) to ctypes.
#
#  This Source Code Form is subject to the terms of the Mozilla Public
#  License, v. 2.0. If a copy of the MPL was not distributed with this
#  file, You can obtain one at http://mozilla.org/MPL/2.0/.
"""The C library behind the module: where it is found, and its functions' signatures.

Internal: the public names are in :mod:`zgm`. The library is looked for, in order, at

1. ``$ZGM_LIBRARY`` (a path to ``libzgm.so.0``, e.g. a build directory's ``src/libzgm.so.0``);
2. the library directory the module was installed with (``meson install`` records it when the
   prefix is not ``/usr``);
3. ``libzgm.so.0`` through the dynamic loader's own search (``/usr/lib/<triplet>``,
   ``LD_LIBRARY_PATH``, ``ld.so.cache``), then ``ctypes.util.find_library("zgm")``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import (POINTER, Structure, c_char, c_char_p, c_int, c_size_t, c_uint32, c_uint64,
                    c_void_p)

SONAME = "libzgm.so.0"

#  The limits of include/zgm.h, which the structures below are sized by.
MAX_NAME = 64
KEY_SIZE = 41
MSG_ID_SIZE = 33


class GroupStruct(Structure):
    """zgm_group_t."""
    _fields_ = [("id", c_char * 33), ("name", c_char * (MAX_NAME + 1)),
                ("endpoint", c_char * 256), ("server_key", c_char * KEY_SIZE),
                ("policy", c_int), ("member_count", c_uint32)]


class SentStruct(Structure):
    """zgm_sent_t."""
    _fields_ = [("msg_id", c_char * MSG_ID_SIZE), ("group", c_char * (MAX_NAME + 1)),
                ("seq", c_uint64), ("timestamp", c_uint64), ("error", c_int),
                ("reason", c_char * 256)]


class FetchStruct(Structure):
    """zgm_fetch_t."""
    _fields_ = [("since_us", c_uint64), ("until_us", c_uint64), ("after_seq", c_uint64),
                ("before_seq", c_uint64), ("limit", c_size_t), ("newest", c_int)]


class MemberStruct(Structure):
    """zgm_member_t."""
    _fields_ = [("key", c_char * KEY_SIZE), ("name", c_char * (MAX_NAME + 1)), ("role", c_int)]


_p = c_void_p  # every opaque object travels as a plain pointer
_pp = POINTER(c_void_p)

#  name: (restype, argtypes), in the order of include/zgm.h.
_SIGNATURES = {
    "zgm_errno": (c_int, []),
    "zgm_strerror": (c_char_p, []),
    "zgm_set_verbose": (None, [c_int]),
    "zgm_keygen": (c_int, [c_char_p, c_char_p]),
    "zgm_key_read": (c_int, [c_char_p, c_char_p]),
    "zgm_msg_group": (c_char_p, [_p]),
    "zgm_msg_seq": (c_uint64, [_p]),
    "zgm_msg_timestamp": (c_uint64, [_p]),
    "zgm_msg_sender": (c_char_p, [_p]),
    "zgm_msg_sender_name": (c_char_p, [_p]),
    "zgm_msg_id": (c_char_p, [_p]),
    "zgm_msg_body": (c_void_p, [_p]),
    "zgm_msg_size": (c_size_t, [_p]),
    "zgm_msg_missed": (c_uint64, [_p]),
    "zgm_msg_destroy": (None, [_pp]),
    "zgm_msglist_size": (c_size_t, [_p]),
    "zgm_msglist_get": (c_void_p, [_p, c_size_t]),
    "zgm_msglist_missed": (c_uint64, [_p]),
    "zgm_msglist_more": (c_int, [_p]),
    "zgm_msglist_destroy": (None, [_pp]),
    "zgm_registry_new": (c_void_p, []),
    "zgm_registry_set_key": (c_int, [_p, c_char_p]),
    "zgm_registry_key": (c_char_p, [_p]),
    "zgm_registry_set_insecure": (c_int, [_p, c_int]),
    "zgm_registry_trust": (c_int, [_p, c_char_p]),
    "zgm_registry_trust_dir": (c_int, [_p, c_char_p]),
    "zgm_registry_add_admin": (c_int, [_p, c_char_p]),
    "zgm_registry_bind": (c_int, [_p, c_char_p]),
    "zgm_registry_set_expiry": (c_int, [_p, c_int]),
    "zgm_registry_set_limit": (c_int, [_p, c_int, c_uint64]),
    "zgm_registry_destroy": (None, [_pp]),
    "zgm_server_new": (c_void_p, [c_char_p]),
    "zgm_server_set_key": (c_int, [_p, c_char_p]),
    "zgm_server_key": (c_char_p, [_p]),
    "zgm_server_set_insecure": (c_int, [_p, c_int]),
    "zgm_server_add": (c_int, [_p, c_char_p, c_char_p, c_int]),
    "zgm_server_bind": (c_int, [_p, c_char_p]),
    "zgm_server_set_advertise": (c_int, [_p, c_char_p]),
    "zgm_server_set_accept_new": (c_int, [_p, c_int]),
    "zgm_server_set_heartbeat": (c_int, [_p, c_int]),
    "zgm_server_set_durability": (c_int, [_p, c_char_p]),
    "zgm_server_add_admin": (c_int, [_p, c_char_p]),
    "zgm_server_set_limit": (c_int, [_p, c_int, c_uint64]),
    "zgm_server_set_retention": (c_int, [_p, c_char_p, c_uint64, c_uint64, c_uint64]),
    "zgm_server_connect": (c_int, [_p, c_char_p, c_char_p]),
    "zgm_server_destroy": (None, [_pp]),
    "zgm_user_new": (c_void_p, [c_char_p]),
    "zgm_user_new_with_key": (c_void_p, [c_char_p, c_char_p]),
    "zgm_user_key": (c_char_p, [_p]),
    "zgm_user_name": (c_char_p, [_p]),
    "zgm_user_set_timeout": (None, [_p, c_int]),
    "zgm_user_set_insecure": (c_int, [_p, c_int]),
    "zgm_user_connect": (c_int, [_p, c_char_p, c_char_p]),
    "zgm_user_groups": (POINTER(GroupStruct), [_p, POINTER(c_size_t)]),
    "zgm_user_resolve": (c_int, [_p, c_char_p, POINTER(GroupStruct)]),
    "zgm_user_create": (c_int, [_p, c_char_p, c_int]),
    "zgm_user_join": (c_int, [_p, c_char_p]),
    "zgm_user_leave": (c_int, [_p, c_char_p]),
    "zgm_user_follow": (c_int, [_p, c_char_p, c_uint64]),
    "zgm_user_memberships": (POINTER(GroupStruct), [_p, POINTER(c_size_t)]),
    "zgm_user_follow_many": (c_int, [_p, POINTER(c_char_p), POINTER(c_uint64), c_size_t]),
    "zgm_user_unfollow": (c_int, [_p, c_char_p]),
    "zgm_user_send": (c_int, [_p, c_char_p, c_char_p, c_size_t, c_char_p, POINTER(c_uint64),
                              POINTER(c_uint64)]),
    "zgm_user_send_async": (c_int, [_p, c_char_p, c_char_p, c_size_t, c_char_p]),
    "zgm_user_sent": (c_int, [_p, POINTER(SentStruct), c_int]),
    "zgm_user_flush": (c_int, [_p, c_int]),
    "zgm_user_fetch": (c_void_p, [_p, c_char_p, POINTER(FetchStruct)]),
    "zgm_user_members": (POINTER(MemberStruct), [_p, c_char_p, POINTER(c_size_t)]),
    "zgm_user_add": (c_int, [_p, c_char_p, c_char_p]),
    "zgm_user_remove": (c_int, [_p, c_char_p, c_char_p]),
    "zgm_user_give": (c_int, [_p, c_char_p, c_char_p]),
    "zgm_user_set_policy": (c_int, [_p, c_char_p, c_int]),
    "zgm_user_set_retention": (c_int, [_p, c_char_p, c_uint64, c_uint64, c_uint64]),
    #  A char * the caller frees: kept as a pointer, read, then freed with free ().
    "zgm_user_stats": (c_void_p, [_p, c_char_p, c_char_p]),
    "zgm_user_recv": (c_void_p, [_p, c_int]),
    "zgm_user_last_seq": (c_uint64, [_p, c_char_p]),
    "zgm_user_fd": (c_int, [_p]),
    "zgm_user_destroy": (None, [_pp]),
}


def _installed_libdir() -> str | None:
    """The library directory `meson install` recorded beside the module, if any."""
    try:
        from ._build_config import LIBDIR  # written by python/meson.build at install
    except ImportError:
        return None
    return LIBDIR or None


def _candidates() -> list[str]:
    """The paths or names to try, in order."""
    override = os.environ.get("ZGM_LIBRARY")
    if override:
        return [override]  # asked for this one: no other is tried
    found = []
    libdir = _installed_libdir()
    if libdir:
        found.append(os.path.join(libdir, SONAME))
    found.append(SONAME)
    name = ctypes.util.find_library("zgm")
    if name and name not in found:
        found.append(name)
    return found


def _load() -> ctypes.CDLL:
    errors = []
    for candidate in _candidates():
        try:
            return ctypes.CDLL(candidate)
        except OSError as error:
            errors.append(str(error))
    raise ImportError(
        "zgm: cannot load the C library libzgm.so.0 (" + "; ".join(errors) + "). Install "
        "libzgm0, or set ZGM_LIBRARY to the library's path (e.g. build/src/libzgm.so.0 in a "
        "clone)")


lib = _load()
for _name, (_restype, _argtypes) in _SIGNATURES.items():
    _function = getattr(lib, _name)
    _function.restype = _restype
    _function.argtypes = _argtypes

#  free () for what the library returns for the caller to free (malloc'ed by the same libc).
libc = ctypes.CDLL(None)
libc.free.restype = None
libc.free.argtypes = [c_void_p]


def _leave_signals_to_python() -> None:
    """Keeps CZMQ from taking SIGINT and SIGTERM.

    On its first socket CZMQ installs handlers for both that only set a flag: Ctrl-C would
    no longer raise KeyboardInterrupt, nor SIGTERM end the process. zsys_handler_set (NULL)
    beforehand turns that off (the library loaded CZMQ, so the symbol is found through it).
    """
    try:
        handler_set = lib.zsys_handler_set
    except AttributeError:  # not reachable through libzgm: the environment does it too
        os.environ.setdefault("ZSYS_SIGHANDLER", "false")
        return
    handler_set.restype = None
    handler_set.argtypes = [c_void_p]
    handler_set(None)


_leave_signals_to_python()
