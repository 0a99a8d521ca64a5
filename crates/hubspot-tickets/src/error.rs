//! The one error type, the per-record failure reason, and the judge of HubSpot's
//! answers the facade uses ([`classify_response`]).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::engine::response::classify_response;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong, in the terms a caller acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// 401: the token is missing, malformed, expired or revoked. Not retried.
    Auth,
    /// 403: the token lacks the object type's write scope (`tickets`,
    /// `crm.objects.contacts.write`...) or the portal forbids the call. Not retried.
    Forbidden,
    /// 404: the endpoint does not exist (wrong base URL, or an API version HubSpot does
    /// not serve). Not retried.
    NotFound,
    /// 400: HubSpot refused the request or the record as invalid. Not retried.
    Validation,
    /// 409: the write conflicts with existing data (e.g. a unique value). Not retried.
    Conflict,
    /// 429 for the rolling window (`TEN_SECONDLY_ROLLING`), still refused after the
    /// configured number of waits. Retryable later.
    RateLimited,
    /// 423 Locked: HubSpot locked the object type after many upserts in a short period
    /// (for about 2 s); nothing is wrong with the records. Waited out and retried; this
    /// kind is reported only when the lock outlasted the configured waits.
    Locked,
    /// 429 for the account's daily quota (`DAILY`). Never retried: it resets at
    /// midnight in the account's time zone.
    RateLimitedDaily,
    /// Any other 4xx. Not retried.
    ClientError,
    /// 5xx (HubSpot failed or was overloaded), after the configured retries.
    Server,
    /// An attempt took longer than the per-attempt timeout (or HTTP 408), after retries.
    Timeout,
    /// The connection failed or broke (DNS, TCP, TLS, reset), after retries.
    Transport,
    /// A 2xx answer whose body is not the documented shape.
    Decode,
    /// The caller's input cannot be sent (empty id, NaN, nested object, over 100 inputs...).
    InvalidInput,
    /// The client is misconfigured (no token, refused base URL...), HubSpot refused its
    /// configuration as a whole (a 400 for an `idProperty` that does not exist or is not
    /// unique), or the base URL answered with a redirect (3xx: redirects are not
    /// followed, so the token never travels elsewhere). Not retried; it stops a run.
    Configuration,
    /// The caller cancelled the operation.
    Cancelled,
    /// The whole-operation deadline passed.
    DeadlineExceeded,
    /// HubSpot cannot take writes for this account now: 477 Migration in Progress (the
    /// account is moving between HubSpot's data hosts; its `Retry-After` can be a day).
    /// Not retried within a run: it stops the run, and everything not sent is not
    /// attempted. Retryable later.
    Unavailable,
    /// The run's journal could not be written (a full disk, a closed pipe): the run
    /// stopped at the first failed write, since what it went on to write could not be
    /// resumed from.
    Journal,
}

