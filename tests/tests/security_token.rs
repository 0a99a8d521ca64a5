//! The token never shows: not in `Debug`/`Display` of any public type, not in errors,
//! outcomes, reports or their JSON, not in `tracing` output at any level (every target,
//! TRACE), not even when a server echoes it back in every field it can. It travels
//! only in the `Authorization` header.
//!
//! One global subscriber records everything logged by every test of this binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hubspot_emulator::{FaultConfig, FaultKind};
use hubspot_tickets::{
    Client, ClientBuilder, ErrorKind, Outcome, Progress, RateLimit, RecordInput, RetryPolicy,
};
use integration_tests::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const SECRET: &str = "pat-na1-echo-5ec2e7-do-not-print";
const PATH: &str = "/crm/v3/objects/tickets/batch/upsert";

/// Everything logged so far, by every crate, at every level.
fn logs() -> &'static CapturedLogs {
    integration_tests::global_trace_logs()
}

fn assert_hidden(what: &str, text: &str) {
    assert!(!text.contains(SECRET), "{what} shows the token: {text}");
    assert!(!text.contains(TOKEN), "{what} shows the token: {text}");
    // Not even a recognisable part of it.
    assert!(!text.contains("5ec2e7-do-not"), "{what}: {text}");
}

/// A server that echoes the token it receives into everything it sends: error
/// messages, categories, correlation ids, HTML pages, 207 per-input errors, a body
/// that does not decode; the n-th request gets the n-th kind of answer (then 207s).
struct Echo {
    calls: AtomicUsize,
}

impl Respond for Echo {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let auth = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let token = auth.trim_start_matches("Bearer ").to_owned();
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        let json_err = |status: u16| {
            ResponseTemplate::new(status)
                .insert_header("x-hubspot-correlation-id", token.as_str())
                .set_body_json(json!({
                    "status": "error", "message": format!("echo: {auth}"), "category": token,
                    "correlationId": token, "errorType": token, "policyName": token,
                    "context": {"ids": [token]},
                }))
        };
        match n {
            0 => json_err(500),
            1 => ResponseTemplate::new(503)
                .insert_header("content-type", "text/html")
                .set_body_string(format!(
                    "<html><title>token {token}</title><body>{auth}</body></html>"
                )),
            2 => ResponseTemplate::new(200)
                .set_body_string(format!("{{\"status\":\"COMPLETE\",\"results\":[{token}")),
            3 => json_err(429),
            _ => {
                let errors: Vec<Value> = body["inputs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| {
                        json!({"status": "error", "category": token, "message": format!("Property values were not valid ({auth})"),
                               "context": {"objectWriteTraceId": [i["objectWriteTraceId"]], "id": [i["id"]]},
                               "errors": [{"message": format!("bad {token}"), "code": token}]})
                    })
                    .collect();
                ResponseTemplate::new(207).set_body_json(json!({
                    "status": "COMPLETE", "results": [], "numErrors": errors.len(), "errors": errors,
                    "startedAt": "2026-01-01T00:00:00.000Z", "completedAt": "2026-01-01T00:00:00.100Z",
                }))
            }
        }
    }
}

fn echo_client(server: &MockServer) -> ClientBuilder {
    Client::builder()
        .access_token(format!("  {SECRET}\n"))
        .base_url(server.uri())
        .id_property("external_ticket_id")
        .rate_limit(RateLimit::disabled())
        .retry(
            RetryPolicy::default()
                .initial_backoff(Duration::from_millis(5))
                .max_backoff(Duration::from_millis(20))
                .max_attempts(6),
        )
}

