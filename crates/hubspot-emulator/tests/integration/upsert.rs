//! Upsert semantics, result shape, the store and the admin routes, over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::*;
use hubspot_emulator::{EmulatorConfig, PropertyDef, RequestedAt};
use serde_json::{Value, json};

#[tokio::test]
async fn create_returns_a_hubspot_shaped_result() {
    let emu = start(config().with_requested_at(RequestedAt::Null)).await;
    let r = post(
        &emu,
        &batch(vec![input(
            "ZD-1",
            Some("trace-1"),
            json!({"subject": "Printer jams", "hs_ticket_priority": "HIGH"}),
        )]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let v = r.json();
    assert_eq!(v["status"], "COMPLETE");
    assert!(v.get("requestedAt").is_some_and(Value::is_null));
    assert!(is_iso_ms(&v["startedAt"]) && is_iso_ms(&v["completedAt"]));
    assert!(v.get("errors").is_none() && v.get("numErrors").is_none());
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    let t = &results[0];
    let id = t["id"].as_str().unwrap();
    assert!(id.parse::<u64>().is_ok());
    assert_eq!(t["new"], true);
    assert_eq!(t["archived"], false);
    assert_eq!(t["objectWriteTraceId"], "trace-1");
    assert!(is_iso_ms(&t["createdAt"]));
    assert_eq!(t["createdAt"], t["updatedAt"]);
    assert_eq!(
        t["url"],
        format!("https://app.hubspot.com/contacts/2418337/record/0-5/{id}")
    );
    // Echo rule: the default set, the idProperty and what was sent; unset defaults are null.
    let props = t["properties"].as_object().unwrap();
    let mut keys: Vec<&str> = props.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "content",
            "createdate",
            "external_ticket_id",
            "hs_lastmodifieddate",
            "hs_object_id",
            "hs_pipeline",
            "hs_pipeline_stage",
            "hs_ticket_priority",
            "subject"
        ]
    );
    assert_eq!(props["hs_object_id"], id);
    assert_eq!(props["external_ticket_id"], "ZD-1");
    assert_eq!(props["subject"], "Printer jams");
    assert_eq!(props["hs_ticket_priority"], "HIGH");
    assert_eq!(props["hs_pipeline"], "0");
    assert_eq!(props["hs_pipeline_stage"], "1");
    assert_eq!(props["content"], Value::Null);
    assert_eq!(props["createdate"], t["createdAt"]);
    assert_eq!(props["hs_lastmodifieddate"], t["updatedAt"]);

    let stored = emu
        .tickets()
        .get_by_unique("external_ticket_id", "ZD-1")
        .unwrap();
    assert_eq!(stored.object_id.to_string(), id);
    assert_eq!(stored.properties["subject"], "Printer jams");
    let st = emu.stats();
    assert_eq!((st.records_created, st.records_updated), (1, 0));
    assert_eq!(emu.tickets().creates_for("external_ticket_id", "ZD-1"), 1);
}

#[tokio::test]
async fn update_merges_properties_and_empty_string_clears() {
    let emu = start(config()).await;
    let first = post(
        &emu,
        &batch(vec![input(
            "ZD-2",
            None,
            json!({"subject": "A", "content": "body", "hs_ticket_priority": "LOW", "hs_ticket_category": "BILLING_ISSUE;PRODUCT_ISSUE"}),
        )]),
    )
    .await;
    assert_eq!(first.status, 200);
    let id = first.json()["results"][0]["id"].clone();
    let created_at = first.json()["results"][0]["createdAt"].clone();

    let second = post(
        &emu,
        &batch(vec![input(
            "ZD-2",
            None,
            json!({"subject": "B", "content": ""}),
        )]),
    )
    .await;
    assert_eq!(second.status, 200, "{}", second.text);
    let t = &second.json()["results"][0];
    assert_eq!(t["new"], false);
    assert_eq!(t["id"], id);
    assert_eq!(t["createdAt"], created_at);
    assert!(t["updatedAt"].as_str().unwrap() >= created_at.as_str().unwrap());
    assert_eq!(t["properties"]["subject"], "B");
    assert_eq!(t["properties"]["content"], Value::Null);
    assert_eq!(t["properties"]["hs_ticket_priority"], "LOW");
    assert!(t.get("objectWriteTraceId").is_none());

    let stored = emu
        .tickets()
        .get_by_unique("external_ticket_id", "ZD-2")
        .unwrap();
    assert_eq!(stored.properties["subject"], "B");
    assert!(!stored.properties.contains_key("content"));
    assert_eq!(stored.properties["hs_ticket_priority"], "LOW");
    assert_eq!(
        stored.properties["hs_ticket_category"],
        "BILLING_ISSUE;PRODUCT_ISSUE"
    );
    assert_eq!(emu.tickets().count(), 1);
    let st = emu.stats();
    assert_eq!((st.records_created, st.records_updated), (1, 1));
    assert!(st.duplicate_creates.is_empty());
}

