//! [`PowerBiView`]: the client with per-call choices (profile, deadline, cache refresh).

use std::fmt;
use std::time::Duration;

use crate::error::Result;
use crate::ids::{ProfileId, WorkspaceId};
use crate::powerbi::client::Inner;
use crate::powerbi::handles::WorkspaceHandle;
use crate::powerbi::models::{Capacity, EmbedToken, List};
use crate::powerbi::operation::Operation;
use crate::powerbi::request::GenerateTokenRequestV2;

/// The choices a view makes for the calls made through it. Copied into every handle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CallOptions {
    /// Sent as `X-PowerBI-Profile-Id`; part of every Power BI cache key.
    pub profile: Option<ProfileId>,
    /// Replaces the client's `call_timeout` for each call.
    pub deadline: Option<Duration>,
    /// Do not serve cached values: fetch, store, return.
    pub refresh: bool,
}

/// A [`PowerBiClient`](crate::PowerBiClient) with choices for the calls made through it: which
/// service principal profile they act as, how long each may take, whether the cache may serve
/// them. It has the client's entry points ([`workspace`](Self::workspace),
/// [`embed_token`](Self::embed_token), ...), and the handles made from it carry its choices.
///
/// A view borrows the client and is `Copy`: making one costs no allocation, no reference count
/// and no lock, so make one per request. All views share the client's connection pool, Entra
/// token and caches; cache entries are kept apart per profile.
///
/// ```no_run
/// # use std::time::Duration;
/// # use powerbi_embed::{GenerateTokenRequest, PowerBiClient, ProfileId, ReportId, WorkspaceId};
/// # async fn handler(client: &PowerBiClient, profile: ProfileId, workspace: WorkspaceId, report: ReportId)
/// #     -> powerbi_embed::Result<()> {
/// let customer = client.as_profile(profile).deadline(Duration::from_secs(5));
/// let request = GenerateTokenRequest::report_view().build()?;
/// let config = customer.workspace(workspace).report(report).embed_config(&request).await?;
/// # let _ = config; Ok(()) }
/// ```
#[derive(Clone, Copy)]
pub struct PowerBiView<'a> {
    pub(crate) inner: &'a Inner,
    pub(crate) options: CallOptions,
}

impl fmt::Debug for PowerBiView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PowerBiView")
            .field("profile", &self.options.profile)
            .field("deadline", &self.options.deadline)
            .field("refresh_cache", &self.options.refresh)
            .finish_non_exhaustive()
    }
}

impl<'a> PowerBiView<'a> {
    pub(crate) fn new(inner: &'a Inner) -> Self {
        Self { inner, options: CallOptions::default() }
    }

    /// Acts as the service principal profile `profile`: every request carries
    /// `X-PowerBI-Profile-Id`, and cached embed tokens are this profile's own.
    pub fn as_profile(mut self, profile: ProfileId) -> Self {
        self.options.profile = Some(profile);
        self
    }

    /// Acts as the service principal itself, dropping a profile set earlier.
    pub fn as_service_principal(mut self) -> Self {
        self.options.profile = None;
        self
    }

    /// Each call takes at most `within`, counted from its start on the client's clock, the Entra
    /// token it needs, every retry and every wait included; this replaces the client's
    /// [`call_timeout`](crate::PowerBiClientBuilder::call_timeout) for calls through this view.
    /// A cache hit is served whatever the deadline. When it passes, the call ends with an
    /// [`Error::Transport`](crate::Error::Transport) of kind
    /// [`Deadline`](crate::TransportErrorKind::Deadline). A budget over several calls (a page
    /// load) is `tokio::time::timeout` around them.
    pub fn deadline(mut self, within: Duration) -> Self {
        self.options.deadline = Some(within);
        self
    }

    /// Calls through this view do not serve a cached embed token (nor a cached lookup, with
    /// [`lookup_cache`](crate::PowerBiClientBuilder::lookup_cache) on): each fetches a new one,
    /// stores it in place of the cached one (locally and in the shared tier) and returns it.
    /// Concurrent refreshes of one token still make one request. For a page whose embed token
    /// was refused.
    pub fn refresh_cache(mut self) -> Self {
        self.options.refresh = true;
        self
    }

    /// The profile this view acts as, if any.
    pub fn profile(self) -> Option<ProfileId> {
        self.options.profile
    }

    /// The workspace `id`, to reach its items.
    pub fn workspace(self, id: WorkspaceId) -> WorkspaceHandle<'a> {
        WorkspaceHandle::new(self, id)
    }

    /// One embed token for several reports, datasets and target workspaces
    /// (`POST /v1.0/myorg/GenerateToken`, Microsoft's recommended form).
    ///
    /// # Errors
    /// As [`ReportHandle::embed_token`](crate::ReportHandle::embed_token).
    pub async fn embed_token(self, request: &GenerateTokenRequestV2) -> Result<EmbedToken> {
        self.generate(Operation::MultiResource, request.body(), request.lifetime_minutes()).await
    }

    /// The capacities this identity can see (`GET /v1.0/myorg/capacities`), with their state.
    ///
    /// Only capacities the identity has rights on are listed, so a capacity missing from the
    /// list may exist all the same; without capacity rights the service may also refuse the
    /// call (401 / 403).
    ///
    /// # Errors
    /// Service errors as for the token calls.
    pub async fn list_capacities(self) -> Result<Vec<Capacity>> {
        self.get_json::<List<Capacity>>("v1.0/myorg/capacities".to_owned(), "capacity list").await.map(|l| l.value)
    }
}
