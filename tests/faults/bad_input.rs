//! Every invalid argument is an `Error::InvalidInput` naming the field, raised before anything
//! is sent. Calls are made against strict fakes of Entra and Power BI with no routes at all, so
//! any request would fail the test; constructor and builder errors leave no client to send with.
//! Each test is a row of the README's "Bad input" table.

use std::sync::Arc;
use std::time::Duration;

use crate::support::ids::{REPORT, WORKSPACE};
use crate::support::*;
use powerbi_embed::testing::SafeMockServer;
use powerbi_embed::{
    AadClient, ClientSecretCredential, Cloud, DeviceCodeCredential, Error, GenerateTokenRequest,
    GenerateTokenRequestV2, ManagedIdentityCredential, ManagedIdentityId, ManualClock, PowerBiClient,
    StaticTokenCredential, UsernamePasswordCredential,
};
use powerbi_embed::{DashboardId, DatasetId, ProfileId, ReportId, TileId, WorkspaceId};
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::macros::datetime;
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, ResponseTemplate};

const RESOURCE: &str = "https://analysis.windows.net/powerbi/api";

/// Ids that are not GUIDs: empty, blank, a name, one digit short, a stray character, a URL.
const BAD_IDS: [&str; 6] = [
    "",
    "   ",
    "Sales report",
    "f089354e-8366-4e18-aea3-4cb4a3a50b4",
    "f089354e-8366-4e18-aea3-4cb4a3a50b4z",
    "https://app.powerbi.com/groups/f089354e-8366-4e18-aea3-4cb4a3a50b48",
];

/// Tenants that are neither a GUID nor a domain, or are multi-tenant aliases.
const BAD_TENANTS: [&str; 8] =
    ["contoso", "common", "organizations", "a/b.com", "x..y", "-a.com", "https://login.microsoftonline.com", "a b.com"];

/// Asserts an `InvalidInput` naming `field`, whose message says so first.
#[track_caller]
fn assert_invalid(result: Result<impl std::fmt::Debug, Error>, field: &str) {
    let err = result.expect_err(&format!("expected invalid {field}"));
    match &err {
        Error::InvalidInput { field: named, reason } => {
            assert_eq!(named, field, "{err}");
            assert!(!reason.is_empty());
        }
        other => panic!("expected InvalidInput naming {field}, got {other:?}"),
    }
    assert_eq!(err.field(), Some(field));
    assert!(err.to_string().starts_with(&format!("invalid {field}: ")), "{err}");
    assert!(!err.is_retryable());
}

/// Strict fakes with no routes, and a client pointed at them.
struct NoNetwork {
    entra: SafeMockServer,
    powerbi: SafeMockServer,
    client: PowerBiClient,
}

impl NoNetwork {
    async fn start() -> Self {
        let entra = strict_server().await;
        let powerbi = strict_server().await;
        let credential = ClientSecretCredential::new(TENANT, CLIENT, "secret").unwrap();
        let aad = aad_client(&entra, credential, &clock());
        let client = PowerBiClient::builder(aad).api_base(powerbi.uri()).build().unwrap();
        Self { entra, powerbi, client }
    }

    async fn assert_nothing_sent(&self) {
        assert!(self.entra.received_requests().await.unwrap().is_empty(), "a request reached Entra");
        assert!(self.powerbi.received_requests().await.unwrap().is_empty(), "a request reached Power BI");
    }
}

#[test]
fn empty_or_malformed_tenant_names_tenant_id() {
    for tenant in BAD_TENANTS.iter().chain(&["", "   "]) {
        assert_invalid(ClientSecretCredential::new(tenant, CLIENT, "s"), "tenant_id");
        assert_invalid(UsernamePasswordCredential::new(tenant, CLIENT, "u@contoso.com", "p"), "tenant_id");
        assert_invalid(DeviceCodeCredential::new(tenant, CLIENT, |_| {}), "tenant_id");
    }
}

