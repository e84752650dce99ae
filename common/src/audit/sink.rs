use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapin::types::{AMQPValue, FieldTable};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{AuditEvent, HEADER_AUDIT_EVENTS};
use crate::queue::{Amqp, HEADER_CORRELATION};

/// Events the in-process channel holds before `emit` starts to wait (and then to drop).
pub const DEFAULT_CAPACITY: usize = 4096;
/// How long an `emit` on a full channel may wait (in a spawned task, not the caller's).
const EMIT_WAIT: Duration = Duration::from_millis(100);
/// At most this many such waits at once; beyond that a full channel drops at once.
const MAX_OVERFLOW_WAITERS: usize = 256;
/// Most events in one message. One persistent message on a quorum queue costs RabbitMQ
/// ~200–400 µs of CPU whatever its size — more than the gateway's own work on a cached
/// ITI-38 — so events travel together: what queued up while the previous message was being
/// confirmed, plus what arrives within [`LINGER`] of the first.
pub const MAX_BATCH: usize = 64;
/// How long a message waits for company. A confirm takes ~1–3 ms, so without a wait a
/// message at a few hundred events per second still carried one or two; 5 ms is what an
/// ITI-39, which waits for its event's confirm before releasing the document, can spare.
const LINGER: Duration = Duration::from_millis(5);
/// The longest one publish (connect included) may take before it counts as failed.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);
/// After shutdown, failing publishes are retried this long, then their events are dropped.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Hands audit events to RabbitMQ without blocking the request path.
///
/// `emit` puts the event on a bounded in-process channel; a background task publishes what
/// has queued (up to [`MAX_BATCH`] events, a JSON array: the consumer reads one event or an
/// array) as one persistent message, with a confirm, to `P.audit`, retrying with backoff
/// while the broker is away. An event counts as confirmed when its message is.
/// When the channel is full, `emit` waits (in a spawned task) up to 100 ms for room, then drops
/// the event, counts `xhuma_audit_events_total{outcome="dropped"}` and logs at error: lost
/// audit needs an operator. Cheap to clone; all clones share the channel.
#[derive(Clone)]
pub struct AuditSink {
    inner: Option<Arc<Shared>>,
    source: Arc<str>,
}

struct Shared {
    tx: mpsc::Sender<AuditEvent>,
    /// Events accepted and not yet published (or given up); `None` for a memory sink.
    pending: Option<AtomicUsize>,
    /// Signalled when `pending` drops to zero.
    idle: Notify,
    waiters: AtomicUsize,
    /// Callers of [`AuditSink::emit_confirmed`] waiting for their event's fate, by event id:
    /// `true` once the broker confirmed it, `false` when it was dropped. Bounded by the events
    /// in the channel and in flight.
    confirms: Mutex<HashMap<Uuid, oneshot::Sender<bool>>>,
}

// === impl AuditSink ===

impl AuditSink {
    /// Starts the publishing task on the current tokio runtime. After `shutdown`, publishing
    /// goes on (requests still draining emit events) but failures are retried for at most
    /// 10 s more; call [`AuditSink::flush`] before exiting.
    pub fn spawn(amqp: Amqp, shutdown: CancellationToken) -> Self {
        Self::spawn_with_capacity(amqp, shutdown, DEFAULT_CAPACITY)
    }

    /// [`AuditSink::spawn`] with a channel of `capacity` events.
    pub fn spawn_with_capacity(amqp: Amqp, shutdown: CancellationToken, capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let shared = Arc::new(Shared {
            tx,
            pending: Some(AtomicUsize::new(0)),
            idle: Notify::new(),
            waiters: AtomicUsize::new(0),
            confirms: Mutex::new(HashMap::new()),
        });
        let task = publish_loop(amqp, rx, Arc::downgrade(&shared), shutdown);
        tokio::spawn(tracing::Instrument::instrument(
            task,
            tracing::info_span!("audit_publisher"),
        ));
        Self {
            inner: Some(shared),
            source: default_source().into(),
        }
    }

    /// A sink that discards everything (audit off, or tests that do not look at it).
    pub fn disabled() -> Self {
        Self {
            inner: None,
            source: default_source().into(),
        }
    }

