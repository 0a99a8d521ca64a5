#!/usr/bin/env python3
"""A/B of two builds of the CLI (or of the facade's bench_upsert example, with
`--facade`): CPU per record, side by side in one run.

    python3 bench/ab.py --a OLD/hubspot-tickets --b target/release/hubspot-tickets
    python3 bench/ab.py --a target/release/hubspot-tickets --b target/release/hubspot-tickets \
        --b-args="--api-version 2026-09" --callgrind --records 20000 --runs 1

Both binaries upsert the same generated records (bench/compare's data: 8 string
properties, about 330 bytes a line) into a fresh emulator each run (the current
release build's), limits off, interleaved A, B, A, B... so that machine noise spreads
over both. Every run is checked in the emulator's store. Prints each run's µs of CPU
per record (the client process's own user + system time) and the medians and their
ratio B/A. For refactors that must not cost CPU: the ratio is what to read.

On a shared, noisy machine, `--callgrind` counts instructions instead (valgrind's
callgrind; repeatable to a few hundredths of a percent whatever else runs): slower,
so use about 20 000 records.
"""

import argparse
import importlib.util
import re
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

spec = importlib.util.spec_from_file_location("compare", Path(__file__).with_name("compare.py"))
if spec is None or spec.loader is None:
    sys.exit("bench/ab.py: cannot load bench/compare.py")
c = importlib.util.module_from_spec(spec)
sys.modules["compare"] = c  # its dataclasses look their module up there
spec.loader.exec_module(c)


def one_run(binary: str, extra: list[str], tag: str, file: Path, n: int, concurrency: int, timeout_s: float,
            callgrind: bool, facade: bool) -> float:
    """µs of CPU per record, or with `callgrind` instructions per record."""
    with c.Emulator(None) as emu:
        # The facade example takes the CLI's upsert flags, without the subcommand and --progress.
        head, tail = ([binary], []) if facade else ([binary, "upsert"], ["--progress", "none"])
        cmd = [*head, "--base-url", emu.base_url, "--id-property", c.ID_PROPERTY, *extra,
               "--concurrency", str(concurrency), "--rate-limit", "off", *tail, str(file)]
        if callgrind:
            out = c.DATA / f"last-{tag}.callgrind"
            p = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *cmd],
                               capture_output=True, text=True, env=c.client_env(), timeout=timeout_s)
            collected = re.findall(r"Collected : (\d+)", p.stderr)
            verify = c.verify_store(emu, [("BENCH", 0, n)])
            if p.returncode != 0 or not collected or not verify.get("ok"):
                sys.exit(f"{tag}: rc={p.returncode} verify={verify}\n{p.stderr[-800:]}")
            return int(collected[-1]) / n
        m = c.Child(cmd, c.client_env(), tag, timeout_s).wait()
        verify = c.verify_store(emu, [("BENCH", 0, n)])
    if m.rc != 0 or not verify.get("ok"):
        sys.exit(f"{tag}: rc={m.rc} verify={verify}\n{m.stderr_tail[-800:]}")
    return m.cpu_s * 1e6 / n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="the baseline CLI binary")
    ap.add_argument("--b", required=True, help="the CLI binary under test")
    ap.add_argument("--a-args", default="", help="extra arguments for A's upsert (e.g. \"--api-version v3\")")
    ap.add_argument("--b-args", default="", help="extra arguments for B's upsert")
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5, help="runs of each binary (default 5)")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--callgrind", action="store_true", help="count instructions (valgrind) instead of CPU time")
    ap.add_argument("--facade", action="store_true",
                    help="A and B are builds of the facade's bench_upsert example, not of the CLI")
    args = ap.parse_args()
    unit = "instructions/record" if args.callgrind else "µs/record"
    file = c.data_file(args.records)
    a_runs, b_runs = [], []
    for i in range(args.runs):
        a_runs.append(one_run(args.a, shlex.split(args.a_args), "ab-a", file, args.records, args.concurrency, args.timeout, args.callgrind, args.facade))
        b_runs.append(one_run(args.b, shlex.split(args.b_args), "ab-b", file, args.records, args.concurrency, args.timeout, args.callgrind, args.facade))
        print(f"run {i + 1}: A {a_runs[-1]:.2f} {unit}   B {b_runs[-1]:.2f} {unit}", flush=True)
    a, b = statistics.median(a_runs), statistics.median(b_runs)
    print(f"median: A {a:.2f} {unit}, B {b:.2f} {unit}, B/A {b / a:.3f} "
          f"({args.runs} runs each, {args.records} records, concurrency {args.concurrency})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
