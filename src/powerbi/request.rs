//! `GenerateToken` request bodies: typed builders that check every documented rule before any
//! network call, and serialize exactly to the published schema (camelCase, unset fields
//! omitted, never `null`).

use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::ids::Guid;
use crate::powerbi::identity::{EffectiveIdentity, WireIdentity};
use crate::secret::Secret;

/// What an embed token lets the user do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum AccessLevel {
    /// View only.
    View,
    /// View and edit (reports only).
    Edit,
    /// Create a new report from a dataset (report creation only).
    Create,
}

/// Which kind of item a V1 request is for; it decides which rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenTarget {
    /// An existing report (View or Edit).
    Report,
    /// A new report created from a dataset (Create).
    ReportCreation,
    /// A dashboard.
    Dashboard,
    /// A dashboard tile.
    Tile,
    /// A dataset, for Q&A.
    Dataset,
}

/// A validated `GenerateTokenRequest` (the V1, single-item body).
///
/// Start from the constructor for the item: [`report_view`](Self::report_view),
/// [`report_edit`](Self::report_edit), [`report_creation`](Self::report_creation),
/// [`dashboard`](Self::dashboard), [`tile`](Self::tile) or [`dataset`](Self::dataset).
///
/// ```
/// use powerbi_embed::{AccessLevel, EffectiveIdentity, GenerateTokenRequest};
/// let request = GenerateTokenRequest::report_edit()
///     .allow_save_as(true)
///     .lifetime_minutes(30)
///     .build()
///     .unwrap();
/// assert_eq!(request.access_level(), AccessLevel::Edit);
///
/// let err = GenerateTokenRequest::dashboard().access_level(AccessLevel::Edit).build().unwrap_err();
/// assert_eq!(err.field(), Some("accessLevel"));
/// ```
#[derive(Clone)]
pub struct GenerateTokenRequest {
    target: TokenTarget,
    access_level: AccessLevel,
    lifetime_minutes: Option<u32>,
    dataset_id: Option<String>,
    identities: usize,
    body: RequestBody,
}

impl GenerateTokenRequest {
    /// A View token for an existing report.
    pub fn report_view() -> GenerateTokenRequestBuilder {
        GenerateTokenRequestBuilder::new(TokenTarget::Report, AccessLevel::View)
    }

    /// An Edit token for an existing report.
    pub fn report_edit() -> GenerateTokenRequestBuilder {
        GenerateTokenRequestBuilder::new(TokenTarget::Report, AccessLevel::Edit)
    }

    /// A Create token: lets the user build a new report on `dataset_id`.
    pub fn report_creation(dataset_id: impl Into<String>) -> GenerateTokenRequestBuilder {
        let mut builder = GenerateTokenRequestBuilder::new(TokenTarget::ReportCreation, AccessLevel::Create);
        builder.dataset_id = Some(dataset_id.into());
        builder
    }

    /// A View token for a dashboard.
    pub fn dashboard() -> GenerateTokenRequestBuilder {
        GenerateTokenRequestBuilder::new(TokenTarget::Dashboard, AccessLevel::View)
    }

    /// A View token for a dashboard tile.
    pub fn tile() -> GenerateTokenRequestBuilder {
        GenerateTokenRequestBuilder::new(TokenTarget::Tile, AccessLevel::View)
    }

    /// A View token for a dataset (Q&A).
    pub fn dataset() -> GenerateTokenRequestBuilder {
        GenerateTokenRequestBuilder::new(TokenTarget::Dataset, AccessLevel::View)
    }

    /// The kind of item this request is for.
    pub fn target(&self) -> TokenTarget {
        self.target
    }

    /// The access level.
    pub fn access_level(&self) -> AccessLevel {
        self.access_level
    }

    /// The requested lifetime, if any.
    pub fn lifetime_minutes(&self) -> Option<u32> {
        self.lifetime_minutes
    }

    /// The dataset a Create token builds on.
    pub fn dataset_id(&self) -> Option<&str> {
        self.dataset_id.as_deref()
    }

    /// The exact JSON body sent to Power BI. It contains identity blobs (Azure SQL tokens) when
    /// the request has any, hence the name: do not log it.
    pub fn expose_json(&self) -> &str {
        self.body.json()
    }

