//! Output files: the `--report` JSON Lines file and the `--failed` file in the input's
//! own format.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hubspot_tickets::{ErrorKind, Fingerprint};
use serde::Serialize;

use crate::input::{Format, Raw};

/// What happened to one input record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// HubSpot created the ticket.
    Created,
    /// HubSpot updated an existing ticket.
    Updated,
    /// HubSpot refused the record, or it could not be sent.
    Failed,
    /// The run stopped before the record was sent (daily limit, auth failure, deadline).
    NotAttempted,
    /// The input line is unusable; it was never sent.
    Invalid,
    /// `--dry-run`: the record is valid and would be sent.
    WouldUpsert,
    /// `--dry-run`: valid, but an earlier line has the same id.
    Duplicate,
}

impl OutcomeKind {
    /// Whether the record goes to the `--failed` file.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            OutcomeKind::Failed | OutcomeKind::NotAttempted | OutcomeKind::Invalid
        )
    }
}

/// One line of the `--report` file.
#[derive(Clone, Debug, Serialize)]
pub struct ReportLine<'a> {
    /// 1-based line of the record in the input.
    pub line: u64,
    /// The record's id (the unique property's value), when known.
    pub id: Option<&'a str>,
    /// What happened.
    pub outcome: OutcomeKind,
    /// HubSpot's record id (`hs_object_id`), when written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_id: Option<&'a str>,
    /// What the record wrote (for `--resume`), when it was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
    /// What went wrong, in the facade's one spelling (`validation`, `transport`,
    /// `invalid_input`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    /// HubSpot's error category (`VALIDATION_ERROR`...), when it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_category: Option<&'a str>,
    /// Error message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<&'a str>,
    /// HTTP status of the answer that failed the record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// HubSpot's correlation id, for support requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<&'a str>,
}

