#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The `hubspot-tickets` binary against the embedded emulator, on ephemeral loopback
//! ports: CSV, JSON Lines, JSON arrays and stdin; dry runs; bad lines; the report and
//! failed files; exit codes; and that the token never shows.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use crate::common::{Emu, all_output, cli, report, write};
use assert_cmd::Command;
use hubspot_emulator::{EmulatorConfig, RateLimitConfig};
use predicates::prelude::*;
use serde_json::Value;

const TOKEN: &str = "pat-na1-test-0123456789abcdef";

impl Emu {
    fn new() -> Emu {
        Emu::start(EmulatorConfig::default().with_tokens([TOKEN]))
    }
}

fn upsert(emu: &Emu) -> Command {
    crate::common::upsert(emu.url(), TOKEN)
}

fn by_line(report: &[Value], line: u64) -> &Value {
    report
        .iter()
        .find(|v| v["line"] == line)
        .unwrap_or_else(|| panic!("no report line for input line {line}: {report:?}"))
}

#[test]
fn csv_file_with_bad_lines_report_and_failed_file_then_fixed_rerun_succeeds() {
    let emu = Emu::new();
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "tickets.csv",
        "\u{feff}external_ticket_id,subject,hs_ticket_priority,hs_pipeline_stage\n\
         ZD-1,Printer jams,HIGH,1\n\
         ZD-2,\"Cannot log in,\nsince Monday\",LOW,2\n\
         ,No id,LOW,1\n\
         ZD-3,Refused priority,URGENT,1\n\
         ZD-4,Short line\n\
         ZD-5,Fine,MEDIUM,3\n",
    );
    let report_path = dir.path().join("report.jsonl");
    let failed_path = dir.path().join("failed.csv");
    let out = upsert(&emu)
        .arg(&input)
        .arg("--report")
        .arg(&report_path)
        .arg("--failed")
        .arg(&failed_path)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("created"))
        .stderr(predicate::str::contains("tickets.csv:5: empty id"))
        .stderr(predicate::str::contains(
            "tickets.csv:7: 2 fields where the header has 4 columns",
        ))
        .get_output()
        .clone();
    assert!(!all_output(&out).contains(TOKEN));

    assert_eq!(emu.ticket("ZD-1").unwrap()["subject"], "Printer jams");
    assert_eq!(
        emu.ticket("ZD-2").unwrap()["subject"],
        "Cannot log in,\nsince Monday"
    );
    assert!(emu.ticket("ZD-3").is_none());
    assert!(emu.ticket("ZD-5").is_some());

    let r = report(&report_path);
    assert_eq!(r.len(), 6, "one report line per input record: {r:?}");
    assert_eq!(by_line(&r, 2)["outcome"], "created");
    assert_eq!(by_line(&r, 2)["id"], "ZD-1");
    assert!(by_line(&r, 2)["object_id"].is_string());
    assert_eq!(by_line(&r, 3)["id"], "ZD-2");
    assert_eq!(by_line(&r, 5)["outcome"], "invalid");
    assert_eq!(by_line(&r, 6)["outcome"], "failed");
    assert_eq!(by_line(&r, 6)["id"], "ZD-3");
    // Kept back by the preflight: URGENT is not one of the priority's options.
    assert_eq!(by_line(&r, 6)["error_kind"], "invalid_input");
    let why = by_line(&r, 6)["error_message"].as_str().unwrap().to_owned();
    assert!(
        why.contains("hs_ticket_priority") && why.contains("URGENT"),
        "{why}"
    );
    assert_eq!(by_line(&r, 7)["outcome"], "invalid");
    assert_eq!(by_line(&r, 8)["outcome"], "created");

    // The failed file is CSV with the input's header: fix it and re-run it.
    let failed = std::fs::read_to_string(&failed_path).unwrap();
    let mut lines: Vec<&str> = failed.lines().collect();
    assert_eq!(
        lines[0],
        "external_ticket_id,subject,hs_ticket_priority,hs_pipeline_stage"
    );
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            ",No id,LOW,1",
            "ZD-3,Refused priority,URGENT,1",
            "ZD-4,Short line",
            "external_ticket_id,subject,hs_ticket_priority,hs_pipeline_stage",
        ]
    );
    let fixed = failed
        .replace(",No id,LOW,1", "ZD-6,No id,LOW,1")
        .replace("URGENT", "HIGH")
        .replace("ZD-4,Short line", "ZD-4,Short line,LOW,1");
    std::fs::write(&failed_path, fixed).unwrap();
    upsert(&emu)
        .arg(&failed_path)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("created"));
    assert_eq!(emu.ticket("ZD-3").unwrap()["hs_ticket_priority"], "HIGH");
    assert!(emu.ticket("ZD-4").is_some());
    assert!(emu.ticket("ZD-6").is_some());
}

