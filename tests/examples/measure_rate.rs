//! Measures the facade's throughput against the emulator with a scaled rate window:
//! records/s, requests/s and 429s, against the allowed ceiling.
//!
//! ```text
//! cargo run --release -p integration-tests --example measure_rate -- [SECONDS] [MAX] [WINDOW_MS]
//! ```
//!
//! Two runs: one process alone, then two processes (child processes of this program,
//! each with its own client and limiter) sharing one token, as two importers sharing
//! one HubSpot app would. The emulator runs in this process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::StreamExt;
use hubspot_emulator::{Emulator, EmulatorConfig, RateLimitConfig};
use hubspot_tickets::{Client, RateLimit, TicketInput};

const TOKEN: &str = "measure-token";

fn records(prefix: &str, n: usize) -> impl futures::Stream<Item = TicketInput> + Send + use<> {
    let prefix = prefix.to_owned();
    futures::stream::iter(0..n).map(move |i| {
        TicketInput::new(format!("{prefix}-{i}"))
            .property("subject", format!("Measured ticket {i}"))
            .property("hs_ticket_priority", "MEDIUM")
    })
}

fn client(base_url: &str, max: u32, window: Duration) -> Client {
    Client::builder()
        .access_token(TOKEN)
        .base_url(base_url)
        .id_property(hubspot_emulator::DEFAULT_UNIQUE_PROPERTY)
        .rate_limit(RateLimit::per_window(max, window))
        .max_concurrency(8)
        .build()
        .unwrap()
}

/// Runs one bulk upsert; prints `records requests retries 429s seconds`.
async fn worker(base_url: &str, prefix: &str, n: usize, max: u32, window: Duration) {
    let c = client(base_url, max, window);
    let s = c.bulk_upsert(records(prefix, n)).summary().await;
    println!(
        "{} {} {} {} {:.3}",
        s.created + s.updated,
        s.requests,
        s.retries,
        s.rate_limited,
        s.elapsed.as_secs_f64()
    );
}

/// The admitted request rate after the first burst: a sender held to `max` per
/// rolling window sends `max` at once, then at best `max` more per window, so the
/// rate it can sustain is `(n - max) / (last - first)` for `n` admitted requests.
fn steady_rate(emu: &Emulator, max: u32) -> f64 {
    let mut times: Vec<_> = emu
        .stats()
        .request_log
        .iter()
        .filter(|e| e.status.is_some_and(|s| s < 300))
        .map(|e| e.at)
        .collect();
    times.sort();
    let (Some(first), Some(last)) = (times.first(), times.last()) else {
        return 0.0;
    };
    let span = (*last - *first).num_microseconds().unwrap_or(0) as f64 / 1e6;
    let n = times.len().saturating_sub(max as usize);
    if span > 0.0 { n as f64 / span } else { 0.0 }
}

async fn start(max: u32, window: Duration) -> Emulator {
    Emulator::start(
        EmulatorConfig::default()
            .with_tokens([TOKEN])
            .with_rate_limit(RateLimitConfig::per_window(max, window))
            .with_request_log_capacity(1_000_000),
    )
    .await
    .unwrap()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("worker") {
        let max = args[5].parse().unwrap();
        let window = Duration::from_millis(args[6].parse().unwrap());
        worker(&args[2], &args[3], args[4].parse().unwrap(), max, window).await;
        return;
    }
    let seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(30);
    let max: u32 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(50);
    let window_ms: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let window = Duration::from_millis(window_ms);
    let ceiling = f64::from(max) / window.as_secs_f64();
    // Enough records to keep the limiter busy for `seconds`.
    let n = (ceiling * seconds as f64) as usize * 100;
    println!(
        "window {max} requests / {window_ms} ms = ceiling {ceiling:.1} requests/s ({:.0} records/s)",
        ceiling * 100.0
    );

    // One process.
    let emu = start(max, window).await;
    let c = client(emu.base_url(), max, window);
    let t0 = Instant::now();
    let s = c.bulk_upsert(records("ONE", n)).summary().await;
    let secs = t0.elapsed().as_secs_f64();
    let stats = emu.stats();
    let steady = steady_rate(&emu, max);
    println!(
        "one process : {} records in {secs:.1} s = {:.0} records/s; {} requests ({:.1}/s overall, {:.1}/s steady = {:.1}% of ceiling); 429s: {} (client saw {})",
        s.created,
        s.created as f64 / secs,
        s.requests,
        s.requests as f64 / secs,
        steady,
        100.0 * steady / ceiling,
        stats.responses(429),
        s.rate_limited
    );
    emu.shutdown().await.unwrap();

    // Two processes sharing the token.
    let emu = start(max, window).await;
    let exe = std::env::current_exe().unwrap();
    let half = n / 2;
    let spawn = |prefix: &str| {
        tokio::process::Command::new(&exe)
            .args([
                "worker",
                emu.base_url(),
                prefix,
                &half.to_string(),
                &max.to_string(),
                &window_ms.to_string(),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let t0 = Instant::now();
    let (a, b) = (spawn("A"), spawn("B"));
    let (a, b) = tokio::join!(a.wait_with_output(), b.wait_with_output());
    let secs = t0.elapsed().as_secs_f64();
    let parse = |o: std::process::Output| -> Vec<f64> {
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0.0))
            .collect()
    };
    let (a, b) = (parse(a.unwrap()), parse(b.unwrap()));
    let stats = emu.stats();
    let requests = stats.requests as f64;
    let steady = steady_rate(&emu, max);
    println!(
        "two processes: {} + {} records in {secs:.1} s = {:.0} records/s; {} requests ({:.1}/s steady = {:.1}% of ceiling); 429s: {} = {:.2}% of requests",
        a[0],
        b[0],
        (a[0] + b[0]) / secs,
        requests,
        steady,
        100.0 * steady / ceiling,
        stats.responses(429),
        100.0 * stats.responses(429) as f64 / requests
    );
    if std::env::var_os("MEASURE_VERBOSE").is_some() {
        let log = emu.stats().request_log;
        let t0 = log.first().map(|e| e.at).unwrap();
        let mut per_window = std::collections::BTreeMap::<i64, (u32, u32)>::new();
        for e in &log {
            let w = (e.at - t0).num_milliseconds() / window_ms as i64;
            let slot = per_window.entry(w).or_default();
            if e.status == Some(429) {
                slot.1 += 1
            } else {
                slot.0 += 1
            }
        }
        println!("per window (ok, 429): {per_window:?}");
    }
    emu.shutdown().await.unwrap();
}
