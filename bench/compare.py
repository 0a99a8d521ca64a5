#!/usr/bin/env python3
"""Comparison harness (issue 6, part 2-5): this project's Rust client against the
official Node and Python SDKs, on the local emulator.

Python 3.11 standard library only. Run it through `bench/compare` (see bench/README.md).

What one invocation does:
  1. installs the pinned peer SDKs into bench/.peers/ (skipped when already there);
  2. builds the release binaries (`cargo build --release ...`);
  3. generates the data once per record count in bench/.data/ (JSON Lines, 8 string
     properties per record);
  4. comparison: every client against a fresh emulator with rate limits off, then with a
     scaled rolling window, K runs each (interleaved), medians reported;
  5. rate-limit saturation: ~20 s against the scaled window, one process then two
     processes sharing one token, for our CLI and for the Node SDK with its default
     Bottleneck limiter;
  6. API versions: our CLI once per version (v3, 2026-03, 2026-09), same records and
     emulator, CPU per record against v3's;
  7. memory growth: our CLI on 1 000 000 records against 100 000, peak RSS of both;
  8. prints the tables; with --write-results rewrites bench/RESULTS.md from them.

Every client process is measured by the harness itself: wall time with
time.monotonic() around spawn..reap, CPU (ru_utime + ru_stime) and peak RSS (ru_maxrss)
from os.wait4() on that very child. Every run is checked against the emulator's store
(every generated id present, properties as sent): a run that loses records is marked
FAILED and its figures are not used as a win.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PEERS = BENCH / ".peers"
DATA = BENCH / ".data"
NODE_PEER_DIR = PEERS / "node"
PY_VENV = PEERS / "py"

NODE_SDK = ("@hubspot/api-client", "14.0.1")
PY_SDK = ("hubspot-api-client", "12.0.0")

TOKEN = "bench-token"
ID_PROPERTY = "external_ticket_id"
BATCH = 100
# The 8th property, a custom text property. The emulator's default schema has no custom
# property besides the unique id, so the harness declares this one with
# `hubspot-emulator --property source_system:string`.
CUSTOM_PROPERTY = "source_system"

NODE_DEFAULT_LIMITER_RPS = 9  # DEFAULT_LIMITER_OPTIONS.minTime = 1000 / 9 ms

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def die(msg: str) -> None:
    log("error: " + msg)
    sys.exit(2)


def run(cmd: list[str], **kw: Any) -> str:
    """Run a setup command, fail loudly, return its stdout."""
    log("$ " + shlex.join(cmd))
    res = subprocess.run(cmd, text=True, capture_output=True, **kw)
    if res.returncode != 0:
        sys.stderr.write(res.stdout[-4000:] + res.stderr[-4000:])
        die(f"command failed ({res.returncode}): {shlex.join(cmd)}")
    return res.stdout


def output_of(cmd: list[str]) -> str:
    try:
        res = subprocess.run(cmd, text=True, capture_output=True, timeout=60)
        return (res.stdout or res.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unavailable ({e})"


# --------------------------------------------------------------------------- peers


def ensure_node_peer() -> None:
    pkg = NODE_PEER_DIR / "node_modules" / NODE_SDK[0] / "package.json"
    if pkg.exists() and json.loads(pkg.read_text())["version"] == NODE_SDK[1]:
        return
    if shutil.which("npm") is None or shutil.which("node") is None:
        die("node and npm are needed for the Node peer (or leave it out with --only)")
    NODE_PEER_DIR.mkdir(parents=True, exist_ok=True)
    manifest = NODE_PEER_DIR / "package.json"
    if not manifest.exists():
        manifest.write_text(json.dumps({"name": "hubspot-tickets-bench-peers", "private": True}) + "\n")
    log(f"installing {NODE_SDK[0]}@{NODE_SDK[1]} into {NODE_PEER_DIR.relative_to(ROOT)}")
    run(["npm", "install", "--no-audit", "--no-fund", "--save-exact", "--loglevel=error",
         f"{NODE_SDK[0]}@{NODE_SDK[1]}"], cwd=NODE_PEER_DIR)


def py_peer_python() -> Path:
    return PY_VENV / "bin" / "python"


def ensure_python_peer() -> None:
    py = py_peer_python()
    if py.exists():
        probe = subprocess.run([str(py), "-c", f"import importlib.metadata as m; print(m.version('{PY_SDK[0]}'))"],
                               text=True, capture_output=True)
        if probe.returncode == 0 and probe.stdout.strip() == PY_SDK[1]:
            return
    if not py.exists():
        log(f"creating venv {PY_VENV.relative_to(ROOT)}")
        run([sys.executable, "-m", "venv", str(PY_VENV)])
    log(f"installing {PY_SDK[0]}=={PY_SDK[1]} into {PY_VENV.relative_to(ROOT)}")
    run([str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         f"{PY_SDK[0]}=={PY_SDK[1]}"])


# --------------------------------------------------------------------------- rust side


def target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")).resolve() / "release"


CARGO_BUILD = ["cargo", "build", "--release", "--locked", "-p", "hubspot-tickets-cli", "-p", "hubspot-emulator"]
# The facade's benchmark driver: crates/hubspot-tickets/examples/bench_upsert.rs.
# BENCH_FACADE_BIN points at a prebuilt binary of it instead.
FACADE_EXAMPLE = "bench_upsert"


def facade_example_exists() -> bool:
    return bool(os.environ.get("BENCH_FACADE_BIN")) or (
        ROOT / "crates" / "hubspot-tickets" / "examples" / f"{FACADE_EXAMPLE}.rs").exists()


def build_rust(want_facade: bool) -> list[str]:
    # Two commands: with `--example`, cargo builds only examples, so asking for the
    # example in the same command would leave the CLI and emulator binaries stale.
    run(list(CARGO_BUILD), cwd=ROOT)
    if want_facade and facade_example_exists() and not os.environ.get("BENCH_FACADE_BIN"):
        example = ["cargo", "build", "--release", "--locked", "-p", "hubspot-tickets", "--example", FACADE_EXAMPLE]
        run(example, cwd=ROOT)
        return list(CARGO_BUILD) + ["&&"] + example
    return list(CARGO_BUILD)


def cli_bin() -> Path:
    return target_dir() / "hubspot-tickets"


def emulator_bin() -> Path:
    # BENCH_EMULATOR_BIN: another emulator executable with the same flags (harness development only).
    override = os.environ.get("BENCH_EMULATOR_BIN")
    return Path(override) if override else target_dir() / "hubspot-emulator"


def facade_bin() -> Path:
    override = os.environ.get("BENCH_FACADE_BIN")
    return Path(override) if override else target_dir() / "examples" / FACADE_EXAMPLE


# --------------------------------------------------------------------------- data

PRIORITIES = ("LOW", "MEDIUM", "HIGH")
CATEGORIES = ("PRODUCT_ISSUE", "BILLING_ISSUE", "FEATURE_REQUEST", "GENERAL_INQUIRY")
SOURCES = ("zendesk", "jira", "email", "web_form", "phone")


def record_id(i: int, prefix: str = "BENCH") -> str:
    return f"{prefix}-{i:08d}"


def make_record(i: int, prefix: str = "BENCH") -> dict[str, str]:
    """Record i of a data set: 8 string properties, ~330 bytes of JSON."""
    return {
        ID_PROPERTY: record_id(i, prefix),
        "subject": f"Printer on floor {i % 12} jams on duplex jobs (case {i})",
        "content": (f"Customer {i % 9973} reports that every second duplex job jams since the "
                    f"firmware update; tray {i % 4 + 1} affected, serial SN{i * 7919 % 1000003:07d}."),
        "hs_pipeline": "0",
        "hs_pipeline_stage": str(1 + i % 4),
        "hs_ticket_priority": PRIORITIES[i % 3],
        "hs_ticket_category": CATEGORIES[i % 4],
        CUSTOM_PROPERTY: SOURCES[i % 5],
    }


def data_file(n: int, prefix: str = "BENCH", start: int = 0) -> Path:
    """The JSONL file of records start..start+n (generated once, reused)."""
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"tickets-{prefix.lower()}-{start}-{n}.jsonl"
    if path.exists():
        return path
    log(f"generating {n} records -> {path.relative_to(ROOT)}")
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for i in range(start, start + n):
            f.write(json.dumps(make_record(i, prefix), separators=(",", ":")))
            f.write("\n")
    tmp.rename(path)
    return path


# --------------------------------------------------------------------------- processes


@dataclass
class Measured:
    cmd: list[str]
    rc: int
    wall_s: float
    cpu_s: float  # ru_utime + ru_stime of the child
    user_s: float
    sys_s: float
    maxrss_kib: int
    stdout: str
    stderr_tail: str

    def summary(self) -> dict[str, Any]:
        """The client's own one-line JSON summary (last JSON line on stdout), if any."""
        for line in reversed(self.stdout.strip().splitlines()):
            line = line.strip()
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except json.JSONDecodeError:
                    continue
        return {}


