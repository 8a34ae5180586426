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
