//! PowerBiClient against wiremock fakes of Entra ID and Power BI: every GenerateToken
//! operation on the wire, lookups, embed configs end to end, errors, retries, the Entra
//! freshness rule and the embed-token cache.

use std::time::Duration;

use crate::support::ids::{DASHBOARD, DATASET, REPORT, TILE, WORKSPACE};
use crate::support::*;
use powerbi_embed::testing::SafeMockServer;
use powerbi_embed::CapacityId;
use powerbi_embed::{
    AadClient, CapacityState, ClientSecretCredential, Clock, DashboardId, DatasetId, EffectiveIdentity, Error,
    ForReport, ForReportCreation, GenerateTokenRequest, GenerateTokenRequestV2, ManualClock, PowerBiClient, ProfileId,
    RefreshPolicy, ReportId, RetryPolicy, TileId, WorkspaceId, XmlaPermissions,
};
use serde_json::{json, Value};
use wiremock::matchers::{body_json, header, header_exists, method, path};
use wiremock::{Mock, ResponseTemplate};

const PROFILE: ProfileId = ProfileId::from_u128(0xa7c2b6e1_4c9d_4e53_9f3a_0d1e2f3a4b5c);
const TOKEN_ID: &str = "49ae3742-54c0-4c29-af52-619ff93b5c80";
const ENTRA_TOKEN: &str = "entra-access-token";

struct Fakes {
    entra: SafeMockServer,
    powerbi: SafeMockServer,
    clock: ManualClock,
}

impl Fakes {
    /// Both fakes; Entra answers one token valid for an hour.
    async fn start() -> Self {
        let fakes = Self { entra: strict_server().await, powerbi: strict_server().await, clock: clock() };
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(token_body(ENTRA_TOKEN, 3600)))
            .named("entra token")
            .expect(1)
            .mount(&fakes.entra)
            .await;
        fakes
    }

    fn aad(&self) -> AadClient {
        aad_client(&self.entra, ClientSecretCredential::new(TENANT, CLIENT, "secret").unwrap(), &self.clock)
    }

    fn client(&self) -> PowerBiClient {
        self.builder().build().unwrap()
    }

    fn builder(&self) -> powerbi_embed::PowerBiClientBuilder {
        PowerBiClient::builder(self.aad())
            .api_base(self.powerbi.uri())
            .retry_policy(RetryPolicy::default().max_attempts(3))
    }

    fn embed_token_reply(&self, token: &str, minutes: i64) -> ResponseTemplate {
        let expiration = (self.clock.now() + Duration::from_secs(minutes as u64 * 60))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        ResponseTemplate::new(200).insert_header("RequestId", "req-1").set_body_json(json!({
            "@odata.context": "http://wabi/v1.0/myorg/$metadata#Microsoft.PowerBI.ServiceContracts.Api.V1.EmbedToken",
            "token": token, "tokenId": TOKEN_ID, "expiration": expiration
        }))
    }
}

fn generate_token_path(rest: &str) -> String {
    format!("/v1.0/myorg/{rest}/GenerateToken")
}

