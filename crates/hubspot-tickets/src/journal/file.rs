//! The journal on disk: the lock, reading an earlier journal, cutting a torn last line,
//! and the writer that only ever hands the file whole lines.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use std::borrow::Cow;

use super::{BadLine, Entry, Header, JOURNAL_VERSION, JournalError, Loaded, MAGIC, Scope, Sending};
use crate::resume::Resume;

/// A line longer than this is not a journal line (a journal's longest lines carry an
/// error message of a few KiB).
const MAX_LINE: u64 = 4 << 20;

/// Bytes of whole lines gathered before a write.
const BUFFER: usize = 64 * 1024;

/// How often written lines are synced to disk, at most.
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// The first bytes of every line this crate writes, and of the reports of earlier
/// versions: a torn last line is cut only when it starts with one of them.
const LINE_STARTS: [&[u8]; 4] = [
    b"{\"journal\":",
    b"{\"line\":",
    b"{\"position\":",
    b"{\"sending\":",
];

/// Whether a last line without an end is one of this crate's lines, torn: NUL bytes (a
/// power loss leaves blocks of zeros) after what starts like a journal line, or the
/// beginning of one cut even shorter.
fn torn_journal_line(tail: &[u8]) -> bool {
    let end = tail.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    let text = &tail[..end];
    text.is_empty()
        || LINE_STARTS
            .iter()
            .any(|s| text.starts_with(s) || s.starts_with(text))
}

