//! End to end over loopback: `PowerBiClient::report_embed_token` (Entra token cached) side by
//! side with a hand-written reqwest call that sends the identical request and parses the reply
//! into the same `EmbedToken`, at 1 and at 64 concurrent requests. Target: SDK / hand-written
//! ≤ 1.05 at both.
//!
//! Both clients are built with the same reqwest settings and talk to the same fixed-response
//! server, which runs on its own thread; before timing, the bench records one request from each
//! client and fails unless the bytes are identical. The clients run on one current-thread
//! runtime, so at 64 concurrent requests the client thread is the bottleneck and any cost the
//! SDK adds shows in full.
//!
//! Criterion times the two sides seconds apart, and on a shared machine the load changes in
//! between, so the bench also prints a paired ratio: the sides alternate in short rounds that
//! see the same load, and the median of the per-round ratios is reported with its range.
//!
//! `cargo bench --bench loopback`

mod support;

use std::error::Error;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use powerbi_embed::ForReport;
use powerbi_embed::{
    AadClient, EffectiveIdentity, EmbedToken, GenerateTokenRequest, PowerBiClient, StaticTokenCredential,
};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::Deserialize;
use support::fixed_server::FixedServer;
use support::fixtures::{embed_token_body, long_token, DATASETS, REPORTS, WORKSPACE};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

/// The concurrency levels of the issue.
const CONCURRENCY: [usize; 2] = [1, 64];

/// Rounds of the paired comparison, and how many calls each side makes in one round (about a
/// tenth of a second's worth).
const PAIRED_ROUNDS: usize = 30;
const PAIRED_CALLS_PER_ROUND: usize = 2048;

/// The `User-Agent` the SDK sends, so the hand-written client sends it too.
const USER_AGENT: &str = concat!("powerbi-embed-rust/", env!("CARGO_PKG_VERSION"));

type BoxError = Box<dyn Error + Send + Sync>;

/// What a careful engineer writes without the SDK: the same reqwest settings as the SDK's
/// default client, the same headers, the same body, and the same parsed value.
struct HandWritten {
    client: reqwest::Client,
    api_base: String,
    entra_token: String,
    body: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmbedTokenReply {
    token: String,
    token_id: String,
    expiration: String,
}

impl HandWritten {
    fn new(api_base: String, entra_token: String, body: String) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(USER_AGENT)
            .build()
            .expect("client");
        Self { client, api_base, entra_token, body }
    }

    async fn report_embed_token(&self, workspace: &str, report: &str) -> Result<EmbedToken, BoxError> {
        let url = format!("{}/v1.0/myorg/groups/{workspace}/reports/{report}/GenerateToken", self.api_base);
        let response = self
            .client
            .post(url)
            .bearer_auth(&self.entra_token)
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/json")
            .body(self.body.clone())
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(format!("GenerateToken answered {}", response.status()).into());
        }
        let reply: EmbedTokenReply = serde_json::from_slice(&response.bytes().await?)?;
        let expiration = OffsetDateTime::parse(&reply.expiration, &Rfc3339)?;
        Ok(EmbedToken::new(reply.token, reply.token_id.parse()?, expiration))
    }
}

/// The SDK side: a client whose Entra token is cached, and the request it sends.
struct Sdk {
    client: PowerBiClient,
    request: GenerateTokenRequest<ForReport>,
}

impl Sdk {
    fn new(api_base: String, entra_token: &str, runtime: &Runtime) -> Self {
        let expires_on = OffsetDateTime::now_utc() + time::Duration::hours(1);
        let aad = AadClient::new(StaticTokenCredential::new(entra_token, expires_on)).expect("client");
        runtime.block_on(aad.token()).expect("the Entra token is cached before timing");
        let client = PowerBiClient::builder(aad).api_base(api_base).build().expect("client");
        let request = GenerateTokenRequest::report_view()
            .identity(
                EffectiveIdentity::new("customer@contoso.com")
                    .role("Viewer")
                    .datasets([DATASETS[0].parse().expect("a dataset id")]),
            )
            .lifetime_minutes(30)
            .build()
            .expect("valid request");
        Self { client, request }
    }

    /// From the same text ids as the hand-written side: parsed on every call, as the string
    /// API before typed ids did, so the two sides and the figures of earlier runs compare.
    async fn report_embed_token(&self, workspace: &str, report: &str) -> powerbi_embed::Result<EmbedToken> {
        self.client.workspace(workspace.parse()?).report(report.parse()?).embed_token(&self.request).await
    }
}

