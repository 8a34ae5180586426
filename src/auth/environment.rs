//! The credential that the standard `AZURE_*` environment variables describe, as the Azure SDKs
//! read them, so one deployment setting works for this crate and the Azure tools alike.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use crate::auth::assertion::ClientAssertionCredential;
use crate::auth::certificate::{ClientCertificateCredential, CERTIFICATE_PASSWORD};
use crate::auth::client::{AadClient, AadClientBuilder};
use crate::auth::client_secret::ClientSecretCredential;
use crate::auth::credential::{TokenCredential, TokenRequestContext};
use crate::auth::token::AccessToken;
use crate::auth::user_password::UsernamePasswordCredential;
use crate::cloud::{parse_authority_host, Cloud, SignInCloud};
use crate::error::{Error, Result};
use crate::http::url::is_loopback;
use crate::ids::{validate_client_id, validate_tenant};
use crate::secret::Secret;

const AZURE_TENANT_ID: &str = "AZURE_TENANT_ID";
const AZURE_CLIENT_ID: &str = "AZURE_CLIENT_ID";
const AZURE_CLIENT_SECRET: &str = "AZURE_CLIENT_SECRET";
const AZURE_CLIENT_CERTIFICATE_PATH: &str = "AZURE_CLIENT_CERTIFICATE_PATH";
const AZURE_CLIENT_CERTIFICATE_PASSWORD: &str = "AZURE_CLIENT_CERTIFICATE_PASSWORD";
const AZURE_CLIENT_SEND_CERTIFICATE_CHAIN: &str = "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN";
const AZURE_USERNAME: &str = "AZURE_USERNAME";
const AZURE_PASSWORD: &str = "AZURE_PASSWORD";
const AZURE_FEDERATED_TOKEN_FILE: &str = "AZURE_FEDERATED_TOKEN_FILE";
const AZURE_AUTHORITY_HOST: &str = "AZURE_AUTHORITY_HOST";
const POWERBI_CLOUD: &str = "POWERBI_CLOUD";

/// Which credential an [`EnvironmentCredential`] picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvironmentCredentialKind {
    /// `AZURE_CLIENT_SECRET`: a [`ClientSecretCredential`].
    ClientSecret,
    /// `AZURE_CLIENT_CERTIFICATE_PATH`: a [`ClientCertificateCredential`].
    ClientCertificate,
    /// `AZURE_USERNAME` and `AZURE_PASSWORD`: a [`UsernamePasswordCredential`].
    UsernamePassword,
    /// `AZURE_FEDERATED_TOKEN_FILE`: a [`ClientAssertionCredential`] reading the file.
    WorkloadIdentity,
}

impl EnvironmentCredentialKind {
    /// A short name for logs, e.g. `client certificate`.
    pub fn as_str(self) -> &'static str {
        match self {
            EnvironmentCredentialKind::ClientSecret => "client secret",
            EnvironmentCredentialKind::ClientCertificate => "client certificate",
            EnvironmentCredentialKind::UsernamePassword => "username and password",
            EnvironmentCredentialKind::WorkloadIdentity => "workload identity",
        }
    }
}

impl fmt::Display for EnvironmentCredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A credential configured by environment variables, with the names and precedence of the
/// Azure SDKs' `EnvironmentCredential`.
///
/// `AZURE_TENANT_ID` and `AZURE_CLIENT_ID` are required, and then the first of these that is
/// set decides the kind ([`kind`](Self::kind)):
///
/// 1. `AZURE_CLIENT_SECRET`: a service principal with a client secret.
/// 2. `AZURE_CLIENT_CERTIFICATE_PATH`: a service principal with a certificate file, PEM
///    (certificate and key) or, with the `pkcs12` feature, PKCS#12 opened with
///    `AZURE_CLIENT_CERTIFICATE_PASSWORD`. `AZURE_CLIENT_SEND_CERTIFICATE_CHAIN=1` (or `true`)
///    sends the chain in `x5c`.
/// 3. `AZURE_USERNAME` and `AZURE_PASSWORD`: a master user (legacy, see
///    [`UsernamePasswordCredential`]).
/// 4. `AZURE_FEDERATED_TOKEN_FILE`: Kubernetes workload identity (a client assertion read from
///    the file).
///
/// Empty variables count as unset. `AZURE_AUTHORITY_HOST`, if set, is checked and offered by
/// [`authority_host`](Self::authority_host).
///
/// The credential alone does not choose where to sign in: [`AadClient::from_env`] reads it,
/// `POWERBI_CLOUD` and `AZURE_AUTHORITY_HOST` together and is what most code wants. Like the
/// Azure SDKs' `EnvironmentCredential` (and unlike their `DefaultAzureCredential`), it never
/// falls back to a managed identity: see [`AadClient::from_env`].
///
/// ```no_run
/// use powerbi_embed::{AadClient, CloudSettings, EnvironmentCredential};
/// # async fn run() -> powerbi_embed::Result<()> {
/// let credential = EnvironmentCredential::from_env()?;
/// tracing::info!(kind = %credential.kind(), "signing in to Entra ID");
/// let builder = CloudSettings::from_env()?.apply(AadClient::builder(credential));
/// let token = builder.build()?.token().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct EnvironmentCredential {
    kind: EnvironmentCredentialKind,
    tenant_id: String,
    client_id: String,
    authority_host: Option<String>,
    inner: Arc<dyn TokenCredential>,
}

