//! Property tests of response handling: arbitrary statuses, headers and bodies fed to
//! the classification function and, through the in-crate fake transport on tokio's
//! paused clock, to the whole engine (judge, classify, 207 mapping, bisection, retries,
//! bulk accounting).
//!
//! What must hold for every answer: no panic; every answer classified; every input
//! accounted for exactly once; a record is reported written only if the server wrote
//! it, and `NotAttempted` only if it never did; requests stay within the retry budget;
//! the token never shows. The kind an answer must get comes from a table of example
//! answers written out by hand ([`EXAMPLES`]), never from a copy of the classification.
//! `PROPTEST_CASES=N` runs more cases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use hubspot_tickets_client::types::{TicketUpsertBatch, TicketUpsertBatchResult};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use crate::engine::response::{MAX_MESSAGE_CHARS, classify_error};
use crate::engine::transport::{RawResponse, Transport};
use crate::error::classify_response;
use crate::secret::AccessToken;
use crate::{Client, Error, ErrorKind, Outcome, RateLimit, RecordInput, RetryPolicy};

const TOKEN: &str = "pat-na1-prop-0000-secret-token";

/// Cases per property: `PROPTEST_CASES` when set, else the default given.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------------
// Strategies: JSON values, bodies, headers.

const KEYS: &[&str] = &[
    "status",
    "message",
    "category",
    "errorType",
    "policyName",
    "correlationId",
    "context",
    "ids",
    "id",
    "objectWriteTraceId",
    "results",
    "errors",
    "numErrors",
    "startedAt",
    "completedAt",
    "requestedAt",
    "properties",
    "new",
    "subCategory",
    "links",
];

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => "[a-zA-Z_]{1,10}",
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e12_f64..1e12).prop_map(|f| json!(f)),
        ".{0,24}".prop_map(Value::String),
        Just(json!("DAILY")),
        Just(json!("TEN_SECONDLY_ROLLING")),
        Just(json!("2026-01-01T00:00:00.000Z")),
        Just(json!("0d9c8b7a-6f5e-4d3c-8b2a-1908f7e6d5c4")),
        Just(json!(TOKEN)),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((arb_key(), inner), 0..7)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A well-formed batch result for `k` made-up records, with unknown fields and `null`
/// property values (which must always decode). Its records are no input's: a body
/// claiming a write the server did not make would fool any client.
fn valid_result(k: usize, errors: usize) -> Value {
    let results: Vec<Value> = (0..k)
        .map(|i| {
            json!({
                "id": format!("{}", 1000 + i), "new": i % 2 == 0, "archived": false,
                "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.123Z",
                "objectWriteTraceId": format!("t{i}"),
                "properties": {"external_ticket_id": format!("OTHER-{i}"), "subject": null},
                "url": "https://app.hubspot.com/x", "warnings": [],
                "someFutureField": {"nested": [1, 2, 3]},
            })
        })
        .collect();
    let errors: Vec<Value> = (0..errors)
        .map(|i| {
            json!({
                "status": "error", "category": "VALIDATION_ERROR", "message": format!("bad {i}"),
                "subCategory": {"reason": "INVALID_OPTION"},
                "context": {"objectWriteTraceId": [format!("e{i}")], "id": [format!("E-{i}")]},
                "errors": [{"message": "x", "code": "INVALID_OPTION", "futureField": true}],
            })
        })
        .collect();
    let mut body = json!({
        "status": "COMPLETE", "results": results, "requestedAt": null,
        "startedAt": "2026-01-01T00:00:00.000Z", "completedAt": "2026-01-01T00:00:00.100Z",
        "links": {}, "brandNewTopLevelField": [null],
    });
    if !errors.is_empty() {
        body["numErrors"] = json!(errors.len());
        body["errors"] = json!(errors);
    }
    body
}

fn html_page() -> impl Strategy<Value = Vec<u8>> {
    (".{0,40}", ".{0,80}").prop_map(|(title, text)| {
        format!("<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{text}</h1></body></html>")
            .into_bytes()
    })
}

/// Any body: JSON of any shape, error objects with fields of any type, results with a
/// field replaced or cut short, HTML, bytes, empty, or enormous.
fn arb_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => arb_json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        3 => prop::collection::vec(
                (prop::sample::select(&KEYS[..7]).prop_map(str::to_owned), arb_json()),
                0..7,
            )
            .prop_map(|kv| serde_json::to_vec(&Value::Object(kv.into_iter().collect())).unwrap()),
        2 => (0..4_usize, 0..3_usize, arb_key(), arb_json()).prop_map(|(k, e, key, v)| {
                let mut body = valid_result(k, e);
                body[key] = v;
                serde_json::to_vec(&body).unwrap()
            }),
        2 => (0..4_usize, 0..3_usize, any::<prop::sample::Index>()).prop_map(|(k, e, cut)| {
                let mut bytes = serde_json::to_vec(&valid_result(k, e)).unwrap();
                bytes.truncate(cut.index(bytes.len()));
                bytes
            }),
        1 => Just(Vec::new()),
        1 => Just(b"null".to_vec()),
        2 => html_page(),
        2 => prop::collection::vec(any::<u8>(), 0..300),
        1 => (1_usize..3).prop_map(|mb| {
                // An enormous message and an enormous HTML page.
                let big = "x".repeat(mb << 20);
                if mb == 1 {
                    serde_json::to_vec(&json!({"message": big, "category": big})).unwrap()
                } else {
                    format!("<html><body>{big}</body></html>").into_bytes()
                }
            }),
    ]
}

fn arb_headers() -> impl Strategy<Value = Vec<(&'static str, Vec<u8>)>> {
    let value = prop_oneof![
        "[0-9]{1,6}".prop_map(String::into_bytes),
        Just(b"-1".to_vec()),
        Just(b"1e308".to_vec()),
        Just(b"NaN".to_vec()),
        Just(b"0.25".to_vec()),
        Just(b"Wed, 21 Oct 2015 07:28:00 GMT".to_vec()),
        Just(b"Fri, 01 Jan 2100 00:00:00 GMT".to_vec()),
        Just(b"text/html; charset=utf-8".to_vec()),
        Just(b"application/json".to_vec()),
        Just(TOKEN.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..20),
    ];
    let name = prop::sample::select(vec![
        "content-type",
        "retry-after",
        "x-hubspot-correlation-id",
        "x-hubspot-ratelimit-max",
        "x-hubspot-ratelimit-remaining",
        "x-hubspot-ratelimit-interval-milliseconds",
        "x-hubspot-ratelimit-daily",
        "x-hubspot-ratelimit-daily-remaining",
    ]);
    prop::collection::vec((name, value), 0..5)
}

/// Headers from raw bytes; values `http` refuses are left out, as a server's would be
/// refused by the HTTP parser before reaching the facade.
fn header_map(pairs: &[(&'static str, Vec<u8>)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        if let Ok(v) = HeaderValue::from_bytes(v) {
            h.append(HeaderName::from_static(k), v);
        }
    }
    h
}

