//! `Error::hint()` tells the causes of a refused Power BI call apart, one test per cause, each
//! with the exact hint text. Where a recorded live answer exists (`tests/fixtures/live/`, sources
//! in its `SOURCES.md`) it is replayed byte for byte; the other causes are answered by a strict
//! fake in the shape the sources describe (each says which).
//!
//! Live, an expired or unreadable Entra token gets **403** and no access to the item or tenant
//! gets **401**; the `X-PowerBI-Error-Info` header usually names the reason.

use std::path::PathBuf;

use powerbi_embed::{AadClient, Error, GenerateTokenRequest, PowerBiClient, RetryPolicy, StaticTokenCredential};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::support::ids::{REPORT, WORKSPACE};
use crate::support::strict_server;

const TOKEN: &str = "entra-token-for-the-hint-tests";

/// A recorded answer (`HTTP/1.1 <status> <reason>`, headers, blank line, body) as a template.
fn recorded(name: &str) -> ResponseTemplate {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/live/powerbi-errors").join(name);
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let (head, body) = text.split_once("\n\n").unwrap_or((text.as_str(), ""));
    let mut lines = head.lines();
    let status: u16 =
        lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("a status line");
    let mut template = ResponseTemplate::new(status).set_body_bytes(body.strip_suffix('\n').unwrap_or(body));
    for line in lines {
        let (name, value) = line.split_once(':').expect("Name: value");
        if !name.trim().eq_ignore_ascii_case("content-length") {
            template = template.append_header(name.trim(), value.trim());
        }
    }
    template
}

/// The error a GenerateToken call meets when Power BI answers `answer` (once, exactly).
async fn generate_token_error(answer: ResponseTemplate) -> Error {
    let server = strict_server().await;
    Mock::given(method("POST"))
        .and(path(format!("/v1.0/myorg/groups/{WORKSPACE}/reports/{REPORT}/GenerateToken")))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(answer)
        .expect(1)
        .mount(&server)
        .await;
    let aad = AadClient::builder(StaticTokenCredential::new(
        TOKEN,
        time::OffsetDateTime::now_utc() + time::Duration::hours(2),
    ))
    .build()
    .unwrap();
    let client = PowerBiClient::builder(aad).api_base(server.uri()).retry_policy(RetryPolicy::none()).build().unwrap();
    let request = GenerateTokenRequest::report_view().build().unwrap();
    let err = client.workspace(WORKSPACE).report(REPORT).embed_token(&request).await.map(|_| ()).unwrap_err();
    assert!(err.as_power_bi().is_some(), "{err:?}");
    err
}

async fn hint_for(answer: ResponseTemplate) -> String {
    let err = generate_token_error(answer).await;
    let hint = err.hint().unwrap_or_else(|| panic!("no hint for {err}"));
    assert!(err.to_string().contains(hint), "Display carries the hint: {err}");
    hint.to_owned()
}

#[tokio::test]
async fn an_expired_token_in_the_header_of_a_403() {
    assert_eq!(
        hint_for(recorded("403-token-expired.empty.http")).await,
        "the Entra access token has expired: request a new one (the client retries once with a new token by itself; if this persists, check this machine's clock)"
    );
}

#[tokio::test]
async fn an_expired_token_in_the_body_of_a_403() {
    assert_eq!(
        hint_for(recorded("403-token-expired.body.learn-troubleshoot.http")).await,
        "the Entra access token has expired: request a new one (the client retries once with a new token by itself; if this persists, check this machine's clock)"
    );
}

#[tokio::test]
async fn an_invalid_token() {
    assert_eq!(
        hint_for(recorded("403-invalid-token.empty.http")).await,
        "Power BI could not accept the Entra access token: request it for the Power BI scope of the same cloud (e.g. https://analysis.windows.net/powerbi/api/.default), not for another resource"
    );
}

#[tokio::test]
async fn the_tenant_switch_for_service_principals_is_off() {
    assert_eq!(
        hint_for(recorded("401-tenant-switch.empty.fabric-community-4010790.http")).await,
        "the tenant setting 'Service principals can use Fabric APIs' is off, or this service principal is not in the security group it allows"
    );
}

#[tokio::test]
async fn not_a_member_of_the_workspace() {
    assert_eq!(
        hint_for(recorded("401-group-not-accessible.empty.http")).await,
        "this identity is not a member of the workspace: add the service principal (or master user) as Member or Admin"
    );
}

