//! Stopping mid-run: the daily limit, a cancel token, and dropping the outcome stream.
//! Each stops new requests at once (no retry storm), accounts for every input read
//! (done, or `NotAttempted` and not written; reading stops with the run, and the rest
//! stays in the caller's iterator), and a re-run of the rest converges to exactly one
//! ticket per record with nothing created twice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use hubspot_emulator::{Emulator, Policy, RateLimitConfig};
use hubspot_tickets::{
    BulkSummary, CancellationToken, Client, ErrorKind, Outcome, RecordOutcome, TicketInput,
};
use integration_tests::*;

const WINDOW: Duration = Duration::from_millis(500);

/// Every input read exactly once (reading stops with the run); written ones are in the
/// store with the reported id; not-attempted ones are not; returns the records not
/// written, those not read (from `unread`) included.
fn check_split(
    emu: &Emulator,
    outcomes: &[RecordOutcome],
    s: &BulkSummary,
    unread: Vec<TicketInput>,
    n: usize,
    stop: ErrorKind,
) -> Vec<TicketInput> {
    let read = s.read as usize;
    assert_eq!(read + unread.len(), n);
    assert_eq!(outcomes.len(), read);
    let positions: HashSet<u64> = outcomes.iter().map(|o| o.position).collect();
    assert_eq!(positions.len(), read, "every input read exactly once");
    assert_eq!(s.failed, 0, "{s:?}");
    assert_eq!(s.created + s.updated + s.not_attempted, s.read);
    assert!(s.created > 0, "{s:?}");
    assert!(s.not_attempted as usize + unread.len() > 0, "{s:?}");
    assert_eq!(s.stopped.as_ref().map(|f| f.kind), Some(stop));
    let mut rest = Vec::new();
    for o in outcomes {
        let stored = emu.store().get_by_unique(ID_PROPERTY, &o.id);
        match &o.outcome {
            Outcome::Created { object_id } | Outcome::Updated { object_id } => {
                assert_eq!(
                    stored.map(|t| t.object_id.to_string()).as_ref(),
                    Some(object_id)
                );
            }
            Outcome::NotAttempted { reason } => {
                assert_eq!(reason.kind, stop, "{reason}");
                assert!(stored.is_none(), "{} is NotAttempted but stored", o.id);
                rest.push(TicketInput::new(o.id.clone()).property("subject", "again"));
            }
            other => panic!("{}: {other:?}", o.id),
        }
    }
    assert_eq!(emu.store().count() as u64, s.created + s.updated);
    rest.extend(unread);
    rest
}

/// Re-runs `rest` and checks each is created (it was not written before) and that the
/// store then holds `n` tickets, none created twice.
async fn rerun_exactly_the_rest(emu: &Emulator, client: &Client, rest: Vec<TicketInput>, n: usize) {
    let k = rest.len() as u64;
    let again = client.bulk_upsert_iter(rest).report().await;
    let s = &again.summary;
    assert_eq!(
        (s.read, s.created, s.updated, s.failed),
        (k, k, 0, 0),
        "{s:?}"
    );
    assert_eq!(emu.store().count(), n);
    assert!(emu.stats().duplicate_creates.is_empty());
}

