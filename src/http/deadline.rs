//! The per-call deadline: one token or embed call, with everything it does (cache and shared
//! store, Entra, Power BI, every attempt and every wait between attempts), ends by
//! `call_timeout` after it started (or by the `deadline` of the view it was made through).
//!
//! The deadline travels with the call (a thread-local set around each poll of it, which is a
//! task-local value in effect), so a Power BI call's deadline also bounds the Entra token it
//! needs (the earlier of the two deadlines wins), and the retry loops can see it: a wait that
//! would end past the deadline is not started, and the last answer is returned instead. The bound itself is a race between the call and a timer on the crate's
//! [`Clock`], so a test drives it with a [`ManualClock`](crate::ManualClock) and never sleeps.
//!
//! A cache hit must stay cheap (no allocation, ~100 ns), so the deadline is fixed lazily: at the
//! call's first wait (microseconds after it started, before any network answer could arrive),
//! or when a retry loop or a nested call first asks for it. A call that never waits never reads
//! the clock for it and never makes a timer.
//!
//! Long operations do not run under this deadline but get their own: an interactive sign-in
//! (the device-code flow waits for a person, up to the code's expiry or the credential's
//! `timeout`), and, as they are added, uploads, polling an import and waiting for a capacity
//! assignment.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use time::OffsetDateTime;

use crate::clock::Clock;
use crate::error::{Error, Result, TransportError};

/// How long one token or embed call may take by default, retries included.
pub(crate) const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The deadline of a call, and what to say when it passes.
#[derive(Debug, Clone, Copy)]
struct CallDeadline {
    /// The call's `call_timeout`, or the deadline of the view it was made through.
    budget: Duration,
    /// The service of the call that set it.
    service: &'static str,
    /// In nanoseconds since the Unix epoch once someone needed it, [`NOT_FIXED`] until then. A
    /// call that never waits (a cache hit) never reads the clock for its deadline; one that does
    /// fixes it at its first wait, microseconds after it started. Not an `Option<i128>`, which
    /// is 16 bytes more: this struct is copied in and out of a thread-local on every poll. (For
    /// the same reason it does not say which setting gave the budget: one byte more cost a
    /// cached Entra token 4 % more instructions, so the error names both settings.)
    at: i128,
}

/// `CallDeadline::at` before the deadline is fixed (no `now + budget` saturates down to it).
const NOT_FIXED: i128 = i128::MIN;

impl CallDeadline {
    /// The deadline, fixed at `now` plus the budget if nothing fixed it yet.
    fn fix(&mut self, now: i128) -> i128 {
        if self.at == NOT_FIXED {
            self.at = now.saturating_add(nanos(self.budget));
        }
        self.at
    }
}

thread_local! {
    /// The deadline of the call being polled on this thread. [`Bounded`] sets it around each
    /// poll of its call and puts the previous one back after, so it follows the call as a
    /// task-local value would (a poll never moves between threads), for two `Cell` writes: a
    /// tokio task-local costs several times that, on every cache hit.
    static CURRENT: Cell<Option<CallDeadline>> = const { Cell::new(None) };
}

/// Whether waiting `delay` from now still ends before the current call's deadline (true when no
/// call deadline is set). A retry loop asks before each wait.
pub(crate) fn leaves_room(clock: &dyn Clock, delay: Duration) -> bool {
    CURRENT.with(|current| match current.get() {
        None => true,
        Some(mut deadline) => {
            let now = clock.now_unix_nanos();
            let at = deadline.fix(now);
            current.set(Some(deadline));
            now.saturating_add(nanos(delay)) < at
        }
    })
}

/// Runs `call` until it finishes or `budget` has passed (or the deadline of an enclosing call,
/// if that comes first). At the deadline `call` is dropped and the answer is a
/// [`TransportError`] of kind `Deadline` naming the service and budget of the deadline that
/// passed.
///
/// The timer is only made if `call` has to wait, so a cache hit costs neither a timer nor a
/// clock read. A hand-written future rather than an `async fn`, and best given a pinned
/// reference to the call: a cache lookup holding a whole token request is over 1 KiB, and
/// moving it into an `async fn` wrapper tripled the cost of a cache hit.
pub(crate) fn bounded<'c, F>(
    clock: &'c Arc<dyn Clock>,
    budget: Duration,
    service: &'static str,
    call: F,
) -> Bounded<'c, F> {
    // Inside another call: the earlier deadline wins (which fixes the outer one now, if it was
    // not fixed yet: the outer call is running, so it started about now).
    let own = CallDeadline { budget, service, at: NOT_FIXED };
    let deadline = CURRENT.with(|current| match current.get() {
        None => own,
        Some(mut outer) => {
            let now = clock.now_unix_nanos();
            let outer_at = outer.fix(now);
            current.set(Some(outer));
            let mut own = own;
            if outer_at <= own.fix(now) {
                outer
            } else {
                own
            }
        }
    });
    Bounded { call, clock, deadline, timer: None }
}

