//! The outcome stream of a bulk run: reads the input into the batcher, sends batches
//! through the engine (one until HubSpot has accepted one, then up to `max_concurrency`), and
//! yields each record's outcome once.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, Stream, StreamExt};
use tokio::time::Sleep;
use tokio_util::sync::WaitForCancellationFutureOwned;

use crate::bulk::batcher::Batcher;
use crate::bulk::journaled::Sink;
use crate::bulk::{Input, Unread};
use crate::engine::{MAX_BATCH, Op, run_job};
use crate::error::Failure;
use crate::outcomes::progress::Progress;
use crate::outcomes::{Outcome, RecordOutcome};
use crate::records::RecordInput;

struct Done {
    outcomes: Vec<RecordOutcome>,
    keys: Vec<u64>,
}

/// The outcome stream of a bulk run (see [`BulkUpsert`](crate::bulk::BulkUpsert)). Dropping
/// it cancels the requests in flight.
#[must_use = "streams do nothing unless polled"]
pub struct BulkOutcomes<'a> {
    op: Arc<Op>,
    input: Option<Input<'a>>,
    /// The rest of an input without an upper bound on its length, once the run stopped:
    /// handed back by [`BulkOutcomes::into_unread`].
    unread: Option<Input<'a>>,
    next_position: u64,
    batcher: Batcher,
    linger: Option<Pin<Box<Sleep>>>,
    linger_for: Duration,
    /// Repeats seen while their earlier record was still here: position → the earlier
    /// record's position, until the repeat's outcome is out.
    repeats: HashMap<u64, u64, foldhash::fast::RandomState>,
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
    journal: Option<Sink>,
    before_send: Option<super::BeforeSend<'a>>,
    /// Checks each record against the portal's property definitions before it is
    /// batched ([`BulkUpsert::preflight`](super::BulkUpsert::preflight)).
    preflight: Option<crate::preflight::Preflight>,
}

impl std::fmt::Debug for BulkOutcomes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkOutcomes")
            .field("in_flight", &self.in_flight.len())
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<'a> BulkOutcomes<'a> {
    pub(super) fn new(
        op: Op,
        input: Input<'a>,
        journal: Option<Sink>,
        before_send: Option<super::BeforeSend<'a>>,
    ) -> Self {
        let settings = &op.engine.settings;
        let concurrency = settings.max_concurrency;
        let linger_for = settings.batch_linger;
        let op = Arc::new(op);
        Self {
            stop_signal: Box::pin(op.stop.clone().cancelled_owned()),
            deadline: op.deadline.map(|d| Box::pin(tokio::time::sleep_until(d))),
            op,
            input: Some(input),
            unread: None,
            next_position: 0,
            batcher: Batcher::new(concurrency * MAX_BATCH),
            linger: None,
            linger_for,
            repeats: HashMap::default(),
            in_flight: FuturesUnordered::new(),
            concurrency,
            warmed_up: false,
            ready: VecDeque::new(),
            stopping: None,
            finished: false,
            journal,
            before_send,
            preflight: None,
        }
    }

    pub(super) fn with_preflight(mut self, preflight: Option<crate::preflight::Preflight>) -> Self {
        self.preflight = preflight;
        self
    }
}

impl<'a> BulkOutcomes<'a> {
    /// The live counters of this run.
    pub fn progress(&self) -> &Progress {
        &self.op.progress
    }

    /// Counts so far (final once the stream has ended).
    pub fn summary(&self) -> crate::Counts {
        let mut counts = self.op.progress.snapshot();
        counts.stopped = self.stopping.clone();
        counts
    }

