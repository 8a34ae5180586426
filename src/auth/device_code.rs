//! Device code: the user signs in on another device (a browser on their phone or laptop) by
//! entering a short code, while this process polls Entra until they are done (RFC 8628).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::auth::credential::{EntraEndpoint, TokenCredential, TokenRequestContext};
use crate::auth::entra::{endpoint_url, entra_error, number_or_string, parse_token_reply, scope_field, token_url};
use crate::auth::entra::{ScopeStyle, TokenGrant, SERVICE};
use crate::auth::refresh_token::RefreshTokenSlot;
use crate::auth::token::AccessToken;
use crate::error::{CredentialErrorKind, Error, Result};
use crate::http::{parse_json, Idempotency};
use crate::ids::{validate_client_id, validate_tenant, Guid};
use crate::secret::Secret;

/// The grant type of a device-code poll (RFC 8628, section 3.4).
const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The poll interval when Entra does not send one (RFC 8628 says 5 s).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// What a `slow_down` answer adds to the poll interval (RFC 8628, section 3.5).
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// The error name in [`Error::Credential`].
const CREDENTIAL: &str = "device code";

/// What to show the user so they can sign in: open [`verification_uri`](Self::verification_uri)
/// and enter [`user_code`](Self::user_code), or just print [`message`](Self::message), which
/// says both in the user's language.
///
/// It holds nothing secret: the user code is useless without the device code, which never
/// leaves the credential.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceCodePrompt {
    /// The short code the user types, e.g. `ABCD-EFGH`.
    pub user_code: String,
    /// Where the user types it, e.g. `https://microsoft.com/devicelogin`.
    pub verification_uri: String,
    /// Entra's ready-made instruction naming the page and the code.
    pub message: String,
    /// When the credential stops waiting: the code's expiry, or the caller's
    /// [`timeout`](DeviceCodeCredential::timeout) if that comes first.
    pub expires_on: OffsetDateTime,
}

/// The callback that shows a [`DeviceCodePrompt`].
type PromptCallback = Arc<dyn Fn(&DeviceCodePrompt) + Send + Sync>;

/// Signs a user in with the device-code flow: Entra hands out a short code, a callback shows it
/// to the user, the user enters it at `https://microsoft.com/devicelogin` (on any device), and
/// the credential polls until they have signed in.
///
/// **For interactive tools and trials, not for servers.** It needs a person at hand each time
/// the refresh token stops working, so a backend that embeds Power BI for customers should use
/// a service principal ([`ClientSecretCredential`](crate::ClientSecretCredential)) or
/// [`ManagedIdentityCredential`](crate::ManagedIdentityCredential). The app registration needs
/// "Allow public client flows" enabled.
///
/// After the sign-in the credential keeps the refresh token and later token requests (a renewal,
/// another scope) redeem it, so the user is prompted again only when Entra stops accepting it.
/// Concurrent requests share one sign-in. The flow always uses Entra's v2.0 endpoints,
/// whatever [`EntraEndpoint`] the [`AadClient`](crate::AadClient) is set to, because the v1
/// device-code protocol differs.
///
/// ```no_run
/// use std::time::Duration;
/// use powerbi_embed::{AadClient, DeviceCodeCredential};
/// # async fn run() -> powerbi_embed::Result<()> {
/// let credential = DeviceCodeCredential::new(
///     "contoso.onmicrosoft.com",
///     "00000000-0000-0000-0000-000000000001",
///     |prompt| eprintln!("{}", prompt.message),
/// )?
/// .timeout(Duration::from_secs(300));
/// let aad = AadClient::new(credential)?;
/// let token = aad.token().await?; // prints the prompt, then waits for the user
/// # Ok(()) }
/// ```
pub struct DeviceCodeCredential {
    tenant_id: String,
    client_id: String,
    on_prompt: PromptCallback,
    timeout: Option<Duration>,
    refresh_token: RefreshTokenSlot,
    /// Held while a sign-in runs, so concurrent requests prompt the user once, not once each.
    sign_in: tokio::sync::Mutex<()>,
    /// Which user signs in is only known afterwards, so two credentials never share cached
    /// tokens: each has its own identity.
    instance: Guid,
}

