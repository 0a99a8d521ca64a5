//! Live counters for progress bars, and the one type for a run's counts.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::error::Failure;
use crate::outcomes::Outcome;

/// Shared live counters of a bulk run (cheap to clone; all clones see the same
/// numbers). Pass one to [`BulkUpsert::with_progress`](crate::bulk::BulkUpsert::with_progress)
/// and read [`Progress::snapshot`] from a timer to draw a progress bar.
#[derive(Clone, Debug, Default)]
pub struct Progress(Arc<Live>);

#[derive(Debug, Default)]
struct Live {
    /// The counts themselves, the type a snapshot returns (its `elapsed` is filled in
    /// then). A lock costs tens of nanoseconds per record, beside a request's
    /// milliseconds.
    counts: Mutex<Counts>,
    started: OnceLock<Instant>,
}

/// The counts of a bulk run: live from [`Progress::snapshot`], final in a run's
/// summary ([`BulkOutcomes::summary`](crate::bulk::BulkOutcomes::summary),
/// [`BulkReport::summary`](crate::BulkReport)). One type for both, so a progress line
/// and an end-of-run table read the same fields.
///
/// `Display` is one line: `1000 records: 990 created, 5 updated, 3 failed, 2 not
/// attempted; 11 requests (1 retry, 0 × 429) in 1.2 s` (with `, N × 423` after the 429s
/// when HubSpot answered any 423 Locked).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counts {
    /// Records read from the input so far.
    pub read: u64,
    /// How many records the input is expected to hold, when known (an exact size hint,
    /// or [`BulkUpsert::total`](crate::bulk::BulkUpsert::total)): "`done()` of `total`".
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
    /// Why the run stopped early (daily limit, cancellation, deadline, auth), in a
    /// run's summary; a live snapshot leaves it `None`.
    pub stopped: Option<Arc<Failure>>,
}

impl Counts {
    /// Records written (created or updated).
    pub fn written(&self) -> u64 {
        self.created + self.updated
    }

    /// Records with a final outcome.
    pub fn done(&self) -> u64 {
        self.written() + self.failed + self.not_attempted + self.skipped
    }

    /// Whether every record read is written: by this run, or by an earlier one
    /// (skipped).
    pub fn all_written(&self) -> bool {
        self.written() + self.skipped == self.read
    }

    /// Records written (created or updated) per second since the start: records
    /// never sent do not count.
    pub fn records_per_second(&self) -> f64 {
        per_second(self.written(), self.elapsed)
    }

    /// Requests per second since the start.
    pub fn requests_per_second(&self) -> f64 {
        per_second(self.requests, self.elapsed)
    }
}

fn per_second(n: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", plural(self.read, "record", "records"))?;
        if self.skipped > 0 {
            write!(f, "{} written before, ", self.skipped)?;
        }
        write!(
            f,
            "{} created, {} updated, {} failed, {} not attempted; {} ({}, {} × 429",
            self.created,
            self.updated,
            self.failed,
            self.not_attempted,
            plural(self.requests, "request", "requests"),
            plural(self.retries, "retry", "retries"),
            self.rate_limited,
        )?;
        if self.locked > 0 {
            write!(f, ", {} × 423", self.locked)?;
        }
        write!(f, ") in {:.1} s", self.elapsed.as_secs_f64())?;
        if let Some(why) = &self.stopped {
            write!(f, "; stopped early: {why}")?;
        }
        Ok(())
    }
}

impl Progress {
    /// New counters at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> Counts {
        let mut counts = self.update(|c| c.clone());
        counts.elapsed = self
            .0
            .started
            .get()
            .map(Instant::elapsed)
            .unwrap_or_default();
        counts
    }

    fn update<T>(&self, f: impl FnOnce(&mut Counts) -> T) -> T {
        f(&mut crate::lock(&self.0.counts))
    }

    pub(crate) fn start(&self) {
        let _ = self.0.started.set(Instant::now());
    }
    pub(crate) fn read(&self) {
        self.update(|c| c.read += 1);
    }
    pub(crate) fn set_total(&self, total: Option<u64>) {
        self.update(|c| c.total = total);
    }
    pub(crate) fn request(&self, retry: bool) {
        self.update(|c| {
            c.requests += 1;
            c.retries += u64::from(retry);
        });
    }
    pub(crate) fn rate_limited(&self) {
        self.update(|c| c.rate_limited += 1);
    }
    pub(crate) fn locked(&self) {
        self.update(|c| c.locked += 1);
    }
    pub(crate) fn in_flight(&self, n: usize) {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        self.update(|c| c.peak_in_flight = c.peak_in_flight.max(n));
    }
    pub(crate) fn record(&self, outcome: &Outcome) {
        self.update(|c| {
            *match outcome {
                Outcome::Created { .. } => &mut c.created,
                Outcome::Updated { .. } => &mut c.updated,
                Outcome::Failed { .. } => &mut c.failed,
                Outcome::NotAttempted { .. } => &mut c.not_attempted,
                Outcome::AlreadyWritten => &mut c.skipped,
            } += 1;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn display_is_one_line_with_every_count() {
        let mut s = Counts {
            read: 1000,
            total: Some(1000),
            created: 990,
            updated: 5,
            failed: 3,
            not_attempted: 2,
            skipped: 0,
            requests: 11,
            retries: 1,
            rate_limited: 0,
            locked: 0,
            peak_in_flight: 0,
            elapsed: Duration::from_millis(1250),
            stopped: None,
        };
        assert_eq!(
            s.to_string(),
            "1000 records: 990 created, 5 updated, 3 failed, 2 not attempted; 11 requests (1 retry, 0 × 429) in 1.2 s"
        );
        assert!(!s.all_written());
        s.stopped = Some(Arc::new(Failure::new(ErrorKind::Cancelled, "")));
        assert!(
            s.to_string()
                .ends_with("; stopped early: the operation was cancelled"),
            "{s}"
        );
    }
}
