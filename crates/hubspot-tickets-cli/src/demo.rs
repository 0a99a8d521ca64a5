//! `hubspot-tickets demo`: the whole product against an embedded emulator, in seconds,
//! with no HubSpot account and no token.
//!
//! Run 1 upserts a generated JSON Lines file of new tickets (all created). Run 2
//! upserts a CSV of changes: updates, a few new tickets, values HubSpot refuses (207
//! per-record failures) and malformed lines (rejected by the CLI with their line
//! numbers). Both go through exactly the code path of `hubspot-tickets upsert`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hubspot_emulator::{Emulator, EmulatorConfig, FaultConfig, RateLimitConfig, WireShape};
use hubspot_tickets::config::{ApiVersion, ObjectType};
use hubspot_tickets::{Client, RateLimit, RetryPolicy};

use crate::cli::DemoArgs;
use crate::exit::{self, CommandError};
use crate::input::{EmptyCells, ParseOptions, Source};
use crate::sample::{self, ChangePlan, ID_PROPERTY};
use crate::summary::{self, thousands};
use crate::upsert::{self, RunConfig, RunResult};

/// The demo's rate limit: requests per second, on both sides (HubSpot's real limit for a
/// Professional portal is 190 per 10 s; scaled so the demo shows limiting but stays fast).
const DEMO_REQUESTS_PER_SECOND: u32 = 25;

/// The token the demo's emulator accepts.
const DEMO_TOKEN: &str = "demo-token";

