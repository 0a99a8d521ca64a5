//! Output files: the `--report` JSON Lines file and the `--failed` file in the input's
//! own format.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use hubspot_tickets::journal::Recorded;

use crate::input::{Format, Raw};

/// What happened to one input record: the journal's word for it (`created`,
/// `not_attempted`, `would_upsert`...).
pub type OutcomeKind = Recorded;

fn create(path: &Path) -> io::Result<BufWriter<File>> {
    File::create(path)
        .map(|f| BufWriter::with_capacity(64 * 1024, f))
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// The `--failed` writer: failed, not attempted and invalid records, in the input's own
/// format and exactly as they were read (an invalid record stays invalid), so that
/// fixing them and re-running is one command.
///
/// A failed record that a later record with the same id superseded (the later one was
/// written) is left out when the file is finished: re-running it would put the older
/// value back. Until then the file holds it (a killed run leaves the longer file, never
/// a shorter one).
#[derive(Debug)]
pub struct FailedWriter {
    format: Format,
    out: BufWriter<File>,
    /// A regular file (a pipe cannot be read back to leave records out).
    regular: bool,
    path: PathBuf,
    /// Bytes before the first record (a CSV header row, a JSON `[`).
    prefix: u64,
    /// Bytes written so far.
    written: u64,
    /// Where each record's text is in the file, and its input position.
    entries: Vec<(u64, usize, u64)>,
    /// Whether records were written out of input order (a record kept back by the
    /// preflight is written before an earlier one's answer comes).
    unordered: bool,
    /// Failed records by id, with their input positions: the entries a write of that
    /// id from a later position supersedes.
    failed_ids: HashMap<Box<str>, Vec<(usize, u64)>>,
    superseded: Vec<usize>,
}

impl FailedWriter {
    /// Creates the file (what it held is first kept beside it, see `previous`: the kept
    /// path and its size are returned); a CSV file starts with the input's header row.
    pub fn create(
        path: &Path,
        format: Format,
        csv_headers: Option<(&csv::ByteRecord, csv::Terminator)>,
    ) -> io::Result<(FailedWriter, Option<(PathBuf, u64)>)> {
        // Readable too: superseded records are left out by reading the others back.
        // Locked before anything changes: a second run writing the same file is
        // refused, not interleaved.
        let open = || {
            hubspot_tickets::journal::open_locked(path).map_err(|e| io::Error::other(e.to_string()))
        };
        let (mut file, regular) = open()?;
        let at = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
        let mut kept = None;
        let held = if regular {
            file.metadata().map_err(at)?.len()
        } else {
            0
        };
        if held > 0 {
            // What is there may be anything (last night's failed file, or an export
            // given in the wrong place): it is kept beside, never destroyed, under a
            // name no earlier run took.
            let to = previous(path);
            std::fs::rename(path, &to).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("{} -> {}: {e}", path.display(), to.display()),
                )
            })?;
            kept = Some((to, held));
            file = open()?.0;
        }
        let mut out = BufWriter::with_capacity(64 * 1024, file);
        let prefix = prefix_of(format, csv_headers)?;
        // Written at once: a full disk or a closed pipe is found before anything is sent.
        out.write_all(&prefix)?;
        out.flush()
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let w = FailedWriter {
            format,
            out,
            regular,
            path: path.to_owned(),
            prefix: prefix.len() as u64,
            written: prefix.len() as u64,
            entries: Vec::new(),
            failed_ids: HashMap::new(),
            superseded: Vec::new(),
            unordered: false,
        };
        Ok((w, kept))
    }

    /// Appends the original text of the record at input `position`; `failed_id` names
    /// a failed record that a write of the same id from a later position would
    /// supersede.
    pub fn write(&mut self, raw: &Raw, position: u64, failed_id: Option<&str>) -> io::Result<()> {
        let text = match (self.format, raw) {
            (Format::Jsonl | Format::Json, Raw::Text(t)) | (Format::Csv, Raw::Csv(t)) => t,
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "record kept in another format than the failed file",
                ));
            }
        };
        let index = self.entries.len();
        let offset = self.written + separator(self.format, index).len() as u64;
        self.written += write_entry(&mut self.out, self.format, index, text)?;
        if self.entries.last().is_some_and(|&(_, _, p)| p > position) {
            self.unordered = true;
        }
        self.entries.push((offset, text.len(), position));
        if let Some(id) = failed_id {
            let k = self.entries.len() - 1;
            self.failed_ids
                .entry(id.into())
                .or_default()
                .push((k, position));
        }
        Ok(())
    }

    /// The record at input `position` with this id was written: failed records of it
    /// from earlier positions are superseded (re-running them would put an older value
    /// back). One from a later position is not: it failed without being sent (the
    /// preflight judges a record before an earlier one's answer comes), and it holds
    /// the newer value. Returns how many were superseded.
    pub fn written_again(&mut self, id: &str, position: u64) -> u64 {
        // Every written record passes here: no lookup while nothing has failed.
        if self.failed_ids.is_empty() {
            return 0;
        }
        let Some(entries) = self.failed_ids.get_mut(id) else {
            return 0;
        };
        let before = self.superseded.len();
        entries.retain(|&(k, failed_at)| {
            let older = failed_at < position;
            if older {
                self.superseded.push(k);
            }
            !older
        });
        if entries.is_empty() {
            self.failed_ids.remove(id);
        }
        (self.superseded.len() - before) as u64
    }

    /// Writes the records gathered so far into the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Closes the JSON array if any, leaves superseded records out, and flushes.
    /// Returns the path and the number of records in the file.
    pub fn finish(mut self) -> io::Result<(PathBuf, u64)> {
        // In input order, without superseded records: a re-run of the file then sends
        // each id's records oldest first, as the input had them.
        if (!self.superseded.is_empty() || self.unordered) && self.regular {
            return self.rewrite();
        }
        self.out
            .write_all(ending(self.format, self.entries.len()))?;
        self.out.flush()?;
        Ok((self.path, self.entries.len() as u64))
    }

    /// Writes the file again in input order without the superseded records, beside it,
    /// then renames it over the first (a stop in between leaves the longer file).
    fn rewrite(mut self) -> io::Result<(PathBuf, u64)> {
        use std::os::unix::fs::FileExt;
        self.out.flush()?;
        let old = self.out.get_ref();
        let mut dropped = vec![false; self.entries.len()];
        for k in &self.superseded {
            if let Some(d) = dropped.get_mut(*k) {
                *d = true;
            }
        }
        let tmp = self.path.with_extension("rewrite.tmp");
        let mut w = create(&tmp)?;
        let mut prefix = vec![0_u8; usize::try_from(self.prefix).unwrap_or(0)];
        old.read_exact_at(&mut prefix, 0)?;
        w.write_all(&prefix)?;
        let mut kept = 0_usize;
        let mut text = Vec::new();
        let mut order: Vec<usize> = (0..self.entries.len()).collect();
        order.sort_by_key(|&k| self.entries.get(k).map_or(0, |e| e.2));
        for k in order {
            let (Some(&(offset, len, _)), Some(false)) = (self.entries.get(k), dropped.get(k))
            else {
                continue;
            };
            text.resize(len, 0);
            old.read_exact_at(&mut text, offset)?;
            write_entry(&mut w, self.format, kept, &text)?;
            kept += 1;
        }
        w.write_all(ending(self.format, kept))?;
        w.flush()?;
        std::fs::rename(&tmp, &self.path)?;
        Ok((self.path, kept as u64))
    }
}

