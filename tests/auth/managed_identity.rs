use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{aad_client, clock, strict_server};
use powerbi_embed::{
    AadClient, Clock, CredentialErrorKind, Error, ManagedIdentityCredential, ManagedIdentityId, TransportError,
    TransportErrorKind,
};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

const IMDS_PATH: &str = "/metadata/identity/oauth2/token";
const APP_SERVICE_PATH: &str = "/msi/token";
const POWERBI_RESOURCE: &str = "https://analysis.windows.net/powerbi/api";
const USER_CLIENT_ID: &str = "7a9c2f10-5b3d-4e8f-9a1b-2c3d4e5f6a7b";
const USER_OBJECT_ID: &str = "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b";
const USER_RESOURCE_ID: &str =
    "/subscriptions/5c6d7e8f-0000-4000-8000-000000000000/resourceGroups/embed/providers/Microsoft.ManagedIdentity/userAssignedIdentities/powerbi-reader";
/// Distinctive values, so a test can check that no output ever contains them.
const IDENTITY_HEADER: &str = "b6f9e0d2-identity-header-secret";
const ACCESS_TOKEN: &str = "eyJ0eXAi.managed-identity-access-token";

/// Matches a query string with exactly these parameters (order-insensitive, no extra or
/// repeated ones).
struct QueryIs(Vec<(String, String)>);

fn query_is(pairs: &[(&str, &str)]) -> QueryIs {
    let mut pairs: Vec<_> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    pairs.sort();
    QueryIs(pairs)
}

impl Match for QueryIs {
    fn matches(&self, request: &Request) -> bool {
        let mut actual: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
        actual.sort();
        actual == self.0
    }
}

