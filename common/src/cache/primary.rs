//! Where the Redis primary is, and the pooled connections to it.
//!
//! [`Target`] comes from [`RedisConfig`]: one Redis at `XHUMA_REDIS_URL`, or a Sentinel group
//! (`XHUMA_REDIS_SENTINELS`, `XHUMA_REDIS_MASTER_NAME`) whose sentinels are asked for the
//! primary every time a connection is opened: by the document pool (deadpool-redis' sentinel
//! manager, which also checks with `ROLE` that the node it is sent to is a primary) and by the
//! completion subscriber on every reconnect ([`Target::client`]). The data nodes are reached with
//! `XHUMA_REDIS_URL`'s scheme, credentials and database.
//!
//! After a failover the pool must not keep handing out connections to the old primary. deadpool
//! only recycles on checkout with a `PING`, which a dead node fails but a demoted one (now a
//! replica) answers. So every pooled connection is wrapped in [`Conn`], which watches what its
//! commands return: an I/O error, a dropped connection, `READONLY` (the node is a replica) or
//! `NOREPLICAS` (a primary that has lost its replicas: an old one not yet demoted) detaches it
//! from the pool when it is dropped, and the next checkout opens a fresh connection, through
//! the sentinels. A demoted primary that is still up is caught earlier: the pool also listens
//! for the sentinels' `+switch-master` announcement and drops the connections opened before it
//! ([`Switches`]). A replica refuses every write (`replica-read-only`, the default), so a
//! write is never silently applied to a replica; the caller sees the error.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool_redis::{Runtime, Timeouts};
use futures_util::StreamExt;
use redis::aio::ConnectionLike;
use redis::sentinel::{SentinelClient, SentinelServerType};
use redis::{ConnectionInfo, IntoConnectionInfo, RedisError, RedisResult};
use tokio_util::sync::CancellationToken;

use super::CacheError;
use crate::config::RedisConfig;

/// The Redis to talk to: cheap to clone.
#[derive(Clone)]
pub struct Target {
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    Single(String),
    Sentinel {
        sentinels: Vec<ConnectionInfo>,
        master_name: String,
        node: deadpool_redis::sentinel::SentinelNodeConnectionInfo,
    },
}

// === impl Target ===

impl Target {
    /// One Redis at `url` (what `XHUMA_REDIS_URL` alone means).
    pub fn single(url: impl Into<String>) -> Self {
        Self {
            kind: Kind::Single(url.into()),
        }
    }

    /// Reads the target from the configuration (validated by `RedisConfig::from_env`; in
    /// Sentinel mode a URL that still does not parse is an error here, a single Redis' URL
    /// fails on first use as before).
    pub fn new(config: &RedisConfig) -> Result<Self, RedisError> {
        let url = config.url.expose();
        let Some(sentinel) = &config.sentinel else {
            return Ok(Self::single(url));
        };
        let data = url.into_connection_info()?;
        let tls = url.starts_with("rediss://");
        let insecure = url.ends_with("#insecure");
        // The sentinels share the data nodes' TLS and credentials, never their database
        // (a sentinel has none).
        let credentials = {
            let r = data.redis_settings();
            let mut c = redis::RedisConnectionInfo::default();
            if let Some(u) = r.username() {
                c = c.set_username(u);
            }
            if let Some(p) = r.password() {
                c = c.set_password(p);
            }
            c
        };
        let sentinels = sentinel
            .sentinels
            .iter()
            .map(|s| {
                let s = s.expose();
                if s.contains("://") {
                    return s.into_connection_info();
                }
                let scheme = if tls { "rediss" } else { "redis" };
                let fragment = if insecure { "#insecure" } else { "" };
                Ok(format!("{scheme}://{s}{fragment}")
                    .into_connection_info()?
                    .set_redis_settings(credentials.clone()))
            })
            .collect::<RedisResult<Vec<_>>>()?;
        let node = deadpool_redis::sentinel::SentinelNodeConnectionInfo {
            tls_mode: tls.then_some(if insecure {
                deadpool_redis::sentinel::TlsMode::Insecure
            } else {
                deadpool_redis::sentinel::TlsMode::Secure
            }),
            redis_connection_info: Some(data.redis_settings().clone().into()),
        };
        Ok(Self {
            kind: Kind::Sentinel {
                sentinels,
                master_name: sentinel.master_name.clone(),
                node,
            },
        })
    }

