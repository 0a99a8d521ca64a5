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
/// any header of the same name.
pub fn apply_request_headers(extra: &RequestHeaders, request: &mut reqwest::Request) {
    let headers = request.headers_mut();
    for (name, value) in &extra.headers {
        headers.insert(name.clone(), value.clone());
    }
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
    fn a_token_with_a_newline_is_refused() {
        assert!(RequestHeaders::bearer("bad\ntoken").is_err());
    }
}
