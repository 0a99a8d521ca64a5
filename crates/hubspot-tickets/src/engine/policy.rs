//! What an answer means for the run, decided in one place.
//!
//! The engine carries these decisions out (`attempt` waits and retries, `batch` splits
//! and finishes records, the bulk layer stops reading); the CLI maps the run's stop
//! reason to an exit code in one `match` of its own. Nothing else decides. Adding an
//! answer is a row in [`after_failure`] (or [`on_refusal`]) and a row in the table test
//! below.
//!
//! | HubSpot answered | what happens |
//! | --- | --- |
//! | 429 `TEN_SECONDLY_ROLLING` | every request pauses (its `Retry-After`; without one an eighth of the window, doubling with each 429 of the batch, or the window where answers carry no count; at most one window), the batch is retried; after `rate_limit_waits` pauses, its records fail |
//! | 429 `DAILY` | the run stops at once; the rest is not attempted |
//! | 423 Locked | every request pauses (at least the 2 s lock; `Retry-After` up to a minute), fewer go at once, the batch is retried; after `rate_limit_waits` locks, its records fail |
//! | 477 Migration in Progress | the run stops at once, with HubSpot's `Retry-After` in its reason |
//! | 5xx, a timeout, a broken or refused connection | the batch is retried after a backoff (a 5xx's `Retry-After`, at most a minute, said when long); after `max_attempts`, its records fail (not attempted, if the request never left) |
//! | no answer to any request for 45 s (checked as each attempt ends: about a minute at the default 30 s timeout) | the run stops; the rest is not attempted |
//! | two batches in a row given up after every retry (timeouts, connections, 5xx, 423, 429), with no success between (one, before any success) | the run stops; the rest is not attempted |
//! | 401 with a source that can give a new token ([`on_unauthorized`]), when it looks like expiry (HubSpot's `EXPIRED_AUTHENTICATION`, or earlier requests of the run were accepted) | the source is told, and the batch is sent again with a new token, once per batch |
//! | 401 otherwise (a fixed token expired or revoked mid-run: said so, with how to resume), 403, 404, a refused `idProperty` or object type, a redirect | the run stops after that request; the rest is not attempted |
//! | no token to be had (a refresh token refused, a token file gone) | the run stops; the batch and the rest are not attempted |
//! | any other 400 or 409 for the whole batch | the batch is split to find the records at fault (see `batch`) |
//! | any other 4xx | the batch's records fail |

use std::time::Duration;

use crate::config::RetryPolicy;
use crate::error::ErrorKind;

/// How long HubSpot documents a 423 lock to last: the least a locked batch waits.
pub(crate) const LOCK: Duration = Duration::from_secs(2);

/// The longest a 423's `Retry-After` is followed: a lock is seconds, and a broken or
/// hostile header must not park a run for a day.
pub(crate) const MAX_LOCK_WAIT: Duration = Duration::from_secs(60);

/// The longest a 5xx's `Retry-After` is followed before a retry: a person waits a
/// minute without a word; longer is HubSpot down, which the silence rules handle.
pub(crate) const MAX_SERVER_WAIT: Duration = Duration::from_secs(60);

/// A HubSpot silent this long (no answer to any request) stops the run: at the default
/// 30 s timeout, after a batch's second attempt.
pub(crate) const SILENCE: Duration = Duration::from_secs(45);

/// Batches given up in a row (every retry used), with no success between them, that
/// stop the run.
pub(crate) const SILENT_GIVE_UPS: u32 = 2;

/// Waits at least this long are said at the default verbosity.
pub(crate) const LONG_WAIT: Duration = Duration::from_secs(3);

/// What one failed attempt met.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Met {
    pub kind: ErrorKind,
    pub retry_after: Option<Duration>,
}

/// Where the batch and the run stand after that attempt.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Standing {
    /// Failed attempts of this batch that a backoff answers (5xx, timeouts,
    /// connections), this one included.
    pub failures: u32,
    /// Pauses for a 429 (or a 423) this batch has had, this one included.
    pub pauses: u32,
    /// How long since HubSpot last answered any request of the run.
    pub silent_for: Duration,
    /// The rate limit's window (a rolling 429 frees up within it).
    pub window: Duration,
    /// Time left before the run's deadline, if it has one.
    pub deadline_in: Option<Duration>,
    /// Whether answers carry HubSpot's count (`X-HubSpot-RateLimit-Remaining`).
    pub counted: bool,
}

