//! The ids, tokens and service replies the benches share, sized like the real ones (an Entra
//! access token is a JWT of roughly 1.5 KB; an embed token is about as long), so parsing costs
//! what it costs in production.

use std::time::Duration;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub const TENANT: &str = "0b4ff5a2-3f2e-4c1a-9d6b-8a1e2f3c4d5e";
pub const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
pub const WORKSPACE: &str = "f089354e-8366-4e18-aea3-4cb4a3a50b48";
pub const REPORTS: [&str; 3] = [
    "5b218778-e7a5-4d73-8187-f10824047715",
    "6c329889-f8b6-4e84-9298-021935158826",
    "7d43a99a-09c7-4f95-a3a9-13204626a937",
];
pub const DATASETS: [&str; 2] = ["cfafbeb1-8037-4d0c-896e-a46fb27ff229", "d0b0cfc2-9148-4e1d-9a7f-b57fc38003a3"];
pub const TOKEN_ID: &str = "49ae3742-54c0-4c29-af52-619ff93b5c80";

/// A bearer token of realistic length (its content does not matter to anyone here).
pub fn long_token(prefix: &str) -> String {
    let mut token = format!("{prefix}.");
    while token.len() < 1500 {
        token.push_str("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9");
    }
    token
}

/// Entra's token reply: valid for an hour.
pub fn entra_token_body() -> String {
    serde_json::json!({
        "token_type": "Bearer",
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": long_token("entra"),
    })
    .to_string()
}

/// Power BI's `GenerateToken` reply, with an embed token that expires `valid_for` from now.
pub fn embed_token_body(valid_for: Duration) -> String {
    let expiration = (OffsetDateTime::now_utc() + valid_for).format(&Rfc3339).expect("formattable date");
    serde_json::json!({
        "@odata.context": "http://wabi-west-europe-redirect.analysis.windows.net/v1.0/myorg/$metadata#Microsoft.PowerBI.ServiceContracts.Api.V1.EmbedToken",
        "token": long_token("H4sIAAAAAAAEAC2Tx66rCBZF"),
        "tokenId": TOKEN_ID,
        "expiration": expiration,
    })
    .to_string()
}
