//! The Entra token endpoint misbehaving, through `AadClient` + `ClientSecretCredential`: every
//! fault ends in a bounded number of attempts (counted at the fake) and waits (read off the
//! manual clock), or in a typed error; never a panic, never a hang. Each test is a row of the
//! README's "Failure behaviour" table.

use std::sync::Arc;
use std::time::Duration;

use crate::support::faults::*;
use crate::support::*;
use powerbi_embed::{
    AadClient, ClientSecretCredential, Clock, EntraEndpoint, Error, ManualClock, RetryPolicy, TransportErrorKind,
};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "faults-client-secret";

fn credential() -> ClientSecretCredential {
    ClientSecretCredential::new(TENANT, CLIENT, SECRET).unwrap()
}

/// An AadClient at `authority` with three attempts and the default backoff.
fn aad(authority: &str, clock: &ManualClock) -> AadClient {
    aad_with(authority, clock, RetryPolicy::default().max_attempts(3))
}

fn aad_with(authority: &str, clock: &ManualClock, retry: RetryPolicy) -> AadClient {
    AadClient::builder(credential())
        .authority_host(authority)
        .clock(Arc::new(clock.clone()))
        .retry_policy(retry)
        .build()
        .unwrap()
}

/// Mounts a token-endpoint answer expected exactly `times` times.
async fn mount(server: &MockServer, reply: ResponseTemplate, times: u64) {
    Mock::given(method("POST")).and(path(TOKEN_PATH)).respond_with(reply).expect(times).mount(server).await;
}

/// Mounts an answer served once (then the next mount takes over), expected once.
async fn mount_once(server: &MockServer, reply: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(reply)
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(server)
        .await;
}

fn ok_reply(token: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(token_body(token, 3600))
}

fn throttled() -> ResponseTemplate {
    ResponseTemplate::new(429).set_body_json(entra_error_body("temporarily_unavailable", 50196))
}

/// Asserts the sleeps of the default backoff (500 ms doubling, with jitter between half and
/// all of each step) for `count` retries.
fn assert_default_backoff(sleeps: &[Duration], count: usize) {
    assert_eq!(sleeps.len(), count, "{sleeps:?}");
    for (i, sleep) in sleeps.iter().enumerate() {
        let step = Duration::from_millis(500) * (1 << i);
        assert!(*sleep >= step / 2 && *sleep <= step, "retry {i}: {sleep:?} outside [{:?}, {step:?}]", step / 2);
    }
}

fn unexpected_reason(err: &Error) -> &str {
    match err {
        Error::UnexpectedResponse(e) => {
            assert_eq!(e.service, "Entra ID");
            &e.reason
        }
        other => panic!("expected UnexpectedResponse, got {other:?}"),
    }
}

/// A 200 with `body` as JSON: the typed error it gives, after exactly one request.
async fn answer_with_json(body: Value) -> Error {
    let server = strict_server().await;
    mount(&server, ResponseTemplate::new(200).set_body_json(body), 1).await;
    let clock = clock();
    let err = aad(&server.uri(), &clock).token().await.unwrap_err();
    assert!(clock.sleeps().is_empty(), "a bad success body is not retried");
    err
}

#[tokio::test]
async fn entra_429_with_retry_after_seconds_waits_that_long_then_retries() {
    let server = strict_server().await;
    mount_once(&server, throttled().insert_header("Retry-After", "7")).await;
    mount(&server, ok_reply("after-7s"), 1).await;
    let clock = clock();
    let token = aad(&server.uri(), &clock).token().await.unwrap();
    assert_eq!(token.secret().expose_secret(), "after-7s");
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(7)]);
}

#[tokio::test]
async fn entra_429_with_retry_after_http_date_waits_until_that_date() {
    let server = strict_server().await;
    // The manual clock stands at 2026-11-23 12:00:00 UTC.
    mount_once(&server, throttled().insert_header("Retry-After", "Mon, 23 Nov 2026 12:00:20 GMT")).await;
    mount(&server, ok_reply("after-date"), 1).await;
    let clock = clock();
    let token = aad(&server.uri(), &clock).token().await.unwrap();
    assert_eq!(token.secret().expose_secret(), "after-date");
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(20)]);
}

