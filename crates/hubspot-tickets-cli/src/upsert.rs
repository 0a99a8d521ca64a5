//! `hubspot-tickets upsert`: stream an input file through the facade's bulk upsert.
//!
//! The input is parsed as the facade asks for records (on a reader thread feeding a
//! bounded channel when it is standard input); outcomes are written to the report and
//! failed files as they arrive. Only in-flight records are held in memory (their line number, and
//! their original text when `--failed` is asked for), so memory does not grow with the
//! input.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::BoxStream;
use hubspot_tickets::bulk::CancellationToken;
use hubspot_tickets::config::MAX_BATCH;
use hubspot_tickets::error::Failure;
use hubspot_tickets::generated::types::TicketUpsertInput;
use hubspot_tickets::journal::{Entry, JournalWriter};
use hubspot_tickets::resume::{Fingerprint, Resume};
use hubspot_tickets::{Client, ErrorKind, Journal, Outcome, Progress, RecordInput, RecordOutcome};
use tokio::sync::{mpsc, oneshot};

use crate::exit;
use crate::input::{self, BadRecord, Format, InputError, Item, ParseOptions, Raw, Source};
use crate::output::{FailedWriter, OutcomeKind};
use crate::progress::{Counters, Display, DisplayConfig, ProgressMode};
use crate::signals::Signals;
use crate::summary::RunStats;
use crate::validate::BadLineLog;

/// Records waiting in the channel between the reader thread and the facade.
const CHANNEL_CAPACITY: usize = 256;

/// Input text (KiB) the records waiting in the channel may come from: wide records
/// (thousands of columns, hundreds of KiB a line) wait a few at a time, not 256.
const CHANNEL_KIB: u32 = 1024;

/// A record on its way to the facade, with its share of [`CHANNEL_KIB`] (released
/// when the facade takes it).
type Queued = (RecordInput, tokio::sync::OwnedSemaphorePermit);

/// How many bad lines are printed on stderr (the report has them all).
pub const BAD_LINES_SHOWN: u64 = 20;

/// Everything one upsert run needs besides the client.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The input.
    pub source: Source,
    /// The format, when given.
    pub format: Option<Format>,
    /// Parsing options.
    pub parse: ParseOptions,
    /// Whether a report is kept (`--report` or `--resume`): records are fingerprinted.
    pub report: bool,
    /// The name records' fingerprints are taken with
    /// ([`Scope::fingerprint_name`](hubspot_tickets::journal::Scope::fingerprint_name)).
    pub fingerprint_name: String,
    /// `--failed`.
    pub failed: Option<PathBuf>,
    /// Progress display (resolved).
    pub progress: ProgressMode,
    /// Label of the progress bar / lines.
    pub label: String,
    /// The input's name in messages, when not its path (the demo's short names).
    pub display_name: Option<String>,
    /// Interval of plain progress lines.
    pub plain_interval: Duration,
    /// Each record checked against the portal's property definitions before it is
    /// batched (`upsert`'s default; see `preflight.rs`).
    pub preflight: Option<hubspot_tickets::preflight::Preflight>,
}

/// What a run did.
#[derive(Debug)]
pub struct RunResult {
    /// The figures for the summary table.
    pub stats: RunStats,
    /// The process exit code this run calls for.
    pub exit_code: u8,
    /// Why the run stopped early, if it did (auth, daily limit, input error...).
    pub stopped: Option<String>,
    /// The report file, when written.
    pub report: Option<PathBuf>,
    /// The failed file and the number of records in it, when written.
    pub failed: Option<(PathBuf, u64)>,
    /// Records failed or not attempted for a transient reason (see
    /// `Counters::transient`): nothing in them needs fixing.
    pub transient: u64,
}

/// A problem before anything was sent.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The input or an output file is unusable.
    #[error(transparent)]
    Input(#[from] InputError),
    /// An output file could not be created.
    #[error("{0}")]
    Output(String),
}

struct Pending {
    line: u64,
    /// The record's position among the input's records (invalid ones counted).
    position: u64,
    /// What the record writes, when a report is kept.
    fingerprint: Option<Fingerprint>,
    /// The id, for a record whose answer never comes (the run quit).
    id: Box<str>,
    raw: Option<Raw>,
}

/// Which output file a write went to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OutputFile {
    Report,
    Failed,
}

