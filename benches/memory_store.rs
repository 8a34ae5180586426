//! `MemoryStore::put` on a store of 1 million entries, all expired (each put's sweep drops one
//! or two of the two entries it examines: about the most a sweep ever does) or all live (the
//! sweep examines two entries and keeps them). The difference is the sweep's cost per put.
//!
//! The store runs on a `ManualClock`, so "expired" is set up by moving the clock, not by
//! waiting. Each batch of timed puts starts from a freshly built store (building it is not
//! timed) and stays under 400,000 puts, so the expired case never runs out of expired entries.
//!
//! `cargo bench --bench memory_store`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use powerbi_embed::{ManualClock, MemoryStore, TokenStore};
use tokio::runtime::Runtime;

const ENTRIES: usize = 1_000_000;
/// At most this many timed puts per store: each examines two entries, so 400,000 puts stay
/// within the first 800,000 of the million.
const BATCH: u64 = 400_000;
/// About the size of a sealed Entra token entry's header; the value's size is the same for both
/// cases, so it does not change the difference.
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

fn bench_put(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let fill = names("a", ENTRIES);
    let fresh = names("b", BATCH as usize);
    let mut group = c.benchmark_group("memory_store_put_1m");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    for (id, expired) in [("all_expired", true), ("all_live", false)] {
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let batch = (iters - done).min(BATCH) as usize;
                    let store = filled_store(&rt, &fill, expired);
                    let started = Instant::now();
                    rt.block_on(async {
                        for name in &fresh[..batch] {
                            store.put(black_box(name), &VALUE, Duration::from_secs(3600)).await.unwrap();
                        }
                    });
                    timed += started.elapsed();
                    // The sweep did its work: with expired entries ahead of it, each put drops
                    // at least one (two, unless the entry moved into the gap is a new live one).
                    assert_eq!(store.len(), if expired { batch } else { ENTRIES + batch });
                    assert!(store.held() <= if expired { ENTRIES } else { ENTRIES + batch });
                    done += batch as u64;
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
