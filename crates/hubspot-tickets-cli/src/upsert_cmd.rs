//! `hubspot-tickets upsert`: checks the command line and the files, then runs the
//! upsert ([`crate::upsert`]) and prints its summary, report and re-run hint.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use hubspot_tickets::cli_support::check_property_name;
use hubspot_tickets::journal::{JournalWriter, Scope};
use hubspot_tickets::resume::Fingerprint;
use hubspot_tickets::{Client, Journal, RateLimit, RetryPolicy, Tier};

use crate::cli::{RateSpec, UpsertArgs};
use crate::exit::{self, CommandError};
use crate::input::{self, Format, ParseOptions, Source};
use crate::progress::eprint_line;
use crate::token;
use crate::{paths, rerun, summary, upsert, validate};

fn rate_limit(args: &UpsertArgs) -> (RateLimit, Option<(u32, Duration)>) {
    match args.rate_limit {
        Some(RateSpec::Off) => (RateLimit::disabled(), None),
        Some(RateSpec::PerWindow { requests, window }) => (
            RateLimit::per_window(requests, window),
            Some((requests, window)),
        ),
        None => {
            let tier = Tier::from(args.tier);
            (
                RateLimit::tier(tier),
                Some((tier.max_per_window(), Tier::WINDOW)),
            )
        }
    }
}

/// The client the command line describes, and what kind of token it carries.
pub(crate) fn client(
    args: &UpsertArgs,
    credentials: crate::credentials::Credentials,
) -> Result<(Client, crate::credentials::Kind), CommandError> {
    let (builder, token_kind) = credentials.apply(Client::builder());
    let client = builder
        .base_url(args.base_url.clone())
        .api_version(args.api_version)
        .object_type(args.object_type.clone())
        .id_property(args.id_property.clone())
        .rate_limit(rate_limit(args).0)
        .max_concurrency(usize::from(args.concurrency))
        .retry(RetryPolicy::default().max_attempts(args.max_retries.saturating_add(1)))
        .attempt_timeout(args.timeout)
        .build()
        .map_err(|e| CommandError::usage(e.to_string()))?;
    Ok((client, token_kind))
}

/// How the input is read; records' text is not kept (only a `--failed` file needs it).
pub(crate) fn parse_options(args: &UpsertArgs) -> ParseOptions {
    ParseOptions {
        id_column: args
            .id_column
            .clone()
            .unwrap_or_else(|| args.id_property.clone()),
        keep_raw: false,
        empty_cells: args.empty_cells,
        map: std::sync::Arc::new(args.mapping.iter().cloned().collect()),
    }
}

/// Validates the whole input (`--dry-run`, and `--strict` before sending).
async fn validate_input(
    source: &Source,
    name: &str,
    args: &UpsertArgs,
    report: Option<&PathBuf>,
) -> Result<(validate::Validation, Format), CommandError> {
    let source = source.clone();
    let name = name.to_owned();
    let format = args.format;
    let opts = parse_options(args);
    let id_property = args.id_property.clone();
    let scope = Scope::new(&args.object_type, &args.id_property);
    let report = report.cloned();
    tokio::task::spawn_blocking(move || {
        let (read, format) =
            input::open(&source, format).map_err(|e| CommandError::usage(e.to_string()))?;
        let reader = input::Reader::new(name.clone(), read, format, opts)
            .map_err(|e| CommandError::usage(e.to_string()))?;
        let mut writer = match &report {
            Some(p) => Some(
                JournalWriter::create(p, &scope)
                    .map_err(|e| CommandError::usage(format!("--report {e}")))?,
            ),
            None => None,
        };
        let mut log = validate::BadLineLog::new(&name, 100);
        let v = validate::validate(reader, &id_property, writer.as_mut(), &mut log)
            .map_err(|e| CommandError::usage(e.to_string()))?;
        if let Some(w) = writer {
            w.finish()
                .map_err(|e| CommandError::usage(format!("--report {e}")))?;
        }
        Ok((v, format))
    })
    .await
    .map_err(|e| CommandError::usage(format!("validation stopped: {e}")))?
}

