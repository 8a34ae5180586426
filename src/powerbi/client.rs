//! `PowerBiClient`: embed tokens, the lookups an embed needs, and embed configs.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde::de::DeserializeOwned;
use tracing::Instrument;
use url::Url;

use crate::auth::{AadClient, AccessToken};
use crate::cache::{Need, RefreshPolicy, SharedCache, TokenCache};
use crate::error::{Error, Result};
use crate::http::deadline::DEFAULT_CALL_TIMEOUT;
use crate::http::url::{check_scheme, parse_base_url};
use crate::http::{
    default_http_client, parse_json, HttpPipeline, Idempotency, Reply, RetryPolicy, DEFAULT_MAX_REPLY_BYTES,
    MIN_REPLY_BYTES,
};
use crate::ids::Guid;
use crate::powerbi::embed_config::EmbedConfig;
use crate::powerbi::error::power_bi_error;
use crate::powerbi::models::{Capacity, Dashboard, Dataset, EmbedToken, List, Report, Tile, Workspace, SERVICE};
use crate::powerbi::operation::Operation;
use crate::powerbi::request::{GenerateTokenRequest, GenerateTokenRequestV2, RequestBody, TokenTarget};

/// The header that selects a service principal profile.
const PROFILE_HEADER: &str = "X-PowerBI-Profile-Id";
/// Extra Entra lifetime asked for on top of the embed token's, for the request's own duration.
const ENTRA_SLACK: Duration = Duration::from_secs(60);

/// A Power BI REST client for embedding.
///
/// Cheap to clone. Every call gets its Entra token from the [`AadClient`] (cached), sends the
/// request with retries for 429 / 5xx / transport failures, and maps errors to
/// [`Error::PowerBi`].
///
/// ```no_run
/// use powerbi_embed::{AadClient, ClientSecretCredential, GenerateTokenRequest, PowerBiClient};
/// # async fn run() -> powerbi_embed::Result<()> {
/// let aad = AadClient::new(ClientSecretCredential::new("contoso.onmicrosoft.com", "00000000-0000-0000-0000-000000000001", "secret")?)?;
/// let powerbi = PowerBiClient::new(aad)?;
/// let config = powerbi
///     .report_embed_config(
///         "f089354e-8366-4e18-aea3-4cb4a3a50b48",
///         "5b218778-e7a5-4d73-8187-f10824047715",
///         &GenerateTokenRequest::report_view().lifetime_minutes(60).build()?,
///     )
///     .await?;
/// println!("{}", serde_json::to_string(&config).unwrap());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PowerBiClient {
    inner: Arc<Inner>,
}

struct Inner {
    aad: AadClient,
    api_base: Url,
    profile_id: Option<HeaderValue>,
    http: HttpPipeline,
    embed_cache: Option<TokenCache<EmbedKey, EmbedToken>>,
    default_lifetime: Duration,
    generate_idempotency: Idempotency,
}

/// What an embed token is for (operation) and for whom and how (request body).
#[derive(Clone, PartialEq, Eq, Hash)]
struct EmbedKey {
    operation: Operation,
    body: RequestBody,
}

impl crate::cache::CacheKey for EmbedKey {
    fn key_text(&self) -> std::borrow::Cow<'_, str> {
        format!("{}|{}", self.operation.path(), self.body.json()).into()
    }
}

