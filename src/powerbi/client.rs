//! `PowerBiClient`: the one client a backend builds, owning the connection pool, the caches and
//! the Entra client; the items hang off it as handles (see [`PowerBiView`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::auth::AadClient;
use crate::cache::{RefreshPolicy, SharedCache, TokenCache};
use crate::error::Result;
use crate::http::url::{check_scheme, parse_base_url};
use crate::http::{HttpOptions, HttpPipeline, Idempotency};
use crate::ids::{ProfileId, WorkspaceId};
use crate::powerbi::handles::WorkspaceHandle;
use crate::powerbi::lookup::{Lookup, LookupKey};
use crate::powerbi::models::{Capacity, EmbedToken};
use crate::powerbi::operation::Operation;
use crate::powerbi::request::{GenerateTokenRequestV2, RequestBody};
use crate::powerbi::view::PowerBiView;

/// A Power BI REST client for embedding.
///
/// Build one at start-up and keep it (cloning is a reference-count increment): it holds the
/// connection pool, the Entra client and its token cache, and the embed-token cache. Every
/// operation is on the handle of its item, reached from here:
///
/// ```text
/// client.workspace(w)                      WorkspaceHandle: get, list_reports, list_dashboards, list_datasets
///       .report(r)                         ReportHandle:    get, embed_token, embed_config
///       .dashboard(d) / .tile(t)           DashboardHandle, TileHandle
///       .dataset(ds)                       DatasetHandle:   get, qna_token, qna_config, create_report_token, create_report_config
/// client.embed_token(&v2)                  one token for several reports and datasets (V2)
/// client.as_profile(p) / .deadline(d) / .refresh_cache()   a view with per-call choices, same entry points
/// ```
///
/// Handles and views borrow the client and are `Copy`: making one costs nothing, and the
/// futures of their operations own them (they are `Send`, for axum handlers and
/// `tokio::spawn`; a spawned task moves a clone of the client in and builds its handles
/// there). Every call gets its Entra token from the [`AadClient`] (cached), sends the request
/// with retries for 429 / 5xx / transport failures, and maps errors to
/// [`Error::PowerBi`](crate::Error::PowerBi).
///
/// ```no_run
/// use powerbi_embed::{AadClient, ClientSecretCredential, GenerateTokenRequest, PowerBiClient, ReportId, WorkspaceId};
/// # async fn run() -> powerbi_embed::Result<()> {
/// let aad = AadClient::new(ClientSecretCredential::new("contoso.onmicrosoft.com", "00000000-0000-0000-0000-000000000001", "secret")?)?;
/// let powerbi = PowerBiClient::new(aad)?;
/// let workspace: WorkspaceId = "f089354e-8366-4e18-aea3-4cb4a3a50b48".parse()?;
/// let report: ReportId = "5b218778-e7a5-4d73-8187-f10824047715".parse()?;
/// let request = GenerateTokenRequest::report_view().lifetime_minutes(60).build()?;
/// let config = powerbi.workspace(workspace).report(report).embed_config(&request).await?;
/// println!("{}", serde_json::to_string(&config).unwrap());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PowerBiClient {
    inner: Arc<Inner>,
}

/// What every view and handle borrows.
pub(crate) struct Inner {
    pub aad: AadClient,
    pub api_base: Url,
    pub http: HttpPipeline,
    pub embed_cache: Option<TokenCache<EmbedKey, EmbedToken>>,
    pub default_lifetime: Duration,
    pub generate_idempotency: Idempotency,
    /// Report and dataset lookups, with how long each is kept (issue 17).
    pub lookup_cache: Option<(TokenCache<LookupKey, Lookup>, Duration)>,
    /// Report configs through the multi-resource `GenerateToken` (issue 17).
    pub report_configs_via_v2: bool,
}

/// What an embed token is for (operation), as whom (profile), and for whom and how (request
/// body). Two profiles never share a token.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct EmbedKey {
    pub profile: Option<ProfileId>,
    pub operation: Operation,
    pub body: RequestBody,
}

