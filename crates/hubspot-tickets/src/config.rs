//! How a client is set up: retries, rate limits, the API version and object type, the
//! token, and the limits HubSpot sets.

use std::time::Duration;

pub use crate::builder::{DEFAULT_BASE_URL, DEFAULT_MAX_CONCURRENCY};
pub use crate::engine::MAX_BATCH;
pub use crate::limiter::{RateLimitHeaders, RateLimitStatus};
pub use crate::route::{ApiVersion, ObjectType};
pub use crate::secret::{AccessToken, TOKEN_ENV};

/// How failed attempts are retried.
///
/// * 5xx, HTTP 408, timeouts and connection errors: exponential backoff with full
///   jitter (a uniformly random wait between zero and `initial × 2ⁿ`, capped at
///   `max_backoff`), up to `max_attempts` attempts in all. A `Retry-After` on such an
///   answer is honoured as a minimum.
/// * 429 `TEN_SECONDLY_ROLLING` (or any 429 other than `DAILY`): wait for
///   `Retry-After` (at most one window: a rolling window frees up within one), or,
///   without one, an eighth of the window, doubled with each 429 of the same batch up
///   to a window (one request then goes alone to read HubSpot's count), up to
///   `rate_limit_waits` times: with the default 12 and a 10 s window, about 100 s.
///   Every clone of the client pauses, not just the request that was refused.
/// * 423 Locked (HubSpot locks an object type for about 2 s after many upserts in a
///   short period): every clone pauses for at least 2 s (or `Retry-After`, up to a
///   minute), fewer requests are sent at once, and the same batch is sent again, up to
///   `rate_limit_waits` times. Nothing is wrong with the records.
/// * 429 `DAILY`, 400, 401, 403, 404, 409 and other 4xx: never retried.
///
/// Retries never run past the operation's deadline. Upserts are idempotent, so a
/// retried write cannot duplicate a ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub(crate) max_attempts: u32,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) rate_limit_waits: u32,
    pub(crate) jitter: bool,
}

impl Default for RetryPolicy {
    /// 5 attempts, backoff from 500 ms up to 30 s with full jitter, 12 rate-limit waits.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            rate_limit_waits: 12,
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retries of any kind (a 429 is reported, not waited out).
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            rate_limit_waits: 0,
            ..Self::default()
        }
    }

    /// Attempts in all (first try included) for 5xx, timeouts and connection errors.
    /// Values below 1 are treated as 1.
    #[must_use]
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Backoff ceiling for the first retry; it doubles with each retry.
    #[must_use]
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }

    /// Largest backoff ceiling.
    #[must_use]
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }

    /// How many rolling-window 429s one batch may wait out before it is reported
    /// failed ([`ErrorKind::RateLimited`](crate::ErrorKind::RateLimited)), and as many
    /// 423 locks ([`ErrorKind::Locked`](crate::ErrorKind::Locked)).
    #[must_use]
    pub fn rate_limit_waits(mut self, n: u32) -> Self {
        self.rate_limit_waits = n;
        self
    }

    /// Full jitter on (default) or off (waits are then exactly `initial × 2ⁿ`, capped).
    #[must_use]
    pub fn jitter(mut self, on: bool) -> Self {
        self.jitter = on;
        self
    }

    /// The backoff ceiling before retry `n` (0 for the first): `initial × 2ⁿ`, capped
    /// at `max_backoff`.
    pub(crate) fn ceiling(&self, n: u32) -> Duration {
        let factor = 1_u32.checked_shl(n).unwrap_or(u32::MAX);
        self.initial_backoff
            .checked_mul(factor)
            .unwrap_or(Duration::MAX)
            .min(self.max_backoff)
    }

    /// The wait before the next retry, given the schedule's ceiling.
    pub(crate) fn jittered(&self, ceiling: Duration) -> Duration {
        if !self.jitter || ceiling.is_zero() {
            return ceiling;
        }
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::random_range(0..=nanos))
    }
}

/// HubSpot's published per-app rolling limits (requests per 10 seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Tier {
    /// Free: 100 per 10 s.
    Free,
    /// Starter: 100 per 10 s.
    Starter,
    /// Professional: 190 per 10 s.
    Professional,
    /// Enterprise: 190 per 10 s.
    Enterprise,
    /// Any tier with the API limit increase: 250 per 10 s.
    ApiLimitIncrease,
    /// A publicly listed OAuth app: 100 per 10 s.
    PublicOAuthApp,
}