/// Where an existing failed file is kept: `NAME.previous`, or `NAME.previous.2`,
/// `.3`... when that is taken (nothing kept earlier is replaced).
fn previous(path: &Path) -> PathBuf {
    let with = |suffix: String| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    let mut n = 1_u32;
    loop {
        let candidate = with(if n == 1 {
            ".previous".to_owned()
        } else {
            format!(".previous.{n}")
        });
        if std::fs::symlink_metadata(&candidate).is_err() || n == u32::MAX {
            return candidate;
        }
        n += 1;
    }
}

/// What goes before record number `index` of a failed file: `,` between JSON array
/// elements, nothing between lines.
fn separator(format: Format, index: usize) -> &'static [u8] {
    match format {
        Format::Json if index == 0 => b"\n",
        Format::Json => b",\n",
        _ => b"",
    }
}

/// Writes record number `index` of a failed file, with its separator and (for lines)
/// a line end when the text has none; returns the bytes written.
fn write_entry(out: &mut impl Write, format: Format, index: usize, text: &[u8]) -> io::Result<u64> {
    let separator = separator(format, index);
    out.write_all(separator)?;
    out.write_all(text)?;
    let mut n = separator.len() + text.len();
    // A record ends its line (the last one of a CSV file may not have).
    if format != Format::Json && !text.ends_with(b"\n") {
        out.write_all(b"\n")?;
        n += 1;
    }
    Ok(n as u64)
}

/// What ends a failed file of `records` records: a JSON array's `]`.
fn ending(format: Format, records: usize) -> &'static [u8] {
    match format {
        Format::Json if records == 0 => b"]\n",
        Format::Json => b"\n]\n",
        _ => b"",
    }
}

