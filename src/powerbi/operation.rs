//! The embed-token operations and their paths.

use crate::ids::Guid;

/// One `GenerateToken` endpoint with its ids: the part of an embed-token cache key that says
/// what the token is for (the request body says for whom and how).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Operation {
    Report { workspace: Guid, report: Guid },
    ReportCreation { workspace: Guid },
    Dashboard { workspace: Guid, dashboard: Guid },
    Tile { workspace: Guid, dashboard: Guid, tile: Guid },
    Dataset { workspace: Guid, dataset: Guid },
    MultiResource,
}

impl Operation {
    /// The path under the API base.
    pub fn path(&self) -> String {
        match self {
            Operation::Report { workspace, report } => {
                format!("v1.0/myorg/groups/{workspace}/reports/{report}/GenerateToken")
            }
            Operation::ReportCreation { workspace } => format!("v1.0/myorg/groups/{workspace}/reports/GenerateToken"),
            Operation::Dashboard { workspace, dashboard } => {
                format!("v1.0/myorg/groups/{workspace}/dashboards/{dashboard}/GenerateToken")
            }
            Operation::Tile { workspace, dashboard, tile } => {
                format!("v1.0/myorg/groups/{workspace}/dashboards/{dashboard}/tiles/{tile}/GenerateToken")
            }
            Operation::Dataset { workspace, dataset } => {
                format!("v1.0/myorg/groups/{workspace}/datasets/{dataset}/GenerateToken")
            }
            Operation::MultiResource => "v1.0/myorg/GenerateToken".to_owned(),
        }
    }

    /// A name for logs and spans.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Report { .. } => "report",
            Operation::ReportCreation { .. } => "report_creation",
            Operation::Dashboard { .. } => "dashboard",
            Operation::Tile { .. } => "tile",
            Operation::Dataset { .. } => "dataset",
            Operation::MultiResource => "multi_resource",
        }
    }
}