/// Waits until the emulator has seen no new request for a while.
async fn requests_settle(emu: &Emulator) -> u64 {
    let mut last = emu.stats().requests;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = emu.stats().requests;
        if now == last {
            return now;
        }
        last = now;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_limit_mid_run_stops_at_once_then_the_rest_reruns_exactly() {
    let dir = std::env::temp_dir().join(format!("hs-daily-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json");
    let _ = std::fs::remove_file(&state);
    let concurrency = 4;
    let n = 3000;
    let daily = RateLimitConfig::per_window(200, WINDOW).with_daily(Some(7));
    let emu = start(
        config(200, WINDOW)
            .with_rate_limit(daily)
            .with_state_file(&state),
    )
    .await;
    let client = build(builder(&emu, 200, WINDOW).max_concurrency(concurrency));
    let mut input = tickets("DAY", 0..n).into_iter();
    let report = client.bulk_upsert_iter(&mut input).report().await;
    let rest = check_split(
        &emu,
        &report.outcomes,
        &report.summary,
        input.collect(),
        n,
        ErrorKind::RateLimitedDaily,
    );
    assert_eq!(report.summary.created, 700, "{:?}", report.summary);

    // No retry storm: only requests already in flight met the DAILY 429.
    let stats = emu.stats();
    let refused = stats.rate_limited_by(Policy::Daily);
    assert!(
        (1..=concurrency as u64).contains(&refused),
        "{refused} DAILY 429s"
    );
    assert_eq!(stats.requests, 7 + refused);
    assert_eq!(
        requests_settle(&emu).await,
        stats.requests,
        "no request after the stop"
    );
    assert_eq!(report.summary.requests, stats.requests);

    // The next day (a new emulator on the saved store, budget renewed): the rest.
    emu.shutdown().await.unwrap();
    let emu = start(config(200, WINDOW).with_state_file(&state)).await;
    assert_eq!(emu.store().count(), 700);
    let client = build(builder(&emu, 200, WINDOW).max_concurrency(concurrency));
    rerun_exactly_the_rest(&emu, &client, rest, n).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_token_stops_new_requests_and_the_rest_reruns_exactly() {
    // A slow rate (10 requests/s) so that the run is still going when it is cancelled.
    let (max, window) = (5, WINDOW);
    let emu = start(config(max, window)).await;
    let client = build(builder(&emu, max, window).max_concurrency(2));
    let n = 2000;
    let token = CancellationToken::new();
    let mut input = tickets("CAN", 0..n).into_iter();
    let mut stream = client
        .bulk_upsert_iter(&mut input)
        .with_cancellation(token.clone())
        .outcomes();
    let mut outcomes = Vec::new();
    let mut requests_at_cancel = None;
    while let Some(o) = stream.next().await {
        outcomes.push(o);
        if outcomes.len() == 300 {
            token.cancel();
            requests_at_cancel = Some(emu.stats().requests);
        }
    }
    let summary = stream.summary();
    drop(stream);
    let rest = check_split(
        &emu,
        &outcomes,
        &summary,
        input.collect(),
        n,
        ErrorKind::Cancelled,
    );
    // Requests in flight at the cancel finish; none starts after it.
    let settled = requests_settle(&emu).await;
    assert!(
        settled <= requests_at_cancel.unwrap() + 2,
        "{settled} requests"
    );
    assert_eq!(settled, summary.requests);
    rerun_exactly_the_rest(&emu, &client, rest, n).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_outcome_stream_stops_every_request_and_a_rerun_converges() {
    let (max, window) = (5, WINDOW);
    let emu = start(config(max, window)).await;
    let concurrency = 3;
    let client = build(builder(&emu, max, window).max_concurrency(concurrency));
    let n = 2000;
    let mut stream = client.bulk_upsert_iter(tickets("DROP", 0..n)).outcomes();
    let mut written = HashSet::new();
    while let Some(o) = stream.next().await {
        assert!(o.outcome.is_written(), "{o:?}");
        written.insert(o.position);
        if written.len() == 400 {
            break;
        }
    }
    let at_drop = emu.stats().requests;
    drop(stream);
    // Requests that were on the wire may still land; nothing is sent afterwards.
    let settled = requests_settle(&emu).await;
    assert!(
        settled <= at_drop + concurrency as u64,
        "{at_drop} -> {settled}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(emu.stats().requests, settled, "no background request");

    // Re-run every record not reported written: at most the batches in flight at the
    // drop were written unseen (updates now); the others are created; none twice.
    let rest: Vec<TicketInput> = tickets("DROP", 0..n)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !written.contains(&(*i as u64)))
        .map(|(_, t)| t)
        .collect();
    let k = rest.len() as u64;
    let again = client.bulk_upsert_iter(rest).summary().await;
    assert_eq!(again.created + again.updated, k, "{again:?}");
    assert!(again.updated <= (concurrency * 100) as u64, "{again:?}");
    assert_eq!(emu.store().count(), n);
    assert!(emu.stats().duplicate_creates.is_empty());
    assert_eq!(emu.stats().records_created, n as u64);
}