/// Sends one request from each side and fails unless the server received the same bytes.
fn assert_identical_requests(server: &FixedServer, runtime: &Runtime, sdk: &Sdk, hand: &HandWritten) {
    server.start_recording();
    runtime.block_on(async {
        sdk.report_embed_token(WORKSPACE, REPORTS[0]).await.expect("SDK call");
        hand.report_embed_token(WORKSPACE, REPORTS[0]).await.expect("hand-written call");
    });
    let recorded = server.take_recorded();
    assert_eq!(recorded.len(), 2);
    assert_eq!(
        String::from_utf8_lossy(&recorded[0]),
        String::from_utf8_lossy(&recorded[1]),
        "the SDK and the hand-written call must send byte-identical requests"
    );
}

/// Runs `concurrency` calls at once and checks that each succeeded. One call is a plain await,
/// as a request handler would make it; more are tasks, as concurrent handlers would be.
async fn run_calls<F, Fut, E>(concurrency: usize, call: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<EmbedToken, E>> + Send + 'static,
    E: std::fmt::Debug + Send + 'static,
{
    if concurrency == 1 {
        call().await.expect("embed token");
        return;
    }
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        tasks.spawn(call());
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task").expect("embed token");
    }
}

/// Times `batches` rounds of `concurrency` calls.
fn time_batches<F, Fut, E>(runtime: &Runtime, batches: u64, concurrency: usize, call: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<EmbedToken, E>> + Send + 'static,
    E: std::fmt::Debug + Send + 'static,
{
    runtime.block_on(async {
        let start = Instant::now();
        for _ in 0..batches {
            run_calls(concurrency, &call).await;
        }
        start.elapsed()
    })
}

/// Prints the median and range of SDK time / hand-written time over alternating rounds.
fn print_paired_ratio(concurrency: usize, sdk: impl Fn(u64) -> Duration, hand: impl Fn(u64) -> Duration) {
    let batches = (PAIRED_CALLS_PER_ROUND / concurrency) as u64;
    let mut ratios: Vec<f64> = (0..PAIRED_ROUNDS)
        .map(|round| {
            // Alternate which side goes first, so a trend in the load favours neither.
            let (sdk_time, hand_time) = if round % 2 == 0 {
                let sdk_time = sdk(batches);
                (sdk_time, hand(batches))
            } else {
                let hand_time = hand(batches);
                (sdk(batches), hand_time)
            };
            sdk_time.as_secs_f64() / hand_time.as_secs_f64()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "embed_token_loopback/paired_ratio/{concurrency}: sdk / hand_written median {:.3}, min {:.3}, max {:.3} \
         ({PAIRED_ROUNDS} alternating rounds of {batches} x {concurrency} calls per side)",
        ratios[PAIRED_ROUNDS / 2],
        ratios[0],
        ratios[PAIRED_ROUNDS - 1]
    );
}

fn embed_token_over_loopback(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let server = FixedServer::start(&embed_token_body(Duration::from_secs(3600)), Duration::ZERO);
    let entra_token = long_token("entra");
    let sdk = Arc::new(Sdk::new(server.uri(), &entra_token, &runtime));
    let hand = Arc::new(HandWritten::new(server.uri(), entra_token, sdk.request.expose_json().to_owned()));
    assert_identical_requests(&server, &runtime, &sdk, &hand);
    let sdk_call = || {
        let sdk = sdk.clone();
        async move { sdk.report_embed_token(WORKSPACE, REPORTS[0]).await }
    };
    let hand_call = || {
        let hand = hand.clone();
        async move { hand.report_embed_token(WORKSPACE, REPORTS[0]).await }
    };

    let mut group = c.benchmark_group("embed_token_loopback");
    for concurrency in CONCURRENCY {
        group.throughput(Throughput::Elements(concurrency as u64));
        group.bench_function(BenchmarkId::new("sdk", concurrency), |b| {
            b.to_async(&runtime).iter(|| run_calls(concurrency, sdk_call))
        });
        group.bench_function(BenchmarkId::new("hand_written", concurrency), |b| {
            b.to_async(&runtime).iter(|| run_calls(concurrency, hand_call))
        });
        print_paired_ratio(
            concurrency,
            |batches| time_batches(&runtime, batches, concurrency, sdk_call),
            |batches| time_batches(&runtime, batches, concurrency, hand_call),
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(6))
        .sample_size(60);
    targets = embed_token_over_loopback
}
criterion_main!(benches);