impl EnvironmentCredential {
    /// Reads the process environment.
    ///
    /// # Errors
    /// As [`from_lookup`](Self::from_lookup).
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `lookup` (a name in, its value out), so that tests and
    /// configuration layers need not touch the process environment.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use powerbi_embed::{EnvironmentCredential, EnvironmentCredentialKind};
    /// let vars = HashMap::from([
    ///     ("AZURE_TENANT_ID", "contoso.onmicrosoft.com"),
    ///     ("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001"),
    ///     ("AZURE_CLIENT_SECRET", "the secret's Value"),
    /// ]);
    /// let credential = EnvironmentCredential::from_lookup(|name| vars.get(name).map(|v| v.to_string())).unwrap();
    /// assert_eq!(credential.kind(), EnvironmentCredentialKind::ClientSecret);
    ///
    /// let err = EnvironmentCredential::from_lookup(|_| None).unwrap_err();
    /// assert_eq!(err.field(), Some("AZURE_TENANT_ID"));
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] whose field is the variable at fault: a missing or invalid
    /// `AZURE_TENANT_ID` or `AZURE_CLIENT_ID`, an invalid `AZURE_AUTHORITY_HOST`, half of
    /// `AZURE_USERNAME`/`AZURE_PASSWORD`, a certificate file that cannot be used
    /// (`AZURE_CLIENT_CERTIFICATE_PATH` or `AZURE_CLIENT_CERTIFICATE_PASSWORD`), or
    /// `AZURE_CLIENT_SECRET` when no credential variable is set at all.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let vars = Vars(&lookup);
        let tenant_id = validate_tenant(AZURE_TENANT_ID, &vars.required(AZURE_TENANT_ID)?)?;
        let client_id = validate_client_id(AZURE_CLIENT_ID, &vars.required(AZURE_CLIENT_ID)?)?;
        let authority_host = match vars.get(AZURE_AUTHORITY_HOST) {
            Some(host) => Some(parse_authority_host(AZURE_AUTHORITY_HOST, &host)?.to_string()),
            None => None,
        };
        let (kind, inner) = select(&vars, &tenant_id, &client_id)?;
        Ok(Self { kind, tenant_id, client_id, authority_host, inner })
    }

    /// Which credential the variables selected, for logs.
    pub fn kind(&self) -> EnvironmentCredentialKind {
        self.kind
    }

    /// `AZURE_AUTHORITY_HOST`, checked (`https`, or `http` to loopback) and normalised to a URL
    /// ending in `/` (a bare host such as `login.microsoftonline.us`, as the Azure SDKs accept,
    /// means `https://` that host); `None` when unset. [`CloudSettings`] checks it against
    /// `POWERBI_CLOUD`; this does not.
    pub fn authority_host(&self) -> Option<&str> {
        self.authority_host.as_deref()
    }
}

