//! Every CRM object type: a store and a schema each, reached by name, id or fully
//! qualified name; unknown types (400) and missing scopes (403).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::*;
use hubspot_emulator::{
    CustomObjectDef, EmulatorConfig, FaultConfig, FaultKind, PropertyDef, StandardObject,
};
use serde_json::{Value, json};

fn cars() -> CustomObjectDef {
    CustomObjectDef::new("2-123", "p_2418337_cars")
        .with_property(PropertyDef::string("vin").unique())
        .with_property(PropertyDef::string("model"))
        .with_property(PropertyDef::number("year"))
}

fn with_objects() -> EmulatorConfig {
    config()
        .with_custom_object(cars())
        .with_object_property(
            StandardObject::Contacts,
            PropertyDef::string(ID_PROP).unique(),
        )
        .with_object_property(
            StandardObject::Deals,
            PropertyDef::string("external_deal_id").unique(),
        )
}

fn contact(email: &str, trace: Option<&str>, properties: Value) -> Value {
    input_by("email", email, trace, properties)
}

#[tokio::test]
async fn the_same_id_in_tickets_and_contacts_makes_two_records() {
    let emu = start(with_objects()).await;
    let body = batch(vec![input("SAME-1", None, json!({}))]);
    let t = post_at(&emu, "v3", "tickets", TOKEN, &body).await;
    let c = post_at(&emu, "v3", "contacts", TOKEN, &body).await;
    assert_eq!((t.status, c.status), (200, 200), "{} {}", t.text, c.text);
    assert_eq!(t.json()["results"][0]["new"], true);
    assert_eq!(
        c.json()["results"][0]["new"],
        true,
        "contacts has its own store"
    );
    assert_eq!(emu.tickets().count(), 1);
    let contacts = emu.store_for("contacts").unwrap();
    assert_eq!(contacts.count(), 1);
    assert_eq!(contacts.object_type(), "contacts");
    assert!(contacts.get_by_unique(ID_PROP, "SAME-1").is_some());
    assert_eq!(emu.stats().records_created, 2);
}

