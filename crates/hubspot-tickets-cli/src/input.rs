//! Streaming input readers: CSV, JSON Lines and JSON arrays, one record at a time.
//!
//! Every reader keeps a single reusable buffer and hands out one [`Item`] per input
//! record: a [`Record`] ready to send, or a [`BadRecord`] with the line number and the
//! reason. Memory does not grow with the size of the input. A [`InputError`] is fatal
//! (unreadable file, CSV header without the id column, a JSON array that is not one).
//!
//! The rules on values, names and ids are the facade's, not this file's: a JSON record
//! goes through [`from_json_record`], CSV names, cells and ids through
//! [`check_property_name`], [`check_property_value`] and [`check_id`]. What stays here is
//! the input formats themselves: framing, line numbers, and what an empty CSV cell means.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hubspot_tickets::cli_support::{
    JsonRecordErrorKind, check_id, check_property_name, check_property_value, from_json_record,
};

/// How big the read buffer is; records longer than this still work (buffers grow).
const READ_BUFFER: usize = 128 * 1024;

/// The longest JSON record (a line, or an array element) the CLI will hold in memory:
/// 4 MiB, 64 values at HubSpot's longest (65,536 characters, up to 4 bytes each). A
/// longer one is skipped as invalid (it is not copied to the failed file) and reading
/// goes on, so an input with no line ends (`/dev/zero`, a corrupt export) cannot
/// exhaust memory.
pub const MAX_RECORD_BYTES: usize = 4 << 20;

/// The record at `line` that was longer than [`MAX_RECORD_BYTES`], skipped unread.
fn oversized(line: u64) -> Item {
    Item::Bad(BadRecord {
        line,
        id: None,
        reason: format!(
            "the record is longer than {} MiB, the most the CLI reads into one record: skipped (not copied to the failed file)",
            MAX_RECORD_BYTES >> 20
        ),
        raw: None,
    })
}

/// Input file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Comma-separated values; the header row names the properties.
    Csv,
    /// JSON Lines: one JSON object per line.
    Jsonl,
    /// One JSON array of objects.
    Json,
}

impl Format {
    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "CSV",
            Format::Jsonl => "JSON Lines",
            Format::Json => "JSON array",
        }
    }

    /// The format a file name implies, if its extension says.
    pub fn from_extension(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" | "jsonlines" => Some(Format::Jsonl),
            // A `.json` file may hold an array or JSON lines: sniffed.
            _ => None,
        }
    }
}

/// The original text of a record, kept while it is in flight so that a failed record can
/// be written back in the input's own format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Raw {
    /// A JSON line or JSON array element, as read (no line terminator).
    Text(Vec<u8>),
    /// A CSV record's bytes exactly as read, its line terminator included (the last
    /// record of a file may have none): an invalid record is copied back byte for byte.
    Csv(Vec<u8>),
}

/// A valid input record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// 1-based line where the record starts.
    pub line: u64,
    /// The value of the unique id property.
    pub id: String,
    /// Property name to HubSpot string value (the id column excluded).
    pub properties: BTreeMap<String, String>,
    /// `objectWriteTraceId` when the input gave one.
    pub trace_id: Option<String>,
    /// The original text, when asked for.
    pub raw: Option<Raw>,
}

/// An input record that cannot be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRecord {
    /// 1-based line where the record starts.
    pub line: u64,
    /// The id, when it could be read.
    pub id: Option<String>,
    /// Why the record is refused.
    pub reason: String,
    /// The original text, when asked for.
    pub raw: Option<Raw>,
}

/// One input record, good or bad.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// Ready to send.
    Good(Record),
    /// Refused; the rest of the input goes on.
    Bad(BadRecord),
}

/// A problem that stops reading the input.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The input could not be opened or read.
    #[error("{name}: {source}")]
    Io {
        /// File name, or `<stdin>`.
        name: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The input's structure is unusable (CSV header, JSON array framing).
    #[error("{name}:{line}: {reason}")]
    Structure {
        /// File name, or `<stdin>`.
        name: String,
        /// Line of the problem.
        line: u64,
        /// What is wrong.
        reason: String,
    },
}

/// What to do with empty CSV cells.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum EmptyCells {
    /// Leave the property out: an empty cell changes nothing.
    #[default]
    Skip,
    /// Send `""`, which clears the property in HubSpot.
    Clear,
}

/// Options shared by every reader.
#[derive(Clone, Debug)]
pub struct ParseOptions {
    /// The column (CSV) or key (flat JSON object) holding the id.
    pub id_column: String,
    /// Keep each record's original text (for `--failed`).
    pub keep_raw: bool,
    /// Empty CSV cells.
    pub empty_cells: EmptyCells,
    /// CSV columns renamed to properties (`--map`, `--map-file`): column -> property.
    pub map: Arc<HashMap<String, String>>,
}

impl ParseOptions {
    /// The property (or id column) a CSV header names, after `--map` (a mapping names
    /// a header as written or trimmed: spreadsheet exports leave spaces around them).
    fn mapped<'a>(&'a self, header: &'a str) -> &'a str {
        match self.map.get(header).or_else(|| self.map.get(header.trim())) {
            Some(property) => property,
            None => header,
        }
    }

