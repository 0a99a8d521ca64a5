//! Command-line definitions (clap derive).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use hubspot_tickets::Tier;
use hubspot_tickets::config::{ApiVersion, ObjectType};

use crate::input::{EmptyCells, Format};
use crate::progress::ProgressMode;

/// Upsert HubSpot tickets from CSV or JSON Lines files, safely and fast.
#[derive(Debug, Parser)]
#[command(name = "hubspot-tickets", version, after_help = crate::exit::HELP)]
pub struct Cli {
    /// More log output on stderr (-v: info, -vv: debug). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or update tickets from a CSV, JSON Lines or JSON array file (or stdin).
    #[command(after_help = UPSERT_HELP)]
    Upsert(Box<UpsertArgs>),
    /// Check a file against the portal's property definitions without writing: the
    /// idProperty, every column and every value (one read request; upsert's options).
    Check(Box<UpsertArgs>),
    /// See the whole product work against an embedded HubSpot emulator (no account, no
    /// token, a few seconds).
    Demo(DemoArgs),
    /// Run the local HubSpot emulator standalone (the same options as `hubspot-emulator`).
    #[command(after_help = hubspot_emulator::cli::FAULT_HELP)]
    Emulator(Box<hubspot_emulator::cli::EmulatorArgs>),
}

const UPSERT_HELP: &str = concat!(
    "\
Input:
  CSV: the header row names the properties (HubSpot internal names); one column holds
  the id. JSON Lines: one object per line, either flat properties (one key holds the id)
  or {\"id\", \"properties\", \"objectWriteTraceId\"}. JSON: an array of such objects.
  Numbers and booleans become HubSpot strings, null clears a value (\"\"), lists become
  multiple-checkbox values joined with ';'. The format comes from --format, else the
  file extension (.csv, .jsonl, .ndjson), else the first character ('[' JSON array,
  '{' JSON Lines, anything else CSV).

Auth:
  The token comes from --token-file or the HUBSPOT_ACCESS_TOKEN environment variable
  (a private app token with the object type's write scope: tickets, or
  crm.objects.<type>.write). It is never printed. A --token-file that is a regular
  file is re-read whenever it changes (a sidecar or secret manager rotating it).
  OAuth (a public app): HUBSPOT_CLIENT_ID (or --client-id), HUBSPOT_CLIENT_SECRET (or
  --client-secret-file) and HUBSPOT_REFRESH_TOKEN (or --refresh-token-file); the
  access token is obtained and renewed as it expires (and after a 401 mid-run), with
  one rate limit throughout. Secrets are never taken as command-line values, never
  printed. The summary says how many times the token was renewed.

Versions and object types:
  --api-version v3 (default) calls /crm/v3/objects/{type}/batch/upsert; 2026-03 and
  2026-09 call /crm/objects/{version}/{type}/batch/upsert. Partial failures arrive as
  a 207 (v3, 2026-03) or inside a 200 (2026-09); every record gets its own outcome
  either way. --dry-run prints the path that would be called.

Examples:
  hubspot-tickets upsert --id-property external_ticket_id tickets.csv \\
      --report report.jsonl --failed failed.csv
  # fix failed.csv, then:
  hubspot-tickets upsert --id-property external_ticket_id failed.csv
  zcat export.jsonl.gz | hubspot-tickets upsert --id-property external_ticket_id -
  hubspot-tickets upsert --id-property external_ticket_id --dry-run tickets.jsonl
  hubspot-tickets upsert --object-type contacts --id-property email \\
      --api-version 2026-09 contacts.csv

",
    crate::exit_codes_help!()
);

/// HubSpot subscription tiers, for the default rate limit: the command-line spelling
/// of the facade's [`Tier`], whose table holds the numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TierArg {
    /// 100 requests per 10 s.
    Free,
    /// 100 requests per 10 s.
    Starter,
    /// 190 requests per 10 s.
    Professional,
    /// 190 requests per 10 s.
    Enterprise,
    /// 250 requests per 10 s (the API limit increase).
    ApiLimitIncrease,
    /// 100 requests per 10 s (a publicly listed OAuth app).
    PublicOauthApp,
}

impl From<TierArg> for Tier {
    fn from(t: TierArg) -> Tier {
        match t {
            TierArg::Free => Tier::Free,
            TierArg::Starter => Tier::Starter,
            TierArg::Professional => Tier::Professional,
            TierArg::Enterprise => Tier::Enterprise,
            TierArg::ApiLimitIncrease => Tier::ApiLimitIncrease,
            TierArg::PublicOauthApp => Tier::PublicOAuthApp,
        }
    }
}

/// A client-side rate limit: `N/10s`, `N/1s`, `N/500ms`, `N/1m`, or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateSpec {
    /// At most `requests` per `window`.
    PerWindow {
        /// Requests allowed in a window.
        requests: u32,
        /// The rolling window.
        window: Duration,
    },
    /// No client-side limit (HubSpot's 429s are still honoured).
    Off,
}

