//! Managed identity: tokens from the Azure host the code runs on, with no secret to manage.
//! Two sources speak slightly different dialects: the Instance Metadata Service (VMs, scale
//! sets, AKS nodes) and the local identity endpoint of App Service and Functions.

use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::HeaderValue;
use serde::Deserialize;
use time::OffsetDateTime;
use url::{Host, Url};

use crate::auth::credential::{TokenCredential, TokenRequestContext};
use crate::auth::entra::{bearer_token, expiry, number_or_string};
use crate::auth::token::AccessToken;
use crate::error::{CredentialErrorKind, Error, Result, TransportError, TransportErrorKind};
use crate::http::deadline;
use crate::http::url::{is_local_ip_literal, is_loopback, parse_plain_url};
use crate::http::{parse_json, HttpPipeline, Idempotency, Reply, RetryPolicy, USER_AGENT};
use crate::ids::{validate_client_id, Guid};
use crate::secret::Secret;

/// The service name in transport and response errors, and the credential name in
/// [`Error::Credential`].
const SERVICE: &str = "managed identity";

const IMDS_ADDRESS: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
const IMDS_TOKEN_URL: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
const IMDS_API_VERSION: &str = "2018-02-01";
const APP_SERVICE_API_VERSION: &str = "2019-08-01";

/// Both endpoints are on the host itself, so a connection that takes longer than this is not
/// coming: off Azure, packets to the IMDS address are usually dropped rather than refused.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Issuing a token can involve a round trip from the host to Entra.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

const DEFAULT_MAX_ATTEMPTS: u32 = 4;
/// A safety net on every retry loop, whatever the statuses and `Retry-After` values.
const MOST_ATTEMPTS: u32 = 16;
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// IMDS answers 410 while it is being updated and promises to be back within 70 s.
const GONE_WINDOW: Duration = Duration::from_secs(70);
const GONE_INTERVAL: Duration = Duration::from_secs(10);
/// A longer `Retry-After` ends the retries: a token request should not hang for minutes.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Which managed identity to sign in as.
///
/// A resource can have one system-assigned identity and several user-assigned ones; a
/// user-assigned identity can be named by any of its three ids.
///
/// ```
/// use powerbi_embed::ManagedIdentityId;
/// let by_client_id = ManagedIdentityId::ClientId("00000000-0000-0000-0000-000000000001".into());
/// assert_ne!(by_client_id, ManagedIdentityId::SystemAssigned);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ManagedIdentityId {
    /// The identity Azure created with the resource and deletes with it.
    #[default]
    SystemAssigned,
    /// A user-assigned identity by its client (application) id, a GUID.
    ClientId(String),
    /// A user-assigned identity by its object (principal) id, a GUID.
    ObjectId(String),
    /// A user-assigned identity by its Azure resource id,
    /// `/subscriptions/.../providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>`.
    ResourceId(String),
}

impl ManagedIdentityId {
    /// The same id, checked and normalised.
    fn validated(self) -> Result<Self> {
        Ok(match self {
            Self::SystemAssigned => Self::SystemAssigned,
            Self::ClientId(id) => Self::ClientId(validate_client_id("client_id", &id)?),
            Self::ObjectId(id) => Self::ObjectId(validate_object_id(&id)?),
            Self::ResourceId(id) => Self::ResourceId(validate_resource_id(&id)?),
        })
    }

    /// The query parameter naming a user-assigned identity; each source has its own names.
    fn query_pair(&self, source: &Source) -> Option<(&'static str, &str)> {
        let imds = matches!(source, Source::Imds { .. });
        match self {
            Self::SystemAssigned => None,
            Self::ClientId(id) => Some(("client_id", id)),
            Self::ObjectId(id) => Some((if imds { "object_id" } else { "principal_id" }, id)),
            Self::ResourceId(id) => Some((if imds { "msi_res_id" } else { "mi_res_id" }, id)),
        }
    }

    /// For error messages: which identity was asked for (ids are not secret).
    fn describe(&self) -> String {
        match self {
            Self::SystemAssigned => "the system-assigned identity".into(),
            Self::ClientId(id) => format!("the user-assigned identity with client id {id}"),
            Self::ObjectId(id) => format!("the user-assigned identity with object id {id}"),
            Self::ResourceId(id) => format!("the user-assigned identity {id}"),
        }
    }

