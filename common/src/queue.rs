//! RabbitMQ: connection, topology, publish-with-confirm.
//!
//! The gateway publishes prefetch jobs here; workers consume them (`xhuma-workers`), move them
//! from the SDS stage to the GP Connect stage, delay retries and dead-letter what cannot be done.
//!
//! Topology (declared idempotently by whoever connects first; `P` = `XHUMA_QUEUE_PREFIX`):
//!
//! ```text
//! P.jobs (direct exchange) ──sds──────▶ P.sds        ─┐  (quorum, durable, delivery-limit)
//!                          ──gpconnect▶ P.gpconnect  ─┤  past the limit ──dead-letter──▶ P.dead
//! P.sds.retry.1000  (TTL 1 s)  ──dead-letter──▶ P.jobs/sds        retry tiers: 1 s, 5 s, 30 s
//! P.gpconnect.retry.5000 …     ──dead-letter──▶ P.jobs/gpconnect
//! P.dead       failed jobs, with x-xhuma-reason / x-xhuma-stage headers (and poison messages);
//!              kept 7 days, at most 100,000 (DEAD_LETTER_TTL, DEAD_LETTER_MAX_LENGTH)
//! P.audit      audit events for the audit consumer
//! ```
//!
//! Messages are persistent, published with confirms (a Nack is an error), and acked by the
//! consumer only after the result is in Redis. On quorum queues the broker's own dead-lettering
//! (stage queues and retry tiers) is at-least-once, with `x-overflow: reject-publish`; classic
//! queues dead-letter at-most-once (see `topology`). Reject-publish refuses a publish only when
//! a length limit is set by policy: the publisher then gets a Nack, [`QueueError::Nacked`]; the
//! gateway releases the patient's lease (the next request enqueues again), a worker retries or
//! requeues the delivery it holds. Nothing is dropped.

use std::sync::Arc;
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde::Serialize;
use tokio::sync::Mutex;

use crate::config::AmqpConfig;

mod topology;

pub use topology::{
    AT_LEAST_ONCE_POLICY, at_least_once_policy_command, declare_dead_letter, declare_topology,
};

/// How long a job stays in `P.dead` for people to look at before the broker drops it.
pub const DEAD_LETTER_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// The most messages `P.dead` keeps (the oldest are dropped first).
pub const DEAD_LETTER_MAX_LENGTH: i64 = 100_000;

/// Delays of the retry tiers; attempt `n` (1-based) waits `RETRY_TIERS_MS[min(n-1, last)]`.
pub const RETRY_TIERS_MS: [u64; 3] = [1_000, 5_000, 30_000];

/// A quorum queue dead-letters a message redelivered this many times (a worker that crashes on
/// it every time), so one poison message cannot stall a stage forever; on classic queues the
/// workers count redeliveries themselves (`Cache::count_delivery`) against the same limit.
pub const DELIVERY_LIMIT: i64 = 10;

pub const HEADER_CORRELATION: &str = "x-correlation-id";
pub const HEADER_ATTEMPT: &str = "x-xhuma-attempt";
pub const HEADER_REASON: &str = "x-xhuma-reason";
pub const HEADER_STAGE: &str = "x-xhuma-stage";
pub const HEADER_TRACEPARENT: &str = "traceparent";

/// The pipeline stages; each has its own queue so operators scale them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Resolve the registered practice (PDS when needed) and its GP Connect endpoint (SDS).
    Sds,
    /// Fetch the structured record, convert it, cache the C-CDA.
    GpConnect,
}

/// Errors talking to RabbitMQ.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("RabbitMQ connection failed")]
    Connect(#[source] lapin::Error),
    #[error("RabbitMQ operation {op} failed")]
    Amqp {
        op: &'static str,
        #[source]
        source: lapin::Error,
    },
    #[error("RabbitMQ refused the message (nack)")]
    Nacked,
    #[error("cannot encode message")]
    Encode(#[source] serde_json::Error),
    #[error("RabbitMQ did not answer {op} in time")]
    Timeout { op: &'static str },
    #[error("RabbitMQ is unreachable (the last connect failed moments ago)")]
    Unreachable,
}

/// Connecting (TCP, AMQP handshake, topology) must finish within this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Declaring the topology creates a dozen quorum queues on first start (each a Raft group),
/// which a busy broker takes seconds to do; redeclaring existing ones is quick.
const TOPOLOGY_TIMEOUT: Duration = Duration::from_secs(20);
/// A publish must be confirmed within this, or the message counts as not sent.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);
/// A readiness round trip must finish within this: a half-dead socket never answers.
const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// Queue and exchange names for one prefix.
#[derive(Debug, Clone)]
pub struct Names {
    prefix: String,
}

// === impl Stage ===

impl Stage {
    pub const ALL: [Stage; 2] = [Stage::Sds, Stage::GpConnect];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Sds => "sds",
            Stage::GpConnect => "gpconnect",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "sds" => Some(Stage::Sds),
            "gpconnect" => Some(Stage::GpConnect),
            _ => None,
        }
    }
}