impl std::hash::Hash for EmbedKey {
    /// One word: the body's hash (computed when the request was built) with the operation's
    /// and the profile's ids folded in. Every embed-token cache hit hashes its key.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let profile = self.profile.map_or(0, |p| crate::powerbi::operation::fold(7, p.guid().as_u128()));
        state.write_u64(self.body.precomputed_hash() ^ self.operation.fingerprint() ^ profile);
    }
}

impl crate::cache::CacheKey for EmbedKey {
    fn key_text(&self) -> std::borrow::Cow<'_, str> {
        let profile = self.profile.map_or_else(|| "-".to_owned(), |p| p.to_string());
        format!("{profile}|{}", self.operation.key_text(&self.body)).into()
    }
}

impl fmt::Debug for PowerBiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PowerBiClient")
            .field("api_base", &self.inner.api_base.as_str())
            .field("embed_token_cache", &self.inner.embed_cache.is_some())
            .field("aad", &self.inner.aad)
            .finish_non_exhaustive()
    }
}

impl PowerBiClient {
    /// The shortest embed-token lifetime the client settles for while Entra cannot renew its
    /// token (10 minutes).
    ///
    /// An embed token never outlives the Entra token it was requested with, so the client first
    /// makes sure its Entra token lives as long as the embed token asked for (plus a minute).
    /// When that needs a renewal and the renewal fails (Entra down, throttling), the cached
    /// Entra token is still used while it gives embed tokens of at least this floor, or of the
    /// lifetime asked for if that is shorter: the embed token then comes out shorter than asked
    /// (its `expiration` says by how much) rather than not at all. Below the floor, the
    /// renewal's error is returned. After a failed renewal, no Entra request is made for 30
    /// seconds (as with [`AadClient::token`]), so an outage does not multiply requests.
    pub const EMBED_TOKEN_FLOOR: Duration = Duration::from_secs(10 * 60);

    /// A client for the [`AadClient`]'s cloud, with default settings.
    ///
    /// # Errors
    /// Only if the default HTTP client cannot be built.
    pub fn new(aad: AadClient) -> Result<Self> {
        Self::builder(aad).build()
    }

    /// A builder.
    pub fn builder(aad: AadClient) -> PowerBiClientBuilder {
        PowerBiClientBuilder {
            aad,
            api_base: None,
            http: HttpOptions::default(),
            embed_cache: None,
            shared: None,
            default_lifetime: Duration::from_secs(30 * 60),
            generate_idempotent: true,
            lookup_lifetime: None,
            report_configs_via_v2: false,
        }
    }

    /// The Entra client this client signs in with.
    pub fn aad(&self) -> &AadClient {
        &self.inner.aad
    }

