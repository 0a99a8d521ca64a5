//! Transport security: plain `http://` only to loopback unless explicitly allowed; the
//! `Authorization` header never follows a redirect to another origin; TLS is rustls
//! (no OpenSSL or native-tls anywhere in the dependency tree).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::time::Duration;

use hubspot_tickets::{Client, ErrorKind, Outcome, RateLimit, RecordInput, RetryPolicy};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "pat-na1-transport-secret-0000";
const PATH: &str = "/crm/v3/objects/tickets/batch/upsert";

fn builder(url: &str) -> hubspot_tickets::ClientBuilder {
    Client::builder()
        .access_token(TOKEN)
        .base_url(url)
        .id_property("external_ticket_id")
        .rate_limit(RateLimit::disabled())
        .retry(RetryPolicy::none())
}

#[test]
fn plain_http_to_a_non_loopback_host_is_refused_unless_allowed() {
    for url in [
        "http://api.hubapi.com",
        "http://example.com:8080",
        "http://10.0.0.1",
        "http://192.168.1.10",
        "http://169.254.169.254",
        "http://0.0.0.0:80",
        "http://localhost.example.com",
        "http://127.0.0.1.example.com",
        "http://[::ffff:127.0.0.1]",
        "http://[2001:db8::1]",
    ] {
        let e = builder(url).build().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Configuration, "{url}");
        assert!(
            e.message().starts_with("refusing plain http://"),
            "{url}: {e}"
        );
        assert!(!e.to_string().contains(TOKEN));
        // Explicitly allowed: built (the token then travels in clear, by choice).
        assert!(
            builder(url).allow_insecure_http(true).build().is_ok(),
            "{url}"
        );
    }
    for url in [
        "http://127.0.0.1:1",
        "http://127.8.9.10:1",
        "http://[::1]:1",
        "http://localhost:1",
        "http://LOCALHOST:1",
        "https://api.hubapi.com",
        "https://example.com:8443/",
    ] {
        assert!(builder(url).build().is_ok(), "{url}");
    }
    for url in [
        "ftp://example.com",
        "file:///etc/passwd",
        "https://u:p@example.com",
        "https://example.com/?a=b",
    ] {
        let e = builder(url).allow_insecure_http(true).build().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Configuration, "{url}");
    }
}

fn result_body(req: &wiremock::Request) -> Value {
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    let results: Vec<Value> = body["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            json!({"id": "1", "new": true, "archived": false, "objectWriteTraceId": i["objectWriteTraceId"],
                   "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z",
                   "properties": {"external_ticket_id": i["id"]}})
        })
        .collect();
    json!({"status": "COMPLETE", "results": results,
           "startedAt": "2026-01-01T00:00:00.000Z", "completedAt": "2026-01-01T00:00:00.000Z"})
}

/// `a` redirects (307, method and body kept) to the same path on `b`, another origin.
async fn redirecting_pair() -> (MockServer, MockServer) {
    let (a, b) = (MockServer::start().await, MockServer::start().await);
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(
            ResponseTemplate::new(307).insert_header("location", format!("{}{PATH}", b.uri())),
        )
        .mount(&a)
        .await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(|req: &wiremock::Request| {
            ResponseTemplate::new(200).set_body_json(result_body(req))
        })
        .mount(&b)
        .await;
    (a, b)
}

#[tokio::test]
async fn the_facades_client_does_not_follow_redirects_at_all() {
    let (a, b) = redirecting_pair().await;
    let client = builder(&a.uri()).build().unwrap();
    let e = client
        .upsert_batch([RecordInput::new("ZD-1")])
        .await
        .unwrap_err();
    // A redirect is the base URL to fix: it would be every request's answer.
    assert_eq!(
        (e.kind(), e.status()),
        (ErrorKind::Configuration, Some(307))
    );
    assert!(e.message().contains("redirect"), "{e}");
    assert!(!e.is_retryable());
    assert!(
        b.received_requests().await.unwrap().is_empty(),
        "the redirect was followed"
    );
    // The raw generated client shares the same HTTP client.
    let body = hubspot_tickets::types::TicketUpsertBatch {
        inputs: vec![
            RecordInput::new("ZD-1")
                .with_id_property("external_ticket_id")
                .into_generated(),
        ],
    };
    assert!(
        client
            .generated()
            .batch_upsert_tickets(&body)
            .await
            .is_err()
    );
    assert!(b.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_caller_supplied_client_that_follows_redirects_drops_the_token_across_origins() {
    let (a, b) = redirecting_pair().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .unwrap();
    let client = builder(&a.uri()).http_client(http).build().unwrap();
    let out = client
        .upsert_batch([RecordInput::new("ZD-1")])
        .await
        .unwrap();
    assert!(matches!(out.records[0].outcome, Outcome::Created { .. }));
    let first = a.received_requests().await.unwrap();
    assert_eq!(
        first[0]
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap(),
        format!("Bearer {TOKEN}"),
        "the first origin gets the token"
    );
    let followed = b.received_requests().await.unwrap();
    assert_eq!(followed.len(), 1, "the redirect was followed");
    assert!(
        followed[0].headers.get("authorization").is_none(),
        "Authorization was forwarded to another origin"
    );
    for (name, value) in &followed[0].headers {
        assert!(!value.to_str().unwrap_or("").contains(TOKEN), "{name}");
    }
    assert!(!String::from_utf8_lossy(&followed[0].body).contains(TOKEN));
}

#[test]
fn tls_is_rustls_and_no_openssl_is_in_the_dependency_tree() {
    let lock = include_str!("../../../Cargo.lock");
    let packages: Vec<&str> = lock
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .map(|l| l.trim_end_matches('"'))
        .collect();
    assert!(packages.len() > 100);
    // (`openssl-probe`, pure Rust, only locates the system's CA files for rustls.)
    for banned in [
        "openssl",
        "openssl-sys",
        "native-tls",
        "hyper-tls",
        "tokio-native-tls",
    ] {
        assert!(!packages.contains(&banned), "{banned} is in Cargo.lock");
    }
    for needed in ["rustls", "hyper-rustls", "tokio-rustls"] {
        assert!(packages.contains(&needed), "{needed} is not in Cargo.lock");
    }
    // reqwest itself depends on rustls.
    let reqwest = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"reqwest\""))
        .unwrap();
    assert!(
        reqwest.contains("\"rustls\"") && reqwest.contains("\"hyper-rustls\""),
        "{reqwest}"
    );
}

/// A handshake with a server that answers in plain HTTP fails with rustls' own error
/// (OpenSSL would say "wrong version number"), classified as a connection failure
/// that does not show the token.
#[tokio::test]
async fn https_handshakes_go_through_rustls() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0_u8; 512];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
        }
    });
    let client = builder(&format!("https://127.0.0.1:{port}"))
        .attempt_timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let e = client
        .upsert_batch([RecordInput::new("ZD-1")])
        .await
        .unwrap_err();
    // Display leaves the cause to the source chain; a record's Failure spells it out.
    let text = e.to_failure().message;
    assert!(
        !e.to_string().contains(&text),
        "Display repeats its source: {e}"
    );
    assert_eq!(e.kind(), ErrorKind::Transport, "{text}");
    assert!(
        text.contains("InvalidContentType") || text.contains("corrupt message"),
        "not a rustls error: {text}"
    );
    assert!(!text.contains("wrong version number"));
    assert!(!text.contains(TOKEN));
    server.join().unwrap();
}
