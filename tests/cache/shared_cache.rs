//! The shared tier behind both caches, with the in-process `MemoryStore` standing in for Redis:
//! replicas (separate clients) share one Entra token and one embed token per key, values are
//! sealed and keys hashed, bad entries are misses, dead lease holders and broken stores cost a
//! wait or a warning, never an error.

use std::sync::Arc;
use std::time::Duration;

use crate::support::ids::DATASET;
use crate::support::*;
use async_trait::async_trait;
use powerbi_embed::testing::SafeMockServer;
use powerbi_embed::{
    AadClient, ClientSecretCredential, EffectiveIdentity, GenerateTokenRequest, MemoryStore, PowerBiClient,
    SharedCache, StoreError, TokenStore,
};
use serde_json::json;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: [u8; 32] = [0x5a; 32];
const SECRET: &str = "replica-secret";

fn replica(entra: &MockServer, shared: SharedCache) -> AadClient {
    AadClient::builder(ClientSecretCredential::new(TENANT, CLIENT, SECRET).unwrap())
        .authority_host(entra.uri())
        .shared_cache(shared)
        .build()
        .unwrap()
}

async fn entra_answering_once(token: &str) -> SafeMockServer {
    let entra = strict_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(token_body(token, 3600)).set_delay(Duration::from_millis(150)),
        )
        .expect(1)
        .mount(&entra)
        .await;
    entra
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_replicas_times_a_hundred_callers_make_one_entra_request() {
    let entra = entra_answering_once("one-for-all").await;
    let store = Arc::new(MemoryStore::new());
    let replicas: Vec<AadClient> = (0..8).map(|_| replica(&entra, SharedCache::new(store.clone(), KEY))).collect();
    let mut calls = Vec::new();
    for replica in &replicas {
        for _ in 0..100 {
            let replica = replica.clone();
            calls.push(tokio::spawn(async move { replica.token().await }));
        }
    }
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().secret().expose_secret(), "one-for-all");
    }
}

#[tokio::test]
async fn the_store_holds_no_token_and_no_identity_in_clear() {
    let entra = entra_answering_once("entra-token-value").await;
    let powerbi = strict_server().await;
    Mock::given(method("POST"))
        .and(path_regex("/GenerateToken$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token": "embed-token-value", "tokenId": "49ae3742-54c0-4c29-af52-619ff93b5c80",
            "expiration": (time::OffsetDateTime::now_utc() + time::Duration::hours(1)).format(&time::format_description::well_known::Rfc3339).unwrap()
        })))
        .expect(1)
        .mount(&powerbi)
        .await;
    let store = Arc::new(MemoryStore::new());
    let shared = SharedCache::new(store.clone(), KEY).prefix("app1:");
    let client = PowerBiClient::builder(replica(&entra, shared.clone()))
        .api_base(powerbi.uri())
        .shared_cache(shared)
        .build()
        .unwrap();
    let request = GenerateTokenRequest::report_view()
        .identity(
            EffectiveIdentity::new("alice@contoso.com")
                .role("SecretRole")
                .datasets([DATASET])
                .custom_data("tier-gold")
                .identity_blob("sql-token-blob"),
        )
        .build()
        .unwrap();
    client
        .workspace("f089354e-8366-4e18-aea3-4cb4a3a50b48".parse().unwrap())
        .report("5b218778-e7a5-4d73-8187-f10824047715".parse().unwrap())
        .embed_token(&request)
        .await
        .unwrap();

    let dump = store.dump();
    assert_eq!(
        dump.len(),
        2,
        "one Entra entry and one embed entry, no leases left: {:?}",
        dump.iter().map(|(k, _)| k).collect::<Vec<_>>()
    );
    for (name, value) in &dump {
        assert!(name.starts_with("app1:{") && name.ends_with('}') && name.len() == "app1:{}".len() + 64, "{name}");
        let value_text = String::from_utf8_lossy(value);
        for needle in [
            "entra-token-value",
            "embed-token-value",
            "alice",
            "SecretRole",
            "tier-gold",
            "sql-token-blob",
            "replica-secret",
            TENANT,
            CLIENT,
        ] {
            assert!(!name.contains(needle) && !value_text.contains(needle), "{needle} leaked into the store");
        }
        assert_eq!(value[0], 1, "sealed, format version 1");
    }
}

