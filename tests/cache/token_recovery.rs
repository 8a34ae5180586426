//! Recovery from a refused Entra token: when Power BI answers 401/403 saying the token itself
//! expired or is invalid (`TokenExpired`, `InvalidToken`, in the body or `X-PowerBI-Error-Info`),
//! the client drops that token from its local slot and from the shared store (only while the
//! store still holds that very token), fetches a new one and retries the call once. A second
//! refusal is returned with its hint; other refusals (no access) are not retried.
//!
//! The refusals are the recorded answers in `tests/fixtures/live/powerbi-errors/` (sources in
//! its `SOURCES.md`). Every fake is strict and counts its requests.

use std::path::PathBuf;
use std::sync::Arc;

use crate::support::ids::{REPORT, WORKSPACE};
use crate::support::*;
use powerbi_embed::testing::SafeMockServer;
use powerbi_embed::{
    AadClient, ClientSecretCredential, GenerateTokenRequest, MemoryStore, PowerBiClient, RetryPolicy, SharedCache,
    StaticTokenCredential,
};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

const KEY: [u8; 32] = [0x3c; 32];

fn recorded(name: &str) -> ResponseTemplate {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/live/powerbi-errors").join(name);
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let (head, body) = text.split_once("\n\n").unwrap_or((text.as_str(), ""));
    let mut lines = head.lines();
    let status: u16 =
        lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("a status line");
    let mut template = ResponseTemplate::new(status).set_body_bytes(body.strip_suffix('\n').unwrap_or(body));
    for line in lines {
        let (name, value) = line.split_once(':').expect("Name: value");
        if !name.trim().eq_ignore_ascii_case("content-length") {
            template = template.append_header(name.trim(), value.trim());
        }
    }
    template
}

/// Entra answers `tokens` in order, each exactly once.
async fn entra_answering(tokens: &[&str]) -> SafeMockServer {
    let entra = strict_server().await;
    for (at, token) in tokens.iter().enumerate() {
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(token_body(token, 3600)))
            .with_priority(u8::try_from(at + 1).unwrap())
            .up_to_n_times(1)
            .expect(1)
            .named(format!("Entra answer {}: {token}", at + 1))
            .mount(&entra)
            .await;
    }
    entra
}

fn aad(entra: &SafeMockServer, shared: Option<SharedCache>) -> AadClient {
    let builder = AadClient::builder(ClientSecretCredential::new(TENANT, CLIENT, "recovery-secret").unwrap())
        .authority_host(entra.uri());
    match shared {
        Some(shared) => builder.shared_cache(shared),
        None => builder,
    }
    .build()
    .unwrap()
}

fn powerbi(aad: AadClient, server: &SafeMockServer) -> PowerBiClient {
    PowerBiClient::builder(aad).api_base(server.uri()).retry_policy(RetryPolicy::none()).build().unwrap()
}

fn report_route() -> String {
    format!("/v1.0/myorg/groups/{WORKSPACE}/reports/{REPORT}")
}

/// `GET report` with `token` gets `answer`, exactly `times` times.
async fn report_answers(server: &SafeMockServer, token: &str, answer: ResponseTemplate, times: u64) {
    Mock::given(method("GET"))
        .and(path(report_route()))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .respond_with(answer)
        .expect(times)
        .named(format!("GET report with {token}"))
        .mount(server)
        .await;
}

fn report_ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": REPORT, "name": "Sales", "datasetId": "cfafbeb1-8037-4d0c-896e-a46fb27ff229",
        "embedUrl": format!("https://app.powerbi.com/reportEmbed?reportId={REPORT}&groupId={WORKSPACE}")
    }))
}

#[tokio::test]
async fn an_expired_token_is_dropped_renewed_and_the_call_retried_once() {
    let entra = entra_answering(&["entra-token-1", "entra-token-2"]).await;
    let pbi = strict_server().await;
    report_answers(&pbi, "entra-token-1", recorded("403-token-expired.empty.http"), 1).await;
    report_answers(&pbi, "entra-token-2", report_ok(), 2).await;
    let client = powerbi(aad(&entra, None), &pbi);
    assert_eq!(client.workspace(WORKSPACE).report(REPORT).get().await.unwrap().name, "Sales");
    // The new token is the cached one now: no further Entra request.
    assert_eq!(client.workspace(WORKSPACE).report(REPORT).get().await.unwrap().name, "Sales");
    assert_eq!(client.aad().token().await.unwrap().secret().expose_secret(), "entra-token-2");
}

