//! [`RedisStore`]: the shared tier on Redis (a single server, a Redis Cluster or a master behind
//! Sentinel), over TCP or TLS, with a password, an ACL user, a rotating password or an Entra ID
//! token.

mod connect;
mod credentials;
#[cfg(any(feature = "rustls", feature = "native-tls"))]
mod tls;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ::redis::{Cmd, ErrorKind, FromRedisValue, RedisError, Value};
use async_trait::async_trait;

use crate::auth::AadClient;
use crate::cache::store::{lease_name, StoreError, StoreErrorKind, TokenStore};
use crate::secret::Secret;
use connect::{Connection, Shared, Target};
use credentials::{Feed, PasswordProvider, Source};

/// Deletes a lease only while it still names the caller: a holder whose lease ran out, and was
/// then taken by another replica, must not delete that replica's lease.
const RELEASE_IF_HELD: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// Deletes a value only while it is still the one the caller saw (see
/// `TokenStore::delete_if_equal`).
const DELETE_IF_EQUAL: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// The default bound on one connection attempt (TCP, TLS handshake and AUTH).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The default bound on one reply. The caches bound each call more tightly
/// (`SharedCache::op_timeout`); this one fails requests stuck on a server that stopped
/// answering, so the connection is replaced rather than left waiting.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The default longest pause between two connection attempts, so a server that comes up (or
/// back) is used within about a second or two.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// A [`TokenStore`] on Redis (feature `redis`): one server through a connection that reconnects
/// by itself, a Redis Cluster, or the master Redis Sentinel names; over TCP, a Unix socket or
/// TLS.
///
/// Values are written with `SET name value PX ttl`, leases with `SET name:lease holder NX PX
/// ttl` and released by a compare-and-delete script, so a replica never removes a lease another
/// replica took after its own ran out. Entry names carry a `{...}` hash tag, so in a cluster an
/// entry and its lease live in one slot.
///
/// **Starting without Redis**: [`RedisStoreBuilder::build`] makes no network call. The store
/// connects in the background, retrying with a growing pause (up to
/// [`max_reconnect_delay`](RedisStoreBuilder::max_reconnect_delay)), and until then every call
/// fails at once, which the caches count as a miss: they work from their local tier and fetch
/// directly, and start sharing as soon as the connection is up. After that, a lost connection
/// (a restart, a failover, a DNS change) is re-established in the background; calls meanwhile
/// fail or are cut short by [`SharedCache::op_timeout`](crate::SharedCache::op_timeout).
/// [`connect`](RedisStoreBuilder::connect) instead waits for the first connection and fails if
/// it cannot be made.
///
/// **URL forms** (the password in a URL is percent-encoded):
///
/// | URL | what |
/// |---|---|
/// | `redis://host:6379/0` | TCP, database 0 |
/// | `redis://:password@host:6379` | with a password (the `default` user) |
/// | `redis://user:password@host:6379` | an ACL user |
/// | `rediss://host:6380` | TLS (feature `rustls` or `native-tls`), the certificate checked against the host name |
/// | `redis+unix:///run/redis.sock?db=0&pass=password`, `unix:///run/redis.sock` | a Unix socket |
///
/// `rediss://…/#insecure` (no certificate check) is refused. A password, user, CA, client
/// certificate or Entra ID credential can also be set on the [builder](RedisStoreBuilder);
/// nothing is read from the environment.
///
/// ```no_run
/// # async fn run(aad: powerbi_embed::AadClient) -> Result<(), powerbi_embed::StoreError> {
/// use powerbi_embed::RedisStore;
/// // Self-hosted, TLS with a private CA, an ACL user.
/// let store = RedisStore::builder("rediss://app:password@redis.internal:6380")
///     .ca_file("/etc/redis/ca.pem")
///     .build()?;
/// // Azure Cache for Redis with Entra ID: the token comes from `aad` (any credential).
/// let azure = RedisStore::builder("rediss://contoso.redis.cache.windows.net:6380").entra_id(aad).build()?;
/// // A cluster.
/// let cluster = RedisStore::cluster_builder(["rediss://10.0.0.1:6380", "rediss://10.0.0.2:6380"]).build()?;
/// # let _ = (store, azure, cluster); Ok(()) }
/// ```
pub struct RedisStore {
    shared: Arc<Shared>,
}

