//! The shared tier: what each process's cache does on a local miss when a [`TokenStore`] is
//! configured. Read the store; on a miss, take the lease and fetch, or wait a bounded time for
//! the replica holding it; write the sealed value with a TTL that ends at its refresh point.
//! Every store call is bounded by a timeout and every store failure is a miss.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use crate::cache::seal::Sealing;
use crate::cache::store::TokenStore;
use crate::cache::{Expiring, Need, RefreshPolicy};
use crate::clock::Clock;
use crate::ids::Guid;

/// A value the shared tier can hold: it knows how to write itself as bytes and back.
pub(crate) trait Storable: Expiring + Sized {
    fn to_bytes(&self, fetched_at: OffsetDateTime) -> Vec<u8>;
    fn from_bytes(bytes: &[u8]) -> Option<(Self, OffsetDateTime)>;
}

/// A shared token store for both caches, with its sealing and timing settings.
///
/// ```
/// use std::sync::Arc;
/// use powerbi_embed::{MemoryStore, SharedCache};
/// let key = [42u8; 32]; // in production: 32 random bytes from your secret store
/// let shared = SharedCache::new(Arc::new(MemoryStore::new()), key).prefix("myapp:");
/// # let _ = shared;
/// ```
#[derive(Clone)]
pub struct SharedCache {
    pub(crate) store: Arc<dyn TokenStore>,
    pub(crate) sealing: Sealing,
    pub(crate) prefix: String,
    pub(crate) op_timeout: Duration,
    pub(crate) lease_ttl: Duration,
    pub(crate) wait_for_peer: Duration,
    pub(crate) poll_interval: Duration,
    /// Health and counters, shared by every clone and every cache this configuration is
    /// behind, so an outage logs one warning however many caches notice it.
    pub(crate) health: Arc<Health>,
}

/// Counters of what the shared tier did, since the [`SharedCache`] was made (every clone and
/// every client it was given to counts into the same numbers). Plain numbers, read with
/// [`SharedCache::stats`], for a metrics endpoint or a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SharedCacheStats {
    /// Local misses served from the store (a value another replica stored, found at once or
    /// after waiting for its lease).
    pub hits: u64,
    /// Local misses the store could not serve (nothing stored, or what was stored expires too
    /// soon for the caller, or did not open): fetched by this replica, and stored.
    pub misses: u64,
    /// Times a caller found another replica's lease and waited for its value.
    pub lease_waits: u64,
    /// Fetches made without the store because it failed or did not answer in
    /// [`SharedCache::op_timeout`] (the local cache and a direct fetch carry on meanwhile).
    pub local_fallbacks: u64,
    /// Store calls that failed or timed out.
    pub store_errors: u64,
}

/// The shared tier's health and counters.
#[derive(Debug)]
pub(crate) struct Health {
    /// Whether the last store call worked.
    healthy: AtomicBool,
    hits: AtomicU64,
    misses: AtomicU64,
    lease_waits: AtomicU64,
    local_fallbacks: AtomicU64,
    store_errors: AtomicU64,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            healthy: AtomicBool::new(true),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            lease_waits: AtomicU64::new(0),
            local_fallbacks: AtomicU64::new(0),
            store_errors: AtomicU64::new(0),
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl fmt::Debug for SharedCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedCache")
            .field("store", &self.store)
            .field("sealing", &self.sealing)
            .field("prefix", &self.prefix)
            .field("op_timeout", &self.op_timeout)
            .field("lease_ttl", &self.lease_ttl)
            .field("wait_for_peer", &self.wait_for_peer)
            .field("degraded", &self.is_degraded())
            .finish()
    }
}

impl SharedCache {
    /// Values sealed with AES-256-GCM under `key` (keep it in your secret store; every replica
    /// needs the same key).
    pub fn new(store: Arc<dyn TokenStore>, key: [u8; 32]) -> Self {
        Self::with_sealing(store, Sealing::aes_256_gcm(&key))
    }

    /// Values stored **in plaintext**: tokens readable by anyone who can read the store. Only
    /// for stores that are themselves protected and audited; prefer [`new`](Self::new).
    pub fn plaintext(store: Arc<dyn TokenStore>) -> Self {
        Self::with_sealing(store, Sealing::Plaintext)
    }

