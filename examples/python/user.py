#!/usr/bin/env python3
#  user.py - a zgm user with a menu: list groups, join, leave, send, fetch since a
#  timestamp, and live messages as they arrive.
#
#  This Source Code Form is subject to the terms of the Mozilla Public
#  License, v. 2.0. If a copy of the MPL was not distributed with this
#  file, You can obtain one at http://mozilla.org/MPL/2.0/.
"""A user of zgm, driven by a numbered menu on stdin.

New messages of the groups the user is in are printed as they arrive, while the menu waits
for a choice (and item 6 waits for them on purpose). The menu reads its choices line by line,
so it can be scripted: ``printf '2\\ngeneral\\n4\\n\\nhello\\n7\\n' | user.py``.

Keys, as the zgm program keeps them: the user is the key pair in $XDG_CONFIG_HOME/zgm/identity
(made on first use, with the display name inside; --identity picks another file, so two users
on one machine need two files), and the registry's public key is read from
$XDG_CONFIG_HOME/zgm/registry.cert unless --registry-key or $ZGM_REGISTRY_KEY gives it.
--insecure on every side turns encryption off: keys are then stated, not proven, and the
registry's is not needed.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import select
import sys
from pathlib import Path

#  From a clone: the module in python/ and the library of build/ (ZGM_LIBRARY overrides it).
_top = Path(__file__).resolve().parent.parent.parent
if (_top / "python" / "zgm" / "__init__.py").is_file():
    sys.path.insert(0, str(_top / "python"))
    if "ZGM_LIBRARY" not in os.environ and (_top / "build" / "src" / "libzgm.so.0").exists():
        os.environ["ZGM_LIBRARY"] = str(_top / "build" / "src" / "libzgm.so.0")

import zgm  # noqa: E402  (after the path above)

MENU = """
1) List groups
2) Join a group
3) Leave a group
4) Send a message
5) Fetch messages since a timestamp
6) Wait for new messages
7) Quit"""


def show(msg: zgm.Message) -> str:
    """One message as a line: [group #seq time] sender: text."""
    when = msg.time.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    missed = f" ({msg.missed} earlier messages dropped by retention)" if msg.missed else ""
    return f"[{msg.group} #{msg.seq} {when}] {msg.sender_name}: {msg.text}{missed}"


def parse_since(text: str) -> datetime.datetime | None:
    """A time the user typed: empty (None: from the first message), seconds since the epoch,
    an ISO date and time (local unless it says otherwise), a time of today, or -10m / -2h /
    -1d (that long ago)."""
    text = text.strip()
    if not text:
        return None
    ago = re.fullmatch(r"-(\d+)([smhd])", text)
    if ago:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[ago.group(2)]
        return datetime.datetime.now().astimezone() - datetime.timedelta(
            **{unit: int(ago.group(1))})
    if re.fullmatch(r"\d+(\.\d*)?", text):
        return datetime.datetime.fromtimestamp(float(text), datetime.timezone.utc)
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        of_day = datetime.time.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a time: {text!r} (try 2026-11-24 10:00, 10:00, -10m or "
                         "seconds since the epoch)") from None
    return datetime.datetime.combine(datetime.date.today(), of_day)


class Console:
    """Reads lines from stdin while printing the user's live messages as they come."""

    def __init__(self, user: zgm.User) -> None:
        self.user = user
        self.fd = sys.stdin.fileno()
        self.pending = b""
        self.eof = False
        self.last_group = ""

    def print_live(self, prompt: str = "") -> None:
        """Prints every live message waiting (then the prompt again, if one was shown)."""
        printed = False
        while (msg := self.user.recv(timeout=0)) is not None:
            print(("\n" if prompt and not printed else "") + show(msg))
            printed = True
        if printed and prompt:
            print(prompt, end="", flush=True)

    def ask(self, prompt: str) -> str | None:
        """A line typed after the prompt (without its newline), or None at the end of input."""
        print(prompt, end="", flush=True)
        while b"\n" not in self.pending and not self.eof:
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                chunk = os.read(self.fd, 4096)
                self.pending += chunk
                self.eof = not chunk
            else:
                self.print_live(prompt)
        if not self.pending and self.eof:
            print()
            return None
        line, _, self.pending = self.pending.partition(b"\n")
        if not sys.stdin.isatty():
            print(line.decode("utf-8", "replace"))  # echo a scripted choice
        return line.decode("utf-8", "replace").strip("\r")

    def ask_group(self, what: str) -> str | None:
        """A group name; empty input means the group used last."""
        default = f" [{self.last_group}]" if self.last_group else ""
        group = self.ask(f"Group to {what}{default}: ")
        if group is None:
            return None
        group = group.strip() or self.last_group
        if not group:
            print("No group given.")
            return None
        self.last_group = group
        return group


def list_groups(user: zgm.User) -> None:
    groups = user.groups()
    if not groups:
        print("No groups.")
    for group in groups:
        policy = "members only" if group.policy == zgm.Policy.MEMBERS else "open"
        print(f"{group.name:20} {group.member_count:4} members  {policy:12}  {group.endpoint}")


def send(console: Console, user: zgm.User) -> None:
    group = console.ask_group("send to")
    if group is None:
        return
    text = console.ask("Message: ")
    if text is None:
        return
    msg_id = None
    while True:
        try:
            outcome = user.send(group, text, msg_id=msg_id)
        except zgm.InDoubt as error:
            print(f"No answer in time: it may be stored ({error.msg_id}).")
            again = console.ask("Send it again with the same id (stored once)? [y/N] ")
            if again and again.strip().lower().startswith("y"):
                msg_id = error.msg_id
                continue
            return
        when = outcome.time.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        print(f"Stored in {group} as #{outcome.seq} at {when}.")
        return


def fetch(console: Console, user: zgm.User) -> None:
    group = console.ask_group("fetch from")
    if group is None:
        return
    answer = console.ask("Since (2026-11-24 10:00, 10:00, -10m, seconds since the epoch; "
                         "empty: all): ")
    if answer is None:
        return
    try:
        since = parse_since(answer)
    except ValueError as error:
        print(error)
        return
    count = 0
    for msg in user.history(group, since=since):
        print(show(msg))
        count += 1
    print(f"{count} message{'s' if count != 1 else ''}.")


def wait(console: Console, user: zgm.User) -> None:
    answer = console.ask("Seconds to wait [10]: ")
    if answer is None:
        return
    try:
        seconds = float(answer) if answer.strip() else 10.0
    except ValueError:
        print(f"Not a number of seconds: {answer!r}")
        return
    msg = user.recv(timeout=max(0.0, seconds))
    if msg is None:
        print("No new message.")
        return
    print(show(msg))
    console.print_live()


def run(user: zgm.User) -> int:
    console = Console(user)
    print(f"You are {user.name} ({user.key}).")
    while True:
        console.print_live()
        print(MENU)
        choice = console.ask("Choice: ")
        if choice is None:
            return 0
        choice = choice.strip().lower()
        try:
            if choice == "1":
                list_groups(user)
            elif choice == "2":
                group = console.ask_group("join")
                if group:
                    user.join(group)
                    print(f"Joined {group}: its new messages are shown as they arrive.")
            elif choice == "3":
                group = console.ask_group("leave")
                if group:
                    user.leave(group)
                    print(f"Left {group}.")
            elif choice == "4":
                send(console, user)
            elif choice == "5":
                fetch(console, user)
            elif choice == "6":
                wait(console, user)
            elif choice in ("7", "q", "quit"):
                return 0
            elif choice:
                print(f"No such choice: {choice!r}")
        except zgm.Error as error:
            print(f"Error: {error}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description="A zgm user with a menu: list groups, join, leave, send, fetch since a "
                    "timestamp; new messages are shown as they arrive.",
        epilog="Keys default to the zgm program's files under $XDG_CONFIG_HOME/zgm "
               "(~/.config/zgm): identity, and the registry's registry.cert.")
    parser.add_argument("--registry", default=os.environ.get("ZGM_REGISTRY",
                                                             zgm.REGISTRY_ENDPOINT),
                        metavar="ENDPOINT",
                        help="the registry (default $ZGM_REGISTRY, else %(default)s)")
    parser.add_argument("--registry-key", metavar="KEY|FILE",
                        default=os.environ.get("ZGM_REGISTRY_KEY"),
                        help="the registry's public key: text or certificate file (default "
                             "$ZGM_REGISTRY_KEY, else $XDG_CONFIG_HOME/zgm/registry.cert)")
    parser.add_argument("--identity", metavar="FILE", type=Path,
                        help="the user's key pair, made on first use (default "
                             "$XDG_CONFIG_HOME/zgm/identity)")
    parser.add_argument("--name", help="display name (default: the one in the identity file, "
                                       "else $USER)")
    parser.add_argument("--timeout", type=float, default=zgm.DEFAULT_TIMEOUT, metavar="SECONDS",
                        help="how long each call waits for a server (default %(default)s)")
    parser.add_argument("--insecure", action="store_true",
                        help="no encryption; keys stated, not proven (PLAIN): for a "
                             "trusted host only")
    args = parser.parse_args()

    identity = args.identity or zgm.paths.identity()
    name = (args.name or zgm.paths.certificate_name(identity) or os.environ.get("USER")
            or "user")
    registry_key = None
    if not args.insecure:
        registry_key = args.registry_key or str(zgm.paths.registry_cert())
        if not args.registry_key and not zgm.paths.registry_cert().exists():
            print(f"user: no registry key at {registry_key}: start message_server.py on this "
                  "machine first, or give --registry-key (or --insecure)", file=sys.stderr)
            return 2
    try:
        if not Path(identity).exists():
            zgm.keygen(zgm.paths.prepare(identity), name)
        with zgm.User(name, identity, registry=args.registry, registry_key=registry_key,
                      insecure=args.insecure, timeout=args.timeout) as user:
            return run(user)
    except zgm.Error as error:
        print(f"user: {error}", file=sys.stderr)
        return 2 if isinstance(error, zgm.InvalidArgument) else 1
    except KeyboardInterrupt:
        print()
        return 130


if __name__ == "__main__":
    sys.exit(main())
