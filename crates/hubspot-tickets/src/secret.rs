//! The access token, a secret that never prints, and URLs shown without their credentials.

use std::fmt;

use reqwest::header::HeaderValue;

use crate::error::Error;

/// The environment variable [`AccessToken::from_env`] reads.
pub const TOKEN_ENV: &str = "HUBSPOT_ACCESS_TOKEN";

/// A HubSpot private-app or OAuth access token.
///
/// The value is never shown: `Debug` prints `AccessToken(<redacted>)`, there is no
/// `Display`, and the facade never copies it into errors, logs or spans (error
/// messages that echo it back are scrubbed). Use [`AccessToken::expose`] where you
/// really need the text.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(Box<str>);

impl AccessToken {
    /// Wraps a token. Surrounding whitespace (a trailing newline from a file, say) is
    /// removed.
    pub fn new(token: impl Into<String>) -> Self {
        let token: String = token.into();
        Self(token.trim().into())
    }

    /// Reads `HUBSPOT_ACCESS_TOKEN` from the environment.
    ///
    /// # Errors
    /// A [`ErrorKind::Configuration`](crate::ErrorKind::Configuration) error when the
    /// variable is missing, empty or not Unicode.
    pub fn from_env() -> Result<Self, Error> {
        match std::env::var(TOKEN_ENV) {
            Ok(v) if !v.trim().is_empty() => Ok(Self::new(v)),
            _ => Err(Error::configuration(format!(
                "no access token: set {} or pass one to the builder",
                TOKEN_ENV
            ))),
        }
    }

    /// The token's text. Handle with care.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `Authorization` header value, marked sensitive so that `http`'s own
    /// `Debug` output hides it too.
    pub(crate) fn bearer_header(&self) -> Result<HeaderValue, Error> {
        let mut value = HeaderValue::try_from(format!("Bearer {}", self.0)).map_err(|_| {
            Error::configuration(
                "the access token contains characters not allowed in an HTTP header",
            )
        })?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// Replaces every occurrence of the token in `text` with `<redacted>` (HubSpot or a
    /// proxy may echo it): as it is, in another case, and percent-encoded (a server
    /// that quotes the request's URL or form body), matched ignoring ASCII case. A
    /// token shorter than 4 characters is left alone: it cannot be told from ordinary
    /// text (`t` would redact every letter t), and no real token is that short.
    pub fn scrub(&self, text: String) -> String {
        if self.0.len() < MIN_SCRUBBED_LEN {
            return text;
        }
        // Percent-encoded: every byte but letters and digits, or only those outside
        // the unreserved `-._~` (both encoders are common).
        let encode = |keep: &dyn Fn(u8) -> bool| -> String {
            self.0
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || keep(b) {
                        char::from(b).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        };
        let forms = [
            self.0.to_string(),
            encode(&|_| false),
            encode(&|b| b"-._~".contains(&b)),
        ];
        forms
            .iter()
            .fold(text, |text, form| replace_ignoring_ascii_case(text, form))
    }
}

/// `text` with every occurrence of `needle`, in any ASCII case, replaced by
/// `<redacted>`.
fn replace_ignoring_ascii_case(text: String, needle: &str) -> String {
    // Lower-casing ASCII keeps every byte where it was, so positions found in the
    // lowered copy are positions in `text`.
    let lowered = text.to_ascii_lowercase();
    let needle = needle.to_ascii_lowercase();
    if needle.is_empty() || !lowered.contains(&needle) {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    for (at, _) in lowered.match_indices(&needle) {
        out.push_str(text.get(from..at).unwrap_or_default());
        out.push_str("<redacted>");
        from = at + needle.len();
    }
    out.push_str(text.get(from..).unwrap_or_default());
    out
}

/// Shorter tokens are not scrubbed from text (see [`AccessToken::scrub`]).
const MIN_SCRUBBED_LEN: usize = 4;

/// `url` with any `user:password@` replaced, for messages.
pub(crate) fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://<credentials>@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

impl From<String> for AccessToken {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for AccessToken {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let t = AccessToken::new(" pat-na1-secret-123\n");
        assert_eq!(t.expose(), "pat-na1-secret-123");
        assert!(!format!("{t:?}").contains("secret"));
        let h = t
            .bearer_header()
            .unwrap_or_else(|_| HeaderValue::from_static("x"));
        assert!(h.is_sensitive());
        assert!(!format!("{h:?}").contains("secret"));
        assert_eq!(
            t.scrub("bad token pat-na1-secret-123 here".into()),
            "bad token <redacted> here"
        );
        // In another case, and percent-encoded either way (a quoted URL or form body).
        assert_eq!(
            t.scrub(
                "PAT-NA1-SECRET-123 / pat%2Dna1%2Dsecret%2D123 / pat-na1-secret-123&x=Pat%2dNa1"
                    .into()
            ),
            "<redacted> / <redacted> / <redacted>&x=Pat%2dNa1"
        );
        let spaced = AccessToken::new("a b+c/d=ef");
        assert_eq!(
            spaced.scrub("q=a%20b%2Bc%2Fd%3Def and a b+c/d=ef".into()),
            "q=<redacted> and <redacted>"
        );
        // A one-letter token is not hunted for in text: it would eat every `t`.
        assert_eq!(
            AccessToken::new("t").scrub("the answer is too long".into()),
            "the answer is too long"
        );
    }
}
