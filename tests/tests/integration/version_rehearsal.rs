//! The rehearsal of "Adding a HubSpot API version" (`spec/README.md`): a fictional next
//! release, `2027-03`, with 2026-09's wire shape. The spec edit and `cargo xtask
//! codegen` are made on a scratch copy of the spec; the facade then reaches the new path
//! by configuration alone. If this test needs a code change to pass, the promise "a new
//! version is a spec edit" is broken.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use hubspot_emulator::WireShape;
use hubspot_tickets::config::ApiVersion;
use hubspot_tickets::{ErrorKind, RecordInput};
use integration_tests::*;
use serde_yaml_ng::Value;
use xtask::{CheckOutcome, GENERATED_PATH, SPEC_PATH};

const WINDOW: Duration = Duration::from_millis(500);
const TEMPLATE: &str = "/crm/objects/2026-09/{objectType}/batch/upsert";
const NEW_PATH: &str = "/crm/objects/2027-03/{objectType}/batch/upsert";

/// Step 1 of the README: the new path, a copy of 2026-09's with its own operationId.
fn add_release(spec: &str) -> String {
    let mut doc: Value = serde_yaml_ng::from_str(spec).unwrap();
    let mut item = doc["paths"][TEMPLATE].clone();
    assert!(
        item.is_mapping(),
        "the 2026-09 path moved; update the README and this test"
    );
    item["post"]["operationId"] = Value::from("batch_upsert_objects_2027_03");
    item["post"]["summary"] = Value::from("Create or update a batch of records (2027-03)");
    doc["paths"][NEW_PATH] = item;
    serde_yaml_ng::to_string(&doc).unwrap()
}

#[test]
fn the_spec_edit_generates_the_new_operation() {
    let root = xtask::workspace_root();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::create_dir_all(dir.join("spec")).unwrap();
    std::fs::create_dir_all(dir.join("crates/hubspot-tickets-client/src")).unwrap();
    let spec = std::fs::read_to_string(root.join(SPEC_PATH)).unwrap();
    std::fs::write(dir.join(SPEC_PATH), add_release(&spec)).unwrap();
    std::fs::copy(root.join(GENERATED_PATH), dir.join(GENERATED_PATH)).unwrap();

    // Step 2: the drift guard notices, `cargo xtask codegen` regenerates.
    match xtask::check(dir).unwrap() {
        CheckOutcome::Stale(diff) => assert!(diff.contains("2027"), "{diff}"),
        CheckOutcome::UpToDate => panic!("a new path must make the committed client stale"),
    }
    assert!(xtask::write(dir).unwrap());
    assert_eq!(xtask::check(dir).unwrap(), CheckOutcome::UpToDate);
    let generated = std::fs::read_to_string(dir.join(GENERATED_PATH)).unwrap();
    assert!(generated.contains("pub async fn batch_upsert_objects_2027_03<'a>("));
    assert!(generated.contains("\"{}/crm/objects/2027-03/{}/batch/upsert\""));
    // Same shape, same types: no new schema, so the facade's mapping is unchanged.
    let committed = std::fs::read_to_string(root.join(GENERATED_PATH)).unwrap();
    let types = |text: &str| text.matches("pub struct ").count();
    assert_eq!(types(&generated), types(&committed));
}

/// Step 3: configuration alone. The emulator plays HubSpot after the release.
#[tokio::test]
async fn the_facade_reaches_the_new_release_by_configuration() {
    let version: ApiVersion = "2027-03".parse().unwrap();
    let emu = start(config(100, WINDOW).with_api_version("2027-03", WireShape::PartialIn200)).await;
    let client = build(builder(&emu, 100, WINDOW).api_version(version));
    assert_eq!(client.path(), "/crm/objects/2027-03/tickets/batch/upsert");
    let mut records = tickets("R27", 0..150);
    records[42] = RecordInput::new("R27-42").property("no_such_property", "x");
    let report = client.bulk_upsert_iter(records).report().await;
    assert_eq!(report.summary.created, 149, "{:?}", report.summary);
    let failed: Vec<u64> = report.failed().map(|o| o.position).collect();
    assert_eq!(failed, [42]);
    let stats = emu.stats();
    assert_eq!((stats.responses(200), stats.responses(207)), (2, 0));
    assert!(stats.request_log.iter().all(|e| e.api_version == "2027-03"));
    assert_eq!(emu.tickets().count(), 149);
}

/// Before HubSpot publishes a release its path is a 404: the run stops at the first
/// request and says so, instead of failing every batch.
#[tokio::test]
async fn an_unreleased_version_stops_at_the_first_request() {
    let emu = start(config(100, WINDOW)).await;
    let client = build(builder(&emu, 100, WINDOW).api_version("2027-03".parse().unwrap()));
    let report = client
        .bulk_upsert_iter(tickets("UV", 0..300))
        .report()
        .await;
    let s = &report.summary;
    // Reading stops with the run: every record read is accounted for as not attempted.
    assert_eq!(
        (s.created, s.requests, s.not_attempted),
        (0, 1, s.read),
        "{s:?}"
    );
    let stop = s.stopped.as_ref().unwrap();
    assert_eq!((stop.kind, stop.status), (ErrorKind::NotFound, Some(404)));
}