# Each client is started by this small launcher (a `python3 -S -I` process of about
# 5 MiB), which forks it, reaps it with os.wait4() and writes the child's own rusage and
# wall time to a JSON file. Why not wait4() from the harness directly: Linux carries
# the parent's memory high-water mark into ru_maxrss at exec (vfork and fork alike), so
# a client spawned by the harness would report the harness's peak RSS (the store check
# of a 1M-record run makes that hundreds of MiB). Through the launcher, ru_maxrss is the
# client's own peak, or the launcher's ~5 MiB when the client stays below that (see
# `launcher floor` in RESULTS.md).
LAUNCHER = r"""
import os, signal, sys, time
out, timeout, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(cmd[0], cmd)
    finally:
        os._exit(127)
killed = []
def on_alarm(*_):
    killed.append(1)
    os.kill(pid, signal.SIGKILL)
signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, timeout)
_, status, ru = os.wait4(pid, 0)
wall = time.monotonic() - t0
signal.setitimer(signal.ITIMER_REAL, 0)
import json
with open(out, "w") as f:
    json.dump({"rc": os.waitstatus_to_exitcode(status), "wall_s": wall, "user_s": ru.ru_utime,
               "sys_s": ru.ru_stime, "maxrss_kib": ru.ru_maxrss, "timed_out": bool(killed)}, f)
"""


class Child:
    """A client process, measured by the launcher (its own rusage, nothing else's)."""

    def __init__(self, cmd: list[str], env: dict[str, str], tag: str, timeout_s: float = 900.0):
        self.cmd = cmd
        DATA.mkdir(parents=True, exist_ok=True)
        self.out_path = DATA / f"last-{tag}.out"
        self.err_path = DATA / f"last-{tag}.err"
        self.rusage_path = DATA / f"last-{tag}.rusage.json"
        self.rusage_path.unlink(missing_ok=True)
        self._out = self.out_path.open("wb")
        self._err = self.err_path.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-S", "-I", "-c", LAUNCHER, str(self.rusage_path),
                                      str(timeout_s), *cmd],
                                     stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL, env=env, cwd=ROOT)

    def wait(self) -> Measured:
        self.proc.wait()
        self._out.close()
        self._err.close()
        out = self.out_path.read_text(errors="replace")
        err = self.err_path.read_text(errors="replace")
        try:
            ru = json.loads(self.rusage_path.read_text())
        except (OSError, json.JSONDecodeError):
            die(f"the launcher of {shlex.join(self.cmd)} left no figures: {err[-1000:]}")
        if ru["timed_out"]:
            log(f"timeout: killed {shlex.join(self.cmd)}")
        return Measured(self.cmd, ru["rc"], ru["wall_s"], ru["user_s"] + ru["sys_s"], ru["user_s"], ru["sys_s"],
                        ru["maxrss_kib"], out, err[-2000:])


def launcher_floor_kib() -> int:
    """ru_maxrss the launcher reports for a process that uses almost nothing."""
    c = Child(["true"], dict(os.environ), "floor", 30)
    return c.wait().maxrss_kib


def proc_cpu_s(pid: int) -> float:
    """CPU seconds (user+sys, all threads) a live process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, every process included (/proc/stat)."""
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:9]]
    idle = vals[3] + vals[4]  # idle + iowait
    return sum(vals) - idle, sum(vals)


def proc_hwm_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


# --------------------------------------------------------------------------- emulator


@dataclass
class Window:
    max_requests: int
    interval_ms: int

    @property
    def per_second(self) -> float:
        return self.max_requests * 1000.0 / self.interval_ms

    def label(self) -> str:
        return f"{self.max_requests}/{self.interval_ms}ms"


def emulator_cmd(window: Window | None) -> list[str]:
    cmd = [str(emulator_bin()), "--port", "0", "--token", TOKEN, "--log", "warn",
           "--property", f"{CUSTOM_PROPERTY}:string"]
    if window is None:
        cmd += ["--no-rate-limits"]
    else:
        cmd += ["--rate-limit", str(window.max_requests), "--rate-window-ms", str(window.interval_ms),
                "--no-daily-limit"]
    return cmd