    /// `--map` entries naming a column the header does not have (said before anything
    /// else about the header: a typo in a mapping must not hide behind other problems).
    fn unmapped(&self, headers: &csv::ByteRecord) -> Option<String> {
        let mut unknown: Vec<&str> = self
            .map
            .keys()
            .map(String::as_str)
            .filter(|c| {
                !headers
                    .iter()
                    .any(|h| h == c.as_bytes() || h.trim_ascii() == c.as_bytes())
            })
            .collect();
        if unknown.is_empty() {
            return None;
        }
        unknown.sort_unstable();
        Some(format!(
            "--map names column(s) the header does not have: '{}' (columns: {})",
            unknown.join("', '"),
            headers
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// The CSV header's columns as properties (after `--map`), the id column left out, in
/// order and unchecked (the preflight checks them against the portal's definitions,
/// with hints a name check cannot give); `None` for JSON input or a CSV without a
/// readable header (the reader says why). A `--map` entry the header does not have is
/// an error.
pub fn csv_columns(
    source: &Source,
    format: Option<Format>,
    opts: &ParseOptions,
) -> Result<Option<Vec<String>>, InputError> {
    let Ok((read, format)) = open(source, format) else {
        return Ok(None);
    };
    if format != Format::Csv {
        return Ok(None);
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(read);
    let Ok(headers) = reader.byte_headers() else {
        return Ok(None);
    };
    if let Some(reason) = opts.unmapped(headers) {
        return Err(InputError::Structure {
            name: source.display_name(),
            line: 1,
            reason,
        });
    }
    // A header that is not UTF-8 is the reader's to refuse, by column number.
    Ok(headers
        .iter()
        .map(|h| {
            std::str::from_utf8(h)
                .ok()
                .map(|h| opts.mapped(h).to_owned())
        })
        .filter(|h| {
            h.as_ref()
                .is_none_or(|h| *h != opts.id_column && !h.is_empty())
        })
        .collect())
}

/// Where the input comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Standard input (`-`).
    Stdin,
    /// A file.
    File(PathBuf),
}

impl Source {
    /// `-` is standard input; anything else a path.
    pub fn from_arg(arg: &str) -> Source {
        if arg == "-" {
            Source::Stdin
        } else {
            Source::File(PathBuf::from(arg))
        }
    }

    /// The name used in messages.
    pub fn display_name(&self) -> String {
        match self {
            Source::Stdin => "<stdin>".to_owned(),
            Source::File(p) => p.display().to_string(),
        }
    }

    /// The file's size in bytes, when it is a regular file.
    pub fn size(&self) -> Option<u64> {
        match self {
            Source::Stdin => None,
            Source::File(p) => std::fs::metadata(p)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len()),
        }
    }
}

/// A boxed buffered byte source.
pub type BoxRead = Box<dyn BufRead + Send>;

/// Opens the source, skips a UTF-8 byte order mark, refuses input that is not text (see
/// [`open_text`]), and settles the format (given, from the file extension, or sniffed
/// from the first non-blank byte: `[` is a JSON array, `{` JSON Lines, anything else CSV).
pub fn open(source: &Source, format: Option<Format>) -> Result<(BoxRead, Format), InputError> {
    let mut reader = open_text(source)?;
    let io_err = |e| InputError::Io {
        name: source.display_name(),
        source: e,
    };
    let format = match format {
        Some(f) => f,
        None => match source {
            Source::File(p) => match Format::from_extension(p) {
                Some(f) => f,
                None => sniff(&mut reader).map_err(io_err)?,
            },
            Source::Stdin => sniff(&mut reader).map_err(io_err)?,
        },
    };
    Ok((reader, format))
}

/// Opens the source, skips a UTF-8 byte order mark, and refuses input whose first block
/// is not text (UTF-16, NUL bytes, a compressed file), before any record is read. Only
/// the first block is looked at, through the reader's own buffer, so standard input and
/// pipes still stream.
pub fn open_text(source: &Source) -> Result<BoxRead, InputError> {
    let io_err = |e| InputError::Io {
        name: source.display_name(),
        source: e,
    };
    let mut reader: BoxRead = match source {
        Source::Stdin => Box::new(BufReader::with_capacity(READ_BUFFER, io::stdin())),
        Source::File(path) => {
            let file = File::open(path).map_err(io_err)?;
            Box::new(BufReader::with_capacity(READ_BUFFER, file))
        }
    };
    let skipped = skip_bom(&mut reader).map_err(io_err)?;
    refuse_binary(&mut reader, skipped).map_err(io_err)?;
    Ok(reader)
}

/// Opens any byte source the same way as [`open`] (tests).
#[cfg(test)]
pub fn open_reader<R: Read + Send + 'static>(
    read: R,
    format: Option<Format>,
) -> io::Result<(BoxRead, Format)> {
    let mut reader: BoxRead = Box::new(BufReader::with_capacity(READ_BUFFER, read));
    let skipped = skip_bom(&mut reader)?;
    refuse_binary(&mut reader, skipped)?;
    let format = match format {
        Some(f) => f,
        None => sniff(&mut reader)?,
    };
    Ok((reader, format))
}

/// Skips a UTF-8 byte-order mark; refuses UTF-16 and UTF-32 input (a byte-order mark,
/// or NUL bytes among the first characters, as in a BOM-less UTF-16 export) with a hint,
/// rather than reporting every line invalid. Returns how many bytes were skipped.
fn skip_bom(reader: &mut BoxRead) -> io::Result<usize> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let buf = reader.fill_buf()?;
    if buf.starts_with(BOM) {
        reader.consume(BOM.len());
        return Ok(BOM.len());
    }
    let head = buf.get(..64).unwrap_or(buf);
    // Text in UTF-16 has a NUL beside every ASCII character; all NULs is no text at all.
    let zeros = head.iter().filter(|b| **b == 0).count();
    let wide = head.starts_with(b"\xFF\xFE")
        || head.starts_with(b"\xFE\xFF")
        || head.len() >= 4 && zeros * 4 >= head.len() && zeros * 4 <= head.len() * 3;
    if wide {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the input is UTF-16 or UTF-32, not UTF-8: convert it first (e.g. iconv -f UTF-16 -t UTF-8 in.csv > in-utf8.csv)",
        ));
    }
    Ok(0)
}

/// Compressed files an export may arrive as, by their first bytes: refused with a hint
/// to unpack them, since NUL bytes need not appear in the first block a pipe gives.
const COMPRESSED: &[(&[u8], &str)] = &[
    (
        b"\x1F\x8B",
        "a gzip-compressed file, not text: decompress it first (e.g. zcat in.csv.gz | hubspot-tickets upsert ... -)",
    ),
    (
        b"\x28\xB5\x2F\xFD",
        "a zstd-compressed file, not text: decompress it first (e.g. zstdcat in.csv.zst | hubspot-tickets upsert ... -)",
    ),
    (
        b"\xFD7zXZ\x00",
        "an xz-compressed file, not text: decompress it first (e.g. xzcat in.csv.xz | hubspot-tickets upsert ... -)",
    ),
    (
        b"PK\x03\x04",
        "a ZIP archive (an Excel .xlsx workbook is one), not text: extract the file, or save the sheet as CSV",
    ),
];

/// Refuses input whose first block (what the first read gave, up to [`READ_BUFFER`]) is
/// clearly not text: a compressed file, or NUL bytes, which no CSV or JSON text holds.
/// Without it, `/dev/zero` or a disk image is read to its end (for `/dev/zero`, forever)
/// without a word, every record invalid. `offset` is where the block starts in the input
/// (after a byte order mark), for the message.
fn refuse_binary(reader: &mut BoxRead, offset: usize) -> io::Result<()> {
    let head = reader.fill_buf()?;
    let why = if let Some((_, what)) = COMPRESSED.iter().find(|(magic, _)| head.starts_with(magic))
    {
        (*what).to_owned()
    } else if let Some(at) = head.iter().position(|b| *b == 0) {
        format!(
            "not a text file: a NUL byte at byte {} (CSV, JSON Lines and JSON input is UTF-8 text)",
            offset + at
        )
    } else {
        return Ok(());
    };
    Err(io::Error::new(io::ErrorKind::InvalidData, why))
}

fn sniff(reader: &mut BoxRead) -> io::Result<Format> {
    let buf = reader.fill_buf()?;
    Ok(
        match buf.iter().find(|b| !b.is_ascii_whitespace()).copied() {
            Some(b'[') => Format::Json,
            Some(b'{') => Format::Jsonl,
            _ => Format::Csv,
        },
    )
}

/// A streaming reader of input records, whatever the format.
pub struct Reader {
    name: String,
    kind: Kind,
    opts: ParseOptions,
    bytes_read: u64,
    failed: bool,
}

enum Kind {
    // Boxed: the CSV state is several times the size of the others.
    Csv(Box<CsvState>),
    Jsonl(JsonlState),
    Json(JsonArrayState),
}

impl fmt::Debug for Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("name", &self.name)
            .field("bytes_read", &self.bytes_read)
            .finish_non_exhaustive()
    }
}

