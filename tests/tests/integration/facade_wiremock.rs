//! The facade's wire behaviour, checked against wiremock: what it sends, and how it
//! reads answers HubSpot gives (HTML bodies, 429 bodies, changed success codes).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::time::Duration;

use hubspot_tickets::{Client, ErrorKind, RateLimit, RecordInput, RetryPolicy, types};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const PATH: &str = "/crm/v3/objects/tickets/batch/upsert";
const TOKEN: &str = "pat-na1-wiremock-secret";

/// Answers like HubSpot: every input created, trace ids echoed.
struct Echo;

impl Respond for Echo {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        let results: Vec<Value> = body["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, input)| {
                json!({
                    "id": (1000 + i).to_string(), "new": true, "archived": false,
                    "createdAt": "2026-11-28T09:14:03.311Z", "updatedAt": "2026-11-28T09:14:03.311Z",
                    "objectWriteTraceId": input["objectWriteTraceId"],
                    "properties": {"external_ticket_id": input["id"], "hs_ticket_priority": null},
                })
            })
            .collect();
        ResponseTemplate::new(200)
            .insert_header("x-hubspot-ratelimit-max", "190")
            .insert_header("x-hubspot-ratelimit-remaining", "189")
            .insert_header("x-hubspot-ratelimit-interval-milliseconds", "10000")
            .insert_header("x-hubspot-ratelimit-daily", "625000")
            .insert_header("x-hubspot-ratelimit-daily-remaining", "611204")
            .set_body_json(json!({
                "status": "COMPLETE", "results": results, "requestedAt": null,
                "startedAt": "2026-11-28T09:14:03.118Z", "completedAt": "2026-11-28T09:14:03.402Z",
            }))
    }
}

fn client(server: &MockServer) -> Client {
    Client::builder()
        .access_token(TOKEN)
        .base_url(server.uri())
        .id_property("external_ticket_id")
        .rate_limit(RateLimit::disabled())
        .retry(
            RetryPolicy::default()
                .initial_backoff(Duration::from_millis(10))
                .max_backoff(Duration::from_millis(20)),
        )
        .build()
        .unwrap()
}

fn inputs(n: usize) -> Vec<RecordInput> {
    (0..n)
        .map(|i| {
            RecordInput::new(format!("ZD-{i}"))
                .property("subject", "Printer jams")
                .property("hs_pipeline_stage", 1)
                .property("is_escalated", true)
        })
        .collect()
}

#[tokio::test]
async fn sends_hubspots_wire_shape() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("content-type", "application/json"))
        .and(header("api-version", "v3"))
        .respond_with(Echo)
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let out = c.upsert_batch(inputs(3)).await.unwrap();
    assert!(out.all_written());

    let req = &server.received_requests().await.unwrap()[0];
    let ua = req.headers.get("user-agent").unwrap().to_str().unwrap();
    assert!(ua.starts_with("hubspot-tickets/0.1.0"), "{ua}");
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    let inputs = body["inputs"].as_array().unwrap();
    let traces: HashSet<&str> = inputs
        .iter()
        .map(|i| i["objectWriteTraceId"].as_str().unwrap())
        .collect();
    assert_eq!(traces.len(), 3, "every input gets a distinct trace id");
    assert_eq!(inputs[0]["idProperty"], "external_ticket_id");
    assert_eq!(inputs[0]["id"], "ZD-0");
    assert_eq!(
        inputs[0]["properties"],
        json!({"subject": "Printer jams", "hs_pipeline_stage": "1", "is_escalated": "true"})
    );

    let status = c.rate_limit_status();
    let h = status.last_headers.unwrap();
    assert_eq!(
        (h.max, h.remaining, h.daily_remaining),
        (Some(190), Some(189), Some(611_204))
    );
    assert_eq!(h.interval, Some(Duration::from_secs(10)));
}

#[tokio::test]
async fn html_5xx_is_retried_and_keeps_its_status() {
    let server = MockServer::start().await;
    Mock::given(path(PATH))
        .respond_with(
            ResponseTemplate::new(502).set_body_raw(
                "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>",
                "text/html",
            ),
        )
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path(PATH))
        .respond_with(Echo)
        .mount(&server)
        .await;
    let out = client(&server).upsert_batch(inputs(2)).await.unwrap();
    assert!(out.all_written());
    assert_eq!(out.requests, 3);
}

