//! EnvironmentCredential: each set of `AZURE_*` variables picks its provider, which sends its
//! own form to the fake; missing and invalid variables are named. The variables come through
//! `from_lookup`, so the process environment is never touched.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::support::{clock, form_is, form_of, strict_server, token_body, CLIENT, POWERBI_SCOPE, TENANT, TOKEN_PATH};
use powerbi_embed::{AadClient, EnvironmentCredential, EnvironmentCredentialKind, Error, Guid};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const SECRET: &str = "s3cret~value-from-env";
const USERNAME: &str = "embed@contoso.com";
const PASSWORD: &str = "p@ssw0rd-from-env";

fn fixture_path(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name).to_string_lossy().into_owned()
}

/// `from_lookup` over these variables only.
fn from_vars(vars: &[(&str, &str)]) -> Result<EnvironmentCredential, Error> {
    let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    EnvironmentCredential::from_lookup(|name| vars.get(name).cloned())
}

/// Tenant and client plus `more`.
fn with_ids(more: &[(&'static str, &str)]) -> Result<EnvironmentCredential, Error> {
    let mut vars = vec![("AZURE_TENANT_ID", TENANT), ("AZURE_CLIENT_ID", CLIENT)];
    vars.extend_from_slice(more);
    from_vars(&vars)
}

fn client_for(server: &MockServer, credential: EnvironmentCredential) -> AadClient {
    AadClient::builder(credential).authority_host(server.uri()).clock(Arc::new(clock())).build().unwrap()
}

/// Answers one token request whose form `form` accepts.
async fn mount(server: &MockServer, form: impl wiremock::Match + 'static) {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(form)
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("env-token", 3600)))
        .expect(1)
        .mount(server)
        .await;
}

/// Matches the assertion grant with whatever assertion was sent, and checks it against `check`.
struct AssertionGrant(fn(&str) -> bool);

impl wiremock::Match for AssertionGrant {
    fn matches(&self, request: &Request) -> bool {
        let assertion = form_of(request).get("client_assertion").cloned().unwrap_or_default();
        (self.0)(&assertion)
            && form_is(&[
                ("client_id", CLIENT),
                ("grant_type", "client_credentials"),
                ("scope", POWERBI_SCOPE),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &assertion),
            ])
            .matches(request)
    }
}

/// The JSON header of a compact JWT.
fn jwt_header(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let segment = jwt.split('.').next().unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(segment).unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or_default()
}

#[tokio::test]
async fn client_secret_sends_the_client_secret_form() {
    let server = strict_server().await;
    mount(
        &server,
        form_is(&[
            ("client_id", CLIENT),
            ("grant_type", "client_credentials"),
            ("scope", POWERBI_SCOPE),
            ("client_secret", SECRET),
        ]),
    )
    .await;
    let credential = with_ids(&[("AZURE_CLIENT_SECRET", SECRET)]).unwrap();
    assert_eq!(credential.kind(), EnvironmentCredentialKind::ClientSecret);
    assert_eq!(client_for(&server, credential).token().await.unwrap().secret().expose_secret(), "env-token");
}