    fn cache_identity(&self) -> String {
        match self {
            Self::SystemAssigned => "managed-identity/system-assigned".into(),
            Self::ClientId(id) => format!("managed-identity/client-id/{id}"),
            Self::ObjectId(id) => format!("managed-identity/object-id/{id}"),
            Self::ResourceId(id) => format!("managed-identity/resource-id/{}", id.to_ascii_lowercase()),
        }
    }
}

/// A GUID, trimmed and lowercased. The value is never echoed: a secret pasted into the wrong
/// setting must not reach the logs.
fn validate_object_id(id: &str) -> Result<String> {
    let id = id.trim();
    if id.is_empty() {
        return Err(Error::invalid("object_id", "is empty; expected a GUID like 00000000-0000-0000-0000-000000000000"));
    }
    id.parse::<Guid>()
        .map(|guid| guid.to_string())
        .map_err(|_| Error::invalid("object_id", "is not a GUID (expected 8-4-4-4-12 hexadecimal digits)"))
}

fn validate_resource_id(id: &str) -> Result<String> {
    let id = id.trim();
    let looks_right = id.len() > "/subscriptions/".len()
        && id.get(..15).is_some_and(|prefix| prefix.eq_ignore_ascii_case("/subscriptions/"))
        && !id.contains(char::is_whitespace);
    if looks_right {
        Ok(id.to_owned())
    } else {
        Err(Error::invalid("resource_id", "expected an Azure resource id starting with /subscriptions/"))
    }
}

/// Where tokens come from.
#[derive(Debug, Clone)]
enum Source {
    /// The Instance Metadata Service.
    Imds { url: Url },
    /// App Service and Functions: `IDENTITY_ENDPOINT`, guarded by the `IDENTITY_HEADER` value
    /// (kept as a header value marked sensitive, which `Debug` prints as `Sensitive`).
    AppService { url: Url, header: HeaderValue },
}

impl Source {
    fn imds(field: &'static str, endpoint: &str) -> Result<Self> {
        let url = parse_plain_url(field, endpoint)?;
        let to_imds = matches!(url.host(), Some(Host::Ipv4(ip)) if ip == IMDS_ADDRESS);
        // IMDS speaks plain http. An override exists for local fakes and emulators only, so it
        // cannot point token requests at another host on the network.
        if url.scheme() != "http" || !(to_imds || is_loopback(&url)) {
            return Err(Error::invalid(
                field,
                "must be http to the IMDS address 169.254.169.254 or to a loopback host",
            ));
        }
        Ok(Self::Imds { url })
    }

    fn app_service(field: &'static str, endpoint: &str, header: Secret) -> Result<Self> {
        let url = parse_plain_url(field, endpoint)?;
        match url.scheme() {
            "https" => {}
            // The identity header goes with every request: plain http only where it stays on
            // the host or its private network (Linux App Service uses 169.254.x.x, Windows
            // 127.0.0.1, Functions containers localhost), never across the internet.
            "http" if is_loopback(&url) || is_local_ip_literal(&url) => {}
            "http" => {
                return Err(Error::invalid(
                    field,
                    "plain http is only allowed to loopback (127.0.0.0/8, ::1, localhost), link-local \
                     (169.254.0.0/16, fe80::/10) or private addresses (10/8, 172.16/12, 192.168/16, \
                     fc00::/7) given as IP literals; use https",
                ))
            }
            _ => return Err(Error::invalid(field, "must be an http or https URL")),
        }
        if header.expose_secret().trim().is_empty() {
            return Err(Error::invalid("identity_header", "is empty"));
        }
        // Checked here, or every request would fail to build and be retried as a broken
        // connection.
        let mut header = HeaderValue::from_str(header.expose_secret())
            .map_err(|_| Error::invalid("identity_header", "is not a valid HTTP header value"))?;
        header.set_sensitive(true);
        Ok(Self::AppService { url, header })
    }

