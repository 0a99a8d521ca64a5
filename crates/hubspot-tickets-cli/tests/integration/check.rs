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

/// `upsert` (the preflight is on by default): records the portal would refuse are reported invalid and not
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
        .args(["--report", report.to_str().unwrap(), file.to_str().unwrap()])
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

/// The issue's test: one file with every kind of record problem (an unknown property,
/// a read-only one, a calculated one, a bad enumeration value, a label instead of a
/// value, a bad number, a bad date, a bad boolean) between good records. With the
/// preflight (the default) exactly the records the emulator refuses without it are
/// kept back, each with a reason naming its property, and none of them is sent; the
/// good ones are written. Then the run-wide problems (a column that does not exist, an
/// idProperty without unique values): the preflight stops before any write, naming
/// them all, where the emulator would refuse every record.
#[test]
fn the_preflight_refuses_exactly_what_the_emulator_would() {
    use hubspot_emulator::PropertyDef;
    let config = || {
        EmulatorConfig::default()
            .without_rate_limits()
            .with_token(TOKEN)
            .with_property(PropertyDef::number("score"))
            .with_property(PropertyDef::boolean("vip"))
            .with_property(PropertyDef::date("due_date"))
            .with_property(PropertyDef::datetime("escalated_at"))
            .with_property(PropertyDef::string("legacy_ref").read_only())
    };
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "mixed.jsonl",
        concat!(
            r#"{"external_ticket_id":"G-1","subject":"Printer","hs_ticket_priority":"HIGH","score":"3.5","vip":"true","due_date":"2026-12-01","escalated_at":"2026-12-01T10:00:00Z"}"#,
            "\n",
            r#"{"external_ticket_id":"B-unknown","subjct":"Typo"}"#,
            "\n",
            r#"{"external_ticket_id":"B-readonly","legacy_ref":"X-9"}"#,
            "\n",
            r#"{"external_ticket_id":"B-calculated","time_to_close":"3"}"#,
            "\n",
            r#"{"external_ticket_id":"B-enum","hs_ticket_priority":"URGENT"}"#,
            "\n",
            r#"{"external_ticket_id":"B-label","hs_pipeline_stage":"Closed"}"#,
            "\n",
            r#"{"external_ticket_id":"B-number","score":"three"}"#,
            "\n",
            r#"{"external_ticket_id":"B-date","due_date":"12/01/2026"}"#,
            "\n",
            r#"{"external_ticket_id":"B-bool","vip":"yes"}"#,
            "\n",
            r#"{"external_ticket_id":"G-2","subject":"Refund","hs_pipeline_stage":"4","due_date":"1764547200000"}"#,
            "\n",
        ),
    );
    // What each bad record's reason names (ours and the emulator's alike).
    let expected: [(&str, &str); 8] = [
        ("B-unknown", "subjct"),
        ("B-readonly", "legacy_ref"),
        ("B-calculated", "time_to_close"),
        ("B-enum", "hs_ticket_priority"),
        ("B-label", "hs_pipeline_stage"),
        ("B-number", "score"),
        ("B-date", "due_date"),
        ("B-bool", "vip"),
    ];
    let run = |emu: &Emu, extra: &[&str], report: &std::path::Path| {
        let out = upsert(emu.url(), TOKEN)
            .args(extra)
            .args(["--report", report.to_str().unwrap(), file.to_str().unwrap()])
            .output()
            .unwrap();
        let lines = crate::common::report(report);
        let refused: std::collections::BTreeMap<String, String> = lines
            .iter()
            .filter(|l| !matches!(l["outcome"].as_str(), Some("created" | "updated")))
            .map(|l| {
                (
                    l["id"].as_str().unwrap().to_owned(),
                    l["error_message"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        (out, refused)
    };

    // Without the preflight: what the emulator itself refuses.
    let plain = Emu::start(config());
    let (out, refused_there) = run(&plain, &["--no-preflight"], &dir.path().join("plain.jsonl"));
    assert_eq!(out.status.code(), Some(1), "{}", all_output(&out));
    plain.shutdown();

    // With it: the same records, kept back before any request.
    let emu = Emu::start(config());
    let (out, refused_here) = run(&emu, &[], &dir.path().join("checked.jsonl"));
    assert_eq!(out.status.code(), Some(1), "{}", all_output(&out));
    let ids =
        |m: &std::collections::BTreeMap<String, String>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        ids(&refused_here),
        ids(&refused_there),
        "the same records refused"
    );
    let mut want: Vec<String> = expected.iter().map(|(id, _)| (*id).to_owned()).collect();
    want.sort();
    assert_eq!(ids(&refused_here), want);
    for (id, property) in expected {
        for (side, reasons) in [("preflight", &refused_here), ("emulator", &refused_there)] {
            let why = &reasons[id];
            assert!(why.contains(property), "{side}, {id}: {why}");
        }
        assert!(
            refused_here[id].starts_with("not sent: the preflight found"),
            "{id}: {}",
            refused_here[id]
        );
    }
    // The hint of a near miss.
    assert!(
        refused_here["B-label"].contains("label of option \"4\""),
        "{}",
        refused_here["B-label"]
    );
    // One write (the two good records; the emulator counts upserts): nothing bad was
    // sent.
    assert_eq!(emu.requests(), 1, "one batch");
    assert_eq!(emu.count(), 2);
    assert!(emu.ticket("G-1").is_some() && emu.ticket("G-2").is_some());
    emu.shutdown();

    // Run-wide problems, both at once, before any write.
    let csv = write(
        dir.path(),
        "config.csv",
        "external_ticket_id,content,colour,Ticket name\nC-1,Printer,red,x\nC-2,Refund,blue,y\n",
    );
    for (id_property, named) in [
        (
            "external_ticket_id",
            &[
                "column \"colour\" is not a property",
                "column \"Ticket name\" is not a property (did you mean \"subject\"?)",
                "--map \"Ticket name=subject\"",
            ][..],
        ),
        (
            "subject",
            &[
                "idProperty \"subject\" does not have unique values",
                "column \"colour\"",
            ][..],
        ),
    ] {
        let emu = Emu::start(config());
        let out = cli()
            .env("HUBSPOT_ACCESS_TOKEN", TOKEN)
            .args([
                "upsert",
                "--id-property",
                id_property,
                "--base-url",
                emu.url(),
                "--progress",
                "none",
                "--id-column",
                "external_ticket_id",
            ])
            .arg(&csv)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(5), "{stderr}");
        for words in named {
            assert!(stderr.contains(words), "{words}: {stderr}");
        }
        assert_eq!(emu.requests(), 0, "no upsert");
        assert_eq!(emu.count(), 0);
        emu.shutdown();
    }
}

/// A spreadsheet export's headers mapped with --map and --map-file: written under the
/// mapped names; an unmapped label is named with the --map that fixes it; the re-run
/// hint carries the mapping; --dry-run with a token runs the preflight, without one
/// says it did not.
#[test]
fn mapped_headers_are_written_checked_and_carried_into_the_rerun_hint() {
    let emu = Emu::start(
        EmulatorConfig::default()
            .without_rate_limits()
            .with_token(TOKEN),
    );
    let dir = tempfile::tempdir().unwrap();
    let export = write(
        dir.path(),
        "export.csv",
        "Ticket ID,Ticket name,Priority\nM-1,Printer,HIGH\nM-2,Refund,Urgent\n",
    );
    let map_file = write(
        dir.path(),
        "helpdesk.map",
        "# helpdesk\nPriority=hs_ticket_priority\n",
    );
    // Without the mapping of "Ticket name": stopped, told the fix.
    let out = cli()
        .env("HUBSPOT_ACCESS_TOKEN", TOKEN)
        .args([
            "upsert",
            "--id-property",
            "external_ticket_id",
            "--base-url",
            emu.url(),
        ])
        .args(["--map", "Ticket ID=external_ticket_id", "--map-file"])
        .arg(&map_file)
        .arg(&export)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("to fix: --map \"Ticket name=subject\""),
        "{stderr}"
    );
    assert_eq!(emu.requests(), 0);

    let failed = dir.path().join("failed.csv");
    let out = cli()
        .env("HUBSPOT_ACCESS_TOKEN", TOKEN)
        .args([
            "upsert",
            "--id-property",
            "external_ticket_id",
            "--base-url",
            emu.url(),
        ])
        .args([
            "--map",
            "Ticket ID=external_ticket_id",
            "--map",
            "Ticket name=subject",
            "--map-file",
        ])
        .arg(&map_file)
        .arg("--failed")
        .arg(&failed)
        .arg(&export)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", all_output(&out));
    assert_eq!(emu.ticket("M-1").unwrap()["subject"], "Printer");
    assert_eq!(emu.ticket("M-1").unwrap()["hs_ticket_priority"], "HIGH");
    assert!(emu.ticket("M-2").is_none(), "Urgent is not an option");
    let hint = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("hubspot-tickets upsert"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        hint.contains(
            "--map 'Ticket ID=external_ticket_id' --map 'Ticket name=subject' --map-file"
        ),
        "{hint}"
    );
    assert!(
        std::fs::read_to_string(&failed)
            .unwrap()
            .starts_with("Ticket ID,Ticket name,Priority")
    );

    // --dry-run: with a token the preflight runs (M-2 found), without one it says so.
    let dry = |token: Option<&str>| {
        let mut cmd = cli();
        if let Some(t) = token {
            cmd.env("HUBSPOT_ACCESS_TOKEN", t);
        }
        cmd.args([
            "upsert",
            "--dry-run",
            "--id-property",
            "external_ticket_id",
            "--base-url",
            emu.url(),
        ])
        .args([
            "--map",
            "Ticket ID=external_ticket_id",
            "--map",
            "Ticket name=subject",
            "--map-file",
        ])
        .arg(&map_file)
        .arg(&export)
        .output()
        .unwrap()
    };
    let out = dry(Some(TOKEN));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("line 3 (id \"M-2\")"), "{stdout}");
    let out = dry(None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("preflight       not run"), "{stdout}");
    assert_eq!(emu.count(), 1, "nothing more written");
    emu.shutdown();
}

