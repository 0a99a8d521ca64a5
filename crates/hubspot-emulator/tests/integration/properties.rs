//! The properties operation: every object type's definitions, served from the schema
//! the upsert path validates against, so what the list says can be written is what a
//! write accepts (and what it says cannot, a write refuses).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::*;
use hubspot_emulator::{CustomObjectDef, EmulatorConfig, PropertyDef, StandardObject};
use serde_json::{Value, json};

async fn get(emu: &hubspot_emulator::Emulator, path: &str, token: Option<&str>) -> Reply {
    let mut request = client().get(format!("{}{path}", emu.base_url()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).ok();
    Reply {
        status,
        headers,
        text,
        json,
    }
}

fn find<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not listed"))
}

#[tokio::test]
async fn tickets_list_their_definitions_in_v3_and_2026_03() {
    let emu = start(
        config().with_property(
            PropertyDef::enumeration("tier", ["gold", "std"])
                .with_option_labels([("gold", "Gold tier")]),
        ),
    )
    .await;
    let v3 = get(&emu, "/crm/v3/properties/tickets", Some(TOKEN)).await;
    assert_eq!(v3.status, 200, "{}", v3.text);
    let dated = get(&emu, "/crm/properties/2026-03/0-5", Some(TOKEN)).await;
    assert_eq!(dated.status, 200, "{}", dated.text);
    assert_eq!(
        v3.json(),
        dated.json(),
        "the id and the name list the same schema"
    );
    let list = v3.json();
    assert_eq!(find(list, ID_PROP)["hasUniqueValue"], true);
    let object_id = find(list, "hs_object_id");
    assert_eq!(object_id["hasUniqueValue"], false);
    assert_eq!(object_id["modificationMetadata"]["readOnlyValue"], true);
    assert_eq!(find(list, "time_to_close")["calculated"], true);
    let tier = find(list, "tier");
    assert_eq!(
        tier["options"],
        json!([
            {"label": "Gold tier", "value": "gold", "displayOrder": 0, "hidden": false},
            {"label": "Std", "value": "std", "displayOrder": 1, "hidden": false},
        ])
    );
    let unknown = get(&emu, "/crm/properties/2031-03/tickets", Some(TOKEN)).await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn other_object_types_list_their_own_schema() {
    let emu = start(
        config()
            .with_object_property(
                StandardObject::Deals,
                PropertyDef::string("external_deal_id").unique(),
            )
            .with_custom_object(
                CustomObjectDef::new("2-123", "p_2418337_cars")
                    .with_property(PropertyDef::string("vin").unique()),
            ),
    )
    .await;
    let contacts = get(&emu, "/crm/v3/properties/contacts", Some(TOKEN)).await;
    assert_eq!(find(contacts.json(), "email")["hasUniqueValue"], true);
    let deals = get(&emu, "/crm/v3/properties/0-3", Some(TOKEN)).await;
    assert_eq!(
        find(deals.json(), "external_deal_id")["hasUniqueValue"],
        true
    );
    assert_eq!(find(deals.json(), "dealname")["hasUniqueValue"], false);
    for object in ["2-123", "p_2418337_cars"] {
        let cars = get(&emu, &format!("/crm/v3/properties/{object}"), Some(TOKEN)).await;
        assert_eq!(cars.status, 200, "{object}");
        assert_eq!(find(cars.json(), "vin")["hasUniqueValue"], true);
    }
    let unknown = get(&emu, "/crm/v3/properties/bicycles", Some(TOKEN)).await;
    assert_eq!(unknown.status, 400);
}

/// A 401 without a token, and the 403 a preflight reports as "skipped" for a token
/// without the object type's scope.
#[tokio::test]
async fn tokens_and_scopes_are_checked_like_a_write() {
    let emu =
        start(config().with_token_scopes("contacts-only", ["crm.objects.contacts.write"])).await;
    let none = get(&emu, "/crm/v3/properties/tickets", None).await;
    assert_eq!(none.status, 401);
    let scoped = get(&emu, "/crm/v3/properties/tickets", Some("contacts-only")).await;
    assert_eq!(scoped.status, 403);
    assert_eq!(scoped.json()["category"], "MISSING_SCOPES");
    let ok = get(&emu, "/crm/v3/properties/contacts", Some("contacts-only")).await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn reads_count_against_the_rate_limit_window() {
    let emu = start(EmulatorConfig::default().with_rate_limit(
        hubspot_emulator::RateLimitConfig::per_window(2, std::time::Duration::from_secs(60)),
    ))
    .await;
    let first = get(&emu, "/crm/v3/properties/tickets", Some(TOKEN)).await;
    assert_eq!(first.header_u64("x-hubspot-ratelimit-remaining"), Some(1));
    let _ = get(&emu, "/crm/v3/properties/tickets", Some(TOKEN)).await;
    let third = get(&emu, "/crm/v3/properties/tickets", Some(TOKEN)).await;
    assert_eq!(third.status, 429);
}

/// What the list says about writability and options is what a write does: read-only
/// and calculated properties are refused, an option's label is refused where its value
/// is accepted.
#[tokio::test]
async fn the_list_agrees_with_what_a_write_accepts() {
    let emu = start(config()).await;
    let list = get(&emu, "/crm/v3/properties/tickets", Some(TOKEN)).await;
    let list = list.json();
    for p in list["results"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        if name == ID_PROP {
            continue;
        }
        let read_only =
            p["modificationMetadata"]["readOnlyValue"] == true || p["calculated"] == true;
        // A value of the right form for the type, so only writability decides.
        let value = match p["type"].as_str().unwrap() {
            "number" => "7",
            "bool" => "true",
            "date" => "2026-11-28",
            "datetime" => "2026-11-28T09:00:00Z",
            // Options from elsewhere (the owner): an owner id.
            "enumeration" if p["externalOptions"] == true => "52550153",
            "enumeration" => p["options"][0]["value"].as_str().unwrap(),
            _ => "text",
        };
        let body = batch(vec![input(
            &format!("W-{name}"),
            Some("t"),
            json!({ name: value }),
        )]);
        let r = post_at(&emu, "v3", "tickets", TOKEN, &body).await;
        let refused = r.json()["errors"].as_array().is_some_and(|e| !e.is_empty());
        assert_eq!(refused, read_only, "{name}: {}", r.text);
    }
    let priority = find(list, "hs_ticket_priority");
    let label = priority["options"][2]["label"].as_str().unwrap();
    let value = priority["options"][2]["value"].as_str().unwrap();
    assert_ne!(label, value);
    for (v, refused) in [(label, true), (value, false)] {
        let body = batch(vec![input(
            "P-1",
            Some("t"),
            json!({"hs_ticket_priority": v}),
        )]);
        let r = post_at(&emu, "v3", "tickets", TOKEN, &body).await;
        let errors = r.json()["errors"].as_array().is_some_and(|e| !e.is_empty());
        assert_eq!(errors, refused, "{v}: {}", r.text);
    }
}

/// `--property` gives labels (`VALUE=Label`), read-only and calculated properties.
#[tokio::test]
async fn property_flags_give_labels_read_only_and_calculated() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        args: hubspot_emulator::cli::EmulatorArgs,
    }
    let cmd = Cmd::try_parse_from([
        "emu",
        "--token",
        TOKEN,
        "--no-rate-limits",
        "--property",
        "tier:enumeration:gold=Gold tier,std",
        "--property",
        "legacy_ref:readonly",
        "--property",
        "score:calculated",
        "--port",
        "0",
    ])
    .unwrap();
    let emu = start(cmd.args.to_config().unwrap()).await;
    let list = get(&emu, "/crm/v3/properties/tickets", Some(TOKEN)).await;
    let list = list.json();
    assert_eq!(find(list, "tier")["options"][0]["label"], "Gold tier");
    assert_eq!(find(list, "tier")["options"][1]["value"], "std");
    assert_eq!(
        find(list, "legacy_ref")["modificationMetadata"]["readOnlyValue"],
        true
    );
    assert_eq!(find(list, "legacy_ref")["calculated"], false);
    assert_eq!(find(list, "score")["calculated"], true);
    assert_eq!(find(list, "score")["type"], "number");
}