    /// Once the stream has ended: the input a stopped run did not read, when the input
    /// has no upper bound on its length (an endless or unsized stream or iterator). A
    /// finite input never leaves any: its unread records are reported `NotAttempted`.
    /// Its records start at position [`Counts::read`](crate::Counts::read). `None` while the stream
    /// has not ended.
    #[must_use = "the unread input of a stopped run: send it again or say where it went"]
    pub fn into_unread(self) -> Option<Unread<'a>> {
        if !self.finished {
            return None;
        }
        let position = self.next_position;
        self.unread.map(|input| Unread { input, position })
    }

    fn emit(&mut self, mut o: RecordOutcome) {
        if !self.repeats.is_empty() {
            o.repeat_of = self.repeats.remove(&o.position);
        }
        self.op.progress.record(&o.outcome);
        if let Some(journal) = &mut self.journal
            && let Err(why) = journal.record(&o)
        {
            self.op.stop_with(why);
        }
        self.ready.push_back(o);
    }

    /// Puts the outcomes so far into the journal; a failed write stops the run.
    fn flush_journal(&mut self) {
        if let Some(journal) = &mut self.journal
            && let Err(why) = journal.flush()
        {
            self.op.stop_with(why);
        }
    }

    fn complete(&mut self, done: Done) {
        self.warmed_up = true;
        self.batcher.release(done.keys);
        for o in done.outcomes {
            self.emit(o);
        }
        self.flush_journal();
    }

    /// Reads one input record into the pipeline; false if it was refused at once.
    fn accept(&mut self, item: RecordInput) -> bool {
        let position = self.next_position;
        self.next_position += 1;
        self.op.progress.read();
        if let Some(journal) = &mut self.journal
            && !journal.admit(position, &item)
        {
            let o = self.op.unprepared(position, item, Outcome::AlreadyWritten);
            self.emit(o);
            return false;
        }
        // A record the portal would refuse is reported invalid here and never batched:
        // it costs no request and cannot fail a batch without trace ids.
        if let Some(preflight) = &self.preflight
            && let Err(problems) = preflight.check(&item)
        {
            let outcome = crate::preflight::Preflight::invalid_outcome(&problems);
            let o = self.op.unprepared(position, item, outcome);
            self.emit(o);
            return false;
        }
        match self.op.engine.prepare(item) {
            Err((input, reason)) => {
                let o = self
                    .op
                    .unprepared(position, input, Outcome::Failed { reason });
                self.emit(o);
                false
            }
            Ok(input) => {
                if let Some(earlier) = self.batcher.push(position, input) {
                    self.repeats.insert(position, earlier);
                }
                true
            }
        }
    }

    fn dispatch(&mut self) {
        let batch = self.batcher.take();
        self.linger = None;
        if self.journal.is_some() || self.before_send.is_some() {
            // Written down before the request goes: a kill while it is out leaves
            // these ids uncertain, not trusted. A failed write stops the run, and
            // this batch is then not sent (the engine checks the stop first).
            let ids: Vec<&str> = batch.job.inputs.iter().map(|i| i.id.as_str()).collect();
            let mut failed = None;
            if let Some(journal) = &mut self.journal
                && let Err(why) = journal.sending(&ids)
            {
                failed = Some(why);
            }
            if failed.is_none()
                && let Some(hook) = &mut self.before_send
                && let Err(why) = hook(&ids)
            {
                failed = Some(Arc::new(Failure::new(
                    crate::error::ErrorKind::Journal,
                    format!("{why}: the run stopped; records not yet sent are not attempted"),
                )));
            }
            if let Some(why) = failed {
                self.op.stop_with(why);
            }
        }
        let op = Arc::clone(&self.op);
        self.in_flight.push(Box::pin(async move {
            let res = run_job(&op, batch.job).await;
            Done {
                outcomes: res.outcomes,
                keys: batch.keys,
            }
        }));
    }

    fn should_dispatch(&mut self, cx: &mut Context<'_>) -> bool {
        // One batch at a time until HubSpot has accepted one: a bad token, a wrong
        // idProperty or a HubSpot failing everything costs a request or two, not a
        // window's worth.
        // Then as many as the in-flight window allows, and one more ready to go (the
        // window only changes when an answer comes, which polls this again).
        let limit = if self.warmed_up && self.op.ever_succeeded() {
            let engine = &self.op.engine;
            let window = engine.flight.window(engine.limiter.rate());
            window.saturating_add(1).min(self.concurrency)
        } else {
            1
        };
        if self.batcher.open_len() == 0 || self.in_flight.len() >= limit {
            return false;
        }
        if self.batcher.must_send() || self.input.is_none() {
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
        // A finite input is read to its end, each record reported `NotAttempted` (see
        // `drain_one`); the rest of one without an upper bound (an endless one would
        // never end) is kept for `into_unread`.
        if self
            .input
            .as_ref()
            .is_some_and(|i| i.size_hint().1.is_none())
        {
            self.unread = self.input.take();
        }
        for (position, input) in self.batcher.drain() {
            let o = self.op.outcome_of(
                position,
                input,
                Outcome::NotAttempted {
                    reason: Arc::clone(&reason),
                },
            );
            self.emit(o);
        }
        self.flush_journal();
    }
}

impl BulkOutcomes<'_> {
    /// After a stop: reports the next unread record of a finite input `NotAttempted`.
    fn drain_one(&mut self, cx: &mut Context<'_>, reason: &Arc<Failure>) -> bool {
        let Some(input) = self.input.as_mut() else {
            return false;
        };
        match input.as_mut().poll_next(cx) {
            Poll::Ready(Some(item)) => {
                let position = self.next_position;
                self.next_position += 1;
                self.op.progress.read();
                let outcome = Outcome::NotAttempted {
                    reason: Arc::clone(reason),
                };
                let o = self.op.unprepared(position, item, outcome);
                self.emit(o);
                true
            }
            Poll::Ready(None) => {
                self.input = None;
                true
            }
            Poll::Pending => false,
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
                progressed |= this.drain_one(cx, &reason);
            } else {
                this.batcher.promote();
                while this.batcher.has_room() {
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
                && this.batcher.is_empty()
                && this.in_flight.is_empty()
                && this.ready.is_empty()
            {
                this.finished = true;
                if let Some(journal) = &mut this.journal
                    && let Err(why) = journal.finish()
                    && this.stopping.is_none()
                {
                    this.stopping = Some(why);
                }
                return Poll::Ready(None);
            }
            if !progressed && this.ready.is_empty() {
                return Poll::Pending;
            }
        }
    }
}
