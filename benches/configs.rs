//! Embed configs (issue 17): what a page load costs the backend.
//!
//! - `config/warm`: a plain report config whose token and report lookup are both cached (the
//!   embed-token cache and the lookup cache on). It makes no Power BI call (asserted: the
//!   loopback server's request count does not move), so it times the SDK alone. Target < 1 µs.
//! - `config/cold`: the same config with both caches off, so every call looks the report up and
//!   generates a token, side by side, against a loopback server that answers after
//!   `SERVICE_DELAY`. Next to it, `config/one_round_trip` times a single lookup against the same
//!   server: a cold config costing about one round trip (not two) shows the lookup and the token
//!   run concurrently (also asserted: two requests per cold config).
//!
//! The fixed server answers every request with one body; it holds the fields of both a report
//! (`id`, `embedUrl`) and an embed token (`token`, `tokenId`, `expiration`), and each parser
//! ignores the other's fields, as they ignore any field they do not know.
//!
//! `cargo bench --bench configs` (`-- --quick` for a short run)

mod support;

use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, Criterion};
use powerbi_embed::{
    AadClient, GenerateTokenRequest, PowerBiClient, RefreshPolicy, ReportId, StaticTokenCredential, WorkspaceId,
};
use support::fixed_server::FixedServer;
use support::fixtures::{long_token, REPORTS, TOKEN_ID, WORKSPACE};
use time::format_description::well_known::Rfc3339;
use tokio::runtime::Runtime;

/// A stand-in for the service's latency, long enough that one round trip and two sequential
/// ones are told apart at a glance.
const SERVICE_DELAY: Duration = Duration::from_millis(20);

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// An Entra client whose token (valid for an hour) is already cached.
fn warm_aad_client(runtime: &Runtime) -> AadClient {
    let expires_on = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let aad = AadClient::new(StaticTokenCredential::new(long_token("entra"), expires_on)).expect("client");
    runtime.block_on(aad.token()).expect("the first call fills the cache");
    aad
}

/// One body that is both a report and an embed token reply.
fn report_and_token_body() -> String {
    let expiration =
        (time::OffsetDateTime::now_utc() + Duration::from_secs(3600)).format(&Rfc3339).expect("formattable date");
    serde_json::json!({
        "id": REPORTS[0], "name": "Sales", "reportType": "PowerBIReport",
        "embedUrl": format!("https://app.powerbi.com/reportEmbed?reportId={}&groupId={WORKSPACE}", REPORTS[0]),
        "datasetId": "cfafbeb1-8037-4d0c-896e-a46fb27ff229",
        "token": long_token("H4sIAAAAAAAEAC2Tx66rCBZF"), "tokenId": TOKEN_ID, "expiration": expiration,
    })
    .to_string()
}

fn configs(c: &mut Criterion) {
    let runtime = runtime();
    let (workspace, report) = (WORKSPACE.parse::<WorkspaceId>().unwrap(), REPORTS[0].parse::<ReportId>().unwrap());
    let request = GenerateTokenRequest::report_view().lifetime_minutes(30).build().expect("valid request");

    let warm_server = FixedServer::start(&report_and_token_body(), Duration::ZERO);
    let warm = PowerBiClient::builder(warm_aad_client(&runtime))
        .api_base(warm_server.uri())
        .embed_token_cache(RefreshPolicy::default())
        .lookup_cache(Duration::from_secs(600))
        .build()
        .expect("client");
    let warm_config = || warm.workspace(workspace).report(report).embed_config(&request);
    runtime.block_on(warm_config()).expect("the first config fills both caches");
    let after_first = warm_server.requests();
    assert_eq!(after_first, 2, "the first config: one lookup and one token");

    let cold_server = FixedServer::start(&report_and_token_body(), SERVICE_DELAY);
    let cold = PowerBiClient::builder(warm_aad_client(&runtime)).api_base(cold_server.uri()).build().expect("client");
    let cold_config = || cold.workspace(workspace).report(report).embed_config(&request);
    let one_lookup = || cold.workspace(workspace).report(report).get();
    runtime.block_on(cold_config()).expect("a cold config");
    assert_eq!(cold_server.requests(), 2, "a cold config: one lookup and one token");
    let started = SystemTime::now();
    runtime.block_on(cold_config()).expect("a cold config");
    let took = started.elapsed().unwrap_or_default();
    assert!(took < SERVICE_DELAY * 2, "lookup and token side by side: one round trip, not two ({took:?})");

    let mut group = c.benchmark_group("config");
    group.bench_function("warm", |b| b.to_async(&runtime).iter(warm_config));
    group.bench_function("cold", |b| b.to_async(&runtime).iter(cold_config));
    group.bench_function("one_round_trip", |b| b.to_async(&runtime).iter(one_lookup));
    group.finish();
    assert_eq!(warm_server.requests(), after_first, "a warm config makes no Power BI call");
}

criterion_group!(benches, configs);
criterion_main!(benches);
