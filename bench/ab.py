#!/usr/bin/env python3
"""A/B of two builds of the CLI: CPU per record, side by side in one run.

    python3 bench/ab.py --a OLD/hubspot-tickets --b target/release/hubspot-tickets

Both binaries upsert the same generated records (bench/compare's data: 8 string
properties, about 330 bytes a line) into a fresh emulator each run (the current
release build's), limits off, interleaved A, B, A, B... so that machine noise spreads
over both. Every run is checked in the emulator's store. Prints each run's µs of CPU
per record (the client process's own user + system time) and the medians and their
ratio B/A. For refactors that must not cost CPU: the ratio is what to read.
"""

import argparse
import importlib.util
import statistics
import sys
from pathlib import Path

spec = importlib.util.spec_from_file_location("compare", Path(__file__).with_name("compare.py"))
if spec is None or spec.loader is None:
    sys.exit("bench/ab.py: cannot load bench/compare.py")
c = importlib.util.module_from_spec(spec)
spec.loader.exec_module(c)


def one_run(binary: str, tag: str, file: Path, n: int, concurrency: int, timeout_s: float) -> float:
    with c.Emulator(None) as emu:
        cmd = [binary, "upsert", "--base-url", emu.base_url, "--id-property", c.ID_PROPERTY,
               "--concurrency", str(concurrency), "--rate-limit", "off", "--progress", "none", str(file)]
        m = c.Child(cmd, c.client_env(), tag, timeout_s).wait()
        verify = c.verify_store(emu, [("BENCH", 0, n)])
    if m.rc != 0 or not verify.get("ok"):
        sys.exit(f"{tag}: rc={m.rc} verify={verify}\n{m.stderr_tail[-800:]}")
    return m.cpu_s * 1e6 / n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="the baseline CLI binary")
    ap.add_argument("--b", required=True, help="the CLI binary under test")
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5, help="runs of each binary (default 5)")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args()
    file = c.data_file(args.records)
    a_runs, b_runs = [], []
    for i in range(args.runs):
        a_runs.append(one_run(args.a, "ab-a", file, args.records, args.concurrency, args.timeout))
        b_runs.append(one_run(args.b, "ab-b", file, args.records, args.concurrency, args.timeout))
        print(f"run {i + 1}: A {a_runs[-1]:.2f} µs/record   B {b_runs[-1]:.2f} µs/record", flush=True)
    a, b = statistics.median(a_runs), statistics.median(b_runs)
    print(f"median: A {a:.2f} µs/record, B {b:.2f} µs/record, B/A {b / a:.3f} "
          f"({args.runs} runs each, {args.records} records, concurrency {args.concurrency})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
