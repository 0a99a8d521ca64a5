//! Our own requests in the rolling window: a log of when each was sent and answered.
//!
//! Terms. The *window* is HubSpot's rolling interval (10 s by default) in which at most
//! `max` requests may arrive. A *slot* is one of our requests: it holds a place from
//! the moment it is sent until one window after the latest moment it may have
//! *arrived*, because HubSpot counts a request when it arrives. That moment is its
//! answer if the answer came quickly, else its *reach* (250 ms) after sending: a request's body
//! (about 50 KB) is on the server well before a batch upsert is answered, which takes
//! HubSpot hundreds of milliseconds to seconds. Holding a slot until its answer (as
//! this module once did) cost a whole latency per request: at 2 s, 10 s windows
//! became 12 s, a sixth of the ceiling lost. A request that arrives later than its
//! reach shows up in `X-HubSpot-RateLimit-Remaining` (see `others`) or, at worst, as
//! one 429, which pauses every request. The *margin* is a little extra spacing after
//! a slot's window so that clock granularity on either side never lands a request
//! exactly on the window's edge. Slots are kept a minute longer than that, to tell how
//! many of ours an answer's count may include (see `others`).
//!
//! The same log serves any window length: HubSpot's (`max`, `interval`) and a stricter
//! one the user asked for are both counted from it (`ours_in`).

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::count;

#[derive(Debug)]
struct Slot {
    id: u64,
    sent: Instant,
    done: Option<Instant>,
}

impl Slot {
    /// The latest the request may have arrived: its answer, or its reach.
    fn arrived_by(&self) -> Instant {
        self.done
            .map_or(self.sent + REACH, |d| d.min(self.sent + REACH))
    }
}

/// Our slots and the window's current size.
#[derive(Debug)]
pub(super) struct Window {
    /// Requests allowed per window right now (configured, or learnt from headers).
    pub max: u32,
    pub interval: Duration,
    /// In sending order: in flight, in the window, and for a minute more.
    slots: VecDeque<Slot>,
    next_id: u64,
}

/// Extra spacing after a window of `interval`, for clock granularity.
fn margin(interval: Duration) -> Duration {
    (interval / 500).max(Duration::from_millis(1))
}

/// How long after being sent a request is assumed to have arrived, at the latest,
/// when its answer has not come sooner: a time on the wire and in the sender's and the
/// server's queues (a batch's body is about 50 KB), not a share of the window, so it
/// is the same for HubSpot's 10 s and a user's 1 s. It costs a window at most this
/// much (2.5% of 10 s), however slow the answers; a loaded machine that sends later
/// than this is rare, and seen in `Remaining` or, at worst, as one 429.
pub(super) const REACH: Duration = Duration::from_millis(250);

/// Our requests an answer's count may include, see [`Window::counted_by`].
pub(super) struct Counted {
    /// Not answered before the answered request's window began.
    pub possibly: u32,
    /// Of those that may have arrived within its window, sent up to the answered
    /// request (requests arrive about in order).
    pub before: u32,
    /// Of these, sent within its window.
    pub in_window: u32,
}

impl Window {
    pub fn new(max: u32, interval: Duration) -> Self {
        Self {
            max,
            interval,
            slots: VecDeque::new(),
            next_id: 1,
        }
    }

    pub fn margin(&self) -> Duration {
        margin(self.interval)
    }

    /// When a slot stops holding a place in a window of `interval`: one window (and the
    /// margin) after the latest it may have arrived. The others' places are kept
    /// from the same moment (see `others.rs`), so a shared window is counted alike.
    fn release(s: &Slot, interval: Duration) -> Instant {
        s.arrived_by() + interval + margin(interval)
    }

    /// Forgets slots that can no longer matter, to a window of `longest` (the longer of
    /// HubSpot's and the user's).
    pub fn prune(&mut self, now: Instant, longest: Duration) {
        let longest = longest.max(self.interval);
        let horizon = longest + margin(longest) + Duration::from_secs(60);
        while self
            .slots
            .front()
            .is_some_and(|s| s.done.is_some_and(|d| d + horizon <= now))
        {
            self.slots.pop_front();
        }
    }

