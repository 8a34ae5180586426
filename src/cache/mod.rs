//! One cache for everything that expires: Entra access tokens and Power BI embed tokens.
//!
//! Per key it is **single-flight** (concurrent misses share one fetch, and the callers that
//! waited share its outcome, success or failure) and **refresh-ahead** (see [`RefreshPolicy`]).
//! Keys are independent: the map lock is held only to find a key's slot, never across a fetch,
//! so a slow fetch for one key never delays another.
//!
//! The folder, front to back: [`value`] (keys, expiring values, what a caller needs),
//! [`local`] (the per-process tier every hit is served from), [`policy`] (when to renew),
//! [`shared`] (the tier replicas share, over a [`TokenStore`]: [`store`] for the trait and the
//! in-memory store, `redis` for Redis), [`seal`] (encryption of shared entries).

mod local;
mod policy;
#[cfg(feature = "redis")]
mod redis;
mod seal;
mod shared;
mod store;
mod value;

pub(crate) use local::{Slot, TokenCache};
pub use policy::RefreshPolicy;
#[cfg(feature = "redis")]
pub use redis::{RedisStore, RedisStoreBuilder};
pub(crate) use shared::Storable;
pub use shared::{SharedCache, SharedCacheStats};
pub use store::{MemoryStore, StoreError, StoreErrorKind, TokenStore};
pub(crate) use value::{CacheKey, Expiring, Need};