/// Each V1 operation: POST, exact path, bearer token, JSON content type, exact body.
#[tokio::test]
async fn every_v1_operation_sends_the_exact_request() {
    let fakes = Fakes::start().await;
    let client = fakes.client();
    let identity = EffectiveIdentity::new("customer@contoso.com").roles(["Viewer"]).datasets([DATASET]);
    // (path, body); the requests follow, one per kind.
    let cases: Vec<(String, Value)> = vec![
        (
            format!("groups/{WORKSPACE}/reports/{REPORT}"),
            json!({"accessLevel": "View", "identities": [{"username": "customer@contoso.com", "roles": ["Viewer"], "datasets": [DATASET]}], "lifetimeInMinutes": 30}),
        ),
        (format!("groups/{WORKSPACE}/reports"), json!({"accessLevel": "Create", "datasetId": DATASET})),
        (format!("groups/{WORKSPACE}/dashboards/{DASHBOARD}"), json!({"accessLevel": "View"})),
        (format!("groups/{WORKSPACE}/dashboards/{DASHBOARD}/tiles/{TILE}"), json!({"accessLevel": "View"})),
        (
            format!("groups/{WORKSPACE}/datasets/{DATASET}"),
            json!({"accessLevel": "View", "identities": [{"username": "customer@contoso.com", "roles": ["Viewer"], "datasets": [DATASET]}]}),
        ),
    ];
    for (rest, body) in &cases {
        Mock::given(method("POST"))
            .and(path(generate_token_path(rest)))
            .and(header("authorization", format!("Bearer {ENTRA_TOKEN}").as_str()))
            .and(header("content-type", "application/json"))
            .and(body_json(body))
            .respond_with(fakes.embed_token_reply(&format!("embed-for-{rest}"), 60))
            .expect(1)
            .mount(&fakes.powerbi)
            .await;
    }
    let [report, create, dashboard, tile, dataset] = <[_; 5]>::try_from(cases).ok().unwrap();
    let workspace = client.workspace(WORKSPACE);
    let view_request =
        GenerateTokenRequest::report_view().identity(identity.clone()).lifetime_minutes(30).build().unwrap();
    let create_request = GenerateTokenRequest::report_creation().build().unwrap();
    let qna_request = GenerateTokenRequest::qna().identity(identity.clone()).build().unwrap();
    let dashboard_request = GenerateTokenRequest::dashboard().build().unwrap();
    let tile_request = GenerateTokenRequest::tile().build().unwrap();
    let tokens = [
        (report.0, workspace.report(REPORT).embed_token(&view_request).await.unwrap()),
        (create.0, workspace.dataset(DATASET).create_report_token(&create_request).await.unwrap()),
        (dashboard.0, workspace.dashboard(DASHBOARD).embed_token(&dashboard_request).await.unwrap()),
        (tile.0, workspace.dashboard(DASHBOARD).tile(TILE).embed_token(&tile_request).await.unwrap()),
        (dataset.0, workspace.dataset(DATASET).qna_token(&qna_request).await.unwrap()),
    ];
    for (rest, token) in tokens {
        assert_eq!(token.secret().expose_secret(), format!("embed-for-{rest}"));
        assert_eq!(token.token_id().to_string(), TOKEN_ID);
        assert_eq!(token.expiration(), fakes.clock.now() + Duration::from_secs(3600));
        assert_eq!(token.expiration().offset(), time::UtcOffset::UTC);
    }
}

#[tokio::test]
async fn multi_resource_v2_token_sends_the_exact_body_with_the_profile_header() {
    let fakes = Fakes::start().await;
    let client = fakes.client();
    let other_report: ReportId = "0a1b2c3d-0000-4000-8000-00000000000a".parse().unwrap();
    let request = GenerateTokenRequestV2::builder()
        .report(REPORT)
        .report_with_edit(other_report, true)
        .dataset_with_xmla(DATASET, XmlaPermissions::ReadOnly)
        .target_workspace(WORKSPACE)
        .identity(EffectiveIdentity::new("u@contoso.com").role("R").datasets([DATASET]).custom_data("tier=1"))
        .lifetime_minutes(45)
        .build()
        .unwrap();
    Mock::given(method("POST"))
        .and(path("/v1.0/myorg/GenerateToken"))
        .and(header("authorization", format!("Bearer {ENTRA_TOKEN}").as_str()))
        .and(header("x-powerbi-profile-id", PROFILE.to_string().as_str()))
        .and(body_json(json!({
            "datasets": [{"id": DATASET, "xmlaPermissions": "ReadOnly"}],
            "reports": [{"id": REPORT}, {"id": other_report, "allowEdit": true}],
            "targetWorkspaces": [{"id": WORKSPACE}],
            "identities": [{"username": "u@contoso.com", "roles": ["R"], "datasets": [DATASET], "customData": "tier=1"}],
            "lifetimeInMinutes": 45
        })))
        .respond_with(fakes.embed_token_reply("v2-token", 45))
        .expect(1)
        .mount(&fakes.powerbi)
        .await;
    let token = client.as_profile(PROFILE).embed_token(&request).await.unwrap();
    assert_eq!(token.secret().expose_secret(), "v2-token");
}

#[tokio::test]
async fn profile_header_is_absent_unless_configured() {
    let fakes = Fakes::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v1.0/myorg/groups/{WORKSPACE}/reports")))
        .and(header_exists("x-powerbi-profile-id"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": []})))
        .expect(0)
        .mount(&fakes.powerbi)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1.0/myorg/groups/{WORKSPACE}/reports")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"@odata.context": "x", "value": [
            {"id": REPORT, "name": "Sales", "embedUrl": "https://app.powerbi.com/reportEmbed?reportId=1", "webUrl": "https://app.powerbi.com/r", "datasetId": DATASET, "reportType": "PowerBIReport", "isOwnedByMe": true},
            {"id": DATASET, "name": "Paged", "embedUrl": "https://app.powerbi.com/rdlEmbed?reportId=2", "reportType": "PaginatedReport"}
        ]})))
        .expect(1)
        .mount(&fakes.powerbi)
        .await;
    let reports = fakes.client().workspace(WORKSPACE).list_reports().await.unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0].id, REPORT);
    assert_eq!(reports[0].name, "Sales");
    assert_eq!(reports[0].dataset_id, Some(DATASET));
    assert_eq!(reports[0].report_type, Some(powerbi_embed::ReportType::PowerBi));
    assert_eq!(reports[1].report_type, Some(powerbi_embed::ReportType::Paginated));
}

