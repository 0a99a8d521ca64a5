#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Bad input to the command, as a table: each case is one input file (CSV, JSON Lines
//! or a JSON array) run through `hubspot-tickets upsert` against the emulator, with the
//! exact exit code, the exact report line of every record (line, id, outcome, message),
//! what stderr must say (`FILE:LINE: reason` for bad lines), and the failed file's size.

use std::path::Path;
use std::time::Duration;

use crate::common::Emu;
use assert_cmd::Command;
use hubspot_emulator::EmulatorConfig;
use serde_json::Value;

const TOKEN: &str = "pat-na1-badinput-0123456789";

fn start() -> Emu {
    Emu::start(
        EmulatorConfig::default()
            .with_tokens([TOKEN])
            .without_rate_limits(),
    )
}

fn subject(emu: &Emu, id: &str) -> Option<String> {
    emu.ticket(id)
        .map(|p| p.get("subject").cloned().unwrap_or_default())
}

/// One expected report line: input line, id (`None` when unreadable), outcome, and
/// the message (exact, or a prefix when it ends with `…`).
type Line = (u64, Option<&'static str>, &'static str, &'static str);

struct Case {
    name: &'static str,
    file: &'static str,
    content: Vec<u8>,
    exit: i32,
    lines: Vec<Line>,
    stderr: Vec<&'static str>,
    /// Records in the failed file (not counting a CSV header).
    failed: usize,
}

fn case(
    name: &'static str,
    file: &'static str,
    content: impl Into<Vec<u8>>,
    exit: i32,
    lines: Vec<Line>,
    stderr: Vec<&'static str>,
    failed: usize,
) -> Case {
    Case {
        name,
        file,
        content: content.into(),
        exit,
        lines,
        stderr,
        failed,
    }
}

const HDR: &str = "external_ticket_id,subject\n";

fn long_id() -> String {
    "L".repeat(1001)
}

fn table() -> Vec<Case> {
    let huge = "x".repeat(70_000);
    let many: String = {
        let props: Vec<String> = (0..10_000).map(|i| format!("\"p{i}\":\"v\"")).collect();
        format!(
            "{{\"external_ticket_id\":\"J-many\",{}}}\n",
            props.join(",")
        )
    };
    vec![
        // ---- CSV
        case(
            "csv: empty id",
            "a.csv",
            format!("{HDR},no id\nA-1,ok\n"),
            1,
            vec![
                (2, None, "invalid", "empty id"),
                (3, Some("A-1"), "created", ""),
            ],
            vec!["a.csv:2: empty id"],
            1,
        ),
        case(
            "csv: whitespace id",
            "b.csv",
            format!("{HDR}   ,blank id\n"),
            1,
            vec![(2, None, "invalid", "empty id")],
            vec!["b.csv:2: empty id"],
            1,
        ),
        case(
            "csv: id over HubSpot's length limit",
            "c.csv",
            format!("{HDR}{},long\n", long_id()),
            1,
            vec![(2, Some("LONG"), "failed", "record \"LLLLLLLL…")],
            vec![],
            1,
        ),
        case(
            "csv: header without the id column",
            "d.csv",
            "subject,content\nx,y\n",
            2,
            vec![],
            vec![
                "d.csv:1: no column named 'external_ticket_id' holds the ids (columns: subject, content)",
            ],
            0,
        ),
        case(
            "csv: row with a missing column",
            "e.csv",
            format!("{HDR}E-1\nE-2,ok\n"),
            1,
            vec![
                (
                    2,
                    Some("E-1"),
                    "invalid",
                    "1 fields where the header has 2 columns",
                ),
                (3, Some("E-2"), "created", ""),
            ],
            vec!["e.csv:2: 1 fields where the header has 2 columns"],
            1,
        ),
        case(
            "csv: row with an extra column",
            "f.csv",
            format!("{HDR}F-1,one,two\n"),
            1,
            vec![(
                2,
                Some("F-1"),
                "invalid",
                "3 fields where the header has 2 columns",
            )],
            vec!["f.csv:2: 3 fields where the header has 2 columns"],
            1,
        ),
        case(
            "csv: unterminated quote swallowing the lines after it",
            "g.csv",
            format!("{HDR}G-1,fine\nG-2,\"never closed\nG-3,lost\nG-4,lost too\n"),
            1,
            vec![
                (2, Some("G-1"), "created", ""),
                (
                    3,
                    None,
                    "invalid",
                    "the quoted field opened on line 3 is never closed: it runs to the end of the input, taking in every line after it",
                ),
            ],
            vec!["g.csv:3: the quoted field opened on line 3 is never closed"],
            1,
        ),
        case(
            "csv: quoted fields with newlines and doubled quotes are fine",
            "h.csv",
            format!("{HDR}H-1,\"two\nlines, \"\"quoted\"\"\"\nH-2,after\n"),
            0,
            vec![
                (2, Some("H-1"), "created", ""),
                (4, Some("H-2"), "created", ""),
            ],
            vec![],
            0,
        ),
        case(
            "csv: invalid UTF-8 in a cell",
            "i.csv",
            [HDR.as_bytes(), b"I-1,caf\xe9\nI-2,ok\n"].concat(),
            1,
            vec![
                (
                    2,
                    Some("I-1"),
                    "invalid",
                    "column 2 ('subject') is not valid UTF-8",
                ),
                (3, Some("I-2"), "created", ""),
            ],
            vec!["i.csv:2: column 2 ('subject') is not valid UTF-8"],
            1,
        ),
        case(
            "csv: invalid UTF-8 in the id",
            "j.csv",
            [HDR.as_bytes(), b"J\xff1,x\n"].concat(),
            1,
            vec![(2, None, "invalid", "the id is not valid UTF-8")],
            vec!["j.csv:2: the id is not valid UTF-8"],
            1,
        ),
        case(
            "csv: invalid UTF-8 in the header",
            "k.csv",
            b"external_ticket_id,subj\xe9ct\nK-1,x\n".to_vec(),
            2,
            vec![],
            vec!["k.csv:1: header column 2 is not valid UTF-8"],
            0,
        ),
        case(
            "csv: empty file",
            "l.csv",
            "",
            2,
            vec![],
            vec!["l.csv:1: empty input: a CSV file needs a header row of property names"],
            0,
        ),
        case("csv: header only", "m.csv", HDR, 0, vec![], vec![], 0),
        case(
            "csv: a column twice in the header",
            "n.csv",
            "external_ticket_id,subject,subject\nN-1,a,b\n",
            2,
            vec![],
            vec!["n.csv:1: column 'subject' appears twice in the header"],
            0,
        ),
        case(
            "csv: header naming an invalid property",
            "o.csv",
            "external_ticket_id,Subject\nO-1,a\n",
            2,
            vec![],
            vec![
                "o.csv:1: header column 2: invalid property name 'Subject'",
                "(did you mean 'subject'?)",
            ],
            0,
        ),
        case(
            "csv: a value HubSpot refuses",
            "p.csv",
            "external_ticket_id,hs_ticket_priority\nP-1,URGENT\nP-2,LOW\n",
            1,
            vec![
                (
                    2,
                    Some("P-1"),
                    "failed",
                    "Property values were not valid: \"URGENT\" was not one of the allowed options for property \"hs_ticket_priority\": [LOW, MEDIUM, HIGH]",
                ),
                (3, Some("P-2"), "created", ""),
            ],
            vec![],
            1,
        ),
        case(
            "csv: the same id twice is written in order",
            "q.csv",
            format!("{HDR}Q-1,first\nQ-1,second\n"),
            0,
            vec![
                (2, Some("Q-1"), "created", ""),
                (3, Some("Q-1"), "updated", ""),
            ],
            vec![],
            0,
        ),
        case(
            "csv: CRLF line ends and blank lines keep line numbers exact",
            "r.csv",
            "external_ticket_id,subject\r\n\r\nR-1,a\r\n,b\r\n",
            1,
            vec![
                (3, Some("R-1"), "created", ""),
                (4, None, "invalid", "empty id"),
            ],
            vec!["r.csv:4: empty id"],
            1,
        ),
        // ---- JSON Lines
        case(
            "jsonl: lines that are not objects",
            "s.jsonl",
            "[1,2]\n\"text\"\n42\nnull\n{\"external_ticket_id\":\"S-1\"}\n",
            1,
            vec![
                (1, None, "invalid", "expected a JSON object"),
                (2, None, "invalid", "expected a JSON object"),
                (3, None, "invalid", "expected a JSON object"),
                (4, None, "invalid", "expected a JSON object"),
                (5, Some("S-1"), "created", ""),
            ],
            vec![
                "s.jsonl:1: expected a JSON object",
                "s.jsonl:4: expected a JSON object",
            ],
            4,
        ),
        case(
            "jsonl: no id key",
            "t.jsonl",
            "{\"subject\":\"no id\"}\n",
            1,
            vec![(
                1,
                None,
                "invalid",
                "no 'external_ticket_id' key holds the id (use --id-column, or the {\"id\", \"properties\"} form)",
            )],
            vec!["t.jsonl:1: no 'external_ticket_id' key holds the id"],
            1,
        ),
        case(
            "jsonl: an id that is an object",
            "u.jsonl",
            "{\"external_ticket_id\":{\"a\":1}}\n",
            1,
            vec![(
                1,
                None,
                "invalid",
                "the id 'external_ticket_id' must be a string or an integer, not an object",
            )],
            vec![
                "u.jsonl:1: the id 'external_ticket_id' must be a string or an integer, not an object",
            ],
            1,
        ),
        case(
            "jsonl: empty and whitespace ids",
            "v.jsonl",
            "{\"external_ticket_id\":\"\"}\n{\"id\":\"  \",\"properties\":{}}\n",
            1,
            vec![
                (1, None, "invalid", "empty id"),
                (2, None, "invalid", "empty id"),
            ],
            vec!["v.jsonl:1: empty id", "v.jsonl:2: empty id"],
            2,
        ),
        case(
            "jsonl: nested object value",
            "w.jsonl",
            "{\"external_ticket_id\":\"W-1\",\"address\":{\"city\":\"Paris\"}}\n",
            1,
            vec![(
                1,
                Some("W-1"),
                "invalid",
                "property 'address': a nested object cannot be sent as a HubSpot property (values are strings)",
            )],
            vec![
                "w.jsonl:1: property 'address': a nested object cannot be sent as a HubSpot property (values are strings)",
            ],
            1,
        ),
        case(
            "jsonl: lists holding objects or ';'",
            "x.jsonl",
            "{\"external_ticket_id\":\"X-1\",\"hs_ticket_category\":[{\"a\":1}]}\n{\"external_ticket_id\":\"X-2\",\"hs_ticket_category\":[\"a;b\"]}\n",
            1,
            vec![
                (
                    1,
                    Some("X-1"),
                    "invalid",
                    "property 'hs_ticket_category': a nested object cannot be sent as a HubSpot property (values are strings)",
                ),
                (
                    2,
                    Some("X-2"),
                    "invalid",
                    "property 'hs_ticket_category': a list element contains ';', the separator",
                ),
            ],
            vec!["x.jsonl:1: property 'hs_ticket_category': a nested object cannot be sent"],
            2,
        ),
        case(
            "jsonl: NaN, infinite and inexact numbers",
            "y.jsonl",
            "{\"external_ticket_id\":\"Y-1\",\"hubspot_owner_id\":NaN}\n{\"external_ticket_id\":\"Y-2\",\"hubspot_owner_id\":1e400}\n{\"external_ticket_id\":\"Y-3\",\"hubspot_owner_id\":123456789012345678901234}\n{\"external_ticket_id\":\"Y-4\",\"hubspot_owner_id\":1.5e3}\n",
            1,
            vec![
                (
                    1,
                    None,
                    "invalid",
                    "invalid JSON: expected value (column 48)",
                ),
                (
                    2,
                    None,
                    "invalid",
                    "invalid JSON: number out of range (column 52)",
                ),
                (
                    3,
                    Some("Y-3"),
                    "invalid",
                    "property 'hubspot_owner_id': integer too large to keep exactly (1.2345678901234569e23: floating-point numbers hold every integer only below 2^53): write it as a string",
                ),
                (4, Some("Y-4"), "created", ""),
            ],
            vec![
                "y.jsonl:1: invalid JSON: expected value (column 48)",
                "y.jsonl:2: invalid JSON: number out of range (column 52)",
            ],
            3,
        ),
        case(
            "jsonl: a line cut short",
            "z.jsonl",
            "{\"external_ticket_id\":\"Z-1\",\"subj\n{\"external_ticket_id\":\"Z-2\"}\n",
            1,
            vec![
                (
                    1,
                    None,
                    "invalid",
                    "invalid JSON: EOF while parsing a string (column 33)",
                ),
                (2, Some("Z-2"), "created", ""),
            ],
            vec!["z.jsonl:1: invalid JSON: EOF while parsing a string (column 33)"],
            1,
        ),
        case(
            "jsonl: invalid UTF-8 inside a string",
            "aa.jsonl",
            b"{\"external_ticket_id\":\"AA-1\",\"subject\":\"caf\xe9\"}\n".to_vec(),
            1,
            vec![(
                1,
                None,
                "invalid",
                "invalid JSON: invalid unicode code point (column 44)",
            )],
            vec!["aa.jsonl:1: invalid JSON: invalid unicode code point (column 44)"],
            1,
        ),
        case(
            "jsonl: huge property value",
            "ab.jsonl",
            format!("{{\"external_ticket_id\":\"AB-1\",\"subject\":\"{huge}\"}}\n"),
            1,
            vec![(
                1,
                Some("AB-1"),
                "invalid",
                "property 'subject': the value is longer than HubSpot's 65536 characters",
            )],
            vec![
                "ab.jsonl:1: property 'subject': the value is longer than HubSpot's 65536 characters",
            ],
            1,
        ),
        case(
            "jsonl: 10,000 properties on one record",
            "ac.jsonl",
            many,
            1,
            vec![(
                1,
                Some("J-many"),
                "failed",
                "Property values were not valid: Property \"p0\" does not exist; Property \"p1\" does not exist…",
            )],
            vec![],
            1,
        ),
        case(
            "jsonl: a property twice",
            "ad.jsonl",
            "{\"external_ticket_id\":\"AD-1\",\"subject\":\"a\",\"subject\":\"b\"}\n",
            1,
            vec![(
                1,
                Some("AD-1"),
                "invalid",
                "property 'subject' appears twice",
            )],
            vec!["ad.jsonl:1: property 'subject' appears twice"],
            1,
        ),
        case(
            "jsonl: id over HubSpot's length limit",
            "ae.jsonl",
            format!("{{\"external_ticket_id\":\"{}\"}}\n", long_id()),
            1,
            vec![(1, Some("LONG"), "failed", "record \"LLLLLLLL…")],
            vec![],
            1,
        ),
        case(
            "jsonl: blank lines are skipped, line numbers stay exact",
            "af.jsonl",
            "\n{\"external_ticket_id\":\"AF-1\"}\n   \n\n{\"subject\":\"x\"}\n",
            1,
            vec![
                (2, Some("AF-1"), "created", ""),
                (
                    5,
                    None,
                    "invalid",
                    "no 'external_ticket_id' key holds the id…",
                ),
            ],
            vec!["af.jsonl:5: no 'external_ticket_id' key holds the id"],
            1,
        ),
        // ---- JSON arrays
        case(
            "json: an element that is not an object",
            "ag.json",
            "[\n  {\"external_ticket_id\":\"AG-1\"},\n  \"oops\",\n  {\"external_ticket_id\":\"AG-2\"}\n]\n",
            1,
            vec![
                (2, Some("AG-1"), "created", ""),
                (3, None, "invalid", "expected a JSON object"),
                (4, Some("AG-2"), "created", ""),
            ],
            vec!["ag.json:3: expected a JSON object"],
            1,
        ),
        case(
            "json: the array never closes",
            "ah.json",
            "[\n  {\"external_ticket_id\":\"AH-1\"},\n  {\"external_ticket_id\":\"AH-2\"}\n",
            2,
            vec![
                (2, Some("AH-1"), "created", ""),
                (3, Some("AH-2"), "created", ""),
            ],
            vec!["ah.json:4: the JSON array ends early (no closing ']')"],
            0,
        ),
        case(
            "json: a trailing comma",
            "ai.json",
            "[{\"external_ticket_id\":\"AI-1\"},]\n",
            2,
            vec![(1, Some("AI-1"), "created", "")],
            vec!["ai.json:1: trailing ',' before ']'"],
            0,
        ),
        case(
            "json: an object where an array is expected (--format json)",
            "aj.txt",
            "{\"external_ticket_id\":\"AJ-1\"}\n",
            2,
            vec![],
            vec!["aj.txt:1: expected a JSON array ('[')"],
            0,
        ),
        case(
            "json: data after the array",
            "ak.json",
            "[{\"external_ticket_id\":\"AK-1\"}] [\n",
            2,
            vec![(1, Some("AK-1"), "created", "")],
            vec!["ak.json:1: unexpected data after the JSON array"],
            0,
        ),
    ]
}

fn run_case(emu: &Emu, dir: &Path, c: &Case) -> Result<(), String> {
    let input = dir.join(c.file);
    std::fs::write(&input, &c.content).unwrap();
    let report_path = dir.join(format!("{}.report", c.file));
    let ext = input.extension().and_then(|e| e.to_str()).unwrap_or("txt");
    let failed_path = dir.join(format!("{}.failed.{ext}", c.file));
    let mut cmd = Command::cargo_bin("hubspot-tickets").unwrap();
    cmd.timeout(Duration::from_secs(120))
        .env("HUBSPOT_ACCESS_TOKEN", TOKEN)
        .env_remove("RUST_LOG")
        .current_dir(dir)
        .args([
            "upsert",
            "--id-property",
            "external_ticket_id",
            "--base-url",
            emu.url(),
            "--progress",
            "none",
            "--rate-limit",
            "off",
            // What the reader and HubSpot itself say (the preflight's words are
            // tested in check.rs).
            "--no-preflight",
        ]);
    if c.file.ends_with(".txt") {
        cmd.args(["--format", "json"]);
    }
    let out = cmd
        .arg(c.file)
        .arg("--report")
        .arg(&report_path)
        .arg("--failed")
        .arg(&failed_path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let mut problems = Vec::new();
    if out.status.code() != Some(c.exit) {
        problems.push(format!("exit {:?}, expected {}", out.status.code(), c.exit));
    }
    for s in &c.stderr {
        if !stderr.contains(s) {
            problems.push(format!("stderr lacks {s:?}"));
        }
    }
    let report: Vec<Value> = std::fs::read_to_string(&report_path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        // Outcome lines only: not the header, nor the `sending` lines.
        .filter(|v| v.get("outcome").is_some())
        .collect();
    if report.len() != c.lines.len() {
        problems.push(format!(
            "{} report lines, expected {}: {report:?}",
            report.len(),
            c.lines.len()
        ));
    }
    for (line, id, outcome, message) in &c.lines {
        let Some(r) = report.iter().find(|r| r["line"] == *line) else {
            problems.push(format!("no report line for line {line}"));
            continue;
        };
        let got_id = r["id"].as_str();
        let id_ok = match id {
            Some("LONG") => got_id == Some(long_id().as_str()),
            Some(id) => got_id == Some(*id),
            None => got_id.is_none(),
        };
        let got_message = r["error_message"].as_str().unwrap_or("");
        let message_ok = match message.strip_suffix('…') {
            Some(prefix) => got_message.starts_with(prefix),
            None => got_message == *message,
        };
        if !id_ok || r["outcome"] != *outcome || !message_ok {
            problems.push(format!("line {line}: {r}"));
        }
        if *outcome == "invalid" && !stderr.contains(&format!("{}:{line}: ", c.file)) {
            problems.push(format!("stderr does not name line {line}"));
        }
    }
    // The failed file holds the records as read: invalid UTF-8 stays invalid.
    if let Ok(bytes) = std::fs::read(&failed_path) {
        let failed = String::from_utf8_lossy(&bytes);
        let records = match ext {
            "csv" => csv::ReaderBuilder::new()
                .flexible(true)
                .from_reader(&bytes[..])
                .byte_records()
                .filter(Result::is_ok)
                .count(),
            "jsonl" => failed.lines().count(),
            _ => serde_json::from_str::<Value>(&failed)
                .ok()
                .and_then(|v| v.as_array().map(Vec::len))
                .unwrap_or(0),
        };
        if records != c.failed {
            problems.push(format!(
                "{records} records in the failed file, expected {}",
                c.failed
            ));
        }
    } else if c.failed > 0 {
        problems.push("no failed file".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}: {problems:#?}\nstderr: {stderr}", c.name))
    }
}

#[test]
fn every_bad_input_case_gets_its_exact_outcome_and_message() {
    let emu = start();
    let dir = tempfile::tempdir().unwrap();
    let cases = table();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    let errors: Vec<String> = cases
        .iter()
        .filter_map(|c| run_case(&emu, dir.path(), c).err())
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n\n"));
    // What was written is what the good lines said.
    assert_eq!(subject(&emu, "Q-1").as_deref(), Some("second"));
    assert_eq!(
        subject(&emu, "H-1").as_deref(),
        Some("two\nlines, \"quoted\"")
    );
    assert_eq!(subject(&emu, "G-1").as_deref(), Some("fine"));
    for never in [
        "G-2", "G-3", "G-4", "P-1", "J-many", "W-1", "AB-1", "K-1", "D-1",
    ] {
        assert!(subject(&emu, never).is_none(), "{never} was written");
    }
}

/// Peak resident memory of a running child, from `/proc` (the high-water mark).
#[cfg(target_os = "linux")]
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The binary as a plain process whose memory a test watches.
#[cfg(target_os = "linux")]
fn process() -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("hubspot-tickets"));
    cmd.env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null());
    cmd
}

/// `upsert` to `base_url` with the token, as a process whose memory a test watches.
#[cfg(target_os = "linux")]
fn upsert_process(base_url: &str) -> std::process::Command {
    let mut cmd = process();
    cmd.env("HUBSPOT_ACCESS_TOKEN", TOKEN).args([
        "upsert",
        "--id-property",
        "external_ticket_id",
        "--base-url",
        base_url,
    ]);
    cmd
}

/// The report at `path` has `n` lines, every record failed with a reason `why` accepts.
#[cfg(target_os = "linux")]
fn all_failed(path: &Path, n: usize, why: impl Fn(&str) -> bool) {
    let report = crate::common::report(path);
    assert_eq!(report.len(), n);
    for line in &report {
        assert_eq!(line["outcome"], "failed", "{line}");
        let reason = line["error_message"].as_str().unwrap_or_default();
        assert!(why(reason), "{}", &reason[..reason.len().min(300)]);
    }
}

/// Samples `child`'s peak RSS (KiB) until it exits, or for `at_most` (then kills it):
/// its exit status (`None` when it was still running) and the peak.
#[cfg(target_os = "linux")]
fn watch(
    child: &mut std::process::Child,
    at_most: Option<Duration>,
) -> (Option<std::process::ExitStatus>, u64) {
    let t0 = std::time::Instant::now();
    let mut peak = 0;
    loop {
        peak = peak.max(peak_rss_kib(child.id()).unwrap_or(0));
        if let Some(status) = child.try_wait().unwrap() {
            return (Some(status), peak);
        }
        if at_most.is_some_and(|d| t0.elapsed() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return (None, peak);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Everything `child` wrote on its (piped) stderr.
#[cfg(target_os = "linux")]
fn stderr_of(child: &mut std::process::Child) -> String {
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stderr).unwrap();
    }
    stderr
}

/// An input record with no end (an endless line read as JSON Lines, or a JSON array
/// whose element never ends, both on standard input) keeps memory bounded: the CLI holds
/// at most one record's worth (4 MiB) and reads on.
#[cfg(target_os = "linux")]
#[test]
fn a_record_with_no_end_keeps_memory_bounded() {
    for (format, start) in [
        (
            "jsonl",
            &br#"{"external_ticket_id": "A-1", "subject": ""#[..],
        ),
        ("json", br#"[{"external_ticket_id": "A-1", "subject": ""#),
    ] {
        let mut child = process()
            .args(["upsert", "--id-property", "external_ticket_id", "--dry-run"])
            .args(["--format", format, "-"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            use std::io::Write;
            let chunk = vec![b'x'; 64 * 1024];
            let _ = stdin.write_all(start);
            // Until the child is killed and the pipe breaks.
            while stdin.write_all(&chunk).is_ok() {}
        });
        let (status, peak) = watch(&mut child, Some(Duration::from_secs(3)));
        assert!(
            status.is_none(),
            "{format}: it should still be reading an endless record"
        );
        assert!(
            peak > 0 && peak < 300 * 1024,
            "{format}: peak RSS {peak} KiB"
        );
    }
}

/// The most a refused run may take, and the most memory it may reach: it reads one
/// block at most (the binary alone is about 10 MiB; an input or a token file read whole
/// would reach gigabytes).
#[cfg(target_os = "linux")]
const REFUSED_WITHIN: Duration = Duration::from_secs(1);
#[cfg(target_os = "linux")]
const REFUSED_PEAK_KIB: u64 = 64 * 1024;

/// Runs `cmd` (stderr piped) until it exits, for 5 s at most: it must exit 2 within
/// [`REFUSED_WITHIN`] and [`REFUSED_PEAK_KIB`]; its stderr.
#[cfg(target_os = "linux")]
fn refused_at_once(cmd: &mut std::process::Command, what: &str) -> String {
    let t0 = std::time::Instant::now();
    let mut child = cmd.stderr(std::process::Stdio::piped()).spawn().unwrap();
    let (status, peak) = watch(&mut child, Some(Duration::from_secs(5)));
    let took = t0.elapsed();
    let stderr = stderr_of(&mut child);
    assert_eq!(status.and_then(|s| s.code()), Some(2), "{what}: {stderr}");
    assert!(took < REFUSED_WITHIN, "{what}: refused after {took:?}");
    // A process that exits before the first sample (10 ms apart) shows no peak; the
    // callers' check of what it said (the first bytes refused) covers that case.
    assert!(
        (peak > 0 || took < Duration::from_millis(100)) && peak < REFUSED_PEAK_KIB,
        "{what}: peak RSS {peak} KiB after {took:?}"
    );
    stderr
}

/// `--token-file` names something that is not a token (`/dev/zero`, a big file, a binary
/// file): refused at once, naming the file and never showing what it holds.
#[cfg(target_os = "linux")]
#[test]
fn a_token_file_that_is_not_a_token_is_refused_at_once() {
    let emu = start();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("t.csv");
    std::fs::write(&input, "external_ticket_id,subject\nTF-1,x\n").unwrap();
    let secret = "pat-na1-not-to-be-shown-0123456789";
    let big = dir.path().join("big-token");
    std::fs::write(&big, format!("{secret}\n").repeat(4000)).unwrap();
    let nul = dir.path().join("nul-token");
    std::fs::write(&nul, format!("{secret}\0\n")).unwrap();
    let latin1 = dir.path().join("latin1-token");
    std::fs::write(&latin1, [secret.as_bytes(), b"\xE9\n"].concat()).unwrap();
    for (file, says) in [
        (Path::new("/dev/zero"), "longer than 64 KiB"),
        (&big, "longer than 64 KiB"),
        (&nul, "NUL bytes"),
        (&latin1, "not UTF-8"),
    ] {
        let stderr = refused_at_once(
            upsert_process(emu.url())
                .arg("--token-file")
                .arg(file)
                .arg(&input),
            &file.display().to_string(),
        );
        let expected = format!("error: --token-file {}: ", file.display());
        assert!(
            stderr.contains(&expected) && stderr.contains(says),
            "{stderr}"
        );
        assert!(!stderr.contains(secret), "{stderr}");
    }
    assert_eq!(emu.requests(), 0);
}

/// Input that is not text (`/dev/zero`, or a compressed export) is refused at once, in
/// every format, from a file or standard input, with `--dry-run`, `--strict` or for a
/// real run: exit 2, naming the input, before any request.
#[cfg(target_os = "linux")]
#[test]
fn input_that_is_not_text_is_refused_at_once() {
    let emu = start();
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("tickets.csv.gz");
    // A gzip member's header: its first bytes are what give it away.
    std::fs::write(&gz, b"\x1F\x8B\x08\x08\x8E\x3A\x5E\x66\x02\x03tickets.csv").unwrap();
    let dev_zero = || std::fs::File::open("/dev/zero").unwrap();
    for format in ["csv", "jsonl", "json"] {
        for mode in [&["--dry-run"][..], &["--strict"], &[]] {
            let what = format!("--format {format} {mode:?}");
            let stderr = refused_at_once(
                upsert_process(emu.url())
                    .args(["--format", format])
                    .args(mode)
                    .arg("/dev/zero"),
                &what,
            );
            assert!(
                stderr.contains("error: /dev/zero: not a text file: a NUL byte at byte 0"),
                "{what}: {stderr}"
            );
            let stderr = refused_at_once(
                upsert_process(emu.url())
                    .args(["--format", format])
                    .args(mode)
                    .arg("-")
                    .stdin(dev_zero()),
                &format!("{what} on stdin"),
            );
            assert!(
                stderr.contains("error: <stdin>: not a text file"),
                "{what} on stdin: {stderr}"
            );
        }
    }
    // The format sniffed (no --format, no telling extension), and a compressed file.
    let stderr = refused_at_once(
        upsert_process(emu.url()).arg("-").stdin(dev_zero()),
        "sniffed",
    );
    assert!(stderr.contains("<stdin>: not a text file"), "{stderr}");
    let stderr = refused_at_once(upsert_process(emu.url()).arg(&gz), "gzip");
    assert!(
        stderr.contains(&format!(
            "{}: a gzip-compressed file, not text",
            gz.display()
        )) && stderr.contains("zcat"),
        "{stderr}"
    );
    assert_eq!(emu.requests(), 0);
}

/// A server that answers every request with a 200 whose body never ends (chunked, no
/// length), or with a `Content-Length` of 2 GiB: the CLI reads at most its answer cap
/// (8 MiB plus twice the request) per answer, fails those records with the reason,
/// and its memory stays bounded.
#[cfg(target_os = "linux")]
#[test]
fn an_endless_success_body_is_capped() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    for declared in [false, true] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn);
                    // One request: headers, then Content-Length bytes of body.
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let conn = reader.get_mut();
                    let head = if declared {
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2147483648\r\n\r\n"
                    } else {
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                    };
                    if conn.write_all(head.as_bytes()).is_err() {
                        return;
                    }
                    let chunk = vec![b'a'; 1 << 20];
                    let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
                    framed.extend_from_slice(&chunk);
                    framed.extend_from_slice(b"\r\n");
                    // 2 GiB at most, until the client hangs up.
                    for _ in 0..2048 {
                        let out: &[u8] = if declared { &chunk } else { &framed };
                        if conn.write_all(out).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("t.jsonl");
        let lines: String = (0..300)
            .map(|i| format!("{{\"external_ticket_id\":\"E-{i}\",\"subject\":\"s\"}}\n"))
            .collect();
        std::fs::write(&input, lines).unwrap();
        let report_path = dir.path().join("r.jsonl");
        let mut child = upsert_process(&url)
            .args(["--max-retries", "1", "--progress", "none", "--report"])
            .arg(&report_path)
            .arg(&input)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let (status, peak) = watch(&mut child, None);
        let stderr = stderr_of(&mut child);
        // Every answer too long: the first batch fails after its retries before any
        // was accepted, and the run stops (HubSpot, or what stands before it, fails
        // everything: exit 7).
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(7),
            "declared {declared}: {stderr}"
        );
        assert!(
            peak > 0 && peak < 300 * 1024,
            "declared {declared}: peak RSS {peak} KiB"
        );
        let report = crate::common::report(&report_path);
        assert_eq!(report.len(), 300);
        let failed: Vec<_> = report.iter().filter(|l| l["outcome"] == "failed").collect();
        assert_eq!(failed.len(), 100, "declared {declared}");
        for line in failed {
            let reason = line["error_message"].as_str().unwrap_or_default();
            assert!(reason.contains("the answer is longer than"), "{reason}");
        }
        assert_eq!(
            report
                .iter()
                .filter(|l| l["outcome"] == "not_attempted")
                .count(),
            200
        );
    }
}

