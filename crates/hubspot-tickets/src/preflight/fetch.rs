//! Reading the definitions: one request per object type ([`fetch_definitions`]), kept
//! for the run ([`DefinitionCache`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use hubspot_tickets_client::Error as GenError;

use super::definitions::PropertyDefinitions;
use crate::route::{ApiVersion, ObjectType};

/// Why the definitions could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PreflightErrorKind {
    /// 401: the token was refused.
    Auth,
    /// 403: the token may not read the object type's properties (a write-only scope,
    /// say). A caller that does not require the preflight skips it and says why.
    Forbidden,
    /// 404: the object type or version is not known there.
    NotFound,
    /// 429: the rate limit.
    RateLimited,
    /// Any other answer that is not a success (5xx included).
    Status,
    /// No answer (connection, timeout) or a body that could not be read.
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
    /// What happened, in words.
    pub message: String,
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
}

/// Reads every property definition of `object_type` with `client` (which carries the
/// token), from the properties operation of `version`: v3's path for v3, the dated
/// `2026-03` path for every dated version (HubSpot documents the properties API under
/// `2026-03`, and its answer has kept its shape).
pub async fn fetch_definitions(
    client: &hubspot_tickets_client::Client,
    version: ApiVersion,
    object_type: &ObjectType,
) -> Result<PropertyDefinitions, PreflightError> {
    let name = object_type.as_str();
    let answer = if version.is_legacy() {
        client.list_properties(name).await
    } else {
        client.list_properties_2026_03(name).await
    };
    let fail = |kind, status: Option<u16>, message: String| PreflightError {
        kind,
        status,
        object_type: name.to_owned(),
        message,
    };
    match answer {
        Ok(list) => Ok(PropertyDefinitions::from_list(&list.into_inner())),
        Err(GenError::UnexpectedResponse(resp)) => {
            let status = resp.status().as_u16();
            // The body is not read: a refusal's words add little here, and the status
            // decides what the caller does.
            let (kind, message) = match status {
                401 => (PreflightErrorKind::Auth, "the token was refused"),
                403 => (
                    PreflightErrorKind::Forbidden,
                    "the token may not read this object type's properties",
                ),
                404 => (
                    PreflightErrorKind::NotFound,
                    "the object type or API version is not known",
                ),
                429 => (PreflightErrorKind::RateLimited, "rate limited"),
                _ => (
                    PreflightErrorKind::Status,
                    "HubSpot did not answer with the list",
                ),
            };
            Err(fail(kind, Some(status), message.to_owned()))
        }
        Err(GenError::InvalidResponsePayload(_, e)) => Err(fail(
            PreflightErrorKind::Undecodable,
            None,
            format!("the answer is not a property list: {e}"),
        )),
        Err(GenError::ErrorResponse(value)) => Err(fail(
            PreflightErrorKind::Status,
            Some(value.status().as_u16()),
            "HubSpot did not answer with the list".to_owned(),
        )),
        Err(
            GenError::CommunicationError(e)
            | GenError::InvalidUpgrade(e)
            | GenError::ResponseBodyError(e),
        ) => Err(fail(
            PreflightErrorKind::Transport,
            e.status().map(|s| s.as_u16()),
            // reqwest's message names the URL, never headers: no token in it.
            e.without_url().to_string(),
        )),
        Err(GenError::InvalidRequest(why) | GenError::Custom(why)) => {
            Err(fail(PreflightErrorKind::Configuration, None, why))
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

    /// The definitions of `object_type`, read with `client` on first use.
    pub async fn get(
        &self,
        client: &hubspot_tickets_client::Client,
        version: ApiVersion,
        object_type: &ObjectType,
    ) -> Result<Arc<PropertyDefinitions>, PreflightError> {
        // Held across the fetch on purpose: one request per object type, however many
        // tasks ask at once (a run has few object types, so the wait is short).
        let mut entries = self.entries.lock().await;
        if let Some(found) = entries.get(object_type.as_str()) {
            return Ok(Arc::clone(found));
        }
        let defs = Arc::new(fetch_definitions(client, version, object_type).await?);
        entries.insert(object_type.as_str().to_owned(), Arc::clone(&defs));
        Ok(defs)
    }

    /// Definitions already at hand (a test, or a list read elsewhere).
    pub async fn insert(&self, object_type: &ObjectType, defs: PropertyDefinitions) {
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
    use hubspot_emulator::{Emulator, EmulatorConfig, PropertyDef};
    use hubspot_tickets_client::RequestHeaders;

    fn client(emu: &Emulator, token: &str) -> hubspot_tickets_client::Client {
        hubspot_tickets_client::Client::new_with_client(
            emu.base_url(),
            reqwest::Client::builder().no_proxy().build().unwrap(),
            RequestHeaders::bearer(token).unwrap(),
        )
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
        let c = client(&emu, "tok");
        for version in [ApiVersion::V3, ApiVersion::V2026_03, ApiVersion::V2026_09] {
            let defs = fetch_definitions(&c, version, &ObjectType::TICKETS)
                .await
                .unwrap();
            assert!(defs.get("external_ticket_id").unwrap().unique, "{version}");
            assert!(defs.get("score").unwrap().calculated);
            assert!(!defs.get("hs_object_id").unwrap().writable());
        }
        let cache = DefinitionCache::new();
        let a = cache
            .get(&c, ApiVersion::V3, &ObjectType::TICKETS)
            .await
            .unwrap();
        let b = cache
            .get(&c, ApiVersion::V3, &ObjectType::TICKETS)
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b), "read once");
        let contacts = cache
            .get(&c, ApiVersion::V3, &ObjectType::CONTACTS)
            .await
            .unwrap();
        assert!(contacts.get("email").unwrap().unique);

        let scoped = client(&emu, "contacts-only");
        let e = fetch_definitions(&scoped, ApiVersion::V3, &ObjectType::TICKETS)
            .await
            .unwrap_err();
        assert!(e.is_forbidden(), "{e}");
        assert_eq!(e.status, Some(403));
        let e = fetch_definitions(
            &client(&emu, "wrong-secret-token"),
            ApiVersion::V3,
            &ObjectType::TICKETS,
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind, PreflightErrorKind::Auth);
        assert!(!e.to_string().contains("wrong-secret-token"), "{e}");
        emu.shutdown().await.unwrap();
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
        let client = crate::Client::builder()
            .access_token("tok")
            .base_url(emu.base_url())
            .api_version(ApiVersion::V2026_09)
            .object_type(ObjectType::CONTACTS)
            .id_property("email")
            .build()
            .unwrap();
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
        let client = crate::Client::builder()
            .access_token("tok")
            .base_url(emu.base_url())
            .id_property("external_ticket_id")
            .build()
            .unwrap();
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
