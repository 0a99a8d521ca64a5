#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use serde_json::json;

use super::*;
use crate::records::RecordInput;

fn defs() -> PropertyDefinitions {
    let ro = |v: bool| json!({"readOnlyValue": v});
    let list = json!({"results": [
        {"name": "external_ticket_id", "label": "External ID", "type": "string", "fieldType": "text", "hasUniqueValue": true, "modificationMetadata": ro(false)},
        {"name": "numeric_ref", "type": "number", "fieldType": "number", "hasUniqueValue": true},
        {"name": "subject", "label": "Ticket name", "type": "string", "fieldType": "text", "hasUniqueValue": false, "modificationMetadata": ro(false)},
        {"name": "hs_object_id", "label": "Record ID", "type": "number", "fieldType": "number", "modificationMetadata": ro(true)},
        {"name": "time_to_close", "type": "number", "fieldType": "calculation_equation", "calculated": true, "modificationMetadata": ro(true)},
        {"name": "amount", "type": "number", "fieldType": "number"},
        {"name": "vip", "type": "bool", "fieldType": "booleancheckbox"},
        {"name": "due", "type": "date", "fieldType": "date"},
        {"name": "closed_date", "type": "datetime", "fieldType": "date"},
        {"name": "hs_pipeline_stage", "label": "Ticket status", "type": "enumeration", "fieldType": "select", "options": [
            {"value": "1", "label": "New"}, {"value": "4", "label": "Closed"}]},
        {"name": "hs_ticket_priority", "label": "Priority", "type": "enumeration", "fieldType": "select", "options": [
            {"value": "LOW", "label": "Low"}, {"value": "HIGH", "label": "High"}]},
        {"name": "hs_ticket_category", "type": "enumeration", "fieldType": "checkbox", "options": [
            {"value": "PRODUCT_ISSUE", "label": "Product issue"}, {"value": "BILLING_ISSUE", "label": "Billing issue"}]},
        {"name": "geo", "type": "object_coordinates", "fieldType": "text"},
        {"name": "hubspot_owner_id", "label": "Ticket owner", "type": "enumeration", "fieldType": "select",
         "externalOptions": true, "referencedObjectType": "OWNER", "options": []},
        {"name": "untyped"}
    ]});
    let list: hubspot_tickets_client::types::PropertyList = serde_json::from_value(list).unwrap();
    PropertyDefinitions::from_list(&list)
}

fn value(name: &str, v: &str) -> Result<(), ValueProblem> {
    check_value(defs().get(name).unwrap(), v)
}

#[test]
fn values_fit_their_types_as_the_emulator_reads_them() {
    for ok in ["0", "42", "-1.5", ".5", ""] {
        assert_eq!(value("amount", ok), Ok(()), "{ok}");
    }
    for bad in ["abc", "1e5", "1.", "--1", " 1", "1,5"] {
        assert_eq!(value("amount", bad), Err(ValueProblem::NotANumber), "{bad}");
    }
    assert_eq!(value("vip", "true"), Ok(()));
    assert_eq!(
        value("vip", "True"),
        Err(ValueProblem::NotABool {
            hint: Some(NearMiss::Case {
                value: "true".into()
            })
        })
    );
    assert_eq!(
        value("vip", "yes"),
        Err(ValueProblem::NotABool { hint: None })
    );
    assert_eq!(value("due", "2026-11-28"), Ok(()));
    assert_eq!(value("due", "1732752000000"), Ok(()));
    assert_eq!(
        value("due", "1732752000001"),
        Err(ValueProblem::DateNotMidnight)
    );
    assert_eq!(value("due", "28/11/2026"), Err(ValueProblem::NotADate));
    assert_eq!(value("due", "2026-02-30"), Err(ValueProblem::NotADate));
    assert_eq!(value("closed_date", "2026-11-28T09:00:00Z"), Ok(()));
    assert_eq!(
        value("closed_date", "2026-11-28T09:00:00.123+01:00"),
        Ok(())
    );
    assert_eq!(value("closed_date", "1732752000001"), Ok(()));
    assert_eq!(
        value("closed_date", "yesterday"),
        Err(ValueProblem::NotADateTime)
    );
    // A day alone is a date-time (its midnight), midnight UTC in ISO 8601 a date.
    assert_eq!(value("closed_date", "2026-11-28"), Ok(()));
    assert_eq!(value("due", "2026-11-28T00:00:00Z"), Ok(()));
    assert_eq!(value("due", "2026-11-28T00:00:00.000Z"), Ok(()));
    assert_eq!(
        value("due", "2026-11-28T10:00:00Z"),
        Err(ValueProblem::DateNotMidnight)
    );
    // Empty pieces of a multiple choice choose nothing (HubSpot's own `;A;B`).
    for ok in [
        ";PRODUCT_ISSUE",
        "PRODUCT_ISSUE;",
        "PRODUCT_ISSUE;;BILLING_ISSUE",
        ";",
    ] {
        assert_eq!(value("hs_ticket_category", ok), Ok(()), "{ok}");
    }
    // Options from elsewhere in the account (owners): the listed none say nothing.
    assert_eq!(value("hubspot_owner_id", "52550153"), Ok(()));
    assert!(matches!(
        defs().get("hubspot_owner_id").unwrap().value_type,
        ValueType::ExternalOptions { referenced: Some(ref r) } if r == "OWNER"
    ));
    // Types the preflight does not know, and a definition without a type, are left to HubSpot.
    assert_eq!(value("geo", "anything"), Ok(()));
    assert_eq!(value("untyped", "anything"), Ok(()));
    assert_eq!(value("subject", &"x".repeat(65_536)), Ok(()));
    assert_eq!(
        value("subject", &"x".repeat(65_537)),
        Err(ValueProblem::TooLong)
    );
}