#[tokio::test]
async fn an_invalid_token_on_generate_token_is_renewed_and_retried_once() {
    let entra = entra_answering(&["entra-token-1", "entra-token-2"]).await;
    let pbi = strict_server().await;
    let generate = format!("/v1.0/myorg/groups/{WORKSPACE}/reports/{REPORT}/GenerateToken");
    Mock::given(method("POST"))
        .and(path(generate.clone()))
        .and(header("authorization", "Bearer entra-token-1"))
        .respond_with(recorded("403-invalid-token.empty.http"))
        .expect(1)
        .mount(&pbi)
        .await;
    let expiration = (time::OffsetDateTime::now_utc() + time::Duration::minutes(50))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    Mock::given(method("POST"))
        .and(path(generate))
        .and(header("authorization", "Bearer entra-token-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token": "embed-token-value", "tokenId": "49ae3742-54c0-4c29-af52-619ff93b5c80", "expiration": expiration
        })))
        .expect(1)
        .mount(&pbi)
        .await;
    let client = powerbi(aad(&entra, None), &pbi);
    let request = GenerateTokenRequest::report_view().build().unwrap();
    let token = client.workspace(WORKSPACE).report(REPORT).embed_token(&request).await.unwrap();
    assert_eq!(token.secret().expose_secret(), "embed-token-value");
}

#[tokio::test]
async fn a_second_refusal_is_returned_with_its_hint() {
    let entra = entra_answering(&["entra-token-1", "entra-token-2"]).await;
    let pbi = strict_server().await;
    report_answers(&pbi, "entra-token-1", recorded("403-token-expired.empty.http"), 1).await;
    report_answers(&pbi, "entra-token-2", recorded("403-token-expired.body.learn-troubleshoot.http"), 1).await;
    let client = powerbi(aad(&entra, None), &pbi);
    let err = client.workspace(WORKSPACE).report(REPORT).get().await.unwrap_err();
    let refused = err.as_power_bi().expect("the Power BI error");
    assert_eq!((refused.status, refused.code.as_deref()), (403, Some("TokenExpired")));
    assert_eq!(
        err.hint(),
        Some("the Entra access token has expired: request a new one (the client retries once with a new token by itself; if this persists, check this machine's clock)")
    );
    assert!(!err.to_string().contains("entra-token"), "{err}");
}

#[tokio::test]
async fn no_access_is_not_a_token_problem_and_is_not_retried() {
    let entra = entra_answering(&["entra-token-1"]).await;
    let pbi = strict_server().await;
    report_answers(&pbi, "entra-token-1", recorded("401-group-not-accessible.empty.http"), 1).await;
    let client = powerbi(aad(&entra, None), &pbi);
    let err = client.workspace(WORKSPACE).report(REPORT).get().await.unwrap_err();
    assert_eq!(err.as_power_bi().and_then(|e| e.error_info.as_deref()), Some("GroupNotAccessible"));
}

#[tokio::test]
async fn a_static_token_that_is_refused_is_not_sent_again() {
    let pbi = strict_server().await;
    report_answers(&pbi, "the-static-token", recorded("403-token-expired.empty.http"), 1).await;
    let expires = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let aad = AadClient::new(StaticTokenCredential::new("the-static-token", expires)).unwrap();
    let err = powerbi(aad, &pbi).workspace(WORKSPACE).report(REPORT).get().await.unwrap_err();
    assert_eq!(err.as_power_bi().and_then(|e| e.error_info.as_deref()), Some("TokenExpired"));
}

#[tokio::test]
async fn when_no_new_token_can_be_had_the_entra_error_is_returned() {
    let entra = entra_answering(&["entra-token-1"]).await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(401).set_body_json(entra_error_body("invalid_client", 7000222)))
        .with_priority(10)
        .expect(1)
        .mount(&entra)
        .await;
    let pbi = strict_server().await;
    report_answers(&pbi, "entra-token-1", recorded("403-token-expired.empty.http"), 1).await;
    let err = powerbi(aad(&entra, None), &pbi).workspace(WORKSPACE).report(REPORT).get().await.unwrap_err();
    assert_eq!(err.as_entra().map(|e| e.error_codes.clone()), Some(vec![7000222]), "{err}");
}

/// Two replicas share one store. Replica A's token is refused: A drops it here and in the store,
/// and stores the new one. Replica B still holds the old token locally; when it is refused
/// too, B drops its copy but leaves the store's new token alone, and takes that one: two Entra
/// requests in all.
#[tokio::test]
async fn with_a_shared_store_no_replica_hands_a_refused_token_back() {
    let entra = entra_answering(&["entra-token-1", "entra-token-2"]).await;
    let pbi = strict_server().await;
    report_answers(&pbi, "entra-token-1", recorded("403-token-expired.empty.http"), 2).await;
    report_answers(&pbi, "entra-token-2", report_ok(), 2).await;
    let store = Arc::new(MemoryStore::new());
    let replica_a = powerbi(aad(&entra, Some(SharedCache::new(store.clone(), KEY))), &pbi);
    let replica_b = powerbi(aad(&entra, Some(SharedCache::new(store.clone(), KEY))), &pbi);
    // Both start with token 1: A fetched it, B read it from the store.
    assert_eq!(replica_a.aad().token().await.unwrap().secret().expose_secret(), "entra-token-1");
    assert_eq!(replica_b.aad().token().await.unwrap().secret().expose_secret(), "entra-token-1");

    assert_eq!(replica_a.workspace(WORKSPACE).report(REPORT).get().await.unwrap().name, "Sales");
    assert_eq!(replica_b.workspace(WORKSPACE).report(REPORT).get().await.unwrap().name, "Sales");
    assert_eq!(replica_b.aad().token().await.unwrap().secret().expose_secret(), "entra-token-2");
}

