//! A bulk run's report: every outcome, the counts, and the input left unread.

use crate::bulk::Unread;
use crate::outcomes::progress::Counts;
use crate::outcomes::{Outcome, RecordOutcome};

/// Every outcome of a bulk run, by position, its summary, and the input it did not
/// read.
#[derive(Debug)]
#[non_exhaustive]
pub struct BulkReport<'a> {
    /// One per record read from the input, sorted by position.
    pub outcomes: Vec<RecordOutcome>,
    /// The counts.
    pub summary: Counts,
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