/// From the break-it review: a newer record of an id kept back by the preflight stays
/// in the failed file though an older one of that id is written after it; the owner
/// (an enumeration whose options are the account's users) takes an owner id; a header
/// with a trailing space is mapped; a --map naming no column is said first; a JSON key
/// the portal does not know is its record's problem in `check` as in `upsert`.
#[test]
fn review_cases_of_the_preflight() {
    let emu = Emu::start(
        EmulatorConfig::default()
            .without_rate_limits()
            .with_token(TOKEN),
    );
    let dir = tempfile::tempdir().unwrap();
    let order = write(
        dir.path(),
        "order.csv",
        "external_ticket_id,hs_pipeline_stage,hubspot_owner_id\nA1,1,52550153\nA1,oops,\n",
    );
    let failed = dir.path().join("order.failed.csv");
    let out = upsert(emu.url(), TOKEN)
        .arg("--failed")
        .arg(&failed)
        .arg(&order)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", all_output(&out));
    assert_eq!(emu.ticket("A1").unwrap()["hubspot_owner_id"], "52550153");
    assert_eq!(
        std::fs::read_to_string(&failed).unwrap(),
        "external_ticket_id,hs_pipeline_stage,hubspot_owner_id\nA1,oops,\n",
        "the newer value is the one to fix and re-run"
    );

    let spaced = write(
        dir.path(),
        "spaced.csv",
        "external_ticket_id,Subject ,colour\nS1,Printer,red\n",
    );
    let run = |extra: &[&str]| {
        cli()
            .env("HUBSPOT_ACCESS_TOKEN", TOKEN)
            .args([
                "check",
                "--id-property",
                "external_ticket_id",
                "--base-url",
                emu.url(),
            ])
            .args(extra)
            .arg(&spaced)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(5), "{stdout}");
    assert!(stdout.contains("--map \"Subject =subject\""), "{stdout}");
    // The hint, applied, maps the column; colour is still unknown.
    let out = run(&["--map", "Subject =subject"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(5), "{stdout}");
    assert!(!stdout.contains("Subject"), "{stdout}");
    assert!(stdout.contains("column \"colour\""), "{stdout}");
    // A mapping of a column the header does not have is said before the rest.
    let out = run(&["--map", "Nope=subject"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--map names column(s) the header does not have: 'Nope'"),
        "{stderr}"
    );

    let json = write(
        dir.path(),
        "keys.jsonl",
        "{\"external_ticket_id\":\"J1\",\"subject\":\"ok\"}\n{\"external_ticket_id\":\"J2\",\"nope_prop\":\"x\"}\n",
    );
    let out = cli()
        .env("HUBSPOT_ACCESS_TOKEN", TOKEN)
        .args([
            "check",
            "--id-property",
            "external_ticket_id",
            "--base-url",
            emu.url(),
        ])
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("line 2 (id \"J2\")"), "{stdout}");
    emu.shutdown();
}

/// Options of upsert that `check` cannot honour are refused, not ignored.
#[test]
fn check_refuses_the_options_it_cannot_honour() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "t.csv", "external_ticket_id,subject\nZD-1,x\n");
    for (flag, value) in [
        ("--no-preflight", None),
        ("--report", Some("r.jsonl")),
        ("--failed", Some("f.csv")),
        ("--dry-run", None),
    ] {
        let mut cmd = cli();
        cmd.env("HUBSPOT_ACCESS_TOKEN", TOKEN).args([
            "check",
            "--id-property",
            "external_ticket_id",
            flag,
        ]);
        if let Some(v) = value {
            cmd.arg(dir.path().join(v));
        }
        let out = cmd.arg(&file).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag}: {stderr}");
        assert!(
            stderr.contains(&format!("check does not take {flag}")),
            "{stderr}"
        );
        assert!(!dir.path().join("r.jsonl").exists() && !dir.path().join("f.csv").exists());
    }
}
