//! The per-call deadline: one token or embed call, with everything it does (cache and shared
//! store, Entra, Power BI, every attempt and every wait between attempts), ends by
//! `call_timeout` after it started.
//!
//! The deadline travels with the call as a task-local value, so a Power BI call's deadline also
//! bounds the Entra token it needs (the earlier of the two deadlines wins), and the retry loops
//! can see it: a wait that would end past the deadline is not started, and the last answer is
//! returned instead. The bound itself is a race between the call and a timer on the crate's
//! [`Clock`], so a test drives it with a [`ManualClock`](crate::ManualClock) and never sleeps.
//!
//! Long operations do not run under this deadline but get their own: an interactive sign-in
//! (the device-code flow waits for a person, up to the code's expiry or the credential's
//! `timeout`), and, as they are added, uploads, polling an import and waiting for a capacity
//! assignment.

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use time::OffsetDateTime;

use crate::clock::Clock;
use crate::error::{Error, Result, TransportError};

/// How long one token or embed call may take by default, retries included.
pub(crate) const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The deadline of a call, and what to say when it passes.
#[derive(Debug, Clone, Copy)]
struct CallDeadline {
    /// Nanoseconds since the Unix epoch (the clock's cheapest form: a cache hit pays for one
    /// clock read, not a calendar date).
    at: i128,
    /// The call's `call_timeout`.
    budget: Duration,
    /// The service of the call that set it.
    service: &'static str,
}

tokio::task_local! {
    /// The deadline of the call running in this task.
    static CALL_DEADLINE: CallDeadline;
}

/// The deadline of the current call, if one is running.
fn current() -> Option<CallDeadline> {
    CALL_DEADLINE.try_with(|deadline| *deadline).ok()
}

/// Whether waiting `delay` from now still ends before the current call's deadline (true when no
/// call deadline is set). A retry loop asks before each wait.
pub(crate) fn leaves_room(clock: &dyn Clock, delay: Duration) -> bool {
    match current() {
        None => true,
        Some(deadline) => clock.now_unix_nanos().saturating_add(nanos(delay)) < deadline.at,
    }
}

/// Runs `call` until it finishes or `budget` from now has passed (or the deadline of an
/// enclosing call, if that comes first). At the deadline `call` is dropped and the answer is a
/// [`TransportError`] of kind `Deadline` naming the service and budget of the deadline that
/// passed.
///
/// The timer is only made if `call` does not finish on its first poll, so a cache hit costs a
/// clock read and nothing else.
pub(crate) async fn bounded<T>(
    clock: &Arc<dyn Clock>,
    budget: Duration,
    service: &'static str,
    call: impl Future<Output = Result<T>>,
) -> Result<T> {
    let own = CallDeadline { at: clock.now_unix_nanos().saturating_add(nanos(budget)), budget, service };
    let deadline = match current() {
        Some(outer) if outer.at <= own.at => outer,
        _ => own,
    };
    let call = CALL_DEADLINE.scope(deadline, call);
    tokio::pin!(call);
    let mut timer = None;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(outcome) = call.as_mut().poll(cx) {
            return Poll::Ready(outcome);
        }
        let timer = timer.get_or_insert_with(|| clock.sleep_until(moment(deadline.at)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Error::Transport(Arc::new(TransportError::deadline(
                deadline.service,
                deadline.budget,
            ))))),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

fn nanos(duration: Duration) -> i128 {
    i128::try_from(duration.as_nanos()).unwrap_or(i128::MAX)
}

/// Nanoseconds since the epoch as a date, saturating at the ends of the calendar.
fn moment(nanos: i128) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(if nanos < 0 {
        OffsetDateTime::UNIX_EPOCH.saturating_sub(time::Duration::MAX)
    } else {
        OffsetDateTime::UNIX_EPOCH.saturating_add(time::Duration::MAX)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use time::macros::datetime;

    #[test]
    fn moments_saturate_at_the_ends_of_the_calendar() {
        assert_eq!(moment(0), OffsetDateTime::UNIX_EPOCH);
        assert_eq!(moment(i128::MAX).year(), 9999);
        assert_eq!(moment(i128::MIN).year(), -9999);
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
        assert_eq!(error.to_string(), "outer call gave up at its deadline: not finished within 10 s (call_timeout)");
    }
}
