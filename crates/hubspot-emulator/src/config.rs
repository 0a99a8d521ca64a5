//! What the emulator can be told ([`EmulatorConfig`]) and its defaults: tokens and their
//! scopes, rate limits, faults, API versions and their wire shapes, which properties each
//! object type has, and the request and connection limits.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::faults::FaultConfig;
use crate::object_types::{CustomObjectDef, StandardObject, parse_fqn};
use crate::properties::{PropertyDef, builtin_ticket_properties, put_property};
use crate::remote::{Latency, LockRule};

/// The token accepted by [`EmulatorConfig::default`].
pub const DEFAULT_TOKEN: &str = "test-token";
/// The custom unique ticket property of [`EmulatorConfig::default`].
pub const DEFAULT_UNIQUE_PROPERTY: &str = "external_ticket_id";
/// HubSpot's documented maximum number of inputs per batch request.
pub const DEFAULT_MAX_INPUTS: usize = 100;
/// The emulator's rule for the longest accepted `id` (unique value), in characters.
pub const DEFAULT_MAX_ID_LENGTH: usize = 1000;
/// Default portal (account) id, used in record URLs and rate-limit group names.
pub const DEFAULT_PORTAL_ID: u64 = 2_418_337;
/// First record id (`hs_object_id`) handed out by an empty store.
pub const DEFAULT_FIRST_OBJECT_ID: u64 = 10_000_000_001;
/// How long a client may take to send a request's headers before its connection is
/// closed. It is hyper's timer, so it also runs while a keep-alive connection waits for
/// its next HTTP/1.1 request.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a connection may sit with no bytes moving and no request being handled
/// (a body still arriving does not count as handled) before it is closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Most connections served at once; further ones wait in the listen backlog.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// The dated API versions served by [`EmulatorConfig::default`], with their shapes.
pub const DEFAULT_API_VERSIONS: [(&str, WireShape); 2] = [
    ("2026-03", WireShape::MultiStatus207),
    ("2026-09", WireShape::PartialIn200),
];

/// How an API version answers a batch upsert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireShape {
    /// v3 and 2026-03: 200 when every input was written, 207 with `errors` and
    /// `numErrors` when some failed.
    MultiStatus207,
    /// 2026-09 and later: 200 on success, the body carrying `errors` and `numErrors`
    /// when some inputs failed; results carry no `warnings`.
    PartialIn200,
}

impl WireShape {
    /// The shape of a version HubSpot has published (`v3`, `2026-03`, `2026-09`).
    pub fn of_known_version(version: &str) -> Option<WireShape> {
        match version {
            "v3" | "2026-03" => Some(Self::MultiStatus207),
            "2026-09" => Some(Self::PartialIn200),
            _ => None,
        }
    }
}

/// Checks a dated version's form, `YYYY-MM` with a month from 01 to 12.
pub fn validate_api_version(version: &str) -> Result<(), String> {
    let ok = version.len() == 7
        && version.as_bytes()[4] == b'-'
        && version[..4].bytes().all(|b| b.is_ascii_digit())
        && version[5..].parse::<u8>().is_ok_and(|m| {
            (1..=12).contains(&m) && version[5..].bytes().all(|b| b.is_ascii_digit())
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid API version {version:?}: dated versions look like 2026-09 (YYYY-MM)"
        ))
    }
}

/// HubSpot's rate limits as the emulator enforces and reports them, per token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Requests allowed in any rolling `interval` (`X-HubSpot-RateLimit-Max`).
    pub max_requests: u32,
    /// Length of the rolling window (`X-HubSpot-RateLimit-Interval-Milliseconds`).
    pub interval: Duration,
    /// Requests allowed per UTC day (`X-HubSpot-RateLimit-Daily`); `None` means no daily
    /// budget and no daily headers (as for OAuth calls).
    pub daily: Option<u64>,
    /// Whether 429 answers carry a `Retry-After` header (seconds). HubSpot's behaviour
    /// here is unconfirmed, so clients must cope with both; off by default.
    pub retry_after: bool,
}

impl Default for RateLimitConfig {
    /// HubSpot Professional/Enterprise: 190 requests per 10 s, 1 000 000 per day.
    fn default() -> Self {
        Self {
            max_requests: 190,
            interval: Duration::from_millis(10_000),
            daily: Some(1_000_000),
            retry_after: false,
        }
    }
}

impl RateLimitConfig {
    /// `max_requests` per rolling `interval`, no daily budget, no `Retry-After`.
    pub fn per_window(max_requests: u32, interval: Duration) -> Self {
        Self {
            max_requests,
            interval,
            daily: None,
            retry_after: false,
        }
    }