impl fmt::Debug for DeviceCodeCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCodeCredential")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("timeout", &self.timeout)
            .field("refresh_token", &self.refresh_token)
            .finish_non_exhaustive()
    }
}

impl DeviceCodeCredential {
    /// A credential for the public client `client_id` in `tenant_id` (a GUID or a domain);
    /// `on_prompt` is called once per sign-in with what to show the user.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `tenant_id` or `client_id`.
    pub fn new(
        tenant_id: impl AsRef<str>,
        client_id: impl AsRef<str>,
        on_prompt: impl Fn(&DeviceCodePrompt) + Send + Sync + 'static,
    ) -> Result<Self> {
        Ok(Self {
            tenant_id: validate_tenant("tenant_id", tenant_id.as_ref())?,
            client_id: validate_client_id("client_id", client_id.as_ref())?,
            on_prompt: Arc::new(on_prompt),
            timeout: None,
            refresh_token: RefreshTokenSlot::default(),
            sign_in: tokio::sync::Mutex::new(()),
            instance: Guid::new_random(),
        })
    }

    /// Gives up waiting for the user after `timeout`, if that is sooner than the code's own
    /// expiry (15 minutes with Entra today).
    ///
    /// ```
    /// use std::time::Duration;
    /// use powerbi_embed::DeviceCodeCredential;
    /// let credential = DeviceCodeCredential::new(
    ///     "contoso.onmicrosoft.com",
    ///     "00000000-0000-0000-0000-000000000001",
    ///     |prompt| println!("{}", prompt.message),
    /// )
    /// .unwrap()
    /// .timeout(Duration::from_secs(120));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Redeems the kept refresh token, if there is one, within the client's `call_timeout`.
    async fn redeem(&self, ctx: &TokenRequestContext<'_>) -> Result<Option<AccessToken>> {
        ctx.http.bounded(SERVICE, self.refresh_token.redeem(ctx, &self.tenant_id, &self.client_id)).await
    }

    /// Runs the whole flow: request a code, show it, poll until the user is done.
    async fn sign_in(&self, ctx: &TokenRequestContext<'_>) -> Result<AccessToken> {
        let pending = ctx.http.bounded(SERVICE, self.request_code(ctx)).await?;
        (self.on_prompt)(&pending.prompt);
        let grant = self.wait_for_user(ctx, &pending).await?;
        Ok(self.refresh_token.keep(grant))
    }

    /// `POST /{tenant}/oauth2/v2.0/devicecode` with `client_id` and the user-flow scopes.
    async fn request_code(&self, ctx: &TokenRequestContext<'_>) -> Result<PendingSignIn> {
        let url = endpoint_url(ctx, &format!("{}/oauth2/v2.0/devicecode", self.tenant_id))?;
        let (scope_name, scope) = scope_field(ctx, ScopeStyle::User);
        let form = [("client_id", self.client_id.as_str()), (scope_name, scope.as_str())];
        let reply =
            ctx.http.execute(SERVICE, Idempotency::Idempotent, |client| client.post(url.clone()).form(&form)).await?;
        reply.reject_redirect(SERVICE)?;
        if !reply.is_success() {
            return Err(entra_error(&reply));
        }
        let body: DeviceCodeBody = parse_json(&reply, SERVICE, "device code response")?;
        body.into_pending(ctx.now(), self.timeout).map_err(|reason| reply.unexpected(SERVICE, reason))
    }

