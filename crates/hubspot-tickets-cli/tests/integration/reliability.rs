#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The command stopped mid-run, by HubSpot's daily limit or by a signal: it stops sending
//! at once, every input line is in the report exactly once, and its `--failed` file
//! re-runs exactly the records that were not written (each is then created, none
//! updated, and the store ends with one ticket per input line).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Emu, report};
use assert_cmd::Command;
use hubspot_emulator::{EmulatorConfig, FaultConfig, FaultKind, Policy, RateLimitConfig};
use serde_json::Value;

const TOKEN: &str = "pat-na1-reliability-0123456789";

fn start(config: EmulatorConfig) -> Emu {
    Emu::start(config.with_tokens([TOKEN]))
}

fn upsert_args(url: &str) -> Vec<String> {
    [
        "upsert",
        "--id-property",
        "external_ticket_id",
        "--base-url",
        url,
        "--progress",
        "none",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn cli(url: &str) -> Command {
    let mut cmd = crate::common::cli();
    cmd.env("HUBSPOT_ACCESS_TOKEN", TOKEN)
        .args(upsert_args(url));
    cmd
}

/// The command as a plain process (to signal, kill or feed it a file on stdin), with
/// the token and `upsert` against `url`.
fn process(url: &str) -> StdCommand {
    let mut cmd = StdCommand::new(assert_cmd::cargo::cargo_bin("hubspot-tickets"));
    cmd.env("HUBSPOT_ACCESS_TOKEN", TOKEN)
        .env_remove("RUST_LOG")
        .args(upsert_args(url));
    cmd
}

/// Waits (at most a minute) until the emulator holds `n` tickets: the run is under way.
fn wait_for_writes(emu: &Emu, n: usize) {
    let t0 = Instant::now();
    while emu.count() < n {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "{} of {n} written",
            emu.count()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn csv_input(dir: &Path, n: usize) -> PathBuf {
    let mut text = String::from("external_ticket_id,subject,hs_ticket_priority\n");
    for i in 0..n {
        text.push_str(&format!("R-{i},ticket {i},LOW\n"));
    }
    let p = dir.join("input.csv");
    std::fs::write(&p, text).unwrap();
    p
}

/// The report has one line per input line; returns the ids not written.
fn not_written(report: &[Value], n: usize) -> HashSet<String> {
    assert_eq!(report.len(), n, "one report line per input record");
    let lines: HashSet<u64> = report.iter().map(|v| v["line"].as_u64().unwrap()).collect();
    assert_eq!(lines.len(), n);
    assert!(lines.iter().all(|l| (2..=n as u64 + 1).contains(l)));
    report
        .iter()
        .filter(|v| !matches!(v["outcome"].as_str(), Some("created" | "updated")))
        .map(|v| {
            assert_eq!(v["outcome"], "not_attempted", "{v}");
            v["id"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// The `--failed` CSV holds exactly `expected` (with the input's header).
fn check_failed_file(path: &Path, expected: &HashSet<String>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("external_ticket_id,subject,hs_ticket_priority")
    );
    let ids: Vec<&str> = lines.map(|l| l.split(',').next().unwrap()).collect();
    let set: HashSet<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(ids.len(), set.len(), "a record twice in the failed file");
    assert_eq!(&set, expected);
}

/// Re-runs the failed file: every record is created (none was written before).
fn rerun(url: &str, failed: &Path, dir: &Path, expected: usize) {
    let report_path = dir.join("rerun.jsonl");
    cli(url)
        .args(["--rate-limit", "off"])
        .arg(failed)
        .arg("--report")
        .arg(&report_path)
        .assert()
        .code(0);
    let r = report(&report_path);
    assert_eq!(r.len(), expected);
    assert!(r.iter().all(|v| v["outcome"] == "created"), "{r:?}");
}

#[test]
fn daily_limit_stops_at_once_and_the_failed_file_reruns_exactly_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let n = 1000;
    let input = csv_input(dir.path(), n);
    // Four requests a day: the preflight's read (HubSpot counts it too), then three
    // batches.
    let daily = RateLimitConfig::per_window(100, Duration::from_secs(10)).with_daily(Some(4));
    let emu = start(
        EmulatorConfig::default()
            .with_rate_limit(daily)
            .with_state_file(&state),
    );
    let (report_path, failed_path) = (dir.path().join("r.jsonl"), dir.path().join("f.csv"));
    cli(emu.url())
        .args(["--concurrency", "3"])
        .arg(&input)
        .arg("--report")
        .arg(&report_path)
        .arg("--failed")
        .arg(&failed_path)
        .assert()
        .code(4)
        .stderr(predicates::str::contains("daily"));
    let stats = emu.emulator().stats();
    assert_eq!(emu.count(), 300);
    assert!(stats.rate_limited_by(Policy::Daily) <= 3, "no retry storm");
    let rest = not_written(&report(&report_path), n);
    assert_eq!(rest.len(), n - 300);
    check_failed_file(&failed_path, &rest);

    // The next day: a new emulator on the saved store, with its budget renewed.
    emu.shutdown();
    let emu = start(EmulatorConfig::default().with_state_file(&state));
    assert_eq!(emu.count(), 300);
    rerun(emu.url(), &failed_path, dir.path(), n - 300);
    assert_eq!(emu.count(), n);
}

/// A run stopped by `signals` (sent 50 ms apart once the first batch is written, its
/// answer held back 300 ms): exits with `code`; the report has one line per input
/// record; the failed file holds exactly the records not confirmed written, and
/// re-running it completes the job without a duplicate.
#[cfg(unix)]
fn stopped_by(signals: &[&str], code: i32) {
    let dir = tempfile::tempdir().unwrap();
    let n = 3000;
    let input = csv_input(dir.path(), n);
    let held = FaultConfig::none(7)
        .with(FaultKind::DelayedResponse, 1.0)
        .with_response_delay(Duration::from_millis(300));
    let emu = start(
        EmulatorConfig::default()
            .without_rate_limits()
            .with_faults(held),
    );
    let (report_path, failed_path) = (dir.path().join("r.jsonl"), dir.path().join("f.csv"));
    let mut child = process(emu.url())
        .args(["--rate-limit", "4/1s", "--concurrency", "1"])
        .arg(&input)
        .arg("--report")
        .arg(&report_path)
        .arg("--failed")
        .arg(&failed_path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_writes(&emu, 1);
    for sig in signals {
        let kill = StdCommand::new("kill")
            .args([&format!("-{sig}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        std::thread::sleep(Duration::from_millis(50));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the command did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(code), "{stderr}");
    assert!(
        stderr.contains(&format!("received SIG{}", signals[0])),
        "{stderr}"
    );

    let r = report(&report_path);
    assert_eq!(r.len(), n, "one report line per input record");
    let lines: HashSet<u64> = r.iter().map(|v| v["line"].as_u64().unwrap()).collect();
    assert_eq!(lines.len(), n);
    let confirmed: HashSet<String> = r
        .iter()
        .filter(|v| matches!(v["outcome"].as_str(), Some("created" | "updated")))
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();
    let rest: HashSet<String> = r
        .iter()
        .filter(|v| !matches!(v["outcome"].as_str(), Some("created" | "updated")))
        .map(|v| {
            // Not sent, or (after a second signal) sent without an answer.
            let quit_in_flight = v["outcome"] == "failed" && v["error_kind"] == "cancelled";
            assert!(v["outcome"] == "not_attempted" || quit_in_flight, "{v}");
            v["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(confirmed.len() < n);
    assert_eq!(confirmed.len() + rest.len(), n);
    assert!(emu.count() >= confirmed.len());
    check_failed_file(&failed_path, &rest);

    let report_path = dir.path().join("rerun.jsonl");
    cli(emu.url())
        .args(["--rate-limit", "off"])
        .arg(&failed_path)
        .arg("--report")
        .arg(&report_path)
        .assert()
        .code(0);
    assert_eq!(report(&report_path).len(), rest.len());
    assert_eq!(emu.count(), n);
    assert!(emu.emulator().stats().duplicate_creates.is_empty());
}

#[cfg(unix)]
#[test]
fn sigterm_stops_a_run_with_an_exact_account() {
    stopped_by(&["TERM"], 6);
}

#[cfg(unix)]
#[test]
fn sighup_stops_a_run_with_an_exact_account() {
    stopped_by(&["HUP"], 6);
}

#[cfg(unix)]
#[test]
fn a_second_sigint_quits_at_once_with_whole_files() {
    stopped_by(&["INT", "INT"], 130);
}

/// A wrong `--id-property` is a configuration mistake, not 1,000 bad records: the run
/// stops after its first request, says what to fix, and sends nothing else.
#[test]
fn a_wrong_id_property_stops_the_run_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let n = 1000;
    let input = csv_input(dir.path(), n);
    let emu = start(EmulatorConfig::default().without_rate_limits());
    let report_path = dir.path().join("r.jsonl");
    let out = crate::common::cli()
        .env("HUBSPOT_ACCESS_TOKEN", TOKEN)
        .args([
            "upsert",
            "--id-property",
            "external_ticket_idd",
            "--id-column",
            "external_ticket_id",
            "--base-url",
            emu.url(),
            "--progress",
            "none",
            // HubSpot's own refusal is what is tested (the preflight's is below).
            "--no-preflight",
        ])
        .arg(&input)
        .arg("--report")
        .arg(&report_path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("external_ticket_idd"), "{stderr}");
    assert!(stderr.contains("--id-property"), "{stderr}");
    let requests = emu.emulator().stats().requests;
    assert!(requests <= 3, "{requests} requests");
    assert_eq!(emu.count(), 0);
    let r = report(&report_path);
    assert_eq!(r.len(), n);
    assert!(
        r.iter().all(|v| v["outcome"] == "not_attempted"),
        "{:?}",
        r[0]
    );

    // With the preflight: stopped before any write and any file, naming the
    // properties that can be an idProperty.
    let report_path = dir.path().join("r2.jsonl");
    let out = crate::common::cli()
        .env("HUBSPOT_ACCESS_TOKEN", TOKEN)
        .args([
            "upsert",
            "--id-property",
            "external_ticket_idd",
            "--id-column",
            "external_ticket_id",
            "--base-url",
            emu.url(),
        ])
        .arg(&input)
        .arg("--report")
        .arg(&report_path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("idProperty \"external_ticket_idd\" does not exist; the properties with unique values are: external_ticket_id"),
        "{stderr}"
    );
    assert_eq!(emu.emulator().stats().requests, requests, "no write");
    assert!(!report_path.exists());
}

/// The failed file is truncated when the run starts: it can never be the input, by
/// whatever name (a hard link) or channel (standard input redirected from the file).
#[test]
fn the_failed_file_can_never_be_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let input = csv_input(dir.path(), 10);
    let original = std::fs::read(&input).unwrap();
    let link = dir.path().join("link.csv");
    std::fs::hard_link(&input, &link).unwrap();
    let emu = start(EmulatorConfig::default().without_rate_limits());

    let out = cli(emu.url())
        .arg(&input)
        .arg("--failed")
        .arg(&link)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("the same file"), "{stderr}");

    let out = process(emu.url())
        .args(["--format", "csv", "-", "--failed"])
        .arg(&input)
        .stdin(std::fs::File::open(&input).unwrap())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("standard input"), "{stderr}");

    assert_eq!(
        std::fs::read(&input).unwrap(),
        original,
        "the input is intact"
    );
    assert_eq!(emu.emulator().stats().requests, 0);
}

/// `--strict` reads standard input twice through a spool file that has no name: a run
/// killed mid-way leaves nothing in the temporary directory.
#[cfg(unix)]
#[test]
fn a_killed_strict_run_leaves_no_spool_file() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let input = csv_input(dir.path(), 2000);
    let emu = start(EmulatorConfig::default().without_rate_limits());
    let mut child = process(emu.url())
        .env("TMPDIR", &tmp)
        .args(["--rate-limit", "2/1s", "--concurrency", "1", "--strict"])
        .args(["--format", "csv", "-"])
        .stdin(std::fs::File::open(&input).unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_writes(&emu, 1);
    child.kill().unwrap();
    child.wait().unwrap();
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

fn count_requests(emu: &Emu) -> u64 {
    emu.emulator().stats().requests
}

/// Killed with SIGKILL half way, `--resume` finishes the job: every record ends written
/// once, and the resumed part costs no more requests than its records need plus the
/// batches that were in flight at the kill.
#[cfg(unix)]
#[test]
fn sigkill_then_resume_finishes_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let n = 3000;
    let input = csv_input(dir.path(), n);
    let emu = start(EmulatorConfig::default().without_rate_limits());
    let report_path = dir.path().join("r.jsonl");
    let mut child = process(emu.url())
        .args(["--rate-limit", "6/1s", "--concurrency", "2"])
        .arg(&input)
        .arg("--report")
        .arg(&report_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_writes(&emu, n / 3);
    child.kill().unwrap();
    child.wait().unwrap();
    let requests_before = count_requests(&emu);

    // Whole lines, but for a last one the kill may have torn (the kernel stops a large
    // write at a page boundary); each written record with its fingerprint.
    let text = std::fs::read_to_string(&report_path).unwrap();
    let torn = !text.is_empty() && !text.ends_with('\n');
    let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    let first: Vec<Value> = whole
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v.get("outcome").is_some())
        .collect();
    let confirmed = first
        .iter()
        .filter(|v| v["outcome"] == "created")
        .inspect(|v| assert!(v["fingerprint"].is_string(), "{v}"))
        .count();
    assert!(confirmed > 0 && confirmed < n, "{confirmed}");

    let out = cli(emu.url())
        .args(["--rate-limit", "off", "--concurrency", "2", "--resume"])
        .arg(&report_path)
        .arg(&input)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(torn, stderr.contains("last line was torn"), "{stderr}");
    assert_eq!(emu.count(), n);
    assert!(emu.emulator().stats().duplicate_creates.is_empty());
    let resumed = n - confirmed;
    let requests = count_requests(&emu) - requests_before;
    assert!(
        requests <= resumed.div_ceil(100) as u64 + 2,
        "{requests} requests for {resumed} records"
    );
    // The report, appended to, now has every line's last outcome written.
    let all = report(&report_path);
    assert_eq!(all.len(), first.len() + resumed);
    let mut last = std::collections::HashMap::new();
    for v in &all {
        last.insert(
            v["line"].as_u64().unwrap(),
            v["outcome"].as_str().unwrap().to_owned(),
        );
    }
    assert_eq!(last.len(), n);
    assert!(last.values().all(|o| o == "created" || o == "updated"));
}

/// Resuming trusts the report only where it still matches: a cut last line is dropped
/// (and said so), and records whose content changed since are sent again.
#[test]
fn resume_sends_again_what_the_report_no_longer_vouches_for() {
    let dir = tempfile::tempdir().unwrap();
    let n = 250;
    let input = csv_input(dir.path(), n);
    let emu = start(EmulatorConfig::default().without_rate_limits());
    let report_path = dir.path().join("r.jsonl");
    cli(emu.url())
        .arg(&input)
        .arg("--report")
        .arg(&report_path)
        .assert()
        .code(0);
    // A cut line at the end, as a kill in mid-write leaves it.
    let mut text = std::fs::read_to_string(&report_path).unwrap();
    text.push_str("{\"line\":99,\"id\":\"R-9");
    std::fs::write(&report_path, &text).unwrap();
    // Two records changed since.
    let changed = std::fs::read_to_string(&input)
        .unwrap()
        .replace("R-7,ticket 7,", "R-7,ticket 7 edited,")
        .replace("R-200,ticket 200,", "R-200,ticket 200 edited,");
    std::fs::write(&input, changed).unwrap();
    let requests_before = count_requests(&emu);

    let out = cli(emu.url())
        .arg("--resume")
        .arg(&report_path)
        .arg(&input)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("last line was torn"), "{stderr}");
    assert_eq!(count_requests(&emu) - requests_before, 1);
    let all = report(&report_path);
    assert_eq!(all.len(), n + 2, "whole lines: the cut one is gone");
    let resent: Vec<&str> = all[n..].iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(resent, ["R-7", "R-200"]);
    assert!(all[n..].iter().all(|v| v["outcome"] == "updated"));
    let stored = emu
        .emulator()
        .tickets()
        .get_by_unique("external_ticket_id", "R-7")
        .unwrap();
    assert_eq!(stored.properties["subject"], "ticket 7 edited");
}

/// The failed file never makes data worse when re-run: a failed record that a later
/// record with the same id superseded is left out (and counted), and an invalid record
/// is copied byte for byte, so it stays invalid instead of turning into a "valid" one.
#[test]
fn the_failed_file_is_safe_to_re_run() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(EmulatorConfig::default().without_rate_limits());
    let input = dir.path().join("in.csv");
    // S-1 is refused (no such priority), then written by its later line; S-2 is refused
    // and stays so; line 6 opens a quote that never closes.
    std::fs::write(
        &input,
        "external_ticket_id,subject,hs_ticket_priority\n\
         S-1,first,HIGHEST\n\
         S-2,other,HIGHEST\n\
         S-3,fine,LOW\n\
         S-1,second,LOW\n\
         S-4,\"never closed,LOW\n\
         S-5,swallowed,LOW\n",
    )
    .unwrap();
    let failed = dir.path().join("failed.csv");
    let out = cli(emu.url())
        .arg(&input)
        .arg("--failed")
        .arg(&failed)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("    superseded later") && l.ends_with(" 1")),
        "{stdout}"
    );
    // Records in the order their outcome came (bad lines at once, refusals later).
    let text = std::fs::read_to_string(&failed).unwrap();
    let header = "external_ticket_id,subject,hs_ticket_priority\n";
    let refused = "S-2,other,HIGHEST\n";
    let invalid = "S-4,\"never closed,LOW\nS-5,swallowed,LOW\n";
    assert!(text.starts_with(header), "{text}");
    assert!(text.contains(refused) && text.contains(invalid), "{text}");
    assert_eq!(
        text.len(),
        header.len() + refused.len() + invalid.len(),
        "{text}"
    );
    let s1 = emu
        .emulator()
        .tickets()
        .get_by_unique("external_ticket_id", "S-1")
        .unwrap();
    assert_eq!(s1.properties["subject"], "second");

    // Re-running it writes nothing wrong: S-2 is refused again, the open quote is
    // invalid again, and S-1 keeps its later value.
    let out = cli(emu.url()).arg(&failed).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let s1 = emu
        .emulator()
        .tickets()
        .get_by_unique("external_ticket_id", "S-1")
        .unwrap();
    assert_eq!(s1.properties["subject"], "second");
    assert!(
        emu.emulator()
            .tickets()
            .get_by_unique("external_ticket_id", "S-4")
            .is_none()
    );
    assert_eq!(emu.count(), 2);
}

/// A port where nothing listens.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Serves every connection on a thread of its own with `serve`; returns the port.
fn serve_each(serve: fn(std::net::TcpStream)) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    port
}

/// Not an HTTP server: it greets like SSH and hangs up.
fn not_http(mut stream: std::net::TcpStream) {
    use std::io::{Read, Write};
    let _ = stream.read(&mut [0_u8; 4096]);
    let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.2\r\n");
}

/// TLS with a self-signed certificate (for 127.0.0.1, valid until 2126), which no
/// client trusts.
fn untrusted_tls(stream: std::net::TcpStream) {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use std::io::Read;
    let cert = CertificateDer::from(&include_bytes!("fixtures/self_signed_cert.der")[..]);
    let key = PrivatePkcs8KeyDer::from(&include_bytes!("fixtures/self_signed_key.der")[..]);
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.into_owned()],
            PrivateKeyDer::Pkcs8(key.clone_key()),
        )
        .unwrap();
    let conn = rustls::ServerConnection::new(std::sync::Arc::new(config)).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, stream);
    // The handshake runs here and ends with the client's alert.
    let _ = tls.read(&mut [0_u8; 4096]);
}

/// An address where HubSpot cannot be reached at all: the first batch's attempts all
/// fail, so the run stops instead of trying every batch, well within 30 s, and says
/// why once (no line per attempt, none from a dependency).
#[test]
fn an_address_that_never_answers_stops_the_run_soon_with_its_reason() {
    let cases = [
        (
            "nothing listening",
            format!("http://127.0.0.1:{}", closed_port()),
            "refused",
        ),
        (
            "not an HTTP server",
            format!("http://127.0.0.1:{}", serve_each(not_http)),
            "invalid HTTP",
        ),
        (
            "an untrusted certificate",
            format!("https://127.0.0.1:{}", serve_each(untrusted_tls)),
            "certificate",
        ),
    ];
    std::thread::scope(|scope| {
        for (what, url, reason) in &cases {
            scope.spawn(move || stops_soon_with(what, url, reason));
        }
    });
}

/// A run of `n` records against `url` that the address stops: its exit code, stderr, the
/// one `stopped:` line, the report, and how long it took.
struct Stopped {
    code: Option<i32>,
    stderr: String,
    stopped: String,
    report: Vec<Value>,
    took: Duration,
}

fn run_until_stopped(url: &str, n: usize) -> Stopped {
    let dir = tempfile::tempdir().unwrap();
    let input = csv_input(dir.path(), n);
    let report_path = dir.path().join("r.jsonl");
    let t0 = Instant::now();
    let out = process(url)
        .arg(&input)
        .arg("--report")
        .arg(&report_path)
        .output()
        .unwrap();
    let took = t0.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stopped: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("stopped:"))
        .collect();
    assert_eq!(stopped.len(), 1, "{url}: {stderr}");
    let stopped = stopped[0].to_owned();
    let report = report(&report_path);
    assert_eq!(report.len(), n, "{url}: one report line per record");
    Stopped {
        code: out.status.code(),
        stderr,
        stopped,
        report,
        took,
    }
}

fn stops_soon_with(what: &str, url: &str, reason: &str) {
    let n = 2100;
    let run = run_until_stopped(url, n);
    let stderr = &run.stderr;
    assert!(run.took < Duration::from_secs(30), "{what}: {:?}", run.took);
    assert_eq!(run.code, Some(7), "{what}: {stderr}");
    assert!(run.stopped.contains(reason), "{what}: {stderr}");
    // Said once when giving up, once in the stop: never once per attempt.
    let mentions = stderr.lines().filter(|l| l.contains(reason)).count();
    assert!(mentions <= 2, "{what}: {stderr}");
    assert!(!stderr.contains("ERROR"), "{what}: {stderr}");
    let count = |outcome: &str| {
        run.report
            .iter()
            .filter(|v| v["outcome"] == outcome)
            .count()
    };
    // A connection never made sent nothing: the first batch is not attempted like the
    // rest. A server that took the request (and answered garbage) may have written it.
    let first_batch_failed = if what == "not an HTTP server" { 100 } else { 0 };
    assert_eq!(
        (count("failed"), count("not_attempted")),
        (first_batch_failed, n - first_batch_failed),
        "{what}"
    );
}

/// A base URL that answers with a redirect (an http-to-https hop, a login page): not
/// followed, so the token never travels elsewhere; one request, and the message says
/// where it pointed and what to fix.
#[test]
fn a_redirect_stops_the_run_after_one_request() {
    fn redirect(mut stream: std::net::TcpStream) {
        use std::io::{Read, Write};
        let _ = stream.read(&mut [0_u8; 65536]);
        let _ = stream.write_all(
            b"HTTP/1.1 307 Temporary Redirect\r\nlocation: https://sso:hunter2@login.example.com/crm\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        );
    }
    let run = run_until_stopped(&format!("http://127.0.0.1:{}", serve_each(redirect)), 1000);
    let stderr = &run.stderr;
    assert_eq!(run.code, Some(5), "{stderr}");
    assert!(
        run.stopped
            .contains("redirect (https://<credentials>@login.example.com/crm)")
            && run.stopped.contains("Check --base-url"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    let r = &run.report;
    assert!(r.iter().all(|v| v["outcome"] == "not_attempted"), "{r:?}");
}

/// A 429 whose `Retry-After` asks for three years waits one rolling window at most (here
/// 4 s), and a wait that long is shown at the default verbosity.
#[test]
fn a_hostile_retry_after_waits_one_window_and_says_so() {
    fn hubspot(mut stream: std::net::TcpStream) {
        use std::io::{BufRead, BufReader, Read, Write};
        static SEEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        loop {
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let line = line.trim_end().to_ascii_lowercase();
                if line.is_empty() {
                    break;
                }
                if let Some(v) = line.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0_u8; length];
            reader.read_exact(&mut body).unwrap();
            let (status, extra, text) = if SEEN.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                == 0
            {
                let text = serde_json::json!({"status": "error", "errorType": "RATE_LIMIT",
                    "message": "You have reached your ten_secondly_rolling limit.",
                    "policyName": "TEN_SECONDLY_ROLLING"});
                ("429 Too Many Requests", "retry-after: 100000000\r\n", text)
            } else {
                let batch: Value = serde_json::from_slice(&body).unwrap();
                let results: Vec<Value> = batch["inputs"].as_array().unwrap().iter().enumerate()
                    .map(|(k, i)| serde_json::json!({"id": k.to_string(), "new": true, "archived": false,
                        "objectWriteTraceId": i["objectWriteTraceId"], "properties": {},
                        "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z"}))
                    .collect();
                let text = serde_json::json!({"status": "COMPLETE", "results": results,
                    "startedAt": "2026-01-01T00:00:00.000Z", "completedAt": "2026-01-01T00:00:00.100Z"});
                ("200 OK", "", text)
            };
            let text = text.to_string();
            let head = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}\r\n",
                text.len()
            );
            if stream.write_all(head.as_bytes()).is_err()
                || stream.write_all(text.as_bytes()).is_err()
            {
                return;
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let input = csv_input(dir.path(), 300);
    let t0 = Instant::now();
    // Without the cap this run would wait an hour: it is cut at a minute.
    // This server answers writes only.
    let out = cli(&format!("http://127.0.0.1:{}", serve_each(hubspot)))
        .args(["--rate-limit", "100/4s", "--no-preflight"])
        .arg(&input)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let took = t0.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        took >= Duration::from_secs(4),
        "{took:?}: the 429 was not waited for"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
    let pauses: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("rate limited (429); pausing every request"))
        .collect();
    assert_eq!(pauses.len(), 1, "{stderr}");
    assert!(pauses[0].contains("wait_ms=4000"), "{stderr}");
}

/// A failure every batch meets is said once on stderr, not once per batch (nor once
/// per retry).
#[test]
fn a_failure_every_batch_meets_is_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = csv_input(dir.path(), 500);
    for kind in [FaultKind::Http500, FaultKind::TruncatedBody] {
        let always = FaultConfig::none(3).with(kind, 1.0);
        let emu = start(
            EmulatorConfig::default()
                .without_rate_limits()
                .with_faults(always),
        );
        let out = process(emu.url())
            .args(["--rate-limit", "off", "--max-retries", "1"])
            .arg(&input)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // The first batch fails after its retries before HubSpot accepted anything,
        // and the run stops: exit 7.
        assert_eq!(out.status.code(), Some(7), "{kind:?}: {stderr}");
        assert_eq!(emu.emulator().stats().requests, 2, "{kind:?}: {stderr}");
        // Said by the stop (a WARN and the `stopped:` line), not once per attempt.
        assert_eq!(stderr.matches("giving up").count(), 0, "{stderr}");
        assert_eq!(stderr.matches("WARN stopping").count(), 1, "{stderr}");
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with("stopped:")).count(),
            1,
            "{stderr}"
        );
        let undecodable = stderr.matches("undecodable body").count();
        let expected = usize::from(kind == FaultKind::TruncatedBody);
        assert_eq!(undecodable, expected, "{kind:?}: {stderr}");
    }
}

/// A stop from HubSpot (here a token without the scope) while standard input never
/// ends (`tail -f`): the command stops reading and exits, saying the input was left
/// unread, instead of reading forever to report each later record not sent.
#[test]
fn a_stop_with_an_endless_stdin_ends_the_run() {
    use std::io::Write;
    let emu = Emu::start(
        EmulatorConfig::default()
            .with_tokens([TOKEN])
            .with_token_scopes(TOKEN, ["crm.objects.contacts.write"]),
    );
    let mut child = process(emu.url())
        .args(["--format", "jsonl", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        for i in 0u64.. {
            let line = format!("{{\"external_ticket_id\":\"E-{i}\",\"subject\":\"s\"}}\n");
            if stdin.write_all(line.as_bytes()).is_err() {
                return i;
            }
        }
        0
    });
    let t0 = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if t0.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("still reading an endless stdin after a stop");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("standard input was not read to its end"),
        "{stderr}"
    );
    assert!(writer.join().unwrap() > 0);
}