impl fmt::Debug for PowerBiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PowerBiClient")
            .field("api_base", &self.inner.api_base.as_str())
            .field("profile_id", &self.inner.profile_id)
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
            profile_id: None,
            http_client: None,
            retry: RetryPolicy::default(),
            embed_cache: None,
            shared: None,
            default_lifetime: Duration::from_secs(30 * 60),
            generate_idempotent: true,
            max_reply_bytes: DEFAULT_MAX_REPLY_BYTES,
            call_timeout: DEFAULT_CALL_TIMEOUT,
        }
    }

    /// The Entra client this client signs in with.
    pub fn aad(&self) -> &AadClient {
        &self.inner.aad
    }

    /// An embed token for an existing report (View or Edit).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a non-GUID id or a request built for another target;
    /// [`Error::PowerBi`], [`Error::Entra`], [`Error::Transport`] or
    /// [`Error::UnexpectedResponse`] from the services. An Entra failure is an error only when
    /// the cached Entra token cannot give an embed token of at least
    /// [`EMBED_TOKEN_FLOOR`](Self::EMBED_TOKEN_FLOOR); above it, the embed token comes out
    /// shorter than asked instead.
    pub async fn report_embed_token(
        &self,
        workspace_id: &str,
        report_id: &str,
        request: &GenerateTokenRequest,
    ) -> Result<EmbedToken> {
        let operation =
            Operation::Report { workspace: workspace(workspace_id)?, report: guid("report_id", report_id)? };
        self.generate_v1(operation, TokenTarget::Report, request).await
    }

    /// An embed token to create a new report from the request's dataset.
    ///
    /// # Errors
    /// As [`report_embed_token`](Self::report_embed_token).
    pub async fn report_creation_embed_token(
        &self,
        workspace_id: &str,
        request: &GenerateTokenRequest,
    ) -> Result<EmbedToken> {
        let operation = Operation::ReportCreation { workspace: workspace(workspace_id)? };
        self.generate_v1(operation, TokenTarget::ReportCreation, request).await
    }

    /// An embed token for a dashboard.
    ///
    /// # Errors
    /// As [`report_embed_token`](Self::report_embed_token).
    pub async fn dashboard_embed_token(
        &self,
        workspace_id: &str,
        dashboard_id: &str,
        request: &GenerateTokenRequest,
    ) -> Result<EmbedToken> {
        let operation = Operation::Dashboard {
            workspace: workspace(workspace_id)?,
            dashboard: guid("dashboard_id", dashboard_id)?,
        };
        self.generate_v1(operation, TokenTarget::Dashboard, request).await
    }

    /// An embed token for a dashboard tile.
    ///
    /// # Errors
    /// As [`report_embed_token`](Self::report_embed_token).
    pub async fn tile_embed_token(
        &self,
        workspace_id: &str,
        dashboard_id: &str,
        tile_id: &str,
        request: &GenerateTokenRequest,
    ) -> Result<EmbedToken> {
        let operation = Operation::Tile {
            workspace: workspace(workspace_id)?,
            dashboard: guid("dashboard_id", dashboard_id)?,
            tile: guid("tile_id", tile_id)?,
        };
        self.generate_v1(operation, TokenTarget::Tile, request).await
    }

    /// An embed token for a dataset (Q&A).
    ///
    /// # Errors
    /// As [`report_embed_token`](Self::report_embed_token).
    pub async fn dataset_embed_token(
        &self,
        workspace_id: &str,
        dataset_id: &str,
        request: &GenerateTokenRequest,
    ) -> Result<EmbedToken> {
        let operation =
            Operation::Dataset { workspace: workspace(workspace_id)?, dataset: guid("dataset_id", dataset_id)? };
        self.generate_v1(operation, TokenTarget::Dataset, request).await
    }

    /// One embed token for several reports, datasets and target workspaces
    /// (`POST /v1.0/myorg/GenerateToken`, Microsoft's recommended form).
    ///
    /// # Errors
    /// As [`report_embed_token`](Self::report_embed_token).
    pub async fn embed_token(&self, request: &GenerateTokenRequestV2) -> Result<EmbedToken> {
        self.generate(Operation::MultiResource, request.body(), request.lifetime_minutes()).await
    }

    /// A report.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for non-GUID ids; service errors as for the token calls.
    pub async fn report(&self, workspace_id: &str, report_id: &str) -> Result<Report> {
        let (workspace, report) = (workspace(workspace_id)?, guid("report_id", report_id)?);
        self.get(format!("v1.0/myorg/groups/{workspace}/reports/{report}"), "report").await
    }

    /// The reports of a workspace.
    ///
    /// # Errors
    /// As [`report`](Self::report).
    pub async fn reports(&self, workspace_id: &str) -> Result<Vec<Report>> {
        let workspace = workspace(workspace_id)?;
        self.get::<List<Report>>(format!("v1.0/myorg/groups/{workspace}/reports"), "report list").await.map(|l| l.value)
    }

    /// A dashboard.
    ///
    /// # Errors
    /// As [`report`](Self::report).
    pub async fn dashboard(&self, workspace_id: &str, dashboard_id: &str) -> Result<Dashboard> {
        let (workspace, dashboard) = (workspace(workspace_id)?, guid("dashboard_id", dashboard_id)?);
        self.get(format!("v1.0/myorg/groups/{workspace}/dashboards/{dashboard}"), "dashboard").await
    }

    /// The dashboards of a workspace.
    ///
    /// # Errors
    /// As [`report`](Self::report).
    pub async fn dashboards(&self, workspace_id: &str) -> Result<Vec<Dashboard>> {
        let workspace = workspace(workspace_id)?;
        self.get::<List<Dashboard>>(format!("v1.0/myorg/groups/{workspace}/dashboards"), "dashboard list")
            .await
            .map(|l| l.value)
    }

    /// A tile of a dashboard.
    ///
    /// # Errors
    /// As [`report`](Self::report).
    pub async fn tile(&self, workspace_id: &str, dashboard_id: &str, tile_id: &str) -> Result<Tile> {
        let (workspace, dashboard, tile) =
            (workspace(workspace_id)?, guid("dashboard_id", dashboard_id)?, guid("tile_id", tile_id)?);
        self.get(format!("v1.0/myorg/groups/{workspace}/dashboards/{dashboard}/tiles/{tile}"), "tile").await
    }

    /// The tiles of a dashboard.
    ///
    /// # Errors
    /// As [`report`](Self::report).
    pub async fn tiles(&self, workspace_id: &str, dashboard_id: &str) -> Result<Vec<Tile>> {
        let (workspace, dashboard) = (workspace(workspace_id)?, guid("dashboard_id", dashboard_id)?);
        self.get::<List<Tile>>(format!("v1.0/myorg/groups/{workspace}/dashboards/{dashboard}/tiles"), "tile list")
            .await
            .map(|l| l.value)
    }

    /// A dataset.
    ///
    /// # Errors
    /// As [`report`](Self::report).
    pub async fn dataset(&self, workspace_id: &str, dataset_id: &str) -> Result<Dataset> {
        let (workspace, dataset) = (workspace(workspace_id)?, guid("dataset_id", dataset_id)?);
        self.get(format!("v1.0/myorg/groups/{workspace}/datasets/{dataset}"), "dataset").await
    }

    /// The datasets of a workspace.
    ///
    /// # Errors
    /// As [`report`](Self::report).
    pub async fn datasets(&self, workspace_id: &str) -> Result<Vec<Dataset>> {
        let workspace = workspace(workspace_id)?;
        self.get::<List<Dataset>>(format!("v1.0/myorg/groups/{workspace}/datasets"), "dataset list")
            .await
            .map(|l| l.value)
    }

    /// A workspace (`GET /v1.0/myorg/groups/{groupId}`): its name and whether it is on a
    /// dedicated capacity, which embedding for customers needs.
    ///
    /// # Errors
    /// As [`report`](Self::report).
    pub async fn workspace(&self, workspace_id: &str) -> Result<Workspace> {
        let workspace = workspace(workspace_id)?;
        self.get(format!("v1.0/myorg/groups/{workspace}"), "workspace").await
    }

    /// The capacities this identity can see (`GET /v1.0/myorg/capacities`), with their state.
    ///
    /// Only capacities the identity has rights on are listed, so a capacity missing from the
    /// list may exist all the same; without capacity rights the service may also refuse the
    /// call (401 / 403).
    ///
    /// # Errors
    /// Service errors as for the token calls.
    pub async fn capacities(&self) -> Result<Vec<Capacity>> {
        self.get::<List<Capacity>>("v1.0/myorg/capacities".to_owned(), "capacity list").await.map(|l| l.value)
    }

    /// Everything the browser needs to embed a report: looks up its `embedUrl` and generates
    /// the token, concurrently.
    ///
    /// # Errors
    /// As [`report_embed_token`](Self::report_embed_token), plus
    /// [`Error::UnexpectedResponse`] if the report has no `embedUrl`.
    pub async fn report_embed_config(
        &self,
        workspace_id: &str,
        report_id: &str,
        request: &GenerateTokenRequest,
    ) -> Result<EmbedConfig> {
        let (report, token) = tokio::try_join!(
            self.report(workspace_id, report_id),
            self.report_embed_token(workspace_id, report_id, request)
        )?;
        Ok(EmbedConfig::report(report.id, non_empty_url(report.embed_url, "report")?, token))
    }

    /// The config for `powerbi.createReport`: the dataset's `CreateReportEmbedURL` and a Create
    /// token.
    ///
    /// # Errors
    /// As [`report_embed_config`](Self::report_embed_config).
    pub async fn report_creation_embed_config(
        &self,
        workspace_id: &str,
        request: &GenerateTokenRequest,
    ) -> Result<EmbedConfig> {
        let dataset_id = request.dataset_id().ok_or_else(|| {
            Error::invalid("datasetId", "report creation needs GenerateTokenRequest::report_creation(dataset_id)")
        })?;
        let (dataset, token) = tokio::try_join!(
            self.dataset(workspace_id, dataset_id),
            self.report_creation_embed_token(workspace_id, request)
        )?;
        let url = non_empty_url(dataset.create_report_embed_url.unwrap_or_default(), "dataset (createReportEmbedURL)")?;
        Ok(EmbedConfig::report_creation(dataset.id, url, token))
    }

    /// The config to embed a dashboard.
    ///
    /// # Errors
    /// As [`report_embed_config`](Self::report_embed_config).
    pub async fn dashboard_embed_config(
        &self,
        workspace_id: &str,
        dashboard_id: &str,
        request: &GenerateTokenRequest,
    ) -> Result<EmbedConfig> {
        let (dashboard, token) = tokio::try_join!(
            self.dashboard(workspace_id, dashboard_id),
            self.dashboard_embed_token(workspace_id, dashboard_id, request)
        )?;
        Ok(EmbedConfig::dashboard(dashboard.id, non_empty_url(dashboard.embed_url, "dashboard")?, token))
    }

    /// The config to embed a dashboard tile.
    ///
    /// # Errors
    /// As [`report_embed_config`](Self::report_embed_config).
    pub async fn tile_embed_config(
        &self,
        workspace_id: &str,
        dashboard_id: &str,
        tile_id: &str,
        request: &GenerateTokenRequest,
    ) -> Result<EmbedConfig> {
        let dashboard = guid("dashboard_id", dashboard_id)?.into();
        let (tile, token) = tokio::try_join!(
            self.tile(workspace_id, dashboard_id, tile_id),
            self.tile_embed_token(workspace_id, dashboard_id, tile_id, request)
        )?;
        Ok(EmbedConfig::tile(dashboard, tile.id, non_empty_url(tile.embed_url, "tile")?, token))
    }

    /// The config to embed Q&A over a dataset.
    ///
    /// # Errors
    /// As [`report_embed_config`](Self::report_embed_config).
    pub async fn qna_embed_config(
        &self,
        workspace_id: &str,
        dataset_id: &str,
        request: &GenerateTokenRequest,
    ) -> Result<EmbedConfig> {
        let (dataset, token) = tokio::try_join!(
            self.dataset(workspace_id, dataset_id),
            self.dataset_embed_token(workspace_id, dataset_id, request)
        )?;
        let url = non_empty_url(dataset.qna_embed_url.unwrap_or_default(), "dataset (qnaEmbedURL)")?;
        Ok(EmbedConfig::qna(dataset.id, url, token))
    }

    async fn generate_v1(
        &self,
        operation: Operation,
        expected: TokenTarget,
        request: &GenerateTokenRequest,
    ) -> Result<EmbedToken> {
        if request.target() != expected {
            return Err(Error::invalid(
                "request",
                format!("built for {:?} but sent to the {} endpoint", request.target(), operation.name()),
            ));
        }
        self.generate(operation, request.body(), request.lifetime_minutes()).await
    }

    /// An embed token within the call's deadline (the Entra token it needs included).
    async fn generate(
        &self,
        operation: Operation,
        body: &RequestBody,
        lifetime_minutes: Option<u32>,
    ) -> Result<EmbedToken> {
        // Pinned where it is made: moving a lookup this large into the deadline's future cost more
        // than the rest of a cache hit.
        let call = std::pin::pin!(self.generate_cached(operation, body, lifetime_minutes));
        self.inner.http.bounded(SERVICE, call).await
    }

    async fn generate_cached(
        &self,
        operation: Operation,
        body: &RequestBody,
        lifetime_minutes: Option<u32>,
    ) -> Result<EmbedToken> {
        match &self.inner.embed_cache {
            Some(cache) => {
                let key = EmbedKey { operation, body: body.clone() };
                cache
                    .get_or_fetch(&key, Need::Valid, || self.generate_uncached(operation, body, lifetime_minutes))
                    .await
            }
            None => self.generate_uncached(operation, body, lifetime_minutes).await,
        }
    }

    async fn generate_uncached(
        &self,
        operation: Operation,
        body: &RequestBody,
        lifetime_minutes: Option<u32>,
    ) -> Result<EmbedToken> {
        let span = tracing::info_span!("powerbi_generate_token", operation = operation.name());
        async move {
            // An embed token never outlives the Entra token it was requested with, so make sure
            // that one lives long enough first; while Entra fails, settle for one that still
            // gives an embed token of `EMBED_TOKEN_FLOOR`.
            let wanted =
                lifetime_minutes.map_or(self.inner.default_lifetime, |m| Duration::from_secs(u64::from(m) * 60));
            let need = entra_need(self.inner.http.clock.now(), wanted);
            let url = &self.url(&operation.path())?;
            let token = self
                .with_entra_token(need, |entra| async move {
                    let reply = self
                        .inner
                        .http
                        .execute(SERVICE, self.inner.generate_idempotency, |client| {
                            self.authorize(client.post(url.clone()), &entra)
                                .header(CONTENT_TYPE, "application/json")
                                .body(body.json().to_owned())
                        })
                        .await?;
                    check(&reply).and_then(|()| EmbedToken::from_reply(&reply, self.inner.http.clock.now()))
                })
                .await;
            match &token {
                Ok(t) => {
                    tracing::debug!(token_id = %t.token_id(), expiration = %t.expiration(), "embed token generated")
                }
                Err(e) => tracing::debug!(error = %e, "GenerateToken failed"),
            }
            token
        }
        .instrument(span)
        .await
    }

    /// A lookup within the call's deadline (the Entra token it needs included).
    async fn get<T: DeserializeOwned>(&self, path: String, what: &str) -> Result<T> {
        let call = std::pin::pin!(self.get_unbounded(path, what));
        self.inner.http.bounded(SERVICE, call).await
    }

    async fn get_unbounded<T: DeserializeOwned>(&self, path: String, what: &str) -> Result<T> {
        let url = &self.url(&path)?;
        self.with_entra_token(Need::Valid, |entra| async move {
            let reply = self
                .inner
                .http
                .execute(SERVICE, Idempotency::Idempotent, |client| self.authorize(client.get(url.clone()), &entra))
                .await?;
            check(&reply)?;
            parse_json(&reply, SERVICE, what)
        })
        .await
    }

    /// Runs `call` with an Entra token meeting `need`. When Power BI refuses that token itself
    /// (`TokenExpired`, `InvalidToken`: a revoked token, or a clock that stepped back, make a
    /// token fail before its computed expiry), the token is dropped from the local and shared
    /// caches, a new one is fetched and `call` runs once more; a second refusal is returned as
    /// it is, with its hint.
    async fn with_entra_token<T, F, Fut>(&self, need: Need, call: F) -> Result<T>
    where
        F: Fn(AccessToken) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let entra = self.inner.aad.token_with(need).await?;
        let refused = match call(entra.clone()).await {
            Err(Error::PowerBi(refused)) if refused.is_rejected_token() => refused,
            outcome => return outcome,
        };
        let Some(fresh) = self.inner.aad.replace_rejected(&entra, need).await? else {
            return Err(Error::PowerBi(refused));
        };
        tracing::info!(error = %refused, "Power BI refused the Entra token; retrying once with a new one");
        call(fresh).await
    }

    fn authorize(&self, request: reqwest::RequestBuilder, entra: &AccessToken) -> reqwest::RequestBuilder {
        let request = match entra.bearer_header() {
            Some(bearer) => request.header(AUTHORIZATION, bearer.clone()),
            // Not a valid header value: let reqwest refuse it as it refuses any bad header.
            None => request.header(AUTHORIZATION, format!("Bearer {}", entra.secret().expose_secret())),
        };
        let mut request = request.header(ACCEPT, "application/json");
        if let Some(profile) = &self.inner.profile_id {
            request = request.header(PROFILE_HEADER, profile.clone());
        }
        request
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.inner.api_base.join(path).map_err(|e| Error::invalid("api_base", format!("cannot form {path}: {e}")))
    }
}

