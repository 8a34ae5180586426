//! The crate's one error type.
//!
//! Every failure is an [`Error`]; what the services said is kept in typed fields
//! ([`EntraError`], [`PowerBiError`]), never flattened into a string, and no variant ever holds a
//! secret value.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong.
///
/// Cloning is cheap (the payloads are reference-counted), which lets a single-flight cache hand
/// the one failure of a shared token request to every caller that waited on it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// An argument or setting is invalid. Raised before any network call.
    InvalidInput {
        /// The argument, setting or environment variable at fault, e.g. `username` or
        /// `AZURE_CLIENT_ID`.
        field: Cow<'static, str>,
        /// What is wrong with it (never its value when the value is secret).
        reason: String,
    },

    /// Microsoft Entra ID refused to issue a token.
    Entra(Arc<EntraError>),

    /// The Power BI REST API answered with an error status.
    PowerBi(Arc<PowerBiError>),

    /// A credential could not produce a token for a reason other than an Entra error response:
    /// no managed identity endpoint, a device-code sign-in that timed out, and the like.
    ///
    /// Branch on [`kind`](CredentialErrorKind), not on the message. Your own
    /// [`TokenCredential`](crate::TokenCredential) or assertion callback makes one with
    /// [`Error::credential_failure`].
    Credential {
        /// The credential, e.g. `managed identity` or `device code`.
        credential: &'static str,
        /// What kind of failure it was.
        kind: CredentialErrorKind,
        /// What happened.
        message: String,
        /// The failure underneath, where there is one (the [`TransportError`] of a managed
        /// identity endpoint that could not be reached); [`std::error::Error::source`] returns it.
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },

    /// The request did not complete: connection refused or reset, timeout, TLS failure.
    Transport(Arc<TransportError>),

    /// A service answered with a success status but a body (or redirect) that is not what the
    /// contract says: HTML, truncated JSON, missing or mistyped fields, absurd values.
    UnexpectedResponse(Arc<UnexpectedResponse>),

    /// A background operation the service runs (an import, a capacity assignment) ended in
    /// failure.
    OperationFailed(Arc<crate::powerbi::OperationFailed>),

    /// A step of onboarding or offboarding a customer failed; the error names the step and
    /// holds the cause ([`Error::source`](std::error::Error::source)).
    Onboarding(Arc<crate::powerbi::OnboardingError>),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidInput { field, reason } => write!(f, "invalid {field}: {reason}"),
            Error::Entra(e) => e.fmt(f),
            Error::PowerBi(e) => e.fmt(f),
            Error::Credential { credential, message, .. } => write!(f, "{credential} credential: {message}"),
            Error::Transport(e) => e.fmt(f),
            Error::UnexpectedResponse(e) => e.fmt(f),
            Error::OperationFailed(e) => e.fmt(f),
            Error::Onboarding(e) => e.fmt(f),
        }
    }
}

/// The chain: the typed errors inside [`Error::Entra`], [`Error::PowerBi`], [`Error::Transport`],
/// [`Error::UnexpectedResponse`], [`Error::OperationFailed`] and [`Error::Onboarding`] are the
/// error itself (their text is this error's text), so
/// `source()` continues below them: a transport failure's HTTP client error, a credential's
/// transport failure, an onboarding step's cause. Nothing in the chain holds a secret: the HTTP client's error has its URL
/// removed, and a success body's parser error is not kept (it could quote a token).
impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Transport(e) => std::error::Error::source(&**e),
            Error::OperationFailed(e) => std::error::Error::source(&**e),
            // The step's error: its source is the cause (an `Error` of its own).
            Error::Onboarding(e) => std::error::Error::source(&**e),
            Error::Credential { source, .. } => {
                source.as_deref().map(|cause| cause as &(dyn std::error::Error + 'static))
            }
            Error::InvalidInput { .. } | Error::Entra(_) | Error::PowerBi(_) | Error::UnexpectedResponse(_) => None,
        }
    }
}