impl std::fmt::Display for RateSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RateSpec::Off => f.write_str("off"),
            RateSpec::PerWindow { requests, window } => {
                let ms = window.as_millis();
                if ms % 1000 == 0 {
                    write!(f, "{requests}/{}s", ms / 1000)
                } else {
                    write!(f, "{requests}/{ms}ms")
                }
            }
        }
    }
}

/// Parses `--rate-limit`.
pub fn parse_rate_limit(s: &str) -> Result<RateSpec, String> {
    let s = s.trim();
    if matches!(s, "off" | "none" | "unlimited") {
        return Ok(RateSpec::Off);
    }
    let (n, window) = s
        .split_once('/')
        .ok_or_else(|| format!("expected N/WINDOW such as 100/10s, got '{s}'"))?;
    let requests: u32 = n
        .trim()
        .parse()
        .map_err(|_| format!("'{n}' is not a number of requests"))?;
    if requests == 0 {
        return Err("the number of requests must be at least 1".to_owned());
    }
    let window = window.trim();
    // "100/s" means per second.
    let window = if matches!(window, "s" | "ms" | "m") {
        format!("1{window}")
    } else {
        window.to_owned()
    };
    let window = parse_duration(&window)?;
    Ok(RateSpec::PerWindow { requests, window })
}

/// Parses one `--map` (or mapping file) entry: `COLUMN=PROPERTY`, split at the last
/// `=` (a property name never holds one; a column name may), both sides trimmed.
pub fn parse_mapping(s: &str) -> Result<(String, String), String> {
    let (column, property) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("expected COLUMN=PROPERTY, got '{s}'"))?;
    let (column, property) = (column.trim(), property.trim());
    if column.is_empty() || property.is_empty() {
        return Err(format!(
            "expected COLUMN=PROPERTY with both sides named, got '{s}'"
        ));
    }
    hubspot_tickets::cli_support::check_property_name(property)
        .map_err(|e| format!("'{s}': {e}"))?;
    Ok((column.to_owned(), property.to_owned()))
}

/// Parses a duration: `30s`, `500ms`, `2m`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (e.g. 30s, 500ms, 2m)"))?;
    let secs = match unit.trim() {
        "ms" => value / 1000.0,
        "s" | "sec" | "secs" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("unknown unit in '{s}' (use ms, s, m or h)")),
    };
    let d = Duration::try_from_secs_f64(secs).map_err(|e| format!("'{s}': {e}"))?;
    if d.is_zero() {
        return Err("the duration must be more than zero".to_owned());
    }
    Ok(d)
}

/// `hubspot-tickets upsert`.
#[derive(Debug, Args)]
pub struct UpsertArgs {
    /// The input file; `-` (or nothing) reads standard input.
    #[arg(value_name = "FILE|-", default_value = "-")]
    pub input: String,

    /// The unique property that identifies records (HubSpot's idProperty), e.g.
    /// external_ticket_id for tickets, email for contacts.
    #[arg(long, value_name = "NAME")]
    pub id_property: String,

    /// HubSpot API version: v3 (legacy paths, the default), 2026-03, 2026-09, or a later
    /// dated version (YYYY-03 or YYYY-09, assumed to keep 2026-09's shape).
    #[arg(long, value_name = "VERSION", default_value = "v3")]
    pub api_version: ApiVersion,

    /// CRM object type to write: tickets (default), contacts, companies, deals, an
    /// object type id (0-5, 2-123) or a custom object's fully qualified name.
    #[arg(long, value_name = "NAME", default_value = "tickets")]
    pub object_type: ObjectType,

    /// The CSV column or JSON key holding the id, when it differs from --id-property
    /// (that column is not sent as a property).
    #[arg(long, value_name = "NAME")]
    pub id_column: Option<String>,

    /// Input format (default: from the file extension, else sniffed).
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// Empty CSV cells: skip (leave the property unchanged) or clear (send "").
    #[arg(long, value_enum, default_value_t = EmptyCells::Skip)]
    pub empty_cells: EmptyCells,

    /// Read the access token from this file (trailing newline ignored) instead of
    /// HUBSPOT_ACCESS_TOKEN.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    #[command(flatten)]
    pub oauth: crate::credentials::OAuthArgs,

    /// The API base URL (e.g. an emulator's http://127.0.0.1:PORT).
    #[arg(long, value_name = "URL", default_value = "https://api.hubapi.com")]
    pub base_url: String,

    /// The portal's tier, which sets the client-side rate limit.
    #[arg(long, value_enum, default_value_t = TierArg::Professional)]
    pub tier: TierArg,

    /// Client-side rate limit instead of the tier's: N/10s, N/1s, N/500ms, or off.
    #[arg(long, value_name = "N/WINDOW", value_parser = parse_rate_limit, conflicts_with = "tier")]
    pub rate_limit: Option<RateSpec>,

