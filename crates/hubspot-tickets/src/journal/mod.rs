//! The run journal: one JSON line per outcome, in a file a later run resumes from.
//!
//! A journal is what the CLI calls its `--report`, and what a library user hands to
//! [`BulkUpsert::journal`](crate::bulk::BulkUpsert::journal). Its first line names the scope
//! it was written for (object type and `idProperty`); every other line is one record's
//! outcome, with its position in the input, and, for a record written, the
//! [`Fingerprint`] of what it wrote. Opening a journal to resume from:
//!
//! * takes an exclusive lock on the file for the life of the run (a second run on the
//!   same journal is refused, so lines never interleave);
//! * reads every line, and refuses a file that is not a journal, or is one for
//!   another scope, without changing a byte of it;
//! * cuts only a torn last line that starts like a journal line (a run killed while
//!   writing it), and says so;
//! * fills a [`Resume`] with what the lines show written, in file order.
//!
//! Before each batch is sent, a `sending` line lists its ids (written to the file, not
//! only buffered): a run killed while a request is out leaves those ids uncertain, so a
//! resumed run sends them again instead of trusting an older line.
//!
//! Positions are positions in the input of the run that wrote the line; resuming never
//! reads them (decisions compare content, see [`Resume`]), so a resumed run may read
//! another file, or the same file edited.

mod file;

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::ErrorKind;
use crate::records::RecordInput;
use crate::resume::{Fingerprint, Resume};
use crate::route::ObjectType;

pub use file::{JournalWriter, check_unlocked, open_locked};

/// The journal format this build writes (its header's `version`).
pub const JOURNAL_VERSION: u32 = 2;

/// What a journal's records are: one object type, upserted by one `idProperty`. A
/// journal of one scope never makes a run of another skip a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    object_type: String,
    id_property: String,
}

impl Scope {
    /// The scope of runs upserting `object_type` by `id_property`.
    pub fn new(object_type: &ObjectType, id_property: impl Into<String>) -> Self {
        Self {
            object_type: object_type.to_string(),
            id_property: id_property.into(),
        }
    }

    /// The scope of `client`'s runs.
    pub fn of(client: &crate::Client) -> Self {
        Self::new(client.object_type(), client.id_property())
    }

    /// The object type's name (or id, or qualified name).
    pub fn object_type(&self) -> &str {
        &self.object_type
    }

    /// The `idProperty`.
    pub fn id_property(&self) -> &str {
        &self.id_property
    }

    /// The name records' [`Fingerprint`]s are taken with (the `default_id_property`
    /// of [`Fingerprint::of`] and [`Resume::new`]): the `idProperty` for tickets (whose
    /// reports predate object types and keep their fingerprints), `type/idProperty`
    /// for any other object type, so that the same id and content under two scopes
    /// never share a fingerprint.
    pub fn fingerprint_name(&self) -> String {
        if self.object_type == ObjectType::TICKETS.to_string() {
            self.id_property.clone()
        } else {
            format!("{}/{}", self.object_type, self.id_property)
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} by {}", self.object_type, self.id_property)
    }
}

/// What a journal line says happened to a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Recorded {
    /// HubSpot created the record.
    Created,
    /// HubSpot updated an existing record.
    Updated,
    /// HubSpot refused the record, or its request failed: it may have been written.
    Failed,
    /// The run stopped before the record was sent.
    NotAttempted,
    /// The input record is unusable; it was never sent.
    Invalid,
    /// A check without writing (the CLI's `--dry-run`): the record would be sent.
    WouldUpsert,
    /// A check without writing: valid, but an earlier record has the same id.
    Duplicate,
}

impl Recorded {
    /// Whether the record goes to a failed-records file (failed, not attempted,
    /// invalid).
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::NotAttempted | Self::Invalid)
    }
}

/// One line of a journal: one record's outcome.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Entry<'a> {
    /// Where the record was in its file, for a person (the CLI's 1-based line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// 0-based position of the record in the input of the run that wrote this line
    /// (every record counted, invalid ones too, so that elements of a one-line JSON
    /// array differ).
    pub position: u64,
    /// The record's id (the `idProperty` value), when known.
    pub id: Option<&'a str>,
    /// What happened.
    pub outcome: Recorded,
    /// HubSpot's record id, when written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_id: Option<&'a str>,
    /// What the record wrote, when written: what a resumed run compares.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
    /// What went wrong, in [`ErrorKind`]'s one spelling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    /// HubSpot's error category, when it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_category: Option<&'a str>,
    /// The error message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<&'a str>,
    /// HTTP status of the answer that failed the record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// HubSpot's correlation id, for support requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<&'a str>,
}

