//! Progress on stderr: an `indicatif` bar on a terminal, plain periodic lines otherwise.
//!
//! Everything else written to stderr while a bar is shown (bad-line warnings, logs) goes
//! through [`eprint_line`], which prints above the bar instead of through it.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use hubspot_tickets::{Counts, Progress};

use crate::summary::thousands;

/// How progress is shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, plain lines otherwise.
    #[default]
    Auto,
    /// Always the bar (shown only on a terminal).
    Bar,
    /// Plain periodic lines.
    Plain,
    /// Nothing.
    None,
}

impl ProgressMode {
    /// Resolves `Auto` against stderr.
    pub fn resolve(self) -> ProgressMode {
        match self {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bar,
            ProgressMode::Auto => ProgressMode::Plain,
            other => other,
        }
    }
}

/// Counters kept by the CLI while it reads input and receives outcomes.
///
/// The reader (a thread of its own for standard input) updates the first group for
/// every record and the runtime thread the second for every outcome: the gap keeps
/// them on different cache lines, so two threads do not steal one line from each
/// other twice per record.
#[derive(Debug, Default)]
#[repr(C)]
pub struct Counters {
    /// Valid records handed to the facade.
    pub read: AtomicU64,
    /// Input bytes consumed (for the estimate of the total).
    pub bytes_read: AtomicU64,
    /// Bad input lines.
    pub invalid: AtomicU64,
    /// The whole input has been read: the total is exact.
    pub input_done: AtomicBool,
    /// Records `--resume` skipped: the earlier report shows them last written with the
    /// same content.
    pub skipped: AtomicU64,
    _gap: CacheLineGap,
    /// Outcomes received.
    pub created: AtomicU64,
    /// Outcomes received.
    pub updated: AtomicU64,
    /// Outcomes received.
    pub failed: AtomicU64,
    /// Outcomes received.
    pub not_attempted: AtomicU64,
    /// Failed or not attempted for a transient reason (HubSpot unavailable, a timeout,
    /// the run stopped before them): nothing in the record needs fixing.
    pub transient: AtomicU64,
}

/// Takes no space but starts the next field on a fresh 128-byte boundary (two cache
/// lines: x86 prefetches adjacent lines in pairs).
#[derive(Debug, Default)]
#[repr(align(128))]
struct CacheLineGap;

impl Counters {
    fn get(a: &AtomicU64) -> u64 {
        a.load(Ordering::Relaxed)
    }

    /// Records with a final answer (bad lines included).
    pub fn done(&self) -> u64 {
        Self::get(&self.created)
            + Self::get(&self.updated)
            + Self::get(&self.failed)
            + Self::get(&self.not_attempted)
            + Self::get(&self.invalid)
            + Self::get(&self.skipped)
    }

    /// The run's counts now, in the facade's one type: its request figures, with the
    /// record counts as this run tallies them (records refused or skipped before the
    /// facade, and bad lines, are the CLI's to count). `read` is every record with a
    /// final answer, bad lines included, each in exactly one bucket.
    pub fn counts(&self, progress: &Progress) -> Counts {
        let mut counts = progress.snapshot();
        counts.read = self.done();
        counts.created = Self::get(&self.created);
        counts.updated = Self::get(&self.updated);
        counts.failed = Self::get(&self.failed);
        counts.not_attempted = Self::get(&self.not_attempted);
        counts.skipped = Self::get(&self.skipped);
        counts
    }

    /// The number of records in the input: exact once it is read, else estimated from
    /// the bytes read so far and the file size.
    pub fn total(&self, input_size: Option<u64>) -> Option<(u64, bool)> {
        let seen = Self::get(&self.read) + Self::get(&self.invalid);
        if self.input_done.load(Ordering::Acquire) {
            return Some((seen, true));
        }
        let size = input_size?;
        let bytes = Self::get(&self.bytes_read);
        if bytes == 0 || seen == 0 {
            return None;
        }
        let estimate = (seen as f64 * size as f64 / bytes as f64).round() as u64;
        Some((estimate.max(seen), false))
    }
}