/// Answers every upsert with the token echoed back (see [`Echo`]).
async fn mount_echo(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(Echo {
            calls: AtomicUsize::new(0),
        })
        .mount(server)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echoing_server_never_gets_the_token_into_anything_shown() {
    let logs = logs();
    let server = MockServer::start().await;
    mount_echo(&server).await;
    let builder = echo_client(&server);
    assert_hidden("ClientBuilder Debug", &format!("{builder:?}"));
    let client = builder.build().unwrap();
    let input = RecordInput::new("ZD-1").property("subject", "Printer jams");
    assert_hidden("RecordInput Debug", &format!("{input:?}"));

    // One batch through a 500, an HTML 503, an undecodable 200 and a 429 (all echoing
    // the token), then a 207 whose per-input errors echo it.
    let out = client
        .upsert_batch([input.clone(), RecordInput::new("ZD-2")])
        .await
        .unwrap();
    assert_eq!(out.requests, 5);
    assert_eq!(out.errors.len(), 2);
    let f = out.records[0].outcome.failure().unwrap();
    assert_eq!(f.kind, ErrorKind::Validation);
    assert!(f.message.contains("<redacted>"), "{f}");
    let mut shown = vec![
        ("BatchOutcome Debug", format!("{out:?}")),
        ("Failure Display", f.to_string()),
        (
            "RecordOutcome JSON",
            serde_json::to_string(&out.records).unwrap(),
        ),
        (
            "raw errors JSON",
            serde_json::to_string(&out.errors).unwrap(),
        ),
    ];

    // Each kind of error answer (500, HTML 503, undecodable 200, 429) as the final
    // error of a call without retries.
    for kind in 0..4 {
        server.reset().await;
        Mock::given(method("POST"))
            .and(path(PATH))
            .respond_with(Echo {
                calls: AtomicUsize::new(kind),
            })
            .mount(&server)
            .await;
        let one = echo_client(&server)
            .retry(RetryPolicy::none())
            .build()
            .unwrap();
        let e = one
            .upsert_batch([RecordInput::new("ZD-9")])
            .await
            .unwrap_err();
        shown.push(("Error Display", e.to_string()));
        shown.push(("Error Debug", format!("{e:?}")));
        shown.push((
            "Error fields",
            format!(
                "{:?} {:?} {:?} {}",
                e.category(),
                e.correlation_id(),
                e.policy_name(),
                e.message()
            ),
        ));
        shown.push((
            "Failure JSON",
            serde_json::to_string(&e.to_failure()).unwrap(),
        ));
    }

    // A bulk run through the same answers: the report, summary and stream.
    server.reset().await;
    mount_echo(&server).await;
    let progress = Progress::new();
    let bulk = client
        .bulk_upsert_iter(tickets("EC", 0..250))
        .with_progress(progress.clone());
    shown.push(("BulkUpsert Debug", format!("{bulk:?}")));
    let report = bulk.report().await;
    assert_eq!(report.outcomes.len(), 250);
    assert!(
        report
            .outcomes
            .iter()
            .all(|o| matches!(o.outcome, Outcome::Failed { .. }))
    );
    shown.push(("BulkReport Debug", format!("{report:?}")));
    shown.push(("Counts Debug", format!("{:?}", report.summary)));
    shown.push((
        "report JSON",
        serde_json::to_string(&report.outcomes).unwrap(),
    ));
    for o in &report.outcomes {
        shown.push(("Outcome Display", o.outcome.failure().unwrap().to_string()));
    }
    shown.push((
        "Progress Debug",
        format!("{progress:?} {:?}", progress.snapshot()),
    ));
    shown.push(("Client Debug", format!("{client:?}")));
    shown.push((
        "generated client Debug",
        format!("{:?}", client.generated()),
    ));
    shown.push((
        "RateLimitStatus Debug",
        format!("{:?}", client.rate_limit_status()),
    ));
    let stream = client.bulk_upsert_iter(tickets("EC", 0..1)).outcomes();
    shown.push(("BulkOutcomes Debug", format!("{stream:?}")));
    drop(stream);

    for (what, text) in &shown {
        assert_hidden(what, text);
    }
    // The token reached the server in the Authorization header and nowhere else.
    for req in server.received_requests().await.unwrap() {
        assert_eq!(
            req.headers.get("authorization").unwrap().to_str().unwrap(),
            format!("Bearer {SECRET}")
        );
        assert_hidden("request body", &String::from_utf8_lossy(&req.body));
        assert_hidden("request URL", req.url.as_str());
        for (name, value) in &req.headers {
            if name != "authorization" {
                assert_hidden("request header", &format!("{value:?}"));
            }
        }
    }
    let text = logs.text();
    assert!(
        text.contains("hubspot_tickets.attempt"),
        "TRACE spans were captured"
    );
    assert_hidden("tracing output", &text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_of_every_local_kind_never_show_the_token() {
    let logs = logs();
    let b = || Client::builder().access_token(SECRET);
    let mut shown = Vec::new();
    // Configuration errors that quote the URL or settings.
    for url in [
        "http://example.com",
        "ftp://example.com",
        "https://user:pw@example.com",
        "not a url",
        &format!("https://example.com/?t={SECRET}"),
    ] {
        let e = b().base_url(url).build().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Configuration);
        shown.push(format!("{e} {e:?}"));
    }
    // A token that cannot be a header value.
    let e = Client::builder()
        .access_token(format!("{SECRET}\u{7}x"))
        .build()
        .unwrap_err();
    shown.push(format!("{e} {e:?}"));
    // A refused connection (a port nothing listens on) and an invalid input.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = b()
        .base_url(format!("http://127.0.0.1:{port}"))
        .id_property(ID_PROPERTY)
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let e = client
        .upsert_batch([RecordInput::new("ZD-1")])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transport);
    shown.push(format!("{e} {e:?} {:?}", std::error::Error::source(&e)));
    let out = client
        .upsert_batch([RecordInput::new("ZD-1").property("x", f64::NAN)])
        .await
        .unwrap();
    shown.push(format!("{out:?}"));
    for text in &shown {
        assert_hidden("local error", text);
    }
    assert_hidden("tracing output", &logs.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_soak_at_trace_level_never_logs_the_token() {
    let logs = logs();
    let faults = FaultConfig::chaos(5).with_response_delay(Duration::from_millis(400));
    let emu = start(config_with_faults(1000, Duration::from_millis(500), faults)).await;
    let client = build(
        builder(&emu, 1000, Duration::from_millis(500))
            .attempt_timeout(Duration::from_millis(200))
            .max_concurrency(4),
    );
    let report = client
        .bulk_upsert_iter(tickets("TR", 0..1500))
        .report()
        .await;
    assert_eq!(report.outcomes.len(), 1500);
    assert!(emu.stats().total_faults() > 0);
    assert!(
        emu.stats().fault_count(FaultKind::CloseAfterWrite)
            + emu.stats().fault_count(FaultKind::Http502)
            > 0
    );
    assert_hidden("report", &format!("{report:?}"));
    let text = logs.text();
    assert!(
        text.contains("TRACE") || text.contains("DEBUG"),
        "low levels were captured"
    );
    assert_hidden("tracing output", &text);
}
