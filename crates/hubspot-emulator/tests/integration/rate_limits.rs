//! Rate limits as HubSpot reports them: headers, rolling window, daily budget.
//!
//! Exact-count tests use windows far longer than the test, so they assert on counts,
//! not timings, and cannot flake on a loaded machine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::common::*;
use futures::future::join_all;
use hubspot_emulator::{EmulatorConfig, Policy, RateLimitConfig};
use serde_json::json;

const LONG: Duration = Duration::from_secs(120);

fn limited(max: u32, daily: Option<u64>, retry_after: bool) -> EmulatorConfig {
    EmulatorConfig::default().with_rate_limit(
        RateLimitConfig::per_window(max, LONG)
            .with_daily(daily)
            .with_retry_after(retry_after),
    )
}

fn assert_429(r: &Reply, policy: &str) {
    assert_eq!(r.status, 429, "{}", r.text);
    let v = r.json();
    assert_eq!(v["status"], "error");
    assert_eq!(v["errorType"], "RATE_LIMIT");
    assert_eq!(v["policyName"], policy);
    assert!(is_uuid(&v["correlationId"]));
    assert!(v["groupName"].as_str().is_some());
    assert!(v.get("category").is_none());
    let expected = match policy {
        "DAILY" => "You have reached your daily limit.",
        _ => "You have reached your ten_secondly_rolling limit.",
    };
    assert_eq!(v["message"], expected);
}

#[tokio::test]
async fn headers_are_on_every_authenticated_response() {
    let emu = start(limited(10, Some(100), false)).await;
    let http = client();
    let replies = [
        post_with(&http, &emu, TOKEN, &traced_batch("HD", 2)).await,
        post_with(
            &http,
            &emu,
            TOKEN,
            &batch(vec![
                input("HD-x", Some("a"), json!({"nope": "1"})),
                input("HD-y", Some("b"), json!({})),
            ]),
        )
        .await,
        post_raw(&http, &emu, Some(TOKEN), b"{".to_vec())
            .await
            .unwrap(),
    ];
    assert_eq!(
        replies.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 207, 400]
    );
    for (i, r) in replies.iter().enumerate() {
        assert_eq!(r.header_u64("x-hubspot-ratelimit-max"), Some(10));
        assert_eq!(
            r.header_u64("x-hubspot-ratelimit-interval-milliseconds"),
            Some(120_000)
        );
        assert_eq!(
            r.header_u64("x-hubspot-ratelimit-remaining"),
            Some(9 - i as u64)
        );
        assert_eq!(r.header_u64("x-hubspot-ratelimit-daily"), Some(100));
        assert_eq!(
            r.header_u64("x-hubspot-ratelimit-daily-remaining"),
            Some(99 - i as u64)
        );
    }
}

#[tokio::test]
async fn default_config_is_hubspot_professional() {
    let emu = start(EmulatorConfig::default()).await;
    let r = post(&emu, &traced_batch("DF", 1)).await;
    assert_eq!(r.header_u64("x-hubspot-ratelimit-max"), Some(190));
    assert_eq!(r.header_u64("x-hubspot-ratelimit-remaining"), Some(189));
    assert_eq!(
        r.header_u64("x-hubspot-ratelimit-interval-milliseconds"),
        Some(10_000)
    );
    assert_eq!(r.header_u64("x-hubspot-ratelimit-daily"), Some(1_000_000));
    assert_eq!(
        r.header_u64("x-hubspot-ratelimit-daily-remaining"),
        Some(999_999)
    );
}

