//! No secret value ever reaches a log line, an error message or a `Debug` string.
//!
//! The flows run with a TRACE-level `tracing-subscriber` fmt layer installed for the test's
//! thread only (`set_default`, not a global subscriber), writing into a buffer. The test runtime
//! is single-threaded, so the connection tasks of reqwest / hyper-util log into the same buffer;
//! reqwest logs through the `log` crate, which `tracing-log` forwards. Every client secret,
//! password, refresh token, access token, embed token and identity blob the flows handle is then
//! searched for in everything captured, in every error's `Display` / `Debug`, and in the `Debug`
//! of every client, credential, request, response and config type.

#[path = "../support/mod.rs"]
mod support;

use std::io::Write;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use crate::support::ids::{DASHBOARD, DATASET, REPORT, TILE, WORKSPACE};
use crate::support::*;
use powerbi_embed::{
    AadClient, AccessToken, ClientAssertionCredential, ClientCertificateCredential, ClientSecretCredential, Clock,
    DatasourceIdentity, DatasourceSelector, DeviceCodeCredential, EffectiveIdentity, EmbedConfig, EmbedToken,
    EnvironmentCredential, Error, GenerateTokenRequest, GenerateTokenRequestV2, Guid, ManagedIdentityCredential,
    ManagedIdentityId, MemoryStore, PowerBiClient, RetryPolicy, Secret, SharedCache, StaticTokenCredential,
    TokenCredential, UsernamePasswordCredential,
};
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::fmt::MakeWriter;
use wiremock::matchers::{body_json, body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN_ID: &str = "49ae3742-54c0-4c29-af52-619ff93b5c80";
const OTHER_CLIENT: &str = "99999999-2222-3333-4444-555555555555";
const USER: &str = "embed@contoso.com";

const CLIENT_SECRET: &str = "cs~Qx8.client-secret-value-4c1e";
const WRONG_SECRET: &str = "cs~Qx8.wrong-secret-value-77ab";
const OTHER_SECRET: &str = "cs~Qx8.other-secret-value-0f9e";
const PASSWORD: &str = "pw!Master-user-password-9d2f";
const REFRESH_TOKEN_1: &str = "0.AAAA-refresh-token-one-51e0";
const REFRESH_TOKEN_2: &str = "0.AAAA-refresh-token-two-62f1";
const SP_ACCESS_TOKEN: &str = "eyJ0eXAi.service-principal-access-token.a1b2";
const USER_ACCESS_TOKEN_1: &str = "eyJ0eXAi.user-access-token-one.c3d4";
const USER_ACCESS_TOKEN_2: &str = "eyJ0eXAi.user-access-token-two.e5f6";
const ID_TOKEN: &str = "eyJ0eXAi.user-id-token.0a0b";
const EMBED_TOKEN: &str = "H4sIAAAA-embed-token-for-the-report-7a8b";
const EMBED_TOKEN_V2: &str = "H4sIAAAA-embed-token-multi-resource-9c0d";
const IDENTITY_BLOB: &str = "eyJ0eXAi.azure-sql-identity-blob.1e2f";
const DATASOURCE_BLOB: &str = "eyJ0eXAi.datasource-identity-blob.3a4b";
const ACCESS_TOKEN_IN_BAD_BODY: &str = "eyJ0eXAi.access-token-in-a-bad-body.5c6d";
const EMBED_TOKEN_IN_BAD_BODY: &str = "H4sIAAAA-embed-token-in-a-bad-body-7e8f";
const EMBED_TOKEN_CUT_OFF: &str = "H4sIAAAA-embed-token-cut-off-mid-string-0123";
const STATIC_TOKEN: &str = "eyJ0eXAi.static-access-token.9a0b";
const IDENTITY_HEADER: &str = "app-service-identity-header-1c2d";

/// Every secret value the tests handle.
const CLIENT_ASSERTION: &str = "eyJ0eXAi.client-assertion-jwt.5e6f";

/// The base64 lines of the test certificate's private key.
fn private_key_lines() -> Vec<String> {
    let pem = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/leaf.key.pem")).unwrap();
    pem.lines().filter(|line| !line.starts_with("-----")).map(str::to_owned).collect()
}

fn secrets() -> Vec<String> {
    [
        CLIENT_SECRET,
        WRONG_SECRET,
        OTHER_SECRET,
        PASSWORD,
        REFRESH_TOKEN_1,
        REFRESH_TOKEN_2,
        SP_ACCESS_TOKEN,
        USER_ACCESS_TOKEN_1,
        USER_ACCESS_TOKEN_2,
        ID_TOKEN,
        EMBED_TOKEN,
        EMBED_TOKEN_V2,
        IDENTITY_BLOB,
        DATASOURCE_BLOB,
        ACCESS_TOKEN_IN_BAD_BODY,
        EMBED_TOKEN_IN_BAD_BODY,
        EMBED_TOKEN_CUT_OFF,
        STATIC_TOKEN,
        IDENTITY_HEADER,
        CLIENT_ASSERTION,
    ]
    .map(str::to_owned)
    .into_iter()
    .chain(private_key_lines())
    .collect()
}

/// The secrets (or a distinctive part of one: the last 12 characters, in case a value is
/// printed cut short) that `text` contains.
fn leaked_in(text: &str) -> Vec<String> {
    secrets().into_iter().filter(|s| text.contains(s.as_str()) || text.contains(&s[s.len() - 12..])).collect()
}

#[track_caller]
fn assert_no_secret(what: &str, text: &str) {
    let leaked = leaked_in(text);
    assert!(leaked.is_empty(), "{what} shows {leaked:?}:\n{text}");
}

/// A shared buffer the fmt layer writes into.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogBuffer {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> LogWriter {
        LogWriter(self.0.clone())
    }
}