/// Puts the enclosing call's deadline back when a poll ends, even by a panic.
struct Restore(Option<CallDeadline>);

impl Drop for Restore {
    fn drop(&mut self) {
        CURRENT.with(|current| current.set(self.0));
    }
}

pin_project_lite::pin_project! {
    /// The future of [`bounded`].
    pub(crate) struct Bounded<'c, F> {
        #[pin]
        call: F,
        clock: &'c Arc<dyn Clock>,
        deadline: CallDeadline,
        timer: Option<Pin<Box<dyn Future<Output = ()> + Send + 'c>>>,
    }
}

impl<T, F: Future<Output = Result<T>>> Future for Bounded<'_, F> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = self.project();
        // This call's deadline is the current one while its call is polled; what the call fixed
        // of it (its first wait, a retry loop asking) is read back before the previous one
        // returns.
        let polled = {
            let _restore = Restore(CURRENT.with(|current| current.replace(Some(*this.deadline))));
            let polled = this.call.poll(cx);
            if let Some(current) = CURRENT.with(Cell::get) {
                *this.deadline = current;
            }
            polled
        };
        if let Poll::Ready(outcome) = polled {
            return Poll::Ready(outcome);
        }
        let clock = *this.clock;
        let deadline = this.deadline.fix(clock.now_unix_nanos());
        // A deadline past the end of the calendar (a clock standing in year 9999) is one the
        // clock never reaches: no timer fires for it.
        let timer = this.timer.get_or_insert_with(|| match moment(deadline) {
            Some(at) => clock.sleep_until(at),
            None => Box::pin(std::future::pending()),
        });
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Error::Transport(Arc::new(TransportError::deadline(
                this.deadline.service,
                this.deadline.budget,
            ))))),
            Poll::Pending => Poll::Pending,
        }
    }
}

fn nanos(duration: Duration) -> i128 {
    i128::try_from(duration.as_nanos()).unwrap_or(i128::MAX)
}

/// Nanoseconds since the epoch as a date, if the calendar has it.
fn moment(nanos: i128) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use time::macros::datetime;

    #[test]
    fn moments_past_the_calendar_are_none() {
        assert_eq!(moment(0), Some(OffsetDateTime::UNIX_EPOCH));
        assert_eq!(moment(i128::MAX), None);
        assert_eq!(moment(i128::MIN), None);
    }

    #[tokio::test]
    async fn a_deadline_past_the_end_of_the_calendar_never_fires() {
        let manual = ManualClock::new(datetime!(9999-12-31 23:59:59 UTC));
        let clock: Arc<dyn Clock> = Arc::new(manual.clone());
        let call = bounded(&clock, Duration::from_secs(30), "late", async {
            manual.advance(Duration::MAX);
            tokio::task::yield_now().await;
            Ok(7)
        });
        assert_eq!(call.await.unwrap(), 7);
    }

    #[tokio::test]
    async fn the_earlier_deadline_wins_and_retry_waits_see_it() {
        let manual = ManualClock::new(datetime!(2026-01-01 0:00 UTC));
        let clock: Arc<dyn Clock> = Arc::new(manual.clone());
        assert!(leaves_room(&*clock, Duration::MAX), "no call, no deadline");
        let outer = bounded(&clock, Duration::from_secs(10), "outer", async {
            let inner = bounded(&clock, Duration::from_secs(60), "inner", async {
                assert!(leaves_room(&*clock, Duration::from_secs(9)));
                assert!(!leaves_room(&*clock, Duration::from_secs(10)));
                // Passes the outer deadline, not the inner one.
                manual.advance(Duration::from_secs(11));
                std::future::pending::<Result<()>>().await
            });
            inner.await
        });
        let error = outer.await.unwrap_err();
        let Error::Transport(e) = &error else { panic!("{error:?}") };
        // The outer deadline is the one that passed, and the error says so.
        assert_eq!(e.kind, crate::error::TransportErrorKind::Deadline);
        assert_eq!(e.service, "outer");
        assert_eq!(
            error.to_string(),
            "outer call gave up at its deadline: not finished within 10 s (call_timeout, or the view's deadline)"
        );
    }
}
