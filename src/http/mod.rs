//! The one place requests are sent: timeouts, no redirects, bounded retries, and the mapping of
//! transport failures to [`TransportError`].

pub(crate) mod deadline;
pub(crate) mod options;
pub(crate) mod retry;
pub(crate) mod url;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;

use crate::clock::Clock;
use crate::error::{is_retryable_status, Error, Result, TransportError, TransportErrorKind, UnexpectedResponse};
pub(crate) use options::http_option_setters;
pub use options::HttpOptions;
pub use retry::RetryPolicy;

/// The `User-Agent` of every request.
pub(crate) const USER_AGENT: &str = concat!("powerbi-embed-rust/", env!("CARGO_PKG_VERSION"));

/// The default cap on a reply body: far above any token or item answer (a few KiB) or a long
/// item list (hundreds of KiB), far below what would hurt a server process.
pub(crate) const DEFAULT_MAX_REPLY_BYTES: usize = 4 * 1024 * 1024;
/// The smallest cap a builder accepts: below it even an error body would not fit.
pub(crate) const MIN_REPLY_BYTES: usize = 1024;

/// A client with the defaults token requests need: a 30 s overall and 10 s connect timeout, and
/// no redirects (a token request that is redirected could carry a secret to another host).
pub(crate) fn default_http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(10))
        .user_agent(USER_AGENT)
        .build()
        .map_err(|e| Error::invalid("http_client", format!("could not build the HTTP client: {e}")))
}

/// A complete answer: status, the headers we use, and the whole body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub request_id: Option<String>,
    pub retry_after: Option<Duration>,
    /// Power BI's `X-PowerBI-Error-Info` header: on a 401 / 403 with an empty body, the only
    /// reason given (e.g. `ServicePrincipalIsNotAllowedByTenantAdminSwitch`).
    pub error_info: Option<String>,
    /// The `WWW-Authenticate` challenge of a 401 (never a secret: it names the authority and
    /// the error, not the token).
    pub www_authenticate: Option<String>,
    /// At most the pipeline's `max_reply_bytes`; reqwest's own buffer when the body came in one
    /// piece.
    pub body: Bytes,
}

impl Reply {
    /// A JSON reply with `status` and `body` and no other headers, for unit tests of the parsers.
    #[cfg(test)]
    pub fn json(status: u16, body: &str) -> Reply {
        Reply {
            status,
            content_type: Some("application/json".into()),
            request_id: None,
            retry_after: None,
            error_info: None,
            www_authenticate: None,
            body: body.as_bytes().to_vec().into(),
        }
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// An [`UnexpectedResponse`] for this reply.
    pub fn unexpected(&self, service: &'static str, reason: impl Into<String>) -> Error {
        Error::UnexpectedResponse(Arc::new(UnexpectedResponse {
            service,
            status: self.status,
            content_type: self.content_type.clone(),
            request_id: self.request_id.clone(),
            reason: reason.into(),
        }))
    }

    /// Redirects are never followed; say so instead of reporting a confusing body error.
    pub fn reject_redirect(&self, service: &'static str) -> Result<()> {
        if (300..400).contains(&self.status) {
            return Err(self.unexpected(service, "redirects are not followed on this request"));
        }
        Ok(())
    }

    /// Whether the body looks like JSON (by content type, or by its first byte when the content
    /// type is missing).
    pub fn looks_like_json(&self) -> bool {
        match &self.content_type {
            Some(ct) => ct.to_ascii_lowercase().contains("json"),
            None => self.body.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| *b == b'{' || *b == b'['),
        }
    }
}

/// Whether a request may be sent twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotency {
    /// Safe to repeat (GET lookups, token requests).
    Idempotent,
    /// Repeat only when it surely was not processed.
    NonIdempotent,
}

/// Sends requests with a retry policy, over a caller-supplied or default client.
#[derive(Debug, Clone)]
pub(crate) struct HttpPipeline {
    pub client: reqwest::Client,
    pub retry: RetryPolicy,
    pub clock: Arc<dyn Clock>,
    /// The most bytes of a reply body read; a longer body is an [`UnexpectedResponse`] and the
    /// rest of it is never read.
    pub max_reply_bytes: usize,
    /// How long one token or embed call may take, everything included (see [`deadline`]).
    pub call_timeout: Duration,
}

