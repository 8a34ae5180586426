//! The store's connection: made in the background, with a growing pause between attempts, so a
//! replica can start while Redis is down and share as soon as it comes up; its state, for
//! [`RedisStore::is_degraded`](super::RedisStore::is_degraded) and the errors of calls made
//! before it exists.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster::{ClusterClient, ClusterClientBuilder, NodeAddress};
use ::redis::cluster_async::ClusterConnection;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::credentials::{Feed, Provider};
use super::{invalid, store_error};
use crate::cache::store::{StoreError, StoreErrorKind};

/// One server, a cluster, or the master Sentinel names, by URL.
pub(super) enum Target {
    Single(String),
    Cluster(Vec<String>),
    Sentinel { master: String, sentinels: Vec<String> },
}

impl Target {
    pub fn urls(&self) -> Vec<&str> {
        match self {
            Target::Single(url) => vec![url.as_str()],
            Target::Cluster(urls) | Target::Sentinel { sentinels: urls, .. } => {
                urls.iter().map(String::as_str).collect()
            }
        }
    }
}

/// What `rediss://` connections are given.
#[cfg(any(feature = "rustls", feature = "native-tls"))]
pub(super) type Certificates = ::redis::TlsCertificates;
/// Never made without a TLS feature (a `rediss://` URL is refused first).
#[cfg(not(any(feature = "rustls", feature = "native-tls")))]
#[derive(Clone)]
pub(super) enum Certificates {}

/// Everything the builder checked.
pub(super) struct Plan {
    pub redacted_urls: Vec<String>,
    pub target: Target,
    pub certificates: Option<Certificates>,
    pub node_names: Vec<((String, u16), (String, u16))>,
    pub feed: Option<Arc<Feed>>,
    pub auth: &'static str,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    pub max_reconnect_delay: Duration,
}

/// A live connection (each reconnects by itself once made).
#[derive(Clone)]
pub(super) enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel(Arc<SentinelLink>),
}

/// The master a set of Sentinels names: asked for again whenever the connection to it fails
/// or it answers as a replica (`READONLY`), so a failover is followed. Sentinel also closes the
/// clients of a demoted master, which is how a failover is noticed when nothing was written.
pub(super) struct SentinelLink {
    sentinel: tokio::sync::Mutex<::redis::sentinel::SentinelClient>,
    config: ::redis::AsyncConnectionConfig,
    current: Mutex<Option<::redis::aio::MultiplexedConnection>>,
    /// One look-up at a time: callers that find no connection wait for the same one.
    resolving: tokio::sync::Mutex<()>,
}

impl SentinelLink {
    /// The connection to the master, asking the Sentinels for it when there is none.
    async fn connection(&self) -> Result<::redis::aio::MultiplexedConnection, ::redis::RedisError> {
        if let Some(connection) = self.current.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Ok(connection);
        }
        let _one = self.resolving.lock().await;
        if let Some(connection) = self.current.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Ok(connection);
        }
        let client = self.sentinel.lock().await.async_get_client().await?;
        let connection = client.get_multiplexed_async_connection_with_config(&self.config).await?;
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(connection.clone());
        Ok(connection)
    }

    /// Runs `command` on the master; a failure that says the master moved or went away drops
    /// the connection, so the next call asks the Sentinels again.
    pub async fn query<T: ::redis::FromRedisValue>(&self, command: &::redis::Cmd) -> ::redis::RedisResult<T> {
        let mut connection = self.connection().await?;
        let result = command.query_async(&mut connection).await;
        if let Err(error) = &result {
            let moved = error.is_connection_dropped()
                || error.is_connection_refusal()
                || error.is_io_error()
                || error.is_timeout()
                || error.is_unrecoverable_error()
                || matches!(error.code(), Some("READONLY" | "MASTERDOWN" | "LOADING"));
            if moved {
                tracing::debug!(error = %error.category(), "redis master lost; asking the Sentinels again");
                *self.current.lock().unwrap_or_else(|p| p.into_inner()) = None;
            }
        }
        result
    }
}

