#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Tokens that change during a run, through the library: OAuth renewing 5-second
//! access tokens over 20 000 records under one limiter, a 401 mid-run answered by one
//! refresh and the batch sent again, and a token file rotated by a sidecar.

use std::time::{Duration, Instant};

use hubspot_emulator::{EmulatorConfig, OAuthApp, RateLimitConfig};
use hubspot_tickets::auth::{OAuthRefresh, TokenFile, TokenSource};
use hubspot_tickets::{Client, RateLimit, RetryPolicy};
use integration_tests::{ID_PROPERTY, start, tickets};

const CLIENT_ID: &str = "lib-oauth-app-5521";
const CLIENT_SECRET: &str = "cs-lib-3a9f-secret-never-printed";
const REFRESH_TOKEN: &str = "rt-lib-77c1-refresh-never-printed";
const WINDOW: Duration = Duration::from_secs(10);

fn oauth_emulator(lifetime: Duration, per_window: u32) -> EmulatorConfig {
    EmulatorConfig::default()
        .with_oauth_app(OAuthApp::new(CLIENT_ID, CLIENT_SECRET, [REFRESH_TOKEN]))
        .with_access_token_lifetime(lifetime)
        .with_rate_limit(RateLimitConfig::per_window(per_window, WINDOW))
        .with_request_log_capacity(8192)
}

fn oauth(base_url: &str) -> OAuthRefresh {
    OAuthRefresh::with_base_url(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, base_url)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// 10 requests a second, 2 in flight: a run long enough for tokens to change under it.
fn slow_client(source: impl TokenSource + 'static, base_url: &str) -> Client {
    Client::builder()
        .token_source(source)
        .base_url(base_url)
        .id_property(ID_PROPERTY)
        .rate_limit(RateLimit::per_window(10, Duration::from_secs(1)))
        .max_concurrency(2)
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn client(source: impl TokenSource + 'static, base_url: &str, per_window: u32) -> Client {
    Client::builder()
        .token_source(source)
        .base_url(base_url)
        .id_property(ID_PROPERTY)
        .rate_limit(RateLimit::per_window(per_window, WINDOW))
        .retry(
            RetryPolicy::default()
                .initial_backoff(Duration::from_millis(20))
                .max_backoff(Duration::from_millis(500)),
        )
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_renews_5s_tokens_over_20000_records_under_one_limiter() {
    let n = 20_000;
    let per_window = 60;
    let emu = start(oauth_emulator(Duration::from_secs(5), per_window)).await;
    let client = client(oauth(emu.base_url()), emu.base_url(), per_window);
    let started = Instant::now();
    let report = client
        .bulk_upsert_iter(tickets("LIBOA", 0..n))
        .report()
        .await;
    let s = &report.summary;
    assert_eq!(s.created, n as u64, "{s:?}");
    assert_eq!((s.failed, s.not_attempted), (0, 0), "{s:?}");
    assert!(s.stopped.is_none(), "{s:?}");
    assert_eq!(emu.tickets().count(), n);
    let (grants, _) = emu.oauth_grants();
    assert!(grants >= 3, "{grants} tokens in {:?}", started.elapsed());
    assert_eq!(client.token_renewals(), grants - 1);
    let most = emu
        .stats()
        .most_arrived_within(WINDOW, |e| e.status != Some(429));
    assert!(
        most <= per_window as usize,
        "{most} admitted within a window"
    );
    let shown = format!("{client:?} {report:?}");
    assert!(
        !shown.contains(CLIENT_SECRET)
            && !shown.contains(REFRESH_TOKEN)
            && !shown.contains("emu-oat-")
    );
}

/// HubSpot ends the tokens early mid-run: each batch refused 401 is sent again with a
/// refreshed token, and the run goes on with nothing failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_mid_run_refreshes_and_sends_the_batch_again() {
    let n = 3_000;
    let emu = start(oauth_emulator(Duration::from_secs(1800), 190)).await;
    // 10 a second: the run lasts about 3 s, and the tokens end after 1 s.
    // The refreshes through a client of the caller's own (proxies, TLS roots).
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let client = slow_client(oauth(emu.base_url()).http_client(http), emu.base_url());
    let run = client.bulk_upsert_iter(tickets("MID", 0..n)).report();
    let expire = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        emu.expire_access_tokens();
    };
    let (report, ()) = tokio::join!(run, expire);
    let s = &report.summary;
    assert_eq!(s.created, n as u64, "{s:?}");
    assert_eq!((s.failed, s.not_attempted), (0, 0), "{s:?}");
    let stats = emu.stats();
    assert!(
        stats.responses(401) >= 1,
        "no 401 seen: {:?}",
        stats.responses_by_status
    );
    assert_eq!(client.token_renewals(), 1);
    assert!(stats.duplicate_creates.is_empty());
}

/// A sidecar rotates the token file every second (each token living 2 s, obtained at
/// the emulator's token endpoint): the run reads each new token, with nothing failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_file_rotated_by_a_sidecar_is_followed() {
    let n = 4_000;
    let emu = start(oauth_emulator(Duration::from_secs(2), 190)).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("token");
    // The sidecar: a fresh token written by rename, once a second.
    let write = |token: &str| {
        let tmp = dir.path().join("token.tmp");
        std::fs::write(&tmp, format!("{token}\n")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::rename(&tmp, &path).unwrap_or_else(|e| panic!("{e}"));
    };
    let fresh = || async {
        OAuthRefresh::with_base_url(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, emu.base_url())
            .unwrap_or_else(|e| panic!("{e}"))
            .token()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    };
    write(fresh().await.expose());
    let client = slow_client(TokenFile::new(&path), emu.base_url());
    let run = client.bulk_upsert_iter(tickets("ROT", 0..n)).report();
    futures::pin_mut!(run);
    let mut rotations = 0;
    let report = loop {
        tokio::select! {
            report = &mut run => break report,
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                write(fresh().await.expose());
                rotations += 1;
            }
        }
    };
    let s = &report.summary;
    assert_eq!(s.created, n as u64, "{s:?}");
    assert_eq!((s.failed, s.not_attempted), (0, 0), "{s:?}");
    assert!(rotations >= 2, "{rotations}");
    assert!(client.token_renewals() >= 2, "{}", client.token_renewals());
    assert!(!format!("{client:?}").contains("emu-oat-"));
}
