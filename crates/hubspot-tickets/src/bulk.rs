//! Bulk upsert: any number of records, streamed through concurrent batches.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, Stream, StreamExt};
use hubspot_tickets_client::types::TicketUpsertInput;
use tokio::time::Sleep;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::client::{Client, MAX_BATCH};
use crate::engine::{Job, Op, run_job};
use crate::error::Failure;
use crate::outcomes::progress::Progress;
use crate::outcomes::{Outcome, RecordOutcome};
use crate::records::TicketInput;

type Input<'a> = Pin<Box<dyn Stream<Item = TicketInput> + Send + 'a>>;

/// A bulk upsert, ready to run. Made by [`Client::bulk_upsert`] or
/// [`Client::bulk_upsert_iter`]; run it with [`outcomes`](Self::outcomes) (a stream,
/// the primary interface), [`report`](Self::report) or [`summary`](Self::summary).
///
/// What a run guarantees:
/// * records are sent in batches of at most 100, up to `max_concurrency` at once
///   (one until the first answer, so a bad token costs a single request),
///   within the rate limit; memory holds about `(max_concurrency + 1) × 100` records
///   (plus up to as many records waiting behind an earlier write of the same id);
/// * no batch holds two inputs for the same ticket (same `idProperty` and id), and two
///   writes of one ticket are never in flight at once: they are sent in input order,
///   so the later input wins;
/// * every input appears exactly once in the outcomes, with its 0-based position;
/// * the daily limit, an authentication failure, cancellation or the deadline stop
///   new requests: the rest of the input is still read and each record reported
///   [`NotAttempted`](crate::Outcome::NotAttempted) (drop the stream to stop reading).
#[must_use = "a bulk upsert does nothing until its outcomes are polled"]
pub struct BulkUpsert<'a> {
    client: Client,
    input: Input<'a>,
    progress: Progress,
    cancel: Option<CancellationToken>,
    deadline: Option<Duration>,
}

impl std::fmt::Debug for BulkUpsert<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkUpsert")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl<'a> BulkUpsert<'a> {
    pub(crate) fn new(client: Client, input: Input<'a>) -> Self {
        let deadline = client.inner.cfg.deadline;
        Self {
            client,
            input,
            progress: Progress::new(),
            cancel: None,
            deadline,
        }
    }

    /// Report live counts into `progress` (for a progress bar).
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Stop when `token` is cancelled: no new request starts, requests in flight
    /// finish, the rest is reported `NotAttempted`.
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
    /// known (completion order; [`RecordOutcome::position`] gives input order).
    pub fn outcomes(self) -> BulkOutcomes<'a> {
        let inner = Arc::clone(&self.client.inner);
        let concurrency = inner.cfg.max_concurrency;
        let linger = inner.cfg.batch_linger;
        let op = Arc::new(Op::new(
            inner,
            self.deadline,
            self.cancel.as_ref(),
            self.progress,
        ));
        BulkOutcomes {
            stop_signal: Box::pin(op.stop.clone().cancelled_owned()),
            deadline: op.deadline.map(|d| Box::pin(tokio::time::sleep_until(d))),
            op,
            input: Some(self.input),
            next_position: 0,
            open: OpenBatch::default(),
            linger: None,
            linger_for: linger,
            keys: HashMap::default(),
            deferred: VecDeque::new(),
            deferred_cap: concurrency * MAX_BATCH,
            promote_needed: false,
            in_flight: FuturesUnordered::new(),
            concurrency,
            warmed_up: false,
            ready: VecDeque::new(),
            stopping: None,
            finished: false,
        }
    }

    /// Runs to the end and returns every outcome, sorted by position, with a summary.
    /// Holds every outcome in memory: for large runs prefer
    /// [`outcomes`](Self::outcomes) or [`summary`](Self::summary).
    pub async fn report(self) -> BulkReport {
        let mut stream = self.outcomes();
        let mut outcomes = Vec::new();
        while let Some(o) = stream.next().await {
            outcomes.push(o);
        }
        outcomes.sort_by_key(|o| o.position);
        BulkReport {
            outcomes,
            summary: stream.summary(),
        }
    }

    /// Runs to the end keeping only the counts.
    pub async fn summary(self) -> BulkSummary {
        let mut stream = self.outcomes();
        while stream.next().await.is_some() {}
        stream.summary()
    }
}

/// Counts of a finished (or running) bulk run.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BulkSummary {
    /// Records read from the input.
    pub total: u64,
    /// Created.
    pub created: u64,
    /// Updated.
    pub updated: u64,
    /// Failed.
    pub failed: u64,
    /// Not attempted.
    pub not_attempted: u64,
    /// HTTP requests sent.
    pub requests: u64,
    /// Requests that were retries.
    pub retries: u64,
    /// 429 answers received.
    pub rate_limited: u64,
    /// Run time.
    pub elapsed: Duration,
    /// Why the run stopped early (daily limit, cancellation, deadline, auth), if it did.
    pub stopped: Option<Arc<Failure>>,
}

