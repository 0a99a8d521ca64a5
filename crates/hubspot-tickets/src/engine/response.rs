//! Judging one raw answer of the batch upsert endpoint: the facade's classification,
//! public for users of the raw generated client (and for the fuzz target).

use hubspot_tickets_client::types::TicketUpsertBatchResult;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::engine::transport::retry_after;
use crate::error::{Error, ErrorKind};
use crate::secret::{AccessToken, without_credentials};

/// Longest message (in characters) the facade keeps from an answer; longer ones are
/// cut with `…`. An answer can be any size; one message is copied into the outcome of
/// every record of its batch, and from there into reports.
pub(crate) const MAX_MESSAGE_CHARS: usize = 16_384;
/// Longest category, policy name or correlation id kept from an answer.
const MAX_FIELD_CHARS: usize = 200;
/// How much of a non-JSON body is searched for a `<title>` or text to quote.
const SNIPPET_SCAN_BYTES: usize = 64 * 1024;

/// Judges one raw answer of `POST /crm/v3/objects/tickets/batch/upsert` exactly as
/// the facade does, for callers of the raw generated client ([`Client::generated`]).
///
/// * A 2xx (200, 207, or any other 2xx) whose body is a batch result: `Ok`, with the
///   per-input `errors` of a 207 left in the result for you to read.
/// * A 2xx whose body is not a batch result (cut short, HTML, wrong types):
///   [`ErrorKind::Decode`]. The records may or may not have been written; the facade
///   sends such a batch again (upserts are idempotent).
/// * Anything else: an [`Error`] whose [`kind`](Error::kind) follows the status
///   (`400` validation, or configuration when it refuses the `idProperty` itself and
///   names no input; `401` auth, `409` conflict, `429` rate limited: `DAILY` when
///   the body's `policyName` says so, `5xx` server...), with HubSpot's message,
///   category, correlation id, policy name and `Retry-After` when the answer has them.
///   Error bodies are read leniently: any field may be missing or of another type, and
///   HTML or empty bodies are quoted briefly instead.
///
/// It never panics, whatever the status, headers and body. Use
/// [`Error::is_retryable`] and [`Error::retry_after`] to decide on a retry.
///
/// ```
/// use hubspot_tickets::ErrorKind;
/// use hubspot_tickets::error::classify_response;
/// use reqwest::{StatusCode, header::HeaderMap};
///
/// let body = br#"{"status":"error","message":"You have reached your daily limit.",
///                 "errorType":"RATE_LIMIT","policyName":"DAILY"}"#;
/// let err = classify_response(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), body)
///     .unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::RateLimitedDaily);
/// assert!(err.is_retryable()); // tomorrow: the facade never retries it within a run
/// ```
///
/// [`Client::generated`]: crate::Client::generated
///
/// # Errors
/// As above: every answer that is not a 2xx batch result.
pub fn classify_response(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<TicketUpsertBatchResult, Error> {
    if status.is_success() {
        serde_json::from_slice::<TicketUpsertBatchResult>(body)
            .map_err(|e| undecodable(Some(status), body, &e, None))
    } else {
        Err(classify_error(status, headers, body, None))
    }
}

/// The error for a 2xx answer whose body is not a batch result.
pub(crate) fn undecodable(
    status: Option<StatusCode>,
    body: &[u8],
    error: &serde_json::Error,
    token: Option<&AccessToken>,
) -> Error {
    let shown = status.map_or_else(|| "2xx".to_owned(), |s| s.as_u16().to_string());
    let message = format!(
        "HTTP {shown} answer is not a batch result ({error}); the records may have been written: {}",
        snippet_of(body)
    );
    let err = Error::new(ErrorKind::Decode, scrub(token, bounded(message)));
    match status {
        Some(s) => err.with_status(s.as_u16()),
        None => err,
    }
}

/// The fields the facade reads from an error body, each taken only when it has the
/// expected JSON type (HubSpot says every error field may be missing).
#[derive(Default)]
struct ErrorBody {
    message: Option<String>,
    category: Option<String>,
    error_type: Option<String>,
    policy_name: Option<String>,
    correlation_id: Option<String>,
    named: Vec<String>,
    /// The context names the `idProperty` (HubSpot refusing the property itself).
    names_id_property: bool,
    /// The refused property's name, from the context or the message.
    refused_id_property: Option<String>,
}

impl ErrorBody {
    /// A refusal of the run's configuration rather than of its inputs (a 400 whose
    /// category, when given, is `VALIDATION_ERROR`): the error names no input, and
    /// either its context names the `idProperty`, or its message is HubSpot's refusal
    /// of an unknown or non-unique `idProperty` ("Unable to perform update/upsert by
    /// non-unique 0-3 property dealname", quoted live) or of an object type ("Unable to
    /// infer object type from: ..."). Messages are HubSpot's least stable part: a
    /// refusal in words not known here is caught by the engine instead (every part of
    /// a batch refused alike, see `engine::batch`).
    fn refuses_configuration(&self) -> bool {
        if !self.named.is_empty()
            || self
                .category
                .as_deref()
                .is_some_and(|c| !c.eq_ignore_ascii_case("VALIDATION_ERROR"))
        {
            return false;
        }
        let message = self.message.as_deref().unwrap_or("").to_ascii_lowercase();
        self.names_id_property
            || (message.contains("non-unique") && message.contains("property"))
            || message.contains("unable to infer object type")
    }
}

fn read_error_body(body: &[u8]) -> Option<ErrorBody> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let obj = value.as_object()?;
    let text = |key: &str| obj.get(key).and_then(Value::as_str).map(str::to_owned);
    let mut named = Vec::new();
    if let Some(context) = obj.get("context").and_then(Value::as_object) {
        for key in ["ids", "id", "objectWriteTraceId", "objectWriteTraceIds"] {
            match context.get(key) {
                Some(Value::Array(items)) => named.extend(
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .take(10_000)
                        .map(str::to_owned),
                ),
                Some(Value::String(s)) => named.push(s.clone()),
                _ => {}
            }
        }
    }
    let context_property = obj
        .get("context")
        .and_then(Value::as_object)
        .and_then(|c| c.get("idProperty"));
    let names_id_property = context_property.is_some();
    let message = text("message");
    let refused_id_property = context_property
        .and_then(|v| match v {
            Value::Array(items) => items.first().and_then(Value::as_str),
            Value::String(s) => Some(s.as_str()),
            _ => None,
        })
        .map(str::to_owned)
        .or_else(|| message.as_deref().and_then(property_in_message));
    Some(ErrorBody {
        names_id_property,
        refused_id_property,
        message,
        category: text("category"),
        error_type: text("errorType"),
        policy_name: text("policyName"),
        correlation_id: text("correlationId"),
        named,
    })
}

