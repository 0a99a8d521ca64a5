//! A token read from a file, re-read when the file changes (a sidecar or a secret
//! manager rotating it).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use futures::future::BoxFuture;

use crate::auth::TokenSource;
use crate::error::{Error, ErrorKind};
use crate::secret::AccessToken;

/// The most of a token file that is read: a token is a few hundred characters.
const MAX_TOKEN_FILE_BYTES: u64 = 64 * 1024;

/// How long a request waits for a new token after HubSpot refused the file's: a
/// sidecar that renews a token at (or a little after) its expiry, not a run stopped.
const NEW_TOKEN_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// The access token held in a file, re-read whenever the file's modification time or
/// size changes (checked as each request leaves: one `stat`), and at once after a 401.
/// After HubSpot refused the file's token, requests wait up to 30 s for a new one
/// before the run stops (a sidecar renewing the token at its expiry).
///
/// Rotate the file by writing a new one and renaming it over the old (so a reader never
/// sees half a token). An empty file keeps the token read before (a writer caught
/// between truncating and writing). Messages name the file, never its content.
///
/// ```no_run
/// use hubspot_tickets::Client;
/// use hubspot_tickets::auth::TokenFile;
///
/// # fn main() -> Result<(), hubspot_tickets::Error> {
/// let client = Client::builder()
///     .token_source(TokenFile::new("/run/secrets/hubspot-token"))
///     .id_property("external_ticket_id")
///     .build()?;
/// # let _ = client; Ok(()) }
/// ```
pub struct TokenFile {
    path: PathBuf,
    state: Mutex<Option<Read1>>,
    renewals: AtomicU64,
    /// The token HubSpot refused last: not sent again.
    refused: Mutex<Option<AccessToken>>,
}

/// What the file held when it was last read.
#[derive(Clone)]
struct Read1 {
    token: AccessToken,
    modified: Option<SystemTime>,
    len: u64,
}

impl TokenFile {
    /// The token in the file at `path` (read at the first request).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            state: Mutex::new(None),
            renewals: AtomicU64::new(0),
            refused: Mutex::new(None),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current token: the cached one while the file's time and size are unchanged
    /// (unless `force`), else the file's text.
    fn current(&self, force: bool) -> Result<AccessToken, Error> {
        let fail = |why: String| {
            Error::new(
                ErrorKind::Auth,
                format!("token file {}: {why}", self.path.display()),
            )
        };
        let meta = std::fs::metadata(&self.path).map_err(|e| fail(e.to_string()));
        let mut state = self
            .state
            .lock()
            .map_err(|_| fail("its reader failed earlier".to_owned()))?;
        let meta = match (meta, state.as_ref()) {
            (Ok(m), _) => m,
            // Gone for a moment (a rename in progress): keep the token read before.
            (Err(_), Some(known)) => return Ok(known.token.clone()),
            (Err(e), None) => return Err(e),
        };
        let (modified, len) = (meta.modified().ok(), meta.len());
        if let Some(known) = state.as_ref()
            && !force
            && known.modified == modified
            && known.len == len
            && modified.is_some()
        {
            return Ok(known.token.clone());
        }
        let text = read_bounded(&self.path).map_err(fail)?;
        if text.is_empty() {
            return match state.as_ref() {
                Some(known) => Ok(known.token.clone()),
                None => Err(fail("is empty".to_owned())),
            };
        }
        let token = AccessToken::new(text);
        if state.as_ref().is_some_and(|known| known.token != token) {
            self.renewals.fetch_add(1, Ordering::Relaxed);
            tracing::info!(file = %self.path.display(), "the token file holds a new token");
        }
        *state = Some(Read1 {
            token: token.clone(),
            modified,
            len,
        });
        Ok(token)
    }
}

/// The trimmed text of `path`, read up to [`MAX_TOKEN_FILE_BYTES`].
fn read_bounded(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_TOKEN_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_TOKEN_FILE_BYTES {
        return Err("longer than 64 KiB: not an access token".to_owned());
    }
    // The decoding error's text is left out: it quotes the bytes.
    let text = String::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_owned())?;
    Ok(text.trim().to_owned())
}

