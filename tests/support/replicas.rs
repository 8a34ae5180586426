//! Replicas sharing tokens through a `RedisStore`, for the Redis test binaries: numbered fakes of
//! Entra ID and Power BI (a token's number says which request made it), clients pointed at
//! them, and the multi-process stampede (a parent starts eight copies of its own test binary,
//! each a replica of a hundred callers, and checks what they printed).

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use powerbi_embed::testing::SafeMockServer;
use powerbi_embed::{
    AadClient, ClientSecretCredential, EffectiveIdentity, GenerateTokenRequest, PowerBiClient, SharedCache,
};
use powerbi_embed::{DatasetId, ForReport, ReportId, WorkspaceId};
use serde_json::json;
use wiremock::matchers::{body_string_contains, method, path, path_regex};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

pub use super::ids::{DATASET, REPORT, WORKSPACE};
use super::{strict_server, token_body, CLIENT, TENANT, TOKEN_PATH};

pub const SECRET: &str = "redis-test-secret";

/// Answers every request with a new token (`<prefix>-1`, `<prefix>-2`, ...) after `delay`, so
/// callers holding the same token got it from one request.
pub struct Numbered {
    prefix: String,
    embed: bool,
    delay: Duration,
    served: AtomicUsize,
}

impl Numbered {
    pub fn entra(delay: Duration) -> Self {
        Self { prefix: "entra".into(), embed: false, delay, served: AtomicUsize::new(0) }
    }

    pub fn embed(prefix: &str, delay: Duration) -> Self {
        Self { prefix: prefix.into(), embed: true, delay, served: AtomicUsize::new(0) }
    }
}

impl Respond for Numbered {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let token = format!("{}-{}", self.prefix, self.served.fetch_add(1, Ordering::SeqCst) + 1);
        let body = if self.embed {
            let expiration = (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap();
            json!({"token": token, "tokenId": "49ae3742-54c0-4c29-af52-619ff93b5c80", "expiration": expiration})
        } else {
            token_body(&token, 3600)
        };
        ResponseTemplate::new(200).set_body_json(body).set_delay(self.delay)
    }
}

/// An Entra fake that must see exactly `expected` token requests.
pub async fn entra(delay: Duration, expected: u64) -> SafeMockServer {
    let server = strict_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(Numbered::entra(delay))
        .expect(expected)
        .mount(&server)
        .await;
    server
}

/// A Power BI fake with one `GenerateToken` route per user, each expected exactly once.
pub async fn powerbi_once_per_user(users: &[&str], delay: Duration) -> SafeMockServer {
    let server = strict_server().await;
    for user in users {
        Mock::given(method("POST"))
            .and(path_regex("/GenerateToken$"))
            .and(body_string_contains(format!("\"username\":\"{user}\"")))
            .respond_with(Numbered::embed(&format!("embed-{user}"), delay))
            .expect(1)
            .named(format!("GenerateToken for {user}"))
            .mount(&server)
            .await;
    }
    server
}

/// A replica's Entra client (its own, empty local cache) sharing through `shared`.
pub fn aad(entra_uri: &str, shared: &SharedCache) -> AadClient {
    AadClient::builder(ClientSecretCredential::new(TENANT, CLIENT, SECRET).unwrap())
        .authority_host(entra_uri)
        .shared_cache(shared.clone())
        .build()
        .unwrap()
}

/// A replica's Power BI client, its embed-token cache shared through `shared`.
pub fn powerbi_replica(aad: AadClient, powerbi_uri: &str, shared: &SharedCache) -> PowerBiClient {
    PowerBiClient::builder(aad).api_base(powerbi_uri).shared_cache(shared.clone()).build().unwrap()
}

/// A View token for `user` (an RLS identity on the test dataset).
pub fn view_as(user: &str) -> GenerateTokenRequest<ForReport> {
    GenerateTokenRequest::report_view().identity(EffectiveIdentity::new(user).datasets([DATASET])).build().unwrap()
}

// ---------------------------------------------------------------------------------------------
// The multi-process stampede.

const CHILD_ENTRA_URL: &str = "POWERBI_EMBED_TEST_CHILD_ENTRA_URL";
const CHILD_POWERBI_URL: &str = "POWERBI_EMBED_TEST_CHILD_POWERBI_URL";
const CHILD_KEY: &str = "POWERBI_EMBED_TEST_CHILD_KEY";

