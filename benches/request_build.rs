//! Building a `GenerateTokenRequestV2` with 3 reports, 2 datasets and 3 RLS identities:
//! every rule checked and the body serialized (`build()` does both). Target: < 2 µs.
//!
//! `builder_and_build` is what a caller pays per request, from string ids (parsed into typed
//! ids, as a caller holding text would) to the serialized body; `build_only` leaves out filling
//! the builder. Allocations per build are printed, not
//! asserted: a request owns its serialized body, so some are expected.
//!
//! `cargo bench --bench request_build`

mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use powerbi_embed::{
    DatasetId, EffectiveIdentity, GenerateTokenRequestV2, GenerateTokenRequestV2Builder, ReportId, XmlaPermissions,
};
use support::counting_alloc::{allocations, CountingAllocator};
use support::fixtures::{DATASETS, REPORTS};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// The request of the issue: 3 reports (one editable), 2 datasets (one with XMLA) and 3
/// identities with roles, datasets and, for one, custom data.
fn three_reports_two_datasets_three_identities() -> GenerateTokenRequestV2Builder {
    let [r1, r2, r3] = REPORTS.map(|id| id.parse::<ReportId>().expect("a report id"));
    let [d1, d2] = DATASETS.map(|id| id.parse::<DatasetId>().expect("a dataset id"));
    GenerateTokenRequestV2::builder()
        .report(r1)
        .report(r2)
        .report_with_edit(r3, true)
        .dataset(d1)
        .dataset_with_xmla(d2, XmlaPermissions::ReadOnly)
        .identity(EffectiveIdentity::new("alice@contoso.com").role("Viewer").datasets([d1]))
        .identity(EffectiveIdentity::new("bob@contoso.com").roles(["Viewer", "EU"]).datasets([d2]))
        .identity(
            EffectiveIdentity::new("carol@contoso.com").role("Manager").datasets([d1, d2]).custom_data("tier=gold"),
        )
        .lifetime_minutes(60)
}

fn print_allocations_per_build() {
    const BUILDS: u64 = 1_000;
    let before = allocations();
    for _ in 0..BUILDS {
        black_box(three_reports_two_datasets_three_identities().build().expect("valid request"));
    }
    let with_builder = allocations() - before;
    let builders: Vec<_> = (0..BUILDS).map(|_| three_reports_two_datasets_three_identities()).collect();
    let before = allocations();
    for builder in builders {
        black_box(builder.build().expect("valid request"));
    }
    let build_only = allocations() - before;
    let body = three_reports_two_datasets_three_identities().build().expect("valid request");
    println!(
        "request_v2: {} allocations per builder_and_build, {} per build_only; body {} bytes",
        with_builder / BUILDS,
        build_only / BUILDS,
        body.expose_json().len()
    );
}

fn request_v2(c: &mut Criterion) {
    print_allocations_per_build();
    let mut group = c.benchmark_group("request_v2");
    group.bench_function("builder_and_build", |b| {
        b.iter(|| three_reports_two_datasets_three_identities().build().expect("valid request"))
    });
    group.bench_function("build_only", |b| {
        b.iter_batched(
            three_reports_two_datasets_three_identities,
            |builder| builder.build().expect("valid request"),
            BatchSize::NumIterations(64),
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = request_v2
}
criterion_main!(benches);
