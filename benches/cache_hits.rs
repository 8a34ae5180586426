//! Cache hits, the SDK's hottest paths: `AadClient::token()` with a cached Entra token (target
//! median < 100 ns) and a repeated report `embed_token` with the embed-token cache on (target
//! < 200 ns). Before timing, each counts its heap allocations over many hits and fails unless
//! there are none: a hit may only bump reference counts. The embed hit is timed twice: with
//! typed ids held by the caller (`embed_token`, the new API's path), and parsing the two ids
//! from text on every call (`embed_token_from_text`, what the string API before typed ids did,
//! so today's figures compare with earlier ones), and once more through a profile's view
//! (`embed_token_as_profile`). Two reference rows time what every hit must do anyway: read the
//! system clock, and (text ids) parse a GUID.
//!
//! `cargo bench --bench cache_hits`

mod support;

use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, Criterion};
use powerbi_embed::{
    AadClient, DatasetId, EffectiveIdentity, GenerateTokenRequest, Guid, PowerBiClient, ProfileId, RefreshPolicy,
    ReportId, StaticTokenCredential, WorkspaceId,
};
use support::counting_alloc::{allocations, CountingAllocator};
use support::fixed_server::FixedServer;
use support::fixtures::{embed_token_body, long_token, DATASETS, REPORTS, WORKSPACE};
use tokio::runtime::Runtime;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Hits counted for the allocation figure: enough that one stray allocation would show.
const COUNTED_HITS: u64 = 100_000;

/// One thread runs the client, so the per-thread allocation count sees everything it does.
fn client_runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// An Entra client whose token (valid for an hour) is already cached.
fn warm_aad_client(runtime: &Runtime) -> AadClient {
    let expires_on = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let aad = AadClient::new(StaticTokenCredential::new(long_token("entra"), expires_on)).expect("client");
    runtime.block_on(aad.token()).expect("the first call fills the cache");
    aad
}

/// Runs `hit` [`COUNTED_HITS`] times, prints the allocations per hit and fails unless zero.
fn assert_hits_do_not_allocate<F, Fut, T, E>(what: &str, runtime: &Runtime, hit: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Debug,
{
    let allocated = runtime.block_on(async {
        let before = allocations();
        for _ in 0..COUNTED_HITS {
            black_box(hit().await.expect("a cache hit"));
        }
        allocations() - before
    });
    println!(
        "{what}: {allocated} allocations in {COUNTED_HITS} hits = {} allocations/hit",
        allocated as f64 / COUNTED_HITS as f64
    );
    assert_eq!(allocated, 0, "{what} must not allocate");
}

fn entra_token_hit(c: &mut Criterion) {
    let runtime = client_runtime();
    let aad = warm_aad_client(&runtime);
    assert_hits_do_not_allocate("cache_hit/entra_token", &runtime, || aad.token());
    c.benchmark_group("cache_hit").bench_function("entra_token", |b| b.to_async(&runtime).iter(|| aad.token()));
}

fn embed_token_hit(c: &mut Criterion) {
    let runtime = client_runtime();
    let powerbi_fake = FixedServer::start(&embed_token_body(Duration::from_secs(3600)), Duration::ZERO);
    let powerbi = PowerBiClient::builder(warm_aad_client(&runtime))
        .api_base(powerbi_fake.uri())
        .embed_token_cache(RefreshPolicy::default())
        .build()
        .expect("client");
    let request = GenerateTokenRequest::report_view()
        .identity(EffectiveIdentity::new("customer@contoso.com").role("Viewer").datasets([dataset(DATASETS[0])]))
        .lifetime_minutes(30)
        .build()
        .expect("valid request");
    let (workspace, report) = (WORKSPACE.parse::<WorkspaceId>().unwrap(), REPORTS[0].parse::<ReportId>().unwrap());
    let profile: ProfileId = "a7c2b6e1-4c9d-4e53-9f3a-0d1e2f3a4b5c".parse().unwrap();
    let hit = || powerbi.workspace(workspace).report(report).embed_token(&request);
    let from_text = || async {
        let (workspace, report) = (WORKSPACE.parse()?, REPORTS[0].parse()?);
        powerbi.workspace(workspace).report(report).embed_token(&request).await
    };
    let as_profile = || powerbi.as_profile(profile).workspace(workspace).report(report).embed_token(&request);
    runtime.block_on(hit()).expect("the first call fills the cache");
    runtime.block_on(as_profile()).expect("the first call as the profile fills its entry");

    assert_hits_do_not_allocate("cache_hit/embed_token", &runtime, hit);
    assert_hits_do_not_allocate("cache_hit/embed_token_from_text", &runtime, from_text);
    assert_hits_do_not_allocate("cache_hit/embed_token_as_profile", &runtime, as_profile);
    let mut group = c.benchmark_group("cache_hit");
    group.bench_function("embed_token", |b| b.to_async(&runtime).iter(hit));
    group.bench_function("embed_token_from_text", |b| b.to_async(&runtime).iter(from_text));
    group.bench_function("embed_token_as_profile", |b| b.to_async(&runtime).iter(as_profile));
    group.finish();
    assert_eq!(powerbi_fake.requests(), 2, "every call after the first of each profile must be a hit");
}

fn dataset(id: &str) -> DatasetId {
    id.parse().expect("a dataset id")
}

/// Floors a hit cannot go below, for reading the figures above: every hit reads the system
/// clock once, and an embed-token call parses its workspace and report ids.
fn reference(c: &mut Criterion) {
    let mut group = c.benchmark_group("reference");
    group.bench_function("system_time_now", |b| b.iter(SystemTime::now));
    group.bench_function("guid_parse", |b| b.iter(|| black_box(WORKSPACE).parse::<Guid>()));
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = entra_token_hit, embed_token_hit, reference
}
criterion_main!(benches);
