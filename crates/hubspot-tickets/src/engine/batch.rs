//! One batch from first request to one outcome per input: a whole-batch 400/409 is
//! split (bisection) to isolate the inputs at fault, within a budget.

use std::collections::VecDeque;
use std::sync::Arc;

use hubspot_tickets_client::types::{TicketUpsertBatch, TicketUpsertInput};
use tracing::{Instrument, debug, warn};

use crate::engine::answer::{map_answer, scrub_input_error};
use crate::engine::attempt::{Sending, Sent};
use crate::engine::policy::{self, OnRefusal};
use crate::engine::{Job, JobResult, Once, Op, Raw};
use crate::error::{ErrorKind, Failure};
use crate::outcomes::{Outcome, RecordOutcome};

struct Sub {
    inputs: Vec<TicketUpsertInput>,
    idx: Vec<usize>,
    /// Whether an earlier request holding these inputs may have written them (an
    /// answer lost or cut short, a 5xx, or a whole-batch refusal, which is not proof
    /// that nothing was written): a later stop must not call them "not attempted".
    maybe_written: bool,
}

/// How many extra requests one batch may spend confirming inputs an answer left out.
const MAX_CONFIRMATIONS: u32 = 2;

/// A whole-batch refusal naming no input, as HubSpot worded it: (status, category,
/// message).
type Refusal = (Option<u16>, Option<String>, String);

/// Tells a refusal of the run's configuration from a refusal of some records, without
/// reading HubSpot's words: the first whole-batch refusal naming no input is answered
/// by sending two inputs alone (the first and the middle one), then the rest. When
/// both, each alone, are refused with the very same words, every record is refused
/// alike: an `idProperty` HubSpot does not accept, a property that does not exist, in
/// words this crate has never seen (three requests in all). Bad records would have to
/// sit at exactly those two places to look so; otherwise bisection goes on as usual.
#[derive(Default)]
enum Probe {
    /// No whole-batch refusal naming no input yet.
    #[default]
    Idle,
    /// The batch was refused with `refusal`; `singles` (job indexes) are sent alone.
    /// Each flag: that one was refused with the same words.
    Sent {
        refusal: Refusal,
        singles: [usize; 2],
        refused: [bool; 2],
    },
    /// Decided: the records are at fault (or the probe does not apply).
    Done,
}

impl Probe {
    /// Notes a refusal of the sub-batch `idx`; when it convicts the configuration, the
    /// other input sent alone (its outcome is the configuration's too).
    fn see(&mut self, refusal: &Refusal, idx: &[usize]) -> Option<usize> {
        let Probe::Sent {
            refusal: first,
            singles,
            refused,
        } = self
        else {
            return None;
        };
        if first != refusal {
            return None;
        }
        let [i] = idx else {
            return None;
        };
        let k = singles.iter().position(|s| s == i)?;
        refused[k] = true;
        if refused[0] && refused[1] {
            let other = singles[1 - k];
            *self = Probe::Done;
            return Some(other);
        }
        None
    }
}

/// The smallest batch the configuration probe is used for.
const PROBE_MIN_BATCH: usize = 20;