/// Lookups: the single and list forms of reports, dashboards, tiles and datasets.
#[tokio::test]
async fn lookups_parse_typed_models() {
    let fakes = Fakes::start().await;
    let mounts = [
        (
            format!("groups/{WORKSPACE}/dashboards/{DASHBOARD}"),
            json!({"id": DASHBOARD, "displayName": "Ops", "isReadOnly": false, "embedUrl": "https://app.powerbi.com/dashboardEmbed?dashboardId=d"}),
        ),
        (
            format!("groups/{WORKSPACE}/dashboards"),
            json!({"value": [{"id": DASHBOARD, "displayName": "Ops", "embedUrl": "u"}]}),
        ),
        (
            format!("groups/{WORKSPACE}/dashboards/{DASHBOARD}/tiles/{TILE}"),
            json!({"id": TILE, "title": "Revenue", "embedUrl": "https://app.powerbi.com/embed?dashboardId=d&tileId=t", "reportId": REPORT, "datasetId": DATASET, "rowSpan": 0}),
        ),
        (format!("groups/{WORKSPACE}/dashboards/{DASHBOARD}/tiles"), json!({"value": [{"id": TILE}]})),
        (
            format!("groups/{WORKSPACE}/datasets/{DATASET}"),
            json!({"id": DATASET, "name": "Sales", "IsEffectiveIdentityRequired": true, "IsEffectiveIdentityRolesRequired": false, "QnaEmbedURL": "https://app.powerbi.com/qnaEmbed?groupId=g", "CreateReportEmbedURL": "https://app.powerbi.com/reportEmbed?groupId=g", "configuredBy": "a@b.c"}),
        ),
        (format!("groups/{WORKSPACE}/datasets"), json!({"value": [{"id": DATASET, "name": "Sales"}]})),
        (
            format!("groups/{WORKSPACE}/reports/{REPORT}"),
            json!({"id": REPORT, "name": "Sales", "embedUrl": "https://app.powerbi.com/reportEmbed?reportId=r"}),
        ),
    ];
    for (rest, body) in mounts {
        Mock::given(method("GET"))
            .and(path(format!("/v1.0/myorg/{rest}")))
            .and(header("authorization", format!("Bearer {ENTRA_TOKEN}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1)
            .mount(&fakes.powerbi)
            .await;
    }
    let client = fakes.client();
    let dashboard = client.workspace(WORKSPACE).dashboard(DASHBOARD).get().await.unwrap();
    assert_eq!((dashboard.display_name.as_str(), dashboard.is_read_only), ("Ops", Some(false)));
    assert_eq!(client.workspace(WORKSPACE).list_dashboards().await.unwrap().len(), 1);
    let tile = client.workspace(WORKSPACE).dashboard(DASHBOARD).tile(TILE).get().await.unwrap();
    assert_eq!(tile.title.as_deref(), Some("Revenue"));
    assert_eq!(tile.report_id, Some(REPORT));
    assert_eq!(client.workspace(WORKSPACE).dashboard(DASHBOARD).list_tiles().await.unwrap()[0].id, TILE);
    let dataset = client.workspace(WORKSPACE).dataset(DATASET).get().await.unwrap();
    assert_eq!(dataset.is_effective_identity_required, Some(true));
    assert_eq!(dataset.qna_embed_url.as_deref(), Some("https://app.powerbi.com/qnaEmbed?groupId=g"));
    assert_eq!(client.workspace(WORKSPACE).list_datasets().await.unwrap()[0].name, "Sales");
    assert_eq!(
        client.workspace(WORKSPACE).report(REPORT).get().await.unwrap().embed_url,
        "https://app.powerbi.com/reportEmbed?reportId=r"
    );
}

/// The workspace and capacity lookups: GET, exact path, bearer, `Accept`, the profile header;
/// the answers are Microsoft's sample responses for "Groups - Get Group" and "Capacities - Get
/// Capacities" (Learn, REST API reference).
#[tokio::test]
async fn workspace_and_capacities_lookups_send_the_exact_request() {
    const CAPACITY: CapacityId = CapacityId::from_u128(0x0f084df7_c13d_451b_af5f_ed0c466403b2);
    let fakes = Fakes::start().await;
    let mounts = [
        (
            format!("/v1.0/myorg/groups/{WORKSPACE}"),
            json!({"id": WORKSPACE, "isReadOnly": false, "isOnDedicatedCapacity": true, "capacityId": CAPACITY, "defaultDatasetStorageFormat": "Small", "name": "Sample Group 1"}),
        ),
        (
            "/v1.0/myorg/capacities".to_owned(),
            json!({"value": [{"id": CAPACITY, "displayName": "MyCapacity", "admins": ["john@contoso.com"], "sku": "A1", "state": "Active", "region": "West Central US", "capacityUserAccessRight": "Admin"}]}),
        ),
    ];
    for (route, body) in mounts {
        Mock::given(method("GET"))
            .and(path(route))
            .and(header("authorization", format!("Bearer {ENTRA_TOKEN}").as_str()))
            .and(header("accept", "application/json"))
            .and(header("X-PowerBI-Profile-Id", PROFILE.to_string().as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1)
            .mount(&fakes.powerbi)
            .await;
    }
    let client = fakes.client();
    let customer = client.as_profile(PROFILE);
    let workspace = customer.workspace(WORKSPACE).get().await.unwrap();
    assert_eq!(workspace.id, WORKSPACE);
    assert_eq!(workspace.name, "Sample Group 1");
    assert_eq!((workspace.is_on_dedicated_capacity, workspace.capacity_id), (Some(true), Some(CAPACITY)));
    let capacities = customer.list_capacities().await.unwrap();
    assert_eq!(capacities.len(), 1);
    let capacity = &capacities[0];
    assert_eq!((capacity.id, capacity.display_name.as_str()), (CAPACITY, "MyCapacity"));
    assert_eq!((capacity.sku.as_deref(), capacity.region.as_deref()), (Some("A1"), Some("West Central US")));
    assert_eq!(capacity.state, CapacityState::Active);
}

/// A capacity list this identity may not read is a typed error with its status; a bad workspace
/// id is refused before any request.
#[tokio::test]
async fn capacities_refused_is_a_typed_error_and_a_bad_workspace_id_is_refused_where_parsed() {
    let fakes = Fakes::start().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/myorg/capacities"))
        .respond_with(ResponseTemplate::new(403).insert_header("RequestId", "req-9"))
        .expect(1)
        .mount(&fakes.powerbi)
        .await;
    let client = fakes.client();
    let err = client.list_capacities().await.unwrap_err();
    match &err {
        Error::PowerBi(e) => assert_eq!((e.status, e.request_id.as_deref()), (403, Some("req-9"))),
        other => panic!("{other:?}"),
    }
    let err = "not-a-guid".parse::<WorkspaceId>().unwrap_err();
    assert_eq!(err.field(), Some("workspace_id"), "{err}");
}

/// The built-in fake's `wrong-audience` fault end to end: Power BI refuses the token for
/// another resource with 403 `InvalidToken`, the client signs in once more and retries once,
/// and the second refusal is returned.
#[tokio::test]
async fn a_token_for_another_audience_is_refused_after_one_renewal() {
    use powerbi_embed::testing::{FakeFault, FakeServices};
    let fake = FakeServices::builder().fault(FakeFault::WrongAudience).start().await;
    let client = PowerBiClient::builder(fake.aad_client()).api_base(fake.api_base()).build().unwrap();
    let err = client.workspace(fake.workspace_id()).get().await.unwrap_err();
    match &err {
        Error::PowerBi(e) => assert_eq!((e.status, e.error_info.as_deref()), (403, Some("InvalidToken"))),
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.token_request_count(), 2, "one sign-in, one renewal after the refusal");
    let paths: Vec<String> =
        fake.requests().iter().filter(|r| r.service == "powerbi").map(|r| r.path.clone()).collect();
    let workspace_path = format!("/v1.0/myorg/groups/{}", fake.workspace_id());
    assert_eq!(paths, [workspace_path.clone(), workspace_path]);
}

/// Entra fake -> Power BI fake -> EmbedConfig JSON, once per access level.
#[tokio::test]
async fn end_to_end_embed_config_per_access_level() {
    let embed_url = "https://app.powerbi.com/reportEmbed?reportId=5b218778&groupId=f089354e";
    let create_url = "https://app.powerbi.com/reportEmbed?groupId=f089354e";
    enum Request {
        Report(GenerateTokenRequest<ForReport>),
        Create(GenerateTokenRequest<ForReportCreation>),
    }
    let cases = [
        (Request::Report(GenerateTokenRequest::report_view().build().unwrap()), json!({"accessLevel": "View"})),
        (
            Request::Report(GenerateTokenRequest::report_edit().allow_save_as(true).build().unwrap()),
            json!({"accessLevel": "Edit", "allowSaveAs": true}),
        ),
        (
            Request::Create(GenerateTokenRequest::report_creation().build().unwrap()),
            json!({"accessLevel": "Create", "datasetId": DATASET}),
        ),
    ];
    for (request, body) in cases {
        let fakes = Fakes::start().await;
        let create = matches!(request, Request::Create(_));
        let (lookup, token_path) = if create {
            (
                format!("/v1.0/myorg/groups/{WORKSPACE}/datasets/{DATASET}"),
                generate_token_path(&format!("groups/{WORKSPACE}/reports")),
            )
        } else {
            (
                format!("/v1.0/myorg/groups/{WORKSPACE}/reports/{REPORT}"),
                generate_token_path(&format!("groups/{WORKSPACE}/reports/{REPORT}")),
            )
        };
        let lookup_body = if create {
            json!({"id": DATASET, "name": "Sales", "CreateReportEmbedURL": create_url})
        } else {
            json!({"id": REPORT, "name": "Sales", "embedUrl": embed_url, "datasetId": DATASET})
        };
        Mock::given(method("GET"))
            .and(path(lookup))
            .respond_with(ResponseTemplate::new(200).set_body_json(lookup_body))
            .expect(1)
            .mount(&fakes.powerbi)
            .await;
        Mock::given(method("POST"))
            .and(path(token_path))
            .and(body_json(&body))
            .respond_with(fakes.embed_token_reply("the-embed-token", 60))
            .expect(1)
            .mount(&fakes.powerbi)
            .await;
        let client = fakes.client();
        let workspace = client.workspace(WORKSPACE);
        let config = match &request {
            Request::Create(request) => workspace.dataset(DATASET).create_report_config(request).await.unwrap(),
            Request::Report(request) => workspace.report(REPORT).embed_config(request).await.unwrap(),
        };
        let expiration = (fakes.clock.now() + Duration::from_secs(3600))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        // The config carries the rights of its token (issue 17): Create 4, Read 0, Edit with
        // "Save as" All 7 (powerbi-models accepts no combination such as 3).
        let expected = if create {
            json!({"type": "create", "datasetId": DATASET, "embedUrl": create_url, "accessToken": "the-embed-token", "tokenType": 1, "tokenId": TOKEN_ID, "expiration": expiration, "permissions": 4})
        } else {
            let permissions = if body["accessLevel"] == "Edit" { 7 } else { 0 };
            json!({"type": "report", "id": REPORT, "embedUrl": embed_url, "accessToken": "the-embed-token", "tokenType": 1, "tokenId": TOKEN_ID, "expiration": expiration, "permissions": permissions, "viewMode": 0})
        };
        assert_eq!(serde_json::to_value(&config).unwrap(), expected, "{body}");
        assert!(!format!("{config:?}").contains("the-embed-token"));
    }
}

#[tokio::test]
async fn dashboard_tile_and_qna_configs() {
    let fakes = Fakes::start().await;
    let get = |p: String, body: Value| {
        Mock::given(method("GET")).and(path(p)).respond_with(ResponseTemplate::new(200).set_body_json(body)).expect(1)
    };
    get(
        format!("/v1.0/myorg/groups/{WORKSPACE}/dashboards/{DASHBOARD}"),
        json!({"id": DASHBOARD, "embedUrl": "https://d"}),
    )
    .mount(&fakes.powerbi)
    .await;
    get(
        format!("/v1.0/myorg/groups/{WORKSPACE}/dashboards/{DASHBOARD}/tiles/{TILE}"),
        json!({"id": TILE, "embedUrl": "https://t"}),
    )
    .mount(&fakes.powerbi)
    .await;
    get(
        format!("/v1.0/myorg/groups/{WORKSPACE}/datasets/{DATASET}"),
        json!({"id": DATASET, "QnaEmbedURL": "https://q"}),
    )
    .mount(&fakes.powerbi)
    .await;
    for rest in [
        format!("groups/{WORKSPACE}/dashboards/{DASHBOARD}"),
        format!("groups/{WORKSPACE}/dashboards/{DASHBOARD}/tiles/{TILE}"),
        format!("groups/{WORKSPACE}/datasets/{DATASET}"),
    ] {
        Mock::given(method("POST"))
            .and(path(generate_token_path(&rest)))
            .and(body_json(json!({"accessLevel": "View"})))
            .respond_with(fakes.embed_token_reply("tok", 60))
            .expect(1)
            .mount(&fakes.powerbi)
            .await;
    }
    let client = fakes.client();
    let view = GenerateTokenRequest::dashboard().build().unwrap();
    let dashboard =
        serde_json::to_value(client.workspace(WORKSPACE).dashboard(DASHBOARD).embed_config(&view).await.unwrap())
            .unwrap();
    assert_eq!(
        (&dashboard["type"], &dashboard["id"], &dashboard["embedUrl"]),
        (&json!("dashboard"), &json!(DASHBOARD), &json!("https://d"))
    );
    let tile_request = GenerateTokenRequest::tile().build().unwrap();
    let tile = serde_json::to_value(
        client.workspace(WORKSPACE).dashboard(DASHBOARD).tile(TILE).embed_config(&tile_request).await.unwrap(),
    )
    .unwrap();
    assert_eq!((&tile["type"], &tile["id"], &tile["dashboardId"]), (&json!("tile"), &json!(TILE), &json!(DASHBOARD)));
    let qna_request = GenerateTokenRequest::qna().build().unwrap();
    let qna =
        serde_json::to_value(client.workspace(WORKSPACE).dataset(DATASET).qna_config(&qna_request).await.unwrap())
            .unwrap();
    assert_eq!(qna["type"], "qna");
    assert_eq!(qna["datasetIds"], json!([DATASET]));
    assert_eq!(qna.get("id"), None);
    assert_eq!(qna["tokenType"], 1);
}

/// The embed token never outlives the Entra token: one with 2 minutes left is renewed before a
/// 60-minute embed token is requested.
#[tokio::test]
async fn entra_token_with_two_minutes_left_is_renewed_before_a_60_minute_embed_token() {
    let fakes = Fakes { entra: strict_server().await, powerbi: strict_server().await, clock: clock() };
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("old-entra", 600)))
        .up_to_n_times(1)
        .expect(1)
        .mount(&fakes.entra)
        .await;
    let client = fakes.client();
    client.aad().token().await.unwrap();
    fakes.clock.advance(Duration::from_secs(480)); // 2 minutes left
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("new-entra", 3600)))
        .expect(1)
        .mount(&fakes.entra)
        .await;
    Mock::given(method("POST"))
        .and(path(generate_token_path(&format!("groups/{WORKSPACE}/reports/{REPORT}"))))
        .and(header("authorization", "Bearer new-entra"))
        .and(body_json(json!({"accessLevel": "View", "lifetimeInMinutes": 60})))
        .respond_with(fakes.embed_token_reply("sixty", 60))
        .expect(1)
        .mount(&fakes.powerbi)
        .await;
    let request = GenerateTokenRequest::report_view().lifetime_minutes(60).build().unwrap();
    let token = client.workspace(WORKSPACE).report(REPORT).embed_token(&request).await.unwrap();
    assert_eq!(token.expiration() - fakes.clock.now(), time::Duration::minutes(60));
}