impl LogBuffer {
    fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

/// Captures every TRACE-level event and span of this thread (and the `log` records of the
/// crates that use `log`) until the guard drops.
fn capture_logs() -> (LogBuffer, tracing::subscriber::DefaultGuard) {
    static LOG_BRIDGE: Once = Once::new();
    LOG_BRIDGE.call_once(|| tracing_log::LogTracer::init().expect("no other `log` logger in this test binary"));
    let buffer = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(FmtSpan::FULL)
        .with_writer(buffer.clone())
        .finish();
    (buffer, tracing::subscriber::set_default(subscriber))
}

fn expiring_in(clock: &powerbi_embed::ManualClock, minutes: i64) -> String {
    (clock.now() + time::Duration::minutes(minutes)).format(&Rfc3339).unwrap()
}

fn embed_token_reply(clock: &powerbi_embed::ManualClock, token: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"token": token, "tokenId": TOKEN_ID, "expiration": expiring_in(clock, 60)}))
}

fn generate_token_path(rest: &str) -> String {
    format!("/v1.0/myorg/groups/{WORKSPACE}/{rest}/GenerateToken")
}

async fn mount_entra(entra: &MockServer) {
    let user_scope = format!("{POWERBI_SCOPE} offline_access openid profile");
    let user_grant = |access: &str, refresh: &str| {
        ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer", "expires_in": 3600, "access_token": access, "refresh_token": refresh,
            "id_token": ID_TOKEN, "scope": user_scope,
        }))
    };
    let mounts = [
        (
            form_is(&[
                ("client_id", CLIENT),
                ("grant_type", "client_credentials"),
                ("scope", POWERBI_SCOPE),
                ("client_secret", CLIENT_SECRET),
            ]),
            ResponseTemplate::new(200).set_body_json(token_body(SP_ACCESS_TOKEN, 3600)),
        ),
        (
            form_is(&[
                ("client_id", CLIENT),
                ("grant_type", "client_credentials"),
                ("scope", POWERBI_SCOPE),
                ("client_secret", WRONG_SECRET),
            ]),
            ResponseTemplate::new(401).set_body_json(entra_error_body("invalid_client", 7000215)),
        ),
        (
            form_is(&[
                ("client_id", OTHER_CLIENT),
                ("grant_type", "client_credentials"),
                ("scope", POWERBI_SCOPE),
                ("client_secret", OTHER_SECRET),
            ]),
            // A success status whose body carries a token but a broken field.
            ResponseTemplate::new(200).set_body_json(
                json!({"token_type": "Bearer", "expires_in": "soon", "access_token": ACCESS_TOKEN_IN_BAD_BODY}),
            ),
        ),
        (
            form_is(&[
                ("client_id", CLIENT),
                ("grant_type", "refresh_token"),
                ("refresh_token", REFRESH_TOKEN_1),
                ("scope", &user_scope),
            ]),
            user_grant(USER_ACCESS_TOKEN_2, REFRESH_TOKEN_2),
        ),
        (
            form_is(&[
                ("client_id", CLIENT),
                ("grant_type", "refresh_token"),
                ("refresh_token", REFRESH_TOKEN_2),
                ("scope", &user_scope),
            ]),
            ResponseTemplate::new(400).set_body_json(entra_error_body("invalid_grant", 70008)),
        ),
    ];
    for (form, reply) in mounts {
        Mock::given(method("POST")).and(path(TOKEN_PATH)).and(form).respond_with(reply).expect(1).mount(entra).await;
    }
    // The password is accepted once, and refused when it is sent again.
    let password_form = || {
        form_is(&[
            ("client_id", CLIENT),
            ("grant_type", "password"),
            ("username", USER),
            ("password", PASSWORD),
            ("scope", &user_scope),
        ])
    };
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(password_form())
        .respond_with(user_grant(USER_ACCESS_TOKEN_1, REFRESH_TOKEN_1))
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(entra)
        .await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(password_form())
        .respond_with(ResponseTemplate::new(400).set_body_json(entra_error_body("invalid_grant", 50126)))
        .expect(1)
        .mount(entra)
        .await;
}