/// The two places (`a < b`) of a batch's inputs sent alone by the probe: chosen by a
/// hash of the batch's ids salted per process, so that no pair of places is a blind
/// spot, nor the same one in the next run (tests use a fixed salt).
fn probe_places(inputs: &[TicketUpsertInput]) -> [usize; 2] {
    static SALT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let salt = *SALT.get_or_init(|| if cfg!(test) { 0 } else { rand::random() });
    let n = inputs.len();
    // FNV-1a: small and good enough to spread places.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ salt;
    for i in inputs {
        for b in i.id.bytes().chain([0xFF]) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    let n64 = n as u64;
    let a = usize::try_from(h % n64).unwrap_or(0);
    let step = 1 + usize::try_from((h >> 32) % (n64 - 1)).unwrap_or(0);
    let b = (a + step) % n;
    [a.min(b), a.max(b)]
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
pub(crate) async fn run_job(op: &Op, job: Job) -> JobResult {
    let n = job.inputs.len();
    let span = tracing::info_span!(
        "hubspot_tickets.batch",
        records = n,
        first_position = job.positions.first().copied().unwrap_or(0),
    );
    run_job_inner(op, job).instrument(span).await
}

async fn run_job_inner(op: &Op, job: Job) -> JobResult {
    let c = &op.engine;
    let n = job.inputs.len();
    let mut slots: Vec<Option<(TicketUpsertInput, Outcome)>> = (0..n).map(|_| None).collect();
    let mut work = VecDeque::from([Sub {
        inputs: job.inputs,
        idx: (0..n).collect(),
        maybe_written: false,
    }]);
    let mut budget = if c.settings.bisect {
        c.settings.bisect_budget
    } else {
        0
    };
    let mut raw = Raw::default();
    let mut whole_error = None;
    let mut requests = 0_u32;
    let mut confirmations = 0_u32;
    let mut first = true;
    let mut probe = Probe::default();
    // Inputs an answer both wrote and refused (job index: the refusal), until resends
    // settle them.
    let mut contradictions: std::collections::HashMap<usize, Arc<Failure>> =
        std::collections::HashMap::new();

    let finish = |slots: &mut Vec<Option<(TicketUpsertInput, Outcome)>>,
                  sub: Sub,
                  outcome: &dyn Fn() -> Outcome| {
        for (input, i) in sub.inputs.into_iter().zip(sub.idx) {
            slots[i] = Some((input, outcome()));
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
        let mut sending = Sending {
            requests: 0,
            maybe_written: sub.maybe_written,
        };
        let sent = sending.send(op, &batch).await;
        requests += sending.requests;
        let mut sub = Sub {
            inputs: batch.inputs,
            idx: sub.idx,
            maybe_written: sending.maybe_written,
        };
        match sent {
            Sent::Answer {
                status,
                headers,
                mut body,
            } => {
                let mapped = map_answer(
                    &sub.inputs,
                    Some(c.settings.id_property.as_str()),
                    &mut body,
                    !op.keep_answers,
                    status.as_u16(),
                    &c.token(),
                );
                // Inputs the answer left out: an upsert is idempotent, so the way to
                // know is to send them again, a bounded number of times.
                let mut again = Sub {
                    inputs: Vec::new(),
                    idx: Vec::new(),
                    maybe_written: true,
                };
                let confirm = confirmations < MAX_CONFIRMATIONS;
                if !mapped.contradicted.is_empty() {
                    let n = mapped.contradicted.len();
                    if op.first(Once::Contradiction) {
                        warn!(
                            records = n,
                            "HubSpot's answer both wrote and refused the same input; sending it again to learn which (said once per run)"
                        );
                    } else {
                        debug!(records = n, "contradictory answer; confirming");
                    }
                }
                contradictions.extend(mapped.contradicted);
                let mut unaccounted = mapped.unaccounted.into_iter().peekable();
                for (k, ((input, i), o)) in sub
                    .inputs
                    .into_iter()
                    .zip(sub.idx)
                    .zip(mapped.outcomes)
                    .enumerate()
                {
                    if unaccounted.next_if_eq(&k).is_none() {
                        slots[i] = Some((input, o));
                    } else if confirm {
                        again.inputs.push(input);
                        again.idx.push(i);
                    } else {
                        let f = match contradictions.get(&i) {
                            // HubSpot's own refusal, and what is not known.
                            Some(refusal) => {
                                let mut f = Failure::clone(refusal);
                                f.message = format!(
                                    "{} (HubSpot's answers also reported this input written, also after {confirmations} more request(s) for it: it may or may not have been written)",
                                    f.message
                                );
                                f
                            }
                            None => {
                                let mut f = Failure::new(
                                    ErrorKind::Decode,
                                    format!(
                                        "HubSpot's answers did not mention this input, also after {confirmations} more request(s) for it; it may or may not have been written"
                                    ),
                                );
                                f.status = Some(status.as_u16());
                                f
                            }
                        };
                        slots[i] = Some((
                            input,
                            Outcome::Failed {
                                reason: Arc::new(f),
                            },
                        ));
                    }
                }
                if !again.inputs.is_empty() {
                    confirmations += 1;
                    debug!(
                        records = again.inputs.len(),
                        "the answer left inputs out or contradicted itself; sending them again to confirm"
                    );
                    work.push_back(again);
                }
                if op.keep_answers {
                    raw.results.append(&mut body.results);
                    raw.errors.extend(
                        body.errors
                            .drain(..)
                            .map(|e| scrub_input_error(e, &c.token())),
                    );
                    raw.status = Some(status);
                    raw.headers = headers;
                }
            }
            Sent::Refused(mut err) => {
                // A refused idProperty is the run's configuration only when every input
                // names it; inputs that name it on their own fail alone, and the others
                // go again.
                if err.kind() == ErrorKind::Configuration {
                    let refused = err.refused_id_property().map(str::to_owned);
                    let naming: Vec<usize> = (0..sub.inputs.len())
                        .filter(|&k| {
                            refused.is_none()
                                || sub.inputs[k].id_property.as_deref() == refused.as_deref()
                        })
                        .collect();
                    if naming.len() < sub.inputs.len() {
                        err = err.with_kind(ErrorKind::Validation);
                        if !naming.is_empty() {
                            let f = Arc::new(err.to_failure());
                            let (bad, good) = partition(sub, |k| naming.contains(&k));
                            finish(&mut slots, bad, &|| Outcome::Failed {
                                reason: Arc::clone(&f),
                            });
                            work.push_front(good);
                            continue;
                        }
                    }
                }
                let mut start_probe = None;
                let mut convicted_alone = None;
                if matches!(err.kind(), ErrorKind::Validation | ErrorKind::Conflict)
                    && err.named_among(&sub.inputs).is_empty()
                {
                    let refusal = (
                        err.status(),
                        err.category().map(str::to_owned),
                        err.message().to_owned(),
                    );
                    // Only before HubSpot ever accepted a request of the run (a
                    // configuration it refuses, it refuses from the start), and for a
                    // batch large enough that two bad records at the probed places
                    // would be a coincidence (a small batch is bisected cheaply).
                    if matches!(probe, Probe::Idle)
                        && sub.inputs.len() >= PROBE_MIN_BATCH
                        && !op.ever_succeeded()
                    {
                        start_probe = Some(refusal);
                    } else if let Some(alone) = probe.see(&refusal, &sub.idx) {
                        convicted_alone = Some(alone);
                        err = err.with_kind(ErrorKind::Configuration).with_note(
                            "HubSpot refused the whole batch, and two of its records each sent alone, with these same words, naming no record, before accepting any request of the run: most likely the run's configuration is at fault (an idProperty that does not exist or is not unique, a property that does not exist, the object type); if it is right, every record is refused for the reason HubSpot gives",
                        );
                    }
                }
                let verdict =
                    policy::on_refusal(err.kind(), op.ever_answered(), sub.inputs.len() > 1);
                let splittable = verdict == OnRefusal::Split;
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
                        let (bad, good) = partition(sub, |k| named.contains(&k));
                        finish(&mut slots, bad, &|| Outcome::Failed {
                            reason: Arc::clone(&f),
                        });
                        work.push_front(good);
                        continue;
                    }
                    if let Some(refusal) = start_probe
                        && budget >= 3
                    {
                        budget -= 3;
                        debug!(
                            records = sub.inputs.len(),
                            "whole batch refused naming no input; sending two inputs alone, then the rest"
                        );
                        let [a, b] = probe_places(&sub.inputs);
                        probe = Probe::Sent {
                            refusal,
                            singles: [sub.idx[a], sub.idx[b]],
                            refused: [false, false],
                        };
                        let (first, rest) = partition(sub, |k| k == a);
                        let (second, rest) = partition(rest, |k| k + 1 == b);
                        work.push_front(rest);
                        work.push_front(second);
                        work.push_front(first);
                        continue;
                    }
                    if budget >= 2 {
                        budget -= 2;
                        debug!(
                            records = sub.inputs.len(),
                            "whole batch refused; splitting it in two"
                        );
                        let mid = sub.inputs.len() / 2;
                        let (left, right) = partition(sub, |k| k < mid);
                        work.push_front(right);
                        work.push_front(left);
                        continue;
                    }
                }
                let mut f = err.to_failure();
                if splittable && c.settings.bisect {
                    f.message.push_str(
                        " (the batch was not split further: the bisection budget is used up)",
                    );
                }
                // A refusal every request would get stops the run (see `policy`), and
                // since HubSpot wrote nothing, these inputs are not attempted like the
                // rest (one cause, one outcome). So do the run stopping for this very
                // failure (HubSpot stopped answering).
                let stopping_for_it = op
                    .stop_reason()
                    .is_some_and(|r| r.kind == err.kind() && op.stop.is_cancelled());
                let stops = verdict == OnRefusal::StopRun || stopping_for_it;
                let f = Arc::new(f);
                if stops {
                    op.stop_with(Arc::clone(&f));
                }
                // The input sent alone was refused for the same cause: one cause, one
                // outcome.
                if let Some(Some((_, o))) = convicted_alone.and_then(|i| slots.get_mut(i)) {
                    *o = Outcome::Failed {
                        reason: Arc::clone(&f),
                    };
                }
                if is_whole && work.is_empty() {
                    whole_error = Some(err);
                }
                let written = sub.maybe_written;
                // Given up without ever reaching HubSpot (connections refused): nothing
                // was written or judged, so these records were not attempted.
                let never_reached = f.kind == ErrorKind::Transport && !written;
                finish(&mut slots, sub, &|| {
                    if stops || never_reached {
                        unsent(&f, written)
                    } else {
                        Outcome::Failed {
                            reason: Arc::clone(&f),
                        }
                    }
                });
            }
            Sent::Stop(err) => {
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
        .map(|(slot, position)| match slot {
            Some((input, outcome)) => op.outcome_of(position, input, outcome),
            // Unreachable by construction (every sub-batch ends in `finish` or a mapped
            // answer), but an input is never dropped from the account.
            None => RecordOutcome::new(
                position,
                String::new(),
                Outcome::Failed {
                    reason: Arc::new(Failure::new(ErrorKind::Decode, "internal: no outcome")),
                },
            ),
        })
        .collect();
    JobResult {
        outcomes,
        raw,
        whole_error,
        requests,
    }
}

/// Splits `sub` into (the inputs at the positions `pick` takes, the others).
fn partition(sub: Sub, pick: impl Fn(usize) -> bool) -> (Sub, Sub) {
    let part = || Sub {
        inputs: Vec::new(),
        idx: Vec::new(),
        maybe_written: sub.maybe_written,
    };
    let (mut picked, mut rest) = (part(), part());
    for (k, (input, i)) in sub.inputs.into_iter().zip(sub.idx).enumerate() {
        let target = if pick(k) { &mut picked } else { &mut rest };
        target.inputs.push(input);
        target.idx.push(i);
    }
    (picked, rest)
}
