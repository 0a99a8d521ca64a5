//! A bulk run's journal: which inputs to skip (written before), and one line per
//! outcome, flushed after each batch.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use crate::error::{ErrorKind, Failure};
use crate::journal::{Entry, Journal, JournalWriter, Recorded};
use crate::outcomes::{Outcome, RecordOutcome};
use crate::records::RecordInput;
use crate::resume::{Decision, Fingerprint, Resume};

pub(super) struct Sink {
    writer: Option<JournalWriter>,
    resume: Resume,
    fingerprint_name: String,
    /// What each record sent would write, by position, until its outcome is out.
    pending: HashMap<u64, Fingerprint, foldhash::fast::RandomState>,
}

impl Sink {
    pub(super) fn new(journal: Journal, fingerprint_name: String) -> Self {
        let (writer, resume) = journal.into_parts();
        Self {
            writer: Some(writer),
            resume,
            fingerprint_name,
            pending: HashMap::default(),
        }
    }

    /// Whether to send the input at `position` (false: written before, skip it).
    pub(super) fn admit(&mut self, position: u64, input: &RecordInput) -> bool {
        let fingerprint = Fingerprint::of(input, &self.fingerprint_name);
        let decision = self
            .resume
            .decide_fingerprint(input.id_property(), input.id(), fingerprint);
        if decision == Decision::AlreadyWritten {
            return false;
        }
        self.pending.insert(position, fingerprint);
        true
    }

    /// Adds the outcome's line (none for a record skipped: its line is there already).
    /// After a failed write nothing more is written: the caller stops the run.
    pub(super) fn record(&mut self, o: &RecordOutcome) -> Result<(), Arc<Failure>> {
        let fingerprint = self.pending.remove(&o.position);
        let outcome = match &o.outcome {
            Outcome::Created { .. } => Recorded::Created,
            Outcome::Updated { .. } => Recorded::Updated,
            Outcome::Failed { .. } => Recorded::Failed,
            Outcome::NotAttempted { .. } => Recorded::NotAttempted,
            Outcome::AlreadyWritten => return Ok(()),
        };
        let Some(writer) = &mut self.writer else {
            return Ok(());
        };
        let mut entry = Entry::new(o.position, Some(&o.id), outcome);
        entry.object_id = o.outcome.object_id();
        if o.outcome.is_written() {
            entry.fingerprint = fingerprint;
        }
        if let Some(f) = o.outcome.failure() {
            entry = entry.failure(f, &f.message);
        }
        let r = writer.write(&entry);
        self.check(r)
    }

    /// Notes, in the file at once, that a batch holding `ids` is about to be sent.
    pub(super) fn sending(&mut self, ids: &[&str]) -> Result<(), Arc<Failure>> {
        let Some(writer) = &mut self.writer else {
            return Ok(());
        };
        let r = writer.sending(ids.iter().copied());
        self.check(r)
    }

    /// Writes the lines of the batch just finished.
    pub(super) fn flush(&mut self) -> Result<(), Arc<Failure>> {
        let Some(writer) = &mut self.writer else {
            return Ok(());
        };
        let r = writer.flush();
        self.check(r)
    }

    /// Writes and syncs the rest, and releases the journal's lock.
    pub(super) fn finish(&mut self) -> Result<(), Arc<Failure>> {
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        writer.finish().map(|_| ()).map_err(failure)
    }

    fn check(&mut self, r: io::Result<()>) -> Result<(), Arc<Failure>> {
        r.map_err(|e| {
            // The file may now end in a torn line; nothing more goes into it.
            self.writer = None;
            failure(e)
        })
    }
}

fn failure(e: io::Error) -> Arc<Failure> {
    Arc::new(Failure::new(
        ErrorKind::Journal,
        format!(
            "writing the journal failed ({e}): the run stopped; records not yet sent are not attempted"
        ),
    ))
}
