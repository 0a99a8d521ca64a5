//! Sending one request and reading its whole answer.

use std::convert::identity;
use std::time::Duration;

use bytes::Bytes;
use hubspot_tickets_client::hooks::AnswerTooLong;
use hubspot_tickets_client::types::{
    PropertyList, TicketUpsertBatch, TicketUpsertBatchResult, UpsertBatchResult202609,
    UpsertedTicket,
};
use hubspot_tickets_client::{Error as GenError, ResponseValue};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::error::{Error, ErrorKind};
use crate::route::{Route, Shape};
use crate::secret::AccessToken;

/// An answer, read in full.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// What one request brought back (`B`: a decoded 2xx body; a batch result unless it
/// was the properties operation).
#[derive(Debug)]
pub(crate) enum Answer<B = TicketUpsertBatchResult> {
    /// A 2xx whose body decoded (200, 207, or any other 2xx).
    Success {
        status: StatusCode,
        headers: HeaderMap,
        body: B,
    },
    /// A 2xx whose body did not decode (cut short, say). The status is known
    /// only when it was read before decoding failed.
    Undecodable {
        status: Option<StatusCode>,
        body: Bytes,
        error: serde_json::Error,
    },
    /// Any non-2xx answer, with its status, headers and body intact.
    Other(RawResponse),
}

#[cfg(test)]
pub(crate) type MockFn = std::sync::Arc<
    dyn Fn(Bytes) -> futures::future::BoxFuture<'static, Result<RawResponse, Error>> + Send + Sync,
>;

#[derive(Clone)]
pub(crate) enum Transport {
    /// The generated client: it builds the request from the spec (path, JSON body,
    /// `api-version`), its pre-request hook adds the token and user agent, and it
    /// decodes 2xx bodies into the generated types. Non-2xx answers come back untyped
    /// (a generator setting), so they keep their status, headers and body.
    /// One generated client per token (see `authorize`).
    Http(std::sync::Arc<crate::engine::authorize::PerToken>),
    /// Unit tests: a closure from request body bytes to an answer.
    #[cfg(test)]
    Mock(MockFn),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Http(clients) => f
                .debug_struct("Http")
                .field(
                    "base_url",
                    &hubspot_tickets_client::ClientInfo::baseurl(clients.base()),
                )
                .finish_non_exhaustive(),
            #[cfg(test)]
            Self::Mock(_) => f.write_str("Mock"),
        }
    }
}

impl Transport {
    /// Sends `batch` to `route`'s path (the generated operation of its version), with
    /// `token`.
    pub(crate) async fn send(
        &self,
        route: &Route,
        batch: &TicketUpsertBatch,
        token: &AccessToken,
    ) -> Result<Answer, Error> {
        match self {
            Self::Http(clients) => {
                let client = &clients.client(token)?;
                let object_type = route.object_type.as_str();
                // One generated operation per wire shape; 2026-09's body is mapped onto
                // the v3 result type (it only lacks `warnings`), so everything after
                // this point is the same for every version.
                match route.version.shape() {
                    Shape::Legacy => {
                        settle(
                            client.batch_upsert_objects(object_type, batch).await,
                            identity,
                        )
                        .await
                    }
                    Shape::Dated2026_03 => {
                        let answer = client.batch_upsert_objects_2026_03(object_type, batch);
                        settle(answer.await, identity).await
                    }
                    Shape::Dated2026_09 => {
                        let answer = client.batch_upsert_objects_2026_09(object_type, batch);
                        settle(answer.await, unfold).await
                    }
                    Shape::LaterDated => {
                        let version = route.version.to_string();
                        let answer =
                            client.batch_upsert_objects_dated(&version, object_type, batch);
                        settle(answer.await, unfold).await
                    }
                }
            }
            #[cfg(test)]
            Self::Mock(f) => {
                let bytes = serde_json::to_vec(batch).map_err(|e| {
                    Error::new(ErrorKind::InvalidInput, format!("unencodable batch: {e}"))
                })?;
                let raw = f(Bytes::from(bytes)).await?;
                if !raw.status.is_success() {
                    return Ok(Answer::Other(raw));
                }
                Ok(
                    match serde_json::from_slice::<TicketUpsertBatchResult>(&raw.body) {
                        Ok(body) => Answer::Success {
                            status: raw.status,
                            headers: raw.headers,
                            body,
                        },
                        Err(error) => Answer::Undecodable {
                            status: Some(raw.status),
                            body: raw.body,
                            error,
                        },
                    },
                )
            }
        }
    }

    /// Reads `route`'s object type's property definitions (v3's path for v3, the dated
    /// `2026-03` path for every dated version: HubSpot documents the properties
    /// operation under `2026-03`, and its answer has kept its shape), with `token`.
    pub(crate) async fn properties(
        &self,
        route: &Route,
        token: &AccessToken,
    ) -> Result<Answer<PropertyList>, Error> {
        match self {
            Self::Http(clients) => {
                let client = &clients.client(token)?;
                let object_type = route.object_type.as_str();
                if route.version.is_legacy() {
                    settle(client.list_properties(object_type).await, identity).await
                } else {
                    settle(client.list_properties_2026_03(object_type).await, identity).await
                }
            }
            #[cfg(test)]
            Self::Mock(_) => Err(Error::configuration(
                "unit tests' mock transport has no properties operation",
            )),
        }
    }
}

