//! The Entra token endpoint on the wire: the form post, the success body (v2 numbers, v1
//! strings) and the error body.

use std::sync::Arc;

use serde::Deserialize;
use time::OffsetDateTime;
use url::Url;

use crate::auth::credential::{EntraEndpoint, TokenRequestContext};
use crate::auth::token::AccessToken;
use crate::error::{EntraError, Error, Result};
use crate::http::{parse_json, Idempotency, Reply};
use crate::secret::Secret;

pub(crate) const SERVICE: &str = "Entra ID";

/// Longest token lifetime accepted; anything above is a broken response, not a long token.
const MAX_LIFETIME_SECS: i64 = 7 * 24 * 3600;

/// The scopes user flows add so Entra returns a refresh token (as MSAL does).
pub(crate) const USER_FLOW_EXTRA_SCOPES: &str = "offline_access openid profile";

/// The token endpoint for `tenant`.
pub(crate) fn token_url(ctx: &TokenRequestContext<'_>, tenant: &str) -> Result<Url> {
    let path = match ctx.endpoint {
        EntraEndpoint::V2 => format!("{tenant}/oauth2/v2.0/token"),
        EntraEndpoint::V1 => format!("{tenant}/oauth2/token"),
    };
    endpoint_url(ctx, &path)
}

pub(crate) fn endpoint_url(ctx: &TokenRequestContext<'_>, path: &str) -> Result<Url> {
    ctx.authority_host.join(path).map_err(|e| Error::invalid("authority_host", format!("cannot form {path}: {e}")))
}

/// What a successful token response carries.
#[derive(Debug)]
pub(crate) struct TokenGrant {
    pub access_token: AccessToken,
    pub refresh_token: Option<Secret>,
}

/// How the requested scopes go into the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScopeStyle {
    /// App-only grants: just the requested scopes.
    App,
    /// User grants: the requested scopes plus `offline_access openid profile`.
    User,
}

/// Posts a token request. `fields` are the grant's own fields; `client_id` and the scope (or
/// `resource` on v1) are added here.
pub(crate) async fn request_token(
    ctx: &TokenRequestContext<'_>,
    tenant: &str,
    client_id: &str,
    scope_style: ScopeStyle,
    fields: &[(&str, &str)],
) -> Result<TokenGrant> {
    let url = token_url(ctx, tenant)?;
    let scope_field = scope_field(ctx, scope_style);
    let mut form: Vec<(&str, &str)> = Vec::with_capacity(fields.len() + 2);
    form.push(("client_id", client_id));
    form.extend_from_slice(fields);
    form.push((scope_field.0, &scope_field.1));
    let reply =
        ctx.http.execute(SERVICE, Idempotency::Idempotent, |client| client.post(url.clone()).form(&form)).await?;
    parse_token_reply(&reply, ctx.now())
}

/// `("scope", "a b")` on v2, `("resource", "https://...")` on v1.
pub(crate) fn scope_field(ctx: &TokenRequestContext<'_>, style: ScopeStyle) -> (&'static str, String) {
    match ctx.endpoint {
        EntraEndpoint::V1 => ("resource", ctx.resource().to_owned()),
        EntraEndpoint::V2 => {
            let mut scope = ctx.scopes.join(" ");
            if style == ScopeStyle::User {
                scope.push(' ');
                scope.push_str(USER_FLOW_EXTRA_SCOPES);
            }
            ("scope", scope)
        }
    }
}

#[derive(Deserialize)]
struct SuccessBody {
    access_token: Option<String>,
    token_type: Option<String>,
    #[serde(default, deserialize_with = "number_or_string")]
    expires_in: Option<i64>,
    #[serde(default, deserialize_with = "number_or_string")]
    expires_on: Option<i64>,
    #[serde(default, deserialize_with = "number_or_string")]
    refresh_in: Option<i64>,
    refresh_token: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct ErrorBody {
    pub error: String,
    pub error_description: Option<String>,
    #[serde(default)]
    pub error_codes: Vec<i64>,
    pub timestamp: Option<String>,
    pub trace_id: Option<String>,
    pub correlation_id: Option<String>,
    pub suberror: Option<String>,
    pub error_uri: Option<String>,
}

/// Reads a token-endpoint reply: a grant, an [`EntraError`], or an unexpected response.
pub(crate) fn parse_token_reply(reply: &Reply, now: OffsetDateTime) -> Result<TokenGrant> {
    reply.reject_redirect(SERVICE)?;
    if !reply.is_success() {
        return Err(entra_error(reply));
    }
    let body: SuccessBody = parse_json(reply, SERVICE, "token response")?;
    let token = bearer_token(reply, SERVICE, body.access_token, body.token_type.as_deref())?;
    let expires_on = expiry(reply, SERVICE, now, body.expires_in, body.expires_on)?;
    let mut access_token = AccessToken::new(token, expires_on);
    // A hint beyond any plausible lifetime is ignored (it could not move renewal earlier than
    // expiry anyway, and adding it to `now` could overflow the date range).
    let refresh_in = body.refresh_in.filter(|s| *s > 0 && *s <= MAX_LIFETIME_SECS);
    if let Some(refresh_on) = refresh_in.and_then(|s| now.checked_add(time::Duration::seconds(s))) {
        access_token = access_token.with_refresh_on(refresh_on);
    }
    Ok(TokenGrant { access_token, refresh_token: body.refresh_token.filter(|t| !t.is_empty()).map(Secret::from) })
}

/// Why a token that cannot go into an `Authorization` header is refused (the token is not
/// quoted).
pub(crate) const NOT_A_HEADER_VALUE: &str =
    "access_token cannot be sent in an HTTP header (it holds a control character such as CR or LF)";

/// Whether `Bearer <token>` is a valid header value. Checked when a token arrives, so a token
/// that every later request would fail to send is never cached.
pub(crate) fn is_header_safe(token: &str) -> bool {
    reqwest::header::HeaderValue::from_str(token).is_ok()
}

/// The access token of a success body, refusing an empty one, one that cannot be a header
/// value, or a type other than Bearer.
pub(crate) fn bearer_token(
    reply: &Reply,
    service: &'static str,
    access_token: Option<String>,
    token_type: Option<&str>,
) -> Result<String> {
    let token = access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| reply.unexpected(service, "token response has no access_token"))?;
    if !is_header_safe(&token) {
        return Err(reply.unexpected(service, NOT_A_HEADER_VALUE));
    }
    match token_type {
        // The value itself is not echoed: body strings are elided from errors.
        Some(kind) if !kind.eq_ignore_ascii_case("bearer") => {
            Err(reply.unexpected(service, "token_type is not Bearer"))
        }
        _ => Ok(token),
    }
}