    /// Sets the daily budget.
    #[must_use]
    pub fn with_daily(mut self, daily: Option<u64>) -> Self {
        self.daily = daily;
        self
    }

    /// Chooses whether 429 answers carry `Retry-After`.
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: bool) -> Self {
        self.retry_after = retry_after;
        self
    }
}

/// How the `requestedAt` field of successful answers is filled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestedAt {
    /// Always an explicit `null` (what HubSpot is usually seen sending).
    Null,
    /// Always the time the request was received.
    Timestamp,
    /// `null` and a timestamp in turn (even-numbered successful answers get `null`), so
    /// that any client test sees both forms.
    #[default]
    Alternate,
}

/// Everything the emulator can be told; build it with the `with_*` methods.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// Address to listen on; port 0 picks a free one. Default `127.0.0.1:0`.
    pub bind: SocketAddr,
    /// Accepted bearer tokens. Default `["test-token"]`.
    pub tokens: Vec<String>,
    /// Accept any non-empty bearer token (each still gets its own rate limits).
    pub accept_any_token: bool,
    /// Rate limits; `None` turns them off (no 429s from the limiter, no headers).
    pub rate_limit: Option<RateLimitConfig>,
    /// Fault injection; all probabilities 0 by default.
    pub faults: FaultConfig,
    /// How long processed upserts take to be answered, as a remote HubSpot does;
    /// `None` (the default) answers at once.
    pub latency: Option<Latency>,
    /// When upserts are answered 423 Locked; `None` (the default) never.
    pub lock: Option<LockRule>,
    /// The ticket property schema (built-ins plus custom properties).
    pub properties: Vec<PropertyDef>,
    /// The property schemas of contacts, companies and deals (built-ins plus added
    /// properties); tickets' are in `properties`.
    pub object_properties: BTreeMap<StandardObject, Vec<PropertyDef>>,
    /// Custom object types.
    pub custom_objects: Vec<CustomObjectDef>,
    /// Dated versions served under `/crm/objects/{version}/...`, with their shape (v3 is
    /// always served).
    pub api_versions: BTreeMap<String, WireShape>,
    /// Tokens restricted to the listed scopes. A token not listed here may write every
    /// object type. Listed tokens are accepted like those of `tokens`.
    pub token_scopes: BTreeMap<String, Vec<String>>,
    /// Values set on created tickets when the input does not give them.
    pub create_defaults: Vec<(String, String)>,
    /// Properties a created ticket must end up with (per-input error otherwise).
    pub required_on_create: Vec<String>,
    /// Most inputs per request (HubSpot: 100).
    pub max_inputs: usize,
    /// Longest `id` accepted, in characters (per-input error beyond).
    pub max_id_length: usize,
    /// Largest request body accepted, in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Portal id used in record URLs and 429 group names.
    pub portal_id: u64,
    /// Snapshot file: loaded on start if it exists, written on shutdown.
    pub state_file: Option<PathBuf>,
    /// How many recent requests the stats log keeps.
    pub request_log_capacity: usize,
    /// How `requestedAt` is filled.
    pub requested_at: RequestedAt,
    /// Record id given to the first created ticket of an empty store.
    pub first_object_id: u64,
    /// Time allowed for a request's headers to arrive (connection closed beyond).
    pub header_read_timeout: Duration,
    /// Time a connection may stay idle (no bytes moving, no request being handled) before
    /// it is closed.
    pub idle_timeout: Duration,
    /// Most connections served at once; more wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// OAuth apps whose refresh tokens the token endpoint accepts (none by default).
    /// Their access tokens share one rate-limit window per app.
    pub oauth_apps: Vec<crate::oauth::OAuthApp>,
    /// How long an issued OAuth access token lives (HubSpot: 30 minutes).
    pub access_token_lifetime: Duration,
}

