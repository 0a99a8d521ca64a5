//! Stopping mid-run: the daily limit, a cancel token, and dropping the outcome stream.
//! Each stops new requests at once (no retry storm), accounts for every input read
//! (done, or `NotAttempted` and not written; the rest of a finite input is read to its
//! end, each `NotAttempted`), and a re-run of the rest converges to exactly one
//! ticket per record with nothing created twice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use hubspot_emulator::{Emulator, Policy, RateLimitConfig};
use hubspot_tickets::bulk::CancellationToken;
use hubspot_tickets::{Client, Counts, ErrorKind, Outcome, RecordInput, RecordOutcome};
use integration_tests::*;

const WINDOW: Duration = Duration::from_millis(500);

/// Every input read exactly once; written ones are in the
/// store with the reported id; not-attempted ones are not; returns the records not
/// written, those not read (from `unread`) included.
fn check_split(
    emu: &Emulator,
    outcomes: &[RecordOutcome],
    s: &Counts,
    unread: Vec<RecordInput>,
    n: usize,
    stop: ErrorKind,
) -> Vec<RecordInput> {
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
        let stored = emu.tickets().get_by_unique(ID_PROPERTY, &o.id);
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
                rest.push(RecordInput::new(o.id.clone()).property("subject", "again"));
            }
            other => panic!("{}: {other:?}", o.id),
        }
    }
    assert_eq!(emu.tickets().count() as u64, s.created + s.updated);
    rest.extend(unread);
    rest
}

/// Re-runs `rest` and checks each is created (it was not written before) and that the
/// store then holds `n` tickets, none created twice.
async fn rerun_exactly_the_rest(emu: &Emulator, client: &Client, rest: Vec<RecordInput>, n: usize) {
    let k = rest.len() as u64;
    let again = client.bulk_upsert_iter(rest).report().await;
    let s = &again.summary;
    assert_eq!(
        (s.read, s.created, s.updated, s.failed),
        (k, k, 0, 0),
        "{s:?}"
    );
    assert_eq!(emu.tickets().count(), n);
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
    let report = client.bulk_upsert_iter(tickets("DAY", 0..n)).report().await;
    assert!(report.unread.is_none(), "a finite input is read to its end");
    let rest = check_split(
        &emu,
        &report.outcomes,
        &report.summary,
        Vec::new(),
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
    assert_eq!(emu.tickets().count(), 700);
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
    let rest: Vec<RecordInput> = tickets("DROP", 0..n)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !written.contains(&(*i as u64)))
        .map(|(_, t)| t)
        .collect();
    let k = rest.len() as u64;
    let (again, _) = client.bulk_upsert_iter(rest).summary().await;
    assert_eq!(again.created + again.updated, k, "{again:?}");
    assert!(again.updated <= (concurrency * 100) as u64, "{again:?}");
    assert_eq!(emu.tickets().count(), n);
    assert!(emu.stats().duplicate_creates.is_empty());
    assert_eq!(emu.stats().records_created, n as u64);
}

/// Cancels at several points, before the first outcome too, with a finite input (a
/// `Vec`: its rest is reported `NotAttempted`) and an input of unknown length (its
/// rest is handed back): outcomes plus the records handed back are the input, each
/// once, and "one more pass" over what was not written (inputs handed back in their
/// outcomes, then the unread rest) writes every record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_at_any_point_accounts_for_every_input() {
    let (max, window) = (5, WINDOW);
    let n = 600;
    for (case, cancel_after) in [0usize, 1, 250].into_iter().enumerate() {
        for sized in [true, false] {
            let emu = start(config(max, window)).await;
            let client = build(builder(&emu, max, window).max_concurrency(2));
            let prefix = format!("CX{case}{}", if sized { "S" } else { "U" });
            let input = tickets(&prefix, 0..n);
            let token = CancellationToken::new();
            if cancel_after == 0 {
                token.cancel();
            }
            let run = if sized {
                client.bulk_upsert_iter(input)
            } else {
                // No upper bound on its length: nothing tells the run it is finite.
                let unsized_input = futures::stream::unfold(input.into_iter(), |mut it| async {
                    it.next().map(|t| (t, it))
                });
                client.bulk_upsert(unsized_input)
            };
            let mut stream = run
                .return_inputs(true)
                .with_cancellation(token.clone())
                .outcomes();
            let mut outcomes = Vec::new();
            while let Some(o) = stream.next().await {
                outcomes.push(o);
                if outcomes.len() == cancel_after {
                    token.cancel();
                }
            }
            let s = stream.summary();
            let unread: Vec<RecordInput> = match stream.into_unread() {
                Some(rest) => {
                    assert_eq!(rest.position(), s.read, "{prefix}");
                    rest.collect().await
                }
                None => Vec::new(),
            };
            let label = format!("{prefix} cancelled after {cancel_after}: {s}");
            assert_eq!(
                s.stopped.as_ref().map(|f| f.kind),
                Some(ErrorKind::Cancelled)
            );
            assert_eq!(outcomes.len() as u64, s.read, "{label}");
            assert_eq!(outcomes.len() + unread.len(), n, "{label}");
            if sized {
                assert!(unread.is_empty(), "{label}");
            } else if cancel_after == 0 {
                assert!(!unread.is_empty(), "{label}");
            }
            let mut seen: Vec<u64> = outcomes.iter().map(|o| o.position).collect();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen, (0..s.read).collect::<Vec<_>>(), "{label}");
            for (i, t) in unread.iter().enumerate() {
                assert_eq!(
                    t.id(),
                    format!("{prefix}-{}", s.read as usize + i),
                    "{label}"
                );
            }
            assert_eq!(s.created + s.not_attempted, s.read, "{label}");
            assert_eq!(emu.tickets().count() as u64, s.created, "{label}");
            // One more pass: the inputs handed back in the outcomes, then the unread rest.
            let again: Vec<RecordInput> = outcomes
                .iter_mut()
                .filter(|o| !o.outcome.is_written())
                .filter_map(RecordOutcome::take_input)
                .chain(unread)
                .collect();
            assert_eq!(again.len() as u64 + s.created, n as u64, "{label}");
            let (second, rest) = client.bulk_upsert_iter(again).summary().await;
            assert!(rest.is_none());
            assert_eq!(second.created, n as u64 - s.created, "{label}; {second}");
            assert_eq!(emu.tickets().count(), n, "{label}");
        }
    }
}
