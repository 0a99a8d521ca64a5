//! The generated client's hooks: per-client request headers, applied before every
//! request, and a cap on how much of an answer is read.
//!
//! This is one of the crate's hand-written files, with `lib.rs`, `values.rs` (the
//! property values echoed on each result) and `time.rs` (timestamps); only
//! `generated.rs` is generated, by `cargo xtask codegen`.
//!
//! The generator is configured (in `xtask`) so that `Client` carries a [`RequestHeaders`]
//! and runs [`apply_request_headers`] on every request before sending it. That is how the
//! bearer token reaches HubSpot even when the caller supplies its own `reqwest::Client`,
//! which cannot gain default headers once built.
//!
//! It also implements progenitor's `ClientHooks` for `Client` (the generator is told to
//! expect it): `exec` sends the request and hands back the answer with its body capped
//! (see [`answer_cap`]), since the generated code reads a success body whole before
//! decoding it.

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::BodyExt;
use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, InvalidHeaderValue};

use crate::Client;

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
    let path = request.url().path();
    // The token endpoint authenticates by the form's client secret: a bearer token
    // the client carries for the CRM is not sent there.
    let token_call = oauth_token_version(path).is_some();
    let version = upsert_version(path)
        .or_else(|| properties_version(path))
        .or_else(|| oauth_token_version(path))
        .and_then(|v| HeaderValue::from_str(v).ok());
    let headers = request.headers_mut();
    if let Some(version) = version {
        headers.insert(HeaderName::from_static("api-version"), version);
    }
    for (name, value) in &extra.headers {
        if token_call && name == AUTHORIZATION {
            continue;
        }
        headers.insert(name.clone(), value.clone());
    }
}

/// The part of `path` after its last `/crm/` segment (a base URL may add a prefix, a
/// proxy's `/hubspot` say, which may itself hold `/crm/`; path parameters cannot, their
/// `/` being encoded).
fn crm_part(path: &str) -> Option<&str> {
    path.rfind("/crm/").map(|at| &path[at + "/crm/".len()..])
}

/// The fixed part of [`answer_cap`]: HubSpot's default properties echoed on 100 results,
/// with room to spare.
pub const ANSWER_CAP_BASE: usize = 8 << 20;

/// The most of a success answer's body read for a request of `request_bytes`: 8 MiB
/// plus four times the request. A batch upsert's answer echoes at most what was sent
/// (a value escaped as `\uXXXX` pairs can triple), plus HubSpot's default properties (a
/// few hundred bytes a record), so a real answer stays below; a longer one (a broken
/// proxy, an endless body) fails as [`AnswerTooLong`] instead of filling memory. Error
/// answers are not capped here: whoever reads one keeps only what it needs.
pub fn answer_cap(request_bytes: usize) -> usize {
    ANSWER_CAP_BASE.saturating_add(request_bytes.saturating_mul(4))
}

/// The API version `path` calls (`v3`, `2026-09`...) when it is one of the batch
/// upsert's shapes once the URL is normalised: `/crm/v3/objects/{type}/batch/upsert` or
/// `/crm/objects/{version}/{type}/batch/upsert`, each part a plain name. A path
/// parameter of `..` (which percent-encoding leaves as it is, and URL parsing then
/// resolves) would otherwise move the request elsewhere, with the token.
fn upsert_version(path: &str) -> Option<&str> {
    let plain = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    let rest = crm_part(path)?.strip_suffix("/batch/upsert")?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["v3", "objects", object_type] if plain(object_type) => Some("v3"),
        ["objects", version, object_type] if plain(version) && plain(object_type) => Some(version),
        _ => None,
    }
}

/// The API version of a properties path once the URL is normalised:
/// `/crm/v3/properties/{type}` or `/crm/properties/{version}/{type}`, each part a plain
/// name, for the same reason as [`upsert_version`]: the token goes with the request.
fn properties_version(path: &str) -> Option<&str> {
    let plain = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    let parts: Vec<&str> = crm_part(path)?.split('/').collect();
    match parts.as_slice() {
        ["v3", "properties", object_type] if plain(object_type) => Some("v3"),
        ["properties", version, object_type] if plain(version) && plain(object_type) => {
            Some(version)
        }
        _ => None,
    }
}