impl Default for EmulatorConfig {
    /// HubSpot-like: token `test-token`, unique property `external_ticket_id`, rate limits
    /// on (190 per 10 s, 1 000 000 per day), faults off, ephemeral loopback port.
    fn default() -> Self {
        let mut properties = builtin_ticket_properties();
        properties.push(PropertyDef::string(DEFAULT_UNIQUE_PROPERTY).unique());
        Self {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            tokens: vec![DEFAULT_TOKEN.to_owned()],
            accept_any_token: false,
            rate_limit: Some(RateLimitConfig::default()),
            faults: FaultConfig::default(),
            latency: None,
            lock: None,
            properties,
            object_properties: StandardObject::ALL
                .into_iter()
                .filter(|o| *o != StandardObject::Tickets)
                .map(|o| (o, o.builtin_properties()))
                .collect(),
            custom_objects: Vec::new(),
            api_versions: DEFAULT_API_VERSIONS
                .iter()
                .map(|(v, s)| ((*v).to_owned(), *s))
                .collect(),
            token_scopes: BTreeMap::new(),
            create_defaults: vec![
                ("hs_pipeline".to_owned(), "0".to_owned()),
                ("hs_pipeline_stage".to_owned(), "1".to_owned()),
            ],
            required_on_create: Vec::new(),
            max_inputs: DEFAULT_MAX_INPUTS,
            max_id_length: DEFAULT_MAX_ID_LENGTH,
            max_body_bytes: 32 * 1024 * 1024,
            portal_id: DEFAULT_PORTAL_ID,
            state_file: None,
            request_log_capacity: 1024,
            requested_at: RequestedAt::default(),
            first_object_id: DEFAULT_FIRST_OBJECT_ID,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            oauth_apps: Vec::new(),
            access_token_lifetime: crate::oauth::DEFAULT_ACCESS_TOKEN_LIFETIME,
        }
    }
}

impl EmulatorConfig {
    /// Listens on this address (port 0 = ephemeral).
    #[must_use]
    pub fn with_bind(mut self, bind: SocketAddr) -> Self {
        self.bind = bind;
        self
    }

    /// Listens on this port of the current bind address.
    #[must_use]
    pub fn with_port(mut self, port: u16) -> Self {
        self.bind.set_port(port);
        self
    }

    /// Replaces the accepted tokens.
    #[must_use]
    pub fn with_tokens<I, S>(mut self, tokens: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tokens = tokens.into_iter().map(Into::into).collect();
        self
    }