    /// The most batches (of up to 100 records) in flight at once: a cap, 1 to 256.
    /// Below it the number adapts to the rate limit and HubSpot's answer times, and
    /// backs off on 429, 423 and 5xx answers. Each batch in flight holds about 0.5 MiB;
    /// more than 64 only helps a higher limit at answers slower than 2 s.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,

    /// Retries of a failed request (429, 5xx, timeouts, connection errors); 0 disables.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub max_retries: u32,

    /// Timeout of each HTTP attempt (e.g. 30s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Parse and validate everything and say what would be sent; nothing is written.
    /// With a token, the preflight runs too (one read request); without one, no
    /// network call.
    #[arg(long)]
    pub dry_run: bool,

    /// Skip the preflight. By default every record is first checked against the
    /// object type's property definitions (one read request per run): a record HubSpot
    /// would refuse is reported invalid and not sent, and an idProperty or column that
    /// does not exist stops the run before any write.
    #[arg(long, conflicts_with = "require_preflight")]
    pub no_preflight: bool,

    /// Stop, writing nothing, when the preflight cannot run (a token that may not read
    /// properties gets a 403; without this the run goes on unchecked, saying so).
    #[arg(long)]
    pub require_preflight: bool,

    /// Map a CSV column to a HubSpot property: --map "Ticket Title=subject" (repeat for
    /// more columns; the id column too: --map "Ticket ID=external_ticket_id").
    #[arg(long = "map", value_name = "COLUMN=PROPERTY", value_parser = parse_mapping)]
    pub map: Vec<(String, String)>,

    /// A file of COLUMN=PROPERTY lines (blank lines and lines starting with '#'
    /// ignored), added to --map.
    #[arg(long, value_name = "PATH")]
    pub map_file: Option<PathBuf>,

    /// `--map` and `--map-file` together, checked (`mapping::entries`); filled in by
    /// the command before anything reads the input.
    #[arg(skip)]
    pub mapping: Vec<(String, String)>,

    /// Validate the whole input first and send nothing if any line is bad (or an id
    /// repeats).
    #[arg(long)]
    pub strict: bool,

    /// Write one JSON line per input record: line, id, outcome, object id, error.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,

    /// Write failed, not attempted and invalid records here, in the input's format.
    #[arg(long, value_name = "PATH")]
    pub failed: Option<PathBuf>,

    /// Finish the job an earlier run's --report describes (after a kill, a crash, a
    /// stop): skip every record that report shows written with the same id and content,
    /// send the rest, and append their lines to that report.
    #[arg(long, value_name = "REPORT", conflicts_with_all = ["report", "dry_run"])]
    pub resume: Option<PathBuf>,

    /// Progress display on stderr.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
}

/// `hubspot-tickets demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// HubSpot API version the demo calls: v3 (default), 2026-03, 2026-09 or later.
    #[arg(long, value_name = "VERSION", default_value = "v3")]
    pub api_version: ApiVersion,

    /// Turn on the emulator's seeded faults (429s, 5xx, timeouts, dropped connections)
    /// to watch retries keep every record safe.
    #[arg(long)]
    pub faults: bool,

    /// Tickets in the first run.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub tickets: u64,

    /// Seed of the sample data and of the faults.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// Keep the demo's input, report and failed files in this directory (default: a
    /// temporary directory, removed at the end).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,

    /// Progress display on stderr.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn rate_limits_parse() {
        assert_eq!(
            parse_rate_limit("100/10s"),
            Ok(RateSpec::PerWindow {
                requests: 100,
                window: Duration::from_secs(10)
            })
        );
        assert_eq!(
            parse_rate_limit("5/s"),
            Ok(RateSpec::PerWindow {
                requests: 5,
                window: Duration::from_secs(1)
            })
        );
        assert_eq!(
            parse_rate_limit("40/500ms").unwrap().to_string(),
            "40/500ms"
        );
        assert_eq!(parse_rate_limit("off"), Ok(RateSpec::Off));
        assert!(parse_rate_limit("0/10s").is_err());
        assert!(parse_rate_limit("100").is_err());
        assert!(parse_rate_limit("x/10s").is_err());
        assert!(parse_rate_limit("10/10y").is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("abc").is_err());
    }

    #[test]
    fn upsert_defaults_suit_a_professional_portal() {
        let cli = Cli::try_parse_from(["hubspot-tickets", "upsert", "--id-property", "x"]).unwrap();
        let Command::Upsert(args) = cli.command else {
            panic!("not upsert")
        };
        assert_eq!(args.input, "-");
        assert_eq!(Tier::from(args.tier).max_per_window(), 190);
        assert_eq!(args.rate_limit, None);
        assert_eq!(args.timeout, Duration::from_secs(30));
        let err = Cli::try_parse_from([
            "hubspot-tickets",
            "upsert",
            "--id-property",
            "x",
            "--tier",
            "free",
            "--rate-limit",
            "10/1s",
        ])
        .unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