impl Error {
    pub(crate) fn invalid(field: impl Into<Cow<'static, str>>, reason: impl Into<String>) -> Self {
        Error::InvalidInput { field: field.into(), reason: reason.into() }
    }

    pub(crate) fn credential(credential: &'static str, kind: CredentialErrorKind, message: impl Into<String>) -> Self {
        Error::Credential { credential, kind, message: message.into(), source: None }
    }

    /// A success answer found unusable after it was read, when the reply itself (its headers)
    /// is no longer at hand: an item without an embed URL, a location that is not a URL.
    pub(crate) fn unusable_answer(service: &'static str, reason: impl Into<String>) -> Self {
        Error::UnexpectedResponse(Arc::new(UnexpectedResponse {
            service,
            status: 200,
            content_type: None,
            request_id: None,
            reason: reason.into(),
        }))
    }

    /// A credential failure, for a [`TokenCredential`](crate::TokenCredential) of your own or an
    /// assertion callback: `credential` names it in the message (`"oidc"` gives `oidc credential:
    /// <message>`). The message must not hold a secret.
    pub fn credential_failure(credential: &'static str, kind: CredentialErrorKind, message: impl Into<String>) -> Self {
        Self::credential(credential, kind, message)
    }

    /// What kind of credential failure this is, for an [`Error::Credential`].
    pub fn credential_kind(&self) -> Option<CredentialErrorKind> {
        match self {
            Error::Credential { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// The HTTP status of the service response, where there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Entra(e) => Some(e.status),
            Error::PowerBi(e) => Some(e.status),
            Error::UnexpectedResponse(e) => Some(e.status),
            Error::Onboarding(e) => e.cause().status(),
            _ => None,
        }
    }

    /// The id a Microsoft support request asks for: Power BI's `RequestId` header, or Entra's
    /// `trace_id`.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Entra(e) => e.trace_id.as_deref(),
            Error::PowerBi(e) => e.request_id.as_deref(),
            Error::UnexpectedResponse(e) => e.request_id.as_deref(),
            Error::Onboarding(e) => e.cause().request_id(),
            _ => None,
        }
    }

    /// Whether trying the same call again later may succeed: throttling, server errors and
    /// transport failures. Bad input, refused credentials and 4xx answers are not retryable.
    /// A server error whose body is not the service's error shape (a gateway's HTML page) is
    /// still a server error.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::PowerBi(e) => is_retryable_status(e.status),
            Error::Entra(e) => is_retryable_status(e.status),
            Error::UnexpectedResponse(e) => is_retryable_status(e.status),
            Error::Transport(_) => true,
            Error::Onboarding(e) => e.cause().is_retryable(),
            _ => false,
        }
    }

    /// The field an [`Error::InvalidInput`] names.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::InvalidInput { field, .. } => Some(field),
            _ => None,
        }
    }

    /// A short suggestion for the common failures (wrong secret, missing consent, service
    /// principal not in the workspace, ...).
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Error::Entra(e) => e.hint(),
            Error::PowerBi(e) => e.hint(),
            Error::Onboarding(e) => e.cause().hint(),
            _ => None,
        }
    }

    /// The Entra error, if Entra refused the token request.
    pub fn as_entra(&self) -> Option<&EntraError> {
        match self {
            Error::Entra(e) => Some(e),
            _ => None,
        }
    }

    /// The Power BI error, if Power BI answered with an error status.
    pub fn as_power_bi(&self) -> Option<&PowerBiError> {
        match self {
            Error::PowerBi(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a credential produced no token (the [`Error::Credential`] variant), as a value to branch on.
///
/// Azure's own SDKs make the same first cut: *unavailable* (this credential cannot work here, try
/// another one) against everything else (it can work here, and failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CredentialErrorKind {
    /// The credential cannot work in this environment: no managed identity endpoint answers,
    /// for instance. Another credential may.
    Unavailable,
    /// The token source answered, and refused: a managed identity endpoint that does not know
    /// the identity asked for, or kept failing.
    Refused,
    /// A sign-in waiting on a person was not completed in time (device code).
    TimedOut,
    /// The credential holds a token that has expired and cannot renew it (a static token).
    Expired,
    /// The credential produced a token that cannot be used: empty, or with a character an HTTP
    /// header cannot carry. It was not cached.
    UnusableToken,
    /// The credential could not be used locally: the client assertion could not be signed.
    Signing,
    /// Anything else, including failures of a callback or credential of your own.
    Other,
}

/// 429 (throttled) and the gateway / server statuses that are worth another try.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

/// An error response from the Entra ID token endpoint, field by field.
///
/// Branch on [`error`](Self::error) and [`error_codes`](Self::error_codes) (`AADSTS` numbers),
/// never on the human-readable description, which Microsoft rewords.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EntraError {
    /// HTTP status (usually 400 or 401).
    pub status: u16,
    /// The OAuth error, e.g. `invalid_client`, `invalid_grant`, `authorization_pending`.
    pub error: String,
    /// Entra's description (contains the `AADSTS` code, a trace id and a timestamp).
    pub error_description: Option<String>,
    /// The `AADSTS` codes, e.g. `[7000215]`.
    pub error_codes: Vec<i64>,
    /// When Entra saw the request.
    pub timestamp: Option<String>,
    /// The id to quote to Microsoft support.
    pub trace_id: Option<String>,
    /// The correlation id of the request.
    pub correlation_id: Option<String>,
    /// A refinement of `error` for some interactive failures (e.g. `bad_token`).
    pub suberror: Option<String>,
    /// The page that explains the error, e.g. `https://login.microsoftonline.com/error?code=7000215`.
    pub error_uri: Option<String>,
}

impl EntraError {
    /// Whether `code` is among the `AADSTS` codes.
    pub fn has_code(&self, code: i64) -> bool {
        self.error_codes.contains(&code)
    }

    /// What to do about the common failures, keyed by `AADSTS` code.
    pub fn hint(&self) -> Option<&'static str> {
        self.error_codes.iter().find_map(|code| entra_hint(*code))
    }
}

