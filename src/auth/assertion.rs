//! Service principal with a client assertion obtained elsewhere: from your code (a callback), or
//! from a file that the platform keeps fresh (Kubernetes workload identity's
//! `AZURE_FEDERATED_TOKEN_FILE`).

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;

use crate::auth::credential::{TokenCredential, TokenRequestContext};
use crate::auth::entra::{request_token, ScopeStyle};
use crate::auth::token::AccessToken;
use crate::error::{Error, Result};
use crate::ids::{validate_client_id, validate_tenant};
use crate::secret::Secret;

/// The `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub(crate) const JWT_BEARER_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Requests an app-only token with a client assertion: the grant shared by the certificate and
/// assertion credentials.
pub(crate) async fn request_with_assertion(
    ctx: &TokenRequestContext<'_>,
    tenant_id: &str,
    client_id: &str,
    assertion: &Secret,
) -> Result<AccessToken> {
    let fields = [
        ("grant_type", "client_credentials"),
        ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
        ("client_assertion", assertion.expose_secret()),
    ];
    let grant = request_token(ctx, tenant_id, client_id, ScopeStyle::App, &fields).await?;
    Ok(grant.access_token)
}

type AssertionFuture = Pin<Box<dyn Future<Output = Result<Secret>> + Send>>;
type AssertionCallback = dyn Fn() -> AssertionFuture + Send + Sync;

/// Signs in as a service principal with a client assertion (a JWT that another party signed),
/// through the `client_credentials` grant with
/// `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
///
/// Use it for federated identity credentials: Kubernetes workload identity (the token file
/// the webhook mounts, see [`from_file`](Self::from_file)), a GitHub Actions OIDC token, or a
/// managed identity's token exchanged for another tenant's app. For an assertion you sign
/// yourself with a certificate, use
/// [`ClientCertificateCredential`](crate::ClientCertificateCredential).
///
/// The assertion is fetched anew for every token request (the [`AadClient`](crate::AadClient)
/// caches the tokens), so short-lived assertions are fine.
///
/// ```
/// use powerbi_embed::{ClientAssertionCredential, Secret};
/// let credential = ClientAssertionCredential::from_callback(
///     "contoso.onmicrosoft.com",
///     "00000000-0000-0000-0000-000000000001",
///     || Ok(Secret::new("eyJ...signed elsewhere")),
/// ).unwrap();
/// assert!(!format!("{credential:?}").contains("eyJ"));
/// ```
pub struct ClientAssertionCredential {
    tenant_id: String,
    client_id: String,
    source: AssertionSource,
}

enum AssertionSource {
    Callback(Arc<AssertionCallback>),
    File(AssertionFile),
}

impl ClientAssertionCredential {
    /// A credential that calls `assertion` before every token request.
    ///
    /// The callback runs on the async runtime, so it must not block: use
    /// [`from_async_callback`](Self::from_async_callback) if getting the assertion needs I/O.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `tenant_id` or `client_id`.
    pub fn from_callback<F>(tenant_id: impl AsRef<str>, client_id: impl AsRef<str>, assertion: F) -> Result<Self>
    where
        F: Fn() -> Result<Secret> + Send + Sync + 'static,
    {
        Self::from_async_callback(tenant_id, client_id, move || std::future::ready(assertion()))
    }

    /// A credential that awaits `assertion()` before every token request, for assertions that
    /// come from another service.
    ///
    /// ```no_run
    /// use powerbi_embed::{ClientAssertionCredential, Secret};
    /// async fn fetch_oidc_token() -> powerbi_embed::Result<Secret> {
    ///     // e.g. ask the CI system's OIDC endpoint
    ///     Ok(Secret::new("eyJ..."))
    /// }
    /// let credential = ClientAssertionCredential::from_async_callback(
    ///     "contoso.onmicrosoft.com",
    ///     "00000000-0000-0000-0000-000000000001",
    ///     fetch_oidc_token,
    /// ).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `tenant_id` or `client_id`.
    pub fn from_async_callback<F, Fut>(
        tenant_id: impl AsRef<str>,
        client_id: impl AsRef<str>,
        assertion: F,
    ) -> Result<Self>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Secret>> + Send + 'static,
    {
        let callback: Arc<AssertionCallback> = Arc::new(move || Box::pin(assertion()) as AssertionFuture);
        Self::new(tenant_id.as_ref(), client_id.as_ref(), AssertionSource::Callback(callback))
    }

