//! Shared helpers for the workspace integration tests in `tests/tests/`.
//!
//! Every test starts its own emulator on an ephemeral loopback port, so tests run in
//! parallel without sharing state.
#![allow(clippy::panic)] // helpers for tests: a failed setup is a failed test

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hubspot_emulator::{Emulator, EmulatorConfig, FaultConfig, RateLimitConfig};
use hubspot_tickets::{Client, ClientBuilder, RateLimit, RecordInput, RetryPolicy};

/// The token the helpers configure on both sides.
pub const TOKEN: &str = "pat-na1-it-0123456789abcdef-secret";
/// The emulator's unique ticket property.
pub const ID_PROPERTY: &str = hubspot_emulator::DEFAULT_UNIQUE_PROPERTY;

/// An emulator config accepting [`TOKEN`], with a scaled rate window (`max` requests
/// per `window`) and no daily budget.
pub fn config(max: u32, window: Duration) -> EmulatorConfig {
    EmulatorConfig::default()
        .with_tokens([TOKEN])
        .with_rate_limit(RateLimitConfig::per_window(max, window))
}

/// [`config`] with faults.
pub fn config_with_faults(max: u32, window: Duration, faults: FaultConfig) -> EmulatorConfig {
    config(max, window).with_faults(faults)
}

/// Starts an emulator.
///
/// # Panics
/// If it cannot start (tests only).
pub async fn start(config: EmulatorConfig) -> Emulator {
    match Emulator::start(config).await {
        Ok(e) => e,
        Err(e) => panic!("emulator did not start: {e}"),
    }
}

/// A client builder for `emu`, with the same rate window as the emulator's, quick
/// retries and the emulator's unique property.
pub fn builder(emu: &Emulator, max: u32, window: Duration) -> ClientBuilder {
    Client::builder()
        .access_token(TOKEN)
        .base_url(emu.base_url())
        .id_property(ID_PROPERTY)
        .rate_limit(RateLimit::per_window(max, window))
        .retry(
            RetryPolicy::default()
                .initial_backoff(Duration::from_millis(20))
                .max_backoff(Duration::from_millis(500))
                .max_attempts(8),
        )
        .attempt_timeout(Duration::from_secs(10))
}

/// Builds a client.
///
/// # Panics
/// If the builder is refused (tests only).
pub fn build(b: ClientBuilder) -> Client {
    match b.build() {
        Ok(c) => c,
        Err(e) => panic!("client did not build: {e}"),
    }
}

/// `n` tickets `{prefix}-{i}` with a subject and a priority.
pub fn tickets(prefix: &str, range: std::ops::Range<usize>) -> Vec<RecordInput> {
    range
        .map(|i| {
            RecordInput::new(format!("{prefix}-{i}"))
                .property("subject", format!("Ticket {i}"))
                .property("hs_ticket_priority", ["LOW", "MEDIUM", "HIGH"][i % 3])
        })
        .collect()
}

/// A `tracing` writer that keeps everything logged, to check what logs contain.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Everything written so far.
    pub fn text(&self) -> String {
        let buf = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

impl Write for CapturedLogs {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Everything logged so far in this test binary, by every crate, at every level: the
/// process's global subscriber, installed at the first call.
pub fn global_trace_logs() -> &'static CapturedLogs {
    static LOGS: std::sync::OnceLock<CapturedLogs> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = CapturedLogs::default();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
            .with_ansi(false)
            .with_writer(logs.clone())
            .finish();
        // A test binary that installed its own first keeps it; these logs stay empty.
        let _ = tracing::subscriber::set_global_default(subscriber);
        logs
    })
}

/// A subscriber that records every `hubspot_tickets` event and span (all levels) into
/// `logs`; use with `tracing::subscriber::with_default` or `set_default`.
pub fn capture_subscriber(logs: CapturedLogs) -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("hubspot_tickets=trace"))
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .with_ansi(false)
        .with_writer(logs)
        .finish()
}