impl RedisStore {
    /// A builder for one server at `url` (see the URL forms above).
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder::new(Target::Single(url.into()))
    }

    /// A builder for a Redis Cluster reached through any of `urls` (each `redis://host:port` or
    /// `rediss://host:port`); the slot map is read from the cluster and followed through
    /// resharding and failover.
    pub fn cluster_builder<I, S>(urls: I) -> RedisStoreBuilder
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        RedisStoreBuilder::new(Target::Cluster(urls.into_iter().map(|u| u.as_ref().to_owned()).collect()))
    }

    /// A builder for the master that Redis Sentinel names `master` (the `sentinel monitor`
    /// name), asking any of `sentinels` (`redis://host:26379`, a password for the Sentinels
    /// themselves in the URL) where it is. A failover is followed: when the master stops
    /// answering, answers as a replica, or Sentinel closes its clients, the next call asks the
    /// Sentinels again. The master's credentials are set on the builder
    /// ([`password`](RedisStoreBuilder::password), [`username`](RedisStoreBuilder::username),
    /// [`password_provider`](RedisStoreBuilder::password_provider),
    /// [`entra_id`](RedisStoreBuilder::entra_id)). Plain TCP only: `rediss://` Sentinels are
    /// refused.
    pub fn sentinel_builder<I, S>(master: impl Into<String>, sentinels: I) -> RedisStoreBuilder
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        RedisStoreBuilder::new(Target::Sentinel {
            master: master.into(),
            sentinels: sentinels.into_iter().map(|u| u.as_ref().to_owned()).collect(),
        })
    }

    /// Connects to one Redis server: `RedisStore::builder(url).connect()`.
    ///
    /// # Errors
    /// See [`RedisStoreBuilder::connect`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder(url).connect().await
    }

    /// Connects to a Redis Cluster: `RedisStore::cluster_builder(urls).connect()`.
    ///
    /// # Errors
    /// See [`RedisStoreBuilder::connect`].
    pub async fn connect_cluster<I, S>(urls: I) -> Result<Self, StoreError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::cluster_builder(urls).connect().await
    }

    /// Sends `PING` and returns the round trip: for a readiness or health probe. Bounded by the
    /// response timeout (5 s by default).
    ///
    /// # Errors
    /// A [`StoreError`] when the store is not connected (yet, or any more), or does not answer
    /// `PONG`; its [`kind`](StoreError::kind) says why.
    pub async fn ping(&self) -> Result<Duration, StoreError> {
        let started = tokio::time::Instant::now();
        let reply: String = self.query("PING", &::redis::cmd("PING")).await?;
        if reply != "PONG" {
            return Err(StoreError::new("redis PING: unexpected reply"));
        }
        Ok(started.elapsed())
    }

    /// Whether the store is degraded: not connected yet, or its last command failed. Shared
    /// calls fail fast (the caches fetch directly) until it recovers, by itself, in the
    /// background. [`SharedCache::is_degraded`](crate::SharedCache::is_degraded) says the same
    /// from the caches' side.
    pub fn is_degraded(&self) -> bool {
        self.shared.is_degraded()
    }

    /// Whether the first connection was made (the store is sharing, or was before an outage).
    pub fn is_connected(&self) -> bool {
        self.shared.connection().is_some()
    }

    /// Why the store is degraded, if it is: the last connection or command failure.
    pub fn last_error(&self) -> Option<StoreError> {
        self.shared.last_error()
    }

    async fn query<T: FromRedisValue>(&self, op: &str, command: &Cmd) -> Result<T, StoreError> {
        let Some(connection) = self.shared.connection() else {
            return Err(self.shared.not_connected(op));
        };
        let result = match connection {
            Connection::Single(manager) => command.query_async(&mut manager.clone()).await,
            Connection::Cluster(cluster) => command.query_async(&mut cluster.clone()).await,
            Connection::Sentinel(link) => link.query(command).await,
        };
        match result {
            Ok(value) => {
                self.shared.note_success();
                Ok(value)
            }
            Err(error) => {
                let error = store_error(op, &error);
                if error.kind() != StoreErrorKind::Other {
                    self.shared.note_failure(&error);
                }
                Err(error)
            }
        }
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("mode", &self.shared.mode)
            .field("urls", &self.shared.redacted_urls)
            .field("tls", &self.shared.tls)
            .field("auth", &self.shared.auth)
            .field("connected", &self.is_connected())
            .field("degraded", &self.is_degraded())
            .finish()
    }
}

/// Every setting of a [`RedisStore`], from [`RedisStore::builder`] or
/// [`RedisStore::cluster_builder`]. Each setting is checked by [`build`](Self::build) /
/// [`connect`](Self::connect) before any network call: a wrong one is a [`StoreError`] of kind
/// [`StoreErrorKind::InvalidConfig`] naming it.
pub struct RedisStoreBuilder {
    target: Target,
    extra_ca: Option<ExtraCaSetting>,
    client_certificate: Option<(Vec<u8>, Vec<u8>)>,
    node_names: Vec<(String, String)>,
    username: Option<String>,
    auth: AuthSetting,
    connect_timeout: Duration,
    response_timeout: Duration,
    max_reconnect_delay: Duration,
}

