//! `GenerateToken` request bodies: typed builders that check every documented rule before any
//! network call, and serialize exactly to the published schema (camelCase, unset fields
//! omitted, never `null`).
//!
//! A V1 request carries its kind in its type ([`GenerateTokenRequest<ForReport>`], ...): the
//! constructor picks the kind and the access level, only the handle of that kind of item takes
//! it, and options that apply to one kind exist only on its builder. So a request sent to the
//! wrong kind of item, or an access level the item does not take, does not compile.

use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::ids::{DatasetId, ReportId, WorkspaceId};
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

mod sealed {
    pub trait Sealed {}
}

/// The kind of item a [`GenerateTokenRequest`] is for. Sealed: the kinds are the five
/// `GenerateToken` endpoints of the V1 API.
///
/// A handle takes only requests of its own kind:
///
/// ```no_run
/// # use powerbi_embed::{GenerateTokenRequest, PowerBiClient, ReportId, WorkspaceId};
/// # async fn f(client: &PowerBiClient, w: WorkspaceId, r: ReportId) -> powerbi_embed::Result<()> {
/// let request = GenerateTokenRequest::report_view().build()?;
/// client.workspace(w).report(r).embed_token(&request).await?;
/// # Ok(()) }
/// ```
///
/// and the same call with a dashboard's request does not compile:
///
/// ```compile_fail
/// # use powerbi_embed::{GenerateTokenRequest, PowerBiClient, ReportId, WorkspaceId};
/// # async fn f(client: &PowerBiClient, w: WorkspaceId, r: ReportId) -> powerbi_embed::Result<()> {
/// let request = GenerateTokenRequest::dashboard().build()?;
/// client.workspace(w).report(r).embed_token(&request).await?;
/// # Ok(()) }
/// ```
///
/// nor can an access level be changed after the constructor chose it:
///
/// ```compile_fail
/// use powerbi_embed::{AccessLevel, GenerateTokenRequest};
/// let _ = GenerateTokenRequest::dashboard().access_level(AccessLevel::Edit);
/// ```
pub trait TokenKind: sealed::Sealed + Send + Sync + 'static {
    /// A name for logs and errors.
    const NAME: &'static str;
}