fn entra_hint(code: i64) -> Option<&'static str> {
    Some(match code {
        7000215 => "the client secret is wrong: use the secret's Value, not its Secret ID",
        7000222 => "the client secret has expired: create a new one in the app registration",
        700016 => "no app with this client id in the tenant: check AZURE_CLIENT_ID and the tenant",
        90002 => "tenant not found: check the tenant id and that the cloud matches (Public, US Gov, China)",
        50126 => "wrong username or password for the master user",
        50076 | 50079 => {
            "multi-factor authentication is required: the master-user password flow cannot pass MFA; use a service principal"
        }
        65001 => "the app has no consent for the Power BI API: grant admin consent in the app registration",
        700024 => "the client assertion is outside its validity window: check this machine's clock",
        700027 => "the client assertion signature is invalid: upload this certificate to the app registration",
        7000218 => "the password flow needs 'Allow public client flows' enabled on the app registration",
        50196 => "Entra detected a request loop: cache tokens instead of requesting one per call",
        _ => return None,
    })
}

impl fmt::Display for EntraError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Entra ID refused the token request (HTTP {}, {}", self.status, self.error)?;
        for code in &self.error_codes {
            write!(f, ", AADSTS{code}")?;
        }
        f.write_str(")")?;
        if let Some(hint) = self.hint() {
            write!(f, ": {hint}")?;
        } else if let Some(description) = &self.error_description {
            // The first line carries the message; the rest repeats ids printed below.
            write!(f, ": {}", description.lines().next().unwrap_or_default())?;
        }
        if let Some(trace_id) = &self.trace_id {
            write!(f, " [trace_id {trace_id}")?;
            if let Some(correlation_id) = &self.correlation_id {
                write!(f, ", correlation_id {correlation_id}")?;
            }
            f.write_str("]")?;
        }
        Ok(())
    }
}

