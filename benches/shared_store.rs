//! The shared tier's cost on Redis. A token served from Redis to a replica whose local cache
//! does not hold it (a fresh `AadClient`: `GET` on loopback, AES-256-GCM open, parse), over
//! plain TCP and over TLS (`rediss://`, the handshake made once by the connection manager, so
//! what is left is the record encryption), next to the same with the in-process `MemoryStore`,
//! the raw `RedisStore::get` round trip on both, and a local hit. Skips with a message when
//! `redis-server` is not installed.
//!
//! `cargo bench --bench shared_store`

#[path = "../tests/support/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

use std::hint::black_box;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use criterion::{BatchSize, Criterion};
use powerbi_embed::{AadClient, MemoryStore, RedisStore, SharedCache, StaticTokenCredential, StoreError, TokenStore};
use redis_server::{RedisServer, TestPki};
use tokio::runtime::Runtime;

const KEY: [u8; 32] = [0x42; 32];

/// Counts the writes through a store, so the bench can prove every timed call was a hit (a
/// miss would fetch and write).
#[derive(Debug)]
struct CountingWrites<S> {
    inner: S,
    puts: AtomicUsize,
}

#[async_trait]
impl<S: TokenStore> TokenStore for CountingWrites<S> {
    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(name).await
    }
    async fn put(&self, name: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.puts.fetch_add(1, Ordering::Relaxed);
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

/// A replica with an empty local cache (the HTTP client is shared: building one is not what
/// is measured, and a static credential never goes to the network anyway).
fn replica(shared: &SharedCache, http: &reqwest::Client) -> AadClient {
    let expires_on = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    AadClient::builder(StaticTokenCredential::new("a-token-of-realistic-length-".repeat(40), expires_on))
        .shared_cache(shared.clone())
        .http_client(http.clone())
        .build()
        .expect("client")
}

fn bench_store<S: TokenStore + 'static>(
    criterion: &mut Criterion,
    runtime: &Runtime,
    label: &str,
    store: Arc<CountingWrites<S>>,
) {
    let http = reqwest::Client::new();
    let shared = SharedCache::new(store.clone(), KEY);
    runtime.block_on(replica(&shared, &http).token()).expect("the first replica fills the store");
    assert_eq!(store.puts.load(Ordering::Relaxed), 1);
    criterion.bench_function(&format!("shared_store/{label}_hit_fresh_client"), |b| {
        b.to_async(runtime).iter_batched(
            || replica(&shared, &http),
            |client| async move {
                let token = client.token().await.expect("a token");
                (client, black_box(token))
            },
            BatchSize::SmallInput,
        )
    });
    assert_eq!(store.puts.load(Ordering::Relaxed), 1, "every timed call was served by the store");
}

fn main() {
    if !Command::new("redis-server").arg("--version").output().is_ok_and(|o| o.status.success()) {
        println!("shared_store: skipped, redis-server is not installed (apt-get install redis-server)");
        return;
    }
    let mut criterion = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let server = RedisServer::start();
    let redis = runtime.block_on(RedisStore::connect(&server.url())).expect("the bench's redis-server");
    let redis = Arc::new(CountingWrites { inner: redis, puts: AtomicUsize::new(0) });

    let http = reqwest::Client::new();
    let warm = replica(&SharedCache::new(redis.clone(), KEY), &http);
    runtime.block_on(warm.token()).expect("a token");
    criterion.bench_function("shared_store/local_hit", |b| b.to_async(&runtime).iter(|| warm.token()));

    bench_store(&mut criterion, &runtime, "redis", redis.clone());

    let pki = TestPki::new("bench");
    let tls_server = RedisServer::start_tls(&pki, &pki.leaf("server", &["localhost"]), &[]);
    let tls = runtime
        .block_on(RedisStore::builder(tls_server.tls_url("localhost")).ca_file(pki.ca_path()).connect())
        .expect("the bench's TLS redis-server");
    let tls = Arc::new(CountingWrites { inner: tls, puts: AtomicUsize::new(0) });
    bench_store(&mut criterion, &runtime, "redis_tls", tls.clone());
    bench_store(
        &mut criterion,
        &runtime,
        "memory_store",
        Arc::new(CountingWrites { inner: MemoryStore::new(), puts: AtomicUsize::new(0) }),
    );

    runtime.block_on(redis.put("bench:{raw}", &[7u8; 1200], Duration::from_secs(600))).expect("put");
    criterion.bench_function("shared_store/redis_get_raw", |b| {
        b.to_async(&runtime).iter(|| async { black_box(redis.get("bench:{raw}").await.expect("get")) })
    });
    runtime.block_on(tls.put("bench:{raw}", &[7u8; 1200], Duration::from_secs(600))).expect("put");
    criterion.bench_function("shared_store/redis_tls_get_raw", |b| {
        b.to_async(&runtime).iter(|| async { black_box(tls.get("bench:{raw}").await.expect("get")) })
    });
    criterion.final_summary();
}
