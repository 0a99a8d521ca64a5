//! One batch's attempts: a place in flight, a limiter permit, the request, the
//! judgement of its answer, and the retry decision (backoff, 429 and 423 pauses,
//! deadline, stop).

use std::sync::Arc;

use hubspot_tickets_client::types::{TicketUpsertBatch, TicketUpsertBatchResult};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use tokio::time::Instant;
use tracing::{Instrument, debug, field, info, warn};

use crate::engine::flight::Signal;
use crate::engine::response::{classify_error, undecodable};
use crate::engine::transport::Answer;
use crate::engine::{Once, Op};
use crate::error::{Error, ErrorKind, Failure};

/// Waits at least this long are logged at `warn`, the level shown by default.
const LONG_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// How long HubSpot documents a 423 lock to last: the least a locked batch waits.
const LOCK: std::time::Duration = std::time::Duration::from_secs(2);

/// The longest a 423's `Retry-After` is followed: a lock is seconds, and a broken or
/// hostile header must not park a run for a day.
const MAX_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The longest a 5xx's `Retry-After` is followed before a retry: a person waits a
/// minute without a word; longer is HubSpot down, which the give-up rules handle.
const MAX_SERVER_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// A HubSpot silent this long (no answer to any request: timeouts, broken or refused
/// connections) stops the run: at the default 30 s timeout, after the second attempt.
const SILENCE: std::time::Duration = std::time::Duration::from_secs(45);

/// Batches given up in a row without any answer between them that stop the run.
const SILENT_GIVE_UPS: u32 = 2;

/// How one batch's requests ended.
pub(super) enum Sent {
    Answer {
        status: StatusCode,
        headers: HeaderMap,
        body: TicketUpsertBatchResult,
    },
    Refused(Error),
    /// An answer that stops the run at once (the daily limit, 477): every request
    /// would get it.
    Stop(Error),
    Unsent(Arc<Failure>),
}