/// The child side: when this process was started by [`stampede`] (its environment says so),
/// connects with `store` (given the settings the parent passed in `env`) and runs 100
/// concurrent callers, half for alice and half for bob, printing `TOKEN <user> <entra token>
/// <embed token>` each. Otherwise does nothing.
pub fn stampede_child<F, Fut>(store: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Arc<dyn powerbi_embed::TokenStore>>,
{
    let Ok(entra_url) = std::env::var(CHILD_ENTRA_URL) else { return };
    let powerbi_url = std::env::var(CHILD_POWERBI_URL).unwrap();
    let key = hex_key(&std::env::var(CHILD_KEY).unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let lines = runtime.block_on(async {
        // Exact counts, not speed: a generous bound on each store call, so a loaded machine
        // cannot turn a slow answer into a miss (and a second fetch).
        let shared = SharedCache::new(store().await, key).op_timeout(Duration::from_secs(5));
        let aad = aad(&entra_url, &shared);
        let client = powerbi_replica(aad.clone(), &powerbi_url, &shared);
        let calls: Vec<_> = (0..100)
            .map(|i| {
                let (aad, client) = (aad.clone(), client.clone());
                let user = if i % 2 == 0 { "alice" } else { "bob" };
                tokio::spawn(async move {
                    let embed = client.workspace(WORKSPACE).report(REPORT).embed_token(&view_as(user)).await.unwrap();
                    let entra = aad.token().await.unwrap();
                    format!("TOKEN {user} {} {}\n", entra.secret().expose_secret(), embed.secret().expose_secret())
                })
            })
            .collect();
        let mut lines = String::from("\n");
        for call in calls {
            lines.push_str(&call.await.unwrap());
        }
        lines
    });
    print!("{lines}");
}

/// The parent side: eight processes (this test binary, running only `child_test`, with `env`
/// added) of a hundred callers each, against Entra and Power BI fakes that must see exactly
/// one Entra request and one `GenerateToken` per user between them all.
pub async fn stampede(child_test: &str, env: &[(&str, String)]) {
    let entra = entra(Duration::from_millis(300), 1).await;
    let powerbi = powerbi_once_per_user(&["alice", "bob"], Duration::from_millis(200)).await;
    let mut key = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key).unwrap();
    let key_hex: String = key.iter().map(|b| format!("{b:02x}")).collect();

    let exe = std::env::current_exe().unwrap();
    let children: Vec<Child> = (0..8)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", child_test, "--include-ignored", "--nocapture", "--test-threads", "1"])
                .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                .env(CHILD_ENTRA_URL, entra.uri())
                .env(CHILD_POWERBI_URL, powerbi.uri())
                .env(CHILD_KEY, &key_hex)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs = tokio::task::spawn_blocking(move || {
        children.into_iter().map(|c| wait_bounded(c, Duration::from_secs(90))).collect::<Vec<_>>()
    })
    .await
    .unwrap();

    let mut per_user = BTreeMap::<String, Vec<(String, String)>>::new();
    for output in &outputs {
        let lines: Vec<&str> = output.lines().filter_map(|l| l.split_once("TOKEN ").map(|(_, rest)| rest)).collect();
        assert_eq!(lines.len(), 100, "each child prints one line per caller:\n{output}");
        for line in lines {
            let fields: Vec<&str> = line.split(' ').collect();
            assert_eq!(fields.len(), 3, "{line}");
            per_user.entry(fields[0].to_owned()).or_default().push((fields[1].to_owned(), fields[2].to_owned()));
        }
    }
    assert_eq!(per_user.len(), 2);
    for (user, tokens) in &per_user {
        assert_eq!(tokens.len(), 400, "{user}");
        for (entra_token, embed_token) in tokens {
            assert_eq!(entra_token, "entra-1", "all 800 callers share the one Entra token");
            assert_eq!(embed_token, &format!("embed-{user}-1"), "all 400 callers for {user} share one embed token");
        }
    }
    entra.verify().await;
    powerbi.verify().await;
}

fn hex_key(text: &str) -> [u8; 32] {
    let bytes: Vec<u8> = (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect();
    bytes.try_into().unwrap()
}

/// Waits for a child with a deadline (killing it past that) and returns its stdout.
pub fn wait_bounded(mut child: Child, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("a child process did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(status.success(), "child failed: {status}\n{stdout}\n{stderr}");
    stdout
}

// ---------------------------------------------------------------------------------------------
// Log capture.

/// This crate's events at INFO and above on the current thread: (level, message).
#[derive(Default, Clone)]
pub struct Events(pub Arc<std::sync::Mutex<Vec<(tracing::Level, String)>>>);

impl Events {
    /// The messages logged at `level`.
    pub fn at(&self, level: tracing::Level) -> Vec<String> {
        self.0.lock().unwrap().iter().filter(|(l, _)| *l == level).map(|(_, m)| m.clone()).collect()
    }
}

struct MessageOf<'a>(&'a mut String);

impl tracing::field::Visit for MessageOf<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.insert_str(0, &format!("{value:?}"));
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

impl tracing::Subscriber for Events {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let meta = event.metadata();
        if *meta.level() <= tracing::Level::INFO && meta.target().starts_with("powerbi_embed") {
            let mut message = String::new();
            event.record(&mut MessageOf(&mut message));
            self.0.lock().unwrap().push((*meta.level(), message));
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