    /// App Service when the platform set both of its variables, otherwise IMDS. Service
    /// Fabric sets the same two plus `IDENTITY_SERVER_THUMBPRINT`; its endpoint speaks
    /// another dialect over a self-signed certificate, so it is refused rather than sent down
    /// the App Service path to fail there with a misleading error.
    fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let service_fabric = ["IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT"];
        if service_fabric.iter().all(|name| var(name).is_some()) {
            return Err(Error::invalid(
                "IDENTITY_SERVER_THUMBPRINT",
                "is set with IDENTITY_ENDPOINT and IDENTITY_HEADER, so this is a Service Fabric managed \
                 identity, which this crate does not support; use another credential (a client certificate \
                 or secret, or workload identity)",
            ));
        }
        match (var("IDENTITY_ENDPOINT"), var("IDENTITY_HEADER")) {
            (Some(endpoint), Some(header)) => Self::app_service("IDENTITY_ENDPOINT", &endpoint, header.into()),
            _ => Self::imds("imds_endpoint", IMDS_TOKEN_URL),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Imds { .. } => "IMDS",
            Self::AppService { .. } => "the App Service identity endpoint",
        }
    }

    fn base_url(&self) -> &Url {
        match self {
            Self::Imds { url } | Self::AppService { url, .. } => url,
        }
    }

    /// The token URL for `resource` and `id`.
    fn token_url(&self, resource: &str, id: &ManagedIdentityId) -> Url {
        let mut url = self.base_url().clone();
        let api_version = match self {
            Self::Imds { .. } => IMDS_API_VERSION,
            Self::AppService { .. } => APP_SERVICE_API_VERSION,
        };
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("api-version", api_version).append_pair("resource", resource);
            if let Some((name, value)) = id.query_pair(self) {
                query.append_pair(name, value);
            }
        }
        url
    }

    fn request(&self, client: &reqwest::Client, url: &Url) -> reqwest::RequestBuilder {
        match self {
            Self::Imds { .. } => client.get(url.clone()).header("Metadata", "true"),
            Self::AppService { header, .. } => client.get(url.clone()).header("X-IDENTITY-HEADER", header.clone()),
        }
    }
}

/// Signs in as the managed identity of the Azure resource the code runs on: a VM, a scale set,
/// an AKS node (through IMDS), or an App Service or Functions app (through its local identity
/// endpoint). There is no secret to store or rotate.
///
/// Requests to these endpoints never go through a proxy (`HTTPS_PROXY` and the like are
/// ignored): they are local to the host and a proxy cannot reach them, or worse, would see the
/// token. For the same reason the credential uses its own HTTP client rather than the
/// [`AadClient`](crate::AadClient)'s, with redirects off and short timeouts (2 s to connect,
/// 15 s in all); the `AadClient`'s retry policy does not apply either.
///
/// Retries follow the IMDS guidance and MSAL: 404, 408, 429 and 5xx are retried with exponential backoff
/// (1 s, 2 s, 4 s, ..., honouring `Retry-After` up to 60 s) for at most
/// [`max_attempts`](Self::max_attempts) attempts; 410 (IMDS being updated) is retried every 10 s
/// until at least 70 s have passed; other statuses are not retried. All of it stays within the
/// [`AadClient`](crate::AadClient)'s per-call deadline
/// ([`call_timeout`](crate::AadClientBuilder::call_timeout), 30 s by default): no wait that would
/// end past it is started, so to ride out a whole IMDS update raise it to 80 s or more. When nothing answers at the
/// endpoint the credential fails at once with [`Error::Credential`]: there is no managed
/// identity here.
///
/// Not supported: Azure Arc, Service Fabric and Cloud Shell, which use other protocols.
/// Service Fabric is recognised by its variables and refused with an error naming
/// `IDENTITY_SERVER_THUMBPRINT`.
///
/// ```no_run
/// use powerbi_embed::{AadClient, ManagedIdentityCredential, ManagedIdentityId};
/// # async fn run() -> powerbi_embed::Result<()> {
/// let credential = ManagedIdentityCredential::new(ManagedIdentityId::ClientId(
///     "00000000-0000-0000-0000-000000000001".into(),
/// ))?;
/// let aad = AadClient::new(credential)?;
/// let token = aad.token().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ManagedIdentityCredential {
    id: ManagedIdentityId,
    source: Source,
    client: reqwest::Client,
    max_attempts: u32,
}

