//! How a window shared with other processes is split: each keeps the places it holds
//! and takes a part of the room HubSpot's count shows free.
//!
//! Why not estimate what the others hold *now* and fill the rest? Every count is a
//! latency old. At a remote HubSpot's latency (seconds) an estimate is either too high
//! (their places are kept until answers stop counting them, seconds after they left)
//! or too low (their rise since the count is unseen): the first left two processes at
//! 80% of the ceiling at a 2 s latency, the second meets 429s, each a window's pause.
//!
//! The rule here needs no estimate of the others. After each answer, our *entitlement*
//! is our own count when that request arrived (known from our log) plus one *part* of
//! the room then free (`cap − HubSpot's count`, negative when over). Processes reading
//! the same count take parts of the same room, so together they land on the cap
//! whatever their latency. Places that leave the window are replaced by their holder
//! (that takes exactly the place it frees); places a process did not replace (slow
//! answers, a pause, its work done) show up as free room, which the others share. Even
//! when the count shows no room at all, a process keeps one request in the window, to
//! read the count that tells it when room comes back. The *cap* is the window less a
//! little *headroom* left free while it is shared, for a process that lost its share to
//! get back in. Room is split in two parts
//! (two processes is the common case); each 429 shows that more processes split it,
//! and adds a part (at most [`MAX_PARTS`]); a part is taken back after
//! [`CALM_WINDOWS`] windows without one.
//!
//! Growth into free room is paced, not sent at once: a burst into room the others are
//! also taking lands as one, and its echo (a window later, when its places leave)
//! empties the window for seconds. The pace is about a third faster than the average
//! that holds our places (at least half the window's), plus twice the entitlement not
//! yet used, per window: a process whose partner finished takes over its room within
//! seconds.

use std::time::Duration;

use tokio::time::Instant;

use super::count;
use super::window::{Counted, Window};

/// The most parts free room is split into (processes sharing one app's window).
pub(super) const MAX_PARTS: u32 = 8;

/// Windows without a 429 after which free room is split in one part fewer.
const CALM_WINDOWS: u32 = 6;

/// How long after the others were last seen the window is still treated as shared: a
/// pause empties every view, and processes that all think themselves alone after it
/// fill the window together.
const MEMORY: Duration = Duration::from_secs(60);

/// The pace of our requests over what holds our entitlement, while there is room.
const PACE_OVER: f64 = 1.3;

/// The places of a window of `max` that processes sharing it fill: all but a twentieth
/// (the headroom; at least one, and one place at least is usable).
pub(super) fn cap(max: u32) -> u32 {
    max - (max / 20).max(1).min(max.saturating_sub(1))
}

#[derive(Debug)]
pub(super) struct Share {
    /// Our entitlement by the answer to the latest-sent request that carried a count,
    /// and when that request was sent (answers come back out of order).
    entitled: Option<(Instant, u32)>,
    parts: u32,
    /// When `parts` last changed.
    changed: Option<Instant>,
    /// When another process was last seen.
    seen: Option<Instant>,
    /// Whether any answer carried HubSpot's count.
    counted: bool,
    /// Whether the split has followed a count (the limiter adapts to headers).
    followed: bool,
}

impl Share {
    pub fn new() -> Self {
        Self {
            entitled: None,
            parts: 2,
            changed: None,
            seen: None,
            counted: false,
            followed: false,
        }
    }

    /// Whether another process was seen lately (see [`MEMORY`]).
    pub fn recent(&self, now: Instant) -> bool {
        self.seen.is_some_and(|t| now < t + MEMORY)
    }

    /// Whether any answer carried HubSpot's count.
    pub fn counted(&self) -> bool {
        self.counted
    }

    /// An answer carried HubSpot's count (whether or not the limiter follows it).
    pub fn saw_count(&mut self) {
        self.counted = true;
    }

    /// Our entitlement, unless no count was read since the last pause.
    pub fn entitled(&self) -> Option<u32> {
        self.entitled.map(|(_, e)| e)
    }

    /// Learns from HubSpot's count (`counted`, of which `ours` may be ours) in the
    /// answer to the request sent at `sent`; `others` if another process is seen in the
    /// window now.
    pub fn observe(
        &mut self,
        w: &Window,
        counted: u32,
        ours: &Counted,
        sent: Instant,
        now: Instant,
        others: bool,
    ) {
        self.followed = true;
        if others {
            self.seen = Some(now);
        }
        if self.parts > 2
            && self
                .changed
                .is_none_or(|t| now >= t + w.interval * CALM_WINDOWS)
        {
            self.parts -= 1;
            self.changed = Some(now);
        }
        if self.entitled.is_some_and(|(t, _)| t > sent) {
            return;
        }
        let ours = i64::from(ours.before);
        let free = i64::from(cap(w.max)) - i64::from(counted);
        let e = ours + free.div_euclid(i64::from(self.parts));
        self.entitled = Some((sent, u32::try_from(e.max(0)).unwrap_or(u32::MAX)));
    }

    /// After a 429 (its pause has [`Share::forget`]-ed the entitlement): the room was
    /// split among more than we thought.
    pub fn refused(&mut self, now: Instant, interval: Duration) {
        // Someone else is there, whether or not a count showed them: a process alone at
        // the ceiling cannot tell a newcomer's first request from its own (it sees a
        // full window either way), until a 429. Only where answers carry counts: without
        // them the split has nothing to go on.
        if self.followed {
            self.seen = Some(now);
        }
        if self.changed.is_none_or(|t| now >= t + interval) {
            self.parts = (self.parts + 1).min(MAX_PARTS);
            self.changed = Some(now);
        }
    }

    /// After any pause: counts read before it are stale.
    pub fn forget(&mut self) {
        self.entitled = None;
    }

    /// The share of the window's average pace (`max / interval`) our requests keep to
    /// now, given our entitlement `e` (see the module's doc).
    pub fn pace(w: &Window, now: Instant, e: u32) -> f64 {
        let gap = e.saturating_sub(count(w.ours(now)));
        let base = f64::from(e.max(cap(w.max) / 2)) * PACE_OVER;
        ((base + 2.0 * f64::from(gap)) / f64::from(w.max.max(1))).min(1.0)
    }
}