    fn with_sealing(store: Arc<dyn TokenStore>, sealing: Sealing) -> Self {
        Self {
            store,
            sealing,
            prefix: "powerbi-embed:".to_owned(),
            op_timeout: Duration::from_millis(250),
            lease_ttl: Duration::from_secs(10),
            wait_for_peer: Duration::from_secs(5),
            poll_interval: Duration::from_millis(25),
            health: Arc::new(Health::default()),
        }
    }

    /// What the shared tier did so far (see [`SharedCacheStats`]).
    pub fn stats(&self) -> SharedCacheStats {
        let health = &self.health;
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        SharedCacheStats {
            hits: read(&health.hits),
            misses: read(&health.misses),
            lease_waits: read(&health.lease_waits),
            local_fallbacks: read(&health.local_fallbacks),
            store_errors: read(&health.store_errors),
        }
    }

    /// Whether the shared tier is degraded: the last store call failed or timed out, so the
    /// caches are working from their local tier and fetching directly until the store answers
    /// again. A readiness probe can report it (the replica still serves tokens meanwhile).
    /// Degraded and recovered are also logged: one `WARN` with the reason when the first call
    /// fails, one `INFO` when a call works again.
    pub fn is_degraded(&self) -> bool {
        !self.health.healthy.load(Ordering::Relaxed)
    }

    /// The prefix of every entry name (default `powerbi-embed:`), to share a store between apps.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The bound on each store call (default 250 ms); a slower answer counts as a miss.
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout;
        self
    }

    /// How long a lease lasts if its holder never releases it (default 10 s), e.g. it crashed.
    /// Any duration is accepted; what a store cannot represent it saturates (`Duration::MAX` is
    /// "until released" in [`MemoryStore`](crate::MemoryStore)).
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// How long a replica waits for the one holding the lease before fetching itself
    /// (default 5 s), and how often it looks (default every 25 ms). The wait is measured by the
    /// client's clock and includes the time the store takes to answer the looks, so a slow
    /// store means fewer looks, not a longer wait (it can overrun by one store call).
    pub fn wait_for_peer(mut self, wait: Duration, poll_interval: Duration) -> Self {
        self.wait_for_peer = wait;
        self.poll_interval = poll_interval.max(Duration::from_millis(1));
        self
    }
}

/// The shared tier of one cache: the store settings and the namespace of its keys.
pub(crate) struct SharedTier {
    config: SharedCache,
    namespace: String,
    policy: RefreshPolicy,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for SharedTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedTier").field("config", &self.config).field("policy", &self.policy).finish_non_exhaustive()
    }
}

impl SharedTier {
    pub fn new(config: SharedCache, namespace: String, policy: RefreshPolicy, clock: Arc<dyn Clock>) -> Self {
        Self { config, namespace, policy, clock }
    }

    /// The entry name for a cache key: the prefix and a SHA-256 of namespace and key, in a
    /// `{...}` hash tag, so no identity, role or token appears in the store's keys.
    pub fn entry_name(&self, key_text: &str) -> String {
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        context.update(self.namespace.as_bytes());
        context.update(b"\n");
        context.update(key_text.as_bytes());
        let hex: String = context.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect();
        format!("{}{{{hex}}}", self.config.prefix)
    }

    /// A value that meets `need`, from the store, another replica's fetch, or `fetch`, in that
    /// order. A stored value that does not meet `need` (it expires too soon for this caller)
    /// is a miss: this caller fetches, and the fresh value replaces it in the store.
    pub async fn get_or_fetch<V, F, Fut>(&self, name: &str, need: Need, fetch: F) -> crate::Result<(V, OffsetDateTime)>
    where
        V: Storable,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = crate::Result<V>>,
    {
        let health = &self.config.health;
        if let Some(found) = self.read::<V>(name, need).await {
            bump(&health.hits);
            return Ok(found);
        }
        let holder = Guid::new_random().to_string();
        let lease = match counted(self.lease_or_value::<V>(name, &holder, need).await, health) {
            Next::Done(found) => return Ok(found),
            Next::Fetch(lease) => lease,
            Next::Wait => {
                bump(&health.lease_waits);
                match counted(self.wait_for_peer::<V>(name, &holder, need).await, health) {
                    Next::Done(found) => return Ok(found),
                    Next::Fetch(lease) => lease,
                    Next::Wait => {
                        tracing::debug!("the replica holding the lease did not deliver in time; fetching here");
                        bump(&health.misses);
                        None
                    }
                }
            }
        };
        let fetched_at = self.clock.now();
        let outcome = fetch().await;
        if let Ok(value) = &outcome {
            self.write(name, value, fetched_at).await;
        }
        if let Some(lease) = lease {
            self.release(lease).await;
        }
        outcome.map(|value| (value, fetched_at))
    }

