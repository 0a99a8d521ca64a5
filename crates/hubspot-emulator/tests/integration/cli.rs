//! The `hubspot-emulator` binary: its help, and running it out of process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_hubspot-emulator");

#[test]
fn help_documents_every_option() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--host",
        "--port",
        "--token",
        "--any-token",
        "--rate-limit",
        "--rate-window-ms",
        "--daily-limit",
        "--no-daily-limit",
        "--no-rate-limits",
        "--retry-after",
        "--faults",
        "--fault",
        "--delay-ms",
        "--seed",
        "--state",
        "--unique-property",
        "--property",
        "--header-read-timeout-ms",
        "--idle-timeout-ms",
        "--max-connections",
        "--required-on-create",
        "--max-inputs",
        "--max-id-length",
        "--portal-id",
        "--requested-at",
        "--api-version",
        "--custom-object",
        "--object-property",
        "--token-scopes",
        "/__emulator/objects",
        "--log",
        "/__emulator/",
        "close_after_write",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

#[test]
fn bad_options_are_refused() {
    let out = Command::new(BIN)
        .args(["--fault", "http_999=0.5"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = Command::new(BIN)
        .args(["--fault", "http_500=0.7", "--fault", "http_502=0.7"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn spawn(args: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .args(["--port", "0", "--log", "warn"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("hubspot-emulator listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Server { child, url }
    }

    /// Asks the server to stop (SIGTERM, so it saves its state) and waits for it.
    fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "{exit:?}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn runs_standalone_and_keeps_state_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_arg = state.to_str().unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let body = json!({"inputs": [{"idProperty": "crm_key", "id": "K-1",
        "properties": {"subject": "from the CLI", "priority_score": "7"}}]});

    let args = [
        "--token",
        "cli-token",
        "--rate-limit",
        "50",
        "--rate-window-ms",
        "2000",
        "--unique-property",
        "crm_key",
        "--property",
        "priority_score:number",
        "--state",
        state_arg,
    ];
    let server = Server::spawn(&args);
    let resp = http
        .post(format!(
            "{}/crm/v3/objects/tickets/batch/upsert",
            server.url
        ))
        .bearer_auth("cli-token")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-hubspot-ratelimit-max"], "50");
    assert_eq!(
        resp.headers()["x-hubspot-ratelimit-interval-milliseconds"],
        "2000"
    );
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["results"][0]["new"], true);
    let stats: Value = get_json(&http, format!("{}/__emulator/stats", server.url)).await;
    assert_eq!(stats["recordsCreated"], 1);
    server.terminate();
    assert!(state.exists(), "state written on SIGTERM");

    let server = Server::spawn(&args);
    let t: Value = get_json(
        &http,
        format!("{}/__emulator/tickets/by/crm_key/K-1", server.url),
    )
    .await;
    assert_eq!(t["properties"]["subject"], "from the CLI");
    let v: Value = http
        .post(format!(
            "{}/crm/v3/objects/tickets/batch/upsert",
            server.url
        ))
        .bearer_auth("cli-token")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["results"][0]["new"], false, "updated across runs");
    server.terminate();
}

#[tokio::test]
async fn chaos_preset_from_the_cli_injects_faults() {
    let server = Server::spawn(&[
        "--no-rate-limits",
        "--faults",
        "--seed",
        "5",
        "--delay-ms",
        "10",
        "--fault",
        "http_503=0.3",
    ]);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut statuses = Vec::new();
    for i in 0..40 {
        let body = json!({"inputs": [{"idProperty": "external_ticket_id", "id": format!("X-{i}"), "properties": {}}]});
        let r = http
            .post(format!(
                "{}/crm/v3/objects/tickets/batch/upsert",
                server.url
            ))
            .bearer_auth("test-token")
            .json(&body)
            .send()
            .await;
        statuses.push(r.map(|r| r.status().as_u16()).unwrap_or(0));
    }
    assert!(statuses.contains(&503), "{statuses:?}");
    assert!(statuses.contains(&200), "{statuses:?}");
    let stats: Value = get_json(&http, format!("{}/__emulator/stats", server.url)).await;
    assert!(stats["faults"]["http_503"].as_u64().unwrap() > 0, "{stats}");
}

/// Runs the binary with `args`, expects it to refuse them, and returns its stderr.
/// GET `url`, as JSON.
async fn get_json(http: &reqwest::Client, url: String) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

fn refused(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(["--port", "0"])
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{args:?} accepted; stderr: {stderr}");
    stderr
}

#[test]
fn a_read_only_property_cannot_be_unique_or_redefined() {
    let err = refused(&["--unique-property", "hs_object_id"]);
    assert!(
        err.contains("--unique-property") && err.contains("read-only"),
        "{err}"
    );
    let err = refused(&["--property", "createdate:string"]);
    assert!(
        err.contains("--property") && err.contains("read-only"),
        "{err}"
    );
}

#[test]
fn property_names_must_be_hubspot_internal_names() {
    for bad in ["Bad Name:string", "1st:number", "has-dash", "Upper"] {
        let err = refused(&["--property", bad]);
        assert!(err.contains("invalid property name"), "{bad}: {err}");
    }
    let too_long = "a".repeat(101);
    let err = refused(&["--unique-property", &too_long]);
    assert!(err.contains("at most 100"), "{err}");
}

#[test]
fn conflicting_property_definitions_are_refused_naming_both_flags() {
    let err = refused(&[
        "--unique-property",
        "subject",
        "--property",
        "subject:number",
    ]);
    assert!(
        err.contains("--unique-property subject") && err.contains("--property subject:number"),
        "{err}"
    );
    let err = refused(&["--property", "tier:number", "--property", "tier:bool"]);
    assert!(
        err.contains("--property tier:number") && err.contains("--property tier:bool"),
        "{err}"
    );
}

#[test]
fn a_state_file_in_a_missing_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("state.json");
    let err = refused(&["--state", path.to_str().unwrap()]);
    assert!(err.contains(path.to_str().unwrap()), "{err}");
}

