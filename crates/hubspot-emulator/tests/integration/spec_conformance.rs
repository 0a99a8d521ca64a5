//! Every JSON body the emulator sends validates against the project's OpenAPI spec
//! (`spec/openapi.yaml`), the contract the generated client and the official SDKs
//! decode. OpenAPI 3.0 schemas are turned into JSON Schema (`nullable` into type
//! unions, `#/components/schemas` refs into `$defs`), and made strict: objects that
//! do not declare `additionalProperties` get `false`, so a field outside the spec (or a
//! misspelt one) fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Duration;

use crate::common::*;
use hubspot_emulator::{EmulatorConfig, FaultConfig, FaultKind, RateLimitConfig, RequestedAt};
use serde_json::{Map, Value, json};

fn spec() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../spec/openapi.yaml");
    let text = std::fs::read_to_string(&path).expect("spec/openapi.yaml");
    serde_yaml_ng::from_str(&text).expect("valid YAML")
}

/// OpenAPI 3.0 schema -> JSON Schema 2020-12.
fn convert(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                match k.as_str() {
                    "nullable" | "example" | "examples" | "xml" | "externalDocs" => {}
                    "$ref" => {
                        let r = v.as_str().unwrap();
                        let name = r.strip_prefix("#/components/schemas/").unwrap();
                        out.insert("$ref".into(), json!(format!("#/$defs/{name}")));
                    }
                    "properties" => {
                        let props = v
                            .as_object()
                            .unwrap()
                            .iter()
                            .map(|(name, s)| (name.clone(), convert(s)))
                            .collect();
                        out.insert(k.clone(), Value::Object(props));
                    }
                    _ => {
                        out.insert(k.clone(), convert(v));
                    }
                }
            }
            if map.get("nullable") == Some(&Value::Bool(true))
                && let Some(t) = out.get("type").cloned()
            {
                out.insert("type".into(), json!([t, "null"]));
            }
            if out.get("type") == Some(&json!("object"))
                && !out.contains_key("additionalProperties")
            {
                out.insert("additionalProperties".into(), json!(false));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(convert).collect()),
        other => other.clone(),
    }
}

struct Validators {
    result: jsonschema::Validator,
    error: jsonschema::Validator,
}

fn validators() -> Validators {
    let spec = spec();
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    let defs: Map<String, Value> = schemas
        .iter()
        .map(|(k, v)| (k.clone(), convert(v)))
        .collect();
    let build = |name: &str| {
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$defs": defs,
            "$ref": format!("#/$defs/{name}"),
        });
        jsonschema::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap()
    };
    Validators {
        result: build("TicketUpsertBatchResult"),
        error: build("ApiError"),
    }
}

impl Validators {
    fn check(&self, what: &str, r: &Reply) {
        let v = r.json();
        let validator = if (200..300).contains(&r.status) {
            &self.result
        } else {
            &self.error
        };
        let errors: Vec<String> = validator
            .iter_errors(v)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{what} ({}) does not match the spec: {errors:#?}\n{v:#}",
            r.status
        );
    }
}

#[test]
fn the_converter_and_strictness_catch_mistakes() {
    let v = validators();
    let good = json!({"status": "COMPLETE", "results": [], "startedAt": "2024-01-01T00:00:00.000Z",
        "completedAt": "2024-01-01T00:00:00.000Z", "requestedAt": null});
    assert!(v.result.is_valid(&good));
    let mut typo = good.clone();
    typo["numerrors"] = json!(1);
    assert!(
        !v.result.is_valid(&typo),
        "unknown fields must fail in strict mode"
    );
    let mut bad_time = good.clone();
    bad_time["startedAt"] = json!("yesterday");
    assert!(!v.result.is_valid(&bad_time), "formats are validated");
    let nullable = json!({"status": "COMPLETE", "startedAt": "2024-01-01T00:00:00.000Z",
        "completedAt": "2024-01-01T00:00:00.000Z", "results": [{"id": "1", "new": true,
        "archived": false, "createdAt": "2024-01-01T00:00:00.000Z",
        "updatedAt": "2024-01-01T00:00:00.000Z", "properties": {"a": null, "b": "x"}}]});
    assert!(v.result.is_valid(&nullable));
}

