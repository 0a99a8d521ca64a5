//! `--dry-run` and the `--strict` pre-check: read the whole input, validate every record,
//! find repeated ids, and say what would be sent. No network call.
//!
//! Repeated ids are found with a map from a 64-bit hash of each id to its first line:
//! about 30 bytes per distinct id (30 MB for a million records), the one place where
//! memory grows with the input. A real upsert run does not keep it.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::io::Write;

use hubspot_tickets::ErrorKind;
use hubspot_tickets::config::MAX_BATCH;

use crate::input::{InputError, Item, Reader};
use hubspot_tickets::journal::{Entry, JournalWriter};

use crate::output::OutcomeKind;
use crate::summary::thousands;

/// What a validation pass found.
#[derive(Debug, Default)]
pub struct Validation {
    /// Records read, valid or not.
    pub read: u64,
    /// Valid records.
    pub valid: u64,
    /// Bad lines.
    pub invalid: u64,
    /// Valid records whose id an earlier record already has.
    pub duplicates: u64,
    /// Property name to the number of records setting it.
    pub properties: BTreeMap<String, u64>,
    /// The first valid record, as HubSpot would receive it.
    pub first_input: Option<serde_json::Value>,
}

/// Prints bad lines on stderr, `file:line: reason`, up to a limit.
#[derive(Debug)]
pub struct BadLineLog {
    name: String,
    shown: u64,
    limit: u64,
}

impl BadLineLog {
    /// Shows at most `limit` lines, then one line saying more were hidden.
    pub fn new(name: &str, limit: u64) -> BadLineLog {
        BadLineLog {
            name: name.to_owned(),
            shown: 0,
            limit,
        }
    }

    /// Reports one bad line (or duplicate).
    pub fn bad(&mut self, line: u64, reason: &str) {
        self.shown += 1;
        if self.shown <= self.limit {
            crate::progress::eprint_line(&format!("{}:{line}: {reason}", self.name));
        } else if self.shown == self.limit + 1 {
            crate::progress::eprint_line(&format!(
                "{}: more bad lines are not shown (--report lists them all)",
                self.name
            ));
        }
    }
}

/// Reads the whole input and validates it.
pub fn validate(
    reader: Reader,
    id_property: &str,
    mut report: Option<&mut JournalWriter>,
    log: &mut BadLineLog,
) -> Result<Validation, anyhow::Error> {
    let hasher = BuildHasherDefault::<DefaultHasher>::default();
    let mut first_lines: HashMap<u64, u64> = HashMap::new();
    let mut v = Validation::default();
    for item in reader {
        let item = item.map_err(|e: InputError| anyhow::Error::new(e))?;
        v.read += 1;
        match item {
            Item::Bad(b) => {
                v.invalid += 1;
                log.bad(b.line, &b.reason);
                if let Some(r) = report.as_deref_mut() {
                    let mut l = Entry::new(v.read - 1, b.id.as_deref(), OutcomeKind::Invalid)
                        .at_line(b.line);
                    l.error_kind = Some(ErrorKind::InvalidInput);
                    l.error_message = Some(&b.reason);
                    r.write(&l)?;
                }
            }
            Item::Good(rec) => {
                v.valid += 1;
                let first = *first_lines
                    .entry(hasher.hash_one(rec.id.as_str()))
                    .or_insert(rec.line);
                let duplicate = (first != rec.line).then(|| {
                    format!(
                        "id '{}' already appears on line {first}: HubSpot would get two upserts \
                         of the same ticket, in no guaranteed order",
                        rec.id
                    )
                });
                if let Some(reason) = &duplicate {
                    v.duplicates += 1;
                    log.bad(rec.line, reason);
                }
                for name in rec.properties.keys() {
                    match v.properties.get_mut(name) {
                        Some(n) => *n += 1,
                        None => {
                            v.properties.insert(name.clone(), 1);
                        }
                    }
                }
                if v.first_input.is_none() {
                    let mut input = serde_json::json!({
                        "id": rec.id,
                        "idProperty": id_property,
                        "properties": rec.properties,
                    });
                    if let (Some(t), Some(obj)) = (&rec.trace_id, input.as_object_mut()) {
                        obj.insert("objectWriteTraceId".into(), t.clone().into());
                    }
                    v.first_input = Some(input);
                }
                if let Some(r) = report.as_deref_mut() {
                    let outcome = if duplicate.is_some() {
                        OutcomeKind::Duplicate
                    } else {
                        OutcomeKind::WouldUpsert
                    };
                    let mut l = Entry::new(v.read - 1, Some(&rec.id), outcome).at_line(rec.line);
                    l.error_message = duplicate.as_deref();
                    r.write(&l)?;
                }
            }
        }
    }
    Ok(v)
}

