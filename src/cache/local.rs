//! The local tier: [`TokenCache`], one slot per key, each with its value and its flight lock.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};

use super::shared::{SharedTier, Storable};
use super::value::{CacheKey, Expiring, Moment, Need};
use super::{RefreshPolicy, SharedCache};
use crate::clock::Clock;
use crate::error::{Error, Result};

/// After a failed renewal, how long the cached value is served before renewal is tried again.
const RENEWAL_RETRY_DELAY: time::Duration = time::Duration::seconds(30);

/// A single-flight, refresh-ahead cache.
pub(crate) struct TokenCache<K, V> {
    slots: Mutex<HashMap<K, Arc<Slot<V>>>>,
    clock: Arc<dyn Clock>,
    policy: RefreshPolicy,
    /// Behind the local slots, when replicas share a store.
    shared: Option<SharedTier>,
}

impl<K, V> fmt::Debug for TokenCache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Sizes and settings only: keys name identities and values are tokens.
        let slots = self.slots.lock().map_or(0, |slots| slots.len());
        f.debug_struct("TokenCache")
            .field("slots", &slots)
            .field("policy", &self.policy)
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

impl<K: CacheKey, V: Storable> TokenCache<K, V> {
    pub fn new(clock: Arc<dyn Clock>, policy: RefreshPolicy) -> Self {
        Self { slots: Mutex::new(HashMap::new()), clock, policy, shared: None }
    }

    /// Puts a shared store behind this cache; `namespace` keeps this cache's entries apart from
    /// other caches' (it names the cloud, app and identity the values belong to).
    pub fn with_shared(mut self, shared: SharedCache, namespace: String) -> Self {
        self.shared = Some(SharedTier::new(shared, namespace, self.policy, self.clock.clone()));
        self
    }