/// What one attempt's answer calls for.
enum Step {
    Done(Sent),
    /// A rolling-window 429: every request is paused; try again after.
    RateLimited(Error),
    /// 423 Locked: every request is paused for the lock; try again after.
    Locked(Error),
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
    let c = &op.engine;
    if matches!(answer, Ok(Ok(_))) {
        op.answered();
    }
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
            if op.first(Once::Undecodable) {
                warn!(status = %shown, "success status with an undecodable body; retrying");
            } else {
                debug!(status = %shown, "success status with an undecodable body; retrying");
            }
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
            Step::Done(Sent::Stop(err))
        }
        ErrorKind::Unavailable => {
            warn!(reason = %err, "HubSpot cannot take writes for this account now; stopping");
            Step::Done(Sent::Stop(err))
        }
        ErrorKind::RateLimited => {
            op.progress.rate_limited();
            Step::RateLimited(err)
        }
        ErrorKind::Locked => {
            op.progress.locked();
            Step::Locked(err)
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
pub(super) async fn send(
    op: &Op,
    batch: &TicketUpsertBatch,
    requests: &mut u32,
    maybe_written: &mut bool,
) -> Sent {
    let c = &op.engine;
    let records = batch.inputs.len();
    let policy = &c.settings.retry;
    let mut attempt = 0_u32;
    let mut failures = 0_u32;
    let mut rate_waits = 0_u32;
    let mut lock_waits = 0_u32;
    let mut last: Option<Error> = None;

    loop {
        // Wait for a place in flight, then for the limiter, unless the operation stops
        // first.
        let waited_from = Instant::now();
        let rate = || c.limiter.rate();
        let (ticket, permit) = tokio::select! {
            biased;
            () = op.stop.cancelled() => return stopped(op, last),
            () = sleep_until_opt(op.deadline) => {
                op.stop_with(Op::deadline_failure());
                return stopped(op, last);
            }
            t = async {
                let ticket = c.flight.acquire(rate).await;
                (ticket, c.limiter.acquire().await)
            } => t,
        };
        op.progress.in_flight(c.flight.in_flight());
        if op.stop_reason().is_some() {
            drop(permit);
            return stopped(op, last);
        }
        attempt += 1;
        *requests += 1;
        op.progress.request(attempt > 1);
        let now = Instant::now();
        let timeout = match op.deadline {
            Some(d) => c
                .settings
                .attempt_timeout
                .min(d.saturating_duration_since(now)),
            None => c.settings.attempt_timeout,
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
        let answer = tokio::time::timeout(timeout, c.transport.send(&c.settings.route, batch))
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
        let took = permit.sent().elapsed();
        let answered = matches!(answer, Ok(Ok(_)));
        let step = span.in_scope(|| judge(op, answer, permit.sent(), &span));
        drop(permit);
        // The in-flight window learns how long answers take and when to take fewer.
        let signal = match &step {
            Step::RateLimited(_) | Step::Locked(_) => Signal::BackOff,
            Step::Failed(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Server | ErrorKind::Timeout | ErrorKind::Transport
                ) =>
            {
                Signal::BackOff
            }
            _ => Signal::Answered,
        };
        c.flight
            .learn(answered.then_some(took), signal, c.limiter.rate());
        drop(ticket);

        let err = match step {
            Step::Done(sent) => return sent,
            Step::RateLimited(err) => {
                rate_waits += 1;
                // A rolling window frees up within one window, whatever `Retry-After`
                // says (a broken or hostile one could ask for a day).
                let window = c.limiter.interval();
                let wait = err.retry_after().map_or(window, |ra| ra.min(window));
                let until = Instant::now() + wait;
                if rate_waits > policy.rate_limit_waits || op.deadline.is_some_and(|d| until >= d) {
                    return Sent::Refused(err);
                }
                let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                let policy_name = err.policy_name().unwrap_or("unknown");
                span.in_scope(|| {
                    // A pause of seconds is worth a word at the default verbosity.
                    if wait >= LONG_WAIT {
                        warn!(
                            wait_ms,
                            policy = policy_name,
                            "rate limited (429); pausing every request"
                        );
                    } else {
                        info!(
                            wait_ms,
                            policy = policy_name,
                            "rate limited (429); pausing every request"
                        );
                    }
                });
                c.limiter.pause_until(until);
                last = Some(err);
                continue;
            }
            Step::Locked(err) => {
                lock_waits += 1;
                // At least the documented lock, or a `Retry-After` within reason, and
                // a little jitter so the batches it held do not return together.
                let lock = err
                    .retry_after()
                    .map_or(LOCK, |ra| ra.clamp(LOCK, MAX_LOCK_WAIT));
                let wait = lock + lock.mul_f64(rand::random_range(0.0..0.1));
                let until = Instant::now() + wait;
                if lock_waits > policy.rate_limit_waits || op.deadline.is_some_and(|d| until >= d) {
                    return Sent::Refused(err);
                }
                let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                span.in_scope(|| {
                    // Once per run at the default verbosity: it slows the run, but
                    // nothing is wrong with the records.
                    if op.first(Once::Locked) {
                        warn!(
                            wait_ms,
                            "HubSpot answered 423 Locked (too many upserts in a short period); pausing every request and sending fewer at once, then retrying the same records"
                        );
                    } else {
                        debug!(wait_ms, "locked (423); pausing every request");
                    }
                });
                // Every request would meet the same lock: all of them wait.
                c.limiter.pause_until(until);
                last = Some(err);
                continue;
            }
            Step::Failed(err) => err,
        };
        if !err.was_not_sent() {
            *maybe_written = true;
        }
        failures += 1;
        let silent = matches!(err.kind(), ErrorKind::Timeout | ErrorKind::Transport);
        // HubSpot silent for long: every request would wait as long. The run stops,
        // so that a HubSpot outage costs a minute, not the night.
        if silent && op.silent_for() >= SILENCE {
            stop_silent(op, &err, "has not answered any request for");
            return Sent::Refused(err);
        }
        let ceiling = policy.ceiling(failures - 1);
        let mut wait = policy.jittered(ceiling);
        if let Some(ra) = err.retry_after() {
            let asked = ra;
            let ra = ra.min(MAX_SERVER_WAIT);
            wait = wait.max(ra);
            if wait >= LONG_WAIT {
                let status = err.status().unwrap_or(0);
                let say = format!(
                    "HubSpot answered {status} asking to retry after {}; waiting {} before retrying",
                    crate::engine::response::human(asked),
                    crate::engine::response::human(wait)
                );
                span.in_scope(|| {
                    if op.first(Once::ServerWait) {
                        warn!(reason = %err, "{say}");
                    } else {
                        info!(reason = %err, "{say}");
                    }
                });
            }
        }
        if failures >= policy.max_attempts
            || op
                .deadline
                .is_some_and(|d| Instant::now().checked_add(wait).is_none_or(|t| t >= d))
        {
            span.in_scope(|| {
                let reason = err.to_failure().message;
                // Once per operation at the level shown by default; a failure that
                // every batch meets is one reason, not a line per batch.
                if op.first(Once::GaveUp) {
                    warn!(kind = %err.kind(), attempts = attempt, %reason, "giving up");
                } else {
                    debug!(kind = %err.kind(), attempts = attempt, %reason, "giving up");
                }
            });
            // Batches given up in a row without a single answer: HubSpot stopped
            // answering (or never did); the rest would fare the same.
            if silent && op.gave_up_unanswered() >= SILENT_GIVE_UPS {
                stop_silent(
                    op,
                    &err,
                    "stopped answering: batches in a row got no answer in",
                );
            }
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

/// Stops the run because HubSpot does not answer; the reason says for how long and what
/// the last attempt met, and that nothing in the records needs fixing.
fn stop_silent(op: &Op, err: &Error, what: &str) {
    let mut f = err.to_failure();
    f.message = format!(
        "HubSpot {what} {} (last: {}); the run stopped: records not yet sent are not attempted, and nothing in them needs fixing: re-run once HubSpot answers",
        crate::engine::response::human(op.silent_for()),
        f.message
    );
    warn!(reason = %f, "stopping");
    op.stop_with(Arc::new(f));
}

/// The operation stopped while a batch waited: the last failure if an attempt failed
/// (the caller knows whether that may have written the batch), else the stop reason.
fn stopped(op: &Op, last: Option<Error>) -> Sent {
    match last {
        // A 429 or a 423 wrote nothing: the records were not attempted.
        Some(e) if !matches!(e.kind(), ErrorKind::RateLimited | ErrorKind::Locked) => {
            Sent::Refused(e)
        }
        _ => Sent::Unsent(op.stop_reason().unwrap_or_else(Op::deadline_failure)),
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
