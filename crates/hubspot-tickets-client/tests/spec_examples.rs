//! The spec's examples, and the wire quirks HubSpot is known for, decode into the
//! generated types. If a spec edit makes an example undecodable, this fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use hubspot_tickets_client::types::{
    ApiError, TicketUpsertBatch, TicketUpsertBatchResult, UpsertBatchResult202609,
};
use serde_json::{Value, json};

fn spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../spec/openapi.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

fn example(name: &str) -> Value {
    spec()["components"]["examples"][name]["value"].clone()
}

fn request_example(name: &str) -> Value {
    spec()["components"]["requestBodies"]["UpsertBatch"]["content"]["application/json"]["examples"]
        [name]["value"]
        .clone()
}

/// Every operation of every version, as (path, operation); GET (the properties
/// operations) and POST are the methods the spec uses.
fn operations(spec: &Value) -> Vec<(String, Value)> {
    spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            ["get", "post"]
                .into_iter()
                .filter_map(|m| item.get(m).map(|op| (path.clone(), op.clone())))
        })
        .collect()
}

/// The schema name a `$ref`-ed response of `op` declares for `status`.
fn response_schema(spec: &Value, op: &Value, status: &str) -> Option<String> {
    let reference = op["responses"][status]["$ref"].as_str()?;
    let name = reference.strip_prefix("#/components/responses/").unwrap();
    let schema =
        spec["components"]["responses"][name]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap();
    Some(schema.rsplit('/').next().unwrap().to_owned())
}

#[test]
fn request_example_decodes_and_round_trips() {
    let value = request_example("twoTickets");
    let body: TicketUpsertBatch = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(body.inputs.len(), 2);
    assert_eq!(
        body.inputs[0].id_property.as_deref(),
        Some("external_ticket_id")
    );
    assert_eq!(body.inputs[1].properties["closed_date"], "1732752000000");
    assert_eq!(serde_json::to_value(&body).unwrap(), value);
}

#[test]
fn contact_request_example_uses_the_built_in_unique_email() {
    let value = request_example("oneContact");
    let body: TicketUpsertBatch = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(body.inputs[0].id_property.as_deref(), Some("email"));
    assert_eq!(body.inputs[0].id, "ada@example.com");
    assert_eq!(serde_json::to_value(&body).unwrap(), value);
}

/// Each version's success schema, read from the spec's paths: v3 and 2026-03 answer
/// 200/207 with `TicketUpsertBatchResult`; 2026-09 and later dated paths answer 200 with
/// `UpsertBatchResult2026_09`. A new operation must be added here (and so get a test).
#[test]
fn every_operation_has_the_success_schema_of_its_version() {
    let spec = spec();
    let ops = operations(&spec);
    let expected = [
        ("batch_upsert_tickets", "TicketUpsertBatchResult", true),
        ("batch_upsert_objects", "TicketUpsertBatchResult", true),
        (
            "batch_upsert_tickets_2026_03",
            "TicketUpsertBatchResult",
            true,
        ),
        (
            "batch_upsert_objects_2026_03",
            "TicketUpsertBatchResult",
            true,
        ),
        (
            "batch_upsert_objects_2026_09",
            "UpsertBatchResult2026_09",
            false,
        ),
        (
            "batch_upsert_objects_dated",
            "UpsertBatchResult2026_09",
            false,
        ),
    ];
    // The OAuth token and properties operations: their own success schemas (tested below).
    let ops: Vec<_> = ops
        .into_iter()
        .filter(|(_, op)| {
            ![
                "refresh_access_token_2026_03",
                "list_properties",
                "list_properties_2026_03",
            ]
            .contains(&op["operationId"].as_str().unwrap_or_default())
        })
        .collect();
    assert_eq!(ops.len(), expected.len(), "an operation without a test");
    for (path, op) in &ops {
        let id = op["operationId"].as_str().unwrap();
        let (_, schema, has_207) = expected
            .iter()
            .find(|(name, ..)| *name == id)
            .unwrap_or_else(|| panic!("operation {id} ({path}) has no expected shape"));
        for status in ["200", "2XX"] {
            assert_eq!(response_schema(&spec, op, status).as_deref(), Some(*schema));
        }
        assert_eq!(
            response_schema(&spec, op, "207").is_some(),
            *has_207,
            "{id}"
        );
        for status in ["4XX", "5XX"] {
            assert_eq!(
                response_schema(&spec, op, status).as_deref(),
                Some("ApiError")
            );
        }
        let body = op["requestBody"]["$ref"].as_str().unwrap();
        assert_eq!(body, "#/components/requestBodies/UpsertBatch", "{id}");
    }
}

