//! The test ids, one set for every test: the ids of Microsoft's sample answers
//! (`tests/fixtures/live/`, the learn.microsoft.com "Get Report In Group" and "Generate Token"
//! examples), so a fake's answer and a request's path name the same items.

use powerbi_embed::{DashboardId, DatasetId, ReportId, TileId, WorkspaceId};

/// The Entra tenant of every fake sign-in.
pub const TENANT: &str = "0b4ff5a2-3f2e-4c1a-9d6b-8a1e2f3c4d5e";
/// The app (client) id of every fake sign-in.
pub const CLIENT: &str = "11111111-2222-3333-4444-555555555555";

pub const WORKSPACE: WorkspaceId = WorkspaceId::from_u128(0xf089354e_8366_4e18_aea3_4cb4a3a50b48);
pub const REPORT: ReportId = ReportId::from_u128(0x5b218778_e7a5_4d73_8187_f10824047715);
pub const DATASET: DatasetId = DatasetId::from_u128(0xcfafbeb1_8037_4d0c_896e_a46fb27ff229);
pub const DASHBOARD: DashboardId = DashboardId::from_u128(0x69ffaa6c_b36d_4d01_96f5_1ed67c64d4af);
pub const TILE: TileId = TileId::from_u128(0x312fbfe9_2eda_44e0_9ed0_ab5dc571bb4b);

/// The same ids as text, as the fixtures spell them.
pub const FIXTURE_WORKSPACE: &str = "f089354e-8366-4e18-aea3-4cb4a3a50b48";
pub const FIXTURE_REPORT: &str = "5b218778-e7a5-4d73-8187-f10824047715";
pub const FIXTURE_DATASET: &str = "cfafbeb1-8037-4d0c-896e-a46fb27ff229";
pub const FIXTURE_DASHBOARD: &str = "69ffaa6c-b36d-4d01-96f5-1ed67c64d4af";
pub const FIXTURE_TILE: &str = "312fbfe9-2eda-44e0-9ed0-ab5dc571bb4b";
/// The `tokenId` of Microsoft's GenerateToken example answer.
pub const FIXTURE_TOKEN_ID: &str = "49ae3742-54c0-4c29-af52-619ff93b5c80";
