//! What makes the emulator answer like a HubSpot on the other side of an ocean, not a
//! loopback server: a latency distribution, and HubSpot's 423 Locked, which its
//! error-handling docs list for upserting many records of one object type in a very
//! short period (the lock lasts about 2 s).
//!
//! Both are off by default. A request is counted against the rate window when it
//! arrives (the limiter runs first); the latency is spent after the write, before the
//! answer, so an answer that takes 2 s does not hold a place in the window any longer.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

/// How long a processed upsert takes to be answered: lognormal, `median × e^(σ·Z)`
/// with `Z` standard normal. σ 0.3 puts nine answers in ten within ×0.68 to ×1.64 of
/// the median.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Latency {
    /// The median answer time.
    pub median: Duration,
    /// The spread (σ of the logarithm); 0 answers every request after the median.
    pub sigma: f64,
}

impl Latency {
    /// The σ used when only a median is given.
    pub const DEFAULT_SIGMA: f64 = 0.3;

    /// A lognormal latency with this median and σ.
    pub fn lognormal(median: Duration, sigma: f64) -> Self {
        Self { median, sigma }
    }

    /// Parses `MEDIAN[,SIGMA]`: `300ms`, `2s,0.3`, `1.5s`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (median, sigma) = match s.split_once(',') {
            Some((m, sg)) => {
                let sigma: f64 = sg
                    .trim()
                    .parse()
                    .map_err(|e| format!("bad sigma in {s:?}: {e}"))?;
                (m, sigma)
            }
            None => (s, Self::DEFAULT_SIGMA),
        };
        if !(0.0..=3.0).contains(&sigma) {
            return Err(format!("sigma in {s:?} must be within 0..=3"));
        }
        let median = parse_duration(median.trim())?;
        Ok(Self { median, sigma })
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> Duration {
        if self.sigma == 0.0 {
            return self.median;
        }
        // Box-Muller: one standard normal from two uniforms (u1 kept above zero).
        let u1 = (uniform(rng)).max(f64::MIN_POSITIVE);
        let u2 = uniform(rng);
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        // At most an hour: a huge σ must not overflow a Duration.
        let secs = (self.median.as_secs_f64() * (self.sigma * z).exp()).min(3600.0);
        Duration::from_secs_f64(secs)
    }
}

/// When the emulator answers 423 Locked. A lock belongs to a token (the emulator's
/// stand-in for an account) and lasts `lock_for`; every upsert arriving during it is
/// answered 423 and writes nothing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LockRule {
    /// More than this many upserts arriving within the duration start a lock.
    pub burst: Option<(u32, Duration)>,
    /// The share of other upserts that start a lock anyway (seeded), standing for the
    /// account's other traffic.
    pub share: f64,
    /// How long a lock lasts (HubSpot: about 2 s).
    pub lock_for: Duration,
}

impl Default for LockRule {
    /// No lock is ever started; locks last 2 s.
    fn default() -> Self {
        Self {
            burst: None,
            share: 0.0,
            lock_for: Self::HUBSPOT_LOCK,
        }
    }
}

impl LockRule {
    /// How long HubSpot documents a lock to last.
    pub const HUBSPOT_LOCK: Duration = Duration::from_secs(2);

    /// Locks when more than `max` upserts arrive within `within`.
    pub fn burst(max: u32, within: Duration) -> Self {
        Self {
            burst: Some((max, within)),
            ..Self::default()
        }
    }

    /// Locks on this share of upserts, at random (seeded).
    pub fn share(share: f64) -> Self {
        Self {
            share,
            ..Self::default()
        }
    }

    /// Sets how long a lock lasts.
    #[must_use]
    pub fn lasting(mut self, lock_for: Duration) -> Self {
        self.lock_for = lock_for;
        self
    }

    /// Parses `N/WINDOW` (a burst rule, e.g. `60/1s`).
    pub fn parse_burst(s: &str) -> Result<(u32, Duration), String> {
        let (n, w) = s
            .split_once('/')
            .ok_or_else(|| format!("expected N/WINDOW (e.g. 60/1s), got {s:?}"))?;
        let n: u32 = n
            .trim()
            .parse()
            .map_err(|e| format!("bad count in {s:?}: {e}"))?;
        let w = parse_duration(w.trim())?;
        if w.is_zero() {
            return Err(format!("the window in {s:?} must be longer than zero"));
        }
        Ok((n, w))
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.share) {
            return Err(format!("lock share {} is not within 0..=1", self.share));
        }
        Ok(())
    }
}