#[test]
fn enumerations_take_values_and_hint_at_labels_and_case() {
    assert_eq!(value("hs_pipeline_stage", "4"), Ok(()));
    let Err(ValueProblem::NotAnOption {
        part,
        options,
        hint,
    }) = value("hs_pipeline_stage", "Closed")
    else {
        panic!("a label is not a value");
    };
    assert_eq!(
        (part.as_str(), options),
        ("Closed", vec!["1".to_owned(), "4".to_owned()])
    );
    assert_eq!(
        hint,
        Some(NearMiss::Label {
            label: "Closed".into(),
            value: "4".into()
        })
    );
    // The label in another case is still a label.
    let Err(ValueProblem::NotAnOption { hint, .. }) = value("hs_pipeline_stage", "closed") else {
        panic!()
    };
    assert!(matches!(hint, Some(NearMiss::Label { value, .. }) if value == "4"));
    // A value in another case.
    let Err(ValueProblem::NotAnOption { hint, .. }) = value("hs_ticket_priority", "high") else {
        panic!()
    };
    // `high` is also the label `High` in another case: the label hint names the value.
    assert!(matches!(hint, Some(NearMiss::Label { value, .. }) if value == "HIGH"));
    let Err(ValueProblem::NotAnOption { hint, .. }) = value("hs_ticket_category", "product_issue")
    else {
        panic!()
    };
    assert_eq!(
        hint,
        Some(NearMiss::Case {
            value: "PRODUCT_ISSUE".into()
        })
    );
    let Err(ValueProblem::NotAnOption { hint, .. }) = value("hs_ticket_priority", "URGENT") else {
        panic!()
    };
    assert_eq!(hint, None);
    // A multiple choice is checked part by part; the refused part is named.
    assert_eq!(
        value("hs_ticket_category", "PRODUCT_ISSUE;BILLING_ISSUE"),
        Ok(())
    );
    let Err(ValueProblem::NotAnOption { part, .. }) =
        value("hs_ticket_category", "PRODUCT_ISSUE;Billing issue")
    else {
        panic!()
    };
    assert_eq!(part, "Billing issue");
    let shown = value("hs_pipeline_stage", "Closed")
        .unwrap_err()
        .to_string();
    assert!(shown.contains("label of option \"4\""), "{shown}");
}

