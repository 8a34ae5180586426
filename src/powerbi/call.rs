//! The one request path under every handle: URL, Entra token, headers (the profile's
//! included), the HTTP pipeline, the call's deadline, error mapping, and recovery from an Entra
//! token Power BI refuses. Written once, so every operation behaves alike.

use std::time::Duration;

use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde::de::DeserializeOwned;
use tracing::Instrument;
use url::Url;

use crate::auth::AccessToken;
use crate::cache::Need;
use crate::error::{Error, Result};
use crate::http::{parse_json, Idempotency, Reply};
use crate::powerbi::client::{EmbedKey, PowerBiClient};
use crate::powerbi::error::power_bi_error;
use crate::powerbi::models::{EmbedToken, SERVICE};
use crate::powerbi::operation::Operation;
use crate::powerbi::request::RequestBody;
use crate::powerbi::view::PowerBiView;

/// The header that selects a service principal profile.
const PROFILE_HEADER: &str = "X-PowerBI-Profile-Id";
/// Extra Entra lifetime asked for on top of the embed token's, for the request's own duration.
const ENTRA_SLACK: Duration = Duration::from_secs(60);

impl<'a> PowerBiView<'a> {
    /// A `GET` of `path` (under the API base) parsed as `T`, within the call's deadline (the
    /// Entra token it needs included).
    pub(crate) async fn get_json<T: DeserializeOwned>(self, path: String, what: &'static str) -> Result<T> {
        let call = std::pin::pin!(self.get_unbounded(path, what));
        self.bounded(call).await
    }

    /// An embed token within the call's deadline, from the cache when it holds one.
    pub(crate) async fn generate(
        self,
        operation: Operation,
        body: &RequestBody,
        lifetime_minutes: Option<u32>,
    ) -> Result<EmbedToken> {
        // Pinned where it is made: moving a lookup this large into the deadline's future cost more
        // than the rest of a cache hit.
        let call = std::pin::pin!(self.generate_cached(operation, body, lifetime_minutes));
        self.bounded(call).await
    }