/// Reads the input once ahead of a resumed run, so that each id is decided from its
/// last record in the input (see `Resume::plan`): an input with repeated ids never has
/// an older value sent again.
fn plan_resume(
    source: &Source,
    name: &str,
    args: &UpsertArgs,
    scope: &Scope,
    journal: &mut Journal,
) -> Result<(), CommandError> {
    let (read, format) =
        input::open(source, args.format).map_err(|e| CommandError::usage(e.to_string()))?;
    let reader = input::Reader::new(name.to_owned(), read, format, parse_options(args))
        .map_err(|e| CommandError::usage(e.to_string()))?;
    let fingerprint_name = scope.fingerprint_name();
    for item in reader {
        // An input error is met again, and said, by the run itself.
        let rec = match item {
            Ok(input::Item::Good(rec)) => rec,
            Ok(input::Item::Bad(_)) => continue,
            Err(_) => break,
        };
        let fp = Fingerprint::of_parts(&fingerprint_name, &rec.id, &rec.properties);
        journal.resume().plan_fingerprint(None, &rec.id, fp);
    }
    Ok(())
}

/// Copies standard input to a temporary file (for `--strict`, which reads twice). The
/// file has no name from the start (it is unlinked at creation), so nothing is left
/// behind however the process ends, SIGKILL included; it is read again through
/// `/proc/self/fd`.
async fn spool_stdin() -> Result<std::fs::File, CommandError> {
    tokio::task::spawn_blocking(|| {
        let mut file = tempfile::tempfile()
            .map_err(|e| CommandError::usage(format!("cannot create a temporary file: {e}")))?;
        // Checked as text first: `/dev/zero` on stdin would otherwise fill the disk.
        let mut stdin =
            input::open_text(&Source::Stdin).map_err(|e| CommandError::usage(e.to_string()))?;
        std::io::copy(&mut stdin, &mut file)
            .map_err(|e| CommandError::usage(format!("<stdin>: {e}")))?;
        file.flush()
            .map_err(|e| CommandError::usage(format!("temporary file: {e}")))?;
        Ok(file)
    })
    .await
    .map_err(|e| CommandError::usage(format!("reading stdin stopped: {e}")))?
}

/// Standard input copied to a temporary file, and the path that reads it again.
async fn spooled_stdin() -> Result<(std::fs::File, Source), CommandError> {
    use std::os::fd::AsRawFd;
    let file = spool_stdin().await?;
    let path = format!("/proc/self/fd/{}", file.as_raw_fd());
    Ok((file, Source::File(path.into())))
}

/// `--dry-run`: the whole input validated without a request; then, given a token (and
/// no `--no-preflight`), the preflight against the portal's definitions (one read
/// request). Nothing is written either way.
async fn dry_run(
    args: UpsertArgs,
    mut source: Source,
    name: &str,
    rate: Option<(u32, Duration)>,
) -> Result<u8, CommandError> {
    let credentials = (!args.no_preflight).then(|| crate::credentials::Credentials::resolve(&args));
    let mut _spooled = None;
    if source == Source::Stdin && matches!(credentials, Some(Ok(_))) {
        // Read twice (the validation, the preflight).
        let (file, path) = spooled_stdin().await?;
        source = path;
        _spooled = Some(file);
    }
    // The preflight first: a configuration it refuses (a header the portal does not
    // know, with the --map that fixes it) makes the rest moot.
    let checked = match credentials {
        Some(Ok(credentials)) => {
            match crate::check_cmd::check(&args, &source, name, credentials).await {
                Ok(checked) => Some(Ok(checked)),
                Err(e) if args.require_preflight => return Err(e),
                Err(e) => Some(Err(format!("skipped ({})", e.message))),
            }
        }
        Some(Err(e)) => Some(Err(format!(
            "not run: {}; given a token, --dry-run also checks the records against the portal's property definitions (one read request)",
            e.message
                .split(" (use --dry-run")
                .next()
                .unwrap_or_default()
        ))),
        None => None,
    };
    if let Some(Ok(c)) = &checked
        && c.config.is_some()
    {
        let _ = c.print(&mut std::io::stdout().lock(), &args);
        return Ok(c.exit_code());
    }
    let (v, format) = validate_input(&source, name, &args, args.report.as_ref()).await?;
    let mut out = std::io::stdout().lock();
    let _ = v.describe(&mut out, name, format.name(), rate);
    let _ = writeln!(
        out,
        "  {:<16}POST {}{}  (API version {}, object type {})",
        "would call",
        args.base_url.trim_end_matches('/'),
        args.api_version.upsert_path(&args.object_type),
        args.api_version,
        args.object_type
    );
    if let Some(p) = &args.report {
        let _ = writeln!(out, "  report          {}", p.display());
    }
    let code = if args.strict && v.invalid + v.duplicates > 0 {
        exit::USAGE
    } else if v.invalid > 0 {
        exit::PARTIAL
    } else {
        exit::SUCCESS
    };
    Ok(match checked {
        Some(Ok(c)) => {
            let _ = writeln!(out);
            let _ = c.print(&mut out, &args);
            if code == exit::SUCCESS {
                c.exit_code()
            } else {
                code
            }
        }
        Some(Err(why)) => {
            let _ = writeln!(out, "  {:<16}{}", "preflight", token::redact(&why));
            code
        }
        None => code,
    })
}

