//! How many requests are in flight at once: the in-flight window.
//!
//! Why adapt it? With a fixed number `n` in flight, throughput is `n / latency`: 4
//! batches reach a Professional portal's ceiling (19 requests/s) at 200 ms, a fifth of
//! it at 1 s. The rate limiter decides *how many* requests a window may hold; this
//! decides how many may be on the wire together, so that the limiter is the bound:
//! `allowed rate × latency`, with headroom for slow answers (latencies vary; the mean
//! of a lognormal is above its median) and one more so a request is always ready.
//! Fewer would leave the ceiling unreached; many more would send a window's worth in a
//! burst, which is what HubSpot answers with 423 Locked, and hold more records in
//! memory for nothing.
//!
//! The window is bounded by `max_concurrency` (the cap, which also bounds the records
//! the bulk layer holds), and by a congestion window that halves on a sign that HubSpot
//! is struggling or refusing (429, 423, 5xx, a timeout or a broken connection), at most
//! once per latency (answers to requests sent before the cut say nothing new), and grows
//! by one per answer again (doubling per round trip: the limiter, not this, keeps the
//! rate).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// In flight, per request the rate allows in one latency.
const HEADROOM: f64 = 1.3;

/// The weight given to each new latency in the running average.
const SMOOTHING: f64 = 0.2;

#[derive(Debug)]
struct State {
    in_flight: usize,
    /// The congestion window, in requests.
    cwnd: f64,
    /// Running average of answer times, once one is known.
    latency: Option<Duration>,
    /// No further cut before then (one latency after the last).
    calm_until: Option<Instant>,
}

/// The in-flight window of one engine, shared by every operation it runs.
#[derive(Debug)]
pub(crate) struct Flight {
    cap: usize,
    state: Mutex<State>,
    notify: Notify,
}

/// How an answer went, for the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    /// Answered (whatever it said about the records).
    Answered,
    /// 429, 423, 5xx, a timeout or a broken connection: take fewer at once.
    BackOff,
}

/// One request's place in flight; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct Ticket {
    flight: Arc<Flight>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        {
            let mut st = crate::lock(&self.flight.state);
            st.in_flight = st.in_flight.saturating_sub(1);
        }
        self.flight.notify.notify_waiters();
    }
}

impl Flight {
    /// A window of at most `cap` requests (at least 1).
    pub(crate) fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        Self {
            cap,
            state: Mutex::new(State {
                in_flight: 0,
                cwnd: cap as f64,
                latency: None,
                calm_until: None,
            }),
            notify: Notify::new(),
        }
    }

    /// How many may be in flight, given the rate the limiter allows (requests per
    /// second; `None` when it does not limit).
    fn allowed(&self, st: &State, rate: Option<f64>) -> usize {
        // Until an answer has shown the latency, the cap (the bulk layer sends one
        // batch alone first, so this is brief).
        let target = match (rate, st.latency) {
            (Some(rate), Some(latency)) => {
                let n = (rate * latency.as_secs_f64() * HEADROOM).ceil() + 1.0;
                if n.is_finite() && n < self.cap as f64 {
                    n as usize
                } else {
                    self.cap
                }
            }
            _ => self.cap,
        };
        let cwnd = if st.cwnd.is_finite() {
            st.cwnd.floor().max(1.0) as usize
        } else {
            1
        };
        target.min(cwnd).clamp(1, self.cap)
    }

    /// Waits for a place in flight. Cancel-safe.
    pub(crate) async fn acquire(self: &Arc<Self>, rate: impl Fn() -> Option<f64>) -> Ticket {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = crate::lock(&self.state);
                if st.in_flight < self.allowed(&st, rate()) {
                    st.in_flight += 1;
                    return Ticket {
                        flight: Arc::clone(self),
                    };
                }
            }
            notified.await;
        }
    }

    /// How many may be in flight now, given the rate the limiter allows. The bulk
    /// layer keeps one batch more than this ready, not the cap's worth: batches waiting
    /// for a place hold their records in memory for nothing.
    pub(crate) fn window(&self, rate: Option<f64>) -> usize {
        self.allowed(&crate::lock(&self.state), rate)
    }

    /// Requests in flight now.
    pub(crate) fn in_flight(&self) -> usize {
        crate::lock(&self.state).in_flight
    }

    /// Learns from an answer that took `latency` (`None` when none came: a timeout or a
    /// broken connection).
    pub(crate) fn learn(&self, latency: Option<Duration>, signal: Signal, rate: Option<f64>) {
        let now = Instant::now();
        {
            let mut st = crate::lock(&self.state);
            if let Some(l) = latency {
                st.latency = Some(match st.latency {
                    Some(avg) => avg.mul_f64(1.0 - SMOOTHING) + l.mul_f64(SMOOTHING),
                    None => l,
                });
            }
            match signal {
                Signal::Answered => {
                    st.cwnd = (st.cwnd + 1.0).min(self.cap as f64);
                }
                Signal::BackOff => {
                    if st.calm_until.is_none_or(|t| now >= t) {
                        let half = (self.allowed(&st, rate) / 2).max(1);
                        st.cwnd = half as f64;
                        st.calm_until = Some(now + st.latency.unwrap_or(Duration::from_secs(1)));
                    }
                }
            }
        }
        self.notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_rate_times_latency_with_headroom_within_the_cap() {
        let f = Flight::new(64);
        let st = crate::lock(&f.state);
        assert_eq!(f.allowed(&st, Some(19.0)), 64, "no latency known yet");
        drop(st);
        f.learn(Some(Duration::from_secs(2)), Signal::Answered, Some(19.0));
        let st = crate::lock(&f.state);
        // 19/s × 2 s × 1.3 + 1.
        assert_eq!(f.allowed(&st, Some(19.0)), 51);
        assert_eq!(f.allowed(&st, Some(1_000.0)), 64, "the cap");
        assert_eq!(f.allowed(&st, None), 64, "no limiter");
    }

    #[tokio::test(start_paused = true)]
    async fn it_halves_once_per_latency_and_grows_back_by_one_per_answer() {
        let f = Flight::new(64);
        let rate = Some(19.0);
        f.learn(Some(Duration::from_millis(1000)), Signal::Answered, rate);
        let allowed = || f.allowed(&crate::lock(&f.state), rate);
        assert_eq!(allowed(), 26);
        f.learn(Some(Duration::from_millis(1000)), Signal::BackOff, rate);
        assert_eq!(allowed(), 13);
        // The answers to requests sent before the cut do not cut again.
        f.learn(None, Signal::BackOff, rate);
        assert_eq!(allowed(), 13);
        tokio::time::advance(Duration::from_millis(1001)).await;
        f.learn(None, Signal::BackOff, rate);
        assert_eq!(allowed(), 6);
        for _ in 0..30 {
            f.learn(Some(Duration::from_millis(1000)), Signal::Answered, rate);
        }
        assert_eq!(allowed(), 26);
    }

    #[tokio::test]
    async fn tickets_wait_for_a_place() {
        let f = Arc::new(Flight::new(2));
        let a = f.acquire(|| None).await;
        let _b = f.acquire(|| None).await;
        assert_eq!(f.in_flight(), 2);
        let third = tokio::time::timeout(Duration::from_millis(20), f.acquire(|| None)).await;
        assert!(third.is_err());
        drop(a);
        let _c = f.acquire(|| None).await;
    }
}