impl Reader {
    /// Builds the reader for `format`; for CSV, reads and checks the header row.
    pub fn new(
        name: String,
        reader: BoxRead,
        format: Format,
        opts: ParseOptions,
    ) -> Result<Reader, InputError> {
        if format != Format::Csv && !opts.map.is_empty() {
            return Err(InputError::Structure {
                name,
                line: 1,
                reason: "--map and --map-file rename CSV columns; this input is JSON (name its keys as HubSpot properties)".to_owned(),
            });
        }
        let kind = match format {
            Format::Csv => Kind::Csv(Box::new(CsvState::new(&name, reader, &opts)?)),
            Format::Jsonl => Kind::Jsonl(JsonlState {
                src: reader,
                buf: Vec::with_capacity(4096),
                line: 0,
            }),
            Format::Json => Kind::Json(JsonArrayState {
                src: reader,
                buf: Vec::with_capacity(4096),
                line: 1,
                state: ArrayState::Start,
                oversized: false,
            }),
        };
        Ok(Reader {
            name,
            kind,
            opts,
            bytes_read: 0,
            failed: false,
        })
    }

    /// The format being read.
    pub fn format(&self) -> Format {
        match self.kind {
            Kind::Csv(_) => Format::Csv,
            Kind::Jsonl(_) => Format::Jsonl,
            Kind::Json(_) => Format::Json,
        }
    }

    /// The CSV header row and its line end (for writing failed records back), when
    /// reading CSV.
    pub fn csv_headers(&self) -> Option<(&csv::ByteRecord, csv::Terminator)> {
        match &self.kind {
            Kind::Csv(s) => Some((&s.headers, s.line_end)),
            _ => None,
        }
    }

    /// Bytes consumed so far (approximate for CSV), for progress estimates.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    fn next_item(&mut self) -> Result<Option<Item>, InputError> {
        match &mut self.kind {
            Kind::Csv(s) => {
                let item = s.next(&self.name, &self.opts)?;
                self.bytes_read = s.reader.position().byte();
                Ok(item)
            }
            Kind::Jsonl(s) => s.next(&self.name, &self.opts, &mut self.bytes_read),
            Kind::Json(s) => s.next(&self.name, &self.opts, &mut self.bytes_read),
        }
    }
}

impl Iterator for Reader {
    type Item = Result<Item, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.next_item() {
            Ok(item) => item.map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// CSV

/// Counts lines for the CSV reader: `csv` miscounts lines inside quoted fields, so the
/// line of a record is derived from its (exact) byte offset and the offsets of the
/// newlines read so far (kept only for the read-ahead window).
struct NewlineIndex {
    inner: BoxRead,
    offset: u64,
    /// Offsets of `\n` bytes not yet passed, with whether a `\r` precedes each.
    newlines: std::collections::VecDeque<(u64, bool)>,
    last_was_cr: bool,
    lines_before: u64,
    /// Where the bytes read so far leave a CSV parser (the `csv` crate's rules): a
    /// quoted field left open at the end of the input swallowed every line after its
    /// opening quote, which `csv` does not report.
    quote: QuoteState,
    /// Lines read so far (1-based line of the next byte) and the line where the open
    /// quoted field started.
    line: u64,
    quote_line: u64,
    eof: bool,
    /// The bytes read, from `capture_base` on, when records' text is kept.
    capture: Option<Vec<u8>>,
    capture_base: u64,
    /// Bytes since the current record began (a line end outside quotes ends one).
    record_bytes: usize,
}

/// A CSV field as `csv` parses it: a field starting with `"` is quoted until a `"` not
/// followed by another `"`; a `"` anywhere else is an ordinary character.
#[derive(Clone, Copy, PartialEq, Eq)]
enum QuoteState {
    FieldStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

impl NewlineIndex {
    fn new(inner: BoxRead, keep_raw: bool) -> NewlineIndex {
        NewlineIndex {
            capture: keep_raw.then(Vec::new),
            capture_base: 0,
            record_bytes: 0,
            inner,
            offset: 0,
            newlines: std::collections::VecDeque::new(),
            last_was_cr: false,
            lines_before: 0,
            quote: QuoteState::FieldStart,
            line: 1,
            quote_line: 0,
            eof: false,
        }
    }

    /// The bytes from offset `start` to `end` (a record), when they are kept. Bytes
    /// before `end` are dropped now and then (not at every record: the read-ahead after
    /// it would be moved each time).
    fn take_raw(&mut self, start: u64, end: u64) -> Vec<u8> {
        let Some(capture) = &mut self.capture else {
            return Vec::new();
        };
        let from = usize::try_from(start.saturating_sub(self.capture_base)).unwrap_or(usize::MAX);
        let to = usize::try_from(end.saturating_sub(self.capture_base)).unwrap_or(usize::MAX);
        let mut raw = capture.get(from..to.min(capture.len())).unwrap_or_default();
        // The csv reader ends a CRLF line's record after its `\r` and starts the next
        // record at the `\n`: the `\n` goes back to the line it ends, so a record's
        // text is its line as read.
        if let [b'\n', rest @ ..] = raw {
            raw = rest;
        }
        let mut raw = raw.to_vec();
        if raw.ends_with(b"\r") {
            raw.push(b'\n');
        }
        if to >= 64 * 1024 && to <= capture.len() {
            capture.drain(..to);
            self.capture_base = end;
        }
        raw
    }

    /// After the end of the input: the line where a quoted field opened and never
    /// closed, if one did.
    fn unterminated_quote(&self) -> Option<u64> {
        (self.eof && self.quote == QuoteState::Quoted).then_some(self.quote_line)
    }

    fn track_quotes(&mut self, b: u8) {
        use QuoteState::{FieldStart, QuoteInQuoted, Quoted, Unquoted};
        self.record_bytes += 1;
        if b == b'\n' && self.quote != Quoted {
            self.record_bytes = 0;
        }
        let end = matches!(b, b',' | b'\n' | b'\r');
        self.quote = match (self.quote, b) {
            (FieldStart, b'"') => {
                self.quote_line = self.line;
                Quoted
            }
            (Quoted, b'"') => QuoteInQuoted,
            (Quoted, _) => Quoted,
            (QuoteInQuoted, b'"') => Quoted,
            (_, _) if end => FieldStart,
            (_, _) => Unquoted,
        };
        if b == b'\n' {
            self.line += 1;
        }
    }

    /// The 1-based line of the record `csv` says starts at `byte` (its position includes
    /// the blank lines skipped before it); calls must come in increasing order.
    fn line_of(&mut self, byte: u64) -> u64 {
        let mut start = byte;
        while let Some(&(nl, crlf)) = self.newlines.front() {
            if nl < start {
                self.lines_before += 1;
            } else if nl == start || (crlf && nl == start + 1) {
                // A blank line before the record.
                self.lines_before += 1;
                start = nl + 1;
            } else {
                break;
            }
            self.newlines.pop_front();
        }
        self.lines_before + 1
    }
}

impl Read for NewlineIndex {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.eof = true;
        }
        let mut prev_cr = self.last_was_cr;
        for (i, &b) in buf[..n].iter().enumerate() {
            if b == b'\n' {
                if prev_cr {
                    // `\r\n` is one line end: the `\r` noted below was its first half.
                    self.newlines.pop_back();
                }
                self.newlines.push_back((self.offset + i as u64, prev_cr));
            } else if b == b'\r' {
                // A lone `\r` ends a line too (old Mac files), as `csv` reads them.
                self.newlines.push_back((self.offset + i as u64, false));
            }
            prev_cr = b == b'\r';
            self.track_quotes(b);
        }
        self.last_was_cr = prev_cr;
        self.offset += n as u64;
        if let Some(capture) = &mut self.capture {
            capture.extend_from_slice(&buf[..n]);
        }
        if self.record_bytes > MAX_RECORD_BYTES {
            // `csv` would buffer such a record whole: stop here instead.
            let (line, why) = if self.quote == QuoteState::Quoted {
                (self.quote_line, " (a quote opened there never closes)")
            } else {
                (self.line, "")
            };
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "line {line}: a CSV record longer than {} MiB{why}; the rest of the input was not read",
                    MAX_RECORD_BYTES >> 20
                ),
            ));
        }
        Ok(n)
    }
}

