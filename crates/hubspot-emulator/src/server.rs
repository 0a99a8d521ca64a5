//! The HTTP side: routes, the upsert handler, fault realisation, connection handling.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;
use uuid::Uuid;

use crate::config::{EmulatorConfig, RequestedAt, WireShape};
use crate::faults::{FaultDecision, FaultEngine, FaultKind};
use crate::limiter::{Admission, Limiter, Policy, RateHeaders};
use crate::registry::{ObjectEntry, Registry};
use crate::remote::Remote;
use crate::stats::{Outcome, Stats, StatsSnapshot};
use crate::store::Store;
use crate::upsert::{ApiErrorOut, Ctx, process};

/// The tickets upsert path of CRM v3.
pub const UPSERT_PATH: &str = "/crm/v3/objects/tickets/batch/upsert";
/// The legacy v3 upsert path of any object type.
pub const V3_UPSERT_ROUTE: &str = "/crm/v3/objects/{objectType}/batch/upsert";
/// The upsert path of a dated API version.
pub const DATED_UPSERT_ROUTE: &str = "/crm/objects/{version}/{objectType}/batch/upsert";

/// Where HubSpot's 403 bodies send readers about scopes.
const SCOPES_URL: &str = "https://developers.hubspot.com/scopes";
/// Prefix of the emulator's own routes.
pub const ADMIN_PREFIX: &str = "/__emulator";

pub(crate) const JSON: &str = "application/json;charset=utf-8";

/// Limiter and fault RNG: the per-request decisions, behind one small lock.
pub(crate) struct Control {
    pub limiter: Limiter,
    pub faults: FaultEngine,
    pub remote: Remote,
}

pub(crate) struct Shared {
    pub config: EmulatorConfig,
    pub objects: Registry,
    pub stats: Stats,
    pub control: Mutex<Control>,
    successes: AtomicU64,
    /// Issued OAuth access tokens (see `oauth`).
    pub oauth: crate::oauth::OAuthState,
}

impl Shared {
    pub fn new(config: EmulatorConfig, objects: Registry) -> Self {
        let control = Control {
            limiter: Limiter::new(config.rate_limit.clone()),
            faults: FaultEngine::new(config.faults.clone()),
            remote: Remote::new(config.latency, config.lock, config.faults.seed),
        };
        Self {
            stats: Stats::new(config.request_log_capacity),
            control: Mutex::new(control),
            config,
            objects,
            successes: AtomicU64::new(0),
            oauth: crate::oauth::OAuthState::default(),
        }
    }

    pub fn control(&self) -> MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The tickets store.
    pub fn store(&self) -> &Store {
        &self.objects.tickets().store
    }

    /// Counters, with the store-side ones summed over every object type.
    pub fn snapshot(&self) -> StatsSnapshot {
        let mut s = self.stats.snapshot();
        for e in self.objects.all() {
            let (created, updated) = e.store.write_counts();
            s.records_created += created;
            s.records_updated += updated;
            s.duplicate_creates.extend(e.store.duplicate_creates());
        }
        s
    }

    pub fn reset(&self) {
        for e in self.objects.all() {
            e.store.clear();
        }
        self.stats.reset();
        let mut c = self.control();
        c.limiter.reset();
        c.remote.reset();
        let faults = c.faults.config().clone();
        c.faults = FaultEngine::new(faults);
        self.successes.store(0, Ordering::Relaxed);
        self.oauth.reset();
    }
}