/// Where to sign in and which Power BI cloud to call, as the environment says:
/// `POWERBI_CLOUD` picks the cloud (`public`, the default, `usgov`, `usgovhigh`, `usdod`,
/// `china`; see [`Cloud::from_name`]) and `AZURE_AUTHORITY_HOST`, when set, the Entra host
/// (a URL, or a bare host meaning `https://` that host, as the Azure SDKs read it).
///
/// The two are checked against each other: an authority host that is the sign-in host of
/// another known cloud than the one picked (say `login.microsoftonline.us` with no
/// `POWERBI_CLOUD`, which means public) is an error naming both, since signing in at one cloud
/// and calling another's Power BI only fails later with an AADSTS or 401 error. A loopback host
/// (a local fake) and a host no known cloud uses (a proxy) are taken as given.
///
/// ```
/// use std::collections::HashMap;
/// use powerbi_embed::{Cloud, CloudSettings};
/// let vars = HashMap::from([("POWERBI_CLOUD", "usgovhigh"), ("AZURE_AUTHORITY_HOST", "login.microsoftonline.us")]);
/// let settings = CloudSettings::from_lookup(|name| vars.get(name).map(|v| v.to_string())).unwrap();
/// assert_eq!(settings.cloud(), &Cloud::UsGovHigh);
/// assert_eq!(settings.authority_host().as_str(), "https://login.microsoftonline.us/");
///
/// let err = CloudSettings::from_lookup(|name| (name == "AZURE_AUTHORITY_HOST").then(|| "login.microsoftonline.us".into()))
///     .unwrap_err();
/// assert_eq!(err.field(), Some("AZURE_AUTHORITY_HOST"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudSettings {
    cloud: Cloud,
    authority_host: Option<url::Url>,
}

impl CloudSettings {
    /// Reads the process environment.
    ///
    /// # Errors
    /// As [`from_lookup`](Self::from_lookup).
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `lookup` (a name in, its value out).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `POWERBI_CLOUD` (an unknown cloud) or
    /// `AZURE_AUTHORITY_HOST` (not a URL or host, `http` to a host that is not loopback, or
    /// the sign-in host of another cloud than `POWERBI_CLOUD` picks).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let vars = Vars(&lookup);
        let cloud = match vars.get(POWERBI_CLOUD) {
            Some(name) => Cloud::from_name(&name).map_err(|e| rename_field(e, POWERBI_CLOUD))?,
            None => Cloud::Public,
        };
        let authority_host = match vars.get(AZURE_AUTHORITY_HOST) {
            Some(host) => Some(parse_authority_host(AZURE_AUTHORITY_HOST, &host)?),
            None => None,
        };
        if let Some(host) = &authority_host {
            check_same_cloud(&cloud, host, vars.get(POWERBI_CLOUD).is_some())?;
        }
        Ok(Self { cloud, authority_host })
    }

    /// The Power BI cloud (`POWERBI_CLOUD`, default [`Cloud::Public`]).
    pub fn cloud(&self) -> &Cloud {
        &self.cloud
    }

    /// Where to sign in: `AZURE_AUTHORITY_HOST` when set, else the cloud's own host.
    pub fn authority_host(&self) -> url::Url {
        self.authority_host.clone().unwrap_or_else(|| self.cloud.authority_host())
    }

    /// Sets the cloud and, when `AZURE_AUTHORITY_HOST` is set, the authority host.
    pub fn apply(&self, builder: AadClientBuilder) -> AadClientBuilder {
        let builder = builder.cloud(self.cloud.clone());
        match &self.authority_host {
            Some(host) => builder.authority_host(host.as_str()),
            None => builder,
        }
    }
}

/// Refuses an authority host that belongs to another known cloud than `cloud`.
fn check_same_cloud(cloud: &Cloud, host: &url::Url, cloud_was_set: bool) -> Result<()> {
    if is_loopback(host) {
        return Ok(());
    }
    let (Some(picked), Some(found)) = (cloud.sign_in_cloud(), host.host_str().and_then(SignInCloud::of_host)) else {
        return Ok(());
    };
    if picked == found {
        return Ok(());
    }
    let picked_text = if cloud_was_set {
        format!("POWERBI_CLOUD is {}", cloud.name())
    } else {
        format!("POWERBI_CLOUD is not set, so the cloud is {}", cloud.name())
    };
    Err(Error::invalid(
        AZURE_AUTHORITY_HOST,
        format!(
            "{} is {}, but {picked_text}, which signs in at {}: set POWERBI_CLOUD to the cloud of the tenant, \
             or AZURE_AUTHORITY_HOST to its sign-in host",
            host.host_str().unwrap_or_default(),
            found.describe(),
            cloud.authority_host().host_str().unwrap_or_default(),
        ),
    ))
}