/// An error reply becomes [`Error::PowerBi`]; a redirect is refused.
fn check(reply: &Reply) -> Result<()> {
    reply.reject_redirect(SERVICE)?;
    if reply.is_success() {
        Ok(())
    } else {
        Err(power_bi_error(reply))
    }
}

/// What the embed path needs from the Entra token for an embed token of `wanted` lifetime:
/// `wanted` plus slack, or at least the floor while renewal fails. Saturating: a lifetime of
/// `u32::MAX` minutes is a valid request.
fn entra_need(now: time::OffsetDateTime, wanted: Duration) -> Need {
    let until = |lifetime: Duration| {
        let lifetime = time::Duration::try_from(lifetime.saturating_add(ENTRA_SLACK)).unwrap_or(time::Duration::MAX);
        now.saturating_add(lifetime)
    };
    Need::PreferablyUntil { wanted: until(wanted), floor: until(wanted.min(PowerBiClient::EMBED_TOKEN_FLOOR)) }
}

fn workspace(id: &str) -> Result<Guid> {
    guid("workspace_id", id)
}

fn guid(field: &'static str, id: &str) -> Result<Guid> {
    Guid::parse_field(field, id)
}

fn non_empty_url(url: String, what: &str) -> Result<String> {
    if url.is_empty() {
        return Err(Error::UnexpectedResponse(Arc::new(crate::error::UnexpectedResponse {
            service: SERVICE,
            status: 200,
            content_type: None,
            request_id: None,
            reason: format!("the {what} has no embed URL"),
        })));
    }
    Ok(url)
}

