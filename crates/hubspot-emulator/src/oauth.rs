//! HubSpot OAuth as the emulator plays it: the token endpoint's refresh grant
//! (`POST /oauth/2026-03/token`, and the legacy `/oauth/v1/token`), access tokens that
//! expire, and the app each token belongs to (rate limits are per app, not per token).
//!
//! An app is configured with its client id, client secret and the refresh tokens it
//! accepts ([`OAuthApp`]); a refresh answers a new access token living
//! [`EmulatorConfig::access_token_lifetime`](crate::EmulatorConfig) (30 minutes, like
//! HubSpot; seconds in tests). A request with an expired access token gets HubSpot's
//! 401 for it (`EXPIRED_AUTHENTICATION`, "The OAuth token used to make this call
//! expired N second(s) ago." in seconds, minutes, hours or days, and the expiry under
//! `context."expire time"`), as HubSpot answers it.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::response::Response;
use serde::Deserialize;
use std::sync::Arc;
use uuid::Uuid;

use crate::server::Shared;

/// How long an access token lives when not configured: HubSpot's 30 minutes.
pub const DEFAULT_ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// The token endpoint's paths: the dated one the spec describes and the legacy one.
pub(crate) const TOKEN_ROUTES: [&str; 2] = ["/oauth/2026-03/token", "/oauth/v1/token"];

/// Expired access tokens are forgotten this long after they expired (then a request
/// with one is answered as an unknown token): memory stays bounded over long runs.
const REMEMBER_EXPIRED: Duration = Duration::from_secs(24 * 3600);

/// An OAuth app: its client id and secret and the refresh tokens it accepts. `Debug`
/// shows the client id only.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthApp {
    /// The app's client id (not a secret).
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: String,
    /// Refresh tokens the token endpoint accepts for this app (one per installation).
    pub refresh_tokens: Vec<String>,
}

impl OAuthApp {
    /// An app accepting these refresh tokens.
    pub fn new<I, S>(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        refresh_tokens: I,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            refresh_tokens: refresh_tokens.into_iter().map(Into::into).collect(),
        }
    }
}

impl fmt::Debug for OAuthApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthApp")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("refresh_tokens", &self.refresh_tokens.len())
            .finish()
    }
}

/// A command-line secret (the emulator's client secret, a refresh token): `Debug`
/// hides it, so printing the parsed options shows none.
#[derive(Clone, PartialEq, Eq)]
pub struct Hidden(pub String);

impl std::str::FromStr for Hidden {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty".to_owned());
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Debug for Hidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// An access token the emulator issued.
struct Issued {
    /// The app's client id: the key of its rate-limit window.
    app: String,
    expires_at: Instant,
}

/// What a bearer token is, as far as OAuth goes.
pub(crate) enum Lookup {
    /// Issued and still alive; the app it belongs to.
    Live(String),
    /// Issued, and expired this long ago.
    Expired(Duration),
    /// Not an issued access token (maybe a private-app token).
    Unknown,
}

/// The issued access tokens, and how many refreshes were granted.
#[derive(Default)]
pub(crate) struct OAuthState {
    issued: Mutex<HashMap<String, Issued>>,
    grants: AtomicU64,
    refused: AtomicU64,
}

impl OAuthState {
    pub(crate) fn lookup(&self, token: &str) -> Lookup {
        let issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        match issued.get(token) {
            None => Lookup::Unknown,
            Some(i) => {
                let now = Instant::now();
                if now < i.expires_at {
                    Lookup::Live(i.app.clone())
                } else {
                    Lookup::Expired(now - i.expires_at)
                }
            }
        }
    }

    fn issue(&self, app: &str, lifetime: Duration) -> String {
        let token = format!("emu-oat-{}", Uuid::new_v4().simple());
        let now = Instant::now();
        let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        issued.retain(|_, i| i.expires_at + REMEMBER_EXPIRED > now);
        issued.insert(
            token.clone(),
            Issued {
                app: app.to_owned(),
                expires_at: now + lifetime,
            },
        );
        self.grants.fetch_add(1, Ordering::Relaxed);
        token
    }

    /// Ends every live access token now (HubSpot expiring or revoking them early):
    /// requests with them get the expired-token 401.
    pub(crate) fn expire_all(&self) {
        let now = Instant::now();
        let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        for i in issued.values_mut() {
            i.expires_at = i.expires_at.min(now);
        }
    }

    /// Access tokens granted since the start (or the last reset).
    pub(crate) fn grants(&self) -> u64 {
        self.grants.load(Ordering::Relaxed)
    }