/// Matches requests that do not carry `name`.
struct WithoutHeader(&'static str);

impl Match for WithoutHeader {
    fn matches(&self, request: &Request) -> bool {
        !request.headers.contains_key(self.0)
    }
}

fn imds_url(server: &MockServer) -> String {
    format!("{}{IMDS_PATH}", server.uri())
}

fn app_service_url(server: &MockServer) -> String {
    format!("{}{APP_SERVICE_PATH}", server.uri())
}

/// What IMDS answers: every number is a string.
fn imds_body(now: time::OffsetDateTime) -> serde_json::Value {
    json!({
        "access_token": ACCESS_TOKEN,
        "refresh_token": "",
        "expires_in": "3599",
        "expires_on": (now + time::Duration::seconds(3599)).unix_timestamp().to_string(),
        "ext_expires_in": "3599",
        "not_before": now.unix_timestamp().to_string(),
        "resource": POWERBI_RESOURCE,
        "token_type": "Bearer",
    })
}

/// What App Service answers: `expires_on` only, as a string.
fn app_service_body(expires_on: i64) -> serde_json::Value {
    json!({
        "access_token": ACCESS_TOKEN,
        "expires_on": expires_on.to_string(),
        "resource": POWERBI_RESOURCE,
        "token_type": "Bearer",
        "client_id": USER_CLIENT_ID,
    })
}

/// The IMDS token route for `extra` query parameters, answering `response`, called `times`.
async fn mount_imds(server: &MockServer, extra: &[(&str, &str)], response: ResponseTemplate, times: u64) {
    let mut query = vec![("api-version", "2018-02-01"), ("resource", POWERBI_RESOURCE)];
    query.extend_from_slice(extra);
    Mock::given(method("GET"))
        .and(path(IMDS_PATH))
        .and(query_is(&query))
        .and(header("Metadata", "true"))
        .and(WithoutHeader("x-identity-header"))
        .respond_with(response)
        .up_to_n_times(times)
        .expect(times)
        .mount(server)
        .await;
}

fn secs(values: &[u64]) -> Vec<Duration> {
    values.iter().map(|s| Duration::from_secs(*s)).collect()
}

#[tokio::test]
async fn imds_system_assigned_sends_the_documented_request() {
    let server = strict_server().await;
    let clock = clock();
    let now = clock.now();
    mount_imds(&server, &[], ResponseTemplate::new(200).set_body_json(imds_body(now)), 1).await;
    let credential = ManagedIdentityCredential::imds(ManagedIdentityId::SystemAssigned, imds_url(&server)).unwrap();

    let token = aad_client(&server, credential, &clock).token().await.expect("token");

    assert_eq!(token.secret().expose_secret(), ACCESS_TOKEN);
    assert_eq!(token.expires_on(), now + time::Duration::seconds(3599));
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn imds_user_assigned_names_the_identity_by_each_kind_of_id() {
    let cases = [
        (ManagedIdentityId::ClientId(USER_CLIENT_ID.into()), "client_id", USER_CLIENT_ID),
        (ManagedIdentityId::ObjectId(USER_OBJECT_ID.into()), "object_id", USER_OBJECT_ID),
        (ManagedIdentityId::ResourceId(USER_RESOURCE_ID.into()), "msi_res_id", USER_RESOURCE_ID),
    ];
    for (id, parameter, value) in cases {
        let server = strict_server().await;
        let clock = clock();
        let body = imds_body(clock.now());
        mount_imds(&server, &[(parameter, value)], ResponseTemplate::new(200).set_body_json(body), 1).await;
        let credential = ManagedIdentityCredential::imds(id, imds_url(&server)).unwrap();

        let token = aad_client(&server, credential, &clock).token().await;

        assert!(token.is_ok(), "{parameter}: {token:?}");
    }
}

#[tokio::test]
async fn app_service_sends_the_identity_header_and_its_own_parameter_names() {
    let cases = [
        (ManagedIdentityId::SystemAssigned, None),
        (ManagedIdentityId::ClientId(USER_CLIENT_ID.into()), Some(("client_id", USER_CLIENT_ID))),
        (ManagedIdentityId::ObjectId(USER_OBJECT_ID.into()), Some(("principal_id", USER_OBJECT_ID))),
        (ManagedIdentityId::ResourceId(USER_RESOURCE_ID.into()), Some(("mi_res_id", USER_RESOURCE_ID))),
    ];
    for (id, extra) in cases {
        let server = strict_server().await;
        let clock = clock();
        let expires_on = clock.now().unix_timestamp() + 86_000;
        let mut query = vec![("api-version", "2019-08-01"), ("resource", POWERBI_RESOURCE)];
        query.extend(extra);
        Mock::given(method("GET"))
            .and(path(APP_SERVICE_PATH))
            .and(query_is(&query))
            .and(header("X-IDENTITY-HEADER", IDENTITY_HEADER))
            .and(WithoutHeader("metadata"))
            .respond_with(ResponseTemplate::new(200).set_body_json(app_service_body(expires_on)))
            .expect(1)
            .mount(&server)
            .await;
        let credential = ManagedIdentityCredential::app_service(id, app_service_url(&server), IDENTITY_HEADER).unwrap();

        let token = aad_client(&server, credential, &clock).token().await.expect("token");

        assert_eq!(token.expires_on().unix_timestamp(), expires_on, "{extra:?}");
    }
}

#[tokio::test]
async fn expires_on_is_read_as_a_string_or_a_number_of_epoch_seconds() {
    for as_string in [true, false] {
        let server = strict_server().await;
        let clock = clock();
        let expires_on = clock.now() + time::Duration::minutes(90);
        let epoch = expires_on.unix_timestamp();
        let value = if as_string { json!(epoch.to_string()) } else { json!(epoch) };
        let body = json!({"access_token": ACCESS_TOKEN, "expires_on": value, "token_type": "Bearer"});
        mount_imds(&server, &[], ResponseTemplate::new(200).set_body_json(body), 1).await;
        let credential = ManagedIdentityCredential::imds(ManagedIdentityId::SystemAssigned, imds_url(&server)).unwrap();

        let token = aad_client(&server, credential, &clock).token().await.expect("token");

        assert_eq!(token.expires_on(), expires_on, "as_string = {as_string}");
    }
}

#[tokio::test]
async fn a_500_is_retried_once_after_one_second() {
    let server = strict_server().await;
    let clock = clock();
    mount_imds(&server, &[], ResponseTemplate::new(500).set_body_string("upstream hiccup"), 1).await;
    mount_imds(&server, &[], ResponseTemplate::new(200).set_body_json(imds_body(clock.now())), 1).await;
    let credential = ManagedIdentityCredential::imds(ManagedIdentityId::SystemAssigned, imds_url(&server)).unwrap();

    aad_client(&server, credential, &clock).token().await.expect("token after one retry");

    assert_eq!(clock.sleeps(), secs(&[1]));
}

#[tokio::test]
async fn a_429_waits_for_its_retry_after() {
    let server = strict_server().await;
    let clock = clock();
    let throttled = ResponseTemplate::new(429).insert_header("Retry-After", "3");
    mount_imds(&server, &[], throttled, 1).await;
    mount_imds(&server, &[], ResponseTemplate::new(200).set_body_json(imds_body(clock.now())), 1).await;
    let credential = ManagedIdentityCredential::imds(ManagedIdentityId::SystemAssigned, imds_url(&server)).unwrap();

    aad_client(&server, credential, &clock).token().await.expect("token after the throttle");

    assert_eq!(clock.sleeps(), secs(&[3]));
}

#[tokio::test]
async fn a_410_is_retried_for_seventy_seconds_then_fails() {
    let server = strict_server().await;
    let clock = clock();
    // Seven waits of 10 s reach 70 s: the 8th answer is the last one asked for.
    mount_imds(&server, &[], ResponseTemplate::new(410).set_body_string("IMDS is being updated"), 8).await;
    let credential = ManagedIdentityCredential::imds(ManagedIdentityId::SystemAssigned, imds_url(&server)).unwrap();
    // The whole IMDS window fits only in a call timeout above 70 s.
    let aad = AadClient::builder(credential)
        .authority_host(server.uri())
        .clock(Arc::new(clock.clone()))
        .call_timeout(Duration::from_secs(80))
        .build()
        .unwrap();

    let err = aad.token().await.unwrap_err();

    assert_eq!(clock.sleeps(), secs(&[10; 7]));
    assert!(clock.sleeps().iter().sum::<Duration>() >= Duration::from_secs(70));
    match &err {
        Error::Credential { credential: "managed identity", kind: CredentialErrorKind::Refused, message, .. } => {
            assert!(message.contains("HTTP 410") && message.contains("8 attempts"), "{message}");
        }
        other => panic!("expected Error::Credential, got {other:?}"),
    }
}

#[tokio::test]
async fn a_410_is_retried_only_within_the_default_call_timeout() {
    let server = strict_server().await;
    let clock = clock();
    // 30 s: waits of 10 s at 0 s and 10 s; the one at 20 s would end at the deadline, so it is
    // not started and the third 410 is the answer.
    mount_imds(&server, &[], ResponseTemplate::new(410).set_body_string("IMDS is being updated"), 3).await;
    let credential = ManagedIdentityCredential::imds(ManagedIdentityId::SystemAssigned, imds_url(&server)).unwrap();

    let err = aad_client(&server, credential, &clock).token().await.unwrap_err();

    assert_eq!(clock.sleeps(), secs(&[10, 10]));
    match &err {
        Error::Credential { credential: "managed identity", kind: CredentialErrorKind::Refused, message, .. } => {
            assert!(message.contains("HTTP 410") && message.contains("3 attempts"), "{message}");
        }
        other => panic!("expected Error::Credential, got {other:?}"),
    }
}

#[tokio::test]
async fn server_errors_stop_after_the_configured_attempts() {
    let server = strict_server().await;
    let clock = clock();
    mount_imds(&server, &[], ResponseTemplate::new(503), 3).await;
    let credential =
        ManagedIdentityCredential::imds(ManagedIdentityId::SystemAssigned, imds_url(&server)).unwrap().max_attempts(3);

    let err = aad_client(&server, credential, &clock).token().await.unwrap_err();

    assert_eq!(clock.sleeps(), secs(&[1, 2]));
    assert!(err.to_string().contains("HTTP 503"), "{err}");
}

#[tokio::test]
async fn a_400_is_not_retried_and_names_the_identity() {
    let server = strict_server().await;
    let clock = clock();
    let not_found = json!({"error": "invalid_request", "error_description": "Identity not found"});
    mount_imds(&server, &[("client_id", USER_CLIENT_ID)], ResponseTemplate::new(400).set_body_json(not_found), 1).await;
    let id = ManagedIdentityId::ClientId(USER_CLIENT_ID.into());
    let credential = ManagedIdentityCredential::imds(id, imds_url(&server)).unwrap();

    let err = aad_client(&server, credential, &clock).token().await.unwrap_err();

    assert!(clock.sleeps().is_empty());
    match &err {
        Error::Credential { credential: "managed identity", kind: CredentialErrorKind::Refused, message, .. } => {
            assert!(message.contains(USER_CLIENT_ID), "{message}");
            assert!(message.contains("Identity not found"), "{message}");
            assert!(message.contains("HTTP 400"), "{message}");
        }
        other => panic!("expected Error::Credential, got {other:?}"),
    }
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn nothing_listening_means_no_managed_identity_here() {
    // A port that was just free: connecting to it is refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{port}{IMDS_PATH}");
    let server = strict_server().await;
    let clock = clock();
    let credential = ManagedIdentityCredential::imds(ManagedIdentityId::SystemAssigned, endpoint).unwrap();
    let started = Instant::now();

    let err = aad_client(&server, credential, &clock).token().await.unwrap_err();

    // Refused at once, not after the 10 s connect timeout (a generous bound: a loaded machine
    // must not fail this; the retries are counted exactly on the clock below).
    assert!(started.elapsed() < Duration::from_secs(8), "took {:?}", started.elapsed());
    assert!(clock.sleeps().is_empty(), "no retries: {:?}", clock.sleeps());
    match &err {
        Error::Credential {
            credential: "managed identity", kind: CredentialErrorKind::Unavailable, message, ..
        } => {
            assert!(message.contains("no managed identity is available"), "{message}");
        }
        other => panic!("expected Error::Credential, got {other:?}"),
    }
    // The chain underneath: the transport failure, then the HTTP client's own error.
    let transport = std::error::Error::source(&err).expect("a source");
    let transport = transport.downcast_ref::<TransportError>().expect("the transport error");
    assert_eq!(transport.kind, TransportErrorKind::Connect);
    assert!(std::error::Error::source(transport).is_some(), "the HTTP client's error is kept");
}

#[tokio::test]
async fn debug_output_never_shows_the_identity_header_or_the_token() {
    let server = strict_server().await;
    let clock = clock();
    let expires_on = clock.now().unix_timestamp() + 3600;
    Mock::given(method("GET"))
        .and(path(APP_SERVICE_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(app_service_body(expires_on)))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    let refusal = json!({"statusCode": 400, "message": "No managed identity found for specified ClientId/ResourceId/PrincipalId."});
    Mock::given(method("GET"))
        .and(path(APP_SERVICE_PATH))
        .respond_with(ResponseTemplate::new(400).set_body_json(refusal))
        .expect(1)
        .mount(&server)
        .await;
    let credential = ManagedIdentityCredential::app_service(
        ManagedIdentityId::SystemAssigned,
        app_service_url(&server),
        IDENTITY_HEADER,
    )
    .unwrap();
    let printed_credential = format!("{credential:?} {credential:#?}");
    let aad = aad_client(&server, credential, &clock);

    let token = aad.token().await.expect("token");
    let err = aad.token_for_scopes(&["https://graph.microsoft.com/.default"]).await.unwrap_err();

    assert!(err.to_string().contains("No managed identity found"), "{err}");
    let printed = format!("{printed_credential} {aad:?} {token:?} {err:?} {err}");
    for secret in [IDENTITY_HEADER, ACCESS_TOKEN] {
        assert!(!printed.contains(secret), "{secret} leaked: {printed}");
    }
}

#[tokio::test]
async fn asks_for_exactly_one_resource() {
    let server = strict_server().await;
    let clock = clock();
    let credential = ManagedIdentityCredential::imds(ManagedIdentityId::SystemAssigned, imds_url(&server)).unwrap();
    let aad = aad_client(&server, credential, &clock);

    let err = aad
        .token_for_scopes(&[crate::support::POWERBI_SCOPE, "https://graph.microsoft.com/.default"])
        .await
        .unwrap_err();

    assert_eq!(err.field(), Some("scopes"));
}

#[test]
fn settings_are_checked_before_any_request() {
    let system = || ManagedIdentityId::SystemAssigned;
    let field =
        |result: powerbi_embed::Result<ManagedIdentityCredential>| result.unwrap_err().field().map(str::to_owned);
    assert_eq!(
        field(ManagedIdentityCredential::imds(system(), "http://10.0.0.4/metadata/identity/oauth2/token")).as_deref(),
        Some("imds_endpoint")
    );
    assert_eq!(
        field(ManagedIdentityCredential::imds(system(), "https://127.0.0.1/token")).as_deref(),
        Some("imds_endpoint")
    );
    assert_eq!(
        field(ManagedIdentityCredential::app_service(system(), "http://127.0.0.1/msi/token", " ")).as_deref(),
        Some("identity_header")
    );
    assert_eq!(
        field(ManagedIdentityCredential::app_service(system(), "ftp://127.0.0.1/", "h")).as_deref(),
        Some("identity_endpoint")
    );
    let bad_client = ManagedIdentityId::ClientId("powerbi-reader".into());
    assert_eq!(
        field(ManagedIdentityCredential::imds(bad_client, "http://169.254.169.254/metadata/identity/oauth2/token"))
            .as_deref(),
        Some("client_id")
    );
}

#[test]
fn the_cache_identity_names_the_identity_not_the_source() {
    use powerbi_embed::TokenCredential;
    let id = || ManagedIdentityId::ClientId(USER_CLIENT_ID.to_uppercase());
    let imds = ManagedIdentityCredential::imds(id(), "http://169.254.169.254/metadata/identity/oauth2/token").unwrap();
    let app_service = ManagedIdentityCredential::app_service(id(), "http://127.0.0.1:41234/msi/token", "h").unwrap();
    assert_eq!(imds.cache_identity(), format!("managed-identity/client-id/{USER_CLIENT_ID}"));
    assert_eq!(imds.cache_identity(), app_service.cache_identity());
    let system = ManagedIdentityCredential::imds(ManagedIdentityId::SystemAssigned, "http://127.0.0.1/t").unwrap();
    assert_ne!(system.cache_identity(), imds.cache_identity());
}