impl Standing {
    pub(crate) fn counted(self, counted: bool) -> Self {
        Self { counted, ..self }
    }
}

/// One request's failed attempts so far, counted as [`after_failure`] reads them: the
/// batch's attempts and the preflight's properties read keep the same tally.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Tally {
    failures: u32,
    rate_waits: u32,
    lock_waits: u32,
}

impl Tally {
    /// Counts a failed attempt of `kind`; whether a backoff answers it (5xx, timeouts,
    /// connections, undecodable successes).
    pub(crate) fn count(&mut self, kind: ErrorKind) -> bool {
        match kind {
            ErrorKind::RateLimited => self.rate_waits += 1,
            ErrorKind::Locked => self.lock_waits += 1,
            ErrorKind::Server | ErrorKind::Timeout | ErrorKind::Transport | ErrorKind::Decode => {
                self.failures += 1;
                return true;
            }
            _ => {}
        }
        false
    }

    /// Where the request stands after an attempt of `kind`.
    pub(crate) fn standing(
        &self,
        kind: ErrorKind,
        silent_for: Duration,
        window: Duration,
        deadline_in: Option<Duration>,
    ) -> Standing {
        Standing {
            failures: self.failures,
            pauses: if kind == ErrorKind::Locked {
                self.lock_waits
            } else {
                self.rate_waits
            },
            silent_for,
            window,
            deadline_in,
            counted: true,
        }
    }
}

/// What the engine does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// An answer about the records: hand it to the batch (see [`on_refusal`]).
    Refused,
    /// Every request would get the same answer: the run stops at once.
    StopRun,
    /// Nothing was written: every request pauses for `wait`, then the batch is retried.
    PauseAll { wait: Duration },
    /// The batch is retried after `wait` (jitter already applied); `long`: say why.
    Retry { wait: Duration, long: bool },
    /// Retries are used up: the batch's records fail.
    GiveUp,
    /// The next wait would outlast the run's deadline: the batch's records fail, and
    /// the deadline stops the run.
    Deadline,
    /// HubSpot has not answered anything for too long: the run stops.
    Silent,
}

/// The pause after a request's `pauses`-th 429 of the rolling window: its
/// `Retry-After`, or, without one, an eighth of the window doubled with each 429 of the
/// request, and never more than a window (a rolling window frees up within one).
///
/// Why not a whole window at once? A 429 at the ceiling usually means one request too
/// many (another process joined, say): room comes back as the oldest requests leave, and
/// a whole window's pause of every request gave away 8 s of a full window. After the
/// pause one request goes alone and its count tells the limiter how much room there is;
/// a window that stays full meets longer pauses. Without counts (a server that sends no
/// rate-limit headers) that request learns nothing, so the pause is the window.
pub(crate) fn rolling_pause(
    retry_after: Option<Duration>,
    pauses: u32,
    window: Duration,
    counted: bool,
) -> Duration {
    if !counted {
        return retry_after.map_or(window, |ra| ra.min(window));
    }
    let first = window / 8;
    let doubled = first.saturating_mul(1 << pauses.saturating_sub(1).min(16));
    retry_after.unwrap_or(doubled).min(window)
}

/// The verdict on a failed attempt. `jitter` spreads a backoff ceiling (it is
/// [`RetryPolicy::jittered`] outside tests).
pub(crate) fn after_failure(
    met: Met,
    s: Standing,
    policy: &RetryPolicy,
    jitter: impl Fn(Duration) -> Duration,
) -> Verdict {
    let outlasts = |wait: Duration| s.deadline_in.is_some_and(|d| wait >= d);
    match met.kind {
        ErrorKind::RateLimitedDaily | ErrorKind::Unavailable => Verdict::StopRun,
        ErrorKind::RateLimited => {
            let wait = rolling_pause(met.retry_after, s.pauses, s.window, s.counted);
            if s.pauses > policy.rate_limit_waits {
                Verdict::GiveUp
            } else if outlasts(wait) {
                Verdict::Deadline
            } else {
                Verdict::PauseAll { wait }
            }
        }
        ErrorKind::Locked => {
            let lock = met
                .retry_after
                .map_or(LOCK, |ra| ra.clamp(LOCK, MAX_LOCK_WAIT));
            // A little jitter, so the batches the lock held do not return together.
            let wait = lock + jitter(lock / 10);
            if s.pauses > policy.rate_limit_waits {
                Verdict::GiveUp
            } else if outlasts(wait) {
                Verdict::Deadline
            } else {
                Verdict::PauseAll { wait }
            }
        }
        // A 2xx whose body did not decode (cut short by a proxy) is retried like a 5xx:
        // the upsert is idempotent, and the retry gets a readable answer.
        ErrorKind::Server | ErrorKind::Timeout | ErrorKind::Transport | ErrorKind::Decode => {
            let silent = matches!(met.kind, ErrorKind::Timeout | ErrorKind::Transport);
            if silent && s.silent_for >= SILENCE {
                return Verdict::Silent;
            }
            let mut wait = jitter(policy.ceiling(s.failures.saturating_sub(1)));
            let mut long = false;
            if let Some(ra) = met.retry_after {
                wait = wait.max(ra.min(MAX_SERVER_WAIT));
                long = wait >= LONG_WAIT;
            }
            if s.failures >= policy.max_attempts {
                Verdict::GiveUp
            } else if outlasts(wait) {
                Verdict::Deadline
            } else {
                Verdict::Retry { wait, long }
            }
        }
        _ => Verdict::Refused,
    }
}

