//! Date-based API versions: v3 and 2026-03 answer partial failures with a 207, 2026-09
//! (and later versions configured with its shape) with a 200 carrying the errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::*;
use hubspot_emulator::{EmulatorConfig, WireShape};
use serde_json::json;

fn partial() -> serde_json::Value {
    batch(vec![
        input("V-1", Some("v1"), json!({"subject": "ok"})),
        input("V-2", Some("v2"), json!({"nope": "x"})),
    ])
}

#[tokio::test]
async fn v3_and_2026_03_answer_200_then_207() {
    let emu = start(config()).await;
    for version in ["v3", "2026-03"] {
        let r = post_at(&emu, version, "tickets", TOKEN, &traced_batch(version, 2)).await;
        assert_eq!(r.status, 200, "{version}: {}", r.text);
        let v = r.json();
        assert!(
            v.get("errors").is_none() && v.get("numErrors").is_none(),
            "{version}: {v}"
        );
        let r = post_at(&emu, version, "tickets", TOKEN, &partial()).await;
        assert_eq!(r.status, 207, "{version}: {}", r.text);
        assert_eq!(r.json()["numErrors"], 1);
        assert_eq!(
            r.json()["errors"][0]["context"]["objectWriteTraceId"],
            json!(["v2"])
        );
    }
}

#[tokio::test]
async fn v2026_09_folds_partial_failures_into_a_200_without_warnings() {
    let emu = start(config()).await;
    let r = post_at(&emu, "2026-09", "tickets", TOKEN, &traced_batch("N", 2)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert!(
        v.get("errors").is_none() && v.get("numErrors").is_none(),
        "{v}"
    );
    let r = post_at(&emu, "2026-09", "0-5", TOKEN, &partial()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["numErrors"], 1);
    assert_eq!(v["errors"][0]["context"]["id"], json!(["V-2"]));
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert!(results.iter().all(|r| r.get("warnings").is_none()));
}

#[tokio::test]
async fn a_configured_later_version_takes_the_shape_it_is_given() {
    let emu = start(
        config()
            .with_api_version("2027-03", WireShape::PartialIn200)
            .with_api_version("2027-09", WireShape::MultiStatus207),
    )
    .await;
    let r = post_at(
        &emu,
        "2027-03",
        "contacts",
        TOKEN,
        &json!({"inputs": [
            {"idProperty": "email", "id": "a@example.com", "objectWriteTraceId": "a",
             "properties": {"firstname": "Ann"}},
            {"idProperty": "email", "id": "b@example.com", "objectWriteTraceId": "b",
             "properties": {"lifecyclestage": "nope"}},
        ]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["numErrors"], 1);
    let r = post_at(&emu, "2027-09", "tickets", TOKEN, &partial()).await;
    assert_eq!(r.status, 207, "{}", r.text);
    let log = emu.stats().request_log;
    let seen: Vec<(&str, &str)> = log
        .iter()
        .map(|e| (e.api_version.as_str(), e.object_type.as_str()))
        .collect();
    assert_eq!(seen, [("2027-03", "contacts"), ("2027-09", "tickets")]);
}

#[tokio::test]
async fn an_unknown_version_is_a_404_with_a_hubspot_error_body() {
    let emu = start(config().without_api_version("2026-03")).await;
    for version in ["2030-01", "2026-03", "v4", "latest"] {
        let r = post_at(&emu, version, "tickets", TOKEN, &traced_batch("U", 1)).await;
        assert_eq!(r.status, 404, "{version}: {}", r.text);
        let v = r.json();
        assert_eq!(v["status"], "error");
        assert!(is_uuid(&v["correlationId"]), "{v}");
        assert!(v["category"].is_string(), "{v}");
        assert!(v["message"].as_str().unwrap().contains(version), "{v}");
    }
    // Not an upsert: not counted, nothing written.
    assert_eq!(emu.stats().requests, 0);
    assert_eq!(emu.tickets().count(), 0);
}

#[tokio::test]
async fn bad_version_names_are_refused_at_start() {
    for bad in ["2027", "2027-13", "v3", "2027-3", "27-03x"] {
        let err = hubspot_emulator::Emulator::start(
            EmulatorConfig::default().with_api_version(bad, WireShape::PartialIn200),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("YYYY-MM"), "{bad}: {err}");
    }
}

#[tokio::test]
async fn rate_limits_are_shared_across_versions_and_object_types() {
    use hubspot_emulator::RateLimitConfig;
    use std::time::Duration;
    let emu = start(
        EmulatorConfig::default()
            .with_rate_limit(RateLimitConfig::per_window(3, Duration::from_secs(120))),
    )
    .await;
    let contact = json!({"inputs": [{"idProperty": "email", "id": "r@example.com",
        "properties": {}}]});
    assert_eq!(
        post_at(&emu, "v3", "tickets", TOKEN, &traced_batch("R", 1))
            .await
            .status,
        200
    );
    assert_eq!(
        post_at(&emu, "2026-03", "contacts", TOKEN, &contact)
            .await
            .status,
        200
    );
    let r = post_at(&emu, "2026-09", "0-1", TOKEN, &contact).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header_u64("x-hubspot-ratelimit-remaining"), Some(0));
    let r = post_at(&emu, "2026-09", "tickets", TOKEN, &traced_batch("R", 1)).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["policyName"], "TEN_SECONDLY_ROLLING");
}
