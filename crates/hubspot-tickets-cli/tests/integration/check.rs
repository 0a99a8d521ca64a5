//! `hubspot-tickets check`: the preflight alone against the emulator's property
//! definitions; nothing is written.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hubspot_emulator::EmulatorConfig;

use crate::common::*;

const TOKEN: &str = "check-token";

fn check(url: &str, token: &str, file: &std::path::Path, id_property: &str) -> assert_cmd::Command {
    let mut cmd = cli();
    cmd.env("HUBSPOT_ACCESS_TOKEN", token).args([
        "check",
        "--id-property",
        id_property,
        "--base-url",
        url,
        file.to_str().unwrap(),
    ]);
    cmd
}

#[test]
fn invalid_records_are_listed_with_hints_and_nothing_is_written() {
    let emu = Emu::start(
        EmulatorConfig::default()
            .without_rate_limits()
            .with_token(TOKEN),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "t.csv",
        "external_ticket_id,subject,hs_pipeline_stage,hs_ticket_priority\n\
         ZD-1,Printer,4,HIGH\n\
         ZD-2,Refund,Closed,LOW\n\
         ZD-3,Login,1,high\n",
    );
    let out = check(emu.url(), TOKEN, &file, "external_ticket_id")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("records         3"), "{stdout}");
    assert!(stdout.contains("invalid         2"), "{stdout}");
    assert!(stdout.contains("line 3 (id \"ZD-2\")"), "{stdout}");
    assert!(
        stdout.contains("\"Closed\" is the label of option \"4\""),
        "{stdout}"
    );
    assert!(stdout.contains("line 4 (id \"ZD-3\")"), "{stdout}");
    assert!(stdout.contains("nothing was written"), "{stdout}");
    assert!(!stdout.contains(TOKEN));
    assert_eq!(emu.count(), 0);
    assert_eq!(emu.requests(), 0, "no upsert was sent");
    emu.shutdown();
}

#[test]
fn configuration_problems_are_named_together() {
    let emu = Emu::start(
        EmulatorConfig::default()
            .without_rate_limits()
            .with_token(TOKEN),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "t.csv",
        "hs_object_id,subjekt,time_to_close,colour\n1,Printer,3,red\n",
    );
    let out = check(emu.url(), TOKEN, &file, "hs_object_id")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(5), "{stdout}");
    assert!(
        stdout.contains("idProperty \"hs_object_id\" does not have unique values"),
        "{stdout}"
    );
    // Both unknown columns in one run; `time_to_close` exists (calculated: a
    // per-record problem, not a configuration one).
    assert!(
        stdout.contains("column \"subjekt\" is not a property"),
        "{stdout}"
    );
    assert!(!stdout.contains("time_to_close"), "{stdout}");
    assert!(stdout.contains("column \"colour\""), "{stdout}");
    emu.shutdown();
}

#[test]
fn all_valid_is_success_and_a_token_without_the_scope_says_why() {
    let emu = Emu::start(
        EmulatorConfig::default()
            .without_rate_limits()
            .with_token(TOKEN)
            .with_token_scopes("contacts-only", ["crm.objects.contacts.write"]),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "t.csv",
        "external_ticket_id,subject\nZD-1,Printer\n",
    );
    let out = check(emu.url(), TOKEN, &file, "external_ticket_id")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = check(emu.url(), "contacts-only", &file, "external_ticket_id")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("(403)") && stderr.contains("read scope"),
        "{stderr}"
    );
    assert!(!stderr.contains("contacts-only"), "{stderr}");
    emu.shutdown();
}

/// `upsert --preflight`: records the portal would refuse are reported invalid and not
/// sent, the rest are written; a column that does not exist stops the run before any
/// write (no report file).
#[test]
fn upsert_with_the_preflight_sends_only_what_passes() {
    let emu = Emu::start(
        EmulatorConfig::default()
            .without_rate_limits()
            .with_token(TOKEN),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "t.csv",
        "external_ticket_id,subject,hs_pipeline_stage\nZD-1,Printer,4\nZD-2,Refund,Closed\n",
    );
    let report = dir.path().join("report.jsonl");
    let out = upsert(emu.url(), TOKEN)
        .args([
            "--preflight",
            "--report",
            report.to_str().unwrap(),
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(emu.ticket("ZD-1").is_some());
    assert!(emu.ticket("ZD-2").is_none());
    let lines = crate::common::report(&report);
    let bad = lines.iter().find(|l| l["id"] == "ZD-2").unwrap();
    assert!(bad.to_string().contains("label of option"), "{bad}");

    let bad_column = write(dir.path(), "c.csv", "external_ticket_id,subjekt\nZD-3,x\n");
    let report2 = dir.path().join("report2.jsonl");
    let out = upsert(emu.url(), TOKEN)
        .args([
            "--preflight",
            "--report",
            report2.to_str().unwrap(),
            bad_column.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("column \"subjekt\" is not a property"),
        "{stderr}"
    );
    assert!(!report2.exists(), "stopped before the report was made");
    assert!(emu.ticket("ZD-3").is_none());
    emu.shutdown();
}
