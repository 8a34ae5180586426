//! The server's HTTP surface on the fake, without a browser (browser-test.sh has the browser).

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use crate::routes::{self, POWERBI_CLIENT_JS};
use crate::source::EmbedSource;

/// Serves the example on a free loopback port; the server lives as long as the test's runtime.
async fn serve() -> String {
    let source = EmbedSource::fake(None).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, routes::router(Arc::new(source))).await.unwrap() });
    base
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

#[tokio::test]
async fn config_is_the_crates_embed_config_and_never_cached() {
    let base = serve().await;
    let response = reqwest::get(format!("{base}/api/embed-config")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "cache-control"), "no-store");
    assert_eq!(header(&response, "x-powerbi-embed-backend"), "fake");
    let config = json(response).await;
    assert_eq!((config["type"].as_str(), config["tokenType"].as_u64()), (Some("report"), Some(1)));
    let embed_url = config["embedUrl"].as_str().unwrap();
    assert!(embed_url.starts_with("https://app.powerbi.com/reportEmbed?reportId="), "{embed_url}");
    assert!(config["accessToken"].as_str().unwrap().starts_with("fake-embed-"));

    // Renewal depends on it: a second request brings a new token.
    let again = json(reqwest::get(format!("{base}/api/embed-config")).await.unwrap()).await;
    assert_ne!(again["accessToken"], config["accessToken"]);
}

#[tokio::test]
async fn page_loads_only_its_own_scripts() {
    let base = serve().await;
    let page = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(header(&page, "content-security-policy").starts_with("default-src 'self'"));
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<script src="/vendor/powerbi-client.js">"#) && html.contains(r#"<script src="/app.js">"#));
    let script = reqwest::get(format!("{base}/app.js")).await.unwrap();
    assert_eq!((script.status().as_u16(), header(&script, "content-type")), (200, "text/javascript; charset=utf-8"));
}

#[tokio::test]
async fn powerbi_client_comes_from_node_modules_or_a_503_that_says_how_to_install_it() {
    let base = serve().await;
    let response = reqwest::get(format!("{base}/vendor/powerbi-client.js")).await.unwrap();
    if Path::new(POWERBI_CLIENT_JS).exists() {
        assert_eq!(response.status(), 200);
        assert!(response.text().await.unwrap().contains("powerbi-client v"));
    } else {
        assert_eq!(response.status(), 503);
        assert!(response.text().await.unwrap().contains("install-js.sh"));
    }
}

async fn json(response: reqwest::Response) -> Value {
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

#[tokio::test]
async fn each_scenario_has_its_config() {
    let base = serve().await;
    let config = |scenario: &'static str| {
        let base = base.clone();
        async move { json(reqwest::get(format!("{base}/api/embed-config?scenario={scenario}")).await.unwrap()).await }
    };
    let edit = config("edit").await;
    assert_eq!((edit["permissions"].as_u64(), edit["viewMode"].as_u64()), (Some(7), Some(1)));
    let v2 = config("v2").await;
    assert_eq!(
        (v2["type"].as_str(), v2["permissions"].as_u64(), v2["tokenType"].as_u64()),
        (Some("report"), Some(0), Some(1))
    );
    let aad = config("aad").await;
    assert_eq!(aad["tokenType"].as_u64(), Some(0));
    assert!(aad.get("tokenId").is_none());
    let create = config("create").await;
    assert_eq!((create["type"].as_str(), create["permissions"].as_u64()), (Some("create"), Some(4)));
    let visual = config("visual").await;
    assert_eq!((visual["type"].as_str(), visual["visualName"].as_str()), (Some("visual"), Some("VisualContainer1")));
    let unknown = reqwest::get(format!("{base}/api/embed-config?scenario=nope")).await.unwrap();
    assert_eq!(unknown.status(), 400);
}
