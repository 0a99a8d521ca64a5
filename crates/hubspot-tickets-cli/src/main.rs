//! `hubspot-tickets`: upsert CSV / JSON Lines ticket files into HubSpot, run a
//! self-contained demo against an embedded emulator, or run the emulator standalone.
//!
//! This file parses the command line and dispatches: each subcommand is a module
//! (`upsert_cmd`, `check_cmd`, `demo`, `emulator_cmd`), and what they share is in modules of its
//! own. Exit codes are in [`exit`] and in `--help`.

mod check_cmd;
mod cli;
mod credentials;
mod demo;
mod emulator_cmd;
mod exit;
mod input;
mod mapping;
mod output;
mod paths;
mod preflight;
mod progress;
mod rerun;
mod sample;
mod signals;
mod summary;
mod token;
mod upsert;
mod upsert_cmd;
mod validate;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::cli::{Cli, Command};

// A quarter of the CLI's CPU went to glibc malloc/free (many small strings and maps per
// record); mimalloc's thread-local free lists make those much cheaper. Binaries only.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    progress::init_tracing(cli.verbose);
    // `upsert` runs on one thread: the work is I/O-bound, and spread over a
    // work-stealing pool it cost 10-15% more CPU per record (bench/compare, 100 000
    // records). Only standard input is read on a thread of its own. `demo` and
    // `emulator` serve an emulator too, which gets its own workers.
    let mut builder = match cli.command {
        Command::Upsert(_) | Command::Check(_) => tokio::runtime::Builder::new_current_thread(),
        Command::Demo(_) | Command::Emulator(_) => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Upsert(args) => upsert_cmd::run(*args).await,
            Command::Check(args) => check_cmd::run(*args).await,
            Command::Demo(args) => demo::run(args).await,
            Command::Emulator(args) => emulator_cmd::run(*args).await,
        }
    });
    // Do not wait for lingering blocking tasks (e.g. a stdin read) at exit.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            progress::eprint_line(&format!("error: {}", token::redact(&e.message)));
            ExitCode::from(e.code)
        }
    }
}
