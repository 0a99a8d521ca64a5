//! The client-side rate limiter, shared by every clone of a client: it lets a request
//! start only when HubSpot's rolling window has room for it.
//!
//! Why a sliding-window log and not a token bucket or GCRA? HubSpot counts requests in
//! a *rolling* window. A bucket with burst = `max` lets `max` through at once and then
//! refills continuously, so some window sees close to `2 × max` requests; a smaller
//! burst wastes capacity. The log is exact: it keeps the time of each of our (at most
//! `max`, ≤ 250) requests in the current window ([`window`]) and lets a new one start
//! only when fewer than `max` places are used, ours plus those other processes on the
//! same app were seen to hold ([`others`]).
//!
//! Two windows are kept from the one log: HubSpot's (configured, then learnt from the
//! `X-HubSpot-RateLimit-*` headers) and, when the user set a limit of their own
//! ([`RateLimit::per_window`]), the user's, which is a ceiling: a request starts only
//! when both have room, whatever their lengths. Other processes' use is read from
//! HubSpot's count and held against HubSpot's window only: the user's limit is this
//! client's own.
//!
//! Once another process is seen, the window is split as [`share`] says: each process
//! keeps its places and takes a part of the room HubSpot's latest count shows free,
//! paced, with a little headroom left free.

mod others;
mod share;
mod window;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::{LimitMode, RateLimit};
use others::Others;
use share::Share;
use window::Window;

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
            // At most a day: a broken header must not push waits out of range.
            interval: num::<u64>(h, "x-hubspot-ratelimit-interval-milliseconds")
                .map(|ms| Duration::from_millis(ms.min(86_400_000))),
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
    /// Requests allowed per window right now: the user's limit or HubSpot's (learnt
    /// from headers), whichever is the lower rate; both are kept.
    pub max: u32,
    /// That limit's window.
    pub interval: Duration,
    /// This client's requests that still count in that window.
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

/// While room is scarce on a shared app, at most this many of our requests start
/// within this many average spacings (`interval / max`).
const PACE_BURST: u32 = 2;

/// A limit the user set: at most `max` of our requests in any rolling `interval`.
#[derive(Clone, Copy, Debug)]
struct Ceiling {
    max: u32,
    interval: Duration,
}

