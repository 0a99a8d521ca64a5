//! The engine: turns prepared inputs into one outcome each. Per batch it takes a
//! limiter permit, makes the attempt, decides on retries, bisects whole-batch refusals
//! and maps the answer back to the inputs. It owns its settings, transport, limiter and
//! token, and imports nothing from the client or bulk layers, which drive it.
//!
//! Files: `batch` (one batch to outcomes, bisection), `attempt` (permit, request,
//! judgement, retry), `flight` (how many requests are in flight at once), `answer` (mapping a 2xx answer), `response` (classifying an
//! error answer), `transport` (the HTTP call through the generated client).

mod answer;
mod attempt;
pub(crate) mod authorize;
mod batch;
pub(crate) mod flight;
pub(crate) mod policy;
pub(crate) mod response;
pub(crate) mod transport;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hubspot_tickets_client::types::{InputError, TicketUpsertInput, UpsertedTicket};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::RetryPolicy;
use crate::engine::transport::Transport;
use crate::error::{Error, ErrorKind, Failure};
use crate::limiter::RateLimiter;
use crate::outcomes::progress::Progress;
use crate::outcomes::{Outcome, RecordOutcome};
use crate::records::RecordInput;
use crate::route::Route;

pub(crate) use batch::run_job;

/// HubSpot's limit of inputs per batch request.
pub const MAX_BATCH: usize = 100;

/// The engine's settings, fixed when the client is built.
#[derive(Debug)]
pub(crate) struct Settings {
    /// The version and object type called.
    pub route: Route,
    /// `idProperty` for inputs that do not name their own.
    pub id_property: String,
    pub retry: RetryPolicy,
    pub attempt_timeout: Duration,
    pub deadline: Option<Duration>,
    pub max_concurrency: usize,
    pub bisect: bool,
    pub bisect_budget: u32,
    pub batch_linger: Duration,
}

/// What sends requests: shared (behind an `Arc`) by every clone of a client and by every
/// operation it runs.
pub(crate) struct Engine {
    pub settings: Settings,
    pub transport: Transport,
    pub limiter: RateLimiter,
    /// The in-flight window (bounded by `settings.max_concurrency`).
    pub flight: Arc<flight::Flight>,
    /// Where each request's token comes from (see `authorize`).
    pub auth: authorize::Auth,
    trace_prefix: String,
    trace_seq: AtomicU64,
}

impl Engine {
    pub(crate) fn new(
        settings: Settings,
        transport: Transport,
        limiter: RateLimiter,
        auth: authorize::Auth,
    ) -> Self {
        Self {
            flight: Arc::new(flight::Flight::new(settings.max_concurrency)),
            settings,
            transport,
            limiter,
            auth,
            // A random prefix per engine: two processes writing the same tickets never
            // mistake each other's trace ids.
            trace_prefix: format!("h{:08x}-", rand::random::<u32>()),
            trace_seq: AtomicU64::new(0),
        }
    }

    fn next_trace_id(&self) -> String {
        let n = self.trace_seq.fetch_add(1, Ordering::Relaxed);
        let mut s = String::with_capacity(self.trace_prefix.len() + 16);
        s.push_str(&self.trace_prefix);
        // Hex digits written by hand: the formatting machinery cost more than the rest
        // of preparing a record.
        let digits = (u64::BITS - n.leading_zeros()).div_ceil(4).max(1);
        for i in (0..digits).rev() {
            let d = (n >> (4 * i)) & 0xf;
            s.push(char::from(b"0123456789abcdef"[d as usize]));
        }
        s
    }

    /// Checks a record and fills in `idProperty` and a trace id, or says why it cannot
    /// be sent (handing the record back).
    pub(crate) fn prepare(
        &self,
        input: RecordInput,
    ) -> Result<TicketUpsertInput, (RecordInput, Arc<Failure>)> {
        if let Some(why) = input.problem_text() {
            return Err((input, Arc::new(Failure::new(ErrorKind::InvalidInput, why))));
        }
        let mut inner = input.inner;
        if inner.id_property.is_none() {
            inner.id_property = Some(self.settings.id_property.clone());
        }
        if inner.object_write_trace_id.is_none() {
            inner.object_write_trace_id = Some(self.next_trace_id());
        }
        Ok(inner)
    }
}

/// State shared by every batch of one operation (one `upsert_batch` call or one bulk run).
pub(crate) struct Op {
    pub engine: Arc<Engine>,
    pub deadline: Option<Instant>,
    /// Cancelled when the operation stops (caller's token, daily limit, auth failure, deadline).
    pub stop: CancellationToken,
    reason: OnceLock<Arc<Failure>>,
    pub progress: Progress,
    /// Whether outcomes carry their input back (a bulk run asked for them).
    pub return_inputs: bool,
    /// Whether HubSpot's own `results` and `errors` are kept for the caller
    /// (`upsert_batch`'s [`BatchOutcome`](crate::outcomes::BatchOutcome)).
    pub keep_answers: bool,
    /// Whether any request got an answer (then the address and the network work).
    answered: std::sync::atomic::AtomicBool,
    /// Which once-per-operation warnings were logged (`Once` bits): a cause that every
    /// batch meets is one line at the default verbosity, the repeats go to `debug`.
    warned: std::sync::atomic::AtomicU8,
    /// When the operation started, and when HubSpot last answered (ms after the start):
    /// a HubSpot that stops answering stops the run (see `attempt`).
    started: Instant,
    last_answer_ms: AtomicU64,
    /// Batches given up in a row (retries used up) with no success between them.
    give_ups_in_a_row: std::sync::atomic::AtomicU32,
    /// Whether any request got a 2xx answer.
    succeeded: std::sync::atomic::AtomicBool,
}

