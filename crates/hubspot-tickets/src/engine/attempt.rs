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
use crate::engine::policy::{self, Verdict};
use crate::engine::response::human;
use crate::engine::response::{classify_error, undecodable};
use crate::engine::transport::Answer;
use crate::engine::{Once, Op};
use crate::error::{Error, ErrorKind, Failure};

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
    /// A failure: [`policy::after_failure`] decides what follows.
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
            op.succeeded();
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
            return Step::Failed(undecodable(status, &body, &error, Some(&c.token())));
        }
        Ok(Ok(Answer::Other(raw))) => raw,
    };
    c.limiter.observe(&raw.headers, sent);
    let status = raw.status.as_u16();
    span.record("status", status);
    let err = classify_error(raw.status, &raw.headers, &raw.body, Some(&c.token()));
    if let Some(id) = err.correlation_id() {
        span.record("correlation_id", id);
    }
    match err.kind() {
        ErrorKind::RateLimitedDaily | ErrorKind::RateLimited => op.progress.rate_limited(),
        ErrorKind::Locked => op.progress.locked(),
        _ => {}
    }
    Step::Failed(err)
}

/// One request body on its way to a final answer: what its attempts cost and risked,
/// for the caller to read once [`Sending::send`] returns.
pub(super) struct Sending {
    /// Requests made, retries included.
    pub requests: u32,
    /// Whether an attempt failed in a way that may have written the batch (anything
    /// but a 429).
    pub maybe_written: bool,
}