impl fmt::Debug for ManagedIdentityCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedIdentityCredential")
            .field("id", &self.id)
            .field("source", &self.source)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl ManagedIdentityCredential {
    /// A credential for `id` that finds its endpoint in the environment: App Service and
    /// Functions when `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are both set, IMDS otherwise.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `client_id`, `object_id` or `resource_id` when the id is
    /// malformed, `IDENTITY_ENDPOINT` when it is not a URL or is plain `http` to a host that is
    /// not loopback, link-local or private (as for [`app_service`](Self::app_service)), or
    /// `IDENTITY_SERVER_THUMBPRINT` when the variables are Service Fabric's.
    pub fn new(id: ManagedIdentityId) -> Result<Self> {
        Self::from_lookup(id, |name| std::env::var(name).ok())
    }

    /// As [`new`](Self::new), reading `IDENTITY_ENDPOINT`, `IDENTITY_HEADER` and
    /// `IDENTITY_SERVER_THUMBPRINT` through `lookup` (a name in, its value out) instead of the
    /// process environment.
    ///
    /// ```
    /// use powerbi_embed::{ManagedIdentityCredential, ManagedIdentityId};
    /// let service_fabric = |name: &str| match name {
    ///     "IDENTITY_ENDPOINT" => Some("https://10.0.0.4:2377/metadata/identity/oauth2/token".to_owned()),
    ///     "IDENTITY_HEADER" => Some("header".to_owned()),
    ///     "IDENTITY_SERVER_THUMBPRINT" => Some("0123456789abcdef".to_owned()),
    ///     _ => None,
    /// };
    /// let err = ManagedIdentityCredential::from_lookup(ManagedIdentityId::SystemAssigned, service_fabric).unwrap_err();
    /// assert_eq!(err.field(), Some("IDENTITY_SERVER_THUMBPRINT"));
    /// ```
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn from_lookup(id: ManagedIdentityId, lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        Self::with_source(id, Source::from_env(lookup)?)
    }

    /// A credential for `id` that asks IMDS at `endpoint`, the full token URL: the real one,
    /// `http://169.254.169.254/metadata/identity/oauth2/token`, or a loopback fake or emulator.
    ///
    /// ```
    /// use powerbi_embed::{ManagedIdentityCredential, ManagedIdentityId};
    /// let credential = ManagedIdentityCredential::imds(
    ///     ManagedIdentityId::SystemAssigned,
    ///     "http://127.0.0.1:8080/metadata/identity/oauth2/token",
    /// ).unwrap();
    /// assert!(ManagedIdentityCredential::imds(ManagedIdentityId::SystemAssigned, "http://example.com/token").is_err());
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the id field, or `imds_endpoint` when it is not `http` to
    /// 169.254.169.254 or to a loopback host, or has a query string.
    pub fn imds(id: ManagedIdentityId, endpoint: impl AsRef<str>) -> Result<Self> {
        Self::with_source(id, Source::imds("imds_endpoint", endpoint.as_ref())?)
    }

    /// A credential for `id` that asks an App Service / Functions identity endpoint (the values
    /// of `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`), without reading the environment. The
    /// header value is sent to `endpoint`, so pass only the endpoint the platform gave.
    ///
    /// ```
    /// use powerbi_embed::{ManagedIdentityCredential, ManagedIdentityId};
    /// let credential = ManagedIdentityCredential::app_service(
    ///     ManagedIdentityId::SystemAssigned,
    ///     "http://127.0.0.1:41234/msi/token",
    ///     "the IDENTITY_HEADER value",
    /// ).unwrap();
    /// assert!(!format!("{credential:?}").contains("IDENTITY_HEADER value"));
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the id field, `identity_endpoint` (not an http(s) URL,
    /// plain `http` to anything but a loopback host or a link-local or private IP literal, or
    /// with a query string) or `identity_header` (empty, or not a valid header value).
    pub fn app_service(id: ManagedIdentityId, endpoint: impl AsRef<str>, header: impl Into<Secret>) -> Result<Self> {
        Self::with_source(id, Source::app_service("identity_endpoint", endpoint.as_ref(), header.into())?)
    }

    /// The most attempts for a token when the endpoint answers 404, 429 or 5xx, or the
    /// connection breaks (default 4, at least 1, at most 16). A 410 is retried for 70 s
    /// whatever this says, because IMDS promises to be back by then.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.clamp(1, MOST_ATTEMPTS);
        self
    }

    fn with_source(id: ManagedIdentityId, source: Source) -> Result<Self> {
        Ok(Self { id: id.validated()?, source, client: direct_client()?, max_attempts: DEFAULT_MAX_ATTEMPTS })
    }

    /// Sends the request until it succeeds, fails for good, or the retries are spent. Only a
    /// success reply comes back as `Ok`.
    async fn fetch(&self, ctx: &TokenRequestContext<'_>, url: &Url) -> Result<Reply> {
        // One attempt per call: the retry rules below are IMDS's, not the crate's defaults.
        // The AadClient's clock and reply-size cap, with this credential's own client.
        let pipeline = HttpPipeline { client: self.client.clone(), retry: RetryPolicy::none(), ..ctx.http.clone() };
        let mut waited = Duration::ZERO;
        let mut attempt = 1;
        loop {
            let outcome = pipeline.execute(SERVICE, Idempotency::Idempotent, |c| self.source.request(c, url)).await;
            let delay = match &outcome {
                Ok(reply) if reply.is_success() => return outcome,
                Ok(reply) => self.status_retry_delay(reply, attempt, waited),
                Err(Error::Transport(e)) if e.kind == TransportErrorKind::Connect => return Err(self.unreachable(e)),
                Err(Error::Transport(_)) => (attempt < self.max_attempts).then(|| backoff(attempt)),
                Err(_) => None,
            };
            // A wait that would end past the call's deadline is not started (IMDS's 70 s for a
            // 410 included): the last answer says more than a deadline error would.
            let delay = delay.filter(|d| deadline::leaves_room(&*ctx.http.clock, *d));
            let Some(delay) = delay else { return Err(self.give_up(outcome, attempt)) };
            tracing::debug!(source = self.source.name(), attempt, ?delay, "retrying the managed identity request");
            ctx.http.clock.sleep(delay).await;
            waited = waited.saturating_add(delay);
            attempt += 1;
        }
    }

    /// The error for the last outcome, once no retry is left.
    fn give_up(&self, outcome: Result<Reply>, attempts: u32) -> Error {
        match outcome {
            Ok(reply) => self.refused(&reply, attempts),
            Err(Error::Transport(e)) => Error::Transport(Arc::new(Arc::unwrap_or_clone(e).with_attempts(attempts))),
            Err(other) => other,
        }
    }

    /// How long to wait before trying again after an error status, or `None` to stop.
    fn status_retry_delay(&self, reply: &Reply, attempt: u32, waited: Duration) -> Option<Duration> {
        let (may_retry, planned) = match reply.status {
            410 => (waited < GONE_WINDOW || attempt < self.max_attempts, GONE_INTERVAL),
            // MSAL's list (HttpRetryConditions.Imds): 404, 408, 410, 429 and 5xx.
            404 | 408 | 429 | 500..=599 => (attempt < self.max_attempts, backoff(attempt)),
            _ => return None,
        };
        if !may_retry || attempt >= MOST_ATTEMPTS {
            return None;
        }
        match reply.retry_after {
            Some(wait) if wait > MAX_RETRY_AFTER => None,
            Some(wait) => Some(wait),
            None => Some(planned),
        }
    }

    /// Nothing answered: this is not an Azure host with a managed identity (or it is blocked).
    fn unreachable(&self, error: &TransportError) -> Error {
        let message = format!(
            "no managed identity is available: {} at {} could not be reached ({error}); \
             is this code running on an Azure resource with a managed identity?",
            self.source.name(),
            self.source.base_url()
        );
        let source: Arc<dyn std::error::Error + Send + Sync> = Arc::new(error.clone());
        Error::Credential { credential: SERVICE, kind: CredentialErrorKind::Unavailable, message, source: Some(source) }
    }

    /// The endpoint refused, or kept failing: say which identity, what it said and how often.
    fn refused(&self, reply: &Reply, attempts: u32) -> Error {
        let mut message = format!("{} answered HTTP {} for {}", self.source.name(), reply.status, self.id.describe());
        if let Some(detail) = error_detail(&reply.body) {
            message.push_str(": ");
            message.push_str(&detail);
        }
        if attempts > 1 {
            message.push_str(&format!(" (after {attempts} attempts)"));
        }
        if matches!(reply.status, 400 | 404) && self.id != ManagedIdentityId::SystemAssigned {
            message.push_str("; check that this identity is assigned to the resource");
        }
        Error::credential(SERVICE, CredentialErrorKind::Refused, message)
    }
}