/// Per-connection handle that lets a handler close its own connection.
#[derive(Clone)]
struct ConnCtx {
    kill: CancellationToken,
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let limit = shared.config.max_body_bytes;
    Router::new()
        .route(V3_UPSERT_ROUTE, post(upsert_v3))
        .route(DATED_UPSERT_ROUTE, post(upsert_dated))
        .route(
            crate::properties_api::V3_PROPERTIES_ROUTE,
            get(crate::properties_api::list_v3),
        )
        .route(
            crate::properties_api::DATED_PROPERTIES_ROUTE,
            get(crate::properties_api::list_dated),
        )
        .route(
            crate::oauth::TOKEN_ROUTES[0],
            post(crate::oauth::token_endpoint),
        )
        .route(
            crate::oauth::TOKEN_ROUTES[1],
            post(crate::oauth::token_endpoint),
        )
        .route("/__emulator/health", get(admin_health))
        .route("/__emulator/stats", get(admin_stats))
        .route("/__emulator/reset", post(admin_reset))
        .route("/__emulator/properties", get(admin_properties))
        .route("/__emulator/tickets", get(admin_list).post(admin_insert))
        .route("/__emulator/tickets/count", get(admin_count))
        .route("/__emulator/tickets/{object_id}", get(admin_get))
        .route(
            "/__emulator/tickets/by/{property}/{value}",
            get(admin_get_by_unique),
        )
        .route("/__emulator/objects", get(admin_object_types))
        .route(
            "/__emulator/objects/{object_type}",
            get(admin_list_of).post(admin_insert_of),
        )
        .route(
            "/__emulator/objects/{object_type}/properties",
            get(admin_properties_of),
        )
        .route(
            "/__emulator/objects/{object_type}/count",
            get(admin_count_of),
        )
        .route(
            "/__emulator/objects/{object_type}/{object_id}",
            get(admin_get_of),
        )
        .route(
            "/__emulator/objects/{object_type}/by/{property}/{value}",
            get(admin_get_by_unique_of),
        )
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(shared)
}

/// Connection limits, from the configuration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl ConnLimits {
    pub fn from_config(config: &EmulatorConfig) -> Self {
        Self {
            header_read_timeout: config.header_read_timeout,
            idle_timeout: config.idle_timeout,
            max_connections: config.max_connections,
        }
    }
}