#[tokio::test]
async fn a_second_replica_is_served_from_the_store_not_from_entra() {
    let entra = entra_answering_once("shared").await;
    let store = Arc::new(MemoryStore::new());
    let first = replica(&entra, SharedCache::new(store.clone(), KEY));
    assert_eq!(first.token().await.unwrap().secret().expose_secret(), "shared");
    let second = replica(&entra, SharedCache::new(store.clone(), KEY));
    let token = second.token().await.unwrap();
    assert_eq!(token.secret().expose_secret(), "shared");
    assert_eq!(token.expires_on().unix_timestamp(), first.token().await.unwrap().expires_on().unix_timestamp());
}

#[tokio::test]
async fn tampered_garbage_or_foreign_key_entries_are_misses() {
    for spoil in ["tamper", "garbage", "other-key", "plaintext"] {
        let entra = strict_server().await;
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(token_body("fresh", 3600)))
            .expect(2)
            .mount(&entra)
            .await;
        let store = Arc::new(MemoryStore::new());
        let writer = match spoil {
            "other-key" => SharedCache::new(store.clone(), [1; 32]),
            "plaintext" => SharedCache::plaintext(store.clone()),
            _ => SharedCache::new(store.clone(), KEY),
        };
        replica(&entra, writer).token().await.unwrap();
        let (name, mut value) = store.dump().into_iter().next().unwrap();
        match spoil {
            "tamper" => {
                let last = value.len() - 1;
                value[last] ^= 0x01;
                store.overwrite(&name, value);
            }
            "garbage" => store.overwrite(&name, b"not a sealed value".to_vec()),
            _ => {}
        }
        // The reader cannot use the entry: it fetches from Entra (the second expected request).
        let token = replica(&entra, SharedCache::new(store.clone(), KEY)).token().await.unwrap();
        assert_eq!(token.secret().expose_secret(), "fresh", "{spoil}");
    }
}

#[tokio::test]
async fn a_lease_left_by_a_dead_replica_delays_but_does_not_block() {
    let entra = strict_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("after-wait", 3600)))
        .expect(2)
        .mount(&entra)
        .await;
    // Learn the entry name the client will use from a scratch replica writing to another store.
    let probe_store = Arc::new(MemoryStore::new());
    replica(&entra, SharedCache::new(probe_store.clone(), KEY)).token().await.unwrap();
    let name = probe_store.dump().into_iter().next().unwrap().0;
    let store = Arc::new(MemoryStore::new());
    let shared =
        SharedCache::new(store.clone(), KEY).wait_for_peer(Duration::from_millis(200), Duration::from_millis(20));
    let client = replica(&entra, shared);
    assert!(store.try_lease(&name, "crashed-replica", Duration::from_secs(30)).await.unwrap());

    let started = std::time::Instant::now();
    assert_eq!(client.token().await.unwrap().secret().expose_secret(), "after-wait");
    assert!(started.elapsed() >= Duration::from_millis(200), "it waited for the holder first");
}

/// A store that fails or hangs on every call.
#[derive(Debug)]
struct BrokenStore {
    hang: bool,
}

#[async_trait]
impl TokenStore for BrokenStore {
    async fn get(&self, _: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.fail().await
    }
    async fn put(&self, _: &str, _: &[u8], _: Duration) -> Result<(), StoreError> {
        self.fail().await
    }
    async fn try_lease(&self, _: &str, _: &str, _: Duration) -> Result<bool, StoreError> {
        self.fail().await
    }
    async fn release_lease(&self, _: &str, _: &str) -> Result<(), StoreError> {
        self.fail().await
    }
    async fn delete(&self, _: &str) -> Result<(), StoreError> {
        self.fail().await
    }
}

