//! The HTTP settings both clients take: one type, so an [`AadClient`](crate::AadClient) and a
//! [`PowerBiClient`](crate::PowerBiClient) are configured with the same words, and a backend can
//! define its settings once and hand them to both.

use std::sync::Arc;
use std::time::Duration;

use super::deadline::DEFAULT_CALL_TIMEOUT;
use super::{default_http_client, HttpPipeline, RetryPolicy, DEFAULT_MAX_REPLY_BYTES, MIN_REPLY_BYTES};
use crate::clock::Clock;
use crate::error::Result;

/// How a client sends its requests: the HTTP client, retries, the reply-size cap and the
/// deadline of one call.
///
/// Both [`AadClientBuilder`](crate::AadClientBuilder) and
/// [`PowerBiClientBuilder`](crate::PowerBiClientBuilder) take it whole (`.http_options(..)`) or a
/// setting at a time (`.call_timeout(..)` and so on, which set the same fields).
///
/// ```
/// use std::time::Duration;
/// use powerbi_embed::{HttpOptions, RetryPolicy};
///
/// let http = HttpOptions::default()
///     .call_timeout(Duration::from_secs(10))
///     .retry_policy(RetryPolicy::default().max_attempts(2));
/// # let _ = http;
/// // AadClient::builder(credential).http_options(http.clone()) ... and
/// // PowerBiClient::builder(aad).http_options(http)
/// ```
#[derive(Debug, Clone)]
pub struct HttpOptions {
    client: Option<reqwest::Client>,
    retry: RetryPolicy,
    max_response_bytes: usize,
    call_timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            client: None,
            retry: RetryPolicy::default(),
            max_response_bytes: DEFAULT_MAX_REPLY_BYTES,
            call_timeout: DEFAULT_CALL_TIMEOUT,
        }
    }
}

impl HttpOptions {
    /// Sends requests with this client instead of the default one (30 s request and 10 s
    /// connect timeouts, no redirects). Give yours no redirect policy
    /// (`reqwest::redirect::Policy::none()`: a redirected token request could carry a secret to
    /// another host) and a timeout; it is used as it is. The client is
    /// [`reqwest`](crate::reqwest)'s, re-exported by this crate.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Retries of failed requests (default: [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The most bytes of a reply body to read (default 4 MiB, at least 1 KiB). A longer body is
    /// an [`Error::UnexpectedResponse`](crate::Error::UnexpectedResponse), refused from its
    /// `Content-Length` or cut off once the cap is read, without reading the rest; it is not
    /// retried.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes.max(MIN_REPLY_BYTES);
        self
    }

    /// How long one call may take in all (default 30 s): the cache and shared store, every
    /// request, retry and wait between retries (for a Power BI call, the Entra token it needs
    /// too; an embed config's lookup and token run side by side, each within it). At the
    /// deadline the call ends with an [`Error::Transport`](crate::Error::Transport) of kind
    /// [`Deadline`](crate::TransportErrorKind::Deadline), and no retry wait that would end past
    /// it is started (the last answer is returned instead). A credential that waits for a person
    /// ([`TokenCredential::waits_for_user`](crate::TokenCredential::waits_for_user)) bounds its
    /// own wait instead; long operations (uploads, polling an import, waiting for a capacity
    /// assignment) have deadlines of their own.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// The one pipeline these settings describe, on `clock`.
    pub(crate) fn pipeline(self, clock: Arc<dyn Clock>) -> Result<HttpPipeline> {
        let client = match self.client {
            Some(client) => client,
            None => default_http_client()?,
        };
        Ok(HttpPipeline {
            client,
            retry: self.retry,
            clock,
            max_reply_bytes: self.max_response_bytes,
            call_timeout: self.call_timeout,
        })
    }
}

/// The `http_options` setter and the four one-setting shorthands, for a builder with a field
/// `http: HttpOptions`: written once here, so both client builders offer the same words with the
/// same rules.
macro_rules! http_option_setters {
    ($what:literal) => {
        #[doc = concat!("How ", $what, " are sent: the HTTP client, retries, the reply-size cap and the")]
        /// deadline of one call, all at once (see [`HttpOptions`](crate::HttpOptions); the four
        /// setters below set the same fields one at a time).
        pub fn http_options(mut self, http: crate::HttpOptions) -> Self {
            self.http = http;
            self
        }

        /// [`HttpOptions::http_client`](crate::HttpOptions::http_client): sends requests with
        /// this client.
        pub fn http_client(mut self, client: reqwest::Client) -> Self {
            self.http = self.http.http_client(client);
            self
        }

        #[doc = concat!("[`HttpOptions::retry_policy`](crate::HttpOptions::retry_policy): retries of ", $what, ".")]
        pub fn retry_policy(mut self, retry: crate::RetryPolicy) -> Self {
            self.http = self.http.retry_policy(retry);
            self
        }

        /// [`HttpOptions::max_response_bytes`](crate::HttpOptions::max_response_bytes): the most
        /// bytes of a reply body to read (default 4 MiB).
        pub fn max_response_bytes(mut self, bytes: usize) -> Self {
            self.http = self.http.max_response_bytes(bytes);
            self
        }

        #[doc = concat!("[`HttpOptions::call_timeout`](crate::HttpOptions::call_timeout): how long one call may take in all, for ", $what, " (default 30 s).")]
        pub fn call_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.http = self.http.call_timeout(timeout);
            self
        }
    };
}
pub(crate) use http_option_setters;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reply_cap_has_a_floor_and_the_settings_reach_the_pipeline() {
        let options = HttpOptions::default()
            .http_client(reqwest::Client::new())
            .max_response_bytes(10)
            .call_timeout(Duration::from_secs(7))
            .retry_policy(RetryPolicy::none());
        let pipeline = options.pipeline(Arc::new(crate::clock::SystemClock)).unwrap();
        assert_eq!(pipeline.max_reply_bytes, MIN_REPLY_BYTES);
        assert_eq!(pipeline.call_timeout, Duration::from_secs(7));
        assert_eq!(pipeline.retry.attempts(), 1);
    }

    #[test]
    fn the_defaults_are_4_mib_and_30_s() {
        let pipeline = HttpOptions::default().pipeline(Arc::new(crate::clock::SystemClock));
        // Without a TLS backend the default client still builds (https is refused later).
        let pipeline = pipeline.unwrap();
        assert_eq!(pipeline.max_reply_bytes, 4 * 1024 * 1024);
        assert_eq!(pipeline.call_timeout, Duration::from_secs(30));
    }
}
