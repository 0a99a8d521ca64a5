//! Counters and a bounded request log.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::faults::FaultKind;
use crate::limiter::Policy;
use crate::store::DuplicateCreate;

/// One upsert request as the emulator answered it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestLogEntry {
    /// 1-based arrival number (since the last reset).
    pub seq: u64,
    /// When the answer was decided: milliseconds after the request arrived, before any
    /// modelled latency (see `EmulatorConfig::latency`).
    pub at: DateTime<Utc>,
    /// When the request was counted against the rate window: its arrival, as HubSpot
    /// counts it (absent for requests refused before that, such as a bad token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrived: Option<DateTime<Utc>>,
    /// The API version of the path: `v3` or a dated version such as `2026-09`.
    #[serde(default)]
    pub api_version: String,
    /// The object type: its name (`tickets`, `contacts`, a custom object's fully
    /// qualified name) when served, else as the path gave it.
    #[serde(default)]
    pub object_type: String,
    /// HTTP status sent; `None` when the connection was closed instead.
    pub status: Option<u16>,
    /// Inputs in the request body (0 when it was not parsed).
    pub inputs: usize,
    /// Rate-limit policy of a 429 (real or injected).
    pub policy: Option<Policy>,
    /// Fault injected, if any.
    pub fault: Option<FaultKind>,
    /// Records created by this request.
    pub created: usize,
    /// Records updated by this request.
    pub updated: usize,
    /// Inputs that failed (per-input errors).
    pub errors: usize,
}

/// A copy of the emulator's counters, taken by [`crate::Emulator::stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsSnapshot {
    /// Upsert requests received (every status, dropped connections included).
    pub requests: u64,
    /// The most upsert requests being handled at once (arrived, not yet answered):
    /// how many a client had in flight, as the server saw it.
    #[serde(default)]
    pub peak_in_flight: u64,
    /// Responses sent, by HTTP status.
    pub responses_by_status: BTreeMap<u16, u64>,
    /// 429s sent by the rate limiter (not injected ones), by policy.
    pub rate_limited: BTreeMap<Policy, u64>,
    /// Faults injected, by kind.
    pub faults: BTreeMap<FaultKind, u64>,
    /// Injected 5xx answers that had an HTML body.
    pub html_error_bodies: u64,
    /// Connections closed on purpose instead of answering.
    pub connections_dropped: u64,
    /// Inputs received in parsed request bodies.
    pub inputs: u64,
    /// Inputs that failed individually.
    pub input_errors: u64,
    /// Records created by upserts, every object type.
    pub records_created: u64,
    /// Records updated by upserts, every object type.
    pub records_updated: u64,
    /// Unique values for which more than one record was created (should stay empty).
    pub duplicate_creates: Vec<DuplicateCreate>,
    /// The most recent requests, oldest first (bounded).
    pub request_log: Vec<RequestLogEntry>,
}

impl StatsSnapshot {
    /// The most requests of the log that `keep` selects which arrived within any
    /// `window` (sliding: a request leaves it `window` after it arrived), as HubSpot
    /// counts a rate limit: to check that a client kept to one. The log holds the
    /// latest 1,024 requests.
    pub fn most_arrived_within(
        &self,
        window: std::time::Duration,
        keep: impl Fn(&RequestLogEntry) -> bool,
    ) -> usize {
        let mut at: Vec<DateTime<Utc>> = self
            .request_log
            .iter()
            .filter(|e| keep(e))
            .filter_map(|e| e.arrived)
            .collect();
        at.sort_unstable();
        let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
        let (mut best, mut j) = (0, 0);
        for i in 0..at.len() {
            while at[i] - at[j] >= window {
                j += 1;
            }
            best = best.max(i - j + 1);
        }
        best
    }

    /// Responses sent with this status.
    pub fn responses(&self, status: u16) -> u64 {
        self.responses_by_status.get(&status).copied().unwrap_or(0)
    }

    /// Responses with a 2xx status.
    pub fn successes(&self) -> u64 {
        self.responses_by_status
            .range(200..300)
            .map(|(_, n)| n)
            .sum()
    }

