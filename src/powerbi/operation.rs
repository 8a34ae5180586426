//! The embed-token operations and their paths.

use std::borrow::Cow;

use crate::ids::{DashboardId, DatasetId, ReportId, TileId, WorkspaceId};
use crate::powerbi::request::RequestBody;

/// One `GenerateToken` endpoint with its ids: the part of an embed-token cache key that says
/// what the token is for (the request body says for whom and how).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Operation {
    Report {
        workspace: WorkspaceId,
        report: ReportId,
    },
    /// The dataset is not in the path but in the body (`datasetId`), added when sent.
    ReportCreation {
        workspace: WorkspaceId,
        dataset: DatasetId,
    },
    Dashboard {
        workspace: WorkspaceId,
        dashboard: DashboardId,
    },
    Tile {
        workspace: WorkspaceId,
        dashboard: DashboardId,
        tile: TileId,
    },
    Qna {
        workspace: WorkspaceId,
        dataset: DatasetId,
    },
    MultiResource,
}

impl Operation {
    /// The path under the API base.
    pub fn path(&self) -> String {
        match self {
            Operation::Report { workspace, report } => {
                format!("v1.0/myorg/groups/{workspace}/reports/{report}/GenerateToken")
            }
            Operation::ReportCreation { workspace, .. } => {
                format!("v1.0/myorg/groups/{workspace}/reports/GenerateToken")
            }
            Operation::Dashboard { workspace, dashboard } => {
                format!("v1.0/myorg/groups/{workspace}/dashboards/{dashboard}/GenerateToken")
            }
            Operation::Tile { workspace, dashboard, tile } => {
                format!("v1.0/myorg/groups/{workspace}/dashboards/{dashboard}/tiles/{tile}/GenerateToken")
            }
            Operation::Qna { workspace, dataset } => {
                format!("v1.0/myorg/groups/{workspace}/datasets/{dataset}/GenerateToken")
            }
            Operation::MultiResource => "v1.0/myorg/GenerateToken".to_owned(),
        }
    }

    /// The body to send: the request's, plus what the operation holds and the request does not.
    pub fn body<'b>(&self, body: &'b RequestBody) -> Cow<'b, str> {
        match self {
            Operation::ReportCreation { dataset, .. } => {
                Cow::Owned(body.json_with_field_after_the_first("datasetId", dataset))
            }
            _ => Cow::Borrowed(body.json()),
        }
    }

    /// The key text of a cache entry: everything that tells two tokens apart, the dataset of a
    /// report creation included (it is in neither the path nor the request's body).
    pub fn key_text(&self, body: &RequestBody) -> String {
        format!("{}|{}", self.path(), self.body(body))
    }

    /// A name for logs and spans.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Report { .. } => "report",
            Operation::ReportCreation { .. } => "report_creation",
            Operation::Dashboard { .. } => "dashboard",
            Operation::Tile { .. } => "tile",
            Operation::Qna { .. } => "qna",
            Operation::MultiResource => "multi_resource",
        }
    }
}
