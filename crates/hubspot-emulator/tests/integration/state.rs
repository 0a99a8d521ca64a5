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
    assert_eq!(emu.store().count(), 1);
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
    let t = emu.store().get_by_unique(ID_PROP, "ST-1").unwrap();
    assert_eq!(t.properties["subject"], "second run");
    assert_eq!(emu.store().count(), 2);
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

#[tokio::test]
async fn checking_the_state_file_leaves_no_file_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let emu = start(config().with_state_file(&path)).await;
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    emu.shutdown().await.unwrap();
    assert!(path.exists());
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
    assert_eq!(emu.store().count(), 2);
    assert!(emu.store().duplicate_creates().is_empty());
}
