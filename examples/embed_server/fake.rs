//! The built-in fake, made embeddable by `powerbi-client`.

use std::time::Duration;

use powerbi_embed::testing::FakeServices;
use serde_json::json;
use wiremock::matchers::{header_regex, method, path_regex};
use wiremock::{Mock, ResponseTemplate};

/// Where the real service's report embed URLs point (public cloud).
const EMBED_HOST: &str = "https://app.powerbi.com";

/// Starts the fake; `embed_token_lifetime` shortens its embed tokens (to watch renewal).
pub async fn start(embed_token_lifetime: Option<Duration>) -> FakeServices {
    let mut builder = FakeServices::builder();
    if let Some(lifetime) = embed_token_lifetime {
        builder = builder.embed_token_lifetime(lifetime);
    }
    let fake = builder.start().await;
    answer_report_lookup_with_real_embed_url(&fake).await;
    fake
}

/// The fake's reports carry an embed URL on the fake itself (`http://127.0.0.1:…/reportEmbed`),
/// and `powerbi-client` (2.23 and later) refuses to embed any URL that is not `https` on a Power
/// BI host, before it even creates the iframe. So this report lookup answers with the URL shape
/// the real service returns; the token still comes from the fake's `GenerateToken`, and every
/// other request still reaches the fake. Remove this once the fake can be told its embed host.
async fn answer_report_lookup_with_real_embed_url(fake: &FakeServices) {
    let (workspace, report) = (fake.workspace_id(), fake.report_id());
    let body = json!({
        "id": report,
        "name": "Fake sales report",
        "reportType": "PowerBIReport",
        "datasetId": fake.dataset_id(),
        "embedUrl": format!("{EMBED_HOST}/reportEmbed?reportId={report}&groupId={workspace}"),
        "webUrl": format!("{EMBED_HOST}/groups/{workspace}/reports/{report}"),
    });
    // Only requests that carry one of the fake's tokens: anything else falls through to the
    // fake, which answers 401 as the service would.
    Mock::given(method("GET"))
        .and(path_regex(format!("(?i)^/v1\\.0/myorg/groups/{workspace}/reports/{report}$")))
        .and(header_regex("authorization", "^Bearer fake-entra-"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        // Ahead of the fake's own catch-all route (default priority 5).
        .with_priority(1)
        .mount(fake.powerbi_server())
        .await;
}