async fn mount_power_bi(powerbi: &MockServer, clock: &powerbi_embed::ManualClock) {
    let bearer = |token: &str| header("authorization", format!("Bearer {token}").as_str());
    let report_token = generate_token_path(&format!("reports/{REPORT}"));
    let report_body = json!({
        "accessLevel": "View",
        "identities": [{"username": "customer-42", "roles": ["Customer"], "datasets": [DATASET], "identityBlob": {"value": IDENTITY_BLOB}}],
    });
    // The service principal: a report embed config, whose GenerateToken fails once with 503.
    Mock::given(method("GET"))
        .and(path(format!("/v1.0/myorg/groups/{WORKSPACE}/reports/{REPORT}")))
        .and(bearer(SP_ACCESS_TOKEN))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": REPORT, "name": "Sales", "embedUrl": "https://e"})),
        )
        .expect(1)
        .mount(powerbi)
        .await;
    Mock::given(method("POST"))
        .and(path(&report_token))
        .and(body_json(&report_body))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(powerbi)
        .await;
    Mock::given(method("POST"))
        .and(path(&report_token))
        .and(bearer(SP_ACCESS_TOKEN))
        .and(body_json(&report_body))
        .respond_with(embed_token_reply(clock, EMBED_TOKEN))
        .expect(1)
        .mount(powerbi)
        .await;
    // The service principal: a multi-resource token with a data-source identity.
    Mock::given(method("POST"))
        .and(path("/v1.0/myorg/GenerateToken"))
        .and(bearer(SP_ACCESS_TOKEN))
        .and(body_string_contains(DATASOURCE_BLOB))
        .respond_with(embed_token_reply(clock, EMBED_TOKEN_V2))
        .expect(1)
        .mount(powerbi)
        .await;
    // The service principal: success bodies that carry a token but are broken.
    Mock::given(method("POST"))
        .and(path(generate_token_path(&format!("datasets/{DATASET}"))))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"token": EMBED_TOKEN_IN_BAD_BODY, "tokenId": "not-a-guid", "expiration": expiring_in(clock, 60)}),
        ))
        .expect(1)
        .mount(powerbi)
        .await;
    Mock::given(method("POST"))
        .and(path(generate_token_path(&format!("dashboards/{DASHBOARD}/tiles/{TILE}"))))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(
                format!(r#"{{"tokenId":"{TOKEN_ID}","token":"{EMBED_TOKEN_CUT_OFF}"#),
                "application/json",
            ),
        )
        .expect(1)
        .mount(powerbi)
        .await;
    // The master user: refused by Power BI with the first token, served with the renewed one.
    Mock::given(method("POST"))
        .and(path(generate_token_path(&format!("dashboards/{DASHBOARD}"))))
        .and(bearer(USER_ACCESS_TOKEN_1))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("RequestId", "rid-403")
                .set_body_json(json!({"error": {"code": "Unauthorized", "message": "not a workspace member"}})),
        )
        .expect(1)
        .mount(powerbi)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1.0/myorg/groups/{WORKSPACE}/datasets/{DATASET}")))
        .and(bearer(USER_ACCESS_TOKEN_2))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": DATASET, "name": "Sales"})))
        .expect(1)
        .mount(powerbi)
        .await;
}

