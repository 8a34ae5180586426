//! The handles: one per kind of item, each holding the view it was made from and the ids of its
//! path. They are `Copy` and borrow the client, so making one costs nothing; every operation on
//! an item is a method of its handle, and takes `self`, so its future owns the handle.

mod dashboard;
mod dataset;
mod report;
mod tile;
mod workspace;

pub use dashboard::DashboardHandle;
pub use dataset::DatasetHandle;
pub use report::{AadConfigBuilder, ReportHandle, VisualHandle};
pub use tile::TileHandle;
pub use workspace::WorkspaceHandle;
