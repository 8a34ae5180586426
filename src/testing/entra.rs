//! The fake Entra token endpoint.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;
use time::OffsetDateTime;
use wiremock::{Request, Respond, ResponseTemplate};

use super::state::FakeState;
use crate::ids::Guid;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub(crate) struct TokenEndpoint {
    state: Arc<FakeState>,
    base: String,
}

impl TokenEndpoint {
    pub fn new(state: Arc<FakeState>, base: String) -> Self {
        Self { state, base }
    }

    fn answer(&self, request: &Request) -> ResponseTemplate {
        let config = &self.state.config;
        let form: HashMap<String, String> = url::form_urlencoded::parse(&request.body).into_owned().collect();
        let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
        let tenant = request.url.path().split('/').nth(1).unwrap_or_default();
        if !tenant.eq_ignore_ascii_case(&config.tenant_id) {
            return error(400, "invalid_request", 90002, &format!("Tenant '{tenant}' not found."));
        }
        if field("client_id") != config.client_id {
            return error(400, "unauthorized_client", 700016, "Application not found in the directory.");
        }
        if field("scope").is_empty() && field("resource").is_empty() {
            return error(400, "invalid_request", 900144, "The request body must contain the parameter: 'scope'.");
        }
        let now = OffsetDateTime::now_utc();
        match field("grant_type") {
            "client_credentials" if form.contains_key("client_secret") => {
                if field("client_secret") == config.client_secret {
                    if config.fault == Some(super::FakeFault::ExpiredSecret) {
                        let message = format!(
                            "The provided client secret keys for app '{}' are expired. Visit the Azure portal to create new keys for your app.",
                            config.client_id
                        );
                        return error(401, "invalid_client", 7000222, &message);
                    }
                    self.token(request, now, false)
                } else {
                    error(401, "invalid_client", 7000215, "Invalid client secret provided.")
                }
            }
            "client_credentials" if field("client_assertion_type") == ASSERTION_TYPE => {
                if self.assertion_accepted(request, field("client_assertion")) {
                    self.token(request, now, false)
                } else {
                    error(401, "invalid_client", 700027, "Client assertion failed signature validation.")
                }
            }
            "client_credentials" => {
                error(401, "invalid_client", 7000216, "'client_assertion' or 'client_secret' is required.")
            }
            "password" => match &config.user {
                Some((user, password)) if field("username") == user && field("password") == password => {
                    self.token(request, now, true)
                }
                Some(_) => error(
                    400,
                    "invalid_grant",
                    50126,
                    "Error validating credentials due to invalid username or password.",
                ),
                None => error(
                    400,
                    "invalid_client",
                    7000218,
                    "The request body must contain 'client_assertion' or 'client_secret'.",
                ),
            },
            "refresh_token" if self.state.redeem_refresh_token(field("refresh_token")) => {
                self.token(request, now, true)
            }
            "refresh_token" => error(400, "invalid_grant", 700082, "The refresh token has expired due to inactivity."),
            other => error(
                400,
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{other}'."),
            ),
        }
    }

