//! One delivery, start to end: decode, the poison check on classic queues, the job under its
//! renewed lease, then the decision: ack, a delayed retry through a retry tier, or a failure
//! told to waiters and dead-lettered with its reason; a deferral when the result cannot be
//! recorded. Acked only once the result is safely in Redis or RabbitMQ.

use std::time::{Duration, Instant};

use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::types::{AMQPValue, FieldTable};
use tracing::Instrument;
use xhuma_common::cache::Renewal;
use xhuma_common::chain::Chain;
use xhuma_common::config::QueueType;
use xhuma_common::job::{FailureKind, JOB_VERSION, JobFailure, PrefetchJob};
use xhuma_common::queue::{
    DELIVERY_LIMIT, HEADER_ATTEMPT, HEADER_CORRELATION, HEADER_TRACEPARENT, RETRY_TIERS_MS, Stage,
    dead_letter_headers, header_int, header_str,
};

use crate::Worker;
use crate::error::{Disposition, JobError};
use crate::jobs::{self, Outcome};

/// Header counting how often a job was deferred because its result could not be recorded.
const HEADER_DEFERRALS: &str = "x-xhuma-deferrals";
/// Deferrals (each through the longest retry tier, 30 s) before a job is dead-lettered.
const MAX_DEFERRALS: u32 = 20;
/// Pause before a message is given back to the broker when no delay tier is reachable.
const REQUEUE_PAUSE: Duration = Duration::from_secs(2);

/// Runs one delivery to its end: ack, retry or fail.
pub(super) async fn handle_delivery(worker: &Worker, stage: Stage, delivery: Delivery) {
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
        if delivery.redelivered && poisoned(worker, &delivery, &job_id).await {
            match dead_letter(worker, stage, &delivery, attempt, "poison: redelivered too often").await {
                Ok(()) => ack(&delivery).await,
                Err(_) => requeue_later(&delivery).await,
            }
            return;
        }
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

/// Classic queues have no delivery limit: a message that kills its worker every time would
/// come back forever. Redeliveries are counted in Redis per message against the quorum
/// queues' limit; a Redis failure counts as "not poisoned" (the job then fails normally).
async fn poisoned(worker: &Worker, delivery: &Delivery, job_id: &str) -> bool {
    if worker.config.amqp.queue_type != QueueType::Classic {
        return false;
    }
    let id = match delivery.properties.message_id() {
        Some(m) if !m.as_str().is_empty() => m.as_str().to_string(),
        _ if !job_id.is_empty() => job_id.to_string(),
        // Undecodable and anonymous: it is dead-lettered on its first run anyway.
        _ => return false,
    };
    match worker.cache.count_delivery(&id).await {
        Ok(n) => n > DELIVERY_LIMIT as u64,
        Err(_) => false,
    }
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
    let (nhs, job_id, ttl) = (job.nhs_number, job.job_id, worker.config.lease_ttl);
    // The lease is ours (renewed now: the job may have waited in the queue), nobody's (the
    // job runs anyway; fencing keeps a late result from overwriting a newer one), or another
    // job's: that job's result is what waiters get.
    if worker.cache.renew_lease(nhs, job_id, ttl).await? == Renewal::Lost {
        return Ok(Outcome::Yielded);
    }
    let work = async move {
        match stage {
            Stage::Sds => jobs::sds::handle(worker, job).await,
            Stage::GpConnect => jobs::gpconnect::handle(worker, job).await,
        }
    };
    tokio::pin!(work);
    // Renewed three times per TTL while the job runs, so a slow GP Connect (up to its timeout
    // times its attempts) never lets a second job start for the same patient.
    let every = (ttl / 3).max(Duration::from_millis(50));
    let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            result = &mut work => return result,
            _ = renew.tick() => match worker.cache.renew_lease(nhs, job_id, ttl).await {
                Ok(Renewal::Renewed) => {}
                Ok(lost) => {
                    metrics::counter!("xhuma_lease_lost_total").increment(1);
                    tracing::warn!(?lost, "The job's lease was lost while it ran; its result is fenced");
                }
                Err(error) => tracing::warn!(%error, "Cannot renew the job's lease"),
            },
        }
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
    let job = decode(&delivery.data).ok();
    match disposition {
        Disposition::Retry { after } => {
            let tier = pick_tier(attempt + 1, after);
            tracing::warn!(error_type, error = %Chain(&error), retry_in_ms = tier, "Job failed; will retry");
            // The lease must outlive the wait in the retry tier as well as the next attempt.
            if let Some(job) = &job {
                let hold = Duration::from_millis(tier) + worker.config.lease_ttl;
                if let Err(error) = worker
                    .cache
                    .renew_lease(job.nhs_number, job.job_id, hold)
                    .await
                {
                    tracing::warn!(%error, "Cannot extend the lease over the retry delay");
                }
            }
            let mut headers = delivery.properties.headers().clone().unwrap_or_default();
            headers.insert(
                HEADER_ATTEMPT.into(),
                AMQPValue::LongLongInt(i64::from(attempt + 1)),
            );
            match publish_retry(worker, stage, delivery, tier, headers).await {
                Ok(()) => {
                    metrics::counter!("xhuma_jobs_total", "stage" => stage_label, "outcome" => "retried")
                        .increment(1);
                    ack(delivery).await;
                }
                Err(publish_error) => {
                    tracing::warn!(error = %publish_error, "Cannot schedule retry");
                    requeue_later(delivery).await;
                }
            }
        }
        Disposition::Fail(failure) => {
            tracing::warn!(error_type, error = %Chain(&error), kind = failure.kind.as_str(), "Job failed for good");
            // Tell waiters first: a gateway blocked on this patient answers with the failure
            // instead of waiting out its deadline.
            if let Some(job) = &job
                && let Err(cache_error) = worker
                    .cache
                    .store_failure(
                        job.nhs_number,
                        &failure,
                        worker.config.failure_ttl,
                        job.owner(),
                    )
                    .await
            {
                tracing::warn!(error = %cache_error, "Cannot record the failure");
                defer(
                    worker,
                    stage,
                    delivery,
                    attempt,
                    "cannot record the job's failure",
                )
                .await;
                return;
            }
            let reason = format!("{}: {}", error_type, failure.reason);
            match dead_letter(worker, stage, delivery, attempt, &reason).await {
                Ok(()) => {
                    metrics::counter!("xhuma_jobs_total", "stage" => stage_label, "outcome" => "dead_lettered")
                        .increment(1);
                    ack(delivery).await;
                }
                Err(publish_error) => {
                    tracing::warn!(error = %publish_error, "Cannot dead-letter");
                    requeue_later(delivery).await;
                }
            }
        }
    }
}

