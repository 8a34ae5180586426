//! The token caches: the local tier (refresh ahead, single flight, bounds), the shared tier on
//! an in-memory store, the loopback stampede, and recovery from a token the service refused.
//! The tests that need a real `redis-server` are binaries of their own under `redis/` (see
//! Cargo.toml): one starts copies of itself by test name, one installs a global log subscriber.

#[path = "../support/mod.rs"]
mod support;

mod bounds;
mod shared_cache;
mod stampede;
mod token_cache;
mod token_recovery;
