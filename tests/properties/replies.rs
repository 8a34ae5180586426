//! Parsers behind HTTP: the runner, and bodies built around a contract's fields.

use super::*;

/// Runs a property whose cases are async, on one runtime and one mock server shared by every
/// case (each case starts with [`reset`]).
pub(crate) fn run_async<S, F, Fut>(cases_default: u32, strategy: S, test: F)
where
    S: Strategy,
    F: Fn(Arc<MockServer>, S::Value) -> Fut,
    Fut: Future<Output = Result<(), TestCaseError>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server = Arc::new(runtime.block_on(MockServer::start()));
    let mut runner = TestRunner::new(config(cases_default));
    runner
        .run(&strategy, |input| {
            runtime.block_on(async {
                reset(&server).await;
                test(server.clone(), input).await?;
                server.verify().await;
                Ok(())
            })
        })
        .unwrap();
}

/// Clears the server and mounts the catch-all that fails on any unexpected route.
pub(crate) async fn reset(server: &MockServer) {
    server.reset().await;
    Mock::given(any_request())
        .respond_with(ResponseTemplate::new(500).set_body_string("unexpected route in test"))
        .with_priority(u8::MAX)
        .named("catch-all: no other route should be called")
        .expect(0)
        .mount(server)
        .await;
}

/// Fails if any text form of `error` contains one of `secrets`.
pub(crate) fn assert_no_leak(error: &Error, secrets: &[&str]) -> Result<(), TestCaseError> {
    let printed = format!("{error} | {error:?}");
    for secret in secrets {
        prop_assert!(!printed.contains(secret), "the error shows {secret:?}: {printed}");
    }
    Ok(())
}

/// A JSON field: absent, or present with a value.
pub(crate) type Field = Option<Value>;

pub(crate) fn choose(values: Vec<Field>) -> impl Strategy<Value = Field> + Clone {
    prop::sample::select(values)
}

/// How a body reaches the client.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    /// A JSON object of these fields (plus unknown ones when `extra`).
    Object { fields: Vec<(&'static str, Field)>, extra: bool },
    /// The same, cut short after `keep` of its bytes.
    Truncated { fields: Vec<(&'static str, Field)>, keep: prop::sample::Index },
    /// Valid JSON that is not an object.
    NotAnObject(Value),
    /// Arbitrary bytes, sent as JSON.
    Bytes(Vec<u8>),
    /// An HTML page (a proxy's or a sign-in page).
    Html,
}

pub(crate) fn object_of(fields: &[(&'static str, Field)], extra: bool) -> Value {
    let mut object: Map<String, Value> =
        fields.iter().filter_map(|(name, value)| value.clone().map(|v| (name.to_string(), v))).collect();
    if extra {
        object.insert("@odata.context".into(), json!("http://wabi-west-europe-redirect.analysis.windows.net/v1.0/myorg/$metadata#Microsoft.PowerBI.ServiceContract.Api.V1.GenerateTokenResponse"));
        object.insert(
            "unknownNested".into(),
            json!({"list": [1, 2.5, null, "x"], "big": 18446744073709551616u128 as f64}),
        );
    }
    Value::Object(object)
}

impl Body {
    pub(crate) fn template(&self, status: u16) -> ResponseTemplate {
        let json =
            |bytes: Vec<u8>| ResponseTemplate::new(status).set_body_raw(bytes, "application/json; charset=utf-8");
        match self {
            Body::Object { fields, extra } => json(serde_json::to_vec(&object_of(fields, *extra)).unwrap()),
            Body::Truncated { fields, keep } => {
                let bytes = serde_json::to_vec(&object_of(fields, false)).unwrap();
                let keep = keep.index(bytes.len());
                json(bytes[..keep].to_vec())
            }
            Body::NotAnObject(value) => json(serde_json::to_vec(value).unwrap()),
            Body::Bytes(bytes) => json(bytes.clone()),
            Body::Html => ResponseTemplate::new(status).set_body_raw("<html><body>Sign in</body></html>", "text/html"),
        }
    }

    /// The fields, if the client receives a complete JSON object.
    pub(crate) fn object_fields(&self) -> Option<&[(&'static str, Field)]> {
        match self {
            Body::Object { fields, .. } => Some(fields),
            _ => None,
        }
    }
}

/// Mostly complete objects of `fields`, sometimes a body that is no object at all.
pub(crate) fn body_around(
    fields: impl Strategy<Value = Vec<(&'static str, Field)>> + Clone,
) -> impl Strategy<Value = Body> {
    prop_oneof![
        3 => (fields.clone(), any::<bool>()).prop_map(|(fields, extra)| Body::Object { fields, extra }),
        1 => broken_body(fields),
    ]
}

/// A body that is not a complete JSON object: truncated, another JSON value, bytes, HTML.
pub(crate) fn broken_body(fields: impl Strategy<Value = Vec<(&'static str, Field)>>) -> impl Strategy<Value = Body> {
    prop_oneof![
        (fields, any::<prop::sample::Index>()).prop_map(|(fields, keep)| Body::Truncated { fields, keep }),
        prop::sample::select(vec![json!([]), json!(null), json!("token"), json!(42), json!([{"access_token": "x"}])])
            .prop_map(Body::NotAnObject),
        vec(any::<u8>(), 0..64).prop_map(Body::Bytes),
        Just(Body::Html),
    ]
}

pub(crate) fn field<'a>(fields: &'a [(&'static str, Field)], name: &str) -> Option<&'a Value> {
    fields.iter().find(|(n, _)| *n == name).and_then(|(_, v)| v.as_ref())
}

/// A field that must be a string if present: `Ok(None)` when absent or null, `Err` when
/// another type.
pub(crate) fn optional_string(value: Option<&Value>) -> Result<Option<&str>, ()> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(()),
    }
}
