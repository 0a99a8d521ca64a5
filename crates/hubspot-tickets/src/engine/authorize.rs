//! How the token reaches each request: the engine asks its [`TokenSource`] as each
//! attempt leaves, and sends through a generated client carrying that token.
//!
//! The generated client applies its `RequestHeaders` (token, user agent) in a
//! pre-request hook, and a `Client` is cheap to make from another (the `reqwest::Client`
//! and its connection pool are shared): one is kept per token, made again only when the
//! token changes. Nothing generated is edited, and every request carries exactly the
//! token the engine asked for, so a 401 is told to the source with the token it refused.

use std::sync::{Arc, Mutex, RwLock};

use hubspot_tickets_client::{ClientInfo, RequestHeaders};
use reqwest::header::AUTHORIZATION;

use crate::auth::TokenSource;
use crate::engine::Engine;
use crate::error::{Error, ErrorKind};
use crate::secret::AccessToken;

/// The generated client for the current token.
pub(crate) struct PerToken {
    /// The client the builder made (its headers: the user agent, and the token when it
    /// was given as a fixed one).
    base: hubspot_tickets_client::Client,
    current: Mutex<Option<(AccessToken, hubspot_tickets_client::Client)>>,
}

impl PerToken {
    /// `base` already carries `token`, when one is known at build time.
    pub(crate) fn new(base: hubspot_tickets_client::Client, token: Option<AccessToken>) -> Self {
        let current = token.map(|t| (t, base.clone()));
        Self {
            base,
            current: Mutex::new(current),
        }
    }

    pub(crate) fn base(&self) -> &hubspot_tickets_client::Client {
        &self.base
    }

    /// A generated client sending `token`.
    pub(crate) fn client(
        &self,
        token: &AccessToken,
    ) -> Result<hubspot_tickets_client::Client, Error> {
        let mut current = self
            .current
            .lock()
            .map_err(|_| Error::new(ErrorKind::Configuration, "the token cache was lost"))?;
        if let Some((t, client)) = current.as_ref()
            && t == token
        {
            return Ok(client.clone());
        }
        let headers: RequestHeaders = self
            .base
            .inner()
            .clone()
            .with_header(AUTHORIZATION, token.bearer_header()?);
        let client = hubspot_tickets_client::Client::new_with_client(
            self.base.baseurl(),
            self.base.client().clone(),
            headers,
        );
        *current = Some((token.clone(), client.clone()));
        Ok(client)
    }
}

/// The engine's token source, and the token it last handed out (what answers are
/// scrubbed of).
pub(crate) struct Auth {
    pub source: Arc<dyn TokenSource>,
    last: RwLock<AccessToken>,
}

impl Auth {
    pub(crate) fn new(source: Arc<dyn TokenSource>, first: Option<AccessToken>) -> Self {
        Self {
            source,
            last: RwLock::new(first.unwrap_or_else(|| AccessToken::new(""))),
        }
    }
}

impl Engine {
    /// The token for the next request, from the source (which may renew it first).
    pub(crate) async fn next_token(&self) -> Result<AccessToken, Error> {
        let token = self.auth.source.token().await?;
        if token.is_empty() {
            return Err(Error::new(
                ErrorKind::Auth,
                "the token source gave an empty token",
            ));
        }
        if let Ok(mut last) = self.auth.last.write()
            && *last != token
        {
            *last = token.clone();
        }
        Ok(token)
    }

    /// The token last handed out, to scrub from what answers echo.
    pub(crate) fn token(&self) -> AccessToken {
        self.auth
            .last
            .read()
            .map(|t| t.clone())
            .unwrap_or_else(|_| AccessToken::new(""))
    }
}