    /// A sink whose events go to the returned receiver instead of RabbitMQ (tests that assert
    /// what was audited). Drops like the real sink when `capacity` is reached.
    pub fn memory(capacity: usize) -> (Self, mpsc::Receiver<AuditEvent>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let shared = Arc::new(Shared {
            tx,
            pending: None,
            idle: Notify::new(),
            waiters: AtomicUsize::new(0),
            confirms: Mutex::new(HashMap::new()),
        });
        let sink = Self {
            inner: Some(shared),
            source: default_source().into(),
        };
        (sink, rx)
    }

    /// Sets the `source` stamped on events that have none (default `<binary>@<host>`).
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into().into();
        self
    }

    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Queues an event for publishing. Never blocks: see the type's docs for a full channel.
    pub fn emit(&self, event: AuditEvent) {
        let Some(shared) = &self.inner else {
            return;
        };
        let event = self.stamped(event);
        shared.add_pending();
        match shared.tx.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(event)) => overflow(shared, event),
            Err(mpsc::error::TrySendError::Closed(event)) => {
                shared.done(1);
                shared.settle(event.id, false);
                dropped(&event, "the audit publisher has stopped");
            }
        }
    }

    fn stamped(&self, mut event: AuditEvent) -> AuditEvent {
        if event.source.is_empty() {
            event.source = self.source.to_string();
        }
        event
    }

    /// Emits `event` and waits, at most `timeout`, until RabbitMQ has confirmed it (persisted on
    /// the durable audit queue). `true` when confirmed; `false` when it was dropped or the wait
    /// ran out — the caller decides whether to go on without it (see
    /// `XHUMA_AUDIT_FAIL_OPEN`). A disabled sink confirms at once (audit is off by
    /// configuration); a memory sink once the event is in its channel.
    pub async fn emit_confirmed(&self, event: AuditEvent, timeout: Duration) -> bool {
        let Some(shared) = &self.inner else {
            return true;
        };
        if shared.pending.is_none() {
            // The memory sink has no publisher: in the channel is as far as it goes.
            return shared.tx.try_send(self.stamped(event)).is_ok();
        }
        let id = event.id;
        let (tx, rx) = oneshot::channel();
        lock(&shared.confirms).insert(id, tx);
        self.emit(event);
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(confirmed)) => confirmed,
            _ => {
                lock(&shared.confirms).remove(&id);
                false
            }
        }
    }

    /// Waits until every event emitted so far is published (or given up), at most `timeout`.
    /// Call at shutdown, after the server has drained.
    pub async fn flush(&self, timeout: Duration) {
        let Some(shared) = &self.inner else {
            return;
        };
        let Some(pending) = &shared.pending else {
            return;
        };
        let deadline = Instant::now() + timeout;
        loop {
            let notified = shared.idle.notified();
            let left = pending.load(Ordering::Acquire);
            if left == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let left = pending.load(Ordering::Acquire);
                if left > 0 {
                    tracing::error!(pending = left, "Audit flush timed out; events may be lost");
                }
                return;
            }
        }
    }
}

// === impl Shared ===

