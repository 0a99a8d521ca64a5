//! Sending one batch: rate limiting, retries, 207 mapping and bisection.

pub(crate) mod response;
pub(crate) mod transport;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hubspot_tickets_client::types::{
    InputError, TicketUpsertBatch, TicketUpsertBatchResult, TicketUpsertInput, UpsertedTicket,
};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, field, info, warn};

use crate::client::Inner;
use crate::engine::response::{bounded, classify_error, undecodable};
use crate::engine::transport::Answer;
use crate::error::{Error, ErrorKind, Failure};
use crate::outcomes::progress::Progress;
use crate::outcomes::{Outcome, RecordOutcome};
use crate::secret::AccessToken;

/// State shared by every batch of one operation (one `upsert_batch` call or one bulk run).
pub(crate) struct Op {
    pub client: Arc<Inner>,
    pub deadline: Option<Instant>,
    /// Cancelled when the operation stops (caller's token, daily limit, auth failure, deadline).
    pub stop: CancellationToken,
    reason: OnceLock<Arc<Failure>>,
    pub progress: Progress,
}

impl Op {
    pub(crate) fn new(
        client: Arc<Inner>,
        deadline: Option<Duration>,
        cancel: Option<&CancellationToken>,
        progress: Progress,
    ) -> Self {
        progress.start();
        Self {
            client,
            deadline: deadline.map(|d| Instant::now() + d),
            stop: cancel.map_or_else(CancellationToken::new, CancellationToken::child_token),
            reason: OnceLock::new(),
            progress,
        }
    }

    pub(crate) fn stop_with(&self, reason: Arc<Failure>) {
        let _ = self.reason.set(reason);
        self.stop.cancel();
    }

