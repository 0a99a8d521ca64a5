//! Building a client: every setting, its safe default, and the checks made once at
//! `build()` (token, base URL, `idProperty`) rather than per record.

use std::net::IpAddr;
use std::time::Duration;

use hubspot_tickets_client::RequestHeaders;
use reqwest::header::{AUTHORIZATION, HeaderValue};

use crate::client::Client;
use crate::config::{RateLimit, RetryPolicy};
use crate::engine::authorize::{Auth, PerToken};
use crate::engine::transport::Transport;
use crate::engine::{Engine, Settings};
use crate::error::Error;
use crate::limiter::RateLimiter;
use crate::route::{ApiVersion, ObjectType, Route, Shape};
use crate::secret::{AccessToken, TOKEN_ENV, without_credentials};

/// HubSpot's API.
pub const DEFAULT_BASE_URL: &str = "https://api.hubapi.com";
const USER_AGENT: &str = concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION"));

/// The default [`ClientBuilder::max_concurrency`]: enough in flight to reach a
/// Professional portal's ceiling (19 requests/s) at answer times up to about 3 s.
pub const DEFAULT_MAX_CONCURRENCY: usize = 64;

/// Builds a [`Client`]. Every setting has a safe default except the token.
///
/// | setting | default |
/// | --- | --- |
/// | base URL | `https://api.hubapi.com` (plain `http://` only for loopback unless allowed) |
/// | API version | [`ApiVersion::V3`] (`/crm/v3/objects/...`) |
/// | object type | [`ObjectType::TICKETS`] |
/// | `idProperty` | none: required (inputs may name their own) |
/// | rate limit | [`RateLimit::auto`]: 100 per 10 s, then what HubSpot's headers say |
/// | retries | [`RetryPolicy::default`]: 5 attempts, 500 ms → 30 s full-jitter backoff |
/// | per-attempt timeout | 30 s (connect timeout 10 s) |
/// | whole-operation deadline | none |
/// | max concurrency | a cap of 64 batches; the in-flight window adapts below it |
/// | bisection of whole-batch 400/409 | on, 32 extra requests per batch |
/// | batch linger (slow streams) | 500 ms |
#[derive(Debug)]
#[must_use]
pub struct ClientBuilder {
    token: Option<AccessToken>,
    token_from_env: bool,
    base_url: String,
    allow_insecure_http: bool,
    route: Route,
    id_property: Option<String>,
    user_agent_product: Option<String>,
    attempt_timeout: Duration,
    connect_timeout: Duration,
    deadline: Option<Duration>,
    retry: RetryPolicy,
    rate_limit: RateLimit,
    max_concurrency: usize,
    http: Option<reqwest::Client>,
    token_source: Option<std::sync::Arc<dyn crate::auth::TokenSource>>,
    bisect: bool,
    bisect_budget: u32,
    batch_linger: Duration,
}

impl Client {
    /// A builder with safe defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            token: None,
            token_from_env: false,
            base_url: DEFAULT_BASE_URL.to_owned(),
            allow_insecure_http: false,
            route: Route::default(),
            id_property: None,
            user_agent_product: None,
            attempt_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            deadline: None,
            retry: RetryPolicy::default(),
            rate_limit: RateLimit::default(),
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            http: None,
            token_source: None,
            bisect: true,
            bisect_budget: 32,
            batch_linger: Duration::from_millis(500),
        }
    }
}