#[derive(Clone)]
#[cfg_attr(not(any(feature = "rustls", feature = "native-tls")), allow(dead_code))]
enum ExtraCaSetting {
    File(PathBuf),
    Pem(Vec<u8>),
}

enum AuthSetting {
    /// Whatever the URL says.
    Url,
    Password(Secret),
    Provider(PasswordProvider, Duration),
    Entra(AadClient),
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.auth {
            AuthSetting::Url => "from the URL",
            AuthSetting::Password(_) => "password [redacted]",
            AuthSetting::Provider(..) => "password provider",
            AuthSetting::Entra(_) => "Entra ID",
        };
        f.debug_struct("RedisStoreBuilder")
            .field("urls", &self.target.urls().iter().map(|u| redact(u)).collect::<Vec<_>>())
            .field(
                "extra_ca",
                &self.extra_ca.as_ref().map(|ca| match ca {
                    ExtraCaSetting::File(path) => path.display().to_string(),
                    ExtraCaSetting::Pem(_) => "[PEM]".to_owned(),
                }),
            )
            .field("client_certificate", &self.client_certificate.as_ref().map(|_| "[set, key redacted]"))
            .field("node_names", &self.node_names)
            .field("username", &self.username)
            .field("auth", &auth)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("max_reconnect_delay", &self.max_reconnect_delay)
            .finish()
    }
}

impl RedisStoreBuilder {
    fn new(target: Target) -> Self {
        Self {
            target,
            extra_ca: None,
            client_certificate: None,
            node_names: Vec::new(),
            username: None,
            auth: AuthSetting::Url,
            connect_timeout: CONNECT_TIMEOUT,
            response_timeout: RESPONSE_TIMEOUT,
            max_reconnect_delay: MAX_RECONNECT_DELAY,
        }
    }

