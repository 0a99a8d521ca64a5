//! Answer mapping: ties a 2xx answer's results and per-input errors back to the inputs
//! that were sent, by trace id first and id second.

use std::collections::HashMap;
use std::sync::Arc;

use hubspot_tickets_client::types::{InputError, TicketUpsertBatchResult, TicketUpsertInput};
use tracing::warn;

use crate::engine::response::bounded;
use crate::error::{ErrorKind, Failure};
use crate::outcomes::Outcome;
use crate::secret::AccessToken;

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

/// A 2xx answer mapped onto the inputs sent.
pub(super) struct Mapped {
    /// One per input, in input order.
    pub outcomes: Vec<Outcome>,
    /// Inputs the answer did not mention at all (neither a result nor an error), or
    /// both wrote and refused: their outcome above is a placeholder; the caller
    /// confirms them with another request.
    pub unaccounted: Vec<usize>,
    /// Inputs the answer gave both a result and an error (a contradiction, said once
    /// per run by the caller), with the error's reason.
    pub contradicted: Vec<(usize, Arc<Failure>)>,
}

/// Maps a 2xx answer's results and errors back to the inputs, by trace id, then by id.
pub(super) fn map_answer(
    inputs: &[TicketUpsertInput],
    default_prop: Option<&str>,
    body: &mut TicketUpsertBatchResult,
    take_ids: bool,
    status: u16,
    token: &AccessToken,
) -> Mapped {
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
    let mut contradicted: Vec<(usize, Arc<Failure>)> = Vec::new();
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
            // A result and an error for one input: whether it was written is not
            // known, so it is never reported written; a resend tells.
            Some(i) if out[i].as_ref().is_some_and(Outcome::is_written) => {
                contradicted.push((i, Arc::new(input_error_failure(e, status, token))));
            }
            _ => unmatched_errors.push(e),
        }
    }
    contradicted.sort_unstable_by_key(|(i, _)| *i);
    contradicted.dedup_by_key(|(i, _)| *i);
    for (i, _) in &contradicted {
        out[*i] = None;
    }

    let missing = out.iter().filter(|o| o.is_none()).count() - contradicted.len();
    if missing > 0 || unmatched_results > 0 || !unmatched_errors.is_empty() {
        warn!(
            missing,
            unmatched_results,
            unmatched_errors = unmatched_errors.len(),
            "HubSpot's answer did not map one-to-one onto the inputs"
        );
    }
    // One error HubSpot did not tie to an input, and one input without an outcome:
    // that error is the input's. Otherwise the inputs without one are unaccounted.
    let leftover: Option<Arc<Failure>> = if !contradicted.is_empty() {
        // Contradicted inputs go for confirmation with the unmentioned ones.
        None
    } else if missing == 1 && unmatched_errors.len() == 1 {
        unmatched_errors
            .first()
            .map(|e| Arc::new(input_error_failure(e, status, token)))
    } else if let Some(m) = unmatched_errors.first().and_then(|e| e.message.as_deref()) {
        let mut f = Failure::new(
            ErrorKind::Decode,
            token.scrub(bounded(format!(
                "HubSpot reported an error it did not tie to an input: {m}"
            ))),
        );
        f.status = Some(status);
        Some(Arc::new(f))
    } else {
        None
    };
    let mut unaccounted = Vec::new();
    let outcomes = out
        .into_iter()
        .enumerate()
        .map(|(k, o)| match (o, &leftover) {
            (Some(o), _) => o,
            (None, Some(reason)) => Outcome::Failed {
                reason: Arc::clone(reason),
            },
            (None, None) => {
                unaccounted.push(k);
                Outcome::Failed {
                    reason: Arc::new(Failure::new(ErrorKind::Decode, "unaccounted")),
                }
            }
        })
        .collect();
    Mapped {
        outcomes,
        unaccounted,
        contradicted,
    }
}

/// HubSpot's per-input error as it sent it, but with the token (if a server echoed it
/// back anywhere in it) replaced: callers print these.
pub(super) fn scrub_input_error(e: InputError, token: &AccessToken) -> InputError {
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
        .map(|c| token.scrub(super::response::printable(c.chars().take(200).collect())));
    f
}
