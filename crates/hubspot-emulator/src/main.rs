//! `hubspot-emulator`: run the HubSpot CRM batch-upsert emulator standalone.

use std::process::ExitCode;

use clap::Parser;
use hubspot_emulator::cli::{EmulatorArgs, FAULT_HELP, serve};
use tracing_subscriber::EnvFilter;

/// A local HubSpot CRM batch-upsert server (POST /crm/v3/objects/{objectType}/batch/upsert
/// and the dated POST /crm/objects/{version}/{objectType}/batch/upsert) for tickets,
/// contacts, companies, deals and custom objects, with a store per object type, token
/// scopes, HubSpot's rate limits and seeded fault injection.
///
/// Admin routes (no auth): GET /__emulator/health, /__emulator/stats, /__emulator/tickets,
/// /__emulator/tickets/count, /__emulator/tickets/{id}, /__emulator/tickets/by/{property}/{value},
/// /__emulator/properties; POST /__emulator/tickets (seed a ticket), /__emulator/reset; the
/// same for any object type under /__emulator/objects/{objectType}/..., and
/// GET /__emulator/objects (the served object types).
#[derive(Debug, Parser)]
#[command(name = "hubspot-emulator", version, after_help = FAULT_HELP)]
struct Cli {
    #[command(flatten)]
    args: EmulatorArgs,

    /// Log filter (tracing EnvFilter syntax); RUST_LOG overrides it.
    #[arg(long, value_name = "FILTER", default_value = "info")]
    log: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cli.log))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: a log file or a CI log keeps plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    if let Err(e) = cli.args.to_config() {
        eprintln!("hubspot-emulator: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hubspot-emulator: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(&cli.args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hubspot-emulator: {e}");
            ExitCode::FAILURE
        }
    }
}