#[test]
fn folded_2026_09_example_carries_errors_in_the_200_body() {
    let body: UpsertBatchResult202609 =
        serde_json::from_value(example("FoldedPartialFailure")).unwrap();
    assert_eq!(body.num_errors, Some(1));
    assert_eq!(body.results.len(), 1);
    assert!(body.results[0].new);
    assert!(body.results[0].url.as_deref().unwrap().contains("/0-1/"));
    assert_eq!(body.errors[0].context["id"], ["grace@example.com"]);
    // A 2026-09 body that (against its documentation) still carries `warnings`, or none
    // of `errors`/`numErrors`, decodes too: unknown fields are ignored.
    let mut value = example("CreatedAndUpdated");
    value["brandNewEnvelopeField"] = json!(1);
    let body: UpsertBatchResult202609 = serde_json::from_value(value).unwrap();
    assert!(body.errors.is_empty() && body.num_errors.is_none());
    assert_eq!(body.results.len(), 2);
}

#[test]
fn ok_example_with_null_requested_at_url_and_warnings() {
    let body: TicketUpsertBatchResult =
        serde_json::from_value(example("CreatedAndUpdated")).unwrap();
    assert_eq!(body.status, "COMPLETE");
    assert_eq!(body.requested_at, None);
    assert!(body.errors.is_empty() && body.num_errors.is_none());
    let created = &body.results[0];
    assert!(created.new);
    assert_eq!(created.id, "91422310517");
    assert_eq!(created.created_at.timestamp_millis(), 1_795_857_243_311);
    assert!(created.url.as_deref().unwrap().ends_with("/91422310517"));
    let updated = &body.results[1];
    assert!(!updated.new);
    assert_eq!(
        updated.warnings[0].category.as_deref(),
        Some("PROPERTY_VALUE_TRUNCATED")
    );
    assert_eq!(updated.warnings[0].context["property"], "subject");
    // HubSpot sends null property values despite the string typing.
    assert_eq!(updated.properties.get("hs_ticket_priority"), Some(None));
}

#[test]
fn partial_failure_example_keeps_errors() {
    let body: TicketUpsertBatchResult = serde_json::from_value(example("PartialFailure")).unwrap();
    assert_eq!(body.num_errors, Some(1));
    assert_eq!(body.results.len(), 1);
    let err = &body.errors[0];
    assert_eq!(err.category.as_deref(), Some("VALIDATION_ERROR"));
    assert_eq!(
        err.context["objectWriteTraceId"],
        ["8e0b7d52-0c61-4b0e-9d8e-6f3a4c2d1e90"]
    );
    assert_eq!(err.context["id"], ["ZD-48214"]);
}

#[test]
fn all_failed_207_with_empty_results_and_object_subcategory() {
    let body: TicketUpsertBatchResult = serde_json::from_value(example("AllFailed")).unwrap();
    assert!(body.results.is_empty());
    assert_eq!(
        body.errors[0].sub_category,
        Some(json!({"reason": "PROPERTY_DOESNT_EXIST"}))
    );
}

