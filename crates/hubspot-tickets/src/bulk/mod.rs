//! Bulk upsert: any number of records from a stream, through concurrent batches.
//!
//! [`Client::bulk_upsert`](crate::Client::bulk_upsert) returns a [`BulkUpsert`], a
//! run's settings; its [`outcomes`](BulkUpsert::outcomes) are a [`BulkOutcomes`]
//! stream, and a stopped run hands back what it did not read as [`Unread`].

pub(crate) mod batcher;
mod journaled;
mod stream;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{Stream, StreamExt};
/// Re-exported for [`BulkUpsert::with_cancellation`].
pub use tokio_util::sync::CancellationToken;

use crate::engine::{Engine, Op};
use crate::journal::Journal;
use crate::outcomes::progress::Progress;
use crate::outcomes::{BulkReport, Counts};
use crate::records::RecordInput;

pub use stream::BulkOutcomes;

/// The input a stopped bulk run did not read, handed back to its caller (see
/// [`BulkOutcomes::into_unread`]): a stream of the records from
/// [`position`](Self::position) on, in input order. Only an input with no upper bound
/// on its length leaves any; send it again, or say where it went.
#[must_use = "these records were neither sent nor reported: send them again or say where they went"]
pub struct Unread<'a> {
    input: Input<'a>,
    position: u64,
}

impl Unread<'_> {
    /// The position, in the run's input, of the first record not read.
    pub fn position(&self) -> u64 {
        self.position
    }
}

impl std::fmt::Debug for Unread<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unread")
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

impl Stream for Unread<'_> {
    type Item = RecordInput;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<RecordInput>> {
        self.input.as_mut().poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.input.size_hint()
    }
}

type Input<'a> = Pin<Box<dyn Stream<Item = RecordInput> + Send + 'a>>;

/// See [`BulkUpsert::before_send`].
type BeforeSend<'a> = Box<dyn FnMut(&[&str]) -> Result<(), String> + Send + 'a>;

/// A bulk upsert, ready to run. Made by [`Client::bulk_upsert`](crate::Client::bulk_upsert) or
/// [`Client::bulk_upsert_iter`](crate::Client::bulk_upsert_iter); run it with [`outcomes`](Self::outcomes) (a stream,
/// the primary interface), [`report`](Self::report) or [`summary`](Self::summary).
///
/// What a run guarantees:
/// * records are sent in batches of at most 100, up to `max_concurrency` at once
///   (one until HubSpot has accepted one, so a bad token, a wrong idProperty or a HubSpot failing everything costs a request or two),
///   within the rate limit; memory holds about `(max_concurrency + 1) × 100` records
///   (plus up to as many records waiting behind an earlier write of the same id);
/// * no batch holds two inputs for the same ticket (same `idProperty` and id), and two
///   writes of one ticket are never in flight at once: they are sent in input order,
///   so the later input wins;
/// * every input read appears exactly once in the outcomes, with its 0-based position;
/// * the daily limit, a refused token, scope or configuration, cancellation or the
///   deadline stop the run: no new request starts, the requests in flight finish,
///   and every record read but not sent is reported
///   [`NotAttempted`](crate::Outcome::NotAttempted). The rest of a finite input (one
///   whose size hint has an upper bound: a `Vec`, a slice, a range, a `map` of those)
///   is read to its end without being sent, each record reported `NotAttempted` too;
///   the rest of any other input is not read but handed back as [`Unread`] (by
///   [`BulkOutcomes::into_unread`], [`report`](Self::report) or
///   [`summary`](Self::summary)). Either way, outcomes plus the records handed back
///   are the input, and the summary's `read` counts the records taken from it.
#[must_use = "a bulk upsert does nothing until its outcomes are polled"]
pub struct BulkUpsert<'a> {
    engine: Arc<Engine>,
    input: Input<'a>,
    progress: Progress,
    cancel: Option<CancellationToken>,
    deadline: Option<Duration>,
    total: Option<u64>,
    return_inputs: bool,
    journal: Option<Journal>,
    before_send: Option<BeforeSend<'a>>,
    preflight: Option<crate::preflight::Preflight>,
}