macro_rules! token_kind {
    ($(#[$doc:meta])* $name:ident, $text:literal) => {
        $(#[$doc])*
        ///
        /// A marker type: it is never made, it only names the kind in
        /// `GenerateTokenRequest<Kind>`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {}
        impl sealed::Sealed for $name {}
        impl TokenKind for $name {
            const NAME: &'static str = $text;
        }
    };
}

token_kind!(
    /// An existing report, viewed or edited: taken by [`ReportHandle`](crate::ReportHandle).
    ForReport,
    "report"
);
token_kind!(
    /// A new report created on a dataset: taken by
    /// [`DatasetHandle::create_report_token`](crate::DatasetHandle::create_report_token).
    ForReportCreation,
    "report creation"
);
token_kind!(
    /// A dashboard: taken by [`DashboardHandle`](crate::DashboardHandle).
    ForDashboard,
    "dashboard"
);
token_kind!(
    /// A dashboard tile: taken by [`TileHandle`](crate::TileHandle).
    ForTile,
    "tile"
);
token_kind!(
    /// Q&A over a dataset: taken by [`DatasetHandle::qna_token`](crate::DatasetHandle::qna_token).
    ForQna,
    "Q&A"
);

/// A validated `GenerateTokenRequest` (the V1, single-item body) for one kind of item.
///
/// Start from the constructor for the item, which fixes the kind and the access level:
/// [`report_view`](GenerateTokenRequest::report_view) and
/// [`report_edit`](GenerateTokenRequest::report_edit) (`ForReport`),
/// [`report_creation`](GenerateTokenRequest::report_creation) (`ForReportCreation`),
/// [`dashboard`](GenerateTokenRequest::dashboard), [`tile`](GenerateTokenRequest::tile) and
/// [`qna`](GenerateTokenRequest::qna). Built once, a request is validated and serialized, and
/// cloning it is a reference-count increment, so a handler can keep one for every call.
///
/// ```
/// use powerbi_embed::{AccessLevel, EffectiveIdentity, ForReport, GenerateTokenRequest};
/// let request: GenerateTokenRequest<ForReport> = GenerateTokenRequest::report_edit()
///     .allow_save_as(true)
///     .lifetime_minutes(30)
///     .build()?;
/// assert_eq!(request.access_level(), AccessLevel::Edit);
/// assert_eq!(request.expose_json(), r#"{"accessLevel":"Edit","allowSaveAs":true,"lifetimeInMinutes":30}"#);
/// # Ok::<(), powerbi_embed::Error>(())
/// ```
///
/// A request for one kind cannot be sent to another, and options of one kind do not exist on
/// another's builder:
///
/// ```compile_fail
/// use powerbi_embed::GenerateTokenRequest;
/// let _ = GenerateTokenRequest::dashboard().allow_save_as(true); // allowSaveAs is for reports
/// ```
///
/// (while `GenerateTokenRequest::report_view().allow_save_as(true)` does, as above).
pub struct GenerateTokenRequest<K: TokenKind> {
    access_level: AccessLevel,
    lifetime_minutes: Option<u32>,
    identities: usize,
    body: RequestBody,
    page: PageChoices,
    kind: PhantomData<fn() -> K>,
}

/// What a request decides beyond its body: how the page opens, and the identity to send only
/// when the report's dataset asks for one. Not part of the body, and so not of the cache key
/// (the conditional identity enters the key as the body it turns into).
#[derive(Clone, Default)]
pub(crate) struct PageChoices {
    pub allow_save_as: bool,
    pub view_mode: Option<crate::powerbi::embed_config::ViewMode>,
    pub identity_if_required: Option<Arc<EffectiveIdentity>>,
}

impl<K: TokenKind> Clone for GenerateTokenRequest<K> {
    fn clone(&self) -> Self {
        Self {
            access_level: self.access_level,
            lifetime_minutes: self.lifetime_minutes,
            identities: self.identities,
            body: self.body.clone(),
            page: self.page.clone(),
            kind: PhantomData,
        }
    }
}

impl GenerateTokenRequest<ForReport> {
    /// A View token for an existing report.
    pub fn report_view() -> GenerateTokenRequestBuilder<ForReport> {
        GenerateTokenRequestBuilder::new(AccessLevel::View)
    }

    /// An Edit token for an existing report.
    pub fn report_edit() -> GenerateTokenRequestBuilder<ForReport> {
        GenerateTokenRequestBuilder::new(AccessLevel::Edit)
    }
}

impl GenerateTokenRequest<ForReportCreation> {
    /// A Create token: lets the user build a new report on the dataset whose handle sends it
    /// (`client.workspace(w).dataset(d).create_report_config(&request)`). The dataset id is
    /// written into the body (`datasetId`) when the request is sent.
    pub fn report_creation() -> GenerateTokenRequestBuilder<ForReportCreation> {
        GenerateTokenRequestBuilder::new(AccessLevel::Create)
    }
}

impl GenerateTokenRequest<ForDashboard> {
    /// A View token for a dashboard.
    pub fn dashboard() -> GenerateTokenRequestBuilder<ForDashboard> {
        GenerateTokenRequestBuilder::new(AccessLevel::View)
    }
}

impl GenerateTokenRequest<ForTile> {
    /// A View token for a dashboard tile.
    pub fn tile() -> GenerateTokenRequestBuilder<ForTile> {
        GenerateTokenRequestBuilder::new(AccessLevel::View)
    }
}

impl GenerateTokenRequest<ForQna> {
    /// A View token for Q&A over a dataset.
    pub fn qna() -> GenerateTokenRequestBuilder<ForQna> {
        GenerateTokenRequestBuilder::new(AccessLevel::View)
    }
}

impl<K: TokenKind> GenerateTokenRequest<K> {
    /// The access level.
    pub fn access_level(&self) -> AccessLevel {
        self.access_level
    }

    /// The requested lifetime, if any.
    pub fn lifetime_minutes(&self) -> Option<u32> {
        self.lifetime_minutes
    }

    /// The exact JSON body sent to Power BI (for report creation, without the `datasetId` the
    /// dataset's handle adds). It contains identity blobs (Azure SQL tokens) when the request
    /// has any, hence the name: do not log it.
    pub fn expose_json(&self) -> &str {
        self.body.json()
    }

    pub(crate) fn body(&self) -> &RequestBody {
        &self.body
    }

    pub(crate) fn page(&self) -> &PageChoices {
        &self.page
    }

    /// The V1 body with `identity` added, for an identity sent only because the dataset needs
    /// one. Serialized per call: such requests differ per dataset lookup.
    pub(crate) fn body_with_identity(&self, identity: &EffectiveIdentity) -> Result<RequestBody> {
        identity.validate(0)?;
        let wire = WireV1 {
            access_level: self.access_level,
            allow_save_as: self.page.allow_save_as.then_some(true),
            identities: vec![identity.wire()],
            lifetime_in_minutes: self.lifetime_minutes,
        };
        RequestBody::serialize(&wire)
    }
}

impl<K: TokenKind> fmt::Debug for GenerateTokenRequest<K> {
    // The body can hold an identity blob (an Azure SQL token), so it is summarised, not printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GenerateTokenRequest")
            .field("kind", &K::NAME)
            .field("access_level", &self.access_level)
            .field("lifetime_minutes", &self.lifetime_minutes)
            .field("identities", &self.identities)
            .finish_non_exhaustive()
    }
}

/// Builds a [`GenerateTokenRequest`] of kind `K`.
#[must_use = "call .build() to get the request"]
pub struct GenerateTokenRequestBuilder<K: TokenKind> {
    access_level: AccessLevel,
    allow_save_as: Option<bool>,
    identities: Vec<EffectiveIdentity>,
    lifetime_minutes: Option<i64>,
    view_mode: Option<crate::powerbi::embed_config::ViewMode>,
    identity_if_required: Option<EffectiveIdentity>,
    kind: PhantomData<fn() -> K>,
}

impl<K: TokenKind> Clone for GenerateTokenRequestBuilder<K> {
    fn clone(&self) -> Self {
        Self {
            access_level: self.access_level,
            allow_save_as: self.allow_save_as,
            identities: self.identities.clone(),
            lifetime_minutes: self.lifetime_minutes,
            view_mode: self.view_mode,
            identity_if_required: self.identity_if_required.clone(),
            kind: PhantomData,
        }
    }
}

impl<K: TokenKind> fmt::Debug for GenerateTokenRequestBuilder<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GenerateTokenRequestBuilder")
            .field("kind", &K::NAME)
            .field("access_level", &self.access_level)
            .field("allow_save_as", &self.allow_save_as)
            .field("identities", &self.identities)
            .field("lifetime_minutes", &self.lifetime_minutes)
            .field("view_mode", &self.view_mode)
            .field("identity_if_required", &self.identity_if_required)
            .finish()
    }
}

