#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Tokens that change during a run: OAuth with a refresh token (the access token
//! renewed as it expires, one limiter throughout, measured at the server), and a fixed
//! token that expires mid-run (the stop says so; `--resume` finishes the job). No
//! secret in any output, log or report.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hubspot_emulator::{EmulatorConfig, OAuthApp, RateLimitConfig};
use hubspot_tickets::auth::{OAuthRefresh, TokenSource};

use crate::common::{Emu, cli, report};

const CLIENT_ID: &str = "cli-oauth-app-7731";
const CLIENT_SECRET: &str = "cs-4f1d9a2b-secret-never-printed";
const REFRESH_TOKEN: &str = "rt-na1-9e8d7c6b-refresh-never-printed";

/// An emulator with one OAuth app whose access tokens live `lifetime`, HubSpot's
/// ten-second window at `per_10s`, and a request log long enough for the whole run.
fn emulator(lifetime: Duration, per_10s: u32) -> Emu {
    Emu::start(
        EmulatorConfig::default()
            .with_oauth_app(OAuthApp::new(CLIENT_ID, CLIENT_SECRET, [REFRESH_TOKEN]))
            .with_access_token_lifetime(lifetime)
            .with_rate_limit(RateLimitConfig::per_window(
                per_10s,
                Duration::from_secs(10),
            ))
            .with_request_log_capacity(8192),
    )
}

fn input(dir: &Path, n: usize) -> PathBuf {
    let mut text = String::from("external_ticket_id,subject\n");
    for i in 0..n {
        text.push_str(&format!("OA-{i},ticket {i}\n"));
    }
    let p = dir.join("input.csv");
    std::fs::write(&p, text).unwrap();
    p
}

/// `upsert` by OAuth: the client id in the environment, the secret and the refresh
/// token in files (never on the command line).
fn oauth_upsert(emu: &Emu, dir: &Path) -> assert_cmd::Command {
    let secret = crate::common::write(dir, "client-secret", &format!("{CLIENT_SECRET}\n"));
    let refresh = crate::common::write(dir, "refresh-token", REFRESH_TOKEN);
    let mut cmd = cli();
    cmd.env("HUBSPOT_CLIENT_ID", CLIENT_ID)
        .env_remove("HUBSPOT_CLIENT_SECRET")
        .env_remove("HUBSPOT_REFRESH_TOKEN")
        .args(crate::common::upsert_args(emu.url()))
        .arg("--client-secret-file")
        .arg(secret)
        .arg("--refresh-token-file")
        .arg(refresh);
    cmd
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in [CLIENT_SECRET, REFRESH_TOKEN, "emu-oat-"] {
        assert!(
            !text.contains(secret),
            "{what} shows a secret ({secret}):\n{text}"
        );
    }
}

/// The bar: 20 000 records, 5-second access tokens, every record created, the
/// token renewed several times, no more than the window allows at the server, and
/// neither secret anywhere (stdout, stderr with info logs, report, failed file).
#[test]
fn oauth_run_of_20000_records_with_5s_tokens_renews_under_one_limiter_and_prints_no_secret() {
    const N: usize = 20_000;
    // 200 batches at 60 per 10 s: about 25 s, five token lifetimes.
    const PER_10S: u32 = 60;
    let emu = emulator(Duration::from_secs(5), PER_10S);
    let dir = tempfile::tempdir().unwrap();
    let report_path = dir.path().join("report.jsonl");
    let failed_path = dir.path().join("failed.csv");
    let started = Instant::now();
    let out = oauth_upsert(&emu, dir.path())
        .args(["--rate-limit", "60/10s", "-v"])
        .arg("--report")
        .arg(&report_path)
        .arg("--failed")
        .arg(&failed_path)
        .arg(input(dir.path(), N))
        .output()
        .unwrap();
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");

    // Every record created, none failed or not attempted.
    assert_eq!(emu.count(), N, "{stderr}");
    let lines = report(&report_path);
    assert_eq!(lines.len(), N);
    assert!(lines.iter().all(|l| l["outcome"] == "created"));
    let stats = emu.emulator().stats();
    assert!(stats.duplicate_creates.is_empty());

    // Renewed several times, and the summary says how many.
    let (grants, refused) = emu.emulator().oauth_grants();
    assert_eq!(refused, 0);
    assert!(grants >= 3, "{grants} tokens granted in {took:?}");
    let said = format!("OAuth access token renewed {} times", grants - 1);
    assert!(stdout.contains(&said), "{said:?} not in:\n{stdout}");

    // One limiter across every token: no window at the server over the app's limit.
    let most = emu
        .emulator()
        .stats()
        .most_arrived_within(Duration::from_secs(10), |e| e.status != Some(429));
    assert!(
        most <= PER_10S as usize,
        "{most} requests admitted within 10 s"
    );
    eprintln!(
        "oauth 20k: {took:?}, {} requests, {grants} tokens, most {most} per 10 s, 401s {}, 429s {}",
        stats.requests,
        stats.responses(401),
        stats.responses(429)
    );

    // No secret anywhere.
    assert_no_secret("stdout", &stdout);
    assert_no_secret("stderr", &stderr);
    assert_no_secret("report", &std::fs::read_to_string(&report_path).unwrap());
    if failed_path.exists() {
        assert_no_secret(
            "failed file",
            &std::fs::read_to_string(&failed_path).unwrap(),
        );
    }
}