    /// Trusts this CA (a PEM file of one or more certificates) for `rediss://`, besides the
    /// platform's roots: for a self-hosted Redis with a private CA. Read and checked by
    /// [`build`](Self::build).
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.extra_ca = Some(ExtraCaSetting::File(path.into()));
        self
    }

    /// Trusts this CA (PEM bytes of one or more certificates) for `rediss://`, besides the
    /// platform's roots.
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_ca = Some(ExtraCaSetting::Pem(pem.into()));
        self
    }

    /// Presents this client certificate (PEM chain, leaf first) and key (PEM: PKCS#8, PKCS#1
    /// or SEC1) to servers that ask for one (mutual TLS, `tls-auth-clients yes`).
    pub fn client_certificate(mut self, chain_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        self.client_certificate = Some((chain_pem.into(), key_pem.into()));
        self
    }

    /// For a cluster over TLS whose nodes announce themselves by IP address (`CLUSTER SLOTS`)
    /// while their certificates name hosts: connects to `announced` (`"10.0.0.5:6380"`) under
    /// the name `name` (`"redis-1.internal:6380"`), which resolves to the same node and is the
    /// name the certificate is checked against. Without it such a node fails the handshake
    /// with "certificate not valid for name". The alternative on the server side is
    /// `cluster-announce-hostname` with `cluster-preferred-endpoint-type hostname`. Give one
    /// mapping per node; redirects keep working, as the slot map keeps the announced address.
    pub fn cluster_node_name(mut self, announced: impl Into<String>, name: impl Into<String>) -> Self {
        self.node_names.push((announced.into(), name.into()));
        self
    }

    /// The ACL user (instead of the URL's); with [`entra_id`](Self::entra_id), the user the
    /// token is presented as (the identity's object id; by default the token's `oid` claim).
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// A password (instead of the URL's): for the `default` user, or the
    /// [`username`](Self::username)'s.
    pub fn password(mut self, password: impl Into<Secret>) -> Self {
        self.auth = AuthSetting::Password(password.into());
        self
    }

    /// A password that can change while the store runs (an Azure access key rotated in Key
    /// Vault, a rotated ACL password): `provider` is called when a connection is made and every
    /// `refresh_every` after (at least once a second), and every live connection
    /// re-authenticates when the value changes, so rotating the key needs no restart. An error
    /// keeps the previous value in use and is retried with a growing pause.
    pub fn password_provider<F, Fut>(mut self, refresh_every: Duration, provider: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Secret, StoreError>> + Send + 'static,
    {
        let provider: PasswordProvider = Arc::new(move || Box::pin(provider()));
        self.auth = AuthSetting::Provider(provider, refresh_every);
        self
    }

    /// Authenticates with Microsoft Entra ID (Azure Cache for Redis, Azure Managed Redis): a
    /// token for `https://redis.azure.com/.default` from `aad` (any [`TokenCredential`]: a
    /// managed identity, a service principal, a workload identity...), presented as the user
    /// named by the token's `oid` claim (or [`username`](Self::username)). Every connection
    /// re-authenticates with a new token before the current one expires (5 minutes before, or
    /// at half its remaining life if shorter), so a replica running for days never falls back
    /// to "not authenticated". Give the identity a Redis access policy (Data Owner / Contributor)
    /// in the Azure portal.
    ///
    /// Give it a client without a [shared cache](crate::AadClientBuilder::shared_cache) on this
    /// same store: that cache would wait for Redis to get the token Redis needs.
    ///
    /// [`TokenCredential`]: crate::TokenCredential
    pub fn entra_id(mut self, aad: AadClient) -> Self {
        self.auth = AuthSetting::Entra(aad);
        self
    }

    /// The bound on one connection attempt: TCP, TLS handshake and authentication (default
    /// 2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The bound on one reply (default 5 s); a connection whose reply is late is replaced.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// The longest pause between two connection attempts while Redis is unreachable (default
    /// 1 s; the pause starts at 50 ms and doubles).
    pub fn max_reconnect_delay(mut self, delay: Duration) -> Self {
        self.max_reconnect_delay = delay;
        self
    }

    /// Makes the store without any network call; it connects in the background (see
    /// [`RedisStore`]). Must be called within a Tokio runtime.
    ///
    /// # Errors
    /// A [`StoreError`] of kind [`StoreErrorKind::InvalidConfig`] naming the setting: a URL that
    /// is not a Redis URL, `#insecure`, `rediss://` without a TLS feature, a CA or client
    /// certificate that does not read or parse, a CA given for a non-TLS URL, TLS and plain URLs
    /// mixed in a cluster, no cluster URL, a zero timeout, no Tokio runtime.
    pub fn build(self) -> Result<RedisStore, StoreError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            invalid("build", "must be called within a Tokio runtime (the store connects in the background)")
        })?;
        let plan = self.plan()?;
        let shared = Shared::start(plan, &runtime);
        Ok(RedisStore { shared })
    }

    /// Makes the store and waits for its first connection (a few attempts, within about
    /// `connect_timeout` each), for callers that would rather not start without Redis.
    ///
    /// # Errors
    /// What [`build`](Self::build) refuses, and a [`StoreError`] when the first connection
    /// fails: its [`kind`](StoreError::kind) tells a server that is down
    /// ([`Unavailable`](StoreErrorKind::Unavailable)) from a certificate
    /// ([`Tls`](StoreErrorKind::Tls)) or credentials ([`Auth`](StoreErrorKind::Auth)) problem.
    pub async fn connect(self) -> Result<RedisStore, StoreError> {
        let store = self.build()?;
        store.shared.wait_first_connection().await?;
        Ok(store)
    }

    /// Everything checked and ready to connect.
    fn plan(self) -> Result<connect::Plan, StoreError> {
        if self.connect_timeout.is_zero() {
            return Err(invalid("connect_timeout", "must be more than zero"));
        }
        if self.response_timeout.is_zero() {
            return Err(invalid("response_timeout", "must be more than zero"));
        }
        let urls = self.target.urls();
        if urls.is_empty() {
            return Err(match self.target {
                Target::Sentinel { .. } => invalid("sentinels", "no Sentinel URL given"),
                _ => invalid("urls", "no cluster node URL given"),
            });
        }
        if let Target::Sentinel { master, sentinels } = &self.target {
            if master.trim().is_empty() {
                return Err(invalid("master", "is empty (the name in `sentinel monitor <name> ...`)"));
            }
            if sentinels.iter().any(|url| url.trim_start().to_ascii_lowercase().starts_with("rediss:")) {
                return Err(invalid("sentinels", "rediss:// Sentinels are not supported; use redis://"));
            }
        }
        let mut tls_urls = 0;
        for url in &urls {
            let scheme = check_url(url)?;
            if scheme == "rediss" {
                tls_urls += 1;
            }
        }
        if tls_urls != 0 && tls_urls != urls.len() {
            return Err(invalid("urls", "mixes rediss:// and redis:// nodes; a cluster is all TLS or none"));
        }
        let tls = tls_urls != 0;
        if !tls {
            if self.extra_ca.is_some() {
                return Err(invalid("ca_file", "a CA is set but the URL is not rediss:// (TLS)"));
            }
            if self.client_certificate.is_some() {
                return Err(invalid(
                    "client_certificate",
                    "a client certificate is set but the URL is not rediss:// (TLS)",
                ));
            }
        }
        if !self.node_names.is_empty() && !matches!(self.target, Target::Cluster(_)) {
            return Err(invalid("cluster_node_name", "applies to a cluster (RedisStore::cluster_builder)"));
        }
        let mut node_names = Vec::new();
        for (announced, name) in &self.node_names {
            node_names.push((host_port("cluster_node_name", announced)?, host_port("cluster_node_name", name)?));
        }
        // The redis crate takes a CA or a client certificate for a cluster only through rustls.
        #[cfg(all(feature = "native-tls", not(feature = "rustls")))]
        if matches!(self.target, Target::Cluster(_)) && (self.extra_ca.is_some() || self.client_certificate.is_some()) {
            return Err(invalid(
                "ca_file",
                "a CA or client certificate for a cluster needs the `rustls` feature (native-tls alone trusts the \
                 platform's roots for a cluster)",
            ));
        }
        let certificates = if tls { Some(self.tls_certificates()?) } else { None };
        let first_wait = self.connect_timeout.max(Duration::from_secs(10));
        if matches!(self.auth, AuthSetting::Url) && self.username.is_some() {
            return Err(invalid("username", "needs a password (password, password_provider) or entra_id"));
        }
        let (source, auth) = match self.auth {
            AuthSetting::Url => (None, "from the URL"),
            AuthSetting::Password(password) => {
                let provider: PasswordProvider = Arc::new(move || {
                    let password = password.clone();
                    Box::pin(async move { Ok(password) })
                });
                let source = Source::Password { username: self.username, provider, refresh_every: Duration::MAX };
                (Some(source), "password")
            }
            AuthSetting::Provider(provider, refresh_every) => {
                (Some(Source::Password { username: self.username, provider, refresh_every }), "password provider")
            }
            AuthSetting::Entra(aad) => (Some(Source::Entra { aad, username: self.username }), "Entra ID"),
        };
        Ok(connect::Plan {
            redacted_urls: urls.iter().map(|u| redact(u)).collect(),
            target: self.target,
            certificates,
            node_names,
            feed: source.map(|source| Feed::new(source, first_wait)),
            auth,
            connect_timeout: self.connect_timeout,
            response_timeout: self.response_timeout,
            max_reconnect_delay: self.max_reconnect_delay.max(Duration::from_millis(50)),
        })
    }

    #[cfg(any(feature = "rustls", feature = "native-tls"))]
    fn tls_certificates(&self) -> Result<connect::Certificates, StoreError> {
        let extra = match &self.extra_ca {
            Some(ExtraCaSetting::File(path)) => Some(tls::read_extra_ca(&tls::ExtraCa::File(path.clone()))?),
            Some(ExtraCaSetting::Pem(pem)) => Some(tls::read_extra_ca(&tls::ExtraCa::Pem(pem.clone()))?),
            None => None,
        };
        let client = match &self.client_certificate {
            Some((chain, key)) => {
                let certificate = tls::ClientCertificate { chain: chain.clone(), key: key.clone() };
                tls::check_client_certificate(&certificate)?;
                Some(certificate)
            }
            None => None,
        };
        Ok(tls::certificates(extra.as_deref(), client.as_ref()))
    }

    #[cfg(not(any(feature = "rustls", feature = "native-tls")))]
    fn tls_certificates(&self) -> Result<connect::Certificates, StoreError> {
        Err(invalid("url", "rediss:// (TLS) needs the crate's `rustls` or `native-tls` feature"))
    }
}

