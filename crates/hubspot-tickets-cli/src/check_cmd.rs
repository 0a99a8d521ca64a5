//! `hubspot-tickets check`: the preflight alone. Reads the object type's property
//! definitions (one read request), checks the file's columns and every record against
//! them, and reports; nothing is written. It takes `upsert`'s options, so a command
//! line is checked by changing its first word.

use std::io::Write;

use hubspot_tickets::preflight::{
    ConfigurationError, PreflightErrorKind, PropertyDefinitions, check_configuration, check_record,
};

use crate::cli::UpsertArgs;
use crate::exit::{self, CommandError};
use crate::input::{self, Item, ParseOptions, Source};

/// At most this many invalid records are listed; the count covers them all.
const LISTED: usize = 100;

pub async fn run(mut args: UpsertArgs) -> Result<u8, CommandError> {
    // Options of upsert that check would silently ignore are refused instead.
    let ignored = [
        (args.no_preflight, "--no-preflight (check is the preflight)"),
        (args.report.is_some(), "--report (check writes no file)"),
        (args.failed.is_some(), "--failed (check writes no file)"),
        (args.resume.is_some(), "--resume"),
        (args.dry_run, "--dry-run (check never writes)"),
        (args.strict, "--strict"),
    ];
    if let Some((_, flag)) = ignored.iter().find(|(given, _)| *given) {
        return Err(CommandError::usage(format!("check does not take {flag}")));
    }
    let source = crate::upsert_cmd::prepare_args(&mut args)?;
    let name = source.display_name();
    let credentials = crate::credentials::Credentials::resolve(&args).map_err(|mut e| {
        // `check` needs the token: the hint to dry-run without one is upsert's.
        if let Some(cut) = e.message.find(" (use --dry-run") {
            e.message.truncate(cut);
        }
        e
    })?;
    let checked = check(&args, &source, &name, credentials).await?;
    let mut out = std::io::stdout().lock();
    let _ = checked.print(&mut out, &args);
    Ok(checked.exit_code())
}

/// The preflight alone on `source`, with `credentials`: the definitions read (one
/// request), the CSV header checked, then every record; nothing is written.
pub async fn check(
    args: &UpsertArgs,
    source: &Source,
    name: &str,
    credentials: crate::credentials::Credentials,
) -> Result<Checked, CommandError> {
    let name = name.to_owned();
    let source = source.clone();
    let (client, _) = crate::upsert_cmd::client(args, credentials)?;
    // The check is the preflight: without the definitions there is nothing to say.
    let defs = crate::preflight::read_definitions(&client)
        .await
        .map_err(|e| {
            let code = match e.kind {
                PreflightErrorKind::Auth | PreflightErrorKind::Forbidden => exit::AUTH,
                PreflightErrorKind::NotFound => exit::CONFIG,
                PreflightErrorKind::Configuration => exit::USAGE,
                _ => exit::UNAVAILABLE,
            };
            let why = if e.is_forbidden() {
                format!("{e} (the token needs the object type's read scope for a check)")
            } else {
                e.to_string()
            };
            CommandError { code, message: why }
        })?;
    let opts = crate::upsert_cmd::parse_options(args);
    // A file's CSV header first, as `upsert` checks it: a column the portal does not
    // know is named with the property it probably means, before any record is read.
    let header = match &source {
        Source::File(_) => input::csv_columns(&source, args.format, &opts)
            .map_err(|e| CommandError::usage(e.to_string()))?,
        Source::Stdin => None,
    };
    let id_property = args.id_property.clone();
    let format = args.format;
    let checked = match header
        .map(|columns| check_configuration(&defs, &id_property, columns.iter().map(String::as_str)))
    {
        Some(Err(e)) => Checked::configuration(name, &e, args),
        _ => tokio::task::spawn_blocking(move || {
            check_input(&source, name, format, opts, &defs, &id_property)
        })
        .await
        .map_err(|e| CommandError::usage(format!("the check stopped: {e}")))??,
    };
    Ok(checked)
}