/// The version of an OAuth token path (`/oauth/2026-03/token`), the one operation
/// beyond the batch upsert; like [`upsert_version`], after the last `/oauth/` segment.
fn oauth_token_version(path: &str) -> Option<&str> {
    let at = path.rfind("/oauth/")?;
    let version = path[at + "/oauth/".len()..].strip_suffix("/token")?;
    (!version.is_empty()
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    .then_some(version)
}

/// An answer body longer than [`answer_cap`] allows. It reaches callers as the source
/// of the generated client's `Error::ResponseBodyError`.
#[derive(Debug, thiserror::Error)]
#[error("the answer is longer than {cap} bytes, the most read for this request")]
pub struct AnswerTooLong {
    /// The cap that was exceeded, in bytes.
    pub cap: usize,
}

impl AnswerTooLong {
    /// The cap's error, if it is in `error`'s chain of causes (what ended reading a body).
    pub fn in_chain<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e Self> {
        let mut cause = error.source();
        while let Some(e) = cause {
            if let Some(found) = e.downcast_ref::<Self>() {
                return Some(found);
            }
            cause = e.source();
        }
        None
    }
}

impl ClientHooks<RequestHeaders> for Client {
    /// Refuses a request whose path parameters do not make a batch upsert or properties
    /// path (`..` would move it elsewhere, with the token); the OAuth token path has none.
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        info: &OperationInfo,
    ) -> Result<(), progenitor_client::Error<E>> {
        let path = request.url().path();
        if upsert_version(path).is_some()
            || properties_version(path).is_some()
            || oauth_token_version(path).is_some()
        {
            return Ok(());
        }
        Err(progenitor_client::Error::InvalidRequest(format!(
            "{}: the path parameters make {path:?}, which is not a batch upsert path \
             (object types and versions are plain names, such as contacts or 2026-09)",
            info.operation_id
        )))
    }

    /// Sends the request; a success answer comes back with its body capped at
    /// [`answer_cap`].
    async fn exec(
        &self,
        request: reqwest::Request,
        _info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        let sent = request
            .body()
            .and_then(reqwest::Body::as_bytes)
            .map_or(0, <[u8]>::len);
        let response = self.client().execute(request).await?;
        if !response.status().is_success() {
            return Ok(response);
        }
        Ok(capped(response, answer_cap(sent)))
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `response` with a body that ends in [`AnswerTooLong`] once more than `cap` bytes
/// arrived (at once, when `Content-Length` already says so).
fn capped(response: reqwest::Response, cap: usize) -> reqwest::Response {
    use reqwest::ResponseBuilderExt;
    let url = response.url().clone();
    let declared_over = response
        .headers()
        .get(reqwest::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
        .or_else(|| response.content_length())
        .is_some_and(|n| n > u64::try_from(cap).unwrap_or(u64::MAX));
    let (mut parts, body) = http::Response::<reqwest::Body>::from(response).into_parts();
    let mut seen = 0usize;
    let limited = body
        .into_data_stream()
        .map(move |chunk| -> Result<Bytes, BoxError> {
            let chunk = chunk.map_err(BoxError::from)?;
            seen = seen.saturating_add(chunk.len());
            if declared_over || seen > cap {
                return Err(Box::new(AnswerTooLong { cap }));
            }
            Ok(chunk)
        });
    // The conversion to `http::Response` drops the URL; keep it for error messages.
    if let Ok(with_url) = http::Response::builder().url(url).body(()) {
        parts.extensions.extend(with_url.into_parts().0.extensions);
    }
    reqwest::Response::from(http::Response::from_parts(
        parts,
        reqwest::Body::wrap_stream(limited),
    ))
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

        // The token endpoint never gets the bearer token.
        let mut request = reqwest::Request::new(
            reqwest::Method::POST,
            "http://127.0.0.1:1/oauth/2026-03/token".parse().unwrap(),
        );
        apply_request_headers(&extra, &mut request);
        assert!(request.headers().get(AUTHORIZATION).is_none());
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
            ("http://h/oauth/2026-03/token", Some("2026-03")),
            ("http://h/crm/v3/properties/tickets", Some("v3")),
            ("http://h/crm/properties/2026-03/0-5", Some("2026-03")),
            // Behind a proxy's path prefix.
            (
                "http://h/hubspot/crm/v3/objects/tickets/batch/upsert",
                Some("v3"),
            ),
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
    fn only_batch_upsert_paths_pass() {
        for ok in [
            "/crm/v3/objects/tickets/batch/upsert",
            "/crm/v3/objects/0-5/batch/upsert",
            "/crm/objects/2026-09/p_2418337_cars/batch/upsert",
            "/proxy/crm/objects/2027-03/contacts/batch/upsert",
            "/crm/proxy/crm/v3/objects/tickets/batch/upsert",
        ] {
            assert!(upsert_version(ok).is_some(), "{ok}");
        }
        for bad in [
            "/crm/v3/batch/upsert",
            "/batch/upsert",
            "/crm/v3/objects//batch/upsert",
            "/crm/v3/objects/a%2Fb/batch/upsert",
            "/crm/objects/2026-09/a/b/batch/upsert",
            "/crm/v3/objects/tickets/batch/read",
        ] {
            assert!(upsert_version(bad).is_none(), "{bad}");
        }
        for ok in [
            "/crm/v3/properties/tickets",
            "/crm/properties/2026-03/2-123",
        ] {
            assert!(properties_version(ok).is_some(), "{ok}");
        }
        for bad in [
            "/crm/v3/properties",
            "/crm/v3/properties/a/b",
            "/crm/properties/2026-03",
            "/crm/properties//tickets",
        ] {
            assert!(properties_version(bad).is_none(), "{bad}");
        }
        // What `..` as a path parameter becomes once the URL is parsed.
        for (object_type, version) in [("..", "2026-09"), ("tickets", ".."), ("%2e%2e", "..")] {
            let url: reqwest::Url =
                format!("http://h/crm/objects/{version}/{object_type}/batch/upsert")
                    .parse()
                    .unwrap();
            assert!(upsert_version(url.path()).is_none(), "{url}");
        }
    }

    fn answer(chunks: usize, declared: Option<u64>) -> reqwest::Response {
        let stream = futures::stream::iter(
            (0..chunks).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'a'; 1000]))),
        );
        let mut builder = http::Response::builder().status(200);
        if let Some(n) = declared {
            builder = builder.header("content-length", n);
        }
        reqwest::Response::from(builder.body(reqwest::Body::wrap_stream(stream)).unwrap())
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    #[test]
    fn answers_are_read_up_to_the_cap_and_no_further() {
        // Within the cap: read whole.
        let body = block_on(capped(answer(10, None), 10_000).bytes()).unwrap();
        assert_eq!(body.len(), 10_000);
        // One byte over, without a length: the error names the cap.
        let e = block_on(capped(answer(11, None), 10_000).bytes()).unwrap_err();
        let found = AnswerTooLong::in_chain(&e).map(|t| t.cap);
        assert_eq!(found, Some(10_000));
        // A declared length over the cap fails before any chunk is kept.
        assert!(block_on(capped(answer(1, Some(1 << 40)), 10_000).bytes()).is_err());
        assert_eq!(answer_cap(1000), ANSWER_CAP_BASE + 4000);
        assert_eq!(answer_cap(usize::MAX), usize::MAX);
    }

    #[test]
    fn a_token_with_a_newline_is_refused() {
        assert!(RequestHeaders::bearer("bad\ntoken").is_err());
    }
}
