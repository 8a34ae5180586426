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

/// The shared-store form: `{"t": token, "e": expiry, "r": refresh hint, "f": fetched}`, times in
/// Unix seconds. Sealed by the shared tier before it leaves the process.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredAccessToken<'a> {
    t: std::borrow::Cow<'a, str>,
    e: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    r: Option<i64>,
    f: i64,
}

impl crate::cache::Storable for AccessToken {
    fn to_bytes(&self, fetched_at: OffsetDateTime) -> Vec<u8> {
        let stored = StoredAccessToken {
            t: self.token.expose_secret().into(),
            e: self.expires_on.unix_timestamp(),
            r: self.refresh_on.map(OffsetDateTime::unix_timestamp),
            f: fetched_at.unix_timestamp(),
        };
        serde_json::to_vec(&stored).unwrap_or_default()
    }

    fn from_bytes(bytes: &[u8]) -> Option<(Self, OffsetDateTime)> {
        let stored: StoredAccessToken<'_> = serde_json::from_slice(bytes).ok()?;
        let mut token = AccessToken::new(stored.t.into_owned(), OffsetDateTime::from_unix_timestamp(stored.e).ok()?);
        if let Some(r) = stored.r {
            token = token.with_refresh_on(OffsetDateTime::from_unix_timestamp(r).ok()?);
        }
        Some((token, OffsetDateTime::from_unix_timestamp(stored.f).ok()?))
    }
}
