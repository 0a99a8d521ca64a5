#!/usr/bin/env python3
"""Our CLI at its defaults against an emulator that answers like a remote HubSpot.

For each median latency (lognormal, sigma 0.3 by default), a fresh emulator with a
Professional limit (190 requests per 10 s: a ceiling of 1,900 records/s) and
`--latency MEDIAN,SIGMA`, and one `hubspot-tickets upsert` run with no tuning flag.
Prints, per latency: records/s end to end (start-up, the first request alone, and the
last answers included), the share of the ceiling in the steady state (requests
arriving after the first 10 s window, per second, over 19 per second), 429s, 423s and
the peak in flight (as the emulator saw it: requests arrived and not yet answered).

    bench/latency.py                                  # 100ms 300ms 1s 2s, 40,000 records each
    bench/latency.py --latencies 1s,2s --records 20000
    bench/latency.py --bin-dir target/debug --lock-burst 60/1s

Needs the release binaries (cargo build --release -p hubspot-tickets-cli -p
hubspot-emulator) unless --bin-dir says where others are.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime

TOKEN = "bench-token"
CEILING_REQUESTS, WINDOW_S = 190, 10.0
BATCH = 100


def write_data(path, n):
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({
                "external_ticket_id": f"LAT-{i:08d}",
                "subject": f"Ticket {i}",
                "content": "Printer on floor 3 is out of toner again.",
                "hs_pipeline": "0",
                "hs_pipeline_stage": "1",
                "hs_ticket_priority": ["LOW", "MEDIUM", "HIGH"][i % 3],
            }) + "\n")


def start_emulator(bin_dir, latency, extra):
    cmd = [os.path.join(bin_dir, "hubspot-emulator"), "--port", "0", "--token", TOKEN,
           "--no-daily-limit", "--latency", latency,
           ] + extra
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        line = proc.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+)", line or "")
        if m:
            return proc, m.group(1)
        if proc.poll() is not None:
            break
    proc.kill()
    sys.exit(f"the emulator did not start: {' '.join(cmd)}")


def stats(url):
    with urllib.request.urlopen(f"{url}/__emulator/stats") as r:
        return json.load(r)


def parse_time(s):
    # 2026-12-07T10:11:12.123456789Z -> datetime (microseconds kept).
    s = s.rstrip("Z")
    if "." in s:
        head, frac = s.split(".")
        s = f"{head}.{frac[:6]}"
    return datetime.fromisoformat(s)


def steady_share(arrivals):
    """Requests arriving after the first window, per second, as a share of the ceiling.

    The first window is left out: a fresh account's window starts empty (a burst may
    exceed the steady rate) and the first request goes alone. What is left is the rate
    a long run keeps."""
    if not arrivals:
        return None
    start = arrivals[0].timestamp() + WINDOW_S
    later = [a.timestamp() for a in arrivals if a.timestamp() > start]
    if len(later) < 20:
        return None
    span = later[-1] - start
    return len(later) / span / (CEILING_REQUESTS / WINDOW_S)


def run_one(args, latency, data):
    proc, url = start_emulator(args.bin_dir, latency, args.emulator_args)
    try:
        env = dict(os.environ, HUBSPOT_ACCESS_TOKEN=TOKEN)
        env.pop("RUST_LOG", None)
        cmd = [os.path.join(args.bin_dir, "hubspot-tickets"), "upsert", "--id-property",
               "external_ticket_id", "--base-url", url, "--progress", "none", data]
        t0 = time.monotonic()
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        elapsed = time.monotonic() - t0
        s = stats(url)
    finally:
        proc.kill()
        proc.wait()
    by_status = {int(k): v for k, v in s.get("responsesByStatus", {}).items()}
    log = s.get("requestLog", [])
    arrivals = sorted(parse_time(e["arrived"]) for e in log
                      if e.get("arrived") and e.get("status") not in (429, 423))
    share = steady_share(arrivals)
    requests = s.get("requests", 0)
    return {
        "latency": latency,
        "exit": out.returncode,
        "created": s.get("recordsCreated", 0),
        "elapsed_s": round(elapsed, 2),
        "records_per_s": round(args.records / elapsed),
        "share": share,
        "requests": requests,
        "429": by_status.get(429, 0),
        "423": by_status.get(423, 0),
        "peak_in_flight": s.get("peakInFlight", 0),
        "stderr_tail": out.stderr.strip().splitlines()[-3:] if out.returncode else [],
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--latencies", default="100ms,300ms,1s,2s")
    p.add_argument("--sigma", default="0.3")
    p.add_argument("--records", type=int, default=40_000)
    p.add_argument("--bin-dir", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release"))
    p.add_argument("--json", action="store_true", help="print the raw figures as JSON too")
    args, extra = p.parse_known_args()
    args.emulator_args = extra  # anything else goes to the emulator (--lock-burst 60/1s ...)
    with tempfile.TemporaryDirectory() as d:
        data = os.path.join(d, "tickets.jsonl")
        write_data(data, args.records)
        print(f"{args.records:,} records, CLI defaults, emulator 190 req/10 s "
              f"(ceiling 1,900 records/s), latency lognormal sigma {args.sigma}"
              + (f", emulator {' '.join(extra)}" if extra else ""))
        print(f"{'median':>8} {'records/s':>10} {'share':>7} {'requests':>9} {'429s':>5} {'423s':>5} {'peak in flight':>15} {'elapsed':>8}")
        rows = []
        for lat in args.latencies.split(","):
            r = run_one(args, f"{lat},{args.sigma}", data)
            rows.append(r)
            share = f"{r['share'] * 100:.1f}%" if r["share"] is not None else "-"
            print(f"{lat:>8} {r['records_per_s']:>10,} {share:>7} {r['requests']:>9,} {r['429']:>5} "
                  f"{r['423']:>5} {r['peak_in_flight']:>15} {r['elapsed_s']:>7}s"
                  + ("" if r["exit"] == 0 and r["created"] == args.records
                     else f"  (exit {r['exit']}, {r['created']:,} created) {r['stderr_tail']}"))
            sys.stdout.flush()
        if args.json:
            print(json.dumps(rows, indent=2, default=str))


if __name__ == "__main__":
    main()
