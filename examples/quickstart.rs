//! The whole flow: Entra token -> report lookup -> embed token -> embed config JSON on stdout.
//!
//! With no Azure settings it runs against the crate's built-in fake and says so on stderr.
//! With `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, a credential (`AZURE_CLIENT_SECRET`, ...),
//! `POWERBI_WORKSPACE_ID` and `POWERBI_REPORT_ID` it does the same against the real services.
//!
//! ```text
//! cargo run --example quickstart
//! ```

#[path = "support/mod.rs"]
mod support;

use powerbi_embed::testing::FakeServices;
use powerbi_embed::GenerateTokenRequest;
use support::{aad_from_env, acting_as, env, fail_with, parse_id, powerbi_client, require_env};

#[tokio::main]
async fn main() {
    let request = GenerateTokenRequest::report_view().lifetime_minutes(60).build().unwrap_or_else(|e| fail_with(e));
    let config = if env("AZURE_TENANT_ID").is_none() {
        let fake = FakeServices::start().await;
        eprintln!(
            "note: no AZURE_TENANT_ID set, so this ran against the built-in fake of Entra ID and Power BI on {}; \
             set AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, POWERBI_WORKSPACE_ID and POWERBI_REPORT_ID to use real Azure",
            fake.api_base()
        );
        let client = fake.powerbi_client();
        client.workspace(fake.workspace_id()).report(fake.report_id()).embed_config(&request).await
    } else {
        let workspace = parse_id(&require_env("POWERBI_WORKSPACE_ID", "the workspace (group) id holding the report"));
        let report = parse_id(&require_env("POWERBI_REPORT_ID", "the report to embed"));
        let profile = env("POWERBI_PROFILE_ID").map(|p| parse_id(&p));
        let client = powerbi_client(aad_from_env(None), None);
        acting_as(&client, profile).workspace(workspace).report(report).embed_config(&request).await
    };
    let config = config.unwrap_or_else(|e| fail_with(e));
    println!("{}", serde_json::to_string_pretty(&config).expect("an embed config serializes"));
}
