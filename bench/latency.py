#!/usr/bin/env python3
"""Our CLI at its defaults against an emulator that answers like a remote HubSpot.

For each median latency (lognormal, sigma 0.3 by default), a fresh emulator with a
Professional limit (190 requests per 10 s: a ceiling of 1,900 records/s) and
`--latency MEDIAN,SIGMA`, and `--processes` runs of `hubspot-tickets upsert` (one by
default) with no tuning flag, started together and sharing one token (each with its
share of the records, under ids of its own). Prints, per latency: records/s end to end
(start-up, the first request alone, and the last answers included; the slowest
process's time with several), the share of the ceiling (below), 429s, 423s and the
peak in flight (as the emulator saw it: requests arrived and not yet answered).

Share of the ceiling: from the emulator's request log (when each request arrived),
the k whole 10 s windows that follow the first request; the 2xx answers among the
requests that arrived in them, over k x 190. No client can put more than 190 in any
window, so 100% is the ceiling whatever the shape of the run (a burst at the start, or
paced); the ragged end counts for nothing either way. This is how `bench/compare`
computes its saturation figure. It needs a run of at least one whole window after
the first request, and the log holds the last 1,024 requests (`-` when it missed some).

    bench/latency.py                                  # 100ms 300ms 1s 2s, 60,000 records each
    bench/latency.py --latencies 1s,2s --records 20000
    bench/latency.py --latencies 1s --processes 2     # two processes sharing one token
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


def write_data(path, n, prefix="LAT"):
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({
                "external_ticket_id": f"{prefix}-{i:08d}",
                "subject": f"Ticket {i}",
                "content": "Printer on floor 3 is out of toner again.",
                "hs_pipeline": "0",
                "hs_pipeline_stage": "1",
                "hs_ticket_priority": ["LOW", "MEDIUM", "HIGH"][i % 3],
            }) + "\n")


def split_data(folder, records, processes):
    """`records` in one file per process, each under ids of its own."""
    data = []
    for i in range(processes):
        part = os.path.join(folder, f"tickets-{i}.jsonl")
        write_data(part, records // processes + (1 if i < records % processes else 0), prefix=f"LAT{i}")
        data.append(part)
    return data


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


def whole_window_share(log):
    """2xx answers among the requests arriving in the whole windows after the first
    request, over what those windows allow (see the module's docstring)."""
    arrived = sorted((parse_time(e["arrived"]).timestamp(), e.get("status"))
                     for e in log if e.get("arrived"))
    if not arrived:
        return None, 0
    first, last = arrived[0][0], arrived[-1][0]
    k = int((last - first) // WINDOW_S)
    if k < 1:
        return None, 0
    end = first + k * WINDOW_S
    ok = sum(1 for t, status in arrived if t < end and status is not None and 200 <= status < 300)
    return ok / (k * CEILING_REQUESTS), k


def print_timeline(log):
    """Requests arrived per second from the first one (2xx, and refused in brackets)."""
    arrived = sorted((parse_time(e["arrived"]).timestamp(), e.get("status"))
                     for e in log if e.get("arrived"))
    if not arrived:
        return
    per_s = {}
    for t, status in arrived:
        ok, refused = per_s.get(int(t - arrived[0][0]), (0, 0))
        good = status is not None and 200 <= status < 300
        per_s[int(t - arrived[0][0])] = (ok + good, refused + (not good))
    print("  per second: " + " ".join(
        f"{s}:{ok}" + (f"({bad})" if bad else "") for s, (ok, bad) in sorted(per_s.items())))


def cli_cmd(cli, url, part):
    """Our CLI at its defaults: no tuning flag."""
    return [cli, "upsert", "--id-property", "external_ticket_id", "--base-url", url,
            "--progress", "none", part]


def run_one(args, latency, data, cmd=None):
    """One run per file of `data`, started together against a fresh emulator; `cmd(url,
    file)` is the client's command line (our CLI at its defaults unless given)."""
    proc, url = start_emulator(args.bin_dir, latency, args.emulator_args)
    try:
        env = dict(os.environ, HUBSPOT_ACCESS_TOKEN=TOKEN)
        env.pop("RUST_LOG", None)
        cli = args.cli or os.path.join(args.bin_dir, "hubspot-tickets")
        cmd = cmd or (lambda url, part: cli_cmd(cli, url, part))
        t0 = time.monotonic()
        # Started together, each with its own records; stderr to a file, so that a
        # chatty process never blocks on a full pipe while the others run.
        procs = []
        for i, part in enumerate(data):
            err = tempfile.TemporaryFile(mode="w+")
            procs.append((subprocess.Popen(cmd(url, part), env=env, stdout=subprocess.DEVNULL,
                                           stderr=err, text=True), err))
        exits, tails = [], []
        for p, err in procs:
            exits.append(p.wait())
            err.seek(0)
            tails.append(err.read().strip().splitlines()[-3:])
            err.close()
        elapsed = time.monotonic() - t0
        s = stats(url)
    finally:
        proc.kill()
        proc.wait()
    by_status = {int(k): v for k, v in s.get("responsesByStatus", {}).items()}
    log = s.get("requestLog", [])
    requests = s.get("requests", 0)
    # The log keeps the last 1,024 requests: a share from part of the run would lie.
    share, windows = whole_window_share(log) if len(log) >= requests else (None, 0)
    if args.timeline:
        print_timeline(log)
    failed = any(exits)
    return {
        "latency": latency,
        "processes": len(data),
        "exit": max(exits),
        "created": s.get("recordsCreated", 0),
        "elapsed_s": round(elapsed, 2),
        "records_per_s": round(args.records / elapsed),
        "share": share,
        "windows": windows,
        "requests": requests,
        "429": by_status.get(429, 0),
        "423": by_status.get(423, 0),
        "peak_in_flight": s.get("peakInFlight", 0),
        "stderr_tail": [t for t in tails if t] if failed else [],
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--latencies", default="100ms,300ms,1s,2s")
    p.add_argument("--sigma", default="0.3")
    p.add_argument("--records", type=int, default=60_000,
                   help="records in all (split between the processes); 60,000 makes at least two whole windows at 2 s")
    p.add_argument("--processes", type=int, default=1,
                   help="CLI processes started together, sharing one token")
    p.add_argument("--cli", help="the hubspot-tickets binary to run (default: BIN_DIR/hubspot-tickets)")
    p.add_argument("--bin-dir", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release"))
    p.add_argument("--json", action="store_true", help="print the raw figures as JSON too")
    p.add_argument("--timeline", action="store_true", help="print the requests arrived in each second")
    args, extra = p.parse_known_args()
    args.emulator_args = extra  # anything else goes to the emulator (--lock-burst 60/1s ...)
    if args.processes < 1:
        p.error("--processes must be at least 1")
    with tempfile.TemporaryDirectory() as d:
        data = split_data(d, args.records, args.processes)
        procs = "" if args.processes == 1 else f" in {args.processes} processes sharing one token"
        print(f"{args.records:,} records{procs}, CLI defaults, emulator 190 req/10 s "
              f"(ceiling 1,900 records/s), latency lognormal sigma {args.sigma}"
              + (f", emulator {' '.join(extra)}" if extra else "")
              + f"; share: 2xx arrivals in whole 10 s windows after the first request / 190 per window")
        print(f"{'median':>8} {'records/s':>10} {'share':>7} {'windows':>8} {'requests':>9} {'429s':>5} {'423s':>5} {'peak in flight':>15} {'elapsed':>8}")
        rows = []
        for lat in args.latencies.split(","):
            r = run_one(args, f"{lat},{args.sigma}", data)
            rows.append(r)
            share = f"{r['share'] * 100:.1f}%" if r["share"] is not None else "-"
            print(f"{lat:>8} {r['records_per_s']:>10,} {share:>7} {r['windows']:>8} {r['requests']:>9,} {r['429']:>5} "
                  f"{r['423']:>5} {r['peak_in_flight']:>15} {r['elapsed_s']:>7}s"
                  + ("" if r["exit"] == 0 and r["created"] == args.records
                     else f"  (exit {r['exit']}, {r['created']:,} created) {r['stderr_tail']}"))
            sys.stdout.flush()
        if args.json:
            print(json.dumps(rows, indent=2, default=str))


if __name__ == "__main__":
    main()
