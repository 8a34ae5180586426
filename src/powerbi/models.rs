//! What the Power BI API answers: embed tokens and the items an embed needs. Unknown fields
//! (`@odata.context`, properties added later) are ignored.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::cache::Expiring;
use crate::error::Result;
use crate::http::Reply;
use crate::ids::{CapacityId, DashboardId, DatasetId, Guid, ReportId, TileId, WorkspaceId};
use crate::secret::Secret;

pub(crate) const SERVICE: &str = "Power BI";

/// A Power BI embed token.
///
/// `Debug` never prints the token; cloning is a reference-count increment.
#[derive(Clone)]
pub struct EmbedToken {
    token: Secret,
    token_id: Guid,
    expiration: OffsetDateTime,
}

impl EmbedToken {
    /// An embed token (for tests and custom stores).
    pub fn new(token: impl Into<Secret>, token_id: Guid, expiration: OffsetDateTime) -> Self {
        Self { token: token.into(), token_id, expiration }
    }

    /// The token to hand to `powerbi-client` as `accessToken`.
    pub fn secret(&self) -> &Secret {
        &self.token
    }

    /// The token id, which audit logs use to correlate the token's use with its generation.
    pub fn token_id(&self) -> Guid {
        self.token_id
    }

    /// When the token expires (UTC).
    pub fn expiration(&self) -> OffsetDateTime {
        self.expiration
    }

    /// The moment to renew: `margin` before expiration.
    ///
    /// ```
    /// use std::time::Duration;
    /// use powerbi_embed::{EmbedToken, Guid};
    /// use time::macros::datetime;
    /// let token = EmbedToken::new("t", Guid::from_u128(1), datetime!(2026-01-01 10:00 UTC));
    /// assert_eq!(token.renew_at(Duration::from_secs(120)), datetime!(2026-01-01 9:58 UTC));
    /// assert!(token.needs_renewal(datetime!(2026-01-01 9:58 UTC), Duration::from_secs(120)));
    /// assert!(!token.needs_renewal(datetime!(2026-01-01 9:57 UTC), Duration::from_secs(120)));
    /// ```
    ///
    /// Saturating: a margin longer than the calendar (`Duration::MAX`) gives the earliest
    /// representable moment, so such a token always needs renewal.
    pub fn renew_at(&self, margin: Duration) -> OffsetDateTime {
        self.expiration.saturating_sub(crate::clock::saturating_time(margin))
    }

    /// Whether, at `now`, the token is within `margin` of expiring (or has expired).
    pub fn needs_renewal(&self, now: OffsetDateTime, margin: Duration) -> bool {
        now >= self.renew_at(margin)
    }

    /// Parses a `GenerateToken` reply, refusing a missing field or an expiration in the past.
    pub(crate) fn from_reply(reply: &Reply, now: OffsetDateTime) -> Result<Self> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Wire {
            token: Option<String>,
            token_id: Option<String>,
            expiration: Option<String>,
        }
        let wire: Wire = crate::http::parse_json(reply, SERVICE, "embed token response")?;
        let missing = |field: &str| reply.unexpected(SERVICE, format!("embed token response has no {field}"));
        let token = wire.token.filter(|t| !t.is_empty()).ok_or_else(|| missing("token"))?;
        let token_id = wire.token_id.ok_or_else(|| missing("tokenId"))?;
        let token_id = token_id.parse::<Guid>().map_err(|_| reply.unexpected(SERVICE, "tokenId is not a GUID"))?;
        let expiration = wire.expiration.ok_or_else(|| missing("expiration"))?;
        let expiration = OffsetDateTime::parse(&expiration, &Rfc3339)
            .map_err(|_| reply.unexpected(SERVICE, "expiration is not an RFC 3339 date-time"))?;
        if expiration <= now {
            return Err(reply.unexpected(SERVICE, format!("the embed token expired already ({expiration})")));
        }
        Ok(Self { token: Secret::new(token), token_id, expiration })
    }
}

impl fmt::Debug for EmbedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbedToken")
            .field("token", &self.token)
            .field("token_id", &self.token_id)
            .field("expiration", &self.expiration)
            .finish()
    }
}

impl Expiring for EmbedToken {
    fn expires_on(&self) -> OffsetDateTime {
        self.expiration
    }
}

/// The shared-store form: `{"t": token, "i": tokenId, "e": expiration, "f": fetched}`.
#[derive(serde::Serialize, Deserialize)]
struct StoredEmbedToken<'a> {
    t: std::borrow::Cow<'a, str>,
    i: Guid,
    e: i64,
    f: i64,
}

