//! The fake's multi-customer side (issue 19): service principal profiles, workspaces owned by
//! them, capacity assignment, `.pbix` imports (`Publishing`, then `Succeeded`), parameters,
//! data sources and their credentials, take-over, rebind, clone and refreshes. Answers follow
//! the live shapes (see the crate's CHANGELOG for the sources); each workspace is visible only
//! to the identity that owns it, chosen by `X-PowerBI-Profile-Id`.

use std::sync::Mutex;

use serde_json::{json, Value};
use wiremock::{Request, ResponseTemplate};

use super::powerbi::{error, ok, rejected};
use crate::ids::{CapacityId, DatasetId, DatasourceId, GatewayId, Guid, ImportId, ProfileId, ReportId, WorkspaceId};

const APP_HOST: &str = "https://app.powerbi.com";

/// A profile the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FakeProfile {
    /// Its id.
    pub id: ProfileId,
    /// Its name.
    pub display_name: String,
}

/// A workspace made through the fake's `POST groups`, with what was done to it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FakeWorkspace {
    /// Its id.
    pub id: WorkspaceId,
    /// Its name.
    pub name: String,
    /// The profile that made (and owns) it; `None` for the service principal itself.
    pub owner: Option<ProfileId>,
    /// The capacity it is assigned to.
    pub capacity: Option<CapacityId>,
    /// The bodies of `POST .../users` it received.
    pub members: Vec<Value>,
    /// Its reports: id, name, dataset.
    pub reports: Vec<(ReportId, String, DatasetId)>,
    /// Its datasets: id, name, parameters (name, value) as last set.
    pub datasets: Vec<FakeDataset>,
    /// Refreshes started per dataset.
    pub refreshes: Vec<DatasetId>,
    assignment_polls: u32,
    imports: Vec<FakeImport>,
}

/// A dataset of a [`FakeWorkspace`]: id, name, and its parameters (name, value) as last set.
pub type FakeDataset = (DatasetId, String, Vec<(String, String)>);

#[derive(Debug, Clone, PartialEq)]
struct FakeImport {
    id: ImportId,
    name: String,
    report: ReportId,
    dataset: DatasetId,
    polls: u32,
}

/// A failure to answer once, from [`FakeServices::fail_next`](super::FakeServices::fail_next).
#[derive(Debug, Clone)]
struct Injected {
    method: String,
    path_suffix: String,
    status: u16,
}

#[derive(Debug, Default)]
pub(crate) struct Tenancy {
    inner: Mutex<TenancyState>,
}

#[derive(Debug, Default)]
struct TenancyState {
    profiles: Vec<FakeProfile>,
    workspaces: Vec<FakeWorkspace>,
    injected: Vec<Injected>,
    import_throttles: u32,
    /// The fake's own base URL, where its temporary upload locations point.
    base: String,
    /// The paths of the temporary upload locations that received a file.
    uploads: Vec<String>,
    /// Credentials bodies received per (gateway, datasource).
    credentials: Vec<(GatewayId, DatasourceId, Value)>,
}

/// Who calls: the service principal, or one of its profiles.
type Caller = Option<ProfileId>;

