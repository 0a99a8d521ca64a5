//! Where `upsert`'s token comes from, when it may change during a run: HubSpot OAuth
//! (a refresh token renewing the access token), a `--token-file` re-read when it
//! changes, or a fixed `HUBSPOT_ACCESS_TOKEN`.
//!
//! The client secret and the refresh token come from the environment or from files,
//! never from a command-line value: a command line is visible to every user of the
//! machine (`ps`) and stays in shell histories. Both are recorded so that no message
//! can print them ([`scrub`]).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hubspot_tickets::auth::{OAuthRefresh, Secret, TokenFile};
use hubspot_tickets::{Client, ClientBuilder};

use crate::cli::UpsertArgs;
use crate::exit::CommandError as Failure;

/// The environment variable holding the OAuth client secret.
pub const CLIENT_SECRET_ENV: &str = "HUBSPOT_CLIENT_SECRET";
/// The environment variable holding the OAuth refresh token.
pub const REFRESH_TOKEN_ENV: &str = "HUBSPOT_REFRESH_TOKEN";

/// The most of a secret file that is read (a secret is well under a kilobyte).
const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// The OAuth secrets in use, so that no message can print them.
static SECRETS: OnceLock<Vec<Secret>> = OnceLock::new();

/// `upsert`'s OAuth options (flattened into its arguments). Only file paths and the
/// client id (not a secret) are options; the secrets' values come from the environment.
#[derive(Debug, Clone, clap::Args)]
pub struct OAuthArgs {
    /// OAuth: the app's client id (with a refresh token from HUBSPOT_REFRESH_TOKEN or
    /// --refresh-token-file, and the client secret from HUBSPOT_CLIENT_SECRET or
    /// --client-secret-file). The access token is then obtained and renewed at HubSpot's
    /// token endpoint (under --base-url) as it expires.
    #[arg(long, value_name = "ID", env = "HUBSPOT_CLIENT_ID")]
    pub client_id: Option<String>,

    /// OAuth: read the client secret from this file instead of HUBSPOT_CLIENT_SECRET.
    #[arg(long, value_name = "PATH")]
    pub client_secret_file: Option<PathBuf>,

    /// OAuth: read the refresh token from this file instead of HUBSPOT_REFRESH_TOKEN.
    #[arg(long, value_name = "PATH")]
    pub refresh_token_file: Option<PathBuf>,
}

/// How the run authenticates.
#[derive(Debug)]
pub enum Credentials {
    /// One token for the whole run.
    Fixed(String),
    /// A token file, re-read when it changes.
    File(PathBuf),
    /// HubSpot OAuth with a refresh token.
    OAuth(Box<OAuthRefresh>),
}

/// Which kind of [`Credentials`] a client was built with (for the summary).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A fixed token: never renewed.
    Fixed,
    /// A token file.
    File,
    /// OAuth.
    OAuth,
}

impl Credentials {
    /// OAuth when a refresh token is given (by environment or file), else
    /// `--token-file`, else `HUBSPOT_ACCESS_TOKEN`.
    pub fn resolve(args: &UpsertArgs) -> Result<Self, Failure> {
        let oauth = &args.oauth;
        let refresh = secret(
            oauth.refresh_token_file.as_deref(),
            "--refresh-token-file",
            REFRESH_TOKEN_ENV,
        )?;
        let Some(refresh) = refresh else {
            if oauth.client_secret_file.is_some() {
                return Err(Failure::usage(format!(
                    "--client-secret-file is for OAuth, which needs a refresh token too ({REFRESH_TOKEN_ENV} or --refresh-token-file)"
                )));
            }
            // Half an OAuth setup (an id or a secret, no refresh token) says what is
            // missing rather than only asking for an access token.
            let half_oauth =
                oauth.client_id.is_some() || std::env::var_os(CLIENT_SECRET_ENV).is_some();
            let token =
                crate::token::resolve_token(args.token_file.as_ref()).map_err(|mut e| {
                    if half_oauth {
                        e.message.push_str(&format!(
                            "; for OAuth, give the refresh token too ({REFRESH_TOKEN_ENV} or --refresh-token-file)"
                        ));
                    }
                    e
                })?;
            return Ok(match &args.token_file {
                // A regular file can be re-read; a pipe (`<(pass show ...)`) is read once.
                Some(path) if path.is_file() => Self::File(path.clone()),
                _ => Self::Fixed(token),
            });
        };
        if args.token_file.is_some() {
            return Err(Failure::usage(
                "--token-file and OAuth (a refresh token) both give the access token: use one",
            ));
        }
        let client_id = oauth
            .client_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                Failure::usage("OAuth needs the app's client id: --client-id or HUBSPOT_CLIENT_ID")
            })?;
        let client_secret = secret(
            oauth.client_secret_file.as_deref(),
            "--client-secret-file",
            CLIENT_SECRET_ENV,
        )?
        .ok_or_else(|| {
            Failure::usage(format!(
                "OAuth needs the app's client secret: {CLIENT_SECRET_ENV} or --client-secret-file"
            ))
        })?;
        let _ = SECRETS.set(vec![client_secret.clone(), refresh.clone()]);
        let source = OAuthRefresh::with_base_url(client_id, client_secret, refresh, &args.base_url)
            .map_err(|e| Failure::usage(scrub(e.to_string())))?;
        // A refresh waits no longer than a batch's request (--timeout).
        let source = source
            .timeout(args.timeout)
            .map_err(|e| Failure::usage(e.to_string()))?;
        Ok(Self::OAuth(Box::new(source)))
    }

    /// `builder` with these credentials; and their kind.
    pub fn apply(self, builder: ClientBuilder) -> (ClientBuilder, Kind) {
        match self {
            Self::Fixed(token) => (builder.access_token(token), Kind::Fixed),
            Self::File(path) => (builder.token_source(TokenFile::new(path)), Kind::File),
            Self::OAuth(source) => (builder.token_source(*source), Kind::OAuth),
        }
    }
}