    /// `call` bounded by the view's deadline, or else the client's `call_timeout`.
    fn bounded<F>(self, call: F) -> crate::http::deadline::Bounded<'a, F> {
        let http = &self.inner.http;
        match self.options.deadline {
            Some(within) => http.bounded_within(within, SERVICE, call),
            None => http.bounded(SERVICE, call),
        }
    }

    async fn generate_cached(
        self,
        operation: Operation,
        body: &RequestBody,
        lifetime_minutes: Option<u32>,
    ) -> Result<EmbedToken> {
        let Some(cache) = &self.inner.embed_cache else {
            return self.generate_uncached(operation, body, lifetime_minutes).await;
        };
        let need = if self.options.refresh { Need::FetchedSince(self.inner.http.clock.now()) } else { Need::Valid };
        let key = EmbedKey { profile: self.options.profile, operation, body: body.clone() };
        cache.get_or_fetch(&key, need, || self.generate_uncached(operation, body, lifetime_minutes)).await
    }

    async fn generate_uncached(
        self,
        operation: Operation,
        body: &RequestBody,
        lifetime_minutes: Option<u32>,
    ) -> Result<EmbedToken> {
        let span = tracing::info_span!("powerbi_generate_token", operation = operation.name());
        async move {
            // An embed token never outlives the Entra token it was requested with, so make sure
            // that one lives long enough first; while Entra fails, settle for one that still
            // gives an embed token of `EMBED_TOKEN_FLOOR`.
            let wanted =
                lifetime_minutes.map_or(self.inner.default_lifetime, |m| Duration::from_secs(u64::from(m) * 60));
            let need = entra_need(self.inner.http.clock.now(), wanted);
            let url = &self.url(&operation.path())?;
            let body = operation.body(body);
            let body = body.as_ref();
            let token = self
                .with_entra_token(need, |entra| async move {
                    let reply = self
                        .inner
                        .http
                        .execute(SERVICE, self.inner.generate_idempotency, |client| {
                            self.authorize(client.post(url.clone()), &entra)
                                .header(CONTENT_TYPE, "application/json")
                                .body(body.to_owned())
                        })
                        .await?;
                    check(&reply).and_then(|()| EmbedToken::from_reply(&reply, self.inner.http.clock.now()))
                })
                .await;
            match &token {
                Ok(t) => {
                    tracing::debug!(token_id = %t.token_id(), expiration = %t.expiration(), "embed token generated")
                }
                Err(e) => tracing::debug!(error = %e, "GenerateToken failed"),
            }
            token
        }
        .instrument(span)
        .await
    }

    async fn get_unbounded<T: DeserializeOwned>(self, path: String, what: &'static str) -> Result<T> {
        let url = &self.url(&path)?;
        self.with_entra_token(Need::Valid, |entra| async move {
            let reply = self
                .inner
                .http
                .execute(SERVICE, Idempotency::Idempotent, |client| self.authorize(client.get(url.clone()), &entra))
                .await?;
            check(&reply)?;
            parse_json(&reply, SERVICE, what)
        })
        .await
    }

    /// Runs `call` with an Entra token meeting `need`. When Power BI refuses that token itself
    /// (`TokenExpired`, `InvalidToken`: a revoked token, or a clock that stepped back, make a
    /// token fail before its computed expiry), the token is dropped from the local and shared
    /// caches, a new one is fetched and `call` runs once more; a second refusal is returned as
    /// it is, with its hint.
    async fn with_entra_token<T, F, Fut>(self, need: Need, call: F) -> Result<T>
    where
        F: Fn(AccessToken) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let entra = self.inner.aad.token_with(need).await?;
        let refused = match call(entra.clone()).await {
            Err(Error::PowerBi(refused)) if refused.is_rejected_token() => refused,
            outcome => return outcome,
        };
        let Some(fresh) = self.inner.aad.replace_rejected(&entra, need).await? else {
            return Err(Error::PowerBi(refused));
        };
        tracing::info!(error = %refused, "Power BI refused the Entra token; retrying once with a new one");
        call(fresh).await
    }

    /// The headers every Power BI request carries: the bearer token, `Accept`, and the profile
    /// when the view acts as one (formatted here, when a request is sent, never on a cache hit).
    pub(crate) fn authorize(self, request: reqwest::RequestBuilder, entra: &AccessToken) -> reqwest::RequestBuilder {
        let request = match entra.bearer_header() {
            Some(bearer) => request.header(AUTHORIZATION, bearer.clone()),
            // Not a valid header value: let reqwest refuse it as it refuses any bad header.
            None => request.header(AUTHORIZATION, format!("Bearer {}", entra.secret().expose_secret())),
        };
        let request = request.header(ACCEPT, "application/json");
        match self.options.profile {
            Some(profile) => request.header(
                PROFILE_HEADER,
                HeaderValue::from_str(&profile.to_string()).expect("a formatted GUID is a valid header value"),
            ),
            None => request,
        }
    }

    fn url(self, path: &str) -> Result<Url> {
        self.inner.api_base.join(path).map_err(|e| Error::invalid("api_base", format!("cannot form {path}: {e}")))
    }
}

/// An error reply becomes [`Error::PowerBi`]; a redirect is refused.
fn check(reply: &Reply) -> Result<()> {
    reply.reject_redirect(SERVICE)?;
    if reply.is_success() {
        Ok(())
    } else {
        Err(power_bi_error(reply))
    }
}

/// What the embed path needs from the Entra token for an embed token of `wanted` lifetime:
/// `wanted` plus slack, or at least the floor while renewal fails. Saturating: a lifetime of
/// `u32::MAX` minutes is a valid request.
fn entra_need(now: time::OffsetDateTime, wanted: Duration) -> Need {
    let until = |lifetime: Duration| {
        let lifetime = time::Duration::try_from(lifetime.saturating_add(ENTRA_SLACK)).unwrap_or(time::Duration::MAX);
        now.saturating_add(lifetime)
    };
    Need::PreferablyUntil { wanted: until(wanted), floor: until(wanted.min(PowerBiClient::EMBED_TOKEN_FLOOR)) }
}

