//! The client-side rate limiter: a sliding-window log shared by every clone.
//!
//! Why not a token bucket or GCRA (`governor`)? HubSpot counts requests in a
//! *rolling* window. A bucket with burst = `max` lets `max` through at once and then
//! refills continuously, so some window of `interval` sees close to `2 × max`
//! requests; a smaller burst wastes capacity. The log is exact: it keeps the time
//! of each of the (at most `max`, ≤ 250) requests in the current window and lets a
//! new one start only when fewer than `max` are in it. A request's slot is held
//! from the moment it is sent until its answer arrives, then for `interval` more,
//! so HubSpot (which counts by arrival) can never see more than `max` either.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::{LimitMode, RateLimit};

/// The `X-HubSpot-RateLimit-*` headers of the latest answer that carried them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimitHeaders {
    /// `X-HubSpot-RateLimit-Max`.
    pub max: Option<u32>,
    /// `X-HubSpot-RateLimit-Remaining`.
    pub remaining: Option<u32>,
    /// `X-HubSpot-RateLimit-Interval-Milliseconds`.
    pub interval: Option<Duration>,
    /// `X-HubSpot-RateLimit-Daily`.
    pub daily: Option<u64>,
    /// `X-HubSpot-RateLimit-Daily-Remaining`.
    pub daily_remaining: Option<u64>,
}

impl RateLimitHeaders {
    pub(crate) fn parse(h: &HeaderMap) -> Option<Self> {
        fn num<T: std::str::FromStr>(h: &HeaderMap, name: &str) -> Option<T> {
            h.get(name)?.to_str().ok()?.trim().parse().ok()
        }
        let parsed = Self {
            max: num(h, "x-hubspot-ratelimit-max"),
            remaining: num(h, "x-hubspot-ratelimit-remaining"),
            interval: num::<u64>(h, "x-hubspot-ratelimit-interval-milliseconds")
                .map(Duration::from_millis),
            daily: num(h, "x-hubspot-ratelimit-daily"),
            daily_remaining: num(h, "x-hubspot-ratelimit-daily-remaining"),
        };
        (parsed != Self::default()).then_some(parsed)
    }
}

/// A snapshot of the limiter, from [`Client::rate_limit_status`](crate::Client::rate_limit_status).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimitStatus {
    /// Requests allowed per window right now (configured, or learnt from headers).
    pub max: u32,
    /// The window.
    pub interval: Duration,
    /// This client's requests that still count in the window (in flight included).
    pub in_window: u32,
    /// Requests HubSpot counted that this client did not send (another process using
    /// the same app), as estimated from `X-HubSpot-RateLimit-Remaining`.
    pub others_in_window: u32,
    /// Time left in a pause imposed by a 429, if any.
    pub paused_for: Option<Duration>,
    /// The last rate-limit headers HubSpot sent, if any.
    pub last_headers: Option<RateLimitHeaders>,
}

#[derive(Clone, Debug)]
pub(crate) struct RateLimiter {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    notify: Notify,
}

#[derive(Debug)]
struct Slot {
    id: u64,
    sent: Instant,
    done: Option<Instant>,
}

#[derive(Debug)]
struct State {
    mode: LimitMode,
    adaptive: bool,
    cfg_max: u32,
    cfg_interval: Duration,
    max: u32,
    interval: Duration,
    /// This client's requests, in sending order: in flight, in the window, and for a
    /// minute more (to tell how many of ours an answer's count includes).
    slots: VecDeque<Slot>,
    next_id: u64,
    /// Requests HubSpot counted that this client did not send (another process on the
    /// same app), as the times until which each is assumed to hold a place.
    external: Vec<Instant>,
    /// Places that freed up because an assumption about other processes ran out (or a
    /// 429 pause ended), not because HubSpot said so. They are used one request at a
    /// time: a probe, whose answer's headers tell whether the room is real.
    unverified: u32,
    /// The probe in flight, if any.
    probe: Option<u64>,
    blocked_until: Option<Instant>,
    last: Option<RateLimitHeaders>,
}

impl State {
    /// Extra spacing after a slot's window, so that clock granularity on either side
    /// never lets a request land exactly on the window's edge.
    fn margin(&self) -> Duration {
        (self.interval / 500).max(Duration::from_millis(1))
    }

    fn prune(&mut self, now: Instant) {
        let horizon = self.interval + self.margin() + Duration::from_secs(60);
        while self
            .slots
            .front()
            .is_some_and(|s| s.done.is_some_and(|d| d + horizon <= now))
        {
            self.slots.pop_front();
        }
        let before = self.external.len();
        self.external.retain(|t| *t > now);
        let expired = u32::try_from(before - self.external.len()).unwrap_or(u32::MAX);
        self.unverified = self.unverified.saturating_add(expired);
    }