impl<'a> Entry<'a> {
    /// A line with only the basics set.
    pub fn new(position: u64, id: Option<&'a str>, outcome: Recorded) -> Self {
        Self {
            line: None,
            position,
            id,
            outcome,
            object_id: None,
            fingerprint: None,
            error_kind: None,
            error_category: None,
            error_message: None,
            http_status: None,
            correlation_id: None,
        }
    }

    /// The same line with the record's line in its file set.
    pub fn at_line(mut self, line: u64) -> Self {
        self.line = Some(line);
        self
    }

    /// The same line with a failure's details.
    pub fn failure(mut self, f: &'a crate::error::Failure, message: &'a str) -> Self {
        self.error_kind = Some(f.kind);
        self.error_category = f.category.as_deref();
        self.error_message = Some(message);
        self.http_status = f.status;
        self.correlation_id = f.correlation_id.as_deref();
        self
    }
}

/// The first line of a journal.
#[derive(Serialize, Deserialize)]
struct Header<'a> {
    journal: Cow<'a, str>,
    version: u32,
    object_type: Cow<'a, str>,
    id_property: Cow<'a, str>,
}

/// The header's `journal` value.
const MAGIC: &str = "hubspot-tickets";

/// A line written before a batch is sent: from then on HubSpot may hold what these
/// records carry, until their outcome lines say.
#[derive(Serialize, Deserialize)]
struct Sending<'a> {
    #[serde(borrow)]
    sending: Vec<Cow<'a, str>>,
}

/// The fields of an outcome line that resuming reads.
#[derive(Deserialize)]
struct ReadLine {
    id: Option<String>,
    outcome: Recorded,
    fingerprint: Option<Fingerprint>,
}

/// A journal that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The file could not be opened, read, locked or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The journal.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another run (this process or another) is writing the journal.
    #[error(
        "{}: another run is writing this file (it holds its lock); wait for it to finish, or choose another file",
        path.display()
    )]
    Locked {
        /// The journal.
        path: PathBuf,
    },
    /// The file is not a journal (nor an earlier version's report); nothing in it was
    /// changed.
    #[error("{}:{line}: not a report line ({why}); the file was left as it is", path.display())]
    NotAJournal {
        /// The file.
        path: PathBuf,
        /// The 1-based line that is not a journal line.
        line: u64,
        /// What is wrong with it.
        why: String,
    },
    /// The journal was written for another object type or `idProperty`.
    #[error(
        "{}: this report is for {found}, and this run upserts {expected}: resuming from it could skip records it never wrote; use a report of this scope, or none",
        path.display()
    )]
    OtherScope {
        /// The journal.
        path: PathBuf,
        /// Its scope.
        found: Scope,
        /// This run's.
        expected: Scope,
    },
}

impl JournalError {
    /// The journal the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Io { path, .. }
            | Self::Locked { path }
            | Self::NotAJournal { path, .. }
            | Self::OtherScope { path, .. } => path,
        }
    }
}

/// What opening a journal read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Loaded {
    /// Whole lines read (the header included).
    pub lines: u64,
    /// Records the journal shows written (and not made uncertain since).
    pub written: u64,
    /// Bytes of a torn last line cut off (a run killed while writing it); its record
    /// is sent again.
    pub cut_bytes: u64,
    /// Whether the journal has no header: a report of an earlier version (its
    /// fingerprints carry the scope, so it cannot make another scope skip records).
    pub legacy: bool,
}

/// A journal opened for a run: what earlier runs wrote ([`resume`](Self::resume)) and
/// the writer this run appends to ([`writer`](Self::writer)), locked for the run.
#[derive(Debug)]
pub struct Journal {
    writer: JournalWriter,
    resume: Resume,
    loaded: Loaded,
}

impl Journal {
    /// A new, empty journal at `path` for a run of `scope` (an existing file is
    /// replaced, once its lock is taken).
    pub fn create(path: impl AsRef<Path>, scope: &Scope) -> Result<Self, JournalError> {
        let writer = JournalWriter::create(path.as_ref(), scope)?;
        Ok(Self {
            writer,
            resume: Resume::new(scope.fingerprint_name()),
            loaded: Loaded::default(),
        })
    }

    /// Opens the journal at `path` to resume from and append to (a missing file is
    /// created): reads what earlier runs wrote, after taking the lock. A file that is
    /// not a journal of `scope` is refused and left as it is.
    pub fn open(path: impl AsRef<Path>, scope: &Scope) -> Result<Self, JournalError> {
        let (writer, resume, loaded) = file::open_existing(path.as_ref(), scope)?;
        Ok(Self {
            writer,
            resume,
            loaded,
        })
    }

    /// What opening read.
    pub fn loaded(&self) -> Loaded {
        self.loaded
    }

    /// What earlier runs wrote, to decide what to send.
    pub fn resume(&mut self) -> &mut Resume {
        &mut self.resume
    }

