//! Managed identity: which source the environment selects (App Service, IMDS, or Service
//! Fabric refused), where the App Service identity header may travel over plain http, and the
//! 408 retry MSAL does (`HttpRetryConditions.Imds` and `DefaultManagedIdentity` in
//! microsoft-authentication-library-for-dotnet both retry 408).

use std::time::Duration;

use crate::support::{aad_client, clock, strict_server};
use powerbi_embed::{Clock, CredentialErrorKind, Error, ManagedIdentityCredential, ManagedIdentityId};
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const IMDS_PATH: &str = "/metadata/identity/oauth2/token";
const APP_SERVICE_PATH: &str = "/msi/token";
const POWERBI_RESOURCE: &str = "https://analysis.windows.net/powerbi/api";
const IDENTITY_HEADER: &str = "5d0e7c1a-identity-header-secret";
const ACCESS_TOKEN: &str = "eyJ0eXAi.managed-identity-access-token";

fn token_body(expires_on: i64) -> serde_json::Value {
    json!({"access_token": ACCESS_TOKEN, "expires_on": expires_on.to_string(), "token_type": "Bearer",
           "resource": POWERBI_RESOURCE})
}

fn vars(pairs: &[(&'static str, String)]) -> impl Fn(&str) -> Option<String> {
    let pairs = pairs.to_vec();
    move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
}

fn system() -> ManagedIdentityId {
    ManagedIdentityId::SystemAssigned
}

async fn mount(server: &MockServer, route: &str, response: ResponseTemplate, times: u64) {
    Mock::given(method("GET"))
        .and(path(route))
        .and(query_param("resource", POWERBI_RESOURCE))
        .respond_with(response)
        .up_to_n_times(times)
        .expect(times)
        .mount(server)
        .await;
}

// ---- 408 ---------------------------------------------------------------------------------

#[tokio::test]
async fn an_imds_408_is_retried_after_one_second() {
    let server = strict_server().await;
    let clock = clock();
    let expires_on = clock.now().unix_timestamp() + 3600;
    mount(&server, IMDS_PATH, ResponseTemplate::new(408).set_body_string("Request Timeout"), 1).await;
    mount(&server, IMDS_PATH, ResponseTemplate::new(200).set_body_json(token_body(expires_on)), 1).await;
    let credential = ManagedIdentityCredential::imds(system(), format!("{}{IMDS_PATH}", server.uri())).unwrap();

    let token = aad_client(&server, credential, &clock).token().await.expect("a token after one retry");

    assert_eq!(token.secret().expose_secret(), ACCESS_TOKEN);
    assert_eq!(clock.sleeps(), [Duration::from_secs(1)]);
}

#[tokio::test]
async fn an_app_service_408_is_retried_and_repeated_408s_stop_at_max_attempts() {
    let server = strict_server().await;
    let clock = clock();
    mount(&server, APP_SERVICE_PATH, ResponseTemplate::new(408), 3).await;
    let endpoint = format!("{}{APP_SERVICE_PATH}", server.uri());
    let credential =
        ManagedIdentityCredential::app_service(system(), endpoint, IDENTITY_HEADER).unwrap().max_attempts(3);

    let err = aad_client(&server, credential, &clock).token().await.unwrap_err();

    assert_eq!(clock.sleeps(), [Duration::from_secs(1), Duration::from_secs(2)]);
    match &err {
        Error::Credential { credential: "managed identity", kind: CredentialErrorKind::Refused, message, .. } => {
            assert_eq!(
            message,
            "the App Service identity endpoint answered HTTP 408 for the system-assigned identity (after 3 attempts)"
        )
        }
        other => panic!("expected Error::Credential, got {other:?}"),
    }
}

// ---- source detection --------------------------------------------------------------------

#[tokio::test]
async fn identity_endpoint_and_header_select_app_service_and_the_header_is_sent_there() {
    let server = strict_server().await;
    let clock = clock();
    let expires_on = clock.now().unix_timestamp() + 3600;
    Mock::given(method("GET"))
        .and(path(APP_SERVICE_PATH))
        .and(query_param("api-version", "2019-08-01"))
        .and(query_param("resource", POWERBI_RESOURCE))
        .and(header("X-IDENTITY-HEADER", IDENTITY_HEADER))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(expires_on)))
        .expect(1)
        .mount(&server)
        .await;
    let env = vars(&[
        ("IDENTITY_ENDPOINT", format!("{}{APP_SERVICE_PATH}", server.uri())),
        ("IDENTITY_HEADER", IDENTITY_HEADER.to_owned()),
    ]);
    let credential = ManagedIdentityCredential::from_lookup(system(), env).unwrap();

    let token = aad_client(&server, credential, &clock).token().await.expect("token");

    assert_eq!(token.expires_on().unix_timestamp(), expires_on);
}

