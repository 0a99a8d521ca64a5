//! Connection limits over raw sockets: header-read and idle timeouts, and the cap on
//! concurrent connections.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use crate::common::*;
use hubspot_emulator::{Emulator, FaultConfig, FaultKind};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SHORT: Duration = Duration::from_millis(300);
const LONG: Duration = Duration::from_secs(20);

const HEALTH: &[u8] = b"GET /__emulator/health HTTP/1.1\r\nHost: emu\r\n\r\n";

/// Reads until the server closes the socket; returns how long that took after `since`.
/// Panics if the socket is still open after `limit`.
async fn wait_for_close(stream: &mut TcpStream, since: Instant, limit: Duration) -> Duration {
    let mut buf = [0_u8; 4096];
    let deadline = since + limit;
    loop {
        match tokio::time::timeout_at(deadline.into(), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return since.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("connection still open after {limit:?}"),
        }
    }
}

/// Sends a health check on `stream` and reads the whole (small) answer.
async fn health_on(stream: &mut TcpStream) {
    stream.write_all(HEALTH).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0_u8; 4096];
    while !String::from_utf8_lossy(&got).contains("\"ok\"") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("answer in time")
            .unwrap();
        assert!(n > 0, "closed before answering");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
}

async fn connect(emu: &Emulator) -> TcpStream {
    TcpStream::connect(emu.addr()).await.unwrap()
}

/// An emulator whose idle timeout is short and whose header-read timeout is not, so
/// that only the idle timeout can close a connection.
async fn idle_timeout_only() -> Emulator {
    start(
        config()
            .with_idle_timeout(SHORT)
            .with_header_read_timeout(LONG),
    )
    .await
}

#[tokio::test]
async fn a_half_sent_request_is_closed_after_the_header_read_timeout() {
    let emu = start(
        config()
            .with_header_read_timeout(SHORT)
            .with_idle_timeout(LONG),
    )
    .await;
    let mut s = connect(&emu).await;
    s.write_all(b"POST /crm/v3/objects/tickets/batch/upsert HTTP/1.1\r\nHost: emu\r\nContent-")
        .await
        .unwrap();
    let sent = Instant::now();
    let took = wait_for_close(&mut s, sent, Duration::from_secs(5)).await;
    assert!(
        took >= Duration::from_millis(250),
        "closed too early: {took:?}"
    );
    // The server is still fine.
    let mut s = connect(&emu).await;
    health_on(&mut s).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let emu = idle_timeout_only().await;
    let mut s = connect(&emu).await;
    health_on(&mut s).await;
    let answered = Instant::now();
    let took = wait_for_close(&mut s, answered, Duration::from_secs(5)).await;
    assert!(
        took >= Duration::from_millis(250),
        "closed too early: {took:?}"
    );
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_idle_timeout() {
    let emu = idle_timeout_only().await;
    let mut s = connect(&emu).await;
    let took = wait_for_close(&mut s, Instant::now(), Duration::from_secs(5)).await;
    assert!(
        took >= Duration::from_millis(250),
        "closed too early: {took:?}"
    );
}

#[tokio::test]
async fn a_body_that_stalls_is_closed_after_the_idle_timeout() {
    let emu = idle_timeout_only().await;
    let mut s = connect(&emu).await;
    s.write_all(
        b"POST /crm/v3/objects/tickets/batch/upsert HTTP/1.1\r\nHost: emu\r\n\
          Authorization: Bearer test-token\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"inputs\": [",
    )
    .await
    .unwrap();
    let sent = Instant::now();
    let took = wait_for_close(&mut s, sent, Duration::from_secs(5)).await;
    assert!(
        took >= Duration::from_millis(250),
        "closed too early: {took:?}"
    );
    assert_eq!(emu.tickets().count(), 0);
}

#[tokio::test]
async fn a_slow_answer_is_not_idleness() {
    let faults = FaultConfig::none(1)
        .with(FaultKind::DelayedResponse, 1.0)
        .with_response_delay(Duration::from_millis(900));
    let emu = start(
        config()
            .with_idle_timeout(SHORT)
            .with_header_read_timeout(SHORT)
            .with_faults(faults),
    )
    .await;
    let r = post(&emu, &batch(vec![input("SLOW-1", None, json!({}))])).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_until_one_closes() {
    let emu = start(
        config()
            .with_max_connections(2)
            .with_idle_timeout(LONG)
            .with_header_read_timeout(LONG),
    )
    .await;
    // Two served, kept-alive connections take both slots.
    let mut a = connect(&emu).await;
    health_on(&mut a).await;
    let mut b = connect(&emu).await;
    health_on(&mut b).await;

    // A third client connects (the kernel queues it) but is not served yet.
    let url = format!("{}/__emulator/health", emu.base_url());
    let waiting = tokio::spawn(async move { client().get(url).send().await.map(|r| r.status()) });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "served beyond the connection limit");

    // Once a slot frees up, it is served.
    drop(a);
    let status = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("served once a connection closed")
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
    health_on(&mut b).await;
}

#[tokio::test]
async fn zero_limits_are_refused() {
    for cfg in [
        config().with_max_connections(0),
        config().with_idle_timeout(Duration::ZERO),
        config().with_header_read_timeout(Duration::ZERO),
    ] {
        let err = Emulator::start(cfg).await.unwrap_err();
        assert!(err.to_string().contains("must be positive"), "{err}");
    }
}
