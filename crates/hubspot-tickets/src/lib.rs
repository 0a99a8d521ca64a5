//! Upsert any number of HubSpot tickets (or contacts, companies, deals, custom
//! objects), safely, under HubSpot's legacy `v3` or dated API versions.
//!
//! This crate wraps the generated [`hubspot_tickets_client`] (re-exported as
//! [`generated`]) with what real workloads need: batches of at most 100, a rate
//! limiter that keeps to HubSpot's rolling window without collecting 429s, retries of
//! exactly what is safe to retry, and one outcome per input record — created,
//! updated, failed with HubSpot's reason, or not attempted.
//!
//! # Connect
//!
//! ```no_run
//! use std::time::Duration;
//! use hubspot_tickets::{Client, RateLimit, RetryPolicy, Tier};
//!
//! # fn main() -> Result<(), hubspot_tickets::Error> {
//! let client = Client::builder()
//!     .access_token_from_env()                      // HUBSPOT_ACCESS_TOKEN
//!     .id_property("external_ticket_id")            // your unique ticket property
//!     .rate_limit(RateLimit::tier(Tier::Professional))
//!     .retry(RetryPolicy::default().max_attempts(6))
//!     .max_concurrency(8)
//!     .attempt_timeout(Duration::from_secs(30))
//!     .build()?;
//! # let _ = client; Ok(()) }
//! ```
//!
//! The token is an [`AccessToken`](config::AccessToken): it never appears in `Debug` output, errors or
//! logs. `http://` base URLs are refused except for loopback (an emulator) unless
//! [`ClientBuilder::allow_insecure_http`] says otherwise. The client is cheap to
//! clone, and clones share the connection pool and the rate limiter.
//!
//! # Choose the API version and object type
//!
//! `v3` tickets by default; any CRM object type and HubSpot's dated versions by
//! configuration. [`ApiVersion`](config::ApiVersion) and [`ObjectType`](config::ObjectType) are checked when parsed, so nothing a
//! user passes can change the request path outside `/crm/`.
//!
//! ```no_run
//! use hubspot_tickets::Client;
//! use hubspot_tickets::config::{ApiVersion, ObjectType};
//!
//! # fn main() -> Result<(), hubspot_tickets::Error> {
//! let client = Client::builder()
//!     .access_token_from_env()
//!     .api_version("2026-09".parse::<ApiVersion>()?) // partial failures in the 200 body
//!     .object_type(ObjectType::CONTACTS)
//!     .id_property("email")
//!     .build()?;
//! assert_eq!(client.path(), "/crm/objects/2026-09/contacts/batch/upsert");
//! # Ok(()) }
//! ```
//!
//! # Upsert one batch from a struct
//!
//! ```no_run
//! use hubspot_tickets::{Client, Outcome, RecordInput};
//!
//! #[derive(serde::Serialize)]
//! struct Ticket {
//!     subject: String,
//!     hs_pipeline_stage: u32,           // sent as "1"
//!     closed_date: Option<chrono::NaiveDate>, // epoch ms at midnight UTC; None left out
//!     tags: Vec<String>,                // multi-select: "a;b"
//! }
//!
//! # async fn run(client: Client) -> Result<(), hubspot_tickets::Error> {
//! let t = Ticket { subject: "Printer jams".into(), hs_pipeline_stage: 1,
//!                  closed_date: None, tags: vec!["printer".into()] };
//! let batch = vec![
//!     RecordInput::from_serialize("ZD-1", &t)?,
//!     RecordInput::new("ZD-2").property("subject", "Refund").property("hs_pipeline_stage", 2),
//! ];
//! let outcome = client.upsert_batch(batch).await?;
//! for r in &outcome.records {
//!     match &r.outcome {
//!         Outcome::Created { object_id } => println!("{} created as {object_id}", r.id),
//!         Outcome::Updated { object_id } => println!("{} updated ({object_id})", r.id),
//!         other => println!("{} not written: {}", r.id, other.failure().map(ToString::to_string).unwrap_or_default()),
//!     }
//! }
//! println!("HTTP {:?}, {} raw errors", outcome.status, outcome.errors.len());
//! # Ok(()) }
//! ```
//!
//! [`to_properties`](records::to_properties) documents how Rust values become HubSpot's string values.
//!
//! # Upsert any number of records from a stream, with progress
//!
//! [`Client::bulk_upsert`] takes any `futures::Stream` (or
//! [`Client::bulk_upsert_iter`] any iterator) of inputs, sends them in concurrent
//! batches of up to 100 and yields each input's [`RecordOutcome`] as soon as it is
//! known. Memory stays bounded by the work in flight, so a million records are fine.
//!
//! ```no_run
//! use futures::StreamExt;
//! use hubspot_tickets::{Client, Outcome, Progress, RecordInput};
//!
//! # async fn run(client: Client) {
//! let inputs = futures::stream::iter(0..25_000)
//!     .map(|i| RecordInput::new(format!("ZD-{i}")).property("subject", format!("Ticket {i}")));
//! let progress = Progress::new();
//! let mut outcomes = client.bulk_upsert(inputs).with_progress(progress.clone()).outcomes();
//! let ticker = {
//!     let progress = progress.clone();
//!     tokio::spawn(async move {
//!         loop {
//!             tokio::time::sleep(std::time::Duration::from_secs(1)).await;
//!             let s = progress.snapshot();
//!             eprintln!("{}/{} done, {:.0} records/s, {} retries, {} x 429",
//!                       s.done(), s.read, s.records_per_second(), s.retries, s.rate_limited);
//!         }
//!     })
//! };
//! while let Some(r) = outcomes.next().await {
//!     if let Outcome::Failed { reason } | Outcome::NotAttempted { reason } = &r.outcome {
//!         eprintln!("record {} ({}): {reason}", r.position, r.id);
//!     }
//! }
//! ticker.abort();
//! println!("{:?}", outcomes.summary());
//! # }
//! ```
//!
//! # Read the report
//!
//! For small runs, [`BulkUpsert::report`](bulk::BulkUpsert::report) collects every outcome, sorted by
//! position, with a [`Counts`]:
//!
//! ```no_run
//! # use hubspot_tickets::{Client, ErrorKind, RecordInput};
//! # async fn run(client: Client, inputs: Vec<RecordInput>) {
//! let report = client.bulk_upsert_iter(inputs).report().await;
//! let s = &report.summary;
//! println!("{} created, {} updated, {} failed, {} not attempted in {:?}",
//!          s.created, s.updated, s.failed, s.not_attempted, s.elapsed);
//! if let Some(why) = &s.stopped {
//!     println!("stopped early: {why}");        // e.g. the daily limit
//! }
//! for r in report.not_written() {
//!     let f = r.outcome.failure().expect("not written has a reason");
//!     if f.kind == ErrorKind::Validation {
//!         println!("fix record {} ({}): {}", r.position, r.id, f.message);
//!     } else if f.is_retryable() {
//!         println!("send record {} again later", r.id);
//!     }
//! }
//! # }
//! ```
//!
//! # Check records against the portal first
//!
//! [`Client::property_definitions`] reads the object type's property definitions (one
//! request, through the limiter and retries); a [`Preflight`](preflight::Preflight)
//! made from them refuses, before any write, a run whose `idProperty` or columns do not
//! exist, and [`BulkUpsert::preflight`](bulk::BulkUpsert::preflight) keeps back each
//! record HubSpot would refuse (an unknown or read-only property, a value of the wrong
//! type, an option's label instead of its value) as a `Failed` outcome of kind
//! [`ErrorKind::InvalidInput`] whose reason says how to fix it, and sends the rest.
//!
//! ```
//! use std::sync::Arc;
//! use hubspot_tickets::{Client, RecordInput};
//! use hubspot_tickets::preflight::Preflight;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let emulator = hubspot_emulator::Emulator::start(
//! #     hubspot_emulator::EmulatorConfig::default().with_token("pat-na1-example")).await?;
//! let client = Client::builder()
//!     .access_token("pat-na1-example")
//! #   .base_url(emulator.base_url())
//!     .id_property("external_ticket_id")
//!     .build()?;
//! let definitions = Arc::new(client.property_definitions().await?);
//! // The columns every record may carry: an unknown one stops here, named.
//! let preflight = Preflight::new(definitions, client.id_property(), ["subject", "hs_pipeline_stage"])?;
//! let records = vec![
//!     RecordInput::new("ZD-1").property("subject", "Printer").property("hs_pipeline_stage", "4"),
//!     RecordInput::new("ZD-2").property("hs_pipeline_stage", "Closed"), // a label, not a value
//! ];
//! let (counts, _unread) = client.bulk_upsert_iter(records).preflight(preflight).summary().await;
//! assert_eq!((counts.created, counts.failed), (1, 1)); // ZD-2 was never sent
//! # emulator.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! # Stop a run without losing input
//!
//! A run stopped by [`BulkUpsert::with_cancellation`](bulk::BulkUpsert::with_cancellation), its deadline or a run-stopping
//! error (the daily limit, a refused token) starts no new request and accounts for every
//! input: the rest of a finite input (a `Vec`, a range...) is reported `NotAttempted`,
//! and the rest of one of unknown length is handed back as [`bulk::Unread`].
//!
//! # Resume a stopped run
//!
//! [`BulkUpsert::return_inputs`](bulk::BulkUpsert::return_inputs) hands each input back in its outcome, so records not
//! written can be sent again without a copy. To finish a run that was stopped or killed
//! without writing anything twice, keep each written record's id, [`Fingerprint`](resume::Fingerprint) and
//! position, and on the next run ask [`Resume::decide`](resume::Resume::decide) which records to send: it skips
//! what was written with the same content, and records a later write of their id
//! superseded (the `resume_run` example; the CLI's `--resume`).
//!
//! # Use the generated client directly
//!
//! Everything the facade does not cover is one call away: the generated types are
//! re-exported in [`types`], and [`Client::generated`] gives the progenitor client
//! (same connection pool and token; no facade retries or rate limiting), and
//! [`classify_response`](error::classify_response) judges its raw answers the way the facade does.
//!
//! ```no_run
//! use hubspot_tickets::{Client, types};
//!
//! # async fn run(client: Client) -> Result<(), Box<dyn std::error::Error>> {
//! let body = types::TicketUpsertBatch {
//!     inputs: vec![types::TicketUpsertInput {
//!         id: "ZD-1".into(),
//!         id_property: Some("external_ticket_id".into()),
//!         object_write_trace_id: None,
//!         properties: [("subject".to_owned(), "Raw call".to_owned())].into(),
//!     }],
//! };
//! match client.generated().batch_upsert_tickets(&body).await {
//!     Ok(answer) => println!("HTTP {}: {} results", answer.status(), answer.results.len()),
//!     Err(hubspot_tickets::generated::Error::UnexpectedResponse(resp)) => {
//!         // Judge the raw answer exactly as the facade does.
//!         let (status, headers) = (resp.status(), resp.headers().clone());
//!         let body = resp.bytes().await?;
//!         if let Err(e) = hubspot_tickets::error::classify_response(status, &headers, &body) {
//!             println!("{e} (retryable: {}, wait: {:?})", e.is_retryable(), e.retry_after());
//!         }
//!     }
//!     Err(e) => println!("{e}"),
//! }
//! # Ok(()) }
//! ```
//!
//! # What is retried
//!
//! See [`RetryPolicy`]: 5xx, 408, timeouts and connection errors with exponential
//! backoff and full jitter; rolling-window 429s after `Retry-After` or the window;
//! never a `DAILY` 429 (it stops the run) nor any other 4xx. A whole-batch 400/409 is
//! bisected to isolate the inputs at fault ([`ClientBuilder::bisect_rejected_batches`]).
//!
//! # Where things are
//!
//! The crate root holds what a first program names: [`Client`], [`ClientBuilder`],
//! [`RecordInput`], [`Outcome`], [`RecordOutcome`], [`BulkReport`], [`Counts`],
//! [`Progress`], [`Error`], [`ErrorKind`], [`RateLimit`], [`Tier`], [`RetryPolicy`] and
//! [`Journal`]. The rest is in modules: [`config`] (API version, object type, token,
//! limits), [`bulk`] (a bulk run's settings, its outcome stream, cancellation),
//! [`outcomes`], [`records`] (value conversion), [`error`] (per-record failures, the
//! answer classifier), [`journal`] and [`resume`] (finishing a stopped run), and
//! [`cli_support`] (the checks a tool reading files applies).
//!
//! # Observability
//!
//! `tracing` spans `hubspot_tickets.batch` (records, first position) and
//! `hubspot_tickets.attempt` (attempt, records, wait_ms, status, correlation_id).
//! Neither the token nor property values are ever recorded.

