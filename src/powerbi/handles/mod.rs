//! The handles: one per kind of item, each holding the view it was made from and the ids of its
//! path. They are `Copy` and borrow the client, so making one costs nothing; every operation on
//! an item is a method of its handle, and takes `self`, so its future owns the handle.

mod content;
mod dashboard;
mod dataset;
mod report;
mod tile;
mod workspace;
// Issue 19: profiles, provisioning, imports (content is above).
pub(crate) mod import;
pub(crate) mod profile;
pub(crate) mod provision;

pub use content::{
    CloneReportBuilder, Datasource, DatasourceConnection, DatasourceCredentials, DatasourceHandle, GatewayHandle,
    PrivacyLevel, Refresh,
};
pub use dashboard::DashboardHandle;
pub use dataset::DatasetHandle;
pub use import::{
    Import, ImportHandle, ImportPbixBuilder, ImportState, Imported, ImportedItem, NameConflict, PbixSource, LARGE_PBIX,
};
pub use profile::{Profile, ProfileHandle, ProfileListBuilder, ProfilesHandle, MAX_PROFILE_NAME};
pub use provision::{AssignToCapacityBuilder, Principal, WorkspaceRole, WorkspacesHandle, MAX_WORKSPACE_NAME};
pub use report::{AadConfigBuilder, ReportHandle, VisualHandle};
pub use tile::TileHandle;
pub use workspace::WorkspaceHandle;
