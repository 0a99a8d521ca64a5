//! The client and its builder.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hubspot_tickets_client::RequestHeaders;
use hubspot_tickets_client::types::TicketUpsertInput;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};

use crate::bulk::BulkUpsert;
use crate::config::{RateLimit, RetryPolicy};
use crate::engine::transport::Transport;
use crate::engine::{Job, Op, run_job};
use crate::error::{Error, ErrorKind, Failure};
use crate::limiter::{RateLimitStatus, RateLimiter};
use crate::outcomes::progress::Progress;
use crate::outcomes::{BatchOutcome, Outcome, RecordOutcome};
use crate::records::TicketInput;
use crate::secret::AccessToken;

/// The environment variable [`Client::from_env`] reads.
pub const TOKEN_ENV: &str = "HUBSPOT_ACCESS_TOKEN";
/// HubSpot's API.
pub const DEFAULT_BASE_URL: &str = "https://api.hubapi.com";
/// HubSpot's limit of inputs per batch request.
pub const MAX_BATCH: usize = 100;
const USER_AGENT: &str = concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION"));

#[derive(Debug)]
pub(crate) struct Settings {
    pub id_property: Option<String>,
    pub retry: RetryPolicy,
    pub attempt_timeout: Duration,
    pub deadline: Option<Duration>,
    pub max_concurrency: usize,
    pub bisect: bool,
    pub bisect_budget: u32,
    pub batch_linger: Duration,
}

pub(crate) struct Inner {
    pub transport: Transport,
    pub limiter: RateLimiter,
    pub cfg: Settings,
    pub token: AccessToken,
    base_url: String,
    generated: hubspot_tickets_client::Client,
    trace_prefix: String,
    trace_seq: AtomicU64,
}

impl Inner {
    fn next_trace_id(&self) -> String {
        let n = self.trace_seq.fetch_add(1, Ordering::Relaxed);
        let mut s = String::with_capacity(self.trace_prefix.len() + 16);
        s.push_str(&self.trace_prefix);
        // Hex digits written by hand: the formatting machinery cost more than the rest
        // of preparing a record.
        let digits = (u64::BITS - n.leading_zeros()).div_ceil(4).max(1);
        for i in (0..digits).rev() {
            let d = (n >> (4 * i)) & 0xf;
            s.push(char::from(b"0123456789abcdef"[d as usize]));
        }
        s
    }

    /// Checks a record and fills in `idProperty` and a trace id, or says why it
    /// cannot be sent.
    pub(crate) fn prepare(
        &self,
        input: TicketInput,
    ) -> Result<TicketUpsertInput, (String, Arc<Failure>)> {
        if let Some(why) = input.problem_text() {
            return Err((
                input.inner.id,
                Arc::new(Failure::new(ErrorKind::InvalidInput, why)),
            ));
        }
        let mut inner = input.inner;
        if inner.id_property.is_none() {
            match &self.cfg.id_property {
                Some(p) => inner.id_property = Some(p.clone()),
                None => {
                    let why = format!(
                        "record {:?}: no idProperty (set ClientBuilder::id_property or TicketInput::id_property)",
                        inner.id
                    );
                    return Err((
                        inner.id,
                        Arc::new(Failure::new(ErrorKind::InvalidInput, why)),
                    ));
                }
            }
        }
        if inner.object_write_trace_id.is_none() {
            inner.object_write_trace_id = Some(self.next_trace_id());
        }
        Ok(inner)
    }
}