#[test]
fn empty_or_malformed_client_id_names_client_id() {
    for client_id in BAD_IDS {
        assert_invalid(ClientSecretCredential::new(TENANT, client_id, "s"), "client_id");
        assert_invalid(UsernamePasswordCredential::new(TENANT, client_id, "u@contoso.com", "p"), "client_id");
        assert_invalid(DeviceCodeCredential::new(TENANT, client_id, |_| {}), "client_id");
    }
}

#[test]
fn empty_secret_username_or_password_names_the_field() {
    for blank in ["", "   "] {
        assert_invalid(ClientSecretCredential::new(TENANT, CLIENT, blank), "client_secret");
        assert_invalid(UsernamePasswordCredential::new(TENANT, CLIENT, blank, "p"), "username");
    }
    assert_invalid(UsernamePasswordCredential::new(TENANT, CLIENT, "u@contoso.com", ""), "password");
}

#[test]
fn empty_or_malformed_app_service_identity_header_names_identity_header() {
    for header in ["", "   ", "line\nbreak", "nul\0byte"] {
        let endpoint = "http://127.0.0.1:41234/msi/token";
        let id = ManagedIdentityId::SystemAssigned;
        assert_invalid(ManagedIdentityCredential::app_service(id, endpoint, header), "identity_header");
    }
}

/// Each item id is parsed once, where it enters (a path, a setting, a database row), and every
/// way in refuses a malformed one naming the field the same way; a handle only ever holds a
/// valid id, so nothing malformed can reach the network.
#[track_caller]
fn assert_every_way_in_refuses<T>(field: &str)
where
    T: std::str::FromStr<Err = Error> + for<'a> TryFrom<&'a str, Error = Error> + serde::de::DeserializeOwned,
    T: std::fmt::Debug,
{
    for id in BAD_IDS {
        assert_invalid(id.parse::<T>(), field);
        assert_invalid(T::try_from(id), field);
        let err = serde_json::from_value::<T>(json!(id)).unwrap_err().to_string();
        assert!(err.starts_with(&format!("invalid {field}: ")), "{err}");
    }
}

#[test]
fn empty_or_malformed_workspace_id_names_workspace_id() {
    assert_every_way_in_refuses::<WorkspaceId>("workspace_id");
}

#[test]
fn empty_or_malformed_report_id_names_report_id() {
    assert_every_way_in_refuses::<ReportId>("report_id");
}

#[test]
fn empty_or_malformed_dataset_id_names_dataset_id() {
    assert_every_way_in_refuses::<DatasetId>("dataset_id");
}

#[test]
fn empty_or_malformed_dashboard_id_names_dashboard_id() {
    assert_every_way_in_refuses::<DashboardId>("dashboard_id");
}

#[test]
fn empty_or_malformed_tile_id_names_tile_id() {
    assert_every_way_in_refuses::<TileId>("tile_id");
}

#[test]
fn malformed_profile_id_names_profile_id() {
    assert_every_way_in_refuses::<ProfileId>("profile_id");
}

/// One HTTP client for the builder rows: building a TLS client per row is what makes them slow.
fn http() -> reqwest::Client {
    static HTTP: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    HTTP.get_or_init(reqwest::Client::new).clone()
}

fn aad_builder() -> powerbi_embed::AadClientBuilder {
    AadClient::builder(ClientSecretCredential::new(TENANT, CLIENT, "s").unwrap()).http_client(http())
}

fn power_bi_builder() -> powerbi_embed::PowerBiClientBuilder {
    PowerBiClient::builder(aad_builder().build().unwrap()).http_client(http())
}

/// `http` to hosts that are not loopback, and schemes that are not http(s).
const CLEAR_TEXT_URLS: [&str; 7] = [
    "http://login.microsoftonline.com",
    "http://10.1.2.3:8080",
    "http://0.0.0.0:8080",
    "http://localhost.example.com",
    "http://127.0.0.1.nip.io",
    "ftp://127.0.0.1",
    "login.microsoftonline.com",
];

#[test]
fn http_authority_host_to_a_non_loopback_host_names_authority_host() {
    for url in CLEAR_TEXT_URLS {
        assert_invalid(aad_builder().authority_host(url).build(), "authority_host");
    }
    for loopback in ["http://127.0.0.1:1", "http://localhost:2", "http://[::1]:3"] {
        aad_builder().authority_host(loopback).build().unwrap();
    }
}

