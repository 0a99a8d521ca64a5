//! HubSpot OAuth: access tokens obtained with a refresh token at HubSpot's dated token
//! endpoint, through the generated `refresh_access_token_2026_03`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use hubspot_tickets_client::oauth::TokenRefreshForm;
use hubspot_tickets_client::{Error as GenError, RequestHeaders};
use reqwest::header::{HeaderValue, USER_AGENT};
use tokio::time::Instant;

use crate::auth::{Secret, TokenSource};
use crate::builder::{DEFAULT_BASE_URL, check_base_url};
use crate::error::{Error, ErrorKind};
use crate::secret::AccessToken;

/// The `category` of HubSpot's 401 for an OAuth access token used after it expired
/// (message: "The OAuth token used to make this call expired N second(s) ago.", or
/// minute(s), hour(s), day(s)).
pub const OAUTH_TOKEN_CATEGORY_EXPIRED: &str = "EXPIRED_AUTHENTICATION";

/// How long an access token lives when the answer does not say (HubSpot's 30 minutes).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(1800);
/// Renewed this long before it expires at most (a fifth of its life when shorter).
const MAX_MARGIN: Duration = Duration::from_secs(60);
/// How long a failing token endpoint (5xx, 429, no answer) is tried before the run
/// stops: as long as the batch endpoint may stay silent (a short outage of HubSpot's
/// OAuth service must not end a night's sync).
const REFRESH_PATIENCE: Duration = Duration::from_secs(45);
/// The longest wait between two tries of a failing token endpoint.
const REFRESH_MAX_WAIT: Duration = Duration::from_secs(8);

/// Access tokens from HubSpot's OAuth token endpoint (`POST /oauth/2026-03/token`, the
/// refresh grant): the first at the first request, a new one shortly before each
/// expires (a minute, or a fifth of its life when shorter), and once more after a 401
/// for a token the source still held (HubSpot's `EXPIRED_AUTHENTICATION`, or a token
/// revoked mid-run). Concurrent requests share one refresh. A new refresh token in an
/// answer replaces the old one.
///
/// A refused refresh (400 `BAD_REFRESH_TOKEN`: revoked, the app uninstalled, a wrong
/// client id or secret) stops the run with [`ErrorKind::Auth`]; a failing endpoint (5xx,
/// 429, no answer) is tried again for 45 s first, by one request while the others wait. The client secret, the refresh token
/// and every access token are kept out of `Debug`, logs and errors.
pub struct OAuthRefresh {
    client_id: String,
    client_secret: Secret,
    generated: hubspot_tickets_client::Client,
    state: Mutex<State>,
    /// Held by the one refresh under way; it keeps why the last one failed, so that
    /// the requests that waited for it stop at once instead of trying again each.
    refreshing: tokio::sync::Mutex<Option<Failed>>,
    refreshes: AtomicU64,
}

/// A refresh that gave up: when, and its error's parts (an [`Error`] is not `Clone`).
struct Failed {
    at: Instant,
    kind: ErrorKind,
    message: String,
    status: Option<u16>,
}

struct State {
    refresh_token: Secret,
    access: Option<AccessToken>,
    expires_at: Instant,
    margin: Duration,
    /// HubSpot refused `access`: renew before the next request.
    refused: bool,
}