    pub(crate) fn body(&self) -> &RequestBody {
        &self.body
    }
}

impl fmt::Debug for GenerateTokenRequest {
    // The body can hold an identity blob (an Azure SQL token), so it is summarised, not printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GenerateTokenRequest")
            .field("target", &self.target)
            .field("access_level", &self.access_level)
            .field("lifetime_minutes", &self.lifetime_minutes)
            .field("dataset_id", &self.dataset_id)
            .field("identities", &self.identities)
            .finish_non_exhaustive()
    }
}

/// Builds a [`GenerateTokenRequest`].
#[derive(Debug, Clone)]
#[must_use = "call .build() to get the request"]
pub struct GenerateTokenRequestBuilder {
    target: TokenTarget,
    access_level: AccessLevel,
    allow_save_as: Option<bool>,
    dataset_id: Option<String>,
    identities: Vec<EffectiveIdentity>,
    lifetime_minutes: Option<i64>,
}

impl GenerateTokenRequestBuilder {
    fn new(target: TokenTarget, access_level: AccessLevel) -> Self {
        Self {
            target,
            access_level,
            allow_save_as: None,
            dataset_id: None,
            identities: Vec::new(),
            lifetime_minutes: None,
        }
    }

    /// Sets the access level (checked against the target in `build`).
    pub fn access_level(mut self, access_level: AccessLevel) -> Self {
        self.access_level = access_level;
        self
    }

    /// Whether the user may "Save as" a new report (reports only).
    pub fn allow_save_as(mut self, allow: bool) -> Self {
        self.allow_save_as = Some(allow);
        self
    }

    /// Adds an RLS identity.
    pub fn identity(mut self, identity: EffectiveIdentity) -> Self {
        self.identities.push(identity);
        self
    }

    /// Adds RLS identities.
    pub fn identities(mut self, identities: impl IntoIterator<Item = EffectiveIdentity>) -> Self {
        self.identities.extend(identities);
        self
    }

    /// Shortens the token's life to this many minutes (it can never be extended beyond the
    /// Entra token's).
    pub fn lifetime_minutes(mut self, minutes: i64) -> Self {
        self.lifetime_minutes = Some(minutes);
        self
    }

    /// Checks every rule and serializes the body.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field: `accessLevel` (Edit on a non-report, Create
    /// outside report creation, View/Edit for report creation), `allowSaveAs` (not a report),
    /// `datasetId` (missing or not a GUID for Create), `lifetimeInMinutes` (zero or negative),
    /// `identities[i].…` (see [`EffectiveIdentity`]).
    pub fn build(self) -> Result<GenerateTokenRequest> {
        self.check_access()?;
        let dataset_id = match (&self.dataset_id, self.target) {
            (Some(id), TokenTarget::ReportCreation) => Some(Guid::parse_field("datasetId", id)?.to_string()),
            (None, TokenTarget::ReportCreation) => {
                return Err(Error::invalid(
                    "datasetId",
                    "report creation (Create) needs the dataset the report builds on",
                ))
            }
            _ => None,
        };
        let lifetime_minutes = check_lifetime(self.lifetime_minutes)?;
        for (i, identity) in self.identities.iter().enumerate() {
            identity.validate(i)?;
        }
        let wire = WireV1 {
            access_level: self.access_level,
            dataset_id: dataset_id.as_deref(),
            allow_save_as: self.allow_save_as,
            identities: self.identities.iter().map(EffectiveIdentity::wire).collect(),
            lifetime_in_minutes: lifetime_minutes,
        };
        let body = RequestBody::serialize(&wire)?;
        drop(wire);
        Ok(GenerateTokenRequest {
            target: self.target,
            access_level: self.access_level,
            lifetime_minutes,
            dataset_id,
            identities: self.identities.len(),
            body,
        })
    }

    fn check_access(&self) -> Result<()> {
        use AccessLevel::*;
        use TokenTarget::*;
        match (self.target, self.access_level) {
            (Report, View | Edit) | (ReportCreation, Create) | (Dashboard | Tile | Dataset, View) => {}
            (Report, Create) => {
                return Err(Error::invalid(
                    "accessLevel",
                    "Create is for report creation: use GenerateTokenRequest::report_creation(dataset_id)",
                ))
            }
            (ReportCreation, _) => return Err(Error::invalid("accessLevel", "report creation needs Create")),
            (_, level) => {
                return Err(Error::invalid(
                    "accessLevel",
                    format!("{level:?} applies to reports only; dashboards, tiles and datasets take View"),
                ))
            }
        }
        if self.allow_save_as.is_some() && !matches!(self.target, Report) {
            return Err(Error::invalid("allowSaveAs", "applies to reports only"));
        }
        Ok(())
    }
}