def http_json(method: str, url: str, timeout: float = 120.0) -> Any:
    req = urllib.request.Request(url, method=method, headers={"Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        body = resp.read()
    return json.loads(body) if body else None


class Emulator:
    """A fresh emulator process on a free loopback port."""

    def __init__(self, window: Window | None):
        self.cmd = emulator_cmd(window)
        self.out_path = DATA / "last-emulator.out"
        self.log_path = DATA / "last-emulator.log"
        self._out = self.out_path.open("wb")
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(self.cmd, stdout=self._out, stderr=self._log, stdin=subprocess.DEVNULL)
        self.base_url = ""
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                die(f"emulator exited ({self.proc.returncode}): {shlex.join(self.cmd)}\n"
                    + self.log_path.read_text(errors="replace")[-1500:])
            if not self.base_url:
                # It prints "hubspot-emulator listening on http://127.0.0.1:PORT" once bound.
                for word in self.out_path.read_text(errors="replace").split():
                    if word.startswith("http://"):
                        self.base_url = word.rstrip("/")
            if self.base_url:
                try:
                    http_json("GET", self.base_url + "/__emulator/health", timeout=5)
                    break
                except (OSError, urllib.error.URLError, json.JSONDecodeError):
                    pass
            if time.monotonic() > deadline:
                self.stop()
                die(f"emulator did not come up; see {self.log_path}")
            time.sleep(0.02)

    def cpu_s(self) -> float:
        return proc_cpu_s(self.proc.pid)

    def hwm_kib(self) -> int:
        return proc_hwm_kib(self.proc.pid)

    def stats(self) -> dict[str, Any]:
        return http_json("GET", self.base_url + "/__emulator/stats", timeout=30)

    def counters(self) -> dict[str, Any]:
        """requests and 429s as the emulator counted them."""
        return parse_emulator_stats(self.stats())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        self._log.close()

    def __enter__(self) -> "Emulator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def parse_emulator_stats(stats: dict[str, Any]) -> dict[str, Any]:
    """requests and 429s as the emulator counted them (GET /__emulator/stats)."""
    by_status = {str(k): int(v) for k, v in (stats.get("responsesByStatus") or {}).items()}
    return {"requests": int(stats.get("requests", 0)), "status_429": by_status.get("429", 0),
            "status_by_code": by_status, "duplicate_creates": len(stats.get("duplicateCreates") or []),
            "connections_dropped": int(stats.get("connectionsDropped", 0)),
            "log": [(e.get("at"), e.get("status")) for e in stats.get("requestLog") or []]}


def whole_window_share(log: list[tuple[str, int | None]], window: Window, total_requests: int) -> float | None:
    """Accepted requests per window over the whole windows that follow the first request.

    From the emulator's request log (arrival times): take the k = floor(span / W) whole
    windows [t0, t0 + k*W) after the first request t0, count the 2xx answers that arrived
    in them and divide by k*max. A rolling window's t=0 burst and the run's ragged end then
    count for nothing either way: 1.0 means every window was used to the full. None when
    the log does not hold every request (it is bounded) or the run is under two windows."""
    if len(log) < total_requests or not log:
        return None
    times = sorted(dt.datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
                   for at, status in log if at and status is not None and 200 <= status < 300)
    if not times:
        return None
    w = window.interval_ms / 1000.0
    k = int((times[-1] - times[0]) // w)
    if k < 2:
        return None
    end = times[0] + k * w
    n = sum(1 for t in times if t < end)
    return n / (k * window.max_requests)


def emulator_ticket_pages(base_url: str, page: int = 50_000):
    """Every stored ticket, a page at a time (GET /__emulator/tickets?offset=&limit=)."""
    offset = 0
    while True:
        chunk = http_json("GET", f"{base_url}/__emulator/tickets?offset={offset}&limit={page}", timeout=300)
        yield chunk
        offset += len(chunk)
        if len(chunk) < page:
            return


def verify_store(emu: "Emulator", expected: list[tuple[str, int, int]]) -> dict[str, Any]:
    """Every generated record stored exactly once, with every property as sent, and
    nothing else; and no duplicate creates in the emulator's own books.

    expected: the (prefix, start, n) ranges sent in this run."""
    ranges = {prefix: (start, n) for prefix, start, n in expected}
    want = sum(n for _, _, n in expected)
    seen: set[str] = set()
    stored = dup = wrong = unexpected = 0
    for chunk in emulator_ticket_pages(emu.base_url):
        for rec in chunk:
            stored += 1
            props = rec.get("properties") or {}
            rid = props.get(ID_PROPERTY, "")
            prefix, _, num = rid.rpartition("-")
            if prefix not in ranges or not num.isdigit():
                unexpected += 1
                continue
            start, n = ranges[prefix]
            k = int(num)
            if not start <= k < start + n:
                unexpected += 1
                continue
            if rid in seen:
                dup += 1
                continue
            seen.add(rid)
            exp = make_record(k, prefix)
            if any(props.get(key) != val for key, val in exp.items()):
                wrong += 1
    missing = want - len(seen)
    dup_creates = emu.counters()["duplicate_creates"]
    ok = missing == 0 and wrong == 0 and dup == 0 and unexpected == 0 and dup_creates == 0
    return {"ok": ok, "expected": want, "stored": stored, "missing": missing, "wrong": wrong,
            "duplicates": dup, "duplicate_creates": dup_creates, "unexpected": unexpected}


# --------------------------------------------------------------------------- clients

CLIENTS = ("rust-cli", "rust-facade", "node", "python")
LABELS = {"rust-cli": "ours: CLI", "rust-facade": "ours: facade", "node": "Node SDK", "python": "Python SDK",
          "node-limiter": "Node SDK, default limiter"}


def client_env() -> dict[str, str]:
    env = dict(os.environ)
    env["HUBSPOT_ACCESS_TOKEN"] = TOKEN
    env.pop("RUST_LOG", None)
    return env


def rust_rate_args(window: Window | None) -> list[str]:
    if window is None:
        return ["--rate-limit", "off"]
    return ["--rate-limit", f"{window.max_requests}/{window.interval_ms}ms"]


def client_cmd(kind: str, base_url: str, file: Path, concurrency: int, window: Window | None,
               node_limiter: str = "none", api_version: str | None = None) -> list[str]:
    if kind == "rust-cli":
        version = ["--api-version", api_version] if api_version else []
        return [str(cli_bin()), "upsert", "--base-url", base_url, "--id-property", ID_PROPERTY, *version,
                "--concurrency", str(concurrency), *rust_rate_args(window), "--progress", "none", str(file)]
    if kind == "rust-facade":
        return [str(facade_bin()), "--base-url", base_url, "--id-property", ID_PROPERTY,
                "--concurrency", str(concurrency), *rust_rate_args(window), str(file)]
    if kind == "node":
        return ["node", str(BENCH / "peers" / "node_upsert.mjs"), "--sdk-dir", str(NODE_PEER_DIR),
                "--base-url", base_url, "--id-property", ID_PROPERTY, "--concurrency", str(concurrency),
                "--batch-size", str(BATCH), "--retries", "6", "--limiter", node_limiter, str(file)]
    if kind == "python":
        return [str(py_peer_python()), str(BENCH / "peers" / "python_upsert.py"), "--base-url", base_url,
                "--id-property", ID_PROPERTY, "--concurrency", str(concurrency), "--batch-size", str(BATCH),
                "--retry", "post", str(file)]
    raise ValueError(kind)


def display_cmd(cmd: list[str]) -> str:
    """A command as documented: repo-relative paths, placeholders for port and file."""
    out = []
    for a in cmd:
        if a.startswith("http://127.0.0.1:"):
            a = "http://127.0.0.1:PORT"
        elif a.startswith(str(DATA)):
            a = "bench/.data/FILE.jsonl"
        elif a.startswith(str(ROOT)):
            a = os.path.relpath(a, ROOT)
        out.append(a)
    return shlex.join(out)


@dataclass
class Run:
    client: str
    mode: str
    records: int
    m: Measured
    emu_cpu_s: float
    emu_hwm_kib: int
    machine_busy: float  # share of all cores busy during the run, every process on the machine
    emu: dict[str, int]
    verify: dict[str, Any]
    summary: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.m.rc == 0 and self.verify.get("ok", False)

    def row(self) -> dict[str, float]:
        m = self.m
        return {
            "wall_s": m.wall_s,
            "rps": self.records / m.wall_s if m.wall_s else 0.0,
            "cpu_per_100k": m.cpu_s * 100_000 / self.records,
            "us_per_rec": m.cpu_s * 1e6 / self.records,
            "rss_mib": m.maxrss_kib / 1024,
            "requests": self.emu["requests"],
            "status_429": self.emu["status_429"],
            "failures": failures_of(self),
            "client_util": m.cpu_s / m.wall_s if m.wall_s else 0.0,
            "emu_cpu_s": self.emu_cpu_s,
            "emu_util": self.emu_cpu_s / m.wall_s if m.wall_s else 0.0,
            "machine_util": (self.emu_cpu_s + m.cpu_s) / (m.wall_s * (os.cpu_count() or 1)) if m.wall_s else 0.0,
            "machine_busy": self.machine_busy,
        }


def failures_of(r: Run) -> int:
    """Records not written: the client's own count when its summary has one (the peers'),
    else what the store check found missing or wrong."""
    n = r.summary.get("failed_records")
    if isinstance(n, int):
        return n
    return int(r.verify.get("missing", 0)) + int(r.verify.get("wrong", 0))


def measure(kind: str, file: Path, n: int, window: Window | None, concurrency: int, timeout_s: float,
            node_limiter: str = "none", expected: list[tuple[str, int, int]] | None = None,
            api_version: str | None = None) -> Run:
    mode = "off" if window is None else window.label()
    if api_version:
        mode = f"{mode} {api_version}"
    with Emulator(window) as emu:
        cmd = client_cmd(kind, emu.base_url, file, concurrency, window, node_limiter, api_version)
        cpu0 = emu.cpu_s()
        busy0, total0 = machine_jiffies()
        child = Child(cmd, client_env(), kind, timeout_s)
        m = child.wait()
        emu_cpu = emu.cpu_s() - cpu0
        busy1, total1 = machine_jiffies()
        machine_busy = (busy1 - busy0) / max(total1 - total0, 1)
        try:
            counters = emu.counters()
            verify = verify_store(emu, expected or [("BENCH", 0, n)])
            hwm = emu.hwm_kib()
        except (OSError, urllib.error.URLError, json.JSONDecodeError) as e:  # emulator died or hung
            log(f"  emulator unreachable after the run: {e}")
            counters = {"requests": -1, "status_429": -1, "duplicate_creates": -1}
            verify = {"ok": False, "error": f"emulator unreachable: {e}"}
            hwm = 0
    r = Run(kind, mode, n, m, emu_cpu, hwm, machine_busy, counters, verify, m.summary())
    status = "ok" if r.ok else f"FAILED rc={m.rc} verify={verify}"
    log(f"  {kind:12s} {mode:10s} n={n} wall={m.wall_s:.2f}s cpu={m.cpu_s:.2f}s rss={m.maxrss_kib / 1024:.1f}MiB "
        f"req={counters['requests']} 429={counters['status_429']} emu_cpu={emu_cpu:.2f}s "
        f"machine={100 * machine_busy:.0f}% {status}")
    if m.rc != 0:
        log("  stderr: " + m.stderr_tail[-800:].replace("\n", "\n          "))
    return r


def median_row(runs: list[Run]) -> dict[str, float]:
    rows = [r.row() for r in runs]
    return {k: statistics.median(row[k] for row in rows) for k in rows[0]}


# --------------------------------------------------------------------------- scenarios


def comparison(clients: list[str], n: int, runs: int, concurrency: int, window: Window | None,
               timeout_s: float) -> dict[str, list[Run]]:
    file = data_file(n)
    log(f"comparison, rate limits {'off' if window is None else window.label()}: {n} records, "
        f"{runs} run(s), concurrency {concurrency}")
    results: dict[str, list[Run]] = {c: [] for c in clients}
    for k in range(runs):  # interleaved so that machine noise spreads over every client
        for c in clients:
            results[c].append(measure(c, file, n, window, concurrency, timeout_s))
    return results


def saturation_one(kind: str, window: Window, seconds: float, procs: int, concurrency: int,
                   node_limiter: str) -> dict[str, Any]:
    rate = window.per_second
    if kind == "node" and node_limiter == "default":
        # The SDK's default Bottleneck limiter lets 9 requests/s out of each process: size
        # its data for about the same duration instead of a run 4x longer.
        rate = min(rate, NODE_DEFAULT_LIMITER_RPS * procs)
    total = int(rate * seconds) * BATCH
    per = total // procs
    files = [(f"SAT{p}", 0, per) for p in range(procs)]
    paths = [data_file(per, prefix) for prefix, _, _ in files]
    with Emulator(window) as emu:
        cpu0 = emu.cpu_s()
        t0 = time.monotonic()
        children = [Child(client_cmd(kind, emu.base_url, path, concurrency, window, node_limiter), client_env(),
                          f"{kind}-sat{i}", seconds * 20 + 120) for i, path in enumerate(paths)]
        ms = [c.wait() for c in children]
        wall = time.monotonic() - t0
        emu_cpu = emu.cpu_s() - cpu0
        counters = emu.counters()
        verify = verify_store(emu, files)
    accepted = counters["requests"] - counters["status_429"]
    ceiling = window.per_second * wall
    whole = whole_window_share(counters.get("log") or [], window, counters["requests"])
    res = {
        "client": kind, "limiter": node_limiter if kind == "node" else "rust", "procs": procs,
        "records": total, "wall_s": wall, "requests": counters["requests"], "status_429": counters["status_429"],
        "accepted": accepted, "achieved_rps": accepted / wall, "ceiling_rps": window.per_second,
        "share_wall": accepted / ceiling,
        "share": whole if whole is not None else accepted / ceiling,
        "share_method": "whole windows" if whole is not None else "wall time", "pct_429": 100.0 * counters["status_429"] / max(counters["requests"], 1),
        "verify": verify, "rc": [m.rc for m in ms], "cpu_s": [m.cpu_s for m in ms],
        "rss_mib": [m.maxrss_kib / 1024 for m in ms], "emu_cpu_s": emu_cpu,
        "summaries": [m.summary() for m in ms],
        "cmds": [display_cmd(m.cmd) for m in ms],
    }
    ok = verify["ok"] and all(m.rc == 0 for m in ms)
    res["ok"] = ok
    log(f"  saturation {kind}/{res['limiter']} x{procs}: {accepted} accepted in {wall:.1f}s = "
        f"{res['achieved_rps']:.1f}/s of {window.per_second:.0f}/s; share {100 * res['share']:.1f}% "
        f"({res['share_method']}), "
        f"429s {counters['status_429']} ({res['pct_429']:.2f}%) {'ok' if ok else 'FAILED ' + str(verify)}")
    return res


API_VERSIONS = ("v3", "2026-03", "2026-09")


def versions_comparison(n: int, runs: int, concurrency: int, timeout_s: float) -> dict[str, list[Run]]:
    """Our CLI on the same records and emulator (limits off), once per API version,
    interleaved so machine noise spreads over every version."""
    file = data_file(n)
    log(f"API versions: our CLI on {n} records per version, {runs} run(s), concurrency {concurrency}")
    out: dict[str, list[Run]] = {v: [] for v in API_VERSIONS}
    for _ in range(runs):
        for v in API_VERSIONS:
            out[v].append(measure("rust-cli", file, n, None, concurrency, timeout_s, api_version=v))
    return out


def versions_table(results: dict[str, list[Run]]) -> list[str]:
    lines = ["| API version | runs ok | wall s | records/s | µs CPU / rec | peak RSS MiB | requests | CPU × v3 | target ≤ 1.05 × v3 |",
             "|---|---|---|---|---|---|---|---|---|"]
    base = median_row(results["v3"])
    for v, runs in results.items():
        row = median_row(runs)
        ok = sum(r.ok for r in runs)
        ratio = row["us_per_rec"] / base["us_per_rec"] if base["us_per_rec"] else float("nan")
        verdict = "baseline" if v == "v3" else ("met" if ratio <= 1.05 else "MISSED")
        if ok < len(runs):
            verdict += f" ({len(runs) - ok} run(s) FAILED)"
        lines.append(f"| {v} | {ok}/{len(runs)} | {row['wall_s']:.2f} | {fmt_num(row['rps'])} | "
                     f"{row['us_per_rec']:.1f} | {row['rss_mib']:.1f} | {fmt_num(row['requests'])} | "
                     f"{ratio:.3f} | {verdict} |")
    return lines


def memory_growth(ns: list[int], runs: int, concurrency: int, timeout_s: float) -> dict[int, list[Run]]:
    out: dict[int, list[Run]] = {}
    for n in ns:
        file = data_file(n)
        log(f"memory: CLI on {n} records, {runs} run(s)")
        out[n] = [measure("rust-cli", file, n, None, concurrency, timeout_s) for _ in range(runs)]
    return out


# --------------------------------------------------------------------------- report


def fmt_num(x: float, digits: int = 0) -> str:
    if digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def comparison_table(results: dict[str, list[Run]], baseline: str) -> list[str]:
    lines = ["| client | runs ok | wall s | records/s | CPU s / 100k rec | µs CPU / rec | peak RSS MiB | requests | 429s | failed rec | client CPU % of wall | emulator CPU % of wall | machine busy % | CPU × ours | time × ours | RSS × ours |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    base = median_row(results[baseline]) if results.get(baseline) else None
    for c, runs in results.items():
        if not runs:
            continue
        med = median_row(runs)
        nok = sum(r.ok for r in runs)
        if base and c != baseline:
            ratios = [f"{med['cpu_per_100k'] / base['cpu_per_100k']:.1f}×", f"{med['wall_s'] / base['wall_s']:.1f}×",
                      f"{med['rss_mib'] / base['rss_mib']:.1f}×"]
        else:
            ratios = ["1.0×" if base else "", "1.0×" if base else "", "1.0×" if base else ""]
        lines.append(
            f"| {LABELS.get(c, c)} | {nok}/{len(runs)} | {med['wall_s']:.2f} | {fmt_num(med['rps'])} | "
            f"{med['cpu_per_100k']:.2f} | {med['us_per_rec']:.1f} | {med['rss_mib']:.1f} | {fmt_num(med['requests'])} | "
            f"{fmt_num(med['status_429'])} | {fmt_num(med['failures'])} | {100 * med['client_util']:.0f}% | "
            f"{100 * med['emu_util']:.0f}% | {100 * med['machine_busy']:.0f}% | "
            + " | ".join(ratios) + " |")
    return lines


def headroom_note(headroom: Run | None, ours: dict[str, float]) -> str:
    if headroom is None:
        return ""
    h = headroom.row()
    return (f"; with {headroom.extra['concurrency']} in flight instead, our CLI reached {fmt_num(h['rps'])} "
            f"records/s ({h['rps'] / ours['rps']:.2f}×) with the emulator at {100 * h['emu_util']:.0f}% of one core")


def targets(comp_off: dict[str, list[Run]] | None, sats: list[dict[str, Any]],
            mem: dict[int, list[Run]] | None, mem_ns: list[int], headroom: Run | None = None,
            lats: list[dict[str, Any]] | None = None) -> list[str]:
    out = ["| target | measured | met |", "|---|---|---|"]

    def mark(ok: bool | None) -> str:
        return "n/a" if ok is None else ("yes" if ok else "**no**")

    if comp_off and comp_off.get("rust-cli"):
        ours = median_row(comp_off["rust-cli"])
        ours_ok = all(r.ok for r in comp_off["rust-cli"])
        # Both of our clients, each judged on its own: the CLI (files in, report out)
        # and the facade (a program's own records).
        for peer, factor in (("node", 10), ("python", 40)):
            if not comp_off.get(peer):
                continue
            p = median_row(comp_off[peer])
            for client in ("rust-cli", "rust-facade"):
                if not comp_off.get(client):
                    continue
                mine = median_row(comp_off[client])
                mine_ok = all(r.ok for r in comp_off[client])
                ratio = p["us_per_rec"] / mine["us_per_rec"]
                out.append(f"| client CPU per record ≤ 1/{factor} of the {LABELS[peer]}'s ({LABELS[client]}) | "
                           f"{mine['us_per_rec']:.1f} µs vs {p['us_per_rec']:.1f} µs (1/{ratio:.1f}) | "
                           f"{mark(mine_ok and ratio >= factor)} |")
        if comp_off.get("node"):
            p = median_row(comp_off["node"])
            ratio = ours["rps"] / p["rps"]
            out.append(f"| throughput, limits off, ≥ 3× the Node SDK's at equal concurrency | "
                       f"{fmt_num(ours['rps'])} vs {fmt_num(p['rps'])} records/s ({ratio:.1f}×); during our runs the "
                       f"emulator used {100 * ours['emu_util']:.0f}% of one core, our client "
                       f"{100 * ours['client_util']:.0f}%; the machine's cores were {100 * ours['machine_busy']:.0f}% "
                       f"busy (every process){headroom_note(headroom, ours)} | "
                       f"{mark(ours_ok and ratio >= 3)} |")
    for s in sats:
        if s["client"] != "rust-cli":
            continue
        if s["procs"] == 1:
            ok = s["ok"] and s["share"] >= 0.95 and s["status_429"] == 0
            out.append(f"| rate window, one process: ≥ 95% of the allowed rate, zero 429 | "
                       f"{100 * s['share']:.1f}%, {s['status_429']} × 429 | {mark(ok)} |")
        else:
            ok = s["ok"] and s["share"] >= 0.90 and s["pct_429"] <= 1.0
            out.append(f"| rate window, two processes sharing a token: ≥ 90% combined, ≤ 1% 429 | "
                       f"{100 * s['share']:.1f}%, {s['pct_429']:.2f}% 429 | {mark(ok)} |")
    for r in lats or []:
        if r["client"] != "rust-cli":
            continue
        share = r["share"] or 0.0
        per_429 = r["429"] / max(r["requests"], 1)
        goal = 0.95 if r["processes"] == 1 else 0.90
        who = "one process" if r["processes"] == 1 else f"{r['processes']} processes sharing a token"
        out.append(f"| at {r['median']} median latency, {who}: ≥ {goal:.0%} of the ceiling, ≤ 1 in 200 answered 429 | "
                   f"{100 * share:.1f}%, {r['429']} × 429 in {fmt_num(r['requests'])} | "
                   f"{mark(r['ok'] and share >= goal and per_429 <= 1 / 200)} |")
    if mem and len(mem_ns) == 2 and all(mem.get(n) for n in mem_ns):
        small, big = (median_row(mem[n])["rss_mib"] for n in mem_ns)
        ok = all(r.ok for n in mem_ns for r in mem[n])
        out.append(f"| peak RSS < 64 MiB for {mem_ns[1]:,} records | {big:.1f} MiB | {mark(ok and big < 64)} |")
        out.append(f"| … and within 1.25× of the {mem_ns[0]:,} run | {big:.1f} / {small:.1f} = {big / small:.2f}× | "
                   f"{mark(ok and big <= 1.25 * small)} |")
    return out


def saturation_table(sats: list[dict[str, Any]]) -> list[str]:
    lines = ["| client | limiter | processes | records | wall s | accepted req/s over wall | ceiling req/s | share of ceiling (whole windows) | requests | 429s | 429 % | all stored | client CPU s | peak RSS MiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in sats:
        lim = {"rust": "configured window", "default": "DEFAULT_LIMITER_OPTIONS", "none": "none"}[s["limiter"]]
        lines.append(f"| {LABELS.get(s['client'], s['client'])} | {lim} | {s['procs']} | {fmt_num(s['records'])} | "
                     f"{s['wall_s']:.1f} | {s['achieved_rps']:.1f} | {s['ceiling_rps']:.0f} | "
                     f"{100 * s['share']:.1f}%{'' if s['share_method'] == 'whole windows' else ' (wall)'} | {fmt_num(s['requests'])} | {fmt_num(s['status_429'])} | "
                     f"{s['pct_429']:.2f}% | {'yes' if s['ok'] else '**no**'} | "
                     f"{' + '.join(f'{c:.2f}' for c in s['cpu_s'])} | {' / '.join(f'{r:.1f}' for r in s['rss_mib'])} |")
    return lines


def at_latencies(clients: list[str], latencies: list[str], records: int, node_records: int,
                 concurrency: int) -> list[dict[str, Any]]:
    """Our CLI at its defaults (one process, then two sharing a token) and the Node SDK with
    its default limiter, against an emulator that answers like a remote HubSpot (median
    latency L, sigma 0.3) under its default Professional limit: `bench/latency.py`'s run."""
    import latency as lat  # bench/latency.py, beside this file

    ns = argparse.Namespace(bin_dir=str(emulator_bin().parent), cli=str(cli_bin()), emulator_args=[],
                            timeline=False, records=0)
    plan = [("rust-cli", 1, records), ("rust-cli", 2, records), ("node", 1, node_records)]
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for kind, procs, n in plan:
            if kind not in clients:
                continue
            data = lat.split_data(tempfile.mkdtemp(dir=d), n, procs)
            cmd = None
            if kind == "node":
                def cmd(url, part):
                    return client_cmd("node", url, Path(part), concurrency, None, "default")
            for median in latencies:
                log(f"at {median} median latency: {LABELS[kind]}, {procs} process(es), {n:,} records")
                ns.records = n
                r = lat.run_one(ns, f"{median},0.3", data, cmd)
                rows.append(r | {"client": kind, "median": median, "records": n,
                                 "ok": r["exit"] == 0 and r["created"] == n})
    return rows


def latency_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| client | median latency | processes | records | records/s (end to end) | share of ceiling (whole windows) | requests | 429s | 423s | peak in flight | wall s | all stored |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        share = "-" if r["share"] is None else f"{100 * r['share']:.1f}% ({r['windows']})"
        label = LABELS["node-limiter" if r["client"] == "node" else r["client"]]
        lines.append(f"| {label} | {r['median']} | {r['processes']} | {fmt_num(r['records'])} | "
                     f"{fmt_num(r['records_per_s'])} | {share} | {fmt_num(r['requests'])} | {r['429']} | {r['423']} | "
                     f"{r['peak_in_flight']} | {r['elapsed_s']:.1f} | {'yes' if r['ok'] else '**no**'} |")
    return lines


def memory_table(mem: dict[int, list[Run]]) -> list[str]:
    lines = ["| records | runs ok | wall s | records/s | peak RSS MiB (median) | peak RSS MiB (max) | CPU s / 100k rec |",
             "|---|---|---|---|---|---|---|"]
    for n, runs in mem.items():
        med = median_row(runs)
        lines.append(f"| {fmt_num(n)} | {sum(r.ok for r in runs)}/{len(runs)} | {med['wall_s']:.2f} | {fmt_num(med['rps'])} | "
                     f"{med['rss_mib']:.1f} | {max(r.row()['rss_mib'] for r in runs):.1f} | {med['cpu_per_100k']:.2f} |")
    return lines


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def machine_info() -> dict[str, str]:
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cores (nproc)": output_of(["nproc"]), "memory": mem, "cpu": model, "loadavg": loadavg(),
            "kernel": platform.release(), "os": platform.platform(terse=True)}


def revision() -> str:
    """The project's revision as built: read before the build, not after the run (the tree
    may change while it runs)."""
    git = output_of(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = output_of(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"])
    return f"workspace 0.1.0 at {git}{' + uncommitted changes' if dirty else ''}"


def versions(clients: list[str], built: str) -> dict[str, str]:
    v = {"rustc": output_of(["rustc", "--version"]), "cargo": output_of(["cargo", "--version"]),
         "harness python": sys.version.split()[0]}
    v["this project"] = built
    if "node" in clients:
        v["node"] = output_of(["node", "--version"])
        pkg = NODE_PEER_DIR / "node_modules" / NODE_SDK[0] / "package.json"
        if pkg.exists():
            v[NODE_SDK[0]] = json.loads(pkg.read_text())["version"]
        bpkg = NODE_PEER_DIR / "node_modules" / "bottleneck" / "package.json"
        if bpkg.exists():
            v["bottleneck"] = json.loads(bpkg.read_text())["version"]
    if "python" in clients:
        v["peer python"] = output_of([str(py_peer_python()), "--version"])
        v[PY_SDK[0]] = output_of([str(py_peer_python()), "-c",
                                  f"import importlib.metadata as m; print(m.version('{PY_SDK[0]}'))"])
        v["urllib3"] = output_of([str(py_peer_python()), "-c", "import urllib3; print(urllib3.__version__)"])
    return v


# --------------------------------------------------------------------------- main


def parse_window(s: str) -> Window:
    try:
        a, b = s.lower().removesuffix("ms").split("/")
        return Window(int(a), int(b))
    except ValueError:
        raise argparse.ArgumentTypeError("expected MAX/INTERVAL_MS, e.g. 40/1000") from None


def main() -> int:
    ap = argparse.ArgumentParser(prog="bench/compare", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000, help="records per comparison run (default 100000)")
    ap.add_argument("--window-records", type=int, default=None,
                    help="records per run with the rate window on (default: 20000, capped at --records)")
    ap.add_argument("--runs", type=int, default=3, help="runs per client and mode; medians are reported (default 3)")
    ap.add_argument("--concurrency", type=int, default=4, help="requests in flight per client (default 4)")
    ap.add_argument("--only", default="rust,node,python",
                    help="clients to run: rust (CLI and facade), rust-cli, rust-facade, node, python")
    ap.add_argument("--window", type=parse_window, default=Window(40, 1000),
                    help="scaled rolling window MAX/INTERVAL_MS (default 40/1000)")
    ap.add_argument("--saturation-seconds", type=float, default=20.0,
                    help="length of each rate-limit saturation run, in seconds of work at the window's rate (default 20)")
    ap.add_argument("--memory-records", default="100000,1000000", help="the two record counts of the memory run")
    ap.add_argument("--memory-runs", type=int, default=None, help="runs per memory size (default: --runs)")
    ap.add_argument("--skip-comparison", action="store_true", help="skip the comparison runs (limits off and window)")
    ap.add_argument("--skip-window", action="store_true", help="skip the comparison with the rate window on")
    ap.add_argument("--skip-saturation", action="store_true", help="skip the rate-limit saturation runs")
    ap.add_argument("--skip-memory", action="store_true", help="skip the memory-growth runs (1M records)")
    ap.add_argument("--latencies", default="100ms,300ms,1s,2s",
                    help="median latencies of the runs against a remote-like emulator (default 100ms,300ms,1s,2s)")
    ap.add_argument("--latency-records", type=int, default=60_000,
                    help="records per run at real latencies, ours (default 60000: at least two whole windows at 2 s)")
    ap.add_argument("--skip-latency", action="store_true", help="skip the runs at real latencies")
    ap.add_argument("--skip-versions", action="store_true",
                    help="skip our CLI's run per API version (v3, 2026-03, 2026-09)")
    ap.add_argument("--no-build", action="store_true", help="use the release binaries as they are")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 2000 records, one run, 3 s saturation, memory 2000 vs 20000")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds before a client run is killed")
    ap.add_argument("--write-results", action="store_true", help="rewrite bench/RESULTS.md from this run")
    args = ap.parse_args()

    if args.quick:
        args.records = min(args.records, 2_000)
        args.runs = 1
        args.saturation_seconds = min(args.saturation_seconds, 3.0)
        args.memory_records = "2000,20000"
        args.latencies = "300ms"
        args.latency_records = 20_000
    window_records = min(args.window_records or 20_000, args.records)
    mem_ns = [int(x) for x in args.memory_records.split(",")]
    mem_runs = args.memory_runs or args.runs

    wanted: list[str] = []
    for part in args.only.split(","):
        part = part.strip()
        names = ["rust-cli", "rust-facade"] if part == "rust" else [part]
        for name in names:
            if name not in CLIENTS:
                die(f"unknown client {part!r} in --only")
            if name not in wanted:
                wanted.append(name)
    if "rust-facade" in wanted and not facade_example_exists():
        log(f"facade driver crates/hubspot-tickets/examples/{FACADE_EXAMPLE}.rs not found: facade skipped")
        wanted.remove("rust-facade")
    clients = [c for c in CLIENTS if c in wanted]

    started = dt.datetime.now(dt.timezone.utc)
    env_shown = " ".join(f"{k}={shlex.quote(os.environ[k])}" for k in ("BENCH_FACADE_BIN", "BENCH_EMULATOR_BIN")
                         if os.environ.get(k))
    argv_shown = (env_shown + " " if env_shown else "") + "bench/compare " + shlex.join(sys.argv[1:])
    if "node" in clients:
        ensure_node_peer()
    if "python" in clients:
        ensure_python_peer()
    build_cmd = CARGO_BUILD
    built = revision()
    if not args.no_build:
        build_cmd = build_rust("rust-facade" in clients)
    for b in [emulator_bin()] + ([cli_bin()] if ("rust-cli" in clients or not args.skip_memory) else []):
        if not b.exists():
            die(f"{b} is missing (build failed?)")

    load_before = loadavg()
    floor = launcher_floor_kib()
    log(f"launcher floor (ru_maxrss of `true`): {floor / 1024:.1f} MiB")
    report: dict[str, Any] = {"started": started.isoformat(), "argv": argv_shown, "clients": clients,
                              "launcher_floor_kib": floor, "loadavg_before": load_before}
    comp_off = comp_win = None
    headroom: Run | None = None
    baseline = "rust-cli" if "rust-cli" in clients else clients[0]
    if not args.skip_comparison:
        comp_off = comparison(clients, args.records, args.runs, args.concurrency, None, args.timeout)
        if "rust-cli" in clients:
            # Emulator headroom probe: the same load with 4x the requests in flight. If
            # this goes faster, the emulator was not what held the comparison runs back.
            hc = args.concurrency * 4
            log(f"emulator headroom probe: our CLI with concurrency {hc}")
            headroom = measure("rust-cli", data_file(args.records), args.records, None, hc, args.timeout)
            headroom.extra["concurrency"] = hc
        if not args.skip_window:
            comp_win = comparison(clients, window_records, args.runs, args.concurrency, args.window, args.timeout)
    sats: list[dict[str, Any]] = []
    if not args.skip_saturation:
        log(f"saturation: window {args.window.label()}, ~{args.saturation_seconds:.0f} s")
        for kind, lim in (("rust-cli", "rust"), ("node", "default")):
            if kind not in clients:
                continue
            for procs in (1, 2):
                sats.append(saturation_one(kind, args.window, args.saturation_seconds, procs, args.concurrency, lim))
    lats: list[dict[str, Any]] = []
    if not args.skip_latency:
        # The Node SDK's default limiter keeps 6 in flight: a third of our records keeps
        # its runs near ours in length.
        lats = at_latencies(clients, args.latencies.split(","), args.latency_records,
                            args.latency_records // 3, args.concurrency)
    vers = None
    if not args.skip_versions and "rust-cli" in clients:
        vers = versions_comparison(args.records, args.runs, args.concurrency, args.timeout)
    mem = None
    if not args.skip_memory:
        mem = memory_growth(mem_ns, mem_runs, args.concurrency, args.timeout)
    finished = dt.datetime.now(dt.timezone.utc)

    # ----- tables
    md: list[str] = []
    if comp_off:
        md += [f"### Limits off: {args.records:,} records, concurrency {args.concurrency}, median of {args.runs}", ""]
        md += comparison_table(comp_off, baseline) + [""]
    if comp_win:
        md += [f"### Rate window {args.window.label()} on: {window_records:,} records, concurrency "
               f"{args.concurrency}, median of {args.runs}", ""]
        md += comparison_table(comp_win, baseline) + [""]
    if sats:
        md += [f"### Rate-limit saturation: window {args.window.label()}, about {args.saturation_seconds:.0f} s", ""]
        md += saturation_table(sats) + [""]
    if lats:
        md += ["### At real latencies: CLI defaults, emulator with HubSpot's Professional limit (190 per 10 s: "
               "1,900 records/s) answering after a lognormal latency (median as given, sigma 0.3)", ""]
        md += latency_table(lats) + [""]
    if vers:
        md += [f"### API versions: our CLI, {args.records:,} records, limits off, concurrency "
               f"{args.concurrency}, median of {args.runs}", ""]
        md += versions_table(vers) + [""]
    if mem:
        md += [f"### Memory growth: our CLI, limits off, concurrency {args.concurrency}, median of {mem_runs}", ""]
        md += memory_table(mem) + [""]
    tg = targets(comp_off, sats, mem, mem_ns, headroom, lats)
    md += ["### Targets", ""] + tg + [""]
    print("\n".join(md))

    cmds: dict[str, str] = {}
    sample_file = DATA / "FILE.jsonl"
    for c in clients:
        cmds[c] = display_cmd(client_cmd(c, "http://127.0.0.1:PORT", sample_file, args.concurrency, None))
        if c in ("rust-cli", "rust-facade"):
            cmds[c + " (window)"] = display_cmd(client_cmd(c, "http://127.0.0.1:PORT", sample_file,
                                                           args.concurrency, args.window))
    if "node" in clients:
        cmds["node (saturation)"] = display_cmd(client_cmd("node", "http://127.0.0.1:PORT", sample_file,
                                                           args.concurrency, args.window, "default"))
    cmds["emulator, limits off"] = display_cmd(emulator_cmd(None))
    cmds["emulator, window"] = display_cmd(emulator_cmd(args.window))

    raw = {
        **report, "finished": finished.isoformat(), "machine": machine_info(), "versions": versions(clients, built),
        "commands": cmds,
        "build": ("not run (--no-build): the release binaries as found" if args.no_build else shlex.join(build_cmd).replace("'&&'", "&&")),
        "facade_note": (("a prebuilt driver from BENCH_FACADE_BIN="
                         + os.environ.get("BENCH_FACADE_BIN", "")) if os.environ.get("BENCH_FACADE_BIN")
                        and "rust-facade" in clients
                        else ("crates/hubspot-tickets/examples/bench_upsert.rs" if "rust-facade" in clients
                              else "not measured: crates/hubspot-tickets/examples/bench_upsert.rs does not exist")),
        "comparison_off": {c: [r.row() | {"ok": r.ok, "verify": r.verify, "summary": r.summary} for r in rs]
                           for c, rs in (comp_off or {}).items()},
        "comparison_window": {c: [r.row() | {"ok": r.ok, "verify": r.verify, "summary": r.summary} for r in rs]
                              for c, rs in (comp_win or {}).items()},
        "saturation": sats,
        "latency": lats,
        "headroom_probe": (headroom.row() | {"concurrency": headroom.extra["concurrency"], "ok": headroom.ok}
                           if headroom else None),
        "api_versions": {v: [r.row() | {"ok": r.ok, "verify": r.verify} for r in rs] for v, rs in (vers or {}).items()},
        "memory": {str(n): [r.row() | {"ok": r.ok, "verify": r.verify} for r in rs] for n, rs in (mem or {}).items()},
    }
    (DATA / "last-run.json").write_text(json.dumps(raw, indent=2, default=str))
    log(f"raw figures: {(DATA / 'last-run.json').relative_to(ROOT)}")

    if args.write_results:
        write_results(raw, md, args)
    return 0


def write_results(raw: dict[str, Any], md: list[str], args: argparse.Namespace) -> None:
    m, v = raw["machine"], raw["versions"]
    lines = [
        "# Benchmark results",
        "",
        "Written by `bench/compare --write-results` from the run it describes; never edited by hand.",
        "How to read every figure: [bench/README.md](README.md).",
        "",
        f"- Date: {raw['started'][:19].replace('T', ' ')} UTC (run took "
        f"{(dt.datetime.fromisoformat(raw['finished']) - dt.datetime.fromisoformat(raw['started'])).total_seconds() / 60:.1f} min)",
        f"- Command: `{raw['argv']}`" + (" (quick smoke run: figures not representative)" if args.quick else ""),
        f"- Machine: {m['cores (nproc)']} cores ({m['cpu']}), {m['memory']} memory, Linux {m['kernel']}; "
        f"load average (1/5/15 min) {raw['loadavg_before']} before the run, {m['loadavg']} after "
        "(the machine is shared: other load inflates wall times)",
        "- Versions: " + "; ".join(val if val.lower().startswith(k.lower()) else f"{k} {val}" for k, val in v.items()),
        f"- Build: " + (raw["build"] if args.no_build else f"`{raw['build']}`"),
        f"- Facade: {raw['facade_note']}",
        f"- Launcher floor: {raw['launcher_floor_kib'] / 1024:.1f} MiB (the peak RSS reported for a process that "
        "uses less; see README)",
        "",
        "Commands per client (`PORT` is a fresh emulator's free loopback port, `FILE` the generated data):",
        "",
        "```",
        *[f"{k}: {c}" for k, c in raw["commands"].items()],
        "```",
        "",
        *md,
    ]
    (BENCH / "RESULTS.md").write_text("\n".join(lines).rstrip() + "\n")
    log("wrote bench/RESULTS.md")


if __name__ == "__main__":
    sys.exit(main())
