//! The preflight of `upsert`: the object type's property definitions read once before
//! the run, the idProperty and the CSV's columns checked against them (a problem stops
//! the run before any write, naming every such column), then each record checked as it
//! is read (see `hubspot_tickets::preflight`).

use std::sync::Arc;

use hubspot_tickets::Client;
use hubspot_tickets::preflight::{Preflight, PreflightErrorKind};

use crate::cli::UpsertArgs;
use crate::exit::{self, CommandError};
use crate::input::{self, ParseOptions, Source};
use crate::progress::eprint_line;

/// The CSV header's columns, the id column left out (it is not sent as a property);
/// none for JSON input, whose keys are only known record by record (an unknown one
/// makes its record invalid instead).
fn columns(source: &Source, args: &UpsertArgs, opts: &ParseOptions) -> Vec<String> {
    let Source::File(_) = source else {
        return Vec::new();
    };
    let Ok((read, format)) = input::open(source, args.format) else {
        return Vec::new();
    };
    let Ok(reader) = input::Reader::new(source.display_name(), read, format, opts.clone()) else {
        return Vec::new();
    };
    reader
        .csv_headers()
        .map(|(headers, _)| {
            headers
                .iter()
                .map(|h| String::from_utf8_lossy(h).trim().to_owned())
                .filter(|h| *h != opts.id_column && !h.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The preflight for this run (`--preflight`, `--require-preflight`), `None` when it is
/// off or was skipped (said on stderr);
/// an error stops the command before anything is written.
pub async fn prepare(
    client: &Client,
    source: &Source,
    args: &UpsertArgs,
    opts: &ParseOptions,
) -> Result<Option<Preflight>, CommandError> {
    if !args.preflight && !args.require_preflight {
        return Ok(None);
    }
    let defs = match client.property_definitions().await {
        Ok(defs) => defs,
        Err(e) if e.kind == PreflightErrorKind::Auth => {
            return Err(CommandError {
                code: exit::AUTH,
                message: e.to_string(),
            });
        }
        Err(e) if !args.require_preflight => {
            let why = if e.is_forbidden() {
                "the token may not read the object type's properties".to_owned()
            } else {
                e.to_string()
            };
            eprint_line(&format!(
                "preflight skipped ({why}): records go to HubSpot unchecked; --require-preflight stops instead"
            ));
            return Ok(None);
        }
        Err(e) => {
            let code = match e.kind {
                PreflightErrorKind::Forbidden => exit::AUTH,
                PreflightErrorKind::NotFound => exit::CONFIG,
                _ => exit::UNAVAILABLE,
            };
            return Err(CommandError {
                code,
                message: format!("--require-preflight: {e}; nothing was written"),
            });
        }
    };
    let columns = columns(source, args, opts);
    Preflight::new(
        Arc::new(defs),
        args.id_property.clone(),
        columns.iter().map(String::as_str),
    )
    .map(Some)
    .map_err(|e| CommandError {
        code: exit::CONFIG,
        message: e.to_string(),
    })
}
