//! The Power BI side: [`PowerBiClient`] and its views, the handles of the items (workspace,
//! report, dashboard, tile, dataset), the `GenerateToken` request builders, the response models
//! and the embed configs the browser needs. `docs/api.md` explains the shape.

pub(crate) mod call;
pub(crate) mod client;
pub(crate) mod configs;
pub(crate) mod embed_config;
pub(crate) mod error;
pub(crate) mod failure;
pub(crate) mod handles;
pub(crate) mod identity;
pub(crate) mod lookup;
pub(crate) mod models;
pub(crate) mod operation;
pub(crate) mod request;
pub(crate) mod tenancy;
pub(crate) mod view;

pub use client::{PowerBiClient, PowerBiClientBuilder};
pub use embed_config::{EmbedConfig, EmbedSettings, EmbedType, Permissions, TokenType, ViewMode};
pub use handles::{
    AadConfigBuilder, DashboardHandle, DatasetHandle, ReportHandle, TileHandle, VisualHandle, WorkspaceHandle,
};
pub use identity::EffectiveIdentity;
pub use models::{Capacity, CapacityState, Dashboard, Dataset, EmbedToken, Report, ReportType, Tile, Workspace};
pub use request::{
    AccessLevel, DatasourceIdentity, DatasourceSelector, ForDashboard, ForQna, ForReport, ForReportCreation, ForTile,
    GenerateTokenRequest, GenerateTokenRequestBuilder, GenerateTokenRequestV2, GenerateTokenRequestV2Builder,
    TokenKind, XmlaPermissions,
};
pub use view::PowerBiView;
// Issue 19: profiles, provisioning, content and onboarding.
pub use failure::{OnboardingError, OnboardingStep, OperationFailed};
pub use handles::{
    AssignToCapacityBuilder, CloneReportBuilder, Datasource, DatasourceConnection, DatasourceCredentials,
    DatasourceHandle, GatewayHandle, Import, ImportHandle, ImportPbixBuilder, ImportState, Imported, ImportedItem,
    NameConflict, PbixSource, Principal, PrivacyLevel, Profile, ProfileHandle, ProfileListBuilder, ProfilesHandle,
    Refresh, WorkspaceRole, WorkspacesHandle, LARGE_PBIX, MAX_PROFILE_NAME, MAX_WORKSPACE_NAME,
};
pub use tenancy::{Offboarded, OnboardCustomer, Onboarded};