/// The refused token leaves the store even when no new one can be had: a replica that starts
/// afterwards asks Entra instead of taking the refused token from the store.
#[tokio::test]
async fn a_refused_token_leaves_the_shared_store() {
    let entra = entra_answering(&["entra-token-1"]).await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(503))
        .with_priority(5)
        .up_to_n_times(1)
        .expect(1)
        .mount(&entra)
        .await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("entra-token-3", 3600)))
        .with_priority(10)
        .expect(1)
        .mount(&entra)
        .await;
    let pbi = strict_server().await;
    report_answers(&pbi, "entra-token-1", recorded("403-token-expired.empty.http"), 1).await;
    let store = Arc::new(MemoryStore::new());
    let no_retries = |shared| {
        AadClient::builder(ClientSecretCredential::new(TENANT, CLIENT, "recovery-secret").unwrap())
            .authority_host(entra.uri())
            .retry_policy(RetryPolicy::none())
            .shared_cache(shared)
            .build()
            .unwrap()
    };
    let replica_a = powerbi(no_retries(SharedCache::new(store.clone(), KEY)), &pbi);
    let err = replica_a.workspace(WORKSPACE).report(REPORT).get().await.unwrap_err();
    assert_eq!(err.status(), Some(503), "the renewal's own error: {err}");
    assert!(store.is_empty(), "the refused token was dropped from the store");
    let replica_c = no_retries(SharedCache::new(store.clone(), KEY));
    assert_eq!(replica_c.token().await.unwrap().secret().expose_secret(), "entra-token-3");
}

/// The store's compare-and-delete, in `MemoryStore` and in the trait's default (a store that
/// implements only the other methods).
#[tokio::test]
async fn stores_delete_a_value_only_while_it_is_the_one_seen() {
    use powerbi_embed::{StoreError, TokenStore};
    use std::time::Duration;

    #[derive(Debug, Default)]
    struct Plain(MemoryStore);

    #[async_trait::async_trait]
    impl TokenStore for Plain {
        async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
            self.0.get(name).await
        }
        async fn put(&self, name: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
            self.0.put(name, value, ttl).await
        }
        async fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
            self.0.try_lease(name, holder, ttl).await
        }
        async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
            self.0.release_lease(name, holder).await
        }
        async fn delete(&self, name: &str) -> Result<(), StoreError> {
            self.0.delete(name).await
        }
    }

    let stores: [Box<dyn TokenStore>; 2] = [Box::new(MemoryStore::new()), Box::new(Plain::default())];
    for store in stores {
        store.put("n", b"old", Duration::from_secs(60)).await.unwrap();
        assert!(!store.delete_if_equal("n", b"new").await.unwrap(), "{store:?}");
        assert_eq!(store.get("n").await.unwrap().as_deref(), Some(&b"old"[..]));
        assert!(store.delete_if_equal("n", b"old").await.unwrap());
        assert_eq!(store.get("n").await.unwrap(), None);
        assert!(!store.delete_if_equal("n", b"old").await.unwrap());
    }
}

/// Two calls refused at once with the same token: one drops it and fetches, the other finds the
/// new token in the cache (it never drops the new one): two Entra requests in all, however the
/// calls interleave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refusals_renew_the_token_once() {
    let entra = entra_answering(&["entra-token-1", "entra-token-2"]).await;
    let pbi = strict_server().await;
    // The second call may be sent with the old token (and be refused) or, when the first call
    // has renewed it by then, with the new one: either way the new token serves both calls.
    Mock::given(method("GET"))
        .and(path(report_route()))
        .and(header("authorization", "Bearer entra-token-1"))
        .respond_with(recorded("403-token-expired.empty.http").set_delay(std::time::Duration::from_millis(50)))
        .expect(1..=2)
        .mount(&pbi)
        .await;
    report_answers(&pbi, "entra-token-2", report_ok(), 2).await;
    let client = powerbi(aad(&entra, None), &pbi);
    client.aad().token().await.unwrap();
    let (a, b) = tokio::join!(
        client.workspace(WORKSPACE).report(REPORT).get(),
        client.workspace(WORKSPACE).report(REPORT).get()
    );
    assert_eq!((a.unwrap().name, b.unwrap().name), ("Sales".to_owned(), "Sales".to_owned()));
}