#[tokio::test]
async fn error_statuses_map_to_typed_errors_with_hints() {
    let cases: Vec<(u16, Value, &str)> = vec![
        (401, json!({"error": {"code": "Unauthorized", "message": ""}}), "Member or Admin"),
        // 403 `TokenExpired` is a refused token: renewed and retried once (tests/token_recovery.rs),
        // its hint in tests/hints.rs.
        (403, json!({"error": {"code": "Unauthorized", "message": ""}}), "member"),
        (
            400,
            json!({"error": {"code": "InvalidRequest", "message": "Creating embed token for accessing dataset x shouldn't have effective identity"}}),
            "remove the effective identities",
        ),
        (
            400,
            json!({"error": {"code": "InvalidRequest", "message": "Creating embed token for accessing dataset x requires effective identity to be provided"}}),
            "add an effective identity",
        ),
        (404, json!({"error": {"code": "PowerBIEntityNotFound"}}), "not found"),
        (
            403,
            json!({"error": {"code": "Forbidden", "message": "This capacity exceeded the amount of embed tokens"}}),
            "quota",
        ),
    ];
    for (status, body, hint) in cases {
        let fakes = Fakes::start().await;
        Mock::given(method("POST"))
            .and(path(generate_token_path(&format!("groups/{WORKSPACE}/reports/{REPORT}"))))
            .respond_with(ResponseTemplate::new(status).insert_header("RequestId", "rid-42").set_body_json(&body))
            .expect(1)
            .mount(&fakes.powerbi)
            .await;
        let err = fakes
            .client()
            .workspace(WORKSPACE)
            .report(REPORT)
            .embed_token(&GenerateTokenRequest::report_view().build().unwrap())
            .await
            .unwrap_err();
        let pbi = err.as_power_bi().unwrap_or_else(|| panic!("{err:?}"));
        assert_eq!(pbi.status, status);
        assert_eq!(pbi.code.as_deref(), body["error"]["code"].as_str());
        // An empty message carries nothing and is dropped.
        assert_eq!(pbi.message.as_deref(), body["error"]["message"].as_str().filter(|m| !m.is_empty()));
        assert_eq!(err.request_id(), Some("rid-42"));
        assert!(err.hint().unwrap().contains(hint), "{status}: {:?}", err.hint());
        assert!(err.to_string().contains("rid-42"));
        assert!(!err.is_retryable());
    }
}

