//! The worker's small HTTP port: `/health/live`, `/health/ready`, `/metrics`.
//!
//! Ready means RabbitMQ and Redis answer now and every stage's consumer is consuming; an
//! orchestrator stops routing (and a KEDA scaler keeps counting queue depth) while they do not.

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use xhuma_common::telemetry::Metrics;

use crate::Worker;
use crate::consumer::ConsumerState;

/// The ops router.
pub fn router(worker: Arc<Worker>, metrics: Metrics) -> Router {
    init_series(&worker.config.stages);
    xhuma_common::process::ops_router(metrics, move || ready(worker.clone()))
}

/// 200 when RabbitMQ and Redis answer and every stage's consumer is consuming, else 503;
/// the body says which: `{"rabbitmq":"up","redis":"up","consumers":{"sds":"consuming",
/// "gpconnect":"reconnecting"}}`.
async fn ready(worker: Arc<Worker>) -> (StatusCode, String) {
    let amqp = worker.amqp.ping().await.is_ok();
    let redis = worker.cache.ping().await.is_ok();
    // Read after the pings: a consumer that fails while they run is not reported as consuming.
    let consumers = worker.consumers.snapshot();
    let consuming = consumers
        .iter()
        .all(|(_, state)| *state == ConsumerState::Consuming);
    let up = |ok: bool| if ok { "up" } else { "down" };
    let body = serde_json::json!({
        "rabbitmq": up(amqp),
        "redis": up(redis),
        "consumers": consumers
            .iter()
            .map(|(stage, state)| (stage.as_str().to_string(), state.as_str().into()))
            .collect::<serde_json::Map<String, serde_json::Value>>(),
    });
    let status = if amqp && redis && consuming {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, body.to_string())
}

/// Every series the dashboards and alerts (`deploy/`) read exists from the first scrape, at
/// zero (an alert on `xhuma_jobs_total{outcome="dead_lettered"}` must see the first one).
fn init_series(stages: &[xhuma_common::queue::Stage]) {
    use metrics::counter;
    xhuma_common::telemetry::build_info("xhuma-worker", env!("CARGO_PKG_VERSION"));
    for stage in stages {
        for outcome in [
            "cached",
            "forwarded",
            "already_fresh",
            "yielded",
            "superseded",
            "retried",
            "dead_lettered",
        ] {
            counter!("xhuma_jobs_total", "stage" => stage.as_str(), "outcome" => outcome)
                .increment(0);
        }
    }
    for outcome in ["hit", "miss"] {
        counter!("xhuma_sds_cache_total", "outcome" => outcome).increment(0);
    }
    for outcome in ["published", "dropped"] {
        counter!("xhuma_audit_events_total", "outcome" => outcome).increment(0);
    }
    counter!("xhuma_wrong_patient_total", "stage" => "gpconnect").increment(0);
    for field in crate::jobs::crosscheck::Mismatch::ALL {
        counter!("xhuma_demographic_mismatch_total", "field" => field.as_str()).increment(0);
    }
    counter!("xhuma_lease_lost_total").increment(0);
    for upstream in ["oauth", "pds", "sds", "gpconnect"] {
        counter!("xhuma_upstream_errors_total", "upstream" => upstream).increment(0);
    }
}

/// How often queue depths are sampled for `xhuma_queue_depth`.
const QUEUE_DEPTH_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Samples the depth of every Xhuma queue (stages, retry tiers, dead letters, audit) into the
/// `xhuma_queue_depth{queue}` gauge until `shutdown`, with passive declares on one channel. The
/// label is the queue's role (`sds`, `gpconnect`, `dead`, `audit`, `retry`), not its full name.
pub async fn sample_queue_depths(
    worker: Arc<Worker>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    use lapin::options::QueueDeclareOptions;
    use lapin::types::FieldTable;
    use xhuma_common::queue::{RETRY_TIERS_MS, Stage};

    let names = worker.amqp.names().clone();
    let mut queues: Vec<(&'static str, String)> =
        vec![("dead", names.dead()), ("audit", names.audit())];
    for stage in Stage::ALL {
        queues.push((stage.as_str(), names.stage(stage)));
        for t in RETRY_TIERS_MS {
            queues.push(("retry", names.retry(stage, t)));
        }
    }
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let mut channel = None;
    loop {
        if channel.is_none() {
            channel = worker.amqp.channel().await.ok();
        }
        if let Some(ch) = &channel {
            let mut totals: std::collections::BTreeMap<&str, u32> = Default::default();
            let mut failed = false;
            for (role, queue) in &queues {
                match ch
                    .queue_declare(queue.as_str().into(), passive, FieldTable::default())
                    .await
                {
                    Ok(q) => *totals.entry(role).or_default() += q.message_count(),
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            if failed {
                // A failed passive declare closes the channel; open a new one next time.
                channel = None;
            } else {
                for (role, depth) in totals {
                    metrics::gauge!("xhuma_queue_depth", "queue" => role).set(f64::from(depth));
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(QUEUE_DEPTH_EVERY) => {}
        }
    }
}
