//! Tokens are checked when they arrive, and body strings and malformed ids stay out of errors.
//!
//! A token that cannot be an HTTP header value (a CR or LF inside, or the trailing newline of a
//! token read from a file) is refused with a typed error the moment a credential returns it,
//! never cached, and so never sent: before, it was cached and every Power BI call then failed as
//! a retryable "may have been sent" transport error while Power BI received nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::support::ids::{REPORT, WORKSPACE};
use crate::support::*;
use async_trait::async_trait;
use powerbi_embed::testing::SafeMockServer;
use powerbi_embed::{
    AadClient, AccessToken, ClientSecretCredential, CredentialErrorKind, Error, GenerateTokenRequest,
    ManagedIdentityCredential, ManagedIdentityId, PowerBiClient, StaticTokenCredential, TokenCredential,
    TokenRequestContext,
};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "token-checks-client-secret";
/// A recognisable token text, to check that no error quotes it.
const TOKEN_TEXT: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOi.token-checks";

const CREDENTIAL_REFUSAL: &str = "token credential: the access token cannot be sent in an HTTP header (it holds a \
                                  control character such as CR or LF, or a trailing newline); it was refused and \
                                  not cached";

fn expires() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc() + time::Duration::hours(2)
}

/// Hands out `token` and counts how often it was asked (a cached token is not asked for again).
#[derive(Debug)]
struct Counting {
    token: String,
    calls: Arc<AtomicUsize>,
}

#[async_trait]
impl TokenCredential for Counting {
    fn cache_identity(&self) -> String {
        "tests/counting".into()
    }

    async fn get_token(&self, ctx: &TokenRequestContext<'_>) -> powerbi_embed::Result<AccessToken> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(AccessToken::new(self.token.clone(), ctx.now() + time::Duration::hours(1)))
    }
}

fn assert_refused_by_the_client(error: &Error) {
    assert!(
        matches!(error, Error::Credential { credential: "token", kind: CredentialErrorKind::UnusableToken, .. }),
        "{error:?}"
    );
    assert_eq!(error.credential_kind(), Some(CredentialErrorKind::UnusableToken));
    assert_eq!(error.to_string(), CREDENTIAL_REFUSAL);
    assert!(!error.is_retryable());
    assert!(!format!("{error} {error:?}").contains("token-checks"), "{error:?}");
}

#[tokio::test]
async fn a_static_token_with_a_trailing_newline_is_refused_and_nothing_is_sent_to_power_bi() {
    // A token read from a file, newline included.
    let aad = AadClient::new(StaticTokenCredential::new(format!("{TOKEN_TEXT}\n"), expires())).unwrap();
    assert_refused_by_the_client(&aad.token().await.unwrap_err());

    let powerbi_fake = strict_server().await; // any request fails the test
    let powerbi = PowerBiClient::builder(aad).api_base(powerbi_fake.uri()).build().unwrap();
    let request = GenerateTokenRequest::report_view().build().unwrap();
    let error = powerbi.workspace(WORKSPACE).report(REPORT).embed_token(&request).await.unwrap_err();
    assert_refused_by_the_client(&error);
    assert!(!matches!(error, Error::Transport(_)));
    assert!(powerbi_fake.received_requests().await.unwrap_or_default().is_empty());
}

