//! HubSpot's rate limits: a rolling window and a daily budget, per token.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::RateLimitConfig;

/// Which limit a 429 reports (`policyName`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Policy {
    /// The rolling window (`TEN_SECONDLY_ROLLING`, whatever its configured length).
    #[serde(rename = "TEN_SECONDLY_ROLLING")]
    TenSecondlyRolling,
    /// The daily budget (`DAILY`).
    #[serde(rename = "DAILY")]
    Daily,
}

impl Policy {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::TenSecondlyRolling => "TEN_SECONDLY_ROLLING",
            Policy::Daily => "DAILY",
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The values of the `X-HubSpot-RateLimit-*` headers for one response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RateHeaders {
    /// `(max, remaining, interval ms)`.
    pub rolling: Option<(u32, u32, u64)>,
    /// `(daily, daily remaining)`.
    pub daily: Option<(u64, u64)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    Allowed(RateHeaders),
    Limited {
        policy: Policy,
        headers: RateHeaders,
        /// Seconds, when `Retry-After` is configured.
        retry_after: Option<u64>,
    },
}

impl Admission {
    pub fn headers(&self) -> RateHeaders {
        match self {
            Admission::Allowed(h) | Admission::Limited { headers: h, .. } => *h,
        }
    }
}

#[derive(Default)]
struct Bucket {
    window: VecDeque<Instant>,
    day: i64,
    daily_used: u64,
}

pub(crate) struct Limiter {
    config: Option<RateLimitConfig>,
    buckets: HashMap<String, Bucket>,
}

/// Days since the epoch (UTC) and seconds left until the next UTC midnight.
pub(crate) fn utc_day(now_ms: i64) -> (i64, u64) {
    let day = now_ms.div_euclid(86_400_000);
    let left_ms = 86_400_000 - now_ms.rem_euclid(86_400_000);
    (day, u64::try_from(left_ms).unwrap_or(0).div_ceil(1000))
}

impl Limiter {
    pub fn new(config: Option<RateLimitConfig>) -> Self {
        Self {
            config,
            buckets: HashMap::new(),
        }
    }

    pub fn reset(&mut self) {
        self.buckets.clear();
    }