/// Accepts connections until `shutdown`, serving each with hyper (HTTP/1.1 and h2c).
/// A connection is dropped (socket closed, no response) when its handler asks for it.
/// At most `max_connections` are served at once: the accept loop waits for a free slot,
/// so extra clients queue in the kernel's listen backlog instead of using up file
/// descriptors.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    limits: ConnLimits,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut conns = JoinSet::new();
    loop {
        // Wait for a free slot before accepting, so a full server does not accept at all.
        let permit = tokio::select! {
            () = shutdown.cancelled() => break,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let conn = serve_connection(
                        stream,
                        peer,
                        router.clone(),
                        Arc::clone(&builder),
                        shutdown.clone(),
                        limits.idle_timeout,
                    );
                    conns.spawn(async move {
                        conn.await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    // Open connections finish their in-flight request (bounded), then are closed.
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(2), drain)
        .await
        .is_err()
    {
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
}

/// What the idle timer needs to know about a connection: when bytes last moved, how
/// many requests are in flight, and how many of those are still receiving their body.
struct Activity {
    epoch: Instant,
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
    reading: AtomicUsize,
}

impl Activity {
    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.epoch + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    /// Requests the server is working on: in flight with their body fully received.
    /// A request whose client stalls mid-body does not count, so it cannot pin the
    /// connection open.
    fn handling(&self) -> usize {
        let in_flight = self.in_flight.load(Ordering::Relaxed);
        in_flight.saturating_sub(self.reading.load(Ordering::Relaxed))
    }
}

/// A request body that tells [`Activity`] when it has been fully received (or dropped).
struct WatchedBody {
    inner: Incoming,
    reading: Option<Arc<Activity>>,
}

impl WatchedBody {
    fn new(inner: Incoming, activity: &Arc<Activity>) -> Self {
        use hyper::body::Body as _;
        let reading = (!inner.is_end_stream()).then(|| {
            activity.reading.fetch_add(1, Ordering::Relaxed);
            Arc::clone(activity)
        });
        Self { inner, reading }
    }

    fn done(&mut self) {
        if let Some(a) = self.reading.take() {
            a.reading.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for WatchedBody {
    fn drop(&mut self) {
        self.done();
    }
}

impl hyper::body::Body for WatchedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        let res = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        let finished = match &res {
            std::task::Poll::Ready(None | Some(Err(_))) => true,
            std::task::Poll::Ready(Some(Ok(_))) => self.inner.is_end_stream(),
            std::task::Poll::Pending => false,
        };
        if finished {
            self.done();
        }
        res
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Counts a request as in flight until its response is produced. Created before its
/// [`WatchedBody`], so `reading` never exceeds `in_flight`.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn new(activity: &Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(activity))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A TCP stream that records when bytes last moved, for the idle timer.
struct Tracked {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl tokio::io::AsyncRead for Tracked {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let res = std::pin::Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        res
    }
}

impl tokio::io::AsyncWrite for Tracked {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let res = std::pin::Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(res, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        res
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let res = std::pin::Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(res, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
    shutdown: CancellationToken,
    idle_timeout: Duration,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity {
        epoch: Instant::now(),
        last_ms: AtomicU64::new(0),
        in_flight: AtomicUsize::new(0),
        reading: AtomicUsize::new(0),
    });
    let kill = CancellationToken::new();
    let ctx = ConnCtx { kill: kill.clone() };
    let svc_activity = Arc::clone(&activity);
    let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let guard = InFlight::new(&svc_activity);
        let mut req = req.map(|body| WatchedBody::new(body, &svc_activity));
        req.extensions_mut().insert(ctx.clone());
        let fut = router.clone().oneshot(req);
        async move {
            let res = fut.await;
            drop(guard);
            res
        }
    });
    let io = Tracked {
        stream,
        activity: Arc::clone(&activity),
    };
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    let idle = tokio::time::sleep(idle_timeout);
    tokio::pin!(idle);
    let mut draining = false;
    loop {
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                break;
            }
            () = kill.cancelled() => {
                tracing::debug!(%peer, "closing connection without a response (fault)");
                break;
            }
            () = shutdown.cancelled(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            () = idle.as_mut() => {
                let now = Instant::now();
                let deadline = activity.last() + idle_timeout;
                if activity.handling() == 0 && deadline <= now {
                    tracing::debug!(%peer, "closing idle connection");
                    break;
                }
                // A slow handler is not idleness: look again one period later.
                let next = if deadline > now { deadline } else { now + idle_timeout };
                idle.as_mut().reset(next.into());
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Responses.

fn rate_headers(h: &mut HeaderMap, rl: RateHeaders) {
    fn put(h: &mut HeaderMap, name: &'static str, v: u64) {
        h.insert(HeaderName::from_static(name), HeaderValue::from(v));
    }
    if let Some((max, remaining, interval)) = rl.rolling {
        put(h, "x-hubspot-ratelimit-max", u64::from(max));
        put(h, "x-hubspot-ratelimit-remaining", u64::from(remaining));
        put(h, "x-hubspot-ratelimit-interval-milliseconds", interval);
    }
    if let Some((daily, remaining)) = rl.daily {
        put(h, "x-hubspot-ratelimit-daily", daily);
        put(h, "x-hubspot-ratelimit-daily-remaining", remaining);
    }
}

pub(crate) fn respond(
    status: u16,
    content_type: &'static str,
    body: impl Into<Body>,
    rl: RateHeaders,
    correlation: Uuid,
) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&correlation.to_string()) {
        h.insert(HeaderName::from_static("x-hubspot-correlation-id"), v);
    }
    rate_headers(h, rl);
    resp
}

fn rate_limit_body(policy: Policy, portal_id: u64, correlation: Uuid) -> Vec<u8> {
    let (message, group) = match policy {
        Policy::TenSecondlyRolling => (
            "You have reached your ten_secondly_rolling limit.",
            format!("api-calls:{portal_id}"),
        ),
        Policy::Daily => (
            "You have reached your daily limit.",
            format!("api-calls-daily:{portal_id}"),
        ),
    };
    serde_json::to_vec(&serde_json::json!({
        "status": "error",
        "message": message,
        "errorType": "RATE_LIMIT",
        "correlationId": correlation,
        "policyName": policy.as_str(),
        "groupName": group,
    }))
    .unwrap_or_default()
}

pub(crate) fn too_many(
    policy: Policy,
    retry_after: Option<u64>,
    rl: RateHeaders,
    portal_id: u64,
    correlation: Uuid,
) -> Response {
    let mut resp = respond(
        429,
        JSON,
        rate_limit_body(policy, portal_id, correlation),
        rl,
        correlation,
    );
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

fn server_error(status: u16, html: bool, rl: RateHeaders, correlation: Uuid) -> Response {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    if html {
        let body = format!(
            "<!DOCTYPE html>\n<html><head><title>{status} {reason}</title></head>\
             <body><h1>{status} {reason}</h1><p>The server could not complete your request. \
             Please try again later.</p><hr><p>correlation id {correlation}</p></body></html>\n"
        );
        respond(status, "text/html; charset=utf-8", body, rl, correlation)
    } else {
        let message = match status {
            500 => "internal error".to_owned(),
            _ => format!("{reason}: the request could not be completed, please retry"),
        };
        let body = ApiErrorOut::new(&message, correlation, "INTERNAL_ERROR").to_vec();
        respond(status, JSON, body, rl, correlation)
    }
}

/// Closes the request's connection without answering. The returned future only
/// completes if the connection outlives the close (it should not).
async fn drop_connection(conn: Option<&ConnCtx>) -> Response {
    match conn {
        Some(c) => {
            c.kill.cancel();
            tokio::time::sleep(Duration::from_secs(30)).await;
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        None => {
            // Not served by our accept loop: a body that fails makes hyper abort the
            // connection instead.
            Response::new(Body::new(FailingBody))
        }
    }
}

/// A response body whose first poll fails.
struct FailingBody;

impl hyper::body::Body for FailingBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(Some(Err(std::io::Error::other(
            "connection dropped (fault)",
        ))))
    }
}

// ---------------------------------------------------------------------------------
// The upsert handler.

/// Which API version and object type a request addressed.
struct Target<'a> {
    version: &'a str,
    shape: WireShape,
    object_type: &'a str,
}

async fn upsert_v3(
    State(s): State<Arc<Shared>>,
    Path(object_type): Path<String>,
    conn: Option<Extension<ConnCtx>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = Target {
        version: "v3",
        shape: WireShape::MultiStatus207,
        object_type: &object_type,
    };
    handle(&s, conn.as_ref().map(|c| &c.0), &headers, &body, &target).await
}

async fn upsert_dated(
    State(s): State<Arc<Shared>>,
    Path((version, object_type)): Path<(String, String)>,
    conn: Option<Extension<ConnCtx>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // An unserved version is an unknown path, whoever asks.
    let Some(shape) = s.config.api_versions.get(&version).copied() else {
        let correlation = Uuid::new_v4();
        let served: Vec<&str> = std::iter::once("v3")
            .chain(s.config.api_versions.keys().map(String::as_str))
            .collect();
        let message = format!(
            "Unknown API version {version:?}: this server serves {}",
            served.join(", ")
        );
        let body = ApiErrorOut::new(&message, correlation, "OBJECT_NOT_FOUND").to_vec();
        return respond(404, JSON, body, RateHeaders::default(), correlation);
    };
    let target = Target {
        version: &version,
        shape,
        object_type: &object_type,
    };
    handle(&s, conn.as_ref().map(|c| &c.0), &headers, &body, &target).await
}

/// HubSpot's answer to an object type it cannot name.
pub(crate) fn unknown_object_type(
    object_type: &str,
    rl: RateHeaders,
    correlation: Uuid,
) -> Response {
    let message = format!("Unable to infer object type from: {object_type}");
    let body = ApiErrorOut::new(&message, correlation, "VALIDATION_ERROR").to_vec();
    respond(400, JSON, body, rl, correlation)
}

/// HubSpot's answer to a token without the object type's scope.
pub(crate) fn missing_scope(scope: &str, rl: RateHeaders, correlation: Uuid) -> Response {
    let body = serde_json::to_vec(&serde_json::json!({
        "status": "error",
        "message": format!(
            "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: {SCOPES_URL}."
        ),
        "correlationId": correlation,
        "errors": [{
            "message": "One or more of the following scopes are required.",
            "context": {"requiredGranularScopes": [scope]},
        }],
        "links": {"scopes": SCOPES_URL},
        "category": "MISSING_SCOPES",
    }))
    .unwrap_or_default();
    respond(403, JSON, body, rl, correlation)
}

pub(crate) enum Auth<'h> {
    /// The token, and the key of its rate-limit window: the app's client id for an
    /// OAuth access token (every token of an app shares it), else the token itself.
    Ok(&'h str, std::borrow::Cow<'h, str>),
    Missing,
    Invalid,
    /// An OAuth access token this long after it expired.
    Expired(Duration),
}

pub(crate) fn authenticate<'h>(
    config: &EmulatorConfig,
    oauth: &crate::oauth::OAuthState,
    headers: &'h HeaderMap,
) -> Auth<'h> {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Auth::Missing;
    };
    let value = value.trim();
    let token = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => return Auth::Invalid,
    };
    if token.is_empty() {
        return Auth::Missing;
    }
    match oauth.lookup(token) {
        crate::oauth::Lookup::Live(app) => return Auth::Ok(token, format!("app:{app}").into()),
        crate::oauth::Lookup::Expired(ago) => return Auth::Expired(ago),
        crate::oauth::Lookup::Unknown => {}
    }
    if config.accept_any_token
        || config.tokens.iter().any(|t| t == token)
        || config.token_scopes.contains_key(token)
    {
        Auth::Ok(token, token.into())
    } else {
        Auth::Invalid
    }
}

