//! The client handle: what a user calls. It owns nothing but a handle on the engine
//! (and the generated client for raw calls) and turns calls into engine work.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::bulk::BulkUpsert;
use crate::bulk::batcher::Batcher;
use crate::engine::{Engine, MAX_BATCH, Op, run_job};
use crate::error::Error;
use crate::limiter::RateLimitStatus;
use crate::outcomes::progress::Progress;
use crate::outcomes::{BatchOutcome, Outcome, RecordOutcome};
use crate::records::RecordInput;
use crate::route::{ApiVersion, ObjectType};

/// The HubSpot batch upsert client (tickets by default; any object type and API
/// version by configuration). Cheap to clone; clones share one connection
/// pool and one rate limiter.
#[derive(Clone)]
pub struct Client {
    engine: Arc<Engine>,
    generated: Arc<hubspot_tickets_client::Client>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url())
            .field("path", &self.path())
            .field("id_property", &self.engine.settings.id_property)
            .field("max_concurrency", &self.engine.settings.max_concurrency)
            .field("token_source", &self.engine.auth.source)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub(crate) fn new(engine: Engine, generated: hubspot_tickets_client::Client) -> Self {
        Self {
            engine: Arc::new(engine),
            generated: Arc::new(generated),
        }
    }

    /// The base URL requests go to (no trailing slash).
    pub fn base_url(&self) -> &str {
        hubspot_tickets_client::ClientInfo::baseurl(&*self.generated)
    }

    /// The API version called.
    pub fn api_version(&self) -> ApiVersion {
        self.engine.settings.route.version
    }

    /// The object type written.
    pub fn object_type(&self) -> &ObjectType {
        &self.engine.settings.route.object_type
    }

    /// The path each batch is sent to, e.g. `/crm/v3/objects/tickets/batch/upsert`.
    pub fn path(&self) -> String {
        self.engine.settings.route.path()
    }

    /// The default `idProperty`.
    pub fn id_property(&self) -> &str {
        &self.engine.settings.id_property
    }

    /// The limiter's current view: effective limit, requests in the window, and the
    /// last `X-HubSpot-RateLimit-*` headers seen (including the daily ones).
    pub fn rate_limit_status(&self) -> RateLimitStatus {
        self.engine.limiter.status()
    }

    /// How many times the token source gave a new token in place of an earlier one
    /// (an OAuth renewal, a rotated token file); 0 for a fixed token. See
    /// [`auth`](crate::auth).
    pub fn token_renewals(&self) -> u64 {
        self.engine.auth.source.renewals()
    }

    /// The generated progenitor client the facade sends its requests through, for
    /// anything the facade does not cover. It shares this client's connection pool and
    /// carries the token and user agent (its pre-request hook adds them, also when you
    /// supplied the `reqwest::Client`); with a [`token_source`], it carries the user
    /// agent only (the token changes: set it in its `RequestHeaders`). Raw calls bypass the facade's rate limiter,
    /// retries and per-record accounting.
    ///
    /// [`token_source`]: crate::ClientBuilder::token_source
    pub fn generated(&self) -> &hubspot_tickets_client::Client {
        &self.generated
    }

    /// The property definitions of the client's object type, read from HubSpot's
    /// properties operation with the token the next write would carry: one request,
    /// through the client's rate limiter and retried like a batch (429 and 423 wait,
    /// 5xx and timeouts back off). Each call reads them again; see
    /// [`preflight`](crate::preflight) for checking records against them and for a
    /// cache that reads each object type once per run.
    pub async fn property_definitions(
        &self,
    ) -> Result<crate::preflight::PropertyDefinitions, crate::preflight::PreflightError> {
        crate::preflight::fetch::read(&self.engine).await
    }

    /// Creates or updates up to 100 tickets (retried as configured).
    ///
    /// Every input gets a unique `objectWriteTraceId` if it lacks one, so that HubSpot
    /// reports per-input failures (207) instead of refusing the batch; the answer is
    /// mapped back to one [`RecordOutcome`] per input, in input order. Inputs that
    /// cannot be sent (empty id, NaN...) are `Failed` without a request. A whole-batch
    /// 400/409 is bisected to isolate the inputs at fault (see
    /// [`ClientBuilder::bisect_rejected_batches`](crate::builder::ClientBuilder::bisect_rejected_batches)).
    ///
    /// Repeated ids are treated as in a bulk run: one request cannot write a ticket
    /// twice, so the repeats go in follow-up requests, in input order, and the last
    /// input wins; each repeat's [`RecordOutcome::repeat_of`] names the input it
    /// follows.
    ///
    /// # Errors
    /// * [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput): more than 100 inputs;
    /// * when the call's one request was refused as a whole and not split (auth,
    ///   forbidden, daily limit, validation of a one-input batch, 5xx/timeouts/connection
    ///   errors after every retry...). With repeated ids (several requests) outcomes are
    ///   always per record.
    pub fn upsert_batch<I, T>(
        &self,
        inputs: I,
    ) -> impl Future<Output = Result<BatchOutcome, Error>> + Send + 'static
    where
        I: IntoIterator<Item = T>,
        T: Into<RecordInput>,
    {
        let engine = Arc::clone(&self.engine);
        let prepared = prepare_batch(&engine, inputs);
        async move {
            let Prepared {
                mut batcher,
                mut records,
                repeats,
            } = prepared?;
            let deadline = engine.settings.deadline;
            let mut op = Op::new(engine, deadline, None, Progress::new());
            op.keep_answers = true;
            let mut out = BatchOutcome::default();
            // Without repeats the call is one request, whose refusal is the call's.
            let single = repeats.is_empty();
            loop {
                let batch = batcher.take();
                if batch.job.inputs.is_empty() {
                    break;
                }
                let mut res = run_job(&op, batch.job).await;
                if single && let Some(e) = res.whole_error {
                    return Err(e);
                }
                records.append(&mut res.outcomes);
                out.results.append(&mut res.raw.results);
                out.errors.append(&mut res.raw.errors);
                if res.raw.status.is_some() {
                    out.status = res.raw.status;
                    out.headers = res.raw.headers;
                }
                out.requests += res.requests;
                // The repeats waiting for these ids go next, in input order.
                batcher.release(batch.keys);
            }
            // One outcome per input: sorted, the outcome of input `p` is `records[p]`.
            records.sort_by_key(|r| r.position);
            for (position, earlier) in repeats {
                if let Some(r) = usize::try_from(position)
                    .ok()
                    .and_then(|p| records.get_mut(p))
                {
                    r.repeat_of = Some(earlier);
                }
            }
            out.records = records;
            Ok(out)
        }
    }

    /// Upserts any number of records from a `futures::Stream` (see [`BulkUpsert`]).
    pub fn bulk_upsert<'a, S>(&self, inputs: S) -> BulkUpsert<'a>
    where
        S: futures::Stream + Send + 'a,
        S::Item: Into<RecordInput>,
    {
        use futures::StreamExt;
        let hint = inputs.size_hint();
        let total = hint.1.filter(|hi| *hi == hint.0).map(|n| n as u64);
        BulkUpsert::new(
            Arc::clone(&self.engine),
            Box::pin(inputs.map(Into::into)),
            total,
        )
    }

    /// Upserts any number of records from an iterator (see [`BulkUpsert`]).
    pub fn bulk_upsert_iter<'a, I>(&self, inputs: I) -> BulkUpsert<'a>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'a,
        I::Item: Into<RecordInput>,
    {
        self.bulk_upsert(futures::stream::iter(inputs))
    }
}

