//! `AadClient`: a credential, a cloud, and the token cache in front of them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;
use url::Url;

use crate::auth::credential::{EntraEndpoint, TokenCredential, TokenRequestContext};
use crate::auth::token::AccessToken;
use crate::cache::{Need, RefreshPolicy, SharedCache, Slot, TokenCache};
use crate::clock::{Clock, SystemClock};
use crate::cloud::Cloud;
use crate::error::Result;
use crate::http::url::{check_scheme, parse_base_url};
use crate::http::{HttpOptions, HttpPipeline};

/// Acquires and caches Entra access tokens for Power BI.
///
/// Cheap to clone (all clones share one cache). Concurrent callers on a cold or due key cause
/// one token request between them; different scopes never wait on each other.
///
/// ```no_run
/// use powerbi_embed::{AadClient, ClientSecretCredential};
/// # async fn run() -> powerbi_embed::Result<()> {
/// let credential = ClientSecretCredential::new(
///     "contoso.onmicrosoft.com",
///     "00000000-0000-0000-0000-000000000001",
///     std::env::var("AZURE_CLIENT_SECRET").unwrap_or_default(),
/// )?;
/// let aad = AadClient::new(credential)?;
/// let token = aad.token().await?;
/// println!("valid until {}", token.expires_on());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AadClient {
    inner: Arc<Inner>,
}

struct Inner {
    credential: Arc<dyn TokenCredential>,
    cloud: Cloud,
    authority_host: Url,
    endpoint: EntraEndpoint,
    default_scopes: Vec<String>,
    http: HttpPipeline,
    cache: TokenCache<String, AccessToken>,
    /// The slot of the default scope, held so the hot path skips the cache's map.
    default_slot: Arc<Slot<AccessToken>>,
    identity: String,
    /// The credential's [`TokenCredential::waits_for_user`], asked once.
    waits_for_user: bool,
}

impl fmt::Debug for AadClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AadClient")
            .field("credential", &self.inner.credential)
            .field("cloud", &self.inner.cloud)
            .field("authority_host", &self.inner.authority_host.as_str())
            .field("endpoint", &self.inner.endpoint)
            .field("scopes", &self.inner.default_scopes)
            .finish_non_exhaustive()
    }
}

impl AadClient {
    /// A client for the public cloud with default settings.
    ///
    /// # Errors
    /// Only if the default HTTP client cannot be built (no TLS backend).
    pub fn new(credential: impl TokenCredential + 'static) -> Result<Self> {
        Self::builder(credential).build()
    }

    /// A client configured by the environment alone, as the Azure SDKs read it: the credential
    /// of [`EnvironmentCredential`](crate::EnvironmentCredential) (`AZURE_TENANT_ID`,
    /// `AZURE_CLIENT_ID` and a secret, certificate, username and password, or federated token
    /// file), the cloud from `POWERBI_CLOUD` and the sign-in host from `AZURE_AUTHORITY_HOST`
    /// (a URL or a bare host), checked against each other ([`CloudSettings`](crate::CloudSettings)).
    ///
    /// **No managed identity fallback.** When no credential variable is set this is an error
    /// naming `AZURE_CLIENT_SECRET`, not a silent attempt at a managed identity: the Azure
    /// SDKs' `EnvironmentCredential` behaves the same way, and only their
    /// `DefaultAzureCredential` chains on to managed identity, which turns a missing secret into
    /// a slow, misleading IMDS timeout. On Azure with a managed identity, build
    /// [`ManagedIdentityCredential`](crate::ManagedIdentityCredential) yourself and pass it to
    /// [`builder`](Self::builder), with [`CloudSettings::from_env`](crate::CloudSettings::from_env)
    /// if the cloud comes from the environment too.
    ///
    /// ```no_run
    /// # async fn run() -> powerbi_embed::Result<()> {
    /// let aad = powerbi_embed::AadClient::from_env()?;
    /// let token = aad.token().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) naming the variable at fault (see
    /// [`EnvironmentCredential::from_lookup`](crate::EnvironmentCredential::from_lookup) and
    /// [`CloudSettings::from_lookup`](crate::CloudSettings::from_lookup)).
    pub fn from_env() -> Result<Self> {
        Self::builder_from_env()?.build()
    }