#[test]
fn a_record_gets_every_problem_at_once() {
    let record = RecordInput::new("ZD-1")
        .property("subject", "Printer jams")
        .property("Ticket name", "x")
        .property("hs_object_id", "5")
        .property("time_to_close", "3")
        .property("amount", "12 EUR")
        .property("hs_pipeline_stage", "4");
    let problems = check_record(&defs(), "external_ticket_id", &record);
    assert_eq!(
        problems,
        vec![
            Problem::UnknownProperty {
                name: "Ticket name".into(),
                suggest: Some("subject".into())
            },
            Problem::InvalidValue {
                name: "amount".into(),
                problem: ValueProblem::NotANumber
            },
            Problem::ReadOnly {
                name: "hs_object_id".into()
            },
            Problem::Calculated {
                name: "time_to_close".into()
            },
        ]
    );
    let clean = RecordInput::new("ZD-2")
        .property("subject", "ok")
        .property("due", "");
    assert_eq!(check_record(&defs(), "external_ticket_id", &clean), vec![]);
}

#[test]
fn the_id_fits_its_id_property_and_a_records_own_id_property_is_checked() {
    let record = RecordInput::new("not-a-number");
    assert_eq!(
        check_record(&defs(), "numeric_ref", &record),
        vec![Problem::InvalidId {
            name: "numeric_ref".into(),
            problem: ValueProblem::NotANumber
        }]
    );
    let own = RecordInput::new("1").with_id_property("subject");
    assert_eq!(
        check_record(&defs(), "external_ticket_id", &own),
        vec![Problem::IdProperty(ConfigProblem::IdPropertyNotUnique {
            name: "subject".into(),
            unique: vec!["external_ticket_id".into(), "numeric_ref".into()]
        })]
    );
}

#[test]
fn configuration_problems_are_named_together() {
    assert_eq!(
        check_configuration(&defs(), "external_ticket_id", ["subject", "amount"]),
        Ok(())
    );
    let e = check_configuration(
        &defs(),
        "hs_object_id",
        ["subject", "Ticket Name", "colour", "Priority", "colour"],
    )
    .unwrap_err();
    assert_eq!(
        e.problems,
        vec![
            ConfigProblem::IdPropertyNotUnique {
                name: "hs_object_id".into(),
                unique: vec!["external_ticket_id".into(), "numeric_ref".into()]
            },
            // `subject` is a column already: no hint to make a second one.
            ConfigProblem::UnknownColumn {
                name: "Ticket Name".into(),
                suggest: None
            },
            ConfigProblem::UnknownColumn {
                name: "colour".into(),
                suggest: None
            },
            ConfigProblem::UnknownColumn {
                name: "Priority".into(),
                suggest: Some("hs_ticket_priority".into())
            },
        ]
    );
    let shown = e.to_string();
    assert!(
        shown.starts_with("nothing was written: idProperty \"hs_object_id\""),
        "{shown}"
    );
    let e = check_configuration(&defs(), "External_Ticket_Id", std::iter::empty()).unwrap_err();
    assert_eq!(
        e.problems,
        vec![ConfigProblem::UnknownIdProperty {
            name: "External_Ticket_Id".into(),
            suggest: Some("external_ticket_id".into()),
            unique: vec!["external_ticket_id".into(), "numeric_ref".into()]
        }]
    );
}

#[test]
fn reasons_quote_values_briefly() {
    let long = "y".repeat(500);
    let shown = value("hs_ticket_priority", &long).unwrap_err().to_string();
    assert!(shown.len() < 200, "{shown}");
}

#[test]
fn suggestions_never_give_two_columns_one_property() {
    // `subject` is a column already: "Ticket name" gets no hint to become it; of two
    // columns meaning `hs_ticket_priority`, only the first is pointed at it.
    let e = check_configuration(
        &defs(),
        "external_ticket_id",
        ["subject", "Ticket name", "Priority", "priority"],
    )
    .unwrap_err();
    let hints: Vec<(&str, Option<&str>)> = e
        .problems
        .iter()
        .map(|p| match p {
            ConfigProblem::UnknownColumn { name, suggest } => (name.as_str(), suggest.as_deref()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        hints,
        [
            ("Ticket name", None),
            ("Priority", Some("hs_ticket_priority")),
            ("priority", None)
        ]
    );
    // hs_object_id is never offered as an idProperty.
    let e = check_configuration(&defs(), "nope", std::iter::empty()).unwrap_err();
    assert!(!e.to_string().contains("hs_object_id"), "{e}");
}
