//! Live counters for progress bars.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::outcomes::Outcome;

/// Shared live counters of a bulk run (cheap to clone; all clones see the same
/// numbers). Pass one to [`BulkUpsert::with_progress`](crate::BulkUpsert::with_progress)
/// and read [`Progress::snapshot`] from a timer to draw a progress bar.
#[derive(Clone, Debug)]
pub struct Progress(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    read: AtomicU64,
    /// The expected number of records, or `u64::MAX` when unknown.
    total: AtomicU64,
    created: AtomicU64,
    updated: AtomicU64,
    failed: AtomicU64,
    not_attempted: AtomicU64,
    skipped: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    locked: AtomicU64,
    peak_in_flight: AtomicU64,
    started: OnceLock<Instant>,
}

/// A point-in-time copy of [`Progress`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProgressSnapshot {
    /// Records read from the input so far.
    pub read: u64,
    /// How many records the input is expected to hold, when known: "`done()` of
    /// `total`" progress.
    pub total: Option<u64>,
    /// Records created.
    pub created: u64,
    /// Records updated.
    pub updated: u64,
    /// Records failed.
    pub failed: u64,
    /// Records not attempted.
    pub not_attempted: u64,
    /// Records not sent because the run's journal shows them written before
    /// ([`Outcome::AlreadyWritten`]).
    pub skipped: u64,
    /// HTTP requests sent (retries included).
    pub requests: u64,
    /// Requests that were retries (after a 429, 5xx, timeout or connection error).
    pub retries: u64,
    /// 429 answers received.
    pub rate_limited: u64,
    /// 423 Locked answers received (HubSpot locked the object type for a moment; the
    /// batch waited and was sent again).
    pub locked: u64,
    /// The most requests this run had in flight at once (the in-flight window adapts to
    /// the rate limit and HubSpot's answer times).
    pub peak_in_flight: u64,
    /// Time since the run started.
    pub elapsed: Duration,
}

impl ProgressSnapshot {
    /// Records written (created or updated).
    pub fn written(&self) -> u64 {
        self.created + self.updated
    }

    /// Records with a final outcome.
    pub fn done(&self) -> u64 {
        self.created + self.updated + self.failed + self.not_attempted + self.skipped
    }

    /// Records written (created or updated) per second since the start.
    pub fn records_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.written() as f64 / secs
        } else {
            0.0
        }
    }

    /// Requests per second since the start.
    pub fn requests_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.requests as f64 / secs
        } else {
            0.0
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    /// New counters at zero.
    pub fn new() -> Self {
        Self(Arc::new(Counters {
            total: AtomicU64::new(u64::MAX),
            ..Counters::default()
        }))
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> ProgressSnapshot {
        let c = &self.0;
        ProgressSnapshot {
            read: c.read.load(Relaxed),
            total: Some(c.total.load(Relaxed)).filter(|t| *t != u64::MAX),
            created: c.created.load(Relaxed),
            updated: c.updated.load(Relaxed),
            failed: c.failed.load(Relaxed),
            not_attempted: c.not_attempted.load(Relaxed),
            skipped: c.skipped.load(Relaxed),
            requests: c.requests.load(Relaxed),
            retries: c.retries.load(Relaxed),
            rate_limited: c.rate_limited.load(Relaxed),
            locked: c.locked.load(Relaxed),
            peak_in_flight: c.peak_in_flight.load(Relaxed),
            elapsed: c.started.get().map(Instant::elapsed).unwrap_or_default(),
        }
    }

    pub(crate) fn start(&self) {
        let _ = self.0.started.set(Instant::now());
    }
    pub(crate) fn read(&self) {
        self.0.read.fetch_add(1, Relaxed);
    }
    pub(crate) fn set_total(&self, total: Option<u64>) {
        self.0.total.store(total.unwrap_or(u64::MAX), Relaxed);
    }
    pub(crate) fn request(&self, retry: bool) {
        self.0.requests.fetch_add(1, Relaxed);
        if retry {
            self.0.retries.fetch_add(1, Relaxed);
        }
    }
    pub(crate) fn rate_limited(&self) {
        self.0.rate_limited.fetch_add(1, Relaxed);
    }
    pub(crate) fn locked(&self) {
        self.0.locked.fetch_add(1, Relaxed);
    }
    pub(crate) fn in_flight(&self, n: usize) {
        self.0
            .peak_in_flight
            .fetch_max(u64::try_from(n).unwrap_or(u64::MAX), Relaxed);
    }
    pub(crate) fn record(&self, outcome: &Outcome) {
        let c = match outcome {
            Outcome::Created { .. } => &self.0.created,
            Outcome::Updated { .. } => &self.0.updated,
            Outcome::Failed { .. } => &self.0.failed,
            Outcome::NotAttempted { .. } => &self.0.not_attempted,
            Outcome::AlreadyWritten => &self.0.skipped,
        };
        c.fetch_add(1, Relaxed);
    }
}