impl GenerateTokenRequestBuilder<ForReport> {
    /// Whether the user may "Save as" a new report (`allowSaveAs`; reports only). The config
    /// then carries `permissions` Copy (View token) or All (Edit token).
    pub fn allow_save_as(mut self, allow: bool) -> Self {
        self.allow_save_as = Some(allow);
        self
    }

    /// The mode the report opens in (`viewMode` of the config; default
    /// [`View`](crate::ViewMode::View)). [`Edit`](crate::ViewMode::Edit) needs an Edit token
    /// ([`report_edit`](GenerateTokenRequest::report_edit)); `build()` refuses it on a View
    /// token, naming `viewMode`. Page-only: not sent to Power BI, not part of the cache key.
    pub fn view_mode(mut self, view_mode: crate::powerbi::embed_config::ViewMode) -> Self {
        self.view_mode = Some(view_mode);
        self
    }

    /// Row-level security from the data: the report handle looks up the report and its dataset
    /// (through the lookup cache, when it is on) and sends `identity` only when the dataset
    /// says `isEffectiveIdentityRequired`, with the dataset's id filled in when the identity
    /// names no dataset. When the dataset also says `isEffectiveIdentityRolesRequired` and the
    /// identity has no role, the call fails with [`Error::InvalidInput`] naming
    /// `identities[0].roles` before any `GenerateToken`. A dataset without RLS gets no identity,
    /// and so does a report without a dataset (a paginated report on its own data sources,
    /// whose RLS reads the identity as `UserID`: give it one with
    /// [`EffectiveIdentity::reports`] instead).
    ///
    /// Replaces [`identity`](Self::identity): `build()` refuses both together, naming
    /// `identities`. The rest of the identity's rules are checked by `build()`.
    ///
    /// ```
    /// use powerbi_embed::{EffectiveIdentity, GenerateTokenRequest};
    /// let request = GenerateTokenRequest::report_view()
    ///     .identity_if_required(EffectiveIdentity::new("customer-42@contoso.com").role("Customer"))
    ///     .build()?;
    /// assert_eq!(request.expose_json(), r#"{"accessLevel":"View"}"#); // until the dataset is known
    /// # Ok::<(), powerbi_embed::Error>(())
    /// ```
    pub fn identity_if_required(mut self, identity: EffectiveIdentity) -> Self {
        self.identity_if_required = Some(identity);
        self
    }
}