impl BrokenStore {
    async fn fail<T>(&self) -> Result<T, StoreError> {
        if self.hang {
            std::future::pending::<()>().await;
        }
        Err(StoreError::new("connection refused"))
    }
}

#[tokio::test]
async fn a_broken_or_hanging_store_still_yields_tokens() {
    for hang in [false, true] {
        let entra = entra_answering_once("direct").await;
        let shared = SharedCache::new(Arc::new(BrokenStore { hang }), KEY).op_timeout(Duration::from_millis(50));
        let client = replica(&entra, shared);
        let token = tokio::time::timeout(Duration::from_secs(5), client.token()).await.expect("bounded").unwrap();
        assert_eq!(token.secret().expose_secret(), "direct");
        assert_eq!(client.token().await.unwrap().secret().expose_secret(), "direct", "local hit");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_one_embed_token_per_identity() {
    let entra = strict_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(token_body("entra", 3600)).set_delay(Duration::from_millis(50)),
        )
        .expect(1)
        .mount(&entra)
        .await;
    let powerbi = strict_server().await;
    let expiration = (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    for user in ["alice", "bob"] {
        Mock::given(method("POST"))
            .and(path_regex("/GenerateToken$"))
            .and(wiremock::matchers::body_string_contains(format!("\"username\":\"{user}\"")))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"token": format!("embed-{user}"), "tokenId": "49ae3742-54c0-4c29-af52-619ff93b5c80", "expiration": expiration}))
                    .set_delay(Duration::from_millis(100)),
            )
            .expect(1)
            .mount(&powerbi)
            .await;
    }
    let store = Arc::new(MemoryStore::new());
    let mut calls = Vec::new();
    for _ in 0..4 {
        let shared = SharedCache::new(store.clone(), KEY);
        let client = PowerBiClient::builder(replica(&entra, shared.clone()))
            .api_base(powerbi.uri())
            .shared_cache(shared)
            .build()
            .unwrap();
        for i in 0..50 {
            let client = client.clone();
            let user = if i % 2 == 0 { "alice" } else { "bob" };
            calls.push(tokio::spawn(async move {
                let request = GenerateTokenRequest::report_view()
                    .identity(EffectiveIdentity::new(user).datasets([DATASET]))
                    .build()
                    .unwrap();
                let token = client
                    .workspace("f089354e-8366-4e18-aea3-4cb4a3a50b48".parse().unwrap())
                    .report("5b218778-e7a5-4d73-8187-f10824047715".parse().unwrap())
                    .embed_token(&request)
                    .await
                    .unwrap();
                (user, token.secret().expose_secret().to_owned())
            }));
        }
    }
    for call in calls {
        let (user, token) = call.await.unwrap();
        assert_eq!(token, format!("embed-{user}"));
    }
}

/// A store whose first read misses whatever it holds: the moment between a replica's read and
/// its lease, during which a peer wrote the value and released its own lease.
#[derive(Debug)]
struct FirstReadIsStale {
    inner: Arc<MemoryStore>,
    reads: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl TokenStore for FirstReadIsStale {
    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            return Ok(None);
        }
        self.inner.get(name).await
    }
    async fn put(&self, name: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.inner.put(name, value, ttl).await
    }
    async fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.inner.try_lease(name, holder, ttl).await
    }
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.inner.release_lease(name, holder).await
    }
    async fn delete(&self, name: &str) -> Result<(), StoreError> {
        self.inner.delete(name).await
    }
}

