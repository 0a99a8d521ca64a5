#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The token never shows in the command's output, logs (at `-vv` and `RUST_LOG=trace`),
//! report or failed file, even when the server echoes it back in every answer; plain
//! `http://` to another host is refused; `--help` does not print it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use assert_cmd::Command;
use serde_json::{Value, json};

const TOKEN: &str = "pat-na1-cli-echo-77c1ab-do-not-print";

/// Reads one HTTP/1.1 request: the `Authorization` value and the body.
fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut auth = String::new();
    let mut length = 0_usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
        if lower.starts_with("authorization:") {
            auth = line["authorization:".len()..].trim().to_owned();
        }
    }
    let mut body = vec![0_u8; length];
    reader.read_exact(&mut body).ok()?;
    Some((auth, body))
}

/// Answers the n-th request with the n-th echo of the token: a 500 HTML page, a 503
/// JSON error (message, category, correlation id, header), then 207s whose per-input
/// errors quote it.
fn answer(n: usize, auth: &str, body: &[u8]) -> Vec<u8> {
    let token = auth.trim_start_matches("Bearer ");
    let (status, content_type, text, extra) = match n {
        0 => (
            "500 Internal Server Error",
            "text/html",
            format!(
                "<html><head><title>Error for {auth}</title></head><body>{token}</body></html>"
            ),
            String::new(),
        ),
        1 => (
            "503 Service Unavailable",
            "application/json",
            json!({"status": "error", "message": format!("overloaded, {auth}"), "category": token,
                   "correlationId": token})
            .to_string(),
            format!("x-hubspot-correlation-id: {token}\r\n"),
        ),
        _ => {
            let batch: Value = serde_json::from_slice(body).unwrap();
            let errors: Vec<Value> = batch["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| {
                    json!({"status": "error", "category": token,
                           "message": format!("Property values were not valid ({auth})"),
                           "context": {"objectWriteTraceId": [i["objectWriteTraceId"]], "id": [i["id"]]}})
                })
                .collect();
            (
                "207 Multi-Status",
                "application/json",
                json!({"status": "COMPLETE", "results": [], "numErrors": errors.len(), "errors": errors,
                       "startedAt": "2026-01-01T00:00:00.000Z", "completedAt": "2026-01-01T00:00:00.100Z"})
                .to_string(),
                String::new(),
            )
        }
    };
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n{extra}connection: close\r\n\r\n{text}",
        text.len()
    )
    .into_bytes()
}

/// A 403 to the properties read, quoting the token in its message, category,
/// correlation id and a header.
fn refuse_read(auth: &str) -> Vec<u8> {
    let token = auth.trim_start_matches("Bearer ");
    let text = json!({"status": "error", "message": format!("This app hasn't been granted all required scopes ({auth})"),
                      "category": token, "correlationId": token})
    .to_string();
    format!(
        "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-hubspot-correlation-id: {token}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    )
    .into_bytes()
}

/// A loopback server echoing the token; returns its base URL.
fn echo_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let calls = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let calls = Arc::clone(&calls);
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                if let Some((auth, body)) = read_request(&mut stream) {
                    // The preflight's read (no body) is refused, echoing the token in
                    // every field; the writes count through the sequence above.
                    if body.is_empty() {
                        let _ = stream.write_all(&refuse_read(&auth));
                        return;
                    }
                    let n = calls.fetch_add(1, Ordering::SeqCst);
                    let _ = stream.write_all(&answer(n % 4, &auth, &body));
                }
            });
        }
    });
    url
}

fn assert_hidden(what: &str, text: &str) {
    assert!(!text.contains(TOKEN), "{what} shows the token:\n{text}");
    assert!(
        !text.contains("77c1ab-do-not"),
        "{what} shows part of the token"
    );
}