impl std::error::Error for EntraError {}

/// An error status from the Power BI REST API.
///
/// The live service answers errors in several shapes, all kept here: `{"error": {"code",
/// "message"}}`; `{"error": {"code", "pbi.error": {"details": [...]}}}` with no message (the
/// text is in the details); `{"Message": ...}` or `{"message": ...}` (e.g. a 429); or an empty
/// body whose only clue is the `X-PowerBI-Error-Info` header (e.g. `GroupNotAccessible`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PowerBiError {
    /// HTTP status.
    pub status: u16,
    /// `error.code` (or `error["pbi.error"].code`), e.g. `PowerBIEntityNotFound`, when the body
    /// had one.
    pub code: Option<String>,
    /// `error.message`, or a top-level `message` / `Message`, when the body had one.
    pub message: Option<String>,
    /// What the body's detail lists said: `error.details[].message` and
    /// `error["pbi.error"].details[].detail.value`, in order (at most 16).
    pub details: Vec<PowerBiErrorDetail>,
    /// The `RequestId` response header: quote it to Microsoft support.
    pub request_id: Option<String>,
    /// The `X-PowerBI-Error-Info` response header, e.g.
    /// `ServicePrincipalIsNotAllowedByTenantAdminSwitch`, `GroupNotAccessible`, `TokenExpired`.
    pub error_info: Option<String>,
    /// The `WWW-Authenticate` response header (a 401's challenge, e.g. a claims challenge).
    pub www_authenticate: Option<String>,
    /// The `Retry-After` of a 429 answer.
    pub retry_after: Option<Duration>,
    /// The raw error body when it was none of the shapes above (truncated to 1 KiB).
    pub raw_body: Option<String>,
}

/// One entry of a Power BI error body's detail list.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PowerBiErrorDetail {
    /// The entry's code (`pbi.error` details) or target (`error.details`), if any.
    pub code: Option<String>,
    /// Its text: `detail.value` or `message`.
    pub message: String,
}

impl PowerBiError {
    /// What to do about the common failures, told apart by cause from the status, `code`,
    /// `X-PowerBI-Error-Info`, the `WWW-Authenticate` challenge and the texts together.
    ///
    /// The live service answers **403** for an expired or unreadable Entra token and **401**
    /// for no access to the item or tenant; the header usually says which.
    pub fn hint(&self) -> Option<&'static str> {
        PowerBiCause::of(self).map(PowerBiCause::hint)
    }

    /// Whether Power BI refused the Entra access token itself (`TokenExpired`, `InvalidToken`,
    /// ... in the code or `X-PowerBI-Error-Info`): a new token may succeed where this one failed.
    pub fn is_rejected_token(&self) -> bool {
        matches!(PowerBiCause::of(self), Some(PowerBiCause::TokenExpired | PowerBiCause::TokenInvalid))
    }

    /// What `Display` shows of the body: the message, then up to three distinct detail texts.
    /// Details whose code names a message (`DetailsMessage`, `...UnderlyingErrorMessage`) come
    /// first, and when there are any the others (HRESULTs, data source kinds) are left out.
    fn texts(&self) -> Vec<&str> {
        let is_message =
            |d: &&PowerBiErrorDetail| d.code.as_deref().is_some_and(|c| c.to_ascii_lowercase().contains("message"));
        let wordy: Vec<&PowerBiErrorDetail> = self.details.iter().filter(is_message).collect();
        let details: Vec<&PowerBiErrorDetail> = if wordy.is_empty() { self.details.iter().collect() } else { wordy };
        let mut texts: Vec<&str> = self.message.iter().map(String::as_str).collect();
        let limit = texts.len() + 3;
        for detail in details {
            if texts.len() == limit {
                break;
            }
            if !texts.contains(&detail.message.as_str()) {
                texts.push(&detail.message);
            }
        }
        texts
    }

    /// The `error` parameter of the `WWW-Authenticate` challenge, e.g. `insufficient_claims`.
    pub fn challenge_error(&self) -> Option<&str> {
        challenge_param(self.www_authenticate.as_deref()?, "error")
    }
}