impl OutputFile {
    fn flag(self) -> &'static str {
        match self {
            Self::Report => "--report",
            Self::Failed => "--failed",
        }
    }
}

#[derive(Default)]
struct Outputs {
    report: Option<JournalWriter>,
    failed: Option<FailedWriter>,
    /// The first failed write: it stops the run.
    error: Option<String>,
    /// Failed records left out of the failed file: a later write of their id landed.
    superseded: u64,
}

impl Outputs {
    /// Notes a write's result; after a failed write the report gets no more lines
    /// (it may end in a torn one, which `--resume` cuts).
    fn note(&mut self, file: OutputFile, r: std::io::Result<()>) {
        if let Err(e) = r {
            if file == OutputFile::Report {
                self.report = None;
            }
            self.error
                .get_or_insert_with(|| format!("{} {e}", file.flag()));
        }
    }

    /// Puts what was written so far into the files (after each batch).
    fn flush(&mut self) {
        if let Some(report) = &mut self.report {
            let r = report.flush();
            self.note(OutputFile::Report, r);
        }
        if let Some(failed) = &mut self.failed {
            let r = failed.flush();
            self.note(OutputFile::Failed, r);
        }
    }

    fn record(&mut self, line: &Entry<'_>, raw: Option<&Raw>) {
        if let Some(report) = &mut self.report {
            let r = report.write(line);
            self.note(OutputFile::Report, r);
        }
        let Some(failed) = &mut self.failed else {
            return;
        };
        if line.outcome.is_failure()
            && let Some(raw) = raw
        {
            // A failed record may be superseded by a later write of its id; one not
            // sent (or invalid) is left as it is.
            let id = (line.outcome == OutcomeKind::Failed)
                .then_some(line.id)
                .flatten();
            let r = failed.write(raw, line.position, id);
            self.note(OutputFile::Failed, r);
        } else if line.object_id.is_some()
            && let Some(id) = line.id
        {
            self.superseded += failed.written_again(id, line.position);
        }
    }
}

struct Shared {
    name: String,
    /// By position. foldhash: SipHash on every record was a visible cost.
    pending: Mutex<HashMap<u64, Pending, foldhash::fast::RandomState>>,
    outputs: Mutex<Outputs>,
    counters: Arc<Counters>,
    bad_log: Mutex<BadLineLog>,
    /// A stopping signal arrived: stop feeding the facade.
    stop: AtomicBool,
    /// Standard input was not read to its end (a signal stopped the run).
    unread: AtomicBool,
    fatal: Mutex<Option<InputError>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn bad_line(&self, position: u64, bad: &BadRecord) {
        self.counters.invalid.fetch_add(1, Ordering::Relaxed);
        lock(&self.bad_log).bad(bad.line, &bad.reason);
        let mut line =
            Entry::new(position, bad.id.as_deref(), OutcomeKind::Invalid).at_line(bad.line);
        line.error_kind = Some(ErrorKind::InvalidInput);
        line.error_message = Some(&bad.reason);
        lock(&self.outputs).record(&line, bad.raw.as_ref());
    }

    /// A record whose request was out when the run quit: it may have been written.
    fn unconfirmed(&self, p: &Pending) {
        self.counters.failed.fetch_add(1, Ordering::Relaxed);
        self.counters.transient.fetch_add(1, Ordering::Relaxed);
        let mut l = Entry::new(p.position, Some(&p.id), OutcomeKind::Failed).at_line(p.line);
        l.error_kind = Some(ErrorKind::Cancelled);
        l.error_message =
            Some("the run quit before HubSpot's answer arrived: it may have been written");
        lock(&self.outputs).record(&l, p.raw.as_ref());
    }

    /// A record not sent: `at` is its (line, position).
    fn not_sent(&self, at: (u64, u64), id: Option<&str>, raw: Option<&Raw>, why: &str) {
        self.counters.not_attempted.fetch_add(1, Ordering::Relaxed);
        self.counters.transient.fetch_add(1, Ordering::Relaxed);
        let mut l = Entry::new(at.1, id, OutcomeKind::NotAttempted).at_line(at.0);
        l.error_kind = Some(ErrorKind::Cancelled);
        l.error_message = Some(why);
        lock(&self.outputs).record(&l, raw);
    }
}

/// Turns a parsed record into the facade's input, without copying the properties.
pub(crate) fn to_input(
    id: String,
    properties: std::collections::BTreeMap<String, String>,
    trace: Option<String>,
) -> RecordInput {
    RecordInput::from(TicketUpsertInput {
        id,
        id_property: None,
        object_write_trace_id: trace,
        properties,
    })
}

