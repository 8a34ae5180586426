//! GenerateToken responses and Power BI errors.

use super::*;

pub(crate) const EMBED_TOKEN: &str = "H4sIAAAAAAAEAB2WxQ7sOAJF.EMBED-TOKEN-VALUE.xyz";
pub(crate) const STATIC_ENTRA_TOKEN: &str = "static-entra-access-token-value";
pub(crate) const GENERATE_PATH: &str =
    "/v1.0/myorg/groups/f089354e-8366-4e18-aea3-4cb4a3a50b48/reports/5b218778-e7a5-4d73-8187-f10824047715/GenerateToken";

/// A Power BI client at `server`, signed in with a static Entra token, on `clock`.
pub(crate) fn power_bi_client(server: &MockServer, clock: &ManualClock, retry: RetryPolicy) -> PowerBiClient {
    let credential = StaticTokenCredential::new(STATIC_ENTRA_TOKEN, clock.now() + Duration::from_secs(2 * 3600));
    let aad = AadClient::builder(credential).clock(Arc::new(clock.clone())).http_client(http()).build().unwrap();
    PowerBiClient::builder(aad).api_base(server.uri()).retry_policy(retry).http_client(http()).build().unwrap()
}

pub(crate) async fn generate(
    server: &MockServer,
    clock: &ManualClock,
    retry: RetryPolicy,
) -> Result<powerbi_embed::EmbedToken, Error> {
    let request = GenerateTokenRequest::report_view().build().unwrap();
    power_bi_client(server, clock, retry)
        .workspace(FIXTURE_WORKSPACE.parse().unwrap())
        .report(FIXTURE_REPORT.parse().unwrap())
        .embed_token(&request)
        .await
}

/// Expiration texts with the instant they mean, or `None` when the answer must be refused
/// (not RFC 3339, not a string, already expired at the test clock's 2026-11-23 12:00 UTC).
pub(crate) fn expirations() -> Vec<(Field, Option<OffsetDateTime>)> {
    vec![
        (Some(json!("2026-11-23T13:00:00Z")), Some(datetime!(2026-11-23 13:00 UTC))),
        (Some(json!("2026-11-23T13:00:00Z")), Some(datetime!(2026-11-23 13:00 UTC))),
        (Some(json!("2026-11-23T13:00:00.1234567Z")), Some(datetime!(2026-11-23 13:00:00.1234567 UTC))),
        (Some(json!("2026-11-23T14:00:00+01:00")), Some(datetime!(2026-11-23 13:00 UTC))),
        (Some(json!("9999-12-31T23:59:59Z")), Some(datetime!(9999-12-31 23:59:59 UTC))),
        (Some(json!("2026-11-23T12:00:00Z")), None),
        (Some(json!("2020-01-01T00:00:00Z")), None),
        (Some(json!("0001-01-01T00:00:00Z")), None),
        (Some(json!("2026-11-23T13:00:00")), None),
        (Some(json!("11/23/2026 13:00:00")), None),
        (Some(json!("tomorrow")), None),
        (Some(json!("")), None),
        (Some(json!(1795000000)), None),
        (Some(Value::Null), None),
        (None, None),
    ]
}

