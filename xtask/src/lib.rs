//! Project automation behind `cargo xtask`.
//!
//! The only task today is code generation: `spec/openapi.yaml` is turned into
//! `crates/hubspot-tickets-client/src/generated.rs` by progenitor, formatted with
//! prettyplease so the output is byte-for-byte deterministic. [`check`] regenerates in
//! memory and compares, and an ordinary `#[test]` calls it so `cargo test --workspace`
//! fails when the committed file is stale.

use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest, Sha256};

/// The spec, relative to the workspace root.
pub const SPEC_PATH: &str = "spec/openapi.yaml";
/// The generated module, relative to the workspace root.
pub const GENERATED_PATH: &str = "crates/hubspot-tickets-client/src/generated.rs";
/// The progenitor release this generator is pinned to (kept in step with Cargo.lock by a test).
pub const PROGENITOR_VERSION: &str = "0.15.1";
/// The hand-written per-client value the generated `Client` carries (see `hooks.rs`).
pub const INNER_TYPE: &str = "crate::hooks::RequestHeaders";
/// The hand-written function run on every request before it is sent.
pub const PRE_HOOK: &str = "crate::hooks::apply_request_headers";
/// The spec schema decoded into a hand-written type, and that type (see `values.rs`).
pub const PROPERTY_VALUES: (&str, &str) = ("TicketPropertyValues", "crate::values::PropertyValues");
/// The OAuth token schemas decoded into hand-written types whose `Debug` hides the
/// secrets they carry (see `oauth.rs`).
pub const OAUTH_TYPES: [(&str, &str); 2] = [
    ("TokenRefreshForm", "crate::oauth::TokenRefreshForm"),
    ("TokenGrant", "crate::oauth::TokenGrant"),
];
/// The hand-written type for every `type: string, format: date-time` (see `time.rs`).
pub const TIMESTAMP: &str = "crate::time::Timestamp";
/// What to run when the committed code is stale.
pub const FIX_COMMAND: &str = "cargo xtask codegen";

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// Outcome of comparing the committed file with a fresh generation.
#[derive(Debug, PartialEq, Eq)]
pub enum CheckOutcome {
    UpToDate,
    /// The committed file differs; the payload is a short unified diff (committed -> fresh).
    Stale(String),
}

/// `{type: string, format: date-time}`, the schema converted to [`TIMESTAMP`].
fn date_time_schema() -> schemars::schema::SchemaObject {
    schemars::schema::SchemaObject {
        instance_type: Some(schemars::schema::InstanceType::String.into()),
        format: Some("date-time".to_owned()),
        ..Default::default()
    }
}