    /// A view of this client whose calls act as a service principal profile (every request
    /// carries `X-PowerBI-Profile-Id`): Microsoft's recommended isolation when embedding for
    /// many customers, a profile per customer. Embed tokens are cached per profile; all
    /// profiles share the service principal's one Entra token.
    pub fn as_profile(&self, profile: ProfileId) -> PowerBiView<'_> {
        self.view().as_profile(profile)
    }

    /// A view of this client whose calls each take at most `within` (instead of
    /// [`call_timeout`](PowerBiClientBuilder::call_timeout)), counted from each call's start on
    /// the client's clock.
    pub fn deadline(&self, within: Duration) -> PowerBiView<'_> {
        self.view().deadline(within)
    }

    /// A view of this client whose calls do not serve a cached embed token: they fetch a new
    /// one, store it (replacing the cached one) and return it.
    pub fn refresh_cache(&self) -> PowerBiView<'_> {
        self.view().refresh_cache()
    }

    /// The workspace `id`, to reach its items.
    pub fn workspace(&self, id: WorkspaceId) -> WorkspaceHandle<'_> {
        self.view().workspace(id)
    }

    /// One embed token for several reports, datasets and target workspaces
    /// (`POST /v1.0/myorg/GenerateToken`, Microsoft's recommended form).
    ///
    /// # Errors
    /// As [`ReportHandle::embed_token`](crate::ReportHandle::embed_token).
    pub async fn embed_token(&self, request: &GenerateTokenRequestV2) -> Result<EmbedToken> {
        self.view().embed_token(request).await
    }

    /// One multi-resource token and a ready config per located item; see
    /// [`PowerBiView::embed_configs`].
    ///
    /// # Errors
    /// As [`PowerBiView::embed_configs`].
    pub async fn embed_configs(&self, request: &GenerateTokenRequestV2) -> Result<Vec<crate::EmbedConfig>> {
        self.view().embed_configs(request).await
    }

    /// The capacities this identity can see (`GET /v1.0/myorg/capacities`), with their state.
    ///
    /// # Errors
    /// As [`PowerBiView::list_capacities`].
    pub async fn list_capacities(&self) -> Result<Vec<Capacity>> {
        self.view().list_capacities().await
    }

    /// The view with no per-call choices: as the service principal, within `call_timeout`,
    /// through the cache.
    pub fn view(&self) -> PowerBiView<'_> {
        PowerBiView::new(&self.inner)
    }
}

/// Configures a [`PowerBiClient`].
#[derive(Debug)]
pub struct PowerBiClientBuilder {
    aad: AadClient,
    api_base: Option<String>,
    http: HttpOptions,
    embed_cache: Option<RefreshPolicy>,
    shared: Option<SharedCache>,
    default_lifetime: Duration,
    generate_idempotent: bool,
    lookup_lifetime: Option<Duration>,
    report_configs_via_v2: bool,
}

impl PowerBiClientBuilder {
    /// Keeps report and dataset lookups (embed URLs, dataset ids, RLS flags) for `lifetime`
    /// (off by default; 10 minutes is a good start), per profile, so an embed config whose token
    /// is cached costs no Power BI call. With [`shared_cache`](Self::shared_cache), replicas
    /// share the lookups too. Only the `*_config` paths and
    /// [`identity_if_required`](crate::GenerateTokenRequestBuilder::identity_if_required) read
    /// it; `get()` is always fresh, and a view's
    /// [`refresh_cache`](crate::PowerBiView::refresh_cache) looks up anew. A rebound report or a
    /// changed RLS setting is seen at the latest `lifetime` later. A zero `lifetime` turns it off.
    pub fn lookup_cache(mut self, lifetime: Duration) -> Self {
        self.lookup_lifetime = Some(lifetime).filter(|l| !l.is_zero());
        self
    }

    /// Makes [`ReportHandle::embed_config`](crate::ReportHandle::embed_config) get its token from
    /// the multi-resource `GenerateToken` (V2: the report and its dataset, `allowEdit` for an
    /// Edit token, the report's workspace as `targetWorkspaces` for `allowSaveAs`), as Microsoft
    /// recommends and as a report on DirectQuery to a semantic model or Direct Lake requires.
    /// The call site stays the same; the report's dataset is looked up first (through the lookup
    /// cache when it is on). Default false.
    pub fn report_configs_via_v2(mut self, via_v2: bool) -> Self {
        self.report_configs_via_v2 = via_v2;
        self
    }

    /// Overrides the API base (default: the Entra client's cloud's, e.g.
    /// `https://api.powerbi.com/`). `https`, or `http` to loopback for local fakes.
    pub fn api_base(mut self, api_base: impl Into<String>) -> Self {
        self.api_base = Some(api_base.into());
        self
    }

    crate::http::http_option_setters!("Power BI calls (the Entra token each needs included)");