#[tokio::test]
async fn every_emulator_body_matches_the_spec() {
    let v = validators();
    let emu = start(
        config()
            .with_requested_at(RequestedAt::Alternate)
            .with_unique_property("zendesk_id"),
    )
    .await;

    // 200: creates, then updates (requestedAt null, then a timestamp).
    let r = post(&emu, &traced_batch("S", 100)).await;
    assert_eq!(r.status, 200);
    v.check("200 creates", &r);
    let r = post(&emu, &traced_batch("S", 100)).await;
    v.check("200 updates", &r);
    let r = post(
        &emu,
        &batch(vec![input(
            "S-0",
            None,
            json!({"content": "", "hs_ticket_category": "BILLING_ISSUE"}),
        )]),
    )
    .await;
    v.check("200 without trace ids, cleared value", &r);

    // 207: partial and all-failed.
    let r = post(
        &emu,
        &batch(vec![
            input("S-1", Some("a"), json!({"subject": "ok"})),
            input(
                "S-x",
                Some("b"),
                json!({"nope": "x", "hs_ticket_priority": "URGENT"}),
            ),
            input("S-y", Some("c"), json!({"zendesk_id": "Z"})),
            input("S-z", Some("d"), json!({"zendesk_id": "Z"})),
        ]),
    )
    .await;
    assert_eq!(r.status, 207);
    v.check("207 partial", &r);
    let r = post(
        &emu,
        &batch(vec![input("S-q", Some("q"), json!({"nope": "x"}))]),
    )
    .await;
    v.check("207 all failed", &r);
    let r = post_to(
        &client(),
        &format!(
            "{}/crm/objects/2026-03/tickets/batch/upsert",
            emu.base_url()
        ),
        Some(TOKEN),
        serde_json::to_vec(&batch(vec![input("S-q", Some("q"), json!({"nope": "x"}))])).unwrap(),
    )
    .await
    .unwrap();
    v.check("dated 200 with errors", &r);

    // Whole-batch refusals.
    let http = client();
    for (what, body) in [
        ("400 malformed", b"{".to_vec()),
        ("400 missing inputs", b"{}".to_vec()),
        (
            "400 duplicates",
            serde_json::to_vec(&batch(vec![
                input("D", None, json!({})),
                input("D", None, json!({})),
            ]))
            .unwrap(),
        ),
        (
            "400 per-input without traces",
            serde_json::to_vec(&batch(vec![input("D", None, json!({"nope": "1"}))])).unwrap(),
        ),
        (
            "400 non-unique idProperty",
            serde_json::to_vec(
                &json!({"inputs": [{"id": "1", "idProperty": "hs_object_id", "properties": {}}]}),
            )
            .unwrap(),
        ),
        (
            "409 unique conflict",
            serde_json::to_vec(&batch(vec![input("D2", None, json!({"zendesk_id": "Z"}))]))
                .unwrap(),
        ),
    ] {
        let r = post_raw(&http, &emu, Some(TOKEN), body).await.unwrap();
        assert!(r.status == 400 || r.status == 409, "{what}: {}", r.status);
        v.check(what, &r);
    }
    let r = post_raw(&http, &emu, Some("wrong"), b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    v.check("401", &r);

    // Rate limits: rolling and daily.
    let limited = start(EmulatorConfig::default().with_rate_limit(
        RateLimitConfig::per_window(1, Duration::from_secs(120)).with_daily(Some(1000)),
    ))
    .await;
    post(&limited, &traced_batch("L", 1)).await;
    let r = post(&limited, &traced_batch("L", 1)).await;
    assert_eq!(r.status, 429);
    v.check("429 rolling", &r);
    let daily = start(EmulatorConfig::default().with_rate_limit(
        RateLimitConfig::per_window(100, Duration::from_secs(120)).with_daily(Some(1)),
    ))
    .await;
    post(&daily, &traced_batch("L", 1)).await;
    let r = post(&daily, &traced_batch("L", 1)).await;
    assert_eq!(r.status, 429);
    v.check("429 daily", &r);

    // Injected faults with JSON bodies.
    for kind in [
        FaultKind::RateLimit429,
        FaultKind::Http500,
        FaultKind::Http502,
        FaultKind::Http503,
        FaultKind::Http504,
        FaultKind::Conflict409,
        FaultKind::Unexpected201,
    ] {
        let faulty = start(config().with_faults(FaultConfig::none(1).with(kind, 1.0))).await;
        let r = post(&faulty, &traced_batch("F", 3)).await;
        v.check(kind.as_str(), &r);
    }
}
