//! A token obtained elsewhere.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::auth::credential::{TokenCredential, TokenRequestContext};
use crate::auth::token::AccessToken;
use crate::error::{CredentialErrorKind, Error, Result};
use crate::secret::Secret;

/// Hands out one fixed token: for tests, or for a token your platform already obtained.
/// Once it expires, asking for a token fails.
///
/// ```
/// use powerbi_embed::{StaticTokenCredential, AadClient};
/// let expires = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
/// let aad = AadClient::new(StaticTokenCredential::new("eyJ...", expires)).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct StaticTokenCredential {
    token: AccessToken,
}

impl StaticTokenCredential {
    /// A credential that always returns `token`, valid until `expires_on`.
    pub fn new(token: impl Into<Secret>, expires_on: OffsetDateTime) -> Self {
        Self { token: AccessToken::new(token, expires_on) }
    }
}

#[async_trait]
impl TokenCredential for StaticTokenCredential {
    fn cache_identity(&self) -> String {
        // Distinct static tokens must not share a cache entry; their digests tell them apart
        // without putting the token itself into the key.
        let digest = ring::digest::digest(&ring::digest::SHA256, self.token.secret().expose_secret().as_bytes());
        let hex: String = digest.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("static/{hex}")
    }

    async fn get_token(&self, ctx: &TokenRequestContext<'_>) -> Result<AccessToken> {
        if ctx.now() >= self.token.expires_on() {
            return Err(Error::credential("static token", CredentialErrorKind::Expired, "the token has expired"));
        }
        Ok(self.token.clone())
    }
}