    pub(crate) fn deadline_failure() -> Arc<Failure> {
        Arc::new(Failure::new(
            ErrorKind::DeadlineExceeded,
            "the operation's deadline passed before this record was sent",
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
                    "the operation was cancelled before this record was sent",
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

enum Sent {
    Answer {
        status: StatusCode,
        headers: HeaderMap,
        body: TicketUpsertBatchResult,
    },
    Refused(Error),
    Daily(Error),
    Unsent(Arc<Failure>),
}

struct Sub {
    inputs: Vec<TicketUpsertInput>,
    idx: Vec<usize>,
    /// Whether an earlier request holding these inputs may have written them (an
    /// answer lost or cut short, a 5xx, or a whole-batch refusal, which is not proof
    /// that nothing was written): a later stop must not call them "not attempted".
    maybe_written: bool,
}

/// `NotAttempted` for inputs no request may have written, else `Failed`: the same
/// reason, without the claim that nothing was written.
fn unsent(reason: &Arc<Failure>, maybe_written: bool) -> Outcome {
    let reason = Arc::clone(reason);
    if maybe_written {
        Outcome::Failed { reason }
    } else {
        Outcome::NotAttempted { reason }
    }
}

/// Sends a job: one request, retried; a whole-batch 400/409 is split to isolate the
/// inputs at fault, within the bisection budget.
pub(crate) async fn run_job(op: &Op, job: Job, keep_raw: bool) -> JobResult {
    let n = job.inputs.len();
    let span = tracing::info_span!(
        "hubspot_tickets.batch",
        records = n,
        first_position = job.positions.first().copied().unwrap_or(0),
    );
    run_job_inner(op, job, keep_raw).instrument(span).await
}

async fn run_job_inner(op: &Op, job: Job, keep_raw: bool) -> JobResult {
    let c = &op.client;
    let n = job.inputs.len();
    let mut slots: Vec<Option<(String, Outcome)>> = (0..n).map(|_| None).collect();
    let mut work = VecDeque::from([Sub {
        inputs: job.inputs,
        idx: (0..n).collect(),
        maybe_written: false,
    }]);
    let mut budget = if c.cfg.bisect { c.cfg.bisect_budget } else { 0 };
    let mut raw = Raw::default();
    let mut whole_error = None;
    let mut requests = 0_u32;
    let mut first = true;

    let finish =
        |slots: &mut Vec<Option<(String, Outcome)>>, sub: Sub, outcome: &dyn Fn() -> Outcome| {
            for (input, i) in sub.inputs.into_iter().zip(sub.idx) {
                slots[i] = Some((input.id, outcome()));
            }
        };

    while let Some(sub) = work.pop_front() {
        let is_whole = std::mem::take(&mut first);
        if let Some(reason) = op.stop_reason() {
            let written = sub.maybe_written;
            finish(&mut slots, sub, &|| unsent(&reason, written));
            continue;
        }
        let batch = TicketUpsertBatch { inputs: sub.inputs };
        let mut maybe_written = sub.maybe_written;
        let sent = send(op, &batch, &mut requests, &mut maybe_written).await;
        let mut sub = Sub {
            inputs: batch.inputs,
            idx: sub.idx,
            maybe_written,
        };
        match sent {
            Sent::Answer {
                status,
                headers,
                mut body,
            } => {
                let mapped = map_answer(
                    &sub.inputs,
                    c.cfg.id_property.as_deref(),
                    &mut body,
                    !keep_raw,
                    status.as_u16(),
                    &c.token,
                );
                for ((input, i), o) in sub.inputs.into_iter().zip(sub.idx).zip(mapped) {
                    slots[i] = Some((input.id, o));
                }
                if keep_raw {
                    raw.results.append(&mut body.results);
                    raw.errors.extend(
                        body.errors
                            .drain(..)
                            .map(|e| scrub_input_error(e, &c.token)),
                    );
                    raw.status = Some(status);
                    raw.headers = headers;
                }
            }
            Sent::Refused(err) => {
                let splittable = matches!(err.kind(), ErrorKind::Validation | ErrorKind::Conflict)
                    && sub.inputs.len() > 1;
                if splittable && budget > 0 {
                    // HubSpot batches are not atomic: the parts may have been written.
                    sub.maybe_written = true;
                    // HubSpot sometimes names the inputs at fault: drop just those.
                    let named = err.named_among(&sub.inputs);
                    if !named.is_empty() && named.len() < sub.inputs.len() {
                        budget -= 1;
                        let f = Arc::new(err.to_failure());
                        debug!(
                            named = named.len(),
                            "whole batch refused; dropping the inputs it names"
                        );
                        let (bad, good) = partition(sub, &named);
                        finish(&mut slots, bad, &|| Outcome::Failed {
                            reason: Arc::clone(&f),
                        });
                        work.push_front(good);
                        continue;
                    }
                    if budget >= 2 {
                        budget -= 2;
                        debug!(
                            records = sub.inputs.len(),
                            "whole batch refused; splitting it in two"
                        );
                        let (left, right) = halve(sub);
                        work.push_front(right);
                        work.push_front(left);
                        continue;
                    }
                }
                let mut f = err.to_failure();
                if splittable && c.cfg.bisect {
                    f.message.push_str(
                        " (the batch was not split further: the bisection budget is used up)",
                    );
                }
                if matches!(
                    err.kind(),
                    ErrorKind::Auth | ErrorKind::Forbidden | ErrorKind::NotFound
                ) {
                    // Every other request would fail the same way.
                    op.stop_with(Arc::new(err.to_failure()));
                }
                if is_whole && work.is_empty() {
                    whole_error = Some(err);
                }
                let f = Arc::new(f);
                finish(&mut slots, sub, &|| Outcome::Failed {
                    reason: Arc::clone(&f),
                });
            }
            Sent::Daily(err) => {
                let f = Arc::new(err.to_failure());
                op.stop_with(Arc::clone(&f));
                if is_whole && work.is_empty() {
                    whole_error = Some(err);
                }
                let written = sub.maybe_written;
                finish(&mut slots, sub, &|| unsent(&f, written));
            }
            Sent::Unsent(reason) => {
                let written = sub.maybe_written;
                finish(&mut slots, sub, &|| unsent(&reason, written));
            }
        }
    }

    let outcomes = slots
        .into_iter()
        .zip(job.positions)
        .map(|(slot, position)| {
            let (id, outcome) = slot.unwrap_or_else(|| {
                (
                    String::new(),
                    Outcome::Failed {
                        reason: Arc::new(Failure::new(ErrorKind::Decode, "internal: no outcome")),
                    },
                )
            });
            RecordOutcome {
                position,
                id,
                outcome,
            }
        })
        .collect();
    JobResult {
        outcomes,
        raw,
        whole_error,
        requests,
    }
}

fn halve(sub: Sub) -> (Sub, Sub) {
    let Sub {
        mut inputs,
        mut idx,
        maybe_written,
    } = sub;
    let mid = inputs.len() / 2;
    let right = Sub {
        inputs: inputs.split_off(mid),
        idx: idx.split_off(mid),
        maybe_written,
    };
    (
        Sub {
            inputs,
            idx,
            maybe_written,
        },
        right,
    )
}

/// Splits `sub` into (the inputs at `named` positions, the others).
fn partition(sub: Sub, named: &[usize]) -> (Sub, Sub) {
    let mut bad = Sub {
        inputs: Vec::with_capacity(named.len()),
        idx: Vec::with_capacity(named.len()),
        maybe_written: sub.maybe_written,
    };
    let mut good = Sub {
        inputs: Vec::with_capacity(sub.inputs.len()),
        idx: Vec::with_capacity(sub.inputs.len()),
        maybe_written: sub.maybe_written,
    };
    for (k, (input, i)) in sub.inputs.into_iter().zip(sub.idx).enumerate() {
        let target = if named.contains(&k) {
            &mut bad
        } else {
            &mut good
        };
        target.inputs.push(input);
        target.idx.push(i);
    }
    (bad, good)
}

const AMBIGUOUS: usize = usize::MAX;

fn first_in<'a>(
    ctx: &'a std::collections::BTreeMap<String, Vec<String>>,
    key: &str,
) -> Option<&'a str> {
    ctx.get(key).and_then(|v| v.first()).map(String::as_str)
}

/// Input positions by trace id or id. foldhash rather than SipHash: hashing every trace
/// id of every answer was a visible share of a bulk run's CPU, and foldhash's per-map
/// random seed still keeps a hostile answer from choosing collisions.
type IdMap<'a> = HashMap<&'a str, usize, foldhash::fast::RandomState>;

/// Maps a 2xx answer's results and errors back to the inputs, by trace id, then by id.
fn map_answer(
    inputs: &[TicketUpsertInput],
    default_prop: Option<&str>,
    body: &mut TicketUpsertBatchResult,
    take_ids: bool,
    status: u16,
    token: &AccessToken,
) -> Vec<Outcome> {
    let n = inputs.len();
    let mut out: Vec<Option<Outcome>> = (0..n).map(|_| None).collect();
    let mut by_trace: IdMap<'_> = IdMap::with_capacity_and_hasher(n, Default::default());
    for (i, inp) in inputs.iter().enumerate() {
        if let Some(t) = inp.object_write_trace_id.as_deref()
            && by_trace.insert(t, i).is_some()
        {
            by_trace.insert(t, AMBIGUOUS);
        }
    }
    let mut by_id: Option<IdMap<'_>> = None;
    let build_by_id = || {
        let mut m: IdMap<'_> = IdMap::with_capacity_and_hasher(n, Default::default());
        for (i, inp) in inputs.iter().enumerate() {
            if m.insert(inp.id.as_str(), i).is_some() {
                m.insert(inp.id.as_str(), AMBIGUOUS);
            }
        }
        m
    };
    let mut id_props: Vec<&str> = Vec::new();
    for inp in inputs {
        if let Some(p) = inp.id_property.as_deref().or(default_prop)
            && !id_props.contains(&p)
        {
            id_props.push(p);
        }
    }

    let mut unmatched_results = 0_usize;
    for r in &mut body.results {
        let mut idx = r
            .object_write_trace_id
            .as_deref()
            .and_then(|t| by_trace.get(t).copied())
            .filter(|i| *i != AMBIGUOUS);
        if idx.is_none() {
            let map = by_id.get_or_insert_with(build_by_id);
            idx = id_props
                .iter()
                .find_map(|p| r.properties.value(p))
                .and_then(|v| map.get(v).copied())
                .filter(|i| *i != AMBIGUOUS);
        }
        match idx {
            Some(i) if out[i].is_none() => {
                let object_id = if take_ids {
                    std::mem::take(&mut r.id)
                } else {
                    r.id.clone()
                };
                out[i] = Some(if r.new {
                    Outcome::Created { object_id }
                } else {
                    Outcome::Updated { object_id }
                });
            }
            _ => unmatched_results += 1,
        }
    }

    let mut unmatched_errors: Vec<&InputError> = Vec::new();
    for e in &body.errors {
        let mut idx = first_in(&e.context, "objectWriteTraceId")
            .and_then(|t| by_trace.get(t).copied())
            .filter(|i| *i != AMBIGUOUS);
        if idx.is_none() {
            let map = by_id.get_or_insert_with(build_by_id);
            idx = first_in(&e.context, "id")
                .or(e.id.as_deref())
                .and_then(|v| map.get(v).copied())
                .filter(|i| *i != AMBIGUOUS);
        }
        match idx {
            Some(i) if out[i].is_none() => {
                out[i] = Some(Outcome::Failed {
                    reason: Arc::new(input_error_failure(e, status, token)),
                });
            }
            _ => unmatched_errors.push(e),
        }
    }

    let missing = out.iter().filter(|o| o.is_none()).count();
    if missing > 0 || unmatched_results > 0 || !unmatched_errors.is_empty() {
        warn!(
            missing,
            unmatched_results,
            unmatched_errors = unmatched_errors.len(),
            "HubSpot's answer did not map one-to-one onto the inputs"
        );
    }
    let leftover: Option<Arc<Failure>> = if missing == 1 && unmatched_errors.len() == 1 {
        unmatched_errors
            .first()
            .map(|e| Arc::new(input_error_failure(e, status, token)))
    } else if missing > 0 {
        let mut f = Failure::new(
            ErrorKind::Decode,
            match unmatched_errors.first().and_then(|e| e.message.as_deref()) {
                Some(m) => token.scrub(bounded(format!(
                    "HubSpot reported an error it did not tie to an input: {m}"
                ))),
                None => "HubSpot's answer did not mention this input; it may or may not have been written".to_owned(),
            },
        );
        f.status = Some(status);
        Some(Arc::new(f))
    } else {
        None
    };
    out.into_iter()
        .map(|o| {
            o.unwrap_or_else(|| Outcome::Failed {
                reason: leftover.as_ref().map_or_else(
                    || Arc::new(Failure::new(ErrorKind::Decode, "no outcome")),
                    Arc::clone,
                ),
            })
        })
        .collect()
}

/// HubSpot's per-input error as it sent it, but with the token (if a server echoed it
/// back anywhere in it) replaced: callers print these.
fn scrub_input_error(e: InputError, token: &AccessToken) -> InputError {
    let Ok(text) = serde_json::to_string(&e) else {
        return e;
    };
    let scrubbed = token.scrub(text);
    if scrubbed.contains("<redacted>") {
        serde_json::from_str(&scrubbed).unwrap_or(e)
    } else {
        e
    }
}

fn input_error_failure(e: &InputError, status: u16, token: &AccessToken) -> Failure {
    let kind = match e.category.as_deref() {
        Some("CONFLICT") => ErrorKind::Conflict,
        Some("OBJECT_NOT_FOUND") => ErrorKind::NotFound,
        Some("RATE_LIMITS") => ErrorKind::RateLimited,
        _ => ErrorKind::Validation,
    };
    // HubSpot (or a proxy) may echo anything back: the token never reaches a report.
    let message = match &e.message {
        Some(m) => token.scrub(bounded(m.clone())),
        None => "HubSpot refused this input without a message".to_owned(),
    };
    let mut f = Failure::new(kind, message);
    f.status = Some(status);
    f.category = e
        .category
        .clone()
        .map(|c| token.scrub(c.chars().take(200).collect()));
    f
}

/// What one attempt's answer calls for.
enum Step {
    Done(Sent),
    /// A rolling-window 429: every request is paused; try again after.
    RateLimited(Error),
    /// A failure that may be retried after a backoff.
    Failed(Error),
}

/// Judges one answer (or the lack of one).
fn judge(
    op: &Op,
    answer: Result<Result<Answer, Error>, Error>,
    sent: Instant,
    span: &tracing::Span,
) -> Step {
    let c = &op.client;
    let raw = match answer {
        Err(timeout) | Ok(Err(timeout)) => return Step::Failed(timeout),
        Ok(Ok(Answer::Success {
            status,
            headers,
            body,
        })) => {
            c.limiter.observe(&headers, sent);
            span.record("status", status.as_u16());
            debug!(status = status.as_u16(), "answer");
            return Step::Done(Sent::Answer {
                status,
                headers,
                body,
            });
        }
        // A 2xx whose body did not decode (cut short by a proxy, say) is retried: the
        // upsert is idempotent, and the retry gets a readable answer.
        Ok(Ok(Answer::Undecodable {
            status,
            body,
            error,
        })) => {
            let shown = status.map_or_else(|| "2xx".to_owned(), |s| s.as_u16().to_string());
            warn!(status = %shown, "success status with an undecodable body; retrying");
            if let Some(status) = status {
                span.record("status", status.as_u16());
            }
            return Step::Failed(undecodable(status, &body, &error, Some(&c.token)));
        }
        Ok(Ok(Answer::Other(raw))) => raw,
    };
    c.limiter.observe(&raw.headers, sent);
    let status = raw.status.as_u16();
    span.record("status", status);
    let err = classify_error(raw.status, &raw.headers, &raw.body, Some(&c.token));
    if let Some(id) = err.correlation_id() {
        span.record("correlation_id", id);
    }
    match err.kind() {
        ErrorKind::RateLimitedDaily => {
            op.progress.rate_limited();
            warn!("daily rate limit reached; stopping");
            Step::Done(Sent::Daily(err))
        }
        ErrorKind::RateLimited => {
            op.progress.rate_limited();
            Step::RateLimited(err)
        }
        ErrorKind::Server | ErrorKind::Timeout | ErrorKind::Transport => Step::Failed(err),
        _ => {
            debug!(kind = %err.kind(), status, "refused");
            Step::Done(Sent::Refused(err))
        }
    }
}

/// Sends one request body until it gets a final answer. `maybe_written` is set when an
/// attempt fails in a way that may have written the batch (anything but a 429).
async fn send(
    op: &Op,
    batch: &TicketUpsertBatch,
    requests: &mut u32,
    maybe_written: &mut bool,
) -> Sent {
    let c = &op.client;
    let records = batch.inputs.len();
    let policy = &c.cfg.retry;
    let mut schedule = policy.schedule();
    let mut attempt = 0_u32;
    let mut failures = 0_u32;
    let mut rate_waits = 0_u32;
    let mut last: Option<Error> = None;

    loop {
        // Wait for the limiter, unless the operation stops first.
        let waited_from = Instant::now();
        let permit = tokio::select! {
            biased;
            () = op.stop.cancelled() => return stopped(op, last),
            () = sleep_until_opt(op.deadline) => {
                op.stop_with(Op::deadline_failure());
                return stopped(op, last);
            }
            p = c.limiter.acquire() => p,
        };
        if op.stop_reason().is_some() {
            drop(permit);
            return stopped(op, last);
        }
        attempt += 1;
        *requests += 1;
        op.progress.request(attempt > 1);
        let now = Instant::now();
        let timeout = match op.deadline {
            Some(d) => c.cfg.attempt_timeout.min(d.saturating_duration_since(now)),
            None => c.cfg.attempt_timeout,
        };
        let span = tracing::debug_span!(
            "hubspot_tickets.attempt",
            attempt,
            records,
            wait_ms =
                u64::try_from(now.duration_since(waited_from).as_millis()).unwrap_or(u64::MAX),
            status = field::Empty,
            correlation_id = field::Empty,
        );
        let answer = tokio::time::timeout(timeout, c.transport.send(batch))
            .instrument(span.clone())
            .await
            .map_err(|_| {
                Error::new(
                    ErrorKind::Timeout,
                    format!("no answer within {} ms", timeout.as_millis()),
                )
            });
        // Judge (and read the rate-limit headers) before releasing the slot, so that
        // requests waiting for it see what this answer taught the limiter.
        let step = span.in_scope(|| judge(op, answer, permit.sent(), &span));
        drop(permit);

        let err = match step {
            Step::Done(sent) => return sent,
            Step::RateLimited(err) => {
                rate_waits += 1;
                let wait = err.retry_after().unwrap_or_else(|| c.limiter.interval());
                let until = Instant::now() + wait;
                if rate_waits > policy.rate_limit_waits || op.deadline.is_some_and(|d| until >= d) {
                    return Sent::Refused(err);
                }
                span.in_scope(|| {
                    info!(
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        policy = err.policy_name().unwrap_or("unknown"),
                        "rate limited (429); pausing every request"
                    );
                });
                c.limiter.pause_until(until);
                last = Some(err);
                continue;
            }
            Step::Failed(err) => err,
        };
        *maybe_written = true;
        failures += 1;
        let ceiling = schedule.next().unwrap_or(policy.max_backoff);
        let mut wait = policy.jittered(ceiling);
        if let Some(ra) = err.retry_after() {
            wait = wait.max(ra);
        }
        if failures >= policy.max_attempts
            || op.deadline.is_some_and(|d| Instant::now() + wait >= d)
        {
            span.in_scope(|| warn!(kind = %err.kind(), attempts = attempt, "giving up"));
            return Sent::Refused(err);
        }
        span.in_scope(|| {
            debug!(
                kind = %err.kind(),
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "retrying after backoff"
            );
        });
        tokio::select! {
            biased;
            () = op.stop.cancelled() => return Sent::Refused(err),
            () = tokio::time::sleep(wait) => {}
        }
        last = Some(err);
    }
}

/// The operation stopped while a batch waited: the last failure if an attempt failed
/// (the caller knows whether that may have written the batch), else the stop reason.
fn stopped(op: &Op, last: Option<Error>) -> Sent {
    match last {
        Some(e) if e.kind() != ErrorKind::RateLimited => Sent::Refused(e),
        _ => Sent::Unsent(op.stop_reason().unwrap_or_else(Op::deadline_failure)),
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;
