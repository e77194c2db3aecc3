#!/usr/bin/env python3
#  group_server.py - a group server: hosts groups, their members and their messages.
#
#  This Source Code Form is subject to the terms of the Mozilla Public
#  License, v. 2.0. If a copy of the MPL was not distributed with this
#  file, You can obtain one at http://mozilla.org/MPL/2.0/.
"""Runs a group server hosting the named groups until Ctrl-C or SIGTERM.

It registers its groups with the registry, keeps them alive with heartbeats, and deregisters
them when it stops. Messages are stored durably (SQLite) in the data directory, so history and
membership survive a restart. It logs each request: ``JOIN REQUEST FROM <user id>``, ``MESSAGE
SEND FROM <user id>``, ``MESSAGE REQUEST FROM <user id>``, ...

Keys, as the zgm program keeps them: its key pair is $XDG_CONFIG_HOME/zgm/servers/local.cert
(made on first start, where a registry of the same Unix user trusts it), and it reads the
registry's public key from $XDG_CONFIG_HOME/zgm/registry.cert unless --registry-key or
$ZGM_REGISTRY_KEY gives it. --insecure on every side turns encryption off: keys are then
stated, not proven, and the registry's is not needed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

#  From a clone: the module in python/ and the library of build/ (ZGM_LIBRARY overrides it).
_top = Path(__file__).resolve().parent.parent.parent
if (_top / "python" / "zgm" / "__init__.py").is_file():
    sys.path.insert(0, str(_top / "python"))
    if "ZGM_LIBRARY" not in os.environ and (_top / "build" / "src" / "libzgm.so.0").exists():
        os.environ["ZGM_LIBRARY"] = str(_top / "build" / "src" / "libzgm.so.0")

import zgm  # noqa: E402  (after the path above)


def connect(server: zgm.Server, registry: str, registry_key: str | None) -> None:
    """Registers the server's groups, and says whether the registry took them."""
    for attempt in range(3):
        try:
            server.connect(registry, registry_key)
            print(f"group server: registered with {registry}", flush=True)
            return
        except zgm.Denied as error:
            #  A registry reads its trusted directory again at most once a second, so a
            #  certificate made a moment ago may not count yet: ask again a little later.
            refusal = error
            if attempt < 2:
                time.sleep(1.2)
        except zgm.Timeout as error:
            refusal = error
            break
    #  The server keeps trying in the background all the same.
    print(f"group server: not registered yet ({refusal}); still trying", file=sys.stderr,
          flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description="A zgm group server hosting GROUPs (default: general).",
        epilog="Keys default to the zgm program's files under $XDG_CONFIG_HOME/zgm "
               "(~/.config/zgm): servers/local.cert, and the registry's registry.cert.")
    parser.add_argument("groups", nargs="*", metavar="GROUP", help="a group to host")
    parser.add_argument("--registry", default=os.environ.get("ZGM_REGISTRY",
                                                             zgm.REGISTRY_ENDPOINT),
                        metavar="ENDPOINT",
                        help="the registry (default $ZGM_REGISTRY, else %(default)s)")
    parser.add_argument("--registry-key", metavar="KEY|FILE",
                        default=os.environ.get("ZGM_REGISTRY_KEY"),
                        help="the registry's public key: text or certificate file (default "
                             "$ZGM_REGISTRY_KEY, else $XDG_CONFIG_HOME/zgm/registry.cert)")
    parser.add_argument("--bind", default="tcp://*:*", metavar="ENDPOINT",
                        help="where users reach it (default %(default)s: a port the kernel "
                             "picks)")
    parser.add_argument("--advertise", metavar="ENDPOINT",
                        help="the endpoint users are told (default: the bound one)")
    store = parser.add_mutually_exclusive_group()
    store.add_argument("--data", metavar="DIR", type=Path,
                       help="the store's directory (default $XDG_DATA_HOME/zgm/server)")
    store.add_argument("--memory", action="store_true", help="keep nothing after it stops")
    parser.add_argument("--key", metavar="FILE", type=Path,
                        help="its key pair, made on first start (default "
                             "$XDG_CONFIG_HOME/zgm/servers/local.cert)")
    parser.add_argument("--accept-new", action="store_true",
                        help="host the groups users create")
    parser.add_argument("--insecure", action="store_true",
                        help="no encryption; keys stated, not proven (PLAIN): for a "
                             "trusted host only")
    parser.add_argument("--quiet", action="store_true", help="log no requests")
    args = parser.parse_args()
    groups = args.groups or ["general"]

    #  SIGTERM ends it as Ctrl-C does (KeyboardInterrupt), so it stops cleanly.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    zgm.set_verbose(not args.quiet)
    try:
        data = None if args.memory else args.data or zgm.paths.server_store()
        key = args.key or zgm.paths.prepare(zgm.paths.server_cert())
        server = zgm.Server(data, key, insecure=args.insecure)
        registry_key = None if args.insecure else (args.registry_key or
                                                   str(zgm.paths.registry_cert()))
        with server:
            for group in groups:
                server.add(group)
            if args.accept_new:
                server.set_accept_new(True)
            port = server.bind(args.bind)
            if args.advertise:
                server.set_advertise(args.advertise)
            print(f"group server: hosting {', '.join(groups)} on {args.bind} (port {port}), "
                  f"key {server.key}", flush=True)
            connect(server, args.registry, registry_key)
            try:
                while True:
                    signal.pause()
            except KeyboardInterrupt:
                pass
    except zgm.Error as error:
        print(f"group server: {error}", file=sys.stderr)
        return 3 if isinstance(error, (zgm.Timeout, zgm.Unreachable)) else 1
    print("group server: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
