//! OAuth: the token endpoint's refresh grant, access tokens that expire with HubSpot's
//! 401 for it, and one rate-limit window per app (every token of an app shares it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use hubspot_emulator::{EmulatorConfig, OAuthApp, RateLimitConfig};
use serde_json::Value;

use crate::common::{client, post_with, start, traced_batch};

const ID: &str = "app-client-id";
const SECRET: &str = "app-client-secret-value";
const REFRESH: &str = "app-refresh-token-value";

async fn refresh(http: &reqwest::Client, base: &str, form: &str) -> (u16, Value) {
    let resp = http
        .post(format!("{base}/oauth/2026-03/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn form(secret: &str, refresh: &str) -> String {
    format!(
        "grant_type=refresh_token&client_id={ID}&client_secret={secret}&refresh_token={refresh}"
    )
}

#[tokio::test]
async fn refresh_grant_expiry_and_one_window_per_app() {
    let emu = start(
        EmulatorConfig::default()
            .with_oauth_app(OAuthApp::new(ID, SECRET, [REFRESH]))
            .with_access_token_lifetime(Duration::from_millis(1500))
            .with_rate_limit(RateLimitConfig::per_window(4, Duration::from_secs(60))),
    )
    .await;
    let http = client();

    // Refused refreshes: HubSpot's 400 with a status word, never echoing the secrets.
    for (f, word) in [
        (form("wrong", REFRESH), "BAD_CLIENT_SECRET"),
        (form(SECRET, "unknown"), "BAD_REFRESH_TOKEN"),
        ("grant_type=authorization_code".to_owned(), "BAD_GRANT_TYPE"),
    ] {
        let (status, body) = refresh(&http, emu.base_url(), &f).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (400, Some(word)),
            "{body}"
        );
        assert!(!body.to_string().contains(SECRET), "{body}");
    }

    let (status, first) = refresh(&http, emu.base_url(), &form(SECRET, REFRESH)).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["expires_in"], 1);
    assert_eq!(first["token_type"], "bearer");
    assert_eq!(first["refresh_token"], REFRESH);
    let a = first["access_token"].as_str().unwrap().to_owned();
    let (_, second) = refresh(&http, emu.base_url(), &form(SECRET, REFRESH)).await;
    let b = second["access_token"].as_str().unwrap().to_owned();
    assert_ne!(a, b);
    assert_eq!(emu.oauth_grants(), (2, 3));

    // Two tokens of one app, one window of 4: the fifth request is limited, whichever
    // token it carries.
    for (i, t) in [&a, &b, &a, &b].into_iter().enumerate() {
        let r = post_with(&http, &emu, t, &traced_batch(&format!("w{i}"), 1)).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = post_with(&http, &emu, &b, &traced_batch("w4", 1)).await;
    assert_eq!(r.status, 429, "{}", r.text);
    // A private-app token is an app of its own: its window is untouched.
    let r = post_with(&http, &emu, "test-token", &traced_batch("pat", 1)).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // After its lifetime, HubSpot's answer for an expired token.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let r = post_with(&http, &emu, &a, &traced_batch("late", 1)).await;
    assert_eq!(r.status, 401, "{}", r.text);
    let body = r.json();
    assert_eq!(body["category"], "EXPIRED_AUTHENTICATION", "{body}");
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(
        body["message"],
        "The OAuth token used to make this call expired 0 second(s) ago."
    );
    assert!(body["context"]["expire time"][0].is_string(), "{body}");
    assert!(body["correlationId"].is_string(), "{body}");
}

/// The command line's OAuth flags make the same app, and print no secret in `Debug`.
#[test]
fn oauth_flags_configure_the_app_and_hide_its_secrets() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        args: hubspot_emulator::cli::EmulatorArgs,
    }
    let cmd = Cmd::try_parse_from([
        "emu",
        "--oauth-client-id",
        ID,
        "--oauth-client-secret",
        SECRET,
        "--oauth-refresh-token",
        REFRESH,
        "--access-token-lifetime",
        "5s",
    ])
    .unwrap();
    let shown = format!("{:?}", cmd.args);
    assert!(
        !shown.contains(SECRET) && !shown.contains(REFRESH),
        "{shown}"
    );
    let config = cmd.args.to_config().unwrap();
    assert_eq!(config.oauth_apps, [OAuthApp::new(ID, SECRET, [REFRESH])]);
    assert_eq!(config.access_token_lifetime, Duration::from_secs(5));
    // A secret without its app is refused.
    assert!(Cmd::try_parse_from(["emu", "--oauth-client-secret", SECRET]).is_err());
}
