#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `--rate-limit` is a ceiling beside HubSpot's window, and 423 locks are ridden out,
//! measured at the server (the emulator's request log holds each arrival). Bounds
//! are counts of arrivals or generous spans: a loaded machine is slower, never faster.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::Emu;
use hubspot_emulator::{EmulatorConfig, FaultConfig, LockRule};

const TOKEN: &str = "pat-na1-rate-0123456789";

fn input(dir: &Path, n: usize) -> PathBuf {
    let mut text = String::from("external_ticket_id,subject\n");
    for i in 0..n {
        text.push_str(&format!("RC-{i},ticket {i}\n"));
    }
    let p = dir.join("input.csv");
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs `upsert` on `n` records with `args`; returns its stderr.
fn run(emu: &Emu, n: usize, args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::common::cli()
        .env("HUBSPOT_ACCESS_TOKEN", TOKEN)
        .args([
            "upsert",
            "--id-property",
            "external_ticket_id",
            "--progress",
            "none",
        ])
        .args(["--base-url", emu.url()])
        .args(args)
        .arg(input(dir.path(), n))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert_eq!(emu.count(), n, "{stderr}");
    stderr
}

/// Arrivals in microseconds, in order.
fn arrivals(emu: &Emu) -> Vec<i64> {
    let log = emu.emulator().stats().request_log;
    let mut at: Vec<_> = log
        .iter()
        .filter_map(|e| e.arrived.map(|t| t.timestamp_micros()))
        .collect();
    at.sort_unstable();
    at
}

/// The emulator's defaults: HubSpot Professional's 190 per 10 s in its headers.
fn professional() -> Emu {
    Emu::start(EmulatorConfig::default().with_tokens([TOKEN]))
}

#[test]
fn rate_limit_20_per_second_never_lets_more_arrive_within_a_second() {
    let emu = professional();
    run(&emu, 6_000, &["--rate-limit", "20/1s"]);
    let at = arrivals(&emu);
    assert_eq!(at.len(), 60);
    let most = emu
        .emulator()
        .stats()
        .most_arrived_within(Duration::from_secs(1), |_| true);
    assert!(most <= 20, "{most} requests arrived within a second");
}

#[test]
fn rate_limit_5_per_second_sends_30_requests_within_9_seconds() {
    let emu = professional();
    run(&emu, 3_000, &["--rate-limit", "5/1s"]);
    let at = arrivals(&emu);
    assert_eq!(at.len(), 30);
    let stats = emu.emulator().stats();
    assert!(stats.most_arrived_within(Duration::from_secs(1), |_| true) <= 5);
    let span = at[at.len() - 1] - at[0];
    assert!(span <= 9_000_000, "30 requests took {span} µs to arrive");
}

#[test]
fn locks_on_5_percent_of_requests_fail_no_record_and_are_said_once() {
    let emu = Emu::start(
        EmulatorConfig::default()
            .with_tokens([TOKEN])
            .with_faults(FaultConfig::none(3))
            .with_lock(LockRule::share(0.05)),
    );
    let stderr = run(&emu, 3_000, &[]);
    let locked = emu.emulator().stats().responses(423);
    assert!(locked >= 1, "the seed should lock at least once");
    assert_eq!(stderr.matches("423 Locked").count(), 1, "{stderr}");
}
