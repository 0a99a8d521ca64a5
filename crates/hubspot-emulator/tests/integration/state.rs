//! The optional state file: saved on shutdown, loaded on start.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::*;
use serde_json::json;

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("emulator-state.json");

    let emu = start(config().with_state_file(&path)).await;
    let r = post(
        &emu,
        &batch(vec![input("ST-1", None, json!({"subject": "first run"}))]),
    )
    .await;
    assert_eq!(r.status, 200);
    let id = r.json()["results"][0]["id"].clone();
    emu.shutdown().await.unwrap();
    assert!(path.exists());

    let emu = start(config().with_state_file(&path)).await;
    assert_eq!(emu.tickets().count(), 1);
    let r = post(
        &emu,
        &batch(vec![
            input("ST-1", None, json!({"subject": "second run"})),
            input("ST-2", None, json!({})),
        ]),
    )
    .await;
    assert_eq!(r.status, 200);
    let results = r.json()["results"].as_array().unwrap();
    assert_eq!(results[0]["new"], false, "updated across runs");
    assert_eq!(results[0]["id"], id);
    assert_eq!(results[1]["new"], true);
    // Record ids keep growing across runs.
    let id1: u64 = id.as_str().unwrap().parse().unwrap();
    let id2: u64 = results[1]["id"].as_str().unwrap().parse().unwrap();
    assert!(id2 > id1);
    emu.shutdown().await.unwrap();

    let emu = start(config().with_state_file(&path)).await;
    let t = emu.tickets().get_by_unique(ID_PROP, "ST-1").unwrap();
    assert_eq!(t.properties["subject"], "second run");
    assert_eq!(emu.tickets().count(), 2);
    emu.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_corrupt_state_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, "not json").unwrap();
    let err = hubspot_emulator::Emulator::start(config().with_state_file(&path))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("bad.json"), "{err}");
}

#[tokio::test]
async fn a_state_file_in_a_missing_directory_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("state.json");
    let err = hubspot_emulator::Emulator::start(config().with_state_file(&path))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("does not exist"), "{msg}");
}

#[tokio::test]
async fn a_state_file_that_is_a_directory_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let err = hubspot_emulator::Emulator::start(config().with_state_file(dir.path()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not writable"), "{err}");
}

#[cfg(unix)]
#[tokio::test]
async fn a_state_file_in_a_read_only_directory_is_refused_at_start() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    // Root ignores permissions: nothing to check then.
    if std::fs::write(ro.join("probe"), b"x").is_ok() {
        return;
    }
    let path = ro.join("state.json");
    let err = hubspot_emulator::Emulator::start(config().with_state_file(&path))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("state.json"), "{err}");
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn checking_the_state_file_leaves_no_file_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let emu = start(config().with_state_file(&path)).await;
    // Only the lock, while it runs.
    assert_eq!(names_in(dir.path()), ["state.json.lock"]);
    emu.shutdown().await.unwrap();
    assert_eq!(names_in(dir.path()), ["state.json"]);
}

#[tokio::test]
async fn a_second_emulator_on_one_state_file_is_refused_until_the_first_stops() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let first = start(config().with_state_file(&path)).await;
    let r = post(&first, &batch(vec![input("LK-1", None, json!({}))])).await;
    assert_eq!(r.status, 200);
    // The same file under another name is the same lock.
    let other_name = dir.path().join(".").join("state.json");
    for p in [&path, &other_name] {
        let err = hubspot_emulator::Emulator::start(config().with_state_file(p))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, hubspot_emulator::EmulatorError::StateInUse { pid: Some(pid), .. } if *pid == std::process::id()),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("state.json"), "{msg}");
        assert!(
            msg.contains("in use by another emulator (process "),
            "{msg}"
        );
        assert!(msg.contains("state.json.lock"), "{msg}");
    }
    first.shutdown().await.unwrap();
    // The refused starts changed nothing: the first one's record is saved.
    let second = start(config().with_state_file(&path)).await;
    assert!(second.tickets().get_by_unique(ID_PROP, "LK-1").is_some());
    second.shutdown().await.unwrap();
}