impl Tenancy {
    fn lock(&self) -> std::sync::MutexGuard<'_, TenancyState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn profiles(&self) -> Vec<FakeProfile> {
        self.lock().profiles.clone()
    }

    pub fn workspaces(&self) -> Vec<FakeWorkspace> {
        self.lock().workspaces.clone()
    }

    pub fn credentials(&self) -> Vec<(GatewayId, DatasourceId, Value)> {
        self.lock().credentials.clone()
    }

    pub fn fail_next(&self, method: &str, path_suffix: &str, status: u16) {
        let injected = Injected { method: method.to_ascii_uppercase(), path_suffix: path_suffix.to_owned(), status };
        self.lock().injected.push(injected);
    }

    pub fn set_base(&self, base: String) {
        self.lock().base = base;
    }

    pub fn throttle_imports(&self, times: u32) {
        self.lock().import_throttles = times;
    }

    /// The answer to a tenancy route, or `None` for the routes the rest of the fake serves.
    pub fn answer(&self, request: &Request, segments: &[&str]) -> Option<ResponseTemplate> {
        let method = request.method.as_str();
        let mut state = self.lock();
        let path = request.url.path();
        if let Some(i) = state.injected.iter().position(|f| f.method == method && path.ends_with(&f.path_suffix)) {
            let fault = state.injected.remove(i);
            let message = format!("fault injected by the test at {method} {path}");
            return Some(error(fault.status, "FakeInjectedFault", &message));
        }
        let ours = match segments {
            ["profiles", ..] | ["groups"] | ["gateways", ..] => true,
            ["fake-blob", _] => {
                // The temporary upload location: a block blob PUT, without a bearer token.
                let blob = request.headers.get("x-ms-blob-type").and_then(|v| v.to_str().ok()) == Some("BlockBlob");
                if method != "PUT" || !blob || request.body.is_empty() {
                    return Some(error(400, "InvalidBlobType", "Expected a BlockBlob PUT with content"));
                }
                state.uploads.push(request.url.path().to_owned());
                return Some(ResponseTemplate::new(201));
            }
            ["groups", id, ..] => state.workspaces.iter().any(|w| same(id, w.id)),
            _ => false,
        };
        if !ours {
            return None;
        }
        let header = request.headers.get("x-powerbi-profile-id").and_then(|v| v.to_str().ok());
        let caller: Caller = match header {
            None => None,
            Some(text) => match text.parse::<ProfileId>() {
                Ok(id) if state.profiles.iter().any(|p| p.id == id) => Some(id),
                // No recording of this answer was found; the fake refuses the call as it
                // refuses any identity it does not know.
                _ => return Some(rejected(401, "PowerBIProfileNotFound")),
            },
        };
        let body = || serde_json::from_slice::<Value>(&request.body).unwrap_or(Value::Null);
        let query = |name: &str| request.url.query_pairs().find(|(n, _)| n == name).map(|(_, v)| v.into_owned());
        match (method, segments) {
            (_, ["profiles", ..]) if caller.is_some() => {
                // Profile management is for the service principal itself.
                Some(error(401, "PowerBINotAuthorizedException", "Can only be called by a service principal"))
            }
            ("GET", ["profiles"]) => {
                let skip = query("$skip").and_then(|s| s.parse().ok()).unwrap_or(0usize);
                let top = query("$top").and_then(|s| s.parse().ok()).unwrap_or(usize::MAX);
                let page: Vec<Value> = state.profiles.iter().skip(skip).take(top).map(profile_json).collect();
                Some(ok(json!({"@odata.context": "http://wabi-fake/v1.0/myorg/$metadata#profiles", "value": page})))
            }
            ("POST", ["profiles"]) => Some(state.create_profile(&body())),
            ("GET", ["profiles", id]) => {
                Some(state.profile_index(id).map_or_else(not_found, |i| ok(profile_json(&state.profiles[i]))))
            }
            ("PUT", ["profiles", id]) => Some(match (state.profile_index(id), body()["displayName"].as_str()) {
                (Some(i), Some(name)) if !name.trim().is_empty() => {
                    state.profiles[i].display_name = name.to_owned();
                    ok(profile_json(&state.profiles[i]))
                }
                (Some(_), _) => error(400, "InvalidRequest", "displayName is required"),
                (None, _) => not_found(),
            }),
            ("DELETE", ["profiles", id]) => Some(match state.profile_index(id) {
                Some(i) => {
                    let removed = state.profiles.remove(i);
                    // A profile's workspaces lose their owner with it (in this fake: they go).
                    state.workspaces.retain(|w| w.owner != Some(removed.id));
                    ResponseTemplate::new(200)
                }
                None => not_found(),
            }),
            ("GET", ["groups"]) => {
                let filter = query("$filter");
                let wanted = filter.as_deref().and_then(name_filter);
                let value: Vec<Value> = state
                    .workspaces
                    .iter()
                    .filter(|w| w.owner == caller && wanted.as_deref().is_none_or(|n| n == w.name))
                    .map(workspace_json)
                    .collect();
                Some(ok(json!({"@odata.context": "http://wabi-fake/v1.0/myorg/$metadata#groups", "value": value})))
            }
            ("POST", ["groups"]) => Some(state.create_workspace(caller, &body(), query("workspaceV2").as_deref())),
            (_, ["groups", id, rest @ ..]) => {
                let index = state.workspaces.iter().position(|w| same(id, w.id))?;
                if state.workspaces[index].owner != caller {
                    return Some(rejected(401, "GroupNotAccessible"));
                }
                let throttled = state.import_throttles > 0 && method == "POST" && rest == ["imports"];
                if throttled {
                    state.import_throttles -= 1;
                    return Some(
                        error(429, "ImportThrottlerCode", "Too many imports; try again later")
                            .insert_header("Retry-After", "1"),
                    );
                }
                let state = &mut *state;
                let ws = &mut state.workspaces[index];
                let answer = workspace_route(ws, (&state.base, &state.uploads), method, rest, request, &body(), &query);
                if answer.is_none() && method == "DELETE" && rest.is_empty() {
                    state.workspaces.remove(index);
                    return Some(ResponseTemplate::new(200));
                }
                answer
            }
            ("PATCH", ["gateways", gateway, "datasources", datasource]) => {
                let (Ok(gateway), Ok(datasource)) = (gateway.parse::<GatewayId>(), datasource.parse::<DatasourceId>())
                else {
                    return Some(not_found());
                };
                let known = state.workspaces.iter().any(|w| {
                    w.owner == caller && w.datasets.iter().any(|(d, _, _)| datasource_ids(*d) == (gateway, datasource))
                });
                if !known {
                    return Some(not_found());
                }
                let body = body();
                let details = &body["credentialDetails"];
                let valid = details["credentialType"].is_string()
                    && details["credentials"].as_str().is_some_and(|c| serde_json::from_str::<Value>(c).is_ok())
                    && details["encryptedConnection"].is_string()
                    && details["encryptionAlgorithm"].is_string()
                    && details["privacyLevel"].is_string();
                if !valid {
                    return Some(error(400, "InvalidRequest", "credentialDetails is incomplete"));
                }
                state.credentials.push((gateway, datasource, body));
                Some(ResponseTemplate::new(200))
            }
            _ => None,
        }
    }
}