fn check_lifetime(minutes: Option<i64>) -> Result<Option<u32>> {
    match minutes {
        None => Ok(None),
        Some(m) if m <= 0 => {
            Err(Error::invalid("lifetimeInMinutes", format!("must be a positive number of minutes, not {m}")))
        }
        Some(m) => u32::try_from(m).map(Some).map_err(|_| Error::invalid("lifetimeInMinutes", "is too large")),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireV1<'a> {
    access_level: AccessLevel,
    #[serde(skip_serializing_if = "Option::is_none")]
    dataset_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allow_save_as: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    identities: Vec<WireIdentity<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lifetime_in_minutes: Option<u32>,
}

/// A serialized request body, shared (cloning a request is a reference-count increment) and
/// pre-hashed, so an embed-token cache lookup costs no serialization and no rehash.
#[derive(Clone)]
pub(crate) struct RequestBody {
    json: Arc<str>,
    hash: u64,
}

/// Room for a typical body (a few ids and identities), so serializing it does not regrow the
/// buffer three or four times (each regrowth a reallocation and a copy).
const TYPICAL_BODY_BYTES: usize = 1024;

impl RequestBody {
    fn serialize(wire: &impl Serialize) -> Result<Self> {
        let mut json = Vec::with_capacity(TYPICAL_BODY_BYTES);
        serde_json::to_writer(&mut json, wire)
            .map_err(|e| Error::invalid("request", format!("cannot serialize: {e}")))?;
        let json = String::from_utf8(json).expect("serde_json writes UTF-8");
        let mut hasher = DefaultHasher::new();
        json.hash(&mut hasher);
        Ok(Self { json: Arc::from(json), hash: hasher.finish() })
    }

    /// The JSON text (may contain identity blobs: never log it).
    pub fn json(&self) -> &str {
        &self.json
    }
}

impl PartialEq for RequestBody {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && (Arc::ptr_eq(&self.json, &other.json) || self.json == other.json)
    }
}

impl Eq for RequestBody {}

impl Hash for RequestBody {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// XMLA endpoint permission of a dataset in a V2 token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum XmlaPermissions {
    /// No XMLA access.
    Off,
    /// Read access through the XMLA endpoint.
    ReadOnly,
}

/// A validated `GenerateTokenRequestV2`: one token for several reports, datasets and target
/// workspaces (Microsoft's recommended form).
///
/// ```
/// use powerbi_embed::{EffectiveIdentity, GenerateTokenRequestV2, XmlaPermissions};
/// let request = GenerateTokenRequestV2::builder()
///     .report("5b218778-e7a5-4d73-8187-f10824047715")
///     .dataset("cfafbeb1-8037-4d0c-896e-a46fb27ff229")
///     .identity(EffectiveIdentity::new("user@contoso.com").role("Viewer").datasets(["cfafbeb1-8037-4d0c-896e-a46fb27ff229"]))
///     .lifetime_minutes(45)
///     .build()
///     .unwrap();
/// assert_eq!(request.lifetime_minutes(), Some(45));
/// assert_eq!(GenerateTokenRequestV2::builder().build().unwrap_err().field(), Some("request"));
/// ```
#[derive(Clone)]
pub struct GenerateTokenRequestV2 {
    reports: usize,
    datasets: usize,
    identities: usize,
    lifetime_minutes: Option<u32>,
    body: RequestBody,
}

impl GenerateTokenRequestV2 {
    /// A builder.
    pub fn builder() -> GenerateTokenRequestV2Builder {
        GenerateTokenRequestV2Builder::default()
    }

    /// The requested lifetime, if any.
    pub fn lifetime_minutes(&self) -> Option<u32> {
        self.lifetime_minutes
    }

    /// The exact JSON body sent to Power BI (may contain identity blobs: do not log it).
    pub fn expose_json(&self) -> &str {
        self.body.json()
    }

