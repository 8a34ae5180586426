//! ClientCertificateCredential against a fake Entra: the exact form, the assertion JWT decoded
//! and its signature verified with the certificate's public key, and every refused input.

use std::path::PathBuf;
use std::time::Duration;

use crate::support::{
    aad_client, clock, entra_error_body, form_is, form_of, strict_server, token_body, CLIENT, POWERBI_SCOPE, TENANT,
    TOKEN_PATH,
};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use powerbi_embed::{AadClient, AssertionAlgorithm, ClientCertificateCredential, Clock, EntraEndpoint, Error, Guid};
use ring::digest::{digest, SHA1_FOR_LEGACY_USE_ONLY, SHA256};
use ring::signature::{UnparsedPublicKey, VerificationAlgorithm, RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA256};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn concat(names: &[&str]) -> Vec<u8> {
    names.iter().flat_map(|name| fixture(name)).collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// The leaf's public key as ring verifies with it, after checking that it really is the
/// certificate's key (openssl wrote it separately; it must occur inside the certificate's DER).
fn leaf_public_key() -> Vec<u8> {
    let public_key = fixture("leaf.pub.der");
    assert!(contains(&fixture("leaf.cert.der"), &public_key), "leaf.pub.der is the leaf certificate's key");
    public_key
}

/// Matches the certificate grant: exactly these five fields, whatever the (random) assertion.
/// `scope` is `("scope", ...)` on v2 and `("resource", ...)` on v1.
struct CertificateGrant {
    scope: (&'static str, &'static str),
}

impl Match for CertificateGrant {
    fn matches(&self, request: &Request) -> bool {
        let Some(assertion) = form_of(request).get("client_assertion").cloned().filter(|a| !a.is_empty()) else {
            return false;
        };
        form_is(&[
            ("client_id", CLIENT),
            ("grant_type", "client_credentials"),
            self.scope,
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
        ])
        .matches(request)
    }
}

async fn mount_v2_token(server: &MockServer, requests: u64) {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(CertificateGrant { scope: ("scope", POWERBI_SCOPE) })
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("cert-token", 3600)))
        .expect(requests)
        .mount(server)
        .await;
}

/// The `client_assertion` of every request the fake received, in order.
async fn sent_assertions(server: &MockServer) -> Vec<String> {
    let requests = server.received_requests().await.expect("request recording is on");
    requests.iter().map(|request| form_of(request)["client_assertion"].clone()).collect()
}

struct Jwt {
    header: Value,
    claims: Value,
    signing_input: String,
    signature: Vec<u8>,
}

/// Decodes a compact JWS with an independent base64 implementation (the `base64` crate).
fn decode_jwt(token: &str) -> Jwt {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS has three segments");
    let segment = |s: &str| URL_SAFE_NO_PAD.decode(s).expect("base64url without padding");
    Jwt {
        header: serde_json::from_slice(&segment(parts[0])).expect("header is JSON"),
        claims: serde_json::from_slice(&segment(parts[1])).expect("claims are JSON"),
        signing_input: format!("{}.{}", parts[0], parts[1]),
        signature: segment(parts[2]),
    }
}

fn verify_signature(jwt: &Jwt, algorithm: &'static dyn VerificationAlgorithm) {
    let public_key = leaf_public_key();
    UnparsedPublicKey::new(algorithm, &public_key)
        .verify(jwt.signing_input.as_bytes(), &jwt.signature)
        .expect("the assertion's signature verifies with the certificate's public key");
}

fn sha1_thumbprint() -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA1_FOR_LEGACY_USE_ONLY, &fixture("leaf.cert.der")))
}

fn sha256_thumbprint() -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, &fixture("leaf.cert.der")))
}

fn bundle_credential() -> ClientCertificateCredential {
    ClientCertificateCredential::from_pem_file(TENANT, CLIENT, fixture_path("leaf.bundle.pem")).expect("fixture loads")
}

fn assert_claims(claims: &Value, audience: &str, now: i64) {
    let mut names: Vec<&str> = claims.as_object().expect("claims object").keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["aud", "exp", "iat", "iss", "jti", "nbf", "sub"]);
    assert_eq!(claims["aud"], audience);
    assert_eq!(claims["iss"], CLIENT);
    assert_eq!(claims["sub"], CLIENT);
    assert_eq!(claims["iat"], now);
    assert_eq!(claims["nbf"], now);
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 600);
    claims["jti"].as_str().expect("jti is a string").parse::<Guid>().expect("jti is a GUID");
}