    /// The slot for `key`, created on first use. Holding the returned `Arc` lets a hot caller
    /// skip the map lookup altogether.
    pub fn slot(&self, key: &K) -> Arc<Slot<V>> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = slots.get(key) {
            return slot.clone();
        }
        // Forget slots whose values have expired, so a cache keyed by end user stays bounded by
        // the number of live tokens rather than growing forever.
        if slots.len() >= 1024 && slots.len().is_power_of_two() {
            let now = self.now();
            slots.retain(|_, slot| Arc::strong_count(slot) > 1 || slot.is_live(now));
        }
        let shared_name = self.shared.as_ref().map(|tier| tier.entry_name(&key.key_text()));
        slots.entry(key.clone()).or_insert_with(|| Arc::new(Slot::new(shared_name))).clone()
    }

    /// The cached value for `key` if it meets `need` and is not due for renewal, without making
    /// a slot or awaiting anything: for a caller that would otherwise start a fetch alongside
    /// other work, and skips that when the value is at hand.
    pub fn fresh(&self, key: &K, need: Need) -> Option<V> {
        let slot = self.slots.lock().unwrap_or_else(|p| p.into_inner()).get(key).cloned()?;
        match slot.peek(self.now(), need) {
            Peek::Fresh(value) => Some(value),
            _ => None,
        }
    }

    /// The cached value for `key` if it meets `need`, otherwise the result of `fetch`.
    pub async fn get_or_fetch<F, Fut>(&self, key: &K, need: Need, fetch: F) -> Result<V>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V>>,
    {
        self.get_in_slot(&self.slot(key), need, fetch).await
    }

    /// [`get_or_fetch`](Self::get_or_fetch) on a slot the caller already holds.
    pub async fn get_in_slot<F, Fut>(&self, slot: &Slot<V>, need: Need, fetch: F) -> Result<V>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V>>,
    {
        let now = self.now();
        match slot.peek(now, need) {
            Peek::Fresh(value) => Ok(value),
            Peek::Due { generation, value } => {
                // Due for renewal but still good: one caller renews, everyone else is served now.
                let Ok(_flight) = slot.flight.try_lock() else { return Ok(value) };
                if slot.generation() != generation {
                    return Ok(slot.latest(now, need).unwrap_or(value));
                }
                Ok(self.renew_or_serve(slot, need, fetch, value).await)
            }
            Peek::Short { generation, value } => {
                // Good enough only as a fallback: wait for (or make) the renewal, and serve this
                // value if the renewal fails.
                let _flight = slot.flight.lock().await;
                if slot.generation() != generation {
                    if let Some(renewed) = slot.latest(self.now(), need) {
                        return Ok(renewed);
                    }
                    if slot.last_error().is_some() {
                        return Ok(value);
                    }
                }
                Ok(self.renew_or_serve(slot, need, fetch, value).await)
            }
            Peek::Paused(error) => Err(error),
            Peek::Missing { generation } => {
                let _flight = slot.flight.lock().await;
                if slot.generation() != generation {
                    // A fetch finished while we waited for it: share its outcome rather than
                    // repeat it.
                    if let Some(value) = slot.latest(self.now(), need) {
                        return Ok(value);
                    }
                    if let Some(error) = slot.last_error() {
                        return Err(error);
                    }
                }
                self.run_fetch(slot, need, fetch).await
            }
        }
    }

    /// Forgets the value in `slot`, here and in the shared store, if `rejected` picks it out (a
    /// token the service refused): the next call fetches a new one instead of serving it until
    /// its computed expiry. A value that replaced the refused one meanwhile is kept.
    pub async fn evict_if(&self, slot: &Slot<V>, rejected: impl Fn(&V) -> bool) {
        // Under the flight lock, so no fetch for this key is halfway through storing a value.
        let _flight = slot.flight.lock().await;
        {
            let mut state = slot.write();
            if state.entry.as_ref().is_some_and(|entry| rejected(&entry.value)) {
                state.entry = None;
                state.last_error = None;
                state.paused_until = Moment(i128::MIN);
            }
        }
        if let (Some(tier), Some(name)) = (&self.shared, &slot.shared_name) {
            tier.evict_if(name, &rejected).await;
        }
    }

    /// Renews; if that fails, serves `current` (still valid enough, the caller checked).
    async fn renew_or_serve<F, Fut>(&self, slot: &Slot<V>, need: Need, fetch: F, current: V) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V>>,
    {
        match self.run_fetch(slot, need, fetch).await {
            Ok(value) => value,
            Err(error) => {
                tracing::warn!(%error, "token renewal failed; serving the cached token until it expires");
                current
            }
        }
    }

    async fn run_fetch<F, Fut>(&self, slot: &Slot<V>, need: Need, fetch: F) -> Result<V>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V>>,
    {
        let outcome = match (&self.shared, &slot.shared_name) {
            (Some(tier), Some(name)) => tier.get_or_fetch(name, need, fetch).await,
            _ => {
                let fetched_at = self.clock.now();
                fetch().await.map(|value| (value, fetched_at))
            }
        };
        let fetched_at = outcome.as_ref().map_or_else(|_| self.clock.now(), |(_, at)| *at);
        let outcome = outcome.map(|(value, _)| value);
        let mut state = slot.write();
        state.generation += 1;
        match &outcome {
            Ok(value) => {
                let refresh_at = self.policy.refresh_at(fetched_at, value.expires_on(), value.refresh_hint());
                state.entry = Some(Entry {
                    value: value.clone(),
                    expires_on: value.expires_on().into(),
                    refresh_at: refresh_at.into(),
                    fetched_at: fetched_at.into(),
                });
                state.last_error = None;
                state.paused_until = Moment(i128::MIN);
            }
            Err(error) => {
                state.last_error = Some(error.clone());
                // A failed renewal of a still-valid value: try again in a while, not on every
                // call (see `Slot::peek`).
                state.paused_until = Moment::from(fetched_at.saturating_add(RENEWAL_RETRY_DELAY));
            }
        }
        outcome
    }

    fn now(&self) -> Moment {
        Moment(self.clock.now_unix_nanos())
    }
}

