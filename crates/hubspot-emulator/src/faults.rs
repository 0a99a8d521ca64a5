//! Seeded, reproducible fault injection.

use std::fmt;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// A kind of fault the emulator can inject. Names (snake_case) are used in stats, the
/// admin routes and the CLI's `--fault KIND=PROBABILITY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 429 `TEN_SECONDLY_ROLLING` with `Retry-After: 1`; nothing written.
    #[serde(rename = "rate_limit_429")]
    RateLimit429,
    /// 429 `TEN_SECONDLY_ROLLING` without `Retry-After`; nothing written.
    #[serde(rename = "rate_limit_429_no_retry_after")]
    RateLimit429NoRetryAfter,
    /// 500 (JSON or HTML body); nothing written.
    #[serde(rename = "http_500")]
    Http500,
    /// 502 (JSON or HTML body); nothing written.
    #[serde(rename = "http_502")]
    Http502,
    /// 503 (JSON or HTML body); nothing written.
    #[serde(rename = "http_503")]
    Http503,
    /// 504 (JSON or HTML body); nothing written.
    #[serde(rename = "http_504")]
    Http504,
    /// The connection is closed without any response; nothing written.
    CloseBeforeResponse,
    /// The batch is written, then the connection is closed without any response.
    CloseAfterWrite,
    /// The batch is written and the response held back for the configured delay.
    DelayedResponse,
    /// Whole-batch 409 `CONFLICT`; nothing written.
    #[serde(rename = "conflict_409")]
    Conflict409,
    /// The batch is written; the 200/207 body is cut in half (valid HTTP, invalid JSON).
    TruncatedBody,
    /// The batch is written; a 200 answer is sent as 201 with the same body.
    #[serde(rename = "unexpected_201")]
    Unexpected201,
    /// A batch refused as a whole (per-input errors, no distinct trace ids) had its
    /// valid inputs before the first failing one written anyway.
    PartialWriteOnBatchError,
}