struct CsvState {
    reader: csv::Reader<NewlineIndex>,
    headers: csv::ByteRecord,
    /// The header's line end (CRLF or LF), for files that copy the input's lines.
    line_end: csv::Terminator,
    /// Property name per column; `None` for the id column.
    columns: Vec<Option<String>>,
    id_index: usize,
    record: csv::ByteRecord,
}

impl CsvState {
    fn new(name: &str, src: BoxRead, opts: &ParseOptions) -> Result<CsvState, InputError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(NewlineIndex::new(src, opts.keep_raw));
        let structure = |line: u64, reason: String| InputError::Structure {
            name: name.to_owned(),
            line,
            reason,
        };
        let headers = match reader.byte_headers() {
            Ok(h) => h.clone(),
            Err(e) => return Err(csv_error(name, e)),
        };
        let header_end = reader.position().byte();
        let line_end = if reader.get_mut().take_raw(0, header_end).ends_with(b"\r\n") {
            csv::Terminator::CRLF
        } else {
            csv::Terminator::Any(b'\n')
        };
        if headers.is_empty() || (headers.len() == 1 && headers[0].is_empty()) {
            return Err(structure(
                1,
                "empty input: a CSV file needs a header row of property names".to_owned(),
            ));
        }
        // A mapping that names no column first: its typo explains what follows.
        if let Some(reason) = opts.unmapped(&headers) {
            return Err(structure(1, reason));
        }
        let mut columns = Vec::with_capacity(headers.len());
        let mut id_index = None;
        let mut seen = std::collections::HashSet::new();
        for (i, field) in headers.iter().enumerate() {
            let Ok(h) = std::str::from_utf8(field) else {
                return Err(structure(
                    1,
                    format!("header column {} is not valid UTF-8", i + 1),
                ));
            };
            let property = opts.mapped(h);
            if !seen.insert(property) {
                return Err(structure(
                    1,
                    if property == h {
                        format!("column '{h}' appears twice in the header")
                    } else {
                        format!(
                            "column '{h}' is mapped to '{property}', which the header has already"
                        )
                    },
                ));
            }
            if property == opts.id_column {
                id_index = Some(i);
                columns.push(None);
            } else {
                check_property_name(property).map_err(|e| {
                    structure(
                        1,
                        format!(
                            "header column {}: {e}; name the HubSpot property it holds with --map \"{h}=PROPERTY\"",
                            i + 1
                        ),
                    )
                })?;
                columns.push(Some(property.to_owned()));
            }
        }
        let Some(id_index) = id_index else {
            return Err(structure(
                1,
                format!(
                    "no column named '{}' holds the ids (columns: {}); use --id-column to name it (or --map \"COLUMN={}\")",
                    opts.id_column,
                    headers
                        .iter()
                        .map(|f| String::from_utf8_lossy(f).into_owned())
                        .collect::<Vec<_>>()
                        .join(", "),
                    opts.id_column,
                ),
            ));
        };
        Ok(CsvState {
            reader,
            headers,
            line_end,
            columns,
            id_index,
            record: csv::ByteRecord::new(),
        })
    }

    fn next(&mut self, name: &str, opts: &ParseOptions) -> Result<Option<Item>, InputError> {
        loop {
            match self.reader.read_byte_record(&mut self.record) {
                Ok(false) => return Ok(None),
                Ok(true) => {}
                Err(e) => {
                    if let csv::ErrorKind::Io(_) = e.kind() {
                        return Err(csv_error(name, e));
                    }
                    // Other CSV errors are about one record (e.g. invalid UTF-8 in
                    // `read_record`); `read_byte_record` rarely gives one. Report it and go on.
                    let line = e.position().map_or(0, csv::Position::line);
                    return Ok(Some(Item::Bad(BadRecord {
                        line,
                        id: None,
                        reason: e.to_string(),
                        raw: None,
                    })));
                }
            }
            // A line holding nothing at all is not a record.
            if self.record.len() == 1 && self.record[0].is_empty() && self.columns.len() > 1 {
                continue;
            }
            let byte = self.record.position().map_or(0, csv::Position::byte);
            let line = self.reader.get_mut().line_of(byte);
            let end = self.reader.position().byte();
            let raw = opts
                .keep_raw
                .then(|| Raw::Csv(self.reader.get_mut().take_raw(byte, end)));
            if let Some(open) = self.reader.get_ref().unterminated_quote() {
                // The record read last ran to the end of the input inside quotes: it
                // holds every line after the quote. Refuse it rather than send it (its
                // text is kept as read: written back, it stays unclosed).
                return Ok(Some(Item::Bad(BadRecord {
                    line,
                    id: None,
                    reason: format!(
                        "the quoted field opened on line {open} is never closed: it runs to \
                         the end of the input, taking in every line after it"
                    ),
                    raw,
                })));
            }
            return Ok(Some(self.convert(line, raw, opts)));
        }
    }

    fn convert(&self, line: u64, raw: Option<Raw>, opts: &ParseOptions) -> Item {
        let rec = &self.record;
        let id = rec
            .get(self.id_index)
            .and_then(|f| std::str::from_utf8(f).ok())
            .map(str::to_owned);
        let bad = |reason: String, raw: Option<Raw>, id: Option<String>| {
            Item::Bad(BadRecord {
                line,
                id,
                reason,
                raw,
            })
        };
        if rec.len() != self.columns.len() {
            return bad(
                format!(
                    "{} fields where the header has {} columns",
                    rec.len(),
                    self.columns.len()
                ),
                raw,
                id,
            );
        }
        let Some(id) = id else {
            return bad("the id is not valid UTF-8".to_owned(), raw, None);
        };
        if let Err(e) = check_id(&id) {
            return bad(e.to_string(), raw, None);
        }
        let mut properties = BTreeMap::new();
        for (i, (field, column)) in rec.iter().zip(&self.columns).enumerate() {
            let Some(column) = column else { continue };
            if field.is_empty() && opts.empty_cells == EmptyCells::Skip {
                continue;
            }
            let Ok(value) = std::str::from_utf8(field) else {
                return bad(
                    format!("column {} ('{column}') is not valid UTF-8", i + 1),
                    raw,
                    Some(id),
                );
            };
            if let Err(e) = check_property_value(value) {
                return bad(format!("property '{column}': {e}"), raw, Some(id));
            }
            properties.insert(column.clone(), value.to_owned());
        }
        Item::Good(Record {
            line,
            id,
            properties,
            trace_id: None,
            raw,
        })
    }
}

