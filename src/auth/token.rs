//! The access token a credential returns.

use std::fmt;
use std::sync::Arc;

use reqwest::header::HeaderValue;
use time::OffsetDateTime;

use crate::cache::Expiring;
use crate::secret::Secret;

/// An Entra access token (a bearer token) and when it expires.
///
/// Cloning is a reference-count increment. `Debug` never prints the token.
#[derive(Clone)]
pub struct AccessToken {
    shared: Arc<Shared>,
    expires_on: OffsetDateTime,
    refresh_on: Option<OffsetDateTime>,
}

/// The token and its `Authorization` header, behind one reference count.
struct Shared {
    token: Secret,
    /// `Bearer <token>`, built once: a bearer token is about 1.5 KB, and formatting and
    /// validating it again for every Power BI call cost more than the rest of the SDK's work
    /// on the call. `None` if the token cannot be a header value.
    bearer: Option<HeaderValue>,
}

impl AccessToken {
    /// A token valid until `expires_on`.
    pub fn new(token: impl Into<Secret>, expires_on: OffsetDateTime) -> Self {
        let token = token.into();
        let bearer = HeaderValue::try_from(format!("Bearer {}", token.expose_secret())).ok().map(|mut value| {
            value.set_sensitive(true);
            value
        });
        Self { shared: Arc::new(Shared { token, bearer }), expires_on, refresh_on: None }
    }

    /// Sets when the issuer suggests renewing the token (Entra's `refresh_in`).
    pub fn with_refresh_on(mut self, refresh_on: OffsetDateTime) -> Self {
        self.refresh_on = Some(refresh_on);
        self
    }

    /// The bearer token.
    pub fn secret(&self) -> &Secret {
        &self.shared.token
    }

    /// When the token expires.
    pub fn expires_on(&self) -> OffsetDateTime {
        self.expires_on
    }

    /// When the issuer suggested renewing it, if it did.
    pub fn refresh_on(&self) -> Option<OffsetDateTime> {
        self.refresh_on
    }

    /// The `Authorization` header value, `Bearer <token>`, marked sensitive; `None` if the
    /// token holds bytes a header cannot.
    pub(crate) fn bearer_header(&self) -> Option<&HeaderValue> {
        self.shared.bearer.as_ref()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &self.shared.token)
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
            t: self.secret().expose_secret().into(),
            e: self.expires_on.unix_timestamp(),
            r: self.refresh_on.map(OffsetDateTime::unix_timestamp),
            f: fetched_at.unix_timestamp(),
        };
        serde_json::to_vec(&stored).unwrap_or_default()
    }

    fn from_bytes(bytes: &[u8]) -> Option<(Self, OffsetDateTime)> {
        let stored: StoredAccessToken<'_> = serde_json::from_slice(bytes).ok()?;
        let mut token = AccessToken::new(stored.t.into_owned(), OffsetDateTime::from_unix_timestamp(stored.e).ok()?);
        // A stored token that cannot be sent is a miss, as it would have been refused on arrival.
        token.bearer_header()?;
        if let Some(r) = stored.r {
            token = token.with_refresh_on(OffsetDateTime::from_unix_timestamp(r).ok()?);
        }
        Some((token, OffsetDateTime::from_unix_timestamp(stored.f).ok()?))
    }
}
