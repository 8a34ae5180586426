//! `RedisStore` over TLS (`rediss://`) against real `redis-server` processes with a CA and
//! certificates the tests make at run time: eight processes share one Entra token and one embed
//! token per user over TLS; a server signed by a CA nobody trusts, or whose certificate names
//! another host, is refused with an error saying which; mutual TLS; a three-node cluster over
//! TLS whose certificate names a host while its nodes announce IPs.
//!
//! Ignored by default ("needs redis-server"); `.ci/run` installs it (Debian's build has TLS)
//! and runs them with `--include-ignored`.

#[path = "../../support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use powerbi_embed::{RedisStore, SharedCache, StoreErrorKind, TokenStore};
use support::redis_server::{dump, start_tls_cluster, RedisServer, TestPki};
use support::replicas::*;

const KEY: [u8; 32] = [0x5d; 32];

// ---------------------------------------------------------------------------------------------
// Many processes, one token, over TLS.

const CHILD_REDIS_URL: &str = "POWERBI_EMBED_TEST_CHILD_REDIS_URL";
const CHILD_REDIS_CA: &str = "POWERBI_EMBED_TEST_CHILD_REDIS_CA";

/// One replica of the TLS stampede, run as a child process by the test below (it returns at
/// once when not started that way).
#[test]
#[ignore = "needs redis-server (child of the multi-process stampede; does nothing on its own)"]
fn tls_stampede_child_process() {
    stampede_child(|| async {
        let url = std::env::var(CHILD_REDIS_URL).unwrap();
        let ca = std::env::var(CHILD_REDIS_CA).unwrap();
        let store = RedisStore::builder(url).ca_file(ca).connect().await.expect("TLS to the test server");
        Arc::new(store) as Arc<dyn TokenStore>
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server"]
async fn eight_processes_over_tls_make_one_entra_request_and_one_generate_token_per_user() {
    let pki = TestPki::new("stampede");
    let redis = RedisServer::start_tls(&pki, &pki.leaf("server", &["localhost"]), &[]);
    stampede(
        "tls_stampede_child_process",
        &[(CHILD_REDIS_URL, redis.tls_url("localhost")), (CHILD_REDIS_CA, pki.ca_path().display().to_string())],
    )
    .await;
    assert_eq!(dump(&mut redis.client()).len(), 3, "one Entra entry and one embed entry per user, over TLS");
}

// ---------------------------------------------------------------------------------------------
// What is refused.

#[tokio::test]
#[ignore = "needs redis-server"]
async fn a_server_signed_by_a_ca_that_is_not_trusted_is_refused_naming_the_ca() {
    let pki = TestPki::new("server-ca");
    let redis = RedisServer::start_tls(&pki, &pki.leaf("server", &["localhost"]), &["--requirepass", "pa55-w0rd"]);
    let url = format!("rediss://:pa55-w0rd@localhost:{}", redis.tls_port.unwrap());
    let other = TestPki::new("other-ca");
    for (label, builder) in [
        ("platform roots only", RedisStore::builder(&url)),
        ("another private CA", RedisStore::builder(&url).ca_pem(other.ca_pem())),
    ] {
        let error = tokio::time::timeout(Duration::from_secs(60), builder.connect())
            .await
            .expect("refused, never hung")
            .unwrap_err();
        assert_eq!(error.kind(), StoreErrorKind::Tls, "{label}: {error}");
        let text = error.to_string();
        assert!(text.contains("not signed by a trusted CA") && text.contains("ca_file"), "{label}: {text}");
        assert!(!text.contains("pa55-w0rd"), "{text}");
    }
    // The right CA works, and the store says it is connected and healthy.
    let store = RedisStore::builder(&url).ca_file(pki.ca_path()).connect().await.unwrap();
    assert!(store.ping().await.is_ok() && !store.is_degraded() && store.is_connected());
    let debug = format!("{store:?}");
    assert!(debug.contains("tls: true") && !debug.contains("pa55-w0rd"), "{debug}");
}

#[tokio::test]
#[ignore = "needs redis-server"]
async fn a_certificate_for_another_host_is_refused() {
    let pki = TestPki::new("names");
    // The certificate names localhost only: 127.0.0.1 is another name to the client.
    let redis = RedisServer::start_tls(&pki, &pki.leaf("server", &["localhost"]), &[]);
    let by_ip = RedisStore::builder(redis.tls_url("127.0.0.1")).ca_file(pki.ca_path()).connect().await.unwrap_err();
    assert_eq!(by_ip.kind(), StoreErrorKind::Tls, "{by_ip}");
    assert!(by_ip.to_string().contains("does not name the host"), "{by_ip}");

    // A server presenting a certificate for another host name altogether.
    let elsewhere = RedisServer::start_tls(&pki, &pki.leaf("elsewhere", &["redis.elsewhere.example"]), &[]);
    let error = RedisStore::builder(elsewhere.tls_url("localhost")).ca_file(pki.ca_path()).connect().await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Tls, "{error}");
    assert!(error.to_string().contains("does not name the host"), "{error}");

    // An IP address in the certificate is a name like any other.
    let with_ip = RedisServer::start_tls(&pki, &pki.leaf("with-ip", &["127.0.0.1"]), &[]);
    let store = RedisStore::builder(with_ip.tls_url("127.0.0.1")).ca_file(pki.ca_path()).connect().await.unwrap();
    store.ping().await.unwrap();
}

#[tokio::test]
#[ignore = "needs redis-server"]
async fn mutual_tls_presents_the_client_certificate() {
    let pki = TestPki::new("mtls");
    let redis = RedisServer::start_tls(&pki, &pki.leaf("server", &["localhost"]), &["--tls-auth-clients", "yes"]);
    let url = redis.tls_url("localhost");
    let refused = RedisStore::builder(&url).ca_file(pki.ca_path()).connect().await.unwrap_err();
    assert!(
        matches!(refused.kind(), StoreErrorKind::Tls | StoreErrorKind::Unavailable),
        "no client certificate, no connection: {refused}"
    );
    let client = pki.leaf("client", &["replica-1"]);
    let store = RedisStore::builder(&url)
        .ca_file(pki.ca_path())
        .client_certificate(client.cert_pem.clone(), client.key_pem.clone())
        .connect()
        .await
        .unwrap();
    store.put("mtls:{x}", b"v", Duration::from_secs(5)).await.unwrap();
    assert_eq!(store.get("mtls:{x}").await.unwrap(), Some(b"v".to_vec()));
    let debug = format!("{store:?}");
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");
}

// ---------------------------------------------------------------------------------------------
// Redis Cluster over TLS.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server"]
async fn a_three_node_cluster_over_tls_whose_certificate_names_a_host_shares_one_token_once_node_names_are_given() {
    let pki = TestPki::new("cluster");
    // One certificate for every node, naming "localhost" only, while the nodes announce
    // 127.0.0.1 in CLUSTER SLOTS.
    let nodes = start_tls_cluster(&pki, &pki.leaf("node", &["localhost"]));
    let seeds: Vec<String> = nodes.iter().map(|n| n.tls_url("localhost")).collect();

    // On native-tls alone, a cluster trusts only the platform's roots: a private CA is refused
    // at once, naming the feature that takes it (the redis crate's cluster TLS takes extra roots
    // through rustls only).
    if cfg!(all(feature = "native-tls", not(feature = "rustls"))) {
        let error = RedisStore::cluster_builder(&seeds).ca_file(pki.ca_path()).connect().await.unwrap_err();
        assert_eq!(error.kind(), StoreErrorKind::InvalidConfig, "{error}");
        assert!(error.to_string().contains("needs the `rustls` feature"), "{error}");
        return;
    }

    // Without node names: the seed verifies, the announced IPs do not, and the error says what
    // to set.
    let error = RedisStore::cluster_builder(&seeds).ca_file(pki.ca_path()).connect().await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Tls, "{error}");
    let text = error.to_string();
    assert!(text.contains("announced by IP address") && text.contains("cluster_node_name(\"127.0.0.1:"), "{text}");

    // With them: every node is reached under the name its certificate has.
    let mut builder = RedisStore::cluster_builder(&seeds).ca_file(pki.ca_path());
    for node in &nodes {
        let port = node.tls_port.unwrap();
        builder = builder.cluster_node_name(format!("127.0.0.1:{port}"), format!("localhost:{port}"));
    }
    let store = Arc::new(builder.connect().await.expect("the cluster over TLS"));
    store.ping().await.expect("PING reaches every node");
    assert!(!store.is_degraded() && format!("{store:?}").contains("cluster"));
    let entra = entra(Duration::from_millis(300), 1).await;
    let shared = SharedCache::new(store.clone(), KEY).prefix("tls-cluster:").op_timeout(Duration::from_secs(5));
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
    let keys: Vec<String> = nodes.iter().flat_map(|n| dump(&mut n.client())).map(|(k, _)| k).collect();
    assert_eq!(keys.len(), 1, "one entry across the cluster, no lease left: {keys:?}");

    // Every node is reached through the store: a key in each node's slots.
    for (i, node) in nodes.iter().enumerate() {
        let mut plain = node.client();
        let name = (0..10_000)
            .map(|n| format!("tls-cluster:{{probe-{n}}}"))
            .find(|name| {
                let slot: i64 = redis::cmd("CLUSTER").arg("KEYSLOT").arg(name).query(&mut plain).unwrap();
                node_owns(&mut plain, slot)
            })
            .unwrap();
        store.put(&name, b"v", Duration::from_secs(30)).await.unwrap();
        let stored: Option<Vec<u8>> = redis::cmd("GET").arg(&name).query(&mut plain).unwrap();
        assert_eq!(stored.as_deref(), Some(&b"v"[..]), "node {i} holds its key");
    }
}

/// Whether the node behind `connection` serves `slot` (its line in `CLUSTER NODES`).
fn node_owns(connection: &mut redis::Connection, slot: i64) -> bool {
    let me: String = redis::cmd("CLUSTER").arg("MYID").query(connection).unwrap();
    let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(connection).unwrap();
    let line = nodes.lines().find(|l| l.starts_with(&me)).unwrap();
    line.split(' ').skip(8).any(|range| match range.split_once('-') {
        Some((a, b)) => (a.parse::<i64>().unwrap()..=b.parse::<i64>().unwrap()).contains(&slot),
        None => range.parse::<i64>().ok() == Some(slot),
    })
}

// ---------------------------------------------------------------------------------------------
// The example binaries with a TLS REDIS_URL.

/// `target/<profile>/examples/<name>` (built by `cargo test`), with a clean environment pointed
/// at `fake`.
fn example(name: &str, fake: &powerbi_embed::testing::FakeServices) -> std::process::Command {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join("examples").join(name);
    assert!(path.exists(), "{} is missing: cargo test builds the examples", path.display());
    let mut command = std::process::Command::new(path);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AZURE_TENANT_ID", fake.tenant_id())
        .env("AZURE_CLIENT_ID", fake.client_id())
        .env("AZURE_CLIENT_SECRET", fake.client_secret())
        .env("AZURE_AUTHORITY_HOST", fake.authority_host())
        .env("POWERBI_API_URL", fake.api_base())
        .env("POWERBI_CACHE_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    command
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs redis-server"]
async fn the_examples_take_a_tls_redis_url_and_exit_naming_the_ca_when_it_does_not_match() {
    let pki = TestPki::new("examples");
    let redis = RedisServer::start_tls(&pki, &pki.leaf("server", &["localhost"]), &["--requirepass", "pa55-w0rd"]);
    let url = format!("rediss://:pa55-w0rd@localhost:{}", redis.tls_port.unwrap());
    let fake = powerbi_embed::testing::FakeServices::start().await;
    let other = TestPki::new("examples-other");
    for (name, ca) in [("embed_token", None), ("access_token", Some(other.ca_path()))] {
        let mut command = example(name, &fake);
        command.env("REDIS_URL", &url);
        if let Some(ca) = &ca {
            command.env("REDIS_CA_FILE", ca);
        }
        if name == "embed_token" {
            command.args(["--workspace", &fake.workspace_id().to_string(), "--report", &fake.report_id().to_string()]);
        }
        let child = command.spawn().unwrap();
        let output =
            tokio::task::spawn_blocking(move || wait_output_bounded(child, Duration::from_secs(90))).await.unwrap();
        assert!(!output.status.success(), "{name}: a CA the server does not match is an error");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{name}: {stderr}");
        assert!(stderr.contains("not signed by a trusted CA") && stderr.contains("REDIS_CA_FILE"), "{name}: {stderr}");
        assert!(!stderr.contains("pa55-w0rd") && !stderr.contains("panicked"), "{stderr}");
        assert!(output.stdout.is_empty());
    }
    assert_eq!(fake.token_request_count(), 0, "nothing was fetched with a broken shared cache");

    // With the CA: shared through Redis over TLS.
    for name in ["embed_token", "access_token"] {
        let mut command = example(name, &fake);
        command.env("REDIS_URL", &url).env("REDIS_CA_FILE", pki.ca_path());
        if name == "embed_token" {
            command.args(["--workspace", &fake.workspace_id().to_string(), "--report", &fake.report_id().to_string()]);
        }
        let child = command.spawn().unwrap();
        let output =
            tokio::task::spawn_blocking(move || wait_output_bounded(child, Duration::from_secs(90))).await.unwrap();
        assert!(output.status.success(), "{name}: {}", String::from_utf8_lossy(&output.stderr));
        assert!(output.stderr.is_empty(), "{name}: {}", String::from_utf8_lossy(&output.stderr));
    }
    assert_eq!(fake.token_request_count(), 1, "access_token found embed_token's Entra token in Redis");
    assert_eq!(dump(&mut redis_admin(&redis)).len(), 2, "one Entra entry, one embed entry");
}

fn redis_admin(redis: &RedisServer) -> redis::Connection {
    redis::Client::open(format!("redis://:pa55-w0rd@127.0.0.1:{}", redis.port)).unwrap().get_connection().unwrap()
}

/// A child's output, killing it past `limit` (a hang guard: it must exit by itself).
fn wait_output_bounded(mut child: std::process::Child, limit: Duration) -> std::process::Output {
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the example did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}