// === impl Names ===

impl Names {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
        }
    }
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
    pub fn exchange(&self) -> String {
        format!("{}.jobs", self.prefix)
    }
    pub fn stage(&self, stage: Stage) -> String {
        format!("{}.{}", self.prefix, stage.as_str())
    }
    pub fn retry(&self, stage: Stage, delay_ms: u64) -> String {
        format!("{}.{}.retry.{delay_ms}", self.prefix, stage.as_str())
    }
    pub fn dead(&self) -> String {
        format!("{}.dead", self.prefix)
    }
    pub fn audit(&self) -> String {
        format!("{}.audit", self.prefix)
    }
}

/// Picks the retry tier for the `attempt`-th retry (1-based).
pub fn retry_delay(attempt: u32) -> Duration {
    let i = (attempt.max(1) as usize - 1).min(RETRY_TIERS_MS.len() - 1);
    Duration::from_millis(RETRY_TIERS_MS[i])
}

/// A lazily (re)connecting handle on one AMQP connection with a confirm-mode channel.
///
/// Cheap to clone. A failed publish drops the connection so the next call reconnects; callers
/// see [`QueueError`] in between (the gateway answers `XDSRegistryNotAvailable`).
#[derive(Clone)]
pub struct Amqp {
    inner: Arc<Inner>,
}

struct Inner {
    config: AmqpConfig,
    names: Names,
    conn: Mutex<Option<Live>>,
    name: String,
    /// After a failed connect, callers fail fast until this instant instead of queueing on
    /// the connection lock for another connect timeout each (a black-holed broker).
    retry_at: std::sync::Mutex<Option<std::time::Instant>>,
    /// Index into [`AmqpConfig::urls`] of the broker that answered last: a reconnect tries it
    /// first, then the others in order, so after a node is lost one failover settles where
    /// the cluster still is instead of every reconnect paying for the dead node first.
    preferred: std::sync::atomic::AtomicUsize,
}

/// How long a failed connect makes others fail fast before the next attempt.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

#[derive(Clone)]
struct Live {
    connection: Arc<Connection>,
    channel: Channel,
}

// === impl Amqp ===

impl Amqp {
    /// Connects, declares the topology and enables publisher confirms.
    pub async fn connect(config: &AmqpConfig, connection_name: &str) -> Result<Self, QueueError> {
        let amqp = Self::lazy(config, connection_name);
        amqp.live().await?;
        Ok(amqp)
    }

    /// A handle that connects on first use (and after every loss).
    pub fn lazy(config: &AmqpConfig, connection_name: &str) -> Self {
        Self {
            inner: Arc::new(Inner {
                names: Names::new(&config.prefix),
                config: config.clone(),
                conn: Mutex::new(None),
                name: connection_name.to_string(),
                retry_at: std::sync::Mutex::new(None),
                preferred: std::sync::atomic::AtomicUsize::new(0),
            }),
        }
    }

    pub fn names(&self) -> &Names {
        &self.inner.names
    }

    /// Whether the connection is up right now (readiness).
    pub async fn is_connected(&self) -> bool {
        match self.inner.conn.lock().await.as_ref() {
            Some(live) => live.connection.status().connected() && live.channel.status().connected(),
            None => false,
        }
    }

    /// Checks the broker answers now, reconnecting when needed (readiness probe): opens and
    /// closes a channel, a real round trip, so a connection whose socket died unnoticed fails.
    pub async fn ping(&self) -> Result<(), QueueError> {
        let probe = async {
            let live = self.live().await?;
            let channel =
                live.connection
                    .create_channel()
                    .await
                    .map_err(|source| QueueError::Amqp {
                        op: "channel.open",
                        source,
                    })?;
            let _ = channel.close(200, "ping".into()).await;
            Ok(())
        };
        let result = tokio::time::timeout(PING_TIMEOUT, probe)
            .await
            .unwrap_or(Err(QueueError::Timeout { op: "ping" }));
        if result.is_err() {
            self.drop_connection().await;
        }
        result
    }

    /// Opens a fresh channel on the shared connection (consumers use one each).
    pub async fn channel(&self) -> Result<Channel, QueueError> {
        let live = self.live().await?;
        live.connection
            .create_channel()
            .await
            .map_err(|source| QueueError::Amqp {
                op: "channel.open",
                source,
            })
    }