fn rename_field(error: Error, field: &'static str) -> Error {
    match error {
        Error::InvalidInput { reason, .. } => Error::invalid(field, reason),
        other => other,
    }
}

/// The builder [`AadClient::builder_from_env_with`] returns.
pub(crate) fn aad_builder(lookup: &dyn Fn(&str) -> Option<String>) -> Result<AadClientBuilder> {
    let credential = EnvironmentCredential::from_lookup(lookup)?;
    let settings = CloudSettings::from_lookup(lookup)?;
    Ok(settings.apply(AadClient::builder(credential)))
}

/// The lookup, with empty and blank values treated as unset (deployment templates often
/// define a variable as `""` rather than leave it out).
struct Vars<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Vars<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
    }

    fn required(&self, name: &'static str) -> Result<String> {
        self.get(name).ok_or_else(|| Error::invalid(name, "is not set"))
    }

    fn flag(&self, name: &str) -> bool {
        self.get(name).is_some_and(|value| value == "1" || value.eq_ignore_ascii_case("true"))
    }
}

fn select(
    vars: &Vars<'_>,
    tenant_id: &str,
    client_id: &str,
) -> Result<(EnvironmentCredentialKind, Arc<dyn TokenCredential>)> {
    if let Some(secret) = vars.get(AZURE_CLIENT_SECRET) {
        let credential = ClientSecretCredential::new(tenant_id, client_id, secret)?;
        return Ok((EnvironmentCredentialKind::ClientSecret, Arc::new(credential)));
    }
    if let Some(path) = vars.get(AZURE_CLIENT_CERTIFICATE_PATH) {
        let password = vars.get(AZURE_CLIENT_CERTIFICATE_PASSWORD).map(Secret::new);
        let credential =
            ClientCertificateCredential::from_file(tenant_id, client_id, Path::new(&path), password.as_ref())
                .map_err(name_certificate_variable)?
                .send_certificate_chain(vars.flag(AZURE_CLIENT_SEND_CERTIFICATE_CHAIN));
        return Ok((EnvironmentCredentialKind::ClientCertificate, Arc::new(credential)));
    }
    match (vars.get(AZURE_USERNAME), vars.get(AZURE_PASSWORD)) {
        (Some(username), Some(password)) => {
            let credential = UsernamePasswordCredential::new(tenant_id, client_id, username, password)?;
            return Ok((EnvironmentCredentialKind::UsernamePassword, Arc::new(credential)));
        }
        (Some(_), None) => return Err(Error::invalid(AZURE_PASSWORD, "is not set, but AZURE_USERNAME is")),
        (None, Some(_)) => return Err(Error::invalid(AZURE_USERNAME, "is not set, but AZURE_PASSWORD is")),
        (None, None) => {}
    }
    if let Some(path) = vars.get(AZURE_FEDERATED_TOKEN_FILE) {
        let credential = ClientAssertionCredential::from_file(tenant_id, client_id, path)?;
        return Ok((EnvironmentCredentialKind::WorkloadIdentity, Arc::new(credential)));
    }
    Err(Error::invalid(
        AZURE_CLIENT_SECRET,
        "is not set, and neither is another credential: set AZURE_CLIENT_SECRET, or AZURE_CLIENT_CERTIFICATE_PATH, or AZURE_USERNAME and AZURE_PASSWORD, or AZURE_FEDERATED_TOKEN_FILE",
    ))
}

/// Names the variable behind a certificate error (the file, or its password), keeping the
/// constructor's field in the reason so it still says what is wrong with the file.
fn name_certificate_variable(error: Error) -> Error {
    match error {
        Error::InvalidInput { field, reason } => {
            let variable = if field == CERTIFICATE_PASSWORD {
                AZURE_CLIENT_CERTIFICATE_PASSWORD
            } else {
                AZURE_CLIENT_CERTIFICATE_PATH
            };
            Error::invalid(variable, format!("{field}: {reason}"))
        }
        other => other,
    }
}

impl fmt::Debug for EnvironmentCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvironmentCredential")
            .field("kind", &self.kind)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl TokenCredential for EnvironmentCredential {
    fn cache_identity(&self) -> String {
        self.inner.cache_identity()
    }

    async fn get_token(&self, ctx: &TokenRequestContext<'_>) -> Result<AccessToken> {
        self.inner.get_token(ctx).await
    }
}