fn invalid(field: &str, what: impl fmt::Display) -> StoreError {
    StoreError::with_kind(StoreErrorKind::InvalidConfig, format!("redis {field}: {what}"))
}

/// The scheme of a Redis URL, after the checks no connection needs.
fn check_url(url: &str) -> Result<String, StoreError> {
    let parsed = url::Url::parse(url).map_err(|_| invalid("url", "is not a URL (expected redis://host:port)"))?;
    let scheme = parsed.scheme().to_owned();
    match scheme.as_str() {
        "redis" | "rediss" | "redis+unix" | "unix" => {}
        other => {
            return Err(invalid(
                "url",
                format_args!("scheme {other}:// is not a Redis scheme (redis://, rediss://, redis+unix://, unix://)"),
            ))
        }
    }
    if parsed.fragment().is_some() {
        return Err(invalid(
            "url",
            "has a #fragment; #insecure (no certificate check) is refused: trust a private CA with ca_file instead",
        ));
    }
    if matches!(scheme.as_str(), "redis" | "rediss") && parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("url", "has no host"));
    }
    // The redis crate's own parse, so its refusals (a bad port, a bad database) come now.
    ::redis::IntoConnectionInfo::into_connection_info(url).map_err(|e| {
        if scheme == "rediss" && !cfg!(any(feature = "rustls", feature = "native-tls")) {
            invalid("url", "rediss:// (TLS) needs the crate's `rustls` or `native-tls` feature")
        } else {
            store_error_with_kind("url", &e, StoreErrorKind::InvalidConfig)
        }
    })?;
    Ok(scheme)
}

