//! Configuration: tokens, rate limits, faults, the ticket property schema.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::faults::FaultConfig;

/// The token accepted by [`EmulatorConfig::default`].
pub const DEFAULT_TOKEN: &str = "test-token";
/// The custom unique ticket property of [`EmulatorConfig::default`].
pub const DEFAULT_UNIQUE_PROPERTY: &str = "external_ticket_id";
/// HubSpot's documented maximum number of inputs per batch request.
pub const DEFAULT_MAX_INPUTS: usize = 100;
/// The emulator's rule for the longest accepted `id` (unique value), in characters.
pub const DEFAULT_MAX_ID_LENGTH: usize = 1000;
/// Longest accepted value of a string property, in characters (HubSpot's limit for text).
pub const MAX_STRING_VALUE_LENGTH: usize = 65_536;
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

/// The type of a ticket property, which decides which string values it accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "options")]
pub enum PropertyKind {
    /// Any text up to [`MAX_STRING_VALUE_LENGTH`] characters.
    String,
    /// A decimal number such as `42` or `-1.5`.
    Number,
    /// `true` or `false`.
    Bool,
    /// One of the listed options (a dropdown or radio select).
    Enumeration(Vec<String>),
    /// Several of the listed options joined with `;` (multiple checkboxes).
    Checkboxes(Vec<String>),
    /// A date: epoch milliseconds at midnight UTC, or `YYYY-MM-DD`.
    Date,
    /// A date and time: epoch milliseconds, or an RFC 3339 timestamp.
    DateTime,
}

/// One ticket property known to the emulator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropertyDef {
    /// Internal name, as used in `properties` and `idProperty`.
    pub name: String,
    /// What values it accepts.
    pub kind: PropertyKind,
    /// Whether its values are unique across tickets (`hasUniqueValue`): only such a
    /// property can be an upsert's `idProperty`.
    pub unique: bool,
    /// Whether writes to it are refused (per-input error).
    pub read_only: bool,
}

impl PropertyDef {
    fn new(name: impl Into<String>, kind: PropertyKind) -> Self {
        Self {
            name: name.into(),
            kind,
            unique: false,
            read_only: false,
        }
    }

    /// A text property.
    pub fn string(name: impl Into<String>) -> Self {
        Self::new(name, PropertyKind::String)
    }

    /// A number property.
    pub fn number(name: impl Into<String>) -> Self {
        Self::new(name, PropertyKind::Number)
    }

    /// A boolean property (`"true"` / `"false"`).
    pub fn boolean(name: impl Into<String>) -> Self {
        Self::new(name, PropertyKind::Bool)
    }

    /// A single-choice property with the given options.
    pub fn enumeration<I, S>(name: impl Into<String>, options: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(
            name,
            PropertyKind::Enumeration(options.into_iter().map(Into::into).collect()),
        )
    }

    /// A multiple-checkboxes property with the given options (values joined by `;`).
    pub fn checkboxes<I, S>(name: impl Into<String>, options: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(
            name,
            PropertyKind::Checkboxes(options.into_iter().map(Into::into).collect()),
        )
    }

    /// A date property.
    pub fn date(name: impl Into<String>) -> Self {
        Self::new(name, PropertyKind::Date)
    }

    /// A date-time property.
    pub fn datetime(name: impl Into<String>) -> Self {
        Self::new(name, PropertyKind::DateTime)
    }

    /// Marks the property as having unique values (usable as `idProperty`).
    #[must_use]
    pub fn unique(mut self) -> Self {
        self.unique = true;
        self
    }

    /// Marks the property as read-only.
    #[must_use]
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }
}

/// Longest property internal name HubSpot accepts.
pub const MAX_PROPERTY_NAME_LENGTH: usize = 100;

/// Checks a property internal name against HubSpot's rule: a lowercase letter, then
/// lowercase letters, digits and `_`, at most [`MAX_PROPERTY_NAME_LENGTH`] characters.
pub fn validate_property_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !first_ok || !rest_ok || name.len() > MAX_PROPERTY_NAME_LENGTH {
        return Err(format!(
            "invalid property name {name:?}: HubSpot internal names start with a lowercase \
             letter, then use lowercase letters, digits and _ only, at most \
             {MAX_PROPERTY_NAME_LENGTH} characters"
        ));
    }
    Ok(())
}

/// The built-in ticket properties the emulator knows about.
///
/// `hs_object_id`, `createdate` and `hs_lastmodifieddate` are read-only and computed by
/// the emulator; `hs_object_id` is not a unique property as far as upserts are concerned
/// (HubSpot refuses it as `idProperty`).
pub fn builtin_ticket_properties() -> Vec<PropertyDef> {
    vec![
        PropertyDef::number("hs_object_id").read_only(),
        PropertyDef::datetime("createdate").read_only(),
        PropertyDef::datetime("hs_lastmodifieddate").read_only(),
        PropertyDef::string("subject"),
        PropertyDef::string("content"),
        PropertyDef::enumeration("hs_pipeline", ["0"]),
        PropertyDef::enumeration("hs_pipeline_stage", ["1", "2", "3", "4"]),
        PropertyDef::enumeration("hs_ticket_priority", ["LOW", "MEDIUM", "HIGH"]),
        PropertyDef::checkboxes(
            "hs_ticket_category",
            [
                "PRODUCT_ISSUE",
                "BILLING_ISSUE",
                "FEATURE_REQUEST",
                "GENERAL_INQUIRY",
            ],
        ),
        PropertyDef::enumeration("source_type", ["CHAT", "EMAIL", "FORM", "PHONE"]),
        PropertyDef::number("hubspot_owner_id"),
        PropertyDef::datetime("closed_date"),
    ]
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
    /// The ticket property schema (built-ins plus custom properties).
    pub properties: Vec<PropertyDef>,
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
            properties,
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

    /// Adds a property to the schema, replacing one of the same name.
    #[must_use]
    pub fn with_property(mut self, property: PropertyDef) -> Self {
        self.properties.retain(|p| p.name != property.name);
        self.properties.push(property);
        self
    }

    /// Adds a unique text property (usable as `idProperty`).
    #[must_use]
    pub fn with_unique_property(self, name: impl Into<String>) -> Self {
        self.with_property(PropertyDef::string(name).unique())
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