/// Generates the client source for the spec text `spec_yaml`.
///
/// Pure function of its input: the same spec gives the same bytes.
pub fn generate_source(spec_yaml: &str) -> Result<String> {
    let mut spec: openapiv3::OpenAPI = serde_yaml_ng::from_str(spec_yaml)
        .context("spec/openapi.yaml is not a valid OpenAPI 3.0 document")?;
    if !spec.openapi.starts_with("3.0.") {
        bail!(
            "spec declares `openapi: {}`; progenitor {PROGENITOR_VERSION} accepts 3.0.x only",
            spec.openapi
        );
    }
    let dropped = untype_error_responses(&mut spec);

    let mut settings = progenitor::GenerationSettings::default();
    settings
        .with_interface(progenitor::InterfaceStyle::Positional)
        .with_tag(progenitor::TagStyle::Merged)
        .with_derive("PartialEq")
        .with_map_type("::std::collections::BTreeMap")
        // Per-client headers (the bearer token, the user agent) live in a hand-written
        // inner value that a pre-request hook applies, so a caller-supplied
        // `reqwest::Client` (which cannot gain default headers after it is built) can
        // still be authenticated. Both items are in the client crate's `hooks.rs`.
        .with_inner_type(rust_path(INNER_TYPE)?)
        .with_pre_hook(rust_path(PRE_HOOK)?)
        // `hooks.rs` implements ClientHooks (its `exec` caps answer bodies); Expected
        // makes a missing implementation a compile error rather than a silent default.
        .with_hooks(progenitor::HooksMode::Expected)
        // The property values echoed on every upserted ticket decode into one buffer per
        // ticket instead of a map with an allocation per name and value: the hottest
        // decoding path of a bulk upsert (see the client crate's `values.rs`).
        .with_replacement(
            PROPERTY_VALUES.0,
            PROPERTY_VALUES.1,
            [progenitor::TypeImpl::Default].into_iter(),
        )
        // The OAuth token form carries the client secret and the refresh token, the
        // grant the access token: hand-written types whose `Debug` hides them, and which
        // read the grant's two spellings (see the client crate's `oauth.rs`).
        .with_replacement(OAUTH_TYPES[0].0, OAUTH_TYPES[0].1, std::iter::empty())
        .with_replacement(OAUTH_TYPES[1].0, OAUTH_TYPES[1].1, std::iter::empty())
        // HubSpot's timestamps are read by a parser for the one form it sends (chrono's
        // general parser cost as much as the rest of a ticket); the type derefs to
        // `chrono::DateTime<Utc>`.
        .with_conversion(
            date_time_schema(),
            TIMESTAMP,
            [progenitor::TypeImpl::Display, progenitor::TypeImpl::FromStr].into_iter(),
        );
    let mut generator = progenitor::Generator::new(&settings);

    // progenitor reports some unsupported shapes with `assert!`/`todo!` rather than an
    // `Err`: turn such a panic into an error message, and keep its backtrace off stderr.
    let previous_hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let generated = panic::catch_unwind(AssertUnwindSafe(|| generator.generate_tokens(&spec)));
    panic::set_hook(previous_hook);
    let tokens = match generated {
        Ok(Ok(tokens)) => tokens,
        Ok(Err(err)) => bail!("progenitor rejected the spec: {err}"),
        Err(payload) => {
            let why = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("no message");
            return Err(anyhow!(
                "progenitor {PROGENITOR_VERSION} cannot generate this spec (it panicked: {why}). \
                 Usual causes: success responses with different schemas (200 and 207 must share one), \
                 or an `openapi` version other than 3.0.x"
            ));
        }
    };
    let file: syn::File =
        syn::parse2(tokens).context("progenitor produced code that does not parse")?;
    let body = prettyplease::unparse(&file);

    let digest = Sha256::digest(spec_yaml.as_bytes());
    let mut sha = String::with_capacity(64);
    for byte in digest.iter() {
        let _ = write!(sha, "{byte:02x}");
    }
    let mut out = String::with_capacity(body.len() + 512);
    let _ = writeln!(
        out,
        "// @generated by `cargo xtask codegen`: DO NOT EDIT BY HAND."
    );
    let _ = writeln!(out, "// Source: {SPEC_PATH} (sha256 {sha})");
    let _ = writeln!(
        out,
        "// Generator: progenitor {PROGENITOR_VERSION}, positional interface, BTreeMap maps, inner {INNER_TYPE}, pre-hook {PRE_HOOK}, ClientHooks implemented by hand (crate::hooks), {} replaced by {}, {} replaced by {}, {} replaced by {}, date-time as {TIMESTAMP}",
        PROPERTY_VALUES.0,
        PROPERTY_VALUES.1,
        OAUTH_TYPES[0].0,
        OAUTH_TYPES[0].1,
        OAUTH_TYPES[1].0,
        OAUTH_TYPES[1].1
    );
    if !dropped.is_empty() {
        let _ = writeln!(
            out,
            "// Error responses left untyped (arrive as Error::UnexpectedResponse with status, headers and body): {}",
            dropped.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "// To change this file, edit the spec and run `{FIX_COMMAND}`."
    );
    out.push('\n');
    out.push_str(&body);
    Ok(out)
}

fn rust_path(path: &str) -> Result<proc_macro2::TokenStream> {
    path.parse()
        .map_err(|e| anyhow!("generator setting `{path}` is not a Rust path: {e}"))
}

/// Removes non-2xx responses (and any `default` response) from every operation before
/// generation, returning which.
///
/// The spec documents HubSpot's error bodies (`4XX`, `5XX` with `ApiError`) because that
/// is what the wire carries, but a typed error response in progenitor decodes the body
/// before the caller sees the status: an HTML 502 would become `InvalidResponsePayload`
/// with its status and headers lost. Left undeclared, the operation's error type is
/// `Error<()>` and every non-2xx answer arrives as
/// `Error::UnexpectedResponse(reqwest::Response)`, status, headers and body intact; the
/// facade classifies it itself, reading a JSON body leniently as an untyped
/// `serde_json::Value`, never as `types::ApiError`. Component schemas are still
/// generated, so `types::ApiError` exists for callers who want it.
fn untype_error_responses(spec: &mut openapiv3::OpenAPI) -> Vec<String> {
    let mut dropped = Vec::new();
    for (path, item) in spec.paths.paths.iter_mut() {
        let openapiv3::ReferenceOr::Item(item) = item else {
            continue;
        };
        let operations = [
            ("GET", &mut item.get),
            ("PUT", &mut item.put),
            ("POST", &mut item.post),
            ("DELETE", &mut item.delete),
            ("OPTIONS", &mut item.options),
            ("HEAD", &mut item.head),
            ("PATCH", &mut item.patch),
            ("TRACE", &mut item.trace),
        ];
        for (method, op) in operations {
            let Some(op) = op.as_mut() else { continue };
            let before: Vec<String> = op
                .responses
                .responses
                .keys()
                .map(ToString::to_string)
                .collect();
            op.responses.responses.retain(|code, _| match code {
                openapiv3::StatusCode::Code(n) => (200..300).contains(n),
                openapiv3::StatusCode::Range(r) => *r == 2,
            });
            if op.responses.default.take().is_some() {
                dropped.push(format!("{} {path} default", method));
            }
            for code in before {
                let kept = op.responses.responses.keys().any(|c| c.to_string() == code);
                if !kept {
                    dropped.push(format!("{} {path} {code}", method));
                }
            }
        }
    }
    dropped
}

/// Reads the spec under `root` and generates the client source.
pub fn generate_from(root: &Path) -> Result<String> {
    let spec_path = root.join(SPEC_PATH);
    let spec = std::fs::read_to_string(&spec_path)
        .with_context(|| format!("reading {}", spec_path.display()))?;
    generate_source(&spec)
}

/// Regenerates and writes the client under `root`. Returns whether the file changed.
pub fn write(root: &Path) -> Result<bool> {
    let fresh = generate_from(root)?;
    let target = root.join(GENERATED_PATH);
    let current = std::fs::read_to_string(&target).unwrap_or_default();
    if current == fresh {
        return Ok(false);
    }
    std::fs::write(&target, fresh).with_context(|| format!("writing {}", target.display()))?;
    Ok(true)
}

/// Regenerates in memory and compares with the committed file under `root`.
pub fn check(root: &Path) -> Result<CheckOutcome> {
    let fresh = generate_from(root)?;
    let target = root.join(GENERATED_PATH);
    let current = match std::fs::read_to_string(&target) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(err).with_context(|| format!("reading {}", target.display())),
    };
    if current == fresh {
        return Ok(CheckOutcome::UpToDate);
    }
    Ok(CheckOutcome::Stale(short_diff(&current, &fresh, 60)))
}

/// A unified diff of `old` -> `new`, cut to at most `max_lines` lines.
fn short_diff(old: &str, new: &str, max_lines: usize) -> String {
    let diff = similar::TextDiff::from_lines(old, new);
    let full = diff
        .unified_diff()
        .context_radius(2)
        .header(GENERATED_PATH, "generated from spec")
        .to_string();
    let total = full.lines().count();
    let mut out: String = full
        .lines()
        .take(max_lines)
        .flat_map(|l| [l, "\n"])
        .collect();
    if total > max_lines {
        let _ = writeln!(out, "... ({} more diff lines)", total - max_lines);
    }
    out
}
