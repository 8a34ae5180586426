//! Token AUTH to a real `redis-server`: an ACL user named by the identity's object id whose
//! password is the Entra token the test's fake Entra issues (as Azure Cache for Redis does with
//! Entra ID). The token expires and is replaced while 100 callers keep getting tokens from the
//! shared tier; every connection re-authenticates with the new token before the old one is
//! removed, and none is ever refused or left as `default`. A rotated access key (a password
//! provider) is taken up without a restart.
//!
//! Ignored by default ("needs redis-server"); `.ci/run` installs it and runs them with
//! `--include-ignored`.

#[path = "../../support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use powerbi_embed::{AadClient, ClientSecretCredential, RedisStore, Secret, SharedCache, StoreError, TokenStore};
use support::redis_server::{clients, free_port, Monitor, RedisServer};
use support::replicas::*;
use support::*;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

const KEY: [u8; 32] = [0x7e; 32];
const OBJECT_ID: &str = "6f1c2a4b-9d3e-4c1a-8b7f-2e5d4c3b2a10";
const ADMIN: &str = "admin";
const ADMIN_PASSWORD: &str = "admin-pa55";

/// The base64url of `bytes`, unpadded (a JWT segment).
fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The fake Entra's answer for the Redis scope: token number `n` is a JWT naming `OBJECT_ID`
/// in `oid`; before answering, the token is made a password of that ACL user (what Azure does
/// when Entra issues a token the cache accepts). The first token lives `first_lifetime`, the
/// next ones an hour.
struct RedisTokens {
    admin: Mutex<redis::Connection>,
    issued: Mutex<Vec<(Instant, String)>>,
    first_lifetime: i64,
}

