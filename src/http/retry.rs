//! How often, and how long, to try a request again.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use time::format_description::well_known::Rfc2822;
use time::OffsetDateTime;

/// Bounded retries with exponential backoff and jitter.
///
/// Retried: 429 (waiting for its `Retry-After`), 500, 502, 503, 504 and transport failures.
/// Never retried: any other status (400, 401, 403, 404, ...). A request marked non-idempotent is
/// retried only when it surely did not reach the server: a connection that was never made, or
/// a 429 (the service refused it unprocessed).
///
/// ```
/// use std::time::Duration;
/// use powerbi_embed::RetryPolicy;
/// let policy = RetryPolicy::default().max_attempts(3).max_elapsed(Duration::from_secs(10));
/// assert_eq!(policy.attempts(), 3);
/// let none = RetryPolicy::none();
/// assert_eq!(none.attempts(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_elapsed: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, backoff from 500 ms doubling up to 8 s, at most 60 s of waiting in all (and
    /// always within the call's `call_timeout`, 30 s by default).
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_elapsed: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retries.
    pub fn none() -> Self {
        Self { max_attempts: 1, ..Self::default() }
    }

    /// Total attempts, the first included (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The first backoff; each retry doubles it, up to [`max_backoff`](Self::max_backoff).
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// The largest single backoff.
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// The most time spent waiting between attempts of one request, in all. A `Retry-After`
    /// longer than what is left ends the retries and returns the 429.
    ///
    /// This counts only the waits, not the attempts themselves, so it does not bound how long a
    /// call takes. What does is the client's `call_timeout` (30 s by default:
    /// [`AadClientBuilder::call_timeout`](crate::AadClientBuilder::call_timeout),
    /// [`PowerBiClientBuilder::call_timeout`](crate::PowerBiClientBuilder::call_timeout)), which
    /// bounds the whole call, attempts and waits and the Entra token included. Retries stop at
    /// whichever comes first: the attempts, this budget, or a wait that would end past the
    /// call's deadline (the last answer is then returned at once).
    pub fn max_elapsed(mut self, elapsed: Duration) -> Self {
        self.max_elapsed = elapsed;
        self
    }

    /// The configured number of attempts.
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Whether waiting `delay` more, after `waited` already, stays within the time budget. A
    /// `Retry-After` can be any number the server sends, so the sum must not overflow.
    pub(crate) fn allows(&self, waited: Duration, delay: Duration) -> bool {
        waited.checked_add(delay).is_some_and(|total| total <= self.max_elapsed)
    }

    /// The wait before attempt `attempt + 1`: exponential, capped, with "equal jitter" (between
    /// half and all of the step) so that replicas throttled together do not retry together.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(16);
        let step = self.initial_backoff.saturating_mul(1 << exponent).min(self.max_backoff);
        let half = step / 2;
        half + half.mul_f64(jitter_fraction())
    }
}

/// A fraction in [0, 1) from the standard library's per-process random hasher keys: good enough
/// to spread retries, and no random-number crate in the dependency tree.
fn jitter_fraction() -> f64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x9e37_79b9_7f4a_7c15);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Parses `Retry-After`: delta-seconds or an HTTP-date (RFC 9110).
pub(crate) fn parse_retry_after(value: &str, now: OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = OffsetDateTime::parse(value, &Rfc2822).ok()?;
    let wait = date - now;
    Some(if wait.is_negative() { Duration::ZERO } else { wait.unsigned_abs() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = datetime!(2026-11-23 10:00:00 UTC);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Mon, 23 Nov 2026 10:00:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("Mon, 23 Nov 2026 09:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn budget_counts_every_wait_and_survives_absurd_retry_after() {
        let policy = RetryPolicy::default().max_elapsed(Duration::from_secs(10));
        assert!(policy.allows(Duration::ZERO, Duration::from_secs(10)));
        assert!(policy.allows(Duration::from_secs(4), Duration::from_secs(6)));
        assert!(!policy.allows(Duration::from_secs(4), Duration::from_secs(7)));
        assert!(!policy.allows(Duration::from_secs(1), Duration::from_secs(u64::MAX)));
        assert!(!RetryPolicy::default().max_elapsed(Duration::MAX).allows(Duration::MAX, Duration::from_secs(1)));
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered_within_bounds() {
        let policy = RetryPolicy::default().initial_backoff(Duration::from_secs(1)).max_backoff(Duration::from_secs(4));
        for _ in 0..100 {
            let first = policy.backoff(1);
            assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1), "{first:?}");
            let third = policy.backoff(3);
            assert!(third >= Duration::from_secs(2) && third <= Duration::from_secs(4), "{third:?}");
            let tenth = policy.backoff(10);
            assert!(tenth <= Duration::from_secs(4), "{tenth:?}");
        }
    }
}