/// The expiry from `expires_in` (seconds from now) or, failing that, `expires_on` (epoch
/// seconds), refusing values that cannot be right.
pub(crate) fn expiry(
    reply: &Reply,
    service: &'static str,
    now: OffsetDateTime,
    expires_in: Option<i64>,
    expires_on: Option<i64>,
) -> Result<OffsetDateTime> {
    let expires_on = match (expires_in, expires_on) {
        (Some(seconds), _) => {
            if seconds <= 0 || seconds > MAX_LIFETIME_SECS {
                return Err(
                    reply.unexpected(service, format!("expires_in of {seconds} s is not a plausible token lifetime"))
                );
            }
            // Checked: a clock at the end of the calendar (year 9999) cannot hold a later time.
            now.checked_add(time::Duration::seconds(seconds))
                .ok_or_else(|| reply.unexpected(service, "the token's expiry is past the end of the calendar"))?
        }
        (None, Some(epoch)) => OffsetDateTime::from_unix_timestamp(epoch)
            .map_err(|_| reply.unexpected(service, format!("expires_on {epoch} is not a valid time")))?,
        (None, None) => return Err(reply.unexpected(service, "token response has neither expires_in nor expires_on")),
    };
    if expires_on <= now {
        return Err(reply.unexpected(service, "the token has already expired"));
    }
    if expires_on - now > time::Duration::seconds(MAX_LIFETIME_SECS) {
        return Err(reply.unexpected(service, "the token's expiry is implausibly far away"));
    }
    Ok(expires_on)
}

/// An [`EntraError`] from an error reply, or an unexpected-response error if the body is not
/// Entra's error shape.
pub(crate) fn entra_error(reply: &Reply) -> Error {
    match serde_json::from_slice::<ErrorBody>(&reply.body) {
        Ok(body) => Error::Entra(Arc::new(EntraError {
            status: reply.status,
            error: body.error,
            error_description: body.error_description,
            error_codes: body.error_codes,
            timestamp: body.timestamp,
            trace_id: body.trace_id,
            correlation_id: body.correlation_id,
            suberror: body.suberror,
            error_uri: body.error_uri,
        })),
        Err(_) => reply.unexpected(SERVICE, "error status without an OAuth error body"),
    }
}

/// Entra's v2 endpoint sends numbers, its v1 endpoint and managed identity send them as strings.
pub(crate) fn number_or_string<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrString {
        Number(i64),
        Text(String),
    }
    match Option::<NumberOrString>::deserialize(deserializer)? {
        None => Ok(None),
        Some(NumberOrString::Number(n)) => Ok(Some(n)),
        Some(NumberOrString::Text(text)) => {
            text.trim().parse().map(Some).map_err(|_| serde::de::Error::custom("expected a number of seconds"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn reply(body: &str) -> Reply {
        Reply::json(200, body)
    }

    #[test]
    fn refresh_in_is_kept_when_sensible_and_ignored_when_out_of_range() {
        let now = datetime!(2026-11-23 12:00 UTC);
        let sensible = r#"{"token_type":"Bearer","expires_in":3600,"refresh_in":1800,"access_token":"a"}"#;
        let grant = parse_token_reply(&reply(sensible), now).unwrap();
        assert_eq!(grant.access_token.refresh_on(), Some(datetime!(2026-11-23 12:30 UTC)));
        let absurd =
            format!(r#"{{"token_type":"Bearer","expires_in":3600,"refresh_in":{},"access_token":"a"}}"#, i64::MAX);
        let grant = parse_token_reply(&reply(&absurd), now).unwrap();
        assert_eq!(grant.access_token.refresh_on(), None);
        assert_eq!(grant.access_token.expires_on(), datetime!(2026-11-23 13:00 UTC));
    }
}
