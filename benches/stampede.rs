//! Cold stampede: 1,000 concurrent callers of `AadClient::token()` on a cold cache, against a
//! fake Entra token endpoint that answers after a fixed 2 ms, timed against a single caller on
//! a cold cache. Single flight means both make one token request, so the target is a stampede
//! costing at most 1.5× a single cold call. (`tests/cache/stampede.rs` asserts the one request.)
//!
//! Each iteration builds a fresh `AadClient` (a cold cache) outside the timing, over one shared
//! reqwest client, so both cases reuse a warm connection and differ only in the callers.
//!
//! `cargo bench --bench stampede`

mod support;

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use powerbi_embed::{AadClient, AccessToken, ClientSecretCredential};
use support::fixed_server::FixedServer;
use support::fixtures::{entra_token_body, CLIENT, TENANT};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

/// The fake Entra's latency: small, but a real round trip for both cases.
const ENTRA_DELAY: Duration = Duration::from_millis(2);

/// A single cold caller, then the stampede of the issue.
const CALLERS: [usize; 2] = [1, 1000];

/// A new client, so a cold cache, over the shared reqwest client.
fn cold_client(entra: &FixedServer, http: &reqwest::Client) -> AadClient {
    AadClient::builder(ClientSecretCredential::new(TENANT, CLIENT, "secret").expect("credential"))
        .authority_host(entra.uri())
        .http_client(http.clone())
        .build()
        .expect("client")
}

/// The same settings as the SDK's default client.
fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// Starts `callers` tasks asking `aad` for a token at once; returns the time until the last
/// one has it, and the tokens.
async fn stampede(aad: &AadClient, callers: usize) -> (Duration, Vec<AccessToken>) {
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..callers {
        let aad = aad.clone();
        tasks.spawn(async move { aad.token().await });
    }
    let mut tokens = Vec::with_capacity(callers);
    while let Some(done) = tasks.join_next().await {
        tokens.push(done.expect("task").expect("token"));
    }
    (start.elapsed(), tokens)
}

/// Times one stampede on a fresh client, checking outside the timing that it made exactly one
/// token request and that every caller got that token.
fn timed_stampede(runtime: &Runtime, entra: &FixedServer, http: &reqwest::Client, callers: usize) -> Duration {
    let aad = cold_client(entra, http);
    let requests_before = entra.requests();
    let (elapsed, tokens) = runtime.block_on(stampede(&aad, callers));
    assert_eq!(entra.requests(), requests_before + 1, "one token request per stampede");
    let first = tokens[0].secret();
    assert!(tokens.iter().all(|t| t.secret() == first), "every caller gets the same token");
    elapsed
}

fn cold_stampede(c: &mut Criterion) {
    // Two workers, like a small server; the fake Entra answers from its own thread.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let entra = FixedServer::start(&entra_token_body(), ENTRA_DELAY);
    let http = http_client();
    timed_stampede(&runtime, &entra, &http, 1); // opens the connection both cases then reuse

    let mut group = c.benchmark_group("cold_stampede");
    for callers in CALLERS {
        group.bench_function(BenchmarkId::new("callers", callers), |b| {
            b.iter_custom(|iterations| (0..iterations).map(|_| timed_stampede(&runtime, &entra, &http, callers)).sum())
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sample_size(30);
    targets = cold_stampede
}
criterion_main!(benches);