/// A quoted or bare `name=value` parameter of an HTTP authentication challenge.
fn challenge_param<'a>(challenge: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = challenge;
    while let Some(at) = rest.find(name) {
        let before_ok = at == 0 || matches!(rest.as_bytes()[at - 1], b' ' | b',');
        let after = &rest[at + name.len()..];
        if before_ok {
            if let Some(value) = after.trim_start().strip_prefix('=') {
                let value = value.trim_start();
                return Some(match value.strip_prefix('"') {
                    Some(quoted) => quoted.split('"').next().unwrap_or_default(),
                    None => value.split([',', ' ']).next().unwrap_or_default(),
                });
            }
        }
        rest = after;
    }
    None
}

/// Why Power BI refused a call, as far as its answer tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PowerBiCause {
    TokenExpired,
    TokenInvalid,
    ClaimsChallenge,
    TenantSwitchOff,
    NotWorkspaceMember,
    NoAccess,
    UserNotLicensed,
    CapacityNotActive,
    EmbedTokenLimit,
    IdentityRequired,
    RolesRequired,
    IdentityNotAllowed,
    EntityNotFound,
    NotFoundMaybeMyWorkspace,
    Forbidden,
    Throttled,
}

/// Reasons (`code` or `X-PowerBI-Error-Info`) meaning the Entra token itself was refused.
const EXPIRED_TOKEN_REASONS: &[&str] = &["TokenExpired", "ExpiredToken"];
const INVALID_TOKEN_REASONS: &[&str] = &["InvalidToken", "InvalidAuthenticationToken", "TokenInvalid"];
/// Reasons meaning the workspace's capacity is paused, suspended or gone.
const CAPACITY_REASONS: &[&str] = &["CapacityNotActive", "CapacityPaused", "CapacitySuspended", "CapacityNotFound"];

impl PowerBiCause {
    fn of(e: &PowerBiError) -> Option<Self> {
        let mut text = e.message.as_deref().unwrap_or_default().to_ascii_lowercase();
        for detail in &e.details {
            text.push(' ');
            text.push_str(&detail.message.to_ascii_lowercase());
        }
        let code = e.code.as_deref().unwrap_or_default();
        let info = e.error_info.as_deref().unwrap_or_default();
        let reason_is =
            |names: &[&str]| names.iter().any(|n| n.eq_ignore_ascii_case(code) || n.eq_ignore_ascii_case(info));
        // The texts of the 400 answers to GenerateToken (RLS) and of the embed-token quota.
        if text.contains("shouldn't have effective identity") || text.contains("identity shouldn't be provided") {
            return Some(Self::IdentityNotAllowed);
        }
        if text.contains("requires roles to be included") {
            return Some(Self::RolesRequired);
        }
        if text.contains("requires effective identity") {
            return Some(Self::IdentityRequired);
        }
        if text.contains("exceeded the amount of embed token") {
            return Some(Self::EmbedTokenLimit);
        }
        if matches!(e.challenge_error(), Some("insufficient_claims" | "interaction_required")) {
            return Some(Self::ClaimsChallenge);
        }
        if reason_is(EXPIRED_TOKEN_REASONS) || text.contains("access token has expired") {
            return Some(Self::TokenExpired);
        }
        if reason_is(INVALID_TOKEN_REASONS) || matches!(e.challenge_error(), Some("invalid_token")) {
            return Some(Self::TokenInvalid);
        }
        if reason_is(&["ServicePrincipalIsNotAllowedByTenantAdminSwitch"]) {
            return Some(Self::TenantSwitchOff);
        }
        if reason_is(&["GroupNotAccessible", "WorkspaceNotAccessible"]) {
            return Some(Self::NotWorkspaceMember);
        }
        if reason_is(&["UserNotLicensed"]) {
            return Some(Self::UserNotLicensed);
        }
        if reason_is(CAPACITY_REASONS)
            || (text.contains("capacity") && (text.contains("paused") || text.contains("not active")))
        {
            return Some(Self::CapacityNotActive);
        }
        if reason_is(&["PowerBIEntityNotFound", "ItemNotFound", "EntityNotFound"]) {
            return Some(Self::EntityNotFound);
        }
        Some(match e.status {
            401 => Self::NoAccess,
            403 => Self::Forbidden,
            404 if code.is_empty() || code.contains("NotFound") => Self::NotFoundMaybeMyWorkspace,
            429 => Self::Throttled,
            _ => return None,
        })
    }

