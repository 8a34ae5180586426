//! The per-call deadline (`call_timeout`, 30 s by default): a token or embed call ends by then,
//! Entra and Power BI together, whatever the servers do. Before, `RetryPolicy::max_elapsed`
//! counted only the waits between attempts, so a server that accepts and never answers made one
//! `token()` take 4 x 30 s.
//!
//! Every deadline here is met on a `ManualClock` moved by the test: nothing sleeps for real. A
//! real-time guard only turns a hang (the bug) into a failure.

use std::sync::Arc;
use std::time::Duration;

use crate::support::ids::{REPORT, WORKSPACE};
use crate::support::*;
use powerbi_embed::{
    AadClient, ClientSecretCredential, Clock, DeviceCodeCredential, Error, GenerateTokenRequest, ManualClock,
    PowerBiClient, RetryPolicy, TransportErrorKind,
};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const SECRET: &str = "call-deadline-client-secret";

/// Turns a hang into a failure; never reached when the deadline works.
const HANG_GUARD: Duration = Duration::from_secs(20);

/// A loopback server that accepts connections and never writes a byte; each accepted connection
/// is announced on the returned channel, so the test knows the request is in flight.
async fn never_answers() -> (String, mpsc::UnboundedReceiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let (accepted, announced) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut open = Vec::new(); // held open, unanswered
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
            let _ = accepted.send(());
        }
    });
    (url, announced)
}

/// Lets every task that is ready run (the tests run on one thread).
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

fn assert_deadline(error: &Error, service: &str, seconds: &str) {
    let Error::Transport(e) = error else { panic!("expected a deadline error, got {error:?}") };
    assert_eq!((e.kind, e.service), (TransportErrorKind::Deadline, service));
    assert!(e.maybe_sent);
    assert!(error.is_retryable());
    assert_eq!(
        error.to_string(),
        format!("{service} call gave up at its deadline: not finished within {seconds} s (call_timeout, or the view's deadline)")
    );
}

#[tokio::test]
async fn a_token_call_to_a_server_that_never_answers_ends_at_the_default_deadline() {
    let (url, mut accepted) = never_answers().await;
    let clock = clock();
    // Four attempts allowed, and reqwest's own 30 s timeout per attempt: 4 x 30 s before.
    let aad = AadClient::builder(ClientSecretCredential::new(TENANT, CLIENT, SECRET).unwrap())
        .authority_host(url)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let call = tokio::spawn(async move { aad.token().await });
    accepted.recv().await.unwrap();

    clock.advance(Duration::from_secs(29));
    settle().await;
    assert!(!call.is_finished(), "ended before its deadline");

    clock.advance(Duration::from_secs(1));
    let error = tokio::time::timeout(HANG_GUARD, call).await.expect("hung past the deadline").unwrap().unwrap_err();
    assert_deadline(&error, "token", "30");
    // One attempt, cut off: no retry was started past the deadline.
    assert!(accepted.try_recv().is_err());
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn the_call_timeout_is_configurable() {
    let (url, mut accepted) = never_answers().await;
    let clock = clock();
    let aad = AadClient::builder(ClientSecretCredential::new(TENANT, CLIENT, SECRET).unwrap())
        .authority_host(url)
        .clock(Arc::new(clock.clone()))
        .call_timeout(Duration::from_millis(5500))
        .build()
        .unwrap();
    let call = tokio::spawn(async move { aad.token().await });
    accepted.recv().await.unwrap();
    clock.advance(Duration::from_secs(5));
    settle().await;
    assert!(!call.is_finished(), "ended before its deadline");
    clock.advance(Duration::from_millis(500));
    let error = tokio::time::timeout(HANG_GUARD, call).await.expect("hung past the deadline").unwrap().unwrap_err();
    assert_deadline(&error, "token", "5.5");
}

#[tokio::test]
async fn an_embed_call_counts_its_entra_token_and_its_power_bi_request_against_one_deadline() {
    // Entra throttles once for 20 s, then answers; Power BI then never answers.
    let entra = strict_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "20"))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&entra)
        .await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("entra-token", 3600)))
        .expect(1)
        .mount(&entra)
        .await;
    let (powerbi_url, mut accepted) = never_answers().await;
    let clock = clock();
    let aad = AadClient::builder(ClientSecretCredential::new(TENANT, CLIENT, SECRET).unwrap())
        .authority_host(entra.uri())
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let powerbi = PowerBiClient::builder(aad).api_base(powerbi_url).build().unwrap();
    let request = GenerateTokenRequest::report_view().build().unwrap();
    let call = tokio::spawn(async move { powerbi.workspace(WORKSPACE).report(REPORT).embed_token(&request).await });
    accepted.recv().await.unwrap();
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(20)], "the Entra leg waited 20 s of the 30");

    // 10 s more is the Power BI call's 30 s: a fresh 30 s for the Power BI leg would go on.
    clock.advance(Duration::from_secs(9));
    settle().await;
    assert!(!call.is_finished(), "ended before its deadline");
    clock.advance(Duration::from_secs(1));
    let error = tokio::time::timeout(HANG_GUARD, call).await.expect("hung past the deadline").unwrap().unwrap_err();
    assert_deadline(&error, "Power BI", "30");
}

