#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `--resume`, `--report` and `--failed` as an operator meets them at 3 a.m.: an input
//! edited since, another export, another object type, a one-line JSON array, swapped or
//! equal arguments, one file under two names, two runs on one report, a full disk and
//! a pipe. Each runs the real binary against the emulator; none may make HubSpot's data
//! older, drop a record silently, or change a byte of a file it refuses.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{self, Emu, cli, report, write};
use assert_cmd::Command;
use hubspot_emulator::EmulatorConfig;

const TOKEN: &str = "pat-na1-test-resume-0123456789";

fn emu() -> Emu {
    Emu::start(EmulatorConfig::default().with_tokens([TOKEN]))
}

fn upsert(emu: &Emu) -> Command {
    common::upsert(emu.url(), TOKEN)
}

fn subject(emu: &Emu, id: &str) -> String {
    emu.ticket(id).unwrap()["subject"].clone()
}

fn run(cmd: &mut Command) -> (Option<i32>, String) {
    let out = cmd.output().unwrap();
    let text = crate::common::all_output(&out);
    (out.status.code(), text)
}

/// The case: a bad line deleted above an edited record, then `--resume`.
#[test]
fn an_edit_after_a_deleted_line_is_sent_again() {
    let emu = emu();
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "ed.csv",
        "external_ticket_id,subject\nED-1,one\nED-2,two,oops\nED-3,three\n",
    );
    let rep = dir.path().join("ed.jsonl");
    let (code, text) = run(upsert(&emu).arg("--report").arg(&rep).arg(&input));
    assert_eq!(code, Some(1), "{text}");
    write(
        dir.path(),
        "ed.csv",
        "external_ticket_id,subject\nED-1,one\nED-3,three EDITED\n",
    );
    let (code, text) = run(upsert(&emu).arg("--resume").arg(&rep).arg(&input));
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(subject(&emu, "ED-3"), "three EDITED");
    // ED-1 unchanged: skipped, not sent again.
    let lines = report(&rep);
    let ed1: Vec<_> = lines.iter().filter(|l| l["id"] == "ED-1").collect();
    assert_eq!(ed1.len(), 1, "{lines:?}");
    assert!(text.contains("skipped (written before)        1"), "{text}");
}

/// Yesterday's report with today's export: other lines, other order, one value changed
/// back to an older one. Every record ends with today's value.
#[test]
fn another_export_ends_with_its_own_values() {
    let emu = emu();
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("r.jsonl");
    let monday = write(
        dir.path(),
        "monday.jsonl",
        "{\"external_ticket_id\":\"X-1\",\"subject\":\"a\"}\n\
         {\"external_ticket_id\":\"X-2\",\"subject\":\"b\"}\n\
         {\"external_ticket_id\":\"X-2\",\"subject\":\"b2\"}\n\
         {\"external_ticket_id\":\"X-3\",\"subject\":\"c\"}\n",
    );
    let (code, text) = run(upsert(&emu).arg("--report").arg(&rep).arg(&monday));
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(subject(&emu, "X-2"), "b2");
    // Tuesday: X-2 went back to "b" (at an earlier line than Monday's last X-2), X-3
    // moved up, X-1 is gone, X-4 is new.
    let tuesday = write(
        dir.path(),
        "tuesday.jsonl",
        "{\"external_ticket_id\":\"X-2\",\"subject\":\"b\"}\n\
         {\"external_ticket_id\":\"X-3\",\"subject\":\"c\"}\n\
         {\"external_ticket_id\":\"X-4\",\"subject\":\"d\"}\n",
    );
    let (code, text) = run(upsert(&emu).arg("--resume").arg(&rep).arg(&tuesday));
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(subject(&emu, "X-2"), "b");
    assert_eq!(subject(&emu, "X-3"), "c");
    assert_eq!(subject(&emu, "X-4"), "d");
    // Resuming the same export again changes nothing and sends nothing.
    let before = emu.requests();
    let (code, text) = run(upsert(&emu).arg("--resume").arg(&rep).arg(&tuesday));
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(emu.requests(), before, "{text}");
}