    pub(crate) fn body(&self) -> &RequestBody {
        &self.body
    }
}

impl fmt::Debug for GenerateTokenRequestV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GenerateTokenRequestV2")
            .field("reports", &self.reports)
            .field("datasets", &self.datasets)
            .field("identities", &self.identities)
            .field("lifetime_minutes", &self.lifetime_minutes)
            .finish_non_exhaustive()
    }
}

/// Builds a [`GenerateTokenRequestV2`].
#[derive(Debug, Clone, Default)]
#[must_use = "call .build() to get the request"]
pub struct GenerateTokenRequestV2Builder {
    reports: Vec<(String, Option<bool>)>,
    datasets: Vec<(String, Option<XmlaPermissions>)>,
    target_workspaces: Vec<String>,
    identities: Vec<EffectiveIdentity>,
    lifetime_minutes: Option<i64>,
    datasource_identities: Vec<DatasourceIdentity>,
}

impl GenerateTokenRequestV2Builder {
    /// Adds a report to view.
    pub fn report(mut self, report_id: impl Into<String>) -> Self {
        self.reports.push((report_id.into(), None));
        self
    }

    /// Adds a report with `allowEdit` set.
    pub fn report_with_edit(mut self, report_id: impl Into<String>, allow_edit: bool) -> Self {
        self.reports.push((report_id.into(), Some(allow_edit)));
        self
    }

    /// Adds a dataset (every report's dataset must be listed).
    pub fn dataset(mut self, dataset_id: impl Into<String>) -> Self {
        self.datasets.push((dataset_id.into(), None));
        self
    }

    /// Adds a dataset with XMLA permissions.
    pub fn dataset_with_xmla(mut self, dataset_id: impl Into<String>, permissions: XmlaPermissions) -> Self {
        self.datasets.push((dataset_id.into(), Some(permissions)));
        self
    }

    /// Adds a workspace the user may save new reports to.
    pub fn target_workspace(mut self, workspace_id: impl Into<String>) -> Self {
        self.target_workspaces.push(workspace_id.into());
        self
    }

    /// Adds an RLS identity.
    pub fn identity(mut self, identity: EffectiveIdentity) -> Self {
        self.identities.push(identity);
        self
    }

    /// Adds RLS identities.
    pub fn identities(mut self, identities: impl IntoIterator<Item = EffectiveIdentity>) -> Self {
        self.identities.extend(identities);
        self
    }

    /// Shortens the token's life to this many minutes.
    pub fn lifetime_minutes(mut self, minutes: i64) -> Self {
        self.lifetime_minutes = Some(minutes);
        self
    }

    /// Adds an identity for DirectQuery data sources with single sign-on.
    pub fn datasource_identity(mut self, identity: DatasourceIdentity) -> Self {
        self.datasource_identities.push(identity);
        self
    }

