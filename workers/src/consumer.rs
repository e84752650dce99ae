//! The delivery loop of one stage.
//!
//! `P.<stage>` → `basic_qos(prefetch)` bounds the jobs in flight → each delivery runs in its own
//! task → the handler's result becomes an ack, a delayed retry (republished to a retry tier,
//! then acked) or a failure (told to waiters through the cache, dead-lettered with its reason,
//! then acked). A message is acked only after its result is safely in Redis or RabbitMQ; if the
//! worker dies first, the broker redelivers it to another worker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use xhuma_common::job::{FailureKind, JOB_VERSION, JobFailure, PrefetchJob};
use xhuma_common::queue::{
    HEADER_ATTEMPT, HEADER_CORRELATION, HEADER_REASON, HEADER_STAGE, HEADER_TRACEPARENT,
    RETRY_TIERS_MS, Stage, header_int, header_str, job_headers,
};

use crate::Worker;
use crate::error::{Disposition, JobError};
use crate::jobs::{self, Outcome};

/// Consumes one stage until `shutdown`, reconnecting with a bounded backoff on broker errors.
pub async fn consume(worker: Arc<Worker>, stage: Stage, shutdown: CancellationToken) {
    let mut backoff = Duration::from_millis(200);
    while !shutdown.is_cancelled() {
        match consume_once(&worker, stage, &shutdown).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(stage = stage.as_str(), %error, "Consumer stopped; reconnecting");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Why a consumer stopped (it reconnects).
#[derive(Debug, thiserror::Error)]
enum ConsumeError {
    #[error(transparent)]
    Queue(#[from] xhuma_common::queue::QueueError),
    #[error("AMQP error")]
    Amqp(#[from] lapin::Error),
    #[error("the broker closed the consumer")]
    Closed,
}

async fn consume_once(
    worker: &Arc<Worker>,
    stage: Stage,
    shutdown: &CancellationToken,
) -> Result<(), ConsumeError> {
    let channel = worker.amqp.channel().await?;
    channel
        .basic_qos(worker.config.prefetch, BasicQosOptions::default())
        .await?;
    let tag = format!("xhuma-worker-{}-{}", stage.as_str(), uuid::Uuid::new_v4());
    let mut consumer = channel
        .basic_consume(
            worker.amqp.names().stage(stage).into(),
            tag.clone().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    tracing::info!(
        stage = stage.as_str(),
        prefetch = worker.config.prefetch,
        "Consuming"
    );
    let tracker = TaskTracker::new();
    let result = loop {
        tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            next = consumer.next() => match next {
                Some(Ok(delivery)) => {
                    let worker = worker.clone();
                    tracker.spawn(async move { handle_delivery(&worker, stage, delivery).await });
                }
                Some(Err(error)) => break Err(ConsumeError::Amqp(error)),
                None => break Err(ConsumeError::Closed),
            },
        }
    };
    // Stop new deliveries, then give in-flight jobs the grace period. Whatever is still
    // unacked when the channel closes goes back to the queue for another worker.
    let _ = channel
        .basic_cancel(tag.into(), BasicCancelOptions::default())
        .await;
    tracker.close();
    if tokio::time::timeout(worker.config.grace, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            stage = stage.as_str(),
            "Grace period over; unfinished jobs will be redelivered"
        );
    }
    let _ = channel.close(200, "shutdown".into()).await;
    result
}

/// Runs one delivery to its end: ack, retry or fail.
async fn handle_delivery(worker: &Worker, stage: Stage, delivery: Delivery) {
    let headers = delivery.properties.headers().as_ref();
    let attempt = header_int(headers, HEADER_ATTEMPT).unwrap_or(0).max(0) as u32;
    let correlation = header_str(headers, HEADER_CORRELATION).unwrap_or_default();
    let decoded = decode(&delivery.data);
    let job_id = decoded
        .as_ref()
        .map(|j| j.job_id.to_string())
        .unwrap_or_default();
    let span = tracing::info_span!("job", job.id = %job_id, job.kind = stage.as_str(),
        job.attempt = attempt, correlation_id = %correlation, patient.key = tracing::field::Empty);
    if let Some(tp) = header_str(headers, HEADER_TRACEPARENT) {
        xhuma_common::telemetry::adopt_traceparent(&span, &tp);
    }
    async move {
        let started = Instant::now();
        let result = match decoded {
            Ok(job) => {
                tracing::Span::current()
                    .record("patient.key", worker.cache.patient_key(job.nhs_number));
                run(worker, stage, job).await
            }
            Err(error) => Err(error),
        };
        let stage_label = stage.as_str();
        metrics::histogram!("xhuma_job_duration_seconds", "stage" => stage_label)
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok(outcome) => {
                metrics::counter!("xhuma_jobs_total", "stage" => stage_label, "outcome" => outcome.as_str())
                    .increment(1);
                tracing::info!(outcome = outcome.as_str(), "Job done");
                ack(&delivery).await;
            }
            Err(error) => on_error(worker, stage, &delivery, attempt, error).await,
        }
    }
    .instrument(span)
    .await
}

fn decode(data: &[u8]) -> Result<PrefetchJob, JobError> {
    let job: PrefetchJob = serde_json::from_slice(data).map_err(JobError::Decode)?;
    if job.v != JOB_VERSION {
        return Err(JobError::Version(job.v));
    }
    Ok(job)
}

async fn run(worker: &Worker, stage: Stage, job: PrefetchJob) -> Result<Outcome, JobError> {
    // Single-flight, second line: a redelivered or duplicate job whose patient already has a
    // document at least as new as the request does no upstream work.
    if let Some(meta) = worker.cache.document_for(job.nhs_number).await?
        && meta.created >= job.requested_at
    {
        return Ok(Outcome::AlreadyFresh);
    }
    match stage {
        Stage::Sds => jobs::sds::handle(worker, job).await,
        Stage::GpConnect => jobs::gpconnect::handle(worker, job).await,
    }
}

async fn on_error(
    worker: &Worker,
    stage: Stage,
    delivery: &Delivery,
    attempt: u32,
    error: JobError,
) {
    let stage_label = stage.as_str();
    let error_type = error.error_type();
    let disposition = match error.disposition() {
        Disposition::Retry { .. } if attempt + 1 >= worker.config.max_attempts => {
            Disposition::Fail(JobFailure {
                kind: FailureKind::UpstreamUnavailable,
                reason: "An NHS service kept failing; giving up after retries".into(),
            })
        }
        d => d,
    };
    match disposition {
        Disposition::Retry { after } => {
            let tier = pick_tier(attempt + 1, after);
            tracing::warn!(error_type, error = %error, retry_in_ms = tier, "Job failed; will retry");
            let queue = worker.amqp.names().retry(stage, tier);
            let mut headers = delivery.properties.headers().clone().unwrap_or_default();
            headers.insert(
                HEADER_ATTEMPT.into(),
                AMQPValue::LongLongInt(i64::from(attempt + 1)),
            );
            let message_id = delivery
                .properties
                .message_id()
                .as_ref()
                .map(|m| m.as_str().to_string())
                .unwrap_or_default();
            match worker
                .amqp
                .publish_bytes("", &queue, &delivery.data, headers, &message_id)
                .await
            {
                Ok(()) => {
                    metrics::counter!("xhuma_jobs_total", "stage" => stage_label, "outcome" => "retried")
                        .increment(1);
                    ack(delivery).await;
                }
                Err(publish_error) => {
                    tracing::warn!(error = %publish_error, "Cannot schedule retry; requeueing");
                    nack_requeue(delivery).await;
                }
            }
        }
        Disposition::Fail(failure) => {
            tracing::warn!(error_type, error = %error, kind = failure.kind.as_str(), "Job failed for good");
            // Tell waiters first: a gateway blocked on this patient answers with the failure
            // instead of waiting out its deadline.
            if let Ok(job) = decode(&delivery.data)
                && let Err(cache_error) = worker
                    .cache
                    .store_failure(job.nhs_number, &failure, worker.config.failure_ttl)
                    .await
            {
                tracing::warn!(error = %cache_error, "Cannot record the failure; requeueing");
                nack_requeue(delivery).await;
                return;
            }
            let mut headers = job_headers(
                &header_str(delivery.properties.headers().as_ref(), HEADER_CORRELATION)
                    .unwrap_or_default(),
                attempt,
                None,
            );
            headers.insert(
                HEADER_REASON.into(),
                AMQPValue::LongString(format!("{}: {}", error_type, failure.reason).into()),
            );
            headers.insert(
                HEADER_STAGE.into(),
                AMQPValue::LongString(stage_label.into()),
            );
            let dead = worker.amqp.names().dead();
            match worker
                .amqp
                .publish_bytes("", &dead, &delivery.data, headers, "")
                .await
            {
                Ok(()) => {
                    metrics::counter!("xhuma_jobs_total", "stage" => stage_label, "outcome" => "dead_lettered")
                        .increment(1);
                    ack(delivery).await;
                }
                Err(publish_error) => {
                    tracing::warn!(error = %publish_error, "Cannot dead-letter; requeueing");
                    nack_requeue(delivery).await;
                }
            }
        }
    }
}

/// The retry tier for this attempt, or the first tier that honours a `Retry-After`.
fn pick_tier(attempt: u32, after: Option<Duration>) -> u64 {
    let by_attempt = xhuma_common::queue::retry_delay(attempt).as_millis() as u64;
    match after {
        Some(after) => {
            let want = after.as_millis() as u64;
            RETRY_TIERS_MS
                .iter()
                .copied()
                .find(|t| *t >= want)
                .unwrap_or(RETRY_TIERS_MS[RETRY_TIERS_MS.len() - 1])
                .max(by_attempt)
        }
        None => by_attempt,
    }
}

async fn ack(delivery: &Delivery) {
    if let Err(error) = delivery.ack(BasicAckOptions::default()).await {
        // The message will be redelivered; the handler is idempotent (single-flight check).
        tracing::warn!(%error, "Ack failed");
    }
}

async fn nack_requeue(delivery: &Delivery) {
    let _ = delivery
        .nack(BasicNackOptions {
            requeue: true,
            ..Default::default()
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_honour_retry_after() {
        assert_eq!(pick_tier(1, None), 1_000);
        assert_eq!(pick_tier(2, None), 5_000);
        assert_eq!(pick_tier(1, Some(Duration::from_secs(3))), 5_000);
        assert_eq!(pick_tier(1, Some(Duration::from_secs(300))), 30_000);
    }
}
