//! The shared tier's storage: a trait any backend (Redis, a database) implements, and an
//! in-process implementation.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::clock::{Clock, SystemClock};

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

    /// Removes the value under `name` only while it is still exactly `expected`, and says
    /// whether it did. The caches use it to drop a token the service refused without dropping
    /// the new one another replica may have stored in the meantime.
    ///
    /// The default reads, compares and deletes in three steps, so a value written between the
    /// read and the delete can be lost (it is then fetched again: a cost, not an error). Stores
    /// that can, do it in one step: [`MemoryStore`] under its lock, `RedisStore` in a script.
    async fn delete_if_equal(&self, name: &str, expected: &[u8]) -> Result<bool, StoreError> {
        if self.get(name).await?.as_deref() != Some(expected) {
            return Ok(false);
        }
        self.delete(name).await?;
        Ok(true)
    }
}

/// A store failure. The caches log it and carry on without the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    message: String,
    kind: StoreErrorKind,
}

/// What kind of failure a [`StoreError`] is, for callers that act on it (a readiness probe, a
/// start-up check that refuses a misconfigured store but tolerates one that is down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// A setting is wrong (a URL, a CA file, a missing TLS feature); the message names it.
    /// Found before any network call, and retrying does not help.
    InvalidConfig,
    /// The store could not be reached, or stopped answering (refused, timed out, dropped, not
    /// connected yet).
    Unavailable,
    /// The TLS handshake failed: the server's certificate is not trusted or does not name the
    /// host, or the server refused the client certificate.
    Tls,
    /// The store refused the credentials (wrong password, expired or foreign token, no such
    /// user).
    Auth,
    /// Anything else.
    Other,
}

impl StoreError {
    /// An error with a message (never include a value or a key's plaintext in it), of kind
    /// [`StoreErrorKind::Other`].
    pub fn new(message: impl Into<String>) -> Self {
        Self::with_kind(StoreErrorKind::Other, message)
    }