#[tokio::test]
async fn entra_429_without_retry_after_backs_off_and_stops_at_max_attempts() {
    let server = strict_server().await;
    mount(&server, throttled(), 3).await;
    let clock = clock();
    let err = aad(&server.uri(), &clock).token().await.unwrap_err();
    let entra = err.as_entra().unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!((entra.status, entra.error.as_str()), (429, "temporarily_unavailable"));
    assert!(err.is_retryable());
    assert_default_backoff(&clock.sleeps(), 2);
}

#[tokio::test]
async fn entra_5xx_is_retried_up_to_max_attempts_then_typed() {
    for status in [500, 502, 503, 504] {
        // With Entra's OAuth error body: an Entra error carrying the status.
        let server = strict_server().await;
        mount(&server, ResponseTemplate::new(status).set_body_json(entra_error_body("server_error", 90033)), 3).await;
        let clock = clock();
        let err = aad(&server.uri(), &clock).token().await.unwrap_err();
        let entra = err.as_entra().unwrap_or_else(|| panic!("{status}: {err:?}"));
        assert_eq!((entra.status, entra.error.as_str()), (status, "server_error"));
        assert!(err.is_retryable(), "{status}");
        assert_default_backoff(&clock.sleeps(), 2);

        // With a gateway's HTML page: an unexpected response carrying the status.
        let server = strict_server().await;
        mount(&server, ResponseTemplate::new(status).set_body_raw("<html>gateway</html>", "text/html"), 3).await;
        let gateway_clock = crate::support::clock();
        let err = aad(&server.uri(), &gateway_clock).token().await.unwrap_err();
        assert_eq!(unexpected_reason(&err), "error status without an OAuth error body");
        assert_eq!(err.status(), Some(status));
        assert!(err.is_retryable(), "{status}: a gateway error is worth retrying later");
        assert_default_backoff(&gateway_clock.sleeps(), 2);
    }
}

#[tokio::test]
async fn entra_connection_refused_is_a_connect_error_after_bounded_retries() {
    let clock = clock();
    let err = aad(&refused_url(), &clock).token().await.unwrap_err();
    let Error::Transport(transport) = &err else { panic!("{err:?}") };
    assert_eq!(transport.kind, TransportErrorKind::Connect);
    assert_eq!(transport.service, "Entra ID");
    assert_eq!(transport.attempts, 3);
    assert!(!transport.maybe_sent);
    assert!(err.is_retryable());
    assert_default_backoff(&clock.sleeps(), 2);
}