    /// Polls every `interval` until the user has signed in, declined, or time is up.
    async fn wait_for_user(&self, ctx: &TokenRequestContext<'_>, pending: &PendingSignIn) -> Result<TokenGrant> {
        let mut interval = pending.interval;
        loop {
            let remaining = pending.deadline - ctx.now();
            if !remaining.is_positive() {
                return Err(Error::credential(
                    CREDENTIAL,
                    CredentialErrorKind::TimedOut,
                    format!(
                        "the sign-in was not completed in time: the code {} was not entered at {} within {} s",
                        pending.prompt.user_code,
                        pending.prompt.verification_uri,
                        pending.patience.as_secs()
                    ),
                ));
            }
            // The last poll happens at the deadline rather than one interval past it.
            ctx.http.clock.sleep(interval.min(remaining.unsigned_abs())).await;
            match ctx.http.bounded(SERVICE, self.poll(ctx, &pending.device_code)).await {
                Ok(grant) => return Ok(grant),
                Err(Error::Entra(e)) if e.error == "authorization_pending" => {}
                Err(Error::Entra(e)) if e.error == "slow_down" => interval = interval.saturating_add(SLOW_DOWN_STEP),
                // expired_token, authorization_declined, bad_verification_code and the rest end it.
                Err(other) => return Err(other),
            }
        }
    }

    /// One poll of the token endpoint. Its form is exactly what RFC 8628 and MSAL send: no
    /// scope, since the device code already carries it.
    async fn poll(&self, ctx: &TokenRequestContext<'_>, device_code: &Secret) -> Result<TokenGrant> {
        let url = token_url(ctx, &self.tenant_id)?;
        let form = [
            ("client_id", self.client_id.as_str()),
            ("grant_type", DEVICE_CODE_GRANT),
            ("device_code", device_code.expose_secret()),
        ];
        let reply =
            ctx.http.execute(SERVICE, Idempotency::Idempotent, |client| client.post(url.clone()).form(&form)).await?;
        parse_token_reply(&reply, ctx.now())
    }
}

#[async_trait]
impl TokenCredential for DeviceCodeCredential {
    fn cache_identity(&self) -> String {
        format!("{}/{}/device-code/{}", self.tenant_id, self.client_id, self.instance)
    }

    async fn get_token(&self, ctx: &TokenRequestContext<'_>) -> Result<AccessToken> {
        let ctx = &v2(ctx);
        if let Some(token) = self.redeem(ctx).await? {
            return Ok(token);
        }
        let _signing_in = self.sign_in.lock().await;
        // A request that waited for another one's sign-in can use the refresh token it left.
        if let Some(token) = self.redeem(ctx).await? {
            return Ok(token);
        }
        self.sign_in(ctx).await
    }

    /// The sign-in waits for a person: the AadClient's per-call deadline does not apply. The
    /// wait is bounded by the code's expiry or [`timeout`](DeviceCodeCredential::timeout), and
    /// each request in it (the code, each poll, a refresh) by the client's `call_timeout`.
    fn waits_for_user(&self) -> bool {
        true
    }
}

/// The same request context, on the v2.0 endpoints.
fn v2<'a>(ctx: &TokenRequestContext<'a>) -> TokenRequestContext<'a> {
    TokenRequestContext { endpoint: EntraEndpoint::V2, ..*ctx }
}

/// A code the user has been shown, and how to wait for them.
struct PendingSignIn {
    device_code: Secret,
    interval: Duration,
    deadline: OffsetDateTime,
    /// How long the user was given, for the timeout message.
    patience: Duration,
    prompt: DeviceCodePrompt,
}

/// The devicecode endpoint's answer. Deliberately not `Debug`: it holds the device code.
#[derive(Deserialize)]
struct DeviceCodeBody {
    device_code: String,
    user_code: String,
    verification_uri: String,
    #[serde(default, deserialize_with = "number_or_string")]
    expires_in: Option<i64>,
    #[serde(default, deserialize_with = "number_or_string")]
    interval: Option<i64>,
    message: Option<String>,
}