#[async_trait]
impl TokenCredential for ManagedIdentityCredential {
    fn cache_identity(&self) -> String {
        self.id.cache_identity()
    }

    async fn get_token(&self, ctx: &TokenRequestContext<'_>) -> Result<AccessToken> {
        if ctx.scopes().len() != 1 {
            return Err(Error::invalid("scopes", "a managed identity token is for one resource: ask for one scope"));
        }
        let url = self.source.token_url(ctx.resource(), &self.id);
        let reply = self.fetch(ctx, &url).await?;
        parse_token(&reply, ctx.now())
    }
}

/// A client that never uses a proxy or follows a redirect, and gives up quickly.
fn direct_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(USER_AGENT)
        .build()
        .map_err(|e| Error::invalid("http_client", format!("could not build the managed identity HTTP client: {e}")))
}

/// 1 s, 2 s, 4 s, ... capped. No jitter: the endpoint serves one host, not a fleet that would
/// retry in lockstep.
fn backoff(attempt: u32) -> Duration {
    FIRST_BACKOFF.saturating_mul(1 << attempt.saturating_sub(1).min(8)).min(MAX_BACKOFF)
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: Option<String>,
    token_type: Option<String>,
    #[serde(default, deserialize_with = "number_or_string")]
    expires_in: Option<i64>,
    #[serde(default)]
    expires_on: Option<ExpiresOn>,
}