#[tokio::test]
async fn any_credential_returning_cr_or_lf_is_refused_every_time_and_never_cached() {
    for bad in [format!("{TOKEN_TEXT}\r\nX-Injected: 1"), format!("{TOKEN_TEXT}\n"), format!("a\u{7f}{TOKEN_TEXT}")] {
        let calls = Arc::new(AtomicUsize::new(0));
        let aad = AadClient::new(Counting { token: bad.clone(), calls: calls.clone() }).unwrap();
        for attempt in 1..=3 {
            assert_refused_by_the_client(&aad.token().await.unwrap_err());
            // Asked again each time: the refused token was not cached.
            assert_eq!(calls.load(Ordering::SeqCst), attempt, "{bad:?}");
        }
    }
    // A good token is cached as before: asked for once.
    let calls = Arc::new(AtomicUsize::new(0));
    let aad = AadClient::new(Counting { token: TOKEN_TEXT.into(), calls: calls.clone() }).unwrap();
    aad.token().await.unwrap();
    aad.token().await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

async fn entra_answering(body: serde_json::Value, times: u64) -> SafeMockServer {
    let server = strict_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(times)
        .mount(&server)
        .await;
    server
}

fn entra_client(server: &MockServer) -> AadClient {
    AadClient::builder(ClientSecretCredential::new(TENANT, CLIENT, SECRET).unwrap())
        .authority_host(server.uri())
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_entra_token_with_cr_lf_is_an_unexpected_response_and_is_not_cached() {
    let body = json!({"token_type": "Bearer", "expires_in": 3599, "access_token": format!("{TOKEN_TEXT}\r\n")});
    let server = entra_answering(body, 2).await;
    let aad = entra_client(&server);
    for _ in 0..2 {
        let error = aad.token().await.unwrap_err();
        let Error::UnexpectedResponse(e) = &error else { panic!("{error:?}") };
        assert_eq!((e.service, e.status), ("Entra ID", 200));
        assert_eq!(
            e.reason,
            "access_token cannot be sent in an HTTP header (it holds a control character such as CR or LF)"
        );
        assert!(!format!("{error} {error:?}").contains("token-checks"), "{error:?}");
    }
    // `expect(2)`: the second call asked Entra again.
}

#[tokio::test]
async fn an_imds_token_with_a_newline_is_refused_and_not_cached() {
    let server = strict_server().await;
    Mock::given(method("GET"))
        .and(path("/metadata/identity/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": format!("{TOKEN_TEXT}\n"),
            "expires_in": "86399",
            "expires_on": "1700086399",
            "resource": "https://analysis.windows.net/powerbi/api",
            "token_type": "Bearer",
        })))
        .expect(2)
        .mount(&server)
        .await;
    let credential = ManagedIdentityCredential::imds(
        ManagedIdentityId::SystemAssigned,
        format!("{}/metadata/identity/oauth2/token", server.uri()),
    )
    .unwrap();
    let aad = AadClient::new(credential).unwrap();
    for _ in 0..2 {
        let error = aad.token().await.unwrap_err();
        let Error::UnexpectedResponse(e) = &error else { panic!("{error:?}") };
        assert_eq!((e.service, e.status), ("managed identity", 200));
        assert!(e.reason.starts_with("access_token cannot be sent in an HTTP header"), "{}", e.reason);
        assert!(!format!("{error} {error:?}").contains("token-checks"), "{error:?}");
    }
}

#[tokio::test]
async fn a_token_type_from_a_success_body_is_not_echoed() {
    let body = json!({"token_type": "pop-secret-looking-type", "expires_in": 3599, "access_token": TOKEN_TEXT});
    let server = entra_answering(body, 1).await;
    let aad = AadClient::builder(ClientSecretCredential::new(TENANT, CLIENT, SECRET).unwrap())
        .authority_host(server.uri())
        .retry_policy(powerbi_embed::RetryPolicy::none())
        .build()
        .unwrap();
    let error = aad.token().await.unwrap_err();
    let Error::UnexpectedResponse(e) = &error else { panic!("{error:?}") };
    assert_eq!(e.reason, "token_type is not Bearer");
    assert!(!format!("{error} {error:?}").contains("pop-secret"), "{error:?}");
}

#[tokio::test]
async fn an_embed_token_expiration_string_is_not_echoed() {
    let powerbi_fake = strict_server().await;
    Mock::given(method("POST"))
        .and(path(format!("/v1.0/myorg/groups/{WORKSPACE}/reports/{REPORT}/GenerateToken")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token": "H4sIAAAAAAAEAB2W",
            "tokenId": "49ae3742-54c0-4c29-af52-619ff93b5c80",
            "expiration": "H4sI-not-a-date-but-secret-looking",
        })))
        .expect(1)
        .mount(&powerbi_fake)
        .await;
    let aad = AadClient::new(StaticTokenCredential::new(TOKEN_TEXT, expires())).unwrap();
    let powerbi = PowerBiClient::builder(aad).api_base(powerbi_fake.uri()).build().unwrap();
    let request = GenerateTokenRequest::report_view().build().unwrap();
    let error = powerbi.workspace(WORKSPACE).report(REPORT).embed_token(&request).await.unwrap_err();
    let Error::UnexpectedResponse(e) = &error else { panic!("{error:?}") };
    assert_eq!(e.reason, "expiration is not an RFC 3339 date-time");
    assert!(!format!("{error} {error:?}").contains("H4sI"), "{error:?}");
}

#[test]
fn a_malformed_managed_identity_object_id_is_not_echoed() {
    for (bad, reason) in [
        ("my-client-secret~value", "is not a GUID (expected 8-4-4-4-12 hexadecimal digits)"),
        ("  ", "is empty; expected a GUID like 00000000-0000-0000-0000-000000000000"),
    ] {
        let error = ManagedIdentityCredential::imds(
            ManagedIdentityId::ObjectId(bad.into()),
            "http://127.0.0.1:1/metadata/identity/oauth2/token",
        )
        .unwrap_err();
        assert_eq!(error.field(), Some("object_id"));
        assert_eq!(error.to_string(), format!("invalid object_id: {reason}"));
    }
    // Surrounding whitespace is trimmed, as the builders do.
    let ok = ManagedIdentityCredential::imds(
        ManagedIdentityId::ObjectId(" 5B218778-E7A5-4D73-8187-F10824047715 ".into()),
        "http://127.0.0.1:1/metadata/identity/oauth2/token",
    );
    assert!(ok.is_ok());
}