#[tokio::test]
async fn rs256_assertion_has_exact_form_header_and_claims_and_a_valid_signature() {
    let server = strict_server().await;
    mount_v2_token(&server, 1).await;
    let clock = clock();
    let token = aad_client(&server, bundle_credential(), &clock).token().await.unwrap();
    assert_eq!(token.secret().expose_secret(), "cert-token");

    let assertions = sent_assertions(&server).await;
    assert_eq!(assertions.len(), 1);
    let jwt = decode_jwt(&assertions[0]);
    assert_eq!(jwt.header, json!({"alg": "RS256", "typ": "JWT", "x5t": sha1_thumbprint()}));
    assert_claims(&jwt.claims, &format!("{}{TOKEN_PATH}", server.uri()), clock.now().unix_timestamp());
    verify_signature(&jwt, &RSA_PKCS1_2048_8192_SHA256);
}

#[tokio::test]
async fn every_request_signs_a_new_assertion_with_a_new_jti_at_the_clock_time() {
    let server = strict_server().await;
    mount_v2_token(&server, 2).await;
    let clock = clock();
    let aad = aad_client(&server, bundle_credential(), &clock);
    aad.token().await.unwrap();
    clock.advance(Duration::from_secs(3600)); // the first token has expired
    aad.token().await.unwrap();

    let assertions = sent_assertions(&server).await;
    assert_eq!(assertions.len(), 2);
    let (first, second) = (decode_jwt(&assertions[0]).claims, decode_jwt(&assertions[1]).claims);
    assert_ne!(first["jti"], second["jti"]);
    assert_eq!(second["iat"].as_i64().unwrap() - first["iat"].as_i64().unwrap(), 3600);
    assert_claims(&second, &format!("{}{TOKEN_PATH}", server.uri()), clock.now().unix_timestamp());
}

#[tokio::test]
async fn ps256_uses_the_sha256_thumbprint_and_a_pss_signature() {
    let server = strict_server().await;
    mount_v2_token(&server, 1).await;
    let clock = clock();
    let credential = bundle_credential().with_algorithm(AssertionAlgorithm::Ps256);
    aad_client(&server, credential, &clock).token().await.unwrap();

    let jwt = decode_jwt(&sent_assertions(&server).await[0]);
    assert_eq!(jwt.header, json!({"alg": "PS256", "typ": "JWT", "x5t#S256": sha256_thumbprint()}));
    assert_claims(&jwt.claims, &format!("{}{TOKEN_PATH}", server.uri()), clock.now().unix_timestamp());
    verify_signature(&jwt, &RSA_PSS_2048_8192_SHA256);
}

#[tokio::test]
async fn x5c_carries_the_chain_leaf_first_in_standard_base64() {
    let server = strict_server().await;
    mount_v2_token(&server, 1).await;
    // The CA comes first in the file: the leaf is found by its key, not by its position.
    let certificates = concat(&["ca.cert.pem", "leaf.cert.pem"]);
    let credential = ClientCertificateCredential::from_pem_parts(TENANT, CLIENT, certificates, fixture("leaf.key.pem"))
        .unwrap()
        .send_certificate_chain(true);
    aad_client(&server, credential, &clock()).token().await.unwrap();

    let jwt = decode_jwt(&sent_assertions(&server).await[0]);
    let chain = json!([STANDARD.encode(fixture("leaf.cert.der")), STANDARD.encode(fixture("ca.cert.der"))]);
    assert_eq!(jwt.header, json!({"alg": "RS256", "typ": "JWT", "x5t": sha1_thumbprint(), "x5c": chain}));
    verify_signature(&jwt, &RSA_PKCS1_2048_8192_SHA256);
}

#[tokio::test]
async fn a_pkcs1_rsa_private_key_signs_as_well() {
    let server = strict_server().await;
    mount_v2_token(&server, 1).await;
    let credential = ClientCertificateCredential::from_pem_parts(
        TENANT,
        CLIENT,
        fixture("leaf.cert.pem"),
        fixture("leaf.key.pkcs1.pem"),
    )
    .unwrap();
    aad_client(&server, credential, &clock()).token().await.unwrap();

    let jwt = decode_jwt(&sent_assertions(&server).await[0]);
    assert_eq!(jwt.header["x5t"], sha1_thumbprint());
    verify_signature(&jwt, &RSA_PKCS1_2048_8192_SHA256);
}

#[tokio::test]
async fn on_the_v1_endpoint_the_audience_is_the_v1_token_url_and_resource_replaces_scope() {
    let server = strict_server().await;
    let v1_path = format!("/{TENANT}/oauth2/token");
    Mock::given(method("POST"))
        .and(path(v1_path.as_str()))
        .and(CertificateGrant { scope: ("resource", "https://analysis.windows.net/powerbi/api") })
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"token_type": "Bearer", "expires_in": "3599", "access_token": "v1"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let clock = clock();
    let aad = AadClient::builder(bundle_credential())
        .authority_host(server.uri())
        .endpoint(EntraEndpoint::V1)
        .clock(std::sync::Arc::new(clock.clone()))
        .build()
        .unwrap();
    aad.token().await.unwrap();

    let jwt = decode_jwt(&sent_assertions(&server).await[0]);
    assert_claims(&jwt.claims, &format!("{}{v1_path}", server.uri()), clock.now().unix_timestamp());
}

