//! [`WorkspaceHandle`]: a workspace and the way to its items.

use crate::error::Result;
use crate::ids::{DashboardId, DatasetId, ReportId, WorkspaceId};
use crate::powerbi::handles::{DashboardHandle, DatasetHandle, ReportHandle};
use crate::powerbi::models::{Dashboard, Dataset, List, Report, Workspace};
use crate::powerbi::view::PowerBiView;

/// A workspace (Power BI calls it a group), from
/// [`PowerBiClient::workspace`](crate::PowerBiClient::workspace) or
/// [`PowerBiView::workspace`]: its own lookups, and the handles of its items.
#[derive(Debug, Clone, Copy)]
pub struct WorkspaceHandle<'a> {
    view: PowerBiView<'a>,
    id: WorkspaceId,
}

impl<'a> WorkspaceHandle<'a> {
    pub(crate) fn new(view: PowerBiView<'a>, id: WorkspaceId) -> Self {
        Self { view, id }
    }

    /// The workspace id.
    pub fn id(self) -> WorkspaceId {
        self.id
    }

    /// The view (profile, deadline, cache mode) this handle's calls are made through.
    pub fn view(self) -> PowerBiView<'a> {
        self.view
    }

    /// A report in this workspace.
    pub fn report(self, id: ReportId) -> ReportHandle<'a> {
        ReportHandle::new(self, id)
    }

    /// A dashboard in this workspace.
    pub fn dashboard(self, id: DashboardId) -> DashboardHandle<'a> {
        DashboardHandle::new(self, id)
    }

    /// A dataset (semantic model) in this workspace.
    pub fn dataset(self, id: DatasetId) -> DatasetHandle<'a> {
        DatasetHandle::new(self, id)
    }

    /// The workspace (`GET /v1.0/myorg/groups/{groupId}`): its name and whether it is on a
    /// dedicated capacity, which embedding for customers needs.
    ///
    /// # Errors
    /// [`Error::PowerBi`](crate::Error::PowerBi), [`Error::Entra`](crate::Error::Entra),
    /// [`Error::Transport`](crate::Error::Transport) or
    /// [`Error::UnexpectedResponse`](crate::Error::UnexpectedResponse) from the services.
    pub async fn get(self) -> Result<Workspace> {
        self.view.get_json(self.path(""), "workspace").await
    }

    /// The reports of this workspace.
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub async fn list_reports(self) -> Result<Vec<Report>> {
        self.view.get_json::<List<Report>>(self.path("/reports"), "report list").await.map(|l| l.value)
    }

    /// The dashboards of this workspace.
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub async fn list_dashboards(self) -> Result<Vec<Dashboard>> {
        self.view.get_json::<List<Dashboard>>(self.path("/dashboards"), "dashboard list").await.map(|l| l.value)
    }

    /// The datasets of this workspace.
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub async fn list_datasets(self) -> Result<Vec<Dataset>> {
        self.view.get_json::<List<Dataset>>(self.path("/datasets"), "dataset list").await.map(|l| l.value)
    }

    /// The path of this workspace, or of `rest` under it (`rest` starts with `/`).
    pub(crate) fn path(self, rest: &str) -> String {
        format!("v1.0/myorg/groups/{}{rest}", self.id)
    }
}