fn io_error(path: &Path) -> impl Fn(io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Takes the exclusive lock of a regular file (pipes and devices have no other
/// writer to keep out, and cannot be locked).
fn lock(file: &File, path: &Path, regular: bool) -> Result<(), JournalError> {
    if !regular {
        return Ok(());
    }
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(JournalError::Locked {
            path: path.to_owned(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(io_error(path)(e)),
    }
}

/// Whether another run holds `path`'s lock now ([`JournalError::Locked`] if so), without
/// creating, changing or keeping the file: a command that does slow work (a network
/// read) before opening its journal refuses a busy one first. The lock is still taken
/// when the journal is opened.
pub fn check_unlocked(path: &Path) -> Result<(), JournalError> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    if !meta.is_file() {
        return Ok(());
    }
    let file = File::open(path).map_err(io_error(path))?;
    lock(&file, path, true)
}

/// Opens `path` for reading and writing under an exclusive lock, creating
/// it if missing and without truncating it: a file another run is writing is refused
/// ([`JournalError::Locked`]) before a byte of it changes. Returns the file and whether
/// it is a regular file (pipes and devices are not locked). The lock lasts as long as
/// the file is open.
pub fn open_locked(path: &Path) -> Result<(File, bool), JournalError> {
    // A pipe or a FIFO is opened for writing only: a writer that also reads it would
    // keep it open for itself, never see its reader go, and block once it is full.
    let read = std::fs::metadata(path).map_or(true, |m| m.is_file());
    let file = OpenOptions::new()
        .read(read)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io_error(path))?;
    let regular = file.metadata().map_err(io_error(path))?.is_file();
    lock(&file, path, regular)?;
    Ok((file, regular))
}

/// Refuses to replace a file that holds something else than a journal (an input
/// given in the wrong place, say): only an empty file, or one whose first line is a
/// journal's, is replaced.
fn refuse_other_data(file: &File, path: &Path) -> Result<(), JournalError> {
    let mut head = Vec::new();
    file.take(64 * 1024)
        .read_to_end(&mut head)
        .map_err(io_error(path))?;
    let start = head.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return Ok(());
    };
    let first = &head[start..];
    let first = &first[..first
        .iter()
        .position(|b| *b == b'\n')
        .unwrap_or(first.len())];
    if LINE_STARTS.iter().any(|s| first.starts_with(s)) {
        return Ok(());
    }
    Err(JournalError::NotAJournal {
        path: path.to_owned(),
        line: 1,
        why: "it exists and holds something else than a report, which replacing it would destroy; choose another path, or delete it first".to_owned(),
    })
}

/// Opens an earlier journal to resume from: lock, read, check, cut a torn last line,
/// and position the writer at the end.
pub(super) fn open_existing(
    path: &Path,
    scope: &Scope,
) -> Result<(JournalWriter, Resume, Loaded), JournalError> {
    let (mut file, regular) = open_locked(path)?;
    if !regular {
        return Err(JournalError::NotAJournal {
            path: path.to_owned(),
            line: 1,
            why: "not a regular file".to_owned(),
        });
    }
    let mut resume = Resume::new(scope.fingerprint_name());
    let mut loaded = Loaded::default();
    let mut reader = BufReader::with_capacity(BUFFER, &file);
    let mut buf = Vec::new();
    let mut whole_len = 0_u64;
    let mut header = false;
    let mut entries = false;
    let mut torn = false;
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut buf)
            .map_err(io_error(path))?;
        if n == 0 {
            break;
        }
        let line_no = loaded.lines + 1;
        let not_a_journal = |why: &str| JournalError::NotAJournal {
            path: path.to_owned(),
            line: line_no,
            why: why.to_owned(),
        };
        if buf.len() as u64 > MAX_LINE {
            return Err(not_a_journal("a line longer than 4 MiB"));
        }
        if buf.last() != Some(&b'\n') {
            // A torn last line: a run killed while writing it. Only a file whose
            // lines so far are a journal's, ending in what starts like one of its
            // lines, is cut; anything else is not a journal.
            if !torn_journal_line(&buf) {
                return Err(not_a_journal(
                    "its last line has no end and is not a report line cut short; if a run was killed while writing it, delete that line",
                ));
            }
            torn = true;
            break;
        }
        let text = buf.trim_ascii();
        if !text.is_empty() {
            let first = !header && !entries;
            match super::read_line(text, first, scope, &mut resume) {
                Ok(true) => header = true,
                Ok(false) => entries = true,
                Err(BadLine::NotAJournal(why)) => return Err(not_a_journal(&why)),
                Err(BadLine::OtherScope(found)) => {
                    return Err(JournalError::OtherScope {
                        path: path.to_owned(),
                        found,
                        expected: scope.clone(),
                    });
                }
            }
        }
        loaded.lines += 1;
        whole_len += n as u64;
    }
    drop(reader);
    let end = file.seek(SeekFrom::End(0)).map_err(io_error(path))?;
    if torn {
        file.set_len(whole_len).map_err(io_error(path))?;
        loaded.cut_bytes = end - whole_len;
    }
    file.seek(SeekFrom::Start(whole_len))
        .map_err(io_error(path))?;
    loaded.legacy = entries && !header;
    loaded.written = resume.len() as u64;
    let mut writer = JournalWriter::new(file, path, regular, whole_len);
    if !header && !entries {
        // Nothing but blank lines (or a torn header): a journal starts with its header.
        writer.header(scope)?;
    }
    Ok((writer, resume, loaded))
}

/// Writes a journal: one JSON line per [`Entry`].
///
/// Lines are gathered in a buffer and handed to the file at line boundaries, and what
/// was written is synced to disk at most once a second by [`flush`](Self::flush) and
/// at [`finish`](Self::finish). A process killed while handing lines over may leave the
/// last one torn (the kernel stops a large write at a page boundary), and so may a
/// power loss; [`Journal::open`](super::Journal::open) cuts a torn last line and says
/// so. A failed write is cut back to the last whole line. The file is locked while the
/// writer lives. Pipes and FIFOs work too (never synced, never locked).
///
/// Every error is returned: a caller that goes on writing after one has lost lines.
#[derive(Debug)]
pub struct JournalWriter {
    file: File,
    buf: Vec<u8>,
    path: PathBuf,
    synced: Instant,
    /// A regular file: synced and locked (a pipe or a device is neither).
    regular: bool,
    /// Bytes of whole lines in the file: a failed write is cut back to it.
    len: u64,
}

