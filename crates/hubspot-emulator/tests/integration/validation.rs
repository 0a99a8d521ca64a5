//! Authentication, whole-batch validation, per-input errors and the 207 correlation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::*;
use hubspot_emulator::{FaultConfig, FaultKind, PropertyDef};
use serde_json::{Value, json};

fn assert_error_shape(r: &Reply, status: u16, category: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    let v = r.json();
    assert_eq!(v["status"], "error");
    assert_eq!(v["category"], category, "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(is_uuid(&v["correlationId"]), "{v}");
    assert_eq!(
        r.header("x-hubspot-correlation-id"),
        v["correlationId"].as_str()
    );
}

#[tokio::test]
async fn auth_is_checked_against_configured_tokens() {
    let emu = start(config().with_tokens(["good"])).await;
    let body = serde_json::to_vec(&traced_batch("AU", 1)).unwrap();
    let http = client();

    let r = post_raw(&http, &emu, None, body.clone()).await.unwrap();
    assert_error_shape(&r, 401, "INVALID_AUTHENTICATION");
    let r = post_raw(&http, &emu, Some("bad"), body.clone())
        .await
        .unwrap();
    assert_error_shape(&r, 401, "INVALID_AUTHENTICATION");
    let r = http
        .post(emu.upsert_url())
        .header("authorization", "Basic Z29vZDo=")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(emu.tickets().count(), 0);

    let r = post_raw(&http, &emu, Some("good"), body.clone())
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    // The scheme is case-insensitive.
    let r = http
        .post(emu.upsert_url())
        .header("authorization", "bearer good")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(emu.stats().responses(401), 3);
}

#[tokio::test]
async fn any_token_mode_accepts_every_bearer_token() {
    let emu = start(config().with_any_token()).await;
    let r = post_with(&client(), &emu, "whatever", &traced_batch("AT", 1)).await;
    assert_eq!(r.status, 200);
    let r = post_raw(&client(), &emu, None, b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(r.status, 401);
}

/// Each body is refused as a whole with a VALIDATION_ERROR and writes nothing.
#[tokio::test]
async fn malformed_batches_are_refused_with_400() {
    let emu = start(config()).await;
    let ok = json!({"subject": "s"});
    let mut too_many = traced_batch("TM", 101);
    too_many["inputs"][0]["id"] = json!("TM-x");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "malformed JSON",
            b"{\"inputs\": [".to_vec(),
            "Invalid input JSON",
        ),
        ("not JSON at all", b"hello".to_vec(), "Invalid input JSON"),
        ("missing inputs", b"{}".to_vec(), "missing field `inputs`"),
        (
            "inputs not an array",
            br#"{"inputs": {}}"#.to_vec(),
            "Invalid input JSON",
        ),
        (
            "missing id",
            serde_json::to_vec(&json!({"inputs": [{"idProperty": ID_PROP, "properties": {}}]}))
                .unwrap(),
            "missing field `id`",
        ),
        (
            "more than 100 inputs",
            serde_json::to_vec(&too_many).unwrap(),
            "at most 100",
        ),
        (
            "empty id",
            serde_json::to_vec(&batch(vec![input("", None, ok.clone())])).unwrap(),
            "empty id",
        ),
        (
            "missing idProperty",
            serde_json::to_vec(&json!({"inputs": [{"id": "X", "properties": {}}]})).unwrap(),
            "no idProperty",
        ),
        (
            "unknown idProperty",
            serde_json::to_vec(
                &json!({"inputs": [{"id": "X", "idProperty": "zendesk_id", "properties": {}}]}),
            )
            .unwrap(),
            "Unable to perform update/upsert by non-unique 0-5 property zendesk_id",
        ),
        (
            "non-unique idProperty",
            serde_json::to_vec(
                &json!({"inputs": [{"id": "1", "idProperty": "hs_object_id", "properties": {}}]}),
            )
            .unwrap(),
            "non-unique 0-5 property hs_object_id",
        ),
        (
            "non-unique idProperty (subject)",
            serde_json::to_vec(
                &json!({"inputs": [{"id": "1", "idProperty": "subject", "properties": {}}]}),
            )
            .unwrap(),
            "non-unique 0-5 property subject",
        ),
        (
            "duplicate ids",
            serde_json::to_vec(&batch(vec![
                input("DUP", Some("a"), ok.clone()),
                input("DUP", Some("b"), ok.clone()),
            ]))
            .unwrap(),
            "Duplicate IDs found in batch input: [DUP]",
        ),
        (
            "number value",
            serde_json::to_vec(&batch(vec![input("N-1", None, json!({"subject": 5}))])).unwrap(),
            "expected a string property value",
        ),
        (
            "boolean value",
            serde_json::to_vec(&batch(vec![input("N-2", None, json!({"subject": true}))])).unwrap(),
            "expected a string property value",
        ),
        (
            "null value",
            serde_json::to_vec(&batch(vec![input("N-3", None, json!({"subject": null}))])).unwrap(),
            "expected a string property value",
        ),
        (
            "object value",
            serde_json::to_vec(&batch(vec![input(
                "N-4",
                None,
                json!({"subject": {"a": 1}}),
            )]))
            .unwrap(),
            "expected a string property value",
        ),
    ];
    let http = client();
    for (name, body, needle) in cases {
        let r = post_raw(&http, &emu, Some(TOKEN), body).await.unwrap();
        assert_error_shape(&r, 400, "VALIDATION_ERROR");
        let msg = r.json()["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{name}: {msg:?} lacks {needle:?}");
    }
    assert_eq!(emu.tickets().count(), 0, "nothing may be written");
    // Exactly 100 inputs is fine.
    let r = post(&emu, &traced_batch("OK", 100)).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn duplicate_ids_are_listed_in_context() {
    let emu = start(config()).await;
    let r = post(
        &emu,
        &batch(vec![
            input("A", None, json!({})),
            input("B", None, json!({})),
            input("A", None, json!({})),
            input("B", None, json!({})),
        ]),
    )
    .await;
    assert_error_shape(&r, 400, "VALIDATION_ERROR");
    assert_eq!(r.json()["context"]["ids"], json!(["A", "B"]));
}

#[tokio::test]
async fn two_inputs_resolving_to_the_same_record_are_refused() {
    let emu = start(config().with_unique_property("zendesk_id")).await;
    let r = post(
        &emu,
        &batch(vec![input("E-1", None, json!({"zendesk_id": "Z-1"}))]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // One input by external_ticket_id, one by zendesk_id: both name the same ticket.
    let r = post(
        &emu,
        &json!({"inputs": [
            {"idProperty": "external_ticket_id", "id": "E-1", "properties": {"subject": "a"}},
            {"idProperty": "zendesk_id", "id": "Z-1", "properties": {"subject": "b"}}
        ]}),
    )
    .await;
    assert_error_shape(&r, 400, "VALIDATION_ERROR");
    assert_eq!(r.json()["context"]["ids"], json!(["E-1", "Z-1"]));
    let t = emu.tickets().get_by_unique("zendesk_id", "Z-1").unwrap();
    assert!(!t.properties.contains_key("subject"));
}

fn mixed_batch(traces: [Option<&str>; 4]) -> Value {
    batch(vec![
        input("P-0", traces[0], json!({"subject": "fine"})),
        input("P-1", traces[1], json!({"favourite_colour": "blue"})),
        input("P-2", traces[2], json!({"hs_ticket_priority": "URGENT"})),
        input(
            "P-3",
            traces[3],
            json!({"subject": "also fine", "hs_pipeline_stage": "2"}),
        ),
    ])
}

#[tokio::test]
async fn per_input_errors_with_distinct_trace_ids_give_a_207() {
    let emu = start(config()).await;
    let r = post(
        &emu,
        &mixed_batch([Some("t0"), Some("t1"), Some("t2"), Some("t3")]),
    )
    .await;
    assert_eq!(r.status, 207, "{}", r.text);
    let v = r.json();
    assert_eq!(v["status"], "COMPLETE");
    assert_eq!(v["numErrors"], 2);
    let results = v["results"].as_array().unwrap();
    let mut written: Vec<(&str, &str)> = results
        .iter()
        .map(|t| {
            (
                t["objectWriteTraceId"].as_str().unwrap(),
                t["properties"]["external_ticket_id"].as_str().unwrap(),
            )
        })
        .collect();
    written.sort_unstable();
    assert_eq!(written, [("t0", "P-0"), ("t3", "P-3")]);
    let errors = v["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    for (trace, id, code, reason) in [
        ("t1", "P-1", "PROPERTY_DOESNT_EXIST", "favourite_colour"),
        ("t2", "P-2", "INVALID_OPTION", "URGENT"),
    ] {
        let e = errors
            .iter()
            .find(|e| e["context"]["objectWriteTraceId"] == json!([trace]))
            .unwrap_or_else(|| panic!("no error for {trace}: {v}"));
        assert_eq!(e["context"]["id"], json!([id]));
        assert_eq!(e["status"], "error");
        assert_eq!(e["category"], "VALIDATION_ERROR");
        assert_eq!(e["subCategory"]["reason"], code);
        assert_eq!(e["errors"][0]["code"], code);
        assert!(e["message"].as_str().unwrap().contains(reason), "{e}");
    }
    assert_eq!(emu.tickets().count(), 2);
    assert!(emu.tickets().get_by_unique(ID_PROP, "P-1").is_none());
    assert_eq!(emu.stats().input_errors, 2);
}

#[tokio::test]
async fn without_distinct_trace_ids_the_whole_batch_fails_naming_the_first_error() {
    let emu = start(config()).await;
    for traces in [
        [None, None, None, None],
        [Some("t0"), None, Some("t2"), Some("t3")],
        [Some("same"), Some("same"), Some("t2"), Some("t3")],
        [Some("t0"), Some(""), Some("t2"), Some("t3")],
    ] {
        let r = post(&emu, &mixed_batch(traces)).await;
        assert_error_shape(&r, 400, "VALIDATION_ERROR");
        let v = r.json();
        assert_eq!(v["context"]["id"], json!(["P-1"]), "{v}");
        assert!(v["message"].as_str().unwrap().contains("favourite_colour"));
        assert_eq!(v["errors"][0]["code"], "PROPERTY_DOESNT_EXIST");
    }
    assert_eq!(
        emu.tickets().count(),
        0,
        "a refused batch writes nothing by default"
    );
}

#[tokio::test]
async fn a_207_may_have_no_results() {
    let emu = start(config()).await;
    let r = post(
        &emu,
        &batch(vec![
            input("F-1", Some("f1"), json!({"nope": "1"})),
            input("F-2", Some("f2"), json!({"hs_pipeline": "9"})),
        ]),
    )
    .await;
    assert_eq!(r.status, 207);
    assert_eq!(r.json()["results"], json!([]));
    assert_eq!(r.json()["numErrors"], 2);
}

#[tokio::test]
async fn id_length_read_only_and_conflicting_id_are_per_input_errors() {
    let emu = start(config().with_max_id_length(10)).await;
    let r = post(
        &emu,
        &batch(vec![
            input("0123456789", Some("ok"), json!({})),
            input("0123456789X", Some("long"), json!({})),
            input("RO-1", Some("ro"), json!({"hs_object_id": "5"})),
            input("CI-1", Some("ci"), json!({"external_ticket_id": "other"})),
            input("CI-2", Some("same"), json!({"external_ticket_id": "CI-2"})),
        ]),
    )
    .await;
    assert_eq!(r.status, 207, "{}", r.text);
    let codes: Vec<(String, String)> = r.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["context"]["objectWriteTraceId"][0]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                e["errors"][0]["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        codes.contains(&("long".into(), "ID_TOO_LONG".into())),
        "{codes:?}"
    );
    assert!(codes.contains(&("ro".into(), "READ_ONLY_VALUE".into())));
    assert!(codes.contains(&("ci".into(), "CONFLICTING_ID_VALUE".into())));
    assert_eq!(codes.len(), 3);
    assert_eq!(emu.tickets().count(), 2);
}

#[tokio::test]
async fn unique_value_conflicts_are_reported_as_conflicts() {
    let emu = start(config().with_unique_property("zendesk_id")).await;
    post(
        &emu,
        &batch(vec![input("U-1", None, json!({"zendesk_id": "Z-9"}))]),
    )
    .await;
    // U-2 tries to take Z-9, which U-1 holds.
    let r = post(
        &emu,
        &batch(vec![
            input("U-2", Some("u2"), json!({"zendesk_id": "Z-9"})),
            input("U-3", Some("u3"), json!({"zendesk_id": "Z-10"})),
            input("U-4", Some("u4"), json!({"zendesk_id": "Z-10"})),
        ]),
    )
    .await;
    assert_eq!(r.status, 207, "{}", r.text);
    let errors = r.json()["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    assert!(errors.iter().all(|e| e["category"] == "CONFLICT"));
    // Without trace ids a conflict refuses the batch with a 409.
    let r = post(
        &emu,
        &batch(vec![input("U-5", None, json!({"zendesk_id": "Z-9"}))]),
    )
    .await;
    assert_error_shape(&r, 409, "CONFLICT");
    assert!(emu.tickets().get_by_unique(ID_PROP, "U-5").is_none());
}

#[tokio::test]
async fn required_on_create_applies_to_creates_only() {
    let emu = start(config().with_required_on_create(["subject"])).await;
    let r = post(
        &emu,
        &batch(vec![input("Q-1", Some("q1"), json!({"content": "x"}))]),
    )
    .await;
    assert_eq!(r.status, 207);
    assert_eq!(
        r.json()["errors"][0]["errors"][0]["code"],
        "REQUIRED_PROPERTY"
    );
    let r = post(
        &emu,
        &batch(vec![input("Q-1", None, json!({"subject": "s"}))]),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = post(
        &emu,
        &batch(vec![input("Q-1", None, json!({"content": "x"}))]),
    )
    .await;
    assert_eq!(r.status, 200, "updates need no subject");
}

#[tokio::test]
async fn partial_writes_of_refused_batches_when_configured() {
    let faults = FaultConfig::none(3).with(FaultKind::PartialWriteOnBatchError, 1.0);
    let emu = start(config().with_faults(faults)).await;
    let r = post(
        &emu,
        &batch(vec![
            input("W-0", None, json!({"subject": "a"})),
            input("W-1", None, json!({"subject": "b"})),
            input("W-2", None, json!({"bogus": "c"})),
            input("W-3", None, json!({"subject": "d"})),
        ]),
    )
    .await;
    assert_error_shape(&r, 400, "VALIDATION_ERROR");
    // The inputs before the first failing one were written despite the 400.
    assert!(emu.tickets().get_by_unique(ID_PROP, "W-0").is_some());
    assert!(emu.tickets().get_by_unique(ID_PROP, "W-1").is_some());
    assert!(emu.tickets().get_by_unique(ID_PROP, "W-3").is_none());
    let st = emu.stats();
    assert_eq!(st.fault_count(FaultKind::PartialWriteOnBatchError), 1);
    assert_eq!(st.records_created, 2);
    // A batch that does not fail is unaffected.
    let r = post(&emu, &batch(vec![input("W-4", None, json!({}))])).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        emu.stats().fault_count(FaultKind::PartialWriteOnBatchError),
        1
    );
}

#[tokio::test]
async fn read_only_custom_and_checkbox_properties() {
    let emu = start(
        config()
            .with_property(PropertyDef::string("locked").read_only())
            .with_property(PropertyDef::checkboxes("tags", ["a", "b"])),
    )
    .await;
    let r = post(
        &emu,
        &batch(vec![
            input("K-1", Some("k1"), json!({"locked": "x"})),
            input("K-2", Some("k2"), json!({"tags": "a;b"})),
            input("K-3", Some("k3"), json!({"tags": "a;c"})),
        ]),
    )
    .await;
    assert_eq!(r.status, 207);
    assert_eq!(r.json()["numErrors"], 2);
    assert_eq!(
        emu.tickets()
            .get_by_unique(ID_PROP, "K-2")
            .unwrap()
            .properties["tags"],
        "a;b"
    );
}

/// An input with thousands of problems gets a bounded answer: ten spelled out in its
/// message (the rest counted), a hundred in its `errors`, whatever the input's width.
#[tokio::test]
async fn an_input_with_thousands_of_problems_gets_a_bounded_error() {
    let emu = start(config()).await;
    let wide: serde_json::Map<String, Value> = (0..5000)
        .map(|i| (format!("nope_{i}"), json!("x")))
        .collect();
    let body = batch(vec![
        input("WIDE-1", Some("t-1"), Value::Object(wide)),
        input("OK-1", Some("t-2"), json!({"subject": "fine"})),
    ]);
    let r = post(&emu, &body).await;
    assert_eq!(r.status, 207, "{}", &r.text[..r.text.len().min(500)]);
    assert!(r.text.len() < 64 * 1024, "answer of {} bytes", r.text.len());
    let v = r.json();
    let error = &v["errors"][0];
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("Property values were not valid: "),
        "{message}"
    );
    assert!(message.ends_with("; and 4990 more"), "{message}");
    assert_eq!(error["errors"].as_array().unwrap().len(), 100);
    assert_eq!(v["results"].as_array().unwrap().len(), 1);
}
