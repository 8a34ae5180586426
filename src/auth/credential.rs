//! The credential trait: anything that can produce an Entra access token.

use std::fmt;

use async_trait::async_trait;
use time::OffsetDateTime;
use url::Url;

use crate::auth::token::AccessToken;
use crate::error::Result;
use crate::http::HttpPipeline;

/// A source of Entra access tokens.
///
/// Implement it to plug in your own way of signing in; the crate's providers
/// ([`ClientSecretCredential`](crate::ClientSecretCredential),
/// [`ClientCertificateCredential`](crate::ClientCertificateCredential), ...) implement it too.
/// It is object-safe: [`AadClient`](crate::AadClient) holds an `Arc<dyn TokenCredential>`.
/// Caching is the `AadClient`'s job; a credential should request a new token every time it is
/// asked.
///
/// ```
/// use async_trait::async_trait;
/// use powerbi_embed::{AccessToken, TokenCredential, TokenRequestContext};
///
/// /// Tokens minted by another service of ours.
/// #[derive(Debug)]
/// struct FromVault;
///
/// #[async_trait]
/// impl TokenCredential for FromVault {
///     fn cache_identity(&self) -> String {
///         "vault/powerbi-reader".into()
///     }
///     async fn get_token(&self, ctx: &TokenRequestContext<'_>) -> powerbi_embed::Result<AccessToken> {
///         let _scopes = ctx.scopes();
///         Ok(AccessToken::new("token-from-vault", ctx.now() + time::Duration::hours(1)))
///     }
/// }
/// ```
#[async_trait]
pub trait TokenCredential: Send + Sync + fmt::Debug {
    /// A stable string naming the principal this credential signs in as (for example
    /// `tenant/client`, plus the user for user flows). It is part of the cache key, so two
    /// credentials with the same identity share cached tokens, and different principals never
    /// do. It must not contain a secret.
    fn cache_identity(&self) -> String;

    /// Requests a new token for `ctx.scopes()`.
    ///
    /// # Errors
    /// Whatever went wrong, typically [`Error::Entra`](crate::Error::Entra) or
    /// [`Error::Transport`](crate::Error::Transport).
    async fn get_token(&self, ctx: &TokenRequestContext<'_>) -> Result<AccessToken>;

    /// Whether getting a token can wait for a person (an interactive sign-in, such as
    /// [`DeviceCodeCredential`](crate::DeviceCodeCredential)'s). The
    /// [`AadClient`](crate::AadClient)'s per-call deadline
    /// ([`call_timeout`](crate::AadClientBuilder::call_timeout)) does not apply to such a
    /// credential, which must bound its own wait. Default `false`.
    fn waits_for_user(&self) -> bool {
        false
    }
}

/// Which Entra token endpoint to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EntraEndpoint {
    /// `/{tenant}/oauth2/v2.0/token` with `scope=` (the default).
    #[default]
    V2,
    /// The older `/{tenant}/oauth2/token` with `resource=`, for tenants or proxies that need it.
    V1,
}

/// What a credential is asked for, and the means to ask Entra for it.
#[derive(Debug)]
pub struct TokenRequestContext<'a> {
    pub(crate) scopes: &'a [String],
    pub(crate) authority_host: &'a Url,
    pub(crate) endpoint: EntraEndpoint,
    pub(crate) http: &'a HttpPipeline,
}

impl<'a> TokenRequestContext<'a> {
    /// The scopes requested, e.g. `["https://analysis.windows.net/powerbi/api/.default"]`.
    pub fn scopes(&self) -> &[String] {
        self.scopes
    }

    /// The resource of the first scope (the scope without `/.default`), which the v1 endpoint
    /// and managed identity ask for.
    pub fn resource(&self) -> &str {
        let scope = self.scopes.first().map(String::as_str).unwrap_or_default();
        scope.strip_suffix("/.default").unwrap_or(scope)
    }

    /// The Entra authority host, e.g. `https://login.microsoftonline.com/`.
    pub fn authority_host(&self) -> &Url {
        self.authority_host
    }

    /// Which token endpoint version to use.
    pub fn endpoint(&self) -> EntraEndpoint {
        self.endpoint
    }

    /// The HTTP client the [`AadClient`](crate::AadClient) was configured with.
    pub fn http_client(&self) -> &reqwest::Client {
        &self.http.client
    }

    /// The current time from the client's clock (so tests with a manual clock stay consistent).
    pub fn now(&self) -> OffsetDateTime {
        self.http.clock.now()
    }
}