impl OAuthRefresh {
    /// The app's client id and secret and a refresh token, against HubSpot's API
    /// (`https://api.hubapi.com`).
    ///
    /// # Errors
    /// [`ErrorKind::Configuration`] when one of them is empty or the HTTP client cannot
    /// be built.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
        refresh_token: impl Into<Secret>,
    ) -> Result<Self, Error> {
        Self::with_base_url(client_id, client_secret, refresh_token, DEFAULT_BASE_URL)
    }

    /// The same, against `base_url` (an emulator, a proxy): `http://` only for loopback.
    ///
    /// # Errors
    /// As [`new`](Self::new), and a refused base URL.
    pub fn with_base_url(
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
        refresh_token: impl Into<Secret>,
        base_url: &str,
    ) -> Result<Self, Error> {
        let client_id = client_id.into().trim().to_owned();
        let client_secret = client_secret.into();
        let refresh_token = refresh_token.into();
        for (what, empty) in [
            ("client id", client_id.is_empty()),
            ("client secret", client_secret.expose().is_empty()),
            ("refresh token", refresh_token.expose().is_empty()),
        ] {
            if empty {
                return Err(Error::configuration(format!("the OAuth {what} is empty")));
            }
        }
        let base_url = check_base_url(base_url, false)?;
        let http = own_http(Duration::from_secs(30))?;
        let headers = RequestHeaders::new().with_header(
            USER_AGENT,
            HeaderValue::from_static(concat!(
                env!("CARGO_PKG_NAME"),
                "/",
                env!("CARGO_PKG_VERSION")
            )),
        );
        Ok(Self {
            client_id,
            client_secret,
            generated: hubspot_tickets_client::Client::new_with_client(&base_url, http, headers),
            state: Mutex::new(State {
                refresh_token,
                access: None,
                expires_at: Instant::now(),
                margin: Duration::ZERO,
                refused: false,
            }),
            refreshing: tokio::sync::Mutex::new(None),
            refreshes: AtomicU64::new(0),
        })
    }

    /// Sends the refreshes through `http` (proxies, TLS roots: the `reqwest::Client`
    /// given to [`ClientBuilder::http_client`](crate::ClientBuilder::http_client), say)
    /// instead of the source's own client (10 s to connect, 30 s per refresh, no
    /// redirects). Set its timeouts: a refresh that never ends holds up every request.
    #[must_use]
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        let base_url = hubspot_tickets_client::ClientInfo::baseurl(&self.generated).to_owned();
        let headers = hubspot_tickets_client::ClientInfo::inner(&self.generated).clone();
        self.generated = hubspot_tickets_client::Client::new_with_client(&base_url, http, headers);
        self
    }

    /// Each refresh waits at most `timeout` for its answer (30 s by default; at most
    /// 10 s of it to connect), with the source's own client.
    ///
    /// # Errors
    /// [`ErrorKind::Configuration`] when the HTTP client cannot be built.
    pub fn timeout(self, timeout: Duration) -> Result<Self, Error> {
        Ok(self.http_client(own_http(timeout)?))
    }

    /// The held access token, if it is still good to send.
    fn usable(&self) -> Option<AccessToken> {
        let state = self.state.lock().ok()?;
        let access = state.access.as_ref()?;
        let fresh = Instant::now() + state.margin < state.expires_at;
        (fresh && !state.refused).then(|| access.clone())
    }

    /// `text` without the client secret and the refresh token, as sent and as they
    /// appear form-encoded (an endpoint quoting the form it got quotes them encoded).
    fn scrub(&self, text: String) -> String {
        let mut secrets = vec![self.client_secret.clone()];
        if let Ok(state) = self.state.lock() {
            secrets.push(state.refresh_token.clone());
        }
        secrets.iter().fold(text, |text, secret| {
            let text = secret.scrub(text);
            let encoded = form_encoded(secret.expose());
            if encoded == secret.expose() {
                text
            } else {
                Secret::new(encoded).scrub(text)
            }
        })
    }

    async fn refresh(&self) -> Result<AccessToken, Error> {
        let mut failed = self.refreshing.lock().await;
        // Another request may have refreshed while this one waited, or given up.
        if let Some(token) = self.usable() {
            return Ok(token);
        }
        if let Some(f) = failed.as_ref()
            && f.at.elapsed() < Duration::from_secs(1)
        {
            let err = Error::new(f.kind, f.message.clone());
            return Err(match f.status {
                Some(s) => err.with_status(s),
                None => err,
            });
        }
        let result = self.refresh_now().await;
        *failed = result.as_ref().err().map(|e| Failed {
            at: Instant::now(),
            kind: e.kind(),
            message: e.message().to_owned(),
            status: e.status(),
        });
        result
    }

    async fn refresh_now(&self) -> Result<AccessToken, Error> {
        let refresh_token = self
            .state
            .lock()
            .map(|s| s.refresh_token.clone())
            .map_err(|_| Error::new(ErrorKind::Auth, "the OAuth state was lost"))?;
        let form = TokenRefreshForm::new(
            &self.client_id,
            self.client_secret.expose(),
            refresh_token.expose(),
        );
        let first = Instant::now();
        let mut wait = Duration::from_millis(500);
        let grant = loop {
            let started = Instant::now();
            match self.generated.refresh_access_token_2026_03(&form).await {
                Ok(answer) => break answer.into_inner(),
                Err(e) => {
                    let (err, retry) = self.judge(e).await;
                    if !retry || first.elapsed() + wait > REFRESH_PATIENCE {
                        return Err(err);
                    }
                    tracing::warn!(reason = %err, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "the OAuth token endpoint failed; trying again");
                    tokio::time::sleep_until(started + wait).await;
                    wait = (wait * 2).min(REFRESH_MAX_WAIT);
                }
            }
        };
        let Some(access) = grant.access_token().map(AccessToken::new) else {
            return Err(Error::new(
                ErrorKind::Auth,
                "HubSpot's OAuth token endpoint answered without an access token",
            ));
        };
        let lifetime = grant
            .expires_in()
            .and_then(|s| u64::try_from(s).ok())
            .filter(|&s| s > 0)
            .map_or(DEFAULT_LIFETIME, Duration::from_secs);
        let n = self.refreshes.fetch_add(1, Ordering::Relaxed);
        let mut state = self
            .state
            .lock()
            .map_err(|_| Error::new(ErrorKind::Auth, "the OAuth state was lost"))?;
        if let Some(next) = grant.refresh_token() {
            state.refresh_token = Secret::new(next);
        }
        state.access = Some(access.clone());
        state.expires_at = Instant::now() + lifetime;
        state.margin = MAX_MARGIN.min(lifetime / 5);
        state.refused = false;
        tracing::info!(
            lifetime_s = lifetime.as_secs(),
            renewal = n,
            "obtained an OAuth access token"
        );
        Ok(access)
    }

    /// A failed refresh as an error (secrets scrubbed), and whether to try again.
    async fn judge(&self, e: GenError<()>) -> (Error, bool) {
        match e {
            GenError::UnexpectedResponse(resp) => {
                let status = resp.status();
                let body = resp.bytes().await.unwrap_or_default();
                let said = said(&body);
                let retry = status.is_server_error() || status.as_u16() == 429;
                let kind = if retry {
                    ErrorKind::Server
                } else {
                    ErrorKind::Auth
                };
                let hint = if retry {
                    ""
                } else {
                    ": check the client id, the client secret and the refresh token (revoked, or the app uninstalled?)"
                };
                let message = self.scrub(format!(
                    "HubSpot's OAuth token endpoint refused the refresh (HTTP {}{said}){hint}",
                    status.as_u16()
                ));
                (
                    Error::new(kind, message).with_status(status.as_u16()),
                    retry,
                )
            }
            GenError::CommunicationError(e) | GenError::ResponseBodyError(e) => {
                let kind = if e.is_timeout() {
                    ErrorKind::Timeout
                } else {
                    ErrorKind::Transport
                };
                // The origin only: never the form.
                let at = e
                    .url()
                    .map_or_else(String::new, |u| u.origin().ascii_serialization());
                (
                    Error::new(
                        kind,
                        format!("the OAuth token endpoint {at} did not answer"),
                    ),
                    true,
                )
            }
            GenError::InvalidResponsePayload(_, _) => (
                Error::new(
                    ErrorKind::Auth,
                    "HubSpot's OAuth token endpoint answered something that is not a token",
                ),
                true,
            ),
            other => (
                Error::new(
                    ErrorKind::Configuration,
                    self.scrub(format!("the OAuth refresh could not be sent: {other}")),
                ),
                false,
            ),
        }
    }
}