/// `expires_on` as the sources write it: epoch seconds as a number or a string (IMDS, App
/// Service 2019-08-01), or a date-time string such as `"05/22/2021 17:14:33 +00:00"` (App
/// Service on Linux) or `"1/16/2020 5:24:12 AM +00:00"` (App Service on Windows).
#[derive(Deserialize)]
#[serde(untagged)]
enum ExpiresOn {
    Epoch(i64),
    Text(String),
}

impl ExpiresOn {
    fn epoch_seconds(&self) -> Option<i64> {
        match self {
            ExpiresOn::Epoch(seconds) => Some(*seconds),
            ExpiresOn::Text(text) => {
                let text = text.trim();
                text.parse().ok().or_else(|| app_service_date_time(text).map(OffsetDateTime::unix_timestamp))
            }
        }
    }
}

/// `M/D/YYYY H:MM:SS [AM|PM] ±HH:MM`, the .NET general date-time form App Service wrote.
fn app_service_date_time(text: &str) -> Option<OffsetDateTime> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let (date, clock, meridiem, offset) = match parts.as_slice() {
        [date, clock, offset] => (*date, *clock, None, *offset),
        [date, clock, meridiem, offset] => (*date, *clock, Some(meridiem.to_ascii_uppercase()), *offset),
        _ => return None,
    };
    let numbers = |text: &str, separator: char| -> Option<Vec<u16>> {
        text.split(separator).map(|n| n.parse().ok()).collect::<Option<Vec<u16>>>()
    };
    let (month, day, year) = match numbers(date, '/')?.as_slice() {
        [month, day, year] if *year >= 1970 => (*month, *day, *year),
        _ => return None,
    };
    let (mut hour, minute, second) = match numbers(clock, ':')?.as_slice() {
        [hour, minute, second] => (*hour, *minute, *second),
        _ => return None,
    };
    match meridiem.as_deref() {
        None => {}
        Some("AM") if (1..=12).contains(&hour) => hour %= 12,
        Some("PM") if (1..=12).contains(&hour) => hour = hour % 12 + 12,
        Some(_) => return None,
    }
    let (sign, offset) = match offset.split_at_checked(1)? {
        ("+", rest) => (1i8, rest),
        ("-", rest) => (-1i8, rest),
        _ => return None,
    };
    let (offset_hours, offset_minutes) = match numbers(offset, ':')?.as_slice() {
        [h, m] => (i8::try_from(*h).ok()?, i8::try_from(*m).ok()?),
        _ => return None,
    };
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = time::Date::from_calendar_date(i32::from(year), month, u8::try_from(day).ok()?).ok()?;
    let clock =
        time::Time::from_hms(u8::try_from(hour).ok()?, u8::try_from(minute).ok()?, u8::try_from(second).ok()?).ok()?;
    let offset = time::UtcOffset::from_hms(sign * offset_hours, sign * offset_minutes, 0).ok()?;
    Some(date.with_time(clock).assume_offset(offset))
}

/// Reads a success reply. The expiry is `expires_on` when the source sends it: `expires_in`
/// counts from when the token was issued, and IMDS hands out cached tokens, so now +
/// `expires_in` can lie minutes past the real expiry. When both are sent the earlier wins,
/// which also guards against this machine's clock running behind.
fn parse_token(reply: &Reply, now: OffsetDateTime) -> Result<AccessToken> {
    let body: TokenBody = parse_json(reply, SERVICE, "token response")?;
    let token = bearer_token(reply, SERVICE, body.access_token, body.token_type.as_deref())?;
    let expires_on = match &body.expires_on {
        None => None,
        Some(raw) => Some(raw.epoch_seconds().ok_or_else(|| {
            reply.unexpected(
                SERVICE,
                "expires_on is neither epoch seconds nor a date-time such as 05/22/2021 17:14:33 +00:00",
            )
        })?),
    };
    let from_expires_on = expires_on.map(|epoch| expiry(reply, SERVICE, now, None, Some(epoch))).transpose()?;
    let from_expires_in =
        body.expires_in.map(|seconds| expiry(reply, SERVICE, now, Some(seconds), None)).transpose()?;
    let expires = match (from_expires_on, from_expires_in) {
        (Some(on), Some(within)) => on.min(within),
        (Some(on), None) => on,
        (None, Some(within)) => within,
        (None, None) => expiry(reply, SERVICE, now, None, None)?,
    };
    Ok(AccessToken::new(token, expires))
}