/// How to make the first connection.
enum Maker {
    Single(::redis::Client, ConnectionManagerConfig),
    Cluster(ClusterClient, Option<Box<NodeCheck>>),
    Sentinel(Arc<SentinelLink>),
}

/// For a cluster over TLS: what is needed to check that every node the cluster announces can be
/// verified, so that a node announced by IP whose certificate names hosts fails the connection
/// with a message saying what to set, rather than every call to its slots failing with "node
/// not found".
#[cfg_attr(not(any(feature = "rustls", feature = "native-tls")), allow(dead_code))]
struct NodeCheck {
    certificates: Certificates,
    mapped: Vec<(String, u16)>,
    connect_timeout: Duration,
    seeds: Vec<String>,
    feed: Option<Arc<Feed>>,
}

impl Maker {
    async fn connect(&self) -> Result<Connection, StoreError> {
        match self {
            Maker::Single(client, config) => ConnectionManager::new_with_config(client.clone(), config.clone())
                .await
                .map(Connection::Single)
                .map_err(|e| store_error("connect", &e)),
            Maker::Cluster(client, check) => {
                let connection = client.get_async_connection().await.map_err(|e| store_error("connect", &e))?;
                if let Some(check) = check {
                    check.nodes().await?;
                }
                Ok(Connection::Cluster(connection))
            }
            Maker::Sentinel(link) => {
                link.connection().await.map_err(|e| store_error("connect", &e))?;
                Ok(Connection::Sentinel(link.clone()))
            }
        }
    }
}

#[cfg(not(any(feature = "rustls", feature = "native-tls")))]
impl NodeCheck {
    /// Never made without TLS.
    async fn nodes(&self) -> Result<(), StoreError> {
        match self.certificates {}
    }
}

