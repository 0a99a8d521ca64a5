#!/usr/bin/env python3
"""Lines of code of a crate's source, per concern (a folder or file under src/), at git revisions.

    python3 scripts/code_lines.py                      # the facade, at HEAD
    python3 scripts/code_lines.py 691ede8 HEAD         # side by side
    python3 scripts/code_lines.py --src crates/hubspot-tickets-cli/src HEAD

Counts what a reader of the code reads: blank lines, comments and doc comments are left
out, and so are tests (files named tests.rs or proptests.rs, folders named tests, and
every item under `#[cfg(test)]`). A concern is the first path part under src/ (a folder
such as engine/, or a file such as error.rs). Use a revision, or WT for the working tree.
"""

import argparse
import re
import subprocess
from pathlib import Path

TEST_FILE = re.compile(r"(^|/)(\w+_)?(tests|proptests)\.rs$")


def code_lines(text: str) -> int:
    lines = text.split("\n")
    count, i = 0, 0
    while i < len(lines):
        s = lines[i].strip()
        if s.startswith("#[cfg(test)]"):
            # Skip the item that follows: to its balanced closing brace, or its `;`.
            depth, opened, i = 0, False, i + 1
            while i < len(lines):
                code = re.sub(r"//.*", "", lines[i])
                depth += code.count("{") - code.count("}")
                opened = opened or "{" in code
                i += 1
                if (opened and depth <= 0) or (not opened and code.strip().endswith(";")):
                    break
            continue
        if s and not s.startswith("//"):
            count += 1
        i += 1
    return count


def git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout


def per_concern(rev: str, src: str) -> dict[str, int]:
    if rev == "WT":
        files = git("ls-files", src).split()
    else:
        files = git("ls-tree", "-r", "--name-only", rev, src).split()
    out: dict[str, int] = {}
    for f in files:
        rel = f[len(src) + 1:]
        if not f.endswith(".rs") or "/tests/" in f"/{rel}" or TEST_FILE.search(rel):
            continue
        text = Path(f).read_text() if rev == "WT" else git("show", f"{rev}:{f}")
        concern = rel.split("/")[0] + ("/" if "/" in rel else "")
        out[concern] = out.get(concern, 0) + code_lines(text)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("revs", nargs="*", default=["HEAD"])
    ap.add_argument("--src", default="crates/hubspot-tickets/src")
    args = ap.parse_args()
    src = args.src.rstrip("/")
    counts = [per_concern(rev, src) for rev in args.revs]
    concerns = sorted({c for cs in counts for c in cs})
    print("| concern | " + " | ".join(args.revs) + (" | change |" if len(counts) > 1 else " |"))
    print("|---" * (len(counts) + 1 + (len(counts) > 1)) + "|")
    for c in concerns + ["total"]:
        row = [sum(cs.values()) if c == "total" else cs.get(c, 0) for cs in counts]
        change = f" | {row[-1] - row[0]:+,}" if len(row) > 1 else ""
        print(f"| {c} | " + " | ".join(f"{n:,}" for n in row) + change + " |")


if __name__ == "__main__":
    main()