/// A CRLF file's failed file is CRLF too: every line, header included, ends as in the
/// input, with no blank line between records.
#[test]
fn crlf_csv_gives_a_crlf_failed_file() {
    let emu = Emu::new();
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "tickets.csv",
        "external_ticket_id,subject,hs_ticket_priority\r\n\
         C-1,Fine,LOW\r\n\
         C-2,Refused,URGENT\r\n\
         ,No id,LOW\r\n\
         C-4,Refused too,URGENT\r\n",
    );
    let failed_path = dir.path().join("failed.csv");
    upsert(&emu)
        .arg(&input)
        .arg("--failed")
        .arg(&failed_path)
        .assert()
        .code(1);
    assert!(emu.ticket("C-1").is_some());
    let failed = std::fs::read_to_string(&failed_path).unwrap();
    assert!(failed.ends_with("\r\n"), "{failed:?}");
    assert!(!failed.replace("\r\n", "").contains('\n'), "{failed:?}");
    let mut lines: Vec<&str> = failed.split_terminator("\r\n").collect();
    assert_eq!(lines[0], "external_ticket_id,subject,hs_ticket_priority");
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            ",No id,LOW",
            "C-2,Refused,URGENT",
            "C-4,Refused too,URGENT",
            "external_ticket_id,subject,hs_ticket_priority",
        ]
    );
}

#[test]
fn jsonl_from_stdin_updates_and_converts_values() {
    let emu = Emu::new();
    let first = "{\"external_ticket_id\":\"J-1\",\"subject\":\"One\",\"hubspot_owner_id\":42}\n\
                 {\"id\":\"J-2\",\"properties\":{\"subject\":\"Two\",\"hs_ticket_category\":[\"BILLING_ISSUE\",\"PRODUCT_ISSUE\"]},\"objectWriteTraceId\":\"trace-2\"}\n";
    upsert(&emu).arg("-").write_stdin(first).assert().code(0);
    let t = emu.ticket("J-1").unwrap();
    assert_eq!(t["hubspot_owner_id"], "42");
    let t = emu.ticket("J-2").unwrap();
    assert_eq!(t["hs_ticket_category"], "BILLING_ISSUE;PRODUCT_ISSUE");

    let dir = tempfile::tempdir().unwrap();
    let report_path = dir.path().join("r.jsonl");
    // No FILE argument also means stdin.
    upsert(&emu)
        .arg("--report")
        .arg(&report_path)
        .write_stdin("{\"external_ticket_id\":\"J-1\",\"subject\":\"One, edited\"}\n")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("updated"));
    assert_eq!(emu.ticket("J-1").unwrap()["subject"], "One, edited");
    let r = report(&report_path);
    assert_eq!(r[0]["outcome"], "updated");
    assert_eq!(r[0]["line"], 1);
}

#[test]
fn json_array_file_and_failed_file_as_json_array() {
    let emu = Emu::new();
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "tickets.json",
        "[\n  {\"external_ticket_id\": \"A-1\", \"subject\": \"ok\"},\n  {\"external_ticket_id\": \"A-2\", \"hs_ticket_priority\": \"NOPE\"},\n  {\"subject\": \"no id\"}\n]\n",
    );
    let failed_path = dir.path().join("failed.json");
    upsert(&emu)
        .arg(&input)
        .arg("--failed")
        .arg(&failed_path)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "tickets.json:4: no 'external_ticket_id' key",
        ));
    assert!(emu.ticket("A-1").is_some());
    let failed: Value =
        serde_json::from_str(&std::fs::read_to_string(&failed_path).unwrap()).unwrap();
    let ids: Vec<&str> = failed
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["external_ticket_id"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(ids.len(), 2, "{failed}");
    assert!(ids.contains(&"A-2") && ids.contains(&"-"), "{ids:?}");
}