/// HubSpot's 401 for a missing, unknown or expired token.
pub(crate) fn unauthorized(auth: &Auth<'_>, correlation: Uuid) -> Response {
    let (message, category) = match auth {
        Auth::Missing => (
            "Authentication credentials not found. This API supports OAuth 2.0 and private app access tokens, sent as 'Authorization: Bearer <token>'.".to_owned(),
            "INVALID_AUTHENTICATION",
        ),
        Auth::Expired(ago) => (
            crate::oauth::expired_message(*ago),
            crate::oauth::EXPIRED_CATEGORY,
        ),
        _ => (
            "The access token provided is invalid, expired or not recognised by this emulator.".to_owned(),
            "INVALID_AUTHENTICATION",
        ),
    };
    let mut out = ApiErrorOut::new(&message, correlation, category);
    if let Auth::Expired(ago) = auth {
        out.context
            .insert("expire time", vec![crate::oauth::expire_time(*ago)]);
    }
    respond(401, JSON, out.to_vec(), RateHeaders::default(), correlation)
}

async fn handle(
    s: &Shared,
    conn: Option<&ConnCtx>,
    headers: &HeaderMap,
    body: &[u8],
    target: &Target<'_>,
) -> Response {
    // Held until the answer is sent (latency included): the requests in flight.
    let _handling = s.stats.handling();
    let seq = s.stats.begin();
    let received_ms = Utc::now().timestamp_millis();
    let correlation = Uuid::new_v4();
    let entry: Option<&ObjectEntry> = s.objects.resolve(target.object_type);
    let mut outcome = Outcome {
        api_version: target.version.to_owned(),
        // The canonical name when known, so `0-1` and `contacts` log alike.
        object_type: entry.map_or_else(|| target.object_type.to_owned(), |e| e.schema.name.clone()),
        ..Outcome::default()
    };

    let (token, window) = match authenticate(&s.config, &s.oauth, headers) {
        Auth::Ok(t, window) => (t, window),
        other => {
            outcome.status = Some(401);
            s.stats.record(seq, outcome);
            return unauthorized(&other, correlation);
        }
    };

    // The window counts a request when it arrives, 423s included; a locked request
    // draws no fault.
    let (admission, locked, decision) = {
        let mut c = s.control();
        let now = Instant::now();
        let admission = c.limiter.admit(&window, now, received_ms);
        outcome.arrived = Some(Utc::now());
        let allowed = matches!(admission, Admission::Allowed(_));
        let locked = allowed && c.remote.locked(&window, now);
        let decision = if allowed && !locked {
            c.faults.decide()
        } else {
            FaultDecision::default()
        };
        (admission, locked, decision)
    };
    let rl = admission.headers();
    if let Admission::Limited {
        policy,
        retry_after,
        ..
    } = admission
    {
        outcome.status = Some(429);
        outcome.policy = Some(policy);
        outcome.limiter_429 = true;
        s.stats.record(seq, outcome);
        tracing::debug!(%policy, "rate limited");
        return too_many(policy, retry_after, rl, s.config.portal_id, correlation);
    }
    if locked {
        outcome.status = Some(423);
        s.stats.record(seq, outcome);
        tracing::debug!("locked");
        let body = ApiErrorOut::new(
            "Too many upserts of this object type in a short period: it is locked for about 2 seconds. Wait at least that long, then retry.",
            correlation,
            "LOCKED",
        )
        .to_vec();
        return respond(423, JSON, body, rl, correlation);
    }

    // Front-door checks, as HubSpot orders them: the object type, then the scope. They
    // come before injected faults, which stand for the write path failing.
    let Some(entry) = entry else {
        outcome.status = Some(400);
        s.stats.record(seq, outcome);
        return unknown_object_type(target.object_type, rl, correlation);
    };
    if !s.config.token_has_scope(token, entry.scope) {
        outcome.status = Some(403);
        s.stats.record(seq, outcome);
        return missing_scope(entry.scope, rl, correlation);
    }

    // Faults that answer without touching the store.
    if let Some(kind) = decision.kind {
        let early = match kind {
            FaultKind::RateLimit429 | FaultKind::RateLimit429NoRetryAfter => {
                outcome.status = Some(429);
                outcome.policy = Some(Policy::TenSecondlyRolling);
                let retry = (kind == FaultKind::RateLimit429).then_some(1);
                Some(too_many(
                    Policy::TenSecondlyRolling,
                    retry,
                    rl,
                    s.config.portal_id,
                    correlation,
                ))
            }
            FaultKind::Http500 | FaultKind::Http502 | FaultKind::Http503 | FaultKind::Http504 => {
                let status = kind.server_error_status().unwrap_or(500);
                outcome.status = Some(status);
                outcome.html = decision.html;
                Some(server_error(status, decision.html, rl, correlation))
            }
            FaultKind::Conflict409 => {
                outcome.status = Some(409);
                let body = ApiErrorOut::new(
                    "Conflict while writing the batch: another request is updating the same records. Please retry.",
                    correlation,
                    "CONFLICT",
                )
                .to_vec();
                Some(respond(409, JSON, body, rl, correlation))
            }
            FaultKind::CloseBeforeResponse => {
                outcome.fault = Some(kind);
                s.stats.record(seq, outcome);
                tracing::info!(seq, fault = %kind, "injecting fault");
                return drop_connection(conn).await;
            }
            _ => None,
        };
        if let Some(resp) = early {
            outcome.fault = Some(kind);
            s.stats.record(seq, outcome);
            tracing::info!(seq, fault = %kind, "injecting fault");
            return resp;
        }
    }

    let requested_at_null = match s.config.requested_at {
        RequestedAt::Null => true,
        RequestedAt::Timestamp => false,
        RequestedAt::Alternate => s
            .successes
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(2),
    };
    let ctx = Ctx {
        schema: &entry.schema,
        store: &entry.store,
        config: &s.config,
        correlation,
        received_ms,
        fold_errors: target.shape == WireShape::PartialIn200,
        requested_at_null,
        partial_write: decision.partial_write,
    };
    let processed = process(&ctx, body);
    outcome.inputs = processed.inputs;
    outcome.created = processed.created;
    outcome.updated = processed.updated;
    outcome.errors = processed.errors;
    outcome.partial_write = processed.partial_written;
    let mut status = processed.status;
    let mut body = processed.body;

    // Faults applied to a processed (written) request.
    match decision.kind {
        Some(kind @ FaultKind::CloseAfterWrite) => {
            outcome.fault = Some(kind);
            s.stats.record(seq, outcome);
            tracing::info!(seq, fault = %kind, "injecting fault after the write");
            return drop_connection(conn).await;
        }
        Some(kind @ FaultKind::DelayedResponse) => {
            outcome.fault = Some(kind);
            outcome.status = Some(status);
            s.stats.record(seq, outcome);
            let delay = s.control().faults.config().response_delay;
            tracing::info!(seq, fault = %kind, ?delay, "delaying the response");
            tokio::time::sleep(delay).await;
            return respond(status, JSON, body, rl, correlation);
        }
        Some(kind @ FaultKind::TruncatedBody) if (200..300).contains(&status) => {
            outcome.fault = Some(kind);
            let keep = body.len() / 2;
            body.truncate(keep);
        }
        Some(kind @ FaultKind::Unexpected201) if status == 200 => {
            outcome.fault = Some(kind);
            status = 201;
        }
        _ => {}
    }
    if let Some(kind) = outcome.fault {
        tracing::info!(seq, fault = %kind, "injecting fault");
    }
    outcome.status = Some(status);
    s.stats.record(seq, outcome);
    // A remote HubSpot's answer time, after the write (and after the log's `at`, so
    // the log keeps arrival order).
    let latency = s.control().remote.latency();
    if let Some(latency) = latency {
        tokio::time::sleep(latency).await;
    }
    respond(status, JSON, body, rl, correlation)
}