fn arb_status() -> impl Strategy<Value = u16> {
    prop_oneof![
        4 => prop::sample::select(vec![
            200_u16, 201, 204, 207, 301, 307, 400, 401, 403, 404, 408, 409, 413, 429, 500, 502,
            503, 504,
        ]),
        1 => 100_u16..=999,
    ]
}

/// One answer HubSpot (or a proxy in front of it) may give, and the kind the facade
/// must give it, written out by hand (never computed: a copy of the classification
/// would agree with any bug in it).
#[derive(Clone, Copy, Debug)]
struct Example {
    status: u16,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    kind: ErrorKind,
}

const fn ex(
    status: u16,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    kind: ErrorKind,
) -> Example {
    Example {
        status,
        headers,
        body,
        kind,
    }
}

const NONE: &[(&str, &str)] = &[];
const JSON: &[(&str, &str)] = &[("content-type", "application/json;charset=utf-8")];
const HTML: &[(&str, &str)] = &[("content-type", "text/html; charset=utf-8")];
const TEXT: &[(&str, &str)] = &[("content-type", "text/plain")];
const ROLLING_HEADERS: &[(&str, &str)] = &[
    ("content-type", "application/json;charset=utf-8"),
    ("x-hubspot-ratelimit-max", "100"),
    ("x-hubspot-ratelimit-remaining", "0"),
    ("x-hubspot-ratelimit-interval-milliseconds", "10000"),
];
const DAILY_HEADERS: &[(&str, &str)] = &[
    ("content-type", "application/json;charset=utf-8"),
    ("x-hubspot-ratelimit-daily", "250000"),
    ("x-hubspot-ratelimit-daily-remaining", "0"),
];
const RETRY_AFTER: &[(&str, &str)] = &[("retry-after", "10")];

/// The examples: every status the facade gives a kind of its own, with JSON, HTML,
/// plain-text and empty bodies. A 429 is the only answer whose body matters (its
/// `policyName`, in any case, says `DAILY` or not); every other status decides alone.
const EXAMPLES: &[Example] = &[
    // 400: the batch (or a record in it) is invalid.
    ex(
        400,
        JSON,
        r#"{"status":"error","message":"Property values were not valid: [{\"isValid\":false,\"message\":\"HIGHEST was not one of the allowed options\",\"error\":\"INVALID_OPTION\",\"name\":\"hs_ticket_priority\"}]","correlationId":"0d9c8b7a-6f5e-4d3c-8b2a-1908f7e6d5c4","category":"VALIDATION_ERROR"}"#,
        ErrorKind::Validation,
    ),
    ex(400, TEXT, "Bad Request", ErrorKind::Validation),
    ex(400, NONE, "", ErrorKind::Validation),
    // 400 refusing the run's idProperty itself, naming no input: its configuration.
    ex(
        400,
        JSON,
        r#"{"status":"error","message":"Unable to perform upsert: idProperty \"external_ticket_id\" does not exist","category":"VALIDATION_ERROR","context":{"idProperty":["external_ticket_id"]}}"#,
        ErrorKind::Configuration,
    ),
    ex(
        400,
        JSON,
        r#"{"status":"error","message":"Unable to perform update/upsert by non-unique external_ticket_id property","category":"VALIDATION_ERROR"}"#,
        ErrorKind::Configuration,
    ),
    // HubSpot's own words (quoted live): the object type id, then the property.
    ex(
        400,
        JSON,
        r#"{"status":"error","message":"Unable to perform update/upsert by non-unique 0-5 property external_ticket_id","correlationId":"6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d","category":"VALIDATION_ERROR"}"#,
        ErrorKind::Configuration,
    ),
    // 423 Locked: too many upserts of one object type in a short period.
    ex(
        423,
        JSON,
        r#"{"status":"error","message":"Too many upserts in a short period","category":"LOCKED"}"#,
        ErrorKind::Locked,
    ),
    // 477 Migration in Progress: the account moves between data hosts.
    ex(
        477,
        JSON,
        r#"{"status":"error","message":"This portal is currently being migrated","category":"MIGRATION_IN_PROGRESS"}"#,
        ErrorKind::Unavailable,
    ),
    // ...but one that names an input is that input's.
    ex(
        400,
        JSON,
        r#"{"status":"error","message":"Input 3 has no idProperty","category":"VALIDATION_ERROR","context":{"idProperty":["x"],"id":["R-3"]}}"#,
        ErrorKind::Validation,
    ),
    // 401: the token is refused.
    ex(
        401,
        JSON,
        r#"{"status":"error","message":"Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview","correlationId":"5b1e9f2a-51c7-4c7e-9a4e-0f0e2d6f5a10","category":"INVALID_AUTHENTICATION"}"#,
        ErrorKind::Auth,
    ),
    ex(401, JSON, "[]", ErrorKind::Auth),
    // 403: a token without the tickets scope.
    ex(
        403,
        JSON,
        r#"{"status":"error","message":"This app hasn't been granted all required scopes to make this call.","correlationId":"7c4d1e0b-3a2f-4b8e-9d6c-2e1f0a9b8c7d","errors":[{"message":"One or more of the following scopes are required.","context":{"requiredGranularScopes":["tickets"]}}],"category":"MISSING_SCOPES"}"#,
        ErrorKind::Forbidden,
    ),
    // 404: a wrong base URL or path.
    ex(404, NONE, "", ErrorKind::NotFound),
    ex(
        404,
        HTML,
        "<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>",
        ErrorKind::NotFound,
    ),
    // 408: a proxy gave up waiting for the request.
    ex(408, NONE, "", ErrorKind::Timeout),
    ex(
        408,
        HTML,
        "<html><body><h1>408 Request Time-out</h1></body></html>",
        ErrorKind::Timeout,
    ),
    // 409: a unique value held by another ticket. A DAILY policy name is not
    // looked at outside a 429.
    ex(
        409,
        JSON,
        r#"{"status":"error","message":"A ticket with external_ticket_id ZD-1 already exists.","correlationId":"1a2b3c4d-0000-4000-8000-000000000409","category":"CONFLICT"}"#,
        ErrorKind::Conflict,
    ),
    ex(
        409,
        JSON,
        r#"{"status":"error","message":"conflict","policyName":"DAILY"}"#,
        ErrorKind::Conflict,
    ),
    // 429, the rolling windows: wait and retry.
    ex(
        429,
        ROLLING_HEADERS,
        r#"{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","correlationId":"c033cdaa-2c40-4a64-ae48-b4cec88dad24","policyName":"TEN_SECONDLY_ROLLING"}"#,
        ErrorKind::RateLimited,
    ),
    ex(
        429,
        JSON,
        r#"{"status":"error","message":"You have reached your secondly limit.","errorType":"RATE_LIMIT","policyName":"SECONDLY"}"#,
        ErrorKind::RateLimited,
    ),
    // 429 without a body, or with one that says nothing about the policy: the rolling
    // window (only `policyName` names the daily limit, not the message's wording).
    ex(429, RETRY_AFTER, "", ErrorKind::RateLimited),
    ex(429, NONE, "", ErrorKind::RateLimited),
    ex(
        429,
        HTML,
        "<html><head><title>429 Too Many Requests</title></head><body>Too Many Requests</body></html>",
        ErrorKind::RateLimited,
    ),
    ex(
        429,
        JSON,
        r#"{"status":"error","message":"You have reached your daily limit."}"#,
        ErrorKind::RateLimited,
    ),
    ex(
        429,
        JSON,
        r#"{"status":"error","message":"x","policyName":null}"#,
        ErrorKind::RateLimited,
    ),
    // 429, the daily limit: stop, in any case of the policy name, whatever else the
    // body holds.
    ex(
        429,
        DAILY_HEADERS,
        r#"{"status":"error","message":"You have reached your daily limit.","errorType":"RATE_LIMIT","correlationId":"3f0c2d1e-9b8a-4c7d-8e6f-5a4b3c2d1e0f","policyName":"DAILY"}"#,
        ErrorKind::RateLimitedDaily,
    ),
    ex(
        429,
        JSON,
        r#"{"status":"error","message":"You have reached your daily limit.","policyName":"daily"}"#,
        ErrorKind::RateLimitedDaily,
    ),
    ex(
        429,
        JSON,
        r#"{"policyName":"Daily"}"#,
        ErrorKind::RateLimitedDaily,
    ),
    ex(
        429,
        NONE,
        r#"{"status":"error","message":5,"policyName":"DAILY","correlationId":"not-a-uuid","context":{"id":"ZD-1"}}"#,
        ErrorKind::RateLimitedDaily,
    ),
    // 5xx: HubSpot or a proxy failed; retried.
    ex(
        500,
        JSON,
        r#"{"status":"error","message":"internal error","correlationId":"9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a"}"#,
        ErrorKind::Server,
    ),
    ex(500, JSON, "null", ErrorKind::Server),
    ex(
        502,
        HTML,
        "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center></body></html>",
        ErrorKind::Server,
    ),
    ex(503, RETRY_AFTER, "", ErrorKind::Server),
    ex(
        503,
        JSON,
        r#"{"status":"error","message":"Service unavailable","policyName":"DAILY"}"#,
        ErrorKind::Server,
    ),
    ex(
        504,
        HTML,
        "<html><body><h1>504 Gateway Time-out</h1></body></html>",
        ErrorKind::Server,
    ),
    ex(599, NONE, "", ErrorKind::Server),
    // A redirect (an http-to-https hop, a proxy's login page): never followed, so the
    // token stays; the base URL is the run's configuration to fix.
    ex(
        301,
        &[("location", "https://login.example.com/sso?next=/crm")],
        "Moved Permanently",
        ErrorKind::Configuration,
    ),
    ex(307, NONE, "", ErrorKind::Configuration),
    // Any other 4xx: refused, not retried.
    ex(
        413,
        HTML,
        "<html><head><title>413 Request Entity Too Large</title></head><body></body></html>",
        ErrorKind::ClientError,
    ),
    ex(418, TEXT, "I'm a teapot", ErrorKind::ClientError),
    ex(
        422,
        JSON,
        r#"{"status":"error","message":"Unprocessable Entity","category":"VALIDATION_ERROR"}"#,
        ErrorKind::ClientError,
    ),
];

