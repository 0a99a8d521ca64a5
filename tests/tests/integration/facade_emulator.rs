//! The facade against the emulator: sizes, outcomes, rate limits, faults, accounting.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use hubspot_emulator::{FaultConfig, FaultKind, Policy, RateLimitConfig};
use hubspot_tickets::{
    BulkReport, ErrorKind, Outcome, Progress, RateLimit, RecordInput, RetryPolicy,
};
use integration_tests::*;

const WINDOW: Duration = Duration::from_millis(500);

fn assert_exactly_once(report: &BulkReport<'_>, n: usize) {
    assert_eq!(report.outcomes.len(), n);
    let positions: HashSet<u64> = report.outcomes.iter().map(|o| o.position).collect();
    assert_eq!(positions.len(), n, "every input exactly once");
    assert!(positions.iter().all(|p| *p < n as u64));
    assert_eq!(report.summary.read, n as u64);
}

async fn run_sizes(n: usize, expected_requests: u64) {
    let emu = start(config(50, WINDOW)).await;
    let client = build(builder(&emu, 50, WINDOW));
    let report = client.bulk_upsert_iter(tickets("SZ", 0..n)).report().await;
    assert_exactly_once(&report, n);
    assert_eq!(report.summary.created, n as u64, "{:?}", report.summary);
    assert_eq!(report.summary.requests, expected_requests);
    assert_eq!(emu.tickets().count(), n);
    let stats = emu.stats();
    assert_eq!(stats.records_created, n as u64);
    assert_eq!(stats.responses(429), 0);
    for o in &report.outcomes {
        let t = emu.tickets().get_by_unique(ID_PROPERTY, &o.id).unwrap();
        assert_eq!(
            Some(t.object_id.to_string().as_str()),
            o.outcome.object_id()
        );
    }
}

#[tokio::test]
async fn one_record() {
    run_sizes(1, 1).await;
}

#[tokio::test]
async fn one_hundred_records_are_one_request() {
    run_sizes(100, 1).await;
}

