//! The built-in fake (`testing` feature) behaves like the services it stands in for.
#![cfg(feature = "testing")]

use std::time::Duration;

use powerbi_embed::testing::FakeServices;
use powerbi_embed::{
    AadClient, ClientSecretCredential, EffectiveIdentity, GenerateTokenRequest, GenerateTokenRequestV2, ManualClock,
    PowerBiClient, ReportId, StaticTokenCredential, UsernamePasswordCredential, WorkspaceId,
};

#[tokio::test]
async fn whole_flow_for_every_item_kind() {
    let fake = FakeServices::start().await;
    let client = fake.powerbi_client();
    let (ws, report, dataset, dashboard, tile) =
        (fake.workspace_id(), fake.report_id(), fake.dataset_id(), fake.dashboard_id(), fake.tile_id());

    let view = GenerateTokenRequest::report_view()
        .identity(EffectiveIdentity::new("u1").role("R").datasets([dataset]))
        .build()
        .unwrap();
    let config = client.workspace(ws).report(report).embed_config(&view).await.unwrap();
    // The shape the service returns, and the only kind of URL powerbi-client embeds.
    assert_eq!(config.embed_url(), format!("https://app.powerbi.com/reportEmbed?reportId={report}&groupId={ws}"));
    assert!(config.token().secret().expose_secret().starts_with("fake-embed-"));
    let edit = GenerateTokenRequest::report_edit().allow_save_as(true).build().unwrap();
    client.workspace(ws).report(report).embed_config(&edit).await.unwrap();
    let create = GenerateTokenRequest::report_creation().build().unwrap();
    client.workspace(ws).dataset(dataset).create_report_config(&create).await.unwrap();
    client
        .workspace(ws)
        .dashboard(dashboard)
        .embed_config(&GenerateTokenRequest::dashboard().build().unwrap())
        .await
        .unwrap();
    client
        .workspace(ws)
        .dashboard(dashboard)
        .tile(tile)
        .embed_config(&GenerateTokenRequest::tile().build().unwrap())
        .await
        .unwrap();
    client.workspace(ws).dataset(dataset).qna_config(&GenerateTokenRequest::qna().build().unwrap()).await.unwrap();
    let v2 = GenerateTokenRequestV2::builder().report(report).dataset(dataset).target_workspace(ws).build().unwrap();
    client.embed_token(&v2).await.unwrap();

    assert_eq!(fake.token_request_count(), 1, "the Entra token is cached");
    assert_eq!(fake.generate_token_count(), 7);
    let sent = fake.requests();
    let first_generate = sent.iter().find(|r| r.path.ends_with("/GenerateToken")).unwrap();
    assert_eq!(
        first_generate.body,
        format!(
            r#"{{"accessLevel":"View","identities":[{{"username":"u1","roles":["R"],"datasets":["{dataset}"]}}]}}"#
        )
    );
    assert!(is_jwt(first_generate.header("authorization").unwrap().strip_prefix("Bearer ").unwrap()));
    assert!(first_generate.header("requestid").is_none());
}

#[tokio::test]
async fn wrong_secret_gets_entras_real_error() {
    let fake = FakeServices::start().await;
    let credential =
        ClientSecretCredential::new(fake.tenant_id(), fake.client_id(), "the secret's ID, not its value").unwrap();
    let aad = AadClient::builder(credential).authority_host(fake.authority_host()).build().unwrap();
    let err = aad.token().await.unwrap_err();
    let entra = err.as_entra().unwrap();
    assert_eq!(
        (entra.status, entra.error.as_str(), entra.error_codes.as_slice()),
        (401, "invalid_client", &[7000215][..])
    );
    assert!(entra.trace_id.is_some() && entra.correlation_id.is_some() && entra.timestamp.is_some());

    let unknown_tenant = ClientSecretCredential::new("contoso.onmicrosoft.com", fake.client_id(), "x").unwrap();
    let aad = AadClient::builder(unknown_tenant).authority_host(fake.authority_host()).build().unwrap();
    assert_eq!(aad.token().await.unwrap_err().as_entra().unwrap().error_codes, vec![90002]);
}