/// The human-readable part of an error body: IMDS sends OAuth's `error` / `error_description`,
/// App Service `message` or `error.message`. One line, at most 300 characters.
fn error_detail(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    let error = value.get("error");
    let detail = if let Some(description) = value.get("error_description").and_then(text) {
        match error.and_then(text) {
            Some(error) => format!("{description} ({error})"),
            None => description,
        }
    } else if let Some(message) = value.get("message").and_then(text) {
        message
    } else {
        let error = error?;
        text(error).or_else(|| error.get("message").and_then(text))?
    };
    let line = detail.lines().next().unwrap_or_default().trim();
    Some(line.chars().take(300).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn environment_selects_app_service_only_with_both_variables() {
        let both = [("IDENTITY_ENDPOINT", "http://127.0.0.1:41234/msi/token"), ("IDENTITY_HEADER", "h")];
        assert!(matches!(Source::from_env(env(&both)).unwrap(), Source::AppService { .. }));
        for partial in
            [&both[..1], &both[1..], &[][..], &[("IDENTITY_ENDPOINT", "http://x/"), ("IDENTITY_HEADER", " ")][..]]
        {
            match Source::from_env(env(partial)).unwrap() {
                Source::Imds { url } => assert_eq!(url.as_str(), IMDS_TOKEN_URL),
                other => panic!("{other:?}"),
            }
        }
        let bad = [("IDENTITY_ENDPOINT", "not a url"), ("IDENTITY_HEADER", "h")];
        assert_eq!(Source::from_env(env(&bad)).unwrap_err().field(), Some("IDENTITY_ENDPOINT"));
    }

    #[test]
    fn the_identity_header_is_checked_and_sent_as_a_sensitive_header() {
        assert_eq!(
            Source::app_service("identity_endpoint", "http://127.0.0.1:1/t", "a\nb".into()).unwrap_err().field(),
            Some("identity_header")
        );
        let source =
            Source::app_service("identity_endpoint", "http://127.0.0.1:1/t", "the-header-secret".into()).unwrap();
        assert!(!format!("{source:?}").contains("the-header-secret"), "{source:?}");
        let request = source.request(&reqwest::Client::new(), source.base_url()).build().unwrap();
        let header = &request.headers()["x-identity-header"];
        assert!(header.is_sensitive());
        assert_eq!(header.to_str().unwrap(), "the-header-secret");
        assert!(!format!("{request:?}").contains("the-header-secret"), "{request:?}");
    }

    #[test]
    fn imds_override_must_be_http_to_imds_or_loopback() {
        for ok in [IMDS_TOKEN_URL, "http://127.0.0.1:1/t", "http://localhost/t", "http://[::1]:9/t"] {
            assert!(Source::imds("imds_endpoint", ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://169.254.169.254/t",
            "http://169.254.169.253/t",
            "http://example.com/t",
            "http://127.0.0.1/t?x=1",
            "http://u:p@127.0.0.1/",
        ] {
            assert_eq!(Source::imds("imds_endpoint", bad).unwrap_err().field(), Some("imds_endpoint"), "{bad}");
        }
    }

    #[test]
    fn ids_are_checked() {
        assert_eq!(ManagedIdentityId::ClientId("nope".into()).validated().unwrap_err().field(), Some("client_id"));
        assert_eq!(ManagedIdentityId::ObjectId("".into()).validated().unwrap_err().field(), Some("object_id"));
        for bad in ["", "/subscriptions/", "subscriptions/x", "/subscriptions/a b"] {
            assert_eq!(ManagedIdentityId::ResourceId(bad.into()).validated().unwrap_err().field(), Some("resource_id"));
        }
        let upper = ManagedIdentityId::ClientId("AAAAAAAA-0000-0000-0000-000000000001".into()).validated().unwrap();
        assert_eq!(upper, ManagedIdentityId::ClientId("aaaaaaaa-0000-0000-0000-000000000001".into()));
    }

    #[test]
    fn backoff_doubles_from_one_second_and_is_capped() {
        let waits: Vec<u64> = (1..=6).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 8, 8]);
    }

    #[test]
    fn app_service_date_times_are_read_in_both_platform_forms() {
        use time::macros::datetime;
        let linux = app_service_date_time("05/22/2021 17:14:33 +00:00");
        assert_eq!(linux, Some(datetime!(2021-05-22 17:14:33 UTC)));
        let windows = app_service_date_time("1/16/2020 5:24:12 AM +00:00");
        assert_eq!(windows, Some(datetime!(2020-01-16 5:24:12 UTC)));
        assert_eq!(app_service_date_time("1/16/2020 5:24:12 PM +00:00"), Some(datetime!(2020-01-16 17:24:12 UTC)));
        assert_eq!(app_service_date_time("1/16/2020 12:05:00 AM +00:00"), Some(datetime!(2020-01-16 0:05 UTC)));
        assert_eq!(app_service_date_time("1/16/2020 12:05:00 PM +00:00"), Some(datetime!(2020-01-16 12:05 UTC)));
        assert_eq!(app_service_date_time("11/05/2021 15:18:31 +01:30"), Some(datetime!(2021-11-05 13:48:31 UTC)));
        assert_eq!(app_service_date_time("11/05/2021 15:18:31 -02:00"), Some(datetime!(2021-11-05 17:18:31 UTC)));
        for bad in [
            "",
            "2021-05-22T17:14:33Z",
            "13/22/2021 17:14:33 +00:00",
            "05/32/2021 17:14:33 +00:00",
            "05/22/2021 24:00:00 +00:00",
            "05/22/2021 13:00:00 PM +00:00",
            "05/22/2021 0:00:00 AM +00:00",
            "05/22/2021 17:14:33 00:00",
            "05/22/2021 17:14:33 +99:00",
            "05/22/2021 17:14 +00:00",
            "05/22/99999 17:14:33 +00:00",
            "05/22/2021 17:14:33 XM +00:00",
        ] {
            assert_eq!(app_service_date_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn expiry_is_the_earlier_of_expires_on_and_expires_in_and_an_unreadable_expires_on_is_refused() {
        use time::macros::datetime;
        let reply = |body: &str| Reply::json(200, body);
        let now = datetime!(2021-05-22 17:00 UTC);
        let expiry = |body: &str| parse_token(&reply(body), now).map(|t| t.expires_on());
        let token = r#""access_token":"a","token_type":"Bearer""#;
        // A cached token: expires_on (17:14:33) comes before now + expires_in (18:00).
        let cached = format!(r#"{{{token},"expires_in":"3600","expires_on":"1621703673"}}"#);
        assert_eq!(expiry(&cached).unwrap(), datetime!(2021-05-22 17:14:33 UTC));
        // A clock running behind: now + expires_in (17:10) comes first.
        let behind = format!(r#"{{{token},"expires_in":600,"expires_on":1621703673}}"#);
        assert_eq!(expiry(&behind).unwrap(), datetime!(2021-05-22 17:10 UTC));
        let date_time = format!(r#"{{{token},"expires_on":"05/22/2021 17:14:33 +00:00"}}"#);
        assert_eq!(expiry(&date_time).unwrap(), datetime!(2021-05-22 17:14:33 UTC));
        for bad in [r#""2021-05-22T17:14:33Z""#, r#""soon""#, "true"] {
            let err = expiry(&format!(r#"{{{token},"expires_on":{bad}}}"#)).unwrap_err();
            assert!(matches!(err, Error::UnexpectedResponse(_)), "{bad}: {err:?}");
            assert!(!err.to_string().contains("\"a\""), "{err}");
        }
        let past = format!(r#"{{{token},"expires_on":"05/22/2021 16:59:00 +00:00"}}"#);
        assert!(expiry(&past).unwrap_err().to_string().contains("already expired"));
    }

    #[test]
    fn error_detail_reads_both_dialects() {
        let imds = br#"{"error":"invalid_request","error_description":"Identity not found"}"#;
        assert_eq!(error_detail(imds).as_deref(), Some("Identity not found (invalid_request)"));
        let app_service = br#"{"statusCode":400,"message":"No managed identity found.\nMore","correlationId":"c"}"#;
        assert_eq!(error_detail(app_service).as_deref(), Some("No managed identity found."));
        let nested = br#"{"error":{"code":"X","message":"nested"}}"#;
        assert_eq!(error_detail(nested).as_deref(), Some("nested"));
        assert_eq!(error_detail(b"<html>"), None);
    }
}
