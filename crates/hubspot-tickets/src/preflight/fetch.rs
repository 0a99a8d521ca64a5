//! Reading the definitions: one request per object type ([`read`], through the
//! client's limiter and retries), kept for the run ([`DefinitionCache`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tracing::warn;

use super::definitions::PropertyDefinitions;
use crate::engine::Engine;
use crate::engine::policy::{self, Verdict};
use crate::engine::response::classify_error;
use crate::engine::transport::Answer;
use crate::error::{Error, ErrorKind};

/// Why the definitions could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PreflightErrorKind {
    /// 401 (or no token to be had): the token was refused.
    Auth,
    /// 403: the token may not read the object type's properties (a write-only scope,
    /// say). A caller that does not require the preflight skips it and says why.
    Forbidden,
    /// 404: the object type or version is not known there.
    NotFound,
    /// 429 or 423 after every wait the client's retry policy allows, or the daily limit.
    RateLimited,
    /// Any other answer that is not a success (5xx after every retry included).
    Status,
    /// No answer (connection, timeout) after every retry.
    Transport,
    /// A success whose body is not a property list.
    Undecodable,
    /// The request could not be built.
    Configuration,
}

/// The properties operation failed; nothing was written. Never carries the token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct PreflightError {
    /// What kind of failure.
    pub kind: PreflightErrorKind,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// The object type whose definitions were asked for.
    pub object_type: String,
    /// What happened, in words (HubSpot's message when it gave one).
    pub message: String,
    /// HubSpot's correlation id for the last answer, when it gave one.
    pub correlation_id: Option<String>,
}

