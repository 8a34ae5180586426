//! Redis credentials never show: not in `Debug` of the store or its builder, not in errors, not
//! in any log line at TRACE (this crate's events, and the `log` records of the redis crate),
//! from any task. A binary of its own, since it captures logs process-wide.
//!
//! Ignored by default ("needs redis-server"); `.ci/run` installs it and runs them with
//! `--include-ignored`.

#[path = "../../support/mod.rs"]
mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use powerbi_embed::{AadClient, ClientSecretCredential, RedisStore, Secret, StoreError, TokenStore};
use support::redis_server::{RedisServer, TestPki};
use support::*;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const OBJECT_ID: &str = "0d9c1e2f-3a4b-4c5d-8e6f-708192a3b4c5";
const PASSWORD: &str = "acl-pa55w0rd-zq";
const CLIENT_SECRET: &str = "entra-client-s3cret-zq";

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

struct Writer(Arc<Mutex<Vec<u8>>>);

impl Write for Writer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Writer;
    fn make_writer(&'a self) -> Writer {
        Writer(self.0.clone())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server"]
async fn redis_passwords_tokens_and_keys_never_reach_debug_errors_or_logs() {
    let logs = Buffer::default();
    tracing_log::LogTracer::init().expect("the only `log` logger in this binary");
    let subscriber = tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(logs.clone()).finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber in this binary");

    // An Entra token as the password of the ACL user named by its oid, over TLS with a client
    // certificate.
    let token = format!(
        "eyJhbGciOiJSUzI1NiJ9.{}.c2VjcmV0LXNpZ25hdHVyZQ",
        base64_url(format!(r#"{{"oid":"{OBJECT_ID}","secret":"zq"}}"#).as_bytes())
    );
    let pki = TestPki::new("secrets");
    let client = pki.leaf("client", &["replica"]);
    let redis = RedisServer::start_tls(&pki, &pki.leaf("server", &["localhost"]), &["--tls-auth-clients", "yes"]);
    let mut admin = redis.client();
    for (user, password) in [(OBJECT_ID, token.as_str()), ("app", PASSWORD)] {
        let _: () = redis::cmd("ACL")
            .arg("SETUSER")
            .arg(user)
            .arg("on")
            .arg(format!(">{password}"))
            .arg("~*")
            .arg("+@all")
            .query(&mut admin)
            .unwrap();
    }
    let entra = strict_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body(&token, 3600)))
        .expect(1)
        .mount(&entra)
        .await;
    let aad = AadClient::builder(ClientSecretCredential::new(TENANT, CLIENT, CLIENT_SECRET).unwrap())
        .authority_host(entra.uri())
        .build()
        .unwrap();
    let builder = RedisStore::builder(redis.tls_url("localhost"))
        .ca_pem(pki.ca_pem())
        .client_certificate(client.cert_pem.clone(), client.key_pem.clone())
        .entra_id(aad);
    let mut shown = format!("{builder:?}");
    let store = builder.connect().await.unwrap();
    store.put("s:{x}", token.as_bytes(), Duration::from_secs(5)).await.unwrap();
    store.ping().await.unwrap();
    shown.push_str(&format!("{store:?}"));

    // A password in the URL, on the builder, from a provider: refused ones and accepted ones.
    let url = format!("rediss://app:{PASSWORD}@localhost:{}", redis.tls_port.unwrap());
    let with_client = |b: powerbi_embed::RedisStoreBuilder| {
        b.ca_file(pki.ca_path()).client_certificate(client.cert_pem.clone(), client.key_pem.clone())
    };
    let in_url = with_client(RedisStore::builder(&url)).connect().await.unwrap();
    shown.push_str(&format!("{in_url:?}"));
    let wrong = with_client(RedisStore::builder(url.replace(PASSWORD, &format!("{PASSWORD}-old"))));
    shown.push_str(&format!("{wrong:?}"));
    let error = wrong.connect().await.unwrap_err();
    assert_eq!(error.kind(), powerbi_embed::StoreErrorKind::Auth, "{error}");
    shown.push_str(&error.to_string());
    let on_builder = with_client(RedisStore::builder(redis.tls_url("localhost"))).username("app").password(PASSWORD);
    shown.push_str(&format!("{on_builder:?}"));
    let on_builder = on_builder.connect().await.unwrap();
    shown.push_str(&format!("{on_builder:?}"));
    let provided = with_client(RedisStore::builder(redis.tls_url("localhost")))
        .username("app")
        .password_provider(Duration::from_secs(60), || async { Ok::<_, StoreError>(Secret::new(PASSWORD)) })
        .connect()
        .await
        .unwrap();
    shown.push_str(&format!("{provided:?}"));
    for store in [&in_url, &on_builder, &provided] {
        store.get("s:{x}").await.unwrap();
    }
    // A store whose credentials are refused keeps failing, saying so without the password.
    let refused = with_client(RedisStore::builder(redis.tls_url("localhost")))
        .username("app")
        .password(format!("{PASSWORD}-old"))
        .build()
        .unwrap();
    shown.push_str(&refused.get("s:{x}").await.unwrap_err().to_string());
    entra.verify().await;
    drop((store, in_url, on_builder, provided, refused));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(logs.contains("TRACE") || logs.contains("DEBUG"), "logs were captured: {logs}");
    let client_key_body: String = client.key_pem.lines().nth(1).unwrap().to_owned();
    for (what, text) in [("Debug and errors", &shown), ("logs", &logs)] {
        for secret in [PASSWORD, &token, token.split('.').nth(1).unwrap(), CLIENT_SECRET, &client_key_body] {
            assert!(!text.contains(secret), "{what} show a secret ({secret}):\n{text}");
        }
    }
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
