#!/usr/bin/env python3
"""What each failed test of a meson run said last, printed last.

CI keeps the end of a run's output: meson's --print-errorlogs puts a failed test's log
before the summary, where it may be cut off. This prints, for each test that did not pass,
its result, exit status and time, the TAP lines that failed with what each said, and the
last lines of its standard output and of its standard error (which meson keeps apart for TAP
tests), from BUILD/meson-logs/testlog.json and testlog.txt.

usage: scripts/test-failures.py BUILD [LINES]
"""
import json
import re
import sys

PASSED = {"OK", "SKIP", "EXPECTEDFAIL"}


def streams(text):
    """Each test's stdout and stderr in testlog.txt, by its name."""
    found = {}
    for section in re.split(r"^=+ \d+/\d+ =+$", text, flags=re.M)[1:]:
        name = re.search(r"^test:\s+(.*)$", section, flags=re.M)
        if not name:
            continue
        parts = {}
        for which in ("stdout", "stderr"):
            match = re.search(r"^-+ " + which + r" -+\n(.*?)(?=^-+ std(?:out|err) -+$|^=+$|\Z)",
                              section, flags=re.M | re.S)
            parts[which] = match.group(1).splitlines() if match else []
        found[name.group(1).strip()] = parts
    return found


def failed_tap(output, most):
    """Each failed TAP test's lines: what it printed while it ran (after the previous test's
    result), its "not ok", and what cmocka said after it (the assertion, its file and line);
    at most MOST lines of each part."""
    lines = []
    start = 0
    for i, line in enumerate(output):
        if line.startswith("ok ") or line.startswith("not ok"):
            if line.startswith("not ok"):
                end = i + 1
                while end < len(output) and output[end].startswith("#"):
                    end += 1
                lines += output[max(start, i - most):i] + output[i:min(end, i + 1 + most)]
            start = i + 1
    return lines


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    log = sys.argv[1] + "/meson-logs/testlog.json"
    tail = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    try:
        entries = [json.loads(line) for line in open(log) if line.strip()]
    except OSError as error:
        print(f"test-failures: {error}", file=sys.stderr)
        return 1
    failed = [e for e in entries if e.get("result") not in PASSED]
    try:
        text = open(sys.argv[1] + "/meson-logs/testlog.txt", errors="replace").read()
    except OSError:
        text = ""
    logs = streams(text)
    for entry in failed:
        print(f"=== {entry['name']}: {entry['result']}, exit {entry.get('returncode')}, "
              f"{entry.get('duration', 0):.1f} s")
        parts = logs.get(entry["name"].strip(), {})
        output = parts.get("stdout") or (entry.get("stdout") or "").splitlines()
        for line in failed_tap(output, tail):
            print(line)
        for which, lines in (("stdout", output), ("stderr", parts.get("stderr", []))):
            print(f"--- the last {min(tail, len(lines))} lines of its {which}:")
            for line in lines[-tail:]:
                print(line)
    print(f"test-failures: {len(failed)} of {len(entries)} tests did not pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