#[tokio::test]
async fn master_user_and_refresh_tokens() {
    let fake = FakeServices::builder()
        .user("embed@contoso.com", "pw")
        .access_token_lifetime(Duration::from_secs(2))
        .start()
        .await;
    let credential =
        UsernamePasswordCredential::new(fake.tenant_id(), fake.client_id(), "embed@contoso.com", "pw").unwrap();
    // The client's clock is a manual one: moving it is exact, where sleeping 1.1 s of real time
    // on a loaded machine could land anywhere.
    let clock = ManualClock::new(time::OffsetDateTime::now_utc());
    let aad = AadClient::builder(credential)
        .authority_host(fake.authority_host())
        .clock(std::sync::Arc::new(clock.clone()))
        .build()
        .unwrap();
    aad.token().await.unwrap();
    // Past half of the 2 s lifetime, a token valid for longer makes the client renew, with the
    // refresh token rather than the password.
    clock.advance(Duration::from_millis(1100));
    let valid_for_long = aad.token_valid_for(Duration::from_secs(3000)).await.unwrap();
    assert!(is_jwt(valid_for_long.secret().expose_secret()));
    let grants: Vec<String> = fake
        .requests()
        .iter()
        .map(|r| r.body.split('&').find(|f| f.starts_with("grant_type=")).unwrap().to_owned())
        .collect();
    assert_eq!(grants, ["grant_type=password", "grant_type=refresh_token"]);

    let wrong =
        UsernamePasswordCredential::new(fake.tenant_id(), fake.client_id(), "embed@contoso.com", "nope").unwrap();
    let aad = AadClient::builder(wrong).authority_host(fake.authority_host()).build().unwrap();
    assert_eq!(aad.token().await.unwrap_err().as_entra().unwrap().error_codes, vec![50126]);
}

#[tokio::test]
async fn powerbi_checks_the_bearer_token_and_the_items() {
    let fake = FakeServices::start().await;
    let forged = AadClient::new(StaticTokenCredential::new(
        "forged",
        time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    ))
    .unwrap();
    let client = PowerBiClient::builder(forged).api_base(fake.api_base()).build().unwrap();
    let err = client.workspace(fake.workspace_id()).report(fake.report_id()).get().await.unwrap_err();
    // As the live service: 403, an empty body, the reason only in X-PowerBI-Error-Info.
    let refused = err.as_power_bi().unwrap();
    assert_eq!(
        (refused.status, refused.code.as_deref(), refused.error_info.as_deref()),
        (403, None, Some("InvalidToken"))
    );
    assert!(err.request_id().is_some());

    let client = fake.powerbi_client();
    let missing = 0x00000000_0000_4000_8000_000000000404;
    let err = client.workspace(fake.workspace_id()).report(ReportId::from_u128(missing)).get().await.unwrap_err();
    assert_eq!((err.status(), err.as_power_bi().unwrap().code.as_deref()), (Some(404), Some("PowerBIEntityNotFound")));
    let err = client
        .workspace(WorkspaceId::from_u128(missing))
        .report(fake.report_id())
        .embed_token(&GenerateTokenRequest::report_view().build().unwrap())
        .await
        .unwrap_err();
    let refused = err.as_power_bi().unwrap();
    assert_eq!((refused.status, refused.error_info.as_deref()), (401, Some("GroupNotAccessible")));
    assert!(err.to_string().contains("not a member of the workspace"), "{err}");
}

#[tokio::test]
async fn embed_tokens_never_outlive_the_entra_token_or_the_requested_lifetime() {
    let fake = FakeServices::builder().embed_token_lifetime(Duration::from_secs(600)).start().await;
    let client = fake.powerbi_client();
    let now = time::OffsetDateTime::now_utc();
    let token = client
        .workspace(fake.workspace_id())
        .report(fake.report_id())
        .embed_token(&GenerateTokenRequest::report_view().lifetime_minutes(5).build().unwrap())
        .await
        .unwrap();
    // The fake reads its clock between `now` and `after` and cuts the expiry to whole seconds.
    let after = time::OffsetDateTime::now_utc();
    let expiration = token.expiration();
    assert!(expiration <= after + time::Duration::minutes(5), "{expiration} vs {after}");
    assert!(expiration > now + time::Duration::minutes(4), "{expiration} vs {now}");
    let token = client
        .workspace(fake.workspace_id())
        .report(fake.report_id())
        .embed_token(&GenerateTokenRequest::report_view().build().unwrap())
        .await
        .unwrap();
    let after = time::OffsetDateTime::now_utc();
    let expiration = token.expiration();
    assert!(expiration <= after + time::Duration::minutes(10), "{expiration} vs {after}");
    assert!(expiration > now + time::Duration::minutes(9), "{expiration} vs {now}");
}

/// Entra's access tokens are JWTs, and so are the fake's: `eyJ...` (a JSON header), three parts.
fn is_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.split('.').count() == 3
}

/// The fake's tokens carry the claims a diagnosis reads: the audience (the scope's resource),
/// tenant, app id and expiry; an app token has no roles or scopes.
#[tokio::test]
async fn the_fakes_entra_tokens_carry_the_claims_that_matter() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    let fake = FakeServices::start().await;
    let token = fake.aad_client().token().await.unwrap();
    let payload = token.secret().expose_secret().split('.').nth(1).unwrap().to_owned();
    let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["aud"], "https://analysis.windows.net/powerbi/api");
    assert_eq!(claims["tid"], fake.tenant_id());
    assert_eq!(claims["appid"], fake.client_id());
    assert_eq!(claims["iss"], format!("https://sts.windows.net/{}/", fake.tenant_id()));
    assert_eq!(claims["exp"].as_i64(), Some(token.expires_on().unix_timestamp()));
    assert!(claims.get("roles").is_none() && claims.get("scp").is_none(), "{claims}");
}