#[tokio::test]
async fn empty_and_html_error_bodies_still_give_typed_errors() {
    for (body, raw) in
        [("", None), ("<html><body>Bad Gateway</body></html>", Some("<html><body>Bad Gateway</body></html>"))]
    {
        let fakes = Fakes::start().await;
        Mock::given(method("GET"))
            .and(path(format!("/v1.0/myorg/groups/{WORKSPACE}/reports/{REPORT}")))
            .respond_with(ResponseTemplate::new(404).set_body_raw(body, "text/html"))
            .expect(1)
            .mount(&fakes.powerbi)
            .await;
        let err = fakes.client().workspace(WORKSPACE).report(REPORT).get().await.unwrap_err();
        let pbi = err.as_power_bi().unwrap();
        assert_eq!((pbi.status, pbi.code.as_deref(), pbi.raw_body.as_deref()), (404, None, raw));
    }
}

#[tokio::test]
async fn throttling_honours_retry_after_then_succeeds() {
    let fakes = Fakes::start().await;
    let route = generate_token_path(&format!("groups/{WORKSPACE}/reports/{REPORT}"));
    Mock::given(method("POST"))
        .and(path(&route))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "7")
                .set_body_json(json!({"error": {"code": "TooManyRequests"}})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&fakes.powerbi)
        .await;
    Mock::given(method("POST"))
        .and(path(&route))
        .respond_with(fakes.embed_token_reply("after-wait", 60))
        .expect(1)
        .mount(&fakes.powerbi)
        .await;
    let client = fakes.client();
    let token = client
        .workspace(WORKSPACE)
        .report(REPORT)
        .embed_token(&GenerateTokenRequest::report_view().build().unwrap())
        .await
        .unwrap();
    assert_eq!(token.secret().expose_secret(), "after-wait");
    assert_eq!(fakes.clock.sleeps(), vec![Duration::from_secs(7)]);
}