/// What the flows left behind to inspect.
struct Outcome {
    logs: String,
    errors: Vec<Error>,
    debug_strings: Vec<(&'static str, String)>,
}

async fn run_flows() -> Outcome {
    let (entra, powerbi, clock) = (strict_server().await, strict_server().await, clock());
    mount_entra(&entra).await;
    mount_power_bi(&powerbi, &clock).await;
    let client_for = |credential: Arc<dyn TokenCredential>| {
        let aad = AadClient::builder_shared(credential)
            .authority_host(entra.uri())
            .clock(Arc::new(clock.clone()))
            .retry_policy(RetryPolicy::default().max_attempts(3))
            .build()
            .unwrap();
        PowerBiClient::builder(aad).api_base(powerbi.uri()).retry_policy(RetryPolicy::default().max_attempts(3)).build()
    };
    let mut errors = Vec::new();
    let mut debug_strings = Vec::new();

    // Service principal, right secret: an embed config with an identity blob, a V2 token, and
    // two broken success bodies.
    let service_principal =
        client_for(Arc::new(ClientSecretCredential::new(TENANT, CLIENT, CLIENT_SECRET).unwrap())).unwrap();
    let identity =
        EffectiveIdentity::new("customer-42").role("Customer").datasets([DATASET]).identity_blob(IDENTITY_BLOB);
    let request = GenerateTokenRequest::report_view().identity(identity.clone()).build().unwrap();
    let config = service_principal.workspace(WORKSPACE).report(REPORT).embed_config(&request).await.unwrap();
    assert_eq!(config.token().secret().expose_secret(), EMBED_TOKEN);
    let v2 = GenerateTokenRequestV2::builder()
        .report(REPORT)
        .dataset(DATASET)
        .datasource_identity(
            DatasourceIdentity::new(DATASOURCE_BLOB)
                .datasource(DatasourceSelector::new("Sql").server("contoso.database.windows.net").database("sales")),
        )
        .build()
        .unwrap();
    let v2_token = service_principal.embed_token(&v2).await.unwrap();
    assert_eq!(v2_token.secret().expose_secret(), EMBED_TOKEN_V2);
    let access_token = service_principal.aad().token().await.unwrap();
    assert_eq!(access_token.secret().expose_secret(), SP_ACCESS_TOKEN);
    let dataset_request = GenerateTokenRequest::qna().build().unwrap();
    errors.push(service_principal.workspace(WORKSPACE).dataset(DATASET).qna_token(&dataset_request).await.unwrap_err());
    let tile_request = GenerateTokenRequest::tile().build().unwrap();
    errors.push(
        service_principal
            .workspace(WORKSPACE)
            .dashboard(DASHBOARD)
            .tile(TILE)
            .embed_token(&tile_request)
            .await
            .unwrap_err(),
    );
    debug_strings.extend([
        ("EmbedConfig (from the flow)", format!("{config:?}")),
        ("EmbedToken (from the flow)", format!("{v2_token:?}")),
        ("AccessToken (from the flow)", format!("{access_token:?}")),
        ("PowerBiClient (after use)", format!("{service_principal:?}")),
        ("AadClient (after use)", format!("{:?}", service_principal.aad())),
        ("GenerateTokenRequest (with an identity blob)", format!("{request:?}")),
        ("GenerateTokenRequestV2 (with a data-source identity)", format!("{v2:?}")),
    ]);

    // Service principal, wrong secret: Entra refuses, Power BI is never called.
    let wrong = client_for(Arc::new(ClientSecretCredential::new(TENANT, CLIENT, WRONG_SECRET).unwrap())).unwrap();
    errors.push(wrong.workspace(WORKSPACE).report(REPORT).embed_config(&request).await.unwrap_err());

    // Another service principal whose token response is broken.
    let broken =
        client_for(Arc::new(ClientSecretCredential::new(TENANT, OTHER_CLIENT, OTHER_SECRET).unwrap())).unwrap();
    errors.push(broken.aad().token().await.unwrap_err());

    // Master user: signs in, is refused by Power BI (403), renews with the refresh token, then
    // the rotated refresh token and the password are both refused.
    let user = Arc::new(UsernamePasswordCredential::new(TENANT, CLIENT, USER, PASSWORD).unwrap());
    let master = client_for(user.clone()).unwrap();
    let dashboard_request = GenerateTokenRequest::dashboard().build().unwrap();
    errors.push(master.workspace(WORKSPACE).dashboard(DASHBOARD).embed_token(&dashboard_request).await.unwrap_err());
    clock.advance(Duration::from_secs(3600));
    assert_eq!(master.workspace(WORKSPACE).dataset(DATASET).get().await.unwrap().name, "Sales");
    debug_strings.push(("UsernamePasswordCredential (holding a refresh token)", format!("{user:?}")));
    clock.advance(Duration::from_secs(3600));
    errors.push(master.workspace(WORKSPACE).dataset(DATASET).get().await.unwrap_err());

    Outcome { logs: String::new(), errors, debug_strings }
}

#[tokio::test]
async fn no_secret_reaches_the_logs_errors_or_debug_output_of_full_flows() {
    let (buffer, guard) = capture_logs();
    let mut outcome = run_flows().await;
    drop(guard);
    outcome.logs = buffer.contents();

    // The capture works: the crate's own events and spans, hyper-util's (tracing) and
    // reqwest's (log) are all there.
    for expected in [
        "entra_token",
        "powerbi_generate_token",
        "token acquired",
        "token request failed",
        "retrying",
        "embed token generated",
        "GenerateToken failed",
        "refresh token no longer accepted",
        "starting new connection",
        "connecting to 127.0.0.1",
        TENANT,
    ] {
        assert!(outcome.logs.contains(expected), "the captured logs lack {expected:?}:\n{}", outcome.logs);
    }
    assert_no_secret("the captured logs", &outcome.logs);

    // The errors are the ones the flows were built to produce.
    let kinds: Vec<String> = outcome
        .errors
        .iter()
        .map(|e| match e {
            Error::Entra(e) => format!("Entra {} {:?}", e.status, e.error_codes),
            Error::PowerBi(e) => format!("PowerBi {}", e.status),
            Error::UnexpectedResponse(e) => format!("Unexpected {} {}", e.service, e.status),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "Unexpected Power BI 200",
            "Unexpected Power BI 200",
            "Entra 401 [7000215]",
            "Unexpected Entra ID 200",
            "PowerBi 403",
            "Entra 400 [50126]",
        ]
    );
    for err in &outcome.errors {
        let mut shown = vec![err.to_string(), format!("{err:?}"), format!("{err:#?}")];
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            shown.push(cause.to_string());
            source = cause.source();
        }
        for text in shown {
            assert_no_secret("an error", &text);
        }
    }
    for (name, text) in &outcome.debug_strings {
        assert_no_secret(name, text);
    }
}