/// Configures a [`PowerBiClient`].
#[derive(Debug)]
pub struct PowerBiClientBuilder {
    aad: AadClient,
    api_base: Option<String>,
    profile_id: Option<String>,
    http_client: Option<reqwest::Client>,
    retry: RetryPolicy,
    embed_cache: Option<RefreshPolicy>,
    shared: Option<SharedCache>,
    default_lifetime: Duration,
    generate_idempotent: bool,
    max_reply_bytes: usize,
    call_timeout: Duration,
}

impl PowerBiClientBuilder {
    /// Overrides the API base (default: the Entra client's cloud's, e.g.
    /// `https://api.powerbi.com/`). `https`, or `http` to loopback for local fakes.
    pub fn api_base(mut self, api_base: impl Into<String>) -> Self {
        self.api_base = Some(api_base.into());
        self
    }

    /// Acts as this service principal profile (sent as `X-PowerBI-Profile-Id`), for
    /// multi-tenant isolation.
    pub fn profile_id(mut self, profile_id: impl Into<String>) -> Self {
        self.profile_id = Some(profile_id.into());
        self
    }

    /// Sends requests with this client (give it a timeout and `Policy::none()` redirects).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Retries of Power BI calls (default: [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Caches embed tokens per (operation, item ids, request body), handing a cached token out
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