/// A finished one-line JSON array with a repeated id: resuming keeps the newer value.
#[test]
fn a_one_line_json_array_with_a_repeated_id_keeps_its_last_value() {
    let emu = emu();
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("r.jsonl");
    let input = write(
        dir.path(),
        "t.json",
        "[{\"external_ticket_id\":\"J-1\",\"subject\":\"old\"},{\"external_ticket_id\":\"J-2\",\"subject\":\"x\"},{\"external_ticket_id\":\"J-1\",\"subject\":\"new\"}]",
    );
    let (code, text) = run(upsert(&emu).arg("--report").arg(&rep).arg(&input));
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(subject(&emu, "J-1"), "new");
    let positions: Vec<u64> = report(&rep)
        .iter()
        .map(|l| l["position"].as_u64().unwrap())
        .collect();
    let mut sorted = positions.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [0, 1, 2],
        "elements on one line have their own positions"
    );
    for _ in 0..2 {
        let (code, text) = run(upsert(&emu).arg("--resume").arg(&rep).arg(&input));
        assert_eq!(code, Some(0), "{text}");
        assert_eq!(subject(&emu, "J-1"), "new", "{text}");
    }
}

/// A contacts report resumed in a companies run (or by another idProperty) is refused
/// and left as it is.
#[test]
fn a_report_of_another_scope_is_refused_unchanged() {
    let emu = emu();
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("r.jsonl");
    let contacts = write(dir.path(), "c.csv", "email,firstname\na@example.com,A\n");
    let (code, text) = run(cli()
        .env("HUBSPOT_ACCESS_TOKEN", TOKEN)
        .args([
            "upsert",
            "--object-type",
            "contacts",
            "--id-property",
            "email",
        ])
        .args(["--base-url", emu.url(), "--progress", "none", "--report"])
        .arg(&rep)
        .arg(&contacts));
    assert_eq!(code, Some(0), "{text}");
    let before = std::fs::read(&rep).unwrap();
    for (object_type, id_property) in [("companies", "domain"), ("contacts", "hs_email2")] {
        let companies = write(
            dir.path(),
            "co.csv",
            &format!("{id_property},name\na@example.com,A\n"),
        );
        let (code, text) = run(cli()
            .env("HUBSPOT_ACCESS_TOKEN", TOKEN)
            .args(["upsert", "--object-type", object_type])
            .args(["--id-property", id_property])
            .args(["--base-url", emu.url(), "--progress", "none", "--resume"])
            .arg(&rep)
            .arg(&companies));
        assert_eq!(code, Some(2), "{text}");
        assert!(
            text.contains("this report is for contacts by email"),
            "{text}"
        );
        assert_eq!(std::fs::read(&rep).unwrap(), before);
    }
}