#[derive(Debug, Clone)]
pub(crate) struct EmbedTokenCase {
    pub(crate) fields: Vec<(&'static str, Field)>,
    pub(crate) expiration: Option<OffsetDateTime>,
}

pub(crate) fn embed_token_case() -> impl Strategy<Value = EmbedTokenCase> + Clone {
    (
        choose(vec![
            Some(json!(EMBED_TOKEN)),
            Some(json!(EMBED_TOKEN)),
            Some(json!("")),
            None,
            Some(Value::Null),
            Some(json!(42)),
            Some(json!([EMBED_TOKEN])),
        ]),
        choose(vec![
            Some(json!(FIXTURE_TOKEN_ID)),
            Some(json!(FIXTURE_TOKEN_ID)),
            Some(json!(FIXTURE_TOKEN_ID.to_uppercase())),
            Some(json!(format!("{{{FIXTURE_TOKEN_ID}}}"))),
            Some(json!("abc")),
            Some(Value::Null),
            None,
            Some(json!(5)),
        ]),
        prop::sample::select(expirations()),
    )
        .prop_map(|(token, token_id, (expiration_field, expiration))| EmbedTokenCase {
            fields: vec![("token", token), ("tokenId", token_id), ("expiration", expiration_field)],
            expiration,
        })
}

/// The token id and expiry a valid GenerateToken answer carries.
pub(crate) fn expected_embed_token(case: &EmbedTokenCase) -> Option<(String, OffsetDateTime)> {
    let token = optional_string(field(&case.fields, "token")).ok()??;
    let token_id = optional_string(field(&case.fields, "tokenId")).ok()??;
    (!token.is_empty()).then_some(())?;
    Some((model_guid(token_id, false)?, case.expiration?))
}

#[derive(Debug, Clone)]
pub(crate) enum ErrorBody {
    Json(Value),
    Empty,
    Html,
}

pub(crate) fn power_bi_error_body() -> impl Strategy<Value = ErrorBody> {
    prop::sample::select(vec![
        ErrorBody::Json(json!({"error": {"code": "PowerBIEntityNotFound", "message": "not found"}})),
        ErrorBody::Json(
            json!({"error": {"code": "InvalidRequest", "message": "bad", "details": [{"message": "m", "target": "t"}]}}),
        ),
        ErrorBody::Json(json!({"error": {"code": "X"}})),
        ErrorBody::Json(json!({"error": {"code": 5, "message": "m"}})),
        ErrorBody::Json(json!({"error": null})),
        ErrorBody::Json(json!({})),
        ErrorBody::Json(json!({"Message": "An error has occurred."})),
        ErrorBody::Json(json!({"message": "You have exceeded the amount of requests allowed"})),
        ErrorBody::Json(json!({"error": {"code": "C", "pbi.error": {"code": "C", "parameters": {}, "details": [
            {"code": "DetailsMessage", "detail": {"type": 1, "value": "v"}}], "exceptionCulprit": 1}}})),
        ErrorBody::Json(json!({"error": {"pbi.error": {"code": "Inner", "details": []}}})),
        ErrorBody::Json(json!({"error": {"code": "", "message": "   "}})),
        ErrorBody::Empty,
        ErrorBody::Html,
    ])
}

#[derive(Debug, Clone)]
pub(crate) enum GenerateReply {
    Success(EmbedTokenCase, bool),
    /// A 200 whose body is not a JSON object.
    OtherSuccessBody(Body),
    Failure(u16, ErrorBody),
}

pub(crate) fn generate_reply() -> impl Strategy<Value = GenerateReply> {
    prop_oneof![
        8 => (embed_token_case(), any::<bool>()).prop_map(|(case, extra)| GenerateReply::Success(case, extra)),
        1 => broken_body(embed_token_case().prop_map(|case| case.fields)).prop_map(GenerateReply::OtherSuccessBody),
        3 => (prop::sample::select(vec![400u16, 401, 403, 404, 429, 500]), power_bi_error_body()).prop_map(|(s, b)| GenerateReply::Failure(s, b)),
    ]
}

/// The `(code, message, has raw body)` a Power BI error body should give.
pub(crate) fn expected_power_bi_error(body: &ErrorBody) -> (Option<String>, Option<String>, bool) {
    // A field counts when it is a non-empty string; anything else in it is ignored.
    let text = |object: &serde_json::Map<String, Value>, name: &str| {
        object.get(name).and_then(Value::as_str).map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned)
    };
    match body {
        ErrorBody::Empty => (None, None, false),
        ErrorBody::Html => (None, None, true),
        ErrorBody::Json(value) => {
            // `{"error": {...}}`, or the same fields at the top level (`{"Message": ...}`).
            let error = match value.get("error") {
                Some(Value::Object(error)) => error,
                _ => value.as_object().expect("the strategy's bodies are objects"),
            };
            let pbi = error.get("pbi.error").and_then(Value::as_object);
            let code = text(error, "code").or_else(|| pbi.and_then(|p| text(p, "code")));
            let message = text(error, "message").or_else(|| text(error, "Message"));
            let details = error.get("details").and_then(Value::as_array).is_some_and(|d| !d.is_empty())
                || pbi.and_then(|p| p.get("details")).and_then(Value::as_array).is_some_and(|d| !d.is_empty());
            let understood = code.is_some() || message.is_some() || details;
            (code, message, !understood)
        }
    }
}

#[test]
pub(crate) fn generate_token_replies_give_a_token_or_a_typed_error_never_a_panic_or_a_leak() {
    run_async(HTTP_CASES, generate_reply(), |server, reply| async move {
        let template = match &reply {
            GenerateReply::Success(case, extra) => {
                Body::Object { fields: case.fields.clone(), extra: *extra }.template(200)
            }
            GenerateReply::OtherSuccessBody(body) => body.template(200),
            GenerateReply::Failure(status, ErrorBody::Json(value)) => {
                ResponseTemplate::new(*status).set_body_json(value)
            }
            GenerateReply::Failure(status, ErrorBody::Empty) => ResponseTemplate::new(*status),
            GenerateReply::Failure(status, ErrorBody::Html) => {
                ResponseTemplate::new(*status).set_body_raw("<html>Service Unavailable</html>", "text/html")
            }
        }
        .insert_header("RequestId", "5a0f9c3e-0000-4000-8000-00000000abcd");
        Mock::given(method("POST")).and(path(GENERATE_PATH)).respond_with(template).expect(1).mount(&server).await;
        let outcome = generate(&server, &clock(), RetryPolicy::none()).await;
        if let Err(error) = &outcome {
            assert_no_leak(error, &[EMBED_TOKEN, "EMBED-TOKEN-VALUE", STATIC_ENTRA_TOKEN])?;
            prop_assert_eq!(error.request_id(), Some("5a0f9c3e-0000-4000-8000-00000000abcd"));
        }
        let expected = match &reply {
            GenerateReply::Success(case, _) => expected_embed_token(case),
            _ => None,
        };
        match (outcome, &reply, expected) {
            (Ok(token), _, Some((token_id, expiration))) => {
                prop_assert_eq!(token.secret().expose_secret(), EMBED_TOKEN);
                prop_assert_eq!(token.token_id().to_string(), token_id);
                prop_assert_eq!(token.expiration(), expiration);
                let printed = format!("{token:?}");
                prop_assert!(!printed.contains(EMBED_TOKEN), "Debug shows the token: {}", printed);
            }
            (
                Err(Error::UnexpectedResponse(unexpected)),
                GenerateReply::Success(..) | GenerateReply::OtherSuccessBody(_),
                None,
            ) => {
                prop_assert_eq!(unexpected.status, 200);
                prop_assert_eq!(unexpected.service, "Power BI");
            }
            (Err(Error::PowerBi(error)), GenerateReply::Failure(status, body), None) => {
                let (code, message, raw) = expected_power_bi_error(body);
                prop_assert_eq!(error.status, *status);
                prop_assert_eq!(&error.code, &code);
                prop_assert_eq!(&error.message, &message);
                prop_assert_eq!(error.raw_body.is_some(), raw, "raw body {:?}", error.raw_body);
            }
            (outcome, reply, expected) => prop_assert!(false, "{reply:?}: got {outcome:?}, expected {expected:?}"),
        }
        Ok(())
    });
}