    /// 429s sent by the limiter for this policy.
    pub fn rate_limited_by(&self, policy: Policy) -> u64 {
        self.rate_limited.get(&policy).copied().unwrap_or(0)
    }

    /// Faults of this kind injected.
    pub fn fault_count(&self, kind: FaultKind) -> u64 {
        self.faults.get(&kind).copied().unwrap_or(0)
    }

    /// Faults injected in all.
    pub fn total_faults(&self) -> u64 {
        self.faults.values().sum()
    }
}

/// What one request produced, for the counters and the log.
#[derive(Clone, Debug, Default)]
pub(crate) struct Outcome {
    pub arrived: Option<DateTime<Utc>>,
    pub api_version: String,
    pub object_type: String,
    pub status: Option<u16>,
    pub inputs: usize,
    pub policy: Option<Policy>,
    pub limiter_429: bool,
    pub fault: Option<FaultKind>,
    pub html: bool,
    pub partial_write: bool,
    pub created: usize,
    pub updated: usize,
    pub errors: usize,
}

#[derive(Default)]
struct Inner {
    by_status: BTreeMap<u16, u64>,
    rate_limited: BTreeMap<Policy, u64>,
    faults: BTreeMap<FaultKind, u64>,
    html_error_bodies: u64,
    connections_dropped: u64,
    inputs: u64,
    input_errors: u64,
    log: VecDeque<RequestLogEntry>,
}

/// A request being handled (see [`Stats::handling`]).
pub(crate) struct Handling<'a>(&'a Stats);

impl Drop for Handling<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(crate) struct Stats {
    requests: AtomicU64,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
    capacity: usize,
    inner: Mutex<Inner>,
}

impl Stats {
    pub fn new(capacity: usize) -> Self {
        Self {
            requests: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            peak_in_flight: AtomicU64::new(0),
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Counts a request being handled until the guard is dropped.
    pub fn handling(&self) -> Handling<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::Relaxed);
        Handling(self)
    }

    /// Counts an arriving request; returns its sequence number.
    pub fn begin(&self) -> u64 {
        self.requests.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn record(&self, seq: u64, o: Outcome) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match o.status {
            Some(s) => *g.by_status.entry(s).or_default() += 1,
            None => g.connections_dropped += 1,
        }
        if o.limiter_429
            && let Some(p) = o.policy
        {
            *g.rate_limited.entry(p).or_default() += 1;
        }
        if let Some(f) = o.fault {
            *g.faults.entry(f).or_default() += 1;
        }
        if o.partial_write {
            *g.faults
                .entry(FaultKind::PartialWriteOnBatchError)
                .or_default() += 1;
        }
        if o.html {
            g.html_error_bodies += 1;
        }
        g.inputs += o.inputs as u64;
        g.input_errors += o.errors as u64;
        if self.capacity > 0 {
            if g.log.len() >= self.capacity {
                g.log.pop_front();
            }
            g.log.push_back(RequestLogEntry {
                seq,
                at: Utc::now(),
                arrived: o.arrived,
                api_version: o.api_version,
                object_type: o.object_type,
                status: o.status,
                inputs: o.inputs,
                policy: o.policy,
                fault: o.fault.or(o
                    .partial_write
                    .then_some(FaultKind::PartialWriteOnBatchError)),
                created: o.created,
                updated: o.updated,
                errors: o.errors,
            });
        }
    }

    pub fn reset(&self) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *g = Inner::default();
        self.requests.store(0, Ordering::Relaxed);
        self.peak_in_flight
            .store(self.in_flight.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Everything but the store-side counters, which the caller fills in.
    pub fn snapshot(&self) -> StatsSnapshot {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        StatsSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            peak_in_flight: self.peak_in_flight.load(Ordering::Relaxed),
            responses_by_status: g.by_status.clone(),
            rate_limited: g.rate_limited.clone(),
            faults: g.faults.clone(),
            html_error_bodies: g.html_error_bodies,
            connections_dropped: g.connections_dropped,
            inputs: g.inputs,
            input_errors: g.input_errors,
            records_created: 0,
            records_updated: 0,
            duplicate_creates: Vec::new(),
            request_log: g.log.iter().cloned().collect(),
        }
    }
}