/// The summary's line on token renewals (none for a fixed token).
pub fn summary_line(kind: Kind, client: &Client) -> Option<String> {
    let n = client.token_renewals();
    let times = if n == 1 { "time" } else { "times" };
    match kind {
        Kind::Fixed => None,
        Kind::File => Some(format!(
            "token: --token-file changed {n} {times} during the run"
        )),
        Kind::OAuth => Some(format!(
            "token: OAuth access token renewed {n} {times} during the run"
        )),
    }
}

/// After a fixed token was refused once records had been written (the token expired or
/// was revoked mid-run: exit 3), how to finish the job; `None` otherwise. Names no
/// secret: only where a new one goes.
pub fn resume_hint(
    kind: Kind,
    exit_code: u8,
    written: u64,
    report: Option<&Path>,
) -> Option<String> {
    if kind == Kind::OAuth || exit_code != crate::exit::AUTH || written == 0 {
        return None;
    }
    let new_token = format!(
        "give a new token (HUBSPOT_ACCESS_TOKEN or --token-file; or OAuth, renewed as it expires: HUBSPOT_CLIENT_ID, {CLIENT_SECRET_ENV}, {REFRESH_TOKEN_ENV})"
    );
    Some(match report {
        Some(report) => format!(
            "to finish: {new_token} and run the same command with --resume {}",
            report.display()
        ),
        None => format!(
            "to finish: {new_token} and run the same command again (records written already are updated, not duplicated; with --report FILE a later --resume FILE skips them)"
        ),
    })
}

/// `text` without the OAuth client secret and refresh token.
pub fn scrub(text: String) -> String {
    match SECRETS.get() {
        Some(secrets) => secrets.iter().fold(text, |t, s| s.scrub(t)),
        None => text,
    }
}

/// A secret from `file` (its flag `flag`) or else the environment variable `env`;
/// `None` when neither gives one.
fn secret(file: Option<&Path>, flag: &str, env: &str) -> Result<Option<Secret>, Failure> {
    let text = match file {
        Some(path) => {
            let text = read_secret_file(path)
                .map_err(|why| Failure::usage(format!("{flag} {}: {why}", path.display())))?;
            if text.is_empty() {
                return Err(Failure::usage(format!(
                    "{flag} {} is empty",
                    path.display()
                )));
            }
            text
        }
        None => std::env::var(env).unwrap_or_default().trim().to_owned(),
    };
    Ok((!text.is_empty()).then(|| Secret::new(text)))
}

/// The trimmed text of a secret file, read up to a bound. Messages never quote it.
fn read_secret_file(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err("longer than 64 KiB: not a secret; is this the right file?".to_owned());
    }
    // The decoding error's own text is left out: it shows the bytes.
    let text = String::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_owned())?;
    Ok(text.trim().to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn the_resume_hint_is_for_a_fixed_token_refused_mid_run() {
        let report = Path::new("r.jsonl");
        let hint = resume_hint(Kind::Fixed, crate::exit::AUTH, 10, Some(report)).unwrap();
        assert!(hint.ends_with("--resume r.jsonl"), "{hint}");
        assert!(resume_hint(Kind::Fixed, crate::exit::AUTH, 10, None).is_some());
        // Refused at once (a wrong token), renewable sources, other stops: no hint.
        assert!(resume_hint(Kind::Fixed, crate::exit::AUTH, 0, Some(report)).is_none());
        assert!(resume_hint(Kind::OAuth, crate::exit::AUTH, 10, Some(report)).is_none());
        assert!(resume_hint(Kind::Fixed, crate::exit::PARTIAL, 10, Some(report)).is_none());
    }

    #[test]
    fn a_secret_file_is_trimmed_and_never_quoted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "  s3cret-value\n").unwrap();
        let s = secret(Some(&path), "--client-secret-file", "UNSET_VAR_FOR_TEST")
            .unwrap()
            .unwrap();
        assert_eq!(s.expose(), "s3cret-value");
        let mut bad = b"s3cret-value".to_vec();
        bad.push(0xE9);
        std::fs::write(&path, bad).unwrap();
        let e = secret(Some(&path), "--client-secret-file", "UNSET_VAR_FOR_TEST")
            .err()
            .unwrap();
        assert!(e.message.contains("not UTF-8"), "{}", e.message);
        assert!(!e.message.contains("s3cret"), "{}", e.message);
        assert!(
            secret(None, "--x", "HUBSPOT_TICKETS_TEST_UNSET_VARIABLE")
                .unwrap()
                .is_none()
        );
    }
}