impl BulkSummary {
    /// Whether every record was written.
    pub fn all_written(&self) -> bool {
        self.created + self.updated == self.total
    }
}

/// Every outcome of a bulk run, by position, and its summary.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BulkReport {
    /// One per input, sorted by position.
    pub outcomes: Vec<RecordOutcome>,
    /// The counts.
    pub summary: BulkSummary,
}

impl BulkReport {
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

#[derive(Default)]
struct OpenBatch {
    inputs: Vec<TicketUpsertInput>,
    positions: Vec<u64>,
    keys: Vec<u64>,
}

impl OpenBatch {
    fn len(&self) -> usize {
        self.inputs.len()
    }
    fn push(&mut self, position: u64, key: u64, input: TicketUpsertInput) {
        if self.inputs.capacity() == 0 {
            self.inputs.reserve_exact(MAX_BATCH);
            self.positions.reserve_exact(MAX_BATCH);
            self.keys.reserve_exact(MAX_BATCH);
        }
        self.inputs.push(input);
        self.positions.push(position);
        self.keys.push(key);
    }
}

struct KeyState {
    /// A record with this key is in the open batch or in flight.
    active: bool,
    /// Records with this key waiting in `deferred`.
    deferred: u32,
}

struct Deferred {
    position: u64,
    key: u64,
    input: TicketUpsertInput,
}

struct Done {
    outcomes: Vec<RecordOutcome>,
    keys: Vec<u64>,
}

/// The outcome stream of a bulk run (see [`BulkUpsert`]). Dropping it cancels the
/// requests in flight.
#[must_use = "streams do nothing unless polled"]
pub struct BulkOutcomes<'a> {
    op: Arc<Op>,
    input: Option<Input<'a>>,
    next_position: u64,
    open: OpenBatch,
    linger: Option<Pin<Box<Sleep>>>,
    linger_for: Duration,
    keys: HashMap<u64, KeyState, foldhash::fast::RandomState>,
    deferred: VecDeque<Deferred>,
    deferred_cap: usize,
    promote_needed: bool,
    in_flight: FuturesUnordered<BoxFuture<'static, Done>>,
    concurrency: usize,
    /// Whether a batch has finished: until then only one is sent, so that a bad token
    /// costs one request and the rate-limit headers are known before fanning out.
    warmed_up: bool,
    ready: VecDeque<RecordOutcome>,
    stop_signal: Pin<Box<WaitForCancellationFutureOwned>>,
    deadline: Option<Pin<Box<Sleep>>>,
    stopping: Option<Arc<Failure>>,
    finished: bool,
}

impl std::fmt::Debug for BulkOutcomes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkOutcomes")
            .field("in_flight", &self.in_flight.len())
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

/// A record's key (its id property and id) as a number. Two keys sharing a number only
/// make one wait for the other, so a fast hash will do (SipHash was a visible cost).
fn key_of(input: &TicketUpsertInput) -> u64 {
    foldhash::fast::FixedState::default().hash_one((&input.id_property, &input.id))
}

