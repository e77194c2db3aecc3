#!/usr/bin/env python3
#  message_server.py - the registry ("message server"): the live list of groups and where
#  each is served.
#
#  This Source Code Form is subject to the terms of the Mozilla Public
#  License, v. 2.0. If a copy of the MPL was not distributed with this
#  file, You can obtain one at http://mozilla.org/MPL/2.0/.
"""Runs a registry until Ctrl-C or SIGTERM.

Group servers register their groups with it and keep them alive with heartbeats; users ask it
for the list of groups and where each one is served. It logs each request, e.g. ``JOIN
REQUEST FROM <ip>:<port>`` when a group server registers a group and ``GROUP LIST REQUEST
FROM <user id>``.

Keys, as the zgm program keeps them: its key pair is $XDG_CONFIG_HOME/zgm/registry.cert (made
on first start; group servers and users on this machine read its public key there), and it
takes groups from the group servers whose certificates are in $XDG_CONFIG_HOME/zgm/servers
(group_server.py writes servers/local.cert). --insecure on every side turns encryption off:
keys are then stated, not proven.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

#  From a clone: the module in python/ and the library of build/ (ZGM_LIBRARY overrides it).
_top = Path(__file__).resolve().parent.parent.parent
if (_top / "python" / "zgm" / "__init__.py").is_file():
    sys.path.insert(0, str(_top / "python"))
    if "ZGM_LIBRARY" not in os.environ and (_top / "build" / "src" / "libzgm.so.0").exists():
        os.environ["ZGM_LIBRARY"] = str(_top / "build" / "src" / "libzgm.so.0")

import zgm  # noqa: E402  (after the path above)


def main() -> int:
    parser = argparse.ArgumentParser(
        description="The zgm registry (message server): the live list of groups.",
        epilog="Keys default to the zgm program's files under $XDG_CONFIG_HOME/zgm "
               "(~/.config/zgm): registry.cert, and the trusted directory servers/.")
    parser.add_argument("--bind", default=zgm.REGISTRY_BIND, metavar="ENDPOINT",
                        help="where to listen (default %(default)s)")
    parser.add_argument("--key", metavar="FILE", type=Path,
                        help="its key pair, made on first start (default "
                             "$XDG_CONFIG_HOME/zgm/registry.cert)")
    parser.add_argument("--trust", metavar="DIR", type=Path, action="append",
                        help="a directory of group server certificates to trust; repeatable "
                             "(default $XDG_CONFIG_HOME/zgm/servers)")
    parser.add_argument("--trust-key", metavar="KEY|FILE", action="append", default=[],
                        help="a group server's key (text or certificate) to trust; repeatable")
    parser.add_argument("--insecure", action="store_true",
                        help="no encryption; keys stated, not proven (PLAIN): for a "
                             "trusted host only")
    parser.add_argument("--quiet", action="store_true", help="log no requests")
    args = parser.parse_args()

    #  SIGTERM ends it as Ctrl-C does (KeyboardInterrupt), so it stops cleanly.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    zgm.set_verbose(not args.quiet)
    try:
        key = args.key or zgm.paths.prepare(zgm.paths.registry_cert())
        with zgm.Registry(key, insecure=args.insecure) as registry:
            for directory in args.trust or [zgm.paths.servers_dir()]:
                directory.mkdir(mode=0o700, parents=True, exist_ok=True)
                registry.trust_dir(directory)
            for trusted in args.trust_key:
                registry.trust(trusted)
            port = registry.bind(args.bind)
            print(f"message server: listening on {args.bind} (port {port}), key {registry.key}",
                  flush=True)
            try:
                while True:
                    signal.pause()
            except KeyboardInterrupt:
                pass
    except zgm.Error as error:
        print(f"message server: {error}", file=sys.stderr)
        return 1
    print("message server: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
