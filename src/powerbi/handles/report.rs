//! [`ReportHandle`]: a report, its embed token and its embed config.

use crate::error::Result;
use crate::ids::ReportId;
use crate::powerbi::call::non_empty_url;
use crate::powerbi::embed_config::EmbedConfig;
use crate::powerbi::handles::WorkspaceHandle;
use crate::powerbi::models::{EmbedToken, Report};
use crate::powerbi::operation::Operation;
use crate::powerbi::request::{ForReport, GenerateTokenRequest};

/// A report in a workspace, from [`WorkspaceHandle::report`].
#[derive(Debug, Clone, Copy)]
pub struct ReportHandle<'a> {
    workspace: WorkspaceHandle<'a>,
    id: ReportId,
}

impl<'a> ReportHandle<'a> {
    pub(crate) fn new(workspace: WorkspaceHandle<'a>, id: ReportId) -> Self {
        Self { workspace, id }
    }

    /// The report id.
    pub fn id(self) -> ReportId {
        self.id
    }

    /// The workspace it is in.
    pub fn workspace(self) -> WorkspaceHandle<'a> {
        self.workspace
    }

    /// The report (`GET .../reports/{reportId}`), always fresh from the service.
    ///
    /// # Errors
    /// As [`WorkspaceHandle::get`].
    pub async fn get(self) -> Result<Report> {
        self.workspace.view().get_json(self.workspace.path(&format!("/reports/{}", self.id)), "report").await
    }

    /// An embed token for this report (View or Edit, as the request was built), from the
    /// embed-token cache when it is on and holds one.
    ///
    /// # Errors
    /// [`Error::PowerBi`](crate::Error::PowerBi), [`Error::Entra`](crate::Error::Entra),
    /// [`Error::Transport`](crate::Error::Transport) or
    /// [`Error::UnexpectedResponse`](crate::Error::UnexpectedResponse) from the services. An
    /// Entra failure is an error only when the cached Entra token cannot give an embed token of
    /// at least [`EMBED_TOKEN_FLOOR`](crate::PowerBiClient::EMBED_TOKEN_FLOOR); above it, the
    /// embed token comes out shorter than asked instead.
    pub async fn embed_token(self, request: &GenerateTokenRequest<ForReport>) -> Result<EmbedToken> {
        let operation = Operation::Report { workspace: self.workspace.id(), report: self.id };
        self.workspace.view().generate(operation, request.body(), request.lifetime_minutes()).await
    }

    /// Everything the browser needs to embed this report: looks up its `embedUrl` and generates
    /// the token, concurrently.
    ///
    /// # Errors
    /// As [`embed_token`](Self::embed_token), plus
    /// [`Error::UnexpectedResponse`](crate::Error::UnexpectedResponse) if the report has no
    /// `embedUrl`.
    pub async fn embed_config(self, request: &GenerateTokenRequest<ForReport>) -> Result<EmbedConfig> {
        let (report, token) = tokio::try_join!(self.get(), self.embed_token(request))?;
        Ok(EmbedConfig::report(report.id, non_empty_url(report.embed_url, "report")?, token))
    }
}