/// The embed URL of an item, which a config cannot do without.
pub(crate) fn non_empty_url(url: String, what: &str) -> Result<String> {
    if url.is_empty() {
        return Err(Error::unusable_answer(SERVICE, format!("the {what} has no embed URL")));
    }
    Ok(url)
}

/// A request other than `GenerateToken` (issue 19's provisioning calls): its method, its path
/// under the API base, its query and its body. Sent by [`PowerBiView::send`].
#[derive(Debug, Clone)]
pub(crate) struct ApiRequest {
    pub method: reqwest::Method,
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: ApiBody,
    pub idempotency: Idempotency,
}

/// The body of an [`ApiRequest`]. `Bytes` so a retry resends it without a copy. Its `Debug`
/// shows sizes only: a body can hold data-source credentials.
#[derive(Clone)]
pub(crate) enum ApiBody {
    Empty,
    Json(bytes::Bytes),
    /// A `multipart/form-data` body and its boundary.
    Multipart {
        boundary: String,
        body: bytes::Bytes,
    },
}

impl std::fmt::Debug for ApiBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiBody::Empty => f.write_str("Empty"),
            ApiBody::Json(body) => write!(f, "Json({} bytes)", body.len()),
            ApiBody::Multipart { body, .. } => write!(f, "Multipart({} bytes)", body.len()),
        }
    }
}

impl ApiRequest {
    /// A request without a body.
    pub fn new(method: reqwest::Method, path: String) -> Self {
        let idempotency =
            if method == reqwest::Method::POST { Idempotency::NonIdempotent } else { Idempotency::Idempotent };
        Self { method, path, query: Vec::new(), body: ApiBody::Empty, idempotency }
    }

    /// With a JSON body (serializing a crate-made value cannot fail; an error would be a bug,
    /// reported as bad input rather than a panic).
    pub fn json(mut self, body: &impl serde::Serialize) -> Result<Self> {
        let bytes = serde_json::to_vec(body).map_err(|e| Error::invalid("body", e.to_string()))?;
        self.body = ApiBody::Json(bytes.into());
        Ok(self)
    }

    /// With a query parameter.
    pub fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }
}

impl<'a> PowerBiView<'a> {
    /// Sends `request` within the call's deadline (Entra token, retries and waits included);
    /// an error status becomes [`Error::PowerBi`].
    pub(crate) async fn send(self, request: ApiRequest) -> Result<Reply> {
        let call = std::pin::pin!(self.send_unbounded(request));
        self.bounded(call).await
    }

    /// [`send`](Self::send), the answer parsed as `T`.
    pub(crate) async fn send_json<T: DeserializeOwned>(self, request: ApiRequest, what: &'static str) -> Result<T> {
        let reply = self.send(request).await?;
        parse_json(&reply, SERVICE, what)
    }

    async fn send_unbounded(self, request: ApiRequest) -> Result<Reply> {
        let mut url = self.url(&request.path)?;
        if !request.query.is_empty() {
            url.query_pairs_mut().extend_pairs(request.query.iter().map(|(n, v)| (*n, v.as_str())));
        }
        let url = &url;
        let request = &request;
        tracing::debug!(method = %request.method, path = %request.path, profile = ?self.options.profile, "Power BI call");
        self.with_entra_token(Need::Valid, |entra| async move {
            let reply = self
                .inner
                .http
                .execute(SERVICE, request.idempotency, |client| {
                    let builder = self.authorize(client.request(request.method.clone(), url.clone()), &entra);
                    match &request.body {
                        ApiBody::Empty => builder,
                        ApiBody::Json(body) => builder.header(CONTENT_TYPE, "application/json").body(body.clone()),
                        ApiBody::Multipart { boundary, body } => builder
                            .header(CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
                            .body(body.clone()),
                    }
                })
                .await?;
            check(&reply)?;
            Ok(reply)
        })
        .await
    }
}
