//! Credentials that change while the store runs: an Entra ID token for Redis (Azure Cache for
//! Redis, Azure Managed Redis), or a password read from a provider (an access key rotated in Key
//! Vault). Handed to the redis crate as a `StreamingCredentialsProvider`: each new connection
//! authenticates with the current value, and every live connection re-authenticates (`AUTH`)
//! when a new value is published, which happens before the old token expires.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ::redis::{BasicAuth, ErrorKind, RedisError, RedisResult, StreamingCredentialsProvider};
use futures_util::Stream;
use tokio::sync::{watch, Mutex};
use tokio::time::Instant;

use crate::auth::AadClient;
use crate::cache::store::{StoreError, StoreErrorKind};
use crate::ids::Guid;
use crate::secret::Secret;

/// The scope of a token for Azure Cache for Redis and Azure Managed Redis.
pub(super) const REDIS_SCOPE: &str = "https://redis.azure.com/.default";

/// How long before a token expires it is replaced (at most; half the remaining life when that
/// is shorter), so every connection re-authenticates well before the server would close it.
const RENEW_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// The shortest pause between two renewals, so a token that is renewed into another short one
/// never turns the loop into a busy one.
const MIN_RENEWAL_PAUSE: Duration = Duration::from_secs(1);

/// The longest pause between two attempts after a failure.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(30);

/// A password provider: called for a fresh value.
pub(super) type PasswordProvider =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<Secret, StoreError>> + Send>> + Send + Sync>;

/// Where credentials come from.
#[derive(Clone)]
pub(super) enum Source {
    /// A password (static or from a provider), checked again every `refresh_every`.
    Password { username: Option<String>, provider: PasswordProvider, refresh_every: Duration },
    /// An Entra token for [`REDIS_SCOPE`]; the user name is the given one, or the token's `oid`.
    Entra { aad: AadClient, username: Option<String> },
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Password { username, refresh_every, .. } => f
                .debug_struct("Password")
                .field("username", username)
                .field("password", &"[redacted]")
                .field("refresh_every", refresh_every)
                .finish(),
            Source::Entra { username, .. } => {
                f.debug_struct("EntraId").field("scope", &REDIS_SCOPE).field("username", username).finish()
            }
        }
    }
}

/// The value connections authenticate with, and when to look for a new one.
#[derive(Clone)]
struct Current {
    username: String,
    password: Secret,
    renew_at: Instant,
}

/// The credential feed of one store.
pub(super) struct Feed {
    source: Source,
    current: watch::Sender<Option<Current>>,
    /// One fetch at a time (new connections and the renewal task share it).
    fetching: Mutex<()>,
    /// How long a new connection waits for a first value before giving up (the connection is
    /// then retried like any other failed one).
    first_wait: Duration,
    /// Whether the last fetch failed, so a failing source logs one warning, not one per try.
    failing: std::sync::atomic::AtomicBool,
}

impl fmt::Debug for Feed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Feed").field("source", &self.source).finish_non_exhaustive()
    }
}

