//! The token never shows: not in errors, `Debug` output, spans or logs at any level.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use hubspot_tickets::ErrorKind;
use integration_tests::*;

const WINDOW: Duration = Duration::from_millis(500);

#[tokio::test]
async fn a_bad_token_fails_fast_and_never_shows() {
    let emu = start(config(50, WINDOW)).await;
    // The only test in this binary: a global subscriber sees every event, whatever
    // thread the runtime polls on.
    let logs = CapturedLogs::default();
    tracing::subscriber::set_global_default(capture_subscriber(logs.clone())).unwrap();

    let secret = "pat-na1-wrong-token-do-not-print";
    let client = build(builder(&emu, 50, WINDOW).access_token(secret));
    let err = client.upsert_batch(tickets("TK", 0..3)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert_eq!(err.status(), Some(401));
    let report = client
        .bulk_upsert_iter(tickets("TK", 0..300))
        .report()
        .await;
    // The run stops at the refusal; every input is accounted for (a finite input's
    // unread rest is reported not attempted).
    assert_eq!(report.outcomes.len(), 300);
    assert_eq!(report.summary.not_attempted, 300);
    assert_eq!(report.summary.requests, 1, "auth failure stops the run");

    let good = build(builder(&emu, 50, WINDOW));
    let out = good.upsert_batch(tickets("TK", 0..3)).await.unwrap();
    assert!(out.all_written());

    let text = logs.text();
    assert!(
        text.contains("hubspot_tickets.batch"),
        "spans were captured"
    );
    for shown in [
        text,
        err.to_string(),
        format!("{err:?}"),
        format!("{client:?}"),
        format!("{good:?}"),
        format!("{:?}", report.summary),
        format!("{:?}", builder(&emu, 50, WINDOW).access_token(secret)),
    ] {
        assert!(!shown.contains(secret), "{shown}");
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(
            !shown.contains("Ticket 1"),
            "property values are not logged"
        );
    }
}