/// `, 423s N` (`sep` before it) once HubSpot has answered 423 Locked, else nothing:
/// a lock slows the run without failing a record, and the line should say why it is
/// slower; most runs never see one, and their line stays as it was.
fn locks(sep: &str, locked: u64) -> String {
    if locked == 0 {
        String::new()
    } else {
        format!("{sep}{} 423s", thousands(locked))
    }
}

static ACTIVE_BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Prints a line on stderr, above the progress bar when one is shown.
pub fn eprint_line(line: &str) {
    let bar = ACTIVE_BAR
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    match bar {
        Some(bar) => bar.suspend(|| eprintln!("{line}")),
        None => eprintln!("{line}"),
    }
}

/// A `tracing` writer that goes through [`eprint_line`].
#[derive(Clone, Copy, Debug, Default)]
pub struct BarAwareWriter;

/// The per-event buffer of [`BarAwareWriter`].
#[derive(Debug, Default)]
pub struct LineBuffer(Vec<u8>);

impl Write for LineBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineBuffer {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let text = text.trim_end_matches('\n');
        if !text.is_empty() {
            eprint_line(text);
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BarAwareWriter {
    type Writer = LineBuffer;
    fn make_writer(&'a self) -> LineBuffer {
        LineBuffer::default()
    }
}

/// The running display; [`Display::finish`] stops it.
#[derive(Debug)]
pub struct Display {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// What the display needs to know.
pub struct DisplayConfig {
    /// Mode, already resolved.
    pub mode: ProgressMode,
    /// Shown before the bar / at the start of plain lines.
    pub label: String,
    /// The input file's size, when known.
    pub input_size: Option<u64>,
    /// Interval of plain lines.
    pub plain_interval: Duration,
}

impl Display {
    /// Starts the display task on the current runtime.
    pub fn start(config: DisplayConfig, counters: Arc<Counters>, progress: Progress) -> Display {
        let (stop, mut stopped) = watch::channel(false);
        let task = match config.mode {
            ProgressMode::None | ProgressMode::Auto => None,
            ProgressMode::Plain => Some(tokio::spawn(async move {
                let mut tick = tokio::time::interval(config.plain_interval);
                tick.tick().await;
                loop {
                    tokio::select! {
                        _ = tick.tick() => {
                            let counts = counters.counts(&progress);
                            eprint_line(&plain_line(&config, &counters, &counts));
                        }
                        _ = stopped.changed() => break,
                    }
                }
            })),
            ProgressMode::Bar => {
                let bar = new_bar(&config.label);
                *ACTIVE_BAR.lock().unwrap_or_else(PoisonError::into_inner) = Some(bar.clone());
                Some(tokio::spawn(async move {
                    let mut tick = tokio::time::interval(Duration::from_millis(100));
                    loop {
                        let stop = tokio::select! {
                            _ = tick.tick() => false,
                            _ = stopped.changed() => true,
                        };
                        update_bar(&bar, &config, &counters, &counters.counts(&progress));
                        if stop {
                            break;
                        }
                    }
                    bar.finish();
                    *ACTIVE_BAR.lock().unwrap_or_else(PoisonError::into_inner) = None;
                }))
            }
        };
        Display { stop, task }
    }

    /// Draws the final state and stops.
    pub async fn finish(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

fn style(known_total: bool) -> ProgressStyle {
    let template = if known_total {
        "{prefix} {spinner} [{elapsed_precise}] [{wide_bar}] {human_pos}/{human_len} ETA {eta} {msg}"
    } else {
        // Standard input: the total is known only at the end.
        "{prefix} {spinner} [{elapsed_precise}] {human_pos} records {msg}"
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

fn new_bar(label: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
    bar.set_style(style(false));
    bar.set_prefix(label.to_owned());
    bar
}

fn update_bar(bar: &ProgressBar, config: &DisplayConfig, counters: &Counters, counts: &Counts) {
    let done = counts.read;
    let total = counters.total(config.input_size);
    if total.is_some() != bar.length().is_some() {
        bar.set_style(style(total.is_some()));
    }
    match total {
        Some((total, _)) => bar.set_length(total.max(done)),
        None => bar.unset_length(),
    }
    bar.set_position(done);
    let failed = counts.failed + counts.not_attempted + Counters::get(&counters.invalid);
    bar.set_message(format!(
        "{} rec/s · req {} · retries {} · 429s {}{} · failed {}",
        // Records written per second: records never sent (a stopped run's rest,
        // reported at once) do not make a run look fast.
        thousands(counts.records_per_second().round() as u64),
        thousands(counts.requests),
        thousands(counts.retries),
        thousands(counts.rate_limited),
        locks(" · ", counts.locked),
        thousands(failed),
    ));
}

fn plain_line(config: &DisplayConfig, counters: &Counters, counts: &Counts) -> String {
    let done = counts.read;
    let total = match counters.total(config.input_size) {
        Some((total, exact)) => {
            let pct = if total > 0 {
                (done as f64 * 100.0 / total as f64).min(100.0)
            } else {
                100.0
            };
            format!(
                "/{}{} ({pct:.0}%)",
                if exact { "" } else { "~" },
                thousands(total.max(done))
            )
        }
        None => String::new(),
    };
    let failed = counts.failed + counts.not_attempted + Counters::get(&counters.invalid);
    format!(
        "{}: {}{total} records, {} records/s, {} requests, {} retries, {} 429s{}, {} failed, {:.0} s",
        config.label,
        thousands(done),
        // Records written per second: records never sent (a stopped run's rest,
        // reported at once) do not make a run look fast.
        thousands(counts.records_per_second().round() as u64),
        thousands(counts.requests),
        thousands(counts.retries),
        thousands(counts.rate_limited),
        locks(", ", counts.locked),
        thousands(failed),
        counts.elapsed.as_secs_f64(),
    )
}

/// Log lines on stderr, printed above the progress bar, coloured only on a terminal.
pub fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        // Only this project's crates speak by default: a dependency's own lines (a TLS
        // verifier logs every refused handshake) would repeat, once per attempt, the
        // reason the facade gives once.
        0 => "off,hubspot_tickets=warn,hubspot_emulator=warn",
        1 => "info,hubspot_tickets=info",
        _ => "debug,hyper=info,reqwest=info",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(BarAwareWriter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn total_is_estimated_from_bytes_until_the_input_is_read() {
        let c = Counters::default();
        assert_eq!(c.total(Some(1000)), None);
        c.read.store(9, Ordering::Relaxed);
        c.invalid.store(1, Ordering::Relaxed);
        c.bytes_read.store(100, Ordering::Relaxed);
        assert_eq!(c.total(Some(1000)), Some((100, false)));
        assert_eq!(c.total(None), None);
        c.input_done.store(true, Ordering::Release);
        assert_eq!(c.total(None), Some((10, true)));
    }

    #[test]
    fn plain_line_reads_well() {
        let c = Counters::default();
        c.read.store(5000, Ordering::Relaxed);
        c.created.store(1200, Ordering::Relaxed);
        c.input_done.store(true, Ordering::Release);
        let config = DisplayConfig {
            mode: ProgressMode::Plain,
            label: "upsert".into(),
            input_size: None,
            plain_interval: Duration::from_secs(2),
        };
        let progress = Progress::new();
        let mut counts = c.counts(&progress);
        counts.requests = 12;
        counts.retries = 1;
        counts.elapsed = Duration::from_secs(2);
        let line = plain_line(&config, &c, &counts);
        assert_eq!(
            line,
            "upsert: 1,200/5,000 (24%) records, 600 records/s, 12 requests, 1 retries, 0 429s, 0 failed, 2 s"
        );
        // Locks are shown once there are some.
        counts.requests = 14;
        counts.retries = 3;
        counts.locked = 2;
        let line = plain_line(&config, &c, &counts);
        assert_eq!(
            line,
            "upsert: 1,200/5,000 (24%) records, 600 records/s, 14 requests, 3 retries, 0 429s, 2 423s, 0 failed, 2 s"
        );
    }
}