impl Feed {
    pub fn new(source: Source, first_wait: Duration) -> Arc<Self> {
        Arc::new(Self {
            source,
            current: watch::Sender::new(None),
            fetching: Mutex::new(()),
            first_wait,
            failing: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Keeps the credentials fresh until aborted: renews at each value's renewal point, retries
    /// failures with a growing pause (the current value stays in use meanwhile).
    pub async fn renew_forever(self: Arc<Self>) {
        let mut pause = MIN_RENEWAL_PAUSE;
        loop {
            let renew_at = self.current.borrow().as_ref().map(|c| c.renew_at);
            if let Some(at) = renew_at {
                tokio::time::sleep_until(at).await;
            }
            match self.refresh().await {
                Ok(_) => pause = MIN_RENEWAL_PAUSE,
                Err(_) => {
                    tokio::time::sleep(pause).await;
                    pause = pause.saturating_mul(2).min(MAX_RETRY_PAUSE);
                }
            }
        }
    }

    /// The current value if it is not due for renewal, else a new one (published to every
    /// connection).
    async fn refresh(&self) -> Result<BasicAuth, StoreError> {
        let _one_at_a_time = self.fetching.lock().await;
        if let Some(current) = self.current.borrow().as_ref() {
            if Instant::now() < current.renew_at {
                return Ok(auth(current));
            }
        }
        match self.fetch().await {
            Ok(fresh) => {
                if self.failing.swap(false, std::sync::atomic::Ordering::Relaxed) {
                    tracing::info!(source = ?self.source, "redis credentials obtained again");
                }
                let changed = self.current.borrow().as_ref().is_none_or(|c| {
                    c.password.expose_secret() != fresh.password.expose_secret() || c.username != fresh.username
                });
                let result = auth(&fresh);
                if changed {
                    tracing::debug!(source = ?self.source, "new redis credentials; connections re-authenticate");
                    self.current.send_replace(Some(fresh));
                } else {
                    // Same value: only the renewal point moves (no AUTH on every connection).
                    self.current.send_if_modified(|c| {
                        if let Some(c) = c {
                            c.renew_at = fresh.renew_at;
                        }
                        false
                    });
                }
                Ok(result)
            }
            Err(error) => {
                if !self.failing.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    tracing::warn!(source = ?self.source, error = %error, "redis credentials could not be obtained; retrying");
                } else {
                    tracing::debug!(error = %error, "redis credentials still could not be obtained");
                }
                Err(error)
            }
        }
    }

    async fn fetch(&self) -> Result<Current, StoreError> {
        match &self.source {
            Source::Password { username, provider, refresh_every } => {
                let password = provider().await?;
                Ok(Current {
                    username: username.clone().unwrap_or_else(|| "default".to_owned()),
                    password,
                    renew_at: later((*refresh_every).max(MIN_RENEWAL_PAUSE)),
                })
            }
            Source::Entra { aad, username } => {
                let token = aad.token_for_scopes(&[REDIS_SCOPE]).await.map_err(|e| {
                    StoreError::with_kind(
                        StoreErrorKind::Auth,
                        format!("redis entra_id: no token for {REDIS_SCOPE}: {e}"),
                    )
                })?;
                let username = match username {
                    Some(name) => name.clone(),
                    None => object_id(token.secret().expose_secret()).ok_or_else(|| {
                        StoreError::with_kind(
                            StoreErrorKind::InvalidConfig,
                            "redis entra_id: the token has no readable `oid` claim to use as the Redis user name; \
                             set it with RedisStoreBuilder::username (the identity's object id)",
                        )
                    })?,
                };
                let left = (token.expires_on() - time::OffsetDateTime::now_utc()).max(time::Duration::ZERO);
                let left = Duration::try_from(left).unwrap_or(Duration::ZERO);
                let before = RENEW_BEFORE_EXPIRY.min(left / 2);
                let renew_in = left.saturating_sub(before).max(MIN_RENEWAL_PAUSE);
                Ok(Current { username, password: token.secret().clone(), renew_at: later(renew_in) })
            }
        }
    }

    /// The value a new connection authenticates with: the current one, or a new one fetched
    /// within `first_wait`.
    async fn first(&self) -> RedisResult<BasicAuth> {
        match tokio::time::timeout(self.first_wait, self.refresh()).await {
            Ok(Ok(auth)) => Ok(auth),
            Ok(Err(error)) => {
                Err(RedisError::from((ErrorKind::AuthenticationFailed, "no redis credentials", error.to_string())))
            }
            Err(_) => Err(RedisError::from((ErrorKind::AuthenticationFailed, "no redis credentials in time"))),
        }
    }
}

/// `now + wait`, saturating at about 30 years (a static password is "never renewed").
fn later(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait.min(Duration::from_secs(30 * 365 * 24 * 3600)))
        .or_else(|| now.checked_add(Duration::from_secs(24 * 3600)))
        .unwrap_or(now)
}

fn auth(current: &Current) -> BasicAuth {
    BasicAuth::new(current.username.clone(), current.password.expose_secret().to_owned())
}

/// The provider handed to the redis crate.
#[derive(Clone)]
pub(super) struct Provider(pub Arc<Feed>);

impl StreamingCredentialsProvider for Provider {
    /// A stream of the credentials: the current value first (fetched if there is none or it is
    /// due), then each new value as it is published. The redis crate takes the first item of
    /// one stream to set a new connection up, and re-authenticates with every item of another.
    fn subscribe(&self) -> Pin<Box<dyn Stream<Item = RedisResult<BasicAuth>> + Send + 'static>> {
        let feed = self.0.clone();
        let changes = feed.current.subscribe();
        Box::pin(futures_util::stream::unfold((feed, changes, true), |(feed, mut changes, first)| async move {
            if first {
                let item = feed.first().await;
                changes.mark_unchanged();
                return Some((item, (feed, changes, false)));
            }
            loop {
                changes.changed().await.ok()?;
                let next = changes.borrow_and_update().as_ref().map(auth);
                if let Some(next) = next {
                    return Some((Ok(next), (feed, changes, false)));
                }
            }
        }))
    }
}

/// The `oid` claim of a JWT, when it is a GUID. The token is not verified here (Redis verifies
/// it); the claim only names the user the token is presented as, so a forged claim gains
/// nothing.
pub(super) fn object_id(token: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Claims {
        oid: Option<String>,
    }
    let claims: Claims = crate::auth::jwt::unverified_claims(token)?;
    let oid: Guid = claims.oid?.parse().ok()?;
    Some(oid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jwt::base64url;

    #[test]
    fn the_object_id_comes_from_the_oid_claim_when_it_is_a_guid() {
        let token =
            |claims: &str| format!("{}.{}.sig", base64url(b"{\"alg\":\"RS256\"}"), base64url(claims.as_bytes()));
        assert_eq!(
            object_id(&token(r#"{"oid":"6F1C2A4B-0000-4000-8000-00000000000A","aud":"https://redis.azure.com"}"#))
                .as_deref(),
            Some("6f1c2a4b-0000-4000-8000-00000000000a")
        );
        assert_eq!(object_id(&token(r#"{"oid":"admin"}"#)), None, "not a GUID");
        assert_eq!(object_id(&token(r#"{"sub":"x"}"#)), None);
        assert_eq!(object_id("opaque-token"), None);
        assert_eq!(object_id("a.!!!.c"), None);
        assert_eq!(object_id(&format!("a.{}.c", "A".repeat(20_000))), None, "bounded");
    }

    #[test]
    fn debug_never_shows_a_password() {
        let provider: PasswordProvider = Arc::new(|| Box::pin(async { Ok(Secret::new("hunter2")) }));
        let source =
            Source::Password { username: Some("app".into()), provider, refresh_every: Duration::from_secs(60) };
        let feed = Feed::new(source, Duration::from_secs(1));
        let text = format!("{feed:?}");
        assert!(text.contains("app") && text.contains("[redacted]") && !text.contains("hunter2"), "{text}");
    }
}