/// What the check found.
pub struct Checked {
    name: String,
    records: u64,
    invalid: u64,
    unreadable: u64,
    /// Every configuration problem, when there is one (then records are not listed).
    pub config: Option<String>,
    /// `line N (id X): reasons`, the first [`LISTED`].
    listed: Vec<String>,
}

impl Checked {
    /// 5 for a configuration problem, 1 when a record is invalid or unreadable, else 0.
    pub fn exit_code(&self) -> u8 {
        if self.config.is_some() {
            exit::CONFIG
        } else if self.invalid + self.unreadable > 0 {
            exit::PARTIAL
        } else {
            exit::SUCCESS
        }
    }

    /// The check of a run whose configuration is wrong: its records are not read.
    fn configuration(name: String, e: &ConfigurationError, args: &UpsertArgs) -> Checked {
        Checked {
            name,
            records: 0,
            invalid: 0,
            unreadable: 0,
            config: Some(format!("{e}{}", crate::preflight::fixes(e, args))),
            listed: Vec::new(),
        }
    }

    pub fn print(&self, out: &mut impl Write, args: &UpsertArgs) -> std::io::Result<()> {
        writeln!(
            out,
            "checked {} against the {} property definitions (API version {}, idProperty {}); nothing was written",
            self.name, args.object_type, args.api_version, args.id_property
        )?;
        if let Some(config) = &self.config {
            writeln!(out, "  configuration   {config}")?;
            return Ok(());
        }
        writeln!(out, "  records         {}", self.records)?;
        writeln!(out, "  valid           {}", self.records - self.invalid)?;
        writeln!(out, "  invalid         {}", self.invalid)?;
        if self.unreadable > 0 {
            writeln!(out, "  unreadable      {}", self.unreadable)?;
        }
        for line in &self.listed {
            writeln!(out, "  {line}")?;
        }
        let found = (self.invalid + self.unreadable) as usize;
        if found > self.listed.len() {
            writeln!(
                out,
                "  ... {} more invalid or unreadable record(s)",
                found - self.listed.len()
            )?;
        }
        Ok(())
    }
}

fn check_input(
    source: &Source,
    name: String,
    format: Option<input::Format>,
    opts: ParseOptions,
    defs: &PropertyDefinitions,
    id_property: &str,
) -> Result<Checked, CommandError> {
    let (read, format) =
        input::open(source, format).map_err(|e| CommandError::usage(e.to_string()))?;
    let reader = input::Reader::new(name.clone(), read, format, opts)
        .map_err(|e| CommandError::usage(e.to_string()))?;
    let mut checked = Checked {
        name,
        records: 0,
        invalid: 0,
        unreadable: 0,
        config: None,
        listed: Vec::new(),
    };
    // The idProperty (a CSV's columns were checked before): a JSON key the portal does
    // not know is a problem of its record, as `upsert` judges it.
    if let Err(e) = check_configuration(defs, id_property, std::iter::empty()) {
        checked.config = Some(e.to_string());
        return Ok(checked);
    }
    for item in reader {
        let rec = match item.map_err(|e| CommandError::usage(e.to_string()))? {
            Item::Good(rec) => rec,
            Item::Bad(bad) => {
                // Said as `upsert` says it: where, and why.
                checked.unreadable += 1;
                if checked.listed.len() < LISTED {
                    checked.listed.push(format!(
                        "line {} (unreadable): {}",
                        bad.line,
                        crate::token::redact(&bad.reason)
                    ));
                }
                continue;
            }
        };
        checked.records += 1;
        let line = rec.line;
        let record = crate::upsert::to_input(rec.id, rec.properties, None);
        let problems = check_record(defs, id_property, &record);
        if !problems.is_empty() {
            checked.invalid += 1;
            if checked.listed.len() < LISTED {
                let reasons: Vec<String> = problems.iter().map(ToString::to_string).collect();
                checked.listed.push(format!(
                    "line {line} (id {:?}): {}",
                    record.id(),
                    reasons.join("; ")
                ));
            }
        }
    }
    Ok(checked)
}
