//! A global allocator that counts allocations per thread, to show that a cache hit allocates
//! nothing.
//!
//! Per thread, not global: the benches drive the client on a current-thread runtime, so
//! everything a call does (including any task it spawned) runs on the measuring thread, while
//! the fake server's and criterion's own threads stay out of the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Forwards to the system allocator, counting `alloc`, `alloc_zeroed` and `realloc`.
pub struct CountingAllocator;

thread_local! {
    // Const-initialised and free of destructors, so touching it inside the allocator can
    // never allocate or recurse.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with` fails only while the thread is being torn down; those allocations don't matter.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; counting
// touches only a thread-local `Cell` and never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

/// How many allocations this thread has made so far (subtract two readings).
pub fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}
