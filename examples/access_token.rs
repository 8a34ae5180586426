//! Prints an Entra access token for Power BI as `{"tokenType", "expiresOn", "accessToken"}`.
//!
//! The credential comes from the environment, as `EnvironmentCredential` reads it
//! (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and one of `AZURE_CLIENT_SECRET`,
//! `AZURE_CLIENT_CERTIFICATE_PATH`, `AZURE_USERNAME`/`AZURE_PASSWORD`,
//! `AZURE_FEDERATED_TOKEN_FILE`); `--device-code` signs in interactively instead.
//! `AZURE_AUTHORITY_HOST` (a URL or a bare host) and `POWERBI_CLOUD` choose where to sign in,
//! as for `AadClient::from_env`. With `REDIS_URL` (and
//! `POWERBI_CACHE_KEY`, as for `embed_token`) the token is shared with other processes through
//! Redis; a device-code sign-in is personal and is never shared.
//!
//! ```text
//! cargo run --example access_token [-- --device-code]
//! ```

#[path = "support/mod.rs"]
mod support;

use powerbi_embed::{AadClient, DeviceCodeCredential};
use serde_json::json;
use support::{aad_from_env, fail_with, require_env, shared_cache_from_env, with_cloud_from_env, Args};
use time::format_description::well_known::Rfc3339;

#[tokio::main]
async fn main() {
    let args = Args::parse(&[], &["device-code"]);
    let aad = if args.has("device-code") {
        let tenant = require_env("AZURE_TENANT_ID", "the tenant to sign in to");
        let client = require_env("AZURE_CLIENT_ID", "a public client app registration");
        let credential = DeviceCodeCredential::new(tenant, client, |prompt| eprintln!("{}", prompt.message))
            .unwrap_or_else(|e| fail_with(e));
        with_cloud_from_env(AadClient::builder(credential)).build().unwrap_or_else(|e| fail_with(e))
    } else {
        aad_from_env(shared_cache_from_env().await.as_ref())
    };
    let token = aad.token().await.unwrap_or_else(|e| fail_with(e));
    let output = json!({
        "tokenType": "Bearer",
        "expiresOn": token.expires_on().format(&Rfc3339).expect("a valid time formats"),
        "accessToken": token.secret().expose_secret(),
    });
    println!("{output}");
}
