//! The caches and stores under absurd values, slow stores and a failing Entra, on the manual
//! clock (no real waiting): the shared tier honours each caller's need, waits are bounded by the
//! clock, nothing panics, `MemoryStore` forgets what expired, Debug shows no stored bytes, the
//! embed path rides out an Entra outage down to a floor, and ids are trimmed or refused alike
//! without being echoed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::ids::{REPORT, WORKSPACE};
use crate::support::*;
use async_trait::async_trait;
use powerbi_embed::{
    AadClient, AccessToken, Clock, GenerateTokenRequest, ManagedIdentityCredential, ManagedIdentityId, ManualClock,
    MemoryStore, PowerBiClient, RetryPolicy, SharedCache, StoreError, TokenCredential, TokenRequestContext, TokenStore,
};
use powerbi_embed::{ProfileId, ReportId, WorkspaceId};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

const KEY: [u8; 32] = [0x3c; 32];

/// A credential that issues `t1`, `t2`, ... each valid for an hour by the manual clock, and
/// counts the requests.
#[derive(Debug)]
struct CountingCredential {
    clock: ManualClock,
    prefix: &'static str,
    issued: AtomicUsize,
}

impl CountingCredential {
    fn new(clock: &ManualClock, prefix: &'static str) -> Arc<Self> {
        Arc::new(Self { clock: clock.clone(), prefix, issued: AtomicUsize::new(0) })
    }