/// Whether a batch given up with `kind` after every retry, the `in_a_row`-th in a row
/// with no success between, stops the run: HubSpot stopped answering, or fails or
/// locks everything; the next batches would spend their retries the same way. Before
/// HubSpot ever accepted a request of the run, the first such batch is enough.
pub(crate) fn give_up_stops_run(kind: ErrorKind, in_a_row: u32, ever_succeeded: bool) -> bool {
    let needed = if ever_succeeded { SILENT_GIVE_UPS } else { 1 };
    matches!(
        kind,
        ErrorKind::Timeout
            | ErrorKind::Transport
            | ErrorKind::Server
            | ErrorKind::Decode
            | ErrorKind::Locked
            | ErrorKind::RateLimited
    ) && in_a_row >= needed
}

/// Whether an attempt that met `kind` tells the in-flight window to take fewer.
pub(crate) fn backs_off(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::RateLimited
            | ErrorKind::Locked
            | ErrorKind::Server
            | ErrorKind::Timeout
            | ErrorKind::Transport
    )
}

/// What the engine knows when HubSpot answers 401.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Unauthorized {
    /// HubSpot's answer says the token expired (`EXPIRED_AUTHENTICATION`).
    pub expired: bool,
    /// Earlier requests of the run were accepted (with this token or an earlier one).
    pub ever_succeeded: bool,
    /// The token source can give a new token (OAuth, a rotated file).
    pub renewable: bool,
    /// New tokens this batch already asked for after a 401.
    pub renewed: u32,
}

/// What a 401 calls for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnUnauthorized {
    /// Ask the source for a new token and send the batch again.
    Renew,
    /// The refusal stands (then the run stops, see [`on_refusal`]); `mid_run`: the
    /// token expired or was revoked during the run, which the stop says.
    Stop { mid_run: bool },
}

/// New tokens one batch may ask for after 401s: a second 401 with a fresh token is not
/// expiry.
pub(crate) const RENEWALS_PER_BATCH: u32 = 1;

/// What the stop says when a token that worked earlier in the run is refused and no new
/// one can be had.
pub(crate) const MID_RUN_401: &str = "the access token worked earlier in this run: it expired or was revoked mid-run (a fixed token cannot be renewed). Records not yet sent are not attempted; send them again with a new token (the CLI: the same command with a new token and --resume REPORT), or use a token source that renews it (OAuth with a refresh token, or a token file)";

/// The verdict on a 401: renew when the source can and the refusal looks like expiry
/// (HubSpot's words, or a token that worked earlier in the run), once per batch.
pub(crate) fn on_unauthorized(u: Unauthorized) -> OnUnauthorized {
    let looks_expired = u.expired || u.ever_succeeded;
    if u.renewable && looks_expired && u.renewed < RENEWALS_PER_BATCH {
        OnUnauthorized::Renew
    } else {
        OnUnauthorized::Stop {
            mid_run: u.ever_succeeded,
        }
    }
}

/// What a final refusal of a batch's request means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnRefusal {
    /// Every request would get it (the token, the scope, the path, the configuration,
    /// or no connection ever made): the run stops; these records are not attempted
    /// (unless an earlier attempt may have written them).
    StopRun,
    /// A whole-batch refusal of its records (400, 409): split the batch to find them.
    Split,
    /// The batch's records fail with it.
    FailRecords,
}

