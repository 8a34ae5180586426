//! What the cache holds and what a caller asks of it: keys with a text form (for the shared
//! tier's entry names), values that expire, and the caller's [`Need`].

use std::borrow::Cow;
use std::hash::Hash;

use time::OffsetDateTime;

/// A cache key with a stable text form, from which the shared tier derives entry names.
pub(crate) trait CacheKey: Hash + Eq + Clone {
    fn key_text(&self) -> Cow<'_, str>;
}

impl CacheKey for String {
    fn key_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

/// A value that expires: what the cache can hold.
pub(crate) trait Expiring: Clone + Send + Sync + 'static {
    /// When the value stops being valid.
    fn expires_on(&self) -> OffsetDateTime;
    /// When the issuer suggests renewing it (Entra's `refresh_in`), if it said.
    fn refresh_hint(&self) -> Option<OffsetDateTime> {
        None
    }
}
/// See [`Need::satisfied_by`].
const MIN_RENEWAL_INTERVAL: time::Duration = time::Duration::minutes(1);

/// A moment as nanoseconds since the Unix epoch. Entries keep their deadlines in this form so a
/// hit reads the clock once and compares integers: building and comparing `OffsetDateTime`s
/// cost more than the rest of a hit put together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Moment(pub(crate) i128);

impl From<OffsetDateTime> for Moment {
    fn from(at: OffsetDateTime) -> Self {
        Moment(at.unix_timestamp_nanos())
    }
}

/// What a caller needs from the cached value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Need {
    /// Any value that has not expired.
    #[default]
    Valid,
    /// A value still valid at this moment (e.g. an Entra token that outlives the embed token
    /// about to be requested with it).
    ValidUntil(OffsetDateTime),
    /// A value valid until `wanted` when one can be had; when renewal fails (or is paused after
    /// a failure), a cached value valid until `floor` will do. The embed path asks this way, so
    /// an Entra outage shortens embed tokens down to a floor instead of failing them.
    PreferablyUntil { wanted: OffsetDateTime, floor: OffsetDateTime },
    /// A value fetched at or after this moment, taken to the whole second (the shared store keeps
    /// fetch times in seconds): a caller that must not be served what was cached before it asked
    /// (`refresh_cache()`). Concurrent such callers still share one fetch.
    FetchedSince(OffsetDateTime),
}

impl Need {
    /// Whether a value fetched at `fetched_at`, expiring at `expires_on`, meets this need at
    /// `now`. A need for more life than values get (an embed token of 2 hours when Entra
    /// issues 1-hour tokens) is capped at what a value fetched [`MIN_RENEWAL_INTERVAL`] ago
    /// still has, assuming the next value lives as long as this one did; so asking too much
    /// renews at most once a minute instead of on every call (Entra calls that a request loop,
    /// AADSTS50196).
    pub(crate) fn satisfied_by(self, fetched_at: Moment, expires_on: Moment, now: Moment) -> bool {
        match self {
            Need::Valid => now < expires_on,
            Need::ValidUntil(until) | Need::PreferablyUntil { wanted: until, .. } => {
                let lifetime = expires_on.0 - fetched_at.0;
                let attainable = now.0 + lifetime - MIN_RENEWAL_INTERVAL.whole_nanoseconds().min(lifetime / 2);
                now < expires_on && Moment::from(until).0.min(attainable) <= expires_on.0
            }
            Need::FetchedSince(since) => {
                let since_second = i128::from(since.unix_timestamp()) * 1_000_000_000;
                now < expires_on && since_second <= fetched_at.0
            }
        }
    }

    /// What a cached value must meet to be served when a renewal fails or is paused.
    pub(crate) fn fallback(self) -> Need {
        match self {
            Need::PreferablyUntil { floor, .. } => Need::ValidUntil(floor),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_preferred_need_falls_back_to_its_floor_only() {
        let fetched = datetime!(2026-11-23 12:00 UTC);
        let expires = fetched + time::Duration::hours(1);
        let now = fetched + time::Duration::minutes(40);
        let need = Need::PreferablyUntil {
            wanted: now + time::Duration::minutes(31),
            floor: now + time::Duration::minutes(11),
        };
        let at = |need: Need| need.satisfied_by(fetched.into(), expires.into(), now.into());
        assert!(!at(need), "20 minutes left do not meet 31");
        assert!(at(need.fallback()), "but meet the 11-minute floor");
        let later = now + time::Duration::minutes(10);
        let floor_later = Need::ValidUntil(later + time::Duration::minutes(11));
        assert!(!floor_later.satisfied_by(fetched.into(), expires.into(), later.into()), "10 minutes left");
        assert_eq!(Need::Valid.fallback(), Need::Valid);
        assert_eq!(Need::ValidUntil(expires).fallback(), Need::ValidUntil(expires));
    }

    #[test]
    fn a_refresh_takes_only_values_fetched_since_it_asked_to_the_second() {
        let asked = datetime!(2026-11-23 12:00:00.700 UTC);
        let expires = asked + time::Duration::hours(1);
        let need = Need::FetchedSince(asked);
        let at = |fetched: OffsetDateTime| need.satisfied_by(fetched.into(), expires.into(), asked.into());
        assert!(!at(datetime!(2026-11-23 11:59:59.999 UTC)), "cached before the second it asked in");
        assert!(at(datetime!(2026-11-23 12:00:00 UTC)), "the shared store's whole-second fetch time");
        assert!(at(datetime!(2026-11-23 12:00:01 UTC)));
        assert!(!need.satisfied_by(asked.into(), asked.into(), asked.into()), "expired");
        assert_eq!(need.fallback(), need);
    }

    #[test]
    fn needs_are_judged_without_overflow_for_tokens_that_never_expire() {
        let fetched = datetime!(2026-11-23 12:00 UTC);
        let never = datetime!(9999-12-31 23:59:59 UTC);
        let later = fetched + time::Duration::hours(1);
        assert!(Need::ValidUntil(later + time::Duration::minutes(31)).satisfied_by(
            fetched.into(),
            never.into(),
            later.into()
        ));
        assert!(Need::ValidUntil(never).satisfied_by(fetched.into(), never.into(), later.into()));
        assert!(Need::Valid.satisfied_by(fetched.into(), never.into(), later.into()));
        // An ordinary token: the cap still applies.
        let expires = fetched + time::Duration::hours(1);
        let now = fetched + time::Duration::minutes(30);
        assert!(Need::ValidUntil(now + time::Duration::minutes(29)).satisfied_by(
            fetched.into(),
            expires.into(),
            now.into()
        ));
        assert!(!Need::ValidUntil(now + time::Duration::minutes(31)).satisfied_by(
            fetched.into(),
            expires.into(),
            now.into()
        ));
    }
}
