//! The two OAuth token shapes the generator is told to use instead of its own types
//! (`TokenRefreshForm` and `TokenGrant` in the spec): the same wire format, but a
//! `Debug` that never shows a secret, since the form carries the client secret and the
//! refresh token and the grant carries the access token.
//!
//! Hand-written, like `values.rs` and `time.rs`; the setting is in `xtask/src/lib.rs`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The refresh grant's form (`grant_type=refresh_token`, the app's client id and secret,
/// the refresh token), sent form-encoded by
/// [`Client::refresh_access_token_2026_03`](crate::Client::refresh_access_token_2026_03).
///
/// `Debug` shows the client id only:
///
/// ```
/// let form = hubspot_tickets_client::oauth::TokenRefreshForm::new("app-1", "s3cret-value", "rt-value");
/// let shown = format!("{form:?}");
/// assert!(shown.contains("app-1") && !shown.contains("s3cret") && !shown.contains("rt-value"));
/// ```
#[derive(Clone, Serialize)]
pub struct TokenRefreshForm {
    grant_type: &'static str,
    client_id: String,
    client_secret: String,
    refresh_token: String,
}

impl TokenRefreshForm {
    /// The refresh grant for this app and refresh token.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        refresh_token: impl Into<String>,
    ) -> Self {
        Self {
            grant_type: "refresh_token",
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            refresh_token: refresh_token.into(),
        }
    }

    /// The app's client id (not a secret).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }
}

impl fmt::Debug for TokenRefreshForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRefreshForm")
            .field("grant_type", &self.grant_type)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .finish()
    }
}

/// The token endpoint's answer, read in either spelling HubSpot uses (`access_token` /
/// `accessToken`, `expires_in` / `expiresIn`...): the accessors take whichever is present.
///
/// ```
/// use hubspot_tickets_client::oauth::TokenGrant;
/// let snake: TokenGrant = serde_json::from_str(r#"{"access_token":"a1","expires_in":1800}"#).unwrap();
/// let camel: TokenGrant = serde_json::from_str(r#"{"accessToken":"a1","expiresIn":1800}"#).unwrap();
/// assert_eq!(snake.access_token(), Some("a1"));
/// assert_eq!(camel.expires_in(), Some(1800));
/// assert!(!format!("{camel:?}").contains("a1"));
/// ```
#[derive(Clone, Default, Deserialize)]
pub struct TokenGrant {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default, rename = "accessToken")]
    access_token_camel: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default, rename = "refreshToken")]
    refresh_token_camel: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default, rename = "expiresIn")]
    expires_in_camel: Option<i64>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default, rename = "tokenType")]
    token_type_camel: Option<String>,
    #[serde(default, rename = "hubId")]
    hub_id: Option<i64>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
}

fn either<'a>(a: &'a Option<String>, b: &'a Option<String>) -> Option<&'a str> {
    a.as_deref()
        .filter(|s| !s.is_empty())
        .or_else(|| b.as_deref().filter(|s| !s.is_empty()))
}

impl TokenGrant {
    /// The new access token.
    pub fn access_token(&self) -> Option<&str> {
        either(&self.access_token, &self.access_token_camel)
    }

    /// The refresh token to use next time, when the answer names one.
    pub fn refresh_token(&self) -> Option<&str> {
        either(&self.refresh_token, &self.refresh_token_camel)
    }

    /// Seconds the access token lives.
    pub fn expires_in(&self) -> Option<i64> {
        self.expires_in.or(self.expires_in_camel)
    }

    /// `bearer`, usually.
    pub fn token_type(&self) -> Option<&str> {
        either(&self.token_type, &self.token_type_camel)
    }

    /// The HubSpot account the token is for.
    pub fn hub_id(&self) -> Option<i64> {
        self.hub_id
    }

    /// The scopes granted.
    pub fn scopes(&self) -> &[String] {
        self.scopes.as_deref().unwrap_or_default()
    }
}

impl fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |present: bool| if present { "<redacted>" } else { "none" };
        f.debug_struct("TokenGrant")
            .field("access_token", &hidden(self.access_token().is_some()))
            .field("refresh_token", &hidden(self.refresh_token().is_some()))
            .field("expires_in", &self.expires_in())
            .field("token_type", &self.token_type())
            .field("hub_id", &self.hub_id)
            .field("scopes", &self.scopes())
            .finish()
    }
}