    /// Counts one request for `token` at `now` (wall clock `now_ms` for the daily
    /// budget) if it is within both limits; a refused request is not counted.
    pub fn admit(&mut self, token: &str, now: Instant, now_ms: i64) -> Admission {
        let Some(cfg) = &self.config else {
            return Admission::Allowed(RateHeaders::default());
        };
        if !self.buckets.contains_key(token) {
            self.buckets.insert(token.to_owned(), Bucket::default());
        }
        let Some(bucket) = self.buckets.get_mut(token) else {
            return Admission::Allowed(RateHeaders::default());
        };
        let interval_ms = u64::try_from(cfg.interval.as_millis()).unwrap_or(u64::MAX);
        // Rolling window: forget requests older than the interval.
        while let Some(front) = bucket.window.front() {
            if now.saturating_duration_since(*front) >= cfg.interval {
                bucket.window.pop_front();
            } else {
                break;
            }
        }
        let (today, to_midnight) = utc_day(now_ms);
        if bucket.day != today {
            bucket.day = today;
            bucket.daily_used = 0;
        }
        let used = u32::try_from(bucket.window.len()).unwrap_or(u32::MAX);
        let daily_exhausted = cfg.daily.is_some_and(|d| bucket.daily_used >= d);
        let rolling_exhausted = used >= cfg.max_requests;
        let mut headers = RateHeaders {
            rolling: Some((
                cfg.max_requests,
                cfg.max_requests.saturating_sub(used),
                interval_ms,
            )),
            daily: cfg.daily.map(|d| (d, d.saturating_sub(bucket.daily_used))),
        };
        if daily_exhausted {
            return Admission::Limited {
                policy: Policy::Daily,
                headers,
                retry_after: cfg.retry_after.then_some(to_midnight.max(1)),
            };
        }
        if rolling_exhausted {
            let wait = bucket
                .window
                .front()
                .map(|f| {
                    cfg.interval
                        .saturating_sub(now.saturating_duration_since(*f))
                })
                .unwrap_or(Duration::ZERO);
            let secs = wait.as_millis().div_ceil(1000).max(1);
            return Admission::Limited {
                policy: Policy::TenSecondlyRolling,
                headers,
                retry_after: cfg
                    .retry_after
                    .then_some(u64::try_from(secs).unwrap_or(u64::MAX)),
            };
        }
        bucket.window.push_back(now);
        bucket.daily_used += 1;
        headers.rolling = Some((
            cfg.max_requests,
            cfg.max_requests.saturating_sub(used + 1),
            interval_ms,
        ));
        headers.daily = cfg.daily.map(|d| (d, d.saturating_sub(bucket.daily_used)));
        Admission::Allowed(headers)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    const DAY_MS: i64 = 1_700_000_000_000;

    #[test]
    fn rolling_window_slides() {
        let cfg =
            RateLimitConfig::per_window(3, Duration::from_millis(1000)).with_retry_after(true);
        let mut l = Limiter::new(Some(cfg));
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        for (i, ms) in [0, 100, 200].into_iter().enumerate() {
            match l.admit("a", at(ms), DAY_MS) {
                Admission::Allowed(h) => assert_eq!(h.rolling, Some((3, 2 - i as u32, 1000))),
                other => panic!("{other:?}"),
            }
        }
        match l.admit("a", at(300), DAY_MS) {
            Admission::Limited {
                policy,
                retry_after,
                headers,
            } => {
                assert_eq!(policy, Policy::TenSecondlyRolling);
                assert_eq!(retry_after, Some(1));
                assert_eq!(headers.rolling, Some((3, 0, 1000)));
            }
            other => panic!("{other:?}"),
        }
        // Another token has its own window.
        assert!(matches!(
            l.admit("b", at(300), DAY_MS),
            Admission::Allowed(_)
        ));
        // At 1000 ms the first request leaves the window: exactly one slot frees up.
        assert!(matches!(
            l.admit("a", at(1000), DAY_MS),
            Admission::Allowed(_)
        ));
        assert!(matches!(
            l.admit("a", at(1050), DAY_MS),
            Admission::Limited { .. }
        ));
        assert!(matches!(
            l.admit("a", at(1100), DAY_MS),
            Admission::Allowed(_)
        ));
    }

    #[test]
    fn daily_budget_and_reset_at_midnight() {
        let cfg = RateLimitConfig::per_window(100, Duration::from_millis(1000)).with_daily(Some(2));
        let mut l = Limiter::new(Some(cfg));
        let t0 = Instant::now();
        assert!(
            matches!(l.admit("a", t0, DAY_MS), Admission::Allowed(h) if h.daily == Some((2, 1)))
        );
        assert!(
            matches!(l.admit("a", t0, DAY_MS), Admission::Allowed(h) if h.daily == Some((2, 0)))
        );
        match l.admit("a", t0, DAY_MS) {
            Admission::Limited {
                policy,
                retry_after,
                ..
            } => {
                assert_eq!(policy, Policy::Daily);
                assert_eq!(retry_after, None);
            }
            other => panic!("{other:?}"),
        }
        // Next UTC day.
        let (_, left) = utc_day(DAY_MS);
        let tomorrow = DAY_MS + i64::try_from(left).unwrap() * 1000;
        assert!(matches!(l.admit("a", t0, tomorrow), Admission::Allowed(_)));
    }

    #[test]
    fn disabled_allows_everything() {
        let mut l = Limiter::new(None);
        for _ in 0..1000 {
            assert_eq!(
                l.admit("a", Instant::now(), DAY_MS),
                Admission::Allowed(RateHeaders::default())
            );
        }
    }
}