#[tokio::test]
async fn no_access_to_the_item_or_tenant_without_a_reason() {
    assert_eq!(
        hint_for(recorded("401-pbi-error-no-message.issue-powerbi-docs-1109.http")).await,
        "this identity has no access to the item or the tenant: add the service principal (or master user) to the workspace as Member or Admin, and check that the tenant setting 'Service principals can use Fabric APIs' is on"
    );
}

#[tokio::test]
async fn the_master_user_is_not_licensed() {
    assert_eq!(
        hint_for(recorded("404-user-not-licensed.empty.http")).await,
        "the master user has no Power BI Pro or Premium Per User licence"
    );
}

/// No recording of a paused capacity's answer was found. Learn's troubleshooting page lists
/// "capacity paused or deleted" among the 403s of GenerateToken; the fake names it in the header
/// as the other header-only answers do. The text form ("... capacity ... paused") is matched too.
#[tokio::test]
async fn the_capacity_is_paused() {
    const PAUSED: &str = "the workspace's capacity is paused or not active: resume it in the Azure portal, or assign the workspace to a running capacity";
    let header_only = ResponseTemplate::new(403).insert_header("X-PowerBI-Error-Info", "CapacityNotActive");
    assert_eq!(hint_for(header_only).await, PAUSED);
    let text = ResponseTemplate::new(403)
        .set_body_json(json!({"error": {"code": "Forbidden", "message": "The capacity of this workspace is paused"}}));
    assert_eq!(hint_for(text).await, PAUSED);
}

/// The wording of Learn's troubleshooting page (and MicrosoftDocs/powerbi-docs issue #4934):
/// "The user has exceeded the amount of embed token that can be generated on a shared capacity".
#[tokio::test]
async fn the_capacity_is_over_its_embed_token_limit() {
    let answer = ResponseTemplate::new(403).set_body_json(json!({"error": {"code": "Forbidden", "message": "The user has exceeded the amount of embed token that can be generated on a shared capacity"}}));
    assert_eq!(
        hint_for(answer).await,
        "the capacity's embed-token quota is used up: cache and reuse embed tokens, or move the workspace to a capacity"
    );
}

#[tokio::test]
async fn an_identity_is_required() {
    assert_eq!(
        hint_for(recorded("400-requires-identity.reconstructed.http")).await,
        "this dataset uses row-level security: add an effective identity (username, roles)"
    );
}

#[tokio::test]
async fn roles_are_required() {
    assert_eq!(
        hint_for(recorded("400-requires-roles.reconstructed.http")).await,
        "this dataset's row-level security needs roles: add the role names to the effective identity"
    );
}

#[tokio::test]
async fn an_identity_is_not_allowed() {
    assert_eq!(
        hint_for(recorded("400-shouldnt-have-identity.reconstructed.http")).await,
        "this dataset has no row-level security: remove the effective identities"
    );
}

#[tokio::test]
async fn the_entity_is_not_found() {
    assert_eq!(
        hint_for(recorded("404-entity-not-found.issue-devscope-66.http")).await,
        "not found: no such report, dataset or workspace for this identity; check the ids and that the item belongs to this workspace"
    );
}

/// A bare 404 (no code, no header): what a service principal meets on "My workspace", which it
/// cannot reach.
#[tokio::test]
async fn a_bare_not_found_points_at_my_workspace() {
    assert_eq!(
        hint_for(ResponseTemplate::new(404)).await,
        "the workspace or item was not found: check the ids, and use a shared workspace: a service principal cannot reach 'My workspace'"
    );
}

#[tokio::test]
async fn a_bare_forbidden_lists_its_causes() {
    assert_eq!(
        hint_for(ResponseTemplate::new(403)).await,
        "Power BI refused the call: check that this identity is a member (Member or Admin) of the workspace, that the Entra token has not expired and that the workspace's capacity is running"
    );
}

#[tokio::test]
async fn a_claims_challenge() {
    assert_eq!(
        hint_for(recorded("401-claims-challenge.synthetic.http")).await,
        "a Conditional Access policy wants a new token that meets the claims in WWW-Authenticate: sign in again"
    );
}

#[tokio::test]
async fn throttled() {
    assert_eq!(
        hint_for(recorded("429-message.issue-pbimonitor-58.http")).await,
        "throttled by Power BI: slow down, cache embed tokens"
    );
}
