//! Completion signals: how a gateway waits for a prefetch job without polling.
//!
//! Workers `PUBLISH` the patient key on the `P:done` channel after writing a document or a
//! failure. Each gateway process holds **one** Redis subscription to that channel and fans the
//! messages out in-process to the requests waiting on that patient (a `watch` channel per
//! patient key). A waiter registers *before* it checks the cache and re-checks after every
//! signal (check, subscribe, re-check), so a completion between its check and its wait is never
//! missed. When the subscription drops and reconnects, every waiter is woken to re-check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Above this many entries, entries nobody waits on are pruned on insert.
const PRUNE_AT: usize = 4096;

/// The in-process side of the completion channel.
#[derive(Clone, Default)]
pub struct Completions {
    waiters: Arc<Mutex<HashMap<String, watch::Sender<u64>>>>,
}

// === impl Completions ===

impl Completions {
    /// Starts listening on `channel` at `redis_url`; reconnects with a bounded backoff until
    /// `shutdown` is cancelled.
    pub fn spawn(redis_url: String, channel: String, shutdown: CancellationToken) -> Self {
        let this = Self::default();
        let task = this.clone();
        tokio::spawn(async move { task.run(redis_url, channel, shutdown).await });
        this
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

    async fn run(self, redis_url: String, channel: String, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let session = async {
                let client = redis::Client::open(redis_url.as_str())?;
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe(&channel).await?;
                Ok::<_, redis::RedisError>(pubsub)
            };
            let pubsub = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = session => r,
            };
            match pubsub {
                Ok(pubsub) => {
                    backoff = Duration::from_millis(100);
                    // Anything published while we were not subscribed is unknown: re-check all.
                    self.notify_all();
                    let mut messages = pubsub.into_on_message();
                    loop {
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            msg = messages.next() => match msg {
                                Some(msg) => {
                                    if let Ok(key) = msg.get_payload::<String>() {
                                        self.notify(&key);
                                    }
                                }
                                None => break,
                            },
                        }
                    }
                    tracing::warn!("Completion subscription lost; reconnecting");
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
}