/// The kind every answer with `status` gets whatever its body and headers, by the
/// examples: `None` for a 429 (its body decides) and for statuses with no example.
fn kind_of_status(status: u16) -> Option<ErrorKind> {
    if status == 429 || status == 400 {
        return None;
    }
    EXAMPLES.iter().find(|e| e.status == status).map(|e| e.kind)
}

/// What any non-2xx answer's kind must be: its status's kind from the examples, one of
/// the two 429 kinds for a 429, the redirects' kind for a 3xx, and for any other status a refusal or a server failure
/// (never a kind the facade gives its own failures: decode, transport, input...).
fn check_answer_kind(status: u16, kind: ErrorKind) -> Result<(), TestCaseError> {
    if status == 429 {
        prop_assert!(
            matches!(kind, ErrorKind::RateLimited | ErrorKind::RateLimitedDaily),
            "429 classified {kind:?}"
        );
    } else if status == 400 {
        // The body tells a refused input from a refused idProperty.
        prop_assert!(
            matches!(kind, ErrorKind::Validation | ErrorKind::Configuration),
            "400 classified {kind:?}"
        );
    } else if let Some(expected) = kind_of_status(status) {
        prop_assert_eq!(kind, expected, "status {}", status);
    } else if (300..400).contains(&status) {
        // Every redirect is refused alike (the examples give two).
        prop_assert_eq!(kind, ErrorKind::Configuration, "status {}", status);
    } else {
        prop_assert!(
            matches!(kind, ErrorKind::ClientError | ErrorKind::Server),
            "status {status} classified {kind:?}"
        );
    }
    Ok(())
}

impl Example {
    fn headers(&self) -> Vec<(&'static str, Vec<u8>)> {
        self.headers
            .iter()
            .map(|(k, v)| (*k, v.as_bytes().to_vec()))
            .collect()
    }

    /// The fake server's answer.
    fn reply(&self) -> Reply {
        Reply::Status {
            status: self.status,
            body: self.body.as_bytes().to_vec(),
            headers: self.headers(),
        }
    }
}

/// Every example gets its kind, through the public function and inside the facade;
/// examples of one status agree unless it is 429 or 400 (whose bodies decide).
#[test]
fn every_example_answer_gets_its_kind() {
    let token = AccessToken::new(TOKEN);
    for e in EXAMPLES {
        let code = StatusCode::from_u16(e.status).unwrap();
        let h = header_map(&e.headers());
        let public = classify_response(code, &h, e.body.as_bytes()).unwrap_err();
        assert_eq!(public.kind(), e.kind, "{e:?}");
        assert_eq!(public.status(), Some(e.status), "{e:?}");
        let inner = classify_error(code, &h, e.body.as_bytes(), Some(&token));
        assert_eq!(inner.kind(), e.kind, "{e:?}");
        if e.status != 429 && e.status != 400 {
            assert_eq!(kind_of_status(e.status), Some(e.kind), "{e:?}");
        }
    }
}

/// Display and Debug of anything classified stay short: a 2 MB body gives a message
/// of at most [`MAX_MESSAGE_CHARS`] characters plus the sentence around it.
const MAX_SHOWN_BYTES: usize = 4 * (MAX_MESSAGE_CHARS + 1_000);

