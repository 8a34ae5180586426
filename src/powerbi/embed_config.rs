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
    /// `create`: a new report on a dataset (`powerbi.createReport`, or `powerbi.embed` with
    /// this type).
    Create,
    /// `visual`: one visual of a report page.
    Visual,
}

impl EmbedType {
    /// The `type` string `powerbi-client` expects.
    pub fn as_str(self) -> &'static str {
        match self {
            EmbedType::Report => "report",
            EmbedType::Dashboard => "dashboard",
            EmbedType::Tile => "tile",
            EmbedType::Qna => "qna",
            EmbedType::Create => "create",
            EmbedType::Visual => "visual",
        }
    }
}

/// What the config's `accessToken` is (`tokenType`, powerbi-models' `TokenType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenType {
    /// `0`: a Microsoft Entra access token of a user with a Power BI licence ("embed for your
    /// organization"); see [`ReportHandle::aad_config`](crate::ReportHandle::aad_config).
    Aad,
    /// `1`: a Power BI embed token from `GenerateToken` ("embed for your customers").
    Embed,
}

impl TokenType {
    /// The number `powerbi-client` expects.
    pub fn as_number(self) -> u8 {
        match self {
            TokenType::Aad => 0,
            TokenType::Embed => 1,
        }
    }
}

/// What the embedded item lets the user do (`permissions`, powerbi-models' `Permissions`).
///
/// powerbi-models' validator accepts exactly these five numbers, so rights are never combined
/// by hand: `ReadWrite | Copy` (3) would be refused by `powerbi.embed()`. An Edit token that may
/// also "Save as" gets [`All`](Self::All) (7), as Microsoft's edit-mode samples do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Permissions {
    /// `0`: view only.
    Read,
    /// `1`: view and edit.
    ReadWrite,
    /// `2`: view and "Save as" a copy.
    Copy,
    /// `4`: create a new report.
    Create,
    /// `7`: everything (read, write, copy and create).
    All,
}

impl Permissions {
    /// The number `powerbi-client` expects.
    pub fn as_number(self) -> u8 {
        match self {
            Permissions::Read => 0,
            Permissions::ReadWrite => 1,
            Permissions::Copy => 2,
            Permissions::Create => 4,
            Permissions::All => 7,
        }
    }

    /// The rights of a report token: Edit or View, with or without "Save as".
    pub(crate) fn for_report(edit: bool, save_as: bool) -> Self {
        match (edit, save_as) {
            (true, true) => Permissions::All,
            (true, false) => Permissions::ReadWrite,
            (false, true) => Permissions::Copy,
            (false, false) => Permissions::Read,
        }
    }
}

/// The mode a report opens in (`viewMode`, powerbi-models' `ViewMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ViewMode {
    /// `0`: reading (the default). With an Edit token the user can still switch to editing.
    #[default]
    View,
    /// `1`: editing; needs an Edit token.
    Edit,
}

impl ViewMode {
    /// The number `powerbi-client` expects.
    pub fn as_number(self) -> u8 {
        match self {
            ViewMode::View => 0,
            ViewMode::Edit => 1,
        }
    }
}

/// Common page options of a config (`settings`); unset options are left out, so
/// `powerbi-client`'s defaults apply.
///
/// ```
/// use powerbi_embed::EmbedSettings;
/// let settings = EmbedSettings::new().filter_pane(false).transparent_background(true);
/// assert_eq!(
///     serde_json::to_value(&settings).unwrap(),
///     serde_json::json!({"filterPaneEnabled": false, "background": 1})
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbedSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    filter_pane_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nav_content_pane_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bookmarks_pane_enabled: Option<bool>,
    /// powerbi-models' `BackgroundType`: 0 default, 1 transparent.
    #[serde(skip_serializing_if = "Option::is_none")]
    background: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hide_errors: Option<bool>,
}

impl EmbedSettings {
    /// No options set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Shows or hides the filter pane (`filterPaneEnabled`).
    pub fn filter_pane(mut self, enabled: bool) -> Self {
        self.filter_pane_enabled = Some(enabled);
        self
    }

    /// Shows or hides the page tabs (`navContentPaneEnabled`).
    pub fn nav_content_pane(mut self, enabled: bool) -> Self {
        self.nav_content_pane_enabled = Some(enabled);
        self
    }

    /// Shows or hides the bookmarks pane (`bookmarksPaneEnabled`).
    pub fn bookmarks_pane(mut self, enabled: bool) -> Self {
        self.bookmarks_pane_enabled = Some(enabled);
        self
    }

    /// A transparent background (`background: 1`) instead of the report's own.
    pub fn transparent_background(mut self, transparent: bool) -> Self {
        self.background = Some(u8::from(transparent));
        self
    }

    /// Hides the errors the report would show (`hideErrors`), for a page that shows its own.
    pub fn hide_errors(mut self, hide: bool) -> Self {
        self.hide_errors = Some(hide);
        self
    }
}

