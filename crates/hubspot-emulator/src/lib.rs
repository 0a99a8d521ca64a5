//! A local stand-in for HubSpot's CRM batch upsert endpoint
//! (`POST /crm/v3/objects/{objectType}/batch/upsert` and the dated
//! `POST /crm/objects/{version}/{objectType}/batch/upsert`), for integration tests, demos
//! and benchmarks.
//!
//! Tickets, contacts, companies, deals and configured custom objects
//! ([`CustomObjectDef`]) each have their own store and property schema; `{objectType}`
//! may be a name, an object type id (`0-1`) or a custom object's fully qualified name.
//! Dated versions are configurable ([`EmulatorConfig::with_api_version`], default
//! `2026-03` with v3's 207 answers and `2026-09` with partial failures in a 200), and
//! tokens may be limited to scopes ([`EmulatorConfig::with_token_scopes`], 403 otherwise).
//! OAuth apps ([`EmulatorConfig::with_oauth_app`]) get HubSpot's token endpoint
//! (`POST /oauth/2026-03/token`, the refresh grant) and access tokens that expire
//! ([`EmulatorConfig::with_access_token_lifetime`], HubSpot's 401 after that); all of an
//! app's tokens share one rate-limit window.
//!
//! It speaks the endpoint as HubSpot does on the wire: bearer-token auth, HubSpot-shaped
//! `400`/`401`/`409`/`429` bodies, `207` answers with per-input errors when every input
//! has a distinct `objectWriteTraceId`, a rolling rate-limit window and a daily budget per
//! token with the `X-HubSpot-RateLimit-*` headers, and a real, inspectable store behind
//! it. Faults (429s, 5xx with JSON or HTML bodies, dropped connections before or after
//! the write, delays, 409s, truncated bodies, unexpected 201s, partial writes) can be
//! injected with seeded, reproducible probabilities.
//!
//! The emulator is written from the observed wire behaviour, independently of any
//! client crate, so that a client and the emulator cannot share a mistake.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use hubspot_emulator::{Emulator, EmulatorConfig, RateLimitConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let emu = Emulator::start(
//!     EmulatorConfig::default()
//!         .with_tokens(["tok"])
//!         .with_rate_limit(RateLimitConfig::per_window(40, Duration::from_secs(1))),
//! )
//! .await?;
//!
//! let response = reqwest::Client::new()
//!     .post(format!("{}/crm/v3/objects/tickets/batch/upsert", emu.base_url()))
//!     .bearer_auth("tok")
//!     .json(&serde_json::json!({"inputs": [{
//!         "idProperty": "external_ticket_id",
//!         "id": "ZD-1",
//!         "objectWriteTraceId": "t-1",
//!         "properties": {"subject": "Printer jams", "hs_ticket_priority": "HIGH"}
//!     }]}))
//!     .send()
//!     .await?;
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.headers()["x-hubspot-ratelimit-remaining"], "39");
//!
//! let ticket = emu.tickets().get_by_unique("external_ticket_id", "ZD-1").expect("written");
//! assert_eq!(ticket.properties["subject"], "Printer jams");
//! assert_eq!(emu.stats().records_created, 1);
//! emu.shutdown().await?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })
//! # }
//! ```
//!
//! See the crate's README for the full list of rules, admin routes and fault kinds.