    /// This client's requests that hold a place: in flight, or answered less than a
    /// window (plus margin) ago.
    fn ours(&self, now: Instant) -> usize {
        let keep = self.interval + self.margin();
        self.slots
            .iter()
            .filter(|s| s.done.is_none_or(|d| d + keep > now))
            .count()
    }

    fn used(&self, now: Instant) -> u32 {
        u32::try_from(self.ours(now) + self.external.len()).unwrap_or(u32::MAX)
    }

    /// Updates the estimate of other processes' requests from HubSpot's count.
    ///
    /// HubSpot says `others` requests of other processes are in its window now. Each
    /// may have just been sent, so each is assumed to hold its place for a full window
    /// from now, re-dated on every answer that still counts at least as many (briefly
    /// only, when `certain` is false: the figure may include our own). A lower
    /// count changes nothing at once: it is often a place between one request leaving
    /// HubSpot's window and its sender's next one arriving, which belongs to that sender.
    /// Places others really gave up expire a window after the last answer that counted
    /// them, and are then re-checked one probe request at a time (see `unverified`).
    fn account_for_others(&mut self, others: u32, certain: bool, now: Instant) {
        let others = usize::try_from(others).unwrap_or(usize::MAX).min(4096);
        if others < self.external.len() {
            return;
        }
        let fresh = if certain {
            now + self.interval + self.margin()
        } else {
            now + self.interval / 20 + self.margin()
        };
        for t in &mut self.external {
            *t = (*t).max(fresh);
        }
        let missing = others - self.external.len();
        self.external.extend(std::iter::repeat_n(fresh, missing));
    }