impl ClientBuilder {
    /// The private-app or OAuth access token.
    pub fn access_token(mut self, token: impl Into<AccessToken>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Where each request's token comes from, when it can change during a run: a
    /// [`TokenFile`](crate::auth::TokenFile) rotated by a sidecar, HubSpot OAuth with a
    /// refresh token ([`OAuthRefresh`](crate::auth::OAuthRefresh)), or your own
    /// [`TokenSource`](crate::auth::TokenSource). Takes the place of
    /// [`access_token`](Self::access_token). See [`auth`](crate::auth).
    pub fn token_source(mut self, source: impl crate::auth::TokenSource + 'static) -> Self {
        self.token_source = Some(std::sync::Arc::new(source));
        self
    }

    /// Read the token from `HUBSPOT_ACCESS_TOKEN` at [`build`](Self::build) time
    /// (unless [`access_token`](Self::access_token) gave one).
    pub fn access_token_from_env(mut self) -> Self {
        self.token_from_env = true;
        self
    }

    /// Where to send requests (an emulator, a proxy...). `http://` is refused unless
    /// the host is loopback or [`allow_insecure_http`](Self::allow_insecure_http) is set.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Allow plain `http://` to a non-loopback host (the token then travels in clear).
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// The HubSpot API version to call (default [`ApiVersion::V3`]). Parse one from text
    /// with `"2026-09".parse()`; a later dated release with 2026-09's wire shape works
    /// without a new version of this crate.
    pub fn api_version(mut self, version: ApiVersion) -> Self {
        self.route.version = version;
        self
    }

    /// The CRM object type to write (default [`ObjectType::TICKETS`]): contacts,
    /// companies, deals, or a custom object by id (`2-123`) or fully qualified name.
    /// Parse one from text with `"contacts".parse()`.
    pub fn object_type(mut self, object_type: ObjectType) -> Self {
        self.route.object_type = object_type;
        self
    }

    /// The unique property that identifies records (`idProperty`) for inputs that do
    /// not set their own, e.g. `external_ticket_id` (tickets have no built-in one) or
    /// `email` (contacts' built-in unique property).
    pub fn id_property(mut self, name: impl Into<String>) -> Self {
        self.id_property = Some(name.into());
        self
    }

    /// A product token appended to the user agent (`hubspot-tickets/0.1.0 <yours>`).
    pub fn user_agent_product(mut self, product: impl Into<String>) -> Self {
        self.user_agent_product = Some(product.into());
        self
    }

    /// Longest wait for one attempt's answer (then it is retried as a timeout).
    pub fn attempt_timeout(mut self, d: Duration) -> Self {
        self.attempt_timeout = d;
        self
    }

    /// Longest wait to open a connection (only for the HTTP client the facade builds).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Whole-operation deadline for each `upsert_batch` call and each bulk run: no
    /// request starts and no retry waits past it; unsent records are `NotAttempted`.
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = Some(d);
        self
    }