    /// Adds one accepted token.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.tokens.push(token.into());
        self
    }

    /// Adds an OAuth app: the token endpoint grants access tokens for its client id and
    /// secret and these refresh tokens. All its access tokens share one rate-limit
    /// window (HubSpot limits per app, not per token).
    #[must_use]
    pub fn with_oauth_app(mut self, app: crate::oauth::OAuthApp) -> Self {
        self.oauth_apps.push(app);
        self
    }

    /// How long issued OAuth access tokens live (seconds in tests; HubSpot's 30 minutes
    /// by default).
    #[must_use]
    pub fn with_access_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.access_token_lifetime = lifetime;
        self
    }

    /// Accepts any non-empty bearer token.
    #[must_use]
    pub fn with_any_token(mut self) -> Self {
        self.accept_any_token = true;
        self
    }

    /// Sets the rate limits.
    #[must_use]
    pub fn with_rate_limit(mut self, rate_limit: RateLimitConfig) -> Self {
        self.rate_limit = Some(rate_limit);
        self
    }

    /// Turns rate limiting off entirely (for benchmarks).
    #[must_use]
    pub fn without_rate_limits(mut self) -> Self {
        self.rate_limit = None;
        self
    }

    /// Sets the fault injection.
    #[must_use]
    pub fn with_faults(mut self, faults: FaultConfig) -> Self {
        self.faults = faults;
        self
    }

    /// Answers processed upserts after this latency (after the write; the request
    /// counted against the rate window when it arrived), as a remote HubSpot does.
    #[must_use]
    pub fn with_latency(mut self, latency: Latency) -> Self {
        self.latency = Some(latency);
        self
    }

    /// Answers upserts 423 Locked by this rule (HubSpot's lock on many upserts of one
    /// object type in a short period).
    #[must_use]
    pub fn with_lock(mut self, lock: LockRule) -> Self {
        self.lock = Some(lock);
        self
    }

    /// Adds a property to the schema, replacing one of the same name.
    #[must_use]
    pub fn with_property(mut self, property: PropertyDef) -> Self {
        put_property(&mut self.properties, property);
        self
    }

    /// Adds a unique text property (usable as `idProperty`).
    #[must_use]
    pub fn with_unique_property(self, name: impl Into<String>) -> Self {
        self.with_property(PropertyDef::string(name).unique())
    }

    /// Adds a property to a standard object type's schema, replacing one of the same
    /// name (for tickets, the same as [`EmulatorConfig::with_property`]).
    #[must_use]
    pub fn with_object_property(mut self, object: StandardObject, property: PropertyDef) -> Self {
        if object == StandardObject::Tickets {
            return self.with_property(property);
        }
        let props = self
            .object_properties
            .entry(object)
            .or_insert_with(|| object.builtin_properties());
        put_property(props, property);
        self
    }

    /// The property schema of a standard object type.
    pub fn properties_of(&self, object: StandardObject) -> Vec<PropertyDef> {
        match object {
            StandardObject::Tickets => self.properties.clone(),
            _ => self
                .object_properties
                .get(&object)
                .cloned()
                .unwrap_or_else(|| object.builtin_properties()),
        }
    }

    /// Serves a custom object type, replacing one with the same id.
    #[must_use]
    pub fn with_custom_object(mut self, object: CustomObjectDef) -> Self {
        self.custom_objects
            .retain(|c| c.object_type_id != object.object_type_id);
        self.custom_objects.push(object);
        self
    }

    /// Serves the dated version `version` (`YYYY-MM`) with the given shape, under
    /// `/crm/objects/{version}/{objectType}/batch/upsert`.
    #[must_use]
    pub fn with_api_version(mut self, version: impl Into<String>, shape: WireShape) -> Self {
        self.api_versions.insert(version.into(), shape);
        self
    }

    /// Stops serving a dated version (its paths answer 404).
    #[must_use]
    pub fn without_api_version(mut self, version: &str) -> Self {
        self.api_versions.remove(version);
        self
    }

    /// Accepts `token`, allowed to write only the object types these scopes cover
    /// (`tickets`, `crm.objects.contacts.write`, `crm.objects.custom.write`...); other
    /// object types answer 403.
    #[must_use]
    pub fn with_token_scopes<I, S>(mut self, token: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.token_scopes
            .insert(token.into(), scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Whether `token` may use `scope`.
    pub(crate) fn token_has_scope(&self, token: &str, scope: &str) -> bool {
        self.token_scopes
            .get(token)
            .is_none_or(|scopes| scopes.iter().any(|s| s == scope))
    }

    /// Checks the API versions, custom objects and scoped tokens.
    pub(crate) fn validate_objects(&self) -> Result<(), String> {
        for version in self.api_versions.keys() {
            validate_api_version(version)?;
        }
        for (i, c) in self.custom_objects.iter().enumerate() {
            c.validate()?;
            let key = parse_fqn(&c.fully_qualified_name);
            if let Some(other) = self.custom_objects[..i].iter().find(|o| {
                o.object_type_id == c.object_type_id || parse_fqn(&o.fully_qualified_name) == key
            }) {
                return Err(format!(
                    "custom objects {} ({}) and {} ({}) share an id or a name",
                    other.fully_qualified_name,
                    other.object_type_id,
                    c.fully_qualified_name,
                    c.object_type_id
                ));
            }
        }
        if self.token_scopes.keys().any(String::is_empty) {
            return Err("a token with scopes is empty".to_owned());
        }
        Ok(())
    }
    /// Sets the values given to created tickets that do not set them.
    #[must_use]
    pub fn with_create_defaults<I, K, V>(mut self, defaults: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.create_defaults = defaults
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self
    }

    /// Sets the properties a created ticket must have (e.g. `subject`).
    #[must_use]
    pub fn with_required_on_create<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required_on_create = names.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the maximum number of inputs per request.
    #[must_use]
    pub fn with_max_inputs(mut self, max_inputs: usize) -> Self {
        self.max_inputs = max_inputs;
        self
    }

    /// Sets the longest accepted `id`, in characters.
    #[must_use]
    pub fn with_max_id_length(mut self, max_id_length: usize) -> Self {
        self.max_id_length = max_id_length;
        self
    }

    /// Sets the portal id.
    #[must_use]
    pub fn with_portal_id(mut self, portal_id: u64) -> Self {
        self.portal_id = portal_id;
        self
    }

    /// Loads the store from this file on start (if it exists) and saves it on shutdown.
    /// One emulator at a time: it locks `FILE.lock` for its life, and another one on the
    /// same file is refused at start ([`EmulatorError::StateInUse`](crate::EmulatorError::StateInUse)).
    #[must_use]
    pub fn with_state_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.state_file = Some(path.into());
        self
    }

    /// Sets how many recent requests the stats log keeps.
    #[must_use]
    pub fn with_request_log_capacity(mut self, capacity: usize) -> Self {
        self.request_log_capacity = capacity;
        self
    }

    /// Sets how `requestedAt` is filled.
    #[must_use]
    pub fn with_requested_at(mut self, requested_at: RequestedAt) -> Self {
        self.requested_at = requested_at;
        self
    }

    /// Sets the largest accepted request body, in bytes.
    #[must_use]
    pub fn with_max_body_bytes(mut self, max_body_bytes: usize) -> Self {
        self.max_body_bytes = max_body_bytes;
        self
    }

    /// Sets how long a client may take to send a request's headers (default 30 s).
    #[must_use]
    pub fn with_header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Sets how long an idle connection is kept open (default 30 s).
    #[must_use]
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets the most connections served at once (default 1024).
    #[must_use]
    pub fn with_max_connections(mut self, max_connections: usize) -> Self {
        self.max_connections = max_connections;
        self
    }
}
