//! Every documented embedding scenario (issue 17), end to end at a strict fake: the exact paths,
//! bodies and headers Power BI receives, how many calls each config costs, and the config the
//! browser gets (`permissions`, `viewMode`, `tokenType`, `type`).

use std::time::Duration;

use crate::support::ids::{DATASET, FIXTURE_TOKEN_ID, REPORT, WORKSPACE};
use crate::support::*;
use powerbi_embed::testing::SafeMockServer;
use powerbi_embed::{
    AccessToken, ClientSecretCredential, Clock, DatasetId, DatasourceIdentity, DatasourceSelector, EffectiveIdentity,
    EmbedSettings, EmbedType, Error, GenerateTokenRequest, GenerateTokenRequestV2, ManualClock, Permissions,
    PowerBiClient, PowerBiClientBuilder, ProfileId, RefreshPolicy, ReportId, TokenType, ViewMode, WorkspaceId,
};
use serde_json::{json, Value};
use wiremock::matchers::{body_string, header, method, path};
use wiremock::{Mock, ResponseTemplate};

const OTHER_WORKSPACE: WorkspaceId = WorkspaceId::from_u128(0x2a5c6f9e_1b3d_4e7f_8a9b_0c1d2e3f4a5b);
const PAGINATED: ReportId = ReportId::from_u128(0x8e4d1c2b_5a6f_4b7e_9c8d_1e2f3a4b5c6d);
const CONTOSO: ProfileId = ProfileId::from_u128(0xa7c2b6e1_4c9d_4e53_9f3a_0d1e2f3a4b5c);
const V2_PATH: &str = "/v1.0/myorg/GenerateToken";

fn report_path(report: ReportId) -> String {
    format!("/v1.0/myorg/groups/{WORKSPACE}/reports/{report}")
}

fn dataset_path() -> String {
    format!("/v1.0/myorg/groups/{WORKSPACE}/datasets/{DATASET}")
}

fn embed_url(report: ReportId) -> String {
    format!("https://app.powerbi.com/reportEmbed?reportId={report}&groupId={WORKSPACE}")
}

fn create_url() -> String {
    format!("https://app.powerbi.com/reportEmbed?groupId={WORKSPACE}")
}

/// A report as the live service answers it (tests/fixtures/live/powerbi/*.dagster.http).
fn report_body(report: ReportId, kind: &str) -> Value {
    json!({
        "id": report, "reportType": kind, "name": "Sales", "embedUrl": embed_url(report),
        "datasetId": DATASET, "datasetWorkspaceId": WORKSPACE, "isOwnedByMe": true, "users": [], "subscriptions": []
    })
}

/// A dataset in the live service's camelCase (tests/fixtures/live/powerbi/dataset.json).
fn dataset_body(rls: bool, roles: bool) -> Value {
    json!({
        "id": DATASET, "name": "Sales model", "isEffectiveIdentityRequired": rls,
        "isEffectiveIdentityRolesRequired": roles, "isRefreshable": true, "targetStorageMode": "Abf",
        "createReportEmbedURL": create_url(), "qnaEmbedURL": format!("https://app.powerbi.com/qnaEmbed?groupId={WORKSPACE}")
    })
}

struct Fakes {
    entra: SafeMockServer,
    powerbi: SafeMockServer,
    clock: ManualClock,
}