/// Swapped, equal and aliased arguments: refused before any file is opened for
/// writing; every file byte-identical.
#[test]
fn swapped_equal_or_aliased_files_are_refused_and_left_as_they_are() {
    let emu = emu();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut array = String::from("[");
    for i in 0..1000 {
        if i > 0 {
            array.push(',');
        }
        array.push_str(&format!(
            "{{\"external_ticket_id\":\"S-{i}\",\"subject\":\"s{i}\"}}"
        ));
    }
    array.push(']');
    let json = write(d, "tickets.json", &array);
    write(
        d,
        "in.jsonl",
        "{\"external_ticket_id\":\"L-1\",\"subject\":\"x\"}\n{\"external_ticket_id\":\"L-2\",\"subject\":\"y\"",
    );
    let rep = d.join("report.jsonl");
    let (code, text) = run(upsert(&emu).arg("--report").arg(&rep).arg(&json));
    assert_eq!(code, Some(0), "{text}");
    std::fs::hard_link(&rep, d.join("hard.jsonl")).unwrap();
    std::os::unix::fs::symlink(&rep, d.join("soft.jsonl")).unwrap();
    let snapshot = || -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let name = e.file_name().to_string_lossy().into_owned();
                (name, std::fs::read(e.path()).unwrap_or_default())
            })
            .collect();
        v.sort();
        v
    };
    let before = snapshot();
    let requests = emu.requests();
    let cases: Vec<Vec<String>> = vec![
        // Swapped: the input given as the report.
        vec![
            "--resume".into(),
            "tickets.json".into(),
            "report.jsonl".into(),
        ],
        vec!["--resume".into(), "in.jsonl".into(), "report.jsonl".into()],
        // Equal.
        vec!["--resume".into(), "in.jsonl".into(), "in.jsonl".into()],
        vec![
            "--report".into(),
            "tickets.json".into(),
            "tickets.json".into(),
        ],
        vec![
            "--failed".into(),
            "./tickets.json".into(),
            "tickets.json".into(),
        ],
        // One file under two names.
        vec![
            "--resume".into(),
            "report.jsonl".into(),
            "--failed".into(),
            "hard.jsonl".into(),
            "tickets.json".into(),
        ],
        vec![
            "--resume".into(),
            "report.jsonl".into(),
            "--failed".into(),
            "soft.jsonl".into(),
            "tickets.json".into(),
        ],
        vec![
            "--report".into(),
            "r2.jsonl".into(),
            "--failed".into(),
            "./r2.jsonl".into(),
            "tickets.json".into(),
        ],
        vec![
            "--report".into(),
            "hard.jsonl".into(),
            "--failed".into(),
            "soft.jsonl".into(),
            "tickets.json".into(),
        ],
        vec![
            "--dry-run".into(),
            "--report".into(),
            "tickets.json".into(),
            "tickets.json".into(),
        ],
    ];
    for args in cases {
        let (code, text) = run(upsert(&emu).current_dir(d).args(&args));
        assert_eq!(code, Some(2), "{args:?}: {text}");
        assert!(
            text.contains("not a report line")
                || text.contains("not an input")
                || text.contains("is the input file")
                || text.contains("are the same file"),
            "{args:?}: {text}"
        );
        assert_eq!(snapshot(), before, "{args:?} changed a file: {text}");
    }
    assert_eq!(emu.requests(), requests);
}

/// Two runs on one report: the second is refused at once; the first's report is whole
/// and a later `--resume` accepts it.
#[test]
fn a_second_run_on_the_same_report_is_refused() {
    let emu = Emu::start(
        EmulatorConfig::default()
            .with_tokens([TOKEN])
            .with_rate_limit(hubspot_emulator::RateLimitConfig::per_window(
                10,
                Duration::from_secs(1),
            )),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("external_ticket_id,subject\n");
    for i in 0..3000 {
        text.push_str(&format!("O-{i},s{i}\n"));
    }
    let input = write(dir.path(), "in.csv", &text);
    let rep = dir.path().join("r.jsonl");
    let mut first = common::upsert_process(emu.url(), TOKEN)
        .args(["--rate-limit", "10/1s", "--report"])
        .arg(&rep)
        .arg(&input)
        .spawn()
        .unwrap();
    let started = Instant::now();
    while emu.requests() == 0 && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    for flag in ["--report", "--resume"] {
        let t = Instant::now();
        let (code, out) = run(upsert(&emu).arg(flag).arg(&rep).arg(&input));
        assert_eq!(code, Some(2), "{flag}: {out}");
        assert!(out.contains("another run is writing this file"), "{out}");
        assert!(t.elapsed() < Duration::from_secs(10));
    }
    assert_eq!(first.wait().unwrap().code(), Some(0));
    let (code, out) = run(upsert(&emu).arg("--resume").arg(&rep).arg(&input));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("3000 record(s) shown written"), "{out}");
    assert_eq!(emu.count(), 3000);
}