#[test]
fn dry_run_validates_without_network_or_token() {
    let emu = Emu::new();
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "t.jsonl",
        "{\"external_ticket_id\":\"D-1\",\"subject\":\"a\"}\n\
         {\"external_ticket_id\":\"D-2\",\"Subject\":\"b\"}\n\
         {\"external_ticket_id\":\"D-1\",\"subject\":\"again\"}\n",
    );
    let report_path = dir.path().join("dry.jsonl");
    cli()
        .args([
            "upsert",
            "--id-property",
            "external_ticket_id",
            "--dry-run",
            "--base-url",
            emu.url(),
        ])
        .arg(&input)
        .arg("--report")
        .arg(&report_path)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("nothing was written"))
        .stdout(predicate::str::contains(
            "preflight       not run: no access token",
        ))
        .stdout(predicate::str::contains("valid records"))
        .stderr(predicate::str::contains(
            "t.jsonl:2: invalid property name 'Subject'",
        ))
        .stderr(predicate::str::contains(
            "t.jsonl:3: id 'D-1' already appears on line 1",
        ));
    assert_eq!(emu.requests(), 0);
    let r = report(&report_path);
    let outcomes: Vec<&str> = r.iter().map(|v| v["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["would_upsert", "invalid", "duplicate"]);

    // --strict turns a repeated id into an error too; --dry-run alone on a clean file is 0.
    let clean = write(
        dir.path(),
        "clean.csv",
        "external_ticket_id,subject\nC-1,x\n",
    );
    cli()
        .args(["upsert", "--id-property", "external_ticket_id", "--dry-run"])
        .arg(&clean)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("requests"));
    assert_eq!(emu.requests(), 0);
}

#[test]
fn strict_sends_nothing_when_a_line_is_bad() {
    let emu = Emu::new();
    upsert(&emu)
        .args(["--strict", "--format", "csv", "-"])
        .write_stdin("external_ticket_id,subject\nS-1,ok\n,bad\n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("<stdin>:3: empty id"))
        .stderr(predicate::str::contains("nothing was sent"));
    assert_eq!(emu.requests(), 0);
    assert!(emu.ticket("S-1").is_none());
}

#[test]
fn wrong_token_exits_3_and_never_prints_either_token() {
    let emu = Emu::new();
    let dir = tempfile::tempdir().unwrap();
    let wrong = "pat-na1-wrong-token-fedcba9876543210";
    let token_file = write(dir.path(), "token", &format!("{wrong}\n"));
    let report_path = dir.path().join("r.jsonl");
    let failed_path = dir.path().join("f.jsonl");
    let out = cli()
        .env("HUBSPOT_ACCESS_TOKEN", TOKEN)
        .args([
            "upsert",
            "--id-property",
            "external_ticket_id",
            "--base-url",
            emu.url(),
            "--progress",
            "plain",
            "-vv",
            // The write's 401 is what is tested (the preflight's is below).
            "--no-preflight",
        ])
        .arg("--token-file")
        .arg(&token_file)
        .arg("--report")
        .arg(&report_path)
        .arg("--failed")
        .arg(&failed_path)
        .write_stdin("{\"external_ticket_id\":\"W-1\"}\n{\"external_ticket_id\":\"W-2\"}\n")
        .assert()
        .code(3)
        .get_output()
        .clone();
    let text = all_output(&out);
    assert!(!text.contains(wrong) && !text.contains(TOKEN), "{text}");
    // Nothing was sent: no records/s for the records never sent.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rate = stdout.lines().find(|l| l.starts_with("records/s")).unwrap();
    assert_eq!(rate.split_whitespace().last(), Some("-"), "{stdout}");
    // The re-run hint carries what the run needs to reach the same place with the same
    // token: the --base-url and the --token-file, never the token itself.
    let hint = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("hubspot-tickets upsert"))
        .unwrap_or_else(|| panic!("no re-run hint: {stdout}"));
    assert!(
        hint.contains(&format!("--base-url {}", emu.url())),
        "{hint}"
    );
    assert!(
        hint.contains(&format!("--token-file {}", token_file.display())),
        "{hint}"
    );
    assert!(hint.ends_with(&failed_path.display().to_string()), "{hint}");
    let files = std::fs::read_to_string(&report_path).unwrap()
        + &std::fs::read_to_string(&failed_path).unwrap();
    assert!(!files.contains(wrong), "{files}");
    assert_eq!(
        std::fs::read_to_string(&failed_path)
            .unwrap()
            .lines()
            .count(),
        2
    );
    assert!(emu.ticket("W-1").is_none());

    // With the preflight, its read meets the 401 first: exit 3 before any file is
    // made, and neither token printed.
    let report_path = dir.path().join("r2.jsonl");
    let out = cli()
        .args([
            "upsert",
            "--id-property",
            "external_ticket_id",
            "--base-url",
            emu.url(),
            "-vv",
        ])
        .arg("--token-file")
        .arg(&token_file)
        .arg("--report")
        .arg(&report_path)
        .write_stdin("{\"external_ticket_id\":\"W-1\"}\n")
        .assert()
        .code(3)
        .get_output()
        .clone();
    let text = all_output(&out);
    assert!(!text.contains(wrong), "{text}");
    assert!(text.contains("(401)"), "{text}");
    assert!(!report_path.exists());
}

