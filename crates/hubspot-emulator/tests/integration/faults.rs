//! Every fault kind with a fixed seed, as a raw HTTP client sees it, and the
//! reproducibility of seeded fault sequences.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use crate::common::*;
use hubspot_emulator::{Emulator, FaultConfig, FaultKind, Policy};
use serde_json::{Value, json};

const SEED: u64 = 20_241_128;

async fn with_fault(kind: FaultKind) -> Emulator {
    start(config().with_faults(FaultConfig::none(SEED).with(kind, 1.0))).await
}

fn one(id: &str) -> Value {
    batch(vec![input(id, Some("t"), json!({"subject": "s"}))])
}

async fn send(emu: &Emulator, body: &Value) -> Result<Reply, reqwest::Error> {
    post_raw(
        &client(),
        emu,
        Some(TOKEN),
        serde_json::to_vec(body).unwrap(),
    )
    .await
}

#[tokio::test]
async fn injected_429_with_and_without_retry_after() {
    for (kind, retry_after) in [
        (FaultKind::RateLimit429, Some("1")),
        (FaultKind::RateLimit429NoRetryAfter, None),
    ] {
        let emu = with_fault(kind).await;
        let r = send(&emu, &one("F-429")).await.unwrap();
        assert_eq!(r.status, 429);
        assert_eq!(r.json()["policyName"], "TEN_SECONDLY_ROLLING");
        assert_eq!(r.json()["errorType"], "RATE_LIMIT");
        assert_eq!(r.header("retry-after"), retry_after);
        assert_eq!(emu.tickets().count(), 0);
        let st = emu.stats();
        assert_eq!(st.fault_count(kind), 1);
        // Injected 429s are faults, not limiter decisions.
        assert_eq!(st.rate_limited_by(Policy::TenSecondlyRolling), 0);
        assert_eq!(st.request_log[0].policy, Some(Policy::TenSecondlyRolling));
    }
}

#[tokio::test]
async fn server_errors_with_json_bodies() {
    for (kind, status) in [
        (FaultKind::Http500, 500),
        (FaultKind::Http502, 502),
        (FaultKind::Http503, 503),
        (FaultKind::Http504, 504),
    ] {
        let emu = with_fault(kind).await;
        let r = send(&emu, &one("F-5xx")).await.unwrap();
        assert_eq!(r.status, status);
        assert!(
            r.header("content-type")
                .unwrap()
                .starts_with("application/json")
        );
        assert_eq!(r.json()["status"], "error");
        assert!(is_uuid(&r.json()["correlationId"]));
        assert_eq!(emu.tickets().count(), 0);
        assert_eq!(emu.stats().fault_count(kind), 1);
        assert_eq!(emu.stats().html_error_bodies, 0);
    }
}

#[tokio::test]
async fn server_errors_with_html_bodies() {
    let faults = FaultConfig::none(SEED)
        .with(FaultKind::Http502, 1.0)
        .with_html_error_body(1.0);
    let emu = start(config().with_faults(faults)).await;
    let r = send(&emu, &one("F-html")).await.unwrap();
    assert_eq!(r.status, 502);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.text.starts_with("<!DOCTYPE html>"));
    assert!(r.json.is_none());
    assert_eq!(emu.stats().html_error_bodies, 1);
}

#[tokio::test]
async fn connection_closed_before_responding() {
    let emu = with_fault(FaultKind::CloseBeforeResponse).await;
    let started = Instant::now();
    let err = send(&emu, &one("F-close")).await.unwrap_err();
    assert!(!err.is_timeout(), "{err:?}");
    assert!(
        err.is_request() || err.is_body() || err.is_connect(),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "closed promptly"
    );
    assert_eq!(emu.tickets().count(), 0, "nothing written");
    let st = emu.stats();
    assert_eq!(st.fault_count(FaultKind::CloseBeforeResponse), 1);
    assert_eq!(st.connections_dropped, 1);
    assert_eq!(st.request_log[0].status, None);
}

#[tokio::test]
async fn write_applied_then_connection_closed() {
    let emu = with_fault(FaultKind::CloseAfterWrite).await;
    let err = send(&emu, &one("F-lost")).await.unwrap_err();
    assert!(!err.is_timeout(), "{err:?}");
    // The write happened although the client never heard about it...
    let t = emu.tickets().get_by_unique(ID_PROP, "F-lost").unwrap();
    assert_eq!(t.properties["subject"], "s");
    assert_eq!(emu.stats().fault_count(FaultKind::CloseAfterWrite), 1);
    // ...so retrying the same upsert updates it instead of creating a duplicate.
    emu.set_faults(FaultConfig::none(SEED)).unwrap();
    let r = send(&emu, &one("F-lost")).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["results"][0]["new"], false);
    assert_eq!(r.json()["results"][0]["id"], t.object_id.to_string());
    assert_eq!(emu.tickets().count(), 1);
    assert_eq!(emu.tickets().creates_for(ID_PROP, "F-lost"), 1);
    assert!(emu.stats().duplicate_creates.is_empty());
}