    /// Our slots that hold a place in HubSpot's window.
    pub fn ours(&self, now: Instant) -> usize {
        self.ours_in(now, self.interval)
    }

    /// Our slots that hold a place in a window of `interval` (see [`Window::release`]).
    pub fn ours_in(&self, now: Instant, interval: Duration) -> usize {
        self.slots
            .iter()
            .filter(|s| Self::release(s, interval) > now)
            .count()
    }

    pub fn in_flight(&self) -> u32 {
        count(self.slots.iter().filter(|s| s.done.is_none()).count())
    }

    /// Takes a slot for a request sent now.
    pub fn open(&mut self, now: Instant) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.slots.push_back(Slot {
            id,
            sent: now,
            done: None,
        });
        id
    }

    /// Marks a slot's request answered (or abandoned).
    pub fn close(&mut self, id: u64, now: Instant) {
        if let Some(slot) = self.slots.iter_mut().rev().find(|s| s.id == id) {
            slot.done = Some(now);
        }
    }

    /// When one of our places in HubSpot's window frees up next without an answer.
    pub fn next_expiry(&self, now: Instant) -> Option<Instant> {
        self.next_expiry_in(now, self.interval)
    }

    /// When one of our places in a window of `interval` frees up next. A slot in flight
    /// frees up at its reach's window too, so this is known in advance; an answer can
    /// only bring it forward (the waiters are woken then).
    pub fn next_expiry_in(&self, now: Instant, interval: Duration) -> Option<Instant> {
        self.slots
            .iter()
            .map(|s| Self::release(s, interval))
            .filter(|t| *t > now)
            .min()
    }

    /// The longest time one of our recent requests took (in flight ones so far).
    pub fn slowest(&self, now: Instant) -> Duration {
        let from = now.checked_sub(self.interval);
        self.slots
            .iter()
            .filter(|s| s.done.is_none_or(|d| from.is_none_or(|f| d > f)))
            .map(|s| s.done.unwrap_or(now).saturating_duration_since(s.sent))
            .max()
            .unwrap_or_default()
    }

    /// When the next request may start at the window's average pace: at most `burst`
    /// of ours within `burst` average spacings (`interval / max`).
    pub fn paced_until(&self, now: Instant, burst: u32, share: f64) -> Option<Instant> {
        let spacing = (self.interval / self.max.max(1)).div_f64(share.clamp(1.0 / 16.0, 1.0));
        let nth = usize::try_from(burst.saturating_sub(1)).unwrap_or(0);
        let t = self.slots.iter().rev().nth(nth)?.sent + spacing * burst;
        (t > now).then_some(t)
    }

    /// Our requests that HubSpot's count in the answer to the request sent at `sent`
    /// may include (`full`: the window was full, so that answer may be an uncounted 429).
    pub fn counted_by(&self, sent: Instant, full: bool) -> Counted {
        let from = sent.checked_sub(self.interval);
        let mut c = Counted {
            possibly: 0,
            before: 0,
            in_window: 0,
        };
        for s in &self.slots {
            if s.done.is_some_and(|d| from.is_some_and(|f| d <= f)) {
                continue;
            }
            c.possibly += 1;
            // Answered within the window, but surely arrived before it began: HubSpot
            // no longer counted it (at a 2 s latency, two seconds of ours).
            if from.is_some_and(|f| s.arrived_by() <= f) {
                continue;
            }
            if s.sent <= sent {
                c.before += 1;
                if from.is_none_or(|f| s.sent > f) {
                    c.in_window += 1;
                }
            }
        }
        if full {
            c.before = c.before.saturating_sub(1);
            c.in_window = c.in_window.saturating_sub(1);
        }
        c
    }
}