#[test]
fn token_file_with_trailing_newline_works() {
    let emu = Emu::new();
    let dir = tempfile::tempdir().unwrap();
    let token_file = write(dir.path(), "token", &format!("{TOKEN}\r\n"));
    cli()
        .args([
            "upsert",
            "--id-property",
            "external_ticket_id",
            "--progress",
            "none",
            "--base-url",
            emu.url(),
        ])
        .arg("--token-file")
        .arg(&token_file)
        .write_stdin("external_ticket_id,subject\nT-1,x\n")
        .assert()
        .code(0);
    assert!(emu.ticket("T-1").is_some());
}

#[test]
fn daily_limit_exits_4_and_keeps_the_rest_for_a_rerun() {
    let emu = Emu::start(
        EmulatorConfig::default()
            .with_tokens([TOKEN])
            .with_rate_limit(
                RateLimitConfig::per_window(100, Duration::from_secs(10)).with_daily(Some(1)),
            ),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("external_ticket_id,subject\n");
    for i in 0..250 {
        text.push_str(&format!("L-{i},ticket {i}\n"));
    }
    let input = write(dir.path(), "many.csv", &text);
    let failed_path = dir.path().join("left.csv");
    upsert(&emu)
        .args(["--concurrency", "1"])
        .arg(&input)
        .arg("--failed")
        .arg(&failed_path)
        .assert()
        .code(4)
        .stderr(predicate::str::contains("daily"));
    let left = std::fs::read_to_string(&failed_path).unwrap();
    let stored = emu.count();
    assert_eq!(stored + left.lines().count() - 1, 250, "{stored} stored");
}

#[test]
fn usage_errors_exit_2() {
    cli()
        .args([
            "upsert",
            "--id-property",
            "external_ticket_id",
            "missing.csv",
        ])
        .env("HUBSPOT_ACCESS_TOKEN", TOKEN)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing.csv"));
    cli()
        .args(["upsert", "--id-property", "external_ticket_id", "-"])
        .write_stdin("external_ticket_id\nX\n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("HUBSPOT_ACCESS_TOKEN"));
    cli()
        .args(["upsert", "--id-property", "external_ticket_id", "--bogus"])
        .assert()
        .code(2);
    cli()
        .args([
            "upsert",
            "--id-property",
            "external_ticket_id",
            "--dry-run",
            "-",
        ])
        .write_stdin("id,subject\n1,x\n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--id-column"));
    cli()
        .args([
            "upsert",
            "--id-property",
            "external_ticket_id",
            "--rate-limit",
            "fast",
        ])
        .assert()
        .code(2);
}

#[test]
fn help_documents_exit_codes() {
    for args in [&["--help"][..], &["upsert", "--help"][..]] {
        cli()
            .args(args)
            .assert()
            .code(0)
            .stdout(predicate::str::contains("Exit codes:"))
            .stdout(predicate::str::contains(
                "4  stopped by HubSpot's daily request limit",
            ));
    }
}

#[test]
fn demo_prints_both_summaries_and_exits_0() {
    let out = cli()
        .args(["demo", "--tickets", "600", "--progress", "plain"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("run 1: tickets.jsonl"))
        .stdout(predicate::str::contains("run 2: changes.csv"))
        .stdout(predicate::str::contains("Demo complete"))
        .get_output()
        .clone();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let created = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("created"))
        .unwrap();
    assert!(created.contains("600"), "{stdout}");
}

/// With faults injected (seeded), every record still ends as planned, and the demo
/// says so only because the store shows it.
#[test]
fn demo_with_faults_ends_as_planned() {
    let out = cli()
        .args([
            "demo",
            "--faults",
            "--seed",
            "4",
            "--tickets",
            "2000",
            "--progress",
            "none",
        ])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "Demo complete: every record ended as planned.",
        ))
        .get_output()
        .clone();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let holds = stdout
        .lines()
        .find(|l| l.starts_with("The emulator now holds"))
        .unwrap();
    assert!(
        holds.starts_with("The emulator now holds 2,008 tickets (2,000 + 8 new): nothing lost, nothing duplicated despite "),
        "{stdout}"
    );
    let faults: u64 = holds
        .split(" despite ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.replace(',', "").parse().ok())
        .unwrap();
    assert!(faults > 0, "no fault was injected: {stdout}");
    let retried = stdout.lines().find(|l| l.starts_with("Faults: ")).unwrap();
    assert!(!retried.contains(" 0 retried"), "{stdout}");
}