    /// An error of a given kind.
    pub fn with_kind(kind: StoreErrorKind, message: impl Into<String>) -> Self {
        Self { message: message.into(), kind }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
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
/// in tests.
///
/// Expiry follows a [`Clock`] (the system clock unless [`with_clock`](Self::with_clock) says
/// otherwise). Expired entries are dropped as the store is used, a few at a time: every write
/// examines the next two entries in turn and drops the expired ones, so the
/// store holds about as many entries as are live (plus those that expired since the sweep last
/// passed them), however many keys (one per end user, say) it has seen, and no write pays for
/// more than a bounded sweep. A read of an expired entry drops it too.
///
/// Its `Debug` shows counts, never names or stored bytes.
pub struct MemoryStore {
    clock: Arc<dyn Clock>,
    entries: Mutex<Entries>,
}

/// How many entries each write examines for expiry. Two per write (each write adds at most
/// one entry) means the sweep goes round the store faster than the store can grow.
const SWEEP_PER_WRITE: usize = 2;

/// A moment as nanoseconds since the Unix epoch, from [`Clock::now_unix_nanos`].
type Nanos = i128;

/// The entries, with the order the sweep walks them in.
#[derive(Default)]
struct Entries {
    /// Name -> stored bytes and position in `order`.
    map: HashMap<Arc<str>, (Vec<u8>, usize)>,
    /// Every name with its expiry, in no particular order: the sweep walks it with `cursor`,
    /// and removal is a swap with the last element.
    order: Vec<(Arc<str>, Nanos)>,
    cursor: usize,
}

impl Entries {
    fn get(&self, name: &str, now: Nanos) -> Option<&[u8]> {
        let (value, at) = self.map.get(name)?;
        (self.order[*at].1 > now).then_some(value.as_slice())
    }

    fn is_live(&self, name: &str, now: Nanos) -> bool {
        self.map.get(name).is_some_and(|(_, at)| self.order[*at].1 > now)
    }

    /// Stores `value` under `name` until `expires`, after a bounded sweep.
    fn insert(&mut self, name: &str, value: Vec<u8>, expires: Nanos, now: Nanos) {
        self.sweep(now, SWEEP_PER_WRITE);
        if let Some((stored, at)) = self.map.get_mut(name) {
            *stored = value;
            self.order[*at].1 = expires;
            return;
        }
        let name: Arc<str> = Arc::from(name);
        self.map.insert(name.clone(), (value, self.order.len()));
        self.order.push((name, expires));
    }

    fn remove(&mut self, name: &str) {
        if let Some((_, at)) = self.map.remove(name) {
            self.remove_at(at);
        }
    }

    /// Removes `order[at]` (already gone from `map`) by moving the last entry into its place.
    fn remove_at(&mut self, at: usize) {
        self.order.swap_remove(at);
        if let Some((moved, _)) = self.order.get(at) {
            if let Some((_, position)) = self.map.get_mut(moved) {
                *position = at;
            }
        }
    }

    /// Examines up to `budget` entries from the cursor on, dropping the expired ones.
    fn sweep(&mut self, now: Nanos, budget: usize) {
        for _ in 0..budget {
            if self.order.is_empty() {
                return;
            }
            if self.cursor >= self.order.len() {
                self.cursor = 0;
            }
            let (name, expires) = &self.order[self.cursor];
            if *expires > now {
                self.cursor += 1;
            } else {
                // The last entry moves into the cursor's place and is examined next.
                self.map.remove(name);
                self.remove_at(self.cursor);
            }
        }
    }

    fn live(&self, now: Nanos) -> usize {
        self.order.iter().filter(|(_, expires)| *expires > now).count()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Counts only: names are hashes of identities and values are tokens (in clear when the
        // application chose `SharedCache::plaintext`).
        let now = self.now();
        let entries = self.lock();
        f.debug_struct("MemoryStore")
            .field("live", &entries.live(now))
            .field("held", &entries.order.len())
            .field("clock", &self.clock)
            .finish()
    }
}

impl MemoryStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store whose entries expire by `clock` (a [`ManualClock`](crate::ManualClock) in
    /// tests, so expiry needs no real waiting).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self { clock, entries: Mutex::new(Entries::default()) }
    }

    /// How many unexpired entries (values and leases) it holds.
    pub fn len(&self) -> usize {
        let now = self.now();
        self.lock().live(now)
    }

    /// Whether it holds no unexpired entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many entries it holds in memory, expired or not: [`len`](Self::len) plus the expired
    /// entries the sweep has not reached yet.
    pub fn held(&self) -> usize {
        self.lock().order.len()
    }

    /// The raw stored bytes under every unexpired name (for tests that inspect what a shared
    /// store would see).
    pub fn dump(&self) -> Vec<(String, Vec<u8>)> {
        let now = self.now();
        let entries = self.lock();
        entries
            .order
            .iter()
            .filter(|(_, expires)| *expires > now)
            .filter_map(|(name, _)| entries.map.get(name).map(|(value, _)| (name.to_string(), value.clone())))
            .collect()
    }

    /// Replaces the bytes under `name` (for tests of tampered entries).
    pub fn overwrite(&self, name: &str, value: Vec<u8>) {
        if let Some(entry) = self.lock().map.get_mut(name) {
            entry.0 = value;
        }
    }

    fn now(&self) -> Nanos {
        self.clock.now_unix_nanos()
    }

    /// `now + ttl`, saturating: a TTL of `Duration::MAX` means "until the end of time", not a
    /// panic. (Nanoseconds of any `Duration` fit an `i128` with room to spare.)
    fn expiry(now: Nanos, ttl: Duration) -> Nanos {
        now.saturating_add(i128::try_from(ttl.as_nanos()).unwrap_or(i128::MAX))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
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
        let now = self.now();
        let mut entries = self.lock();
        if let Some(value) = entries.get(name, now) {
            return Ok(Some(value.to_vec()));
        }
        // Expired (or absent): drop it now rather than wait for the sweep.
        entries.remove(name);
        Ok(None)
    }

    async fn put(&self, name: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let now = self.now();
        self.lock().insert(name, value.to_vec(), Self::expiry(now, ttl), now);
        Ok(())
    }

    async fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let now = self.now();
        let mut entries = self.lock();
        let lease = lease_name(name);
        if entries.is_live(&lease, now) {
            return Ok(false);
        }
        entries.insert(&lease, holder.as_bytes().to_vec(), Self::expiry(now, ttl), now);
        Ok(true)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let mut entries = self.lock();
        let lease = lease_name(name);
        if entries.map.get(lease.as_str()).is_some_and(|(h, _)| h == holder.as_bytes()) {
            entries.remove(&lease);
        }
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<(), StoreError> {
        self.lock().remove(name);
        Ok(())
    }

    async fn delete_if_equal(&self, name: &str, expected: &[u8]) -> Result<bool, StoreError> {
        let now = self.now();
        let mut entries = self.lock();
        if entries.get(name, now) != Some(expected) {
            return Ok(false);
        }
        entries.remove(name);
        Ok(true)
    }
}