impl fmt::Display for PreflightError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "reading the {} property definitions failed",
            self.object_type
        )?;
        if let Some(status) = self.status {
            write!(f, " ({status})")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl PreflightError {
    /// Whether the token lacks the scope to read properties: the one failure after
    /// which a run may go on without a preflight (saying so), unless it is required.
    pub fn is_forbidden(&self) -> bool {
        self.kind == PreflightErrorKind::Forbidden
    }

    fn from_error(err: &Error, object_type: &str) -> Self {
        let kind = match (err.kind(), err.status()) {
            (ErrorKind::Auth, _) | (_, Some(401)) => PreflightErrorKind::Auth,
            (_, Some(403)) => PreflightErrorKind::Forbidden,
            (_, Some(404)) => PreflightErrorKind::NotFound,
            (ErrorKind::RateLimited | ErrorKind::RateLimitedDaily | ErrorKind::Locked, _) => {
                PreflightErrorKind::RateLimited
            }
            (ErrorKind::Timeout | ErrorKind::Transport, _) => PreflightErrorKind::Transport,
            (ErrorKind::Decode, _) => PreflightErrorKind::Undecodable,
            (ErrorKind::Configuration, None) => PreflightErrorKind::Configuration,
            _ => PreflightErrorKind::Status,
        };
        let message = match kind {
            PreflightErrorKind::Forbidden => format!(
                "the token may not read this object type's properties ({})",
                err.message()
            ),
            _ => err.message().to_owned(),
        };
        Self {
            kind,
            status: err.status(),
            object_type: object_type.to_owned(),
            message,
            correlation_id: err.correlation_id().map(str::to_owned),
        }
    }
}

/// Reads every property definition of the engine's object type: one request (v3's
/// path for v3, the dated `2026-03` path for every dated version), with the token the
/// next write would carry, through the same limiter as the writes (HubSpot counts it in
/// the same window) and retried as a batch would be ([`policy::after_failure`]
/// decides: 429 and 423 pause every request, 5xx and timeouts back off).
pub(crate) async fn read(engine: &Engine) -> Result<PropertyDefinitions, PreflightError> {
    let route = &engine.settings.route;
    let object_type = route.object_type.as_str();
    let retry = &engine.settings.retry;
    let mut tally = policy::Tally::default();
    let mut last_answer = Instant::now();
    loop {
        let token = engine
            .next_token()
            .await
            .map_err(|e| PreflightError::from_error(&e, object_type))?;
        let permit = engine.limiter.acquire().await;
        let timeout = engine.settings.attempt_timeout;
        let answer = tokio::time::timeout(timeout, engine.transport.properties(route, &token))
            .await
            .map_err(|_| {
                Error::new(
                    ErrorKind::Timeout,
                    format!("no answer within {} ms", timeout.as_millis()),
                )
            });
        let err = match answer {
            Err(e) | Ok(Err(e)) => e,
            Ok(Ok(Answer::Success { headers, body, .. })) => {
                engine.limiter.observe(&headers, permit.sent());
                if body.results.is_empty() {
                    // Every object type has properties: an empty list is a list that
                    // cannot be checked against, not a portal where nothing exists.
                    return Err(PreflightError {
                        kind: PreflightErrorKind::Undecodable,
                        status: None,
                        object_type: object_type.to_owned(),
                        message: "HubSpot listed no properties: there is nothing to check against"
                            .to_owned(),
                        correlation_id: None,
                    });
                }
                return Ok(PropertyDefinitions::from_list(&body));
            }
            Ok(Ok(Answer::Undecodable { status, error, .. })) => {
                last_answer = Instant::now();
                let e = Error::new(
                    ErrorKind::Decode,
                    format!("the answer is not a property list: {error}"),
                );
                match status {
                    Some(s) => e.with_status(s.as_u16()),
                    None => e,
                }
            }
            Ok(Ok(Answer::Other(raw))) => {
                last_answer = Instant::now();
                engine.limiter.observe(&raw.headers, permit.sent());
                classify_error(raw.status, &raw.headers, &raw.body, Some(&token))
            }
        };
        drop(permit);
        let kind = err.kind();
        tally.count(kind);
        let standing = tally
            .standing(kind, last_answer.elapsed(), engine.limiter.interval(), None)
            .counted(engine.limiter.counted());
        let met = policy::Met {
            kind,
            retry_after: err.retry_after(),
        };
        match policy::after_failure(met, standing, retry, |d| retry.jittered(d)) {
            Verdict::PauseAll { wait } => {
                // Said at the default verbosity: nothing else is on screen yet.
                warn!(reason = %err, wait_ms = wait.as_millis(), "reading the property definitions: waiting, then trying again");
                if kind == ErrorKind::Locked {
                    engine.limiter.locked(Instant::now() + wait);
                } else {
                    engine.limiter.pause_until(Instant::now() + wait);
                }
            }
            Verdict::Retry { wait, .. } => {
                warn!(reason = %err, wait_ms = wait.as_millis(), "reading the property definitions: trying again");
                tokio::time::sleep(wait.min(Duration::from_secs(60))).await;
            }
            Verdict::Refused
            | Verdict::StopRun
            | Verdict::GiveUp
            | Verdict::Deadline
            | Verdict::Silent => return Err(PreflightError::from_error(&err, object_type)),
        }
    }
}

/// Definitions read once per object type and kept for the run: the first caller for a
/// type fetches them while later callers for the same type wait and share the answer
/// (a run checks every record against the same list). A failure is not kept, so a
/// later call tries again.
#[derive(Debug, Default)]
pub struct DefinitionCache {
    entries: tokio::sync::Mutex<HashMap<String, Arc<PropertyDefinitions>>>,
}

impl DefinitionCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The definitions of `client`'s object type, read with it on first use
    /// ([`Client::property_definitions`](crate::Client::property_definitions)).
    pub async fn get(
        &self,
        client: &crate::Client,
    ) -> Result<Arc<PropertyDefinitions>, PreflightError> {
        let object_type = client.object_type();
        // Held across the fetch on purpose: one request per object type, however many
        // tasks ask at once (a run has few object types, so the wait is short).
        let mut entries = self.entries.lock().await;
        if let Some(found) = entries.get(object_type.as_str()) {
            return Ok(Arc::clone(found));
        }
        let defs = Arc::new(client.property_definitions().await?);
        entries.insert(object_type.as_str().to_owned(), Arc::clone(&defs));
        Ok(defs)
    }

    /// Definitions already at hand (a test, or a list read elsewhere).
    pub async fn insert(&self, object_type: &crate::route::ObjectType, defs: PropertyDefinitions) {
        self.entries
            .lock()
            .await
            .insert(object_type.as_str().to_owned(), Arc::new(defs));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::route::{ApiVersion, ObjectType};
    use hubspot_emulator::{Emulator, EmulatorConfig, PropertyDef};

    fn client(
        emu: &Emulator,
        token: &str,
        version: ApiVersion,
        object_type: ObjectType,
    ) -> crate::Client {
        client_at(emu.base_url(), token, version, object_type, 2)
    }

    /// A client of `base` for `object_type` by its usual unique property, retrying
    /// `attempts` times 10 ms apart.
    fn client_at(
        base: &str,
        token: &str,
        version: ApiVersion,
        object_type: ObjectType,
        attempts: u32,
    ) -> crate::Client {
        crate::Client::builder()
            .access_token(token)
            .base_url(base)
            .api_version(version)
            .id_property(if object_type == ObjectType::CONTACTS {
                "email"
            } else {
                "external_ticket_id"
            })
            .object_type(object_type)
            .retry(
                crate::RetryPolicy::default()
                    .max_attempts(attempts)
                    .initial_backoff(Duration::from_millis(10)),
            )
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn reads_the_emulators_list_once_per_object_type() {
        let emu = Emulator::start(
            EmulatorConfig::default()
                .without_rate_limits()
                .with_token("tok")
                .with_token_scopes("contacts-only", ["crm.objects.contacts.write"])
                .with_property(PropertyDef::number("score").calculated()),
        )
        .await
        .unwrap();
        for version in [ApiVersion::V3, ApiVersion::V2026_03, ApiVersion::V2026_09] {
            let defs = client(&emu, "tok", version, ObjectType::TICKETS)
                .property_definitions()
                .await
                .unwrap();
            assert!(defs.get("external_ticket_id").unwrap().unique, "{version}");
            assert!(defs.get("score").unwrap().calculated);
            assert!(!defs.get("hs_object_id").unwrap().writable());
        }
        let tickets = client(&emu, "tok", ApiVersion::V3, ObjectType::TICKETS);
        let cache = DefinitionCache::new();
        let a = cache.get(&tickets).await.unwrap();
        let b = cache.get(&tickets).await.unwrap();
        assert!(Arc::ptr_eq(&a, &b), "read once");
        let contacts = cache
            .get(&client(&emu, "tok", ApiVersion::V3, ObjectType::CONTACTS))
            .await
            .unwrap();
        assert!(contacts.get("email").unwrap().unique);

        let scoped = client(&emu, "contacts-only", ApiVersion::V3, ObjectType::TICKETS);
        let e = scoped.property_definitions().await.unwrap_err();
        assert!(e.is_forbidden(), "{e}");
        assert_eq!(e.status, Some(403));
        let e = client(
            &emu,
            "wrong-secret-token",
            ApiVersion::V3,
            ObjectType::TICKETS,
        )
        .property_definitions()
        .await
        .unwrap_err();
        assert_eq!(e.kind, PreflightErrorKind::Auth);
        assert!(!e.to_string().contains("wrong-secret-token"), "{e}");
        assert!(e.correlation_id.is_some(), "{e:?}");
        emu.shutdown().await.unwrap();
    }

    /// The read is one more request in HubSpot's window: a 429 pauses it and a 503
    /// backs it off, like a batch; a server that keeps failing ends in a typed error.
    #[tokio::test]
    async fn the_read_is_retried_like_a_batch() {
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        let list = serde_json::json!({"results": [
            {"name": "subject", "type": "string"},
            {"name": "external_ticket_id", "type": "string", "hasUniqueValue": true}
        ]});
        Mock::given(method("GET"))
            .and(path("/crm/v3/properties/tickets"))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("Retry-After", "0")
                    .set_body_json(serde_json::json!({
                        "status": "error", "message": "You have reached your ten_secondly_rolling limit.",
                        "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING",
                        "correlationId": "c-1", "category": "RATE_LIMITS"})),
            )
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/crm/v3/properties/tickets"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/crm/v3/properties/tickets"))
            .respond_with(ResponseTemplate::new(200).set_body_json(list))
            .mount(&server)
            .await;
        let c = client_at(&server.uri(), "tok", ApiVersion::V3, ObjectType::TICKETS, 5);
        let defs = c.property_definitions().await.unwrap();
        assert!(defs.get("external_ticket_id").unwrap().unique);
        assert_eq!(server.received_requests().await.unwrap().len(), 3);

        let failing = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(502))
            .mount(&failing)
            .await;
        let c = client_at(
            &failing.uri(),
            "tok",
            ApiVersion::V3,
            ObjectType::TICKETS,
            3,
        );
        let e = c.property_definitions().await.unwrap_err();
        assert_eq!((e.kind, e.status), (PreflightErrorKind::Status, Some(502)));
        assert_eq!(failing.received_requests().await.unwrap().len(), 3);
    }

    /// The facade's own call: the client's object type and version, its token.
    #[tokio::test]
    async fn the_client_reads_its_object_types_definitions() {
        let emu = Emulator::start(
            EmulatorConfig::default()
                .without_rate_limits()
                .with_token("tok"),
        )
        .await
        .unwrap();
        let client = client(&emu, "tok", ApiVersion::V2026_09, ObjectType::CONTACTS);
        let defs = client.property_definitions().await.unwrap();
        assert!(defs.get("email").unwrap().unique);
        assert!(
            defs.get("external_ticket_id").is_none(),
            "contacts, not tickets"
        );
        emu.shutdown().await.unwrap();
    }

    /// A bulk run with a preflight: the records the portal would refuse are reported
    /// invalid with their reasons and never sent; the rest are written.
    #[tokio::test]
    async fn a_bulk_run_sends_only_what_passes_the_preflight() {
        use crate::preflight::Preflight;
        use crate::{ErrorKind, Outcome, RecordInput};
        let emu = Emulator::start(
            EmulatorConfig::default()
                .without_rate_limits()
                .with_token("tok"),
        )
        .await
        .unwrap();
        let client = client(&emu, "tok", ApiVersion::V3, ObjectType::TICKETS);
        let defs = Arc::new(client.property_definitions().await.unwrap());
        let columns = ["subject", "hs_pipeline_stage", "time_to_close"];
        let preflight = Preflight::new(defs, client.id_property(), columns).unwrap();
        let records = vec![
            RecordInput::new("ok-1").property("subject", "Printer"),
            RecordInput::new("bad-1").property("hs_pipeline_stage", "Closed"),
            RecordInput::new("bad-2").property("time_to_close", "3"),
            RecordInput::new("ok-2").property("hs_pipeline_stage", "4"),
        ];
        let report = client
            .bulk_upsert_iter(records)
            .preflight(preflight)
            .report()
            .await;
        let outcomes: Vec<_> = report
            .outcomes
            .iter()
            .map(|o| (o.id.as_str(), &o.outcome))
            .collect();
        assert!(
            outcomes[0].1.is_written() && outcomes[3].1.is_written(),
            "{outcomes:?}"
        );
        for (id, outcome) in [outcomes[1], outcomes[2]] {
            let Outcome::Failed { reason } = outcome else {
                panic!("{id}: {outcome:?}")
            };
            assert_eq!(reason.kind, ErrorKind::InvalidInput, "{id}");
        }
        let Outcome::Failed { reason } = outcomes[1].1 else {
            panic!()
        };
        assert!(
            reason.message.contains("label of option \"4\""),
            "{}",
            reason.message
        );
        assert_eq!(
            report.summary.requests, 1,
            "one batch, the invalid records left out"
        );
        assert_eq!(emu.tickets().count(), 2);
        assert!(
            emu.tickets()
                .get_by_unique("external_ticket_id", "bad-1")
                .is_none()
        );
        emu.shutdown().await.unwrap();
    }
}
