//! Entra token responses and Entra error responses.

use super::*;

pub(crate) const ENTRA_TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.ENTRA-ACCESS-TOKEN.sig";
pub(crate) const REFRESH_TOKEN: &str = "0.AAAA-REFRESH-TOKEN-VALUE";
pub(crate) const MAX_LIFETIME_SECS: i64 = 7 * 24 * 3600;

pub(crate) fn now() -> OffsetDateTime {
    clock().now()
}

/// Entra numbers: v2 sends JSON integers, v1 and managed identity send strings of digits.
/// `Ok(None)` when absent or null, `Err` when unreadable.
pub(crate) fn entra_number(value: Option<&Value>) -> Result<Option<i64>, ()> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or(()),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| ()),
        Some(_) => Err(()),
    }
}

/// When the token expires, if the body is a valid success body per the contract.
pub(crate) fn expected_entra_expiry(fields: &[(&'static str, Field)]) -> Option<OffsetDateTime> {
    let token = optional_string(field(fields, "access_token")).ok()??;
    if token.is_empty() {
        return None;
    }
    if !optional_string(field(fields, "token_type")).ok()?.is_none_or(|kind| kind.eq_ignore_ascii_case("bearer")) {
        return None;
    }
    optional_string(field(fields, "refresh_token")).ok()?;
    entra_number(field(fields, "refresh_in")).ok()?;
    let expires_in = entra_number(field(fields, "expires_in")).ok()?;
    let expires_on = entra_number(field(fields, "expires_on")).ok()?;
    let now = now();
    let expiry = match (expires_in, expires_on) {
        (Some(seconds), _) => {
            (seconds > 0 && seconds <= MAX_LIFETIME_SECS).then(|| now + time::Duration::seconds(seconds))?
        }
        (None, Some(epoch)) => OffsetDateTime::from_unix_timestamp(epoch).ok()?,
        (None, None) => return None,
    };
    (expiry > now && expiry - now <= time::Duration::seconds(MAX_LIFETIME_SECS)).then_some(expiry)
}

pub(crate) fn entra_success_fields() -> impl Strategy<Value = Vec<(&'static str, Field)>> + Clone {
    let epoch = now().unix_timestamp();
    (
        choose(vec![
            Some(json!(ENTRA_TOKEN)),
            Some(json!(ENTRA_TOKEN)),
            None,
            Some(Value::Null),
            Some(json!("")),
            Some(json!(12345)),
            Some(json!([ENTRA_TOKEN])),
            Some(json!({"value": ENTRA_TOKEN})),
        ]),
        choose(vec![
            Some(json!("Bearer")),
            Some(json!("bearer")),
            None,
            Some(Value::Null),
            Some(json!("pop")),
            Some(json!(1)),
        ]),
        choose(vec![
            Some(json!(3599)),
            Some(json!("3599")),
            Some(json!(" 3599 ")),
            None,
            Some(Value::Null),
            Some(json!(0)),
            Some(json!(-1)),
            Some(json!(MAX_LIFETIME_SECS)),
            Some(json!(MAX_LIFETIME_SECS + 1)),
            Some(json!(1000.0)),
            Some(json!("abc")),
            Some(json!(i64::MAX)),
            Some(json!(u64::MAX)),
            Some(json!(1e300)),
            Some(json!(true)),
        ]),
        choose(vec![
            None,
            Some(json!(epoch + 3600)),
            Some(json!((epoch + 3600).to_string())),
            Some(json!(epoch)),
            Some(json!(epoch - 10)),
            Some(json!(epoch + MAX_LIFETIME_SECS + 1)),
            Some(json!(i64::MAX)),
            Some(json!(i64::MIN)),
            Some(json!("soon")),
            Some(json!(1.5e9)),
        ]),
        choose(vec![
            None,
            Some(json!(1800)),
            Some(json!("1800")),
            Some(json!(0)),
            Some(json!(-5)),
            Some(json!(i64::MAX)),
            Some(json!(MAX_LIFETIME_SECS * 2)),
            Some(json!("later")),
        ]),
        choose(vec![None, Some(json!(REFRESH_TOKEN)), Some(Value::Null), Some(json!(5))]),
    )
        .prop_map(|(access_token, token_type, expires_in, expires_on, refresh_in, refresh_token)| {
            vec![
                ("access_token", access_token),
                ("token_type", token_type),
                ("expires_in", expires_in),
                ("expires_on", expires_on),
                ("refresh_in", refresh_in),
                ("refresh_token", refresh_token),
                ("ext_expires_in", Some(json!(3599))),
            ]
        })
}

/// One HTTP client for every case: making a TLS-capable client costs ~150 ms in a debug build,
/// more than the round trip it is used for. Like the crate's default, it follows no redirects.
pub(crate) fn http() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap()
        })
        .clone()
}

/// A fresh Entra client (empty cache) at `server`.
pub(crate) fn entra_client(server: &MockServer) -> AadClient {
    let credential = ClientSecretCredential::new(TENANT, CLIENT, "client-secret-value").unwrap();
    AadClient::builder(credential)
        .authority_host(server.uri())
        .clock(Arc::new(clock()))
        .retry_policy(RetryPolicy::default().max_attempts(3))
        .http_client(http())
        .build()
        .unwrap()
}

