//! The fake Power BI REST API: lookups and every `GenerateToken` operation.

use std::sync::Arc;

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use wiremock::{Request, Respond, ResponseTemplate};

use super::state::{FakeState, TokenState};
use super::FakeFault;
use crate::ids::Guid;

/// Where the service's embed and web URLs point. `powerbi-client` embeds only `https` URLs on a
/// Power BI host, so the fake hands out the same shape the real service does.
const APP_HOST: &str = "https://app.powerbi.com";

/// The capacity the fake workspace is on: the id of Microsoft's sample responses for "Groups -
/// Get Group" and "Capacities - Get Capacities".
const CAPACITY_ID: &str = "0f084df7-c13d-451b-af5f-ed0c466403b2";

pub(crate) struct PowerBiApi {
    state: Arc<FakeState>,
}

/// The route a request takes, from its method and path segments after `/v1.0/myorg/`.
enum Route<'a> {
    Workspace,
    Capacities,
    List(&'a str),
    Get(&'a str, &'a str),
    Tiles(&'a str),
    GetTile(&'a str, &'a str),
    Generate(Target<'a>),
    NotFound,
}

enum Target<'a> {
    Report(&'a str),
    ReportCreation,
    Dashboard(&'a str),
    Tile(&'a str, &'a str),
    Dataset(&'a str),
    MultiResource,
}

impl PowerBiApi {
    pub fn new(state: Arc<FakeState>) -> Self {
        Self { state }
    }

    fn answer(&self, request: &Request, request_id: &str) -> ResponseTemplate {
        let now = OffsetDateTime::now_utc();
        if let Some(blob) = request.url.path().strip_prefix("/v1.0/myorg/fake-blob/") {
            // The temporary upload location the tenancy fake hands out: a SAS URL, no bearer.
            return self.state.tenancy.answer(request, &["fake-blob", blob]).unwrap_or_else(not_found);
        }
        let bearer = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        let entra_expiry = match self.state.access_token_state(bearer, now) {
            TokenState::Valid(expiry) => expiry,
            // As the live service: 403 with an empty body, the reason only in
            // `X-PowerBI-Error-Info` (`TokenExpired` for an expired token, `InvalidToken` for one
            // it cannot read).
            TokenState::Expired => return rejected(403, "TokenExpired"),
            TokenState::Unknown => return rejected(403, "InvalidToken"),
        };
        let fault = self.state.config.fault;
        if fault == Some(FakeFault::WrongAudience) {
            // A token for another resource is not one Power BI accepts: 403 `InvalidToken`, as
            // for any token it cannot use.
            return rejected(403, "InvalidToken");
        }
        if fault == Some(FakeFault::TenantSwitchOff) {
            // tests/fixtures/live/powerbi-errors/401-tenant-switch.empty.fabric-community-4010790.http
            return rejected(401, "ServicePrincipalIsNotAllowedByTenantAdminSwitch");
        }
        let segments: Vec<&str> = request.url.path().trim_start_matches("/v1.0/myorg/").split('/').collect();
        if let Some(answer) = self.state.tenancy.answer(request, &segments) {
            return answer;
        }
        let is_post = request.method.as_str() == "POST";
        let route = route(&segments, is_post);
        let items = &self.state.config.items;
        let in_workspace =
            segments.first() != Some(&"groups") || segments.get(1).is_some_and(|w| same_id(w, items.workspace_id));
        if !in_workspace || (fault == Some(FakeFault::NotAMember) && segments.first() == Some(&"groups")) {
            // A workspace this identity is not a member of: 401, empty body, and the reason
            // only in the header.
            return rejected(401, "GroupNotAccessible");
        }
        match route {
            Route::Workspace => ok(self.workspace()),
            Route::Capacities => ok(self.capacities()),
            Route::List(kind) => self.list(kind),
            Route::Get(kind, id) => self.item(kind, id).map_or_else(not_found, ok),
            Route::Tiles(dashboard) if same_id(dashboard, items.dashboard_id) => ok(json!({"value": [self.tile()]})),
            Route::GetTile(dashboard, tile)
                if same_id(dashboard, items.dashboard_id) && same_id(tile, items.tile_id) =>
            {
                ok(self.tile())
            }
            Route::Generate(target) => self.generate(&target, &request.body, now, entra_expiry, request_id),
            _ => not_found(),
        }
    }

    /// The workspace as "Groups - Get Group" answers: the fields of Microsoft's sample response
    /// (which has no `type`; only the admin API's groups carry one). On shared capacity (the `no-capacity` fault) the
    /// service says `isOnDedicatedCapacity: false` and leaves `capacityId` out, as in the sample
    /// response of "Groups - Get Groups".
    fn workspace(&self) -> Value {
        let mut workspace = json!({
            "@odata.context": "http://wabi-fake/v1.0/myorg/$metadata#groups/$entity",
            "id": self.state.config.items.workspace_id, "isReadOnly": false, "isOnDedicatedCapacity": true,
            "capacityId": CAPACITY_ID, "defaultDatasetStorageFormat": "Small",
            "name": "Fake embedding workspace",
        });
        if self.state.config.fault == Some(FakeFault::NoCapacity) {
            workspace["isOnDedicatedCapacity"] = false.into();
            if let Some(fields) = workspace.as_object_mut() {
                fields.remove("capacityId");
            }
        }
        workspace
    }

    /// The capacities this app can see, as "Capacities - Get Capacities" answers (the fields of
    /// Microsoft's sample response): the workspace's capacity, `Suspended` with the
    /// `capacity-paused` fault, `Active` otherwise.
    fn capacities(&self) -> Value {
        let paused = self.state.config.fault == Some(FakeFault::CapacityPaused);
        json!({
            "@odata.context": "http://wabi-fake/v1.0/myorg/$metadata#capacities",
            "value": [{
                "id": CAPACITY_ID, "displayName": "Fake embedded capacity", "admins": ["fake@contoso.com"],
                "sku": "A1", "state": if paused { "Suspended" } else { "Active" }, "region": "West Central US",
                "capacityUserAccessRight": "Admin",
            }],
        })
    }

    fn list(&self, kind: &str) -> ResponseTemplate {
        let items = &self.state.config.items;
        let id = match kind {
            "reports" => items.report_id.to_string(),
            "dashboards" => items.dashboard_id.to_string(),
            "datasets" => items.dataset_id.to_string(),
            _ => return not_found(),
        };
        let item = self.item(kind, &id).expect("the configured item exists");
        ok(json!({"@odata.context": "http://wabi-fake/v1.0/myorg/$metadata", "value": [item]}))
    }

    fn item(&self, kind: &str, id: &str) -> Option<Value> {
        let items = &self.state.config.items;
        let (workspace, base) = (&items.workspace_id, APP_HOST);
        let fault = self.state.config.fault;
        let rls_roles = fault == Some(FakeFault::RlsRolesRequired);
        let rls = rls_roles || fault == Some(FakeFault::RlsRequired);
        match kind {
            // The fields of the live answers in tests/fixtures/live/powerbi/*.dagster.http.
            "reports" if same_id(id, items.report_id) => Some(json!({
                "id": items.report_id, "reportType": "PowerBIReport", "name": "Fake sales report",
                "webUrl": format!("{base}/groups/{workspace}/reports/{}", items.report_id),
                "embedUrl": format!("{base}/reportEmbed?reportId={}&groupId={workspace}", items.report_id),
                "isFromPbix": true, "isOwnedByMe": true,
                "datasetId": items.dataset_id, "datasetWorkspaceId": workspace,
                "users": [], "subscriptions": [],
            })),
            "dashboards" if same_id(id, items.dashboard_id) => Some(json!({
                "id": items.dashboard_id, "displayName": "Fake dashboard", "isReadOnly": false,
                "webUrl": format!("{base}/groups/{workspace}/dashboards/{}", items.dashboard_id),
                "embedUrl": format!("{base}/dashboardEmbed?dashboardId={}&groupId={workspace}", items.dashboard_id),
                "users": [], "subscriptions": [],
            })),
            // The live service spells these fields in camelCase (the swagger says PascalCase);
            // see tests/fixtures/live/powerbi/dataset.json.
            "datasets" if same_id(id, items.dataset_id) => Some(json!({
                "id": items.dataset_id, "name": "Fake sales model",
                "webUrl": format!("{base}/groups/{workspace}/datasets/{}", items.dataset_id),
                "addRowsAPIEnabled": false, "configuredBy": "fake@contoso.com", "isRefreshable": true,
                "isEffectiveIdentityRequired": rls, "isEffectiveIdentityRolesRequired": rls_roles,
                "isOnPremGatewayRequired": false, "targetStorageMode": "Abf",
                "createdDate": "2024-07-23T23:44:55.707Z",
                "createReportEmbedURL": format!("{base}/reportEmbed?groupId={workspace}"),
                "qnaEmbedURL": format!("{base}/qnaEmbed?groupId={workspace}"),
                "upstreamDatasets": [], "users": [],
                "queryScaleOutSettings": {"autoSyncReadOnlyReplicas": true, "maxReadOnlyReplicas": 0},
            })),
            _ => None,
        }
    }

    fn tile(&self) -> Value {
        let items = &self.state.config.items;
        json!({
            "id": items.tile_id, "title": "Fake tile", "reportId": items.report_id, "datasetId": items.dataset_id,
            "embedUrl": format!("{APP_HOST}/embed?dashboardId={}&tileId={}&groupId={}", items.dashboard_id, items.tile_id, items.workspace_id),
            "rowSpan": 0, "colSpan": 0
        })
    }

    fn generate(
        &self,
        target: &Target<'_>,
        body: &[u8],
        now: OffsetDateTime,
        entra_expiry: OffsetDateTime,
        request_id: &str,
    ) -> ResponseTemplate {
        let Ok(body) = serde_json::from_slice::<Value>(body) else {
            return error(400, "InvalidRequest", "The request body is not valid JSON");
        };
        if let Err(message) = self.check_generate(target, &body).and_then(|()| self.check_rls(&body)) {
            return match message {
                Problem::NotFound => not_found(),
                Problem::Invalid(message) => error(400, "InvalidRequest", &message),
            };
        }
        if self.state.config.fault == Some(FakeFault::CapacityPaused) {
            return rejected(403, "CapacityNotActive");
        }
        let mut expiration = now + self.state.config.embed_token_lifetime;
        if let Some(minutes) = body["lifetimeInMinutes"].as_i64().filter(|m| *m > 0) {
            expiration = expiration.min(now + time::Duration::minutes(minutes));
        }
        // As in the service: the embed token never outlives the Entra token it was asked with.
        expiration = expiration.min(entra_expiry);
        let expiration = expiration.replace_nanosecond(0).unwrap_or(expiration);
        ResponseTemplate::new(200).insert_header("RequestId", request_id).set_body_json(json!({
            "@odata.context": "http://wabi-fake/v1.0/myorg/$metadata#Microsoft.PowerBI.ServiceContracts.Api.V1.EmbedToken",
            "token": format!("fake-embed-{}", Guid::new_random()),
            "tokenId": Guid::new_random(),
            "expiration": expiration.format(&Rfc3339).unwrap_or_default(),
        }))
    }

    fn check_generate(&self, target: &Target<'_>, body: &Value) -> Result<(), Problem> {
        let items = &self.state.config.items;
        let access = body["accessLevel"].as_str();
        let report_like = matches!(target, Target::Report(_));
        match target {
            Target::Report(id) if !same_id(id, items.report_id) => return Err(Problem::NotFound),
            Target::Dashboard(id) if !same_id(id, items.dashboard_id) => return Err(Problem::NotFound),
            Target::Tile(d, t) if !same_id(d, items.dashboard_id) || !same_id(t, items.tile_id) => {
                return Err(Problem::NotFound)
            }
            Target::Dataset(id) if !same_id(id, items.dataset_id) => return Err(Problem::NotFound),
            Target::ReportCreation => {
                if access != Some("Create") {
                    return Err(Problem::Invalid("Report creation requires accessLevel Create".into()));
                }
                if !body["datasetId"].as_str().is_some_and(|d| same_id(d, items.dataset_id)) {
                    return Err(Problem::Invalid("datasetId is missing or unknown".into()));
                }
            }
            Target::MultiResource => return self.check_v2(body),
            _ => {}
        }
        match access {
            None | Some("View") => {}
            Some("Edit") if report_like => {}
            Some("Create") if matches!(target, Target::ReportCreation) => {}
            Some(other) => return Err(Problem::Invalid(format!("accessLevel {other} is not valid for this item"))),
        }
        if body.get("allowSaveAs").is_some() && !report_like {
            return Err(Problem::Invalid("allowSaveAs applies to reports only".into()));
        }
        Ok(())
    }

    /// With an RLS fault, the dataset's rules as the service enforces them, in its words
    /// (tests/fixtures/live/powerbi-errors/400-requires-*.reconstructed.http).
    fn check_rls(&self, body: &Value) -> Result<(), Problem> {
        let roles_required = match self.state.config.fault {
            Some(FakeFault::RlsRequired) => false,
            Some(FakeFault::RlsRolesRequired) => true,
            _ => return Ok(()),
        };
        let dataset = &self.state.config.items.dataset_id;
        let identities = body["identities"].as_array().map(Vec::as_slice).unwrap_or_default();
        let prefix = format!("Creating embed token for accessing dataset {dataset}");
        if identities.is_empty() {
            return Err(Problem::Invalid(format!("{prefix} requires effective identity to be provided")));
        }
        let has_roles = |identity: &Value| identity["roles"].as_array().is_some_and(|roles| !roles.is_empty());
        if roles_required && !identities.iter().all(has_roles) {
            return Err(Problem::Invalid(format!(
                "{prefix} requires roles to be included in provided effective identity"
            )));
        }
        Ok(())
    }

    fn check_v2(&self, body: &Value) -> Result<(), Problem> {
        let items = &self.state.config.items;
        let ids = |field: &str| -> Vec<String> {
            body[field].as_array().into_iter().flatten().filter_map(|v| v["id"].as_str().map(str::to_owned)).collect()
        };
        let (reports, datasets) = (ids("reports"), ids("datasets"));
        if reports.is_empty() && datasets.is_empty() {
            return Err(Problem::Invalid("At least one report or dataset is required".into()));
        }
        if reports.iter().any(|r| !same_id(r, items.report_id))
            || datasets.iter().any(|d| !same_id(d, items.dataset_id))
        {
            return Err(Problem::NotFound);
        }
        if ids("targetWorkspaces").iter().any(|w| !same_id(w, items.workspace_id)) {
            return Err(Problem::NotFound);
        }
        Ok(())
    }
}

enum Problem {
    NotFound,
    Invalid(String),
}

impl Respond for PowerBiApi {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.state.record("powerbi", request);
        let request_id = Guid::new_random().to_string();
        self.answer(request, &request_id).insert_header("RequestId", request_id.as_str())
    }
}

fn route<'a>(segments: &[&'a str], is_post: bool) -> Route<'a> {
    match (is_post, segments) {
        (true, ["GenerateToken"]) => Route::Generate(Target::MultiResource),
        (true, ["groups", _, "reports", "GenerateToken"]) => Route::Generate(Target::ReportCreation),
        (true, ["groups", _, "reports", r, "GenerateToken"]) => Route::Generate(Target::Report(r)),
        (true, ["groups", _, "dashboards", d, "GenerateToken"]) => Route::Generate(Target::Dashboard(d)),
        (true, ["groups", _, "dashboards", d, "tiles", t, "GenerateToken"]) => Route::Generate(Target::Tile(d, t)),
        (true, ["groups", _, "datasets", d, "GenerateToken"]) => Route::Generate(Target::Dataset(d)),
        (false, ["groups", _]) => Route::Workspace,
        (false, ["capacities"]) => Route::Capacities,
        (false, ["groups", _, kind @ ("reports" | "dashboards" | "datasets")]) => Route::List(kind),
        (false, ["groups", _, "dashboards", d, "tiles"]) => Route::Tiles(d),
        (false, ["groups", _, "dashboards", d, "tiles", t]) => Route::GetTile(d, t),
        (false, ["groups", _, kind @ ("reports" | "dashboards" | "datasets"), id]) => Route::Get(kind, id),
        _ => Route::NotFound,
    }
}

/// Whether the id in a path or body names the fake's item (in any case, with or without braces,
/// as the service takes ids).
fn same_id(text: &str, id: impl Into<Guid>) -> bool {
    text.parse::<Guid>().is_ok_and(|guid| guid == id.into())
}

pub(super) fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

/// An unknown item: 404 with the `pbi.error` body the live service sends (no `message`).
fn not_found() -> ResponseTemplate {
    const CODE: &str = "PowerBIEntityNotFound";
    ResponseTemplate::new(404).set_body_json(json!({
        "error": {"code": CODE, "pbi.error": {"code": CODE, "parameters": {}, "details": [], "exceptionCulprit": 1}}
    }))
}

/// A refused call with an empty body, its reason in `X-PowerBI-Error-Info` only.
pub(super) fn rejected(status: u16, error_info: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).insert_header("X-PowerBI-Error-Info", error_info)
}

/// A request the service refuses with `{"error": {"code", "message"}}`, as for
/// `InvalidRequest`.
pub(super) fn error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"error": {"code": code, "message": message}}))
}
