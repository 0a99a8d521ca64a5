//! Where the access token comes from: a [`TokenSource`] yields the token for each
//! request and is told when HubSpot refused one, so a token can change during a run
//! (an OAuth access token lives 30 minutes; a million records take longer).
//!
//! | source | token | renewed |
//! | --- | --- | --- |
//! | [`StaticToken`] (the default, [`ClientBuilder::access_token`]) | fixed | never: a 401 mid-run stops the run, saying the token expired or was revoked and how to resume |
//! | [`TokenFile`] | the trimmed text of a file, re-read when it changes | when a sidecar or secret manager rewrites the file |
//! | [`OAuthRefresh`] | HubSpot OAuth: an access token obtained with a refresh token at HubSpot's token endpoint (the generated `refresh_access_token_2026_03`) | before it expires, and once more after a 401 that looks like expiry |
//!
//! One client, one rate limiter and one run span every token change: the engine asks
//! the source for the token as each request leaves, so nothing is rebuilt. After a 401
//! the source is told ([`TokenSource::refused`]); when it can give a new token, the same
//! batch is sent again (once per batch), so no record fails for an expired token.
//!
//! Secrets never print: the access token is an [`AccessToken`], the client secret and
//! refresh token are [`Secret`]s (`Debug` shows `<redacted>`), and messages from the
//! token endpoint are scrubbed of all three.
//!
//! ```no_run
//! use hubspot_tickets::Client;
//! use hubspot_tickets::auth::{OAuthRefresh, Secret};
//!
//! # fn main() -> Result<(), hubspot_tickets::Error> {
//! let oauth = OAuthRefresh::new(
//!     std::env::var("HUBSPOT_CLIENT_ID").unwrap_or_default(),
//!     Secret::new(std::env::var("HUBSPOT_CLIENT_SECRET").unwrap_or_default()),
//!     Secret::new(std::env::var("HUBSPOT_REFRESH_TOKEN").unwrap_or_default()),
//! )?;
//! let client = Client::builder()
//!     .token_source(oauth)
//!     .id_property("external_ticket_id")
//!     .build()?;
//! // ... a run of any length; then:
//! println!("token renewed {} times", client.token_renewals());
//! # Ok(()) }
//! ```
//!
//! [`ClientBuilder::access_token`]: crate::ClientBuilder::access_token

use std::fmt;

use futures::future::BoxFuture;

use crate::error::Error;
use crate::secret::AccessToken;

mod file;
mod oauth;

pub use file::TokenFile;
pub use oauth::{OAUTH_TOKEN_CATEGORY_EXPIRED, OAuthRefresh};

/// Yields the access token for each request, and hears when HubSpot refused one.
///
/// Implement it to take tokens from anywhere (a vault, another process); the engine
/// calls [`token`](Self::token) as each request leaves (keep it cheap when nothing
/// changed: cache), and [`refused`](Self::refused) after a 401.
///
/// ```
/// use hubspot_tickets::auth::TokenSource;
/// use hubspot_tickets::{config::AccessToken, Error};
///
/// #[derive(Debug)]
/// struct FromVault;
///
/// impl TokenSource for FromVault {
///     fn token(&self) -> futures::future::BoxFuture<'_, Result<AccessToken, Error>> {
///         Box::pin(async { Ok(AccessToken::new("pat-na1-from-the-vault")) })
///     }
///     fn refused(&self, _token: &AccessToken) -> bool {
///         false // nothing new to offer: the run stops
///     }
/// }
/// ```
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// The token to send now (renewed first when it is about to expire or was refused).
    ///
    /// # Errors
    /// When no token can be had (the refresh token refused, the file gone...): the run
    /// stops, and the records not yet sent are not attempted. Use
    /// [`ErrorKind::Auth`](crate::ErrorKind::Auth) for a refused credential.
    fn token(&self) -> BoxFuture<'_, Result<AccessToken, Error>>;

    /// HubSpot answered 401 to a request sent with `token`. Returns whether a new token
    /// may be had from [`token`](Self::token) (then the batch is sent again, once);
    /// `false` stops the run.
    fn refused(&self, token: &AccessToken) -> bool;

    /// How many times a new token replaced an earlier one (for summaries).
    fn renewals(&self) -> u64 {
        0
    }
}

/// One fixed token: today's behaviour, and what [`ClientBuilder::access_token`] uses.
///
/// [`ClientBuilder::access_token`]: crate::ClientBuilder::access_token
#[derive(Clone, Debug)]
pub struct StaticToken(AccessToken);

impl StaticToken {
    /// This token, for every request.
    pub fn new(token: impl Into<AccessToken>) -> Self {
        Self(token.into())
    }
}

impl TokenSource for StaticToken {
    fn token(&self) -> BoxFuture<'_, Result<AccessToken, Error>> {
        let token = self.0.clone();
        Box::pin(async move { Ok(token) })
    }

    fn refused(&self, _token: &AccessToken) -> bool {
        false
    }
}

/// A secret that is not the access token (an OAuth client secret, a refresh token):
/// `Debug` prints `Secret(<redacted>)`, there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<str>);

impl Secret {
    /// Wraps a secret; surrounding whitespace (a file's trailing newline) is removed.
    pub fn new(secret: impl Into<String>) -> Self {
        let s: String = secret.into();
        Self(s.trim().into())
    }

    /// The secret's text. Handle with care.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the secret replaced by `<redacted>` (secrets
    /// shorter than 4 characters are left alone, as for [`AccessToken::scrub`]).
    pub fn scrub(&self, text: String) -> String {
        if self.0.len() >= 4 && text.contains(&*self.0) {
            text.replace(&*self.0, "<redacted>")
        } else {
            text
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new(" client-secret-123\n");
        assert_eq!(s.expose(), "client-secret-123");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.scrub("bad client-secret-123!".into()), "bad <redacted>!");
        let st = StaticToken::new("pat-na1-abcdef");
        assert!(!format!("{st:?}").contains("abcdef"));
        assert!(!st.refused(&AccessToken::new("pat-na1-abcdef")));
    }
}