/// One call's inputs, ready: the batcher holding them (the one that orders a bulk
/// run's repeated ids: first occurrences first, then each repeat once the write
/// before it is answered), the records refused before sending, and each repeat's
/// (position, position of the input it follows).
struct Prepared {
    batcher: Batcher,
    records: Vec<RecordOutcome>,
    repeats: Vec<(u64, u64)>,
}

fn prepare_batch<I, T>(engine: &Engine, inputs: I) -> Result<Prepared, Error>
where
    I: IntoIterator<Item = T>,
    T: Into<RecordInput>,
{
    let inputs: Vec<RecordInput> = inputs.into_iter().map(Into::into).collect();
    if inputs.len() > MAX_BATCH {
        return Err(Error::invalid_input(format!(
            "a batch holds at most {MAX_BATCH} inputs, got {}; use bulk_upsert for more",
            inputs.len()
        )));
    }
    let mut prepared = Prepared {
        batcher: Batcher::new(MAX_BATCH),
        records: Vec::new(),
        repeats: Vec::new(),
    };
    for (position, input) in (0u64..).zip(inputs) {
        match engine.prepare(input) {
            Ok(wire) => {
                if let Some(earlier) = prepared.batcher.push(position, wire) {
                    prepared.repeats.push((position, earlier));
                }
            }
            Err((input, reason)) => prepared.records.push(RecordOutcome::new(
                position,
                input.inner.id,
                Outcome::Failed { reason },
            )),
        }
    }
    Ok(prepared)
}