    fn hint(self) -> &'static str {
        match self {
            Self::TokenExpired => "the Entra access token has expired: request a new one (the client retries once with a new token by itself; if this persists, check this machine's clock)",
            Self::TokenInvalid => "Power BI could not accept the Entra access token: request it for the Power BI scope of the same cloud (e.g. https://analysis.windows.net/powerbi/api/.default), not for another resource",
            Self::ClaimsChallenge => "a Conditional Access policy wants a new token that meets the claims in WWW-Authenticate: sign in again",
            Self::TenantSwitchOff => "the tenant setting 'Service principals can use Fabric APIs' is off, or this service principal is not in the security group it allows",
            Self::NotWorkspaceMember => "this identity is not a member of the workspace: add the service principal (or master user) as Member or Admin",
            Self::NoAccess => "this identity has no access to the item or the tenant: add the service principal (or master user) to the workspace as Member or Admin, and check that the tenant setting 'Service principals can use Fabric APIs' is on",
            Self::UserNotLicensed => "the master user has no Power BI Pro or Premium Per User licence",
            Self::CapacityNotActive => "the workspace's capacity is paused or not active: resume it in the Azure portal, or assign the workspace to a running capacity",
            Self::EmbedTokenLimit => "the capacity's embed-token quota is used up: cache and reuse embed tokens, or move the workspace to a capacity",
            Self::IdentityRequired => "this dataset uses row-level security: add an effective identity (username, roles)",
            Self::RolesRequired => "this dataset's row-level security needs roles: add the role names to the effective identity",
            Self::IdentityNotAllowed => "this dataset has no row-level security: remove the effective identities",
            Self::EntityNotFound => "not found: no such report, dataset or workspace for this identity; check the ids and that the item belongs to this workspace",
            Self::NotFoundMaybeMyWorkspace => "the workspace or item was not found: check the ids, and use a shared workspace: a service principal cannot reach 'My workspace'",
            Self::Forbidden => "Power BI refused the call: check that this identity is a member (Member or Admin) of the workspace, that the Entra token has not expired and that the workspace's capacity is running",
            Self::Throttled => "throttled by Power BI: slow down, cache embed tokens",
        }
    }
}

impl fmt::Display for PowerBiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Power BI answered HTTP {}", self.status)?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        let texts = self.texts();
        if let Some((first, rest)) = texts.split_first() {
            write!(f, ": {}", first_line(first))?;
            for text in rest {
                write!(f, "; {}", first_line(text))?;
            }
        }
        if let Some(info) = &self.error_info {
            write!(f, " [X-PowerBI-Error-Info {info}]")?;
        }
        if let Some(error) = self.challenge_error() {
            write!(f, " [WWW-Authenticate error {error}]")?;
        }
        if let Some(hint) = self.hint() {
            write!(f, " ({hint})")?;
        }
        if let Some(request_id) = &self.request_id {
            write!(f, " [RequestId {request_id}]")?;
        }
        Ok(())
    }
}