    fn issued(&self) -> usize {
        self.issued.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl TokenCredential for CountingCredential {
    fn cache_identity(&self) -> String {
        "counting/credential".to_owned()
    }

    async fn get_token(&self, _: &TokenRequestContext<'_>) -> powerbi_embed::Result<AccessToken> {
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(AccessToken::new(format!("{}{n}", self.prefix), self.clock.now() + Duration::from_secs(3600)))
    }
}

fn replica(credential: &Arc<CountingCredential>, shared: SharedCache) -> AadClient {
    AadClient::builder_shared(credential.clone())
        .clock(Arc::new(credential.clock.clone()))
        .shared_cache(shared)
        .build()
        .unwrap()
}

// --- 1. The shared tier honours the caller's need -------------------------------------------

#[tokio::test]
async fn a_stored_token_that_expires_too_soon_is_a_miss_and_the_fresh_one_is_written_back() {
    let clock = clock();
    let credential = CountingCredential::new(&clock, "t");
    let store = Arc::new(MemoryStore::with_clock(Arc::new(clock.clone())));
    let first = replica(&credential, SharedCache::new(store.clone(), KEY));
    assert_eq!(first.token().await.unwrap().secret().expose_secret(), "t1");

    // 40 minutes into the 1-hour token, another replica needs 31 minutes: the stored token has
    // 20 left, so it must not be served; a fresh one is fetched.
    clock.advance(Duration::from_secs(40 * 60));
    let need = Duration::from_secs(31 * 60);
    let second = replica(&credential, SharedCache::new(store.clone(), KEY));
    let token = second.token_valid_for(need).await.unwrap();
    assert_eq!(token.secret().expose_secret(), "t2", "the 20-minute token was served for a 31-minute need");
    assert!(token.expires_on() >= clock.now() + need);
    assert_eq!(credential.issued(), 2);

    // The fresh token replaced the short one in the store: a third replica is served it.
    let third = replica(&credential, SharedCache::new(store.clone(), KEY));
    assert_eq!(third.token_valid_for(need).await.unwrap().secret().expose_secret(), "t2");
    assert_eq!(credential.issued(), 2, "served from the store");
    // And a caller with no particular need is served from the store too.
    assert_eq!(
        replica(&credential, SharedCache::new(store.clone(), KEY)).token().await.unwrap().secret().expose_secret(),
        "t2"
    );
    assert_eq!(credential.issued(), 2);
}

/// Counts the reads through a store.
#[derive(Debug)]
struct CountingReads {
    inner: MemoryStore,
    gets: AtomicUsize,
}

#[async_trait]
impl TokenStore for CountingReads {
    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
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
async fn an_embed_call_on_another_replica_is_sent_with_a_fresh_entra_token_and_then_stays_local() {
    let clock = clock();
    let entra = strict_server().await;
    for token in ["first", "fresh"] {
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(token_body(token, 3600)))
            .up_to_n_times(1)
            .expect(1)
            .mount(&entra)
            .await;
    }
    let powerbi = strict_server().await;
    let expiration =
        (clock.now() + Duration::from_secs(7200)).format(&time::format_description::well_known::Rfc3339).unwrap();
    for (bearer, calls) in [("first", 1), ("fresh", 3)] {
        Mock::given(method("POST"))
            .and(path(format!("/v1.0/myorg/groups/{WORKSPACE}/reports/{REPORT}/GenerateToken")))
            .and(header("authorization", format!("Bearer {bearer}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "token": "embed", "tokenId": "49ae3742-54c0-4c29-af52-619ff93b5c80", "expiration": expiration
            })))
            .expect(calls)
            .mount(&powerbi)
            .await;
    }
    let store = Arc::new(CountingReads { inner: MemoryStore::with_clock(Arc::new(clock.clone())), gets: 0.into() });
    let client = |shared: SharedCache| {
        let aad = aad_client_shared(&entra, &clock, shared);
        PowerBiClient::builder(aad).api_base(powerbi.uri()).build().unwrap()
    };
    let request = GenerateTokenRequest::report_view().lifetime_minutes(30).build().unwrap();
    client(SharedCache::new(store.clone(), KEY))
        .workspace(WORKSPACE)
        .report(REPORT)
        .embed_token(&request)
        .await
        .unwrap();

    // 40 minutes later a second replica needs 31 minutes: the stored Entra token (20 left) is
    // not used; a fresh one is, and later calls are served from the replica's own cache.
    clock.advance(Duration::from_secs(40 * 60));
    let second = client(SharedCache::new(store.clone(), KEY));
    second.workspace(WORKSPACE).report(REPORT).embed_token(&request).await.unwrap();
    let reads = store.gets.load(Ordering::SeqCst);
    for _ in 0..2 {
        second.workspace(WORKSPACE).report(REPORT).embed_token(&request).await.unwrap();
    }
    assert_eq!(store.gets.load(Ordering::SeqCst), reads, "local hits do not read the store");
}

fn aad_client_shared(entra: &wiremock::MockServer, clock: &ManualClock, shared: SharedCache) -> AadClient {
    AadClient::builder(powerbi_embed::ClientSecretCredential::new(TENANT, CLIENT, "s").unwrap())
        .authority_host(entra.uri())
        .clock(Arc::new(clock.clone()))
        .retry_policy(RetryPolicy::none())
        .shared_cache(shared)
        .build()
        .unwrap()
}

// --- 2. wait_for_peer is a bound by the clock ------------------------------------------------

/// A store that takes 100 ms (by the manual clock) per call, whose lease is held by a replica
/// that died: `try_lease` never succeeds.
#[derive(Debug)]
struct SlowStoreWithDeadHolder {
    clock: ManualClock,
    inner: MemoryStore,
    calls: AtomicUsize,
}

impl SlowStoreWithDeadHolder {
    async fn answer(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.clock.advance(Duration::from_millis(100));
        tokio::task::yield_now().await;
    }
}

#[async_trait]
impl TokenStore for SlowStoreWithDeadHolder {
    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.answer().await;
        self.inner.get(name).await
    }
    async fn put(&self, name: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.answer().await;
        self.inner.put(name, value, ttl).await
    }
    async fn try_lease(&self, _: &str, _: &str, _: Duration) -> Result<bool, StoreError> {
        self.answer().await;
        Ok(false)
    }
    async fn release_lease(&self, _: &str, _: &str) -> Result<(), StoreError> {
        self.answer().await;
        Ok(())
    }
    async fn delete(&self, name: &str) -> Result<(), StoreError> {
        self.answer().await;
        self.inner.delete(name).await
    }
}

