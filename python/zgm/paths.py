#  zgm.paths - where the zgm program keeps its keys, identity and store by default.
#
#  This Source Code Form is subject to the terms of the Mozilla Public
#  License, v. 2.0. If a copy of the MPL was not distributed with this
#  file, You can obtain one at http://mozilla.org/MPL/2.0/.
"""The default files of the ``zgm`` program (docs/cli.md, "Keys" and "Files"), so that a
Python program on the same machine, as the same Unix user, finds the same keys::

    $XDG_CONFIG_HOME/zgm/registry.cert       the registry's key pair (+ registry.cert_secret)
    $XDG_CONFIG_HOME/zgm/servers/            group servers' certificates the registry trusts;
    $XDG_CONFIG_HOME/zgm/servers/local.cert  the key pair of the local group server
    $XDG_CONFIG_HOME/zgm/identity            the user: its key pair, its display name inside
    $XDG_DATA_HOME/zgm/server/               the group server's store (zgm.db)

``XDG_CONFIG_HOME`` defaults to ``~/.config``, ``XDG_DATA_HOME`` to ``~/.local/share``; a
value that is not an absolute path is ignored, as the XDG specification says.
"""

from __future__ import annotations

import os
import re
from pathlib import Path


def _xdg(variable: str, default: str) -> Path:
    value = os.environ.get(variable, "")
    if os.path.isabs(value):
        return Path(value)
    return Path.home() / default


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/zgm`` (default ``~/.config/zgm``)."""
    return _xdg("XDG_CONFIG_HOME", ".config") / "zgm"


def data_dir() -> Path:
    """``$XDG_DATA_HOME/zgm`` (default ``~/.local/share/zgm``)."""
    return _xdg("XDG_DATA_HOME", ".local/share") / "zgm"


def registry_cert() -> Path:
    """The registry's certificate: written by a registry, read by servers and users."""
    return config_dir() / "registry.cert"


def servers_dir() -> Path:
    """The directory of group server certificates a registry trusts."""
    return config_dir() / "servers"


def server_cert(instance: str = "local") -> Path:
    """A group server's certificate: ``servers/local.cert``, or ``servers/NAME.cert``."""
    return servers_dir() / f"{instance}.cert"


def identity() -> Path:
    """The user's identity: its certificate, whose metadata holds its display name."""
    return config_dir() / "identity"


def server_store(instance: str | None = None) -> Path:
    """A group server's store directory: ``$XDG_DATA_HOME/zgm/server`` (or ``.../NAME``)."""
    store = data_dir() / "server"
    return store / instance if instance else store


def prepare(path: os.PathLike[str] | str) -> Path:
    """Makes the directory a key file goes in (mode 0700 when new) and returns the path."""
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def certificate_name(path: os.PathLike[str] | str) -> str | None:
    """The ``name`` in a certificate's metadata (as :func:`zgm.keygen` writes it and the zgm
    program keeps a display name), or None when the file or the name is missing."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    section = ""
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            section = line.strip()
            continue
        found = re.match(r'\s+name\s*=\s*"((?:[^"\\]|\\.)*)"\s*$', line)
        if section == "metadata" and found:
            return found.group(1)
    return None