pub mod cli;
mod config;
mod fast;
mod faults;
mod limiter;
mod oauth;
mod object_types;
mod properties;
mod properties_api;
mod registry;
mod remote;
mod schema;
mod server;
mod state;
mod stats;
mod store;
mod upsert;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::{
    DEFAULT_API_VERSIONS, DEFAULT_FIRST_OBJECT_ID, DEFAULT_HEADER_READ_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_ID_LENGTH, DEFAULT_MAX_INPUTS,
    DEFAULT_PORTAL_ID, DEFAULT_TOKEN, DEFAULT_UNIQUE_PROPERTY, EmulatorConfig, RateLimitConfig,
    RequestedAt, WireShape, validate_api_version,
};
pub use faults::{FaultConfig, FaultKind};
pub use limiter::Policy;
pub use oauth::{DEFAULT_ACCESS_TOKEN_LIFETIME, Hidden, OAuthApp};
pub use object_types::{CUSTOM_OBJECT_SCOPE, CustomObjectDef, DEFAULT_ECHO, StandardObject};
pub use properties::{
    MAX_PROPERTY_NAME_LENGTH, MAX_STRING_VALUE_LENGTH, PropertyDef, PropertyKind,
    builtin_ticket_properties, validate_property_name,
};
pub use remote::{Latency, LockRule};
pub use server::{ADMIN_PREFIX, DATED_UPSERT_ROUTE, UPSERT_PATH, V3_UPSERT_ROUTE};
pub use stats::{RequestLogEntry, StatsSnapshot};
pub use store::{DuplicateCreate, Store, StoreError, StoredRecord, StoredTicket};

use registry::Registry;
use server::{ConnLimits, Shared, router, serve};