/// `host:port` for a cluster node mapping.
fn host_port(field: &str, text: &str) -> Result<(String, u16), StoreError> {
    let (host, port) =
        text.rsplit_once(':').ok_or_else(|| invalid(field, format_args!("{text:?} is not host:port")))?;
    let port: u16 = port.parse().map_err(|_| invalid(field, format_args!("{text:?} has no valid port")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(invalid(field, format_args!("{text:?} has no host")));
    }
    Ok((host.to_owned(), port))
}

/// The longest TTL sent to Redis: 100 years. Redis refuses an expiry that overflows its clock
/// (`PX` near `i64::MAX` is "invalid expire time"), which would turn `lease_ttl(Duration::MAX)`
/// into a store error on every lease, and so into no single flight at all.
const MAX_TTL_MILLIS: u64 = 100 * 365 * 24 * 60 * 60 * 1000;

/// `SET`'s `PX` argument: whole milliseconds, at least 1 (Redis refuses 0), at most
/// [`MAX_TTL_MILLIS`].
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).clamp(1, MAX_TTL_MILLIS)
}

#[async_trait]
impl TokenStore for RedisStore {
    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.query("GET", ::redis::cmd("GET").arg(name)).await
    }

    async fn put(&self, name: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.query("SET", ::redis::cmd("SET").arg(name).arg(value).arg("PX").arg(millis(ttl))).await
    }

    async fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut command = ::redis::cmd("SET");
        command.arg(lease_name(name)).arg(holder).arg("NX").arg("PX").arg(millis(ttl));
        match self.query::<Value>("SET NX", &command).await? {
            Value::Nil => Ok(false),
            Value::Okay => Ok(true),
            Value::SimpleString(reply) if reply == "OK" => Ok(true),
            _ => Err(StoreError::new("redis SET NX: unexpected reply")),
        }
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let mut command = ::redis::cmd("EVAL");
        command.arg(RELEASE_IF_HELD).arg(1).arg(lease_name(name)).arg(holder);
        self.query::<i64>("EVAL", &command).await.map(|_| ())
    }

    async fn delete(&self, name: &str) -> Result<(), StoreError> {
        self.query::<i64>("DEL", ::redis::cmd("DEL").arg(name)).await.map(|_| ())
    }

    async fn delete_if_equal(&self, name: &str, expected: &[u8]) -> Result<bool, StoreError> {
        let mut command = ::redis::cmd("EVAL");
        command.arg(DELETE_IF_EQUAL).arg(1).arg(name).arg(expected);
        self.query::<i64>("EVAL", &command).await.map(|deleted| deleted == 1)
    }
}

/// A message naming the operation and the kind of failure, never a key, a value or a URL
/// (server error details and parse errors may quote data, so only their category is kept; TLS
/// failures keep the certificate problem, which names hosts, never a secret).
fn store_error(op: &str, error: &RedisError) -> StoreError {
    store_error_with_kind(op, error, classify(error))
}

fn store_error_with_kind(op: &str, error: &RedisError, kind: StoreErrorKind) -> StoreError {
    let what = if let Some(tls) = tls_problem(error) {
        tls
    } else if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connection_refusal() {
        "connection refused".to_owned()
    } else if error.is_connection_dropped() {
        "connection dropped".to_owned()
    } else if error.kind() == ErrorKind::InvalidClientConfig {
        // The library's own wording about the URL or settings ("Redis URL did not parse").
        format!("invalid configuration: {}", error.detail().unwrap_or("unknown"))
    } else if error.kind() == ErrorKind::AuthenticationFailed || kind == StoreErrorKind::Auth {
        match error.code() {
            Some(code) => format!("authentication refused ({code}); check the user, password or token"),
            None => "authentication refused; check the user, password or token".to_owned(),
        }
    } else {
        match error.code() {
            Some(code) => format!("{} ({code})", error.category()),
            None => error.category().to_owned(),
        }
    };
    StoreError::with_kind(kind, format!("redis {op}: {what}"))
}