#[test]
pub(crate) fn entra_success_bodies_give_a_token_or_a_typed_error_never_a_panic_or_a_leak() {
    run_async(HTTP_CASES, body_around(entra_success_fields()), |server, body| async move {
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(body.template(200))
            .expect(1)
            .mount(&server)
            .await;
        let outcome = entra_client(&server).token().await;
        let expected = body.object_fields().and_then(expected_entra_expiry);
        match (outcome, expected) {
            (Ok(token), Some(expiry)) => {
                prop_assert_eq!(token.secret().expose_secret(), ENTRA_TOKEN);
                prop_assert_eq!(token.expires_on(), expiry);
            }
            (Err(error), None) => {
                let Error::UnexpectedResponse(unexpected) = &error else {
                    return Err(TestCaseError::fail(format!(
                        "a 200 answer must give UnexpectedResponse, got {error:?}"
                    )));
                };
                prop_assert_eq!(unexpected.status, 200);
                prop_assert_eq!(unexpected.service, "Entra ID");
                assert_no_leak(&error, &[ENTRA_TOKEN, REFRESH_TOKEN, "ENTRA-ACCESS-TOKEN", "client-secret-value"])?;
            }
            (outcome, expected) => prop_assert!(false, "{body:?}: got {outcome:?}, expected expiry {expected:?}"),
        }
        Ok(())
    });
}

/// Found by the property above: a `refresh_in` of i64::MAX seconds overflowed the date.
#[tokio::test]
pub(crate) async fn entra_refresh_in_beyond_any_date_is_ignored() {
    let server = strict_server().await;
    let body = json!({"access_token": ENTRA_TOKEN, "token_type": "Bearer", "expires_in": 3599, "refresh_in": i64::MAX});
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(1)
        .mount(&server)
        .await;
    let token = entra_client(&server).token().await.unwrap();
    assert_eq!(token.secret().expose_secret(), ENTRA_TOKEN);
    assert_eq!(token.expires_on(), now() + Duration::from_secs(3599));
    assert_eq!(token.refresh_on(), None);
}

// ---- Entra error responses ----------------------------------------------------------------

pub(crate) fn entra_error_fields() -> impl Strategy<Value = Vec<(&'static str, Field)>> + Clone {
    (
        choose(vec![
            Some(json!("invalid_client")),
            Some(json!("invalid_grant")),
            None,
            Some(Value::Null),
            Some(json!(5)),
        ]),
        choose(vec![
            Some(json!("AADSTS7000215: Invalid client secret provided.\r\nTrace ID: t")),
            None,
            Some(Value::Null),
            Some(json!(7)),
        ]),
        choose(vec![
            Some(json!([7000215])),
            Some(json!([50076, 50079])),
            Some(json!([])),
            None,
            Some(Value::Null),
            Some(json!("7000215")),
            Some(json!([1.5])),
            Some(json!([u64::MAX])),
        ]),
        choose(vec![Some(json!("2026-11-23 12:00:00Z")), None, Some(json!(3))]),
        choose(vec![Some(json!("8c5c7d3e-0000-4000-8000-000000000001")), None, Some(Value::Null), Some(json!(["t"]))]),
        choose(vec![Some(json!("8c5c7d3e-0000-4000-8000-000000000002")), None]),
        choose(vec![None, Some(json!("bad_token")), Some(json!(1))]),
    )
        .prop_map(|(error, description, codes, timestamp, trace_id, correlation_id, suberror)| {
            vec![
                ("error", error),
                ("error_description", description),
                ("error_codes", codes),
                ("timestamp", timestamp),
                ("trace_id", trace_id),
                ("correlation_id", correlation_id),
                ("suberror", suberror),
            ]
        })
}

/// What an Entra error body should become: `(error, codes, trace_id)` if it is Entra's shape.
pub(crate) fn expected_entra_error(fields: &[(&'static str, Field)]) -> Option<(String, Vec<i64>, Option<String>)> {
    let error = optional_string(field(fields, "error")).ok()??.to_owned();
    let codes = match field(fields, "error_codes") {
        None => Vec::new(),
        Some(Value::Array(codes)) => codes.iter().map(Value::as_i64).collect::<Option<Vec<_>>>()?,
        Some(_) => return None,
    };
    for name in ["error_description", "timestamp", "correlation_id", "suberror"] {
        optional_string(field(fields, name)).ok()?;
    }
    let trace_id = optional_string(field(fields, "trace_id")).ok()?.map(str::to_owned);
    Some((error, codes, trace_id))
}

#[test]
pub(crate) fn entra_error_bodies_give_typed_errors_never_a_panic_or_a_leak() {
    let input = (prop::sample::select(vec![400u16, 401]), body_around(entra_error_fields()));
    run_async(HTTP_CASES, input, |server, (status, body)| async move {
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(body.template(status))
            .expect(1)
            .mount(&server)
            .await;
        let error = match entra_client(&server).token().await {
            Ok(token) => return Err(TestCaseError::fail(format!("HTTP {status} gave a token: {token:?}"))),
            Err(error) => error,
        };
        prop_assert_eq!(error.status(), Some(status));
        prop_assert!(!error.is_retryable());
        assert_no_leak(&error, &["client-secret-value"])?;
        match (&error, body.object_fields().and_then(expected_entra_error)) {
            (Error::Entra(entra), Some((code, codes, trace_id))) => {
                prop_assert_eq!(&entra.error, &code);
                prop_assert_eq!(&entra.error_codes, &codes);
                prop_assert_eq!(&entra.trace_id, &trace_id);
                prop_assert_eq!(error.request_id(), trace_id.as_deref());
            }
            (Error::UnexpectedResponse(unexpected), None) => prop_assert_eq!(unexpected.service, "Entra ID"),
            (error, expected) => prop_assert!(false, "{body:?}: got {error:?}, expected {expected:?}"),
        }
        Ok(())
    });
}