fn run(url: &str, dir: &Path, env: &[(&str, &str)], args: &[&str]) {
    let input = dir.join("in.jsonl");
    std::fs::write(
        &input,
        "{\"external_ticket_id\":\"S-1\",\"subject\":\"a\"}\n{\"external_ticket_id\":\"S-2\",\"subject\":\"b\"}\n",
    )
    .unwrap();
    let (report, failed) = (dir.join("r.jsonl"), dir.join("f.jsonl"));
    let mut cmd = Command::cargo_bin("hubspot-tickets").unwrap();
    cmd.timeout(Duration::from_secs(120))
        .env("HUBSPOT_ACCESS_TOKEN", TOKEN)
        .env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .args([
            "upsert",
            "--id-property",
            "external_ticket_id",
            "--base-url",
            url,
            "--progress",
            "plain",
            "--rate-limit",
            "off",
        ])
        .args(args)
        .arg(&input)
        .arg("--report")
        .arg(&report)
        .arg("--failed")
        .arg(&failed)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let report_text = std::fs::read_to_string(&report).unwrap();
    // Both records failed with the server's (scrubbed) per-input message.
    // Both records (besides the header and the line before the batch).
    assert_eq!(
        report_text
            .lines()
            .filter(|l| l.contains("\"outcome\""))
            .count(),
        2,
        "{report_text}"
    );
    assert!(
        report_text.contains("Property values were not valid"),
        "{report_text}"
    );
    assert_hidden("stdout", &stdout);
    assert_hidden("stderr", &stderr);
    assert_hidden("report", &report_text);
    assert_hidden("failed file", &std::fs::read_to_string(&failed).unwrap());
}

#[test]
fn an_echoing_server_never_gets_the_token_into_output_logs_or_files() {
    // Retries through the HTML 500 and the JSON 503, then the 207 (a fresh server each).
    let dir = tempfile::tempdir().unwrap();
    run(
        &echo_server(),
        dir.path(),
        &[],
        &["-vv", "--max-retries", "5"],
    );
    run(
        &echo_server(),
        dir.path(),
        &[("RUST_LOG", "trace")],
        &["--max-retries", "5"],
    );
    // No retries: the HTML 500, then the JSON 503, are the final answers.
    let url = echo_server();
    let input = dir.path().join("in.csv");
    std::fs::write(&input, "external_ticket_id,subject\nS-3,c\n").unwrap();
    for expected in ["\"error_kind\":\"server\"", "overloaded"] {
        let report = dir.path().join("r.jsonl");
        let out = Command::cargo_bin("hubspot-tickets")
            .unwrap()
            .timeout(Duration::from_secs(60))
            .env("HUBSPOT_ACCESS_TOKEN", TOKEN)
            .env("RUST_LOG", "trace")
            .args([
                "upsert",
                "--id-property",
                "external_ticket_id",
                "--base-url",
                &url,
            ])
            .args([
                "--max-retries",
                "0",
                "--progress",
                "plain",
                "--rate-limit",
                "off",
            ])
            .arg(&input)
            .arg("--report")
            .arg(&report)
            .output()
            .unwrap();
        let report_text = std::fs::read_to_string(&report).unwrap();
        assert!(report_text.contains(expected), "{report_text}");
        assert_hidden("stderr", &String::from_utf8_lossy(&out.stderr));
        assert_hidden("stdout", &String::from_utf8_lossy(&out.stdout));
        assert_hidden("report", &report_text);
    }
}

/// One record on standard input, upserted to `base_url` with the token.
fn upsert_one(base_url: &str) -> std::process::Output {
    Command::cargo_bin("hubspot-tickets")
        .unwrap()
        .env("HUBSPOT_ACCESS_TOKEN", TOKEN)
        .args(["upsert", "--id-property", "external_ticket_id"])
        .args(["--base-url", base_url, "-"])
        .write_stdin("external_ticket_id\nX-1\n")
        .output()
        .unwrap()
}

#[test]
fn plain_http_to_another_host_is_refused_and_help_never_shows_the_token() {
    let out = upsert_one("http://api.hubapi.com");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("refusing plain http://"), "{stderr}");
    assert_hidden("stderr", &stderr);
    for args in [&["--help"][..], &["upsert", "--help"][..]] {
        let out = Command::cargo_bin("hubspot-tickets")
            .unwrap()
            .env("HUBSPOT_ACCESS_TOKEN", TOKEN)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_hidden("--help", &String::from_utf8_lossy(&out.stdout));
    }
}

/// A password in `--base-url` is never printed, whether the URL is refused for it, does
/// not parse, or names a port that cannot exist.
#[test]
fn credentials_in_the_base_url_are_never_printed() {
    for url in [
        "https://user:hunter2@host:99999",
        "https://user:hunter2@api.hubapi.com",
        "https://user:hunter2@exa mple.com/x",
        "http://user:hunter2@10.0.0.1",
    ] {
        let out = upsert_one(url);
        let output = crate::common::all_output(&out);
        assert_eq!(out.status.code(), Some(2), "{url}: {output}");
        assert!(output.contains("error:"), "{url}: {output}");
        assert!(!output.contains("hunter2"), "{url}: {output}");
    }
}