#[tokio::test]
async fn html_4xx_is_a_clear_error() {
    let server = MockServer::start().await;
    Mock::given(path(PATH))
        .respond_with(ResponseTemplate::new(403).set_body_raw(
            "<html><body><p>Access   denied</p>\n</body></html>",
            "text/html; charset=utf-8",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let e = client(&server).upsert_batch(inputs(2)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Forbidden);
    assert_eq!(e.status(), Some(403));
    assert!(e.message().contains("Access denied"), "{e}");
    assert!(e.message().contains("text/html"), "{e}");
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out() {
    let server = MockServer::start().await;
    Mock::given(path(PATH))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(json!({
                    "status": "error", "message": "You have reached your ten_secondly_rolling limit.",
                    "errorType": "RATE_LIMIT", "correlationId": "0d9c8b7a-6f5e-4d3c-8b2a-1908f7e6d5c4",
                    "policyName": "TEN_SECONDLY_ROLLING", "groupName": "api-calls:2418337"
                })),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path(PATH))
        .respond_with(Echo)
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    let out = client(&server).upsert_batch(inputs(1)).await.unwrap();
    assert!(out.all_written());
    assert_eq!(out.requests, 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
}

#[tokio::test]
async fn any_2xx_with_a_valid_body_is_success() {
    let server = MockServer::start().await;
    Mock::given(path(PATH))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "status": "COMPLETE", "startedAt": "2026-11-28T09:14:03.118Z",
            "completedAt": "2026-11-28T09:14:03.402Z", "newTopLevelField": [1, 2],
            "results": [{"id": "77", "new": false, "archived": false,
                         "createdAt": "2026-11-28T09:14:03.311Z", "updatedAt": "2026-11-28T09:14:03.311Z",
                         "properties": {"external_ticket_id": "ZD-0"}}]
        })))
        .mount(&server)
        .await;
    let out = client(&server).upsert_batch(inputs(1)).await.unwrap();
    assert_eq!(out.status.map(|s| s.as_u16()), Some(201));
    assert_eq!(
        out.records[0].outcome.object_id(),
        Some("77"),
        "mapped by id"
    );
    assert_eq!(out.updated().count(), 1);
}

#[tokio::test]
async fn the_generated_client_is_one_call_away() {
    let server = MockServer::start().await;
    Mock::given(path(PATH))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(Echo)
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let body = types::TicketUpsertBatch {
        inputs: vec![types::TicketUpsertInput {
            id: "RAW-1".into(),
            id_property: Some("external_ticket_id".into()),
            object_write_trace_id: Some("t-raw".into()),
            properties: [("subject".to_owned(), "Raw".to_owned())].into(),
        }],
    };
    let answer = c.generated().batch_upsert_tickets(&body).await.unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(
        answer.results[0].object_write_trace_id.as_deref(),
        Some("t-raw")
    );
}

#[test]
fn plain_http_is_refused_except_for_loopback() {
    let b = || {
        Client::builder()
            .access_token(TOKEN)
            .id_property("external_ticket_id")
    };
    let e = b().base_url("http://api.example.com").build().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Configuration);
    assert!(!e.to_string().contains(TOKEN));
    assert!(b().base_url("http://127.0.0.1:9").build().is_ok());
    assert!(
        b().base_url("http://api.example.com")
            .allow_insecure_http(true)
            .build()
            .is_ok()
    );
}

/// Behind a proxy's path prefix, each version's request reaches its path with the
/// `api-version` header naming that version.
#[tokio::test]
async fn versions_behind_a_path_prefix() {
    let server = MockServer::start().await;
    for (version, at) in [
        ("v3", "/hub/crm/v3/objects/contacts/batch/upsert"),
        ("2026-09", "/hub/crm/objects/2026-09/contacts/batch/upsert"),
    ] {
        Mock::given(method("POST"))
            .and(path(at))
            .and(header("api-version", version))
            .respond_with(Echo)
            .expect(1)
            .mount(&server)
            .await;
    }
    for version in ["v3", "2026-09"] {
        let c = Client::builder()
            .access_token(TOKEN)
            .base_url(format!("{}/hub/", server.uri()))
            .api_version(version.parse().unwrap())
            .object_type(hubspot_tickets::config::ObjectType::CONTACTS)
            .id_property("email")
            .rate_limit(RateLimit::disabled())
            .build()
            .unwrap();
        let out = c.upsert_batch(inputs(2)).await.unwrap();
        assert!(out.all_written(), "{version}: {out:?}");
    }
}