fn classify(error: &RedisError) -> StoreErrorKind {
    if tls_problem(error).is_some() {
        StoreErrorKind::Tls
    } else if error.kind() == ErrorKind::AuthenticationFailed
        || matches!(error.code(), Some("NOAUTH" | "WRONGPASS" | "NOPERM"))
    {
        StoreErrorKind::Auth
    } else if error.kind() == ErrorKind::InvalidClientConfig {
        StoreErrorKind::InvalidConfig
    } else if error.is_timeout()
        || error.is_connection_refusal()
        || error.is_connection_dropped()
        || error.is_io_error()
        || error.is_unrecoverable_error()
    {
        StoreErrorKind::Unavailable
    } else {
        StoreErrorKind::Other
    }
}

/// A TLS handshake failure in words that say what to fix, or `None` for any other error.
fn tls_problem(error: &RedisError) -> Option<String> {
    // The TLS libraries' errors reach us as I/O errors; their text names the certificate problem
    // (issuer, names), never a credential.
    let text = error.to_string();
    let lower = text.to_ascii_lowercase();
    let detail = || {
        let start = lower.find("invalid peer certificate").or_else(|| lower.find("certificate verify failed"));
        let cut = &text[start.unwrap_or(0)..];
        cut.chars().take(300).collect::<String>()
    };
    if lower.contains("unknownissuer")
        || lower.contains("unable to get local issuer")
        || lower.contains("self-signed")
        || lower.contains("self signed")
    {
        Some(format!(
            "TLS: the server's certificate is not signed by a trusted CA (for a private CA, set ca_file or ca_pem) [{}]",
            detail()
        ))
    } else if lower.contains("notvalidforname")
        || lower.contains("not valid for name")
        || lower.contains("hostname mismatch")
        // OpenSSL (native-tls) when the host connected to is an IP the certificate does not list.
        || lower.contains("ip address mismatch")
    {
        Some(format!(
            "TLS: the server's certificate does not name the host connected to (connect by a name the certificate \
             lists; a cluster node announced by IP needs cluster_node_name) [{}]",
            detail()
        ))
    } else if lower.contains("invalid peer certificate")
        || lower.contains("certificate verify failed")
        || lower.contains("handshake")
        || lower.contains("alert")
        || lower.contains("corrupt message")
        || lower.contains("invalidcontenttype")
        || lower.contains("received corrupt")
        || lower.contains("wrong version number")
    {
        Some(format!("TLS handshake failed [{}]", text.chars().take(300).collect::<String>()))
    } else {
        None
    }
}