#[derive(Debug)]
struct State {
    mode: LimitMode,
    adaptive: bool,
    /// The user's own limit, kept whatever HubSpot announces (fixed mode only).
    user: Option<Ceiling>,
    /// Our requests, and HubSpot's window (`max`, `interval`).
    window: Window,
    others: Others,
    share: Share,
    /// Every request waits until then (a 429's pause).
    blocked_until: Option<Instant>,
    /// After a 423 Locked, until then: requests keep to the window's average pace.
    /// HubSpot locks an object type for bursts of upserts, and a window filled as fast
    /// as answers allow (64 requests in a second at 2 s answers) is such a burst.
    smooth_until: Option<Instant>,
    last: Option<RateLimitHeaders>,
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl State {
    fn pause(&mut self, until: Instant) {
        if self.blocked_until.is_none_or(|t| t < until) {
            self.blocked_until = Some(until);
        }
        // After the pause, send one request and read its headers before the rest.
        self.others.probe_first = true;
        self.share.forget();
    }

    fn prune(&mut self, now: Instant) {
        let longest = self.user.map_or(Duration::ZERO, |u| u.interval);
        self.window.prune(now, longest);
        self.others.prune(now);
    }

    /// When the user's own limit has room again, if it is full now.
    fn user_full_until(&self, now: Instant) -> Option<Wait> {
        let u = self.user?;
        if count(self.window.ours_in(now, u.interval)) < u.max {
            return None;
        }
        Some(
            self.window
                .next_expiry_in(now, u.interval)
                .map_or(Wait::Notified, Wait::Until),
        )
    }

    /// Places used in HubSpot's window: ours and the others' last seen.
    fn used(&self, now: Instant) -> u32 {
        count(self.window.ours(now) + self.others.theirs())
    }

    /// Whether a request may start now (`Ok(true)` if as a probe), or what to wait for.
    fn admit(&self, now: Instant) -> Result<bool, Wait> {
        if let Some(wait) = self.user_full_until(now) {
            return Err(wait);
        }
        if self.shared(now) {
            return self.admit_shared(now);
        }
        let (w, o) = (&self.window, &self.others);
        let used = self.used(now);
        if used >= w.max {
            let expiry = [w.next_expiry(now), o.next_expiry()]
                .into_iter()
                .flatten()
                .min();
            return Err(expiry.map_or(Wait::Notified, Wait::Until));
        }
        if self.smooth(now)
            && let Some(t) = w.paced_until(now, PACE_BURST, 1.0)
        {
            return Err(Wait::Until(t));
        }
        // Room that only lapsed assumptions freed is tried by a probe first.
        let probing = o.probe_first || used.saturating_add(o.unverified) >= w.max;
        if probing && o.probe.is_some() {
            // Wait for the probe's answer.
            return Err(Wait::Notified);
        }
        Ok(probing)
    }

    /// [`State::admit`] while another process shares the window (see [`share`]).
    fn admit_shared(&self, now: Instant) -> Result<bool, Wait> {
        let (w, o) = (&self.window, &self.others);
        let Some(e) = self.share.entitled() else {
            // No count read since a pause: one request goes to read it.
            if w.in_flight() > 0 || o.probe.is_some() {
                return Err(Wait::Notified);
            }
            return Ok(true);
        };
        if count(w.ours(now)) >= e.max(1) {
            return Err(w.next_expiry(now).map_or(Wait::Notified, Wait::Until));
        }
        // Lately locked: no faster than the pace that holds our places.
        let pace = if self.smooth(now) {
            f64::from(e.max(1)) / f64::from(w.max.max(1))
        } else {
            Share::pace(w, now, e)
        };
        if let Some(t) = w.paced_until(now, PACE_BURST, pace) {
            return Err(Wait::Until(t));
        }
        if o.probe_first {
            if o.probe.is_some() {
                return Err(Wait::Notified);
            }
            return Ok(true);
        }
        Ok(false)
    }

    /// Whether another process shares the window (seen now, or lately: see [`share`]).
    fn shared(&self, now: Instant) -> bool {
        self.others.shared() || self.share.recent(now)
    }

    fn smooth(&self, now: Instant) -> bool {
        self.smooth_until.is_some_and(|t| now < t)
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
                let mut st = crate::lock(&shared.state);
                st.window.close(self.id, Instant::now());
                if st.others.probe == Some(self.id) {
                    // Its headers, if any, have been read (the engine observes before
                    // dropping): nothing more to wait for.
                    st.others.probe = None;
                    st.others.probe_first = false;
                    st.others.unverified = 0;
                }
            }
            shared.notify.notify_waiters();
        }
    }
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
                    user: (cfg.mode == LimitMode::Fixed).then_some(Ceiling {
                        max: cfg.max,
                        interval: cfg.interval,
                    }),
                    // Until HubSpot's headers say otherwise, its window is taken to be
                    // the configured one.
                    window: Window::new(cfg.max, cfg.interval),
                    others: Others::new(cfg.adaptive && cfg.mode != LimitMode::Disabled),
                    share: Share::new(),
                    blocked_until: None,
                    smooth_until: None,
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
                let mut st = crate::lock(&self.shared.state);
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
                                let id = st.window.open(now);
                                if probe {
                                    st.others.probe = Some(id);
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
            let mut st = crate::lock(&self.shared.state);
            let now = Instant::now();
            st.prune(now);
            if h.remaining.is_some() {
                st.share.saw_count();
            }
            if st.adaptive
                && st.mode != LimitMode::Disabled
                && let Some(m) = h.max.filter(|m| *m > 0)
            {
                let i = h
                    .interval
                    .filter(|i| !i.is_zero())
                    .unwrap_or(st.window.interval);
                // HubSpot's window follows the headers up and down; a user's limit is
                // kept beside it (`user`), so the stricter of the two always holds.
                st.window.max = m;
                st.window.interval = i;
                if let Some(r) = h.remaining {
                    let State {
                        window,
                        others,
                        share,
                        ..
                    } = &mut *st;
                    let counted = m.saturating_sub(r);
                    // What of ours the count may include (a 0 may be an uncounted 429).
                    let ours = window.counted_by(sent, r == 0);
                    others.observe(window, counted, &ours, sent, now);
                    share.observe(window, counted, &ours, sent, now, others.shared());
                }
            }
            if st.mode == LimitMode::Disabled
                && let Some(i) = h.interval.filter(|i| !i.is_zero())
            {
                // Not limiting, but a 429 without `Retry-After` waits for this window.
                st.window.interval = i;
            }
            st.last = Some(h);
        }
        self.shared.notify.notify_waiters();
    }

    /// Holds every request of every clone until `until` (after a 429).
    pub(crate) fn pause_until(&self, until: Instant) {
        let mut st = crate::lock(&self.shared.state);
        st.pause(until);
        let interval = st.window.interval;
        st.share.refused(Instant::now(), interval);
    }

    /// Holds every request until `until` (after a 423 Locked), then keeps to the
    /// window's average pace for a window.
    pub(crate) fn locked(&self, until: Instant) {
        let mut st = crate::lock(&self.shared.state);
        st.pause(until);
        let smooth = until + st.window.interval;
        if st.smooth_until.is_none_or(|t| t < smooth) {
            st.smooth_until = Some(smooth);
        }
    }

    /// Requests per second allowed now (the stricter of the user's limit and
    /// HubSpot's), or `None` when the limiter does not limit.
    pub(crate) fn rate(&self) -> Option<f64> {
        let mut st = crate::lock(&self.shared.state);
        if st.mode == LimitMode::Disabled {
            return None;
        }
        st.prune(Instant::now());
        let per_sec = |max: u32, interval: Duration| {
            f64::from(max) / interval.as_secs_f64().max(f64::MIN_POSITIVE)
        };
        // Each process keeps its part of the window in flight, not the whole window's,
        // which would arrive in a burst.
        let now = Instant::now();
        let hub = match st.share.entitled().filter(|_| st.shared(now)) {
            // Shared: the pace the split allows us (see `share`); the others' places,
            // kept until answers stop counting them, would size the in-flight window
            // for less than that, the more so the longer answers take.
            Some(e) => Share::pace(&st.window, now, e) * per_sec(st.window.max, st.window.interval),
            None => {
                let room = st.window.max.saturating_sub(count(st.others.theirs()));
                per_sec(room.max(1), st.window.interval)
            }
        };
        Some(st.user.map_or(hub, |u| hub.min(per_sec(u.max, u.interval))))
    }

    /// Whether any answer carried HubSpot's count (`X-HubSpot-RateLimit-Remaining`).
    pub(crate) fn counted(&self) -> bool {
        crate::lock(&self.shared.state).share.counted()
    }

    /// The current window length (from headers when known).
    pub(crate) fn interval(&self) -> Duration {
        crate::lock(&self.shared.state).window.interval
    }

    pub(crate) fn status(&self) -> RateLimitStatus {
        let mut st = crate::lock(&self.shared.state);
        let now = Instant::now();
        st.prune(now);
        // The binding limit: the user's when it is the lower rate.
        let (max, interval) = match st.user {
            Some(u)
                if u128::from(u.max) * st.window.interval.as_nanos()
                    < u128::from(st.window.max) * u.interval.as_nanos() =>
            {
                (u.max, u.interval)
            }
            _ => (st.window.max, st.window.interval),
        };
        RateLimitStatus {
            max,
            interval,
            in_window: count(st.window.ours_in(now, interval)),
            others_in_window: count(st.others.theirs()),
            paused_for: st
                .blocked_until
                .filter(|t| *t > now)
                .map(|t| t.duration_since(now)),
            last_headers: st.last.clone(),
        }
    }
}

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;