/// What a failed file starts with: the CSV header row, or a JSON array's `[`.
fn prefix_of(
    format: Format,
    csv_headers: Option<(&csv::ByteRecord, csv::Terminator)>,
) -> io::Result<Vec<u8>> {
    Ok(match format {
        Format::Jsonl => Vec::new(),
        Format::Json => b"[".to_vec(),
        Format::Csv => {
            // The input's line end: a CRLF file's failed file is CRLF from its header on.
            let end = csv_headers.map_or(csv::Terminator::Any(b'\n'), |(_, end)| end);
            let mut w = csv::WriterBuilder::new()
                .flexible(true)
                .terminator(end)
                .from_writer(Vec::new());
            if let Some((h, _)) = csv_headers {
                w.write_byte_record(h)?;
            }
            w.into_inner()
                .map_err(|e| io::Error::other(e.to_string()))?
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn failed_files_keep_the_input_format() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.csv");
        let headers = csv::ByteRecord::from(vec!["external_ticket_id", "subject"]);
        let mut w = FailedWriter::create(
            &p,
            Format::Csv,
            Some((&headers, csv::Terminator::Any(b'\n'))),
        )
        .unwrap()
        .0;
        w.write(&Raw::Csv(b"A,\"has, comma\"\r\n".to_vec()), 0, None)
            .unwrap();
        // The last record of a file may have no line end; an unclosed quote stays so.
        w.write(&Raw::Csv(b"B,\"open".to_vec()), 1, None).unwrap();
        assert_eq!(w.finish().unwrap().1, 2);
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "external_ticket_id,subject\nA,\"has, comma\"\r\nB,\"open\n"
        );

        let p = dir.path().join("f.json");
        let mut w = FailedWriter::create(&p, Format::Json, None).unwrap().0;
        w.write(&Raw::Text(b"{\"a\":1}".to_vec()), 0, None).unwrap();
        w.write(&Raw::Text(b"{\"a\":2}".to_vec()), 1, None).unwrap();
        w.finish().unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text, "[\n{\"a\":1},\n{\"a\":2}\n]\n");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 2);

        let p = dir.path().join("empty.json");
        FailedWriter::create(&p, Format::Json, None)
            .unwrap()
            .0
            .finish()
            .unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "[]\n");

        let p = dir.path().join("f.jsonl");
        let mut w = FailedWriter::create(&p, Format::Jsonl, None).unwrap().0;
        w.write(&Raw::Text(b"{\"a\":1}".to_vec()), 0, None).unwrap();
        assert!(w.write(&Raw::Csv(Vec::new()), 1, None).is_err());
        w.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\"a\":1}\n");
    }

    #[test]
    fn failed_records_superseded_by_a_later_write_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        for format in [Format::Jsonl, Format::Json, Format::Csv] {
            let p = dir.path().join(format!("f.{}", format.name()));
            let headers = csv::ByteRecord::from(vec!["id", "subject"]);
            let mut w =
                FailedWriter::create(&p, format, Some((&headers, csv::Terminator::Any(b'\n'))))
                    .unwrap()
                    .0;
            let raw = |t: &str| match format {
                Format::Csv => Raw::Csv(format!("{t},x\n").into_bytes()),
                _ => Raw::Text(format!("{{\"id\":\"{t}\"}}").into_bytes()),
            };
            w.write(&raw("A"), 0, Some("A")).unwrap();
            w.write(&raw("B"), 1, Some("B")).unwrap();
            // A later record of D failed before an earlier one was written: it stays,
            // and the file is put back in input order (D after C).
            w.write(&raw("D"), 9, Some("D")).unwrap();
            // Not sent: never superseded.
            w.write(&raw("C"), 2, None).unwrap();
            w.write(&raw("A"), 3, Some("A")).unwrap();
            assert_eq!(w.written_again("A", 4), 2);
            assert_eq!(w.written_again("C", 5), 0);
            assert_eq!(w.written_again("D", 6), 0);
            assert_eq!(w.finish().unwrap().1, 3, "B, C and D kept");
            let text = std::fs::read_to_string(&p).unwrap();
            let expected = match format {
                Format::Jsonl => "{\"id\":\"B\"}\n{\"id\":\"C\"}\n{\"id\":\"D\"}\n",
                Format::Json => "[\n{\"id\":\"B\"},\n{\"id\":\"C\"},\n{\"id\":\"D\"}\n]\n",
                Format::Csv => "id,subject\nB,x\nC,x\nD,x\n",
            };
            assert_eq!(text, expected, "{format:?}");
        }
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(left.is_empty());
    }
}