/// Runs the binary with `args`, which must exit within 5 s (then it is killed): its
/// exit status and stderr.
fn run_briefly(args: &[&str]) -> (std::process::ExitStatus, String, std::time::Duration) {
    let t0 = std::time::Instant::now();
    let mut child = Command::new(BIN)
        .args(["--port", "0"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            return (status, stderr, t0.elapsed());
        }
        if t0.elapsed() > std::time::Duration::from_secs(5) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} still running after 5 s: not refused");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Two processes on one state file would each save their records at shutdown, the last
/// overwriting the other's: the second is refused at start, naming the first; once the
/// first has stopped (or was killed, leaving its lock file), one starts again.
#[cfg(unix)]
#[test]
fn a_second_process_on_one_state_file_is_refused_while_the_first_runs() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_arg = state.to_str().unwrap();
    let first = Server::spawn(&["--state", state_arg]);
    let (status, stderr, took) = run_briefly(&["--state", state_arg]);
    assert!(!status.success(), "{stderr}");
    assert!(
        took < std::time::Duration::from_secs(1),
        "refused after {took:?}"
    );
    let expected = format!(
        "state file {state_arg} is in use by another emulator (process {})",
        first.child.id()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    first.terminate();
    assert!(state.exists(), "the first one saved its state");

    // Accepted after the first has stopped; and after one was killed outright.
    let again = Server::spawn(&["--state", state_arg]);
    drop(again); // SIGKILL: the lock file stays, unlocked.
    assert!(dir.path().join("state.json.lock").exists());
    let last = Server::spawn(&["--state", state_arg]);
    assert!(last.url.starts_with("http://"));
    last.terminate();
}

#[tokio::test]
async fn the_same_definition_twice_and_the_limit_flags_are_accepted() {
    let server = Server::spawn(&[
        "--property",
        "tier:number",
        "--property",
        "tier:number",
        "--unique-property",
        "legacy_id",
        "--unique-property",
        "legacy_id",
        "--header-read-timeout-ms",
        "5000",
        "--idle-timeout-ms",
        "5000",
        "--max-connections",
        "8",
    ]);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = http
        .get(format!("{}/__emulator/health", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server.terminate();
}

#[test]
fn bad_object_and_version_flags_are_refused() {
    let err = refused(&["--api-version", "2027-13=2026-09"]);
    assert!(err.contains("YYYY-MM"), "{err}");
    let err = refused(&["--api-version", "2027-03=2025-01"]);
    assert!(err.contains("2025-01"), "{err}");
    let err = refused(&["--custom-object", "3-1=p_1_x"]);
    assert!(err.contains("2-<digits>"), "{err}");
    let err = refused(&["--custom-object", "2-1=cars"]);
    assert!(err.contains("p_<portal>_<name>"), "{err}");
    let err = refused(&["--custom-object", "2-1=p_1_x"]);
    assert!(err.contains("no unique property"), "{err}");
    let err = refused(&["--object-property", "foo=a:number"]);
    assert!(err.contains("unknown object type \"foo\""), "{err}");
    let err = refused(&[
        "--object-property",
        "deals=k:number",
        "--object-property",
        "0-3=k:unique",
    ]);
    assert!(
        err.contains("--object-property deals=k:number")
            && err.contains("--object-property 0-3=k:unique"),
        "{err}"
    );
    let err = refused(&["--token-scopes", "tickets"]);
    assert!(err.contains("TOKEN=SCOPE"), "{err}");
}

#[tokio::test]
async fn object_types_versions_and_scopes_from_the_cli() {
    let server = Server::spawn(&[
        "--no-rate-limits",
        "--api-version",
        "2027-03=2026-09",
        "--api-version",
        "2027-09=v3",
        "--custom-object",
        "2-123=p_2418337_cars",
        "--object-property",
        "p2418337_cars=vin:unique",
        "--object-property",
        "2-123=year:number",
        "--object-property",
        "deals=external_deal_id:unique",
        "--token-scopes",
        "scoped=tickets, crm.objects.custom.write",
    ]);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let post = |path: String, token: &'static str, body: Value| {
        let req = http
            .post(format!("{}{path}", server.url))
            .bearer_auth(token)
            .json(&body);
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let partial = |key: &str| {
        json!({"inputs": [
            {"idProperty": key, "id": "A", "objectWriteTraceId": "a", "properties": {}},
            {"idProperty": key, "id": "B", "objectWriteTraceId": "b", "properties": {"nope": "1"}},
        ]})
    };
    let (status, v) = post(
        "/crm/objects/2027-03/p_2418337_cars/batch/upsert".into(),
        "scoped",
        partial("vin"),
    )
    .await;
    assert_eq!((status, &v["numErrors"]), (200, &json!(1)), "{v}");
    let (status, _) = post(
        "/crm/objects/2027-09/0-3/batch/upsert".into(),
        "test-token",
        partial("external_deal_id"),
    )
    .await;
    assert_eq!(status, 207);
    let (status, v) = post(
        "/crm/v3/objects/deals/batch/upsert".into(),
        "scoped",
        partial("external_deal_id"),
    )
    .await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["category"], "MISSING_SCOPES");
    let (status, _) = post(
        "/crm/objects/2028-03/tickets/batch/upsert".into(),
        "scoped",
        json!({"inputs": []}),
    )
    .await;
    assert_eq!(status, 404);
    let count: Value = get_json(
        &http,
        format!("{}/__emulator/objects/2-123/count", server.url),
    )
    .await;
    assert_eq!(count["count"], 1);
    server.terminate();
}

/// Logs to a pipe or a file are plain text: no colour codes for a terminal that is
/// not there.
#[test]
fn logs_to_a_pipe_have_no_colour_codes() {
    let mut child = Command::new(BIN)
        .args(["--port", "0", "--log", "info"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(first.contains("listening"), "{first:?}");
    assert!(!first.contains('\u{1b}'), "{first:?}");
}