/// The URL without what could be secret: user and password become `[redacted]`, a query
/// (`?pass=` on socket URLs) is dropped.
fn redact(url: &str) -> String {
    let Ok(parsed) = url::Url::parse(url) else { return "[not a URL]".to_owned() };
    let credentials = if parsed.username().is_empty() && parsed.password().is_none() { "" } else { "[redacted]@" };
    let host = parsed.host_str().unwrap_or_default();
    let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
    let query = if parsed.query().is_some() { "?[redacted]" } else { "" };
    format!("{}://{credentials}{host}{port}{}{query}", parsed.scheme(), parsed.path())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(redact("redis://:s3cret@cache.internal:6380/2"), "redis://[redacted]@cache.internal:6380/2");
        assert_eq!(redact("rediss://app:s3cret@cache.internal"), "rediss://[redacted]@cache.internal");
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(redact("redis+unix:///run/redis.sock?pass=s3cret"), "redis+unix:///run/redis.sock?[redacted]");
        assert_eq!(redact("s3cret"), "[not a URL]");
    }

    #[test]
    fn ttls_are_whole_milliseconds_and_never_zero() {
        assert_eq!(millis(Duration::from_secs(2)), 2000);
        assert_eq!(millis(Duration::from_micros(1500)), 1);
        assert_eq!(millis(Duration::ZERO), 1);
        assert_eq!(millis(Duration::MAX), MAX_TTL_MILLIS);
        assert_eq!(millis(Duration::from_secs(u64::MAX / 1000)), MAX_TTL_MILLIS);
    }

    #[tokio::test]
    async fn bad_urls_are_refused_without_echoing_them() {
        for url in ["http://user:s3cret@host", "not a url s3cret", "redis://:s3cret@host:99999", "redis://:s3cret@/0"] {
            let error = RedisStore::connect(url).await.unwrap_err();
            assert_eq!(error.kind(), StoreErrorKind::InvalidConfig, "{url}: {error}");
            assert!(error.to_string().starts_with("redis url: "), "{error}");
            assert!(!error.to_string().contains("s3cret"), "{error}");
        }
        let error = RedisStore::connect_cluster(Vec::<&str>::new()).await.unwrap_err();
        assert_eq!(error.to_string(), "redis urls: no cluster node URL given");
    }

    #[tokio::test]
    async fn every_setting_is_checked_before_any_connection() {
        let cases: Vec<(RedisStoreBuilder, &str)> = vec![
            (RedisStore::builder("rediss://:s3cret@host:6380/#insecure"), "redis url: has a #fragment"),
            (RedisStore::builder("redis://host:6379").ca_pem(b"x".to_vec()), "redis ca_file: a CA is set but"),
            (
                RedisStore::builder("redis://host:6379").client_certificate(b"x".to_vec(), b"s3cret".to_vec()),
                "redis client_certificate: ",
            ),
            (RedisStore::builder("redis://host:6379").username("app"), "redis username: needs a password"),
            (RedisStore::builder("redis://host:6379").connect_timeout(Duration::ZERO), "redis connect_timeout: "),
            (RedisStore::builder("redis://host:6379").response_timeout(Duration::ZERO), "redis response_timeout: "),
            (RedisStore::builder("redis://host:6379").cluster_node_name("a:1", "b:1"), "redis cluster_node_name: "),
            (
                RedisStore::cluster_builder(["redis://a:1"]).cluster_node_name("10.0.0.1", "b:1"),
                "redis cluster_node_name: \"10.0.0.1\" is not host:port",
            ),
            (RedisStore::builder("ftp://host"), "redis url: scheme ftp://"),
            (RedisStore::sentinel_builder(" ", ["redis://s:26379"]), "redis master: is empty"),
            (RedisStore::sentinel_builder("m", Vec::<&str>::new()), "redis sentinels: no Sentinel URL"),
            (RedisStore::sentinel_builder("m", ["rediss://s:26379"]), "redis sentinels: rediss:// Sentinels"),
        ];
        #[cfg(any(feature = "rustls", feature = "native-tls"))]
        let cases = {
            let mut cases = cases;
            cases.push((RedisStore::cluster_builder(["redis://a:1", "rediss://b:2"]), "redis urls: mixes"));
            cases
        };
        for (builder, expected) in cases {
            let error = builder.build().unwrap_err();
            assert_eq!(error.kind(), StoreErrorKind::InvalidConfig, "{error}");
            assert!(error.to_string().starts_with(expected), "{error} (expected {expected})");
            assert!(!error.to_string().contains("s3cret"), "{error}");
        }
    }

    #[cfg(any(feature = "rustls", feature = "native-tls"))]
    #[tokio::test]
    async fn a_ca_that_does_not_read_is_refused_naming_the_setting() {
        let error = RedisStore::builder("rediss://host:6380").ca_file("/nonexistent/ca.pem").build().unwrap_err();
        assert_eq!(error.kind(), StoreErrorKind::InvalidConfig);
        assert!(error.to_string().starts_with("redis ca_file: /nonexistent/ca.pem could not be read"), "{error}");
        let error = RedisStore::builder("rediss://host:6380").ca_pem(b"nope".to_vec()).build().unwrap_err();
        assert!(error.to_string().starts_with("redis ca_pem: no certificate"), "{error}");
    }

    #[cfg(not(any(feature = "rustls", feature = "native-tls")))]
    #[tokio::test]
    async fn tls_urls_name_the_feature_they_need() {
        let error = RedisStore::builder("rediss://host:6380").build().unwrap_err();
        assert_eq!(error.kind(), StoreErrorKind::InvalidConfig);
        assert!(error.to_string().contains("`rustls` or `native-tls` feature"), "{error}");
    }

    #[test]
    fn build_outside_a_runtime_says_so() {
        let error = RedisStore::builder("redis://127.0.0.1:1").build().unwrap_err();
        assert!(error.to_string().contains("Tokio runtime"), "{error}");
    }

    #[tokio::test]
    async fn a_store_built_while_redis_is_unreachable_fails_fast_and_says_why() {
        // Port 1 on loopback: nothing listens there.
        let store = RedisStore::builder("redis://:s3cret@127.0.0.1:1").build().unwrap();
        assert!(store.is_degraded() && !store.is_connected());
        let error = store.get("x").await.unwrap_err();
        assert_eq!(error.kind(), StoreErrorKind::Unavailable);
        assert!(error.to_string().starts_with("redis GET: not connected"), "{error}");
        let debug = format!("{store:?}");
        assert!(debug.contains("redis://[redacted]@127.0.0.1:1") && !debug.contains("s3cret"), "{debug}");
        assert!(RedisStore::connect("redis://127.0.0.1:1").await.is_err());
    }
}