impl<'a> ReportLine<'a> {
    /// A line with only the basics set.
    pub fn new(line: u64, id: Option<&'a str>, outcome: OutcomeKind) -> Self {
        ReportLine {
            line,
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
}

fn create(path: &Path) -> io::Result<BufWriter<File>> {
    File::create(path)
        .map(|f| BufWriter::with_capacity(64 * 1024, f))
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// The `--report` writer: one JSON object per line, written as outcomes arrive.
///
/// Durable enough to resume from: the file only ever receives whole lines (its own
/// buffer is written at line boundaries), [`flush`](Self::flush) is called after each
/// batch, and the data is synced to disk at most once a second. A process killed at any
/// moment leaves whole lines, and after a power loss at most the last one is cut.
#[derive(Debug)]
pub struct ReportWriter {
    file: File,
    buf: Vec<u8>,
    path: PathBuf,
    synced: Instant,
}

/// Bytes of whole lines gathered before a write.
const REPORT_BUFFER: usize = 64 * 1024;

impl ReportWriter {
    /// Creates (truncates) the file.
    pub fn create(path: &Path) -> io::Result<ReportWriter> {
        let file = File::create(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok(ReportWriter {
            file,
            buf: Vec::with_capacity(REPORT_BUFFER),
            path: path.to_owned(),
            synced: Instant::now(),
        })
    }

    /// Opens an existing report to add lines at its end (`--resume`).
    pub fn append(path: &Path) -> io::Result<ReportWriter> {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok(ReportWriter {
            file,
            buf: Vec::with_capacity(REPORT_BUFFER),
            path: path.to_owned(),
            synced: Instant::now(),
        })
    }

    /// Adds one line.
    pub fn write(&mut self, line: &ReportLine<'_>) -> io::Result<()> {
        serde_json::to_writer(&mut self.buf, line).map_err(io::Error::other)?;
        self.buf.push(b'\n');
        if self.buf.len() >= REPORT_BUFFER {
            self.write_out()?;
        }
        Ok(())
    }

    fn write_out(&mut self) -> io::Result<()> {
        self.file.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Writes the lines gathered so far, and syncs them to disk if the last sync is a
    /// second old.
    pub fn flush(&mut self) -> io::Result<()> {
        self.write_out()?;
        if self.synced.elapsed() >= Duration::from_secs(1) {
            self.file.sync_data()?;
            self.synced = Instant::now();
        }
        Ok(())
    }

    /// Writes and syncs everything.
    pub fn finish(mut self) -> io::Result<PathBuf> {
        self.write_out()?;
        self.file.sync_data()?;
        Ok(self.path)
    }
}

/// The `--failed` writer: failed, not attempted and invalid records, in the input's own
/// format, so that fixing them and re-running is one command.
#[derive(Debug)]
pub struct FailedWriter {
    kind: FailedKind,
    path: PathBuf,
    count: u64,
}

#[derive(Debug)]
enum FailedKind {
    Jsonl(BufWriter<File>),
    Json(BufWriter<File>),
    Csv(Box<csv::Writer<BufWriter<File>>>),
}

impl FailedWriter {
    /// Creates (truncates) the file; a CSV file starts with the input's header row.
    pub fn create(
        path: &Path,
        format: Format,
        csv_headers: Option<&csv::ByteRecord>,
    ) -> io::Result<FailedWriter> {
        let out = create(path)?;
        let kind = match format {
            Format::Jsonl => FailedKind::Jsonl(out),
            Format::Json => {
                let mut out = out;
                out.write_all(b"[")?;
                FailedKind::Json(out)
            }
            Format::Csv => {
                let mut w = csv::WriterBuilder::new().flexible(true).from_writer(out);
                if let Some(h) = csv_headers {
                    w.write_byte_record(h)?;
                }
                FailedKind::Csv(Box::new(w))
            }
        };
        Ok(FailedWriter {
            kind,
            path: path.to_owned(),
            count: 0,
        })
    }

    /// Appends one record's original text.
    pub fn write(&mut self, raw: &Raw) -> io::Result<()> {
        match (&mut self.kind, raw) {
            (FailedKind::Jsonl(out), Raw::Text(t)) => {
                out.write_all(t)?;
                out.write_all(b"\n")?;
            }
            (FailedKind::Json(out), Raw::Text(t)) => {
                out.write_all(if self.count == 0 { b"\n" } else { b",\n" })?;
                out.write_all(t)?;
            }
            (FailedKind::Csv(w), Raw::Csv(r)) => w.write_byte_record(r)?,
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "record kept in another format than the failed file",
                ));
            }
        }
        self.count += 1;
        Ok(())
    }

    /// Writes the records gathered so far into the file.
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.kind {
            FailedKind::Jsonl(out) | FailedKind::Json(out) => out.flush(),
            FailedKind::Csv(w) => w.flush(),
        }
    }

    /// Closes the JSON array if any and flushes.
    pub fn finish(self) -> io::Result<(PathBuf, u64)> {
        match self.kind {
            FailedKind::Jsonl(mut out) => out.flush()?,
            FailedKind::Json(mut out) => {
                out.write_all(if self.count == 0 { b"]\n" } else { b"\n]\n" })?;
                out.flush()?;
            }
            FailedKind::Csv(mut w) => w.flush()?,
        }
        Ok((self.path, self.count))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn report_lines_skip_empty_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let mut w = ReportWriter::create(&path).unwrap();
        let mut l = ReportLine::new(3, Some("ZD-1"), OutcomeKind::Created);
        l.object_id = Some("101");
        w.write(&l).unwrap();
        let mut l = ReportLine::new(4, None, OutcomeKind::Invalid);
        l.error_kind = Some(ErrorKind::InvalidInput);
        l.error_message = Some("empty id");
        w.write(&l).unwrap();
        w.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\"line\":3,\"id\":\"ZD-1\",\"outcome\":\"created\",\"object_id\":\"101\"}\n\
             {\"line\":4,\"id\":null,\"outcome\":\"invalid\",\"error_kind\":\"invalid_input\",\"error_message\":\"empty id\"}\n"
        );
    }

    #[test]
    fn failed_files_keep_the_input_format() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.csv");
        let headers = csv::ByteRecord::from(vec!["external_ticket_id", "subject"]);
        let mut w = FailedWriter::create(&p, Format::Csv, Some(&headers)).unwrap();
        w.write(&Raw::Csv(csv::ByteRecord::from(vec!["A", "has, comma"])))
            .unwrap();
        assert_eq!(w.finish().unwrap().1, 1);
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "external_ticket_id,subject\nA,\"has, comma\"\n"
        );

        let p = dir.path().join("f.json");
        let mut w = FailedWriter::create(&p, Format::Json, None).unwrap();
        w.write(&Raw::Text(b"{\"a\":1}".to_vec())).unwrap();
        w.write(&Raw::Text(b"{\"a\":2}".to_vec())).unwrap();
        w.finish().unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text, "[\n{\"a\":1},\n{\"a\":2}\n]\n");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 2);

        let p = dir.path().join("empty.json");
        FailedWriter::create(&p, Format::Json, None)
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "[]\n");

        let p = dir.path().join("f.jsonl");
        let mut w = FailedWriter::create(&p, Format::Jsonl, None).unwrap();
        w.write(&Raw::Text(b"{\"a\":1}".to_vec())).unwrap();
        assert!(w.write(&Raw::Csv(csv::ByteRecord::new())).is_err());
        w.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\"a\":1}\n");
    }
}