impl crate::cache::Storable for EmbedToken {
    fn to_bytes(&self, fetched_at: OffsetDateTime) -> Vec<u8> {
        let stored = StoredEmbedToken {
            t: self.token.expose_secret().into(),
            i: self.token_id,
            e: self.expiration.unix_timestamp(),
            f: fetched_at.unix_timestamp(),
        };
        serde_json::to_vec(&stored).unwrap_or_default()
    }

    fn from_bytes(bytes: &[u8]) -> Option<(Self, OffsetDateTime)> {
        let stored: StoredEmbedToken<'_> = serde_json::from_slice(bytes).ok()?;
        let expiration = OffsetDateTime::from_unix_timestamp(stored.e).ok()?;
        let token = EmbedToken { token: Secret::new(stored.t.into_owned()), token_id: stored.i, expiration };
        Some((token, OffsetDateTime::from_unix_timestamp(stored.f).ok()?))
    }
}

/// The kind of a report.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[non_exhaustive]
pub enum ReportType {
    /// An interactive Power BI report.
    #[serde(rename = "PowerBIReport")]
    PowerBi,
    /// A paginated (RDL) report.
    #[serde(rename = "PaginatedReport")]
    Paginated,
    /// A kind this version does not know.
    #[serde(other)]
    Other,
}

/// A report in a workspace. (`Serialize` writes the service's camelCase, which `Deserialize`
/// reads back: the lookup cache's shared tier stores it so.)
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Report {
    /// The report id.
    pub id: ReportId,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// The URL `powerbi-client` embeds.
    #[serde(default)]
    pub embed_url: String,
    /// The URL to open it in Power BI.
    #[serde(default)]
    pub web_url: Option<String>,
    /// The dataset it reads (none for a paginated report without one).
    #[serde(default, deserialize_with = "optional_id")]
    pub dataset_id: Option<DatasetId>,
    /// Power BI or paginated.
    #[serde(default)]
    pub report_type: Option<ReportType>,
    /// The report description.
    #[serde(default)]
    pub description: Option<String>,
}

/// A dashboard in a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Dashboard {
    /// The dashboard id.
    pub id: DashboardId,
    /// Its display name.
    #[serde(default)]
    pub display_name: String,
    /// The URL `powerbi-client` embeds.
    #[serde(default)]
    pub embed_url: String,
    /// The URL to open it in Power BI.
    #[serde(default)]
    pub web_url: Option<String>,
    /// Whether it is read-only.
    #[serde(default)]
    pub is_read_only: Option<bool>,
}

/// A tile on a dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Tile {
    /// The tile id.
    pub id: TileId,
    /// Its title.
    #[serde(default)]
    pub title: Option<String>,
    /// The URL `powerbi-client` embeds.
    #[serde(default)]
    pub embed_url: String,
    /// Embed data, for some tile kinds.
    #[serde(default)]
    pub embed_data: Option<String>,
    /// The report it was pinned from.
    #[serde(default, deserialize_with = "optional_id")]
    pub report_id: Option<ReportId>,
    /// The dataset it reads.
    #[serde(default, deserialize_with = "optional_id")]
    pub dataset_id: Option<DatasetId>,
}

/// A dataset (semantic model) in a workspace.
///
/// The live service spells every field in camelCase (`createReportEmbedURL`, `qnaEmbedURL`,
/// `isEffectiveIdentityRequired`, ...), where Microsoft's swagger says PascalCase
/// (`CreateReportEmbedURL`, ...); both spellings are read (and `Serialize` writes the camelCase).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Dataset {
    /// The dataset id.
    #[serde(alias = "Id")]
    pub id: DatasetId,
    /// Its name.
    #[serde(default, alias = "Name")]
    pub name: String,
    /// The Q&A embed URL.
    #[serde(default, rename = "qnaEmbedURL", alias = "QnaEmbedURL")]
    pub qna_embed_url: Option<String>,
    /// The URL that report creation embeds.
    #[serde(default, rename = "createReportEmbedURL", alias = "CreateReportEmbedURL")]
    pub create_report_embed_url: Option<String>,
    /// The URL to open it in Power BI.
    #[serde(default, alias = "WebUrl")]
    pub web_url: Option<String>,
    /// Whether row-level security applies (an embed token then needs an identity).
    #[serde(default, alias = "IsEffectiveIdentityRequired")]
    pub is_effective_identity_required: Option<bool>,
    /// Whether RLS roles are required.
    #[serde(default, alias = "IsEffectiveIdentityRolesRequired")]
    pub is_effective_identity_roles_required: Option<bool>,
    /// Whether it can be refreshed.
    #[serde(default, alias = "IsRefreshable")]
    pub is_refreshable: Option<bool>,
    /// Whether it needs an on-premises data gateway.
    #[serde(default, alias = "IsOnPremGatewayRequired")]
    pub is_on_prem_gateway_required: Option<bool>,
    /// When it was created, as the service wrote it (an RFC 3339 date-time, e.g.
    /// `2024-07-23T23:44:55.707Z`).
    #[serde(default, alias = "CreatedDate")]
    pub created_date: Option<String>,
    /// Its storage mode, e.g. `Abf` (import) or `PremiumFiles` (large format).
    #[serde(default, alias = "TargetStorageMode")]
    pub target_storage_mode: Option<String>,
    /// Who configured it.
    #[serde(default, alias = "ConfiguredBy")]
    pub configured_by: Option<String>,
}

