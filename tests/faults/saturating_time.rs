//! Time arithmetic on durations and numbers that come from callers or servers never panics: it
//! saturates, or the value is refused with a typed error. Each property draws from ranges that
//! include the extremes (`Duration::MAX`, `i64::MAX`, `i64::MIN`, `u64::MAX`) and compares the
//! outcome with a model written from the documented rules, not just "did not panic".
//!
//! Case counts: 256 per pure property, 64 per property behind HTTP (one wiremock round trip or
//! two per case); `PROPTEST_CASES` overrides both.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::ids::{REPORT, WORKSPACE};
use crate::support::*;
use powerbi_embed::{
    AadClient, ClientSecretCredential, Clock, DeviceCodeCredential, DeviceCodePrompt, EmbedToken, Error,
    GenerateTokenRequest, Guid, ManualClock, PowerBiClient, StaticTokenCredential,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc2822;
use time::macros::datetime;
use time::OffsetDateTime;
use wiremock::matchers::{any as any_request, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn config(default_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default_cases);
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// One HTTP client for every case: a debug-build TLS client takes ~150 ms to make.
static HTTP: std::sync::LazyLock<reqwest::Client> = std::sync::LazyLock::new(|| {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
});

const PURE_CASES: u32 = 256;
const HTTP_CASES: u32 = 64;

/// The latest moment `time` can hold (without its `large-dates` feature).
const END_OF_CALENDAR: OffsetDateTime = datetime!(9999-12-31 23:59:59.999_999_999 UTC);
const START: OffsetDateTime = datetime!(2026-11-23 12:00 UTC);

/// A `std::time::Duration` from anywhere in its range, the ends weighted in.
fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::MAX),
        Just(Duration::ZERO),
        Just(Duration::from_secs(i64::MAX as u64)),
        Just(Duration::from_secs(i64::MAX as u64 + 1)),
        (0u64..10_000_000).prop_map(Duration::from_secs),
        (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

/// A number as a server may send it: any i64 (the extremes weighted in), u64::MAX (which no i64
/// holds), or the same as a string, as Entra's v1 endpoint and managed identity send numbers.
fn server_number() -> impl Strategy<Value = Value> {
    let number = prop_oneof![
        Just(i64::MAX),
        Just(i64::MIN),
        Just(0i64),
        Just(-1i64),
        1i64..100_000,
        1i64..2_000_000_000,
        any::<i64>(),
    ];
    prop_oneof![
        4 => number.clone().prop_map(Value::from),
        1 => number.prop_map(|n| Value::from(n.to_string())),
        1 => Just(Value::from(u64::MAX)),
        1 => Just(Value::from(u64::MAX.to_string())),
    ]
}

/// What the crate's lenient number reader makes of a server number: an i64, or unreadable.
fn read_number(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn plus(at: OffsetDateTime, duration: Duration) -> Option<OffsetDateTime> {
    at.checked_add(time::Duration::try_from(duration).ok()?)
}

// =============================================================================================
// Pure: durations from callers
// =============================================================================================

#[test]
fn embed_token_renewal_saturates_for_any_margin() {
    let expirations = prop_oneof![
        Just(END_OF_CALENDAR),
        Just(datetime!(-9999-01-01 0:00 UTC)),
        (-100_000_000_000i64..200_000_000_000).prop_map(|s| OffsetDateTime::from_unix_timestamp(s).unwrap()),
    ];
    let strategy = (expirations, any_duration(), -100_000_000_000i64..200_000_000_000);
    TestRunner::new(config(PURE_CASES))
        .run(&strategy, |(expiration, margin, now)| {
            let now = OffsetDateTime::from_unix_timestamp(now).unwrap();
            let token = EmbedToken::new("t", Guid::from_u128(7), expiration);
            let renew_at = token.renew_at(margin);
            // Exact where the calendar holds the answer, the earliest moment where it does not.
            let exact = time::Duration::try_from(margin).ok().and_then(|m| expiration.checked_sub(m));
            match exact {
                Some(at) => prop_assert_eq!(renew_at, at),
                None => prop_assert!(renew_at <= expiration && renew_at.year() == -9999, "{renew_at}"),
            }
            prop_assert_eq!(token.needs_renewal(now, margin), now >= renew_at);
            if margin == Duration::MAX {
                prop_assert!(token.needs_renewal(now, margin));
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_manual_clock_saturates_at_the_end_of_the_calendar() {
    let clock = ManualClock::new(START);
    clock.advance(Duration::MAX);
    assert_eq!(clock.now(), END_OF_CALENDAR);
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(clock.sleep(Duration::MAX));
    assert_eq!(clock.now(), END_OF_CALENDAR);
    assert_eq!(clock.sleeps(), vec![Duration::MAX]);
}

// =============================================================================================
// Behind HTTP: numbers from servers, durations from callers
// =============================================================================================

/// Runs an async property on one runtime and one mock server (reset before each case, with a
/// catch-all that fails on any unexpected route).
fn run_async<S, F, Fut>(strategy: S, test: F)
where
    S: Strategy,
    F: Fn(Arc<MockServer>, S::Value) -> Fut,
    Fut: Future<Output = Result<(), TestCaseError>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server = Arc::new(runtime.block_on(MockServer::start()));
    TestRunner::new(config(HTTP_CASES))
        .run(&strategy, |input| {
            runtime.block_on(async {
                server.reset().await;
                Mock::given(any_request())
                    .respond_with(ResponseTemplate::new(500).set_body_string("unexpected route in test"))
                    .with_priority(u8::MAX)
                    .expect(0)
                    .mount(&server)
                    .await;
                test(server.clone(), input).await?;
                server.verify().await;
                Ok(())
            })
        })
        .unwrap();
}

fn unexpected_reason(error: &Error) -> Result<&str, TestCaseError> {
    match error {
        Error::UnexpectedResponse(e) => Ok(&e.reason),
        other => Err(TestCaseError::fail(format!("expected UnexpectedResponse, got {other:?}"))),
    }
}

/// Device code: `expires_in` and `interval` are the server's, the timeout the caller's. Before,
/// an `expires_in` near `i64::MAX` panicked the caller's task.
#[test]
fn device_code_lifetimes_intervals_and_timeouts_never_panic() {
    let timeouts = prop_oneof![Just(None), any_duration().prop_map(Some)];
    let strategy = (server_number(), prop::option::of(server_number()), timeouts);
    run_async(strategy, |server, (expires_in, interval, timeout)| async move {
        let mut body = json!({
            "device_code": "dc-secret",
            "user_code": "ABCD-EFGH",
            "verification_uri": "https://microsoft.com/devicelogin",
            "expires_in": expires_in,
            "message": "To sign in, enter ABCD-EFGH.",
        });
        if let Some(interval) = &interval {
            body["interval"] = interval.clone();
        }
        Mock::given(method("POST"))
            .and(path(format!("/{TENANT}/oauth2/v2.0/devicecode")))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(token_body("device-token", 3600)))
            .mount(&server)
            .await;
        let prompt: Arc<Mutex<Option<DeviceCodePrompt>>> = Arc::default();
        let seen = prompt.clone();
        let mut credential = DeviceCodeCredential::new(TENANT, CLIENT, move |p: &DeviceCodePrompt| {
            *seen.lock().unwrap() = Some(p.clone());
        })
        .unwrap();
        if let Some(timeout) = timeout {
            credential = credential.timeout(timeout);
        }
        let clock = ManualClock::new(START);
        let aad = AadClient::builder(credential)
            .authority_host(server.uri())
            .http_client(HTTP.clone())
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        let outcome = aad.token().await;

        let lifetime = read_number(&expires_in);
        let interval_readable = interval.as_ref().is_none_or(|i| read_number(i).is_some());
        match (lifetime, interval_readable) {
            (Some(seconds), true) if seconds > 0 => {
                let lifetime = Duration::from_secs(seconds.unsigned_abs());
                let patience = timeout.map_or(lifetime, |t| t.min(lifetime));
                let shown = prompt.lock().unwrap().clone().expect("the prompt was shown");
                prop_assert_eq!(shown.expires_on, plus(START, patience).unwrap_or(END_OF_CALENDAR));
                if patience.is_zero() {
                    let error = outcome.unwrap_err();
                    prop_assert!(matches!(error, Error::Credential { credential: "device code", .. }), "{error:?}");
                } else if seconds <= 1_000_000_000 {
                    // The clock moved at most one interval (never past the deadline): the token
                    // the first poll got is good.
                    prop_assert_eq!(outcome.unwrap().secret().expose_secret().to_owned(), "device-token");
                } else if let Err(error) = outcome {
                    // A clock pushed to the end of the calendar by an absurd interval: the token
                    // Entra issued cannot be dated, and says so.
                    prop_assert_eq!(unexpected_reason(&error)?, "the token's expiry is past the end of the calendar");
                }
            }
            (Some(seconds), true) => {
                let error = outcome.unwrap_err();
                prop_assert_eq!(
                    unexpected_reason(&error)?,
                    format!("expires_in of {seconds} s is not a plausible code lifetime")
                );
            }
            _ => {
                let error = outcome.unwrap_err();
                let reason = unexpected_reason(&error)?;
                prop_assert!(reason.starts_with("device code response could not be read"), "{reason}");
            }
        }
        Ok(())
    });
}

/// Entra's `expires_in`, `expires_on` and `refresh_in`, with the clock in 2026 or in the last
/// hour of year 9999: an exact expiry where one can be right, a typed error otherwise.
#[test]
fn entra_expiry_numbers_give_an_exact_expiry_or_a_typed_error() {
    let field = || prop::option::of(server_number());
    let starts = prop_oneof![Just(START), Just(datetime!(9999-12-31 23:00 UTC))];
    let strategy = (field(), field(), field(), starts);
    run_async(strategy, |server, (expires_in, expires_on, refresh_in, start)| async move {
        let mut body = json!({"token_type": "Bearer", "access_token": "entra-token"});
        for (name, value) in [("expires_in", &expires_in), ("expires_on", &expires_on), ("refresh_in", &refresh_in)] {
            if let Some(value) = value {
                body[name] = value.clone();
            }
        }
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1)
            .mount(&server)
            .await;
        let clock = ManualClock::new(start);
        let aad = AadClient::builder(ClientSecretCredential::new(TENANT, CLIENT, "saturating-secret").unwrap())
            .authority_host(server.uri())
            .http_client(HTTP.clone())
            .clock(Arc::new(clock))
            .build()
            .unwrap();
        let outcome = aad.token().await;

        const WEEK: i64 = 7 * 24 * 3600;
        let readable =
            [&expires_in, &expires_on, &refresh_in].iter().all(|v| v.as_ref().is_none_or(|v| read_number(v).is_some()));
        let (expires_in, expires_on, refresh_in) = (
            expires_in.as_ref().and_then(read_number),
            expires_on.as_ref().and_then(read_number),
            refresh_in.as_ref().and_then(read_number),
        );
        let expected: Result<OffsetDateTime, ()> = if !readable {
            Err(())
        } else if let Some(seconds) = expires_in {
            if seconds > 0 && seconds <= WEEK {
                start.checked_add(time::Duration::seconds(seconds)).ok_or(())
            } else {
                Err(())
            }
        } else if let Some(epoch) = expires_on {
            OffsetDateTime::from_unix_timestamp(epoch)
                .ok()
                .filter(|at| *at > start && *at - start <= time::Duration::seconds(WEEK))
                .ok_or(())
        } else {
            Err(())
        };
        match (expected, outcome) {
            (Ok(expiry), Ok(token)) => {
                prop_assert_eq!(token.expires_on(), expiry);
                let hint = refresh_in
                    .filter(|s| *s > 0 && *s <= WEEK)
                    .and_then(|s| start.checked_add(time::Duration::seconds(s)));
                prop_assert_eq!(token.refresh_on(), hint);
            }
            (Err(()), Err(error)) => {
                unexpected_reason(&error)?;
            }
            (expected, outcome) => {
                return Err(TestCaseError::fail(format!("expected {expected:?}, got {outcome:?}")));
            }
        }
        Ok(())
    });
}

/// `Retry-After` in seconds (any u64, and one past it) or as an HTTP-date anywhere from 30
/// years back to 30 years ahead: a wait that ends before the call's 30 s deadline (and so within
/// the 60 s retry budget) is waited on the clock, a longer one ends the retries with the 429.
#[test]
fn retry_after_values_are_waited_or_end_the_retries() {
    let seconds = prop_oneof![
        Just(u64::MAX.to_string()),
        Just("18446744073709551616".to_owned()),
        (0u64..120).prop_map(|s| s.to_string()),
        any::<u64>().prop_map(|s| s.to_string()),
    ];
    let dates = (-1_000_000_000i64..1_000_000_000)
        .prop_map(|offset| (START + time::Duration::seconds(offset)).format(&Rfc2822).unwrap());
    let strategy = prop_oneof![seconds, dates];
    run_async(strategy, |server, retry_after| async move {
        let generate = format!("/v1.0/myorg/groups/{WORKSPACE}/reports/{REPORT}/GenerateToken");
        Mock::given(method("POST"))
            .and(path(generate.clone()))
            .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", retry_after.as_str()))
            .up_to_n_times(1)
            .with_priority(1)
            .expect(1)
            .mount(&server)
            .await;
        let expiration =
            (START + time::Duration::hours(1)).format(&time::format_description::well_known::Rfc3339).unwrap();
        Mock::given(method("POST"))
            .and(path(generate))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "token": "embed-token",
                "tokenId": "49ae3742-54c0-4c29-af52-619ff93b5c80",
                "expiration": expiration,
            })))
            .with_priority(2)
            .mount(&server)
            .await;
        let clock = ManualClock::new(START);
        let aad = AadClient::builder(StaticTokenCredential::new("entra-token", START + time::Duration::hours(2)))
            .http_client(HTTP.clone())
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        let powerbi = PowerBiClient::builder(aad).api_base(server.uri()).http_client(HTTP.clone()).build().unwrap();
        let request = GenerateTokenRequest::report_view().lifetime_minutes(10).build().unwrap();
        let outcome = powerbi.workspace(WORKSPACE).report(REPORT).embed_token(&request).await;

        let wait = match retry_after.parse::<u64>() {
            Ok(s) => Some(Duration::from_secs(s)),
            Err(_) => OffsetDateTime::parse(&retry_after, &Rfc2822).ok().map(|at| {
                if at <= START {
                    Duration::ZERO
                } else {
                    (at - START).unsigned_abs()
                }
            }),
        };
        match wait {
            Some(wait) if wait < Duration::from_secs(30) => {
                prop_assert_eq!(outcome.unwrap().secret().expose_secret().to_owned(), "embed-token");
                prop_assert_eq!(clock.sleeps(), vec![wait]);
            }
            Some(_) => {
                let error = outcome.unwrap_err();
                prop_assert_eq!(error.status(), Some(429));
                prop_assert!(clock.sleeps().is_empty(), "{:?}", clock.sleeps());
            }
            None => {
                // Unreadable (one past u64::MAX): the policy's own backoff, 250 to 500 ms.
                prop_assert!(outcome.is_ok());
                let sleeps = clock.sleeps();
                prop_assert!(sleeps.len() == 1 && sleeps[0] <= Duration::from_millis(500), "{sleeps:?}");
            }
        }
        Ok(())
    });
}

/// `token_valid_for` takes any duration a caller passes.
#[test]
fn token_valid_for_accepts_any_duration() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    TestRunner::new(config(PURE_CASES))
        .run(&any_duration(), |need| {
            runtime.block_on(async {
                let clock = ManualClock::new(START);
                let aad =
                    AadClient::builder(StaticTokenCredential::new("static-token", START + time::Duration::hours(2)))
                        .http_client(HTTP.clone())
                        .clock(Arc::new(clock))
                        .build()
                        .unwrap();
                let outcome = aad.token_valid_for(need).await;
                // The static token is the only one there is: it is handed out whatever the need.
                prop_assert_eq!(outcome.unwrap().secret().expose_secret().to_owned(), "static-token");
                Ok(())
            })
        })
        .unwrap();
}
