//! Codegen drift guard and generator properties, run by `cargo test --workspace`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use xtask::{CheckOutcome, FIX_COMMAND, GENERATED_PATH, SPEC_PATH};

#[test]
fn committed_client_matches_spec() {
    match xtask::check(&xtask::workspace_root()).expect("generation succeeds") {
        CheckOutcome::UpToDate => {}
        CheckOutcome::Stale(diff) => {
            panic!("{GENERATED_PATH} is stale against {SPEC_PATH}; run `{FIX_COMMAND}`.\n{diff}")
        }
    }
}

fn spec_text() -> String {
    std::fs::read_to_string(xtask::workspace_root().join(SPEC_PATH)).unwrap()
}

#[test]
fn generation_is_deterministic() {
    let spec = spec_text();
    let a = xtask::generate_source(&spec).unwrap();
    let b = xtask::generate_source(&spec).unwrap();
    assert_eq!(a, b);
}

#[test]
fn header_names_spec_hash_and_generator() {
    let out = xtask::generate_source(&spec_text()).unwrap();
    let header: Vec<&str> = out.lines().take(6).collect();
    assert!(header[0].contains("DO NOT EDIT"), "{header:?}");
    assert!(
        header[1].contains(SPEC_PATH) && header[1].contains("sha256 "),
        "{header:?}"
    );
    assert!(
        header[2].contains(&format!("progenitor {}", xtask::PROGENITOR_VERSION)),
        "{header:?}"
    );
}

#[test]
fn pinned_progenitor_version_matches_lockfile() {
    let lock = std::fs::read_to_string(xtask::workspace_root().join("Cargo.lock")).unwrap();
    let needle = format!(
        "name = \"progenitor\"\nversion = \"{}\"",
        xtask::PROGENITOR_VERSION
    );
    assert!(
        lock.contains(&needle),
        "Cargo.lock progenitor differs from xtask::PROGENITOR_VERSION"
    );
}

#[test]
fn a_schema_edit_makes_the_committed_file_stale() {
    // Add an optional field to a schema in a scratch copy of the workspace layout.
    let root = xtask::workspace_root();
    let dir = tempfile_dir();
    std::fs::create_dir_all(dir.join("spec")).unwrap();
    std::fs::create_dir_all(dir.join("crates/hubspot-tickets-client/src")).unwrap();
    let spec = spec_text();
    std::fs::write(dir.join(SPEC_PATH), &spec).unwrap();
    std::fs::copy(root.join(GENERATED_PATH), dir.join(GENERATED_PATH)).unwrap();
    assert_eq!(xtask::check(&dir).unwrap(), CheckOutcome::UpToDate);

    let edited = spec.replacen(
        "        archivedAt:\n",
        "        pinnedNote:\n          description: A field HubSpot might add.\n          type: string\n        archivedAt:\n",
        1,
    );
    assert_ne!(
        edited, spec,
        "the anchor for the edit moved; update this test"
    );
    std::fs::write(dir.join(SPEC_PATH), &edited).unwrap();
    match xtask::check(&dir).unwrap() {
        CheckOutcome::Stale(diff) => assert!(diff.contains("pinned_note"), "{diff}"),
        CheckOutcome::UpToDate => panic!("an edited spec must make the committed code stale"),
    }
    assert!(xtask::write(&dir).unwrap());
    let regenerated = std::fs::read_to_string(dir.join(GENERATED_PATH)).unwrap();
    assert!(regenerated.contains("pub pinned_note: ::std::option::Option<::std::string::String>"));
    assert_eq!(xtask::check(&dir).unwrap(), CheckOutcome::UpToDate);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unsupported_specs_are_errors_not_panics() {
    let err = xtask::generate_source("openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\n")
        .unwrap_err();
    assert!(err.to_string().contains("3.0.x"), "{err}");

    // Two success codes with different schemas make progenitor assert.
    let spec = spec_text().replacen(
        "            $ref: '#/components/schemas/TicketUpsertBatchResult'\n          examples:\n            partialFailure:",
        "            $ref: '#/components/schemas/ApiError'\n          examples:\n            partialFailure:",
        1,
    );
    assert_ne!(
        spec,
        spec_text(),
        "the anchor for the edit moved; update this test"
    );
    let err = xtask::generate_source(&spec).unwrap_err();
    assert!(
        err.to_string().contains("cannot generate this spec"),
        "{err}"
    );
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "xtask-codegen-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