    /// As [`from_env`](Self::from_env), reading the variables through `lookup` (a name in, its
    /// value out) instead of the process environment.
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        Self::builder_from_env_with(lookup)?.build()
    }

    /// The builder behind [`from_env`](Self::from_env), to add a shared cache, a clock or
    /// policies before building.
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn builder_from_env() -> Result<AadClientBuilder> {
        Self::builder_from_env_with(|name| std::env::var(name).ok())
    }

    /// The builder behind [`from_env_with`](Self::from_env_with).
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use powerbi_embed::{AadClient, Cloud};
    /// let vars = HashMap::from([
    ///     ("AZURE_TENANT_ID", "contoso.onmicrosoft.us"),
    ///     ("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001"),
    ///     ("AZURE_CLIENT_SECRET", "the secret's Value"),
    ///     ("AZURE_AUTHORITY_HOST", "login.microsoftonline.us"),
    ///     ("POWERBI_CLOUD", "usgovhigh"),
    /// ]);
    /// let aad = AadClient::builder_from_env_with(|name| vars.get(name).map(|v| v.to_string()))
    ///     .unwrap()
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(aad.cloud(), &Cloud::UsGovHigh);
    /// ```
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn builder_from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Result<AadClientBuilder> {
        crate::auth::environment::aad_builder(&lookup)
    }

    /// A builder, to choose the cloud, HTTP client, retry and refresh policies.
    pub fn builder(credential: impl TokenCredential + 'static) -> AadClientBuilder {
        AadClientBuilder::new(Arc::new(credential))
    }

    /// A builder over a shared credential.
    pub fn builder_shared(credential: Arc<dyn TokenCredential>) -> AadClientBuilder {
        AadClientBuilder::new(credential)
    }

    /// A token for the cloud's Power BI scope, from the cache when it has a fresh one.
    ///
    /// # Errors
    /// The credential's error when no valid cached token exists. A failed renewal of a token
    /// that is still valid is not an error: the cached token is returned and a warning logged,
    /// and renewal is not tried again for 30 seconds.
    pub async fn token(&self) -> Result<AccessToken> {
        self.token_with(Need::Valid).await
    }

    /// A token for other scopes (sorted before caching, so order does not matter).
    ///
    /// # Errors
    /// As [`token`](Self::token), and [`Error::InvalidInput`](crate::Error::InvalidInput) for
    /// an empty scope list.
    pub async fn token_for_scopes<S: AsRef<str>>(&self, scopes: &[S]) -> Result<AccessToken> {
        let scopes = normalized_scopes(scopes)?;
        let slot = self.inner.cache.slot(&cache_key(&self.inner.authority_host, &self.inner.identity, &scopes));
        self.fetch_into(&slot, &scopes, Need::Valid).await
    }

    /// A Power BI token that is still valid at least `min_remaining` from now, renewing the
    /// cached one first if it would expire sooner. A token shared by another replica through a
    /// [`SharedCache`] is held to the same need. A need longer than Entra's tokens live is
    /// capped at what a fresh token has (less a minute), so asking too much renews at most once
    /// a minute.
    ///
    /// # Errors
    /// The credential's error when the renewal fails: unlike [`token`](Self::token), this never
    /// settles for a token that expires sooner than asked. For 30 seconds after a failed
    /// renewal, the same error is returned without a new request while the cached token is
    /// still valid.
    pub async fn token_valid_for(&self, min_remaining: Duration) -> Result<AccessToken> {
        // Saturating: a caller may ask for more time than the calendar has (a lifetime of
        // u32::MAX minutes is a valid request), and `+` would panic on it. The cache caps
        // such a need at what a fresh token has (`Need::satisfied_by`).
        let min_remaining = time::Duration::try_from(min_remaining).unwrap_or(time::Duration::MAX);
        let until = self.inner.http.clock.now().saturating_add(min_remaining);
        self.token_with(Need::ValidUntil(until)).await
    }

    pub(crate) async fn token_with(&self, need: Need) -> Result<AccessToken> {
        self.fetch_into(&self.inner.default_slot, &self.inner.default_scopes, need).await
    }

    /// After Power BI refused `rejected` as expired or invalid: drops it from the local slot
    /// and from the shared store (only while they still hold that token, so a new one another
    /// caller or replica got meanwhile is kept), then gets a token meeting `need`. `Ok(None)`
    /// when the credential hands back the very token that was refused (a static token): asking
    /// Power BI again with it would only be refused again.
    ///
    /// # Errors
    /// The credential's error when no new token can be had.
    pub(crate) async fn replace_rejected(&self, rejected: &AccessToken, need: Need) -> Result<Option<AccessToken>> {
        let is_rejected = |cached: &AccessToken| cached.secret() == rejected.secret();
        self.inner.cache.evict_if(&self.inner.default_slot, is_rejected).await;
        let fresh = self.token_with(need).await?;
        Ok((!is_rejected(&fresh)).then_some(fresh))
    }

    async fn fetch_into(&self, slot: &Slot<AccessToken>, scopes: &[String], need: Need) -> Result<AccessToken> {
        let inner = &self.inner;
        // Pinned where it is made: the lookup holds a whole token request (over 1 KiB), and
        // moving it into the deadline's future cost more than the rest of a cache hit.
        let lookup = std::pin::pin!(inner.cache.get_in_slot(slot, need, || {
            let span = tracing::info_span!("entra_token", identity = %inner.identity, scopes = %scopes.join(" "));
            async move {
                let ctx = TokenRequestContext {
                    scopes,
                    authority_host: &inner.authority_host,
                    endpoint: inner.endpoint,
                    http: &inner.http,
                };
                let outcome = inner.credential.get_token(&ctx).await.and_then(header_safe);
                match &outcome {
                    Ok(token) => tracing::debug!(expires_on = %token.expires_on(), "token acquired"),
                    Err(error) => tracing::debug!(%error, "token request failed"),
                }
                outcome
            }
            .instrument(span)
        }));
        // An interactive sign-in takes as long as the person needs; the credential bounds its
        // own wait and each request in it.
        if inner.waits_for_user {
            lookup.await
        } else {
            inner.http.bounded("token", lookup).await
        }
    }

    /// The cloud this client signs in to.
    pub fn cloud(&self) -> &Cloud {
        &self.inner.cloud
    }

    /// The identity part of the cache key (no secret), e.g. `tenant/client`.
    pub fn cache_identity(&self) -> &str {
        &self.inner.identity
    }

    /// Who signs in where: the part of every cache namespace that separates principals.
    pub(crate) fn cache_namespace(&self) -> String {
        cache_key(&self.inner.authority_host, &self.inner.identity, &[])
    }

    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.http.clock
    }
}