/// A symlink or a hard link to a state file in use is the same file: refused; and
/// saving through a symlink writes the file it points to, leaving the link a link.
#[cfg(unix)]
#[tokio::test]
async fn every_name_of_a_state_file_in_use_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    // A state file, as an earlier emulator saved it.
    start(config().with_state_file(&path))
        .await
        .shutdown()
        .await
        .unwrap();
    let soft = dir.path().join("soft.json");
    let hard = dir.path().join("hard.json");
    std::os::unix::fs::symlink(&path, &soft).unwrap();
    std::fs::hard_link(&path, &hard).unwrap();
    let first = start(config().with_state_file(&soft)).await;
    let r = post(&first, &batch(vec![input("LN-1", None, json!({}))])).await;
    assert_eq!(r.status, 200);
    for p in [&path, &soft, &hard] {
        let err = hubspot_emulator::Emulator::start(config().with_state_file(p))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, hubspot_emulator::EmulatorError::StateInUse { .. }),
            "{}: {err:?}",
            p.display()
        );
    }
    first.shutdown().await.unwrap();
    assert!(
        std::fs::symlink_metadata(&soft)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let second = start(config().with_state_file(&path)).await;
    assert!(second.tickets().get_by_unique(ID_PROP, "LN-1").is_some());
    second.shutdown().await.unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn a_lock_file_left_behind_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    // As a killed emulator leaves it: the file, with a process id, and no lock.
    std::fs::write(dir.path().join("state.json.lock"), "999999\n").unwrap();
    let emu = start(config().with_state_file(&path)).await;
    let held = std::fs::read_to_string(dir.path().join("state.json.lock")).unwrap();
    assert_eq!(held.trim(), std::process::id().to_string());
    emu.shutdown().await.unwrap();
    assert_eq!(names_in(dir.path()), ["state.json"]);
}

fn snapshot(tickets: serde_json::Value) -> String {
    json!({
        "format": "hubspot-emulator-state/1",
        "nextObjectId": 10_000_000_010_u64,
        "tickets": tickets,
    })
    .to_string()
}

fn ticket(id: u64, ext: &str) -> serde_json::Value {
    json!({
        "objectId": id,
        "properties": {"external_ticket_id": ext, "subject": "s"},
        "createdAt": "2026-01-01T00:00:00Z",
        "updatedAt": "2026-01-01T00:00:00Z",
    })
}

#[tokio::test]
async fn a_state_file_with_a_repeated_unique_value_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let body = snapshot(json!([
        ticket(10_000_000_001, "ZD-1"),
        ticket(10_000_000_002, "ZD-1")
    ]));
    std::fs::write(&path, body).unwrap();
    let err = hubspot_emulator::Emulator::start(config().with_state_file(&path))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("10000000002"), "{msg}");
    assert!(msg.contains("external_ticket_id"), "{msg}");
    assert!(msg.contains("ZD-1"), "{msg}");
}

#[tokio::test]
async fn a_state_file_with_a_repeated_object_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let body = snapshot(json!([
        ticket(10_000_000_001, "ZD-1"),
        ticket(10_000_000_001, "ZD-2")
    ]));
    std::fs::write(&path, body).unwrap();
    let err = hubspot_emulator::Emulator::start(config().with_state_file(&path))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("object id 10000000001"), "{msg}");
}

#[tokio::test]
async fn a_valid_hand_written_state_file_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let body = snapshot(json!([
        ticket(10_000_000_001, "ZD-1"),
        ticket(10_000_000_002, "ZD-2")
    ]));
    std::fs::write(&path, body).unwrap();
    let emu = start(config().with_state_file(&path)).await;
    assert_eq!(emu.tickets().count(), 2);
    assert!(emu.tickets().duplicate_creates().is_empty());
}

fn multi_config(path: &std::path::Path) -> hubspot_emulator::EmulatorConfig {
    use hubspot_emulator::{CustomObjectDef, PropertyDef};
    config().with_state_file(path).with_custom_object(
        CustomObjectDef::new("2-123", "p_2418337_cars")
            .with_property(PropertyDef::string("vin").unique())
            .with_property(PropertyDef::string("model")),
    )
}