#[test]
fn error_bodies_decode_including_unknown_fields_and_429s() {
    let validation: ApiError = serde_json::from_value(example("ValidationError")).unwrap();
    assert_eq!(validation.category.as_deref(), Some("VALIDATION_ERROR"));
    assert_eq!(
        validation.correlation_id.unwrap().to_string(),
        "6c0b3f55-1e9a-4c5d-b0c2-7f3d2a1e9b84"
    );
    let auth: ApiError = serde_json::from_value(example("AuthError")).unwrap();
    assert_eq!(auth.category.as_deref(), Some("INVALID_AUTHENTICATION"));
    let ten: ApiError = serde_json::from_value(example("TenSecondlyLimit")).unwrap();
    assert_eq!(ten.category, None);
    assert_eq!(ten.error_type.as_deref(), Some("RATE_LIMIT"));
    assert_eq!(ten.policy_name.as_deref(), Some("TEN_SECONDLY_ROLLING"));
    let daily: ApiError = serde_json::from_value(example("DailyLimit")).unwrap();
    assert_eq!(daily.policy_name.as_deref(), Some("DAILY"));
    let scopes: ApiError = serde_json::from_value(example("MissingScopes")).unwrap();
    assert_eq!(scopes.category.as_deref(), Some("MISSING_SCOPES"));
    assert_eq!(
        scopes.errors[0].context["requiredGranularScopes"],
        ["crm.objects.contacts.write"]
    );
    let internal: ApiError = serde_json::from_value(example("InternalError")).unwrap();
    assert_eq!(internal.message.as_deref(), Some("internal error"));
    // An empty object is a valid (if useless) error body.
    let empty: ApiError = serde_json::from_value(json!({})).unwrap();
    assert_eq!(empty, ApiError::default());
}

#[test]
fn unknown_status_values_and_fields_do_not_break_decoding() {
    let mut value = example("CreatedAndUpdated");
    value["status"] = json!("SOMETHING_NEW");
    value["brandNewEnvelopeField"] = json!({"nested": [1, 2]});
    value["results"][0]["brandNewResultField"] = json!(true);
    let body: TicketUpsertBatchResult = serde_json::from_value(value).unwrap();
    assert_eq!(body.status, "SOMETHING_NEW");
}

