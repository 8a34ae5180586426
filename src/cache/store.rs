//! The shared tier's storage: a trait any backend (Redis, a database) implements, and an
//! in-process implementation.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

/// A store shared by several processes, behind each process's own cache.
///
/// The caches call it only on a local miss or renewal, with entry names that are hashes
/// (`<prefix>{<sha256 hex>}`) and values that are sealed (AES-256-GCM) unless the
/// application opted out, so a store never sees a username, a role or a token. An entry name
/// contains a `{...}` hash tag, so a Redis Cluster puts an entry and its lease in one slot.
///
/// Every method should return promptly; the caches also bound each call with a timeout and
/// treat any error as a miss, so a store that is down costs a warning, never a failed token
/// request. Implementations must be object-safe (the caches hold an `Arc<dyn TokenStore>`).
#[async_trait]
pub trait TokenStore: Send + Sync + fmt::Debug {
    /// The value stored under `name`, if any and not expired.
    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores `value` under `name` for `ttl`.
    async fn put(&self, name: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError>;

    /// Takes the lease on `name` for `holder` if nobody holds it (Redis: `SET name:lease holder
    /// NX PX ttl`). `Ok(true)` when taken. A lease expires by itself after `ttl`, so a holder
    /// that crashed does not block the others for long.
    async fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Gives the lease up, if `holder` still holds it.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;

    /// Removes the value under `name`.
    async fn delete(&self, name: &str) -> Result<(), StoreError>;
}

/// A store failure. The caches log it and carry on without the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    message: String,
}

impl StoreError {
    /// An error with a message (never include a value or a key's plaintext in it).
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}

/// A [`TokenStore`] in this process's memory: shares tokens between clients in one process
/// (several `AadClient`s of one app, for instance) and serves as the reference implementation
/// in tests. Expiry uses the monotonic clock.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, (Vec<u8>, Instant)>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many unexpired entries (values and leases) it holds.
    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.lock().values().filter(|(_, expires)| *expires > now).count()
    }

    /// Whether it holds no unexpired entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The raw stored bytes under every unexpired name (for tests that inspect what a shared
    /// store would see).
    pub fn dump(&self) -> Vec<(String, Vec<u8>)> {
        let now = Instant::now();
        self.lock().iter().filter(|(_, (_, e))| *e > now).map(|(k, (v, _))| (k.clone(), v.clone())).collect()
    }

    /// Replaces the bytes under `name` (for tests of tampered entries).
    pub fn overwrite(&self, name: &str, value: Vec<u8>) {
        if let Some(entry) = self.lock().get_mut(name) {
            entry.0 = value;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Vec<u8>, Instant)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The lease's name for an entry: same hash tag, so the same Redis Cluster slot.
pub(crate) fn lease_name(name: &str) -> String {
    format!("{name}:lease")
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let now = Instant::now();
        Ok(self.lock().get(name).filter(|(_, expires)| *expires > now).map(|(v, _)| v.clone()))
    }

    async fn put(&self, name: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.lock().insert(name.to_owned(), (value.to_vec(), Instant::now() + ttl));
        Ok(())
    }

    async fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut entries = self.lock();
        let lease = lease_name(name);
        if entries.get(&lease).is_some_and(|(_, expires)| *expires > now) {
            return Ok(false);
        }
        entries.insert(lease, (holder.as_bytes().to_vec(), now + ttl));
        Ok(true)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let mut entries = self.lock();
        let lease = lease_name(name);
        if entries.get(&lease).is_some_and(|(h, _)| h == holder.as_bytes()) {
            entries.remove(&lease);
        }
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<(), StoreError> {
        self.lock().remove(name);
        Ok(())
    }
}
