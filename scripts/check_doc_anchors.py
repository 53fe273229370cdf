#!/usr/bin/env python3
"""Checks that every citation of the behaviour contract resolves.

Code, comments, docstrings, tests and documents cite rules as
``docs/behaviour.md#<anchor>`` (or ``behaviour.md#<anchor>`` from inside ``docs/``), and
``docs/behaviour.md`` links to its own sections as ``](#<anchor>)``. The anchors are the
``<a id="..."></a>`` tags in ``docs/behaviour.md``. Every file tracked by git is searched
(``git grep``); a citation of an anchor that does not exist is printed as
``path:line: ...`` and the exit status is 1. Standard library only.

    python3 scripts/check_doc_anchors.py
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = "docs/behaviour.md"
ANCHOR = re.compile(r'<a id="([A-Za-z0-9_-]+)"></a>')
CITATION = re.compile(r"behaviour\.md#([A-Za-z0-9_-]+)")
LOCAL_LINK = re.compile(r"\]\(#([A-Za-z0-9_-]+)\)")


def anchors() -> set[str]:
    return set(ANCHOR.findall((ROOT / CONTRACT).read_text(encoding="utf-8")))


def citations() -> list[tuple[str, int, str]]:
    """(path, line, anchor) of every ``behaviour.md#<anchor>`` in a tracked file."""
    done = subprocess.run(
        ["git", "grep", "-n", "-I", "-E", r"behaviour\.md#[A-Za-z0-9_-]+"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in (0, 1):  # 1: no match
        sys.exit(f"git grep failed: {done.stderr.strip()}")
    found = []
    for line in done.stdout.splitlines():
        path, number, text = line.split(":", 2)
        found += [(path, int(number), anchor) for anchor in CITATION.findall(text)]
    return found


def local_links() -> list[tuple[str, int, str]]:
    """(path, line, anchor) of every ``](#<anchor>)`` link inside the contract itself."""
    text = (ROOT / CONTRACT).read_text(encoding="utf-8")
    return [
        (CONTRACT, number, anchor)
        for number, line in enumerate(text.splitlines(), start=1)
        for anchor in LOCAL_LINK.findall(line)
    ]


def main() -> int:
    known = anchors()
    if not known:
        print(f"{CONTRACT}: no <a id=...></a> anchors found", file=sys.stderr)
        return 1
    cited = citations() + local_links()
    missing = [(path, number, anchor) for path, number, anchor in cited if anchor not in known]
    for path, number, anchor in missing:
        print(
            f"{path}:{number}: {CONTRACT}#{anchor}: no such anchor "
            f"(there are: {', '.join(sorted(known))})",
            file=sys.stderr,
        )
    if missing:
        return 1
    print(f"{len(cited)} citations of {len(known)} anchors in {CONTRACT}: all resolve")
    return 0


if __name__ == "__main__":
    sys.exit(main())