impl HttpPipeline {
    /// Runs `call` within this pipeline's `call_timeout` (or an enclosing call's deadline, if
    /// sooner); see [`deadline::bounded`].
    pub fn bounded<F>(&self, service: &'static str, call: F) -> deadline::Bounded<'_, F> {
        self.bounded_within(self.call_timeout, service, call)
    }

    /// [`bounded`](Self::bounded) with the caller's own budget instead of `call_timeout` (the
    /// per-call `deadline` of a view of the client).
    pub fn bounded_within<F>(&self, budget: Duration, service: &'static str, call: F) -> deadline::Bounded<'_, F> {
        deadline::bounded(&self.clock, budget, service, call)
    }

    /// Sends the request `build` makes (once per attempt) and reads the whole body, retrying
    /// per the policy. Error statuses come back as `Ok(Reply)` for the caller to map; transport
    /// failures and a body over the cap (never retried) are `Err`.
    pub async fn execute<F>(&self, service: &'static str, idempotency: Idempotency, build: F) -> Result<Reply>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        let mut waited = Duration::ZERO;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let outcome = match self.send_once(service, build(&self.client)).await {
                Ok(Received::Whole(reply)) => Ok(reply),
                // Not retried: the same request would get the same oversized answer.
                Ok(Received::TooLarge(error)) => return Err(error),
                Err(e) => Err(e),
            };
            let delay = match &outcome {
                Ok(reply) if is_retryable_status(reply.status) => {
                    let unprocessed = reply.status == 429;
                    (idempotency == Idempotency::Idempotent || unprocessed)
                        .then(|| reply.retry_after.unwrap_or_else(|| self.retry.backoff(attempt)))
                }
                Ok(_) => None,
                Err(e) => {
                    (idempotency == Idempotency::Idempotent || !e.maybe_sent).then(|| self.retry.backoff(attempt))
                }
            };
            // A wait that would end past the call's deadline is not started: the last answer is
            // worth more to the caller than a deadline error after the wait.
            let may_retry = attempt < self.retry.attempts()
                && delay.is_some_and(|d| self.retry.allows(waited, d) && deadline::leaves_room(&*self.clock, d));
            match (outcome, may_retry) {
                (Ok(reply), false) => return Ok(reply),
                (Err(e), false) => return Err(Error::Transport(Arc::new(e.with_attempts(attempt)))),
                (outcome, true) => {
                    let delay = delay.unwrap_or_default();
                    match &outcome {
                        Ok(reply) => tracing::debug!(service, status = reply.status, attempt, ?delay, "retrying"),
                        Err(e) => tracing::debug!(service, error = %e, attempt, ?delay, "retrying"),
                    }
                    self.clock.sleep(delay).await;
                    waited = waited.saturating_add(delay);
                }
            }
        }
    }

    async fn send_once(
        &self,
        service: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<Received, TransportError> {
        let mut response = request.send().await.map_err(|e| transport_error(service, e))?;
        let status = response.status().as_u16();
        let headers = response.headers();
        let content_type = header(headers, "content-type");
        let request_id = header(headers, "requestid").or_else(|| header(headers, "x-ms-request-id"));
        let retry_after = header(headers, "retry-after").and_then(|v| retry::parse_retry_after(&v, self.clock.now()));
        let error_info = header(headers, "x-powerbi-error-info");
        let www_authenticate = header(headers, "www-authenticate");
        let mut reply =
            Reply { status, content_type, request_id, retry_after, error_info, www_authenticate, body: Bytes::new() };
        let cap = self.max_reply_bytes;
        // A declared length over the cap is refused before a byte of the body is read.
        let declared = response.content_length();
        if declared.is_some_and(|n| n > u64::try_from(cap).unwrap_or(u64::MAX)) {
            return Ok(Received::TooLarge(too_large(&reply, service, cap)));
        }
        // Read chunk by chunk, so a body without a length (chunked, or closed at the end) is cut
        // off at the cap too; dropping `response` then closes the connection unread. The chunks
        // are joined once at the end (no growing buffer copied over and over while reading), and
        // a body that came in one chunk, the usual small answer, is kept as it is.
        let mut chunks: Vec<Bytes> = Vec::new();
        let mut read = 0usize;
        while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(service, e))? {
            if chunk.len() > cap - read {
                return Ok(Received::TooLarge(too_large(&reply, service, cap)));
            }
            read += chunk.len();
            chunks.push(chunk);
        }
        reply.body = match chunks.len() {
            0 => Bytes::new(),
            1 => chunks.pop().unwrap_or_default(),
            _ => Bytes::from(chunks.concat()),
        };
        Ok(Received::Whole(reply))
    }
}

/// What one attempt read.
enum Received {
    Whole(Reply),
    /// The body passed the cap: the error to return, with the reply's status and headers.
    TooLarge(Error),
}

fn too_large(reply: &Reply, service: &'static str, cap: usize) -> Error {
    reply.unexpected(service, format!("the reply body is larger than the {cap}-byte limit (max_response_bytes)"))
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn transport_error(service: &'static str, error: reqwest::Error) -> TransportError {
    let kind = if error.is_connect() {
        TransportErrorKind::Connect
    } else if error.is_timeout() {
        TransportErrorKind::Timeout
    } else {
        TransportErrorKind::Interrupted
    };
    // reqwest's own message is terse ("error sending request"); the causes say what happened.
    let error = error.without_url();
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    TransportError::new(service, kind, message).with_cause(error)
}

/// Trait-object-free helper so credentials can read a JSON body with a contract-shaped error.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    reply: &Reply,
    service: &'static str,
    what: &str,
) -> Result<T> {
    if !reply.looks_like_json() {
        return Err(reply.unexpected(service, format!("{what} is not JSON")));
    }
    serde_json::from_slice(&reply.body).map_err(|e| {
        let reason = crate::error::elide_quoted(&e.to_string());
        reply.unexpected(service, format!("{what} could not be read: {reason}"))
    })
}
