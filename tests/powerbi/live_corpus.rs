//! The recorded live responses in `tests/fixtures/live/` (sources in its `SOURCES.md`), replayed
//! byte for byte — status, headers and body — and driven through the public API. Each test
//! asserts what a user needs from the answer: the embed URL and token of a config, the RLS
//! flags of a dataset, every field of an error and what its `Display` says, a token's expiry.
//!
//! Every server is strict: a catch-all fails the test on any route not mounted, and every
//! mounted route says how often it must be called.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use powerbi_embed::testing::{FakeServices, SafeMockServer};
use powerbi_embed::{
    AadClient, ClientSecretCredential, DeviceCodeCredential, EmbedType, EntraEndpoint, Error, GenerateTokenRequest,
    GenerateTokenRequestV2, ManagedIdentityCredential, ManagedIdentityId, ManualClock, PowerBiClient, ReportId,
    ReportType, RetryPolicy, StaticTokenCredential, WorkspaceId,
};
use time::macros::datetime;
use time::OffsetDateTime;
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::support::ids::{CLIENT, TENANT};
use crate::support::strict_server;

/// The bearer token the Power BI tests sign in with.
const ENTRA_TOKEN: &str = "entra-access-token-for-the-corpus";

/// The ids Microsoft's sample responses use.
mod learn {
    use powerbi_embed::{DashboardId, DatasetId, ReportId, TileId, WorkspaceId};
    pub const WORKSPACE: WorkspaceId = WorkspaceId::from_u128(0xf089354e_8366_4e18_aea3_4cb4a3a50b48);
    pub const REPORT: ReportId = ReportId::from_u128(0x5b218778_e7a5_4d73_8187_f10824047715);
    pub const DATASET: DatasetId = DatasetId::from_u128(0xcfafbeb1_8037_4d0c_896e_a46fb27ff229);
    pub const DASHBOARD: DashboardId = DashboardId::from_u128(0x69ffaa6c_b36d_4d01_96f5_1ed67c64d4af);
    pub const TILE: TileId = TileId::from_u128(0x312fbfe9_2eda_44e0_9ed0_ab5dc571bb4b);
    /// Before the samples' embed-token expiration (2018-07-29T17:58:19Z).
    pub const NOW: time::OffsetDateTime = time::macros::datetime!(2018-07-29 17:00 UTC);
}

/// The ids in the answers dagster's Power BI tests copied from the live service.
mod dagster {
    use powerbi_embed::{DashboardId, DatasetId, ReportId, TileId, WorkspaceId};
    pub const WORKSPACE: WorkspaceId = WorkspaceId::from_u128(0xa2122b8f_d7e1_42e8_be2b_a5e636ca3221);
    pub const REPORT: ReportId = ReportId::from_u128(0x8b7f815d_4e64_40dd_993c_cfa4fb12edee);
    pub const DATASET: DatasetId = DatasetId::from_u128(0x8e9c85a1_7b33_4223_9590_76bde70f9a20);
    pub const DASHBOARD: DashboardId = DashboardId::from_u128(0xefee0b80_4511_42e1_8ee0_2544fd44e122);
    pub const TILE: TileId = TileId::from_u128(0x726c94ff_c408_4f43_8edf_61fbfa1753c7);
}

// ---------------------------------------------------------------------------------------------
// Replaying recordings