#[test]
fn emulator_subcommand_serves_until_stopped() {
    let bin = assert_cmd::cargo::cargo_bin("hubspot-tickets");
    let mut child = std::process::Command::new(bin)
        .args(["emulator", "--port", "0", "--token", TOKEN])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    let result = cli()
        .env("HUBSPOT_ACCESS_TOKEN", TOKEN)
        .args([
            "upsert",
            "--id-property",
            "external_ticket_id",
            "--progress",
            "none",
            "--base-url",
            &url,
            "-",
        ])
        .write_stdin("external_ticket_id,subject\nE-1,x\n")
        .assert()
        .try_code(0);
    child.kill().unwrap();
    let _ = child.wait();
    result.unwrap();
}

/// The bar is drawn when stderr is a terminal: run the binary in a pseudo-terminal with
/// util-linux `script` (skipped where it is missing).
#[test]
fn progress_bar_draws_in_a_pseudo_terminal_and_not_in_a_pipe() {
    let script_ok = std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let emu = Emu::new();
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..300 {
        text.push_str(&format!(
            "{{\"external_ticket_id\":\"B-{i}\",\"subject\":\"s{i}\"}}\n"
        ));
    }
    let input = write(dir.path(), "bar.jsonl", &text);

    // Not a terminal: plain output, no escape sequences.
    let out = cli()
        .env("HUBSPOT_ACCESS_TOKEN", TOKEN)
        .args([
            "upsert",
            "--id-property",
            "external_ticket_id",
            "--base-url",
            emu.url(),
        ])
        .arg(&input)
        .assert()
        .code(0)
        .get_output()
        .clone();
    assert!(!all_output(&out).contains('\u{1b}'), "{}", all_output(&out));

    if !script_ok {
        eprintln!("`script` not found: pseudo-terminal check skipped");
        return;
    }
    let bin = assert_cmd::cargo::cargo_bin("hubspot-tickets");
    let command = format!(
        "'{}' upsert --id-property external_ticket_id --base-url '{}' '{}'",
        bin.display(),
        emu.url(),
        input.display()
    );
    let out = std::process::Command::new("script")
        .args(["-qefc", &command, "/dev/null"])
        .env("HUBSPOT_ACCESS_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("300/300"), "{text}");
    assert!(text.contains("ETA"), "{text}");
    assert!(
        text.contains("\u{1b}[2K"),
        "the bar redraws its line: {text}"
    );
    assert!(!text.contains(TOKEN));
}
