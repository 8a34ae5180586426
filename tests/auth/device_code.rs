use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{aad_client, clock, entra_error_body, form_is, strict_server, CLIENT, TENANT, TOKEN_PATH};
use powerbi_embed::{
    AadClient, Clock, CredentialErrorKind, DeviceCodeCredential, DeviceCodePrompt, EntraEndpoint, Error, RetryPolicy,
};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const DEVICECODE_PATH: &str = "/0b4ff5a2-3f2e-4c1a-9d6b-8a1e2f3c4d5e/oauth2/v2.0/devicecode";
const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const USER_SCOPE: &str = "https://analysis.windows.net/powerbi/api/.default offline_access openid profile";
/// Distinctive values, so a test can check that no output ever contains them.
const DEVICE_CODE: &str = "DAQABAAEAAAD--device-code-secret";
const ACCESS_TOKEN: &str = "eyJ0eXAi.access-token-secret";
const REFRESH_TOKEN: &str = "0.AXoA-refresh-token-secret";
const USER_CODE: &str = "GJ7R-KX2Q";
const VERIFICATION_URI: &str = "https://microsoft.com/devicelogin";
const MESSAGE: &str = "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code GJ7R-KX2Q to authenticate.";

type Prompts = Arc<Mutex<Vec<DeviceCodePrompt>>>;

/// A credential whose prompts are recorded in the returned list.
fn credential() -> (DeviceCodeCredential, Prompts) {
    let prompts = Prompts::default();
    let seen = prompts.clone();
    let credential = DeviceCodeCredential::new(TENANT, CLIENT, move |prompt: &DeviceCodePrompt| {
        seen.lock().unwrap().push(prompt.clone());
    })
    .expect("valid ids");
    (credential, prompts)
}

fn devicecode_body(expires_in: i64, interval: i64) -> serde_json::Value {
    json!({
        "user_code": USER_CODE,
        "device_code": DEVICE_CODE,
        "verification_uri": VERIFICATION_URI,
        "expires_in": expires_in,
        "interval": interval,
        "message": MESSAGE,
    })
}

/// Entra's user-flow success body, with a refresh token.
fn user_token_body(access_token: &str, refresh_token: &str) -> serde_json::Value {
    json!({
        "token_type": "Bearer",
        "scope": "https://analysis.windows.net/powerbi/api/Report.Read.All",
        "expires_in": 3600,
        "ext_expires_in": 3600,
        "access_token": access_token,
        "refresh_token": refresh_token,
        "id_token": "eyJ.id.token",
    })
}

fn poll_form() -> crate::support::FormIs {
    form_is(&[("client_id", CLIENT), ("grant_type", DEVICE_CODE_GRANT), ("device_code", DEVICE_CODE)])
}

/// The devicecode endpoint, called exactly once with exactly `client_id` and the user scopes.
async fn mount_devicecode(server: &MockServer, expires_in: i64, interval: i64) {
    Mock::given(method("POST"))
        .and(path(DEVICECODE_PATH))
        .and(form_is(&[("client_id", CLIENT), ("scope", USER_SCOPE)]))
        .respond_with(ResponseTemplate::new(200).set_body_json(devicecode_body(expires_in, interval)))
        .expect(1)
        .named("devicecode")
        .mount(server)
        .await;
}

/// `times` polls answered with the OAuth error `error` (mounted before the final answer, so
/// these are used up first).
async fn mount_poll_errors(server: &MockServer, error: &str, code: i64, times: u64) {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(poll_form())
        .respond_with(ResponseTemplate::new(400).set_body_json(entra_error_body(error, code)))
        .up_to_n_times(times)
        .expect(times)
        .named(format!("poll answered {error}"))
        .mount(server)
        .await;
}

async fn mount_poll_success(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(poll_form())
        .respond_with(ResponseTemplate::new(200).set_body_json(user_token_body(ACCESS_TOKEN, REFRESH_TOKEN)))
        .expect(1)
        .named("poll answered with tokens")
        .mount(server)
        .await;
}

fn secs(values: &[u64]) -> Vec<Duration> {
    values.iter().map(|s| Duration::from_secs(*s)).collect()
}

#[tokio::test]
async fn signs_in_after_two_pending_polls_waiting_the_interval_before_each() {
    let server = strict_server().await;
    mount_devicecode(&server, 900, 5).await;
    mount_poll_errors(&server, "authorization_pending", 70016, 2).await;
    mount_poll_success(&server).await;
    let clock = clock();
    let start = clock.now();
    let (credential, prompts) = credential();
    let aad = aad_client(&server, credential, &clock);

    let token = aad.token().await.expect("signed in");

    assert_eq!(token.secret().expose_secret(), ACCESS_TOKEN);
    assert_eq!(clock.sleeps(), secs(&[5, 5, 5]));
    let prompts = prompts.lock().unwrap();
    assert_eq!(prompts.len(), 1);
    assert_eq!(prompts[0].user_code, USER_CODE);
    assert_eq!(prompts[0].verification_uri, VERIFICATION_URI);
    assert_eq!(prompts[0].message, MESSAGE);
    assert_eq!(prompts[0].expires_on, start + time::Duration::seconds(900));
}

