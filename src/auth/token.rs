//! The access token a credential returns.

use std::fmt;

use time::OffsetDateTime;

use crate::cache::Expiring;
use crate::secret::Secret;

/// An Entra access token (a bearer token) and when it expires.
///
/// Cloning is a reference-count increment. `Debug` never prints the token.
#[derive(Clone)]
pub struct AccessToken {
    token: Secret,
    expires_on: OffsetDateTime,
    refresh_on: Option<OffsetDateTime>,
}

impl AccessToken {
    /// A token valid until `expires_on`.
    pub fn new(token: impl Into<Secret>, expires_on: OffsetDateTime) -> Self {
        Self { token: token.into(), expires_on, refresh_on: None }
    }

    /// Sets when the issuer suggests renewing the token (Entra's `refresh_in`).
    pub fn with_refresh_on(mut self, refresh_on: OffsetDateTime) -> Self {
        self.refresh_on = Some(refresh_on);
        self
    }

    /// The bearer token.
    pub fn secret(&self) -> &Secret {
        &self.token
    }

    /// When the token expires.
    pub fn expires_on(&self) -> OffsetDateTime {
        self.expires_on
    }

    /// When the issuer suggested renewing it, if it did.
    pub fn refresh_on(&self) -> Option<OffsetDateTime> {
        self.refresh_on
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &self.token)
            .field("expires_on", &self.expires_on)
            .field("refresh_on", &self.refresh_on)
            .finish()
    }
}

impl Expiring for AccessToken {
    fn expires_on(&self) -> OffsetDateTime {
        self.expires_on
    }

    fn refresh_hint(&self) -> Option<OffsetDateTime> {
        self.refresh_on
    }
}