/// Channel slots the reader reserves at a time.
const RESERVE_CHUNK: usize = 64;

/// Sends one input, waiting for channel slots `RESERVE_CHUNK` at a time.
///
/// With one `blocking_send` per record, a full channel made the reader and the runtime
/// wake each other once per record (a futex wake and a context switch each). Waiting
/// for a batch of slots wakes the reader once per `RESERVE_CHUNK` records; each record
/// is still sent as soon as it is read, so a slow input (stdin) is never held back.
/// Gives the input back (`Some`) when the receiver is gone.
fn send_input<'a>(
    tx: &'a mpsc::Sender<Queued>,
    permits: &mut Option<mpsc::PermitIterator<'a, Queued>>,
    input: Queued,
) -> Option<Queued> {
    if let Some(permit) = permits.as_mut().and_then(Iterator::next) {
        permit.send(input);
        return None;
    }
    // Unused permits go back to the channel before waiting for new ones.
    *permits = None;
    let want = RESERVE_CHUNK.min(tx.max_capacity());
    *permits = futures::executor::block_on(tx.reserve_many(want)).ok();
    match permits.as_mut().and_then(Iterator::next) {
        Some(permit) => {
            permit.send(input);
            None
        }
        None => Some(input),
    }
}

/// The input as facade inputs: parses records, reports bad lines, notes each record's
/// line (for its outcome) and counts. Used on the reader thread, or pulled by the
/// facade directly (see [`run`]).
struct Feed {
    reader: input::Reader,
    shared: Arc<Shared>,
    position: u64,
    /// Set once records are no longer handed over: each later one is reported not sent.
    why_not_sent: Option<&'static str>,
    /// Whether the rest of the input is read (and reported not sent) after a signal: yes
    /// for a file, which ends; no for standard input, which may never end.
    drain_after_signal: bool,
    /// The name to fingerprint records with, when a report is kept.
    fingerprint_with: Option<String>,
    /// `--resume`: what earlier runs wrote.
    resume: Option<Resume>,
    /// Records read so far, invalid ones included: the next one's position.
    items: u64,
    finished: bool,
}

impl Feed {
    /// Opens the input, and the failed file (bad lines go to it from the first record).
    fn open(
        shared: Arc<Shared>,
        config: &RunConfig,
        resume: Option<Resume>,
    ) -> Result<Feed, SetupError> {
        let (read, format) = input::open(&config.source, config.format)?;
        let reader = input::Reader::new(shared.name.clone(), read, format, config.parse.clone())?;
        if let Some(path) = &config.failed {
            let (w, kept) = FailedWriter::create(path, reader.format(), reader.csv_headers())
                .map_err(|e| SetupError::Output(format!("--failed {e}")))?;
            if let Some((kept, had)) = kept {
                crate::progress::eprint_line(&format!(
                    "--failed {}: it held {had} bytes from before; kept as {}",
                    path.display(),
                    kept.display()
                ));
            }
            lock(&shared.outputs).failed = Some(w);
        }
        Ok(Feed {
            reader,
            shared,
            position: 0,
            why_not_sent: None,
            drain_after_signal: config.source.size().is_some(),
            fingerprint_with: config.report.then(|| config.fingerprint_name.clone()),
            resume,
            items: 0,
            finished: false,
        })
    }

    /// Reports every record left in the input not sent, for `why`.
    fn drain(&mut self, why: &'static str) {
        self.why_not_sent.get_or_insert(why);
        while self.next().is_some() {}
    }

    fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            let c = &self.shared.counters;
            c.bytes_read
                .store(self.reader.bytes_read(), Ordering::Relaxed);
            c.input_done.store(true, Ordering::Release);
        }
    }

    /// A record that was handed over but not taken: it and all later ones are not sent.
    fn refused(&mut self, input: &RecordInput) {
        self.why_not_sent = Some("not sent: the run stopped before this record");
        let shared = &self.shared;
        if let Some(p) = lock(&shared.pending).remove(&(self.position - 1)) {
            shared.counters.read.fetch_sub(1, Ordering::Relaxed);
            shared.not_sent(
                (p.line, p.position),
                Some(input.id()),
                p.raw.as_ref(),
                "not sent: the run stopped before this record",
            );
        }
    }
}