impl<K: TokenKind> GenerateTokenRequestBuilder<K> {
    fn new(access_level: AccessLevel) -> Self {
        Self {
            access_level,
            allow_save_as: None,
            identities: Vec::new(),
            lifetime_minutes: None,
            view_mode: None,
            identity_if_required: None,
            kind: PhantomData,
        }
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
    /// [`Error::InvalidInput`] naming the field: `lifetimeInMinutes` (zero or negative),
    /// `identities[i].…` (see [`EffectiveIdentity`]), `viewMode` (Edit on a View token),
    /// `identities` (both `identity` and `identity_if_required`).
    pub fn build(self) -> Result<GenerateTokenRequest<K>> {
        let lifetime_minutes = check_lifetime(self.lifetime_minutes)?;
        for (i, identity) in self.identities.iter().enumerate() {
            identity.validate(i)?;
        }
        if self.view_mode == Some(crate::powerbi::embed_config::ViewMode::Edit)
            && self.access_level != AccessLevel::Edit
        {
            return Err(Error::invalid("viewMode", "Edit needs an Edit token (GenerateTokenRequest::report_edit)"));
        }
        if let Some(identity) = &self.identity_if_required {
            if !self.identities.is_empty() {
                return Err(Error::invalid(
                    "identities",
                    "identity_if_required replaces identity(): give the identity once",
                ));
            }
            identity.validate_before_lookup(0)?;
        }
        let wire = WireV1 {
            access_level: self.access_level,
            allow_save_as: self.allow_save_as,
            identities: self.identities.iter().map(EffectiveIdentity::wire).collect(),
            lifetime_in_minutes: lifetime_minutes,
        };
        let body = RequestBody::serialize(&wire)?;
        drop(wire);
        let page = PageChoices {
            allow_save_as: self.allow_save_as == Some(true),
            view_mode: self.view_mode,
            identity_if_required: self.identity_if_required.map(Arc::new),
        };
        Ok(GenerateTokenRequest {
            access_level: self.access_level,
            lifetime_minutes,
            identities: self.identities.len(),
            body,
            page,
            kind: PhantomData,
        })
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

    /// The hash of the JSON text, computed once when the request was built.
    pub fn precomputed_hash(&self) -> u64 {
        self.hash
    }

    /// The JSON text with `"name":"value"` added after its first field, for a field the handle
    /// knows and the request does not (the `datasetId` of report creation, which the schema
    /// lists right after `accessLevel`). Every V1 body starts with `{"accessLevel":"<level>"`,
    /// whose value holds no comma. Only called when a request is actually sent, never on a
    /// cache hit.
    pub fn json_with_field_after_the_first(&self, name: &str, value: impl fmt::Display) -> String {
        let json = &*self.json;
        let first_end = json.find(',').unwrap_or(json.len().saturating_sub(1));
        format!("{},\"{name}\":\"{value}\"{}", &json[..first_end], &json[first_end..])
    }
}

impl RequestBody {
    /// A report's V1 body as the V2 body for the same token: the report (with `allowEdit` for
    /// an Edit token), its dataset, and the report's workspace as `targetWorkspaces` when the
    /// V1 body allowed "Save as" (V2 has no `allowSaveAs`); identities and lifetime as they
    /// are. Every V1 body this crate writes starts `{"accessLevel":"<level>"` and then
    /// optionally `,"allowSaveAs":<bool>`, neither holding a comma of its own.
    pub fn v1_as_v2(&self, workspace: WorkspaceId, report: ReportId, dataset: Option<DatasetId>, edit: bool) -> String {
        let json = &*self.json;
        let mut rest = json.find(',').map_or("}", |comma| &json[comma..]);
        let mut save_as = false;
        for (prefix, allowed) in [(",\"allowSaveAs\":true", true), (",\"allowSaveAs\":false", false)] {
            if let Some(after) = rest.strip_prefix(prefix) {
                rest = after;
                save_as = allowed;
            }
        }
        let mut v2 = String::with_capacity(json.len() + 160);
        v2.push('{');
        if let Some(dataset) = dataset {
            v2.push_str(&format!("\"datasets\":[{{\"id\":\"{dataset}\"}}],"));
        }
        v2.push_str(&format!("\"reports\":[{{\"id\":\"{report}\""));
        if edit {
            v2.push_str(",\"allowEdit\":true");
        }
        v2.push_str("}]");
        if save_as {
            v2.push_str(&format!(",\"targetWorkspaces\":[{{\"id\":\"{workspace}\"}}]"));
        }
        v2.push_str(rest);
        v2
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
/// use powerbi_embed::{DatasetId, EffectiveIdentity, GenerateTokenRequestV2, ReportId};
/// let report: ReportId = "5b218778-e7a5-4d73-8187-f10824047715".parse()?;
/// let dataset: DatasetId = "cfafbeb1-8037-4d0c-896e-a46fb27ff229".parse()?;
/// let request = GenerateTokenRequestV2::builder()
///     .report(report)
///     .dataset(dataset)
///     .identity(EffectiveIdentity::new("user@contoso.com").role("Viewer").datasets([dataset]))
///     .lifetime_minutes(45)
///     .build()?;
/// assert_eq!(request.lifetime_minutes(), Some(45));
/// assert_eq!(GenerateTokenRequestV2::builder().build().unwrap_err().field(), Some("request"));
/// # Ok::<(), powerbi_embed::Error>(())
/// ```
#[derive(Clone)]
pub struct GenerateTokenRequestV2 {
    reports: usize,
    datasets: usize,
    identities: usize,
    lifetime_minutes: Option<u32>,
    body: RequestBody,
    configs: Arc<V2Configs>,
}

/// What [`PowerBiView::embed_configs`](crate::PowerBiView::embed_configs) needs beyond the body:
/// where each item is, and how the pages open.
#[derive(Debug, Default)]
pub(crate) struct V2Configs {
    pub located: Vec<Located>,
    pub view_mode: Option<crate::powerbi::embed_config::ViewMode>,
    pub save_as: bool,
}

/// An item of a V2 request whose workspace is known, so its embed URL can be looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Located {
    Report { workspace: WorkspaceId, report: ReportId, edit: bool },
    Creation { workspace: WorkspaceId, dataset: DatasetId },
}

/// The most reports, datasets and target workspaces one V2 request may name (Microsoft's
/// "Embed Token - Generate Token" reference: "up to 50").
const MAX_V2_ITEMS: usize = 50;

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

    pub(crate) fn configs(&self) -> &V2Configs {
        &self.configs
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
    reports: Vec<WireV2Report>,
    datasets: Vec<WireV2Dataset>,
    target_workspaces: Vec<WireId>,
    identities: Vec<EffectiveIdentity>,
    lifetime_minutes: Option<i64>,
    datasource_identities: Vec<DatasourceIdentity>,
    located: Vec<Located>,
    view_mode: Option<crate::powerbi::embed_config::ViewMode>,
}

impl GenerateTokenRequestV2Builder {
    /// Adds a report to view, in `workspace`, so that
    /// [`embed_configs`](crate::PowerBiView::embed_configs) can look up its `embedUrl` and make
    /// its config (a Power BI or a paginated report alike).
    pub fn report_in(mut self, workspace: WorkspaceId, report_id: ReportId) -> Self {
        self.located.push(Located::Report { workspace, report: report_id, edit: false });
        self.report(report_id)
    }

    /// Adds a report the user may edit (`allowEdit: true`), in `workspace`, for
    /// [`embed_configs`](crate::PowerBiView::embed_configs): its config carries `permissions`
    /// ReadWrite (All with target workspaces, which allow "Save as") and the
    /// [`view_mode`](Self::view_mode).
    pub fn edit_report_in(mut self, workspace: WorkspaceId, report_id: ReportId) -> Self {
        self.located.push(Located::Report { workspace, report: report_id, edit: true });
        self.report_with_edit(report_id, true)
    }

    /// Adds `dataset` (in `workspace`) for creating a new report on it: with
    /// [`embed_configs`](crate::PowerBiView::embed_configs), a `type: "create"` config with the
    /// dataset's `createReportEmbedURL`. Name where the new report may be saved with
    /// [`target_workspace`](Self::target_workspace).
    pub fn create_report_on(mut self, workspace: WorkspaceId, dataset_id: DatasetId) -> Self {
        self.located.push(Located::Creation { workspace, dataset: dataset_id });
        self.dataset(dataset_id)
    }

    /// The mode the editable reports' configs open in (`viewMode`; default View). Page-only:
    /// not sent. `build()` refuses Edit when no report allows editing, naming `viewMode`.
    pub fn view_mode(mut self, view_mode: crate::powerbi::embed_config::ViewMode) -> Self {
        self.view_mode = Some(view_mode);
        self
    }

    /// Adds a report to view.
    pub fn report(mut self, report_id: ReportId) -> Self {
        self.reports.push(WireV2Report { id: report_id, allow_edit: None });
        self
    }

    /// Adds a report with `allowEdit` set.
    pub fn report_with_edit(mut self, report_id: ReportId, allow_edit: bool) -> Self {
        self.reports.push(WireV2Report { id: report_id, allow_edit: Some(allow_edit) });
        self
    }

    /// Adds a dataset (every report's dataset must be listed).
    pub fn dataset(mut self, dataset_id: DatasetId) -> Self {
        self.datasets.push(WireV2Dataset { id: dataset_id, xmla_permissions: None });
        self
    }

    /// Adds a dataset with XMLA permissions.
    pub fn dataset_with_xmla(mut self, dataset_id: DatasetId, permissions: XmlaPermissions) -> Self {
        self.datasets.push(WireV2Dataset { id: dataset_id, xmla_permissions: Some(permissions) });
        self
    }

    /// Adds a workspace the user may save new reports to.
    pub fn target_workspace(mut self, workspace_id: WorkspaceId) -> Self {
        self.target_workspaces.push(WireId { id: workspace_id });
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
    /// `reports`, `datasets`, `targetWorkspaces` (more than 50 each), `lifetimeInMinutes`,
    /// `identities[i].…`, `datasourceIdentities[i].…`, `viewMode` (Edit with no editable
    /// report).
    pub fn build(self) -> Result<GenerateTokenRequestV2> {
        if self.reports.is_empty() && self.datasets.is_empty() {
            return Err(Error::invalid("request", "a V2 token needs at least one report or dataset"));
        }
        for (field, count) in [
            ("reports", self.reports.len()),
            ("datasets", self.datasets.len()),
            ("targetWorkspaces", self.target_workspaces.len()),
        ] {
            if count > MAX_V2_ITEMS {
                return Err(Error::invalid(field, format!("has {count} entries; at most {MAX_V2_ITEMS} are allowed")));
            }
        }
        let editable = self.reports.iter().any(|r| r.allow_edit == Some(true));
        if self.view_mode == Some(crate::powerbi::embed_config::ViewMode::Edit) && !editable {
            return Err(Error::invalid("viewMode", "Edit needs a report that allows editing (edit_report_in)"));
        }
        let lifetime_minutes = check_lifetime(self.lifetime_minutes)?;
        for (i, identity) in self.identities.iter().enumerate() {
            identity.validate(i)?;
        }
        for (i, identity) in self.datasource_identities.iter().enumerate() {
            identity.validate(i)?;
        }
        let wire = WireV2 {
            datasets: &self.datasets,
            reports: &self.reports,
            target_workspaces: &self.target_workspaces,
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
            configs: Arc::new(V2Configs {
                located: self.located,
                view_mode: self.view_mode,
                save_as: !self.target_workspaces.is_empty(),
            }),
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireV2<'a> {
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    datasets: &'a [WireV2Dataset],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    reports: &'a [WireV2Report],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    target_workspaces: &'a [WireId],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    identities: Vec<WireIdentity<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lifetime_in_minutes: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    datasource_identities: Vec<WireDatasourceIdentity<'a>>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct WireV2Report {
    id: ReportId,
    #[serde(skip_serializing_if = "Option::is_none")]
    allow_edit: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct WireV2Dataset {
    id: DatasetId,
    #[serde(skip_serializing_if = "Option::is_none")]
    xmla_permissions: Option<XmlaPermissions>,
}

#[derive(Debug, Clone, Serialize)]
struct WireId {
    id: WorkspaceId,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    login_server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    class_info: Option<String>,
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

    /// The connection's kind (`kind`).
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.connection_details.kind = Some(kind.into());
        self
    }

    /// The account (`account`).
    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.connection_details.account = Some(account.into());
        self
    }

    /// The domain (`domain`).
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.connection_details.domain = Some(domain.into());
        self
    }

    /// The email address (`emailAddress`).
    pub fn email_address(mut self, email_address: impl Into<String>) -> Self {
        self.connection_details.email_address = Some(email_address.into());
        self
    }

    /// The login server (`loginServer`).
    pub fn login_server(mut self, login_server: impl Into<String>) -> Self {
        self.connection_details.login_server = Some(login_server.into());
        self
    }

    /// The class information (`classInfo`).
    pub fn class_info(mut self, class_info: impl Into<String>) -> Self {
        self.connection_details.class_info = Some(class_info.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_request_becomes_the_v2_body_for_the_same_token() {
        let w = WorkspaceId::from_u128(1);
        let r = ReportId::from_u128(2);
        let d = DatasetId::from_u128(3);
        let view = GenerateTokenRequest::report_view().lifetime_minutes(5).build().unwrap();
        assert_eq!(
            view.body().v1_as_v2(w, r, Some(d), false),
            format!(r#"{{"datasets":[{{"id":"{d}"}}],"reports":[{{"id":"{r}"}}],"lifetimeInMinutes":5}}"#)
        );
        let edit = GenerateTokenRequest::report_edit().allow_save_as(true).build().unwrap();
        assert_eq!(
            edit.body().v1_as_v2(w, r, None, true),
            format!(r#"{{"reports":[{{"id":"{r}","allowEdit":true}}],"targetWorkspaces":[{{"id":"{w}"}}]}}"#)
        );
        let no_save = GenerateTokenRequest::report_edit().allow_save_as(false).build().unwrap();
        assert_eq!(
            no_save.body().v1_as_v2(w, r, None, true),
            format!(r#"{{"reports":[{{"id":"{r}","allowEdit":true}}]}}"#)
        );
    }

    #[test]
    fn the_handle_field_goes_after_the_access_level_as_the_schema_orders_them() {
        let bare = GenerateTokenRequest::report_creation().build().unwrap();
        assert_eq!(
            bare.body().json_with_field_after_the_first("datasetId", "d"),
            r#"{"accessLevel":"Create","datasetId":"d"}"#
        );
        let full = GenerateTokenRequest::report_creation().lifetime_minutes(5).build().unwrap();
        assert_eq!(
            full.body().json_with_field_after_the_first("datasetId", "d"),
            r#"{"accessLevel":"Create","datasetId":"d","lifetimeInMinutes":5}"#
        );
    }
}