/// The HubSpot tickets upsert client. Cheap to clone; clones share one connection
/// pool and one rate limiter.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base_url)
            .field("id_property", &self.inner.cfg.id_property)
            .field("max_concurrency", &self.inner.cfg.max_concurrency)
            .field("token", &self.inner.token)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A builder with safe defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client with default settings and the token in `HUBSPOT_ACCESS_TOKEN`.
    ///
    /// # Errors
    /// [`ErrorKind::Configuration`] when the variable is missing or empty.
    pub fn from_env() -> Result<Self, Error> {
        Self::builder().access_token_from_env().build()
    }

    /// The base URL requests go to (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The default `idProperty`.
    pub fn id_property(&self) -> Option<&str> {
        self.inner.cfg.id_property.as_deref()
    }

    /// The limiter's current view: effective limit, requests in the window, and the
    /// last `X-HubSpot-RateLimit-*` headers seen (including the daily ones).
    pub fn rate_limit_status(&self) -> RateLimitStatus {
        self.inner.limiter.status()
    }

    /// The generated progenitor client the facade sends its requests through, for
    /// anything the facade does not cover. It shares this client's connection pool and
    /// carries the token and user agent (its pre-request hook adds them, also when you
    /// supplied the `reqwest::Client`). Raw calls bypass the facade's rate limiter,
    /// retries and per-record accounting.
    pub fn generated(&self) -> &hubspot_tickets_client::Client {
        &self.inner.generated
    }

    /// Creates or updates up to 100 tickets in one request (retried as configured).
    ///
    /// Every input gets a unique `objectWriteTraceId` if it lacks one, so that HubSpot
    /// reports per-input failures (207) instead of refusing the batch; the answer is
    /// mapped back to one [`RecordOutcome`] per input, in input order. Inputs that
    /// cannot be sent (empty id, NaN...) are `Failed` without a request. A whole-batch
    /// 400/409 is bisected to isolate the inputs at fault (see
    /// [`ClientBuilder::bisect_rejected_batches`]).
    ///
    /// # Errors
    /// * [`ErrorKind::InvalidInput`]: more than 100 inputs, or two for the same id;
    /// * otherwise, when HubSpot refused the request as a whole and it was not split:
    ///   auth, forbidden, daily limit, validation of a one-input batch, 5xx/timeouts/
    ///   connection errors after every retry...
    pub fn upsert_batch<I, T>(
        &self,
        inputs: I,
    ) -> impl Future<Output = Result<BatchOutcome, Error>> + Send + 'static
    where
        I: IntoIterator<Item = T>,
        T: Into<TicketInput>,
    {
        let inner = Arc::clone(&self.inner);
        let prepared = prepare_batch(&inner, inputs);
        async move {
            let (job, mut records) = prepared?;
            let op = Op::new(
                Arc::clone(&inner),
                inner.cfg.deadline,
                None,
                Progress::new(),
            );
            if job.inputs.is_empty() {
                records.sort_by_key(|r| r.position);
                return Ok(BatchOutcome {
                    records,
                    results: Vec::new(),
                    errors: Vec::new(),
                    status: None,
                    headers: HeaderMap::new(),
                    requests: 0,
                });
            }
            let res = run_job(&op, job, true).await;
            if let Some(e) = res.whole_error {
                return Err(e);
            }
            records.extend(res.outcomes);
            records.sort_by_key(|r| r.position);
            Ok(BatchOutcome {
                records,
                results: res.raw.results,
                errors: res.raw.errors,
                status: res.raw.status,
                headers: res.raw.headers,
                requests: res.requests,
            })
        }
    }

    /// Upserts any number of records from a `futures::Stream` (see [`BulkUpsert`]).
    pub fn bulk_upsert<'a, S>(&self, inputs: S) -> BulkUpsert<'a>
    where
        S: futures::Stream + Send + 'a,
        S::Item: Into<TicketInput>,
    {
        use futures::StreamExt;
        BulkUpsert::new(self.clone(), Box::pin(inputs.map(Into::into)))
    }

    /// Upserts any number of records from an iterator (see [`BulkUpsert`]).
    pub fn bulk_upsert_iter<'a, I>(&self, inputs: I) -> BulkUpsert<'a>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'a,
        I::Item: Into<TicketInput>,
    {
        self.bulk_upsert(futures::stream::iter(inputs))
    }
}

type Prepared = Result<(Job, Vec<RecordOutcome>), Error>;

fn prepare_batch<I, T>(inner: &Inner, inputs: I) -> Prepared
where
    I: IntoIterator<Item = T>,
    T: Into<TicketInput>,
{
    let inputs: Vec<TicketInput> = inputs.into_iter().map(Into::into).collect();
    if inputs.len() > MAX_BATCH {
        return Err(Error::invalid_input(format!(
            "a batch holds at most {MAX_BATCH} inputs, got {}; use bulk_upsert for more",
            inputs.len()
        )));
    }
    let mut seen: HashMap<(&str, &str), usize> = HashMap::with_capacity(inputs.len());
    let default_prop = inner.cfg.id_property.as_deref().unwrap_or("");
    for (i, input) in inputs.iter().enumerate() {
        let key = (input.get_id_property().unwrap_or(default_prop), input.id());
        if let Some(j) = seen.insert(key, i) {
            return Err(Error::invalid_input(format!(
                "inputs {j} and {i} have the same id {:?}; one batch cannot write a ticket twice (bulk_upsert orders such writes)",
                input.id()
            )));
        }
    }
    let mut job = Job {
        inputs: Vec::with_capacity(inputs.len()),
        positions: Vec::with_capacity(inputs.len()),
    };
    let mut records = Vec::new();
    for (i, input) in inputs.into_iter().enumerate() {
        let position = i as u64;
        match inner.prepare(input) {
            Ok(wire) => {
                job.inputs.push(wire);
                job.positions.push(position);
            }
            Err((id, reason)) => records.push(RecordOutcome {
                position,
                id,
                outcome: Outcome::Failed { reason },
            }),
        }
    }
    Ok((job, records))
}