impl JournalWriter {
    fn new(file: File, path: &Path, regular: bool, len: u64) -> Self {
        Self {
            file,
            buf: Vec::with_capacity(BUFFER),
            path: path.to_owned(),
            synced: Instant::now(),
            regular,
            len,
        }
    }

    /// Creates the journal at `path`, replacing a file there once its lock is taken,
    /// and writes its header line at once (so a full disk or a closed pipe is found
    /// before anything is sent).
    pub fn create(path: &Path, scope: &Scope) -> Result<Self, JournalError> {
        let (mut file, regular) = open_locked(path)?;
        if regular {
            refuse_other_data(&file, path)?;
            file.set_len(0).map_err(io_error(path))?;
            // Reading moved the position: the header goes at the start, not after a
            // hole the size of what was read.
            file.seek(SeekFrom::Start(0)).map_err(io_error(path))?;
        }
        let mut w = Self::new(file, path, regular, 0);
        w.header(scope)?;
        Ok(w)
    }

    /// Writes the header line at once, so that a full disk or a closed pipe is found
    /// before anything is sent.
    fn header(&mut self, scope: &Scope) -> Result<(), JournalError> {
        let h = Header {
            journal: MAGIC.into(),
            version: JOURNAL_VERSION,
            object_type: scope.object_type().into(),
            id_property: scope.id_property().into(),
        };
        serde_json::to_writer(&mut self.buf, &h).map_err(|e| io_error(&self.path)(e.into()))?;
        self.buf.push(b'\n');
        self.write_raw().map_err(io_error(&self.path))
    }

    /// Writes the buffer out; a failed write is cut back to the last whole line (a
    /// regular file), so the journal never ends in a line this writer half wrote.
    fn write_raw(&mut self) -> io::Result<()> {
        let r = self.file.write_all(&self.buf);
        match r {
            Ok(()) => self.len += self.buf.len() as u64,
            Err(_) if self.regular => {
                let _ = self.file.set_len(self.len);
            }
            Err(_) => {}
        }
        // On an error the lines are dropped, never written again later: a partial
        // write followed by a retry would garble the file.
        self.buf.clear();
        r
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds one line (written out when the buffer fills, or at the next flush).
    pub fn write(&mut self, entry: &Entry<'_>) -> io::Result<()> {
        serde_json::to_writer(&mut self.buf, entry).map_err(io::Error::other)?;
        self.buf.push(b'\n');
        if self.buf.len() >= BUFFER {
            self.write_out()?;
        }
        Ok(())
    }

    fn write_out(&mut self) -> io::Result<()> {
        self.write_raw()
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))
    }

    /// Notes that a batch holding these ids is about to be sent, in the file at once
    /// (with the lines before it): a run killed while the request is out leaves them
    /// uncertain, and a resumed run sends them again. Call it before the request.
    pub fn sending<'i>(&mut self, ids: impl IntoIterator<Item = &'i str>) -> io::Result<()> {
        let line = Sending {
            sending: ids.into_iter().map(Cow::Borrowed).collect(),
        };
        serde_json::to_writer(&mut self.buf, &line).map_err(io::Error::other)?;
        self.buf.push(b'\n');
        self.write_out()
    }

    /// Writes the lines gathered so far, and syncs them to disk if the last sync is
    /// a second old.
    pub fn flush(&mut self) -> io::Result<()> {
        self.write_out()?;
        if self.regular && self.synced.elapsed() >= SYNC_EVERY {
            self.sync()?;
        }
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.synced = Instant::now();
        self.file
            .sync_data()
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))
    }

    /// Writes and syncs everything, and releases the lock.
    pub fn finish(mut self) -> io::Result<PathBuf> {
        self.write_out()?;
        if self.regular {
            self.sync()?;
        }
        Ok(self.path)
    }
}