impl Sending {
    /// Sends the body until it gets a final answer.
    pub(super) async fn send(&mut self, op: &Op, batch: &TicketUpsertBatch) -> Sent {
        let c = &op.engine;
        let records = batch.inputs.len();
        let retry = &c.settings.retry;
        let mut attempt = 0_u32;
        let mut tally = policy::Tally::default();
        // New tokens asked for after a 401, for this batch.
        let mut renewed = 0_u32;
        let mut last: Option<Error> = None;

        loop {
            // The token (a source may renew it first), then a place in flight, then the
            // limiter, unless the operation stops first. The token comes first: the
            // limiter counts a request as sent when it lets it through, and a slow token
            // endpoint in between would make it arrive later than counted.
            let waited_from = Instant::now();
            let rate = || c.limiter.rate();
            let got = tokio::select! {
                biased;
                () = op.stop.cancelled() => return stopped(op, last),
                () = sleep_until_opt(op.deadline) => {
                    op.stop_with(Op::deadline_failure());
                    return stopped(op, last);
                }
                t = async {
                    let token = c.next_token().await?;
                    let ticket = c.flight.acquire(rate).await;
                    Ok::<_, Error>((token, ticket, c.limiter.acquire().await))
                } => t,
            };
            // None to be had stops the run: nothing of this batch was sent.
            let (token, ticket, permit) = match got {
                Ok(got) => got,
                Err(err) => {
                    say_stop(op, &err, "stopping: no access token");
                    return Sent::Stop(err.not_sent());
                }
            };
            op.progress.in_flight(c.flight.in_flight());
            if op.stop_reason().is_some() {
                drop(permit);
                return stopped(op, last);
            }
            attempt += 1;
            self.requests += 1;
            op.progress.request(attempt > 1);
            let now = Instant::now();
            let left = op.deadline.map(|d| d.saturating_duration_since(now));
            let timeout = left.map_or(c.settings.attempt_timeout, |l| {
                c.settings.attempt_timeout.min(l)
            });
            let cut_by_deadline = left.is_some_and(|l| l < c.settings.attempt_timeout);
            let span = tracing::debug_span!(
                "hubspot_tickets.attempt",
                attempt,
                records,
                wait_ms =
                    u64::try_from(now.duration_since(waited_from).as_millis()).unwrap_or(u64::MAX),
                status = field::Empty,
                correlation_id = field::Empty,
            );
            let answer =
                tokio::time::timeout(timeout, c.transport.send(&c.settings.route, batch, &token))
                    .instrument(span.clone())
                    .await
                    .map_err(|_| {
                        let message = if cut_by_deadline {
                            format!(
                                "the run's deadline came {} ms after this request left, before HubSpot answered: the records may have been written",
                                timeout.as_millis()
                            )
                        } else {
                            format!("no answer within {} ms", timeout.as_millis())
                        };
                        Error::new(ErrorKind::Timeout, message)
                    });
            // Judge (and read the rate-limit headers) before releasing the slot, so that
            // requests waiting for it see what this answer taught the limiter.
            let took = permit.sent().elapsed();
            let answered = matches!(answer, Ok(Ok(_)));
            let step = span.in_scope(|| judge(op, answer, permit.sent(), &span));
            drop(permit);
            // The in-flight window learns how long answers take and when to take fewer.
            let signal = match &step {
                Step::Failed(e) if policy::backs_off(e.kind()) => Signal::BackOff,
                _ => Signal::Answered,
            };
            c.flight
                .learn(answered.then_some(took), signal, c.limiter.rate());
            drop(ticket);

            let mut err = match step {
                Step::Done(sent) => return sent,
                Step::Failed(err) => err,
            };
            if err.kind() == ErrorKind::Auth {
                // The source hears of it; the policy says whether a new token is tried.
                let renewable = c.auth.source.refused(&token);
                let heard = policy::Unauthorized {
                    expired: err.category() == Some(crate::auth::OAUTH_TOKEN_CATEGORY_EXPIRED),
                    ever_succeeded: op.ever_succeeded(),
                    renewable,
                    renewed,
                };
                match policy::on_unauthorized(heard) {
                    policy::OnUnauthorized::Renew => {
                        renewed += 1;
                        info!(reason = %err, "HubSpot refused the access token; sending the batch again with a new one");
                        last = Some(err);
                        continue;
                    }
                    policy::OnUnauthorized::Stop { mid_run: true } => {
                        err = err.with_note(policy::MID_RUN_401);
                    }
                    policy::OnUnauthorized::Stop { mid_run: false } => {}
                }
            }
            let kind = err.kind();
            if tally.count(kind) && !err.was_not_sent() {
                self.maybe_written = true;
            }
            let standing = tally
                .standing(
                    kind,
                    op.silent_for(),
                    c.limiter.interval(),
                    op.deadline
                        .map(|d| d.saturating_duration_since(Instant::now())),
                )
                .counted(c.limiter.counted());
            let met = policy::Met {
                kind,
                retry_after: err.retry_after(),
            };
            let verdict = policy::after_failure(met, standing, retry, |d| retry.jittered(d));
            match verdict {
                Verdict::Refused => {
                    debug!(%kind, "refused");
                    return Sent::Refused(err);
                }
                Verdict::StopRun => {
                    say_stop(op, &err, "stopping: every request would get this answer");
                    return Sent::Stop(err);
                }
                Verdict::PauseAll { wait } => {
                    let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                    span.in_scope(|| {
                        if kind == ErrorKind::Locked {
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
                        } else {
                            let policy_name = err.policy_name().unwrap_or("unknown");
                            // A pause of seconds is worth a word at the default verbosity.
                            if wait >= policy::LONG_WAIT {
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
                        }
                    });
                    // Every request would meet the same limit or lock: all of them wait.
                    if kind == ErrorKind::Locked {
                        c.limiter.locked(Instant::now() + wait);
                    } else {
                        c.limiter.pause_until(Instant::now() + wait);
                    }
                    last = Some(err);
                }
                Verdict::Retry { wait, long } => {
                    span.in_scope(|| {
                        if long {
                            let say = format!(
                                "HubSpot answered {} asking to retry after {}; waiting {} before retrying",
                                err.status().unwrap_or(0),
                                err.retry_after().map_or_else(String::new, human),
                                human(wait)
                            );
                            if op.first(Once::ServerWait) {
                                warn!(reason = %err, "{say}");
                            } else {
                                info!(reason = %err, "{say}");
                            }
                        } else {
                            debug!(
                                %kind,
                                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                                "retrying after backoff"
                            );
                        }
                    });
                    tokio::select! {
                        biased;
                        () = op.stop.cancelled() => return Sent::Refused(err),
                        () = tokio::time::sleep(wait) => {}
                    }
                    last = Some(err);
                }
                Verdict::GiveUp | Verdict::Deadline => {
                    // A batch cut short by the deadline says nothing about HubSpot: the
                    // deadline stops the run.
                    let in_a_row = op.gave_up();
                    let stops = verdict == Verdict::GiveUp
                        && policy::give_up_stops_run(kind, in_a_row, op.ever_succeeded());
                    span.in_scope(|| {
                        let reason = err.to_failure().message;
                        // Once per operation at the level shown by default; a failure that
                        // every batch meets is one reason, not a line per batch (and a
                        // give-up that stops the run is said by the stop).
                        if !stops && op.first(Once::GaveUp) {
                            warn!(%kind, attempts = attempt, %reason, "giving up");
                        } else {
                            debug!(%kind, attempts = attempt, %reason, "giving up");
                        }
                    });
                    if stops {
                        let what = if in_a_row == 1 {
                            "the first batch failed after every retry, before HubSpot accepted any request".to_owned()
                        } else {
                            format!("{in_a_row} batches in a row failed after every retry")
                        };
                        stop_run(op, &err, &what);
                    }
                    return Sent::Refused(err);
                }
                Verdict::Silent => {
                    let what = format!(
                        "HubSpot has not answered any request for {}",
                        human(op.silent_for())
                    );
                    stop_run(op, &err, &what);
                    return Sent::Refused(err);
                }
            }
        }
    }
}

/// Stops the run for what HubSpot keeps doing (`what`), with the last attempt's
/// failure as the cause.
fn stop_run(op: &Op, err: &Error, what: &str) {
    let mut f = err.to_failure();
    f.message = format!(
        "{what} (last: {}); the run stopped: records not yet sent are not attempted",
        f.message
    );
    say_stop(op, &f, "stopping");
    op.stop_with(Arc::new(f));
}

/// Says that the run stops, once at the level shown by default: every batch in flight
/// may meet the same answer (a daily limit, a dead server), and one line says it.
fn say_stop(op: &Op, reason: &dyn std::fmt::Display, what: &str) {
    if op.first(Once::Stopping) {
        warn!(%reason, "{what}");
    } else {
        debug!(%reason, "{what}");
    }
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