impl Shared {
    fn add_pending(&self) {
        if let Some(p) = &self.pending {
            p.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Tells a waiting [`AuditSink::emit_confirmed`] what became of event `id`.
    fn settle(&self, id: Uuid, confirmed: bool) {
        if let Some(tx) = lock(&self.confirms).remove(&id) {
            let _ = tx.send(confirmed);
        }
    }

    /// Marks `n` events as finished (published or dropped).
    fn done(&self, n: usize) {
        if let Some(p) = &self.pending
            && n > 0
            && p.fetch_sub(n, Ordering::AcqRel) == n
        {
            self.idle.notify_waiters();
        }
    }
}

/// The channel is full: wait a short bounded time in a task of its own, or drop.
fn overflow(shared: &Arc<Shared>, event: AuditEvent) {
    let handle = tokio::runtime::Handle::try_current();
    let admitted = shared.waiters.fetch_add(1, Ordering::AcqRel) < MAX_OVERFLOW_WAITERS;
    match handle {
        Ok(handle) if admitted => {
            let shared = shared.clone();
            handle.spawn(async move {
                let result = shared.tx.send_timeout(event, EMIT_WAIT).await;
                shared.waiters.fetch_sub(1, Ordering::AcqRel);
                if let Err(error) = result {
                    let event = match error {
                        mpsc::error::SendTimeoutError::Timeout(e)
                        | mpsc::error::SendTimeoutError::Closed(e) => e,
                    };
                    shared.done(1);
                    shared.settle(event.id, false);
                    dropped(&event, "the audit channel is full");
                }
            });
        }
        _ => {
            shared.waiters.fetch_sub(1, Ordering::AcqRel);
            shared.done(1);
            shared.settle(event.id, false);
            dropped(&event, "the audit channel is full");
        }
    }
}

fn dropped(event: &AuditEvent, reason: &'static str) {
    metrics::counter!("xhuma_audit_events_total", "outcome" => "dropped").increment(1);
    tracing::error!(
        audit.id = %event.id,
        audit.kind = event.kind.as_str(),
        audit.outcome = event.outcome.as_str(),
        reason,
        "Audit event dropped"
    );
}

/// Publishes until every sender is gone. The sink holds only a weak reference for the task, so
/// the task ends when the last `AuditSink` clone is dropped and the channel is empty.
async fn publish_loop(
    amqp: Amqp,
    mut rx: mpsc::Receiver<AuditEvent>,
    shared: std::sync::Weak<Shared>,
    shutdown: CancellationToken,
) {
    let queue = amqp.names().audit();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        if rx.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        let linger = Instant::now() + LINGER;
        while batch.len() < MAX_BATCH {
            let room = MAX_BATCH - batch.len();
            match tokio::time::timeout_at(linger, rx.recv_many(&mut batch, room)).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let mut backoff = BACKOFF_MIN;
        let mut drain_deadline: Option<Instant> = None;
        while !batch.is_empty() {
            let total = batch.len();
            let ids: Vec<Uuid> = batch.iter().map(|e| e.id).collect();
            batch = publish_batch(&amqp, &queue, std::mem::take(&mut batch)).await;
            let published = total - batch.len();
            if published > 0 {
                metrics::counter!("xhuma_audit_events_total", "outcome" => "published")
                    .increment(published as u64);
            }
            let owner = shared.upgrade();
            if let Some(owner) = &owner {
                owner.done(published);
                for id in ids.iter().filter(|id| !batch.iter().any(|e| e.id == **id)) {
                    owner.settle(*id, true);
                }
            }
            if batch.is_empty() {
                break;
            }
            // After shutdown (or once every sink is gone) failures are retried only briefly.
            if shutdown.is_cancelled() || owner.is_none() {
                let deadline =
                    *drain_deadline.get_or_insert_with(|| Instant::now() + DRAIN_TIMEOUT);
                if Instant::now() >= deadline {
                    if let Some(owner) = &owner {
                        owner.done(batch.len());
                    }
                    for event in batch.drain(..) {
                        if let Some(owner) = &owner {
                            owner.settle(event.id, false);
                        }
                        dropped(&event, "RabbitMQ unreachable at shutdown");
                    }
                    break;
                }
            }
            drop(owner);
            tracing::warn!(
                failed = batch.len(),
                retry_in_ms = backoff.as_millis() as u64,
                "Cannot publish audit events; retrying"
            );
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.cancelled(), if drain_deadline.is_none() => {}
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }
}

/// Publishes the events as one message (a JSON array) and returns them all when it failed,
/// none when the broker confirmed it. An event that cannot be encoded (never expected) is
/// dropped and logged, so it cannot hold back the others.
async fn publish_batch(amqp: &Amqp, queue: &str, events: Vec<AuditEvent>) -> Vec<AuditEvent> {
    let mut body = b"[".to_vec();
    let mut kept = Vec::with_capacity(events.len());
    for event in events {
        let start = body.len();
        if !kept.is_empty() {
            body.push(b',');
        }
        match serde_json::to_writer(&mut body, &event) {
            Ok(()) => kept.push(event),
            Err(error) => {
                body.truncate(start);
                tracing::error!(%error, audit.id = %event.id, "Cannot encode audit event");
                dropped(&event, "the audit event cannot be encoded");
            }
        }
    }
    body.push(b']');
    let Some(first) = kept.first() else {
        return kept;
    };
    let mut headers = FieldTable::default();
    // The first event's correlation id: the message's, for tracing it through the broker.
    headers.insert(
        HEADER_CORRELATION.into(),
        AMQPValue::LongString(first.correlation_id.as_str().into()),
    );
    headers.insert(
        HEADER_AUDIT_EVENTS.into(),
        AMQPValue::LongLongInt(kept.len() as i64),
    );
    let id = first.id.to_string();
    let publish = amqp.publish_bytes("", queue, &body, headers, &id);
    match tokio::time::timeout(PUBLISH_TIMEOUT, publish).await {
        Ok(Ok(())) => Vec::new(),
        Ok(Err(error)) => {
            tracing::debug!(%error, "Audit publish failed");
            kept
        }
        Err(_) => kept,
    }
}

/// The map's lock; a panic while holding it cannot leave it inconsistent (single inserts and
/// removes), so a poisoned lock is used as it is.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `<binary>@<host>`, e.g. `xhuma-gateway@node-1`.
fn default_source() -> String {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "xhuma".into());
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{binary}@{host}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap (STYLE: fine in tests)
mod tests {
    use super::*;
    use crate::audit::{AuditKind, AuditOutcome};

    #[tokio::test]
    async fn memory_sink_stamps_source_and_waits_for_room() {
        let (sink, mut rx) = AuditSink::memory(1);
        let sink = sink.with_source("gateway@test");
        sink.emit(AuditEvent::new(
            AuditKind::Iti55,
            AuditOutcome::Success,
            "a",
        ));
        sink.emit(AuditEvent::new(
            AuditKind::Iti55,
            AuditOutcome::Success,
            "b",
        ));
        let first = rx.recv().await.unwrap();
        assert_eq!(first.source, "gateway@test");
        assert_eq!(first.correlation_id, "a");
        // The second waited for room (the receive above made some) and got through.
        let second = rx.recv().await.unwrap();
        assert_eq!(second.correlation_id, "b");
        sink.flush(Duration::from_millis(10)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn full_channel_drops_after_a_short_wait() {
        let (sink, mut rx) = AuditSink::memory(1);
        sink.emit(AuditEvent::new(
            AuditKind::Iti38,
            AuditOutcome::Success,
            "kept",
        ));
        sink.emit(AuditEvent::new(
            AuditKind::Iti38,
            AuditOutcome::Success,
            "lost",
        ));
        // Nobody receives for longer than the wait: the second event is dropped.
        tokio::time::sleep(EMIT_WAIT * 3).await;
        assert_eq!(rx.try_recv().unwrap().correlation_id, "kept");
        assert!(rx.try_recv().is_err());
        // Room again: the next event gets through.
        sink.emit(AuditEvent::new(
            AuditKind::Iti38,
            AuditOutcome::Success,
            "next",
        ));
        assert_eq!(rx.recv().await.unwrap().correlation_id, "next");
    }

    #[test]
    fn a_dropped_event_is_counted() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let (sink, _rx) = AuditSink::memory(1);
        metrics::with_local_recorder(&recorder, || {
            sink.emit(AuditEvent::new(
                AuditKind::Iti55,
                AuditOutcome::Success,
                "a",
            ));
            // Full, and no runtime to wait on: dropped at once.
            sink.emit(AuditEvent::new(
                AuditKind::Iti55,
                AuditOutcome::Success,
                "b",
            ));
        });
        let text = handle.render();
        assert!(
            text.contains(r#"xhuma_audit_events_total{outcome="dropped"} 1"#),
            "{text}"
        );
    }

    #[tokio::test]
    async fn confirmed_emit_on_a_memory_sink_and_a_full_one() {
        let (sink, mut rx) = AuditSink::memory(1);
        let event = || AuditEvent::new(AuditKind::Iti39, AuditOutcome::Success, "c");
        assert!(sink.emit_confirmed(event(), Duration::from_secs(1)).await);
        // Full (nobody receives): not confirmed.
        assert!(
            !sink
                .emit_confirmed(event(), Duration::from_millis(10))
                .await
        );
        assert!(rx.recv().await.is_some());
        assert!(
            AuditSink::disabled()
                .emit_confirmed(event(), Duration::ZERO)
                .await
        );
    }

    #[tokio::test]
    async fn disabled_sink_is_a_no_op() {
        let sink = AuditSink::disabled();
        assert!(!sink.is_enabled());
        sink.emit(AuditEvent::new(AuditKind::Iti39, AuditOutcome::Failed, "x"));
        sink.flush(Duration::from_millis(10)).await;
    }
}