impl BulkOutcomes<'_> {
    /// The live counters of this run.
    pub fn progress(&self) -> &Progress {
        &self.op.progress
    }

    /// Counts so far (final once the stream has ended).
    pub fn summary(&self) -> BulkSummary {
        let s = self.op.progress.snapshot();
        BulkSummary {
            total: s.submitted,
            created: s.created,
            updated: s.updated,
            failed: s.failed,
            not_attempted: s.not_attempted,
            requests: s.requests,
            retries: s.retries,
            rate_limited: s.rate_limited,
            elapsed: s.elapsed,
            stopped: self.stopping.clone(),
        }
    }

    fn emit(&mut self, o: RecordOutcome) {
        self.op.progress.record(&o.outcome);
        self.ready.push_back(o);
    }

    fn complete(&mut self, done: Done) {
        self.warmed_up = true;
        for k in done.keys {
            if let Entry::Occupied(mut e) = self.keys.entry(k) {
                let st = e.get_mut();
                st.active = false;
                if st.deferred == 0 {
                    e.remove();
                } else {
                    self.promote_needed = true;
                }
            }
        }
        for o in done.outcomes {
            self.emit(o);
        }
    }

    /// Reads one input record into the pipeline.
    fn accept(&mut self, item: TicketInput) -> bool {
        let position = self.next_position;
        self.next_position += 1;
        self.op.progress.submitted();
        match self.op.client.prepare(item) {
            Err((id, reason)) => {
                self.emit(RecordOutcome {
                    position,
                    id,
                    outcome: Outcome::Failed { reason },
                });
                false
            }
            Ok(input) => {
                let key = key_of(&input);
                match self.keys.entry(key) {
                    Entry::Occupied(mut e) => {
                        e.get_mut().deferred += 1;
                        self.deferred.push_back(Deferred {
                            position,
                            key,
                            input,
                        });
                    }
                    Entry::Vacant(e) => {
                        e.insert(KeyState {
                            active: true,
                            deferred: 0,
                        });
                        self.open.push(position, key, input);
                    }
                }
                true
            }
        }
    }

    /// Moves deferred records whose earlier write has finished into the open batch.
    fn promote(&mut self) {
        self.promote_needed = false;
        let mut i = 0;
        while i < self.deferred.len() {
            if self.open.len() >= MAX_BATCH {
                self.promote_needed = true;
                break;
            }
            let key = self.deferred[i].key;
            let Some(st) = self.keys.get_mut(&key) else {
                i += 1;
                continue;
            };
            if st.active {
                i += 1;
                continue;
            }
            st.active = true;
            st.deferred = st.deferred.saturating_sub(1);
            if let Some(d) = self.deferred.remove(i) {
                self.open.push(d.position, d.key, d.input);
            }
        }
    }

    fn dispatch(&mut self) {
        let batch = std::mem::take(&mut self.open);
        self.linger = None;
        let op = Arc::clone(&self.op);
        let keys = batch.keys;
        let job = Job {
            inputs: batch.inputs,
            positions: batch.positions,
        };
        self.in_flight.push(Box::pin(async move {
            let res = run_job(&op, job, false).await;
            Done {
                outcomes: res.outcomes,
                keys,
            }
        }));
    }

    fn should_dispatch(&mut self, cx: &mut Context<'_>) -> bool {
        let limit = if self.warmed_up { self.concurrency } else { 1 };
        if self.open.len() == 0 || self.in_flight.len() >= limit {
            return false;
        }
        if self.open.len() >= MAX_BATCH
            || self.input.is_none()
            || self.deferred.len() >= self.deferred_cap
        {
            return true;
        }
        let linger_for = self.linger_for;
        let linger = self
            .linger
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(linger_for)));
        linger.as_mut().poll(cx).is_ready()
    }

    fn begin_stop(&mut self, reason: Arc<Failure>) {
        self.stopping = Some(Arc::clone(&reason));
        self.linger = None;
        let open = std::mem::take(&mut self.open);
        let deferred = std::mem::take(&mut self.deferred);
        self.keys.clear();
        let mut pending: Vec<(u64, TicketUpsertInput)> = open
            .positions
            .into_iter()
            .zip(open.inputs)
            .chain(deferred.into_iter().map(|d| (d.position, d.input)))
            .collect();
        pending.sort_by_key(|p| p.0);
        for (position, input) in pending {
            self.emit(RecordOutcome {
                position,
                id: input.id,
                outcome: Outcome::NotAttempted {
                    reason: Arc::clone(&reason),
                },
            });
        }
    }
}

impl Stream for BulkOutcomes<'_> {
    type Item = RecordOutcome;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<RecordOutcome>> {
        let this = self.get_mut();
        loop {
            if let Some(o) = this.ready.pop_front() {
                return Poll::Ready(Some(o));
            }
            if this.finished {
                return Poll::Ready(None);
            }
            let mut progressed = false;

            while let Poll::Ready(Some(done)) = this.in_flight.poll_next_unpin(cx) {
                this.complete(done);
                progressed = true;
            }

            if this.stopping.is_none() {
                if let Some(d) = this.deadline.as_mut()
                    && d.as_mut().poll(cx).is_ready()
                {
                    this.op.stop_with(Op::deadline_failure());
                }
                let _ = this.stop_signal.as_mut().poll(cx);
                if let Some(reason) = this.op.stop_reason() {
                    this.begin_stop(reason);
                    progressed = true;
                }
            }
            if !this.ready.is_empty() {
                continue;
            }

            if let Some(reason) = this.stopping.clone() {
                // Report the rest of the input as not attempted, one record at a time.
                if let Some(input) = this.input.as_mut() {
                    match input.as_mut().poll_next(cx) {
                        Poll::Ready(Some(item)) => {
                            let position = this.next_position;
                            this.next_position += 1;
                            this.op.progress.submitted();
                            this.emit(RecordOutcome {
                                position,
                                id: item.inner.id,
                                outcome: Outcome::NotAttempted { reason },
                            });
                            continue;
                        }
                        Poll::Ready(None) => {
                            this.input = None;
                            progressed = true;
                        }
                        Poll::Pending => {}
                    }
                }
            } else {
                if this.promote_needed {
                    this.promote();
                }
                while this.open.len() < MAX_BATCH && this.deferred.len() < this.deferred_cap {
                    let Some(input) = this.input.as_mut() else {
                        break;
                    };
                    match input.as_mut().poll_next(cx) {
                        Poll::Ready(Some(item)) => {
                            progressed = true;
                            if !this.accept(item) {
                                break;
                            }
                        }
                        Poll::Ready(None) => {
                            this.input = None;
                            progressed = true;
                        }
                        Poll::Pending => break,
                    }
                }
                if this.should_dispatch(cx) {
                    this.dispatch();
                    progressed = true;
                }
            }

            if this.input.is_none()
                && this.open.len() == 0
                && this.deferred.is_empty()
                && this.in_flight.is_empty()
                && this.ready.is_empty()
            {
                this.finished = true;
                return Poll::Ready(None);
            }
            if !progressed && this.ready.is_empty() {
                return Poll::Pending;
            }
        }
    }
}
