//! The Power BI REST API misbehaving, through `PowerBiClient::report_embed_token` (GenerateToken)
//! and a lookup (`report`): every fault ends in a bounded number of attempts (counted at the
//! fake) and waits (read off the manual clock), or in a typed error; never a panic, never a
//! hang. A GenerateToken marked non-idempotent is resent only when it surely was not processed.
//! Each test is a row of the README's "Failure behaviour" table.

use std::time::Duration;

use crate::support::faults::*;
use crate::support::ids::{REPORT, WORKSPACE};
use crate::support::*;
use powerbi_embed::testing::SafeMockServer;
use powerbi_embed::{
    ClientSecretCredential, Clock, Error, GenerateTokenRequest, ManualClock, PowerBiClient, PowerBiClientBuilder,
    RetryPolicy, TransportErrorKind,
};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const TOKEN_ID: &str = "49ae3742-54c0-4c29-af52-619ff93b5c80";

/// The two kinds of Power BI call every fault is tried on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    /// `POST .../reports/{id}/GenerateToken`, through `report_embed_token`.
    GenerateToken,
    /// `GET .../reports/{id}`, through `report`.
    Lookup,
}

const BOTH: [Call; 2] = [Call::GenerateToken, Call::Lookup];

impl Call {
    fn http_method(self) -> &'static str {
        match self {
            Call::GenerateToken => "POST",
            Call::Lookup => "GET",
        }
    }

    fn path(self) -> String {
        match self {
            Call::GenerateToken => format!("/v1.0/myorg/groups/{WORKSPACE}/reports/{REPORT}/GenerateToken"),
            Call::Lookup => format!("/v1.0/myorg/groups/{WORKSPACE}/reports/{REPORT}"),
        }
    }

    /// A good answer, whose marker `run` returns.
    fn success(self, clock: &ManualClock, marker: &str) -> ResponseTemplate {
        let body = match self {
            Call::GenerateToken => json!({"token": marker, "tokenId": TOKEN_ID, "expiration": in_minutes(clock, 60)}),
            Call::Lookup => json!({"id": REPORT, "name": marker, "embedUrl": "https://app.powerbi.com/reportEmbed"}),
        };
        ResponseTemplate::new(200).set_body_json(body)
    }

    /// Makes the call: the embed token, or the report's name.
    async fn run(self, client: &PowerBiClient) -> Result<String, Error> {
        match self {
            Call::GenerateToken => {
                let request = GenerateTokenRequest::report_view().build().unwrap();
                let token = client.workspace(WORKSPACE).report(REPORT).embed_token(&request).await?;
                Ok(token.secret().expose_secret().to_owned())
            }
            Call::Lookup => Ok(client.workspace(WORKSPACE).report(REPORT).get().await?.name),
        }
    }

    /// What parse errors name the body as.
    fn body_name(self) -> &'static str {
        match self {
            Call::GenerateToken => "embed token response",
            Call::Lookup => "report",
        }
    }
}

fn in_minutes(clock: &ManualClock, minutes: i64) -> String {
    (clock.now() + time::Duration::minutes(minutes)).format(&Rfc3339).unwrap()
}

/// A fake Entra that issues one token, a strict fake Power BI, and a manual clock.
struct Fakes {
    entra: SafeMockServer,
    powerbi: SafeMockServer,
    clock: ManualClock,
}

