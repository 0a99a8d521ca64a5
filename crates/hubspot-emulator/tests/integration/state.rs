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