    /// Retry policy.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Rate-limit settings (shared by every clone of the client).
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = limit;
        self
    }

    /// The most batches in flight at once (at least 1; default 64). It is a cap, not a
    /// setting to tune: the requests actually in flight adapt to the rate the limiter
    /// allows and how long HubSpot takes to answer (about `rate × latency`, with
    /// headroom: 4 at 100 ms, 51 at 2 s on a Professional portal), halve on 429s, 423s,
    /// 5xx, timeouts and broken connections, and grow again. At the default, one
    /// process reaches the rate ceiling up to about 3 s of latency. Memory use of a bulk
    /// run is bounded by about `2 × max_concurrency × 100` records (the batches
    /// waiting for a place in flight, and those in flight).
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n.max(1);
        self
    }

    /// Use this HTTP client (proxies, custom TLS roots...). The facade still sends its
    /// user agent and token with each request and applies its own attempt timeout.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Split a batch that HubSpot refuses as a whole (400/409) to isolate the inputs at
    /// fault, so the others are still written (default on).
    pub fn bisect_rejected_batches(mut self, on: bool) -> Self {
        self.bisect = on;
        self
    }

    /// Extra requests bisection may spend per batch of up to 100 (default 32: enough
    /// to isolate two bad inputs among 100).
    pub fn bisect_budget(mut self, requests: u32) -> Self {
        self.bisect_budget = requests;
        self
    }

    /// How long a bulk run waits for a slow input stream to fill a batch before
    /// sending it part-full (default 500 ms).
    pub fn batch_linger(mut self, d: Duration) -> Self {
        self.batch_linger = d;
        self
    }

    /// Checks the settings and builds the client.
    ///
    /// # Errors
    /// [`ErrorKind::Configuration`](crate::ErrorKind::Configuration): no token, no
    /// `idProperty`, a refused base URL, or an HTTP client that cannot be built.
    pub fn build(self) -> Result<Client, Error> {
        self.build_on(|generated, token| {
            Transport::Http(std::sync::Arc::new(PerToken::new(generated.clone(), token)))
        })
    }

    /// A client whose requests go through `transport` (the engine tests' fake HubSpot).
    #[cfg(test)]
    pub(crate) fn build_with_transport(self, transport: Transport) -> Result<Client, Error> {
        self.build_on(|_, _| transport)
    }

    fn build_on(
        self,
        transport: impl FnOnce(&hubspot_tickets_client::Client, Option<AccessToken>) -> Transport,
    ) -> Result<Client, Error> {
        // A fixed token is checked here and set on the generated client; a token source
        // is asked as each request leaves.
        let token = match (&self.token_source, self.token) {
            (Some(_), _) => None,
            (None, Some(t)) => Some(t),
            (None, None) if self.token_from_env => Some(AccessToken::from_env()?),
            (None, None) => {
                return Err(Error::configuration(format!(
                    "no access token: pass one to the builder (or a token source) or set {TOKEN_ENV} and use access_token_from_env"
                )));
            }
        };
        if token.as_ref().is_some_and(AccessToken::is_empty) {
            return Err(Error::configuration("the access token is empty"));
        }
        let id_property = match self.id_property.as_deref().map(str::trim) {
            Some(p) if !p.is_empty() => p.to_owned(),
            Some(_) => return Err(Error::configuration("the idProperty is empty")),
            None => {
                let hint = if self.route.object_type == ObjectType::CONTACTS {
                    "id_property(\"email\"), contacts' built-in unique property"
                } else {
                    "id_property(\"external_ticket_id\")"
                };
                return Err(Error::configuration(format!(
                    "no idProperty: name the unique property that identifies {} records, e.g. {hint}",
                    self.route.object_type
                )));
            }
        };
        let auth = token.as_ref().map(AccessToken::bearer_header).transpose()?;
        let base_url = check_base_url(&self.base_url, self.allow_insecure_http)?;
        let ua_text = match &self.user_agent_product {
            Some(p) => format!("{USER_AGENT} {p}"),
            None => USER_AGENT.to_owned(),
        };
        let user_agent = HeaderValue::try_from(ua_text)
            .map_err(|_| Error::configuration("the user agent product has invalid characters"))?;
        let http = match self.http {
            Some(h) => h,
            None => reqwest::Client::builder()
                .connect_timeout(self.connect_timeout)
                .pool_max_idle_per_host(self.max_concurrency.max(1))
                .pool_idle_timeout(Duration::from_secs(60))
                .http1_only()
                .tcp_nodelay(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| {
                    Error::configuration("the HTTP client could not be built").with_source(e)
                })?,
        };
        // The token and user agent travel in the generated client's RequestHeaders
        // (applied by its pre-request hook), so a caller-supplied reqwest::Client is
        // authenticated the same way as ours.
        let mut headers =
            RequestHeaders::new().with_header(reqwest::header::USER_AGENT, user_agent);
        if let Some(auth) = auth {
            headers = headers.with_header(AUTHORIZATION, auth);
        }
        let generated = hubspot_tickets_client::Client::new_with_client(&base_url, http, headers);
        if self.route.version.shape() == Shape::LaterDated {
            // Said once per client: the release may have changed its shape.
            tracing::warn!(
                api_version = %self.route.version,
                "this build knows HubSpot's versions up to 2026-09; assuming the later one keeps 2026-09's wire shape (answers that do not decode fail their records with kind decode)"
            );
        }
        let settings = Settings {
            route: self.route,
            id_property,
            retry: self.retry,
            attempt_timeout: self.attempt_timeout,
            deadline: self.deadline,
            max_concurrency: self.max_concurrency.max(1),
            bisect: self.bisect,
            bisect_budget: self.bisect_budget,
            batch_linger: self.batch_linger,
        };
        let source: std::sync::Arc<dyn crate::auth::TokenSource> = match (self.token_source, &token)
        {
            (Some(source), _) => source,
            (None, Some(t)) => std::sync::Arc::new(crate::auth::StaticToken::new(t.clone())),
            (None, None) => {
                return Err(Error::configuration("no access token and no token source"));
            }
        };
        let engine = Engine::new(
            settings,
            transport(&generated, token.clone()),
            RateLimiter::new(&self.rate_limit),
            Auth::new(source, token),
        );
        Ok(Client::new(engine, generated))
    }
}