#[tokio::test]
async fn a_one_second_wait_for_a_dead_peer_on_a_slow_store_ends_after_about_one_second() {
    let clock = clock();
    let credential = CountingCredential::new(&clock, "t");
    let store = Arc::new(SlowStoreWithDeadHolder {
        clock: clock.clone(),
        inner: MemoryStore::with_clock(Arc::new(clock.clone())),
        calls: AtomicUsize::new(0),
    });
    let shared = SharedCache::new(store.clone(), KEY).wait_for_peer(Duration::from_secs(1), Duration::from_millis(25));
    let client = replica(&credential, shared);

    let started = clock.now();
    assert_eq!(client.token().await.unwrap().secret().expose_secret(), "t1");
    let elapsed = clock.now() - started;
    // Read and lease (200 ms), the 1 s wait, at most one more poll and read past it (125 ms),
    // then the write (100 ms). Counting polls instead would take 40 x 225 ms = 9 s.
    assert!(elapsed >= time::Duration::milliseconds(1200), "{elapsed}");
    assert!(elapsed <= time::Duration::milliseconds(1450), "{elapsed}");
    assert_eq!(credential.issued(), 1);
    assert!(store.calls.load(Ordering::SeqCst) <= 12, "{} store calls", store.calls.load(Ordering::SeqCst));
}

// --- 3. No panics from absurd values ----------------------------------------------------------

#[tokio::test]
async fn absurd_durations_in_the_shared_tier_and_the_store_do_not_panic() {
    let clock = clock();
    let credential = CountingCredential::new(&clock, "t");
    let store = Arc::new(MemoryStore::new());
    let shared = SharedCache::new(store.clone(), KEY).lease_ttl(Duration::MAX).op_timeout(Duration::MAX);
    let client = replica(&credential, shared);
    assert_eq!(client.token().await.unwrap().secret().expose_secret(), "t1");
    // A need beyond what any token has is capped at what a fresh one has: this one will do.
    assert_eq!(client.token_valid_for(Duration::MAX).await.unwrap().secret().expose_secret(), "t1");

    store.put("forever", b"v", Duration::MAX).await.unwrap();
    assert_eq!(store.get("forever").await.unwrap().as_deref(), Some(&b"v"[..]));
    assert!(store.try_lease("forever", "holder", Duration::MAX).await.unwrap());
    assert!(!store.try_lease("forever", "other", Duration::MAX).await.unwrap());

    // A store on a clock at the end of the calendar: expiries saturate, nothing panics.
    let late = ManualClock::new(time::macros::datetime!(9999-12-31 23:59:59 UTC));
    let late_store = MemoryStore::with_clock(Arc::new(late));
    late_store.put("late", b"v", Duration::MAX).await.unwrap();
    assert_eq!(late_store.len(), 1);
}

#[tokio::test]
#[ignore = "needs redis-server"]
async fn redis_takes_a_lease_of_duration_max_as_a_long_lease_not_an_error() {
    let redis = crate::support::redis_server::RedisServer::start();
    let store = powerbi_embed::RedisStore::connect(&redis.url()).await.unwrap();
    // Redis refuses `PX` near i64::MAX ("invalid expire time"); the store sends at most 100 years.
    assert!(store.try_lease("t:{max}", "a", Duration::MAX).await.unwrap());
    assert!(!store.try_lease("t:{max}", "b", Duration::MAX).await.unwrap(), "held by a");
    store.put("t:{max}", b"v", Duration::MAX).await.unwrap();
    assert_eq!(store.get("t:{max}").await.unwrap().as_deref(), Some(&b"v"[..]));
}

// --- 4. The embed path rides out an Entra outage ----------------------------------------------

