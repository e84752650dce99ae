//! Completion signals: how a gateway waits for a prefetch job without polling.
//!
//! Workers `PUBLISH` the patient key on the `P:done` channel after writing a document or a
//! failure. Each gateway process holds **one** Redis subscription to that channel and fans the
//! messages out in-process to the requests waiting on that patient (a `watch` channel per
//! patient key). A waiter registers *before* it checks the cache and re-checks after every
//! signal (check, subscribe, re-check), so a completion between its check and its wait is never
//! missed. When the subscription drops and reconnects, every waiter is woken to re-check.
//! Every (re)connect asks the [`Target`] where the primary is, so after a Sentinel failover
//! the subscription moves to the promoted node (the old one's connection breaks when it dies,
//! or is killed by the sentinels when they demote it).
//!
//! A subscription can also die silently (a half-open TCP connection, a stalled proxy): it is
//! PINGed every [`KEEPALIVE`] and torn down when a PING is not answered within
//! [`PING_TIMEOUT`]. Whether it is up is exported as the `xhuma_completion_subscribed` gauge and
//! in the gateway's readiness; waiters also re-check the cache every [`RECHECK`] on their own, so
//! even a signal lost while nobody noticed costs seconds, not a whole wait.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::Target;

/// Above this many entries, entries nobody waits on are pruned on insert.
const PRUNE_AT: usize = 4096;
/// How often the subscription is PINGed to prove it still delivers.
pub const KEEPALIVE: Duration = Duration::from_secs(5);
/// A PING (or the connect and SUBSCRIBE) not answered within this means the subscription is
/// dead.
pub const PING_TIMEOUT: Duration = Duration::from_secs(3);
/// Waiters re-check the cache this often even without a signal: the backstop for a signal
/// lost in the seconds before a dead subscription is noticed.
pub const RECHECK: Duration = Duration::from_secs(5);

/// The in-process side of the completion channel.
#[derive(Clone, Default)]
pub struct Completions {
    waiters: Arc<Mutex<HashMap<String, watch::Sender<u64>>>>,
    subscribed: Arc<AtomicBool>,
}

// === impl Completions ===

impl Completions {
    /// Starts listening on `channel` at the primary of `target`; reconnects (resolving the
    /// primary again) with a bounded backoff until `shutdown` is cancelled.
    pub fn spawn(target: Target, channel: String, shutdown: CancellationToken) -> Self {
        let this = Self::default();
        let task = this.clone();
        tokio::spawn(async move { task.run(target, channel, shutdown).await });
        this
    }

    /// Whether the Redis subscription is up and answered its last PING (readiness).
    pub fn is_subscribed(&self) -> bool {
        self.subscribed.load(Ordering::Relaxed)
    }

    fn set_subscribed(&self, up: bool) {
        self.subscribed.store(up, Ordering::Relaxed);
        metrics::gauge!("xhuma_completion_subscribed").set(if up { 1.0 } else { 0.0 });
    }

    /// A receiver that changes whenever `patient_key` completes (or the subscription was
    /// re-established and everyone must re-check).
    pub fn watch(&self, patient_key: &str) -> watch::Receiver<u64> {
        let mut map = self.lock();
        if map.len() >= PRUNE_AT {
            map.retain(|_, tx| tx.receiver_count() > 0);
        }
        map.entry(patient_key.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Wakes the waiters of one patient (also used in-process when this process wrote the
    /// result itself).
    pub fn notify(&self, patient_key: &str) {
        let mut map = self.lock();
        if let Some(tx) = map.get(patient_key) {
            tx.send_modify(|n| *n += 1);
            if tx.receiver_count() == 0 {
                map.remove(patient_key);
            }
        }
    }

    fn notify_all(&self) {
        let mut map = self.lock();
        map.retain(|_, tx| tx.receiver_count() > 0);
        for tx in map.values() {
            tx.send_modify(|n| *n += 1);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<u64>>> {
        // A poisoned map only means a panic elsewhere mid-insert; the data is still usable.
        self.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn run(self, target: Target, channel: String, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        self.set_subscribed(false);
        loop {
            let session = async {
                let client = target.client().await?;
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe(&channel).await?;
                Ok::<_, redis::RedisError>(pubsub)
            };
            // A black-holed Redis (or sentinel) never answers the connect: bounded like every
            // PING.
            let session = async {
                tokio::time::timeout(PING_TIMEOUT, session)
                    .await
                    .map_err(|_| "subscribing timed out".to_string())?
                    .map_err(|e| e.to_string())
            };
            let pubsub = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = session => r,
            };
            match pubsub {
                Ok(pubsub) => {
                    backoff = Duration::from_millis(100);
                    self.set_subscribed(true);
                    // Anything published while we were not subscribed is unknown: re-check all.
                    self.notify_all();
                    let why = self.listen(pubsub, &shutdown).await;
                    self.set_subscribed(false);
                    let Some(why) = why else { return };
                    metrics::counter!("xhuma_completion_reconnects_total").increment(1);
                    tracing::warn!(reason = why, "Completion subscription lost; reconnecting");
                    // Waiters re-check now rather than at their next interval.
                    self.notify_all();
                }
                Err(error) => {
                    tracing::warn!(%error, "Cannot subscribe to completions; retrying");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// Delivers messages until the subscription ends or stops answering PINGs (returns why),
    /// or `shutdown` (returns `None`).
    async fn listen(
        &self,
        pubsub: redis::aio::PubSub,
        shutdown: &CancellationToken,
    ) -> Option<&'static str> {
        let (mut sink, mut messages) = pubsub.split();
        let mut keepalive = tokio::time::interval(KEEPALIVE);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        keepalive.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return None,
                msg = messages.next() => match msg {
                    Some(msg) => {
                        if let Ok(key) = msg.get_payload::<String>() {
                            self.notify(&key);
                        }
                    }
                    None => return Some("closed"),
                },
                _ = keepalive.tick() => {
                    let ping = tokio::time::timeout(PING_TIMEOUT, sink.ping::<redis::Value>());
                    match ping.await {
                        Ok(Ok(_)) => {}
                        Ok(Err(_)) => return Some("ping failed"),
                        Err(_) => return Some("ping not answered"),
                    }
                }
            }
        }
    }
}