impl RedisTokens {
    fn token(n: usize) -> String {
        let header = base64url(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = base64url(
            format!(r#"{{"aud":"https://redis.azure.com","oid":"{OBJECT_ID}","tid":"{TENANT}","n":{n}}}"#).as_bytes(),
        );
        format!("{header}.{claims}.c2lnbmF0dXJl")
    }
}

impl Respond for RedisTokens {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut issued = self.issued.lock().unwrap();
        let token = Self::token(issued.len() + 1);
        let _: () = redis::cmd("ACL")
            .arg("SETUSER")
            .arg(OBJECT_ID)
            .arg("on")
            .arg(format!(">{token}"))
            .arg("~*")
            .arg("+@all")
            .query(&mut *self.admin.lock().unwrap())
            .unwrap();
        let lifetime = if issued.is_empty() { self.first_lifetime } else { 3600 };
        issued.push((Instant::now(), token.clone()));
        ResponseTemplate::new(200).set_body_json(token_body(&token, lifetime))
    }
}

/// A server whose `default` user is off: only `admin` and the users the tests add can do
/// anything.
fn locked_server() -> (RedisServer, redis::Connection) {
    let redis = RedisServer::start();
    let mut default = redis.client();
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg(ADMIN)
        .arg("on")
        .arg(format!(">{ADMIN_PASSWORD}"))
        .arg("~*")
        .arg("&*")
        .arg("+@all")
        .query(&mut default)
        .unwrap();
    let _: () = redis::cmd("ACL").arg("SETUSER").arg("default").arg("off").query(&mut default).unwrap();
    drop(default);
    let admin = redis::Client::open(format!("redis://{ADMIN}:{ADMIN_PASSWORD}@127.0.0.1:{}", redis.port))
        .unwrap()
        .get_connection()
        .unwrap();
    (redis, admin)
}

/// The server's `ACL LOG`: every refused `AUTH` and every refused command since the start.
fn acl_log(admin: &mut redis::Connection) -> Vec<redis::Value> {
    redis::cmd("ACL").arg("LOG").query(admin).unwrap()
}

/// Waits for `done` (checked every 20 ms) at most `limit`, a hang guard, never a speed target.
async fn until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server"]
async fn an_entra_token_is_renewed_before_it_expires_and_every_connection_reauthenticates_while_100_callers_share() {
    let (redis, mut admin) = locked_server();
    let monitor = Monitor::start(redis.port, ADMIN, ADMIN_PASSWORD);

    // One fake Entra: the Redis scope (two tokens: the first lives 6 s, so the store renews it
    // after 3), and the Power BI scope the callers share (one token between them all).
    let entra = strict_server().await;
    let tokens = Arc::new(RedisTokens {
        admin: Mutex::new(
            redis::Client::open(format!("redis://{ADMIN}:{ADMIN_PASSWORD}@127.0.0.1:{}", redis.port))
                .unwrap()
                .get_connection()
                .unwrap(),
        ),
        issued: Mutex::new(Vec::new()),
        first_lifetime: 6,
    });
    struct Shared(Arc<RedisTokens>);
    impl Respond for Shared {
        fn respond(&self, request: &Request) -> ResponseTemplate {
            self.0.respond(request)
        }
    }
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(body_string_contains("scope=https%3A%2F%2Fredis.azure.com%2F.default"))
        .respond_with(Shared(tokens.clone()))
        .expect(2)
        .named("Entra: the Redis scope, renewed once")
        .mount(&entra)
        .await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(body_string_contains("analysis.windows.net"))
        .respond_with(Numbered::entra(Duration::from_millis(100)))
        .expect(1)
        .named("Entra: the Power BI scope, once for every caller")
        .mount(&entra)
        .await;

    // The store authenticates with its own client (no shared cache: that would need Redis to
    // get the token Redis needs); the user name comes from the token's oid claim.
    let for_redis = AadClient::builder(ClientSecretCredential::new(TENANT, CLIENT, SECRET).unwrap())
        .authority_host(entra.uri())
        .build()
        .unwrap();
    let store = Arc::new(
        RedisStore::builder(format!("redis://127.0.0.1:{}", redis.port)).entra_id(for_redis).connect().await.unwrap(),
    );
    assert!(format!("{store:?}").contains("Entra ID"));
    // Exact counts, not speed: a loaded machine must not turn a slow answer into a fallback.
    let shared = SharedCache::new(store.clone(), KEY).prefix("entra:").op_timeout(Duration::from_secs(10));

    // 100 callers, each call a fresh replica (empty local cache), until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::new();
    let callers: Vec<_> = (0..100)
        .map(|_| {
            let (stop, served, shared, http, uri) =
                (stop.clone(), served.clone(), shared.clone(), http.clone(), entra.uri());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let replica = AadClient::builder(ClientSecretCredential::new(TENANT, CLIENT, SECRET).unwrap())
                        .authority_host(&uri)
                        .shared_cache(shared.clone())
                        .http_client(http.clone())
                        .build()
                        .unwrap();
                    let token = replica.token().await.expect("a token from the shared tier");
                    assert_eq!(token.secret().expose_secret(), "entra-1");
                    served.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect();

    // The first token is due after 3 s: the store gets the second, and every connection of the
    // Entra user sends AUTH again after that.
    until(Duration::from_secs(60), "the second Redis token", || tokens.issued.lock().unwrap().len() == 2).await;
    let renewed_at = tokens.issued.lock().unwrap()[1].0;
    until(Duration::from_secs(60), "every connection re-authenticated", || {
        let connections: Vec<String> =
            clients(&mut admin).into_iter().filter(|(_, user)| user == OBJECT_ID).map(|(addr, _)| addr).collect();
        let reauthenticated = monitor.auths_since(renewed_at);
        !connections.is_empty() && connections.iter().all(|addr| reauthenticated.contains(addr))
    })
    .await;

    // The first token expires: the ACL no longer takes it. The callers carry on.
    let first = tokens.issued.lock().unwrap()[0].1.clone();
    let _: () = redis::cmd("ACL").arg("SETUSER").arg(OBJECT_ID).arg(format!("<{first}")).query(&mut admin).unwrap();
    let before = served.load(Ordering::Relaxed);
    until(Duration::from_secs(60), "1,000 more calls after the old token was removed", || {
        served.load(Ordering::Relaxed) >= before + 1000
    })
    .await;
    store.ping().await.expect("the store still answers");
    stop.store(true, Ordering::Relaxed);
    for caller in callers {
        caller.await.unwrap();
    }

    // Nothing was refused, nothing fell back to a direct fetch, no connection is `default`.
    let refused = acl_log(&mut admin);
    assert!(refused.is_empty(), "no AUTH or command was ever refused: {refused:?}");
    let users: Vec<(String, String)> = clients(&mut admin);
    assert!(users.iter().all(|(_, user)| user == OBJECT_ID || user == ADMIN), "{users:?}");
    let stats = shared.stats();
    assert_eq!((stats.local_fallbacks, stats.store_errors), (0, 0), "{stats:?}");
    assert!(stats.hits >= 1000, "{stats:?}");
    assert!(!shared.is_degraded() && !store.is_degraded());
    entra.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server"]
async fn a_rotated_access_key_is_taken_up_without_a_restart() {
    let port = free_port();
    let _redis = RedisServer::start_with(port, &["--requirepass", "key-1-s3cret"]);
    let mut admin =
        redis::Client::open(format!("redis://:key-1-s3cret@127.0.0.1:{port}")).unwrap().get_connection().unwrap();

    // The key as the application's secret store has it.
    let current = Arc::new(Mutex::new("key-1-s3cret".to_owned()));
    let asked = Arc::new(AtomicUsize::new(0));
    let (key, count) = (current.clone(), asked.clone());
    let store = RedisStore::builder(format!("redis://127.0.0.1:{port}"))
        .password_provider(Duration::from_millis(200), move || {
            let (key, count) = (key.clone(), count.clone());
            async move {
                count.fetch_add(1, Ordering::Relaxed);
                Ok::<_, StoreError>(Secret::new(key.lock().unwrap().clone()))
            }
        })
        .connect()
        .await
        .unwrap();
    store.put("rotate:{x}", b"1", Duration::from_secs(60)).await.unwrap();

    // The key is regenerated: the server takes only the new one, and drops its clients (as
    // Azure does when a key is regenerated).
    let _: () = redis::cmd("CONFIG").arg("SET").arg("requirepass").arg("key-2-s3cret").query(&mut admin).unwrap();
    *current.lock().unwrap() = "key-2-s3cret".to_owned();
    let asked_before = asked.load(Ordering::Relaxed);
    until(Duration::from_secs(30), "the provider asked again", || asked.load(Ordering::Relaxed) > asked_before).await;
    let _: () =
        redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("normal").arg("SKIPME").arg("yes").query(&mut admin).unwrap();

    // The same store, no restart: it reconnects with the new key.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match store.get("rotate:{x}").await {
            Ok(value) => {
                assert_eq!(value.as_deref(), Some(&b"1"[..]));
                break;
            }
            Err(error) => {
                assert!(!error.to_string().contains("s3cret"), "{error}");
                assert!(Instant::now() < deadline, "not reconnected with the new key: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    let debug = format!("{store:?}");
    assert!(debug.contains("password provider") && !debug.contains("s3cret"), "{debug}");
}
