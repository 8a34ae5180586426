//! [`RedisStore`]: the shared tier on Redis, a single server or a Redis Cluster.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, ErrorKind, FromRedisValue, RedisError, Value};

use crate::cache::store::{lease_name, StoreError, TokenStore};

/// Deletes a lease only while it still names the caller: a holder whose lease ran out, and was
/// then taken by another replica, must not delete that replica's lease.
const RELEASE_IF_HELD: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// Deletes a value only while it is still the one the caller saw (see
/// `TokenStore::delete_if_equal`).
const DELETE_IF_EQUAL: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// The bound on one connection attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The bound on one reply. The caches bound each call more tightly (`SharedCache::op_timeout`);
/// this one fails requests stuck on a server that stopped answering, so the connection is
/// replaced rather than left waiting.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest pause between two reconnection attempts, so a restarted server is used again
/// within about a second.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// A [`TokenStore`] on Redis (feature `redis`): one server through a connection that reconnects
/// by itself, or a Redis Cluster.
///
/// Values are written with `SET name value PX ttl`, leases with `SET name:lease holder NX PX
/// ttl` and released by a compare-and-delete script, so a replica never removes a lease another
/// replica took after its own ran out. Entry names carry a `{...}` hash tag, so in a cluster an
/// entry and its lease live in one slot.
///
/// While the server is unreachable every call fails quickly (or is cut short by
/// [`SharedCache::op_timeout`](crate::SharedCache::op_timeout)) and the caches carry on with
/// their local tier and direct fetches; the connection is re-established in the background.
///
/// ```no_run
/// # async fn run() -> Result<(), powerbi_embed::StoreError> {
/// use powerbi_embed::RedisStore;
/// let single = RedisStore::connect("redis://:password@redis.internal:6379/0").await?;
/// let cluster = RedisStore::connect_cluster(["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"]).await?;
/// # let _ = (single, cluster); Ok(()) }
/// ```
pub struct RedisStore {
    connection: Connection,
    /// The URLs without credentials, for `Debug`.
    redacted_urls: Vec<String>,
}

#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl RedisStore {
    /// Connects to one Redis server, e.g. `redis://:password@host:6379/0` or
    /// `redis+unix:///run/redis.sock`. The connection is multiplexed (clone-free sharing between
    /// tasks) and re-established in the background after a failure.
    ///
    /// # Errors
    /// A [`StoreError`] when the URL is not a Redis URL or the server cannot be reached (after a
    /// few attempts, each bounded to 2 seconds).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(|e| store_error("connect", &e))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(MAX_RECONNECT_DELAY)
            .set_number_of_retries(4);
        let manager =
            ConnectionManager::new_with_config(client, config).await.map_err(|e| store_error("connect", &e))?;
        Ok(Self { connection: Connection::Single(manager), redacted_urls: vec![redact(url)] })
    }

    /// Connects to a Redis Cluster through any of its nodes (`redis://host:port` each); the
    /// slot map is read from the cluster and followed through resharding and failover.
    ///
    /// # Errors
    /// A [`StoreError`] when `urls` is empty, a URL is not a Redis URL, or no node answers.
    pub async fn connect_cluster<I, S>(urls: I) -> Result<Self, StoreError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let urls: Vec<String> = urls.into_iter().map(|u| u.as_ref().to_owned()).collect();
        if urls.is_empty() {
            return Err(StoreError::new("redis connect: no cluster node URL given"));
        }
        let client = ClusterClientBuilder::new(urls.iter().map(String::as_str))
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .retries(3)
            .min_retry_wait(50)
            .max_retry_wait(MAX_RECONNECT_DELAY.as_millis() as u64)
            .build()
            .map_err(|e| store_error("connect", &e))?;
        let connection = client.get_async_connection().await.map_err(|e| store_error("connect", &e))?;
        Ok(Self {
            connection: Connection::Cluster(connection),
            redacted_urls: urls.iter().map(|u| redact(u)).collect(),
        })
    }

    async fn query<T: FromRedisValue>(&self, op: &str, command: &Cmd) -> Result<T, StoreError> {
        let result = match &self.connection {
            Connection::Single(manager) => command.query_async(&mut manager.clone()).await,
            Connection::Cluster(cluster) => command.query_async(&mut cluster.clone()).await,
        };
        result.map_err(|e| store_error(op, &e))
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.connection {
            Connection::Single(_) => "single",
            Connection::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisStore").field("mode", &mode).field("urls", &self.redacted_urls).finish()
    }
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
        self.query("GET", redis::cmd("GET").arg(name)).await
    }

    async fn put(&self, name: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.query("SET", redis::cmd("SET").arg(name).arg(value).arg("PX").arg(millis(ttl))).await
    }

    async fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut command = redis::cmd("SET");
        command.arg(lease_name(name)).arg(holder).arg("NX").arg("PX").arg(millis(ttl));
        match self.query::<Value>("SET NX", &command).await? {
            Value::Nil => Ok(false),
            Value::Okay => Ok(true),
            Value::SimpleString(reply) if reply == "OK" => Ok(true),
            _ => Err(StoreError::new("redis SET NX: unexpected reply")),
        }
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let mut command = redis::cmd("EVAL");
        command.arg(RELEASE_IF_HELD).arg(1).arg(lease_name(name)).arg(holder);
        self.query::<i64>("EVAL", &command).await.map(|_| ())
    }

    async fn delete(&self, name: &str) -> Result<(), StoreError> {
        self.query::<i64>("DEL", redis::cmd("DEL").arg(name)).await.map(|_| ())
    }

    async fn delete_if_equal(&self, name: &str, expected: &[u8]) -> Result<bool, StoreError> {
        let mut command = redis::cmd("EVAL");
        command.arg(DELETE_IF_EQUAL).arg(1).arg(name).arg(expected);
        self.query::<i64>("EVAL", &command).await.map(|deleted| deleted == 1)
    }
}

/// A message naming the operation and the kind of failure, never a key, a value or a URL
/// (server error details and parse errors may quote data, so only their category is kept).
fn store_error(op: &str, error: &RedisError) -> StoreError {
    let what = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connection_refusal() {
        "connection refused".to_owned()
    } else if error.is_connection_dropped() {
        "connection dropped".to_owned()
    } else if error.kind() == ErrorKind::InvalidClientConfig {
        // The library's own wording about the URL or settings ("Redis URL did not parse").
        format!("invalid configuration: {}", error.detail().unwrap_or("unknown"))
    } else {
        match error.code() {
            Some(code) => format!("{} ({code})", error.category()),
            None => error.category().to_owned(),
        }
    };
    StoreError::new(format!("redis {op}: {what}"))
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
        for url in ["http://user:s3cret@host", "not a url s3cret", "redis://:s3cret@host:99999"] {
            let error = RedisStore::connect(url).await.unwrap_err().to_string();
            assert!(error.starts_with("redis connect: "), "{error}");
            assert!(!error.contains("s3cret"), "{error}");
        }
        let error = RedisStore::connect_cluster(Vec::<&str>::new()).await.unwrap_err().to_string();
        assert_eq!(error, "redis connect: no cluster node URL given");
    }
}
