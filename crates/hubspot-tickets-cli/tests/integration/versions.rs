#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `--api-version` and `--object-type`: a contacts run by `email` on each version, the
//! path a dry run names, refusals before any request, and a token without the scope.

use crate::common::{Emu, cli, report};
use hubspot_emulator::EmulatorConfig;
use predicates::prelude::*;

const TOKEN: &str = "pat-na1-versions-0123456789abcdef";

fn contacts_csv(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("contacts.csv");
    std::fs::write(
        &p,
        "email,firstname,lifecyclestage\n\
         ada@example.com,Ada,customer\n\
         grace@example.com,Grace,no_such_stage\n\
         alan@example.com,Alan,lead\n",
    )
    .unwrap();
    p
}

/// `upsert` of contacts by `email` on `version`, against `emu`.
fn contacts_upsert(emu: &Emu, version: &str) -> assert_cmd::Command {
    let mut cmd = cli();
    cmd.env("HUBSPOT_ACCESS_TOKEN", TOKEN)
        .args([
            "upsert",
            "--object-type",
            "contacts",
            "--id-property",
            "email",
        ])
        .args([
            "--api-version",
            version,
            "--base-url",
            emu.url(),
            "--progress",
            "none",
        ]);
    cmd
}

#[test]
fn a_contacts_run_by_email_works_on_every_version() {
    for version in ["v3", "2026-03", "2026-09"] {
        let emu = Emu::start(EmulatorConfig::default().with_tokens([TOKEN]));
        let dir = tempfile::tempdir().unwrap();
        let input = contacts_csv(dir.path());
        let report_path = dir.path().join("r.jsonl");
        let failed = dir.path().join("failed.csv");
        contacts_upsert(&emu, version)
            .arg(&input)
            .arg("--report")
            .arg(&report_path)
            .arg("--failed")
            .arg(&failed)
            .assert()
            .code(1)
            .stdout(predicate::str::contains(
                "--object-type contacts --id-property email",
            ));
        let contacts = emu.emulator().store_for("contacts").unwrap();
        assert_eq!(contacts.count(), 2, "{version}");
        let ada = contacts.get_by_unique("email", "ada@example.com").unwrap();
        assert_eq!(ada.properties["firstname"], "Ada");
        assert_eq!(emu.count(), 0, "{version}: no ticket written");
        let lines = report(&report_path);
        // In input order (the preflight's refusals come before the batch's answers).
        let mut lines = lines;
        lines.sort_by_key(|l| l["position"].as_u64());
        let outcomes: Vec<&str> = lines
            .iter()
            .map(|l| l["outcome"].as_str().unwrap())
            .collect();
        assert_eq!(outcomes, ["created", "failed", "created"], "{version}");
        assert!(
            std::fs::read_to_string(&failed)
                .unwrap()
                .contains("grace@example.com")
        );
        let log = emu.emulator().stats().request_log;
        assert!(
            log.iter()
                .all(|e| e.api_version == version && e.object_type == "contacts")
        );
    }
}

#[test]
fn dry_run_names_the_path_it_would_call() {
    let dir = tempfile::tempdir().unwrap();
    let input = contacts_csv(dir.path());
    for (args, path) in [
        (
            vec![],
            "POST https://api.hubapi.com/crm/v3/objects/tickets/batch/upsert",
        ),
        (
            vec!["--api-version", "2026-09", "--object-type", "contacts"],
            "POST https://api.hubapi.com/crm/objects/2026-09/contacts/batch/upsert",
        ),
        (
            vec!["--api-version", "2026-03", "--object-type", "2-123"],
            "POST https://api.hubapi.com/crm/objects/2026-03/2-123/batch/upsert",
        ),
        (
            vec![
                "--api-version",
                "2027-09",
                "--object-type",
                "p_2418337_cars",
            ],
            "POST https://api.hubapi.com/crm/objects/2027-09/p_2418337_cars/batch/upsert",
        ),
    ] {
        cli()
            .args(["upsert", "--id-property", "email", "--dry-run"])
            .args(&args)
            .arg(&input)
            .assert()
            .code(0)
            .stdout(predicate::str::contains(path));
    }
}

#[test]
fn malformed_versions_and_object_types_are_refused_before_any_request() {
    let emu = Emu::start(EmulatorConfig::default().with_tokens([TOKEN]));
    let dir = tempfile::tempdir().unwrap();
    let input = contacts_csv(dir.path());
    let cases: [(&str, &str, &str); 9] = [
        ("--api-version", "2026-13", "not a month"),
        ("--api-version", "v4", "not v3 or a dated version"),
        ("--api-version", "../", "not v3 or a dated version"),
        (
            "--api-version",
            "2026-09/../../x",
            "not v3 or a dated version",
        ),
        ("--object-type", "", "it is empty"),
        ("--object-type", "ticket", "unknown object type"),
        ("--object-type", "tickets/../../x", "unknown object type"),
        ("--object-type", "%2F", "unknown object type"),
        ("--object-type", "tickets%2F..%2Fx", "unknown object type"),
    ];
    for (flag, value, says) in cases {
        cli()
            .env("HUBSPOT_ACCESS_TOKEN", TOKEN)
            .args(["upsert", "--id-property", "email", "--base-url", emu.url()])
            .args([flag, value])
            .arg(&input)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(says));
    }
    assert_eq!(emu.requests(), 0, "nothing reached the emulator");
}

#[test]
fn a_token_without_the_object_types_scope_stops_with_exit_3() {
    let emu = Emu::start(
        EmulatorConfig::default()
            .with_tokens([TOKEN])
            .with_token_scopes(TOKEN, ["tickets"]),
    );
    let dir = tempfile::tempdir().unwrap();
    let input = contacts_csv(dir.path());
    let report_path = dir.path().join("r.jsonl");
    contacts_upsert(&emu, "2026-09")
        .arg(&input)
        .arg("--report")
        .arg(&report_path)
        .assert()
        .code(3)
        .stderr(predicate::str::contains("crm.objects.contacts.write"));
    assert_eq!(emu.requests(), 1);
    let lines = report(&report_path);
    assert!(
        lines.iter().all(|l| l["outcome"] == "not_attempted"),
        "{lines:?}"
    );
}

#[test]
fn an_api_version_hubspot_does_not_serve_stops_with_exit_5() {
    let emu = Emu::start(EmulatorConfig::default().with_tokens([TOKEN]));
    let dir = tempfile::tempdir().unwrap();
    let input = contacts_csv(dir.path());
    contacts_upsert(&emu, "2031-03")
        .arg(&input)
        .assert()
        .code(5)
        .stderr(predicate::str::contains("--api-version 2031-03"));
    // (The emulator does not count a request to a path it does not serve.)
    drop(emu);
}

#[test]
fn the_demo_runs_its_story_on_every_version() {
    for (version, path) in [
        ("2026-09", "POST /crm/objects/2026-09/tickets/batch/upsert"),
        ("2027-03", "POST /crm/objects/2027-03/tickets/batch/upsert"),
    ] {
        cli()
            .args([
                "demo",
                "--api-version",
                version,
                "--tickets",
                "400",
                "--progress",
                "none",
            ])
            .assert()
            .code(0)
            .stdout(predicate::str::contains(format!(
                "API version {version}: tickets go to {path}"
            )))
            .stdout(predicate::str::contains(
                "Demo complete: every record ended as planned.",
            ));
    }
}
