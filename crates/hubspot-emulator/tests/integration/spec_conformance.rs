//! Every JSON body the emulator sends validates against the project's OpenAPI spec
//! (`spec/openapi.yaml`), the contract the generated client and the official SDKs
//! decode. OpenAPI 3.0 schemas are turned into JSON Schema (`nullable` into type
//! unions, `#/components/schemas` refs into `$defs`), and made strict: objects that
//! do not declare `additionalProperties` get `false`, so a field outside the spec (or a
//! misspelt one) fails the test.
//!
//! Each body is checked against the schema the spec gives for its request: the
//! operation whose path template matches the request path (the most specific one, so
//! `/crm/objects/2026-09/{objectType}` wins over `/crm/objects/{apiVersion}/{objectType}`)
//! and the response for its status (`207`, else `2XX`/`4XX`/`5XX`). A version added to
//! the spec is checked without changing this file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use crate::common::*;
use hubspot_emulator::{
    CustomObjectDef, Emulator, EmulatorConfig, FaultConfig, FaultKind, PropertyDef,
    RateLimitConfig, RequestedAt, StandardObject, WireShape,
};
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

/// The spec's paths and schemas, with validators built on demand.
struct Spec {
    spec: Value,
    defs: Map<String, Value>,
    cache: RefCell<HashMap<String, Rc<jsonschema::Validator>>>,
}

fn load() -> Spec {
    let spec = spec();
    let defs = spec["components"]["schemas"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), convert(v)))
        .collect();
    Spec {
        spec,
        defs,
        cache: RefCell::new(HashMap::new()),
    }
}

/// Follows a `#/components/...` reference within the spec.
fn deref<'a>(spec: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let mut at = spec;
            for part in r.trim_start_matches("#/").split('/') {
                at = &at[part];
            }
            at
        }
        None => v,
    }
}

impl Spec {
    /// The path template of the operation serving `path`: among the templates that
    /// match, the one with the most literal segments.
    fn operation_path(&self, path: &str) -> String {
        let segments: Vec<&str> = path.split('/').collect();
        self.spec["paths"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, item)| item.get("post").is_some())
            .filter_map(|(template, _)| {
                let t: Vec<&str> = template.split('/').collect();
                let fits = t.len() == segments.len()
                    && t.iter()
                        .zip(&segments)
                        .all(|(a, b)| a.starts_with('{') || a == b);
                fits.then(|| (t.iter().filter(|s| !s.starts_with('{')).count(), template))
            })
            .max_by_key(|(literal, _)| *literal)
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| panic!("no operation in the spec serves {path}"))
    }

    /// The JSON schema (OpenAPI form) of the answer to `path` with `status`.
    fn response_schema(&self, path: &str, status: u16) -> Value {
        let template = self.operation_path(path);
        let responses = &self.spec["paths"][&template]["post"]["responses"];
        let range = format!("{}XX", status / 100);
        let response = [status.to_string(), range, "default".to_owned()]
            .iter()
            .find_map(|k| responses.get(k))
            .unwrap_or_else(|| panic!("{template} declares no response for {status}"));
        let response = deref(&self.spec, response);
        response["content"]["application/json"]["schema"].clone()
    }

    fn validator(&self, schema: &Value) -> Rc<jsonschema::Validator> {
        let key = schema.to_string();
        if let Some(v) = self.cache.borrow().get(&key) {
            return Rc::clone(v);
        }
        let mut root = match convert(schema) {
            Value::Object(m) => m,
            other => panic!("schema is not an object: {other}"),
        };
        root.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        root.insert("$defs".into(), Value::Object(self.defs.clone()));
        let v = Rc::new(
            jsonschema::options()
                .should_validate_formats(true)
                .build(&Value::Object(root))
                .unwrap(),
        );
        self.cache.borrow_mut().insert(key, Rc::clone(&v));
        v
    }

    fn named(&self, name: &str) -> Rc<jsonschema::Validator> {
        self.validator(&json!({"$ref": format!("#/components/schemas/{name}")}))
    }

    /// Checks the answer `r` to a request to `url` against the spec.
    fn check(&self, what: &str, url: &str, r: &Reply) {
        let path = url
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
            .unwrap_or(url);
        let schema = self.response_schema(path, r.status);
        let v = r.json();
        let errors: Vec<String> = self
            .validator(&schema)
            .iter_errors(v)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{what} ({} from {path}, schema {schema}) does not match the spec: {errors:#?}\n{v:#}",
            r.status
        );
    }
}