/// Republishes the message to the retry tier of `delay_ms`.
async fn publish_retry(
    worker: &Worker,
    stage: Stage,
    delivery: &Delivery,
    delay_ms: u64,
    headers: FieldTable,
) -> Result<(), xhuma_common::queue::QueueError> {
    let queue = worker.amqp.names().retry(stage, delay_ms);
    let message_id = delivery
        .properties
        .message_id()
        .as_ref()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    worker
        .amqp
        .publish_bytes("", &queue, &delivery.data, headers, &message_id)
        .await
}

/// Puts the message on `P.dead` with its reason and stage.
async fn dead_letter(
    worker: &Worker,
    stage: Stage,
    delivery: &Delivery,
    attempt: u32,
    reason: &str,
) -> Result<(), xhuma_common::queue::QueueError> {
    let headers = dead_letter_headers(
        delivery.properties.headers().as_ref(),
        Some(attempt),
        stage.as_str(),
        reason,
    );
    let dead = worker.amqp.names().dead();
    worker
        .amqp
        .publish_bytes("", &dead, &delivery.data, headers, "")
        .await
}

/// The result could not be recorded (Redis trouble): the job goes round again through the
/// longest retry tier, never straight back to the stage (a hot loop against a broken
/// dependency), and after [`MAX_DEFERRALS`] rounds to the dead-letter queue with its reason.
async fn defer(worker: &Worker, stage: Stage, delivery: &Delivery, attempt: u32, why: &str) {
    let headers_in = delivery.properties.headers().as_ref();
    let deferrals = header_int(headers_in, HEADER_DEFERRALS).unwrap_or(0).max(0) as u32 + 1;
    let stage_label = stage.as_str();
    let result = if deferrals > MAX_DEFERRALS {
        let reason = format!("deferred: {why} ({MAX_DEFERRALS} times)");
        dead_letter(worker, stage, delivery, attempt, &reason)
            .await
            .map(|()| "dead_lettered")
    } else {
        let mut headers = headers_in.cloned().unwrap_or_default();
        headers.insert(
            HEADER_DEFERRALS.into(),
            AMQPValue::LongLongInt(i64::from(deferrals)),
        );
        let tier = RETRY_TIERS_MS[RETRY_TIERS_MS.len() - 1];
        publish_retry(worker, stage, delivery, tier, headers)
            .await
            .map(|()| "deferred")
    };
    match result {
        Ok(outcome) => {
            metrics::counter!("xhuma_jobs_total", "stage" => stage_label, "outcome" => outcome)
                .increment(1);
            ack(delivery).await;
        }
        Err(error) => {
            tracing::warn!(%error, "Cannot defer the job either");
            requeue_later(delivery).await;
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

/// Gives the message back to the broker after a pause: only for when RabbitMQ itself refused
/// a publish (so no delay tier is reachable). The pause holds a prefetch slot, which throttles
/// the consumer instead of spinning on a broken broker.
async fn requeue_later(delivery: &Delivery) {
    tokio::time::sleep(REQUEUE_PAUSE).await;
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