fn fail(context: &str) -> impl FnOnce(std::io::Error) -> CommandError + '_ {
    move |e| CommandError {
        code: exit::USAGE,
        message: format!("{context}: {e}"),
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Runs the demo; the exit code is 0 when both runs did exactly what was planned.
pub async fn run(args: DemoArgs) -> Result<u8, CommandError> {
    let temp;
    let dir: PathBuf = match &args.out_dir {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(fail("--out-dir"))?;
            d.clone()
        }
        None => {
            temp = tempfile::tempdir().map_err(fail("temporary directory"))?;
            temp.path().to_owned()
        }
    };
    let tickets = args.tickets;
    let plan = ChangePlan::for_tickets(tickets);
    write_inputs(
        &dir.join("tickets.jsonl"),
        &dir.join("changes.csv"),
        args.seed,
        tickets,
        plan,
    )?;

    let window = Duration::from_secs(1);
    let faults = if args.faults {
        FaultConfig::chaos(args.seed)
    } else {
        FaultConfig::none(args.seed)
    };
    let config = EmulatorConfig::default()
        .with_tokens([DEMO_TOKEN])
        .with_rate_limit(
            RateLimitConfig::per_window(DEMO_REQUESTS_PER_SECOND, window)
                .with_daily(Some(1_000_000)),
        )
        .with_faults(faults);
    // The embedded emulator knows v3, 2026-03 and 2026-09; a later version plays
    // HubSpot after that release, with 2026-09's shape (what the client assumes too).
    let config = if args.api_version > ApiVersion::V2026_09 {
        config.with_api_version(args.api_version.to_string(), WireShape::PartialIn200)
    } else {
        config
    };
    let emulator = Emulator::start(config).await.map_err(|e| CommandError {
        code: exit::USAGE,
        message: format!("cannot start the emulator: {e}"),
    })?;
    let base_url = emulator.base_url().to_string();

    say(&format!(
        "hubspot-tickets demo: an embedded HubSpot emulator at {base_url} (no account, no token needed)"
    ));
    say(&format!(
        "  API version {}: tickets go to POST {}",
        args.api_version,
        args.api_version.upsert_path(&ObjectType::TICKETS)
    ));
    say(&format!(
        "  unique property '{ID_PROPERTY}'; rate limit scaled down for the demo to {DEMO_REQUESTS_PER_SECOND} requests/s \
         (HubSpot Professional: 190 per 10 s)"
    ));
    if args.faults {
        say(&format!(
            "  faults ON (seed {}): random 429s, 5xx with HTML bodies, dropped connections, slow answers; \
             watch the retries",
            args.seed
        ));
    }
    if args.out_dir.is_some() {
        say(&format!("  files in {}", dir.display()));
    }

    let client = Client::builder()
        .access_token(DEMO_TOKEN)
        .base_url(base_url.clone())
        .api_version(args.api_version)
        .id_property(ID_PROPERTY)
        .rate_limit(RateLimit::per_window(DEMO_REQUESTS_PER_SECOND, window))
        .max_concurrency(4)
        .retry(RetryPolicy::default().max_attempts(if args.faults { 10 } else { 6 }))
        .attempt_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| CommandError::usage(e.to_string()))?;

    // The preflight, as `upsert` runs it by default: the definitions read once (one
    // request, retried through faults like any other), then each record checked.
    let definitions = client
        .property_definitions()
        .await
        .map_err(|e| CommandError {
            code: exit::UNAVAILABLE,
            message: e.to_string(),
        })?;
    say(&format!(
        "preflight: {} ticket property definitions read (1 request); a record HubSpot would refuse is kept back, with the reason",
        definitions.len()
    ));
    let preflight = hubspot_tickets::preflight::Preflight::new(
        std::sync::Arc::new(definitions),
        ID_PROPERTY,
        std::iter::empty(),
    )
    .map_err(|e| CommandError {
        code: exit::CONFIG,
        message: e.to_string(),
    })?;

    let progress = args.progress.resolve();
    let run = |label: &str, input: &str, report: &str, failed: &str| {
        let config = RunConfig {
            source: Source::File(dir.join(input)),
            format: None,
            parse: ParseOptions {
                id_column: ID_PROPERTY.to_owned(),
                keep_raw: true,
                empty_cells: EmptyCells::Skip,
                map: Default::default(),
            },
            report: true,
            fingerprint_name: ID_PROPERTY.to_owned(),
            failed: Some(dir.join(failed)),
            progress,
            label: label.to_owned(),
            display_name: Some(input.to_owned()),
            plain_interval: Duration::from_secs(1),
            preflight: Some(preflight.clone()),
        };
        let client = client.clone();
        let report = dir.join(report);
        async move {
            let scope = hubspot_tickets::journal::Scope::of(&client);
            let journal = hubspot_tickets::Journal::create(&report, &scope)
                .map_err(|e| CommandError::usage(format!("--report {e}")))?;
            upsert::run(config, &client, Some(journal))
                .await
                .map_err(|e| CommandError::usage(e.to_string()))
        }
    };
    let mut columns = Vec::new();

    say("");
    say(&format!(
        "run 1: {} new tickets from tickets.jsonl (JSON Lines; numbers and lists become HubSpot strings)",
        thousands(tickets)
    ));
    let first = run(
        "run 1",
        "tickets.jsonl",
        "run1-report.jsonl",
        "run1-failed.jsonl",
    )
    .await?;
    columns.push(column("run 1: tickets.jsonl", &first));
    let mut first_unwritten = first.stats.unsuccessful();
    if args.faults && first_unwritten > 0 {
        say(&format!(
            "run 1 left {} records unwritten (faults that are not safe to retry blindly, such as a \
             truncated answer); re-running its failed file, as an operator would:",
            thousands(first_unwritten)
        ));
        let again = run(
            "re-run 1",
            "run1-failed.jsonl",
            "rerun1-report.jsonl",
            "rerun1-failed.jsonl",
        )
        .await?;
        first_unwritten = again.stats.unsuccessful();
        columns.push(column("re-run: run1-failed.jsonl", &again));
    }

    say(&format!(
        "run 2: changes.csv: {} updates, {} new tickets, {} values HubSpot would refuse (kept back by the preflight), {} malformed lines",
        thousands(plan.updated),
        thousands(plan.created),
        plan.refused,
        plan.malformed
    ));
    let second = run(
        "run 2",
        "changes.csv",
        "run2-report.jsonl",
        "run2-failed.csv",
    )
    .await?;
    columns.push(column("run 2: changes.csv", &second));
    let planted = plan.refused + plan.malformed;
    let mut second_unwritten = second.stats.unsuccessful();
    if args.faults && second_unwritten > planted {
        say("run 2 left more records unwritten than the planted ones; re-running its failed file:");
        let again = run(
            "re-run 2",
            "run2-failed.csv",
            "rerun2-report.jsonl",
            "rerun2-failed.csv",
        )
        .await?;
        second_unwritten = again.stats.unsuccessful();
        columns.push(column("re-run: run2-failed.csv", &again));
    }

    say("");
    say(&summary::render(&columns));
    print_failures(
        &second,
        "changes.csv",
        &dir,
        args.out_dir.is_some(),
        args.api_version,
    );

    let stored = emulator.tickets().count() as u64;
    let stats = emulator.stats();
    let expected_stored = tickets + plan.created;
    let store_ok = stored == expected_stored && stats.duplicate_creates.is_empty();
    // Said only when the store shows it; otherwise what it shows instead.
    let verdict = if store_ok {
        "nothing lost, nothing duplicated".to_owned()
    } else {
        format!(
            "expected {}, and {} tickets were created twice",
            thousands(expected_stored),
            thousands(stats.duplicate_creates.len() as u64)
        )
    };
    say(&format!(
        "The emulator now holds {} tickets ({} + {} new): {verdict}{}.",
        thousands(stored),
        thousands(tickets),
        thousands(plan.created),
        if args.faults {
            format!(
                " despite {} injected faults",
                thousands(stats.total_faults())
            )
        } else {
            String::new()
        }
    ));
    let requests: u64 = columns.iter().map(|c| c.counts.requests).sum();
    let limited: u64 = columns.iter().map(|c| c.counts.rate_limited).sum();
    let retries: u64 = columns.iter().map(|c| c.counts.retries).sum();
    if args.faults {
        say(&format!(
            "Faults: {} requests, {} answered 429, {} retried.",
            thousands(requests),
            thousands(limited),
            thousands(retries)
        ));
    } else {
        say(&format!(
            "Rate limiting: the client paced its {} requests to the emulator's \
             {DEMO_REQUESTS_PER_SECOND} requests/s; {} answered 429.",
            thousands(requests),
            if limited == 0 {
                "none".to_owned()
            } else {
                thousands(limited)
            }
        ));
    }
    let _ = emulator.shutdown().await;

    let expected = first_unwritten == 0
        && second_unwritten == planted
        && second.stats.invalid == plan.malformed
        && store_ok;
    if expected {
        say("Demo complete: every record ended as planned.");
        Ok(exit::SUCCESS)
    } else {
        say("Demo finished, but not every record ended as planned (see the summary above).");
        Ok(exit::PARTIAL)
    }
}