pub(crate) fn check_base_url(url: &str, allow_insecure: bool) -> Result<String, Error> {
    let trimmed = url.trim().trim_end_matches('/');
    let shown = without_credentials(trimmed);
    let parsed = reqwest::Url::parse(trimmed)
        .map_err(|e| Error::configuration(format!("base URL {shown:?} is not a URL: {e}")))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| Error::configuration(format!("base URL {shown:?} has no host")))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Error::configuration(
            "the base URL must not contain credentials",
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::configuration(
            "the base URL must not have a query or fragment",
        ));
    }
    match parsed.scheme() {
        "https" => {}
        "http" => {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let loopback = bare.eq_ignore_ascii_case("localhost")
                || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if !loopback && !allow_insecure {
                return Err(Error::configuration(format!(
                    "refusing plain http:// to {host}: the token would travel unencrypted (use https, or allow_insecure_http(true))"
                )));
            }
        }
        other => {
            return Err(Error::configuration(format!(
                "base URL scheme {other:?} is not http or https"
            )));
        }
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn base_url_rules() {
        assert!(
            check_base_url("https://api.hubapi.com/", false)
                .is_ok_and(|u| u == "https://api.hubapi.com")
        );
        assert!(check_base_url("http://127.0.0.1:8080", false).is_ok());
        assert!(check_base_url("http://[::1]:8080", false).is_ok());
        assert!(check_base_url("http://localhost:1", false).is_ok());
        assert!(check_base_url("http://example.com", false).is_err());
        assert!(check_base_url("http://example.com", true).is_ok());
        assert!(check_base_url("ftp://example.com", true).is_err());
        assert!(check_base_url("https://u:p@example.com", false).is_err());
        assert!(check_base_url("not a url", false).is_err());
        // Credentials are never printed, even in a URL that does not parse.
        for url in [
            "https://user:hunter2@host:99999",
            "https://user:hunter2@exa mple.com/x",
        ] {
            let e = check_base_url(url, false).err().map(|e| e.to_string());
            let e = e.unwrap_or_default();
            assert!(!e.is_empty() && !e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn build_requires_a_token_and_an_id_property() {
        let kind = |b: ClientBuilder| b.build().err().map(|e| e.kind());
        assert_eq!(
            kind(Client::builder().id_property("x")),
            Some(ErrorKind::Configuration)
        );
        assert_eq!(
            kind(Client::builder().access_token("pat-na1-t")),
            Some(ErrorKind::Configuration)
        );
        assert_eq!(
            kind(Client::builder().access_token("pat-na1-t").id_property(" ")),
            Some(ErrorKind::Configuration)
        );
        assert!(
            Client::builder()
                .access_token("pat-na1-t")
                .id_property("external_ticket_id")
                .build()
                .is_ok()
        );
    }

    #[test]
    fn a_built_client_never_prints_its_token() {
        let client = Client::builder()
            .access_token("pat-na1-very-secret")
            .id_property("external_ticket_id")
            .build();
        let Ok(client) = client else {
            panic!("the client should build");
        };
        let text = format!("{client:?}");
        assert!(text.contains("external_ticket_id"), "{text}");
        assert!(!text.contains("very-secret"), "{text}");
    }
}