#[tokio::test]
async fn every_object_type_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let emu = start(multi_config(&path)).await;
    let same = batch(vec![input("SAME", None, json!({"subject": "t"}))]);
    assert_eq!(
        post_at(&emu, "v3", "tickets", TOKEN, &same).await.status,
        200
    );
    let contact = batch(vec![input_by(
        "email",
        "a@example.com",
        None,
        json!({"firstname": "Ann"}),
    )]);
    assert_eq!(
        post_at(&emu, "2026-09", "contacts", TOKEN, &contact)
            .await
            .status,
        200
    );
    let car = batch(vec![input_by("vin", "VIN-1", None, json!({"model": "T"}))]);
    let r = post_at(&emu, "2026-03", "2-123", TOKEN, &car).await;
    assert_eq!(r.status, 200);
    let car_id = r.json()["results"][0]["id"].clone();
    emu.shutdown().await.unwrap();

    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(saved["format"], "hubspot-emulator-state/2");
    let types: Vec<&str> = saved["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["objectTypeId"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["0-5", "0-1", "0-2", "0-3", "2-123"]);

    let emu = start(multi_config(&path)).await;
    assert_eq!(emu.tickets().count(), 1);
    let contacts = emu.store_for("contacts").unwrap();
    assert_eq!(
        contacts
            .get_by_unique("email", "a@example.com")
            .unwrap()
            .properties["firstname"],
        "Ann"
    );
    assert_eq!(emu.store_for("companies").unwrap().count(), 0);
    let r = post_at(&emu, "v3", "p_2418337_cars", TOKEN, &car).await;
    assert_eq!(r.json()["results"][0]["new"], false, "updated across runs");
    assert_eq!(r.json()["results"][0]["id"], car_id);
    // Record ids keep growing per object type.
    let r = post_at(
        &emu,
        "v3",
        "contacts",
        TOKEN,
        &batch(vec![input_by("email", "b@example.com", None, json!({}))]),
    )
    .await;
    let a = contacts
        .get_by_unique("email", "a@example.com")
        .unwrap()
        .object_id;
    let b: u64 = r.json()["results"][0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(b > a);
    emu.shutdown().await.unwrap();
}

fn state_v2(objects: serde_json::Value) -> String {
    json!({"format": "hubspot-emulator-state/2", "objects": objects}).to_string()
}

fn record(id: u64, properties: serde_json::Value) -> serde_json::Value {
    json!({"objectId": id, "properties": properties,
        "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"})
}

#[tokio::test]
async fn a_bad_object_type_in_the_state_file_refuses_the_whole_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    std::fs::write(
        &path,
        state_v2(json!([
            {"objectTypeId": "0-5", "objectType": "tickets", "nextObjectId": 5,
             "records": [ticket(1, "ZD-1")]},
            {"objectTypeId": "0-1", "objectType": "contacts", "nextObjectId": 5,
             "records": [record(1, json!({"email": "x@example.com"})),
                         record(2, json!({"email": "x@example.com"}))]},
        ])),
    )
    .unwrap();
    let err = hubspot_emulator::Emulator::start(multi_config(&path))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("contact 2 repeats the unique value email"),
        "{err}"
    );
}

#[tokio::test]
async fn state_of_an_object_type_no_longer_served_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    std::fs::write(
        &path,
        state_v2(json!([
            {"objectTypeId": "2-777", "objectType": "p_1_gone", "nextObjectId": 5,
             "records": [record(1, json!({"k": "v"}))]},
            {"objectTypeId": "0-1", "objectType": "contacts", "nextObjectId": 5,
             "records": [record(1, json!({"email": "x@example.com"}))]},
        ])),
    )
    .unwrap();
    let emu = start(multi_config(&path)).await;
    assert_eq!(emu.store_for("contacts").unwrap().count(), 1);
    assert_eq!(emu.tickets().count(), 0);
}
