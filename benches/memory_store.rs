//! `MemoryStore::put` on a store of 1 million entries, all expired (each put's sweep drops one
//! or two of the two entries it examines: about the most a sweep ever does) or all live (the
//! sweep examines two entries and keeps them). The difference is the sweep's cost per put.
//!
//! The store runs on a `ManualClock`, so "expired" is set up by moving the clock, not by
//! waiting. One iteration is 100,000 puts of new names (criterion reports the time per
//! iteration and the puts per second); a store serves 4 iterations and is then rebuilt
//! (building it is not timed), so the expired case never runs out of expired entries.
//!
//! `cargo bench --bench memory_store`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use powerbi_embed::{ManualClock, MemoryStore, TokenStore};
use tokio::runtime::Runtime;

const ENTRIES: usize = 1_000_000;
/// One timed iteration: this many puts of new names.
const PUTS_PER_ITERATION: usize = 100_000;
/// Iterations on one store before it is rebuilt: 4 x 100,000 puts drop at most 800,000 of the
/// million expired entries, so the sweep never runs out of expired entries to drop.
const ITERATIONS_PER_STORE: usize = 4;
/// The same value in every entry; its size is the same for both cases, so it does not change
/// the difference.
const VALUE: [u8; 64] = [7; 64];

/// Names shaped like the shared tier's (`prefix{sha256 hex}`).
fn names(tag: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("powerbi-embed:{{{tag}{i:060x}}}")).collect()
}

/// A store of `ENTRIES` entries that are expired (`expired`) or live, on its own manual clock.
fn filled_store(rt: &Runtime, fill: &[String], expired: bool) -> MemoryStore {
    let clock = ManualClock::new(time::macros::datetime!(2026-11-25 12:00 UTC));
    let store = MemoryStore::with_clock(Arc::new(clock.clone()));
    rt.block_on(async {
        for name in fill {
            store.put(name, &VALUE, Duration::from_secs(60)).await.unwrap();
        }
    });
    if expired {
        clock.advance(Duration::from_secs(120));
    }
    assert_eq!(store.held(), ENTRIES);
    assert_eq!(store.len(), if expired { 0 } else { ENTRIES });
    store
}

/// A store and how many iterations have used it.
struct Fixture {
    store: MemoryStore,
    used: usize,
}

fn bench_put(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let fill = names("a", ENTRIES);
    let fresh = names("b", PUTS_PER_ITERATION * ITERATIONS_PER_STORE);
    let mut group = c.benchmark_group("memory_store_put_1m");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(500))
        .throughput(Throughput::Elements(PUTS_PER_ITERATION as u64));
    for (id, expired) in [("all_expired", true), ("all_live", false)] {
        let mut fixture: Option<Fixture> = None;
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    if fixture.as_ref().is_none_or(|f| f.used == ITERATIONS_PER_STORE) {
                        fixture = None; // drop the old store before building the next
                        fixture = Some(Fixture { store: filled_store(&rt, &fill, expired), used: 0 });
                    }
                    let Fixture { store, used } = fixture.as_mut().unwrap();
                    let names = &fresh[*used * PUTS_PER_ITERATION..][..PUTS_PER_ITERATION];
                    let started = Instant::now();
                    rt.block_on(async {
                        for name in names {
                            store.put(black_box(name), &VALUE, Duration::from_secs(3600)).await.unwrap();
                        }
                    });
                    timed += started.elapsed();
                    *used += 1;
                    // The sweep did its work: with expired entries ahead of it, each put drops
                    // at least one (two, unless the entry moved into the gap is a new live one).
                    let puts = *used * PUTS_PER_ITERATION;
                    assert_eq!(store.len(), if expired { puts } else { ENTRIES + puts });
                    assert!(store.held() <= if expired { ENTRIES } else { ENTRIES + puts });
                }
                timed
            })
        });
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench_put(&mut criterion);
    criterion.final_summary();
}
