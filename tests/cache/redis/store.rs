//! `RedisStore` against real `redis-server` processes (each test starts its own on a free
//! loopback port) with wiremock fakes of Entra ID and Power BI: separate OS processes share one
//! Entra token and one embed token per key, dead lease holders cost a bounded wait, the store
//! holds nothing readable, spoiled entries are misses, an outage costs one warning and the
//! store is used again after a restart, and Redis Cluster keeps an entry and its lease in one
//! slot.
//!
//! Ignored by default ("needs redis-server"); `.ci/run` installs it and runs them with
//! `--include-ignored`.

#[path = "../../support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use powerbi_embed::{EffectiveIdentity, GenerateTokenRequest, RedisStore, SharedCache, TokenStore};
use support::redis_server::{dump, start_cluster, RedisServer};
use support::replicas::*;
use support::*;

const KEY: [u8; 32] = [0x3c; 32];

async fn connect(server: &RedisServer) -> Arc<RedisStore> {
    Arc::new(RedisStore::connect(&server.url()).await.expect("the test server accepts connections"))
}

/// The one key under `prefix` on a server (the test's only entry).
fn only_key(connection: &mut redis::Connection, prefix: &str) -> String {
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query(connection).unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    keys.into_iter().next().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Many processes, one token.

const CHILD_REDIS_URL: &str = "POWERBI_EMBED_TEST_CHILD_REDIS_URL";

/// One replica of the multi-process stampede, run as a child process by the test below (it
/// returns at once when not started that way).
#[test]
#[ignore = "needs redis-server (child of the multi-process stampede; does nothing on its own)"]
fn stampede_child_process() {
    stampede_child(|| async {
        let url = std::env::var(CHILD_REDIS_URL).unwrap();
        Arc::new(RedisStore::connect(&url).await.unwrap()) as Arc<dyn TokenStore>
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server"]
async fn eight_processes_of_a_hundred_callers_make_one_entra_request_and_one_generate_token_per_user() {
    let redis = RedisServer::start();
    stampede("stampede_child_process", &[(CHILD_REDIS_URL, redis.url())]).await;
}

// ---------------------------------------------------------------------------------------------
// Leases.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server"]
async fn a_lease_left_by_a_dead_holder_costs_one_bounded_wait_and_expires_by_itself() {
    let redis = RedisServer::start();
    let mut plain = redis.client();
    let entra = entra(Duration::ZERO, 3).await;
    let wait = Duration::from_millis(400);
    let store = connect(&redis).await;
    let shared = SharedCache::new(store.clone(), KEY).prefix("dead:").wait_for_peer(wait, Duration::from_millis(20));

    // A first replica writes the entry: that tells us its name. Then the entry goes, and a
    // "crashed" replica's lease stays behind for 30 s (far longer than the bounded wait).
    assert_eq!(aad(&entra.uri(), &shared).token().await.unwrap().secret().expose_secret(), "entra-1");
    let name = only_key(&mut plain, "dead:");
    let lease = format!("{name}:lease");
    let _: () = redis::cmd("DEL").arg(&name).query(&mut plain).unwrap();
    let _: () = redis::cmd("SET").arg(&lease).arg("crashed-replica").arg("PX").arg(30_000).query(&mut plain).unwrap();

    let started = Instant::now();
    let token = aad(&entra.uri(), &shared).token().await.unwrap();
    let waited = started.elapsed();
    assert_eq!(token.secret().expose_secret(), "entra-2");
    assert!(waited >= wait, "it waited for the holder first ({waited:?})");
    assert!(waited < Duration::from_secs(15), "it did not wait for the lease to expire ({waited:?})");
    let holder: Option<String> = redis::cmd("GET").arg(&lease).query(&mut plain).unwrap();
    assert_eq!(holder.as_deref(), Some("crashed-replica"), "another replica's lease is never deleted");

    // The lease runs out by itself (shortened now, so the test need not wait 30 s); after that a
    // replica takes it at once.
    let _: () = redis::cmd("PEXPIRE").arg(&lease).arg(200).query(&mut plain).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis::cmd("EXISTS").arg(&lease).query::<i64>(&mut plain).unwrap() == 1 {
        assert!(Instant::now() < deadline, "the lease did not expire");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _: () = redis::cmd("DEL").arg(&name).query(&mut plain).unwrap();
    // A replica that would wait a minute for a peer: it must not wait at all, and a minute is far
    // from anything a loaded machine adds to one token call.
    let patient =
        SharedCache::new(store, KEY).prefix("dead:").wait_for_peer(Duration::from_secs(60), Duration::from_millis(20));
    let started = Instant::now();
    assert_eq!(aad(&entra.uri(), &patient).token().await.unwrap().secret().expose_secret(), "entra-3");
    assert!(started.elapsed() < Duration::from_secs(30), "no wait once the lease is gone ({:?})", started.elapsed());
    assert_eq!(redis::cmd("EXISTS").arg(&lease).query::<i64>(&mut plain).unwrap(), 0, "its own lease released");
}

#[tokio::test]
#[ignore = "needs redis-server"]
async fn the_store_commands_do_what_the_trait_says() {
    let redis = RedisServer::start_with(support::redis_server::free_port(), &["--requirepass", "pa55-w0rd"]);
    let url = format!("redis://:pa55-w0rd@127.0.0.1:{}", redis.port);
    let store = RedisStore::connect(&url).await.unwrap();
    let debug = format!("{store:?}");
    assert!(!debug.contains("pa55-w0rd"), "{debug}");
    assert!(debug.contains(&format!("redis://[redacted]@127.0.0.1:{}", redis.port)), "{debug}");
    let refused = RedisStore::connect(&format!("redis://:wrong-pa55@127.0.0.1:{}", redis.port)).await.unwrap_err();
    assert!(refused.to_string().starts_with("redis connect: ") && !refused.to_string().contains("wrong-pa55"));

    let name = "t:{abc}";
    assert_eq!(store.get(name).await.unwrap(), None);
    store.put(name, &[1, 0, 255], Duration::from_millis(300)).await.unwrap();
    assert_eq!(store.get(name).await.unwrap(), Some(vec![1, 0, 255]));
    let mut plain = redis::Client::open(url.as_str()).unwrap().get_connection().unwrap();
    let ttl: i64 = redis::cmd("PTTL").arg(name).query(&mut plain).unwrap();
    assert!((1..=300).contains(&ttl), "PX ttl: {ttl}");

    assert!(store.try_lease(name, "a", Duration::from_secs(5)).await.unwrap());
    assert!(!store.try_lease(name, "b", Duration::from_secs(5)).await.unwrap(), "NX: held by a");
    let lease_ttl: i64 = redis::cmd("PTTL").arg("t:{abc}:lease").query(&mut plain).unwrap();
    assert!((4000..=5000).contains(&lease_ttl), "{lease_ttl}");
    store.release_lease(name, "b").await.unwrap();
    assert!(!store.try_lease(name, "c", Duration::from_secs(5)).await.unwrap(), "b could not release a's lease");
    store.release_lease(name, "a").await.unwrap();
    assert!(store.try_lease(name, "c", Duration::from_secs(5)).await.unwrap(), "a released its lease");

    store.delete(name).await.unwrap();
    assert_eq!(store.get(name).await.unwrap(), None);

    // Compare-and-delete: only the bytes the caller saw.
    store.put(name, &[7, 0, 8], Duration::from_secs(5)).await.unwrap();
    assert!(!store.delete_if_equal(name, &[7, 0, 9]).await.unwrap(), "other bytes stay");
    assert_eq!(store.get(name).await.unwrap(), Some(vec![7, 0, 8]));
    assert!(store.delete_if_equal(name, &[7, 0, 8]).await.unwrap());
    assert_eq!(store.get(name).await.unwrap(), None);
    assert!(!store.delete_if_equal(name, &[7, 0, 8]).await.unwrap(), "nothing left to delete");

    store.put(name, b"x", Duration::from_millis(100)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(store.get(name).await.unwrap(), None, "expired by PX");
}

// ---------------------------------------------------------------------------------------------
// What Redis holds.

#[tokio::test]
#[ignore = "needs redis-server"]
async fn redis_holds_no_token_identity_or_tenant_only_sealed_values_until_the_refresh_point() {
    let redis = RedisServer::start();
    let entra = entra(Duration::ZERO, 1).await;
    let powerbi = powerbi_once_per_user(&["alice@contoso.com"], Duration::ZERO).await;
    let shared = SharedCache::new(connect(&redis).await, KEY).prefix("app1:");
    let client = powerbi_replica(aad(&entra.uri(), &shared), &powerbi.uri(), &shared);
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
    let token = client.workspace(WORKSPACE).report(REPORT).embed_token(&request).await.unwrap();
    assert_eq!(token.secret().expose_secret(), "embed-alice@contoso.com-1");

    let contents = dump(&mut redis.client());
    let names: Vec<&String> = contents.iter().map(|(k, _)| k).collect();
    assert_eq!(contents.len(), 2, "one Entra entry, one embed entry, no lease left: {names:?}");
    let mut plain = redis.client();
    for (name, value) in &contents {
        assert!(name.starts_with("app1:{") && name.ends_with('}') && name.len() == "app1:{}".len() + 64, "{name}");
        let text = String::from_utf8_lossy(value);
        for needle in [
            "entra-1",
            "embed-alice",
            "alice",
            "contoso",
            "SecretRole",
            "tier-gold",
            "sql-token-blob",
            SECRET,
            TENANT,
            CLIENT,
            &WORKSPACE.to_string(),
            &REPORT.to_string(),
        ] {
            assert!(!name.contains(needle) && !text.contains(needle), "{needle} is readable in Redis");
        }
        assert_eq!(value[0], 1, "sealed format byte");
        // Both tokens live an hour: the entry lives until the refresh point, 5 minutes before.
        let ttl: i64 = redis::cmd("PTTL").arg(name).query(&mut plain).unwrap();
        assert!((3_290_000..=3_300_000).contains(&ttl), "{name}: {ttl} ms");
    }
}

#[tokio::test]
#[ignore = "needs redis-server"]
async fn tampered_garbage_or_mistyped_entries_are_misses_and_are_rewritten() {
    let redis = RedisServer::start();
    let mut plain = redis.client();
    let cases = ["flip the last byte", "garbage", "empty", "a hash instead of a string"];
    let entra = entra(Duration::ZERO, 2 * cases.len() as u64).await;
    let shared = SharedCache::new(connect(&redis).await, KEY).prefix("spoil:");
    for (i, case) in cases.iter().enumerate() {
        let _: () = redis::cmd("FLUSHALL").query(&mut plain).unwrap();
        let written = aad(&entra.uri(), &shared).token().await.unwrap();
        assert_eq!(written.secret().expose_secret(), format!("entra-{}", 2 * i + 1));
        let name = only_key(&mut plain, "spoil:");
        let mut value: Vec<u8> = redis::cmd("GET").arg(&name).query(&mut plain).unwrap();
        match i {
            0 => {
                *value.last_mut().unwrap() ^= 1;
                let _: () = redis::cmd("SET").arg(&name).arg(&value).query(&mut plain).unwrap();
            }
            1 => redis::cmd("SET").arg(&name).arg("not a sealed value").query::<()>(&mut plain).unwrap(),
            2 => redis::cmd("SET").arg(&name).arg("").query::<()>(&mut plain).unwrap(),
            _ => {
                let _: () = redis::cmd("DEL").arg(&name).query(&mut plain).unwrap();
                let _: () = redis::cmd("HSET").arg(&name).arg("f").arg("v").query(&mut plain).unwrap();
            }
        }
        // A fresh replica cannot use the entry: it fetches (no error) and writes a good one.
        let token = aad(&entra.uri(), &shared).token().await.unwrap();
        assert_eq!(token.secret().expose_secret(), format!("entra-{}", 2 * i + 2), "{case}");
        let rewritten: Vec<u8> = redis::cmd("GET").arg(&name).query(&mut plain).unwrap();
        assert_eq!(rewritten[0], 1, "{case}: a sealed value replaced the spoiled one");
        assert_ne!(rewritten, value, "{case}");
    }
}

// ---------------------------------------------------------------------------------------------
// Outage and recovery.

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs redis-server"]
async fn redis_killed_mid_run_costs_one_warning_and_is_used_again_after_a_restart() {
    let events = Events::default();
    let _subscriber = tracing::subscriber::set_default(events.clone());
    let warnings = || events.at(tracing::Level::WARN);
    let mut redis = RedisServer::start();
    let entra = entra(Duration::ZERO, 5).await;
    let store = connect(&redis).await;
    let op_timeout = Duration::from_millis(150);
    let shared = SharedCache::new(store.clone(), KEY).prefix("outage:").op_timeout(op_timeout);

    let first = aad(&entra.uri(), &shared);
    assert_eq!(first.token().await.unwrap().secret().expose_secret(), "entra-1");
    redis.kill();

    // Meanwhile: local hits as before, and misses fetched directly within a bound.
    assert_eq!(first.token().await.unwrap().secret().expose_secret(), "entra-1", "local hit");
    let second = aad(&entra.uri(), &shared);
    for (i, scope) in ["api://one/.default", "api://two/.default", "api://three/.default"].iter().enumerate() {
        let started = Instant::now();
        let token = second.token_for_scopes(&[scope]).await.expect("a token while Redis is down");
        assert_eq!(token.secret().expose_secret(), format!("entra-{}", i + 2));
        // Bounded by op_timeout per store call, not by Redis coming back; the bound is loose so
        // that a loaded machine does not fail it.
        assert!(started.elapsed() < op_timeout * 3 + Duration::from_secs(5), "{:?}", started.elapsed());
    }
    assert_eq!(warnings().len(), 1, "one warning for the outage: {:?}", warnings());
    assert!(warnings()[0].contains("shared token store unavailable"));

    // After the restart the connection comes back by itself, and the replicas use the store.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.get("outage:probe").await.is_err() {
        assert!(Instant::now() < deadline, "the store did not reconnect within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut plain_after = redis.client();
    assert_eq!(second.token_for_scopes(&["api://four/.default"]).await.unwrap().secret().expose_secret(), "entra-5");
    assert_eq!(dump(&mut plain_after).len(), 1, "the new token went to the store");
    let third = aad(&entra.uri(), &shared);
    let token = third.token_for_scopes(&["api://four/.default"]).await.unwrap();
    assert_eq!(token.secret().expose_secret(), "entra-5", "served from Redis, not from Entra");
    assert_eq!(warnings().len(), 1, "no more warnings: {:?}", warnings());
}

// ---------------------------------------------------------------------------------------------
// Redis Cluster.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server"]
async fn a_three_node_cluster_shares_one_entra_token_and_keeps_entry_and_lease_in_one_slot() {
    let nodes = start_cluster();
    let store = Arc::new(RedisStore::connect_cluster(nodes.iter().map(RedisServer::url)).await.unwrap());
    assert!(format!("{store:?}").contains("cluster"));
    let entra = entra(Duration::from_millis(300), 1).await;
    let shared = SharedCache::new(store.clone(), KEY).prefix("cluster:");
    let mut calls = Vec::new();
    for _ in 0..4 {
        let replica = aad(&entra.uri(), &shared);
        for _ in 0..50 {
            let replica = replica.clone();
            calls.push(tokio::spawn(async move { replica.token().await }));
        }
    }
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().secret().expose_secret(), "entra-1");
    }
    entra.verify().await;

    let mut keys = Vec::new();
    for node in &nodes {
        keys.extend(dump(&mut node.client()).into_iter().map(|(k, _)| k));
    }
    assert_eq!(keys.len(), 1, "one entry across the cluster, no lease left: {keys:?}");
    let name = &keys[0];
    let mut any = nodes[0].client();
    let slot: i64 = redis::cmd("CLUSTER").arg("KEYSLOT").arg(name).query(&mut any).unwrap();
    let lease_slot: i64 = redis::cmd("CLUSTER").arg("KEYSLOT").arg(format!("{name}:lease")).query(&mut any).unwrap();
    assert_eq!(slot, lease_slot);

    // Leases through the cluster: NX, and compare-and-delete routed to the slot's node.
    assert!(store.try_lease(name, "a", Duration::from_secs(5)).await.unwrap());
    assert!(!store.try_lease(name, "b", Duration::from_secs(5)).await.unwrap());
    store.release_lease(name, "b").await.unwrap();
    assert!(!store.try_lease(name, "b", Duration::from_secs(5)).await.unwrap());
    store.release_lease(name, "a").await.unwrap();
    assert!(store.try_lease(name, "b", Duration::from_secs(5)).await.unwrap());
    store.delete(name).await.unwrap();
    assert_eq!(store.get(name).await.unwrap(), None);
}
