//! When a cached token is due for renewal.

use std::time::Duration;

use time::OffsetDateTime;

/// When to renew a cached token ahead of its expiry.
///
/// A token fetched at `t` and expiring at `e` is renewed from the earliest of:
/// - `e - margin`, where `margin` is the configured margin (5 minutes by default) but never more
///   than half the token's lifetime, so a short-lived token is still used for half its life;
/// - `t + (e - t) / 2` for tokens that live 2 hours or more (as MSAL does);
/// - the service's own `refresh_in` hint, when it sends one.
///
/// Until renewal is due every caller gets the cached token. From then until expiry one caller
/// renews while the others keep getting the cached token; if renewal fails the cached token is
/// still returned (with a warning) until it expires.
///
/// ```
/// use std::time::Duration;
/// use powerbi_embed::RefreshPolicy;
/// use time::macros::datetime;
/// let policy = RefreshPolicy::default();
/// let fetched = datetime!(2026-01-01 10:00 UTC);
/// assert_eq!(policy.refresh_at(fetched, datetime!(2026-01-01 11:00 UTC), None), datetime!(2026-01-01 10:55 UTC));
/// assert_eq!(policy.refresh_at(fetched, datetime!(2026-01-01 14:00 UTC), None), datetime!(2026-01-01 12:00 UTC));
/// assert_eq!(policy.refresh_at(fetched, datetime!(2026-01-01 10:04 UTC), None), datetime!(2026-01-01 10:02 UTC));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    margin: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self { margin: Duration::from_secs(5 * 60) }
    }
}

/// Tokens living at least this long are renewed at half-life.
const HALF_LIFE_THRESHOLD: time::Duration = time::Duration::hours(2);

impl RefreshPolicy {
    /// A policy with the given margin before expiry.
    pub fn with_margin(margin: Duration) -> Self {
        Self { margin }
    }

    /// The configured margin.
    pub fn margin(&self) -> Duration {
        self.margin
    }

    /// The moment a token fetched at `fetched_at`, expiring at `expires_on`, is due for renewal.
    pub fn refresh_at(
        &self,
        fetched_at: OffsetDateTime,
        expires_on: OffsetDateTime,
        refresh_hint: Option<OffsetDateTime>,
    ) -> OffsetDateTime {
        let lifetime = (expires_on - fetched_at).max(time::Duration::ZERO);
        let margin = time::Duration::try_from(self.margin).unwrap_or(time::Duration::MAX).min(lifetime / 2);
        let mut at = expires_on - margin;
        if lifetime >= HALF_LIFE_THRESHOLD {
            at = at.min(fetched_at + lifetime / 2);
        }
        if let Some(hint) = refresh_hint {
            at = at.min(hint.max(fetched_at));
        }
        at
    }
}