/// The first line of a service text, at most 300 characters.
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    let mut short: String = line.chars().take(300).collect();
    if short.len() < line.len() {
        short.push('…');
    }
    short
}

impl std::error::Error for PowerBiError {}

/// What kind of transport failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// No connection could be made (refused, DNS, TLS handshake).
    Connect,
    /// The request or the whole exchange took longer than the configured timeout.
    Timeout,
    /// The connection broke while the request or response was in flight.
    Interrupted,
    /// The call's deadline passed (the client's `call_timeout`, or the `deadline` of the
    /// [`PowerBiView`](crate::PowerBiView) it was made through, which bounds a whole token or
    /// embed call: every request, attempt and wait in it). A request may have been sent.
    Deadline,
}

/// A request that did not complete.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TransportError {
    /// What happened.
    pub kind: TransportErrorKind,
    /// Which service was being called (`Entra ID`, `Power BI`, `managed identity`).
    pub service: &'static str,
    /// Whether the request may have reached the server (false only for connect failures).
    pub maybe_sent: bool,
    /// How many attempts were made (for [`TransportErrorKind::Deadline`], 1: attempts are not
    /// counted across a call).
    pub attempts: u32,
    message: String,
    /// The HTTP client's error underneath (its URL removed), for `source()`.
    cause: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl TransportError {
    pub(crate) fn new(service: &'static str, kind: TransportErrorKind, message: String) -> Self {
        Self { kind, service, maybe_sent: kind != TransportErrorKind::Connect, attempts: 1, message, cause: None }
    }

    pub(crate) fn with_cause(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.cause = Some(Arc::new(cause));
        self
    }

    /// A call that did not finish within its budget: the client's `call_timeout`, or the
    /// `deadline` of the view it was made through.
    pub(crate) fn deadline(service: &'static str, budget: Duration) -> Self {
        let message = format!("not finished within {} (call_timeout, or the view's deadline)", seconds(budget));
        Self::new(service, TransportErrorKind::Deadline, message)
    }

    pub(crate) fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            TransportErrorKind::Connect => "could not connect to",
            TransportErrorKind::Timeout => "timed out waiting for",
            TransportErrorKind::Interrupted => "lost the connection to",
            // The attempts are not counted across a whole call.
            TransportErrorKind::Deadline => {
                return write!(f, "{} call gave up at its deadline: {}", self.service, self.message);
            }
        };
        write!(f, "{what} {} after {} attempt(s): {}", self.service, self.attempts, self.message)
    }
}

/// `source()` is the HTTP client's error (a `reqwest::Error` today, its URL removed), whose own
/// chain reaches the I/O or TLS error. The message already spells that chain out, so printing
/// both repeats it: print either the message alone, or the chain with a reporter.
impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.as_deref().map(|cause| cause as &(dyn std::error::Error + 'static))
    }
}

/// `30 s`, `1.5 s`: whole seconds when the duration is whole.
fn seconds(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} s", duration.as_secs_f64())
    }
}

/// A success status whose body does not follow the contract, or a redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnexpectedResponse {
    /// Which service answered.
    pub service: &'static str,
    /// HTTP status.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The `RequestId` header, if any.
    pub request_id: Option<String>,
    /// What is wrong (string values from the body are elided, since a success body can carry a
    /// token).
    pub reason: String,
}