#[test]
fn every_example_in_the_spec_is_tested() {
    let names: Vec<String> = spec()["components"]["examples"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let tested = [
        "CreatedAndUpdated",
        "PartialFailure",
        "AllFailed",
        "FoldedPartialFailure",
        "MissingScopes",
        "ValidationError",
        "AuthError",
        "TenSecondlyLimit",
        "DailyLimit",
        "InternalError",
        "TokenGrantSnakeCase",
        "TokenGrantCamelCase",
        "BadRefreshToken",
        "ExpiredToken",
        "TicketProperties",
    ];
    for name in &names {
        assert!(
            tested.contains(&name.as_str()),
            "example {name} is not decoded by a test"
        );
    }
}

/// The token operation: form-encoded refresh grant in, a token grant in either
/// spelling out, refusals as `ApiError`; the examples decode, and secrets never print.
#[test]
fn the_token_operation_and_its_examples() {
    use hubspot_tickets_client::oauth::{TokenGrant, TokenRefreshForm};
    let spec = spec();
    let op = &spec["paths"]["/oauth/2026-03/token"]["post"];
    assert_eq!(op["operationId"], "refresh_access_token_2026_03");
    assert_eq!(op["security"], json!([]));
    assert!(op["requestBody"]["content"]["application/x-www-form-urlencoded"].is_object());
    for status in ["200", "2XX"] {
        let name = op["responses"][status]["$ref"].as_str().unwrap();
        assert_eq!(name, "#/components/responses/TokenGranted");
    }
    for (name, token, expires) in [
        ("TokenGrantSnakeCase", "emu-at-7d41c2a9", 1800),
        ("TokenGrantCamelCase", "emu-at-0e5a8b13", 1800),
    ] {
        let grant: TokenGrant = serde_json::from_value(example(name)).unwrap();
        assert_eq!(grant.access_token(), Some(token), "{name}");
        assert_eq!(grant.expires_in(), Some(expires), "{name}");
        assert_eq!(grant.refresh_token(), Some("emu-rt-3b90f1e6"), "{name}");
        assert!(!format!("{grant:?}").contains(token));
    }
    for name in ["BadRefreshToken", "ExpiredToken"] {
        let e: ApiError = serde_json::from_value(example(name)).unwrap();
        assert!(e.message.is_some(), "{name}");
    }
    let e: ApiError = serde_json::from_value(example("ExpiredToken")).unwrap();
    assert_eq!(e.category.as_deref(), Some("EXPIRED_AUTHENTICATION"));
    // The form's fields (progenitor sends them form-encoded; the facade's tests read
    // the wire), with its secrets out of `Debug`.
    let form = TokenRefreshForm::new("app id", "secret&1", "rt=2");
    let value = serde_json::to_value(&form).unwrap();
    assert_eq!(
        value,
        json!({"grant_type": "refresh_token", "client_id": "app id",
               "client_secret": "secret&1", "refresh_token": "rt=2"})
    );
    let shown = format!("{form:?}");
    assert!(
        !shown.contains("secret&1") && !shown.contains("rt=2"),
        "{shown}"
    );
}

/// The properties operations (v3 and 2026-03): a GET per object type answered by a
/// `PropertyList`; the example decodes with what a preflight reads (unique, enumeration
/// options' values and labels, read-only and calculated), and a definition missing
/// HubSpot's other fields or carrying new ones still decodes.
#[test]
fn the_properties_operations_and_their_example() {
    use hubspot_tickets_client::types::PropertyList;
    let spec = spec();
    for (path, id) in [
        ("/crm/v3/properties/{objectType}", "list_properties"),
        (
            "/crm/properties/2026-03/{objectType}",
            "list_properties_2026_03",
        ),
    ] {
        let op = &spec["paths"][path]["get"];
        assert_eq!(op["operationId"], id);
        for status in ["200", "2XX"] {
            assert_eq!(
                response_schema(&spec, op, status).as_deref(),
                Some("PropertyList"),
                "{id}"
            );
        }
        for status in ["4XX", "5XX"] {
            assert_eq!(
                response_schema(&spec, op, status).as_deref(),
                Some("ApiError")
            );
        }
    }
    let list: PropertyList = serde_json::from_value(example("TicketProperties")).unwrap();
    let by_name = |n: &str| list.results.iter().find(|p| p.name == n).unwrap();
    assert_eq!(by_name("external_ticket_id").has_unique_value, Some(true));
    let priority = by_name("hs_ticket_priority");
    assert_eq!(priority.type_.as_deref(), Some("enumeration"));
    let options: Vec<_> = priority
        .options
        .iter()
        .map(|o| (o.value.as_str(), o.label.as_deref()))
        .collect();
    assert_eq!(
        options,
        [
            ("LOW", Some("Low")),
            ("MEDIUM", Some("Medium")),
            ("HIGH", Some("High"))
        ]
    );
    let id = by_name("hs_object_id");
    assert_eq!(
        id.modification_metadata
            .as_ref()
            .and_then(|m| m.read_only_value),
        Some(true)
    );
    assert_eq!(by_name("time_to_close_days").calculated, Some(true));
    let owner = by_name("hubspot_owner_id");
    assert_eq!(owner.external_options, Some(true));
    assert_eq!(owner.referenced_object_type.as_deref(), Some("OWNER"));
    assert!(owner.options.is_empty());
    let sparse: PropertyList = serde_json::from_value(json!({
        "results": [{"name": "x", "brandNewField": {"a": 1}}],
        "paging": {"next": {"after": "1"}}
    }))
    .unwrap();
    assert_eq!(sparse.results[0].type_, None);
    assert!(sparse.results[0].options.is_empty());
}
