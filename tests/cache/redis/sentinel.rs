//! `RedisStore` behind Redis Sentinel: one master, one replica and three Sentinels, real
//! processes on loopback. Replicas share through the master the Sentinels name; a failover
//! mid-run moves the store to the new master without a restart, and sharing goes on there.
//!
//! Ignored by default ("needs redis-server"); `.ci/run` installs it and runs them with
//! `--include-ignored` (Sentinel is `redis-server --sentinel`, the same binary).

#[path = "../../support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use powerbi_embed::{RedisStore, SharedCache, StoreErrorKind, TokenStore};
use support::redis_server::{dump, free_port, RedisServer, SentinelProcess};
use support::replicas::*;

const KEY: [u8; 32] = [0x2a; 32];

fn role(server: &RedisServer) -> String {
    let info: String = redis::cmd("INFO").arg("replication").query(&mut server.client()).unwrap();
    info.lines().find_map(|l| l.strip_prefix("role:")).unwrap().trim().to_owned()
}

fn wait(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server"]
async fn replicas_share_through_the_master_sentinel_names_and_follow_a_failover() {
    let master = RedisServer::start();
    let replica_port = free_port();
    let replica = RedisServer::start_with(replica_port, &["--replicaof", "127.0.0.1", &master.port.to_string()]);
    wait(Duration::from_secs(30), "the replica in sync", || {
        let info: String = redis::cmd("INFO").arg("replication").query(&mut replica.client()).unwrap();
        info.contains("master_link_status:up")
    });
    let sentinels: Vec<SentinelProcess> = (0..3).map(|_| SentinelProcess::start(master.port)).collect();
    wait(Duration::from_secs(30), "the Sentinels know the replica", || {
        sentinels.iter().all(|s| {
            let replicas: Vec<redis::Value> =
                redis::cmd("SENTINEL").arg("REPLICAS").arg("mymaster").query(&mut s.client()).unwrap();
            !replicas.is_empty()
        })
    });

    let urls: Vec<String> = sentinels.iter().map(SentinelProcess::url).collect();
    let error = RedisStore::sentinel_builder("", &urls).build().unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::InvalidConfig, "{error}");
    let store = Arc::new(RedisStore::sentinel_builder("mymaster", &urls).connect().await.unwrap());
    assert!(format!("{store:?}").contains("sentinel"));
    let entra = entra(Duration::ZERO, 2).await;
    let shared = SharedCache::new(store.clone(), KEY).prefix("sentinel:").op_timeout(Duration::from_secs(5));

    // Before the failover: shared through the first master.
    assert_eq!(aad(&entra.uri(), &shared).token().await.unwrap().secret().expose_secret(), "entra-1");
    assert_eq!(aad(&entra.uri(), &shared).token().await.unwrap().secret().expose_secret(), "entra-1", "from Redis");
    assert_eq!(dump(&mut master.client()).len(), 1);

    // Failover: the replica becomes the master, the old master its replica (and Sentinel closes
    // the old master's clients).
    let _: () = redis::cmd("SENTINEL").arg("FAILOVER").arg("mymaster").query(&mut sentinels[0].client()).unwrap();
    wait(Duration::from_secs(60), "the failover", || {
        sentinels.iter().all(|s| s.master_port() == replica_port)
            && role(&replica) == "master"
            && role(&master) == "slave"
    });

    // The same store, no restart: it finds the new master (a call or two may fail meanwhile,
    // each a miss for the caches, never an error for their callers).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match store.put("sentinel:{probe}", b"1", Duration::from_secs(60)).await {
            Ok(()) => break,
            Err(error) => {
                assert!(Instant::now() < deadline, "the new master was not found: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    let mut new_master = replica.client();
    let probe: Option<Vec<u8>> = redis::cmd("GET").arg("sentinel:{probe}").query(&mut new_master).unwrap();
    assert_eq!(probe.as_deref(), Some(&b"1"[..]), "written to the new master");

    // Sharing goes on through the new master: a new key, fetched once for two replicas.
    let scope = ["api://after-failover/.default"];
    assert_eq!(aad(&entra.uri(), &shared).token_for_scopes(&scope).await.unwrap().secret().expose_secret(), "entra-2");
    assert_eq!(
        aad(&entra.uri(), &shared).token_for_scopes(&scope).await.unwrap().secret().expose_secret(),
        "entra-2",
        "served from the new master"
    );
    entra.verify().await;
    assert!(store.ping().await.is_ok() && !store.is_degraded());
}
