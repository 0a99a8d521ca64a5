//! A remote HubSpot: answers after a latency, and 423 Locked on bursts of upserts.
//!
//! Timings are asserted only as lower bounds (a loaded machine makes things slower,
//! never faster) or with a lock far longer than the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use crate::common::*;
use hubspot_emulator::{Latency, LockRule, RateLimitConfig};

#[tokio::test]
async fn answers_wait_for_the_latency_but_the_window_counts_arrivals() {
    let emu = start(
        config()
            .with_rate_limit(RateLimitConfig::per_window(10, Duration::from_secs(120)))
            .with_latency(Latency::lognormal(Duration::from_millis(300), 0.0)),
    )
    .await;
    let http = client();
    let (la, lb) = (traced_batch("LA", 2), traced_batch("LB", 2));
    let t0 = Instant::now();
    let (a, b) = tokio::join!(
        post_with(&http, &emu, TOKEN, &la),
        post_with(&http, &emu, TOKEN, &lb),
    );
    assert!(t0.elapsed() >= Duration::from_millis(300));
    assert_eq!((a.status, b.status), (200, 200));
    // Both counted on arrival, answered after.
    let remaining: Vec<_> = [&a, &b]
        .iter()
        .filter_map(|r| r.header_u64("x-hubspot-ratelimit-remaining"))
        .collect();
    assert_eq!(remaining.iter().min(), Some(&8));
    assert_eq!(emu.tickets().count(), 4);
}

#[tokio::test]
async fn a_burst_is_locked_and_writes_nothing_until_the_lock_ends() {
    let emu =
        start(config().with_lock(
            LockRule::burst(2, Duration::from_secs(60)).lasting(Duration::from_secs(120)),
        ))
        .await;
    let http = client();
    for p in ["K1", "K2"] {
        assert_eq!(
            post_with(&http, &emu, TOKEN, &traced_batch(p, 1))
                .await
                .status,
            200
        );
    }
    let r = post_with(&http, &emu, TOKEN, &traced_batch("K3", 1)).await;
    assert_eq!(r.status, 423, "{}", r.text);
    assert_eq!(r.json()["category"], "LOCKED");
    // Locked: the next is refused too, though it alone is no burst.
    let r = post_with(&http, &emu, TOKEN, &traced_batch("K4", 1)).await;
    assert_eq!(r.status, 423);
    assert_eq!(emu.tickets().count(), 2);
    assert_eq!(emu.stats().responses(423), 2);
}

#[tokio::test]
async fn the_cli_flags_configure_latency_and_locks() {
    use clap::Parser;
    #[derive(Parser)]
    struct Args {
        #[command(flatten)]
        emulator: hubspot_emulator::cli::EmulatorArgs,
    }
    let args = Args::try_parse_from([
        "x",
        "--latency",
        "2s,0.3",
        "--lock-burst",
        "60/1s",
        "--lock-share",
        "0.05",
        "--lock-for",
        "2500ms",
    ])
    .expect("parses");
    let c = args.emulator.to_config().expect("config");
    assert_eq!(
        c.latency,
        Some(Latency::lognormal(Duration::from_secs(2), 0.3))
    );
    let lock = c.lock.expect("a lock rule");
    assert_eq!(lock.burst, Some((60, Duration::from_secs(1))));
    assert_eq!(lock.share, 0.05);
    assert_eq!(lock.lock_for, Duration::from_millis(2500));
    let plain = Args::try_parse_from(["x"]).expect("parses");
    let c = plain.emulator.to_config().expect("config");
    assert!(c.latency.is_none() && c.lock.is_none(), "off by default");
}
