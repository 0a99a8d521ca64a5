//! What other processes on the same app hold in the window, inferred from HubSpot's
//! `X-HubSpot-RateLimit-Remaining` in our own answers: whether the window is shared at
//! all (then [`share`](super::share) splits it), and, for the status and the in-flight
//! window, about how many places the others hold.
//!
//! Terms. A *place* is one request another process was seen to have in HubSpot's
//! window: HubSpot counted more requests than we could have sent. Each answer counts
//! them late (it is our only view of the others), so a place is kept a window after
//! the last answer that counted it, plus a *grace*: a twentieth of the window plus
//! our slowest recent request, about the time the other process needs to replace a
//! request that left the window with its next one. A *dip* is an answer whose count
//! leaves a place out; a place is given up when two answers to requests sent more than
//! a grace apart both leave it out (its holder did not replace it). A *maybe place*
//! is a count that may be our own requests in flight, kept only briefly. A *probe* is a request sent alone while nothing else is in flight
//! whose answer tells whether room is real: the first request, the first after a 429
//! pause, and room that only lapsed assumptions freed (*unverified* places).

use std::time::Duration;

use tokio::time::Instant;

use super::count;
use super::window::{Counted, REACH, Window};

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

#[derive(Debug)]
pub(super) struct Others {
    /// Places surely held by other processes.
    places: Vec<Place>,
    /// Maybe places, as the times until which each is kept.
    maybe: Vec<Instant>,
    /// Places that freed up because an assumption ran out, not because HubSpot said
    /// so: they are used one probe at a time.
    pub unverified: u32,
    /// The next request is a probe whatever the room.
    pub probe_first: bool,
    /// The probe in flight, if any (its slot id).
    pub probe: Option<u64>,
}

impl Others {
    pub fn new(probe_first: bool) -> Self {
        Self {
            places: Vec::new(),
            maybe: Vec::new(),
            unverified: 0,
            probe_first,
            probe: None,
        }
    }

    /// How long a dip may last while the place is still its holder's.
    pub fn grace(w: &Window, now: Instant) -> Duration {
        w.interval / 20 + w.slowest(now)
    }

    /// Whether another process was surely seen in a recent window (prune first).
    pub fn shared(&self) -> bool {
        !self.places.is_empty()
    }

    /// Forgets places whose time ran out; surely held ones become unverified room.
    pub fn prune(&mut self, now: Instant) {
        let before = self.places.len();
        self.places.retain(|p| p.until > now);
        let lapsed = count(before - self.places.len());
        self.unverified = self.unverified.saturating_add(lapsed);
        self.maybe.retain(|t| *t > now);
    }

    /// Other processes' places, by the larger of the two estimates (they overlap).
    pub fn theirs(&self) -> usize {
        self.places.len().max(self.maybe.len())
    }

    /// When a place frees up next without an answer.
    pub fn next_expiry(&self) -> Option<Instant> {
        let sure = self.places.iter().map(|p| p.until).min();
        let maybe = self.maybe.iter().min().copied();
        sure.into_iter().chain(maybe).min()
    }

    /// Splits HubSpot's count when the request sent at `sent` arrived (`counted`) into
    /// ours (`ours`, what of ours it may include) and other processes', and updates the
    /// places.
    pub fn observe(
        &mut self,
        w: &Window,
        counted: u32,
        ours: &Counted,
        sent: Instant,
        now: Instant,
    ) {
        // Someone else is surely there only if HubSpot counted more than all of ours
        // it could have: a process alone must not mistake its own requests for
        // another's for long.
        let certain = counted > ours.possibly;
        self.account(
            w,
            counted.saturating_sub(ours.before),
            counted.saturating_sub(ours.in_window),
            certain,
            sent,
            now,
        );
        self.unverified = 0;
        self.probe_first = false;
    }

    /// Updates the places from an answer that showed at least `low` and at most about
    /// `high` of theirs (the figures differ by our requests HubSpot may or may not have
    /// counted), surely some if `certain`.
    ///
    /// Each place counted may have just been taken, so it is kept a full window from
    /// now, plus the grace. A lower count frees nothing at once (see the dip rule).
    /// Places are kept by the lower figure (the higher would keep one for a whole window
    /// whenever one of ours reached HubSpot a little late) and given up by the higher
    /// one. When the count may be our own requests in flight, it is a maybe place.
    fn account(
        &mut self,
        w: &Window,
        low: u32,
        high: u32,
        certain: bool,
        sent: Instant,
        now: Instant,
    ) {
        let low = usize::try_from(low).unwrap_or(usize::MAX).min(4096);
        let high = usize::try_from(high).unwrap_or(usize::MAX).min(4096);
        let grace = Self::grace(w, now);
        // Rank places by when they were last counted: place `k` is the one a count of
        // `k` or more confirms.
        self.places
            .sort_unstable_by_key(|p| std::cmp::Reverse(p.seen));
        if certain {
            let arrived = now.min(sent + REACH);
            let until = arrived + w.interval + grace;
            for p in self.places.iter_mut().take(low) {
                p.seen = now;
                p.until = p.until.max(until);
            }
            if self.places.len() < low {
                let p = Place {
                    seen: now,
                    until,
                    dipped: None,
                };
                self.places.resize(low, p);
            }
        } else {
            let until = now + w.interval / 20 + w.margin();
            hold(&mut self.maybe, low, until);
        }
        let mut rank = 0;
        self.places.retain_mut(|p| {
            rank += 1;
            if rank <= high {
                p.dipped = None;
                return true;
            }
            let dipped = *p.dipped.get_or_insert(sent);
            sent <= dipped + grace
        });
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