/// The verdict on a batch's final refusal: `kind`, whether HubSpot ever answered the
/// run, and whether the batch holds more than one input.
pub(crate) fn on_refusal(kind: ErrorKind, ever_answered: bool, several: bool) -> OnRefusal {
    match kind {
        ErrorKind::Auth | ErrorKind::Forbidden | ErrorKind::NotFound | ErrorKind::Configuration => {
            OnRefusal::StopRun
        }
        // A connection that never worked: every batch would fare the same.
        ErrorKind::Transport if !ever_answered => OnRefusal::StopRun,
        ErrorKind::Validation | ErrorKind::Conflict if several => OnRefusal::Split,
        _ => OnRefusal::FailRecords,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_401_renews_once_when_it_looks_like_expiry() {
        use OnUnauthorized as O;
        let u = |expired, ever_succeeded, renewable, renewed| Unauthorized {
            expired,
            ever_succeeded,
            renewable,
            renewed,
        };
        for (what, heard, expected) in [
            ("OAuth, mid-run", u(false, true, true, 0), O::Renew),
            (
                "OAuth, HubSpot says expired",
                u(true, false, true, 0),
                O::Renew,
            ),
            (
                "OAuth, refused again with a new token",
                u(true, true, true, RENEWALS_PER_BATCH),
                O::Stop { mid_run: true },
            ),
            (
                "OAuth, first request refused, not expired: configuration",
                u(false, false, true, 0),
                O::Stop { mid_run: false },
            ),
            (
                "fixed token, mid-run",
                u(false, true, false, 0),
                O::Stop { mid_run: true },
            ),
            (
                "fixed token, expired at the start (HubSpot's words say so)",
                u(true, false, false, 0),
                O::Stop { mid_run: false },
            ),
            (
                "fixed token, refused at once",
                u(false, false, false, 0),
                O::Stop { mid_run: false },
            ),
        ] {
            assert_eq!(on_unauthorized(heard), expected, "{what}");
        }
    }

    const S: Duration = Duration::from_secs(1);
    const MS: Duration = Duration::from_millis(1);

    fn standing(failures: u32, pauses: u32) -> Standing {
        Standing {
            failures,
            pauses,
            silent_for: Duration::ZERO,
            window: 10 * S,
            deadline_in: None,
            counted: true,
        }
    }

    fn met(kind: ErrorKind, retry_after: Option<u64>) -> Met {
        Met {
            kind,
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    /// Every row of the module's table, and its edges.
    #[test]
    fn every_answer_has_its_verdict() {
        let p = RetryPolicy::default(); // 5 attempts, 12 pauses, 0.5 s doubling
        let none = |d: Duration| d;
        use ErrorKind as K;
        use Verdict as V;
        let rows: Vec<(&str, Met, Standing, Verdict)> = vec![
            (
                "daily 429",
                met(K::RateLimitedDaily, None),
                standing(0, 1),
                V::StopRun,
            ),
            (
                "477, a day",
                met(K::Unavailable, Some(86_400)),
                standing(1, 0),
                V::StopRun,
            ),
            (
                "429 without Retry-After: an eighth of the window",
                met(K::RateLimited, None),
                standing(0, 1),
                V::PauseAll { wait: 1250 * MS },
            ),
            (
                "the batch's third 429 without Retry-After: doubled twice",
                met(K::RateLimited, None),
                standing(0, 3),
                V::PauseAll { wait: 5 * S },
            ),
            (
                "429 without Retry-After from a server that sends no counts: a window",
                met(K::RateLimited, None),
                standing(0, 1).counted(false),
                V::PauseAll { wait: 10 * S },
            ),
            (
                "the batch's fifth: a window at most",
                met(K::RateLimited, None),
                standing(0, 5),
                V::PauseAll { wait: 10 * S },
            ),
            (
                "429, 4 s",
                met(K::RateLimited, Some(4)),
                standing(0, 1),
                V::PauseAll { wait: 4 * S },
            ),
            (
                "429, three years",
                met(K::RateLimited, Some(94_608_000)),
                standing(0, 1),
                V::PauseAll { wait: 10 * S },
            ),
            (
                "429, pauses used up",
                met(K::RateLimited, None),
                standing(0, 13),
                V::GiveUp,
            ),
            (
                "423 (the lock, and a tenth of it at most for jitter)",
                met(K::Locked, None),
                standing(0, 1),
                V::PauseAll { wait: 2200 * MS },
            ),
            (
                "423, 1 s asked: the lock's 2 s",
                met(K::Locked, Some(1)),
                standing(0, 1),
                V::PauseAll { wait: 2200 * MS },
            ),
            (
                "423, a day asked: a minute",
                met(K::Locked, Some(86_400)),
                standing(0, 1),
                V::PauseAll { wait: 66 * S },
            ),
            (
                "423, locks used up",
                met(K::Locked, None),
                standing(0, 13),
                V::GiveUp,
            ),
            (
                "503, first",
                met(K::Server, None),
                standing(1, 0),
                V::Retry {
                    wait: S / 2,
                    long: false,
                },
            ),
            (
                "503, third",
                met(K::Server, None),
                standing(3, 0),
                V::Retry {
                    wait: 2 * S,
                    long: false,
                },
            ),
            (
                "503, an hour asked: a minute, said",
                met(K::Server, Some(3600)),
                standing(1, 0),
                V::Retry {
                    wait: 60 * S,
                    long: true,
                },
            ),
            (
                "503, attempts used up",
                met(K::Server, None),
                standing(5, 0),
                V::GiveUp,
            ),
            (
                "timeout",
                met(K::Timeout, None),
                standing(1, 0),
                V::Retry {
                    wait: S / 2,
                    long: false,
                },
            ),
            (
                "refused connection",
                met(K::Transport, None),
                standing(2, 0),
                V::Retry {
                    wait: S,
                    long: false,
                },
            ),
            (
                "undecodable 2xx",
                met(K::Decode, None),
                standing(1, 0),
                V::Retry {
                    wait: S / 2,
                    long: false,
                },
            ),
            (
                "validation",
                met(K::Validation, None),
                standing(0, 0),
                V::Refused,
            ),
            ("auth", met(K::Auth, None), standing(0, 0), V::Refused),
        ];
        for (what, m, s, expected) in rows {
            assert_eq!(after_failure(m, s, &p, none), expected, "{what}");
        }
        // Silence: timeouts and connections, not a 5xx (HubSpot answered that).
        let mut s = standing(1, 0);
        s.silent_for = SILENCE;
        assert_eq!(after_failure(met(K::Timeout, None), s, &p, none), V::Silent);
        assert_eq!(
            after_failure(met(K::Transport, None), s, &p, none),
            V::Silent
        );
        assert_eq!(
            after_failure(met(K::Server, None), s, &p, none),
            V::Retry {
                wait: S / 2,
                long: false
            }
        );
        // A wait that would outlast the deadline ends the batch for the deadline.
        let mut s = standing(1, 1);
        s.deadline_in = Some(S);
        assert_eq!(
            after_failure(met(K::RateLimited, None), s, &p, none),
            V::Deadline
        );
        assert_eq!(
            after_failure(met(K::Server, Some(5)), s, &p, none),
            V::Deadline
        );
        // Give-ups in a row without an answer.
        assert!(!give_up_stops_run(K::Timeout, 1, true));
        assert!(give_up_stops_run(K::Timeout, 2, true));
        assert!(give_up_stops_run(K::Transport, 2, true));
        assert!(give_up_stops_run(K::Server, 2, true));
        assert!(give_up_stops_run(K::Locked, 2, true));
        assert!(give_up_stops_run(K::RateLimited, 1, false));
        assert!(!give_up_stops_run(K::Validation, 5, false));
    }

    #[test]
    fn every_refusal_has_its_verdict() {
        use ErrorKind as K;
        use OnRefusal as R;
        for (kind, ever, several, expected) in [
            (K::Auth, true, true, R::StopRun),
            (K::Forbidden, true, true, R::StopRun),
            (K::NotFound, true, true, R::StopRun),
            (K::Configuration, true, false, R::StopRun),
            (K::Transport, false, true, R::StopRun),
            (K::Transport, true, true, R::FailRecords),
            (K::Validation, true, true, R::Split),
            (K::Validation, true, false, R::FailRecords),
            (K::Conflict, true, true, R::Split),
            (K::ClientError, true, true, R::FailRecords),
            (K::Server, true, true, R::FailRecords),
            (K::Timeout, true, true, R::FailRecords),
            (K::RateLimited, true, true, R::FailRecords),
            (K::Locked, true, true, R::FailRecords),
        ] {
            assert_eq!(on_refusal(kind, ever, several), expected, "{kind:?}");
        }
        for k in [
            K::RateLimited,
            K::Locked,
            K::Server,
            K::Timeout,
            K::Transport,
        ] {
            assert!(backs_off(k), "{k:?}");
        }
        for k in [K::Validation, K::Auth, K::Decode] {
            assert!(!backs_off(k), "{k:?}");
        }
    }
}