/// One recorded answer: `HTTP/1.1 <status> <reason>`, header lines, a blank line, the body.
struct Recording {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn recording(name: &str) -> Recording {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/live").join(name);
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let (head, body) = text.split_once("\n\n").unwrap_or((text.as_str(), ""));
    let mut lines = head.lines();
    let status_line = lines.next().expect("a status line");
    let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("HTTP/1.1 <status>");
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').expect("Name: value");
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect();
    // The files end with a newline that is not part of the body.
    let body = body.strip_suffix('\n').unwrap_or(body).as_bytes().to_vec();
    Recording { status, headers, body }
}

impl Recording {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn body_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// The answer as the service sent it (Content-Length is the server's own business).
    fn replay(&self) -> ResponseTemplate {
        let mut template = ResponseTemplate::new(self.status).set_body_bytes(self.body.clone());
        for (name, value) in &self.headers {
            if !name.eq_ignore_ascii_case("content-length") {
                template = template.append_header(name.as_str(), value.as_str());
            }
        }
        template
    }
}

// ---------------------------------------------------------------------------------------------
// Power BI

struct PowerBi {
    server: SafeMockServer,
    client: PowerBiClient,
}

/// A client whose Entra token is a static one, on a clock standing at `now`, without retries
/// (so that an error recording is seen exactly once).
async fn powerbi(now: OffsetDateTime) -> PowerBi {
    let server = strict_server().await;
    let clock = ManualClock::new(now);
    let aad = AadClient::builder(StaticTokenCredential::new(ENTRA_TOKEN, now + time::Duration::hours(2)))
        .clock(Arc::new(clock))
        .build()
        .unwrap();
    let client = PowerBiClient::builder(aad).api_base(server.uri()).retry_policy(RetryPolicy::none()).build().unwrap();
    PowerBi { server, client }
}

impl PowerBi {
    /// Serves `file` once for `verb path`, to requests carrying our bearer token.
    async fn serve(&self, verb: &str, route: String, file: &str) {
        Mock::given(method(verb))
            .and(path(route.clone()))
            .and(header("authorization", format!("Bearer {ENTRA_TOKEN}").as_str()))
            .respond_with(recording(file).replay())
            .named(format!("{verb} {route} -> {file}"))
            .expect(1)
            .mount(&self.server)
            .await;
    }
}

fn item(workspace: WorkspaceId, rest: &str) -> String {
    format!("/v1.0/myorg/groups/{workspace}/{rest}")
}

#[tokio::test]
async fn a_live_dataset_gives_its_camel_case_embed_urls_to_qna_and_report_creation() {
    let fake = powerbi(learn::NOW).await;
    let dataset_path = item(dagster::WORKSPACE, &format!("datasets/{}", dagster::DATASET));
    let dataset_file = "powerbi/get-dataset-in-group.dagster.http";
    let live = recording(dataset_file).body_json();

    fake.serve("GET", dataset_path.clone(), dataset_file).await;
    let dataset = fake.client.workspace(dagster::WORKSPACE).dataset(dagster::DATASET).get().await.unwrap();
    assert_eq!(dataset.id, dagster::DATASET);
    assert_eq!(dataset.qna_embed_url.as_deref(), live["qnaEmbedURL"].as_str());
    assert_eq!(dataset.create_report_embed_url.as_deref(), live["createReportEmbedURL"].as_str());
    assert_eq!(
        (dataset.is_effective_identity_required, dataset.is_effective_identity_roles_required),
        (Some(false), Some(false))
    );
    assert_eq!((dataset.is_refreshable, dataset.is_on_prem_gateway_required), (Some(true), Some(true)));
    assert_eq!(dataset.created_date.as_deref(), Some("2024-07-23T23:44:55.707Z"));
    assert_eq!(dataset.target_storage_mode.as_deref(), Some("Abf"));
    assert_eq!(dataset.configured_by.as_deref(), Some("ben@elementl.com"));

    // Q&A: the dataset's qnaEmbedURL with a dataset token.
    let fake = powerbi(learn::NOW).await;
    fake.serve("GET", dataset_path.clone(), dataset_file).await;
    fake.serve(
        "POST",
        item(dagster::WORKSPACE, &format!("datasets/{}/GenerateToken", dagster::DATASET)),
        "powerbi/generate-token-v1.report.learn.http",
    )
    .await;
    let request = GenerateTokenRequest::qna().build().unwrap();
    let config =
        fake.client.workspace(dagster::WORKSPACE).dataset(dagster::DATASET).qna_config(&request).await.unwrap();
    let json = serde_json::to_value(&config).unwrap();
    assert_eq!(
        (json["type"].as_str(), json["datasetIds"].clone()),
        (Some("qna"), serde_json::json!([dagster::DATASET]))
    );
    assert_eq!(json["embedUrl"], live["qnaEmbedURL"]);
    assert_eq!(config.token().token_id().to_string(), "49ae3742-54c0-4c29-af52-619ff93b5c80");

    // Report creation: the dataset's createReportEmbedURL with a Create token.
    let fake = powerbi(learn::NOW).await;
    fake.serve("GET", dataset_path, dataset_file).await;
    fake.serve(
        "POST",
        item(dagster::WORKSPACE, "reports/GenerateToken"),
        "powerbi/generate-token-v1.report.learn.http",
    )
    .await;
    let request = GenerateTokenRequest::report_creation().build().unwrap();
    let config = fake
        .client
        .workspace(dagster::WORKSPACE)
        .dataset(dagster::DATASET)
        .create_report_config(&request)
        .await
        .unwrap();
    let json = serde_json::to_value(&config).unwrap();
    assert_eq!(
        (&json["type"], &json["datasetId"]),
        (&serde_json::json!("create"), &serde_json::json!(dagster::DATASET))
    );
    assert_eq!(json["embedUrl"], live["createReportEmbedURL"]);
    assert_eq!(config.token().expiration(), datetime!(2018-07-29 17:58:19 UTC));
}

#[tokio::test]
async fn microsofts_rls_dataset_sample_says_an_identity_is_needed_and_has_no_qna_url() {
    let fake = powerbi(learn::NOW).await;
    let route = item(learn::WORKSPACE, &format!("datasets/{}", learn::DATASET));
    fake.serve("GET", route.clone(), "powerbi/get-dataset-in-group.rls.learn.http").await;
    let dataset = fake.client.workspace(learn::WORKSPACE).dataset(learn::DATASET).get().await.unwrap();
    assert_eq!(
        (dataset.is_effective_identity_required, dataset.is_effective_identity_roles_required),
        (Some(true), Some(true))
    );
    assert_eq!((dataset.qna_embed_url, dataset.create_report_embed_url), (None, None));

    // Without a Q&A URL there is nothing to embed: a clear error naming the field.
    let fake = powerbi(learn::NOW).await;
    fake.serve("GET", route, "powerbi/get-dataset-in-group.rls.learn.http").await;
    fake.serve(
        "POST",
        item(learn::WORKSPACE, &format!("datasets/{}/GenerateToken", learn::DATASET)),
        "powerbi/generate-token-v1.report.learn.http",
    )
    .await;
    let request = GenerateTokenRequest::qna().build().unwrap();
    let err = fake.client.workspace(learn::WORKSPACE).dataset(learn::DATASET).qna_config(&request).await.unwrap_err();
    assert!(matches!(err, Error::UnexpectedResponse(_)), "{err:?}");
    assert!(err.to_string().contains("the dataset (qnaEmbedURL) has no embed URL"), "{err}");
}

#[tokio::test]
async fn dataset_lists_read_in_both_recorded_forms() {
    for (file, expected) in [
        ("powerbi/get-datasets-in-group.learn.http", (learn::DATASET, Some(false), None)),
        ("powerbi/get-datasets-in-group.dagster.http", (dagster::DATASET, Some(false), Some(true))),
    ] {
        let fake = powerbi(learn::NOW).await;
        fake.serve("GET", item(learn::WORKSPACE, "datasets"), file).await;
        let datasets = fake.client.workspace(learn::WORKSPACE).list_datasets().await.unwrap();
        let got: Vec<_> = datasets
            .iter()
            .map(|d| (d.id, d.is_effective_identity_required, d.qna_embed_url.as_ref().map(|_| true)))
            .collect();
        assert_eq!(got, [expected], "{file}");
    }
}

#[tokio::test]
async fn a_report_embed_config_from_microsofts_samples() {
    let fake = powerbi(learn::NOW).await;
    fake.serve(
        "GET",
        item(learn::WORKSPACE, &format!("reports/{}", learn::REPORT)),
        "powerbi/get-report-in-group.learn.http",
    )
    .await;
    fake.serve(
        "POST",
        item(learn::WORKSPACE, &format!("reports/{}/GenerateToken", learn::REPORT)),
        "powerbi/generate-token-v1.report.learn.http",
    )
    .await;
    let request = GenerateTokenRequest::report_view().build().unwrap();
    let config = fake.client.workspace(learn::WORKSPACE).report(learn::REPORT).embed_config(&request).await.unwrap();
    assert_eq!((config.kind(), config.id()), (EmbedType::Report, Some(learn::REPORT.guid())));
    assert_eq!(
        config.embed_url(),
        "https://app.powerbi.com/reportEmbed?reportId=5b218778-e7a5-4d73-8187-f10824047715&groupId=f089354e-8366-4e18-aea3-4cb4a3a50b48"
    );
    assert_eq!(config.token().secret().expose_secret(), "H4sI....AAA=");
    assert_eq!(config.token().expiration(), datetime!(2018-07-29 17:58:19 UTC));
}

#[tokio::test]
async fn reports_as_the_live_service_and_microsoft_describe_them() {
    // A report as the live service answers it, with fields the crate does not model.
    let fake = powerbi(learn::NOW).await;
    let file = "powerbi/get-report-in-group.dagster.http";
    fake.serve("GET", item(dagster::WORKSPACE, &format!("reports/{}", dagster::REPORT)), file).await;
    let report = fake.client.workspace(dagster::WORKSPACE).report(dagster::REPORT).get().await.unwrap();
    assert_eq!(report.report_type, Some(ReportType::PowerBi));
    assert_eq!(report.dataset_id, Some(dagster::DATASET));
    assert_eq!(Some(report.embed_url.as_str()), recording(file).body_json()["embedUrl"].as_str());

    // A paginated report has no dataset (synthetic: see SOURCES.md).
    let fake = powerbi(learn::NOW).await;
    let paginated = ReportId::from_u128(0xe9fd6b0b_d8c8_4265_8c44_67e183aebf97);
    fake.serve(
        "GET",
        item(learn::WORKSPACE, &format!("reports/{paginated}")),
        "powerbi/get-report-in-group.paginated.synthetic.http",
    )
    .await;
    let report = fake.client.workspace(learn::WORKSPACE).report(paginated).get().await.unwrap();
    assert_eq!((report.report_type, report.dataset_id), (Some(ReportType::Paginated), None));
    assert!(report.embed_url.starts_with("https://app.powerbi.com/rdlEmbed?reportId="), "{}", report.embed_url);

    // The list form.
    let fake = powerbi(learn::NOW).await;
    fake.serve("GET", item(learn::WORKSPACE, "reports"), "powerbi/get-reports-in-group.learn.http").await;
    let reports = fake.client.workspace(learn::WORKSPACE).list_reports().await.unwrap();
    let got: Vec<_> = reports.iter().map(|r| (r.id, r.name.as_str(), r.report_type.clone())).collect();
    assert_eq!(got, [(learn::REPORT, "SalesMarketing", None)]);
}

#[tokio::test]
async fn dashboard_and_tile_embed_configs_and_their_lists() {
    let fake = powerbi(learn::NOW).await;
    fake.serve(
        "GET",
        item(learn::WORKSPACE, &format!("dashboards/{}", learn::DASHBOARD)),
        "powerbi/get-dashboard-in-group.learn.http",
    )
    .await;
    fake.serve(
        "POST",
        item(learn::WORKSPACE, &format!("dashboards/{}/GenerateToken", learn::DASHBOARD)),
        "powerbi/generate-token-v1.report.learn.http",
    )
    .await;
    let request = GenerateTokenRequest::dashboard().build().unwrap();
    let config =
        fake.client.workspace(learn::WORKSPACE).dashboard(learn::DASHBOARD).embed_config(&request).await.unwrap();
    assert_eq!((config.kind(), config.id()), (EmbedType::Dashboard, Some(learn::DASHBOARD.guid())));
    assert_eq!(
        config.embed_url(),
        "https://app.powerbi.com/dashboardEmbed?dashboardId=69ffaa6c-b36d-4d01-96f5-1ed67c64d4af&groupId=f089354e-8366-4e18-aea3-4cb4a3a50b48"
    );

    let fake = powerbi(learn::NOW).await;
    let tile_path = format!("dashboards/{}/tiles/{}", learn::DASHBOARD, learn::TILE);
    fake.serve("GET", item(learn::WORKSPACE, &tile_path), "powerbi/get-tile-in-group.learn.http").await;
    fake.serve(
        "POST",
        item(learn::WORKSPACE, &format!("{tile_path}/GenerateToken")),
        "powerbi/generate-token-v1.report.learn.http",
    )
    .await;
    let request = GenerateTokenRequest::tile().build().unwrap();
    let config = fake
        .client
        .workspace(learn::WORKSPACE)
        .dashboard(learn::DASHBOARD)
        .tile(learn::TILE)
        .embed_config(&request)
        .await
        .unwrap();
    assert_eq!((config.kind(), config.id()), (EmbedType::Tile, Some(learn::TILE.guid())));
    assert!(config.embed_url().starts_with("https://app.powerbi.com/embed?dashboardId="), "{}", config.embed_url());

    for (workspace, file, expected) in [
        (learn::WORKSPACE, "powerbi/get-dashboards-in-group.learn.http", (learn::DASHBOARD, "SalesMarketing")),
        (
            dagster::WORKSPACE,
            "powerbi/get-dashboards-in-group.dagster.http",
            (dagster::DASHBOARD, "Sales & Returns Sample v201912.pbix"),
        ),
    ] {
        let fake = powerbi(learn::NOW).await;
        fake.serve("GET", item(workspace, "dashboards"), file).await;
        let dashboards = fake.client.workspace(workspace).list_dashboards().await.unwrap();
        let got: Vec<_> = dashboards.iter().map(|d| (d.id, d.display_name.as_str(), d.is_read_only)).collect();
        assert_eq!(got, [(expected.0, expected.1, Some(false))], "{file}");
    }

    for (workspace, dashboard, file, expected) in [
        (learn::WORKSPACE, learn::DASHBOARD, "powerbi/get-tiles-in-group.learn.http", (learn::TILE, learn::REPORT)),
        (
            dagster::WORKSPACE,
            dagster::DASHBOARD,
            "powerbi/get-tiles-in-group.dagster.http",
            (dagster::TILE, dagster::REPORT),
        ),
    ] {
        let fake = powerbi(learn::NOW).await;
        fake.serve("GET", item(workspace, &format!("dashboards/{dashboard}/tiles")), file).await;
        let tiles = fake.client.workspace(workspace).dashboard(dashboard).list_tiles().await.unwrap();
        let got: Vec<_> = tiles.iter().map(|t| (t.id, t.report_id, !t.embed_url.is_empty())).collect();
        assert_eq!(got, [(expected.0, Some(expected.1), true)], "{file}");
    }
}

#[tokio::test]
async fn a_multi_resource_token_from_microsofts_v2_sample() {
    let now = datetime!(2028-07-29 17:00 UTC);
    let fake = powerbi(now).await;
    fake.serve("POST", "/v1.0/myorg/GenerateToken".to_owned(), "powerbi/generate-token-v2.learn.http").await;
    let request = GenerateTokenRequestV2::builder().report(learn::REPORT).dataset(learn::DATASET).build().unwrap();
    let token = fake.client.embed_token(&request).await.unwrap();
    assert_eq!(token.token_id().to_string(), "4b76f5ed-5a06-4150-8d1b-60f8e4c186f4");
    assert_eq!(token.expiration(), datetime!(2028-07-29 17:58:19 UTC));
}

// ---------------------------------------------------------------------------------------------
// Power BI errors

/// What a user needs from one recorded error.
struct ExpectedError {
    file: &'static str,
    /// `GET report` or `POST GenerateToken`.
    on_generate: bool,
    code: Option<&'static str>,
    message: Option<&'static str>,
    error_info: Option<&'static str>,
    challenge_error: Option<&'static str>,
    hint: Option<&'static str>,
    display: &'static str,
}

fn expected_errors() -> Vec<ExpectedError> {
    const MEMBER: &str = "this identity has no access to the item or the tenant: add the service principal (or master user) to the workspace as Member or Admin, and check that the tenant setting 'Service principals can use Fabric APIs' is on";
    const EXPIRED: &str = "the Entra access token has expired: request a new one (the client retries once with a new token by itself; if this persists, check this machine's clock)";
    const INVALID: &str = "Power BI could not accept the Entra access token: request it for the Power BI scope of the same cloud (e.g. https://analysis.windows.net/powerbi/api/.default), not for another resource";
    const NOT_FOUND: &str =
        "not found: no such report, dataset or workspace for this identity; check the ids and that the item belongs to this workspace";
    vec![
        ExpectedError {
            file: "powerbi-errors/401-pbi-error-no-message.issue-powerbi-docs-1109.http",
            on_generate: false,
            code: Some("PowerBINotAuthorizedException"),
            message: None,
            error_info: None,
            challenge_error: None,
            hint: Some(MEMBER),
            display: "Power BI answered HTTP 401 PowerBINotAuthorizedException (this identity has no access to the item or the tenant: add the service principal (or master user) to the workspace as Member or Admin, and check that the tenant setting 'Service principals can use Fabric APIs' is on) [RequestId 49c2e739-d400-429c-860b-856b92f52a4b]",
        },
        ExpectedError {
            file: "powerbi-errors/404-entity-not-found.issue-devscope-66.http",
            on_generate: false,
            code: Some("PowerBIEntityNotFound"),
            message: None,
            error_info: None,
            challenge_error: None,
            hint: Some(NOT_FOUND),
            display: "Power BI answered HTTP 404 PowerBIEntityNotFound (not found: no such report, dataset or workspace for this identity; check the ids and that the item belongs to this workspace)",
        },
        ExpectedError {
            file: "powerbi-errors/400-pbi-error-details.issue-powerbirestapi-39.http",
            on_generate: false,
            code: Some("DM_GWPipeline_Gateway_MashupDataAccessError"),
            message: None,
            error_info: None,
            challenge_error: None,
            hint: None,
            display: "Power BI answered HTTP 400 DM_GWPipeline_Gateway_MashupDataAccessError: Web.Contents failed to get contents from 'https://api.powerbi.com/v1.0/myorg/admin/Groups?$expand=reports,users,datasets,dataflows,dashboards&$top=1' (429): Too Many Requests",
        },
        ExpectedError {
            file: "powerbi-errors/429-message.issue-pbimonitor-58.http",
            on_generate: false,
            code: None,
            message: Some("You have exceeded the amount of requests allowed in the current time frame and further requests will fail. Retry in 3392 seconds."),
            error_info: None,
            challenge_error: None,
            hint: Some("throttled by Power BI: slow down, cache embed tokens"),
            display: "Power BI answered HTTP 429: You have exceeded the amount of requests allowed in the current time frame and further requests will fail. Retry in 3392 seconds. (throttled by Power BI: slow down, cache embed tokens) [RequestId 67ffe5da-b0c9-418c-81c7-78c25671cdc1]",
        },
        ExpectedError {
            file: "powerbi-errors/403-token-expired.body.learn-troubleshoot.http",
            on_generate: false,
            code: Some("TokenExpired"),
            message: Some("Access token has expired, resubmit with a new access token"),
            error_info: None,
            challenge_error: None,
            hint: Some(EXPIRED),
            display: "Power BI answered HTTP 403 TokenExpired: Access token has expired, resubmit with a new access token (the Entra access token has expired: request a new one (the client retries once with a new token by itself; if this persists, check this machine's clock))",
        },
        ExpectedError {
            file: "powerbi-errors/401-tenant-switch.empty.fabric-community-4010790.http",
            on_generate: true,
            code: None,
            message: None,
            error_info: Some("ServicePrincipalIsNotAllowedByTenantAdminSwitch"),
            challenge_error: None,
            hint: Some("the tenant setting 'Service principals can use Fabric APIs' is off, or this service principal is not in the security group it allows"),
            display: "Power BI answered HTTP 401 [X-PowerBI-Error-Info ServicePrincipalIsNotAllowedByTenantAdminSwitch] (the tenant setting 'Service principals can use Fabric APIs' is off, or this service principal is not in the security group it allows) [RequestId 00000000-0000-4000-8000-00000000e401]",
        },
        ExpectedError {
            file: "powerbi-errors/401-group-not-accessible.empty.http",
            on_generate: false,
            code: None,
            message: None,
            error_info: Some("GroupNotAccessible"),
            challenge_error: None,
            hint: Some("this identity is not a member of the workspace: add the service principal (or master user) as Member or Admin"),
            display: "Power BI answered HTTP 401 [X-PowerBI-Error-Info GroupNotAccessible] (this identity is not a member of the workspace: add the service principal (or master user) as Member or Admin) [RequestId 00000000-0000-4000-8000-00000000e402]",
        },
        ExpectedError {
            file: "powerbi-errors/403-token-expired.empty.http",
            on_generate: false,
            code: None,
            message: None,
            error_info: Some("TokenExpired"),
            challenge_error: None,
            hint: Some(EXPIRED),
            display: "Power BI answered HTTP 403 [X-PowerBI-Error-Info TokenExpired] (the Entra access token has expired: request a new one (the client retries once with a new token by itself; if this persists, check this machine's clock)) [RequestId 00000000-0000-4000-8000-00000000e403]",
        },
        ExpectedError {
            file: "powerbi-errors/403-invalid-token.empty.http",
            on_generate: true,
            code: None,
            message: None,
            error_info: Some("InvalidToken"),
            challenge_error: None,
            hint: Some(INVALID),
            display: "Power BI answered HTTP 403 [X-PowerBI-Error-Info InvalidToken] (Power BI could not accept the Entra access token: request it for the Power BI scope of the same cloud (e.g. https://analysis.windows.net/powerbi/api/.default), not for another resource) [RequestId 00000000-0000-4000-8000-00000000e404]",
        },
        ExpectedError {
            file: "powerbi-errors/404-user-not-licensed.empty.http",
            on_generate: false,
            code: None,
            message: None,
            error_info: Some("UserNotLicensed"),
            challenge_error: None,
            hint: Some("the master user has no Power BI Pro or Premium Per User licence"),
            display: "Power BI answered HTTP 404 [X-PowerBI-Error-Info UserNotLicensed] (the master user has no Power BI Pro or Premium Per User licence) [RequestId 00000000-0000-4000-8000-00000000e405]",
        },
        ExpectedError {
            file: "powerbi-errors/401-claims-challenge.synthetic.http",
            on_generate: false,
            code: None,
            message: None,
            error_info: None,
            challenge_error: Some("insufficient_claims"),
            hint: Some("a Conditional Access policy wants a new token that meets the claims in WWW-Authenticate: sign in again"),
            display: "Power BI answered HTTP 401 [WWW-Authenticate error insufficient_claims] (a Conditional Access policy wants a new token that meets the claims in WWW-Authenticate: sign in again) [RequestId 00000000-0000-4000-8000-00000000e406]",
        },
        ExpectedError {
            file: "powerbi-errors/400-requires-identity.reconstructed.http",
            on_generate: true,
            code: Some("InvalidRequest"),
            message: Some("Creating embed token for accessing dataset cfafbeb1-8037-4d0c-896e-a46fb27ff229 requires effective identity to be provided"),
            error_info: None,
            challenge_error: None,
            hint: Some("this dataset uses row-level security: add an effective identity (username, roles)"),
            display: "Power BI answered HTTP 400 InvalidRequest: Creating embed token for accessing dataset cfafbeb1-8037-4d0c-896e-a46fb27ff229 requires effective identity to be provided (this dataset uses row-level security: add an effective identity (username, roles)) [RequestId 00000000-0000-4000-8000-00000000e407]",
        },
        ExpectedError {
            file: "powerbi-errors/400-shouldnt-have-identity.reconstructed.http",
            on_generate: true,
            code: Some("InvalidRequest"),
            message: Some("Creating embed token for accessing dataset cfafbeb1-8037-4d0c-896e-a46fb27ff229 shouldn't have effective identity"),
            error_info: None,
            challenge_error: None,
            hint: Some("this dataset has no row-level security: remove the effective identities"),
            display: "Power BI answered HTTP 400 InvalidRequest: Creating embed token for accessing dataset cfafbeb1-8037-4d0c-896e-a46fb27ff229 shouldn't have effective identity (this dataset has no row-level security: remove the effective identities) [RequestId 00000000-0000-4000-8000-00000000e408]",
        },
        ExpectedError {
            file: "powerbi-errors/400-requires-roles.reconstructed.http",
            on_generate: true,
            code: Some("InvalidRequest"),
            message: Some("Creating embed token for accessing dataset cfafbeb1-8037-4d0c-896e-a46fb27ff229 requires roles to be included in provided effective identity"),
            error_info: None,
            challenge_error: None,
            hint: Some("this dataset's row-level security needs roles: add the role names to the effective identity"),
            display: "Power BI answered HTTP 400 InvalidRequest: Creating embed token for accessing dataset cfafbeb1-8037-4d0c-896e-a46fb27ff229 requires roles to be included in provided effective identity (this dataset's row-level security needs roles: add the role names to the effective identity) [RequestId 00000000-0000-4000-8000-00000000e409]",
        },
    ]
}

#[tokio::test]
async fn every_recorded_error_shape_keeps_its_fields_and_says_what_to_do() {
    for expected in expected_errors() {
        let fake = powerbi(learn::NOW).await;
        let rest = if expected.on_generate {
            format!("reports/{}/GenerateToken", learn::REPORT)
        } else {
            format!("reports/{}", learn::REPORT)
        };
        let verb = if expected.on_generate { "POST" } else { "GET" };
        fake.serve(verb, item(learn::WORKSPACE, &rest), expected.file).await;
        let err = if expected.on_generate {
            let request = GenerateTokenRequest::report_view().build().unwrap();
            fake.client
                .workspace(learn::WORKSPACE)
                .report(learn::REPORT)
                .embed_token(&request)
                .await
                .map(|_| ())
                .unwrap_err()
        } else {
            fake.client.workspace(learn::WORKSPACE).report(learn::REPORT).get().await.map(|_| ()).unwrap_err()
        };
        let file = expected.file;
        let recorded = recording(file);
        let pbi = err.as_power_bi().unwrap_or_else(|| panic!("{file}: {err:?}"));
        assert_eq!(pbi.status, recorded.status, "{file}");
        assert_eq!(pbi.code.as_deref(), expected.code, "{file}");
        assert_eq!(pbi.message.as_deref(), expected.message, "{file}");
        assert_eq!(pbi.request_id.as_deref(), recorded.header("RequestId"), "{file}");
        assert_eq!(pbi.error_info.as_deref(), expected.error_info, "{file}");
        assert_eq!(pbi.www_authenticate.as_deref(), recorded.header("WWW-Authenticate"), "{file}");
        assert_eq!(pbi.challenge_error(), expected.challenge_error, "{file}");
        assert_eq!(pbi.raw_body, None, "{file}: every recorded shape is understood");
        assert_eq!(err.hint(), expected.hint, "{file}");
        assert_eq!(err.to_string(), expected.display, "{file}");
        assert!(!err.to_string().contains(ENTRA_TOKEN), "{file}");
    }
}

#[tokio::test]
async fn pbi_error_details_keep_every_entry_and_a_429_its_retry_after() {
    let fake = powerbi(learn::NOW).await;
    fake.serve(
        "GET",
        item(learn::WORKSPACE, &format!("reports/{}", learn::REPORT)),
        "powerbi-errors/400-pbi-error-details.issue-powerbirestapi-39.http",
    )
    .await;
    let err = fake.client.workspace(learn::WORKSPACE).report(learn::REPORT).get().await.unwrap_err();
    let details: Vec<(Option<&str>, &str)> =
        err.as_power_bi().unwrap().details.iter().map(|d| (d.code.as_deref(), d.message.as_str())).collect();
    assert_eq!(details.len(), 7);
    assert_eq!(details[0], (Some("DM_ErrorDetailNameCode_UnderlyingErrorCode"), "-2147467259"));
    assert_eq!(details[3], (Some("Microsoft.Data.Mashup.ValueError.DataSourceKind"), "PowerBIRESTAPI"));

    let fake = powerbi(learn::NOW).await;
    fake.serve(
        "GET",
        item(learn::WORKSPACE, &format!("reports/{}", learn::REPORT)),
        "powerbi-errors/429-message.issue-pbimonitor-58.http",
    )
    .await;
    let err = fake.client.workspace(learn::WORKSPACE).report(learn::REPORT).get().await.unwrap_err();
    assert_eq!(err.as_power_bi().unwrap().retry_after, Some(Duration::from_secs(3392)));
    assert!(err.is_retryable());
}

// ---------------------------------------------------------------------------------------------
// Entra ID

#[tokio::test]
async fn entra_v2_error_keeps_codes_ids_and_error_uri() {
    let server = strict_server().await;
    Mock::given(method("POST"))
        .and(path(format!("/{TENANT}/oauth2/v2.0/token")))
        .and(body_string_contains("grant_type=client_credentials"))
        .respond_with(recording("entra/v2-error-7000215.issue-teamsfx-8621.http").replay())
        .expect(1)
        .mount(&server)
        .await;
    let credential = ClientSecretCredential::new(TENANT, CLIENT, "the-secret-value").unwrap();
    let aad = AadClient::builder(credential)
        .authority_host(server.uri())
        .clock(Arc::new(ManualClock::new(datetime!(2023-05-06 06:03 UTC))))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let err = aad.token().await.unwrap_err();
    let entra = err.as_entra().unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!(
        (entra.status, entra.error.as_str(), entra.error_codes.as_slice()),
        (401, "invalid_client", &[7000215][..])
    );
    assert_eq!(entra.trace_id.as_deref(), Some("6f6c4645-0202-4486-b625-fa957dfc4700"));
    assert_eq!(entra.correlation_id.as_deref(), Some("5fc87507-4086-4e77-b415-cee677eb232e"));
    assert_eq!(entra.timestamp.as_deref(), Some("2023-05-06 06:03:00Z"));
    assert_eq!(entra.error_uri.as_deref(), Some("https://login.microsoftonline.com/error?code=7000215"));
    assert_eq!(
        err.to_string(),
        "Entra ID refused the token request (HTTP 401, invalid_client, AADSTS7000215): the client secret is wrong: \
         use the secret's Value, not its Secret ID [trace_id 6f6c4645-0202-4486-b625-fa957dfc4700, \
         correlation_id 5fc87507-4086-4e77-b415-cee677eb232e]"
    );
    assert!(!err.to_string().contains("the-secret-value"));
}

#[tokio::test]
async fn entra_token_answers_in_v1_strings_and_v2_numbers() {
    // v1: every number is a string, with expires_on beside expires_in.
    let server = strict_server().await;
    Mock::given(method("POST"))
        .and(path(format!("/{TENANT}/oauth2/token")))
        .and(body_string_contains("resource="))
        .respond_with(recording("entra/v1-token-client-credentials.learn.http").replay())
        .expect(1)
        .mount(&server)
        .await;
    let now = datetime!(2016-05-16 13:41:34 UTC); // not_before 1463406094
    let aad = AadClient::builder(ClientSecretCredential::new(TENANT, CLIENT, "s").unwrap())
        .authority_host(server.uri())
        .endpoint(EntraEndpoint::V1)
        .clock(Arc::new(ManualClock::new(now)))
        .build()
        .unwrap();
    let token = aad.token().await.unwrap();
    assert_eq!(token.expires_on(), now + time::Duration::seconds(3599));
    assert!(token.secret().expose_secret().starts_with("eyJ0eXAiOiJKV1Qi"));

    // v2: numbers.
    let server = strict_server().await;
    Mock::given(method("POST"))
        .and(path(format!("/{TENANT}/oauth2/v2.0/token")))
        .respond_with(recording("entra/v2-token-client-credentials.reconstructed.http").replay())
        .expect(1)
        .mount(&server)
        .await;
    let now = datetime!(2026-11-23 12:00 UTC);
    let aad = AadClient::builder(ClientSecretCredential::new(TENANT, CLIENT, "s").unwrap())
        .authority_host(server.uri())
        .clock(Arc::new(ManualClock::new(now)))
        .build()
        .unwrap();
    assert_eq!(aad.token().await.unwrap().expires_on(), now + time::Duration::seconds(3599));
}

#[tokio::test]
async fn device_code_sign_in_with_microsofts_recorded_answers() {
    let server = strict_server().await;
    Mock::given(method("POST"))
        .and(path(format!("/{TENANT}/oauth2/v2.0/devicecode")))
        .respond_with(recording("entra/device-code.kiota-dart.http").replay())
        .expect(1)
        .mount(&server)
        .await;
    let token_path = format!("/{TENANT}/oauth2/v2.0/token");
    Mock::given(method("POST"))
        .and(path(token_path.clone()))
        .and(body_string_contains("device_code=foo"))
        .respond_with(recording("entra/device-code-pending.kiota-dart.http").replay())
        .up_to_n_times(1)
        .with_priority(1)
        .named("first poll: authorization_pending")
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(token_path))
        .and(body_string_contains("device_code=foo"))
        .respond_with(recording("entra/v2-token-user.kiota-dart.http").replay())
        .with_priority(2)
        .named("second poll: the token")
        .expect(1)
        .mount(&server)
        .await;

