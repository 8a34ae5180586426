//! A wiremock server that can be dropped anywhere, even from a busy tokio task.
//!
//! `wiremock::MockServer`'s `Drop` checks the mounted expectations with
//! `futures::executor::block_on(verify())`. `verify` takes tokio `RwLock`s, and every tokio lock
//! acquisition spends a unit of the current task's cooperative budget (128 per poll). When the
//! dropping task has spent its budget (say, after awaiting a few hundred ready `JoinHandle`s),
//! the lock answers `Pending` and wakes itself, expecting the task to yield to the runtime, which
//! refills the budget. Inside `block_on` nothing yields: it polls again at once, forever, at 100 %
//! CPU. The reproduction lives in `tests/faults/mock_server_drop.rs`.
//!
//! The budget belongs to the runtime thread. A plain OS thread has no tokio context, so locks
//! there are never budget-limited: [`SafeMockServer`] moves the server onto a short-lived thread
//! of its own to drop it, and re-raises the verification failure (if any) in the caller.

use std::ops::Deref;

use wiremock::MockServer;

/// A [`wiremock::MockServer`] whose drop cannot livelock (see the module source for why a plain
/// one can).
///
/// It dereferences to the `MockServer`, so `Mock::mount(&server)` and `server.uri()` work
/// unchanged. On drop, the server is verified and stopped on a thread of its own; a failed
/// expectation panics in the dropping thread as with a plain `MockServer`, unless that thread
/// is already panicking. [`FakeServices`](super::FakeServices) holds its servers this way; wrap
/// your own mock servers in it when your tests drop them from tasks that do a lot of awaiting.
///
/// ```
/// use powerbi_embed::testing::SafeMockServer;
/// use wiremock::{matchers::any, Mock, ResponseTemplate};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let server = SafeMockServer::start().await;
/// Mock::given(any()).respond_with(ResponseTemplate::new(204)).expect(0).mount(&server).await;
/// tokio::spawn(async move {
///     for _ in 0..1_000 {
///         tokio::task::coop::consume_budget().await;
///     }
///     drop(server); // a plain MockServer could spin here forever
/// })
/// .await
/// .unwrap();
/// # });
/// ```
#[derive(Debug)]
pub struct SafeMockServer {
    // `None` only inside `drop`.
    server: Option<MockServer>,
}

impl SafeMockServer {
    /// Starts a wiremock server on a random loopback port.
    pub async fn start() -> Self {
        Self::new(MockServer::start().await)
    }

    /// Takes ownership of a server started elsewhere (for example with `MockServer::builder()`).
    pub fn new(server: MockServer) -> Self {
        SafeMockServer { server: Some(server) }
    }
}

impl Deref for SafeMockServer {
    type Target = MockServer;

    fn deref(&self) -> &MockServer {
        self.server.as_ref().expect("the server is only taken out in drop")
    }
}

impl Drop for SafeMockServer {
    fn drop(&mut self) {
        let Some(server) = self.server.take() else { return };
        let outcome = std::thread::Builder::new()
            .name("wiremock-drop".into())
            .spawn(move || drop(server))
            .map(|thread| thread.join());
        match outcome {
            Ok(Ok(())) => {}
            // The verification failed: report it where a plain MockServer would have.
            Ok(Err(panic)) if !std::thread::panicking() => std::panic::resume_unwind(panic),
            Ok(Err(_)) => {}
            // No thread could be started (resource exhaustion): the server leaks rather than
            // risking the livelock; its port is freed when the process ends.
            Err(_) => {}
        }
    }
}