impl ErrorKind {
    /// Whether sending the same records again later may succeed without changing
    /// anything: the failure was transient (rolling-window 429, 5xx, timeout,
    /// connection), the daily limit was reached (it resets at midnight in the account's
    /// time zone), or the run stopped before judging them (cancelled, deadline). The
    /// facade's own retries within a run are narrower: see
    /// [`RetryPolicy`](crate::RetryPolicy).
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::RateLimited
                | Self::Locked
                | Self::RateLimitedDaily
                | Self::Server
                | Self::Timeout
                | Self::Transport
                | Self::Cancelled
                | Self::DeadlineExceeded
                | Self::Journal
                | Self::Unavailable
        )
    }

    /// The kind's name: the same `snake_case` word in `Display`, serde and the CLI's
    /// reports (`auth`, `rate_limited_daily`, `invalid_input`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Validation => "validation",
            Self::Conflict => "conflict",
            Self::RateLimited => "rate_limited",
            Self::Locked => "locked",
            Self::RateLimitedDaily => "rate_limited_daily",
            Self::ClientError => "client_error",
            Self::Server => "server",
            Self::Timeout => "timeout",
            Self::Transport => "transport",
            Self::Decode => "decode",
            Self::InvalidInput => "invalid_input",
            Self::Configuration => "configuration",
            Self::Cancelled => "cancelled",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::Journal => "journal",
            Self::Unavailable => "unavailable",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Auth => "HubSpot refused the credentials (the access token, or an OAuth refresh)",
            Self::Forbidden => {
                "HubSpot refused access (does the token have the object type's write scope?)"
            }
            Self::NotFound => {
                "HubSpot answered not found (check the base URL, API version and object type)"
            }
            Self::Validation => "HubSpot rejected the input as invalid",
            Self::Conflict => "HubSpot reported a conflict",
            Self::RateLimited => "HubSpot's rolling rate limit was still exceeded after waiting",
            Self::Locked => {
                "HubSpot kept the object type locked (423: too many upserts in a short period) after waiting"
            }
            Self::RateLimitedDaily => "HubSpot's daily request limit is used up",
            Self::ClientError => "HubSpot refused the request",
            Self::Server => "HubSpot failed to process the request",
            Self::Timeout => "the request timed out",
            Self::Transport => "the connection to HubSpot failed",
            Self::Decode => "HubSpot's answer could not be decoded",
            Self::InvalidInput => "the input is invalid",
            Self::Configuration => "the client is misconfigured",
            Self::Cancelled => "the operation was cancelled",
            Self::DeadlineExceeded => "the operation's deadline passed",
            Self::Journal => "the run's journal could not be written",
            Self::Unavailable => "HubSpot cannot take writes for this account now",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ErrorKind {
    type Err = UnknownErrorKind;

    /// Reads the name [`ErrorKind::as_str`] gives (from a report, say).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use serde::de::IntoDeserializer;
        let name: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
            s.into_deserializer();
        Self::deserialize(name).map_err(|_| UnknownErrorKind)
    }
}

/// A name that is not an [`ErrorKind`]'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not an error kind")]
#[non_exhaustive]
pub struct UnknownErrorKind;

/// The facade's error: a kind to branch on, plus what HubSpot said.
///
/// `Display` is one sentence, e.g. `HubSpot rejected the input as invalid (HTTP 400,
/// VALIDATION_ERROR): Property "colour" does not exist (correlation id 6c0b…)`. It
/// does not repeat its [`source`](std::error::Error::source) (a connection error's
/// cause, say): print the chain (`{:#}` with `anyhow`) to see it. Neither `Display`
/// nor `Debug` ever contains the access token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub struct Error {
    kind: ErrorKind,
    status: Option<u16>,
    message: String,
    details: Box<Details>,
    #[source]
    source: Option<BoxError>,
}

#[derive(Debug, Default)]
struct Details {
    /// The request never left (the connection could not be made): nothing was written.
    not_sent: bool,
    category: Option<String>,
    correlation_id: Option<String>,
    policy_name: Option<String>,
    retry_after: Option<Duration>,
    /// Input ids or trace ids that HubSpot's error context names.
    named: Vec<String>,
    /// The `idProperty` a configuration refusal names.
    refused_id_property: Option<String>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_sentence(
            f,
            self.kind,
            self.status,
            self.details.category.as_deref(),
            &self.message,
            self.details.correlation_id.as_deref(),
        )
    }
}

fn write_sentence(
    f: &mut fmt::Formatter<'_>,
    kind: ErrorKind,
    status: Option<u16>,
    category: Option<&str>,
    message: &str,
    correlation_id: Option<&str>,
) -> fmt::Result {
    match status {
        // A 2xx that refuses a record (207 on v3, 200 on 2026-09) is not a refused
        // request: say what it is, one record refused in an answer that took the rest.
        Some(s @ 200..=299) => write!(
            f,
            "HubSpot refused this record in an HTTP {s} answer carrying per-record errors"
        )?,
        _ => f.write_str(kind.describe())?,
    }
    match (status.filter(|s| !(200..=299).contains(s)), category) {
        (Some(s), Some(c)) => write!(f, " (HTTP {s}, {c})")?,
        (Some(s), None) => write!(f, " (HTTP {s})")?,
        (None, Some(c)) => write!(f, " ({c})")?,
        (None, None) => {}
    }
    let message = message.trim().trim_end_matches('.');
    if !message.is_empty() {
        write!(f, ": {message}")?;
    }
    if let Some(id) = correlation_id {
        write!(f, " (correlation id {id})")?;
    }
    Ok(())
}