    async fn live(&self) -> Result<Live, QueueError> {
        let mut guard = self.inner.conn.lock().await;
        if let Some(live) = guard.as_ref()
            && live.connection.status().connected()
            && live.channel.status().connected()
        {
            return Ok(live.clone());
        }
        if self.pausing() {
            return Err(QueueError::Unreachable);
        }
        let result = self.open().await;
        let mut retry_at = self
            .inner
            .retry_at
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(live) => {
                *retry_at = None;
                *guard = Some(live.clone());
                Ok(live)
            }
            Err(error) => {
                *retry_at = Some(std::time::Instant::now() + RECONNECT_PAUSE);
                Err(error)
            }
        }
    }

    fn pausing(&self) -> bool {
        let retry_at = self
            .inner
            .retry_at
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        retry_at.is_some_and(|t| std::time::Instant::now() < t)
    }

    /// Connects to the first broker of the cluster that answers (the last one that did
    /// first), then declares the topology on it: declarations are idempotent, so a node that
    /// joined or was rebuilt since gets whatever it lacks.
    async fn connect_any(&self) -> Result<Connection, QueueError> {
        use std::sync::atomic::Ordering;
        let urls = self.inner.config.urls();
        let first = self.inner.preferred.load(Ordering::Relaxed) % urls.len().max(1);
        let mut last_error = QueueError::Unreachable;
        for i in (0..urls.len()).map(|k| (first + k) % urls.len()) {
            let props = ConnectionProperties::default()
                .with_connection_name(LongString::from(self.inner.name.as_str()));
            match tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(urls[i], props)).await {
                Ok(Ok(connection)) => {
                    if i != first {
                        tracing::warn!(broker = i, "Connected to another RabbitMQ node");
                    }
                    self.inner.preferred.store(i, Ordering::Relaxed);
                    return Ok(connection);
                }
                Ok(Err(error)) => last_error = QueueError::Connect(error),
                Err(_) => last_error = QueueError::Timeout { op: "connect" },
            }
        }
        Err(last_error)
    }

    async fn open(&self) -> Result<Live, QueueError> {
        let connection = self.connect_any().await?;
        tokio::time::timeout(
            TOPOLOGY_TIMEOUT,
            declare_dead_letter(&connection, &self.inner.names, self.inner.config.queue_type),
        )
        .await
        .map_err(|_| QueueError::Timeout { op: "topology" })??;
        tokio::time::timeout(
            TOPOLOGY_TIMEOUT,
            declare_topology(&connection, &self.inner.names, self.inner.config.queue_type),
        )
        .await
        .map_err(|_| QueueError::Timeout { op: "topology" })??;
        let channel = connection
            .create_channel()
            .await
            .map_err(|source| QueueError::Amqp {
                op: "channel.open",
                source,
            })?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|source| QueueError::Amqp {
                op: "confirm.select",
                source,
            })?;
        Ok(Live {
            connection: Arc::new(connection),
            channel,
        })
    }

    async fn drop_connection(&self) {
        if let Some(live) = self.inner.conn.lock().await.take() {
            let _ = live.connection.close(320, "reconnecting".into()).await;
        }
    }

    /// Publishes a JSON message persistently and waits for the broker's confirm.
    pub async fn publish_json<T: Serialize>(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &T,
        headers: FieldTable,
        message_id: &str,
    ) -> Result<(), QueueError> {
        let body = serde_json::to_vec(message).map_err(QueueError::Encode)?;
        self.publish_bytes(exchange, routing_key, &body, headers, message_id)
            .await
    }

    /// Publishes bytes persistently and waits for the broker's confirm. When the connection
    /// dies under the publish (its node stopped, say), it is tried once more on a fresh
    /// connection, which [`AmqpConfig::urls`] may put on another node of the cluster. A
    /// message whose confirm was lost may then be there twice: consumers tolerate that
    /// (the job id and the patient's lease make a second copy a no-op).
    pub async fn publish_bytes(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        headers: FieldTable,
        message_id: &str,
    ) -> Result<(), QueueError> {
        let first = self
            .publish_once(exchange, routing_key, body, headers.clone(), message_id)
            .await;
        match first {
            Err(QueueError::Amqp { .. }) => {
                self.publish_once(exchange, routing_key, body, headers, message_id)
                    .await
            }
            other => other,
        }
    }

    async fn publish_once(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        headers: FieldTable,
        message_id: &str,
    ) -> Result<(), QueueError> {
        let live = self.live().await?;
        let props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type(ShortString::from("application/json"))
            .with_message_id(ShortString::from(message_id))
            .with_headers(headers);
        let publish = async {
            let confirm = live
                .channel
                .basic_publish(
                    ShortString::from(exchange),
                    ShortString::from(routing_key),
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    body,
                    props,
                )
                .await
                .map_err(|source| QueueError::Amqp {
                    op: "basic.publish",
                    source,
                })?
                .await
                .map_err(|source| QueueError::Amqp {
                    op: "publisher.confirm",
                    source,
                })?;
            // An unroutable mandatory message is acked *and* returned: treat it as refused,
            // or the job would vanish silently.
            if confirm.is_ack() && confirm.take_message().is_none() {
                Ok(())
            } else {
                Err(QueueError::Nacked)
            }
        };
        let result = tokio::time::timeout(PUBLISH_TIMEOUT, publish)
            .await
            .unwrap_or(Err(QueueError::Timeout { op: "publish" }));
        if let Err(QueueError::Amqp { .. } | QueueError::Timeout { .. }) = &result {
            self.drop_connection().await;
        }
        result
    }

    /// Publishes a job to a stage.
    pub async fn publish_to_stage<T: Serialize>(
        &self,
        stage: Stage,
        message: &T,
        headers: FieldTable,
        message_id: &str,
    ) -> Result<(), QueueError> {
        let exchange = self.inner.names.exchange();
        self.publish_json(&exchange, stage.as_str(), message, headers, message_id)
            .await
    }

    /// Closes the connection (at shutdown).
    pub async fn close(&self) {
        self.drop_connection().await;
    }
}