#[tokio::test]
async fn contacts_upsert_by_email_create_then_update() {
    let emu = start(config()).await;
    let r = post_at(
        &emu,
        "2026-03",
        "contacts",
        TOKEN,
        &batch(vec![contact(
            "ann@example.com",
            Some("c1"),
            json!({"firstname": "Ann", "lifecyclestage": "lead"}),
        )]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let first = &r.json()["results"][0];
    assert_eq!(first["new"], true);
    assert_eq!(first["properties"]["email"], "ann@example.com");
    assert_eq!(first["properties"]["firstname"], "Ann");
    assert!(
        is_iso_ms(&first["properties"]["lastmodifieddate"]),
        "{first}"
    );
    let id = first["id"].as_str().unwrap().to_owned();
    assert!(
        first["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/record/0-1/{id}")),
        "{first}"
    );

    let r = post_at(
        &emu,
        "v3",
        "0-1",
        TOKEN,
        &batch(vec![contact(
            "ann@example.com",
            None,
            json!({"lastname": "Lee", "lifecyclestage": "customer"}),
        )]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let second = &r.json()["results"][0];
    assert_eq!(second["new"], false);
    assert_eq!(second["id"], id.as_str());
    let stored = emu
        .store_for("0-1")
        .unwrap()
        .get_by_unique("email", "ann@example.com")
        .unwrap();
    assert_eq!(stored.properties["firstname"], "Ann");
    assert_eq!(stored.properties["lastname"], "Lee");
    assert_eq!(stored.properties["lifecyclestage"], "customer");
    assert_eq!(emu.store_for("contacts").unwrap().count(), 1);
}

#[tokio::test]
async fn companies_cannot_upsert_by_domain_and_deals_need_a_unique_property() {
    let emu = start(with_objects()).await;
    let r = post_at(
        &emu,
        "v3",
        "companies",
        TOKEN,
        &batch(vec![input_by(
            "domain",
            "example.com",
            None,
            json!({"name": "Example"}),
        )]),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.json()["message"].as_str().unwrap().contains("non-unique"),
        "{}",
        r.text
    );
    let r = post_at(
        &emu,
        "v3",
        "deals",
        TOKEN,
        &batch(vec![input_by(
            "external_deal_id",
            "D-1",
            Some("d"),
            json!({"dealname": "Big one", "amount": "1000.50", "dealstage": "qualifiedtobuy"}),
        )]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.json()["results"][0]["url"]
            .as_str()
            .unwrap()
            .contains("/record/0-3/")
    );
    let r = post_at(
        &emu,
        "v3",
        "0-3",
        TOKEN,
        &batch(vec![input_by(
            "external_deal_id",
            "D-2",
            Some("d"),
            json!({"amount": "lots"}),
        )]),
    )
    .await;
    assert_eq!(r.status, 207, "{}", r.text);
    assert_eq!(
        r.json()["errors"][0]["subCategory"]["reason"],
        "INVALID_NUMBER"
    );
}

#[tokio::test]
async fn a_custom_object_is_the_same_store_by_id_and_by_name() {
    let emu = start(with_objects()).await;
    let car = |model: &str| {
        batch(vec![input_by(
            "vin",
            "VIN-1",
            None,
            json!({"model": model}),
        )])
    };
    let r = post_at(&emu, "v3", "2-123", TOKEN, &car("Model T")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let result = &r.json()["results"][0];
    assert_eq!(result["new"], true);
    assert!(
        is_iso_ms(&result["properties"]["hs_createdate"]),
        "{result}"
    );
    let id = result["id"].as_str().unwrap().to_owned();
    assert!(
        result["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/record/2-123/{id}"))
    );
    for (version, name) in [("2026-03", "p_2418337_cars"), ("2026-09", "p2418337_cars")] {
        let r = post_at(&emu, version, name, TOKEN, &car(name)).await;
        assert_eq!(r.status, 200, "{name}: {}", r.text);
        assert_eq!(r.json()["results"][0]["new"], false, "{name}");
        assert_eq!(r.json()["results"][0]["id"], id.as_str());
    }
    let store = emu.store_for("p_2418337_cars").unwrap();
    assert_eq!(store.count(), 1);
    assert_eq!(store.object_type_id(), "2-123");
    assert_eq!(
        emu.store_for("2-123")
            .unwrap()
            .get_by_unique("vin", "VIN-1")
            .unwrap()
            .properties["model"],
        "p2418337_cars"
    );
    assert!(emu.store_for("2-999").is_none());
    // The store's own schema: ticket properties are unknown there.
    let r = post_at(
        &emu,
        "v3",
        "2-123",
        TOKEN,
        &batch(vec![input_by(
            "vin",
            "VIN-2",
            Some("t"),
            json!({"subject": "x"}),
        )]),
    )
    .await;
    assert_eq!(r.status, 207, "{}", r.text);
    assert_eq!(
        r.json()["errors"][0]["subCategory"]["reason"],
        "PROPERTY_DOESNT_EXIST"
    );
}

#[tokio::test]
async fn an_unknown_object_type_is_a_400_naming_no_input() {
    let emu = start(with_objects()).await;
    for (version, object_type) in [("v3", "foo"), ("2026-09", "2-999"), ("2026-03", "0-9")] {
        let r = post_at(&emu, version, object_type, TOKEN, &traced_batch("X", 2)).await;
        assert_eq!(r.status, 400, "{object_type}: {}", r.text);
        let v = r.json();
        assert_eq!(v["category"], "VALIDATION_ERROR");
        assert_eq!(
            v["message"],
            format!("Unable to infer object type from: {object_type}")
        );
        assert!(is_uuid(&v["correlationId"]));
        assert!(
            v.get("context").is_none() && v.get("errors").is_none(),
            "{v}"
        );
    }
    // Auth comes first.
    let r = post_at(&emu, "v3", "foo", "wrong-token", &traced_batch("X", 1)).await;
    assert_eq!(r.status, 401);
    let log = emu.stats().request_log;
    assert_eq!(log[0].object_type, "foo");
    assert_eq!(log[0].status, Some(400));
}

#[tokio::test]
async fn a_token_without_the_scope_gets_hubspots_403() {
    let emu = start(
        with_objects()
            .with_token_scopes("tickets-only", ["tickets"])
            .with_token_scopes(
                "crm",
                ["crm.objects.contacts.write", "crm.objects.custom.write"],
            ),
    )
    .await;
    let ticket = traced_batch("S", 1);
    let contact_body = batch(vec![contact("s@example.com", None, json!({}))]);
    let car = batch(vec![input_by("vin", "V", None, json!({}))]);

    assert_eq!(
        post_at(&emu, "v3", "tickets", "tickets-only", &ticket)
            .await
            .status,
        200
    );
    let r = post_at(&emu, "2026-09", "contacts", "tickets-only", &contact_body).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let v = r.json();
    assert_eq!(v["status"], "error");
    assert_eq!(v["category"], "MISSING_SCOPES");
    assert_eq!(
        v["message"],
        "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes."
    );
    assert!(is_uuid(&v["correlationId"]));
    assert_eq!(
        v["errors"],
        json!([{"message": "One or more of the following scopes are required.",
            "context": {"requiredGranularScopes": ["crm.objects.contacts.write"]}}])
    );
    assert_eq!(
        v["links"],
        json!({"scopes": "https://developers.hubspot.com/scopes"})
    );
    let r = post_at(&emu, "v3", "p_2418337_cars", "tickets-only", &car).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json()["errors"][0]["context"]["requiredGranularScopes"],
        json!(["crm.objects.custom.write"])
    );
    let r = post_at(&emu, "v3", "deals", "crm", &batch(vec![])).await;
    assert_eq!(
        r.json()["errors"][0]["context"]["requiredGranularScopes"],
        json!(["crm.objects.deals.write"])
    );

    assert_eq!(
        post_at(&emu, "v3", "contacts", "crm", &contact_body)
            .await
            .status,
        200
    );
    assert_eq!(post_at(&emu, "v3", "2-123", "crm", &car).await.status, 200);
    assert_eq!(
        post_at(&emu, "v3", "tickets", "crm", &ticket).await.status,
        403
    );
    // The object type is checked before the scope; unscoped tokens write everything.
    assert_eq!(post_at(&emu, "v3", "nope", "crm", &car).await.status, 400);
    assert_eq!(
        post_at(&emu, "v3", "deals", TOKEN, &batch(vec![]))
            .await
            .status,
        200
    );
    // Nothing was written by the refused requests.
    assert_eq!(emu.tickets().count(), 1);
    assert_eq!(emu.store_for("contacts").unwrap().count(), 1);
    assert_eq!(emu.stats().responses(403), 4);
}

#[tokio::test]
async fn rate_limits_come_before_the_object_type_and_scope_checks() {
    use hubspot_emulator::RateLimitConfig;
    use std::time::Duration;
    let emu = start(
        EmulatorConfig::default()
            .with_rate_limit(RateLimitConfig::per_window(1, Duration::from_secs(120)))
            .with_token_scopes("t", ["tickets"]),
    )
    .await;
    let r = post_at(&emu, "v3", "foo", "t", &traced_batch("L", 1)).await;
    assert_eq!(r.status, 400, "counted against the limit, then refused");
    assert_eq!(r.header_u64("x-hubspot-ratelimit-remaining"), Some(0));
    let r = post_at(&emu, "v3", "contacts", "t", &traced_batch("L", 1)).await;
    assert_eq!(r.status, 429);
}

#[tokio::test]
async fn faults_and_duplicate_detection_apply_to_every_object_type() {
    let emu = start(
        with_objects().with_faults(FaultConfig::none(3).with(FaultKind::CloseAfterWrite, 1.0)),
    )
    .await;
    let body = batch(vec![contact("f@example.com", None, json!({}))]);
    let url = emu.upsert_url_for("2026-09", "contacts");
    let err = post_to(
        &client(),
        &url,
        Some(TOKEN),
        serde_json::to_vec(&body).unwrap(),
    )
    .await;
    assert!(err.is_err(), "connection dropped after the write");
    assert_eq!(emu.store_for("contacts").unwrap().count(), 1);
    assert_eq!(emu.stats().fault_count(FaultKind::CloseAfterWrite), 1);

    // Seeding the same email twice through the store is refused; the duplicate counter
    // names the object type.
    let contacts = emu.store_for("contacts").unwrap();
    assert!(contacts.insert([("email", "f@example.com")]).is_err());
    assert!(emu.stats().duplicate_creates.is_empty());
}

#[tokio::test]
async fn admin_routes_serve_every_object_type() {
    let emu = start(with_objects()).await;
    post_at(
        &emu,
        "v3",
        "contacts",
        TOKEN,
        &batch(vec![contact("a@example.com", None, json!({}))]),
    )
    .await;
    let (status, types) = admin_get(&emu, "/__emulator/objects").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = types
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "tickets",
            "contacts",
            "companies",
            "deals",
            "p_2418337_cars"
        ]
    );
    assert_eq!(types[1]["count"], 1);
    assert_eq!(types[1]["requiredScope"], "crm.objects.contacts.write");

    let (status, v) = admin_get(&emu, "/__emulator/objects/0-1/count").await;
    assert_eq!((status, &v), (200, &json!({"count": 1})));
    let (status, v) = admin_get(&emu, "/__emulator/objects/contacts/by/email/a@example.com").await;
    assert_eq!(status, 200);
    let id = v["objectId"].as_u64().unwrap();
    let (status, _) = admin_get(&emu, &format!("/__emulator/objects/contacts/{id}")).await;
    assert_eq!(status, 200);
    let (status, list) = admin_get(&emu, "/__emulator/objects/contacts").await;
    assert_eq!((status, list.as_array().unwrap().len()), (200, 1));
    let (status, props) = admin_get(&emu, "/__emulator/objects/p_2418337_cars/properties").await;
    assert_eq!(status, 200);
    assert!(
        props
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "vin" && p["unique"] == true)
    );
    let (status, _) = admin_get(&emu, "/__emulator/objects/foo/count").await;
    assert_eq!(status, 404);

    let r = client()
        .post(format!("{}/__emulator/objects/2-123", emu.base_url()))
        .json(&json!({"properties": {"vin": "SEED-1", "year": "1999"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(emu.store_for("2-123").unwrap().count(), 1);
    // The tickets routes still show tickets only.
    let (_, v) = admin_get(&emu, "/__emulator/tickets/count").await;
    assert_eq!(v, json!({"count": 0}));
}

#[tokio::test]
async fn bad_custom_objects_are_refused_at_start() {
    let start_err = |c: EmulatorConfig| async move {
        hubspot_emulator::Emulator::start(c)
            .await
            .unwrap_err()
            .to_string()
    };
    let err = start_err(config().with_custom_object(CustomObjectDef::new("2-1", "p_1_x"))).await;
    assert!(err.contains("no unique property"), "{err}");
    let err = start_err(config().with_custom_object(cars()).with_custom_object(
        CustomObjectDef::new("2-124", "p2418337_cars").with_unique_property("k"),
    ))
    .await;
    assert!(err.contains("share an id or a name"), "{err}");
    let err = start_err(
        config().with_custom_object(
            CustomObjectDef::new("2-1", "p_1_x")
                .with_property(PropertyDef::string("hs_createdate").unique()),
        ),
    )
    .await;
    assert!(
        err.contains("hs_createdate") && err.contains("read-only"),
        "{err}"
    );
    let err = start_err(config().with_object_property(
        StandardObject::Contacts,
        PropertyDef::string("lastmodifieddate"),
    ))
    .await;
    assert!(err.contains("lastmodifieddate"), "{err}");
}
