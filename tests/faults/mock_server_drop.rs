//! Dropping a mock server from a task that has spent its tokio cooperative budget.
//!
//! `wiremock::MockServer`'s `Drop` runs `block_on(verify())`, whose tokio locks answer `Pending`
//! forever once the task's budget is spent (see `src/testing/server.rs`). These tests spend the
//! budget on purpose, then drop: a plain `MockServer` spins there at 100 % CPU (measured: it
//! never returns), [`SafeMockServer`] and [`FakeServices`] must return. Each scenario runs on a
//! thread of its own with a bound far above its real duration (milliseconds), so a regression
//! fails with this test's name instead of hanging the suite.

use std::sync::mpsc;
use std::time::Duration;

use powerbi_embed::testing::{FakeServices, SafeMockServer};
use wiremock::matchers::any;
use wiremock::{Mock, ResponseTemplate};

/// Far above the milliseconds a drop takes; only reached if the drop spins.
const HANG: Duration = Duration::from_secs(60);

/// Runs `scenario` on a current-thread runtime of a thread of its own.
fn on_own_runtime<Fut>(scenario: Fut) -> std::thread::JoinHandle<()>
where
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    std::thread::spawn(|| {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(scenario)
    })
}

/// Runs `scenario` inside a spawned task (tasks start each poll with a full budget of 128) and
/// reports whether it finished in time.
fn finishes<F, Fut>(scenario: F) -> bool
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (done, finished) = mpsc::channel();
    on_own_runtime(async move {
        tokio::spawn(scenario()).await.unwrap();
        let _ = done.send(());
    });
    finished.recv_timeout(HANG).is_ok()
}

/// Spends what is left of the current task's budget without yielding, as awaiting enough ready
/// `JoinHandle`s does (`consume_budget` is only called while a unit is left, so it never yields).
async fn spend_budget() {
    while tokio::task::coop::has_budget_remaining() {
        tokio::task::coop::consume_budget().await;
    }
}

#[test]
fn safe_mock_server_drops_from_a_task_with_no_budget_left() {
    assert!(
        finishes(|| async {
            let server = SafeMockServer::start().await;
            Mock::given(any()).respond_with(ResponseTemplate::new(204)).expect(0).mount(&server).await;
            spend_budget().await;
            drop(server);
        }),
        "dropping a SafeMockServer with the task's budget spent did not return"
    );
}

#[test]
fn fake_services_drop_from_a_task_with_no_budget_left() {
    assert!(
        finishes(|| async {
            let fake = FakeServices::start().await;
            fake.aad_client().token().await.unwrap();
            spend_budget().await;
            drop(fake);
        }),
        "dropping FakeServices with the task's budget spent did not return"
    );
}

#[test]
fn a_failed_expectation_still_fails_the_test_that_drops_the_server() {
    let outcome = on_own_runtime(async {
        let server = SafeMockServer::start().await;
        Mock::given(any())
            .respond_with(ResponseTemplate::new(204))
            .named("never called")
            .expect(1)
            .mount(&server)
            .await;
        drop(server);
    })
    .join();
    let panic = outcome.expect_err("an unmet .expect(1) must panic on drop");
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(message.contains("never called"), "wiremock's verification message is kept: {message}");
}

#[test]
fn a_thread_that_is_already_panicking_does_not_abort_on_drop() {
    let outcome = on_own_runtime(async {
        let server = SafeMockServer::start().await;
        Mock::given(any()).respond_with(ResponseTemplate::new(204)).expect(1).mount(&server).await;
        let _server = server;
        panic!("the test's own failure");
    })
    .join();
    let panic = outcome.expect_err("the test's own panic propagates");
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"the test's own failure"));
}
