#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! HubSpot's answers the emulator does not give, from a small fake server of this
//! file's own: 477 Migration in Progress, an idProperty refused in words never seen,
//! and server text holding terminal escapes. Each checks the exit code, what stderr
//! says, and how many requests were made.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::cli;

const TOKEN: &str = "pat-na1-answers-0123456789abcdef";

/// An answer: status line, extra header lines (each ending in CRLF), body.
type Reply = (&'static str, &'static str, String);

/// A fake HubSpot on an ephemeral loopback port answering each request body with
/// `answer`; returns its base URL and a count of the requests it got.
fn fake_server(
    answer: impl Fn(&[u8]) -> Reply + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (seen, answer) = (Arc::clone(&seen), Arc::clone(&answer));
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                while let Some(body) = read_request(&mut reader) {
                    seen.fetch_add(1, Ordering::SeqCst);
                    let (status, headers, text) = answer(&body);
                    let reply = format!(
                        "HTTP/1.1 {status}\r\n{headers}content-length: {}\r\n\r\n{text}",
                        text.len()
                    );
                    if reader.get_mut().write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, count)
}

/// One request's body: its head read to the blank line, then `Content-Length` bytes.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut length = 0_usize;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return None;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0_u8; length];
    reader.read_exact(&mut body).ok()?;
    Some(body)
}

/// Serves every request with `status`, `headers` and `body`.
fn fake(
    status: &'static str,
    headers: &'static str,
    body: &'static str,
) -> (String, Arc<AtomicUsize>) {
    fake_server(move |_| (status, headers, body.to_owned()))
}

/// A fake HubSpot that writes every batch, except that a batch holding an id in `bad`
/// is refused as a whole with `refusal` (a 400 naming no input).
fn fake_with_bad(
    bad: &'static [&'static str],
    refusal: &'static str,
) -> (String, Arc<AtomicUsize>) {
    fake_server(move |body| {
        let batch: serde_json::Value = serde_json::from_slice(body).unwrap();
        let inputs = batch["inputs"].as_array().cloned().unwrap_or_default();
        if inputs
            .iter()
            .any(|i| bad.contains(&i["id"].as_str().unwrap_or("")))
        {
            return (
                "400 Bad Request",
                "content-type: application/json\r\n",
                refusal.to_owned(),
            );
        }
        let results: Vec<serde_json::Value> = inputs
            .iter()
            .enumerate()
            .map(|(k, i)| {
                serde_json::json!({
                    "id": format!("{}", 1000 + k), "new": true, "archived": false,
                    "createdAt": "2026-01-01T00:00:00.000Z",
                    "updatedAt": "2026-01-01T00:00:00.000Z",
                    "objectWriteTraceId": i["objectWriteTraceId"],
                    "properties": {"external_ticket_id": i["id"]}
                })
            })
            .collect();
        let text = serde_json::json!({
            "status": "COMPLETE", "results": results,
            "startedAt": "2026-01-01T00:00:00.000Z",
            "completedAt": "2026-01-01T00:00:00.100Z"
        });
        (
            "200 OK",
            "content-type: application/json\r\n",
            text.to_string(),
        )
    })
}

fn upsert(url: &str, dir: &std::path::Path, n: usize) -> std::process::Output {
    let mut text = String::from("external_ticket_id,subject\n");
    for i in 0..n {
        text.push_str(&format!("A-{i},s{i}\n"));
    }
    let input = dir.join("in.csv");
    std::fs::write(&input, text).unwrap();
    cli()
        .env("HUBSPOT_ACCESS_TOKEN", TOKEN)
        .args([
            "upsert",
            // These servers answer the write only.
            "--no-preflight",
            "--id-property",
            "external_ticket_id",
            "--base-url",
            url,
        ])
        .args(["--progress", "none", "--failed"])
        .arg(dir.join("failed.csv"))
        .arg(&input)
        .output()
        .unwrap()
}

