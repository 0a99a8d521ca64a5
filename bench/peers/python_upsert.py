"""Peer client for the comparison harness: the official Python SDK (hubspot-api-client).

Used the way its README shows: ``client.crm.tickets.batch_api.upsert(...)`` with the
SDK's model classes, batches of 100, a ThreadPoolExecutor of N threads sharing one
``BatchApi`` (its urllib3 pool holds cpu_count*5 connections, more than N here).

Retries: the SDK has none of its own; it takes a urllib3 ``Retry``. The README's recipes
(``Retry(total=3, backoff_factor=0.3, status_forcelist=(500, 502, 504))`` and
``Retry(total=5, status_forcelist=(429,))``) never fire for this call, because urllib3
retries no POST by default. ``--retry post`` (the default here) is what a user who wants
retries on this idempotent upsert ends up writing: both status lists, backoff 0.3 s and
``allowed_methods=None`` (every verb); urllib3 honours ``Retry-After``. ``--retry readme``
is the README's 429 recipe as written, ``--retry none`` the SDK default.

Streams the harness's JSONL file (one flat object per line) and prints one JSON line:
{"client":"python",records,sent,requests,status_429,failures,...}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version

import hubspot
from hubspot.crm.tickets import (
    ApiException,
    BatchInputSimplePublicObjectBatchInputUpsert,
    SimplePublicObjectBatchInputUpsert,
)
from urllib3.util.retry import Retry

_lock = threading.Lock()
COUNTERS = {"requests": 0, "retries": 0, "status_429": 0, "status_5xx": 0}


def _count(key: str, n: int = 1) -> None:
    with _lock:
        COUNTERS[key] += n


class CountingRetry(Retry):
    """urllib3 Retry that also counts the answers it retries (for the summary only)."""

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        if response is not None:
            if response.status == 429:
                _count("status_429")
            elif response.status >= 500:
                _count("status_5xx")
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        _count("retries")
        return new


def make_retry(kind: str) -> Retry | None:
    if kind == "none":
        return None
    if kind == "readme":
        return CountingRetry(total=5, status_forcelist=(429,))
    if kind == "post":
        return CountingRetry(
            total=5,
            backoff_factor=0.3,
            status_forcelist=(429, 500, 502, 504),
            allowed_methods=None,
        )
    raise SystemExit(f"unknown --retry {kind}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--id-property", default="external_ticket_id")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--retry", choices=["post", "readme", "none"], default="post")
    ap.add_argument("--token-env", default="HUBSPOT_ACCESS_TOKEN")
    ap.add_argument("file")
    args = ap.parse_args()

    token = os.environ.get(args.token_env)
    if not token:
        raise SystemExit(f"{args.token_env} is not set")

    # `host` overrides the generated Configuration's base path (DiscoveryBase copies
    # every Client kwarg onto the Configuration).
    client = hubspot.Client.create(access_token=token, host=args.base_url, retry=make_retry(args.retry))
    batch_api = client.crm.tickets.batch_api  # one ApiClient (one urllib3 pool) for all threads

    reader_lock = threading.Lock()
    fh = open(args.file, encoding="utf-8")
    state = {"records": 0, "eof": False}

    def next_batch() -> list[SimplePublicObjectBatchInputUpsert]:
        inputs = []
        with reader_lock:
            if state["eof"]:
                return inputs
            while len(inputs) < args.batch_size:
                line = fh.readline()
                if not line:
                    state["eof"] = True
                    break
                if not line.strip():
                    continue
                row = json.loads(line)
                # Same payload as this project's CLI: the id goes in `id`, the other
                # columns in `properties`.
                rid = str(row.pop(args.id_property))
                props = {k: "" if v is None else str(v) for k, v in row.items()}
                inputs.append(
                    SimplePublicObjectBatchInputUpsert(id_property=args.id_property, id=rid, properties=props)
                )
            state["records"] += len(inputs)
        return inputs

    result = {"sent": 0, "created": 0, "updated": 0, "failures": 0, "failed_records": 0}
    samples: list[str] = []

    def add(key: str, n: int) -> None:
        with _lock:
            result[key] += n

    def worker() -> None:
        while True:
            inputs = next_batch()
            if not inputs:
                return
            add("sent", len(inputs))
            _count("requests")  # retried attempts are added from COUNTERS["retries"]
            try:
                res = batch_api.upsert(
                    batch_input_simple_public_object_batch_input_upsert=BatchInputSimplePublicObjectBatchInputUpsert(
                        inputs=inputs
                    )
                )
                created = sum(1 for r in res.results if r.new)
                add("created", created)
                add("updated", len(res.results) - created)
                nerr = getattr(res, "num_errors", None) or 0
                if nerr:
                    add("failed_records", nerr)
            except ApiException as e:
                if e.status == 429:
                    _count("status_429")
                elif e.status and e.status >= 500:
                    _count("status_5xx")
                add("failures", 1)
                add("failed_records", len(inputs))
                if len(samples) < 3:
                    samples.append(f"{e.status} {str(e.reason)[:200]}")
            except Exception as e:  # urllib3 MaxRetryError, connection errors...
                add("failures", 1)
                add("failed_records", len(inputs))
                if len(samples) < 3:
                    samples.append(f"{type(e).__name__}: {str(e)[:200]}")

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        futures = [pool.submit(worker) for _ in range(args.concurrency)]
        for f in futures:
            f.result()
    elapsed = time.monotonic() - t0
    fh.close()

    out = {
        "client": "python",
        "sdk": f"hubspot-api-client {version('hubspot-api-client')}",
        "records": state["records"],
        **result,
        "requests": COUNTERS["requests"] + COUNTERS["retries"],
        "retries": COUNTERS["retries"],
        "status_429": COUNTERS["status_429"],
        "status_5xx": COUNTERS["status_5xx"],
        "concurrency": args.concurrency,
        "retry": args.retry,
        "elapsed_s": elapsed,
        "error_samples": samples,
    }
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
