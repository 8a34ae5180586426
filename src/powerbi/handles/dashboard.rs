//! [`DashboardHandle`]: a dashboard, its tiles, its embed token and its embed config.

use crate::error::Result;
use crate::ids::{DashboardId, TileId};
use crate::powerbi::call::non_empty_url;
use crate::powerbi::embed_config::EmbedConfig;
use crate::powerbi::handles::{TileHandle, WorkspaceHandle};
use crate::powerbi::models::{Dashboard, EmbedToken, List, Tile};
use crate::powerbi::operation::Operation;
use crate::powerbi::request::{ForDashboard, GenerateTokenRequest};

/// A dashboard in a workspace, from [`WorkspaceHandle::dashboard`].
#[derive(Debug, Clone, Copy)]
pub struct DashboardHandle<'a> {
    workspace: WorkspaceHandle<'a>,
    id: DashboardId,
}

impl<'a> DashboardHandle<'a> {
    pub(crate) fn new(workspace: WorkspaceHandle<'a>, id: DashboardId) -> Self {
        Self { workspace, id }
    }

    /// The dashboard id.
    pub fn id(self) -> DashboardId {
        self.id
    }

    /// The workspace it is in.
    pub fn workspace(self) -> WorkspaceHandle<'a> {
        self.workspace
    }

    /// A tile of this dashboard.
    pub fn tile(self, id: TileId) -> TileHandle<'a> {
        TileHandle::new(self, id)
    }

    /// The dashboard (`GET .../dashboards/{dashboardId}`).
    ///
    /// # Errors
    /// As [`WorkspaceHandle::get`].
    pub async fn get(self) -> Result<Dashboard> {
        self.workspace.view().get_json(self.path(""), "dashboard").await
    }

    /// The tiles of this dashboard.
    ///
    /// # Errors
    /// As [`WorkspaceHandle::get`].
    pub async fn list_tiles(self) -> Result<Vec<Tile>> {
        self.workspace.view().get_json::<List<Tile>>(self.path("/tiles"), "tile list").await.map(|l| l.value)
    }

    /// An embed token for this dashboard.
    ///
    /// # Errors
    /// As [`ReportHandle::embed_token`](crate::ReportHandle::embed_token).
    pub async fn embed_token(self, request: &GenerateTokenRequest<ForDashboard>) -> Result<EmbedToken> {
        let operation = Operation::Dashboard { workspace: self.workspace.id(), dashboard: self.id };
        self.workspace.view().generate(operation, request.body(), request.lifetime_minutes()).await
    }

    /// The config to embed this dashboard: its `embedUrl` and a token, concurrently.
    ///
    /// # Errors
    /// As [`ReportHandle::embed_config`](crate::ReportHandle::embed_config).
    pub async fn embed_config(self, request: &GenerateTokenRequest<ForDashboard>) -> Result<EmbedConfig> {
        let (dashboard, token) = tokio::try_join!(self.get(), self.embed_token(request))?;
        Ok(EmbedConfig::dashboard(dashboard.id, non_empty_url(dashboard.embed_url, "dashboard")?, token))
    }

    /// The path of this dashboard, or of `rest` under it.
    pub(crate) fn path(self, rest: &str) -> String {
        self.workspace.path(&format!("/dashboards/{}{rest}", self.id))
    }
}