#[tokio::test]
async fn a_value_written_between_the_read_and_the_lease_is_used_not_fetched_again() {
    let entra = entra_answering_once("written-by-a-peer").await;
    let store = Arc::new(MemoryStore::new());
    replica(&entra, SharedCache::new(store.clone(), KEY)).token().await.unwrap();
    let late = Arc::new(FirstReadIsStale { inner: store.clone(), reads: Default::default() });
    let token = replica(&entra, SharedCache::new(late.clone(), KEY)).token().await.unwrap();
    assert_eq!(token.secret().expose_secret(), "written-by-a-peer");
    assert_eq!(late.reads.load(std::sync::atomic::Ordering::SeqCst), 2, "read, lease, read again");
    assert_eq!(store.len(), 1, "the lease was released: {:?}", store.dump().iter().map(|(k, _)| k).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_cancelled_while_holding_the_lease_releases_it() {
    let entra = strict_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(token_body("never-read", 3600)).set_delay(Duration::from_secs(5)),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&entra)
        .await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("second-try", 3600)))
        .expect(1)
        .mount(&entra)
        .await;
    let store = Arc::new(MemoryStore::new());
    // Far longer than the test may take: a caller that waited it out would show in `elapsed`.
    let wait = Duration::from_secs(60);
    let client = replica(&entra, SharedCache::new(store.clone(), KEY).wait_for_peer(wait, Duration::from_millis(10)));

    // The caller gives up (its own request timed out) while this replica holds the lease.
    let cancelled = tokio::time::timeout(Duration::from_millis(300), client.token()).await;
    assert!(cancelled.is_err(), "the first fetch is still in flight");
    // The release runs in the background when the call is dropped; 10 s only bounds a hang.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !store.is_empty() {
        assert!(std::time::Instant::now() < deadline, "the abandoned lease is still held: {:?}", store.dump());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The next caller takes the lease at once instead of waiting for a fetch nobody is doing.
    let started = std::time::Instant::now();
    assert_eq!(client.token().await.unwrap().secret().expose_secret(), "second-try");
    assert!(started.elapsed() < wait / 2, "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_lease_holder_fails_a_waiter_takes_the_lease_instead_of_waiting_it_out() {
    let entra = strict_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("taken-over", 3600)))
        .expect(2)
        .mount(&entra)
        .await;
    let probe_store = Arc::new(MemoryStore::new());
    replica(&entra, SharedCache::new(probe_store.clone(), KEY)).token().await.unwrap();
    let name = probe_store.dump().into_iter().next().unwrap().0;

    let store = Arc::new(MemoryStore::new());
    // Far longer than the test may take: a waiter that waited it out would show in `elapsed`.
    let wait = Duration::from_secs(60);
    let client = replica(&entra, SharedCache::new(store.clone(), KEY).wait_for_peer(wait, Duration::from_millis(10)));
    // A peer holds the lease, then its fetch fails: it releases the lease and stores nothing.
    assert!(store.try_lease(&name, "failing-peer", Duration::from_secs(30)).await.unwrap());
    let peer_store = store.clone();
    let peer_name = name.clone();
    let peer = tokio::spawn(async move {
        // Gives the waiter time to look (it must only wait); how long does not matter.
        tokio::time::sleep(Duration::from_millis(150)).await;
        // What the waiter did while the lease was held: a value here means it fetched anyway.
        let stored_while_held = peer_store.get(&peer_name).await.unwrap();
        peer_store.release_lease(&peer_name, "failing-peer").await.unwrap();
        stored_while_held
    });

    let started = std::time::Instant::now();
    assert_eq!(client.token().await.unwrap().secret().expose_secret(), "taken-over");
    let elapsed = started.elapsed();
    assert_eq!(peer.await.unwrap(), None, "the waiter fetched while the peer held the lease");
    assert!(elapsed < wait / 2, "it took the lease once released instead of waiting out wait_for_peer ({elapsed:?})");
    assert_eq!(store.len(), 1, "the value, and no lease left: {:?}", store.dump());
}
