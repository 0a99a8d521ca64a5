//! Stalled servers never hang the client: the per-attempt timeout cuts an attempt
//! that gets no answer (no accept, no response, a body that stops half-way), retries
//! follow the policy, and the whole-operation deadline bounds a call or a bulk run
//! however many retries remain. Time bounds here are generous ceilings (a hang would
//! blow them by far), never tight expectations.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hubspot_emulator::{FaultConfig, FaultKind};
use hubspot_tickets::{Client, ErrorKind, Outcome, RateLimit, RecordInput, RetryPolicy};
use integration_tests::*;

#[derive(Clone, Copy)]
enum Stall {
    /// Never accepts: the kernel completes the handshake, nobody reads.
    NoAccept,
    /// Reads the request, never answers.
    NoAnswer,
    /// Sends the status line, headers and half the body, then nothing.
    HalfBody,
}

/// A loopback server that stalls; counts the requests it read.
fn stalled(kind: Stall) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    std::thread::spawn(move || {
        if let Stall::NoAccept = kind {
            std::thread::sleep(Duration::from_secs(600));
            drop(listener);
            return;
        }
        let mut held: Vec<TcpStream> = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            // Read the request head (the body may stay unread: nobody cares).
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            counter.fetch_add(1, Ordering::SeqCst);
            if let Stall::HalfBody = kind {
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 400\r\n\r\n{\"status\":\"COMPLETE\",\"res",
                );
            }
            held.push(stream); // keep it open, silent
        }
    });
    (url, seen)
}

fn client(url: &str, attempt: Duration, attempts: u32, deadline: Option<Duration>) -> Client {
    let mut b = Client::builder()
        .access_token(TOKEN)
        .base_url(url)
        .id_property(ID_PROPERTY)
        .rate_limit(RateLimit::disabled())
        .attempt_timeout(attempt)
        .retry(
            RetryPolicy::default()
                .initial_backoff(Duration::from_millis(10))
                .max_backoff(Duration::from_millis(50))
                .max_attempts(attempts),
        );
    if let Some(d) = deadline {
        b = b.deadline(d);
    }
    b.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_stall_times_out_and_is_retried_then_reported() {
    for kind in [Stall::NoAccept, Stall::NoAnswer, Stall::HalfBody] {
        let (url, seen) = stalled(kind);
        let c = client(&url, Duration::from_millis(300), 3, None);
        let t0 = Instant::now();
        let e = c
            .upsert_batch([RecordInput::new("ZD-1")])
            .await
            .unwrap_err();
        let took = t0.elapsed();
        assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
        assert!(e.is_retryable());
        assert_eq!(e.message(), "no answer within 300 ms");
        assert!(took >= Duration::from_millis(900), "{took:?}");
        assert!(took < Duration::from_secs(20), "{took:?}: the client hung");
        if !matches!(kind, Stall::NoAccept) {
            assert_eq!(seen.load(Ordering::SeqCst), 3, "one request per attempt");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_bounds_a_call_whatever_the_retry_budget() {
    let (url, _) = stalled(Stall::NoAnswer);
    // 1,000 attempts of 10 s each would take hours; the deadline is 1 s.
    let c = client(
        &url,
        Duration::from_secs(10),
        1000,
        Some(Duration::from_secs(1)),
    );
    let t0 = Instant::now();
    let e = c
        .upsert_batch([RecordInput::new("ZD-1")])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_bounds_a_bulk_run_and_every_record_read_is_reported() {
    let (url, seen) = stalled(Stall::HalfBody);
    let c = Client::builder()
        .access_token(TOKEN)
        .base_url(&url)
        .id_property(ID_PROPERTY)
        .rate_limit(RateLimit::disabled())
        .attempt_timeout(Duration::from_secs(30))
        .retry(RetryPolicy::default().max_attempts(100))
        .max_concurrency(3)
        .build()
        .unwrap();
    let t0 = Instant::now();
    let report = c
        .bulk_upsert_iter(tickets("DL", 0..1000))
        .deadline(Duration::from_millis(1500))
        .report()
        .await;
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    let s = &report.summary;
    // Every input is reported: a finite input's unread rest as not attempted.
    assert_eq!(report.outcomes.len() as u64, s.read);
    assert_eq!(s.read, 1000, "{s:?}");
    assert_eq!(s.failed + s.not_attempted, s.read, "{s:?}");
    assert_eq!(
        s.stopped.as_ref().map(|f| f.kind),
        Some(ErrorKind::DeadlineExceeded)
    );
    for o in &report.outcomes {
        match &o.outcome {
            // Sent and cut short: it may have been written.
            Outcome::Failed { reason } => assert_eq!(reason.kind, ErrorKind::Timeout),
            Outcome::NotAttempted { reason } => {
                assert_eq!(reason.kind, ErrorKind::DeadlineExceeded);
            }
            other => panic!("{other:?}"),
        }
    }
    // The first batch alone, until its answer (none came): a single request.
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    assert_eq!(s.failed, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_slower_than_the_attempt_timeout_are_retried_and_the_write_is_not_duplicated() {
    // Every answer is held back 1.5 s; the attempt timeout is 300 ms: every attempt
    // times out although the emulator wrote the batch each time.
    let faults = FaultConfig::none(1)
        .with(FaultKind::DelayedResponse, 1.0)
        .with_response_delay(Duration::from_millis(1500));
    let window = Duration::from_millis(500);
    let emu = start(config_with_faults(1000, window, faults)).await;
    let c = build(
        builder(&emu, 1000, window)
            .attempt_timeout(Duration::from_millis(300))
            .retry(
                RetryPolicy::default()
                    .initial_backoff(Duration::from_millis(10))
                    .max_attempts(3),
            ),
    );
    let t0 = Instant::now();
    let e = c.upsert_batch(tickets("SL", 0..50)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(t0.elapsed() < Duration::from_secs(20));
    // Written (three times, as one ticket each), never created twice.
    assert_eq!(emu.tickets().count(), 50);
    let stats = emu.stats();
    assert_eq!(stats.fault_count(FaultKind::DelayedResponse), 3);
    assert_eq!((stats.records_created, stats.records_updated), (50, 100));
    assert!(stats.duplicate_creates.is_empty());
    // Once the server answers in time, the same records are updates.
    emu.set_faults(FaultConfig::none(1)).unwrap();
    let out = c.upsert_batch(tickets("SL", 0..50)).await.unwrap();
    assert_eq!(out.updated().count(), 50);
}