    let prompts = Arc::new(Mutex::new(Vec::new()));
    let seen = prompts.clone();
    let credential = DeviceCodeCredential::new(TENANT, CLIENT, move |prompt| {
        seen.lock().unwrap().push((prompt.user_code.clone(), prompt.verification_uri.clone(), prompt.message.clone()));
    })
    .unwrap();
    let clock = ManualClock::new(datetime!(2025-03-04 17:46 UTC));
    let aad =
        AadClient::builder(credential).authority_host(server.uri()).clock(Arc::new(clock.clone())).build().unwrap();
    let token = aad.token().await.unwrap();
    assert_eq!(
        prompts.lock().unwrap().as_slice(),
        [(
            "A62NXK96N".to_owned(),
            "https://microsoft.com/devicelogin".to_owned(),
            "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code A62NXK96N to authenticate.".to_owned()
        )]
    );
    // Two polls, `interval` (5 s) apart.
    assert_eq!(clock.sleeps(), [Duration::from_secs(5), Duration::from_secs(5)]);
    assert_eq!(token.expires_on(), datetime!(2025-03-04 17:46:10 UTC) + time::Duration::seconds(3599));
}

// ---------------------------------------------------------------------------------------------
// Managed identity

const POWERBI_RESOURCE: &str = "https://analysis.windows.net/powerbi/api";