/// One key's value and its flight lock.
pub(crate) struct Slot<V> {
    state: RwLock<SlotState<V>>,
    /// Held by the one caller fetching for this key; waiters queue on it.
    flight: tokio::sync::Mutex<()>,
    /// The key's entry name in the shared store, computed once.
    shared_name: Option<String>,
}

impl<V> Slot<V> {
    fn new(shared_name: Option<String>) -> Self {
        Self {
            state: RwLock::new(SlotState {
                entry: None,
                generation: 0,
                last_error: None,
                paused_until: Moment(i128::MIN),
            }),
            flight: tokio::sync::Mutex::new(()),
            shared_name,
        }
    }
}

impl<V> fmt::Debug for Slot<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the value: it is a token.
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        f.debug_struct("Slot")
            .field("has_value", &state.entry.is_some())
            .field("generation", &state.generation)
            .field("failed", &state.last_error.is_some())
            .finish_non_exhaustive()
    }
}

struct SlotState<V> {
    entry: Option<Entry<V>>,
    /// Counts finished fetches, so a waiter can tell whether one completed while it waited.
    generation: u64,
    last_error: Option<Error>,
    /// After a failed renewal, no new fetch before this moment while the entry is valid.
    paused_until: Moment,
}

struct Entry<V> {
    value: V,
    /// `value.expires_on()`, as a [`Moment`].
    expires_on: Moment,
    refresh_at: Moment,
    fetched_at: Moment,
}

enum Peek<V> {
    /// Meets the need and is not due for renewal (or renewal is paused after a failure).
    Fresh(V),
    /// Meets the need but is due for renewal.
    Due { generation: u64, value: V },
    /// Meets only the need's fallback: to be renewed, and served if renewal fails.
    Short { generation: u64, value: V },
    /// Does not meet the need, and the last renewal failed moments ago: its error, no new fetch.
    Paused(Error),
    /// Nothing usable: fetch.
    Missing { generation: u64 },
}

impl<V: Expiring> Slot<V> {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, SlotState<V>> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, SlotState<V>> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// What the cached value is worth to a caller with `need` at `now`. After a failed renewal
    /// of a still-valid value, renewal pauses for [`RENEWAL_RETRY_DELAY`]: callers the value
    /// satisfies (fully or as a fallback) are served it, the others get the renewal's error,
    /// and nobody sends a request, so an outage of the issuer is not met with a request storm.
    fn peek(&self, now: Moment, need: Need) -> Peek<V> {
        let state = self.read();
        let Some(entry) = state.entry.as_ref().filter(|entry| now < entry.expires_on) else {
            return Peek::Missing { generation: state.generation };
        };
        let paused = now < state.paused_until;
        if need.satisfied_by(entry.fetched_at, entry.expires_on, now) {
            if now < entry.refresh_at || paused {
                return Peek::Fresh(entry.value.clone());
            }
            return Peek::Due { generation: state.generation, value: entry.value.clone() };
        }
        let fallback = need.fallback();
        if fallback != need && fallback.satisfied_by(entry.fetched_at, entry.expires_on, now) {
            if paused {
                return Peek::Fresh(entry.value.clone());
            }
            return Peek::Short { generation: state.generation, value: entry.value.clone() };
        }
        match (&state.last_error, paused) {
            (Some(error), true) => Peek::Paused(error.clone()),
            _ => Peek::Missing { generation: state.generation },
        }
    }

    fn generation(&self) -> u64 {
        self.read().generation
    }

    /// The value of the latest fetch, if it meets `need`.
    fn latest(&self, now: Moment, need: Need) -> Option<V> {
        let state = self.read();
        state.entry.as_ref().filter(|e| need.satisfied_by(e.fetched_at, e.expires_on, now)).map(|e| e.value.clone())
    }

    fn last_error(&self) -> Option<Error> {
        self.read().last_error.clone()
    }

    fn is_live(&self, now: Moment) -> bool {
        self.latest(now, Need::Valid).is_some()
    }
}
