//! `--map` and `--map-file`: CSV columns renamed to HubSpot properties before anything
//! reads them (the reader, the preflight, the report), so that a spreadsheet export's
//! headers ("Ticket Title") need not be edited. One table, column -> property, built
//! here once per command.

use std::collections::HashMap;
use std::path::Path;

use crate::cli::{UpsertArgs, parse_mapping};
use crate::exit::CommandError;

/// The most a mapping file may hold: a header has columns, not megabytes.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// Every `--map` entry, then every `--map-file` line, checked as one table: a column is
/// mapped once (to one property) and no two columns map to the same property.
pub fn entries(args: &UpsertArgs) -> Result<Vec<(String, String)>, CommandError> {
    let mut all: Vec<(String, String, String)> = args
        .map
        .iter()
        .map(|(c, p)| (c.clone(), p.clone(), format!("--map \"{c}={p}\"")))
        .collect();
    if let Some(path) = &args.map_file {
        all.extend(read_file(path)?);
    }
    let mut by_column: HashMap<&str, (&str, &str)> = HashMap::new();
    let mut by_property: HashMap<&str, (&str, &str)> = HashMap::new();
    for (column, property, whence) in &all {
        if let Some((p, first)) = by_column.insert(column, (property, whence))
            && p != property
        {
            return Err(CommandError::usage(format!(
                "column '{column}' is mapped twice: to '{p}' ({first}) and to '{property}' ({whence})"
            )));
        }
        if let Some((c, first)) = by_property.insert(property, (column, whence))
            && c != column
        {
            return Err(CommandError::usage(format!(
                "columns '{c}' ({first}) and '{column}' ({whence}) both map to '{property}'"
            )));
        }
    }
    Ok(all.into_iter().map(|(c, p, _)| (c, p)).collect())
}

/// A mapping file's entries, each with where it came from (`FILE:LINE`).
fn read_file(path: &Path) -> Result<Vec<(String, String, String)>, CommandError> {
    let shown = path.display();
    let meta = std::fs::metadata(path)
        .map_err(|e| CommandError::usage(format!("--map-file {shown}: {e}")))?;
    if meta.is_file() && meta.len() > MAX_FILE_BYTES {
        return Err(CommandError::usage(format!(
            "--map-file {shown}: {} bytes; a mapping file is COLUMN=PROPERTY lines (at most 1 MiB)",
            meta.len()
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| CommandError::usage(format!("--map-file {shown}: {e}")))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_start_matches('\u{feff}').trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let whence = format!("{shown}:{}", i + 1);
        let (column, property) = parse_mapping(line)
            .map_err(|e| CommandError::usage(format!("--map-file {whence}: {e}")))?;
        out.push((column, property, whence));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn args(extra: &[&str]) -> UpsertArgs {
        let mut argv = vec![
            "hubspot-tickets",
            "upsert",
            "--id-property",
            "external_ticket_id",
        ];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Upsert(a) => *a,
            _ => panic!("not upsert"),
        }
    }

    #[test]
    fn flags_and_a_file_make_one_checked_table() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("map.txt");
        std::fs::write(
            &file,
            "\u{feff}# export from the helpdesk\n\nTicket ID = external_ticket_id\r\nPriority=hs_ticket_priority\n",
        )
        .unwrap();
        let a = args(&[
            "--map",
            "Ticket Title=subject",
            "--map-file",
            file.to_str().unwrap(),
        ]);
        let e = entries(&a).unwrap();
        assert_eq!(
            e,
            [
                ("Ticket Title".to_owned(), "subject".to_owned()),
                ("Ticket ID".to_owned(), "external_ticket_id".to_owned()),
                ("Priority".to_owned(), "hs_ticket_priority".to_owned()),
            ]
        );
        // A column holding '=' is split at the last one.
        let a = args(&["--map", "a=b=subject"]);
        assert_eq!(entries(&a).unwrap()[0].0, "a=b");

        let e = entries(&args(&["--map", "A=subject", "--map", "B=subject"])).unwrap_err();
        assert!(e.message.contains("both map to 'subject'"), "{}", e.message);
        let e = entries(&args(&["--map", "A=subject", "--map", "A=content"])).unwrap_err();
        assert!(e.message.contains("mapped twice"), "{}", e.message);
        // The same entry twice is no conflict.
        assert_eq!(
            entries(&args(&["--map", "A=subject", "--map", "A=subject"]))
                .unwrap()
                .len(),
            2
        );

        std::fs::write(&file, "Title subject\n").unwrap();
        let e = entries(&args(&["--map-file", file.to_str().unwrap()])).unwrap_err();
        assert!(e.message.contains("map.txt:1"), "{}", e.message);
        assert!(
            Cli::try_parse_from([
                "hubspot-tickets",
                "upsert",
                "--id-property",
                "x",
                "--map",
                "Title=Bad Name"
            ])
            .is_err()
        );
        assert!(
            Cli::try_parse_from([
                "hubspot-tickets",
                "upsert",
                "--id-property",
                "x",
                "--map",
                "=subject"
            ])
            .is_err()
        );
    }
}