#[tokio::test]
async fn records_survive_across_requests_and_connections() {
    let emu = start(config()).await;
    for round in 0..3 {
        // A new client (and so a new connection) every round.
        let r = post_with(&client(), &emu, TOKEN, &traced_batch("S", 100)).await;
        assert_eq!(r.status, 200);
        let results = r.json()["results"].as_array().unwrap();
        assert_eq!(results.len(), 100);
        assert!(results.iter().all(|t| t["new"] == (round == 0)));
    }
    assert_eq!(emu.tickets().count(), 100);
    let st = emu.stats();
    assert_eq!((st.records_created, st.records_updated), (100, 200));
    assert_eq!(st.inputs, 300);
    // Created ids are distinct.
    let mut ids: Vec<u64> = emu.tickets().list().iter().map(|t| t.object_id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 100);
}

#[tokio::test]
async fn unknown_headers_and_api_version_are_ignored() {
    let emu = start(config()).await;
    let resp = client()
        .post(emu.upsert_url())
        .bearer_auth(TOKEN)
        .header("api-version", "v3")
        .header("x-something-new", "1")
        .header("accept", "*/*")
        .json(&batch(vec![input("H-1", None, json!({}))]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn requested_at_alternates_between_null_and_a_timestamp() {
    let emu = start(config()).await;
    let a = post(&emu, &batch(vec![input("R-1", None, json!({}))])).await;
    let b = post(&emu, &batch(vec![input("R-2", None, json!({}))])).await;
    let ra = &a.json()["requestedAt"];
    let rb = &b.json()["requestedAt"];
    assert!(ra.is_null(), "{ra}");
    assert!(is_iso_ms(rb), "{rb}");
}

#[tokio::test]
async fn empty_inputs_answer_an_empty_result() {
    let emu = start(config()).await;
    let r = post(&emu, &json!({"inputs": []})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["results"], json!([]));
}

#[tokio::test]
async fn version_2026_09_folds_errors_into_a_200() {
    let emu = start(config()).await;
    let body = batch(vec![
        input("D-1", Some("d1"), json!({"subject": "ok"})),
        input("D-2", Some("d2"), json!({"nope": "x"})),
    ]);
    let r = post_to(
        &client(),
        &format!(
            "{}/crm/objects/2026-09/tickets/batch/upsert",
            emu.base_url()
        ),
        Some(TOKEN),
        serde_json::to_vec(&body).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["numErrors"], 1);
    assert_eq!(
        r.json()["errors"][0]["context"]["objectWriteTraceId"],
        json!(["d2"])
    );
    assert_eq!(r.json()["results"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn custom_property_types_are_validated() {
    let emu = start(
        config()
            .with_property(PropertyDef::number("amount"))
            .with_property(PropertyDef::boolean("vip"))
            .with_property(PropertyDef::date("due_date"))
            .with_property(PropertyDef::enumeration("region", ["EU", "US"])),
    )
    .await;
    let good =
        json!({"amount": "12.5", "vip": "true", "due_date": "1732752000000", "region": "EU"});
    let r = post(&emu, &batch(vec![input("C-1", Some("c1"), good)])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Sent properties are echoed even when outside the default set.
    assert_eq!(r.json()["results"][0]["properties"]["amount"], "12.5");

    let cases = [
        ("amount", "twelve", "INVALID_NUMBER"),
        ("vip", "yes", "INVALID_BOOLEAN"),
        ("due_date", "1732752000123", "INVALID_DATE"),
        ("region", "APAC", "INVALID_OPTION"),
    ];
    let inputs = cases
        .iter()
        .enumerate()
        .map(|(i, (k, v, _))| {
            input(
                &format!("C-bad-{i}"),
                Some(&format!("cb{i}")),
                json!({ *k: *v }),
            )
        })
        .collect();
    let r = post(&emu, &batch(inputs)).await;
    assert_eq!(r.status, 207, "{}", r.text);
    let errors = r.json()["errors"].as_array().unwrap();
    assert_eq!(errors.len(), cases.len());
    for (i, (k, _, code)) in cases.iter().enumerate() {
        let e = errors
            .iter()
            .find(|e| e["context"]["objectWriteTraceId"] == json!([format!("cb{i}")]))
            .unwrap();
        assert_eq!(e["errors"][0]["code"], *code);
        assert_eq!(e["errors"][0]["context"]["propertyName"], json!([k]));
    }
    assert_eq!(emu.tickets().count(), 1);
}

#[tokio::test]
async fn admin_routes_expose_the_store_and_stats() {
    let emu = start(config()).await;
    // Seed one ticket over the admin route, then upsert it: it is an update.
    let seeded = client()
        .post(format!("{}/__emulator/tickets", emu.base_url()))
        .json(&json!({"properties": {"external_ticket_id": "A-1", "subject": "seeded"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(seeded.status(), 201);
    let seeded: Value = seeded.json().await.unwrap();
    let r = post(
        &emu,
        &batch(vec![
            input("A-1", None, json!({"subject": "updated"})),
            input("A-2", None, json!({"subject": "new"})),
        ]),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["results"][0]["new"], false);
    assert_eq!(r.json()["results"][0]["id"], seeded["objectId"].to_string());

    let (s, count) = admin_get(&emu, "/__emulator/tickets/count").await;
    assert_eq!((s, count["count"].as_u64()), (200, Some(2)));
    let (s, list) = admin_get(&emu, "/__emulator/tickets").await;
    assert_eq!(s, 200);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (s, page) = admin_get(&emu, "/__emulator/tickets?offset=1&limit=5").await;
    assert_eq!((s, page.as_array().unwrap().len()), (200, 1));
    let (s, t) = admin_get(&emu, "/__emulator/tickets/by/external_ticket_id/A-1").await;
    assert_eq!(s, 200);
    assert_eq!(t["properties"]["subject"], "updated");
    let (s, t2) = admin_get(&emu, &format!("/__emulator/tickets/{}", t["objectId"])).await;
    assert_eq!((s, &t2), (200, &t));
    let (s, _) = admin_get(&emu, "/__emulator/tickets/by/external_ticket_id/missing").await;
    assert_eq!(s, 404);
    let (s, stats) = admin_get(&emu, "/__emulator/stats").await;
    assert_eq!(s, 200);
    assert_eq!(stats["requests"], 1);
    assert_eq!(stats["recordsCreated"], 1);
    assert_eq!(stats["recordsUpdated"], 1);
    assert_eq!(stats["responsesByStatus"]["200"], 1);
    assert_eq!(stats["requestLog"][0]["inputs"], 2);
    let (s, props) = admin_get(&emu, "/__emulator/properties").await;
    assert_eq!(s, 200);
    assert!(
        props
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "external_ticket_id" && p["unique"] == true)
    );
    let (s, health) = admin_get(&emu, "/__emulator/health").await;
    assert_eq!((s, health["status"].as_str()), (200, Some("ok")));

    let reset = client()
        .post(format!("{}/__emulator/reset", emu.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 204);
    assert_eq!(emu.tickets().count(), 0);
    assert_eq!(emu.stats().requests, 0);
}

#[tokio::test]
async fn stats_log_is_bounded_and_records_each_request() {
    let emu = start(config().with_request_log_capacity(3)).await;
    for i in 0..5 {
        post(
            &emu,
            &batch(vec![input(&format!("L-{i}"), None, json!({}))]),
        )
        .await;
    }
    post(&emu, &json!({"inputs": "nope"})).await;
    let st = emu.stats();
    assert_eq!(st.requests, 6);
    assert_eq!(st.request_log.len(), 3);
    let last = st.request_log.last().unwrap();
    assert_eq!((last.seq, last.status, last.inputs), (6, Some(400), 0));
    assert_eq!(st.request_log[0].created, 1);
    assert_eq!(st.responses(200), 5);
    assert_eq!(st.responses(400), 1);
}

#[tokio::test]
async fn works_with_http2_prior_knowledge() {
    let emu = start(EmulatorConfig::default()).await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = post_with(&http, &emu, TOKEN, &traced_batch("H2", 3)).await;
    assert_eq!(r.status, 200);
    assert_eq!(emu.tickets().count(), 3);
}
