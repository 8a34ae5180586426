//! The HTTP surface: the page, its script, `powerbi-client` from `node_modules`, and the config.

use std::path::Path;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::source::{EmbedSource, Scenario};

/// `powerbi-client` as `install-js.sh` puts it on disk. Served from there rather than a CDN so
/// the page works offline and runs exactly the version pinned in `web/package-lock.json`.
pub const POWERBI_CLIENT_JS: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/examples/embed_server/web/node_modules/powerbi-client/dist/powerbi.min.js");

const INDEX_HTML: &str = include_str!("web/index.html");
const APP_JS: &str = include_str!("web/app.js");

/// Scripts only from this server; the report frame from any `https` origin, since embed URLs
/// differ by cloud (`app.powerbi.com`, `app.powerbigov.us`, `app.powerbi.cn`, ...).
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-src https:";

/// Tells the page which services answered, so it can say that the fake renders no report.
const BACKEND_HEADER: HeaderName = HeaderName::from_static("x-powerbi-embed-backend");

const NOT_INSTALLED: &str = "// powerbi-client is not installed.\n\
    // Run examples/embed_server/install-js.sh (npm ci in examples/embed_server/web), then reload.\n";

pub fn router(source: Arc<EmbedSource>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/app.js", get(app_js))
        .route("/vendor/powerbi-client.js", get(powerbi_client_js))
        .route("/api/embed-config", get(embed_config))
        .with_state(source)
}

async fn index() -> Response {
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::CACHE_CONTROL, "no-cache"),
    ];
    (headers, INDEX_HTML).into_response()
}

async fn app_js() -> Response {
    javascript(StatusCode::OK, APP_JS.as_bytes().to_vec())
}

/// Read on each request, so running `install-js.sh` while the server runs needs only a reload.
async fn powerbi_client_js() -> Response {
    match tokio::fs::read(Path::new(POWERBI_CLIENT_JS)).await {
        Ok(script) => javascript(StatusCode::OK, script),
        // A 503 with the fix in the body: the page sees `powerbi` missing and says the same.
        Err(_) => javascript(StatusCode::SERVICE_UNAVAILABLE, NOT_INSTALLED.as_bytes().to_vec()),
    }
}

fn javascript(status: StatusCode, body: Vec<u8>) -> Response {
    let headers = [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")];
    (status, headers, body).into_response()
}

/// The crate's `EmbedConfig`, serialized as it is: `powerbi.embed()` takes it unchanged.
/// `?scenario=edit|v2|aad|create|visual` picks another embedding scenario than a View token.
async fn embed_config(State(source): State<Arc<EmbedSource>>, RawQuery(query): RawQuery) -> Response {
    let backend = HeaderValue::from_static(source.kind().as_str());
    // The body holds a token: no cache may keep it.
    let headers = [(header::CACHE_CONTROL, HeaderValue::from_static("no-store")), (BACKEND_HEADER, backend)];
    let Some(scenario) = Scenario::from_query(query.as_deref()) else {
        let body = json!({"error": "scenario must be view, edit, v2, aad, create or visual"});
        return (StatusCode::BAD_REQUEST, headers, Json(body)).into_response();
    };
    match source.embed_config_for(scenario).await {
        Ok(config) => (headers, Json(config)).into_response(),
        Err(error) => {
            // The crate's errors never print secrets, so the message can go to a developer's
            // page as well as to the log.
            eprintln!("embed_server: could not get an embed config: {error}");
            let body = json!({"error": error.to_string(), "requestId": error.request_id()});
            (StatusCode::BAD_GATEWAY, headers, Json(body)).into_response()
        }
    }
}