/// Parses `250ms`, `2s`, `1.5s`, `1m`.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("{s:?} needs a unit (ms, s or m)"))?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|e| format!("bad number in {s:?}: {e}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("unknown unit in {s:?} (ms, s or m)")),
    };
    if !secs.is_finite() || !(0.0..=3600.0).contains(&secs) {
        return Err(format!("{s:?} must be between 0 and an hour"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn uniform(rng: &mut ChaCha8Rng) -> f64 {
    // 53 random bits as a float in [0, 1).
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[derive(Default)]
struct TokenLock {
    arrivals: VecDeque<Instant>,
    until: Option<Instant>,
}

/// The latency and lock state, behind the emulator's control lock.
pub(crate) struct Remote {
    latency: Option<Latency>,
    lock: Option<LockRule>,
    locks: HashMap<String, TokenLock>,
    rng: ChaCha8Rng,
}

impl Remote {
    pub fn new(latency: Option<Latency>, lock: Option<LockRule>, seed: u64) -> Self {
        Self {
            latency,
            lock,
            locks: HashMap::new(),
            // Its own stream, so that turning latency on does not change which faults
            // a seed gives.
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_1a7e_0423),
        }
    }

    /// How long to hold the next processed answer back.
    pub fn latency(&mut self) -> Option<Duration> {
        let l = self.latency?;
        Some(l.sample(&mut self.rng))
    }

    /// Counts an upsert arriving for `token` at `now`: whether it is answered 423.
    pub fn locked(&mut self, token: &str, now: Instant) -> bool {
        let Some(rule) = self.lock else {
            return false;
        };
        if !self.locks.contains_key(token) {
            self.locks.insert(token.to_owned(), TokenLock::default());
        }
        let Some(lock) = self.locks.get_mut(token) else {
            return false;
        };
        if lock.until.is_some_and(|u| now < u) {
            return true;
        }
        lock.until = None;
        let mut start = false;
        if let Some((max, within)) = rule.burst {
            lock.arrivals.push_back(now);
            while lock
                .arrivals
                .front()
                .is_some_and(|t| now.saturating_duration_since(*t) >= within)
            {
                lock.arrivals.pop_front();
            }
            start = lock.arrivals.len() > usize::try_from(max).unwrap_or(usize::MAX);
        }
        if !start && rule.share > 0.0 {
            start = uniform(&mut self.rng) < rule.share;
        }
        if start {
            lock.arrivals.clear();
            lock.until = Some(now + rule.lock_for);
        }
        start
    }

    pub fn reset(&mut self) {
        self.locks.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_parses_and_has_its_median() {
        let l = Latency::parse("300ms,0.3").expect("parses");
        assert_eq!(l.median, Duration::from_millis(300));
        assert_eq!(Latency::parse("2s").expect("parses").sigma, 0.3);
        assert!(Latency::parse("2").is_err());
        assert!(Latency::parse("2s,-1").is_err());
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut v: Vec<_> = (0..2001).map(|_| l.sample(&mut rng)).collect();
        v.sort();
        let median = v[1000].as_secs_f64();
        assert!((0.27..0.33).contains(&median), "{median}");
    }

    #[test]
    fn a_burst_locks_for_the_lock_time() {
        let mut r = Remote::new(None, Some(LockRule::burst(3, Duration::from_secs(1))), 0);
        let t = Instant::now();
        let ms = Duration::from_millis;
        assert!(!r.locked("a", t));
        assert!(!r.locked("a", t + ms(1)));
        assert!(!r.locked("a", t + ms(2)));
        assert!(r.locked("a", t + ms(3)), "the fourth within a second");
        assert!(!r.locked("b", t + ms(4)), "another token is not locked");
        assert!(r.locked("a", t + ms(2_000)));
        assert!(!r.locked("a", t + ms(2_004)));
    }

    #[test]
    fn a_share_locks_about_that_share() {
        let mut r = Remote::new(None, Some(LockRule::share(0.05).lasting(Duration::ZERO)), 7);
        let t = Instant::now();
        let n = (0..10_000)
            .filter(|i| r.locked("a", t + Duration::from_millis(*i)))
            .count();
        assert!((400..600).contains(&n), "{n}");
    }
}