/// The source's own HTTP client: no redirects (a token endpoint that redirects is not
/// HubSpot's), `timeout` per refresh.
fn own_http(timeout: Duration) -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::configuration("the HTTP client could not be built").with_source(e))
}

/// `text` as `application/x-www-form-urlencoded` writes it (the WHATWG form encoding
/// the generated client's form serializer uses).
fn form_encoded(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `: STATUS: message` from an OAuth error body (its `status`/`category` and `message`),
/// each kept short; empty when the body says nothing readable.
fn said(body: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return String::new();
    };
    let short = |k: &str| {
        v.get(k).and_then(serde_json::Value::as_str).map(|s| {
            s.chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect::<String>()
        })
    };
    let what = short("category").or_else(|| short("status").filter(|s| s != "error"));
    match (what, short("message")) {
        (Some(w), Some(m)) => format!(", {w}: {m}"),
        (Some(w), None) => format!(", {w}"),
        (None, Some(m)) => format!(": {m}"),
        (None, None) => String::new(),
    }
}

impl std::fmt::Debug for OAuthRefresh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthRefresh")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field(
                "token_endpoint",
                &format!(
                    "{}/oauth/2026-03/token",
                    hubspot_tickets_client::ClientInfo::baseurl(&self.generated)
                ),
            )
            .field("refreshes", &self.refreshes.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl TokenSource for OAuthRefresh {
    fn token(&self) -> BoxFuture<'_, Result<AccessToken, Error>> {
        Box::pin(async move {
            match self.usable() {
                Some(token) => Ok(token),
                None => self.refresh().await,
            }
        })
    }

    /// A refusal of the held token marks it for renewal; a refusal of an older one
    /// (already renewed by another request) needs nothing more. Either way a new token
    /// is worth one try.
    fn refused(&self, token: &AccessToken) -> bool {
        if let Ok(mut state) = self.state.lock()
            && state.access.as_ref() == Some(token)
        {
            state.refused = true;
        }
        true
    }

    /// Refreshes after the first (which obtained the run's first token).
    fn renewals(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed).saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_words_are_short_and_secret_free() {
        assert_eq!(
            said(br#"{"status":"BAD_REFRESH_TOKEN","message":"missing or invalid refresh token"}"#),
            ", BAD_REFRESH_TOKEN: missing or invalid refresh token"
        );
        assert_eq!(said(b"<html>"), "");
        let o = OAuthRefresh::with_base_url(
            "app",
            "client-secret-xyz",
            "refresh-tok-abc",
            "http://127.0.0.1:9",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let shown = format!("{o:?}");
        assert!(
            !shown.contains("client-secret-xyz") && !shown.contains("refresh-tok-abc"),
            "{shown}"
        );
        assert_eq!(
            o.scrub("echo client-secret-xyz and refresh-tok-abc".into()),
            "echo <redacted> and <redacted>"
        );
        // Form-encoded too.
        assert_eq!(form_encoded("a/b+c d=é"), "a%2Fb%2Bc+d%3D%C3%A9");
        let o = OAuthRefresh::with_base_url("app", "sec/ret+1", "rt=abc/2", "http://127.0.0.1:9")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            o.scrub("client_secret=sec%2Fret%2B1&refresh_token=rt%3Dabc%2F2".into()),
            "client_secret=<redacted>&refresh_token=<redacted>"
        );
        assert!(OAuthRefresh::new("app", "", "rt").is_err());
    }
}