    /// The writer this run appends to.
    pub fn writer(&mut self) -> &mut JournalWriter {
        &mut self.writer
    }

    /// The two halves, for a caller that decides and writes in different places.
    pub fn into_parts(self) -> (JournalWriter, Resume) {
        (self.writer, self.resume)
    }

    /// Reads the whole input once before the run (an input that can be read twice: a
    /// `Vec`, a file), so that resuming decides per id from the input's *last* record
    /// of it: every record of an id is skipped when its last one is what the journal
    /// shows written, and all are sent, in order, otherwise. Without it, an input with
    /// repeated ids may have an older record sent again before the newer one (the
    /// newer one still wins, but HubSpot holds the older value for a moment).
    pub fn plan<'i>(&mut self, inputs: impl IntoIterator<Item = &'i RecordInput>) {
        for input in inputs {
            self.resume.plan(input);
        }
    }
}

/// Why one line cannot be read.
enum BadLine {
    NotAJournal(String),
    OtherScope(Scope),
}

/// Reads one non-empty line of a journal into `resume`; `first` for the file's first
/// non-empty line, which may be the header. True for the header.
fn read_line(
    text: &[u8],
    first: bool,
    scope: &Scope,
    resume: &mut Resume,
) -> Result<bool, BadLine> {
    if first
        && let Ok(h) = serde_json::from_slice::<Header<'_>>(text)
        && h.journal == MAGIC
    {
        if h.version > JOURNAL_VERSION {
            return Err(BadLine::NotAJournal(format!(
                "written by a later version of this tool (journal version {})",
                h.version
            )));
        }
        let found = Scope {
            object_type: h.object_type.into_owned(),
            id_property: h.id_property.into_owned(),
        };
        if found.fingerprint_name() != scope.fingerprint_name() {
            return Err(BadLine::OtherScope(found));
        }
        return Ok(true);
    }
    if !text.starts_with(b"{") {
        return Err(BadLine::NotAJournal("not a JSON object".to_owned()));
    }
    if text.starts_with(b"{\"sending\":") {
        let s: Sending<'_> =
            serde_json::from_slice(text).map_err(|e| BadLine::NotAJournal(e.to_string()))?;
        for id in &s.sending {
            resume.unsure(None, id);
        }
        return Ok(false);
    }
    let l: ReadLine =
        serde_json::from_slice(text).map_err(|e| BadLine::NotAJournal(e.to_string()))?;
    let Some(id) = l.id else {
        return Ok(false);
    };
    match l.outcome {
        Recorded::Created | Recorded::Updated => match l.fingerprint {
            Some(fp) => resume.written(None, &id, fp),
            // Written, but what it wrote is unknown: not a reason to skip anything.
            None => resume.unsure(None, &id),
        },
        // It may have been written, with content this line does not give.
        Recorded::Failed => resume.unsure(None, &id),
        // Never sent: HubSpot holds whatever it held before.
        _ => {}
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::RecordInput;
    use crate::resume::Decision;

    fn scope() -> Scope {
        Scope::new(&ObjectType::TICKETS, "external_ticket_id")
    }

    fn written(w: &mut JournalWriter, position: u64, input: &RecordInput) {
        let fp = Fingerprint::of(input, "external_ticket_id");
        let mut e = Entry::new(position, Some(input.id()), Recorded::Created);
        e.object_id = Some("1");
        e.fingerprint = Some(fp);
        w.write(&e).unwrap();
    }

    #[test]
    fn a_journal_reads_back_what_it_wrote_and_only_a_torn_journal_line_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        let a = RecordInput::new("A").property("subject", "a");
        let b = RecordInput::new("B").property("subject", "b");
        let mut w = JournalWriter::create(&p, &scope()).unwrap();
        written(&mut w, 0, &a);
        written(&mut w, 1, &b);
        // B then failed in a later batch: it may hold something else now.
        w.write(&Entry::new(2, Some("B"), Recorded::Failed))
            .unwrap();
        w.finish().unwrap();
        let whole = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, format!("{whole}{{\"position\":3,\"id\":\"C\",\"outc")).unwrap();
        let mut j = Journal::open(&p, &scope()).unwrap();
        let l = j.loaded();
        assert_eq!((l.lines, l.written, l.legacy), (4, 1, false));
        assert_eq!(l.cut_bytes, 28);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), whole);
        assert_eq!(j.resume().decide(&a), Decision::AlreadyWritten);
        assert_eq!(j.resume().decide(&b), Decision::Send);
        drop(j);

        // Not a journal line at the end, or anywhere: refused, unchanged.
        for bad in [
            format!("{whole}[{{\"a\":1}}"),
            format!("{whole}not json\n"),
            "{\"external_ticket_id\":\"A\",\"subject\":\"x\"}\n".to_owned(),
            "[{\"external_ticket_id\":\"A\"}]".to_owned(),
            format!("{whole}{}\n", "x".repeat(5 << 20)),
        ] {
            std::fs::write(&p, &bad).unwrap();
            let e = Journal::open(&p, &scope()).unwrap_err();
            assert!(matches!(e, JournalError::NotAJournal { .. }), "{e}");
            assert_eq!(std::fs::read_to_string(&p).unwrap(), bad);
        }
    }

    #[test]
    fn a_batch_being_sent_makes_its_ids_uncertain_until_their_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        let a = RecordInput::new("A").property("subject", "a");
        let b = RecordInput::new("B").property("subject", "b");
        let mut w = JournalWriter::create(&p, &scope()).unwrap();
        written(&mut w, 0, &a);
        written(&mut w, 1, &b);
        // A later run sends A and B again; B's answer arrives, A's never does (killed).
        w.sending(["A", "B"]).unwrap();
        written(&mut w, 1, &b);
        w.flush().unwrap();
        drop(w);
        let mut j = Journal::open(&p, &scope()).unwrap();
        assert_eq!(j.loaded().written, 1);
        assert_eq!(j.resume().decide(&a), Decision::Send);
        assert_eq!(j.resume().decide(&b), Decision::AlreadyWritten);
    }

    #[test]
    fn a_power_loss_tail_is_cut_and_a_blank_file_gets_a_header() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        let mut w = JournalWriter::create(&p, &scope()).unwrap();
        written(&mut w, 0, &RecordInput::new("A"));
        w.finish().unwrap();
        let whole = std::fs::read(&p).unwrap();
        for tail in [
            &b"\0\0\0\0"[..],
            b"{",
            b"{\"",
            b"{\"li",
            b"{\"position\":1,\0\0",
        ] {
            let mut torn = whole.clone();
            torn.extend_from_slice(tail);
            std::fs::write(&p, &torn).unwrap();
            let j = Journal::open(&p, &scope()).unwrap();
            assert_eq!(j.loaded().cut_bytes, tail.len() as u64);
            drop(j);
            assert_eq!(std::fs::read(&p).unwrap(), whole);
        }
        std::fs::write(&p, "\n\n").unwrap();
        let j = Journal::open(&p, &scope()).unwrap();
        assert!(!j.loaded().legacy);
        drop(j);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with("\n\n{\"journal\":"), "{text:?}");
        Journal::open(&p, &scope()).unwrap();
    }

    #[test]
    fn creating_a_journal_never_replaces_other_data() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("export.json");
        std::fs::write(&p, "[{\"external_ticket_id\":\"A\"}]").unwrap();
        let e = JournalWriter::create(&p, &scope()).unwrap_err();
        assert!(matches!(e, JournalError::NotAJournal { .. }), "{e}");
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "[{\"external_ticket_id\":\"A\"}]"
        );
        std::fs::write(&p, "").unwrap();
        JournalWriter::create(&p, &scope()).unwrap();
        // An earlier journal is replaced, from its first byte.
        let mut w = JournalWriter::create(&p, &scope()).unwrap();
        written(&mut w, 0, &RecordInput::new("A"));
        w.finish().unwrap();
        let before = std::fs::read_to_string(&p).unwrap();
        JournalWriter::create(&p, &scope())
            .unwrap()
            .finish()
            .unwrap();
        let after = std::fs::read_to_string(&p).unwrap();
        assert!(after.starts_with("{\"journal\":"), "{after:?}");
        assert!(after.len() < before.len(), "{after:?}");
    }

    #[test]
    fn reports_of_earlier_versions_resume_and_keep_their_scope() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("old.jsonl");
        let a = RecordInput::new("A").property("subject", "a");
        let fp = Fingerprint::of(&a, "external_ticket_id");
        std::fs::write(
            &p,
            format!(
                "{{\"line\":2,\"id\":\"A\",\"outcome\":\"created\",\"object_id\":\"1\",\"fingerprint\":\"{fp}\"}}\n\
                 {{\"line\":3,\"id\":null,\"outcome\":\"invalid\"}}\n"
            ),
        )
        .unwrap();
        let mut j = Journal::open(&p, &scope()).unwrap();
        assert!(j.loaded().legacy);
        assert_eq!(j.resume().decide(&a), Decision::AlreadyWritten);
        drop(j);
        // The same lines read for contacts: fingerprints differ, nothing is skipped.
        let contacts = Scope::new(&ObjectType::CONTACTS, "external_ticket_id");
        let mut j = Journal::open(&p, &contacts).unwrap();
        assert_eq!(j.resume().decide(&a), Decision::Send);
    }
}