/// 477 with a day's `Retry-After` on every request: one request, exit 7, the wait and
/// the reason on stderr, and no "fix them".
#[test]
fn migration_in_progress_stops_after_one_request() {
    let (url, count) = fake(
        "477 Migration In Progress",
        "content-type: application/json\r\nretry-after: 86400\r\n",
        r#"{"status":"error","message":"This portal is being migrated","category":"MIGRATION_IN_PROGRESS","correlationId":"0d9c8b7a-6f5e-4d3c-8b2a-1908f7e6d5c4"}"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let out = upsert(&url, dir.path(), 1000);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(7), "{stdout}{stderr}");
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert!(stderr.contains("Migration in Progress"), "{stderr}");
    assert!(stderr.contains("24.0 h"), "{stderr}");
    assert!(stdout.contains("none needing a fix"), "{stdout}");
    assert!(!stdout.contains("fix them"), "{stdout}");
}

/// A misspelt idProperty answered in words this tool has never seen (no property
/// named, no context): at most three requests, exit 5, HubSpot's words on stderr.
#[test]
fn an_id_property_refused_in_unknown_words_stops_within_three_requests() {
    let (url, count) = fake(
        "400 Bad Request",
        "content-type: application/json\r\n",
        r#"{"status":"error","message":"Das Upsert-Feld ist nicht eindeutig","category":"VALIDATION_ERROR"}"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let out = upsert(&url, dir.path(), 1000);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        count.load(Ordering::SeqCst) <= 3,
        "{} requests",
        count.load(Ordering::SeqCst)
    );
    assert!(
        stderr.contains("Das Upsert-Feld ist nicht eindeutig"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--id-property \"external_ticket_id\""),
        "{stderr}"
    );
}

/// HubSpot's own words for a refused idProperty: one request, the property named.
#[test]
fn an_id_property_refused_in_hubspots_words_stops_after_one_request() {
    let (url, count) = fake(
        "400 Bad Request",
        "content-type: application/json\r\n",
        r#"{"status":"error","message":"Unable to perform update/upsert by non-unique 0-5 property external_ticket_id","category":"VALIDATION_ERROR","correlationId":"0d9c8b7a-6f5e-4d3c-8b2a-1908f7e6d5c4"}"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let out = upsert(&url, dir.path(), 1000);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert!(stderr.contains("property external_ticket_id"), "{stderr}");
}

/// Terminal escapes in a 401's message and in an HTML page's title reach stderr
/// escaped, never raw.
#[test]
fn server_text_never_reaches_the_terminal_raw() {
    for (status, headers, body) in [
        (
            "401 Unauthorized",
            "content-type: application/json\r\n",
            "{\"status\":\"error\",\"message\":\"bad token \\u001b]0;owned\\u0007\\u001b[2J\",\"category\":\"INVALID_AUTHENTICATION\"}",
        ),
        (
            "503 Service Unavailable",
            "content-type: text/html\r\n",
            "<html><head><title>down \u{1b}[2J\u{1b}]0;owned\u{7}</title></head></html>",
        ),
    ] {
        let (url, _) = fake(status, headers, body);
        let dir = tempfile::tempdir().unwrap();
        let out = upsert(&url, dir.path(), 10);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            !stderr.contains('\u{1b}') && !stderr.contains('\u{7}'),
            "{stderr:?}"
        );
        assert!(!stdout.contains('\u{1b}'), "{stdout:?}");
        let report_like = std::fs::read_to_string(dir.path().join("failed.csv")).unwrap();
        assert!(!report_like.contains('\u{1b}'));
        assert!(stderr.contains("\\u{1b}"), "{status}: {stderr}");
    }
}

/// Two bad records in one batch, refused as a whole in words naming no input (also
/// when one of them is the batch's first): only they fail, the run goes on.
#[test]
fn two_bad_records_in_a_batch_never_stop_the_run() {
    const REFUSAL: &str = r#"{"status":"error","message":"Property values were not valid","category":"VALIDATION_ERROR"}"#;
    for bad in [
        &["A-900", "A-901"][..],
        &["A-0", "A-99"],
        &["A-100", "A-150"],
        &["A-3", "A-97"],
    ] {
        let (url, _) = fake_with_bad(bad, REFUSAL);
        let dir = tempfile::tempdir().unwrap();
        let out = upsert(&url, dir.path(), 1000);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{bad:?}: {stdout}{stderr}");
        let failed = std::fs::read_to_string(dir.path().join("failed.csv")).unwrap();
        assert_eq!(failed.lines().count(), 3, "{bad:?}: {failed}");
        for id in bad {
            assert!(failed.contains(&format!("{id},")), "{bad:?}: {failed}");
        }
    }
}

/// A HubSpot that fails every request with a 502 (an HTML page): the run stops after
/// two batches fail after every retry, exit 7, the rest not attempted.
#[test]
fn a_hubspot_failing_every_request_stops_the_run() {
    let (url, count) = fake(
        "502 Bad Gateway",
        "content-type: text/html\r\n",
        "<html><head><title>502 Bad Gateway</title></head></html>",
    );
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("external_ticket_id,subject\n");
    for i in 0..5000 {
        text.push_str(&format!("A-{i},s{i}\n"));
    }
    let input = dir.path().join("in.csv");
    std::fs::write(&input, text).unwrap();
    let t0 = std::time::Instant::now();
    let out = cli()
        .env("HUBSPOT_ACCESS_TOKEN", TOKEN)
        .args([
            "upsert",
            // These servers answer the write only.
            "--no-preflight",
            "--id-property",
            "external_ticket_id",
            "--base-url",
            &url,
        ])
        .args(["--progress", "none", "--max-retries", "1", "--report"])
        .arg(dir.path().join("r.jsonl"))
        .arg(&input)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    assert!(stderr.contains("failed after every retry"), "{stderr}");
    assert!(t0.elapsed() < std::time::Duration::from_secs(60));
    assert!(
        count.load(Ordering::SeqCst) <= 6,
        "{} requests",
        count.load(Ordering::SeqCst)
    );
}

/// `--failed` given a file that holds something (an export): kept beside, not lost.
#[test]
fn an_existing_failed_file_is_kept_beside() {
    let (url, _) = fake_with_bad(
        &["A-1"],
        r#"{"status":"error","message":"no","category":"VALIDATION_ERROR"}"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let export = "external_ticket_id,subject\nX-1,precious\n";
    std::fs::write(dir.path().join("failed.csv"), export).unwrap();
    let out = upsert(&url, dir.path(), 3);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("kept as"), "{stderr}");
    // The same mistake again: the first run's failed file is kept too, the export
    // never replaced.
    let first = std::fs::read_to_string(dir.path().join("failed.csv")).unwrap();
    let out = upsert(&url, dir.path(), 3);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("failed.csv.previous.2")).unwrap(),
        first
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("failed.csv.previous")).unwrap(),
        export
    );
    assert!(
        std::fs::read_to_string(dir.path().join("failed.csv"))
            .unwrap()
            .contains("A-1,")
    );
}