pub mod auth;
mod builder;
pub mod bulk;
mod client;
pub mod config;
mod engine;
pub mod error;
pub mod journal;
mod limiter;
pub mod outcomes;
pub mod preflight;
pub mod records;
pub mod resume;
mod route;
mod secret;

// The root keeps what a first program names; everything else is in the modules above.
pub use builder::ClientBuilder;
pub use client::Client;
pub use config::{RateLimit, RetryPolicy, Tier};
pub use error::{Error, ErrorKind};
pub use journal::Journal;
pub use outcomes::{BulkReport, Counts, Outcome, Progress, RecordOutcome};
pub use records::RecordInput;
/// The old name of [`RecordInput`], from when the client wrote only tickets.
#[deprecated(note = "renamed RecordInput: it is the input for every object type")]
pub type TicketInput = RecordInput;

/// Locks `m`, whether or not a holder panicked: every value the crate keeps under a
/// lock is whole between statements, so a panic elsewhere must not stop the others.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The generated progenitor client crate.
pub use hubspot_tickets_client as generated;
/// The generated wire types (`TicketUpsertBatch`, `UpsertedTicket`, `ApiError`...).
pub use hubspot_tickets_client::types;

/// What a tool reading records from files needs beyond the client: the facade's own
/// checks on ids, property names and values read as text, with typed errors, and a
/// JSON object read as a record by the same rules as every other way in. They are
/// stricter than [`RecordInput::validate`] on property names: a file's column that is
/// not a HubSpot internal name (`Ticket Title`) is most likely a header to map, and is
/// named before anything is sent, whereas a program's name goes to HubSpot, which
/// refuses it per record.
pub mod cli_support {
    pub use crate::records::json::{JsonRecordError, JsonRecordErrorKind, from_json_record};
    pub use crate::records::values::{
        FieldError, MAX_PROPERTY_NAME_CHARS, MAX_VALUE_CHARS, check_id, check_property_name,
        check_property_value,
    };
}

/// The workspace README's Rust examples, compiled as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// The facade README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct FacadeReadmeDoctests;