/// Wide rows: 20 CSV rows of 100,000 columns (4.7 MB). Records that heavy go in batches
/// bounded by weight, so the CLI's memory follows what it sends; each record fails on
/// its own with a bounded reason (the emulator knows none of the columns). The emulator
/// answering them keeps its memory bounded too (its error lists at most 100 of the
/// unknown properties): it runs as its own process (the `emulator` subcommand), so that
/// each side's peak RSS is its own.
#[cfg(target_os = "linux")]
#[test]
fn wide_rows_keep_memory_bounded() {
    use std::io::BufRead;
    let mut emulator = process()
        .args(["emulator", "--port", "0", "--token", TOKEN])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(emulator.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("wide.csv");
    std::fs::write(&input, wide_csv("W", 20, 100_000)).unwrap();
    let report_path = dir.path().join("r.jsonl");
    // The preflight would stop this file at its header (below); the write path is
    // what is measured here.
    let mut child = upsert_process(&url)
        .args(["--no-preflight", "--progress", "none", "--report"])
        .arg(&report_path)
        .arg(&input)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (status, peak) = watch(&mut child, None);
    // VmHWM is the high-water mark: read after the run, it covers all of it.
    let emulator_peak = peak_rss_kib(emulator.id()).unwrap_or(0);
    // With the preflight, the header alone stops the run: 99,999 unknown columns named
    // in a few lines, nothing written.
    let preflight = upsert_process(&url)
        .args(["--progress", "none"])
        .arg(&input)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let preflight_err = String::from_utf8_lossy(&preflight.stderr);
    assert_eq!(preflight.status.code(), Some(5), "{preflight_err}");
    assert!(
        preflight_err.contains("column \"p1\" is not a property"),
        "{preflight_err}"
    );
    assert!(
        preflight_err.contains("; and 99979 more"),
        "{preflight_err}"
    );
    assert!(preflight_err.len() < 4096, "{} bytes", preflight_err.len());
    emulator.kill().unwrap();
    let _ = emulator.wait();
    let stderr = stderr_of(&mut child);
    let mut summary = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut summary).unwrap();
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{url}: {stderr}");
    assert!(peak > 0 && peak < 300 * 1024, "peak RSS {peak} KiB");
    assert!(
        emulator_peak > 0 && emulator_peak < 300 * 1024,
        "emulator peak RSS {emulator_peak} KiB"
    );
    all_failed(&report_path, 20, |why| why.ends_with("; and 99989 more"));
    // Each record went alone: 20 requests, none of them retried.
    let requests = summary
        .lines()
        .find_map(|l| l.trim().strip_prefix("requests"))
        .map(str::trim);
    assert_eq!(requests, Some("20"), "{summary}");
}