/// A workspace (Power BI calls it a group), as `GET /v1.0/myorg/groups/{groupId}` answers.
///
/// Fields after Microsoft's sample responses for "Groups - Get Group" and "Groups - Get Groups"
/// (Learn, REST API reference): a workspace on shared capacity says `isOnDedicatedCapacity:
/// false` and has no `capacityId`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Workspace {
    /// The workspace id.
    pub id: WorkspaceId,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Whether this identity can only read it.
    #[serde(default)]
    pub is_read_only: Option<bool>,
    /// Whether it is on a dedicated capacity (Premium, Embedded or Fabric), which embedding for
    /// customers needs.
    #[serde(default)]
    pub is_on_dedicated_capacity: Option<bool>,
    /// The capacity it is assigned to, when it is on one.
    #[serde(default, deserialize_with = "optional_id")]
    pub capacity_id: Option<CapacityId>,
    /// Its kind (e.g. `Workspace`, `PersonalGroup`), when the answer carries one: the admin
    /// API's groups do, the sample response of "Groups - Get Group" does not.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// The state of a capacity, as the service spells it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub enum CapacityState {
    /// Ready to use.
    Active,
    /// Paused (suspended): nothing on it can be embedded until it is resumed.
    Suspended,
    /// Being activated.
    Provisioning,
    /// Activation failed.
    ProvisionFailed,
    /// Its SKU is being changed.
    UpdatingSku,
    /// Being deleted.
    Deleting,
    /// Deleted.
    Deleted,
    /// Not usable.
    Invalid,
    /// A state this version does not know (or one Microsoft lists as unsupported, such as
    /// `NotActivated` or `PreSuspended`).
    #[serde(other)]
    Other,
}

/// A capacity this identity can see, as `GET /v1.0/myorg/capacities` lists it.
///
/// Fields after Microsoft's sample response for "Capacities - Get Capacities" (Learn, REST API
/// reference): `id`, `displayName`, `admins`, `sku`, `state`, `region`,
/// `capacityUserAccessRight`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Capacity {
    /// The capacity id.
    pub id: CapacityId,
    /// Its display name.
    #[serde(default)]
    pub display_name: String,
    /// Its SKU, e.g. `A1`, `EM2`, `F64`, `P1`.
    #[serde(default)]
    pub sku: Option<String>,
    /// Its state; [`CapacityState::Active`] is the only one that serves embeds.
    pub state: CapacityState,
    /// Its Azure region, e.g. `West Central US`.
    #[serde(default)]
    pub region: Option<String>,
}

/// An optional reference to another item: absent, `null` and `""` are none (the service writes
/// empty strings for missing references in places); anything else must be a GUID.
pub(crate) fn optional_id<'de, D, T>(deserializer: D) -> std::result::Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: From<Guid>,
{
    let text = Option::<std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
    match text.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => text
            .parse::<Guid>()
            .map(|guid| Some(T::from(guid)))
            .map_err(|_| serde::de::Error::custom("expected a GUID")),
    }
}

/// The `{"value": [...]}` envelope of list answers.
#[derive(Deserialize)]
pub(crate) struct List<T> {
    pub value: Vec<T>,
}