fn column(label: &str, run: &RunResult) -> summary::RunStats {
    let mut stats = run.stats.clone();
    stats.label = label.to_owned();
    stats
}

fn write_inputs(
    tickets_file: &Path,
    changes_file: &Path,
    seed: u64,
    tickets: u64,
    plan: ChangePlan,
) -> Result<(), CommandError> {
    let file = std::fs::File::create(tickets_file).map_err(fail("tickets.jsonl"))?;
    let mut out = std::io::BufWriter::new(file);
    sample::write_jsonl(&mut out, seed, tickets).map_err(fail("tickets.jsonl"))?;
    out.flush().map_err(fail("tickets.jsonl"))?;
    let file = std::fs::File::create(changes_file).map_err(fail("changes.csv"))?;
    sample::write_changes_csv(std::io::BufWriter::new(file), seed, tickets, plan)
        .map_err(fail("changes.csv"))?;
    Ok(())
}

/// Lists a run's failures from its report, and the failed file to fix and re-run.
fn print_failures(run: &RunResult, input: &str, dir: &Path, kept: bool, version: ApiVersion) {
    let Some(report) = &run.report else { return };
    let Ok(text) = std::fs::read_to_string(report) else {
        return;
    };
    let mut failures: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        // Outcome lines only (the first line is the report's header).
        .filter(|v| !matches!(v["outcome"].as_str(), None | Some("created" | "updated")))
        .collect();
    if failures.is_empty() {
        return;
    }
    failures.sort_by_key(|v| v["line"].as_u64());
    say("Run 2's failures, from its --report file (one JSON line per input record):");
    for v in failures.iter().take(10) {
        let location = format!("{input}:{}", v["line"].as_u64().unwrap_or(0));
        say(&format!(
            // `{:.100}`: the reason's first 100 characters, a line a terminal keeps.
            "  {location:<16} {:<10} {:<8} {:<16} {:.100}",
            v["id"].as_str().unwrap_or("-"),
            v["outcome"].as_str().unwrap_or(""),
            v["error_category"]
                .as_str()
                .or(v["error_kind"].as_str())
                .unwrap_or(""),
            v["error_message"]
                .as_str()
                .unwrap_or("")
                .trim_start_matches("Property values were not valid: ")
                .trim_start_matches("not sent: the preflight found ")
        ));
    }
    if failures.len() > 10 {
        say(&format!("  ... and {} more", failures.len() - 10));
    }
    if let Some((path, n)) = &run.failed {
        let shown = match path.strip_prefix(dir) {
            Ok(p) => p.display().to_string(),
            Err(_) => path.display().to_string(),
        };
        // With --out-dir the file stays where the user put it: the command names that
        // path (and, the emulator being gone, sends to the portal of the token).
        let file = if kept {
            path.display().to_string()
        } else {
            shown.clone()
        };
        let kept = if kept {
            ""
        } else {
            "; the demo's files are kept with --out-dir DIR"
        };
        say(&format!(
            "Fix them in {shown} ({n} records, CSV like the input{kept}) and re-run:\n  \
             hubspot-tickets upsert{} --id-property {ID_PROPERTY} {file}",
            crate::rerun::target_args(version, &ObjectType::TICKETS)
        ));
    }
    say("");
}
