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
//!
//! Other processes on the same app show up in `X-HubSpot-RateLimit-Remaining`: what
//! HubSpot counted beyond our own requests. Each process only sees the others through
//! its own answers, late, so the limiter is careful in three ways once it has seen
//! another process (and not before: a process alone keeps the whole window):
//! - a place another process was seen holding is kept until answers show, for longer
//!   than a request takes, that it was not replaced (a window after the last answer
//!   that counted it at most). A dip in the count is usually a request that left the
//!   window whose replacement is on its way, and taking that place means a 429 for it;
//! - a little headroom is left free, for a process that lost its share to get back in
//!   and to absorb what both send before either sees the other's requests;
//! - while room is scarce, requests are spread at the window's average rate, and where
//!   there is much room (at the start, or after the other process left) at most half
//!   of it is in flight at once, so two processes filling it never overshoot together.
//!
//! The first request, and the first after a 429 pause, goes alone: its answer says
//! whether someone else already fills the window.

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

/// A place in HubSpot's window that another process was seen holding.
#[derive(Clone, Copy, Debug)]
struct Place {
    /// The last answer that counted it.
    seen: Instant,
    /// Until when it is kept if no answer counts it again.
    until: Instant,
    /// When the first request was sent whose answer no longer counted it, if any.
    dipped: Option<Instant>,
}