/// A fixed token that expires mid-run: the run stops saying why and how to resume;
/// `--resume` (here by OAuth) finishes the job, each record created once.
#[test]
fn a_fixed_token_expiring_mid_run_stops_saying_so_and_resume_finishes() {
    const N: usize = 3_000;
    let emu = emulator(Duration::from_secs(2), 190);
    // A token obtained as a user would (HubSpot's token endpoint), then used as fixed.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let oauth =
        OAuthRefresh::with_base_url(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, emu.url()).unwrap();
    let token = rt.block_on(oauth.token()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let report_path = dir.path().join("report.jsonl");
    let data = input(dir.path(), N);
    // 10 requests a second: 30 batches take 3 s, longer than the token lives.
    let out = cli()
        .env("HUBSPOT_ACCESS_TOKEN", token.expose())
        .args(crate::common::upsert_args(emu.url()))
        .args(["--rate-limit", "10/1s", "--concurrency", "2"])
        .arg("--report")
        .arg(&report_path)
        .arg(&data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("expired or was revoked mid-run") && stderr.contains("--resume"),
        "{stderr}"
    );
    assert!(!stdout.contains("renewed"), "{stdout}");
    let hint = format!(
        "to finish: give a new token (HUBSPOT_ACCESS_TOKEN or --token-file; or OAuth, renewed as it expires: HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET, HUBSPOT_REFRESH_TOKEN) and run the same command with --resume {}",
        report_path.display()
    );
    assert!(stderr.contains(&hint), "{stderr}");
    let written = emu.count();
    assert!(
        written > 0 && written < N,
        "{written} written before the stop"
    );
    assert_no_secret("stderr", &stderr);

    let out = oauth_upsert(&emu, dir.path())
        .arg("--resume")
        .arg(&report_path)
        .arg(&data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(emu.count(), N);
    let stats = emu.emulator().stats();
    assert!(stats.duplicate_creates.is_empty());
    assert_eq!(stats.records_created, N as u64, "each record created once");
    assert_no_secret("stdout", &stdout);
    assert_no_secret("stderr", &stderr);
    assert_no_secret("report", &std::fs::read_to_string(&report_path).unwrap());
}

/// A refresh token HubSpot refuses stops the run before any record is sent (exit 3,
/// naming what to check); OAuth without its client secret is a usage error (exit 2);
/// neither prints a secret.
#[test]
fn a_refused_refresh_token_or_a_missing_secret_stops_without_printing_secrets() {
    let emu = emulator(Duration::from_secs(60), 190);
    let dir = tempfile::tempdir().unwrap();
    let data = input(dir.path(), 10);
    let out = cli()
        .env("HUBSPOT_CLIENT_ID", CLIENT_ID)
        .env("HUBSPOT_CLIENT_SECRET", CLIENT_SECRET)
        .env("HUBSPOT_REFRESH_TOKEN", "rt-revoked-0000-never-printed")
        .args(crate::common::upsert_args(emu.url()))
        .arg(&data)
        .output()
        .unwrap();
    let all = crate::common::all_output(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("BAD_REFRESH_TOKEN"), "{all}");
    assert!(all.contains("refresh token"), "{all}");
    assert_no_secret("output", &all);
    assert!(!all.contains("rt-revoked-0000"), "{all}");
    assert_eq!(emu.requests(), 0, "no upsert was sent");

    let out = cli()
        .env("HUBSPOT_CLIENT_ID", CLIENT_ID)
        .env_remove("HUBSPOT_CLIENT_SECRET")
        .env("HUBSPOT_REFRESH_TOKEN", REFRESH_TOKEN)
        .args(crate::common::upsert_args(emu.url()))
        .arg(&data)
        .output()
        .unwrap();
    let all = crate::common::all_output(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("HUBSPOT_CLIENT_SECRET"), "{all}");
    assert_no_secret("output", &all);
}

/// `--token-file` rotated under a running job (each token living 2 s, a new one written
/// by rename every second): every record written, and the summary counts the changes.
#[test]
fn a_token_file_rotated_during_the_run_is_followed() {
    const N: usize = 4_000;
    let emu = emulator(Duration::from_secs(2), 190);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fresh = || {
        let source =
            OAuthRefresh::with_base_url(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, emu.url())
                .unwrap();
        rt.block_on(source.token()).unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    let rotate = |token: &str| {
        let tmp = dir.path().join("token.tmp");
        std::fs::write(&tmp, format!("{token}\n")).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    };
    rotate(fresh().expose());
    let report_path = dir.path().join("report.jsonl");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("hubspot-tickets"))
        .env_remove("HUBSPOT_ACCESS_TOKEN")
        .env_remove("RUST_LOG")
        .args(crate::common::upsert_args(emu.url()))
        .args(["--rate-limit", "10/1s", "--concurrency", "2"])
        .arg("--token-file")
        .arg(&path)
        .arg("--report")
        .arg(&report_path)
        .arg(input(dir.path(), N))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut rotations = 0;
    while child.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the run hangs"
        );
        std::thread::sleep(Duration::from_secs(1));
        rotate(fresh().expose());
        rotations += 1;
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(emu.count(), N);
    assert!(rotations >= 2, "{rotations}");
    let changed = stdout
        .lines()
        .find_map(|l| l.strip_prefix("token: --token-file changed "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or_else(|| panic!("no token line in:\n{stdout}"));
    assert!(changed >= 2, "{stdout}");
    assert_no_secret("stdout", &stdout);
    assert_no_secret("stderr", &stderr);
    assert_no_secret("report", &std::fs::read_to_string(&report_path).unwrap());
}