    /// The most bytes of a reply body to read (default 4 MiB, at least 1 KiB). A longer body is
    /// an [`Error::UnexpectedResponse`](crate::Error::UnexpectedResponse), refused from its
    /// `Content-Length` or cut off once the cap is read, without reading the rest; it is not
    /// retried.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_reply_bytes = bytes.max(MIN_REPLY_BYTES);
        self
    }

    /// How long one Power BI call may take in all (default 30 s), the Entra token it needs
    /// included: every request, retry and wait between retries. An embed config's lookup and
    /// token run side by side, each within it. At the deadline the call ends with an
    /// [`Error::Transport`] of kind [`Deadline`](crate::TransportErrorKind::Deadline), and no
    /// retry wait that would end past it is started (the last answer is returned instead).
    /// Long operations (uploads, polling an import, waiting for a capacity assignment) will get
    /// deadlines of their own, not this one.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `api_base` or `profile_id`.
    pub fn build(self) -> Result<PowerBiClient> {
        let api_base = match &self.api_base {
            Some(base) => parse_base_url("api_base", base)?,
            None => self.aad.cloud().api_base(),
        };
        // A built-in cloud's API base is https: refused here when the build has no TLS backend.
        check_scheme("api_base", &api_base)?;
        let profile_id = match &self.profile_id {
            Some(id) => Some(
                HeaderValue::from_str(&Guid::parse_field("profile_id", id)?.to_string())
                    .expect("a formatted GUID is a valid header value"),
            ),
            None => None,
        };
        let client = match self.http_client {
            Some(client) => client,
            None => default_http_client()?,
        };
        let clock = self.aad.clock().clone();
        let http = HttpPipeline {
            max_reply_bytes: self.max_reply_bytes,
            call_timeout: self.call_timeout,
            ..HttpPipeline::new(client, self.retry, clock.clone())
        };
        // Everything that changes an embed token beyond the request itself: the API (cloud),
        // the profile, and who signs in (authority, tenant, client).
        let namespace = format!(
            "embed|{}|{}|{}",
            api_base,
            profile_id.as_ref().and_then(|p| p.to_str().ok()).unwrap_or("-"),
            self.aad.cache_namespace()
        );
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
                profile_id,
                http,
                embed_cache,
                default_lifetime: self.default_lifetime,
                generate_idempotency,
            }),
        })
    }
}

// https (the built-in clouds) needs a TLS backend.
#[cfg(all(test, any(feature = "rustls", feature = "native-tls")))]
mod tests {
    use super::*;
    use crate::auth::StaticTokenCredential;

    #[test]
    fn the_bearer_token_is_a_sensitive_header() {
        let expires = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
        let aad = AadClient::new(StaticTokenCredential::new("the-bearer-token", expires)).unwrap();
        let client = PowerBiClient::new(aad).unwrap();
        let entra = AccessToken::new("the-bearer-token", expires);
        let request = client.authorize(reqwest::Client::new().get("https://api.powerbi.com/"), &entra).build().unwrap();
        let authorization = &request.headers()["authorization"];
        assert!(authorization.is_sensitive());
        assert_eq!(authorization.to_str().unwrap(), "Bearer the-bearer-token");
        assert!(!format!("{request:?}").contains("the-bearer-token"), "{request:?}");
    }
}