/// What `upsert` and `check` check first: the `--id-property`, the mapping (filled into
/// `args.mapping`) and that the input exists; the input's source.
pub(crate) fn prepare_args(args: &mut UpsertArgs) -> Result<Source, CommandError> {
    check_property_name(&args.id_property)
        .map_err(|e| CommandError::usage(format!("--id-property: {e}")))?;
    args.mapping = crate::mapping::entries(args)?;
    let source = Source::from_arg(&args.input);
    if let Source::File(p) = &source
        && !p.exists()
    {
        return Err(CommandError::usage(format!(
            "{}: no such file",
            p.display()
        )));
    }
    Ok(source)
}

/// Runs `hubspot-tickets upsert`; the exit code.
pub async fn run(mut args: UpsertArgs) -> Result<u8, CommandError> {
    let mut source = prepare_args(&mut args)?;
    let name = source.display_name();
    // Every file is checked before any is written: nothing is truncated, locked or cut
    // for a command that is then refused.
    let report_arg = match (&args.resume, &args.report) {
        (Some(p), _) => Some(("--resume", p)),
        (None, Some(p)) => Some(("--report", p)),
        _ => None,
    };
    let outputs: Vec<(&str, &std::path::Path)> = report_arg
        .iter()
        .map(|(flag, p)| (*flag, p.as_path()))
        .chain(args.failed.iter().map(|p| ("--failed", p.as_path())))
        .collect();
    paths::check_distinct(&source, &outputs).map_err(CommandError::usage)?;
    paths::check_not_a_report(&source).map_err(CommandError::usage)?;
    for (flag, p) in &outputs {
        use std::os::unix::fs::FileTypeExt;
        if *flag != "--resume" && std::fs::metadata(p).is_ok_and(|m| m.file_type().is_fifo()) {
            // Opening a FIFO waits for its reader: say why nothing happens yet.
            eprint_line(&format!(
                "{flag} {} is a FIFO: waiting for a process to read it",
                p.display()
            ));
        }
    }
    if let Some(p) = &args.resume
        && !p.is_file()
    {
        return Err(CommandError::usage(format!(
            "--resume {}: {}",
            p.display(),
            if p.exists() {
                "not a regular file (a report is a file the run wrote)"
            } else {
                "no such file"
            }
        )));
    }
    let (_, rate) = rate_limit(&args);

    if args.dry_run {
        return dry_run(args, source, &name, rate).await;
    }

    let credentials = crate::credentials::Credentials::resolve(&args)?;

    // --strict and --resume read the input twice (a check, a plan): standard input
    // goes through a temporary file first.
    let mut _spooled = None;
    if source == Source::Stdin && (args.strict || args.resume.is_some()) {
        let (file, path) = spooled_stdin().await?;
        source = path;
        _spooled = Some(file);
    }
    if args.strict {
        let (v, _) = validate_input(&source, &name, &args, None).await?;
        if v.invalid + v.duplicates > 0 {
            return Err(CommandError::usage(format!(
                "--strict: {} invalid line(s) and {} repeated id(s); nothing was sent",
                v.invalid, v.duplicates
            )));
        }
    }

    let (client, token_kind) = client(&args, credentials)?;

    // A report names its scope (object type and idProperty): a tickets report never
    // lets a contacts run skip records. A --resume report is opened (and its scope
    // checked) before the preflight's request: a local mistake is said first.
    let scope = Scope::new(&args.object_type, &args.id_property);
    let resumed = match &args.resume {
        // --resume: the earlier report says what is written already; this run appends
        // to it.
        Some(path) => {
            let mut journal = Journal::open(path, &scope)
                .map_err(|e| CommandError::usage(format!("--resume {e}")))?;
            let loaded = journal.loaded();
            if loaded.written > 0 {
                plan_resume(&source, &name, &args, &scope, &mut journal)?;
            }
            if loaded.cut_bytes > 0 {
                eprint_line(&format!(
                    "--resume {}: its last line was torn (a run was killed while writing it): {} byte(s) cut; that record is sent again",
                    path.display(),
                    loaded.cut_bytes
                ));
            }
            eprint_line(&format!(
                "--resume {}: {} line(s); {} record(s) shown written: each is skipped if this input has it with the same content, everything else is sent{}",
                path.display(),
                loaded.lines,
                loaded.written,
                if loaded.legacy {
                    " (a report of an earlier version, without a header)"
                } else {
                    ""
                }
            ));
            Some(journal)
        }
        None => None,
    };
    // A report another run is writing is refused before the preflight's request (it
    // can wait for the rate limit), as it was before there was one (a --resume report
    // is locked already, above).
    if let (None, Some(p)) = (&resumed, &args.report) {
        hubspot_tickets::journal::check_unlocked(p)
            .map_err(|e| CommandError::usage(format!("--report {e}")))?;
    }
    // The preflight comes first: a header the portal does not know is named with the
    // property it probably means (and the --map that says so), and a run it stops
    // leaves no file.
    let preflight =
        crate::preflight::prepare(&client, &source, &args, &parse_options(&args)).await?;
    // The input opens (a file that cannot be read is said before the report is
    // touched); standard input is left unread.
    if let Source::File(_) = &source {
        let (read, format) =
            input::open(&source, args.format).map_err(|e| CommandError::usage(e.to_string()))?;
        // Its header too (a CSV without the id column is refused here, before the
        // report is created).
        input::Reader::new(name.clone(), read, format, parse_options(&args))
            .map_err(|e| CommandError::usage(e.to_string()))?;
    }
    let journal = match (resumed, &args.report) {
        (Some(journal), _) => Some(journal),
        (None, Some(path)) => Some(
            Journal::create(path, &scope)
                .map_err(|e| CommandError::usage(format!("--report {e}")))?,
        ),
        (None, None) => None,
    };
    let config = upsert::RunConfig {
        source: source.clone(),
        format: args.format,
        parse: ParseOptions {
            keep_raw: args.failed.is_some(),
            ..parse_options(&args)
        },
        report: journal.is_some(),
        fingerprint_name: scope.fingerprint_name(),
        failed: args.failed.clone(),
        progress: args.progress.resolve(),
        label: "upsert".to_owned(),
        display_name: Some(name),
        plain_interval: Duration::from_secs(5),
        preflight,
    };
    let result = upsert::run(config, &client, journal)
        .await
        .map_err(|e| CommandError::usage(e.to_string()))?;

    let mut out = std::io::stdout().lock();
    let _ = write!(
        out,
        "\n{}",
        summary::render(std::slice::from_ref(&result.stats))
    );
    if let Some(line) = crate::credentials::summary_line(token_kind, &client) {
        let _ = writeln!(out, "{line}");
    }
    if let Some(p) = &result.report {
        let _ = writeln!(out, "report: {}", p.display());
    }
    if let Some((p, n)) = &result.failed {
        if *n > 0 {
            // Records HubSpot was never able to judge (unavailable, timed out, the run
            // stopped) need no fix: saying "fix them" would send people hunting.
            let transient = result.transient.min(*n);
            let records = |k: u64| {
                format!(
                    "{} record{}",
                    summary::thousands(k),
                    if k == 1 { "" } else { "s" }
                )
            };
            let (detail, advice) = if result.exit_code == exit::CONFIG {
                // The records were never judged: the command line is what to fix.
                (
                    format!(
                        "{}, not written: HubSpot refused the run's configuration (see the reason below)",
                        records(*n)
                    ),
                    "correct the command (the --id-property, --object-type, --api-version or --base-url the reason names), then re-run",
                )
            } else if transient == *n {
                (
                    format!(
                        "{}, none needing a fix: HubSpot did not judge them (it was unavailable, or the run stopped before them)",
                        records(*n)
                    ),
                    "re-run it as it is",
                )
            } else if transient > 0 {
                (
                    format!(
                        "{}: {} refused or invalid, the report says why; {} not judged by HubSpot",
                        records(*n),
                        summary::thousands(*n - transient),
                        summary::thousands(transient)
                    ),
                    "fix the refused ones and re-run",
                )
            } else {
                (records(*n), "fix them and re-run")
            };
            let _ = writeln!(
                out,
                "failed: {} ({detail}); {advice}:\n  {}",
                p.display(),
                rerun::command(&args, p)
            );
        } else {
            let _ = writeln!(out, "failed: {} (empty: nothing to re-run)", p.display());
        }
    }
    drop(out);
    if let Some(why) = &result.stopped {
        eprint_line(&format!("stopped: {}", token::redact(why)));
    }
    if let Some(hint) = crate::credentials::resume_hint(
        token_kind,
        result.exit_code,
        result.stats.counts.written(),
        result.report.as_deref(),
    ) {
        eprint_line(&hint);
    }
    Ok(result.exit_code)
}