/// Builds the standard headers of a job message.
pub fn job_headers(correlation_id: &str, attempt: u32, traceparent: Option<&str>) -> FieldTable {
    let mut headers = FieldTable::default();
    headers.insert(
        HEADER_CORRELATION.into(),
        AMQPValue::LongString(correlation_id.into()),
    );
    headers.insert(
        HEADER_ATTEMPT.into(),
        AMQPValue::LongLongInt(attempt as i64),
    );
    if let Some(tp) = traceparent {
        headers.insert(HEADER_TRACEPARENT.into(), AMQPValue::LongString(tp.into()));
    }
    headers
}

/// The longest `x-xhuma-reason` kept: a reason quotes an upstream error, whose size we do not
/// control, and an AMQP header table must stay small.
pub const MAX_DEAD_LETTER_REASON: usize = 300;

/// The headers of a message copied to `P.dead`: why (`x-xhuma-reason`, cut to
/// [`MAX_DEAD_LETTER_REASON`] characters), from which stage (`x-xhuma-stage`), and the
/// correlation id (and attempt) it came with, so the dead letter joins the rest of its trail.
pub fn dead_letter_headers(
    from: Option<&FieldTable>,
    attempt: Option<u32>,
    stage: &str,
    reason: &str,
) -> FieldTable {
    let mut headers = FieldTable::default();
    if let Some(correlation) = header_str(from, HEADER_CORRELATION) {
        headers.insert(
            HEADER_CORRELATION.into(),
            AMQPValue::LongString(correlation.into()),
        );
    }
    if let Some(attempt) = attempt {
        headers.insert(
            HEADER_ATTEMPT.into(),
            AMQPValue::LongLongInt(i64::from(attempt)),
        );
    }
    let reason = match reason.char_indices().nth(MAX_DEAD_LETTER_REASON) {
        Some((cut, _)) => &reason[..cut],
        None => reason,
    };
    headers.insert(HEADER_REASON.into(), AMQPValue::LongString(reason.into()));
    headers.insert(HEADER_STAGE.into(), AMQPValue::LongString(stage.into()));
    headers
}

/// Reads a string header.
pub fn header_str(headers: Option<&FieldTable>, name: &str) -> Option<String> {
    let value = headers?.inner().get(name)?;
    match value {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

/// Reads an integer header.
pub fn header_int(headers: Option<&FieldTable>, name: &str) -> Option<i64> {
    match headers?.inner().get(name)? {
        AMQPValue::LongLongInt(v) => Some(*v),
        AMQPValue::LongInt(v) => Some(i64::from(*v)),
        AMQPValue::LongUInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortShortInt(v) => Some(i64::from(*v)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_tiers() {
        assert_eq!(retry_delay(0), Duration::from_secs(1));
        assert_eq!(retry_delay(1), Duration::from_secs(1));
        assert_eq!(retry_delay(2), Duration::from_secs(5));
        assert_eq!(retry_delay(9), Duration::from_secs(30));
    }

    #[test]
    fn names() {
        let n = Names::new("t1");
        assert_eq!(n.stage(Stage::GpConnect), "t1.gpconnect");
        assert_eq!(n.retry(Stage::Sds, 5000), "t1.sds.retry.5000");
    }
}