#[tokio::test]
async fn slow_down_adds_five_seconds_to_every_later_wait() {
    let server = strict_server().await;
    mount_devicecode(&server, 900, 5).await;
    mount_poll_errors(&server, "slow_down", 70016, 1).await;
    mount_poll_errors(&server, "authorization_pending", 70016, 1).await;
    mount_poll_success(&server).await;
    let clock = clock();
    let (credential, _) = credential();

    aad_client(&server, credential, &clock).token().await.expect("signed in");

    assert_eq!(clock.sleeps(), secs(&[5, 10, 10]));
}

#[tokio::test]
async fn expired_and_declined_codes_stop_with_the_entra_error() {
    for (error, code) in [("expired_token", 70020), ("authorization_declined", 70000)] {
        let server = strict_server().await;
        mount_devicecode(&server, 900, 5).await;
        mount_poll_errors(&server, "authorization_pending", 70016, 1).await;
        mount_poll_errors(&server, error, code, 1).await;
        let clock = clock();
        let (credential, _) = credential();

        let err = aad_client(&server, credential, &clock).token().await.unwrap_err();

        let entra = err.as_entra().unwrap_or_else(|| panic!("{error}: expected Error::Entra, got {err:?}"));
        assert_eq!(entra.error, error);
        assert!(entra.has_code(code));
        assert_eq!(clock.sleeps(), secs(&[5, 5]), "{error}: no poll after the final answer");
        assert!(!format!("{err:?} {err}").contains(DEVICE_CODE));
    }
}

#[tokio::test]
async fn gives_up_at_the_callers_timeout_polling_last_at_the_deadline() {
    let server = strict_server().await;
    mount_devicecode(&server, 900, 5).await;
    mount_poll_errors(&server, "authorization_pending", 70016, 3).await;
    let clock = clock();
    let start = clock.now();
    let (credential, prompts) = credential();
    let credential = credential.timeout(Duration::from_secs(12));

    let err = aad_client(&server, credential, &clock).token().await.unwrap_err();

    match &err {
        Error::Credential { credential, kind: CredentialErrorKind::TimedOut, message, .. } => {
            assert_eq!(*credential, "device code");
            assert!(message.contains("not completed in time"), "{message}");
        }
        other => panic!("expected Error::Credential, got {other:?}"),
    }
    assert_eq!(clock.sleeps(), secs(&[5, 5, 2]));
    assert_eq!(prompts.lock().unwrap()[0].expires_on, start + time::Duration::seconds(12));
}

#[tokio::test]
async fn gives_up_when_the_code_itself_expires() {
    let server = strict_server().await;
    mount_devicecode(&server, 10, 5).await;
    mount_poll_errors(&server, "authorization_pending", 70016, 2).await;
    let clock = clock();
    let (credential, _) = credential();

    let err = aad_client(&server, credential, &clock).token().await.unwrap_err();

    assert!(
        matches!(err, Error::Credential { credential: "device code", kind: CredentialErrorKind::TimedOut, .. }),
        "{err:?}"
    );
    assert_eq!(clock.sleeps(), secs(&[5, 5]));
}

#[tokio::test]
async fn renews_with_the_refresh_token_and_never_prompts_again() {
    let server = strict_server().await;
    mount_devicecode(&server, 900, 5).await;
    mount_poll_success(&server).await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(form_is(&[
            ("client_id", CLIENT),
            ("grant_type", "refresh_token"),
            ("refresh_token", REFRESH_TOKEN),
            ("scope", USER_SCOPE),
        ]))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(user_token_body("renewed-access-token", "rotated-refresh")),
        )
        .expect(1)
        .named("refresh grant")
        .mount(&server)
        .await;
    let clock = clock();
    let (credential, prompts) = credential();
    let aad = aad_client(&server, credential, &clock);

    aad.token().await.expect("signed in");
    clock.advance(Duration::from_secs(2 * 3600));
    let renewed = aad.token().await.expect("renewed");

    assert_eq!(renewed.secret().expose_secret(), "renewed-access-token");
    assert_eq!(prompts.lock().unwrap().len(), 1, "the user is prompted once");
}

