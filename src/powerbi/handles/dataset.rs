//! [`DatasetHandle`]: a dataset (semantic model), Q&A over it, and reports created on it.

use crate::error::Result;
use crate::ids::DatasetId;
use crate::powerbi::call::non_empty_url;
use crate::powerbi::embed_config::EmbedConfig;
use crate::powerbi::handles::WorkspaceHandle;
use crate::powerbi::models::{Dataset, EmbedToken};
use crate::powerbi::operation::Operation;
use crate::powerbi::request::{ForQna, ForReportCreation, GenerateTokenRequest};

/// A dataset (semantic model) in a workspace, from [`WorkspaceHandle::dataset`].
#[derive(Debug, Clone, Copy)]
pub struct DatasetHandle<'a> {
    workspace: WorkspaceHandle<'a>,
    id: DatasetId,
}

impl<'a> DatasetHandle<'a> {
    pub(crate) fn new(workspace: WorkspaceHandle<'a>, id: DatasetId) -> Self {
        Self { workspace, id }
    }

    /// The dataset id.
    pub fn id(self) -> DatasetId {
        self.id
    }

    /// The workspace it is in.
    pub fn workspace(self) -> WorkspaceHandle<'a> {
        self.workspace
    }

    /// The dataset (`GET .../datasets/{datasetId}`), with its row-level-security flags and the
    /// embed URLs of Q&A and report creation.
    ///
    /// # Errors
    /// As [`WorkspaceHandle::get`].
    pub async fn get(self) -> Result<Dataset> {
        self.workspace.view().get_json(self.workspace.path(&format!("/datasets/{}", self.id)), "dataset").await
    }

    /// The dataset through the lookup cache (when it is on), for the config paths.
    async fn lookup(self) -> Result<std::sync::Arc<Dataset>> {
        self.workspace.view().lookup_dataset(self.workspace.id(), self.id).await
    }

    /// An embed token for Q&A over this dataset.
    ///
    /// # Errors
    /// As [`ReportHandle::embed_token`](crate::ReportHandle::embed_token).
    pub async fn qna_token(self, request: &GenerateTokenRequest<ForQna>) -> Result<EmbedToken> {
        let operation = Operation::Qna { workspace: self.workspace.id(), dataset: self.id };
        self.workspace.view().generate(operation, request.body(), request.lifetime_minutes()).await
    }

    /// The config to embed Q&A over this dataset: its `qnaEmbedURL` and a token, concurrently.
    ///
    /// # Errors
    /// As [`ReportHandle::embed_config`](crate::ReportHandle::embed_config).
    pub async fn qna_config(self, request: &GenerateTokenRequest<ForQna>) -> Result<EmbedConfig> {
        let (dataset, token) = tokio::try_join!(self.lookup(), self.qna_token(request))?;
        let url = non_empty_url(dataset.qna_embed_url.clone().unwrap_or_default(), "dataset (qnaEmbedURL)")?;
        Ok(EmbedConfig::qna(dataset.id, url, token))
    }

    /// A Create token: lets the user build a new report on this dataset, saved in this
    /// dataset's workspace (`POST .../reports/GenerateToken` with `datasetId`).
    ///
    /// # Errors
    /// As [`ReportHandle::embed_token`](crate::ReportHandle::embed_token).
    pub async fn create_report_token(self, request: &GenerateTokenRequest<ForReportCreation>) -> Result<EmbedToken> {
        let operation = Operation::ReportCreation { workspace: self.workspace.id(), dataset: self.id };
        self.workspace.view().generate(operation, request.body(), request.lifetime_minutes()).await
    }

    /// The config for `powerbi.createReport` on this dataset (`type: "create"`, `permissions`
    /// Create): its `createReportEmbedURL` (through the lookup cache when it is on) and a Create
    /// token, concurrently.
    ///
    /// # Errors
    /// As [`ReportHandle::embed_config`](crate::ReportHandle::embed_config).
    pub async fn create_report_config(self, request: &GenerateTokenRequest<ForReportCreation>) -> Result<EmbedConfig> {
        let (dataset, token) = tokio::try_join!(self.lookup(), self.create_report_token(request))?;
        let url = non_empty_url(
            dataset.create_report_embed_url.clone().unwrap_or_default(),
            "dataset (createReportEmbedURL)",
        )?;
        Ok(EmbedConfig::report_creation(dataset.id, url, token))
    }
}