/// Scopes as the cache sees them: trimmed, blanks dropped, sorted and deduplicated, so the
/// order a caller lists them in never makes a second entry.
///
/// # Errors
/// [`Error::InvalidInput`](crate::Error::InvalidInput) naming `scopes` when none is left.
fn normalized_scopes<S: AsRef<str>>(scopes: &[S]) -> Result<Vec<String>> {
    let mut scopes: Vec<String> =
        scopes.iter().map(|s| s.as_ref().trim().to_owned()).filter(|s| !s.is_empty()).collect();
    if scopes.is_empty() {
        return Err(crate::Error::invalid("scopes", "at least one scope is required"));
    }
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

/// The key of a token: who signs in where (`authority|identity`, also the namespace of every
/// cache of this client), then the normalized scopes when there are any.
fn cache_key(authority_host: &Url, identity: &str, scopes: &[String]) -> String {
    match scopes {
        [] => format!("{authority_host}|{identity}"),
        scopes => format!("{authority_host}|{identity}|{}", scopes.join(" ")),
    }
}

/// Refuses a token that cannot be sent as `Authorization: Bearer <token>` (a CR, LF or other
/// control character, e.g. the trailing newline of a token read from a file), whatever
/// credential produced it: refused here it is never cached, where otherwise every Power BI call
/// with it would fail to be sent.
fn header_safe(token: AccessToken) -> Result<AccessToken> {
    match token.bearer_header() {
        Some(_) => Ok(token),
        None => Err(crate::Error::credential(
            "token",
            crate::CredentialErrorKind::UnusableToken,
            "the access token cannot be sent in an HTTP header (it holds a control character such as CR or LF, \
             or a trailing newline); it was refused and not cached",
        )),
    }
}

/// Configures an [`AadClient`].
#[derive(Debug)]
pub struct AadClientBuilder {
    credential: Arc<dyn TokenCredential>,
    cloud: Cloud,
    authority_host: Option<String>,
    endpoint: EntraEndpoint,
    scopes: Option<Vec<String>>,
    http: HttpOptions,
    refresh: RefreshPolicy,
    clock: Arc<dyn Clock>,
    shared: Option<SharedCache>,
}

impl AadClientBuilder {
    fn new(credential: Arc<dyn TokenCredential>) -> Self {
        Self {
            credential,
            cloud: Cloud::Public,
            authority_host: None,
            endpoint: EntraEndpoint::V2,
            scopes: None,
            http: HttpOptions::default(),
            refresh: RefreshPolicy::default(),
            clock: Arc::new(SystemClock),
            shared: None,
        }
    }

    /// Shares tokens with other replicas through `shared`: on a local miss the shared store is
    /// read first, and only one replica requests a token from Entra while the others wait for
    /// it. The local cache stays in front, so a local hit never leaves the process.
    pub fn shared_cache(mut self, shared: SharedCache) -> Self {
        self.shared = Some(shared);
        self
    }

    /// The cloud (default [`Cloud::Public`]): sets the authority host and the Power BI scope.
    pub fn cloud(mut self, cloud: Cloud) -> Self {
        self.cloud = cloud;
        self
    }

    /// Overrides the cloud's authority host (e.g. from `AZURE_AUTHORITY_HOST`, or a local fake).
    pub fn authority_host(mut self, authority_host: impl Into<String>) -> Self {
        self.authority_host = Some(authority_host.into());
        self
    }

    /// Uses the v1 token endpoint (`resource=`) instead of v2 (`scope=`).
    pub fn endpoint(mut self, endpoint: EntraEndpoint) -> Self {
        self.endpoint = endpoint;
        self
    }

    /// Overrides the default scopes (the cloud's Power BI `.default` scope).
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    crate::http::http_option_setters!("token requests (to Entra or a managed identity endpoint)");

    /// When cached tokens are renewed (default: 5 minutes before expiry).
    pub fn refresh_policy(mut self, refresh: RefreshPolicy) -> Self {
        self.refresh = refresh;
        self
    }

    /// The clock, for tests ([`ManualClock`](crate::ManualClock)).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) naming `authority_host` or `scopes`.
    pub fn build(self) -> Result<AadClient> {
        let authority_host = match &self.authority_host {
            Some(host) => parse_base_url("authority_host", host)?,
            None => self.cloud.authority_host(),
        };
        // A built-in cloud's host is https: refused here when the build has no TLS backend.
        check_scheme("authority_host", &authority_host)?;
        let default_scopes = normalized_scopes(&self.scopes.unwrap_or_else(|| vec![self.cloud.scope()]))?;
        let http = self.http.pipeline(self.clock.clone())?;
        let cache = TokenCache::new(self.clock, self.refresh);
        let cache = match self.shared {
            Some(shared) => cache.with_shared(shared, "entra".to_owned()),
            None => cache,
        };
        let identity = self.credential.cache_identity();
        let waits_for_user = self.credential.waits_for_user();
        let default_slot = cache.slot(&cache_key(&authority_host, &identity, &default_scopes));
        Ok(AadClient {
            inner: Arc::new(Inner {
                credential: self.credential,
                cloud: self.cloud,
                authority_host,
                endpoint: self.endpoint,
                default_scopes,
                http,
                cache,
                default_slot,
                identity,
                waits_for_user,
            }),
        })
    }
}