impl Fakes {
    async fn start() -> Self {
        let fakes = Self { entra: strict_server().await, powerbi: strict_server().await, clock: clock() };
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(token_body("entra-token", 3600)))
            .expect(1)
            .mount(&fakes.entra)
            .await;
        fakes
    }

    /// A client at the fake Power BI with three attempts and the default backoff.
    fn client(&self) -> PowerBiClient {
        self.builder(&self.powerbi.uri()).build().unwrap()
    }

    fn builder(&self, api_base: &str) -> PowerBiClientBuilder {
        let aad = aad_client(&self.entra, ClientSecretCredential::new(TENANT, CLIENT, "secret").unwrap(), &self.clock);
        PowerBiClient::builder(aad).api_base(api_base).retry_policy(RetryPolicy::default().max_attempts(3))
    }

    /// Mounts an answer to `call` expected exactly `times` times.
    async fn mount(&self, call: Call, reply: ResponseTemplate, times: u64) {
        Mock::given(method(call.http_method()))
            .and(path(call.path()))
            .respond_with(reply)
            .expect(times)
            .mount(&self.powerbi)
            .await;
    }

    /// Mounts an answer served once, ahead of the other mounts.
    async fn mount_once(&self, call: Call, reply: ResponseTemplate) {
        Mock::given(method(call.http_method()))
            .and(path(call.path()))
            .respond_with(reply)
            .up_to_n_times(1)
            .expect(1)
            .with_priority(1)
            .mount(&self.powerbi)
            .await;
    }
}

fn throttled() -> ResponseTemplate {
    ResponseTemplate::new(429)
        .insert_header("RequestId", "rid-429")
        .set_body_json(json!({"error": {"code": "TooManyRequests", "message": "slow down"}}))
}

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
            assert_eq!(e.service, "Power BI");
            &e.reason
        }
        other => panic!("expected UnexpectedResponse, got {other:?}"),
    }
}

fn transport(err: &Error) -> &powerbi_embed::TransportError {
    match err {
        Error::Transport(t) => {
            assert_eq!(t.service, "Power BI");
            t
        }
        other => panic!("expected Transport, got {other:?}"),
    }
}

/// A 200 with `reply` to `call`: the error it gives, after exactly one request and no wait.
async fn answer(call: Call, reply: ResponseTemplate) -> Error {
    let fakes = Fakes::start().await;
    fakes.mount(call, reply, 1).await;
    let err = call.run(&fakes.client()).await.unwrap_err();
    assert!(fakes.clock.sleeps().is_empty(), "{call:?}: a bad success body is not retried");
    err
}

#[tokio::test]
async fn powerbi_429_with_retry_after_seconds_waits_that_long_then_retries() {
    for call in BOTH {
        let fakes = Fakes::start().await;
        fakes.mount_once(call, throttled().insert_header("Retry-After", "7")).await;
        fakes.mount(call, call.success(&fakes.clock, "after-7s"), 1).await;
        assert_eq!(call.run(&fakes.client()).await.unwrap(), "after-7s");
        assert_eq!(fakes.clock.sleeps(), vec![Duration::from_secs(7)], "{call:?}");
    }
}

#[tokio::test]
async fn powerbi_429_with_retry_after_http_date_waits_until_that_date() {
    for call in BOTH {
        let fakes = Fakes::start().await;
        // The manual clock stands at 2026-11-23 12:00:00 UTC.
        fakes.mount_once(call, throttled().insert_header("Retry-After", "Mon, 23 Nov 2026 12:00:20 GMT")).await;
        fakes.mount(call, call.success(&fakes.clock, "after-date"), 1).await;
        assert_eq!(call.run(&fakes.client()).await.unwrap(), "after-date");
        assert_eq!(fakes.clock.sleeps(), vec![Duration::from_secs(20)], "{call:?}");
    }
}

#[tokio::test]
async fn powerbi_429_without_retry_after_backs_off_and_stops_at_max_attempts() {
    for call in BOTH {
        let fakes = Fakes::start().await;
        fakes.mount(call, throttled(), 3).await;
        let err = call.run(&fakes.client()).await.unwrap_err();
        let pbi = err.as_power_bi().unwrap_or_else(|| panic!("{call:?}: {err:?}"));
        assert_eq!((pbi.status, pbi.code.as_deref(), pbi.retry_after), (429, Some("TooManyRequests"), None));
        assert_eq!(err.request_id(), Some("rid-429"));
        assert!(err.is_retryable());
        assert_default_backoff(&fakes.clock.sleeps(), 2);
    }
}