/// A CSV of `rows` records `{prefix}-{r}`, each with `columns - 1` properties `p1...`
/// set to `x`.
#[cfg(target_os = "linux")]
fn wide_csv(prefix: &str, rows: usize, columns: usize) -> String {
    let mut text = String::from("external_ticket_id");
    for i in 1..columns {
        text.push_str(&format!(",p{i}"));
    }
    text.push('\n');
    for r in 0..rows {
        text.push_str(&format!("{prefix}-{r}"));
        text.push_str(&",x".repeat(columns - 1));
        text.push('\n');
    }
    text
}

/// Wide rows on standard input: the reader thread runs ahead of the requests by at
/// most 1 MiB of input text (and 256 records), so while HubSpot is slow to answer the
/// records waiting for it do not pile up (256 rows of 20,000 columns would hold about
/// 500 MiB).
#[cfg(target_os = "linux")]
#[test]
fn wide_rows_on_stdin_wait_a_few_at_a_time() {
    use std::io::Write;
    let slow = hubspot_emulator::FaultConfig::none(1)
        .with(hubspot_emulator::FaultKind::DelayedResponse, 1.0)
        .with_response_delay(Duration::from_secs(30));
    let emu = Emu::start(
        EmulatorConfig::default()
            .with_tokens([TOKEN])
            .without_rate_limits()
            .with_faults(slow),
    );
    let text = wide_csv("S", 300, 20_000);
    let mut child = upsert_process(emu.url())
        .args(["--progress", "none", "--format", "csv", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(text.as_bytes());
    });
    let (_, peak) = watch(&mut child, Some(Duration::from_secs(12)));
    let _ = writer.join();
    assert!(peak > 0 && peak < 200 * 1024, "peak RSS {peak} KiB");
}