impl FaultKind {
    /// Every kind, in a fixed order.
    pub const ALL: [FaultKind; 13] = [
        FaultKind::RateLimit429,
        FaultKind::RateLimit429NoRetryAfter,
        FaultKind::Http500,
        FaultKind::Http502,
        FaultKind::Http503,
        FaultKind::Http504,
        FaultKind::CloseBeforeResponse,
        FaultKind::CloseAfterWrite,
        FaultKind::DelayedResponse,
        FaultKind::Conflict409,
        FaultKind::TruncatedBody,
        FaultKind::Unexpected201,
        FaultKind::PartialWriteOnBatchError,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::RateLimit429 => "rate_limit_429",
            FaultKind::RateLimit429NoRetryAfter => "rate_limit_429_no_retry_after",
            FaultKind::Http500 => "http_500",
            FaultKind::Http502 => "http_502",
            FaultKind::Http503 => "http_503",
            FaultKind::Http504 => "http_504",
            FaultKind::CloseBeforeResponse => "close_before_response",
            FaultKind::CloseAfterWrite => "close_after_write",
            FaultKind::DelayedResponse => "delayed_response",
            FaultKind::Conflict409 => "conflict_409",
            FaultKind::TruncatedBody => "truncated_body",
            FaultKind::Unexpected201 => "unexpected_201",
            FaultKind::PartialWriteOnBatchError => "partial_write_on_batch_error",
        }
    }

    /// Parses a snake_case name (also accepts `http_500`-style and `rate_limit_429`).
    pub fn parse(name: &str) -> Option<FaultKind> {
        let squashed: String = name
            .chars()
            .filter(|c| *c != '_' && *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        FaultKind::ALL
            .into_iter()
            .find(|k| k.as_str().replace('_', "") == squashed)
    }

    /// The HTTP status of a 5xx kind.
    pub(crate) fn server_error_status(self) -> Option<u16> {
        match self {
            FaultKind::Http500 => Some(500),
            FaultKind::Http502 => Some(502),
            FaultKind::Http503 => Some(503),
            FaultKind::Http504 => Some(504),
            _ => None,
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Fault probabilities (each in `0.0..=1.0`, drawn once per admitted request from a
/// ChaCha8 RNG seeded with `seed`) and the parameters of some faults.
///
/// Per request, at most one of the request-level faults fires: the probabilities of
/// all kinds except [`FaultKind::PartialWriteOnBatchError`] must add up to at most 1.
/// A fixed seed and the same sequence of requests give the same faults.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultConfig {
    /// RNG seed.
    pub seed: u64,
    /// 429 `TEN_SECONDLY_ROLLING` with `Retry-After`.
    pub rate_limit_429: f64,
    /// 429 `TEN_SECONDLY_ROLLING` without `Retry-After`.
    pub rate_limit_429_no_retry_after: f64,
    /// 500 Internal Server Error.
    pub http_500: f64,
    /// 502 Bad Gateway.
    pub http_502: f64,
    /// 503 Service Unavailable.
    pub http_503: f64,
    /// 504 Gateway Timeout.
    pub http_504: f64,
    /// Share of injected 5xx answers whose body is HTML (`text/html`) instead of JSON.
    pub html_error_body: f64,
    /// Connection closed before responding (nothing written).
    pub close_before_response: f64,
    /// Batch written, then the connection closed before the response.
    pub close_after_write: f64,
    /// Batch written, response held back for `response_delay`.
    pub delayed_response: f64,
    /// How long a delayed response is held back.
    pub response_delay: Duration,
    /// Whole-batch 409 (nothing written).
    pub conflict_409: f64,
    /// Batch written, body truncated to half its length (invalid JSON).
    pub truncated_body: f64,
    /// Batch written, 200 sent as 201.
    pub unexpected_201: f64,
    /// Share of batches refused as a whole for per-input errors whose valid inputs
    /// before the first failing one are written anyway (HubSpot batches are not atomic).
    pub partial_write_on_batch_error: f64,
}

impl Default for FaultConfig {
    /// No faults at all.
    fn default() -> Self {
        Self {
            seed: 0,
            rate_limit_429: 0.0,
            rate_limit_429_no_retry_after: 0.0,
            http_500: 0.0,
            http_502: 0.0,
            http_503: 0.0,
            http_504: 0.0,
            html_error_body: 0.0,
            close_before_response: 0.0,
            close_after_write: 0.0,
            delayed_response: 0.0,
            response_delay: Duration::from_secs(2),
            conflict_409: 0.0,
            truncated_body: 0.0,
            unexpected_201: 0.0,
            partial_write_on_batch_error: 0.0,
        }
    }
}

impl FaultConfig {
    /// No faults, with a seed for later changes.
    pub fn none(seed: u64) -> Self {
        Self {
            seed,
            ..Self::default()
        }
    }

    /// A few percent of every kind (about 15% of requests faulted in all; a third of
    /// injected 5xx have HTML bodies; delays of 2 s; a quarter of whole-batch
    /// refusals partially written). Used by the CLI's `--faults`.
    pub fn chaos(seed: u64) -> Self {
        Self {
            seed,
            rate_limit_429: 0.02,
            rate_limit_429_no_retry_after: 0.01,
            http_500: 0.01,
            http_502: 0.02,
            http_503: 0.01,
            http_504: 0.01,
            html_error_body: 0.33,
            close_before_response: 0.01,
            close_after_write: 0.02,
            delayed_response: 0.01,
            response_delay: Duration::from_secs(2),
            conflict_409: 0.01,
            truncated_body: 0.01,
            unexpected_201: 0.01,
            partial_write_on_batch_error: 0.25,
        }
    }

    /// Returns a copy where `kind` has probability `p` (for
    /// [`FaultKind::PartialWriteOnBatchError`], the share of refused batches).
    #[must_use]
    pub fn with(mut self, kind: FaultKind, p: f64) -> Self {
        *self.probability_mut(kind) = p;
        self
    }

    /// Sets the delay used by [`FaultKind::DelayedResponse`].
    #[must_use]
    pub fn with_response_delay(mut self, delay: Duration) -> Self {
        self.response_delay = delay;
        self
    }

    /// Sets the share of injected 5xx answers with HTML bodies.
    #[must_use]
    pub fn with_html_error_body(mut self, p: f64) -> Self {
        self.html_error_body = p;
        self
    }

    /// The probability configured for `kind`.
    pub fn probability(&self, kind: FaultKind) -> f64 {
        match kind {
            FaultKind::RateLimit429 => self.rate_limit_429,
            FaultKind::RateLimit429NoRetryAfter => self.rate_limit_429_no_retry_after,
            FaultKind::Http500 => self.http_500,
            FaultKind::Http502 => self.http_502,
            FaultKind::Http503 => self.http_503,
            FaultKind::Http504 => self.http_504,
            FaultKind::CloseBeforeResponse => self.close_before_response,
            FaultKind::CloseAfterWrite => self.close_after_write,
            FaultKind::DelayedResponse => self.delayed_response,
            FaultKind::Conflict409 => self.conflict_409,
            FaultKind::TruncatedBody => self.truncated_body,
            FaultKind::Unexpected201 => self.unexpected_201,
            FaultKind::PartialWriteOnBatchError => self.partial_write_on_batch_error,
        }
    }

    fn probability_mut(&mut self, kind: FaultKind) -> &mut f64 {
        match kind {
            FaultKind::RateLimit429 => &mut self.rate_limit_429,
            FaultKind::RateLimit429NoRetryAfter => &mut self.rate_limit_429_no_retry_after,
            FaultKind::Http500 => &mut self.http_500,
            FaultKind::Http502 => &mut self.http_502,
            FaultKind::Http503 => &mut self.http_503,
            FaultKind::Http504 => &mut self.http_504,
            FaultKind::CloseBeforeResponse => &mut self.close_before_response,
            FaultKind::CloseAfterWrite => &mut self.close_after_write,
            FaultKind::DelayedResponse => &mut self.delayed_response,
            FaultKind::Conflict409 => &mut self.conflict_409,
            FaultKind::TruncatedBody => &mut self.truncated_body,
            FaultKind::Unexpected201 => &mut self.unexpected_201,
            FaultKind::PartialWriteOnBatchError => &mut self.partial_write_on_batch_error,
        }
    }

    /// Whether any fault can fire.
    pub fn is_active(&self) -> bool {
        FaultKind::ALL.iter().any(|k| self.probability(*k) > 0.0)
    }

    /// Checks that probabilities are in range and the request-level ones sum to ≤ 1.
    pub fn validate(&self) -> Result<(), String> {
        let mut sum = 0.0;
        for kind in FaultKind::ALL {
            let p = self.probability(kind);
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("fault probability {kind}={p} is not within 0..=1"));
            }
            if kind != FaultKind::PartialWriteOnBatchError {
                sum += p;
            }
        }
        if !(0.0..=1.0).contains(&self.html_error_body) {
            return Err("html_error_body must be within 0..=1".to_owned());
        }
        if sum > 1.0 + 1e-9 {
            return Err(format!(
                "request-level fault probabilities add up to {sum}, more than 1"
            ));
        }
        Ok(())
    }
}

/// What the fault engine decided for one request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FaultDecision {
    pub kind: Option<FaultKind>,
    /// For a 5xx kind: answer with an HTML body.
    pub html: bool,
    /// If the batch ends up refused as a whole: write the valid prefix anyway.
    pub partial_write: bool,
}

