//! The preflight of `upsert`: the object type's property definitions read once before
//! the run, the idProperty and the CSV's columns checked against them (a problem stops
//! the run before any write, naming every such column), then each record checked as it
//! is read (see `hubspot_tickets::preflight`).

use std::sync::Arc;

use hubspot_tickets::Client;
use hubspot_tickets::preflight::{
    ConfigProblem, ConfigurationError, Preflight, PreflightErrorKind,
};

use crate::cli::UpsertArgs;
use crate::exit::{self, CommandError};
use crate::input::{self, ParseOptions, Source};
use crate::progress::eprint_line;

/// The preflight for this run (on unless `--no-preflight`), `None` when it is off or was
/// skipped (said on stderr); an error stops the command before anything is written.
pub async fn prepare(
    client: &Client,
    source: &Source,
    args: &UpsertArgs,
    opts: &ParseOptions,
) -> Result<Option<Preflight>, CommandError> {
    if args.no_preflight {
        return Ok(None);
    }
    let defs = match read_definitions(client).await {
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
                "preflight skipped ({why}): records go to HubSpot unchecked; --require-preflight stops instead, --no-preflight skips it without a word"
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
    // A file's CSV header, read apart from the records (standard input is read once,
    // by the run: its columns are checked record by record instead).
    let columns = match source {
        Source::File(_) => input::csv_columns(source, args.format, opts)
            .map_err(|e| CommandError::usage(e.to_string()))?
            .unwrap_or_default(),
        Source::Stdin => Vec::new(),
    };
    Preflight::new(
        Arc::new(defs),
        args.id_property.clone(),
        columns.iter().map(String::as_str),
    )
    .map(Some)
    .map_err(|e| config_error(&e, args))
}

/// The definitions, saying so on stderr when they take more than a few seconds (a slow
/// or silent HubSpot would otherwise look like a hung command: the first timeout is 30 s
/// by default).
pub async fn read_definitions(
    client: &Client,
) -> Result<
    hubspot_tickets::preflight::PropertyDefinitions,
    hubspot_tickets::preflight::PreflightError,
> {
    let read = client.property_definitions();
    tokio::pin!(read);
    tokio::select! {
        r = &mut read => return r,
        () = tokio::time::sleep(std::time::Duration::from_secs(3)) => {}
    }
    eprint_line(&format!(
        "preflight: waiting for HubSpot's {} property definitions (--no-preflight skips the preflight)",
        client.object_type()
    ));
    read.await
}

/// A configuration problem as the command's error: every problem, then the flags that
/// would fix the ones the definitions suggest a fix for.
pub fn config_error(e: &ConfigurationError, args: &UpsertArgs) -> CommandError {
    CommandError {
        code: exit::CONFIG,
        message: format!("{e}{}", fixes(e, args)),
    }
}

/// `; to fix: --map "Ticket name=subject" --id-property ...`, or nothing.
pub fn fixes(e: &ConfigurationError, args: &UpsertArgs) -> String {
    let mut fixes = Vec::new();
    for p in e.problems.iter().take(20) {
        match p {
            ConfigProblem::UnknownColumn {
                name,
                suggest: Some(s),
                ..
            } => {
                // The header's own words, when --map had renamed it already.
                let column = args
                    .mapping
                    .iter()
                    .find(|(_, p)| p == name)
                    .map_or(name.as_str(), |(c, _)| c.as_str());
                fixes.push(format!("--map \"{column}={s}\""));
            }
            ConfigProblem::UnknownIdProperty {
                suggest: Some(s), ..
            } => fixes.push(format!("--id-property {s}")),
            _ => {}
        }
    }
    if fixes.is_empty() {
        String::new()
    } else {
        format!("\n  to fix: {}", fixes.join(" "))
    }
}