/// Why the emulator could not start, or could not save its state.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The configuration is inconsistent.
    #[error("invalid emulator configuration: {0}")]
    Config(String),
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The state file could not be saved at shutdown, as checked at start.
    #[error("state file {path} is not writable: {message}")]
    StateNotWritable {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Another emulator (another process, or another `Emulator` in this one) holds the
    /// state file: both would save it at shutdown, the last overwriting the other.
    #[error(
        "state file {path} is in use by another emulator{}: stop it first, or give this one another state file (lock file {})",
        holder_text(*.pid),
        .lock.display()
    )]
    StateInUse {
        /// The state file.
        path: PathBuf,
        /// Its lock file, `FILE.lock`.
        lock: PathBuf,
        /// The process holding it, when its lock file says.
        pid: Option<u32>,
    },
    /// The state file could not be read or written.
    #[error("state file {path}: {source}")]
    State {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// A running emulator. Dropping it stops the server (without saving state); call
/// [`Emulator::shutdown`] to stop it cleanly and write the state file.
pub struct Emulator {
    addr: SocketAddr,
    base_url: String,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
    /// Held until the emulator is gone, after [`Emulator::shutdown`] has saved.
    _state_lock: Option<state::StateLock>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Starts the server on the configured address (by default an ephemeral port on
    /// 127.0.0.1) in the current tokio runtime. It is accepting connections when this
    /// returns. Locks the state file, if one is configured (refused if another emulator
    /// holds it), and loads it if it exists.
    pub async fn start(config: EmulatorConfig) -> Result<Self, EmulatorError> {
        config.faults.validate().map_err(EmulatorError::Config)?;
        if let Some(lock) = &config.lock {
            lock.validate().map_err(EmulatorError::Config)?;
        }
        if let Some(rl) = &config.rate_limit
            && (rl.max_requests == 0 || rl.interval.is_zero())
        {
            return Err(EmulatorError::Config(
                "the rate limit needs max_requests > 0 and a non-zero interval (use without_rate_limits() to turn it off)"
                    .to_owned(),
            ));
        }
        if config.max_inputs == 0 || config.max_id_length == 0 {
            return Err(EmulatorError::Config(
                "max_inputs and max_id_length must be positive".to_owned(),
            ));
        }
        if config.header_read_timeout.is_zero()
            || config.idle_timeout.is_zero()
            || config.max_connections == 0
        {
            return Err(EmulatorError::Config(
                "header_read_timeout, idle_timeout and max_connections must be positive".to_owned(),
            ));
        }
        config.validate_objects().map_err(EmulatorError::Config)?;
        if !config.accept_any_token
            && config.oauth_apps.is_empty()
            && config
                .tokens
                .iter()
                .chain(config.token_scopes.keys())
                .all(String::is_empty)
        {
            return Err(EmulatorError::Config(
                "no token configured (use with_tokens or with_any_token)".to_owned(),
            ));
        }
        if config.access_token_lifetime.is_zero()
            || config
                .oauth_apps
                .iter()
                .any(|a| a.client_id.is_empty() || a.client_secret.is_empty())
        {
            return Err(EmulatorError::Config(
                "an OAuth app needs a client id and secret, and access tokens a lifetime above zero"
                    .to_owned(),
            ));
        }
        let objects = Registry::build(&config).map_err(EmulatorError::Config)?;
        // One file, whatever it is called: a symlink is followed (saving then writes
        // the file it points to, not a new file in its place), so every name of one
        // state file leads to one lock.
        let mut config = config;
        if let Some(path) = &config.state_file {
            config.state_file = Some(state::resolve(path));
        }
        // Locked before anything else touches the state file or its temporary file,
        // which another emulator may be writing.
        let state_lock = match &config.state_file {
            Some(path) => {
                check_state_dir(path)?;
                let lock = lock_state(path)?;
                check_state_writable(path)?;
                lock
            }
            None => None,
        };
        if let Some(path) = &config.state_file
            && path.exists()
        {
            let n = state::load(&objects, path).map_err(|source| EmulatorError::State {
                path: path.clone(),
                source,
            })?;
            tracing::info!(path = %path.display(), records = n, "state loaded");
        }
        let listener =
            TcpListener::bind(config.bind)
                .await
                .map_err(|source| EmulatorError::Bind {
                    addr: config.bind,
                    source,
                })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind {
                addr: config.bind,
                source,
            })?;
        let mut url_addr = addr;
        if url_addr.ip().is_unspecified() {
            url_addr.set_ip(if addr.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        let base_url = format!("http://{url_addr}");
        let limits = ConnLimits::from_config(&config);
        let shared = Arc::new(Shared::new(config, objects));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(
            listener,
            router(Arc::clone(&shared)),
            shutdown.clone(),
            limits,
        ));
        tracing::info!(%base_url, "hubspot emulator listening");
        Ok(Self {
            addr,
            base_url,
            shared,
            shutdown,
            task: Some(task),
            _state_lock: state_lock,
        })
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The full URL of the tickets upsert endpoint (v3).
    pub fn upsert_url(&self) -> String {
        format!("{}{UPSERT_PATH}", self.base_url)
    }

    /// The full URL of an upsert endpoint: `version` is `v3` or a dated version
    /// (`2026-09`), `object_type` a name, id or fully qualified name. Nothing is
    /// checked: an unserved version or type gets HubSpot's error answer.
    pub fn upsert_url_for(&self, version: &str, object_type: &str) -> String {
        if version == "v3" {
            format!(
                "{}/crm/v3/objects/{object_type}/batch/upsert",
                self.base_url
            )
        } else {
            format!(
                "{}/crm/objects/{version}/{object_type}/batch/upsert",
                self.base_url
            )
        }
    }

    /// The socket address listened on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configuration in force (faults as at start; see [`Emulator::set_faults`]).
    pub fn config(&self) -> &EmulatorConfig {
        &self.shared.config
    }

    /// The tickets store (a cheap, thread-safe handle); any object type's is
    /// [`Emulator::store_for`].
    pub fn tickets(&self) -> &Store {
        self.shared.store()
    }

    /// The tickets store, under a name that read as "the whole store".
    #[deprecated(note = "the tickets store: use tickets(), or store_for(\"tickets\")")]
    pub fn store(&self) -> &Store {
        self.tickets()
    }

    /// The store of an object type given by name (`contacts`), object type id (`0-1`,
    /// `2-123`) or fully qualified name (`p_2418337_cars`); `None` if not served.
    pub fn store_for(&self, object_type: &str) -> Option<&Store> {
        self.shared.objects.resolve(object_type).map(|e| &e.store)
    }

    /// A copy of the counters and the recent request log.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.snapshot()
    }

    /// OAuth access tokens the token endpoint granted (see
    /// [`EmulatorConfig::with_oauth_app`]), and refreshes it refused.
    pub fn oauth_grants(&self) -> (u64, u64) {
        (self.shared.oauth.grants(), self.shared.oauth.refused())
    }

    /// Expires every OAuth access token issued so far, at once (HubSpot ending tokens
    /// before the time it announced: a revocation, a clock running ahead). Requests with
    /// them get the expired-token 401; refresh tokens keep working.
    pub fn expire_access_tokens(&self) {
        self.shared.oauth.expire_all();
    }

    /// Empties the store, the counters and the rate-limit windows, and re-seeds the
    /// fault RNG (so the fault sequence starts over).
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Replaces the fault configuration (and re-seeds the RNG with its seed).
    pub fn set_faults(&self, faults: FaultConfig) -> Result<(), EmulatorError> {
        faults.validate().map_err(EmulatorError::Config)?;
        self.shared.control().faults = faults::FaultEngine::new(faults);
        Ok(())
    }

    /// Writes the state file now (no-op without one).
    pub fn save_state(&self) -> Result<(), EmulatorError> {
        if let Some(path) = &self.shared.config.state_file {
            state::save(&self.shared.objects, path).map_err(|source| EmulatorError::State {
                path: path.clone(),
                source,
            })?;
            let records: usize = self.shared.objects.all().map(|e| e.store.count()).sum();
            tracing::info!(path = %path.display(), records, "state saved");
        }
        Ok(())
    }

    /// Stops accepting connections, lets in-flight requests finish (up to 2 s), and
    /// writes the state file if one is configured.
    pub async fn shutdown(mut self) -> Result<(), EmulatorError> {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.save_state()
    }
}

/// " (process N)", when the lock file named its holder.
fn holder_text(pid: Option<u32>) -> String {
    pid.map(|p| format!(" (process {p})")).unwrap_or_default()
}

/// Refuses a state file whose directory does not exist, or that is a directory, before
/// its lock file is created beside it.
fn check_state_dir(path: &std::path::Path) -> Result<(), EmulatorError> {
    let fail = |message: String| EmulatorError::StateNotWritable {
        path: path.to_path_buf(),
        message,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    if !dir.is_dir() {
        return Err(fail(format!("directory {} does not exist", dir.display())));
    }
    if path.is_dir() {
        return Err(fail("it is a directory".to_owned()));
    }
    Ok(())
}

/// Takes the state file's lock (see [`state::StateLock`]), or says who holds it.
fn lock_state(path: &std::path::Path) -> Result<Option<state::StateLock>, EmulatorError> {
    state::StateLock::acquire(path).map_err(|e| match e {
        state::LockError::Held(pid) => EmulatorError::StateInUse {
            path: path.to_path_buf(),
            lock: state::lock_path(path),
            pid,
        },
        state::LockError::Io(e) => EmulatorError::StateNotWritable {
            path: path.to_path_buf(),
            message: format!("cannot lock {}: {e}", state::lock_path(path).display()),
        },
    })
}

/// Fails now, rather than at shutdown, if the state file could not be saved: its
/// directory must take the temporary file that saving writes first.
fn check_state_writable(path: &std::path::Path) -> Result<(), EmulatorError> {
    let fail = |message: String| EmulatorError::StateNotWritable {
        path: path.to_path_buf(),
        message,
    };
    let tmp = store::temp_path(path);
    // Never remove a file we did not create (the temp path can be the state file itself).
    let tmp_existed = tmp.exists();
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&tmp)
        .map_err(|e| fail(format!("cannot create {}: {e}", tmp.display())))?;
    if !tmp_existed {
        let _ = std::fs::remove_file(&tmp);
    }
    if path.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| fail(e.to_string()))?;
    }
    Ok(())
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
