#!/usr/bin/env bash
# Fuzzes the facade's response decoding and classification (`fuzz/`, target
# `response_decoding`: any status, headers and body through
# `hubspot_tickets::classify_response` and the generated types) for a bounded time.
#
#   scripts/fuzz.sh [SECONDS]        # default 300
#
# Installs cargo-fuzz if missing. cargo-fuzz passes nightly-only compiler flags
# (sanitizer, coverage instrumentation); on a stable toolchain RUSTC_BOOTSTRAP=1 lets
# them through. Not run by .ci/run: too slow for CI's budget. Findings (a panic or a
# broken invariant) land in fuzz/artifacts/response_decoding/; the script fails then.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-300}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
corpus=fuzz/corpus/response_decoding
mkdir -p "$corpus"
cp -n fuzz/seeds/response_decoding/* "$corpus"/
# The sanitizer runtime ships with stable toolchains on x86_64 Linux; elsewhere fall
# back to none (panics are still caught).
sanitizer="${FUZZ_SANITIZER:-address}"
exec cargo fuzz run --fuzz-dir fuzz --sanitizer "$sanitizer" response_decoding "$corpus" -- \
  -max_total_time="$seconds" -dict=fuzz/response.dict -max_len=1048576 -timeout=10 \
  -rss_limit_mb=4096 -print_final_stats=1