#[tokio::test]
async fn server_errors_are_retried_a_bounded_number_of_times() {
    let fakes = Fakes::start().await;
    Mock::given(method("POST"))
        .and(path(generate_token_path(&format!("groups/{WORKSPACE}/reports/{REPORT}"))))
        .respond_with(ResponseTemplate::new(503))
        .expect(3)
        .mount(&fakes.powerbi)
        .await;
    let err = fakes
        .client()
        .workspace(WORKSPACE)
        .report(REPORT)
        .embed_token(&GenerateTokenRequest::report_view().build().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert!(err.is_retryable());
    let sleeps = fakes.clock.sleeps();
    assert_eq!(sleeps.len(), 2, "{sleeps:?}");
    assert!(sleeps[0] >= Duration::from_millis(250) && sleeps[0] <= Duration::from_millis(500), "{sleeps:?}");
    assert!(sleeps[1] >= Duration::from_millis(500) && sleeps[1] <= Duration::from_millis(1000), "{sleeps:?}");
}

#[tokio::test]
async fn a_retry_after_beyond_the_budget_returns_the_429() {
    let fakes = Fakes::start().await;
    Mock::given(method("POST"))
        .and(path(generate_token_path(&format!("groups/{WORKSPACE}/reports/{REPORT}"))))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
        .expect(1)
        .mount(&fakes.powerbi)
        .await;
    let err = fakes
        .client()
        .workspace(WORKSPACE)
        .report(REPORT)
        .embed_token(&GenerateTokenRequest::report_view().build().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.as_power_bi().unwrap().retry_after, Some(Duration::from_secs(3600)));
    assert!(fakes.clock.sleeps().is_empty());
}

#[tokio::test]
async fn non_idempotent_generate_token_is_not_resent_after_a_5xx() {
    let fakes = Fakes::start().await;
    Mock::given(method("POST"))
        .and(path(generate_token_path(&format!("groups/{WORKSPACE}/reports/{REPORT}"))))
        .respond_with(ResponseTemplate::new(502))
        .expect(1)
        .mount(&fakes.powerbi)
        .await;
    let client = fakes.builder().retry_generate_token(false).build().unwrap();
    let err = client
        .workspace(WORKSPACE)
        .report(REPORT)
        .embed_token(&GenerateTokenRequest::report_view().build().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(502));
}

#[tokio::test]
async fn bad_ids_are_refused_where_they_are_parsed_and_a_bad_api_base_at_build() {
    // A malformed id never reaches a handle: it is refused, naming its field, where it is parsed;
    // a request for the wrong kind of item does not compile (see `GenerateTokenRequest`).
    let cases = [
        ("".parse::<WorkspaceId>().unwrap_err(), "workspace_id"),
        ("me".parse::<WorkspaceId>().unwrap_err(), "workspace_id"),
        ("report-1".parse::<ReportId>().unwrap_err(), "report_id"),
        ("x".parse::<DashboardId>().unwrap_err(), "dashboard_id"),
        ("x".parse::<TileId>().unwrap_err(), "tile_id"),
        ("x".parse::<DatasetId>().unwrap_err(), "dataset_id"),
        ("p".parse::<ProfileId>().unwrap_err(), "profile_id"),
    ];
    for (err, field) in cases {
        assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
        assert_eq!(err.field(), Some(field), "{err}");
    }
    // From a path or a config file, serde refuses it with the same words.
    let err = serde_json::from_str::<ReportId>(r#""report-1""#).unwrap_err().to_string();
    assert!(err.starts_with("invalid report_id: is not a GUID"), "{err}");
    let fakes = Fakes { entra: strict_server().await, powerbi: strict_server().await, clock: clock() };
    assert_eq!(
        PowerBiClient::builder(fakes.aad()).api_base("http://api.example.com").build().unwrap_err().field(),
        Some("api_base")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embed_token_cache_shares_tokens_per_request_and_never_across_identities() {
    let fakes = Fakes::start().await;
    let route = generate_token_path(&format!("groups/{WORKSPACE}/reports/{REPORT}"));
    for user in ["alice", "bob"] {
        Mock::given(method("POST"))
            .and(path(&route))
            .and(body_json(json!({"accessLevel": "View", "identities": [{"username": user, "roles": ["R"], "datasets": [DATASET]}]})))
            .respond_with(fakes.embed_token_reply(&format!("token-{user}"), 60).set_delay(Duration::from_millis(100)))
            .expect(1)
            .mount(&fakes.powerbi)
            .await;
    }
    let client = fakes.builder().embed_token_cache(RefreshPolicy::default()).build().unwrap();
    let alice = GenerateTokenRequest::report_view()
        .identity(EffectiveIdentity::new("alice").role("R").datasets([DATASET]))
        .build()
        .unwrap();
    let bob = GenerateTokenRequest::report_view()
        .identity(EffectiveIdentity::new("bob").role("R").datasets([DATASET]))
        .build()
        .unwrap();
    let mut calls = Vec::new();
    for i in 0..100 {
        let client = client.clone();
        let request = if i % 2 == 0 { alice.clone() } else { bob.clone() };
        calls.push(tokio::spawn(
            async move { (i, client.workspace(WORKSPACE).report(REPORT).embed_token(&request).await) },
        ));
    }
    for call in calls {
        let (i, token) = call.await.unwrap();
        let expected = if i % 2 == 0 { "token-alice" } else { "token-bob" };
        assert_eq!(token.unwrap().secret().expose_secret(), expected);
    }
    // An equal request built separately hits the same entry.
    let alice_again = GenerateTokenRequest::report_view()
        .identity(EffectiveIdentity::new("alice").role("R").datasets([DATASET]))
        .build()
        .unwrap();
    assert_eq!(
        client.workspace(WORKSPACE).report(REPORT).embed_token(&alice_again).await.unwrap().secret().expose_secret(),
        "token-alice"
    );
}

#[tokio::test]
async fn cached_embed_token_is_renewed_before_it_expires() {
    let fakes = Fakes::start().await;
    let route = generate_token_path(&format!("groups/{WORKSPACE}/reports/{REPORT}"));
    Mock::given(method("POST"))
        .and(path(&route))
        .respond_with(fakes.embed_token_reply("first", 30))
        .up_to_n_times(1)
        .expect(1)
        .mount(&fakes.powerbi)
        .await;
    let client =
        fakes.builder().embed_token_cache(RefreshPolicy::with_margin(Duration::from_secs(120))).build().unwrap();
    let request = GenerateTokenRequest::report_view().lifetime_minutes(30).build().unwrap();
    assert_eq!(
        client.workspace(WORKSPACE).report(REPORT).embed_token(&request).await.unwrap().secret().expose_secret(),
        "first"
    );
    fakes.clock.advance(Duration::from_secs(27 * 60 + 59));
    assert_eq!(
        client.workspace(WORKSPACE).report(REPORT).embed_token(&request).await.unwrap().secret().expose_secret(),
        "first"
    );
    Mock::given(method("POST"))
        .and(path(&route))
        .respond_with(fakes.embed_token_reply("second", 30))
        .expect(1)
        .mount(&fakes.powerbi)
        .await;
    fakes.clock.advance(Duration::from_secs(1));
    let renewed = client.workspace(WORKSPACE).report(REPORT).embed_token(&request).await.unwrap();
    assert_eq!(renewed.secret().expose_secret(), "second");
    assert!(!renewed.needs_renewal(fakes.clock.now(), Duration::from_secs(120)));
}