impl Iterator for Feed {
    type Item = RecordInput;

    fn next(&mut self) -> Option<RecordInput> {
        if self.finished {
            return None;
        }
        let shared = self.shared.clone();
        loop {
            let item = match self.reader.next() {
                Some(Ok(item)) => item,
                Some(Err(e)) => {
                    *lock(&shared.fatal) = Some(e);
                    self.finish();
                    return None;
                }
                None => {
                    self.finish();
                    return None;
                }
            };
            shared
                .counters
                .bytes_read
                .store(self.reader.bytes_read(), Ordering::Relaxed);
            let position = self.items;
            self.items += 1;
            let rec = match item {
                Item::Bad(bad) => {
                    shared.bad_line(position, &bad);
                    continue;
                }
                Item::Good(rec) => rec,
            };
            if shared.stop.load(Ordering::Relaxed) {
                if !self.drain_after_signal {
                    // Standard input may never end: stop reading it.
                    shared.unread.store(true, Ordering::Relaxed);
                    self.finish();
                    return None;
                }
                self.why_not_sent
                    .get_or_insert("not sent: the run was stopped by a signal");
            }
            if let Some(why) = self.why_not_sent {
                shared.not_sent((rec.line, position), Some(&rec.id), rec.raw.as_ref(), why);
                continue;
            }
            let fingerprint = self
                .fingerprint_with
                .as_deref()
                .map(|p| Fingerprint::of_parts(p, &rec.id, &rec.properties));
            // Resuming: a record the earlier report shows written with this very content
            // is not sent again (that report already has its line). See `Resume`.
            if let (Some(resume), Some(fp)) = (&mut self.resume, fingerprint)
                && !resume.decide_fingerprint(None, &rec.id, fp).is_send()
            {
                shared.counters.skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            lock(&shared.pending).insert(
                self.position,
                Pending {
                    line: rec.line,
                    position,
                    fingerprint,
                    id: rec.id.as_str().into(),
                    raw: rec.raw,
                },
            );
            self.position += 1;
            shared.counters.read.fetch_add(1, Ordering::Relaxed);
            return Some(to_input(rec.id, rec.properties, rec.trace_id));
        }
    }
}

/// The reader thread: runs the feed into the channel.
fn read_input(
    shared: Arc<Shared>,
    config: RunConfig,
    resume: Option<Resume>,
    setup: oneshot::Sender<Result<(), SetupError>>,
    tx: mpsc::Sender<Queued>,
) {
    let room = Arc::new(tokio::sync::Semaphore::new(CHANNEL_KIB as usize));
    let mut feed = match Feed::open(shared, &config, resume) {
        Ok(feed) => feed,
        Err(e) => {
            let _ = setup.send(Err(e));
            return;
        }
    };
    if setup.send(Ok(())).is_err() {
        return;
    }
    let mut permits = None;
    let mut read_before = 0;
    while let Some(input) = feed.next() {
        // The record's share of the channel: the input text it came from, in KiB.
        let read = feed.reader.bytes_read();
        let kib = u32::try_from(read.saturating_sub(read_before) >> 10)
            .unwrap_or(u32::MAX)
            .clamp(1, CHANNEL_KIB);
        read_before = read;
        let share = match Arc::clone(&room).try_acquire_many_owned(kib) {
            Ok(share) => Ok(share),
            Err(_) => futures::executor::block_on(Arc::clone(&room).acquire_many_owned(kib)),
        };
        let refused = match share {
            Ok(share) => send_input(&tx, &mut permits, (input, share)).map(|(input, _)| input),
            Err(_) => Some(input),
        };
        if let Some(input) = refused {
            // The facade stopped reading: this record and the rest are not sent.
            feed.refused(&input);
            if !feed.drain_after_signal {
                // Standard input may never end (`tail -f`): what follows is left
                // unread rather than read to report it not sent.
                feed.shared.unread.store(true, Ordering::Relaxed);
                feed.finish();
                break;
            }
        }
    }
}

/// What a stop of the run means for the operator: the exit code and the sentence, by
/// the kind of the facade's stop reason. The one place the CLI decides this; the
/// README's stop table and `exit.rs` follow it.
fn stop_exit(why: &Failure, client: &Client) -> (u8, String) {
    match why.kind {
        ErrorKind::Auth => (exit::AUTH, why.to_string()),
        ErrorKind::Forbidden => {
            let hint = match client.object_type().write_scope() {
                Some(scope) => format!(
                    ". Writing {} needs the token scope {scope}",
                    client.object_type()
                ),
                None => format!(". Check that the token may write {}", client.object_type()),
            };
            (exit::AUTH, format!("{why}{hint}"))
        }
        ErrorKind::Configuration if why.status.is_some_and(|s| (300..400).contains(&s)) => (
            exit::CONFIG,
            format!("{why}. Check --base-url (the run called {})", client.path()),
        ),
        ErrorKind::Configuration | ErrorKind::NotFound => (
            exit::CONFIG,
            format!(
                "{why}. Check --id-property {:?} (an existing {} property with unique values), --object-type {} and --api-version {} (HubSpot must know both: the run called {}), and --base-url",
                client.id_property(),
                client.object_type(),
                client.object_type(),
                client.api_version(),
                client.path()
            ),
        ),
        ErrorKind::RateLimitedDaily => (exit::DAILY_LIMIT, why.to_string()),
        ErrorKind::Unavailable
        | ErrorKind::Timeout
        | ErrorKind::Transport
        | ErrorKind::Server
        | ErrorKind::Decode
        | ErrorKind::Locked
        | ErrorKind::RateLimited => (
            exit::UNAVAILABLE,
            format!(
                "{why}. Nothing in the records needs fixing: re-run the failed file (or --resume the report) once HubSpot answers again"
            ),
        ),
        _ => (exit::PARTIAL, why.to_string()),
    }
}

/// Runs one upsert of `config.source` through `client`, keeping `journal` as the
/// report (opened and checked by the caller, see `paths`).
pub async fn run(
    config: RunConfig,
    client: &Client,
    journal: Option<Journal>,
) -> Result<RunResult, SetupError> {
    let started = Instant::now();
    let mut signals = Signals::install()
        .map_err(|e| SetupError::Output(format!("cannot listen for signals: {e}")))?;
    let name = config
        .display_name
        .clone()
        .unwrap_or_else(|| config.source.display_name());
    let mut outputs = Outputs::default();
    let resume = journal.map(|j| {
        let (writer, resume) = j.into_parts();
        outputs.report = Some(writer);
        resume
    });
    let counters = Arc::new(Counters::default());
    let shared = Arc::new(Shared {
        name: name.clone(),
        pending: Mutex::new(HashMap::default()),
        outputs: Mutex::new(outputs),
        counters: counters.clone(),
        bad_log: Mutex::new(BadLineLog::new(&name, BAD_LINES_SHOWN)),
        stop: AtomicBool::new(false),
        unread: AtomicBool::new(false),
        fatal: Mutex::new(None),
    });

    let input_size = config.source.size();
    // A regular file is read on this thread, as the facade asks for records: parsing a
    // record on one thread and freeing it on another cost more CPU than the parsing
    // itself saves in wall time. Standard input (or a pipe) gets a thread of its own, so
    // a slow writer never holds up the requests in flight.
    let (mut file_feed, mut resume) = match input_size {
        Some(_) => (Some(Feed::open(shared.clone(), &config, resume)?), None),
        None => (None, resume),
    };
    let (inputs, reader): (BoxStream<'_, RecordInput>, _) = if let Some(feed) = &mut file_feed {
        (futures::stream::iter(feed).boxed(), None)
    } else {
        let (setup_tx, setup_rx) = oneshot::channel();
        let (tx, mut rx) = mpsc::channel::<Queued>(CHANNEL_CAPACITY);
        let reader = {
            let shared = shared.clone();
            let config = config.clone();
            let resume = resume.take();
            std::thread::Builder::new()
                .name("input-reader".into())
                .spawn(move || read_input(shared, config, resume, setup_tx, tx))
                .map_err(|e| SetupError::Output(format!("cannot start the input reader: {e}")))?
        };
        match setup_rx.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = reader.join();
                return Err(e);
            }
            Err(_) => {
                let _ = reader.join();
                return Err(SetupError::Output("the input reader stopped".into()));
            }
        }
        // Taking a record from the channel releases its share of the input text.
        let inputs = futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
            .map(|(input, _share)| input)
            .boxed();
        (inputs, Some(reader))
    };

    let progress = Progress::new();
    let display = Display::start(
        DisplayConfig {
            mode: config.progress,
            label: config.label.clone(),
            input_size,
            plain_interval: config.plain_interval,
        },
        counters.clone(),
        progress.clone(),
    );

    // The first signal (SIGINT, SIGTERM or SIGHUP) stops the run: no new request
    // starts, the requests in flight finish, and every record not sent is reported not
    // attempted. A second one quits at once: records whose answer is still out are
    // reported failed (they may have been written). Either way the report and the
    // failed file are whole.
    let cancel = CancellationToken::new();
    let mut run = client
        .bulk_upsert(inputs)
        .with_progress(progress.clone())
        .with_cancellation(cancel.clone());
    if let Some(preflight) = config.preflight.clone() {
        run = run.preflight(preflight);
    }
    if config.report {
        // Each batch's ids reach the report before its request goes: a kill while it
        // is out leaves them uncertain there, and `--resume` sends them again.
        let shared = shared.clone();
        run = run.before_send(move |ids| {
            let mut out = lock(&shared.outputs);
            let Some(report) = &mut out.report else {
                return Ok(());
            };
            match report.sending(ids.iter().copied()) {
                Ok(()) => Ok(()),
                Err(e) => {
                    let why = format!("writing --report {e}");
                    out.note(OutputFile::Report, Err(e));
                    Err(why)
                }
            }
        });
    }
    let mut outcomes = run.outcomes().ready_chunks(MAX_BATCH);
    let mut interrupted = false;
    let mut quit = false;
    let mut output_failed = false;
    loop {
        tokio::select! {
            chunk = outcomes.next() => {
                let Some(chunk) = chunk else { break };
                // One batch's outcomes arrive together: they reach the files together.
                for o in chunk {
                    handle_outcome(&shared, o);
                }
                let mut out = lock(&shared.outputs);
                out.flush();
                if !output_failed && let Some(e) = &out.error {
                    // What is sent from now on could not be recorded, so nothing more is
                    // sent: the requests in flight finish, the rest is not attempted.
                    output_failed = true;
                    crate::progress::eprint_line(&format!(
                        "writing {e}: stopping; the requests in flight finish, every record not sent is not attempted"
                    ));
                    shared.stop.store(true, Ordering::Relaxed);
                    cancel.cancel();
                }
            }
            name = signals.next() => {
                if interrupted {
                    quit = true;
                    crate::progress::eprint_line(&format!(
                        "received {name} again: quitting now; records whose answer is still out are reported failed"
                    ));
                    break;
                }
                interrupted = true;
                shared.stop.store(true, Ordering::Relaxed);
                cancel.cancel();
                crate::progress::eprint_line(&format!(
                    "received {name}: finishing the requests in flight; every record not sent goes to the report and the failed file (send it again to quit now)"
                ));
            }
        }
    }
    let facade_stop = outcomes.get_ref().summary().stopped;
    // Dropping the run cancels the requests still out (after a second signal).
    drop(outcomes);
    if let Some(reader) = reader {
        let _ = tokio::task::spawn_blocking(move || reader.join()).await;
    }

    // Records taken but never answered: after a second signal, their requests may have
    // been written; otherwise (which should not happen) they were not sent.
    let leftovers: Vec<Pending> = lock(&shared.pending).drain().map(|(_, p)| p).collect();
    for p in leftovers {
        if quit {
            shared.unconfirmed(&p);
        } else {
            shared.not_sent(
                (p.line, p.position),
                Some(&p.id),
                p.raw.as_ref(),
                "no outcome was reported for this record",
            );
        }
    }
    // The rest of a file: not sent. (Standard input is left unread after a signal.)
    if let Some(feed) = &mut file_feed {
        feed.drain("not sent: the run stopped before this record");
    }
    lock(&shared.outputs).flush();
    display.finish().await;

    // The run's wall-clock time, from before the input was opened.
    let mut counts = counters.counts(&progress);
    counts.elapsed = started.elapsed();
    let mut stats = RunStats {
        label: config.label.clone(),
        counts,
        invalid: counters.invalid.load(Ordering::Relaxed),
        superseded: 0,
    };

    let outputs = std::mem::take(&mut *lock(&shared.outputs));
    stats.superseded = outputs.superseded;
    let mut output_error = outputs.error;
    let report = match outputs.report.map(JournalWriter::finish) {
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => {
            output_error.get_or_insert(e.to_string());
            None
        }
        None => None,
    };
    let failed = match outputs.failed.map(FailedWriter::finish) {
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => {
            output_error.get_or_insert(e.to_string());
            None
        }
        None => None,
    };
    let fatal = lock(&shared.fatal).take();

    let (exit_code, stopped) = if let Some(e) = fatal {
        (
            exit::USAGE,
            Some(format!(
                "input error, the rest of the input was not read: {e}"
            )),
        )
    } else if let Some(e) = output_error.as_ref().filter(|_| output_failed) {
        (
            exit::PARTIAL,
            Some(format!(
                "writing {e}: the run stopped there; records not yet sent are not attempted{}",
                if e.starts_with("--report") {
                    " (the report lacks the lines after the failed write: records it does not show written are sent again by --resume)"
                } else {
                    ""
                }
            )),
        )
    } else if let Some(why) = facade_stop
        .as_deref()
        .filter(|w| !matches!(w.kind, ErrorKind::Cancelled))
    {
        let (code, message) = stop_exit(why, client);
        (code, Some(message))
    } else if quit {
        (
            exit::QUIT,
            Some("quit at a second signal: records whose answer was still out are failed (they may have been written)".to_owned()),
        )
    } else if interrupted {
        (
            exit::INTERRUPTED,
            Some(if shared.unread.load(Ordering::Relaxed) {
                "stopped by a signal; standard input was not read to its end: records after the last one in the report were not read".to_owned()
            } else {
                "stopped by a signal: every record not sent is in the report and the failed file as not attempted".to_owned()
            }),
        )
    } else if let Some(why) = facade_stop {
        (exit::PARTIAL, Some(why.to_string()))
    } else if let Some(e) = output_error {
        (
            exit::PARTIAL,
            Some(format!("writing the output files failed: {e}")),
        )
    } else if stats.unsuccessful() > 0 {
        (exit::PARTIAL, None)
    } else {
        (exit::SUCCESS, None)
    };
    // A stop that left standard input unread says so (a signal's message already does).
    let stopped = match stopped {
        Some(why) if !interrupted && !quit && shared.unread.load(Ordering::Relaxed) => {
            Some(format!(
                "{why}; standard input was not read to its end: records after the last one in the report were not read"
            ))
        }
        other => other,
    };
    Ok(RunResult {
        stats,
        exit_code,
        stopped,
        report,
        failed,
        transient: counters.transient.load(Ordering::Relaxed),
    })
}