#[tokio::test]
async fn a_refused_refresh_token_leads_to_a_new_sign_in() {
    let server = strict_server().await;
    Mock::given(method("POST"))
        .and(path(DEVICECODE_PATH))
        .and(form_is(&[("client_id", CLIENT), ("scope", USER_SCOPE)]))
        .respond_with(ResponseTemplate::new(200).set_body_json(devicecode_body(900, 5)))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(poll_form())
        .respond_with(ResponseTemplate::new(200).set_body_json(user_token_body(ACCESS_TOKEN, REFRESH_TOKEN)))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(form_is(&[
            ("client_id", CLIENT),
            ("grant_type", "refresh_token"),
            ("refresh_token", REFRESH_TOKEN),
            ("scope", USER_SCOPE),
        ]))
        .respond_with(ResponseTemplate::new(400).set_body_json(entra_error_body("invalid_grant", 700082)))
        .expect(1)
        .named("refresh token expired")
        .mount(&server)
        .await;
    let clock = clock();
    let (credential, prompts) = credential();
    let aad = aad_client(&server, credential, &clock);

    aad.token().await.expect("signed in");
    clock.advance(Duration::from_secs(2 * 3600));
    aad.token().await.expect("signed in again");

    assert_eq!(prompts.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn concurrent_requests_for_two_scopes_share_one_sign_in() {
    let server = strict_server().await;
    mount_devicecode(&server, 900, 5).await;
    mount_poll_success(&server).await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(form_is(&[
            ("client_id", CLIENT),
            ("grant_type", "refresh_token"),
            ("refresh_token", REFRESH_TOKEN),
            ("scope", "https://graph.microsoft.com/.default offline_access openid profile"),
        ]))
        .respond_with(ResponseTemplate::new(200).set_body_json(user_token_body("graph-token", "rotated-refresh")))
        .expect(1)
        .named("second scope through the refresh token")
        .mount(&server)
        .await;
    let clock = clock();
    let (credential, prompts) = credential();
    let aad = aad_client(&server, credential, &clock);

    // `join!` polls the Power BI request first, so it is the one that signs in.
    let (powerbi, graph) = tokio::join!(aad.token(), aad.token_for_scopes(&["https://graph.microsoft.com/.default"]));

    assert_eq!(powerbi.expect("powerbi").secret().expose_secret(), ACCESS_TOKEN);
    assert_eq!(graph.expect("graph").secret().expose_secret(), "graph-token");
    assert_eq!(prompts.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn uses_the_v2_endpoints_even_on_a_v1_client() {
    let server = strict_server().await;
    mount_devicecode(&server, 900, 5).await;
    mount_poll_success(&server).await;
    let clock = clock();
    let (credential, _) = credential();
    let aad = AadClient::builder(credential)
        .authority_host(server.uri())
        .endpoint(EntraEndpoint::V1)
        .clock(Arc::new(clock.clone()))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();

    aad.token().await.expect("signed in on v2");
}

#[tokio::test]
async fn a_devicecode_refusal_is_an_entra_error() {
    let server = strict_server().await;
    Mock::given(method("POST"))
        .and(path(DEVICECODE_PATH))
        .and(form_is(&[("client_id", CLIENT), ("scope", USER_SCOPE)]))
        .respond_with(ResponseTemplate::new(401).set_body_json(entra_error_body("invalid_client", 7000218)))
        .expect(1)
        .mount(&server)
        .await;
    let clock = clock();
    let (credential, prompts) = credential();

    let err = aad_client(&server, credential, &clock).token().await.unwrap_err();

    assert!(err.as_entra().is_some_and(|e| e.has_code(7000218)), "{err:?}");
    assert!(err.hint().is_some_and(|h| h.contains("public client")));
    assert!(prompts.lock().unwrap().is_empty());
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn debug_output_never_shows_the_device_code_or_tokens() {
    let server = strict_server().await;
    mount_devicecode(&server, 900, 5).await;
    mount_poll_success(&server).await;
    let clock = clock();
    let (credential, prompts) = credential();
    let aad = aad_client(&server, credential, &clock);

    let token = aad.token().await.expect("signed in");

    // The client's Debug includes the credential, which now holds the refresh token.
    let printed = format!("{aad:?} {aad:#?} {token:?} {:?}", prompts.lock().unwrap());
    for secret in [DEVICE_CODE, ACCESS_TOKEN, REFRESH_TOKEN] {
        assert!(!printed.contains(secret), "{secret} leaked: {printed}");
    }
    assert!(printed.contains("DeviceCodeCredential"));
}

#[test]
fn rejects_bad_ids_before_any_request() {
    let no_prompt = |_: &DeviceCodePrompt| {};
    let err = DeviceCodeCredential::new("common", CLIENT, no_prompt).unwrap_err();
    assert_eq!(err.field(), Some("tenant_id"));
    let err = DeviceCodeCredential::new(TENANT, "my-app", no_prompt).unwrap_err();
    assert_eq!(err.field(), Some("client_id"));
}

#[test]
fn two_credentials_never_share_cached_tokens() {
    use powerbi_embed::TokenCredential;
    let (a, _) = credential();
    let (b, _) = credential();
    assert_ne!(a.cache_identity(), b.cache_identity(), "different users may sign in through each");
    assert!(a.cache_identity().starts_with(&format!("{TENANT}/{CLIENT}/")));
}