#[test]
fn http_api_base_to_a_non_loopback_host_names_api_base() {
    for url in CLEAR_TEXT_URLS {
        assert_invalid(power_bi_builder().api_base(url).build(), "api_base");
    }
    for loopback in ["http://127.0.0.1:1", "http://localhost:2/v", "http://[::1]:3"] {
        power_bi_builder().api_base(loopback).build().unwrap();
    }
}

#[test]
fn http_custom_cloud_to_a_non_loopback_host_names_the_url() {
    for url in CLEAR_TEXT_URLS {
        assert_invalid(Cloud::custom(url, RESOURCE, "https://api.powerbi.com"), "authority_host");
        assert_invalid(Cloud::custom("https://login.microsoftonline.com", RESOURCE, url), "api_base");
    }
    assert_invalid(Cloud::custom("https://login.microsoftonline.com", "http://analysis", "https://a"), "resource");
    Cloud::custom("http://127.0.0.1:1", RESOURCE, "http://127.0.0.1:2").unwrap();
}

/// Base URLs with a query, a fragment or credentials.
const DECORATED_URLS: [&str; 5] = [
    "https://login.microsoftonline.com/?x=1",
    "https://login.microsoftonline.com/?",
    "https://login.microsoftonline.com/#frag",
    "https://login.microsoftonline.com/#",
    "https://user:pass@login.microsoftonline.com/",
];

#[test]
fn authority_host_with_query_or_fragment_names_authority_host() {
    for url in DECORATED_URLS {
        assert_invalid(aad_builder().authority_host(url).build(), "authority_host");
        assert_invalid(Cloud::custom(url, RESOURCE, "https://api.powerbi.com"), "authority_host");
    }
}

#[test]
fn api_base_with_query_or_fragment_names_api_base() {
    for url in DECORATED_URLS {
        assert_invalid(power_bi_builder().api_base(url).build(), "api_base");
        assert_invalid(Cloud::custom("https://login.microsoftonline.com", RESOURCE, url), "api_base");
    }
}

#[test]
fn unknown_cloud_name_names_cloud() {
    for name in ["", "mars", "public cloud", "azure-china", "usgov2", "gov"] {
        assert_invalid(Cloud::from_name(name), "cloud");
    }
    assert_eq!(Cloud::from_name("US-Gov_High").unwrap(), Cloud::UsGovHigh);
}

#[test]
fn zero_or_negative_lifetime_names_lifetime_in_minutes() {
    for minutes in [0, -1, i64::MIN] {
        for builder in [GenerateTokenRequest::report_view(), GenerateTokenRequest::report_edit()] {
            assert_invalid(builder.lifetime_minutes(minutes).build(), "lifetimeInMinutes");
        }
        assert_invalid(GenerateTokenRequest::report_creation().lifetime_minutes(minutes).build(), "lifetimeInMinutes");
        assert_invalid(GenerateTokenRequest::dashboard().lifetime_minutes(minutes).build(), "lifetimeInMinutes");
        assert_invalid(GenerateTokenRequest::tile().lifetime_minutes(minutes).build(), "lifetimeInMinutes");
        assert_invalid(GenerateTokenRequest::qna().lifetime_minutes(minutes).build(), "lifetimeInMinutes");
        let v2 = GenerateTokenRequestV2::builder().report(REPORT).lifetime_minutes(minutes);
        assert_invalid(v2.build(), "lifetimeInMinutes");
    }
    assert_invalid(GenerateTokenRequest::report_view().lifetime_minutes(i64::MAX).build(), "lifetimeInMinutes");
}

#[tokio::test]
async fn a_token_request_with_empty_scopes_names_scopes() {
    let fakes = NoNetwork::start().await;
    let aad = fakes.client.aad();
    assert_invalid(aad.token_for_scopes::<&str>(&[]).await, "scopes");
    assert_invalid(aad.token_for_scopes(&["", "   "]).await, "scopes");
    fakes.assert_nothing_sent().await;
    assert_invalid(aad_builder().scopes(Vec::<String>::new()).build(), "scopes");
    assert_invalid(aad_builder().scopes([" ", ""]).build(), "scopes");
}

