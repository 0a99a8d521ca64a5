//! OAuth secrets never show: neither the client secret, the refresh token nor any
//! access token appears in `tracing` output at any level (every target, TRACE), in
//! errors, `Debug`, outcomes or summaries, through renewals, a 401 mid-run, a refused
//! refresh, and a token endpoint that echoes the form it received into its answer.
//!
//! A binary of its own: one global subscriber records everything logged by its tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use hubspot_emulator::{EmulatorConfig, OAuthApp, RateLimitConfig};
use hubspot_tickets::auth::{OAuthRefresh, TokenSource};
use hubspot_tickets::{Client, ErrorKind, RateLimit};
use integration_tests::{CapturedLogs, ID_PROPERTY, start, tickets};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const CLIENT_ID: &str = "sec-oauth-app-4410";
// Characters that form encoding changes: an echo of the form quotes them encoded.
const CLIENT_SECRET: &str = "cs-8b3e/never+in=any-log";
const REFRESH_TOKEN: &str = "rt-51aa/never+in=any-log";

/// Everything logged so far, by every crate, at every level.
fn logs() -> &'static CapturedLogs {
    integration_tests::global_trace_logs()
}

fn assert_hidden(what: &str, text: &str) {
    for secret in [
        CLIENT_SECRET,
        REFRESH_TOKEN,
        "emu-oat-",
        "8b3e",
        "51aa",
        "never%2Bin",
        "never+in",
    ] {
        assert!(
            !text.contains(secret),
            "{what} shows a secret ({secret}): {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewals_and_a_401_mid_run_log_no_secret() {
    let logs = logs();
    let emu = start(
        EmulatorConfig::default()
            .with_oauth_app(OAuthApp::new(CLIENT_ID, CLIENT_SECRET, [REFRESH_TOKEN]))
            .with_access_token_lifetime(Duration::from_secs(1))
            .with_rate_limit(RateLimitConfig::per_window(190, Duration::from_secs(10))),
    )
    .await;
    let source =
        OAuthRefresh::with_base_url(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, emu.base_url())
            .unwrap();
    let client = Client::builder()
        .token_source(source)
        .base_url(emu.base_url())
        .id_property(ID_PROPERTY)
        .rate_limit(RateLimit::per_window(10, Duration::from_secs(1)))
        .max_concurrency(2)
        .build()
        .unwrap();
    let run = client.bulk_upsert_iter(tickets("SECOA", 0..2_500)).report();
    let expire = async {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        emu.expire_access_tokens();
    };
    let (report, ()) = tokio::join!(run, expire);
    assert_eq!(report.summary.created, 2_500, "{:?}", report.summary);
    assert!(client.token_renewals() >= 2, "{}", client.token_renewals());
    assert_hidden("report", &format!("{report:?}"));
    assert_hidden("client", &format!("{client:?}"));
    assert_hidden("logs", &logs.text());
    assert!(logs.text().contains("obtained an OAuth access token"));
}

/// A token endpoint that quotes the whole form it got (client secret, refresh token)
/// in its error message.
struct EchoForm;

impl Respond for EchoForm {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let form = String::from_utf8_lossy(&req.body).into_owned();
        ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "status": "BAD_REFRESH_TOKEN",
            "message": format!("refused: {form}"),
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_refresh_echoing_the_form_shows_no_secret() {
    let logs = logs();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/2026-03/token"))
        .respond_with(EchoForm)
        .mount(&server)
        .await;
    let source =
        OAuthRefresh::with_base_url(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, &server.uri())
            .unwrap();
    let e = source.token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert!(e.to_string().contains("BAD_REFRESH_TOKEN"), "{e}");
    assert_hidden("error", &format!("{e} {e:?}"));

    // Through a run: it stops before any upsert, saying why, with no secret.
    let client = Client::builder()
        .token_source(source)
        .base_url(server.uri())
        .id_property(ID_PROPERTY)
        .build()
        .unwrap();
    let report = client
        .bulk_upsert_iter(tickets("SECRF", 0..10))
        .report()
        .await;
    assert_eq!(report.summary.not_attempted, 10, "{:?}", report.summary);
    let stopped = report.summary.stopped.as_ref().unwrap();
    assert_hidden("stop", &format!("{stopped} {stopped:?}"));
    assert_hidden("report", &format!("{report:?}"));
    assert_hidden("logs", &logs.text());
}
