//! What the fake remembers: its configuration, the tokens it issued, the requests it saw.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use time::OffsetDateTime;

use crate::auth::jwt::base64url;

use crate::ids::{DashboardId, DatasetId, Guid, ReportId, TileId, WorkspaceId};

/// The items the fake Power BI serves.
#[derive(Debug, Clone)]
pub struct FakeItems {
    /// The workspace (group) id.
    pub workspace_id: WorkspaceId,
    /// A report in it.
    pub report_id: ReportId,
    /// The report's dataset.
    pub dataset_id: DatasetId,
    /// A dashboard.
    pub dashboard_id: DashboardId,
    /// A tile on the dashboard.
    pub tile_id: TileId,
}

impl Default for FakeItems {
    fn default() -> Self {
        Self {
            workspace_id: WorkspaceId::from_u128(0xf089354e_8366_4e18_aea3_4cb4a3a50b48),
            report_id: ReportId::from_u128(0x5b218778_e7a5_4d73_8187_f10824047715),
            dataset_id: DatasetId::from_u128(0xcfafbeb1_8037_4d0c_896e_a46fb27ff229),
            dashboard_id: DashboardId::from_u128(0x69ffaa6c_b36d_4d01_96f5_1ed67c64d4af),
            tile_id: TileId::from_u128(0x312fbfe9_2eda_44e0_9ed0_ab5dc571bb4b),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct FakeConfig {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub user: Option<(String, String)>,
    pub assertions: Option<Option<String>>,
    pub access_token_lifetime: Duration,
    pub embed_token_lifetime: Duration,
    pub items: FakeItems,
    pub fault: Option<super::FakeFault>,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
            client_id: "00000000-0000-4000-8000-0000000fa4e0".into(),
            client_secret: "fake-client-secret".into(),
            user: None,
            assertions: None,
            access_token_lifetime: Duration::from_secs(3600),
            embed_token_lifetime: Duration::from_secs(3600),
            items: FakeItems::default(),
            fault: None,
        }
    }
}

/// A request one of the fakes received.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// `entra` or `powerbi`.
    pub service: &'static str,
    /// The HTTP method.
    pub method: String,
    /// The path, e.g. `/v1.0/myorg/groups/{g}/reports/{r}/GenerateToken`.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// Headers as (lowercase name, value); `authorization` values are kept, since a test may
    /// need to check which token was sent (these are the fake's tokens, not real ones).
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl RecordedRequest {
    /// The value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}

/// What the fake Power BI makes of a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenState {
    /// Issued by the fake Entra, valid until the given time.
    Valid(OffsetDateTime),
    /// Issued by the fake Entra, but expired.
    Expired,
    /// Not a token the fake Entra issued.
    Unknown,
}

#[derive(Debug)]
pub(crate) struct FakeState {
    pub config: FakeConfig,
    /// Access tokens issued, with their expiry.
    access_tokens: Mutex<HashMap<String, OffsetDateTime>>,
    /// Refresh tokens issued for the master user.
    refresh_tokens: Mutex<Vec<String>>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// Profiles, their workspaces and content (issue 19).
    pub tenancy: super::tenancy::Tenancy,
}

impl FakeState {
    pub fn new(config: FakeConfig) -> Self {
        Self {
            config,
            access_tokens: Mutex::default(),
            refresh_tokens: Mutex::default(),
            requests: Mutex::default(),
            tenancy: Default::default(),
        }
    }

    pub fn record(&self, service: &'static str, request: &wiremock::Request) {
        let recorded = RecordedRequest {
            service,
            method: request.method.to_string(),
            path: request.url.path().to_owned(),
            query: request.url.query().map(str::to_owned),
            headers: request
                .headers
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
                .collect(),
            body: String::from_utf8_lossy(&request.body).into_owned(),
        };
        lock(&self.requests).push(recorded);
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).clone()
    }

    #[cfg(test)]
    pub fn issue_access_token(&self, now: OffsetDateTime) -> (String, OffsetDateTime) {
        self.issue_jwt(now, serde_json::Map::new())
    }

    /// An access token shaped as Entra's are: a JWT whose claims are `claims` plus `iat`,
    /// `nbf` and `exp`, so tools that read a token's claims (audience, app id, roles, expiry)
    /// work on the fake. Its signature part is random: nothing verifies it but this fake.
    pub fn issue_jwt(
        &self,
        now: OffsetDateTime,
        mut claims: serde_json::Map<String, serde_json::Value>,
    ) -> (String, OffsetDateTime) {
        let expires = now + self.config.access_token_lifetime;
        claims.insert("iat".into(), now.unix_timestamp().into());
        claims.insert("nbf".into(), now.unix_timestamp().into());
        claims.insert("exp".into(), expires.unix_timestamp().into());
        let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "kid": "fake-entra-key"});
        let token = format!(
            "{}.{}.{}",
            base64url(header.to_string().as_bytes()),
            base64url(serde_json::Value::Object(claims).to_string().as_bytes()),
            base64url(format!("fake-entra-{}", Guid::new_random()).as_bytes()),
        );
        lock(&self.access_tokens).insert(token.clone(), expires);
        (token, expires)
    }

    /// Whether a bearer token is one this fake issued, and still valid.
    pub fn access_token_state(&self, token: &str, now: OffsetDateTime) -> TokenState {
        match lock(&self.access_tokens).get(token).copied() {
            Some(expires) if expires > now => TokenState::Valid(expires),
            Some(_) => TokenState::Expired,
            None => TokenState::Unknown,
        }
    }

    pub fn issue_refresh_token(&self) -> String {
        let token = format!("fake-refresh-{}", Guid::new_random());
        lock(&self.refresh_tokens).push(token.clone());
        token
    }

    pub fn redeem_refresh_token(&self, token: &str) -> bool {
        let mut tokens = lock(&self.refresh_tokens);
        let known = tokens.iter().position(|t| t == token);
        known.map(|i| tokens.remove(i)).is_some()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_valid_until_they_expire_and_unknown_otherwise() {
        let state = FakeState::new(FakeConfig::default());
        let now = time::macros::datetime!(2026-11-23 12:00 UTC);
        let (token, expires) = state.issue_access_token(now);
        assert_eq!(expires, now + time::Duration::hours(1));
        assert_eq!(state.access_token_state(&token, now), TokenState::Valid(expires));
        assert_eq!(state.access_token_state(&token, expires), TokenState::Expired);
        assert_eq!(state.access_token_state("forged", now), TokenState::Unknown);
        assert_eq!(token.split('.').count(), 3, "a JWT");
    }

    #[test]
    fn the_fakes_tokens_are_jwts_whose_claims_read_back() {
        let state = FakeState::new(FakeConfig::default());
        let (token, _) = state.issue_access_token(time::macros::datetime!(2026-11-23 12:00 UTC));
        assert!(!token.contains('=') && !token.contains('+') && !token.contains('/'), "unpadded base64url: {token}");
        let claims: serde_json::Value = crate::auth::jwt::unverified_claims(&token).unwrap();
        assert_eq!(claims["exp"], json_time(time::macros::datetime!(2026-11-23 13:00 UTC)));
        assert_eq!(claims["iat"], json_time(time::macros::datetime!(2026-11-23 12:00 UTC)));
    }

    fn json_time(at: OffsetDateTime) -> serde_json::Value {
        at.unix_timestamp().into()
    }
}
