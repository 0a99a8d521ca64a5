//! The access token: `--token-file`, else `HUBSPOT_ACCESS_TOKEN`.
//!
//! The file is read with a bound: a private-app or OAuth token is a few hundred
//! characters, and a wrong path (`/dev/zero`, a disk image, a log) must be refused at
//! once rather than read whole into memory. Messages name the file, never its content:
//! whatever it holds may be a secret.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hubspot_tickets::config::AccessToken;

use crate::exit::CommandError;

/// The access token in use, so that no message can print it.
static TOKEN: OnceLock<AccessToken> = OnceLock::new();

/// Replaces the access token, wherever it appears, with `<redacted>` (the library's
/// rule, [`AccessToken::scrub`]).
pub fn redact(text: &str) -> std::borrow::Cow<'_, str> {
    match TOKEN.get() {
        Some(t) => std::borrow::Cow::Owned(crate::credentials::scrub(t.scrub(text.to_owned()))),
        None => std::borrow::Cow::Owned(crate::credentials::scrub(text.to_owned())),
    }
}

/// The most of a token file that is read: 64 KiB, two hundred times an OAuth token,
/// so that a file this long is certainly not one.
const MAX_TOKEN_FILE_BYTES: u64 = 64 * 1024;

/// Reads the token: `--token-file` (surrounding whitespace and the trailing newline
/// ignored), else `HUBSPOT_ACCESS_TOKEN`. Records it so that no message can print it.
pub fn resolve_token(token_file: Option<&PathBuf>) -> Result<String, CommandError> {
    let token = match token_file {
        Some(path) => read_token_file(path)?,
        None => std::env::var("HUBSPOT_ACCESS_TOKEN")
            .map(|t| t.trim().to_owned())
            .unwrap_or_default(),
    };
    if token.is_empty() {
        return Err(CommandError::usage(match token_file {
            Some(path) => format!("--token-file {} is empty", path.display()),
            None => "no access token: set HUBSPOT_ACCESS_TOKEN or pass --token-file \
                     (use --dry-run to check a file without one)"
                .to_owned(),
        }));
    }
    let _ = TOKEN.set(AccessToken::new(token.clone()));
    Ok(token)
}

/// The trimmed text of the token file, read up to [`MAX_TOKEN_FILE_BYTES`] plus one byte
/// (to tell a file at the bound from a longer one). Works for a pipe too
/// (`--token-file <(pass show hubspot)`), which has no size to check beforehand.
fn read_token_file(path: &Path) -> Result<String, CommandError> {
    let fail = |why: String| CommandError::usage(format!("--token-file {}: {why}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_TOKEN_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > MAX_TOKEN_FILE_BYTES {
        return Err(fail(format!(
            "longer than {} KiB: not an access token (a token is a few hundred characters); is this the right file?",
            MAX_TOKEN_FILE_BYTES / 1024
        )));
    }
    if bytes.contains(&0) {
        return Err(fail(
            "holds NUL bytes: not an access token (a token is one line of text)".to_owned(),
        ));
    }
    // The error's own text is left out: it shows the bytes around the bad one.
    let text = String::from_utf8(bytes)
        .map_err(|_| fail("is not UTF-8 text: not an access token".to_owned()))?;
    Ok(text.trim().to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn read(bytes: &[u8]) -> Result<String, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, bytes).unwrap();
        read_token_file(&path).map_err(|f| f.message)
    }

    #[test]
    fn a_token_file_is_trimmed() {
        assert_eq!(read(b"  pat-na1-abc\r\n").unwrap(), "pat-na1-abc");
        // Exactly at the bound is still read.
        let at_bound = vec![b'a'; MAX_TOKEN_FILE_BYTES as usize];
        assert_eq!(read(&at_bound).unwrap().len(), at_bound.len());
    }

    #[test]
    fn a_file_that_is_not_a_token_is_refused_without_its_content() {
        let secret = "pat-na1-0123456789abcdef";
        let mut long = secret.as_bytes().to_vec();
        long.resize(MAX_TOKEN_FILE_BYTES as usize + 1, b'a');
        let mut nul = secret.as_bytes().to_vec();
        nul.push(0);
        let mut latin1 = secret.as_bytes().to_vec();
        latin1.push(0xE9);
        for (bytes, says) in [
            (long, "longer than 64 KiB"),
            (nul, "NUL bytes"),
            (latin1, "not UTF-8"),
        ] {
            let e = read(&bytes).unwrap_err();
            assert!(
                e.starts_with("--token-file ") && e.contains("token:"),
                "{e}"
            );
            assert!(e.contains(says), "{e}");
            assert!(!e.contains(secret), "{e}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn an_endless_token_file_is_refused_at_the_bound() {
        let e = read_token_file(Path::new("/dev/zero")).err().unwrap();
        assert!(
            e.message.contains("/dev/zero: longer than"),
            "{}",
            e.message
        );
    }
}