#[tokio::test]
async fn service_fabric_variables_are_refused_naming_identity_server_thumbprint_before_any_request() {
    // A strict server at the endpoint: any request would fail the test when it is dropped.
    let server = strict_server().await;
    let env = vars(&[
        ("IDENTITY_ENDPOINT", format!("{}/metadata/identity/oauth2/token", server.uri())),
        ("IDENTITY_HEADER", IDENTITY_HEADER.to_owned()),
        ("IDENTITY_SERVER_THUMBPRINT", "B5C2F3A1D4E6F7A8B9C0D1E2F3A4B5C6D7E8F9A0".to_owned()),
    ]);
    let err = ManagedIdentityCredential::from_lookup(system(), env).unwrap_err();

    assert_eq!(err.field(), Some("IDENTITY_SERVER_THUMBPRINT"));
    assert_eq!(
        err.to_string(),
        "invalid IDENTITY_SERVER_THUMBPRINT: is set with IDENTITY_ENDPOINT and IDENTITY_HEADER, so this is a \
         Service Fabric managed identity, which this crate does not support; use another credential (a client \
         certificate or secret, or workload identity)"
    );
    assert!(!err.to_string().contains(IDENTITY_HEADER));
}

#[test]
fn a_thumbprint_without_the_other_service_fabric_variables_is_not_service_fabric() {
    // Only IDENTITY_ENDPOINT and the thumbprint: not App Service either, so IMDS (built, not called).
    let env = vars(&[
        ("IDENTITY_ENDPOINT", "http://127.0.0.1:2377/metadata/identity/oauth2/token".to_owned()),
        ("IDENTITY_SERVER_THUMBPRINT", "B5C2".to_owned()),
    ]);
    let credential = ManagedIdentityCredential::from_lookup(system(), env).unwrap();
    assert!(format!("{credential:?}").contains("Imds"), "{credential:?}");
}

// ---- where plain http may go -------------------------------------------------------------

#[test]
fn app_service_http_is_allowed_only_to_loopback_link_local_or_private_ip_literals() {
    let allowed = [
        // loopback
        "http://127.0.0.1:41741/MSI/token/",
        "http://127.8.9.10/msi/token",
        "http://localhost:8081/msi/token",
        "http://[::1]:8081/msi/token",
        // link-local: where Linux App Service puts it
        "http://169.254.130.3:8081/msi/token",
        "http://169.254.255.255/msi/token",
        "http://[fe80::1]:8081/msi/token",
        // private
        "http://10.0.0.4:8081/msi/token",
        "http://172.16.0.1/msi/token",
        "http://172.31.255.254/msi/token",
        "http://192.168.1.10/msi/token",
        "http://[fd12:3456:789a::1]/msi/token",
        // https goes anywhere
        "https://identity.contoso.com/msi/token",
        "https://8.8.8.8/msi/token",
    ];
    for endpoint in allowed {
        assert!(ManagedIdentityCredential::app_service(system(), endpoint, IDENTITY_HEADER).is_ok(), "{endpoint}");
    }
    let refused = [
        // public names, even ones that look local: DNS decides where they go
        "http://identity.contoso.com/msi/token",
        "http://metadata.internal/msi/token",
        "http://10.0.0.4.nip.io/msi/token",
        // public IPs, and the addresses just outside the private ranges
        "http://8.8.8.8/msi/token",
        "http://172.32.0.1/msi/token",
        "http://172.15.255.255/msi/token",
        "http://192.169.0.1/msi/token",
        "http://100.64.0.1/msi/token",
        "http://169.255.0.1/msi/token",
        "http://0.0.0.0/msi/token",
        "http://[2001:db8::1]/msi/token",
        "http://[fec0::1]/msi/token",
    ];
    for endpoint in refused {
        let err = ManagedIdentityCredential::app_service(system(), endpoint, IDENTITY_HEADER).unwrap_err();
        assert_eq!(err.field(), Some("identity_endpoint"), "{endpoint}");
        assert!(err.to_string().contains("plain http is only allowed to loopback"), "{endpoint}: {err}");
        assert!(!err.to_string().contains(IDENTITY_HEADER));
    }
}

#[test]
fn the_environment_endpoint_follows_the_same_rule_and_names_identity_endpoint_variable() {
    let env = |endpoint: &str| {
        vars(&[("IDENTITY_ENDPOINT", endpoint.to_owned()), ("IDENTITY_HEADER", IDENTITY_HEADER.to_owned())])
    };
    let err =
        ManagedIdentityCredential::from_lookup(system(), env("http://identity.contoso.com/msi/token")).unwrap_err();
    assert_eq!(err.field(), Some("IDENTITY_ENDPOINT"));
    assert!(ManagedIdentityCredential::from_lookup(system(), env("http://169.254.130.3:8081/msi/token")).is_ok());
}