impl DeviceCodeBody {
    /// Checks the answer and works out the deadline; the error is the reason it is unusable.
    fn into_pending(self, now: OffsetDateTime, timeout: Option<Duration>) -> Result<PendingSignIn, String> {
        if self.device_code.is_empty() || self.user_code.is_empty() || self.verification_uri.is_empty() {
            return Err("device code response has an empty device_code, user_code or verification_uri".into());
        }
        let lifetime = match self.expires_in {
            Some(seconds) if seconds > 0 => Duration::from_secs(seconds.unsigned_abs()),
            Some(seconds) => return Err(format!("expires_in of {seconds} s is not a plausible code lifetime")),
            None => return Err("device code response has no expires_in".into()),
        };
        let patience = timeout.map_or(lifetime, |t| t.min(lifetime));
        // Saturating: `expires_in` is whatever number the server sent (near i64::MAX seconds
        // included) and the timeout whatever the caller set; `+` would panic past year 9999.
        let deadline = now.saturating_add(crate::clock::saturating_time(patience));
        // A zero or negative interval would poll in a busy loop; one second is the floor.
        let interval = self.interval.map_or(DEFAULT_INTERVAL, |s| Duration::from_secs(s.max(1).unsigned_abs()));
        let message = self.message.filter(|m| !m.trim().is_empty()).unwrap_or_else(|| {
            format!("To sign in, open {} and enter the code {}.", self.verification_uri, self.user_code)
        });
        Ok(PendingSignIn {
            device_code: Secret::from(self.device_code),
            interval,
            deadline,
            patience,
            prompt: DeviceCodePrompt {
                user_code: self.user_code,
                verification_uri: self.verification_uri,
                message,
                expires_on: deadline,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn body(expires_in: Option<i64>, interval: Option<i64>, message: Option<&str>) -> DeviceCodeBody {
        DeviceCodeBody {
            device_code: "dc".into(),
            user_code: "ABCD-EFGH".into(),
            verification_uri: "https://microsoft.com/devicelogin".into(),
            expires_in,
            interval,
            message: message.map(str::to_owned),
        }
    }

    #[test]
    fn deadline_is_the_sooner_of_code_expiry_and_timeout() {
        let now = datetime!(2026-01-01 0:00 UTC);
        let pending = body(Some(900), Some(5), None).into_pending(now, None).unwrap();
        assert_eq!(pending.deadline, datetime!(2026-01-01 0:15 UTC));
        let pending = body(Some(900), Some(5), None).into_pending(now, Some(Duration::from_secs(60))).unwrap();
        assert_eq!(pending.deadline, datetime!(2026-01-01 0:01 UTC));
        assert_eq!(pending.prompt.expires_on, pending.deadline);
        let pending = body(Some(30), None, None).into_pending(now, Some(Duration::from_secs(60))).unwrap();
        assert_eq!(pending.deadline, datetime!(2026-01-01 0:00:30 UTC));
    }

    #[test]
    fn interval_defaults_to_five_seconds_and_never_drops_below_one() {
        let now = datetime!(2026-01-01 0:00 UTC);
        assert_eq!(body(Some(900), None, None).into_pending(now, None).unwrap().interval, Duration::from_secs(5));
        assert_eq!(body(Some(900), Some(0), None).into_pending(now, None).unwrap().interval, Duration::from_secs(1));
        assert_eq!(body(Some(900), Some(-3), None).into_pending(now, None).unwrap().interval, Duration::from_secs(1));
    }

    #[test]
    fn missing_message_is_composed_and_bad_lifetimes_are_refused() {
        let now = datetime!(2026-01-01 0:00 UTC);
        let pending = body(Some(900), None, Some("  ")).into_pending(now, None).unwrap();
        assert_eq!(
            pending.prompt.message,
            "To sign in, open https://microsoft.com/devicelogin and enter the code ABCD-EFGH."
        );
        assert!(body(None, None, None).into_pending(now, None).is_err());
        assert!(body(Some(0), None, None).into_pending(now, None).is_err());
    }
}
