//! The properties operation (`GET /crm/v3/properties/{objectType}` and the dated
//! `GET /crm/properties/{version}/{objectType}`): every property definition of an object
//! type, rendered from the very schema the upsert path validates writes against, so a
//! client that checks records against this list before writing accepts exactly what the
//! emulator accepts.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::limiter::Admission;
use crate::properties::{PropertyDef, PropertyKind};
use crate::schema::Schema;
use crate::server::{
    Auth, JSON, Shared, authenticate, missing_scope, respond, too_many, unauthorized,
    unknown_object_type,
};
use crate::upsert::ApiErrorOut;

/// The v3 route.
pub const V3_PROPERTIES_ROUTE: &str = "/crm/v3/properties/{objectType}";
/// The dated route (HubSpot documents `2026-03`; any version the emulator serves answers).
pub const DATED_PROPERTIES_ROUTE: &str = "/crm/properties/{version}/{objectType}";

/// HubSpot's `type` and `fieldType` for a kind.
fn wire_types(kind: &PropertyKind) -> (&'static str, &'static str) {
    match kind {
        PropertyKind::String => ("string", "text"),
        PropertyKind::Number => ("number", "number"),
        PropertyKind::Bool => ("bool", "booleancheckbox"),
        PropertyKind::Enumeration(_) => ("enumeration", "select"),
        // Several options joined with `;`: HubSpot's multiple checkboxes.
        PropertyKind::Checkboxes(_) => ("enumeration", "checkbox"),
        PropertyKind::Date => ("date", "date"),
        PropertyKind::DateTime => ("datetime", "date"),
    }
}

/// One definition as HubSpot lists it.
pub(crate) fn definition_json(def: &PropertyDef, order: usize) -> Value {
    // HubSpot lists its owner property as an enumeration whose options come from the
    // account's users (`externalOptions`, no `options`); writes take an owner id,
    // which this emulator checks as a number.
    if def.name == "hubspot_owner_id" {
        return json!({
            "name": def.name,
            "label": def.display_label(),
            "type": "enumeration",
            "fieldType": "select",
            "groupName": "information",
            "description": "",
            "displayOrder": order,
            "options": [],
            "externalOptions": true,
            "referencedObjectType": "OWNER",
            "hasUniqueValue": false,
            "calculated": false,
            "hidden": false,
            "formField": true,
            "archived": false,
            "modificationMetadata": {
                "archivable": true,
                "readOnlyDefinition": true,
                "readOnlyValue": false,
                "readOnlyOptions": true,
            },
        });
    }
    let (kind, field_type) = wire_types(&def.kind);
    let options: Vec<Value> = match &def.kind {
        PropertyKind::Enumeration(values) | PropertyKind::Checkboxes(values) => values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                json!({
                    "label": def.option_label(v),
                    "value": v,
                    "displayOrder": i,
                    "hidden": false,
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    json!({
        "name": def.name,
        "label": def.display_label(),
        "type": kind,
        "fieldType": if def.calculated { "calculation_equation" } else { field_type },
        "groupName": "information",
        "description": "",
        "displayOrder": order,
        "options": options,
        "hasUniqueValue": def.unique,
        "calculated": def.calculated,
        "hidden": false,
        "formField": !def.read_only,
        "archived": false,
        "modificationMetadata": {
            "archivable": !def.read_only,
            "readOnlyDefinition": def.read_only,
            "readOnlyValue": def.read_only,
            "readOnlyOptions": def.read_only,
        },
    })
}

/// The whole answer for one schema: `{"results": [...]}`, in schema order.
pub(crate) fn list_json(schema: &Schema) -> Value {
    let results: Vec<Value> = schema
        .defs
        .iter()
        .enumerate()
        .map(|(i, d)| definition_json(d, i))
        .collect();
    json!({ "results": results })
}

pub(crate) async fn list_v3(
    State(s): State<Arc<Shared>>,
    Path(object_type): Path<String>,
    headers: HeaderMap,
) -> Response {
    list(&s, &headers, &object_type)
}

pub(crate) async fn list_dated(
    State(s): State<Arc<Shared>>,
    Path((version, object_type)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if !s.config.api_versions.contains_key(&version) {
        let correlation = Uuid::new_v4();
        let message = format!("Unknown API version {version:?} for the properties API");
        let body = ApiErrorOut::new(&message, correlation, "OBJECT_NOT_FOUND").to_vec();
        return respond(404, JSON, body, Default::default(), correlation);
    }
    list(&s, &headers, &object_type)
}

/// Authentication, the rate-limit window (a read counts like any call at HubSpot),
/// the object type, then its scope, as for the upsert; injected faults stand for the
/// write path and are not drawn here.
fn list(s: &Shared, headers: &HeaderMap, object_type: &str) -> Response {
    let correlation = Uuid::new_v4();
    let (token, window) = match authenticate(&s.config, &s.oauth, headers) {
        Auth::Ok(token, window) => (token, window),
        other => return unauthorized(&other, correlation),
    };
    let admission = {
        let mut c = s.control();
        c.limiter
            .admit(&window, Instant::now(), Utc::now().timestamp_millis())
    };
    let rl = admission.headers();
    if let Admission::Limited {
        policy,
        retry_after,
        ..
    } = admission
    {
        return too_many(policy, retry_after, rl, s.config.portal_id, correlation);
    }
    let Some(entry) = s.objects.resolve(object_type) else {
        return unknown_object_type(object_type, rl, correlation);
    };
    if !s.config.token_has_scope(token, entry.scope) {
        return missing_scope(entry.scope, rl, correlation);
    }
    match serde_json::to_vec(&list_json(&entry.schema)) {
        Ok(body) => respond(200, JSON, body, rl, correlation),
        Err(_) => respond(500, JSON, Vec::new(), rl, correlation),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::config::EmulatorConfig;
    use crate::object_types::StandardObject;

    #[test]
    fn tickets_list_carries_what_a_preflight_reads() {
        let schema = Schema::standard(&EmulatorConfig::default(), StandardObject::Tickets).unwrap();
        let list = list_json(&schema);
        let results = list["results"].as_array().unwrap();
        assert_eq!(results.len(), schema.len());
        let by_name = |n: &str| results.iter().find(|p| p["name"] == n).unwrap();
        assert_eq!(by_name("external_ticket_id")["hasUniqueValue"], true);
        let id = by_name("hs_object_id");
        assert_eq!(id["modificationMetadata"]["readOnlyValue"], true);
        assert_eq!(id["hasUniqueValue"], false);
        let calc = by_name("time_to_close");
        assert_eq!(calc["calculated"], true);
        assert_eq!(calc["modificationMetadata"]["readOnlyValue"], true);
        let stage = by_name("hs_pipeline_stage");
        assert_eq!(stage["type"], "enumeration");
        assert_eq!(stage["label"], "Ticket status");
        assert_eq!(
            stage["options"][3],
            json!({"label": "Closed", "value": "4", "displayOrder": 3, "hidden": false})
        );
        let priority = by_name("hs_ticket_priority");
        assert_eq!(priority["options"][2]["label"], "High");
        assert_eq!(priority["options"][2]["value"], "HIGH");
        let category = by_name("hs_ticket_category");
        assert_eq!(
            (category["type"].as_str(), category["fieldType"].as_str()),
            (Some("enumeration"), Some("checkbox"))
        );
        assert_eq!(category["options"][0]["label"], "Product issue");
        assert_eq!(by_name("closed_date")["type"], "datetime");
    }
}