#[tokio::test]
async fn no_headers_when_limits_are_off_and_no_daily_headers_without_a_budget() {
    let emu = start(config()).await;
    let r = post(&emu, &traced_batch("NH", 1)).await;
    assert!(r.header("x-hubspot-ratelimit-max").is_none());
    assert!(r.header("x-hubspot-ratelimit-daily").is_none());
    let emu = start(limited(5, None, false)).await;
    let r = post(&emu, &traced_batch("NH", 1)).await;
    assert_eq!(r.header_u64("x-hubspot-ratelimit-max"), Some(5));
    assert!(r.header("x-hubspot-ratelimit-daily").is_none());
    assert!(r.header("x-hubspot-ratelimit-daily-remaining").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_window_is_shared_by_concurrent_connections() {
    let emu = start(limited(5, None, false)).await;
    let url_emu = &emu;
    // 20 requests at once, each on its own client (so its own connection).
    let replies = join_all((0..20).map(|i| async move {
        post_with(
            &client(),
            url_emu,
            TOKEN,
            &traced_batch(&format!("C{i}"), 1),
        )
        .await
    }))
    .await;
    let ok: Vec<&Reply> = replies.iter().filter(|r| r.status == 200).collect();
    let refused: Vec<&Reply> = replies.iter().filter(|r| r.status == 429).collect();
    assert_eq!(ok.len(), 5);
    assert_eq!(refused.len(), 15);
    let remaining: BTreeSet<u64> = ok
        .iter()
        .map(|r| r.header_u64("x-hubspot-ratelimit-remaining").unwrap())
        .collect();
    assert_eq!(remaining, BTreeSet::from([0, 1, 2, 3, 4]));
    for r in &refused {
        assert_429(r, "TEN_SECONDLY_ROLLING");
        assert_eq!(r.header_u64("x-hubspot-ratelimit-remaining"), Some(0));
        assert!(r.header("retry-after").is_none());
    }
    // Rate-limited requests wrote nothing.
    assert_eq!(emu.tickets().count(), 5);
    let st = emu.stats();
    assert_eq!(st.rate_limited_by(Policy::TenSecondlyRolling), 15);
    assert_eq!(st.responses(429), 15);
    let logged_429 = st
        .request_log
        .iter()
        .filter(|e| e.policy == Some(Policy::TenSecondlyRolling))
        .count();
    assert_eq!(logged_429, 15);

    // Another token has its own window.
    let emu2 = start(limited(5, None, false).with_tokens(["a", "b"])).await;
    for _ in 0..5 {
        assert_eq!(
            post_with(&client(), &emu2, "a", &traced_batch("T", 1))
                .await
                .status,
            200
        );
    }
    assert_eq!(
        post_with(&client(), &emu2, "a", &traced_batch("T", 1))
            .await
            .status,
        429
    );
    assert_eq!(
        post_with(&client(), &emu2, "b", &traced_batch("T", 1))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn retry_after_is_sent_when_configured() {
    let emu = start(limited(1, None, true)).await;
    assert_eq!(post(&emu, &traced_batch("RA", 1)).await.status, 200);
    let r = post(&emu, &traced_batch("RA", 1)).await;
    assert_429(&r, "TEN_SECONDLY_ROLLING");
    let secs = r.header_u64("retry-after").unwrap();
    assert!((1..=120).contains(&secs), "{secs}");
}

#[tokio::test]
async fn the_window_slides() {
    // 2 requests per 1 s: the third quick request is refused; then, polling, a slot
    // frees up once the oldest request leaves the window.
    let emu = start(
        EmulatorConfig::default()
            .with_rate_limit(RateLimitConfig::per_window(2, Duration::from_millis(1000))),
    )
    .await;
    let http = client();
    let mut saw_429 = false;
    for _ in 0..50 {
        let r = post_with(&http, &emu, TOKEN, &traced_batch("W", 1)).await;
        if r.status == 429 {
            saw_429 = true;
            break;
        }
    }
    assert!(saw_429, "a burst must hit the limit");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = post_with(&http, &emu, TOKEN, &traced_batch("W", 1)).await;
        if r.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the window never slid");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn daily_budget_runs_out_with_a_daily_429() {
    let emu = start(limited(100, Some(3), true)).await;
    for expected in [2, 1, 0] {
        let r = post(&emu, &traced_batch("D", 1)).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header_u64("x-hubspot-ratelimit-daily-remaining"),
            Some(expected)
        );
    }
    for _ in 0..2 {
        let r = post(&emu, &traced_batch("DX", 1)).await;
        assert_429(&r, "DAILY");
        assert_eq!(r.json()["groupName"], "api-calls-daily:2418337");
        assert_eq!(r.header_u64("x-hubspot-ratelimit-daily-remaining"), Some(0));
        // Retry-After points at the next UTC midnight.
        let secs = r.header_u64("retry-after").unwrap();
        assert!((1..=86_400).contains(&secs));
        // The rolling window still has room: only the daily budget is spent.
        assert_eq!(r.header_u64("x-hubspot-ratelimit-remaining"), Some(97));
    }
    assert!(emu.tickets().get_by_unique(ID_PROP, "DX-0").is_none());
    assert_eq!(emu.stats().rate_limited_by(Policy::Daily), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_budget_is_shared_by_concurrent_connections() {
    let emu = start(limited(1000, Some(4), false)).await;
    let e = &emu;
    let replies = join_all((0..12).map(|i| async move {
        post_with(&client(), e, TOKEN, &traced_batch(&format!("DC{i}"), 1)).await
    }))
    .await;
    assert_eq!(replies.iter().filter(|r| r.status == 200).count(), 4);
    for r in replies.iter().filter(|r| r.status != 200) {
        assert_429(r, "DAILY");
    }
    assert_eq!(emu.tickets().count(), 4);
}

#[tokio::test]
async fn unauthenticated_requests_do_not_count() {
    let emu = start(limited(2, Some(10), false)).await;
    for _ in 0..5 {
        let r = post_raw(&client(), &emu, Some("wrong"), b"{}".to_vec())
            .await
            .unwrap();
        assert_eq!(r.status, 401);
    }
    let r = post(&emu, &traced_batch("UA", 1)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header_u64("x-hubspot-ratelimit-remaining"), Some(1));
}