/// The seeded RNG and the probabilities it draws against.
pub(crate) struct FaultEngine {
    config: FaultConfig,
    rng: ChaCha8Rng,
    active: bool,
}

impl FaultEngine {
    pub fn new(config: FaultConfig) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(config.seed);
        let active = config.is_active();
        Self {
            config,
            rng,
            active,
        }
    }

    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    fn uniform(&mut self) -> f64 {
        // 53 random bits in [0, 1).
        (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Draws the decision for one admitted request. Draw order is fixed: one number for
    /// the request-level kind, one for the HTML choice (only for a 5xx kind when HTML
    /// bodies are configured), one for partial writes (only when configured).
    pub fn decide(&mut self) -> FaultDecision {
        if !self.active {
            return FaultDecision::default();
        }
        let mut decision = FaultDecision::default();
        let u = self.uniform();
        let mut acc = 0.0;
        for kind in FaultKind::ALL {
            if kind == FaultKind::PartialWriteOnBatchError {
                continue;
            }
            let p = self.config.probability(kind);
            if p <= 0.0 {
                continue;
            }
            acc += p;
            if u < acc {
                decision.kind = Some(kind);
                break;
            }
        }
        if decision
            .kind
            .and_then(FaultKind::server_error_status)
            .is_some()
            && self.config.html_error_body > 0.0
        {
            decision.html = self.uniform() < self.config.html_error_body;
        }
        if self.config.partial_write_on_batch_error > 0.0 {
            decision.partial_write = self.uniform() < self.config.partial_write_on_batch_error;
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn same_seed_same_decisions() {
        let mut a = FaultEngine::new(FaultConfig::chaos(42));
        let mut b = FaultEngine::new(FaultConfig::chaos(42));
        let da: Vec<_> = (0..500).map(|_| a.decide()).collect();
        let db: Vec<_> = (0..500).map(|_| b.decide()).collect();
        assert_eq!(da, db);
        assert!(da.iter().any(|d| d.kind.is_some()));
        let mut c = FaultEngine::new(FaultConfig::chaos(43));
        let dc: Vec<_> = (0..500).map(|_| c.decide()).collect();
        assert_ne!(da, dc);
    }

    #[test]
    fn probability_one_always_fires() {
        let mut e = FaultEngine::new(FaultConfig::none(1).with(FaultKind::Http503, 1.0));
        for _ in 0..100 {
            assert_eq!(e.decide().kind, Some(FaultKind::Http503));
        }
    }

    #[test]
    fn rates_roughly_match() {
        let mut e = FaultEngine::new(FaultConfig::none(9).with(FaultKind::Http500, 0.25));
        let n = (0..20_000)
            .filter(|_| e.decide().kind == Some(FaultKind::Http500))
            .count();
        assert!((4_500..5_500).contains(&n), "{n}");
    }

    #[test]
    fn validation_and_names() {
        assert!(FaultConfig::chaos(0).validate().is_ok());
        assert!(
            FaultConfig::none(0)
                .with(FaultKind::Http500, 0.7)
                .with(FaultKind::Http502, 0.7)
                .validate()
                .is_err()
        );
        for kind in FaultKind::ALL {
            assert_eq!(FaultKind::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert_eq!(FaultKind::parse("http_500"), Some(FaultKind::Http500));
        assert_eq!(
            FaultKind::parse("rate_limit_429"),
            Some(FaultKind::RateLimit429)
        );
        assert_eq!(FaultKind::parse("nope"), None);
    }
}
