//! A replica that starts while Redis is down: the store is built without a connection, tokens
//! come from the local cache and direct fetches meanwhile (one warning), and sharing starts by
//! itself once Redis is up, without a restart. The health surface (`ping`, `is_degraded`,
//! `last_error`, the counters, degraded / recovered events) says so along the way.
//!
//! Ignored by default ("needs redis-server"); `.ci/run` installs it and runs them with
//! `--include-ignored`.

#[path = "../../support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use powerbi_embed::{RedisStore, SharedCache, StoreErrorKind, TokenStore};
use support::redis_server::{dump, free_port, RedisServer};
use support::replicas::*;

const KEY: [u8; 32] = [0x11; 32];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server"]
async fn a_replica_started_while_redis_is_down_shares_once_redis_starts_5_s_later_without_a_restart() {
    let events = Events::default();
    let _subscriber = tracing::subscriber::set_default(events.clone());
    let port = free_port();
    let mut redis = RedisServer::stopped(port, &[]);
    // Three direct fetches while Redis is down (two replicas and a second scope), then one
    // fetch shared through Redis by two more replicas.
    let entra = entra(Duration::ZERO, 4).await;

    let store =
        Arc::new(RedisStore::builder(format!("redis://127.0.0.1:{port}")).build().expect("built without Redis"));
    assert!(!store.is_connected() && store.is_degraded());
    let error = store.ping().await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Unavailable, "{error}");
    // Calls fail at once while not connected; the generous bound only keeps a loaded machine
    // from turning a slow answer into a miss once connected.
    let shared = SharedCache::new(store.clone(), KEY).prefix("startup:").op_timeout(Duration::from_secs(5));

    // Meanwhile the caches work: each miss is fetched directly, at once (a call while not
    // connected fails at once, it does not wait for the op timeout), and hits stay local.
    let first = aad(&entra.uri(), &shared);
    assert_eq!(first.token().await.unwrap().secret().expose_secret(), "entra-1");
    assert_eq!(first.token().await.unwrap().secret().expose_secret(), "entra-1", "a local hit");
    let second = aad(&entra.uri(), &shared);
    assert_eq!(second.token().await.unwrap().secret().expose_secret(), "entra-2", "no Redis: fetched directly");
    assert_eq!(second.token_for_scopes(&["api://other/.default"]).await.unwrap().secret().expose_secret(), "entra-3");
    assert!(shared.is_degraded());
    let stats = shared.stats();
    assert_eq!((stats.hits, stats.local_fallbacks), (0, 3), "{stats:?}");
    let warnings = events.at(tracing::Level::WARN);
    assert_eq!(warnings.len(), 1, "one warning for the whole outage: {warnings:?}");
    assert!(warnings[0].contains("shared token store unavailable") && warnings[0].contains("not connected yet"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !store.last_error().unwrap().to_string().contains("connection refused") {
        assert!(Instant::now() < deadline, "the reason is told: {:?}", store.last_error());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Redis comes up 5 s later, on the address the replica was given.
    tokio::time::sleep(Duration::from_secs(5)).await;
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.ping().await.is_err() {
        assert!(Instant::now() < deadline, "not connected within 30 s of Redis starting");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(store.is_connected() && !store.is_degraded() && store.last_error().is_none());

    // Sharing has begun: a new key fetched by one replica is read from Redis by the next.
    let third = aad(&entra.uri(), &shared);
    assert_eq!(third.token_for_scopes(&["api://shared/.default"]).await.unwrap().secret().expose_secret(), "entra-4");
    assert_eq!(dump(&mut redis.client()).len(), 1, "the token went to Redis");
    let fourth = aad(&entra.uri(), &shared);
    assert_eq!(
        fourth.token_for_scopes(&["api://shared/.default"]).await.unwrap().secret().expose_secret(),
        "entra-4",
        "served from Redis, not from Entra"
    );
    entra.verify().await;
    assert!(!shared.is_degraded());
    let stats = shared.stats();
    assert_eq!((stats.hits, stats.misses, stats.local_fallbacks), (1, 1, 3), "{stats:?}");
    let infos = events.at(tracing::Level::INFO);
    assert!(infos.iter().any(|m| m.contains("answering again")), "recovered: {infos:?}");
    assert_eq!(events.at(tracing::Level::WARN).len(), 1, "still one warning");
}

#[tokio::test]
#[ignore = "needs redis-server"]
async fn ping_and_degraded_follow_the_server_through_a_restart() {
    let mut redis = RedisServer::start();
    let store = RedisStore::builder(redis.url()).connect().await.unwrap();
    let round_trip = store.ping().await.unwrap();
    assert!(round_trip < Duration::from_secs(5), "{round_trip:?}");
    assert!(!store.is_degraded() && store.last_error().is_none());

    redis.kill();
    let deadline = Instant::now() + Duration::from_secs(30);
    let error = loop {
        match store.ping().await {
            Err(error) => break error,
            Ok(_) => assert!(Instant::now() < deadline, "the kill was not noticed"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(error.kind(), StoreErrorKind::Unavailable, "{error}");
    assert!(store.is_degraded() && store.last_error().is_some());

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.ping().await.is_err() {
        assert!(Instant::now() < deadline, "not back within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!store.is_degraded());
    store.put("back:{x}", b"1", Duration::from_secs(5)).await.unwrap();
}
