//! Fuzzes the decoding and classification of batch upsert answers: any status, a few
//! headers and any body go through `hubspot_tickets::error::classify_response` (the facade's
//! own judge of every answer) and the generated types' decoding. A panic, or a broken
//! invariant below, is a finding.
//!
//! Input layout: 2 bytes of status (100..=999), 1 byte of flags, then, when flag bit 0
//! is set, header values separated by 0xFE up to a 0xFF byte; the rest is the body.
#![no_main]

use std::time::Duration;

use hubspot_tickets::{ErrorKind, types};
use hubspot_tickets::error::classify_response;
use http::{HeaderMap, HeaderValue, StatusCode};
use libfuzzer_sys::fuzz_target;

const HEADERS: [&str; 5] = [
    "retry-after",
    "content-type",
    "x-hubspot-correlation-id",
    "x-hubspot-ratelimit-daily-remaining",
    "x-hubspot-ratelimit-interval-milliseconds",
];

fn check(status: StatusCode, headers: &HeaderMap, body: &[u8]) {
    match classify_response(status, headers, body) {
        Ok(result) => {
            assert!(status.is_success());
            let again: types::TicketUpsertBatchResult =
                serde_json::from_slice(body).expect("what classify decoded, serde decodes");
            assert_eq!(again.results.len(), result.results.len());
        }
        Err(e) => {
            assert_eq!(e.status(), Some(status.as_u16()));
            if status.is_success() {
                assert_eq!(e.kind(), ErrorKind::Decode);
            } else {
                assert_ne!(e.kind(), ErrorKind::Decode);
            }
            if let Some(wait) = e.retry_after() {
                assert!(wait <= Duration::from_secs(3600));
            }
            let shown = e.to_string();
            assert!(!shown.is_empty());
            assert!(shown.len() < 100_000, "{} bytes", shown.len());
            let _ = format!("{e:?}");
            let _ = e.to_failure().to_string();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [s0, s1, flags, rest @ ..] = data else {
        return;
    };
    let code = 100 + u16::from_le_bytes([*s0, *s1]) % 900;
    let Ok(status) = StatusCode::from_u16(code) else {
        return;
    };
    let (head, body) = match rest.iter().position(|b| *b == 0xFF) {
        Some(i) if flags & 1 == 1 => (&rest[..i], &rest[i + 1..]),
        _ => (&[][..], rest),
    };
    let mut headers = HeaderMap::new();
    for (name, value) in HEADERS.iter().zip(head.split(|b| *b == 0xFE)) {
        if let Ok(v) = HeaderValue::from_bytes(value) {
            headers.insert(*name, v);
        }
    }
    check(status, &headers, body);
    // The same body as the answers the facade meets most: a 200, a 207 and a 429.
    if flags & 2 == 2 {
        for s in [StatusCode::OK, StatusCode::MULTI_STATUS, StatusCode::TOO_MANY_REQUESTS] {
            check(s, &headers, body);
        }
    }
    // The generated error type never panics either (the facade reads errors leniently).
    let _ = serde_json::from_slice::<types::ApiError>(body);
});