    /// Drops the stored value under `name` if it is one `rejected` picks out (a token the
    /// service refused), and only while the store still holds those very bytes: a value another
    /// replica stored since is left alone.
    pub async fn evict_if<V: Storable>(&self, name: &str, rejected: impl Fn(&V) -> bool) {
        let Some(bytes) = self.call(self.config.store.get(name)).await.flatten() else { return };
        let Some(plain) = self.config.sealing.open(name, &bytes) else { return };
        let Some((value, _)) = V::from_bytes(&plain) else { return };
        if rejected(&value) && self.call(self.config.store.delete_if_equal(name, &bytes)).await == Some(true) {
            tracing::debug!(entry = name, "dropped a refused token from the shared store");
        }
    }

    async fn release(&self, mut lease: Lease) {
        self.call(self.config.store.release_lease(&lease.name, &lease.holder)).await;
        lease.released = true;
    }

    /// A stored value that opens, parses, is not yet due for renewal and meets `need`; anything
    /// else is a miss (a value that fails to open is logged: tampering or a key mismatch).
    async fn read<V: Storable>(&self, name: &str, need: Need) -> Option<(V, OffsetDateTime)> {
        let bytes = self.call(self.config.store.get(name)).await.flatten()?;
        let Some(plain) = self.config.sealing.open(name, &bytes) else {
            tracing::warn!(entry = name, "a shared cache entry did not open (tampered, or another key); ignoring it");
            return None;
        };
        let Some((value, fetched_at)) = V::from_bytes(&plain) else {
            tracing::warn!(entry = name, "a shared cache entry did not parse; ignoring it");
            return None;
        };
        let refresh_at = self.policy.refresh_at(fetched_at, value.expires_on(), value.refresh_hint());
        let now = self.clock.now();
        let meets_need = need.satisfied_by(fetched_at.into(), value.expires_on().into(), now.into());
        (now < refresh_at && meets_need).then_some((value, fetched_at))
    }

    /// Takes the lease on `name`, or says who has it. After taking it, looks once more: a peer
    /// may have written the value and released its lease between our read and our lease, and
    /// fetching then would fetch the key twice.
    async fn lease_or_value<V: Storable>(&self, name: &str, holder: &str, need: Need) -> Leasing<V> {
        match self.call(self.config.store.try_lease(name, holder, self.config.lease_ttl)).await {
            Some(true) => {
                let lease = Lease::new(&self.config, name, holder.to_owned());
                match self.read::<V>(name, need).await {
                    Some(found) => {
                        self.release(lease).await;
                        Leasing::Value(found)
                    }
                    None => Leasing::Held(lease),
                }
            }
            Some(false) => Leasing::Busy,
            None => Leasing::Unavailable,
        }
    }

    /// Polls for the value the lease holder is fetching, for at most `wait_for_peer` by the
    /// clock: the time the store takes to answer counts, so a slow store shortens the number of
    /// looks, not the bound. When the lease comes free with no value (the holder's fetch
    /// failed, or it gave up), takes it, so one waiter fetches at once rather than every waiter
    /// after the full wait.
    async fn wait_for_peer<V: Storable>(&self, name: &str, holder: &str, need: Need) -> Leasing<V> {
        let wait = time::Duration::try_from(self.config.wait_for_peer).unwrap_or(time::Duration::MAX);
        let deadline = self.clock.now().saturating_add(wait);
        loop {
            let left = deadline - self.clock.now();
            if left <= time::Duration::ZERO {
                return Leasing::Busy;
            }
            let pause =
                Duration::try_from(left).map_or(self.config.poll_interval, |left| left.min(self.config.poll_interval));
            self.clock.sleep(pause).await;
            if let Some(found) = self.read::<V>(name, need).await {
                return Leasing::Value(found);
            }
            if self.clock.now() >= deadline {
                return Leasing::Busy;
            }
            match self.lease_or_value::<V>(name, holder, need).await {
                Leasing::Busy => continue,
                outcome => return outcome,
            }
        }
    }

