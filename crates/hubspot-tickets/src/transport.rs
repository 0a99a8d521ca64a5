//! Sending one request and reading its whole answer.

use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, USER_AGENT};

use crate::error::{Error, ErrorKind};

/// An answer, read in full.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[cfg(test)]
pub(crate) type MockFn = std::sync::Arc<
    dyn Fn(Bytes) -> futures::future::BoxFuture<'static, Result<RawResponse, Error>> + Send + Sync,
>;

#[derive(Clone)]
pub(crate) enum Transport {
    Http {
        http: reqwest::Client,
        url: String,
        auth: HeaderValue,
        user_agent: HeaderValue,
    },
    #[cfg(test)]
    Mock(MockFn),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Http { url, .. } => f
                .debug_struct("Http")
                .field("url", url)
                .finish_non_exhaustive(),
            #[cfg(test)]
            Self::Mock(_) => f.write_str("Mock"),
        }
    }
}

static API_VERSION: HeaderValue = HeaderValue::from_static("v3");
static JSON: HeaderValue = HeaderValue::from_static("application/json");

impl Transport {
    pub(crate) async fn send(&self, body: Bytes) -> Result<RawResponse, Error> {
        match self {
            Self::Http {
                http,
                url,
                auth,
                user_agent,
            } => {
                let mut resp = http
                    .post(url.as_str())
                    .header(AUTHORIZATION, auth.clone())
                    .header(USER_AGENT, user_agent.clone())
                    .header(CONTENT_TYPE, JSON.clone())
                    .header(ACCEPT, JSON.clone())
                    .header("api-version", API_VERSION.clone())
                    .body(body)
                    .send()
                    .await
                    .map_err(transport_error)?;
                let status = resp.status();
                let headers = std::mem::take(resp.headers_mut());
                let body = resp.bytes().await.map_err(transport_error)?;
                Ok(RawResponse {
                    status,
                    headers,
                    body,
                })
            }
            #[cfg(test)]
            Self::Mock(f) => f(body).await,
        }
    }
}

fn transport_error(e: reqwest::Error) -> Error {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Transport
    };
    let mut message = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        src = s.source();
    }
    Error::new(kind, message).with_source(e)
}

/// Parses `Retry-After`: delta seconds (integer or decimal) or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(3600.0)));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let ms = at.timestamp_millis() - chrono::Utc::now().timestamp_millis();
    Some(Duration::from_millis(
        u64::try_from(ms.clamp(0, 3_600_000)).unwrap_or(0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(reqwest::header::RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(
            reqwest::header::RETRY_AFTER,
            HeaderValue::from_static("0.5"),
        );
        assert_eq!(retry_after(&h), Some(Duration::from_millis(500)));
        h.insert(
            reqwest::header::RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(
            reqwest::header::RETRY_AFTER,
            HeaderValue::from_static("soon"),
        );
        assert_eq!(retry_after(&h), None);
    }
}