fn check_error_shape(e: &Error, token_shown: bool) -> Result<(), TestCaseError> {
    let shown = e.to_string();
    let debug = format!("{e:?}");
    prop_assert!(!shown.is_empty());
    prop_assert!(shown.len() <= MAX_SHOWN_BYTES, "{} bytes", shown.len());
    prop_assert!(debug.len() <= MAX_SHOWN_BYTES, "{} bytes", debug.len());
    if !token_shown {
        prop_assert!(!shown.contains(TOKEN), "{shown}");
        prop_assert!(!debug.contains(TOKEN), "{debug}");
    }
    if let Some(ra) = e.retry_after() {
        // Read up to a week (a 477 may ask for a day); waits are capped where used.
        prop_assert!(ra <= Duration::from_secs(7 * 86_400));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(512), ..ProptestConfig::default() })]

    /// Any status, headers and body: a classified answer, never a panic.
    #[test]
    fn any_answer_is_classified(
        status in arb_status(),
        headers in arb_headers(),
        body in arb_body(),
    ) {
        let code = StatusCode::from_u16(status).unwrap();
        let h = header_map(&headers);
        match classify_response(code, &h, &body) {
            Ok(result) => {
                prop_assert!(code.is_success());
                // What decoded is what serde decodes: nothing invented.
                let direct: TicketUpsertBatchResult = serde_json::from_slice(&body).unwrap();
                prop_assert_eq!(result.results.len(), direct.results.len());
                prop_assert_eq!(result.errors.len(), direct.errors.len());
            }
            Err(e) => {
                prop_assert_eq!(e.status(), Some(status));
                if code.is_success() {
                    prop_assert_eq!(e.kind(), ErrorKind::Decode);
                } else {
                    check_answer_kind(status, e.kind())?;
                    // The kind follows the status and body, never the headers.
                    let bare = classify_response(code, &HeaderMap::new(), &body).unwrap_err();
                    prop_assert_eq!(bare.kind(), e.kind());
                }
                // The public function has no token to scrub: it may quote one back.
                check_error_shape(&e, true)?;
            }
        }
        // Inside the facade, with the token: the same kind, and the token never shows.
        if !code.is_success() {
            let token = AccessToken::new(TOKEN);
            let e = classify_error(code, &h, &body, Some(&token));
            let public = classify_response(code, &h, &body).unwrap_err();
            prop_assert_eq!(e.kind(), public.kind());
            check_error_shape(&e, false)?;
            let f = e.to_failure();
            let shown = format!("{f} {f:?}");
            prop_assert!(!shown.contains(TOKEN), "{}", shown);
        }
    }

    /// A 429 whose body says `policyName: "DAILY"` is the daily limit, whatever the
    /// other fields hold (wrong types, nulls, unknown keys): a retry would be pointless.
    #[test]
    fn daily_429_is_recognised_whatever_else_the_body_holds(
        fields in prop::collection::vec((arb_key(), arb_json()), 0..8),
        headers in arb_headers(),
    ) {
        let mut obj: serde_json::Map<String, Value> = fields.into_iter().collect();
        obj.insert("policyName".into(), json!("DAILY"));
        let body = serde_json::to_vec(&Value::Object(obj)).unwrap();
        let e = classify_response(StatusCode::TOO_MANY_REQUESTS, &header_map(&headers), &body)
            .unwrap_err();
        prop_assert_eq!(e.kind(), ErrorKind::RateLimitedDaily);
        prop_assert_eq!(e.policy_name(), Some("DAILY"));
    }

    /// An example answer gets its kind whatever other headers come with it.
    #[test]
    fn example_answers_get_their_kind_whatever_the_other_headers(
        example in prop::sample::select(EXAMPLES),
        extra in arb_headers(),
    ) {
        let code = StatusCode::from_u16(example.status).unwrap();
        let mut headers = extra;
        headers.extend(example.headers());
        let h = header_map(&headers);
        let e = classify_response(code, &h, example.body.as_bytes()).unwrap_err();
        prop_assert_eq!(e.kind(), example.kind, "{:?}", example);
        let token = AccessToken::new(TOKEN);
        let inner = classify_error(code, &h, example.body.as_bytes(), Some(&token));
        prop_assert_eq!(inner.kind(), example.kind, "{:?}", example);
    }

    /// Well-formed results decode whatever unknown fields and `null` values they carry,
    /// with any 2xx status.
    #[test]
    fn well_formed_results_always_decode(
        k in 0..5_usize,
        e in 0..4_usize,
        status in prop::sample::select(vec![200_u16, 201, 202, 207, 299]),
        extra in prop::collection::vec(("[a-z]{3,12}", arb_json()), 0..4),
    ) {
        let mut body = valid_result(k, e);
        for (key, v) in extra {
            if !KEYS.contains(&key.as_str()) {
                body[key] = v;
            }
        }
        let bytes = serde_json::to_vec(&body).unwrap();
        let r = classify_response(StatusCode::from_u16(status).unwrap(), &HeaderMap::new(), &bytes);
        let r = r.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(r.results.len(), k);
        prop_assert_eq!(r.errors.len(), e);
    }
}

// ---------------------------------------------------------------------------------
// The whole engine against a scripted server.