impl Tier {
    /// Requests allowed per [`Tier::WINDOW`].
    pub fn max_per_window(self) -> u32 {
        match self {
            Self::Free | Self::Starter | Self::PublicOAuthApp => 100,
            Self::Professional | Self::Enterprise => 190,
            Self::ApiLimitIncrease => 250,
        }
    }

    /// The rolling window: 10 seconds.
    pub const WINDOW: Duration = Duration::from_secs(10);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LimitMode {
    /// Start from the numbers, then follow `X-HubSpot-RateLimit-Max`/`-Interval` up and down.
    Auto,
    /// The numbers are a ceiling kept beside the window the headers announce.
    Fixed,
    /// No client-side limiting (429s are still waited out).
    Disabled,
}

/// The client-side rate limiter's settings.
///
/// The limiter is a sliding-window log shared by every clone of the client: it never
/// lets more than `max` requests start in any rolling `interval`. HubSpot counts a
/// request when it arrives, so a request holds its place for one window from the latest
/// it may have arrived: its answer, or 250 ms after it was sent, whichever is sooner
/// (a slow answer does not cost a window a latency more). It also
/// reads `X-HubSpot-RateLimit-Remaining`: when HubSpot has counted more requests than
/// this process sent (another process shares the app), the window is split. Each
/// process keeps the places it holds and takes a part of the room the latest count
/// shows free (half of it, less after a 429 shows more processes), at a steady pace, so
/// processes a latency apart land on HubSpot's limit together, without 429s.
///
/// A limit given with [`RateLimit::per_window`] or [`RateLimit::tier`] is a ceiling
/// kept beside HubSpot's announced window, whatever the two windows' lengths: `20` per
/// second stays 20 per second under HubSpot's 190 per 10 s, and HubSpot's 100 per 10 s
/// holds under a user's 190 per 10 s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub(crate) mode: LimitMode,
    pub(crate) max: u32,
    pub(crate) interval: Duration,
    pub(crate) adaptive: bool,
}

impl Default for RateLimit {
    /// [`RateLimit::auto`].
    fn default() -> Self {
        Self::auto()
    }
}

impl RateLimit {
    /// Starts at the lowest tier (100 per 10 s) and then follows the limits HubSpot
    /// announces in its `X-HubSpot-RateLimit-*` headers. The default.
    pub fn auto() -> Self {
        Self {
            mode: LimitMode::Auto,
            max: Tier::Free.max_per_window(),
            interval: Tier::WINDOW,
            adaptive: true,
        }
    }

    /// A tier's published limit, as a ceiling (HubSpot's headers may be stricter, never
    /// looser).
    pub fn tier(tier: Tier) -> Self {
        Self::per_window(tier.max_per_window(), Tier::WINDOW)
    }

    /// At most `max` requests in any rolling `interval`, as a ceiling: HubSpot's own
    /// window (from its headers) is kept too, whichever is stricter at any moment. A
    /// `max` of 0 is treated as 1; the interval is kept between 1 ms and one day.
    pub fn per_window(max: u32, interval: Duration) -> Self {
        Self {
            mode: LimitMode::Fixed,
            max: max.max(1),
            interval: interval.clamp(Duration::from_millis(1), Duration::from_secs(86_400)),
            adaptive: true,
        }
    }

    /// No client-side limit. 429 answers are still honoured and waited out.
    pub fn disabled() -> Self {
        Self {
            mode: LimitMode::Disabled,
            max: u32::MAX,
            interval: Tier::WINDOW,
            adaptive: false,
        }
    }

    /// Whether to adapt to the `X-HubSpot-RateLimit-*` headers (default on).
    #[must_use]
    pub fn adaptive(mut self, on: bool) -> Self {
        self.adaptive = on;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_doubles_and_caps() {
        let p = RetryPolicy::default()
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(500))
            .jitter(false);
        let s: Vec<_> = (0..5).map(|n| p.ceiling(n).as_millis()).collect();
        assert_eq!(s, vec![100, 200, 400, 500, 500]);
        assert_eq!(p.ceiling(40), Duration::from_millis(500));
        assert_eq!(p.ceiling(u32::MAX), Duration::from_millis(500));
        let p = p.jitter(true);
        for _ in 0..100 {
            assert!(p.jittered(Duration::from_millis(300)) <= Duration::from_millis(300));
        }
    }
}
