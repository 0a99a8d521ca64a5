//! Benchmark driver for the facade, used by `bench/compare` (the comparison harness).
//!
//! Reads a JSON Lines file of flat objects (one key holds the id, every other key is a
//! string property), upserts every record through `Client::bulk_upsert_iter`, and
//! prints one JSON line: records, created, updated, failed_records, requests, retries,
//! status_429, elapsed_s. Exit code 0 when every record was written, 1 otherwise.
//!
//! ```text
//! HUBSPOT_ACCESS_TOKEN=... cargo run --release -p hubspot-tickets --example bench_upsert -- \
//!     --base-url http://127.0.0.1:PORT --id-property external_ticket_id \
//!     --concurrency 4 --rate-limit off|40/1000ms FILE.jsonl
//! ```

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures::StreamExt;
use hubspot_tickets::types::TicketUpsertInput;
use hubspot_tickets::{Client, Outcome, Progress, RateLimit, RecordInput};

// As in the CLI binary: the per-record strings and maps are cheaper with mimalloc than
// with glibc malloc. An example (binary) may choose the allocator; the library never does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Args {
    base_url: String,
    id_property: String,
    concurrency: usize,
    rate_limit: RateLimit,
    file: String,
}

fn parse_rate(s: &str) -> Result<RateLimit, String> {
    if s == "off" {
        return Ok(RateLimit::disabled());
    }
    let (n, ms) = s
        .split_once('/')
        .ok_or_else(|| format!("--rate-limit: expected off or N/MSms, got {s:?}"))?;
    let n: u32 = n.parse().map_err(|e| format!("--rate-limit {s:?}: {e}"))?;
    let ms: u64 = ms
        .trim_end_matches("ms")
        .parse()
        .map_err(|e| format!("--rate-limit {s:?}: {e}"))?;
    Ok(RateLimit::per_window(n, Duration::from_millis(ms)))
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        base_url: String::new(),
        id_property: "external_ticket_id".to_owned(),
        concurrency: 4,
        rate_limit: RateLimit::disabled(),
        file: String::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--base-url" => args.base_url = value()?,
            "--id-property" => args.id_property = value()?,
            "--concurrency" => {
                args.concurrency = value()?
                    .parse()
                    .map_err(|e| format!("--concurrency: {e}"))?;
            }
            "--rate-limit" => args.rate_limit = parse_rate(&value()?)?,
            _ if a.starts_with("--") => return Err(format!("unknown option {a}")),
            _ => args.file = a,
        }
    }
    if args.base_url.is_empty() || args.file.is_empty() {
        return Err(
            "usage: bench_upsert --base-url URL [--id-property NAME] [--concurrency N] \
                    [--rate-limit off|N/MSms] FILE.jsonl"
                .to_owned(),
        );
    }
    Ok(args)
}

/// One JSONL line to a facade input: the id key becomes the input's id, the rest its
/// properties (values as the strings they are; other JSON values as their JSON text).
fn to_input(line: &str, id_property: &str) -> Result<RecordInput, String> {
    // Fast path, the harness's shape: every value a string. The map is moved into the
    // wire type as it is, with no per-property copy or re-insertion.
    let mut props = match serde_json::from_str::<BTreeMap<String, String>>(line) {
        Ok(map) => map,
        Err(_) => slow_properties(line)?,
    };
    let id = props
        .remove(id_property)
        .ok_or_else(|| format!("no {id_property:?} key"))?;
    Ok(RecordInput::from(TicketUpsertInput {
        id,
        id_property: None,
        object_write_trace_id: None,
        properties: props,
    }))
}

/// Any JSON object: non-string values become their JSON text.
fn slow_properties(line: &str) -> Result<BTreeMap<String, String>, String> {
    let serde_json::Value::Object(map) =
        serde_json::from_str::<serde_json::Value>(line).map_err(|e| e.to_string())?
    else {
        return Err("not a JSON object".to_owned());
    };
    Ok(map
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (k, v)
        })
        .collect())
}

// One thread, as the CLI's `upsert`: the work is I/O-bound, and a work-stealing pool
// spends more CPU per record moving it between threads than it saves.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench_upsert: {e}");
            return ExitCode::from(2);
        }
    };
    let client = match Client::builder()
        .access_token_from_env()
        .base_url(args.base_url.clone())
        .id_property(args.id_property.clone())
        .max_concurrency(args.concurrency)
        .rate_limit(args.rate_limit)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bench_upsert: {e}");
            return ExitCode::from(2);
        }
    };
    let file = match File::open(&args.file) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("bench_upsert: {}: {e}", args.file);
            return ExitCode::from(2);
        }
    };
    let id_property = args.id_property.clone();
    let inputs = BufReader::with_capacity(128 * 1024, file)
        .lines()
        .map_while(Result::ok)
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| match to_input(&l, &id_property) {
            Ok(input) => Some(input),
            Err(e) => {
                eprintln!("bench_upsert: skipped a line: {e}");
                None
            }
        });

    let started = Instant::now();
    let progress = Progress::new();
    let mut outcomes = client
        .bulk_upsert_iter(inputs)
        .with_progress(progress.clone())
        .outcomes();
    let (mut records, mut created, mut updated, mut failed) = (0u64, 0u64, 0u64, 0u64);
    while let Some(r) = outcomes.next().await {
        records += 1;
        match r.outcome {
            Outcome::Created { .. } => created += 1,
            Outcome::Updated { .. } => updated += 1,
            _ => failed += 1,
        }
    }
    drop(outcomes);
    let s = progress.snapshot();
    println!(
        "{}",
        serde_json::json!({
            "client": "rust-facade",
            "records": records,
            "created": created,
            "updated": updated,
            "failed_records": failed,
            "requests": s.requests,
            "retries": s.retries,
            "status_429": s.rate_limited,
            "concurrency": args.concurrency,
            "elapsed_s": started.elapsed().as_secs_f64(),
        })
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