#[tokio::test]
async fn delayed_responses_beyond_a_client_timeout() {
    let delay = Duration::from_millis(1500);
    let faults = FaultConfig::none(SEED)
        .with(FaultKind::DelayedResponse, 1.0)
        .with_response_delay(delay);
    let emu = start(config().with_faults(faults)).await;
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = post_raw(
        &impatient,
        &emu,
        Some(TOKEN),
        serde_json::to_vec(&one("F-slow")).unwrap(),
    )
    .await
    .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(
        emu.tickets().get_by_unique(ID_PROP, "F-slow").is_some(),
        "written before the delay"
    );
    // A patient client gets the normal answer, no sooner than the delay.
    let started = Instant::now();
    let r = send(&emu, &one("F-slow")).await.unwrap();
    assert!(started.elapsed() >= delay);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["results"][0]["new"], false);
    assert_eq!(emu.stats().fault_count(FaultKind::DelayedResponse), 2);
}

#[tokio::test]
async fn whole_batch_409() {
    let emu = with_fault(FaultKind::Conflict409).await;
    let r = send(&emu, &one("F-409")).await.unwrap();
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["category"], "CONFLICT");
    assert!(is_uuid(&r.json()["correlationId"]));
    assert_eq!(emu.tickets().count(), 0);
}

#[tokio::test]
async fn truncated_json_body() {
    let emu = with_fault(FaultKind::TruncatedBody).await;
    let r = send(&emu, &traced_batch("F-trunc", 10)).await.unwrap();
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert!(!r.text.is_empty());
    assert!(
        serde_json::from_str::<Value>(&r.text).is_err(),
        "body must be cut"
    );
    assert!(r.text.starts_with("{\"status\":\"COMPLETE\""));
    assert_eq!(emu.tickets().count(), 10, "the write was applied");
    assert_eq!(emu.stats().fault_count(FaultKind::TruncatedBody), 1);
}

#[tokio::test]
async fn unexpected_201() {
    let emu = with_fault(FaultKind::Unexpected201).await;
    let r = send(&emu, &one("F-201")).await.unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["status"], "COMPLETE");
    assert_eq!(r.json()["results"][0]["new"], true);
    assert_eq!(emu.tickets().count(), 1);
    assert_eq!(emu.stats().fault_count(FaultKind::Unexpected201), 1);
}

/// What a client saw for one request: a status, or a transport error.
async fn outcome(emu: &Emulator, http: &reqwest::Client, i: usize) -> String {
    let body = serde_json::to_vec(&traced_batch(&format!("R{i}"), 2)).unwrap();
    match post_raw(http, emu, Some(TOKEN), body).await {
        Ok(r) => format!(
            "{}{}",
            r.status,
            if r.json.is_none() { "-nonjson" } else { "" }
        ),
        Err(e) if e.is_timeout() => "timeout".to_owned(),
        Err(_) => "dropped".to_owned(),
    }
}

async fn run_sequence(emu: &Emulator, n: usize) -> Vec<String> {
    let http = client();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(outcome(emu, &http, i).await);
    }
    out
}

fn chaos(seed: u64) -> FaultConfig {
    // The chaos preset, with every kind boosted so a short run sees most of them.
    let mut f = FaultConfig::chaos(seed).with_response_delay(Duration::from_millis(20));
    for kind in FaultKind::ALL {
        if kind != FaultKind::PartialWriteOnBatchError {
            f = f.with(kind, 0.05);
        }
    }
    f
}

#[tokio::test]
async fn a_fixed_seed_reproduces_the_fault_sequence() {
    const N: usize = 80;
    let a = start(config().with_faults(chaos(7))).await;
    let b = start(config().with_faults(chaos(7))).await;
    let c = start(config().with_faults(chaos(8))).await;
    let seq_a = run_sequence(&a, N).await;
    let seq_b = run_sequence(&b, N).await;
    let seq_c = run_sequence(&c, N).await;
    assert_eq!(seq_a, seq_b);
    assert_ne!(seq_a, seq_c);
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(sa.faults, sb.faults);
    assert!(sa.total_faults() > 10, "{:?}", sa.faults);
    assert!(seq_a.iter().any(|s| s == "dropped"));
    assert!(seq_a.iter().any(|s| s == "200"));
    assert_eq!(a.tickets().list().len(), b.tickets().list().len());
    // A reset re-seeds the RNG: the same sequence plays again.
    a.reset();
    assert_eq!(run_sequence(&a, N).await, seq_a);
}

#[tokio::test]
async fn faults_are_off_by_default() {
    let emu = start(config()).await;
    let seq = run_sequence(&emu, 30).await;
    assert!(seq.iter().all(|s| s == "200"), "{seq:?}");
    assert_eq!(emu.stats().total_faults(), 0);
}