    /// A success answer as Entra writes it: numbers on the v2 endpoint; on the v1 endpoint
    /// (`/oauth2/token`) every number a string, with `expires_on`, `not_before` and `resource`
    /// (see tests/fixtures/live/entra/). User flows also get `scope` (v2) and a refresh token.
    fn token(&self, request: &Request, now: OffsetDateTime, with_refresh_token: bool) -> ResponseTemplate {
        let form: HashMap<String, String> = url::form_urlencoded::parse(&request.body).into_owned().collect();
        let v1 = !request.url.path().contains("/v2.0/");
        let (token, expires) = self.state.issue_jwt(now, self.claims(&form, v1, with_refresh_token));
        let expires_in = (expires - now).whole_seconds();
        let mut body = if v1 {
            json!({
                "token_type": "Bearer",
                "expires_in": expires_in.to_string(),
                "expires_on": expires.unix_timestamp().to_string(),
                "not_before": now.unix_timestamp().to_string(),
                "resource": form.get("resource").cloned().unwrap_or_default(),
                "access_token": token,
            })
        } else {
            json!({"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in, "access_token": token})
        };
        if with_refresh_token {
            if !v1 {
                body["scope"] = json!(form.get("scope").cloned().unwrap_or_default());
            }
            body["refresh_token"] = json!(self.state.issue_refresh_token());
        }
        ResponseTemplate::new(200).set_body_json(body)
    }

    /// The claims Entra puts in a v1 access token for the Power BI resource: audience (the
    /// resource, i.e. the scope without `/.default`), issuer, tenant, app id, and `roles` for an
    /// app or `scp` and `upn` for a user. The fake's app has no application permissions (Power
    /// BI authorizes service principals by workspace membership), so no `roles`.
    fn claims(
        &self,
        form: &HashMap<String, String>,
        v1: bool,
        user: bool,
    ) -> serde_json::Map<String, serde_json::Value> {
        let config = &self.state.config;
        let audience = if v1 {
            form.get("resource").cloned().unwrap_or_default()
        } else {
            let scope = form.get("scope").map(String::as_str).unwrap_or_default();
            let first = scope.split(' ').find(|s| !s.ends_with("offline_access") && *s != "openid" && *s != "profile");
            first.unwrap_or_default().trim_end_matches("/.default").to_owned()
        };
        // The `wrong-audience` fault: a token for Microsoft Graph, as when an app asks for the
        // wrong scope.
        let audience = if config.fault == Some(super::FakeFault::WrongAudience) {
            "https://graph.microsoft.com".to_owned()
        } else {
            audience
        };
        let mut claims = serde_json::Map::new();
        claims.insert("aud".into(), audience.into());
        claims.insert("iss".into(), format!("https://sts.windows.net/{}/", config.tenant_id).into());
        claims.insert("tid".into(), config.tenant_id.clone().into());
        claims.insert("appid".into(), config.client_id.clone().into());
        claims.insert("ver".into(), "1.0".into());
        if user {
            claims.insert("scp".into(), "Dataset.Read.All Report.Read.All Workspace.Read.All".into());
            if let Some((username, _)) = &config.user {
                claims.insert("upn".into(), username.clone().into());
            }
        } else {
            claims.insert("idtyp".into(), "app".into());
        }
        claims
    }

    /// An exact configured assertion, or a JWT whose claims name this app and this endpoint.
    fn assertion_accepted(&self, request: &Request, assertion: &str) -> bool {
        match &self.state.config.assertions {
            None => false,
            Some(Some(exact)) => assertion == exact,
            Some(None) => {
                let audience = format!("{}{}", self.base, request.url.path());
                crate::auth::jwt::unverified_claims::<serde_json::Value>(assertion).is_some_and(|claims| {
                    let client = self.state.config.client_id.as_str();
                    claims["iss"] == client && claims["sub"] == client && claims["aud"] == audience.as_str()
                })
            }
        }
    }
}

impl Respond for TokenEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.state.record("entra", request);
        self.answer(request)
    }
}

/// Entra's error body, with fresh trace and correlation ids.
fn error(status: u16, error: &str, code: i64, message: &str) -> ResponseTemplate {
    let trace_id = Guid::new_random().to_string();
    let correlation_id = Guid::new_random().to_string();
    let timestamp = OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        timestamp.year(),
        u8::from(timestamp.month()),
        timestamp.day(),
        timestamp.hour(),
        timestamp.minute(),
        timestamp.second()
    );
    ResponseTemplate::new(status).set_body_json(json!({
        "error": error,
        // Entra separates the ids from the message with CRLF.
        "error_description": format!("AADSTS{code}: {message}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {stamp}"),
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": "https://login.microsoftonline.com/error?code=".to_owned() + &code.to_string(),
    }))
}