// Inputs that are valid but extreme: accepted, and never a panic.

/// Fakes that answer one Entra token and one GenerateToken whose body is `expected`.
async fn generate_token_fakes(clock: &ManualClock, expected: serde_json::Value) -> (SafeMockServer, SafeMockServer) {
    let (entra, powerbi) = (strict_server().await, strict_server().await);
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("entra", 3600)))
        .expect(1)
        .mount(&entra)
        .await;
    let expiration = (clock_now(clock) + time::Duration::hours(1)).format(&Rfc3339).unwrap();
    Mock::given(method("POST"))
        .and(path(format!("/v1.0/myorg/groups/{WORKSPACE}/reports/{REPORT}/GenerateToken")))
        .and(body_json(expected))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"token": "embed", "tokenId": "49ae3742-54c0-4c29-af52-619ff93b5c80", "expiration": expiration}),
        ))
        .expect(1)
        .mount(&powerbi)
        .await;
    (entra, powerbi)
}

fn clock_now(clock: &ManualClock) -> time::OffsetDateTime {
    powerbi_embed::Clock::now(clock)
}

#[tokio::test]
async fn the_longest_lifetime_is_sent_without_panicking() {
    let clock = clock();
    let minutes = i64::from(u32::MAX);
    let (entra, powerbi) =
        generate_token_fakes(&clock, json!({"accessLevel": "View", "lifetimeInMinutes": minutes})).await;
    let aad = aad_client(&entra, ClientSecretCredential::new(TENANT, CLIENT, "s").unwrap(), &clock);
    let client = PowerBiClient::builder(aad).api_base(powerbi.uri()).build().unwrap();
    let request = GenerateTokenRequest::report_view().lifetime_minutes(minutes).build().unwrap();
    let token = client.workspace(WORKSPACE).report(REPORT).embed_token(&request).await.unwrap();
    assert_eq!(token.secret().expose_secret(), "embed");
}

#[tokio::test]
async fn the_longest_default_embed_lifetime_does_not_panic() {
    let clock = clock();
    let (entra, powerbi) = generate_token_fakes(&clock, json!({"accessLevel": "View"})).await;
    let aad = aad_client(&entra, ClientSecretCredential::new(TENANT, CLIENT, "s").unwrap(), &clock);
    let client =
        PowerBiClient::builder(aad).api_base(powerbi.uri()).default_embed_lifetime(Duration::MAX).build().unwrap();
    let request = GenerateTokenRequest::report_view().build().unwrap();
    let token = client.workspace(WORKSPACE).report(REPORT).embed_token(&request).await.unwrap();
    assert_eq!(token.secret().expose_secret(), "embed");
}

#[tokio::test]
async fn a_static_token_that_never_expires_does_not_panic() {
    let clock = clock();
    let powerbi = strict_server().await;
    // Both embed tokens are still valid after the clock moves on by an hour.
    let expiration = (clock_now(&clock) + time::Duration::hours(3)).format(&Rfc3339).unwrap();
    Mock::given(method("POST"))
        .and(path(format!("/v1.0/myorg/groups/{WORKSPACE}/reports/{REPORT}/GenerateToken")))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"token": "embed", "tokenId": "49ae3742-54c0-4c29-af52-619ff93b5c80", "expiration": expiration}),
        ))
        .expect(2)
        .mount(&powerbi)
        .await;
    let credential = StaticTokenCredential::new("static-entra", datetime!(9999-12-31 23:59:59 UTC));
    let aad = AadClient::builder(credential).clock(Arc::new(clock.clone())).build().unwrap();
    let client = PowerBiClient::builder(aad).api_base(powerbi.uri()).build().unwrap();
    let request = GenerateTokenRequest::report_view().build().unwrap();
    client.workspace(WORKSPACE).report(REPORT).embed_token(&request).await.unwrap();
    clock.advance(Duration::from_secs(3600));
    client.workspace(WORKSPACE).report(REPORT).embed_token(&request).await.unwrap();
}