fn csv_error(name: &str, e: csv::Error) -> InputError {
    let line = e.position().map_or(1, csv::Position::line);
    match e.into_kind() {
        csv::ErrorKind::Io(source) => InputError::Io {
            name: name.to_owned(),
            source,
        },
        other => InputError::Structure {
            name: name.to_owned(),
            line,
            reason: format!("{other:?}"),
        },
    }
}

// ---------------------------------------------------------------------------------------
// JSON Lines

struct JsonlState {
    src: BoxRead,
    buf: Vec<u8>,
    line: u64,
}

impl JsonlState {
    fn next(
        &mut self,
        name: &str,
        opts: &ParseOptions,
        bytes_read: &mut u64,
    ) -> Result<Option<Item>, InputError> {
        let io_err = |source| InputError::Io {
            name: name.to_owned(),
            source,
        };
        loop {
            self.buf.clear();
            let limit = u64::try_from(MAX_RECORD_BYTES).unwrap_or(u64::MAX) + 1;
            let n = (&mut self.src)
                .take(limit)
                .read_until(b'\n', &mut self.buf)
                .map_err(io_err)?;
            if n == 0 {
                return Ok(None);
            }
            *bytes_read += n as u64;
            self.line += 1;
            if n > MAX_RECORD_BYTES && self.buf.last() != Some(&b'\n') {
                // Skip to the end of the line without keeping it.
                *bytes_read += self.src.skip_until(b'\n').map_err(io_err)? as u64;
                self.buf = Vec::new();
                return Ok(Some(oversized(self.line)));
            }
            let mut text: &[u8] = &self.buf;
            while let Some((b'\n' | b'\r', rest)) = text.split_last() {
                text = rest;
            }
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(Some(parse_json_record(text, self.line, opts)));
        }
    }
}

// ---------------------------------------------------------------------------------------
// JSON array, streamed element by element

#[derive(Clone, Copy, PartialEq, Eq)]
enum ArrayState {
    /// Before the opening `[`.
    Start,
    /// After `[`: an element or `]`.
    First,
    /// After an element: `,` or `]`.
    AfterElement,
    /// After `]`: only blanks may follow.
    Done,
}

struct JsonArrayState {
    src: BoxRead,
    buf: Vec<u8>,
    /// Current line (1-based).
    line: u64,
    state: ArrayState,
    /// The element just read was longer than [`MAX_RECORD_BYTES`] (and not kept).
    oversized: bool,
}

impl JsonArrayState {
    fn next(
        &mut self,
        name: &str,
        opts: &ParseOptions,
        bytes_read: &mut u64,
    ) -> Result<Option<Item>, InputError> {
        let io_err = |source| InputError::Io {
            name: name.to_owned(),
            source,
        };
        loop {
            let next = self.skip_blanks(bytes_read).map_err(io_err)?;
            let structure = |line: u64, reason: &str| InputError::Structure {
                name: name.to_owned(),
                line,
                reason: reason.to_owned(),
            };
            match (self.state, next) {
                (ArrayState::Done, None) => return Ok(None),
                (ArrayState::Done, Some(_)) => {
                    return Err(structure(self.line, "unexpected data after the JSON array"));
                }
                (_, None) => {
                    return Err(structure(
                        self.line,
                        "the JSON array ends early (no closing ']')",
                    ));
                }
                (ArrayState::Start, Some(b'[')) => {
                    self.bump(bytes_read);
                    self.state = ArrayState::First;
                }
                (ArrayState::Start, Some(_)) => {
                    return Err(structure(self.line, "expected a JSON array ('[')"));
                }
                (ArrayState::First | ArrayState::AfterElement, Some(b']')) => {
                    self.bump(bytes_read);
                    self.state = ArrayState::Done;
                }
                (ArrayState::AfterElement, Some(b',')) => {
                    self.bump(bytes_read);
                    let after = self.skip_blanks(bytes_read).map_err(io_err)?;
                    if after == Some(b']') {
                        return Err(structure(self.line, "trailing ',' before ']'"));
                    }
                    self.state = ArrayState::First;
                }
                (ArrayState::AfterElement, Some(_)) => {
                    return Err(structure(
                        self.line,
                        "expected ',' or ']' after an array element",
                    ));
                }
                (ArrayState::First, Some(_)) => {
                    let line = self.line;
                    self.read_element(bytes_read).map_err(io_err)?;
                    self.state = ArrayState::AfterElement;
                    if self.oversized {
                        self.buf = Vec::new();
                        return Ok(Some(oversized(line)));
                    }
                    return Ok(Some(parse_json_record(&self.buf, line, opts)));
                }
            }
        }
    }

    fn bump(&mut self, bytes_read: &mut u64) {
        self.src.consume(1);
        *bytes_read += 1;
    }

    /// Skips blanks (counting lines) and peeks at the next byte.
    fn skip_blanks(&mut self, bytes_read: &mut u64) -> io::Result<Option<u8>> {
        loop {
            let chunk = self.src.fill_buf()?;
            if chunk.is_empty() {
                return Ok(None);
            }
            let mut i = 0;
            while i < chunk.len() && chunk[i].is_ascii_whitespace() {
                if chunk[i] == b'\n' {
                    self.line += 1;
                }
                i += 1;
            }
            let next = chunk.get(i).copied();
            self.src.consume(i);
            *bytes_read += i as u64;
            if next.is_some() {
                return Ok(next);
            }
        }
    }