/// The property a refusal's message names. HubSpot's words, quoted live: "... by
/// non-unique 0-3 property dealname" (the object type id, then `property`, then the
/// name); also read: "... non-unique property NAME" and an older "... non-unique NAME
/// property". An object type id is never taken for the name.
fn property_in_message(message: &str) -> Option<String> {
    let rest = &message[message.find("non-unique ")? + "non-unique ".len()..];
    let clean = |w: &str| {
        w.trim_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .to_owned()
    };
    let is_type_id = |w: &str| {
        w.split_once('-').is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        })
    };
    let words: Vec<&str> = rest.split_whitespace().take(3).collect();
    let name = match words.as_slice() {
        [t, p, name, ..] if is_type_id(t) && p.eq_ignore_ascii_case("property") => clean(name),
        [p, name, ..] if p.eq_ignore_ascii_case("property") => clean(name),
        [name, ..] if !is_type_id(name) => clean(name),
        _ => return None,
    };
    (!name.is_empty() && !name.eq_ignore_ascii_case("property")).then_some(name)
}

/// Turns a non-2xx answer into an [`Error`], scrubbing `token` out of every text
/// taken from the answer.
pub(crate) fn classify_error(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    token: Option<&AccessToken>,
) -> Error {
    let code = status.as_u16();
    let api = read_error_body(body);
    let field = |v: Option<String>| v.map(|s| scrub(token, cut(s, MAX_FIELD_CHARS)));
    let policy = field(api.as_ref().and_then(|a| a.policy_name.clone()));
    let kind = match code {
        400 if api.as_ref().is_some_and(ErrorBody::refuses_configuration) => {
            ErrorKind::Configuration
        }
        400 => ErrorKind::Validation,
        300..=399 => ErrorKind::Configuration,
        401 => ErrorKind::Auth,
        403 => ErrorKind::Forbidden,
        404 => ErrorKind::NotFound,
        408 => ErrorKind::Timeout,
        409 => ErrorKind::Conflict,
        423 => ErrorKind::Locked,
        477 => ErrorKind::Unavailable,
        429 if policy
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case("DAILY")) =>
        {
            ErrorKind::RateLimitedDaily
        }
        429 => ErrorKind::RateLimited,
        500..=599 => ErrorKind::Server,
        _ => ErrorKind::ClientError,
    };
    let content_type = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("no content type");
    let message = match api.as_ref().and_then(|a| a.message.clone()) {
        // Redirects are not followed (the token must not travel to another address),
        // and every request would get the same one: it is the base URL to fix.
        _ if status.is_redirection() => {
            // Read as lossy UTF-8: a Location with non-ASCII bytes is still named
            // (made printable by `cut`), not taken for a missing one.
            let to = headers
                .get(reqwest::header::LOCATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .map_or_else(
                    || "no Location given".to_owned(),
                    |l| cut(without_credentials(&l), MAX_FIELD_CHARS),
                );
            format!(
                "the base URL answered with a redirect ({to}); redirects are not followed, so that the token never travels to another address: set the base URL to the API's own address"
            )
        }
        Some(m) => m,
        None if api.is_some() => format!("HTTP {code} without a message"),
        None => format!(
            "non-JSON answer ({}): {}",
            cut(content_type.to_owned(), MAX_FIELD_CHARS),
            snippet_of(body)
        ),
    };
    let category = field(
        api.as_ref()
            .and_then(|a| a.category.clone().or_else(|| a.error_type.clone())),
    );
    let correlation_id = field(
        api.as_ref()
            .and_then(|a| a.correlation_id.clone())
            .or_else(|| {
                headers
                    .get("x-hubspot-correlation-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            }),
    );
    let retry = retry_after(headers);
    let message = match (code, retry) {
        (477, Some(ra)) => format!(
            "{message} (477 Migration in Progress: the account is moving between HubSpot's data hosts; HubSpot asks to retry after {})",
            human(ra)
        ),
        (477, None) => format!(
            "{message} (477 Migration in Progress: the account is moving between HubSpot's data hosts; retry later)"
        ),
        _ => message,
    };
    Error::new(kind, scrub(token, bounded(message)))
        .with_status(code)
        .with_category(category)
        .with_correlation_id(correlation_id)
        .with_policy(policy)
        .with_retry_after(retry)
        .with_refused_id_property(
            api.as_ref()
                .and_then(|a| a.refused_id_property.clone())
                .map(|p| scrub(token, cut(p, MAX_FIELD_CHARS))),
        )
        .with_named(
            api.map(|a| a.named)
                .unwrap_or_default()
                .into_iter()
                .map(|n| scrub(token, n))
                .collect(),
        )
}

/// A duration as a person reads it: `45 s`, `12 min`, `3.5 h`.
pub(crate) fn human(d: std::time::Duration) -> String {
    let s = d.as_secs_f64();
    if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

fn scrub(token: Option<&AccessToken>, text: String) -> String {
    match token {
        Some(t) => t.scrub(text),
        None => text,
    }
}

/// `s` cut to `max` characters (with `…` when cut).
///
/// Every text taken from an answer passes here: control characters (a terminal's
/// escape sequences, line breaks) and bidirectional overrides are escaped (`\u{1b}`),
/// so HubSpot's or a proxy's words can never clear a screen, retitle a terminal or
/// forge a log line wherever the message is printed.
fn cut(s: String, max: usize) -> String {
    let s = printable(s);
    match crate::records::values::truncate(&s, max) {
        kept if kept.len() < s.len() => format!("{kept}…"),
        _ => s,
    }
}

/// `s` with control characters and bidirectional overrides escaped.
pub(crate) fn printable(s: String) -> String {
    let unsafe_char =
        |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !s.chars().any(unsafe_char) {
        return s;
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A message cut to [`MAX_MESSAGE_CHARS`] (and made printable, see `cut`).
pub(crate) fn bounded(s: String) -> String {
    cut(s, MAX_MESSAGE_CHARS)
}

/// A short, single-line view of a non-JSON body (its HTML `<title>` if any).
pub(crate) fn snippet_of(body: &[u8]) -> String {
    let body = body.get(..SNIPPET_SCAN_BYTES).unwrap_or(body);
    let text = String::from_utf8_lossy(body);
    let lower = text.to_ascii_lowercase();
    let inner = match (lower.find("<title>"), lower.find("</title>")) {
        (Some(a), Some(b)) if b > a + 7 => text.get(a + 7..b).unwrap_or("").to_owned(),
        _ => {
            let mut out = String::with_capacity(text.len().min(512));
            let mut in_tag = false;
            for ch in text.chars() {
                match ch {
                    '<' => in_tag = true,
                    '>' => {
                        in_tag = false;
                        out.push(' ');
                    }
                    _ if !in_tag => out.push(ch),
                    _ => {}
                }
                if out.len() > 400 {
                    break;
                }
            }
            out
        }
    };
    let mut s: String = inner.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.is_empty() {
        s = "(empty body)".to_owned();
    }
    cut(s, 200)
}

#[cfg(test)]
mod tests {
    use super::property_in_message;

    #[test]
    fn server_text_never_reaches_a_terminal_raw() {
        let text = "\u{1b}]0;pwned\u{7}\u{1b}[2Jok\nline\u{202e}txt";
        let shown = super::bounded(text.to_owned());
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert_eq!(
            shown,
            "\\u{1b}]0;pwned\\u{7}\\u{1b}[2Jok\\nline\\u{202e}txt"
        );
        assert_eq!(super::bounded("plain".to_owned()), "plain");
    }

    #[test]
    fn the_refused_property_is_read_from_hubspots_words_never_the_object_type_id() {
        for (message, name) in [
            (
                "Unable to perform update/upsert by non-unique 0-3 property dealname",
                Some("dealname"),
            ),
            (
                "Unable to perform update/upsert by non-unique 0-1 property email",
                Some("email"),
            ),
            (
                "Unable to perform update/upsert by non-unique 2-4567 property vin.",
                Some("vin"),
            ),
            (
                "Unable to perform update/upsert by non-unique property domain",
                Some("domain"),
            ),
            (
                "Unable to perform update/upsert by non-unique subject property",
                Some("subject"),
            ),
            ("Unable to perform update/upsert by non-unique 0-3", None),
            (
                "Unable to perform update/upsert by non-unique property",
                None,
            ),
            ("no such words", None),
        ] {
            assert_eq!(property_in_message(message).as_deref(), name, "{message}");
        }
    }
}