impl Error {
    /// A failure with no HubSpot answer behind it: a local reason.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            status: None,
            message: message.into(),
            details: Box::default(),
            source: None,
        }
    }

    pub(crate) fn configuration(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Configuration, message)
    }

    pub(crate) fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    pub(crate) fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// Adds what the client concluded from the answer to its message.
    pub(crate) fn with_note(mut self, note: &str) -> Self {
        self.message.push_str(" (");
        self.message.push_str(note);
        self.message.push(')');
        self
    }

    pub(crate) fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub(crate) fn with_category(mut self, category: Option<String>) -> Self {
        self.details.category = category;
        self
    }

    pub(crate) fn with_correlation_id(mut self, id: Option<String>) -> Self {
        self.details.correlation_id = id;
        self
    }

    pub(crate) fn with_policy(mut self, policy: Option<String>) -> Self {
        self.details.policy_name = policy;
        self
    }

    pub(crate) fn with_retry_after(mut self, d: Option<Duration>) -> Self {
        self.details.retry_after = d;
        self
    }

    pub(crate) fn with_refused_id_property(mut self, property: Option<String>) -> Self {
        self.details.refused_id_property = property;
        self
    }

    /// The `idProperty` HubSpot refused as a whole (unknown, or not unique), when it
    /// named it.
    pub(crate) fn refused_id_property(&self) -> Option<&str> {
        self.details.refused_id_property.as_deref()
    }

    pub(crate) fn with_named(mut self, named: Vec<String>) -> Self {
        self.details.named = named;
        self
    }

    /// Positions in `inputs` that HubSpot's error context names: by id, or else by a
    /// trace id that only one input carries. Empty when it names none of them.
    pub(crate) fn named_among(
        &self,
        inputs: &[hubspot_tickets_client::types::TicketUpsertInput],
    ) -> Vec<usize> {
        let named = &self.details.named;
        if named.is_empty() {
            return Vec::new();
        }
        let by_id: Vec<usize> = (0..inputs.len())
            .filter(|&k| named.iter().any(|n| *n == inputs[k].id))
            .collect();
        if !by_id.is_empty() {
            return by_id;
        }
        (0..inputs.len())
            .filter(|&k| {
                inputs[k].object_write_trace_id.as_deref().is_some_and(|t| {
                    named.iter().any(|n| n == t)
                        && inputs
                            .iter()
                            .filter(|i| i.object_write_trace_id.as_deref() == Some(t))
                            .count()
                            == 1
                })
            })
            .collect()
    }

    /// Marks an attempt whose request never left (no connection): nothing was written.
    pub(crate) fn not_sent(mut self) -> Self {
        self.details.not_sent = true;
        self
    }

    /// Whether the request never left (see [`not_sent`](Self::not_sent)).
    pub(crate) fn was_not_sent(&self) -> bool {
        self.details.not_sent
    }

    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The HTTP status of HubSpot's answer, when there was one.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// HubSpot's `category` (`VALIDATION_ERROR`, `CONFLICT`, `RATE_LIMITS`...), or the
    /// 429 body's `errorType` when there is no category.
    pub fn category(&self) -> Option<&str> {
        self.details.category.as_deref()
    }

    /// HubSpot's message, or a description of the local failure.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// HubSpot's `correlationId`, to quote to HubSpot support.
    pub fn correlation_id(&self) -> Option<&str> {
        self.details.correlation_id.as_deref()
    }

    /// On a 429, the limit that was hit (`TEN_SECONDLY_ROLLING`, `DAILY`...).
    pub fn policy_name(&self) -> Option<&str> {
        self.details.policy_name.as_deref()
    }

    /// HubSpot's `Retry-After`, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        self.details.retry_after
    }

    /// Whether sending the same request again later may succeed (see
    /// [`ErrorKind::is_retryable`]). Upserts are idempotent, so a retry cannot
    /// duplicate a ticket.
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }

    /// The per-record reason equivalent to this error. A record's reason has no
    /// source, so its message ends with the causes' text.
    pub fn to_failure(&self) -> Failure {
        let mut message = self.message.clone();
        let mut cause = self
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static));
        while let Some(c) = cause {
            let text = c.to_string();
            // Errors often quote their cause; each text is kept once.
            if !text.is_empty() && !message.contains(&text) {
                if !message.is_empty() {
                    message.push_str(": ");
                }
                message.push_str(&text);
            }
            cause = c.source();
        }
        Failure {
            kind: self.kind,
            status: self.status,
            category: self.details.category.clone(),
            message,
            correlation_id: self.details.correlation_id.clone(),
        }
    }
}

