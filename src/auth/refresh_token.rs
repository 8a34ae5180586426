//! The refresh token user flows (master user, device code) keep, so renewing does not send the
//! password again or prompt the user again.

use std::sync::Mutex;

use crate::auth::credential::TokenRequestContext;
use crate::auth::entra::{request_token, ScopeStyle, TokenGrant};
use crate::auth::token::AccessToken;
use crate::error::{Error, Result};
use crate::secret::Secret;

/// The latest refresh token of a user credential.
#[derive(Debug, Default)]
pub(crate) struct RefreshTokenSlot(Mutex<Option<Secret>>);

impl RefreshTokenSlot {
    fn get(&self) -> Option<Secret> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, token: Option<Secret>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = token;
    }

    /// Keeps the refresh token of a fresh grant (Entra rotates them) and returns its access
    /// token.
    pub fn keep(&self, grant: TokenGrant) -> AccessToken {
        if grant.refresh_token.is_some() {
            self.set(grant.refresh_token);
        }
        grant.access_token
    }

    /// Redeems the stored refresh token, if there is one. `Ok(None)` means there was none, or
    /// Entra no longer accepts it (`invalid_grant`: expired, revoked, password changed), so the
    /// caller should sign in again.
    pub async fn redeem(
        &self,
        ctx: &TokenRequestContext<'_>,
        tenant: &str,
        client_id: &str,
    ) -> Result<Option<AccessToken>> {
        let Some(refresh_token) = self.get() else { return Ok(None) };
        let fields = [("grant_type", "refresh_token"), ("refresh_token", refresh_token.expose_secret())];
        match request_token(ctx, tenant, client_id, ScopeStyle::User, &fields).await {
            Ok(grant) => Ok(Some(self.keep(grant))),
            Err(Error::Entra(e)) if e.error == "invalid_grant" => {
                tracing::info!(codes = ?e.error_codes, "refresh token no longer accepted; signing in again");
                self.set(None);
                Ok(None)
            }
            Err(other) => Err(other),
        }
    }
}