    /// A credential that reads the assertion from the file at `path`, as Kubernetes workload
    /// identity provides it (`AZURE_FEDERATED_TOKEN_FILE`). The file is read again whenever its
    /// modification time or length changed, since the platform rewrites it before the
    /// assertion expires; otherwise the last contents are reused.
    ///
    /// The file is not read here: it is read, and a missing or empty file reported, at the
    /// first token request (before anything is sent).
    ///
    /// ```
    /// use powerbi_embed::ClientAssertionCredential;
    /// let credential = ClientAssertionCredential::from_file(
    ///     "contoso.onmicrosoft.com",
    ///     "00000000-0000-0000-0000-000000000001",
    ///     "/var/run/secrets/azure/tokens/azure-identity-token",
    /// ).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `tenant_id`, `client_id` or `token_file` (an empty path).
    pub fn from_file(tenant_id: impl AsRef<str>, client_id: impl AsRef<str>, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if path.as_os_str().is_empty() {
            return Err(Error::invalid(TOKEN_FILE, "is empty; expected the path of the federated token file"));
        }
        let file = AssertionFile { path: path.to_owned(), cached: Mutex::new(None) };
        Self::new(tenant_id.as_ref(), client_id.as_ref(), AssertionSource::File(file))
    }

    fn new(tenant_id: &str, client_id: &str, source: AssertionSource) -> Result<Self> {
        Ok(Self {
            tenant_id: validate_tenant("tenant_id", tenant_id)?,
            client_id: validate_client_id("client_id", client_id)?,
            source,
        })
    }

    async fn assertion(&self) -> Result<Secret> {
        match &self.source {
            AssertionSource::Callback(callback) => {
                let assertion = callback().await?;
                if assertion.expose_secret().trim().is_empty() {
                    return Err(Error::invalid("client_assertion", "the callback returned an empty assertion"));
                }
                Ok(assertion)
            }
            AssertionSource::File(file) => file.read(),
        }
    }
}

impl fmt::Debug for ClientAssertionCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("ClientAssertionCredential");
        out.field("tenant_id", &self.tenant_id).field("client_id", &self.client_id);
        match &self.source {
            AssertionSource::Callback(_) => out.field("source", &"callback"),
            AssertionSource::File(file) => out.field("token_file", &file.path),
        };
        out.finish()
    }
}

#[async_trait]
impl TokenCredential for ClientAssertionCredential {
    fn cache_identity(&self) -> String {
        format!("{}/{}", self.tenant_id, self.client_id)
    }

    async fn get_token(&self, ctx: &TokenRequestContext<'_>) -> Result<AccessToken> {
        let assertion = self.assertion().await?;
        request_with_assertion(ctx, &self.tenant_id, &self.client_id, &assertion).await
    }
}

const TOKEN_FILE: &str = "token_file";

/// The token file and what was read from it last.
struct AssertionFile {
    path: PathBuf,
    cached: Mutex<Option<CachedAssertion>>,
}

/// An assertion and the file's (modification time, length) when it was read.
struct CachedAssertion {
    stamp: FileStamp,
    assertion: Secret,
}

#[derive(PartialEq, Eq, Clone, Copy)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
}

impl AssertionFile {
    /// The assertion, from the cache if the file looks unchanged. The file is small and a stat
    /// is cheap, so blocking I/O here costs less than handing it to a thread.
    fn read(&self) -> Result<Secret> {
        let stamp = self.stamp()?;
        let mut cached = self.cached.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(hit) = cached.as_ref().filter(|c| c.stamp == stamp) {
            return Ok(hit.assertion.clone());
        }
        let assertion = self.read_contents()?;
        *cached = Some(CachedAssertion { stamp, assertion: assertion.clone() });
        Ok(assertion)
    }

    fn stamp(&self) -> Result<FileStamp> {
        let metadata = std::fs::metadata(&self.path).map_err(|e| self.io_error(&e))?;
        Ok(FileStamp { modified: metadata.modified().ok(), len: metadata.len() })
    }

    fn read_contents(&self) -> Result<Secret> {
        let contents = std::fs::read_to_string(&self.path).map_err(|e| self.io_error(&e))?;
        let assertion = contents.trim();
        if assertion.is_empty() {
            return Err(Error::invalid(TOKEN_FILE, format!("{} is empty", self.path.display())));
        }
        Ok(Secret::new(assertion))
    }

    fn io_error(&self, error: &std::io::Error) -> Error {
        Error::invalid(TOKEN_FILE, format!("cannot read {}: {error}", self.path.display()))
    }
}