#[tokio::test]
async fn powerbi_5xx_is_retried_up_to_max_attempts_then_typed() {
    for call in BOTH {
        for status in [500, 502, 503, 504] {
            let fakes = Fakes::start().await;
            let reply = ResponseTemplate::new(status)
                .insert_header("RequestId", "rid-5xx")
                .set_body_json(json!({"error": {"code": "InternalError", "message": "try later"}}));
            fakes.mount(call, reply, 3).await;
            let err = call.run(&fakes.client()).await.unwrap_err();
            let pbi = err.as_power_bi().unwrap_or_else(|| panic!("{call:?} {status}: {err:?}"));
            assert_eq!((pbi.status, pbi.code.as_deref()), (status, Some("InternalError")));
            assert_eq!(err.request_id(), Some("rid-5xx"));
            assert!(err.is_retryable());
            assert_default_backoff(&fakes.clock.sleeps(), 2);
        }
    }
}

#[tokio::test]
async fn powerbi_connection_refused_is_a_connect_error_after_bounded_retries() {
    for call in BOTH {
        let fakes = Fakes::start().await;
        let client = fakes.builder(&refused_url()).build().unwrap();
        let err = call.run(&client).await.unwrap_err();
        let transport = transport(&err);
        assert_eq!((transport.kind, transport.attempts, transport.maybe_sent), (TransportErrorKind::Connect, 3, false));
        assert!(err.is_retryable());
        assert_default_backoff(&fakes.clock.sleeps(), 2);
    }
}