impl TenancyState {
    fn profile_index(&self, id: &str) -> Option<usize> {
        let id = id.parse::<ProfileId>().ok()?;
        self.profiles.iter().position(|p| p.id == id)
    }

    fn create_profile(&mut self, body: &Value) -> ResponseTemplate {
        let Some(name) = body["displayName"].as_str().filter(|n| !n.trim().is_empty()) else {
            return error(400, "InvalidRequest", "displayName is required");
        };
        if body.as_object().is_some_and(|o| o.len() != 1) {
            return error(400, "InvalidRequest", "Only displayName is accepted");
        }
        if self.profiles.iter().any(|p| p.display_name == name) {
            return already_exists();
        }
        let profile = FakeProfile { id: ProfileId::from(Guid::new_random()), display_name: name.to_owned() };
        let answer = profile_json(&profile);
        self.profiles.push(profile);
        // Live answers carry the `@odata.context` too; the fields are what matter.
        ok(answer)
    }

    fn create_workspace(&mut self, caller: Caller, body: &Value, v2: Option<&str>) -> ResponseTemplate {
        if !v2.is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return error(400, "InvalidRequest", "This fake only creates new workspaces (workspaceV2=True)");
        }
        let Some(name) = body["name"].as_str().filter(|n| !n.trim().is_empty()) else {
            return error(400, "InvalidRequest", "name is required");
        };
        // Workspace names are unique in a tenant, whoever owns them.
        if self.workspaces.iter().any(|w| w.name.eq_ignore_ascii_case(name)) {
            return already_exists();
        }
        let workspace = FakeWorkspace {
            id: WorkspaceId::from(Guid::new_random()),
            name: name.to_owned(),
            owner: caller,
            capacity: None,
            members: Vec::new(),
            reports: Vec::new(),
            datasets: Vec::new(),
            refreshes: Vec::new(),
            assignment_polls: 0,
            imports: Vec::new(),
        };
        // One group object, not a list (the live answer).
        let answer = json!({
            "@odata.context": "http://wabi-fake/v1.0/myorg/$metadata#groups/$entity",
            "id": workspace.id, "isReadOnly": false, "isOnDedicatedCapacity": false, "name": workspace.name,
        });
        self.workspaces.push(workspace);
        ok(answer)
    }
}