#[tokio::test]
async fn an_unknown_certificate_is_a_typed_entra_error_with_a_hint() {
    let server = strict_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(CertificateGrant { scope: ("scope", POWERBI_SCOPE) })
        .respond_with(ResponseTemplate::new(401).set_body_json(entra_error_body("invalid_client", 700027)))
        .expect(1)
        .mount(&server)
        .await;
    let err = aad_client(&server, bundle_credential(), &clock()).token().await.unwrap_err();
    assert_eq!(err.as_entra().expect("an Entra error").error_codes, [700027]);
    assert!(err.hint().unwrap().contains("certificate"), "{err}");
}

#[test]
fn thumbprint_is_the_uppercase_hex_sha1_the_portal_shows() {
    let expected: String = digest(&SHA1_FOR_LEGACY_USE_ONLY, &fixture("leaf.cert.der"))
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    assert_eq!(bundle_credential().thumbprint(), expected);
}

// Refused input: each is an InvalidInput naming the field, raised while building the
// credential, so no client exists and the strict fake (which fails on any request) sees nothing.

async fn assert_refused(result: Result<ClientCertificateCredential, Error>, field: &str) -> Error {
    let server = strict_server().await;
    let err = result.expect_err("the input must be refused");
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    assert_eq!(err.field(), Some(field), "{err}");
    assert!(server.received_requests().await.unwrap().is_empty());
    err
}

#[tokio::test]
async fn a_missing_file_names_certificate_path() {
    let missing = fixture_path("no-such-file.pem");
    let err =
        assert_refused(ClientCertificateCredential::from_pem_file(TENANT, CLIENT, &missing), "certificate_path").await;
    assert!(err.to_string().contains("no-such-file.pem"), "{err}");
}

#[tokio::test]
async fn text_that_is_not_pem_names_certificate() {
    assert_refused(ClientCertificateCredential::from_pem(TENANT, CLIENT, "just some text"), "certificate").await;
    assert_refused(ClientCertificateCredential::from_pem(TENANT, CLIENT, fixture("leaf.cert.der")), "certificate")
        .await;
}

#[tokio::test]
async fn pem_with_a_key_but_no_certificate_names_certificate() {
    assert_refused(ClientCertificateCredential::from_pem(TENANT, CLIENT, fixture("leaf.key.pem")), "certificate").await;
}

#[tokio::test]
async fn pem_without_a_private_key_names_private_key() {
    assert_refused(ClientCertificateCredential::from_pem(TENANT, CLIENT, fixture("leaf.cert.pem")), "private_key")
        .await;
}

#[tokio::test]
async fn an_ec_key_names_private_key_as_not_rsa() {
    let pem = concat(&["ec.cert.pem", "ec.key.pem"]);
    let err = assert_refused(ClientCertificateCredential::from_pem(TENANT, CLIENT, pem), "private_key").await;
    assert!(err.to_string().contains("not an RSA key"), "{err}");
}

#[tokio::test]
async fn a_key_that_is_not_the_certificates_names_private_key() {
    let result =
        ClientCertificateCredential::from_pem_parts(TENANT, CLIENT, fixture("leaf.cert.pem"), fixture("other.key.pem"));
    let err = assert_refused(result, "private_key").await;
    assert!(err.to_string().contains("does not belong"), "{err}");
}

#[tokio::test]
async fn an_encrypted_pem_key_names_private_key() {
    let result = ClientCertificateCredential::from_pem_parts(
        TENANT,
        CLIENT,
        fixture("leaf.cert.pem"),
        fixture("leaf.key.encrypted.pem"),
    );
    let err = assert_refused(result, "private_key").await;
    assert!(err.to_string().contains("encrypted"), "{err}");
}

#[tokio::test]
async fn bad_tenant_or_client_ids_are_named_before_the_file_is_read() {
    let missing = fixture_path("no-such-file.pem");
    assert_refused(ClientCertificateCredential::from_pem_file("common", CLIENT, &missing), "tenant_id").await;
    assert_refused(ClientCertificateCredential::from_pem_file(TENANT, "my-app", &missing), "client_id").await;
}

/// The PEM key's base64 lines: none of them may show up in any Debug or error text.
fn key_lines(name: &str) -> Vec<String> {
    let pem = String::from_utf8(fixture(name)).unwrap();
    pem.lines().filter(|line| !line.starts_with("-----") && line.len() > 16).map(str::to_owned).collect()
}