#[test]
fn the_lookup_picks_the_operation_of_the_path() {
    let s = load();
    let name = |path: &str, status: u16| s.response_schema(path, status)["$ref"].clone();
    let v3 = json!("#/components/schemas/TicketUpsertBatchResult");
    let folded = json!("#/components/schemas/UpsertBatchResult2026_09");
    let error = json!("#/components/schemas/ApiError");
    assert_eq!(name("/crm/v3/objects/tickets/batch/upsert", 207), v3);
    assert_eq!(name("/crm/v3/objects/0-1/batch/upsert", 200), v3);
    assert_eq!(name("/crm/objects/2026-03/tickets/batch/upsert", 201), v3);
    assert_eq!(name("/crm/objects/2026-03/contacts/batch/upsert", 207), v3);
    assert_eq!(
        name("/crm/objects/2026-09/contacts/batch/upsert", 200),
        folded
    );
    assert_eq!(
        name("/crm/objects/2027-03/p_1_cars/batch/upsert", 200),
        folded
    );
    assert_eq!(
        name("/crm/objects/2026-09/tickets/batch/upsert", 403),
        error
    );
    assert_eq!(name("/crm/v3/objects/foo/batch/upsert", 429), error);
    assert_eq!(name("/crm/v3/objects/tickets/batch/upsert", 502), error);
}

#[test]
fn the_converter_and_strictness_catch_mistakes() {
    let s = load();
    let result = s.named("TicketUpsertBatchResult");
    let good = json!({"status": "COMPLETE", "results": [], "startedAt": "2024-01-01T00:00:00.000Z",
        "completedAt": "2024-01-01T00:00:00.000Z", "requestedAt": null});
    assert!(result.is_valid(&good));
    let mut typo = good.clone();
    typo["numerrors"] = json!(1);
    assert!(
        !result.is_valid(&typo),
        "unknown fields must fail in strict mode"
    );
    let mut bad_time = good.clone();
    bad_time["startedAt"] = json!("yesterday");
    assert!(!result.is_valid(&bad_time), "formats are validated");
    let record = json!({"id": "1", "new": true,
        "archived": false, "createdAt": "2024-01-01T00:00:00.000Z",
        "updatedAt": "2024-01-01T00:00:00.000Z", "properties": {"a": null, "b": "x"}});
    let mut nullable = good.clone();
    nullable["results"] = json!([record]);
    assert!(result.is_valid(&nullable));
    // 2026-09 results have no `warnings`.
    let folded = s.named("UpsertBatchResult2026_09");
    assert!(folded.is_valid(&nullable));
    let mut warned = nullable.clone();
    warned["results"][0]["warnings"] = json!([]);
    assert!(result.is_valid(&warned));
    assert!(!folded.is_valid(&warned));
}

/// Posts `body` to `version`/`object_type` and checks the answer against the spec.
async fn checked(
    s: &Spec,
    what: &str,
    emu: &Emulator,
    version: &str,
    object_type: &str,
    token: &str,
    body: &[u8],
) -> Reply {
    let url = emu.upsert_url_for(version, object_type);
    let r = post_to(&client(), &url, Some(token), body.to_vec())
        .await
        .unwrap();
    s.check(&format!("{version} {object_type}: {what}"), &url, &r);
    r
}

fn cars() -> CustomObjectDef {
    CustomObjectDef::new("2-123", "p_2418337_cars")
        .with_property(PropertyDef::string("vin").unique())
        .with_property(PropertyDef::number("year"))
}

/// `(object type, idProperty, a property that takes any text)` for each object type covered.
const OBJECTS: [(&str, &str, &str); 4] = [
    ("tickets", "external_ticket_id", "subject"),
    ("contacts", "email", "firstname"),
    ("p_2418337_cars", "vin", "model"),
    ("2-123", "vin", "model"),
];

