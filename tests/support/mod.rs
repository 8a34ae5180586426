//! The one support module of every test binary: the test ids (`ids`), wiremock fakes with a
//! catch-all that fails the test on any unexpected route, exact form matching, clients pointed
//! at the fakes; servers that misbehave below HTTP (`faults`), the published schema as strict
//! validators (`schema`), a real `redis-server` per test (`redis_server`) and replicas sharing
//! tokens through it (`replicas`). Each binary uses part of it.
#![allow(dead_code, unused_imports)]

pub mod faults;
pub mod ids;
pub mod redis_server;
pub mod replicas;
pub mod schema;

pub use ids::{CLIENT, TENANT};

use std::collections::BTreeMap;
use std::sync::Arc;

use powerbi_embed::testing::SafeMockServer;
use powerbi_embed::{AadClient, ManualClock, RetryPolicy, TokenCredential};
use serde_json::json;
use time::macros::datetime;
use wiremock::matchers::any;
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

pub const POWERBI_SCOPE: &str = "https://analysis.windows.net/powerbi/api/.default";
pub const TOKEN_PATH: &str = "/0b4ff5a2-3f2e-4c1a-9d6b-8a1e2f3c4d5e/oauth2/v2.0/token";

/// A fixed start time for manual clocks.
pub fn clock() -> ManualClock {
    ManualClock::new(datetime!(2026-11-23 12:00 UTC))
}

/// A mock server whose unmatched requests answer 500 and fail verification on drop. It is a
/// [`SafeMockServer`], so dropping it at the end of a test that awaited many tasks cannot spin.
pub async fn strict_server() -> SafeMockServer {
    let server = SafeMockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500).set_body_string("unexpected route in test"))
        .with_priority(u8::MAX)
        .named("catch-all: no other route should be called")
        .expect(0)
        .mount(&server)
        .await;
    server
}

/// Matches a form body with exactly these fields (order-insensitive, no extra fields).
pub struct FormIs(pub BTreeMap<String, String>);

pub fn form_is(fields: &[(&str, &str)]) -> FormIs {
    FormIs(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

impl Match for FormIs {
    fn matches(&self, request: &Request) -> bool {
        let is_form = request
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        is_form && form_of(request) == self.0
    }
}

/// The form fields of a request.
pub fn form_of(request: &Request) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(&request.body).into_owned().collect()
}

/// Entra's success body.
pub fn token_body(token: &str, expires_in: i64) -> serde_json::Value {
    json!({"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in, "access_token": token})
}

/// Entra's error body.
pub fn entra_error_body(error: &str, code: i64) -> serde_json::Value {
    json!({
        "error": error,
        "error_description": format!("AADSTS{code}: something went wrong.\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: 2026-11-23 12:00:00Z"),
        "error_codes": [code],
        "timestamp": "2026-11-23 12:00:00Z",
        "trace_id": "8c5c7d3e-0000-4000-8000-000000000001",
        "correlation_id": "8c5c7d3e-0000-4000-8000-000000000002",
    })
}

/// An AadClient pointed at `server` with a manual clock and fast retries.
pub fn aad_client(server: &MockServer, credential: impl TokenCredential + 'static, clock: &ManualClock) -> AadClient {
    AadClient::builder(credential)
        .authority_host(server.uri())
        .clock(Arc::new(clock.clone()))
        .retry_policy(RetryPolicy::default().max_attempts(3))
        .build()
        .expect("valid test client")
}