async fn managed_identity_token(file: &str, app_service: bool, now: OffsetDateTime) -> OffsetDateTime {
    let server = strict_server().await;
    let route = if app_service { "/msi/token" } else { "/metadata/identity/oauth2/token" };
    Mock::given(method("GET"))
        .and(path(route))
        .and(query_param("resource", POWERBI_RESOURCE))
        .respond_with(recording(file).replay())
        .expect(1)
        .mount(&server)
        .await;
    let endpoint = format!("{}{route}", server.uri());
    let credential = if app_service {
        ManagedIdentityCredential::app_service(ManagedIdentityId::SystemAssigned, endpoint, "identity-header")
    } else {
        ManagedIdentityCredential::imds(ManagedIdentityId::SystemAssigned, endpoint)
    }
    .unwrap();
    let aad = AadClient::builder(credential).clock(Arc::new(ManualClock::new(now))).build().unwrap();
    aad.token().await.unwrap_or_else(|e| panic!("{file}: {e}")).expires_on()
}

#[tokio::test]
async fn imds_expiry_is_expires_on_when_it_comes_first() {
    let file = "managed-identity/imds.learn.http";
    let expires_on = OffsetDateTime::from_unix_timestamp(1506484173).unwrap();
    // A fresh token (now = not_before): now + expires_in is the earlier of the two.
    let fresh = OffsetDateTime::from_unix_timestamp(1506480273).unwrap();
    assert_eq!(managed_identity_token(file, false, fresh).await, fresh + time::Duration::seconds(3599));
    // The same token served from IMDS's cache 45 minutes later: now + expires_in would run
    // almost an hour past the real expiry; expires_on is used.
    let cached = fresh + time::Duration::minutes(45);
    assert_eq!(managed_identity_token(file, false, cached).await, expires_on);
}

