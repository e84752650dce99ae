//! Prefetch jobs onto RabbitMQ, off the request path.
//!
//! `ensure_prefetch` takes the patient's lease in Redis, then hands the job to [`Publisher`]:
//! the publish (connect, topology, confirm) runs in its own task, so a slow or black-holed
//! broker never holds up ITI-55/47 answers. At most `XHUMA_PREFETCH_IN_FLIGHT` publishes wait
//! on the broker at once; beyond that, and whenever a publish fails, the job's lease is released
//! (compare-and-delete, announced on the completion channel) so the next request for that
//! patient can try again. An ITI-38 that started the job itself awaits the outcome, bounded by
//! its own deadline.

use std::sync::Arc;

use tokio::sync::{Semaphore, oneshot};
use xhuma_common::cache::Cache;
use xhuma_common::job::PrefetchJob;
use xhuma_common::queue::{Amqp, QueueError, Stage, job_headers};

pub const XHUMA_PREFETCH_IN_FLIGHT: &str = "XHUMA_PREFETCH_IN_FLIGHT";
pub const DEFAULT_PREFETCH_IN_FLIGHT: usize = 256;

/// The outcome of one background publish.
pub(super) type Published = oneshot::Receiver<Result<(), QueueError>>;

/// Why a job was not handed to the broker.
#[derive(Debug, thiserror::Error)]
pub(super) enum Shed {
    #[error("too many prefetch jobs are waiting on RabbitMQ")]
    Full,
}

#[derive(Clone)]
pub(super) struct Publisher {
    amqp: Amqp,
    cache: Cache,
    slots: Arc<Semaphore>,
}

// === impl Publisher ===

impl Publisher {
    pub(super) fn new(amqp: Amqp, cache: Cache, in_flight: usize) -> Self {
        Self {
            amqp,
            cache,
            slots: Arc::new(Semaphore::new(in_flight.max(1))),
        }
    }

    /// Publishes `job` (whose lease is held) in the background. Fails at once, with the lease
    /// released, when every slot is taken.
    pub(super) async fn submit(&self, job: PrefetchJob) -> Result<Published, Shed> {
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            metrics::counter!("xhuma_prefetch_total", "outcome" => "shed").increment(1);
            self.release(&job).await;
            return Err(Shed::Full);
        };
        let (tx, rx) = oneshot::channel();
        let this = self.clone();
        let traceparent = xhuma_common::telemetry::traceparent();
        tokio::spawn(async move {
            let _slot = slot;
            let headers = job_headers(&job.correlation_id, 0, traceparent.as_deref());
            let result = this
                .amqp
                .publish_to_stage(Stage::Sds, &job, headers, &job.job_id.to_string())
                .await;
            match &result {
                Ok(()) => {
                    metrics::counter!("xhuma_prefetch_total", "outcome" => "enqueued").increment(1);
                    tracing::info!(job.id = %job.job_id, "Prefetch enqueued");
                }
                Err(error) => {
                    metrics::counter!("xhuma_prefetch_total", "outcome" => "error").increment(1);
                    tracing::warn!(job.id = %job.job_id, %error, "Cannot enqueue the prefetch");
                    // Without the job nobody would release the lease before its TTL.
                    this.release(&job).await;
                }
            }
            let _ = tx.send(result);
        });
        Ok(rx)
    }

    async fn release(&self, job: &PrefetchJob) {
        if let Err(error) = self.cache.release_lease(job.nhs_number, job.job_id).await {
            tracing::warn!(%error, "Cannot release the lease of an unpublished job");
        }
    }
}