#[tokio::test]
async fn an_entra_outage_shortens_embed_tokens_down_to_the_floor_without_a_request_storm() {
    let clock = clock();
    let entra = strict_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("cached-entra", 3600)))
        .up_to_n_times(1)
        .expect(1)
        .mount(&entra)
        .await;
    // Then Entra is down: exactly three renewal attempts reach it (see below).
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(503).set_body_json(entra_error_body("temporarily_unavailable", 50001)))
        .expect(3)
        .mount(&entra)
        .await;
    let powerbi = strict_server().await;
    let expiration =
        (clock.now() + Duration::from_secs(3600)).format(&time::format_description::well_known::Rfc3339).unwrap();
    Mock::given(method("POST"))
        .and(path(format!("/v1.0/myorg/groups/{WORKSPACE}/reports/{REPORT}/GenerateToken")))
        .and(header("authorization", "Bearer cached-entra"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token": "embed", "tokenId": "49ae3742-54c0-4c29-af52-619ff93b5c80", "expiration": expiration
        })))
        .expect(6)
        .mount(&powerbi)
        .await;
    let aad = AadClient::builder(powerbi_embed::ClientSecretCredential::new(TENANT, CLIENT, "s").unwrap())
        .authority_host(entra.uri())
        .clock(Arc::new(clock.clone()))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let client =
        PowerBiClient::builder(aad.clone()).api_base(powerbi.uri()).retry_policy(RetryPolicy::none()).build().unwrap();
    let request = GenerateTokenRequest::report_view().lifetime_minutes(30).build().unwrap();
    let embed = || client.workspace(WORKSPACE).report(REPORT).embed_token(&request);

    // Entra request 1 (200).
    embed().await.unwrap();
    // 40 minutes in, 20 left: the 31 minutes the request needs would take a renewal, which
    // fails (Entra request 2); the cached token still gives 20-minute embed tokens, above the
    // 10-minute floor, so it is used.
    clock.advance(Duration::from_secs(40 * 60));
    embed().await.unwrap();
    // Renewal is paused for 30 s: no Entra request, for embeds and for `token()` alike.
    for _ in 0..3 {
        embed().await.unwrap();
    }
    assert_eq!(aad.token().await.unwrap().secret().expose_secret(), "cached-entra");
    // After the pause, one more try (Entra request 3), and the cached token again.
    clock.advance(Duration::from_secs(31));
    embed().await.unwrap();
    assert_eq!(PowerBiClient::EMBED_TOKEN_FLOOR, Duration::from_secs(600));
    // 9.5 minutes left: below the floor (10 minutes plus a minute of slack) the renewal's error
    // is returned, and while renewal is paused, returned again without a request.
    clock.advance(Duration::from_secs(10 * 60));
    let Err(error) = embed().await else { panic!("below the floor the embed call fails") };
    assert_eq!(error.status(), Some(503), "{error}");
    let Err(again) = embed().await else { panic!("still below the floor") };
    assert_eq!(again.status(), Some(503), "{again}");
    // `token_valid_for` never settles for less; while paused it too gets the error, unsent.
    let strict = aad.token_valid_for(Duration::from_secs(31 * 60)).await.unwrap_err();
    assert_eq!(strict.status(), Some(503), "{strict}");
    // `token()` needs only a valid token: it still gets the cached one.
    assert_eq!(aad.token().await.unwrap().secret().expose_secret(), "cached-entra");
}

// --- 5. MemoryStore forgets what expired --------------------------------------------------------

#[tokio::test]
async fn memory_store_sweeps_expired_entries_a_few_per_write() {
    let clock = clock();
    let store = MemoryStore::with_clock(Arc::new(clock.clone()));
    for user in 0..10_000 {
        store.put(&format!("user-{user}"), b"token", Duration::from_secs(60)).await.unwrap();
    }
    store.put("live", b"token", Duration::from_secs(3600)).await.unwrap();
    assert_eq!((store.len(), store.held()), (10_001, 10_001));
    clock.advance(Duration::from_secs(120));
    assert_eq!((store.len(), store.held()), (1, 10_001), "expired, not yet swept");
    // Each write examines two entries: 5,000 writes pass over all 10,001.
    for _ in 0..5_001 {
        store.put("live", b"token", Duration::from_secs(3600)).await.unwrap();
    }
    assert_eq!((store.len(), store.held()), (1, 1));
    // A read of an expired entry drops it at once.
    store.put("short", b"token", Duration::from_secs(1)).await.unwrap();
    clock.advance(Duration::from_secs(2));
    assert_eq!(store.held(), 2);
    assert_eq!(store.get("short").await.unwrap(), None);
    assert_eq!(store.held(), 1);
    assert_eq!(store.get("live").await.unwrap().as_deref(), Some(&b"token"[..]));
}

