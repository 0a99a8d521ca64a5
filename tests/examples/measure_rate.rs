//! Measures the facade's throughput against the emulator with a scaled rate window:
//! the request rate it sustains against the allowed ceiling, and the 429s it collects.
//!
//! ```text
//! cargo run --release -p integration-tests --example measure_rate -- [SECONDS] [MAX] [WINDOW_MS] [EMULATOR]
//! ```
//!
//! Two cases: one process alone, then two processes (child processes of this program,
//! each with its own client and limiter) sharing one token, as two importers sharing
//! one HubSpot app would. `EMULATOR` says where the emulator runs: `in-process` (the
//! default: in this program, sharing its CPU with the client of the first case),
//! `separate` (a child process of its own, more like a remote HubSpot), or `both`.
//! Each case prints the steady request rate (see [`steady_rate`]) and its share of the
//! ceiling, the requests the emulator received, and the 429s among them.
//! `MEASURE_VERBOSE=1` adds the admitted and refused requests per window.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::StreamExt;
use hubspot_emulator::{Emulator, EmulatorConfig, RateLimitConfig, StatsSnapshot};
use hubspot_tickets::{Client, RateLimit, RecordInput};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const TOKEN: &str = "measure-token";

fn records(prefix: &str, n: usize) -> impl futures::Stream<Item = RecordInput> + Send + use<> {
    let prefix = prefix.to_owned();
    futures::stream::iter(0..n).map(move |i| {
        RecordInput::new(format!("{prefix}-{i}"))
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
    let (s, _) = c.bulk_upsert(records(prefix, n)).summary().await;
    println!(
        "{} {} {} {} {:.3}",
        s.created + s.updated,
        s.requests,
        s.retries,
        s.rate_limited,
        s.elapsed.as_secs_f64()
    );
}

/// The emulator, in this process or in a child process of its own.
enum Emu {
    Here(Emulator),
    Child { child: Child, url: String },
}

fn emulator_config(max: u32, window: Duration) -> EmulatorConfig {
    EmulatorConfig::default()
        .with_tokens([TOKEN])
        .with_rate_limit(RateLimitConfig::per_window(max, window))
        .with_request_log_capacity(1_000_000)
}

impl Emu {
    async fn start(max: u32, window_ms: u64, separate: bool) -> Self {
        if !separate {
            let window = Duration::from_millis(window_ms);
            return Self::Here(Emulator::start(emulator_config(max, window)).await.unwrap());
        }
        // The child prints its URL, and stops when its stdin closes.
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["emulator", &max.to_string(), &window_ms.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let url = BufReader::new(stdout)
            .lines()
            .next_line()
            .await
            .unwrap()
            .expect("the emulator process printed its URL");
        Self::Child { child, url }
    }

    fn url(&self) -> &str {
        match self {
            Self::Here(e) => e.base_url(),
            Self::Child { url, .. } => url,
        }
    }

    async fn stats(&self) -> StatsSnapshot {
        match self {
            Self::Here(e) => e.stats(),
            Self::Child { url, .. } => reqwest::get(format!("{url}/__emulator/stats"))
                .await
                .unwrap()
                .json()
                .await
                .unwrap(),
        }
    }

    async fn stop(self) {
        match self {
            Self::Here(e) => e.shutdown().await.unwrap(),
            Self::Child { mut child, .. } => {
                drop(child.stdin.take());
                child.wait().await.unwrap();
            }
        }
    }
}

/// Serves the emulator until stdin closes (the `separate` mode's child).
async fn serve_emulator(max: u32, window: Duration) {
    let emu = Emulator::start(emulator_config(max, window)).await.unwrap();
    println!("{}", emu.base_url());
    let _ = tokio::task::spawn_blocking(|| {
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new())
    })
    .await;
    emu.shutdown().await.unwrap();
}

/// The admitted request rate after the first burst: a sender held to `max` per
/// rolling window sends `max` at once, then at best `max` more per window, so the
/// rate it can sustain is `(n - max) / (last - first)` for `n` admitted requests.
fn steady_rate(stats: &StatsSnapshot, max: u32) -> f64 {
    let mut times: Vec<_> = stats
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

/// One line per case: the figures the rate targets are about, then the details.
fn report(label: &str, stats: &StatsSnapshot, max: u32, window_ms: u64, details: &str) {
    let ceiling = f64::from(max) * 1000.0 / window_ms as f64;
    let steady = steady_rate(stats, max);
    let limited = stats.responses(429);
    // Admitted requests per window (from the first request), whole windows only: a
    // figure that does not depend on where the last requests fall.
    let mut per_window = std::collections::BTreeMap::<i64, (u32, u32)>::new();
    if let Some(t0) = stats.request_log.first().map(|e| e.at) {
        for e in &stats.request_log {
            let w = (e.at - t0).num_milliseconds() / window_ms as i64;
            let slot = per_window.entry(w).or_default();
            if e.status == Some(429) {
                slot.1 += 1;
            } else {
                slot.0 += 1;
            }
        }
    }
    let mut whole: Vec<u32> = per_window.values().map(|w| w.0).collect();
    whole.pop();
    whole.sort_unstable();
    let median = whole.get(whole.len() / 2).copied().unwrap_or(0);
    println!(
        "{label}: steady {steady:.1} requests/s = {:.1}% of ceiling; {} requests; 429s: {limited} = {:.2}%; median window {median}/{max} ({details})",
        100.0 * steady / ceiling,
        stats.requests,
        100.0 * limited as f64 / stats.requests.max(1) as f64,
    );
    if std::env::var_os("MEASURE_VERBOSE").is_some() {
        println!("  per window (ok, 429): {per_window:?}");
    }
}

async fn measure(seconds: u64, max: u32, window_ms: u64, separate: bool) {
    let window = Duration::from_millis(window_ms);
    let ceiling = f64::from(max) * 1000.0 / window_ms as f64;
    // Enough records to keep the limiter busy for `seconds`.
    let n = (ceiling * seconds as f64) as usize * 100;
    let place = if separate {
        "separate emulator"
    } else {
        "in-process emulator"
    };

    // One process.
    let emu = Emu::start(max, window_ms, separate).await;
    let c = client(emu.url(), max, window);
    let t0 = Instant::now();
    let (s, _) = c.bulk_upsert(records("ONE", n)).summary().await;
    let secs = t0.elapsed().as_secs_f64();
    let details = format!(
        "{} records in {secs:.1} s; client saw {} 429s",
        s.created + s.updated,
        s.rate_limited
    );
    report(
        &format!("[{place}] one process  "),
        &emu.stats().await,
        max,
        window_ms,
        &details,
    );
    emu.stop().await;

    // Two processes sharing the token.
    let emu = Emu::start(max, window_ms, separate).await;
    let exe = std::env::current_exe().unwrap();
    let half = n / 2;
    let spawn = |prefix: &str| {
        Command::new(&exe)
            .args([
                "worker",
                emu.url(),
                prefix,
                &half.to_string(),
                &max.to_string(),
                &window_ms.to_string(),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("A"), spawn("B"));
    let (a, b) = tokio::join!(a.wait_with_output(), b.wait_with_output());
    let parse = |o: std::process::Output| -> Vec<f64> {
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0.0))
            .collect()
    };
    let (a, b) = (parse(a.unwrap()), parse(b.unwrap()));
    let details = format!(
        "A: {} records, {} requests in {:.1} s; B: {} records, {} requests in {:.1} s",
        a[0], a[1], a[4], b[0], b[1], b[4]
    );
    report(
        &format!("[{place}] two processes"),
        &emu.stats().await,
        max,
        window_ms,
        &details,
    );
    emu.stop().await;
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("worker") => {
            let max = args[5].parse().unwrap();
            let window = Duration::from_millis(args[6].parse().unwrap());
            worker(&args[2], &args[3], args[4].parse().unwrap(), max, window).await;
            return;
        }
        Some("emulator") => {
            let max = args[2].parse().unwrap();
            let window = Duration::from_millis(args[3].parse().unwrap());
            serve_emulator(max, window).await;
            return;
        }
        _ => {}
    }
    let seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(30);
    let max: u32 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(50);
    let window_ms: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let modes: &[bool] = match args.get(4).map(String::as_str) {
        None | Some("in-process") => &[false],
        Some("separate") => &[true],
        Some("both") => &[false, true],
        Some(other) => panic!("EMULATOR is in-process, separate or both, not {other}"),
    };
    let ceiling = f64::from(max) * 1000.0 / window_ms as f64;
    println!(
        "window {max} requests / {window_ms} ms = ceiling {ceiling:.1} requests/s ({:.0} records/s)",
        ceiling * 100.0
    );
    for separate in modes {
        measure(seconds, max, window_ms, *separate).await;
    }
}