    /// A client for the current primary: asks the sentinels (which answer only once the node
    /// they name says it is a primary), or is simply the configured Redis. No connection is
    /// kept; call it again after a connection fails.
    pub async fn client(&self) -> RedisResult<redis::Client> {
        match &self.kind {
            Kind::Single(url) => redis::Client::open(url.as_str()),
            Kind::Sentinel {
                sentinels,
                master_name,
                node,
            } => {
                let mut sentinel = SentinelClient::build(
                    sentinels.clone(),
                    master_name.as_str(),
                    Some(node.clone().into()),
                    SentinelServerType::Master,
                )?;
                sentinel.async_get_client().await
            }
        }
    }

    /// The document pool for this target (connections opened lazily).
    pub(super) fn pool(&self, max_size: usize, timeout: Duration) -> Result<Pool, CacheError> {
        let timeouts = Timeouts {
            wait: Some(timeout),
            create: Some(timeout),
            recycle: Some(timeout),
        };
        Ok(match &self.kind {
            Kind::Single(url) => {
                let mut config = deadpool_redis::Config::from_url(url.as_str());
                config.pool = Some(deadpool_redis::PoolConfig {
                    max_size,
                    timeouts,
                    ..Default::default()
                });
                Pool::Single(config.create_pool(Some(Runtime::Tokio1))?)
            }
            Kind::Sentinel {
                sentinels,
                master_name,
                node,
            } => {
                let config = deadpool_redis::sentinel::Config {
                    urls: None,
                    // deadpool's copy of the type (for serde); TCP and TLS addresses convert.
                    connections: Some(sentinels.iter().cloned().map(Into::into).collect()),
                    server_type: deadpool_redis::sentinel::SentinelServerType::Master,
                    master_name: master_name.clone(),
                    node_connection_info: Some(node.clone()),
                    pool: Some(deadpool_redis::PoolConfig {
                        max_size,
                        timeouts,
                        ..Default::default()
                    }),
                };
                let pool = config.create_pool(Some(Runtime::Tokio1))?;
                let switches =
                    Switches::watch(sentinels.clone(), master_name.clone(), pool.clone());
                Pool::Sentinel { pool, switches }
            }
        })
    }
}

/// The pool of one [`Target`].
pub(super) enum Pool {
    Single(deadpool_redis::Pool),
    Sentinel {
        pool: deadpool_redis::sentinel::Pool,
        switches: Switches,
    },
}

impl Pool {
    pub(super) async fn get(&self) -> Result<Conn, CacheError> {
        let checked_out = Instant::now();
        let (pooled, switches) = match self {
            Pool::Single(pool) => (Pooled::Single(pool.get().await?), None),
            Pool::Sentinel { pool, switches } => (
                Pooled::Sentinel(pool.get().await?),
                Some(switches.last.clone()),
            ),
        };
        Ok(Conn {
            pooled: Some(pooled),
            broken: false,
            checked_out,
            switches,
        })
    }
}

/// When the sentinels last announced a new primary (`+switch-master` for our master name).
/// A demoted primary that is still up keeps answering `PING` and, while a replica still counts
/// as in sync, keeps acknowledging writes the new primary will never have; so at the
/// announcement every idle connection leaves the pool, and every connection checked out
/// before it leaves when it is returned. The watching task stops when the pool is dropped.
pub(super) struct Switches {
    last: Arc<Mutex<Option<Instant>>>,
    _stop: tokio_util::sync::DropGuard,
}

impl Switches {
    fn watch(
        sentinels: Vec<ConnectionInfo>,
        master_name: String,
        pool: deadpool_redis::sentinel::Pool,
    ) -> Self {
        let last = Arc::new(Mutex::new(None));
        let stop = CancellationToken::new();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let last = last.clone();
                let stop = stop.clone();
                runtime.spawn(watch_switches(sentinels, master_name, pool, last, stop));
            }
            // Only a pool built outside any runtime (no binary does): it still recovers, through
            // the errors a demoted primary gives.
            Err(_) => tracing::warn!("No runtime to watch the sentinels' failover announcements"),
        }
        Self {
            last,
            _stop: stop.drop_guard(),
        }
    }
}