/// The `Debug` of every public type that holds a secret, built with secret values inside.
fn debug_strings() -> Vec<(&'static str, String)> {
    let clock = clock();
    let expires = clock.now() + time::Duration::hours(1);
    let access_token = AccessToken::new(SP_ACCESS_TOKEN, expires);
    let embed_token = EmbedToken::new(EMBED_TOKEN, Guid::from_u128(7), expires);
    let identity =
        EffectiveIdentity::new("customer-42").role("Customer").datasets([DATASET]).identity_blob(IDENTITY_BLOB);
    let datasource_identity =
        DatasourceIdentity::new(DATASOURCE_BLOB).datasource(DatasourceSelector::new("Sql").server("s").database("d"));
    let aad = AadClient::builder(ClientSecretCredential::new(TENANT, CLIENT, CLIENT_SECRET).unwrap())
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let managed_identity = ManagedIdentityCredential::app_service(
        ManagedIdentityId::SystemAssigned,
        "http://127.0.0.1:41234/msi/token",
        IDENTITY_HEADER,
    )
    .unwrap();
    vec![
        ("AadClient", format!("{aad:?}")),
        ("AadClientBuilder", format!("{:?}", AadClient::builder(StaticTokenCredential::new(STATIC_TOKEN, expires)))),
        ("PowerBiClient", format!("{:?}", PowerBiClient::new(aad.clone()).unwrap())),
        ("PowerBiClientBuilder", format!("{:?}", PowerBiClient::builder(aad.clone()))),
        (
            "ClientSecretCredential",
            format!("{:?}", ClientSecretCredential::new(TENANT, CLIENT, CLIENT_SECRET).unwrap()),
        ),
        (
            "UsernamePasswordCredential",
            format!("{:?}", UsernamePasswordCredential::new(TENANT, CLIENT, USER, PASSWORD).unwrap()),
        ),
        ("DeviceCodeCredential", format!("{:?}", DeviceCodeCredential::new(TENANT, CLIENT, |_| {}).unwrap())),
        ("ManagedIdentityCredential", format!("{managed_identity:?}")),
        ("StaticTokenCredential", format!("{:?}", StaticTokenCredential::new(STATIC_TOKEN, expires))),
        ("AccessToken", format!("{access_token:?}")),
        ("EmbedToken", format!("{embed_token:?}")),
        (
            "EmbedConfig",
            format!(
                "{:?}",
                EmbedConfig::report(powerbi_embed::ReportId::from_u128(1), "https://e", embed_token.clone())
            ),
        ),
        (
            "GenerateTokenRequest",
            format!("{:?}", GenerateTokenRequest::report_view().identity(identity.clone()).build().unwrap()),
        ),
        (
            "GenerateTokenRequestBuilder",
            format!("{:?}", GenerateTokenRequest::report_view().identity(identity.clone())),
        ),
        (
            "GenerateTokenRequestV2",
            format!(
                "{:?}",
                GenerateTokenRequestV2::builder()
                    .report(REPORT)
                    .identity(identity.clone().datasets([DATASET]))
                    .datasource_identity(datasource_identity.clone())
                    .build()
                    .unwrap()
            ),
        ),
        (
            "GenerateTokenRequestV2Builder",
            format!(
                "{:?}",
                GenerateTokenRequestV2::builder()
                    .identity(identity.clone())
                    .datasource_identity(datasource_identity.clone())
            ),
        ),
        ("EffectiveIdentity", format!("{identity:?}")),
        ("DatasourceIdentity", format!("{datasource_identity:?}")),
        ("Secret", format!("{:?}", Secret::new(CLIENT_SECRET))),
        (
            "ClientCertificateCredential",
            format!(
                "{:?}",
                ClientCertificateCredential::from_pem_file(
                    TENANT,
                    CLIENT,
                    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/leaf.bundle.pem"),
                )
                .unwrap()
            ),
        ),
        (
            "ClientAssertionCredential",
            format!(
                "{:?}",
                ClientAssertionCredential::from_callback(TENANT, CLIENT, || Ok(Secret::new(CLIENT_ASSERTION))).unwrap()
            ),
        ),
        (
            "EnvironmentCredential",
            format!(
                "{:?}",
                EnvironmentCredential::from_lookup(|name| match name {
                    "AZURE_TENANT_ID" => Some(TENANT.to_owned()),
                    "AZURE_CLIENT_ID" => Some(CLIENT.to_owned()),
                    "AZURE_CLIENT_SECRET" => Some(CLIENT_SECRET.to_owned()),
                    _ => None,
                })
                .unwrap()
            ),
        ),
        ("SharedCache", format!("{:?}", SharedCache::new(std::sync::Arc::new(MemoryStore::new()), [9; 32]))),
    ]
}

#[test]
fn debug_of_every_client_credential_request_response_and_config_type_redacts_secrets() {
    let strings = debug_strings();
    for (name, debug) in &strings {
        // Named after the type, so an empty or unrelated string cannot pass.
        let type_name = name.split(' ').next().unwrap();
        assert!(debug.starts_with(type_name), "{name}: {debug}");
        assert_no_secret(name, debug);
    }
    // Pretty-printed too: `{:#?}` goes through the same impls, checked once for the holders
    // of nested secrets.
    let identity = EffectiveIdentity::new("u").identity_blob(IDENTITY_BLOB);
    assert_no_secret("EffectiveIdentity {:#?}", &format!("{identity:#?}"));
    let token = AccessToken::new(SP_ACCESS_TOKEN, clock().now());
    assert_no_secret("AccessToken {:#?}", &format!("{token:#?}"));
    assert_eq!(format!("{:?}", Secret::new(CLIENT_SECRET)), "Secret([redacted])");
    assert!(strings.len() >= 19, "{}", strings.len());
}