    /// Checks every rule and serializes the body.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field: `request` (no report and no dataset),
    /// `reports[i].id`, `datasets[i].id`, `targetWorkspaces[i].id` (not GUIDs),
    /// `lifetimeInMinutes`, `identities[i].…`, `datasourceIdentities[i].…`.
    pub fn build(self) -> Result<GenerateTokenRequestV2> {
        if self.reports.is_empty() && self.datasets.is_empty() {
            return Err(Error::invalid("request", "a V2 token needs at least one report or dataset"));
        }
        let reports = self
            .reports
            .iter()
            .enumerate()
            .map(|(i, (id, allow_edit))| {
                Ok(WireV2Report {
                    id: Guid::parse_field(format_args!("reports[{i}].id"), id)?,
                    allow_edit: *allow_edit,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let datasets = self
            .datasets
            .iter()
            .enumerate()
            .map(|(i, (id, xmla))| {
                Ok(WireV2Dataset {
                    id: Guid::parse_field(format_args!("datasets[{i}].id"), id)?,
                    xmla_permissions: *xmla,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let target_workspaces = self
            .target_workspaces
            .iter()
            .enumerate()
            .map(|(i, id)| Ok(WireId { id: Guid::parse_field(format_args!("targetWorkspaces[{i}].id"), id)? }))
            .collect::<Result<Vec<_>>>()?;
        let lifetime_minutes = check_lifetime(self.lifetime_minutes)?;
        for (i, identity) in self.identities.iter().enumerate() {
            identity.validate(i)?;
        }
        for (i, identity) in self.datasource_identities.iter().enumerate() {
            identity.validate(i)?;
        }
        let wire = WireV2 {
            datasets,
            reports,
            target_workspaces,
            identities: self.identities.iter().map(EffectiveIdentity::wire).collect(),
            lifetime_in_minutes: lifetime_minutes,
            datasource_identities: self.datasource_identities.iter().map(DatasourceIdentity::wire).collect(),
        };
        Ok(GenerateTokenRequestV2 {
            reports: self.reports.len(),
            datasets: self.datasets.len(),
            identities: self.identities.len(),
            lifetime_minutes,
            body: RequestBody::serialize(&wire)?,
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireV2<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    datasets: Vec<WireV2Dataset>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    reports: Vec<WireV2Report>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    target_workspaces: Vec<WireId>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    identities: Vec<WireIdentity<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lifetime_in_minutes: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    datasource_identities: Vec<WireDatasourceIdentity<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireV2Report {
    id: Guid,
    #[serde(skip_serializing_if = "Option::is_none")]
    allow_edit: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireV2Dataset {
    id: Guid,
    #[serde(skip_serializing_if = "Option::is_none")]
    xmla_permissions: Option<XmlaPermissions>,
}

#[derive(Serialize)]
struct WireId {
    id: Guid,
}

/// An identity for DirectQuery data sources with single sign-on (V2 `datasourceIdentities`).
///
/// ```
/// use powerbi_embed::{DatasourceIdentity, DatasourceSelector};
/// let identity = DatasourceIdentity::new("<Azure SQL access token>")
///     .datasource(DatasourceSelector::new("Sql").server("contoso.database.windows.net").database("sales"));
/// assert!(!format!("{identity:?}").contains("Azure SQL access token"));
/// ```
#[derive(Debug, Clone)]
pub struct DatasourceIdentity {
    identity_blob: Secret,
    datasources: Vec<DatasourceSelector>,
}

impl DatasourceIdentity {
    /// An identity whose blob (a secret token for the data source) is `identity_blob`.
    pub fn new(identity_blob: impl Into<Secret>) -> Self {
        Self { identity_blob: identity_blob.into(), datasources: Vec::new() }
    }

    /// Adds a data source this identity applies to.
    pub fn datasource(mut self, selector: DatasourceSelector) -> Self {
        self.datasources.push(selector);
        self
    }

    fn validate(&self, at: usize) -> Result<()> {
        if self.identity_blob.is_empty() {
            return Err(Error::invalid(format!("datasourceIdentities[{at}].identityBlob"), "is empty"));
        }
        if self.datasources.is_empty() {
            return Err(Error::invalid(
                format!("datasourceIdentities[{at}].datasources"),
                "needs at least one data source",
            ));
        }
        for (i, source) in self.datasources.iter().enumerate() {
            if source.datasource_type.trim().is_empty() {
                return Err(Error::invalid(
                    format!("datasourceIdentities[{at}].datasources[{i}].datasourceType"),
                    "is empty",
                ));
            }
        }
        Ok(())
    }

    fn wire(&self) -> WireDatasourceIdentity<'_> {
        WireDatasourceIdentity { identity_blob: self.identity_blob.expose_secret(), datasources: &self.datasources }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireDatasourceIdentity<'a> {
    identity_blob: &'a str,
    datasources: &'a [DatasourceSelector],
}

/// A data source, by type and connection details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasourceSelector {
    datasource_type: String,
    connection_details: ConnectionDetails,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
}

impl DatasourceSelector {
    /// A data source of `datasource_type` (e.g. `Sql`).
    pub fn new(datasource_type: impl Into<String>) -> Self {
        Self { datasource_type: datasource_type.into(), connection_details: ConnectionDetails::default() }
    }

    /// The server.
    pub fn server(mut self, server: impl Into<String>) -> Self {
        self.connection_details.server = Some(server.into());
        self
    }

    /// The database.
    pub fn database(mut self, database: impl Into<String>) -> Self {
        self.connection_details.database = Some(database.into());
        self
    }

    /// The URL.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.connection_details.url = Some(url.into());
        self
    }

    /// The path.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.connection_details.path = Some(path.into());
        self
    }
}
