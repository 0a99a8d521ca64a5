//! What happened: per-record outcomes, the one-batch result, a bulk run's report, and
//! the counts of a run (live through [`Progress`], final in its summary).

pub(crate) mod progress;

pub use progress::{Counts, Progress};

use std::sync::Arc;

use hubspot_tickets_client::types::{InputError, UpsertedTicket};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Serialize;

use crate::bulk::Unread;
use crate::error::Failure;
use crate::records::RecordInput;

/// What happened to one input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// HubSpot created a ticket (`new: true`).
    Created {
        /// HubSpot's record id (`hs_object_id`).
        object_id: String,
    },
    /// HubSpot updated an existing ticket (`new: false`).
    Updated {
        /// HubSpot's record id (`hs_object_id`).
        object_id: String,
    },
    /// The record was refused (HubSpot's reason), could not be sent (invalid input),
    /// or its request failed after every retry. A failed request is not proof that
    /// nothing was written; resending is safe (upserts are idempotent).
    Failed {
        /// Why.
        reason: Arc<Failure>,
    },
    /// The record was not written and not judged: the run stopped before sending it
    /// (daily limit, cancellation, deadline, or an authentication failure that dooms
    /// every request), or HubSpot refused its request for the daily limit. Safe to
    /// send again later. (A record an earlier attempt may have written, through a lost
    /// answer, a timeout or a 5xx, is `Failed` with that reason instead.)
    NotAttempted {
        /// Why.
        reason: Arc<Failure>,
    },
    /// Not sent: the run's [`Journal`](crate::Journal) shows this very content written
    /// by an earlier run, and nothing since made that uncertain
    /// ([`Decision::AlreadyWritten`](crate::resume::Decision::AlreadyWritten)).
    AlreadyWritten,
}

impl Outcome {
    /// `Created` or `Updated`.
    pub fn is_written(&self) -> bool {
        matches!(self, Self::Created { .. } | Self::Updated { .. })
    }

    /// Whether HubSpot holds the record as the input has it: written by this run, or
    /// by an earlier one (`AlreadyWritten`).
    pub fn is_done(&self) -> bool {
        self.is_written() || *self == Self::AlreadyWritten
    }

    /// HubSpot's record id, when written.
    pub fn object_id(&self) -> Option<&str> {
        match self {
            Self::Created { object_id } | Self::Updated { object_id } => Some(object_id),
            _ => None,
        }
    }

    /// The reason, when not written.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Self::Failed { reason } | Self::NotAttempted { reason } => Some(reason),
            _ => None,
        }
    }
}

/// One input's outcome, with where it was in the input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RecordOutcome {
    /// 0-based index of the input (in the stream for bulk runs, in the `Vec` for
    /// [`Client::upsert_batch`](crate::Client::upsert_batch)).
    pub position: u64,
    /// The input's id (the unique property value).
    pub id: String,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// When an earlier input of the same call or run had the same id (`idProperty` and
    /// value): that input's position. This record was written after it, so its values
    /// win. Always set by [`Client::upsert_batch`](crate::Client::upsert_batch); in a
    /// bulk run, set while the earlier input was still waiting or in flight (about the
    /// last `(max_concurrency + 1) × 100` records); repeats further apart are written
    /// in input order too, unflagged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat_of: Option<u64>,
    /// The input itself, when the run was asked to hand inputs back
    /// ([`BulkUpsert::return_inputs`](crate::bulk::BulkUpsert::return_inputs)).
    #[serde(skip)]
    input: Option<Box<RecordInput>>,
}

impl RecordOutcome {
    pub(crate) fn new(position: u64, id: String, outcome: Outcome) -> Self {
        Self {
            position,
            id,
            outcome,
            repeat_of: None,
            input: None,
        }
    }

    pub(crate) fn with_input(mut self, input: RecordInput) -> Self {
        self.input = Some(Box::new(input));
        self
    }

    /// The input, when the run hands inputs back (ready to send again: a
    /// trace id the client assigned is removed).
    pub fn input(&self) -> Option<&RecordInput> {
        self.input.as_deref()
    }

    /// Takes the input out, when the run hands inputs back.
    pub fn take_input(&mut self) -> Option<RecordInput> {
        self.input.take().map(|b| *b)
    }
}

/// The result of [`Client::upsert_batch`](crate::Client::upsert_batch): one outcome per
/// input, plus HubSpot's raw results and per-input errors (a 207's `errors`) and the
/// last answer's status and headers.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct BatchOutcome {
    /// One per input, in input order.
    pub records: Vec<RecordOutcome>,
    /// The tickets HubSpot wrote, as it described them (all answers of this call).
    pub results: Vec<UpsertedTicket>,
    /// HubSpot's per-input errors (207), as it sent them.
    pub errors: Vec<InputError>,
    /// Status of the last answer (200, 207...), if a request was sent.
    pub status: Option<StatusCode>,
    /// Headers of the last answer (rate-limit headers, correlation id...).
    pub headers: HeaderMap,
    /// Requests sent, retries and bisection included.
    pub requests: u32,
}

impl BatchOutcome {
    /// Records created.
    pub fn created(&self) -> impl Iterator<Item = &RecordOutcome> {
        self.records
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Created { .. }))
    }

    /// Records updated.
    pub fn updated(&self) -> impl Iterator<Item = &RecordOutcome> {
        self.records
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Updated { .. }))
    }

    /// Records not written (failed or not attempted).
    pub fn failed(&self) -> impl Iterator<Item = &RecordOutcome> {
        self.records.iter().filter(|r| !r.outcome.is_written())
    }

    /// Whether every record was written.
    pub fn all_written(&self) -> bool {
        self.records.iter().all(|r| r.outcome.is_written())
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