#[cfg(any(feature = "rustls", feature = "native-tls"))]
impl NodeCheck {
    /// Tries a TLS handshake with every node announced by IP address that no
    /// `cluster_node_name` maps; a certificate that does not name it is an error naming the node
    /// and the setting. Other failures are left to the cluster client.
    async fn nodes(&self) -> Result<(), StoreError> {
        // The slot map as a seed sees it (through the cluster connection the command could go
        // to the very node that cannot be reached).
        let mut slots = None;
        for seed in &self.seeds {
            let Ok(mut connection) = self.connect_one(seed).await else { continue };
            if let Ok(reply) = ::redis::cmd("CLUSTER").arg("SLOTS").query_async::<::redis::Value>(&mut connection).await
            {
                slots = Some(reply);
                break;
            }
        }
        let Some(slots) = slots else { return Ok(()) };
        let mut announced = Vec::new();
        if let ::redis::Value::Array(ranges) = slots {
            for range in ranges {
                let ::redis::Value::Array(fields) = range else { continue };
                for node in fields.into_iter().skip(2) {
                    let ::redis::Value::Array(node) = node else { continue };
                    if let (Some(::redis::Value::BulkString(host)), Some(::redis::Value::Int(port))) =
                        (node.first(), node.get(1))
                    {
                        let (host, port) =
                            (String::from_utf8_lossy(host).into_owned(), u16::try_from(*port).unwrap_or(0));
                        if host.parse::<std::net::IpAddr>().is_ok() && !announced.contains(&(host.clone(), port)) {
                            announced.push((host, port));
                        }
                    }
                }
            }
        }
        for (host, port) in announced {
            if self.mapped.contains(&(host.clone(), port)) {
                continue;
            }
            if let Err(error) = self.connect_one(&format!("rediss://{host}:{port}")).await {
                if error.kind() == StoreErrorKind::Tls && error.to_string().contains("does not name the host") {
                    return Err(StoreError::with_kind(
                        StoreErrorKind::Tls,
                        format!(
                            "redis connect: TLS: cluster node {host}:{port} is announced by IP address and its \
                             certificate does not name it; map it to a name the certificate lists with \
                             RedisStoreBuilder::cluster_node_name(\"{host}:{port}\", \"<host name>:{port}\"), or \
                             have the nodes announce host names (cluster-announce-hostname)"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// One plain (non-cluster) TLS connection, authenticated like the store's.
    async fn connect_one(&self, url: &str) -> Result<::redis::aio::MultiplexedConnection, StoreError> {
        let client =
            ::redis::Client::build_with_tls(url, self.certificates.clone()).map_err(|e| store_error("connect", &e))?;
        let mut config = ::redis::AsyncConnectionConfig::new().set_connection_timeout(Some(self.connect_timeout));
        if let Some(feed) = &self.feed {
            config = config.set_credentials_provider(Provider(feed.clone()));
        }
        match tokio::time::timeout(
            self.connect_timeout.saturating_mul(2),
            client.get_multiplexed_async_connection_with_config(&config),
        )
        .await
        {
            Ok(result) => result.map_err(|e| store_error("connect", &e)),
            Err(_) => Err(StoreError::with_kind(StoreErrorKind::Unavailable, "redis connect: timed out")),
        }
    }
}

/// The first connection's progress, for `connect()` to wait on.
#[derive(Clone, Default)]
struct Progress {
    failed_attempts: u32,
    last_error: Option<StoreError>,
    connected: bool,
}

/// What a store and its background tasks share.
pub(super) struct Shared {
    pub mode: &'static str,
    pub redacted_urls: Vec<String>,
    pub tls: bool,
    pub auth: &'static str,
    connection: OnceLock<Connection>,
    progress: watch::Sender<Progress>,
    /// Whether the last command failed (or no connection was ever made).
    degraded: AtomicBool,
    last_error: Mutex<Option<StoreError>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// How long `connect()` waits for the first connection in all.
    first_connection_bound: Duration,
}

impl Drop for Shared {
    fn drop(&mut self) {
        for task in self.tasks.get_mut().map(std::mem::take).unwrap_or_default() {
            task.abort();
        }
    }
}

impl Shared {
    /// Starts connecting in the background (and renewing credentials, if any).
    pub fn start(plan: Plan, runtime: &tokio::runtime::Handle) -> Arc<Self> {
        let Plan {
            redacted_urls,
            target,
            certificates,
            node_names,
            feed,
            auth,
            connect_timeout,
            response_timeout,
            max_reconnect_delay,
        } = plan;
        let tls = certificates.is_some();
        let mode = match target {
            Target::Single(_) => "single",
            Target::Cluster(_) => "cluster",
            Target::Sentinel { .. } => "sentinel",
        };
        let maker = make(
            target,
            certificates,
            node_names,
            feed.clone(),
            connect_timeout,
            response_timeout,
            max_reconnect_delay,
        );
        let shared = Arc::new(Self {
            mode,
            redacted_urls,
            tls,
            auth,
            connection: OnceLock::new(),
            progress: watch::Sender::new(Progress::default()),
            degraded: AtomicBool::new(true),
            last_error: Mutex::new(None),
            tasks: Mutex::new(Vec::new()),
            // Five attempts' worth (each one tries a few times within its connect timeout).
            first_connection_bound: connect_timeout.saturating_mul(5).saturating_add(Duration::from_secs(10)),
        });
        let mut tasks = Vec::new();
        if let Some(feed) = feed {
            tasks.push(runtime.spawn(feed.renew_forever()));
        }
        match maker {
            Ok(maker) => {
                tasks.push(runtime.spawn(connect_in_background(Arc::downgrade(&shared), maker, max_reconnect_delay)))
            }
            Err(error) => shared.record_attempt_failure(error),
        }
        *shared.tasks.lock().unwrap_or_else(|p| p.into_inner()) = tasks;
        shared
    }

    pub fn connection(&self) -> Option<&Connection> {
        self.connection.get()
    }

    pub fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    pub fn last_error(&self) -> Option<StoreError> {
        if !self.is_degraded() {
            return None;
        }
        let last = self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match last {
            Some(error) => Some(error),
            None if self.connection().is_none() => Some(self.not_connected("connect")),
            None => None,
        }
    }

    pub fn note_success(&self) {
        if self.degraded.swap(false, Ordering::Relaxed) {
            tracing::debug!(urls = ?self.redacted_urls, "redis answering again");
        }
    }

    pub fn note_failure(&self, error: &StoreError) {
        self.degraded.store(true, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.clone());
    }

    /// The error of a call made before the first connection: says why there is none yet.
    pub fn not_connected(&self, op: &str) -> StoreError {
        let last = self.progress.borrow().last_error.clone();
        match last {
            Some(error) => StoreError::with_kind(
                if error.kind() == StoreErrorKind::InvalidConfig { error.kind() } else { StoreErrorKind::Unavailable },
                format!("redis {op}: not connected yet (last attempt: {error})"),
            ),
            None => StoreError::with_kind(StoreErrorKind::Unavailable, format!("redis {op}: not connected yet")),
        }
    }

    fn record_attempt_failure(&self, error: StoreError) {
        self.note_failure(&error);
        self.progress.send_modify(|p| {
            p.failed_attempts = p.failed_attempts.saturating_add(1);
            p.last_error = Some(error);
        });
    }

    /// Waits for the first connection: done, or failed (the first attempt's error; an attempt
    /// already tries a few times), or the bound ran out.
    pub async fn wait_first_connection(&self) -> Result<(), StoreError> {
        let mut progress = self.progress.subscribe();
        let outcome = tokio::time::timeout(
            self.first_connection_bound,
            progress.wait_for(|p| p.connected || p.failed_attempts > 0),
        )
        .await;
        match outcome {
            Ok(Ok(progress)) if progress.connected => Ok(()),
            Ok(Ok(progress)) => {
                Err(progress.last_error.clone().unwrap_or_else(|| StoreError::new("redis connect: failed")))
            }
            Ok(Err(_)) => Err(StoreError::new("redis connect: the store was dropped")),
            Err(_) => Err(StoreError::with_kind(
                StoreErrorKind::Unavailable,
                format!("redis connect: no connection within {:?}", self.first_connection_bound),
            )),
        }
    }
}

/// The redis crate's client for the target, with every setting applied.
fn make(
    target: Target,
    certificates: Option<Certificates>,
    node_names: Vec<((String, u16), (String, u16))>,
    feed: Option<Arc<Feed>>,
    connect_timeout: Duration,
    response_timeout: Duration,
    max_reconnect_delay: Duration,
) -> Result<Maker, StoreError> {
    let client_error = |e: ::redis::RedisError| {
        let error = store_error("connect", &e);
        if error.kind() == StoreErrorKind::Other {
            StoreError::with_kind(StoreErrorKind::InvalidConfig, error.to_string())
        } else {
            error
        }
    };
    match target {
        Target::Single(url) => {
            let client = match certificates {
                #[cfg(any(feature = "rustls", feature = "native-tls"))]
                Some(certificates) => ::redis::Client::build_with_tls(url.as_str(), certificates),
                #[cfg(not(any(feature = "rustls", feature = "native-tls")))]
                Some(never) => match never {},
                None => ::redis::Client::open(url.as_str()),
            }
            .map_err(client_error)?;
            let mut config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(connect_timeout))
                .set_response_timeout(Some(response_timeout))
                .set_min_delay(Duration::from_millis(50))
                .set_max_delay(max_reconnect_delay)
                .set_number_of_retries(4);
            if let Some(feed) = feed {
                config = config.set_credentials_provider(Provider(feed));
            }
            Ok(Maker::Single(client, config))
        }
        Target::Cluster(urls) => {
            let mut builder = ClusterClientBuilder::new(urls.iter().map(String::as_str))
                .connection_timeout(connect_timeout)
                .response_timeout(response_timeout)
                .retries(3)
                .min_retry_wait(50)
                .max_retry_wait(u64::try_from(max_reconnect_delay.as_millis()).unwrap_or(u64::MAX));
            let check = certificates.clone().map(|certificates| {
                Box::new(NodeCheck {
                    certificates,
                    mapped: node_names.iter().map(|(announced, _)| announced.clone()).collect(),
                    connect_timeout,
                    seeds: urls.clone(),
                    feed: feed.clone(),
                })
            });
            match certificates {
                #[cfg(feature = "rustls")]
                Some(certificates) => builder = builder.certs(certificates),
                // native-tls alone: the redis crate takes no CA for a cluster; the platform's
                // roots are used (the builder refuses a CA or client certificate first).
                #[cfg(all(feature = "native-tls", not(feature = "rustls")))]
                Some(_) => builder = builder.tls(::redis::cluster::TlsMode::Secure),
                #[cfg(not(any(feature = "rustls", feature = "native-tls")))]
                Some(never) => match never {},
                None => {}
            }
            if !node_names.is_empty() {
                let map: HashMap<NodeAddress, NodeAddress> = node_names
                    .into_iter()
                    .map(|((host, port), (name, name_port))| {
                        (NodeAddress::new(host, port), NodeAddress::new(name, name_port))
                    })
                    .collect();
                builder = builder.node_address_map(map);
            }
            if let Some(feed) = feed {
                builder = builder.set_credentials_provider(Provider(feed));
            }
            let client = builder.build().map_err(|e| {
                let error = client_error(e);
                if error.kind() == StoreErrorKind::InvalidConfig {
                    invalid("urls", error.to_string().trim_start_matches("redis connect: "))
                } else {
                    error
                }
            })?;
            Ok(Maker::Cluster(client, check))
        }
        Target::Sentinel { master, sentinels } => {
            let sentinel = ::redis::sentinel::SentinelClient::build(
                sentinels.iter().map(String::as_str).collect(),
                master,
                None,
                ::redis::sentinel::SentinelServerType::Master,
            )
            .map_err(|e| {
                let error = client_error(e);
                invalid("sentinels", error.to_string().trim_start_matches("redis connect: "))
            })?;
            let mut config = ::redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(connect_timeout))
                .set_response_timeout(Some(response_timeout));
            if let Some(feed) = feed {
                config = config.set_credentials_provider(Provider(feed));
            }
            Ok(Maker::Sentinel(Arc::new(SentinelLink {
                sentinel: tokio::sync::Mutex::new(sentinel),
                config,
                current: Mutex::new(None),
                resolving: tokio::sync::Mutex::new(()),
            })))
        }
    }
}

/// Connects, retrying with a pause that doubles from 50 ms up to `max_pause`, until it works or
/// the store is dropped. The first failure is logged at INFO (the caches log the one warning
/// when they find the store unavailable), later ones at DEBUG.
async fn connect_in_background(shared: Weak<Shared>, maker: Maker, max_pause: Duration) {
    let mut pause = Duration::from_millis(50);
    loop {
        let outcome = maker.connect().await;
        let Some(shared) = shared.upgrade() else { return };
        match outcome {
            Ok(connection) => {
                let _ = shared.connection.set(connection);
                shared.note_success();
                shared.progress.send_modify(|p| p.connected = true);
                tracing::info!(urls = ?shared.redacted_urls, "redis connected; the shared tier is on");
                return;
            }
            Err(error) => {
                let first = shared.progress.borrow().failed_attempts == 0;
                if first {
                    tracing::info!(urls = ?shared.redacted_urls, error = %error,
                        "redis not reachable yet; retrying in the background (tokens are fetched directly meanwhile)");
                } else {
                    tracing::debug!(error = %error, "redis still not reachable");
                }
                shared.record_attempt_failure(error);
            }
        }
        drop(shared);
        tokio::time::sleep(pause).await;
        pause = pause.saturating_mul(2).min(max_pause);
    }
}
