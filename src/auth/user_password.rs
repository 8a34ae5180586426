//! Master user: a Power BI Pro user's name and password (resource owner password credentials).

use async_trait::async_trait;

use crate::auth::credential::{TokenCredential, TokenRequestContext};
use crate::auth::entra::{request_token, ScopeStyle};
use crate::auth::refresh_token::RefreshTokenSlot;
use crate::auth::token::AccessToken;
use crate::error::{Error, Result};
use crate::ids::{validate_client_id, validate_tenant};
use crate::secret::Secret;

/// Signs in as a "master user" with a username and password (the `password` grant), then
/// renews with the refresh token it got, so the password is sent once per refresh-token life.
///
/// **Legacy path.** Microsoft recommends a service principal
/// ([`ClientSecretCredential`](crate::ClientSecretCredential) or
/// [`ClientCertificateCredential`](crate::ClientCertificateCredential)). The password grant
/// cannot satisfy multi-factor authentication (`AADSTS50076`/`50079`), does not work for
/// federated or personal accounts, and needs "Allow public client flows" on the app
/// registration (`AADSTS7000218`).
///
/// ```
/// use powerbi_embed::UsernamePasswordCredential;
/// let credential = UsernamePasswordCredential::new(
///     "contoso.onmicrosoft.com",
///     "00000000-0000-0000-0000-000000000001",
///     "embed@contoso.com",
///     "password",
/// ).unwrap();
/// assert!(!format!("{credential:?}").contains("password\""));
/// ```
#[derive(Debug)]
pub struct UsernamePasswordCredential {
    tenant_id: String,
    client_id: String,
    username: String,
    password: Secret,
    refresh_token: RefreshTokenSlot,
}

impl UsernamePasswordCredential {
    /// A credential for `username` signing in through the public client `client_id`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `tenant_id`, `client_id`, `username` or `password`.
    pub fn new(
        tenant_id: impl AsRef<str>,
        client_id: impl AsRef<str>,
        username: impl Into<String>,
        password: impl Into<Secret>,
    ) -> Result<Self> {
        let username = username.into().trim().to_owned();
        if username.is_empty() {
            return Err(Error::invalid("username", "is empty"));
        }
        let password = password.into();
        if password.is_empty() {
            return Err(Error::invalid("password", "is empty"));
        }
        Ok(Self {
            tenant_id: validate_tenant("tenant_id", tenant_id.as_ref())?,
            client_id: validate_client_id("client_id", client_id.as_ref())?,
            username,
            password,
            refresh_token: RefreshTokenSlot::default(),
        })
    }
}

#[async_trait]
impl TokenCredential for UsernamePasswordCredential {
    fn cache_identity(&self) -> String {
        format!("{}/{}/user/{}", self.tenant_id, self.client_id, self.username.to_ascii_lowercase())
    }

    async fn get_token(&self, ctx: &TokenRequestContext<'_>) -> Result<AccessToken> {
        if let Some(token) = self.refresh_token.redeem(ctx, &self.tenant_id, &self.client_id).await? {
            return Ok(token);
        }
        let fields = [
            ("grant_type", "password"),
            ("username", self.username.as_str()),
            ("password", self.password.expose_secret()),
        ];
        let grant = request_token(ctx, &self.tenant_id, &self.client_id, ScopeStyle::User, &fields).await?;
        Ok(self.refresh_token.keep(grant))
    }
}
