//! Client secret and master-user credentials at a fake Entra token endpoint: exact forms,
//! typed errors, v1 endpoint, refresh tokens.

use std::time::Duration;

use crate::support::*;
use powerbi_embed::{AadClient, ClientSecretCredential, Clock, EntraEndpoint, Error, UsernamePasswordCredential};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const SECRET: &str = "s3cr3t~value.with-chars";

fn secret_credential() -> ClientSecretCredential {
    ClientSecretCredential::new(TENANT, CLIENT, SECRET).unwrap()
}

#[tokio::test]
async fn client_secret_sends_exactly_the_client_credentials_form() {
    let server = strict_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(form_is(&[
            ("client_id", CLIENT),
            ("grant_type", "client_credentials"),
            ("scope", POWERBI_SCOPE),
            ("client_secret", SECRET),
        ]))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("at-1", 3599)))
        .expect(1)
        .mount(&server)
        .await;
    let clock = clock();
    let aad = aad_client(&server, secret_credential(), &clock);

    let token = aad.token().await.unwrap();
    assert_eq!(token.secret().expose_secret(), "at-1");
    assert_eq!(token.expires_on(), clock.now() + Duration::from_secs(3599));
    // A second call is served from the cache (the mock expects exactly one request).
    assert_eq!(aad.token().await.unwrap().secret().expose_secret(), "at-1");
}

#[tokio::test]
async fn v1_endpoint_sends_resource_and_accepts_string_numbers() {
    let server = strict_server().await;
    Mock::given(method("POST"))
        .and(path(format!("/{TENANT}/oauth2/token")))
        .and(form_is(&[
            ("client_id", CLIENT),
            ("grant_type", "client_credentials"),
            ("resource", "https://analysis.windows.net/powerbi/api"),
            ("client_secret", SECRET),
        ]))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer", "expires_in": "3599", "expires_on": "1795000000",
            "resource": "https://analysis.windows.net/powerbi/api", "access_token": "v1-token"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let clock = clock();
    let aad = AadClient::builder(secret_credential())
        .authority_host(server.uri())
        .endpoint(EntraEndpoint::V1)
        .clock(std::sync::Arc::new(clock.clone()))
        .build()
        .unwrap();
    let token = aad.token().await.unwrap();
    assert_eq!(token.secret().expose_secret(), "v1-token");
    assert_eq!(token.expires_on(), clock.now() + Duration::from_secs(3599));
}

/// Each AADSTS code an embedder meets maps to a typed error with its fields and a hint.
#[tokio::test]
async fn entra_error_codes_become_typed_errors_with_hints() {
    let cases: [(&str, i64, u16, &str); 10] = [
        ("invalid_client", 7000215, 401, "Secret ID"),
        ("invalid_client", 7000222, 401, "expired"),
        ("unauthorized_client", 700016, 400, "AZURE_CLIENT_ID"),
        ("invalid_request", 90002, 400, "cloud"),
        ("invalid_grant", 50126, 400, "password"),
        ("invalid_grant", 50076, 400, "multi-factor"),
        ("invalid_grant", 50079, 400, "multi-factor"),
        ("invalid_grant", 65001, 400, "consent"),
        ("invalid_client", 700024, 400, "clock"),
        ("invalid_client", 700027, 401, "certificate"),
    ];
    for (error, code, status, hint_word) in cases {
        let server = strict_server().await;
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(ResponseTemplate::new(status).set_body_json(entra_error_body(error, code)))
            .expect(1)
            .mount(&server)
            .await;
        let aad = aad_client(&server, secret_credential(), &clock());
        let err = aad.token().await.unwrap_err();
        let entra = err.as_entra().unwrap_or_else(|| panic!("{code}: {err:?}"));
        assert_eq!(entra.status, status);
        assert_eq!(entra.error, error);
        assert_eq!(entra.error_codes, vec![code]);
        assert_eq!(entra.trace_id.as_deref(), Some("8c5c7d3e-0000-4000-8000-000000000001"));
        assert_eq!(entra.correlation_id.as_deref(), Some("8c5c7d3e-0000-4000-8000-000000000002"));
        assert_eq!(entra.timestamp.as_deref(), Some("2026-11-23 12:00:00Z"));
        assert!(err.hint().unwrap().contains(hint_word), "{code}: {:?}", err.hint());
        assert!(err.to_string().contains(&format!("AADSTS{code}")));
        assert_eq!(err.request_id(), Some("8c5c7d3e-0000-4000-8000-000000000001"));
        assert!(!err.is_retryable());
        assert!(!err.to_string().contains(SECRET) && !format!("{err:?}").contains(SECRET));
    }
}