/// The versions covered: every published one, and a later one with 2026-09's shape.
const VERSIONS: [&str; 4] = ["v3", "2026-03", "2026-09", "2027-03"];

fn versioned(c: EmulatorConfig) -> EmulatorConfig {
    c.with_api_version("2027-03", WireShape::PartialIn200)
        .with_custom_object(cars().with_property(PropertyDef::string("model")))
        .with_object_property(StandardObject::Contacts, PropertyDef::string("nickname"))
}

fn traced(id_property: &str, prop: &str, prefix: &str, n: usize) -> Vec<u8> {
    let inputs: Vec<Value> = (0..n)
        .map(|i| {
            input_by(
                id_property,
                &format!("{prefix}-{i}@example.com"),
                Some(&format!("t-{prefix}-{i}")),
                json!({prop: format!("value {i}")}),
            )
        })
        .collect();
    serde_json::to_vec(&batch(inputs)).unwrap()
}

#[tokio::test]
async fn every_version_and_object_type_matches_the_spec() {
    let s = load();
    let emu = start(
        versioned(config().with_requested_at(RequestedAt::Alternate))
            .with_token_scopes("tickets-only", ["tickets"]),
    )
    .await;
    for version in VERSIONS {
        for (object_type, id_prop, prop) in OBJECTS {
            let tag = format!("{version}-{object_type}");
            let run = |what: &'static str, token: &'static str, body: Vec<u8>| {
                let (s, emu) = (&s, &emu);
                async move { checked(s, what, emu, version, object_type, token, &body).await }
            };
            let r = run("all written", TOKEN, traced(id_prop, prop, &tag, 3)).await;
            assert_eq!(r.status, 200);
            run("all updated", TOKEN, traced(id_prop, prop, &tag, 3)).await;
            let partial = batch(vec![
                input_by(
                    id_prop,
                    &format!("{tag}-p@example.com"),
                    Some("a"),
                    json!({prop: "ok"}),
                ),
                input_by(
                    id_prop,
                    &format!("{tag}-q@example.com"),
                    Some("b"),
                    json!({"nope": "x"}),
                ),
            ]);
            let r = run(
                "partial failure",
                TOKEN,
                serde_json::to_vec(&partial).unwrap(),
            )
            .await;
            let expected = if matches!(version, "v3" | "2026-03") {
                207
            } else {
                200
            };
            assert_eq!(r.status, expected, "{tag}: {}", r.text);
            assert_eq!(r.json()["numErrors"], 1);
            let all_failed = batch(vec![input_by(
                id_prop,
                "x@example.com",
                Some("z"),
                json!({"nope": "x"}),
            )]);
            run(
                "all failed",
                TOKEN,
                serde_json::to_vec(&all_failed).unwrap(),
            )
            .await;
            let dup = batch(vec![
                input_by(id_prop, "d@example.com", None, json!({})),
                input_by(id_prop, "d@example.com", None, json!({})),
            ]);
            let r = run(
                "whole-request 400",
                TOKEN,
                serde_json::to_vec(&dup).unwrap(),
            )
            .await;
            assert_eq!(r.status, 400);
            let r = run("malformed", TOKEN, b"{".to_vec()).await;
            assert_eq!(r.status, 400);
            let r = run("401", "wrong", traced(id_prop, prop, &tag, 1)).await;
            assert_eq!(r.status, 401);
            if object_type != "tickets" {
                let r = run("403 scope", "tickets-only", traced(id_prop, prop, &tag, 1)).await;
                assert_eq!(r.status, 403, "{tag}");
            }
        }
        let r = checked(
            &s,
            "unknown object type",
            &emu,
            version,
            "foo",
            TOKEN,
            b"{}",
        )
        .await;
        assert_eq!(r.status, 400);
    }
    // A 409 from a unique value held by another record, without trace ids.
    let emu = start(versioned(config()).with_unique_property("zendesk_id")).await;
    for version in VERSIONS {
        let taken = |id: &str| {
            serde_json::to_vec(&batch(vec![input(id, None, json!({"zendesk_id": "Z"}))])).unwrap()
        };
        checked(
            &s,
            "first holder",
            &emu,
            version,
            "tickets",
            TOKEN,
            &taken(&format!("{version}-a")),
        )
        .await;
        let r = checked(
            &s,
            "409 conflict",
            &emu,
            version,
            "tickets",
            TOKEN,
            &taken(&format!("{version}-b")),
        )
        .await;
        assert_eq!(r.status, 409, "{}", r.text);
        emu.tickets().clear();
    }
    // An unserved version: 404 through the generic dated path.
    let r = checked(&s, "404", &emu, "2030-03", "tickets", TOKEN, b"{}").await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn rate_limit_and_fault_answers_of_every_version_match_the_spec() {
    let s = load();
    let limited = start(versioned(
        EmulatorConfig::default().with_any_token().with_rate_limit(
            RateLimitConfig::per_window(1, Duration::from_secs(120)).with_daily(Some(1000)),
        ),
    ))
    .await;
    let daily = start(versioned(
        EmulatorConfig::default().with_any_token().with_rate_limit(
            RateLimitConfig::per_window(100, Duration::from_secs(120)).with_daily(Some(1)),
        ),
    ))
    .await;
    for version in VERSIONS {
        for (object_type, id_prop, prop) in OBJECTS {
            // A token per pair: limits are per token.
            let token = format!("{version}-{object_type}");
            let body = traced(id_prop, prop, &token, 1);
            for (emu, what) in [(&limited, "429 rolling"), (&daily, "429 daily")] {
                checked(&s, "first", emu, version, object_type, &token, &body).await;
                let r = checked(&s, what, emu, version, object_type, &token, &body).await;
                assert_eq!(r.status, 429);
            }
        }
    }
    for kind in [
        FaultKind::RateLimit429,
        FaultKind::Http500,
        FaultKind::Http502,
        FaultKind::Http503,
        FaultKind::Http504,
        FaultKind::Conflict409,
        FaultKind::Unexpected201,
        FaultKind::TruncatedBody,
    ] {
        let faulty =
            start(versioned(config()).with_faults(FaultConfig::none(1).with(kind, 1.0))).await;
        for version in VERSIONS {
            let url = faulty.upsert_url_for(version, "contacts");
            let r = post_to(
                &client(),
                &url,
                Some(TOKEN),
                traced("email", "firstname", version, 3),
            )
            .await
            .unwrap();
            if kind == FaultKind::TruncatedBody {
                // Not JSON at all: what a cut connection leaves. Only the status is checked.
                assert!(r.json.is_none(), "{}", r.text);
                continue;
            }
            s.check(&format!("{version} {}", kind.as_str()), &url, &r);
        }
    }
}

#[tokio::test]
async fn every_ticket_body_of_v3_matches_the_spec() {
    let s = load();
    let emu = start(
        config()
            .with_requested_at(RequestedAt::Alternate)
            .with_unique_property("zendesk_id"),
    )
    .await;
    let url = emu.upsert_url();
    let http = client();
    let send = |body: Vec<u8>| post_to(&http, &url, Some(TOKEN), body);

    // 200: creates, then updates (requestedAt null, then a timestamp).
    let r = post(&emu, &traced_batch("S", 100)).await;
    assert_eq!(r.status, 200);
    s.check("200 creates", &url, &r);
    let r = post(&emu, &traced_batch("S", 100)).await;
    s.check("200 updates", &url, &r);
    let r = post(
        &emu,
        &batch(vec![input(
            "S-0",
            None,
            json!({"content": "", "hs_ticket_category": "BILLING_ISSUE"}),
        )]),
    )
    .await;
    s.check("200 without trace ids, cleared value", &url, &r);

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
    s.check("207 partial", &url, &r);

    // Whole-batch refusals.
    for (what, body) in [
        ("400 missing inputs", b"{}".to_vec()),
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
            "400 too many inputs",
            serde_json::to_vec(&traced_batch("M", 101)).unwrap(),
        ),
    ] {
        let r = send(body).await.unwrap();
        assert_eq!(r.status, 400, "{what}: {}", r.text);
        s.check(what, &url, &r);
    }
}