/// The routes under `groups/{id}/` of a workspace the caller owns. `None` for a route the fake
/// does not know (or the plain `DELETE`, which the caller handles).
fn workspace_route(
    ws: &mut FakeWorkspace,
    (base, uploads): (&str, &[String]),
    method: &str,
    rest: &[&str],
    request: &Request,
    body: &Value,
    query: &dyn Fn(&str) -> Option<String>,
) -> Option<ResponseTemplate> {
    Some(match (method, rest) {
        ("GET", []) => ok(workspace_json(ws)),
        ("DELETE", []) => return None,
        ("POST", ["users"]) => {
            let right = body["groupUserAccessRight"].as_str();
            let who = body["emailAddress"].as_str().or(body["identifier"].as_str());
            let kind = body["principalType"].as_str();
            if !matches!(right, Some("Admin" | "Member" | "Contributor" | "Viewer")) || who.is_none() || kind.is_none()
            {
                return Some(error(
                    400,
                    "InvalidRequest",
                    "groupUserAccessRight, principalType and a principal are required",
                ));
            }
            ws.members.push(body.clone());
            ResponseTemplate::new(200)
        }
        ("POST", ["AssignToCapacity"]) => {
            let Some(capacity) = body["capacityId"].as_str().and_then(|c| c.parse::<CapacityId>().ok()) else {
                return Some(error(400, "InvalidRequest", "capacityId is required"));
            };
            ws.capacity = Some(capacity);
            ws.assignment_polls = 0;
            ResponseTemplate::new(200)
        }
        ("GET", ["CapacityAssignmentStatus"]) => {
            let Some(capacity) = ws.capacity else {
                return Some(not_found());
            };
            ws.assignment_polls += 1;
            // One poll in progress, then done: callers must poll.
            let status = if ws.assignment_polls < 2 { "InProgress" } else { "CompletedSuccessfully" };
            ok(json!({"@odata.context": "http://wabi-fake/v1.0/myorg/$metadata#capacityAssignmentStatus",
                      "status": status, "activityId": Guid::new_random(), "startTime": "2026-12-01T10:00:00.000Z",
                      "endTime": if status == "InProgress" { Value::Null } else { "2026-12-01T10:00:05.000Z".into() },
                      "capacityId": capacity}))
        }
        ("POST", ["imports"]) => import(ws, uploads, request, body, query),
        ("GET", ["imports", id]) => {
            let Some(import) = ws.imports.iter_mut().find(|i| i.id.to_string() == id.to_ascii_lowercase()) else {
                return Some(not_found());
            };
            import.polls += 1;
            // First poll: still publishing, without items; then done, with them.
            let done = import.polls >= 2;
            let mut answer = json!({
                "id": import.id, "name": import.name, "importState": if done { "Succeeded" } else { "Publishing" },
                "createdDateTime": "2026-12-01T10:00:00Z", "updatedDateTime": "2026-12-01T10:00:03Z",
            });
            if done {
                let report_url = format!("{APP_HOST}/reportEmbed?reportId={}&groupId={}", import.report, ws.id);
                answer["reports"] = json!([{"id": import.report, "reportType": "PowerBIReport", "name": import.name,
                                             "embedUrl": report_url, "datasetId": import.dataset}]);
                answer["datasets"] = json!([{"id": import.dataset, "name": import.name, "isRefreshable": true}]);
            }
            ok(answer)
        }
        ("POST", ["imports", "createTemporaryUploadLocation"]) => ok(json!({
            // camelCase, as the live service answers (the swagger says PascalCase). The "blob"
            // is this fake itself (see `upload`), so nothing leaves loopback.
            "url": format!("{base}/v1.0/myorg/fake-blob/{}?sv=fake&sig=fake", Guid::new_random()),
            "expirationTime": "2026-12-01T11:00:00Z",
        })),
        ("GET", ["reports"]) => {
            let value: Vec<Value> = ws.reports.iter().map(|r| report_json(ws.id, r)).collect();
            ok(json!({"@odata.context": "http://wabi-fake/v1.0/myorg/$metadata#reports", "value": value}))
        }
        ("POST", ["reports", id, "GenerateToken"]) => {
            if !ws.reports.iter().any(|r| same(id, r.0)) {
                return Some(not_found());
            }
            // A View or Edit token for an onboarded report, so the embed step can be tried on
            // the fake too (the rest of the fake checks GenerateToken bodies in detail).
            let now = time::OffsetDateTime::now_utc();
            let minutes = body["lifetimeInMinutes"].as_i64().filter(|m| (1..=60).contains(m)).unwrap_or(60);
            let expiration = (now + time::Duration::minutes(minutes)).replace_nanosecond(0).unwrap_or(now);
            let expiration = expiration.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
            ok(json!({"token": format!("fake-embed-{}", Guid::new_random()), "tokenId": Guid::new_random(),
                      "expiration": expiration}))
        }
        ("GET", ["reports", id]) => match ws.reports.iter().find(|r| same(id, r.0)) {
            Some(r) => ok(report_json(ws.id, r)),
            None => not_found(),
        },
        ("POST", ["reports", id, "Rebind"]) => {
            let Some(dataset) = body["datasetId"].as_str().and_then(|d| d.parse::<DatasetId>().ok()) else {
                return Some(error(400, "InvalidRequest", "datasetId is required"));
            };
            if !ws.datasets.iter().any(|d| d.0 == dataset) {
                return Some(not_found());
            }
            match ws.reports.iter_mut().find(|r| same(id, r.0)) {
                Some(report) => {
                    report.2 = dataset;
                    ResponseTemplate::new(200)
                }
                None => not_found(),
            }
        }
        ("POST", ["reports", id, "Clone"]) => {
            let Some(source) = ws.reports.iter().find(|r| same(id, r.0)).cloned() else {
                return Some(not_found());
            };
            let Some(name) = body["name"].as_str().filter(|n| !n.is_empty()) else {
                return Some(error(400, "InvalidRequest", "name is required"));
            };
            let dataset = body["targetModelId"].as_str().and_then(|d| d.parse().ok()).unwrap_or(source.2);
            let copy = (ReportId::from(Guid::new_random()), name.to_owned(), dataset);
            let answer = report_json(ws.id, &copy);
            ws.reports.push(copy);
            ok(answer)
        }
        ("GET", ["datasets"]) => {
            let value: Vec<Value> = ws.datasets.iter().map(|d| json!({"id": d.0, "name": d.1})).collect();
            ok(json!({"value": value}))
        }
        ("GET", ["datasets", id]) => match ws.datasets.iter().find(|d| same(id, d.0)) {
            Some(d) => ok(json!({"id": d.0, "name": d.1, "isRefreshable": true, "isEffectiveIdentityRequired": false,
                                 "isEffectiveIdentityRolesRequired": false, "isOnPremGatewayRequired": false})),
            None => not_found(),
        },
        ("POST", ["datasets", id, "Default.UpdateParameters"]) => {
            let Some(dataset) = ws.datasets.iter_mut().find(|d| same(id, d.0)) else {
                return Some(not_found());
            };
            let Some(details) = body["updateDetails"].as_array().filter(|d| !d.is_empty()) else {
                return Some(error(400, "InvalidRequest", "updateDetails is required"));
            };
            for detail in details {
                let (Some(name), value) = (detail["name"].as_str(), detail["newValue"].as_str().unwrap_or_default())
                else {
                    return Some(error(400, "InvalidRequest", "a parameter has no name"));
                };
                dataset.2.retain(|(n, _)| n != name);
                dataset.2.push((name.to_owned(), value.to_owned()));
            }
            ResponseTemplate::new(200)
        }
        ("GET", ["datasets", id, "datasources"]) => {
            let Some(dataset) = ws.datasets.iter().find(|d| same(id, d.0)) else {
                return Some(not_found());
            };
            let server = dataset.2.iter().find(|(n, _)| n == "Server").map_or("sql.example.com", |(_, v)| v.as_str());
            let (gateway, datasource) = datasource_ids(dataset.0);
            ok(json!({"value": [{"datasourceType": "Sql", "connectionDetails": {"server": server, "database": "Sales"},
                                 "gatewayId": gateway, "datasourceId": datasource}]}))
        }
        ("POST", ["datasets", id, "Default.TakeOver"]) => {
            if ws.datasets.iter().any(|d| same(id, d.0)) {
                ResponseTemplate::new(200)
            } else {
                not_found()
            }
        }
        ("POST", ["datasets", id, "refreshes"]) => match ws.datasets.iter().find(|d| same(id, d.0)).map(|d| d.0) {
            Some(dataset) => {
                ws.refreshes.push(dataset);
                ResponseTemplate::new(202)
            }
            None => not_found(),
        },
        ("GET", ["datasets", id, "refreshes"]) => {
            let Some(dataset) = ws.datasets.iter().find(|d| same(id, d.0)).map(|d| d.0) else {
                return Some(not_found());
            };
            let top = query("$top").and_then(|t| t.parse().ok()).unwrap_or(usize::MAX);
            let value: Vec<Value> = ws
                .refreshes
                .iter()
                .filter(|d| **d == dataset)
                .rev()
                .take(top)
                .map(|_| {
                    json!({"refreshType": "ViaApi", "startTime": "2026-12-01T10:00:00Z",
                               "endTime": "2026-12-01T10:00:30Z", "status": "Completed",
                               "requestId": Guid::new_random()})
                })
                .collect();
            ok(json!({"value": value}))
        }
        _ => not_found(),
    })
}