    /// Reads one element into `buf`: a balanced `{...}`/`[...]`, or a scalar up to the
    /// next `,`/`]`/blank.
    fn read_element(&mut self, bytes_read: &mut u64) -> io::Result<()> {
        self.buf.clear();
        self.oversized = false;
        let mut depth: u32 = 0;
        let mut in_string = false;
        let mut escaped = false;
        loop {
            let chunk = self.src.fill_buf()?;
            if chunk.is_empty() {
                return Ok(());
            }
            let mut i = 0;
            let mut done = false;
            while i < chunk.len() {
                let b = chunk[i];
                if in_string {
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        in_string = false;
                    }
                } else {
                    match b {
                        b'"' => in_string = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' if depth > 0 => {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                done = true;
                                break;
                            }
                        }
                        b',' | b']' if depth == 0 => {
                            done = true;
                            break;
                        }
                        b if depth == 0 && b.is_ascii_whitespace() => {
                            done = true;
                            break;
                        }
                        _ => {}
                    }
                }
                if b == b'\n' {
                    self.line += 1;
                }
                i += 1;
            }
            // Past the cap, the element is still scanned to its end but not kept.
            if self.buf.len() + i > MAX_RECORD_BYTES {
                self.oversized = true;
                self.buf.clear();
            } else if !self.oversized {
                self.buf.extend_from_slice(&chunk[..i]);
            }
            self.src.consume(i);
            *bytes_read += i as u64;
            if done {
                return Ok(());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// JSON objects to records

/// Parses one JSON object (a JSON line or array element) into an [`Item`], by the
/// facade's rules ([`from_json_record`]).
fn parse_json_record(text: &[u8], line: u64, opts: &ParseOptions) -> Item {
    let raw = opts.keep_raw.then(|| Raw::Text(text.to_vec()));
    match from_json_record(text, &opts.id_column) {
        Ok(input) => {
            // `idProperty` is set once for the whole run by --id-property: a record's own
            // is not used, as before.
            let input = input.into_generated();
            Item::Good(Record {
                line,
                id: input.id,
                properties: input.properties,
                trace_id: input.object_write_trace_id,
                raw,
            })
        }
        Err(e) => {
            let missing_id = e.kind() == JsonRecordErrorKind::MissingId;
            let (id, mut reason) = e.into_parts();
            if missing_id {
                reason.push_str(" (use --id-column, or the {\"id\", \"properties\"} form)");
            }
            Item::Bad(BadRecord {
                line,
                id,
                reason,
                raw,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn opts() -> ParseOptions {
        ParseOptions {
            id_column: "external_ticket_id".to_owned(),
            keep_raw: true,
            empty_cells: EmptyCells::Skip,
            map: Default::default(),
        }
    }

    fn read_all(text: &str, format: Option<Format>, opts: ParseOptions) -> (Format, Vec<Item>) {
        let (reader, format) =
            open_reader(io::Cursor::new(text.as_bytes().to_vec()), format).expect("open");
        let reader = Reader::new("in".to_owned(), reader, format, opts).expect("reader");
        let items = reader.collect::<Result<Vec<_>, _>>().expect("items");
        (format, items)
    }

    fn good(item: &Item) -> &Record {
        match item {
            Item::Good(r) => r,
            Item::Bad(b) => panic!("expected a good record, got {b:?}"),
        }
    }

    fn bad(item: &Item) -> &BadRecord {
        match item {
            Item::Bad(b) => b,
            Item::Good(r) => panic!("expected a bad record, got {r:?}"),
        }
    }

    fn fatal(text: &str, format: Option<Format>) -> String {
        let (reader, format) =
            open_reader(io::Cursor::new(text.as_bytes().to_vec()), format).expect("open");
        match Reader::new("in".to_owned(), reader, format, opts()) {
            Err(e) => e.to_string(),
            Ok(r) => match r.collect::<Result<Vec<_>, _>>() {
                Err(e) => e.to_string(),
                Ok(items) => panic!("expected a fatal error, got {items:?}"),
            },
        }
    }

    #[test]
    fn crlf_csv_records_keep_their_line_ends() {
        let text = "external_ticket_id,subject\r\nZD-1,a\r\n,b\r\nZD-3,c\r\n";
        let mut o = opts();
        o.keep_raw = true;
        let (_, items) = read_all(text, None, o);
        let raws: Vec<_> = items
            .iter()
            .map(|i| match i {
                Item::Good(r) => r.raw.clone(),
                Item::Bad(b) => b.raw.clone(),
            })
            .collect();
        assert_eq!(
            raws,
            [
                Some(Raw::Csv(b"ZD-1,a\r\n".to_vec())),
                Some(Raw::Csv(b",b\r\n".to_vec())),
                Some(Raw::Csv(b"ZD-3,c\r\n".to_vec())),
            ]
        );
    }

    #[test]
    fn csv_records_with_line_numbers_bom_and_quoted_newlines() {
        let text = "\u{feff}external_ticket_id,subject,hs_ticket_priority\n\
                    ZD-1,Printer jams,HIGH\n\
                    ZD-2,\"Two\nlines\",\n\
                    \n\
                    ZD-3,Short\n\
                    ,No id,LOW\n";
        let (format, items) = read_all(text, None, opts());
        assert_eq!(format, Format::Csv);
        assert_eq!(items.len(), 4);
        let r = good(&items[0]);
        assert_eq!((r.line, r.id.as_str()), (2, "ZD-1"));
        assert_eq!(r.properties["subject"], "Printer jams");
        assert!(!r.properties.contains_key("external_ticket_id"));
        let r = good(&items[1]);
        assert_eq!(r.line, 3);
        assert_eq!(r.properties["subject"], "Two\nlines");
        assert!(
            !r.properties.contains_key("hs_ticket_priority"),
            "empty cell skipped"
        );
        let b = bad(&items[2]);
        assert_eq!(b.line, 6);
        assert!(
            b.reason.contains("2 fields where the header has 3"),
            "{}",
            b.reason
        );
        let b = bad(&items[3]);
        assert_eq!((b.line, b.reason.as_str()), (7, "empty id"));
        // Records keep their bytes as read: the failed file gets them back unchanged.
        assert_eq!(b.raw, Some(Raw::Csv(b",No id,LOW\n".to_vec())));
        assert_eq!(
            good(&items[1]).raw,
            Some(Raw::Csv(b"ZD-2,\"Two\nlines\",\n".to_vec()))
        );
    }

    #[test]
    fn records_over_the_cap_are_skipped_and_reading_goes_on() {
        let huge = "x".repeat(MAX_RECORD_BYTES + 10);
        let jsonl = format!(
            "{{\"external_ticket_id\":\"A\"}}\n{{\"external_ticket_id\":\"B\",\"subject\":\"{huge}\"}}\n{{\"external_ticket_id\":\"C\"}}\n"
        );
        let json = format!(
            "[{{\"external_ticket_id\":\"A\"}},\n{{\"external_ticket_id\":\"B\",\"subject\":\"{huge}\"}},\n{{\"external_ticket_id\":\"C\"}}]"
        );
        for (text, format) in [(jsonl, Format::Jsonl), (json, Format::Json)] {
            let (_, items) = read_all(&text, Some(format), opts());
            assert_eq!(items.len(), 3, "{format:?}");
            assert_eq!(good(&items[0]).id, "A");
            let b = bad(&items[1]);
            assert_eq!(b.line, 2, "{format:?}");
            assert!(b.reason.contains("longer than 4 MiB"), "{}", b.reason);
            assert!(b.raw.is_none());
            assert_eq!(
                (good(&items[2]).id.as_str(), good(&items[2]).line),
                ("C", 3)
            );
        }
    }

    #[test]
    fn a_csv_record_over_the_cap_stops_reading_with_its_line() {
        let text = format!(
            "external_ticket_id,subject\nA,a\nB,\"{}\nC,c\n",
            "x\n".repeat(MAX_RECORD_BYTES / 2 + 10)
        );
        let e = fatal(&text, Some(Format::Csv));
        assert!(e.contains("line 3") && e.contains("never closes"), "{e}");
    }

    #[test]
    fn csv_line_numbers_with_cr_only_line_ends() {
        let text = "external_ticket_id,subject\rA,a\rB,\"two\rlines\"\r\rC,c\r";
        let (_, items) = read_all(text, Some(Format::Csv), opts());
        let lines: Vec<(u64, &str)> = items
            .iter()
            .map(|i| {
                let r = good(i);
                (r.line, r.id.as_str())
            })
            .collect();
        assert_eq!(lines, [(2, "A"), (3, "B"), (6, "C")]);
    }

    #[test]
    fn utf16_input_is_refused_with_a_hint() {
        for bytes in [
            b"\xFF\xFEe\0x\0t\0".to_vec(),
            b"\xFE\xFF\0e\0x\0t".to_vec(),
            "external_ticket_id\nA\n"
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect(),
        ] {
            let e = open_reader(std::io::Cursor::new(bytes), None)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains("UTF-16") && e.contains("iconv"), "{e}");
        }
        assert!(open_reader(std::io::Cursor::new(b"a,b\n1,2\n".to_vec()), None).is_ok());
    }

    #[test]
    fn input_that_is_not_text_is_refused_from_its_first_block() {
        let refused = |bytes: &[u8]| {
            open_reader(std::io::Cursor::new(bytes.to_vec()), Some(Format::Jsonl))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let e = refused(&[0; 4096]);
        assert!(e.contains("not a text file: a NUL byte at byte 0"), "{e}");
        // After a byte order mark, the position counts it.
        let e = refused(b"\xEF\xBB\xBFexternal_ticket_id\n\0");
        assert!(e.contains("at byte 22"), "{e}");
        for (bytes, says) in [
            (&b"\x1F\x8B\x08\x08abc"[..], "gzip"),
            (b"(\xB5/\xFDabc", "zstd"),
            (b"\xFD7zXZ\0abc", "xz"),
            (b"PK\x03\x04abc", "ZIP"),
        ] {
            let e = refused(bytes);
            assert!(e.contains(says) && e.contains("not text"), "{e}");
        }
        // Text is not refused, a NUL past the first block is left to the readers, and
        // an empty input is the readers' to judge.
        for ok in [
            &b"{\"external_ticket_id\":\"A\"}\n"[..],
            b"",
            b"external_ticket_id\nP\xC3\xA9\n",
        ] {
            assert!(open_reader(std::io::Cursor::new(ok.to_vec()), None).is_ok());
        }
        let mut late = vec![b'x'; READ_BUFFER];
        late.push(0);
        assert!(open_reader(std::io::Cursor::new(late), Some(Format::Jsonl)).is_ok());
    }

    #[test]
    fn csv_line_numbers_with_crlf_and_blank_lines() {
        let text = "external_ticket_id\r\nA\r\n\r\n\r\nB\r\n\"C\r\nD\"\r\nE\r\n";
        let (_, items) = read_all(text, None, opts());
        let lines: Vec<(u64, &str)> = items
            .iter()
            .map(|i| (good(i).line, good(i).id.as_str()))
            .collect();
        assert_eq!(lines, [(2, "A"), (5, "B"), (6, "C\r\nD"), (8, "E")]);
    }

    #[test]
    fn csv_empty_cells_clear_when_asked() {
        let mut o = opts();
        o.empty_cells = EmptyCells::Clear;
        let (_, items) = read_all("external_ticket_id,subject\nZD-1,\n", None, o);
        assert_eq!(good(&items[0]).properties["subject"], "");
    }

    #[test]
    fn csv_id_column_other_than_the_id_property() {
        let mut o = opts();
        o.id_column = "key".to_owned();
        let (_, items) = read_all("key,subject\nK-1,Hello\n", Some(Format::Csv), o);
        let r = good(&items[0]);
        assert_eq!(r.id, "K-1");
        assert_eq!(r.properties.len(), 1);
    }

    #[test]
    fn repeated_names_are_found_in_narrow_and_wide_records() {
        for width in [2_usize, 8, 32, 33, 200] {
            let mut fields: Vec<String> = (0..width).map(|i| format!("\"p{i}\":\"v\"")).collect();
            let unique = format!("{{\"external_ticket_id\":\"A\",{}}}\n", fields.join(","));
            let (_, items) = read_all(&unique, Some(Format::Jsonl), opts());
            assert_eq!(good(&items[0]).properties.len(), width, "{width}");
            // Same length and end bytes as another name, but different: not a repeat.
            fields.push("\"p0x\":\"v\"".to_owned());
            fields.push("\"pxx\":\"v\"".to_owned());
            let lookalikes = format!("{{\"external_ticket_id\":\"B\",{}}}\n", fields.join(","));
            let (_, items) = read_all(&lookalikes, Some(Format::Jsonl), opts());
            assert_eq!(good(&items[0]).properties.len(), width + 2, "{width}");
            fields.push(format!("\"p{}\":\"again\"", width / 2));
            let repeated = format!("{{\"external_ticket_id\":\"C\",{}}}\n", fields.join(","));
            let (_, items) = read_all(&repeated, Some(Format::Jsonl), opts());
            let reason = &bad(&items[0]).reason;
            assert_eq!(
                reason,
                &format!("property 'p{}' appears twice", width / 2),
                "{width}"
            );
        }
    }

    #[test]
    fn csv_header_problems_are_fatal() {
        let e = fatal("id,subject\n1,a\n", Some(Format::Csv));
        assert!(e.contains("no column named 'external_ticket_id'"), "{e}");
        assert!(e.contains("--id-column"), "{e}");
        let e = fatal("external_ticket_id,Subject\n1,a\n", Some(Format::Csv));
        assert!(e.starts_with("in:1: header column 2"), "{e}");
        assert!(e.contains("did you mean 'subject'"), "{e}");
        let e = fatal("external_ticket_id,a,a\n", Some(Format::Csv));
        assert!(e.contains("appears twice"), "{e}");
        let e = fatal("", Some(Format::Csv));
        assert!(e.contains("empty input"), "{e}");
    }

    #[test]
    fn jsonl_flat_and_nested_forms_and_value_types() {
        let text = "{\"external_ticket_id\":\"ZD-1\",\"subject\":\"Hi\",\"count\":3,\"ratio\":1.5,\"vip\":true,\"note\":null,\"tags\":[\"a\",\"b\",2]}\r\n\
                    \n\
                    {\"id\":\"ZD-2\",\"properties\":{\"subject\":\"Nested\"},\"objectWriteTraceId\":\"t-9\"}\n\
                    {\"external_ticket_id\":42,\"subject\":\"numeric id\"}\n";
        let (format, items) = read_all(text, None, opts());
        assert_eq!(format, Format::Jsonl);
        let r = good(&items[0]);
        assert_eq!((r.line, r.id.as_str()), (1, "ZD-1"));
        let p = &r.properties;
        assert_eq!(
            (
                p["count"].as_str(),
                p["ratio"].as_str(),
                p["vip"].as_str(),
                p["note"].as_str(),
                p["tags"].as_str()
            ),
            ("3", "1.5", "true", "", "a;b;2")
        );
        assert!(matches!(&r.raw, Some(Raw::Text(t)) if !t.ends_with(b"\r")));
        let r = good(&items[1]);
        assert_eq!((r.line, r.id.as_str()), (3, "ZD-2"));
        assert_eq!(r.trace_id.as_deref(), Some("t-9"));
        assert_eq!(r.properties["subject"], "Nested");
        assert_eq!(good(&items[2]).id, "42");
    }

    #[test]
    fn jsonl_bad_lines_have_reasons_and_do_not_stop_reading() {
        let text = [
            r#"{"external_ticket_id":"A","subject":"ok"}"#,
            r#"{"external_ticket_id":"B","subject":"#,
            r#"{"subject":"no id"}"#,
            r#"{"external_ticket_id":"C","nested":{"x":1}}"#,
            r#"{"external_ticket_id":"D","Bad Name":"x"}"#,
            r#"{"external_ticket_id":"E","big":12345678901234567890123}"#,
            r#"[1,2]"#,
            r#"{"id":"F","properties":{"a":"b"},"createdAt":"2024-01-01"}"#,
            r#"{"external_ticket_id":"  "}"#,
            r#"{"external_ticket_id":"G","tags":["x;y"]}"#,
            r#"{"external_ticket_id":["LI-7"],"subject":"a list is no id"}"#,
            r#"{"id":"I","properties":{"a":"1"},"properties":{"a":"2"}}"#,
            r#"{"external_ticket_id":"J","tags":["a",[]]}"#,
            r#"{"external_ticket_id":"H","subject":"still read"}"#,
        ]
        .join("\n");
        let (_, items) = read_all(&text, Some(Format::Jsonl), opts());
        assert_eq!(items.len(), 14);
        assert_eq!(good(&items[0]).line, 1);
        let reasons: Vec<(u64, String)> = items[1..13]
            .iter()
            .map(|i| (bad(i).line, bad(i).reason.clone()))
            .collect();
        let expect = [
            (2, "invalid JSON: EOF while parsing"),
            (3, "no 'external_ticket_id' key"),
            (4, "property 'nested': a nested object cannot be sent"),
            (5, "invalid property name 'Bad Name'"),
            (6, "integer too large"),
            (7, "expected a JSON object"),
            (8, "unexpected key 'createdAt'"),
            (9, "empty id"),
            (10, "contains ';'"),
            (
                11,
                "the id 'external_ticket_id' must be a string or an integer, not a list",
            ),
            (12, "key 'properties' appears twice"),
            (13, "property 'tags': a nested list cannot be sent"),
        ];
        for ((line, reason), (eline, ereason)) in reasons.iter().zip(expect) {
            assert_eq!(*line, eline);
            assert!(reason.contains(ereason), "line {line}: {reason}");
        }
        assert_eq!(reasons.len(), expect.len());
        assert_eq!(bad(&items[3]).id.as_deref(), Some("C"));
        assert_eq!(bad(&items[11]).id.as_deref(), Some("I"));
        assert_eq!(good(&items[13]).line, 14);
    }

    #[test]
    fn json_array_streams_elements_with_their_lines() {
        let text = "\u{feff}  [\n  {\"external_ticket_id\": \"A\",\n   \"subject\": \"x ] } , [\"},\n  7,\n  {\"external_ticket_id\": \"B\"}\n]\n";
        let (format, items) = read_all(text, None, opts());
        assert_eq!(format, Format::Json);
        assert_eq!(items.len(), 3);
        let r = good(&items[0]);
        assert_eq!((r.line, r.properties["subject"].as_str()), (2, "x ] } , ["));
        assert_eq!(bad(&items[1]).line, 4);
        assert_eq!(bad(&items[1]).raw, Some(Raw::Text(b"7".to_vec())));
        let r = good(&items[2]);
        assert_eq!((r.line, r.id.as_str()), (5, "B"));
        let (_, items) = read_all("[]", None, opts());
        assert!(items.is_empty());
    }

    #[test]
    fn json_array_framing_errors_are_fatal() {
        assert!(
            fatal("[{\"external_ticket_id\":\"A\"}", Some(Format::Json)).contains("ends early")
        );
        assert!(
            fatal("[{\"external_ticket_id\":\"A\"},]", Some(Format::Json)).contains("trailing")
        );
        assert!(fatal("[{\"external_ticket_id\":\"A\"}] x", Some(Format::Json)).contains("after"));
        assert!(fatal("{\"a\":1}", Some(Format::Json)).contains("expected a JSON array"));
    }

    #[test]
    fn format_detection() {
        assert_eq!(
            Format::from_extension(Path::new("a.CSV")),
            Some(Format::Csv)
        );
        assert_eq!(
            Format::from_extension(Path::new("a.ndjson")),
            Some(Format::Jsonl)
        );
        assert_eq!(Format::from_extension(Path::new("a.json")), None);
        assert_eq!(read_all("\n\n[]", None, opts()).0, Format::Json);
        assert_eq!(
            read_all("{\"external_ticket_id\":\"1\"}", None, opts()).0,
            Format::Jsonl
        );
        assert_eq!(
            read_all("external_ticket_id\n1\n", None, opts()).0,
            Format::Csv
        );
    }

    /// CPU per record of reading JSON Lines (`cargo test --release -- --ignored
    /// json_parse_cpu --nocapture`): 200,000 generated records, the median of 5 runs,
    /// for records shaped like bench/compare's (8 string properties) and for records
    /// mixing every value type. Measures this thread's CPU time, not wall time.
    #[test]
    #[ignore = "a measurement, run on demand in release"]
    fn json_parse_cpu() {
        fn thread_cpu_ns() -> u128 {
            // First field of schedstat: nanoseconds this thread ran.
            std::fs::read_to_string("/proc/thread-self/schedstat")
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        }
        let records: usize = std::env::var("PARSE_RECORDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200_000);
        let runs: usize = std::env::var("PARSE_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5);
        let strings: String = (0..records)
            .map(|i| {
                format!(
                    "{{\"external_ticket_id\":\"BENCH-{i:08}\",\"subject\":\"Printer on floor {} jams again\",\"content\":\"Customer reports that the printer on floor {} jams on every second page since the last firmware update.\",\"hs_pipeline\":\"0\",\"hs_pipeline_stage\":\"{}\",\"hs_ticket_priority\":\"{}\",\"hs_ticket_category\":\"PRODUCT_ISSUE\",\"source_system\":\"zendesk\"}}\n",
                    i % 9,
                    i % 9,
                    1 + i % 4,
                    ["LOW", "MEDIUM", "HIGH"][i % 3]
                )
            })
            .collect();
        let mixed: String = (0..records)
            .map(|i| {
                format!(
                    "{{\"external_ticket_id\":{i},\"subject\":\"Ticket {i}\",\"hs_pipeline_stage\":{},\"score\":{}.25,\"is_escalated\":{},\"closed_date\":null,\"tags\":[\"printer\",\"floor-{}\",{}],\"hubspot_owner_id\":{}}}\n",
                    1 + i % 4,
                    i % 100,
                    i % 2 == 0,
                    i % 9,
                    i % 7,
                    1_000_000 + i
                )
            })
            .collect();
        let only = std::env::var("PARSE_SET").unwrap_or_default();
        for (name, text) in [("strings", &strings), ("mixed", &mixed)] {
            if !only.is_empty() && only != name {
                continue;
            }
            let mut per_record = Vec::new();
            for _ in 0..runs {
                let mut o = opts();
                o.keep_raw = false;
                let (reader, format) = open_reader(
                    io::Cursor::new(text.as_bytes().to_vec()),
                    Some(Format::Jsonl),
                )
                .expect("open");
                let reader = Reader::new("in".to_owned(), reader, format, o).expect("reader");
                let start = thread_cpu_ns();
                let mut good = 0_usize;
                for item in reader {
                    if let Ok(Item::Good(r)) = item {
                        good += r.properties.len();
                    }
                }
                let spent = thread_cpu_ns() - start;
                assert!(good >= records * 7, "{name}: {good}");
                per_record.push(spent as f64 / records as f64);
            }
            per_record.sort_by(f64::total_cmp);
            println!(
                "json_parse_cpu {name}: median {:.1} ns/record over {runs} runs of {records} (all: {:?})",
                per_record[runs / 2],
                per_record.iter().map(|v| v.round()).collect::<Vec<_>>()
            );
        }
    }
}