impl fmt::Display for UnexpectedResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unexpected response from {} (HTTP {}", self.service, self.status)?;
        if let Some(content_type) = &self.content_type {
            write!(f, ", {content_type}")?;
        }
        write!(f, "): {}", self.reason)?;
        if let Some(request_id) = &self.request_id {
            write!(f, " [RequestId {request_id}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for UnexpectedResponse {}

/// Removes every double-quoted string from a parser message, so that an error about a success
/// body (which may hold a token) cannot echo the token.
pub(crate) fn elide_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_quotes = false;
    let mut escaped = false;
    for c in message.chars() {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quotes = false;
                out.push_str("…\"");
            }
            continue;
        }
        out.push(c);
        if c == '"' {
            in_quotes = true;
        }
    }
    if in_quotes {
        out.push_str("…\"");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elide_quoted_removes_string_values() {
        assert_eq!(
            elide_quoted(r#"invalid type: string "eyJ0eXAi\"x", expected u64 at line 1 column 9"#),
            "invalid type: string \"…\", expected u64 at line 1 column 9"
        );
        assert_eq!(elide_quoted("no quotes"), "no quotes");
        assert_eq!(elide_quoted("open \"secr"), "open \"…\"");
    }

    #[test]
    fn the_source_chain_continues_below_the_typed_error() {
        use std::error::Error as _;
        let cause = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let transport =
            TransportError::new("Power BI", TransportErrorKind::Interrupted, "reset by peer".into()).with_cause(cause);
        let error = Error::Transport(Arc::new(transport.clone()));
        let source = error.source().expect("the HTTP client's error");
        assert_eq!(source.downcast_ref::<std::io::Error>().unwrap().kind(), std::io::ErrorKind::ConnectionReset);
        assert_eq!(error.to_string(), "lost the connection to Power BI after 1 attempt(s): reset by peer");

        let credential = Error::Credential {
            credential: "managed identity",
            kind: CredentialErrorKind::Unavailable,
            message: "no managed identity is available".into(),
            source: Some(Arc::new(transport)),
        };
        assert_eq!(credential.credential_kind(), Some(CredentialErrorKind::Unavailable));
        let below = credential.source().unwrap().downcast_ref::<TransportError>().unwrap();
        assert_eq!(below.kind, TransportErrorKind::Interrupted);
        assert!(below.source().is_some());

        let invalid = Error::invalid("username", "is empty");
        assert!(invalid.source().is_none());
        assert_eq!(invalid.credential_kind(), None);
    }

    #[test]
    fn unexpected_responses_are_retryable_only_for_server_statuses() {
        let unexpected = |status| {
            Error::UnexpectedResponse(Arc::new(UnexpectedResponse {
                service: "Entra ID",
                status,
                content_type: Some("text/html".into()),
                request_id: None,
                reason: "error status without an OAuth error body".into(),
            }))
        };
        for status in [429, 500, 502, 503, 504] {
            assert!(unexpected(status).is_retryable(), "{status}");
        }
        for status in [200, 301, 400, 401, 403, 404] {
            assert!(!unexpected(status).is_retryable(), "{status}");
        }
    }

    #[test]
    fn challenge_parameters_are_read_quoted_or_bare_and_never_from_a_longer_name() {
        let challenge = r#"Bearer error_description="no", authorization_uri="https://login.windows.net/x", error="insufficient_claims", claims="eyJ""#;
        assert_eq!(challenge_param(challenge, "error"), Some("insufficient_claims"));
        assert_eq!(challenge_param(challenge, "error_description"), Some("no"));
        assert_eq!(challenge_param("Bearer realm=x, error=invalid_token", "error"), Some("invalid_token"));
        assert_eq!(challenge_param("Bearer x_error=\"a\"", "error"), None);
        assert_eq!(challenge_param("Bearer", "error"), None);
    }

    #[test]
    fn entra_display_prefers_hint_and_keeps_ids() {
        let e = EntraError {
            status: 401,
            error: "invalid_client".into(),
            error_description: Some("AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x".into()),
            error_codes: vec![7000215],
            timestamp: None,
            trace_id: Some("t-1".into()),
            correlation_id: Some("c-1".into()),
            suberror: None,
            error_uri: None,
        };
        assert_eq!(
            e.to_string(),
            "Entra ID refused the token request (HTTP 401, invalid_client, AADSTS7000215): the client secret is wrong: \
             use the secret's Value, not its Secret ID [trace_id t-1, correlation_id c-1]"
        );
    }
}