impl Fakes {
    /// Entra answers at most one token (every call shares it).
    async fn start() -> Self {
        let fakes = Self { entra: strict_server().await, powerbi: strict_server().await, clock: clock() };
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(token_body("the-entra-token", 3600)))
            .up_to_n_times(1)
            .mount(&fakes.entra)
            .await;
        fakes
    }

    fn builder(&self) -> PowerBiClientBuilder {
        let aad = aad_client(&self.entra, ClientSecretCredential::new(TENANT, CLIENT, "s").unwrap(), &self.clock);
        PowerBiClient::builder(aad).api_base(self.powerbi.uri())
    }

    fn client(&self) -> PowerBiClient {
        self.builder().build().unwrap()
    }

    /// Both caches on: embed tokens, and lookups kept 10 minutes.
    fn caching_client(&self) -> PowerBiClient {
        self.builder()
            .embed_token_cache(RefreshPolicy::default())
            .lookup_cache(Duration::from_secs(600))
            .build()
            .unwrap()
    }

    fn token_reply(&self, token: &str) -> ResponseTemplate {
        let expiration = (self.clock.now() + Duration::from_secs(3600))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        ResponseTemplate::new(200)
            .set_body_json(json!({"token": token, "tokenId": FIXTURE_TOKEN_ID, "expiration": expiration}))
    }

    async fn get(&self, at: String, body: Value, times: u64) {
        Mock::given(method("GET"))
            .and(path(at))
            .and(header("authorization", "Bearer the-entra-token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(times)
            .mount(&self.powerbi)
            .await;
    }

    /// A `GenerateToken` at `at` whose body is exactly `body`, answered `times` times.
    async fn generate(&self, at: String, body: String, times: u64) {
        Mock::given(method("POST"))
            .and(path(at))
            .and(header("authorization", "Bearer the-entra-token"))
            .and(header("content-type", "application/json"))
            .and(body_string(body))
            .respond_with(self.token_reply("the-embed-token"))
            .expect(times)
            .mount(&self.powerbi)
            .await;
    }
}

fn v1_path(report: ReportId) -> String {
    format!("{}/GenerateToken", report_path(report))
}

fn to_json(config: &powerbi_embed::EmbedConfig) -> Value {
    serde_json::to_value(config).unwrap()
}

// ---- 1. Configs carry the rights of their token ----

#[tokio::test]
async fn an_edit_config_carries_read_write_and_the_chosen_view_mode() {
    let fakes = Fakes::start().await;
    fakes.get(report_path(REPORT), report_body(REPORT, "PowerBIReport"), 1).await;
    fakes.generate(v1_path(REPORT), r#"{"accessLevel":"Edit"}"#.into(), 1).await;
    let request = GenerateTokenRequest::report_edit().view_mode(ViewMode::Edit).build().unwrap();
    let config = fakes.client().workspace(WORKSPACE).report(REPORT).embed_config(&request).await.unwrap();
    let json = to_json(&config);
    assert_eq!((&json["type"], &json["permissions"], &json["viewMode"]), (&json!("report"), &json!(1), &json!(1)));
    assert_eq!((&json["tokenType"], &json["accessToken"]), (&json!(1), &json!("the-embed-token")));
    assert_eq!((config.permissions(), config.view_mode()), (Some(Permissions::ReadWrite), Some(ViewMode::Edit)));
}

#[tokio::test]
async fn save_as_gives_all_to_an_edit_token_and_copy_to_a_view_token() {
    let fakes = Fakes::start().await;
    fakes.get(report_path(REPORT), report_body(REPORT, "PowerBIReport"), 2).await;
    fakes.generate(v1_path(REPORT), r#"{"accessLevel":"Edit","allowSaveAs":true}"#.into(), 1).await;
    fakes.generate(v1_path(REPORT), r#"{"accessLevel":"View","allowSaveAs":true}"#.into(), 1).await;
    let client = fakes.client();
    let report = client.workspace(WORKSPACE).report(REPORT);
    let edit = GenerateTokenRequest::report_edit().allow_save_as(true).build().unwrap();
    let view = GenerateTokenRequest::report_view().allow_save_as(true).build().unwrap();
    let edit = to_json(&report.embed_config(&edit).await.unwrap());
    let view = to_json(&report.embed_config(&view).await.unwrap());
    // powerbi-models accepts 0, 1, 2, 4 and 7 only: ReadWrite|Copy is All, never 3.
    assert_eq!((&edit["permissions"], &edit["viewMode"]), (&json!(7), &json!(0)));
    assert_eq!((&view["permissions"], &view["viewMode"]), (&json!(2), &json!(0)));
}

#[tokio::test]
async fn a_view_token_has_no_write_permission_and_cannot_open_in_edit_mode() {
    let refused = GenerateTokenRequest::report_view().view_mode(ViewMode::Edit).build().unwrap_err();
    assert!(matches!(refused, Error::InvalidInput { .. }), "{refused:?}");
    assert_eq!(refused.field(), Some("viewMode"));

    let fakes = Fakes::start().await;
    fakes.get(report_path(REPORT), report_body(REPORT, "PowerBIReport"), 1).await;
    fakes.generate(v1_path(REPORT), r#"{"accessLevel":"View"}"#.into(), 1).await;
    let request = GenerateTokenRequest::report_view().build().unwrap();
    let config = fakes.client().workspace(WORKSPACE).report(REPORT).embed_config(&request).await.unwrap();
    let settings = EmbedSettings::new().filter_pane(false).nav_content_pane(false);
    let json = to_json(&config.with_settings(settings));
    assert_eq!((&json["permissions"], &json["viewMode"]), (&json!(0), &json!(0)));
    assert_eq!(json["settings"], json!({"filterPaneEnabled": false, "navContentPaneEnabled": false}));
}

#[tokio::test]
async fn a_create_config_is_type_create_on_the_datasets_create_url() {
    let fakes = Fakes::start().await;
    fakes.get(dataset_path(), dataset_body(false, false), 1).await;
    let path = format!("/v1.0/myorg/groups/{WORKSPACE}/reports/GenerateToken");
    fakes.generate(path, format!(r#"{{"accessLevel":"Create","datasetId":"{DATASET}"}}"#), 1).await;
    let request = GenerateTokenRequest::report_creation().build().unwrap();
    let config = fakes.client().workspace(WORKSPACE).dataset(DATASET).create_report_config(&request).await.unwrap();
    assert_eq!(config.kind(), EmbedType::Create);
    let json = to_json(&config);
    assert_eq!(
        (&json["type"], &json["datasetId"], &json["embedUrl"], &json["permissions"]),
        (&json!("create"), &json!(DATASET), &json!(create_url()), &json!(4))
    );
    assert!(json.get("id").is_none() && json.get("viewMode").is_none(), "{json}");
}

// ---- 2. V2 to configs ----

#[tokio::test]
async fn one_report_through_v2_gives_one_config_from_one_multi_resource_token() {
    let fakes = Fakes::start().await;
    fakes.get(report_path(REPORT), report_body(REPORT, "PowerBIReport"), 1).await;
    let body =
        format!(r#"{{"datasets":[{{"id":"{DATASET}"}}],"reports":[{{"id":"{REPORT}"}}],"lifetimeInMinutes":30}}"#);
    fakes.generate(V2_PATH.into(), body, 1).await;
    let request = GenerateTokenRequestV2::builder()
        .report_in(WORKSPACE, REPORT)
        .dataset(DATASET)
        .lifetime_minutes(30)
        .build()
        .unwrap();
    let configs = fakes.client().embed_configs(&request).await.unwrap();
    assert_eq!(configs.len(), 1);
    let json = to_json(&configs[0]);
    assert_eq!(
        (&json["type"], &json["id"], &json["embedUrl"], &json["accessToken"], &json["permissions"], &json["viewMode"]),
        (&json!("report"), &json!(REPORT), &json!(embed_url(REPORT)), &json!("the-embed-token"), &json!(0), &json!(0))
    );
}

#[tokio::test]
async fn several_reports_share_one_token_and_a_paginated_one_gets_no_rights_fields() {
    let fakes = Fakes::start().await;
    fakes.get(report_path(REPORT), report_body(REPORT, "PowerBIReport"), 1).await;
    fakes.get(report_path(PAGINATED), report_body(PAGINATED, "PaginatedReport"), 1).await;
    let body = format!(
        r#"{{"datasets":[{{"id":"{DATASET}"}}],"reports":[{{"id":"{REPORT}"}},{{"id":"{PAGINATED}"}}],"identities":[{{"username":"John Smith","reports":["{PAGINATED}"]}}]}}"#
    );
    fakes.generate(V2_PATH.into(), body, 1).await;
    // Microsoft's example of a paginated report's identity: a name with a space, for reports only.
    let request = GenerateTokenRequestV2::builder()
        .report_in(WORKSPACE, REPORT)
        .report_in(WORKSPACE, PAGINATED)
        .dataset(DATASET)
        .identity(EffectiveIdentity::new("John Smith").reports([PAGINATED]))
        .build()
        .unwrap();
    let configs = fakes.client().embed_configs(&request).await.unwrap();
    let (first, second) = (to_json(&configs[0]), to_json(&configs[1]));
    assert_eq!((&first["id"], &second["id"]), (&json!(REPORT), &json!(PAGINATED)));
    assert_eq!(first["accessToken"], second["accessToken"]);
    assert_eq!(second["embedUrl"], json!(embed_url(PAGINATED)));
    assert_eq!(first["permissions"], json!(0));
    assert!(second.get("permissions").is_none() && second.get("viewMode").is_none(), "{second}");
}

#[tokio::test]
async fn report_creation_and_an_editable_report_through_v2_with_target_workspaces() {
    let fakes = Fakes::start().await;
    fakes.get(report_path(REPORT), report_body(REPORT, "PowerBIReport"), 1).await;
    fakes.get(dataset_path(), dataset_body(false, false), 1).await;
    let body = format!(
        r#"{{"datasets":[{{"id":"{DATASET}"}}],"reports":[{{"id":"{REPORT}","allowEdit":true}}],"targetWorkspaces":[{{"id":"{OTHER_WORKSPACE}"}}]}}"#
    );
    fakes.generate(V2_PATH.into(), body, 1).await;
    let request = GenerateTokenRequestV2::builder()
        .create_report_on(WORKSPACE, DATASET)
        .edit_report_in(WORKSPACE, REPORT)
        .target_workspace(OTHER_WORKSPACE)
        .view_mode(ViewMode::Edit)
        .build()
        .unwrap();
    let configs = fakes.client().embed_configs(&request).await.unwrap();
    let (create, edit) = (to_json(&configs[0]), to_json(&configs[1]));
    assert_eq!(
        (&create["type"], &create["datasetId"], &create["embedUrl"], &create["permissions"]),
        (&json!("create"), &json!(DATASET), &json!(create_url()), &json!(4))
    );
    // Editable, and "Save as" into the target workspace: All; opened in edit mode as asked.
    assert_eq!((&edit["type"], &edit["permissions"], &edit["viewMode"]), (&json!("report"), &json!(7), &json!(1)));
}

#[tokio::test]
async fn v2_configs_need_located_items_and_edit_mode_an_editable_report_before_any_call() {
    let fakes = Fakes::start().await; // strict: any call fails the test
    let unlocated = GenerateTokenRequestV2::builder().report(REPORT).dataset(DATASET).build().unwrap();
    let error = fakes.client().embed_configs(&unlocated).await.unwrap_err();
    assert_eq!(error.field(), Some("reports"), "{error:?}");
    let error = GenerateTokenRequestV2::builder().report_in(WORKSPACE, REPORT).view_mode(ViewMode::Edit).build();
    assert_eq!(error.unwrap_err().field(), Some("viewMode"));
}

#[tokio::test]
async fn report_configs_via_v2_send_the_report_request_as_a_multi_resource_body() {
    let fakes = Fakes::start().await;
    fakes.get(report_path(REPORT), report_body(REPORT, "PowerBIReport"), 1).await;
    let body = format!(
        r#"{{"datasets":[{{"id":"{DATASET}"}}],"reports":[{{"id":"{REPORT}","allowEdit":true}}],"targetWorkspaces":[{{"id":"{WORKSPACE}"}}],"lifetimeInMinutes":20}}"#
    );
    fakes.generate(V2_PATH.into(), body, 1).await;
    let client = fakes.builder().report_configs_via_v2(true).build().unwrap();
    let request = GenerateTokenRequest::report_edit().allow_save_as(true).lifetime_minutes(20).build().unwrap();
    let config = client.workspace(WORKSPACE).report(REPORT).embed_config(&request).await.unwrap();
    let json = to_json(&config);
    assert_eq!(
        (&json["id"], &json["permissions"], &json["accessToken"]),
        (&json!(REPORT), &json!(7), &json!("the-embed-token"))
    );
}

// ---- 3. V2 complete ----

#[test]
fn v2_limits_are_checked_before_any_call() {
    let many = |n: u128| (0..n).map(|i| ReportId::from_u128(i + 1));
    let fifty = many(50).fold(GenerateTokenRequestV2::builder(), |b, r| b.report(r));
    assert!(fifty.clone().build().is_ok());
    assert_eq!(fifty.report(ReportId::from_u128(99)).build().unwrap_err().field(), Some("reports"));
    let datasets = (0..51u128).fold(GenerateTokenRequestV2::builder(), |b, d| b.dataset(DatasetId::from_u128(d + 1)));
    assert_eq!(datasets.build().unwrap_err().field(), Some("datasets"));
    let workspaces = (0..51u128).fold(GenerateTokenRequestV2::builder().report(REPORT), |b, w| {
        b.target_workspace(WorkspaceId::from_u128(w + 1))
    });
    assert_eq!(workspaces.build().unwrap_err().field(), Some("targetWorkspaces"));
}

#[test]
fn every_connection_detail_of_the_published_schema_is_written() {
    let selector = DatasourceSelector::new("Extension")
        .server("s")
        .database("d")
        .url("u")
        .path("p")
        .kind("k")
        .account("a")
        .domain("dom")
        .email_address("e@contoso.com")
        .login_server("l")
        .class_info("c");
    let request = GenerateTokenRequestV2::builder()
        .dataset(DATASET)
        .datasource_identity(DatasourceIdentity::new("blob").datasource(selector))
        .build()
        .unwrap();
    let json: Value = serde_json::from_str(request.expose_json()).unwrap();
    assert_eq!(
        json["datasourceIdentities"][0]["datasources"][0]["connectionDetails"],
        json!({"server": "s", "database": "d", "url": "u", "path": "p", "kind": "k", "account": "a", "domain": "dom",
               "emailAddress": "e@contoso.com", "loginServer": "l", "classInfo": "c"})
    );
}

#[test]
fn spaces_are_refused_only_where_a_semantic_model_reads_the_username() {
    let with =
        |identity: EffectiveIdentity| GenerateTokenRequestV2::builder().report(PAGINATED).identity(identity).build();
    assert!(with(EffectiveIdentity::new("John Smith").reports([PAGINATED])).is_ok());
    let model = with(EffectiveIdentity::new("John Smith").datasets([DATASET])).unwrap_err();
    assert_eq!(model.field(), Some("identities[0].username"));
    let both = with(EffectiveIdentity::new("John Smith").datasets([DATASET]).reports([PAGINATED])).unwrap_err();
    assert_eq!(both.field(), Some("identities[0].username"));
}

// ---- 4. Configs with an Entra token ----

#[tokio::test]
async fn an_aad_config_carries_the_users_entra_token_and_redacts_it() {
    let fakes = Fakes::start().await;
    fakes.get(report_path(REPORT), report_body(REPORT, "PowerBIReport"), 1).await;
    let expires = fakes.clock.now() + Duration::from_secs(1800);
    let user_token = AccessToken::new("the-users-entra-token", expires);
    // No GenerateToken: the strict fake refuses any other call.
    let config =
        fakes.client().workspace(WORKSPACE).report(REPORT).aad_config().token(user_token).send().await.unwrap();
    assert_eq!(config.token_type(), TokenType::Aad);
    let json = to_json(&config);
    assert_eq!((&json["tokenType"], &json["accessToken"]), (&json!(0), &json!("the-users-entra-token")));
    assert!(json.get("tokenId").is_none(), "an Entra token has no embed token id: {json}");
    assert_eq!(json["embedUrl"], json!(embed_url(REPORT)));
    let debug = format!("{config:?}");
    assert!(!debug.contains("the-users-entra-token"), "{debug}");
    assert!(debug.contains("Aad"), "{debug}");
}

#[tokio::test]
async fn an_aad_config_without_a_token_uses_the_clients_own() {
    let fakes = Fakes::start().await;
    fakes.get(report_path(REPORT), report_body(REPORT, "PowerBIReport"), 1).await;
    let config = fakes.client().workspace(WORKSPACE).report(REPORT).aad_config().send().await.unwrap();
    assert_eq!(to_json(&config)["accessToken"], json!("the-entra-token"));
    assert!(!format!("{config:?}").contains("the-entra-token"));
}

// ---- 5. RLS from the data ----

async fn rls_case(rls: bool, roles: bool, identity: EffectiveIdentity, sent: Option<String>) -> Result<Value, Error> {
    let fakes = Fakes::start().await;
    fakes.get(report_path(REPORT), report_body(REPORT, "PowerBIReport"), 1).await;
    fakes.get(dataset_path(), dataset_body(rls, roles), 1).await;
    if let Some(body) = sent {
        fakes.generate(v1_path(REPORT), body, 1).await;
    }
    let request = GenerateTokenRequest::report_view().identity_if_required(identity).build().unwrap();
    let config = fakes.client().workspace(WORKSPACE).report(REPORT).embed_config(&request).await?;
    Ok(to_json(&config))
}

#[tokio::test]
async fn a_dataset_that_requires_an_identity_gets_the_users_with_its_id_filled_in() {
    let body =
        format!(r#"{{"accessLevel":"View","identities":[{{"username":"ann@contoso.com","datasets":["{DATASET}"]}}]}}"#);
    let config = rls_case(true, false, EffectiveIdentity::new("ann@contoso.com"), Some(body)).await.unwrap();
    assert_eq!(config["accessToken"], json!("the-embed-token"));
}

#[tokio::test]
async fn a_dataset_without_rls_gets_no_identity() {
    let config = rls_case(
        false,
        false,
        EffectiveIdentity::new("ann@contoso.com").role("Customer"),
        Some(r#"{"accessLevel":"View"}"#.into()),
    )
    .await
    .unwrap();
    assert_eq!(config["type"], json!("report"));
}

#[tokio::test]
async fn required_roles_and_none_given_is_refused_before_generate_token() {
    let error = rls_case(true, true, EffectiveIdentity::new("ann@contoso.com"), None).await.unwrap_err();
    assert!(matches!(error, Error::InvalidInput { .. }), "{error:?}");
    assert_eq!(error.field(), Some("identities[0].roles"));
    let body = format!(
        r#"{{"accessLevel":"View","identities":[{{"username":"ann@contoso.com","roles":["Customer"],"datasets":["{DATASET}"]}}]}}"#
    );
    rls_case(true, true, EffectiveIdentity::new("ann@contoso.com").role("Customer"), Some(body)).await.unwrap();
}

#[test]
fn identity_if_required_replaces_identity_and_keeps_its_other_rules() {
    let both = GenerateTokenRequest::report_view()
        .identity(EffectiveIdentity::new("a").datasets([DATASET]))
        .identity_if_required(EffectiveIdentity::new("b"))
        .build();
    assert_eq!(both.unwrap_err().field(), Some("identities"));
    let empty = GenerateTokenRequest::report_view().identity_if_required(EffectiveIdentity::new("")).build();
    assert_eq!(empty.unwrap_err().field(), Some("identities[0].username"));
}

// ---- 6. Lookups cached ----

#[tokio::test]
async fn a_second_config_for_a_cached_token_makes_no_power_bi_call() {
    let fakes = Fakes::start().await;
    fakes.get(report_path(REPORT), report_body(REPORT, "PowerBIReport"), 1).await;
    fakes.generate(v1_path(REPORT), r#"{"accessLevel":"View"}"#.into(), 1).await;
    let client = fakes.caching_client();
    let request = GenerateTokenRequest::report_view().build().unwrap();
    let report = client.workspace(WORKSPACE).report(REPORT);
    let first = report.embed_config(&request).await.unwrap();
    let second = report.embed_config(&request).await.unwrap();
    assert_eq!(to_json(&first), to_json(&second));
    // The expectations (one lookup, one GenerateToken) are verified when the fakes drop.
}

#[tokio::test]
async fn lookups_expire_after_their_lifetime_and_refresh_cache_bypasses_them() {
    let fakes = Fakes::start().await;
    fakes.get(report_path(REPORT), report_body(REPORT, "PowerBIReport"), 3).await;
    fakes.generate(v1_path(REPORT), r#"{"accessLevel":"View"}"#.into(), 2).await;
    let client = fakes.caching_client();
    let request = GenerateTokenRequest::report_view().build().unwrap();
    client.workspace(WORKSPACE).report(REPORT).embed_config(&request).await.unwrap(); // lookup 1, token 1
    fakes.clock.advance(Duration::from_secs(601));
    client.workspace(WORKSPACE).report(REPORT).embed_config(&request).await.unwrap(); // lookup 2 (expired)
                                                                                      // A refresh takes what was fetched since the second it asked in, so ask a second later.
    fakes.clock.advance(Duration::from_secs(1));
    client.refresh_cache().workspace(WORKSPACE).report(REPORT).embed_config(&request).await.unwrap(); // 3, token 2
    client.workspace(WORKSPACE).report(REPORT).embed_config(&request).await.unwrap();
    // all cached
}

#[tokio::test]
async fn lookups_are_kept_per_profile_and_rls_lookups_are_cached_too() {
    let fakes = Fakes::start().await;
    fakes.get(report_path(REPORT), report_body(REPORT, "PowerBIReport"), 2).await;
    fakes.get(dataset_path(), dataset_body(false, false), 2).await;
    fakes.generate(v1_path(REPORT), r#"{"accessLevel":"View"}"#.into(), 2).await;
    let client = fakes.caching_client();
    let request = GenerateTokenRequest::report_view()
        .identity_if_required(EffectiveIdentity::new("ann@contoso.com"))
        .build()
        .unwrap();
    for _ in 0..2 {
        client.workspace(WORKSPACE).report(REPORT).embed_config(&request).await.unwrap();
        client.as_profile(CONTOSO).workspace(WORKSPACE).report(REPORT).embed_config(&request).await.unwrap();
    }
    let profiled = fakes.powerbi.received_requests().await.unwrap();
    let with_header = profiled.iter().filter(|r| r.headers.get("x-powerbi-profile-id").is_some()).count();
    assert_eq!(with_header, 3, "the profile's own lookup of report and dataset, and its token");
}

// ---- 7. Single-visual embedding ----

#[tokio::test]
async fn a_visual_config_names_its_page_and_visual() {
    let fakes = Fakes::start().await;
    fakes.get(report_path(REPORT), report_body(REPORT, "PowerBIReport"), 1).await;
    fakes.generate(v1_path(REPORT), r#"{"accessLevel":"View"}"#.into(), 1).await;
    let request = GenerateTokenRequest::report_view().build().unwrap();
    let client = fakes.client();
    let visual = client.workspace(WORKSPACE).report(REPORT).visual("ReportSection1", "VisualContainer3");
    let json = to_json(&visual.embed_config(&request).await.unwrap());
    assert_eq!(
        (&json["type"], &json["id"], &json["pageName"], &json["visualName"], &json["embedUrl"]),
        (
            &json!("visual"),
            &json!(REPORT),
            &json!("ReportSection1"),
            &json!("VisualContainer3"),
            &json!(embed_url(REPORT))
        )
    );
}

#[tokio::test]
async fn a_replica_sharing_the_store_makes_its_first_config_without_a_power_bi_call() {
    let fakes = Fakes::start().await;
    fakes.get(report_path(REPORT), report_body(REPORT, "PowerBIReport"), 1).await;
    fakes.generate(v1_path(REPORT), r#"{"accessLevel":"View"}"#.into(), 1).await;
    let store = std::sync::Arc::new(powerbi_embed::MemoryStore::new());
    let replica = || {
        let shared = powerbi_embed::SharedCache::new(store.clone(), [7u8; 32]);
        fakes.builder().shared_cache(shared).lookup_cache(Duration::from_secs(600)).build().unwrap()
    };
    let request = GenerateTokenRequest::report_view().build().unwrap();
    let first = replica().workspace(WORKSPACE).report(REPORT).embed_config(&request).await.unwrap();
    let second = replica().workspace(WORKSPACE).report(REPORT).embed_config(&request).await.unwrap();
    assert_eq!(to_json(&first), to_json(&second), "the lookup and the token both came from the store");
}

#[tokio::test]
async fn rls_from_the_data_through_v2_puts_the_identity_in_the_multi_resource_body() {
    let fakes = Fakes::start().await;
    fakes.get(report_path(REPORT), report_body(REPORT, "PowerBIReport"), 1).await;
    fakes.get(dataset_path(), dataset_body(true, true), 1).await;
    let body = format!(
        r#"{{"datasets":[{{"id":"{DATASET}"}}],"reports":[{{"id":"{REPORT}"}}],"identities":[{{"username":"ann@contoso.com","roles":["Customer"],"datasets":["{DATASET}"]}}]}}"#
    );
    fakes.generate(V2_PATH.into(), body, 1).await;
    let client = fakes.builder().report_configs_via_v2(true).build().unwrap();
    let request = GenerateTokenRequest::report_view()
        .identity_if_required(EffectiveIdentity::new("ann@contoso.com").role("Customer"))
        .build()
        .unwrap();
    let config = client.workspace(WORKSPACE).report(REPORT).embed_config(&request).await.unwrap();
    assert_eq!(to_json(&config)["permissions"], json!(0));
}

#[tokio::test]
async fn rls_from_the_data_applies_to_a_bare_embed_token_too() {
    let fakes = Fakes::start().await;
    fakes.get(report_path(REPORT), report_body(REPORT, "PowerBIReport"), 1).await;
    fakes.get(dataset_path(), dataset_body(true, false), 1).await;
    let body =
        format!(r#"{{"accessLevel":"View","identities":[{{"username":"ann@contoso.com","datasets":["{DATASET}"]}}]}}"#);
    fakes.generate(v1_path(REPORT), body, 1).await;
    let request = GenerateTokenRequest::report_view()
        .identity_if_required(EffectiveIdentity::new("ann@contoso.com"))
        .build()
        .unwrap();
    let token = fakes.client().workspace(WORKSPACE).report(REPORT).embed_token(&request).await.unwrap();
    assert_eq!(token.secret().expose_secret(), "the-embed-token");
}

#[tokio::test]
async fn an_aad_config_builder_does_not_print_the_users_token() {
    let fakes = Fakes::start().await; // strict: building and printing makes no call
    let client = fakes.client();
    let token = AccessToken::new("the-users-entra-token", fakes.clock.now() + Duration::from_secs(600));
    let builder = client.workspace(WORKSPACE).report(REPORT).aad_config().token(token);
    let debug = format!("{builder:?}");
    assert!(debug.contains("AadConfigBuilder") && !debug.contains("the-users-entra-token"), "{debug}");
}

/// A rebind drops the report's cached lookup: the next config looks the report up again (and
/// would read its new dataset), while the embed token stays cached.
#[tokio::test]
async fn a_rebind_drops_the_reports_cached_lookup() {
    let fakes = Fakes::start().await;
    fakes.get(report_path(REPORT), report_body(REPORT, "PowerBIReport"), 2).await;
    fakes.generate(v1_path(REPORT), r#"{"accessLevel":"View"}"#.into(), 1).await;
    Mock::given(method("POST"))
        .and(path(format!("{}/Rebind", report_path(REPORT))))
        .and(body_string(format!(r#"{{"datasetId":"{DATASET}"}}"#)))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&fakes.powerbi)
        .await;
    let client = fakes.caching_client();
    let request = GenerateTokenRequest::report_view().build().unwrap();
    let report = client.workspace(WORKSPACE).report(REPORT);
    report.embed_config(&request).await.unwrap(); // lookup 1, token 1
    report.embed_config(&request).await.unwrap(); // both cached
    report.rebind(DATASET).await.unwrap();
    report.embed_config(&request).await.unwrap(); // lookup 2; the token is still cached
}

/// A lookup kept 10 minutes is renewed from its half-life (the default refresh policy's 5-minute
/// margin): the first config after that looks the report up again, later ones use the renewed
/// entry, and the embed token stays cached throughout.
#[tokio::test]
async fn a_cached_lookup_is_renewed_once_due_and_then_served_again() {
    let fakes = Fakes::start().await;
    fakes.get(report_path(REPORT), report_body(REPORT, "PowerBIReport"), 2).await;
    fakes.generate(v1_path(REPORT), r#"{"accessLevel":"View"}"#.into(), 1).await;
    let client = fakes.caching_client();
    let request = GenerateTokenRequest::report_view().build().unwrap();
    let report = client.workspace(WORKSPACE).report(REPORT);
    report.embed_config(&request).await.unwrap(); // lookup 1, token 1
    fakes.clock.advance(Duration::from_secs(299));
    report.embed_config(&request).await.unwrap(); // not due yet: cached
    fakes.clock.advance(Duration::from_secs(2));
    report.embed_config(&request).await.unwrap(); // due (300 s): lookup 2
    fakes.clock.advance(Duration::from_secs(60));
    report.embed_config(&request).await.unwrap(); // the renewed entry
}