/// Listens to `+switch-master` on one sentinel at a time (the next one after a failure), with
/// a bounded backoff, until `stop`.
async fn watch_switches(
    sentinels: Vec<ConnectionInfo>,
    master_name: String,
    pool: deadpool_redis::sentinel::Pool,
    last: Arc<Mutex<Option<Instant>>>,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    for info in sentinels.iter().cycle() {
        let session = async {
            let client = redis::Client::open(info.clone())?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe("+switch-master").await?;
            Ok::<_, RedisError>(pubsub)
        };
        let session = tokio::select! {
            _ = stop.cancelled() => return,
            r = tokio::time::timeout(Duration::from_secs(3), session) => r,
        };
        if let Ok(Ok(pubsub)) = session {
            backoff = Duration::from_millis(100);
            let mut messages = pubsub.into_on_message();
            loop {
                let message = tokio::select! {
                    _ = stop.cancelled() => return,
                    m = messages.next() => m,
                };
                let Some(message) = message else { break };
                // "<master name> <old ip> <old port> <new ip> <new port>"
                let payload: String = message.get_payload().unwrap_or_default();
                if payload.split(' ').next() != Some(master_name.as_str()) {
                    continue;
                }
                let now = Instant::now();
                *last.lock().unwrap_or_else(|p| p.into_inner()) = Some(now);
                let dropped = pool.retain(|_, m| m.created > now).removed.len();
                tracing::warn!(dropped, "Sentinels announced a new Redis primary");
                metrics::counter!("xhuma_redis_failovers_seen_total").increment(1);
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

enum Pooled {
    Single(deadpool_redis::Connection),
    Sentinel(deadpool_redis::sentinel::Connection),
}

/// A pooled connection that leaves the pool, instead of going back, once it has shown it no
/// longer reaches a usable primary, or the sentinels announced a new one while it was out.
pub(super) struct Conn {
    // `Some` until dropped.
    pooled: Option<Pooled>,
    broken: bool,
    checked_out: Instant,
    switches: Option<Arc<Mutex<Option<Instant>>>>,
}

/// Whether an error means this connection must not be reused: the node is gone, the link is
/// broken, the node is (now) a replica (`READONLY`), or it is a primary cut off from every
/// replica (`NOREPLICAS`, from `min-replicas-to-write`): after a failover that is the old
/// primary until the sentinels demote it, which can take seconds; a fresh connection goes
/// wherever the sentinels say the primary is now.
fn breaks_connection(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_unrecoverable_error()
        || matches!(error.code(), Some("READONLY" | "NOREPLICAS"))
}

// === impl Conn ===

impl Conn {
    fn inner(&mut self) -> &mut redis::aio::MultiplexedConnection {
        match self.pooled.as_mut() {
            Some(Pooled::Single(c)) => c,
            Some(Pooled::Sentinel(c)) => c,
            // Only `Drop` takes it.
            None => unreachable!("a connection is used after it was dropped"),
        }
    }

    fn note<T>(&mut self, result: &RedisResult<T>) {
        if let Err(error) = result
            && breaks_connection(error)
            && !self.broken
        {
            self.broken = true;
            tracing::warn!(
                error_kind = ?error.kind(),
                "Redis connection dropped from the pool (node gone or no longer the primary)"
            );
            metrics::counter!("xhuma_redis_connections_discarded_total").increment(1);
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        Box::pin(async move {
            let result = self.inner().req_packed_command(cmd).await;
            self.note(&result);
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        Box::pin(async move {
            let result = self
                .inner()
                .req_packed_commands(pipeline, offset, count)
                .await;
            self.note(&result);
            result
        })
    }

    fn get_db(&self) -> i64 {
        match &self.pooled {
            Some(Pooled::Single(c)) => c.get_db(),
            Some(Pooled::Sentinel(c)) => c.get_db(),
            None => 0,
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let switched = self.switches.as_ref().is_some_and(|last| {
            last.lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_some_and(|at| at >= self.checked_out)
        });
        if !self.broken && !switched {
            return;
        }
        // Taken out of the pool and closed: the pool opens a new one on demand.
        match self.pooled.take() {
            Some(Pooled::Single(c)) => drop(deadpool_redis::Connection::take(c)),
            Some(Pooled::Sentinel(c)) => drop(deadpool_redis::sentinel::Connection::take(c)),
            None => {}
        }
    }
}
