//! The embed-token operations and their paths.

use std::borrow::Cow;

use crate::ids::{DashboardId, DatasetId, ReportId, TileId, WorkspaceId};
use crate::powerbi::request::RequestBody;

/// One `GenerateToken` endpoint with its ids: the part of an embed-token cache key that says
/// what the token is for (the request body says for whom and how).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// A report's token through the multi-resource route: the report's V1 request, sent as a V2
    /// body naming the report (and its dataset, from the lookup).
    ReportViaV2 {
        workspace: WorkspaceId,
        report: ReportId,
        dataset: Option<DatasetId>,
        edit: bool,
    },
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
            Operation::MultiResource | Operation::ReportViaV2 { .. } => "v1.0/myorg/GenerateToken".to_owned(),
        }
    }

    /// The body to send: the request's, plus what the operation holds and the request does not.
    pub fn body<'b>(&self, body: &'b RequestBody) -> Cow<'b, str> {
        match self {
            Operation::ReportCreation { dataset, .. } => {
                Cow::Owned(body.json_with_field_after_the_first("datasetId", dataset))
            }
            Operation::ReportViaV2 { workspace, report, dataset, edit } => {
                Cow::Owned(body.v1_as_v2(*workspace, *report, *dataset, *edit))
            }
            _ => Cow::Borrowed(body.json()),
        }
    }

    /// The key text of a cache entry: everything that tells two tokens apart, the dataset of a
    /// report creation included (it is in neither the path nor the request's body).
    pub fn key_text(&self, body: &RequestBody) -> String {
        format!("{}|{}", self.path(), self.body(body))
    }

    /// The operation and its ids folded into one word, for the embed-token cache's map: every
    /// hit hashes its key, and one word costs the map's hasher a fraction of the five 16-byte
    /// ids and discriminant a derived `Hash` would feed it. Equal operations fold alike; the map
    /// still compares keys whole, so two that fold alike only share a bucket.
    pub fn fingerprint(&self) -> u64 {
        let ids: [u128; 3] = match *self {
            Operation::Report { workspace, report } => [1, workspace.guid().as_u128(), report.guid().as_u128()],
            Operation::ReportCreation { workspace, dataset } => {
                [2, workspace.guid().as_u128(), dataset.guid().as_u128()]
            }
            Operation::Dashboard { workspace, dashboard } => {
                [3, workspace.guid().as_u128(), dashboard.guid().as_u128()]
            }
            Operation::Tile { workspace, dashboard, tile } => {
                [4 ^ tile.guid().as_u128(), workspace.guid().as_u128(), dashboard.guid().as_u128()]
            }
            Operation::Qna { workspace, dataset } => [5, workspace.guid().as_u128(), dataset.guid().as_u128()],
            Operation::MultiResource => [6, 0, 0],
            Operation::ReportViaV2 { workspace, report, dataset, edit } => [
                7 ^ (u128::from(edit) << 8),
                workspace.guid().as_u128() ^ dataset.map_or(0, |d| d.guid().as_u128()).rotate_left(64),
                report.guid().as_u128(),
            ],
        };
        ids.iter().fold(0, |folded, &id| fold(folded, id))
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
            Operation::ReportViaV2 { .. } => "report_via_v2",
        }
    }
}

/// Mixes a 128-bit id into `folded` (a multiply-rotate step, as in FxHash: cheap, and enough to
/// spread GUIDs, which are random already, across a map's buckets).
pub(crate) fn fold(folded: u64, id: u128) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let step = |acc: u64, word: u64| (acc.rotate_left(5) ^ word).wrapping_mul(K);
    step(step(folded, id as u64), (id >> 64) as u64)
}
