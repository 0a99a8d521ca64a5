//! `hubspot-tickets emulator`: the emulator, standalone, until Ctrl-C or SIGTERM.
//!
//! The options and the serve loop are the emulator crate's own, so this subcommand and
//! the `hubspot-emulator` binary cannot drift apart.

use hubspot_emulator::cli::{EmulatorArgs, serve};

use crate::exit::{self, CommandError};

/// Runs until Ctrl-C (or SIGTERM), then saves the state file if one is set.
pub async fn run(args: EmulatorArgs) -> Result<u8, CommandError> {
    // Invalid options are a usage error (exit 2), like clap's own.
    args.to_config().map_err(CommandError::usage)?;
    serve(&args).await.map_err(|message| CommandError {
        code: exit::PARTIAL,
        message,
    })?;
    Ok(exit::SUCCESS)
}