impl std::fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenFile")
            .field("path", &self.path)
            .field("renewals", &self.renewals.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl TokenSource for TokenFile {
    fn token(&self) -> BoxFuture<'_, Result<AccessToken, Error>> {
        Box::pin(async move {
            let until = tokio::time::Instant::now() + NEW_TOKEN_PATIENCE;
            loop {
                let token = self.current(false)?;
                let refused = self.refused.lock().ok().and_then(|r| r.clone());
                if refused.as_ref() != Some(&token) {
                    return Ok(token);
                }
                if tokio::time::Instant::now() >= until {
                    return Err(Error::new(
                        ErrorKind::Auth,
                        format!(
                            "token file {}: HubSpot refused its token, and no new one came in {} s",
                            self.path.display(),
                            NEW_TOKEN_PATIENCE.as_secs()
                        ),
                    ));
                }
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
        })
    }

    /// Re-reads the file: a new token there is worth one more try, and so is one that a
    /// sidecar may still write ([`token`](TokenSource::token) waits for it).
    fn refused(&self, token: &AccessToken) -> bool {
        if let Ok(mut r) = self.refused.lock() {
            *r = Some(token.clone());
        }
        let _ = self.current(true);
        true
    }

    fn renewals(&self) -> u64 {
        self.renewals.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_re_read_when_it_changes() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("token");
        let write = |text: &str| {
            let tmp = dir.path().join("token.tmp");
            std::fs::write(&tmp, text).unwrap_or_else(|e| panic!("{e}"));
            std::fs::rename(&tmp, &path).unwrap_or_else(|e| panic!("{e}"));
        };
        let source = TokenFile::new(&path);
        assert!(source.current(false).is_err(), "no file yet");
        write("token-one\n");
        let one = source.current(false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(one.expose(), "token-one");
        assert_eq!(source.renewals(), 0);
        write("token-number-two");
        let two = source.current(false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(two.expose(), "token-number-two");
        assert_eq!(source.renewals(), 1);
        // A refusal: worth a try, with the file's new token or one still to come.
        assert!(source.refused(&one));
        // An empty file (a writer between truncating and writing) keeps the last.
        std::fs::write(&path, "").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            source.current(false).map(|t| t.expose().to_owned()).ok(),
            Some("token-number-two".to_owned())
        );
        let shown = format!("{source:?}");
        assert!(!shown.contains("token-number-two"), "{shown}");
        // Messages name the file, never its content.
        let e = TokenFile::new(dir.path().join("missing")).current(false);
        assert!(e.is_err_and(|e| e.message().contains("missing")));
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_token_waits_for_the_sidecar_then_gives_up() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("token");
        std::fs::write(&path, "old-token").unwrap_or_else(|e| panic!("{e}"));
        let source = TokenFile::new(&path);
        let old = source.token().await.unwrap_or_else(|e| panic!("{e}"));
        assert!(source.refused(&old));
        // Nothing new for 30 s: the run stops, naming the file, not the token.
        let started = tokio::time::Instant::now();
        let e = source
            .token()
            .await
            .err()
            .unwrap_or_else(|| panic!("a token"));
        assert!(started.elapsed() >= NEW_TOKEN_PATIENCE);
        assert!(e.message().contains("no new one came"), "{}", e.message());
        assert!(!e.message().contains("old-token"));
        // A new token written while a request waits is the one it gets.
        let waiting = source.token();
        let write = async {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            let tmp = dir.path().join("token.tmp");
            std::fs::write(&tmp, "new-token-longer").unwrap_or_else(|e| panic!("{e}"));
            std::fs::rename(&tmp, &path).unwrap_or_else(|e| panic!("{e}"));
        };
        let (got, ()) = tokio::join!(waiting, write);
        assert_eq!(
            got.map(|t| t.expose().to_owned()).ok().as_deref(),
            Some("new-token-longer")
        );
    }
}