    /// Caches embed tokens per (profile, operation, item ids, request body), handing a cached token out
    /// while it is fresh per `policy`; concurrent misses on one key share one `GenerateToken`.
    /// Two different identities, access levels or lifetimes never share a token.
    pub fn embed_token_cache(mut self, policy: RefreshPolicy) -> Self {
        self.embed_cache = Some(policy);
        self
    }

    /// Shares cached embed tokens with other replicas through `shared` (turns the embed-token
    /// cache on with the default policy if it is not on yet). The local cache stays in front:
    /// a local hit never leaves the process.
    pub fn shared_cache(mut self, shared: SharedCache) -> Self {
        self.embed_cache.get_or_insert_with(RefreshPolicy::default);
        self.shared = Some(shared);
        self
    }

    /// When a request sets no lifetime, how long the Entra token must still be valid before it
    /// is used to generate an embed token (default 30 minutes), since the embed token expires
    /// with it.
    pub fn default_embed_lifetime(mut self, lifetime: Duration) -> Self {
        self.default_lifetime = lifetime;
        self
    }

    /// Whether a `GenerateToken` may be sent again after a 5xx or a broken connection (default
    /// true: generating twice only costs quota). When false, only requests that surely did not
    /// reach the service (connect failures, 429) are retried.
    pub fn retry_generate_token(mut self, retry: bool) -> Self {
        self.generate_idempotent = retry;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) naming `api_base`.
    pub fn build(self) -> Result<PowerBiClient> {
        let api_base = match &self.api_base {
            Some(base) => parse_base_url("api_base", base)?,
            None => self.aad.cloud().api_base(),
        };
        // A built-in cloud's API base is https: refused here when the build has no TLS backend.
        check_scheme("api_base", &api_base)?;
        let clock = self.aad.clock().clone();
        let http = self.http.pipeline(clock.clone())?;
        // Everything that changes an embed token beyond its key (profile, operation, body): the
        // API (cloud) and who signs in (authority, tenant, client).
        let namespace = format!("embed|{}|{}", api_base, self.aad.cache_namespace());
        let lookup_cache = self.lookup_lifetime.map(|lifetime| {
            let cache = TokenCache::new(clock.clone(), RefreshPolicy::default());
            let cache = match &self.shared {
                Some(shared) => cache.with_shared(shared.clone(), format!("lookup|{namespace}")),
                None => cache,
            };
            (cache, lifetime)
        });
        let embed_cache = self.embed_cache.map(|policy| {
            let cache = TokenCache::new(clock, policy);
            match self.shared {
                Some(shared) => cache.with_shared(shared, namespace),
                None => cache,
            }
        });
        let generate_idempotency =
            if self.generate_idempotent { Idempotency::Idempotent } else { Idempotency::NonIdempotent };
        Ok(PowerBiClient {
            inner: Arc::new(Inner {
                aad: self.aad,
                api_base,
                http,
                embed_cache,
                default_lifetime: self.default_lifetime,
                generate_idempotency,
                lookup_cache,
                report_configs_via_v2: self.report_configs_via_v2,
            }),
        })
    }
}

// https (the built-in clouds) needs a TLS backend.
#[cfg(all(test, any(feature = "rustls", feature = "native-tls")))]
mod tests {
    use super::*;
    use crate::auth::{AccessToken, StaticTokenCredential};

    #[test]
    fn the_bearer_token_is_a_sensitive_header() {
        let expires = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
        let aad = AadClient::new(StaticTokenCredential::new("the-bearer-token", expires)).unwrap();
        let client = PowerBiClient::new(aad).unwrap();
        let entra = AccessToken::new("the-bearer-token", expires);
        let request =
            client.view().authorize(reqwest::Client::new().get("https://api.powerbi.com/"), &entra).build().unwrap();
        let authorization = &request.headers()["authorization"];
        assert!(authorization.is_sensitive());
        assert_eq!(authorization.to_str().unwrap(), "Bearer the-bearer-token");
        assert!(!format!("{request:?}").contains("the-bearer-token"), "{request:?}");
    }
}
