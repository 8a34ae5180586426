//! Time, injectable: the caches decide freshness from [`Clock::now`], every wait (retry
//! backoff, `Retry-After`, device-code polling) goes through [`Clock::sleep`], and every
//! deadline (a call's `call_timeout`) through [`Clock::sleep_until`], so tests can run an hour
//! of token lifetime, a minute of back-off or a server that never answers in microseconds with
//! [`ManualClock`].

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio::sync::Notify;

/// A source of the current time and of waiting.
#[async_trait]
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time, UTC.
    fn now(&self) -> OffsetDateTime;

    /// The current time in nanoseconds since the Unix epoch: what the caches read on every hit.
    /// The default derives it from [`now`](Self::now); override it only if your clock has a
    /// cheaper source, as [`SystemClock`] does (building an `OffsetDateTime` means calendar
    /// arithmetic that costs more than the rest of a cache hit).
    fn now_unix_nanos(&self) -> i128 {
        self.now().unix_timestamp_nanos()
    }

    /// Waits for `duration`.
    async fn sleep(&self, duration: Duration);

    /// Waits until the clock reads `at` or later: the timer behind a deadline, raced against
    /// the work it bounds. Unlike [`sleep`](Self::sleep) it is passive: a [`ManualClock`] does
    /// not move for it, but wakes it when the clock is moved (by
    /// [`advance`](ManualClock::advance) or another task's `sleep`) to `at` or past it.
    ///
    /// The default sleeps for the time left by [`now`](Self::now), which is right for a clock
    /// that follows real time; a test clock that moves itself on `sleep` should override it.
    async fn sleep_until(&self, at: OffsetDateTime) {
        let left = at - self.now();
        if left.is_positive() {
            self.sleep(left.unsigned_abs()).await;
        }
    }
}

/// The real clock: the system time and `tokio::time::sleep`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn now_unix_nanos(&self) -> i128 {
        // Nanoseconds since 1970 fit an i128 many times over, so the casts cannot wrap.
        match SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
            Ok(since) => since.as_nanos() as i128,
            Err(before) => -(before.duration().as_nanos() as i128),
        }
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// A clock that moves only when told to, for tests.
///
/// `sleep` returns at once after advancing the clock by the requested duration and recording
/// it, so a test can assert exactly which waits happened ([`ManualClock::sleeps`]).
///
/// ```
/// use std::time::Duration;
/// use powerbi_embed::{Clock, ManualClock};
/// # tokio_test_block_on(async {
/// let clock = ManualClock::new(time::macros::datetime!(2026-01-01 0:00 UTC));
/// clock.sleep(Duration::from_secs(5)).await;
/// assert_eq!(clock.now(), time::macros::datetime!(2026-01-01 0:00:05 UTC));
/// assert_eq!(clock.sleeps(), vec![Duration::from_secs(5)]);
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    state: Arc<Mutex<ManualState>>,
    /// Wakes the [`sleep_until`](Clock::sleep_until) timers whenever the clock moves.
    moved: Arc<Notify>,
}

#[derive(Debug)]
struct ManualState {
    now: OffsetDateTime,
    sleeps: Vec<Duration>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: OffsetDateTime) -> Self {
        Self {
            state: Arc::new(Mutex::new(ManualState { now: start, sleeps: Vec::new() })),
            moved: Arc::new(Notify::new()),
        }
    }

    /// A clock standing at the current system time.
    pub fn starting_now() -> Self {
        Self::new(OffsetDateTime::now_utc())
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        {
            let mut state = self.lock();
            state.now = state.now.saturating_add(saturating_time(by));
        }
        self.moved.notify_waiters();
    }

    /// Every duration passed to `sleep` so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().sleeps.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ManualState> {
        // A panic while holding this lock cannot leave the state half-written, so keep going.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        self.lock().now
    }

    async fn sleep(&self, duration: Duration) {
        {
            let mut state = self.lock();
            state.now = state.now.saturating_add(saturating_time(duration));
            state.sleeps.push(duration);
        }
        self.moved.notify_waiters();
        // Let other tasks run, as a real sleep would.
        tokio::task::yield_now().await;
    }

    async fn sleep_until(&self, at: OffsetDateTime) {
        loop {
            // Registered before the clock is read, so a move in between is not missed.
            let moved = self.moved.notified();
            tokio::pin!(moved);
            moved.as_mut().enable();
            if self.now() >= at {
                return;
            }
            moved.await;
        }
    }
}

/// `duration` as a `time::Duration`, capped at the largest one (a `std::time::Duration` can be
/// longer), for saturating arithmetic on dates.
pub(crate) fn saturating_time(duration: Duration) -> time::Duration {
    time::Duration::try_from(duration).unwrap_or(time::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_nanos_agree_with_now() {
        let before = SystemClock.now().unix_timestamp_nanos();
        let nanos = SystemClock.now_unix_nanos();
        let after = SystemClock.now().unix_timestamp_nanos();
        assert!(before <= nanos && nanos <= after);
    }

    #[test]
    fn manual_clock_nanos_follow_the_clock() {
        let clock = ManualClock::new(time::macros::datetime!(2026-01-01 0:00 UTC));
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now_unix_nanos(), clock.now().unix_timestamp_nanos());
    }
}