    async fn write<V: Storable>(&self, name: &str, value: &V, fetched_at: OffsetDateTime) {
        let refresh_at = self.policy.refresh_at(fetched_at, value.expires_on(), value.refresh_hint());
        let ttl = (refresh_at - self.clock.now()).max(time::Duration::ZERO);
        let Ok(ttl) = Duration::try_from(ttl) else { return };
        if ttl.is_zero() {
            return;
        }
        let Some(sealed) = self.config.sealing.seal(name, &value.to_bytes(fetched_at)) else { return };
        self.call(self.config.store.put(name, &sealed, ttl)).await;
    }

    /// Runs one store call under the timeout; `None` (logged) on failure or timeout.
    async fn call<T>(&self, call: impl std::future::Future<Output = Result<T, super::store::StoreError>>) -> Option<T> {
        match tokio::time::timeout(self.config.op_timeout, call).await {
            Ok(Ok(value)) => {
                if !self.config.health.healthy.swap(true, Ordering::Relaxed) {
                    tracing::info!("shared token store is answering again; sharing resumed");
                }
                Some(value)
            }
            Ok(Err(error)) => {
                self.note_failure(&error.to_string());
                None
            }
            Err(_) => {
                self.note_failure("timed out");
                None
            }
        }
    }

    fn note_failure(&self, what: &str) {
        bump(&self.config.health.store_errors);
        if self.config.health.healthy.swap(false, Ordering::Relaxed) {
            tracing::warn!(error = what, "shared token store unavailable; using the local cache and fetching directly");
        } else {
            tracing::debug!(error = what, "shared token store still unavailable");
        }
    }
}

/// What trying to take a lease came to.
enum Leasing<V> {
    /// The value turned up (a peer stored it): no fetch needed.
    Value((V, OffsetDateTime)),
    /// This replica holds the lease and fetches.
    Held(Lease),
    /// Another replica holds it.
    Busy,
    /// The store did not answer: fetch without a lease.
    Unavailable,
}

/// What a caller does after a lease attempt: return the value, fetch (holding the lease, or
/// without one), or wait for the replica that holds it.
enum Next<V> {
    Done((V, OffsetDateTime)),
    Fetch(Option<Lease>),
    Wait,
}

/// Counts a lease attempt's outcome in the health counters and says what comes next.
fn counted<V>(leasing: Leasing<V>, health: &Health) -> Next<V> {
    match leasing {
        Leasing::Value(found) => {
            bump(&health.hits);
            Next::Done(found)
        }
        Leasing::Held(lease) => {
            bump(&health.misses);
            Next::Fetch(Some(lease))
        }
        Leasing::Unavailable => {
            bump(&health.local_fallbacks);
            Next::Fetch(None)
        }
        Leasing::Busy => Next::Wait,
    }
}

/// A lease this replica holds. Dropped unreleased (the caller's future was cancelled during the
/// fetch, e.g. by a request timeout), it is released in the background, so the other callers
/// and replicas do not wait `wait_for_peer` for a fetch nobody is doing.
struct Lease {
    store: Arc<dyn TokenStore>,
    name: String,
    holder: String,
    op_timeout: Duration,
    released: bool,
}

impl Lease {
    fn new(config: &SharedCache, name: &str, holder: String) -> Self {
        Self {
            store: config.store.clone(),
            name: name.to_owned(),
            holder,
            op_timeout: config.op_timeout,
            released: false,
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        // Outside a runtime there is nothing to run the release on; the lease then expires.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let (store, name, holder) =
            (self.store.clone(), std::mem::take(&mut self.name), std::mem::take(&mut self.holder));
        let bound = self.op_timeout;
        runtime.spawn(async move {
            let _ = tokio::time::timeout(bound, store.release_lease(&name, &holder)).await;
        });
    }
}