    /// When capacity may free up without a request completing.
    fn next_expiry(&self, now: Instant) -> Option<Instant> {
        let keep = self.interval + self.margin();
        let slot = self
            .slots
            .iter()
            .filter_map(|s| s.done)
            .map(|d| d + keep)
            .filter(|t| *t > now)
            .min();
        let ext = self.external.iter().min().copied();
        match (slot, ext) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// One admitted request. Dropping it marks the request answered (or abandoned).
#[derive(Debug)]
pub(crate) struct Permit {
    shared: Option<Arc<Shared>>,
    id: u64,
    sent: Instant,
}

impl Permit {
    /// When the request was let through.
    pub(crate) fn sent(&self) -> Instant {
        self.sent
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            {
                let mut st = lock(&shared.state);
                let now = Instant::now();
                if let Some(slot) = st.slots.iter_mut().rev().find(|s| s.id == self.id) {
                    slot.done = Some(now);
                }
                if st.probe == Some(self.id) {
                    st.probe = None;
                }
            }
            shared.notify.notify_waiters();
        }
    }
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

enum Wait {
    Until(Instant),
    Notified,
}

impl RateLimiter {
    pub(crate) fn new(cfg: &RateLimit) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    mode: cfg.mode,
                    adaptive: cfg.adaptive,
                    cfg_max: cfg.max,
                    cfg_interval: cfg.interval,
                    max: cfg.max,
                    interval: cfg.interval,
                    slots: VecDeque::new(),
                    next_id: 1,
                    external: Vec::new(),
                    unverified: 0,
                    probe: None,
                    blocked_until: None,
                    last: None,
                }),
                notify: Notify::new(),
            }),
        }
    }

    /// Waits until a request may start, and reserves its slot. Cancel-safe: dropping
    /// the future reserves nothing.
    pub(crate) async fn acquire(&self) -> Permit {
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wait = {
                let mut st = lock(&self.shared.state);
                let now = Instant::now();
                st.prune(now);
                match st.blocked_until {
                    Some(t) if t > now => Wait::Until(t),
                    _ => {
                        st.blocked_until = None;
                        if st.mode == LimitMode::Disabled {
                            return Permit {
                                shared: None,
                                id: 0,
                                sent: now,
                            };
                        }
                        let probing = st.unverified > 0;
                        let used = st.used(now);
                        // Sharing the app with another process: leave a little room, so
                        // that a process that lost its share can get back in with a
                        // probe instead of a 429.
                        let cap = if st.external.is_empty() {
                            st.max
                        } else {
                            st.max - (st.max / 20).max(1).min(st.max - 1)
                        };
                        if used < cap && !(probing && st.probe.is_some()) {
                            let id = st.next_id;
                            st.next_id += 1;
                            st.slots.push_back(Slot {
                                id,
                                sent: now,
                                done: None,
                            });
                            if probing {
                                st.probe = Some(id);
                            }
                            return Permit {
                                shared: Some(Arc::clone(&self.shared)),
                                id,
                                sent: now,
                            };
                        }
                        if used < cap {
                            // Room, but unverified and a probe is out: wait for its answer.
                            Wait::Notified
                        } else {
                            match st.next_expiry(now) {
                                Some(t) => Wait::Until(t),
                                None => Wait::Notified,
                            }
                        }
                    }
                }
            };
            match wait {
                Wait::Until(t) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(t) => {}
                        () = &mut notified => {}
                    }
                }
                Wait::Notified => notified.await,
            }
        }
    }

    /// Learns from the rate-limit headers of the answer to a request sent at `sent`.
    pub(crate) fn observe(&self, headers: &HeaderMap, sent: Instant) {
        let Some(h) = RateLimitHeaders::parse(headers) else {
            return;
        };
        {
            let mut st = lock(&self.shared.state);
            let now = Instant::now();
            st.prune(now);
            if st.adaptive
                && st.mode != LimitMode::Disabled
                && let Some(m) = h.max.filter(|m| *m > 0)
            {
                let i = h.interval.filter(|i| !i.is_zero()).unwrap_or(st.interval);
                match st.mode {
                    LimitMode::Auto => {
                        st.max = m;
                        st.interval = i;
                    }
                    LimitMode::Fixed => {
                        // Adopt the header's limit only if it is a lower rate.
                        let lower = u128::from(m) * st.cfg_interval.as_nanos()
                            < u128::from(st.cfg_max) * i.as_nanos();
                        if lower {
                            st.max = m;
                            st.interval = i;
                        } else {
                            st.max = st.cfg_max;
                            st.interval = st.cfg_interval;
                        }
                    }
                    LimitMode::Disabled => {}
                }
                if let Some(r) = h.remaining {
                    let server_used = m.saturating_sub(r);
                    // Ours that HubSpot's figure can include: not answered a window
                    // before this request was sent. Of those, the ones sent before
                    // this request are surely in it; the ones sent after it (in the
                    // same burst, say) may have overtaken it, or not.
                    let from = sent.checked_sub(st.interval);
                    let (mut before, mut after) = (0_u32, 0_u32);
                    for s in &st.slots {
                        if s.done.is_none_or(|d| from.is_none_or(|f| d > f)) {
                            if s.sent <= sent {
                                before += 1;
                            } else {
                                after += 1;
                            }
                        }
                    }
                    let at_most = server_used.saturating_sub(before);
                    let at_least = at_most.saturating_sub(after);
                    // The larger figure is used (two processes must not hide each
                    // other behind the requests they have in flight), but unless
                    // someone else is surely there it is held only briefly: a process
                    // alone must not mistake its own requests for another's for long.
                    st.account_for_others(at_most, at_least > 0, now);
                    st.unverified = 0;
                }
            }
            if st.mode == LimitMode::Disabled
                && let Some(i) = h.interval.filter(|i| !i.is_zero())
            {
                // Not limiting, but a 429 without `Retry-After` waits for this window.
                st.interval = i;
            }
            st.last = Some(h);
        }
        self.shared.notify.notify_waiters();
    }

    /// Holds every request of every clone until `until` (after a 429).
    pub(crate) fn pause_until(&self, until: Instant) {
        let mut st = lock(&self.shared.state);
        if st.blocked_until.is_none_or(|t| t < until) {
            st.blocked_until = Some(until);
        }
        // After the pause, send one request and read its headers before the rest.
        st.unverified = st.unverified.max(1);
    }

    /// The current window length (from headers when known).
    pub(crate) fn interval(&self) -> Duration {
        lock(&self.shared.state).interval
    }

    pub(crate) fn status(&self) -> RateLimitStatus {
        let mut st = lock(&self.shared.state);
        let now = Instant::now();
        st.prune(now);
        RateLimitStatus {
            max: st.max,
            interval: st.interval,
            in_window: u32::try_from(st.ours(now)).unwrap_or(u32::MAX),
            others_in_window: u32::try_from(st.external.len()).unwrap_or(u32::MAX),
            paused_for: st
                .blocked_until
                .filter(|t| *t > now)
                .map(|t| t.duration_since(now)),
            last_headers: st.last.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Tier;

    fn headers(max: u32, remaining: u32, interval_ms: u64) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-hubspot-ratelimit-max", max.into());
        h.insert("x-hubspot-ratelimit-remaining", remaining.into());
        h.insert(
            "x-hubspot-ratelimit-interval-milliseconds",
            interval_ms.into(),
        );
        h.insert("x-hubspot-ratelimit-daily", 1000_u32.into());
        h.insert("x-hubspot-ratelimit-daily-remaining", 999_u32.into());
        h
    }

    /// Sends `n` requests of `latency` each, as fast as the limiter allows, with up to
    /// `concurrency` in flight; returns the (start, end) of each.
    async fn drive(
        lim: &RateLimiter,
        n: usize,
        concurrency: usize,
        latency: Duration,
    ) -> Vec<(Instant, Instant)> {
        use futures::StreamExt;
        futures::stream::iter(0..n)
            .map(|_| async move {
                let permit = lim.acquire().await;
                let start = Instant::now();
                tokio::time::sleep(latency).await;
                drop(permit);
                (start, Instant::now())
            })
            .buffer_unordered(concurrency)
            .collect()
            .await
    }

    fn max_in_any_window(mut starts: Vec<Instant>, window: Duration) -> usize {
        starts.sort();
        let mut best = 0;
        let mut j = 0;
        for i in 0..starts.len() {
            while starts[i].duration_since(starts[j]) >= window {
                j += 1;
            }
            best = best.max(i - j + 1);
        }
        best
    }

    impl RateLimiter {
        fn observe_now(&self, h: &HeaderMap) {
            self.observe(h, Instant::now());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn never_exceeds_max_in_any_rolling_window_and_keeps_near_full_rate() {
        let lim = RateLimiter::new(&RateLimit::per_window(40, Duration::from_secs(1)));
        let t0 = Instant::now();
        let done = drive(&lim, 400, 8, Duration::from_millis(20)).await;
        let elapsed = t0.elapsed();
        let starts: Vec<_> = done.iter().map(|d| d.0).collect();
        assert!(max_in_any_window(starts, Duration::from_secs(1)) <= 40);
        // 400 requests at 40/s: 9 full windows after the first burst, plus latency.
        assert!(elapsed < Duration::from_millis(9_500), "{elapsed:?}");
        assert!(elapsed >= Duration::from_secs(9), "{elapsed:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn auto_mode_follows_headers_and_fixed_mode_only_lowers() {
        let lim = RateLimiter::new(&RateLimit::auto());
        lim.observe_now(&headers(250, 250, 10_000));
        assert_eq!(lim.status().max, 250);
        lim.observe_now(&headers(40, 40, 1_000));
        let s = lim.status();
        assert_eq!((s.max, s.interval), (40, Duration::from_secs(1)));
        assert_eq!(s.last_headers.and_then(|h| h.daily_remaining), Some(999));

        let lim = RateLimiter::new(&RateLimit::tier(Tier::Professional));
        lim.observe_now(&headers(250, 250, 10_000));
        assert_eq!(lim.status().max, 190);
        lim.observe_now(&headers(100, 100, 10_000));
        assert_eq!(lim.status().max, 100);
    }

    #[tokio::test(start_paused = true)]
    async fn remaining_below_our_view_reserves_the_difference() {
        let lim = RateLimiter::new(&RateLimit::per_window(10, Duration::from_secs(1)));
        let p = lim.acquire().await;
        drop(p);
        // HubSpot has counted 8 (we sent 1): 7 belong to someone else.
        lim.observe_now(&headers(10, 2, 1_000));
        assert_eq!(lim.status().others_in_window, 7);
        let t0 = Instant::now();
        let _a = lim.acquire().await;
        assert_eq!(t0.elapsed(), Duration::ZERO);
        // 9 of 10 used: the last place is left free while the app is shared, so the
        // next waits for the others' requests to roll off.
        let _b = lim.acquire().await;
        assert!(
            t0.elapsed() >= Duration::from_millis(990),
            "{:?}",
            t0.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn places_others_give_up_are_probed_one_at_a_time() {
        let lim = RateLimiter::new(&RateLimit::per_window(10, Duration::from_secs(1)));
        lim.observe_now(&headers(10, 0, 1_000));
        assert_eq!(lim.status().others_in_window, 10);
        // A lower count later does not free anything at once...
        tokio::time::advance(Duration::from_millis(300)).await;
        lim.observe_now(&headers(10, 6, 1_000));
        assert_eq!(lim.status().others_in_window, 10);
        // ...the places expire a window after they were last counted, and the first
        // request after that is a probe: the next waits for its answer.
        let t0 = Instant::now();
        let probe = lim.acquire().await;
        assert!(
            t0.elapsed() >= Duration::from_millis(690),
            "{:?}",
            t0.elapsed()
        );
        let second = tokio::time::timeout(Duration::from_secs(5), lim.acquire()).await;
        assert!(
            second.is_err(),
            "no second request before the probe's answer"
        );
        lim.observe(&headers(10, 9, 1_000), probe.sent());
        drop(probe);
        let _a = lim.acquire().await;
    }

    #[tokio::test(start_paused = true)]
    async fn pause_holds_everyone() {
        let lim = RateLimiter::new(&RateLimit::disabled());
        let t0 = Instant::now();
        lim.pause_until(t0 + Duration::from_secs(3));
        let _p = lim.acquire().await;
        assert_eq!(t0.elapsed(), Duration::from_secs(3));
    }
}