/// Why one record was not written: the reason in [`Outcome::Failed`] and
/// [`Outcome::NotAttempted`](crate::Outcome::NotAttempted).
///
/// Shared behind an `Arc` by every record it applies to (a daily-limit stop marks
/// thousands of records with one reason).
///
/// [`Outcome::Failed`]: crate::Outcome::Failed
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Failure {
    /// What went wrong.
    pub kind: ErrorKind,
    /// HTTP status of HubSpot's answer, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// HubSpot's category (`VALIDATION_ERROR`...), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// HubSpot's message, or a description of the local reason.
    pub message: String,
    /// HubSpot's correlation id, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

impl Failure {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            status: None,
            category: None,
            message: message.into(),
            correlation_id: None,
        }
    }

    /// Whether sending the record again later may succeed (see
    /// [`ErrorKind::is_retryable`]).
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_sentence(
            f,
            self.kind,
            self.status,
            self.category.as_deref(),
            &self.message,
            self.correlation_id.as_deref(),
        )
    }
}

impl From<&Error> for Failure {
    fn from(e: &Error) -> Self {
        e.to_failure()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_sentence() {
        let e = Error::new(ErrorKind::Validation, "Property \"x\" does not exist.")
            .with_status(400)
            .with_category(Some("VALIDATION_ERROR".into()))
            .with_correlation_id(Some("abc".into()));
        assert_eq!(
            e.to_string(),
            "HubSpot rejected the input as invalid (HTTP 400, VALIDATION_ERROR): Property \"x\" does not exist (correlation id abc)"
        );
        assert!(!e.is_retryable());
        // One record refused inside a 2xx (2026-09's 200) is worded as that.
        let one = Error::new(ErrorKind::Validation, "bad value")
            .with_status(200)
            .with_category(Some("VALIDATION_ERROR".into()));
        assert_eq!(
            one.to_string(),
            "HubSpot refused this record in an HTTP 200 answer carrying per-record errors (VALIDATION_ERROR): bad value"
        );
        assert!(Error::new(ErrorKind::Server, "").is_retryable());
        assert_eq!(
            Error::new(ErrorKind::Timeout, "").to_string(),
            "the request timed out"
        );
    }

    #[test]
    fn display_leaves_the_source_to_the_chain_and_the_failure_keeps_it() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let e = Error::new(ErrorKind::Transport, "could not reach 127.0.0.1:9").with_source(io);
        assert_eq!(
            e.to_string(),
            "the connection to HubSpot failed: could not reach 127.0.0.1:9"
        );
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("connection refused"));
        assert_eq!(
            e.to_failure().message,
            "could not reach 127.0.0.1:9: connection refused"
        );
    }

    #[test]
    fn one_spelling_for_each_kind_and_one_retry_rule() {
        use ErrorKind::*;
        let all = [
            Auth,
            Forbidden,
            NotFound,
            Validation,
            Conflict,
            RateLimited,
            Locked,
            RateLimitedDaily,
            ClientError,
            Server,
            Timeout,
            Transport,
            Decode,
            InvalidInput,
            Configuration,
            Cancelled,
            DeadlineExceeded,
        ];
        for kind in all {
            let serde = serde_json::to_string(&kind).unwrap_or_default();
            assert_eq!(serde, format!("\"{kind}\""));
            assert_eq!(kind.as_str().parse::<ErrorKind>(), Ok(kind));
            let e = Error::new(kind, "x");
            assert_eq!(e.is_retryable(), kind.is_retryable());
            assert_eq!(e.to_failure().is_retryable(), kind.is_retryable());
        }
        assert!("nonsense".parse::<ErrorKind>().is_err());
        assert!(ErrorKind::RateLimitedDaily.is_retryable());
        assert!(!ErrorKind::Validation.is_retryable());
    }
}