#[tokio::test]
async fn a_retry_wait_past_the_deadline_is_not_started_and_the_last_answer_is_returned() {
    let entra = strict_server().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("Retry-After", "20")
                .set_body_json(entra_error_body("temporarily_unavailable", 90033)),
        )
        .expect(2)
        .mount(&entra)
        .await;
    let clock = clock();
    // The retry policy alone would allow 4 attempts and 60 s of waiting.
    let aad = AadClient::builder(ClientSecretCredential::new(TENANT, CLIENT, SECRET).unwrap())
        .authority_host(entra.uri())
        .clock(Arc::new(clock.clone()))
        .retry_policy(RetryPolicy::default())
        .build()
        .unwrap();
    let error = aad.token().await.unwrap_err();
    // The first 20 s fits in 30; the second would end at 40 s, so the second 503 is the answer.
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(20)]);
    assert_eq!(error.as_entra().map(|e| (e.status, e.error.as_str())), Some((503, "temporarily_unavailable")));
}

#[tokio::test]
async fn an_interactive_sign_in_is_not_cut_off_by_the_call_deadline() {
    let entra = strict_server().await;
    Mock::given(method("POST"))
        .and(path(format!("/{TENANT}/oauth2/v2.0/devicecode")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "user_code": "ABCD-EFGH",
            "device_code": "device-code-secret",
            "verification_uri": "https://microsoft.com/devicelogin",
            "expires_in": 900,
            "interval": 5,
            "message": "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code ABCD-EFGH to authenticate.",
        })))
        .expect(1)
        .mount(&entra)
        .await;
    // The person takes a minute: twelve polls of 5 s say "pending", the thirteenth succeeds.
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(400).set_body_json(entra_error_body("authorization_pending", 70016)))
        .up_to_n_times(12)
        .with_priority(1)
        .expect(12)
        .mount(&entra)
        .await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("user-token", 3600)))
        .expect(1)
        .mount(&entra)
        .await;
    let clock = clock();
    let credential = DeviceCodeCredential::new(TENANT, CLIENT, |_| {}).unwrap();
    let aad =
        AadClient::builder(credential).authority_host(entra.uri()).clock(Arc::new(clock.clone())).build().unwrap();
    let token = aad.token().await.unwrap();
    assert_eq!(token.secret().expose_secret(), "user-token");
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(5); 13]);
    assert_eq!(clock.now() - crate::support::clock().now(), time::Duration::seconds(65));
}

#[tokio::test]
async fn the_manual_clock_wakes_a_deadline_only_when_moved_to_it() {
    let clock = ManualClock::new(time::macros::datetime!(2026-01-01 0:00 UTC));
    let at = clock.now() + time::Duration::seconds(10);
    let timer = {
        let clock = clock.clone();
        tokio::spawn(async move { clock.sleep_until(at).await })
    };
    settle().await;
    assert!(!timer.is_finished(), "a timer does not move the clock");
    clock.advance(Duration::from_secs(9));
    settle().await;
    assert!(!timer.is_finished());
    // Another task's sleep moves the clock too.
    clock.sleep(Duration::from_secs(1)).await;
    tokio::time::timeout(HANG_GUARD, timer).await.expect("woken at its time").unwrap();
    assert_eq!(clock.now(), at);
}