// ---------------------------------------------------------------------------------
// Admin routes.

fn json_ok<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => {
            let mut r = Response::new(Body::from(bytes));
            *r.status_mut() = status;
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
            r
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn admin_error(status: StatusCode, message: &str) -> Response {
    json_ok(
        status,
        &serde_json::json!({"status": "error", "message": message}),
    )
}

async fn admin_health() -> Response {
    json_ok(StatusCode::OK, &serde_json::json!({"status": "ok"}))
}

async fn admin_stats(State(s): State<Arc<Shared>>) -> Response {
    json_ok(StatusCode::OK, &s.snapshot())
}

async fn admin_reset(State(s): State<Arc<Shared>>) -> Response {
    s.reset();
    StatusCode::NO_CONTENT.into_response()
}

async fn admin_properties(State(s): State<Arc<Shared>>) -> Response {
    json_ok(StatusCode::OK, &s.objects.tickets().schema.defs)
}

#[derive(Deserialize)]
struct Page {
    offset: Option<usize>,
    limit: Option<usize>,
}

fn list(store: &Store, page: &Page) -> Response {
    let records = store.list_page(page.offset.unwrap_or(0), page.limit.unwrap_or(usize::MAX));
    json_ok(StatusCode::OK, &records)
}

fn count(store: &Store) -> Response {
    json_ok(StatusCode::OK, &serde_json::json!({"count": store.count()}))
}

fn get_one(store: &Store, object_id: &str) -> Response {
    match object_id.parse::<u64>().ok().and_then(|id| store.get(id)) {
        Some(t) => json_ok(StatusCode::OK, &t),
        None => admin_error(StatusCode::NOT_FOUND, "no such record"),
    }
}

fn get_by_unique(store: &Store, property: &str, value: &str) -> Response {
    match store.get_by_unique(property, value) {
        Some(t) => json_ok(StatusCode::OK, &t),
        None => admin_error(StatusCode::NOT_FOUND, "no record with this unique value"),
    }
}

#[derive(Deserialize)]
struct InsertBody {
    properties: std::collections::BTreeMap<String, String>,
}

fn insert(store: &Store, body: &[u8]) -> Response {
    let parsed: InsertBody = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    match store.insert(parsed.properties) {
        Ok(t) => json_ok(StatusCode::CREATED, &t),
        Err(e @ crate::store::StoreError::Conflict { .. }) => {
            admin_error(StatusCode::CONFLICT, &e.to_string())
        }
        Err(e) => admin_error(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

async fn admin_list(State(s): State<Arc<Shared>>, Query(page): Query<Page>) -> Response {
    list(s.store(), &page)
}

async fn admin_count(State(s): State<Arc<Shared>>) -> Response {
    count(s.store())
}

async fn admin_get(State(s): State<Arc<Shared>>, Path(object_id): Path<String>) -> Response {
    get_one(s.store(), &object_id)
}

async fn admin_get_by_unique(
    State(s): State<Arc<Shared>>,
    Path((property, value)): Path<(String, String)>,
) -> Response {
    get_by_unique(s.store(), &property, &value)
}

async fn admin_insert(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    insert(s.store(), &body)
}

/// The served object types: `[{objectTypeId, name, requiredScope, count}]`.
async fn admin_object_types(State(s): State<Arc<Shared>>) -> Response {
    let types: Vec<serde_json::Value> = s
        .objects
        .all()
        .map(|e| {
            serde_json::json!({
                "objectTypeId": e.schema.type_id,
                "name": e.schema.name,
                "requiredScope": e.scope,
                "count": e.store.count(),
            })
        })
        .collect();
    json_ok(StatusCode::OK, &types)
}

/// Runs `f` on the store of `object_type`, or answers 404.
fn with_object(
    s: &Shared,
    object_type: &str,
    f: impl FnOnce(&ObjectEntry) -> Response,
) -> Response {
    match s.objects.resolve(object_type) {
        Some(e) => f(e),
        None => admin_error(
            StatusCode::NOT_FOUND,
            &format!("no object type {object_type:?} is served"),
        ),
    }
}

async fn admin_list_of(
    State(s): State<Arc<Shared>>,
    Path(object_type): Path<String>,
    Query(page): Query<Page>,
) -> Response {
    with_object(&s, &object_type, |e| list(&e.store, &page))
}

async fn admin_insert_of(
    State(s): State<Arc<Shared>>,
    Path(object_type): Path<String>,
    body: Bytes,
) -> Response {
    with_object(&s, &object_type, |e| insert(&e.store, &body))
}

async fn admin_properties_of(
    State(s): State<Arc<Shared>>,
    Path(object_type): Path<String>,
) -> Response {
    with_object(&s, &object_type, |e| {
        json_ok(StatusCode::OK, &e.schema.defs)
    })
}

async fn admin_count_of(State(s): State<Arc<Shared>>, Path(object_type): Path<String>) -> Response {
    with_object(&s, &object_type, |e| count(&e.store))
}

async fn admin_get_of(
    State(s): State<Arc<Shared>>,
    Path((object_type, object_id)): Path<(String, String)>,
) -> Response {
    with_object(&s, &object_type, |e| get_one(&e.store, &object_id))
}

async fn admin_get_by_unique_of(
    State(s): State<Arc<Shared>>,
    Path((object_type, property, value)): Path<(String, String, String)>,
) -> Response {
    with_object(&s, &object_type, |e| {
        get_by_unique(&e.store, &property, &value)
    })
}

async fn not_found(uri: axum::http::Uri) -> Response {
    let correlation = Uuid::new_v4();
    let message = format!("No route for {}", uri.path());
    let body = ApiErrorOut::new(&message, correlation, "OBJECT_NOT_FOUND").to_vec();
    respond(404, JSON, body, RateHeaders::default(), correlation)
}
