//! Exit codes, documented in `--help` and the crate README, and the error that ends a
//! command with one.

/// An error that ends the command with an exit code (not the facade's per-record
/// `Failure`: this one is the whole command's).
#[derive(Debug)]
pub struct CommandError {
    /// The exit code.
    pub code: u8,
    /// What to print after `error: ` (the token is redacted when printed).
    pub message: String,
}

impl CommandError {
    /// An unusable command line or input: exit 2, nothing was sent.
    pub fn usage(message: impl Into<String>) -> CommandError {
        CommandError {
            code: USAGE,
            message: message.into(),
        }
    }
}

/// Every record was upserted (or, with `--dry-run`, every record is valid).
pub const SUCCESS: u8 = 0;
/// Some records failed, were not attempted, or were bad input lines.
pub const PARTIAL: u8 = 1;
/// The command line or the input is unusable: nothing was sent (clap's own code too).
pub const USAGE: u8 = 2;
/// HubSpot refused the token (401/403): the run stopped.
pub const AUTH: u8 = 3;
/// HubSpot's daily request limit was reached: the run stopped; re-run the failed file
/// after the limit resets (midnight in the account's time zone).
pub const DAILY_LIMIT: u8 = 4;

/// The exit-code table shown after `--help` (a macro so other help texts can `concat!` it).
#[macro_export]
macro_rules! exit_codes_help {
    () => {
        "\
Exit codes:
  0  success: every record was upserted (--dry-run: every record is valid)
  1  partial failure: some records failed, were not attempted, or were bad input lines
  2  input or usage error: bad arguments, unreadable input, no token; nothing was sent
  3  authentication or authorization error (HTTP 401, or 403: the token lacks the
     object type's write scope): the run stopped
  4  stopped by HubSpot's daily request limit: re-run the --failed file after it resets
  5  HubSpot refused the configuration (unknown or non-unique --id-property, an
     object type or API version it does not know), or --base-url answered with a
     redirect: the run stopped after its first request
  6  stopped by a signal (SIGINT, SIGTERM, SIGHUP): the requests in flight finished and
     every record not sent is in the report and the --failed file
  7  HubSpot unavailable: it stopped answering, failed or locked every request, or
     answered 477 Migration in Progress; the run stopped and nothing in the records
     needs fixing: re-run later
  130 quit at a second signal: the files are whole; records whose answer was still
     out are in the --failed file (they may have been written)"
    };
}

/// HubSpot refused the run's configuration (an `--id-property` that does not exist or is
/// not unique, a path it does not know), or the base URL answered with a redirect: the
/// run stopped after its first request.
pub const CONFIG: u8 = 5;

/// A signal (SIGINT, SIGTERM, SIGHUP) stopped the run: the requests in flight finished,
/// and every record not sent is in the report and the failed file as not attempted.
pub const INTERRUPTED: u8 = 6;
/// A second signal made the run quit at once: the report and the failed file are whole;
/// records whose answer was still out are failed there (they may have been written).
pub const QUIT: u8 = 130;

/// HubSpot could not be written for a while: it stopped answering (timeouts, broken or
/// refused connections), or answered 477 Migration in Progress. The run stopped; nothing
/// in the records needs fixing: re-run later.
pub const UNAVAILABLE: u8 = 7;

/// The text shown after `--help`.
pub const HELP: &str = exit_codes_help!();

#[cfg(test)]
mod tests {
    /// Every exit code is in `--help` and in the README's table, and nowhere else is a
    /// code documented that the CLI does not have.
    #[test]
    fn every_exit_code_is_documented_once_and_alike() {
        let readme = include_str!("../README.md");
        let table = readme
            .split("## Exit codes")
            .nth(1)
            .and_then(|t| t.split("\n## ").next())
            .unwrap_or_default();
        let codes = [
            super::SUCCESS,
            super::PARTIAL,
            super::USAGE,
            super::AUTH,
            super::DAILY_LIMIT,
            super::CONFIG,
            super::INTERRUPTED,
            super::UNAVAILABLE,
            super::QUIT,
        ];
        for code in codes {
            assert!(
                table.contains(&format!("| {code} |")),
                "README lacks {code}"
            );
            assert!(
                super::HELP.contains(&format!("\n  {code} "))
                    || super::HELP.contains(&format!("\n  {code}  ")),
                "--help lacks {code}"
            );
        }
        let rows = table
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| code") && !l.starts_with("| ---"))
            .count();
        assert_eq!(rows, codes.len(), "{table}");
    }
}
