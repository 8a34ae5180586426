//! [`TileHandle`]: a dashboard tile, its embed token and its embed config.

use crate::error::Result;
use crate::ids::TileId;
use crate::powerbi::call::non_empty_url;
use crate::powerbi::embed_config::EmbedConfig;
use crate::powerbi::handles::DashboardHandle;
use crate::powerbi::models::{EmbedToken, Tile};
use crate::powerbi::operation::Operation;
use crate::powerbi::request::{ForTile, GenerateTokenRequest};

/// A tile of a dashboard, from [`DashboardHandle::tile`].
#[derive(Debug, Clone, Copy)]
pub struct TileHandle<'a> {
    dashboard: DashboardHandle<'a>,
    id: TileId,
}

impl<'a> TileHandle<'a> {
    pub(crate) fn new(dashboard: DashboardHandle<'a>, id: TileId) -> Self {
        Self { dashboard, id }
    }

    /// The tile id.
    pub fn id(self) -> TileId {
        self.id
    }

    /// The dashboard it is on.
    pub fn dashboard(self) -> DashboardHandle<'a> {
        self.dashboard
    }

    /// The tile (`GET .../dashboards/{dashboardId}/tiles/{tileId}`).
    ///
    /// # Errors
    /// As [`WorkspaceHandle::get`](crate::WorkspaceHandle::get).
    pub async fn get(self) -> Result<Tile> {
        let path = self.dashboard.path(&format!("/tiles/{}", self.id));
        self.dashboard.workspace().view().get_json(path, "tile").await
    }

    /// An embed token for this tile.
    ///
    /// # Errors
    /// As [`ReportHandle::embed_token`](crate::ReportHandle::embed_token).
    pub async fn embed_token(self, request: &GenerateTokenRequest<ForTile>) -> Result<EmbedToken> {
        let workspace = self.dashboard.workspace();
        let operation = Operation::Tile { workspace: workspace.id(), dashboard: self.dashboard.id(), tile: self.id };
        workspace.view().generate(operation, request.body(), request.lifetime_minutes()).await
    }

    /// The config to embed this tile: its `embedUrl` and a token, concurrently.
    ///
    /// # Errors
    /// As [`ReportHandle::embed_config`](crate::ReportHandle::embed_config).
    pub async fn embed_config(self, request: &GenerateTokenRequest<ForTile>) -> Result<EmbedConfig> {
        let (tile, token) = tokio::try_join!(self.get(), self.embed_token(request))?;
        Ok(EmbedConfig::tile(self.dashboard.id(), tile.id, non_empty_url(tile.embed_url, "tile")?, token))
    }
}