/// A full disk stops the run before its first request; a pipe gets every line and the
/// run exits 0.
#[test]
fn a_full_disk_stops_at_once_and_a_pipe_works() {
    let emu = emu();
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("external_ticket_id,subject\n");
    for i in 0..2000 {
        text.push_str(&format!("F-{i},s{i}\n"));
    }
    let input = write(dir.path(), "in.csv", &text);
    // The report's header, and a CSV failed file's header row, are written before
    // anything is sent.
    for flag in ["--report", "--failed"] {
        let (code, out) = run(upsert(&emu).arg(flag).arg("/dev/full").arg(&input));
        assert_eq!(code, Some(2), "{flag}: {out}");
        assert!(out.contains("No space left on device"), "{flag}: {out}");
        assert_eq!(emu.requests(), 0, "{flag}: {out}");
    }
    // A FIFO read by another thread, like `--report >(gzip > r.gz)`.
    let fifo = dir.path().join("fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let (code, out) = run(upsert(&emu).arg("--report").arg(&fifo).arg(&input));
    assert_eq!(code, Some(0), "{out}");
    let lines = reader.join().unwrap();
    assert!(lines.starts_with("{\"journal\":"), "{lines}");
    assert_eq!(
        lines.lines().filter(|l| l.contains("\"outcome\"")).count(),
        2000,
        "one line per record"
    );
}

/// A failed write after the run started stops it: the rest is not attempted, and the
/// message says what failed.
#[test]
fn a_write_that_fails_mid_run_stops_the_run() {
    let emu = emu();
    let dir = tempfile::tempdir().unwrap();
    // JSON Lines: the failed file has no header, so its first write is a record's.
    let mut text = String::new();
    for i in 0..5000 {
        // Every 10th record is refused by HubSpot: the failed file gets written.
        let priority = if i % 10 == 0 { "URGENT" } else { "LOW" };
        text.push_str(&format!(
            "{{\"external_ticket_id\":\"M-{i}\",\"subject\":\"s{i}\",\"hs_ticket_priority\":\"{priority}\"}}\n"
        ));
    }
    let input = write(dir.path(), "in.jsonl", &text);
    let rep = dir.path().join("r.jsonl");
    let (code, out) = run(upsert(&emu)
        .arg("--report")
        .arg(&rep)
        .arg("--failed")
        .arg("/dev/full")
        .arg(&input));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("writing --failed"), "{out}");
    assert!(out.contains("No space left on device"), "{out}");
    let lines = report(&rep);
    assert_eq!(lines.len(), 5000, "every record in the report");
    let not_attempted = lines
        .iter()
        .filter(|l| l["outcome"] == "not_attempted")
        .count();
    assert!(not_attempted > 3000, "{not_attempted} not attempted: {out}");
    assert!(emu.requests() < 20, "{} requests", emu.requests());
}

/// A torn last line that looks like a report line is cut and said; a file whose last
/// line is not one is refused unchanged.
#[test]
fn only_a_torn_report_line_is_cut() {
    let emu = emu();
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "in.csv",
        "external_ticket_id,subject\nT-1,a\nT-2,b\n",
    );
    let rep = dir.path().join("r.jsonl");
    let (code, out) = run(upsert(&emu).arg("--report").arg(&rep).arg(&input));
    assert_eq!(code, Some(0), "{out}");
    let whole = std::fs::read_to_string(&rep).unwrap();
    // Killed while writing T-2's line: half of it is there.
    let last = whole.trim_end().rsplit('\n').next().unwrap();
    let torn = format!("{}{}", &whole[..whole.len() - last.len() - 1], &last[..20]);
    std::fs::write(&rep, &torn).unwrap();
    let (code, out) = run(upsert(&emu).arg("--resume").arg(&rep).arg(&input));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("byte(s) cut"), "{out}");
    // T-1, then T-2 sent again (its torn line is gone).
    let lines = report(&rep);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        (&lines[1]["id"], &lines[1]["outcome"]),
        (&"T-2".into(), &"updated".into())
    );

    let other = format!("{whole}[not a report");
    std::fs::write(&rep, &other).unwrap();
    let (code, out) = run(upsert(&emu).arg("--resume").arg(&rep).arg(&input));
    assert_eq!(code, Some(2), "{out}");
    assert_eq!(std::fs::read_to_string(&rep).unwrap(), other);
}

/// A run killed (SIGKILL) while a request is out: HubSpot may have applied it, so the
/// report says those ids were being sent, and a resume sends them again, even when the
/// input went back to the value the report last showed written.
#[test]
fn a_kill_while_a_request_is_out_leaves_its_ids_to_be_sent_again() {
    let emu = Emu::start(EmulatorConfig::default().with_tokens([TOKEN]).with_latency(
        hubspot_emulator::Latency::lognormal(Duration::from_secs(3), 0.0),
    ));
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("r.jsonl");
    let input = write(dir.path(), "in.csv", "external_ticket_id,subject\nK-1,v1\n");
    let (code, out) = run(upsert(&emu).arg("--report").arg(&rep).arg(&input));
    assert_eq!(code, Some(0), "{out}");
    // A mistaken value, killed while its request is out (the emulator writes it at
    // once and answers 3 s later).
    write(
        dir.path(),
        "in.csv",
        "external_ticket_id,subject\nK-1,MISTAKE\n",
    );
    let before = emu.requests();
    let mut child = common::upsert_process(emu.url(), TOKEN)
        .args(["--resume"])
        .arg(&rep)
        .arg(&input)
        .spawn()
        .unwrap();
    let t = Instant::now();
    while emu.requests() == before && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(subject(&emu, "K-1"), "MISTAKE");
    // Back to v1, the value the report last shows written: sent again.
    write(dir.path(), "in.csv", "external_ticket_id,subject\nK-1,v1\n");
    let (code, out) = run(upsert(&emu).arg("--resume").arg(&rep).arg(&input));
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(subject(&emu, "K-1"), "v1", "{out}");
}

