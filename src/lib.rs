#![doc = include_str!("../README.md")]
#![warn(missing_docs, missing_debug_implementations)]
#![forbid(unsafe_code)]
// docs.rs builds with `--cfg docsrs` on nightly: feature-gated items show which feature they need.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod auth;
pub(crate) mod cache;
mod clock;
mod cloud;
mod error;
mod http;
mod ids;
pub mod powerbi;
mod secret;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use auth::CloudSettings;
pub use auth::{
    AadClient, AadClientBuilder, AccessToken, ClientSecretCredential, EntraEndpoint, StaticTokenCredential,
    TokenCredential, TokenRequestContext, UsernamePasswordCredential,
};
pub use auth::{
    AssertionAlgorithm, ClientAssertionCredential, ClientCertificateCredential, EnvironmentCredential,
    EnvironmentCredentialKind,
};
pub use auth::{DeviceCodeCredential, DeviceCodePrompt};
pub use auth::{ManagedIdentityCredential, ManagedIdentityId};
pub use cache::{MemoryStore, RefreshPolicy, SharedCache, SharedCacheStats, StoreError, StoreErrorKind, TokenStore};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use cache::{RedisStore, RedisStoreBuilder};
pub use clock::{Clock, ManualClock, SystemClock};
pub use cloud::{Cloud, CustomCloud};
pub use error::{
    CredentialErrorKind, EntraError, Error, PowerBiError, PowerBiErrorDetail, Result, TransportError,
    TransportErrorKind, UnexpectedResponse,
};
pub use http::{HttpOptions, RetryPolicy};
pub use ids::{
    CapacityId, DashboardId, DatasetId, DatasourceId, GatewayId, Guid, ImportId, InvalidGuid, ProfileId, ReportId,
    TileId, WorkspaceId,
};
pub use powerbi::{
    AccessLevel, Capacity, CapacityState, Dashboard, DashboardHandle, Dataset, DatasetHandle, DatasourceIdentity,
    DatasourceSelector, EffectiveIdentity, EmbedConfig, EmbedToken, EmbedType, ForDashboard, ForQna, ForReport,
    ForReportCreation, ForTile, GenerateTokenRequest, GenerateTokenRequestBuilder, GenerateTokenRequestV2,
    GenerateTokenRequestV2Builder, PowerBiClient, PowerBiClientBuilder, PowerBiView, Report, ReportHandle, ReportType,
    Tile, TileHandle, TokenKind, Workspace, WorkspaceHandle, XmlaPermissions,
};
// Issue 17: embedding scenarios.
pub use powerbi::{AadConfigBuilder, EmbedSettings, Permissions, TokenType, ViewMode, VisualHandle};
// Issue 19: profiles, provisioning, content and onboarding.
pub use powerbi::{
    AssignToCapacityBuilder, CloneReportBuilder, Datasource, DatasourceConnection, DatasourceCredentials,
    DatasourceHandle, GatewayHandle, Import, ImportHandle, ImportPbixBuilder, ImportState, Imported, ImportedItem,
    NameConflict, Offboarded, OnboardCustomer, Onboarded, OnboardingError, OnboardingStep, OperationFailed, PbixSource,
    Principal, PrivacyLevel, Profile, ProfileHandle, ProfileListBuilder, ProfilesHandle, Refresh, WorkspaceRole,
    WorkspacesHandle, LARGE_PBIX, MAX_PROFILE_NAME, MAX_WORKSPACE_NAME,
};
/// The HTTP client crate this one sends requests with, re-exported: build the client you give
/// [`HttpOptions::http_client`] with `powerbi_embed::reqwest::Client::builder()` and it is always
/// the version this crate links. A public dependency: a major reqwest upgrade is a breaking
/// release of this crate (see `docs/api.md`, decision 16).
pub use reqwest;
pub use secret::Secret;
/// The date-time crate used in this API (token expiries are [`time::OffsetDateTime`]).
pub use time;
