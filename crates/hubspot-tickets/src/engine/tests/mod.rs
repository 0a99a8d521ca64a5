//! Engine tests against an in-process fake transport, on tokio's paused clock, so
//! that backoff and rate-limit waits are measured exactly and never slept for real.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use hubspot_tickets_client::types::TicketUpsertBatch;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::engine::transport::{RawResponse, Transport};
use crate::{
    Client, ClientBuilder, Error, ErrorKind, Outcome, RateLimit, RecordInput, RetryPolicy,
};

const TOKEN: &str = "pat-na1-00000000-secret-token";

fn raw(status: u16, body: Value, headers: &[(&'static str, &str)]) -> RawResponse {
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    for (k, v) in headers {
        h.insert(*k, HeaderValue::from_str(v).unwrap());
    }
    RawResponse {
        status: StatusCode::from_u16(status).unwrap(),
        headers: h,
        body: Bytes::from(serde_json::to_vec(&body).unwrap()),
    }
}

fn html(status: u16, page: &str) -> RawResponse {
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("text/html"));
    RawResponse {
        status: StatusCode::from_u16(status).unwrap(),
        headers: h,
        body: Bytes::from(page.to_owned()),
    }
}

/// A tiny HubSpot: upserts by id and answers 200 (or 207 for inputs it refuses).
#[derive(Default)]
struct Fake {
    store: HashMap<String, u64>,
    writes: Vec<(String, String)>, // (id, subject) in write order
    in_flight: HashSet<String>,
    overlap: bool,
    max_batch: usize,
    dup_in_batch: bool,
}

fn result(id: &str, object_id: u64, new: bool, trace: Option<&str>) -> Value {
    json!({
        "id": object_id.to_string(), "new": new, "archived": false,
        "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z",
        "objectWriteTraceId": trace,
        "properties": {"external_ticket_id": id, "hs_object_id": object_id.to_string(), "nullable": null},
        "someFutureField": {"x": 1}
    })
}

fn answer(
    fake: &mut Fake,
    batch: &TicketUpsertBatch,
    refuse: &dyn Fn(&str) -> bool,
) -> RawResponse {
    fake.max_batch = fake.max_batch.max(batch.inputs.len());
    let mut ids = HashSet::new();
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for inp in &batch.inputs {
        if !ids.insert(inp.id.clone()) {
            fake.dup_in_batch = true;
        }
        let trace = inp.object_write_trace_id.as_deref();
        if refuse(&inp.id) {
            errors.push(json!({
                "status": "error", "category": "VALIDATION_ERROR",
                "message": format!("Property values were not valid for {}", inp.id),
                "context": {"objectWriteTraceId": [trace], "id": [inp.id]}
            }));
            continue;
        }
        let n = fake.store.len() as u64 + 1000;
        let (object_id, new) = match fake.store.get(&inp.id) {
            Some(o) => (*o, false),
            None => {
                fake.store.insert(inp.id.clone(), n);
                (n, true)
            }
        };
        fake.writes.push((
            inp.id.clone(),
            inp.properties.get("subject").cloned().unwrap_or_default(),
        ));
        results.push(result(&inp.id, object_id, new, trace));
    }
    let status = if errors.is_empty() { 200 } else { 207 };
    let mut body = json!({
        "status": "COMPLETE", "results": results, "requestedAt": null,
        "startedAt": "2026-01-01T00:00:00.000Z", "completedAt": "2026-01-01T00:00:00.100Z"
    });
    if !errors.is_empty() {
        body["numErrors"] = json!(errors.len());
        body["errors"] = json!(errors);
    }
    raw(status, body, &[])
}

type Handler = dyn Fn(u32, TicketUpsertBatch, Arc<Mutex<Fake>>) -> BoxFuture<'static, Result<RawResponse, Error>>
    + Send
    + Sync;

struct Harness {
    client: Client,
    fake: Arc<Mutex<Fake>>,
    calls: Arc<AtomicU32>,
}

fn harness(builder: ClientBuilder, handler: Arc<Handler>) -> Harness {
    let fake = Arc::new(Mutex::new(Fake::default()));
    let calls = Arc::new(AtomicU32::new(0));
    let (f2, c2) = (Arc::clone(&fake), Arc::clone(&calls));
    let transport = Transport::Mock(Arc::new(move |body: Bytes| {
        let n = c2.fetch_add(1, Ordering::SeqCst);
        let batch: TicketUpsertBatch = serde_json::from_slice(&body).unwrap();
        handler(n, batch, Arc::clone(&f2))
    }));
    let client = builder
        .access_token(TOKEN)
        .id_property("external_ticket_id")
        .rate_limit(RateLimit::disabled())
        .build_with_transport(transport)
        .unwrap();
    Harness {
        client,
        fake,
        calls,
    }
}

/// Answers a rolling-window 429 with `headers` to the first `n` requests, then as
/// `ok_handler`.
fn rate_limited_first(n: u32, headers: &'static [(&'static str, &'static str)]) -> Arc<Handler> {
    Arc::new(move |k, batch, fake| {
        Box::pin(async move {
            if k < n {
                return Ok(raw(
                    429,
                    json!({"status":"error","message":"You have reached your ten_secondly_rolling limit.",
                           "errorType":"RATE_LIMIT","policyName":"TEN_SECONDLY_ROLLING",
                           "correlationId":"0d9c8b7a-6f5e-4d3c-8b2a-1908f7e6d5c4"}),
                    headers,
                ));
            }
            Ok(answer(&mut fake.lock().unwrap(), &batch, &|_| false))
        })
    })
}

fn ok_handler() -> Arc<Handler> {
    Arc::new(|_, batch, fake| {
        Box::pin(async move { Ok(answer(&mut fake.lock().unwrap(), &batch, &|_| false)) })
    })
}

fn inputs(n: usize) -> Vec<RecordInput> {
    (0..n)
        .map(|i| RecordInput::new(format!("ZD-{i}")).property("subject", format!("s{i}")))
        .collect()
}

/// The paused clock is exact, but tokio's timer rounds each sleep up to the next
/// millisecond.
fn assert_close(actual: Duration, expected: Duration) {
    assert!(
        actual >= expected && actual <= expected + Duration::from_millis(5),
        "waited {actual:?}, expected {expected:?}"
    );
}

fn no_jitter() -> RetryPolicy {
    RetryPolicy::default()
        .jitter(false)
        .initial_backoff(Duration::from_millis(100))
}

#[tokio::test(start_paused = true)]
async fn batch_207_maps_results_and_errors_to_inputs() {
    let h = harness(
        Client::builder(),
        Arc::new(|_, batch, fake| {
            Box::pin(async move {
                Ok(answer(&mut fake.lock().unwrap(), &batch, &|id| {
                    id == "ZD-1" || id == "ZD-3"
                }))
            })
        }),
    );
    h.fake.lock().unwrap().store.insert("ZD-2".into(), 7);
    let out = h.client.upsert_batch(inputs(5)).await.unwrap();
    assert_eq!(out.status, Some(StatusCode::MULTI_STATUS));
    assert_eq!(out.records.len(), 5);
    assert_eq!(out.errors.len(), 2);
    assert_eq!(out.results.len(), 3);
    let kinds: Vec<_> = out
        .records
        .iter()
        .map(|r| match &r.outcome {
            Outcome::Created { .. } => "C",
            Outcome::Updated { object_id } => {
                assert_eq!(object_id, "7");
                "U"
            }
            Outcome::Failed { reason } => {
                assert!(reason.message.contains(&r.id), "{reason}");
                assert_eq!(reason.kind, ErrorKind::Validation);
                assert_eq!(reason.status, Some(207));
                "F"
            }
            Outcome::NotAttempted { .. } => "N",
            Outcome::AlreadyWritten => "S",
        })
        .collect();
    assert_eq!(kinds, ["C", "F", "U", "F", "C"]);
    assert_eq!(
        out.records.iter().map(|r| r.position).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
}

#[tokio::test(start_paused = true)]
async fn results_without_trace_ids_map_by_id() {
    let h = harness(
        Client::builder(),
        Arc::new(|_, mut batch, fake| {
            Box::pin(async move {
                for i in &mut batch.inputs {
                    i.object_write_trace_id = None;
                }
                let mut r = answer(&mut fake.lock().unwrap(), &batch, &|_| false);
                // Reverse the results: order must not matter.
                let mut v: Value = serde_json::from_slice(&r.body).unwrap();
                v["results"].as_array_mut().unwrap().reverse();
                r.body = Bytes::from(serde_json::to_vec(&v).unwrap());
                Ok(r)
            })
        }),
    );
    let out = h.client.upsert_batch(inputs(3)).await.unwrap();
    let ids: Vec<_> = out
        .records
        .iter()
        .map(|r| (r.id.as_str(), r.outcome.object_id().unwrap().to_owned()))
        .collect();
    assert_eq!(
        ids,
        [
            ("ZD-0", "1000".into()),
            ("ZD-1", "1001".into()),
            ("ZD-2", "1002".into())
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn ten_secondly_429_waits_for_retry_after() {
    let h = harness(
        Client::builder(),
        rate_limited_first(1, &[("retry-after", "3")]),
    );
    let t0 = Instant::now();
    let out = h.client.upsert_batch(inputs(2)).await.unwrap();
    assert_close(t0.elapsed(), Duration::from_secs(3));
    assert!(out.all_written());
    assert_eq!(out.requests, 2);
}

/// A rolling window frees up within one window: a `Retry-After` of years is waited for
/// one window (10 s), not an hour.
#[tokio::test(start_paused = true)]
async fn a_retry_after_longer_than_the_window_waits_one_window() {
    let h = harness(
        Client::builder(),
        rate_limited_first(1, &[("retry-after", "100000000")]),
    );
    let t0 = Instant::now();
    let out = h.client.upsert_batch(inputs(2)).await.unwrap();
    assert_close(t0.elapsed(), Duration::from_secs(10));
    assert!(out.all_written());
}

/// No duration a caller can pass makes the client panic.
#[tokio::test(start_paused = true)]
async fn extreme_durations_do_not_panic() {
    let h = harness(
        Client::builder()
            .deadline(Duration::MAX)
            .attempt_timeout(Duration::MAX)
            .batch_linger(Duration::MAX)
            .retry(
                RetryPolicy::default()
                    .initial_backoff(Duration::MAX)
                    .max_backoff(Duration::MAX)
                    .max_attempts(1),
            ),
        ok_handler(),
    );
    assert!(
        h.client
            .upsert_batch(inputs(3))
            .await
            .unwrap()
            .all_written()
    );
    let report = h
        .client
        .bulk_upsert_iter(inputs(3))
        .deadline(Duration::MAX)
        .report()
        .await;
    assert!(report.summary.all_written());
    let limited = Client::builder()
        .access_token(TOKEN)
        .id_property("external_ticket_id")
        .rate_limit(RateLimit::per_window(u32::MAX, Duration::MAX))
        .build();
    assert!(limited.is_ok());
}

#[tokio::test(start_paused = true)]
async fn ten_secondly_429_without_retry_after_waits_an_eighth_of_the_window_then_twice_that() {
    let h = harness(
        Client::builder(),
        rate_limited_first(
            2,
            &[
                ("x-hubspot-ratelimit-interval-milliseconds", "2000"),
                ("x-hubspot-ratelimit-max", "5"),
                ("x-hubspot-ratelimit-remaining", "0"),
            ],
        ),
    );
    let t0 = Instant::now();
    let out = h.client.upsert_batch(inputs(1)).await.unwrap();
    // An eighth of the announced 2 s window, then a quarter.
    assert_close(t0.elapsed(), Duration::from_millis(750));
    assert!(out.all_written());
}

#[tokio::test(start_paused = true)]
async fn daily_429_is_never_retried() {
    let h = harness(
        Client::builder(),
        Arc::new(|_, _, _| {
            Box::pin(async move {
                Ok(raw(
                    429,
                    json!({"status":"error","message":"You have reached your daily limit.","errorType":"RATE_LIMIT","policyName":"DAILY"}),
                    &[("retry-after", "1")],
                ))
            })
        }),
    );
    let e = h.client.upsert_batch(inputs(3)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimitedDaily);
    // Retryable tomorrow; within the run it was sent once.
    assert!(e.is_retryable());
    assert_eq!(e.policy_name(), Some("DAILY"));
    assert_eq!(h.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn server_errors_back_off_exponentially_then_succeed() {
    let h = harness(
        Client::builder().retry(no_jitter()),
        Arc::new(|n, batch, fake| {
            Box::pin(async move {
                match n {
                    0 => Ok(html(
                        502,
                        "<html><head><title>502 Bad Gateway</title></head><body>oops</body></html>",
                    )),
                    1 => Ok(raw(
                        500,
                        json!({"status":"error","message":"internal error","category":"INTERNAL_ERROR"}),
                        &[],
                    )),
                    2 => Err(Error::new(ErrorKind::Transport, "connection reset")),
                    _ => Ok(answer(&mut fake.lock().unwrap(), &batch, &|_| false)),
                }
            })
        }),
    );
    let t0 = Instant::now();
    let out = h.client.upsert_batch(inputs(1)).await.unwrap();
    assert_close(t0.elapsed(), Duration::from_millis(100 + 200 + 400));
    assert_eq!(out.requests, 4);
    assert!(out.all_written());
}

#[tokio::test(start_paused = true)]
async fn server_errors_give_up_after_max_attempts_with_the_html_title() {
    let h = harness(
        Client::builder().retry(no_jitter().max_attempts(3)),
        Arc::new(|_, _, _| {
            Box::pin(async move {
                Ok(html(
                    503,
                    "<html><head><title>Service Unavailable</title></head></html>",
                ))
            })
        }),
    );
    let e = h.client.upsert_batch(inputs(1)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Server);
    assert_eq!(e.status(), Some(503));
    assert!(e.to_string().contains("Service Unavailable"), "{e}");
    assert!(e.is_retryable());
    assert_eq!(h.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn full_jitter_waits_stay_under_the_ceiling() {
    let h = harness(
        Client::builder().retry(
            RetryPolicy::default()
                .initial_backoff(Duration::from_millis(100))
                .max_attempts(4),
        ),
        Arc::new(|_, _, _| Box::pin(async move { Ok(raw(500, json!({}), &[])) })),
    );
    let t0 = Instant::now();
    let _ = h.client.upsert_batch(inputs(1)).await.unwrap_err();
    assert!(
        t0.elapsed() <= Duration::from_millis(700),
        "{:?}",
        t0.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn attempts_time_out_and_are_retried() {
    let h = harness(
        Client::builder()
            .attempt_timeout(Duration::from_secs(2))
            .retry(no_jitter()),
        Arc::new(|n, batch, fake| {
            Box::pin(async move {
                if n < 2 {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                Ok(answer(&mut fake.lock().unwrap(), &batch, &|_| false))
            })
        }),
    );
    let t0 = Instant::now();
    let out = h.client.upsert_batch(inputs(1)).await.unwrap();
    assert_close(t0.elapsed(), Duration::from_millis(2000 + 100 + 2000 + 200));
    assert!(out.all_written());
}

#[tokio::test(start_paused = true)]
async fn deadline_bounds_retries() {
    let h = harness(
        Client::builder()
            .retry(no_jitter().max_attempts(100))
            .deadline(Duration::from_secs(1)),
        Arc::new(|_, _, _| Box::pin(async move { Ok(raw(503, json!({}), &[])) })),
    );
    let t0 = Instant::now();
    let e = h.client.upsert_batch(inputs(1)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Server);
    assert!(t0.elapsed() < Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn client_errors_are_not_retried_and_the_token_is_scrubbed() {
    let h = harness(
        Client::builder(),
        Arc::new(|_, _, _| {
            Box::pin(async move {
                Ok(raw(
                    401,
                    json!({"status":"error","category":"INVALID_AUTHENTICATION",
                           "message": format!("The token {TOKEN} is not valid"),
                           "correlationId":"1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b"}),
                    &[],
                ))
            })
        }),
    );
    let e = h.client.upsert_batch(inputs(2)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(
        e.correlation_id(),
        Some("1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b")
    );
    for text in [e.to_string(), format!("{e:?}"), format!("{:?}", h.client)] {
        assert!(!text.contains("secret-token"), "{text}");
    }
    assert_eq!(h.calls.load(Ordering::SeqCst), 1);
}

/// HubSpot refuses any batch holding a `BAD` input as a whole (no per-input errors).
fn refuse_bad(named: bool) -> Arc<Handler> {
    Arc::new(move |_, batch, fake| {
        Box::pin(async move {
            let bad: Vec<String> = batch
                .inputs
                .iter()
                .filter(|i| i.id.starts_with("BAD"))
                .map(|i| i.id.clone())
                .collect();
            if bad.is_empty() {
                return Ok(answer(&mut fake.lock().unwrap(), &batch, &|_| false));
            }
            let context = if named {
                json!({"ids": bad})
            } else {
                json!({})
            };
            Ok(raw(
                400,
                json!({"status":"error","category":"VALIDATION_ERROR",
                       "message":"Property values were not valid","context": context}),
                &[],
            ))
        })
    })
}

#[tokio::test(start_paused = true)]
async fn whole_batch_400_is_bisected_to_the_bad_input() {
    let h = harness(Client::builder(), refuse_bad(false));
    let mut batch = inputs(100);
    batch[37] = RecordInput::new("BAD-37").property("subject", "x");
    let out = h.client.upsert_batch(batch).await.unwrap();
    let failed: Vec<_> = out.failed().map(|r| (r.position, r.id.clone())).collect();
    assert_eq!(failed, [(37, "BAD-37".to_owned())]);
    assert_eq!(out.created().count(), 99);
    let f = out.records[37].outcome.failure().unwrap();
    assert_eq!((f.kind, f.status), (ErrorKind::Validation, Some(400)));
    assert!(f.message.contains("Property values were not valid"));
    assert!(out.requests <= 1 + 32, "{}", out.requests);
}

#[tokio::test(start_paused = true)]
async fn whole_batch_400_naming_inputs_drops_just_those() {
    let h = harness(Client::builder(), refuse_bad(true));
    let mut batch = inputs(50);
    batch[3] = RecordInput::new("BAD-3");
    batch[40] = RecordInput::new("BAD-40");
    let out = h.client.upsert_batch(batch).await.unwrap();
    assert_eq!(out.failed().count(), 2);
    assert_eq!(out.requests, 2);
}

#[tokio::test(start_paused = true)]
async fn bisection_off_or_one_input_returns_the_error() {
    let h = harness(
        Client::builder().bisect_rejected_batches(false),
        refuse_bad(false),
    );
    let mut batch = inputs(10);
    batch[0] = RecordInput::new("BAD-0");
    let e = h.client.upsert_batch(batch).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
    assert_eq!(h.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn batch_input_checks() {
    let h = harness(Client::builder(), ok_handler());
    let e = h.client.upsert_batch(inputs(101)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let out = h
        .client
        .upsert_batch(vec![
            RecordInput::new(""),
            RecordInput::new("A").property("n", f64::NAN),
            RecordInput::new("B"),
        ])
        .await
        .unwrap();
    let k: Vec<_> = out.records.iter().map(|r| r.outcome.is_written()).collect();
    assert_eq!(k, [false, false, true]);
    assert!(
        out.records[1]
            .outcome
            .failure()
            .unwrap()
            .message
            .contains("\"A\"")
    );
}

/// `upsert_batch` treats a repeated id as a bulk run does: the repeat goes in a later
/// request, in input order, and is flagged.
#[tokio::test(start_paused = true)]
async fn repeated_ids_are_written_in_order_and_flagged_in_both_paths() {
    let h = harness(Client::builder(), ok_handler());
    let batch = || {
        vec![
            RecordInput::new("A").property("subject", "first"),
            RecordInput::new("B").property("subject", "b"),
            RecordInput::new("A").property("subject", "second"),
            RecordInput::new("A").property("subject", "third"),
        ]
    };
    let out = h.client.upsert_batch(batch()).await.unwrap();
    assert!(out.all_written());
    assert_eq!(out.requests, 3);
    let repeats: Vec<_> = out.records.iter().map(|r| r.repeat_of).collect();
    assert_eq!(repeats, [None, None, Some(0), Some(2)]);
    let subjects = |fake: &Fake| -> Vec<String> {
        fake.writes
            .iter()
            .filter(|(id, _)| id == "A")
            .map(|(_, s)| s.clone())
            .collect()
    };
    assert_eq!(
        subjects(&h.fake.lock().unwrap()),
        ["first", "second", "third"]
    );

    let h = harness(Client::builder(), ok_handler());
    let report = h.client.bulk_upsert_iter(batch()).report().await;
    assert!(report.summary.all_written());
    let repeats: Vec<_> = report.outcomes.iter().map(|r| r.repeat_of).collect();
    assert_eq!(repeats, [None, None, Some(0), Some(2)]);
    assert_eq!(
        subjects(&h.fake.lock().unwrap()),
        ["first", "second", "third"]
    );
}

/// With `return_inputs`, every outcome carries its input back, ready to resend: the
/// properties as given, a caller's trace id kept, the client's own one removed.
#[tokio::test(start_paused = true)]
async fn outcomes_hand_inputs_back_when_asked() {
    let h = harness(Client::builder(), refuse_bad(true));
    let batch = vec![
        RecordInput::new("ZD-1").property("subject", "ok"),
        RecordInput::new("BAD-2").property("subject", "refused"),
        RecordInput::new("ZD-3").property("n", f64::NAN),
        RecordInput::new("ZD-4").with_trace_id("mine-4"),
    ];
    let mut report = h
        .client
        .bulk_upsert_iter(batch.clone())
        .return_inputs(true)
        .report()
        .await;
    assert_eq!(report.summary.failed, 2);
    for (o, given) in report.outcomes.iter_mut().zip(&batch) {
        let back = o.take_input().expect("input handed back");
        assert_eq!(&back, given, "position {}", o.position);
    }
    let report = h.client.bulk_upsert_iter(batch).report().await;
    assert!(report.outcomes.iter().all(|o| o.input().is_none()));
}

/// An answer that leaves inputs out (neither a result nor an error) is confirmed by
/// sending those inputs again, at most twice; then they fail with a reason saying so.
#[tokio::test(start_paused = true)]
async fn inputs_an_answer_leaves_out_are_confirmed_then_reported() {
    // Writes everything, but its first answer forgets the SHY records.
    let forgetful = |forget_until: u32| -> Arc<Handler> {
        Arc::new(move |n, batch, fake| {
            Box::pin(async move {
                let full = answer(&mut fake.lock().unwrap(), &batch, &|_| false);
                if n >= forget_until {
                    return Ok(full);
                }
                let mut body: Value = serde_json::from_slice(&full.body).unwrap();
                body["results"].as_array_mut().unwrap().retain(|r| {
                    !r["properties"]["external_ticket_id"]
                        .as_str()
                        .unwrap()
                        .starts_with("SHY")
                });
                Ok(raw(200, body, &[]))
            })
        })
    };
    let batch = || {
        let mut b = inputs(5);
        b.push(RecordInput::new("SHY-1"));
        b.push(RecordInput::new("SHY-2"));
        b
    };
    let h = harness(Client::builder(), forgetful(1));
    let out = h.client.upsert_batch(batch()).await.unwrap();
    assert!(out.all_written(), "{:?}", out.records);
    assert_eq!(out.requests, 2);
    assert!(matches!(out.records[5].outcome, Outcome::Updated { .. }));

    let h = harness(Client::builder(), forgetful(u32::MAX));
    let out = h.client.upsert_batch(batch()).await.unwrap();
    assert_eq!(out.requests, 3);
    assert_eq!(out.created().count(), 5);
    let f = out.records[6].outcome.failure().unwrap();
    assert_eq!(f.kind, ErrorKind::Decode);
    assert!(f.message.contains("also after 2 more request(s)"), "{f}");
}

#[tokio::test(start_paused = true)]
async fn bulk_accounts_for_every_record_and_batches_by_100() {
    let h = harness(Client::builder().max_concurrency(3), ok_handler());
    let report = h.client.bulk_upsert_iter(inputs(1001)).report().await;
    assert_eq!(report.outcomes.len(), 1001);
    assert!(
        report
            .outcomes
            .iter()
            .enumerate()
            .all(|(i, o)| o.position == i as u64)
    );
    assert_eq!(report.summary.created, 1001);
    assert_eq!(report.summary.requests, 11);
    assert_eq!(h.fake.lock().unwrap().max_batch, 100);
}

#[tokio::test(start_paused = true)]
async fn bulk_orders_writes_of_the_same_id_and_never_overlaps_them() {
    let handler: Arc<Handler> = Arc::new(|n, batch, fake| {
        Box::pin(async move {
            {
                let mut f = fake.lock().unwrap();
                for i in &batch.inputs {
                    if !f.in_flight.insert(i.id.clone()) {
                        f.overlap = true;
                    }
                }
            }
            // Uneven latency so that batches finish out of order.
            tokio::time::sleep(Duration::from_millis(u64::from(n % 3) * 50)).await;
            let mut f = fake.lock().unwrap();
            for i in &batch.inputs {
                f.in_flight.remove(&i.id);
            }
            Ok(answer(&mut f, &batch, &|_| false))
        })
    });
    let h = harness(Client::builder().max_concurrency(4), handler);
    // 600 records over 50 ids: each id appears 12 times, with increasing subjects.
    let records: Vec<_> = (0..600)
        .map(|i| RecordInput::new(format!("ID-{}", i % 50)).property("subject", format!("{i:04}")))
        .collect();
    let report = h.client.bulk_upsert_iter(records).report().await;
    assert_eq!(report.summary.created, 50);
    assert_eq!(report.summary.updated, 550);
    let f = h.fake.lock().unwrap();
    assert!(!f.overlap, "two writes of one id were in flight at once");
    assert!(!f.dup_in_batch, "a batch held one id twice");
    let mut last: HashMap<&str, &str> = HashMap::new();
    for (id, subject) in &f.writes {
        if let Some(prev) = last.insert(id, subject) {
            assert!(
                prev < subject.as_str(),
                "{id}: {prev} written after {subject}"
            );
        }
    }
    // The later input wins.
    assert_eq!(last["ID-7"], "0557");
}

#[tokio::test(start_paused = true)]
async fn bulk_daily_limit_stops_and_reports_the_rest_not_attempted() {
    let h = harness(
        Client::builder().max_concurrency(1),
        Arc::new(|n, batch, fake| {
            Box::pin(async move {
                if n >= 3 {
                    return Ok(raw(
                        429,
                        json!({"status":"error","message":"You have reached your daily limit.","errorType":"RATE_LIMIT","policyName":"DAILY"}),
                        &[],
                    ));
                }
                Ok(answer(&mut fake.lock().unwrap(), &batch, &|_| false))
            })
        }),
    );
    // An input of unknown length: reading stops with the run, what was read is
    // accounted for, and the rest is handed back.
    let mut rest = inputs(1000).into_iter();
    let mut report = h
        .client
        .bulk_upsert_iter(std::iter::from_fn(|| rest.next()))
        .report()
        .await;
    let unread = report.unread.take().unwrap().count().await as u64;
    let s = &report.summary;
    assert_eq!((s.created, s.failed), (300, 0));
    assert_eq!(s.not_attempted, s.read - 300);
    assert!(s.read < 1000, "read {}", s.read);
    assert_eq!(s.read + unread, 1000);
    assert_eq!(
        s.stopped.as_ref().unwrap().kind,
        ErrorKind::RateLimitedDaily
    );
    assert_eq!(h.calls.load(Ordering::SeqCst), 4);
    let positions: HashSet<u64> = report.outcomes.iter().map(|o| o.position).collect();
    assert_eq!(positions.len() as u64, s.read);
}

#[tokio::test(start_paused = true)]
async fn bulk_cancellation_and_deadline_stop_new_batches() {
    let slow: Arc<Handler> = Arc::new(|_, batch, fake| {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok(answer(&mut fake.lock().unwrap(), &batch, &|_| false))
        })
    });
    let h = harness(Client::builder().max_concurrency(2), Arc::clone(&slow));
    let token = crate::bulk::CancellationToken::new();
    let t2 = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        t2.cancel();
    });
    let mut rest = inputs(2000).into_iter();
    let mut report = h
        .client
        .bulk_upsert_iter(std::iter::from_fn(|| rest.next()))
        .with_cancellation(token)
        .report()
        .await;
    let unread = report.unread.take().unwrap().count().await as u64;
    let s = &report.summary;
    // One batch until the first answer (t = 1 s), then rounds of two (2 s, 3 s).
    assert_eq!(s.created, 500);
    // Read ahead: the batches in flight, the open one and the repeats' room, no more.
    assert!(s.read <= 500 + 3 * 100, "read {}", s.read);
    assert_eq!(s.not_attempted, s.read - 500);
    assert_eq!(s.read + unread, 2000);
    assert_eq!(s.stopped.as_ref().unwrap().kind, ErrorKind::Cancelled);

    let h = harness(Client::builder().max_concurrency(2), slow);
    let report = h
        .client
        .bulk_upsert_iter(inputs(2000))
        .deadline(Duration::from_millis(1500))
        .report()
        .await;
    let s = &report.summary;
    assert_eq!(s.created + s.failed + s.not_attempted, s.read);
    assert_eq!(s.created, 100);
    assert_eq!(s.failed, 200, "the second round was cut by the deadline");
    assert_eq!(
        s.stopped.as_ref().unwrap().kind,
        ErrorKind::DeadlineExceeded
    );
}

#[tokio::test(start_paused = true)]
async fn bulk_invalid_records_fail_alone() {
    let h = harness(Client::builder(), ok_handler());
    let mut records = inputs(10);
    records[2] = RecordInput::new("  ");
    records[5] = RecordInput::new("X").property("ratio", f64::INFINITY);
    records[7] = RecordInput::new("y".repeat(5000));
    let report = h.client.bulk_upsert_iter(records).report().await;
    let failed: Vec<u64> = report.failed().map(|o| o.position).collect();
    assert_eq!(failed, [2, 5, 7]);
    assert_eq!(report.summary.created, 7);
}

#[tokio::test(start_paused = true)]
async fn bulk_auth_failure_stops_the_run() {
    let h = harness(
        Client::builder().max_concurrency(1),
        Arc::new(|_, _, _| {
            Box::pin(async move {
                Ok(raw(
                    401,
                    json!({"message":"Authentication credentials not found.","category":"INVALID_AUTHENTICATION"}),
                    &[],
                ))
            })
        }),
    );
    let report = h.client.bulk_upsert_iter(inputs(500)).report().await;
    let s = &report.summary;
    // One cause, one outcome: the refused batch was not written either, and the
    // unread rest of a finite input is reported too.
    assert_eq!((s.failed, s.not_attempted, s.read), (0, 500, 500));
    assert!(report.outcomes.iter().all(|o| {
        o.outcome
            .failure()
            .is_some_and(|f| f.kind == ErrorKind::Auth)
    }));
    assert_eq!(h.calls.load(Ordering::SeqCst), 1);
}

/// A whole-batch 400 that refuses the idProperty itself (unknown, not unique) is a
/// configuration error: one request, the run stops, nothing is bisected.
#[tokio::test(start_paused = true)]
async fn a_refused_id_property_stops_the_run_after_one_request() {
    let refuse: fn() -> Arc<Handler> = || {
        Arc::new(|_, _, _| {
            Box::pin(async move {
                Ok(raw(
                    400,
                    json!({"status":"error","category":"VALIDATION_ERROR",
                           "message":"Unable to perform upsert: idProperty \"external_ticket_id\" does not exist",
                           "context":{"idProperty":["external_ticket_id"]}}),
                    &[],
                ))
            })
        })
    };
    let h = harness(Client::builder(), refuse());
    let report = h.client.bulk_upsert_iter(inputs(1000)).report().await;
    assert_eq!(h.calls.load(Ordering::SeqCst), 1);
    assert_eq!(report.summary.not_attempted, report.summary.read);
    let why = report.summary.stopped.as_deref().expect("the run stopped");
    assert_eq!(why.kind, ErrorKind::Configuration);
    assert!(why.message.contains("external_ticket_id"), "{why}");

    let h2 = harness(Client::builder(), refuse());
    let e = h2.client.upsert_batch(inputs(10)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Configuration);
    assert_eq!(h2.calls.load(Ordering::SeqCst), 1);
}

/// A redirect is not followed (the token must not travel) and every request would get
/// it: one request, the run stops, and the reason says where it pointed, without the
/// credentials a Location may carry.
#[tokio::test(start_paused = true)]
async fn a_redirect_stops_the_run_and_says_where_it_pointed() {
    let h = harness(
        Client::builder(),
        Arc::new(|_, _, _| {
            Box::pin(async move {
                let mut r = html(307, "<html><title>Moved</title></html>");
                r.headers.insert(
                    "location",
                    HeaderValue::from_static("https://sso:hunter2@login.example.com/crm"),
                );
                Ok(r)
            })
        }),
    );
    let report = h.client.bulk_upsert_iter(inputs(1000)).report().await;
    assert_eq!(h.calls.load(Ordering::SeqCst), 1);
    assert_eq!(report.summary.not_attempted, report.summary.read);
    let why = report.summary.stopped.as_deref().expect("the run stopped");
    assert_eq!(
        (why.kind, why.status),
        (ErrorKind::Configuration, Some(307))
    );
    let text = why.to_string();
    assert!(
        text.contains("redirect (https://<credentials>@login.example.com/crm)"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn slow_streams_are_flushed_after_the_linger() {
    let h = harness(
        Client::builder().batch_linger(Duration::from_millis(200)),
        ok_handler(),
    );
    let stream = futures::stream::iter(inputs(5)).then(|i| async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        i
    });
    let progress = crate::Progress::new();
    let mut out = h
        .client
        .bulk_upsert(stream.chain(futures::stream::pending()))
        .with_progress(progress.clone())
        .outcomes();
    for _ in 0..5 {
        assert!(out.next().await.unwrap().outcome.is_written());
    }
    assert_eq!(progress.snapshot().created, 5);
    assert_eq!(h.calls.load(Ordering::SeqCst), 1);
    drop(out); // dropping mid-run must not panic
}

#[tokio::test(start_paused = true)]
async fn dropping_a_bulk_run_mid_flight_is_safe() {
    let h = harness(
        Client::builder(),
        Arc::new(|_, batch, fake| {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(answer(&mut fake.lock().unwrap(), &batch, &|_| false))
            })
        }),
    );
    let fut = h.client.bulk_upsert_iter(inputs(1000)).report();
    assert!(
        tokio::time::timeout(Duration::from_secs(1), fut)
            .await
            .is_err()
    );
    // The limiter is usable afterwards.
    let out = h.client.upsert_batch(inputs(1)).await.unwrap();
    assert!(out.all_written());
}

/// Property tests: any answers, any inputs.
mod props;

/// HubSpot refuses every batch with `message` (and `context`), naming no input.
fn refuse_all(message: &'static str, context: Value) -> Arc<Handler> {
    Arc::new(move |_, _, _| {
        let context = context.clone();
        Box::pin(async move {
            Ok(raw(
                400,
                json!({"status":"error","category":"VALIDATION_ERROR",
                       "message": message, "context": context}),
                &[],
            ))
        })
    })
}

/// HubSpot's own words for a refused idProperty (quoted live): the object type id
/// before `property`, the name after it, no context. One request, and the reason names
/// the property, not the object type id.
#[tokio::test(start_paused = true)]
async fn hubspots_words_for_a_refused_id_property_stop_after_one_request() {
    // The run's idProperty is external_ticket_id: HubSpot names it, after whatever
    // object type id.
    let name = "external_ticket_id";
    for message in [
        "Unable to perform update/upsert by non-unique 0-5 property external_ticket_id",
        "Unable to perform update/upsert by non-unique 0-3 property external_ticket_id",
        "Unable to perform update/upsert by non-unique 2-123456 property external_ticket_id",
        "unable to perform update/upsert by non-unique property external_ticket_id",
        "Unable to perform update/upsert by non-unique external_ticket_id property",
    ] {
        let h = harness(Client::builder(), refuse_all(message, json!({})));
        let report = h.client.bulk_upsert_iter(inputs(1000)).report().await;
        assert_eq!(h.calls.load(Ordering::SeqCst), 1, "{message}");
        let why = report.summary.stopped.as_deref().expect("the run stopped");
        assert_eq!(why.kind, ErrorKind::Configuration, "{message}");
        assert!(why.message.contains(name), "{why}");
        assert_eq!(report.summary.not_attempted, report.summary.read);
    }
}

/// A refusal in words never seen here, naming no input, that every record gets: the
/// run stops within three requests (the batch, then two of its inputs, each alone).
#[tokio::test(start_paused = true)]
async fn a_refusal_of_every_record_in_unknown_words_stops_within_three_requests() {
    let h = harness(
        Client::builder(),
        refuse_all("Das Feld ist ungültig", json!({"weird": ["x"]})),
    );
    let report = h.client.bulk_upsert_iter(inputs(1000)).report().await;
    assert!(h.calls.load(Ordering::SeqCst) <= 3);
    let why = report.summary.stopped.as_deref().expect("the run stopped");
    assert_eq!(why.kind, ErrorKind::Configuration);
    assert!(why.message.contains("Das Feld ist ungültig"), "{why}");
    assert!(why.message.contains("configuration is at fault"), "{why}");
    assert_eq!(report.outcomes.len() as u64, report.summary.read);
    assert_eq!(report.summary.written(), 0);
}

/// Two bad records, one in each half, refused with the same words naming no input:
/// still the records' fault, found by bisection; the others are written.
#[tokio::test(start_paused = true)]
async fn two_bad_records_in_different_halves_are_not_taken_for_the_configuration() {
    for bad in [
        [10, 80],
        [1, 99],
        [50, 51],
        [0, 99],
        [0, 1],
        [0, 51],
        [0, 50],
    ] {
        let h = harness(Client::builder(), refuse_bad(false));
        let mut batch = inputs(100);
        for b in bad {
            batch[b] = RecordInput::new(format!("BAD-{b}")).property("subject", "x");
        }
        let out = h.client.upsert_batch(batch).await.unwrap();
        let mut failed: Vec<u64> = out.failed().map(|r| r.position).collect();
        failed.sort_unstable();
        let expected: Vec<u64> = bad.iter().map(|b| *b as u64).collect();
        assert_eq!(failed, expected, "{bad:?}");
        assert_eq!(out.created().count(), 98, "{bad:?}");
    }
}

/// 477 Migration in Progress, with a day's `Retry-After`: one request, the run stops
/// with the wait in its reason, everything not attempted.
#[tokio::test(start_paused = true)]
async fn migration_in_progress_stops_the_run_after_one_request() {
    let h = harness(
        Client::builder(),
        Arc::new(|_, _, _| {
            Box::pin(async move {
                Ok(raw(
                    477,
                    json!({"status":"error","message":"Migration in progress","category":"MIGRATION_IN_PROGRESS"}),
                    &[("retry-after", "86400")],
                ))
            })
        }),
    );
    let t0 = Instant::now();
    let report = h.client.bulk_upsert_iter(inputs(1000)).report().await;
    assert_eq!(h.calls.load(Ordering::SeqCst), 1);
    assert!(t0.elapsed() < Duration::from_secs(1));
    let why = report.summary.stopped.as_deref().expect("the run stopped");
    assert_eq!(why.kind, ErrorKind::Unavailable);
    assert!(why.message.contains("24.0 h"), "{why}");
    assert_eq!(report.summary.not_attempted, report.summary.read);
}

/// A 503 asking for an hour: each retry waits the cap (a minute), never the hour.
#[tokio::test(start_paused = true)]
async fn a_long_retry_after_on_a_5xx_is_capped() {
    let h = harness(
        Client::builder().retry(no_jitter().max_attempts(3)),
        Arc::new(|k, batch, fake| {
            Box::pin(async move {
                if k < 2 {
                    return Ok(raw(
                        503,
                        json!({"status":"error","message":"unavailable","category":"SERVICE_UNAVAILABLE"}),
                        &[("retry-after", "3600")],
                    ));
                }
                Ok(answer(&mut fake.lock().unwrap(), &batch, &|_| false))
            })
        }),
    );
    let t0 = Instant::now();
    let out = h.client.upsert_batch(inputs(10)).await.unwrap();
    assert_eq!(out.created().count(), 10);
    let took = t0.elapsed();
    assert!(took >= Duration::from_secs(120), "{took:?}");
    assert!(took < Duration::from_secs(125), "{took:?}");
}

/// A HubSpot that accepts requests and never answers: the run stops within about a
/// minute at the default timeout, the rest not attempted.
#[tokio::test(start_paused = true)]
async fn a_server_that_never_answers_stops_the_run_within_about_a_minute() {
    let h = harness(
        Client::builder(),
        Arc::new(|_, _, _| Box::pin(std::future::pending())),
    );
    let t0 = Instant::now();
    let report = h.client.bulk_upsert_iter(inputs(2000)).report().await;
    let took = t0.elapsed();
    assert!(took <= Duration::from_secs(75), "{took:?}");
    let s = &report.summary;
    let why = s.stopped.as_deref().expect("the run stopped");
    assert_eq!(why.kind, ErrorKind::Timeout, "{why}");
    assert!(why.message.contains("has not answered"), "{why}");
    assert_eq!(s.written(), 0);
    // Only the first batch was out: its records may have been written; the rest not.
    assert_eq!(s.failed, 100, "{s}");
    assert_eq!(s.not_attempted, s.read - 100, "{s}");
}

/// A HubSpot that answers, then dies (every connection refused): the run stops after
/// two batches give up, instead of every batch spending its retries.
#[tokio::test(start_paused = true)]
async fn a_server_that_dies_mid_run_stops_the_run() {
    let h = harness(
        Client::builder().max_concurrency(2),
        Arc::new(|k, batch, fake| {
            Box::pin(async move {
                if k < 5 {
                    return Ok(answer(&mut fake.lock().unwrap(), &batch, &|_| false));
                }
                Err(Error::new(
                    ErrorKind::Transport,
                    "could not connect to http://127.0.0.1:1",
                )
                .not_sent())
            })
        }),
    );
    let t0 = Instant::now();
    let report = h.client.bulk_upsert_iter(inputs(5000)).report().await;
    let s = &report.summary;
    let why = s.stopped.as_deref().expect("the run stopped");
    assert_eq!(why.kind, ErrorKind::Transport, "{why}");
    assert!(t0.elapsed() < Duration::from_secs(60), "{:?}", t0.elapsed());
    assert_eq!(s.created, 500, "{s}");
    // Refused connections wrote nothing: not attempted, never "failed".
    assert_eq!(s.failed, 0, "{s}");
    assert_eq!(s.not_attempted, s.read - 500, "{s}");
    assert!(h.calls.load(Ordering::SeqCst) < 25);
}

/// A 2xx body with both a result and an error for one input: never reported written
/// on its word; a resend tells.
#[tokio::test(start_paused = true)]
async fn a_result_and_an_error_for_one_input_is_never_written_on_its_word() {
    for resend_agrees in [true, false] {
        let h = harness(
            Client::builder(),
            Arc::new(move |k, batch, fake| {
                Box::pin(async move {
                    let mut r = answer(&mut fake.lock().unwrap(), &batch, &|_| false);
                    if k == 0 || !resend_agrees {
                        let mut body: Value = serde_json::from_slice(&r.body).unwrap();
                        let first = &batch.inputs[0];
                        body["errors"] = json!([{
                            "status": "error", "category": "VALIDATION_ERROR",
                            "message": "contradiction",
                            "context": {"objectWriteTraceId": [first.object_write_trace_id]}
                        }]);
                        body["numErrors"] = json!(1);
                        r = raw(200, body, &[]);
                    }
                    Ok(r)
                })
            }),
        );
        let out = h.client.upsert_batch(inputs(10)).await.unwrap();
        let first = &out.records[0].outcome;
        if resend_agrees {
            assert!(first.is_written(), "{first:?}");
            assert_eq!(h.calls.load(Ordering::SeqCst), 2);
        } else {
            assert!(!first.is_written(), "{first:?}");
            // HubSpot's own refusal, and what is not known.
            let f = first.failure().unwrap();
            assert_eq!(f.kind, ErrorKind::Validation, "{f}");
            assert!(f.message.contains("contradiction"), "{f}");
            assert!(
                f.message.contains("also reported this input written"),
                "{f}"
            );
        }
        assert_eq!(
            out.records
                .iter()
                .filter(|r| r.outcome.is_written())
                .count(),
            if resend_agrees { 10 } else { 9 }
        );
    }
}
