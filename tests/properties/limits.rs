//! Lifetimes and retries reach the network without panicking.

use super::*;

#[test]
pub(crate) fn any_valid_lifetime_is_sent_and_never_panics() {
    let minutes = prop_oneof![4 => 1..=120i64, 1 => 121..=i64::from(u32::MAX), 1 => (i64::from(u32::MAX) - 3)..=i64::from(u32::MAX)];
    run_async(HTTP_CASES, minutes, |server, minutes| async move {
        let body = embed_token_fixture(EMBED_TOKEN, "2026-11-23T13:00:00Z");
        Mock::given(method("POST"))
            .and(path(GENERATE_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1)
            .mount(&server)
            .await;
        let request = GenerateTokenRequest::report_view().lifetime_minutes(minutes).build().unwrap();
        let clock = clock();
        let token = power_bi_client(&server, &clock, RetryPolicy::none())
            .workspace(FIXTURE_WORKSPACE.parse().unwrap())
            .report(FIXTURE_REPORT.parse().unwrap())
            .embed_token(&request)
            .await;
        prop_assert_eq!(token.map(|t| t.secret().expose_secret().to_owned()).ok(), Some(EMBED_TOKEN.to_owned()));
        let sent: Value = serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
        prop_assert_eq!(sent, json!({"accessLevel": "View", "lifetimeInMinutes": minutes}));
        Ok(())
    });
}

/// Found by the property above: a lifetime of u32::MAX minutes (valid on the wire) overflowed
/// the date when checking that the Entra token outlives it.
#[tokio::test]
pub(crate) async fn lifetime_of_u32_max_minutes_reaches_power_bi() {
    let server = strict_server().await;
    let body = embed_token_fixture(EMBED_TOKEN, "2026-11-23T13:00:00Z");
    Mock::given(method("POST"))
        .and(path(GENERATE_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(1)
        .mount(&server)
        .await;
    let request = GenerateTokenRequest::report_view().lifetime_minutes(i64::from(u32::MAX)).build().unwrap();
    let client = power_bi_client(&server, &clock(), RetryPolicy::none());
    let token = client
        .workspace(FIXTURE_WORKSPACE.parse().unwrap())
        .report(FIXTURE_REPORT.parse().unwrap())
        .embed_token(&request)
        .await
        .unwrap();
    assert_eq!(token.secret().expose_secret(), EMBED_TOKEN);
}

#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<&'static str>,
}

/// A `Retry-After` (among those generated) that ends the retries: longer than the default 60 s
/// retry budget, or ending at the call's 30 s deadline (`call_timeout`; the clock starts at
/// 12:00:00, so a wait until 12:00:30 ends there whatever was waited before).
pub(crate) fn too_long(attempt: &Attempt) -> bool {
    matches!(attempt.retry_after, Some("120" | "18446744073709551615" | "Mon, 23 Nov 2026 12:00:30 GMT"))
}

#[test]
pub(crate) fn retry_sequences_with_any_retry_after_never_panic() {
    let attempt = (
        prop::sample::select(vec![200u16, 429, 500, 503]),
        prop::option::of(prop::sample::select(vec![
            "0",
            "1",
            "120",
            "18446744073709551615",
            "-1",
            "abc",
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "Mon, 23 Nov 2026 12:00:30 GMT",
        ])),
    )
        .prop_map(|(status, retry_after)| Attempt { status, retry_after });
    run_async(HTTP_CASES, vec(attempt, 1..=4), |server, attempts| async move {
        // Served in order, each once, except the last, which answers every later request too.
        for (i, attempt) in attempts.iter().enumerate() {
            let mut template = if attempt.status == 200 {
                ResponseTemplate::new(200).set_body_json(embed_token_fixture(EMBED_TOKEN, "2026-11-23T13:00:00Z"))
            } else {
                ResponseTemplate::new(attempt.status)
                    .set_body_json(json!({"error": {"code": "Busy", "message": "later"}}))
            };
            if let Some(value) = attempt.retry_after {
                template = template.insert_header("Retry-After", value);
            }
            let mut mock =
                Mock::given(method("POST")).and(path(GENERATE_PATH)).respond_with(template).with_priority(1 + i as u8);
            if i + 1 < attempts.len() {
                mock = mock.up_to_n_times(1);
            }
            mock.mount(&server).await;
        }
        let clock = clock();
        let outcome = generate(&server, &clock, RetryPolicy::default()).await;
        let sent = server.received_requests().await.unwrap().len();
        prop_assert!((1..=4).contains(&sent), "{} requests for at most 4 attempts", sent);
        let answer = |k: usize| &attempts[k.min(attempts.len() - 1)];
        let last = answer(sent - 1);
        // Every answer before the last was a retryable status, and the waits stayed in budget.
        prop_assert!((0..sent - 1).all(|k| answer(k).status != 200));
        prop_assert!(clock.sleeps().iter().sum::<Duration>() <= Duration::from_secs(60), "{:?}", clock.sleeps());
        match outcome {
            Ok(token) => {
                prop_assert_eq!(last.status, 200);
                prop_assert_eq!(token.secret().expose_secret(), EMBED_TOKEN);
            }
            Err(error) => {
                prop_assert_eq!(error.status(), Some(last.status));
                prop_assert!(error.is_retryable());
                // Giving up before the fourth attempt only when asked to wait beyond the budget.
                prop_assert!(sent == 4 || too_long(last), "gave up after {} attempts on {:?}", sent, last);
            }
        }
        // A wait beyond the budget always ends the retries.
        prop_assert!((0..sent - 1).all(|k| !too_long(answer(k))));
        Ok(())
    });
}

/// Found by the property above: after one backoff, a `Retry-After` of u64::MAX seconds
/// overflowed the wait already spent plus the one asked for.
#[tokio::test]
pub(crate) async fn retry_after_of_u64_max_seconds_after_a_backoff_ends_the_retries() {
    let server = strict_server().await;
    let busy = json!({"error": {"code": "Busy", "message": "later"}});
    Mock::given(method("POST"))
        .and(path(GENERATE_PATH))
        .respond_with(ResponseTemplate::new(503).set_body_json(&busy))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(GENERATE_PATH))
        .respond_with(
            ResponseTemplate::new(429).set_body_json(&busy).insert_header("Retry-After", "18446744073709551615"),
        )
        .with_priority(2)
        .expect(1)
        .mount(&server)
        .await;
    let clock = clock();
    let error = generate(&server, &clock, RetryPolicy::default()).await.unwrap_err();
    assert_eq!(error.status(), Some(429));
    assert_eq!(clock.sleeps().len(), 1, "one backoff after the 503, none after the 429");
}