#[tokio::test]
async fn public_client_flows_disabled_has_its_hint() {
    let server = strict_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(400).set_body_json(entra_error_body("invalid_client", 7000218)))
        .expect(1)
        .mount(&server)
        .await;
    let credential = UsernamePasswordCredential::new(TENANT, CLIENT, "embed@contoso.com", "pw").unwrap();
    let err = aad_client(&server, credential, &clock()).token().await.unwrap_err();
    assert!(err.hint().unwrap().contains("Allow public client flows"));
}

#[tokio::test]
async fn master_user_signs_in_once_then_renews_with_the_refresh_token() {
    let server = strict_server().await;
    let user_scope = format!("{POWERBI_SCOPE} offline_access openid profile");
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(form_is(&[
            ("client_id", CLIENT),
            ("grant_type", "password"),
            ("username", "embed@contoso.com"),
            ("password", "pa55word!"),
            ("scope", &user_scope),
        ]))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer", "expires_in": 3600, "access_token": "user-at-1", "refresh_token": "rt-1",
            "scope": user_scope, "id_token": "x.y.z"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(form_is(&[
            ("client_id", CLIENT),
            ("grant_type", "refresh_token"),
            ("refresh_token", "rt-1"),
            ("scope", &user_scope),
        ]))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer", "expires_in": 3600, "access_token": "user-at-2", "refresh_token": "rt-2"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(form_is(&[
            ("client_id", CLIENT),
            ("grant_type", "refresh_token"),
            ("refresh_token", "rt-2"),
            ("scope", &user_scope),
        ]))
        .respond_with(ResponseTemplate::new(400).set_body_json(entra_error_body("invalid_grant", 700082)))
        .expect(1)
        .mount(&server)
        .await;
    let clock = clock();
    let credential = UsernamePasswordCredential::new(TENANT, CLIENT, "embed@contoso.com", "pa55word!").unwrap();
    let aad = aad_client(&server, credential, &clock);

    assert_eq!(aad.token().await.unwrap().secret().expose_secret(), "user-at-1");
    clock.advance(Duration::from_secs(3600));
    assert_eq!(aad.token().await.unwrap().secret().expose_secret(), "user-at-2");
    clock.advance(Duration::from_secs(3600));
    // The rotated refresh token is refused (expired): sign in with the password again. The
    // password mock above expects one call, so reset its counter by mounting a second one.
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(wiremock::matchers::body_string_contains("grant_type=password"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("user-at-3", 3600)))
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    assert_eq!(aad.token().await.unwrap().secret().expose_secret(), "user-at-3");
}

#[test]
fn constructors_reject_bad_input_naming_the_field() {
    let cases = [
        (ClientSecretCredential::new("", CLIENT, "s").unwrap_err(), "tenant_id"),
        (ClientSecretCredential::new("common", CLIENT, "s").unwrap_err(), "tenant_id"),
        (ClientSecretCredential::new(TENANT, "my-app", "s").unwrap_err(), "client_id"),
        (ClientSecretCredential::new(TENANT, "", "s").unwrap_err(), "client_id"),
        (ClientSecretCredential::new(TENANT, CLIENT, " ").unwrap_err(), "client_secret"),
        (UsernamePasswordCredential::new(TENANT, CLIENT, "", "p").unwrap_err(), "username"),
        (UsernamePasswordCredential::new(TENANT, CLIENT, "u@x.com", "").unwrap_err(), "password"),
    ];
    for (err, field) in cases {
        assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
        assert_eq!(err.field(), Some(field), "{err}");
    }
}

#[test]
fn http_authority_is_refused_unless_loopback() {
    for bad in ["http://login.example.com", "http://10.1.2.3:8080", "https://login.example.com/?q=1"] {
        let err = AadClient::builder(secret_credential()).authority_host(bad).build().unwrap_err();
        assert_eq!(err.field(), Some("authority_host"), "{bad}");
    }
    for ok in ["http://127.0.0.1:1", "http://localhost:2", "http://[::1]:3", "https://login.microsoftonline.us"] {
        AadClient::builder(secret_credential()).authority_host(ok).build().unwrap();
    }
}

#[tokio::test]
async fn redirects_on_token_requests_are_not_followed() {
    let server = strict_server().await;
    let elsewhere = strict_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(307).insert_header("location", format!("{}/steal", elsewhere.uri())))
        .expect(1)
        .mount(&server)
        .await;
    let err = aad_client(&server, secret_credential(), &clock()).token().await.unwrap_err();
    assert!(matches!(err, Error::UnexpectedResponse(_)), "{err:?}");
    assert_eq!(err.status(), Some(307));
    assert!(err.to_string().contains("redirects are not followed"), "{err}");
}