#[tokio::test]
async fn a_certificate_path_sends_a_signed_assertion_and_the_chain_when_asked() {
    let server = strict_server().await;
    // x5c present because AZURE_CLIENT_SEND_CERTIFICATE_CHAIN is set.
    mount(
        &server,
        AssertionGrant(|jwt| {
            let header = jwt_header(jwt);
            header["alg"] == "RS256"
                && header["x5t"].is_string()
                && header["x5c"].as_array().is_some_and(|c| c.len() == 2)
        }),
    )
    .await;
    let credential = with_ids(&[
        ("AZURE_CLIENT_CERTIFICATE_PATH", &fixture_path("leaf.bundle.pem")),
        ("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "true"),
    ])
    .unwrap();
    assert_eq!(credential.kind(), EnvironmentCredentialKind::ClientCertificate);
    client_for(&server, credential).token().await.unwrap();
}

#[cfg(feature = "pkcs12")]
#[tokio::test]
async fn a_pkcs12_certificate_path_is_opened_with_the_certificate_password() {
    let server = strict_server().await;
    mount(&server, AssertionGrant(|jwt| jwt_header(jwt)["alg"] == "RS256" && jwt_header(jwt).get("x5c").is_none()))
        .await;
    let credential = with_ids(&[
        ("AZURE_CLIENT_CERTIFICATE_PATH", &fixture_path("leaf.p12")),
        ("AZURE_CLIENT_CERTIFICATE_PASSWORD", "fixture-password"),
    ])
    .unwrap();
    assert_eq!(credential.kind(), EnvironmentCredentialKind::ClientCertificate);
    client_for(&server, credential).token().await.unwrap();
}

#[cfg(feature = "pkcs12")]
#[test]
fn a_wrong_certificate_password_names_azure_client_certificate_password() {
    let err = with_ids(&[
        ("AZURE_CLIENT_CERTIFICATE_PATH", &fixture_path("leaf.p12")),
        ("AZURE_CLIENT_CERTIFICATE_PASSWORD", "wrong-password"),
    ])
    .unwrap_err();
    assert_eq!(err.field(), Some("AZURE_CLIENT_CERTIFICATE_PASSWORD"), "{err}");
    assert!(!format!("{err:?} {err}").contains("wrong-password"));
}

#[cfg(not(feature = "pkcs12"))]
#[test]
fn a_pkcs12_certificate_path_without_the_feature_says_which_feature() {
    let err = with_ids(&[("AZURE_CLIENT_CERTIFICATE_PATH", &fixture_path("leaf.p12"))]).unwrap_err();
    assert_eq!(err.field(), Some("AZURE_CLIENT_CERTIFICATE_PATH"), "{err}");
    assert!(err.to_string().contains("pkcs12"), "{err}");
}

#[test]
fn an_unusable_certificate_file_names_azure_client_certificate_path() {
    let missing = with_ids(&[("AZURE_CLIENT_CERTIFICATE_PATH", "/no/such/cert.pem")]).unwrap_err();
    assert_eq!(missing.field(), Some("AZURE_CLIENT_CERTIFICATE_PATH"), "{missing}");
    // A PEM with a certificate but no key: the reason keeps saying what is missing.
    let no_key = with_ids(&[("AZURE_CLIENT_CERTIFICATE_PATH", &fixture_path("leaf.cert.pem"))]).unwrap_err();
    assert_eq!(no_key.field(), Some("AZURE_CLIENT_CERTIFICATE_PATH"), "{no_key}");
    assert!(no_key.to_string().contains("private_key"), "{no_key}");
}

#[tokio::test]
async fn username_and_password_send_the_password_grant() {
    let server = strict_server().await;
    let scope = format!("{POWERBI_SCOPE} offline_access openid profile");
    mount(
        &server,
        form_is(&[
            ("client_id", CLIENT),
            ("grant_type", "password"),
            ("username", USERNAME),
            ("password", PASSWORD),
            ("scope", &scope),
        ]),
    )
    .await;
    let credential = with_ids(&[("AZURE_USERNAME", USERNAME), ("AZURE_PASSWORD", PASSWORD)]).unwrap();
    assert_eq!(credential.kind(), EnvironmentCredentialKind::UsernamePassword);
    client_for(&server, credential).token().await.unwrap();
}

#[tokio::test]
async fn a_federated_token_file_sends_its_contents_as_the_assertion() {
    let server = strict_server().await;
    let file = std::env::temp_dir().join(format!("powerbi-embed-env-{}", Guid::new_random()));
    std::fs::write(&file, "federated-assertion-from-file").unwrap();
    mount(&server, AssertionGrant(|assertion| assertion == "federated-assertion-from-file")).await;
    let credential = with_ids(&[("AZURE_FEDERATED_TOKEN_FILE", &file.to_string_lossy())]).unwrap();
    assert_eq!(credential.kind(), EnvironmentCredentialKind::WorkloadIdentity);
    let outcome = client_for(&server, credential).token().await;
    let _ = std::fs::remove_file(&file);
    outcome.unwrap();
}

#[test]
fn the_first_credential_variable_in_the_documented_order_wins() {
    let cert = fixture_path("leaf.bundle.pem");
    let all = [
        ("AZURE_CLIENT_SECRET", SECRET),
        ("AZURE_CLIENT_CERTIFICATE_PATH", cert.as_str()),
        ("AZURE_USERNAME", USERNAME),
        ("AZURE_PASSWORD", PASSWORD),
        ("AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/azure/tokens/azure-identity-token"),
    ];
    assert_eq!(with_ids(&all).unwrap().kind(), EnvironmentCredentialKind::ClientSecret);
    assert_eq!(with_ids(&all[1..]).unwrap().kind(), EnvironmentCredentialKind::ClientCertificate);
    assert_eq!(with_ids(&all[2..]).unwrap().kind(), EnvironmentCredentialKind::UsernamePassword);
    assert_eq!(with_ids(&all[4..]).unwrap().kind(), EnvironmentCredentialKind::WorkloadIdentity);
    // Empty values count as unset.
    let blank_secret = [("AZURE_CLIENT_SECRET", ""), ("AZURE_FEDERATED_TOKEN_FILE", "/t")];
    assert_eq!(with_ids(&blank_secret).unwrap().kind(), EnvironmentCredentialKind::WorkloadIdentity);
}

#[test]
fn missing_tenant_and_client_are_named() {
    let err = from_vars(&[("AZURE_CLIENT_ID", CLIENT), ("AZURE_CLIENT_SECRET", SECRET)]).unwrap_err();
    assert_eq!(err.field(), Some("AZURE_TENANT_ID"), "{err}");
    let err = from_vars(&[("AZURE_TENANT_ID", TENANT), ("AZURE_CLIENT_SECRET", SECRET)]).unwrap_err();
    assert_eq!(err.field(), Some("AZURE_CLIENT_ID"), "{err}");
    let err = from_vars(&[("AZURE_TENANT_ID", "  "), ("AZURE_CLIENT_ID", CLIENT)]).unwrap_err();
    assert_eq!(err.field(), Some("AZURE_TENANT_ID"), "{err}");
}

#[test]
fn invalid_tenant_and_client_are_named_by_their_variables() {
    let err = from_vars(&[("AZURE_TENANT_ID", "common"), ("AZURE_CLIENT_ID", CLIENT), ("AZURE_CLIENT_SECRET", SECRET)])
        .unwrap_err();
    assert_eq!(err.field(), Some("AZURE_TENANT_ID"), "{err}");
    let err = from_vars(&[("AZURE_TENANT_ID", TENANT), ("AZURE_CLIENT_ID", "my-app"), ("AZURE_CLIENT_SECRET", SECRET)])
        .unwrap_err();
    assert_eq!(err.field(), Some("AZURE_CLIENT_ID"), "{err}");
    assert!(!format!("{err:?} {err}").contains(SECRET));
}

#[test]
fn no_credential_variable_names_azure_client_secret_and_lists_the_alternatives() {
    let err = with_ids(&[]).unwrap_err();
    assert_eq!(err.field(), Some("AZURE_CLIENT_SECRET"), "{err}");
    let reason = err.to_string();
    for alternative in
        ["AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE"]
    {
        assert!(reason.contains(alternative), "{reason}");
    }
}

#[test]
fn half_of_username_and_password_names_the_other_half() {
    let err = with_ids(&[("AZURE_USERNAME", USERNAME)]).unwrap_err();
    assert_eq!(err.field(), Some("AZURE_PASSWORD"), "{err}");
    let err = with_ids(&[("AZURE_PASSWORD", PASSWORD)]).unwrap_err();
    assert_eq!(err.field(), Some("AZURE_USERNAME"), "{err}");
    assert!(!format!("{err:?} {err}").contains(PASSWORD));
}

#[test]
fn an_invalid_authority_host_is_named() {
    for bad in ["http://example.com", "not a url", "https://login.microsoftonline.com/?x=1"] {
        let err = with_ids(&[("AZURE_CLIENT_SECRET", SECRET), ("AZURE_AUTHORITY_HOST", bad)]).unwrap_err();
        assert_eq!(err.field(), Some("AZURE_AUTHORITY_HOST"), "{bad}: {err}");
    }
}

#[test]
fn authority_host_is_normalised_or_absent() {
    let credential =
        with_ids(&[("AZURE_CLIENT_SECRET", SECRET), ("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us")])
            .unwrap();
    assert_eq!(credential.authority_host(), Some("https://login.microsoftonline.us/"));
    assert_eq!(with_ids(&[("AZURE_CLIENT_SECRET", SECRET)]).unwrap().authority_host(), None);
}

#[tokio::test]
async fn the_authority_host_variable_can_point_the_client_at_the_fake() {
    let server = strict_server().await;
    mount(
        &server,
        form_is(&[
            ("client_id", CLIENT),
            ("grant_type", "client_credentials"),
            ("scope", POWERBI_SCOPE),
            ("client_secret", SECRET),
        ]),
    )
    .await;
    let credential = with_ids(&[("AZURE_CLIENT_SECRET", SECRET), ("AZURE_AUTHORITY_HOST", &server.uri())]).unwrap();
    let host = credential.authority_host().expect("set").to_owned();
    let aad = AadClient::builder(credential).authority_host(host).clock(Arc::new(clock())).build().unwrap();
    aad.token().await.unwrap();
}

#[test]
fn kind_names_read_well_in_logs() {
    assert_eq!(EnvironmentCredentialKind::ClientCertificate.to_string(), "client certificate");
    assert_eq!(EnvironmentCredentialKind::WorkloadIdentity.as_str(), "workload identity");
}

#[test]
fn debug_prints_the_kind_and_ids_and_no_secret() {
    let cert = fixture_path("leaf.bundle.pem");
    let key_text = std::fs::read_to_string(fixture_path("leaf.key.pem")).unwrap();
    let key_lines: Vec<&str> = key_text.lines().filter(|l| !l.starts_with("-----")).collect();
    let credentials = [
        with_ids(&[("AZURE_CLIENT_SECRET", SECRET)]).unwrap(),
        with_ids(&[("AZURE_CLIENT_CERTIFICATE_PATH", &cert)]).unwrap(),
        with_ids(&[("AZURE_USERNAME", USERNAME), ("AZURE_PASSWORD", PASSWORD)]).unwrap(),
        with_ids(&[("AZURE_FEDERATED_TOKEN_FILE", "/t")]).unwrap(),
    ];
    for credential in credentials {
        let debug = format!("{credential:?} {credential:#?}");
        assert!(debug.contains(TENANT) && debug.contains(CLIENT) && debug.contains("kind"), "{debug}");
        for secret in [SECRET, PASSWORD].into_iter().chain(key_lines.iter().copied()) {
            assert!(!debug.contains(secret), "{debug}");
        }
    }
}