/// One generated call's result as an [`Answer`]; `body` maps a 2xx body (a batch's onto
/// the v3 result type).
async fn settle<T, B>(
    result: Result<ResponseValue<T>, GenError<()>>,
    body: impl FnOnce(T) -> B,
) -> Result<Answer<B>, Error> {
    match result {
        Ok(value) => {
            let status = value.status();
            let headers = value.headers().clone();
            let body = body(value.into_inner());
            Ok(Answer::Success {
                status,
                headers,
                body,
            })
        }
        Err(GenError::UnexpectedResponse(mut resp)) => {
            let status = resp.status();
            let headers = std::mem::take(resp.headers_mut());
            let body = read_capped(resp, MAX_ERROR_BODY).await?;
            Ok(Answer::Other(RawResponse {
                status,
                headers,
                body,
            }))
        }
        Err(GenError::InvalidResponsePayload(body, error)) => Ok(Answer::Undecodable {
            status: None,
            body,
            error,
        }),
        // An answer longer than the client's cap (`hubspot_tickets_client::hooks`) is a
        // 2xx whose body cannot be read: judged like a cut-short one.
        Err(GenError::ResponseBodyError(e)) => match AnswerTooLong::in_chain(&e).map(|t| t.cap) {
            Some(cap) => Ok(Answer::Undecodable {
                status: None,
                body: Bytes::new(),
                error: serde::de::Error::custom(format!(
                    "the answer is longer than {} MiB, the most read for this request; its records may have been written",
                    cap >> 20
                )),
            }),
            None => Err(transport_error(e)),
        },
        Err(GenError::CommunicationError(e) | GenError::InvalidUpgrade(e)) => {
            Err(transport_error(e))
        }
        // Typed error responses are not generated (see spec/README.md), so this arm is
        // only reached if that generator setting changes.
        Err(GenError::ErrorResponse(value)) => Ok(Answer::Other(RawResponse {
            status: value.status(),
            headers: value.headers().clone(),
            body: Bytes::new(),
        })),
        Err(GenError::InvalidRequest(why) | GenError::Custom(why)) => Err(Error::new(
            ErrorKind::Configuration,
            format!("the request could not be built: {why}"),
        )),
    }
}

/// A 2026-09 answer as the v3 result type: the same fields, without `warnings`.
fn unfold(body: UpsertBatchResult202609) -> TicketUpsertBatchResult {
    let results = body
        .results
        .into_iter()
        .map(|r| UpsertedTicket {
            archived: r.archived,
            archived_at: r.archived_at,
            created_at: r.created_at,
            id: r.id,
            new: r.new,
            object_write_trace_id: r.object_write_trace_id,
            properties: r.properties,
            properties_with_history: r.properties_with_history,
            updated_at: r.updated_at,
            url: r.url,
            warnings: Vec::new(),
        })
        .collect();
    TicketUpsertBatchResult {
        completed_at: body.completed_at,
        errors: body.errors,
        links: body.links,
        num_errors: body.num_errors,
        requested_at: body.requested_at,
        results,
        started_at: body.started_at,
        status: body.status,
    }
}

/// The most of an error answer's body that is kept. HubSpot's error bodies are a few
/// hundred bytes; a proxy's or a broken server's can be anything, and only the first
/// part is ever shown.
pub(crate) const MAX_ERROR_BODY: usize = 1 << 20;

/// Reads at most `cap` bytes of the body. The rest is not read: dropping the response
/// closes its connection rather than draining it.
async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<Bytes, Error> {
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = resp.chunk().await.map_err(transport_error)? {
        let room = cap.saturating_sub(body.len());
        body.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
        if body.len() >= cap {
            break;
        }
    }
    Ok(body.freeze())
}

fn transport_error(e: reqwest::Error) -> Error {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Transport
    };
    // The cause's text stays in the source (Display does not repeat it); a record's
    // Failure carries the whole chain.
    let verb = if e.is_connect() {
        "could not connect to"
    } else if e.is_timeout() {
        "no answer in time from"
    } else {
        "the exchange failed with"
    };
    // The origin only: no path, and never credentials.
    let message = e.url().map_or_else(String::new, |url| {
        format!("{verb} {}", url.origin().ascii_serialization())
    });
    let connect = e.is_connect();
    let err = Error::new(kind, message).with_source(e);
    // No connection: the request never left, so it wrote nothing.
    if connect { err.not_sent() } else { err }
}

/// Parses `Retry-After`: delta seconds (integer or decimal) or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<f64>() {
        // Read up to a week (a 477 asks for up to a day, and its message says how
        // long); how long is actually waited is decided where it is used.
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(7.0 * 86_400.0)));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let ms = at.timestamp_millis() - chrono::Utc::now().timestamp_millis();
    Some(Duration::from_millis(
        u64::try_from(ms.clamp(0, 7 * 86_400_000)).unwrap_or(0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[tokio::test]
    async fn error_bodies_are_read_up_to_the_cap() {
        use wiremock::matchers::any;
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        let big = vec![b'x'; 3 * 1024 * 1024];
        Mock::given(any())
            .respond_with(ResponseTemplate::new(502).set_body_bytes(big))
            .mount(&server)
            .await;
        let resp = reqwest::get(server.uri()).await.expect("answer");
        let body = read_capped(resp, MAX_ERROR_BODY).await.expect("body");
        assert_eq!(body.len(), MAX_ERROR_BODY);
        let resp = reqwest::get(server.uri()).await.expect("answer");
        assert_eq!(
            read_capped(resp, 10).await.expect("body").as_ref(),
            b"xxxxxxxxxx"
        );
    }

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