#[tokio::test]
async fn one_hundred_and_one_records_are_two_requests() {
    run_sizes(101, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_five_thousand_records_stream_through_without_a_429() {
    let n = 25_000;
    let emu = start(config(60, WINDOW)).await;
    let client = build(builder(&emu, 60, WINDOW).max_concurrency(8));
    let progress = Progress::new();
    let stream = futures::stream::iter(0..n).map(|i| {
        RecordInput::new(format!("BIG-{i}"))
            .property("subject", format!("Bulk ticket {i}"))
            .property("hubspot_owner_id", i as u64)
    });
    let mut outcomes = client
        .bulk_upsert(stream)
        .with_progress(progress.clone())
        .outcomes();
    let mut seen = vec![false; n];
    let mut max_backlog = 0;
    while let Some(o) = outcomes.next().await {
        assert!(o.outcome.is_written(), "{o:?}");
        assert!(!std::mem::replace(&mut seen[o.position as usize], true));
        let s = progress.snapshot();
        max_backlog = max_backlog.max(s.read - s.done());
    }
    assert!(seen.iter().all(|s| *s));
    let summary = outcomes.summary();
    assert_eq!(summary.created, n as u64);
    assert_eq!(summary.requests, 250);
    assert_eq!(summary.rate_limited, 0);
    assert!(max_backlog <= 9 * 100, "records in memory: {max_backlog}");
    assert_eq!(emu.stats().responses(429), 0);
    assert_eq!(emu.tickets().count(), n);
}

#[tokio::test]
async fn mixed_created_and_updated() {
    let emu = start(config(50, WINDOW)).await;
    let client = build(builder(&emu, 50, WINDOW));
    let (first, _) = client
        .bulk_upsert_iter(tickets("MX", 0..150))
        .summary()
        .await;
    assert_eq!(first.created, 150);
    let report = client
        .bulk_upsert_iter(tickets("MX", 0..300))
        .report()
        .await;
    assert_exactly_once(&report, 300);
    for o in &report.outcomes {
        match (&o.outcome, o.position < 150) {
            (Outcome::Updated { .. }, true) | (Outcome::Created { .. }, false) => {}
            other => panic!("{}: {other:?}", o.id),
        }
    }
    assert_eq!(emu.tickets().count(), 300);
}

#[tokio::test]
async fn per_input_errors_of_a_207_are_mapped_to_their_records() {
    let emu = start(config(50, WINDOW)).await;
    let client = build(builder(&emu, 50, WINDOW));
    let mut batch = tickets("PI", 0..10);
    batch[3] = RecordInput::new("PI-3").property("hs_ticket_priority", "URGENT");
    batch[7] = RecordInput::new("PI-7").property("no_such_property", "x");
    let out = client.upsert_batch(batch).await.unwrap();
    assert_eq!(out.status.map(|s| s.as_u16()), Some(207));
    assert_eq!(out.errors.len(), 2);
    let failed: Vec<_> = out.failed().map(|r| r.id.as_str()).collect();
    assert_eq!(failed, ["PI-3", "PI-7"]);
    let f3 = out.records[3].outcome.failure().unwrap();
    assert_eq!(f3.kind, ErrorKind::Validation);
    assert!(f3.message.contains("URGENT"), "{}", f3.message);
    let f7 = out.records[7].outcome.failure().unwrap();
    assert!(f7.message.contains("no_such_property"), "{}", f7.message);
    assert_eq!(out.created().count(), 8);
    assert!(emu.tickets().get_by_unique(ID_PROPERTY, "PI-3").is_none());
    assert_eq!(emu.tickets().count(), 8);
}

#[tokio::test]
async fn whole_batch_400_is_split_to_isolate_the_bad_records() {
    // Without distinct trace ids, HubSpot (and the emulator) refuse the whole batch for
    // one bad input: give every input the same caller-chosen trace id.
    let emu = start(config(100, WINDOW)).await;
    let client = build(builder(&emu, 100, WINDOW));
    let mut records: Vec<RecordInput> = tickets("WB", 0..250)
        .into_iter()
        .map(|t| t.with_trace_id("same-for-all"))
        .collect();
    for bad in [17, 140, 141] {
        records[bad] = RecordInput::new(format!("WB-{bad}"))
            .property("hs_ticket_priority", "URGENT")
            .with_trace_id("same-for-all");
    }
    let report = client.bulk_upsert_iter(records).report().await;
    assert_exactly_once(&report, 250);
    let failed: Vec<u64> = report.failed().map(|o| o.position).collect();
    assert_eq!(failed, [17, 140, 141]);
    for o in report.failed() {
        let f = o.outcome.failure().unwrap();
        assert_eq!((f.kind, f.status), (ErrorKind::Validation, Some(400)));
        assert!(f.message.contains("URGENT"), "{}", f.message);
    }
    assert_eq!(report.summary.created, 247);
    assert_eq!(emu.tickets().count(), 247);
    assert_eq!(emu.stats().responses(400), 3);
}

#[tokio::test]
async fn duplicate_ids_are_written_in_input_order_and_the_last_wins() {
    let emu = start(config(50, WINDOW)).await;
    let client = build(builder(&emu, 50, WINDOW).max_concurrency(4));
    // 1,000 records over 40 ids, subjects increasing with position.
    let records: Vec<_> = (0..1000)
        .map(|i| {
            RecordInput::new(format!("DUP-{}", i % 40)).property("subject", format!("v{i:04}"))
        })
        .collect();
    let report = client.bulk_upsert_iter(records).report().await;
    assert_exactly_once(&report, 1000);
    assert_eq!(report.summary.created, 40);
    assert_eq!(report.summary.updated, 960);
    for id in 0..40 {
        let t = emu
            .tickets()
            .get_by_unique(ID_PROPERTY, &format!("DUP-{id}"))
            .unwrap();
        assert_eq!(t.properties["subject"], format!("v{:04}", 960 + id));
    }
    // Created is reported for the first occurrence of each id.
    for o in &report.outcomes {
        assert_eq!(
            matches!(o.outcome, Outcome::Created { .. }),
            o.position < 40
        );
    }
    assert_eq!(emu.stats().responses(400), 0, "no batch held an id twice");
}

#[tokio::test]
async fn ten_secondly_429_with_retry_after_is_waited_out() {
    let faults = FaultConfig {
        rate_limit_429: 0.2,
        ..FaultConfig::none(11)
    };
    let emu = start(config_with_faults(1000, WINDOW, faults)).await;
    let client = build(builder(&emu, 1000, WINDOW).max_concurrency(4));
    let report = client
        .bulk_upsert_iter(tickets("RA", 0..1500))
        .report()
        .await;
    assert_exactly_once(&report, 1500);
    assert_eq!(report.summary.created, 1500, "{:?}", report.summary);
    let injected = emu.stats().fault_count(FaultKind::RateLimit429);
    assert_eq!(emu.stats().responses(429), injected);
    assert!(injected > 0);
    assert_eq!(report.summary.rate_limited, injected);
    assert_eq!(report.summary.retries, injected);
}

#[tokio::test]
async fn ten_secondly_429_without_retry_after_waits_for_the_window() {
    // The emulator's own limiter refuses (no Retry-After); the client limiter is off,
    // so every 429 must be waited out using the window from the headers.
    let emu = start(config(5, Duration::from_millis(300))).await;
    let client = build(
        builder(&emu, 5, Duration::from_millis(300))
            .rate_limit(RateLimit::disabled())
            .retry(RetryPolicy::default().rate_limit_waits(50))
            .max_concurrency(4),
    );
    let report = client
        .bulk_upsert_iter(tickets("NR", 0..2000))
        .report()
        .await;
    assert_exactly_once(&report, 2000);
    assert_eq!(report.summary.created, 2000, "{:?}", report.summary);
    let limited = emu.stats().responses(429);
    assert!(limited > 0);
    assert_eq!(report.summary.rate_limited, limited);
}

#[tokio::test]
async fn daily_limit_stops_the_run_and_accounts_for_every_record_read() {
    let cfg = config(50, WINDOW)
        .with_rate_limit(RateLimitConfig::per_window(50, WINDOW).with_daily(Some(5)));
    let emu = start(cfg).await;
    let client = build(builder(&emu, 50, WINDOW).max_concurrency(1));
    let report = client
        .bulk_upsert_iter(tickets("DL", 0..2000))
        .report()
        .await;
    let s = &report.summary;
    // A finite input is accounted for to its end: the rest is `NotAttempted`.
    assert_exactly_once(&report, 2000);
    assert_eq!(s.read, 2000);
    assert!(report.unread.is_none());
    assert_eq!(
        (s.created, s.failed, s.not_attempted),
        (500, 0, s.read - 500),
        "{s:?}"
    );
    assert_eq!(
        s.stopped.as_ref().unwrap().kind,
        ErrorKind::RateLimitedDaily
    );
    for o in &report.outcomes {
        match &o.outcome {
            Outcome::NotAttempted { reason } => {
                assert!(o.position >= 500);
                assert_eq!(reason.kind, ErrorKind::RateLimitedDaily);
            }
            other => assert!(other.is_written() && o.position < 500),
        }
    }
    assert_eq!(
        emu.stats().rate_limited_by(Policy::Daily),
        1,
        "DAILY is never retried"
    );
    let status = client.rate_limit_status();
    assert_eq!(status.last_headers.and_then(|h| h.daily_remaining), Some(0));
}

#[tokio::test]
async fn server_and_connection_faults_with_a_seed_lose_nothing() {
    let faults = FaultConfig {
        http_500: 0.06,
        http_502: 0.04,
        http_503: 0.04,
        http_504: 0.04,
        html_error_body: 0.5,
        close_before_response: 0.04,
        close_after_write: 0.04,
        truncated_body: 0.04,
        unexpected_201: 0.04,
        ..FaultConfig::none(7)
    };
    let emu = start(config_with_faults(1000, WINDOW, faults)).await;
    let client = build(
        builder(&emu, 1000, WINDOW)
            .retry(
                RetryPolicy::default()
                    .initial_backoff(Duration::from_millis(5))
                    .max_backoff(Duration::from_millis(50))
                    .max_attempts(12),
            )
            .max_concurrency(4),
    );
    let n = 3000;
    let report = client.bulk_upsert_iter(tickets("FX", 0..n)).report().await;
    assert_exactly_once(&report, n);
    assert_eq!(
        report.summary.created + report.summary.updated,
        n as u64,
        "{:?}",
        report.summary
    );
    let stats = emu.stats();
    assert!(stats.total_faults() > 5, "{:?}", stats.faults);
    assert!(stats.html_error_bodies > 0);
    assert_eq!(emu.tickets().count(), n);
    assert!(
        stats.duplicate_creates.is_empty(),
        "retries never duplicate a ticket"
    );
    assert!(
        report.summary.retries
            >= stats.total_faults() - stats.fault_count(FaultKind::Unexpected201)
    );
}

#[tokio::test]
async fn slow_answers_time_out_and_are_retried() {
    let faults = FaultConfig {
        delayed_response: 0.2,
        response_delay: Duration::from_secs(3),
        ..FaultConfig::none(3)
    };
    let emu = start(config_with_faults(1000, WINDOW, faults)).await;
    let client = build(
        builder(&emu, 1000, WINDOW)
            .attempt_timeout(Duration::from_millis(1000))
            .max_concurrency(8),
    );
    let report = client
        .bulk_upsert_iter(tickets("TO", 0..1000))
        .report()
        .await;
    assert_exactly_once(&report, 1000);
    assert_eq!(
        report.summary.created + report.summary.updated,
        1000,
        "{:?}",
        report.summary
    );
    assert!(emu.stats().fault_count(FaultKind::DelayedResponse) > 0);
    assert!(report.summary.retries > 0);
    assert_eq!(emu.tickets().count(), 1000);
}