/// Warnings an operation logs once at `warn` level.
#[derive(Clone, Copy)]
pub(crate) enum Once {
    /// A batch gave up retrying.
    GaveUp = 1,
    /// A 2xx answer could not be decoded.
    Undecodable = 2,
    /// HubSpot answered 423 Locked.
    Locked = 4,
    /// A wait of more than a few seconds asked by a 5xx's `Retry-After`.
    ServerWait = 8,
    /// A 2xx answer that both wrote and refused one input.
    Contradiction = 16,
    /// The run stops (every batch in flight may meet the same answer: one line).
    Stopping = 32,
}

impl Op {
    pub(crate) fn new(
        engine: Arc<Engine>,
        deadline: Option<Duration>,
        cancel: Option<&CancellationToken>,
        progress: Progress,
    ) -> Self {
        progress.start();
        Self {
            engine,
            // A deadline too far to represent is no deadline.
            deadline: deadline.and_then(|d| Instant::now().checked_add(d)),
            stop: cancel.map_or_else(CancellationToken::new, CancellationToken::child_token),
            reason: OnceLock::new(),
            progress,
            return_inputs: false,
            keep_answers: false,
            answered: std::sync::atomic::AtomicBool::new(false),
            warned: std::sync::atomic::AtomicU8::new(0),
            started: Instant::now(),
            last_answer_ms: AtomicU64::new(0),
            give_ups_in_a_row: std::sync::atomic::AtomicU32::new(0),
            succeeded: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// How long since HubSpot last answered any request of the operation (since it
    /// started, if none was answered).
    pub(crate) fn silent_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_answer_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }

    /// Notes a batch given up after every retry; returns how many in a row since the
    /// last success.
    pub(crate) fn gave_up(&self) -> u32 {
        self.give_ups_in_a_row.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Notes a 2xx answer: the run of give-ups is broken.
    pub(crate) fn succeeded(&self) {
        self.give_ups_in_a_row.store(0, Ordering::Relaxed);
        self.succeeded.store(true, Ordering::Relaxed);
    }

    /// Whether any request of the operation got a 2xx answer.
    pub(crate) fn ever_succeeded(&self) -> bool {
        self.succeeded.load(Ordering::Relaxed)
    }

    /// True the first time the operation meets `what`.
    pub(crate) fn first(&self, what: Once) -> bool {
        let bit = what as u8;
        self.warned.fetch_or(bit, Ordering::Relaxed) & bit == 0
    }

    pub(crate) fn answered(&self) {
        self.answered.store(true, Ordering::Relaxed);
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_answer_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// Whether any request of the operation got an answer.
    pub(crate) fn ever_answered(&self) -> bool {
        self.answered.load(Ordering::Relaxed)
    }

    /// The outcome of a prepared input, carrying the input back if asked to, as it was
    /// given: without the trace id the engine gave it (a resent input gets a fresh one)
    /// and without the default `idProperty` filled in.
    pub(crate) fn outcome_of(
        &self,
        position: u64,
        input: TicketUpsertInput,
        outcome: Outcome,
    ) -> RecordOutcome {
        if !self.return_inputs {
            return RecordOutcome::new(position, input.id, outcome);
        }
        let mut input = input;
        if input
            .object_write_trace_id
            .as_deref()
            .is_some_and(|t| t.starts_with(&self.engine.trace_prefix))
        {
            input.object_write_trace_id = None;
        }
        if input.id_property.as_deref() == Some(self.engine.settings.id_property.as_str()) {
            input.id_property = None;
        }
        self.unprepared(position, RecordInput::from(input), outcome)
    }

    /// The outcome of an input that was never prepared (refused before sending),
    /// carrying it back if asked to.
    pub(crate) fn unprepared(
        &self,
        position: u64,
        input: RecordInput,
        outcome: Outcome,
    ) -> RecordOutcome {
        if self.return_inputs {
            let id = input.id().to_owned();
            RecordOutcome::new(position, id, outcome).with_input(input)
        } else {
            RecordOutcome::new(position, input.inner.id, outcome)
        }
    }

    pub(crate) fn stop_with(&self, reason: Arc<Failure>) {
        let _ = self.reason.set(reason);
        self.stop.cancel();
    }

    pub(crate) fn deadline_failure() -> Arc<Failure> {
        Arc::new(Failure::new(
            ErrorKind::DeadlineExceeded,
            "records not yet sent are not attempted",
        ))
    }

    /// Why the operation stopped, if it has (checks the deadline too).
    pub(crate) fn stop_reason(&self) -> Option<Arc<Failure>> {
        if !self.stop.is_cancelled() && self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.stop_with(Self::deadline_failure());
        }
        if self.stop.is_cancelled() {
            Some(Arc::clone(self.reason.get_or_init(|| {
                Arc::new(Failure::new(
                    ErrorKind::Cancelled,
                    "records not yet sent are not attempted",
                ))
            })))
        } else {
            None
        }
    }
}

/// Inputs ready to send (ids checked, `idProperty` and trace ids filled in).
pub(crate) struct Job {
    pub inputs: Vec<TicketUpsertInput>,
    pub positions: Vec<u64>,
}

#[derive(Default)]
pub(crate) struct Raw {
    pub results: Vec<UpsertedTicket>,
    pub errors: Vec<InputError>,
    pub status: Option<StatusCode>,
    pub headers: HeaderMap,
}

pub(crate) struct JobResult {
    /// One per job input, in job order.
    pub outcomes: Vec<RecordOutcome>,
    pub raw: Raw,
    /// Set when the whole job was refused by one answer, without being split.
    pub whole_error: Option<Error>,
    pub requests: u32,
}

#[cfg(test)]
mod tests;