#[tokio::test]
async fn entra_connection_reset_mid_body_is_interrupted_and_retried() {
    let server = RawServer::cuts_the_body(400, r#"{"token_type":"Bearer","access_tok"#).await;
    let clock = clock();
    let err = aad(&server.url, &clock).token().await.unwrap_err();
    let Error::Transport(transport) = &err else { panic!("{err:?}") };
    assert_eq!(transport.kind, TransportErrorKind::Interrupted);
    assert_eq!(transport.attempts, 3);
    assert!(transport.maybe_sent);
    assert_eq!(server.connections(), 3);
    assert_default_backoff(&clock.sleeps(), 2);
}

#[tokio::test]
async fn entra_server_that_never_answers_hits_the_client_timeout() {
    let server = RawServer::never_answers().await;
    let clock = clock();
    let aad = AadClient::builder(credential())
        .authority_host(&server.url)
        .http_client(short_timeout_client())
        .clock(Arc::new(clock.clone()))
        .retry_policy(RetryPolicy::default().max_attempts(2))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let err = tokio::time::timeout(HANG_GUARD, aad.token()).await.expect("the client timeout must fire").unwrap_err();
    let Error::Transport(transport) = &err else { panic!("{err:?}") };
    assert_eq!(transport.kind, TransportErrorKind::Timeout);
    assert_eq!(transport.attempts, 2);
    assert_eq!(server.connections(), 2);
    assert_default_backoff(&clock.sleeps(), 1);
    // Two attempts of 300 ms each, and no real sleeping between them.
    assert!(started.elapsed() >= SHORT_TIMEOUT * 2, "{:?}", started.elapsed());
}

#[tokio::test]
async fn entra_200_with_html_is_an_unexpected_response() {
    let server = strict_server().await;
    mount(&server, ResponseTemplate::new(200).set_body_raw("<html>Sign in</html>", "text/html; charset=utf-8"), 1)
        .await;
    let clock = clock();
    let err = aad(&server.uri(), &clock).token().await.unwrap_err();
    assert_eq!(unexpected_reason(&err), "token response is not JSON");
    let Error::UnexpectedResponse(e) = &err else { unreachable!() };
    assert_eq!(e.content_type.as_deref(), Some("text/html; charset=utf-8"));
    assert_eq!(err.status(), Some(200));
    assert!(!err.is_retryable());
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn entra_truncated_json_is_an_unexpected_response() {
    let server = strict_server().await;
    mount(
        &server,
        ResponseTemplate::new(200).set_body_raw(r#"{"token_type":"Bearer","access_token":"eyJ0"#, "application/json"),
        1,
    )
    .await;
    let err = aad(&server.uri(), &clock()).token().await.unwrap_err();
    let reason = unexpected_reason(&err);
    assert!(reason.starts_with("token response could not be read: EOF while parsing"), "{reason}");
    assert!(!reason.contains("eyJ0"), "{reason}");
}

#[tokio::test]
async fn entra_json_without_access_token_is_an_unexpected_response() {
    for body in [
        json!({"token_type": "Bearer", "expires_in": 3599}),
        json!({"token_type": "Bearer", "expires_in": 3599, "access_token": ""}),
    ] {
        let err = answer_with_json(body).await;
        assert_eq!(unexpected_reason(&err), "token response has no access_token");
    }
}

#[tokio::test]
async fn entra_json_with_wrong_types_is_an_unexpected_response() {
    let cases = [
        json!({"token_type": "Bearer", "expires_in": 3599, "access_token": 42}),
        json!({"token_type": "Bearer", "expires_in": true, "access_token": "at"}),
        json!({"token_type": "Bearer", "expires_in": "soon", "access_token": "at"}),
        json!(["not", "an", "object"]),
    ];
    for body in cases {
        let err = answer_with_json(body.clone()).await;
        let reason = unexpected_reason(&err);
        assert!(reason.starts_with("token response could not be read: "), "{body}: {reason}");
    }
    let err = answer_with_json(json!({"token_type": "pop", "expires_in": 3599, "access_token": "at"})).await;
    assert_eq!(unexpected_reason(&err), "token_type is not Bearer");
}

#[tokio::test]
async fn entra_expires_in_as_a_string_is_accepted() {
    for endpoint in [EntraEndpoint::V2, EntraEndpoint::V1] {
        let server = strict_server().await;
        let token_path = match endpoint {
            EntraEndpoint::V2 => TOKEN_PATH.to_owned(),
            EntraEndpoint::V1 => format!("/{TENANT}/oauth2/token"),
        };
        Mock::given(method("POST"))
            .and(path(token_path))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"token_type": "Bearer", "expires_in": "3599", "ext_expires_in": "3599", "access_token": "v1-style"}),
            ))
            .expect(1)
            .mount(&server)
            .await;
        let clock = clock();
        let aad = AadClient::builder(credential())
            .authority_host(server.uri())
            .endpoint(endpoint)
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        let token = aad.token().await.unwrap();
        assert_eq!(token.secret().expose_secret(), "v1-style");
        assert_eq!(token.expires_on(), clock.now() + Duration::from_secs(3599));
    }
}

#[tokio::test]
async fn entra_absurd_expires_in_is_rejected() {
    for seconds in [json!(0), json!(-1), json!(7 * 24 * 3600 + 1), json!("0"), json!(i64::MAX)] {
        let err = answer_with_json(json!({"token_type": "Bearer", "expires_in": seconds, "access_token": "at"})).await;
        let reason = unexpected_reason(&err);
        let shown = seconds.as_i64().unwrap_or(0);
        assert_eq!(reason, format!("expires_in of {shown} s is not a plausible token lifetime"));
    }
    // An expires_on (v1 style, epoch seconds) in the past, or years away, is refused as well.
    let past = clock().now().unix_timestamp() - 1;
    let err = answer_with_json(json!({"token_type": "Bearer", "expires_on": past, "access_token": "at"})).await;
    assert_eq!(unexpected_reason(&err), "the token has already expired");
    let far = clock().now().unix_timestamp() + 365 * 24 * 3600;
    let err =
        answer_with_json(json!({"token_type": "Bearer", "expires_on": far.to_string(), "access_token": "at"})).await;
    assert_eq!(unexpected_reason(&err), "the token's expiry is implausibly far away");
}