// --- 6. Debug shows no stored bytes ----------------------------------------------------------------

#[tokio::test]
async fn debug_of_stores_and_caches_shows_no_stored_bytes() {
    let clock = clock();
    let credential = CountingCredential::new(&clock, "plaintext-token-");
    let store = Arc::new(MemoryStore::with_clock(Arc::new(clock.clone())));
    let shared = SharedCache::plaintext(store.clone());
    let client = replica(&credential, shared.clone());
    let token = client.token().await.unwrap();
    let secret = token.secret().expose_secret().to_owned();
    let (name, stored) = store.dump().into_iter().next().expect("the token is in the store");
    assert!(String::from_utf8_lossy(&stored).contains(&secret), "plaintext: the store holds the token in clear");

    // The token as text, and as the derived Debug of a byte vector would print it.
    let as_numbers = format!("{:?}", secret.as_bytes());
    let as_numbers = as_numbers.trim_start_matches('[').trim_end_matches(']');
    for debug in [format!("{store:?}"), format!("{shared:?}"), format!("{client:?}"), format!("{:#?}", store)] {
        assert!(!debug.contains(&secret), "{debug}");
        assert!(!debug.contains(as_numbers), "{debug}");
        assert!(!debug.contains(&name), "{debug}");
    }
    assert!(format!("{store:?}").contains("live: 1"), "{store:?}");
}

// --- 7. Ids: trimmed or refused alike, never echoed --------------------------------------------------

#[tokio::test]
async fn ids_with_surrounding_whitespace_work_on_every_path_and_malformed_ones_are_not_echoed() {
    let clock = clock();
    let entra = strict_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("entra", 3600)))
        .expect(1)
        .mount(&entra)
        .await;
    let powerbi = strict_server().await;
    let profile = "2c6c4a3e-5f8a-4a1e-9b1d-0c2d3e4f5a6b";
    Mock::given(method("GET"))
        .and(path(format!("/v1.0/myorg/groups/{WORKSPACE}/reports/{REPORT}")))
        .and(header("x-powerbi-profile-id", profile))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": REPORT, "name": "Sales", "embedUrl": "https://app.powerbi.com/reportEmbed?reportId=x",
            "datasetId": "cfafbeb1-8037-4d0c-896e-a46fb27ff229"
        })))
        .expect(1)
        .mount(&powerbi)
        .await;
    let aad = aad_client(&entra, powerbi_embed::ClientSecretCredential::new(TENANT, CLIENT, "s").unwrap(), &clock);
    let client = PowerBiClient::builder(aad.clone()).api_base(powerbi.uri()).build().unwrap();
    // Ids from a file or an environment variable: trimmed where they are parsed, on every path.
    let profile: ProfileId = format!(" {profile}\n").parse().unwrap();
    let workspace: WorkspaceId = format!("{WORKSPACE}\n").parse().unwrap();
    let report_id: ReportId = format!("\t{REPORT} ").parse().unwrap();
    let report = client.as_profile(profile).workspace(workspace).report(report_id).get().await.unwrap();
    assert_eq!(report.id, REPORT);

    let pasted_secret = "Abc8Q~not-a-guid-but-a-secret-value";
    let errors = [
        pasted_secret.parse::<ProfileId>().unwrap_err(),
        pasted_secret.parse::<WorkspaceId>().unwrap_err(),
        pasted_secret.parse::<ReportId>().unwrap_err(),
        format!(" {pasted_secret} ").parse::<ReportId>().unwrap_err(),
        ManagedIdentityCredential::new(ManagedIdentityId::ObjectId(pasted_secret.into())).unwrap_err(),
    ];
    let fields = ["profile_id", "workspace_id", "report_id", "report_id", "object_id"];
    for (error, field) in errors.iter().zip(fields) {
        assert_eq!(error.field(), Some(field), "{error}");
        assert!(!error.to_string().contains(pasted_secret) && !format!("{error:?}").contains(pasted_secret), "{error}");
    }
}