/// What the fake server does with one request.
#[derive(Clone, Debug)]
enum Reply {
    /// Writes the inputs not refused and answers with their results (and a 207's
    /// errors for the refused), with the answer mangled as asked.
    Echo {
        status: u16,
        refuse: u64,
        drop_entries: u64,
        strip_traces: bool,
        reverse: bool,
        duplicate_first: bool,
        unknown_extra: bool,
    },
    /// Writes everything, then answers a 2xx with this body (cut short, HTML...).
    WrittenThenGarbage { status: u16, body: Vec<u8> },
    /// Answers this non-2xx status without writing (429s, 5xx, 4xx...).
    Status {
        status: u16,
        body: Vec<u8>,
        headers: Vec<(&'static str, Vec<u8>)>,
    },
    /// A whole-batch 400/409 naming some of the batch's ids (or none, or others).
    WholeBatch {
        status: u16,
        name: u64,
        strangers: bool,
    },
    /// The connection breaks, after writing or not.
    Broken { written: bool },
    /// No answer before the attempt timeout, after writing or not.
    Stall { written: bool },
}

fn arb_reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        6 => (
            prop::sample::select(vec![200_u16, 207, 201]),
            prop_oneof![3 => Just(0_u64), 1 => any::<u64>()],
            prop_oneof![4 => Just(0_u64), 1 => any::<u64>()],
            any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>(),
        ).prop_map(|(status, refuse, drop_entries, strip_traces, reverse, duplicate_first, unknown_extra)| {
            Reply::Echo { status, refuse, drop_entries, strip_traces, reverse, duplicate_first, unknown_extra }
        }),
        1 => (prop::sample::select(vec![200_u16, 207]), arb_body())
            .prop_map(|(status, body)| Reply::WrittenThenGarbage { status, body }),
        3 => (
            prop::sample::select(vec![
                301_u16, 400, 401, 403, 404, 408, 409, 413, 429, 429, 429, 500, 502, 503, 504, 599,
            ]),
            prop_oneof![
                2 => arb_body(),
                1 => Just(br#"{"status":"error","message":"You have reached your daily limit.","errorType":"RATE_LIMIT","policyName":"DAILY"}"#.to_vec()),
                1 => Just(br#"{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","policyName":"TEN_SECONDLY_ROLLING"}"#.to_vec()),
            ],
            arb_headers(),
        ).prop_map(|(status, body, headers)| Reply::Status { status, body, headers }),
        1 => (prop::sample::select(vec![400_u16, 409]), any::<u64>(), any::<bool>())
            .prop_map(|(status, name, strangers)| Reply::WholeBatch { status, name, strangers }),
        1 => any::<bool>().prop_map(|written| Reply::Broken { written }),
        1 => any::<bool>().prop_map(|written| Reply::Stall { written }),
    ]
}

fn bit(mask: u64, i: usize) -> bool {
    mask & (1 << (i % 64)) != 0
}

#[derive(Default)]
struct Server {
    /// Record id by ticket id.
    store: HashMap<String, u64>,
    /// Trace ids of the inputs written (every input carries a distinct one).
    written: HashSet<String>,
    /// Ids in flight right now, to catch two writes of one ticket at once.
    in_flight: HashSet<String>,
    violations: Vec<String>,
    requests: u32,
}

impl Server {
    fn write(
        &mut self,
        batch: &TicketUpsertBatch,
        skip: &dyn Fn(usize) -> bool,
    ) -> Vec<(usize, u64, bool)> {
        let mut out = Vec::new();
        for (i, input) in batch.inputs.iter().enumerate() {
            if skip(i) {
                continue;
            }
            let next = 10_000 + self.store.len() as u64;
            let (object_id, new) = match self.store.get(&input.id) {
                Some(o) => (*o, false),
                None => {
                    self.store.insert(input.id.clone(), next);
                    (next, true)
                }
            };
            if let Some(t) = &input.object_write_trace_id {
                self.written.insert(t.clone());
            }
            out.push((i, object_id, new));
        }
        out
    }
}

fn raw_answer(status: u16, headers: &HeaderMap, body: Vec<u8>) -> RawResponse {
    RawResponse {
        status: StatusCode::from_u16(status).unwrap(),
        headers: headers.clone(),
        body: Bytes::from(body),
    }
}

fn echo_body(
    batch: &TicketUpsertBatch,
    written: &[(usize, u64, bool)],
    refuse: &dyn Fn(usize) -> bool,
    reply: &Reply,
) -> Vec<u8> {
    let Reply::Echo {
        drop_entries,
        strip_traces,
        reverse,
        duplicate_first,
        unknown_extra,
        ..
    } = reply
    else {
        unreachable!()
    };
    let mut results: Vec<Value> = written
        .iter()
        .filter(|(i, _, _)| !bit(*drop_entries, *i))
        .map(|(i, object_id, new)| {
            let input = &batch.inputs[*i];
            let trace = if *strip_traces {
                Value::Null
            } else {
                json!(input.object_write_trace_id)
            };
            json!({
                "id": object_id.to_string(), "new": new, "archived": false,
                "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z",
                "objectWriteTraceId": trace,
                "properties": {"external_ticket_id": input.id, "subject": null},
            })
        })
        .collect();
    let mut errors: Vec<Value> = batch
        .inputs
        .iter()
        .enumerate()
        .filter(|(i, _)| refuse(*i) && !bit(*drop_entries, *i))
        .map(|(_, input)| {
            json!({
                "status": "error", "category": "VALIDATION_ERROR",
                "message": format!("Property values were not valid for {}", input.id),
                "context": {"objectWriteTraceId": [input.object_write_trace_id], "id": [input.id]},
            })
        })
        .collect();
    if *duplicate_first && let Some(first) = results.first().cloned() {
        results.push(first);
    }
    if *unknown_extra {
        results.push(json!({
            "id": "99", "new": true, "archived": false,
            "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z",
            "objectWriteTraceId": "nobody-sent-this", "properties": {"external_ticket_id": "NOBODY"},
        }));
        errors.push(json!({"status": "error", "message": "an error about nobody"}));
    }
    if *reverse {
        results.reverse();
        errors.reverse();
    }
    let mut body = json!({
        "status": "COMPLETE", "results": results, "requestedAt": null,
        "startedAt": "2026-01-01T00:00:00.000Z", "completedAt": "2026-01-01T00:00:00.100Z",
    });
    if !errors.is_empty() {
        body["numErrors"] = json!(errors.len());
        body["errors"] = json!(errors);
    }
    serde_json::to_vec(&body).unwrap()
}

const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

async fn reply_to(
    server: Arc<Mutex<Server>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    body: Bytes,
) -> Result<RawResponse, Error> {
    let batch: TicketUpsertBatch = serde_json::from_slice(&body).unwrap();
    let reply = script.lock().unwrap().pop_front().unwrap_or(Reply::Echo {
        status: 200,
        refuse: 0,
        drop_entries: 0,
        strip_traces: false,
        reverse: false,
        duplicate_first: false,
        unknown_extra: false,
    });
    {
        let mut s = server.lock().unwrap();
        s.requests += 1;
        let mut ids = HashSet::new();
        for input in &batch.inputs {
            if !ids.insert(input.id.clone()) {
                s.violations
                    .push(format!("a batch holds {} twice", input.id));
            }
            if !s.in_flight.insert(input.id.clone()) {
                s.violations
                    .push(format!("two writes of {} in flight", input.id));
            }
            if input.id.trim().is_empty() {
                s.violations.push("an invalid input was sent".into());
            }
        }
        if batch.inputs.len() > 100 || batch.inputs.is_empty() {
            s.violations
                .push(format!("a batch of {}", batch.inputs.len()));
        }
    }
    let done = |server: &Arc<Mutex<Server>>| {
        let mut s = server.lock().unwrap();
        for input in &batch.inputs {
            s.in_flight.remove(&input.id);
        }
    };
    let mut json = HeaderMap::new();
    json.insert("content-type", HeaderValue::from_static("application/json"));
    let answer = match &reply {
        Reply::Echo { status, refuse, .. } => {
            let refuse_fn = |i: usize| bit(*refuse, i);
            let written = server.lock().unwrap().write(&batch, &refuse_fn);
            let status = if *refuse != 0 && *status == 200 {
                207
            } else {
                *status
            };
            Ok(raw_answer(
                status,
                &json,
                echo_body(&batch, &written, &refuse_fn, &reply),
            ))
        }
        Reply::WrittenThenGarbage { status, body } => {
            server.lock().unwrap().write(&batch, &|_| false);
            Ok(raw_answer(*status, &json, body.clone()))
        }
        Reply::Status {
            status,
            body,
            headers,
        } => Ok(raw_answer(*status, &header_map(headers), body.clone())),
        Reply::WholeBatch {
            status,
            name,
            strangers,
        } => {
            let mut ids: Vec<String> = batch
                .inputs
                .iter()
                .enumerate()
                .filter(|(i, _)| bit(*name, *i))
                .map(|(_, input)| input.id.clone())
                .collect();
            if *strangers {
                ids.push("SOMEONE-ELSE".into());
            }
            let body = json!({"status": "error", "category": "VALIDATION_ERROR",
                              "message": "Property values were not valid", "context": {"ids": ids}});
            Ok(raw_answer(
                *status,
                &json,
                serde_json::to_vec(&body).unwrap(),
            ))
        }
        Reply::Broken { written } => {
            if *written {
                server.lock().unwrap().write(&batch, &|_| false);
            }
            Err(Error::new(
                ErrorKind::Transport,
                "connection closed before the answer",
            ))
        }
        Reply::Stall { written } => {
            if *written {
                server.lock().unwrap().write(&batch, &|_| false);
            }
            done(&server);
            tokio::time::sleep(ATTEMPT_TIMEOUT * 10).await;
            return Err(Error::new(ErrorKind::Transport, "unreachable"));
        }
    };
    done(&server);
    answer
}

/// One input of a generated run.
#[derive(Clone, Debug)]
enum In {
    Good(u16),
    EmptyId,
    NotANumber(u16),
}

fn arb_inputs(max: usize) -> impl Strategy<Value = Vec<In>> {
    prop::collection::vec(
        prop_oneof![
            12 => (0_u16..400).prop_map(In::Good),
            1 => Just(In::EmptyId),
            1 => (0_u16..400).prop_map(In::NotANumber),
        ],
        1..max,
    )
}

fn to_input(pos: usize, i: &In) -> RecordInput {
    let trace = format!("p{pos}");
    match i {
        In::Good(id) => RecordInput::new(format!("ZD-{id}"))
            .property("subject", format!("s{pos}"))
            .with_trace_id(trace),
        In::EmptyId => RecordInput::new(" ").with_trace_id(trace),
        In::NotANumber(id) => RecordInput::new(format!("ZD-{id}"))
            .property("score", f64::NAN)
            .with_trace_id(trace),
    }
}

struct Run {
    client: Client,
    server: Arc<Mutex<Server>>,
}

fn setup(script: Vec<Reply>, concurrency: usize, attempts: u32, waits: u32, deadline: bool) -> Run {
    let server = Arc::new(Mutex::new(Server::default()));
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    let (s2, sc2) = (Arc::clone(&server), Arc::clone(&script));
    let transport = Transport::Mock(Arc::new(move |body: Bytes| {
        Box::pin(reply_to(Arc::clone(&s2), Arc::clone(&sc2), body))
    }));
    let mut b = Client::builder()
        .access_token(TOKEN)
        .id_property("external_ticket_id")
        .rate_limit(RateLimit::disabled())
        .retry(
            RetryPolicy::default()
                .initial_backoff(Duration::from_millis(100))
                .max_backoff(Duration::from_secs(2))
                .max_attempts(attempts)
                .rate_limit_waits(waits),
        )
        .attempt_timeout(ATTEMPT_TIMEOUT)
        .max_concurrency(concurrency);
    if deadline {
        b = b.deadline(Duration::from_secs(30));
    }
    Run {
        client: b.build_with_transport(transport).unwrap(),
        server,
    }
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

/// Requests one job of up to 100 inputs may make: each of up to `1 + bisect budget`
/// sub-batches is tried at most `attempts` times plus `waits` rate-limit waits.
fn job_budget(attempts: u32, waits: u32) -> u32 {
    (1 + 32) * (attempts + waits)
}

fn check_outcome(
    server: &Server,
    pos: usize,
    input: &In,
    o: &crate::RecordOutcome,
) -> Result<(), TestCaseError> {
    let trace = format!("p{pos}");
    let expected_id = match input {
        In::Good(id) | In::NotANumber(id) => format!("ZD-{id}"),
        In::EmptyId => " ".to_owned(),
    };
    prop_assert_eq!(&o.id, &expected_id);
    match (&o.outcome, input) {
        (Outcome::Created { object_id } | Outcome::Updated { object_id }, In::Good(_)) => {
            prop_assert!(
                server.written.contains(&trace),
                "position {pos} reported written but the server never wrote it"
            );
            let stored = server.store.get(&o.id).map(u64::to_string);
            prop_assert_eq!(Some(object_id), stored.as_ref());
        }
        (Outcome::Failed { reason }, In::EmptyId | In::NotANumber(_)) => {
            prop_assert_eq!(reason.kind, ErrorKind::InvalidInput);
        }
        // Read after the run stopped (daily limit, auth...): not checked, not sent.
        (Outcome::NotAttempted { reason }, In::EmptyId | In::NotANumber(_)) => {
            prop_assert!(reason.kind != ErrorKind::InvalidInput);
        }
        (Outcome::Failed { reason }, In::Good(_)) => {
            prop_assert!(!reason.message.trim().is_empty());
            prop_assert!(reason.kind != ErrorKind::InvalidInput);
        }
        (Outcome::NotAttempted { reason }, In::Good(_)) => {
            prop_assert!(!reason.message.trim().is_empty());
            prop_assert!(
                !server.written.contains(&trace),
                "position {pos} is NotAttempted but the server wrote it"
            );
        }
        (other, input) => prop_assert!(false, "{input:?} ended as {other:?}"),
    }
    let shown = format!(
        "{o:?} {}",
        o.outcome
            .failure()
            .map(ToString::to_string)
            .unwrap_or_default()
    );
    prop_assert!(!shown.contains(TOKEN), "{shown}");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(160), ..ProptestConfig::default() })]

    /// A bulk run against any sequence of answers: every input exactly once, in a
    /// truthful state, within the request budget, never a panic or a hang.
    #[test]
    fn bulk_run_accounts_for_every_input_whatever_the_answers(
        inputs in arb_inputs(260),
        script in prop::collection::vec(arb_reply(), 0..24),
        concurrency in 1_usize..4,
        attempts in 1_u32..5,
        waits in 0_u32..3,
        deadline in any::<bool>(),
        drop_after in prop::option::weighted(0.15, 0_usize..200),
    ) {
        let run = setup(script, concurrency, attempts, waits, deadline);
        let n = inputs.len();
        let records: Vec<RecordInput> = inputs.iter().enumerate().map(|(p, i)| to_input(p, i)).collect();
        let rt = paused_runtime();
        let collected = rt.block_on(async {
            let mut stream = run.client.bulk_upsert_iter(records).outcomes();
            let mut seen = Vec::new();
            let finished = tokio::time::timeout(Duration::from_secs(7 * 24 * 3600), async {
                while let Some(o) = stream.next().await {
                    seen.push(o);
                    if drop_after.is_some_and(|d| seen.len() > d) {
                        return None; // the caller drops the stream mid-run
                    }
                }
                Some(stream.summary())
            })
            .await;
            (seen, finished)
        });
        let (seen, finished) = collected;
        let Ok(summary) = finished else {
            return Err(TestCaseError::fail("the bulk run did not finish (hang)"));
        };
        let server = run.server.lock().unwrap();
        prop_assert!(server.violations.is_empty(), "{:?}", server.violations);
        let mut positions = HashSet::new();
        for o in &seen {
            let pos = usize::try_from(o.position).unwrap();
            prop_assert!(pos < n);
            prop_assert!(positions.insert(pos), "position {pos} reported twice");
            check_outcome(&server, pos, &inputs[pos], o)?;
        }
        let jobs = u32::try_from(n).unwrap();
        prop_assert!(server.requests <= jobs * job_budget(attempts, waits), "{} requests", server.requests);
        if let Some(summary) = summary {
            // Every input read exactly once; all of them unless the run stopped.
            let read = summary.read;
            prop_assert_eq!(seen.len() as u64, read, "every input read exactly once");
            prop_assert!(positions.iter().all(|p| (*p as u64) < read));
            if summary.stopped.is_none() {
                prop_assert_eq!(read, n as u64);
            }
            prop_assert_eq!(
                summary.created + summary.updated + summary.failed + summary.not_attempted,
                read
            );
            prop_assert_eq!(summary.requests, u64::from(server.requests));
        }
    }

    /// One batch against any sequence of answers: an outcome per input, or a
    /// classified error; never a panic or a hang.
    #[test]
    fn one_batch_is_answered_or_classified_whatever_the_answers(
        n in 1_usize..=100,
        script in prop::collection::vec(arb_reply(), 0..12),
        attempts in 1_u32..5,
        waits in 0_u32..3,
    ) {
        let run = setup(script, 1, attempts, waits, false);
        let inputs: Vec<In> = (0..n).map(|i| In::Good(u16::try_from(i).unwrap())).collect();
        let records: Vec<RecordInput> = inputs.iter().enumerate().map(|(p, i)| to_input(p, i)).collect();
        let rt = paused_runtime();
        let result = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(7 * 24 * 3600), run.client.upsert_batch(records)).await
        });
        let Ok(result) = result else {
            return Err(TestCaseError::fail("upsert_batch did not finish (hang)"));
        };
        let server = run.server.lock().unwrap();
        prop_assert!(server.violations.is_empty(), "{:?}", server.violations);
        prop_assert!(server.requests <= job_budget(attempts, waits));
        match result {
            Ok(out) => {
                prop_assert_eq!(out.records.len(), n);
                prop_assert_eq!(out.requests, server.requests);
                for (pos, o) in out.records.iter().enumerate() {
                    prop_assert_eq!(o.position, pos as u64);
                    check_outcome(&server, pos, &inputs[pos], o)?;
                }
            }
            Err(e) => {
                prop_assert!(e.kind() != ErrorKind::InvalidInput);
                check_error_shape(&e, false)?;
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// The example answers through the whole engine.

/// A client whose fake server gives `example` to every request (enough of them for
/// every retry, wait and split `jobs` jobs may make).
fn answered_always(
    example: &Example,
    jobs: usize,
    concurrency: usize,
    attempts: u32,
    waits: u32,
) -> Run {
    let requests = jobs * job_budget(attempts, waits) as usize;
    setup(
        vec![example.reply(); requests],
        concurrency,
        attempts,
        waits,
        false,
    )
}

impl Example {
    /// The kind a run ends with when every request gets this answer and its first
    /// batch holds `first_batch` inputs: a whole-batch refusal (400/409) that every
    /// part of a batch gets is the configuration's (two inputs, each alone, refused
    /// alike, see `engine::batch`), once a batch holds 20 inputs or more.
    fn kind_when_always(&self, first_batch: usize) -> ErrorKind {
        match self.kind {
            ErrorKind::Validation | ErrorKind::Conflict if first_batch >= 20 => {
                ErrorKind::Configuration
            }
            kind => kind,
        }
    }
}

/// Checks one outcome of a run whose every answer was `example`: accounted as
/// [`check_outcome`] says, never written, and ended with `expected`.
fn check_example_outcome(
    server: &Server,
    example: &Example,
    expected: ErrorKind,
    pos: usize,
    o: &crate::RecordOutcome,
) -> Result<(), TestCaseError> {
    let input = In::Good(u16::try_from(pos).unwrap());
    check_outcome(server, pos, &input, o)?;
    match &o.outcome {
        Outcome::Failed { reason } | Outcome::NotAttempted { reason } => {
            prop_assert_eq!(reason.kind, expected, "position {}: {:?}", pos, example);
        }
        other => prop_assert!(false, "position {pos} ended as {other:?} after {example:?}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(160), ..ProptestConfig::default() })]

    /// A bulk run whose every request gets one example answer: every input exactly
    /// once, nothing written, and every record failed or not attempted with the
    /// example's kind (after the retries, waits and splits it calls for).
    #[test]
    fn a_bulk_run_always_given_one_answer_ends_with_its_kind(
        example in prop::sample::select(EXAMPLES),
        n in 1_usize..=250,
        concurrency in 1_usize..4,
        attempts in 1_u32..5,
        waits in 0_u32..3,
    ) {
        let jobs = n.div_ceil(100);
        let run = answered_always(&example, jobs, concurrency, attempts, waits);
        let records: Vec<RecordInput> = (0..n)
            .map(|p| to_input(p, &In::Good(u16::try_from(p).unwrap())))
            .collect();
        let report = paused_runtime().block_on(async {
            tokio::time::timeout(
                Duration::from_secs(7 * 24 * 3600),
                run.client.bulk_upsert_iter(records).report(),
            )
            .await
        });
        let Ok(report) = report else {
            return Err(TestCaseError::fail("the bulk run did not finish (hang)"));
        };
        let server = run.server.lock().unwrap();
        prop_assert!(server.violations.is_empty(), "{:?}", server.violations);
        prop_assert!(server.written.is_empty());
        let s = &report.summary;
        // Every input read exactly once; all of them unless the answer stops the run.
        prop_assert_eq!(report.outcomes.len() as u64, s.read, "every input read exactly once");
        prop_assert!(s.read <= n as u64);
        if s.stopped.is_none() {
            prop_assert_eq!(s.read, n as u64);
        }
        let mut positions = HashSet::new();
        for o in &report.outcomes {
            let pos = usize::try_from(o.position).unwrap();
            prop_assert!(pos < n);
            prop_assert!(positions.insert(pos), "position {pos} reported twice");
            check_example_outcome(&server, &example, example.kind_when_always(n.min(100)), pos, o)?;
        }
        prop_assert_eq!(s.created + s.updated, 0);
        prop_assert_eq!(s.failed + s.not_attempted, s.read);
        prop_assert_eq!(s.requests, u64::from(server.requests));
        let jobs = u32::try_from(jobs).unwrap();
        prop_assert!(server.requests <= jobs * job_budget(attempts, waits), "{} requests", server.requests);
    }

    /// One batch whose every request gets one example answer: the call's error, or
    /// every record's reason, has the example's kind.
    #[test]
    fn one_batch_always_given_one_answer_ends_with_its_kind(
        example in prop::sample::select(EXAMPLES),
        n in 1_usize..=100,
        attempts in 1_u32..5,
        waits in 0_u32..3,
    ) {
        let run = answered_always(&example, 1, 1, attempts, waits);
        let records: Vec<RecordInput> = (0..n)
            .map(|p| to_input(p, &In::Good(u16::try_from(p).unwrap())))
            .collect();
        let result = paused_runtime().block_on(async {
            tokio::time::timeout(Duration::from_secs(7 * 24 * 3600), run.client.upsert_batch(records)).await
        });
        let Ok(result) = result else {
            return Err(TestCaseError::fail("upsert_batch did not finish (hang)"));
        };
        let server = run.server.lock().unwrap();
        prop_assert!(server.violations.is_empty(), "{:?}", server.violations);
        prop_assert!(server.written.is_empty());
        prop_assert!(server.requests <= job_budget(attempts, waits));
        match result {
            Ok(out) => {
                prop_assert_eq!(out.records.len(), n);
                for (pos, o) in out.records.iter().enumerate() {
                    prop_assert_eq!(o.position, pos as u64);
                    check_example_outcome(&server, &example, example.kind_when_always(n), pos, o)?;
                }
            }
            Err(e) => {
                prop_assert_eq!(e.kind(), example.kind_when_always(n), "{:?}", example);
                check_error_shape(&e, false)?;
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Regressions the properties found, pinned as plain tests.

/// A DAILY 429 whose body has a non-UUID correlation id and a non-string message was
/// read as a rolling-window 429 (the typed decode failed as a whole) and retried.
#[test]
fn daily_429_with_odd_fields_is_still_daily() {
    let body = br#"{"status":"error","message":5,"policyName":"DAILY","correlationId":"not-a-uuid","context":{"id":"ZD-1"}}"#;
    let e = classify_response(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), body).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimitedDaily);
    assert_eq!(e.correlation_id(), Some("not-a-uuid"));
}

/// A batch whose first attempt may have been written (connection lost after the write)
/// and whose retry met the daily limit was reported `NotAttempted` ("not written").
#[test]
fn daily_limit_after_a_lost_answer_is_failed_not_not_attempted() {
    let daily = br#"{"status":"error","message":"You have reached your daily limit.","errorType":"RATE_LIMIT","policyName":"DAILY"}"#;
    let run = setup(
        vec![
            Reply::Broken { written: true },
            Reply::Status {
                status: 429,
                body: daily.to_vec(),
                headers: Vec::new(),
            },
        ],
        1,
        3,
        0,
        false,
    );
    let records: Vec<RecordInput> = (0..150).map(|p| to_input(p, &In::Good(p as u16))).collect();
    let report = paused_runtime().block_on(run.client.bulk_upsert_iter(records).report());
    let s = &report.summary;
    assert_eq!(
        (s.failed, s.not_attempted, s.created),
        (100, 50, 0),
        "{s:?}"
    );
    for o in &report.outcomes[..100] {
        let Outcome::Failed { reason } = &o.outcome else {
            panic!("{o:?}")
        };
        assert_eq!(reason.kind, ErrorKind::RateLimitedDaily);
    }
    assert_eq!(
        run.server.lock().unwrap().requests,
        2,
        "no request after DAILY"
    );
}

// ---------------------------------------------------------------------------------
// Deadlines on the paused clock: exact, never slept for real.

/// Upserts one good record on a paused clock: the result and the (virtual) time taken.
fn one_record_timed(
    run: &Run,
) -> (
    Result<crate::outcomes::BatchOutcome, crate::Error>,
    Duration,
) {
    paused_runtime().block_on(async {
        let t0 = tokio::time::Instant::now();
        let r = run.client.upsert_batch([to_input(0, &In::Good(1))]).await;
        (r, t0.elapsed())
    })
}

/// A stalled server and a generous retry budget: the 30 s deadline ends the call at
/// 30 s, cutting the attempt in flight, never later.
#[test]
fn a_stalled_server_is_cut_off_exactly_at_the_deadline() {
    let script = vec![Reply::Stall { written: false }; 100];
    let run = setup(script, 1, 100, 0, true);
    let (result, took) = one_record_timed(&run);
    let e = result.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(took <= Duration::from_millis(30_005), "{took:?}");
    assert!(took >= Duration::from_secs(25), "{took:?}");
}

/// A `Retry-After` longer than what is left of the deadline is not waited for (here a
/// one-minute window, so the wait is not cut to a shorter window).
#[test]
fn a_retry_after_past_the_deadline_is_not_waited_for() {
    let script = vec![Reply::Status {
        status: 429,
        body: br#"{"status":"error","message":"You have reached your ten_secondly_rolling limit.","policyName":"TEN_SECONDLY_ROLLING"}"#.to_vec(),
        headers: vec![
            ("retry-after", b"3600".to_vec()),
            ("x-hubspot-ratelimit-interval-milliseconds", b"60000".to_vec()),
        ],
    }];
    let run = setup(script, 1, 5, 10, true);
    let (result, took) = one_record_timed(&run);
    let e = result.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(3600)));
    assert!(took < Duration::from_millis(5), "{took:?}");
    assert_eq!(run.server.lock().unwrap().requests, 1);
}

/// Found by the bulk property: a batch whose first attempt may have been written was
/// refused as a whole (409), split, and the run then stopped (401) before one half was
/// sent again: that half was reported `NotAttempted` ("not written").
#[test]
fn halves_of_a_batch_that_may_have_been_written_are_not_not_attempted() {
    let script = vec![
        Reply::WrittenThenGarbage {
            status: 200,
            body: b"null".to_vec(),
        },
        Reply::Status {
            status: 409,
            body: b"null".to_vec(),
            headers: Vec::new(),
        },
        Reply::Status {
            status: 401,
            body: b"null".to_vec(),
            headers: Vec::new(),
        },
    ];
    let run = setup(script, 1, 2, 0, false);
    let records: Vec<RecordInput> = [36_u16, 69]
        .iter()
        .enumerate()
        .map(|(p, id)| to_input(p, &In::Good(*id)))
        .collect();
    let report = paused_runtime().block_on(run.client.bulk_upsert_iter(records).report());
    let kinds: Vec<_> = report
        .outcomes
        .iter()
        .map(|o| match &o.outcome {
            Outcome::Failed { reason } => reason.kind,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(kinds, [ErrorKind::Auth, ErrorKind::Auth]);
    assert_eq!(run.server.lock().unwrap().requests, 3);
}