#[tokio::test]
async fn app_service_expiry_in_epoch_seconds_and_in_both_date_time_forms() {
    let cases = [
        (
            "managed-identity/app-service-2019-08-01.learn.http",
            OffsetDateTime::from_unix_timestamp(1586984735).unwrap(),
        ),
        ("managed-identity/app-service-2017-09-01.linux.reconstructed.http", datetime!(2021-11-05 15:18:31 UTC)),
        ("managed-identity/app-service-2017-09-01.windows.reconstructed.http", datetime!(2020-01-16 05:24:12 UTC)),
    ];
    for (file, expires_on) in cases {
        let now = expires_on - time::Duration::minutes(30);
        assert_eq!(managed_identity_token(file, true, now).await, expires_on, "{file}");
    }
}

// ---------------------------------------------------------------------------------------------
// The `testing` fake

/// The top-level field names of a JSON object.
fn keys(value: &serde_json::Value) -> std::collections::BTreeSet<String> {
    value.as_object().expect("an object").keys().cloned().collect()
}

#[tokio::test]
async fn the_testing_fake_answers_as_the_recordings_do() {
    let fake = FakeServices::start().await;
    let bearer = fake.aad_client().token().await.unwrap().secret().expose_secret().to_owned();
    let http = reqwest::Client::new();
    let get = |rest: String, bearer: String| {
        let url = format!("{}/v1.0/myorg/groups/{}/{rest}", fake.api_base(), fake.workspace_id());
        let request = http.get(url).bearer_auth(bearer);
        async move { request.send().await.unwrap() }
    };
    let json = |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(bytes).unwrap();

    // Items: the same fields, in the same (camelCase) spelling, as the live answers.
    let first = |file: &str| recording(file).body_json()["value"][0].clone();
    let items = [
        (format!("reports/{}", fake.report_id()), recording("powerbi/get-report-in-group.dagster.http").body_json()),
        (format!("dashboards/{}", fake.dashboard_id()), first("powerbi/get-dashboards-in-group.dagster.http")),
        (
            format!("dashboards/{}/tiles/{}", fake.dashboard_id(), fake.tile_id()),
            first("powerbi/get-tiles-in-group.dagster.http"),
        ),
        (format!("datasets/{}", fake.dataset_id()), recording("powerbi/get-dataset-in-group.dagster.http").body_json()),
    ];
    for (rest, live) in items {
        let answer = get(rest.clone(), bearer.clone()).await;
        assert_eq!(answer.status(), 200, "{rest}");
        assert!(answer.headers().contains_key("requestid"), "{rest}");
        assert_eq!(keys(&json(&answer.bytes().await.unwrap())), keys(&live), "{rest}");
    }

    // An unknown item: the recorded pbi.error body, exactly.
    let answer = get("reports/00000000-0000-4000-8000-000000000404".to_owned(), bearer.clone()).await;
    assert_eq!(answer.status(), 404);
    assert!(answer.headers().contains_key("requestid"));
    let recorded = recording("powerbi-errors/404-entity-not-found.issue-devscope-66.http");
    assert_eq!(json(&answer.bytes().await.unwrap()), recorded.body_json());

    // A token it did not issue, and a workspace it does not serve: empty bodies, the reason in
    // X-PowerBI-Error-Info only.
    let answer = get(format!("reports/{}", fake.report_id()), "not-a-token".to_owned()).await;
    let info = answer.headers().get("x-powerbi-error-info").map(|v| v.to_str().unwrap().to_owned());
    assert_eq!((answer.status().as_u16(), info.as_deref()), (403, Some("InvalidToken")));
    assert!(answer.bytes().await.unwrap().is_empty());
    let url = format!("{}/v1.0/myorg/groups/{}/reports", fake.api_base(), dagster::WORKSPACE);
    let answer = http.get(url).bearer_auth(&bearer).send().await.unwrap();
    let info = answer.headers().get("x-powerbi-error-info").map(|v| v.to_str().unwrap().to_owned());
    assert_eq!((answer.status().as_u16(), info.as_deref()), (401, Some("GroupNotAccessible")));
    assert!(answer.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_testing_fakes_entra_answers_have_the_recorded_fields() {
    let fake = FakeServices::start().await;
    let http = reqwest::Client::new();
    let post = |endpoint: &str, form: Vec<(&'static str, String)>| {
        let url = format!("{}/{}/{endpoint}", fake.authority_host(), fake.tenant_id());
        let request = http.post(url).form(&form);
        async move {
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            (status, serde_json::from_slice::<serde_json::Value>(&answer.bytes().await.unwrap()).unwrap())
        }
    };
    let app = |secret: &str, scope: (&'static str, &str)| {
        vec![
            ("client_id", fake.client_id().to_owned()),
            ("grant_type", "client_credentials".to_owned()),
            ("client_secret", secret.to_owned()),
            (scope.0, scope.1.to_owned()),
        ]
    };

    let v2 = post(
        "oauth2/v2.0/token",
        app(fake.client_secret(), ("scope", "https://analysis.windows.net/powerbi/api/.default")),
    )
    .await;
    let recorded = recording("entra/v2-token-client-credentials.reconstructed.http").body_json();
    assert_eq!((v2.0, keys(&v2.1)), (200, keys(&recorded)));
    assert!(v2.1["expires_in"].is_number());

    let v1 = post("oauth2/token", app(fake.client_secret(), ("resource", POWERBI_RESOURCE))).await;
    let recorded = recording("entra/v1-token-client-credentials.learn.http").body_json();
    assert_eq!((v1.0, keys(&v1.1)), (200, keys(&recorded)));
    for field in ["expires_in", "expires_on", "not_before"] {
        assert!(v1.1[field].as_str().is_some_and(|v| v.parse::<i64>().is_ok()), "{field}: {}", v1.1[field]);
    }
    assert_eq!(v1.1["resource"], POWERBI_RESOURCE);

    let refused =
        post("oauth2/v2.0/token", app("wrong", ("scope", "https://analysis.windows.net/powerbi/api/.default"))).await;
    let recorded = recording("entra/v2-error-7000215.issue-teamsfx-8621.http");
    assert_eq!((refused.0, keys(&refused.1)), (recorded.status, keys(&recorded.body_json())));
    let description = refused.1["error_description"].as_str().unwrap();
    assert!(description.starts_with("AADSTS7000215: ") && description.contains("\r\nTrace ID: "), "{description}");
}

/// The fake's setup faults answer as the recordings of those faults: status, the
/// `X-PowerBI-Error-Info` header and an empty body, or the RLS refusals' code and message word
/// for word.
#[tokio::test]
async fn the_testing_fakes_faults_answer_as_the_recordings_do() {
    use powerbi_embed::testing::FakeFault;
    use serde_json::json;

    let http = reqwest::Client::new();
    for (fault, file) in [
        (FakeFault::TenantSwitchOff, "powerbi-errors/401-tenant-switch.empty.fabric-community-4010790.http"),
        (FakeFault::NotAMember, "powerbi-errors/401-group-not-accessible.empty.http"),
    ] {
        let fake = FakeServices::builder().fault(fault).start().await;
        let token = fake.aad_client().token().await.unwrap();
        let url = format!("{}/v1.0/myorg/groups/{}/reports/{}", fake.api_base(), fake.workspace_id(), fake.report_id());
        let answer = http.get(url).bearer_auth(token.secret().expose_secret()).send().await.unwrap();
        let recorded = recording(file);
        assert_eq!(answer.status().as_u16(), recorded.status, "{fault}");
        let info = answer.headers().get("x-powerbi-error-info").map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(info.as_deref(), recorded.header("X-PowerBI-Error-Info"), "{fault}");
        assert!(answer.headers().contains_key("requestid"), "{fault}");
        assert!(answer.bytes().await.unwrap().is_empty(), "{fault}: an empty body, as recorded");
    }

    for (fault, identities, file) in [
        (FakeFault::RlsRequired, json!([]), "powerbi-errors/400-requires-identity.reconstructed.http"),
        (
            FakeFault::RlsRolesRequired,
            json!([{"username": "u", "datasets": [learn::DATASET]}]),
            "powerbi-errors/400-requires-roles.reconstructed.http",
        ),
    ] {
        let fake = FakeServices::builder().fault(fault).start().await;
        assert_eq!(fake.dataset_id(), learn::DATASET, "the recordings name Learn's dataset");
        let token = fake.aad_client().token().await.unwrap();
        let url = format!(
            "{}/v1.0/myorg/groups/{}/reports/{}/GenerateToken",
            fake.api_base(),
            fake.workspace_id(),
            fake.report_id()
        );
        let answer = http
            .post(url)
            .bearer_auth(token.secret().expose_secret())
            .header("content-type", "application/json")
            .body(json!({"accessLevel": "View", "identities": identities}).to_string())
            .send()
            .await
            .unwrap();
        let recorded = recording(file);
        assert_eq!(answer.status().as_u16(), recorded.status, "{fault}");
        let body: serde_json::Value = serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap();
        assert_eq!(body["error"]["code"], recorded.body_json()["error"]["code"], "{fault}");
        assert_eq!(body["error"]["message"], recorded.body_json()["error"]["message"], "{fault}");
    }
}

/// Issue 17, RLS from the data, on Microsoft's own samples: the report names its dataset, the
/// dataset (the RLS sample of "Datasets - Get Dataset In Group") requires an identity with roles.
#[tokio::test]
async fn rls_from_the_data_reads_microsofts_rls_dataset_sample() {
    let report_route = item(learn::WORKSPACE, &format!("reports/{}", learn::REPORT));
    let dataset_route = item(learn::WORKSPACE, &format!("datasets/{}", learn::DATASET));
    // No role: refused naming the field, and no GenerateToken (the strict fake has none).
    let fake = powerbi(learn::NOW).await;
    fake.serve("GET", report_route.clone(), "powerbi/get-report-in-group.learn.http").await;
    fake.serve("GET", dataset_route.clone(), "powerbi/get-dataset-in-group.rls.learn.http").await;
    let request = GenerateTokenRequest::report_view()
        .identity_if_required(powerbi_embed::EffectiveIdentity::new("ann@contoso.com"))
        .build()
        .unwrap();
    let report = fake.client.workspace(learn::WORKSPACE).report(learn::REPORT);
    let err = report.embed_config(&request).await.unwrap_err();
    assert_eq!(err.field(), Some("identities[0].roles"), "{err:?}");

    // With a role: the identity goes out with the sample's dataset filled in.
    let fake = powerbi(learn::NOW).await;
    fake.serve("GET", report_route, "powerbi/get-report-in-group.learn.http").await;
    fake.serve("GET", dataset_route, "powerbi/get-dataset-in-group.rls.learn.http").await;
    let body = format!(
        r#"{{"accessLevel":"View","identities":[{{"username":"ann@contoso.com","roles":["Customer"],"datasets":["{}"]}}]}}"#,
        learn::DATASET
    );
    Mock::given(method("POST"))
        .and(path(item(learn::WORKSPACE, &format!("reports/{}/GenerateToken", learn::REPORT))))
        .and(wiremock::matchers::body_string(body))
        .respond_with(recording("powerbi/generate-token-v1.report.learn.http").replay())
        .expect(1)
        .mount(&fake.server)
        .await;
    let request = GenerateTokenRequest::report_view()
        .identity_if_required(powerbi_embed::EffectiveIdentity::new("ann@contoso.com").role("Customer"))
        .build()
        .unwrap();
    let report = fake.client.workspace(learn::WORKSPACE).report(learn::REPORT);
    let config = report.embed_config(&request).await.unwrap();
    assert_eq!(config.permissions(), Some(powerbi_embed::Permissions::Read));
}