/// A `.pbix` import: a multipart body with a file part, or `{"fileUrl"}` from a temporary
/// upload location; `datasetDisplayName` names the items (its `.pbix` dropped).
fn import(
    ws: &mut FakeWorkspace,
    uploads: &[String],
    request: &Request,
    body: &Value,
    query: &dyn Fn(&str) -> Option<String>,
) -> ResponseTemplate {
    let content_type = request.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let multipart = content_type.starts_with("multipart/form-data; boundary=")
        && request.body.windows(9).any(|w| w == b"filename=");
    let uploaded = |u: &str| url::Url::parse(u).is_ok_and(|u| uploads.iter().any(|up| *up == u.path()));
    let by_url = body["fileUrl"].as_str().is_some_and(uploaded);
    if !multipart && !by_url {
        return error(400, "InvalidRequest", "Expected a multipart file or a fileUrl");
    }
    let Some(display) = query("datasetDisplayName").filter(|n| !n.is_empty()) else {
        return error(400, "InvalidRequest", "datasetDisplayName is required");
    };
    let name = display.strip_suffix(".pbix").unwrap_or(&display).to_owned();
    let conflict = query("nameConflict").unwrap_or_else(|| "Ignore".into());
    let existing = ws.reports.iter().filter(|r| r.1 == name).count();
    let (report, dataset) = match (conflict.as_str(), existing) {
        ("Abort", 1..) => return already_exists(),
        ("Overwrite", 0) => return not_found(),
        ("Overwrite" | "CreateOrOverwrite", 2..) => {
            return error(409, "MoreThanOneDuplicatePackageFoundError", "More than one package of that name")
        }
        ("Overwrite" | "CreateOrOverwrite", 1) => {
            let found = ws.reports.iter().find(|r| r.1 == name).map(|r| (r.0, r.2));
            found.unwrap_or_else(|| unreachable!("counted above"))
        }
        ("Abort" | "CreateOrOverwrite" | "Ignore" | "GenerateUniqueName", _) => {
            let ids = (ReportId::from(Guid::new_random()), DatasetId::from(Guid::new_random()));
            ws.reports.push((ids.0, name.clone(), ids.1));
            ws.datasets.push((ids.1, name.clone(), Vec::new()));
            ids
        }
        _ => return error(400, "InvalidRequest", "Unknown nameConflict"),
    };
    let id = ImportId::from(Guid::new_random());
    ws.imports.push(FakeImport { id, name, report, dataset, polls: 0 });
    ResponseTemplate::new(202).set_body_json(json!({"id": id}))
}

