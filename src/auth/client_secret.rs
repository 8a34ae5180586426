//! Service principal with a client secret: the usual way to embed for customers.

use async_trait::async_trait;

use crate::auth::credential::{TokenCredential, TokenRequestContext};
use crate::auth::entra::{request_token, ScopeStyle};
use crate::auth::token::AccessToken;
use crate::error::{Error, Result};
use crate::ids::{validate_client_id, validate_tenant};
use crate::secret::Secret;

/// Signs in as a service principal (an app registration) with a client secret, through the
/// `client_credentials` grant.
///
/// ```
/// use powerbi_embed::ClientSecretCredential;
/// let credential = ClientSecretCredential::new(
///     "contoso.onmicrosoft.com",
///     "00000000-0000-0000-0000-000000000001",
///     "the secret's Value",
/// ).unwrap();
/// assert!(!format!("{credential:?}").contains("Value"));
/// ```
#[derive(Debug, Clone)]
pub struct ClientSecretCredential {
    tenant_id: String,
    client_id: String,
    secret: Secret,
}

impl ClientSecretCredential {
    /// A credential for `client_id` in `tenant_id` (a GUID or a domain).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `tenant_id`, `client_id` or `client_secret`.
    pub fn new(tenant_id: impl AsRef<str>, client_id: impl AsRef<str>, secret: impl Into<Secret>) -> Result<Self> {
        let secret = secret.into();
        if secret.expose_secret().trim().is_empty() {
            return Err(Error::invalid("client_secret", "is empty"));
        }
        Ok(Self {
            tenant_id: validate_tenant("tenant_id", tenant_id.as_ref())?,
            client_id: validate_client_id("client_id", client_id.as_ref())?,
            secret,
        })
    }
}

#[async_trait]
impl TokenCredential for ClientSecretCredential {
    fn cache_identity(&self) -> String {
        format!("{}/{}", self.tenant_id, self.client_id)
    }

    async fn get_token(&self, ctx: &TokenRequestContext<'_>) -> Result<AccessToken> {
        let fields = [("grant_type", "client_credentials"), ("client_secret", self.secret.expose_secret())];
        let grant = request_token(ctx, &self.tenant_id, &self.client_id, ScopeStyle::App, &fields).await?;
        Ok(grant.access_token)
    }
}
