//! `cargo xtask <task>`: see `cargo xtask help`.

use std::process::ExitCode;

use xtask::{CheckOutcome, FIX_COMMAND, GENERATED_PATH, SPEC_PATH};

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  codegen           regenerate crates/hubspot-tickets-client/src/generated.rs from spec/openapi.yaml
  codegen --check   fail (with a diff) if the committed generated code is stale
  help              this text";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let root = xtask::workspace_root();
    match args.as_slice() {
        ["codegen"] => match xtask::write(&root) {
            Ok(true) => {
                println!("wrote {GENERATED_PATH} from {SPEC_PATH}");
                ExitCode::SUCCESS
            }
            Ok(false) => {
                println!("{GENERATED_PATH} is already up to date");
                ExitCode::SUCCESS
            }
            Err(err) => fail(&err),
        },
        ["codegen", "--check"] => match xtask::check(&root) {
            Ok(CheckOutcome::UpToDate) => {
                println!("{GENERATED_PATH} is up to date with {SPEC_PATH}");
                ExitCode::SUCCESS
            }
            Ok(CheckOutcome::Stale(diff)) => {
                eprintln!("{GENERATED_PATH} is stale: it does not match {SPEC_PATH}.\n");
                eprintln!("{diff}");
                eprintln!("fix: run `{FIX_COMMAND}` and commit the result");
                ExitCode::FAILURE
            }
            Err(err) => fail(&err),
        },
        [] | ["help"] | ["--help"] | ["-h"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("unknown task: {}\n\n{USAGE}", args.join(" "));
            ExitCode::from(2)
        }
    }
}

fn fail(err: &anyhow::Error) -> ExitCode {
    eprintln!("error: {err:#}");
    ExitCode::FAILURE
}
