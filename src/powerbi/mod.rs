//! The Power BI side: [`PowerBiClient`], the `GenerateToken` request builders, the response
//! models and the embed configs the browser needs.

pub(crate) mod client;
pub(crate) mod embed_config;
pub(crate) mod error;
pub(crate) mod identity;
pub(crate) mod models;
pub(crate) mod operation;
pub(crate) mod request;

pub use client::{PowerBiClient, PowerBiClientBuilder};
pub use embed_config::{EmbedConfig, EmbedType};
pub use identity::EffectiveIdentity;
pub use models::{Capacity, CapacityState, Dashboard, Dataset, EmbedToken, Report, ReportType, Tile, Workspace};
pub use request::{
    AccessLevel, DatasourceIdentity, DatasourceSelector, GenerateTokenRequest, GenerateTokenRequestBuilder,
    GenerateTokenRequestV2, GenerateTokenRequestV2Builder, TokenTarget, XmlaPermissions,
};