#[tokio::test]
async fn powerbi_connection_reset_mid_body_is_interrupted_and_retried() {
    for call in BOTH {
        let fakes = Fakes::start().await;
        let server = RawServer::cuts_the_body(300, r#"{"token":"H4sIAAAA"#).await;
        let err = call.run(&fakes.builder(&server.url).build().unwrap()).await.unwrap_err();
        let transport = transport(&err);
        assert_eq!((transport.kind, transport.attempts), (TransportErrorKind::Interrupted, 3), "{call:?}");
        assert!(transport.maybe_sent);
        assert_eq!(server.connections(), 3, "{call:?}");
        assert_default_backoff(&fakes.clock.sleeps(), 2);
    }
}

#[tokio::test]
async fn powerbi_server_that_never_answers_hits_the_client_timeout() {
    for call in BOTH {
        let fakes = Fakes::start().await;
        let server = RawServer::never_answers().await;
        let client = fakes
            .builder(&server.url)
            .http_client(short_timeout_client())
            .retry_policy(RetryPolicy::default().max_attempts(2))
            .build()
            .unwrap();
        let err =
            tokio::time::timeout(HANG_GUARD, call.run(&client)).await.expect("the timeout must fire").unwrap_err();
        let transport = transport(&err);
        assert_eq!((transport.kind, transport.attempts), (TransportErrorKind::Timeout, 2), "{call:?}");
        assert_eq!(server.connections(), 2, "{call:?}");
        assert_default_backoff(&fakes.clock.sleeps(), 1);
    }
}

#[tokio::test]
async fn powerbi_200_with_html_is_an_unexpected_response() {
    for call in BOTH {
        let err = answer(call, ResponseTemplate::new(200).set_body_raw("<html>maintenance</html>", "text/html")).await;
        assert_eq!(unexpected_reason(&err), format!("{} is not JSON", call.body_name()));
        assert_eq!(err.status(), Some(200));
        assert!(!err.is_retryable());
    }
}

#[tokio::test]
async fn powerbi_truncated_json_is_an_unexpected_response() {
    for call in BOTH {
        let body = r#"{"token":"H4sIAAAA","tokenId":"49ae3742"#;
        let err = answer(call, ResponseTemplate::new(200).set_body_raw(body, "application/json")).await;
        let reason = unexpected_reason(&err);
        let expected = format!("{} could not be read: EOF while parsing", call.body_name());
        assert!(reason.starts_with(&expected), "{call:?}: {reason}");
        assert!(!reason.contains("H4sI"), "{reason}");
    }
}

#[tokio::test]
async fn powerbi_embed_token_missing_a_field_is_an_unexpected_response() {
    let clock = clock();
    let complete = json!({"token": "H4sI", "tokenId": TOKEN_ID, "expiration": in_minutes(&clock, 60)});
    for field in ["token", "tokenId", "expiration"] {
        let mut body = complete.clone();
        body.as_object_mut().unwrap().remove(field);
        let err = answer(Call::GenerateToken, ResponseTemplate::new(200).set_body_json(body)).await;
        assert_eq!(unexpected_reason(&err), format!("embed token response has no {field}"));
    }
    let mut empty_token = complete.clone();
    empty_token["token"] = json!("");
    let err = answer(Call::GenerateToken, ResponseTemplate::new(200).set_body_json(empty_token)).await;
    assert_eq!(unexpected_reason(&err), "embed token response has no token");

    let err = answer(Call::Lookup, ResponseTemplate::new(200).set_body_json(json!({"name": "no id"}))).await;
    let reason = unexpected_reason(&err);
    assert!(reason.starts_with("report could not be read: missing field `id`"), "{reason}");
}

#[tokio::test]
async fn powerbi_wrong_types_are_an_unexpected_response() {
    let clock = clock();
    let cases: Vec<(Value, &str)> = vec![
        (json!({"token": 42, "tokenId": TOKEN_ID, "expiration": in_minutes(&clock, 60)}), "could not be read: "),
        (json!({"token": "t", "tokenId": "not-a-guid", "expiration": in_minutes(&clock, 60)}), "tokenId is not a GUID"),
        (
            json!({"token": "t", "tokenId": TOKEN_ID, "expiration": "tomorrow"}),
            "expiration is not an RFC 3339 date-time",
        ),
        (json!({"token": "t", "tokenId": TOKEN_ID, "expiration": 1_800_000_000}), "could not be read: "),
    ];
    for (body, reason) in cases {
        let err = answer(Call::GenerateToken, ResponseTemplate::new(200).set_body_json(&body)).await;
        let got = unexpected_reason(&err);
        assert!(got.contains(reason), "{body}: {got}");
    }
    for body in [json!({"id": 42, "name": "r"}), json!({"id": "not-a-guid"}), json!({"value": []})] {
        let err = answer(Call::Lookup, ResponseTemplate::new(200).set_body_json(&body)).await;
        let got = unexpected_reason(&err);
        assert!(got.starts_with("report could not be read: "), "{body}: {got}");
    }
}

#[tokio::test]
async fn powerbi_embed_token_that_expired_already_is_an_unexpected_response() {
    for minutes in [-5, 0] {
        let clock = clock();
        let body = json!({"token": "t", "tokenId": TOKEN_ID, "expiration": in_minutes(&clock, minutes)});
        let err = answer(Call::GenerateToken, ResponseTemplate::new(200).set_body_json(body)).await;
        assert!(unexpected_reason(&err).starts_with("the embed token expired already"), "{minutes}: {err}");
    }
}

#[tokio::test]
async fn powerbi_redirects_are_not_followed() {
    for call in BOTH {
        for status in [301, 302, 307, 308] {
            let fakes = Fakes::start().await;
            let elsewhere = strict_server().await;
            Mock::given(method(call.http_method()))
                .and(path("/collect"))
                .respond_with(call.success(&fakes.clock, "stolen"))
                .expect(0)
                .mount(&elsewhere)
                .await;
            let redirect =
                ResponseTemplate::new(status).insert_header("Location", format!("{}/collect", elsewhere.uri()));
            fakes.mount(call, redirect, 1).await;
            let err = call.run(&fakes.client()).await.unwrap_err();
            assert_eq!(unexpected_reason(&err), "redirects are not followed on this request");
            assert_eq!(err.status(), Some(status));
            assert!(fakes.clock.sleeps().is_empty());
            assert!(elsewhere.received_requests().await.unwrap().is_empty(), "{call:?} {status}");
        }
    }
}

#[tokio::test]
async fn powerbi_4xx_is_never_retried() {
    // A refusal of the Entra token itself (`TokenExpired`, `InvalidToken`) is the exception: it
    // is sent once more with a new token (tests/token_recovery.rs).
    for call in BOTH {
        for (status, code) in [
            (400, "InvalidRequest"),
            (401, "PowerBINotAuthorizedException"),
            (403, "Unauthorized"),
            (404, "PowerBIEntityNotFound"),
        ] {
            let fakes = Fakes::start().await;
            let reply = ResponseTemplate::new(status).set_body_json(json!({"error": {"code": code}}));
            fakes.mount(call, reply, 1).await;
            let err = call.run(&fakes.client()).await.unwrap_err();
            let pbi = err.as_power_bi().unwrap_or_else(|| panic!("{call:?} {status}: {err:?}"));
            assert_eq!((pbi.status, pbi.code.as_deref()), (status, Some(code)));
            assert!(!err.is_retryable());
            assert!(fakes.clock.sleeps().is_empty(), "{call:?} {status}");
        }
    }
}

#[tokio::test]
async fn non_idempotent_generate_token_is_not_resent_after_a_5xx() {
    for status in [500, 502, 503, 504] {
        let fakes = Fakes::start().await;
        fakes.mount(Call::GenerateToken, ResponseTemplate::new(status), 1).await;
        let client = fakes.builder(&fakes.powerbi.uri()).retry_generate_token(false).build().unwrap();
        let err = Call::GenerateToken.run(&client).await.unwrap_err();
        assert_eq!(err.as_power_bi().map(|e| e.status), Some(status));
        assert!(fakes.clock.sleeps().is_empty(), "{status}");
    }
}

#[tokio::test]
async fn non_idempotent_generate_token_is_not_resent_after_a_cut_body() {
    let fakes = Fakes::start().await;
    let server = RawServer::cuts_the_body(300, r#"{"token":"H4sI"#).await;
    let client = fakes.builder(&server.url).retry_generate_token(false).build().unwrap();
    let err = Call::GenerateToken.run(&client).await.unwrap_err();
    assert_eq!((transport(&err).kind, transport(&err).attempts), (TransportErrorKind::Interrupted, 1));
    assert_eq!(server.connections(), 1);
    assert!(fakes.clock.sleeps().is_empty());
}

#[tokio::test]
async fn non_idempotent_generate_token_is_not_resent_after_a_timeout() {
    let fakes = Fakes::start().await;
    let server = RawServer::never_answers().await;
    let client =
        fakes.builder(&server.url).http_client(short_timeout_client()).retry_generate_token(false).build().unwrap();
    let err = tokio::time::timeout(HANG_GUARD, Call::GenerateToken.run(&client)).await.unwrap().unwrap_err();
    assert_eq!((transport(&err).kind, transport(&err).attempts), (TransportErrorKind::Timeout, 1));
    assert_eq!(server.connections(), 1);
    assert!(fakes.clock.sleeps().is_empty());
}

#[tokio::test]
async fn non_idempotent_generate_token_is_resent_after_a_429() {
    let fakes = Fakes::start().await;
    fakes.mount_once(Call::GenerateToken, throttled().insert_header("Retry-After", "2")).await;
    fakes.mount(Call::GenerateToken, Call::GenerateToken.success(&fakes.clock, "after-429"), 1).await;
    let client = fakes.builder(&fakes.powerbi.uri()).retry_generate_token(false).build().unwrap();
    assert_eq!(Call::GenerateToken.run(&client).await.unwrap(), "after-429");
    assert_eq!(fakes.clock.sleeps(), vec![Duration::from_secs(2)]);
}

#[tokio::test]
async fn non_idempotent_generate_token_is_resent_after_connection_refused() {
    let fakes = Fakes::start().await;
    let client = fakes.builder(&refused_url()).retry_generate_token(false).build().unwrap();
    let err = Call::GenerateToken.run(&client).await.unwrap_err();
    assert_eq!((transport(&err).kind, transport(&err).attempts), (TransportErrorKind::Connect, 3));
    assert_default_backoff(&fakes.clock.sleeps(), 2);
}

#[tokio::test]
async fn powerbi_retry_after_beyond_the_budget_returns_the_429_at_once() {
    for call in BOTH {
        let fakes = Fakes::start().await;
        fakes.mount(call, throttled().insert_header("Retry-After", "61"), 1).await;
        let policy = RetryPolicy::default().max_attempts(5).max_elapsed(Duration::from_secs(60));
        let client = fakes.builder(&fakes.powerbi.uri()).retry_policy(policy).build().unwrap();
        let err = call.run(&client).await.unwrap_err();
        assert_eq!(err.as_power_bi().map(|e| (e.status, e.retry_after)), Some((429, Some(Duration::from_secs(61)))));
        assert!(fakes.clock.sleeps().is_empty(), "{call:?}");
    }
}

#[tokio::test]
async fn powerbi_retry_budget_bounds_the_total_wait() {
    for call in BOTH {
        let fakes = Fakes::start().await;
        // Backoffs of 0.5–1 s, 1–2 s, 2–4 s: the first two fit a 3 s budget, the third never does.
        fakes.mount(call, ResponseTemplate::new(503), 3).await;
        let policy = RetryPolicy::default()
            .max_attempts(10)
            .initial_backoff(Duration::from_secs(1))
            .max_backoff(Duration::from_secs(30))
            .max_elapsed(Duration::from_secs(3));
        let client = fakes.builder(&fakes.powerbi.uri()).retry_policy(policy).build().unwrap();
        let err = call.run(&client).await.unwrap_err();
        assert_eq!(err.status(), Some(503));
        let sleeps = fakes.clock.sleeps();
        assert_eq!(sleeps.len(), 2, "{call:?}: {sleeps:?}");
        assert!(sleeps.iter().sum::<Duration>() <= Duration::from_secs(3), "{sleeps:?}");
    }
}

#[tokio::test]
async fn powerbi_absurd_retry_after_ends_the_retries_without_panicking() {
    for call in BOTH {
        let fakes = Fakes::start().await;
        fakes.mount_once(call, throttled().insert_header("Retry-After", "1")).await;
        fakes.mount(call, throttled().insert_header("Retry-After", u64::MAX.to_string()), 1).await;
        let err = call.run(&fakes.client()).await.unwrap_err();
        assert_eq!(
            err.as_power_bi().map(|e| (e.status, e.retry_after)),
            Some((429, Some(Duration::from_secs(u64::MAX))))
        );
        assert_eq!(fakes.clock.sleeps(), vec![Duration::from_secs(1)], "{call:?}");
    }
}

#[tokio::test]
async fn entra_failure_stops_the_call_before_power_bi() {
    for call in BOTH {
        let entra = strict_server().await;
        let powerbi = strict_server().await;
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(ResponseTemplate::new(401).set_body_json(entra_error_body("invalid_client", 7000215)))
            .expect(1)
            .mount(&entra)
            .await;
        let aad = aad_client(&entra, ClientSecretCredential::new(TENANT, CLIENT, "wrong").unwrap(), &clock());
        let client = PowerBiClient::builder(aad).api_base(powerbi.uri()).build().unwrap();
        let err = call.run(&client).await.unwrap_err();
        let entra_error = err.as_entra().unwrap_or_else(|| panic!("{call:?}: {err:?}"));
        assert_eq!((entra_error.status, entra_error.error_codes.as_slice()), (401, &[7000215][..]));
        assert!(powerbi.received_requests().await.unwrap().is_empty(), "{call:?}");
    }
}