impl std::fmt::Debug for BulkUpsert<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkUpsert")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl<'a> BulkUpsert<'a> {
    pub(crate) fn new(engine: Arc<Engine>, input: Input<'a>, total: Option<u64>) -> Self {
        let deadline = engine.settings.deadline;
        Self {
            engine,
            input,
            progress: Progress::new(),
            cancel: None,
            deadline,
            total,
            return_inputs: false,
            journal: None,
            before_send: None,
            preflight: None,
        }
    }

    /// How many records the input holds, for "N of M" progress
    /// ([`Counts::total`]). Taken from the
    /// input's size hint when that is exact (a `Vec`, a range...).
    pub fn total(mut self, records: u64) -> Self {
        self.total = Some(records);
        self
    }

    /// Hand each input back in its outcome ([`RecordOutcome::input`](crate::RecordOutcome::input)), so that records
    /// that were not written can be sent again without keeping a copy of the input.
    /// Memory then holds the inputs of the outcomes you have not yet consumed.
    pub fn return_inputs(mut self, on: bool) -> Self {
        self.return_inputs = on;
        self
    }

    /// Keep a journal of the run, and resume from what it already holds: every input
    /// the journal shows written with the same content is skipped
    /// ([`Outcome::AlreadyWritten`](crate::Outcome::AlreadyWritten), counted in
    /// `skipped`), and every other outcome is appended to it as one line, flushed after
    /// each batch, with the input's position in this run's input. Resuming compares
    /// content, never positions (see [`Resume`](crate::resume::Resume)), so the input may be
    /// another file, or the same one edited. A failed write to the journal stops the run
    /// ([`ErrorKind::Journal`](crate::ErrorKind::Journal)); the journal's lock is held until
    /// the outcome stream ends or is dropped.
    ///
    /// ```no_run
    /// use hubspot_tickets::{Client, Journal, RecordInput, journal::Scope};
    ///
    /// # async fn run(client: Client, inputs: Vec<RecordInput>) -> Result<(), Box<dyn std::error::Error>> {
    /// // After a crash, a kill or a stop, the same two lines finish the job.
    /// let journal = Journal::open("sync.journal", &Scope::of(&client))?;
    /// let (summary, _) = client.bulk_upsert_iter(inputs).journal(journal).summary().await;
    /// println!("{summary}"); // "... N written before, ..."
    /// # Ok(()) }
    /// ```
    pub fn journal(mut self, journal: Journal) -> Self {
        self.journal = Some(journal);
        self
    }

    /// Calls `hook` with the ids of each batch just before it is sent (for a journal of
    /// one's own: a [`Journal`] given to [`journal`](Self::journal) does this itself).
    /// An `Err` stops the run ([`ErrorKind::Journal`](crate::ErrorKind::Journal), with
    /// its text), and that batch is not sent.
    pub fn before_send(
        mut self,
        hook: impl FnMut(&[&str]) -> Result<(), String> + Send + 'a,
    ) -> Self {
        self.before_send = Some(Box::new(hook));
        self
    }

    /// Check every record against the portal's property definitions before it is
    /// batched: one that fails is reported
    /// [`Failed`](crate::Outcome::Failed) as invalid input with every reason, and never
    /// sent; the rest go on. Build the [`Preflight`](crate::preflight::Preflight) from
    /// [`Client::property_definitions`](crate::Client::property_definitions): making it
    /// checks the `idProperty` and the columns, so a run that could write nothing stops
    /// before it starts.
    pub fn preflight(mut self, preflight: crate::preflight::Preflight) -> Self {
        self.preflight = Some(preflight);
        self
    }

    /// Report live counts into `progress` (for a progress bar).
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Stop when `token` is cancelled: no new request starts, requests in flight
    /// finish, the rest of a finite input is reported `NotAttempted` and the rest of
    /// any other is handed back ([`Unread`]).
    pub fn with_cancellation(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Whole-run deadline, counted from [`outcomes`](Self::outcomes) (overrides the
    /// client's).
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = Some(d);
        self
    }

    /// The live counters of this run.
    pub fn progress(&self) -> Progress {
        self.progress.clone()
    }

    /// Starts the run: a stream yielding each input's outcome once, as soon as it is
    /// known (completion order; [`RecordOutcome::position`](crate::RecordOutcome::position)
    /// gives input order).
    pub fn outcomes(self) -> BulkOutcomes<'a> {
        self.progress.set_total(self.total);
        let mut op = Op::new(
            self.engine,
            self.deadline,
            self.cancel.as_ref(),
            self.progress,
        );
        op.return_inputs = self.return_inputs;
        let fingerprint_name = crate::journal::Scope::new(
            &op.engine.settings.route.object_type,
            op.engine.settings.id_property.clone(),
        )
        .fingerprint_name();
        let journal = self
            .journal
            .map(|j| journaled::Sink::new(j, fingerprint_name));
        BulkOutcomes::new(op, self.input, journal, self.before_send).with_preflight(self.preflight)
    }

    /// Runs to the end and returns every outcome, sorted by position, with a summary
    /// and the input a stopped run did not read (see [`Unread`]). Holds every outcome
    /// in memory: for large runs prefer [`outcomes`](Self::outcomes) or
    /// [`summary`](Self::summary).
    #[must_use = "the report holds every outcome, and the unread input of a stopped run"]
    pub async fn report(self) -> BulkReport<'a> {
        let mut stream = self.outcomes();
        let mut outcomes = Vec::new();
        while let Some(o) = stream.next().await {
            outcomes.push(o);
        }
        outcomes.sort_by_key(|o| o.position);
        BulkReport {
            outcomes,
            summary: stream.summary(),
            unread: stream.into_unread(),
        }
    }

    /// Runs to the end keeping only the counts, and hands back the input a stopped run
    /// did not read (see [`Unread`]; always `None` for a finite input).
    #[must_use = "its second half is the unread input of a stopped run: send it again or say where it went"]
    pub async fn summary(self) -> (Counts, Option<Unread<'a>>) {
        let mut stream = self.outcomes();
        while stream.next().await.is_some() {}
        (stream.summary(), stream.into_unread())
    }
}