/// An embed config for `powerbi-client`: serialize it and return it from your backend.
///
/// It serializes to `{type, id, embedUrl, accessToken, tokenType: 1, tokenId, expiration}`
/// (plus `dashboardId` for tiles, `datasetIds` for Q&A, `datasetId` for report creation,
/// `pageName` and `visualName` for a visual, and `permissions`, `viewMode` and `settings` when
/// set), the shape `powerbi.embed(element, config)` takes. Report configs the client makes carry
/// the rights of their token: `permissions` Read (View token), Copy (View with `allowSaveAs`),
/// ReadWrite (Edit) or All (Edit with `allowSaveAs`), and the request's `viewMode`. **Serializing it writes the embed token**: that
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
    token_type: TokenType,
    permissions: Option<Permissions>,
    view_mode: Option<ViewMode>,
    page_name: Option<String>,
    visual_name: Option<String>,
    settings: Option<EmbedSettings>,
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
            token_type: TokenType::Embed,
            permissions: None,
            view_mode: None,
            page_name: None,
            visual_name: None,
            settings: None,
        }
    }

    /// A report config.
    pub fn report(report_id: ReportId, embed_url: impl Into<String>, token: EmbedToken) -> Self {
        Self { id: Some(report_id.guid()), ..Self::new(EmbedType::Report, embed_url, token) }
    }

    /// A report-creation config (`type: "create"`, for `powerbi.createReport` or
    /// `powerbi.embed`), with `permissions` Create.
    pub fn report_creation(dataset_id: DatasetId, embed_url: impl Into<String>, token: EmbedToken) -> Self {
        Self {
            dataset_id: Some(dataset_id),
            permissions: Some(Permissions::Create),
            ..Self::new(EmbedType::Create, embed_url, token)
        }
    }

    /// A config for one visual of a report page (`type: "visual"`, `pageName`, `visualName`).
    pub fn visual(
        report_id: ReportId,
        page_name: impl Into<String>,
        visual_name: impl Into<String>,
        embed_url: impl Into<String>,
        token: EmbedToken,
    ) -> Self {
        Self {
            id: Some(report_id.guid()),
            page_name: Some(page_name.into()),
            visual_name: Some(visual_name.into()),
            ..Self::new(EmbedType::Visual, embed_url, token)
        }
    }

    /// Sets `permissions` (report configs made by the client carry the rights of their token).
    pub fn with_permissions(mut self, permissions: Permissions) -> Self {
        self.permissions = Some(permissions);
        self
    }

    /// Sets `viewMode`.
    pub fn with_view_mode(mut self, view_mode: ViewMode) -> Self {
        self.view_mode = Some(view_mode);
        self
    }

    /// Opens the report on this page (`pageName`, the page's name, not its display name).
    pub fn with_page_name(mut self, page_name: impl Into<String>) -> Self {
        self.page_name = Some(page_name.into());
        self
    }

    /// Sets the page options (`settings`).
    pub fn with_settings(mut self, settings: EmbedSettings) -> Self {
        self.settings = Some(settings);
        self
    }

    /// Marks the token as a Microsoft Entra token (`tokenType: 0`, no `tokenId`).
    pub(crate) fn with_token_type(mut self, token_type: TokenType) -> Self {
        self.token_type = token_type;
        self
    }

    /// What the token is: an embed token, or (for "embed for your organization") an Entra token.
    pub fn token_type(&self) -> TokenType {
        self.token_type
    }

    /// The `permissions` it carries, if any.
    pub fn permissions(&self) -> Option<Permissions> {
        self.permissions
    }

    /// The `viewMode` it carries, if any.
    pub fn view_mode(&self) -> Option<ViewMode> {
        self.view_mode
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

    /// The token: an embed token, or for a [`TokenType::Aad`] config the Entra token (with a
    /// nil `token_id`).
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
        if let Some(page_name) = &self.page_name {
            map.serialize_entry("pageName", page_name)?;
        }
        if let Some(visual_name) = &self.visual_name {
            map.serialize_entry("visualName", visual_name)?;
        }
        map.serialize_entry("embedUrl", &self.embed_url)?;
        map.serialize_entry("accessToken", self.token.secret().expose_secret())?;
        map.serialize_entry("tokenType", &self.token_type.as_number())?;
        if self.token_type == TokenType::Embed {
            map.serialize_entry("tokenId", &self.token.token_id())?;
        }
        if let Some(permissions) = self.permissions {
            map.serialize_entry("permissions", &permissions.as_number())?;
        }
        if let Some(view_mode) = self.view_mode {
            map.serialize_entry("viewMode", &view_mode.as_number())?;
        }
        if let Some(settings) = &self.settings {
            map.serialize_entry("settings", settings)?;
        }
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
            .field("token_type", &self.token_type)
            .field("permissions", &self.permissions)
            .field("view_mode", &self.view_mode)
            .field("page_name", &self.page_name)
            .field("visual_name", &self.visual_name)
            .field("settings", &self.settings)
            .finish()
    }
}