#[tokio::test]
async fn entra_refresh_in_beyond_the_calendar_is_ignored() {
    let server = strict_server().await;
    let body = json!({"token_type": "Bearer", "expires_in": 3600, "refresh_in": i64::MAX, "access_token": "at"});
    mount(&server, ResponseTemplate::new(200).set_body_json(body), 1).await;
    let clock = clock();
    let token = aad(&server.uri(), &clock).token().await.unwrap();
    assert_eq!(token.secret().expose_secret(), "at");
    assert_eq!(token.expires_on(), clock.now() + Duration::from_secs(3600));
    assert_eq!(token.refresh_on(), None);
}

#[tokio::test]
async fn entra_redirects_are_not_followed() {
    for status in [301, 302, 307, 308] {
        let server = strict_server().await;
        let elsewhere = strict_server().await;
        Mock::given(method("POST"))
            .and(path("/collect"))
            .respond_with(ok_reply("stolen"))
            .expect(0)
            .mount(&elsewhere)
            .await;
        mount(
            &server,
            ResponseTemplate::new(status).insert_header("Location", format!("{}/collect", elsewhere.uri())),
            1,
        )
        .await;
        let clock = clock();
        let err = aad(&server.uri(), &clock).token().await.unwrap_err();
        assert_eq!(unexpected_reason(&err), "redirects are not followed on this request");
        assert_eq!(err.status(), Some(status));
        assert!(clock.sleeps().is_empty());
        assert!(elsewhere.received_requests().await.unwrap().is_empty(), "{status}");
    }
}

#[tokio::test]
async fn entra_4xx_is_never_retried() {
    for (status, error, code) in [
        (400, "invalid_request", 90002),
        (401, "invalid_client", 7000215),
        (403, "access_denied", 65001),
        (404, "invalid_request", 90002),
    ] {
        let server = strict_server().await;
        mount(&server, ResponseTemplate::new(status).set_body_json(entra_error_body(error, code)), 1).await;
        let clock = clock();
        let err = aad(&server.uri(), &clock).token().await.unwrap_err();
        let entra = err.as_entra().unwrap_or_else(|| panic!("{status}: {err:?}"));
        assert_eq!((entra.status, entra.error.as_str(), entra.error_codes.as_slice()), (status, error, &[code][..]));
        assert!(!err.is_retryable());
        assert!(clock.sleeps().is_empty(), "{status}");
    }
}

#[tokio::test]
async fn entra_retry_after_beyond_the_budget_returns_the_429_at_once() {
    let server = strict_server().await;
    mount(&server, throttled().insert_header("Retry-After", "61"), 1).await;
    let clock = clock();
    let policy = RetryPolicy::default().max_attempts(5).max_elapsed(Duration::from_secs(60));
    let err = aad_with(&server.uri(), &clock, policy).token().await.unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn entra_retry_budget_bounds_the_total_wait() {
    let server = strict_server().await;
    // Backoffs of 0.5–1 s, 1–2 s, 2–4 s: the first two fit a 3 s budget, the third never does.
    mount(&server, ResponseTemplate::new(503).set_body_json(entra_error_body("server_error", 90033)), 3).await;
    let clock = clock();
    let policy = RetryPolicy::default()
        .max_attempts(10)
        .initial_backoff(Duration::from_secs(1))
        .max_backoff(Duration::from_secs(30))
        .max_elapsed(Duration::from_secs(3));
    let err = aad_with(&server.uri(), &clock, policy).token().await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 2, "{sleeps:?}");
    assert!(sleeps.iter().sum::<Duration>() <= Duration::from_secs(3), "{sleeps:?}");
}

#[tokio::test]
async fn entra_absurd_retry_after_ends_the_retries_without_panicking() {
    let server = strict_server().await;
    mount_once(&server, throttled().insert_header("Retry-After", "1")).await;
    mount(&server, throttled().insert_header("Retry-After", u64::MAX.to_string()), 1).await;
    let clock = clock();
    let err = aad(&server.uri(), &clock).token().await.unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(1)]);
}