/// One test per response model: each reads the spelling the live service uses, and the
/// dataset also the swagger's PascalCase. The recorded bodies themselves are exercised through
/// the public API in `tests/powerbi/live_corpus.rs`.
#[cfg(test)]
mod casing_tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "5b218778-e7a5-4d73-8187-f10824047715";
    const DS: &str = "cfafbeb1-8037-4d0c-896e-a46fb27ff229";

    #[test]
    fn report_reads_camel_case() {
        let report: Report = serde_json::from_value(json!({
            "id": ID, "name": "n", "embedUrl": "e", "webUrl": "w", "datasetId": DS,
            "reportType": "PaginatedReport", "description": "x", "isOwnedByMe": true
        }))
        .unwrap();
        assert_eq!(report.id, ID.parse::<ReportId>().unwrap());
        let fields = (report.name, report.embed_url, report.web_url, report.dataset_id, report.description);
        assert_eq!(fields, ("n".into(), "e".into(), Some("w".into()), Some(DS.parse().unwrap()), Some("x".into())));
        assert_eq!(report.report_type, Some(ReportType::Paginated));
        let other: Report = serde_json::from_value(json!({"id": ID, "reportType": "Notebook"})).unwrap();
        assert_eq!(other.report_type, Some(ReportType::Other));
    }

    #[test]
    fn dashboard_reads_camel_case() {
        let dashboard: Dashboard = serde_json::from_value(
            json!({"id": ID, "displayName": "n", "embedUrl": "e", "webUrl": "w", "isReadOnly": true, "users": []}),
        )
        .unwrap();
        let fields = (dashboard.display_name, dashboard.embed_url, dashboard.web_url, dashboard.is_read_only);
        assert_eq!(fields, ("n".into(), "e".into(), Some("w".into()), Some(true)));
    }

    #[test]
    fn tile_reads_camel_case() {
        let tile: Tile = serde_json::from_value(json!({
            "id": ID, "title": "t", "embedUrl": "e", "embedData": "{}", "reportId": ID, "datasetId": DS,
            "rowSpan": 0, "colSpan": 0
        }))
        .unwrap();
        let fields = (tile.title, tile.embed_url, tile.embed_data, tile.report_id, tile.dataset_id);
        let expected =
            (Some("t".into()), "e".into(), Some("{}".into()), Some(ID.parse().unwrap()), Some(DS.parse().unwrap()));
        assert_eq!(fields, expected);
        // A tile pinned from nothing (an image or a text box): the references are absent or empty.
        let image: Tile = serde_json::from_value(json!({"id": ID, "reportId": "", "datasetId": null})).unwrap();
        assert_eq!((image.report_id, image.dataset_id), (None, None));
        let garbage = serde_json::from_value::<Tile>(json!({"id": ID, "datasetId": "d"})).unwrap_err();
        assert!(garbage.to_string().contains("expected a GUID"), "{garbage}");
    }

    fn dataset_fields(d: Dataset) -> Vec<String> {
        vec![
            d.id.to_string(),
            d.name,
            format!("{:?}", d.qna_embed_url),
            format!("{:?}", d.create_report_embed_url),
            format!("{:?}", d.web_url),
            format!("{:?}", d.is_effective_identity_required),
            format!("{:?}", d.is_effective_identity_roles_required),
            format!("{:?}", d.is_refreshable),
            format!("{:?}", d.is_on_prem_gateway_required),
            format!("{:?}", d.created_date),
            format!("{:?}", d.target_storage_mode),
            format!("{:?}", d.configured_by),
        ]
    }

    #[test]
    fn dataset_reads_the_live_camel_case_and_the_swagger_pascal_case_alike() {
        let live = json!({
            "id": DS, "name": "n", "qnaEmbedURL": "q", "createReportEmbedURL": "c", "webUrl": "w",
            "isEffectiveIdentityRequired": true, "isEffectiveIdentityRolesRequired": false, "isRefreshable": true,
            "isOnPremGatewayRequired": false, "createdDate": "2024-07-23T23:44:55.707Z", "targetStorageMode": "Abf",
            "configuredBy": "a@b.c", "addRowsAPIEnabled": false
        });
        let swagger = json!({
            "Id": DS, "Name": "n", "QnaEmbedURL": "q", "CreateReportEmbedURL": "c", "WebUrl": "w",
            "IsEffectiveIdentityRequired": true, "IsEffectiveIdentityRolesRequired": false, "IsRefreshable": true,
            "IsOnPremGatewayRequired": false, "CreatedDate": "2024-07-23T23:44:55.707Z", "TargetStorageMode": "Abf",
            "ConfiguredBy": "a@b.c"
        });
        let expected = [
            DS,
            "n",
            "Some(\"q\")",
            "Some(\"c\")",
            "Some(\"w\")",
            "Some(true)",
            "Some(false)",
            "Some(true)",
            "Some(false)",
            "Some(\"2024-07-23T23:44:55.707Z\")",
            "Some(\"Abf\")",
            "Some(\"a@b.c\")",
        ];
        assert_eq!(dataset_fields(serde_json::from_value(live).unwrap()), expected);
        assert_eq!(dataset_fields(serde_json::from_value(swagger).unwrap()), expected);
    }

    #[test]
    fn embed_token_reads_camel_case() {
        let reply = Reply {
            status: 200,
            content_type: Some("application/json; charset=utf-8".into()),
            request_id: None,
            retry_after: None,
            error_info: None,
            www_authenticate: None,
            body:
                br#"{"token":"t","tokenId":"49ae3742-54c0-4c29-af52-619ff93b5c80","expiration":"2018-07-29T17:58:19Z"}"#
                    .to_vec()
                    .into(),
        };
        let now = time::macros::datetime!(2018-07-29 17:00 UTC);
        let token = EmbedToken::from_reply(&reply, now).unwrap();
        assert_eq!(token.token_id(), "49ae3742-54c0-4c29-af52-619ff93b5c80".parse::<Guid>().unwrap());
        assert_eq!(token.expiration(), time::macros::datetime!(2018-07-29 17:58:19 UTC));
        assert_eq!(token.secret().expose_secret(), "t");
    }

    #[test]
    fn workspace_reads_camel_case() {
        // Microsoft's sample response for "Groups - Get Group", plus `type` as the admin API's
        // groups carry it.
        let workspace: Workspace = serde_json::from_value(json!({
            "id": "f089354e-8366-4e18-aea3-4cb4a3a50b48", "isReadOnly": false, "isOnDedicatedCapacity": true,
            "capacityId": "0f084df7-c13d-451b-af5f-ed0c466403b2", "defaultDatasetStorageFormat": "Small",
            "name": "Sample Group 1", "type": "Workspace"
        }))
        .unwrap();
        assert_eq!(workspace.id, "f089354e-8366-4e18-aea3-4cb4a3a50b48".parse::<WorkspaceId>().unwrap());
        let fields =
            (workspace.name, workspace.is_read_only, workspace.is_on_dedicated_capacity, workspace.capacity_id);
        let expected = (
            "Sample Group 1".into(),
            Some(false),
            Some(true),
            Some("0f084df7-c13d-451b-af5f-ed0c466403b2".parse().unwrap()),
        );
        assert_eq!(fields, expected);
        assert_eq!(workspace.kind.as_deref(), Some("Workspace"));
        // Shared capacity, as in the sample response of "Groups - Get Groups".
        let shared: Workspace = serde_json::from_value(json!({
            "id": ID, "isReadOnly": false, "isOnDedicatedCapacity": false, "name": "sample group"
        }))
        .unwrap();
        assert_eq!((shared.is_on_dedicated_capacity, shared.capacity_id), (Some(false), None));
    }

    #[test]
    fn capacity_reads_camel_case_and_every_state() {
        // Microsoft's sample response for "Capacities - Get Capacities".
        let list: List<Capacity> = serde_json::from_value(json!({"value": [{
            "id": "0f084df7-c13d-451b-af5f-ed0c466403b2", "displayName": "MyCapacity", "admins": ["john@contoso.com"],
            "sku": "A1", "state": "Active", "region": "West Central US", "capacityUserAccessRight": "Admin"
        }]}))
        .unwrap();
        let capacity = &list.value[0];
        assert_eq!(capacity.id.to_string(), "0f084df7-c13d-451b-af5f-ed0c466403b2");
        assert_eq!(capacity.display_name, "MyCapacity");
        assert_eq!((capacity.sku.as_deref(), capacity.region.as_deref()), (Some("A1"), Some("West Central US")));
        assert_eq!(capacity.state, CapacityState::Active);
        let states = [
            ("Suspended", CapacityState::Suspended),
            ("Provisioning", CapacityState::Provisioning),
            ("ProvisionFailed", CapacityState::ProvisionFailed),
            ("UpdatingSku", CapacityState::UpdatingSku),
            ("Deleting", CapacityState::Deleting),
            ("Deleted", CapacityState::Deleted),
            ("Invalid", CapacityState::Invalid),
            ("PreSuspended", CapacityState::Other),
            ("NotActivated", CapacityState::Other),
        ];
        for (wire, state) in states {
            let capacity: Capacity = serde_json::from_value(json!({"id": ID, "state": wire})).unwrap();
            assert_eq!(capacity.state, state, "{wire}");
        }
    }

    #[test]
    fn list_envelopes_ignore_odata_context() {
        let list: List<Tile> =
            serde_json::from_value(json!({"@odata.context": "x", "value": [{"id": ID, "embedUrl": "e"}]})).unwrap();
        assert_eq!(list.value.len(), 1);
    }
}