impl Validation {
    /// Batch requests needed for the valid records.
    pub fn batches(&self) -> u64 {
        self.valid.div_ceil(MAX_BATCH as u64)
    }

    /// The dry-run's account of what would be sent.
    pub fn describe(
        &self,
        out: &mut impl Write,
        input: &str,
        format: &str,
        rate: Option<(u32, std::time::Duration)>,
    ) -> std::io::Result<()> {
        writeln!(
            out,
            "dry run of {input} ({format}): nothing was written; these counts are the file's own (the preflight, when it runs, checks the records against the portal below)"
        )?;
        let rows: [(&str, u64); 4] = [
            ("records read", self.read),
            ("valid records", self.valid),
            ("invalid lines", self.invalid),
            ("repeated ids", self.duplicates),
        ];
        for (label, n) in rows {
            writeln!(out, "  {label:<16}{:>12}", thousands(n))?;
        }
        let batches = self.batches();
        let mut requests = format!(
            "  {:<16}{:>12}  (batches of up to {MAX_BATCH} inputs",
            "requests",
            thousands(batches)
        );
        if let Some((n, window)) = rate {
            let secs = if batches > u64::from(n) {
                (batches - u64::from(n)) as f64 * window.as_secs_f64() / f64::from(n)
            } else {
                0.0
            };
            requests.push_str(&format!(
                "; about {} at {n} requests per {} s",
                crate::summary::human_duration(std::time::Duration::from_secs_f64(secs.max(0.0))),
                window.as_secs_f64()
            ));
        }
        requests.push(')');
        writeln!(out, "{requests}")?;
        if !self.properties.is_empty() {
            let list: Vec<String> = self
                .properties
                .iter()
                .map(|(name, n)| {
                    if *n == self.valid {
                        name.clone()
                    } else {
                        format!("{name} ({})", thousands(*n))
                    }
                })
                .collect();
            writeln!(out, "  properties      {}", list.join(", "))?;
        }
        if let Some(first) = &self.first_input {
            writeln!(out, "  first input     {first}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::input::{EmptyCells, Format, ParseOptions, open_reader};

    #[test]
    fn finds_bad_lines_and_repeated_ids() {
        let text = "external_ticket_id,subject\nA,x\nB,\n,z\nA,again\n";
        let (r, _) = open_reader(std::io::Cursor::new(text.as_bytes().to_vec()), None).unwrap();
        let opts = ParseOptions {
            id_column: "external_ticket_id".into(),
            keep_raw: false,
            empty_cells: EmptyCells::Skip,
            map: Default::default(),
        };
        let reader = Reader::new("t.csv".into(), r, Format::Csv, opts).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let scope = hubspot_tickets::journal::Scope::new(
            &hubspot_tickets::config::ObjectType::TICKETS,
            "external_ticket_id",
        );
        let mut report = JournalWriter::create(&path, &scope).unwrap();
        let mut log = BadLineLog::new("t.csv", 10);
        let v = validate(reader, "external_ticket_id", Some(&mut report), &mut log).unwrap();
        report.finish().unwrap();
        assert_eq!((v.read, v.valid, v.invalid, v.duplicates), (4, 3, 1, 1));
        assert_eq!(v.properties["subject"], 2);
        assert_eq!(v.batches(), 1);
        let report = std::fs::read_to_string(&path).unwrap();
        let outcomes: Vec<String> = report
            .lines()
            .skip(1) // the header
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                format!("{}:{}", v["line"], v["outcome"].as_str().unwrap())
            })
            .collect();
        assert_eq!(
            outcomes,
            [
                "2:would_upsert",
                "3:would_upsert",
                "4:invalid",
                "5:duplicate"
            ]
        );
        let mut out = Vec::new();
        v.describe(
            &mut out,
            "t.csv",
            "CSV",
            Some((190, std::time::Duration::from_secs(10))),
        )
        .unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("nothing was written"), "{out}");
        assert!(out.contains("properties      subject (2)"), "{out}");
        assert!(
            out.contains(r#""idProperty":"external_ticket_id""#),
            "{out}"
        );
    }
}