/// Resuming a finished run whose input repeats an id sends nothing: never the older
/// value again, even for a moment.
#[test]
fn resuming_a_finished_run_with_repeated_ids_sends_nothing() {
    let emu = emu();
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("r.jsonl");
    let mut text = String::from("external_ticket_id,subject\n");
    for round in ["old", "mid", "new"] {
        for i in 0..150 {
            text.push_str(&format!("RP-{i},{round} {i}\n"));
        }
    }
    let input = write(dir.path(), "in.csv", &text);
    let (code, out) = run(upsert(&emu).arg("--report").arg(&rep).arg(&input));
    assert_eq!(code, Some(0), "{out}");
    let before = emu.requests();
    for _ in 0..2 {
        let (code, out) = run(upsert(&emu).arg("--resume").arg(&rep).arg(&input));
        assert_eq!(code, Some(0), "{out}");
        assert!(out.contains("skipped (written before)      450"), "{out}");
    }
    assert_eq!(emu.requests(), before);
    // Standard input too (read through a temporary file).
    let (code, out) = run(upsert(&emu)
        .arg("--resume")
        .arg(&rep)
        .arg("-")
        .pipe_stdin(&input)
        .unwrap());
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(emu.requests(), before, "{out}");
    // One id edited in its last record only: its three records are sent, in order.
    let edited = text.replace("RP-7,new 7\n", "RP-7,newer 7\n");
    write(dir.path(), "in.csv", &edited);
    let (code, out) = run(upsert(&emu).arg("--resume").arg(&rep).arg(&input));
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(subject(&emu, "RP-7"), "newer 7");
    assert_eq!(subject(&emu, "RP-8"), "new 8");
}

/// `--report` or `--failed` given the export, with a report as the input: refused,
/// both files left as they are; `--report` never replaces a file that is not a report;
/// a report into standard output (a file) is refused.
#[test]
fn outputs_never_replace_an_export() {
    let emu = emu();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let export = write(
        d,
        "tickets.json",
        "[{\"external_ticket_id\":\"E-1\",\"subject\":\"x\"}]",
    );
    let rep = d.join("report.jsonl");
    let (code, out) = run(upsert(&emu).arg("--report").arg(&rep).arg(&export));
    assert_eq!(code, Some(0), "{out}");
    let keep = |p: &Path| std::fs::read(p).unwrap();
    let (export_bytes, report_bytes) = (keep(&export), keep(&rep));
    for args in [
        vec!["--report", "tickets.json", "report.jsonl"],
        vec![
            "--failed",
            "tickets.json",
            "--report",
            "r2.jsonl",
            "report.jsonl",
        ],
        vec!["--report", "tickets.json", "other.csv"],
    ] {
        write(d, "other.csv", "external_ticket_id,subject\nO-1,x\n");
        let (code, out) = run(upsert(&emu).current_dir(d).args(&args));
        assert_eq!(code, Some(2), "{args:?}: {out}");
        assert!(
            out.contains("not an input") || out.contains("holds something else than a report"),
            "{args:?}: {out}"
        );
        assert_eq!(keep(&export), export_bytes, "{args:?}");
        assert_eq!(keep(&rep), report_bytes, "{args:?}");
    }
    let stdout = std::fs::File::create(d.join("out.txt")).unwrap();
    let out = common::upsert_process(emu.url(), TOKEN)
        .args(["--report", "/dev/stdout"])
        .arg(&export)
        .stdout(stdout)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is standard output"));
}
