//! Bad input to the library, as a table: each case is one record of a bulk run through
//! the emulator, with the exact outcome it must get and the message, which names the
//! record (its id; an empty id has only its position, which every outcome carries).
//! Batch-level misuse (`upsert_batch` limits, empty runs) follows the table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use hubspot_tickets::records::{MAX_ID_LEN, NoneAs};
use hubspot_tickets::{Client, ErrorKind, Outcome, RecordInput};
use integration_tests::*;

const WINDOW: Duration = Duration::from_millis(500);

/// What a case must end as.
enum Expect {
    Created,
    Updated,
    /// `Failed` before any request: `InvalidInput` with exactly this message.
    Local(String),
    /// `Failed` by HubSpot: this HTTP status, category and exact message.
    Refused(u16, &'static str, String),
    /// `Failed` by HubSpot with a message starting so, cut to the facade's bound.
    RefusedLong(&'static str),
}

struct Case {
    name: &'static str,
    input: RecordInput,
    expect: Expect,
}

fn case(name: &'static str, input: RecordInput, expect: Expect) -> Case {
    Case {
        name,
        input,
        expect,
    }
}

fn invalid(id: &str, why: &str) -> Expect {
    Expect::Local(format!("record {id:?}: {why}"))
}

fn refused(message: impl Into<String>) -> Expect {
    Expect::Refused(207, "VALIDATION_ERROR", message.into())
}

#[derive(serde::Serialize)]
struct Address {
    city: String,
}

#[derive(serde::Serialize)]
struct WithNested {
    subject: String,
    address: Address,
}

#[derive(serde::Serialize)]
struct WithList {
    subject: String,
    tags: Vec<Vec<String>>,
}

#[derive(serde::Serialize)]
struct WithOptions {
    subject: Option<String>,
    content: Option<String>,
}

fn table() -> Vec<Case> {
    let long_id = "L".repeat(MAX_ID_LEN + 1);
    let many: BTreeMap<String, String> = (0..10_000)
        .map(|i| (format!("p{i}"), "v".to_owned()))
        .collect();
    vec![
        case(
            "empty id",
            RecordInput::new(""),
            Expect::Local("record has an empty id".into()),
        ),
        case(
            "whitespace id",
            RecordInput::new(" \t\n "),
            Expect::Local("record has an empty id".into()),
        ),
        case(
            "id over HubSpot's length limit",
            RecordInput::new(long_id),
            Expect::Local(format!(
                "record {:?}: id is 1001 characters long, over the 1000-character limit",
                "L".repeat(64)
            )),
        ),
        case(
            "id at the length limit",
            RecordInput::new("M".repeat(MAX_ID_LEN)),
            Expect::Created,
        ),
        case(
            "id of 1000 two-byte characters (the limit counts characters)",
            RecordInput::new("é".repeat(MAX_ID_LEN)),
            Expect::Created,
        ),
        case(
            "id with a newline and an emoji",
            RecordInput::new("ZD-\n🎫"),
            Expect::Created,
        ),
        case(
            "NaN",
            RecordInput::new("B-nan").property("score", f64::NAN),
            invalid(
                "B-nan",
                "property `score`: NaN cannot be sent (numbers must be finite)",
            ),
        ),
        case(
            "+inf",
            RecordInput::new("B-inf").property("score", f64::INFINITY),
            invalid(
                "B-inf",
                "property `score`: inf cannot be sent (numbers must be finite)",
            ),
        ),
        case(
            "-inf as f32",
            RecordInput::new("B-ninf").property("score", f32::NEG_INFINITY),
            invalid(
                "B-ninf",
                "property `score`: -inf cannot be sent (numbers must be finite)",
            ),
        ),
        case(
            "empty property name",
            RecordInput::new("B-noname").property("", "v"),
            invalid("B-noname", "a property name is empty"),
        ),
        case(
            "nested object value",
            RecordInput::new("B-nested").properties_from(
                &WithNested {
                    subject: "s".into(),
                    address: Address {
                        city: "Paris".into(),
                    },
                },
                NoneAs::Skip,
            ),
            invalid(
                "B-nested",
                "field `address`: a nested object cannot be sent as a HubSpot property (values are strings)",
            ),
        ),
        case(
            "nested list value",
            RecordInput::new("B-nlist").properties_from(
                &WithList {
                    subject: "s".into(),
                    tags: vec![vec!["a".into()]],
                },
                NoneAs::Skip,
            ),
            invalid(
                "B-nlist",
                "field `tags`: a nested list cannot be sent as a HubSpot property (values are strings)",
            ),
        ),
        case(
            "properties from something that is not an object",
            RecordInput::new("B-list").properties_from(&vec![1, 2, 3], NoneAs::Skip),
            invalid(
                "B-list",
                "properties must come from a struct or a map, not a sequence",
            ),
        ),
        case(
            "None fields left out",
            RecordInput::new("N-skip").properties_from(
                &WithOptions {
                    subject: Some("kept".into()),
                    content: None,
                },
                NoneAs::Skip,
            ),
            Expect::Created,
        ),
        case(
            "unknown property",
            RecordInput::new("B-unknown").property("colour", "red"),
            refused("Property values were not valid: Property \"colour\" does not exist"),
        ),
        case(
            "read-only property",
            RecordInput::new("B-ro").property("hs_object_id", "1"),
            refused(
                "Property values were not valid: Property \"hs_object_id\" is read-only and cannot be set",
            ),
        ),
        case(
            "option not allowed",
            RecordInput::new("B-opt").property("hs_ticket_priority", "URGENT"),
            refused(
                "Property values were not valid: \"URGENT\" was not one of the allowed options for property \"hs_ticket_priority\": [LOW, MEDIUM, HIGH]",
            ),
        ),
        case(
            "not a number",
            RecordInput::new("B-num").property("hubspot_owner_id", "12a"),
            refused(
                "Property values were not valid: \"12a\" is not a valid number for property \"hubspot_owner_id\"",
            ),
        ),
        case(
            "not a datetime",
            RecordInput::new("B-date").property("closed_date", "yesterday"),
            refused(
                "Property values were not valid: \"yesterday\" is not a valid datetime for property \"closed_date\"",
            ),
        ),
        case(
            "id property value differing from the id",
            RecordInput::new("B-conflict").property(ID_PROPERTY, "OTHER"),
            refused(format!(
                "Property values were not valid: Property \"{ID_PROPERTY}\" is this input's idProperty: its value \"OTHER\" differs from the input's id \"B-conflict\""
            )),
        ),
        case(
            "huge property value (70,000 characters): refused before sending, as HubSpot would",
            RecordInput::new("B-huge").property("subject", "x".repeat(70_000)),
            invalid(
                "B-huge",
                "property `subject`: the value is longer than HubSpot's 65536 characters",
            ),
        ),
        case(
            "10,000 properties on one record",
            RecordInput::new("B-many").with_properties(many),
            Expect::RefusedLong(
                "Property values were not valid: Property \"p0\" does not exist; Property \"p1\" does not exist; Property \"p10\" does not exist",
            ),
        ),
        case(
            "idProperty that is not unique",
            RecordInput::new("B-nonunique").with_id_property("subject"),
            Expect::Refused(
                400,
                "VALIDATION_ERROR",
                "Unable to perform update/upsert by non-unique 0-5 property subject".into(),
            ),
        ),
        case(
            "idProperty that does not exist",
            RecordInput::new("B-noprop").with_id_property("nope"),
            Expect::Refused(
                400,
                "VALIDATION_ERROR",
                "Unable to perform update/upsert by non-unique 0-5 property nope".into(),
            ),
        ),
        case(
            "first of two writes of one id",
            RecordInput::new("DUP").property("subject", "first"),
            Expect::Created,
        ),
        case(
            "second write of the same id",
            RecordInput::new("DUP").property("subject", "second"),
            Expect::Updated,
        ),
        case(
            "the same caller trace id on two inputs (A)",
            RecordInput::new("TR-a").with_trace_id("same"),
            Expect::Created,
        ),
        case(
            "the same caller trace id on two inputs (B)",
            RecordInput::new("TR-b").with_trace_id("same"),
            Expect::Created,
        ),
        case(
            "empty value clears",
            RecordInput::new("CLR").clear("subject"),
            Expect::Created,
        ),
        case(
            "a good record among the bad",
            RecordInput::new("GOOD").property("subject", "fine"),
            Expect::Created,
        ),
    ]
}

#[tokio::test]
async fn every_bad_input_case_gets_its_exact_outcome_and_message() {
    let emu = start(config(100, WINDOW)).await;
    let client = build(builder(&emu, 100, WINDOW));
    let cases = table();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    let inputs: Vec<RecordInput> = cases.iter().map(|c| c.input.clone()).collect();
    let report = client.bulk_upsert_iter(inputs).report().await;
    assert_eq!(report.outcomes.len(), cases.len());
    let mut wrong = Vec::new();
    for (pos, (c, o)) in cases.iter().zip(&report.outcomes).enumerate() {
        assert_eq!(o.position, pos as u64);
        assert_eq!(
            o.id,
            c.input.id(),
            "{}: the outcome names its record",
            c.name
        );
        let ok = match (&c.expect, &o.outcome) {
            (Expect::Created, Outcome::Created { .. })
            | (Expect::Updated, Outcome::Updated { .. }) => true,
            (Expect::Local(m), Outcome::Failed { reason }) => {
                reason.kind == ErrorKind::InvalidInput
                    && reason.message == *m
                    && reason.status.is_none()
            }
            (Expect::Refused(status, category, m), Outcome::Failed { reason }) => {
                // A per-input error comes in a 207, or in a whole-batch 400 that names
                // the record (the emulator answers so while two inputs share a trace
                // id): which one depends on the batch the record ended up in.
                let status_ok = reason.status == Some(*status)
                    || (*status == 207 && reason.status == Some(400));
                reason.kind == ErrorKind::Validation
                    && status_ok
                    && reason.category.as_deref() == Some(*category)
                    && reason.message == *m
            }
            (Expect::RefusedLong(start), Outcome::Failed { reason }) => {
                // HubSpot's message for thousands of problems is long; the emulator
                // spells out ten and counts the rest (the facade would cut a longer one
                // at 16,384 characters).
                reason.kind == ErrorKind::Validation
                    && matches!(reason.status, Some(207 | 400))
                    && reason.message.starts_with(start)
                    && reason.message.ends_with("; and 9990 more")
            }
            _ => false,
        };
        if !ok {
            wrong.push(format!("case {pos} ({}): {:?}", c.name, o.outcome));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");

    // What was written is exactly what the good cases asked for.
    let store = emu.tickets();
    assert_eq!(
        store.get_by_unique(ID_PROPERTY, "DUP").unwrap().properties["subject"],
        "second"
    );
    assert_eq!(
        store
            .get_by_unique(ID_PROPERTY, "ZD-\n🎫")
            .unwrap()
            .properties[ID_PROPERTY],
        "ZD-\n🎫"
    );
    assert_eq!(
        store
            .get_by_unique(ID_PROPERTY, "N-skip")
            .unwrap()
            .properties["subject"],
        "kept"
    );
    assert!(
        !store
            .get_by_unique(ID_PROPERTY, "N-skip")
            .unwrap()
            .properties
            .contains_key("content")
    );
    for bad in [
        "B-nan",
        "B-unknown",
        "B-huge",
        "B-many",
        "B-nonunique",
        "B-conflict",
    ] {
        assert!(
            store.get_by_unique(ID_PROPERTY, bad).is_none(),
            "{bad} was written"
        );
    }
    let created = cases
        .iter()
        .filter(|c| matches!(c.expect, Expect::Created))
        .count();
    assert_eq!(store.count(), created);
    assert!(emu.stats().duplicate_creates.is_empty());
}

#[test]
fn a_client_without_an_id_property_is_refused_at_build() {
    let e = Client::builder()
        .access_token(TOKEN)
        .base_url("http://127.0.0.1:9")
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Configuration);
    assert!(e.message().contains("no idProperty"), "{e}");
}

#[tokio::test]
async fn batch_level_misuse_is_refused_before_any_request() {
    let emu = start(config(100, WINDOW)).await;
    let client = build(builder(&emu, 100, WINDOW));

    let e = client
        .upsert_batch(tickets("OV", 0..101))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        e.message(),
        "a batch holds at most 100 inputs, got 101; use bulk_upsert for more"
    );

    // A repeated id is written twice, in order, in two requests; the repeat is flagged.
    let out = client
        .upsert_batch([
            RecordInput::new("TWICE").property("subject", "first"),
            RecordInput::new("X"),
            RecordInput::new("TWICE").property("subject", "second"),
        ])
        .await
        .unwrap();
    assert!(out.all_written());
    assert_eq!(out.requests, 2);
    assert_eq!(out.records[2].repeat_of, Some(0));
    let stored = emu.tickets().get_by_unique(ID_PROPERTY, "TWICE").unwrap();
    assert_eq!(stored.properties["subject"], "second");

    let out = client
        .upsert_batch(Vec::<RecordInput>::new())
        .await
        .unwrap();
    assert!(out.records.is_empty() && out.requests == 0 && out.status.is_none());

    let (s, _) = client
        .bulk_upsert_iter(Vec::<RecordInput>::new())
        .summary()
        .await;
    assert_eq!((s.read, s.requests), (0, 0));

    // Only invalid records: every one reported, not one request.
    let (s, _) = client
        .bulk_upsert_iter(
            (0..250).map(|i| RecordInput::new(format!("NaN-{i}")).property("x", f64::NAN)),
        )
        .summary()
        .await;
    assert_eq!((s.read, s.failed, s.requests), (250, 250, 0));
    // Only the repeated id's two requests above reached HubSpot.
    assert_eq!(emu.stats().requests, 2);
}