fn assert_no_key_material(text: &str) {
    for name in ["leaf.key.pem", "leaf.key.pkcs1.pem", "other.key.pem", "ec.key.pem"] {
        for line in key_lines(name) {
            assert!(!text.contains(&line), "key text of {name} leaked into: {text}");
        }
    }
    assert!(!text.contains("PRIVATE KEY-----"), "{text}");
}

#[test]
fn debug_of_the_credential_and_of_its_errors_shows_no_key_material() {
    let credential = bundle_credential().send_certificate_chain(true);
    let debug = format!("{credential:?} {credential:#?}");
    assert_no_key_material(&debug);
    assert!(debug.contains(credential.thumbprint()) && debug.contains("[redacted]"), "{debug}");

    // A key whose base64 is broken in the middle: the parse error must not quote it.
    let mut broken = String::from_utf8(fixture("leaf.key.pem")).unwrap();
    broken.insert(200, '!');
    let errors = [
        ClientCertificateCredential::from_pem_parts(TENANT, CLIENT, fixture("leaf.cert.pem"), broken.as_bytes())
            .unwrap_err(),
        ClientCertificateCredential::from_pem_parts(TENANT, CLIENT, fixture("leaf.cert.pem"), fixture("other.key.pem"))
            .unwrap_err(),
        ClientCertificateCredential::from_pem(TENANT, CLIENT, concat(&["ec.cert.pem", "ec.key.pem"])).unwrap_err(),
        ClientCertificateCredential::from_pem(TENANT, CLIENT, fixture("leaf.key.pkcs1.pem")).unwrap_err(),
    ];
    assert_eq!(errors[0].field(), Some("private_key"));
    for err in errors {
        assert_no_key_material(&format!("{err:?} {err}"));
    }
}

#[cfg(feature = "pkcs12")]
mod pkcs12 {
    use super::*;

    const PASSWORD: &str = "fixture-password";

    #[tokio::test]
    async fn pkcs12_file_loads_key_and_chain_and_requests_a_token() {
        let server = strict_server().await;
        mount_v2_token(&server, 1).await;
        let clock = clock();
        let credential =
            ClientCertificateCredential::from_pkcs12_file(TENANT, CLIENT, fixture_path("leaf.p12"), PASSWORD)
                .unwrap()
                .send_certificate_chain(true);
        let token = aad_client(&server, credential, &clock).token().await.unwrap();
        assert_eq!(token.secret().expose_secret(), "cert-token");

        let jwt = decode_jwt(&sent_assertions(&server).await[0]);
        let chain = json!([STANDARD.encode(fixture("leaf.cert.der")), STANDARD.encode(fixture("ca.cert.der"))]);
        assert_eq!(jwt.header, json!({"alg": "RS256", "typ": "JWT", "x5t": sha1_thumbprint(), "x5c": chain}));
        assert_claims(&jwt.claims, &format!("{}{TOKEN_PATH}", server.uri()), clock.now().unix_timestamp());
        verify_signature(&jwt, &RSA_PKCS1_2048_8192_SHA256);
    }

    #[test]
    fn legacy_3des_rc2_pkcs12_loads_the_same_certificate() {
        let credential =
            ClientCertificateCredential::from_pkcs12(TENANT, CLIENT, fixture("leaf.legacy.p12"), PASSWORD).unwrap();
        assert_eq!(credential.thumbprint(), bundle_credential().thumbprint());
    }

    #[tokio::test]
    async fn a_wrong_password_names_certificate_password() {
        let result = ClientCertificateCredential::from_pkcs12(TENANT, CLIENT, fixture("leaf.p12"), "not-the-password");
        let err = assert_refused(result, "certificate_password").await;
        assert!(!format!("{err:?} {err}").contains("not-the-password"), "{err:?}");
    }

    #[tokio::test]
    async fn bytes_that_are_not_pkcs12_name_certificate() {
        assert_refused(
            ClientCertificateCredential::from_pkcs12(TENANT, CLIENT, fixture("leaf.cert.pem"), PASSWORD),
            "certificate",
        )
        .await;
        assert_refused(
            ClientCertificateCredential::from_pkcs12(TENANT, CLIENT, fixture("leaf.cert.der"), PASSWORD),
            "certificate",
        )
        .await;
    }

    #[tokio::test]
    async fn a_missing_pkcs12_file_names_certificate_path() {
        let result =
            ClientCertificateCredential::from_pkcs12_file(TENANT, CLIENT, fixture_path("missing.p12"), PASSWORD);
        assert_refused(result, "certificate_path").await;
    }
}
