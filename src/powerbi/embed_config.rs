//! What the browser needs: a config `powerbi-client`'s `powerbi.embed()` accepts as it is.

use std::fmt;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use time::format_description::well_known::Rfc3339;

use crate::ids::{DashboardId, DatasetId, Guid, ReportId, TileId};
use crate::powerbi::models::EmbedToken;

/// The `type` of an embed config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EmbedType {
    /// `report` (also used for report creation, with `datasetId`).
    Report,
    /// `dashboard`.
    Dashboard,
    /// `tile`.
    Tile,
    /// `qna`.
    Qna,
}

impl EmbedType {
    /// The `type` string `powerbi-client` expects.
    pub fn as_str(self) -> &'static str {
        match self {
            EmbedType::Report => "report",
            EmbedType::Dashboard => "dashboard",
            EmbedType::Tile => "tile",
            EmbedType::Qna => "qna",
        }
    }
}

/// `tokenType` 1 is `models.TokenType.Embed` (0 would be an Entra token).
const TOKEN_TYPE_EMBED: u8 = 1;

/// An embed config for `powerbi-client`: serialize it and return it from your backend.
///
/// It serializes to `{type, id, embedUrl, accessToken, tokenType: 1, tokenId, expiration}`
/// (plus `dashboardId` for tiles, `datasetIds` for Q&A, `datasetId` for report creation), the
/// shape `powerbi.embed(element, config)` takes. **Serializing it writes the embed token**: that
/// is its purpose, so send it only to the user it was made for. `Debug` redacts the token.
///
/// ```
/// use powerbi_embed::{EmbedConfig, EmbedToken, Guid, ReportId};
/// use time::macros::datetime;
/// let token = EmbedToken::new("H4sI...", Guid::from_u128(7), datetime!(2026-01-01 10:00 UTC));
/// let config = EmbedConfig::report(ReportId::from_u128(1), "https://app.powerbi.com/reportEmbed?reportId=1", token);
/// let json = serde_json::to_value(&config).unwrap();
/// assert_eq!(json["type"], "report");
/// assert_eq!(json["tokenType"], 1);
/// assert_eq!(json["accessToken"], "H4sI...");
/// assert_eq!(json["expiration"], "2026-01-01T10:00:00Z");
/// assert!(!format!("{config:?}").contains("H4sI"));
/// ```
#[derive(Clone)]
pub struct EmbedConfig {
    kind: EmbedType,
    id: Option<Guid>,
    embed_url: String,
    token: EmbedToken,
    dashboard_id: Option<DashboardId>,
    dataset_ids: Vec<DatasetId>,
    dataset_id: Option<DatasetId>,
}

impl EmbedConfig {
    fn new(kind: EmbedType, embed_url: impl Into<String>, token: EmbedToken) -> Self {
        Self {
            kind,
            id: None,
            embed_url: embed_url.into(),
            token,
            dashboard_id: None,
            dataset_ids: Vec::new(),
            dataset_id: None,
        }
    }

    /// A report config.
    pub fn report(report_id: ReportId, embed_url: impl Into<String>, token: EmbedToken) -> Self {
        Self { id: Some(report_id.guid()), ..Self::new(EmbedType::Report, embed_url, token) }
    }

    /// A report-creation config (for `powerbi.createReport`).
    pub fn report_creation(dataset_id: DatasetId, embed_url: impl Into<String>, token: EmbedToken) -> Self {
        Self { dataset_id: Some(dataset_id), ..Self::new(EmbedType::Report, embed_url, token) }
    }

    /// A dashboard config.
    pub fn dashboard(dashboard_id: DashboardId, embed_url: impl Into<String>, token: EmbedToken) -> Self {
        Self { id: Some(dashboard_id.guid()), ..Self::new(EmbedType::Dashboard, embed_url, token) }
    }

    /// A tile config.
    pub fn tile(dashboard_id: DashboardId, tile_id: TileId, embed_url: impl Into<String>, token: EmbedToken) -> Self {
        Self {
            id: Some(tile_id.guid()),
            dashboard_id: Some(dashboard_id),
            ..Self::new(EmbedType::Tile, embed_url, token)
        }
    }

    /// A Q&A config over one dataset.
    pub fn qna(dataset_id: DatasetId, embed_url: impl Into<String>, token: EmbedToken) -> Self {
        Self { dataset_ids: vec![dataset_id], ..Self::new(EmbedType::Qna, embed_url, token) }
    }

    /// The embed type.
    pub fn kind(&self) -> EmbedType {
        self.kind
    }

    /// The item id (none for Q&A and report creation).
    pub fn id(&self) -> Option<Guid> {
        self.id
    }

    /// The embed URL.
    pub fn embed_url(&self) -> &str {
        &self.embed_url
    }

    /// The embed token.
    pub fn token(&self) -> &EmbedToken {
        &self.token
    }
}

impl Serialize for EmbedConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", self.kind.as_str())?;
        if let Some(id) = &self.id {
            map.serialize_entry("id", id)?;
        }
        if let Some(dashboard_id) = &self.dashboard_id {
            map.serialize_entry("dashboardId", dashboard_id)?;
        }
        if !self.dataset_ids.is_empty() {
            map.serialize_entry("datasetIds", &self.dataset_ids)?;
        }
        if let Some(dataset_id) = &self.dataset_id {
            map.serialize_entry("datasetId", dataset_id)?;
        }
        map.serialize_entry("embedUrl", &self.embed_url)?;
        map.serialize_entry("accessToken", self.token.secret().expose_secret())?;
        map.serialize_entry("tokenType", &TOKEN_TYPE_EMBED)?;
        map.serialize_entry("tokenId", &self.token.token_id())?;
        let expiration = self.token.expiration().format(&Rfc3339).map_err(serde::ser::Error::custom)?;
        map.serialize_entry("expiration", &expiration)?;
        map.end()
    }
}

impl fmt::Debug for EmbedConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbedConfig")
            .field("type", &self.kind.as_str())
            .field("id", &self.id)
            .field("embed_url", &self.embed_url)
            .field("token", &self.token)
            .field("dashboard_id", &self.dashboard_id)
            .field("dataset_ids", &self.dataset_ids)
            .field("dataset_id", &self.dataset_id)
            .finish()
    }
}