fn handle_outcome(shared: &Shared, o: RecordOutcome) {
    let pending = lock(&shared.pending).remove(&o.position);
    let (line, position, raw, fingerprint) = match &pending {
        Some(p) => (p.line, p.position, p.raw.as_ref(), p.fingerprint),
        None => (0, o.position, None, None),
    };
    let c = &shared.counters;
    let (kind, object_id, failure) = match &o.outcome {
        Outcome::Created { object_id } => {
            c.created.fetch_add(1, Ordering::Relaxed);
            (OutcomeKind::Created, Some(object_id.as_str()), None)
        }
        Outcome::Updated { object_id } => {
            c.updated.fetch_add(1, Ordering::Relaxed);
            (OutcomeKind::Updated, Some(object_id.as_str()), None)
        }
        Outcome::Failed { reason } => {
            c.failed.fetch_add(1, Ordering::Relaxed);
            (OutcomeKind::Failed, None, Some(&**reason))
        }
        Outcome::NotAttempted { reason } => {
            c.not_attempted.fetch_add(1, Ordering::Relaxed);
            (OutcomeKind::NotAttempted, None, Some(&**reason))
        }
        other => {
            // A kind of outcome this CLI does not know yet: count it as failed.
            c.failed.fetch_add(1, Ordering::Relaxed);
            (OutcomeKind::Failed, None, other.failure())
        }
    };
    let message = failure.map(|f| crate::token::redact(&f.message));
    let mut report = Entry::new(position, Some(&o.id), kind).at_line(line);
    report.object_id = object_id;
    if object_id.is_some() {
        report.fingerprint = fingerprint;
    }
    if let Some(f) = failure {
        if f.is_retryable() {
            c.transient.fetch_add(1, Ordering::Relaxed);
        }
        report.error_kind = Some(f.kind);
        report.error_category = f.category.as_deref();
        report.error_message = message.as_deref();
        report.http_status = f.status;
        report.correlation_id = f.correlation_id.as_deref();
    }
    lock(&shared.outputs).record(&report, raw);
}
