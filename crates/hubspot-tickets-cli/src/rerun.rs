//! The command that re-runs a failed file: every setting of the run that changes what
//! is sent, where, or how fast, so that it can be pasted as it is. Never a secret: the
//! token is named by its `--token-file`, or left to `HUBSPOT_ACCESS_TOKEN`.

use std::path::Path;

use clap::{Parser, ValueEnum};
use hubspot_tickets::config::{ApiVersion, ObjectType};

use crate::cli::{Cli, Command, RateSpec, UpsertArgs};

/// `--api-version`/`--object-type` as a re-run needs them (nothing for the defaults).
pub fn target_args(version: ApiVersion, object_type: &ObjectType) -> String {
    let mut out = String::new();
    if version != ApiVersion::V3 {
        out.push_str(&format!(" --api-version {version}"));
    }
    if *object_type != ObjectType::TICKETS {
        out.push_str(&format!(" --object-type {object_type}"));
    }
    out
}

/// `hubspot-tickets upsert ... FILE`: the run's settings (those not at their default),
/// for `file`.
pub fn command(args: &UpsertArgs, file: &Path) -> String {
    // The defaults are clap's: parsed here rather than repeated.
    let defaults = match Cli::try_parse_from(["hubspot-tickets", "upsert", "--id-property", "x"]) {
        Ok(Cli {
            command: Command::Upsert(d),
            ..
        }) => Some(d),
        _ => None,
    };
    let changed = |same: &dyn Fn(&UpsertArgs) -> bool| defaults.as_ref().is_none_or(|d| !same(d));
    let mut out = format!(
        "hubspot-tickets upsert{} --id-property {}",
        target_args(args.api_version, &args.object_type),
        shell_word(&args.id_property)
    );
    let mut flag =
        |name: &str, value: &str| out.push_str(&format!(" --{name} {}", shell_word(value)));
    if let Some(c) = &args.id_column {
        flag("id-column", c);
    }
    if let Some(f) = args.format {
        flag("format", &value_name(f));
    }
    if changed(&|d| d.empty_cells == args.empty_cells) {
        flag("empty-cells", &value_name(args.empty_cells));
    }
    if changed(&|d| d.base_url == args.base_url) {
        flag("base-url", &args.base_url);
    }
    if let Some(p) = &args.token_file {
        flag("token-file", &path_word(p));
    }
    // OAuth: the client id, and where the secrets are (files; never their values).
    if let Some(id) = &args.oauth.client_id {
        flag("client-id", id);
    }
    if let Some(p) = &args.oauth.client_secret_file {
        flag("client-secret-file", &path_word(p));
    }
    if let Some(p) = &args.oauth.refresh_token_file {
        flag("refresh-token-file", &path_word(p));
    }
    match args.rate_limit {
        Some(RateSpec::Off) => flag("rate-limit", "off"),
        Some(RateSpec::PerWindow { requests, window }) => {
            flag(
                "rate-limit",
                &format!("{requests}/{}ms", window.as_millis()),
            );
        }
        None if changed(&|d| d.tier == args.tier) => flag("tier", &value_name(args.tier)),
        None => {}
    }
    if changed(&|d| d.concurrency == args.concurrency) {
        flag("concurrency", &args.concurrency.to_string());
    }
    if changed(&|d| d.max_retries == args.max_retries) {
        flag("max-retries", &args.max_retries.to_string());
    }
    if changed(&|d| d.timeout == args.timeout) {
        flag("timeout", &format!("{}ms", args.timeout.as_millis()));
    }
    // The failed file keeps the input's header: it needs the same column names.
    for (column, property) in &args.map {
        flag("map", &format!("{column}={property}"));
    }
    if let Some(p) = &args.map_file {
        flag("map-file", &path_word(p));
    }
    if args.no_preflight {
        out.push_str(" --no-preflight");
    }
    if args.require_preflight {
        out.push_str(" --require-preflight");
    }
    out.push(' ');
    out.push_str(&shell_word(&path_word(file)));
    out
}

/// A value's command-line spelling (`--format jsonl`).
fn value_name(v: impl ValueEnum) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_owned())
        .unwrap_or_default()
}

/// `s` as one word for a POSIX shell: as it is when it holds only safe characters,
/// else single-quoted.
/// A path as a re-run's argument: one that starts with `-` would read as a flag, so it
/// gets a `./` in front.
fn path_word(p: &Path) -> String {
    let s = p.display().to_string();
    if s.starts_with('-') {
        format!("./{s}")
    } else {
        s
    }
}

fn shell_word(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn args(extra: &[&str]) -> UpsertArgs {
        let base = ["hubspot-tickets", "upsert", "--id-property", "email"];
        match Cli::try_parse_from(base.iter().chain(extra))
            .unwrap()
            .command
        {
            Command::Upsert(a) => *a,
            _ => panic!("not an upsert"),
        }
    }

    #[test]
    fn defaults_add_nothing_and_settings_are_carried() {
        let f = Path::new("failed.csv");
        assert_eq!(
            command(&args(&[]), f),
            "hubspot-tickets upsert --id-property email failed.csv"
        );
        let a = args(&[
            "--object-type",
            "contacts",
            "--base-url",
            "http://127.0.0.1:9",
            "--token-file",
            "/run/my token",
            "--rate-limit",
            "50/10s",
            "--max-retries",
            "2",
            "--timeout",
            "5s",
            "--format",
            "csv",
        ]);
        assert_eq!(
            command(&a, Path::new("out/f.csv")),
            "hubspot-tickets upsert --object-type contacts --id-property email --format csv \
             --base-url http://127.0.0.1:9 --token-file '/run/my token' --rate-limit 50/10000ms \
             --max-retries 2 --timeout 5000ms out/f.csv"
        );
        assert!(command(&args(&["--tier", "free"]), f).contains(" --tier free "));
        assert!(command(&args(&[]), Path::new("-f.csv")).ends_with(" ./-f.csv"));
        let oauth = command(
            &args(&[
                "--client-id",
                "app-1",
                "--client-secret-file",
                "/run/secret",
                "--refresh-token-file",
                "/run/refresh",
            ]),
            f,
        );
        assert!(
            oauth.contains(
                " --client-id app-1 --client-secret-file /run/secret --refresh-token-file /run/refresh "
            ),
            "{oauth}"
        );
    }
}