/// While room is scarce on a shared app, at most this many of our requests start
/// within this many average spacings (`interval / max`).
const PACE_BURST: u32 = 2;

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
    /// Places other processes on the same app were surely seen to hold (see
    /// [`State::account_for_others`]).
    others: Vec<Place>,
    /// Places that may be other processes' or our own requests in flight (the answer
    /// could not tell), as the times until which each is kept: briefly, so that two
    /// processes starting together do not hide each other behind their requests in
    /// flight, and a process alone does not lose its own places.
    maybe_others: Vec<Instant>,
    /// Places that freed up because an assumption about other processes ran out, not
    /// because HubSpot said so. They are used one request at a time: a probe, whose
    /// answer's headers tell whether the room is real.
    unverified: u32,
    /// The next request is a probe whatever the room (first request, end of a 429 pause).
    probe_first: bool,
    /// The probe in flight, if any.
    probe: Option<u64>,
    blocked_until: Option<Instant>,
    last: Option<RateLimitHeaders>,
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl State {
    /// Extra spacing after a slot's window, so that clock granularity on either side
    /// never lets a request land exactly on the window's edge.
    fn margin(&self) -> Duration {
        (self.interval / 500).max(Duration::from_millis(1))
    }

    /// How long a dip in another process's count may last while the place is still its:
    /// it replaces a request that left HubSpot's window only once that request's slot
    /// is over, about a request's latency later (ours stand in for its), plus a
    /// twentieth of the window for its scheduling.
    fn grace(&self, now: Instant) -> Duration {
        let from = now.checked_sub(self.interval);
        let slowest = self
            .slots
            .iter()
            .filter(|s| s.done.is_none_or(|d| from.is_none_or(|f| d > f)))
            .map(|s| s.done.unwrap_or(now).saturating_duration_since(s.sent))
            .max()
            .unwrap_or_default();
        self.interval / 20 + slowest
    }

    /// Whether another process was surely seen in a recent window (pruned first).
    fn shared(&self) -> bool {
        !self.others.is_empty()
    }

    /// Places left free while the app is shared.
    fn headroom(&self) -> u32 {
        (self.max / 20).max(1).min(self.max - 1)
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
        let before = self.others.len();
        self.others.retain(|p| p.until > now);
        let lapsed = count(before - self.others.len());
        self.unverified = self.unverified.saturating_add(lapsed);
        self.maybe_others.retain(|t| *t > now);
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

    fn in_flight(&self) -> u32 {
        count(self.slots.iter().filter(|s| s.done.is_none()).count())
    }

    /// Other processes' places, by the larger of the two estimates (they overlap).
    fn theirs(&self) -> usize {
        self.others.len().max(self.maybe_others.len())
    }

    fn used(&self, now: Instant) -> u32 {
        count(self.ours(now) + self.theirs())
    }

    /// Updates the estimate of other processes' places from an answer to a request sent
    /// at `sent`: HubSpot's count showed at least `low` and at most about `high` places
    /// of theirs (the figures differ by our requests it may or may not have counted), and
    /// surely some if `certain`.
    ///
    /// Each place counted may have just been taken, so it is kept a full window from now,
    /// plus [`State::grace`]. A lower count frees nothing at once: it is often a place
    /// between one request leaving HubSpot's window and its sender's next one arriving.
    /// A place is given up when answers to requests sent more than a grace apart both
    /// leave it out (its holder did not replace it), or lapses a window and a grace after
    /// the last answer that counted it, to be re-checked one probe at a time (see
    /// `unverified`). Places are kept by the lower figure (the higher would keep one for
    /// a whole window whenever one of ours reached HubSpot a little late) and given up
    /// by the higher one. When the count may be our own requests in flight (`certain` is
    /// false), it is kept only briefly.
    fn account_for_others(
        &mut self,
        low: u32,
        high: u32,
        certain: bool,
        sent: Instant,
        now: Instant,
    ) {
        let low = usize::try_from(low).unwrap_or(usize::MAX).min(4096);
        let high = usize::try_from(high).unwrap_or(usize::MAX).min(4096);
        let grace = self.grace(now);
        // Rank places by when they were last counted: place `k` is the one a count of
        // `k` or more confirms.
        self.others
            .sort_unstable_by_key(|p| std::cmp::Reverse(p.seen));
        if certain {
            let until = now + self.interval + grace;
            for p in self.others.iter_mut().take(low) {
                p.seen = now;
                p.until = p.until.max(until);
            }
            if self.others.len() < low {
                let p = Place {
                    seen: now,
                    until,
                    dipped: None,
                };
                self.others.resize(low, p);
            }
        } else {
            let until = now + self.interval / 20 + self.margin();
            hold(&mut self.maybe_others, low, until);
        }
        let mut rank = 0;
        self.others.retain_mut(|p| {
            rank += 1;
            if rank <= high {
                p.dipped = None;
                return true;
            }
            let dipped = *p.dipped.get_or_insert(sent);
            sent <= dipped + grace
        });
    }

    /// Whether a request may start now (`Ok(true)` if as a probe), or what to wait for.
    fn admit(&self, now: Instant) -> Result<bool, Wait> {
        let shared = self.shared();
        let cap = if shared {
            self.max - self.headroom()
        } else {
            self.max
        };
        let used = self.used(now);
        if used >= cap {
            let expiry = self.next_expiry(now);
            // Full, but another process's count stayed low: one request into the
            // headroom finds out whether it let those places go (it finished, say).
            if shared
                && used < self.max
                && self.probe.is_none()
                && let Some(t) = self.recheck_at(now)
            {
                if t <= now {
                    return Ok(true);
                }
                return Err(Wait::Until(expiry.map_or(t, |e| e.min(t))));
            }
            return Err(expiry.map_or(Wait::Notified, Wait::Until));
        }
        // Shared, with room scarce: keep to the window's average pace. With plenty (at
        // the start, or when another process has left), go at once while fewer than half
        // the room left is in flight: two processes filling the same room then do not
        // overshoot it together before their answers show each other's requests.
        if shared
            && self.in_flight().saturating_mul(2) >= cap - used
            && let Some(t) = self.paced_until(now)
        {
            return Err(Wait::Until(t));
        }
        // Room that only lapsed assumptions freed is tried by a probe first.
        let probing = self.probe_first || used.saturating_add(self.unverified) >= cap;
        if probing && self.probe.is_some() {
            // Wait for the probe's answer.
            return Err(Wait::Notified);
        }
        Ok(probing)
    }

    /// When the next request may start by the pace: `PACE_BURST` per as many average
    /// spacings. Both processes then send about one request per spacing, and see the
    /// other's within a request's latency.
    fn paced_until(&self, now: Instant) -> Option<Instant> {
        let spacing = self.interval / self.max.max(1);
        let nth = usize::try_from(PACE_BURST - 1).unwrap_or(0);
        let t = self.slots.iter().rev().nth(nth)?.sent + spacing * PACE_BURST;
        (t > now).then_some(t)
    }

    /// When to re-check places of other processes that answers stopped counting, if at
    /// least the headroom's worth did: a grace after the first answer that left them
    /// out. (Fewer is the usual wobble of a busy process's count.)
    fn recheck_at(&self, now: Instant) -> Option<Instant> {
        let dipped = self.others.iter().filter_map(|p| p.dipped);
        let (n, first) = dipped.fold((0_u32, None::<Instant>), |(n, first), d| {
            (n + 1, Some(first.map_or(d, |f| f.min(d))))
        });
        if n < self.headroom() {
            return None;
        }
        Some(first? + self.grace(now) + self.margin())
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
        let others = self.others.iter().map(|p| p.until).min();
        let maybe = self.maybe_others.iter().min().copied();
        [slot, others, maybe].into_iter().flatten().min()
    }
}

/// Keeps the `n` latest-held places of `held` until at least `until` (adding places if
/// there are fewer): place `k` lasts until `until` after the last count of `k` or more.
fn hold(held: &mut Vec<Instant>, n: usize, until: Instant) {
    held.sort_unstable_by_key(|t| std::cmp::Reverse(*t));
    for t in held.iter_mut().take(n) {
        *t = (*t).max(until);
    }
    if held.len() < n {
        held.resize(n, until);
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
                    // Its headers, if any, have been read (the engine observes before
                    // dropping): nothing more to wait for.
                    st.probe = None;
                    st.probe_first = false;
                    st.unverified = 0;
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
                    others: Vec::new(),
                    maybe_others: Vec::new(),
                    unverified: 0,
                    probe_first: cfg.adaptive && cfg.mode != LimitMode::Disabled,
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
                        match st.admit(now) {
                            Err(wait) => wait,
                            Ok(probe) => {
                                let id = st.next_id;
                                st.next_id += 1;
                                st.slots.push_back(Slot {
                                    id,
                                    sent: now,
                                    done: None,
                                });
                                if probe {
                                    st.probe = Some(id);
                                }
                                return Permit {
                                    shared: Some(Arc::clone(&self.shared)),
                                    id,
                                    sent: now,
                                };
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
                    st.count_others(m.saturating_sub(r), r == 0, sent, now);
                    st.unverified = 0;
                    st.probe_first = false;
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
        st.probe_first = true;
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
            in_window: count(st.ours(now)),
            others_in_window: count(st.theirs()),
            paused_for: st
                .blocked_until
                .filter(|t| *t > now)
                .map(|t| t.duration_since(now)),
            last_headers: st.last.clone(),
        }
    }
}

impl State {
    /// Splits HubSpot's count when the request sent at `sent` arrived (`counted`, or
    /// `full` if the window was full) into ours and other processes'.
    fn count_others(&mut self, counted: u32, full: bool, sent: Instant, now: Instant) {
        let from = sent.checked_sub(self.interval);
        // Ours HubSpot may have counted (not answered before its window began); of
        // those, the ones sent up to this one (requests arrive about in sending order),
        // and of these the ones sent within the window.
        let (mut possibly, mut before, mut in_window) = (0_u32, 0_u32, 0_u32);
        for s in &self.slots {
            if s.done.is_some_and(|d| from.is_some_and(|f| d <= f)) {
                continue;
            }
            possibly += 1;
            if s.sent <= sent {
                before += 1;
                if from.is_none_or(|f| s.sent > f) {
                    in_window += 1;
                }
            }
        }
        if full {
            // This answer may be a 429, which HubSpot did not count.
            before = before.saturating_sub(1);
            in_window = in_window.saturating_sub(1);
        }
        // Someone else is surely there only if HubSpot counted more than all of ours
        // it could have: a process alone must not mistake its own requests for
        // another's for long.
        let certain = counted > possibly;
        self.account_for_others(
            counted.saturating_sub(before),
            counted.saturating_sub(in_window),
            certain,
            sent,
            now,
        );
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

    // A simulation of HubSpot's window shared by several senders, on the paused clock.

    use std::cell::RefCell;

    /// Counts a request when it arrives, in a rolling window, refuses it when the window
    /// is full, and answers with the count at arrival, as HubSpot (and the emulator) do.
    struct SimServer {
        max: u32,
        interval: Duration,
        window: VecDeque<Instant>,
        /// Every arrival: (when, admitted, sender).
        log: Vec<(Instant, bool, usize)>,
    }

    impl SimServer {
        fn new(max: u32, interval: Duration) -> RefCell<Self> {
            RefCell::new(Self {
                max,
                interval,
                window: VecDeque::new(),
                log: Vec::new(),
            })
        }

        /// Returns whether the request is admitted, and its `Remaining` header.
        fn arrive(&mut self, who: usize) -> (bool, u32) {
            let now = Instant::now();
            while self
                .window
                .front()
                .is_some_and(|t| *t + self.interval <= now)
            {
                self.window.pop_front();
            }
            let used = u32::try_from(self.window.len()).unwrap();
            let admitted = used < self.max;
            self.log.push((now, admitted, who));
            if !admitted {
                return (false, 0);
            }
            self.window.push_back(now);
            (true, self.max - used - 1)
        }

        fn headers(&self, remaining: u32) -> HeaderMap {
            let ms = u64::try_from(self.interval.as_millis()).unwrap();
            headers(self.max, remaining, ms)
        }

        fn refused(&self) -> usize {
            self.log.iter().filter(|e| !e.1).count()
        }

        fn admitted_by(&self, who: usize) -> usize {
            self.log.iter().filter(|e| e.1 && e.2 == who).count()
        }

        /// The most arrivals (refused ones included) in any rolling window.
        fn peak(&self) -> usize {
            max_in_any_window(self.log.iter().map(|e| e.0).collect(), self.interval)
        }

        /// The admitted rate after the first window's worth, as a share of the ceiling
        /// (as `measure_rate` computes it).
        fn steady_share(&self) -> f64 {
            let ok: Vec<_> = self.log.iter().filter(|e| e.1).map(|e| e.0).collect();
            let span = ok[ok.len() - 1].duration_since(ok[0]).as_secs_f64();
            let n = ok.len() - self.max as usize;
            n as f64 / span / (f64::from(self.max) / self.interval.as_secs_f64())
        }
    }

    /// xorshift: reproducible latencies.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// One process: `concurrency` workers send `n` requests through `lim`, taking 0-2 ms
    /// to arrive (one in 20 is held up 20 ms more, as under CPU contention) and 2-15 ms
    /// to be answered, and wait a window after a 429, as the engine does.
    async fn process(
        who: usize,
        lim: &RateLimiter,
        server: &RefCell<SimServer>,
        rng: &RefCell<Rng>,
        n: usize,
        concurrency: usize,
        start: Duration,
    ) {
        use futures::StreamExt;
        tokio::time::sleep(start).await;
        futures::stream::iter(0..n)
            .for_each_concurrent(concurrency, |_| async move {
                loop {
                    let permit = lim.acquire().await;
                    let (arrive, answer) = {
                        let mut r = rng.borrow_mut();
                        let late = if r.below(20) == 0 { 20 } else { 0 };
                        (r.below(3) + late, 2 + r.below(14))
                    };
                    tokio::time::sleep(Duration::from_millis(arrive)).await;
                    let (ok, remaining) = server.borrow_mut().arrive(who);
                    let h = server.borrow().headers(remaining);
                    tokio::time::sleep(Duration::from_millis(answer)).await;
                    lim.observe(&h, permit.sent());
                    drop(permit);
                    if ok {
                        return;
                    }
                    let interval = server.borrow().interval;
                    lim.pause_until(Instant::now() + interval);
                }
            })
            .await;
    }

    /// Another process without our limiter: `burst` requests 1 ms apart, every `every`,
    /// `rounds` times.
    async fn other_sender(
        who: usize,
        server: &RefCell<SimServer>,
        burst: usize,
        every: Duration,
        rounds: usize,
    ) {
        for _ in 0..rounds {
            let next = Instant::now() + every;
            for _ in 0..burst {
                server.borrow_mut().arrive(who);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            tokio::time::sleep_until(next).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_request_goes_alone() {
        let lim = RateLimiter::new(&RateLimit::per_window(10, Duration::from_secs(1)));
        let first = lim.acquire().await;
        let second = tokio::time::timeout(Duration::from_secs(5), lim.acquire()).await;
        assert!(second.is_err(), "no second request before the first answer");
        lim.observe(&headers(10, 9, 1_000), first.sent());
        drop(first);
        let t0 = Instant::now();
        let _rest: Vec<_> = futures::future::join_all((0..9).map(|_| lim.acquire())).await;
        assert_eq!(t0.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn another_process_seen_through_headers_never_pushes_a_window_over_the_ceiling() {
        let (max, interval) = (50, Duration::from_secs(1));
        let ms = Duration::from_millis;
        // The other process holds 20 places: one request every 50 ms, or a burst of 20
        // each window, re-sent 30 ms after the last burst leaves HubSpot's window (as a
        // process waiting for its answers does). It starts first and ends after us.
        for (burst, every, rounds) in [(1, ms(50), 180), (20, ms(1_030), 9)] {
            let server = SimServer::new(max, interval);
            let rng = RefCell::new(Rng(7));
            let lim = RateLimiter::new(&RateLimit::per_window(max, interval));
            tokio::join!(
                other_sender(1, &server, burst, every, rounds),
                process(0, &lim, &server, &rng, 150, 8, ms(1_020)),
            );
            let s = server.borrow();
            assert_eq!(s.refused(), 0, "burst {burst}");
            assert!(s.peak() <= max as usize, "peak {}", s.peak());
            // 150 requests in the 28 places left (50 less 20 less a headroom of 2)
            // take 5 windows and a bit.
            let ours: Vec<_> = s.log.iter().filter(|e| e.2 == 0).map(|e| e.0).collect();
            let took = ours[ours.len() - 1].duration_since(ours[0]);
            assert!(took < ms(5_600), "burst {burst}: {took:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn two_processes_share_the_window_without_a_429() {
        let (max, interval) = (50, Duration::from_secs(1));
        for seed in 1..=3 {
            let server = SimServer::new(max, interval);
            let rng = RefCell::new(Rng(0x9E37_79B9_7F4A_7C15 ^ seed));
            let (a, b) = (
                RateLimiter::new(&RateLimit::per_window(max, interval)),
                RateLimiter::new(&RateLimit::per_window(max, interval)),
            );
            let n = 500;
            tokio::join!(
                process(0, &a, &server, &rng, n, 8, Duration::ZERO),
                process(1, &b, &server, &rng, n, 8, Duration::from_millis(seed)),
            );
            let s = server.borrow();
            assert_eq!(s.refused(), 0, "seed {seed}");
            assert!(s.peak() <= max as usize);
            let share = s.steady_share();
            assert!(share > 0.9, "seed {seed}: {share}");
            assert!(s.admitted_by(0) == n && s.admitted_by(1) == n);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_process_alone_keeps_the_whole_window() {
        let (max, interval) = (50, Duration::from_secs(1));
        let server = SimServer::new(max, interval);
        let rng = RefCell::new(Rng(3));
        let lim = RateLimiter::new(&RateLimit::per_window(max, interval));
        process(0, &lim, &server, &rng, 500, 8, Duration::ZERO).await;
        let (refused, share) = (server.borrow().refused(), server.borrow().steady_share());
        assert_eq!(refused, 0);
        assert!(share > 0.96, "{share}");
        // Never took its own requests for someone else's for long.
        tokio::time::advance(interval / 10).await;
        assert_eq!(lim.status().others_in_window, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn places_their_holder_did_not_replace_are_given_up_before_the_window_ends() {
        let lim = &RateLimiter::new(&RateLimit::per_window(20, Duration::from_secs(1)));
        let ms = Duration::from_millis;
        let answer = |remaining: u32| async move {
            let p = lim.acquire().await;
            tokio::time::sleep(ms(5)).await;
            lim.observe(&headers(20, remaining, 1_000), p.sent());
        };
        // Ours and 10 of someone else's.
        answer(20 - 11).await;
        assert_eq!(lim.status().others_in_window, 10);
        // A dip shorter than the grace (a window/20 plus our latency) frees nothing...
        tokio::time::advance(ms(100)).await;
        answer(20 - 2 - 6).await;
        tokio::time::advance(ms(20)).await;
        answer(20 - 3 - 6).await;
        assert_eq!(lim.status().others_in_window, 10);
        // ...one that lasts longer means the other process let 4 places go.
        tokio::time::advance(ms(50)).await;
        answer(20 - 4 - 6).await;
        assert_eq!(lim.status().others_in_window, 6);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_window_is_rechecked_when_the_other_process_stops_replacing() {
        let (max, interval) = (20, Duration::from_secs(1));
        let lim = RateLimiter::new(&RateLimit::per_window(max, interval));
        let ms = Duration::from_millis;
        // 8 of someone else's, and ours.
        let first = lim.acquire().await;
        lim.observe(&headers(max, max - 9, 1_000), first.sent());
        drop(first);
        for i in 0..9 {
            let p = lim.acquire().await;
            lim.observe(&headers(max, max - (10 + i), 1_000), p.sent());
        }
        assert_eq!(lim.status().others_in_window, 8);
        // One more fills the window (less the headroom, 1); its answer shows only 3 of
        // theirs, which frees nothing at once.
        let last = lim.acquire().await;
        let t0 = Instant::now();
        lim.observe(&headers(max, max - 14, 1_000), last.sent());
        drop(last);
        assert_eq!(lim.status().others_in_window, 8);
        // Nothing of ours is due for a window: a grace later (a window/20 here), one
        // request goes to check, and its answer frees the places.
        let check = lim.acquire().await;
        let wait = t0.elapsed();
        assert!(wait > ms(50) && wait < ms(60), "{wait:?}");
        lim.observe(&headers(max, max - 15, 1_000), check.sent());
        drop(check);
        assert_eq!(lim.status().others_in_window, 3);
        let t1 = Instant::now();
        let _next = lim.acquire().await;
        assert_eq!(t1.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn while_shared_requests_are_spread_once_room_is_scarce() {
        let (max, interval) = (50, Duration::from_secs(1));
        let lim = RateLimiter::new(&RateLimit::per_window(max, interval));
        let first = lim.acquire().await;
        // 30 of someone else's: 17 places of room (50 - 2 headroom - 30 - 1).
        lim.observe(&headers(max, max - 31, 1_000), first.sent());
        drop(first);
        let mut starts = Vec::new();
        let mut held = Vec::new();
        for _ in 0..17 {
            held.push(lim.acquire().await);
            starts.push(Instant::now());
        }
        // Much room: requests go at once while those in flight (nothing is answered
        // here) are less than half the room left: 6 of 17...
        let t0 = starts[0];
        let at_once = starts.iter().filter(|t| **t == t0).count();
        assert_eq!(at_once, 6);
        // ...then two per two average spacings (2 × 20 ms).
        for w in starts[at_once..].windows(3) {
            assert!(
                w[2].duration_since(w[0]) >= Duration::from_millis(40),
                "{w:?}"
            );
        }
    }
}
