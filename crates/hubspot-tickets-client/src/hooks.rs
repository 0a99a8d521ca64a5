//! Per-client request headers, applied by a hook the generated client runs before every
//! request.
//!
//! This is one of the crate's hand-written files, with `lib.rs`, `values.rs` (the
//! property values echoed on each result) and `time.rs` (timestamps); only
//! `generated.rs` is generated, by `cargo xtask codegen`.
//!
//! The generator is configured (in `xtask`) so that `Client` carries a [`RequestHeaders`]
//! and runs [`apply_request_headers`] on every request before sending it. That is how the
//! bearer token reaches HubSpot even when the caller supplies its own `reqwest::Client`,
//! which cannot gain default headers once built.

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, InvalidHeaderValue};

/// Headers added to every request the generated client sends.
///
/// Values marked sensitive (the `Authorization` header set by [`RequestHeaders::bearer`])
/// are redacted by `Debug`, so printing a client never prints its token.
#[derive(Clone, Default)]
pub struct RequestHeaders {
    headers: HeaderMap,
}

impl RequestHeaders {
    /// No extra headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// `Authorization: Bearer <token>`, marked sensitive.
    pub fn bearer(token: &str) -> Result<Self, InvalidHeaderValue> {
        Self::new().with_bearer(token)
    }

    /// Adds or replaces `Authorization: Bearer <token>`, marked sensitive.
    pub fn with_bearer(mut self, token: &str) -> Result<Self, InvalidHeaderValue> {
        let mut value = HeaderValue::from_str(&format!("Bearer {token}"))?;
        value.set_sensitive(true);
        self.headers.insert(AUTHORIZATION, value);
        Ok(self)
    }

    /// Adds or replaces one header.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// The headers, as they will be applied.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
}

impl std::fmt::Debug for RequestHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in &self.headers {
            if value.is_sensitive() {
                map.entry(&name.as_str(), &"<redacted>");
            } else {
                map.entry(&name.as_str(), &value);
            }
        }
        map.finish()
    }
}

/// Pre-request hook: copies the client's [`RequestHeaders`] onto `request`, replacing
/// any header of the same name, and makes the `api-version` header name the version
/// the path calls.
///
/// progenitor sends `api-version` with the spec's `info.version` on every operation;
/// since the spec describes several versions, that would label a v3 call `2026-09`.
/// HubSpot picks the version from the path and ignores the header, but a proxy log or a
/// capture should not contradict the path.
pub fn apply_request_headers(extra: &RequestHeaders, request: &mut reqwest::Request) {
    let version = path_version(request.url().path()).and_then(|v| HeaderValue::from_str(v).ok());
    let headers = request.headers_mut();
    if let Some(version) = version {
        headers.insert(HeaderName::from_static("api-version"), version);
    }
    for (name, value) in &extra.headers {
        headers.insert(name.clone(), value.clone());
    }
}

/// The API version a CRM path calls: `v3` for `/crm/v3/...`, the date for
/// `/crm/objects/YYYY-MM/...`.
fn path_version(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/crm/")?;
    if rest.starts_with("v3/") {
        return Some("v3");
    }
    let date = rest.strip_prefix("objects/")?.split('/').next()?;
    let dated = date.len() == 7
        && date.bytes().enumerate().all(|(i, b)| {
            if i == 4 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    dated.then_some(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_token_and_the_hook_applies_it() {
        let extra = RequestHeaders::bearer("pat-secret-123")
            .unwrap()
            .with_header(
                reqwest::header::USER_AGENT,
                HeaderValue::from_static("ua/1"),
            );
        let shown = format!("{extra:?}");
        assert!(!shown.contains("pat-secret-123"), "{shown}");
        assert!(
            shown.contains("<redacted>") && shown.contains("ua/1"),
            "{shown}"
        );

        let mut request = reqwest::Request::new(
            reqwest::Method::POST,
            "http://127.0.0.1:1/x".parse().unwrap(),
        );
        request
            .headers_mut()
            .insert(AUTHORIZATION, HeaderValue::from_static("Bearer other"));
        apply_request_headers(&extra, &mut request);
        assert_eq!(request.headers()[AUTHORIZATION], "Bearer pat-secret-123");
        assert_eq!(request.headers()[reqwest::header::USER_AGENT], "ua/1");
    }

    #[test]
    fn the_api_version_header_follows_the_path() {
        for (url, version) in [
            ("http://h/crm/v3/objects/tickets/batch/upsert", Some("v3")),
            (
                "http://h/crm/objects/2026-09/contacts/batch/upsert",
                Some("2026-09"),
            ),
            (
                "http://h/crm/objects/2027-03/2-1/batch/upsert",
                Some("2027-03"),
            ),
            ("http://h/other", Some("2026-09")),
        ] {
            let mut request = reqwest::Request::new(reqwest::Method::POST, url.parse().unwrap());
            // What the generated code sets from `info.version` before the hook runs.
            request
                .headers_mut()
                .insert("api-version", HeaderValue::from_static("2026-09"));
            apply_request_headers(&RequestHeaders::new(), &mut request);
            let sent = request
                .headers()
                .get("api-version")
                .map(|v| v.to_str().unwrap());
            assert_eq!(sent, version, "{url}");
        }
    }

    #[test]
    fn a_token_with_a_newline_is_refused() {
        assert!(RequestHeaders::bearer("bad\ntoken").is_err());
    }
}