/// Builds a [`Client`]. Every setting has a safe default except the token.
///
/// | setting | default |
/// | --- | --- |
/// | base URL | `https://api.hubapi.com` (plain `http://` only for loopback unless allowed) |
/// | `idProperty` | none: set it, or set it on each input |
/// | rate limit | [`RateLimit::auto`]: 100 per 10 s, then what HubSpot's headers say |
/// | retries | [`RetryPolicy::default`]: 5 attempts, 500 ms → 30 s full-jitter backoff |
/// | per-attempt timeout | 30 s (connect timeout 10 s) |
/// | whole-operation deadline | none |
/// | max concurrency | 8 batches in flight |
/// | bisection of whole-batch 400/409 | on, 32 extra requests per batch |
/// | batch linger (slow streams) | 500 ms |
#[derive(Debug)]
#[must_use]
pub struct ClientBuilder {
    token: Option<AccessToken>,
    token_from_env: bool,
    base_url: String,
    allow_insecure_http: bool,
    id_property: Option<String>,
    user_agent_product: Option<String>,
    attempt_timeout: Duration,
    connect_timeout: Duration,
    deadline: Option<Duration>,
    retry: RetryPolicy,
    rate_limit: RateLimit,
    max_concurrency: usize,
    http: Option<reqwest::Client>,
    bisect: bool,
    bisect_budget: u32,
    batch_linger: Duration,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            token: None,
            token_from_env: false,
            base_url: DEFAULT_BASE_URL.to_owned(),
            allow_insecure_http: false,
            id_property: None,
            user_agent_product: None,
            attempt_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            deadline: None,
            retry: RetryPolicy::default(),
            rate_limit: RateLimit::default(),
            max_concurrency: 8,
            http: None,
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

    /// The unique property that identifies tickets (`idProperty`) for inputs that do
    /// not set their own, e.g. `external_ticket_id`.
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

    /// Batches in flight at once in a bulk run (at least 1). Memory use of a bulk run
    /// is about `(max_concurrency + 1) × 100` records.
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
    /// [`ErrorKind::Configuration`]: no token, a refused base URL, or an HTTP client
    /// that cannot be built.
    pub fn build(self) -> Result<Client, Error> {
        let token = match self.token {
            Some(t) => t,
            None if self.token_from_env => AccessToken::from_env()?,
            None => {
                return Err(Error::configuration(format!(
                    "no access token: pass one to the builder or set {TOKEN_ENV} and use access_token_from_env"
                )));
            }
        };
        if token.is_empty() {
            return Err(Error::configuration("the access token is empty"));
        }
        let auth = token.bearer_header()?;
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
                    Error::configuration(format!("the HTTP client could not be built: {e}"))
                        .with_source(e)
                })?,
        };
        // The token and user agent travel in the generated client's RequestHeaders
        // (applied by its pre-request hook), so a caller-supplied reqwest::Client is
        // authenticated the same way as ours.
        let headers = RequestHeaders::new()
            .with_header(AUTHORIZATION, auth)
            .with_header(reqwest::header::USER_AGENT, user_agent);
        let generated = hubspot_tickets_client::Client::new_with_client(&base_url, http, headers);
        let transport = Transport::Http(generated.clone());
        Ok(Client {
            inner: Arc::new(Inner {
                transport,
                limiter: RateLimiter::new(&self.rate_limit),
                cfg: Settings {
                    id_property: self.id_property,
                    retry: self.retry,
                    attempt_timeout: self.attempt_timeout,
                    deadline: self.deadline,
                    max_concurrency: self.max_concurrency.max(1),
                    bisect: self.bisect,
                    bisect_budget: self.bisect_budget,
                    batch_linger: self.batch_linger,
                },
                token,
                base_url,
                generated,
                trace_prefix: format!("h{:08x}-", rand::random::<u32>()),
                trace_seq: AtomicU64::new(0),
            }),
        })
    }

    #[cfg(test)]
    pub(crate) fn build_with_transport(self, transport: Transport) -> Result<Client, Error> {
        let client = self.build()?;
        let Some(inner) = Arc::into_inner(client.inner) else {
            return Err(Error::configuration("unreachable"));
        };
        Ok(Client {
            inner: Arc::new(Inner { transport, ..inner }),
        })
    }
}

fn check_base_url(url: &str, allow_insecure: bool) -> Result<String, Error> {
    let trimmed = url.trim().trim_end_matches('/');
    let parsed = reqwest::Url::parse(trimmed)
        .map_err(|e| Error::configuration(format!("base URL {trimmed:?} is not a URL: {e}")))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| Error::configuration(format!("base URL {trimmed:?} has no host")))?;
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
    }

    #[test]
    fn build_requires_a_token_and_never_prints_it() {
        let e = Client::builder().build().err().map(|e| e.kind());
        assert_eq!(e, Some(ErrorKind::Configuration));
        let c = Client::builder()
            .access_token("pat-na1-very-secret")
            .build();
        let text = format!("{c:?}");
        assert!(!text.contains("very-secret"), "{text}");
    }

    #[test]
    fn trace_ids_are_prefix_and_hex_sequence() {
        let c = Client::builder()
            .access_token("pat-na1-trace")
            .build()
            .expect("client");
        for n in [0_u64, 1, 9, 10, 15, 16, 255, 4096, 0xdead_beef, u64::MAX] {
            c.inner.trace_seq.store(n, Ordering::Relaxed);
            let id = c.inner.next_trace_id();
            assert_eq!(id, format!("{}{n:x}", c.inner.trace_prefix));
        }
    }
}