/// The gateway and data source ids of a dataset's one data source (derived, so stable).
fn datasource_ids(dataset: DatasetId) -> (GatewayId, DatasourceId) {
    let bits = Guid::from(dataset).as_u128();
    (GatewayId::from_u128(bits ^ 0x1111), DatasourceId::from_u128(bits ^ 0x2222))
}

/// `name eq 'X'` (quotes doubled inside), the one filter the fake reads.
fn name_filter(filter: &str) -> Option<String> {
    let quoted = filter.trim().strip_prefix("name eq '")?.strip_suffix('\'')?;
    Some(quoted.replace("''", "'"))
}

fn same(text: &str, id: impl Into<Guid>) -> bool {
    text.parse::<Guid>().is_ok_and(|g| g == id.into())
}

fn profile_json(profile: &FakeProfile) -> Value {
    json!({"id": profile.id, "displayName": profile.display_name})
}

fn workspace_json(ws: &FakeWorkspace) -> Value {
    let mut value =
        json!({"id": ws.id, "isReadOnly": false, "isOnDedicatedCapacity": ws.capacity.is_some(), "name": ws.name});
    if let Some(capacity) = ws.capacity {
        value["capacityId"] = json!(capacity);
    }
    value
}

fn report_json(workspace: WorkspaceId, (id, name, dataset): &(ReportId, String, DatasetId)) -> Value {
    json!({
        "id": id, "reportType": "PowerBIReport", "name": name, "datasetId": dataset, "datasetWorkspaceId": workspace,
        "webUrl": format!("{APP_HOST}/groups/{workspace}/reports/{id}"),
        "embedUrl": format!("{APP_HOST}/reportEmbed?reportId={id}&groupId={workspace}"),
    })
}

/// 400 `PowerBIEntityAlreadyExists`, as the live service answers a taken name.
fn already_exists() -> ResponseTemplate {
    error(400, "PowerBIEntityAlreadyExists", "An entity with the same name already exists")
}

/// 404 `ItemNotFound` with a `target`, as the live service answers an unknown item here.
fn not_found() -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(json!({"error": {"code": "ItemNotFound", "message": "Item not found",
                                                              "target": "item"}}))
}
