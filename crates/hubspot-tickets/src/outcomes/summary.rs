//! The counts of a bulk run: the live counters' names, plus why it stopped.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::bulk::Unread;
use crate::error::Failure;
use crate::outcomes::progress::ProgressSnapshot;
use crate::outcomes::{Outcome, RecordOutcome};

/// Counts of a finished (or running) bulk run. The counters have the same names and
/// meanings as [`ProgressSnapshot`]'s.
///
/// `Display` is one line: `1000 records: 990 created, 5 updated, 3 failed, 2 not
/// attempted; 11 requests (1 retry, 0 × 429) in 1.2 s` (with `, N × 423` after the 429s
/// when HubSpot answered any 423 Locked).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BulkSummary {
    /// Records read from the input.
    pub read: u64,
    /// How many records the input was expected to hold, when known (an exact size
    /// hint, or [`BulkUpsert::total`](crate::BulkUpsert::total)).
    pub total: Option<u64>,
    /// Created.
    pub created: u64,
    /// Updated.
    pub updated: u64,
    /// Failed.
    pub failed: u64,
    /// Not attempted.
    pub not_attempted: u64,
    /// Not sent: written by an earlier run, as the journal shows.
    pub skipped: u64,
    /// HTTP requests sent (retries included).
    pub requests: u64,
    /// Requests that were retries.
    pub retries: u64,
    /// 429 answers received.
    pub rate_limited: u64,
    /// 423 Locked answers received (waited out and retried).
    pub locked: u64,
    /// The most requests in flight at once.
    pub peak_in_flight: u64,
    /// Run time.
    pub elapsed: Duration,
    /// Why the run stopped early (daily limit, cancellation, deadline, auth), if it did.
    pub stopped: Option<Arc<Failure>>,
}

impl BulkSummary {
    pub(crate) fn new(s: ProgressSnapshot, stopped: Option<Arc<Failure>>) -> Self {
        Self {
            read: s.read,
            total: s.total,
            created: s.created,
            updated: s.updated,
            failed: s.failed,
            not_attempted: s.not_attempted,
            skipped: s.skipped,
            requests: s.requests,
            retries: s.retries,
            rate_limited: s.rate_limited,
            locked: s.locked,
            peak_in_flight: s.peak_in_flight,
            elapsed: s.elapsed,
            stopped,
        }
    }

    /// Records created or updated.
    pub fn written(&self) -> u64 {
        self.created + self.updated
    }

    /// Whether every record read is written: by this run, or by an earlier one
    /// (skipped).
    pub fn all_written(&self) -> bool {
        self.written() + self.skipped == self.read
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl fmt::Display for BulkSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}{} created, {} updated, {} failed, {} not attempted; {} ({}, {} × 429",
            plural(self.read, "record", "records"),
            if self.skipped > 0 {
                format!("{} written before, ", self.skipped)
            } else {
                String::new()
            },
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

/// Every outcome of a bulk run, by position, its summary, and the input it did not
/// read.
#[derive(Debug)]
#[non_exhaustive]
pub struct BulkReport<'a> {
    /// One per record read from the input, sorted by position.
    pub outcomes: Vec<RecordOutcome>,
    /// The counts.
    pub summary: BulkSummary,
    /// The rest of an input without an upper bound on its length, when the run stopped
    /// before reading it (a finite input's rest is in `outcomes`, `NotAttempted`).
    pub unread: Option<Unread<'a>>,
}

impl BulkReport<'_> {
    /// Records not written (failed or not attempted).
    pub fn not_written(&self) -> impl Iterator<Item = &RecordOutcome> {
        self.outcomes.iter().filter(|o| !o.outcome.is_written())
    }

    /// Records that failed.
    pub fn failed(&self) -> impl Iterator<Item = &RecordOutcome> {
        self.outcomes
            .iter()
            .filter(|o| matches!(o.outcome, Outcome::Failed { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn display_is_one_line_with_every_count() {
        let mut s = BulkSummary {
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
