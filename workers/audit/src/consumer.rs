//! The delivery loop of `P.audit`.
//!
//! `basic_qos(batch_size)` → collect up to `batch_size` deliveries or until `batch_wait` →
//! decode each (a JSON array of events, as `AuditSink` publishes them, or one event;
//! undecodable → `P.dead` with `x-xhuma-reason`) → one INSERT of all their events
//! (retried with backoff while PostgreSQL is away; rows the database refuses are stored one by
//! one and the refused ones dead-lettered) → ack the batch with one `multiple` ack → send the
//! newly stored events to syslog. Nothing is acked before it is committed or dead-lettered; a
//! crash redelivers the batch, and the primary key makes the second write a no-op.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use tokio_util::sync::CancellationToken;
use xhuma_common::audit::{self, AuditEvent};
use xhuma_common::queue::{QueueError, dead_letter_headers};

use crate::Auditor;
use crate::atna::{self, AtnaSource};
use crate::store::StoreError;
use crate::syslog::Syslog;

/// The longest one INSERT may take before it counts as failed.
const INSERT_TIMEOUT: Duration = Duration::from_secs(30);
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// After a failed syslog send, how long the forwarder skips sending.
const SYSLOG_COOLDOWN: Duration = Duration::from_secs(5);

/// Why a consuming session ended (the caller reconnects).
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error("RabbitMQ channel error")]
    Amqp(#[from] lapin::Error),
    #[error("RabbitMQ publish failed")]
    Queue(#[from] QueueError),
    #[error("the consumer was cancelled by the broker")]
    Closed,
}

/// Syslog state kept across reconnects.
struct Forwarder {
    syslog: Syslog,
    source: AtnaSource,
    /// Set after a failed send: until then, events are not tried.
    down_until: Option<Instant>,
}

/// Consumes until `shutdown`, reconnecting with a bounded backoff on broker errors.
pub async fn consume(auditor: Arc<Auditor>, shutdown: CancellationToken) {
    let mut forwarder = auditor.config.syslog.clone().map(|target| Forwarder {
        syslog: Syslog::new(target, xhuma_common::process::hostname()),
        source: AtnaSource {
            audit_source_id: auditor.config.source_id.clone(),
            enterprise_site_id: auditor.config.enterprise_site_id.clone(),
        },
        down_until: None,
    });
    let mut backoff = BACKOFF_MIN;
    while !shutdown.is_cancelled() {
        match consume_once(&auditor, &mut forwarder, &shutdown).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(%error, "Audit consumer stopped; reconnecting");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

async fn consume_once(
    auditor: &Auditor,
    forwarder: &mut Option<Forwarder>,
    shutdown: &CancellationToken,
) -> Result<(), ConsumeError> {
    let channel = auditor.amqp.channel().await?;
    let batch_size = usize::from(auditor.config.batch_size);
    channel
        .basic_qos(auditor.config.batch_size, BasicQosOptions::default())
        .await?;
    let tag = format!("xhuma-audit-{}", uuid::Uuid::new_v4());
    let mut consumer = channel
        .basic_consume(
            auditor.amqp.names().audit().into(),
            tag.clone().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    tracing::info!(
        queue = %auditor.amqp.names().audit(),
        batch_size,
        "Consuming audit events"
    );
    let result = loop {
        let first = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break Ok(()),
            next = consumer.next() => match next {
                Some(Ok(delivery)) => delivery,
                Some(Err(error)) => break Err(error.into()),
                None => break Err(ConsumeError::Closed),
            },
        };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + auditor.config.batch_wait;
        let mut ended = None;
        while batch.len() < batch_size {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                next = consumer.next() => match next {
                    Some(Ok(delivery)) => batch.push(delivery),
                    Some(Err(error)) => { ended = Some(error.into()); break }
                    None => { ended = Some(ConsumeError::Closed); break }
                },
            }
        }
        if let Some(error) = ended {
            // Unacked deliveries return to the queue when the channel goes.
            break Err(error);
        }
        if let Err(error) = handle_batch(auditor, forwarder, batch, shutdown).await {
            break Err(error);
        }
    };
    let _ = channel
        .basic_cancel(tag.into(), BasicCancelOptions::default())
        .await;
    let _ = channel.close(200, "shutdown".into()).await;
    result
}

/// Stores (or dead-letters) every delivery of the batch, then acks them all at once.
async fn handle_batch(
    auditor: &Auditor,
    forwarder: &mut Option<Forwarder>,
    batch: Vec<Delivery>,
    shutdown: &CancellationToken,
) -> Result<(), ConsumeError> {
    let started = Instant::now();
    let mut events = Vec::with_capacity(batch.len());
    let mut origin = Vec::with_capacity(batch.len());
    for (i, delivery) in batch.iter().enumerate() {
        match audit::decode_message(&delivery.data) {
            Ok(decoded) => {
                origin.extend(std::iter::repeat_n(i, decoded.len()));
                events.extend(decoded);
            }
            Err(error) => {
                tracing::warn!(
                    category = ?error.classify(),
                    line = error.line(),
                    column = error.column(),
                    "Undecodable audit message; dead-lettering"
                );
                dead_letter(auditor, delivery, None, &format!("cannot decode: {error}")).await?;
            }
        }
    }
    let Some(stored) = store_with_retry(auditor, &batch, &events, &origin, shutdown).await? else {
        // Shutting down with the database away: leave the batch unacked for redelivery.
        return Ok(());
    };
    if let Some(last) = batch.last() {
        last.ack(BasicAckOptions { multiple: true }).await?;
    }
    metrics::histogram!("xhuma_audit_events_per_message")
        .record(events.len() as f64 / batch.len().max(1) as f64);
    let duplicates = events.len().saturating_sub(stored.len());
    metrics::counter!("xhuma_audit_consumed_total", "outcome" => "stored")
        .increment(stored.len() as u64);
    if duplicates > 0 {
        metrics::counter!("xhuma_audit_consumed_total", "outcome" => "duplicate")
            .increment(duplicates as u64);
    }
    metrics::histogram!("xhuma_audit_batch_seconds").record(started.elapsed().as_secs_f64());
    tracing::debug!(
        messages = batch.len(),
        stored = stored.len(),
        duplicates,
        "Audit batch written"
    );
    if let Some(forwarder) = forwarder {
        let new: HashSet<_> = stored.into_iter().collect();
        forwarder
            .forward(events.iter().filter(|e| new.contains(&e.id)))
            .await;
    }
    Ok(())
}

// === impl Forwarder ===

impl Forwarder {
    /// Sends each event's ATNA message. After a failure the rest of the batch, and batches for
    /// the next few seconds, are counted as failed without trying, so an unreachable syslog
    /// server cannot slow down the database writes.
    async fn forward<'a>(&mut self, events: impl Iterator<Item = &'a AuditEvent>) {
        let mut skipped = 0u64;
        for event in events {
            if self.down_until.is_some_and(|t| Instant::now() < t) {
                skipped += 1;
                continue;
            }
            let xml = atna::render(event, &self.source);
            match self.syslog.send(event.at, &xml).await {
                Ok(()) => {
                    self.down_until = None;
                    metrics::counter!("xhuma_audit_syslog_total", "outcome" => "sent").increment(1)
                }
                Err(error) => {
                    self.down_until = Some(Instant::now() + SYSLOG_COOLDOWN);
                    metrics::counter!("xhuma_audit_syslog_total", "outcome" => "failed")
                        .increment(1);
                    tracing::warn!(%error, target = %self.syslog.target(), "Cannot send ATNA message");
                }
            }
        }
        if skipped > 0 {
            metrics::counter!("xhuma_audit_syslog_total", "outcome" => "failed").increment(skipped);
        }
    }
}

/// Writes the events, retrying while the database is away. Returns the ids newly stored, or
/// `None` when shutdown came first. Rows the database refuses as data are dead-lettered.
async fn store_with_retry(
    auditor: &Auditor,
    batch: &[Delivery],
    events: &[AuditEvent],
    origin: &[usize],
    shutdown: &CancellationToken,
) -> Result<Option<Vec<uuid::Uuid>>, ConsumeError> {
    let mut backoff = BACKOFF_MIN;
    loop {
        match insert(auditor, events).await {
            Ok(ids) => return Ok(Some(ids)),
            Err(error) if error.is_data_error() => {
                tracing::warn!(
                    sqlstate = error.sqlstate().unwrap_or("-"),
                    "Audit batch refused by the database; storing one by one"
                );
                return store_one_by_one(auditor, batch, events, origin, shutdown).await;
            }
            Err(error) => {
                metrics::counter!("xhuma_audit_store_errors_total").increment(1);
                tracing::error!(%error, retry_in_ms = backoff.as_millis() as u64, "Cannot write audit events; retrying");
                if shutdown.is_cancelled() {
                    return Ok(None);
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(None),
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

async fn store_one_by_one(
    auditor: &Auditor,
    batch: &[Delivery],
    events: &[AuditEvent],
    origin: &[usize],
    shutdown: &CancellationToken,
) -> Result<Option<Vec<uuid::Uuid>>, ConsumeError> {
    let mut stored = Vec::new();
    for (event, &i) in events.iter().zip(origin) {
        let mut backoff = BACKOFF_MIN;
        loop {
            match insert(auditor, std::slice::from_ref(event)).await {
                Ok(ids) => {
                    stored.extend(ids);
                    break;
                }
                Err(error) if error.is_data_error() => {
                    // The database's message may quote the row (and so the patient): keep only the code.
                    let sqlstate = error.sqlstate().unwrap_or("-");
                    tracing::warn!(audit.id = %event.id, sqlstate, "Audit event refused by the database; dead-lettering");
                    // Alone in its message, the message as it came; from an array, the event.
                    let alone = origin.iter().filter(|&&o| o == i).count() == 1;
                    let body = if alone {
                        None
                    } else {
                        serde_json::to_vec(event).ok()
                    };
                    dead_letter(
                        auditor,
                        &batch[i],
                        body.as_deref(),
                        &format!("refused by the database (SQLSTATE {sqlstate})"),
                    )
                    .await?;
                    break;
                }
                Err(error) => {
                    metrics::counter!("xhuma_audit_store_errors_total").increment(1);
                    tracing::error!(%error, "Cannot write audit event; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ok(None),
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }
    Ok(Some(stored))
}

async fn insert(auditor: &Auditor, events: &[AuditEvent]) -> Result<Vec<uuid::Uuid>, StoreError> {
    match tokio::time::timeout(INSERT_TIMEOUT, auditor.store.insert(events)).await {
        Ok(result) => result,
        Err(_) => Err(StoreError::Timeout { op: "insert" }),
    }
}

/// Copies a delivery (or, with `body`, one event of it) to `P.dead` with its reason
/// (confirmed by the broker). The caller acks it with the rest of the batch.
async fn dead_letter(
    auditor: &Auditor,
    delivery: &Delivery,
    body: Option<&[u8]>,
    reason: &str,
) -> Result<(), QueueError> {
    let headers = dead_letter_headers(
        delivery.properties.headers().as_ref(),
        None,
        "audit",
        &format!("audit: {reason}"),
    );
    let message_id = delivery
        .properties
        .message_id()
        .as_ref()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let dead = auditor.amqp.names().dead();
    auditor
        .amqp
        .publish_bytes(
            "",
            &dead,
            body.unwrap_or(&delivery.data),
            headers,
            &message_id,
        )
        .await?;
    metrics::counter!("xhuma_audit_consumed_total", "outcome" => "dead_lettered").increment(1);
    Ok(())
}