    /// Refreshes refused (unknown client, wrong secret, unknown refresh token).
    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    pub(crate) fn reset(&self) {
        self.issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.grants.store(0, Ordering::Relaxed);
        self.refused.store(0, Ordering::Relaxed);
    }
}

/// HubSpot's 401 message for an expired OAuth access token: the time since in its
/// largest whole unit ("0 second(s)", "5 hour(s)", "19884 day(s)" are all seen).
pub(crate) fn expired_message(ago: Duration) -> String {
    let s = ago.as_secs();
    let (n, unit) = match s {
        0..60 => (s, "second"),
        60..3600 => (s / 60, "minute"),
        3600..86_400 => (s / 3600, "hour"),
        _ => (s / 86_400, "day"),
    };
    format!("The OAuth token used to make this call expired {n} {unit}(s) ago.")
}

/// When a token that expired `ago` expired, as HubSpot's `context."expire time"`.
pub(crate) fn expire_time(ago: Duration) -> String {
    let ago = chrono::Duration::from_std(ago).unwrap_or_else(|_| chrono::Duration::zero());
    (chrono::Utc::now() - ago).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The `category` of that 401.
pub(crate) const EXPIRED_CATEGORY: &str = "EXPIRED_AUTHENTICATION";

/// The refresh grant's form. Every field optional: a missing one is answered as HubSpot
/// does (a 400 naming it), not by the extractor.
#[derive(Deserialize)]
pub(crate) struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
}

/// `POST /oauth/2026-03/token` (and `/oauth/v1/token`): the refresh grant.
pub(crate) async fn token_endpoint(
    State(s): State<Arc<Shared>>,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return refuse(
            &s,
            "BAD_REQUEST",
            "the body is not a form (application/x-www-form-urlencoded)",
        );
    };
    if form.grant_type.as_deref() != Some("refresh_token") {
        // The authorization-code grant needs a browser: the emulator offers only refresh.
        return refuse(&s, "BAD_GRANT_TYPE", "grant_type must be refresh_token");
    }
    let Some(app) = s
        .config
        .oauth_apps
        .iter()
        .find(|a| Some(a.client_id.as_str()) == form.client_id.as_deref())
    else {
        return refuse(&s, "BAD_CLIENT_ID", "missing or unknown client id");
    };
    if form.client_secret.as_deref() != Some(app.client_secret.as_str()) {
        return refuse(&s, "BAD_CLIENT_SECRET", "missing or invalid client secret");
    }
    let Some(refresh) = form
        .refresh_token
        .as_deref()
        .filter(|r| app.refresh_tokens.iter().any(|t| t == r))
    else {
        return refuse(&s, "BAD_REFRESH_TOKEN", "missing or invalid refresh token");
    };
    let lifetime = s.config.access_token_lifetime;
    let access = s.oauth.issue(&app.client_id, lifetime);
    tracing::debug!(client_id = %app.client_id, lifetime_s = lifetime.as_secs(), "access token granted");
    // HubSpot's guides spell the answer in snake_case (its reference in camelCase: the
    // facade reads both, and the spec describes both).
    let body = serde_json::json!({
        "access_token": access,
        "refresh_token": refresh,
        "expires_in": lifetime.as_secs(),
        "token_type": "bearer",
    });
    json(200, &body)
}

/// A refused refresh: 400 with `status` and `message`, as HubSpot's OAuth errors are.
fn refuse(s: &Shared, status: &str, message: &str) -> Response {
    s.oauth.refused.fetch_add(1, Ordering::Relaxed);
    let body = serde_json::json!({
        "status": status,
        "message": message,
        "correlationId": Uuid::new_v4(),
    });
    json(400, &body)
}

fn json(status: u16, body: &serde_json::Value) -> Response {
    let mut resp = Response::new(axum::body::Body::from(body.to_string()));
    *resp.status_mut() =
        axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::BAD_REQUEST);
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json;charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expire_and_secrets_never_print() {
        let state = OAuthState::default();
        let t = state.issue("app-1", Duration::from_secs(60));
        assert!(matches!(state.lookup(&t), Lookup::Live(app) if app == "app-1"));
        let short = state.issue("app-1", Duration::ZERO);
        assert!(matches!(state.lookup(&short), Lookup::Expired(_)));
        assert!(matches!(state.lookup("pat-na1-x"), Lookup::Unknown));
        assert_eq!(state.grants(), 2);
        assert_eq!(
            expired_message(Duration::from_secs(130)),
            "The OAuth token used to make this call expired 2 minute(s) ago."
        );
        assert_eq!(
            expired_message(Duration::from_millis(900)),
            "The OAuth token used to make this call expired 0 second(s) ago."
        );
        assert_eq!(
            expired_message(Duration::from_secs(5 * 3600 + 10)),
            "The OAuth token used to make this call expired 5 hour(s) ago."
        );
        let app = OAuthApp::new("app-1", "the-secret", ["rt-1"]);
        let shown = format!("{app:?}");
        assert!(
            !shown.contains("the-secret") && !shown.contains("rt-1"),
            "{shown}"
        );
    }
}
